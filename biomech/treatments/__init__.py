"""Cement augmentation treatments: vertebroplasty and balloon kyphoplasty.

``vertebroplasty(model, level, ...)`` and ``kyphoplasty(model, level, ...)`` return a
:class:`TreatmentResult` (treated model, placed and leaked volumes by site, fill fraction).
``treat(model, *plans)`` applies several (up to three levels advised; prophylactic
augmentation of an intact neighbour with ``prophylactic=True``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .flow import FlowParameters
from .kyphoplasty import kyphoplasty
from .leakage import SITE_NAMES, LeakSite
from .needle import APPROACHES, Needle, plan_needles
from .vertebroplasty import MAX_ADVISED_LEVELS, TreatmentResult, vertebroplasty


@dataclass(frozen=True)
class _Plan:
    """A treatment plan: a level and the keywords of the treatment function."""

    level: str
    options: dict = field(default_factory=dict)
    function = None

    def __init__(self, level, **options):
        object.__setattr__(self, "level", level)
        object.__setattr__(self, "options", dict(options))

    def apply(self, model) -> TreatmentResult:
        return type(self).function(model, self.level, **self.options)


class Vertebroplasty(_Plan):
    """A vertebroplasty plan: ``Vertebroplasty("L2", volume_ml=4, approach="unipedicular")``;
    any keyword of :func:`vertebroplasty`."""

    function = staticmethod(vertebroplasty)


class Kyphoplasty(_Plan):
    """A kyphoplasty plan: ``Kyphoplasty("L2", balloon_volume_ml=3, height_restoration=0.5)``;
    any keyword of :func:`kyphoplasty`."""

    function = staticmethod(kyphoplasty)


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
           "plan_needles", "MAX_ADVISED_LEVELS"]
