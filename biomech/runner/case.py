"""Solving one case in memory: the treated model (geometry, bone, conditions,
treatments) and its mechanics under the study's load cases."""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

from ..errors import InputError
from ..study import CaseSpec
from .models import apply_bone, apply_treatment, build_geometry, condition_object, registry_for
from .rows import case_rows

@dataclass
class SolvedCase:
    """A case solved in memory: the treated model, the analysis (mesh, solver), one
    :class:`~biomech.analysis.LoadCaseResult` per load case (fields included), the
    treatment results, the rows of results.csv, timings [s] and warnings."""

    spec: CaseSpec
    model: object
    analysis: object
    results: list
    treatments: list
    rows: list
    timings: dict
    warnings: list = field(default_factory=list)

    def case_fields(self, load_case: int | str = 0):
        """:class:`biomech.viz.pictures.CaseFields` of one load case (index or name)."""
        from ..case_fields import CaseFields
        r = _pick_load_case(self.results, load_case)
        return CaseFields(self.model, self.analysis.mesh, dict(r.cell_fields),
                          {"displacement_mm": r.u})


def _pick_load_case(results, load_case):
    if isinstance(load_case, int):
        return results[load_case]
    for r in results:
        if r.load_case.name == load_case:
            return r
    raise InputError(f"no load case {load_case!r}; the case has "
                     f"{[r.load_case.name for r in results]}")


def build_case_model(spec: CaseSpec):
    """(treated model, [TreatmentResult], {step: seconds}, [warning text])."""
    timings = {}
    t0 = time.perf_counter()
    model = build_geometry(spec.model)
    timings["geometry_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = apply_bone(model, spec.model.get("bone") or {})
    from ..conditions import apply_condition
    for c in spec.conditions:
        model = apply_condition(model, condition_object(c))
    timings["conditions_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    treated = []
    msgs = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for t in spec.treatments:
            res = apply_treatment(model, t)
            treated.append(res)
            model = res.model
    msgs += [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    msgs += [m for r in treated for m in r.warnings if m not in msgs]    # advice is logged once
    timings["treatments_s"] = time.perf_counter() - t0
    return model, treated, timings, msgs


def solve_case(spec: CaseSpec, *, fields: bool = True) -> SolvedCase:
    """Build, treat and solve one case in memory (no files)."""
    from ..analysis import SegmentAnalysis
    t_all = time.perf_counter()
    model, treated, timings, msgs = build_case_model(spec)
    t0 = time.perf_counter()
    options = {k: spec.analysis[k] for k in ("solver", "rtol", "reuse_hierarchy")
               if k in spec.analysis}              # defaults: SegmentAnalysis's signature
    analysis = SegmentAnalysis(model, registry=registry_for(spec.model),
                               focus_level=spec.focus_level, **options)
    results = analysis.run(spec.load_case_objects(), fields=fields)
    timings["mechanics_s"] = time.perf_counter() - t0
    timings.update({f"analysis_{k}": v for k, v in analysis.timings.items()})
    timings["total_s"] = time.perf_counter() - t_all
    rows = case_rows(spec, treated, analysis, results)
    return SolvedCase(spec, model, analysis, results, treated, rows, timings, msgs)
