"""The cut-away model: labels with the anterior quarter (or a half) removed, drawn as
coloured surfaces, with the level names beside each level."""
from __future__ import annotations

import numpy as np

from biomech.errors import InputError

from . import colours as C
from .camera import _screen_axes
from .canvas import CHAR_WIDTH
from .grids import labelled_surface
from .sections import body_centre

#: Camera direction of the cut-away picture: from anterior-right, above.
CUTAWAY_DIRECTION = (1.0, -1.15, 0.75)


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
