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
  one case per task, cores / workers Numba threads each, and a worker left running alone
  takes the cores of finished ones: :mod:`biomech.threads`); "dask" (an existing
  scheduler by address or a ``distributed.Client``, else a local cluster of ``workers``
  processes with one thread each).  One task is one case, or ``batch_size`` cases.
  Workers write their case folders themselves: the output folder must be on a file
  system every worker sees (a cluster's shared file system).
* One run per output folder at a time (``run.lock`` holds the pid and host).

Modules: models (spec -> objects), case (solve one case), rows (result rows, ratios,
results.csv), casefiles (case folder), lock, executors, outputs (study files, report),
study_run (run_study), warmup (kernels).
"""
from .case import SolvedCase, build_case_model, solve_case
from .casefiles import (CASE_RECORD, CASES_FOLDER, FIELDS_FILE, PICTURES_FOLDER, CaseOutcome,
                        case_status, load_case_fields, record_failure, run_case,
                        write_case_folder)
from .executors import (CASE_BYTES_PER_VOXEL, DEFAULT_EXECUTOR, EXECUTORS, available_cores,
                        available_memory_bytes, choose_local_executor, dask_local_cluster,
                        run_cases_task, set_threads, worker_environment)
from .lock import LOCK_FILE, RunLock
from .models import (apply_bone, apply_treatment, build_geometry, cement_object,
                     condition_object, registry_for)
from .outputs import RESULTS_CSV, SUMMARY_JSON
from .rows import (ID_COLUMNS, NO_RATIO, PARAM_COLUMNS, RATIO_ZERO_FRACTION, add_ratios,
                   case_params, case_rows, read_results_csv, table_columns, treatment_metrics,
                   write_results_csv)
from .study_run import StudyResult, run_study
from .warmup import kernel_dispatchers, warmup_kernels

__all__ = ["run_study", "run_case", "solve_case", "StudyResult", "CaseOutcome", "SolvedCase",
           "build_case_model", "build_geometry", "load_case_fields", "case_status",
           "read_results_csv", "write_results_csv", "dask_local_cluster", "worker_environment",
           "choose_local_executor", "EXECUTORS", "DEFAULT_EXECUTOR", "warmup_kernels",
           "kernel_dispatchers", "registry_for", "apply_bone", "apply_treatment",
           "condition_object", "cement_object", "add_ratios", "table_columns", "case_rows",
           "case_params", "treatment_metrics", "record_failure", "write_case_folder",
           "run_cases_task", "set_threads", "available_cores", "available_memory_bytes",
           "RunLock", "ID_COLUMNS", "PARAM_COLUMNS", "NO_RATIO", "RATIO_ZERO_FRACTION",
           "CASE_BYTES_PER_VOXEL", "CASES_FOLDER", "CASE_RECORD", "FIELDS_FILE",
           "PICTURES_FOLDER", "RESULTS_CSV", "SUMMARY_JSON", "LOCK_FILE"]
