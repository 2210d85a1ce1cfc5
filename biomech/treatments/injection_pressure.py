"""Injection pressure against time: the cannula (Hagen-Poiseuille) plus the bone
(spherical Darcy front).

* Cannula: ``dp = 8 mu L q / (pi r^4)`` per needle (``q`` = flow rate / number of needles),
  Newtonian at the cement's viscosity at that instant.  Baroud & Steffen (Eur Spine J
  14:474, 2005) found about 95 % of the injection pressure is spent in the cannula and
  confirmed Hagen-Poiseuille against silicone oil and PMMA at 4 mL/min.
* Bone: a spherical front of radius R around a source of radius r_n in a medium of
  permeability k: ``dp = mu q / (4 pi k) (1/r_n - 1/R)`` (Darcy; the solution Baroud et al.
  used for cement infiltration, J Biomech 37:189, 2004), with R the radius of a sphere of the
  region filled per needle and k the harmonic mean permeability of the filled bone.
* Shear thinning (PMMA, Trivedi et al. 2023) lowers both terms; the Newtonian estimate is an
  upper bound at the tabulated viscosity.

Units: mu [Pa s], q [mm^3/s], k [mm^2], lengths [mm] -> pressure [MPa] (1 Pa s = 1e-6 MPa s).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..describe import Described, param
from .leak_routes import NEEDLE_OUTER_RADIUS_MM


@dataclass(frozen=True)
class Cannula(Described):
    """Injection cannula (defaults: an 11-gauge vertebroplasty needle, assumption)."""

    inner_diameter_mm: float = param(2.2, unit="mm", range=(0.3, 6.0),
                                     doc="inner diameter (11 G: about 2.2 mm)")
    length_mm: float = param(125.0, unit="mm", range=(10.0, 400.0), doc="length")


def cannula_pressure_MPa(viscosity_Pa_s, flow_mm3_s, cannula: Cannula):
    """Hagen-Poiseuille pressure drop [MPa] of one cannula."""
    r = 0.5 * cannula.inner_diameter_mm
    return 8.0 * np.asarray(viscosity_Pa_s) * 1e-6 * cannula.length_mm * flow_mm3_s / (math.pi * r ** 4)


def bone_pressure_MPa(viscosity_Pa_s, flow_mm3_s, permeability_mm2, filled_mm3):
    """Darcy pressure drop [MPa] of a spherical front holding ``filled_mm3`` of bulk
    volume around one needle tip (radius of the source: the needle's outer radius)."""
    R = np.maximum((3.0 * np.asarray(filled_mm3, float) / (4.0 * math.pi)) ** (1.0 / 3.0),
                   NEEDLE_OUTER_RADIUS_MM)
    return (np.asarray(viscosity_Pa_s) * 1e-6 * flow_mm3_s / (4.0 * math.pi * permeability_mm2)
            * (1.0 / NEEDLE_OUTER_RADIUS_MM - 1.0 / R))


@dataclass(frozen=True)
class PressureHistory:
    """Injection pressure at the syringe [MPa] against time [min after mixing]."""

    time_min: np.ndarray
    cannula_MPa: np.ndarray
    bone_MPa: np.ndarray

    @property
    def total_MPa(self) -> np.ndarray:
        return self.cannula_MPa + self.bone_MPa

    @property
    def peak_MPa(self) -> float:
        return float(self.total_MPa.max()) if self.total_MPa.size else 0.0

    @property
    def cannula_share(self) -> float:
        """Share of the peak pressure spent in the cannula [-]."""
        i = int(np.argmax(self.total_MPa))
        return float(self.cannula_MPa[i] / self.total_MPa[i])


def pressure_history(cement, t0_min, flow_rate_ml_per_min, n_needles, fill_cement_mm3,
                     fill_bulk_mm3, fill_permeability_mm2, cannula: Cannula | None = None,
                     n: int = 33) -> PressureHistory:
    """Pressure during the injection.

    In fill order, per voxel reached by the front: fill_cement_mm3 (m,) cement it took (the
    injection clock), fill_bulk_mm3 (m,) its bulk volume (the front radius),
    fill_permeability_mm2 (m,) its permeability [mm^2] (0 for voxels outside the body, which
    do not count in the harmonic mean)."""
    cannula = cannula or Cannula()
    q = flow_rate_ml_per_min * 1000.0 / 60.0 / max(n_needles, 1)       # [mm^3/s] per needle
    vols = np.asarray(fill_bulk_mm3, float)
    k = np.asarray(fill_permeability_mm2, float)
    bulk_cum = np.cumsum(vols)
    cem_cum = np.cumsum(np.asarray(fill_cement_mm3, float))
    inside = k > 0
    inv_cum = np.cumsum(np.where(inside, vols / np.where(inside, k, 1.0), 0.0))
    vol_in_cum = np.cumsum(np.where(inside, vols, 0.0))
    frac = np.linspace(0.0, 1.0, n)
    idx = np.minimum((frac * (len(vols) - 1)).astype(int), max(len(vols) - 1, 0)) if len(vols) \
        else np.zeros(n, int)
    injected_ml = (cem_cum[idx] if len(vols) else np.zeros(n)) / 1000.0
    injected_ml = np.where(frac == 0.0, 0.0, injected_ml)
    t = t0_min + injected_ml / flow_rate_ml_per_min if len(vols) else np.full(n, t0_min)
    mu = np.asarray(cement.viscosity(t), float)
    if len(vols):
        k_h = np.where(inv_cum[idx] > 0, vol_in_cum[idx] / np.maximum(inv_cum[idx], 1e-300), np.inf)
        bone = np.where(np.isfinite(k_h),
                        bone_pressure_MPa(mu, q, np.where(np.isfinite(k_h), k_h, 1.0),
                                          bulk_cum[idx] / max(n_needles, 1)), 0.0)
    else:
        bone = np.zeros(n)
    return PressureHistory(t, np.asarray(cannula_pressure_MPa(mu, q, cannula), float) * np.ones(n),
                           np.asarray(bone, float))
