"""Cement augmentation treatments: vertebroplasty and balloon kyphoplasty.

``vertebroplasty(model, level, ...)`` and ``kyphoplasty(model, level, ...)`` return a
:class:`TreatmentResult` (treated model, placed and leaked volumes by site, fill fraction).
The plans :class:`Vertebroplasty` and :class:`Kyphoplasty` (:mod:`.plans`) hold the same
parameters as described dataclasses (study-file schema, dict form, checks; registry
``TREATMENTS`` by kind).  Leak risk: every treatment samples the bone's variability (:mod:`.leak_risk`,
:class:`LeakRiskParameters`: realisations, seed, CoVs) and returns leak probabilities by site
with Wilson intervals, the expected leaked volume and the peak injection pressure
(:mod:`.injection_pressure`).  ``treat(model, *plans)`` applies several (up to three levels advised; prophylactic
augmentation of an intact neighbour with ``prophylactic=True``).
"""
from __future__ import annotations

from .flow import FlowParameters
from .injection_pressure import Cannula
from .leak_risk import LeakRisk, LeakRiskParameters
from .kyphoplasty import kyphoplasty
from .leakage import SITE_NAMES, LeakSite
from .needle import APPROACHES, Needle, plan_needles
from .plans import TREATMENTS, Kyphoplasty, Vertebroplasty, treatment_from_dict
from .vertebroplasty import MAX_ADVISED_LEVELS, TreatmentResult, vertebroplasty


def treat(model, *plans):
    """Apply treatment plans in order; returns (final model, [TreatmentResult, ...]).
    Warns (UserWarning) when more than three levels end up treated."""
    results = []
    for plan in plans:
        res = plan.apply(model)
        results.append(res)
        model = res.model
    return model, results


__all__ = ["vertebroplasty", "kyphoplasty", "treat", "Vertebroplasty", "Kyphoplasty",
           "TreatmentResult", "FlowParameters", "LeakSite", "SITE_NAMES", "Needle", "APPROACHES",
           "plan_needles", "MAX_ADVISED_LEVELS", "TREATMENTS", "treatment_from_dict",
           "LeakRisk", "LeakRiskParameters", "Cannula"]
