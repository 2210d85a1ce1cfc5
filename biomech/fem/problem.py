"""A static linear-elastic problem on a mesh: materials, boundary conditions,
loads, solve, and the solution with its derived fields.

>>> mesh = VoxelMesh.from_mask(np.ones((4, 4, 8), bool), h=1.0)
>>> prob = StaticProblem(mesh, E=100.0, nu=0.3)
>>> prob.fix(mesh.nodes_where(lambda x, y, z: z == 0), "xyz")
>>> prob.add_rigid_plate("top", mesh.nodes_where(lambda x, y, z: z == 8), force=(0, 0, -50))
>>> sol = prob.solve()
>>> sol.plates["top"].displacement[2]    # mm
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from biomech import kernels as K
from .assembly import StiffnessAssembler
from . import couplings as CP
from .constraints import (PLATE_DOFS, RigidPlate, build_reduction, parse_components,
                          plate_rigid_modes, rigid_body_modes)
from ..errors import BoundaryConditionError, InputError
from ..materials.lame import LOCKING_NU
from ..threads import rebalance
from .mesh import Mesh, VoxelMesh
from .recovery import principal_values, strain_energy_density, stress_from_strain, von_mises
from .solvers import DIRECT_MAX_UNKNOWNS, GMGCGSolver, SolveInfo, make_solver

log = logging.getLogger(__name__)

SOLVER_CHOICES = ("auto", "gmg", "amg", "direct", "jacobi", "matrix-free")
#: Relative tolerance of the linear solves while the active set of tension-only and
#: contact springs still changes (the last solve uses the problem's own tolerance).
ACTIVE_SET_RTOL = 1e-3
#: ... except the first solves of each active-set iteration, which are looser in turn:
#: the first starts from the previous load case's set (or the initial one) and thousands
#: of annulus fibres switch after it whatever its accuracy, the second still moves
#: hundreds, so they only have to find the set roughly.  L1-L3 case with a
#: vertebroplasty, against 1e-3 throughout: 2 mm 493 -> 370 CG iterations, 1 mm
#: 630 -> 450 and 96 -> 73 s.  Rotations, disc pressures and stiffnesses agree with the
#: 1e-3 path to ~1e-5 relative; the largest change, 0.4 %, is of a 0.003 deg coupled
#: rotation (the set converges to within the dead band of fibres that carry almost
#: nothing).  Tried: (0.3, 1e-2) 378, (0.1, 2e-2) 367 iterations; looser solves tied to the
#: fraction of springs that switched: 556-676; a wider dead band: cycling (774-2139).
ACTIVE_SET_FIRST_RTOLS = (1e-1, 1e-2)
#: Tolerance of the rigid-plate columns of the condensation when the problem has
#: switching springs: every solve is then one CG on the whole system that the
#: condensation only preconditions (CondensedSolver.set_operator), so its columns need
#: not be tight.  L1-L3 case: see the README's GMG section.
PRECONDITIONER_COLUMNS_RTOL = 1e-3


@dataclass
class PlateResult:
    """Rigid-plate motion and the load it transmits to the body.

    displacement [mm], rotation [rad] of the reference point; force [N] and
    moment [N mm, about the reference point] exerted by the plate on the body.
    """

    displacement: np.ndarray
    rotation: np.ndarray
    force: np.ndarray
    moment: np.ndarray


class StaticProblem:
    """Small-strain linear elasticity on ``mesh`` with per-element E [MPa], nu [-].

    bbar : B-bar (selective reduced integration) for hex8/voxel elements; default
           on when any nu exceeds 0.49 (nearly incompressible tissue).
    Loads and prescribed values may change between solves without redoing the
    factorisation or AMG set-up; changing which DOFs are constrained does.
    """

    def __init__(self, mesh: Mesh, E, nu, *, bbar: bool | None = None):
        if not isinstance(mesh, Mesh):
            raise InputError(f"mesh must be a biomech Mesh or VoxelMesh, got {type(mesh).__name__}")
        mesh.validate()
        nu_arr = np.asarray(nu, float)
        if bbar is None:
            bbar = bool(mesh.kind == "hex8" and np.any(nu_arr > LOCKING_NU))
        elif not bbar and np.any(nu_arr > LOCKING_NU):
            log.warning("nu up to %.4f with plain hex8/tet elements: expect volumetric locking; "
                        "use bbar=True", float(nu_arr.max()))
        self.mesh = mesh
        self.assembler = StiffnessAssembler(mesh, bbar=bbar)
        self.lam, self.mu = self.assembler.lame(E, nu)
        self._dirichlet: dict[int, float] = {}
        self._plates: dict[str, RigidPlate] = {}
        self._f = np.zeros(mesh.n_dofs)
        self._springs: list = []
        self._K = None
        self._voxel_operator = None
        self._system = None
        self._on_grid = None            # _voxels_on_grid, checked at the first strains

    # ------------------------------------------------------------------ materials
    def set_materials(self, E, nu) -> None:
        """New E [MPa], nu [-]; the sparsity pattern is kept, the system redone."""
        self.lam, self.mu = self.assembler.lame(E, nu)
        self._K = None
        self._voxel_operator = None
        self._invalidate(structure=True)

    @property
    def stiffness(self) -> sp.csr_matrix:
        """Assembled global K [N/mm] (built on first use)."""
        if self._K is None:
            self._K = self.assembler.assemble_lame(self.lam, self.mu)
        return self._K

    # ------------------------------------------------------------------ constraints
    def fix(self, nodes, components="xyz", value=0.0) -> None:
        """Prescribe displacement components [mm] of a node set (name or indices).

        value : scalar, (n_components,) or (n_nodes, n_components).
        """
        ids = self.mesh.node_set(nodes)
        if ids.size == 0:
            raise BoundaryConditionError(f"fix(): node set {nodes!r} is empty")
        comps = parse_components(components)
        val = np.broadcast_to(np.asarray(value, float), (ids.size, len(comps)))
        for p in self._plates.values():
            both = np.intersect1d(p.nodes, ids)
            if both.size:
                raise BoundaryConditionError(
                    f"fix(): node {int(both[0])} ({both.size} nodes in all) is tied to rigid plate "
                    f"{p.name!r}; a node can be prescribed or tied, not both")
        n_before = len(self._dirichlet)
        for k, c in enumerate(comps):
            for n, v in zip((3 * ids + c).tolist(), val[:, k].tolist()):
                self._dirichlet[n] = v
        self._invalidate(structure=len(self._dirichlet) != n_before)

    def _invalidate(self, structure: bool) -> None:
        """structure: which DOFs are unknown changed (redo solver set-up); else
        only values changed (rebuild u = T z + g, keep the set-up)."""
        if structure:
            self._system = None
        elif self._system is not None:
            self._system["reduction"] = None

    def add_rigid_plate(self, name: str, nodes, reference_point=None, *, force=(0, 0, 0),
                        moment=(0, 0, 0), prescribed: dict | None = None) -> None:
        """Tie a node set to a rigid plate with reference point [mm] (default: the
        nodes' centroid).  force [N], moment [N mm] load the free plate DOFs;
        prescribed maps 'ux','uy','uz' [mm] / 'rx','ry','rz' [rad] to values."""
        if name in self._plates:
            raise BoundaryConditionError(f"a rigid plate named {name!r} exists already")
        ids = self.mesh.node_set(nodes)
        ref = self.mesh.points[ids].mean(axis=0) if reference_point is None else reference_point
        self._plates[name] = RigidPlate(name, ids, ref, np.asarray(force, float),
                                        np.asarray(moment, float), dict(prescribed or {}))
        self._invalidate(structure=True)

    def set_plate_load(self, name: str, *, force=None, moment=None, prescribed=None) -> None:
        """Change a plate's load or prescribed values; keeps the set-up when the set
        of prescribed plate DOFs is unchanged (a new load case on the same model)."""
        p = self.plate(name)
        structure = prescribed is not None and set(prescribed) != set(p.prescribed)
        new = RigidPlate(p.name, p.nodes, p.reference_point,
                         p.force if force is None else np.asarray(force, float),
                         p.moment if moment is None else np.asarray(moment, float),
                         p.prescribed if prescribed is None else dict(prescribed))
        self._plates[name] = new
        self._invalidate(structure)

    def plate(self, name: str) -> RigidPlate:
        """The rigid plate called ``name`` (nodes, reference point [mm], loads)."""
        if name not in self._plates:
            raise BoundaryConditionError(f"no rigid plate {name!r}; plates: {sorted(self._plates)}")
        return self._plates[name]

    # ------------------------------------------------------------------ loads
    def clear_loads(self) -> None:
        """Remove nodal forces and tractions (plates and constraints stay)."""
        self._f[:] = 0.0

    def add_force(self, nodes, force, *, per_node: bool = False) -> None:
        """A force [N] (3,) on a node set: the total shared equally, or each node's."""
        ids = self.mesh.node_set(nodes)
        if ids.size == 0:
            raise BoundaryConditionError(f"add_force(): node set {nodes!r} is empty")
        f = np.asarray(force, float).reshape(3)
        share = f if per_node else f / ids.size
        for c in range(3):
            np.add.at(self._f, 3 * ids + c, share[c])

    def add_nodal_forces(self, nodes, forces) -> None:
        """Forces [N] (n_nodes, 3) on the given nodes."""
        ids = np.asarray(nodes, dtype=np.int64).ravel()
        forces = np.asarray(forces, float).reshape(ids.size, 3)
        for c in range(3):
            np.add.at(self._f, 3 * ids + c, forces[:, c])

    def add_traction(self, faces, traction) -> None:
        """A uniform surface traction [MPa = N/mm^2] (3,) on faces.

        faces : (n_faces, 3) triangles, (n_faces, 6) quadratic triangles (corners,
        then mid-edge 1-2, 2-3, 3-1) or (n_faces, 4) quadrilaterals; consistent
        nodal loads by Gauss quadrature.
        """
        from .surface import consistent_face_loads
        faces = np.asarray(faces, dtype=np.int64)
        nodal = consistent_face_loads(self.mesh.points, faces, np.asarray(traction, float))
        for c in range(3):
            np.add.at(self._f, 3 * faces.ravel() + c, nodal[..., c].ravel())

    def add_pressure(self, faces, pressure) -> None:
        """A pressure [MPa] on faces, acting against each face's normal (positive
        pushes into the body when faces are ordered with outward normals,
        right-hand rule).  faces as in :meth:`add_traction`; pressure a scalar or
        (n_faces,)."""
        from .surface import pressure_face_loads
        faces = np.asarray(faces, dtype=np.int64)
        nodal = pressure_face_loads(self.mesh.points, faces, pressure)
        for c in range(3):
            np.add.at(self._f, 3 * faces.ravel() + c, nodal[..., c].ravel())

    # ------------------------------------------------------------------ springs
    def add_springs(self, springs: "CP.SpringSet") -> None:
        """Add two-node axial springs (ligaments, fibres, contact; see
        :mod:`biomech.fem.couplings`): a sparse addition to the stiffness.  Tension-only
        and contact springs make ``solve`` an active-set iteration."""
        if not isinstance(springs, CP.SpringSet):
            raise InputError(f"add_springs() takes a SpringSet, got {type(springs).__name__}")
        if any(s.name == springs.name for s in self._springs):
            raise BoundaryConditionError(f"a spring set named {springs.name!r} exists already")
        if springs.n and max(springs.node_a.max(), springs.node_b.max()) >= self.mesh.n_nodes:
            raise InputError(f"spring set {springs.name!r}: node numbers beyond the mesh's "
                             f"{self.mesh.n_nodes} nodes")
        self._springs.append(springs)
        self._invalidate(structure=True)

    @property
    def springs(self) -> list:
        return list(self._springs)

    @property
    def nonlinear(self) -> bool:
        """True when a tension-only or contact spring makes the problem nonlinear (load
        cases then cannot be superposed)."""
        return any(s.nonlinear and s.n for s in self._springs)

    def _reduced_springs(self, red, active=None):
        """T^T C T of the (active) springs with the prescribed unknowns' rows and
        columns dropped, on one pattern for every active set (kept per reduction)."""
        kept = self._system.get("springs")
        if kept is None or not kept.reduces_like(red.T, red.decoupled):
            # a new reduction (the next load case) usually has the same T: kept then
            kept = self._system["springs"] = CP.ReducedSprings(self._springs, red.T,
                                                               red.decoupled)
        return kept.matrix(active)

    # ------------------------------------------------------------------ solving
    def _reduction(self):
        if self._system is None:
            self._system = {"reduction": None, "solver": None, "key": None}
        if self._system["reduction"] is None:
            self._system["reduction"] = build_reduction(
                self.mesh.points, self.mesh.cells, self._dirichlet, list(self._plates.values()))
        return self._system["reduction"]

    def _near_nullspace(self, red):
        centre = self.mesh.points.mean(axis=0)
        B_full = rigid_body_modes(self.mesh.points, centre)
        if _is_identity(red.T):
            B_full[red.decoupled] = 0.0
            return B_full
        B = np.zeros((red.n_free, 6))
        own_rows, own_cols = _identity_part(red.T)
        B[own_cols] = B_full[own_rows]
        for name, cols in red.plate_columns.items():
            B[cols] = plate_rigid_modes(self._plates[name].reference_point, centre)
        B[red.decoupled] = 0.0
        return B

    def _choose(self, solver, n_free):
        if solver == "auto":
            if n_free <= 3000:
                return "direct"
            # voxel meshes: geometric multigrid.  benchmarks/bench_gmg.py, same runs:
            # verse004 L2 at 1 mm 2.4 s against AMG-CG's 9.4 s with 1/14 of its memory;
            # the L1-L3 segment at 2 mm (springs, contact, plates) 254 s against 257 s
            # for five load cases on the loaded machine, 0.26 GB against 0.62 GB
            return "gmg" if isinstance(self.mesh, VoxelMesh) else "amg"
        if solver == "gmg" and not isinstance(self.mesh, VoxelMesh):
            raise InputError("solver 'gmg' needs a VoxelMesh (geometric multigrid on the voxel "
                             f"grid); this mesh is {self.mesh.kind}: use 'amg'")
        return solver

    def solve(self, solver: str = "auto", *, rtol: float = 1e-8, maxiter: int | None = None,
              reuse_hierarchy: bool = False):
        """Solve; returns a :class:`Solution`.

        solver : 'auto' (direct up to 3000 unknowns, else GMG-CG on voxel meshes
                 and AMG-CG on others), 'gmg' (voxel meshes), 'amg', 'direct', 'jacobi' (assembled, Jacobi-CG) or 'matrix-free'
                 (voxel meshes: no assembled K, Jacobi-CG).
        rtol : relative residual ||b - A z|| / ||b|| for the iterative solvers.
        reuse_hierarchy : AMG only: reuse the prolongators of an earlier problem on
                 the same mesh and constraints in this process (see
                 :class:`biomech.fem.multigrid.HierarchyCache`).
        """
        if solver not in SOLVER_CHOICES:
            raise InputError(f"solver must be one of {SOLVER_CHOICES}, got {solver!r}")
        from ..environment import single_threaded_blas
        with single_threaded_blas():
            return self._solve(solver, rtol, maxiter, reuse_hierarchy)

    def _solve(self, solver, rtol, maxiter, reuse_hierarchy):
        rebalance()
        red = self._reduction()
        name = self._choose(solver, red.n_free)
        if name == "direct" and red.n_free > 4 * DIRECT_MAX_UNKNOWNS:
            log.warning("direct solve of %d unknowns: expect minutes and GBs", red.n_free)
        key = (name, rtol, maxiter, bool(reuse_hierarchy))
        if self._system.get("key") != key or self._system.get("solver") is None:
            self._setup_solver(name, red, rtol, maxiter, bool(reuse_hierarchy))
            self._system["key"] = key
        b = self._reduced_rhs(red)
        if not self.nonlinear:
            solver = self._system["solver"]
            # b is ours: GMG-CG keeps its residual there (one full vector less at peak)
            z, info = (solver.solve(b, overwrite_b=True) if isinstance(solver, GMGCGSolver)
                       else solver.solve(b))
            del b
            u = red.T @ z + red.g
            active = [np.ones(s.n) for s in self._springs]
            return Solution(self, u, info, red, z, springs=active)
        return self._solve_active_set(red, b)

    def _solve_active_set(self, red, b, max_iterations: int = 30):
        """Active-set iteration of the tension-only and contact springs: each step one
        linear solve on ``A_base + C(active)`` with the set-up kept (warm-started)."""
        solver = self._system["solver"]
        A_base = self._system["base"]
        n = self.mesh.n_dofs
        state = {"z": None, "info": None, "iterations": 0, "solves": 0}

        rtol = solver.rtol

        def solve_linear(active, final=True):
            rebalance()                    # a batch worker may take cores others freed
            C = self._reduced_springs(red, active)
            solver.set_operator(A_base, C)
            bk = b + red.T.T @ CP.gap_forces(self._springs, n, active)
            bk[red.decoupled] = 0.0
            # while the active set still moves a loose solve decides it as well: the
            # last solve (the set did not change) meets the asked tolerance
            k = state["solves"]
            loose = ACTIVE_SET_FIRST_RTOLS[k] if k < len(ACTIVE_SET_FIRST_RTOLS) else ACTIVE_SET_RTOL
            state["solves"] = k + 1
            solver.rtol = rtol if final else max(rtol, loose)
            try:
                z, info = solver.solve(bk, x0=state["z"])
            finally:
                solver.rtol = rtol
            state["z"], state["info"] = z, info
            state["iterations"] += info.iterations
            return (red.T @ z + red.g).reshape(-1, 3)

        scale = max(float(np.abs(self.mesh.points).max()), 1.0)
        u, active, it, ok = CP.active_set(solve_linear, self._springs,
                                          max_iterations=max_iterations, tol_mm=1e-9 * scale,
                                          start=self._system.get("active"), inexact=True)
        self._system["active"] = active
        info = state["info"]
        info.iterations = state["iterations"]
        info.active_set_iterations = it
        if not ok:
            log.warning("active set of the tension-only / contact springs did not settle in %d "
                        "linear solves; the last state is used", it)
        info.converged = bool(info.converged and ok)
        return Solution(self, u.ravel(), info, red, state["z"], springs=active)

    def _setup_solver(self, name, red, rtol, maxiter, reuse_hierarchy=False):
        opts = dict(rtol=rtol, maxiter=maxiter)
        keep = (~red.decoupled).astype(float)
        if name == "matrix-free":
            op = self.matrix_free_operator()
            T = red.T
            Tt = T.T.tocsr()
            full_diag = op.diagonal()
            diag = _reduced_diagonal(full_diag, T, lambda z: Tt @ (op @ (T @ z)))
            dec = red.decoupled

            def matvec(z):
                y = Tt @ (op @ (T @ (keep * z)))
                y[dec] = diag[dec] * z[dec]
                return y

            A = spla.LinearOperator((red.n_free, red.n_free), matvec=matvec, dtype=float)
            self._system.pop("active", None)
            self._system["base"] = A
            if self._springs:
                from .solvers import SumOperator
                C = self._reduced_springs(red)
                A, diag = SumOperator(A, C), diag + C.diagonal()
            self._system["solver"] = make_solver("jacobi", **opts).setup(A, diagonal=diag)
            return
        if name == "gmg":
            self._setup_gmg(red, opts)
            return
        Kf = self.stiffness
        T = red.T
        self._system.pop("active", None)
        if _is_identity(T):
            # same pattern: share the index arrays, copy the values only
            A = sp.csr_matrix((Kf.data.copy(), Kf.indices, Kf.indptr), shape=Kf.shape)
            A.has_sorted_indices = True
        else:
            A = (T.T @ Kf @ T).tocsr()
            A.sort_indices()
        K.decouple_rows_and_columns(A.indptr, A.indices, A.data, red.decoupled)
        del Kf
        self._system["base"] = A
        if self._springs:
            # the set-up (hierarchy, factorisation) is made with every spring active;
            # linear springs only: that is the operator itself
            A = (A + self._reduced_springs(red)).tocsr()
            A.sort_indices()
        if isinstance(self.mesh, VoxelMesh):
            self._K = None          # products with K go matrix-free: free its memory
        B = self._near_nullspace(red) if name == "amg" else None
        solver = make_solver(name, **opts, **({"reuse_hierarchy": reuse_hierarchy}
                                              if name == "amg" else {}))
        if name == "amg" and red.plate_columns:
            from .solvers import CondensedSolver
            plate_cols = np.concatenate(list(red.plate_columns.values()))
            solver = CondensedSolver(solver, plate_cols, **opts,
                                     columns_rtol=self._columns_rtol(rtol),
                                     preconditioner_only=self.nonlinear)
        self._system["solver"] = solver.setup(A, near_nullspace=B)

    def _setup_gmg(self, red, opts):
        """Solver 'gmg': matrix-free throughout (no assembled K): the reduced operator
        applies K element by element, the V-cycle's coarse levels are built from the
        voxels (:mod:`biomech.fem.gmg`); rigid plates condensed as for AMG."""
        from .gmg import check_memory
        from .gmg_operator import ReducedVoxelOperator
        from .solvers import CondensedSolver, SumOperator
        # refuse before allocating: the estimate counts the coarse voxels only
        from .gmg_volumetric import VOLUMETRIC_RATIO
        check_memory(self.mesh.voxel_ijk, self.mesh.n_nodes, 6 * len(red.plate_columns),
                     # volumetric smoothing needs B-bar (rank-one volumetric part)
                     nearly_incompressible=int(np.count_nonzero(self.lam > VOLUMETRIC_RATIO
                                                                * self.mu))
                     if self.assembler.bbar else 0,
                     recycled=self.nonlinear and bool(red.plate_columns),
                     unpacked=self.nonlinear)
        op = self.matrix_free_operator()
        self._system.pop("active", None)
        A = base = ReducedVoxelOperator(op, red.T, red.decoupled)
        self._system["base"] = base
        C_all = None
        if self._springs:
            C_all = self._reduced_springs(red)
            A = SumOperator(A, C_all)
        solver = make_solver("gmg", **opts, voxel=op, T=red.T, decoupled=red.decoupled,
                             coupling=C_all, own=(base.rows, base.cols),
                             many_solves=self.nonlinear)
        if red.plate_columns:
            plate_cols = np.concatenate(list(red.plate_columns.values()))
            solver = CondensedSolver(solver, plate_cols, **opts,
                                     columns_rtol=self._columns_rtol(opts["rtol"]),
                                     preconditioner_only=self.nonlinear)
        self._system["solver"] = solver.setup(A)

    def _columns_rtol(self, rtol: float) -> float:
        """Tolerance of the condensation's plate columns (see PRECONDITIONER_COLUMNS_RTOL)."""
        return max(rtol, PRECONDITIONER_COLUMNS_RTOL) if self.nonlinear else rtol

    def _reduced_rhs(self, red):
        f = self._f
        if np.any(red.g):
            f = f - self._full_operator() @ red.g
        b = red.add_plate_loads(red.T.T @ f)
        b[red.decoupled] = 0.0
        return b

    def matrix_free_operator(self) -> "VoxelOperator":
        """The matrix-free K of a voxel mesh (cached until materials change)."""
        if not isinstance(self.mesh, VoxelMesh):
            raise InputError("a matrix-free operator needs a VoxelMesh")
        if self._voxel_operator is None:
            self._voxel_operator = VoxelOperator(self.mesh, self.lam, self.mu,
                                                 self.assembler.reference_matrices)
        return self._voxel_operator

    def _full_operator(self):
        """K for products K u (lifting, reactions): the matrix-free operator on voxel
        meshes (exact, and the assembled K need not be kept), else the CSR matrix."""
        if isinstance(self.mesh, VoxelMesh):
            return self.matrix_free_operator()
        return self.stiffness

    def strain_of(self, u_flat, at: str = "centroid") -> np.ndarray:
        """Strain (n_el, n_pts, 6) [-] of any displacement u_flat (3*n_nodes,) [mm]
        (e.g. a superposition of solutions); at='centroid' or 'gauss'.  With
        B-bar the volumetric part is the element's det-J-weighted mean, as in the
        stiffness."""
        if at not in ("centroid", "gauss"):
            raise InputError(f"at must be 'centroid' or 'gauss', got {at!r}")
        m = self.mesh
        u_flat = np.ascontiguousarray(u_flat, dtype=np.float64)

        def at_points(where):
            n_pts = 1 if where == "centroid" else {"hex8": 8, "tet4": 1, "tet10": 4}[m.kind]
            out = np.empty((m.n_elements, n_pts, 6))
            if self._voxels_on_grid():
                # equal cubes (as the matrix-free operator assumes): tabulated gradients
                K.voxel_strains(m.cells, u_flat, float(m.h), where == "gauss", out)
                return out, np.full((m.n_elements, n_pts), (0.5 * float(m.h)) ** 3)
            detj = np.empty((m.n_elements, n_pts))
            K.element_strains(m.kind_code, m.points, m.cells, u_flat, where == "gauss", out, detj)
            return out, detj

        out, detj = at_points(at)
        if self.assembler.bbar and m.kind == "hex8":
            gauss, detj = (out, detj) if at == "gauss" else at_points("gauss")
            vol = gauss[..., :3].sum(-1)
            vol_bar = (vol * detj).sum(1) / detj.sum(1)
            own = out[..., :3].sum(-1)
            out[..., :3] += ((vol_bar[:, None] - own) / 3.0)[..., None]
        return out

    def _voxels_on_grid(self) -> bool:
        """A VoxelMesh whose points are its grid's (origin + node_ijk h): every voxel a
        cube of edge h in hex8 order.  Checked once; a mesh with moved points takes the
        general element kernels."""
        if self._on_grid is None:
            m = self.mesh
            self._on_grid = bool(
                isinstance(m, VoxelMesh) and m.node_ijk is not None and np.allclose(
                    m.points, np.asarray(m.origin, float) + m.node_ijk * float(m.h),
                    rtol=0.0, atol=1e-9 * max(float(m.h), float(np.abs(m.points).max()))))
        return self._on_grid

    @property
    def external_forces(self) -> np.ndarray:
        """(n_nodes, 3) nodal forces [N] from add_force / add_traction."""
        return self._f.reshape(-1, 3).copy()


def _identity_part(T):
    """Rows and columns of T's unit entries that map a DOF to its own unknown."""
    coo = T.tocoo()
    counts = np.bincount(coo.row, minlength=T.shape[0])
    ones = (coo.data == 1.0) & (counts[coo.row] == 1)
    return coo.row[ones], coo.col[ones]


def _is_identity(T) -> bool:
    return T.shape[0] == T.shape[1] and T.nnz == T.shape[0] and np.all(T.data == 1.0) \
        and np.array_equal(T.indices, np.arange(T.shape[0]))


def _reduced_diagonal(full_diag, T, apply):
    """diag(T^T K T): exact for identity columns, probed (apply(e_c)) for plate columns."""
    rows, cols = _identity_part(T)
    d = np.zeros(T.shape[1])
    d[cols] = full_diag[rows]
    rest = np.setdiff1d(np.arange(T.shape[1]), cols)
    for c in rest:
        e = np.zeros(T.shape[1])
        e[c] = 1.0
        d[c] = apply(e)[c]
    return d


class VoxelOperator(spla.LinearOperator):
    """Matrix-free y = K x for a voxel mesh (a SciPy LinearOperator, N/mm)."""

    def __init__(self, mesh: VoxelMesh, lam, mu, reference_matrices):
        self.mesh = mesh
        self.lam = np.ascontiguousarray(lam, float)
        self.mu = np.ascontiguousarray(mu, float)
        self.K_lambda, self.K_mu = reference_matrices
        from .gmg import fine_schedule
        self.schedule = fine_schedule(mesh.voxel_ijk)
        super().__init__(dtype=np.float64, shape=(mesh.n_dofs, mesh.n_dofs))

    @property
    def colour_ptr(self) -> np.ndarray:
        """The 8 parity colours (kernels.voxel_matvec_coloured), made on demand."""
        return self._colours()[0]

    @property
    def order(self) -> np.ndarray:
        return self._colours()[1]

    def _colours(self):
        from .gmg import parity_colours
        if self.schedule[0] == "colours":
            return self.schedule[1:]
        return parity_colours(self.mesh.voxel_ijk)

    def _matvec(self, x):
        x = np.ascontiguousarray(np.ravel(x), dtype=np.float64)
        y = np.empty_like(x)
        # element form by layers or colours: 2x the node-gather form (kernels/matfree.py)
        from .gmg import voxel_product
        voxel_product(x, self.mesh.cells, self.schedule, self.lam, self.mu, self.K_lambda,
                      self.K_mu, y)
        return y

    def _matmat(self, X):
        """K X for a block X (n_dofs, k), column by column."""
        return np.stack([self._matvec(X[:, j]) for j in range(X.shape[1])], axis=1)

    def _rmatvec(self, x):
        return self._matvec(x)

    @property
    def node_elems(self) -> np.ndarray:
        """(n_nodes, 8) node-element table, built on demand and not kept (21 bytes per
        DOF; the coloured product does not need it)."""
        return self.mesh.node_elements()

    def diagonal(self):
        d = np.empty(self.shape[0])
        K.voxel_diagonal(self.node_elems, self.lam, self.mu, self.K_lambda, self.K_mu, d)
        return d


class Solution:
    """Displacements and derived fields of a solved :class:`StaticProblem`.

    u : (n_nodes, 3) displacement [mm]; info : :class:`~biomech.fem.solvers.SolveInfo`;
    plates : {name: PlateResult}.
    """

    def __init__(self, problem: StaticProblem, u_flat, info: SolveInfo, reduction, z,
                 springs=None):
        self.problem = problem
        #: active mask (n,) of each spring set of the problem, in its order
        self.spring_active = list(springs or [])
        self.mesh = problem.mesh
        self.u_flat = u_flat
        self.u = u_flat.reshape(-1, 3)
        self.info = info
        self._internal = None
        self.plates = {}
        for name, p in problem._plates.items():
            cols = reduction.plate_columns[name]
            vals = np.array([p.prescribed.get(PLATE_DOFS[k], z[cols[k]]) for k in range(6)],
                            dtype=float)
            fint = self.internal_forces[p.nodes]
            d = self.mesh.points[p.nodes] - p.reference_point
            self.plates[name] = PlateResult(vals[:3], vals[3:], fint.sum(axis=0),
                                            np.cross(d, fint).sum(axis=0))

    @property
    def internal_forces(self) -> np.ndarray:
        """(n_nodes, 3) K u [N]."""
        if self._internal is None:
            f = self.problem._full_operator() @ self.u_flat
            if self.problem._springs:
                n = self.mesh.n_dofs
                f = f + CP.spring_matrix(self.problem._springs, n, self.spring_active) @ self.u_flat
                f = f - CP.gap_forces(self.problem._springs, n, self.spring_active)
            self._internal = f.reshape(-1, 3)
        return self._internal

    def spring_forces(self, name: str) -> np.ndarray:
        """(n,) axial force [N] of each spring of set ``name``, positive in tension."""
        for s, act in zip(self.problem._springs, self.spring_active):
            if s.name == name:
                return CP.spring_force(s, self.u, act)
        raise InputError(f"no spring set {name!r}; sets: {[s.name for s in self.problem._springs]}")

    def reaction(self, nodes) -> np.ndarray:
        """Total reaction force [N] (3,) on a node set: sum of K u - f_external."""
        ids = self.mesh.node_set(nodes)
        r = self.internal_forces[ids] - self.problem.external_forces[ids]
        return r.sum(axis=0)

    # ------------------------------------------------------------------ fields
    def strain(self, at: str = "centroid") -> np.ndarray:
        """Small strain (n_el, n_pts, 6) [-], tensor Voigt [xx,yy,zz,xy,yz,xz];
        at='centroid' (n_pts=1) or 'gauss'."""
        return self.problem.strain_of(self.u_flat, at)

    def stress(self, at: str = "centroid") -> np.ndarray:
        """Cauchy stress (n_el, n_pts, 6) [MPa], same layout as strain."""
        return stress_from_strain(self.strain(at), self.problem.lam, self.problem.mu)

    def von_mises(self, at: str = "centroid") -> np.ndarray:
        """Von Mises stress (n_el, n_pts) [MPa]."""
        return von_mises(self.stress(at))

    def principal_strains(self, at: str = "centroid") -> np.ndarray:
        """Principal strains (n_el, n_pts, 3), ascending: [..., 0] is the minimum."""
        return principal_values(self.strain(at))

    def strain_energy_density(self, at: str = "centroid") -> np.ndarray:
        """Strain energy density (n_el, n_pts) [MPa = mJ/mm^3]."""
        eps = self.strain(at)
        return strain_energy_density(eps, stress_from_strain(eps, self.problem.lam, self.problem.mu))

    def cell_fields(self) -> dict:
        """Centroid fields for VTU/VTI export; names carry units."""
        eps = self.strain()[:, 0]
        sig = stress_from_strain(eps[:, None], self.problem.lam, self.problem.mu)[:, 0]
        E = self.problem.mu * (3 * self.problem.lam + 2 * self.problem.mu) / (self.problem.lam + self.problem.mu)
        return {
            "E_MPa": E,
            "von_mises_MPa": von_mises(sig),
            "min_principal_strain": principal_values(eps)[:, 0],
            "strain_energy_density_MPa": strain_energy_density(eps, sig),
            "stress_zz_MPa": sig[:, 2],
        }

    def to_meshio(self):
        """A meshio.Mesh with displacement_mm (points) and the cell fields."""
        return self.mesh.to_meshio(self.cell_fields(), {"displacement_mm": self.u})
