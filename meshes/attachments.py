"""Anatomy of the couplings a voxel grid cannot carry: where the lumbar
ligaments attach, which nodes face each other across a facet joint, and the
criss-cross of annulus fibres.  Pure geometry on a labelled
:class:`~biomech.meshes.voxel_model.VoxelModel`; no stiffness here (the physics
layer turns these node pairs into tension-only springs, trusses and contact).

    from biomech.meshes import default_segment
    from biomech.meshes.attachments import (motion_segments, ligament_attachments,
                                            facet_pairs, annulus_fibres)
    model = default_segment(h=2.0)
    for seg, up, lo in motion_segments(model):
        ligs = ligament_attachments(model, up, lo)     # Attachments: list of NodePairs + .missing
        facets = facet_pairs(model, up, lo)            # left and right joint
        fibres = annulus_fibres(model, seg)            # FibreSet of the disc

Everything is returned as grid NODE indices (int, (n, 3)): node (i, j, k) is the
voxel corner at ``origin + (i, j, k) * h``.  Every node is a corner of a solid
voxel of the right level and tissue (body voxels for ALL/PLL, posterior-element
voxels for the posterior ligaments and facets, ANNULUS voxels of the disc for
fibres), so it is a node of the voxel mesh.

Rules (documented choices; all regions are taken from the labels, in each
level's local frame from :func:`~biomech.meshes.landmarks.level_frame` -- the
parametric frame when meta has it, else grid axes at the body centroid -- so the
same code serves parametric, surface and CT models):

* Local frame: x left (+) / right (-), y posterior, z cranial; the midline is
  local x = 0.  "left" is +x, as in the parametric pedicle landmarks.
* Several pairs per ligament (bins across its width or length), so it has a
  line of action and a width; each pair carries the same share (weight 1/n).
  Pairs join an upper node chosen as the extreme node of the upper level in a
  bin (e.g. its lowest) with the matching extreme node of the lower level in
  the same bin, so they run roughly along the fibres (cranio-caudal).
* ALL: anterior-most body nodes, 5 bins across a midline band of half the body
  width, among the body nodes within max(3 mm, 1.5 h) of the segment's disc
  (of the body end along local z when the model has no disc) (the ALL is a broad band fixed to the anterior body margins; Neumann
  et al. 1993 / White & Panjabi, Clinical Biomechanics of the Spine, 1990).
* PLL: posterior-most body nodes (anterior canal wall), 3 bins across a
  midline band of +-max(5 mm, h) (the lumbar PLL is narrow over the bodies),
  same slabs as the ALL.
* The vertebral canal of a level is the hole in the projection of its bone
  along the local z axis that lies on the midline behind the body (found on a
  raster of pitch h); no closed canal means no neural arch, hence no posterior
  ligament and no facet joint (reported in ``Attachments.missing``).
* LF (ligamentum flavum): posterior-element nodes behind the canal centre and
  at most 6 mm behind the canal's posterior edge (the laminae), |x| <= 0.35
  canal width, 6 bins across x; the lowest of the upper lamina to the highest
  of the lower lamina (inferior edge of the upper lamina to the superior edge
  of the lower).
* ISL: posterior-element nodes in a midline band +-max(4 mm, h) behind the
  laminae, 5 bins along the spinous process between 20 % and 85 % of the way
  from the canal to the tip: inferior edge of the upper process to the
  superior edge of the lower.
* SSL: the posterior tip of each spinous process (within max(4 mm, 1.5 h) of
  its posterior-most node), 3 bins across x: posterior-inferior corner of the
  upper tip to posterior-superior corner of the lower tip.
* ITL (left/right): the lateral tip of each transverse process (within
  max(4 mm, 1.5 h) of the most lateral posterior-element node of that side),
  3 bins along y: lowest node of the upper tip to highest node of the lower.
* CL (left/right): the capsule around each facet joint: up to 8 facet pairs on
  the rim of the joint (largest in-plane distance from the joint centre in 8
  angular sectors of the joint plane), with a non-zero length.  Their line of
  action is across the joint (the lumbar capsule's posterior fibres run
  transversely from the inferior to the superior articular process); they
  resist opening where the contact resists closing.
* Facets and fibres: :mod:`biomech.meshes.attachments_facets`,
  :mod:`biomech.meshes.attachments_fibres` (rules there).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from biomech.errors import InputError

from .attachments_common import (LEFT_RIGHT, Attachments, FibreSet, LevelNodes,  # noqa: F401
                                 NodePairs, check_pair, extreme_per_bin, node_xyz,
                                 pair_bins, vertebra_names)
from .attachments_facets import facet_pairs, joint_rim  # noqa: F401
from .attachments_fibres import annulus_fibres  # noqa: F401
from .voxel_model import VoxelModel

LIGAMENTS = ("ALL", "PLL", "LF", "ISL", "SSL", "ITL", "CL")
POSTERIOR_LIGAMENTS = ("LF", "ISL", "SSL", "ITL", "CL")


def motion_segments(model: VoxelModel) -> list[tuple[str, str, str]]:
    """[(segment name "L1-L2", upper level, lower level)], cranial first, for
    every pair of adjacent vertebrae of the model (in level-name order)."""
    if not isinstance(model, VoxelModel):
        raise InputError(f"model must be a VoxelModel, got {type(model).__name__}")
    vert = vertebra_names(model)
    return [(f"{u}-{lo}", u, lo) for u, lo in zip(vert[:-1], vert[1:])]


# ---------------------------------------------------------------------------- canal
def canal(lv: LevelNodes) -> dict | None:
    """The vertebral canal of a level in its local frame: {'y_front', 'y_back'
    (at the midline), 'y_centre', 'width'} [mm], or None when the bone has no
    closed ring behind the body (no posterior elements, or an open arch)."""
    if lv.post is None:
        return None
    h = lv.model.h
    q = np.concatenate([lv.body[1], lv.post[1]])[:, :2]
    lo = q.min(axis=0) - 2 * h
    ij = np.rint((q - lo) / h).astype(int)
    img = np.zeros(ij.max(axis=0) + 3, bool)
    img[ij[:, 0], ij[:, 1]] = True
    img = ndimage.binary_closing(img, np.ones((3, 3), bool))
    holes = ndimage.binary_fill_holes(img) & ~img
    qb = lv.body[1]
    mid = np.abs(qb[:, 0]) <= max(h, 1.0)
    y_body = qb[mid, 1].max() if mid.any() else qb[:, 1].max()
    i0 = int(round((0.0 - lo[0]) / h))
    ys = np.arange(int(np.floor((y_body - lo[1]) / h)), img.shape[1])
    seed = [j for j in ys[:6] if 0 <= i0 < img.shape[0] and holes[i0, j]]
    if not seed:
        return None
    lab, _ = ndimage.label(holes)
    comp = lab == lab[i0, seed[0]]
    pix = np.argwhere(comp) * h + lo
    on_mid = np.abs(pix[:, 0]) <= max(h, 1.0)
    y_back = pix[on_mid, 1].max() + 0.5 * h
    return {"y_front": float(y_body), "y_back": float(y_back),
            "y_centre": float(0.5 * (y_body + y_back)), "width": float(np.ptp(pix[:, 0]) + h)}


# ---------------------------------------------------------------------------- ligaments
def _pairs(name, seg, side, up, lo, note):
    up_ijk, up_bin = up
    lo_ijk, lo_bin = lo
    u, low = pair_bins(up_ijk, up_bin, lo_ijk, lo_bin)
    if len(u) == 0:
        return None
    return NodePairs(name, seg, side, u, low, np.full(len(u), 1.0 / len(u)), note=note)


def _near_disc(lv: LevelNodes, seg: str, slab: float):
    """Bool per body node of ``lv``: within ``slab`` mm of a voxel centre of the
    disc ``seg``; None when the model has no such disc."""
    model = lv.model
    if seg not in model.level_names:
        return None
    disc = model.level == model.level_index(seg)
    if not disc.any():
        return None
    tree = cKDTree(model.centres(np.argwhere(disc)))
    d, _ = tree.query(node_xyz(model, lv.body[0]), distance_upper_bound=slab + 0.5 * model.h)
    return np.isfinite(d)


def _body_ligaments(U: LevelNodes, L: LevelNodes, seg: str, h: float):
    out = []
    slab = max(3.0, 1.5 * h)
    (iu, qu), (il, ql) = U.body, L.body
    su, sl = _near_disc(U, seg, slab), _near_disc(L, seg, slab)
    if su is None or sl is None:                     # no disc: the ends of the bodies along z
        su = qu[:, 2] <= qu[:, 2].min() + slab
        sl = ql[:, 2] >= ql[:, 2].max() - slab
    width = min(np.ptp(qu[:, 0]), np.ptp(ql[:, 0]))
    # ALL: anterior-most nodes across a band of half the body width
    e = np.linspace(-0.25 * width, 0.25 * width, 6)
    p = _pairs("ALL", seg, "midline",
               extreme_per_bin(iu, qu, su, qu[:, 0], e, -qu[:, 1]),
               extreme_per_bin(il, ql, sl, ql[:, 0], e, -ql[:, 1]),
               "anterior-most body nodes near the disc, 5 bins over half the body width")
    out.append(("ALL", p))
    hw = max(5.0, h)
    e = np.linspace(-hw, hw, 4)
    p = _pairs("PLL", seg, "midline",
               extreme_per_bin(iu, qu, su, qu[:, 0], e, qu[:, 1]),
               extreme_per_bin(il, ql, sl, ql[:, 0], e, ql[:, 1]),
               f"posterior-most body nodes near the disc, 3 bins over +-{hw:g} mm")
    out.append(("PLL", p))
    return out


def _posterior_ligaments(U: LevelNodes, L: LevelNodes, cu: dict, cl: dict, seg: str, h: float):
    out = []
    (iu, qu), (il, ql) = U.post, L.post
    # LF: laminae behind the canal
    half = 0.35 * min(cu["width"], cl["width"])
    e = np.linspace(-half, half, 7)

    def lam(q, c):
        return (q[:, 1] >= c["y_centre"]) & (q[:, 1] <= c["y_back"] + 6.0) & (np.abs(q[:, 0]) <= half)
    out.append(("LF", _pairs("LF", seg, "midline",
                             extreme_per_bin(iu, qu, lam(qu, cu), qu[:, 0], e, -qu[:, 2]),
                             extreme_per_bin(il, ql, lam(ql, cl), ql[:, 0], e, ql[:, 2]),
                             "inferior edge of the upper lamina to the superior edge of the lower, "
                             f"6 bins over |x| <= {half:.1f} mm")))
    # ISL / SSL: spinous processes in a midline band
    band = max(4.0, h)
    tip_t = max(4.0, 1.5 * h)

    def sp(q, c):
        m = (np.abs(q[:, 0]) <= band) & (q[:, 1] > c["y_back"])
        if not m.any():
            return m, None, None
        y_tip = q[m, 1].max()
        s = (q[:, 1] - c["y_back"]) / max(y_tip - c["y_back"], h)
        return m, s, y_tip
    mu, s_u, tip_u = sp(qu, cu)
    ml, s_l, tip_l = sp(ql, cl)
    if tip_u is None or tip_l is None:
        out.append(("ISL", None))
        out.append(("SSL", None))
    else:
        e = np.linspace(0.2, 0.85, 6)
        out.append(("ISL", _pairs("ISL", seg, "midline",
                                  extreme_per_bin(iu, qu, mu, s_u, e, -qu[:, 2], np.abs(qu[:, 0])),
                                  extreme_per_bin(il, ql, ml, s_l, e, ql[:, 2], np.abs(ql[:, 0])),
                                  "inferior edge of the upper spinous process to the superior edge "
                                  "of the lower, 5 bins from 20 % to 85 % of the process length")))
        e = np.linspace(-band, band, 4)
        out.append(("SSL", _pairs("SSL", seg, "midline",
                                  extreme_per_bin(iu, qu, mu & (qu[:, 1] >= tip_u - tip_t), qu[:, 0], e,
                                                  qu[:, 1] - qu[:, 2]),
                                  extreme_per_bin(il, ql, ml & (ql[:, 1] >= tip_l - tip_t), ql[:, 0], e,
                                                  ql[:, 1] + ql[:, 2]),
                                  "posterior-inferior corner of the upper spinous tip to the "
                                  "posterior-superior corner of the lower, 3 bins across x")))
    # ITL: tips of the transverse processes
    for side, sgn in LEFT_RIGHT:
        def tip(q, sgn=sgn):
            sx = sgn * q[:, 0]
            m = sx >= sx.max() - tip_t
            y = q[:, 1]
            lo_, hi_ = y[m].min(), y[m].max()
            return m, (y - lo_) / max(hi_ - lo_, 1e-9)
        mu_, yu = tip(qu)
        ml_, yl = tip(ql)
        e = np.linspace(0.0, 1.0 + 1e-9, 4)
        out.append((f"ITL {side}", _pairs("ITL", seg, side,
                                  extreme_per_bin(iu, qu, mu_, yu, e, -qu[:, 2]),
                                  extreme_per_bin(il, ql, ml_, yl, e, ql[:, 2]),
                                  "lowest node of the upper transverse-process tip to the highest "
                                  "of the lower, 3 bins along y")))
    return out


def ligament_attachments(model: VoxelModel, upper: str, lower: str) -> Attachments:
    """Attachment node pairs of the lumbar ligaments of the motion segment
    ``upper``-``lower`` (adjacent vertebrae, upper first): ALL, PLL, LF, ISL,
    SSL (midline), ITL and CL (left and right), as :class:`~biomech.meshes.attachments_common.NodePairs` with
    weights 1/n.  Returns :class:`~biomech.meshes.attachments_common.Attachments` (a list); its ``missing`` maps
    each ligament the model cannot carry to the reason (e.g. a model without
    posterior elements: LF, ISL, SSL, ITL and CL are missing, ALL and PLL are
    returned).  Keys of ``missing``: "LF", "ISL", "SSL" and "ITL left", "ITL right",
    "CL left", "CL right".  Raises InputError when a level has no vertebral body."""
    check_pair(model, upper, lower)
    seg = f"{upper}-{lower}"
    h = model.h
    U, L = LevelNodes(model, upper), LevelNodes(model, lower)
    found = _body_ligaments(U, L, seg, h)
    missing = {}
    cu, cl = canal(U), canal(L)
    no_arch = [lv for lv, c in ((upper, cu), (lower, cl)) if c is None]
    if no_arch:
        why = (f"level(s) {', '.join(no_arch)} have no posterior elements around a closed "
               "vertebral canal (no POSTERIOR voxels, or an open neural arch)")
        for name in POSTERIOR_LIGAMENTS:
            for key in ((f"{name} left", f"{name} right") if name in ("ITL", "CL") else (name,)):
                missing[key] = why
    else:
        found += _posterior_ligaments(U, L, cu, cl, seg, h)
        facets = facet_pairs(model, upper, lower)
        for side, _ in LEFT_RIGHT:
            joint = facets.by_name("facet", side)
            if not joint:
                missing[f"CL {side}"] = facets.missing.get(f"facet {side}", "no facet joint found")
                continue
            rim = joint_rim(joint[0], h)
            if not len(rim):
                missing[f"CL {side}"] = ("every pair of the facet joint has zero length (the two "
                                         "levels share nodes there): no capsule line of action")
                continue
            found.append((f"CL {side}", NodePairs(
                "CL", seg, side, joint[0].upper[rim], joint[0].lower[rim],
                np.full(len(rim), 1.0 / len(rim)),
                note="rim pairs of the facet joint (8 sectors), across the joint")))
    out = Attachments(missing=missing)
    for key, p in found:
        if p is None:
            missing.setdefault(key, f"no attachment nodes found for {key} in {seg} "
                                    f"(at h = {h:g} mm)")
        else:
            out.append(p)
    out.missing = missing
    return out
