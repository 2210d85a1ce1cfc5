"""One description per domain type (biomech.describe): every condition, treatment, cement
and load case declares its parameters once, and the study schema, the dict form, the
checks and the text summary all come from that declaration."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import pytest

from biomech.cement import CEMENTS, Cement
from biomech.conditions import CONDITIONS, condition_from_dict
from biomech.describe import Described, param, study_fields, study_table
from biomech.errors import InputError
from biomech.loads import DEFAULT_LOAD_CASES, MAX_FORCE_N, LoadCase
from biomech.study import StudyFileError, study_from_dict
from biomech.treatments.plans import TREATMENTS, treatment_from_dict

#: One valid example of each registered condition and treatment (required fields only).
EXAMPLES = {
    "fracture": {"level": "L2", "grade": 2},
    "metastasis": {"level": "L2"},
    "angioma": {"level": "L2"},
    "bone_density": {"vbmd_mg_cm3": 70.0},
    "osteoporosis_rule": {},
    "vertebroplasty": {"level": "L2", "volume_ml": 4.0},
    "kyphoplasty": {"level": "L2"},
}


def _keys(cls):
    return {(f.metadata.get("describe") or {}).get("key") or f.name
            for f in dataclasses.fields(cls)
            if (f.metadata.get("describe") or {}).get("study", True)}


@pytest.mark.parametrize("kind", sorted(set(CONDITIONS) & set(EXAMPLES)))
def test_conditions_round_trip_through_their_dict_form(kind):
    obj = condition_from_dict({"kind": kind, **EXAMPLES[kind]})
    assert type(obj) is CONDITIONS[kind]
    again = condition_from_dict(obj.to_dict(kind=True))
    assert again == obj
    assert isinstance(obj.describe(), str) and obj.describe()


@pytest.mark.parametrize("kind", sorted(TREATMENTS))
def test_treatments_round_trip_and_their_study_keys_are_their_fields(kind):
    obj = treatment_from_dict({"kind": kind, **EXAMPLES[kind]})
    assert treatment_from_dict(obj.to_dict(kind=True)) == obj
    assert set(study_fields(TREATMENTS[kind])) == _keys(TREATMENTS[kind])


def test_cements_and_load_cases_round_trip():
    for c in CEMENTS.values():
        assert Cement.from_dict(c.to_dict()) == c
    for lc in DEFAULT_LOAD_CASES:
        assert LoadCase.from_dict(lc.to_dict()) == lc
    assert set(study_fields(LoadCase)) == {"name", "force_N", "moment_Nmm", "follower_N", "posture"}


def test_a_new_field_is_a_new_study_key_with_its_range_and_unit():
    @dataclass(frozen=True)
    class Toy(Described):
        KIND: ClassVar[str] = "toy"
        depth_mm: float = param(2.0, unit="mm", range=(0.0, 10.0), lo_open=True, doc="depth")

        def __post_init__(self):
            self.validate()

    table = study_table(Toy)
    assert "depth_mm" in table.fields
    with pytest.raises(InputError, match=r"depth_mm must lie in \(0, 10\] mm, got 12"):
        Toy(depth_mm=12.0)
    assert Toy().describe() == "toy" and Toy(depth_mm=3.0).describe() == "toy 3 mm"


def test_a_range_has_one_wording_in_python_and_in_a_study_file():
    """The load case bound (|component| <= 1e5 N) is declared once; a 1e300 N load fails
    with the same reason from the class and from a study file."""
    with pytest.raises(InputError, match=r"force_N components must lie in \[-100000, 100000\] N"):
        LoadCase("crush", force_N=(0.0, 0.0, -1e300))
    with pytest.raises(StudyFileError, match=r"force_N.*components must lie in \[-100000, 100000\] N"):
        study_from_dict({"load_cases": [{"name": "crush", "force_N": [0, 0, -1e300]}],
                         "cases": [{"name": "a"}]})
    assert MAX_FORCE_N == 1e5


def test_defaults_live_in_one_signature():
    """The study's analysis defaults are SegmentAnalysis's; a study without [analysis]
    reaches the solver with exactly them."""
    import inspect

    from biomech.analysis import SegmentAnalysis
    from biomech.study.schema import default_analysis
    sig = inspect.signature(SegmentAnalysis.__init__).parameters
    assert default_analysis() == {"solver": sig["solver"].default, "rtol": sig["rtol"].default}
    s = study_from_dict({"cases": [{"name": "a"}]})
    assert s.case("a").analysis.get("rtol", sig["rtol"].default) == sig["rtol"].default
