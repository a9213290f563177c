"""The documentation builds without warnings (the gallery's pages, not its runs).

``make docs`` builds the HTML and runs every gallery example; this test builds the same
pages with sphinx-gallery's ``plot_gallery=0`` (examples rendered, not executed), so a
broken page, docstring or cross-reference fails the test suite, not only ``make docs``.
The sources are copied to a temporary directory first: Sphinx writes the autosummary
stubs and the gallery's pages next to its sources, and a build here must not replace
the executed gallery of a ``make docs`` run.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import sklearn_iw
import sklearn_iw.solvers
from sklearn_iw.solvers import optimizer_table

ROOT = Path(__file__).resolve().parent.parent
DOCS_REQUIREMENTS = ("sphinx", "pydata_sphinx_theme", "numpydoc", "sphinx_gallery", "myst_parser")
MISSING = [name for name in DOCS_REQUIREMENTS if importlib.util.find_spec(name) is None]


@pytest.mark.skipif(
    bool(MISSING),
    reason=f"documentation tools not installed ({', '.join(MISSING)}): "
    "`pip install -e .[test]` or `make test` installs them",
)
def test_docs_build_without_warnings(tmp_path):
    """``sphinx-build -W`` succeeds on a copy of docs/, examples/ and benchmarks/."""
    generated = shutil.ignore_patterns("_build", "generated", "auto_examples", "api_tables.rst")
    shutil.copytree(ROOT / "docs", tmp_path / "docs", ignore=generated)
    shutil.copytree(
        ROOT / "examples", tmp_path / "examples", ignore=shutil.ignore_patterns("*.png")
    )
    (tmp_path / "benchmarks").mkdir()
    shutil.copy(ROOT / "benchmarks" / "README.md", tmp_path / "benchmarks" / "README.md")
    command = [
        sys.executable,
        "-m",
        "sphinx",
        "-W",
        "--keep-going",
        "-q",
        "-b",
        "html",
        "-D",
        "plot_gallery=0",
        str(tmp_path / "docs"),
        str(tmp_path / "html"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, f"sphinx-build failed:\n{result.stdout}\n{result.stderr}"
    html = tmp_path / "html"
    for page in [
        "index.html",
        "optimizers.html",
        "importance_weights.html",
        "sequences.html",
        "model_selection.html",
        "scaling.html",
        "benchmarks.html",
        "api.html",
        "auto_examples/index.html",
        "generated/sklearn_iw.IWMLPClassifier.html",
        "generated/sklearn_iw.solvers.solve_box_qp.html",
    ]:
        assert (html / page).is_file(), f"{page} was not built"
    # The API tables are generated from the modules' __all__: every public name has a page.
    for module in (sklearn_iw, sklearn_iw.solvers):
        for name in module.__all__:
            if not name.startswith("__"):
                page = html / "generated" / f"{module.__name__}.{name}.html"
                assert page.is_file(), f"no API page for {module.__name__}.{name}"


def test_optimizer_table_is_current():
    """The summary table of docs/optimizers.md is the one the optimizer registry generates."""
    lines = (ROOT / "docs" / "optimizers.md").read_text(encoding="utf-8").splitlines()
    start = lines.index("| name | spec | hyperparameters (defaults) | batch | computed by |")
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
    assert "".join(line + "\n" for line in lines[start:end]) == optimizer_table()
