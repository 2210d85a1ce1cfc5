"""Benchmark of strain recovery on a voxel block: biomech's voxel kernel
(``kernels.voxel_strains``, gradients tabulated once for equal cubes), its general
element kernel (``kernels.element_strains``) and scikit-fem (``Basis.interpolate(u).grad``
on ``MeshHex`` with the same 2x2x2 Gauss points), in one run, on the same mesh and
displacement.

    python benchmarks/bench_strains.py                 # 40^3 and 80^3 voxels
    python benchmarks/bench_strains.py --n 100 --json out.json

Per code: time of one recovery at the 8 Gauss points [s] (best of ``--repeats``),
elements per second, the ratio to the voxel kernel, and the largest difference of the
element-mean strain to the voxel kernel's (the three compute the same quantity; a
difference above round-off means a wrong comparison, not a slow code).
"""
from __future__ import annotations

import os
import sys

import numpy as np

os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".numba_cache"))

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import biomech  # noqa: E402
from biomech import kernels as K  # noqa: E402
from bench_blocks import best_seconds, markdown_table, run_blocks  # noqa: E402




def _skfem(mesh, n: int, h: float, u: np.ndarray):
    """(recover() -> (n_el, 6) element-mean strains in biomech's element order) with
    scikit-fem, or None when it is not installed."""
    try:
        from skfem import Basis, ElementHex1, ElementVector, MeshHex
    except ImportError:
        return None
    axis = [h * np.arange(n + 1)] * 3
    m = MeshHex.init_tensor(*axis)
    basis = Basis(m, ElementVector(ElementHex1()), intorder=3)      # 2x2x2 Gauss points
    # nodes and elements matched by position (tests/test_skfem_reference.py)
    key = np.rint(m.p.T / h).astype(np.int64) @ np.array([(n + 1) ** 2, n + 1, 1])
    ours = np.rint(mesh.points / h).astype(np.int64) @ np.array([(n + 1) ** 2, n + 1, 1])
    sk_of_node = np.empty(key.size, np.int64)
    sk_of_node[key] = np.arange(key.size)
    node_map = sk_of_node[ours]
    u_sk = np.empty(basis.N)
    u_sk[basis.nodal_dofs.T[node_map].ravel()] = u
    centre = np.rint(2 * m.p[:, m.t].mean(axis=1).T / h).astype(np.int64)
    ours_c = np.rint(2 * mesh.points[mesh.cells].mean(axis=1) / h).astype(np.int64)
    w = np.array([(2 * n + 1) ** 2, 2 * n + 1, 1])
    sk_of_elem = {k: e for e, k in enumerate(centre @ w)}
    elem_map = np.array([sk_of_elem[k] for k in ours_c @ w])

    def recover():
        G = basis.interpolate(u_sk).grad                      # (3, 3, n_el, n_qp)
        E = 0.5 * (G + G.transpose(1, 0, 2, 3))
        mean = E.mean(axis=3)[..., elem_map]                  # (3, 3, n_el)
        return np.stack([mean[0, 0], mean[1, 1], mean[2, 2], mean[0, 1], mean[1, 2],
                         mean[0, 2]], axis=1)
    return recover


def strain_rows(n: int, repeats: int = 3, h: float = 1.0) -> list[dict]:
    """Rows of one n^3 voxel block."""
    mesh = biomech.VoxelMesh.from_mask(np.ones((n, n, n), bool), h=h)
    u = np.random.default_rng(0).standard_normal(mesh.n_dofs) * 1e-3
    out = np.empty((mesh.n_elements, 8, 6))
    detj = np.empty((mesh.n_elements, 8))
    voxel = np.empty_like(out)
    codes = {
        "biomech voxel_strains": lambda: K.voxel_strains(mesh.cells, u, h, True, voxel),
        "biomech element_strains": lambda: K.element_strains(
            mesh.kind_code, mesh.points, mesh.cells, u, True, out, detj),
    }
    sk = _skfem(mesh, n, h, u)
    if sk is not None:
        codes["scikit-fem interpolate().grad"] = sk
    times = {name: best_seconds(fn, repeats) for name, fn in codes.items()}
    K.voxel_strains(mesh.cells, u, h, True, voxel)
    ref = voxel.mean(axis=1)
    K.element_strains(mesh.kind_code, mesh.points, mesh.cells, u, True, out, detj)
    means = {"biomech voxel_strains": ref, "biomech element_strains": out.mean(axis=1)}
    if sk is not None:
        means["scikit-fem interpolate().grad"] = sk()
    rows = []
    for name, t in times.items():
        rows.append({"elements": mesh.n_elements, "code": name, "time_s": t,
                     "Melements_per_s": mesh.n_elements / t / 1e6,
                     "vs_voxel": t / times["biomech voxel_strains"],
                     "max_diff": float(np.abs(means[name] - ref).max() / np.abs(ref).max())})
    return rows


COLUMNS = [("elements", "elements", "d"), ("code", "code", "s"), ("time [s]", "time_s", ".3g"),
           ("M elements/s", "Melements_per_s", ".2f"), ("x voxel kernel", "vs_voxel", ".1f"),
           ("max rel. diff", "max_diff", ".1e")]


def markdown(rows) -> str:
    return markdown_table(rows, COLUMNS)


def main(argv=None):
    return run_blocks(__doc__.splitlines()[0], strain_rows, markdown, argv,
                      default_n=(40, 80), repeats=3)


if __name__ == "__main__":
    main()
