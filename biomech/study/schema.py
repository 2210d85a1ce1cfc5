"""The schema of a study file: which tables and keys exist, their types, ranges and
units, and the defaults a study fills in."""
from __future__ import annotations

from .fields import (CASE_NAME, Anything, Bool, Either, Int, ListOf, Mapping_, Num, Str, Table,
                     Vec3, _Kinded)

#: Voxel size of a study whose model does not give one [mm].
DEFAULT_VOXEL_SIZE_MM = 2.0
MODEL_KINDS = ("segment", "vertebra", "vertebra_with_caps", "ct")
SOLVERS = ("amg", "direct", "matrix-free", "auto", "jacobi")
FIELD_OUTPUTS = ("all", "first", "none")


# ---------------------------------------------------------------------------- the schema
def _density_laws():
    from ..materials.density_laws import DENSITY_LAWS
    return tuple(DENSITY_LAWS)


def _material_names():
    from ..materials import default_registry
    return tuple(default_registry().names())


def _vertebra_names():
    from ..meshes.morphometry import LEVELS
    return tuple(LEVELS)


def _flow_fields():
    import dataclasses
    from ..treatments.flow import FlowParameters
    out = {}
    for f in dataclasses.fields(FlowParameters):
        if f.name == "seed":
            out[f.name] = Int(0)
        elif f.name == "label_permeability_factor":
            continue                     # keyed by Label: not a study-file value
        else:
            out[f.name] = Num(0.0)
    return out


_SIZE = dict(size_mm=Num(0.0, 200.0, lo_open=True, unit="mm"),
             size_percent=Num(0.0, 100.0, lo_open=True, unit="% of the body volume"))
_LEVEL = Str(what="a vertebra of the model, e.g. 'L2'")


def _bone_schema():
    return Table({
        "vbmd_mg_cm3": Num(0.0, 400.0, lo_open=True, unit="mg/cm3"),
        "law": Str(_density_laws()),
        "cortical_thinning": Bool(),
        "osteoporosis_rule": Bool(),
        "cortical_factor": Num(0.0, 1.0, lo_open=True),
        "cancellous_factor": Num(0.0, 1.0, lo_open=True),
    }, what="trabecular vBMD or the osteoporosis rule")


def _model_schema():
    fields = {
        "kind": Str(MODEL_KINDS),
        "levels": ListOf(Str(_vertebra_names()), min_len=1),
        "level": Str(_vertebra_names()),
        "voxel_size_mm": Num(0.1, 5.0, unit="mm"),
        "lordosis": Either(Bool(), Num(0.0, 60.0, unit="deg"), what="true, false or an angle in deg"),
        "posterior_elements": Bool(),
        "cap_thickness_mm": Num(0.5, 50.0, unit="mm"),
        "cap_margin_mm": Num(0.0, 20.0, unit="mm"),
        "bone": _bone_schema(),
        "materials": Mapping_(Table({"E_MPa": Num(0.0, 1e6, lo_open=True, unit="MPa"),
                                     "nu": Num(-1.0, 0.5, lo_open=True, hi_open=True)}),
                              _material_names()),
        # CT
        "image": Str(what="path of a NIfTI file or DICOM folder, relative to the study file"),
        "labels": Str(what="path of the label image, relative to the study file"),
        "units": Str(("HU", "density_mg_cm3")),
        "label_map": Either(Str(("bonelab",)), Mapping_(ListOf(Str(), 2)),
                            what="'bonelab' or a table {value = [label, level]}"),
        "ct_level": Str(what="level name of the CT vertebra"),
        "calibration": Table({"slope_mg_cm3_per_HU": Num(0.0, lo_open=True),
                              "intercept_mg_cm3": Num()}, required=("slope_mg_cm3_per_HU",)),
        "calibration_file": Str(what="path of an Ogo internal-calibration log"),
        "law": Str(_density_laws()),
        "cap_modulus_MPa": Num(0.0, 1e5, lo_open=True, unit="MPa"),
    }
    return Table(fields, what="the model")


#: Keys of [model] that only some kinds take.
_KIND_KEYS = {
    "segment": {"levels", "lordosis", "posterior_elements"},
    "vertebra": {"level", "posterior_elements"},
    "vertebra_with_caps": {"level", "posterior_elements", "cap_thickness_mm", "cap_margin_mm"},
    "ct": {"image", "labels", "units", "label_map", "ct_level", "calibration",
           "calibration_file", "law", "cap_modulus_MPa"},
}
_COMMON_MODEL_KEYS = {"kind", "voxel_size_mm", "bone", "materials"}


def _condition_schemas():
    from ..conditions import FRACTURE_SHAPES, LESION_KINDS, LESION_LOCATIONS
    loc = Str(LESION_LOCATIONS)
    return {
        "fracture": Table({"kind": Str(), "level": _LEVEL, "grade": Int(1, 3),
                           "shape": Str(FRACTURE_SHAPES), "height_loss": Num(0.0, 1.0),
                           "damage": Num(0.0, 1.0, hi_open=True), "cortical_breach": Bool()},
                          required=("level", "grade"), what="an osteoporotic compression fracture"),
        "metastasis": Table({"kind": Str(), "level": _LEVEL, "lesion": Str(LESION_KINDS),
                             "location": loc, **_SIZE, "posterior_wall_destroyed": Bool(),
                             "endplate_destroyed": Str(("superior", "inferior", "both")),
                             "centre_mm": Vec3()},
                            required=("level",), what="a metastatic lesion"),
        "angioma": Table({"kind": Str(), "level": _LEVEL, "location": loc, **_SIZE,
                          "centre_mm": Vec3()}, required=("level",), what="a haemangioma"),
        "bone_density": Table({"kind": Str(), "vbmd_mg_cm3": Num(0.0, 400.0, lo_open=True),
                               "law": Str(_density_laws()), "cortical_thinning": Bool(),
                               "levels": ListOf(_LEVEL, 1)}, required=("vbmd_mg_cm3",)),
        "osteoporosis_rule": Table({"kind": Str(), "cortical_factor": Num(0.0, 1.0, lo_open=True),
                                    "cancellous_factor": Num(0.0, 1.0, lo_open=True),
                                    "levels": ListOf(_LEVEL, 1)}),
    }


_CEMENT_FIELDS = {
    "base": Str(what="a cement name"), "name": Str(pattern=CASE_NAME, what="letters, digits, _.+-"),
    "E_MPa": Num(1.0, 100000.0, unit="MPa"), "nu": Num(-1.0, 0.5, lo_open=True, hi_open=True),
    "density_g_cm3": Num(0.0, lo_open=True), "setting_time_min": Num(0.0, lo_open=True),
    "viscosity_time_min": ListOf(Num(0.0), 2), "viscosity_Pa_s": ListOf(Num(0.0, lo_open=True), 2),
    "working_window_min": ListOf(Num(0.0), 2), "pore_fraction": Num(0.0, 1.0, hi_open=True),
    "description": Str(), "source": Str(),
}


def _treatment_schemas():
    from ..treatments import APPROACHES
    common = {"kind": Str(), "level": _LEVEL, "approach": Str(APPROACHES),
              "side": Str(("left", "right")),
              "cement": Either(Str(what="a cement name"), Table(_CEMENT_FIELDS),
                               what="a cement name or a table {base = ..., E_MPa = ...}"),
              "injection_time_min": Num(0.0, unit="min after mixing"),
              "flow_rate_ml_per_min": Num(0.0, lo_open=True, unit="mL/min"),
              "tip_depth": Num(0.05, 0.95), "tips_mm": ListOf(Vec3(), 1),
              "entries_mm": ListOf(Vec3(), 1), "prophylactic": Bool(),
              "flow": Table(_flow_fields(), what="FlowParameters")}
    return {
        "vertebroplasty": Table({**common, "volume_ml": Num(0.0, 30.0, lo_open=True, unit="mL")},
                                required=("level",), what="a vertebroplasty"),
        "kyphoplasty": Table({**common,
                              "balloon_volume_ml": Num(0.0, 12.0, lo_open=True, unit="mL"),
                              "cement_volume_ml": Num(0.0, 30.0, lo_open=True, unit="mL"),
                              "height_restoration": Num(0.0, 1.0),
                              "balloon_length_mm": Num(0.0, 40.0, lo_open=True, unit="mm"),
                              "compacted_thickness_mm": Num(0.0, 10.0, lo_open=True, unit="mm"),
                              "compacted_max_bvtv": Num(0.0, 1.0, lo_open=True),
                              "interdigitation_mm": Num(0.0, 10.0, unit="mm")},
                             required=("level",), what="a balloon kyphoplasty"),
    }


def _load_case_schema():
    return Either(Str(what="a standard load case name"),
                  Table({"name": Str(pattern=CASE_NAME, what="letters, digits, _.+-"),
                         "standard": Str(), "magnitude_N": Num(0.0, 1e5, lo_open=True, unit="N"),
                         "magnitude_Nmm": Num(0.0, 1e7, lo_open=True, unit="N mm"),
                         "force_N": Vec3("N"), "moment_Nmm": Vec3("N mm"),
                         "combine": ListOf(Str(), 2)}, required=("name",)),
                  what="a load case name or a table")


def _case_schema():
    return Table({
        "name": Str(pattern=CASE_NAME, what="letters, digits and _.+- (used as a folder name)"),
        "extends": Str(), "description": Str(),
        "conditions": ListOf(_Kinded(_condition_schemas(), "a condition")),
        "treatment": _Kinded(_treatment_schemas(), "a treatment"),
        "treatments": ListOf(_Kinded(_treatment_schemas(), "a treatment")),
        "model": _model_schema(),
        "analysis": _analysis_schema(),
    }, required=("name",), what="a case")


def _analysis_schema():
    return Table({"solver": Str(SOLVERS), "rtol": Num(0.0, 0.1, lo_open=True),
                  "reuse_hierarchy": Bool()})


def _outputs_schema():
    return Table({"vti": Bool(), "vtu": Bool(), "fields": Str(FIELD_OUTPUTS), "pictures": Bool(),
                  "report": Bool()})


def _top_schema():
    return Table({
        "study": Table({"name": Str(pattern=CASE_NAME, what="letters, digits, _.+-"),
                        "description": Str(), "baseline": Str()}),
        "model": _model_schema(),
        "analysis": _analysis_schema(),
        "load_cases": ListOf(_load_case_schema(), 1),
        "cement": Anything(),            # checked by biomech.cement.cements_from_dict
        "cement_files": ListOf(Str()),
        "cases": ListOf(Anything(), 1),  # checked case by case after `extends`
        "sweeps": ListOf(Table({"case": Either(Str(), ListOf(Str(), 1),
                                               what="a case name or a list of names"),
                                "grid": Mapping_(ListOf(Anything(), 1)),
                                "name": Str()}, required=("case", "grid"))),
        "outputs": _outputs_schema(),
    }, required=("cases",), what="a study")


DEFAULT_OUTPUTS = {"vti": True, "vtu": False, "fields": "all", "pictures": True, "report": True}
DEFAULT_ANALYSIS = {"solver": "amg", "rtol": 1e-6}


def schema_keys() -> dict:
    """{table: sorted keys} of the study schema (for docs and tests)."""
    top = _top_schema()
    out = {"": sorted(top.fields)}
    for name in ("study", "model", "analysis", "outputs"):
        spec = top.fields[name] if name != "model" else _model_schema()
        out[name] = sorted(spec.fields)
    out["cases"] = sorted(_case_schema().fields)
    out["conditions"] = {k: sorted(v.fields) for k, v in _condition_schemas().items()}
    out["treatments"] = {k: sorted(v.fields) for k, v in _treatment_schemas().items()}
    return out
