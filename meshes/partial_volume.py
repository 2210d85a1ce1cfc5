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
3. *Modulus* (documented rule, :func:`shell_modulus`): the side-wall cortex
   mixes in parallel (Voigt, iso-strain: exact for a wall loaded along its
   plane, as the vertical walls under axial compression), the endplate in
   series with the core (Reuss, iso-stress: exact for a layer loaded across
   its thickness, as the endplates under axial compression):
   ``E = f_c E_cortical + (1 - f_c) / (s / E_endplate + (1 - s) / E_core)``,
   ``s = f_e / (1 - f_c)``.  For one shell only, :func:`partial_volume_modulus`
   is the plain Voigt mixture.  The convergence test (tests/test_vertebra.py) shows the
   vertebral stiffness converging as h goes 1.5 -> 0.5 mm.

No physics beyond this mixing rule lives here.
"""
from __future__ import annotations

import math

import numpy as np

from biomech.errors import InputError

#: Largest spacing of the supersampling points [mm].
SUPERSAMPLE_SPACING_MM = 0.25

_NEIGHBOURS = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]])


def supersampling(h: float, spacing_mm: float = SUPERSAMPLE_SPACING_MM) -> int:
    """Points per axis so that the sub-sample spacing h/s is at most ``spacing_mm``."""
    return max(2, int(math.ceil(h / spacing_mm - 1e-9)))


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


def partial_volume_modulus(cortical_fraction, E_shell_MPa, E_core_MPa):
    """Step 3: E [MPa] = f * E_shell + (1 - f) * E_core (Voigt mixture).

    cortical_fraction : array of f in [0, 1]; E_shell_MPa, E_core_MPa : scalars
    or arrays of the same shape."""
    f = np.asarray(cortical_fraction, float)
    if f.size and (np.nanmin(f) < 0.0 or np.nanmax(f) > 1.0):
        raise InputError("cortical_fraction must lie in [0, 1], got values in "
                         f"[{np.nanmin(f):.3g}, {np.nanmax(f):.3g}]")
    return f * np.asarray(E_shell_MPa, float) + (1.0 - f) * np.asarray(E_core_MPa, float)


def shell_modulus(cortical_fraction, endplate_fraction, E_cortical_MPa, E_endplate_MPa,
                  E_core_MPa, *, endplate_mixing: str = "reuss"):
    """Modulus [MPa] of voxels holding side-wall cortex (f_c), bony endplate
    (f_e) and core (cancellous) bone, f_c + f_e <= 1:

    E = f_c E_cortical + (1 - f_c) E_rest  (the side wall in parallel: Voigt),
    E_rest = core and endplate mixed over the remaining (1 - f_c) of the voxel,
    in series (``endplate_mixing='reuss'``, the default: the endplate is a
    layer loaded across its thickness by axial compression) or in parallel
    ('voigt')."""
    fc = np.asarray(cortical_fraction, float)
    fe = np.asarray(endplate_fraction, float)
    tot = fc + fe
    if tot.size and (min(np.nanmin(fc), np.nanmin(fe)) < 0.0 or np.nanmax(tot) > 1.0 + 1e-12):
        raise InputError("shell fractions must be >= 0 with cortical + endplate <= 1")
    if endplate_mixing not in ("reuss", "voigt"):
        raise InputError(f"endplate_mixing must be 'reuss' or 'voigt', got {endplate_mixing!r}")
    Ec = np.asarray(E_cortical_MPa, float)
    Ee = np.asarray(E_endplate_MPa, float)
    Eb = np.asarray(E_core_MPa, float)
    rest = np.clip(1.0 - fc, 0.0, 1.0)
    share = np.divide(fe, rest, out=np.zeros(np.broadcast(fe, rest).shape), where=rest > 0)
    share = np.clip(share, 0.0, 1.0)
    if endplate_mixing == "voigt":
        E_rest = share * Ee + (1.0 - share) * Eb
    else:
        E_rest = 1.0 / (share / Ee + (1.0 - share) / Eb)
    return fc * Ec + rest * E_rest
