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
  load cases, analysis options, the biomech version and :data:`~biomech.study.spec.HASH_SCHEMA`; not the
  case name, description or output options.
* Load cases are the same for every case of a study (ratios pair rows by load case).

Modules: fields (validation types), schema (tables, keys, defaults), spec (CaseSpec,
Study), sweeps (extends, sweeps, names), resolve (a case -> CaseSpec), loading (file or
dict -> Study).
"""
from ..validation import StudyFileError
from .loading import load_study, study_from_dict
from .schema import (DEFAULT_OUTPUTS, DEFAULT_VOXEL_SIZE_MM, FIELD_OUTPUTS,
                     MODEL_KINDS, SOLVERS, default_analysis, schema_keys)
from .spec import HASH_SCHEMA, CaseSpec, Study

__all__ = ["Study", "CaseSpec", "StudyFileError", "load_study", "study_from_dict",
           "schema_keys", "HASH_SCHEMA", "DEFAULT_VOXEL_SIZE_MM", "DEFAULT_OUTPUTS",
           "default_analysis", "MODEL_KINDS", "SOLVERS", "FIELD_OUTPUTS"]
