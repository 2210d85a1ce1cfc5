"""Mixture rules: the modulus of a voxel that holds more than one material.

* :func:`shell_modulus`: voxels of the vertebral shell, which is thinner than a voxel
  (0.38 mm side wall, 0.25 mm bony endplate: Eswaran et al., CMAME 2007; Purcell et al.,
  Int J Spine Surg 2021).  The side-wall cortex mixes in parallel with the rest of the voxel
  (Voigt, iso-strain: exact for a wall loaded along its plane, as the vertical walls under
  axial compression), the bony endplate in series with the core (Reuss, iso-stress: exact
  for a layer loaded across its thickness, as the endplates under axial compression).
  The volume fractions are measured by :mod:`biomech.meshes.partial_volume`; the
  convergence test (tests/test_vertebra.py) shows the vertebral stiffness converging as
  h goes 1.5 -> 0.5 mm with this rule.
* :func:`partial_volume_modulus`: the plain Voigt mixture of one shell and a core.
* :func:`composite_modulus`: vertebroplasty cement-bone composite (porous-cement model of
  Kinzl, Boger, Zysset & Pahr, J Biomech 45:2732, 2012).
"""
from __future__ import annotations

import numpy as np

from ..errors import MaterialError


def partial_volume_modulus(cortical_fraction, E_shell_MPa, E_core_MPa):
    """E [MPa] = f * E_shell + (1 - f) * E_core (Voigt mixture).

    cortical_fraction : array of f in [0, 1]; E_shell_MPa, E_core_MPa : scalars
    or arrays of the same shape."""
    f = np.asarray(cortical_fraction, float)
    if f.size and (np.nanmin(f) < 0.0 or np.nanmax(f) > 1.0):
        raise MaterialError("cortical_fraction must lie in [0, 1], got values in "
                            f"[{np.nanmin(f):.3g}, {np.nanmax(f):.3g}]")
    return f * np.asarray(E_shell_MPa, float) + (1.0 - f) * np.asarray(E_core_MPa, float)


def shell_fraction_shares(cortical_fraction, endplate_fraction):
    """(f_c, s) of voxels holding side-wall cortex f_c and bony endplate f_e: ``s`` is the
    endplate's share of the rest of the voxel, f_e / (1 - f_c), clipped to [0, 1]."""
    fc = np.asarray(cortical_fraction, float)
    fe = np.asarray(endplate_fraction, float)
    tot = fc + fe
    if tot.size and (min(np.nanmin(fc), np.nanmin(fe)) < 0.0 or np.nanmax(tot) > 1.0 + 1e-12):
        raise MaterialError("shell fractions must be >= 0 with cortical + endplate <= 1, got "
                            f"cortical in [{np.nanmin(fc):.3g}, {np.nanmax(fc):.3g}], "
                            f"cortical + endplate up to {np.nanmax(tot):.3g}")
    rest = np.clip(1.0 - fc, 0.0, 1.0)
    share = np.divide(fe, rest, out=np.zeros(np.broadcast(fe, rest).shape), where=rest > 0)
    return fc, np.clip(share, 0.0, 1.0)


def shell_modulus(cortical_fraction, endplate_fraction, E_cortical_MPa, E_endplate_MPa,
                  E_core_MPa, *, endplate_mixing: str = "reuss"):
    """Modulus [MPa] of voxels holding side-wall cortex (f_c), bony endplate (f_e) and core
    (cancellous) bone, f_c + f_e <= 1:

    ``E = f_c E_cortical + (1 - f_c) E_rest`` (the side wall in parallel: Voigt),
    ``E_rest`` = core and endplate mixed over the remaining (1 - f_c) of the voxel, with
    ``s = f_e / (1 - f_c)``: in series (``endplate_mixing='reuss'``, the default: the
    endplate is a layer loaded across its thickness by axial compression)
    ``1 / E_rest = s / E_endplate + (1 - s) / E_core``, or in parallel ('voigt').
    Arrays broadcast."""
    if endplate_mixing not in ("reuss", "voigt"):
        raise MaterialError(f"endplate_mixing must be 'reuss' or 'voigt', got {endplate_mixing!r}")
    fc, share = shell_fraction_shares(cortical_fraction, endplate_fraction)
    Ec = np.asarray(E_cortical_MPa, float)
    Ee = np.asarray(E_endplate_MPa, float)
    Eb = np.asarray(E_core_MPa, float)
    if endplate_mixing == "voigt":
        E_rest = share * Ee + (1.0 - share) * Eb
    else:
        E_rest = 1.0 / (share / Ee + (1.0 - share) / Eb)
    return fc * Ec + np.clip(1.0 - fc, 0.0, 1.0) * E_rest


def composite_modulus(E_cement_MPa, bvtv, pore_fraction=0.10, exponent=2.0,
                      interface_factor=1.0) -> np.ndarray:
    """Cement-bone composite modulus [MPa] (porous-cement model, Kinzl et al. 2012).

    ``E = interface_factor * E_cement * ((1 - bvtv) * (1 - pore_fraction)) ** exponent``.
    Arrays broadcast.  The bone is mechanically switched off: it only takes volume.
    """
    Ec = np.asarray(E_cement_MPa, dtype=np.float64)
    solid = (1.0 - np.clip(bvtv, 0.0, 1.0)) * (1.0 - np.clip(pore_fraction, 0.0, 1.0))
    return interface_factor * Ec * np.power(solid, exponent)
