"""Issue 15, study files: every bad input ends in a StudyFileError that names the key,
the bad value and what is allowed; documented forms are accepted; nothing recurses,
hangs or reads a device; results.csv holds no spreadsheet formula."""
from __future__ import annotations

import copy
import os
import random
import time

import pytest

from biomech.cli import main
from biomech.errors import BiomechError
from biomech.study import StudyFileError, load_study, study_from_dict

BASE = {
    "model": {"kind": "segment", "levels": ["L1", "L2", "L3"], "voxel_size_mm": 3.0,
              "bone": {"vbmd_mg_cm3": 70.0}},
    "load_cases": ["compression"],
    "cases": [
        {"name": "untreated", "conditions": [{"kind": "fracture", "level": "L2", "grade": 2}]},
        {"name": "vp", "extends": "untreated",
         "treatment": {"kind": "vertebroplasty", "level": "L2", "volume_ml": 4.0}},
    ],
}


def study(**edits):
    d = copy.deepcopy(BASE)
    d.update(edits)
    return d


def edited(fn):
    d = copy.deepcopy(BASE)
    fn(d)
    return d


def refused(data, key_part, *reason_parts):
    with pytest.raises(StudyFileError) as err:
        study_from_dict(data)
    assert key_part in err.value.key, err.value
    for part in reason_parts:
        assert part in err.value.reason, err.value
    return err.value


# ----------------------------------------------------------------- documented forms
def test_documented_forms_are_accepted():
    s = study_from_dict(edited(lambda d: d["model"].update(lordosis=10.0)))
    assert s.cases[0].model["lordosis"] == 10.0
    s = study_from_dict(study(sweeps=[{"case": ["vp"], "grid": {"treatment.volume_ml": [2.0, 3.0]}}]))
    assert s.case_names == ["untreated", "vp-volume_ml2", "vp-volume_ml3"]
    from biomech.study.schema import _model_schema
    checked = _model_schema().check({"label_map": {"1": ["cortical", "L1"]}}, "model")
    assert checked["label_map"] == {"1": ["cortical", "L1"]}
    refused(edited(lambda d: d["model"].update(lordosis="yes")), "model.lordosis",
            "true, false or an angle")
    refused(edited(lambda d: d["model"].update(lordosis=90.0)), "model.lordosis", "[0, 60] deg")


# ----------------------------------------------------------------- meaningless values
def _cond(d, **kw):
    d["cases"][0]["conditions"][0].update(kw)


def _vp(d, **kw):
    d["cases"][1]["treatment"].update(kw)


BAD_VALUES = [
    ("height_loss 1.0", lambda d: _cond(d, height_loss=1.0), "height_loss", "[0.2, 0.8]"),
    ("height_loss outside the grade", lambda d: _cond(d, height_loss=0.6),
     "height_loss", "[0.25, 0.4]"),
    ("reference_porosity 0", lambda d: _vp(d, flow={"reference_porosity": 0.0}),
     "flow.reference_porosity", "(0, 1)"),
    ("reference_porosity 5", lambda d: _vp(d, flow={"reference_porosity": 5.0}),
     "flow.reference_porosity", "(0, 1)"),
    ("min_bvtv 1e9", lambda d: _vp(d, flow={"min_bvtv": 1e9}), "flow.min_bvtv", "(0, 0.5]"),
    ("needle tip 1e9 mm away", lambda d: _vp(d, tips_mm=[[1e9, 0.0, 0.0]]), "tips_mm",
     "[-2000, 2000] mm"),
    ("lesion centre 1e9 mm away", lambda d: d["cases"][0]["conditions"].append(
        {"kind": "metastasis", "level": "L2", "size_mm": 10.0, "centre_mm": [0.0, 1e9, 0.0]}),
     "centre_mm", "[-2000, 2000] mm"),
    ("rtol 1e-300", lambda d: d.update(analysis={"rtol": 1e-300}), "analysis.rtol", "[1e-12, 0.1]"),
    ("injection time 1e300 min", lambda d: _vp(d, injection_time_min=1e300),
     "injection_time_min", "[0, 120] min"),
    ("injection after setting", lambda d: _vp(d, injection_time_min=13.0), "treatments[0]",
     "sets"),
    ("more cement than the body holds", lambda d: _vp(d, volume_ml=25.0, flow_rate_ml_per_min=5.0),
     "volume_ml", "more than the body of L2 holds"),
    ("kyphoplasty cement beyond the body", lambda d: d["cases"][1].update(treatment={
        "kind": "kyphoplasty", "level": "L2", "balloon_volume_ml": 3.0, "cement_volume_ml": 25.0}),
     "cement_volume_ml", "more than the body"),
    ("1e-300 mL", lambda d: _vp(d, volume_ml=1e-300), "volume_ml", "[0.1, 30] mL"),
    ("vBMD 1e-300", lambda d: d["model"]["bone"].update(vbmd_mg_cm3=1e-300), "vbmd_mg_cm3",
     "[5, 400] mg/cm3"),
    ("load 1e300 N", lambda d: d.update(load_cases=[{"name": "x", "force_N": [0, 0, -1e300]}]),
     "force_N", "100000"),
    ("ct_level L9", lambda d: d.update(model={"kind": "ct", "image": "ct.nii.gz", "ct_level": "L9"}),
     "ct_level", "L1-L6"),
    ("calibration slope 1e300", lambda d: d.update(model={
        "kind": "ct", "image": "ct.nii", "calibration": {"slope_mg_cm3_per_HU": 1e300}}),
     "slope_mg_cm3_per_HU", "[0.05, 5]"),
    ("lesion of 1e-300 mm", lambda d: d["cases"][0]["conditions"].append(
        {"kind": "metastasis", "level": "L2", "size_mm": 1e-300}), "size_mm", "[1, 200] mm"),
    ("cement name formula", lambda d: d.update(cement={"=HYPERLINK(x)": {
        "E_MPa": 3000.0, "nu": 0.3, "density_g_cm3": 1.1, "setting_time_min": 15.0,
        "viscosity_time_min": [1.0, 2.0], "viscosity_Pa_s": [10.0, 100.0]}}), "cement",
     "not allowed"),
    ("cement description formula", lambda d: _vp(d, cement={"base": "pmma",
                                                            "description": "=HYPERLINK(\"x\")"}),
     "cement.description", "formula"),
    ("material modulus 1e-300", lambda d: d["model"].update(materials={"cortical": {"E_MPa": 1e-300}}),
     "materials.cortical.E_MPa", "[0.0001, 1e+06]"),
]


@pytest.mark.parametrize("label, edit, key, allowed", BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
def test_meaningless_values_are_refused_with_the_allowed_range(label, edit, key, allowed):
    refused(edited(edit), key, allowed)


def test_dry_run_refuses_them_with_exit_2_and_no_traceback(tmp_path, capsys):
    p = tmp_path / "s.toml"
    p.write_text('[model]\nkind = "vertebra"\nlevel = "L2"\n[[cases]]\nname = "a"\n'
                 'treatment = {kind = "vertebroplasty", level = "L2", volume_ml = 1e-300}\n')
    assert main(["run", str(p), "--out", str(tmp_path / "out"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "case 'a'.treatment.volume_ml" in err and "[0.1, 30] mL" in err
    assert "Traceback" not in err


def test_errors_name_cases_by_name():
    err = refused(edited(lambda d: _vp(d, volume_ml="x")), "case 'vp'", "must be a number")
    assert "cases[1]" not in str(err)
    d = copy.deepcopy(BASE)
    d["cases"].append({"name": "vp"})
    err = refused(d, "cases[2].name", "used twice", "cases 2 and 3")


# ----------------------------------------------------------------- files named by a study
def _fifo(tmp_path):
    p = tmp_path / "fifo"
    os.mkfifo(p)
    return str(p)


BAD_PATHS = [
    ("folder", lambda t: str(t), "a folder"),
    ("device", lambda t: "/dev/zero", "character device"),
    ("FIFO", _fifo, "FIFO"),
    ("binary", lambda t: (t / "b.toml").write_bytes(b"a = 1\x00\xff") and str(t / "b.toml"),
     "binary"),
    ("NUL in the name", lambda t: "a\x00b.toml", "NUL"),
    ("over-long name", lambda t: "x" * 5000, "too long"),
    ("missing", lambda t: str(t / "none.toml"), "does not exist"),
]


@pytest.mark.parametrize("label, make, reason", BAD_PATHS, ids=[b[0] for b in BAD_PATHS])
def test_cement_files_are_regular_text_files(tmp_path, label, make, reason):
    t0 = time.perf_counter()
    refused(study(cement_files=[make(tmp_path)]), "cement_files[0]", reason)
    assert time.perf_counter() - t0 < 2.0


@pytest.mark.parametrize("key", ["image", "calibration_file"])
@pytest.mark.parametrize("label, make, reason", BAD_PATHS[:3] + BAD_PATHS[4:6],
                         ids=[b[0] for b in BAD_PATHS[:3] + BAD_PATHS[4:6]])
def test_ct_paths_are_checked_before_reading(tmp_path, key, label, make, reason):
    model = {"kind": "ct", "image": str(tmp_path / "ct.nii")}
    (tmp_path / "ct.nii").write_bytes(b"\0" * 400)
    model[key] = make(tmp_path)
    if key == "image" and label == "folder":
        reason = "no DICOM file"
    t0 = time.perf_counter()
    refused(study(model=model, cases=[{"name": "a"}]), f"model.{key}", reason)
    assert time.perf_counter() - t0 < 2.0


def test_ct_image_of_the_root_folder_is_refused_without_walking_it():
    t0 = time.perf_counter()
    refused(study(model={"kind": "ct", "image": "/"}, cases=[{"name": "a"}]), "model.image",
            "no DICOM file")
    assert time.perf_counter() - t0 < 2.0


# ----------------------------------------------------------------- size and nesting
@pytest.mark.parametrize("text", [
    "a = " + "[" * 500 + "]" * 500,
    "a = " + "{b = " * 400 + "1" + "}" * 400,
    "[" + ".".join(["k"] * 600) + "]\nx = 1",
    ".".join(["k"] * 600) + " = 1",
], ids=["arrays", "inline tables", "dotted table", "dotted key"])
def test_deep_nesting_is_a_clear_error(tmp_path, text):
    p = tmp_path / "deep.toml"
    p.write_text(text)
    with pytest.raises(StudyFileError, match="nest"):
        load_study(p)


def test_deep_nesting_in_a_dict_is_a_clear_error():
    deep = 1
    for _ in range(5000):
        deep = [deep]
    refused(study(analysis={"x": deep}), "analysis.x", "nest more than 32 deep")


def test_load_case_count_is_limited_and_duplicates_are_found_fast():
    t0 = time.perf_counter()
    refused(study(load_cases=["compression"] * 50_000), "load_cases", "50000", "at most 200")
    refused(study(load_cases=["compression"] * 200), "load_cases", "repeat", "compression")
    assert time.perf_counter() - t0 < 1.0


def test_sweep_size_is_limited_before_expanding():
    t0 = time.perf_counter()
    refused(study(sweeps=[{"case": "vp", "grid": {"treatment.volume_ml": [1.0 + i * 1e-4 for i in range(200)],
                                                   "treatment.tip_depth": [0.5] * 100}}]),
            "sweeps[0].grid", "20001 cases", "at most 10000")
    assert time.perf_counter() - t0 < 1.0


# ----------------------------------------------------------------- fuzz
_POOL = [None, True, -1, 0, 1e-300, 1e300, -1e300, float("nan"), float("inf"), 2**70, "",
         "x" * 5000, "a\x00b", "../../etc/passwd", "=HYPERLINK(\"http://x\")", [], [[[[]]]], {},
         {"kind": "x"}, [1e9, 1e9, 1e9], "L9", 3.5, -0.5, ["L1", "L1"], {"a": {"b": {"c": 1}}}]


def _leaves(node, path=()):
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from _leaves(v, path + (k,))
    elif isinstance(node, list):
        yield path, node
        for i, v in enumerate(node):
            yield from _leaves(v, path + (i,))


def _mutants(n, seed=15):
    rng = random.Random(seed)
    base = copy.deepcopy(BASE)
    base["sweeps"] = [{"case": "vp", "grid": {"treatment.volume_ml": [2.0, 3.0]}}]
    base["analysis"] = {"rtol": 1e-6, "solver": "amg"}
    out = []
    for _ in range(n):
        d = copy.deepcopy(base)
        for _ in range(rng.randint(1, 3)):
            containers = list(_leaves(d))
            _, node = rng.choice(containers)
            value = copy.deepcopy(rng.choice(_POOL))
            if isinstance(node, dict) and node and rng.random() < 0.8:
                node[rng.choice(list(node))] = value
            elif isinstance(node, dict):
                node[rng.choice(["kind", "name", "extra", "level", "volume_ml"])] = value
            elif node:
                node[rng.randrange(len(node))] = value
            else:
                node.append(value)
        out.append(d)
    return out


@pytest.mark.parametrize("i, data", list(enumerate(_mutants(300))))
def test_fuzzed_study_dicts_end_in_a_study_error_or_a_study(i, data):
    t0 = time.perf_counter()
    try:
        study_from_dict(data)
    except StudyFileError as exc:
        assert exc.key or exc.reason
        assert len(str(exc)) < 2000              # a message never echoes megabytes
    except BiomechError as exc:                  # pragma: no cover - shown when it happens
        pytest.fail(f"not a StudyFileError: {type(exc).__name__}: {exc}")
    assert time.perf_counter() - t0 < 2.0


# ----------------------------------------------------------------- results.csv
def test_results_csv_neutralises_formulas(tmp_path):
    from biomech.runner import read_results_csv, write_results_csv
    rows = [{"case": "a", "note": '=HYPERLINK("http://x","y")', "other": "+1+1", "at": "@SUM(A1)",
             "minus": "-2+3", "ok": "plain", "x": -1.5}]
    cols = list(rows[0]) + ["=col"]
    p = write_results_csv(tmp_path / "results.csv", rows, cols)
    text = p.read_text()
    for cell in text.replace("\r\n", "\n").split("\n")[1].split(","):
        assert not cell.lstrip('"').startswith(("=", "+", "@")), text
    assert "'=HYPERLINK" in text and ",-1.5," in text
    back = read_results_csv(p)[0]
    assert back["note"] == rows[0]["note"] and back["minus"] == "-2+3" and back["x"] == -1.5
    assert "=col" in back
