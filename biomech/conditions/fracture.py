"""Osteoporotic compression fracture: Genant semi-quantitative grade 1-3 (height reduction
20-25 %, 25-40 %, > 40 %; Genant et al., J Bone Miner Res 8:1137, 1993) and shape (wedge:
anterior height lost, biconcave: central height lost through both endplates, crush: the
whole body).  The geometry changes (columns of voxels are shortened; for wedge and crush everything above
the collapsed superior endplate moves as one rigid body -- a wedge tilts it forward about the
posterior-superior edge into the kyphosis the grade implies, a crush lowers it
(:mod:`.alignment`) -- and biconcave lets the adjacent discs fill the depressions) and a damaged zone is labelled FRACTURE_ZONE."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..describe import Described, param
from ..errors import InputError
from ..meshes.labels import Label
from ..meshes.neighbours import face_neighbours
from ..validation import Str
from .anatomy import check_level, vertebra_geometry
from .editing import _field, _meta_update, _replace
from .alignment import change_height_aligned, pad_column_records, pad_columns

#: Genant semi-quantitative grades: (lowest, highest) fractional height reduction.
GENANT_BANDS = {1: (0.20, 0.25), 2: (0.25, 0.40), 3: (0.40, 0.80)}
GENANT_DEFAULT_LOSS = {1: 0.225, 2: 0.325, 3: 0.45}
FRACTURE_SHAPES = ("wedge", "biconcave", "crush")


@dataclass(frozen=True)
class OsteoporoticFracture(Described):
    """Osteoporotic compression fracture of one vertebra.

    level : vertebra name; grade : Genant grade 1, 2 or 3; shape : "wedge" | "biconcave" |
    "crush"; height_loss : fraction of the body height lost where the loss is largest
    (anterior wall for wedge, centre for biconcave, everywhere for crush), within the
    grade's band.  The loss field is that fraction of the body height at the centre (wedge:
    falling linearly to 0 at the posterior wall; biconcave: 1 - r^2 over the endplate), so
    neighbouring columns move together; a column shorter than its loss keeps one voxel. (default mid-band: 0.225, 0.325, 0.45); damage : modulus reduction of the
    damaged zone [0, 1) (default: the registry's fracture_zone); cortical_breach : the
    fracture cleft reaches the cortex (anterior wall for wedge, the lateral wall for crush,
    the endplates for biconcave), opening a leak path.

    Damaged zone: the trabecular voxels of the shortened columns within twice the local
    height loss (at least one voxel) of the collapsed endplate(s), labelled FRACTURE_ZONE.
    """

    level: str = param(spec=lambda: Str(what="a vertebra of the model, e.g. 'L2'"),
                       doc="vertebra")
    grade: int = param(range=(1, 3), doc="Genant grade")
    shape: str = param("wedge", choices=FRACTURE_SHAPES, doc="fracture shape")
    height_loss: float | None = param(None, range=(0.2, 0.8),
                                      doc="fraction of the body height lost (within the "
                                          "grade's band)")
    damage: float | None = param(None, range=(0.0, 1.0), hi_open=True,
                                 doc="modulus reduction of the damaged zone")
    cortical_breach: bool = param(False, doc="the cleft reaches the cortex")

    KIND: ClassVar[str] = "fracture"

    def describe(self) -> str:
        return f"fracture {self.level} grade {self.grade} {self.shape}"

    def apply(self, model):
        check_level(model, self.level)
        lo, hi = GENANT_BANDS[self.grade]
        loss = GENANT_DEFAULT_LOSS[self.grade] if self.height_loss is None else self.height_loss
        if not (isinstance(loss, (int, float)) and lo <= loss <= hi):
            raise InputError(f"height_loss for Genant grade {self.grade} must lie in "
                             f"[{lo}, {hi}] (fraction of body height), got {loss!r}")
        if self.level in (model.meta.get("fractures") or {}):
            raise InputError(f"{self.level} already has a compression fracture")
        geo = vertebra_geometry(model, self.level)
        h = model.h
        nx, ny, nz = model.shape
        o = np.asarray(model.origin)
        xs = o[0] + (np.arange(nx) + 0.5) * h
        ys = o[1] + (np.arange(ny) + 0.5) * h
        Xc, Yc = np.meshgrid(xs, ys, indexing="ij")
        H = geo.height_mm
        if self.shape == "wedge":
            local = loss * np.clip((geo.posterior_y_mm - Yc) / geo.depth_mm, 0.0, 1.0)
            mode = "superior"
        elif self.shape == "crush":
            local = np.full((nx, ny), float(loss))
            mode = "superior"
        else:
            r2 = ((Xc - geo.centroid_mm[0]) / (0.5 * geo.width_mm)) ** 2 + \
                 ((Yc - geo.centroid_mm[1]) / (0.5 * geo.depth_mm)) ** 2
            local = loss * np.clip(1.0 - r2, 0.0, 1.0)
            mode = "both"
        # the loss field is smooth (local fraction x body height at the centre) so that
        # neighbouring columns stay joined; a short column keeps at least one voxel
        body_cols = geo.body.any(axis=2)
        k_first = np.where(body_cols, np.argmax(geo.body, axis=2), 0)
        k_last = np.where(body_cols, nz - 1 - np.argmax(geo.body[:, :, ::-1], axis=2), 0)
        span = np.where(body_cols, k_last - k_first + 1, 0)
        d = np.rint(local * H / h).astype(np.int64)
        d = np.where(body_cols, np.minimum(d, np.maximum(span - 1, 0)), d)
        if mode == "both":
            d[~body_cols] = 0
        new, motion = change_height_aligned(model, self.level, d, mode)
        new = new.with_meta(**pad_column_records(dict(new.meta), motion["pad_lo"],
                                                 new.shape[:2]))
        d = pad_columns(d, motion["pad_lo"], new.shape[:2])
        body_cols = pad_columns(body_cols, motion["pad_lo"], new.shape[:2])
        nx, ny, nz = new.shape
        o = np.asarray(new.origin)
        geo2 = vertebra_geometry(new, self.level)
        zone = np.zeros(new.shape, bool)
        trab = np.isin(new.labels, [Label.CANCELLOUS]) & geo2.body
        for i, j in zip(*np.nonzero(d * body_cols)):
            ks = np.flatnonzero(geo2.body[i, j])
            if ks.size == 0:
                continue
            depth = max(1, 2 * int(d[i, j]) if mode == "superior" else int(d[i, j]))
            if mode == "superior":
                zone[i, j, max(ks[-1] - depth, ks[0]):ks[-1] + 1] = True
            else:
                zone[i, j, ks[-1] - depth:ks[-1] + 1] = True
                zone[i, j, ks[0]:ks[0] + depth + 1] = True
        zone &= trab
        labels = np.array(new.labels)
        labels[zone] = Label.FRACTURE_ZONE
        flds = dict(new.fields)
        if self.damage is not None:
            dm = _field(new, "damage")
            dm[zone] = self.damage
            flds["damage"] = dm
        breach = np.zeros(new.shape, bool)
        if self.cortical_breach:
            shell = geo2.body & np.isin(new.labels, [Label.CORTICAL, Label.ENDPLATE])
            near = face_neighbours(zone)
            Y3 = o[1] + (np.arange(ny) + 0.5) * h
            if self.shape == "wedge":
                side = (Y3 < geo2.centroid_mm[1] - 0.25 * geo2.depth_mm)[None, :, None]
                breach = shell & near & side & (new.labels == Label.CORTICAL)
            elif self.shape == "crush":
                breach = shell & near & (new.labels == Label.CORTICAL)
            else:
                breach = shell & near & (new.labels == Label.ENDPLATE)
            if not breach.any():
                raise InputError(f"cortical_breach=True but the damaged zone of {self.level} "
                                 "does not touch its cortex")
            labels[breach] = Label.FRACTURE_ZONE
            if "cortical_fraction" in flds:
                cf = np.array(flds["cortical_fraction"])
                cf[breach] = 0.0
                flds["cortical_fraction"] = cf
        record = {"grade": int(self.grade), "shape": self.shape, "height_loss_fraction": float(loss),
                  "height_loss_mm_max": float(d.max() * h), "mode": mode,
                  "loss_voxels": d * body_cols, "restored_voxels": np.zeros_like(d),
                  "damaged_zone_mm3": float(zone.sum() * h ** 3),
                  "cortical_breach_mm3": float(breach.sum() * h ** 3),
                  "body_height_before_mm": H,
                  "tilt_above_deg": motion["tilt_deg"], "shift_above_mm": motion["shift_mm"],
                  "hinge_mm": motion["hinge_mm"]}
        meta = _meta_update(new, "fractures", self.level, record)
        meta["conditions"] = list(meta.get("conditions") or []) + [{
            "kind": "osteoporotic_fracture", "level": self.level, "grade": int(self.grade),
            "shape": self.shape, "height_loss_fraction": float(loss),
            "cortical_breach": bool(self.cortical_breach)}]
        return _replace(new, labels=labels, fields=flds, meta=meta)
