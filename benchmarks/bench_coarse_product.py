"""Benchmark of a coarse multigrid level's product y = sum_e Ke[e] x_e on an n^3 grid of
coarse voxels: biomech's packed kernel (``kernels.element_matvec_coloured``, upper
triangles in float32, summed in float64), its unpacked kernel
(``kernels.element_matvec_dense_coloured``, full matrices in the V-cycle's float32,
what an active set's levels below the first use) and SciPy's CSR product of the same
matrix assembled (float64), in one run, on the same element matrices and vector.

    python benchmarks/bench_coarse_product.py              # 18^3 and 26^3 coarse voxels
    python benchmarks/bench_coarse_product.py --n 40 --json out.json

Per code: time of one product [ms] (best of ``--repeats``), the ratio to the packed
kernel, the bytes its matrix storage takes per coarse voxel, and the relative difference
of its result to SciPy's (float32 storage: ~1e-7; above that the comparison is wrong).
The element matrices are random symmetric positive definite 24 x 24 ones (a coarse
level's Galerkin matrices have the same shape and storage; their values do not change
the work).
"""
from __future__ import annotations

import os
import sys

import numpy as np

os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".numba_cache"))

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import biomech  # noqa: E402
import biomech.fem.gmg as G  # noqa: E402
from biomech import kernels as K  # noqa: E402
from bench_blocks import best_seconds, markdown_table, run_blocks  # noqa: E402




def product_rows(n: int, repeats: int = 20, seed: int = 0) -> list[dict]:
    """Rows of one n^3 block of coarse voxels."""
    mesh = biomech.VoxelMesh.from_mask(np.ones((n, n, n), bool), h=1.0)
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((mesh.n_elements, 24, 24))
    full = np.einsum("eij,ekj->eik", A, A)                       # SPD element matrices
    packed = G.pack_elements(full).astype(G.COARSE_DTYPE)
    dense = G.unpack_elements(packed, G.VCYCLE_DTYPE)
    grid = G.Grid(mesh.voxel_ijk, mesh.cells, mesh.node_ijk)
    csr = G._element_csr(grid, packed, mesh.n_dofs)              # float64 sums of the same
    colours = G.parity_colours(mesh.voxel_ijk)
    x = rng.standard_normal(mesh.n_dofs)
    x32 = x.astype(G.VCYCLE_DTYPE)
    y_packed, y_dense = np.empty_like(x32), np.empty_like(x32)
    codes = {
        "biomech packed (element_matvec_coloured)": (
            lambda: K.element_matvec_coloured(x32, mesh.cells, *colours, packed, y_packed),
            lambda: y_packed, packed.itemsize * packed.shape[1]),
        "biomech unpacked (element_matvec_dense_coloured)": (
            lambda: K.element_matvec_dense_coloured(x32, mesh.cells, *colours, dense, y_dense),
            lambda: y_dense, dense.itemsize * 24 * 24),
        "SciPy CSR (assembled, float64)": (
            lambda: csr @ x32.astype(float), lambda: csr @ x32.astype(float),
            (csr.data.nbytes + csr.indices.nbytes) / mesh.n_elements),
    }
    times = {name: 1e3 * best_seconds(run, repeats) for name, (run, _, _) in codes.items()}
    ref = csr @ x32.astype(float)
    rows = []
    for name, (_, result, nbytes) in codes.items():
        y = np.asarray(result(), dtype=float)
        rows.append({"coarse_voxels": mesh.n_elements, "dofs": mesh.n_dofs, "code": name,
                     "time_ms": times[name],
                     "vs_packed": times[name] / times["biomech packed (element_matvec_coloured)"],
                     "bytes_per_voxel": float(nbytes),
                     "rel_diff": float(np.linalg.norm(y - ref) / np.linalg.norm(ref))})
    return rows


COLUMNS = [("coarse voxels", "coarse_voxels", "d"), ("code", "code", "s"),
           ("time [ms]", "time_ms", ".3g"), ("x packed", "vs_packed", ".2f"),
           ("storage [B/voxel]", "bytes_per_voxel", ".0f"),
           ("rel. diff to SciPy", "rel_diff", ".1e")]


def markdown(rows) -> str:
    return markdown_table(rows, COLUMNS)


def main(argv=None):
    return run_blocks(__doc__.splitlines()[0], product_rows, markdown, argv,
                      default_n=(18, 26), repeats=20)


if __name__ == "__main__":
    main()
