"""Issue 15, batches and resources: output folder faults are clear errors with no
temporary file left, no write leaves the output folder, memory is estimated before
anything is built, a lost worker costs only its own case, workers die with the parent."""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from biomech.cli import main
from biomech.errors import BiomechError, InputError
from biomech.io.files import OutputError, atomic_write_text, check_output_folder
from biomech.study import study_from_dict

REPO = Path(__file__).resolve().parents[1]

TINY = """
load_cases = ["compression"]
[model]
kind = "vertebra_with_caps"
voxel_size_mm = 4.0
[[cases]]
name = "intact"
[outputs]
pictures = false
vti = true
fields = "first"
report = true
"""


def test_out_that_is_a_file_or_under_a_file_exits_2(tmp_path, capsys):
    study = tmp_path / "s.toml"
    study.write_text(TINY)
    f = tmp_path / "afile"
    f.write_text("x")
    for out in (f, f / "sub"):
        assert main(["run", str(study), "--out", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert str(f) in err and "Traceback" not in err
    assert f.read_text() == "x"


def test_disk_full_is_a_clear_error_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    real_replace = os.replace

    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OutputError, match="disk is full"):
        atomic_write_text(tmp_path / "results.csv", "a,b\n")
    monkeypatch.setattr(os, "replace", real_replace)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_folder_is_a_clear_error(tmp_path, monkeypatch):
    real_open = os.open

    def denied(path, *a, **k):
        if ".write-test-" in str(path):
            raise OSError(errno.EROFS, "Read-only file system")
        return real_open(path, *a, **k)
    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(OutputError, match="read-only"):
        check_output_folder(tmp_path / "out")


def test_links_planted_in_the_output_folder_are_not_followed(tmp_path):
    from biomech.runner import run_study
    out = tmp_path / "out"
    out.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    names = ["study.json", "results.csv", "summary.json", "report.html", "cases.pvd"]
    for name in names:
        (outside / name).write_text("precious")
        (out / name).symlink_to(outside / name)
    s = study_from_dict({"model": {"kind": "vertebra_with_caps", "voxel_size_mm": 4.0},
                         "load_cases": ["compression"], "cases": [{"name": "intact"}],
                         "outputs": {"pictures": False, "vti": True, "report": True}})
    result = run_study(s, out, executor="inprocess")
    assert result.ok
    for name in names:
        assert (outside / name).read_text() == "precious", name
        assert not (out / name).is_symlink() and (out / name).is_file(), name
    # a planted cases folder link is refused before anything is written through it
    out2 = tmp_path / "out2"
    out2.mkdir()
    (out2 / "cases").symlink_to(outside)
    with pytest.raises(OutputError, match="symbolic link"):
        run_study(s, out2, executor="inprocess")
    assert sorted(p.name for p in outside.iterdir()) == sorted(names)


def test_memory_is_estimated_before_building(tmp_path, capsys):
    from biomech.runner.executors import check_memory, estimate_solid_voxels
    s = study_from_dict({"model": {"voxel_size_mm": 0.2}, "cases": [{"name": "fine"}]})
    t0 = time.perf_counter()
    with pytest.raises(InputError, match=r"GiB .* more than 80 % of the"):
        check_memory(s.cases)
    assert time.perf_counter() - t0 < 1.0
    assert estimate_solid_voxels(s.cases[0].model) > 2e7           # ~700 GiB
    p = tmp_path / "s.toml"
    p.write_text('[model]\nvoxel_size_mm = 0.2\n[[cases]]\nname = "fine"\n')
    assert main(["run", str(p), "--out", str(tmp_path / "o"), "--dry-run"]) == 2
    assert "GiB" in capsys.readouterr().err


# ----------------------------------------------------------------- worker processes
def crashing_task(spec_dicts, out_dir, outputs, threads=None):
    """Stand-in for run_cases_task in workers: the case named 'boom' kills its worker."""
    from biomech.runner.casefiles import CaseOutcome
    out = []
    for d in spec_dicts:
        if d["name"] == "boom":
            os._exit(3)
        time.sleep(0.2)
        out.append(CaseOutcome(name=d["name"], hash="h", status="ok", rows=[]).__dict__)
    return out


def test_a_lost_worker_costs_only_its_own_case_retried_once(tmp_path, monkeypatch):
    from biomech.runner import executors
    monkeypatch.setattr(executors, "run_cases_task", crashing_task)
    s = study_from_dict({"model": {"kind": "vertebra_with_caps", "voxel_size_mm": 4.0},
                         "cases": [{"name": n} for n in ("a", "boom", "b", "c", "d")]})
    outcomes = {o.name: o for o in executors._execute_processes([[c] for c in s.cases],
                                                                 tmp_path, {}, 2)}
    assert {n: o.status for n, o in outcomes.items()} == {
        "a": "ok", "boom": "failed", "b": "ok", "c": "ok", "d": "ok"}
    assert "died 2 times" in outcomes["boom"].error


def test_workers_die_with_the_parent(tmp_path):
    pids = tmp_path / "pids"
    script = textwrap.dedent(f"""
        import multiprocessing as mp, os, sys, time
        from concurrent.futures import ProcessPoolExecutor
        sys.path.insert(0, {str(REPO)!r})
        from biomech.runner.executors import _worker_init

        def work(i):
            with open({str(pids)!r}, "a") as f:
                f.write(f"{{os.getpid()}}\\n")
            time.sleep(60)

        if __name__ == "__main__":
            pool = ProcessPoolExecutor(2, mp_context=mp.get_context("spawn"),
                                       initializer=_worker_init)
            futs = [pool.submit(work, i) for i in range(2)]
            print("started", flush=True)
            time.sleep(60)
    """)
    (tmp_path / "parent.py").write_text(script)
    parent = subprocess.Popen([sys.executable, str(tmp_path / "parent.py")],
                              stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and (not pids.exists() or
                                          len(pids.read_text().split()) < 2):
            time.sleep(0.2)
        workers = [int(p) for p in pids.read_text().split()]
        assert len(workers) == 2
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        deadline = time.time() + 10
        alive = workers
        while alive and time.time() < deadline:
            time.sleep(0.2)
            alive = [p for p in workers if _alive(p)]
        assert not alive, f"workers {alive} outlived their parent"
    finally:
        if parent.poll() is None:
            parent.kill()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:                                   # a zombie (dead, not yet reaped) is gone too
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_ctrl_c_stops_the_process_executor_at_once(tmp_path, monkeypatch):
    """KeyboardInterrupt while cases run: the pool is killed (no wait for running or
    queued cases) and the interrupt goes up (the CLI turns it into exit 130)."""
    from biomech.runner import executors
    monkeypatch.setattr(executors, "run_cases_task", crashing_task)
    s = study_from_dict({"model": {"kind": "vertebra_with_caps", "voxel_size_mm": 4.0},
                         "cases": [{"name": f"c{i}"} for i in range(40)]})
    gen = executors._execute_processes([[c] for c in s.cases], tmp_path, {}, 2)
    next(gen)                                       # one case done, others queued
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        gen.throw(KeyboardInterrupt)
    assert time.perf_counter() - t0 < 10.0


def test_biomech_errors_exit_2_without_traceback_from_the_command_line(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('cement_files = ["/dev/zero"]\n[[cases]]\nname = "a"\n')
    env = dict(os.environ, NUMBA_CACHE_DIR=str(REPO / ".numba_cache"))
    r = subprocess.run([sys.executable, "-m", "biomech.cli", "run", str(p), "--out",
                        str(tmp_path / "o"), "--dry-run"], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 2 and "character device" in r.stderr
    assert "Traceback" not in r.stderr
    assert issubclass(OutputError, BiomechError)


def test_ctrl_c_on_biomech_run_exits_130_without_a_traceback_and_starts_nothing_new(tmp_path):
    """End to end, as a terminal does it: SIGINT to the whole process group of
    ``biomech run`` once the first case has finished.  The command returns within
    seconds (no hang), exits 130, prints no traceback, and the cases finished at the
    interrupt are all that exist a few seconds later (queued cases do not start).  The
    command starts with SIGINT's default action, as from a terminal: a test run started
    in the background (``cmd &`` without job control) hands on SIGINT ignored, and
    Python then never raises KeyboardInterrupt (the run finished all cases, exit 0)."""
    cases = "\n".join(f"[[cases]]\nname = \"c{i}\"" for i in range(12))
    study = tmp_path / "s.toml"
    study.write_text('load_cases = ["compression"]\n[model]\nkind = "vertebra_with_caps"\n'
                     'voxel_size_mm = 3.0\n[outputs]\npictures = false\nvti = false\n'
                     'fields = "none"\nreport = false\n' + cases + "\n")
    out = tmp_path / "out"
    exe = Path(sys.executable).with_name("biomech")
    proc = subprocess.Popen([str(exe), "run", str(study), "--out", str(out), "--executor",
                             "processes", "--workers", "2", "-q"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 240
        done = lambda: list((out / "cases").glob("c*/case.json")) if (out / "cases").exists() else []  # noqa: E731
        while time.time() < deadline and not done() and proc.poll() is None:
            time.sleep(0.2)
        assert done(), "no case finished"
        os.killpg(proc.pid, signal.SIGINT)
        t0 = time.time()
        _, err = proc.communicate(timeout=60)
        assert time.time() - t0 < 30
        assert proc.returncode == 130, err
        assert "Traceback" not in err
        n_at_stop = len(done())
        time.sleep(3)
        assert len(done()) == n_at_stop < 12
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
