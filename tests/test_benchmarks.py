"""The benchmark scripts still run (smallest sizes, no peers): a benchmark that rots
is not caught by anything else.  Timings are not checked (speed is reported by the
benchmarks, never asserted in tests); the figures must be finite and consistent."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def bench_core(monkeypatch):
    import sys
    monkeypatch.syspath_prepend(str(BENCH))
    mod = _load("bench_core")
    monkeypatch.setitem(sys.modules, "bench_core", mod)
    # a small triad keeps the test light (the real run uses 40 M elements)
    small = mod.stream_triad_gbs
    monkeypatch.setattr(mod, "stream_triad_gbs", lambda: small(n=1_000_000, repeats=2))
    return mod


def test_bench_segment_runs_at_5_mm(bench_core, tmp_path, capsys):
    mod = _load("bench_segment")
    out = tmp_path / "seg.json"
    mod.main(["--sizes", "5", "--no-peers", "--json", str(out)])
    row = json.loads(out.read_text())["rows"][0]
    assert row["voxel_mm"] == 5.0 and row["unknowns"] > 1000
    assert row["block_iterations"] > 0 and np.isfinite(row["block_solve_s"])
    assert row["levels"][0] == row["unknowns"]
    assert "| 5 mm |" in capsys.readouterr().out


def test_bench_core_quick_runs(bench_core, tmp_path):
    out = tmp_path / "core.json"
    bench_core.main(["--quick", "--no-peers", "--kinds", "voxel", "--json", str(out)])
    data = json.loads(out.read_text())
    (row,) = data["rows"]
    assert data["meta"]["triad_gbs"] > 0
    assert all(np.isfinite(v) for v in row.values() if isinstance(v, float))


def test_bench_strains_runs_and_the_codes_agree(tmp_path, capsys):
    """The strain benchmark's three codes compute the same element-mean strains
    (round-off: 1e-12 relative), so its ratios compare like with like."""
    mod = _load("bench_strains")
    out = tmp_path / "strains.json"
    mod.main(["--n", "4", "--repeats", "1", "--json", str(out)])
    rows = json.loads(out.read_text())
    assert {r["code"] for r in rows} >= {"biomech voxel_strains", "biomech element_strains"}
    assert all(r["max_diff"] < 1e-12 and r["time_s"] > 0 for r in rows)
    assert "| 64 | biomech voxel_strains |" in capsys.readouterr().out


def test_bench_coarse_product_runs_and_the_codes_agree(tmp_path, capsys):
    """The coarse-product benchmark's packed and unpacked kernels give SciPy's CSR product
    of the same assembled matrix to float32 storage precision (1e-6 relative), so its
    ratios compare like with like."""
    mod = _load("bench_coarse_product")
    out = tmp_path / "coarse.json"
    mod.main(["--n", "4", "--repeats", "1", "--json", str(out)])
    rows = json.loads(out.read_text())
    assert len(rows) == 3 and all(r["time_ms"] > 0 for r in rows)
    assert all(r["rel_diff"] < 1e-6 for r in rows)
    assert "| 64 | biomech unpacked (element_matvec_dense_coloured) |" in capsys.readouterr().out


def test_peak_rss_mark_measures_memory_after_it(bench_core):
    """PeakRSS.mark's bookkeeping on a scripted RSS (the real one moves with what the
    allocator keeps or returns, so a real allocation cannot pin it): a peak before the
    mark does not count after it; the peak after it is measured from its level."""
    rss = [100e6]
    peak = bench_core.PeakRSS()
    peak._rss = lambda: rss[0]
    peak.base = peak.peak = rss[0]
    peak._marks = {}
    peak._note(164e6)                     # a model's transient, before the mark
    rss[0] = 110e6
    peak.mark("solver")
    assert peak.has_mark("solver") and not peak.has_mark("other")
    for level in (150e6, 206e6, 120e6):
        peak._note(level)
    assert peak.at_mark_GB("solver") == pytest.approx(0.010)
    assert peak.since_mark_GB("solver") == pytest.approx(0.096)
    assert (peak.peak - peak.base) / 1e9 == pytest.approx(0.106)


def test_bench_gmg_segment_row_splits_model_and_solve(bench_core, monkeypatch):
    """bench_gmg's L1-L3 row at 5 mm: the memory split at the solver's set-up is
    reported (model + solve peak bounded by the case's peak), and the set-up it wraps
    to mark the split is restored afterwards."""
    from biomech.fem.problem import StaticProblem
    monkeypatch.syspath_prepend(str(BENCH))
    setup = StaticProblem._setup_solver
    row = _load("bench_gmg").run_segment(5.0, "gmg")
    assert StaticProblem._setup_solver is setup
    assert row["solve_GB"] >= 0                     # from the level at the mark up
    assert row["model_GB"] + row["solve_GB"] <= row["peak_GB"] + 1e-9
    assert row["solve_B_per_dof"] == pytest.approx(row["solve_GB"] * 1e9 / row["dofs"])
    assert row["iterations"] > 0
