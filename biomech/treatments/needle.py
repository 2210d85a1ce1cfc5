"""Needle access: approaches, trajectories, tip positions, and their validation.

Approaches
----------
* ``"bipedicular"`` -- transpedicular, one needle down each pedicle axis.
* ``"unipedicular"`` -- transpedicular through the pedicle of ``side``.
* ``"parapedicular"`` -- one needle entering lateral to the pedicle of ``side`` (pedicle
  radius + 3 mm further out), aimed at the midline: the steeper medial angle lets one
  needle reach the centre of the body.
* ``"extrapedicular"`` -- one needle through the posterolateral wall of the body on ``side``
  (entry 20 mm outside the wall at one quarter of the depth from the posterior wall), aimed
  at the midline.
* ``"lateral"`` (lumbar levels only) -- one needle through the lateral wall of the body on
  ``side``, outside the pedicle, in the axial plane and perpendicular to the sagittal plane:
  entry 30 mm outside the lateral wall (through psoas) at the AP position of the tip, tip on
  the midline.  The segmental vessels at the waist of the body are not modelled (the model
  does not check them).  InputError for a non-lumbar level (name not starting with "L").

Every needle leaves a track: backflow along the gap between needle and bone is a leak route
(site ``needle_track``) for every approach (:func:`biomech.treatments.leak_routes.needle_track`):
through the pedicle for the transpedicular approaches, through the lateral cortex for the
others.

Tip position: by default ``tip_depth`` (0.30) of the body depth behind the anterior wall --
"to the anterior third" --, on the pedicle axis in the horizontal plane (transpedicular) or
on the midline, and at mid-height of the body column there (the needle is angled
cranio-caudally as needed, e.g. in a collapsed body whose pedicles lie above its centre).
Explicit ``tips_mm`` (and ``entries_mm``) override the plan.

Validation: a tip must lie in the trabecular compartment of the level (InputError names the
tissue it lies in otherwise); a trajectory must not cross the spinal canal.

Meta keys read: ``meta["levels"][level]["pedicles"][side]`` with ``entry_mm`` (x, y, z),
unit ``direction`` (from the entry into the body) and ``pedicle_width_mm`` /
``pedicle_height_mm`` (the parametric anatomy's keys).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..meshes.labels import Label
from .flow import FLOW_LABELS
from .leakage import canal_mask

APPROACHES = ("bipedicular", "unipedicular", "parapedicular", "extrapedicular", "lateral")
SIDES = ("left", "right")


@dataclass(frozen=True)
class Needle:
    """A needle: entry and tip [mm], side, approach; ``axis`` unit vector entry -> tip."""

    side: str
    approach: str
    entry_mm: tuple
    tip_mm: tuple

    @property
    def axis(self) -> np.ndarray:
        d = np.asarray(self.tip_mm, float) - np.asarray(self.entry_mm, float)
        return d / np.linalg.norm(d)

    @property
    def length_mm(self) -> float:
        return float(np.linalg.norm(np.asarray(self.tip_mm, float) - np.asarray(self.entry_mm, float)))


def _pedicle(geo, side):
    p = geo.pedicles.get(side)
    if not p:
        raise InputError(f"transpedicular access needs meta['levels'][{geo.level!r}]['pedicles']"
                         f"[{side!r}] with entry_mm and direction; give tips_mm and entries_mm "
                         "explicitly for a model without pedicle axes")
    entry = np.asarray(p["entry_mm"], float)
    axis = np.asarray(p["axis"], float)
    axis = axis / np.linalg.norm(axis)
    return entry, axis, float(p.get("radius_mm", 4.0))


def _tip_y(geo, tip_depth):
    return geo.anterior_y_mm + tip_depth * geo.depth_mm


def _column_mid_z(model, geo, point):
    """Mid-height [mm] of the body column under ``point`` (x, y); the point's z if none."""
    ij = np.floor((np.asarray(point[:2], float) - np.asarray(model.origin[:2])) / model.h).astype(int)
    if (ij < 0).any() or (ij >= np.array(model.shape[:2])).any():
        return float(point[2])
    ks = np.flatnonzero(geo.body[ij[0], ij[1]])
    if ks.size == 0:
        return float(point[2])
    return float(model.origin[2] + 0.5 * (ks[0] + ks[-1] + 1) * model.h)


#: Distance of the lateral approach's entry point outside the lateral wall [mm] (through
#: psoas; assumption).
LATERAL_ENTRY_OFFSET_MM = 30.0

#: Needle tip depth [-]: fraction of the body depth behind the anterior wall (one range for
#: the treatment plans and this helper).
TIP_DEPTH_RANGE = (0.05, 0.95)


def plan_needles(model, geo, approach="bipedicular", *, side="left", tip_depth=0.30,
                 tips_mm=None, entries_mm=None) -> tuple:
    """Needles for ``approach`` on the vertebra ``geo`` (a VertebraGeometry)."""
    if approach not in APPROACHES:
        raise InputError(f"approach must be one of {APPROACHES}, got {approach!r}")
    if side not in SIDES:
        raise InputError(f"side must be 'left' or 'right', got {side!r}")
    lo, hi = TIP_DEPTH_RANGE
    if not (lo <= tip_depth <= hi):
        raise InputError(f"tip_depth must lie in [{lo:g}, {hi:g}] (fraction of the body depth behind "
                         f"the anterior wall), got {tip_depth!r}")
    if approach == "lateral" and not str(geo.level).upper().startswith("L"):
        raise InputError(f"the lateral approach is for lumbar levels (L1-L5); {geo.level} is not "
                         "lumbar: use a transpedicular, parapedicular or extrapedicular approach")
    sides = SIDES if approach == "bipedicular" else (side,)
    if tips_mm is not None:
        tips = [np.asarray(t, float) for t in np.atleast_2d(np.asarray(tips_mm, float))]
        if len(tips) != len(sides) and approach == "bipedicular":
            raise InputError(f"bipedicular access needs 2 tips, got {len(tips)}")
        if entries_mm is not None:
            entries = [np.asarray(e, float) for e in np.atleast_2d(np.asarray(entries_mm, float))]
            if len(entries) != len(tips):
                raise InputError(f"got {len(entries)} entries for {len(tips)} tips")
        else:
            entries = []
            for s, t in zip(sides, tips):
                if s in geo.pedicles:
                    entries.append(_pedicle(geo, s)[0])
                else:
                    entries.append(t + np.array([0.0, 30.0, 0.0]))
        return tuple(Needle(s, approach, tuple(e), tuple(t)) for s, e, t in zip(sides, entries, tips))

    out = []
    y_tip = _tip_y(geo, tip_depth)
    for s in sides:
        if approach in ("bipedicular", "unipedicular"):
            entry, axis, _ = _pedicle(geo, s)
            if abs(axis[1]) < 1e-6:
                raise InputError(f"the {s} pedicle axis of {geo.level} has no anterior component")
            t = (y_tip - entry[1]) / axis[1]
            tip = entry + t * axis
            tip[2] = _column_mid_z(model, geo, tip)
        else:
            tip = np.array([geo.centroid_mm[0], y_tip, geo.centroid_mm[2]])
            tip[2] = _column_mid_z(model, geo, tip)
            sgn = geo.left_sign if s == "left" else -geo.left_sign
            if approach == "parapedicular":
                entry, _, r = _pedicle(geo, s)
                entry = entry + np.array([sgn * (r + 3.0), 0.0, 0.0])
            else:
                wall_x = geo.centroid_mm[0] + sgn * 0.5 * geo.width_mm
                y = geo.posterior_y_mm - 0.25 * geo.depth_mm
                entry = np.array([wall_x + sgn * 20.0, y + 10.0, geo.centroid_mm[2]])
            if approach == "lateral":
                entry = np.array([wall_x + sgn * LATERAL_ENTRY_OFFSET_MM, tip[1], tip[2]])
        out.append(Needle(s, approach, tuple(float(v) for v in entry),
                          tuple(float(v) for v in tip)))
    return tuple(out)


def voxel_of(model, point_mm) -> tuple:
    """Voxel index (i, j, k) containing a point [mm]; InputError outside the grid."""
    ijk = np.floor((np.asarray(point_mm, float) - np.asarray(model.origin)) / model.h).astype(int)
    if (ijk < 0).any() or (ijk >= np.array(model.shape)).any():
        raise InputError(f"point {tuple(np.round(point_mm, 2))} mm lies outside the model grid")
    return tuple(int(v) for v in ijk)


def validate_needles(model, geo, needles) -> None:
    """Tips in the trabecular compartment of the level; trajectories clear of the canal."""
    canal = canal_mask(model, geo)
    for nd in needles:
        ijk = voxel_of(model, nd.tip_mm)
        lab = Label(int(model.labels[ijk]))
        lev = int(model.level[ijk])
        if lab not in FLOW_LABELS or lev != geo.level_index:
            where = model.level_names[lev] if lev >= 0 else "no level"
            raise InputError(
                f"{nd.side} needle tip at {tuple(round(v, 1) for v in nd.tip_mm)} mm lies in "
                f"{lab.name.lower()} ({where}), not in the trabecular bone of {geo.level}; move the "
                f"tip (tip_depth, tips_mm) inside the body")
        e = np.asarray(nd.entry_mm, float)
        length = nd.length_mm
        n = max(2, int(np.ceil(length / (0.5 * model.h))))
        pts = e + np.linspace(0.0, 1.0, n)[:, None] * (np.asarray(nd.tip_mm, float) - e)
        idx = np.floor((pts - np.asarray(model.origin)) / model.h).astype(int)
        ok = ((idx >= 0) & (idx < np.array(model.shape))).all(axis=1)
        idx = idx[ok]
        if canal[tuple(idx.T)].any():
            raise InputError(f"the {nd.side} {nd.approach} trajectory of {geo.level} crosses the "
                             "spinal canal; change the entry point or the approach")


def source_voxels(model, needles) -> np.ndarray:
    """(n, 3) voxel indices of the needle tips (where cement enters)."""
    return np.array([voxel_of(model, nd.tip_mm) for nd in needles], dtype=np.int64)
