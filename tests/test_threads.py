"""The core budget shared by local worker processes (biomech.threads)."""
from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor

import numba
import pytest

from biomech import threads
from biomech.runner.executors import _worker_init


@pytest.fixture
def no_budget_after():
    before = numba.get_num_threads()
    yield
    threads._budget = None
    numba.set_num_threads(before)


def test_without_a_budget_nothing_changes(no_budget_after):
    threads._budget = None
    n = numba.get_num_threads()
    assert threads.threads_now() is None
    threads.rebalance()
    assert numba.get_num_threads() == n


def test_share_is_the_cores_over_the_busy_workers(no_budget_after):
    busy = mp.Value("i", 0)
    threads.install(8, busy)
    assert threads.threads_now() == 8                 # nobody counted: all of them
    busy.value = 3
    assert threads.threads_now() == 2                 # 8 // 3
    busy.value = 9
    assert threads.threads_now() == 1                 # never below one
    busy.value = 2
    threads.rebalance()
    assert numba.get_num_threads() == min(4, numba.config.NUMBA_NUM_THREADS)


def _share_in_a_worker():
    return threads.threads_now()


def test_worker_start_up_installs_the_shared_budget():
    """A spawned worker gets the budget through its initializer and reads the count the
    parent keeps: alone it takes both cores, next to another busy worker one."""
    ctx = mp.get_context("spawn")
    busy = ctx.Value("i", 1)
    with ProcessPoolExecutor(1, mp_context=ctx, initializer=_worker_init,
                             initargs=(2, busy)) as pool:
        assert pool.submit(_share_in_a_worker).result() == 2
        busy.value = 2                                # the parent counts another task
        assert pool.submit(_share_in_a_worker).result() == 1
