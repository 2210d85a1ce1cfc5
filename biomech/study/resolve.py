"""Resolution of a checked case: model defaults by kind and CT file hashes, load
cases, cements as full formulations, conditions and treatments -> :class:`CaseSpec`."""
from __future__ import annotations

from pathlib import Path

from ..errors import InputError, MaterialError
from ..io.files import sha256_path
from ..validation import _Bad, _join, _kinded_check
from .schema import (_COMMON_MODEL_KEYS, _KIND_KEYS, DEFAULT_VOXEL_SIZE_MM, _condition_schemas,
                     _model_schema, _treatment_schemas)
from .spec import CaseSpec
from .sweeps import _deep_merge, _value_text

def _resolve_model(model: dict, key: str, base_dir: Path) -> dict:
    """Fill defaults by kind, reject keys of other kinds, hash CT files."""
    kind = model.get("kind", "segment")
    allowed = _COMMON_MODEL_KEYS | _KIND_KEYS[kind]
    for k in model:
        if k not in allowed:
            owners = [kk for kk, keys in _KIND_KEYS.items() if k in keys]
            raise _Bad(_join(key, k), f"does not apply to kind {kind!r} (it is a key of "
                                      f"{owners}); keys of {kind!r}: {sorted(allowed)}")
    out = {"kind": kind}
    if kind == "segment":
        from ..meshes.morphometry import contiguous_levels
        try:
            out["levels"] = list(contiguous_levels(model.get("levels", ["L1", "L2", "L3"])))
        except InputError as exc:
            raise _Bad(_join(key, "levels"), str(exc)) from None
        out["lordosis"] = model.get("lordosis", False)
        out["posterior_elements"] = model.get("posterior_elements", True)
    elif kind in ("vertebra", "vertebra_with_caps"):
        out["level"] = model.get("level", "L2")
        out["posterior_elements"] = model.get("posterior_elements", kind == "vertebra")
        if kind == "vertebra_with_caps":
            from ..describe import signature_default
            from ..meshes.vertebra import build_vertebral_body_with_caps as caps
            for k in ("cap_thickness_mm", "cap_margin_mm"):
                out[k] = model.get(k, signature_default(caps, k))
    else:
        if "image" not in model:
            raise _Bad(_join(key, "image"), "is required for kind 'ct'")
        for k in ("units", "label_map", "ct_level", "calibration", "law", "cap_modulus_MPa"):
            if k in model:
                out[k] = model[k]
        out.setdefault("units", "HU")
        if "cap_modulus_MPa" in out:                # the registry's PMMA range, one wording
            from ..materials import default_registry
            try:
                default_registry().override("pmma_cap", E_MPa=out["cap_modulus_MPa"])
            except MaterialError as exc:
                raise _Bad(_join(key, "cap_modulus_MPa"), str(exc)) from None
        files = {}
        for k in ("image", "labels", "calibration_file"):
            if k in model:
                p = Path(model[k])
                p = p if p.is_absolute() else (base_dir / p)
                if not p.exists():
                    raise _Bad(_join(key, k), f"{str(p)!r} does not exist")
                out[k] = str(p.resolve())
                files[k] = sha256_path(p)
        out["files_sha256"] = files
        if isinstance(out.get("label_map"), dict):
            from ..meshes.labels import Label
            names = [lab.name.lower() for lab in Label] + ["vertebra"]
            for value, (lab, _level) in out["label_map"].items():
                if not value.isdigit() or lab not in names:
                    raise _Bad(_join(_join(key, "label_map"), value),
                               f"must map a whole number to [label, level] with a label of "
                               f"{names}, got {value!r} = {[lab, _level]!r}")
        if "labels" in out and "label_map" not in out:
            raise _Bad(_join(key, "label_map"), "is required with labels ('bonelab' or a table)")
        if out["units"] == "HU" and "law" in out and "calibration" not in model \
                and "calibration_file" not in model:
            raise _Bad(_join(key, "calibration"), "a CT in HU needs a calibration "
                                                  "(or calibration_file) to use a density law")
    out["voxel_size_mm"] = model.get("voxel_size_mm", None if kind == "ct" else DEFAULT_VOXEL_SIZE_MM)
    bone = dict(model.get("bone", {}))
    if bone:
        if kind == "ct":
            raise _Bad(_join(key, "bone"), "a CT model takes its bone from the CT densities")
        if "vbmd_mg_cm3" in bone and bone.get("osteoporosis_rule"):
            raise _Bad(_join(key, "bone"), "give vbmd_mg_cm3 or osteoporosis_rule, not both")
        if "vbmd_mg_cm3" not in bone and not bone.get("osteoporosis_rule"):
            raise _Bad(_join(key, "bone"), "needs vbmd_mg_cm3 (trabecular vBMD) or "
                                           "osteoporosis_rule = true")
        rule_keys = {"cortical_factor", "cancellous_factor"}
        if "vbmd_mg_cm3" in bone and rule_keys & set(bone):
            raise _Bad(_join(key, "bone"), f"{sorted(rule_keys & set(bone))} belong to "
                                           "osteoporosis_rule, not to vbmd_mg_cm3")
        if bone.get("osteoporosis_rule") and {"law", "cortical_thinning"} & set(bone):
            raise _Bad(_join(key, "bone"), "law and cortical_thinning belong to vbmd_mg_cm3")
    out["bone"] = bone
    out["materials"] = dict(model.get("materials", {}))
    if out["materials"]:
        from ..materials import default_registry
        reg = default_registry()
        for name, ch in out["materials"].items():
            try:
                reg = reg.override(name, **ch)
            except (MaterialError, InputError) as exc:
                raise _Bad(_join(_join(key, "materials"), name), str(exc)) from None
    return out


def _model_vertebrae(model: dict):
    if model["kind"] == "segment":
        return model["levels"]
    if model["kind"] in ("vertebra", "vertebra_with_caps"):
        return [model["level"]]
    return None                      # CT: known only once the image is read


def _resolve_load_cases(items) -> tuple:
    from ..loads import DEFAULT_LOAD_CASES, LoadCase, combine, standard_load_case
    if items is None:
        lcs = list(DEFAULT_LOAD_CASES)
    else:
        lcs = []
        for i, item in enumerate(items):
            key = f"load_cases[{i}]"
            try:
                if isinstance(item, str):
                    lcs.append(standard_load_case(item))
                    continue
                ways = [k for k in ("standard", "force_N", "combine") if k in item]
                if "moment_Nmm" in item and "force_N" not in item:
                    ways.append("force_N")
                std = item.get("standard", item["name"] if not ways else None)
                if len(set(ways)) > 1:
                    raise _Bad(key, "give one of standard (+ magnitude), force_N/moment_Nmm or "
                                    "combine")
                if "combine" in item:
                    known = {lc.name: lc for lc in lcs}
                    missing = [n for n in item["combine"] if n not in known]
                    if missing:
                        raise _Bad(_join(key, "combine"), f"{missing} are not earlier load cases "
                                                          f"({list(known)})")
                    lcs.append(combine(item["name"], *(known[n] for n in item["combine"])))
                elif "force_N" in item or "moment_Nmm" in item:
                    lcs.append(LoadCase(item["name"], tuple(item.get("force_N", (0, 0, 0))),
                                        tuple(item.get("moment_Nmm", (0, 0, 0))),
                                        item.get("follower_N", 0.0)))
                else:
                    if "magnitude_N" in item and std != "compression":
                        raise _Bad(_join(key, "magnitude_N"), "applies to compression; moments "
                                                              "take magnitude_Nmm")
                    if "magnitude_Nmm" in item and std == "compression":
                        raise _Bad(_join(key, "magnitude_Nmm"), "compression takes magnitude_N")
                    mag = item.get("magnitude_N", item.get("magnitude_Nmm"))
                    lc = standard_load_case(std, mag)
                    lcs.append(LoadCase(item["name"], lc.force_N, lc.moment_Nmm,
                                        item.get("follower_N", 0.0)))
            except InputError as exc:
                raise _Bad(key, str(exc)) from None
    from collections import Counter
    dup = sorted(n for n, c in Counter(lc.name for lc in lcs).items() if c > 1)
    if dup:
        raise _Bad("load_cases", f"load case names must be unique, {dup} repeat")
    return tuple(lc.to_dict() for lc in lcs)


def _study_cements(top: dict, data: dict, origin: str, base_dir: Path) -> dict:
    from ..cement import CEMENTS, cements_from_dict, load_cements
    lib = dict(CEMENTS)
    for i, f in enumerate(top.get("cement_files", [])):
        p = Path(f)
        p = p if p.is_absolute() else base_dir / p
        try:
            lib.update(load_cements(p))
        except InputError as exc:
            raise _Bad(f"cement_files[{i}]", str(exc)) from None
    if "cement" in top:
        try:
            lib.update(cements_from_dict({"cement": top["cement"]}, origin=origin))
        except InputError as exc:
            raise _Bad("cement", str(exc).replace(f"{origin}: ", "")) from None
    return lib


def _cement_dict(c) -> dict:
    return c.to_dict()


def _resolve_cement(value, key, cements) -> dict:
    if value is None:
        value = "pmma"
    if isinstance(value, str):
        if value not in cements:
            raise _Bad(key, f"unknown cement {value!r}; known: {sorted(cements)} (or define "
                            "[cement.<name>] in the study file)")
        return _cement_dict(cements[value])
    base = value.get("base", "pmma")
    if base not in cements:
        raise _Bad(_join(key, "base"), f"unknown cement {base!r}; known: {sorted(cements)}")
    changes = {k: v for k, v in value.items() if k not in ("base", "name")}
    for k in ("viscosity_time_min", "viscosity_Pa_s", "working_window_min"):
        if k in changes:
            changes[k] = tuple(changes[k])
    name = value.get("name") or (base + "".join(f"_{k}{_value_text(v)}" for k, v in
                                                sorted(changes.items())
                                                if k not in ("description", "source")))
    try:
        c = cements[base].with_changes(name=name, **changes)
    except (InputError, MaterialError) as exc:
        raise _Bad(key, str(exc)) from None
    return _cement_dict(c)


def treatment_from_dict(t: dict):
    from ..treatments.plans import treatment_from_dict as make
    return make(t)


def _resolve_case(raw: dict, key: str, study_model: dict, study_analysis: dict,
                  load_cases: tuple, cements: dict, base_dir: Path) -> CaseSpec:
    model_override = raw.get("model", {})
    if model_override:
        merged_in = _deep_merge(_unresolved(study_model), model_override)
        if "kind" in model_override and model_override["kind"] != study_model["kind"]:
            merged_in = {k: v for k, v in merged_in.items()
                         if k in _COMMON_MODEL_KEYS | _KIND_KEYS[model_override["kind"]]
                         or k in model_override}
        model = _resolve_model(_model_schema().check(merged_in, _join(key, "model")),
                               _join(key, "model"), base_dir)
    else:
        model = study_model
    analysis = {**study_analysis, **raw.get("analysis", {})}
    vertebrae = _model_vertebrae(model)
    conditions = []
    for i, c in enumerate(raw.get("conditions", [])):
        ck = _join(_join(key, "conditions"), i)
        c = _kinded_check(_condition_schemas(), c, ck)
        for lv in ([c["level"]] if "level" in c else []) + list(c.get("levels", [])):
            if vertebrae is not None and lv not in vertebrae:
                raise _Bad(_join(ck, "level"), f"{lv!r} is not a vertebra of the model {vertebrae}")
        if c["kind"] in ("metastasis", "angioma") and ("size_mm" in c) == ("size_percent" in c):
            raise _Bad(ck, "give exactly one of size_mm (diameter) or size_percent (of the body "
                           "volume)")
        conditions.append(c)
    treatments = []
    for i, t in enumerate(raw.get("treatments", [])):
        tk = _join(_join(key, "treatments"), i)
        t = _kinded_check(_treatment_schemas(), t, tk)
        if vertebrae is not None and t["level"] not in vertebrae:
            raise _Bad(_join(tk, "level"), f"{t['level']!r} is not a vertebra of the model "
                                           f"{vertebrae}")
        t["cement"] = _resolve_cement(t.get("cement"), _join(tk, "cement"), cements)
        try:
            treatment_from_dict(t)                   # the plan's own checks
        except InputError as exc:
            raise _Bad(tk, str(exc)) from None
        treatments.append(t)
    return CaseSpec(name=raw["name"], model=model, conditions=tuple(conditions),
                    treatments=tuple(treatments), load_cases=load_cases, analysis=analysis,
                    description=raw.get("description", ""), base_dir=str(base_dir))


def _unresolved(model: dict) -> dict:
    """A resolved model dict back as file keys (for merging a case's override)."""
    out = {k: v for k, v in model.items() if k != "files_sha256"}
    if not out.get("bone"):
        out.pop("bone", None)
    if not out.get("materials"):
        out.pop("materials", None)
    if out.get("voxel_size_mm") is None:
        out.pop("voxel_size_mm", None)
    return out
