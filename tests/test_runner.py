"""Running cases and studies: results.csv with ratios, case files, resume by content
hash, failed cases recorded, atomic writes, the process executor.

Models are tiny (an L2 body between PMMA caps at 4 mm voxels, ~3000 DOF) so that the
mechanics costs about a second per case."""
from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from biomech import runner
from biomech.runner import CASES_FOLDER, read_results_csv, run_study, solve_case
from biomech.study import study_from_dict

VP = {"kind": "vertebroplasty", "level": "L2", "approach": "extrapedicular", "volume_ml": 1.5}


def tiny_study(cases, load_cases=("compression",), outputs=None, analysis=None):
    return study_from_dict({
        "study": {"name": "tiny", "baseline": "intact"},
        "model": {"kind": "vertebra_with_caps", "level": "L2", "voxel_size_mm": 4.0,
                  "bone": {"vbmd_mg_cm3": 70.0}},
        **({"analysis": analysis} if analysis else {}),
        "load_cases": list(load_cases),
        "cases": cases,
        "outputs": outputs or {"pictures": False, "vti": False, "fields": "none",
                               "report": False},
    })


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    """intact, vertebroplasty and an impossible case (more cement than the body holds:
    12 mL passes the study's upper estimate of 15 mL at 4 mm, the built L2 holds 10.4 mL),
    compression and flexion, case files and report written."""
    out = tmp_path_factory.mktemp("study")
    study = tiny_study([{"name": "intact"}, {"name": "vp", "treatment": VP},
                        {"name": "too_much", "treatment": dict(VP, volume_ml=12.0,
                                                                flow_rate_ml_per_min=4.0)}],
                       load_cases=("compression", "flexion"),
                       outputs={"pictures": False, "vti": True, "fields": "all", "report": True})
    return study, run_study(study, out, executor="inprocess"), out


def test_results_table_rows_and_ratios(solved):
    study, result, out = solved
    rows = read_results_csv(out / "results.csv")
    assert [(r["case"], r["load_case"]) for r in rows] == [
        (c, lc) for c in ("intact", "vp", "too_much") for lc in ("compression", "flexion")]
    assert [r["status"] for r in rows] == ["ok"] * 4 + ["failed"] * 2
    # the failed case carries its error; the others were not stopped by it
    assert "exceeds" in rows[4]["error"] and result.failed == ["too_much"]
    by = {(r["case"], r["load_case"]): r for r in rows}
    intact, vp = by["intact", "compression"], by["vp", "compression"]
    # ratio = value / baseline value of the same load case: exact division, compared to
    # 1e-12 relative (CSV round trip of doubles is exact with repr)
    assert vp["stiffness_N_per_mm_ratio"] == pytest.approx(
        vp["stiffness_N_per_mm"] / intact["stiffness_N_per_mm"], rel=1e-12)
    assert intact["stiffness_N_per_mm_ratio"] == 1.0
    assert vp["stiffness_N_per_mm_ratio"] > 1.0          # cement stiffens the body
    assert vp["cement_volume_ml"] == pytest.approx(1.5, rel=1e-9)   # volume bookkeeping exact
    header = list(rows[0])
    numeric = [k for k, v in intact.items() if isinstance(v, float) and not k.endswith("_ratio")
               and k not in runner.PARAM_COLUMNS and k not in runner.NO_RATIO]
    assert "segment_stiffness_N_per_mm" in numeric and "L2_bone_at_risk" in numeric
    assert all(f"{k}_ratio" in header for k in numeric)
    # flexion has no axial force: stiffness is undefined there (empty), the rotation is not
    assert by["vp", "flexion"]["stiffness_N_per_mm"] is None
    assert by["vp", "flexion"]["segment_rotation_deg"] > 0


def test_case_files_and_study_files(solved):
    study, result, out = solved
    rec = json.loads((out / CASES_FOLDER / "vp" / "case.json").read_text())
    assert rec["status"] == "ok" and rec["hash"] == study.case("vp").hash
    assert rec["spec"]["treatments"][0]["cement"]["name"] == "pmma"
    failed = json.loads((out / CASES_FOLDER / "too_much" / "case.json").read_text())
    assert failed["status"] == "failed" and "InputError" in failed["traceback"]
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["n_cases"], summary["n_ok"], summary["n_failed"]) == (3, 2, 1)
    assert summary["baseline"] == "intact"
    assert (out / "report.html").is_file()
    pvd = (out / "cases.pvd").read_text()
    assert "intact.vti" in pvd and "vp.vti" in pvd and "too_much" not in pvd
    import pyvista as pv
    img = pv.read(out / CASES_FOLDER / "vp" / "vp.vti")
    for name in ("label", "E_MPa", "von_mises_MPa", "min_principal_strain",
                 "strain_energy_density_MPa", "flexion_von_mises_MPa"):
        assert name in img.cell_data, name
    assert "displacement_mm" in img.point_data and "flexion_displacement_mm" in img.point_data


def test_fields_read_back_match_an_independent_solve(solved):
    """fields.npz stores float32: the read-back von Mises stress equals a fresh in-memory
    solve of the same spec to float32 precision (rel 1e-6)."""
    study, result, out = solved
    back = result.case_fields("vp", "flexion")
    fresh = solve_case(study.case("vp")).case_fields("flexion")
    np.testing.assert_allclose(back.cell_fields["von_mises_MPa"],
                               fresh.cell_fields["von_mises_MPa"], rtol=1e-6,
                               atol=1e-6 * fresh.cell_fields["von_mises_MPa"].max())
    assert back.mesh.n_elements == fresh.mesh.n_elements
    assert back.model.level_names == fresh.model.level_names
    with pytest.raises(Exception, match="does not exist"):
        result.case_fields("too_much")


def test_rerun_skips_finished_cases_and_reruns_changed_ones(tmp_path):
    cases = [{"name": "intact"}, {"name": "vp", "treatment": VP}]
    first = run_study(tiny_study(cases), tmp_path, executor="inprocess")
    assert first.ok and first.skipped == []
    stamp = {n: os.stat(tmp_path / CASES_FOLDER / n / "case.json").st_mtime_ns for n in ("intact", "vp")}
    again = run_study(tiny_study(cases), tmp_path)
    assert sorted(again.skipped) == ["intact", "vp"]
    assert {n: os.stat(tmp_path / CASES_FOLDER / n / "case.json").st_mtime_ns
            for n in ("intact", "vp")} == stamp
    changed = tiny_study([{"name": "intact"}, {"name": "vp", "treatment": dict(VP, volume_ml=2.0)}])
    third = run_study(changed, tmp_path)
    assert third.skipped == ["intact"]
    rec = json.loads((tmp_path / CASES_FOLDER / "vp" / "case.json").read_text())
    assert rec["hash"] == changed.case("vp").hash != first.outcomes["vp"].hash
    assert third.metrics("vp", "compression")["cement_volume_ml"] == pytest.approx(2.0, rel=1e-9)
    forced = run_study(changed, tmp_path, force=True)
    assert forced.skipped == []


def test_a_case_is_written_completely_or_not_at_all(tmp_path, monkeypatch):
    cases = [{"name": "intact"}]
    (tmp_path / CASES_FOLDER / ".tmp-intact-deadbeef").mkdir(parents=True)   # a killed run's

    def half_written(solved, folder, outputs):
        (folder / "partial.vti").write_text("half a file")
        raise OSError("disk full")
    monkeypatch.setattr(runner.casefiles, "write_case_folder", half_written)
    result = run_study(tiny_study(cases), tmp_path)
    folder = tmp_path / CASES_FOLDER / "intact"
    assert result.failed == ["intact"] and "disk full" in result.outcomes["intact"].error
    assert sorted(p.name for p in folder.iterdir()) == ["case.json"]
    assert not list((tmp_path / CASES_FOLDER).glob(".tmp-*"))
    monkeypatch.undo()
    result = run_study(tiny_study(cases), tmp_path)            # failed cases run again
    assert result.ok and result.skipped == []


def test_commit_replaces_an_existing_folder(tmp_path):
    final = tmp_path / "case"
    final.mkdir()
    (final / "old.txt").write_text("old")
    tmp = tmp_path / ".tmp-case"
    tmp.mkdir()
    (tmp / "new.txt").write_text("new")
    runner.casefiles._commit_folder(tmp, final)
    assert [p.name for p in final.iterdir()] == ["new.txt"] and not tmp.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["case"]


def test_output_folder_lock(tmp_path):
    (tmp_path / runner.LOCK_FILE).write_text(json.dumps({"pid": os.getppid(),
                                                         "host": __import__("socket").gethostname()}))
    with pytest.raises(Exception, match="another run"):
        run_study(tiny_study([{"name": "intact"}]), tmp_path)


def test_process_executor_gives_the_in_process_table(tmp_path):
    cases = [{"name": "intact"}, {"name": "vp", "treatment": VP}]
    a = run_study(tiny_study(cases), tmp_path / "a", executor="inprocess")
    b = run_study(tiny_study(cases), tmp_path / "b", executor="processes", workers=2)
    ra, rb = read_results_csv(tmp_path / "a" / "results.csv"), read_results_csv(tmp_path / "b" / "results.csv")
    assert list(ra[0]) == list(rb[0]) and len(ra) == len(rb) == 2
    for x, y in zip(ra, rb):
        for k in x:
            # same inputs, same code, other thread count in the workers: the same bits
            # (every parallel kernel's order is fixed by the data, not by the threads)
            same = x[k] == y[k] or (isinstance(x[k], float) and math.isnan(x[k])
                                    and math.isnan(y[k]))
            assert same, (k, x[k], y[k])
    assert a.ok and b.ok


def test_bad_executor_options(tmp_path):
    s = tiny_study([{"name": "intact"}])
    with pytest.raises(Exception, match="executor must be one of"):
        run_study(s, tmp_path, executor="mpi")
    with pytest.raises(Exception, match="workers"):
        run_study(s, tmp_path, executor="processes", workers=0)


def test_reuse_hierarchy_option_reaches_the_solver(tmp_path):
    """[analysis] reuse_hierarchy = true: the second case on the same mesh (other bone
    moduli, same nodes) reuses the prolongators of the first, and its stiffness agrees
    with a fresh set-up within 1e-4 (rtol 1e-6)."""
    from biomech.fem.multigrid import HIERARCHY_CACHE
    soft = {"kind": "osteoporosis_rule"}
    cases = [{"name": "intact"}, {"name": "soft", "conditions": [soft]}]
    fresh = tiny_study(cases, analysis={"solver": "amg", "rtol": 1e-6})
    reuse = study_from_dict({
        "study": {"name": "tiny", "baseline": "intact"},
        "model": {"kind": "vertebra_with_caps", "level": "L2", "voxel_size_mm": 4.0,
                  "bone": {"vbmd_mg_cm3": 70.0}},
        "analysis": {"solver": "amg", "rtol": 1e-6, "reuse_hierarchy": True},
        "load_cases": ["compression"], "cases": cases,
        "outputs": {"pictures": False, "vti": False, "fields": "none", "report": False}})
    HIERARCHY_CACHE.clear()
    first = solve_case(reuse.cases[0], fields=False)
    assert len(HIERARCHY_CACHE) == 1
    second = solve_case(reuse.cases[1], fields=False)
    inner = second.analysis.problem._system["solver"].inner
    assert inner.reused
    HIERARCHY_CACHE.clear()
    ref = solve_case(fresh.cases[1], fields=False)
    assert not ref.analysis.problem._system["solver"].inner.reused
    k, k_ref = (s.results[0].metrics["stiffness_N_per_mm"] for s in (second, ref))
    assert k == pytest.approx(k_ref, rel=1e-4)
    assert first.results[0].metrics["stiffness_N_per_mm"] > k     # the soft case is softer


def test_ratio_of_a_baseline_that_is_zero_by_symmetry_is_empty():
    """A baseline value below 1e-3 of the metric's largest baseline magnitude (a mean
    endplate stress under lateral bending, zero up to solver round-off) gives no
    ratio; values above it divide as usual."""
    rows = [{"case": c, "load_case": lc, "status": "ok", "stress_MPa": v}
            for c, lc, v in (("base", "compression", -0.5), ("base", "bending", 2e-7),
                             ("vp", "compression", -0.4), ("vp", "bending", -3e-6))]
    out = {(r["case"], r["load_case"]): r for r in runner.add_ratios(rows, "base")}
    assert out["vp", "compression"]["stress_MPa_ratio"] == pytest.approx(0.8, rel=1e-12)
    assert out["vp", "bending"]["stress_MPa_ratio"] is None
    assert out["base", "bending"]["stress_MPa_ratio"] is None
    rows[1]["stress_MPa"] = 1e-3                 # 0.2 % of 0.5: a real value again
    out = {(r["case"], r["load_case"]): r for r in runner.add_ratios(rows, "base")}
    assert out["vp", "bending"]["stress_MPa_ratio"] == pytest.approx(-3e-3, rel=1e-12)


def test_auto_executor_uses_processes_only_when_they_fit(monkeypatch):
    """auto: local processes when >= 2 cases run and cores and memory allow (memory:
    the first case's solid voxels x CASE_BYTES_PER_VOXEL per worker), else in process."""
    study = tiny_study([{"name": "intact"}, {"name": "vp", "treatment": VP},
                        {"name": "vp2", "treatment": dict(VP, volume_ml=1.0)}])
    monkeypatch.setattr(runner.executors, "available_cores", lambda: 2)
    monkeypatch.setattr(runner.executors, "available_memory_bytes", lambda: 64 * 2**30)
    assert runner.choose_local_executor(study.cases) == ("processes", 2)
    assert runner.choose_local_executor(study.cases[:1]) == ("inprocess", None)
    assert runner.choose_local_executor(study.cases, workers=1) == ("inprocess", None)
    model = runner.build_geometry(study.cases[0].model)
    one_case = runner.CASE_BYTES_PER_VOXEL * int(np.count_nonzero(model.labels))
    monkeypatch.setattr(runner.executors, "available_memory_bytes", lambda: int(1.5 * one_case))
    assert runner.choose_local_executor(study.cases) == ("inprocess", None)
    monkeypatch.setattr(runner.executors, "available_memory_bytes", lambda: None)
    monkeypatch.setattr(runner.executors, "available_cores", lambda: 8)
    assert runner.choose_local_executor(study.cases) == ("processes", 3)
