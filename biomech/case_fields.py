"""Solved-case results in plain arrays: :class:`~biomech.case_fields.CaseFields` (the model, its mesh, the cell
and point fields of one load case) and the per-element labels and levels of a voxel mesh
built on a model's grid.

Held by the study runner and read by the pictures and the ParaView export; needs neither
PyVista nor anything from :mod:`biomech.viz`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from biomech.errors import InputError
from biomech.meshes.labels import BONE_LABELS


@dataclass(frozen=True)
class CaseFields:
    """One solved case in plain arrays.

    model : VoxelModel the mesh was built on (None for an unstructured mesh: the
        sections then cut through the middle of the mesh, without cement outline,
        and colour ranges use every element)
    mesh : VoxelMesh ``VoxelMesh.from_mask(model.labels != 0, model.h, model.origin)``
        (or any biomech.Mesh when model is None)
    cell_fields : {name: (n_elements,)} e.g. ``Solution.cell_fields()``
    point_fields : {name: (n_nodes,) or (n_nodes, 3)} e.g. {"displacement_mm": sol.u}
    """

    model: object
    mesh: object
    cell_fields: Mapping[str, np.ndarray] = field(default_factory=dict)
    point_fields: Mapping[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def from_solution(cls, model, mesh, solution) -> "CaseFields":
        """Fields of a :class:`biomech.Solution`: its cell fields and ``displacement_mm``."""
        return cls(model, mesh, solution.cell_fields(), {"displacement_mm": solution.u})

    def values(self, name: str) -> tuple[np.ndarray, str]:
        """(values, "cell" | "point") of a field; vectors become magnitudes."""
        if name in self.point_fields:
            v = np.asarray(self.point_fields[name], float)
            return (np.linalg.norm(v, axis=1) if v.ndim == 2 else v), "point"
        if name in self.cell_fields:
            return np.asarray(self.cell_fields[name], float), "cell"
        raise InputError(f"no field {name!r}; the case has cell fields "
                         f"{sorted(self.cell_fields)} and point fields {sorted(self.point_fields)}")

    def range_values(self, name: str, range_over="bone") -> np.ndarray:
        """The values of field ``name`` that set its colour range: those of the
        elements (or of their nodes) whose label is in ``range_over`` ("bone": bone,
        cement and composite; "all"; or a sequence of label numbers).  Falls back to
        all values when no element has those labels or the mesh is not a voxel mesh."""
        values, where = self.values(name)
        labels = _range_labels(range_over)
        if labels is None or self.model is None or getattr(self.mesh, "voxel_ijk", None) is None:
            return values
        sel = np.isin(element_labels(self.model, self.mesh), labels)
        if not sel.any():
            return values
        if where == "cell":
            return values[sel]
        return values[np.unique(np.asarray(self.mesh.cells)[sel].ravel())]


def _range_labels(range_over):
    if isinstance(range_over, str):
        if range_over == "all":
            return None
        if range_over == "bone":
            return [int(l) for l in BONE_LABELS]
        raise InputError(f"range_over must be 'bone', 'all' or a list of labels, "
                         f"got {range_over!r}")
    return [int(l) for l in range_over]


def element_labels(model, mesh) -> np.ndarray:
    """(n_elements,) uint8 label of each element of a voxel mesh built on ``model``'s
    grid (``VoxelMesh.from_mask(model.labels != 0, model.h, model.origin)``)."""
    ijk = _voxel_ijk(model, mesh)
    return model.labels[ijk[:, 0], ijk[:, 1], ijk[:, 2]]


def element_levels(model, mesh) -> np.ndarray:
    """(n_elements,) int8 level index of each element (-1 for none)."""
    ijk = _voxel_ijk(model, mesh)
    return model.level[ijk[:, 0], ijk[:, 1], ijk[:, 2]]


def _voxel_ijk(model, mesh) -> np.ndarray:
    ijk = getattr(mesh, "voxel_ijk", None)
    if ijk is None:
        raise InputError("labels per element need a VoxelMesh on the model's grid "
                         f"(got a {type(mesh).__name__} of kind {mesh.kind!r})")
    if tuple(getattr(mesh, "grid_shape", ())) != tuple(model.shape):
        raise InputError(f"the mesh grid {tuple(mesh.grid_shape)} is not the model grid "
                         f"{tuple(model.shape)}: build it with "
                         "VoxelMesh.from_mask(model.labels != 0, model.h, model.origin)")
    if not np.isclose(mesh.h, model.h) or not np.allclose(mesh.origin, model.origin):
        raise InputError(f"the mesh (h={mesh.h} mm, origin={mesh.origin}) does not lie on the "
                         f"model grid (h={model.h} mm, origin={model.origin})")
    return ijk
