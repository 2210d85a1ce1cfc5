"""Spec-to-object factories of a case: the healthy geometry of a model spec (cached per
process), a model from CT, bone quality, conditions, cement, treatments and the
material registry."""
from __future__ import annotations

import json
from collections import OrderedDict

from ..errors import InputError

_GEOMETRY_CACHE: "OrderedDict[str, object]" = OrderedDict()
_GEOMETRY_CACHE_SIZE = 3


def build_geometry(model_spec: dict):
    """The healthy labelled model of a model spec (segment, vertebra, vertebra with caps
    or CT), cached per process by its geometry keys (models are immutable)."""
    geo_keys = {k: v for k, v in model_spec.items() if k not in ("bone", "materials")}
    key = json.dumps(geo_keys, sort_keys=True)
    if key in _GEOMETRY_CACHE:
        _GEOMETRY_CACHE.move_to_end(key)
        return _GEOMETRY_CACHE[key]
    kind = model_spec["kind"]
    h = model_spec.get("voxel_size_mm")

    def given(*keys):                       # the builders' signatures hold the defaults
        return {k: model_spec[k] for k in keys if k in model_spec}
    if kind == "segment":
        from ..meshes.segment import build_segment
        model = build_segment(model_spec["levels"], h, **given("lordosis", "posterior_elements"))
    elif kind == "vertebra":
        from ..meshes.vertebra import build_vertebra
        model = build_vertebra(model_spec["level"], h, **given("posterior_elements"))
    elif kind == "vertebra_with_caps":
        from ..meshes.vertebra import build_vertebral_body_with_caps
        model = build_vertebral_body_with_caps(
            model_spec["level"], h, **given("cap_thickness_mm", "cap_margin_mm",
                                            "posterior_elements"))
    elif kind == "ct":
        model = _ct_model(model_spec)
    else:
        raise InputError(f"unknown model kind {kind!r}")
    _GEOMETRY_CACHE[key] = model
    while len(_GEOMETRY_CACHE) > _GEOMETRY_CACHE_SIZE:
        _GEOMETRY_CACHE.popitem(last=False)
    return model


def _ct_model(spec: dict):
    from ..meshes.ct import bonelab_label_map, model_from_ct, read_ct
    from ..meshes.calibration import LinearCalibration, read_calibration_file
    from ..meshes.labels import Label
    ct = read_ct(spec["image"], units=spec.get("units", "HU"))
    labels = read_ct(spec["labels"], units="label") if spec.get("labels") else None
    label_map = None
    lm = spec.get("label_map")
    if lm == "bonelab":
        label_map = bonelab_label_map(spec.get("ct_level", "L2"))
    elif isinstance(lm, dict):
        label_map = {}
        for value, (lab, level) in lm.items():
            if lab == "vertebra":
                label_map[int(value)] = ("vertebra", level)
            else:
                try:
                    label_map[int(value)] = (Label[lab.upper()], level)
                except KeyError:
                    raise InputError(f"label_map: {lab!r} is not a label; labels: "
                                     f"{[l.name.lower() for l in Label]} or 'vertebra'") from None
    calibration = None
    if spec.get("calibration"):
        c = spec["calibration"]
        calibration = LinearCalibration(c["slope_mg_cm3_per_HU"], c.get("intercept_mg_cm3", 0.0))
    elif spec.get("calibration_file"):
        calibration = read_calibration_file(spec["calibration_file"])
    kw = {}
    if "cap_modulus_MPa" in spec:
        kw["cap_modulus_MPa"] = spec["cap_modulus_MPa"]
    return model_from_ct(ct, labels, h=spec.get("voxel_size_mm"), label_map=label_map,
                         calibration=calibration, law=spec.get("law"), **kw)


def apply_bone(model, bone: dict):
    """Bone quality of the model spec: BoneDensity (vBMD) or the osteoporosis rule."""
    from ..conditions import BoneDensity, OsteoporosisRule, apply_condition
    if not bone:
        return model
    if "vbmd_mg_cm3" in bone:
        kw = {k: bone[k] for k in ("law", "cortical_thinning") if k in bone}
        return apply_condition(model, BoneDensity(bone["vbmd_mg_cm3"], **kw))
    kw = {k: bone[k] for k in ("cortical_factor", "cancellous_factor") if k in bone}
    return apply_condition(model, OsteoporosisRule(**kw))


def condition_object(c: dict):
    """The biomech.conditions object of a condition dict (``kind`` + keywords)."""
    from ..conditions import condition_from_dict
    return condition_from_dict(c)


def cement_object(d: dict):
    """The Cement of a resolved cement dict (all fields)."""
    from ..cement import Cement
    return Cement.from_dict(d)


def treatment_object(t: dict):
    """The treatment plan (Vertebroplasty, Kyphoplasty) of a treatment dict."""
    from ..treatments.plans import treatment_from_dict
    return treatment_from_dict(t)


def apply_treatment(model, t: dict):
    """Run one treatment dict; returns the TreatmentResult."""
    return treatment_object(t).apply(model)


def registry_for(model_spec: dict):
    """The default registry with the study file's ``[model.materials]`` overrides.  A CT
    model's own overrides (cap modulus, bone nu) are applied on top of it by the material
    rule (:func:`biomech.materials.properties.model_registry`)."""
    from ..materials import default_registry
    return default_registry().with_overrides(model_spec.get("materials"), source="study file")
