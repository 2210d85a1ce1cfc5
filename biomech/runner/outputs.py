"""The study-level files: the copy of the study, summary.json, cases.pvd, study
plots and comparisons, report.html."""
from __future__ import annotations

import datetime as _dt
import logging
import platform
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError
from ..io.files import atomic_path, atomic_write_json, atomic_write_text
from ..study import Study
from .casefiles import CASES_FOLDER, PICTURES_FOLDER, _json_safe, _read_record, load_case_fields
from .rows import _is_number

if TYPE_CHECKING:
    from .study_run import StudyResult

log = logging.getLogger(__name__)

RESULTS_CSV = "results.csv"
SUMMARY_JSON = "summary.json"

def _save_study_copy(study: Study, out: Path) -> None:
    if study.text is not None:
        atomic_write_text(out / "study.toml", study.text)
    atomic_write_json(out / "study.json", _json_safe({
        "name": study.name, "description": study.description, "baseline": study.baseline,
        "source": study.source, "outputs": study.outputs,
        "cases": [dict(c.to_dict(), hash=c.hash) for c in study.cases]}))


def _write_summary(result: StudyResult, files: dict) -> None:
    from ..environment import package_versions
    s = result.study
    cases = {}
    for name, o in result.outcomes.items():
        cases[name] = {"hash": o.hash, "status": o.status, "skipped": o.skipped,
                       "time_s": o.time_s, "error": o.error, "warnings": o.warnings,
                       "folder": str(Path(CASES_FOLDER) / name)}
    headline = {}
    keys = ("stiffness_N_per_mm", "stiffness_N_per_mm_ratio", "segment_stiffness_N_per_mm",
            "segment_rotation_deg", "adjacent_superior_endplate_stress_MPa_p95_ratio",
            "adjacent_inferior_endplate_stress_MPa_p95_ratio", "cement_volume_ml",
            "leak_volume_ml", "fill_fraction", "bone_at_risk")
    for r in result.rows:
        if r.get("status") == "ok":
            headline.setdefault(r["case"], {})[r["load_case"]] = {k: r.get(k) for k in keys if k in r}
    data = {"study": s.name, "description": s.description, "baseline": s.baseline,
            "source": s.source, "executor": result.executor,
            "cases_wall_time_s": result.wall_time_s,      # running the cases of this run
            "written": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "host": socket.gethostname(), "platform": platform.platform(),
            "n_cases": len(result.outcomes), "n_ok": sum(o.status == "ok" for o in result.outcomes.values()),
            "n_failed": len(result.failed), "n_skipped": len(result.skipped),
            "load_cases": [lc["name"] for lc in (s.cases[0].load_cases if s.cases else [])],
            "cases": cases, "headline": headline, "files": files,
            "versions": package_versions()}
    atomic_write_json(result.out_dir / SUMMARY_JSON, _json_safe(data))


def _write_pvd(result: StudyResult):
    from ..viz.export import write_pvd
    found = {}
    for name, o in result.outcomes.items():
        folder = result.out_dir / CASES_FOLDER / name
        for ext in ("vti", "vtu"):
            f = folder / f"{name}.{ext}"
            if o.status == "ok" and f.is_file():
                found[name] = f
                break
    if not found:
        return None
    path = result.out_dir / "cases.pvd"
    with atomic_path(path) as tmp:           # never through a link planted at cases.pvd
        write_pvd(tmp, found)
    return path.name


def _first_load_case(rows, prefer="compression"):
    lcs = list(dict.fromkeys(r["load_case"] for r in rows))
    return prefer if prefer in lcs else (lcs[0] if lcs else None)


def _study_pictures(result: StudyResult) -> dict:
    """Plots and comparisons into out/pictures (each written to a temporary name first)."""
    out = result.out_dir / PICTURES_FOLDER
    out.mkdir(exist_ok=True)
    ok_rows = [r for r in result.rows if r.get("status") == "ok"]
    made = {}
    if not ok_rows:
        return made
    base = result.study.baseline
    lc = _first_load_case(ok_rows)

    def attempt(fname, caption, fn):
        try:
            with atomic_path(out / fname) as tmp:
                fn(tmp)
            made[caption] = f"{PICTURES_FOLDER}/{fname}"
        except Exception as exc:                     # noqa: BLE001 - a missing plot is a note
            log.warning("study picture %s not drawn: %s: %s", fname, type(exc).__name__, exc)

    from ..viz import plots
    names = list(dict.fromkeys(r["case"] for r in ok_rows))
    has_base = base in names
    if has_base and len(names) > 1 and any(_is_number(r.get("stiffness_N_per_mm")) for r in ok_rows):
        attempt("stiffness_restoration.png", f"stiffness of the focus vertebra in % of {base}",
                lambda p: plots.plot_stiffness_restoration(ok_rows, baseline=base, load_case=lc,
                                                           filename=p))
    discs = [k[:-len("_disc_pressure_MPa")] for k in ok_rows[0]
             if k.endswith("_disc_pressure_MPa") and not k.startswith("adjacent")]
    if has_base and discs and len(names) > 1:
        attempt("disc_pressure_ratios.png", f"disc pressure per disc as ratio to {base} "
                                            f"(load case {lc})",
                lambda p: plots.plot_level_ratios(
                    ok_rows, "disc_pressure_MPa", baseline=base,
                    columns={d: f"{d}_disc_pressure_MPa" for d in discs},
                    load_case=lc, filename=p))
    endplates = {}
    for k in ok_rows[0]:
        if k.endswith("_endplate_stress_MPa_p95") and not k.startswith("adjacent"):
            lv, which = k.split("_")[0], k.split("_")[1]
            endplates[f"{lv} {which[:3]}"] = k
    if has_base and len(endplates) > 1 and len(names) > 1:
        attempt("endplate_stress_ratios.png",
                f"95th percentile endplate stress per endplate as ratio to {base} (load case {lc})",
                lambda p: plots.plot_level_ratios(ok_rows, "endplate_stress_MPa", baseline=base,
                                                  columns=endplates, load_case=lc, filename=p))
    for path in result.study.swept_paths:
        xs = [r.get(path) for r in ok_rows if r.get(path) is not None]
        if not xs or not all(_is_number(x) for x in xs):
            continue
        others = [p for p in result.study.swept_paths if p != path]
        ys = [y for y in ("stiffness_N_per_mm_ratio", "adjacent_superior_endplate_stress_MPa_p95_ratio",
                          "leak_volume_ml") if any(_is_number(r.get(y)) for r in ok_rows)]
        if not ys:
            continue
        swept_rows = [r for r in ok_rows if r.get(path) is not None]
        safe = path.replace(".", "_")
        attempt(f"sweep_{safe}.png", f"metrics against {path} (load case {lc})",
                lambda p, path=path, others=others, ys=ys, rows=swept_rows: plots.plot_sweep(
                    rows, x=path, y=ys, group_by=others[0] if others else "treatment",
                    load_case=lc, filename=p))
    if result.study.outputs.get("fields", "all") != "none":
        fields = {}
        order = [base] + [n for n in names if n != base] if has_base else names
        for n in order[:6]:
            try:
                fields[n] = load_case_fields(result.out_dir / CASES_FOLDER / n, lc)
            except (InputError, OSError, KeyError, ValueError):
                continue
        if len(fields) > 1:
            from ..viz.pictures import compare_fields
            attempt("compare_von_mises.png",
                    "von Mises stress, sagittal section through each case's cement (the middle "
                    "where there is none; positions on the picture), one colour range over all "
                    f"cases, load case {lc}",
                    lambda p: compare_fields(fields, "von_mises_MPa", plane="sagittal",
                                             at="cement", load_case=lc, filename=p))
    return made


REPORT_COLUMNS = ("case", "load_case", "status", "treatment", "cement", "condition",
                  "cement_volume_ml", "fill_fraction", "leak_volume_ml", "stiffness_N_per_mm",
                  "stiffness_N_per_mm_ratio", "segment_stiffness_N_per_mm",
                  "segment_stiffness_N_per_mm_ratio", "segment_rotation_deg",
                  "adjacent_superior_endplate_stress_MPa_p95",
                  "adjacent_superior_endplate_stress_MPa_p95_ratio",
                  "adjacent_inferior_endplate_stress_MPa_p95",
                  "adjacent_inferior_endplate_stress_MPa_p95_ratio",
                  "adjacent_superior_disc_pressure_MPa", "adjacent_superior_disc_pressure_MPa_ratio",
                  "adjacent_inferior_disc_pressure_MPa", "adjacent_inferior_disc_pressure_MPa_ratio",
                  "bone_at_risk", "bone_at_risk_ratio", "endplate_bulge_mm",
                  "posterior_wall_bulge_mm", "error")


def _write_report(result: StudyResult, files: dict, command) -> None:
    from ..viz.report import write_report
    out = result.out_dir
    plots = [(cap, out / p) for cap, p in files.items() if cap != "pvd"]
    pictures = []
    for name, _o in list(result.outcomes.items())[:12]:
        rec = _read_record(out / CASES_FOLDER / name) or {}
        for cap, p in ((rec.get("files") or {}).get("pictures") or {}).items():
            pictures.append((f"{name}: {cap}", out / CASES_FOLDER / name / p))
    cols = [c for c in REPORT_COLUMNS if c in result.columns]
    listed = [out / RESULTS_CSV, out / SUMMARY_JSON] + \
        ([out / files["pvd"]] if files.get("pvd") else [])
    notes = None
    if result.failed:
        notes = f"{len(result.failed)} case(s) failed: {', '.join(result.failed)} (see error column)."
    inputs = {f"case {n}": f"hash {o.hash}, {o.status}" + (" (from an earlier run)" if o.skipped else "")
              for n, o in result.outcomes.items()}
    inputs["executor"] = result.executor
    inputs["wall time [s]"] = f"{result.wall_time_s:.1f}"
    try:
        specs = [_json_safe(c.to_dict()) for c in result.study.cases]
        text = _report_text(specs, result.rows, result.study.baseline)
    except Exception as exc:                          # noqa: BLE001 - the report without Methods
        log.warning("report Methods/Limitations not written: %s: %s", type(exc).__name__, exc)
        text = {}
    from ..viz.report_text import validity_warnings
    for w in validity_warnings(result.rows):
        log.warning("outside the model's validity: %s", w)
    try:
        write_report(out, result.rows, title=f"biomech study: {result.study.name}",
                     pictures=pictures, plots=plots,
                     study_file=result.study.source if result.study.source and
                     Path(result.study.source).is_file() else None,
                     study_text=None if result.study.source else None,
                     files=listed, inputs=inputs, columns=cols, baseline=result.study.baseline,
                     command=command, notes=notes or result.study.description or None,
                     **text)
    except Exception as exc:                          # noqa: BLE001 - the table is written
        log.warning("report.html not written: %s: %s", type(exc).__name__, exc)


#: Registry tissues every model of a kind uses; conditions and treatments add theirs.
_KIND_TISSUES = {
    "segment": ("cortical", "cancellous", "bony_endplate", "cartilage_endplate",
                "posterior_elements", "nucleus", "annulus"),
    "vertebra": ("cortical", "cancellous", "bony_endplate", "posterior_elements"),
    "vertebra_with_caps": ("cortical", "cancellous", "bony_endplate", "posterior_elements",
                           "pmma_cap"),
    "ct": ("cortical", "cancellous", "posterior_elements", "pmma_cap"),
}
_ADDED_TISSUES = {"fracture": ("fracture_zone",), "lytic": ("lytic_tissue",),
                  "blastic": ("blastic_bone",), "angioma": ("angioma",),
                  "vertebroplasty": ("cement_bone_composite", "bulk_cement"),
                  "kyphoplasty": ("bulk_cement", "compacted_bone")}


def _material_rows(specs) -> tuple[list, str | None]:
    """[(tissue, E_MPa, nu, source)] of the registry tissues the study's models use
    (study-wide overrides applied) and the density law's name."""
    from ..materials import default_registry
    reg = default_registry()
    names: list = []
    overrides: dict = {}
    for c in specs:
        m = c.get("model") or {}
        names += _KIND_TISSUES.get(m.get("kind"), _KIND_TISSUES["segment"])
        overrides.update(m.get("materials") or {})
        for x in (c.get("conditions") or []) + (c.get("treatments") or []):
            names += _ADDED_TISSUES.get(x.get("kind"), ())
            names += _ADDED_TISSUES.get(x.get("lesion"), ())
    if overrides:
        try:
            reg = reg.with_overrides(overrides, source="study [model.materials]")
        except Exception as exc:                     # noqa: BLE001 - the methods still list defaults
            log.debug("material overrides not applied to the Methods: %s", exc)
    known = set(reg.names())
    rows = []
    for n in dict.fromkeys(names):
        if n in known:
            mat = reg.get(n)
            rows.append((n, mat.E_MPa, mat.nu, mat.source))
    return rows, getattr(reg, "density_law_name", None)


def _report_text(specs, rows, baseline) -> dict:
    """The report's Methods, Limitations and case comparisons from the case specs."""
    from ..viz import report_text as T
    try:
        mats, law = _material_rows(specs)
    except Exception as exc:                         # noqa: BLE001 - a report without the table
        log.warning("material table not in the report: %s: %s", type(exc).__name__, exc)
        mats, law = [], None
    kinds = {(c.get("model") or {}).get("kind", "segment") for c in specs}
    sizes = sorted({(c.get("model") or {}).get("voxel_size_mm") for c in specs} - {None})
    return {"methods": T.methods(specs, materials=mats, density_law=law),
            "limitations": T.limitations("ct" if kinds == {"ct"} else "segment",
                                         voxel_size_mm=sizes[-1] if sizes else None),
            "comparisons": T.comparison_notes(specs, baseline)}
