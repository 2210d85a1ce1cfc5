"""A budget of cores shared by local worker processes.

Cases of a batch run one per worker process, each on ``cores // workers`` Numba threads.
When the queue is empty and workers finish, the ones still running would keep their
share and leave cores idle (the last case of the 1 mm demo ran alone on one of two
cores).  With a budget installed (:func:`install`, by the worker's start-up) a worker
counts itself busy while it runs a task, and :func:`rebalance` -- called by the solver
between linear solves -- sets this thread's Numba threads to ``cores // busy workers``.
The kernels' summation order is fixed by the data, never by the thread count, so the
results do not change with it.  Without a budget (one process, Dask, a script)
:func:`rebalance` does nothing.
"""
from __future__ import annotations

import contextlib

_budget = None          # (cores, multiprocessing.Value of busy workers) when installed


def install(cores: int, busy) -> None:
    """Share ``cores`` among the workers counted in ``busy`` (a ``multiprocessing.Value``
    of int, shared by the workers)."""
    global _budget
    _budget = (max(1, int(cores)), busy)


def threads_now() -> int | None:
    """This worker's share of the cores now [threads], or None without a budget."""
    if _budget is None:
        return None
    cores, busy = _budget
    return max(1, cores // max(1, busy.value))


def rebalance() -> None:
    """Set this thread's Numba threads to its share (at most NUMBA_NUM_THREADS)."""
    n = threads_now()
    if n is not None:
        import numba
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


@contextlib.contextmanager
def busy():
    """Count this worker busy for the block (a no-op without a budget)."""
    if _budget is None:
        yield
        return
    counter = _budget[1]
    with counter.get_lock():
        counter.value += 1
    try:
        rebalance()
        yield
    finally:
        with counter.get_lock():
            counter.value -= 1
