"""Cement formulations against leak risk
======================================

For cement makers: how a formulation's viscosity-time curve and the surgeon's injection time
set the leak probability, the fill and the injection pressure.

Reads the formulations of ``examples/cement_formulations.toml`` (TOML, validated by
:func:`biomech.cement.load_cements`: a missing field, a non-increasing time, a window past
the setting time each give an InputError naming the table and the field), treats an
osteoporotic L2 (vBMD 70 mg/cm^3) with a grade-2 wedge fracture by a bipedicular 4 mL
vertebroplasty at 1 mL/min, and sweeps, per formulation, the injection start across its
working window and a scale of its whole viscosity curve (x0.5, x1, x2: what a thinner or a
thicker recipe would do), then the cement temperature (18, 23, 28 degC: the curing clock
runs exp(0.042 (T - 23)) times faster, Koh et al. 2015) for an injection started at the same
time after mixing.  Prints leak probability (any site,
with its Wilson 95 % interval), the expected leaked volume, the fill fraction and the peak
injection pressure.
Run:  python examples/cement_formulations.py  [--small]
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from biomech.cement import load_cements
from biomech.conditions import BoneDensity, OsteoporoticFracture, apply_conditions
from biomech.meshes.vertebra import build_vertebra
from biomech.treatments import vertebroplasty
from biomech.treatments.leak_risk import LeakRiskParameters

FORMULATIONS = Path(__file__).with_suffix(".toml")
SCALES = (0.5, 1.0, 2.0)
TEMPERATURES_C = (18.0, 23.0, 28.0)


def main(small: bool = False) -> list:
    """Run the sweeps; returns one dict per (cement, injection time, viscosity scale) and
    per (cement, temperature) (those have ``temperature_C``).
    ``small``: 3 mm voxels and 24 realisations (else 2 mm and 64)."""
    h, n = (3.0, 24) if small else (2.0, 64)
    cements = load_cements(FORMULATIONS)
    model = apply_conditions(build_vertebra("L2", h=h), BoneDensity(70.0),
                             OsteoporoticFracture("L2", 2, "wedge"))
    risk = LeakRiskParameters(realisations=n, seed=1)
    rows = []
    print(f"L2, vBMD 70 mg/cm^3, grade-2 wedge fracture; bipedicular 4 mL at 1 mL/min; "
          f"{n} realisations per row, {h:g} mm voxels")
    print(f"{'cement':22s} {'start':>6s} {'x visc':>6s} {'visc [Pa s]':>12s} {'P(leak)':>8s} "
          f"{'95 % CI':>12s} {'E[leak] mL':>10s} {'fill':>6s} {'peak MPa':>8s}")
    for name, cem in cements.items():
        lo, hi = cem.working_window_min
        latest = min(hi, cem.setting_time_min - 4.0 - 0.5)          # the 4 mL must end in time
        for t0 in np.linspace(lo, latest, 3):
            for sc in SCALES:
                c = cem.with_changes(name=f"{name}_x{sc:g}",
                                     viscosity_Pa_s=tuple(v * sc for v in cem.viscosity_Pa_s))
                res = vertebroplasty(model, "L2", volume_ml=4.0, cement=c,
                                     injection_time_min=float(t0), leak_risk=risk)
                k = res.leak_risk
                row = {"cement": name, "injection_time_min": float(t0), "viscosity_scale": sc,
                       "viscosity_start_Pa_s": res.viscosity_start_Pa_s, "p_leak": k.p_any,
                       "ci": k.ci_any, "expected_leak_ml": k.expected_leak_ml,
                       "fill_fraction": k.fill_fraction_mean,
                       "peak_pressure_MPa": k.peak_pressure_MPa_mean, "p_site": k.p_site}
                rows.append(row)
                print(f"{name:22s} {t0:6.1f} {sc:6.1f} {res.viscosity_start_Pa_s:12.0f} "
                      f"{k.p_any:8.2f} [{k.ci_any[0]:.2f}, {k.ci_any[1]:.2f}] "
                      f"{k.expected_leak_ml:10.3f} {k.fill_fraction_mean:6.3f} "
                      f"{k.peak_pressure_MPa_mean:8.2f}")
    print("temperature: injected at the start of the working window at 23 degC (the clock a "
          "protocol gives), curve x1:")
    for name, cem in cements.items():
        for T in TEMPERATURES_C:
            res = vertebroplasty(model, "L2", volume_ml=4.0, cement=cem, cement_temperature_C=T,
                                 injection_time_min=cem.working_window_min[0], leak_risk=risk)
            k = res.leak_risk
            rows.append({"cement": name, "temperature_C": T, "p_leak": k.p_any,
                         "expected_leak_ml": k.expected_leak_ml,
                         "injection_time_min": res.injection_time_min,
                         "peak_pressure_MPa": k.peak_pressure_MPa_mean})
            print(f"{name:22s} {T:4.0f} degC  start {res.injection_time_min:4.1f} min  "
                  f"P(leak) {k.p_any:4.2f} [{k.ci_any[0]:.2f}, {k.ci_any[1]:.2f}]  "
                  f"E[leak] {k.expected_leak_ml:6.3f} mL  peak {k.peak_pressure_MPa_mean:5.2f} MPa")
    return rows


if __name__ == "__main__":
    main(small="--small" in sys.argv)
