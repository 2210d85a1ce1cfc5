"""Pictures, plots, ParaView files and the HTML report of biomech results.

Importing ``biomech.viz`` is cheap and needs neither pyvista nor matplotlib: the
public names below load their module on first use, and pyvista is imported
inside the functions that draw (off screen, EGL; see :mod:`biomech.viz.offscreen`).

3-D pictures (:mod:`~biomech.viz.pictures`): ``picture_model``, ``picture_cement``,
``picture_fields``, ``compare_fields``, ``compare_models``, ``save_case_pictures``,
``CaseFields`` (defined in :mod:`biomech.case_fields`).  Plots
(:mod:`~biomech.viz.plots`): ``plot_sweep``, ``plot_level_ratios``,
``plot_stiffness_restoration``.  Report
(:mod:`~biomech.viz.report`): ``write_report``.  Files (:mod:`~biomech.viz.export`):
``write_vtu``, ``write_vti``, ``write_pvd``, ``write_case_files``.
Viewer (:mod:`~biomech.viz.view`): ``view``.  Colours (:mod:`~biomech.viz.colours`): ``LABEL_STYLE``.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "CaseFields": "pictures", "picture_model": "pictures", "picture_cement": "pictures",
    "picture_fields": "pictures", "compare_fields": "pictures", "compare_models": "pictures",
    "save_case_pictures": "pictures",
    "plot_sweep": "plots", "plot_level_ratios": "plots", "plot_stiffness_restoration": "plots",
    "axis_label": "plots",
    "write_report": "report",
    "write_vtu": "export", "write_vti": "export", "write_case_files": "export",
    "write_pvd": "export",
    "view": "view", "NoDisplayError": "view",
    "LABEL_STYLE": "colours", "label_colour": "colours",
    "renderer_status": "offscreen", "RendererUnavailableError": "offscreen",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
