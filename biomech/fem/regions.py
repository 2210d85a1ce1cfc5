"""Node sets of voxel meshes from voxel masks (surfaces to load or support)."""
from __future__ import annotations

import numpy as np

from ..errors import MeshError
from .mesh import VoxelMesh


def column_surface_nodes(mesh: VoxelMesh, mask: np.ndarray, side: str) -> np.ndarray:
    """Mesh nodes on the top ('superior') or bottom ('inferior') face of the
    highest / lowest ``mask`` voxel of every (i, j) column."""
    nz = mask.shape[2]
    has = mask.any(axis=2)
    if not has.any():
        raise MeshError("empty region: no surface to load or support")
    if side == "superior":
        k = nz - 1 - np.argmax(mask[:, :, ::-1], axis=2)
        kn = k + 1
    else:
        k = np.argmax(mask, axis=2)
        kn = k
    i, j = np.nonzero(has)
    kk = kn[i, j]
    corners = np.array([(0, 0), (1, 0), (1, 1), (0, 1)])
    ijk = np.concatenate([np.stack([i + a, j + b, kk], axis=1) for a, b in corners])
    return node_indices(mesh, ijk)


def node_indices(mesh: VoxelMesh, node_ijk: np.ndarray) -> np.ndarray:
    """Mesh node numbers of grid nodes (n, 3); raises MeshError for a grid node
    that is not in the mesh."""
    nx, ny, nz = mesh.grid_shape
    flat_mesh = (mesh.node_ijk[:, 0] * (ny + 1) + mesh.node_ijk[:, 1]) * (nz + 1) + mesh.node_ijk[:, 2]
    flat = (node_ijk[:, 0] * (ny + 1) + node_ijk[:, 1]) * (nz + 1) + node_ijk[:, 2]
    idx = np.searchsorted(flat_mesh, flat)
    idx = np.clip(idx, 0, flat_mesh.size - 1)
    if not np.array_equal(flat_mesh[idx], flat):
        raise MeshError("a support or load surface lies outside the mechanical mesh")
    return np.unique(idx)


def node_index_map(mesh: VoxelMesh, node_ijk: np.ndarray) -> np.ndarray:
    """(n,) mesh node numbers of grid nodes (n, 3), in their order (not unique); -1 for a
    grid node that is not in the mechanical mesh."""
    node_ijk = np.asarray(node_ijk, dtype=np.int64).reshape(-1, 3)
    nx, ny, nz = mesh.grid_shape
    flat_mesh = (mesh.node_ijk[:, 0] * (ny + 1) + mesh.node_ijk[:, 1]) * (nz + 1) + mesh.node_ijk[:, 2]
    flat = (node_ijk[:, 0] * (ny + 1) + node_ijk[:, 1]) * (nz + 1) + node_ijk[:, 2]
    idx = np.clip(np.searchsorted(flat_mesh, flat), 0, max(flat_mesh.size - 1, 0))
    found = flat_mesh.size > 0
    ok = found & (flat_mesh[idx] == flat) if found else np.zeros(len(flat), bool)
    return np.where(ok, idx, -1)
