"""CT calibration (HU -> equivalent density) and named density-modulus laws.

Units: density rho in g/cm^3 (vBMD in mg/cm^3 = 1000 rho), modulus E in MPa.
Every law states which density it expects (``density_measure``); passing a
different measure raises MaterialError instead of silently mixing them.

>>> law = DENSITY_LAWS["morgan2003_vertebra"]
>>> law.modulus(0.15)            # MPa for an apparent density of 0.15 g/cm^3
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from biomech.errors import InputError, MaterialError

#: Floor of every law [MPa]: densities at or below zero (air, fat, noise) map
#: here instead of to zero or negative moduli (the verse004 model uses 1e-4).
MIN_MODULUS_MPA = 1e-4


@dataclass(frozen=True)
class DensityModulusLaw:
    """E [MPa] = f(rho [g/cm^3]).

    density_measure : 'apparent' (wet apparent density), 'ash', or
        'qct_k2hpo4' (QCT equivalent K2HPO4 density);
    valid_range_g_cm3 : density range of the fitted data;
    source : citation; confirmed : False where the numbers were seen only in a
        secondary source (../shared/MATERIALS.md marks them *check*)."""

    name: str
    formula: str
    function: Callable
    density_measure: str
    valid_range_g_cm3: tuple
    source: str
    confirmed: bool = True

    def modulus(self, rho_g_cm3, *, density_measure: str | None = None,
                min_modulus_MPa: float = MIN_MODULUS_MPA) -> np.ndarray:
        """E [MPa] per value of rho [g/cm^3]; values <= 0 and results below
        ``min_modulus_MPa`` give ``min_modulus_MPa``."""
        if density_measure is not None and density_measure != self.density_measure:
            raise MaterialError(
                f"law {self.name!r} expects {self.density_measure!r} density, got "
                f"{density_measure!r}; convert the density first")
        rho = np.asarray(rho_g_cm3, float)
        if rho.size and np.nanmax(rho) > 3.0:
            raise MaterialError(
                f"density up to {np.nanmax(rho):.4g} g/cm^3 given to law {self.name!r}: bone is "
                "below 2.1 g/cm^3; were mg/cm^3 passed? (divide by 1000)")
        if rho.size and np.isnan(rho).any():
            raise MaterialError(f"density passed to law {self.name!r} contains NaN")
        pos = np.clip(rho, 0.0, None)
        E = np.where(rho > 0.0, self.function(pos), min_modulus_MPa)
        return np.maximum(E, min_modulus_MPa)


def _power(a, b):
    return lambda rho: a * rho ** b


def _linear(a, b):
    return lambda rho: a + b * rho


DENSITY_LAWS = {
    "morgan2003_vertebra": DensityModulusLaw(
        "morgan2003_vertebra", "E = 4730 rho_app^1.56 (axial)", _power(4730.0, 1.56), "apparent",
        (0.11, 0.35), "Morgan EF, Bayraktar HH, Keaveny TM, J Biomech 36:897-904, 2003 "
        "(vertebral trabecular bone, on-axis)", True),
    "kopperdahl1998": DensityModulusLaw(
        "kopperdahl1998", "E = -80 + 2100 rho_app", _linear(-80.0, 2100.0), "apparent",
        (0.11, 0.27), "Kopperdahl DL, Keaveny TM, J Biomech 31:601-608, 1998 (vertebral "
        "trabecular bone; from ../shared/MATERIALS.md, *check*)", False),
    "kopperdahl2002_qct_linear": DensityModulusLaw(
        "kopperdahl2002_qct_linear", "E = -34.7 + 3230 rho_qct", _linear(-34.7, 3230.0),
        "qct_k2hpo4", (0.0, 0.3), "Kopperdahl DL, Morgan EF, Keaveny TM, J Orthop Res "
        "20:801-805, 2002 / Crawford RP et al., J Biomech 2003 (from ../shared/MATERIALS.md, "
        "*check*: attribution and density measure disputed)", False),
    "kopperdahl2002_qct_power": DensityModulusLaw(
        "kopperdahl2002_qct_power", "E = 2980 rho_qct^1.05", _power(2980.0, 1.05), "qct_k2hpo4",
        (0.0, 1.9), "Kopperdahl 2002 as implemented by the Bonelab spineFE benchmark (Walle M, "
        "Matheson BE, Boyd SK, verse004 model; ../shared/data/bonelab-verse004/README.md)", True),
    "keller1994_spine": DensityModulusLaw(
        "keller1994_spine", "E = 1890 rho_ash^1.92", _power(1890.0, 1.92), "ash", (0.05, 1.2),
        "Keller TS, J Biomech 27:1159-1168, 1994 (spine; from ../shared/MATERIALS.md, *check*)",
        False),
}
#: The law the verse004 benchmark uses (E = 2980 rho^1.05, rho QCT K2HPO4 g/cm^3).
VERSE004_LAW = "kopperdahl2002_qct_power"


def get_law(name: str) -> DensityModulusLaw:
    """The named law; InputError lists the names when unknown."""
    if isinstance(name, DensityModulusLaw):
        return name
    if name not in DENSITY_LAWS:
        raise InputError(f"unknown density-modulus law {name!r}; known: {sorted(DENSITY_LAWS)}")
    return DENSITY_LAWS[name]


# ---------------------------------------------------------------------------- calibration
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
        if not (math.isfinite(self.slope_mg_cm3_per_HU) and 0.05 <= self.slope_mg_cm3_per_HU <= 5.0):
            raise InputError(f"calibration slope must lie in [0.05, 5] mg/cm^3 per HU, got "
                             f"{self.slope_mg_cm3_per_HU!r} (a slope in g/cm^3 per HU?)")
        if not (math.isfinite(self.intercept_mg_cm3) and abs(self.intercept_mg_cm3) <= 500.0):
            raise InputError(f"calibration intercept must lie in [-500, 500] mg/cm^3, got "
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


def read_calibration_file(path) -> InternalCalibration:
    """Parse an Ogo internal-calibration log (e.g. verse004's
    ``calibration_files/sub-verse004_0000.txt``)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"calibration file {path} does not exist")
    text = path.read_text(errors="replace")

    def value(label, after=None):
        start = text.index(after) if after and after in text else 0
        m = re.search(r"^\s*" + re.escape(label) + r"\s+(-?[0-9.eE+-]+)", text[start:], re.M)
        if not m:
            raise InputError(f"calibration file {path}: no {label!r} line; is it an Ogo "
                             "internal-calibration log?")
        return float(m.group(1))
    energy = re.search(r"Energy \[keV\]:\s*([0-9.]+)", text)
    return InternalCalibration(
        value("HU-u/p Slope"), value("HU-u/p Y-Intercept"),
        value("HU-Material Density Slope"), value("HU-Material Density Y-Intercept"),
        value("K2HPO4"), value("Triglyceride"),
        float(energy.group(1)) if energy else float("nan"), source=str(path))
