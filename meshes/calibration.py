"""CT calibration: Hounsfield units -> equivalent mineral density [mg/cm^3].

Phantom (linear) and phantomless internal calibrations.  The density-modulus laws that
turn the density into a modulus are physics and live in :mod:`biomech.materials.density_laws`.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from biomech.errors import InputError


# ---------------------------------------------------------------------------- calibration
#: Accepted phantom calibration slope [mg/cm^3 per HU] and intercept [mg/cm^3] (the study
#: schema reads them from here).
SLOPE_RANGE_MG_CM3_PER_HU = (0.05, 5.0)
INTERCEPT_RANGE_MG_CM3 = (-500.0, 500.0)


@dataclass(frozen=True)
class LinearCalibration:
    """Phantom calibration: rho_eq [mg/cm^3] = slope * HU + intercept.

    slope_mg_cm3_per_HU, intercept_mg_cm3 : from a K2HPO4 or hydroxyapatite
    phantom scanned with the patient (linear up to ~1750 mg/cm^3, Crookshank
    2014); ``material`` names the equivalent ('k2hpo4' or 'ha')."""

    slope_mg_cm3_per_HU: float
    intercept_mg_cm3: float
    material: str = "k2hpo4"
    source: str = ""

    def __post_init__(self):
        lo, hi = SLOPE_RANGE_MG_CM3_PER_HU
        if not (math.isfinite(self.slope_mg_cm3_per_HU) and lo <= self.slope_mg_cm3_per_HU <= hi):
            raise InputError(f"calibration slope must lie in [{lo:g}, {hi:g}] mg/cm^3 per HU, got "
                             f"{self.slope_mg_cm3_per_HU!r} (a slope in g/cm^3 per HU?)")
        lo, hi = INTERCEPT_RANGE_MG_CM3
        if not (math.isfinite(self.intercept_mg_cm3) and lo <= self.intercept_mg_cm3 <= hi):
            raise InputError(f"calibration intercept must lie in [{lo:g}, {hi:g}] mg/cm^3, got "
                             f"{self.intercept_mg_cm3!r}")

    def density_mg_cm3(self, hu) -> np.ndarray:
        return self.slope_mg_cm3_per_HU * np.asarray(hu, float) + self.intercept_mg_cm3

    def density_g_cm3(self, hu) -> np.ndarray:
        return 1e-3 * self.density_mg_cm3(hu)


@dataclass(frozen=True)
class InternalCalibration:
    """Phantomless internal calibration as written by Bonelab's Ogo
    (``ogoImageCalibration``; the verse004 ``calibration_files``):

    mass attenuation  mu/rho(HU) = a_mu * HU + b_mu            [cm^2/g]
    material density  rho_m(HU)  = a_rho * HU + b_rho          [g/cm^3]
    K2HPO4 density    rho_K [mg/cm^3] = 1000 rho_m (mu/rho - mu/rho_trig)
                                               / (mu/rho_K2HPO4 - mu/rho_trig)
    (two-component model K2HPO4 + triglyceride, Ogo ``applyInternalCalibration``).
    The log prints the slopes to 6 decimals, so a_mu carries ~3 % rounding."""

    hu_to_mass_attenuation_slope: float
    hu_to_mass_attenuation_intercept: float
    hu_to_density_slope: float
    hu_to_density_intercept: float
    k2hpo4_mass_attenuation: float
    triglyceride_mass_attenuation: float
    effective_energy_keV: float = float("nan")
    source: str = ""

    def density_mg_cm3(self, hu) -> np.ndarray:
        hu = np.asarray(hu, float)
        mu = self.hu_to_mass_attenuation_slope * hu + self.hu_to_mass_attenuation_intercept
        rho_m = self.hu_to_density_slope * hu + self.hu_to_density_intercept
        return 1000.0 * rho_m * (mu - self.triglyceride_mass_attenuation) / (
            self.k2hpo4_mass_attenuation - self.triglyceride_mass_attenuation)

    def density_g_cm3(self, hu) -> np.ndarray:
        return 1e-3 * self.density_mg_cm3(hu)


_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def read_calibration_file(path) -> InternalCalibration:
    """Parse an Ogo internal-calibration log (e.g. verse004's
    ``calibration_files/sub-verse004_0000.txt``).  A file that is not a small text file,
    a missing line or a value that is not a finite number is an InputError naming the
    file and the line."""
    from biomech.io.files import FileReadError, read_text_file
    path = Path(path)
    try:
        text = read_text_file(path, what="calibration log", max_bytes=16 * 2**20)
    except FileReadError as exc:
        raise InputError(f"calibration file {exc}") from None

    def value(label, after=None):
        start = text.index(after) if after and after in text else 0
        m = re.search(r"^\s*" + re.escape(label) + r"\s+(\S+)", text[start:], re.M)
        if not m:
            raise InputError(f"calibration file {path}: no {label!r} line; is it an Ogo "
                             "internal-calibration log?")
        token = m.group(1)
        if not re.fullmatch(_NUMBER, token) or not math.isfinite(float(token)):
            raise InputError(f"calibration file {path}: the {label!r} line holds {token[:40]!r}, "
                             "not a finite number")
        return float(token)
    energy = re.search(r"Energy \[keV\]:\s*(" + _NUMBER + ")", text)
    cal = InternalCalibration(
        value("HU-u/p Slope"), value("HU-u/p Y-Intercept"),
        value("HU-Material Density Slope"), value("HU-Material Density Y-Intercept"),
        value("K2HPO4"), value("Triglyceride"),
        float(energy.group(1)) if energy else float("nan"), source=str(path))
    if cal.k2hpo4_mass_attenuation == cal.triglyceride_mass_attenuation:
        raise InputError(f"calibration file {path}: the K2HPO4 and triglyceride mass "
                         "attenuations are equal; the two-component model needs them to differ")
    return cal
