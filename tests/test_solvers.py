"""Solvers on a voxel column: fixed base, rigid plate on top.

* AMG-CG, direct (SuperLU), Jacobi-CG (assembled) and matrix-free Jacobi-CG give
  the same displacements: relative 1e-6 at rtol 1e-10 (the error of an iterative
  solution is bounded by cond(A) * rtol; cond ~1e4 here, so ~1e-6 is the
  worst case and the observed agreement is ~1e-10).
* Static equilibrium of the plate and of the whole body (exact for the discrete
  system: to round-off with the direct solver, 1e-8 relative asserted).
* Error paths: unconstrained models, non-convergence.
* Load-case reuse: set_plate_load keeps the solver set-up.
"""
from __future__ import annotations

import numpy as np
import pytest

import biomech
from biomech.fem.solvers import make_solver
from tests import twins

SOLVERS = ("direct", "amg", "jacobi", "matrix-free")
AGREE = 1e-6          # iterative vs direct at rtol 1e-10 (module docstring)
EQUILIBRIUM = 1e-8    # direct solve: round-off only

FORCE = np.array([20.0, -10.0, -500.0])            # N
MOMENT = np.array([300.0, -200.0, 100.0])          # N mm about the reference point
PRESCRIBED = {"uz": -0.02, "ry": 0.001}            # mm, rad; other plate DOFs free, unloaded


def _column(nx=8, ny=8, nz=16):
    """Voxel column (h = 1 mm) with a vertical canal; > 3000 unknowns so the AMG
    hierarchy has more than one level."""
    mask = np.ones((nx, ny, nz), bool)
    mask[3:5, 3:5, :] = False
    return biomech.VoxelMesh.from_mask(mask, h=1.0)


def _problem(mesh, case, seed=0):
    E = np.random.default_rng(seed).uniform(300.0, 3000.0, mesh.n_elements)   # MPa
    prob = biomech.StaticProblem(mesh, E, 0.3)
    zmax = mesh.points[:, 2].max()
    base = mesh.nodes_where(lambda x, y, z: z == 0.0)
    top = mesh.nodes_where(lambda x, y, z: z == zmax)
    prob.fix(base, "xyz")
    ref = (mesh.points[:, 0].mean(), mesh.points[:, 1].mean(), zmax + 2.0)
    if case == "load":
        prob.add_rigid_plate("top", top, reference_point=ref, force=FORCE, moment=MOMENT)
    else:
        prob.add_rigid_plate("top", top, reference_point=ref, prescribed=PRESCRIBED)
    return prob, base, top


class _Solved:
    """One problem of a load case; solutions computed once per solver, on demand
    (so a failing solver fails its own tests only)."""

    def __init__(self, case):
        self.case = case
        self.prob, self.base, self.top = _problem(_column(), case)
        self._sols = {}

    def __call__(self, name):
        if name not in self._sols:
            self._sols[name] = self.prob.solve(name, rtol=1e-10)
        return self._sols[name]


@pytest.fixture(scope="module", params=["load", "prescribed"])
def solved(request):
    return _Solved(request.param)


# ------------------------------------------------------------------ agreement
@pytest.mark.parametrize("name", SOLVERS[1:])
def test_solvers_agree(solved, name):
    ref, sol = solved("direct"), solved(name)
    assert twins.relative_difference(sol.u, ref.u) < AGREE
    for field in ("displacement", "rotation", "force", "moment"):
        a = getattr(sol.plates["top"], field)
        b = getattr(ref.plates["top"], field)
        assert np.allclose(a, b, rtol=AGREE, atol=AGREE * np.abs(b).max()), field


def test_amg_with_plate_is_condensed(solved):
    """AMG with a rigid plate condenses the 6 plate unknowns: the inner AMG-CG runs
    at set-up (all plate DOFs in one block solve); a load on the plate alone needs no further
    iteration, and the true residual still meets the tolerance."""
    info = solved.prob.solve("amg", rtol=1e-10).info
    solver = solved.prob._system["solver"]
    assert info.method == "condensed-amg-cg" and info.converged
    assert info.n_unknowns == solved("direct").info.n_unknowns
    assert info.residuals[-1] <= 1e-9
    assert info.setup_time_s > 0.0
    assert solver.setup_iterations + info.iterations >= 1


def test_direct_solve_info(solved):
    info = solved("direct").info
    assert info.method == "direct" and info.converged
    assert info.n_unknowns > 3000
    assert info.setup_time_s > 0.0 and info.solve_time_s > 0.0


@pytest.mark.parametrize("name,method", [("jacobi", "jacobi-cg"), ("matrix-free", "jacobi-cg")])
def test_iterative_solve_info(solved, name, method):
    info = solved(name).info
    assert info.method == method and info.n_unknowns == solved("direct").info.n_unknowns
    assert info.converged and info.iterations >= 1
    res = np.asarray(info.residuals)
    assert res.size == info.iterations + 1
    assert res[0] == pytest.approx(1.0)          # x0 = 0: r0 = b
    assert res[-1] <= 1e-10
    # CG minimises the A-norm of the error, not the residual: the residual may
    # rise for a step (Jacobi-CG); its running minimum must fall to rtol
    assert np.minimum.accumulate(res)[-1] == res[-1]
    assert info.setup_time_s >= 0.0 and info.solve_time_s > 0.0
    assert info.wall_time_s == pytest.approx(info.setup_time_s + info.solve_time_s)
    if name == "amg":
        assert (np.diff(res) < 0).all(), "AMG-CG residuals should fall every iteration"
        assert info.iterations < 50


# ------------------------------------------------------------------ equilibrium
def test_plate_and_base_equilibrium(solved):
    case, prob, base = solved.case, solved.prob, solved.base
    sol = solved("direct")
    plate = sol.plates["top"]
    base_force = sol.reaction(base)
    ref = prob.plate("top").reference_point
    r_base = sol.internal_forces[base] - prob.external_forces[base]
    base_moment = np.cross(prob.mesh.points[base] - ref, r_base).sum(axis=0)
    scale_f = np.abs(plate.force).max()
    scale_m = np.abs(plate.moment).max() + scale_f * 10.0   # force x ~10 mm lever arm
    if case == "load":
        assert np.allclose(plate.force, FORCE, rtol=0, atol=EQUILIBRIUM * np.abs(FORCE).max())
        assert np.allclose(plate.moment, MOMENT, rtol=0, atol=EQUILIBRIUM * np.abs(MOMENT).max())
    else:
        assert plate.displacement[2] == PRESCRIBED["uz"]
        assert plate.rotation[1] == PRESCRIBED["ry"]
        # free plate DOFs carry no load: force x, y and moments x, z vanish
        assert np.abs(plate.force[:2]).max() < EQUILIBRIUM * scale_f
        assert np.abs(plate.moment[[0, 2]]).max() < EQUILIBRIUM * scale_m
        assert plate.force[2] < 0                    # pushing down on the body
    # the base holds what the plate puts in: forces and moments about the reference point
    assert np.allclose(base_force, -plate.force, rtol=0, atol=EQUILIBRIUM * scale_f)
    assert np.allclose(base_moment, -plate.moment, rtol=0, atol=EQUILIBRIUM * scale_m)


# ------------------------------------------------------------------ load-case reuse
def test_set_plate_load_reuses_setup_and_matches_fresh_problem():
    mesh = _column()
    prob, base, top = _problem(mesh, "load", seed=1)
    first = prob.solve("amg", rtol=1e-10)
    solver = prob._system["solver"]
    new_force, new_moment = np.array([-5.0, 40.0, -800.0]), np.array([0.0, 250.0, -60.0])
    prob.set_plate_load("top", force=new_force, moment=new_moment)
    second = prob.solve("amg", rtol=1e-10)
    assert prob._system["solver"] is solver                       # no new AMG hierarchy
    assert second.info.setup_time_s == first.info.setup_time_s    # the same set-up object
    fresh, _, _ = _problem(mesh, "load", seed=1)
    fresh.set_plate_load("top", force=new_force, moment=new_moment)
    expect = fresh.solve("direct")
    assert twins.relative_difference(second.u, expect.u) < AGREE
    assert np.allclose(second.plates["top"].force, new_force, atol=1e-6 * 800)


def test_prescribed_value_change_reuses_setup_and_scales_linearly():
    mesh = _column(4, 4, 6)
    prob, base, top = _problem(mesh, "prescribed")
    first = prob.solve("direct")
    solver = prob._system["solver"]
    prob.set_plate_load("top", prescribed={k: 2 * v for k, v in PRESCRIBED.items()})
    second = prob.solve("direct")
    assert prob._system["solver"] is solver
    # linear problem: doubling every prescribed value doubles u (round-off, 1e-12)
    assert twins.relative_difference(second.u, 2 * first.u) < 1e-12


# ------------------------------------------------------------------ error paths
@pytest.fixture(scope="module")
def small_mesh():
    return biomech.VoxelMesh.from_mask(np.ones((3, 4, 5), bool), h=1.0, origin=(1.0, 2.0, 3.0))


def _free_modes_message(mesh, setup):
    prob = biomech.StaticProblem(mesh, 1000.0, 0.3)
    setup(prob, mesh.nodes_where(lambda x, y, z: z == 3.0),
          mesh.nodes_where(lambda x, y, z: z == 8.0))
    with pytest.raises(biomech.UnconstrainedModelError) as exc:
        prob.solve("direct")
    return str(exc.value)


def test_unconstrained_base_fixed_in_z_only(small_mesh):
    msg = _free_modes_message(small_mesh, lambda p, base, top: p.fix(base, "z"))
    for mode in ("translation x", "translation y", "rotation about z"):
        assert mode in msg
    assert "3 of 6" in msg
    assert "translation z" not in msg and "rotation about x" not in msg


def test_unconstrained_without_any_support(small_mesh):
    msg = _free_modes_message(small_mesh, lambda p, base, top: p.add_force(top, (0, 0, -1)))
    assert "no prescribed displacement" in msg


def test_unconstrained_plate_leaves_rotation_about_z(small_mesh):
    def setup(p, base, top):
        p.fix(base, "z")
        p.add_rigid_plate("top", top, prescribed={"ux": 0.0, "uy": 0.0})
    msg = _free_modes_message(small_mesh, setup)
    assert "rotation about z" in msg and "1 of 6" in msg


def test_unconstrained_names_modes_about_the_support(small_mesh):
    """Base fixed in x only: free are translation y, z, rotation about x and the
    rotation about y around the base plane.  Pure translation x is suppressed
    and must not be reported as free (core issue: modes are named by the largest
    component of a null vector written about the mesh centroid)."""
    msg = _free_modes_message(small_mesh, lambda p, base, top: p.fix(base, "x"))
    assert "4 of 6" in msg
    for mode in ("translation y", "translation z", "rotation about x", "rotation about y"):
        assert mode in msg
    assert "translation x" not in msg


def test_convergence_error_carries_info():
    mesh = _column(4, 4, 6)
    prob, base, top = _problem(mesh, "load")
    with pytest.raises(biomech.ConvergenceError) as exc:
        prob.solve("jacobi", rtol=1e-10, maxiter=2)
    info = exc.value.info
    assert info is not None and not info.converged
    assert info.iterations == 2 and len(info.residuals) == 3
    assert info.residuals[-1] > 1e-10
    assert "did not converge" in str(exc.value)


def test_amg_coarse_level_is_small():
    """pyamg's default coarse solver is a dense pseudo-inverse of the coarsest
    level, computed at the first solve: O(n^3).  With max_coarse=3000 a model of
    2500 unknowns stays a single level and its first AMG solve took 37 s (2 cores),
    against 0.3 s with a 2-level hierarchy.  The coarsest level must stay small
    (<= 1000 unknowns) for every model size.  Set-up only: fast."""
    mesh = biomech.VoxelMesh.from_mask(np.ones((7, 7, 14), bool), h=1.0)
    prob = biomech.StaticProblem(mesh, 1000.0, 0.3)
    prob.fix(mesh.nodes_where(lambda x, y, z: z == 0.0), "xyz")
    prob.add_rigid_plate("top", mesh.nodes_where(lambda x, y, z: z == 14.0), force=(0, 0, -1))
    red = prob._reduction()
    A = (red.T.T @ prob.stiffness @ red.T).tocsr()
    solver = make_solver("amg", rtol=1e-8).setup(A, near_nullspace=prob._near_nullspace(red))
    assert A.shape[0] > 2000
    assert solver.level_sizes[-1] <= 1000


def test_pcg_with_a_preconditioner_that_returns_its_input():
    """An M that hands back its input (SciPy's IdentityOperator) must not alias CG's
    search direction with its residual: the answer equals the direct solve."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla
    from biomech.fem.solvers import pcg
    n = 50
    A = sp.diags([-1.0, 2.5, -1.0], [-1, 0, 1], shape=(n, n), format="csr")
    b = np.random.default_rng(0).standard_normal(n)
    M = spla.aslinearoperator(sp.identity(n)) * 1.0      # generic LinearOperator
    ident = spla.LinearOperator((n, n), matvec=lambda v: v, dtype=float)
    for m in (M, ident):
        x, res = pcg(A, b, m, rtol=1e-12, maxiter=500)
        assert np.linalg.norm(x - spla.spsolve(A.tocsc(), b)) <= 1e-9 * np.linalg.norm(x)


def test_pcg_with_a_preconditioner_that_reuses_its_output_buffer():
    """An M that writes into one buffer of its own and returns it each time: CG still
    takes as many iterations as with a fresh array each time (the search direction is
    not that buffer)."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla
    from biomech.fem.solvers import pcg
    n = 50
    A = sp.diags([-np.ones(n - 1), np.linspace(2.1, 9.0, n), -np.ones(n - 1)], [-1, 0, 1],
                 format="csr")
    b = np.random.default_rng(1).standard_normal(n)
    dinv = 1.0 / A.diagonal()
    buf = np.empty(n)

    def jacobi_into_buffer(v):
        np.multiply(dinv, v, out=buf)
        return buf

    fresh = spla.LinearOperator((n, n), matvec=lambda v: dinv * v, dtype=float)
    reused = spla.LinearOperator((n, n), matvec=jacobi_into_buffer, dtype=float)
    x1, res1 = pcg(A, b, fresh, rtol=1e-12, maxiter=500)
    x2, res2 = pcg(A, b, reused, rtol=1e-12, maxiter=500)
    assert len(res2) == len(res1)
    assert np.linalg.norm(x2 - x1) <= 1e-10 * np.linalg.norm(x1)
