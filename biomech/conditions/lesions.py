"""Lesions of one vertebra: metastases (lytic, blastic or mixed, by location and size, with
destruction of the posterior wall or an endplate) and vertebral haemangioma (angioma)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..describe import Described, param
from ..errors import InputError
from ..materials import TISSUE_MINERAL_DENSITY_G_CM3
from ..meshes.labels import Label
from ..validation import Str
from .anatomy import TRABECULAR_TISSUE, VertebraGeometry, vertebra_geometry
from .editing import _field, _meta_update, _replace

LESION_KINDS = ("lytic", "blastic", "mixed")
LESION_LOCATIONS = ("central", "anterior", "posterior", "lateral_left", "lateral_right",
                    "pedicle_left", "pedicle_right")
#: BV/TV given to blastic (sclerotic) lesions (assumption).
BLASTIC_BVTV = 0.40


def _lesion_centre(geo: VertebraGeometry, location, centre_mm):
    if centre_mm is not None:                  # centre_mm and location checked when made
        return np.asarray(centre_mm, dtype=np.float64)
    c = np.array(geo.centroid_mm, dtype=np.float64)
    if location == "anterior":
        c[1] = geo.anterior_y_mm + 0.25 * geo.depth_mm
    elif location == "posterior":
        c[1] = geo.posterior_y_mm - 0.25 * geo.depth_mm
    elif location in ("lateral_left", "lateral_right"):
        s = geo.left_sign if location == "lateral_left" else -geo.left_sign
        c[0] += s * 0.25 * geo.width_mm
    elif location.startswith("pedicle_"):
        side = location.split("_")[1]
        p = geo.pedicles.get(side)
        if not p:
            raise InputError(f"location {location!r} needs meta['levels'][{geo.level!r}]"
                             f"['pedicles'][{side!r}] (entry_mm, axis, radius_mm)")
        entry = np.asarray(p["entry_mm"], float)
        axis = np.asarray(p["axis"], float)
        t_wall = (geo.posterior_y_mm - entry[1]) / axis[1] if abs(axis[1]) > 1e-9 else 10.0
        c = entry + 0.5 * t_wall * axis
    return c


def _sphere_radius_for(mask_fn, target, rmax):
    lo, hi = 0.0, rmax
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if mask_fn(mid).sum() < target:
            lo = mid
        else:
            hi = mid
    return hi


@dataclass(frozen=True)
class Metastasis(Described):
    """A metastatic lesion of one vertebra.

    kind : "lytic" (LYTIC tissue, no bone), "blastic" (BLASTIC, BV/TV 0.40) or "mixed"
    (lytic core holding half the lesion volume inside a blastic rim); location : one of
    LESION_LOCATIONS or ``centre_mm``; size_mm : sphere diameter [mm] or size_percent : lesion
    volume as a percent of the body volume (one of the two); posterior_wall_destroyed : the
    posterior-wall cortex inside the lesion (radius + one voxel) becomes lesion (a breach into
    the spinal canal); endplate_destroyed : "superior" | "inferior" | "both" likewise.
    The lesion replaces trabecular bone; intact cortex stays unless destroyed.
    """

    level: str = param(spec=lambda: Str(what="a vertebra of the model, e.g. 'L2'"),
                       doc="vertebra")
    kind: str = param("lytic", key="lesion", choices=LESION_KINDS, doc="lesion kind")
    location: str = param("central", choices=LESION_LOCATIONS, doc="lesion centre")
    size_mm: float | None = param(None, unit="mm", range=(1.0, 200.0),
                                  doc="sphere diameter")
    size_percent: float | None = param(None, unit="% of the body volume", range=(0.5, 100.0),
                                       doc="lesion volume")
    posterior_wall_destroyed: bool = param(False, doc="breach into the spinal canal")
    endplate_destroyed: str | None = param(None, choices=("superior", "inferior", "both"),
                                           doc="endplate(s) destroyed")
    centre_mm: tuple | None = param(None, item="vec3", unit="mm", range=(-2000.0, 2000.0),
                                    doc="explicit centre")

    KIND: ClassVar[str] = "metastasis"

    def describe(self) -> str:
        size = (f"{self.size_mm:g} mm" if self.size_mm is not None else
                f"{self.size_percent or 0:g} %")
        extra = " posterior wall destroyed" if self.posterior_wall_destroyed else ""
        return f"{self.kind} metastasis {self.level} {self.location} {size}{extra}"

    def _validate(self):
        """What relates fields (each field's range is checked when made)."""
        if (self.size_mm is None) == (self.size_percent is None):
            raise InputError("give exactly one of size_mm (diameter) or size_percent (of the body "
                             f"volume); got size_mm={self.size_mm!r}, size_percent={self.size_percent!r}")

    def region(self, model):
        """(lesion mask, centre_mm, radius_mm, geometry) before labelling."""
        self._validate()
        geo = vertebra_geometry(model, self.level)
        c = _lesion_centre(geo, self.location, self.centre_mm)
        P = model.centres()
        d2 = ((P - c) ** 2).sum(-1)
        in_level = model.level == geo.level_index
        cand = geo.body & np.isin(model.labels, [int(l) for l in TRABECULAR_TISSUE])
        if self.location.startswith("pedicle_") and self.centre_mm is None:
            cand = cand | (in_level & (model.labels == Label.POSTERIOR))
        if self.size_mm is not None:
            r = 0.5 * float(self.size_mm)
        else:
            target = self.size_percent / 100.0 * geo.body.sum()
            scope = geo.body | (cand & ~geo.body)
            r = _sphere_radius_for(lambda rr: scope & (d2 <= rr * rr), target,
                                   float(np.linalg.norm(geo.hi_mm - geo.lo_mm)))
        region = cand & (d2 <= r * r)
        if not region.any():
            raise InputError(f"the lesion at {tuple(np.round(c, 1))} mm (radius {r:.1f} mm) does not "
                             f"overlap the trabecular bone of {self.level}")
        return region, c, r, geo, d2

    def apply(self, model):
        region, c, r, geo, d2 = self.region(model)
        h = model.h
        labels = np.array(model.labels)
        bv = _field(model, "bvtv")
        rho = _field(model, "density_g_cm3")
        cf = _field(model, "cortical_fraction")
        destroyed = np.zeros(model.shape, bool)
        reach = d2 <= (r + h) ** 2
        if self.posterior_wall_destroyed:
            Y = model.centres()[..., 1]
            wall = geo.body & (model.labels == Label.CORTICAL) & (Y >= geo.posterior_y_mm - 1.5 * h)
            dw = wall & reach
            if not dw.any():
                raise InputError(f"posterior_wall_destroyed=True but the lesion (centre "
                                 f"{tuple(np.round(c, 1))} mm, radius {r:.1f} mm) does not reach the "
                                 f"posterior wall of {self.level} (at y = {geo.posterior_y_mm:.1f} mm); "
                                 "use location='posterior' or a larger size")
            destroyed |= dw
        if self.endplate_destroyed:
            Z = model.centres()[..., 2]
            ends = geo.body & (model.labels == Label.ENDPLATE)
            want = {"superior": Z > geo.centroid_mm[2], "inferior": Z < geo.centroid_mm[2],
                    "both": np.ones(model.shape, bool)}[self.endplate_destroyed]
            de = ends & want & reach
            if not de.any():
                raise InputError(f"endplate_destroyed={self.endplate_destroyed!r} but the lesion does "
                                 f"not reach that endplate of {self.level}")
            destroyed |= de
        lesion = region | destroyed
        if self.kind == "mixed":
            core = lesion & (d2 <= (r * 0.5 ** (1.0 / 3.0)) ** 2)
            lytic, blastic = core | destroyed, lesion & ~core & ~destroyed
        elif self.kind == "lytic":
            lytic, blastic = lesion, np.zeros(model.shape, bool)
        else:
            lytic, blastic = destroyed, region & ~destroyed
        labels[lytic] = Label.LYTIC
        labels[blastic] = Label.BLASTIC
        bv[lytic] = 0.0
        rho[lytic] = 0.0
        bv[blastic] = BLASTIC_BVTV
        rho[blastic] = BLASTIC_BVTV * TISSUE_MINERAL_DENSITY_G_CM3
        cf[destroyed] = 0.0
        flds = dict(model.fields)
        flds["bvtv"] = bv
        if "density_g_cm3" in model.fields:
            flds["density_g_cm3"] = rho
        if "cortical_fraction" in model.fields:
            flds["cortical_fraction"] = cf
        body_mm3 = float(geo.body.sum() * h ** 3)
        record = {"kind": self.kind, "level": self.level, "location": self.location,
                  "centre_mm": tuple(float(v) for v in c), "radius_mm": float(r),
                  "volume_mm3": float(lesion.sum() * h ** 3),
                  "percent_of_body": 100.0 * float(lesion.sum() * h ** 3) / body_mm3,
                  "posterior_wall_destroyed": bool(self.posterior_wall_destroyed),
                  "endplate_destroyed": self.endplate_destroyed,
                  "destroyed_cortex_mm3": float(destroyed.sum() * h ** 3)}
        meta = _meta_update(model, "lesions", None, record, append=True)
        meta["conditions"] = list(meta.get("conditions") or []) + [dict(record, kind="metastasis",
                                                                         lesion_kind=self.kind)]
        return _replace(model, labels=labels, fields=flds, meta=meta)


@dataclass(frozen=True)
class Angioma(Described):
    """Vertebral haemangioma: trabecular voxels in a sphere become ANGIOMA (modulus ratio
    from the registry; ten times the permeability of cancellous bone for cement flow)."""

    level: str = param(spec=lambda: Str(what="a vertebra of the model, e.g. 'L2'"),
                       doc="vertebra")
    location: str = param("central", choices=LESION_LOCATIONS, doc="lesion centre")
    size_mm: float | None = param(None, unit="mm", range=(1.0, 200.0),
                                  doc="sphere diameter")
    size_percent: float | None = param(None, unit="% of the body volume", range=(0.5, 100.0),
                                       doc="lesion volume")
    centre_mm: tuple | None = param(None, item="vec3", unit="mm", range=(-2000.0, 2000.0),
                                    doc="explicit centre")

    KIND: ClassVar[str] = "angioma"

    def describe(self) -> str:
        return f"angioma {self.level}"

    def apply(self, model):
        proxy = Metastasis(self.level, "lytic", self.location, self.size_mm, self.size_percent,
                           centre_mm=self.centre_mm)
        region, c, r, geo, _ = proxy.region(model)
        labels = np.array(model.labels)
        region &= labels != Label.POSTERIOR
        labels[region] = Label.ANGIOMA
        h = model.h
        record = {"kind": "angioma", "level": self.level, "location": self.location,
                  "centre_mm": tuple(float(v) for v in c), "radius_mm": float(r),
                  "volume_mm3": float(region.sum() * h ** 3),
                  "percent_of_body": 100.0 * float(region.sum()) / float(geo.body.sum())}
        meta = _meta_update(model, "lesions", None, record, append=True)
        meta["conditions"] = list(meta.get("conditions") or []) + [record]
        return _replace(model, labels=labels, meta=meta)
