"""Vertebroplasty against kyphoplasty in a segment
===============================================

Vertebroplasty vs balloon kyphoplasty in an osteoporotic L1-L3 segment with a
Genant grade-2 wedge fracture of L2: stiffness of the treated level and load on the
adjacent endplates and discs, as ratios to the untreated fracture.

Shows the study API from Python: a study as a dict (the structure of a TOML study
file), :func:`biomech.runner.run_study`, the table and the per-case fields.

Run:  python examples/vp_vs_kp_segment.py [--small]   (writes vp_vs_kp_out/)
"""
from __future__ import annotations

import sys

from biomech.runner import run_study
from biomech.study import study_from_dict

FRACTURE = {"kind": "fracture", "level": "L2", "grade": 2, "shape": "wedge"}


def study_dict(voxel_size_mm: float, load_cases) -> dict:
    return {
        "study": {"name": "vp_vs_kp", "baseline": "untreated"},
        "model": {"kind": "segment", "levels": ["L1", "L2", "L3"],
                  "voxel_size_mm": voxel_size_mm, "bone": {"vbmd_mg_cm3": 70.0}},
        "load_cases": list(load_cases),
        "cases": [
            {"name": "untreated", "conditions": [FRACTURE]},
            {"name": "vertebroplasty", "extends": "untreated",
             "treatment": {"kind": "vertebroplasty", "level": "L2", "volume_ml": 4.0}},
            {"name": "kyphoplasty", "extends": "untreated",
             "treatment": {"kind": "kyphoplasty", "level": "L2", "balloon_volume_ml": 3.0,
                           "height_restoration": 0.5}},
        ],
        "outputs": {"pictures": voxel_size_mm < 4.0, "fields": "first"},
    }


def main(small: bool = False, out_dir="vp_vs_kp_out"):
    """Run the comparison; returns the StudyResult.  ``small``: 4 mm voxels and the
    compression load case only (2 mm and five load cases else; at 5 mm the wedge's tilt of
    the levels above is two voxels, too coarse for the treated level's stiffness)."""
    h = 4.0 if small else 2.0
    lcs = ["compression"] if small else ["compression", "flexion", "extension",
                                         "lateral_bending_right", "axial_rotation_left"]
    result = run_study(study_from_dict(study_dict(h, lcs), origin="vp_vs_kp_segment.py"),
                       out_dir)
    print(f"L1-L3, vBMD 70 mg/cm3, grade-2 wedge fracture of L2, {h:g} mm voxels; "
          "ratios to the untreated fracture (compression)")
    for case in ("untreated", "vertebroplasty", "kyphoplasty"):
        r = result.metrics(case, "compression")
        print(f"  {case:15s} L2 stiffness {r['stiffness_N_per_mm']:7.0f} N/mm "
              f"(x{r['stiffness_N_per_mm_ratio']:.2f}); L1 inferior endplate p95 stress "
              f"x{r['adjacent_superior_endplate_stress_MPa_p95_ratio']:.2f}; L1-L2 disc "
              f"pressure x{r['adjacent_superior_disc_pressure_MPa_ratio']:.2f}; cement "
              f"{r['cement_volume_ml']:.2f} mL")
    fields = result.case_fields("kyphoplasty")
    print(f"  kyphoplasty: peak von Mises {fields.cell_fields['von_mises_MPa'].max():.2f} MPa "
          f"over {len(fields.cell_fields['von_mises_MPa'])} elements")
    return result


if __name__ == "__main__":
    main(small="--small" in sys.argv)
