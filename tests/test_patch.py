"""Patch tests: a linear displacement field must be reproduced exactly.

MacNeal & Harder, "A proposed standard set of problems to test finite element
accuracy", Finite Elements in Analysis and Design 1 (1985) 3-20: the unit cube
split into 7 distorted hexahedra (CalculiX test ``patch_c3d8i.inp``, shared data),
the 8 outer corners prescribed by

    u = 1e-3 (x + (y+z)/2,  y + (x+z)/2,  z + (x+y)/2)

and no load.  Any consistent element reproduces this field at the inner nodes and
the constant stress sigma_xx = sigma_yy = sigma_zz = 2000, tau = 400 (E = 1e6,
nu = 0.25) at every integration point.  Exact arithmetic would give zero error, so
the tolerances are round-off: 1e-12 relative for displacements (the systems here
have condition numbers below ~1e3, so solve error ~1e-16 * 1e3) and 1e-9 relative
for stresses (a stress is E times a difference of displacements over an element,
losing a few more digits).

The same patch is run as plain hex8 (C3D8I read as C3D8: 2x2x2 Gauss) with and
without B-bar, as a conforming tet4 subdivision (each hex into 6 tets around one
of its space diagonals, the diagonals chosen so that every shared face is cut
the same way from both sides), as tet10 (mid-edge nodes added), and on voxel
meshes (a notched block) with B-bar on and off, including the matrix-free path.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from biomech import Mesh, StaticProblem, VoxelMesh
from biomech.io.calculix import read_inp
from biomech.kernels.elements import HEX8_SIGNS
from tests.conftest import shared_file

DISPLACEMENT_REL_TOL = 1e-12
STRESS_REL_TOL = 1e-9

#: Displacement gradient of the MacNeal-Harder field: u = GRAD @ x.
GRAD = 1e-3 * np.array([[1.0, 0.5, 0.5], [0.5, 1.0, 0.5], [0.5, 0.5, 1.0]])


def linear_field(points):
    """u = 1e-3 (x + (y+z)/2, y + (x+z)/2, z + (x+y)/2) [mm] at points (n, 3)."""
    return points @ GRAD.T


def exact_stress(E, nu):
    """Hooke's law for the field's constant strain: (6,) tensor Voigt [MPa]."""
    lam = E * nu / ((1 + nu) * (1 - 2 * nu))
    mu = E / (2 * (1 + nu))
    eps = 0.5 * (GRAD + GRAD.T)
    sig = lam * np.trace(eps) * np.eye(3) + 2 * mu * eps
    return np.array([sig[0, 0], sig[1, 1], sig[2, 2], sig[0, 1], sig[1, 2], sig[0, 2]])


def test_exact_stress_is_the_published_one():
    """The test's own reference: MacNeal & Harder (1985) give 2000 / 400 for E = 1e6,
    nu = 0.25 (so does the CalculiX test's description)."""
    np.testing.assert_allclose(exact_stress(1e6, 0.25), [2000, 2000, 2000, 400, 400, 400],
                               rtol=1e-15)


def solve_patch(mesh, E, nu, prescribed_nodes, *, bbar=None, solver="direct", rtol=1e-12):
    """Prescribe the linear field on ``prescribed_nodes``; return the solution."""
    prob = StaticProblem(mesh, E, nu, bbar=bbar)
    nodes = np.unique(prescribed_nodes)
    prob.fix(nodes, "xyz", value=linear_field(mesh.points[nodes]))
    return prob.solve(solver, rtol=rtol)


def assert_patch_passed(sol, E, nu, free_nodes, *, u_tol=DISPLACEMENT_REL_TOL,
                        s_tol=STRESS_REL_TOL):
    """Free nodes follow the linear field and every integration point has the exact stress."""
    assert len(free_nodes) > 0, "a patch test needs free nodes"
    u_exact = linear_field(sol.mesh.points)
    err_u = np.abs(sol.u - u_exact).max() / np.abs(u_exact).max()
    assert err_u <= u_tol, f"displacement error {err_u:.3g} (relative) > {u_tol:g}"
    s_exact = exact_stress(E, nu)
    stress = sol.stress(at="gauss")
    err_s = np.abs(stress - s_exact).max() / np.abs(s_exact).max()
    assert err_s <= s_tol, f"stress error {err_s:.3g} (relative) > {s_tol:g}"
    return err_u, err_s


# ------------------------------------------------------------------ MacNeal-Harder hexes
@pytest.fixture(scope="module")
def patch():
    """The CalculiX patch model (7 distorted hexes; C3D8I read as plain hex8)."""
    return read_inp(shared_file("calculix-tests", "patch_c3d8i.inp"))


def corner_nodes(mesh):
    """The 8 corners of the unit cube (the nodes with every coordinate 0 or 1)."""
    p = mesh.points
    return np.flatnonzero(np.all((p == 0.0) | (p == 1.0), axis=1))


def test_patch_file_prescribes_the_linear_field(patch):
    """The file's *BOUNDARY values are the linear field at the 8 corners (checks the
    reader and this test's field against the CalculiX input)."""
    assert patch.mesh.n_nodes == 16 and patch.mesh.n_elements == 7
    assert patch.E.tolist() == [1e6] * 7 and patch.nu.tolist() == [0.25] * 7
    presc = patch.prescribed_displacements()
    corners = corner_nodes(patch.mesh)
    assert sorted({n for n, _ in presc}) == corners.tolist()
    u = linear_field(patch.mesh.points)
    for (n, c), v in presc.items():
        assert v == pytest.approx(u[n, c], rel=1e-15, abs=0.0)


@pytest.mark.parametrize("bbar", [False, True], ids=["plain", "bbar"])
def test_distorted_hex8_patch(patch, bbar):
    # No mesh.validate(): element 4 of the published patch has det J = -1.6e-3 at
    # its corner at node 5 (checked by hand: the three edges there are left-handed),
    # which validate() rejects; at the 8 Gauss points (all the stiffness sees, and
    # all the assembly checks) every det J is positive, as in CalculiX.
    mesh = patch.mesh
    sol = patch.to_problem(bbar=bbar).solve("direct")
    free = np.setdiff1d(np.arange(mesh.n_nodes), corner_nodes(mesh))
    assert_patch_passed(sol, 1e6, 0.25, free)


# ------------------------------------------------------------------ tet subdivisions
#: The 6 tets around the space diagonal 0-6 of a VTK-ordered hex: one per
#: monotone edge path 0 -> a -> b -> 6.
SIX_TETS_AROUND_0_6 = np.array([[0, 1, 2, 6], [0, 1, 5, 6], [0, 3, 2, 6],
                                [0, 3, 7, 6], [0, 4, 5, 6], [0, 4, 7, 6]])
HEX_FACES = np.array([[0, 1, 2, 3], [4, 5, 6, 7], [0, 1, 5, 4],
                      [1, 2, 6, 5], [2, 3, 7, 6], [3, 0, 4, 7]])


def _reflection_taking_0_to(a):
    """Vertex permutation of the reference hex (a reflection) that maps vertex 0 to a."""
    flip = -HEX8_SIGNS[a] * HEX8_SIGNS[0]                 # +1 keep, -1 mirror that axis
    image = HEX8_SIGNS * flip
    return np.array([int(np.flatnonzero((HEX8_SIGNS == s).all(axis=1))[0]) for s in image])


#: Local tets for the split around diagonal a - opposite(a), a = 0..3.
DIAGONAL_SPLITS = [_reflection_taking_0_to(a)[SIX_TETS_AROUND_0_6] for a in range(4)]


def _face_cuts(cell, split):
    """{sorted face nodes: the face diagonal (sorted pair)} of one hex and one split."""
    on_diag = set(cell[[split[0, 0], split[0, 3]]].tolist())       # a and opposite(a)
    cuts = {}
    for f in HEX_FACES:
        nodes = cell[f]
        pair = [n for n in nodes.tolist() if n in on_diag]
        assert len(pair) == 1
        k = nodes.tolist().index(pair[0])
        cuts[tuple(sorted(nodes.tolist()))] = tuple(sorted((nodes[k], nodes[(k + 2) % 4])))
    return cuts


def conforming_tet4_split(points, cells):
    """Split each hex into 6 tets around a space diagonal chosen (by exhaustive
    search, fine for a few elements) so that shared faces are cut identically.
    Returns (n_hex * 6, 4) tets with positive volume."""
    options = [[_face_cuts(c, s) for s in DIAGONAL_SPLITS] for c in cells]
    for choice in itertools.product(range(4), repeat=len(cells)):
        seen, ok = {}, True
        for e, k in enumerate(choice):
            for face, cut in options[e][k].items():
                if seen.setdefault(face, cut) != cut:
                    ok = False
                    break
            if not ok:
                break
        if ok:
            break
    else:
        raise AssertionError("no conforming choice of hex diagonals exists for this mesh")
    tets = np.concatenate([c[DIAGONAL_SPLITS[k]] for c, k in zip(cells, choice)])
    x = points[tets]
    vol6 = np.einsum("ij,ij->i", np.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0]),
                     x[:, 3] - x[:, 0])
    tets[vol6 < 0] = tets[vol6 < 0][:, [0, 2, 1, 3]]
    return tets


def add_mid_edge_nodes(points, tets):
    """tet4 -> tet10 (CalculiX C3D10 order: edges 1-2, 2-3, 3-1, 1-4, 2-4, 3-4), one
    shared straight mid-edge node per edge."""
    edges = np.array([[0, 1], [1, 2], [2, 0], [0, 3], [1, 3], [2, 3]])
    pairs = np.sort(tets[:, edges], axis=2).reshape(-1, 2)
    unique, inverse = np.unique(pairs, axis=0, return_inverse=True)
    mids = 0.5 * (points[unique[:, 0]] + points[unique[:, 1]])
    cells = np.hstack([tets, points.shape[0] + inverse.reshape(-1, 6)])
    return np.vstack([points, mids]), cells


def triangle_counts(tets):
    """How many tets share each triangle (sorted node triple)."""
    faces = np.sort(tets[:, [[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]]], axis=2).reshape(-1, 3)
    _, counts = np.unique(faces, axis=0, return_counts=True)
    return counts


@pytest.fixture(scope="module")
def patch_tets(patch):
    return conforming_tet4_split(patch.mesh.points, patch.mesh.cells)


def test_tet_split_is_conforming(patch, patch_tets):
    """Every interior triangle is shared by exactly 2 tets and the cube's surface is
    6 quads x 2 triangles; the tets fill the patch (volume 1)."""
    counts = triangle_counts(patch_tets)
    assert counts.max() == 2
    assert (counts == 1).sum() == 12
    x = patch.mesh.points[patch_tets]
    vol = np.einsum("ij,ij->i", np.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0]),
                    x[:, 3] - x[:, 0]) / 6.0
    assert vol.min() > 0
    assert vol.sum() == pytest.approx(1.0, rel=1e-14)


def test_tet4_patch(patch, patch_tets):
    mesh = Mesh(patch.mesh.points, patch_tets, "tet4").validate()
    corners = corner_nodes(mesh)
    sol = solve_patch(mesh, 1e6, 0.25, corners)
    assert_patch_passed(sol, 1e6, 0.25, np.setdiff1d(np.arange(mesh.n_nodes), corners))


def test_tet10_patch(patch, patch_tets):
    """Prescribed on all surface nodes (corners and surface mid-edge nodes): a free
    surface node would need the traction sigma.n of the field as a load."""
    points, cells = add_mid_edge_nodes(patch.mesh.points, patch_tets)
    mesh = Mesh(points, cells, "tet10").validate()
    on_surface = np.flatnonzero(np.any((points == 0.0) | (points == 1.0), axis=1))
    sol = solve_patch(mesh, 1e6, 0.25, on_surface)
    free = np.setdiff1d(np.arange(mesh.n_nodes), on_surface)
    assert free.size >= 8
    assert_patch_passed(sol, 1e6, 0.25, free)


# ------------------------------------------------------------------ voxel meshes
@pytest.fixture(scope="module")
def notched_block():
    """6 x 5 x 4 voxels of 0.5 mm at origin (1, 2, 3) mm with a 2 x 2 x 4 notch and a
    single-voxel cavity: corners, re-entrant edges and interior nodes."""
    mask = np.ones((6, 5, 4), bool)
    mask[4:, 3:, :] = False
    mask[2, 2, 1] = False
    return VoxelMesh.from_mask(mask, h=0.5, origin=(1.0, 2.0, 3.0))


def voxel_boundary_nodes(mesh):
    """Nodes with fewer than 8 voxels around them (on the outer or cavity surface)."""
    return np.flatnonzero((mesh.node_elements() < 0).any(axis=1))


@pytest.mark.parametrize("bbar, nu, u_tol", [
    (False, 0.25, DISPLACEMENT_REL_TOL),
    (True, 0.25, DISPLACEMENT_REL_TOL),
    # lam/mu = 5000 at nu = 0.4999: round-off grows with the condition number
    (True, 0.4999, 1e3 * DISPLACEMENT_REL_TOL),
], ids=["plain", "bbar", "bbar-nu0.4999"])
def test_voxel_patch_direct(notched_block, bbar, nu, u_tol):
    mesh = notched_block
    boundary = voxel_boundary_nodes(mesh)
    free = np.setdiff1d(np.arange(mesh.n_nodes), boundary)
    assert free.size > 10
    sol = solve_patch(mesh, 1e6, nu, boundary, bbar=bbar)
    assert_patch_passed(sol, 1e6, nu, free, u_tol=u_tol, s_tol=STRESS_REL_TOL * u_tol
                        / DISPLACEMENT_REL_TOL)


@pytest.mark.parametrize("solver", ["matrix-free", "amg"])
@pytest.mark.parametrize("bbar", [False, True], ids=["plain", "bbar"])
def test_voxel_patch_iterative(notched_block, bbar, solver):
    """Iterative solvers at rtol 1e-12: the error is set by the residual, not by
    round-off, so the tolerance is 1e-9 relative (displacements and stresses)."""
    mesh = notched_block
    boundary = voxel_boundary_nodes(mesh)
    free = np.setdiff1d(np.arange(mesh.n_nodes), boundary)
    sol = solve_patch(mesh, 1e6, 0.25, boundary, bbar=bbar, solver=solver, rtol=1e-12)
    assert sol.info.converged
    assert_patch_passed(sol, 1e6, 0.25, free, u_tol=1e-9, s_tol=1e-9)


# ------------------------------------------------------------------ B-bar recovery
def test_bbar_recovered_strain_energy_equals_u_K_u(patch):
    """On distorted hexes with B-bar, the strain energy from the recovered Gauss-point
    strains and stresses must equal u^T K u / 2 (the strains the stiffness used), to
    round-off (1e-12 relative).  A non-linear field is needed (a linear one has the
    same volumetric strain at every point): a quadratic field on the corners."""
    from biomech.kernels.elements import HEX8_GAUSS, hex8_dshape, physical_gradients
    mesh = patch.mesh
    p = mesh.points
    corners = corner_nodes(mesh)
    prob = StaticProblem(mesh, 1e6, 0.3, bbar=True)
    u_corner = 1e-3 * np.c_[p[:, 0] ** 2, p[:, 1] * p[:, 2], p[:, 0] * p[:, 2]][corners]
    prob.fix(corners, "xyz", value=u_corner)
    sol = prob.solve("direct")
    energy_K = 0.5 * sol.u_flat @ (prob.stiffness @ sol.u_flat)
    dN, G = np.empty((8, 3)), np.empty((8, 3))
    det = np.empty((mesh.n_elements, 8))
    for e, cell in enumerate(mesh.cells):
        for q, g in enumerate(HEX8_GAUSS):
            hex8_dshape(g[0], g[1], g[2], dN)
            det[e, q] = physical_gradients(dN, p[cell], G)     # Gauss weights are 1
    energy_recovered = (sol.strain_energy_density(at="gauss") * det).sum()
    assert energy_recovered == pytest.approx(energy_K, rel=1e-12)
