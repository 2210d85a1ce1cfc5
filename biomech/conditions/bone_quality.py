"""Bone quality conditions: trabecular vBMD (:class:`BoneDensity`), the named osteoporosis
rule (:class:`OsteoporosisRule`) and calibrated CT (:class:`BoneFromCT`), with the clinical
vBMD category and the cortical thinning factor.

* :class:`BoneDensity` -- trabecular vBMD [mg/cm^3] (clinical QCT categories, ACR: normal
  > 120, osteopenia 80-120, osteoporosis < 80) written as the QCT-equivalent density field
  ``density_g_cm3`` (the density-modulus law of :mod:`biomech.materials` turns it into E)
  and ``bvtv``; with ``cortical_thinning`` the shell modulus-thickness product follows the
  cortical moduli 12000 / 8350 / 4700 MPa used for normal / osteopenic / osteoporotic bone
  (PMC12452785 Table 3), anchored at vBMD 120 / 100 / 60 mg/cm^3 (anchors: assumption).
* :class:`OsteoporosisRule` -- the named "cortical x0.67, cancellous x0.34" rule (Polikeit,
  Nolte & Ferguson, J Biomech 2004; J Orthop Surg Res 2020 Table 1 uses the same factors).
* :class:`BoneFromCT` -- calibrated CT (HU -> mg/cm^3, linear phantom calibration).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..describe import Described, param
from ..errors import InputError
from ..materials import DEFAULT_DENSITY_LAW, TISSUE_MINERAL_DENSITY_G_CM3, get_law
from ..meshes.labels import Label
from ..validation import ListOf, Str
from .anatomy import TRABECULAR_TISSUE
from .editing import _field, _levels_mask, _meta_update, _replace


def vbmd_category(vbmd_mg_cm3: float) -> str:
    """Clinical QCT category of trabecular spine vBMD (ACR): normal > 120, osteopenia
    80-120, osteoporosis < 80 mg/cm^3."""
    v = float(vbmd_mg_cm3)
    if v > 120.0:
        return "normal"
    if v >= 80.0:
        return "osteopenia"
    return "osteoporosis"


_CORT_ANCHORS_VBMD = (60.0, 100.0, 120.0)
_CORT_ANCHORS_FACTOR = (4700.0 / 12000.0, 8350.0 / 12000.0, 1.0)
_POST_ANCHORS_FACTOR = (2800.0 / 3500.0, 3150.0 / 3500.0, 1.0)


def cortical_thinning_factor(vbmd_mg_cm3: float) -> float:
    """Shell modulus-thickness factor [-] at a trabecular vBMD (piecewise linear through
    (60, 0.392), (100, 0.696), (120, 1.0); clamped outside)."""
    return float(np.interp(vbmd_mg_cm3, _CORT_ANCHORS_VBMD, _CORT_ANCHORS_FACTOR))


def _density_laws():
    from ..materials.density_laws import DENSITY_LAWS
    return tuple(DENSITY_LAWS)


@dataclass(frozen=True)
class BoneDensity(Described):
    """Trabecular bone quality from a QCT vBMD [mg/cm^3] through a density-modulus law.

    Writes ``density_g_cm3`` (= vBMD / 1000) and ``bvtv`` (= density / 1.05 g/cm^3) on the
    trabecular voxels, sets ``meta["density_law"]``; with ``cortical_thinning`` multiplies
    ``cortical_fraction`` (or ``shell_E_factor`` when there is none) by
    :func:`cortical_thinning_factor` and the posterior elements' ``E_factor`` by the
    pedicle ratios of PMC12452785 Table 3 (3500 / 3150 / 2800 MPa)."""

    vbmd_mg_cm3: float = param(unit="mg/cm3", range=(5.0, 400.0),
                               doc="trabecular vBMD")
    law: str = param(DEFAULT_DENSITY_LAW, choices=_density_laws, doc="density-modulus law")
    cortical_thinning: bool = param(True, doc="thin the cortex with the vBMD")
    levels: tuple | None = param(None, spec=lambda: ListOf(Str(what="a vertebra of the model"), 1),
                                doc="vertebrae it applies to (default: all)")

    KIND: ClassVar[str] = "bone_density"

    def describe(self) -> str:
        return f"vBMD {self.vbmd_mg_cm3:g} mg/cm3"

    def apply(self, model):
        v = self.vbmd_mg_cm3                       # vBMD and law checked when made (validate)
        sel, names = _levels_mask(model, self.levels)
        trab = sel & np.isin(model.labels, [int(l) for l in TRABECULAR_TISSUE + (Label.COMPACTED,)])
        shell = sel & np.isin(model.labels, [Label.CORTICAL, Label.ENDPLATE])
        rho = _field(model, "density_g_cm3")
        bv = _field(model, "bvtv")
        rho[trab | shell] = v / 1000.0
        bv[trab | shell] = v / 1000.0 / TISSUE_MINERAL_DENSITY_G_CM3
        flds = dict(model.fields)
        flds["density_g_cm3"] = rho
        flds["bvtv"] = bv
        if self.cortical_thinning:
            fac = cortical_thinning_factor(v)
            if "cortical_fraction" in flds:
                cf = np.array(flds["cortical_fraction"])
                cf[shell] *= fac
                flds["cortical_fraction"] = cf
            else:
                sf = _field(model, "shell_E_factor", 1.0)
                sf[shell] *= fac
                flds["shell_E_factor"] = sf
            post = sel & (model.labels == Label.POSTERIOR)
            ef = _field(model, "E_factor", 1.0)
            ef[post] *= float(np.interp(v, _CORT_ANCHORS_VBMD, _POST_ANCHORS_FACTOR))
            flds["E_factor"] = ef
        meta = _meta_update(model, "conditions", None, {
            "kind": "bone_density", "vbmd_mg_cm3": float(v), "category": vbmd_category(v),
            "law": self.law, "cortical_thinning": bool(self.cortical_thinning), "levels": names},
            append=True)
        meta["density_law"] = self.law
        return _replace(model, fields=flds, meta=meta)


@dataclass(frozen=True)
class OsteoporosisRule(Described):
    """The named rule "cortical x0.67, cancellous x0.34" (Polikeit, Nolte & Ferguson,
    J Biomech 2004): multiplies the shell modulus (``shell_E_factor``) and the trabecular
    modulus (``E_factor``) of the chosen vertebrae."""

    cortical_factor: float = param(0.67, range=(0.0, 1.0), lo_open=True,
                                   doc="factor on the shell modulus")
    cancellous_factor: float = param(0.34, range=(0.0, 1.0), lo_open=True,
                                     doc="factor on the trabecular modulus")
    levels: tuple | None = param(None, spec=lambda: ListOf(Str(what="a vertebra of the model"), 1),
                                doc="vertebrae it applies to (default: all)")

    KIND: ClassVar[str] = "osteoporosis_rule"

    def describe(self) -> str:
        return "osteoporosis rule"

    def apply(self, model):
        sel, names = _levels_mask(model, self.levels)
        shell = sel & np.isin(model.labels, [Label.CORTICAL, Label.ENDPLATE])
        trab = sel & np.isin(model.labels, [int(l) for l in TRABECULAR_TISSUE + (Label.COMPACTED,)])
        sf = _field(model, "shell_E_factor", 1.0)
        ef = _field(model, "E_factor", 1.0)
        sf[shell] *= self.cortical_factor
        ef[trab | shell] *= self.cancellous_factor
        flds = dict(model.fields)
        flds["shell_E_factor"] = sf
        flds["E_factor"] = ef
        meta = _meta_update(model, "conditions", None, {
            "kind": "osteoporosis_rule", "cortical_factor": self.cortical_factor,
            "cancellous_factor": self.cancellous_factor, "levels": names}, append=True)
        return _replace(model, fields=flds, meta=meta)


@dataclass(frozen=True)
class BoneFromCT:
    """Trabecular density from calibrated CT: vBMD [mg/cm^3] = slope * HU + intercept
    (phantom calibration, linear up to 1750 mg/cm^3: Crookshank 2014).  ``hu`` is an
    (nx, ny, nz) array registered to the model, or None to read the field ``ct_HU``."""

    slope_mg_cm3_per_HU: float
    intercept_mg_cm3: float = 0.0
    hu: object = None
    law: str = DEFAULT_DENSITY_LAW
    levels: tuple | None = None

    def apply(self, model):
        from ..meshes.calibration import LinearCalibration
        calibration = LinearCalibration(self.slope_mg_cm3_per_HU, self.intercept_mg_cm3)
        get_law(self.law)
        if self.hu is None:
            if "ct_HU" not in model.fields:
                raise InputError("BoneFromCT needs hu=(nx, ny, nz) array or a model field 'ct_HU'")
            hu = np.asarray(model.fields["ct_HU"], dtype=np.float64)
        else:
            hu = np.asarray(self.hu, dtype=np.float64)
        if hu.shape != model.shape:
            raise InputError(f"CT array shape {hu.shape} differs from the model grid {model.shape}")
        sel, names = _levels_mask(model, self.levels)
        trab = sel & np.isin(model.labels, [int(l) for l in TRABECULAR_TISSUE + (Label.COMPACTED,)])
        vbmd = np.clip(calibration.density_mg_cm3(hu), 0.0, 1750.0)
        rho = _field(model, "density_g_cm3")
        bv = _field(model, "bvtv")
        rho[trab] = vbmd[trab] / 1000.0
        bv[trab] = np.clip(rho[trab] / TISSUE_MINERAL_DENSITY_G_CM3, 0.0, 1.0)
        flds = dict(model.fields)
        flds["density_g_cm3"] = rho
        flds["bvtv"] = bv
        meta = _meta_update(model, "conditions", None, {
            "kind": "bone_from_ct", "slope_mg_cm3_per_HU": self.slope_mg_cm3_per_HU,
            "intercept_mg_cm3": self.intercept_mg_cm3, "law": self.law,
            "mean_vbmd_mg_cm3": float(vbmd[trab].mean()) if trab.any() else None,
            "levels": names}, append=True)
        meta["density_law"] = self.law
        return _replace(model, fields=flds, meta=meta)
