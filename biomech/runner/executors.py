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

from ..environment import available_memory_bytes  # noqa: F401  (re-exported)
from .. import threads as thread_budget
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
    """Executor task: run a batch of cases (dicts of CaseSpec); returns outcome dicts.
    In a local worker with a core budget (:mod:`biomech.threads`) the Numba threads
    follow the budget instead of ``threads``."""
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


def estimate_solid_voxels(model: dict) -> int | None:
    """Solid voxels of a case's model estimated from its dimensions, without building it
    [count]: per vertebra 2.5 elliptic cylinders of its body (body, posterior elements,
    discs, caps), over h^3.  None for CT models (known once the image is read)."""
    import math
    from ..meshes.morphometry import LEVELS, vertebra_morphometry
    levels = model.get("levels") or ([model["level"]] if model.get("level") else [])
    h = model.get("voxel_size_mm")
    if model.get("kind") == "ct" or not h or not levels:
        return None
    mm3 = 0.0
    for lv in levels:
        if lv not in LEVELS:
            return None
        m = vertebra_morphometry(lv)
        mm3 += 2.5 * math.pi / 4 * max(m.superior_width, m.inferior_width) * \
            max(m.superior_depth, m.inferior_depth) * max(m.anterior_height, m.posterior_height)
    return int(mm3 / h ** 3)


def check_memory(todo) -> None:
    """InputError before anything is built when one case needs more than 80 % of the
    memory available (estimate from :func:`~biomech.runner.executors.estimate_solid_voxels`)."""
    memory = available_memory_bytes()
    if memory is None:
        return
    for spec in todo:
        n = estimate_solid_voxels(spec.model)
        if n is not None and CASE_BYTES_PER_VOXEL * n > 0.8 * memory:
            need = CASE_BYTES_PER_VOXEL * n
            raise InputError(f"case {spec.name!r}: its model needs about {need / 2**30:.1f} GiB "
                             f"(~{n:,} solid voxels at {spec.model['voxel_size_mm']:g} mm, "
                             f"{CASE_BYTES_PER_VOXEL // 1000} kB each), more than 80 % of the "
                             f"{memory / 2**30:.1f} GiB available; use a larger voxel size")


def choose_local_executor(todo, workers: int | None = None) -> tuple:
    """("processes", n) when n >= 2 local worker processes fit, else ("inprocess", None).

    n = the smallest of: the cases to run, the available cores (or ``workers``), and
    80 % of the available memory over the estimated peak of one case (the solid voxels
    of the largest case estimated from its dimensions, :func:`~biomech.runner.executors.estimate_solid_voxels`, x
    CASE_BYTES_PER_VOXEL; nothing is built to decide).  One worker per core with one
    Numba thread each ran the 24-case study 1.8x faster than one process with two
    threads.  The kernels do not depend on the thread count, but workers run BLAS and
    OpenMP with one thread while this process keeps its own settings, so results agree
    to rounding (about 1e-13 relative), not always to the bit.
    """
    n = min(len(todo), workers or available_cores())
    if n >= 2:
        memory = available_memory_bytes()
        if memory is not None:
            est = [estimate_solid_voxels(s.model) for s in todo]
            if any(e is None for e in est):
                model = build_geometry(todo[0].model)          # CT: read the image once
                est = [int(np.count_nonzero(model.labels))]
            per_case = CASE_BYTES_PER_VOXEL * max(est)
            n = min(n, int(0.8 * memory // max(per_case, 1)))
    if n >= 2:
        log.info("executor auto: %d local worker processes", n)
        return "processes", n
    log.info("executor auto: in this process")
    return "inprocess", None


def cache_is_warm() -> bool:
    """Whether the Numba cache already holds the kernels (MIN_CACHED_KERNELS index files)."""
    from ..kernels import cache_dir
    n_cached = 0
    for _, _, files in os.walk(cache_dir()):
        n_cached += sum(f.endswith(".nbi") for f in files)
    return n_cached >= MIN_CACHED_KERNELS


def warm_cache(progress: bool = False, workers: int | None = None) -> dict | None:
    """Compile the kernels once before workers start (they then load them from the shared
    Numba cache instead of each compiling them): the packaged signature list on
    ``workers`` processes (default: the available cores; :mod:`.kernel_compile`), then
    the warm-up in this process for anything the list lacks; said on the progress
    output.  Skipped when the cache already holds them (returns None); otherwise returns
    the warm-up's {"module.function": signatures}."""
    from .kernel_compile import check_workers, compile_in_parallel
    if workers is not None:
        check_workers(workers)
    if cache_is_warm():
        return None
    import sys
    import time
    from ..kernels import cache_dir
    from .warmup import warmup_kernels
    n = available_cores() if workers is None else int(workers)
    msg = f"compiling kernels into the Numba cache {cache_dir()} on {n} processes (once)"
    log.info(msg)
    if progress:
        sys.stderr.write(msg + " ...\n")
        sys.stderr.flush()
    t0 = time.perf_counter()
    if n > 1:
        try:
            compile_in_parallel(n)
        except Exception as exc:             # noqa: BLE001 (the warm-up below compiles all)
            log.warning("parallel kernel compile failed (%s: %s); compiling in this process",
                        type(exc).__name__, exc)
    counts = warmup_kernels()
    if progress:
        sys.stderr.write(f"kernels compiled in {time.perf_counter() - t0:.0f} s\n")
    return counts


#: A warm cache holds at least this many compiled kernel index files (.nbi).
MIN_CACHED_KERNELS = 20


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


def worker_environment(threads: int, numba_threads: int | None = None) -> dict:
    """Environment of a worker process: its thread counts (Numba's pool: numba_threads,
    default threads) and the shared Numba cache."""
    from ..kernels import cache_dir
    return {"NUMBA_NUM_THREADS": str(numba_threads or threads), "OMP_NUM_THREADS": str(threads),
            "OPENBLAS_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
            "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR") or cache_dir()}


def _worker_init(cores: int | None = None, busy=None) -> None:
    """Start of a worker process: die with the parent (Linux: PR_SET_PDEATHSIG SIGKILL;
    elsewhere a thread that exits when the parent is gone), leave Ctrl-C to the parent
    (which stops the run and ends the workers), and share ``cores`` with the other
    workers counted in ``busy`` (kept by the parent; :mod:`biomech.threads`)."""
    if busy is not None:
        thread_budget.install(cores, busy)
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)                # PR_SET_PDEATHSIG
        if os.getppid() != parent:                   # the parent died before prctl
            os._exit(1)
        return
    except (OSError, AttributeError):
        pass
    import threading
    import time

    def watch():
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)
    threading.Thread(target=watch, daemon=True).start()


#: How often a batch whose worker process died is run again (then recorded failed).
WORKER_RETRIES = 1


def _execute_processes(batches, out, outputs, workers):
    """Batches on local worker processes.  A worker that dies (killed, out of memory)
    breaks the pool: the batches not finished are run again in a fresh pool, each at most
    WORKER_RETRIES more times, so a lost worker costs only its own case.  Ctrl-C stops
    new work at once: queued batches are cancelled, running workers are ended and
    KeyboardInterrupt goes up (their half-written case folders are removed by the next
    run)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool
    cores = available_cores()
    n = workers or min(len(batches), cores)
    threads = max(1, cores // n)
    ctx = mp.get_context("spawn")
    busy = ctx.Value("i", 0)            # workers with a task (only this process writes it)
    lost = {i: 0 for i in range(len(batches))}
    rounds = [[list(range(len(batches)))]]       # first: one shared pool for every batch
    with _environment(**worker_environment(threads, numba_threads=cores)):
        while rounds:
            groups = rounds.pop(0)
            pools = [ProcessPoolExecutor(max_workers=min(n, len(g)), mp_context=ctx,
                                         initializer=_worker_init, initargs=(cores, busy))
                     for g in groups]
            futures = {pool.submit(run_cases_task, [s.to_dict() for s in batches[i]], str(out),
                                   outputs, threads): i for pool, g in zip(pools, groups) for i in g}
            busy.value = min(n, len(futures))
            broken = []
            try:
                for done, fut in enumerate(as_completed(futures), start=1):
                    busy.value = min(n, len(futures) - done)    # the cores of idle workers
                    i = futures[fut]
                    try:
                        for d in fut.result():
                            yield CaseOutcome(**d)
                    except BrokenProcessPool:
                        broken.append(i)
                    except Exception as exc:              # noqa: BLE001
                        for spec in batches[i]:
                            yield record_failure(spec, out, f"{type(exc).__name__}: {exc}")
            except BaseException:                     # Ctrl-C, generator closed: stop now
                for pool in pools:
                    _kill_pool(pool)
                raise
            for pool in pools:
                pool.shutdown(wait=True, cancel_futures=True)
            pending = []
            # a broken shared pool fails every batch in it: the retries run each batch in
            # a pool of its own (n at a time), so a second death names the batch that dies
            for i in broken:
                lost[i] += 1
                if lost[i] > WORKER_RETRIES and len(groups[0]) == 1:
                    for spec in batches[i]:
                        yield record_failure(spec, out, f"the worker process died "
                                                        f"{lost[i]} times running this case")
                else:
                    log.warning("a worker process died; running %s again",
                                [s.name for s in batches[i]])
                    pending.append(i)
            rounds += [[[i] for i in pending[k:k + n]] for k in range(0, len(pending), n)]


def _kill_pool(pool) -> None:
    """End a process pool at once: cancel what is queued, kill the workers, reap them."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        try:
            p.kill()
        except (OSError, ValueError, AttributeError):
            pass
    for p in procs:
        try:
            p.join(timeout=5)
        except (OSError, ValueError, AttributeError):
            pass


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
