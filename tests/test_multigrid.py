"""The multigrid cycle's kernels and the block solvers built on them.

* Block kernels (k vectors at once, k = 1, 6 and 11 to cover the split into
  kernels of at most 8 columns) equal SciPy's CSR products: 1e-12 relative.
* Row chunks couple only to their neighbours (checked on every non-zero entry).
* One chunked Gauss-Seidel sweep equals a plain NumPy sweep visiting the rows in
  the same order (1e-12): relaxing the even chunks at once changes nothing.
* The V-cycle is a symmetric positive definite operator (x.My = y.Mx to 1e-10),
  so CG may use it; k right-hand sides solved in lockstep give the separate
  solutions (1e-8 at rtol 1e-10) and the direct solution.
* Reusing prolongators (HierarchyCache): R A P on the same P gives pyamg's coarse
  matrices (1e-12); a changed material converges within 1.5x the iterations.
* The condensed plate solve at rtol 1e-6 meets the direct solution: plate
  displacement 1e-6, field 1e-4 (relative) -- the energy form of the plate's
  condensed stiffness is second order in the error of the inner solves.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import biomech
from biomech import kernels as K
from biomech.fem.multigrid import HIERARCHY_CACHE, CSROperator, HierarchyCache, MultigridCycle
from biomech.fem.solvers import AMGCGSolver, CondensedSolver, DirectSolver, pcg
from tests import twins

ROUND_OFF = 1e-12


def _elasticity_system(shape=(6, 6, 10), seed=0):
    """Reduced voxel system (fixed base decoupled) with random moduli, and its
    rigid-body modes."""
    mesh = biomech.VoxelMesh.from_mask(np.ones(shape, bool), h=1.0)
    E = np.random.default_rng(seed).uniform(10.0, 10000.0, mesh.n_elements)   # MPa, contrast 1e3
    prob = biomech.StaticProblem(mesh, E, 0.3)
    prob.fix(mesh.nodes_where(lambda x, y, z: z == 0.0), "xyz")
    red = prob._reduction()
    A = (red.T.T @ prob.stiffness @ red.T).tocsr()
    A.sort_indices()
    K.decouple_rows_and_columns(A.indptr, A.indices, A.data, red.decoupled)
    return A, prob._near_nullspace(red)


@pytest.fixture(scope="module")
def system():
    return _elasticity_system()


@pytest.mark.parametrize("k", [1, 6, 11])
def test_block_products_equal_scipy(system, k):
    A, _ = system
    rng = np.random.default_rng(k)
    X = rng.standard_normal((A.shape[0], k))
    B = rng.standard_normal((A.shape[0], k))
    Y = np.empty_like(X)
    K.csr_matmat(A.indptr, A.indices, A.data, X, Y, False)
    ref = A @ X
    assert np.abs(Y - ref).max() <= ROUND_OFF * np.abs(ref).max()
    K.csr_matmat(A.indptr, A.indices, A.data, X, Y, True)
    assert np.abs(Y - 2 * ref).max() <= ROUND_OFF * np.abs(ref).max()
    R = np.empty_like(X)
    K.csr_residual(A.indptr, A.indices, A.data, X, B, R)
    assert np.abs(R - (B - ref)).max() <= ROUND_OFF * np.abs(ref).max()
    assert np.allclose(CSROperator(A) @ X[:, 0], ref[:, 0], rtol=0, atol=1e-12 * abs(ref).max())


def test_chunks_couple_only_to_neighbours(system):
    A, _ = system
    chunk_ptr = K.row_chunks(A.indptr, A.indices, A.data)
    assert chunk_ptr[0] == 0 and chunk_ptr[-1] == A.shape[0]
    assert np.all(np.diff(chunk_ptr) > 0)
    assert chunk_ptr.size - 1 >= 4          # 10 node layers: enough chunks to run in parallel
    chunk_of_row = np.searchsorted(chunk_ptr, np.arange(A.shape[0]), side="right") - 1
    coo = A.tocoo()
    nz = coo.data != 0
    gap = np.abs(chunk_of_row[coo.row[nz]] - chunk_of_row[coo.col[nz]])
    assert gap.max() == 1
    assert K.csr_bandwidth(A.indptr, A.indices, A.data) == np.abs(coo.row[nz] - coo.col[nz]).max()


@pytest.mark.parametrize("reverse", [False, True])
def test_chunked_sweep_equals_sequential_twin(reverse):
    A, _ = _elasticity_system((3, 3, 6))
    rng = np.random.default_rng(1)
    n = A.shape[0]
    X = rng.standard_normal((n, 2))
    B = rng.standard_normal((n, 2))
    chunk_ptr = K.row_chunks(A.indptr, A.indices, A.data)
    assert chunk_ptr.size - 1 >= 3
    even = [c for c in range(chunk_ptr.size - 1) if c % 2 == 0]
    odd = [c for c in range(chunk_ptr.size - 1) if c % 2 == 1]
    rows = [r for c in even + odd for r in range(chunk_ptr[c], chunk_ptr[c + 1])]
    if reverse:
        rows = rows[::-1]
    inv = 1.0 / A.diagonal()
    got = X.copy()
    K.chunked_gauss_seidel(A.indptr, A.indices, A.data, inv, got, B, chunk_ptr, reverse)
    for v in range(2):
        ref = twins.gauss_seidel_twin(A, X[:, v], B[:, v], rows)
        assert np.abs(got[:, v] - ref).max() <= ROUND_OFF * np.abs(ref).max()


@pytest.fixture(scope="module")
def amg(system):
    A, B = system
    return AMGCGSolver(rtol=1e-10).setup(A, near_nullspace=B)


def test_vcycle_is_symmetric_positive_definite(system, amg):
    A, _ = system
    assert len(amg.level_sizes) >= 2
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((2, A.shape[0]))
    Mx, My = amg.M @ x, amg.M @ y
    assert abs(x @ My - y @ Mx) <= 1e-10 * abs(x @ My)
    assert x @ Mx > 0 and y @ My > 0
    # block application = column by column
    XY = amg.M @ np.column_stack([x, y])
    assert np.abs(XY - np.column_stack([Mx, My])).max() <= ROUND_OFF * np.abs(Mx).max()


def test_lockstep_block_cg_equals_separate_solves(system, amg):
    A, _ = system
    rng = np.random.default_rng(3)
    Bm = rng.standard_normal((A.shape[0], 4))
    Bm[:, 3] = 0.0                      # a zero right-hand side stays zero
    Xb, info = amg.solve(Bm)
    assert info.converged and info.residuals[-1] <= 1e-10
    assert not Xb[:, 3].any()
    direct = spla.spsolve(sp.csc_matrix(A), Bm[:, :3])
    for v in range(3):
        x1, _ = amg.solve(Bm[:, v])
        assert np.linalg.norm(Xb[:, v] - x1) <= 1e-8 * np.linalg.norm(x1)
        assert np.linalg.norm(Xb[:, v] - direct[:, v]) <= 1e-6 * np.linalg.norm(direct[:, v])


def test_pcg_reports_the_worst_column():
    A = sp.diags([1.0, 2.0, 3.0, 4.0]).tocsr()
    b = np.column_stack([np.ones(4), np.arange(1.0, 5.0)])
    x, res = pcg(A, b, None, rtol=1e-12)
    assert np.allclose(A @ x, b)
    assert res[0] == pytest.approx(1.0) and res[-1] <= 1e-12


def test_condensed_plate_solve_meets_direct_at_study_tolerance():
    mesh = biomech.VoxelMesh.from_mask(np.ones((8, 8, 14), bool), h=1.0)
    E = np.where(mesh.voxel_ijk[:, 2] >= 6, 1.0, 3000.0)       # soft "disc" on "bone", MPa
    E[(mesh.voxel_ijk[:, 2] >= 6) & (mesh.voxel_ijk[:, 2] < 8)] = 1.0
    prob = biomech.StaticProblem(mesh, E, 0.45)
    prob.fix(mesh.nodes_where(lambda x, y, z: z == 0.0), "xyz")
    prob.add_rigid_plate("top", mesh.nodes_where(lambda x, y, z: z == 14.0),
                         force=(5.0, 0.0, -500.0), moment=(2000.0, 0.0, 0.0))
    ref = prob.solve("direct")
    sol = prob.solve("amg", rtol=1e-6)
    solver = prob._system["solver"]
    assert isinstance(solver, CondensedSolver) and solver.setup_iterations > 0
    # a plate-only load needs no further iteration: it reports the set-up's plate-column CG
    assert sol.info.iterations == solver.setup_iterations
    p, q = sol.plates["top"], ref.plates["top"]
    for field in ("displacement", "rotation"):
        a, b = getattr(p, field), getattr(q, field)
        assert np.linalg.norm(a - b) <= 1e-6 * np.linalg.norm(b), field
    assert np.linalg.norm(sol.u - ref.u) <= 1e-4 * np.linalg.norm(ref.u)


def test_direct_solver_takes_blocks(system):
    A, _ = system
    d = DirectSolver().setup(A)
    b = np.ones((A.shape[0], 2))
    x, _ = d.solve(b)
    assert np.allclose(A @ x, b)


def test_galerkin_rebuild_on_same_prolongators_equals_pyamg(system):
    """R A P on the prolongators of a pyamg hierarchy gives its coarse matrices back."""
    A, B = system
    s = AMGCGSolver(rtol=1e-8).setup(A, near_nullspace=B)
    again = MultigridCycle.galerkin(A, s.M.prolongators)
    assert again.level_sizes == s.M.level_sizes
    for a, b in zip(again.levels, s.M.levels):
        assert abs(a.A - b.A).max() <= 1e-12 * abs(b.A).max()


def test_reused_hierarchy_solves_a_changed_material(system):
    """A second matrix on the same unknowns (stiffer 'cement' in a corner) reuses the
    prolongators, converges in a similar number of iterations and meets the direct
    solution; a different layout builds afresh."""
    HIERARCHY_CACHE.clear()
    A0, B = system
    first = AMGCGSolver(rtol=1e-10, reuse_hierarchy=True).setup(A0, near_nullspace=B)
    rhs = np.random.default_rng(4).standard_normal(A0.shape[0])
    _, info0 = first.solve(rhs)
    assert not first.reused and len(HIERARCHY_CACHE) == 1
    A1, _ = _elasticity_system(seed=7)            # same mesh and supports, other moduli
    second = AMGCGSolver(rtol=1e-10, reuse_hierarchy=True).setup(A1, near_nullspace=B)
    x1, info1 = second.solve(rhs)
    assert second.reused
    assert info1.iterations <= 1.5 * info0.iterations
    direct = spla.spsolve(sp.csc_matrix(A1), rhs)
    assert np.linalg.norm(x1 - direct) <= 1e-6 * np.linalg.norm(direct)
    A2, B2 = _elasticity_system((6, 6, 11))
    third = AMGCGSolver(rtol=1e-8, reuse_hierarchy=True).setup(A2, near_nullspace=B2)
    assert not third.reused
    HIERARCHY_CACHE.clear()


def test_cache_drops_a_hierarchy_that_got_slow():
    cache = HierarchyCache(max_entries=2, max_growth=1.5)
    cache.put("a", ["P"])
    cache.observe("a", 40, reused=False)
    cache.observe("a", 55, reused=True)
    assert cache.get("a") == ["P"]
    cache.observe("a", 61, reused=True)
    assert cache.get("a") is None
    cache.put("b", [1])
    cache.put("c", [2])
    cache.put("d", [3])                 # the oldest entry goes
    assert cache.get("b") is None and len(cache) == 2


def test_solution_does_not_depend_on_the_thread_count():
    """Chunks are fixed by the matrix, not by the threads: 1 and 2 threads give the
    same bits (results.csv of a Dask worker with one thread equals the in-process run)."""
    import numba
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 Numba threads to compare with 1")
    A, B = _elasticity_system((8, 8, 16))
    rhs = np.random.default_rng(0).standard_normal((A.shape[0], 6))
    before = numba.get_num_threads()
    out = []
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            solver = AMGCGSolver(rtol=1e-8).setup(A, near_nullspace=B)
            out.append(solver.solve(rhs)[0])
    finally:
        numba.set_num_threads(before)
    assert max(solver.M.n_chunks) >= 4
    assert np.array_equal(out[0], out[1])


def test_sparse_rows_operator_equals_the_csr_product():
    """SparseRowsOperator (springs and contact: products on their few nonzero rows only)
    gives SciPy's C x and diag(C), exactly, for a vector and a block, rebuilds C
    (tocsr), and add_to adds in place (float32 too)."""
    from biomech.fem.multigrid import SparseRowsOperator
    rng = np.random.default_rng(2)
    n = 200
    C = sp.random(n, n, density=0.001, random_state=3, format="csr")
    C = (C + C.T + sp.diags(np.where(rng.random(n) < 0.05, 1.0, 0.0))).tocsr()
    C.eliminate_zeros()
    op = SparseRowsOperator(C)
    assert op.rows.size < n // 2
    x, X = rng.standard_normal(n), rng.standard_normal((n, 3))
    assert np.array_equal(op @ x, C @ x) and np.array_equal(op @ X, C @ X)
    assert np.array_equal(op.diagonal(), C.diagonal())
    assert abs(op.tocsr() - C).max() == 0.0 and op.tocsr().shape == C.shape
    y = np.ones((n, 3), dtype=np.float32)
    SparseRowsOperator(C, np.float32).add_to(y, X.astype(np.float32))
    assert np.allclose(y, 1.0 + C @ X, rtol=1e-6, atol=1e-6)
    # square_product: (C W)[rows] from W's rows only (C symmetric), and the whole
    # product where C is not symmetric in its pattern (a column outside its rows)
    W = rng.standard_normal((n, 4)).astype(np.float32)
    assert np.allclose(op.square_product(W), (C @ W.astype(float))[op.rows], rtol=1e-12)
    skew = C.tolil()
    skew[int(op.rows[0]), int(np.setdiff1d(np.arange(n), op.rows)[0])] = 2.0
    skew_op = SparseRowsOperator(skew.tocsr())
    assert np.allclose(skew_op.square_product(W), (skew.tocsr() @ W.astype(float))[skew_op.rows],
                       rtol=1e-12)
