"""Validation of the segment mechanics: the intact default L1-L3 segment against in vitro
and published model data, in one run.

    python benchmarks/segment_validation.py [--h 2.0] [--quick] [--sensitivity]

Prints, per motion segment (L1-L2, L2-L3), the range of motion at 7.5 N m pure moments
without and with a 500 N follower load, the intradiscal pressure under 500 N compression
against the 1.5 x force / disc area rule, facet forces, and the change of the adjacent
disc pressures when the L2 body is made rigid (x100 modulus), with and without the soft
tissues.  ``--sensitivity`` adds the ranges of motion for the three annulus ground-substance
moduli published with fibre-reinforced annuli (the matrix dominates the disc's bending
stiffness).  Reference values and their sources: ``benchmarks/segment_reference.py`` and
../shared/VALIDATION.md.  Nothing here is tuned: the inputs are the cited defaults of
:class:`biomech.materials.soft_tissue.SoftTissueParameters`.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

#: In vitro range of motion [deg], one lumbar motion segment, 7.5 N m, mean and SD
#: (PMC3489456, Table 1, as in ../shared/VALIDATION.md; level not stated there).
ROM_IN_VITRO = {
    "flexion": (3.7, 1.5), "extension": (3.3, 1.5), "lateral_bending_right": (3.8, 1.4),
    "axial_rotation_left": (2.1, 0.9)}
ROM_IN_VITRO_FOLLOWER = {
    "flexion": (4.4, 2.0), "extension": (2.4, 0.9), "lateral_bending_right": (2.4, 1.2),
    "axial_rotation_left": (1.2, 0.5)}
#: Facet force [N], T12-L2, strain gauges, up to 7.5 N m; 400 N compression (Jaumard et al.,
#: J Biomech Eng 133:071010, 2011, Table 2).
FACET_IN_VITRO = {"flexion": (46.1, 41.3), "extension": (51.5, 39.0),
                  "axial_rotation_left (same side)": (31.3, 33.4),
                  "axial_rotation_left (opposite side)": (70.3, 43.2),
                  "compression": (45.5, 40.4)}
#: Axial stiffness of a lumbar motion segment [N/mm] (1.4 +- 0.48 kN/mm), mean and SD (PMC4844119, Table 3,
#: via benchmarks/segment_reference.py).
AXIAL_STIFFNESS_IN_VITRO = (1400.0, 480.0)
#: Adjacent intradiscal pressure change when the augmented body is made rigid (Baroud et
#: al., Eur Spine J 12:421, 2003: +19 %) and with realistic cement stiffening alone
#: (Rohlmann et al., Eur Spine J 15:1255, 2006: +2.4 %).
ADJACENT_RIGID = 0.19
ADJACENT_CEMENT = 0.024
MOMENT_NMM = 7500.0
FOLLOWER_N = 500.0
COMPRESSION_N = 500.0


def disc_area_mm2(model, disc: str) -> float:
    """Largest transverse cross-section [mm^2] of a disc (nucleus and annulus voxels)."""
    from biomech.meshes.labels import Label
    sel = (model.level == model.level_names.index(disc)) & np.isin(
        model.labels, [int(Label.NUCLEUS), int(Label.ANNULUS)])
    return float(sel.sum(axis=(0, 1)).max() * model.h ** 2)


def load_cases():
    """500 N compression, then the four moments without and with the follower load."""
    from biomech.loads import LoadCase, standard_load_case
    names = ("flexion", "extension", "lateral_bending_right", "axial_rotation_left")
    lcs = [standard_load_case("compression", COMPRESSION_N)]
    moments = [standard_load_case(n, MOMENT_NMM) for n in names]
    return lcs + moments + [LoadCase(f"{m.name}+FL", m.force_N, m.moment_Nmm, FOLLOWER_N)
                            for m in moments]


def run(h: float = 2.0, *, rigid: bool = True) -> dict:
    """Solve the intact segment (with and without soft tissue) and, with ``rigid``, the
    segment with a rigid L2 body; returns {label: {load case: metrics}} and areas."""
    from biomech.analysis import SegmentAnalysis
    from biomech.meshes import default_segment
    from biomech.meshes.landmarks import vertebral_body_mask
    model = default_segment(h=h)
    out = {"h": h, "areas": {d: disc_area_mm2(model, d) for d in ("L1-L2", "L2-L3")},
           "times": {}}
    lcs = load_cases()
    for label, st, mdl, which in (("intact", None, model, lcs),
                                  ("intact_no_soft_tissue", False, model, lcs[:5])):
        t0 = time.perf_counter()
        res = SegmentAnalysis(mdl, soft_tissue=st, focus_level="L2").run(which, fields=False)
        out[label] = {r.load_case.name: r.metrics for r in res}
        out["times"][label] = time.perf_counter() - t0
    if rigid:
        body = vertebral_body_mask(model, "L2")
        factor = np.where(body, 100.0, 1.0)
        if "E_factor" in model.fields:
            factor = factor * np.where(model.fields["E_factor"] > 0, model.fields["E_factor"], 1.0)
        stiff = model.with_field("E_factor", factor)
        for label, st in (("rigid_L2", None), ("rigid_L2_no_soft_tissue", False)):
            t0 = time.perf_counter()
            res = SegmentAnalysis(stiff, soft_tissue=st, focus_level="L2").run(lcs[:1], fields=False)
            out[label] = {r.load_case.name: r.metrics for r in res}
            out["times"][label] = time.perf_counter() - t0
    return out


def table(out: dict) -> str:
    """The comparison table (model against sources) as text."""
    rows = [f"Segment validation, default L1-L3 at h = {out['h']:g} mm "
            f"(times: {', '.join(f'{k} {v:.0f} s' for k, v in out['times'].items())})",
            f"{'quantity':44s} {'L1-L2':>8s} {'L2-L3':>8s}   {'in vitro / published':>22s}  in range"]

    def line(name, vals, ref, unit=""):
        lo, hi = ref[0] - 2 * ref[1], ref[0] + 2 * ref[1]
        ok = all(lo <= v <= hi for v in vals if np.isfinite(v))
        ref_txt = f"{ref[0]:.1f} +- {ref[1]:.1f}{unit}"
        rows.append(f"{name:44s} " + " ".join(f"{v:8.2f}" for v in vals)
                    + f"   {ref_txt:>22s}  {'yes' if ok else 'NO'} (mean +- 2 SD)")

    it = out["intact"]
    for n, ref in ROM_IN_VITRO.items():
        line(f"ROM {n} 7.5 N m [deg]", [abs(it[n][f"{s}_rotation_deg"]) for s in ("L1-L2", "L2-L3")], ref)
    for n, ref in ROM_IN_VITRO_FOLLOWER.items():
        line(f"ROM {n} 7.5 N m + 500 N FL [deg]",
             [abs(it[n + "+FL"][f"{s}_rotation_deg"]) for s in ("L1-L2", "L2-L3")], ref)
    nost = out["intact_no_soft_tissue"]
    for n in ROM_IN_VITRO:
        line(f"ROM {n}, no soft tissue [deg]",
             [abs(nost[n][f"{s}_rotation_deg"]) for s in ("L1-L2", "L2-L3")], ROM_IN_VITRO[n])
    c = it["compression"]
    idp = [c[f"{d}_disc_pressure_MPa"] for d in ("L1-L2", "L2-L3")]
    rule = [1.5 * COMPRESSION_N / out["areas"][d] for d in ("L1-L2", "L2-L3")]
    rows.append(f"{'IDP 500 N compression [MPa]':44s} {idp[0]:8.3f} {idp[1]:8.3f}   "
                f"{'1.5 F / A = ' + f'{rule[0]:.3f} / {rule[1]:.3f}':>22s}  ratio "
                f"{idp[0] / rule[0]:.2f} / {idp[1] / rule[1]:.2f} (one-size factor: up to 44 % off)")
    line("axial stiffness, 500 N compression [N/mm]",
         [c[f"{s}_axial_stiffness_N_per_mm"] for s in ("L1-L2", "L2-L3")], AXIAL_STIFFNESS_IN_VITRO)
    line("axial stiffness, no soft tissue [N/mm]",
         [nost["compression"][f"{s}_axial_stiffness_N_per_mm"] for s in ("L1-L2", "L2-L3")],
         AXIAL_STIFFNESS_IN_VITRO)
    for n, key in (("flexion", "flexion"), ("extension", "extension"), ("compression", "compression")):
        f = [it[key][f"{s}_facet_force_left_N"] + it[key][f"{s}_facet_force_right_N"]
             for s in ("L1-L2", "L2-L3")]
        line(f"facet force {n}, both joints [N]", f, FACET_IN_VITRO[n])
    ar = it["axial_rotation_left"]
    line("facet force axial rot. left, left joint [N]",
         [ar[f"{s}_facet_force_left_N"] for s in ("L1-L2", "L2-L3")],
         FACET_IN_VITRO["axial_rotation_left (same side)"])
    line("facet force axial rot. left, right joint [N]",
         [ar[f"{s}_facet_force_right_N"] for s in ("L1-L2", "L2-L3")],
         FACET_IN_VITRO["axial_rotation_left (opposite side)"])
    if "rigid_L2" in out:
        for label, base in (("rigid_L2", "intact"), ("rigid_L2_no_soft_tissue", "intact_no_soft_tissue")):
            chg = [out[label]["compression"][f"{d}_disc_pressure_MPa"] /
                   out[base]["compression"][f"{d}_disc_pressure_MPa"] - 1.0 for d in ("L1-L2", "L2-L3")]
            rows.append(f"{'adjacent IDP change, rigid L2 (' + label.replace('rigid_L2', '').strip('_') + ')':44s} "
                        + " ".join(f"{100 * v:+7.1f}%" for v in chg)
                        + f"   {'+19 % (Baroud 2003)':>22s}  (+2.4 % cement only, Rohlmann 2006)")
    return "\n".join(rows)


#: Annulus ground-substance moduli [MPa] published with explicit fibres: fabric fibres
#: (Purcell 2021), neo-Hookean C10 0.348 with truss fibres (Clin Biomech 2014, small-strain
#: E), linear matrix with linear truss fibres (BioMed Res Int 2013, the default).
GROUND_SUBSTANCE_MPA = {"Purcell 2021": 1.36, "Clin Biomech 2014": 2.0, "BMRI 2013 (default)": 4.2}


def sensitivity(h: float) -> str:
    """Range of motion [deg] at 7.5 N m for each published ground-substance modulus."""
    from biomech.analysis import SegmentAnalysis
    from biomech.loads import standard_load_case
    from biomech.materials.soft_tissue import SoftTissueParameters
    from biomech.meshes import default_segment
    model = default_segment(h=h)
    names = list(ROM_IN_VITRO)
    lcs = [standard_load_case(n, MOMENT_NMM) for n in names]
    rows = [f"Ground-substance sensitivity, h = {h:g} mm: ROM L1-L2 / L2-L3 [deg]",
            f"{'ground substance':28s} " + " ".join(f"{n:>24s}" for n in names),
            f"{'in vitro (mean +- SD)':28s} " + " ".join(
                f"{f'{ROM_IN_VITRO[n][0]:.1f} +- {ROM_IN_VITRO[n][1]:.1f}':>24s}" for n in names)]
    for label, E in GROUND_SUBSTANCE_MPA.items():
        st = SoftTissueParameters(ground_substance_E_MPa=E)
        res = SegmentAnalysis(model, soft_tissue=st, focus_level="L2").run(lcs, fields=False)
        cells = [f"{abs(r.metrics['L1-L2_rotation_deg']):.2f} / {abs(r.metrics['L2-L3_rotation_deg']):.2f}"
                 for r in res]
        rows.append(f"{f'{label}: {E:g} MPa':28s} " + " ".join(f"{c:>24s}" for c in cells))
    return "\n".join(rows)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--h", type=float, default=2.0, help="voxel size [mm]")
    ap.add_argument("--quick", action="store_true", help="3 mm voxels, no rigid-L2 runs")
    ap.add_argument("--sensitivity", action="store_true",
                    help="also the ranges of motion for the published ground-substance moduli")
    args = ap.parse_args(argv)
    h = 3.0 if args.quick else args.h
    out = run(h, rigid=not args.quick)
    print(table(out))
    if args.sensitivity:
        print()
        print(sensitivity(h))
    return out


if __name__ == "__main__":
    main()
