"""Cement in fluoroscopy-like views: ghosted bone and disc, opaque cement and leaked
cement, each leak site ringed and numbered, the places where leaks leave the body in the
treatments' random realisations (exit markers lettered A, B, ... with their probability),
the legend entries and volume notes [mL], and the leak sites of a model (from the
treatments' ``cement_leak_site`` field, named by
:data:`biomech.meshes.labels.LEAK_SITE_NAMES`, or one site per connected piece)."""
from __future__ import annotations

import numpy as np

from biomech.errors import InputError
from biomech.meshes.labels import (BONE_LABELS, DISC_LABELS, LEAK_SITE_FIELD, Label,
                                   leak_site_display_name)

from . import colours as C
from .annotate import _text
from .camera import _parallel_scale, _screen_axes, _set_camera
from .canvas import _pv
from .grids import labelled_surface

#: Fluoroscopy-like views of the cement picture: direction to the camera, view-up.
VIEWS = {
    "lateral": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0), "lateral"),
    "ap": ((0.0, -1.0, 0.0), (0.0, 0.0, 1.0), "antero-posterior"),
    "axial": ((0.0, 0.0, 1.0), (0.0, -1.0, 0.0), "axial, from cranial (anterior up)"),
    "oblique": ((1.0, -1.0, 0.7), (0.0, 0.0, 1.0), "oblique"),
}

#: Anatomical names of the world axes (x left-right: +x patient left; y +posterior;
#: z +cranial), for orientation marks.
_AXIS_NAMES = (("R", "L"), ("A", "P"), ("I", "S"))
#: The notes that explain the orientation marks (short: the legend fits its longest line).
ORIENTATION_NOTES = ["A anterior, P posterior", "R/L patient right/left"]


def orientation_marks(direction, up) -> tuple[str, str]:
    """(left-edge mark, right-edge mark) of a view: the anatomical direction that points
    to the left and to the right of the screen, radiology letters ('A', 'P', 'R', 'L',
    'S', 'I')."""
    _, right, _ = _screen_axes(direction, up)
    k = int(np.argmax(np.abs(right)))
    neg, pos = _AXIS_NAMES[k]
    return (neg, pos) if right[k] > 0 else (pos, neg)


#: Colour of the exit markers (where leaks leave the body; orange, apart from the magenta
#: leaked cement and its rings).
EXIT_COLOUR = "#FF8C00"


#: Exits drawn: those with a probability of at least MIN_EXIT_PROBABILITY, at most
#: MAX_EXITS_SHOWN (the rarer ones are counted in the legend).
MIN_EXIT_PROBABILITY = 0.01
MAX_EXITS_SHOWN = 5


def leak_exits(model, *, shown_only: bool = True) -> list[dict]:
    """Where leaks leave the body, from the treatment records (``leak_exits``, written by
    :mod:`biomech.treatments.leak_risk`): [{"site", "centre_mm", "probability"}], most
    probable first; ``shown_only``: the ones the picture draws (probability >=
    MIN_EXIT_PROBABILITY, at most MAX_EXITS_SHOWN), else every exit with probability > 0."""
    out = []
    for rec in model.meta.get("treatments") or []:
        if isinstance(rec, dict):
            out += [e for e in (rec.get("leak_exits") or []) if float(e.get("probability", 0)) > 0]
    out = sorted(out, key=lambda e: -float(e["probability"]))
    if shown_only:
        out = [e for e in out if float(e["probability"]) >= MIN_EXIT_PROBABILITY][:MAX_EXITS_SHOWN]
    return out


def _exit_letter(k: int) -> str:
    return chr(ord("A") + k)


def _cement_entries(shown) -> list:
    entries = [[C.label_display_name(l), C.label_colour(l)] for l in sorted(shown)]
    return entries + [["bone (ghosted)", C.GHOST_BONE],
                      ["disc (ghosted)", C.label_colour(Label.ANNULUS)]]


def _cement_notes(model, sites) -> list[str]:
    ml = model.h ** 3 / 1000.0
    records = [r for r in (model.meta.get("treatments") or []) if isinstance(r, dict)]
    if records and all("placed_ml" in r for r in records):
        # the treatment's own bookkeeping: cement volume, not the volume of the
        # composite region (a composite voxel also holds bone)
        cement = sum(float(r["placed_ml"]) for r in records)
        leak = sum(float(v) for r in records for v in (r.get("leaked_ml_by_site") or {}).values())
        notes = [f"cement placed: {cement:.2f} mL", f"leaked: {leak:.2f} mL"]
    else:
        cement = int(model.mask(*C.CEMENT_LABELS).sum()) * ml
        leak = int(model.mask(*C.LEAK_LABELS).sum()) * ml
        notes = [f"cemented region: {cement:.2f} mL", f"leaked region: {leak:.2f} mL"]
    totals: dict[str, int] = {}
    for name, idx in sites:
        totals[name] = totals.get(name, 0) + len(idx)
    names = list(totals)
    for k, name in enumerate(names[:MAX_LABELLED_LEAKS]):
        notes.append(f"  {k + 1}  {name}: {totals[name] * ml:.3f} mL")
    if len(names) > MAX_LABELLED_LEAKS:
        rest = sum(totals[n] for n in names[MAX_LABELLED_LEAKS:]) * ml
        notes.append(f"  +{len(names) - MAX_LABELLED_LEAKS} smaller sites: {rest:.3f} mL")
    for rec in records:
        risk = rec.get("leak_risk") if isinstance(rec.get("leak_risk"), dict) else None
        if not risk:
            continue
        lvl = f"{rec.get('level', '')} " if len(records) > 1 else ""
        notes.append(f"{lvl}P(leak) {100 * float(risk['leak_probability']):.0f} % "
                     f"({100 * float(risk['leak_probability_ci_low']):.0f}-"
                     f"{100 * float(risk['leak_probability_ci_high']):.0f} %, "
                     f"{int(risk['leak_realisations'])} runs)")
        sites = [(k[len("leak_probability_"):], float(v)) for k, v in risk.items()
                 if k.startswith("leak_probability_") and not k.endswith(("_low", "_high"))
                 and float(v) > 0]
        if sites:
            notes.append("  " + ", ".join(f"{n.replace('_', ' ')} {100 * v:.0f} %"
                                          for n, v in sorted(sites, key=lambda x: -x[1])))
    exits = leak_exits(model)
    rare = len(leak_exits(model, shown_only=False)) - len(exits)
    if exits or rare:
        notes.append("leak exits (orange), P:")
        for k, e in enumerate(exits):
            notes.append(f"  {_exit_letter(k)}  {str(e['site']).replace('_', ' ')}: "
                         f"{100 * float(e['probability']):.0f} %")
        if rare:
            notes.append(f"  +{rare} rarer exits")
    return notes


#: Leak sites ringed and listed one by one (the rest are summed).
MAX_LABELLED_LEAKS = 8


def _components(mask) -> list[np.ndarray]:
    """(n, 3) voxel indices of each 26-connected piece of ``mask``, largest first."""
    from scipy import ndimage
    comp, n = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
    if n == 0:
        return []
    sizes = np.bincount(comp.ravel())[1:]
    return [np.argwhere(comp == i + 1) for i in np.argsort(-sizes, kind="stable")]


def leak_site_masks(model) -> dict[str, np.ndarray]:
    """{site name: (nx, ny, nz) bool} of the leaked cement: from the treatments'
    ``cement_leak_site`` field when the model has it, else one site per connected
    piece ("leak 1", "leak 2", ... largest first)."""
    leak = model.mask(*C.LEAK_LABELS)
    if not leak.any():
        return {}
    if LEAK_SITE_FIELD in model.fields:
        code = np.rint(np.nan_to_num(model.fields[LEAK_SITE_FIELD])).astype(int)
        out = {}
        for c in np.unique(code[leak]):
            name = leak_site_display_name(c)
            out[name] = leak & (code == c)
        return out
    return {f"leak {k + 1}": _mask_of(model.shape, idx)
            for k, idx in enumerate(_components(leak))}


def _mask_of(shape, idx) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[idx[:, 0], idx[:, 1], idx[:, 2]] = True
    return m


def _leak_components(model, leak_sites) -> list[tuple[str, np.ndarray]]:
    """[(site name, (n, 3) voxel indices of one connected piece)], sites by volume
    (largest first), each site's pieces largest first."""
    sites = leak_site_masks(model) if leak_sites is None else dict(leak_sites)
    for name, m in sites.items():
        if np.shape(m) != model.shape:
            raise InputError(f"leak site {name!r} mask has shape {np.shape(m)}, the model "
                             f"{model.shape}")
    order = sorted(sites, key=lambda n: -int(np.count_nonzero(sites[n])))
    return [(str(name), idx) for name in order
            for idx in _components(np.asarray(sites[name], bool))]


def _draw_cement(p, model, view, sites, bounds, aspect, font, caption_font=None) -> set:
    """Ghosted bone and disc, opaque cement and leak, ringed leak sites; returns the
    cement/leak labels drawn.

    The ghosts draw only their far walls (front faces culled), so nothing
    translucent lies between the viewer and the cement: cement and leaks keep
    their true colours, as on a fluoroscopy image where cement is the brightest."""
    pv = _pv()
    direction, up, caption_text = VIEWS[view]
    # outer surfaces only (cement and leak included), so no ghost wall coincides
    # with a cement face
    cement_like = [int(l) for l in (*C.CEMENT_LABELS, *C.LEAK_LABELS)]
    bone = labelled_surface(model, keep=[int(l) for l in BONE_LABELS] + cement_like)
    if bone is not None:
        p.add_mesh(bone, color=C.GHOST_BONE, opacity=0.35, culling="front",
                   show_scalar_bar=False)
    disc = labelled_surface(model, keep=[int(l) for l in (*DISC_LABELS, *C.LEAK_LABELS)])
    if disc is not None:
        p.add_mesh(disc, color=C.label_colour(Label.ANNULUS), opacity=0.35, culling="front",
                   show_scalar_bar=False)
    shown = set()
    # a kyphoplasty bolus (bulk cement) lies inside its interdigitation layer (composite):
    # the layer is then drawn translucent so the bolus shows as the solid region it is
    bolus = bool((model.labels == Label.CEMENT).any())
    for lab in (*C.CEMENT_LABELS, *C.LEAK_LABELS):
        s = labelled_surface(model, keep=[int(lab)])
        if s is not None:
            see_through = bolus and lab == Label.COMPOSITE
            p.add_mesh(s, color=C.label_colour(lab), ambient=0.55, diffuse=0.5, specular=0.0,
                       opacity=0.4 if see_through else 1.0)
            shown.add(int(lab))
    if sites:
        o = np.asarray(model.origin)
        d = np.asarray(direction, float) / np.linalg.norm(direction)
        front = float(np.linalg.norm(np.ptp(bounds, axis=0)))      # in front of everything
        _, right, _ = _screen_axes(direction, up)
        centres, numbers = [], []
        site_number = {n: k + 1 for k, n in enumerate(dict.fromkeys(n for n, _ in sites))}
        for name, idx in [(n, i) for n, i in sites if site_number[n] <= MAX_LABELLED_LEAKS]:
            c = o + (idx.mean(0) + 0.5) * model.h
            r = max(0.5 * np.linalg.norm((np.ptp(idx, axis=0) + 1) * model.h) + model.h, 3.0)
            ring = pv.Disc(center=c + d * front, inner=r, outer=1.18 * r, normal=d, c_res=48)
            p.add_mesh(ring, color=C.label_colour(Label.LEAKED_CEMENT), lighting=False)
            centres.append(c + d * front + right * 1.25 * r)
            numbers.append(str(site_number[name]))
        p.add_point_labels(np.array(centres), numbers, font_size=int(1.6 * font), bold=True,
                           text_color=C.label_colour(Label.LEAKED_CEMENT), shape=None,
                           show_points=False, always_visible=True)
    exits = leak_exits(model)
    if exits:
        d = np.asarray(direction, float) / np.linalg.norm(direction)
        lift = 0.5 * float(np.linalg.norm(np.ptp(bounds, axis=0)))     # drawn over the cement
        _, right, _ = _screen_axes(direction, up)
        r = max(1.5, 0.9 * model.h)
        pts, letters = [], []
        for k, e in enumerate(exits):
            c = np.asarray(e["centre_mm"], float) + d * lift
            p.add_mesh(pv.Sphere(radius=r, center=c), color=EXIT_COLOUR, lighting=False)
            pts.append(c + right * 1.8 * r)
            letters.append(_exit_letter(k))
        p.add_point_labels(np.array(pts), letters, font_size=int(1.3 * font), bold=True,
                           text_color=EXIT_COLOUR, shape=None, show_points=False,
                           always_visible=True)
    if caption_font:
        _text(p, caption_text, "upper_left", caption_font)
        lo, hi = orientation_marks(direction, up)
        _text(p, lo, "lower_left", caption_font)
        _text(p, hi, "lower_right", caption_font)
    _set_camera(p.renderer, bounds, direction, up,
                _parallel_scale(bounds, direction, up, aspect, margin=1.16), shift_down=0.04)
    return shown
