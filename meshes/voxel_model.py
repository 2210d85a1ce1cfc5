"""The labelled voxel model: the central data of biomech (see DESIGN.md).

A regular grid of cubic voxels (side ``h`` mm, lower corner of voxel (0,0,0) at
``origin`` mm, axes x = left-right, y = anterior-posterior (+y posterior),
z = inferior-superior (+z cranial)) with one label per voxel
(:class:`~biomech.meshes.labels.Label`), the level each voxel belongs to, and
named per-voxel float fields whose names carry their units
(``density_g_cm3``, ``E_MPa``, ``nu``, ``bvtv``, ``cortical_fraction``,
``permeability_mm2``, ...).

Immutable: ``with_labels`` / ``with_field`` return new models.  Files and pictures:
:func:`biomech.viz.write_vti` (labels, levels and fields as cell data).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

import numpy as np

from .labels import Label

NO_LEVEL = -1


@dataclass(frozen=True, eq=False)
class VoxelModel:
    """labels : (nx, ny, nz) uint8; level : (nx, ny, nz) int8 index into
    ``level_names`` (NO_LEVEL = -1 for none); h [mm]; origin (3,) [mm];
    level_names : e.g. ("L1", "L1-L2", "L2", ...) -- vertebrae and discs;
    fields : {name: (nx, ny, nz) float array}; meta : free-form provenance."""

    labels: np.ndarray
    h: float
    origin: tuple = (0.0, 0.0, 0.0)
    level: np.ndarray | None = None
    level_names: tuple = ()
    fields: Mapping[str, np.ndarray] = field(default_factory=dict)
    meta: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self):
        labels = np.ascontiguousarray(self.labels, dtype=np.uint8)
        if labels.ndim != 3:
            raise ValueError(f"labels must be a 3-D array, got shape {labels.shape}")
        if not (np.isfinite(self.h) and self.h > 0):
            raise ValueError(f"voxel size h must be > 0 mm, got {self.h!r}")
        level = (np.full(labels.shape, NO_LEVEL, np.int8) if self.level is None
                 else np.ascontiguousarray(self.level, dtype=np.int8))
        if level.shape != labels.shape:
            raise ValueError(f"level shape {level.shape} differs from labels shape {labels.shape}")
        if level.max(initial=NO_LEVEL) >= len(self.level_names):
            raise ValueError(f"level index {int(level.max())} has no name in {self.level_names}")
        flds = {}
        for k, v in self.fields.items():
            arr = np.asarray(v, dtype=np.float64)
            if arr.shape != labels.shape:
                raise ValueError(f"field {k!r} has shape {arr.shape}, labels {labels.shape}")
            arr.setflags(write=False)
            flds[k] = arr
        for arr in (labels, level):
            arr.setflags(write=False)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "level", level)
        object.__setattr__(self, "h", float(self.h))
        object.__setattr__(self, "origin", tuple(float(v) for v in self.origin))
        object.__setattr__(self, "level_names", tuple(self.level_names))
        object.__setattr__(self, "fields", MappingProxyType(flds))
        object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))

    # ------------------------------------------------------------------ basics
    @property
    def shape(self) -> tuple:
        return self.labels.shape

    @property
    def voxel_volume_mm3(self) -> float:
        return self.h ** 3

    def centres(self, index=None) -> np.ndarray:
        """Voxel centres [mm]: (nx, ny, nz, 3), or (n, 3) for an (n, 3) index array."""
        o = np.asarray(self.origin)
        if index is not None:
            return o + (np.asarray(index) + 0.5) * self.h
        ax = [o[d] + (np.arange(n) + 0.5) * self.h for d, n in enumerate(self.shape)]
        return np.stack(np.meshgrid(*ax, indexing="ij"), axis=-1)

    def mask(self, *labels, level: str | None = None) -> np.ndarray:
        """Boolean mask of voxels with any of ``labels`` (all non-void if none),
        optionally restricted to one level name."""
        if labels:
            m = np.isin(self.labels, [int(l) for l in labels])
        else:
            m = self.labels != Label.VOID
        if level is not None:
            m &= self.level == self.level_index(level)
        return m

    def level_index(self, name: str) -> int:
        if name not in self.level_names:
            raise KeyError(f"unknown level {name!r}; the model has {list(self.level_names)}")
        return self.level_names.index(name)

    def volumes_mm3(self) -> dict:
        """Volume [mm^3] per label name (non-empty labels only)."""
        counts = np.bincount(self.labels.ravel(), minlength=len(Label))
        return {Label(i).name.lower(): float(c) * self.voxel_volume_mm3
                for i, c in enumerate(counts) if c and i != Label.VOID and i < len(Label)}

    # ------------------------------------------------------------------ copies
    def with_labels(self, labels, level=None) -> "VoxelModel":
        return dataclasses.replace(self, labels=labels,
                                   level=self.level if level is None else level)

    def with_field(self, name: str, values) -> "VoxelModel":
        flds = dict(self.fields)
        flds[name] = values
        return dataclasses.replace(self, fields=flds)

    def with_meta(self, **items) -> "VoxelModel":
        meta = dict(self.meta)
        meta.update(items)
        return dataclasses.replace(self, meta=meta)
