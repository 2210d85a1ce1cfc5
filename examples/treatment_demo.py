"""Vertebroplasty and kyphoplasty on one model
===========================================

Vertebroplasty and balloon kyphoplasty on one vertebra: cement volumes and leaks.

Builds the parametric L2 (biomech.meshes), makes it osteoporotic (vBMD 70 mg/cm^3) with a
posterior lytic metastasis that destroyed the posterior wall, then treats copies of it
with a bipedicular vertebroplasty and a bipedicular balloon kyphoplasty of the same cement
volume, with standard PMMA and with a (thinner) calcium phosphate cement, and a grade-2
wedge fracture with kyphoplasty restoring half the lost height.
Prints, for each treatment, the injected, placed and leaked volumes (by site) and the fill
fraction.  Run:  python examples/treatment_demo.py  [--small]
"""
from __future__ import annotations

import sys

from biomech.conditions import BoneDensity, Metastasis, OsteoporoticFracture, apply_conditions
from biomech.meshes.vertebra import build_vertebra
from biomech.treatments import kyphoplasty, vertebroplasty


def report(title, res):
    leaks = ", ".join(f"{k} {v:.2f}" for k, v in res.leaked_ml_by_site.items())
    print(f"{title:42s} injected {res.injected_ml:5.2f} mL  placed {res.placed_ml:5.2f} mL  "
          f"leaked {res.leaked_ml:4.2f} mL ({leaks})  fill {100 * res.fill_fraction:4.1f} %"
          + (f"  height restored {res.height_restored_mm:.1f} mm" if res.height_restored_mm else ""))


def main(small: bool = False) -> dict:
    """Run the demo; returns {name: TreatmentResult}.  ``small`` uses 1.5 mm voxels."""
    h = 1.5 if small else 1.0
    healthy = build_vertebra("L2", h=h)
    lytic = apply_conditions(healthy, BoneDensity(70.0),
                             Metastasis("L2", "lytic", "posterior", size_percent=15.0,
                                        posterior_wall_destroyed=True))
    fractured = apply_conditions(healthy, BoneDensity(70.0), OsteoporoticFracture("L2", 2, "wedge"))
    volume = 5.0
    out = {}
    for cement in ("pmma", "calcium_phosphate"):
        out[f"vertebroplasty, lytic, {cement}"] = vertebroplasty(
            lytic, "L2", volume_ml=volume, tip_depth=0.5, cement=cement)
        out[f"kyphoplasty, lytic, {cement}"] = kyphoplasty(
            lytic, "L2", balloon_volume_ml=3.0, cement_volume_ml=volume, cement=cement)
    out["kyphoplasty, wedge, 50 % restored"] = kyphoplasty(fractured, "L2", balloon_volume_ml=3.0,
                                                           height_restoration=0.5)
    print(f"L2 at {h} mm voxels; {volume:g} mL of cement into the lytic vertebra, injected at "
          "the start of each cement's working window, 1 mL/min")
    for name, res in out.items():
        report(name, res)
    return out


if __name__ == "__main__":
    main(small="--small" in sys.argv)
