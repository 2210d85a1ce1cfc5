"""Column remapping: shorten or lengthen the body columns of one vertebra (a compression
fracture, a kyphoplasty height restoration) and close the shell where the remap exposed
trabecular bone."""
from __future__ import annotations

import logging
import math

import numpy as np

from ..errors import InputError
from ..meshes.labels import TRABECULAR_LABELS, Label
from ..meshes.neighbours import face_neighbours
from .anatomy import vertebra_geometry
from .editing import _replace

log = logging.getLogger(__name__)


def _resample(new_len: int, old_lo: int, old_len: int) -> np.ndarray:
    """Nearest-neighbour source indices of a segment resampled from old_len to new_len
    (the first and last layers always survive)."""
    t = (np.arange(new_len) + 0.5) * (old_len / new_len)
    out = old_lo + np.minimum(t.astype(np.int64), old_len - 1)
    if new_len >= 2:                  # keep both end layers (endplates, cartilage) in place
        out[0] = old_lo
        out[-1] = old_lo + old_len - 1
    return out


def change_body_height(model, level: str, delta_vox, mode: str = "superior"):
    """Shorten (delta > 0) or lengthen (delta < 0) the body columns of ``level``.

    delta_vox : (nx, ny) int -- voxels removed per column (negative: added).
    mode "superior": the body column is resampled to its new length from its inferior end
    and everything above the body moves down by delta (columns outside the body: what lies
    above the top of the body); "both": the body loses delta/2 at each end and the discs
    next to it stretch into the space (what lies beyond the discs does not move).
    Trabecular voxels that the remap leaves facing void or disc (stair steps between
    neighbouring columns) become bony endplate, so no opening appears that was not there.
    Returns the new model (labels, level and every field are remapped the same way).
    """
    geo = vertebra_geometry(model, level)
    d = np.asarray(delta_vox, dtype=np.int64)
    nx, ny, nz = model.shape
    if d.shape != (nx, ny):
        raise InputError(f"delta_vox must have shape {(nx, ny)}, got {d.shape}")
    if mode not in ("superior", "both"):
        raise InputError(f"mode must be 'superior' or 'both', got {mode!r}")
    src = np.broadcast_to(np.arange(nz), (nx, ny, nz)).copy()
    void = np.zeros((nx, ny, nz), bool)
    body = geo.body
    k_top_all = int(np.flatnonzero(body.any(axis=(0, 1)))[-1])
    disc = np.isin(model.labels, [Label.NUCLEUS, Label.ANNULUS, Label.CARTILAGE_ENDPLATE])
    for i, j in zip(*np.nonzero(d)):
        dv = int(d[i, j])
        ks = np.flatnonzero(body[i, j])
        col = np.arange(nz)
        if ks.size == 0:
            if mode == "superior":
                cut = k_top_all + 1
                new = col.copy()
                new[cut:] = col[cut:] + dv
                if dv < 0:                      # lifted: the gap opened above the cut is void
                    new[cut:cut - dv] = -1
                src[i, j] = new
            continue
        k0, k1 = int(ks[0]), int(ks[-1])
        n = k1 - k0 + 1
        if mode == "superior":
            n_new = n - dv
            if n_new < 1:
                raise InputError(f"height change of {dv} voxels leaves column ({i},{j}) of {level} "
                                 f"with {n_new} voxels")
            new = col.copy()
            new[k0:k0 + n_new] = _resample(n_new, k0, n)
            new[k0 + n_new:] = col[k0 + n_new:] + dv
            src[i, j] = new
        else:
            top = int(math.ceil(dv / 2)) if dv > 0 else -int(math.ceil(-dv / 2))
            bot = dv - top
            n_new = n - dv
            if n_new < 1:
                raise InputError(f"height change of {dv} voxels leaves column ({i},{j}) of {level} "
                                 f"with {n_new} voxels")
            new = col.copy()
            new[k0 + bot:k1 - top + 1] = _resample(n_new, k0, n)
            # disc above: from k1+1 up to the last contiguous disc voxel
            ka = k1 + 1
            while ka < nz and disc[i, j, ka]:
                ka += 1
            old_len = ka - (k1 + 1)
            new_len = ka - (k1 - top + 1)
            if old_len > 0 and new_len > 0:
                new[k1 - top + 1:ka] = _resample(new_len, k1 + 1, old_len)
            elif new_len > 0:
                new[k1 - top + 1:ka] = -1
            kb = k0 - 1
            while kb >= 0 and disc[i, j, kb]:
                kb -= 1
            old_len = k0 - (kb + 1)
            new_len = (k0 + bot) - (kb + 1)
            if old_len > 0 and new_len > 0:
                new[kb + 1:k0 + bot] = _resample(new_len, kb + 1, old_len)
            elif new_len > 0:
                new[kb + 1:k0 + bot] = -1
            src[i, j] = new
    lost = (src >= nz) | (src < 0)
    void |= lost
    srcc = np.clip(src, 0, nz - 1)
    dropped_top = np.zeros((nx, ny), bool)
    for i, j in zip(*np.nonzero(d < 0)):
        # rows pushed out of the grid at the top
        dv = -int(d[i, j])
        dropped_top[i, j] = (model.labels[i, j, nz - dv:] != Label.VOID).any()
    if dropped_top.any():
        log.warning("height gain pushed non-void voxels out of the top of the grid in %d columns",
                    int(dropped_top.sum()))

    def remap(arr, fill):
        out = np.take_along_axis(np.asarray(arr), srcc, axis=2).copy()
        out[void] = fill
        return out

    labels = remap(model.labels, Label.VOID)
    lev = remap(model.level, -1)
    flds = {k: remap(v, 0.0) for k, v in model.fields.items()}
    _close_shell(model, labels, lev, flds, geo.level_index)
    return _replace(model, labels=labels, level=lev, fields=flds)


def exposed_trabecular(labels, level, level_index) -> np.ndarray:
    """Trabecular voxels of a level with a face neighbour outside the bone (void or disc)."""
    inter = (level == level_index) & np.isin(labels, [int(l) for l in TRABECULAR_LABELS])
    out = np.isin(labels, [Label.VOID, Label.NUCLEUS, Label.ANNULUS, Label.CARTILAGE_ENDPLATE])
    return inter & face_neighbours(out)


def _close_shell(old_model, labels, level, flds, level_index):
    """Close the shell where a column remap exposed trabecular bone (one-voxel stair steps
    between neighbouring columns): such voxels become bony endplate with the level's median
    endplate ``cortical_fraction``.  Openings that existed before (foramen, lesions) stay."""
    before = int(exposed_trabecular(old_model.labels, old_model.level, level_index).sum())
    exposed = exposed_trabecular(labels, level, level_index)
    if "basivertebral_foramen" in flds:
        exposed &= ~(np.asarray(flds["basivertebral_foramen"]) > 0.5)
    exposed &= labels != Label.LYTIC
    if not exposed.any():
        return
    labels[exposed] = Label.ENDPLATE
    if "cortical_fraction" in flds:
        cf = flds["cortical_fraction"]
        ends = (labels == Label.ENDPLATE) & (level == level_index) & ~exposed & (cf > 0)
        cf[exposed] = float(np.median(cf[ends])) if ends.any() else 1.0
    log.debug("closed %d exposed trabecular voxels (before: %d exposed)", int(exposed.sum()), before)
