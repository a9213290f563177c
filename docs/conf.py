"""Sphinx configuration of the sklearn-iw documentation.

Build with ``make docs`` (HTML in ``docs/_build/html``, warnings are errors). The gallery
comes from ``examples/plot_*.py`` (sphinx-gallery); ``-D plot_gallery=0`` builds the
pages without running the examples, as ``tests/test_docs.py`` does.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

# The gallery and autodoc import torch (read before torch starts its thread pool): one
# thread keeps the build polite on small machines.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import sklearn_iw  # noqa: E402

project = "sklearn-iw"
author = "sklearn-iw developers"
copyright = "sklearn-iw developers"  # noqa: A001
release = version = sklearn_iw.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "api_tables.rst", "optimizer_table.md", "auto_examples/*.ipynb"]
templates_path = ["_templates"]

# Markdown pages: $...$ / $$...$$ math, ::: fences, anchors on headings for cross-links.
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# API reference: one page per public name, generated from the docstrings.
autosummary_generate = ["api_tables.rst"]
autosummary_imported_members = True
# _templates/autosummary/class.rst documents what the package defines or inherits from
# its own classes, not the methods of scikit-learn's, torch's or tuple's base classes.
autodoc_typehints = "none"
autoclass_content = "class"
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-iw {version}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path: list[str] = []
html_show_sourcelink = False


sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    # demo.py is `make demo`'s console script, not a gallery example.
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"(__init__|demo)\.py",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    # Links from the API pages ("Gallery examples using ...") to the examples.
    "doc_module": ("sklearn_iw",),
    "backreferences_dir": "generated/backreferences",
    "matplotlib_animations": False,
    "show_memory": False,
    "min_reported_time": 5,
}

# sphinx-gallery runs the examples in this process; their own warnings are not build
# warnings, and matplotlib must not try to open a window.
warnings.filterwarnings("ignore", category=UserWarning, message="Matplotlib is currently using agg")
os.environ.setdefault("MPLBACKEND", "Agg")


# ----------------------------------------------------------------------------- API page
# docs/api.rst holds the prose; the tables of names (docs/api_tables.rst, not tracked)
# are generated from the modules' ``__all__`` at build time, so that a public name added
# to the package appears without editing the page (sklearn_iw.datasets and
# sklearn_iw.model_selection too, when present).
_SOLVER_GROUPS = [
    ("Optimizer specs", lambda name, obj: _is_sub(obj, "OptimizerSpec")),
    ("Learning-rate schedule specs", lambda name, obj: _is_sub(obj, "ScheduleSpec")),
    (
        "Hand-written torch optimizers",
        lambda name, obj: isinstance(obj, type) and name.endswith("Optimizer"),
    ),
    (
        "Registries and resolvers",
        lambda name, obj: (
            name.isupper() or getattr(obj, "__module__", None) == "sklearn_iw.optim._registry"
        ),
    ),
    (
        "Spec examples",
        lambda name, obj: name in ("quadratic_iterates", "lr_factors"),
    ),
    ("Per-sample Gram matrix and box QP", lambda name, obj: True),
]


def _is_sub(obj, base_name):
    return isinstance(obj, type) and any(b.__name__ == base_name for b in obj.__mro__)


def _table(module: str, names: list[str]) -> str:
    lines = [
        f".. currentmodule:: {module}",
        "",
        ".. autosummary::",
        "   :toctree: generated/",
        "   :nosignatures:",
        "",
    ]
    lines += [f"   {name}" for name in names]
    return "\n".join(lines) + "\n\n"


def _section(title: str, char: str = "-") -> str:
    return f"{title}\n{char * len(title)}\n\n"


def _public(module_name: str) -> tuple[object, list[str]] | None:
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    return module, [n for n in getattr(module, "__all__", []) if not n.startswith("__")]


def api_listing() -> str:
    """Return the reStructuredText of the API tables."""
    text = ""
    top_module, top = _public("sklearn_iw")
    seen = {id(getattr(top_module, n)) for n in top}
    text += _section("Estimators and model selection (``sklearn_iw``)")
    text += (
        "The estimators share the parameters and attributes described in "
        ":doc:`getting_started`.\n\n"
    )
    text += _table("sklearn_iw", top)
    module, names = _public("sklearn_iw.solvers")
    text += _section("Optimizers, schedules and solvers (``sklearn_iw.solvers``)")
    remaining = list(names)
    for title, belongs in _SOLVER_GROUPS:
        group = [n for n in remaining if belongs(n, getattr(module, n))]
        remaining = [n for n in remaining if n not in group]
        if group:
            text += _section(title, "~") + _table("sklearn_iw.solvers", group)
    for sub, title in [
        ("sklearn_iw.model_selection", "Model selection (``sklearn_iw.model_selection``)"),
        ("sklearn_iw.datasets", "Data sets (``sklearn_iw.datasets``)"),
    ]:
        found = _public(sub)
        if found is None:
            continue
        module, names = found
        # Names that sklearn_iw re-exports are listed once, above.
        names = [n for n in names if id(getattr(module, n)) not in seen]
        if names:
            text += _section(title) + _table(sub, names)
    return text


# Stubs of names that no longer exist would be orphan pages: start afresh every build.
shutil.rmtree(HERE / "generated", ignore_errors=True)
# Written before Sphinx reads the sources: api.rst includes it, and autosummary generates
# the stub page of every name it lists.
(HERE / "api_tables.rst").write_text(api_listing(), encoding="utf-8")
# The optimizers' summary table, included by optimizers.md, from the registry.
(HERE / "optimizer_table.md").write_text(
    importlib.import_module("sklearn_iw.solvers").optimizer_table(), encoding="utf-8"
)


def _plain_sklearn_refs(app, what, name, obj, options, lines) -> None:
    """Turn references to scikit-learn's own documentation labels (inherited docstrings
    such as ``RegressorMixin.score``'s) into plain text: those labels live in
    scikit-learn's docs, which this build does not fetch."""
    for i, line in enumerate(lines):
        lines[i] = re.sub(r":ref:`([^`<]+?)\s*<[^`>]+>`", r"\1", line)


def setup(app) -> None:
    app.connect("autodoc-process-docstring", _plain_sklearn_refs)
