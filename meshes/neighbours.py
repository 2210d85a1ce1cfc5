"""Face (6-) neighbours on a voxel grid: the one dilation the anatomy, conditions and
treatments use to find voxels next to a mask (an exposed surface, a breach, a drain).

Border: outside the grid counts as "not in the mask" (scipy.ndimage's ``border_value=0``);
nothing wraps around, as with the slice-shifted loops this replaces (np.roll would wrap).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

#: (3, 3, 3) bool structuring element of the six face neighbours, the centre excluded.
FACE_NEIGHBOURS = ndimage.generate_binary_structure(3, 1).copy()
FACE_NEIGHBOURS[1, 1, 1] = False


def face_neighbours(mask: np.ndarray) -> np.ndarray:
    """(nx, ny, nz) bool: voxels with at least one face neighbour in ``mask`` (nx, ny, nz)
    bool.  A voxel of ``mask`` is included only when another voxel of ``mask`` touches it
    (the centre is not part of the structuring element)."""
    m = np.asarray(mask, dtype=bool)
    if not m.any():
        return np.zeros(m.shape, bool)
    return ndimage.binary_dilation(m, structure=FACE_NEIGHBOURS, border_value=0)
