"""Anatomy queries on a labelled voxel model: which vertebrae it holds, the measured
geometry of one vertebral body (extents, centroid, body mask) and its landmarks (pedicles,
basivertebral foramen, canal) read from ``model.meta``, and whether a level is intact.

Geometry read from the model (the anatomy interface): body extents and centroid are
measured from the labels of the level; the anatomy's ``meta["levels"][level]`` keys are read
(``pedicles[side]`` with ``entry_mm``, ``direction``, ``pedicle_width_mm``;
``basivertebral_foramen`` with ``centre_mm``, ``radius_mm``; optional ``canal`` with
``centre_mm`` (x, y) and ``half_axes_mm``); ``meta["vertebrae"][level]`` with
``axis``/``radius_mm`` is accepted too.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..meshes.labels import BODY_LABELS, Label

#: Trabecular tissue a lesion or a damage zone may replace.
TRABECULAR_TISSUE = (Label.CANCELLOUS, Label.FRACTURE_ZONE, Label.ANGIOMA)


def vertebra_levels(model) -> list:
    """Names of the vertebrae the model declares (its level names without a '-'), in
    ``level_names`` order, whether or not they have voxels: the names a condition or a
    treatment may be given.  :func:`biomech.metrics.vertebrae_cranial_first` lists the
    vertebrae that have voxels, cranial first (the levels metrics are taken on)."""
    return [n for n in model.level_names if "-" not in n]


def check_level(model, level) -> int:
    """Index of vertebra ``level``; InputError listing the vertebrae when unknown."""
    if not isinstance(level, str) or level not in vertebra_levels(model):
        raise InputError(f"unknown level {level!r}; the model has vertebrae {vertebra_levels(model)}")
    return model.level_names.index(level)


@dataclass(frozen=True)
class VertebraGeometry:
    """Measured geometry of one vertebra (mm); masks are (nx, ny, nz) bool."""

    level: str
    level_index: int
    body: np.ndarray            # vertebral body voxels (shell, trabecular, lesions, cement)
    centroid_mm: np.ndarray     # (3,)
    lo_mm: np.ndarray           # (3,) lower bounds of the body (voxel faces)
    hi_mm: np.ndarray           # (3,) upper bounds
    pedicles: dict
    foramen: dict | None
    canal: dict | None
    left_sign: float            # -1: the patient's left is at smaller x

    @property
    def width_mm(self) -> float:
        return float(self.hi_mm[0] - self.lo_mm[0])

    @property
    def depth_mm(self) -> float:
        return float(self.hi_mm[1] - self.lo_mm[1])

    @property
    def height_mm(self) -> float:
        return float(self.hi_mm[2] - self.lo_mm[2])

    @property
    def anterior_y_mm(self) -> float:
        return float(self.lo_mm[1])

    @property
    def posterior_y_mm(self) -> float:
        return float(self.hi_mm[1])


def vertebra_geometry(model, level: str) -> VertebraGeometry:
    """Measure the body of ``level`` from the labels and read the pedicles, foramen and
    canal from ``model.meta["levels"][level]`` (missing entries are None / {})."""
    li = check_level(model, level)
    in_level = model.level == li
    original = in_level & np.isin(model.labels, [Label.CORTICAL, Label.CANCELLOUS, Label.ENDPLATE])
    if not original.any():
        original = in_level & np.isin(model.labels, [int(l) for l in BODY_LABELS])
    if not original.any():
        raise InputError(f"level {level!r} has no vertebral-body voxels")
    h = model.h
    o = np.asarray(model.origin)
    j_post = np.flatnonzero(original.any(axis=(0, 2)))[-1]
    body = in_level & np.isin(model.labels, [int(l) for l in BODY_LABELS])
    body[:, j_post + 1:, :] = False
    idx = np.argwhere(body)
    lo = o + idx.min(axis=0) * h
    hi = o + (idx.max(axis=0) + 1) * h
    centroid = o + (idx.mean(axis=0) + 0.5) * h
    vmeta = dict((model.meta.get("levels") or {}).get(level)
                 or (model.meta.get("vertebrae") or {}).get(level) or {})
    pedicles = {side: normalise_pedicle(p) for side, p in (vmeta.get("pedicles") or {}).items()}
    left_sign = -1.0
    if "left" in pedicles:
        left_sign = float(np.sign(pedicles["left"]["entry_mm"][0] - centroid[0]) or -1.0)
    elif "right" in pedicles:
        left_sign = -float(np.sign(pedicles["right"]["entry_mm"][0] - centroid[0]) or 1.0)
    return VertebraGeometry(level, li, body, centroid, lo, hi, pedicles,
                            vmeta.get("basivertebral_foramen"), vmeta.get("canal"), left_sign)


def normalise_pedicle(p: dict) -> dict:
    """Pedicle landmarks as {"entry_mm", "axis" (unit, into the body), "radius_mm"} from the
    anatomy's keys (``entry_mm``, ``direction``, ``pedicle_width_mm``, ``pedicle_height_mm``)
    or the short form (``entry_mm``, ``axis``, ``radius_mm``)."""
    axis = np.asarray(p.get("direction", p.get("axis")), dtype=np.float64)
    if axis.shape != (3,) or not np.isfinite(axis).all() or np.linalg.norm(axis) == 0:
        raise InputError(f"pedicle landmarks need a direction (unit vector into the body), got {p!r}")
    if "radius_mm" in p:
        r = float(p["radius_mm"])
    elif "pedicle_width_mm" in p:
        r = 0.5 * min(float(p["pedicle_width_mm"]), float(p.get("pedicle_height_mm", np.inf)))
    else:
        r = 4.0
    return {"entry_mm": tuple(float(v) for v in p["entry_mm"]),
            "axis": tuple(float(v) for v in axis / np.linalg.norm(axis)), "radius_mm": r}


def is_intact(model, level: str) -> bool:
    """True when ``level`` has no recorded fracture, lesion or treatment."""
    if level in (model.meta.get("fractures") or {}):
        return False
    if any(rec.get("level") == level for rec in (model.meta.get("lesions") or [])):
        return False
    if any(rec.get("level") == level for rec in (model.meta.get("treatments") or [])):
        return False
    return True
