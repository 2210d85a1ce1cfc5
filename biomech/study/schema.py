"""The schema of a study file: which tables and keys exist, their types, ranges and
units, and the defaults a study fills in."""
from __future__ import annotations

import re

from ..validation import (CASE_NAME, Anything, Bool, Either, ListOf, Mapping_, Num, Str,
                          Table, _Kinded)

#: Voxel size of a study whose model does not give one [mm].
DEFAULT_VOXEL_SIZE_MM = 2.0
MODEL_KINDS = ("segment", "vertebra", "vertebra_with_caps", "ct")
SOLVERS = ("amg", "gmg", "direct", "matrix-free", "auto", "jacobi")
FIELD_OUTPUTS = ("all", "first", "none")
#: Names of spinal levels (a CT's ``ct_level``).
SPINAL_LEVEL = re.compile(r"^(C[1-7]|T(1[0-2]|[1-9])|L[1-6]|S1)$")
#: Most cases a study may hold after its sweeps (validation takes ~1 ms per case; split
#: larger designs into several studies).
MAX_STUDY_CASES = 10_000
#: Smallest and largest relative residual a study may ask of the iterative solvers.
RTOL_RANGE = (1e-12, 0.1)


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


def _bone_schema():
    """[model.bone]: the fields of BoneDensity or of OsteoporosisRule (without levels)."""
    from ..conditions import BoneDensity, OsteoporosisRule
    from ..describe import study_fields
    vbmd = {k: v for k, v in study_fields(BoneDensity).items() if k != "levels"}
    rule = {k: v for k, v in study_fields(OsteoporosisRule).items() if k != "levels"}
    return Table({**vbmd, "osteoporosis_rule": Bool(), **rule},
                 what="trabecular vBMD or the osteoporosis rule")


def _model_schema():
    from ..materials import default_registry
    from ..meshes.calibration import INTERCEPT_RANGE_MG_CM3, SLOPE_RANGE_MG_CM3_PER_HU
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
        "materials": Mapping_(Table({"E_MPa": Num(1e-4, 1e6, unit="MPa"),
                                     "nu": Num(-1.0, 0.5, lo_open=True, hi_open=True)}),
                              _material_names()),
        # CT
        "image": Str(what="path of a NIfTI file or DICOM folder, relative to the study file"),
        "labels": Str(what="path of the label image, relative to the study file"),
        "units": Str(("HU", "density_mg_cm3")),
        "label_map": Either(Str(("bonelab",)), Mapping_(ListOf(Str(), 2)),
                            what="'bonelab' or a table {value = [label, level]}"),
        "ct_level": Str(pattern=SPINAL_LEVEL,
                        what="a spinal level name C1-C7, T1-T12, L1-L6 or S1, e.g. 'L1'"),
        "calibration": Table({"slope_mg_cm3_per_HU": Num(*SLOPE_RANGE_MG_CM3_PER_HU,
                                                         unit="mg/cm3 per HU"),
                              "intercept_mg_cm3": Num(*INTERCEPT_RANGE_MG_CM3, unit="mg/cm3")},
                             required=("slope_mg_cm3_per_HU",)),
        "calibration_file": Str(what="path of an Ogo internal-calibration log"),
        "law": Str(_density_laws()),
        # the registry's accepted PMMA range (the cap is PMMA)
        "cap_modulus_MPa": Num(*default_registry()["pmma_cap"].E_range_MPa, unit="MPa"),
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
    """{kind: table} from the condition classes' fields (biomech.conditions.CONDITIONS)."""
    from ..conditions import CONDITIONS
    from ..describe import study_table
    return {kind: study_table(cls, extra={"kind": Str()}) for kind, cls in CONDITIONS.items()}


def _cement_fields() -> dict:
    """The keys of a cement table: the Cement fields plus ``base``."""
    from ..cement import Cement
    from ..describe import study_fields
    return {"base": Str(what="a cement name"), **study_fields(Cement)}


def _treatment_schemas():
    """{kind: table} from the treatment plans' fields (biomech.treatments.plans)."""
    from ..describe import study_table
    from ..treatments.plans import TREATMENTS
    return {kind: study_table(cls, extra={"kind": Str()}) for kind, cls in TREATMENTS.items()}


def _load_case_schema():
    from ..loads import load_case_study_table
    return Either(Str(what="a standard load case name"), load_case_study_table(),
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
    return Table({"solver": Str(SOLVERS), "rtol": Num(*RTOL_RANGE),
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


def default_analysis() -> dict:
    """[analysis] defaults of a study: solver and rtol of the SegmentAnalysis signature
    (the one place they are written)."""
    from ..analysis import SegmentAnalysis
    from ..describe import signature_default
    return {k: signature_default(SegmentAnalysis.__init__, k) for k in ("solver", "rtol")}


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
