"""Plain arrays -> pyvista datasets (shared by pictures, export and view).

Inputs are the core objects, never a study:
``model`` a :class:`~biomech.meshes.voxel_model.VoxelModel`, ``mesh`` a
:class:`~biomech.VoxelMesh` (or any :class:`~biomech.Mesh`), ``cell_fields``
{name: (n_elements,) or (n_elements, k)} and ``point_fields``
{name: (n_nodes,) or (n_nodes, 3)} whose names carry their units.
"""
from __future__ import annotations

import logging
from typing import Mapping

import numpy as np

from biomech.case_fields import element_labels, element_levels  # noqa: F401 (defined there)
from biomech.errors import InputError

log = logging.getLogger(__name__)

#: VTK cell type numbers of the mesh kinds (hexahedron = 12, not voxel = 11).
VTK_CELL_TYPES = {"hex8": 12, "tet4": 10, "tet10": 24}

#: Names that are dimensionless by definition (no unit suffix needed).
DIMENSIONLESS_NAMES = ("label", "level", "nu", "bvtv", "element_id", "node_id", "in_model",
                       # dimensionless model fields written by the anatomy and treatments
                       "basivertebral_foramen", "E_factor", "shell_E_factor", "cement_nu",
                       "damage", "cement_leak_site", "ct_HU")
#: Name endings that say "dimensionless" or carry a unit.
UNIT_SUFFIXES = ("_mm", "_mm2", "_mm3", "_MPa", "_N", "_N_mm", "_N_per_mm", "_g_cm3",
                 "_mg_cm3", "_ml", "_s", "_Pa_s", "_degC", "_strain", "_fraction", "_ratio",
                 "_percent", "_deg", "_rad", "_count", "_flag", "_code", "_id")


def check_field_name(name: str) -> str:
    """Raise InputError unless a field name carries a unit (``von_mises_MPa``) or is
    dimensionless by name (``min_principal_strain``, ``label``)."""
    if name in DIMENSIONLESS_NAMES or name.endswith(UNIT_SUFFIXES):
        return name
    raise InputError(
        f"field name {name!r} does not say its unit: end it with one of {list(UNIT_SUFFIXES)} "
        f"(e.g. 'von_mises_MPa', 'displacement_mm') or use one of {list(DIMENSIONLESS_NAMES)}")


def _checked(values, n: int, what: str, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.shape[0] != n:
        raise InputError(f"{what} field {name!r} has {arr.shape[0]} values, "
                         f"the mesh has {n} {what}s")
    return arr


def mesh_grid(mesh, cell_fields: Mapping[str, np.ndarray] | None = None,
              point_fields: Mapping[str, np.ndarray] | None = None, *, model=None):
    """pyvista.UnstructuredGrid of ``mesh`` (hexahedra are VTK type 12) with the fields.

    With ``model`` (voxel meshes) the cell fields ``label`` and ``level`` are added.
    A (n_nodes, 3) point field named ``displacement_mm`` also gets its magnitude
    ``displacement_magnitude_mm``.
    """
    from .offscreen import import_pyvista
    pv = import_pyvista()
    ctype = VTK_CELL_TYPES[mesh.kind]
    grid = pv.UnstructuredGrid({ctype: np.asarray(mesh.cells)}, np.asarray(mesh.points, float))
    if model is not None:
        grid.cell_data["label"] = element_labels(model, mesh)
        grid.cell_data["level"] = element_levels(model, mesh)
    for name, v in (cell_fields or {}).items():
        grid.cell_data[check_field_name(name)] = _checked(v, mesh.n_elements, "element", name)
    for name, v in (point_fields or {}).items():
        arr = _checked(v, mesh.n_nodes, "node", name)
        grid.point_data[check_field_name(name)] = arr
        if arr.ndim == 2 and arr.shape[1] == 3 and name.endswith("_mm"):
            grid.point_data[name[:-3] + "_magnitude_mm"] = np.linalg.norm(arr, axis=1)
    return grid


def model_image(model, *, labels: np.ndarray | None = None, fields: bool = True):
    """pyvista.ImageData of the model (cell data label, level and, with ``fields``,
    the model's own fields); ``labels`` (nx, ny, nz) replaces the label array (for
    cut-away pictures).  The model's field names are its builders' (a name without
    a unit is passed through with a logged warning)."""
    from .offscreen import import_pyvista
    pv = import_pyvista()
    img = pv.ImageData(dimensions=np.array(model.shape) + 1, spacing=(model.h,) * 3,
                       origin=model.origin)
    lab = model.labels if labels is None else np.asarray(labels, np.uint8)
    img.cell_data["label"] = lab.ravel(order="F")
    img.cell_data["level"] = model.level.ravel(order="F")
    for k, v in (model.fields.items() if fields else ()):
        try:
            check_field_name(k)
        except InputError:
            log.warning("model field %r has no unit in its name; written as it is", k)
        img.cell_data[k] = np.asarray(v).ravel(order="F")
    return img


def labelled_surface(model, labels: np.ndarray | None = None, *, keep=None):
    """Outer surface (pyvista.PolyData) of the non-void voxels, with cell data
    ``label`` and ``rgb`` (uint8 colours of :mod:`biomech.viz.colours`).

    ``labels`` (nx, ny, nz) replaces the model's labels; ``keep`` (a sequence of label
    numbers) draws only those labels.  Returns None when nothing is left.
    """
    from .colours import label_rgb
    lab = np.asarray(model.labels if labels is None else labels, np.uint8)
    if keep is not None:
        lab = np.where(np.isin(lab, [int(k) for k in keep]), lab, 0).astype(np.uint8)
    if not lab.any():
        return None
    img = model_image(model, labels=lab, fields=False)
    solid = img.threshold(0.5, scalars="label")
    surf = solid.extract_surface(algorithm="dataset_surface")
    surf.cell_data["rgb"] = label_rgb()[np.asarray(surf.cell_data["label"], int)]
    return surf

