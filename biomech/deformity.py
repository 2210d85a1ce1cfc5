"""Vertebral deformity measured on a labelled voxel model: body heights, endplate tilts,
wedge angle, local kyphosis and the Genant grade they imply -- read from the voxels, not
from the inputs of the fracture or the treatment.

Definitions (the names are the same in the API and results.csv; every vertebra ``L``):

* ``{L}_anterior_height_mm`` / ``_middle_height_mm`` / ``_posterior_height_mm``: height of
  the body [mm] perpendicular to its inferior endplate line, in the mid-sagittal strip
  (|x - x_c| <= 10 % of the body width): the body is sampled along lines parallel to that
  direction (nearest voxel, steps of h/4) in three bands of max(h, 10 % of the depth) --
  anterior and posterior one voxel inside the walls (clear of the rounded rims), middle
  at the centre.  Middle: the mean top minus bottom of its band; anterior and posterior:
  the endplate lines through the anterior and posterior bands, evaluated at the wall
  faces.  These are the three heights of quantitative
  morphometry (Ha, Hm, Hp; Genant et al., J Bone Miner Res 8:1137, 1993; McCloskey et
  al., Osteoporos Int 3:138, 1993).
* ``{L}_superior_endplate_tilt_deg`` / ``_inferior_...``: sagittal tilt [deg] of the
  endplate line from the anterior to the posterior band (mean top / bottom faces of the
  band's columns), as a Cobb angle is drawn on a lateral radiograph; positive when the
  line falls anteriorly.
* ``{L}_wedge_angle_deg``: superior minus inferior endplate tilt [deg] (positive: the
  anterior wall is the shorter).
* ``{L}_height_loss_fraction``: the largest reduction against the neighbouring vertebrae
  (the normal shape of this spine; the adjacent-vertebra reference of quantitative
  morphometry, McCloskey et al. 1993): 1 - (Ha/Hp) / (Ha/Hp)_ref (wedge), 1 - (Hm/Hp) /
  (Hm/Hp)_ref (biconcave) and 1 - Hp / Hp_ref (crush), the references the means over the
  vertebrae above and below; without neighbours 1 - Ha/Hp and 1 - Hm/Hp.
  ``{L}_genant_grade``: 0 below 20 %, 1 for 20-25 %, 2 for 25-40 %, 3 from 40 % (Genant
  1993).
* ``kyphosis_deg`` (focus level F): the local Cobb angle over F [deg], the superior
  endplate tilt of the vertebra above F minus the inferior endplate tilt of the vertebra
  below F (F's own endplates where it has no neighbour); positive kyphotic, negative
  lordotic.  ``wedge_angle_deg``, ``anterior_height_mm``, ``middle_height_mm``,
  ``posterior_height_mm``, ``height_loss_fraction``, ``genant_grade``: F's values.

Resolution: heights are whole voxels per column, so one column is exact to the voxel
faces; the band means and the plane fits average over columns (accuracy about h / 2 for
heights and a fraction of a degree for tilts at 1-2 mm voxels).
"""
from __future__ import annotations

import math

import numpy as np

from .errors import InputError
from .meshes.landmarks import vertebral_body_mask

#: Genant semi-quantitative bands of the height loss fraction (Genant et al. 1993).
GENANT_THRESHOLDS = (0.20, 0.25, 0.40)
#: Half-width of the mid-sagittal strip (fraction of the body width) and the width of the
#: height bands (fraction of the body depth; at least one voxel).
STRIP_HALF_WIDTH = 0.10
BAND_FRACTION = 0.10


def genant_grade(loss: float) -> int:
    """Genant grade 0-3 of a height-loss fraction [-]."""
    if not np.isfinite(loss):
        return 0
    return int(sum(loss >= t for t in GENANT_THRESHOLDS))


def _rim_profile(model, level, angle_rad=0.0):
    """The body of ``level`` sampled along lines parallel to its axis in the frame turned
    by ``angle`` [rad] about x (about the body centroid; nearest voxel, steps of h/4), in
    the mid-sagittal strip: the anterior, middle and posterior bands as {name: (mean y,
    mean bottom, mean top)} [mm, turned frame]."""
    body = vertebral_body_mask(model, level)
    h = model.h
    P = model.centres(np.argwhere(body))
    c = P.mean(axis=0)
    ca, sa = math.cos(angle_rad), math.sin(angle_rad)
    Rt = np.array([[1.0, 0.0, 0.0], [0.0, ca, sa], [0.0, -sa, ca]])   # global -> turned
    q = (P - c) @ Rt.T
    x_lo, x_hi = q[:, 0].min() - 0.5 * h, q[:, 0].max() + 0.5 * h
    xm, half = 0.5 * (x_lo + x_hi), STRIP_HALF_WIDTH * (x_hi - x_lo)
    in_strip = np.abs(q[:, 0] - xm) <= half + 0.5 * h
    y_a, y_p = q[in_strip, 1].min() - 0.5 * h, q[in_strip, 1].max() + 0.5 * h
    z_lo, z_hi = q[:, 2].min() - h, q[:, 2].max() + h
    band = max(h, BAND_FRACTION * (y_p - y_a))
    y_a, y_p = y_a + h, y_p - h          # a voxel inside the walls (rounded rims)
    step = 0.25 * h
    xs = np.arange(xm - half, xm + half + 1e-9, 0.5 * h)
    zs = np.arange(z_lo, z_hi, step) + 0.5 * step
    y_m = 0.5 * (y_a + y_p)
    out = {}
    o = np.asarray(model.origin)
    shape = np.asarray(model.shape)
    for name, (b0, b1) in (("anterior", (y_a, y_a + band)),
                           ("middle", (y_m - 0.5 * band, y_m + 0.5 * band)),
                           ("posterior", (y_p - band, y_p))):
        ys = np.arange(b0 + 0.25 * h, b1, 0.5 * h)
        if ys.size == 0:
            ys = np.array([0.5 * (b0 + b1)])
        X, Y, Z = np.meshgrid(xs, ys, zs, indexing="ij")
        pts = np.stack([X.ravel(), Y.ravel(), Z.ravel()], axis=1) @ Rt + c
        ijk = np.floor((pts - o) / h).astype(np.int64)
        ok = np.all((ijk >= 0) & (ijk < shape), axis=1)
        inside = np.zeros(len(pts), bool)
        inside[ok] = body[tuple(ijk[ok].T)]
        inside = inside.reshape(X.shape)
        has = inside.any(axis=2)
        if not has.any():
            raise InputError(f"the body of {level} is too small at this voxel size to measure "
                             "its heights")
        top = zs[::-1][np.argmax(inside[..., ::-1], axis=2)] + 0.5 * step
        bot = zs[np.argmax(inside, axis=2)] - 0.5 * step
        out[name] = (float(Y[..., 0][has].mean()), float(bot[has].mean()), float(top[has].mean()))
    out["walls"] = (y_a - h, y_p + h)
    return out


def endplate_tilts(model, level: str) -> dict:
    """{'superior': deg, 'inferior': deg}: sagittal tilts of the endplate lines (anterior
    rim to posterior rim, as a Cobb angle is drawn) in the grid frame; positive when the
    line falls anteriorly (towards -y)."""
    a0 = _frame_tilt(model, level)
    prof = _rim_profile(model, level, a0)
    (ya, ba, ta), (yp, bp, tp) = prof["anterior"], prof["posterior"]
    if yp - ya <= 0:
        raise InputError(f"the body of {level} is too small at this voxel size to measure "
                         "its endplates")
    return {"superior": math.degrees(a0 + math.atan2(tp - ta, yp - ya)),
            "inferior": math.degrees(a0 + math.atan2(bp - ba, yp - ya))}


def _frame_tilt(model, level) -> float:
    """Sagittal tilt [rad] of the level's landmark frame (its local z turned towards -y
    is positive; 0 without a frame): the columns of a tilted body are read in its frame,
    not in the grid's, whose columns cut its anterior and posterior corners."""
    frame = ((model.meta.get("levels") or {}).get(level) or {}).get("frame")
    if not frame:
        return 0.0
    ez = np.asarray(frame["rotation"], float)[:, 2]
    return math.atan2(-ez[1], ez[2])


def body_heights(model, level: str, inferior_tilt_deg: float | None = None) -> dict:
    """{'anterior', 'middle', 'posterior'}: body heights [mm] perpendicular to the
    inferior endplate line (see the module docstring)."""
    if inferior_tilt_deg is None:
        inferior_tilt_deg = endplate_tilts(model, level)["inferior"]
    prof = _rim_profile(model, level, math.radians(inferior_tilt_deg))
    (ya, ba, ta), (yp, bp, tp) = prof["anterior"], prof["posterior"]
    out = {"middle": prof["middle"][2] - prof["middle"][1]}
    for name, yw in zip(("anterior", "posterior"), prof["walls"]):
        s = (yw - ya) / (yp - ya) if yp > ya else 0.0
        out[name] = (ta + s * (tp - ta)) - (ba + s * (bp - ba))
    return out


def vertebra_deformity(model, level: str) -> dict:
    """Heights [mm], endplate tilts and wedge angle [deg] of vertebra ``level``."""
    tilt = endplate_tilts(model, level)
    hts = body_heights(model, level, tilt["inferior"])
    return {"anterior_height_mm": hts["anterior"], "middle_height_mm": hts["middle"],
            "posterior_height_mm": hts["posterior"],
            "superior_endplate_tilt_deg": tilt["superior"],
            "inferior_endplate_tilt_deg": tilt["inferior"],
            "wedge_angle_deg": tilt["superior"] - tilt["inferior"]}


def _ratios(d):
    return (d["anterior_height_mm"] / d["posterior_height_mm"],
            d["middle_height_mm"] / d["posterior_height_mm"])


def _height_loss(d: dict, neighbours: list) -> float:
    """Largest height loss [-] of a vertebra against its neighbours (module docstring)."""
    ra, rm = _ratios(d)
    if neighbours:
        ra_ref = float(np.mean([_ratios(n)[0] for n in neighbours]))
        rm_ref = float(np.mean([_ratios(n)[1] for n in neighbours]))
        hp_ref = float(np.mean([n["posterior_height_mm"] for n in neighbours]))
        losses = [1.0 - ra / ra_ref, 1.0 - rm / rm_ref, 1.0 - d["posterior_height_mm"] / hp_ref]
    else:
        losses = [1.0 - ra, 1.0 - rm]
    return max(0.0, max(losses))


def deformity_metrics(model, focus: str | None = None) -> dict:
    """Every vertebra's deformity (``{L}_...``) and the focus level's headline values
    (module docstring); vertebrae cranial first by :func:`biomech.metrics.vertebrae_cranial_first`."""
    from .metrics import vertebrae_cranial_first
    levels = vertebrae_cranial_first(model)
    per = {lv: vertebra_deformity(model, lv) for lv in levels}
    out = {}
    for i, lv in enumerate(levels):
        d = per[lv]
        nbrs = [per[n] for n in levels[max(i - 1, 0):i + 2] if n != lv]
        d["height_loss_fraction"] = _height_loss(d, nbrs)
        d["genant_grade"] = genant_grade(d["height_loss_fraction"])
        for k, v in d.items():
            out[f"{lv}_{k}"] = float(v)
    if focus in levels:
        i = levels.index(focus)
        above = levels[i - 1] if i > 0 else focus
        below = levels[i + 1] if i + 1 < len(levels) else focus
        out["kyphosis_deg"] = (per[above]["superior_endplate_tilt_deg"]
                               - per[below]["inferior_endplate_tilt_deg"])
        for k in ("wedge_angle_deg", "anterior_height_mm", "middle_height_mm",
                  "posterior_height_mm", "height_loss_fraction", "genant_grade"):
            out[k] = float(per[focus][k])
    return out
