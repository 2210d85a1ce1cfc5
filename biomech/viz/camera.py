"""View fitting: bounding boxes [mm] of models and cases, screen axes of a view
direction, parallel scales that frame a box or a point cloud in a panel, and the parallel
camera set on a renderer."""
from __future__ import annotations

import numpy as np

from biomech.errors import InputError

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


def case_bounds(case) -> np.ndarray:
    """(2, 3) [mm] box of a case: its model's non-void voxels, or the mesh nodes
    when the case has no voxel model (an unstructured mesh)."""
    if case.model is not None:
        return _model_bounds(case.model)
    pts = np.asarray(case.mesh.points)
    return np.stack([pts.min(0), pts.max(0)])
