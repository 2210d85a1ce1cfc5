"""A resolved case (:class:`~biomech.study.spec.CaseSpec`, plain JSON-ready dicts, with its content hash)
and a validated study (:class:`~biomech.study.spec.Study`)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from ..errors import InputError
from ..validation import Num, _Bad
from .schema import default_analysis, DEFAULT_OUTPUTS, _outputs_schema

#: Version of the hashed case layout; bump when the meaning of a spec changes (2: a CT
#: file hash is the plain SHA-256 of its bytes, biomech.io.files.sha256_path).
HASH_SCHEMA = 2


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
    analysis: dict = field(default_factory=lambda: default_analysis())
    description: str = ""
    sweep: dict = field(default_factory=dict)
    base_dir: str = "."

    def hashed_content(self) -> dict:
        from .. import __version__
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
                   analysis=dict(d.get("analysis") or default_analysis()),
                   description=d.get("description", ""), sweep=dict(d.get("sweep") or {}),
                   base_dir=d.get("base_dir", "."))

    def load_case_objects(self) -> list:
        """The load cases as :class:`biomech.loads.LoadCase`."""
        from ..loads import LoadCase
        return [LoadCase.from_dict(lc) for lc in self.load_cases]

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
