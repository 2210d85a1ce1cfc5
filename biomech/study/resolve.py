"""Resolution of a checked case: model defaults by kind and CT file hashes, load
cases, cements as full formulations, conditions and treatments -> :class:`~biomech.study.spec.CaseSpec`."""
from __future__ import annotations

from pathlib import Path

from ..errors import InputError, MaterialError
from ..io.files import FileReadError, sha256_path
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
        files = {}
        whats = {"image": "CT image (a NIfTI file or a DICOM folder)",
                 "labels": "label image", "calibration_file": "calibration log"}
        for k in ("image", "labels", "calibration_file"):
            if k in model:
                p = _input_path(model[k], base_dir, _join(key, k))
                try:
                    files[k] = sha256_path(p, what=whats[k],
                                           **({"max_bytes": 16 * 2**20}
                                              if k == "calibration_file" else {}))
                    if k == "calibration_file" and p.is_dir():
                        raise FileReadError(p, "a folder, not a calibration log")
                    if k in ("image", "labels"):
                        _check_image_kind(p, whats[k])
                except FileReadError as exc:
                    raise _Bad(_join(key, k), str(exc)) from None
                out[k] = str(p.resolve())
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


def _input_path(value: str, base_dir: Path, key: str) -> Path:
    """An input path of a study (relative to the study file's folder), its name checked
    before the file system sees it (no NUL, not over-long)."""
    from ..io.files import MAX_NAME_CHARS, MAX_PATH_CHARS
    if "\x00" in value:
        raise _Bad(key, "a path must not contain a NUL character")
    if len(value) > MAX_PATH_CHARS or any(len(part) > MAX_NAME_CHARS for part in value.split("/")):
        raise _Bad(key, f"the path is too long ({len(value)} characters; at most "
                        f"{MAX_PATH_CHARS}, {MAX_NAME_CHARS} per name)")
    p = Path(value)
    return p if p.is_absolute() else (base_dir / p)


def _check_image_kind(p: Path, what: str) -> None:
    """A CT image is a .nii/.nii.gz file or a folder of DICOM files (the 'DICM' mark at
    byte 128 of at least one file); anything else is refused before it is read."""
    from ..io.files import folder_files
    if not p.is_dir():
        if not p.name.endswith((".nii", ".nii.gz")):
            raise FileReadError(p, f"a {what} must be a NIfTI file (.nii or .nii.gz) or a "
                                   "folder holding one DICOM series")
        return
    for f in folder_files(p, what=what):
        try:
            with open(f, "rb") as fh:
                head = fh.read(132)
        except OSError:
            continue
        if head[128:132] == b"DICM":
            return
    raise FileReadError(p, f"the folder holds no DICOM file (none has the 'DICM' mark); a "
                           f"{what} must be a NIfTI file or a folder holding one DICOM series")


def _model_vertebrae(model: dict):
    if model["kind"] == "segment":
        return model["levels"]
    if model["kind"] in ("vertebra", "vertebra_with_caps"):
        return [model["level"]]
    return None                      # CT: known only once the image is read


#: Most load cases a study may ask for (each is one solve of every case).
MAX_LOAD_CASES = 200


def _resolve_load_cases(items) -> tuple:
    from ..loads import DEFAULT_LOAD_CASES, LoadCase, combine, standard_load_case
    if items is None:
        lcs = list(DEFAULT_LOAD_CASES)
    else:
        if len(items) > MAX_LOAD_CASES:
            raise _Bad("load_cases", f"{len(items)} load cases; a study takes at most "
                                     f"{MAX_LOAD_CASES} (each is a solve of every case)")
        names = [it if isinstance(it, str) else it.get("name") for it in items]
        seen, dup = set(), {}
        for n in names:                                 # linear, before building any
            if isinstance(n, str) and n in seen:
                dup[n] = None
            seen.add(n if isinstance(n, str) else None)
        if dup:
            raise _Bad("load_cases", f"load case names must be unique, {list(dup)[:10]} repeat")
        lcs = []
        for i, item in enumerate(items):
            key = f"load_cases[{i}]"
            try:
                if isinstance(item, str):
                    lcs.append(standard_load_case(item))
                    continue
                ways = [k for k in ("standard", "force_N", "combine") if k in item]
                if ("moment_Nmm" in item or "posture" in item) and "force_N" not in item:
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
                elif "force_N" in item or "moment_Nmm" in item or "posture" in item:
                    lcs.append(LoadCase(item["name"], tuple(item.get("force_N", (0, 0, 0))),
                                        tuple(item.get("moment_Nmm", (0, 0, 0))),
                                        item.get("follower_N", 0.0), item.get("posture")))
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
        p = _input_path(f, base_dir, f"cement_files[{i}]")
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
        if c["kind"] == "fracture" and c.get("height_loss") is not None:
            from ..conditions.fracture import GENANT_BANDS
            lo, hi = GENANT_BANDS[c["grade"]]
            if not lo <= c["height_loss"] <= hi:
                raise _Bad(_join(ck, "height_loss"),
                           f"must lie in [{lo:g}, {hi:g}] (fraction of the body height) for "
                           f"Genant grade {c['grade']}, got {c['height_loss']!r}")
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
            plan = treatment_from_dict(t)            # the plan's own checks
        except InputError as exc:
            raise _Bad(tk, str(exc)) from None
        _check_plan(plan, t, tk, model, conditions)
        treatments.append(t)
    return CaseSpec(name=raw["name"], model=model, conditions=tuple(conditions),
                    treatments=tuple(treatments), load_cases=load_cases, analysis=analysis,
                    description=raw.get("description", ""), base_dir=str(base_dir))


def body_capacity_ml(level: str, voxel_size_mm: float, height_loss: float = 0.0) -> float:
    """An upper estimate of what the trabecular body of a parametric vertebra holds [mL]:
    an elliptic cylinder of the level's largest endplate width and depth and its largest
    height (less the fracture's mean height loss), shrunk by one voxel on every side (the
    cortex and the bony endplates take at least one voxel), all of it pore space; 10 %
    margin.  The exact check (the trabecular pore volume of the built model) runs when the
    case is built."""
    import math
    from ..meshes.morphometry import vertebra_morphometry
    m = vertebra_morphometry(level)
    h = voxel_size_mm
    width = max(m.superior_width, m.inferior_width) - 2 * h
    depth = max(m.superior_depth, m.inferior_depth) - 2 * h
    height = max(m.anterior_height, m.posterior_height) * (1.0 - height_loss) - 2 * h
    return 1.1 * math.pi / 4 * max(width, 0.0) * max(depth, 0.0) * max(height, 0.0) / 1000.0


def _check_plan(plan, t: dict, key: str, model: dict, conditions: list) -> None:
    """Checks of a treatment that need the case but no model: the injection ends before
    the cement sets, and the cement fits in the body (an upper estimate, parametric
    models only)."""
    from ..cement import Cement
    cement = Cement.from_dict(t["cement"])
    if t["kind"] == "vertebroplasty":
        from ..treatments.vertebroplasty import injection_window
        try:
            injection_window(cement, plan.injection_time_min, plan.volume_ml,
                             plan.flow_rate_ml_per_min)
        except InputError as exc:
            raise _Bad(_join(key, "injection_time_min"), str(exc)) from None
        volume, what = plan.volume_ml, "volume_ml"
    else:
        volume, what = plan.cement_volume_ml or plan.balloon_volume_ml, (
            "cement_volume_ml" if plan.cement_volume_ml else "balloon_volume_ml")
    if model["kind"] == "ct":
        return
    from ..meshes.morphometry import LEVELS
    if plan.level not in LEVELS:
        return
    loss = 0.0
    for c in conditions:
        if c["kind"] == "fracture" and c["level"] == plan.level:
            from ..conditions.fracture import GENANT_DEFAULT_LOSS
            loss = c.get("height_loss") or GENANT_DEFAULT_LOSS[c["grade"]]
            loss = loss if c.get("shape") == "crush" else 0.5 * loss     # wedge: mean loss
    cap = body_capacity_ml(plan.level, model.get("voxel_size_mm") or DEFAULT_VOXEL_SIZE_MM, loss)
    if volume > cap:
        raise _Bad(_join(key, what), f"{volume:g} mL is more than the body of {plan.level} holds "
                                     f"at {model.get('voxel_size_mm') or DEFAULT_VOXEL_SIZE_MM:g} mm "
                                     f"voxels (at most about {cap:.1f} mL, an upper estimate from "
                                     f"its dimensions{' and height loss' if loss else ''})")


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
