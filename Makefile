# Quick start: `make demo` and `make test` on a fresh clone; nothing to install by hand.
PYTHON ?= python3
VENV ?= .venv
# The CPU wheel is installed first so that pip does not pull a multi-GB CUDA build of torch.
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs
# Sphinx: warnings are errors; every page is still built so that all of them are reported.
SPHINXOPTS ?= -W --keep-going

.PHONY: demo test test-slow lint bench docs clean

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[test,examples]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

test: $(STAMP)
	$(PY) -m ruff check sklearn_iw tests benchmarks examples
	$(PY) -m pytest -n 2 -q

test-slow: $(STAMP)
	$(PY) -m pytest -n 2 -q -m slow

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	for f in benchmarks/bench_*.py; do $(PY) $$f || exit 1; done

$(DOCS_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[docs]"
	touch $(DOCS_STAMP)

# HTML documentation in docs/_build/html; runs the gallery (examples/plot_*.py).
docs: $(DOCS_STAMP)
	$(PY) -m sphinx $(SPHINXOPTS) -b html docs docs/_build/html
	@echo "open docs/_build/html/index.html"

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache docs/_build docs/generated docs/auto_examples \
		docs/api_tables.rst docs/sg_execution_times.rst
