"""Running a study: skip finished cases, run the others on an executor, then write
results.csv (with ratios), summary.json, pictures and the report."""
from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..io.files import OutputError, check_output_folder
from ..study import Study
from .casefiles import CASES_FOLDER, CaseOutcome, _read_record, load_case_fields
from .executors import (DEFAULT_EXECUTOR, EXECUTORS, _execute, check_memory,
                        choose_local_executor, warm_cache)
from .lock import RunLock
from .outputs import (RESULTS_CSV, _save_study_copy, _study_pictures, _write_pvd, _write_report,
                      _write_summary)
from .rows import add_ratios, table_columns, write_results_csv

log = logging.getLogger(__name__)

@dataclass
class StudyResult:
    """A finished study run: ``rows`` (results.csv as dicts, ratios included), one
    :class:`~biomech.runner.casefiles.CaseOutcome` per case, the output folder and the wall time [s]."""

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


def run_study(study: Study, out_dir, *, executor: str = DEFAULT_EXECUTOR, workers: int | None = None,
              scheduler=None, client=None, batch_size: int = 1, progress: bool = False,
              force: bool = False, rerun_failed: bool = True, command: str | None = None,
              finalize: bool = True) -> StudyResult:
    """Run every unfinished case of ``study`` into ``out_dir`` and write the study files.

    executor : "inprocess" | "processes" | "dask" | "auto" (local processes when two
    or more cases are to run and cores and memory allow it, see
    :func:`~biomech.runner.executors.choose_local_executor`; else in process); workers : processes (local) or local
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
    out = check_output_folder(out_dir)
    t0 = time.perf_counter()
    with RunLock(out):
        if (out / CASES_FOLDER).is_symlink():
            raise OutputError(out / CASES_FOLDER, "is a symbolic link; biomech writes case "
                                                  "folders only inside the output folder")
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
        check_memory(todo)
        if executor == "auto":
            executor, workers = choose_local_executor(todo, workers)
        if executor in ("processes", "dask") and todo:
            warm_cache(progress)
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
