"""Landmarks and regions of a labelled voxel model that the treatment and load
code need: body masks and centroids, endplate layers and their heights, the
posterior wall, the basivertebral foramen and transpedicular trajectories.

Works for every model: parametric models carry exact landmarks in
``meta['levels'][level]`` (global mm); for CT and surface models the same
quantities are measured from the labels, in the level's frame when meta gives
one, else in the grid axes (x left-right, y +posterior, z +cranial).
"""
from __future__ import annotations

import numpy as np

from biomech.errors import InputError

from .labels import BODY_LABELS, Label
from .voxel_model import VoxelModel


def _check_level(model: VoxelModel, level: str) -> int:
    if not isinstance(model, VoxelModel):
        raise InputError(f"model must be a VoxelModel, got {type(model).__name__}")
    if level not in model.level_names:
        raise InputError(f"unknown level {level!r}; the model has {list(model.level_names)}")
    return model.level_names.index(level)


def _level_info(model: VoxelModel, level: str) -> dict:
    return dict((model.meta.get("levels") or {}).get(level) or {})


def vertebral_body_mask(model: VoxelModel, level: str) -> np.ndarray:
    """(nx, ny, nz) bool: voxels of the body of ``level`` (shell, endplates,
    cancellous bone and whatever replaced it: lesions, cement, ...)."""
    li = _check_level(model, level)
    m = model.mask(*BODY_LABELS) & (model.level == li)
    if not m.any():
        raise InputError(f"level {level!r} has no vertebral-body voxels (labels "
                         f"{sorted(l.name for l in BODY_LABELS)})")
    return m


def body_centroid(model: VoxelModel, level: str) -> np.ndarray:
    """(3,) centroid [mm] of the vertebral body: the parametric body centre
    when meta has it, else the centroid of the body voxels."""
    info = _level_info(model, level)
    if "body_centroid_mm" in info:
        _check_level(model, level)
        return np.asarray(info["body_centroid_mm"], float)
    ijk = np.argwhere(vertebral_body_mask(model, level))
    return model.centres(ijk).mean(axis=0)


def level_frame(model: VoxelModel, level: str):
    """(origin (3,), rotation (3, 3)): the level's local frame (columns = local
    axes); meta's frame when present, else grid axes at the body centroid."""
    info = _level_info(model, level)
    if "frame" in info:
        return np.asarray(info["frame"]["origin_mm"], float), np.asarray(info["frame"]["rotation"], float)
    return body_centroid(model, level), np.eye(3)


def _local_coords(model, mask, level):
    o, R = level_frame(model, level)
    ijk = np.argwhere(mask)
    return ijk, (model.centres(ijk) - o) @ R


def endplate_mask(model: VoxelModel, level: str, which: str = "both") -> np.ndarray:
    """(nx, ny, nz) bool: bony endplate voxels of ``level``; which = 'superior',
    'inferior' or 'both' (split by the level's local z at the body centre)."""
    if which not in ("superior", "inferior", "both"):
        raise InputError(f"which must be 'superior', 'inferior' or 'both', got {which!r}")
    li = _check_level(model, level)
    m = (model.labels == Label.ENDPLATE) & (model.level == li)
    if not m.any():
        raise InputError(f"level {level!r} has no ENDPLATE voxels")
    if which == "both":
        return m
    ijk, q = _local_coords(model, m, level)
    keep = q[:, 2] > 0 if which == "superior" else q[:, 2] < 0
    out = np.zeros_like(m)
    out[tuple(ijk[keep].T)] = True
    return out


def endplate_z(model: VoxelModel, level: str) -> dict:
    """{'superior': z, 'inferior': z} [mm]: global z of the endplate rim-plane
    centres (parametric) or the mean z of the endplate voxels."""
    info = _level_info(model, level)
    if "superior_endplate_centre_mm" in info:
        _check_level(model, level)
        return {"superior": float(info["superior_endplate_centre_mm"][2]),
                "inferior": float(info["inferior_endplate_centre_mm"][2])}
    out = {}
    for which in ("superior", "inferior"):
        ijk = np.argwhere(endplate_mask(model, level, which))
        out[which] = float(model.centres(ijk)[:, 2].mean())
    return out


def posterior_wall_mask(model: VoxelModel, level: str, *, width_fraction: float = 0.35) -> np.ndarray:
    """(nx, ny, nz) bool: the posterior wall of the body of ``level``: shell
    voxels (CORTICAL) behind the body centre whose posterior neighbour (along
    the level's local +y, nearest grid direction) is not body, within
    ``width_fraction`` of the body width either side of the mid-sagittal plane
    (the part facing the canal)."""
    body = vertebral_body_mask(model, level)
    li = model.level_names.index(level)
    shell = (model.labels == Label.CORTICAL) & (model.level == li)
    o, R = level_frame(model, level)
    step = np.rint(R[:, 1] / np.abs(R[:, 1]).max()).astype(int)
    nb = np.zeros_like(body)
    src = [slice(max(0, -s), n - max(0, s)) for s, n in zip(step, body.shape)]
    dst = [slice(max(0, s), n - max(0, -s)) for s, n in zip(step, body.shape)]
    nb[tuple(src)] = body[tuple(dst)]             # nb[i] = body[i + step]
    cand = shell & ~nb
    ijk, q = _local_coords(model, cand, level)
    _, qb = _local_coords(model, body, level)
    c = qb.mean(axis=0)
    half_w = 0.5 * np.ptp(qb[:, 0])
    keep = (q[:, 1] > c[1]) & (np.abs(q[:, 0] - c[0]) <= width_fraction * 2 * half_w)
    out = np.zeros_like(body)
    out[tuple(ijk[keep].T)] = True
    return out


def foramen_mask(model: VoxelModel, level: str) -> np.ndarray:
    """(nx, ny, nz) bool: basivertebral-foramen voxels of ``level`` (field
    ``basivertebral_foramen``).  Raises InputError when the model has none
    (CT and surface models do not resolve it)."""
    li = _check_level(model, level)
    if "basivertebral_foramen" not in model.fields:
        raise InputError("the model has no 'basivertebral_foramen' field (only parametric "
                         "models mark the foramen)")
    m = (model.fields["basivertebral_foramen"] > 0.5) & (model.level == li)
    if not m.any():
        raise InputError(f"level {level!r} has no basivertebral-foramen voxels")
    return m


def pedicle_trajectory(model: VoxelModel, level: str, side: str = "left") -> dict:
    """Transpedicular path of ``level`` [mm, global]: entry (posterior bone
    surface on the pedicle axis), isthmus, target (pedicle axis at the
    anterior/middle third boundary of the body), unit direction entry ->
    target, pedicle width/height and path length.  Parametric models only."""
    _check_level(model, level)
    if side not in ("left", "right"):
        raise InputError(f"side must be 'left' or 'right', got {side!r}")
    peds = _level_info(model, level).get("pedicles")
    if not peds:
        raise InputError(f"level {level!r} has no pedicle landmarks in meta (parametric "
                         "models with posterior elements carry them)")
    return {k: (np.asarray(v, float) if isinstance(v, (list, tuple)) else v)
            for k, v in peds[side].items()}
