"""biomech's assembled stiffness equals scikit-fem's on the same mesh.

scikit-fem (Gustafsson & McBain, "scikit-fem: A Python package for finite
element assembly", JOSS 5(52):2369, 2020) is an independent implementation:
its own shape functions, mappings, quadrature and DOF numbering.  Agreement to
1e-10 relative (Frobenius) means both assemble the same bilinear form with the
same quadrature; the observed difference is round-off (~1e-15).  A wrong Gauss
rule, node order or shear term gives differences of 1e-3 or more.

DOF maps: scikit-fem numbers vector DOFs through ``basis.nodal_dofs`` (3, n_vertices)
and ``basis.edge_dofs`` (3, n_edges); biomech interleaves ``3*node + component``.
Hex node order: scikit-fem's local hex order is not VTK's, so our cells are
rebuilt from the geometry of the unperturbed grid.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

skfem = pytest.importorskip("skfem")
from skfem import Basis, ElementHex1, ElementTetP1, ElementTetP2, ElementVector, asm  # noqa: E402
from skfem.models.elasticity import lame_parameters, linear_elasticity  # noqa: E402

import biomech  # noqa: E402
from biomech.fem.assembly import StiffnessAssembler  # noqa: E402
from tests import twins  # noqa: E402

REL = 1e-10   # independent codes, same quadrature: round-off only (module docstring)


@pytest.fixture
def rng():
    return np.random.default_rng(11)


def _random_materials(rng, n):
    """Per-element E [MPa] (cancellous to cortical range) and nu [-]."""
    return rng.uniform(50.0, 20000.0, n), rng.uniform(0.05, 0.45, n)


def _skfem_stiffness(basis, lam, mu):
    """scikit-fem's K with per-element constant Lamé parameters [MPa].

    linear_elasticity(Lambda, Mu) multiplies arrays of shape (n_elements, n_qp),
    so per-element values are passed as such arrays (the element order of the
    basis is the column order of mesh.t)."""
    n_qp = basis.X.shape[1]
    lam_q = np.repeat(np.asarray(lam, float)[:, None], n_qp, axis=1)
    mu_q = np.repeat(np.asarray(mu, float)[:, None], n_qp, axis=1)
    return asm(linear_elasticity(lam_q, mu_q), basis).tocsr()


def _to_our_dofs(K_sk, dof_of_node):
    """Permute scikit-fem's K to biomech's interleaved order.

    dof_of_node : (n_nodes, 3) scikit-fem DOF of (our node, component)."""
    perm = np.asarray(dof_of_node).ravel()
    assert np.array_equal(np.sort(perm), np.arange(K_sk.shape[0])), "DOF map is not a permutation"
    return K_sk[perm][:, perm]


def _vtk_order_from_geometry(points, t):
    """Our (n_el, 8) VTK-ordered cells from skfem's hex connectivity t (8, n_el),
    using the signs of node - centroid on an undistorted grid."""
    cells = np.empty((t.shape[1], 8), dtype=np.int64)
    for e in range(t.shape[1]):
        nodes = t[:, e]
        signs = np.sign(points[nodes] - points[nodes].mean(axis=0))
        for a, target in enumerate(twins.HEX8_NODES_NATURAL):
            (match,) = np.flatnonzero((signs == target).all(axis=1))
            cells[e, a] = nodes[match]
    return cells


def _perturb_interior(points, rng, amount, lo=0.0, hi=1.0):
    p = points.copy()
    interior = np.all((p > lo + 1e-9) & (p < hi - 1e-9), axis=1)
    p[interior] += rng.uniform(-amount, amount, (interior.sum(), 3))
    return p


def _grid(n):
    x = np.linspace(0.0, 1.0, n + 1)
    return x, x, x


# ------------------------------------------------------------------ hex8
def test_hex_rule_has_eight_points():
    """intorder=3 is the 2x2x2 Gauss rule in scikit-fem (2 and 3 both give 8
    points; 4 gives 27): the rule biomech uses."""
    m = skfem.MeshHex.init_tensor(*_grid(1))
    assert Basis(m, ElementVector(ElementHex1()), intorder=3).X.shape[1] == 8
    assert Basis(m, ElementVector(ElementHex1()), intorder=4).X.shape[1] == 27


def test_hex8_stiffness_equals_skfem(rng):
    m0 = skfem.MeshHex.init_tensor(*_grid(3))
    cells = _vtk_order_from_geometry(m0.p.T, m0.t)
    points = _perturb_interior(m0.p.T, rng, 0.08)
    m = dataclasses.replace(m0, doflocs=points.T.copy())
    basis = Basis(m, ElementVector(ElementHex1()), intorder=3)
    E, nu = _random_materials(rng, m.t.shape[1])
    lam, mu = twins.lame_from_young(E, nu)

    K_ours = StiffnessAssembler(biomech.Mesh(points, cells, "hex8")).assemble(E, nu)
    K_ref = _to_our_dofs(_skfem_stiffness(basis, lam, mu), basis.nodal_dofs.T)
    assert twins.relative_difference(K_ours, K_ref) < REL


def test_hex8_uniform_material_with_skfem_lame_parameters(rng):
    """The scalar path of scikit-fem's own lame_parameters/linear_elasticity."""
    m0 = skfem.MeshHex.init_tensor(*_grid(2))
    cells = _vtk_order_from_geometry(m0.p.T, m0.t)
    points = _perturb_interior(m0.p.T, rng, 0.1)
    m = dataclasses.replace(m0, doflocs=points.T.copy())
    basis = Basis(m, ElementVector(ElementHex1()), intorder=3)
    K_ref = _to_our_dofs(asm(linear_elasticity(*lame_parameters(1200.0, 0.3)), basis).tocsr(),
                         basis.nodal_dofs.T)
    K_ours = StiffnessAssembler(biomech.Mesh(points, cells, "hex8")).assemble(1200.0, 0.3)
    assert twins.relative_difference(K_ours, K_ref) < REL


def test_voxel_cube_equals_skfem_hex(rng):
    """A VoxelMesh (shared reference matrices, fill_voxel path) against a
    scikit-fem hex mesh on the same points; nodes and elements matched by position."""
    h, n, origin = 0.7, 3, np.array([2.0, -1.0, 5.0])
    vox = biomech.VoxelMesh.from_mask(np.ones((n, n, n), bool), h=h, origin=tuple(origin))
    axis = [origin[k] + h * np.arange(n + 1) for k in range(3)]
    m = skfem.MeshHex.init_tensor(*axis)
    basis = Basis(m, ElementVector(ElementHex1()), intorder=3)

    key = lambda x: tuple(np.rint((x - origin) / h * 2).astype(int))  # noqa: E731
    sk_node = {key(x): i for i, x in enumerate(m.p.T)}
    node_map = np.array([sk_node[key(x)] for x in vox.points])            # ours -> skfem
    sk_elem = {key(x): e for e, x in enumerate(m.p[:, m.t].mean(axis=1).T)}
    elem_map = np.array([sk_elem[key(x)] for x in vox.points[vox.cells].mean(axis=1)])

    E, nu = _random_materials(rng, vox.n_elements)
    lam, mu = twins.lame_from_young(E, nu)
    lam_sk, mu_sk = np.empty_like(lam), np.empty_like(mu)
    lam_sk[elem_map], mu_sk[elem_map] = lam, mu

    K_ours = StiffnessAssembler(vox).assemble(E, nu)
    K_ref = _to_our_dofs(_skfem_stiffness(basis, lam_sk, mu_sk), basis.nodal_dofs.T[node_map])
    assert twins.relative_difference(K_ours, K_ref) < REL


# ------------------------------------------------------------------ tets
def _perturbed_tet_mesh(rng, n=3, amount=0.06):
    m0 = skfem.MeshTet.init_tensor(*_grid(n))
    return dataclasses.replace(m0, doflocs=_perturb_interior(m0.p.T, rng, amount).T.copy())


def test_tet4_stiffness_equals_skfem(rng):
    m = _perturbed_tet_mesh(rng)
    basis = Basis(m, ElementVector(ElementTetP1()))
    E, nu = _random_materials(rng, m.t.shape[1])
    lam, mu = twins.lame_from_young(E, nu)
    points = m.p.T
    cells = twins.orient_tets(points, m.t.T)          # biomech wants det J > 0
    K_ours = StiffnessAssembler(biomech.Mesh(points, cells, "tet4")).assemble(E, nu)
    K_ref = _to_our_dofs(_skfem_stiffness(basis, lam, mu), basis.nodal_dofs.T)
    assert twins.relative_difference(K_ours, K_ref) < REL


def test_tet10_curved_stiffness_equals_skfem(rng):
    """Quadratic tets with curved edges: scikit-fem MeshTet2 (isoparametric
    mapping through its edge doflocs) with ElementTetP2, intorder=2 (4 points)."""
    mt = _perturbed_tet_mesh(rng, n=2)
    m2 = skfem.MeshTet2.from_mesh(mt)
    nv = m2.nvertices
    doflocs = m2.doflocs.copy()
    # edge nodes are the edge midpoints in scikit-fem's edge order ...
    mid = 0.5 * (doflocs[:, m2.edges[0]] + doflocs[:, m2.edges[1]])
    assert np.allclose(doflocs[:, nv:], mid, atol=1e-14)
    # ... then curved: moved off the chord by up to 4% of the mesh size
    doflocs[:, nv:] += rng.uniform(-0.02, 0.02, doflocs[:, nv:].shape)
    m2 = dataclasses.replace(m2, doflocs=doflocs)
    basis = Basis(m2, ElementVector(ElementTetP2()), intorder=2)
    assert basis.X.shape[1] == 4

    points = doflocs.T                                   # node nv + k = edge k
    edge_of = {tuple(sorted(pair)): k for k, pair in enumerate(m2.edges.T.tolist())}
    corners = twins.orient_tets(points, m2.t.T)
    cells = np.array([list(c) + [nv + edge_of[tuple(sorted((c[i], c[j])))]
                                 for i, j in twins.TET10_EDGES] for c in corners.tolist()])
    E, nu = _random_materials(rng, m2.t.shape[1])
    lam, mu = twins.lame_from_young(E, nu)
    K_ours = StiffnessAssembler(biomech.Mesh(points, cells, "tet10")).assemble(E, nu)
    dof_of_node = np.vstack([basis.nodal_dofs.T, basis.edge_dofs.T])
    K_ref = _to_our_dofs(_skfem_stiffness(basis, lam, mu), dof_of_node)
    assert twins.relative_difference(K_ours, K_ref) < REL
    # and the curvature matters (guards against a reference that ignored it)
    straight = dataclasses.replace(m2, doflocs=np.hstack([doflocs[:, :nv], mid]))
    K_straight = _to_our_dofs(
        _skfem_stiffness(Basis(straight, ElementVector(ElementTetP2()), intorder=2), lam, mu),
        dof_of_node)
    assert twins.relative_difference(K_straight, K_ref) > 1e-3
