"""The `biomech` command line: demo, run (dry run, resume, exit codes), warmup, info, view."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

from biomech.cli import build_parser, log_level, main
from biomech.runner.rows import read_results_csv

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"

TINY = """
load_cases = ["compression"]
[model]
kind = "vertebra_with_caps"
voxel_size_mm = 4.0
[[cases]]
name = "intact"
[[cases]]
name = "vp"
treatment = { kind = "vertebroplasty", level = "L2", approach = "extrapedicular", volume_ml = 1.0 }
[outputs]
pictures = false
vti = false
fields = "none"
report = false
"""


def test_console_script_is_declared():
    eps = [e for e in metadata.entry_points(group="console_scripts") if e.name == "biomech"]
    assert eps and eps[0].value == "biomech.cli:main"


def test_demo_writes_table_files_pictures_and_report(tmp_path, capsys):
    """The demo at 5 mm voxels (the coarsest the anatomy takes) writes everything the
    full demo writes."""
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--voxel-size", "5", "--quiet"]) == 0
    text = capsys.readouterr().out
    names = ("intact", "untreated", "vertebroplasty", "kyphoplasty", "lytic_metastasis")
    assert all(n in text for n in names) and "L2 stiffness [N/mm]" in text
    for f in ("results.csv", "summary.json", "report.html", "cases.pvd",
              "pictures/stiffness_restoration.png", "pictures/compare_von_mises.png"):
        assert (out / f).is_file(), f
    for n in names:
        assert (out / "cases" / n / f"{n}.vti").is_file()
        assert (out / "cases" / n / "pictures" / "model_cutaway.png").is_file()
    assert (out / "cases" / "vertebroplasty" / "pictures" / "cement.png").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_ok"] == 5 and summary["baseline"] == "intact"
    rows = {(r["case"], r["load_case"]): r for r in read_results_csv(out / "results.csv")}
    # the fracture tilts the segment; kyphoplasty's restoration gives part of it back (at
    # 5 mm a 35 % restoration may round to no whole voxel: tests/test_deformity.py
    # checks the restoration at 1 mm)
    k = {n: rows[(n, "standing")]["kyphosis_deg"] for n in names}
    assert abs(k["intact"]) < 3.0 and k["untreated"] > 8.0
    assert k["kyphoplasty"] <= k["untreated"] and k["vertebroplasty"] == k["untreated"]
    # standing: the kyphosis moves the upper body forward and the erector spinae pull
    # harder (the adjacent disc response is checked at 3 mm in tests/test_posture.py: a
    # 5 mm nucleus is two voxels); every vertebra has a failure load and a factor of risk
    erector = {n: rows[(n, "standing")]["erector_force_N"] for n in names}
    assert erector["untreated"] > 2.0 * erector["intact"]
    for n in names:
        assert rows[(n, "compression")]["failure_load_N"] > 0
        assert rows[(n, "standing")]["adjacent_superior_factor_of_risk"] > 0
    assert "report.html" in os.listdir(out)


def test_run_dry_run_lists_cases_and_hashes(tmp_path, capsys):
    assert main(["run", str(EXAMPLES / "study_default.toml"), "--out", str(tmp_path),
                 "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "5 cases" in text and "baseline 'intact'" in text
    assert text.count("missing") == 5


def test_run_bad_study_file_exit_2_names_file_and_key(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY.replace("voxel_size_mm = 4.0", "voxel_size = 4.0"))
    assert main(["run", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "model.voxel_size" in err and "unknown key" in err
    assert not (tmp_path / "o" / "results.csv").exists()
    assert main(["run", str(bad), "--out", str(tmp_path / "o"), "--scheduler", "tcp://x:1"]) == 2


def test_run_resumes_and_reports_failures(tmp_path, capsys):
    study = tmp_path / "tiny.toml"
    study.write_text(TINY)
    out = tmp_path / "out"
    assert main(["run", str(study), "--out", str(out), "--quiet"]) == 0
    assert "2 of 2 cases ok (0 from an earlier run)" in capsys.readouterr().out
    assert main(["run", str(study), "--out", str(out), "--quiet"]) == 0
    assert "(2 from an earlier run)" in capsys.readouterr().out
    # 12 mL passes the dry run's upper estimate (15 mL at 4 mm) but not the built L2 (10.4)
    study.write_text(TINY.replace("volume_ml = 1.0", "volume_ml = 12.0, flow_rate_ml_per_min = 4.0"))
    assert main(["run", str(study), "--out", str(out), "--quiet"]) == 1     # a case failed
    text = capsys.readouterr().out
    assert "1 of 2 cases ok (1 from an earlier run)" in text and "failed: vp" in text


def _cli(*args, env=None):
    e = dict(os.environ)
    e.setdefault("NUMBA_CACHE_DIR", str(REPO / ".numba_cache"))
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "biomech.cli", *args], capture_output=True,
                          text=True, env=e, timeout=300)


def test_info_reports_versions_threads_and_cache(tmp_path):
    r = _cli("info", "--json", env={"NUMBA_CACHE_DIR": str(tmp_path / "cache")})
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["numba_cache_dir"] == str(tmp_path / "cache")
    assert info["versions"]["numpy"] and info["numba_threads"] >= 1
    r = _cli("info")
    assert r.returncode == 0 and "Numba cache:" in r.stdout


def test_warmup_compiles_every_public_kernel():
    """Every public kernel of biomech.kernels gets a compiled signature, and the cache
    holds an index for it (private helpers compile inside their callers).  The second
    run (a warm cache: it loads only what its Python code calls) reaches exactly the
    signatures of the packaged list that the parallel compile works from."""
    r = _cli("warmup", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    r = _cli("warmup", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    data = json.loads(r.stdout)
    assert data["not_compiled"] == []
    assert data["signature_list"] == {"unlisted": [], "unused": []}, (
        "the warm-up's kernel signatures changed: run python -m biomech.runner.kernel_compile "
        "to rewrite biomech/data/kernel_signatures.json")
    assert {"cement_flow.cement_front", "assembly.fill_voxel", "matfree.voxel_matvec_coloured",
            "recovery.element_strains", "elements.tet10_stiffness"} <= {
        k for k, v in data["kernels"].items() if v > 0}
    cached = {f.split("-")[0] for _, _, files in os.walk(data["cache_dir"]) for f in files
              if f.endswith(".nbi")}
    assert {"cement_flow.cement_front", "assembly.fill_voxel"} <= cached


def test_view_is_passed_to_the_viewer(tmp_path, capsys):
    assert main(["view", str(tmp_path / "missing.vti")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_study_text_in_report(tmp_path):
    """The study file is copied next to the results (provenance)."""
    study = tmp_path / "tiny.toml"
    study.write_text(textwrap.dedent(TINY).replace("report = false", "report = true"))
    assert main(["run", str(study), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    assert (tmp_path / "o" / "study.toml").read_text() == study.read_text()
    assert "vertebra_with_caps" in (tmp_path / "o" / "report.html").read_text()


def test_version(capsys):
    import biomech
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"biomech {biomech.__version__}"
    assert metadata.version("biomech") == biomech.__version__       # one version, in __init__


@pytest.mark.parametrize("argv, level, quiet", [
    (["demo"], logging.WARNING, False),
    (["-v", "demo"], logging.INFO, False),
    (["demo", "-v"], logging.INFO, False),
    (["demo", "-vv"], logging.DEBUG, False),
    (["demo", "--verbose", "--verbose"], logging.DEBUG, False),
    (["-q", "demo"], logging.ERROR, True),
    (["demo", "--quiet"], logging.ERROR, True),
    (["--log-level", "INFO", "run", "x.toml", "--out", "d"], logging.INFO, False),
    (["run", "x.toml", "--out", "d", "--log-level", "DEBUG"], logging.DEBUG, False),
    (["run", "x.toml", "--log-level", "debug", "--out", "d"], logging.DEBUG, False),
    (["--log-level", "ERROR", "info", "--log-level", "INFO"], logging.INFO, False),   # later wins
    (["-v", "warmup", "--log-level", "ERROR"], logging.ERROR, False),     # --log-level over -v
    (["-v", "warmup"], logging.INFO, False),          # not reset by the subcommand's defaults
])
def test_output_options_before_or_after_the_command(argv, level, quiet):
    args = build_parser().parse_args(argv)
    assert log_level(args) == level and args.quiet == quiet


def test_log_level_before_view_reaches_the_viewer(tmp_path, capsys):
    """`biomech --log-level INFO view x.vtu` once failed with KeyError: 'view'."""
    for argv in (["--log-level", "INFO", "view"], ["-v", "--log-level=DEBUG", "view"], ["-q", "view"]):
        assert main([*argv, str(tmp_path / "missing.vtu")]) == 2
        assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:                   # view's own options, after 'view'
        main(["-v", "view", "--help"])
    assert exc.value.code == 0 and "--screenshot" in capsys.readouterr().out


def test_biomech_error_is_one_line_without_traceback(tmp_path):
    r = _cli("run", str(tmp_path / "missing.toml"), "--out", str(tmp_path / "o"), "--log-level", "DEBUG")
    assert r.returncode == 2
    (line,) = r.stderr.splitlines()                     # one line, even at DEBUG
    assert line.startswith("biomech run: ") and str(tmp_path / "missing.toml") in line, r.stderr


def test_treatment_advice_printed_once(tmp_path):
    """A treatment's advice reaches the user once (logging only, no warnings.warn twin);
    -q keeps errors only."""
    study = tmp_path / "one.toml"
    study.write_text(TINY.replace('[[cases]]\nname = "intact"\n', "").replace(
        "volume_ml = 1.0 }", "volume_ml = 1.0, prophylactic = true }"))
    r = _cli("run", str(study), "--out", str(tmp_path / "o"), "--no-pictures", "--quiet",
             "--log-level", "WARNING")
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("no neighbouring level") == 1, r.stderr
    assert "UserWarning" not in r.stderr
    r = _cli("run", str(study), "--out", str(tmp_path / "o2"), "-q")
    assert r.returncode == 0 and "no neighbouring level" not in r.stderr, r.stderr


def test_executor_choices_match_the_runner():
    """The CLI keeps its own copy of the executor names (importing the runner is slow)."""
    from biomech import cli
    from biomech.runner import executors
    assert cli.EXECUTORS == executors.EXECUTORS
    assert cli.DEFAULT_EXECUTOR == executors.DEFAULT_EXECUTOR
