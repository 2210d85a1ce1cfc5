"""Sphinx configuration of the biomech documentation (built offline by
tests/test_docs.py: ``sphinx-build -W --keep-going -n docs <out>``)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))
os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")

import biomech  # noqa: E402

project = "biomech"
author = "biomech developers"
copyright = "biomech developers, BSD-3-Clause"
version = release = biomech.__version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.autosummary", "sphinx.ext.mathjax",
              "sphinx_gallery.gen_gallery"]
autosummary_generate = True
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
autodoc_typehints = "none"              # types are in the docstrings with units
autodoc_mock_imports = []
nitpicky = False                         # set by -n in the test; see nitpick_ignore below
nitpick_ignore_regex = [(r"py:.*", r"(np|numpy|pv|pyvista|scipy|sp|dask|optional|callable|"
                                   r"array_like|Path|Mapping|Sequence|Iterable)\b.*")]
# Private bases (``_Solver``, ``_Spec``, ...) are not documented by design; the standard
# library is not linked (the build is offline: no intersphinx).
nitpick_ignore_regex += [(r"py:class", r"(.*\.)?_[A-Za-z]\w*"), (r"py:class", r"enum\.\w+")]
templates_path = ["_templates"]          # module pages: the docstrings, then the submodules
html_theme = "alabaster"
html_static_path = []
exclude_patterns = ["_build", "generated/*.examples", "sg_execution_times.rst"]

# The gallery shows every example script with its docstring and code; running them
# (minutes each at full size) is left to tests/test_examples.py, which runs them small.
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"^$",          # execute none
    "plot_gallery": "False",
    "download_all_examples": False,
    "within_subsection_order": "FileNameSortKey",
    "line_numbers": False,
    "remove_config_comments": True,
}
# Docstrings of the package are plain text with unit notes, not strict reST: docutils
# layout notes about them are not failures; every other warning (a missing page, toctree
# entry, include, autodoc import, gallery) fails the -W build.
suppress_warnings = ["config.cache", "docutils"]


def _generated_pages(app):
    """guide/_generated_*.rst from the one place the words live
    (biomech.viz.report_text): metric definitions, limitations, validity limits."""
    from biomech.viz import report_text as T
    out = ROOT / "docs" / "guide"
    lines = []
    for name, text in T.GLOSSARY.items():
        lines += [f"``{name}``", "   " + text.replace("``", "``"), ""]
    (out / "_generated_metrics.rst").write_text("\n".join(lines), encoding="utf-8")
    lim = [f"* {t}" for t in T.limitations(voxel_size_mm=2.0)]
    (out / "_generated_limitations.rst").write_text("\n".join(lim) + "\n", encoding="utf-8")


def _skip_submodule_names(app, what, name, obj, skip, options):
    """A package that re-exports a function under the name of its own submodule
    (``biomech.treatments.vertebroplasty``) documents it once: on that name's page."""
    if what == "module" and callable(obj) and getattr(obj, "__name__", None) == name \
            and (getattr(obj, "__module__", "") or "").rsplit(".", 1)[-1] == name:
        return True
    return skip


def setup(app):
    app.connect("builder-inited", _generated_pages)
    app.connect("autodoc-skip-member", _skip_submodule_names)
