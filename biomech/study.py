"""Study files: the model, the cases and the load cases of a study as data (TOML), never code.

    study = load_study("examples/study_default.toml")     # validated, sweeps expanded
    study.cases[0].name, study.cases[0].hash
    study_from_dict({...}, origin="<notebook>")            # the same from a dict

A study file has these tables (every key is checked: an unknown key or a bad value raises
:class:`StudyFileError` naming the file, the key and the reason)::

    [study]        name, description, baseline (the case the *_ratio columns divide by)
    [model]        kind ("segment" | "vertebra" | "vertebra_with_caps" | "ct"), levels or
                   level, voxel_size_mm, lordosis, posterior_elements, cap_thickness_mm,
                   cap_margin_mm; [model.bone] vbmd_mg_cm3 | osteoporosis_rule ...;
                   [model.materials.<name>] E_MPa, nu (registry overrides); CT keys
    [analysis]     solver, rtol, reuse_hierarchy
    load_cases     ["compression", "flexion", ...] or [[load_cases]] tables
    [cement.<name>] user formulations (the schema of biomech.cement); cement_files = [...]
    [[cases]]      name, extends, description, conditions, treatment | treatments, model,
                   analysis
    [[sweeps]]     case, grid = {"dotted.path" = [values, ...]}, name
    [outputs]      vti, vtu, fields, pictures, report

See examples/study_default.toml for a commented file.  Decisions:

* A case may ``extends`` an EARLIER case: its tables (``model``, ``analysis``) are merged
  key by key, everything else (``conditions``, ``treatments``) is replaced.
* ``treatment = {...}`` is shorthand for ``treatments = [{...}]``; sweep paths may say
  ``treatment.x`` (= ``treatments.0.x``) and ``condition.x`` (= ``conditions.0.x``).
* A sweep replaces each case it names by the cartesian product of its grid; generated
  names are ``<case>-<key><value>-...`` unless ``name`` gives a pattern such as
  ``"vp_{volume_ml}ml_{E_MPa}MPa"`` (``{last path component}`` or ``{full.path}``).
  Every generated case is validated like a written one.
* A cement is a library or study name, or a table ``{base = "pmma", E_MPa = 3000, ...}``
  (a modified copy of ``base``); the resolved case holds the full formulation, so workers
  need no cement file and a changed formulation changes the case hash.
* The case hash (16 hex digits of SHA-256) covers everything that changes the result:
  model (with the SHA-256 of CT files), conditions, treatments with full cement data,
  load cases, analysis options, the biomech version and :data:`HASH_SCHEMA`; not the
  case name, description or output options.
* Load cases are the same for every case of a study (ratios pair rows by load case).
"""
from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import InputError, MaterialError
from .io.files import FileReadError, read_toml, sha256_path

#: Version of the hashed case layout; bump when the meaning of a spec changes.
HASH_SCHEMA = 1
#: Voxel size of a study whose model does not give one [mm].
DEFAULT_VOXEL_SIZE_MM = 2.0
MODEL_KINDS = ("segment", "vertebra", "vertebra_with_caps", "ct")
SOLVERS = ("amg", "direct", "matrix-free", "auto", "jacobi")
FIELD_OUTPUTS = ("all", "first", "none")
CASE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}$")


class StudyFileError(InputError):
    """A study file (or dict) is invalid: ``file``, ``key`` (dotted path) and ``reason``."""

    def __init__(self, file: str, key: str, reason: str):
        self.file, self.key, self.reason = file, key, reason
        super().__init__(f"{file}: {key}: {reason}" if key else f"{file}: {reason}")


class _Bad(Exception):
    """Internal: a bad value at ``key`` (converted to StudyFileError with the file)."""

    def __init__(self, key: str, reason: str):
        super().__init__(key, reason)
        self.key, self.reason = key, reason


def _join(key: str, sub) -> str:
    if isinstance(sub, int):
        return f"{key}[{sub}]"
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", str(sub)):
        sub = json.dumps(str(sub))
    return f"{key}.{sub}" if key else str(sub)


# ---------------------------------------------------------------------------- field types
class _Spec:
    doc = ""

    def check(self, value, key):
        raise NotImplementedError


class Num(_Spec):
    """A finite number in [lo, hi] (open ends with lo_open / hi_open); returns float."""

    def __init__(self, lo=None, hi=None, *, lo_open=False, hi_open=False, unit=""):
        self.lo, self.hi, self.lo_open, self.hi_open, self.unit = lo, hi, lo_open, hi_open, unit

    def _range(self):
        lo = "-inf" if self.lo is None else f"{self.lo:g}"
        hi = "inf" if self.hi is None else f"{self.hi:g}"
        return (f"{'(' if self.lo_open or self.lo is None else '['}{lo}, {hi}"
                f"{')' if self.hi_open or self.hi is None else ']'}" + (f" {self.unit}" if self.unit else ""))

    def check(self, value, key):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _Bad(key, f"must be a number in {self._range()}, got {value!r}")
        v = float(value)
        bad = ((self.lo is not None and (v < self.lo or (self.lo_open and v == self.lo))) or
               (self.hi is not None and (v > self.hi or (self.hi_open and v == self.hi))))
        if bad:
            raise _Bad(key, f"must lie in {self._range()}, got {value!r}")
        return v


class Int(_Spec):
    def __init__(self, lo=None, hi=None):
        self.lo, self.hi = lo, hi

    def check(self, value, key):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Bad(key, f"must be a whole number, got {value!r}")
        if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            raise _Bad(key, f"must lie in [{self.lo}, {self.hi}], got {value!r}")
        return int(value)


class Bool(_Spec):
    def check(self, value, key):
        if not isinstance(value, bool):
            raise _Bad(key, f"must be true or false, got {value!r}")
        return value


class Str(_Spec):
    def __init__(self, choices=None, pattern=None, what=""):
        self.choices, self.pattern, self.what = choices, pattern, what

    def check(self, value, key):
        if not isinstance(value, str):
            raise _Bad(key, f"must be a string{' (' + self.what + ')' if self.what else ''}, "
                            f"got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise _Bad(key, f"must be one of {list(self.choices)}, got {value!r}")
        if self.pattern is not None and not self.pattern.match(value):
            raise _Bad(key, f"{value!r} is not allowed: {self.what}")
        return value


class Vec3(_Spec):
    def __init__(self, unit="mm"):
        self.unit = unit

    def check(self, value, key):
        if (not isinstance(value, (list, tuple)) or len(value) != 3 or
                any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
                    for v in value)):
            raise _Bad(key, f"must be three numbers [x, y, z] in {self.unit}, got {value!r}")
        return [float(v) for v in value]


class ListOf(_Spec):
    def __init__(self, item: _Spec, min_len=0):
        self.item, self.min_len = item, min_len

    def check(self, value, key):
        if not isinstance(value, (list, tuple)):
            raise _Bad(key, f"must be a list, got {value!r}")
        if len(value) < self.min_len:
            raise _Bad(key, f"must hold at least {self.min_len} item(s), got {len(value)}")
        return [self.item.check(v, _join(key, i)) for i, v in enumerate(value)]


class Either(_Spec):
    """The first of ``options`` whose type fits (a table for a dict, else a scalar)."""

    def __init__(self, *options, what=""):
        self.options, self.what = options, what

    def check(self, value, key):
        want_table = isinstance(value, dict)
        for opt in self.options:
            if isinstance(opt, Table) == want_table:
                return opt.check(value, key)
        raise _Bad(key, f"must be {self.what}, got {value!r}")


class Table(_Spec):
    """A table with known keys; ``required`` keys must be present; unknown keys fail."""

    def __init__(self, fields: Mapping[str, _Spec], required=(), what=""):
        self.fields, self.required, self.what = dict(fields), tuple(required), what

    def check(self, value, key):
        if not isinstance(value, dict):
            raise _Bad(key, f"must be a table{' (' + self.what + ')' if self.what else ''}, "
                            f"got {value!r}")
        unknown = [k for k in value if k not in self.fields]
        if unknown:
            raise _Bad(_join(key, unknown[0]), f"unknown key; allowed here: {sorted(self.fields)}")
        missing = [k for k in self.required if k not in value]
        if missing:
            raise _Bad(_join(key, missing[0]), "is required")
        return {k: self.fields[k].check(v, _join(key, k)) for k, v in value.items()}


class Mapping_(_Spec):
    """A table of user-named entries, each checked by ``item``."""

    def __init__(self, item: _Spec, name_choices=None):
        self.item, self.name_choices = item, name_choices

    def check(self, value, key):
        if not isinstance(value, dict):
            raise _Bad(key, f"must be a table, got {value!r}")
        for k in value:
            if self.name_choices is not None and k not in self.name_choices:
                raise _Bad(_join(key, k), f"unknown name; allowed: {sorted(self.name_choices)}")
        return {k: self.item.check(v, _join(key, k)) for k, v in value.items()}


class Anything(_Spec):
    def check(self, value, key):
        return value


# ---------------------------------------------------------------------------- the schema
def _density_laws():
    from .materials.density_laws import DENSITY_LAWS
    return tuple(DENSITY_LAWS)


def _material_names():
    from .materials import default_registry
    return tuple(default_registry().names())


def _vertebra_names():
    from .meshes.morphometry import LEVELS
    return tuple(LEVELS)


def _flow_fields():
    import dataclasses
    from .treatments.flow import FlowParameters
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
    from .conditions import FRACTURE_SHAPES, LESION_KINDS, LESION_LOCATIONS
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
    from .treatments import APPROACHES
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


class _Kinded(_Spec):
    """A table whose ``kind`` picks its schema."""

    def __init__(self, schemas: dict, what: str):
        self.schemas, self.what = schemas, what

    def check(self, value, key):
        if not isinstance(value, dict):
            raise _Bad(key, f"must be a table ({self.what}), got {value!r}")
        kind = value.get("kind")
        if kind not in self.schemas:
            raise _Bad(_join(key, "kind"), f"must be one of {list(self.schemas)}, got {kind!r}")
        return self.schemas[kind].check(value, key)


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


# ---------------------------------------------------------------------------- specs
@dataclass(frozen=True)
class CaseSpec:
    """One resolved case: plain, JSON-ready dicts (picklable for workers).

    model : {kind, voxel_size_mm, levels | level, ..., bone, materials}; conditions,
    treatments : lists of dicts with ``kind`` (cements as full formulations);
    load_cases : [{name, force_N, moment_Nmm}] [N, N mm]; analysis : {solver, rtol};
    sweep : {dotted path: value} of a generated case; base_dir : folder of the study
    file (relative CT paths)."""

    name: str
    model: dict
    conditions: tuple = ()
    treatments: tuple = ()
    load_cases: tuple = ()
    analysis: dict = field(default_factory=lambda: dict(DEFAULT_ANALYSIS))
    description: str = ""
    sweep: dict = field(default_factory=dict)
    base_dir: str = "."

    def hashed_content(self) -> dict:
        from . import __version__
        return {"schema": HASH_SCHEMA, "biomech": __version__, "model": self.model,
                "conditions": list(self.conditions), "treatments": list(self.treatments),
                "load_cases": list(self.load_cases), "analysis": self.analysis}

    @property
    def hash(self) -> str:
        """16 hex digits of SHA-256 over :meth:`hashed_content` (canonical JSON)."""
        text = json.dumps(self.hashed_content(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def to_dict(self) -> dict:
        return {"name": self.name, "description": self.description, "model": self.model,
                "conditions": list(self.conditions), "treatments": list(self.treatments),
                "load_cases": list(self.load_cases), "analysis": self.analysis,
                "sweep": self.sweep, "base_dir": self.base_dir}

    @classmethod
    def from_dict(cls, d: dict) -> "CaseSpec":
        return cls(name=d["name"], model=d["model"], conditions=tuple(d.get("conditions", ())),
                   treatments=tuple(d.get("treatments", ())), load_cases=tuple(d.get("load_cases", ())),
                   analysis=dict(d.get("analysis") or DEFAULT_ANALYSIS),
                   description=d.get("description", ""), sweep=dict(d.get("sweep") or {}),
                   base_dir=d.get("base_dir", "."))

    def load_case_objects(self) -> list:
        """The load cases as :class:`biomech.loads.LoadCase`."""
        from .loads import LoadCase
        return [LoadCase(lc["name"], tuple(lc["force_N"]), tuple(lc["moment_Nmm"]))
                for lc in self.load_cases]

    @property
    def treated_level(self) -> str | None:
        return self.treatments[0]["level"] if self.treatments else None

    @property
    def focus_level(self) -> str | None:
        """The level whose headline metrics are reported: the first treated level, else
        the first fractured or diseased level, else None (the analysis default)."""
        if self.treatments:
            return self.treatments[0]["level"]
        for c in self.conditions:
            if c["kind"] in ("fracture", "metastasis", "angioma"):
                return c["level"]
        return None


@dataclass(frozen=True)
class Study:
    """A validated study: cases (sweeps expanded), the baseline case, outputs.

    source : the study file (None for a dict); text : its text (shown in the report)."""

    name: str
    cases: tuple
    baseline: str
    outputs: dict = field(default_factory=lambda: dict(DEFAULT_OUTPUTS))
    description: str = ""
    source: str | None = None
    text: str | None = None
    sweeps: tuple = ()

    def case(self, name: str) -> CaseSpec:
        for c in self.cases:
            if c.name == name:
                return c
        raise InputError(f"study {self.name!r} has no case {name!r}; cases: "
                         f"{[c.name for c in self.cases]}")

    @property
    def case_names(self) -> list:
        return [c.name for c in self.cases]

    @property
    def swept_paths(self) -> list:
        """Dotted paths varied by the sweeps (they become results.csv columns)."""
        return list(dict.fromkeys(p for c in self.cases for p in c.sweep))

    def with_voxel_size(self, voxel_size_mm: float) -> "Study":
        """Every case at ``voxel_size_mm`` [mm] (the CLI's ``--voxel-size``)."""
        import dataclasses
        h = Num(0.1, 5.0, unit="mm")
        try:
            h = h.check(voxel_size_mm, "voxel_size_mm")
        except _Bad as exc:
            raise InputError(f"voxel size: {exc.reason}") from None
        cases = tuple(dataclasses.replace(c, model={**c.model, "voxel_size_mm": h})
                      for c in self.cases)
        return dataclasses.replace(self, cases=cases)

    def with_outputs(self, **changes) -> "Study":
        import dataclasses
        out = _outputs_schema().check({**self.outputs, **changes}, "outputs")
        return dataclasses.replace(self, outputs=out)


# ---------------------------------------------------------------------------- loading
def _read_toml(path: Path) -> tuple:
    try:
        return read_toml(path, what="study file")
    except FileReadError as exc:
        raise StudyFileError(str(path), "", exc.reason) from None


def load_study(path, *, voxel_size_mm: float | None = None) -> Study:
    """Read, validate and expand a TOML study file (paths in it are relative to it)."""
    p = Path(path)
    data, text = _read_toml(p)
    study = study_from_dict(data, origin=str(p), base_dir=p.resolve().parent,
                            default_name=p.stem)
    import dataclasses
    study = dataclasses.replace(study, source=str(p), text=text)
    return study.with_voxel_size(voxel_size_mm) if voxel_size_mm is not None else study


def study_from_dict(data: Mapping, *, origin: str = "<dict>", base_dir=".",
                    default_name: str = "study") -> Study:
    """Validate and expand a study given as a dict (the TOML structure)."""
    try:
        return _build_study(copy.deepcopy(dict(data)), origin, Path(base_dir), default_name)
    except _Bad as exc:
        raise StudyFileError(origin, exc.key, exc.reason) from None


def _build_study(data, origin, base_dir, default_name) -> Study:
    top = _top_schema().check(data, "")
    meta = top.get("study", {})
    model = _resolve_model(top.get("model", {}), "model", base_dir)
    analysis = {**DEFAULT_ANALYSIS, **top.get("analysis", {})}
    load_cases = _resolve_load_cases(top.get("load_cases"))
    cements = _study_cements(top, data, origin, base_dir)
    outputs = {**DEFAULT_OUTPUTS, **top.get("outputs", {})}

    # cases in order, `extends` resolved, each validated
    raw_cases: dict[str, dict] = {}
    case_schema = _case_schema()
    for i, raw in enumerate(top["cases"]):
        key = f"cases[{i}]"
        if not isinstance(raw, dict):
            raise _Bad(key, f"must be a table, got {raw!r}")
        raw = dict(raw)
        parent = raw.pop("extends", None)
        if parent is not None:
            if not isinstance(parent, str) or parent not in raw_cases:
                raise _Bad(_join(key, "extends"), f"must name an earlier case; earlier cases: "
                                                  f"{list(raw_cases)}, got {parent!r}")
            raw = _merge_case(raw_cases[parent], raw)
        checked = case_schema.check(raw, key)
        if "treatment" in checked and "treatments" in checked:
            raise _Bad(_join(key, "treatment"), "give either treatment or treatments, not both")
        name = checked["name"]
        if name in raw_cases:
            raise _Bad(_join(key, "name"), f"case name {name!r} is used twice")
        raw = _normalise_case(raw)
        raw_cases[name] = raw
        _resolve_case(raw, key, model, analysis, load_cases, cements, base_dir)   # validate

    # sweeps
    expanded: dict[str, tuple] = {n: (r, {}) for n, r in raw_cases.items()}
    sweeps = top.get("sweeps", [])
    order = list(raw_cases)
    for s_i, sweep in enumerate(sweeps):
        skey = f"sweeps[{s_i}]"
        names = [sweep["case"]] if isinstance(sweep["case"], str) else sweep["case"]
        for name in names:
            if name not in expanded:
                raise _Bad(_join(skey, "case"), f"no case {name!r} to sweep; cases: {order}")
            base_raw, base_sweep = expanded.pop(name)
            pos = order.index(name)
            generated = []
            grid = sweep["grid"]
            paths = list(grid)
            for values in itertools.product(*(grid[p] for p in paths)):
                raw = copy.deepcopy(base_raw)
                point = dict(base_sweep)
                for p, v in zip(paths, values):
                    _set_path(raw, p, v, _join(_join(skey, "grid"), p))
                    point[p] = v
                gname = _sweep_name(name, sweep.get("name"), dict(zip(paths, values)),
                                    _join(skey, "name"))
                if gname in expanded or gname in generated:
                    raise _Bad(_join(skey, "name"), f"generated case name {gname!r} is not unique")
                raw["name"] = gname
                try:
                    case_schema.check(raw, f"{skey} case {gname!r}")
                    _resolve_case(raw, f"{skey} case {gname!r}", model, analysis, load_cases,
                                  cements, base_dir)
                except _Bad as exc:
                    raise _Bad(_join(skey, "grid"), f"case {gname!r} ({_point_text(point)}): "
                                                    f"{exc.key}: {exc.reason}") from None
                expanded[gname] = (raw, point)
                generated.append(gname)
            order[pos:pos + 1] = generated

    cases = []
    for name in order:
        raw, point = expanded[name]
        spec = _resolve_case(raw, f"case {name!r}", model, analysis, load_cases, cements, base_dir)
        import dataclasses
        cases.append(dataclasses.replace(spec, sweep=point))
    baseline = meta.get("baseline")
    names = [c.name for c in cases]
    if baseline is None:
        baseline = next((n for n in ("intact", "untreated") if n in names), names[0])
    elif baseline not in names:
        raise _Bad("study.baseline", f"must name a case of the study (after sweeps); "
                                     f"cases: {names}, got {baseline!r}")
    return Study(name=meta.get("name", re.sub(r"[^A-Za-z0-9_.+-]", "_", default_name) or "study"),
                 cases=tuple(cases), baseline=baseline, outputs=outputs,
                 description=meta.get("description", ""), sweeps=tuple(sweeps))


def _merge_case(parent: dict, child: dict) -> dict:
    out = copy.deepcopy(parent)
    out.pop("name", None)
    if "treatment" in child or "treatments" in child:
        out.pop("treatments", None)
        out.pop("treatment", None)
    for k, v in child.items():
        if k in ("model", "analysis") and isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _deep_merge(a: dict, b: dict) -> dict:
    out = copy.deepcopy(a)
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _normalise_case(raw: dict) -> dict:
    raw = copy.deepcopy(raw)
    if "treatment" in raw:
        raw["treatments"] = [raw.pop("treatment")]
    return raw


def _canonical_path(path: str) -> str:
    parts = path.split(".")
    if parts[0] == "treatment":
        parts = ["treatments", "0"] + parts[1:]
    elif parts[0] == "condition":
        parts = ["conditions", "0"] + parts[1:]
    return ".".join(parts)


def _set_path(raw: dict, path: str, value, key: str):
    parts = _canonical_path(path).split(".")
    if parts[0] not in ("model", "analysis", "conditions", "treatments", "description"):
        raise _Bad(key, "a sweep path starts with model, analysis, conditions, condition, "
                        "treatments or treatment")
    node: Any = raw
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise _Bad(key, f"{'.'.join(parts[:i])} has {len(node)} item(s); "
                                f"{part!r} is not one of them")
            node = node[int(part)]
            continue
        if part not in node:
            if part in ("conditions", "treatments"):
                raise _Bad(key, f"the case has no {part} to set {'.'.join(parts[i + 1:])} on")
            node[part] = {}
        elif part == "cement" and isinstance(node[part], str):
            node[part] = {"base": node[part]}        # set a field of a library cement
        if not isinstance(node[part], (dict, list)):
            raise _Bad(key, f"{'.'.join(parts[:i + 1])} is a value, not a table")
        node = node[part]
    last = parts[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise _Bad(key, f"index {last!r} is not in the list")
        node[int(last)] = value
    else:
        node[last] = value


def _value_text(v) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (dict, list)):
        return hashlib.sha256(json.dumps(v, sort_keys=True).encode()).hexdigest()[:6]
    return str(v)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", text)


def _sweep_name(case: str, pattern: str | None, point: dict, key: str) -> str:
    if pattern is None:
        parts = [case] + [f"{p.split('.')[-1]}{_value_text(v)}" for p, v in point.items()]
        return _safe("-".join(parts))[:100]
    short = {}
    for p, v in point.items():
        short[p] = v
        short[_canonical_path(p)] = v
        short.setdefault(p.split(".")[-1], v)

    def sub(m):
        token = m.group(1)
        if token == "case":
            return case
        if token not in short:
            raise _Bad(key, f"{{{token}}} names no swept path; use one of {sorted(short)} or "
                            "{case}")
        return _value_text(short[token])
    name = _safe(re.sub(r"\{([^{}]+)\}", sub, pattern))
    if not CASE_NAME.match(name):
        raise _Bad(key, f"the pattern gives the case name {name!r}, which is not allowed")
    return name


def _point_text(point: dict) -> str:
    return ", ".join(f"{p} = {v!r}" for p, v in point.items())


# ---------------------------------------------------------------------------- resolution
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
        from .meshes.morphometry import contiguous_levels
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
            out["cap_thickness_mm"] = model.get("cap_thickness_mm", 6.0)
            out["cap_margin_mm"] = model.get("cap_margin_mm", 3.0)
    else:
        if "image" not in model:
            raise _Bad(_join(key, "image"), "is required for kind 'ct'")
        for k in ("units", "label_map", "ct_level", "calibration", "law", "cap_modulus_MPa"):
            if k in model:
                out[k] = model[k]
        out.setdefault("units", "HU")
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
            from .meshes.labels import Label
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
        from .materials import default_registry
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
    from .loads import DEFAULT_LOAD_CASES, LoadCase, combine, standard_load_case
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
                                        tuple(item.get("moment_Nmm", (0, 0, 0)))))
                else:
                    if "magnitude_N" in item and std != "compression":
                        raise _Bad(_join(key, "magnitude_N"), "applies to compression; moments "
                                                              "take magnitude_Nmm")
                    if "magnitude_Nmm" in item and std == "compression":
                        raise _Bad(_join(key, "magnitude_Nmm"), "compression takes magnitude_N")
                    mag = item.get("magnitude_N", item.get("magnitude_Nmm"))
                    lc = standard_load_case(std, mag)
                    lcs.append(LoadCase(item["name"], lc.force_N, lc.moment_Nmm))
            except InputError as exc:
                raise _Bad(key, str(exc)) from None
    names = [lc.name for lc in lcs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise _Bad("load_cases", f"load case names must be unique, {dup} repeat")
    return tuple({"name": lc.name, "force_N": list(lc.force_N), "moment_Nmm": list(lc.moment_Nmm)}
                 for lc in lcs)


def _study_cements(top: dict, data: dict, origin: str, base_dir: Path) -> dict:
    from .cement import CEMENTS, cements_from_dict, load_cements
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
    import dataclasses
    d = dataclasses.asdict(c)
    for k in ("viscosity_time_min", "viscosity_Pa_s", "working_window_min"):
        if d.get(k) is not None:
            d[k] = list(d[k])
    return d


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
        treatments.append(t)
    return CaseSpec(name=raw["name"], model=model, conditions=tuple(conditions),
                    treatments=tuple(treatments), load_cases=load_cases, analysis=analysis,
                    description=raw.get("description", ""), base_dir=str(base_dir))


def _kinded_check(schemas, value, key):
    return _Kinded(schemas, "").check(value, key)


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


__all__ = ["Study", "CaseSpec", "StudyFileError", "load_study", "study_from_dict",
           "schema_keys", "HASH_SCHEMA", "DEFAULT_VOXEL_SIZE_MM", "DEFAULT_OUTPUTS"]
