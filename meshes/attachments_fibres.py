"""Annulus fibres of a disc as two-node segments on the voxel grid (part of
:mod:`biomech.meshes.attachments`).

Rules (documented choices):

* The annulus of a disc is its ANNULUS voxels (disc level "U-L", the level index
  the segment builders give the disc's nucleus, annulus and cartilage endplate);
  its nodes are the corners of those voxels, so they include the nodes the
  annulus shares with the cartilage endplates, the bony endplates and the
  nucleus: fibres anchor there.
* Disc frame: centre = centroid of all the disc's voxels; axis e_z = the
  bisector of the two vertebrae's local z axes when meta has their frames
  (parametric, lordotic or not), else the least-spread principal axis of the
  disc voxels, pointing cranially.
* Lamellae: collagen fibres run in the circumferential-axial plane at about
  +-30 degrees to the transverse plane, alternating between adjacent lamellae
  (Marchand & Ahmed, Spine 1990;15:402; Cassidy, Hiltner & Baer, Connect Tissue
  Res 1989;23:75; Holzapfel et al., Biomech Model Mechanobiol 2005;3:125: about
  23-35 degrees, varying radially).  One angle, ``target_angle_deg`` = 30 by
  default, is used everywhere; both families are placed at every node (the
  lamellae are thinner than a voxel), family +1 along cos(a) t + sin(a) e_z,
  family -1 along cos(a) t - sin(a) e_z, with t = e_z x r_hat the
  circumferential direction (r from the disc centre, in the transverse plane).
* Snapping: from every annulus node p and each family, candidate partners are
  the grid nodes nearest to p + L f for L = 1.5, 2, ..., 4 h; the partner is the
  candidate whose direction deviates least from f (3-D angle; the shortest on
  ties) among those that are annulus nodes.  Nodes with no such candidate
  (rim and corner nodes) start no fibre.  Unordered duplicates within a family
  are removed.
* Volume: each segment represents annulus volume proportional to the mean
  tributary annulus volume of its two nodes (h^3 / 8 per annulus voxel
  corner), scaled so that the segments of each family sum to the annulus
  volume.  A physics module gives a segment of length L the axial stiffness
  k = E_f (phi / 2) V / L^2 (phi the fibre volume fraction, half per family),
  which reproduces the strain energy of a fibre continuum with that fraction.
"""
from __future__ import annotations

import numpy as np

from biomech.errors import InputError

from .attachments_common import FibreSet, node_mask, node_xyz
from .labels import DISC_LABELS, Label
from .landmarks import level_frame

CANDIDATE_LENGTHS_H = (1.5, 2.0, 2.5, 3.0, 3.5, 4.0)


def _disc_name(model, disc) -> str:
    if isinstance(disc, str):
        name = disc
    else:
        try:
            up, lo = disc
        except (TypeError, ValueError):
            raise InputError(f"disc must be a name like 'L1-L2' or (upper, lower), got {disc!r}") from None
        name = f"{up}-{lo}"
    if name not in model.level_names:
        raise InputError(f"unknown disc {name!r}; the model has {list(model.level_names)}")
    return name


def disc_axis_centre(model, name: str, disc_vox: np.ndarray):
    """(axis (3,), centre (3,) [mm]) of the disc (module rules)."""
    centres = model.centres(np.argwhere(disc_vox))
    centre = centres.mean(axis=0)
    levels = (model.meta.get("levels") or {})
    parts = name.split("-")
    if len(parts) == 2 and all("frame" in (levels.get(p) or {}) for p in parts):
        ez = sum(level_frame(model, p)[1][:, 2] for p in parts)
    else:
        c = centres - centre
        _, _, vt = np.linalg.svd(c, full_matrices=False)
        ez = vt[-1]
    ez = ez / np.linalg.norm(ez)
    return (ez if ez[2] >= 0 else -ez), centre


def annulus_fibres(model, disc_name_or_levels, *, target_angle_deg: float = 30.0) -> FibreSet:
    """Criss-cross annulus fibre segments of one disc (module rules): a
    :class:`~biomech.meshes.attachments_common.FibreSet` of grid node pairs in the annulus, their represented
    volume [mm^3], family (+1 / -1) and snapped angle to the transverse plane
    [deg].  ``disc_name_or_levels``: "L1-L2" or ("L1", "L2")."""
    if not 0.0 < float(target_angle_deg) < 90.0:
        raise InputError(f"target_angle_deg must lie in (0, 90) degrees, got {target_angle_deg!r}")
    name = _disc_name(model, disc_name_or_levels)
    li = model.level_index(name)
    lev = model.level == li
    ann = (model.labels == Label.ANNULUS) & lev
    if not ann.any():
        raise InputError(f"disc {name!r} has no ANNULUS voxels")
    disc_vox = np.isin(model.labels, [int(v) for v in DISC_LABELS]) & lev
    ez, centre = disc_axis_centre(model, name, disc_vox)
    h = model.h
    nmask = node_mask(ann)
    nx, ny, nz = ann.shape
    cnt = np.zeros(nmask.shape, np.int16)
    for a in (0, 1):
        for b in (0, 1):
            for c in (0, 1):
                cnt[a:a + nx, b:b + ny, c:c + nz] += ann
    ijk = np.argwhere(nmask)
    x = node_xyz(model, ijk)
    r = x - centre
    r -= np.outer(r @ ez, ez)
    rn = np.linalg.norm(r, axis=1)
    ok_r = rn > 1e-9
    ijk, rhat = ijk[ok_r], r[ok_r] / rn[ok_r, None]
    t = np.cross(ez[None, :], rhat)
    alpha = np.radians(float(target_angle_deg))
    shape = np.array(nmask.shape)
    A, B, FAM = [], [], []
    for fam in (1, -1):
        f = np.cos(alpha) * t + fam * np.sin(alpha) * ez[None, :]
        best = np.full(len(ijk), np.inf)
        partner = np.zeros_like(ijk)
        for m in CANDIDATE_LENGTHS_H:
            d = np.rint(m * f).astype(np.int64)
            q = ijk + d
            inside = np.all((q >= 0) & (q < shape), axis=1)
            valid = inside.copy()
            valid[inside] = nmask[tuple(q[inside].T)]
            dn = np.linalg.norm(d, axis=1)
            valid &= dn > 0
            cosang = np.einsum("ij,ij->i", d, f) / np.where(dn > 0, dn, 1.0)
            dev = np.where(valid, np.arccos(np.clip(cosang, -1.0, 1.0)), np.inf)
            better = dev < best - 1e-12
            best[better] = dev[better]
            partner[better] = q[better]
        has = np.isfinite(best)
        a, b = ijk[has], partner[has]
        fa = np.ravel_multi_index(tuple(a.T), nmask.shape)
        fb = np.ravel_multi_index(tuple(b.T), nmask.shape)
        key = np.stack([np.minimum(fa, fb), np.maximum(fa, fb)], axis=1)
        _, first = np.unique(key, axis=0, return_index=True)
        first = np.sort(first)
        A.append(a[first])
        B.append(b[first])
        FAM.append(np.full(len(first), fam, np.int8))
    a, b, family = np.concatenate(A), np.concatenate(B), np.concatenate(FAM)
    vol_ann = float(ann.sum()) * h ** 3
    w = 0.5 * (cnt[tuple(a.T)] + cnt[tuple(b.T)]).astype(float)
    vol = np.zeros(len(a))
    for fam in (1, -1):
        s = family == fam
        vol[s] = vol_ann * w[s] / w[s].sum()
    d = (b - a).astype(float)
    angle = np.degrees(np.arcsin(np.clip(np.abs(d @ ez) / np.linalg.norm(d, axis=1), 0.0, 1.0)))
    return FibreSet(disc=name, a=a, b=b, volume_mm3=vol, family=family, angle_deg=angle, axis=ez,
                    centre_mm=centre, target_angle_deg=float(target_angle_deg),
                    annulus_volume_mm3=vol_ann)
