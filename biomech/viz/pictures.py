"""3-D pictures (PyVista, off screen) of labelled voxel models and their results.

* :func:`picture_model` -- the model cut away (the anterior quarter on the +x
  side removed, facing the camera) with every label in its colour
  (:mod:`biomech.viz.colours`), a legend and the level names;
* :func:`picture_cement` -- the cement body seen through ghosted bone in
  fluoroscopy-like views (lateral, antero-posterior, axial), leaked cement in
  magenta with each leak site ringed and labelled with its volume [mL];
* :func:`picture_fields` -- fields (displacement, von Mises stress, minimum
  principal strain, strain energy density) on mid-sagittal and mid-frontal
  sections, the cement outlined, one colour bar with units per field;
* :func:`compare_fields` and :func:`compare_models` -- cases side by side with one
  camera and one colour range, so differences between panels are real.

Every function takes plain inputs (a VoxelModel; a :class:`CaseFields` of model,
mesh and field arrays), writes a PNG when ``filename`` is given, and returns the
picture as an (height, width, 3) uint8 array.  Sections are seen face on with
parallel projection; all panels of one picture share one scale [mm per pixel].

Conventions (DESIGN.md): x left-right, y anterior -> posterior, z caudal -> cranial.
The sagittal section is seen from +x (anterior on the left, cranial up); the
frontal section from anterior (-y), cranial up.

The drawing is split by responsibility: :mod:`.canvas` (plotter, panel sizes, layout
weights, screenshot), :mod:`.camera` (view fitting), :mod:`.annotate` (captions, colour
bars, legends), :mod:`.sections` (section planes, colour ranges), :mod:`.cutaway` (the
cut-away model), :mod:`.cement_view` (cement, leak sites); :class:`CaseFields` lives in
:mod:`biomech.case_fields` (the study runner holds results without PyVista or viz).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from biomech.case_fields import CaseFields
from biomech.errors import InputError

from . import colours as C
from .annotate import _fit, _fmt, _legend_panel, _scalar_bar, _side_caption, _text
from .camera import _fit_view, _model_bounds, _parallel_scale, _set_camera, _union, case_bounds
from .canvas import (_caption_weights, _finish, _font, _legend_weights, _panel_aspect, _plotter,
                     caption_column_px)
from .cement_view import (LEAK_SITE_FIELD, ORIENTATION_NOTES, VIEWS, _cement_entries, _cement_notes, _draw_cement,
                          _leak_components, leak_site_masks)
from .cutaway import CUTAWAY_DIRECTION, _CUT_VIEW, _draw_model, _level_label_pad
from .sections import (PLANES, _add_section, clipping, _bar_titles, _check_planes, _field_style,
                       _frame_section, _section, _section_scale, body_centre, field_range,
                       resolve_section_point)

#: Default fields of :func:`picture_fields` (names as in ``Solution.cell_fields()``;
#: ``displacement_mm`` is the nodal displacement, drawn as its magnitude).
DEFAULT_FIELDS = ("displacement_mm", "von_mises_MPa", "min_principal_strain",
                  "strain_energy_density_MPa")
DEFAULT_WINDOW = (1200, 800)

__all__ = ["CaseFields", "CUTAWAY_DIRECTION", "DEFAULT_FIELDS", "DEFAULT_WINDOW", "LEAK_SITE_FIELD",
           "PLANES", "VIEWS", "body_centre", "caption_column_px", "case_bounds", "compare_fields",
           "compare_models", "field_range", "leak_site_masks", "picture_cement", "picture_fields",
           "picture_model", "resolve_section_point", "save_case_pictures"]


def picture_model(model, *, cut: str = "quadrant", filename=None, window_size=DEFAULT_WINDOW,
                  title: str | None = None, show_levels: bool = True) -> np.ndarray:
    """The model with each label in its colour, cut away so the inside shows, and a
    legend of the labels present.

    cut : "quadrant" (the anterior quarter on the +x side removed down to the
        mid-planes, seen from anterior, +x side, above), "sagittal" (the +x half
        removed, seen from +x), "frontal" (the anterior half removed, seen from
        anterior) or "none".
    Returns the picture (height, width, 3) uint8; writes a PNG when ``filename``.
    """
    font = _font(window_size, 15)
    entries = C.legend_entries(np.unique(model.labels))
    weights = _legend_weights(window_size, 1, [e[0] for e in entries], font)
    p = _plotter(window_size, shape=(1, 2), col_weights=weights, border=False)
    aspect = _panel_aspect(window_size, (1, 2), None, weights)
    p.subplot(0, 0)
    points = _draw_model(p, model, cut, font, show_levels)
    direction, up = _CUT_VIEW[cut]
    centre, scale = _fit_view(points, direction, up, aspect, margin=1.08,
                              left_pad=_level_label_pad(model, font, window_size[1])
                              if show_levels else 0.0)
    _set_camera(p.renderer, _model_bounds(model), direction, up, scale, centre=centre)
    if title:
        _text(p, title, "upper_left", font)
    p.subplot(0, 1)
    _legend_panel(p, entries, font, heading="labels")
    return _finish(p, filename)


def picture_cement(model, *, views: Sequence[str] = ("lateral", "ap"), leak_sites=None,
                   filename=None, window_size=DEFAULT_WINDOW, title: str | None = None,
                   bounds=None) -> np.ndarray:
    """The cement through ghosted bone, like fluoroscopy, one panel per view, and a
    legend with the cement and leak volumes [mL].

    views : any of "lateral", "ap", "axial", "oblique"
    leak_sites : optional {site name: (nx, ny, nz) bool mask}; by default the
        sites of the treatments' ``cement_leak_site`` field (spinal canal, disc,
        venous, paravertebral), or else one site per connected piece of leaked
        cement.  Every piece is ringed in magenta and numbered by its site; the
        legend lists each site's volume [mL].
    bounds : (2, 3) [mm] region to frame (default: the whole model); pass the same
        bounds to pictures that are compared.
    """
    bad = [v for v in views if v not in VIEWS]
    if bad or not views:
        raise InputError(f"views must be a non-empty list of {sorted(VIEWS)}, got {list(views)}")
    n = len(views)
    font = _font(window_size, 15)
    sites = _leak_components(model, leak_sites)
    present = {int(v) for v in np.unique(model.labels)} & {int(l) for l in
                                                           (*C.CEMENT_LABELS, *C.LEAK_LABELS)}
    entries, notes = _cement_entries(present), _cement_notes(model, sites)
    notes = notes + ORIENTATION_NOTES
    weights = _legend_weights(window_size, n, [e[0] for e in entries] + notes, font)
    b = _model_bounds(model) if bounds is None else np.asarray(bounds, float)
    if window_size == DEFAULT_WINDOW:
        # as tall as the widest view needs (wide models left tall panels half empty)
        panel_w = window_size[0] * weights[0] / sum(weights)
        widest = max(_view_aspect(b, v) for v in views)
        height = int(np.clip(1.25 * panel_w / widest + 0.12 * window_size[1], 0.55 * window_size[1],
                             window_size[1]))
        window_size = (window_size[0], height)
    p = _plotter(window_size, shape=(1, n + 1), col_weights=weights, border=False)
    aspect = _panel_aspect(window_size, (1, n + 1), None, weights)
    panel_px = window_size[0] * weights[0] / sum(weights)
    caption_font = min(_fit(VIEWS[v][2], font, panel_px) for v in views)
    for k, v in enumerate(views):
        p.subplot(0, k)
        _draw_cement(p, model, v, sites, b, aspect, font, caption_font)
    p.subplot(0, n)
    _legend_panel(p, entries, font, heading=title or "cement", notes=notes)
    return _finish(p, filename)


def _view_aspect(bounds, view: str) -> float:
    """Width / height on screen of the box ``bounds`` (2, 3) [mm] seen in ``view``."""
    from .camera import _screen_axes
    direction, up, _ = VIEWS[view]
    _, right, true_up = _screen_axes(direction, up)
    corners = np.array([[bounds[i, 0], bounds[j, 1], bounds[k, 2]]
                        for i in (0, 1) for j in (0, 1) for k in (0, 1)])
    return float(np.ptp(corners @ right) / max(np.ptp(corners @ true_up), 1e-9))


def picture_fields(case: CaseFields, *, fields: Sequence[str] = DEFAULT_FIELDS,
                   planes: Sequence[str] = ("sagittal", "frontal"), at=None,
                   clim: Mapping[str, tuple] | None = None,
                   range_over="bone", outline_labels=C.OUTLINE_LABELS, filename=None,
                   window_size=(1600, 1000), title: str | None = None,
                   load_case: str | None = None) -> np.ndarray:
    """Fields on section planes: one column per field, one row per plane, a colour
    bar with units under each column.

    at : None (sections through the middle of the model), "cement" (through the
        centroid of the cement) or (x, y, z) [mm]
    clim : optional {field: (low, high)} colour ranges; default per field from
        :data:`biomech.viz.colours.FIELD_STYLE` over the elements of ``range_over``
    range_over : "bone" (default: bone, cement and composite, so the soft disc's
        large strains do not flatten the bone to one colour; disc values beyond
        the range show in the end colours), "all", or a list of labels
    outline_labels : labels outlined in white on the sections (default cement)
    load_case : name of the load case the fields belong to, written on the picture
    Values beyond the colour range take the over/under colours, marked on the bar.
    """
    fields = list(fields)
    _check_planes(planes)
    if not fields:
        raise InputError("fields must name at least one field")
    point = resolve_section_point(case.model, at)
    rows = len(planes)
    weights = [5] * rows + [1.6]
    cols = _caption_weights(window_size, len(fields))
    p = _plotter(window_size, shape=(rows + 1, len(fields) + 1), row_weights=weights,
                 col_weights=cols, border=False)
    aspect = _panel_aspect(window_size, (rows + 1, len(fields) + 1), weights, cols, col=1)
    font = _font(window_size, 14)
    scale = _section_scale([case_bounds(case)], planes, aspect)
    sections = {pl: _section(case, pl, point, outline_labels) for pl in planes}
    column_px = window_size[0] * cols[1] / sum(cols)
    titles = _bar_titles(p, fields, font, column_px)
    # titles clear of the '<' / '>' marks at the bar ends (0.15-0.85 of the column)
    title_font = min(_fit(t, font, 0.6 * column_px) for t in titles.values())
    row_px = window_size[1] * weights[0] / sum(weights)
    captions = [PLANES[pl]["caption"].format(-999.9) for pl in planes]
    caption_font = min(_fit(c.replace(", ", "\n", 1), max(8, int(font * 0.9)), row_px)
                       for c in captions)
    for j, name in enumerate(fields):
        lim = field_range([case.range_values(name, range_over)], name, (clim or {}).get(name))
        actor = None
        where = case.values(name)[1]
        for i, plane in enumerate(planes):
            p.subplot(i, j + 1)
            actor = _add_section(p, sections[plane], name, where, lim)
            _frame_section(p, plane, scale, case_bounds(case))
            if j == 0:
                p.subplot(i, 0)
                _side_caption(p, sections[plane].caption, caption_font)
        p.subplot(rows, j + 1)
        _scalar_bar(p, titles[name], actor, font, fmt=_fmt(*lim), title_font=title_font,
                    clipped=clipping([case.values(name)[0]], lim))
    head = ", ".join(t for t in (title, f"load case {load_case}" if load_case else None) if t)
    if head:
        p.subplot(0, 1)
        _text(p, head, "upper_left", font)
    return _finish(p, filename)


def compare_fields(cases: Mapping[str, CaseFields], field_name: str, *,
                   plane: str = "sagittal", at=None, clim=None, range_over="bone",
                   outline_labels=C.OUTLINE_LABELS, filename=None, window_size=None,
                   title: str | None = None, load_case: str | None = None) -> np.ndarray:
    """One field on the same section of several cases, side by side: one camera
    (same place, same scale), one colour range over all cases, one colour bar (values
    beyond it in the over/under colours, marked on the bar).

    cases : {case name: CaseFields}, drawn left to right in the given order
    at : None, "cement" (each case through its own cement centroid) or (x, y, z) [mm]
    range_over : elements whose values set the shared range (see :func:`picture_fields`)
    """
    if not cases:
        raise InputError("cases must hold at least one case")
    _check_planes([plane])
    names = list(cases)
    n = len(names)
    window_size = window_size or (min(520 * n, 2400), 720)
    weights = [6, 1.5]
    cols = _caption_weights(window_size, n)
    p = _plotter(window_size, shape=(2, n + 1), row_weights=weights, col_weights=cols,
                 groups=[(1, np.s_[1:])], border=False)
    aspect = _panel_aspect(window_size, (2, n + 1), weights, cols, col=1)
    font = _font(window_size, 14)
    lim = field_range([cases[k].range_values(field_name, range_over) for k in names],
                      field_name, clim)
    bounds = _union([case_bounds(cases[k]) for k in names])
    scale = _parallel_scale(bounds, PLANES[plane]["towards"], PLANES[plane]["up"], aspect, 1.2)
    actor, captions = None, []
    for j, k in enumerate(names):
        p.subplot(0, j + 1)
        point = resolve_section_point(cases[k].model, at)
        section = _section(cases[k], plane, point, outline_labels)
        actor = _add_section(p, section, field_name, cases[k].values(field_name)[1], lim)
        captions.append(section.caption)
        _frame_section(p, plane, scale, bounds, shift_down=0.05)
        cut = section.caption.split(",")[0].split(" ", 1)[-1]          # e.g. "x = 7.0 mm"
        _text(p, f"{k} ({cut})", "upper_edge", font)
    p.link_views(views=[p.renderers.loc_to_index((0, j + 1)) for j in range(n)])
    p.subplot(0, 0)
    if len(set(captions)) > 1:      # each case cut through its own middle / cement
        where = "cement (the middle where there is none)" if at == "cement" else "middle"
        captions = [f"{plane} sections through each case's {where}, "
                    + captions[0].split(", ", 1)[1]]
    row_px = window_size[1] * weights[0] / sum(weights)
    text = captions[0]
    _side_caption(p, text, _fit(text.replace(", ", "\n", 1), max(8, int(font * 0.9)), row_px))
    p.subplot(1, 1)
    long, _ = _field_style(field_name)
    head = (title + ": " if title else "") + long + (f", load case {load_case}" if load_case else "")
    _scalar_bar(p, head, actor, font, fmt=_fmt(*lim),
                clipped=clipping([cases[k].values(field_name)[0] for k in names], lim))
    return _finish(p, filename)


def compare_models(models: Mapping[str, object], *, kind: str = "cutaway", cut: str = "quadrant",
                   view: str = "lateral", filename=None, window_size=None,
                   title: str | None = None) -> np.ndarray:
    """Several models side by side under one camera (same place, same scale) with
    one legend: kind "cutaway" (labels, as :func:`picture_model`) or "cement" (one
    fluoroscopy-like ``view``, as :func:`picture_cement`)."""
    if kind not in ("cutaway", "cement"):
        raise InputError(f"kind must be 'cutaway' or 'cement', got {kind!r}")
    if not models:
        raise InputError("models must hold at least one model")
    if kind == "cement" and view not in VIEWS:
        raise InputError(f"view must be one of {sorted(VIEWS)}, got {view!r}")
    names = list(models)
    n = len(names)
    window_size = window_size or (min(480 * n + 300, 2600), 640)
    font = _font(window_size, 14)
    ml = {k: m.h ** 3 / 1000.0 for k, m in models.items()}
    if kind == "cutaway":
        entries = C.legend_entries(sorted({int(v) for m in models.values()
                                           for v in np.unique(m.labels)}))
        notes = []
    else:
        present = {int(v) for m in models.values() for v in np.unique(m.labels)}
        entries = _cement_entries(present & {int(l) for l in (*C.CEMENT_LABELS,
                                                              *C.LEAK_LABELS)})
        notes = [line for k, m in models.items() for line in
                 (f"{k}:", f"  cement {m.mask(*C.CEMENT_LABELS).sum() * ml[k]:.2f} mL, "
                           f"leak {m.mask(*C.LEAK_LABELS).sum() * ml[k]:.2f} mL")]
    weights = _legend_weights(window_size, n, [e[0] for e in entries] + notes, font)
    p = _plotter(window_size, shape=(1, n + 1), col_weights=weights, border=False)
    aspect = _panel_aspect(window_size, (1, n + 1), None, weights)
    bounds = _union([_model_bounds(m) for m in models.values()])
    points = []
    for j, k in enumerate(names):
        p.subplot(0, j)
        m = models[k]
        if kind == "cutaway":
            points.append(_draw_model(p, m, cut, font, j == 0))
        else:
            _draw_cement(p, m, view, _leak_components(m, None), bounds, aspect, font)
        _text(p, k, "upper_edge", font)
    if kind == "cutaway":               # one camera framing every model's drawn surface
        direction, up = _CUT_VIEW[cut]
        centre, scale = _fit_view(np.concatenate(points), direction, up, aspect, margin=1.16,
                                  left_pad=_level_label_pad(models[names[0]], font,
                                                            window_size[1]))
        for j in range(n):
            p.subplot(0, j)
            _set_camera(p.renderer, bounds, direction, up, scale, 0.04, centre=centre)
    p.link_views(views=list(range(n)))
    p.subplot(0, n)
    heading = title or ("labels" if kind == "cutaway" else f"cement, {VIEWS[view][2]} view")
    _legend_panel(p, entries, font, heading=heading, notes=notes)
    return _finish(p, filename)


def save_case_pictures(case: CaseFields, folder, *, prefix: str = "", leak_sites=None,
                       window_size=DEFAULT_WINDOW, load_case: str | None = None,
                       anatomy: bool = True) -> dict[str, Path]:
    """The standard pictures of one case into ``folder``: model cut-away, cement
    (when the model has cement or leak), fields (sections through the cement when there
    is cement, else the middle; ``load_case`` named on the picture) and, with
    ``anatomy``, the smooth anatomical rendering (:func:`biomech.viz.anatomy.picture_anatomy`);
    returns {caption: path}."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    if case.model is not None:
        path = folder / f"{prefix}model_cutaway.png"
        picture_model(case.model, filename=path, window_size=window_size)
        out["model, cut away (labels)"] = path
    if case.model is not None and case.model.mask(*C.CEMENT_LABELS, *C.LEAK_LABELS).any():
        path = folder / f"{prefix}cement.png"
        picture_cement(case.model, leak_sites=leak_sites, filename=path, window_size=window_size)
        out["cement and leak sites"] = path
    present = [f for f in DEFAULT_FIELDS if f in case.cell_fields or f in case.point_fields]
    if present:
        path = folder / f"{prefix}fields.png"
        has_cement = case.model is not None and case.model.mask(*C.CEMENT_LABELS).any()
        lc = load_case or getattr(case, "load_case", None)
        picture_fields(case, fields=present, filename=path, at="cement" if has_cement else None,
                       load_case=lc,
                       window_size=(int(window_size[0] * 1.33), window_size[1]))
        where = ("sagittal and frontal sections through the cement (positions on the picture), "
                 "cement outlined in white" if has_cement else "mid-sagittal and mid-frontal "
                 "sections")
        out[f"fields{' under ' + lc if lc else ''} on {where}; colour ranges from the bone and "
            "cement elements (von Mises and strain energy density 0 to 99th percentile, minimum "
            "principal strain 1st percentile to 0); values beyond a range show in magenta "
            "(above) or cyan (below), marked at the ends of its colour bar"] = path
    if anatomy and case.model is not None:
        from .anatomy import picture_anatomy
        path = folder / f"{prefix}anatomy.png"
        try:
            picture_anatomy(case.model, filename=path, window_size=window_size)
            out["smooth anatomical rendering: bone semi-transparent, cement and leaks inside"] = path
        except Exception as exc:                    # noqa: BLE001 - the block views are drawn
            import logging
            logging.getLogger(__name__).warning("anatomical rendering not drawn: %s", exc)
    return out
