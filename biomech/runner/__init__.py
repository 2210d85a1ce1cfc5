"""Run cases and studies end to end: model -> bone -> conditions -> treatments -> mechanics
-> rows and files; a study's cases on an executor with resumable, atomic output.

    from biomech.study import load_study
    from biomech.runner import run_study
    result = run_study(load_study("study.toml"), "out", executor="processes", workers=2)
    result.rows                     # one dict per case and load case (results.csv)
    result.case_fields("vertebroplasty")      # CaseFields of the first load case

Output folder::

    results.csv      one row per case and load case; *_ratio = value / baseline value
    summary.json     study, per-case status, hash, time, errors, software versions
    cases/<name>/    case.json (spec, hash, rows, timings, warnings, error),
                     <name>.vti (.vtu) fields of the load cases, fields.npz, pictures/
    cases.pvd        ParaView collection of the case files
    pictures/        study plots and side-by-side comparisons; report.html

Rules (decisions):

* A case is finished when ``cases/<name>/case.json`` has status "ok" and the case's
  content hash (:attr:`biomech.study.CaseSpec.hash`); a rerun skips it.  Failed cases are
  run again (``rerun_failed=False`` keeps them).  ``force=True`` reruns everything.
* Atomic: a case is written into ``cases/.tmp-<name>-<random>`` and renamed into place,
  so its folder is complete or absent; results.csv, summary.json and report.html are
  written to a temporary name and renamed (``os.replace``).
* A case that raises is recorded (status "failed", the error and its traceback in
  case.json and results.csv) and the others go on.  Pictures that cannot be drawn (no
  renderer) are a warning of the case, not a failure.
* Executors: "inprocess"; "processes" (``concurrent.futures`` with spawned processes,
  one case per task, ``NUMBA_NUM_THREADS`` = cores / workers); "dask" (an existing
  scheduler by address or a ``distributed.Client``, else a local cluster of ``workers``
  processes with one thread each).  One task is one case, or ``batch_size`` cases.
  Workers write their case folders themselves: the output folder must be on a file
  system every worker sees (a cluster's shared file system).
* One run per output folder at a time (``run.lock`` holds the pid and host).
"""
from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import json
import logging
import math
import os
import platform
import shutil
import socket
import time
import traceback
import uuid
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import BiomechError, InputError
from ..study import CaseSpec, Study

log = logging.getLogger(__name__)

CASES_FOLDER = "cases"
CASE_RECORD = "case.json"
FIELDS_FILE = "fields.npz"
RESULTS_CSV = "results.csv"
SUMMARY_JSON = "summary.json"
PICTURES_FOLDER = "pictures"
LOCK_FILE = "run.lock"
EXECUTORS = ("auto", "inprocess", "processes", "dask")

#: Columns that identify a row; they come first in results.csv.
ID_COLUMNS = ("case", "load_case", "status", "case_hash")
#: Columns that describe the case (inputs); never divided by the baseline.
PARAM_COLUMNS = ("model", "voxel_size_mm", "vbmd_mg_cm3", "condition", "treatment",
                 "treated_level", "focus_level", "approach", "cement", "cement_E_MPa",
                 "injection_time_min", "viscosity_start_Pa_s", "viscosity_end_Pa_s")
#: Numeric columns that are not outcomes (no _ratio column).
NO_RATIO = {"dofs", "time_s", "solve_time_s"}
#: Treatment metrics of an untreated case (nothing injected, nothing leaked).
_UNTREATED = {"injected_ml": 0.0, "cement_volume_ml": 0.0, "fill_fraction": 0.0,
              "leak_volume_ml": 0.0, "cavity_ml": 0.0, "height_restored_mm": 0.0}


from .models import (_GEOMETRY_CACHE, _ct_model, apply_bone, apply_treatment,  # noqa: F401
                     build_geometry, cement_object, condition_object, registry_for)


# ============================================================================ one case
@dataclass
class SolvedCase:
    """A case solved in memory: the treated model, the analysis (mesh, solver), one
    :class:`~biomech.analysis.LoadCaseResult` per load case (fields included), the
    treatment results, the rows of results.csv, timings [s] and warnings."""

    spec: CaseSpec
    model: object
    analysis: object
    results: list
    treatments: list
    rows: list
    timings: dict
    warnings: list = field(default_factory=list)

    def case_fields(self, load_case: int | str = 0):
        """:class:`biomech.viz.pictures.CaseFields` of one load case (index or name)."""
        from ..viz.pictures import CaseFields
        r = _pick_load_case(self.results, load_case)
        return CaseFields(self.model, self.analysis.mesh, dict(r.cell_fields),
                          {"displacement_mm": r.u})


def _pick_load_case(results, load_case):
    if isinstance(load_case, int):
        return results[load_case]
    for r in results:
        if r.load_case.name == load_case:
            return r
    raise InputError(f"no load case {load_case!r}; the case has "
                     f"{[r.load_case.name for r in results]}")


def build_case_model(spec: CaseSpec):
    """(treated model, [TreatmentResult], {step: seconds}, [warning text])."""
    timings = {}
    t0 = time.perf_counter()
    model = build_geometry(spec.model)
    timings["geometry_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = apply_bone(model, spec.model.get("bone") or {})
    from ..conditions import apply_condition
    for c in spec.conditions:
        model = apply_condition(model, condition_object(c))
    timings["conditions_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    treated = []
    msgs = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for t in spec.treatments:
            res = apply_treatment(model, t)
            treated.append(res)
            model = res.model
    msgs += [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    timings["treatments_s"] = time.perf_counter() - t0
    return model, treated, timings, msgs


def solve_case(spec: CaseSpec, *, fields: bool = True) -> SolvedCase:
    """Build, treat and solve one case in memory (no files)."""
    from ..analysis import SegmentAnalysis
    t_all = time.perf_counter()
    model, treated, timings, msgs = build_case_model(spec)
    t0 = time.perf_counter()
    analysis = SegmentAnalysis(model, registry=registry_for(spec.model),
                               solver=spec.analysis.get("solver", "amg"),
                               rtol=spec.analysis.get("rtol", 1e-6), focus_level=spec.focus_level,
                               reuse_hierarchy=spec.analysis.get("reuse_hierarchy", False))
    results = analysis.run(spec.load_case_objects(), fields=fields)
    timings["mechanics_s"] = time.perf_counter() - t0
    timings.update({f"analysis_{k}": v for k, v in analysis.timings.items()})
    timings["total_s"] = time.perf_counter() - t_all
    rows = case_rows(spec, treated, analysis, results)
    return SolvedCase(spec, model, analysis, results, treated, rows, timings, msgs)


def _condition_text(spec: CaseSpec) -> str:
    parts = []
    for c in spec.conditions:
        k = c["kind"]
        if k == "fracture":
            parts.append(f"fracture {c['level']} grade {c['grade']} {c.get('shape', 'wedge')}")
        elif k == "metastasis":
            size = (f"{c['size_mm']:g} mm" if "size_mm" in c else
                    f"{c.get('size_percent', 0):g} %")
            extra = " posterior wall destroyed" if c.get("posterior_wall_destroyed") else ""
            parts.append(f"{c.get('lesion', 'lytic')} metastasis {c['level']} "
                         f"{c.get('location', 'central')} {size}{extra}")
        elif k == "angioma":
            parts.append(f"angioma {c['level']}")
        elif k == "bone_density":
            parts.append(f"vBMD {c['vbmd_mg_cm3']:g} mg/cm3")
        else:
            parts.append("osteoporosis rule")
    return "; ".join(parts) or "none"


def case_params(spec: CaseSpec, treated) -> dict:
    """The input columns of a case (see PARAM_COLUMNS) and its swept values."""
    m = spec.model
    out = {"model": m["kind"] + (f" {'-'.join([m['levels'][0], m['levels'][-1]])}"
                                 if m["kind"] == "segment" else
                                 f" {m.get('level', '')}" if "level" in m else ""),
           "voxel_size_mm": m.get("voxel_size_mm"),
           "vbmd_mg_cm3": (m.get("bone") or {}).get("vbmd_mg_cm3"),
           "condition": _condition_text(spec),
           "treatment": "+".join(t["kind"] for t in spec.treatments) or "none",
           "treated_level": "+".join(t["level"] for t in spec.treatments),
           "focus_level": spec.focus_level or "",
           "approach": "+".join(t.get("approach", "bipedicular") for t in spec.treatments),
           "cement": "+".join(t["cement"]["name"] for t in spec.treatments),
           "cement_E_MPa": spec.treatments[0]["cement"]["E_MPa"] if spec.treatments else None}
    if treated:
        s = treated[0].summary()
        out["injection_time_min"] = s["injection_time_min"]
        out["viscosity_start_Pa_s"] = s["viscosity_start_Pa_s"]
        out["viscosity_end_Pa_s"] = s["viscosity_end_Pa_s"]
    for path, v in spec.sweep.items():
        out[path] = v
    return out


def treatment_metrics(treated) -> dict:
    """Cement metrics (sums over the treatments): injected, placed (cement_volume_ml),
    fill_fraction (of the first treated body), leak by site [mL]."""
    from ..treatments import SITE_NAMES
    out = dict(_UNTREATED)
    for name in SITE_NAMES.values():
        out[f"leak_volume_ml_{name}"] = 0.0
    for i, r in enumerate(treated):
        s = r.summary()
        for k in ("injected_ml", "cement_volume_ml", "leak_volume_ml", "cavity_ml",
                  "height_restored_mm"):
            out[k] += float(s[k])
        for name in SITE_NAMES.values():
            out[f"leak_volume_ml_{name}"] += float(s.get(f"leak_volume_ml_{name}", 0.0))
        if i == 0:
            out["fill_fraction"] = float(s["fill_fraction"])
        if len(treated) > 1:
            out[f"{r.level}_fill_fraction"] = float(s["fill_fraction"])
            out[f"{r.level}_cement_volume_ml"] = float(s["cement_volume_ml"])
    return out


def case_rows(spec: CaseSpec, treated, analysis, results) -> list:
    """One row per load case: ids, inputs, cement metrics, mechanics metrics (no timings:
    results.csv is the same whatever ran it; times are in case.json and summary.json)."""
    params = case_params(spec, treated)
    cement = treatment_metrics(treated)
    rows = []
    for r in results:
        row = {"case": spec.name, "load_case": r.load_case.name, "status": "ok",
               "case_hash": spec.hash, **params, **cement}
        for k, v in r.metrics.items():
            if k in ("load_case",):
                continue
            row[k] = v
        rows.append(row)
    return rows


def failed_rows(spec: CaseSpec, error: str) -> list:
    params = {}
    try:
        params = case_params(spec, [])
    except Exception:                                # noqa: BLE001 - the row must exist
        pass
    return [{"case": spec.name, "load_case": lc["name"], "status": "failed",
             "case_hash": spec.hash, **params, "error": error} for lc in spec.load_cases]


# ---------------------------------------------------------------------------- case files
def _json_safe(v):
    if isinstance(v, dict) or hasattr(v, "items"):
        return {str(k): _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    if isinstance(v, np.ndarray):
        return _json_safe(v.tolist())
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if v is None or isinstance(v, (str, int, bool)):
        return v
    return str(v)


def _selected_results(results, which: str):
    if which == "none":
        return []
    return list(results) if which == "all" else list(results[:1])


def _field_name(lc_index: int, lc_name: str, name: str) -> str:
    return name if lc_index == 0 else f"{lc_name}_{name}"


def write_case_folder(solved: SolvedCase, folder: Path, outputs: dict) -> dict:
    """Files of a solved case into ``folder`` (not atomic by itself); returns {what: name}."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    chosen = _selected_results(solved.results, outputs.get("fields", "all"))
    mesh = solved.analysis.mesh
    model = solved.model
    if chosen:
        arrays = {"voxel_ijk": np.asarray(mesh.voxel_ijk, np.int32),
                  "labels": np.asarray(model.labels), "level": np.asarray(model.level),
                  "h": np.float64(model.h), "origin": np.asarray(model.origin, np.float64),
                  "level_names": np.array(json.dumps(list(model.level_names))),
                  "meta": np.array(json.dumps(_json_safe(dict(model.meta)))),
                  "load_cases": np.array(json.dumps([r.load_case.name for r in chosen]))}
        for name, arr in model.fields.items():
            arrays[f"model/{name}"] = np.asarray(arr, np.float32)
        for r in chosen:
            for name, arr in r.cell_fields.items():
                arrays[f"{r.load_case.name}/{name}"] = np.asarray(arr, np.float32)
            arrays[f"{r.load_case.name}/displacement_mm"] = np.asarray(r.u, np.float32)
        np.savez_compressed(folder / FIELDS_FILE, **arrays)
        files["fields"] = FIELDS_FILE
    if chosen and (outputs.get("vti") or outputs.get("vtu")):
        cell, point = {}, {}
        for i, r in enumerate(chosen):
            for name, arr in r.cell_fields.items():
                if name in ("label", "E_MPa") and i > 0:
                    continue
                if name == "label" and outputs.get("vti"):
                    continue                       # the VTI has the model's labels
                cell[_field_name(i, r.load_case.name, name)] = arr
            point[_field_name(i, r.load_case.name, "displacement_mm")] = r.u
        from ..viz import export
        if outputs.get("vti"):
            try:
                export.write_vti(folder / f"{solved.spec.name}.vti", model, mesh=mesh,
                                 cell_fields=cell, point_fields=point)
                files["vti"] = f"{solved.spec.name}.vti"
            except ImportError as exc:             # no pyvista on this node: VTU instead
                solved.warnings.append(f"VTI needs pyvista ({exc}); wrote VTU instead")
                outputs = {**outputs, "vtu": True}
        if outputs.get("vtu"):
            vtu_cell = {k: v for k, v in cell.items() if k != "label"}
            export.write_vtu(folder / f"{solved.spec.name}.vtu", mesh, cell_fields=vtu_cell,
                             point_fields=point, model=model)
            files["vtu"] = f"{solved.spec.name}.vtu"
    if chosen and outputs.get("pictures"):
        try:
            from ..viz.pictures import save_case_pictures
            pics = save_case_pictures(solved.case_fields(0), folder / PICTURES_FOLDER)
            files["pictures"] = {cap: f"{PICTURES_FOLDER}/{Path(p).name}" for cap, p in pics.items()}
        except Exception as exc:                   # noqa: BLE001 - pictures never fail a case
            msg = f"pictures not drawn: {type(exc).__name__}: {exc}"
            log.warning("%s: %s", solved.spec.name, msg)
            solved.warnings.append(msg)
    return files


def _case_record(spec: CaseSpec, status: str, *, rows, timings=None, files=None, error=None,
                 tb=None, warn=(), dofs=None) -> dict:
    from .. import __version__
    return _json_safe({
        "name": spec.name, "hash": spec.hash, "status": status, "biomech": __version__,
        "host": socket.gethostname(), "pid": os.getpid(),
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "dofs": dofs, "timings": timings or {}, "files": files or {}, "warnings": list(warn),
        "error": error, "traceback": tb, "rows": rows, "spec": spec.to_dict()})


def _write_json(path: Path, data) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(data, indent=1, allow_nan=False), encoding="utf-8")
    os.replace(tmp, path)


def _commit_folder(tmp: Path, final: Path) -> None:
    """Put the finished temporary folder ``tmp`` in place of ``final`` (rename)."""
    try:
        os.replace(tmp, final)
        return
    except OSError:
        if not final.exists():
            raise
    trash = final.with_name(f".old-{final.name}-{uuid.uuid4().hex[:8]}")
    os.replace(final, trash)
    os.replace(tmp, final)
    shutil.rmtree(trash, ignore_errors=True)


@dataclass
class CaseOutcome:
    """What a study keeps of a case: status ("ok" | "failed"), rows, error text, folder,
    time [s]; ``skipped`` when a previous run had finished it."""

    name: str
    hash: str
    status: str
    rows: list
    error: str | None = None
    folder: str | None = None
    time_s: float | None = None
    skipped: bool = False
    warnings: list = field(default_factory=list)

    @classmethod
    def from_record(cls, rec: dict, folder, skipped=False) -> "CaseOutcome":
        return cls(rec["name"], rec["hash"], rec["status"], rec.get("rows") or [],
                   rec.get("error"), str(folder), (rec.get("timings") or {}).get("total_s"),
                   skipped, rec.get("warnings") or [])


def run_case(spec: CaseSpec, out_dir, outputs: dict | None = None) -> CaseOutcome:
    """Solve one case and write ``out_dir/cases/<name>/`` atomically; never raises for
    a failure of the case itself (it is recorded)."""
    from ..study import DEFAULT_OUTPUTS
    outputs = {**DEFAULT_OUTPUTS, **(outputs or {})}
    cases = Path(out_dir) / CASES_FOLDER
    cases.mkdir(parents=True, exist_ok=True)
    final = cases / spec.name
    tmp = cases / f".tmp-{spec.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    t0 = time.perf_counter()
    try:
        want = outputs.get("fields", "all") != "none" or outputs.get("pictures")
        solved = solve_case(spec, fields=bool(want))
        files = write_case_folder(solved, tmp, outputs)
        rec = _case_record(spec, "ok", rows=solved.rows, timings=solved.timings, files=files,
                           warn=solved.warnings, dofs=solved.analysis.n_dofs)
    except Exception as exc:                        # noqa: BLE001 - recorded, study goes on
        err = f"{type(exc).__name__}: {exc}"
        level = logging.WARNING if isinstance(exc, BiomechError) else logging.ERROR
        log.log(level, "case %s failed: %s", spec.name, err)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        rec = _case_record(spec, "failed", rows=failed_rows(spec, err), error=err,
                           tb=traceback.format_exc(),
                           timings={"total_s": time.perf_counter() - t0})
    _write_json(tmp / CASE_RECORD, rec)
    _commit_folder(tmp, final)
    return CaseOutcome.from_record(rec, final)


def record_failure(spec: CaseSpec, out_dir, error: str) -> CaseOutcome:
    """Record a case that died outside :func:`run_case` (a killed worker)."""
    cases = Path(out_dir) / CASES_FOLDER
    cases.mkdir(parents=True, exist_ok=True)
    final = cases / spec.name
    rec = _read_record(final)
    if rec is not None and rec.get("hash") == spec.hash and rec.get("status") == "ok":
        return CaseOutcome.from_record(rec, final)       # it did finish after all
    tmp = cases / f".tmp-{spec.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    rec = _case_record(spec, "failed", rows=failed_rows(spec, error), error=error)
    _write_json(tmp / CASE_RECORD, rec)
    _commit_folder(tmp, final)
    return CaseOutcome.from_record(rec, final)


def _read_record(folder: Path) -> dict | None:
    try:
        return json.loads((Path(folder) / CASE_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def set_threads(threads: int | None) -> None:
    """Numba threads of this process (at most NUMBA_NUM_THREADS)."""
    if not threads:
        return
    import numba
    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))


def run_cases_task(spec_dicts: list, out_dir: str, outputs: dict, threads: int | None = None) -> list:
    """Executor task: run a batch of cases (dicts of CaseSpec); returns outcome dicts."""
    set_threads(threads)
    out = []
    for d in spec_dicts:
        o = run_case(CaseSpec.from_dict(d), out_dir, outputs)
        out.append(o.__dict__)
    return out


# ============================================================================ results table
def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


#: A baseline value smaller than this fraction of the largest |value| of the same
#: metric over the baseline's load cases counts as zero: no ratio.  (The mean L3
#: inferior endplate stress under lateral bending is zero by symmetry up to the
#: solver tolerance, ~1e-6 MPa against ~0.3 MPa in compression; two runs agreeing to
#: rtol 1e-6 gave ratios 1.7 apart.)
RATIO_ZERO_FRACTION = 1e-3


def add_ratios(rows: list, baseline: str, *, exclude=()) -> list:
    """Rows with a ``<metric>_ratio`` column for every numeric outcome column: the value
    divided by the baseline case's value of the same load case (empty where the
    baseline value is missing, not finite, or zero: below RATIO_ZERO_FRACTION of the
    metric's largest baseline magnitude over the load cases)."""
    skip = set(ID_COLUMNS) | set(PARAM_COLUMNS) | NO_RATIO | set(exclude)
    base = {r["load_case"]: r for r in rows if r.get("case") == baseline and r.get("status") == "ok"}
    metric_cols = []
    for r in rows:
        for k, v in r.items():
            if k not in skip and not k.endswith("_ratio") and _is_number(v) and k not in metric_cols:
                metric_cols.append(k)
    floor = {}
    for k in metric_cols:
        mags = [abs(float(b[k])) for b in base.values()
                if _is_number(b.get(k)) and math.isfinite(float(b[k]))]
        floor[k] = RATIO_ZERO_FRACTION * max(mags) if mags else 0.0
    out = []
    for r in rows:
        r = dict(r)
        b = base.get(r.get("load_case"))
        for k in metric_cols:
            v, bv = r.get(k), (b or {}).get(k)
            ok = (r.get("status") == "ok" and _is_number(v) and _is_number(bv)
                  and math.isfinite(float(v)) and math.isfinite(float(bv))
                  and abs(float(bv)) > floor[k] and float(bv) != 0.0)
            r[f"{k}_ratio"] = float(v) / float(bv) if ok else None
        out.append(r)
    return out


def table_columns(rows: list, swept=()) -> list:
    """Column order: ids, error, inputs, swept paths, metrics, ratios."""
    seen = list(dict.fromkeys(k for r in rows for k in r))
    cols = [c for c in ID_COLUMNS if c in seen]
    cols += [c for c in ("error",) if c in seen]
    cols += [c for c in PARAM_COLUMNS if c in seen]
    cols += [c for c in swept if c in seen and c not in cols]
    rest = [c for c in seen if c not in cols]
    cols += [c for c in rest if not c.endswith("_ratio")] + [c for c in rest if c.endswith("_ratio")]
    return cols


def _csv_value(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if _is_number(v):
        f = float(v)
        if not math.isfinite(f):
            return ""
        return str(int(v)) if isinstance(v, (int, np.integer)) else repr(f)
    return str(v)


def write_results_csv(path, rows: list, columns: list) -> Path:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        for r in rows:
            w.writerow([_csv_value(r.get(c)) for c in columns])
    os.replace(tmp, path)
    return path


def read_results_csv(path) -> list:
    """results.csv back as dicts (numbers as float, empty cells as None)."""
    out = []
    with open(path, newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            row = {}
            for k, v in r.items():
                if v == "":
                    row[k] = None
                    continue
                try:
                    row[k] = float(v)
                except ValueError:
                    row[k] = v
            out.append(row)
    return out


# ============================================================================ study
@dataclass
class StudyResult:
    """A finished study run: ``rows`` (results.csv as dicts, ratios included), one
    :class:`CaseOutcome` per case, the output folder and the wall time [s]."""

    study: Study
    out_dir: Path
    outcomes: dict
    rows: list
    columns: list
    wall_time_s: float
    executor: str

    @property
    def failed(self) -> list:
        return [n for n, o in self.outcomes.items() if o.status != "ok"]

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def skipped(self) -> list:
        return [n for n, o in self.outcomes.items() if o.skipped]

    def to_pandas(self):
        """The results table as a pandas DataFrame (needs pandas)."""
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError("to_pandas needs pandas (pip install pandas); result.rows is the "
                              "same table as a list of dicts") from exc
        return pd.DataFrame(self.rows, columns=self.columns)

    def metrics(self, case: str, load_case: str) -> dict:
        for r in self.rows:
            if r["case"] == case and r["load_case"] == load_case:
                return r
        raise InputError(f"no row for case {case!r} and load case {load_case!r}")

    def case_fields(self, case: str, load_case: str | None = None):
        """:class:`~biomech.viz.pictures.CaseFields` of a case read back from its
        fields.npz (first load case by default)."""
        return load_case_fields(self.out_dir / CASES_FOLDER / case, load_case)


def load_case_fields(folder, load_case: str | None = None):
    """CaseFields (model with its fields, mesh, cell fields, displacement) from a case
    folder's fields.npz."""
    from ..mesh import VoxelMesh
    from ..meshes.voxel_model import VoxelModel
    from ..viz.pictures import CaseFields
    path = Path(folder) / FIELDS_FILE
    if not path.is_file():
        raise InputError(f"{path} does not exist (the case failed, or its outputs.fields "
                         "was 'none')")
    with np.load(path) as z:
        names = json.loads(str(z["load_cases"]))
        lc = names[0] if load_case is None else load_case
        if lc not in names:
            raise InputError(f"no fields of load case {lc!r} in {path}; it holds {names}")
        flds = {k.split("/", 1)[1]: z[k].astype(np.float64) for k in z.files if k.startswith("model/")}
        model = VoxelModel(z["labels"], float(z["h"]), tuple(z["origin"]), z["level"],
                           tuple(json.loads(str(z["level_names"]))), flds,
                           json.loads(str(z["meta"])))
        mask = np.zeros(model.shape, bool)
        ijk = z["voxel_ijk"]
        mask[ijk[:, 0], ijk[:, 1], ijk[:, 2]] = True
        mesh = VoxelMesh.from_mask(mask, model.h, model.origin)
        cell = {k.split("/", 1)[1]: z[k].astype(np.float64) for k in z.files
                if k.startswith(lc + "/") and not k.endswith("/displacement_mm")}
        u = z[f"{lc}/displacement_mm"].astype(np.float64)
    return CaseFields(model, mesh, cell, {"displacement_mm": u})


class _Lock:
    def __init__(self, out_dir: Path):
        self.path = out_dir / LOCK_FILE

    def __enter__(self):
        me = {"pid": os.getpid(), "host": socket.gethostname()}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                try:
                    other = json.loads(self.path.read_text())
                except (OSError, ValueError):
                    other = {}
                if other.get("host") == me["host"] and not _pid_alive(other.get("pid")):
                    log.warning("removing the stale lock of process %s", other.get("pid"))
                    self.path.unlink(missing_ok=True)
                    continue
                raise InputError(f"another run (pid {other.get('pid')} on {other.get('host')}) "
                                 f"is writing to {self.path.parent}; wait for it or delete "
                                 f"{self.path} if it is dead") from None
            with os.fdopen(fd, "w") as fh:
                json.dump(me, fh)
            return self
        raise InputError(f"cannot take the lock {self.path}")

    def __exit__(self, *exc):
        self.path.unlink(missing_ok=True)


def _pid_alive(pid) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def case_status(study: Study, out_dir) -> dict:
    """{case name: "done" | "failed" | "stale" (other hash) | "missing"} of an output folder."""
    out = {}
    for spec in study.cases:
        rec = _read_record(Path(out_dir) / CASES_FOLDER / spec.name)
        if rec is None:
            out[spec.name] = "missing"
        elif rec.get("hash") != spec.hash:
            out[spec.name] = "stale"
        else:
            out[spec.name] = "done" if rec.get("status") == "ok" else "failed"
    return out


class _Progress:
    """tqdm when asked for and installed, else log lines."""

    def __init__(self, total: int, show: bool, desc: str):
        self.bar = None
        self.total, self.n = total, 0
        if show and total:
            try:
                from tqdm.auto import tqdm
                self.bar = tqdm(total=total, desc=desc, unit="case", dynamic_ncols=True)
            except ImportError:
                self.bar = None

    def update(self, outcome: CaseOutcome):
        self.n += 1
        if self.bar is not None:
            self.bar.set_postfix_str(f"{outcome.name}: {outcome.status}", refresh=False)
            self.bar.update(1)
        else:
            log.info("case %d/%d %s: %s", self.n, self.total, outcome.name, outcome.status)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def run_study(study: Study, out_dir, *, executor: str = "inprocess", workers: int | None = None,
              scheduler=None, client=None, batch_size: int = 1, progress: bool = False,
              force: bool = False, rerun_failed: bool = True, command: str | None = None,
              finalize: bool = True) -> StudyResult:
    """Run every unfinished case of ``study`` into ``out_dir`` and write the study files.

    executor : "inprocess" | "processes" | "dask" | "auto" (local processes when two
    or more cases are to run and cores and memory allow it, see
    :func:`choose_local_executor`; else in process); workers : processes (local) or local
    Dask workers (with "auto": at most this many); scheduler : address of a running Dask scheduler, or the path of its
    scheduler file (``dask scheduler --scheduler-file``); client : a
    ``distributed.Client`` (wins over scheduler); batch_size : cases per task;
    progress : a progress bar on stderr; force : rerun finished cases too;
    rerun_failed : run failed cases again; command : shown in the report.
    """
    if executor not in EXECUTORS:
        raise InputError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise InputError(f"workers must be a whole number >= 1, got {workers!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with _Lock(out):
        (out / CASES_FOLDER).mkdir(exist_ok=True)
        for leftover in (out / CASES_FOLDER).glob(".tmp-*"):
            shutil.rmtree(leftover, ignore_errors=True)     # a killed run's half-written case
        for leftover in (out / CASES_FOLDER).glob(".old-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        _save_study_copy(study, out)
        outcomes: dict = {}
        todo = []
        for spec in study.cases:
            folder = out / CASES_FOLDER / spec.name
            rec = _read_record(folder)
            done = (rec is not None and rec.get("hash") == spec.hash and
                    (rec.get("status") == "ok" or (rec.get("status") == "failed" and not rerun_failed)))
            if done and not force:
                outcomes[spec.name] = CaseOutcome.from_record(rec, folder, skipped=True)
            else:
                todo.append(spec)
        if outcomes:
            log.info("%d case(s) already finished, %d to run", len(outcomes), len(todo))
        if executor == "auto":
            executor, workers = choose_local_executor(todo, workers)
        bar = _Progress(len(todo), progress, study.name)
        try:
            for o in _execute(todo, out, study.outputs, executor, workers, scheduler, client,
                              batch_size):
                outcomes[o.name] = o
                bar.update(o)
        finally:
            bar.close()
        ordered = {s.name: outcomes[s.name] for s in study.cases if s.name in outcomes}
        result = _finish(study, out, ordered, time.perf_counter() - t0, executor, command,
                         finalize)
    return result


#: Peak memory of a case per solid voxel [bytes]: ~3.4 unknowns per voxel at ~7 kB
#: per unknown (L1-L3 segment, measured 6.7-6.9 kB/DOF at 2 and 1 mm), rounded up.
CASE_BYTES_PER_VOXEL = 26_000


def available_cores() -> int:
    """Cores this process may run on (CPU affinity where the OS reports it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def available_memory_bytes() -> int | None:
    """Memory available to new processes [bytes] (Linux MemAvailable; psutil elsewhere;
    None when unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil
        return int(psutil.virtual_memory().available)
    except ImportError:
        return None


def choose_local_executor(todo, workers: int | None = None) -> tuple:
    """("processes", n) when n >= 2 local worker processes fit, else ("inprocess", None).

    n = the smallest of: the cases to run, the available cores (or ``workers``), and
    80 % of the available memory over the estimated peak of one case (the solid
    voxels of the first case's geometry x CASE_BYTES_PER_VOXEL).  One worker per core
    with one Numba thread each ran the 24-case study 1.8x faster than one process
    with two threads; results are the same bits (the kernels do not depend on the
    thread count).
    """
    n = min(len(todo), workers or available_cores())
    if n >= 2:
        memory = available_memory_bytes()
        if memory is not None:
            model = build_geometry(todo[0].model)
            per_case = CASE_BYTES_PER_VOXEL * int(np.count_nonzero(model.labels))
            n = min(n, int(0.8 * memory // max(per_case, 1)))
    if n >= 2:
        log.info("executor auto: %d local worker processes", n)
        return "processes", n
    log.info("executor auto: in this process")
    return "inprocess", None


def _save_study_copy(study: Study, out: Path) -> None:
    if study.text is not None:
        dest = out / "study.toml"
        tmp = dest.with_name(".study.toml.tmp")
        tmp.write_text(study.text, encoding="utf-8")
        os.replace(tmp, dest)
    _write_json(out / "study.json", _json_safe({
        "name": study.name, "description": study.description, "baseline": study.baseline,
        "source": study.source, "outputs": study.outputs,
        "cases": [dict(c.to_dict(), hash=c.hash) for c in study.cases]}))


# ---------------------------------------------------------------------------- executors
def _execute(todo, out, outputs, executor, workers, scheduler, client, batch_size):
    if not todo:
        return
    batches = [todo[i:i + batch_size] for i in range(0, len(todo), batch_size)]
    if executor == "inprocess":
        for batch in batches:
            for spec in batch:
                yield run_case(spec, out, outputs)
        return
    if executor == "processes":
        yield from _execute_processes(batches, out, outputs, workers)
        return
    yield from _execute_dask(batches, out, outputs, workers, scheduler, client)


@contextlib.contextmanager
def _environment(**env):
    old = {k: os.environ.get(k) for k in env}
    os.environ.update({k: str(v) for k, v in env.items()})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def worker_environment(threads: int) -> dict:
    """Environment of a worker process: its thread counts and the shared Numba cache."""
    from ..kernels import cache_dir
    return {"NUMBA_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
            "OPENBLAS_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
            "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR") or cache_dir()}


def _execute_processes(batches, out, outputs, workers):
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool
    n = workers or min(len(batches), os.cpu_count() or 1)
    threads = max(1, (os.cpu_count() or 1) // n)
    with _environment(**worker_environment(threads)):
        pool = ProcessPoolExecutor(max_workers=n, mp_context=mp.get_context("spawn"))
        futures = {pool.submit(run_cases_task, [s.to_dict() for s in b], str(out), outputs,
                               threads): b for b in batches}
        try:
            for fut in as_completed(futures):
                try:
                    for d in fut.result():
                        yield CaseOutcome(**d)
                except BrokenProcessPool as exc:
                    for spec in futures[fut]:
                        yield record_failure(spec, out, f"the worker process died: {exc}")
                except Exception as exc:              # noqa: BLE001
                    for spec in futures[fut]:
                        yield record_failure(spec, out, f"{type(exc).__name__}: {exc}")
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def dask_local_cluster(workers: int | None = None, **kwargs):
    """A local Dask cluster of ``workers`` processes, one thread each, sharing this
    process's Numba cache (NUMBA_NUM_THREADS=1 per worker)."""
    from distributed import LocalCluster
    n = workers or max(1, os.cpu_count() or 1)
    opts = dict(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                env=worker_environment(1))
    opts.update(kwargs)
    return LocalCluster(**opts)


def _execute_dask(batches, out, outputs, workers, scheduler, client):
    try:
        from distributed import Client, as_completed
    except ImportError as exc:
        raise InputError("the dask executor needs dask.distributed: pip install "
                         "'biomech[cluster]'") from exc
    cluster = None
    own_client = client is None
    if client is None:
        if scheduler:
            client = (Client(scheduler_file=str(scheduler)) if os.path.isfile(str(scheduler))
                      else Client(scheduler))
        else:
            cluster = dask_local_cluster(workers)
            client = Client(cluster)
    try:
        futures = {}
        for i, b in enumerate(batches):
            key = f"biomech-case-{b[0].name}-{b[0].hash}-{uuid.uuid4().hex[:6]}"
            fut = client.submit(run_cases_task, [s.to_dict() for s in b], str(out), outputs, 1,
                                key=key, pure=False, priority=len(batches) - i)
            futures[fut] = b
        for fut in as_completed(list(futures)):
            b = futures[fut]
            try:
                for d in fut.result():
                    yield CaseOutcome(**d)
            except Exception as exc:                  # noqa: BLE001 - e.g. KilledWorker
                for spec in b:
                    yield record_failure(spec, out, f"{type(exc).__name__}: {exc}")
    finally:
        if own_client:
            client.close()
        if cluster is not None:
            cluster.close()


# ---------------------------------------------------------------------------- study files
def _finish(study, out, outcomes, wall, executor, command, finalize) -> StudyResult:
    rows = [r for o in outcomes.values() for r in o.rows]
    rows = add_ratios(rows, study.baseline, exclude=study.swept_paths)
    columns = table_columns(rows, study.swept_paths)
    write_results_csv(out / RESULTS_CSV, rows, columns)
    result = StudyResult(study, out, outcomes, rows, columns, wall, executor)
    files = {}
    if finalize:
        files = _study_pictures(result) if study.outputs.get("pictures") else {}
        pvd = _write_pvd(result)
        if pvd:
            files["pvd"] = pvd
    _write_summary(result, files)
    if finalize and study.outputs.get("report"):
        _write_report(result, files, command)
    return result


def _write_summary(result: StudyResult, files: dict) -> None:
    from ..viz.report import package_versions
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
    _write_json(result.out_dir / SUMMARY_JSON, _json_safe(data))


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
    write_pvd(path, found)
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
        tmp = out / f".tmp-{uuid.uuid4().hex[:8]}-{fname}"
        try:
            fn(tmp)
            os.replace(tmp, out / fname)
            made[caption] = f"{PICTURES_FOLDER}/{fname}"
        except Exception as exc:                     # noqa: BLE001 - a missing plot is a note
            log.warning("study picture %s not drawn: %s: %s", fname, type(exc).__name__, exc)
            tmp.unlink(missing_ok=True)

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
                fields[n] = load_case_fields(result.out_dir / CASES_FOLDER / n)
            except (InputError, OSError, KeyError, ValueError):
                continue
        if len(fields) > 1:
            from ..viz.pictures import compare_fields
            attempt("compare_von_mises.png",
                    f"von Mises stress, same section, one colour range ({lc if lc else ''} first "
                    "load case of each case)",
                    lambda p: compare_fields(fields, "von_mises_MPa", plane="sagittal", filename=p))
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
    for name, o in list(result.outcomes.items())[:12]:
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
        write_report(out, result.rows, title=f"biomech study: {result.study.name}",
                     pictures=pictures, plots=plots,
                     study_file=result.study.source if result.study.source and
                     Path(result.study.source).is_file() else None,
                     study_text=None if result.study.source else None,
                     files=listed, inputs=inputs, columns=cols, baseline=result.study.baseline,
                     command=command, notes=notes or result.study.description or None)
    except Exception as exc:                          # noqa: BLE001 - the table is written
        log.warning("report.html not written: %s: %s", type(exc).__name__, exc)


__all__ = ["run_study", "run_case", "solve_case", "StudyResult", "CaseOutcome", "SolvedCase",
           "build_case_model", "build_geometry", "load_case_fields", "case_status",
           "read_results_csv", "dask_local_cluster", "worker_environment", "EXECUTORS"]


# ============================================================================ warmup
def kernel_dispatchers() -> dict:
    """{"module.function": numba dispatcher} of every compiled kernel in biomech.kernels."""
    import importlib
    import pkgutil
    from numba.core.dispatcher import Dispatcher
    from .. import kernels
    out = {}
    for info in pkgutil.iter_modules(kernels.__path__):
        if info.name.startswith("__"):
            continue
        mod = importlib.import_module(f"{kernels.__name__}.{info.name}")
        for name, obj in vars(mod).items():
            if isinstance(obj, Dispatcher) and getattr(obj, "__module__", None) == mod.__name__:
                out[f"{info.name}.{name}"] = obj
    # kernels made per block width (a compile-time constant), see kernels/multigrid.py
    from ..kernels import multigrid
    out.update({f"multigrid.{k}": d for k, d in multigrid.block_dispatchers().items()})
    return out


def warmup_kernels() -> dict:
    """Compile (or load from the Numba cache) every kernel by running the code paths
    that call them on tiny inputs: a vertebra between caps at 4 mm voxels with a
    vertebroplasty and a kyphoplasty, solved with AMG, direct and matrix-free solvers;
    tiny tet4 and tet10 meshes.  Returns {"module.function": number of compiled
    signatures} of every kernel (0: no path reached it -- extend this function)."""
    from ..conditions import BoneDensity, OsteoporoticFracture, apply_conditions
    from ..analysis import SegmentAnalysis
    from ..loads import standard_load_case
    from ..mesh import Mesh
    from ..meshes.vertebra import build_vertebra
    from ..problem import StaticProblem
    from ..treatments import kyphoplasty, vertebroplasty
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = apply_conditions(build_vertebra("L2", 4.0), BoneDensity(70.0))
        vp = vertebroplasty(model, "L2", volume_ml=1.0)
        fractured = apply_conditions(model, OsteoporoticFracture("L2", 2, "wedge"))
        kp = kyphoplasty(fractured, "L2", balloon_volume_ml=1.0, height_restoration=0.5)
        for solver in ("amg", "direct", "matrix-free"):
            SegmentAnalysis(vp.model if solver != "direct" else kp.model, solver=solver,
                            rtol=1e-4).run([standard_load_case("compression")])
        pts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], float)
        tets = np.array([[0, 1, 2, 3], [1, 2, 3, 4]])
        for kind, m in (("tet4", Mesh(pts, tets, "tet4")), ("tet10", _tet10_mesh())):
            m.validate()
            p = StaticProblem(m, 1000.0, 0.3)
            base = m.nodes_where(lambda x, y, z: z < 1e-9)
            top = m.nodes_where(lambda x, y, z: z > 1 - 1e-9)
            p.fix(base, "xyz")
            p.add_force(top, (0.0, 0.0, -1.0))
            sol = p.solve("direct")
            sol.strain()
        _element_kernels_on_tiny_inputs()
        from ..kernels.multigrid import warm_block_kernels
        warm_block_kernels()
    return {name: len(d.signatures) for name, d in kernel_dispatchers().items()}


def _element_kernels_on_tiny_inputs() -> None:
    """The public element kernels called directly (users and tests call them so)."""
    from .. import kernels as K
    from ..kernels import elements as E
    hex_x = ((E.HEX8_SIGNS + 1) / 2).astype(np.float64)
    tet_x = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
    t10 = _tet10_mesh().points
    for bbar in (True, False):
        K.hex8_stiffness(hex_x, 1.0, 1.0, bbar, np.zeros((24, 24)))
        E.element_stiffness(K.KIND_HEX8, hex_x, 1.0, 1.0, bbar, np.zeros((24, 24)))
    K.tet4_stiffness(tet_x, 1.0, 1.0, np.zeros((12, 12)))
    K.tet10_stiffness(t10, 1.0, 1.0, np.zeros((30, 30)))
    dN = np.zeros((8, 3))
    E.hex8_dshape(0.0, 0.0, 0.0, dN)
    G = np.zeros((8, 3))
    E.physical_gradients(dN, hex_x, G)
    E.point_stiffness_add(G, 1.0, 1.0, np.zeros((24, 24)))
    E.tet10_dshape(0.25, 0.25, 0.25, np.zeros((10, 3)))


def _tet10_mesh():
    """One quadratic tetrahedron (CalculiX C3D10 order) with straight edges."""
    from ..mesh import Mesh
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
    edges = [(0, 1), (1, 2), (2, 0), (0, 3), (1, 3), (2, 3)]
    pts = np.vstack([v] + [0.5 * (v[a] + v[b])[None] for a, b in edges])
    return Mesh(pts, np.arange(10)[None, :], "tet10")
