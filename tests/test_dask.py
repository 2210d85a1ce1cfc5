"""Studies on Dask: a local cluster gives the in-process results.csv; killing a worker
mid-study loses no finished case and a rerun completes the rest."""
from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

pytest.importorskip("distributed")

from biomech.runner import CASES_FOLDER, dask_local_cluster, read_results_csv, run_study  # noqa: E402
from biomech.study import study_from_dict  # noqa: E402


def tiny_study(n_vp: int, voxel_size_mm: float = 4.0, load_cases=("compression",)):
    """intact + vertebroplasties of growing volume: an L2 body between caps."""
    return study_from_dict({
        "study": {"name": "dask", "baseline": "intact"},
        "model": {"kind": "vertebra_with_caps", "level": "L2", "voxel_size_mm": voxel_size_mm,
                  "bone": {"vbmd_mg_cm3": 70.0}},
        "load_cases": list(load_cases),
        "cases": [{"name": "intact"},
                  {"name": "vp", "treatment": {"kind": "vertebroplasty", "level": "L2",
                                               "approach": "extrapedicular", "volume_ml": 1.0}}],
        "sweeps": [{"case": "vp", "grid": {"treatment.volume_ml": [1.0 + 0.5 * i
                                                                   for i in range(n_vp)]}}],
        "outputs": {"pictures": False, "vti": False, "fields": "none", "report": False},
    })


def test_local_dask_cluster_gives_the_in_process_results(tmp_path):
    study = tiny_study(2)
    local = run_study(study, tmp_path / "inprocess")
    dask = run_study(study, tmp_path / "dask", executor="dask", workers=2)
    assert local.ok and dask.ok and dask.executor == "dask"
    a = read_results_csv(tmp_path / "inprocess" / "results.csv")
    b = read_results_csv(tmp_path / "dask" / "results.csv")
    assert list(a[0]) == list(b[0]) and len(a) == len(b) == 3
    for x, y in zip(a, b):
        for k in x:
            if isinstance(x[k], float):
                # same inputs and code; workers run one Numba thread: 1e-9 relative
                # leaves room only for another summation order
                assert y[k] == pytest.approx(x[k], rel=1e-9, abs=1e-12), k
            else:
                assert x[k] == y[k], k


def test_killed_worker_loses_no_finished_case_and_a_rerun_completes(tmp_path):
    """One worker, no retries: the worker is killed (SIGKILL) while it runs a case right
    after the first case finished.  Finished cases stay as they were; the interrupted
    one is recorded as failed; a rerun runs exactly what is not finished."""
    import dask
    from distributed import Client
    study = tiny_study(4, voxel_size_mm=3.0, load_cases=("compression", "flexion"))
    out = tmp_path / "out"
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = dask_local_cluster(1)
        client = Client(cluster)
    try:
        done = {}
        thread = threading.Thread(target=lambda: done.setdefault(
            "result", run_study(study, out, executor="dask", client=client)))
        thread.start()
        deadline = time.time() + 120
        while time.time() < deadline and not list((out / CASES_FOLDER).glob("*/case.json")):
            time.sleep(0.02)
        pids = list(client.run(os.getpid).values())
        os.kill(pids[0], signal.SIGKILL)
        thread.join(timeout=180)
        assert not thread.is_alive()
        first = done["result"]
        finished = {n for n, o in first.outcomes.items() if o.status == "ok"}
        assert finished and first.failed, "the kill should interrupt a running case"
        assert all("Killed" in first.outcomes[n].error or "died" in first.outcomes[n].error
                   for n in first.failed)
        records = {n: (out / CASES_FOLDER / n / "case.json").read_bytes() for n in finished}
        second = run_study(study, out, executor="dask", client=client)
        assert second.ok
        assert set(second.skipped) == finished
        assert {n: (out / CASES_FOLDER / n / "case.json").read_bytes() for n in finished} == records
        rows = read_results_csv(out / "results.csv")
        assert len(rows) == 2 * len(study.cases) and all(r["status"] == "ok" for r in rows)
        assert not list((out / CASES_FOLDER).glob(".tmp-*"))
        for n in study.case_names:
            assert json.loads((out / CASES_FOLDER / n / "case.json").read_text())["hash"] == \
                study.case(n).hash
    finally:
        client.close()
        cluster.close()
