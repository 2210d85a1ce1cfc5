"""Population check of the leak model: a virtual cohort on the default anatomy against the
CT-detected leak rates of clinical series.

    python benchmarks/leakage_validation.py [--subjects 40] [--realisations 16] [--h 2.0]
                                            [--seed 2017] [--json]

Cohort (seeded; every subject gets all arms, so the arms compare the same bones): the
default L1-L3 segment (biomech.meshes.segment) at ``--h`` mm; per subject a trabecular vBMD
from N(70, 15) mg/cm^3 (osteoporotic patients, rounded to 10), an osteoporotic compression
fracture of L2 (grade 1/2/3 with probabilities 0.3/0.5/0.2, wedge or biconcave), with a
cortical disruption (the fracture cleft reaches the cortex) in 35 % of subjects (assumption
of the order of the share of cortical disruption in the VP series of Zhan 2017); 3-6 mL of
PMMA for vertebroplasty (uni- or bipedicular at random), a bipedicular 3 mL-balloon
kyphoplasty with its default cement fill, and -- on the same bones without the fracture -- a
lytic metastasis (10-30 % of the body; posterior wall destroyed in 30 %, those posterior,
the others posterior or central) treated with 2.5-5 mL through two needles whose tips lie in the lesion (6 mm either side of its centre; where
such a trajectory would cross the canal, the default bipedicular plan at mid-depth).  Each subject's probability comes from ``--realisations``
realisations of :mod:`biomech.treatments.leak_risk`; a rate is the mean over subjects.

Nothing here is tuned to the clinical numbers: the model's inputs are the cited or stated
defaults of :class:`~biomech.treatments.leak_risk.LeakRiskParameters`,
:class:`~biomech.treatments.flow.FlowParameters` and :mod:`biomech.cement`.

Sources (CT-detected leakage, per treated level)
------------------------------------------------
* Zhan et al., World Neurosurg 101:633, 2017 (meta-analysis, 22 studies, 4,187 vertebrae):
  VP 54.7 %, KP 18.4 %; cortical disruption OR 5.56, low-viscosity cement OR 3.32.
* Eur Spine J 2023 review (as ../shared/VALIDATION.md): VP 39.3 %, KP 28.9 %.
* Metastatic VP: 53 % (Corcos et al. 2014), 56.6 % with canal 15.9 % (World J Surg Oncol
  2022).
"""
from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

CLINICAL = {
    "vp_any": (0.547, "Zhan 2017 (39.3 % Eur Spine J 2023)"),
    "kp_any": (0.184, "Zhan 2017 (28.9 % Eur Spine J 2023)"),
    "metastatic_vp_any": (0.566, "World J Surg Oncol 2022 (53 % Corcos 2014)"),
    "metastatic_vp_canal": (0.159, "World J Surg Oncol 2022"),
    "or_cortical_disruption": (5.56, "Zhan 2017"),
    "or_low_viscosity": (3.32, "Zhan 2017"),
}


def odds(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return p / (1 - p)


def cohort(n_subjects: int = 24, realisations: int = 16, h: float = 2.0, seed: int = 2017) -> dict:
    """Run the cohort; returns {metric: model value} and the per-subject records."""
    from biomech.conditions import (BoneDensity, Metastasis, OsteoporoticFracture,
                                    apply_conditions, vertebra_geometry)
    from biomech.errors import InputError
    from biomech.meshes.segment import build_segment
    from biomech.treatments import kyphoplasty, vertebroplasty
    from biomech.treatments.leak_risk import LeakRiskParameters

    rng = np.random.default_rng(seed)
    seg = build_segment(("L1", "L2", "L3"), h=h)
    recs = []
    for i in range(n_subjects):
        vbmd = float(np.clip(round(rng.normal(70.0, 15.0) / 10.0) * 10.0, 40.0, 110.0))
        grade = int(rng.choice([1, 2, 3], p=[0.3, 0.5, 0.2]))
        shape = str(rng.choice(["wedge", "biconcave"]))
        breach = bool(rng.random() < 0.35)
        vol = float(rng.uniform(3.0, 6.0))
        approach = str(rng.choice(["bipedicular", "unipedicular"]))
        risk = LeakRiskParameters(realisations=realisations, seed=seed + i)
        fr = apply_conditions(seg, BoneDensity(vbmd),
                              OsteoporoticFracture("L2", grade, shape, cortical_breach=breach))
        vp = vertebroplasty(fr, "L2", approach=approach, volume_ml=vol, leak_risk=risk).leak_risk
        hv = vertebroplasty(fr, "L2", approach=approach, volume_ml=vol, leak_risk=risk,
                            cement="pmma_high_viscosity").leak_risk
        kp = kyphoplasty(fr, "L2", balloon_volume_ml=3.0, leak_risk=risk).leak_risk
        wall = bool(rng.random() < 0.3)
        loc = "posterior" if wall else str(rng.choice(["posterior", "central"]))
        met = apply_conditions(seg, BoneDensity(vbmd), Metastasis(
            "L2", "lytic", loc, size_percent=float(rng.uniform(10.0, 30.0)),
            posterior_wall_destroyed=wall))
        c = np.asarray(met.meta["lesions"][-1]["centre_mm"], float)   # the needles into the lesion
        ls = vertebra_geometry(met, "L2").left_sign
        tips = [tuple(c + [ls * 6.0, -3.0, 0.0]), tuple(c + [-ls * 6.0, -3.0, 0.0])]
        vol_m = float(rng.uniform(2.5, 5.0))
        try:
            mv = vertebroplasty(met, "L2", tips_mm=tips, volume_ml=vol_m, leak_risk=risk).leak_risk
        except InputError:          # a trajectory to the lesion would cross the canal
            mv = vertebroplasty(met, "L2", tip_depth=0.5, volume_ml=vol_m, leak_risk=risk).leak_risk
        recs.append({"vbmd": vbmd, "grade": grade, "shape": shape, "breach": breach,
                     "volume_ml": vol, "approach": approach, "wall_destroyed": wall,
                     "vp": vp.p_any, "vp_hv": hv.p_any, "kp": kp.p_any, "met": mv.p_any,
                     "met_canal": mv.p_site["spinal_canal"],
                     "vp_sites": vp.p_site, "kp_sites": kp.p_site, "met_sites": mv.p_site,
                     "vp_peak_MPa": vp.peak_pressure_MPa_mean,
                     "vp_expected_ml": vp.expected_leak_ml})
    m = lambda key, sel=None: float(np.mean([r[key] for r in recs if sel is None or sel(r)]))  # noqa: E731
    with_b = [r for r in recs if r["breach"]]
    without = [r for r in recs if not r["breach"]]
    out = {"vp_any": m("vp"), "kp_any": m("kp"), "metastatic_vp_any": m("met"),
           "metastatic_vp_canal": m("met_canal"),
           "or_cortical_disruption": (odds(m("vp", lambda r: r["breach"])) /
                                      odds(m("vp", lambda r: not r["breach"])))
           if with_b and without else float("nan"),
           "vp_any_with_disruption": m("vp", lambda r: r["breach"]) if with_b else float("nan"),
           "vp_any_without_disruption": m("vp", lambda r: not r["breach"]) if without
           else float("nan"),
           "vp_hv_any": m("vp_hv"),
           "or_low_viscosity": odds(m("vp")) / odds(m("vp_hv")),
           "rr_high_viscosity": m("vp_hv") / max(m("vp"), 1e-9),
           "vp_peak_pressure_MPa": m("vp_peak_MPa"), "vp_expected_leak_ml": m("vp_expected_ml")}
    for arm in ("vp", "kp", "met"):
        for s in recs[0][f"{arm}_sites"]:
            out[f"{arm}_{s}"] = float(np.mean([r[f"{arm}_sites"][s] for r in recs]))
    return {"metrics": out, "subjects": recs, "n_subjects": n_subjects,
            "realisations": realisations, "h_mm": h}


def markdown(res: dict) -> str:
    mt = res["metrics"]
    lines = [f"Virtual cohort: {res['n_subjects']} subjects x {res['realisations']} realisations, "
             f"default L1-L3 at {res['h_mm']:g} mm", "",
             "| quantity | model | clinical | source | model / clinical |",
             "|---|---|---|---|---|"]
    for k, (ref, src) in CLINICAL.items():
        v = mt[k]
        pct = not k.startswith("or_")
        fmt = (lambda x: f"{100 * x:.1f} %") if pct else (lambda x: f"{x:.2f}")
        ratio = v / ref if ref and math.isfinite(v) else float("nan")
        lines.append(f"| {k} | {fmt(v)} | {fmt(ref)} | {src} | {ratio:.2f} |")
    lines += ["", "Leak probability by site (mean over subjects):", "",
              "| arm | " + " | ".join(s for s in res["subjects"][0]["vp_sites"]) + " |",
              "|---|" + "---|" * len(res["subjects"][0]["vp_sites"])]
    for arm, name in (("vp", "VP, OVCF"), ("kp", "KP, OVCF"), ("met", "VP, lytic metastasis")):
        lines.append(f"| {name} | " + " | ".join(
            f"{100 * mt[f'{arm}_{s}']:.1f} %" for s in res["subjects"][0]["vp_sites"]) + " |")
    lines += ["", f"VP any-leak probability with a cortical disruption "
                  f"{100 * mt['vp_any_with_disruption']:.1f} %, without "
                  f"{100 * mt['vp_any_without_disruption']:.1f} %; high-viscosity PMMA "
                  f"{100 * mt['vp_hv_any']:.1f} % (standard PMMA {100 * mt['vp_any']:.1f} %).",
              f"High- vs low-viscosity PMMA, risk ratio: {mt['rr_high_viscosity']:.2f} "
              "(clinical 0.38, ../shared/VALIDATION.md).",
              f"Mean peak injection pressure, VP: {mt['vp_peak_pressure_MPa']:.2f} MPa; mean "
              f"expected leaked volume: {mt['vp_expected_leak_ml']:.3f} mL."]
    return "\n".join(lines)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subjects", type=int, default=40)
    ap.add_argument("--realisations", type=int, default=16)
    ap.add_argument("--h", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=2017, help="seed of the cohort")
    ap.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    a = ap.parse_args(argv)
    t = time.perf_counter()
    res = cohort(a.subjects, a.realisations, a.h, a.seed)
    res["seconds"] = time.perf_counter() - t
    if a.json:
        print(json.dumps(res, indent=1, default=float))
    else:
        print(markdown(res))
        print(f"\n({res['seconds']:.0f} s)")
    return res


if __name__ == "__main__":
    main()
