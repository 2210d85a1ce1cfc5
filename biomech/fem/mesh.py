"""Mesh objects: an unstructured mesh (hex8, tet4, tet10) and a voxel mesh.

Both are immutable dataclasses with named node and element sets
(``with_node_set`` returns a copy, as scikit-fem's ``with_boundaries``).
Coordinates are in mm.  DOFs are interleaved: node i owns 3i, 3i+1, 3i+2.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

import numpy as np

import logging

from biomech import kernels as K
from ..errors import InvertedElementError, MeshError

log = logging.getLogger(__name__)

#: det J below this fraction of the element extent cubed marks a degenerate element.
DEGENERATE_RATIO = 1e-8

ELEMENT_KINDS = {"hex8": K.KIND_HEX8, "tet4": K.KIND_TET4, "tet10": K.KIND_TET10}
NODES_PER_ELEMENT = {"hex8": 8, "tet4": 4, "tet10": 10}
MESHIO_CELL_TYPES = {"hex8": "hexahedron", "tet4": "tetra", "tet10": "tetra10"}


def _frozen_sets(sets: Mapping[str, np.ndarray] | None) -> Mapping[str, np.ndarray]:
    out = {}
    for name, ids in (sets or {}).items():
        arr = np.unique(np.asarray(ids, dtype=np.int64).ravel())
        arr.setflags(write=False)
        out[str(name)] = arr
    return MappingProxyType(out)


@dataclass(frozen=True, eq=False)
class Mesh:
    """An unstructured 3-D mesh of one element kind.

    points : (n_nodes, 3) float64 [mm]
    cells : (n_elements, n_per) int64, node order of ``biomech.kernels.elements``
    kind : "hex8", "tet4" or "tet10"
    node_sets, element_sets : named index arrays
    """

    points: np.ndarray
    cells: np.ndarray
    kind: str
    node_sets: Mapping[str, np.ndarray] = field(default_factory=dict)
    element_sets: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in ELEMENT_KINDS:
            raise MeshError(f"element kind must be one of {sorted(ELEMENT_KINDS)}, got {self.kind!r}")
        pts = np.ascontiguousarray(self.points, dtype=np.float64)
        cells = np.ascontiguousarray(self.cells, dtype=np.int64)
        n_per = NODES_PER_ELEMENT[self.kind]
        if pts.ndim != 2 or pts.shape[1] != 3:
            raise MeshError(f"points must have shape (n_nodes, 3), got {pts.shape}")
        if not np.isfinite(pts).all():
            raise MeshError("points contain NaN or infinite coordinates")
        if cells.ndim != 2 or cells.shape[1] != n_per:
            raise MeshError(f"{self.kind} cells must have shape (n_elements, {n_per}), got {cells.shape}")
        if cells.shape[0] == 0:
            raise MeshError("the mesh has no elements")
        if cells.min() < 0 or cells.max() >= pts.shape[0]:
            raise MeshError(
                f"cell node indices must lie in [0, {pts.shape[0] - 1}], "
                f"got range [{cells.min()}, {cells.max()}]")
        pts.setflags(write=False)
        cells.setflags(write=False)
        object.__setattr__(self, "points", pts)
        object.__setattr__(self, "cells", cells)
        object.__setattr__(self, "node_sets", _frozen_sets(self.node_sets))
        object.__setattr__(self, "element_sets", _frozen_sets(self.element_sets))
        for name, ids in self.node_sets.items():
            if ids.size and (ids[0] < 0 or ids[-1] >= self.n_nodes):
                raise MeshError(f"node set {name!r} has indices outside [0, {self.n_nodes - 1}]")
        for name, ids in self.element_sets.items():
            if ids.size and (ids[0] < 0 or ids[-1] >= self.n_elements):
                raise MeshError(f"element set {name!r} has indices outside [0, {self.n_elements - 1}]")

    # ------------------------------------------------------------------ sizes
    @property
    def n_nodes(self) -> int:
        return self.points.shape[0]

    @property
    def n_elements(self) -> int:
        return self.cells.shape[0]

    @property
    def n_dofs(self) -> int:
        return 3 * self.n_nodes

    @property
    def kind_code(self) -> int:
        return ELEMENT_KINDS[self.kind]

    # ------------------------------------------------------------------ regions
    def with_node_set(self, name: str, nodes) -> "Mesh":
        """A copy with node set ``name`` added (or replaced)."""
        sets = dict(self.node_sets)
        sets[name] = nodes
        return dataclasses.replace(self, node_sets=sets)

    def with_element_set(self, name: str, elements) -> "Mesh":
        """A copy with element set ``name`` added (or replaced)."""
        sets = dict(self.element_sets)
        sets[name] = elements
        return dataclasses.replace(self, element_sets=sets)

    def nodes_where(self, predicate) -> np.ndarray:
        """Indices of the nodes whose coordinates satisfy ``predicate(x, y, z)``."""
        p = self.points
        return np.flatnonzero(predicate(p[:, 0], p[:, 1], p[:, 2]))

    def node_set(self, nodes) -> np.ndarray:
        """Resolve a node-set name or an index array to a sorted int64 array."""
        if isinstance(nodes, str):
            if nodes not in self.node_sets:
                raise MeshError(f"unknown node set {nodes!r}; the mesh has {sorted(self.node_sets)}")
            return self.node_sets[nodes]
        arr = np.unique(np.asarray(nodes, dtype=np.int64).ravel())
        if arr.size and (arr[0] < 0 or arr[-1] >= self.n_nodes):
            raise MeshError(f"node indices must lie in [0, {self.n_nodes - 1}]")
        return arr

    def element_set(self, elements) -> np.ndarray:
        """Resolve an element-set name or an index array."""
        if isinstance(elements, str):
            if elements not in self.element_sets:
                raise MeshError(
                    f"unknown element set {elements!r}; the mesh has {sorted(self.element_sets)}")
            return self.element_sets[elements]
        return np.unique(np.asarray(elements, dtype=np.int64).ravel())

    # ------------------------------------------------------------------ checks
    def min_jacobians(self, include_corners: bool = False) -> np.ndarray:
        """Minimum det J [mm^3 per unit natural volume] of each element over its
        integration points (and the corners of hexes with include_corners)."""
        out = np.empty(self.n_elements)
        K.element_min_jacobian(self.kind_code, self.points, self.cells, out, include_corners)
        return out

    def validate(self) -> "Mesh":
        """Raise MeshError for orphan nodes and InvertedElementError for elements with
        det J <= 0 (relative to the element scale).  Returns self for chaining."""
        used = np.zeros(self.n_nodes, dtype=bool)
        used[self.cells.ravel()] = True
        if not used.all():
            orphans = np.flatnonzero(~used)
            raise MeshError(
                f"{orphans.size} nodes belong to no element (first: {orphans[:5].tolist()}); "
                "they would leave the stiffness singular: use mesh.without_orphan_nodes()")
        detj = self.min_jacobians()
        size = np.ptp(self.points[self.cells], axis=1).max(axis=1)     # element extent [mm]
        bad = np.flatnonzero(detj <= DEGENERATE_RATIO * size ** 3)
        if bad.size:
            raise InvertedElementError(
                f"{bad.size} {self.kind} elements are inverted or degenerate (det J <= "
                f"{DEGENERATE_RATIO:g} x size^3); first: element {int(bad[0])} with min det J = "
                f"{detj[bad[0]]:.3g} and size {size[bad[0]]:.3g} mm. "
                "Check the node order (VTK/Abaqus) and the coordinates.", elements=bad)
        return self

    def without_orphan_nodes(self) -> "Mesh":
        """A copy without nodes that belong to no element (node sets remapped)."""
        used = np.zeros(self.n_nodes, dtype=bool)
        used[self.cells.ravel()] = True
        new_index = np.cumsum(used) - 1
        sets = {k: new_index[v[used[v]]] for k, v in self.node_sets.items()}
        return dataclasses.replace(self, points=self.points[used], cells=new_index[self.cells],
                                   node_sets=sets)

    # ------------------------------------------------------------------ I/O
    def to_meshio(self, cell_data: Mapping[str, np.ndarray] | None = None,
                  point_data: Mapping[str, np.ndarray] | None = None):
        """A meshio.Mesh with the given cell and point fields (names should carry units)."""
        import meshio
        return meshio.Mesh(
            self.points, [(MESHIO_CELL_TYPES[self.kind], self.cells)],
            point_data=dict(point_data or {}),
            cell_data={k: [np.asarray(v)] for k, v in (cell_data or {}).items()})

    @classmethod
    def from_meshio(cls, m, *, scale: float = 1.0) -> "Mesh":
        """The volume cells of a meshio.Mesh (hexahedron, tetra or tetra10).

        ``scale`` multiplies coordinates (1000 for a file in metres).  Point sets
        and cell sets of the file become node and element sets.
        """
        inv = {v: k for k, v in MESHIO_CELL_TYPES.items()}
        blocks = [b for b in m.cells if b.type in inv]
        if not blocks:
            raise MeshError(f"no volume cells of types {sorted(inv)} in the file; found "
                            f"{[b.type for b in m.cells]}")
        kinds = {b.type for b in blocks}
        if len(kinds) > 1:
            raise MeshError(f"mixed volume cell types {sorted(kinds)} are not supported")
        kind = inv[blocks[0].type]
        cells = np.concatenate([b.data for b in blocks])
        node_sets = {k: v for k, v in getattr(m, "point_sets", {}).items()}
        return cls(np.asarray(m.points, float) * scale, cells, kind, node_sets=node_sets)


@dataclass(frozen=True, eq=False)
class VoxelMesh(Mesh):
    """A mesh of equal cubic voxels of side ``h`` [mm] on a regular grid.

    voxel_ijk : (n_elements, 3) grid index of each voxel
    grid_shape : (nx, ny, nz) voxels
    origin : (3,) position of voxel (0,0,0)'s lower corner [mm]
    node_ijk : (n_nodes, 3) grid index of each node
    """

    h: float = 1.0
    origin: tuple = (0.0, 0.0, 0.0)
    grid_shape: tuple = (0, 0, 0)
    voxel_ijk: np.ndarray | None = None
    node_ijk: np.ndarray | None = None

    @classmethod
    def from_mask(cls, mask, h: float, origin=(0.0, 0.0, 0.0), *, node_sets=None,
                  element_sets=None) -> "VoxelMesh":
        """Voxel mesh of the True voxels of ``mask`` (nx, ny, nz); h in mm.

        Elements are numbered in C order of (i, j, k); nodes likewise.
        """
        mask = np.asarray(mask, dtype=bool)
        if mask.ndim != 3:
            raise MeshError(f"a voxel mask must be 3-D, got shape {mask.shape}")
        if not (np.isfinite(h) and h > 0):
            raise MeshError(f"voxel size h must be > 0 mm, got {h!r}")
        if not mask.any():
            raise MeshError("the voxel mask is empty: no element to mesh")
        ijk = np.ascontiguousarray(np.argwhere(mask), dtype=np.int64)   # C order: no copies later
        nx, ny, nz = mask.shape
        corner = ((K.elements.HEX8_SIGNS + 1) // 2).astype(np.int64)       # (8, 3)
        node_grid = (ijk[:, None, :] + corner[None, :, :])                  # (n_el, 8, 3)
        flat = (node_grid[..., 0] * (ny + 1) + node_grid[..., 1]) * (nz + 1) + node_grid[..., 2]
        used, cells = np.unique(flat.ravel(), return_inverse=True)
        cells = cells.reshape(-1, 8)
        node_ijk = np.stack(np.unravel_index(used, (nx + 1, ny + 1, nz + 1)), axis=1)
        points = np.asarray(origin, float)[None, :] + node_ijk * float(h)
        return cls(points=points, cells=cells, kind="hex8", node_sets=node_sets or {},
                   element_sets=element_sets or {}, h=float(h),
                   origin=tuple(float(v) for v in origin), grid_shape=(nx, ny, nz),
                   voxel_ijk=ijk, node_ijk=node_ijk)

    def node_elements(self) -> np.ndarray:
        """(n_nodes, 8): the element in which each node is local node a, or -1."""
        out = np.full((self.n_nodes, 8), -1, dtype=np.int64)
        for a in range(8):
            out[self.cells[:, a], a] = np.arange(self.n_elements)
        return out

    def validate(self) -> "VoxelMesh":  # voxels cannot be inverted or orphaned
        return self
