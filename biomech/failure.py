"""Failure load and factor of risk of each vertebra from the linear solution.

Criterion (Pistoia et al., Bone 30:842, 2002, "Estimation of distal radius failure load
with micro-finite element analysis models based on three-dimensional peripheral
quantitative computed tomography images"): the bone fails when 2 % of its tissue exceeds
an effective strain of 0.7 %; effective strain = sqrt(2 U / E), U the strain energy
density.  A linear solution scales: the failure load is the applied load times
0.007 / (the 98th percentile of the effective strain), which is how ParOSol reports its
"Pistoia failure load" (``parosol_py``'s ``diagnostics["failure"]``).  Pistoia derived it
on micro-FE of the radius with tissue moduli; used on continuum (QCT density) models it is
a convention, which the verse004 check in tests/test_failure.py measures against the
published failure loads of that vertebra.

Metrics per vertebra ``L`` and load case (names carry units):

* ``{L}_effective_strain_p98``: the 98th percentile [-] of the effective strain over the
  bone of ``L`` (every element of the level whose label is bone: shell, endplate,
  trabecular, fracture zone, compacted bone, posterior elements; cement and lesions
  excluded), volume-weighted (equal voxels).
* ``{L}_factor_of_risk``: applied load / failure load = p98 / 0.007 (independent of the load
  magnitude in a linear model; > 1: the load breaks the vertebra by this criterion).
* ``{L}_failure_load_N``: (compressive force through the segment: plate compression plus
  the follower load) / factor of risk [N]; NaN for load cases without compression.
Headline (focus level F and its neighbours): ``failure_load_N``, ``factor_of_risk``,
``adjacent_superior_factor_of_risk`` (vertebra above F), ``adjacent_inferior_factor_of_risk``
(below F).
"""
from __future__ import annotations

import numpy as np

from .errors import InputError
from .meshes.labels import Label

#: Pistoia et al. 2002: critical effective strain [-] and the fraction of bone that must
#: exceed it.
PISTOIA_CRITICAL_STRAIN = 0.007
PISTOIA_FRACTION = 0.02
#: Labels counted as bone for the criterion.
BONE_LABELS = (Label.CORTICAL, Label.CANCELLOUS, Label.ENDPLATE, Label.FRACTURE_ZONE,
               Label.COMPACTED, Label.POSTERIOR, Label.BLASTIC, Label.ANGIOMA)


def effective_strain(strain: np.ndarray, stress: np.ndarray, E: np.ndarray) -> np.ndarray:
    """sqrt(2 U / E) [-] per element; strain, stress (n, 6) (engineering shear), E (n,) [MPa]."""
    from .fem.recovery import strain_energy_density
    U = np.maximum(strain_energy_density(strain, stress), 0.0)
    E = np.asarray(E, float)
    if np.any(E <= 0):
        raise InputError("effective strain needs E > 0 in every element")
    return np.sqrt(2.0 * U / E)


def pistoia(eff: np.ndarray, applied_N: float = np.nan, *,
            critical_strain: float = PISTOIA_CRITICAL_STRAIN,
            fraction: float = PISTOIA_FRACTION) -> dict:
    """Pistoia's estimate from the effective strains of the bone elements (equal volumes)
    under a load ``applied_N`` [N]: {"effective_strain_p98", "factor_of_risk",
    "failure_load_N"} (the percentile is 100 (1 - fraction))."""
    eff = np.asarray(eff, float)
    if eff.size == 0:
        raise InputError("no bone elements to apply the failure criterion to")
    if not 0.0 < fraction < 1.0 or critical_strain <= 0:
        raise InputError(f"fraction must lie in (0, 1) and critical_strain > 0, got "
                         f"{fraction!r}, {critical_strain!r}")
    p = float(np.percentile(eff, 100.0 * (1.0 - fraction)))
    risk = p / critical_strain
    fail = applied_N / risk if (np.isfinite(applied_N) and applied_N > 0 and risk > 0) else np.nan
    return {"effective_strain_p98": p, "factor_of_risk": risk, "failure_load_N": float(fail)}


def failure_metrics(analysis, result) -> dict:
    """Metrics of the module docstring for one solved load case of a
    :class:`~biomech.analysis.SegmentAnalysis` (``result`` a LoadCaseResult)."""
    from .fem.recovery import stress_from_strain
    from .metrics import vertebrae_cranial_first
    model = analysis.model
    prob = analysis.problem
    eps = prob.strain_of(np.asarray(result.u, float).reshape(-1))[:, 0]
    sig = stress_from_strain(eps[:, None], prob.lam, prob.mu)[:, 0]
    eff = effective_strain(eps, sig, analysis.E)
    lc = result.load_case
    applied = lc.axial_force_N + lc.follower_N
    bone = np.isin(analysis.labels, [int(v) for v in BONE_LABELS])
    levels = vertebrae_cranial_first(model)
    out = {}
    for lv in levels:
        sel = bone & (analysis.levels == model.level_names.index(lv))
        if not sel.any():
            continue
        for k, v in pistoia(eff[sel], applied).items():
            out[f"{lv}_{k}"] = v
    focus = analysis.focus_level
    if focus in levels and f"{focus}_factor_of_risk" in out:
        i = levels.index(focus)
        out["failure_load_N"] = out[f"{focus}_failure_load_N"]
        out["factor_of_risk"] = out[f"{focus}_factor_of_risk"]
        above = levels[i - 1] if i > 0 else None
        below = levels[i + 1] if i + 1 < len(levels) else None
        out["adjacent_superior_factor_of_risk"] = out.get(f"{above}_factor_of_risk", np.nan)
        out["adjacent_inferior_factor_of_risk"] = out.get(f"{below}_factor_of_risk", np.nan)
    return out
