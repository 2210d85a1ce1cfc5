"""Bone-cement library: formulations with modulus, density, setting time and viscosity
against time after mixing; user formulations from TOML.

A :class:`Cement` is immutable and validated on creation (``MaterialError`` for bad elastic
constants, ``InputError`` for the rest).  ``get_cement("pmma")`` returns a library cement;
``load_cements(path)`` reads user formulations::

    [cement.my_pmma]                  # one table per formulation under [cement]
    E_MPa = 2300.0                    # Young's modulus of the set cement [MPa]
    nu = 0.3                          # Poisson ratio [-]
    density_g_cm3 = 1.4               # paste density [g/cm^3]
    setting_time_min = 14.0           # no injection after this time [min after mixing]
    viscosity_time_min = [2, 4, 6, 8, 10]           # [min after mixing], increasing
    viscosity_Pa_s = [30, 60, 150, 400, 1000]       # [Pa s] at those times
    working_window_min = [3.0, 10.0]  # optional: recommended injection start [min]
    pore_fraction = 0.10              # optional: unfilled pore fraction in the composite [-]
    reference_temperature_C = 23.0    # optional: temperature of the curve and times [degC]
    cure_rate_per_C = 0.042           # optional: d ln(curing speed) / dT [1/degC]
    description = "..."               # optional
    source = "..."                    # optional

Viscosity between tabulated times is interpolated linearly in log(viscosity) (curing
PMMA thickens roughly exponentially with time); before the first time it is the first
value; after the last time it is extrapolated with the last slope, up to the setting time.

Temperature: the curve, setting time and working window hold at
``reference_temperature_C`` (23 degC: operating-room temperature, assumption for the
library curves).  At another temperature T the curing clock runs
``exp(cure_rate_per_C (T - T_ref))`` times faster (:meth:`Cement.at_temperature`):
every time of the formulation is divided by that factor.  ``cure_rate_per_C`` = 0.042 /degC
from Koh et al. (J Orthop Surg Res 10:178, 2015): SmartSet HV stored at 28 instead of 20
degC and mixed after 15 min set in 381 +/- 8 s instead of 534 +/- 17 s, ln(534/381)/8 =
0.042 (the storage temperature stands in for the mixing temperature: an upper bound of the
temperature difference, so a lower bound of the rate).

Library values and their sources
--------------------------------
* ``pmma`` -- standard vertebroplasty PMMA.  E = 1937 +/- 478 MPa measured to ISO 5833
  (Eur Spine J 2013, PMC3698342); nu 0.3.
* ``pmma_low_modulus`` -- serum-modified PMMA, E = 954 +/- 141 MPa (same study, 8 mL serum
  added to the standard base, 51 % stiffness reduction).
* ``pmma_high_viscosity`` -- a high-viscosity PMMA (doughy from the start of injection);
  modulus as standard PMMA.
* ``calcium_phosphate`` -- apatite calcium phosphate cement, E = 13.5 +/- 1.6 GPa, nu 0.21
  measured with digital image correlation (Ajaxon et al., J Mech Behav Biomed Mater 74:428,
  2017; crosshead-based measurements underestimated the modulus by up to 62 %; brushite
  24.3 GPa, monetite 7.1 GPa in the same study).
* Viscosity curves: the shape (viscosity rising roughly exponentially with time after mixing,
  high-viscosity cements starting an order of magnitude higher) follows the reviews of
  Lewis (J Biomed Mater Res B 98B:171, 2011) and the rheometry of Trivedi et al.
  (arXiv:2312.11426, 2023); the tabulated numbers are REPRESENTATIVE values, not one
  product's data sheet (*check*; replace them with measured curves through TOML).  The
  leak trend they produce (later injection and high-viscosity cement leak less) is the one
  measured by Habib, Serhan, Marchek & Baroud (Int J Spine Surg 4:26, 2010) and Baroud et
  al. (Spine 31:2562, 2006).
* Densities: PMMA 1.18 g/cm^3 plus ~35 wt% radiopacifier -> 1.45 g/cm^3 (assumption);
  apatite CPC paste 2.0 g/cm^3 (assumption).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import ClassVar
from pathlib import Path
from types import MappingProxyType

import numpy as np

from .describe import Described, param, required_keys, study_fields
from .errors import InputError, MaterialError
from .io.files import read_toml
from .validation import CASE_NAME, Str

log = logging.getLogger(__name__)

#: Free text of a cement (description, source): at most 2000 characters, no control
#: characters, and not starting like a spreadsheet formula (= + - @).
PLAIN_TEXT = re.compile(r"^(?![=+\-@])[^\x00-\x08\x0b-\x1f\x7f]{0,2000}$")
PLAIN_TEXT_WHAT = ("plain text of at most 2000 characters, without control characters and "
                   "not starting with = + - or @ (a spreadsheet would run it as a formula)")


@dataclass(frozen=True)
class Cement(Described):
    """A cement formulation.

    E_MPa [MPa], nu [-]: elastic constants of the set cement.
    density_g_cm3 [g/cm^3]: paste density (leak mass = volume * density).
    setting_time_min [min after mixing]: injection must end before it.
    viscosity_time_min (n,) [min after mixing], viscosity_Pa_s (n,) [Pa s]: curing curve.
    working_window_min (2,) [min]: recommended injection start (earliest, latest);
    the default injection time is its start.
    pore_fraction [-]: unfilled pore fraction of the cement-bone composite it forms.
    """

    name: str = param(spec=Str(pattern=CASE_NAME, what="letters, digits, _.+-"))
    E_MPa: float = param(unit="MPa", range=(1.0, 100000.0), doc="Young's modulus, set cement")
    nu: float = param(range=(-1.0, 0.5), lo_open=True, hi_open=True, doc="Poisson ratio")
    density_g_cm3: float = param(unit="g/cm3", range=(0.5, 5.0),
                                 doc="paste density")
    setting_time_min: float = param(unit="min after mixing", range=(0.0, 240.0), lo_open=True,
                                    doc="no injection after this time")
    viscosity_time_min: tuple = param(unit="min after mixing", range=(0.0, 240.0), min_len=2,
                                      doc="times of the viscosity curve")
    viscosity_Pa_s: tuple = param(unit="Pa s", range=(0.0, None), lo_open=True, min_len=2,
                                  doc="viscosity at those times")
    working_window_min: tuple | None = param(None, unit="min after mixing", range=(0.0, 240.0),
                                             min_len=2, doc="recommended injection start")
    pore_fraction: float = param(0.10, range=(0.0, 1.0), hi_open=True,
                                 doc="unfilled pore fraction of the composite")
    reference_temperature_C: float = param(23.0, unit="degC", range=(0.0, 60.0),
                                           doc="temperature of the curve and times")
    cure_rate_per_C: float = param(0.042, unit="1/degC", range=(0.0, 0.5),
                                   doc="d ln(curing speed) / dT (Koh et al. 2015)")
    description: str = param("", spec=lambda: Str(pattern=PLAIN_TEXT, what=PLAIN_TEXT_WHAT))
    source: str = param("", spec=lambda: Str(pattern=PLAIN_TEXT, what=PLAIN_TEXT_WHAT))

    KIND: ClassVar[str] = "cement"

    def __post_init__(self):
        """Each field's range is checked once, from its declaration (:meth:`validate`);
        here only what relates fields: the curve's length and order, the window."""
        where = f"cement {self.name!r}"
        for k in ("viscosity_time_min", "viscosity_Pa_s", "working_window_min"):
            v = getattr(self, k)
            if isinstance(v, list):
                object.__setattr__(self, k, tuple(v))
        try:
            self.validate()
        except InputError as exc:
            raise InputError(f"{where}: {str(exc).split(': ', 1)[-1]}") from None
        t, v = [float(x) for x in self.viscosity_time_min], [float(x) for x in self.viscosity_Pa_s]
        if len(t) != len(v):
            raise InputError(f"{where}: viscosity_time_min and viscosity_Pa_s must have the same "
                             f"length >= 2, got {len(t)} and {len(v)}")
        if any(b <= a for a, b in zip(t, t[1:])):
            raise InputError(f"{where}: viscosity_time_min must be strictly increasing, got {t}")
        if any(b < a for a, b in zip(v, v[1:])):
            log.warning("%s: viscosity decreases with time somewhere in %s (curing cement "
                        "usually thickens); using the data as given", where, v)
        object.__setattr__(self, "viscosity_time_min", tuple(t))
        object.__setattr__(self, "viscosity_Pa_s", tuple(v))
        if self.working_window_min is not None:
            w = [float(x) for x in self.working_window_min]
            if len(w) != 2 or not (w[0] <= w[1] < self.setting_time_min):
                raise InputError(f"{where}: working_window_min must be [earliest, latest] with "
                                 f"0 <= earliest <= latest < setting_time_min="
                                 f"{self.setting_time_min}, got {w}")
            object.__setattr__(self, "working_window_min", tuple(w))

    @property
    def default_injection_time_min(self) -> float:
        """Start of the working window, else the first tabulated viscosity time [min]."""
        if self.working_window_min is not None:
            return self.working_window_min[0]
        return self.viscosity_time_min[0]

    def viscosity(self, time_min):
        """Viscosity [Pa s] at ``time_min`` [min after mixing] (scalar or array).

        Raises InputError at or after the setting time, or for a negative time."""
        t = np.asarray(time_min, dtype=np.float64)
        if np.any(~np.isfinite(t)) or np.any(t < 0):
            raise InputError(f"cement {self.name!r}: time after mixing must be >= 0 min, got {time_min!r}")
        if np.any(t >= self.setting_time_min):
            raise InputError(f"cement {self.name!r} sets at {self.setting_time_min:g} min after mixing; "
                             f"it cannot flow at t = {float(np.max(t)):g} min")
        tt = np.asarray(self.viscosity_time_min)
        lv = np.log(np.asarray(self.viscosity_Pa_s))
        out = np.interp(t, tt, lv)
        slope = (lv[-1] - lv[-2]) / (tt[-1] - tt[-2])
        out = np.where(t > tt[-1], lv[-1] + slope * (t - tt[-1]), out)
        res = np.exp(out)
        return float(res) if res.ndim == 0 else res

    def at_temperature(self, temperature_C: float | None) -> "Cement":
        """The formulation at ``temperature_C`` [degC] (None: as given): every time
        (viscosity curve, setting time, working window) divided by
        ``exp(cure_rate_per_C * (T - reference_temperature_C))``."""
        if temperature_C is None or float(temperature_C) == self.reference_temperature_C:
            return self
        T = float(temperature_C)
        if not (0.0 <= T <= 60.0) or not np.isfinite(T):
            raise InputError(f"cement {self.name!r}: temperature_C must lie in [0, 60] degC, "
                             f"got {temperature_C!r}")
        f = float(np.exp(self.cure_rate_per_C * (T - self.reference_temperature_C)))
        w = None if self.working_window_min is None else tuple(x / f for x in self.working_window_min)
        return self.with_changes(viscosity_time_min=tuple(x / f for x in self.viscosity_time_min),
                                 setting_time_min=self.setting_time_min / f,
                                 working_window_min=w, reference_temperature_C=T)

    def with_changes(self, **changes) -> "Cement":
        """A validated copy with some fields changed (e.g. ``E_MPa=2500``)."""
        import dataclasses
        return dataclasses.replace(self, **changes)


#: Fields of a formulation file table (from the Cement fields; the name is the table's).
_REQUIRED = tuple(k for k in required_keys(Cement) if k != "name")
_OPTIONAL = tuple(k for k in study_fields(Cement) if k not in _REQUIRED and k != "name")


_T_PMMA = (2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0, 12.0)

PMMA = Cement(
    "pmma", E_MPa=1937.0, nu=0.3, density_g_cm3=1.45, setting_time_min=14.0,
    viscosity_time_min=_T_PMMA,
    viscosity_Pa_s=(20.0, 35.0, 60.0, 100.0, 170.0, 290.0, 500.0, 1400.0, 4000.0),
    working_window_min=(3.0, 10.0), pore_fraction=0.10,
    description="standard vertebroplasty PMMA",
    source="E: Eur Spine J 2013 (PMC3698342), ISO 5833; viscosity: representative curve (*check*)")

PMMA_LOW_MODULUS = Cement(
    "pmma_low_modulus", E_MPa=954.0, nu=0.3, density_g_cm3=1.40, setting_time_min=16.0,
    viscosity_time_min=_T_PMMA,
    viscosity_Pa_s=(12.0, 20.0, 35.0, 60.0, 100.0, 170.0, 290.0, 850.0, 2500.0),
    working_window_min=(3.0, 12.0), pore_fraction=0.10,
    description="serum-modified low-modulus PMMA",
    source="E: Eur Spine J 2013 (PMC3698342), 954 +/- 141 MPa; viscosity: representative (*check*)")

PMMA_HIGH_VISCOSITY = Cement(
    "pmma_high_viscosity", E_MPa=1937.0, nu=0.3, density_g_cm3=1.45, setting_time_min=15.0,
    viscosity_time_min=(2.0, 3.0, 4.0, 6.0, 8.0, 10.0, 12.0),
    viscosity_Pa_s=(250.0, 320.0, 420.0, 700.0, 1200.0, 2200.0, 4000.0),
    working_window_min=(2.0, 11.0), pore_fraction=0.10,
    description="high-viscosity PMMA (doughy at the start of injection)",
    source="E as standard PMMA; viscosity: representative (*check*); leak trend: Habib et al., "
           "Int J Spine Surg 4:26, 2010")

CALCIUM_PHOSPHATE = Cement(
    "calcium_phosphate", E_MPa=13500.0, nu=0.21, density_g_cm3=2.0, setting_time_min=15.0,
    viscosity_time_min=(2.0, 4.0, 6.0, 8.0, 10.0, 12.0),
    viscosity_Pa_s=(10.0, 15.0, 25.0, 45.0, 80.0, 150.0),
    working_window_min=(2.0, 8.0), pore_fraction=0.10,
    description="apatite calcium phosphate cement (set, hardened)",
    source="E, nu: Ajaxon et al., J Mech Behav Biomed Mater 74:428, 2017 (apatite, DIC); "
           "viscosity: representative (*check*)")

#: The built-in library (name -> Cement).
CEMENTS = MappingProxyType({c.name: c for c in (PMMA, PMMA_LOW_MODULUS, PMMA_HIGH_VISCOSITY,
                                                 CALCIUM_PHOSPHATE)})


def get_cement(cement, library=None) -> Cement:
    """A Cement from a name (library, then ``library`` mapping) or a Cement itself."""
    if isinstance(cement, Cement):
        return cement
    lib = dict(CEMENTS)
    if library:
        lib.update(library)
    if isinstance(cement, str) and cement in lib:
        return lib[cement]
    raise InputError(f"unknown cement {cement!r}; known cements: {sorted(lib)} "
                     "(or load your own with biomech.cement.load_cements)")


def cements_from_dict(data: dict, origin: str = "<dict>") -> dict:
    """Validated Cements from a mapping {"cement": {name: {field: value}}}."""
    table = data.get("cement")
    if not isinstance(table, dict) or not table:
        raise InputError(f"{origin}: expected a [cement.<name>] table with at least one "
                         f"formulation, found top-level keys {sorted(data)}")
    out = {}
    for name, spec in table.items():
        where = f"{origin}: [cement.{name}]"
        if not isinstance(spec, dict):
            raise InputError(f"{where} must be a table of fields, got {type(spec).__name__}")
        missing = [k for k in _REQUIRED if k not in spec]
        if missing:
            raise InputError(f"{where} is missing {missing}; required: {list(_REQUIRED)}")
        unknown = sorted(set(spec) - set(_REQUIRED) - set(_OPTIONAL))
        if unknown:
            raise InputError(f"{where} has unknown field(s) {unknown}; allowed: "
                             f"{list(_REQUIRED) + list(_OPTIONAL)}")
        for key in ("E_MPa", "nu", "density_g_cm3", "setting_time_min", "pore_fraction",
                    "reference_temperature_C", "cure_rate_per_C"):
            if key in spec and (isinstance(spec[key], bool) or not isinstance(spec[key], (int, float))):
                raise InputError(f"{where}: {key} must be a number, got {spec[key]!r}")
        try:
            out[name] = Cement(name=name, **{k: spec[k] for k in spec})
        except (InputError, MaterialError) as exc:
            raise type(exc)(f"{where}: {exc}") from None
    return out


def load_cements(path) -> dict:
    """User formulations from a TOML file -> {name: Cement}, validated with clear errors."""
    p = Path(path)
    data, _ = read_toml(p, what="cement file")
    return cements_from_dict(data, origin=str(p))


def example_cement_file() -> Path:
    """Path of the example formulation file shipped in biomech/data/cements.toml."""
    return Path(__file__).resolve().parent / "data" / "cements.toml"
