"""Named density-modulus laws of trabecular bone and the density conversions they need.

Units: density rho in g/cm^3 (vBMD in mg/cm^3 = 1000 rho), modulus E in MPa.
Every law states which density it expects (``density_measure``); passing a
different measure raises MaterialError instead of silently mixing them.

>>> law = DENSITY_LAWS["morgan2003_vertebra"]
>>> law.modulus(0.15)            # MPa for an apparent density of 0.15 g/cm^3
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import MaterialError

#: Mineral-equivalent density of fully mineralised bone tissue used to convert BV/TV to a
#: QCT-equivalent density [g/cm^3] (rho_QCT ~ BV/TV * TMD).  Assumption: typical micro-CT
#: tissue mineral density ~1.0-1.1 g HA/cm^3; a proxy, not a calibration.
TISSUE_MINERAL_DENSITY_G_CM3 = 1.05

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


#: Density-modulus laws by name (the study's ``density_law``): :class:`DensityModulusLaw` objects.
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


def get_law(name) -> DensityModulusLaw:
    """The named law (a law object passes through); MaterialError lists the names when unknown."""
    if isinstance(name, DensityModulusLaw):
        return name
    if not isinstance(name, str) or name not in DENSITY_LAWS:
        raise MaterialError(f"unknown density-modulus law {name!r}; known: {sorted(DENSITY_LAWS)}")
    return DENSITY_LAWS[name]



# ---------------------------------------------------------------------------- conversions
# One registry of density-modulus laws: DENSITY_LAWS above (each law states
# the density measure it expects).  The model field ``density_g_cm3`` holds a QCT-equivalent
# (K2HPO4) density; laws on ash or apparent density get it converted with
# rho_ash = 0.0633 + 0.887 rho_QCT and rho_app = rho_ash / 0.6 (ash fraction 0.6; both
# *check*: common QCT-FE conversions, seen in secondary sources only).

#: Default law: E = 2980 rho_QCT^1.05 (Kopperdahl 2002 as implemented by the Bonelab spineFE
#: benchmark, the verse004 reference this project validates against).
DEFAULT_DENSITY_LAW = "kopperdahl2002_qct_power"


def qct_to_measure(rho_qct_g_cm3, measure: str) -> np.ndarray:
    """Convert a QCT-equivalent density [g/cm^3] to the measure a law expects."""
    rho = np.asarray(rho_qct_g_cm3, dtype=np.float64)
    if measure == "qct_k2hpo4":
        return rho
    ash = np.where(rho > 0, 0.0633 + 0.887 * rho, 0.0)
    if measure == "ash":
        return ash
    if measure == "apparent":
        return ash / 0.6
    raise MaterialError(f"no conversion from QCT density to {measure!r} density")


def modulus_from_qct(law_name: str, rho_qct_g_cm3) -> np.ndarray:
    """E [MPa] of trabecular bone at a QCT-equivalent density [g/cm^3] through a named law."""
    law = get_law(law_name)
    return law.modulus(qct_to_measure(rho_qct_g_cm3, law.density_measure))
