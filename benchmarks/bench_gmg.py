"""Benchmark of the geometric multigrid (solver 'gmg') against AMG-CG and ParOSol,
one process per run (ParOSol in its own MPI processes, started from here).

    python benchmarks/bench_gmg.py                     # verse004 1 mm, segment 2 mm, growth
    python benchmarks/bench_gmg.py --verse-h 1 0.5 --segment-h 2 1 --json out.json
    python benchmarks/bench_gmg.py --no-parosol        # biomech only
    python benchmarks/bench_gmg.py --verse-h 0.5 --l2-h 0.5 --segment-h --growth --solvers gmg

* verse004 L2 between PMMA caps (examples/verse004_ct.py's model): the voxel array
  cropped to the caps' outer faces, every node of the bottom face fixed, every node of
  the top face displaced -0.2 mm in z with x, y held (ParOSol's ``constrained_axial``
  case on the same array); biomech GMG-CG, AMG-CG and ParOSol (2 MPI processes, 4
  levels) at the same relative tolerance.  ``--l2-h``: the same test on the built-in
  default L2 (parametric, vBMD 70 mg/cm³) between caps.  Wall time (set-up, solve), iterations,
  peak memory of all processes (RSS polled every 5 ms, above the starting level) and
  the axial stiffness [N/mm] of each, with its difference to GMG's.
* The default study's L1-L3 case (vertebroplasty, five load cases) through
  ``biomech.runner.solve_case`` with solver 'gmg' and 'amg': time per case, the
  iterations of the last load case, peak bytes per DOF.
* Growth: GMG on a synthetic vertebra-like block (cortex 12 GPa, core 300 MPa, fixed
  base, pressed top) from about 50 k DOF up: time and peak memory, with the
  least-squares slope of log(time) and log(memory) against log(DOF).

parosol-py is GPL: a benchmark dependency only (``pip install parosol-py``); without it
the ParOSol rows say so.  Timings on a shared machine: compare ratios of one run.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".numba_cache"))
sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))

import biomech  # noqa: E402
from bench_core import PeakRSS  # noqa: E402

RTOL = 1e-6
DISPLACEMENT_MM = 0.2


def verse_array(h: float):
    """(E array (nx, ny, nz) [MPa, 0 = void], h) cropped to the caps' outer faces."""
    import verse004_ct as V
    return capped_array(V.build_model(h))


def default_l2_array(h: float):
    """The built-in default L2 (parametric, vBMD 70 mg/cm³) between PMMA caps, as
    verse_array."""
    from biomech.runner import build_case_model
    from biomech.study import study_from_dict
    study = study_from_dict({
        "study": {"name": "l2", "baseline": "intact"},
        "model": {"kind": "vertebra_with_caps", "level": "L2", "voxel_size_mm": h,
                  "bone": {"vbmd_mg_cm3": 70.0}},
        "load_cases": ["compression"], "cases": [{"name": "intact"}]})
    model, *_ = build_case_model(study.cases[0])
    return capped_array(model)


def capped_array(model):
    from biomech.materials import element_properties
    from biomech.meshes.labels import Label
    mask = model.labels != Label.VOID
    E_grid, _ = element_properties(model)
    caps = [model.level_index("cap_inferior"), model.level_index("cap_superior")]
    ks = [np.flatnonzero((model.level == c).any(axis=(0, 1))) for c in caps]
    k0, k1 = ks[0].min(), ks[1].max() + 1
    E = np.where(mask, E_grid, 0.0)[:, :, k0:k1]
    keep = np.flatnonzero(E.any(axis=(1, 2))), np.flatnonzero(E.any(axis=(0, 2)))
    E = E[keep[0].min():keep[0].max() + 1, keep[1].min():keep[1].max() + 1]
    return np.ascontiguousarray(E), model.h


def biomech_axial(E_arr, h, solver):
    """(stiffness N/mm, SolveInfo, wall s, peak GB) of the constrained axial test."""
    with PeakRSS(children=True) as peak:
        t0 = time.perf_counter()
        mask = E_arr > 0
        mesh = biomech.VoxelMesh.from_mask(mask, h)
        prob = biomech.StaticProblem(mesh, E_arr[mask], 0.3)
        zmax = mesh.points[:, 2].max()
        bot = mesh.nodes_where(lambda x, y, z: z == 0.0)
        top = mesh.nodes_where(lambda x, y, z: np.isclose(z, zmax))
        prob.fix(bot, "xyz")
        prob.fix(top, "xy")
        prob.fix(top, "z", -DISPLACEMENT_MM)
        sol = prob.solve(solver, rtol=RTOL)
        k = -sol.reaction(top)[2] / DISPLACEMENT_MM
        wall = time.perf_counter() - t0
    return k, sol.info, wall, peak.used_GB, 3 * mesh.n_nodes


def parosol_axial(E_arr, h, processes=2, level=4):
    try:
        from parosol_py import api
    except ImportError:
        return {"note": "parosol-py not importable (pip install parosol-py)"}
    height = E_arr.shape[2] * h
    strain = -DISPLACEMENT_MM / height
    with PeakRSS(children=True) as peak, tempfile.TemporaryDirectory() as work:
        t0 = time.perf_counter()
        res = api.solve(material=np.ascontiguousarray(E_arr.transpose(2, 1, 0)), spacing=(h, h, h),
                        array_order="zyx", strain=strain, tolerance=RTOL, level=level,
                        mpi_processes=processes, mpi_launcher="packaged", work_dir=work)
        wall = time.perf_counter() - t0
    import re
    mech = res.diagnostics["mechanics"]
    timing = dict(re.findall(r"#\s+(Constant|Solving):\s+([0-9.eE+-]+)", res.stdout))
    return {"wall_s": wall, "peak_GB": peak.used_GB, "iterations": res.summary.run.iterations,
            "setup_s": float(timing.get("Constant", "nan")),
            "solve_s": float(timing.get("Solving", "nan")),
            "stiffness_N_per_mm": abs(float(mech["stiffness"]["z"])),
            "dofs": 3 * int(np.prod(np.array(E_arr.shape) + 1)),
            "note": f"{processes} MPI processes, {level} levels, dofs of the full box"}


def bench_verse(h, parosol=True, solvers=("gmg", "amg"), model="verse004"):
    E, h = verse_array(h) if model == "verse004" else default_l2_array(h)
    rows = []
    for solver in solvers:
        k, info, wall, gb, ndof = biomech_axial(E, h, solver)
        rows.append({"model": f"{model} {h:g} mm", "code": f"biomech {solver}", "dofs": ndof,
                     "setup_s": info.setup_time_s, "solve_s": info.solve_time_s,
                     "wall_s": wall, "iterations": info.iterations, "peak_GB": gb,
                     "B_per_dof": gb * 1e9 / ndof, "stiffness_N_per_mm": k})
    if parosol:
        p = parosol_axial(E, h)
        rows.append({"model": f"{model} {h:g} mm", "code": "ParOSol", **p})
    k_ref = rows[0]["stiffness_N_per_mm"]
    for r in rows:
        if "stiffness_N_per_mm" in r:
            r["vs_gmg"] = r["stiffness_N_per_mm"] / k_ref - 1.0
    return rows


def bench_segment(h, solvers=("gmg", "amg")):
    from biomech.runner import solve_case
    from bench_segment import case_spec
    rows = []
    for solver in solvers:
        spec = case_spec(h)
        spec.analysis["solver"] = solver
        spec.analysis["rtol"] = RTOL
        with PeakRSS(children=True) as peak:
            t0 = time.perf_counter()
            solved = solve_case(spec, fields=False)
            wall = time.perf_counter() - t0
        n = solved.analysis.n_dofs
        info = solved.analysis.problem._system["solver"]
        rows.append({"model": f"L1-L3 {h:g} mm", "code": f"biomech {solver}", "dofs": n,
                     "wall_s": wall, "peak_GB": peak.used_GB, "B_per_dof": peak.used_GB * 1e9 / n,
                     "setup_s": getattr(info, "setup_time_s", float("nan")),
                     "levels": getattr(getattr(info, "inner", info), "level_sizes", None)})
    return rows


def growth_block(n):
    """Vertebra-like block (n, n, n) voxels at 1 mm: cortex 12 GPa, core 300 MPa."""
    mask = np.ones((n, n, n), bool)
    c = np.indices(mask.shape).reshape(3, -1).T
    core = np.all((c >= 2) & (c < n - 2), axis=1)
    E = np.where(core, 300.0, 12000.0).reshape(mask.shape)
    return E


def bench_growth(sizes):
    rows = []
    for n in sizes:
        k, info, wall, gb, ndof = biomech_axial(growth_block(n), 1.0, "gmg")
        rows.append({"model": f"block {n}^3", "code": "biomech gmg", "dofs": ndof, "wall_s": wall,
                     "setup_s": info.setup_time_s, "solve_s": info.solve_time_s,
                     "iterations": info.iterations, "peak_GB": gb, "B_per_dof": gb * 1e9 / ndof})
    for key in ("wall_s", "peak_GB"):
        # a peak under 10 MB means the allocator reused freed memory (no RSS growth)
        use = [r for r in rows if key != "peak_GB" or r[key] > 0.01]
        if len(use) >= 2:
            x = np.log([r["dofs"] for r in use])
            y = np.log([r[key] for r in use])
            rows[-1][f"slope_{key}"] = float(np.polyfit(x, y, 1)[0])
    return rows


def markdown(rows) -> str:
    cols = ["model", "code", "dofs", "setup_s", "solve_s", "wall_s", "iterations", "peak_GB",
            "B_per_dof", "stiffness_N_per_mm", "vs_gmg", "note"]
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c, "")
            if c == "vs_gmg" and v != "":
                v = f"{100 * v:+.2f} %"
            elif isinstance(v, float):
                v = f"{v:.3g}"
            cells.append(str(v))
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--verse-h", type=float, nargs="*", default=[1.0])
    ap.add_argument("--l2-h", type=float, nargs="*", default=[],
                    help="the built-in default L2 between caps at these voxel sizes [mm]")
    ap.add_argument("--segment-h", type=float, nargs="*", default=[2.0])
    ap.add_argument("--solvers", nargs="*", default=["gmg", "amg"], choices=["gmg", "amg"],
                    help="biomech solvers to run (AMG needs ~5 kB/DOF: leave it out at 0.5 mm)")
    ap.add_argument("--growth", type=int, nargs="*", default=[26, 40, 52],
                    help="block edge lengths [voxels] of the growth table")
    ap.add_argument("--no-parosol", action="store_true")
    ap.add_argument("--json", help="write the rows here")
    args = ap.parse_args(argv)
    # compile once (cold Numba cache) before anything is timed
    biomech_axial(growth_block(16), 1.0, "gmg")
    rows = []
    for h in args.verse_h:
        try:
            rows += bench_verse(h, parosol=not args.no_parosol, solvers=args.solvers)
        except FileNotFoundError as exc:
            rows.append({"model": f"verse004 {h:g} mm", "note": f"skipped: {exc}"})
        print(markdown(rows), flush=True)
    for h in args.l2_h:
        rows += bench_verse(h, parosol=not args.no_parosol, solvers=args.solvers, model="L2")
        print(markdown(rows), flush=True)
    for h in args.segment_h:
        rows += bench_segment(h, solvers=args.solvers)
        print(markdown(rows[-len(args.solvers):]), flush=True)
    if args.growth:
        rows += bench_growth(args.growth)
    print(markdown(rows))
    for key, what in (("slope_wall_s", "time"), ("slope_peak_GB", "memory")):
        if rows and key in rows[-1]:
            print(f"growth slope: {what} ~ DOF^{rows[-1][key]:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1, default=str)
    return rows


if __name__ == "__main__":
    main()
