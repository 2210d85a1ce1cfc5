"""Bone conditions: turn a healthy labelled voxel model into a patient.

Every condition is a small frozen dataclass with ``apply(model) -> model`` (models are
immutable); :func:`apply_condition` / :func:`apply_conditions` are the entry points::

    m = apply_conditions(model, BoneDensity(vbmd_mg_cm3=70),
                         OsteoporoticFracture(level="L2", grade=2, shape="wedge"))

Conditions
----------
* :class:`BoneDensity` -- trabecular vBMD [mg/cm^3] (clinical QCT categories, ACR: normal
  > 120, osteopenia 80-120, osteoporosis < 80) written as the QCT-equivalent density field
  ``density_g_cm3`` (the density-modulus law of :mod:`biomech.materials` turns it into E)
  and ``bvtv``; with ``cortical_thinning`` the shell modulus-thickness product follows the
  cortical moduli 12000 / 8350 / 4700 MPa used for normal / osteopenic / osteoporotic bone
  (PMC12452785 Table 3), anchored at vBMD 120 / 100 / 60 mg/cm^3 (anchors: assumption).
* :class:`OsteoporosisRule` -- the named "cortical x0.67, cancellous x0.34" rule (Polikeit,
  Nolte & Ferguson, J Biomech 2004; J Orthop Surg Res 2020 Table 1 uses the same factors).
* :class:`BoneFromCT` -- calibrated CT (HU -> mg/cm^3, linear phantom calibration).
* :class:`OsteoporoticFracture` -- Genant semi-quantitative grade 1-3 (height reduction
  20-25 %, 25-40 %, > 40 %; Genant et al., J Bone Miner Res 8:1137, 1993) and shape (wedge:
  anterior height lost, biconcave: central height lost through both endplates, crush: the
  whole body).  The geometry changes (columns of voxels are shortened; wedge and crush
  lower everything above the collapsed superior endplate, biconcave lets the adjacent
  discs fill the depressions) and a damaged zone is labelled FRACTURE_ZONE.
* :class:`Metastasis` -- lytic, blastic or mixed lesion by centre (central, anterior,
  posterior, lateral_left/right, pedicle_left/right or explicit), size (diameter in mm or
  percent of the body volume) and destruction of the posterior wall or an endplate.
* :class:`Angioma` -- vertebral haemangioma.

Geometry read from the model (the anatomy interface): body extents and centroid are
measured from the labels of the level; ``model.meta["levels"][level]`` gives the
pedicles (``entry_mm``, unit ``axis`` into the body, ``radius_mm``) for the patient's
left/right and pedicle lesions, ``basivertebral_foramen`` and ``canal`` for leak sites.
The anatomy's ``meta["levels"][level]`` keys are read (``pedicles[side]`` with ``entry_mm``,
``direction``, ``pedicle_width_mm``; ``basivertebral_foramen`` with ``centre_mm``,
``radius_mm``; optional ``canal`` with ``centre_mm`` (x, y) and ``half_axes_mm``);
``meta["vertebrae"][level]`` with ``axis``/``radius_mm`` is accepted too.
"""
from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .materials import DEFAULT_DENSITY_LAW, TISSUE_MINERAL_DENSITY_G_CM3, density_law
from .meshes.labels import Label

log = logging.getLogger(__name__)

#: Labels of the vertebral body (bone and what replaces it), used to find the body.
BODY_LABELS = (Label.CORTICAL, Label.CANCELLOUS, Label.ENDPLATE, Label.COMPOSITE, Label.COMPACTED,
               Label.LYTIC, Label.BLASTIC, Label.FRACTURE_ZONE, Label.ANGIOMA, Label.CEMENT)
#: Trabecular tissue a lesion or a damage zone may replace.
TRABECULAR_TISSUE = (Label.CANCELLOUS, Label.FRACTURE_ZONE, Label.ANGIOMA)
#: Genant semi-quantitative grades: (lowest, highest) fractional height reduction.
GENANT_BANDS = {1: (0.20, 0.25), 2: (0.25, 0.40), 3: (0.40, 0.80)}
GENANT_DEFAULT_LOSS = {1: 0.225, 2: 0.325, 3: 0.45}
FRACTURE_SHAPES = ("wedge", "biconcave", "crush")
LESION_KINDS = ("lytic", "blastic", "mixed")
LESION_LOCATIONS = ("central", "anterior", "posterior", "lateral_left", "lateral_right",
                    "pedicle_left", "pedicle_right")
#: BV/TV given to blastic (sclerotic) lesions (assumption).
BLASTIC_BVTV = 0.40


# ----------------------------------------------------------------------------- helpers

def vertebra_levels(model) -> list:
    """Names of the vertebrae in the model (level names without a '-')."""
    return [n for n in model.level_names if "-" not in n]


def check_level(model, level) -> int:
    """Index of vertebra ``level``; InputError listing the vertebrae when unknown."""
    if not isinstance(level, str) or level not in vertebra_levels(model):
        raise InputError(f"unknown level {level!r}; the model has vertebrae {vertebra_levels(model)}")
    return model.level_names.index(level)


def vbmd_category(vbmd_mg_cm3: float) -> str:
    """Clinical QCT category of trabecular spine vBMD (ACR): normal > 120, osteopenia
    80-120, osteoporosis < 80 mg/cm^3."""
    v = float(vbmd_mg_cm3)
    if v > 120.0:
        return "normal"
    if v >= 80.0:
        return "osteopenia"
    return "osteoporosis"


@dataclass(frozen=True)
class VertebraGeometry:
    """Measured geometry of one vertebra (mm); masks are (nx, ny, nz) bool."""

    level: str
    level_index: int
    body: np.ndarray            # vertebral body voxels (shell, trabecular, lesions, cement)
    centroid_mm: np.ndarray     # (3,)
    lo_mm: np.ndarray           # (3,) lower bounds of the body (voxel faces)
    hi_mm: np.ndarray           # (3,) upper bounds
    pedicles: dict
    foramen: dict | None
    canal: dict | None
    left_sign: float            # -1: the patient's left is at smaller x

    @property
    def width_mm(self) -> float:
        return float(self.hi_mm[0] - self.lo_mm[0])

    @property
    def depth_mm(self) -> float:
        return float(self.hi_mm[1] - self.lo_mm[1])

    @property
    def height_mm(self) -> float:
        return float(self.hi_mm[2] - self.lo_mm[2])

    @property
    def anterior_y_mm(self) -> float:
        return float(self.lo_mm[1])

    @property
    def posterior_y_mm(self) -> float:
        return float(self.hi_mm[1])


def vertebra_geometry(model, level: str) -> VertebraGeometry:
    """Measure the body of ``level`` from the labels and read the pedicles, foramen and
    canal from ``model.meta["levels"][level]`` (missing entries are None / {})."""
    li = check_level(model, level)
    in_level = model.level == li
    original = in_level & np.isin(model.labels, [Label.CORTICAL, Label.CANCELLOUS, Label.ENDPLATE])
    if not original.any():
        original = in_level & np.isin(model.labels, [int(l) for l in BODY_LABELS])
    if not original.any():
        raise InputError(f"level {level!r} has no vertebral-body voxels")
    h = model.h
    o = np.asarray(model.origin)
    j_post = np.flatnonzero(original.any(axis=(0, 2)))[-1]
    body = in_level & np.isin(model.labels, [int(l) for l in BODY_LABELS])
    body[:, j_post + 1:, :] = False
    idx = np.argwhere(body)
    lo = o + idx.min(axis=0) * h
    hi = o + (idx.max(axis=0) + 1) * h
    centroid = o + (idx.mean(axis=0) + 0.5) * h
    vmeta = dict((model.meta.get("levels") or {}).get(level)
                 or (model.meta.get("vertebrae") or {}).get(level) or {})
    pedicles = {side: normalise_pedicle(p) for side, p in (vmeta.get("pedicles") or {}).items()}
    left_sign = -1.0
    if "left" in pedicles:
        left_sign = float(np.sign(pedicles["left"]["entry_mm"][0] - centroid[0]) or -1.0)
    elif "right" in pedicles:
        left_sign = -float(np.sign(pedicles["right"]["entry_mm"][0] - centroid[0]) or 1.0)
    return VertebraGeometry(level, li, body, centroid, lo, hi, pedicles,
                            vmeta.get("basivertebral_foramen"), vmeta.get("canal"), left_sign)


def normalise_pedicle(p: dict) -> dict:
    """Pedicle landmarks as {"entry_mm", "axis" (unit, into the body), "radius_mm"} from the
    anatomy's keys (``entry_mm``, ``direction``, ``pedicle_width_mm``, ``pedicle_height_mm``)
    or the short form (``entry_mm``, ``axis``, ``radius_mm``)."""
    axis = np.asarray(p.get("direction", p.get("axis")), dtype=np.float64)
    if axis.shape != (3,) or not np.isfinite(axis).all() or np.linalg.norm(axis) == 0:
        raise InputError(f"pedicle landmarks need a direction (unit vector into the body), got {p!r}")
    if "radius_mm" in p:
        r = float(p["radius_mm"])
    elif "pedicle_width_mm" in p:
        r = 0.5 * min(float(p["pedicle_width_mm"]), float(p.get("pedicle_height_mm", np.inf)))
    else:
        r = 4.0
    return {"entry_mm": tuple(float(v) for v in p["entry_mm"]),
            "axis": tuple(float(v) for v in axis / np.linalg.norm(axis)), "radius_mm": r}


def _meta_update(model, key, level, value, *, append=False):
    """Return meta dict with meta[key][level] = value (or appended to a list)."""
    meta = copy.deepcopy(dict(model.meta))
    if append:
        meta.setdefault(key, [])
        meta[key] = list(meta[key]) + [value]
    else:
        d = dict(meta.get(key) or {})
        d[level] = value
        meta[key] = d
    return meta


def _replace(model, *, labels=None, level=None, fields=None, meta=None):
    import dataclasses
    return dataclasses.replace(
        model,
        labels=model.labels if labels is None else labels,
        level=model.level if level is None else level,
        fields=model.fields if fields is None else fields,
        meta=model.meta if meta is None else meta)


def _field(model, name, default=0.0):
    if name in model.fields:
        return np.array(model.fields[name], dtype=np.float64)
    return np.full(model.shape, default)


def _levels_mask(model, levels):
    names = vertebra_levels(model) if levels is None else list(levels)
    idx = [check_level(model, n) for n in names]
    return np.isin(model.level, idx), names


# ----------------------------------------------------------------------------- bone quality

_CORT_ANCHORS_VBMD = (60.0, 100.0, 120.0)
_CORT_ANCHORS_FACTOR = (4700.0 / 12000.0, 8350.0 / 12000.0, 1.0)
_POST_ANCHORS_FACTOR = (2800.0 / 3500.0, 3150.0 / 3500.0, 1.0)


def cortical_thinning_factor(vbmd_mg_cm3: float) -> float:
    """Shell modulus-thickness factor [-] at a trabecular vBMD (piecewise linear through
    (60, 0.392), (100, 0.696), (120, 1.0); clamped outside)."""
    return float(np.interp(vbmd_mg_cm3, _CORT_ANCHORS_VBMD, _CORT_ANCHORS_FACTOR))


@dataclass(frozen=True)
class BoneDensity:
    """Trabecular bone quality from a QCT vBMD [mg/cm^3] through a density-modulus law.

    Writes ``density_g_cm3`` (= vBMD / 1000) and ``bvtv`` (= density / 1.05 g/cm^3) on the
    trabecular voxels, sets ``meta["density_law"]``; with ``cortical_thinning`` multiplies
    ``cortical_fraction`` (or ``shell_E_factor`` when there is none) by
    :func:`cortical_thinning_factor` and the posterior elements' ``E_factor`` by the
    pedicle ratios of PMC12452785 Table 3 (3500 / 3150 / 2800 MPa)."""

    vbmd_mg_cm3: float
    law: str = DEFAULT_DENSITY_LAW
    cortical_thinning: bool = True
    levels: tuple | None = None

    def apply(self, model):
        v = self.vbmd_mg_cm3
        if not (isinstance(v, (int, float)) and math.isfinite(v) and 0.0 < v <= 400.0):
            raise InputError(f"vbmd_mg_cm3 must be a trabecular vBMD in (0, 400] mg/cm^3, got {v!r}")
        density_law(self.law)
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
class OsteoporosisRule:
    """The named rule "cortical x0.67, cancellous x0.34" (Polikeit, Nolte & Ferguson,
    J Biomech 2004): multiplies the shell modulus (``shell_E_factor``) and the trabecular
    modulus (``E_factor``) of the chosen vertebrae."""

    cortical_factor: float = 0.67
    cancellous_factor: float = 0.34
    levels: tuple | None = None

    def apply(self, model):
        for name, f in (("cortical_factor", self.cortical_factor),
                        ("cancellous_factor", self.cancellous_factor)):
            if not (isinstance(f, (int, float)) and 0.0 < f <= 1.0):
                raise InputError(f"{name} must lie in (0, 1], got {f!r}")
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
        if not (isinstance(self.slope_mg_cm3_per_HU, (int, float)) and self.slope_mg_cm3_per_HU > 0):
            raise InputError(f"slope_mg_cm3_per_HU must be > 0, got {self.slope_mg_cm3_per_HU!r}")
        density_law(self.law)
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
        vbmd = np.clip(self.slope_mg_cm3_per_HU * hu + self.intercept_mg_cm3, 0.0, 1750.0)
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


# ----------------------------------------------------------------------------- column remap

def _resample(new_len: int, old_lo: int, old_len: int) -> np.ndarray:
    """Nearest-neighbour source indices of a segment resampled from old_len to new_len
    (the first and last layers always survive)."""
    t = (np.arange(new_len) + 0.5) * (old_len / new_len)
    out = old_lo + np.minimum(t.astype(np.int64), old_len - 1)
    if new_len >= 2:                  # keep both end layers (endplates, cartilage) in place
        out[0] = old_lo
        out[-1] = old_lo + old_len - 1
    return out


def change_body_height(model, level: str, delta_vox, mode: str = "superior"):
    """Shorten (delta > 0) or lengthen (delta < 0) the body columns of ``level``.

    delta_vox : (nx, ny) int -- voxels removed per column (negative: added).
    mode "superior": the body column is resampled to its new length from its inferior end
    and everything above the body moves down by delta (columns outside the body: what lies
    above the top of the body); "both": the body loses delta/2 at each end and the discs
    next to it stretch into the space (what lies beyond the discs does not move).
    Trabecular voxels that the remap leaves facing void or disc (stair steps between
    neighbouring columns) become bony endplate, so no opening appears that was not there.
    Returns the new model (labels, level and every field are remapped the same way).
    """
    geo = vertebra_geometry(model, level)
    d = np.asarray(delta_vox, dtype=np.int64)
    nx, ny, nz = model.shape
    if d.shape != (nx, ny):
        raise InputError(f"delta_vox must have shape {(nx, ny)}, got {d.shape}")
    if mode not in ("superior", "both"):
        raise InputError(f"mode must be 'superior' or 'both', got {mode!r}")
    src = np.broadcast_to(np.arange(nz), (nx, ny, nz)).copy()
    void = np.zeros((nx, ny, nz), bool)
    body = geo.body
    k_top_all = int(np.flatnonzero(body.any(axis=(0, 1)))[-1])
    disc = np.isin(model.labels, [Label.NUCLEUS, Label.ANNULUS, Label.CARTILAGE_ENDPLATE])
    for i, j in zip(*np.nonzero(d)):
        dv = int(d[i, j])
        ks = np.flatnonzero(body[i, j])
        col = np.arange(nz)
        if ks.size == 0:
            if mode == "superior":
                cut = k_top_all + 1
                new = col.copy()
                new[cut:] = col[cut:] + dv
                if dv < 0:                      # lifted: the gap opened above the cut is void
                    new[cut:cut - dv] = -1
                src[i, j] = new
            continue
        k0, k1 = int(ks[0]), int(ks[-1])
        n = k1 - k0 + 1
        if mode == "superior":
            n_new = n - dv
            if n_new < 1:
                raise InputError(f"height change of {dv} voxels leaves column ({i},{j}) of {level} "
                                 f"with {n_new} voxels")
            new = col.copy()
            new[k0:k0 + n_new] = _resample(n_new, k0, n)
            new[k0 + n_new:] = col[k0 + n_new:] + dv
            src[i, j] = new
        else:
            top = int(math.ceil(dv / 2)) if dv > 0 else -int(math.ceil(-dv / 2))
            bot = dv - top
            n_new = n - dv
            if n_new < 1:
                raise InputError(f"height change of {dv} voxels leaves column ({i},{j}) of {level} "
                                 f"with {n_new} voxels")
            new = col.copy()
            new[k0 + bot:k1 - top + 1] = _resample(n_new, k0, n)
            # disc above: from k1+1 up to the last contiguous disc voxel
            ka = k1 + 1
            while ka < nz and disc[i, j, ka]:
                ka += 1
            old_len = ka - (k1 + 1)
            new_len = ka - (k1 - top + 1)
            if old_len > 0 and new_len > 0:
                new[k1 - top + 1:ka] = _resample(new_len, k1 + 1, old_len)
            elif new_len > 0:
                new[k1 - top + 1:ka] = -1
            kb = k0 - 1
            while kb >= 0 and disc[i, j, kb]:
                kb -= 1
            old_len = k0 - (kb + 1)
            new_len = (k0 + bot) - (kb + 1)
            if old_len > 0 and new_len > 0:
                new[kb + 1:k0 + bot] = _resample(new_len, kb + 1, old_len)
            elif new_len > 0:
                new[kb + 1:k0 + bot] = -1
            src[i, j] = new
    lost = (src >= nz) | (src < 0)
    void |= lost
    srcc = np.clip(src, 0, nz - 1)
    dropped_top = np.zeros((nx, ny), bool)
    for i, j in zip(*np.nonzero(d < 0)):
        # rows pushed out of the grid at the top
        dv = -int(d[i, j])
        dropped_top[i, j] = (model.labels[i, j, nz - dv:] != Label.VOID).any()
    if dropped_top.any():
        log.warning("height gain pushed non-void voxels out of the top of the grid in %d columns",
                    int(dropped_top.sum()))

    def remap(arr, fill):
        out = np.take_along_axis(np.asarray(arr), srcc, axis=2).copy()
        out[void] = fill
        return out

    labels = remap(model.labels, Label.VOID)
    lev = remap(model.level, -1)
    flds = {k: remap(v, 0.0) for k, v in model.fields.items()}
    _close_shell(model, labels, lev, flds, geo.level_index)
    return _replace(model, labels=labels, level=lev, fields=flds)


def exposed_trabecular(labels, level, level_index) -> np.ndarray:
    """Trabecular voxels of a level with a face neighbour outside the bone (void or disc)."""
    inter = (level == level_index) & np.isin(labels, [int(l) for l in TRABECULAR_TISSUE]
                                             + [Label.LYTIC, Label.BLASTIC, Label.COMPACTED])
    out = np.isin(labels, [Label.VOID, Label.NUCLEUS, Label.ANNULUS, Label.CARTILAGE_ENDPLATE])
    nb = np.zeros(labels.shape, bool)
    for ax in range(3):
        a = [slice(None)] * 3
        b = [slice(None)] * 3
        a[ax] = slice(1, None)
        b[ax] = slice(None, -1)
        nb[tuple(a)] |= out[tuple(b)]
        nb[tuple(b)] |= out[tuple(a)]
    return inter & nb


def _close_shell(old_model, labels, level, flds, level_index):
    """Close the shell where a column remap exposed trabecular bone (one-voxel stair steps
    between neighbouring columns): such voxels become bony endplate with the level's median
    endplate ``cortical_fraction``.  Openings that existed before (foramen, lesions) stay."""
    before = int(exposed_trabecular(old_model.labels, old_model.level, level_index).sum())
    exposed = exposed_trabecular(labels, level, level_index)
    if "basivertebral_foramen" in flds:
        exposed &= ~(np.asarray(flds["basivertebral_foramen"]) > 0.5)
    exposed &= labels != Label.LYTIC
    if not exposed.any():
        return
    labels[exposed] = Label.ENDPLATE
    if "cortical_fraction" in flds:
        cf = flds["cortical_fraction"]
        ends = (labels == Label.ENDPLATE) & (level == level_index) & ~exposed & (cf > 0)
        cf[exposed] = float(np.median(cf[ends])) if ends.any() else 1.0
    log.debug("closed %d exposed trabecular voxels (before: %d exposed)", int(exposed.sum()), before)


# ----------------------------------------------------------------------------- fracture

@dataclass(frozen=True)
class OsteoporoticFracture:
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

    level: str
    grade: int
    shape: str = "wedge"
    height_loss: float | None = None
    damage: float | None = None
    cortical_breach: bool = False

    def apply(self, model):
        li = check_level(model, self.level)
        if self.grade not in GENANT_BANDS:
            raise InputError(f"Genant grade must be 1, 2 or 3, got {self.grade!r}")
        if self.shape not in FRACTURE_SHAPES:
            raise InputError(f"fracture shape must be one of {FRACTURE_SHAPES}, got {self.shape!r}")
        lo, hi = GENANT_BANDS[self.grade]
        loss = GENANT_DEFAULT_LOSS[self.grade] if self.height_loss is None else self.height_loss
        if not (isinstance(loss, (int, float)) and lo <= loss <= hi):
            raise InputError(f"height_loss for Genant grade {self.grade} must lie in "
                             f"[{lo}, {hi}] (fraction of body height), got {loss!r}")
        if self.damage is not None and not (0.0 <= self.damage < 1.0):
            raise InputError(f"damage must lie in [0, 1), got {self.damage!r}")
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
        new = change_body_height(model, self.level, d, mode)
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
            near = np.zeros(new.shape, bool)
            near[1:] |= zone[:-1]
            near[:-1] |= zone[1:]
            near[:, 1:] |= zone[:, :-1]
            near[:, :-1] |= zone[:, 1:]
            near[:, :, 1:] |= zone[:, :, :-1]
            near[:, :, :-1] |= zone[:, :, 1:]
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
                  "body_height_before_mm": H}
        meta = _meta_update(new, "fractures", self.level, record)
        meta["conditions"] = list(meta.get("conditions") or []) + [{
            "kind": "osteoporotic_fracture", "level": self.level, "grade": int(self.grade),
            "shape": self.shape, "height_loss_fraction": float(loss),
            "cortical_breach": bool(self.cortical_breach)}]
        return _replace(new, labels=labels, fields=flds, meta=meta)


# ----------------------------------------------------------------------------- lesions

def _lesion_centre(geo: VertebraGeometry, location, centre_mm):
    if centre_mm is not None:
        c = np.asarray(centre_mm, dtype=np.float64)
        if c.shape != (3,) or not np.isfinite(c).all():
            raise InputError(f"centre_mm must be three finite numbers, got {centre_mm!r}")
        return c
    if location not in LESION_LOCATIONS:
        raise InputError(f"location must be one of {LESION_LOCATIONS} or an explicit centre_mm, "
                         f"got {location!r}")
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
class Metastasis:
    """A metastatic lesion of one vertebra.

    kind : "lytic" (LYTIC tissue, no bone), "blastic" (BLASTIC, BV/TV 0.40) or "mixed"
    (lytic core holding half the lesion volume inside a blastic rim); location : one of
    LESION_LOCATIONS or ``centre_mm``; size_mm : sphere diameter [mm] or size_percent : lesion
    volume as a percent of the body volume (one of the two); posterior_wall_destroyed : the
    posterior-wall cortex inside the lesion (radius + one voxel) becomes lesion (a breach into
    the spinal canal); endplate_destroyed : "superior" | "inferior" | "both" likewise.
    The lesion replaces trabecular bone; intact cortex stays unless destroyed.
    """

    level: str
    kind: str = "lytic"
    location: str = "central"
    size_mm: float | None = None
    size_percent: float | None = None
    posterior_wall_destroyed: bool = False
    endplate_destroyed: str | None = None
    centre_mm: tuple | None = None

    def _validate(self):
        if self.kind not in LESION_KINDS:
            raise InputError(f"lesion kind must be one of {LESION_KINDS}, got {self.kind!r}")
        if (self.size_mm is None) == (self.size_percent is None):
            raise InputError("give exactly one of size_mm (diameter) or size_percent (of the body "
                             f"volume); got size_mm={self.size_mm!r}, size_percent={self.size_percent!r}")
        if self.size_mm is not None and not (isinstance(self.size_mm, (int, float)) and self.size_mm > 0):
            raise InputError(f"size_mm must be > 0, got {self.size_mm!r}")
        if self.size_percent is not None and not (isinstance(self.size_percent, (int, float))
                                                  and 0 < self.size_percent <= 100):
            raise InputError(f"size_percent must lie in (0, 100], got {self.size_percent!r}")
        if self.endplate_destroyed not in (None, "superior", "inferior", "both"):
            raise InputError("endplate_destroyed must be None, 'superior', 'inferior' or 'both', "
                             f"got {self.endplate_destroyed!r}")

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
class Angioma:
    """Vertebral haemangioma: trabecular voxels in a sphere become ANGIOMA (modulus ratio
    from the registry; ten times the permeability of cancellous bone for cement flow)."""

    level: str
    location: str = "central"
    size_mm: float | None = None
    size_percent: float | None = None
    centre_mm: tuple | None = None

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


# ----------------------------------------------------------------------------- entry points

def apply_condition(model, condition):
    """Apply one condition; returns a new model."""
    if not hasattr(condition, "apply"):
        raise InputError(f"{condition!r} is not a condition (BoneDensity, OsteoporosisRule, "
                         "BoneFromCT, OsteoporoticFracture, Metastasis, Angioma)")
    return condition.apply(model)


def apply_conditions(model, *conditions):
    """Apply conditions in order; returns a new model."""
    for cnd in conditions:
        model = apply_condition(model, cnd)
    return model


def is_intact(model, level: str) -> bool:
    """True when ``level`` has no recorded fracture, lesion or treatment."""
    if level in (model.meta.get("fractures") or {}):
        return False
    if any(rec.get("level") == level for rec in (model.meta.get("lesions") or [])):
        return False
    if any(rec.get("level") == level for rec in (model.meta.get("treatments") or [])):
        return False
    return True
