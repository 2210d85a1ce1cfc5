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
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from biomech.errors import InputError
from biomech.meshes.labels import BONE_LABELS, DISC_LABELS, Label

from . import colours as C
from .grids import labelled_surface, mesh_grid

log = logging.getLogger(__name__)

#: Default fields of :func:`picture_fields` (names as in ``Solution.cell_fields()``;
#: ``displacement_mm`` is the nodal displacement, drawn as its magnitude).
DEFAULT_FIELDS = ("displacement_mm", "von_mises_MPa", "min_principal_strain",
                  "strain_energy_density_MPa")
#: Section planes: normal axis, the side kept, direction to the camera, view-up.
PLANES = {
    "sagittal": dict(axis=0, keep="below", towards=(1.0, 0.0, 0.0), up=(0.0, 0.0, 1.0),
                     caption="sagittal x = {:.1f} mm, anterior left"),
    "frontal": dict(axis=1, keep="above", towards=(0.0, -1.0, 0.0), up=(0.0, 0.0, 1.0),
                    caption="frontal y = {:.1f} mm, seen from anterior"),
}
#: Fluoroscopy-like views of the cement picture: direction to the camera, view-up.
VIEWS = {
    "lateral": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0), "lateral"),
    "ap": ((0.0, -1.0, 0.0), (0.0, 0.0, 1.0), "antero-posterior"),
    "axial": ((0.0, 0.0, 1.0), (0.0, -1.0, 0.0), "axial, from cranial (anterior up)"),
    "oblique": ((1.0, -1.0, 0.7), (0.0, 0.0, 1.0), "oblique"),
}
#: Camera direction of the cut-away picture: from anterior-right, above.
CUTAWAY_DIRECTION = (1.0, -1.15, 0.75)
DEFAULT_WINDOW = (1200, 800)


@dataclass(frozen=True)
class CaseFields:
    """One solved case in plain arrays.

    model : VoxelModel the mesh was built on (None for an unstructured mesh: the
        sections then cut through the middle of the mesh, without cement outline,
        and colour ranges use every element)
    mesh : VoxelMesh ``VoxelMesh.from_mask(model.labels != 0, model.h, model.origin)``
        (or any biomech.Mesh when model is None)
    cell_fields : {name: (n_elements,)} e.g. ``Solution.cell_fields()``
    point_fields : {name: (n_nodes,) or (n_nodes, 3)} e.g. {"displacement_mm": sol.u}
    """

    model: object
    mesh: object
    cell_fields: Mapping[str, np.ndarray] = field(default_factory=dict)
    point_fields: Mapping[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def from_solution(cls, model, mesh, solution) -> "CaseFields":
        """Fields of a :class:`biomech.Solution`: its cell fields and ``displacement_mm``."""
        return cls(model, mesh, solution.cell_fields(), {"displacement_mm": solution.u})

    def values(self, name: str) -> tuple[np.ndarray, str]:
        """(values, "cell" | "point") of a field; vectors become magnitudes."""
        if name in self.point_fields:
            v = np.asarray(self.point_fields[name], float)
            return (np.linalg.norm(v, axis=1) if v.ndim == 2 else v), "point"
        if name in self.cell_fields:
            return np.asarray(self.cell_fields[name], float), "cell"
        raise InputError(f"no field {name!r}; the case has cell fields "
                         f"{sorted(self.cell_fields)} and point fields {sorted(self.point_fields)}")

    def range_values(self, name: str, range_over="bone") -> np.ndarray:
        """The values of field ``name`` that set its colour range: those of the
        elements (or of their nodes) whose label is in ``range_over`` ("bone": bone,
        cement and composite; "all"; or a sequence of label numbers).  Falls back to
        all values when no element has those labels or the mesh is not a voxel mesh."""
        values, where = self.values(name)
        labels = _range_labels(range_over)
        if labels is None or self.model is None or getattr(self.mesh, "voxel_ijk", None) is None:
            return values
        from .grids import element_labels
        sel = np.isin(element_labels(self.model, self.mesh), labels)
        if not sel.any():
            return values
        if where == "cell":
            return values[sel]
        return values[np.unique(np.asarray(self.mesh.cells)[sel].ravel())]


def _range_labels(range_over):
    if isinstance(range_over, str):
        if range_over == "all":
            return None
        if range_over == "bone":
            return [int(l) for l in BONE_LABELS]
        raise InputError(f"range_over must be 'bone', 'all' or a list of labels, "
                         f"got {range_over!r}")
    return [int(l) for l in range_over]


# ---------------------------------------------------------------------------- helpers
def _pv():
    from .offscreen import import_pyvista, require_renderer
    pv = import_pyvista()
    require_renderer()
    return pv


def _plotter(window_size, **kw):
    """An off-screen plotter lit by one headlight per panel (faces towards the viewer
    keep nearly their true label colour; the others are a little darker)."""
    pv = _pv()
    p = pv.Plotter(off_screen=True, window_size=[int(v) for v in window_size],
                   lighting="none", **kw)
    p.set_background(C.BACKGROUND)
    rows, cols = p.shape
    for i in range(rows):
        for j in range(cols):
            p.subplot(i, j)
            p.add_light(pv.Light(light_type="headlight"), only_active=True)
    p.subplot(0, 0)
    return p


#: Named text anchors (normalized viewport position, horizontal justification).
_ANCHORS = {"upper_left": ((0.02, 0.95), "left"), "upper_edge": ((0.5, 0.95), "center"),
            "lower_left": ((0.02, 0.02), "left"), "lower_edge": ((0.5, 0.02), "center"),
            "upper_right": ((0.98, 0.95), "right")}


def _side_caption(p, text: str, font: int):
    """Text turned 90 degrees, centred in the active (narrow) panel, in two lines
    (broken at the first ", ") at ``font``."""
    text = text.replace(", ", "\n", 1)
    actor = p.add_text(text, position=(0.62, 0.5), viewport=True, orientation=90.0,
                       font_size=font, color=C.TEXT_COLOUR)
    actor.prop.justification_horizontal = "center"
    actor.prop.justification_vertical = "center"
    return actor


def _panel_pixels(p) -> tuple[float, float]:
    """Width and height [px] of the active panel."""
    vp = p.renderer.GetViewport()
    return (max((vp[2] - vp[0]) * p.window_size[0], 1.0),
            max((vp[3] - vp[1]) * p.window_size[1], 1.0))


#: Width of one character of VTK's default font, in units of the font size
#: (measured: "cement-bone composite" at font 15 is 362 px wide).
CHAR_WIDTH = 1.2


def _fit(text: str, font: int, width_px: float, fraction: float = 0.95) -> int:
    """The font size, at most ``font``, at which the longest line of ``text`` fits
    in ``fraction`` of ``width_px``."""
    longest = max(len(line) for line in str(text).splitlines() or [""])
    return int(max(6, min(font, fraction * width_px / (CHAR_WIDTH * max(longest, 1)))))


def _wrap(text: str, font: int, width_px: float, smallest: int = 9) -> str:
    """Break ``text`` at ", " into lines when it would not fit at ``smallest``."""
    if _fit(text, font, width_px) >= smallest or ", " not in text:
        return text
    return text.replace(", ", "\n")


def _text(p, text: str, where: str, font: int):
    """Text of a fixed font size [pt] in the active panel (VTK's corner annotations
    scale with the panel; this does not, so all panels match), wrapped at ", "
    and shrunk to fit."""
    (x, y), just = _ANCHORS[where]
    text = _wrap(text, font, _panel_pixels(p)[0])
    font = _fit(text, font, _panel_pixels(p)[0])
    actor = p.add_text(text, position=(x, y), viewport=True, font_size=font, color=C.TEXT_COLOUR)
    actor.prop.justification_horizontal = just
    actor.prop.justification_vertical = "top" if y > 0.5 else "bottom"
    return actor


def _finish(p, filename) -> np.ndarray:
    try:
        img = p.screenshot(str(filename) if filename is not None else None, return_img=True)
    finally:
        p.close()
    if filename is not None:
        log.info("wrote picture %s", filename)
    return np.asarray(img)


def _font(window_size, base: int) -> int:
    """Font size scaled with the window height (base is for 800 px)."""
    return max(8, int(round(base * min(window_size[1], 1.5 * window_size[0]) / 800)))


def _model_bounds(model, mask=None) -> np.ndarray:
    """(2, 3) [mm] lower and upper corner of the non-void (or ``mask``) voxels."""
    m = model.labels != 0 if mask is None else mask
    if not m.any():
        raise InputError("the model has no non-void voxel to draw")
    idx = np.argwhere(m)
    o = np.asarray(model.origin)
    return np.stack([o + idx.min(0) * model.h, o + (idx.max(0) + 1) * model.h])


def _union(bounds_list) -> np.ndarray:
    b = np.stack(bounds_list)
    return np.stack([b[:, 0].min(0), b[:, 1].max(0)])


def _screen_axes(direction, up):
    d = np.asarray(direction, float)
    d /= np.linalg.norm(d)
    forward = -d
    right = np.cross(forward, up)
    right /= np.linalg.norm(right)
    true_up = np.cross(right, forward)
    return d, right, true_up


def _parallel_scale(bounds, direction, up, aspect: float, margin: float = 1.06) -> float:
    """Half-height [mm] of a parallel view that shows the whole box."""
    _, right, true_up = _screen_axes(direction, up)
    corners = np.array([[bounds[i, 0], bounds[j, 1], bounds[k, 2]]
                        for i in (0, 1) for j in (0, 1) for k in (0, 1)])
    w = np.ptp(corners @ right)
    h = np.ptp(corners @ true_up)
    return margin * max(h / 2.0, w / 2.0 / aspect)


def _fit_view(points, direction, up, aspect: float, margin: float = 1.08, *,
              left_pad: float = 0.0):
    """(centre (3,) [mm], parallel scale [mm]) that frame ``points`` (n, 3) tightly
    in a panel of width/height ``aspect`` seen from ``direction``, leaving
    ``left_pad`` (a fraction of the panel height) free on the left for labels."""
    d, right, true_up = _screen_axes(direction, up)
    pts = np.asarray(points, float)
    u, v, w = pts @ right, pts @ true_up, pts @ d
    # visible width 2 s aspect / margin must hold the extent plus the pad 2 s left_pad
    scale = max(margin * np.ptp(v) / 2.0,
                np.ptp(u) / max(2.0 * aspect / margin - 2.0 * left_pad, 1e-6))
    pad_mm = 2.0 * scale * left_pad
    centre = right * 0.5 * (u.min() - pad_mm + u.max()) + true_up * 0.5 * (v.min() + v.max()) \
        + d * w.mean()
    return centre, scale


def _set_camera(renderer, bounds, direction, up, scale: float, shift_down: float = 0.0,
                centre=None) -> None:
    """Parallel camera looking at ``centre`` (default: the box centre) from
    ``direction``; ``shift_down`` moves the picture down by that fraction of the
    panel height (room for a title)."""
    d, _, true_up = _screen_axes(direction, up)
    centre = (bounds.mean(axis=0) if centre is None else np.asarray(centre, float)) \
        + true_up * (2.0 * scale * shift_down)
    dist = 4.0 * np.linalg.norm(np.ptp(bounds, axis=0)) + 1.0
    cam = renderer.camera
    cam.focal_point = tuple(centre)
    cam.position = tuple(centre + d * dist)
    cam.up = tuple(true_up)
    renderer.enable_parallel_projection()
    cam.parallel_scale = scale
    renderer.reset_camera_clipping_range()


def _panel_aspect(window_size, shape, row_weights=None, col_weights=None, col: int = 0) -> float:
    """Width / height of a top-row panel in column ``col``."""
    rows, cols = shape
    rw = row_weights or [1] * rows
    cw = col_weights or [1] * cols
    w = window_size[0] * cw[col] / sum(cw)
    h = window_size[1] * rw[0] / sum(rw)
    return w / h


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
    m = model.mask(*C.CEMENT_LABELS)
    if not m.any():
        return None
    return np.asarray(model.origin) + (np.argwhere(m).mean(0) + 0.5) * model.h


def resolve_section_point(model, at) -> tuple | None:
    """The point [mm] the sections pass through: None (middle of the model),
    "cement" (centroid of cement and composite; middle when there is none) or (x, y, z)."""
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


def _fmt(lo: float, hi: float) -> str:
    """Tick format with about 3 significant digits over the range."""
    span = max(abs(lo), abs(hi))
    if span == 0 or 1e-3 <= span < 1e4:
        digits = max(0, 2 - int(np.floor(np.log10(span if span else 1.0))))
        return f"%.{min(digits, 6)}f"
    return "%.2e"


def _field_style(name: str):
    title, cmap, _ = C.FIELD_STYLE.get(name, (name.replace("_", " "), "viridis", "p1-p99"))
    return title, cmap


def case_bounds(case: CaseFields) -> np.ndarray:
    """(2, 3) [mm] box of a case: its model's non-void voxels, or the mesh nodes
    when the case has no voxel model (an unstructured mesh)."""
    if case.model is not None:
        return _model_bounds(case.model)
    pts = np.asarray(case.mesh.points)
    return np.stack([pts.min(0), pts.max(0)])


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
    """Draw one field of a section on the active renderer; returns the actor."""
    _, cmap = _field_style(name)
    actor = p.add_mesh(section.part.copy(deep=False), scalars=name, preference=where, cmap=cmap,
                       clim=clim, show_scalar_bar=False, lighting=False,
                       interpolate_before_map=True)
    if section.outline is not None:
        p.add_mesh(section.outline.copy(deep=False), color=C.SECTION_OUTLINE_COLOUR,
                   line_width=2, lighting=False)
    return actor


def _scalar_bar(p, title, actor, font, *, fmt="%.3g", n_labels=5, title_font=None):
    """A horizontal colour bar in the active (strip) renderer, title above it
    (at ``title_font``, default: ``font`` shrunk to fit)."""
    lo, hi = actor.mapper.scalar_range
    width_px = 0.7 * _panel_pixels(p)[0]
    chars = max(len(fmt % lo), len(fmt % hi))
    label_font = max(8, int(font * 1.15))
    # scalar-bar tick labels are narrower than other text: ~0.6 font px per character
    n_labels = int(np.clip(width_px / (1.6 * chars * 0.6 * label_font), 2, n_labels))
    bar = p.add_scalar_bar(title=f"{title} #{id(actor)}", mapper=actor.mapper, vertical=False,
                           n_labels=n_labels, fmt=fmt, color=C.TEXT_COLOUR,
                           title_font_size=font, label_font_size=label_font,
                           position_x=0.15, position_y=0.06, width=0.7, height=0.4,
                           unconstrained_font_size=True)
    bar.SetTitle("")
    bar.SetTextPositionToPrecedeScalarBar()
    if title_font is None:
        title_font = _fit(title, font, _panel_pixels(p)[0])
    text = p.add_text(title, position=(0.5, 0.56), viewport=True, font_size=title_font,
                      color=C.TEXT_COLOUR)
    text.prop.justification_horizontal = "center"
    return bar


def _legend_panel(p, entries, font, *, heading=None, notes=()):
    """A legend filling the active renderer: a colour square and black text per
    entry ([name, colour]), an optional heading, then free text lines."""
    from vtkmodules.vtkCommonCore import vtkPoints
    from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
    from vtkmodules.vtkRenderingCore import vtkActor2D, vtkCoordinate, vtkPolyDataMapper2D

    vw, vh = _panel_pixels(p)
    longest = max([len(e[0]) + 3 for e in entries] + [len(t) for t in notes]
                  + [len(heading or "")])
    font = int(max(7, min(font, 0.92 * vw / (CHAR_WIDTH * longest))))
    n_rows = len(entries) + len(notes) + (1.3 if heading else 0) + 0.5
    row = min(2.0 * font / vh, 0.92 / max(n_rows, 1))
    x0, y = 0.05, 0.97
    if heading:
        y -= row
        p.add_text(heading, position=(x0, y), viewport=True, font_size=font, color=C.TEXT_COLOUR)
        y -= 0.3 * row
    side = 0.62 * row * vh
    for name, colour in entries:
        y -= row
        pts = vtkPoints()
        for dx, dy in ((0, 0), (side, 0), (side, side), (0, side)):
            pts.InsertNextPoint(x0 + dx / vw, y + dy / vh, 0.0)
        cells = vtkCellArray()
        cells.InsertNextCell(4, [0, 1, 2, 3])
        poly = vtkPolyData()
        poly.SetPoints(pts)
        poly.SetPolys(cells)
        coord = vtkCoordinate()
        coord.SetCoordinateSystemToNormalizedViewport()
        mapper = vtkPolyDataMapper2D()
        mapper.SetInputData(poly)
        mapper.SetTransformCoordinate(coord)
        square = vtkActor2D()
        square.SetMapper(mapper)
        square.GetProperty().SetColor(*(np.array(C.hex_to_rgb(colour)) / 255.0))
        p.renderer.AddViewProp(square)
        p.add_text(name, position=(x0 + side / vw + 0.03, y), viewport=True, font_size=font,
                   color=C.TEXT_COLOUR)
    if notes:
        y -= 0.4 * row
    for line in notes:
        y -= row
        p.add_text(line, position=(x0, y), viewport=True, font_size=font, color=C.TEXT_COLOUR)


# ---------------------------------------------------------------------------- pictures
#: Width of the legend column relative to one picture panel.
LEGEND_SHARE = (0.2, 0.42)


def _legend_weights(window_size, n_panels: int, lines, font: int) -> list[float]:
    """Column weights: n picture panels of weight 1 and a legend column wide enough
    for the longest legend line at ``font`` (between 20 and 42 % of the window)."""
    w = window_size[0]
    longest = max([len(t) + 3 for t in lines] + [10])
    px = float(np.clip(CHAR_WIDTH * font * longest + 0.03 * w, LEGEND_SHARE[0] * w,
                       LEGEND_SHARE[1] * w))
    return [1.0] * n_panels + [px / ((w - px) / n_panels)]


def caption_column_px(window_size) -> int:
    """Width [px] of the column of turned section captions (two lines of text)."""
    font = _font(window_size, 14)
    return int(round(max(2.0 * 1.3 * font + 10, 0.03 * window_size[0])))


def _caption_weights(window_size, n_panels: int) -> list[float]:
    px = caption_column_px(window_size)
    return [px / ((window_size[0] - px) / n_panels)] + [1.0] * n_panels


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


def _cut_labels(model, cut: str) -> np.ndarray:
    lab = np.array(model.labels)
    mid = (body_centre(model) - np.asarray(model.origin)) / model.h
    ix, iy = int(round(mid[0])), int(round(mid[1]))
    if cut == "quadrant":
        lab[ix:, :iy, :] = 0
    elif cut == "sagittal":
        lab[ix:, :, :] = 0
    elif cut == "frontal":
        lab[:, :iy, :] = 0
    elif cut != "none":
        raise InputError(f"cut must be one of 'quadrant', 'sagittal', 'frontal', 'none', "
                         f"got {cut!r}")
    return lab


_CUT_VIEW = {"quadrant": (CUTAWAY_DIRECTION, (0, 0, 1)), "sagittal": ((1, 0, 0), (0, 0, 1)),
             "frontal": ((0, -1, 0), (0, 0, 1)), "none": (CUTAWAY_DIRECTION, (0, 0, 1))}


def _draw_model(p, model, cut, font, show_levels) -> np.ndarray:
    """Draw the cut-away labels on the active panel; returns the surface points
    (n, 3) [mm] for framing (the caller sets the camera)."""
    lab = _cut_labels(model, cut)
    surf = labelled_surface(model, lab)
    if surf is None:
        raise InputError(f"nothing is left to draw after the {cut!r} cut")
    p.add_mesh(surf, scalars="rgb", rgb=True, show_scalar_bar=False, ambient=0.55, diffuse=0.5,
               specular=0.0)
    direction, up = _CUT_VIEW[cut]
    if show_levels and model.level_names:
        _level_labels(p, model, lab, direction, up, font)
    return np.asarray(surf.points)


def _level_label_pad(model, font: int, panel_height_px: float) -> float:
    """Room for the level names left of the model, as a fraction of the panel height."""
    if not model.level_names:
        return 0.0
    longest = max(len(n) for n in model.level_names)
    return (CHAR_WIDTH * LEVEL_FONT_FACTOR * font * longest + 10.0) / panel_height_px


#: Point labels render smaller than other text at the same font size.
LEVEL_FONT_FACTOR = 1.4


def _level_labels(p, model, labels, direction, up, font):
    """Level names (L1, L1-L2, ...) just left of each level's leftmost drawn voxel
    (as seen on the screen), at the level's mean height."""
    pts, names = [], []
    _, right, _ = _screen_axes(direction, up)
    for i, name in enumerate(model.level_names):
        m = (model.level == i) & (labels != 0)
        if not m.any():
            continue
        c = model.centres(np.argwhere(m))
        left = c[np.argmin(c @ right)]
        pts.append(left - right * 3.0 * model.h + np.array([0.0, 0.0, c[:, 2].mean() - left[2]]))
        names.append(name)
    if pts:
        p.add_point_labels(np.array(pts), names, font_size=int(LEVEL_FONT_FACTOR * font),
                           text_color=C.TEXT_COLOUR,
                           shape=None, show_points=False, always_visible=True, bold=True,
                           justification_horizontal="right")


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
    weights = _legend_weights(window_size, n, [e[0] for e in entries] + notes, font)
    p = _plotter(window_size, shape=(1, n + 1), col_weights=weights, border=False)
    b = _model_bounds(model) if bounds is None else np.asarray(bounds, float)
    aspect = _panel_aspect(window_size, (1, n + 1), None, weights)
    panel_px = window_size[0] * weights[0] / sum(weights)
    caption_font = min(_fit(VIEWS[v][2], font, panel_px) for v in views)
    for k, v in enumerate(views):
        p.subplot(0, k)
        _draw_cement(p, model, v, sites, b, aspect, font, caption_font)
    p.subplot(0, n)
    _legend_panel(p, entries, font, heading=title or "cement", notes=notes)
    return _finish(p, filename)


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
    return notes


#: Leak sites ringed and listed one by one (the rest are summed).
MAX_LABELLED_LEAKS = 8
#: Field written by the treatments with the leak-site code of every leaked voxel, and
#: the codes' names (as biomech.treatments.leakage.LeakSite / SITE_NAMES; a test keeps
#: the two in step -- viz sits below treatments and does not import it).
LEAK_SITE_FIELD = "cement_leak_site"
LEAK_SITE_NAMES = {1: "spinal canal", 2: "disc", 3: "venous", 4: "paravertebral"}


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
            name = LEAK_SITE_NAMES.get(int(c), f"site {int(c)}")
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
    for lab in (*C.CEMENT_LABELS, *C.LEAK_LABELS):
        s = labelled_surface(model, keep=[int(lab)])
        if s is not None:
            p.add_mesh(s, color=C.label_colour(lab), ambient=0.55, diffuse=0.5, specular=0.0)
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
    if caption_font:
        _text(p, caption_text, "upper_left", caption_font)
    _set_camera(p.renderer, bounds, direction, up,
                _parallel_scale(bounds, direction, up, aspect, margin=1.16), shift_down=0.04)
    return shown


def picture_fields(case: CaseFields, *, fields: Sequence[str] = DEFAULT_FIELDS,
                   planes: Sequence[str] = ("sagittal", "frontal"), at=None,
                   clim: Mapping[str, tuple] | None = None,
                   range_over="bone", outline_labels=C.CEMENT_LABELS, filename=None,
                   window_size=(1600, 1000), title: str | None = None) -> np.ndarray:
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
    title_font = min(_fit(t, font, column_px) for t in titles.values())
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
        _scalar_bar(p, titles[name], actor, font, fmt=_fmt(*lim), title_font=title_font)
    if title:
        p.subplot(0, 1)
        _text(p, title, "upper_left", font)
    return _finish(p, filename)


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


def compare_fields(cases: Mapping[str, CaseFields], field_name: str, *,
                   plane: str = "sagittal", at=None, clim=None, range_over="bone",
                   outline_labels=C.CEMENT_LABELS, filename=None, window_size=None,
                   title: str | None = None) -> np.ndarray:
    """One field on the same section of several cases, side by side: one camera
    (same place, same scale), one colour range over all cases, one colour bar.

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
        _text(p, k, "upper_edge", font)
    p.link_views(views=[p.renderers.loc_to_index((0, j + 1)) for j in range(n)])
    p.subplot(0, 0)
    if len(set(captions)) > 1:      # each case cut through its own middle / cement
        where = "cement" if at == "cement" else "middle"
        captions = [f"{plane} sections through each case's {where}, "
                    + captions[0].split(", ", 1)[1]]
    row_px = window_size[1] * weights[0] / sum(weights)
    text = captions[0]
    _side_caption(p, text, _fit(text.replace(", ", "\n", 1), max(8, int(font * 0.9)), row_px))
    p.subplot(1, 1)
    long, _ = _field_style(field_name)
    _scalar_bar(p, (title + ": " if title else "") + long, actor, font, fmt=_fmt(*lim))
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
                       window_size=DEFAULT_WINDOW) -> dict[str, Path]:
    """The standard pictures of one case into ``folder``: model cut-away, cement
    (when the model has cement or leak) and fields; returns {caption: path}."""
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
        picture_fields(case, fields=present, filename=path,
                       window_size=(int(window_size[0] * 1.33), window_size[1]))
        out["fields on mid-sagittal and mid-frontal sections, cement outlined in white; "
            "colour ranges from the bone and cement elements (von Mises and strain energy "
            "density 0 to 99th percentile, minimum principal strain 1st percentile to 0), "
            "values beyond show in the end colours"] = path
    return out
