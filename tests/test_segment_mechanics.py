"""Segment mechanics (annulus fibres, ligaments, facet contact) on the default L1-L3 at
3 mm: the mechanisms and the in vitro comparisons that hold, with stated tolerances.
The full table, misses included, is printed by benchmarks/segment_validation.py."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "segment_validation.py"
SEGMENTS = ("L1-L2", "L2-L3")


@pytest.fixture(scope="module")
def validation():
    spec = importlib.util.spec_from_file_location("segment_validation", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod, mod.run(3.0, rigid=False)


def rom(out, label, case):
    return np.array([abs(out[label][case][f"{s}_rotation_deg"]) for s in SEGMENTS])


def test_soft_tissues_bring_flexion_and_axial_rotation_into_the_in_vitro_range(validation):
    """At 7.5 N m in vitro one lumbar motion segment moves 3.7 +- 1.5 deg in flexion and
    2.1 +- 0.9 deg in axial rotation (PMC3489456): the model lies within mean +- 2 SD;
    without the soft tissues it moved 8 and 13-14 deg."""
    mod, out = validation
    for case, (mean, sd) in (("flexion", mod.ROM_IN_VITRO["flexion"]),
                             ("axial_rotation_left", mod.ROM_IN_VITRO["axial_rotation_left"])):
        r = rom(out, "intact", case)
        assert np.all((mean - 2 * sd <= r) & (r <= mean + 2 * sd)), (case, r)
        assert np.all(rom(out, "intact_no_soft_tissue", case) > 2.5 * r)
    # flexion with a 500 N follower load (4.4 +- 2.0 deg)
    r = rom(out, "intact", "flexion+FL")
    assert np.all((0.4 <= r) & (r <= 8.4))


def test_flexion_and_extension_differ_and_the_nucleus_stays_compressed(validation):
    """Without the soft tissues flexion and extension were equal and the nucleus went into
    tension in flexion; now the posterior ligaments and fibres resist flexion, and the
    nucleus is compressed in every moment case (mean pressure > 0)."""
    _, out = validation
    assert np.all(np.abs(rom(out, "intact", "flexion") - rom(out, "intact", "extension")) > 0.5)
    nost = out["intact_no_soft_tissue"]["flexion"]
    assert min(nost[f"{s}_disc_pressure_MPa"] for s in SEGMENTS) < 0
    for case in ("flexion", "extension", "lateral_bending_right", "axial_rotation_left"):
        m = out["intact"][case]
        assert all(m[f"{s}_disc_pressure_MPa"] > 0 for s in SEGMENTS), case


def test_intradiscal_pressure_follows_the_area_rule(validation):
    """Under 500 N compression IDP ~ 1.5 F / A (Brinckmann & Grootenboer 1991; up to 44 %
    off for a one-size factor, Dreischarf 2013): the model within 25 % of the rule."""
    mod, out = validation
    for s in SEGMENTS:
        rule = 1.5 * mod.COMPRESSION_N / out["areas"][s]
        assert out["intact"]["compression"][f"{s}_disc_pressure_MPa"] == pytest.approx(rule, rel=0.25)


def test_facets_load_where_they_should(validation):
    """Facets: open in flexion and in compression (the articular faces are sagittal),
    loaded in extension, and in left axial rotation the right (opposite) joint carries
    the load, 70 +- 43 N in vitro (Jaumard 2011): model within mean +- 2 SD; the same-side
    joint is open."""
    mod, out = validation
    it = out["intact"]
    for s in SEGMENTS:
        assert it["flexion"][f"{s}_facet_force_left_N"] + it["flexion"][f"{s}_facet_force_right_N"] == 0
        assert it["extension"][f"{s}_facet_force_left_N"] > 10
        ar = it["axial_rotation_left"]
        mean, sd = mod.FACET_IN_VITRO["axial_rotation_left (opposite side)"]
        assert mean - 2 * sd <= ar[f"{s}_facet_force_right_N"] <= mean + 2 * sd
        assert ar[f"{s}_facet_force_left_N"] < 0.2 * ar[f"{s}_facet_force_right_N"]


def test_ligaments_and_fibres_carry_tension_in_flexion(validation):
    """In flexion the posterior ligaments (LF, ISL, SSL) stretch and the anterior one (ALL)
    does not; fibre strains stay small (< 5 %: the linear fibres' small-strain range)."""
    _, out = validation
    m = out["intact"]["flexion"]
    for s in SEGMENTS:
        assert m[f"{s}_ligament_force_ISL_N"] > 0 and m[f"{s}_ligament_force_LF_N"] > 0
        assert m[f"{s}_ligament_force_ALL_N"] == 0
        assert 0 < m[f"{s}_fibre_strain_max"] < 0.05
    assert "max_segment_rotation_deg" in m and m["small_strain_valid"] in (0.0, 1.0)


def test_the_table_prints_every_comparison(validation):
    mod, out = validation
    text = mod.table(out)
    for key in ("ROM flexion", "IDP 500 N", "facet force extension", "in range"):
        assert key in text
