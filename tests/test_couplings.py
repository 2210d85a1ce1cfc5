"""Two-node springs in the FE problem (biomech.fem.couplings): linear, tension-only and
contact springs against exact solutions and an independent assembly."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import biomech
from biomech.errors import InputError
from biomech.fem.couplings import make_spring_set


def _bar_and_block(gap_voxels: int = 1, length: int = 6):
    """A 1x1-voxel bar (z in [0, length]) fixed at its base, and a fixed 1-voxel block
    above it across ``gap_voxels`` voxels of void."""
    mask = np.zeros((1, 1, length + gap_voxels + 1), bool)
    mask[0, 0, :length] = True
    mask[0, 0, length + gap_voxels] = True
    mesh = biomech.VoxelMesh.from_mask(mask, h=1.0)
    z = mesh.points[:, 2]
    top = np.flatnonzero(np.isclose(z, length))
    lid = np.flatnonzero(np.isclose(z, length + gap_voxels))
    order = lambda ids: ids[np.lexsort(mesh.points[ids, :2].T)]   # noqa: E731
    return mesh, order(top), order(lid)


@pytest.mark.parametrize("force_N", [30.0, 150.0])
def test_contact_across_a_gap_is_exact_for_a_uniaxial_bar(force_N):
    """Bar E = 100 MPa, A = 1 mm^2, L = 6 mm (nu = 0: uniaxial, exact for hex8) pushed
    up by F against a fixed lid across a clearance g = 0.5 mm with contact stiffness
    4 x 40 N/mm: u = F / k_bar without contact, (F + k_c g) / (k_bar + k_c) with it
    (relative 1e-9)."""
    mesh, top, lid = _bar_and_block()
    E, L, g, kc = 100.0, 6.0, 0.5, 40.0
    prob = biomech.StaticProblem(mesh, E, 0.0)
    prob.fix(mesh.nodes_where(lambda x, y, z: z == 0), "xyz")
    prob.fix(lid, "xyz")
    base = mesh.nodes_where(lambda x, y, z: z == 0)
    prob.fix(np.setdiff1d(np.arange(mesh.n_nodes), np.concatenate([top, lid, base])), "xy")
    prob.fix(top, "xy")
    prob.add_force(top, (0.0, 0.0, force_N))
    prob.add_springs(make_spring_set("contact", mesh.points, top, lid, kc, kind="compression",
                                     direction=(0, 0, 1), gap_mm=g))
    sol = prob.solve("direct")
    k_bar = E * 1.0 / L
    u_free = force_N / k_bar
    expect = u_free if u_free < g else (force_N + 4 * kc * g) / (k_bar + 4 * kc)
    assert sol.u[top, 2].mean() == pytest.approx(expect, rel=1e-9)
    forces = sol.spring_forces("contact")
    if u_free < g:
        assert np.all(forces == 0.0) and sol.info.active_set_iterations == 1
    else:
        assert forces.sum() == pytest.approx(-4 * kc * (expect - g), rel=1e-9)
        assert sol.reaction(lid)[2] == pytest.approx(forces.sum(), rel=1e-9)   # lid holds the bar


def _two_blocks():
    """Two blocks joined by a one-voxel bridge at a corner and by 16 springs across the
    gap: loading the top block bends the bridge, so some springs stretch and some shorten."""
    mask = np.zeros((4, 4, 9), bool)
    mask[:, :, :4] = mask[:, :, 5:] = True
    mask[0, 0, 4] = True
    mesh = biomech.VoxelMesh.from_mask(mask, h=1.0)
    P = mesh.points
    a = np.flatnonzero(np.isclose(P[:, 2], 4) & ~((P[:, 0] <= 1) & (P[:, 1] <= 1)))
    lookup = {tuple(P[i, :2]): i for i in np.flatnonzero(np.isclose(P[:, 2], 5))}
    b = np.array([lookup[tuple(P[i, :2])] for i in a])
    return mesh, a, b


def _problem(mesh, springs, force, moment=(0.0, 0.0, 0.0)):
    prob = biomech.StaticProblem(mesh, 1000.0, 0.3)
    prob.fix(mesh.nodes_where(lambda x, y, z: z == 0), "xyz")
    prob.add_rigid_plate("top", mesh.nodes_where(lambda x, y, z: z == 9), force=force,
                         moment=moment)
    if springs is not None:
        prob.add_springs(springs)
    return prob


@pytest.mark.parametrize("solver", ["direct", "amg", "matrix-free"])
def test_linear_springs_equal_an_independent_assembly(solver):
    """K + sum k d d^T assembled by hand (loops over springs) and solved by SciPy gives
    the same plate displacement as biomech's spring set (relative 1e-7)."""
    mesh, a, b = _two_blocks()
    k = np.linspace(20.0, 80.0, a.size)
    springs = make_spring_set("s", mesh.points, a, b, k, kind="linear")
    prob = _problem(mesh, springs, (30.0, 0.0, -100.0))
    sol = prob.solve(solver, rtol=1e-10)
    # independent: full K + springs, plate by penalty-free elimination through biomech's
    # reduction (already verified elsewhere), spring block added by loops
    ref = _problem(mesh, None, (30.0, 0.0, -100.0))
    red = ref._reduction()
    K = ref.stiffness.tolil()
    for s in range(a.size):
        d = mesh.points[b[s]] - mesh.points[a[s]]
        d /= np.linalg.norm(d)
        dofs = [3 * a[s] + i for i in range(3)] + [3 * b[s] + i for i in range(3)]
        Bd = np.concatenate([-d, d])
        for i in range(6):
            for j in range(6):
                K[dofs[i], dofs[j]] += k[s] * Bd[i] * Bd[j]
    A = (red.T.T @ K.tocsr() @ red.T).tolil()
    keep = ~red.decoupled
    A = A.tocsr()[keep][:, keep]
    z = np.zeros(red.n_free)
    z[keep] = spla.spsolve(sp.csc_matrix(A), red.f_plate[keep])
    u_ref = (red.T @ z).reshape(-1, 3)
    top = mesh.nodes_where(lambda x, y, z: z == 9)
    np.testing.assert_allclose(sol.u[top], u_ref[top], rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("solver", ["direct", "amg"])
def test_tension_only_springs_satisfy_the_complementarity_conditions(solver):
    """The converged state: every active spring stretches, every inactive one shortens
    (or stays), and the solution equals a linear problem with exactly the active springs."""
    mesh, a, b = _two_blocks()
    springs = make_spring_set("s", mesh.points, a, b, 50.0, kind="tension")
    prob = _problem(mesh, springs, (0.0, 0.0, -100.0), (400.0, 0.0, 0.0))
    sol = prob.solve(solver, rtol=1e-10)
    act = sol.spring_active[0]
    delta = np.einsum("ij,ij->i", springs.direction, sol.u[b] - sol.u[a])
    assert 0 < act.sum() < a.size                          # some on, some off
    assert np.all(delta[act > 0] > 0) and np.all(delta[act == 0] <= 1e-9)
    assert sol.info.active_set_iterations >= 2
    on = act > 0
    linear = make_spring_set("s", mesh.points, a[on], b[on], 50.0, kind="linear")
    ref = _problem(mesh, linear, (0.0, 0.0, -100.0), (400.0, 0.0, 0.0)).solve("direct")
    np.testing.assert_allclose(sol.u, ref.u, rtol=1e-6, atol=1e-9)
    f = sol.spring_forces("s")
    assert np.all(f >= 0) and np.all(f[~on] == 0)
    # the plate force balances: reactions at the base = applied load
    base = mesh.nodes_where(lambda x, y, z: z == 0)
    assert sol.reaction(base)[2] == pytest.approx(100.0, rel=1e-6)


def test_reduced_springs_equal_a_hand_assembly_on_one_pattern():
    """ReducedSprings (T^T C T on a fixed pattern, springs ending on a rigid plate and
    on fixed nodes among them) equals a loop assembly of the active springs through the
    reduction, for several active sets (relative 1e-13), and every set shares the
    pattern's index arrays."""
    from biomech.fem.couplings import ReducedSprings, same_pattern
    mesh, a, b = _two_blocks()
    rng = np.random.default_rng(4)
    top = mesh.nodes_where(lambda x, y, z: z == 9)
    base = mesh.nodes_where(lambda x, y, z: z == 0)
    na = np.concatenate([a, top[:5], base[:3]])
    nb = np.concatenate([b, rng.choice(a, 5), top[5:8]])
    sets = [make_spring_set("t", mesh.points, na, nb, rng.uniform(10, 90, na.size)),
            make_spring_set("c", mesh.points, b[:6], a[:6], 30.0, kind="compression",
                            direction=(0, 0, -1), gap_mm=0.1)]
    prob = _problem(mesh, None, (0.0, 0.0, -1.0))
    red = prob._reduction()
    T = red.T.toarray()
    rs = ReducedSprings(sets, red.T, red.decoupled)
    first = None
    for _ in range(4):
        active = [(rng.random(s.n) < 0.5).astype(float) for s in sets]
        C = np.zeros((mesh.n_dofs, mesh.n_dofs))
        for s, act in zip(sets, active):
            for i in range(s.n):
                dofs = [3 * s.node_a[i] + k for k in range(3)] + [3 * s.node_b[i] + k
                                                                   for k in range(3)]
                Bd = np.concatenate([-s.direction[i], s.direction[i]])
                C[np.ix_(dofs, dofs)] += act[i] * s.stiffness_N_per_mm[i] * np.outer(Bd, Bd)
        ref = T.T @ C @ T
        ref[red.decoupled] = 0.0
        ref[:, red.decoupled] = 0.0
        got = rs.matrix(active)
        np.testing.assert_allclose(got.toarray(), ref, rtol=0, atol=1e-13 * abs(ref).max())
        assert abs(ref[np.ix_(red.plate_columns["top"], red.plate_columns["top"])]).max() > 0
        if first is None:
            first = got
        assert same_pattern(got, first)
        assert np.shares_memory(got.indices, first.indices)
    assert not same_pattern(first, sp.csr_matrix(first.toarray()))     # zeros not stored
    # a load case's new reduction with the same T keeps the map; another T does not
    assert rs.reduces_like(red.T.copy(), red.decoupled.copy())
    other = red.T.copy()
    other.data[0] *= 2.0
    assert not rs.reduces_like(other, red.decoupled)
    assert not rs.reduces_like(red.T, ~red.decoupled)


def test_bad_spring_sets_are_refused():
    mesh, a, b = _two_blocks()
    with pytest.raises(InputError, match="kind must be one of"):
        make_spring_set("s", mesh.points, a, b, 1.0, kind="glue")
    with pytest.raises(InputError, match="node numbers must lie"):
        make_spring_set("s", mesh.points, a, b + 10_000, 1.0)
    with pytest.raises(InputError, match="stiffness must be finite"):
        make_spring_set("s", mesh.points, a, b, -1.0)
    with pytest.raises(InputError, match="joins a node to itself"):
        make_spring_set("s", mesh.points, a, a, 1.0)
