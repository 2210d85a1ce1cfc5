"""Lytic metastasis before and after cement
========================================

A lytic metastasis of L2 with and without destruction of the posterior wall:
stiffness of the body, and where the cement of a vertebroplasty goes.

L2 between PMMA caps (posterior elements kept, for the transpedicular needles), vBMD
70 mg/cm^3, a posterior lytic lesion of 20 % of the body volume.  Five cases: intact
(the baseline), the lesion with the posterior wall intact or destroyed, and each
lesion treated with 5 mL of a low-viscosity cement (calcium phosphate, injected at the
start of its working window) -- thin cement finds a breach if there is one.
A destroyed posterior wall lowers the stiffness and opens a path into the spinal canal.

Run:  python examples/lytic_metastasis.py [--small]   (writes lytic_metastasis_out/)
"""
from __future__ import annotations

import sys

from biomech.runner import run_study
from biomech.study import study_from_dict

LESION = {"kind": "metastasis", "level": "L2", "lesion": "lytic", "location": "posterior",
          "size_percent": 20.0}
TREATMENT = {"kind": "vertebroplasty", "level": "L2", "approach": "bipedicular",
             "volume_ml": 5.0, "tip_depth": 0.5, "cement": "calcium_phosphate"}


def study(voxel_size_mm: float, pictures: bool):
    return study_from_dict({
        "study": {"name": "lytic_metastasis", "baseline": "intact"},
        "model": {"kind": "vertebra_with_caps", "level": "L2", "posterior_elements": True,
                  "voxel_size_mm": voxel_size_mm, "bone": {"vbmd_mg_cm3": 70.0}},
        "load_cases": ["compression", "flexion"],
        "cases": [
            {"name": "intact"},
            {"name": "lesion_wall_intact", "conditions": [LESION]},
            {"name": "lesion_wall_destroyed",
             "conditions": [dict(LESION, posterior_wall_destroyed=True)]},
            {"name": "vp_wall_intact", "extends": "lesion_wall_intact", "treatment": TREATMENT},
            {"name": "vp_wall_destroyed", "extends": "lesion_wall_destroyed",
             "treatment": TREATMENT},
        ],
        "outputs": {"pictures": pictures, "fields": "first" if pictures else "none",
                    "vti": pictures},
    }, origin="lytic_metastasis.py")


def main(small: bool = False, out_dir="lytic_metastasis_out"):
    """Run the five cases; returns the StudyResult (``small``: 4 mm voxels, no pictures;
    2 mm else)."""
    h = 4.0 if small else 2.0
    result = run_study(study(h, pictures=not small), out_dir)
    print(f"L2 between caps, {h:g} mm voxels, vBMD 70 mg/cm3, posterior lytic lesion 20 %")
    for r in result.rows:
        if r["load_case"] != "compression":
            continue
        print(f"  {r['case']:22s} stiffness {r['stiffness_N_per_mm']:7.0f} N/mm "
              f"(x{r['stiffness_N_per_mm_ratio']:.2f} intact); cement {r['cement_volume_ml']:.2f} mL; "
              f"leak: canal {r['leak_volume_ml_spinal_canal']:.2f}, venous "
              f"{r['leak_volume_ml_venous']:.2f} mL")
    return result


if __name__ == "__main__":
    main(small="--small" in sys.argv)
