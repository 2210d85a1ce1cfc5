"""Section planes through a case: where the mid-sagittal and mid-frontal sections pass,
the cells kept on the viewer's side with every field attached, the cement outline on the
cut face, shared colour ranges and tick formats per field, and the framing of sections."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from biomech.case_fields import CaseFields
from biomech.errors import InputError
from biomech.meshes.labels import Label

from . import colours as C
from .camera import _model_bounds, _parallel_scale, _set_camera, _union, case_bounds
from .canvas import CHAR_WIDTH, _pv
from .grids import mesh_grid

#: Section planes: normal axis, the side kept, direction to the camera, view-up.
PLANES = {
    "sagittal": dict(axis=0, keep="below", towards=(1.0, 0.0, 0.0), up=(0.0, 0.0, 1.0),
                     caption="sagittal x = {:.1f} mm, anterior left"),
    "frontal": dict(axis=1, keep="above", towards=(0.0, -1.0, 0.0), up=(0.0, 0.0, 1.0),
                    caption="frontal y = {:.1f} mm, seen from anterior"),
}

#: Labels left out when finding the middle of the vertebral bodies.
_NOT_BODY = (Label.VOID, Label.POSTERIOR, Label.LEAKED_CEMENT, Label.PMMA_CAP)


def body_centre(model) -> np.ndarray:
    """(3,) [mm] centre of the bounding box of the vertebral bodies and discs
    (posterior elements, leaked cement and end caps left out), where the
    mid-sagittal and mid-frontal planes pass."""
    m = ~np.isin(model.labels, [int(l) for l in _NOT_BODY])
    b = _model_bounds(model, m if m.any() else None)
    return 0.5 * (b[0] + b[1])


def _section_position(model, axis: int, at) -> tuple[int, float]:
    """Index of the voxel layer the section shows and the cut position [mm] on ``axis``."""
    if at is None:
        pos = float(body_centre(model)[axis])
    else:
        pos = float(at[axis])
    layer = int(np.floor((pos - model.origin[axis]) / model.h))
    return int(np.clip(layer, 0, model.shape[axis] - 1)), pos


def _cement_centre(model) -> np.ndarray | None:
    """(3,) [mm]: along each axis, the middle of the voxel layer holding the most cement
    (and composite).  For one bolus that is next to its centroid; for two bipedicular
    balloons it passes through one of them, where the centroid falls between them and a
    section there would show no cement."""
    m = model.mask(*C.CEMENT_LABELS)
    if not m.any():
        return None
    idx = []
    for axis in range(3):
        counts = m.sum(axis=tuple(a for a in range(3) if a != axis))
        best = np.flatnonzero(counts == counts.max())
        centroid = np.argwhere(m)[:, axis].mean()
        idx.append(best[np.argmin(np.abs(best - centroid))])     # the fullest, nearest the centroid
    return np.asarray(model.origin) + (np.asarray(idx, float) + 0.5) * model.h


def resolve_section_point(model, at) -> tuple | None:
    """The point [mm] the sections pass through: None (middle of the model),
    "cement" (through the fullest cement layer along each axis, see ``_cement_centre``;
    the middle when there is no cement) or (x, y, z)."""
    if at is None:
        return None
    if isinstance(at, str):
        if at != "cement":
            raise InputError(f"at must be None, 'cement' or (x, y, z) in mm, got {at!r}")
        c = _cement_centre(model) if model is not None else None
        return None if c is None else tuple(c)
    a = np.asarray(at, float)
    if a.shape != (3,):
        raise InputError(f"at must be (x, y, z) in mm, got {at!r}")
    return tuple(a)


def _outline(model, labels, axis: int, layer: int, at: float):
    """Lines (pyvista.PolyData) tracing the boundary of ``labels`` in voxel layer
    ``layer`` of ``axis``, drawn in the plane ``axis = at`` [mm]."""
    pv = _pv()
    sl = [slice(None)] * 3
    sl[axis] = layer
    m = np.isin(model.labels[tuple(sl)], [int(l) for l in labels])
    if not m.any():
        return None
    a, b = [d for d in range(3) if d != axis]
    pad = np.pad(m, 1)
    # boundary faces between neighbours along a (segment from (i, j) to (i, j+1)) and b
    ia = np.argwhere(pad[1:, 1:-1] != pad[:-1, 1:-1])
    ib = np.argwhere(pad[1:-1, 1:] != pad[1:-1, :-1])
    start = np.concatenate([ia, ib]).astype(float)
    end = np.concatenate([ia + (0, 1), ib + (1, 0)]).astype(float)
    n = len(start)
    pts = np.empty((2 * n, 3))
    o = np.asarray(model.origin)
    pts[:, axis] = at
    pts[0::2, a] = o[a] + start[:, 0] * model.h
    pts[0::2, b] = o[b] + start[:, 1] * model.h
    pts[1::2, a] = o[a] + end[:, 0] * model.h
    pts[1::2, b] = o[b] + end[:, 1] * model.h
    lines = np.column_stack([np.full(n, 2), np.arange(0, 2 * n, 2),
                             np.arange(1, 2 * n, 2)]).ravel()
    return pv.PolyData(pts, lines=lines)


def field_range(values_list: Sequence[np.ndarray], name: str, clim=None) -> tuple[float, float]:
    """Colour range shared by all panels showing field ``name`` (see
    :data:`biomech.viz.colours.FIELD_STYLE` for the policy of each field)."""
    if clim is not None:
        lo, hi = float(clim[0]), float(clim[1])
        if not hi > lo:
            raise InputError(f"clim must be (low, high) with high > low, got {clim!r}")
        return lo, hi
    v = np.concatenate([np.asarray(x, float).ravel() for x in values_list])
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 0.0, 1.0
    policy = C.FIELD_STYLE.get(name, (None, None, "p1-p99"))[2]
    if policy == "zero-max":
        lo, hi = 0.0, float(v.max())
    elif policy == "zero-p99":
        lo, hi = 0.0, float(np.percentile(v, 99))
    elif policy == "p1-zero":
        lo, hi = float(np.percentile(v, 1)), 0.0
    elif policy == "symmetric-p99":
        a = float(np.percentile(np.abs(v), 99))
        lo, hi = -a, a
    else:
        lo, hi = float(np.percentile(v, 1)), float(np.percentile(v, 99))
    if not hi > lo:
        span = max(abs(lo), abs(hi), 1e-12)
        lo, hi = (lo - 0.5 * span, hi) if hi == 0.0 else (lo, hi + 0.5 * span) if lo == 0.0 \
            else (lo - 0.5 * span, hi + 0.5 * span)
    return lo, hi


def _field_style(name: str):
    title, cmap, _ = C.FIELD_STYLE.get(name, (name.replace("_", " "), "viridis", "p1-p99"))
    return title, cmap


@dataclass
class _Section:
    """The cells of a case kept on the viewer's side of one section plane, with
    every field attached, and where the cut face lies."""

    part: object          # pyvista.UnstructuredGrid
    face: float           # cut face position [mm] on the plane's axis
    outline: object       # pyvista.PolyData of the cement boundary, or None
    caption: str


def _section(case: CaseFields, plane: str, point, outline_labels) -> _Section:
    spec = PLANES[plane]
    model, mesh = case.model, case.mesh
    axis = spec["axis"]
    grid = mesh_grid(mesh, case.cell_fields)
    for name in case.point_fields:
        values, _ = case.values(name)
        grid.point_data[name] = values
    centres = grid.cell_centers().points[:, axis]
    if model is None:                # unstructured mesh: cut at the point or mid-box
        face = float(point[axis]) if point is not None else float(case_bounds(case)[:, axis].mean())
        keep = centres < face if spec["keep"] == "below" else centres > face
        outline = None
    else:
        layer, _ = _section_position(model, axis, point)
        if spec["keep"] == "below":      # camera on the + side: keep layers <= layer
            face = model.origin[axis] + (layer + 1) * model.h
            keep, lift = centres < face, +0.02 * model.h
        else:                            # camera on the - side: keep layers >= layer
            face = model.origin[axis] + layer * model.h
            keep, lift = centres > face, -0.02 * model.h
        outline = (_outline(model, outline_labels, axis, layer, face + lift)
                   if outline_labels else None)
    if not keep.any():
        raise InputError(f"the {plane} section at {face:.1f} mm leaves no element to draw")
    return _Section(grid.extract_cells(np.flatnonzero(keep)), face, outline,
                    spec["caption"].format(face))


def _add_section(p, section: _Section, name: str, where: str, clim):
    """Draw one field of a section on the active renderer; returns the actor.  Values
    above (below) the colour range take :data:`~biomech.viz.colours.ABOVE_RANGE_COLOUR`
    (``BELOW_RANGE_COLOUR``), so clipping shows on the picture and on its bar."""
    _, cmap = _field_style(name)
    actor = p.add_mesh(section.part.copy(deep=False), scalars=name, preference=where, cmap=cmap,
                       clim=clim, show_scalar_bar=False, lighting=False,
                       interpolate_before_map=True, above_color=C.ABOVE_RANGE_COLOUR,
                       below_color=C.BELOW_RANGE_COLOUR)
    if section.outline is not None:
        p.add_mesh(section.outline.copy(deep=False), color=C.SECTION_OUTLINE_COLOUR,
                   line_width=2, lighting=False)
    return actor


def _bar_titles(p, fields, font, column_px) -> dict:
    """Colour-bar title of each field: the long one where it fits at 80 % of the
    font, else the short one."""
    out = {}
    for name in fields:
        long, _ = _field_style(name)
        short = C.SHORT_FIELD_TITLES.get(name, long)
        fits = CHAR_WIDTH * 0.8 * font * len(long) <= 0.8 * column_px
        out[name] = long if fits else short
    return out


def _check_planes(planes):
    bad = [pl for pl in planes if pl not in PLANES]
    if bad or not planes:
        raise InputError(f"planes must be a non-empty list of {sorted(PLANES)}, got {list(planes)}")


def _section_scale(bounds_list, planes, aspect) -> float:
    """One parallel scale [mm] that fits every box in every plane."""
    b = _union(bounds_list)
    return max(_parallel_scale(b, PLANES[pl]["towards"], PLANES[pl]["up"], aspect, margin=1.14)
               for pl in planes)


def _frame_section(p, plane, scale, bounds, shift_down=0.0):
    spec = PLANES[plane]
    _set_camera(p.renderer, bounds, spec["towards"], spec["up"], scale, shift_down)


def clipping(values_list: Sequence[np.ndarray], lim) -> tuple[float | None, float | None]:
    """(lowest value below the range or None, highest value above it or None) of the
    values drawn with colour range ``lim``."""
    v = np.concatenate([np.asarray(x, float).ravel() for x in values_list])
    v = v[np.isfinite(v)]
    if v.size == 0:
        return None, None
    lo, hi = float(v.min()), float(v.max())
    span = max(lim[1] - lim[0], 1e-300)
    return (lo if lo < lim[0] - 1e-6 * span else None,
            hi if hi > lim[1] + 1e-6 * span else None)
