"""The built-in demo study: an osteoporotic L1-L3 segment with a Genant grade-2 wedge
compression fracture of L2, untreated (the baseline) vs bipedicular vertebroplasty
(4 mL PMMA) vs bipedicular balloon kyphoplasty (3 mL balloons, half the lost height
restored, PMMA), plus an L2 lytic metastasis (posterior, 20 % of the body, posterior
wall destroyed), under the default load cases (500 N compression; 7.5 N m flexion,
extension, right lateral bending, left axial rotation).

    from biomech.demo import run_demo, summary_table
    result = run_demo("demo_out")          # results.csv, summary.json, VTI, pictures, report
    print(summary_table(result))

Bone: trabecular vBMD 70 mg/cm^3, osteoporotic by the ACR QCT category (< 80 mg/cm^3),
with the cortical thinning of :class:`biomech.conditions.BoneDensity`.
The ratios of the lytic case are to the fractured baseline although the lytic case has
no fracture: it differs in two things, and the report and :func:`summary_table` say so
(a comparison of two conditions, not of one change); vertebroplasty and kyphoplasty each
add one treatment to the baseline.
examples/study_default.toml is the same study as a commented TOML file
(tests/test_cli.py checks that both give the same case hashes).
"""
from __future__ import annotations

import math

from .study import Study, study_from_dict

#: Voxel size of the demo [mm]: 2 mm (85k DOF per case) runs the four cases in ~30 s
#: on two cores (a study file sets its own; 1 mm resolves the cortical shell better,
#: ~50 s per case).
DEMO_VOXEL_SIZE_MM = 2.0

#: The demo study as the dict a TOML study file would give.
DEMO_STUDY = {
    "study": {"name": "demo", "baseline": "untreated",
              "description": "Osteoporotic L1-L3 segment, grade-2 wedge fracture of L2: "
                             "untreated vs vertebroplasty vs balloon kyphoplasty (PMMA), plus "
                             "a lytic metastasis of L2."},
    "model": {"kind": "segment", "levels": ["L1", "L2", "L3"],
              "voxel_size_mm": DEMO_VOXEL_SIZE_MM, "bone": {"vbmd_mg_cm3": 70.0}},
    "load_cases": ["compression", "flexion", "extension", "lateral_bending_right",
                   "axial_rotation_left"],
    "cases": [
        {"name": "untreated", "description": "grade-2 wedge fracture of L2, no treatment",
         "conditions": [{"kind": "fracture", "level": "L2", "grade": 2, "shape": "wedge"}]},
        {"name": "vertebroplasty", "extends": "untreated",
         "description": "bipedicular vertebroplasty, 4 mL PMMA",
         "treatment": {"kind": "vertebroplasty", "level": "L2", "approach": "bipedicular",
                       "volume_ml": 4.0, "cement": "pmma"}},
        {"name": "kyphoplasty", "extends": "untreated",
         "description": "bipedicular balloon kyphoplasty, 3 mL balloons, 50 % height "
                        "restored, PMMA filling the cavity",
         "treatment": {"kind": "kyphoplasty", "level": "L2", "approach": "bipedicular",
                       "balloon_volume_ml": 3.0, "height_restoration": 0.5,
                       "cement": "pmma"}},
        {"name": "lytic_metastasis",
         "description": "posterior lytic metastasis of L2 (20 % of the body), posterior "
                        "wall destroyed, untreated",
         "conditions": [{"kind": "metastasis", "level": "L2", "lesion": "lytic",
                         "location": "posterior", "size_percent": 20.0,
                         "posterior_wall_destroyed": True}]},
    ],
}


def demo_study(voxel_size_mm: float = DEMO_VOXEL_SIZE_MM) -> Study:
    """The demo as a :class:`~biomech.study.Study` at ``voxel_size_mm`` [mm]."""
    return study_from_dict(DEMO_STUDY, origin="biomech.demo").with_voxel_size(voxel_size_mm)


def run_demo(out_dir="biomech_demo", *, voxel_size_mm: float = DEMO_VOXEL_SIZE_MM,
             executor: str | None = None, workers: int | None = None, progress: bool = False,
             pictures: bool = True, command: str | None = None):
    """Run the demo into ``out_dir``; returns the :class:`~biomech.runner.StudyResult`.
    ``executor`` None: :func:`~biomech.runner.run_study`'s default."""
    from .runner import run_study
    from .runner.executors import DEFAULT_EXECUTOR
    study = demo_study(voxel_size_mm)
    if not pictures:
        study = study.with_outputs(pictures=False)
    return run_study(study, out_dir, executor=executor or DEFAULT_EXECUTOR, workers=workers,
                     progress=progress,
                     command=command or f"biomech demo --out {out_dir} --voxel-size {voxel_size_mm:g}")


#: (column, heading, format) of the short table.
SUMMARY_COLUMNS = (
    ("case", "case", "{}"),
    ("stiffness_N_per_mm", "L2 stiffness [N/mm]", "{:.0f}"),
    ("stiffness_N_per_mm_ratio", "x baseline", "{:.2f}"),
    ("segment_stiffness_N_per_mm", "segment [N/mm]", "{:.0f}"),
    ("adjacent_superior_endplate_stress_MPa_p95_ratio", "L1 endplate p95 x", "{:.2f}"),
    ("bone_at_risk", "bone at risk", "{:.3f}"),
    ("cement_volume_ml", "cement [mL]", "{:.2f}"),
    ("leak_volume_ml", "leak [mL]", "{:.2f}"),
)


def summary_table(result, load_case: str = "compression") -> str:
    """A short text table of the headline metrics of one load case (for the terminal)."""
    rows = [r for r in result.rows if r.get("load_case") == load_case] or list(result.rows)
    head = [h for _, h, _ in SUMMARY_COLUMNS]
    body = []
    for r in rows:
        line = []
        for col, _, fmt in SUMMARY_COLUMNS:
            v = r.get(col)
            if r.get("status") != "ok" and col not in ("case",):
                line.append("failed" if col == "stiffness_N_per_mm" else "")
                continue
            if v is None or (isinstance(v, float) and not math.isfinite(v)):
                line.append("-")
            else:
                line.append(fmt.format(v))
        body.append(line)
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    fmt_line = lambda cells: "  ".join(c.rjust(w) if i else c.ljust(w)     # noqa: E731
                                       for i, (c, w) in enumerate(zip(cells, widths)))
    lines = [f"load case: {load_case}; ratios (x) to the baseline '{result.study.baseline}'",
             fmt_line(head), fmt_line(["-" * w for w in widths])]
    lines += [fmt_line(b) for b in body]
    for name in result.failed:
        lines.append(f"{name} failed: {result.outcomes[name].error}")
    lines += comparison_lines(result)
    from .viz.report_text import validity_warnings
    warnings = validity_warnings(result.rows)
    if warnings:        # the sentences themselves are logged (WARNING) by the study outputs
        lines.append(f"! {len(warnings)} validity warning(s): some load cases lie outside the "
                     "model's validity (" + "; ".join(w.split(":")[0] for w in warnings)
                     + "); see report.html, 'Validity warnings'")
    return "\n".join(lines)


def comparison_lines(result) -> list[str]:
    """What each case is compared with, for cases that differ from the baseline in more
    than one thing (the demo's lytic metastasis: a lesion added, the fracture absent)."""
    from .viz.report_text import comparison_notes
    specs = [c.to_dict() for c in result.study.cases]
    notes = comparison_notes(specs, result.study.baseline)
    return [f"note: {name} {note}" for name, note in notes.items() if note.startswith("differs")]


__all__ = ["DEMO_STUDY", "DEMO_VOXEL_SIZE_MM", "comparison_lines", "demo_study", "run_demo",
           "summary_table"]
