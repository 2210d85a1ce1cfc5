"""Facet joints of a motion segment as node pairs across the joint gap (part of
:mod:`biomech.meshes.attachments`).

Rules (documented choices):

* Articular surfaces: surface nodes of the posterior elements (corners of a
  POSTERIOR voxel of the level and of a voxel that is not) -- of the upper
  level below its body centre (inferior articular processes reach down) and of
  the lower level above its body centre (superior articular processes reach
  up), outside a midline band of +-max(4 mm, h) (spinous processes), split into
  left (+x) and right (-x) by the local x of each level.
* Pairing: every upper surface node is paired with its nearest lower surface
  node on the same side within ``search_mm`` (default max(3 h, 6 mm)).  The
  joint is the set of pairs no longer than the side's smallest gap g0 plus
  max(h, 1.5 mm) whose direction lies within 45 degrees of the joint normal:
  the normal is first the mean direction of the closest pairs (gap <= g0 +
  h / 2), then refitted on the kept pairs (three passes); pairs of zero length
  (the two levels share the node) are kept but do not steer the normal, which
  is the lateral direction when every pair has zero length.  Only pairs that
  point laterally (upper -> lower within 70 degrees of the lateral x axis) and
  are at most 45 degrees steep to the transverse plane are facet pairs: lumbar
  facet surfaces are near vertical, the inferior articular process lies medial
  to the superior one below it, and the joint plane makes about 15-70 degrees
  with the sagittal plane (Masharawi et al., Spine 2004;29:1755; Panjabi et
  al., Spine 1993;18:1298).  This keeps the articular facets and drops other
  close bone, e.g. the tip of an inferior articular process above the lamina
  below (a gap of 1.4-4 mm in the parametric models, straight or lordotic).
* Facing: of those pairs, only upper nodes whose cell (pitch h) in the joint
  plane also holds a lower surface node within the pairs' gap are kept: the
  two articular surfaces overlap there along the joint normal.
* Normal: the joint normal (unit, upper -> lower articular surface), the same
  for every pair of a joint.
* Area: the upper joint nodes projected onto the joint plane and rasterised at
  pitch h; each occupied cell (h^2) is shared by the nodes in it, so the
  weights sum to the joint's plane-projected area [mm^2].  Published lumbar
  facet areas are about 1-2 cm^2 per facet (Panjabi et al., Spine 1993;18:1298,
  "Articular facets of the human spine"): compare
  ``pairs.weight.sum()``.
* Zero-length pairs: where the levels' posterior voxels touch, the two levels
  share nodes (the voxel mesh fuses them); such pairs are kept with the joint
  normal and counted in the note.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from biomech.errors import InputError

from .attachments_common import (LEFT_RIGHT, Attachments, LevelNodes, NodePairs, check_pair,
                                 node_xyz, surface_nodes)

COS45 = np.cos(np.radians(45.0))
COS70 = np.cos(np.radians(70.0))


def _unit(v):
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.where(n > 0, v / np.where(n > 0, n, 1.0), 0.0)


def _side_surface(lv: LevelNodes, below: bool, h: float):
    ijk = np.argwhere(surface_nodes(lv.post_vox))
    q = lv.to_local(node_xyz(lv.model, ijk))
    keep = (q[:, 2] < 0) if below else (q[:, 2] > 0)
    keep &= np.abs(q[:, 0]) > max(4.0, h)
    return ijk[keep], q[keep]


def _joint(xu, xl, du, il, h, sgn):
    """Indices (into the query arrays) of the joint pairs and the joint normal."""
    v = xl[il] - xu
    tol = max(h, 1.5)
    u = _unit(v)
    u[du == 0] = 0.0
    lateral = sgn * np.array([1.0, 0.0, 0.0])
    facing = (np.abs(u[:, 2]) <= COS45 + 1e-9) & (u @ lateral >= COS70 - 1e-9)
    ok = facing | (du == 0)
    if not ok.any():
        return np.zeros(0, int), lateral
    g0 = du[ok].min()
    close = ok & (du <= g0 + 0.5 * h + 1e-9)
    keep = ok & (du <= g0 + tol + 1e-9)
    sel = close
    n = lateral
    for _ in range(3):
        m = u[sel & (du > 0)].sum(axis=0)          # unit directions of the pairs of non-zero length
        n = _unit(m) if np.linalg.norm(m) > 1e-9 else lateral
        sel = keep & ((du == 0) | (u @ n >= COS45 - 1e-9))
    return np.flatnonzero(sel), n


def _plane_axes(normal):
    n = _unit(np.asarray(normal, float))
    a = np.cross(n, [1.0, 0.0, 0.0])
    if np.linalg.norm(a) < 0.5:
        a = np.cross(n, [0.0, 1.0, 0.0])
    a = _unit(a)
    return a, np.cross(n, a)


def _cells(points, normal, h):
    a, b = _plane_axes(normal)
    return np.floor(np.stack([points @ a, points @ b], axis=1) / h).astype(np.int64)


def _overlap(xu, xl, normal, h):
    """Bool (len(xu),): upper points whose plane cell (pitch h, projection along
    the normal) also holds a lower point: the two surfaces face each other."""
    cu, cl = _cells(xu, normal, h), _cells(xl, normal, h)
    lo = np.minimum(cu.min(axis=0), cl.min(axis=0))
    span = np.maximum(cu.max(axis=0), cl.max(axis=0)) - lo + 1
    fu = (cu[:, 0] - lo[0]) * span[1] + (cu[:, 1] - lo[1])
    fl = (cl[:, 0] - lo[0]) * span[1] + (cl[:, 1] - lo[1])
    return np.isin(fu, fl)


def projected_area(points: np.ndarray, normal: np.ndarray, h: float) -> np.ndarray:
    """(n,) tributary area [mm^2] of each point: the points projected onto the
    plane normal to ``normal``, rasterised at pitch h; each occupied cell's h^2
    is shared equally by the points in it."""
    cell = _cells(points, normal, h)
    _, inv, cnt = np.unique(cell, axis=0, return_inverse=True, return_counts=True)
    return h * h / cnt[inv.reshape(-1)]


def facet_pairs(model, upper: str, lower: str, *, search_mm: float | None = None,
                strict: bool = False) -> Attachments:
    """The left and right facet joints of the motion segment ``upper``-``lower``:
    :class:`~biomech.meshes.attachments_common.NodePairs` named "facet" (side "left" / "right") joining nodes on
    the inferior articular process of ``upper`` to the facing nodes on the
    superior articular process of ``lower``; ``weight`` = tributary contact
    area [mm^2] (sum = joint area), ``normal`` = unit joint normal from the
    upper to the lower surface.  Returns :class:`~biomech.meshes.attachments_common.Attachments`; a joint not found
    (no posterior elements, or no facing surfaces within ``search_mm``) is in
    ``missing`` with the reason, or raises InputError with ``strict``."""
    check_pair(model, upper, lower)
    h = model.h
    seg = f"{upper}-{lower}"
    search = float(search_mm) if search_mm is not None else max(3.0 * h, 6.0)
    U, L = LevelNodes(model, upper), LevelNodes(model, lower)
    out = Attachments()
    no_post = [lv for lv, x in ((upper, U), (lower, L)) if x.post is None]
    if no_post:
        why = f"level(s) {', '.join(no_post)} have no posterior elements (no POSTERIOR voxels)"
        out.missing.update({f"facet {s}": why for s, _ in LEFT_RIGHT})
    else:
        iu, qu = _side_surface(U, True, h)
        il, ql = _side_surface(L, False, h)
        # side by each level's own local x; the lower level's x in the upper frame may differ slightly
        xl_all = node_xyz(model, il)
        for side, sgn in LEFT_RIGHT:
            su, sl = sgn * qu[:, 0] > 0, sgn * ql[:, 0] > 0
            if not su.any() or not sl.any():
                out.missing[f"facet {side}"] = (f"no articular-process surface of {upper} or "
                                                f"{lower} on the {side} side")
                continue
            xu = node_xyz(model, iu[su])
            xl = xl_all[sl]
            d, j = cKDTree(xl).query(xu, distance_upper_bound=search)
            ok = np.isfinite(d)
            if not ok.any():
                out.missing[f"facet {side}"] = (f"no surfaces of {upper} and {lower} face each other "
                                                f"within {search:g} mm on the {side} side")
                continue
            xu, d, j = xu[ok], d[ok], j[ok]
            k, n = _joint(xu, xl, d, j, h, sgn)
            if k.size == 0:
                out.missing[f"facet {side}"] = (f"no surfaces of {upper} and {lower} face each other "
                                                f"laterally within {search:g} mm on the {side} side")
                continue
            near = np.unique(np.concatenate(cKDTree(xl).query_ball_point(
                xu[k], d[k].max() + 1e-9)).astype(int))
            k = k[_overlap(xu[k], xl[near], n, h)]
            if k.size == 0:
                out.missing[f"facet {side}"] = (f"the articular surfaces of {upper} and {lower} do "
                                                f"not overlap along the joint normal on the {side} side")
                continue
            up = iu[su][ok][k]
            lo = il[sl][j[k]]
            w = projected_area(xu[k], n, h)
            n_zero = int((d[k] == 0).sum())
            note = (f"{len(k)} pairs, gap {d[k].min():.2f}-{d[k].max():.2f} mm, plane-projected "
                    f"area {w.sum():.0f} mm^2, normal {np.round(n, 2).tolist()}"
                    + (f", {n_zero} pairs share a node (levels fused there)" if n_zero else ""))
            out.append(NodePairs("facet", seg, side, up, lo, w, normal=np.tile(n, (len(k), 1)),
                                 note=note))
    if strict and out.missing:
        raise InputError(f"{seg}: " + "; ".join(f"{k}: {v}" for k, v in out.missing.items()))
    return out


def joint_rim(joint: NodePairs, h: float, sectors: int = 8) -> np.ndarray:
    """Indices of up to ``sectors`` pairs of a facet joint on its rim: in each
    angular sector of the joint plane (about the joint centre) the pair whose
    midpoint lies farthest from the centre, among pairs of non-zero length."""
    if joint.n_pairs == 0:
        return np.zeros(0, int)
    n = joint.normal[0]
    mid = 0.5 * (joint.upper + joint.lower) * h
    length = joint.lengths_mm(h)
    idx = np.flatnonzero(length > 0)
    if idx.size == 0:
        return idx
    a = _unit(np.cross(n, [0.0, 0.0, 1.0]))
    if np.linalg.norm(a) < 0.5:
        a = _unit(np.cross(n, [1.0, 0.0, 0.0]))
    b = np.cross(n, a)
    c = mid[idx] - mid[idx].mean(axis=0)
    u, v = c @ a, c @ b
    r = np.hypot(u, v)
    s = np.floor((np.arctan2(v, u) + np.pi) / (2 * np.pi) * sectors).astype(int) % sectors
    order = np.lexsort((-r, s))
    first = np.r_[True, s[order][1:] != s[order][:-1]]
    return idx[order[first]]
