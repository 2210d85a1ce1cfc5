"""Result rows of a case and the results table: input columns, cement metrics, ratios
to the baseline, column order, results.csv read and write."""
from __future__ import annotations

import csv
import logging
import math
from pathlib import Path

import numpy as np

from ..io.files import atomic_open
from ..study import CaseSpec

log = logging.getLogger(__name__)

#: Columns that identify a row; they come first in results.csv.
ID_COLUMNS = ("case", "load_case", "status", "case_hash")
#: Columns that describe the case (inputs); never divided by the baseline.
PARAM_COLUMNS = ("model", "voxel_size_mm", "vbmd_mg_cm3", "condition", "treatment",
                 "treated_level", "focus_level", "approach", "cement", "cement_E_MPa",
                 "injection_time_min", "viscosity_start_Pa_s", "viscosity_end_Pa_s")
#: Numeric columns that are not outcomes (no _ratio column).
NO_RATIO = {"dofs", "time_s", "solve_time_s", "small_strain_valid",   # flags: no ratio
            "genant_grade"}
#: Treatment metrics of an untreated case (nothing injected, nothing leaked).
_UNTREATED = {"injected_ml": 0.0, "cement_volume_ml": 0.0, "fill_fraction": 0.0,
              "leak_volume_ml": 0.0, "cavity_ml": 0.0, "height_restored_mm": 0.0,
              "leak_probability": 0.0, "leak_probability_ci_low": 0.0,
              "leak_probability_ci_high": 0.0, "expected_leak_volume_ml": 0.0,
              "peak_injection_pressure_MPa": 0.0}


def _condition_text(spec: CaseSpec) -> str:
    from .models import condition_object
    return "; ".join(condition_object(c).describe() for c in spec.conditions) or "none"


def case_params(spec: CaseSpec, treated) -> dict:
    """The input columns of a case (see PARAM_COLUMNS) and its swept values."""
    from .models import treatment_object
    m = spec.model
    plans = [treatment_object(t) for t in spec.treatments]
    out = {"model": m["kind"] + (f" {'-'.join([m['levels'][0], m['levels'][-1]])}"
                                 if m["kind"] == "segment" else
                                 f" {m.get('level', '')}" if "level" in m else ""),
           "voxel_size_mm": m.get("voxel_size_mm"),
           "vbmd_mg_cm3": (m.get("bone") or {}).get("vbmd_mg_cm3"),
           "condition": _condition_text(spec),
           "treatment": "+".join(p.KIND for p in plans) or "none",
           "treated_level": "+".join(p.level for p in plans),
           "focus_level": spec.focus_level or "",
           "approach": "+".join(p.approach for p in plans),
           "cement": "+".join(p.cement.name for p in plans),
           "cement_E_MPa": plans[0].cement.E_MPa if plans else None}
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
    fill_fraction (of the first treated body), leak by site [mL]; leak probabilities
    (any and by site, Wilson interval of a single treatment; several levels combine as
    independent: 1 - prod(1 - p)), expected leak volume [mL], peak injection pressure
    [MPa] (largest over the treatments)."""
    from ..treatments import SITE_NAMES
    from ..treatments.leak_risk import combine
    out = dict(_UNTREATED)
    for name in SITE_NAMES.values():
        out[f"leak_volume_ml_{name}"] = 0.0
        out[f"leak_probability_{name}"] = 0.0
    risks = [getattr(r, "leak_risk", None) for r in treated]
    out.update(combine(risks))
    if len(treated) == 1 and risks[0] is not None:
        out["leak_probability_ci_low"], out["leak_probability_ci_high"] = risks[0].ci_any
    elif treated:
        # several levels: no single interval; a treatment without realisations: not assessed
        out["leak_probability_ci_low"] = out["leak_probability_ci_high"] = None
    if treated and any(r is None for r in risks):
        for k in [k for k in out if k.startswith("leak_probability")] + ["expected_leak_volume_ml"]:
            out[k] = None
    for r in treated:
        out["peak_injection_pressure_MPa"] = max(out["peak_injection_pressure_MPa"],
                                                 float(r.summary().get("peak_injection_pressure_MPa", 0.0)))
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


def deformity_row(analysis) -> dict:
    """Deformity of the solved model (:func:`biomech.deformity.deformity_metrics`: heights
    [mm], endplate tilts, wedge angle and kyphosis [deg], Genant grade; the same for every
    load case); {} where the model has no measurable vertebral body."""
    from ..deformity import deformity_metrics
    from ..errors import BiomechError
    try:
        return deformity_metrics(analysis.model, analysis.focus_level)
    except BiomechError as exc:
        log.info("no deformity metrics: %s", exc)
        return {}


def failure_row(analysis, result) -> dict:
    """Pistoia failure load and factor of risk per vertebra of one load case
    (:func:`biomech.failure.failure_metrics`); {} where the model has no bone to assess."""
    from ..errors import BiomechError
    from ..failure import failure_metrics
    try:
        return failure_metrics(analysis, result)
    except BiomechError as exc:
        log.info("no failure metrics: %s", exc)
        return {}


def case_rows(spec: CaseSpec, treated, analysis, results) -> list:
    """One row per load case: ids, inputs, cement metrics, mechanics metrics (no timings:
    results.csv is the same whatever ran it; times are in case.json and summary.json)."""
    params = case_params(spec, treated)
    cement = treatment_metrics(treated)
    shape = deformity_row(analysis)
    rows = []
    for r in results:
        row = {"case": spec.name, "load_case": r.load_case.name, "status": "ok",
               "case_hash": spec.hash, **params, **cement, **shape}
        for k, v in r.metrics.items():
            if k in ("load_case",):
                continue
            row[k] = v
        row.update(failure_row(analysis, r))
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


#: First characters that make a spreadsheet read a cell as a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text(text: str) -> str:
    """A text cell that no spreadsheet runs as a formula: a leading = + - @ tab or CR is
    escaped with an apostrophe (OWASP's advice; :func:`read_results_csv` removes it)."""
    return "'" + text if text.startswith(FORMULA_START) else text


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
    return csv_text(str(v))


def write_results_csv(path, rows: list, columns: list) -> Path:
    path = Path(path)
    with atomic_open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([csv_text(str(c)) for c in columns])
        for r in rows:
            w.writerow([_csv_value(r.get(c)) for c in columns])
    return path


def _uncsv_text(text):
    if isinstance(text, str) and text.startswith("'") and text[1:].startswith(FORMULA_START):
        return text[1:]
    return text


def read_results_csv(path) -> list:
    """results.csv back as dicts (numbers as float, empty cells as None)."""
    out = []
    with open(path, newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            row = {}
            for k, v in r.items():
                k = _uncsv_text(k)
                if v == "":
                    row[k] = None
                    continue
                try:
                    row[k] = float(v)
                except ValueError:
                    row[k] = _uncsv_text(v)
            out.append(row)
    return out
