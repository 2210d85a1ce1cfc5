"""Mechanics of a labelled voxel model: mesh, materials, supports, load cases,
solve, fields and metrics.

    analysis = SegmentAnalysis(model)                  # assemble + solver set-up once
    results = analysis.run(DEFAULT_LOAD_CASES)         # one LoadCaseResult per case
    results[0].metrics["segment_stiffness_N_per_mm"]

Supports: the inferior surface of the lowest vertebral body (or of the inferior
PMMA cap) is fixed; the superior surface of the top vertebral body (or of the
superior cap) is tied to a rigid plate whose reference point (the centroid of
the tied nodes) carries the load.  A surface is the top (bottom) face of the
highest (lowest) body voxel of every voxel column.
Load cases are superposed from unit solves (linear problem).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from biomech.meshes.labels import Label
from biomech.meshes.landmarks import vertebral_body_mask
from biomech.meshes.voxel_model import VoxelModel

from .errors import InputError, MeshError
from .loads import DEFAULT_LOAD_CASES, LoadCase
from .materials import element_properties
from .fem.mesh import VoxelMesh
from .metrics import level_metrics, vertebrae_cranial_first
from .posture import resolve_posture
from .segment_metrics import motion_segment_metrics
from .fem.regions import column_surface_nodes
from .fem.problem import StaticProblem
from .fem.recovery import principal_values, strain_energy_density, stress_from_strain, von_mises

log = logging.getLogger(__name__)

_UNIT_NAMES = ("Fx", "Fy", "Fz", "Mx", "My", "Mz")
_UNIT_SIZE = np.array([1.0, 1.0, 1.0, 1000.0, 1000.0, 1000.0])   # 1 N, 1 N m


def mechanical_mask(model: VoxelModel) -> np.ndarray:
    """Solid voxels that carry load: the largest 26-connected solid component.

    Pieces not connected to it (cement leaked into a vein, a bone fragment)
    cannot be supported and are left out of the mechanics (logged).
    """
    solid = model.labels != Label.VOID
    if not solid.any():
        raise MeshError("the model has no solid voxel")
    lab, n = ndimage.label(solid, structure=np.ones((3, 3, 3), bool))
    if n == 1:
        return solid
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    keep = lab == int(np.argmax(sizes))
    log.info("left %d loose voxels in %d pieces out of the mechanics", int(solid.sum() - keep.sum()), n - 1)
    return keep


def support_regions(model: VoxelModel, solid: np.ndarray):
    """(superior mask, inferior mask, description) of the loaded and fixed bodies."""
    caps = model.labels == Label.PMMA_CAP
    if caps.any() and {"cap_superior", "cap_inferior"} <= set(model.level_names):
        top = caps & (model.level == model.level_index("cap_superior"))
        bottom = caps & (model.level == model.level_index("cap_inferior"))
        return top & solid, bottom & solid, ("cap_superior", "cap_inferior")
    levels = vertebrae_cranial_first(model)
    if not levels:
        raise InputError("the model has neither vertebrae nor PMMA caps to load")
    zc = {lv: model.centres(np.argwhere(vertebral_body_mask(model, lv)))[:, 2].mean() for lv in levels}
    top_lv = max(levels, key=zc.get)
    bottom_lv = min(levels, key=zc.get)
    top = vertebral_body_mask(model, top_lv) & solid
    bottom = vertebral_body_mask(model, bottom_lv) & solid
    return top, bottom, (top_lv, bottom_lv)


@dataclass
class LoadCaseResult:
    """One load case of one model: metrics (flat dict, names with units), the
    displacement u (n_nodes, 3) [mm] and centroid cell fields (names with units)."""

    load_case: LoadCase
    metrics: dict
    u: np.ndarray
    cell_fields: dict = field(default_factory=dict)


class SegmentAnalysis:
    """Assemble and set up the solver for a labelled model once; run load cases.

    model : VoxelModel (segment, single vertebra between caps, or CT model)
    registry : biomech.materials.MaterialRegistry (defaults when None)
    solver : 'gmg' (default: geometric multigrid on the voxel grid, matrix-free), 'amg'
    (assembled K, smoothed aggregation), 'auto', 'direct', 'matrix-free'; rtol : CG
    tolerance.
    reuse_hierarchy : AMG: keep the prolongators for the next model on the same
                  mesh in this process (cement sweeps; see
                  :class:`biomech.fem.multigrid.HierarchyCache`).
    focus_level : the vertebra whose headline metrics (stiffness, adjacent
                  endplates and discs) are reported; default: the treated level
                  recorded in the model, else the middle vertebra.
    soft_tissue : :class:`~biomech.materials.soft_tissue.SoftTissueParameters` of the
                  annulus fibres, ligaments and facet contact (:mod:`biomech.soft_tissue`);
                  None: the defaults on models with two or more vertebrae; False: none.
                  With fibres the annulus voxels take the ground-substance modulus unless
                  the registry changes the annulus.  Tension-only and contact springs make
                  each load case an active-set iteration of a few linear solves.
    """

    def __init__(self, model: VoxelModel, *, registry=None, solver: str = "gmg",
                 rtol: float = 1e-6, focus_level: str | None = None,
                 reuse_hierarchy: bool = False, soft_tissue=None):
        t0 = time.perf_counter()
        self.model = model
        self.solid = mechanical_mask(model)
        self.mesh = VoxelMesh.from_mask(self.solid, model.h, model.origin)
        params = _soft_tissue_parameters(model, soft_tissue)
        registry = _registry_with_ground_substance(registry, params)
        E, nu = element_properties(model, registry)
        ijk = tuple(self.mesh.voxel_ijk.T)
        self.E = E[ijk]
        self.nu = nu[ijk]
        self.labels = model.labels[ijk]
        self.levels = model.level[ijk]
        top, bottom, names = support_regions(model, self.solid)
        self.loaded_region, self.fixed_region = names
        self.plate_nodes = column_surface_nodes(self.mesh, top, "superior")
        fixed = column_surface_nodes(self.mesh, bottom, "inferior")
        shared = np.intersect1d(fixed, self.plate_nodes)
        if shared.size:
            # a node on both surfaces (a one-voxel column next to a taller one) stays on the plate
            log.info("%d nodes lie on both the loaded and the fixed surface: kept on the plate",
                     shared.size)
            fixed = np.setdiff1d(fixed, shared)
        if fixed.size == 0:
            raise InputError(f"the fixed surface of {names[1]!r} lies entirely on the loaded "
                             f"surface of {names[0]!r}: nothing left to support")
        self.fixed_nodes = fixed
        self.problem = StaticProblem(self.mesh, self.E, self.nu, bbar=True)
        self.problem.fix(self.fixed_nodes, "xyz")
        self.problem.add_rigid_plate("superior", self.plate_nodes)
        self.soft_tissue = None
        if params is not None:
            from .soft_tissue import SoftTissue
            self.soft_tissue = SoftTissue(model, self.mesh, params)
            for springs in self.soft_tissue.springs:
                self.problem.add_springs(springs)
        self.reference_point = self.problem.plate("superior").reference_point
        self.solver = solver
        self.rtol = rtol
        self.reuse_hierarchy = reuse_hierarchy
        self.focus_level = focus_level or _default_focus(model)
        self._unit = {}
        self._body_surfaces = {}
        self._body_nodes = {}
        self.timings = {"build_s": time.perf_counter() - t0}

    def body_surfaces(self, level: str):
        """(body mask, superior nodes, inferior nodes) of a vertebral body, computed
        once per model and shared by every load case."""
        if level not in self._body_surfaces:
            body = vertebral_body_mask(self.model, level) & self.solid
            self._body_surfaces[level] = (body, column_surface_nodes(self.mesh, body, "superior"),
                                          column_surface_nodes(self.mesh, body, "inferior"))
        return self._body_surfaces[level]

    def body_nodes(self, level: str) -> np.ndarray:
        """(n,) mesh nodes of the vertebral body of ``level`` (all corners of its elements),
        computed once per model."""
        if level not in self._body_nodes:
            body = self.body_surfaces(level)[0]
            self._body_nodes[level] = np.unique(self.mesh.cells[body[tuple(self.mesh.voxel_ijk.T)]])
        return self._body_nodes[level]

    @property
    def n_dofs(self) -> int:
        return self.mesh.n_dofs

    def unit_solution(self, k: int):
        """Solution for a unit plate load k (0..5: Fx, Fy, Fz [1 N], Mx, My, Mz [1 N m])."""
        if k not in self._unit:
            load = np.zeros(6)
            load[k] = _UNIT_SIZE[k]
            self.problem.set_plate_load("superior", force=load[:3], moment=load[3:])
            t0 = time.perf_counter()
            sol = self.problem.solve(self.solver, rtol=self.rtol,
                                     reuse_hierarchy=self.reuse_hierarchy)
            self.timings[f"solve_{_UNIT_NAMES[k]}_s"] = time.perf_counter() - t0
            self._unit[k] = sol
        return self._unit[k]

    def follower_forces(self, magnitude_N: float = 1.0) -> np.ndarray:
        """(n_nodes, 3) nodal forces [N] of a compressive follower load: across every
        motion segment a pair of forces of ``magnitude_N`` along the line joining the two
        body centroids, each spread evenly over the nodes of its vertebral body (so its
        resultant passes through the body centroid and the pair loads the segment
        without a moment, as a cable through the centres of rotation does in vitro)."""
        f = np.zeros((self.mesh.n_nodes, 3))
        levels = vertebrae_cranial_first(self.model)
        pts = self.mesh.points
        for upper, lower in zip(levels[:-1], levels[1:]):
            nu_, nl = self.body_nodes(upper), self.body_nodes(lower)
            d = pts[nl].mean(axis=0) - pts[nu_].mean(axis=0)
            d /= np.linalg.norm(d)
            f[nu_] += magnitude_N * d / nu_.size            # upper pushed towards lower
            f[nl] -= magnitude_N * d / nl.size              # and lower towards upper
        return f

    def _follower_solution(self):
        if "follower" not in self._unit:
            self.problem.clear_loads()
            self.problem.set_plate_load("superior", force=np.zeros(3), moment=np.zeros(3))
            self.problem.add_nodal_forces(np.arange(self.mesh.n_nodes), self.follower_forces(1.0))
            self._unit["follower"] = self.problem.solve(self.solver, rtol=self.rtol,
                                                        reuse_hierarchy=self.reuse_hierarchy)
            self.problem.clear_loads()
        return self._unit["follower"]

    def run(self, load_cases=DEFAULT_LOAD_CASES, *, fields: bool = True) -> list:
        """Solve every load case; returns [LoadCaseResult].  Linear models superpose
        unit solves (one per load direction, one for the follower load); with
        tension-only or contact springs each load case is solved on its own (an
        active-set iteration of a few linear solves that keep one solver set-up)."""
        out = []
        for lc in load_cases:
            if not isinstance(lc, LoadCase):
                raise InputError(f"load cases must be LoadCase objects, got {type(lc).__name__}")
            lc, posture = resolve_posture(self, lc)
            if self.problem.nonlinear:
                out.append(self._solve_directly(lc, fields))
                out[-1].metrics.update(posture)
                continue
            vec = lc.vector
            u = np.zeros(self.mesh.n_dofs)
            plate_u = np.zeros(6)
            sols = [(self.unit_solution(int(k)), vec[k] / _UNIT_SIZE[k]) for k in np.flatnonzero(vec)]
            if lc.follower_N:
                sols.append((self._follower_solution(), lc.follower_N))
            for sol, s in sols:
                u += s * sol.u_flat
                p = sol.plates["superior"]
                plate_u += s * np.concatenate([p.displacement, p.rotation])
            out.append(self._result(lc, u, plate_u, fields))
            out[-1].metrics.update(posture)
        return out

    def _solve_directly(self, lc, fields):
        t0 = time.perf_counter()
        self.problem.clear_loads()
        self.problem.set_plate_load("superior", force=np.asarray(lc.force_N),
                                    moment=np.asarray(lc.moment_Nmm))
        if lc.follower_N:
            self.problem.add_nodal_forces(np.arange(self.mesh.n_nodes),
                                          self.follower_forces(lc.follower_N))
        sol = self.problem.solve(self.solver, rtol=self.rtol, reuse_hierarchy=self.reuse_hierarchy)
        self.problem.clear_loads()
        self.timings[f"solve_{lc.name}_s"] = time.perf_counter() - t0
        self.timings[f"solve_{lc.name}_linear_solves"] = sol.info.active_set_iterations
        self.timings[f"solve_{lc.name}_cg_iterations"] = sol.info.iterations
        p = sol.plates["superior"]
        return self._result(lc, sol.u_flat, np.concatenate([p.displacement, p.rotation]), fields,
                            solution=sol)

    def _result(self, lc, u_flat, plate_u, want_fields, solution=None):
        eps = self.problem.strain_of(u_flat)[:, 0]
        sig = stress_from_strain(eps[:, None], self.problem.lam, self.problem.mu)[:, 0]
        metrics = {"load_case": lc.name, "dofs": self.mesh.n_dofs}
        metrics.update(level_metrics(self, lc, u_flat.reshape(-1, 3), plate_u, eps, sig))
        metrics.update(motion_segment_metrics(self, lc, u_flat.reshape(-1, 3), solution))
        cf = {}
        if want_fields:
            cf = {"label": self.labels.astype(np.int32), "E_MPa": self.E,
                  "von_mises_MPa": von_mises(sig),
                  "min_principal_strain": principal_values(eps)[:, 0],
                  "strain_energy_density_MPa": strain_energy_density(eps, sig),
                  "stress_zz_MPa": sig[:, 2]}
        return LoadCaseResult(lc, metrics, u_flat.reshape(-1, 3), cf)


def _default_focus(model):
    treated = [t.get("level") for t in (model.meta.get("treatments") or []) if isinstance(t, dict)]
    if treated and treated[0]:
        return treated[0]
    levels = vertebrae_cranial_first(model)
    return levels[len(levels) // 2] if levels else None


def _soft_tissue_parameters(model, soft_tissue):
    """The soft-tissue parameters the analysis uses (None: none)."""
    from .materials.soft_tissue import SoftTissueParameters
    if soft_tissue is False:
        return None
    if soft_tissue is None or soft_tissue is True:
        return SoftTissueParameters() if len(vertebrae_cranial_first(model)) >= 2 else None
    if not isinstance(soft_tissue, SoftTissueParameters):
        raise InputError("soft_tissue must be None, True, False or SoftTissueParameters, got "
                         f"{type(soft_tissue).__name__}")
    return soft_tissue


def _registry_with_ground_substance(registry, params):
    """With explicit fibres the annulus voxels carry the ground substance only (unless
    the registry already changes the annulus)."""
    from .materials import default_registry
    if params is None or not params.fibres:
        return registry
    reg = registry if registry is not None else default_registry()
    if reg["annulus"] == default_registry()["annulus"]:
        reg = reg.override("annulus", E_MPa=params.ground_substance_E_MPa,
                           nu=params.ground_substance_nu,
                           source="annulus ground substance with explicit fibres: Purcell et al., "
                                  "Int J Spine Surg 15:302, 2021, Table 1")
    return reg
