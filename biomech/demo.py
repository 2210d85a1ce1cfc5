"""The built-in demo study: an osteoporotic L1-L3 segment, intact (the baseline) and with
a Genant grade-2 wedge compression fracture of L2 (the levels above tilt into about 14 deg
of kyphosis), untreated vs bipedicular vertebroplasty (4 mL PMMA, no height restoration)
vs bipedicular balloon kyphoplasty (3 mL balloons, 35 % of the lost height restored,
PMMA), plus an L2 lytic metastasis (posterior, 20 % of the body, posterior wall
destroyed) read against the same intact baseline, under the default load cases (500 N
compression; 7.5 N m flexion, extension, right lateral bending, left axial rotation)
and standing: the upper-body weight at its centre of mass, which moves forward with the
kyphosis, balanced by the erector spinae (:mod:`biomech.posture`).

    from biomech.demo import run_demo, summary_table
    result = run_demo("demo_out")          # results.csv, summary.json, VTI, pictures, report
    print(summary_table(result))

Bone: trabecular vBMD 70 mg/cm^3, osteoporotic by the ACR QCT category (< 80 mg/cm^3),
with the cortical thinning of :class:`biomech.conditions.BoneDensity`.
Kyphoplasty's restoration: a systematic review of prospective studies found balloon
kyphoplasty reduced the kyphosis by 4.8 deg and vertebroplasty by 1.7 deg on average
(Papanastassiou et al., Eur Spine J 21:1826, 2012); 4.8 of the grade-2 wedge's ~14 deg is
about 35 % of the lost height (``height_restoration = 0.35``).  Vertebroplasty's 1.7 deg
(about 12 %) is not modelled: the vertebroplasty plan has no height restoration.
Every ratio is to the intact baseline: the treated cases differ from it in two things
(the fracture and the treatment; compare them with ``untreated`` too), the metastasis in
one; the report and :func:`summary_table` say so.
examples/study_default.toml is the same study as a commented TOML file
(tests/test_cli.py checks that both give the same case hashes).
"""
from __future__ import annotations

import math

from .study import Study, study_from_dict

#: Voxel size of the demo [mm]: 2 mm (85k DOF per case; a study file sets its own).  1 mm
#: resolves the cortical shell better (the stiffness ratios within 1.5-8 % of 0.75 mm) but
#: takes about 3 minutes, and the leak probabilities depend on the voxel size
#: (benchmarks/leak_resolution.py): they would read near zero at 1 mm for a reason of
#: discretisation, not of physics.
DEMO_VOXEL_SIZE_MM = 2.0

#: The demo study as the dict a TOML study file would give.
DEMO_STUDY = {
    "study": {"name": "demo", "baseline": "intact",
              "description": "Osteoporotic L1-L3 segment: intact, and a grade-2 wedge fracture of "
                             "L2 untreated vs vertebroplasty vs balloon kyphoplasty (PMMA), plus "
                             "a lytic metastasis of L2."},
    "model": {"kind": "segment", "levels": ["L1", "L2", "L3"],
              "voxel_size_mm": DEMO_VOXEL_SIZE_MM, "bone": {"vbmd_mg_cm3": 70.0}},
    "load_cases": ["compression", "flexion", "extension", "lateral_bending_right",
                   "axial_rotation_left", {"name": "standing", "posture": {}}],
    "cases": [
        {"name": "intact", "description": "osteoporotic segment before the fracture"},
        {"name": "untreated", "description": "grade-2 wedge fracture of L2, no treatment",
         "conditions": [{"kind": "fracture", "level": "L2", "grade": 2, "shape": "wedge"}]},
        {"name": "vertebroplasty", "extends": "untreated",
         "description": "bipedicular vertebroplasty, 4 mL PMMA, no height restoration",
         "treatment": {"kind": "vertebroplasty", "level": "L2", "approach": "bipedicular",
                       "volume_ml": 4.0, "cement": "pmma"}},
        {"name": "kyphoplasty", "extends": "untreated",
         "description": "bipedicular balloon kyphoplasty, 3 mL balloons, 35 % of the lost "
                        "height restored (typical: Papanastassiou 2012), PMMA filling the cavity",
         "treatment": {"kind": "kyphoplasty", "level": "L2", "approach": "bipedicular",
                       "balloon_volume_ml": 3.0, "height_restoration": 0.35,
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
    ("case", "case", "{}", None),
    ("stiffness_N_per_mm", "L2 stiffness [N/mm]", "{:.0f}", None),
    ("stiffness_N_per_mm_ratio", "x baseline", "{:.2f}", None),
    ("failure_load_N", "L2 failure [N]", "{:.0f}", None),
    ("kyphosis_deg", "kyphosis [deg]", "{:.1f}", None),
    ("adjacent_superior_disc_pressure_MPa", "L1-L2 IDP stand [MPa]", "{:.3f}", "standing"),
    ("adjacent_superior_endplate_stress_MPa_p95", "L1 endplate p95 stand", "{:.2f}", "standing"),
    ("adjacent_superior_factor_of_risk", "L1 risk stand", "{:.2f}", "standing"),
    ("cement_volume_ml", "cement [mL]", "{:.2f}", None),
    ("leak_volume_ml", "leak [mL]", "{:.2f}", None),
)


def summary_table(result, load_case: str = "compression") -> str:
    """A short text table of the headline metrics of one load case (for the terminal)."""
    rows = [r for r in result.rows if r.get("load_case") == load_case] or list(result.rows)
    other = {(r.get("case"), r.get("load_case")): r for r in result.rows}
    head = [h for _, h, _, _ in SUMMARY_COLUMNS]
    body = []
    for r in rows:
        line = []
        for col, _, fmt, lc in SUMMARY_COLUMNS:
            src = other.get((r.get("case"), lc), {}) if lc else r
            v = src.get(col)
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
    lines = [f"load case: {load_case} ('stand' columns: the standing load case); ratios (x) "
             f"to the baseline '{result.study.baseline}'",
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
