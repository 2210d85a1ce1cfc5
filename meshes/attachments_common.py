"""Shared data and grid helpers of :mod:`biomech.meshes.attachments` (the
anatomy of the two-node couplings a voxel grid cannot carry).

Grid nodes: node (i, j, k) is the voxel corner at ``origin + (i, j, k) * h``;
voxel (i, j, k) has the corners (i..i+1, j..j+1, k..k+1).  A node belongs to a
voxel region when it is a corner of at least one voxel of the region, which is
exactly when the voxel mesh of that region holds it
(:meth:`biomech.fem.mesh.VoxelMesh.from_mask`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from biomech.errors import InputError

from .labels import BODY_LABELS, Label
from .landmarks import level_frame
from .voxel_model import VoxelModel

LEFT_RIGHT = (("left", 1.0), ("right", -1.0))      # left = +x, as the parametric pedicles


@dataclass(frozen=True)
class NodePairs:
    """One ligament (or one facet joint) of one motion segment as node pairs.

    name : "ALL", "PLL", "LF", "ISL", "SSL", "ITL", "CL" or "facet";
    segment : motion segment "L1-L2" (upper-lower);
    side : "left" (+x), "right" (-x) or "midline";
    upper, lower : (n, 3) int64 grid node indices on the upper / lower vertebra
        (pair p joins ``upper[p]`` and ``lower[p]``);
    weight : (n,) float; ligaments: share of the ligament each pair carries
        [-] (sums to 1); facets: tributary contact area of each pair [mm^2]
        (sums to the joint's plane-projected area);
    normal : (n, 3) unit vectors [-] from the upper to the lower articular
        surface (facets only; the joint normal of a plane fit), else None;
    note : how the attachment was found (free text for reports).
    """

    name: str
    segment: str
    side: str
    upper: np.ndarray
    lower: np.ndarray
    weight: np.ndarray
    normal: np.ndarray | None = None
    note: str = ""

    def __post_init__(self):
        up = np.asarray(self.upper, np.int64).reshape(-1, 3)
        lo = np.asarray(self.lower, np.int64).reshape(-1, 3)
        w = np.asarray(self.weight, float).reshape(-1)
        if not (len(up) == len(lo) == len(w)):
            raise ValueError(f"{self.name}: upper {len(up)}, lower {len(lo)}, weight {len(w)} pairs")
        arrs = [up, lo, w]
        if self.normal is not None:
            n = np.asarray(self.normal, float).reshape(-1, 3)
            if len(n) != len(up):
                raise ValueError(f"{self.name}: {len(n)} normals for {len(up)} pairs")
            arrs.append(n)
            object.__setattr__(self, "normal", n)
        for a in arrs:
            a.setflags(write=False)
        object.__setattr__(self, "upper", up)
        object.__setattr__(self, "lower", lo)
        object.__setattr__(self, "weight", w)

    @property
    def n_pairs(self) -> int:
        return len(self.upper)

    def lengths_mm(self, h: float) -> np.ndarray:
        """(n,) pair lengths [mm] on a grid of spacing ``h`` [mm]."""
        return np.linalg.norm((self.lower - self.upper) * float(h), axis=1)


class Attachments(list):
    """A list of :class:`NodePairs` with ``missing``: {name: reason} for every
    coupling the model cannot carry (e.g. no posterior elements: no LF, ISL,
    SSL, ITL, CL or facets).  Empty ``missing`` means everything was found."""

    def __init__(self, items=(), missing=None):
        super().__init__(items)
        self.missing = dict(missing or {})

    def by_name(self, name: str, side: str | None = None) -> list:
        return [p for p in self if p.name == name and (side is None or p.side == side)]


@dataclass(frozen=True)
class FibreSet:
    """Annulus fibres of one disc as two-node segments.

    disc : disc level name ("L1-L2");
    a, b : (n, 3) int64 grid nodes, both corners of ANNULUS voxels of the disc
        (inside the annulus or on its boundary with cartilage endplate / bone);
    volume_mm3 : (n,) annulus volume each segment represents [mm^3] (sums to
        the annulus volume over each family);
    family : (n,) int8 +1 / -1: the two crossing lamella directions;
    angle_deg : (n,) angle of a-b to the disc's transverse plane [deg] after
        snapping to the grid (unsigned);
    axis : (3,) unit disc axis (transverse-plane normal, +cranial);
    centre_mm : (3,) disc centre [mm];
    target_angle_deg : the requested fibre angle [deg];
    annulus_volume_mm3 : annulus volume of the disc [mm^3].
    """

    disc: str
    a: np.ndarray
    b: np.ndarray
    volume_mm3: np.ndarray
    family: np.ndarray
    angle_deg: np.ndarray
    axis: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 1.0]))
    centre_mm: np.ndarray = field(default_factory=lambda: np.zeros(3))
    target_angle_deg: float = 30.0
    annulus_volume_mm3: float = 0.0

    @property
    def n(self) -> int:
        return len(self.a)

    def lengths_mm(self, h: float) -> np.ndarray:
        return np.linalg.norm((self.b - self.a) * float(h), axis=1)


# ---------------------------------------------------------------------------- grid helpers
def node_mask(vox: np.ndarray) -> np.ndarray:
    """(nx+1, ny+1, nz+1) bool: nodes that are a corner of at least one True voxel."""
    nx, ny, nz = vox.shape
    out = np.zeros((nx + 1, ny + 1, nz + 1), bool)
    for a in (0, 1):
        for b in (0, 1):
            for c in (0, 1):
                out[a:a + nx, b:b + ny, c:c + nz] |= vox
    return out


def surface_nodes(vox: np.ndarray) -> np.ndarray:
    """Nodes of the region that are also a corner of a voxel outside it."""
    return node_mask(vox) & node_mask(~vox)


def node_xyz(model: VoxelModel, ijk: np.ndarray) -> np.ndarray:
    """(n, 3) global coordinates [mm] of grid nodes (n, 3)."""
    return np.asarray(model.origin) + np.asarray(ijk, float) * model.h


def check_pair(model: VoxelModel, upper: str, lower: str) -> tuple[int, int]:
    if not isinstance(model, VoxelModel):
        raise InputError(f"model must be a VoxelModel, got {type(model).__name__}")
    for lv in (upper, lower):
        if lv not in model.level_names:
            raise InputError(f"unknown level {lv!r}; the model has {list(model.level_names)}")
    vert = vertebra_names(model)
    if upper not in vert or lower not in vert or vert.index(lower) != vert.index(upper) + 1:
        raise InputError(f"{upper!r} and {lower!r} are not adjacent vertebrae (upper first) of "
                         f"{vert}")
    return model.level_index(upper), model.level_index(lower)


def vertebra_names(model: VoxelModel) -> list[str]:
    """Level names that are vertebrae (not discs "U-L"), in model order."""
    return [n for n in model.level_names if "-" not in n]


class LevelNodes:
    """Nodes of one level's bone in its local frame (x left, y posterior, z
    cranial; :func:`~biomech.meshes.landmarks.level_frame`)."""

    def __init__(self, model: VoxelModel, level: str):
        self.model, self.level = model, level
        li = model.level_index(level)
        lev = model.level == li
        self.body_vox = np.isin(model.labels, [int(v) for v in BODY_LABELS]) & lev
        self.post_vox = (model.labels == Label.POSTERIOR) & lev
        if not self.body_vox.any():
            raise InputError(f"level {level!r} has no vertebral-body voxels: no attachment "
                             "can be placed on it")
        self.origin, self.R = level_frame(model, level)
        self.body = self._local(node_mask(self.body_vox))
        self.post = self._local(node_mask(self.post_vox)) if self.post_vox.any() else None

    def _local(self, nmask):
        ijk = np.argwhere(nmask)
        return ijk, (node_xyz(self.model, ijk) - self.origin) @ self.R

    def to_local(self, xyz):
        return (np.asarray(xyz, float) - self.origin) @ self.R


def extreme_per_bin(ijk, q, sel, coord, edges, key, tie=None):
    """One node per bin: among the selected nodes whose ``coord`` falls in
    [edges[b], edges[b+1]), the one with the largest ``key`` (the one nearest
    the bin centre on ties, or with the smallest ``tie`` when given).  Returns (m, 3)
    node indices and the bin index of each (empty bins are skipped)."""
    idx = np.flatnonzero(sel)
    if idx.size == 0:
        return np.zeros((0, 3), np.int64), np.zeros(0, int)
    b = np.searchsorted(edges, coord[idx], side="right") - 1
    ok = (b >= 0) & (b < len(edges) - 1)
    idx, b = idx[ok], b[ok]
    if idx.size == 0:
        return np.zeros((0, 3), np.int64), np.zeros(0, int)
    if tie is None:
        mid = 0.5 * (np.asarray(edges)[b] + np.asarray(edges)[b + 1])
        t = np.abs(coord[idx] - mid)
    else:
        t = tie[idx]
    order = np.lexsort((t, -key[idx], b))            # by bin, largest key, then smallest tie
    idx, b = idx[order], b[order]
    first = np.r_[True, b[1:] != b[:-1]]
    return ijk[idx[first]], b[first]


def pair_bins(up_ijk, up_bin, lo_ijk, lo_bin):
    """Pairs of upper and lower nodes found in the same bin."""
    common, iu, il = np.intersect1d(up_bin, lo_bin, return_indices=True)
    return up_ijk[iu], lo_ijk[il]
