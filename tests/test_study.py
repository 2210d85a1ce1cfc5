"""Study files: schema (unknown keys and bad values name file, key and reason),
`extends`, sweeps as cartesian products, load cases, content hashes.  No solving here."""
from __future__ import annotations

import inspect
import textwrap
from pathlib import Path

import pytest

from biomech.demo import DEMO_VOXEL_SIZE_MM, demo_study
from biomech.study import StudyFileError, load_study, schema_keys, study_from_dict

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

BASE = """
load_cases = ["compression"]
[model]
kind = "vertebra_with_caps"
level = "L2"
voxel_size_mm = 4.0
[model.bone]
vbmd_mg_cm3 = 70.0
[[cases]]
name = "intact"
[[cases]]
name = "vp"
treatment = { kind = "vertebroplasty", level = "L2", volume_ml = 2.0 }
"""


def write(tmp_path, text, name="study.toml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_default_study_file_is_the_demo():
    """examples/study_default.toml and `biomech demo` describe the same cases: equal
    content hashes (exact: same inputs must give the same SHA-256)."""
    s = load_study(EXAMPLES / "study_default.toml")
    d = demo_study(DEMO_VOXEL_SIZE_MM)
    assert s.case_names == d.case_names == ["intact", "untreated", "vertebroplasty",
                                            "kyphoplasty", "lytic_metastasis"]
    assert [c.hash for c in s.cases] == [c.hash for c in d.cases]
    assert s.baseline == "intact"
    assert [lc["name"] for lc in s.cases[0].load_cases] == [
        "compression", "flexion", "extension", "lateral_bending_right", "axial_rotation_left",
        "standing"]
    assert s.cases[0].load_cases[-1]["posture"]["body_mass_kg"] == 65.0
    # extends: the treated cases keep the fracture of the case they extend
    assert s.case("kyphoplasty").conditions == s.case("untreated").conditions
    assert s.case("kyphoplasty").treatments[0]["cement"]["name"] == "pmma"


@pytest.mark.parametrize("edit, key, reason", [
    (("voxel_size_mm = 4.0", "voxl_size_mm = 4.0"), "model.voxl_size_mm", "unknown key"),
    (("voxel_size_mm = 4.0", "voxel_size_mm = -1.0"), "model.voxel_size_mm", "must lie in"),
    (("voxel_size_mm = 4.0", 'voxel_size_mm = "fine"'), "model.voxel_size_mm", "must be a number"),
    (("volume_ml = 2.0", 'volume_ml = "two"'), "case 'vp'.treatment.volume_ml", "must be a number"),
    (("volume_ml = 2.0", "volume_ml = 2.0, cement = \"unobtainium\""),
     "case 'vp'.treatments[0].cement", "unknown cement"),
    (('level = "L2", volume_ml', 'level = "L4", volume_ml'), "case 'vp'.treatments[0].level",
     "not a vertebra of the model"),
    (('kind = "vertebroplasty"', 'kind = "glue"'), "case 'vp'.treatment.kind", "must be one of"),
    (('level = "L2"\nvoxel', 'level = "L2"\nlevels = ["L1", "L2"]\nvoxel'), "model.levels",
     "does not apply to kind 'vertebra_with_caps'"),
    (('name = "vp"', 'name = "intact"'), "cases[1].name", "used twice"),
    (('name = "vp"', 'name = "v p"'), "cases[1].name", "not allowed"),
    (('load_cases = ["compression"]', 'load_cases = ["squash"]'), "load_cases[0]",
     "unknown load case"),
    (('load_cases = ["compression"]', 'load_cases = [{name = "f", standard = "flexion", '
                                      'magnitude_N = 5.0}]'), "load_cases[0].magnitude_N",
     "magnitude_Nmm"),
])
def test_bad_key_or_value_names_file_key_and_reason(tmp_path, edit, key, reason):
    old, new = edit
    assert old in BASE
    p = write(tmp_path, BASE.replace(old, new, 1))
    with pytest.raises(StudyFileError) as err:
        load_study(p)
    assert err.value.file == str(p)
    assert err.value.key == key
    assert reason in err.value.reason
    assert str(p) in str(err.value) and key in str(err.value)


def test_other_file_errors(tmp_path):
    with pytest.raises(StudyFileError, match="does not exist"):
        load_study(tmp_path / "missing.toml")
    with pytest.raises(StudyFileError, match="not valid TOML"):
        load_study(write(tmp_path, "[model\nkind = 1"))
    with pytest.raises(StudyFileError) as err:
        load_study(write(tmp_path, BASE + '\n[study]\nbaseline = "nobody"\n'))
    assert err.value.key == "study.baseline"
    with pytest.raises(StudyFileError) as err:
        load_study(write(tmp_path, BASE + '\n[[cases]]\nname = "x"\nextends = "later"\n'))
    assert err.value.key == "case 'x'.extends"
    with pytest.raises(StudyFileError) as err:
        load_study(write(tmp_path, BASE.replace("vbmd_mg_cm3 = 70.0", "vbmd_mg_cm3 = 70.0\n"
                                                "osteoporosis_rule = true")))
    assert err.value.key == "model.bone" and "not both" in err.value.reason
    with pytest.raises(StudyFileError) as err:
        load_study(write(tmp_path, BASE + '\n[[cases]]\nname = "m"\nconditions = '
                                          '[{kind = "metastasis", level = "L2"}]\n'))
    assert err.value.key == "case 'm'.conditions[0]" and "exactly one" in err.value.reason


def test_sweep_is_a_cartesian_product(tmp_path):
    text = BASE + textwrap.dedent("""
        [[sweeps]]
        case = "vp"
        grid = { "treatment.volume_ml" = [1.0, 2.0, 3.0], "treatment.cement.E_MPa" = [1000.0, 3000.0] }
        """)
    s = load_study(write(tmp_path, text))
    names = s.case_names
    assert names[0] == "intact" and "vp" not in names and len(names) == 1 + 3 * 2
    got = {(c.treatments[0]["volume_ml"], c.treatments[0]["cement"]["E_MPa"]) for c in s.cases[1:]}
    assert got == {(v, e) for v in (1.0, 2.0, 3.0) for e in (1000.0, 3000.0)}
    # a modified copy of the library PMMA: other properties kept
    c = s.case("vp-volume_ml2-E_MPa3000")
    assert c.treatments[0]["cement"]["nu"] == 0.3 and c.treatments[0]["cement"]["E_MPa"] == 3000.0
    assert c.sweep == {"treatment.volume_ml": 2.0, "treatment.cement.E_MPa": 3000.0}
    assert s.swept_paths == ["treatment.volume_ml", "treatment.cement.E_MPa"]
    assert len({c.hash for c in s.cases}) == len(s.cases)


def test_sweep_name_pattern_and_model_path(tmp_path):
    text = BASE + textwrap.dedent("""
        [[sweeps]]
        case = "vp"
        grid = { "model.bone.vbmd_mg_cm3" = [50.0, 100.0] }
        name = "vp_bmd{vbmd_mg_cm3}"
        """)
    s = load_study(write(tmp_path, text))
    assert s.case_names == ["intact", "vp_bmd50", "vp_bmd100"]
    assert s.case("vp_bmd50").model["bone"]["vbmd_mg_cm3"] == 50.0
    assert s.case("intact").model["bone"]["vbmd_mg_cm3"] == 70.0


def test_bad_sweep_value_names_the_sweep_and_the_case(tmp_path):
    text = BASE + '\n[[sweeps]]\ncase = "vp"\ngrid = { "treatment.volume_ml" = [1.0, -2.0] }\n'
    with pytest.raises(StudyFileError) as err:
        load_study(write(tmp_path, text))
    assert err.value.key == "sweeps[0].grid"
    assert "vp-volume_ml-2" in err.value.reason and "volume_ml" in err.value.reason
    text = BASE + '\n[[sweeps]]\ncase = "vp"\ngrid = { "treatment.volume_mL" = [1.0] }\n'
    with pytest.raises(StudyFileError, match="unknown key"):
        load_study(write(tmp_path, text))
    text = BASE + '\n[[sweeps]]\ncase = "nope"\ngrid = { "treatment.volume_ml" = [1.0] }\n'
    with pytest.raises(StudyFileError, match="no case 'nope'"):
        load_study(write(tmp_path, text))


def test_hash_follows_content_not_names(tmp_path):
    a = load_study(write(tmp_path, BASE, "a.toml"))
    again = load_study(write(tmp_path, BASE, "b.toml"))
    assert [c.hash for c in a.cases] == [c.hash for c in again.cases]
    renamed = load_study(write(tmp_path, BASE.replace('name = "vp"', 'name = "vp2"\n'
                                                      'description = "other words"'), "c.toml"))
    assert renamed.cases[1].hash == a.cases[1].hash
    more = load_study(write(tmp_path, BASE.replace("volume_ml = 2.0", "volume_ml = 2.5"), "d.toml"))
    assert more.cases[1].hash != a.cases[1].hash and more.cases[0].hash == a.cases[0].hash
    # an int and a float of the same value are the same input
    as_int = load_study(write(tmp_path, BASE.replace("volume_ml = 2.0", "volume_ml = 2"), "e.toml"))
    assert as_int.cases[1].hash == a.cases[1].hash
    assert a.with_voxel_size(3.0).cases[0].hash != a.cases[0].hash
    # the cement is hashed by its content: the same numbers under another name differ
    # only by name, a changed modulus changes the hash
    user = (BASE + textwrap.dedent("""
        [cement.mine]
        E_MPa = 2500.0
        nu = 0.3
        density_g_cm3 = 1.4
        setting_time_min = 14.0
        viscosity_time_min = [2.0, 6.0]
        viscosity_Pa_s = [30.0, 300.0]
        """)).replace("volume_ml = 2.0", 'volume_ml = 2.0, cement = "mine"')
    u1 = load_study(write(tmp_path, user, "f.toml"))
    u2 = load_study(write(tmp_path, user.replace("E_MPa = 2500.0", "E_MPa = 2600.0"), "g.toml"))
    assert u1.cases[1].hash != u2.cases[1].hash
    assert u1.cases[1].treatments[0]["cement"]["E_MPa"] == 2500.0


def test_extends_merges_tables_and_replaces_lists():
    s = study_from_dict({
        "model": {"kind": "segment", "voxel_size_mm": 4.0},
        "load_cases": [{"name": "c", "standard": "compression", "magnitude_N": 800.0},
                       {"name": "f", "standard": "flexion", "magnitude_Nmm": 5000.0},
                       {"name": "cf", "combine": ["c", "f"]},
                       {"name": "custom", "force_N": [0, 0, -100], "moment_Nmm": [0, 0, 10]}],
        "cases": [
            {"name": "a", "model": {"bone": {"vbmd_mg_cm3": 60.0}},
             "conditions": [{"kind": "fracture", "level": "L2", "grade": 1}]},
            {"name": "b", "extends": "a", "model": {"voxel_size_mm": 3.0},
             "conditions": [{"kind": "angioma", "level": "L1", "size_mm": 10.0}]},
        ]})
    a, b = s.cases
    assert b.model["bone"] == {"vbmd_mg_cm3": 60.0} and b.model["voxel_size_mm"] == 3.0
    assert [c["kind"] for c in b.conditions] == ["angioma"]
    assert a.focus_level == "L2" and b.focus_level == "L1"
    lcs = {lc["name"]: lc for lc in a.load_cases}
    assert lcs["c"]["force_N"] == [0.0, 0.0, -800.0]
    assert lcs["cf"]["force_N"] == [0.0, 0.0, -800.0] and lcs["cf"]["moment_Nmm"] == [5000.0, 0.0, 0.0]
    assert lcs["custom"]["moment_Nmm"] == [0.0, 0.0, 10.0]
    assert s.baseline == "a"          # no intact/untreated case: the first


def test_treatment_schema_follows_the_treatment_functions():
    """Every key the schema accepts is a keyword of the treatment function (or kind),
    so a study key always reaches the code."""
    from biomech.treatments import kyphoplasty, vertebroplasty
    keys = schema_keys()["treatments"]
    for kind, fn in (("vertebroplasty", vertebroplasty), ("kyphoplasty", kyphoplasty)):
        params = set(inspect.signature(fn).parameters)
        assert set(keys[kind]) - {"kind"} <= params, set(keys[kind]) - params


def test_ct_model_keys_and_missing_file(tmp_path):
    with pytest.raises(StudyFileError) as err:
        study_from_dict({"model": {"kind": "ct", "image": "nothere.nii.gz"},
                         "cases": [{"name": "a"}]}, origin="x.toml", base_dir=tmp_path)
    assert err.value.key == "model.image" and "does not exist" in err.value.reason
