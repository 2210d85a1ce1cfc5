"""Kernel warm-up: compile (or load from the Numba cache) every kernel before a batch
fans out (``biomech warmup``)."""
from __future__ import annotations

import warnings

import numpy as np

def kernel_dispatchers() -> dict:
    """{"module.function": numba dispatcher} of every compiled kernel in biomech.kernels."""
    import importlib
    import pkgutil
    from numba.core.dispatcher import Dispatcher
    from .. import kernels
    out = {}
    for info in pkgutil.iter_modules(kernels.__path__):
        if info.name.startswith("__"):
            continue
        mod = importlib.import_module(f"{kernels.__name__}.{info.name}")
        for name, obj in vars(mod).items():
            if isinstance(obj, Dispatcher) and getattr(obj, "__module__", None) == mod.__name__:
                out[f"{info.name}.{name}"] = obj
    # kernels made per block width (a compile-time constant), see kernels/multigrid.py
    from ..kernels import multigrid
    out.update({f"multigrid.{k}": d for k, d in multigrid.block_dispatchers().items()})
    return out


def warmup_kernels() -> dict:
    """Compile (or load from the Numba cache) every kernel by running the code paths
    that call them on tiny inputs: a vertebra between caps at 4 mm voxels with a
    vertebroplasty and a kyphoplasty, solved with AMG, direct and matrix-free solvers;
    tiny tet4 and tet10 meshes.  Returns {"module.function": number of compiled
    signatures} of every kernel (0: no path reached it -- extend this function)."""
    from ..conditions import BoneDensity, OsteoporoticFracture, apply_conditions
    from ..analysis import SegmentAnalysis
    from ..loads import standard_load_case
    from ..fem.mesh import Mesh
    from ..meshes.vertebra import build_vertebra
    from ..fem.problem import StaticProblem
    from ..treatments import kyphoplasty, vertebroplasty
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = apply_conditions(build_vertebra("L2", 4.0), BoneDensity(70.0))
        vp = vertebroplasty(model, "L2", volume_ml=1.0)
        fractured = apply_conditions(model, OsteoporoticFracture("L2", 2, "wedge"))
        kp = kyphoplasty(fractured, "L2", balloon_volume_ml=1.0, height_restoration=0.5)
        for solver in ("gmg", "amg", "direct", "matrix-free"):
            SegmentAnalysis(vp.model if solver != "direct" else kp.model, solver=solver,
                            rtol=1e-4).run([standard_load_case("compression")])
        pts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], float)
        tets = np.array([[0, 1, 2, 3], [1, 2, 3, 4]])
        for _kind, m in (("tet4", Mesh(pts, tets, "tet4")), ("tet10", _tet10_mesh())):
            m.validate()
            p = StaticProblem(m, 1000.0, 0.3)
            base = m.nodes_where(lambda x, y, z: z < 1e-9)
            top = m.nodes_where(lambda x, y, z: z > 1 - 1e-9)
            p.fix(base, "xyz")
            p.add_force(top, (0.0, 0.0, -1.0))
            sol = p.solve("direct")
            sol.strain()
        _element_kernels_on_tiny_inputs()
        _gmg_on_tiny_inputs()
        from ..kernels.multigrid import warm_block_kernels
        warm_block_kernels()
    return {name: len(d.signatures) for name, d in kernel_dispatchers().items()}


def _gmg_on_tiny_inputs() -> None:
    """The geometric multigrid's kernels (biomech.kernels.gmg) on a small block with
    three levels (the warm-up vertebra may be too small for more than one)."""
    from ..fem import gmg
    from ..fem.mesh import VoxelMesh
    from ..fem.problem import StaticProblem
    m = VoxelMesh.from_mask(np.ones((4, 4, 8), bool), h=1.0)
    p = StaticProblem(m, 1000.0, 0.3)
    mask = np.ones(m.n_dofs, bool)
    mask[:3] = False
    h = gmg.VoxelHierarchy(gmg.Grid(m.voxel_ijk, m.cells, m.node_ijk), p.lam, p.mu,
                           *p.assembler.reference_matrices, mask, coarse_max=30)
    h @ np.ones(m.n_dofs)
    # the coloured products (the voxel operator's and large levels'), and the parallel
    # gather forms (kept as their reference)
    from .. import kernels as K
    op = p.matrix_free_operator()
    x, y = np.ones(m.n_dofs), np.empty(m.n_dofs)
    K.voxel_matvec_coloured(x, m.cells, op.colour_ptr, op.order, op.lam, op.mu, op.K_lambda,
                            op.K_mu, y)
    K.voxel_matvec_gather(x, op.node_elems, m.cells, op.lam, op.mu, op.K_lambda, op.K_mu, y)
    layers = gmg.fine_schedule(m.voxel_ijk, min_layers=2)     # the layered schedule
    gmg.voxel_product(x, m.cells, layers, op.lam, op.mu, op.K_lambda, op.K_mu, y)
    gmg.voxel_product(x.astype(gmg.VCYCLE_DTYPE), m.cells, layers,
                      *(a.astype(gmg.VCYCLE_DTYPE) for a in (op.lam, op.mu, op.K_lambda, op.K_mu)),
                      y.astype(gmg.VCYCLE_DTYPE))
    # a coarse level's storage: packed, COARSE_DTYPE (large levels: the coloured form)
    Ke = gmg.pack_elements(op.lam[:, None, None] * op.K_lambda).astype(gmg.COARSE_DTYPE)
    K.element_matvec_gather(x, op.node_elems, m.cells, Ke, y)
    K.element_matvec_coloured(x, m.cells, op.colour_ptr, op.order, Ke, y)
    # the V-cycle's own precision (gmg.VCYCLE_DTYPE) on the large levels' coloured forms
    dt = gmg.VCYCLE_DTYPE
    x, y = x.astype(dt), y.astype(dt)
    K.voxel_matvec_coloured(x, m.cells, op.colour_ptr, op.order, op.lam.astype(dt),
                            op.mu.astype(dt), op.K_lambda.astype(dt), op.K_mu.astype(dt), y)
    K.element_matvec_coloured(x, m.cells, op.colour_ptr, op.order, Ke, y)
    # the first coarse level's coefficient form (its parallel products, any model of
    # over SERIAL_MAX_NODES coarse nodes), in the V-cycle's precision
    grid = gmg.Grid(m.voxel_ijk, m.cells, m.node_ijk)
    coarse, cptr, cel, cpos, _ = grid.coarsen()
    refs = np.zeros((8, 24, 24))
    W = gmg.child_weights()
    form = gmg._coefficient_form(cptr, cel, cpos, op.lam, op.mu, m.cells, mask.astype(float),
                                 refs, refs, op.K_lambda, op.K_mu, W, dt)
    xc = np.ones(3 * coarse.n_nodes, dt)
    K.galerkin_matvec_coloured(xc, coarse.conn, *gmg.parity_colours(coarse.ijk), *form,
                               np.empty_like(xc))
    # a packed parallel level's product on a coarse grid's own (writable) connectivity:
    # the fine mesh's cells are read-only, another Numba signature
    K.element_matvec_coloured(xc, coarse.conn, *gmg.parity_colours(coarse.ijk),
                              np.zeros((coarse.ijk.shape[0], Ke.shape[1]), gmg.COARSE_DTYPE),
                              np.empty_like(xc))
    # a small parallel level's unpacked product (levels below the first), same precision
    K.element_matvec_dense_coloured(xc, coarse.conn, *gmg.parity_colours(coarse.ijk),
                                    np.zeros((coarse.ijk.shape[0], 24, 24), dt),
                                    np.empty_like(xc))
    K.coefficient_diagonal(gmg._node_elements(coarse.conn, coarse.n_nodes), *form[:3], refs,
                           refs, np.empty(3 * coarse.n_nodes))
    K.coefficient_elements(*form[:3], refs, refs, np.empty((coarse.ijk.shape[0], Ke.shape[1])))
    coarser, cptr2, cel2, cpos2, _ = coarse.coarsen()
    K.galerkin_coefficient_elements(cptr2, cel2, cpos2, *form[:3], refs, refs, W,
                                    np.empty((coarser.ijk.shape[0], Ke.shape[1]),
                                             gmg.COARSE_DTYPE))

def _element_kernels_on_tiny_inputs() -> None:
    """The public element kernels called directly (users and tests call them so)."""
    from .. import kernels as K
    from ..kernels import elements as E
    hex_x = ((E.HEX8_SIGNS + 1) / 2).astype(np.float64)
    tet_x = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
    t10 = _tet10_mesh().points
    for bbar in (True, False):
        K.hex8_stiffness(hex_x, 1.0, 1.0, bbar, np.zeros((24, 24)))
        E.element_stiffness(K.KIND_HEX8, hex_x, 1.0, 1.0, bbar, np.zeros((24, 24)))
    K.tet4_stiffness(tet_x, 1.0, 1.0, np.zeros((12, 12)))
    K.tet10_stiffness(t10, 1.0, 1.0, np.zeros((30, 30)))
    dN = np.zeros((8, 3))
    E.hex8_dshape(0.0, 0.0, 0.0, dN)
    G = np.zeros((8, 3))
    E.physical_gradients(dN, hex_x, G)
    E.point_stiffness_add(G, 1.0, 1.0, np.zeros((24, 24)))
    E.tet10_dshape(0.25, 0.25, 0.25, np.zeros((10, 3)))


def _tet10_mesh():
    """One quadratic tetrahedron (CalculiX C3D10 order) with straight edges."""
    from ..fem.mesh import Mesh
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
    edges = [(0, 1), (1, 2), (2, 0), (0, 3), (1, 3), (2, 3)]
    pts = np.vstack([v] + [0.5 * (v[a] + v[b])[None] for a, b in edges])
    return Mesh(pts, np.arange(10)[None, :], "tet10")
