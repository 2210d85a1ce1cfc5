"""A budget of cores shared by local worker processes.

Cases of a batch run one per worker process, each on ``cores // workers`` Numba threads.
When the queue is empty and workers finish, the ones still running would keep their
share and leave cores idle (the last case of the 1 mm demo ran alone on one of two
cores).  The parent process keeps the number of workers with a task in a shared
counter (``multiprocessing.Value``: the tasks not yet done, at most the workers); each
worker reads it through the budget its start-up installs (:func:`install`), and
:func:`rebalance` -- called by the solver before each linear solve and each V-cycle --
sets this thread's Numba threads to ``cores // busy workers``.  Only the parent writes
the counter, so a worker that dies cannot leave it wrong.  The kernels' summation order
is fixed by the data, never by the thread count, so the results do not change with it.
Without a budget (one process, Dask, a script) :func:`rebalance` does nothing.
"""
from __future__ import annotations

_budget = None          # (cores, multiprocessing.Value of busy workers) when installed


def install(cores: int, busy) -> None:
    """Share ``cores`` among the workers counted in ``busy`` (a ``multiprocessing.Value``
    of int that the parent keeps up to date)."""
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
