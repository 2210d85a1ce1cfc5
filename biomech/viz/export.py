"""Files for ParaView: VTU (the solved mesh) and VTI (the voxel grid).

Every field name carries its unit (``von_mises_MPa``, ``displacement_mm``) or is
dimensionless by name (``label``, ``level``, ``min_principal_strain``);
:func:`biomech.viz.grids.check_field_name` enforces it.

* VTU is written by meshio (no VTK needed, so it works on a cluster node without
  pyvista) with VTK hexahedra (cell type 12; type 11 "voxel" cells would be read
  back by meshio 5.3 as zero cells, see ../shared/STACK.md), tetrahedra 10 or
  quadratic tetrahedra 24; cell fields ``label``, ``level`` (index into the
  model's level names), the solution fields; point field ``displacement_mm``.
* VTI (needs pyvista) holds the whole grid: cell fields ``label``, ``level``, the
  model's own fields, result cell fields scattered onto their voxels (NaN in void
  voxels), result point fields on the grid nodes (0 outside the mesh, with the
  point field ``in_model`` = 1 on mesh nodes), and the level names as field data.
* PVD: a ParaView collection of several cases' files, opened in one go.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping

import numpy as np

from biomech.errors import InputError

from .grids import check_field_name, element_labels, element_levels

log = logging.getLogger(__name__)


def _fields(fields, n: int, what: str) -> dict:
    out = {}
    for name, v in (fields or {}).items():
        arr = np.asarray(v)
        if arr.shape[:1] != (n,):
            raise InputError(f"{what} field {name!r} has shape {arr.shape}; "
                             f"the mesh has {n} {what}s")
        out[check_field_name(name)] = arr
    return out


def write_vtu(path, mesh, *, cell_fields: Mapping[str, np.ndarray] | None = None,
              point_fields: Mapping[str, np.ndarray] | None = None, model=None) -> Path:
    """Write ``mesh`` with named fields to a VTU file readable by ParaView and meshio.

    cell_fields : {name: (n_elements,) or (n_elements, k)}
    point_fields : {name: (n_nodes,) or (n_nodes, 3)}
    model : the VoxelModel of a voxel mesh; adds cell fields ``label`` and ``level``
    Returns the path written.
    """
    import meshio
    path = Path(path)
    if path.suffix.lower() != ".vtu":
        raise InputError(f"a VTU file name must end in .vtu, got {path.name!r}")
    cells = _fields(cell_fields, mesh.n_elements, "element")
    if model is not None:
        cells = {"label": element_labels(model, mesh).astype(np.int32),
                 "level": element_levels(model, mesh).astype(np.int32), **cells}
    points = _fields(point_fields, mesh.n_nodes, "node")
    path.parent.mkdir(parents=True, exist_ok=True)
    m = mesh.to_meshio(cells, points)
    meshio.write(str(path), m, file_format="vtu")
    log.info("wrote %s (%d elements, cell fields %s, point fields %s)", path, mesh.n_elements,
             sorted(cells), sorted(points))
    return path


def write_vti(path, model, *, mesh=None, cell_fields: Mapping[str, np.ndarray] | None = None,
              point_fields: Mapping[str, np.ndarray] | None = None) -> Path:
    """Write the voxel grid of ``model`` (labels, levels, model fields) and, with
    ``mesh`` (a VoxelMesh on the model grid), the result fields to a VTI file."""
    from .grids import model_image
    path = Path(path)
    if path.suffix.lower() != ".vti":
        raise InputError(f"a VTI file name must end in .vti, got {path.name!r}")
    img = model_image(model)
    img.field_data["level_names"] = list(model.level_names) or [""]
    if (cell_fields or point_fields) and mesh is None:
        raise InputError("result fields need the mesh they live on: pass mesh=")
    if mesh is not None:
        ijk = np.asarray(mesh.voxel_ijk)
        element_labels(model, mesh)          # checks the mesh lies on the model grid
        nx, ny, nz = model.shape
        for name, v in _fields(cell_fields, mesh.n_elements, "element").items():
            grid = np.full((nx, ny, nz) + v.shape[1:], np.nan)
            grid[ijk[:, 0], ijk[:, 1], ijk[:, 2]] = v
            # VTK orders cells x fastest: reverse the grid axes, keep components last
            img.cell_data[name] = np.ascontiguousarray(
                grid.transpose((2, 1, 0) + tuple(range(3, grid.ndim)))).reshape(
                (nx * ny * nz,) + v.shape[1:])
        nijk = np.asarray(mesh.node_ijk)
        flat = nijk[:, 0] + (nx + 1) * (nijk[:, 1] + (ny + 1) * nijk[:, 2])   # VTK x-fastest
        n_grid = (nx + 1) * (ny + 1) * (nz + 1)
        inside = np.zeros(n_grid, np.uint8)
        inside[flat] = 1
        img.point_data["in_model"] = inside
        for name, v in _fields(point_fields, mesh.n_nodes, "node").items():
            arr = np.zeros((n_grid,) + v.shape[1:])
            arr[flat] = v
            img.point_data[name] = arr
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(str(path))
    log.info("wrote %s (grid %s, h = %g mm)", path, model.shape, model.h)
    return path


def write_pvd(path, files: Mapping[str, object]) -> Path:
    """A ParaView collection (.pvd) that opens several cases' files at once, one
    block per case ({case name: VTU/VTI path}); paths are written relative to the
    collection's folder."""
    import os
    from xml.sax.saxutils import quoteattr
    path = Path(path)
    if path.suffix.lower() != ".pvd":
        raise InputError(f"a collection file name must end in .pvd, got {path.name!r}")
    if not files:
        raise InputError("a collection needs at least one file")
    lines = ['<?xml version="1.0"?>',
             '<VTKFile type="Collection" version="0.1" byte_order="LittleEndian">',
             "  <Collection>"]
    for part, (name, f) in enumerate(files.items()):
        f = Path(f)
        if not f.is_file():
            raise InputError(f"case {name!r}: file {f} does not exist")
        rel = os.path.relpath(f.resolve(), path.resolve().parent)
        lines.append(f'    <DataSet timestep="0" part="{part}" name={quoteattr(str(name))} '
                     f"file={quoteattr(Path(rel).as_posix())}/>")
    lines += ["  </Collection>", "</VTKFile>", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def write_case_files(folder, case, stem: str, *, vti: bool = True) -> dict[str, Path]:
    """VTU (and VTI) of one solved case (a :class:`~biomech.case_fields.CaseFields`)
    into ``folder`` as ``stem.vtu`` / ``stem.vti``; returns {"vtu": path, "vti": path}."""
    folder = Path(folder)
    out = {"vtu": write_vtu(folder / f"{stem}.vtu", case.mesh, cell_fields=case.cell_fields,
                            point_fields=case.point_fields, model=case.model)}
    if vti:
        out["vti"] = write_vti(folder / f"{stem}.vti", case.model, mesh=case.mesh,
                               cell_fields=case.cell_fields, point_fields=case.point_fields)
    return out
