"""Reading a study: TOML file or dict -> validated :class:`~biomech.study.spec.Study` (cases in order,
``extends`` resolved, sweeps expanded, every case resolved)."""
from __future__ import annotations

import copy
import itertools
import re
from pathlib import Path
from typing import Mapping

from ..io.files import FileReadError, read_toml
from ..validation import CASE_NAME, StudyFileError, _Bad, _join, check_depth
from .resolve import _resolve_case, _resolve_load_cases, _resolve_model, _study_cements
from .schema import (DEFAULT_OUTPUTS, MAX_STUDY_CASES, _case_schema, _top_schema,
                     default_analysis)
from .spec import Study
from .sweeps import _merge_case, _normalise_case, _point_text, _set_path, _sweep_name

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
        if not isinstance(data, Mapping):
            raise _Bad("", f"a study is a table of tables, got {type(data).__name__}")
        check_depth(data)                          # before anything recurses into it
        return _build_study(copy.deepcopy(dict(data)), origin, Path(base_dir), default_name)
    except _Bad as exc:
        raise StudyFileError(origin, exc.key, exc.reason) from None


def _check_study_size(sweeps: list, names: list) -> None:
    """Refuse, before expanding anything, a study whose sweeps make more than
    MAX_STUDY_CASES cases (counted from the grid sizes)."""
    count = {n: 1 for n in names}
    for s_i, sweep in enumerate(sweeps):
        size = 1
        for values in sweep["grid"].values():
            size *= len(values)
        names_ = [sweep["case"]] if isinstance(sweep["case"], str) else sweep["case"]
        for name in names_:
            if name in count:
                count[name] *= size       # (a later sweep of a generated case: checked
                                          # while expanding)
        total = sum(count.values())
        if total > MAX_STUDY_CASES:
            raise _Bad(f"sweeps[{s_i}].grid", f"the sweeps make {total} cases; a study holds "
                                              f"at most {MAX_STUDY_CASES} (split it into "
                                              "several studies, or use fewer values)")


def _build_study(data, origin, base_dir, default_name) -> Study:
    top = _top_schema().check(data, "")
    meta = top.get("study", {})
    model = _resolve_model(top.get("model", {}), "model", base_dir)
    analysis = {**default_analysis(), **top.get("analysis", {})}
    load_cases = _resolve_load_cases(top.get("load_cases"))
    cements = _study_cements(top, data, origin, base_dir)
    outputs = {**DEFAULT_OUTPUTS, **top.get("outputs", {})}

    # cases in order, `extends` resolved, each validated
    raw_cases: dict[str, dict] = {}
    case_schema = _case_schema()
    first_index: dict[str, int] = {}
    for i, raw in enumerate(top["cases"]):
        key = f"cases[{i}]"
        if not isinstance(raw, dict):
            raise _Bad(key, f"must be a table, got {type(raw).__name__}")
        if isinstance(raw.get("name"), str) and CASE_NAME.match(raw["name"]) \
                and raw["name"] not in raw_cases:
            key = f"case {raw['name']!r}"          # messages name the case, not its index
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
            raise _Bad(_join(key, "name"), f"case name {name!r} is used twice (cases "
                                           f"{first_index[name] + 1} and {i + 1} of the file)")
        first_index[name] = i
        raw = _normalise_case(raw)
        raw_cases[name] = raw
        _resolve_case(raw, key, model, analysis, load_cases, cements, base_dir)   # validate

    # sweeps
    expanded: dict[str, tuple] = {n: (r, {}) for n, r in raw_cases.items()}
    sweeps = top.get("sweeps", [])
    order = list(raw_cases)
    _check_study_size(sweeps, list(raw_cases))
    for s_i, sweep in enumerate(sweeps):
        skey = f"sweeps[{s_i}]"
        names = [sweep["case"]] if isinstance(sweep["case"], str) else sweep["case"]
        for name in names:
            if name not in expanded:
                raise _Bad(_join(skey, "case"), f"no case {name!r} to sweep; cases: {order}")
            base_raw, base_sweep = expanded.pop(name)
            pos = order.index(name)
            generated: dict[str, None] = {}           # ordered set: linear uniqueness check
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
                generated[gname] = None
                if len(expanded) > MAX_STUDY_CASES:
                    raise _Bad(_join(skey, "grid"), f"the sweeps make more than "
                                                    f"{MAX_STUDY_CASES} cases, the most a "
                                                    "study holds (split it into several)")
            order[pos:pos + 1] = list(generated)

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
