"""Deflated CG with recycled Ritz vectors (biomech.fem.deflation) and the V-cycle that
follows a changed set of springs (GMGCGSolver.follow_coupling).

* Deflated CG gives SciPy's direct answer (relative 1e-8 at rtol 1e-11) with and
  without a deflation space, and for a changed sparse addition C.
* Mechanism: on an SPD matrix with four outlying small eigenvalues (and on a rescaled
  one with a Jacobi preconditioner), the first solve's Ritz values find them (relative
  1e-6) and the next solve, deflated, takes under half the iterations of plain CG.
* A base operator changed in place (its cached base @ W stale) is caught by the true
  residual at the end: the space is dropped and plain CG finishes with the right answer.
* Through StaticProblem, an active-set solve with a deflation space gives the direct
  solver's answer (1e-6 at rtol 1e-10).
* The V-cycle takes the new springs: its fine level holds exactly the changed C; an
  unchanged C costs no update.  P^T C P through the springs' rows of P equals the full
  product (1e-12), also for a later, smaller set of springs.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import biomech
import biomech.errors
import biomech.fem.deflation as D
from biomech.fem.solvers import pcg


def _outlier_matrix(n=400, seed=0):
    """SPD (n, n) with eigenvalues 1e-4 .. 4e-4 (four) and the rest in [1, 10]."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    lam = np.concatenate([[1e-4, 2e-4, 3e-4, 4e-4], rng.uniform(1.0, 10.0, n - 4)])
    return (Q * lam) @ Q.T, np.sort(lam)[:4]


class _Dense:
    def __init__(self, A):
        self.A = A
        self.shape = A.shape

    def __matmul__(self, x):
        return self.A @ x


def _springs(n, seed, count=20):
    rng = np.random.default_rng(seed)
    i, j = rng.choice(n, count), rng.choice(n, count)
    k = rng.uniform(0.5, 2.0, count)
    C = sp.csr_matrix((np.r_[k, k, -k, -k], (np.r_[i, j, i, j], np.r_[i, j, j, i])),
                      shape=(n, n))
    C.sum_duplicates()
    return C


def test_deflated_cg_gives_the_direct_answer():
    A0, _ = _outlier_matrix()
    n = A0.shape[0]
    b = np.random.default_rng(1).standard_normal(n)
    eye = _Dense(np.eye(n))
    defl = D.RecycledDeflation(_Dense(A0))
    for seed in (2, 3, 4):                     # no space yet, then recycled; C changes
        C = _springs(n, seed)
        A = A0 + C.toarray()
        x, res = defl.solve(_Dense(A), C, b, eye, rtol=1e-11, maxiter=2000)
        ref = np.linalg.solve(A, b)
        assert res[-1] <= 1e-11
        assert np.linalg.norm(x - ref) <= 1e-8 * np.linalg.norm(ref), seed
    # the space grew solve after solve (augmented), orthonormal to float32 rounding, and
    # base @ W is the exact product of the stored (float32) W
    W = defl.W.astype(float)
    assert defl.W.dtype == np.float32
    assert D.DEFLATION_VECTORS < W.shape[1] <= defl.max_vectors
    np.testing.assert_allclose(W.T @ W, np.eye(W.shape[1]), atol=1e-6)
    np.testing.assert_allclose(defl.base_W, A0 @ W, rtol=0, atol=1e-12 * abs(A0).max())


def test_a_growing_space_finds_the_next_outliers(monkeypatch):
    """Augmented recycling: the first solve's Ritz vectors take the 4 smallest
    eigenvalues; a later, deflated solve's Lanczos coefficients then give the next ones
    (of the deflated operator), and the space stops at max_vectors."""
    monkeypatch.setattr(D, "RITZ_STEPS", 120)
    rng = np.random.default_rng(3)
    n = 200
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    ev = np.r_[[1e-4, 2e-4, 4e-4, 8e-4, 1.6e-3, 3.2e-3, 6.4e-3, 1.28e-2], np.linspace(1, 2, n - 8)]
    A = (Q * ev) @ Q.T
    A = 0.5 * (A + A.T)
    zero = sp.csr_matrix((n, n))
    eye = _Dense(np.eye(n))
    defl = D.RecycledDeflation(_Dense(A), max_vectors=8)
    defl.solve(_Dense(A), zero, rng.standard_normal(n), eye, rtol=1e-10, maxiter=2000)
    np.testing.assert_allclose(defl.ritz_values, ev[:4], rtol=1e-6)
    defl.solve(_Dense(A), zero, rng.standard_normal(n), eye, rtol=1e-10, maxiter=2000)
    assert defl.W.shape[1] == 8
    np.testing.assert_allclose(np.sort(defl.ritz_values[4:]), ev[4:8], rtol=1e-4)
    # the space spans the 8 outlying eigenvectors: their A-energy left outside is tiny
    outside = Q[:, :8] - defl.W @ (defl.W.T @ Q[:, :8])
    assert np.linalg.norm(outside) < 1e-4
    defl.solve(_Dense(A), zero, rng.standard_normal(n), eye, rtol=1e-10, maxiter=2000)
    assert defl.W.shape[1] == 8                                   # full: no more
    b = rng.standard_normal(n)
    x, res = defl.solve(_Dense(A), zero, b, eye, rtol=1e-10, maxiter=2000)
    _, plain = pcg(_Dense(A), b, eye, rtol=1e-10, maxiter=2000)
    assert len(res) - 1 < 0.5 * (len(plain) - 1)
    assert np.linalg.norm(A @ x - b) <= 1e-9 * np.linalg.norm(b)


@pytest.mark.parametrize("preconditioned", [False, True])
def test_ritz_vectors_deflate_the_outliers(monkeypatch, preconditioned):
    """With M = I, and with a Jacobi M on a diagonally rescaled matrix (so that the
    Ritz vectors must be weighted by the preconditioned residuals): the Ritz values are
    the four smallest eigenvalues of M A (relative 1e-6) and the next, deflated solve
    takes under half the iterations of plain CG."""
    monkeypatch.setattr(D, "RITZ_STEPS", 120)
    A, small = _outlier_matrix()
    n = A.shape[0]
    rng = np.random.default_rng(5)
    M = np.eye(n)
    if preconditioned:
        s = rng.uniform(0.2, 5.0, n)
        A = s[:, None] * A * s[None, :]
        M = np.diag(1.0 / np.diag(A))
        m = np.sqrt(np.diag(M))
        small = np.linalg.eigvalsh(m[:, None] * A * m[None, :])[:4]
    zero = sp.csr_matrix((n, n))
    defl = D.RecycledDeflation(_Dense(A))
    defl.solve(_Dense(A), zero, rng.standard_normal(n), _Dense(M), rtol=1e-10, maxiter=2000)
    np.testing.assert_allclose(defl.ritz_values, small, rtol=1e-6)
    b = rng.standard_normal(n)
    _, plain = pcg(_Dense(A), b, _Dense(M), rtol=1e-10, maxiter=2000)
    x2, res2 = defl.solve(_Dense(A), zero, b, _Dense(M), rtol=1e-10, maxiter=2000)
    assert len(res2) - 1 < 0.5 * (len(plain) - 1), (len(res2), len(plain))
    assert np.linalg.norm(A @ x2 - b) <= 1e-9 * np.linalg.norm(b)


def test_a_base_changed_in_place_is_caught_by_the_true_residual(caplog):
    """base @ W is cached: if the base operator changes in place, the final check of
    the true residual drops the space and plain CG finishes (the answer is right)."""
    A0, _ = _outlier_matrix()
    n = A0.shape[0]
    base = _Dense(A0.copy())
    zero = sp.csr_matrix((n, n))
    eye = _Dense(np.eye(n))
    b = np.random.default_rng(9).standard_normal(n)
    defl = D.RecycledDeflation(base)
    defl.solve(base, zero, b, eye, rtol=1e-10, maxiter=2000)
    assert defl.W is not None
    base.A *= 2.0
    with caplog.at_level("WARNING", logger="biomech.fem.deflation"):
        x, res = defl.solve(base, zero, b, eye, rtol=1e-10, maxiter=2000)
    assert "dropped" in caplog.text and defl.W is None
    assert np.linalg.norm(base.A @ x - b) <= 1e-9 * np.linalg.norm(b)


def test_a_short_solve_leaves_the_space_empty():
    """Under RITZ_MIN_STEPS iterations the Lanczos data are too few: no space."""
    n = 50
    A = sp.diags(np.linspace(1.0, 2.0, n)).toarray()
    defl = D.RecycledDeflation(_Dense(A))
    defl.solve(_Dense(A), sp.csr_matrix((n, n)), np.ones(n), _Dense(np.eye(n)),
               rtol=1e-3, maxiter=100)
    assert defl.W is None


def test_galerkin_rows_equal_the_full_product():
    import biomech.fem.gmg as G
    rng = np.random.default_rng(6)
    n_f, n_c = 60, 15
    P = sp.random(n_f, n_c, density=0.2, random_state=7, format="csr")
    Pd = G._dof_prolongation(P)
    cache = {}
    C_all = _springs(3 * n_f, 8, count=30)
    for C in (C_all, 0.5 * C_all, _keep_rows(C_all, 3 * n_f, rng)):
        got = G._galerkin_rows(P, sp.csr_matrix(C), cache)
        ref = (Pd.T @ C @ Pd).toarray()
        assert np.abs(got.toarray() - ref).max() <= 1e-12 * np.abs(ref).max()


def _keep_rows(C, n, rng):
    """C with the springs of half its nodes removed (a later, smaller active set)."""
    keep = np.repeat(rng.random(n // 3) < 0.5, 3).astype(float)
    m = sp.diags(keep)
    return (m @ C @ m).tocsr()


@pytest.fixture
def tension_problem(monkeypatch):
    import biomech.fem.gmg as G
    from biomech.fem.couplings import make_spring_set
    from tests.test_gmg import _two_blocks_problem
    monkeypatch.setattr(G, "COARSE_MAX_UNKNOWNS", 200)

    def springs(mesh, a, b):
        return make_spring_set("s", mesh.points, a, b, 50.0, kind="tension")
    *_, prob = _two_blocks_problem(springs)
    return prob


@pytest.mark.parametrize("resync", [8, 1])
def test_the_vcycle_follows_a_changed_set_of_springs(tension_problem, monkeypatch, resync):
    """Each changed active set reaches every level: the fine level holds the masked C,
    each coarse level P^T C P of the level above (float32 1e-6), also after several
    changes on one pattern, which go down the levels as differences (resync 8), or
    with the levels made afresh after every update (resync 1)."""
    import biomech.fem.gmg as G
    monkeypatch.setattr(G, "COUPLING_RESYNC_UPDATES", resync)
    prob = tension_problem
    prob.solve("gmg", rtol=1e-8)
    cond = prob._system["solver"]
    inner = cond.inner
    red = prob._reduction()
    rng = np.random.default_rng(2)
    sets = [[np.arange(s.n) % 2 == 0 for s in prob._springs],
            [rng.random(s.n) < 0.3 for s in prob._springs],
            [np.ones(s.n, bool) for s in prob._springs]]
    mask = inner.hierarchy.mask.astype(float)
    for k, active in enumerate(sets):
        C = prob._reduced_springs(red, [a.astype(float) for a in active])
        before = inner.coupling_updates
        cond.set_operator(prob._system["base"], C)
        assert inner.coupling_updates == before + 1
        expect = (sp.diags(mask) @ inner._full(C) @ sp.diags(mask)).tocsr()
        assert expect.nnz
        levels = inner.hierarchy.levels
        for i, lev in enumerate(levels):
            got = lev.extra
            assert abs(got - expect).max() <= 1e-6 * abs(expect).max(), (k, i)
            if i + 1 < len(levels):
                P = sp.kron(lev.P.astype(float), sp.identity(3), format="csr")
                expect = (P.T @ expect @ P).tocsr()
        cond.set_operator(prob._system["base"], C)          # the same set again: no update
        assert inner.coupling_updates == before + 1


def test_nested_dissection_orders_every_voxel_once():
    from biomech.fem.gmg_volumetric import nested_dissection
    g = np.mgrid[0:20, 0:14, 0:6].reshape(3, -1).T
    order = nested_dissection(g, leaf=16)
    assert np.array_equal(np.sort(order), np.arange(len(g)))
    # fewer fill entries than SuperLU's own minimum-degree order on the 27-point graph
    from scipy.spatial import cKDTree
    pairs = cKDTree(g).query_pairs(1.5, p=np.inf, output_type="ndarray")
    n = len(g)
    A = sp.coo_matrix((-np.ones(2 * len(pairs)), (np.r_[pairs[:, 0], pairs[:, 1]],
                                                  np.r_[pairs[:, 1], pairs[:, 0]])),
                      shape=(n, n)).tocsr()
    A = (A + sp.diags(30.0 * np.ones(n))).tocsc()

    def fill(M, spec):
        lu = spla.splu(M, permc_spec=spec, diag_pivot_thresh=0.0,
                       options={"SymmetricMode": True})
        return lu.L.nnz + lu.U.nnz
    assert fill(A[order][:, order].tocsc(), "NATURAL") < fill(A, "MMD_AT_PLUS_A")


def test_an_active_set_solve_with_a_deflation_space_gives_the_direct_answer(monkeypatch):
    """Through StaticProblem: tension-only springs, GMG inner solver, a deflation space
    formed after the first solve of a few iterations (RITZ_MIN_STEPS lowered so that
    this small model has one); the answer is the direct solver's (relative 1e-6 at
    rtol 1e-10)."""
    import biomech.fem.gmg as G
    from biomech.fem.couplings import make_spring_set
    from tests.test_gmg import _two_blocks_problem
    monkeypatch.setattr(G, "COARSE_MAX_UNKNOWNS", 200)
    monkeypatch.setattr(D, "RITZ_MIN_STEPS", 2)

    def springs(mesh, a, b):
        return make_spring_set("s", mesh.points, a, b, 50.0, kind="tension")
    *_, prob = _two_blocks_problem(springs)
    sol = prob.solve("gmg", rtol=1e-10)
    cond = prob._system["solver"]
    assert cond.deflation.W is not None
    assert sol.info.active_set_iterations >= 2        # later solves ran deflated
    # X only preconditions here (every solve through set_operator): float32, and the
    # condensation's own exact path refuses to run on it
    assert cond.X.dtype == np.float32
    with pytest.raises(biomech.errors.InputError, match="only preconditions"):
        cond.op = None
        cond.solve(np.ones(cond.n))
    *_, ref_prob = _two_blocks_problem(springs)
    ref = ref_prob.solve("direct")
    np.testing.assert_allclose(sol.u, ref.u, rtol=1e-6, atol=1e-9 * np.abs(ref.u).max())
