"""Every compiled kernel equals its slow NumPy twin (tests/twins.py).

Tolerances: kernel and twin evaluate the same finite sums in a different order
(B^T D B against the gradient form), so they agree to a few ulps of the largest
entries: 1e-12 relative (Frobenius) leaves a margin of ~1e3 above observed
round-off (~1e-15) while any wrong term (a missing shear entry, a wrong Gauss
point, a wrong node order) changes K by O(1e-2) or more.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import biomech
from biomech import kernels as K
from biomech.fem.assembly import StiffnessAssembler
from tests import twins

REL = 1e-12   # kernel vs twin, round-off only (see module docstring)


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


# ------------------------------------------------------------------ element matrices
@pytest.mark.parametrize("bbar", [False, True])
def test_hex8_element_equals_twin_on_distorted_hexes(rng, bbar):
    for _ in range(5):
        xe = twins.random_hex(rng, h=rng.uniform(0.2, 3.0), distortion=0.2)
        lam, mu = rng.uniform(10, 1000), rng.uniform(10, 1000)
        Ke = np.empty((24, 24))
        detmin = K.hex8_stiffness(xe, lam, mu, bbar, Ke)
        assert detmin > 0
        assert twins.relative_difference(Ke, twins.hex8_stiffness_twin(xe, lam, mu, bbar)) < REL


def test_bbar_differs_from_plain_hex8(rng):
    """Guards the test above: the two variants are genuinely different matrices
    on a distorted hex (difference >> 1e-12), so comparing each with its twin
    would catch a swapped flag."""
    xe = twins.random_hex(rng, distortion=0.2)
    plain = twins.hex8_stiffness_twin(xe, 500.0, 100.0, False)
    bbar = twins.hex8_stiffness_twin(xe, 500.0, 100.0, True)
    assert twins.relative_difference(bbar, plain) > 1e-3


def test_tet4_element_equals_twin(rng):
    for _ in range(5):
        xe = twins.random_tet4(rng, h=rng.uniform(0.2, 3.0))
        lam, mu = rng.uniform(10, 1000), rng.uniform(10, 1000)
        Ke = np.empty((12, 12))
        six_vol = K.tet4_stiffness(xe, lam, mu, Ke)
        # 6 V from the kernel vs the triple product; pure round-off -> 1e-12
        assert six_vol == pytest.approx(np.linalg.det(xe[1:] - xe[0]), rel=1e-12)
        assert twins.relative_difference(Ke, twins.tet4_stiffness_twin(xe, lam, mu)) < REL


def test_tet10_element_with_curved_edges_equals_twin(rng):
    for _ in range(5):
        xe = twins.tet10_from_corners(twins.random_tet4(rng, h=rng.uniform(0.5, 3.0)),
                                      rng, curvature=0.08)
        lam, mu = rng.uniform(10, 1000), rng.uniform(10, 1000)
        Ke = np.empty((30, 30))
        assert K.tet10_stiffness(xe, lam, mu, Ke) > 0
        assert twins.relative_difference(Ke, twins.tet10_stiffness_twin(xe, lam, mu)) < REL


def test_straight_tet10_reproduces_tet4_for_linear_fields(rng):
    """Independent of both codes: on a straight-edged tet10 a linear displacement
    field (nodal values u = A x) has the same energy as on the tet4 of its corners
    (the strain is constant and the rule integrates it exactly); round-off 1e-12."""
    corners = twins.random_tet4(rng)
    xe10 = twins.tet10_from_corners(corners)
    A = rng.normal(size=(3, 3))
    u10 = (xe10 @ A.T).ravel()
    u4 = (corners @ A.T).ravel()
    K10 = np.empty((30, 30))
    K4 = np.empty((12, 12))
    K.tet10_stiffness(xe10, 300.0, 80.0, K10)
    K.tet4_stiffness(corners, 300.0, 80.0, K4)
    assert u10 @ K10 @ u10 == pytest.approx(u4 @ K4 @ u4, rel=1e-12)


@pytest.mark.parametrize("bbar", [False, True])
@pytest.mark.parametrize("h", [0.25, 1.0, 1.7])
def test_voxel_reference_matrices_equal_twin_cube(h, bbar):
    K_lambda, K_mu = K.voxel_reference_matrices(h, bbar)
    cube = (twins.HEX8_NODES_NATURAL + 1) / 2 * h
    twin_lambda = twins.hex8_stiffness_twin(cube, 1.0, 0.0, bbar)
    twin_mu = twins.hex8_stiffness_twin(cube, 0.0, 1.0, bbar)
    assert twins.relative_difference(K_lambda, twin_lambda) < REL
    assert twins.relative_difference(K_mu, twin_mu) < REL
    for lam, mu in [(577.0, 385.0), (4999.0, 3.3)]:    # nu = 0.3 and nu ~ 0.4997
        assert twins.relative_difference(lam * K_lambda + mu * K_mu,
                                         twins.hex8_stiffness_twin(cube, lam, mu, bbar)) < REL


def test_voxel_reference_matrices_reject_bad_size():
    with pytest.raises(ValueError, match="h must be > 0"):
        K.voxel_reference_matrices(0.0, False)


# ------------------------------------------------------------------ assembled meshes
def _meshes(rng):
    """Small meshes of every kind, perturbed; (name, Mesh, bbar)."""
    pts, cells = twins.grid_hex_mesh((2, 2, 3), h=0.8, rng=rng, perturb=0.15)
    hexm = biomech.Mesh(pts, cells, "hex8")
    pts4, cells4 = twins.grid_tet4_mesh((2, 2, 2), h=1.0, rng=rng, perturb=0.12)
    tet4 = biomech.Mesh(pts4, cells4, "tet4")
    pts10, cells10 = twins.tet10_mesh_from_tet4(pts4, cells4, rng, curvature=0.05)
    tet10 = biomech.Mesh(pts10, cells10, "tet10")
    mask = np.ones((3, 3, 3), bool)
    mask[1, 1, 1] = False                     # a hole
    mask[2, 2, 0] = False
    vox = biomech.VoxelMesh.from_mask(mask, h=0.6, origin=(1.0, -2.0, 0.5))
    return [("hex8", hexm, False), ("hex8-bbar", hexm, True), ("tet4", tet4, False),
            ("tet10", tet10, False), ("voxel", vox, False), ("voxel-bbar", vox, True)]


def _random_materials(rng, n):
    E = rng.uniform(50.0, 20000.0, n)
    nu = rng.uniform(0.0, 0.45, n)
    return E, nu


@pytest.fixture(scope="module")
def assembled():
    """(name, mesh, bbar, lam, mu, K from biomech, K from the twin) per mesh kind
    (module scope: the Python-loop twin assembly is the slow part)."""
    rng = np.random.default_rng(7)
    out = []
    for name, mesh, bbar in _meshes(rng):
        E, nu = _random_materials(rng, mesh.n_elements)
        Kb = StiffnessAssembler(mesh, bbar=bbar).assemble(E, nu)
        lam, mu = twins.lame_from_young(E, nu)
        Kt = twins.assemble_twin(mesh.points, mesh.cells, mesh.kind, lam, mu, bbar)
        out.append((name, mesh, bbar, lam, mu, Kb, Kt))
    return out


def test_assembled_stiffness_equals_twin(assembled):
    for name, mesh, _bbar, _lam, _mu, Kb, Kt in assembled:
        assert Kb.shape == (mesh.n_dofs, mesh.n_dofs), name
        assert twins.relative_difference(Kb, Kt) < REL, name


def test_assembled_stiffness_is_symmetric(assembled):
    """K = K^T exactly up to summation round-off (1e-13 relative)."""
    for name, _mesh, _bbar, _lam, _mu, Kb, _Kt in assembled:
        assert sp.linalg.norm(Kb - Kb.T) <= 1e-13 * sp.linalg.norm(Kb), name


def test_rigid_body_modes_in_null_space(assembled):
    """||K r|| / (||K|| ||r||) < 1e-10 for the 6 rigid modes: exact in exact
    arithmetic; 1e-10 allows the condition-free round-off (~1e-15) times the
    ~1e3 element-size ratio of coordinates far from the origin."""
    for name, mesh, _bbar, _lam, _mu, Kb, _Kt in assembled:
        R = twins.rigid_modes_twin(mesh.points)
        normK = sp.linalg.norm(Kb)
        for k in range(6):
            r = R[:, k]
            assert np.linalg.norm(Kb @ r) / (normK * np.linalg.norm(r)) < 1e-10, (name, k)


def test_small_mesh_index_dtype_is_int32(assembled):
    for name, _mesh, _bbar, _lam, _mu, Kb, _Kt in assembled:
        assert Kb.indices.dtype == np.int32 and Kb.indptr.dtype == np.int32, name
        assert Kb.has_sorted_indices


def test_reassembly_with_new_materials_reuses_pattern(rng):
    """assemble() twice with different materials: the pattern object is kept and the
    values follow the new materials (twin, 1e-12)."""
    name, mesh, bbar = _meshes(rng)[2]
    asm = StiffnessAssembler(mesh)
    asm.assemble(*_random_materials(rng, mesh.n_elements))
    pattern = asm.pattern
    E, nu = _random_materials(rng, mesh.n_elements)
    Kb = asm.assemble(E, nu)
    assert asm.pattern is pattern
    lam, mu = twins.lame_from_young(E, nu)
    assert twins.relative_difference(
        Kb, twins.assemble_twin(mesh.points, mesh.cells, mesh.kind, lam, mu)) < REL


# ------------------------------------------------------------------ matvec and strains
def test_voxel_matvec_equals_element_by_element_twin(rng):
    """The coloured matrix-free product on the B-bar voxel mesh equals the twin."""
    name, vox, bbar = _meshes(rng)[5]
    E, nu = _random_materials(rng, vox.n_elements)
    lam, mu = twins.lame_from_young(E, nu)
    K_lambda, K_mu = K.voxel_reference_matrices(vox.h, bbar)
    parity = (vox.voxel_ijk % 2) @ np.array([4, 2, 1])
    order = np.argsort(parity, kind="stable").astype(np.int64)
    ptr = np.concatenate([[0], np.cumsum(np.bincount(parity, minlength=8))]).astype(np.int64)
    x = rng.normal(size=vox.n_dofs)
    y = np.empty_like(x)
    K.voxel_matvec_coloured(x, vox.cells, ptr, order, lam, mu, K_lambda, K_mu, y)
    y_twin = twins.matvec_twin(vox.points, vox.cells, "hex8", lam, mu, x, bbar)
    assert twins.relative_difference(y, y_twin) < REL


@pytest.mark.parametrize("index", [0, 2, 3, 4])
def test_centroid_strains_equal_twin(rng, index):
    name, mesh, bbar = _meshes(rng)[index]
    u = rng.normal(size=mesh.n_dofs) * 1e-3
    out = np.empty((mesh.n_elements, 1, 6))
    K.element_strains(mesh.kind_code, mesh.points, mesh.cells, u, False, out, np.empty(out.shape[:2]))
    ref = twins.centroid_strains_twin(mesh.points, mesh.cells, mesh.kind, u)
    assert twins.relative_difference(out[:, 0], ref) < REL, name


@pytest.mark.parametrize("index", [0, 2, 3])
def test_gauss_point_strains_equal_twin(rng, index):
    """Gauss-point order: hex8 points at g * (node natural coordinates), tet10 the
    4-point rule in kernel order (see twins.gauss_strains_twin)."""
    name, mesh, bbar = _meshes(rng)[index]
    u = rng.normal(size=mesh.n_dofs) * 1e-3
    n_pts = {"hex8": 8, "tet4": 1, "tet10": 4}[mesh.kind]
    out = np.empty((mesh.n_elements, n_pts, 6))
    K.element_strains(mesh.kind_code, mesh.points, mesh.cells, u, True, out, np.empty(out.shape[:2]))
    ref = twins.gauss_strains_twin(mesh.points, mesh.cells, mesh.kind, u)
    assert twins.relative_difference(out, ref) < REL, name


@pytest.mark.parametrize("at_gauss", [False, True])
def test_voxel_strains_equal_twin(rng, at_gauss):
    """The voxel kernel (tabulated gradients of equal cubes) against the twin on a
    voxel mesh of h = 0.7 mm off the origin, at the centroid and the 8 Gauss points."""
    mask = rng.random((5, 4, 6)) < 0.7
    mesh = biomech.VoxelMesh.from_mask(mask, h=0.7, origin=(1.0, -2.0, 3.5))
    u = rng.normal(size=mesh.n_dofs) * 1e-3
    out = np.empty((mesh.n_elements, 8 if at_gauss else 1, 6))
    K.voxel_strains(mesh.cells, u, 0.7, at_gauss, out)
    if at_gauss:
        ref = twins.gauss_strains_twin(mesh.points, mesh.cells, mesh.kind, u)
    else:
        ref = twins.centroid_strains_twin(mesh.points, mesh.cells, mesh.kind, u)[:, None]
    assert twins.relative_difference(out, ref) < REL


def _solved_column(mesh, bbar):
    prob = biomech.StaticProblem(mesh, 1000.0, 0.3, bbar=bbar)
    z = mesh.points[:, 2]
    prob.fix(mesh.nodes_where(lambda x, y, z: z == z.min()), "xyz")
    prob.add_force(mesh.nodes_where(lambda x, y, zz: zz >= z.max() - 1e-9), (10.0, 0.0, -100.0))
    return prob.solve("direct")


@pytest.mark.parametrize("kind", ["hex8", "voxel"])
def test_bbar_gauss_strains_are_the_bbar_strains(kind):
    """Solution.strain('gauss') with B-bar must be B-bar u, the strain whose
    energy the B-bar stiffness measures: volumetric part = det-J-weighted volume
    average.  On voxels (constant det J) any average agrees; on a distorted hex
    (20 % node perturbation) an unweighted mean differs by ~4e-3.  Tolerance:
    1e-10 relative (shared u, round-off only)."""
    rng = np.random.default_rng(1)
    if kind == "hex8":
        pts, cells = twins.grid_hex_mesh((2, 2, 3), h=1.0, rng=rng, perturb=0.2)
        mesh = biomech.Mesh(pts, cells, "hex8")
    else:
        mesh = biomech.VoxelMesh.from_mask(np.ones((2, 2, 3), bool), h=1.0)
    sol = _solved_column(mesh, bbar=True)
    ref = twins.gauss_strains_twin(mesh.points, mesh.cells, "hex8", sol.u, bbar=True)
    assert twins.relative_difference(sol.strain("gauss"), ref) < 1e-10


def test_strains_of_a_linear_field_are_exact(rng):
    """Independent of the twin: u = A x gives eps = sym(A) in every element at
    every Gauss point of every kind (1e-11 relative: round-off of the
    coordinates times the gradients)."""
    A = rng.normal(size=(3, 3)) * 1e-3
    S = 0.5 * (A + A.T)
    expect = np.array([S[0, 0], S[1, 1], S[2, 2], S[0, 1], S[1, 2], S[0, 2]])
    meshes = _meshes(rng)
    for name, mesh, _bbar in [meshes[i] for i in (0, 2, 3, 4)]:
        u = (mesh.points @ A.T).ravel()
        n_pts = {"hex8": 8, "tet4": 1, "tet10": 4}[mesh.kind]
        out = np.empty((mesh.n_elements, n_pts, 6))
        K.element_strains(mesh.kind_code, mesh.points, mesh.cells, u, True, out, np.empty(out.shape[:2]))
        assert np.abs(out - expect).max() < 1e-11 * np.abs(expect).max(), name


# ------------------------------------------------------------------ Jacobian checks
def test_element_min_jacobian_flags_inverted_elements(rng):
    meshes = _meshes(rng)
    for name, mesh, _bbar in [meshes[i] for i in (0, 2, 3, 4)]:
        out = np.empty(mesh.n_elements)
        K.element_min_jacobian(mesh.kind_code, mesh.points, mesh.cells, out)
        assert (out > 0).all(), name
        # invert element 0: mirror the hex, swap two tet corners
        cells = mesh.cells.copy()
        if mesh.kind == "hex8":
            cells[0] = mesh.cells[0, [4, 5, 6, 7, 0, 1, 2, 3]]     # mirror in zeta
        else:
            cells[0, [1, 2]] = mesh.cells[0, [2, 1]]
            if mesh.kind == "tet10":
                # mid-edge nodes follow the swapped corners (edges 0-1, 1-2, 2-0, 0-3, 1-3, 2-3)
                cells[0, 4:] = mesh.cells[0, [6, 5, 4, 7, 9, 8]]
        out = np.empty(mesh.n_elements)
        K.element_min_jacobian(mesh.kind_code, mesh.points, cells, out)
        assert out[0] < 0, name
        assert (out[1:] > 0).all(), name


def test_assembler_raises_for_inverted_element(rng):
    name, mesh, bbar = _meshes(rng)[2]
    cells = mesh.cells.copy()
    cells[3, [1, 2]] = cells[3, [2, 1]]
    bad = biomech.Mesh(mesh.points, cells, "tet4")
    with pytest.raises(biomech.InvertedElementError) as exc:
        StiffnessAssembler(bad).assemble(100.0, 0.3)
    assert list(exc.value.elements) == [3]


def test_hex8_min_jacobian_checks_corners():
    """A hex with one corner pulled to its centre keeps det J > 0 at the 2x2x2
    Gauss points but is inverted at that corner; the corner check must flag it."""
    xe = (twins.HEX8_NODES_NATURAL + 1) / 2
    xe[6] = [0.5, 0.5, 0.5]                   # corner (1,1,1) pulled to the centre
    dets_gauss = [twins.jacobian_gradients(twins.hex8_shape_derivatives(*p), xe)[1]
                  for p in twins.gauss_2x2x2()[0]]
    det_corner = twins.jacobian_gradients(twins.hex8_shape_derivatives(1, 1, 1), xe)[1]
    out = np.empty(1)
    K.element_min_jacobian(K.KIND_HEX8, xe, np.arange(8)[None, :], out)
    assert out[0] == pytest.approx(min(min(dets_gauss), det_corner), rel=1e-12)
    assert min(dets_gauss) > 0 > det_corner   # the case the corner check exists for
    assert out[0] < 0


def test_decouple_rows_and_columns_equals_numpy_twin(rng):
    """Prescribed unknowns lose every coupling but keep their diagonal (exact)."""
    import scipy.sparse as sp
    A = sp.random(40, 40, density=0.3, random_state=1, format="csr") + sp.eye(40) * 5.0
    A = (A + A.T).tocsr()
    A.sort_indices()
    dec = rng.random(40) < 0.3
    twin = A.toarray()
    diag = np.diag(twin).copy()
    twin[dec, :] = 0.0
    twin[:, dec] = 0.0
    twin[dec, dec] = diag[dec]
    B = A.copy()
    K.decouple_rows_and_columns(B.indptr, B.indices, B.data, dec)
    assert np.array_equal(B.toarray(), twin)


def test_coloured_voxel_matvec_equals_element_by_element_twin(rng):
    """The coloured (element-by-element, race-free) matrix-free product equals the
    NumPy element-by-element twin, random materials, holes in the grid: 1e-13."""
    mask = rng.random((6, 5, 4)) > 0.25
    vox = biomech.VoxelMesh.from_mask(mask, 0.8)
    lam = rng.uniform(10, 100, vox.n_elements)
    mu = rng.uniform(5, 50, vox.n_elements)
    K_lambda, K_mu = K.voxel_reference_matrices(0.8, False)
    parity = (vox.voxel_ijk % 2) @ np.array([4, 2, 1])
    order = np.argsort(parity, kind="stable").astype(np.int64)
    ptr = np.concatenate([[0], np.cumsum(np.bincount(parity, minlength=8))]).astype(np.int64)
    x = rng.normal(size=vox.n_dofs)
    y = np.empty_like(x)
    K.voxel_matvec_coloured(x, vox.cells, ptr, order, lam, mu, K_lambda, K_mu, y)
    ref = twins.matvec_twin(vox.points, vox.cells, "hex8", lam, mu, x)
    assert np.abs(y - ref).max() <= 1e-13 * np.abs(ref).max()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_node_components_equal_scipy_connected_components(seed):
    """The union-find parts of a mesh's node graph (kernels.node_components, used by the
    rigid-mode check) equal scipy.sparse.csgraph.connected_components, numbering
    included: random hex cells over disjoint node ranges, ties joining some ranges, and
    nodes in no cell (parts of their own)."""
    from scipy.sparse import csgraph
    rng = np.random.default_rng(seed)
    n = 400
    blocks = np.array_split(rng.permutation(n - 20), 5)      # 20 nodes left in no cell
    cells = np.concatenate([rng.choice(b, size=(30, 8)) for b in blocks])
    tie_a = np.array([blocks[0][0], blocks[3][1]], dtype=np.int64)
    tie_b = np.array([blocks[2][5], blocks[4][0]], dtype=np.int64)
    label = np.empty(n, np.int64)
    K.node_components(np.ascontiguousarray(cells, dtype=np.int64), tie_a, tie_b, label)
    r = np.concatenate([np.repeat(cells[:, 0], 7), tie_a])
    c = np.concatenate([cells[:, 1:].ravel(), tie_b])
    graph = sp.coo_matrix((np.ones(r.size), (r, c)), shape=(n, n))
    n_ref, ref = csgraph.connected_components(graph, directed=False)
    assert label.max() + 1 == n_ref
    assert np.array_equal(label, ref)


def test_strains_of_a_voxel_mesh_with_moved_points_use_its_points(rng):
    """StaticProblem.strain_of takes the voxel kernel only where the points are the
    grid's: a VoxelMesh whose points were moved gets the general kernel's strains."""
    import dataclasses
    mesh = biomech.VoxelMesh.from_mask(np.ones((3, 2, 2), bool), h=1.0)
    moved = dataclasses.replace(mesh, points=mesh.points * np.array([1.0, 1.0, 1.5]))
    u = rng.normal(size=mesh.n_dofs) * 1e-3
    for m in (mesh, moved):
        got = biomech.StaticProblem(m, 1000.0, 0.3, bbar=False).strain_of(u, "gauss")
        ref = twins.gauss_strains_twin(m.points, m.cells, m.kind, u)
        assert twins.relative_difference(got, ref) < REL
