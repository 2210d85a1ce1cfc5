"""Benchmark of the compiled core against scikit-fem and SciPy, in one process.

    python benchmarks/bench_core.py            # 50 k, 200 k, 700 k DOF hex8 and tet4
    python benchmarks/bench_core.py --quick    # smallest size only
    python benchmarks/bench_core.py --json out.json

Per mesh (unit cube, E = 1000 MPa, nu = 0.3, base fixed, uniform traction on top):
assembly time of biomech (voxel path and general hex8 / tet4 path, pattern
included) and scikit-fem (``intorder=2``: 8 points per hex, 4 per tet) and their
ratio, elements per second, AMG set-up / solve time and iterations (CG to
1e-8), peak memory per DOF of the biomech assemble + set-up + solve, the
matrix-free product against SciPy's CSR product of the same matrix, with the
achieved bandwidth against a STREAM triad measured in the same run, and FLOP
rates.  Numba compile time is measured first and reported apart.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time

import numpy as np

os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".numba_cache"))

import numba  # noqa: E402
import psutil  # noqa: E402
from numba import njit, prange  # noqa: E402

import biomech as bm  # noqa: E402
from biomech.kernels.multigrid import warm_block_kernels  # noqa: E402

HEX_SIZES = {"50k": 25, "200k": 40, "700k": 61}       # elements per edge
TET_SIZES = {"50k": 25, "200k": 40, "700k": 61}       # same nodes, 6 tets per cube
E_MPA, NU = 1000.0, 0.3
SKFEM_HEX_TO_VTK = [0, 2, 4, 1, 3, 6, 7, 5]


class PeakRSS:
    """Peak resident memory [bytes] above the starting level while the block runs, of
    this process (and with ``children=True`` of its child processes too, e.g. MPI
    ranks started from here), polled every ``interval_s``."""

    def __init__(self, children: bool = False, interval_s: float = 0.005):
        self.children = children
        self.interval_s = interval_s

    def _rss(self):
        total = self.proc.memory_info().rss
        for c in (self.proc.children(recursive=True) if self.children else ()):
            try:
                total += c.memory_info().rss
            except psutil.Error:
                pass
        return total

    def __enter__(self):
        self.proc = psutil.Process()
        self.base = self._rss()
        self.peak = self.base
        self._marks = {}
        self._stop = False
        self._t = threading.Thread(target=self._poll, daemon=True)
        self._t.start()
        return self

    def _poll(self):
        while not self._stop:
            self._note(self._rss())
            time.sleep(self.interval_s)

    def _note(self, rss):
        self.peak = max(self.peak, rss)
        for m in self._marks.values():
            m[1] = max(m[1], rss)

    def mark(self, name: str) -> None:
        """Note the resident memory now under ``name``: :meth:`since_mark_GB` is then the
        peak above it from here on (e.g. a solve's own memory above the model it solves)."""
        rss = self._rss()
        self._marks[name] = [rss, rss]

    def has_mark(self, name: str) -> bool:
        return name in self._marks

    def at_mark_GB(self, name: str) -> float:
        """Resident memory at mark ``name`` above the starting level [GB]."""
        return (self._marks[name][0] - self.base) / 1e9

    def since_mark_GB(self, name: str) -> float:
        """Peak resident memory after mark ``name`` above its level then [GB]."""
        rss, peak = self._marks[name]
        return (peak - rss) / 1e9

    def __exit__(self, *exc):
        self._stop = True
        self._t.join()
        self._note(self._rss())
        self.delta = self.peak - self.base

    @property
    def used_GB(self):
        return self.delta / 1e9


@njit(parallel=True, cache=True)
def _triad(a, b, c, s):
    for i in prange(a.shape[0]):
        a[i] = b[i] + s * c[i]


def stream_triad_gbs(n=40_000_000, repeats=10) -> float:
    """Best STREAM triad bandwidth [GB/s] (3 arrays x 8 bytes per element)."""
    a = np.zeros(n); b = np.random.rand(n); c = np.random.rand(n)
    _triad(a, b, c, 3.0)
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter(); _triad(a, b, c, 3.0); best = min(best, time.perf_counter() - t)
    return 3 * 8 * n / best / 1e9


def best_time(fn, repeats=5):
    fn()
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter(); fn(); best = min(best, time.perf_counter() - t)
    return best


def skfem_mesh(kind, n):
    import skfem
    x = np.linspace(0.0, 1.0, n + 1)
    m = skfem.MeshHex.init_tensor(x, x, x)
    if kind == "tet4":
        m = m.to_meshtype(skfem.MeshTet) if hasattr(m, "to_meshtype") else skfem.MeshTet.init_tensor(x, x, x)
    return m


def skfem_assemble(m, kind):
    import skfem
    from skfem.models.elasticity import lame_parameters, linear_elasticity
    el = skfem.ElementVector(skfem.ElementHex1() if kind == "hex8" else skfem.ElementTetP1())
    t = time.perf_counter()
    basis = skfem.Basis(m, el, intorder=2)
    K = skfem.asm(linear_elasticity(*lame_parameters(E_MPA, NU)), basis)
    return K, time.perf_counter() - t


def compile_numba() -> float:
    """Compile (or load from cache) every kernel the benchmark uses on a tiny mesh."""
    t = time.perf_counter()
    for kind in ("voxel", "hex8", "tet4"):
        mesh = make_mesh(kind, 2)
        prob = problem(mesh)
        prob.solve("amg")
        if kind == "voxel":
            prob.matrix_free_operator() @ np.ones(mesh.n_dofs)
    warm_block_kernels()            # the AMG cycle's kernels (a tiny mesh has one level)
    _triad(np.zeros(4), np.ones(4), np.ones(4), 1.0)
    return time.perf_counter() - t


def make_mesh(kind, n):
    if kind == "voxel":
        return bm.VoxelMesh.from_mask(np.ones((n, n, n), bool), 1.0 / n)
    m = skfem_mesh("hex8" if kind == "hex8" else "tet4", n)
    cells = m.t.T[:, SKFEM_HEX_TO_VTK] if kind == "hex8" else m.t.T
    mesh = bm.Mesh(m.p.T, cells, kind)
    if kind == "tet4":   # skfem tets may be left-handed: flip to positive volume
        x = mesh.points[mesh.cells]
        vol = np.einsum("ij,ij->i", np.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0]), x[:, 3] - x[:, 0])
        cells = mesh.cells.copy()
        cells[vol < 0, 1], cells[vol < 0, 2] = mesh.cells[vol < 0, 2], mesh.cells[vol < 0, 1]
        mesh = bm.Mesh(mesh.points, cells, kind)
    return mesh


def problem(mesh):
    prob = bm.StaticProblem(mesh, E_MPA, NU)
    prob.fix(mesh.nodes_where(lambda x, y, z: z < 1e-9), "xyz")
    top = mesh.nodes_where(lambda x, y, z: z > 1 - 1e-9)
    prob.add_force(top, (0.0, 0.0, -1.0))
    return prob


def bench_case(kind, n, *, peers=True, triad_gbs=None):
    row = {"kind": kind, "n": n}
    mesh = make_mesh(kind, n)
    row.update(dofs=mesh.n_dofs, elements=mesh.n_elements)
    with PeakRSS() as mem:
        prob = problem(mesh)
        t = time.perf_counter()
        _ = prob.stiffness                  # assemble (pattern + values); the problem keeps it
        row["assembly_s"] = time.perf_counter() - t
        row["pattern_s"] = prob.assembler.timings["pattern_s"]
        info = prob.solve("amg", rtol=1e-8).info
    row["refill_s"] = best_time(lambda: prob.assembler.assemble_lame(prob.lam, prob.mu), 2)
    K = prob.stiffness                      # (voxel meshes drop K after the set-up)
    row["amg_setup_s"] = info.setup_time_s
    row["amg_solve_s"] = info.solve_time_s
    row["amg_iterations"] = info.iterations
    row["total_s"] = row["assembly_s"] + info.setup_time_s + info.solve_time_s
    row["peak_mem_bytes"] = mem.delta
    row["peak_mem_per_dof_bytes"] = mem.delta / mesh.n_dofs
    row["elements_per_s"] = mesh.n_elements / row["assembly_s"]
    row["nnz"] = K.nnz
    x = np.random.default_rng(0).random(mesh.n_dofs)
    row["csr_product_s"] = best_time(lambda: K @ x)
    csr_bytes = K.nnz * (8 + K.indices.itemsize) + (K.shape[0] + 1) * K.indptr.itemsize + 2 * 8 * K.shape[0]
    row["csr_gbs"] = csr_bytes / row["csr_product_s"] / 1e9
    row["csr_gflops"] = 2 * K.nnz / row["csr_product_s"] / 1e9
    if kind == "voxel":
        op = prob.matrix_free_operator()
        row["matfree_product_s"] = best_time(lambda: op @ x)
        y1, y2 = op @ x, K @ x
        row["matfree_rel_diff"] = float(np.abs(y1 - y2).max() / np.abs(y2).max())
        # bytes: x gathered once + y written + conn + colour order + lam, mu (cache-ideal)
        mf_bytes = (2 * 8 * mesh.n_dofs + mesh.cells.nbytes + op.order.nbytes
                    + 2 * 8 * mesh.n_elements)
        row["matfree_gbs"] = mf_bytes / row["matfree_product_s"] / 1e9
        flops = mesh.n_elements * (2 * 2 * 24 * 24 + 3 * 24)   # two 24x24 products + combine
        row["matfree_gflops"] = flops / row["matfree_product_s"] / 1e9
        row["matfree_memory_bytes"] = (mesh.cells.nbytes + op.order.nbytes
                                       + 2 * 8 * mesh.n_elements)
        row["csr_memory_bytes"] = K.data.nbytes + K.indices.nbytes + K.indptr.nbytes
        row["matfree_speedup_vs_csr"] = row["csr_product_s"] / row["matfree_product_s"]
    if triad_gbs:
        row["csr_fraction_of_triad"] = row["csr_gbs"] / triad_gbs
    if peers:
        m = skfem_mesh("hex8" if kind in ("voxel", "hex8") else "tet4", n)
        Ksk, tsk = skfem_assemble(m, "hex8" if kind in ("voxel", "hex8") else "tet4")
        row["skfem_assembly_s"] = tsk
        row["speedup_vs_skfem"] = tsk / row["assembly_s"]
        row["skfem_elements_per_s"] = mesh.n_elements / tsk
        del Ksk
    return row


def markdown(rows, meta):
    cols = [("kind", "kind"), ("dofs", "DOF"), ("assembly_s", "assembly s"),
            ("skfem_assembly_s", "skfem s"), ("speedup_vs_skfem", "x skfem"),
            ("elements_per_s", "elem/s"), ("amg_setup_s", "AMG setup s"),
            ("amg_solve_s", "solve s"), ("amg_iterations", "it"), ("total_s", "total s"),
            ("peak_mem_per_dof_bytes", "peak B/DOF"), ("csr_product_s", "CSR Kx s"),
            ("matfree_product_s", "matfree Kx s"), ("matfree_speedup_vs_csr", "x CSR"),
            ("csr_gbs", "CSR GB/s"), ("matfree_gflops", "matfree GFLOP/s")]
    out = [f"STREAM triad {meta['triad_gbs']:.1f} GB/s, {meta['threads']} threads, "
           f"Numba compile/load {meta['compile_s']:.1f} s, {meta['machine']}", "",
           "| " + " | ".join(h for _, h in cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = []
        for k, _ in cols:
            v = r.get(k, "")
            if isinstance(v, float):
                v = f"{v:.3g}" if abs(v) < 1e4 else f"{v:.3e}"
            cells.append(str(v))
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smallest size only")
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--no-peers", action="store_true", help="skip scikit-fem")
    ap.add_argument("--kinds", default="voxel,hex8,tet4")
    args = ap.parse_args(argv)
    meta = {"threads": numba.get_num_threads(), "machine": f"{platform.machine()} {os.cpu_count()} cpus",
            "python": sys.version.split()[0], "numba": numba.__version__}
    meta["compile_s"] = compile_numba()
    meta["triad_gbs"] = stream_triad_gbs()
    sizes = ["50k"] if args.quick else list(HEX_SIZES)
    rows = []
    for size in sizes:
        for kind in args.kinds.split(","):
            n = HEX_SIZES[size] if kind != "tet4" else TET_SIZES[size]
            rows.append(bench_case(kind, n, peers=not args.no_peers, triad_gbs=meta["triad_gbs"]))
            sys.stderr.write(f"done {kind} {size}\n")
    md = markdown(rows, meta)
    sys.stdout.write(md + "\n")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"meta": meta, "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
