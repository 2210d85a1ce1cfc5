"""Every example runs in its small mode and gives one physically meaningful number."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ratios(result, load_case="compression"):
    return {r["case"]: r for r in result.rows if r["load_case"] == load_case}


def test_single_vertebra_platens():
    """Body stiffness rises with trabecular vBMD (density-modulus law), and at vBMD 70
    mg/cm^3 it is within a factor 2 of the published linear voxel-FE stiffness of a CT
    L2 of the same vBMD, 12 362 N/mm (Walle, Matheson & Boyd, spineFE benchmark,
    ../shared/data/bonelab-verse004/README.md): different geometry (parametric vs CT)
    and 4 mm voxels allow no closer agreement."""
    k = load("single_vertebra_platens").main(small=True)
    values = [k[v] for v in sorted(k)]
    assert all(b > a for a, b in zip(values, values[1:]))
    assert 0.5 < k[70.0] / 12362.0 < 2.0


def test_vp_vs_kp_segment(tmp_path):
    """Cement in the fractured L2 makes it stiffer than untreated (both treatments)."""
    rows = ratios(load("vp_vs_kp_segment").main(small=True, out_dir=tmp_path))
    assert rows["vertebroplasty"]["stiffness_N_per_mm_ratio"] > 1.0
    assert rows["kyphoplasty"]["stiffness_N_per_mm_ratio"] > 1.0


def test_cement_sweep(tmp_path):
    """At each volume a stiffer cement gives a stiffer body, and at each modulus more
    cement does (monotonic; the composite modulus grows with the cement modulus)."""
    rows = ratios(load("cement_sweep").main(small=True, out_dir=tmp_path))
    k = {n: r["stiffness_N_per_mm_ratio"] for n, r in rows.items() if n.startswith("acme")}
    for v in ("1.5", "3"):
        assert k[f"acme_5000MPa_{v}ml"] > k[f"acme_1000MPa_{v}ml"]
    for e in ("1000", "5000"):
        assert k[f"acme_{e}MPa_3ml"] > k[f"acme_{e}MPa_1.5ml"]
    assert rows["pmma_3ml"]["cement_E_MPa"] == pytest.approx(1937.0)


def test_lytic_metastasis(tmp_path):
    """The lesion softens the body, and more so when it has destroyed the posterior wall
    (the wall carries load as part of the shell)."""
    rows = ratios(load("lytic_metastasis").main(small=True, out_dir=tmp_path))
    assert (rows["lesion_wall_destroyed"]["stiffness_N_per_mm"]
            < rows["lesion_wall_intact"]["stiffness_N_per_mm"]
            < rows["intact"]["stiffness_N_per_mm"])


def test_dask_batch(tmp_path):
    """All cases run on the local cluster; denser bone gives a stiffer treated body."""
    pytest.importorskip("distributed")
    result = load("dask_batch").main(small=True, out_dir=tmp_path)
    assert result.ok and result.executor == "dask"
    rows = ratios(result)
    assert rows["vp_vbmd100_3ml"]["stiffness_N_per_mm"] > rows["vp_vbmd50_3ml"]["stiffness_N_per_mm"]


def test_verse004_ct_example(shared_data):
    """The CT example (another module's file): its L2 stiffness within a factor 2 of the
    published 12 362 N/mm (README of the data set)."""
    path = EXAMPLES / "verse004_ct.py"
    if not path.is_file():
        pytest.skip("examples/verse004_ct.py is not in this checkout")
    out = load("verse004_ct").main(small=True)
    k = out.get("stiffness_N_per_mm") if isinstance(out, dict) else out
    if not isinstance(k, (int, float)):
        pytest.skip("verse004_ct.main(small=True) returns no stiffness to check")
    assert 0.5 < k / 12362.0 < 2.0


def test_cement_formulations():
    """Formulations read from the example's TOML file drive the leak model: at each injection
    time a thicker curve (x0.5 -> x1 -> x2) never leaks more often, a later start never leaks
    more often (the trend of Habib et al. 2010), a warmer cement injected at the same time
    after mixing needs more pressure and (where the effect exceeds the sampling noise) leaks
    less, and calcium phosphate at its earliest start leaks more often than
    either PMMA at theirs."""
    rows = load("cement_formulations").main(small=True)
    by = {(r["cement"], round(r["injection_time_min"], 3), r["viscosity_scale"]): r["p_leak"]
          for r in rows if "viscosity_scale" in r}
    for c in {r["cement"] for r in rows}:
        rT = sorted((r for r in rows if r["cement"] == c and "temperature_C" in r),
                    key=lambda r: r["temperature_C"])
        peak = [r["peak_pressure_MPa"] for r in rT]
        assert len(rT) == 3 and peak[0] < peak[1] < peak[2]     # warmer: thickens sooner
        if c != "high_viscosity_pmma":      # there the effect is below one realisation in 24
            assert rT[0]["expected_leak_ml"] > rT[2]["expected_leak_ml"]
    cements = {c for c, _, _ in by}
    assert cements == {"standard_pmma", "high_viscosity_pmma", "calcium_phosphate"}
    for c in cements:
        times = sorted({t for cc, t, _ in by if cc == c})
        for t in times:
            p = [by[(c, t, s)] for s in (0.5, 1.0, 2.0)]
            assert p[0] >= p[1] >= p[2]
        p_t = [by[(c, t, 1.0)] for t in times]
        assert all(a >= b for a, b in zip(p_t, p_t[1:]))
    first = {c: by[(c, min(t for cc, t, _ in by if cc == c), 1.0)] for c in cements}
    assert first["calcium_phosphate"] > max(first["standard_pmma"], first["high_viscosity_pmma"])
