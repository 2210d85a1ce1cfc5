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
  peak memory of all processes (RSS polled every 5 ms, above the level at the start of
  the run, after the kernels are loaded) and the axial stiffness [N/mm] of each, with its
  difference to GMG's.
* The default study's L1-L3 case (vertebroplasty, five load cases plus standing) through
  ``biomech.runner.solve_case`` with solver 'gmg' and 'amg': time per case (model
  building included), CG iterations of all its solves, peak bytes per DOF of the whole
  case (RSS polled every 50 ms), split at the solver's set-up into the model built by
  then and the solve's own peak above it.

Every row runs in a fresh Python process (``--row``): a row's peak is then not hidden by
memory an earlier row freed, which the allocator would reuse without the RSS growing.
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


#: RSS polling interval of the segment cases [s]: they run minutes, and the 5 ms of the
#: single solves (a second or less) slowed them by a third
SEGMENT_POLL_S = 0.05


def model_array(model: str, h: float):
    """(E array, h) of 'verse004' or 'L2' (the built-in default L2) between caps."""
    return verse_array(h) if model == "verse004" else default_l2_array(h)


def run_axial(model, h, code, array_path):
    """One row: the constrained axial test of ``model`` at h with ``code`` ('gmg', 'amg',
    'parosol') on the E array saved at ``array_path`` (read as is: no model building
    whose freed memory the solve could reuse unseen)."""
    E = np.load(array_path)
    name = f"{model} {h:g} mm"
    if code == "parosol":
        return {"model": name, "code": "ParOSol", **parosol_axial(E, h)}
    k, info, wall, gb, ndof = biomech_axial(E, h, code)
    return {"model": name, "code": f"biomech {code}", "dofs": ndof,
            "setup_s": info.setup_time_s, "solve_s": info.solve_time_s,
            "wall_s": wall, "iterations": info.iterations, "peak_GB": gb,
            "B_per_dof": gb * 1e9 / ndof, "stiffness_N_per_mm": k}


def run_segment(h, solver):
    """One row: the default study's L1-L3 case at h with ``solver``.  Besides the case's
    peak, the memory split at the solver's set-up: the model built by then
    (``model_GB``: grids, fields, springs, the process's loaded kernels) and the peak
    above that from the set-up to the end (``solve_GB``: hierarchy, plate columns,
    deflation space, CG vectors, results)."""
    from biomech.fem.problem import StaticProblem
    from biomech.runner import solve_case
    from bench_segment import case_spec
    spec = case_spec(h)
    spec.analysis["solver"] = solver
    spec.analysis["rtol"] = RTOL
    setup_solver = StaticProblem._setup_solver

    def marked_setup(problem, *args, **kwargs):          # the first set-up of the case
        if not peak.has_mark("solver"):
            peak.mark("solver")
        return setup_solver(problem, *args, **kwargs)

    with PeakRSS(children=True, interval_s=SEGMENT_POLL_S) as peak:
        StaticProblem._setup_solver = marked_setup
        try:
            t0 = time.perf_counter()
            solved = solve_case(spec, fields=False)
            wall = time.perf_counter() - t0
        finally:
            StaticProblem._setup_solver = setup_solver
    n = solved.analysis.n_dofs
    info = solved.analysis.problem._system["solver"]
    t = solved.analysis.timings
    linear = sum(v for k, v in t.items() if k.endswith("_linear_solves"))
    return {"model": f"L1-L3 {h:g} mm", "code": f"biomech {solver}", "dofs": n,
            "wall_s": wall, "peak_GB": peak.used_GB, "B_per_dof": peak.used_GB * 1e9 / n,
            "model_GB": peak.at_mark_GB("solver"), "solve_GB": peak.since_mark_GB("solver"),
            "solve_B_per_dof": peak.since_mark_GB("solver") * 1e9 / n,
            "setup_s": getattr(info, "setup_time_s", float("nan")),
            "iterations": int(sum(v for k, v in t.items() if k.endswith("_cg_iterations"))),
            "note": f"{linear} linear solves",
            "levels": getattr(getattr(info, "inner", info), "level_sizes", None)}


def run_growth(n):
    k, info, wall, gb, ndof = biomech_axial(growth_block(n), 1.0, "gmg")
    return {"model": f"block {n}^3", "code": "biomech gmg", "dofs": ndof, "wall_s": wall,
            "setup_s": info.setup_time_s, "solve_s": info.solve_time_s,
            "iterations": info.iterations, "peak_GB": gb, "B_per_dof": gb * 1e9 / ndof}


def run_row(task: dict) -> dict:
    """One benchmark row, in this process (see ``--row``)."""
    # compile (or load) the kernels before anything is timed: a block whose level 1 runs
    # in parallel (coefficient form), and the warm-up's tiny calls of every GMG kernel
    # (packed parallel levels of larger models).  Both small: memory they free would
    # be reused by the row unseen by its RSS
    from biomech.runner.warmup import _gmg_on_tiny_inputs
    biomech_axial(growth_block(24), 1.0, "gmg")
    _gmg_on_tiny_inputs()
    kind = task["kind"]
    if kind == "axial":
        return run_axial(task["model"], task["h"], task["code"], task["array"])
    if kind == "segment":
        return run_segment(task["h"], task["solver"])
    return run_growth(task["n"])


def run_in_process(task: dict) -> dict:
    """One row in a fresh Python process: its peak memory is not hidden by memory an
    earlier row freed (an allocator reuses it without the RSS growing)."""
    import subprocess
    res = subprocess.run([sys.executable, __file__, "--row", json.dumps(task)],
                         capture_output=True, text=True)
    for line in res.stdout.splitlines():
        if line.startswith("ROW "):
            return json.loads(line[4:])
    tail = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["no output"]
    return {"model": task.get("model", task["kind"]), "code": task.get("code", ""),
            "note": f"failed: {tail[0]}"}


def growth_block(n):
    """Vertebra-like block (n, n, n) voxels at 1 mm: cortex 12 GPa, core 300 MPa."""
    mask = np.ones((n, n, n), bool)
    c = np.indices(mask.shape).reshape(3, -1).T
    core = np.all((c >= 2) & (c < n - 2), axis=1)
    E = np.where(core, 300.0, 12000.0).reshape(mask.shape)
    return E


def growth_slopes(rows) -> None:
    """Least-squares slopes of log(time) and log(peak memory) against log(DOF), stored
    on the last row."""
    for key in ("wall_s", "peak_GB"):
        # a peak under 10 MB means the allocator reused freed memory (no RSS growth)
        use = [r for r in rows if key in r and (key != "peak_GB" or r[key] > 0.01)]
        if len(use) >= 2:
            x = np.log([r["dofs"] for r in use])
            y = np.log([r[key] for r in use])
            rows[-1][f"slope_{key}"] = float(np.polyfit(x, y, 1)[0])


#: Columns of the tables: every row, and the L1-L3 case's (its memory split).
COLUMNS = ["model", "code", "dofs", "setup_s", "solve_s", "wall_s", "iterations", "peak_GB",
           "B_per_dof", "stiffness_N_per_mm", "vs_gmg", "note"]
SEGMENT_COLUMNS = ["model", "code", "dofs", "setup_s", "wall_s", "iterations", "peak_GB",
                   "B_per_dof", "model_GB", "solve_GB", "solve_B_per_dof", "note"]


def markdown(rows, cols=COLUMNS) -> str:
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
    ap.add_argument("--row", help=argparse.SUPPRESS)       # internal: one row, JSON task
    args = ap.parse_args(argv)
    if args.row:
        print("ROW " + json.dumps(run_row(json.loads(args.row)), default=str), flush=True)
        return []
    rows = []
    for model, hs in (("verse004", args.verse_h), ("L2", args.l2_h)):
        for h in hs:
            if model == "verse004":
                try:                  # the CT is read in each row's process; check it here
                    import verse004_ct
                    verse004_ct.require_data()
                except FileNotFoundError as exc:
                    rows.append({"model": f"verse004 {h:g} mm", "note": f"skipped: {exc}"})
                    continue
            codes = list(args.solvers) + ([] if args.no_parosol else ["parosol"])
            with tempfile.TemporaryDirectory() as work:
                E, h_model = model_array(model, h)
                path = os.path.join(work, "E.npy")
                np.save(path, E)
                del E
                group = [run_in_process({"kind": "axial", "model": model, "h": h_model,
                                         "code": c, "array": path}) for c in codes]
            k_ref = group[0].get("stiffness_N_per_mm")
            for r in group:
                if k_ref and "stiffness_N_per_mm" in r:
                    r["vs_gmg"] = r["stiffness_N_per_mm"] / k_ref - 1.0
            rows += group
            print(markdown(rows), flush=True)
    for h in args.segment_h:
        rows += [run_in_process({"kind": "segment", "h": h, "solver": s}) for s in args.solvers]
        print(markdown(rows[-len(args.solvers):], SEGMENT_COLUMNS), flush=True)
    if args.growth:
        grown = [run_in_process({"kind": "growth", "n": n}) for n in args.growth]
        growth_slopes(grown)
        rows += grown
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
