"""The case folder: ``cases/<name>/`` with case.json (spec, hash, rows, timings,
warnings, error), fields.npz, the VTI/VTU of the fields and pictures; written into a
temporary folder and renamed into place (complete or absent)."""
from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import os
import shutil
import socket
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import BiomechError, InputError
from ..io.files import atomic_write_json
from ..study import CaseSpec, Study
from .case import SolvedCase, solve_case
from .rows import failed_rows

log = logging.getLogger(__name__)

CASES_FOLDER = "cases"
CASE_RECORD = "case.json"
FIELDS_FILE = "fields.npz"
PICTURES_FOLDER = "pictures"

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
            pics = save_case_pictures(solved.case_fields(0), folder / PICTURES_FOLDER,
                                      load_case=solved.results[0].load_case.name)
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
    atomic_write_json(tmp / CASE_RECORD, rec)
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
    atomic_write_json(tmp / CASE_RECORD, rec)
    _commit_folder(tmp, final)
    return CaseOutcome.from_record(rec, final)


def _read_record(folder: Path) -> dict | None:
    try:
        return json.loads((Path(folder) / CASE_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def load_case_fields(folder, load_case: str | None = None):
    """CaseFields (model with its fields, mesh, cell fields, displacement) from a case
    folder's fields.npz."""
    from ..fem.mesh import VoxelMesh
    from ..meshes.voxel_model import VoxelModel
    from ..case_fields import CaseFields
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
