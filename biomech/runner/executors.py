"""Where the cases of a study run: in this process, local processes
(``concurrent.futures``, spawned) or Dask; "auto" picks local processes when cores and
memory allow.  One task is one case or a batch of cases; workers write their case
folders themselves."""
from __future__ import annotations

import contextlib
import logging
import os
import uuid

import numpy as np

from ..errors import InputError
from ..study import CaseSpec
from .casefiles import CaseOutcome, record_failure, run_case
from .models import build_geometry

log = logging.getLogger(__name__)

#: The executors of :func:`biomech.runner.run_study` and of ``biomech run --executor``.
EXECUTORS = ("auto", "inprocess", "processes", "dask")
#: The one default executor (library and command line).
DEFAULT_EXECUTOR = "auto"

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
