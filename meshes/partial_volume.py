"""Sub-voxel structures: partial volumes of thin shells and the modulus rule.

The cortical shell of a vertebral body (about 0.4 mm) is thinner than a 1 mm
voxel.  biomech keeps the voxel grid and stores, per voxel, the **volume
fractions of the compact shells**: side-wall cortex (field
``cortical_fraction``, f_c) and bony endplate (field ``endplate_fraction``,
f_e), f_c + f_e <= 1 (both kept separately so a rim voxel holding the end of
the cortical wall keeps its cortical stiffness):

1. *Measure*: f_raw = shell volume inside the voxel / voxel volume, by
   stratified supersampling (``s`` points per axis, spacing h/s <= 0.25 mm)
   of the exact implicit geometry (parametric) or the exact distance to the
   triangle surface (real geometry).
2. *Conserve*: a voxel belongs to the model when its centre is inside the bone.
   Shell volume that lies in voxels left out of the model (centre outside) is
   moved to the 6-neighbour inside the model with the largest bone occupancy,
   then f is clipped to 1 (what is clipped is reported).  So the shell volume of
   every slice, and with it the axial stiffness of the shell, is kept as h
   changes.
3. *Modulus*: physics, not anatomy: the mixing rule is
   :func:`biomech.materials.mixtures.shell_modulus` (side wall Voigt, endplate Reuss),
   applied by the material rule :func:`biomech.materials.properties.element_properties`.

Only the measurement lives here.
"""
from __future__ import annotations

import math

import numpy as np


#: Largest spacing of the supersampling points [mm].
SUPERSAMPLE_SPACING_MM = 0.25

_NEIGHBOURS = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]])


def supersampling(h: float, spacing_mm: float = SUPERSAMPLE_SPACING_MM) -> int:
    """Points per axis so that the sub-sample spacing h/s is at most ``spacing_mm``."""
    return max(2, int(math.ceil(h / spacing_mm - 1e-9)))


#: Sub-sample points classified at a time: bounds the temporaries of the voxelisers
#: (~15 arrays of this many entries, ~20 MB) whatever the voxel size; smaller chunks
#: ran as fast (L2 between caps at 2 mm: 0.58-0.75 s for 50k-400k points).
POINTS_PER_CHUNK = 100_000


def chunk_voxels(s: int) -> int:
    """Voxels per chunk when each is sampled by s**3 points."""
    return max(1, POINTS_PER_CHUNK // s**3)


def subsample_offsets(s: int) -> np.ndarray:
    """(s**3, 3) offsets of the stratified sub-sample centres from the voxel
    centre, in units of the voxel size (in (-0.5, 0.5))."""
    g = (np.arange(s) + 0.5) / s - 0.5
    return np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1).reshape(-1, 3)


def conserve_shell_volume(shell_raw: np.ndarray, occupancy: np.ndarray,
                          in_model: np.ndarray) -> tuple[np.ndarray, float]:
    """Step 2 of the rule above.

    shell_raw : (nx, ny, nz) shell volume fraction per voxel [-]
    occupancy : (nx, ny, nz) bone volume fraction per voxel [-]
    in_model  : (nx, ny, nz) bool, voxels that are part of the model
    Returns (f, lost): f (nx, ny, nz) with f = 0 outside the model, and the
    shell volume fraction lost to clipping at 1 (relative to the total).
    """
    f = np.where(in_model, shell_raw, 0.0).astype(np.float64)
    total = float(shell_raw.sum())
    orphan = np.argwhere((~in_model) & (shell_raw > 0))
    if orphan.size:
        shape = np.array(in_model.shape)
        best = np.full(len(orphan), -1.0)
        target = np.full((len(orphan), 3), -1, dtype=np.int64)
        for off in _NEIGHBOURS:
            nb = orphan + off
            ok = np.all((nb >= 0) & (nb < shape), axis=1)
            occ = np.full(len(orphan), -1.0)
            inside = np.zeros(len(orphan), bool)
            inside[ok] = in_model[nb[ok, 0], nb[ok, 1], nb[ok, 2]]
            occ[inside] = occupancy[nb[inside, 0], nb[inside, 1], nb[inside, 2]]
            better = occ > best
            best[better] = occ[better]
            target[better] = nb[better]
        has = best >= 0
        np.add.at(f, (target[has, 0], target[has, 1], target[has, 2]),
                  shell_raw[orphan[has, 0], orphan[has, 1], orphan[has, 2]])
    np.clip(f, 0.0, 1.0, out=f)
    kept = float(f.sum())
    lost = 0.0 if total == 0 else max(0.0, 1.0 - kept / total)
    return f, lost
