"""The matrix-free voxel operator equals the assembled stiffness.

Both use the same reference matrices, so y = K x differs only in summation
order: 1e-13 relative (||y_mf - y_csr|| / ||y_csr||) is ~100x the observed
round-off and far below any real error (a missing element or a wrong
local node gives O(1e-2)).
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg as spla

import biomech
from tests import twins

REL = 1e-13


def _holey_voxel_mesh():
    """5 x 4 x 4 voxels with a through-hole, a cavity and a missing corner
    (nodes with 1, 2, ..., 8 surrounding voxels)."""
    mask = np.ones((5, 4, 4), bool)
    mask[2, :, 1:3] = False          # a slot through y
    mask[1, 1, 1] = False            # an inner cavity voxel
    mask[4, 3, 3] = False            # a missing corner
    mask[0, 0, 0] = False
    return biomech.VoxelMesh.from_mask(mask, h=0.5, origin=(10.0, 0.0, -3.0))


@pytest.fixture(params=[False, True], ids=["plain", "bbar"])
def problem(request):
    rng = np.random.default_rng(3)
    mesh = _holey_voxel_mesh()
    E = rng.uniform(50.0, 15000.0, mesh.n_elements)
    nu = rng.uniform(0.1, 0.45, mesh.n_elements)
    return biomech.StaticProblem(mesh, E, nu, bbar=request.param)


def test_product_equals_assembled_csr(problem):
    op = problem.matrix_free_operator()
    K = problem.stiffness
    assert op.shape == K.shape and op.dtype == np.float64
    rng = np.random.default_rng(4)
    for _ in range(3):
        x = rng.normal(size=K.shape[0])
        y_csr = K @ x
        assert twins.relative_difference(op @ x, y_csr) < REL
        assert twins.relative_difference(op.rmatvec(x), y_csr) < REL     # K symmetric
    X = rng.normal(size=(K.shape[0], 3))
    assert twins.relative_difference(op @ X, K @ X) < REL                # matmat


def test_single_precision_product_equals_the_assembled_csr(problem):
    """The coloured product in float32 (the mixed-precision V-cycle's fine level) equals
    K x to float32 rounding: relative 1e-6 (measured ~1e-7)."""
    from biomech import kernels as K
    op = problem.matrix_free_operator()
    f = np.float32
    x = np.random.default_rng(6).normal(size=op.shape[0])
    y = np.empty(op.shape[0], dtype=f)
    K.voxel_matvec_coloured(x.astype(f), problem.mesh.cells, op.colour_ptr, op.order,
                            op.lam.astype(f), op.mu.astype(f), op.K_lambda.astype(f),
                            op.K_mu.astype(f), y)
    assert twins.relative_difference(y.astype(float), problem.stiffness @ x) < 1e-6


def test_diagonal_equals_assembled_diagonal(problem):
    d = problem.matrix_free_operator().diagonal()
    assert twins.relative_difference(d, problem.stiffness.diagonal()) < REL
    assert (d > 0).all()


def test_operator_follows_new_materials(problem):
    """set_materials drops the cached operator: the new product matches the new K."""
    op_old = problem.matrix_free_operator()
    n = problem.mesh.n_elements
    problem.set_materials(np.linspace(100.0, 9000.0, n), 0.3)
    op_new = problem.matrix_free_operator()
    assert op_new is not op_old
    x = np.random.default_rng(5).normal(size=op_new.shape[0])
    assert twins.relative_difference(op_new @ x, problem.stiffness @ x) < REL
    assert twins.relative_difference(op_old @ x, problem.stiffness @ x) > 1e-3


def test_usable_in_scipy_cg(problem):
    """Restricted to the free DOFs of a clamped base, the operator solves with
    scipy's cg (Jacobi from its diagonal) to the same answer as a sparse direct
    solve of the assembled system.  cg rtol 1e-12; the solution error is bounded
    by cond(K_ff) * 1e-12 (cond ~1e5 here) -> 1e-6 asserted."""
    mesh = problem.mesh
    op = problem.matrix_free_operator()
    fixed_nodes = mesh.nodes_where(lambda x, y, z: z == z.min())
    is_free = np.ones(mesh.n_dofs, bool)
    is_free[(3 * fixed_nodes[:, None] + np.arange(3)).ravel()] = False
    free = np.flatnonzero(is_free)

    def restricted(z):
        x = np.zeros(mesh.n_dofs)
        x[free] = np.ravel(z)
        return (op @ x)[free]

    A = spla.LinearOperator((free.size, free.size), matvec=restricted, dtype=float)
    inv_diag = 1.0 / op.diagonal()[free]
    M = spla.LinearOperator(A.shape, matvec=lambda r: inv_diag * np.ravel(r), dtype=float)
    b = np.zeros(mesh.n_dofs)
    top = mesh.nodes_where(lambda x, y, z: z == z.max())
    b[3 * top + 2] = -1.0                               # 1 N down per top node
    b[3 * top + 0] = 0.3
    z, status = spla.cg(A, b[free], rtol=1e-12, atol=0.0, M=M, maxiter=5000)
    assert status == 0
    K_ff = problem.stiffness[free][:, free].tocsc()
    z_direct = spla.spsolve(K_ff, b[free])
    assert twins.relative_difference(z, z_direct) < 1e-6

    # the unrestricted operator also works directly on a consistent system
    x0 = np.random.default_rng(6).normal(size=mesh.n_dofs)
    rhs = op @ x0
    x, status = spla.cg(op, rhs, rtol=1e-10, atol=0.0, maxiter=20000)
    assert status == 0
    assert np.linalg.norm(problem.stiffness @ x - rhs) <= 1e-9 * np.linalg.norm(rhs)


def test_matrix_free_needs_a_voxel_mesh():
    pts, cells = twins.grid_hex_mesh((1, 1, 1))
    prob = biomech.StaticProblem(biomech.Mesh(pts, cells, "hex8"), 100.0, 0.3)
    with pytest.raises(biomech.InputError, match="VoxelMesh"):
        prob.matrix_free_operator()


@pytest.mark.parametrize("k, dtype", [(1, np.float64), (3, np.float64), (2, np.float32)])
def test_gather_and_scatter_of_own_unknowns_equal_fancy_indexing(k, dtype):
    """gather_own / scatter_own (the reduced voxel operator's and the GMG
    preconditioner's copies between unknowns and DOFs) equal NumPy's fancy indexing,
    exactly, with skipped (prescribed) unknowns set to 0 and a float32 target."""
    from biomech import kernels as K
    rng = np.random.default_rng(5)
    n_dofs, n_free = 50, 44
    rows = np.sort(rng.choice(n_dofs, 40, replace=False)).astype(np.int32)
    cols = rng.permutation(n_free)[:40].astype(np.int32)
    skip = rng.random(n_free) < 0.2
    z = rng.standard_normal((n_free, k))
    x = np.full((n_dofs, k), 7.0, dtype=dtype)
    K.gather_own(z, rows, cols, skip, x)
    ref = np.full((n_dofs, k), 7.0, dtype=dtype)
    ref[rows] = np.where(skip[cols, None], 0.0, z[cols])
    assert np.array_equal(x, ref)
    y = np.full((n_free, k), -1.0)
    K.scatter_own(x, rows, cols, y)
    ref_y = np.full((n_free, k), -1.0)
    ref_y[cols] = x[rows]
    assert np.array_equal(y, ref_y)


@pytest.mark.parametrize("dtype, tol", [(np.float64, REL), (np.float32, 1e-6)])
@pytest.mark.parametrize("shape", [(13, 5, 4), (9, 11, 5), (8, 4, 12)])
def test_layered_product_equals_the_assembled_csr(shape, dtype, tol):
    """The product scheduled by grid layers (kernels.voxel_matvec_layers: whole layers
    of the first axis by parity) equals K x (float64: 1e-13; float32: 1e-6), voids and
    odd extents included, also for elements not in grid order; with fewer layers than
    asked the schedule stays the 8 colours."""
    from biomech.fem.gmg import fine_schedule, voxel_product
    rng = np.random.default_rng(9)
    mask = rng.random(shape) > 0.25
    mesh = biomech.VoxelMesh.from_mask(mask, h=1.0)
    prob = biomech.StaticProblem(mesh, rng.uniform(50.0, 15000.0, mesh.n_elements), 0.3)
    op = prob.matrix_free_operator()
    x = rng.normal(size=mesh.n_dofs)
    # the mesh's own (grid) order, and a shuffled element list (the sorting path)
    shuffle = rng.permutation(mesh.n_elements)
    for ijk, cells, perm in ((mesh.voxel_ijk, mesh.cells, np.arange(mesh.n_elements)),
                             (mesh.voxel_ijk[shuffle], mesh.cells[shuffle], shuffle)):
        schedule = fine_schedule(ijk, min_layers=8)
        kind, layer_ptr, order = schedule
        assert kind == "layers" and layer_ptr.size - 1 == shape[0]
        assert np.array_equal(np.sort(order), np.arange(mesh.n_elements))
        y = np.empty(mesh.n_dofs, dtype=dtype)
        voxel_product(x.astype(dtype), cells, schedule, op.lam[perm].astype(dtype),
                      op.mu[perm].astype(dtype), op.K_lambda.astype(dtype),
                      op.K_mu.astype(dtype), y)
        assert twins.relative_difference(y.astype(float), prob.stiffness @ x) < tol
    assert fine_schedule(mesh.voxel_ijk, min_layers=shape[0] + 1)[0] == "colours"
