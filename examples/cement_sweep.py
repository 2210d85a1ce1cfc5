"""Cement formulation sweep
========================

A cement maker's formulation sweep (modulus x volume) against standard PMMA.

Runs examples/cement_sweep.toml: vertebroplasty of a grade-1 wedge fracture of L2 in an
osteoporotic L1-L3 segment with standard PMMA (2, 4, 6 mL) and with the maker's
formulation "acme_bone_cement" at three moduli and three volumes; prints the stiffness
of L2 and the 95th-percentile stress on the adjacent (L1 inferior) endplate as ratios to
the untreated fracture.

``small`` keeps the study file but edits it before validation (as a script may): a
single L2 body between PMMA caps at 4 mm voxels, compression only, two moduli and two
volumes -- a quick check that the pipeline and the trend work.

Run:  python examples/cement_sweep.py [--small]   (writes cement_sweep_out/)
"""
from __future__ import annotations

import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:        # Python 3.10: the tomli backport (a biomech dependency there)
    import tomli as tomllib

from biomech.runner import run_study
from biomech.study import load_study, study_from_dict

STUDY_FILE = Path(__file__).with_name("cement_sweep.toml")


def small_study():
    """The study file, shrunk: caps model at 4 mm, compression, a 2 x 2 grid."""
    data = tomllib.loads(STUDY_FILE.read_text())
    data["model"] = {"kind": "vertebra_with_caps", "level": "L2", "posterior_elements": True,
                     "voxel_size_mm": 4.0, "bone": {"vbmd_mg_cm3": 70.0}}
    data["load_cases"] = ["compression"]
    data["sweeps"][0]["grid"] = {"treatment.volume_ml": [1.5, 3.0]}
    data["sweeps"][1]["grid"] = {"treatment.cement.E_MPa": [1000.0, 5000.0],
                                 "treatment.volume_ml": [1.5, 3.0]}
    data["outputs"] = {"fields": "none", "pictures": False, "vti": False}
    return study_from_dict(data, origin=f"{STUDY_FILE.name} (small)",
                           base_dir=STUDY_FILE.parent)


def main(small: bool = False, out_dir="cement_sweep_out"):
    """Run the sweep; returns the StudyResult."""
    study = small_study() if small else load_study(STUDY_FILE)
    result = run_study(study, out_dir, executor="inprocess" if small else "processes")
    print(f"{study.name}: {len(study.cases)} cases, ratios to '{study.baseline}' (compression)")
    print(f"  {'case':28s} {'cement':28s} {'E [MPa]':>8s} {'V [mL]':>6s} {'stiffness x':>11s} "
          f"{'adj. endplate p95 x':>19s} {'leak [mL]':>9s}")
    for r in result.rows:
        if r["load_case"] != "compression" or r["case"] == study.baseline:
            continue
        if r["status"] != "ok":
            print(f"  {r['case']:28s} failed: {r['error']}")
            continue
        adj = r.get("adjacent_superior_endplate_stress_MPa_p95_ratio")
        print(f"  {r['case']:28s} {r['cement']:28s} {r['cement_E_MPa']:8.0f} "
              f"{r['injected_ml']:6.1f} {r['stiffness_N_per_mm_ratio']:11.3f} "
              f"{adj if adj is not None else float('nan'):19.3f} {r['leak_volume_ml']:9.2f}")
    return result


if __name__ == "__main__":
    main(small="--small" in sys.argv)
