"""Sagittal alignment after a body-height change: the levels above a vertebra whose
superior endplate was lowered (a wedge or crush fracture) or raised (a kyphoplasty height
restoration) move as one rigid body, so a wedge fracture tilts the spine above it into
kyphosis instead of shearing it.

Rule (documented choice): the column height changes ``delta`` [voxels] of the body
(fracture loss > 0, restoration < 0) are fitted in least squares by a line
``dz = t + tan(phi) * (y - y_h)`` over the body's columns less a one-voxel rim of its footprint
(the rim columns keep one voxel of a loss larger than they are tall), with the hinge ``(y_h, z_h)`` at
the posterior-superior edge of the body (the middle column stays intact in a wedge
fracture: Denis, Spine 8:817, 1983).  Everything cranial to the body -- the disc above,
the vertebrae and discs above it and a superior PMMA cap -- is rotated by ``phi`` about
the transverse (x) axis through the hinge and moved by ``t`` along z: ``phi`` > 0 tilts it
anteriorly (kyphosis; +x is flexion in :mod:`biomech.loads`).  The labels, level indices
and every field are resampled (nearest voxel, from the destination back), the level's own
landmarks and frames in ``meta["levels"]`` are moved the same way, and one-to-few-voxel
gaps that the voxel rounding leaves between the body and the moved disc are closed by
the disc voxel above the gap.  The grid grows where the moved levels need room.
"""
from __future__ import annotations

import copy
import logging
import math

import numpy as np

from scipy import ndimage

from ..meshes.labels import Label
from .anatomy import vertebra_geometry
from .editing import _replace
from .remap import change_body_height

log = logging.getLogger(__name__)

#: Largest gap [voxels] between the body and the moved disc that is closed (larger gaps
#: would be a modelling error: logged, left open).
MAX_GAP_VOXELS = 3
_DISC = (Label.NUCLEUS, Label.ANNULUS, Label.CARTILAGE_ENDPLATE)


def rot_x(phi: float) -> np.ndarray:
    """(3, 3) rotation by ``phi`` [rad] about +x (phi > 0 tilts +z towards -y)."""
    c, s = math.cos(phi), math.sin(phi)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def levels_above(model, level: str) -> list:
    """Indices into ``model.level_names`` of what lies cranial to vertebra ``level``: the
    vertebrae whose voxels lie higher (mean z), the discs that touch one of them, and a
    superior PMMA cap."""
    z = {}
    for i, n in enumerate(model.level_names):
        m = model.level == i
        if m.any():
            z[n] = float(np.argwhere(m)[:, 2].mean())
    z0 = z.get(level, -np.inf)
    vert = [n for n in z if "-" not in n and not n.startswith("cap") and n != level and z[n] > z0]
    out = []
    for i, n in enumerate(model.level_names):
        if n in vert or n == "cap_superior":
            out.append(i)
        elif "-" in n and any(p in vert for p in n.split("-")):
            out.append(i)
    return out


def fit_hinge_motion(model, level: str, delta_vox, hinge=None) -> tuple:
    """(phi [rad], t [mm], hinge (y_h, z_h) [mm]) of the rigid motion of what lies above
    ``level`` for column changes ``delta_vox`` (nx, ny) [voxels, > 0 lowers]; ``hinge``
    default: the posterior-superior edge of the body."""
    geo = vertebra_geometry(model, level)
    h = model.h
    foot = geo.body.any(axis=2)
    cols = ndimage.binary_erosion(foot)          # one voxel of rim left out
    if cols.sum() < 3:
        cols = foot
    j = np.nonzero(cols)[1]
    y = model.origin[1] + (j + 0.5) * h
    dz = -np.asarray(delta_vox, float)[cols] * h
    if hinge is None:
        hinge = (geo.posterior_y_mm, float(geo.hi_mm[2]))
    A = np.stack([np.ones_like(y), y - hinge[0]], axis=1)
    (t, slope), *_ = np.linalg.lstsq(A, dz, rcond=None)
    return math.atan(float(slope)), float(t), (float(hinge[0]), float(hinge[1]))


def pad_model(model, lo, hi):
    """The model on a grid grown by ``lo`` / ``hi`` voxels (3 ints each) at the low / high
    end of each axis (void, level -1, fields 0); (model, lo)."""
    lo = np.maximum(np.asarray(lo, int), 0)
    hi = np.maximum(np.asarray(hi, int), 0)
    if not (lo.any() or hi.any()):
        return model
    pw = list(zip(lo, hi))
    labels = np.pad(model.labels, pw, constant_values=Label.VOID)
    level = np.pad(model.level, pw, constant_values=-1)
    flds = {k: np.pad(np.asarray(v), pw) for k, v in model.fields.items()}
    origin = tuple(float(o - n * model.h) for o, n in zip(model.origin, lo))
    import dataclasses
    return dataclasses.replace(model, labels=labels, level=level, fields=flds, origin=origin)


def _move_meta(meta: dict, names, R, hinge, t) -> dict:
    """meta with the landmarks of levels ``names`` moved (points: keys ending in _mm with
    three numbers; directions: 'direction', 'axis', '*_normal'; frames)."""
    H = np.array([0.0, hinge[0], hinge[1]])
    shift = np.array([0.0, 0.0, t])

    def point(p):
        return (H + R @ (np.asarray(p, float) - H) + shift).tolist()

    def walk(d):
        out = {}
        for k, v in d.items():
            if isinstance(v, dict):
                if k == "frame" and "rotation" in v:
                    out[k] = {"origin_mm": point(v["origin_mm"]),
                              "rotation": (R @ np.asarray(v["rotation"], float)).tolist()}
                else:
                    out[k] = walk(v)
            elif isinstance(v, (list, tuple)) and len(v) == 3 and \
                    all(isinstance(x, (int, float)) for x in v):
                if k.endswith("_mm"):
                    out[k] = point(v)
                elif k in ("direction", "axis") or k.endswith("_normal"):
                    out[k] = (R @ np.asarray(v, float)).tolist()
                else:
                    out[k] = v
            else:
                out[k] = v
        return out

    meta = copy.deepcopy(dict(meta))
    levels = dict(meta.get("levels") or {})
    for n in names:
        if n in levels and isinstance(levels[n], dict):
            levels[n] = walk(levels[n])
    if levels:
        meta["levels"] = levels
    return meta


def move_above(old, new, level: str, phi: float, t: float, hinge) -> tuple:
    """``new`` (the body remapped, same grid as ``old``) with what lies above ``level`` in
    ``old`` moved rigidly (rotation ``phi`` [rad] about x through ``hinge`` (y, z) [mm], then
    ``t`` [mm] along z).  Returns (model, pad_lo (3,) voxels the grid grew at its low end)."""
    upper_idx = levels_above(old, level)
    up_old = np.isin(old.level, upper_idx)
    zero = np.zeros(3, int)
    if not up_old.any() or (abs(phi) < 1e-12 and abs(t) < 1e-12):
        return new, zero
    h = old.h
    R = rot_x(phi)
    H = np.array([0.0, hinge[0], hinge[1]])
    shift = np.array([0.0, 0.0, t])
    # 1. what lies above is taken out of the remapped model
    labels = np.array(new.labels)
    lev = np.array(new.level)
    flds = {k: np.array(v) for k, v in new.fields.items()}
    up_new = np.isin(lev, upper_idx)
    labels[up_new] = Label.VOID
    lev[up_new] = -1
    for v in flds.values():
        v[up_new] = 0
    base = _replace(new, labels=labels, level=lev, fields=flds)
    # 2. room for the moved levels
    P = old.centres(np.argwhere(up_old))
    Q = H + (P - H) @ R.T + shift
    o = np.asarray(old.origin)
    lo_idx = np.floor((Q.min(axis=0) - o) / h - 1).astype(int)
    hi_idx = np.ceil((Q.max(axis=0) - o) / h + 1).astype(int)
    pad_lo = np.maximum(-lo_idx, 0)
    pad_hi = np.maximum(hi_idx - np.asarray(old.shape), 0)
    base = pad_model(base, pad_lo, pad_hi)
    src_model = pad_model(old, pad_lo, pad_hi)
    up_src = np.isin(src_model.level, upper_idx)
    # 3. destination box, mapped back into the old grid (nearest voxel)
    lo_b = np.maximum(lo_idx + pad_lo, 0)
    hi_b = np.minimum(hi_idx + pad_lo, np.asarray(base.shape))
    ii, jj, kk = [np.arange(a, b) for a, b in zip(lo_b, hi_b)]
    I, J, K = np.meshgrid(ii, jj, kk, indexing="ij")
    dst = np.stack([I.ravel(), J.ravel(), K.ravel()], axis=1)
    Pd = base.centres(dst)
    Ps = H + (Pd - shift - H) @ R            # inverse rotation: R^T (p - shift - H) + H
    src = np.floor((Ps - np.asarray(base.origin)) / h).astype(int)
    ok = np.all((src >= 0) & (src < np.asarray(base.shape)), axis=1)
    dst, src = dst[ok], src[ok]
    take = up_src[tuple(src.T)] & (base.labels[tuple(dst.T)] == Label.VOID)
    dst, src = dst[take], src[take]
    labels = np.array(base.labels)
    lev = np.array(base.level)
    flds = {k: np.array(v) for k, v in base.fields.items()}
    labels[tuple(dst.T)] = src_model.labels[tuple(src.T)]
    lev[tuple(dst.T)] = src_model.level[tuple(src.T)]
    for k, v in flds.items():
        v[tuple(dst.T)] = np.asarray(src_model.fields[k])[tuple(src.T)]
    # 4. close the small gaps between the body and the moved disc
    li = old.level_names.index(level)
    _close_gaps(labels, lev, flds, li, upper_idx)
    names = [old.level_names[i] for i in upper_idx]
    meta = _move_meta(base.meta, names, R, hinge, t)
    out = _replace(base, labels=labels, level=lev, fields=flds, meta=meta)
    return out, pad_lo


def _close_gaps(labels, lev, flds, li, upper_idx):
    body = (lev == li) & ~np.isin(labels, [Label.POSTERIOR, Label.VOID])
    nz = labels.shape[2]
    filled = 0
    for i, j in zip(*np.nonzero(body.any(axis=2))):
        k = int(np.flatnonzero(body[i, j])[-1]) + 1
        g = k
        while g < nz and labels[i, j, g] == Label.VOID and g - k <= MAX_GAP_VOXELS:
            g += 1
        if g == k or g >= nz or g - k > MAX_GAP_VOXELS:
            continue
        if labels[i, j, g] in _DISC and lev[i, j, g] in upper_idx:
            labels[i, j, k:g] = labels[i, j, g]
            lev[i, j, k:g] = lev[i, j, g]
            for v in flds.values():
                v[i, j, k:g] = v[i, j, g]
            filled += g - k
    if filled:
        log.debug("closed %d gap voxels between the body and the moved disc", filled)


def change_height_aligned(model, level: str, delta_vox, mode: str = "superior", *,
                          total_vox=None, current=(0.0, 0.0), hinge=None) -> tuple:
    """:func:`~biomech.conditions.remap.change_body_height` of ``level`` with the levels above
    moved rigidly (see the module docstring) in the "superior" mode; "both" (biconcave:
    the discs fill the endplate depressions) leaves them in place.

    total_vox : the column losses [voxels] of the body after this change against its
    intact shape (default ``delta_vox``: the intact model is given); the levels above take
    the motion fitted to it, less ``current`` (phi [rad], t [mm]) they already have, about
    ``hinge`` (y, z) [mm] (default: the posterior-superior edge), so a restoration in steps
    lands where the voxel columns of the body say.
    Returns (model, info) with info = {"tilt_deg": phi, "shift_mm": t (the total motion of
    the levels above), "hinge_mm": (y, z), "pad_lo": (3,) voxels the grid grew at its low
    end}."""
    new = change_body_height(model, level, delta_vox, mode)
    info = {"tilt_deg": 0.0, "shift_mm": 0.0, "hinge_mm": None, "pad_lo": (0, 0, 0)}
    if mode != "superior":
        return new, info
    total = delta_vox if total_vox is None else total_vox
    phi, t, hinge = fit_hinge_motion(model, level, total, hinge)
    out, pad_lo = move_above(model, new, level, phi - current[0], t - current[1], hinge)
    info.update(tilt_deg=math.degrees(phi), shift_mm=t, hinge_mm=tuple(hinge),
                pad_lo=tuple(int(v) for v in pad_lo))
    return out, info


def pad_columns(arr, pad_lo, shape_xy):
    """A (nx, ny) per-column array padded with zeros to ``shape_xy`` after a grid growth of
    ``pad_lo`` voxels at the low end (x, y)."""
    a = np.asarray(arr)
    lo = [int(pad_lo[0]), int(pad_lo[1])]
    hi = [int(shape_xy[0]) - a.shape[0] - lo[0], int(shape_xy[1]) - a.shape[1] - lo[1]]
    if not any(lo) and not any(hi):
        return a
    return np.pad(a, list(zip(lo, hi)))


def pad_column_records(meta: dict, pad_lo, shape_xy) -> dict:
    """meta with the per-column arrays of every fracture record padded to the grown grid."""
    fr = meta.get("fractures")
    if not fr:
        return meta
    meta = dict(meta)
    out = {}
    for lv, rec in fr.items():
        rec = dict(rec)
        for k in ("loss_voxels", "restored_voxels"):
            if k in rec:
                rec[k] = pad_columns(rec[k], pad_lo, shape_xy)
        out[lv] = rec
    meta["fractures"] = out
    return meta
