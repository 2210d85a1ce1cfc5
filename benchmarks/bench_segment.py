"""Benchmark of a study case: the L1-L3 segment of the default study (grade-2 wedge
fracture of L2, bipedicular vertebroplasty with 4 mL PMMA), in one process.

    python benchmarks/bench_segment.py                 # 2 mm and 1 mm voxels
    python benchmarks/bench_segment.py --sizes 2 --json out.json
    python benchmarks/bench_segment.py --no-peers      # biomech only

Per voxel size: unknowns, model build, assembly, the AMG hierarchy (pyamg smoothed
aggregation, shared by both cycles), and the solve that dominates a case -- the
six plate columns of the rigid-plate condensation to rtol 1e-6 -- through

* biomech: :class:`biomech.fem.multigrid.MultigridCycle` on the block kernels (six
  vectors per matrix read, symmetric Gauss-Seidel parallel over row chunks), one
  lockstep block CG;
* the peer: pyamg's own V-cycle (``ml.aspreconditioner()``, symmetric
  Gauss-Seidel, the same hierarchy), one CG per column;

with their ratio, unknowns x columns solved per second, the time of one cycle and
the bandwidth of the finest-level sweep against a STREAM triad measured in the same
run; then the whole case through ``biomech.runner.solve_case`` (five load cases)
with its peak memory per DOF.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".numba_cache"))
sys.path.insert(0, os.path.dirname(__file__))

import numba  # noqa: E402

from bench_core import PeakRSS, stream_triad_gbs  # noqa: E402
from biomech import kernels as K  # noqa: E402
from biomech.analysis import SegmentAnalysis  # noqa: E402
from biomech.fem.multigrid import CSROperator, MultigridCycle  # noqa: E402
from biomech.runner import build_case_model, registry_for, solve_case  # noqa: E402
from biomech.fem.solvers import COARSE_MAX_UNKNOWNS, pcg, split_coupled  # noqa: E402
from biomech.study import load_study  # noqa: E402

STUDY = os.path.join(os.path.dirname(__file__), "..", "examples", "study_default.toml")
RTOL = 1e-6


def case_spec(h: float, name: str = "vertebroplasty"):
    study = load_study(STUDY, voxel_size_mm=h)
    return next(c for c in study.cases if c.name == name)


def condensation_system(spec):
    """(A_ii, near-nullspace B, A_ip): the inner system of the plate condensation."""
    model, *_ = build_case_model(spec)
    an = SegmentAnalysis(model, registry=registry_for(spec.model))
    prob = an.problem
    red = prob._reduction()
    t0 = time.perf_counter()
    A = (red.T.T @ prob.stiffness @ red.T).tocsr()
    t_asm = time.perf_counter() - t0
    A.sort_indices()
    K.decouple_rows_and_columns(A.indptr, A.indices, A.data, red.decoupled)
    plate = np.concatenate(list(red.plate_columns.values()))
    A_ii, A_ip, is_p = split_coupled(A, plate)
    B = prob._near_nullspace(red)
    B[is_p] = 0.0
    return A_ii, B, A_ip.toarray(), t_asm      # the block of right-hand sides


def bench_size(h: float, *, peers: bool, triad: float) -> dict:
    import pyamg
    spec = case_spec(h)
    t0 = time.perf_counter()
    A, B, A_ip, t_asm = condensation_system(spec)
    t_build = time.perf_counter() - t0 - t_asm
    n = A.shape[0]
    t0 = time.perf_counter()
    ml = pyamg.smoothed_aggregation_solver(
        A, B=B, symmetry="hermitian", strength=("symmetric", {"theta": 0.0}),
        smooth=("energy", {"krylov": "cg", "maxiter": 2, "degree": 1, "weighting": "local"}),
        improve_candidates=None, max_coarse=COARSE_MAX_UNKNOWNS // B.shape[1], coarse_solver="splu",
        presmoother=("gauss_seidel", {"sweep": "symmetric"}),
        postsmoother=("gauss_seidel", {"sweep": "symmetric"}))
    t_hier = time.perf_counter() - t0
    t0 = time.perf_counter()
    M = MultigridCycle.from_pyamg(ml)
    t_cycle_setup = time.perf_counter() - t0
    Aop = CSROperator(A)
    M @ A_ip                                        # compiled, workspaces allocated
    t0 = time.perf_counter()
    X, res = pcg(Aop, A_ip, M, rtol=RTOL, maxiter=1000)
    t_block = time.perf_counter() - t0
    it_block = len(res) - 1
    t0 = time.perf_counter()
    for _ in range(3):
        M @ A_ip
    t_cyc = (time.perf_counter() - t0) / 3
    lev = M.levels[0]
    Y = np.empty_like(A_ip)
    t0 = time.perf_counter()
    for _ in range(5):
        K.chunked_gauss_seidel(lev.A.indptr, lev.A.indices, lev.A.data, lev.inv_diag, Y, A_ip,
                               lev.chunk_ptr, False)
    t_sweep = (time.perf_counter() - t0) / 5
    sweep_bytes = lev.A.nnz * (lev.A.data.itemsize + lev.A.indices.itemsize) + 3 * Y.nbytes
    row = {"voxel_mm": h, "unknowns": n, "nnz": int(A.nnz), "levels": [m.A.shape[0] for m in ml.levels],
           "build_s": t_build, "assembly_s": t_asm, "hierarchy_s": t_hier,
           "cycle_setup_s": t_cycle_setup, "block_solve_s": t_block, "block_iterations": it_block,
           "cycle_ms": 1e3 * t_cyc, "fine_sweep_ms": 1e3 * t_sweep,
           "fine_sweep_GBs": sweep_bytes / t_sweep / 1e9, "triad_GBs": triad,
           "dof_columns_per_s": n * A_ip.shape[1] / t_block}
    if peers:
        Mp = ml.aspreconditioner(cycle="V")
        t0 = time.perf_counter()
        its = 0
        for k in range(A_ip.shape[1]):
            _, r = pcg(A, A_ip[:, k], Mp, rtol=RTOL, maxiter=1000)
            its += len(r) - 1
        row["pyamg_solve_s"] = time.perf_counter() - t0
        row["pyamg_iterations_total"] = its
        row["speedup"] = row["pyamg_solve_s"] / t_block
    with PeakRSS() as peak:
        t0 = time.perf_counter()
        solved = solve_case(spec, fields=False)
        row["case_s"] = time.perf_counter() - t0
    row["case_peak_GB"] = (peak.peak - peak.base) / 1e9
    row["case_peak_kB_per_dof"] = (peak.peak - peak.base) / 1e3 / solved.analysis.n_dofs
    row["case_dofs"] = solved.analysis.n_dofs
    return row


def markdown(rows) -> str:
    out = ["| voxel | unknowns | hierarchy | block solve (it) | pyamg cycle, per column (it) | ratio "
           "| cycle | fine sweep | whole case | peak |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        peer = (f"{r['pyamg_solve_s']:.1f} s ({r['pyamg_iterations_total']})"
                if "pyamg_solve_s" in r else "-")
        ratio = f"{r['speedup']:.1f}x" if "speedup" in r else "-"
        out.append(
            f"| {r['voxel_mm']:g} mm | {r['unknowns']:,} | {r['hierarchy_s']:.1f} s "
            f"| {r['block_solve_s']:.1f} s ({r['block_iterations']}) | {peer} | {ratio} "
            f"| {r['cycle_ms']:.0f} ms | {r['fine_sweep_ms']:.1f} ms, {r['fine_sweep_GBs']:.1f} GB/s "
            f"({100 * r['fine_sweep_GBs'] / r['triad_GBs']:.0f} % of triad) | {r['case_s']:.1f} s "
            f"| {r['case_peak_GB']:.2f} GB ({r['case_peak_kB_per_dof']:.1f} kB/DOF) |")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="2,1", help="voxel sizes [mm], comma separated")
    ap.add_argument("--no-peers", action="store_true", help="skip pyamg's own cycle")
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args(argv)
    triad = stream_triad_gbs()
    meta = {"python": platform.python_version(), "numba_threads": numba.get_num_threads(),
            "cpu": platform.processor() or platform.machine(), "triad_GBs": triad}
    print(f"# {meta}", flush=True)
    rows = []
    for h in [float(s) for s in args.sizes.split(",")]:
        rows.append(bench_size(h, peers=not args.no_peers, triad=triad))
        print(json.dumps(rows[-1]), flush=True)
    print(markdown(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
