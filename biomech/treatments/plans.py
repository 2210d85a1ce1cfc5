"""Treatment plans: the parameters of a vertebroplasty or a kyphoplasty as one described,
frozen dataclass (:mod:`biomech.describe`): validation, study-file schema, dict form and
text from the same fields.  ``plan.apply(model)`` calls the function
(:func:`~biomech.treatments.vertebroplasty`,
:func:`~biomech.treatments.kyphoplasty`), whose signatures hold the defaults.

    Vertebroplasty("L2", volume_ml=4.0, approach="unipedicular").apply(model)
    TREATMENTS["kyphoplasty"].from_dict({"level": "L2", "balloon_volume_ml": 3.0})
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from ..cement import Cement
from ..describe import Described, param, signature_default, study_fields
from ..validation import Either, Str, Table
from .flow import FlowParameters
from .injection_pressure import Cannula
from .leak_risk import LeakRiskParameters
from .kyphoplasty import kyphoplasty
from .needle import APPROACHES, TIP_DEPTH_RANGE
from .vertebroplasty import TreatmentResult, vertebroplasty

_VP = vertebroplasty
_KP = kyphoplasty


def _cement_spec():
    # in a study file a cement table changes some fields of ``base``: none is required
    return Either(Str(what="a cement name"),
                  Table({"base": Str(what="a cement name"), **study_fields(Cement)},
                        what="a cement: base and changed fields"),
                  what="a cement name or a table {base = ..., E_MPa = ...}")


#: Coordinates of an explicit point (needle tip or entry) [mm]: a model lies within a
#: metre of its origin (CT models in scanner coordinates included).
POINT_RANGE_MM = (-2000.0, 2000.0)
#: Cement volume of one treatment [mL]: from a tenth of a millilitre (less is not a
#: treatment) to 30 mL (more than a lumbar body holds).
CEMENT_ML_RANGE = (0.1, 30.0)


def _d(fn, name):
    return signature_default(fn, name)


@dataclass(frozen=True)
class _Common(Described):
    """Keywords shared by both treatments."""

    level: str = param(doc="treated vertebra, e.g. 'L2'")
    approach: str = param(_d(_VP, "approach"), choices=APPROACHES, doc="needle approach")
    side: str = param(_d(_VP, "side"), choices=("left", "right"),
                      doc="side of a one-needle approach")
    cement: str | Cement = param(_d(_VP, "cement"), spec=_cement_spec,
                                 doc="library name or formulation")
    injection_time_min: float | None = param(_d(_VP, "injection_time_min"), unit="min after mixing",
                                             range=(0.0, 120.0),
                                             doc="start of the injection (default: the start "
                                                 "of the cement's working window)")
    flow_rate_ml_per_min: float = param(_d(_VP, "flow_rate_ml_per_min"), unit="mL/min",
                                        range=(0.0, 60.0), lo_open=True, doc="injection rate")
    tip_depth: float = param(_d(_VP, "tip_depth"), range=TIP_DEPTH_RANGE,
                             doc="needle tip depth, fraction of the body depth")
    tips_mm: tuple | None = param(_d(_VP, "tips_mm"), item="vec3s", unit="mm", range=POINT_RANGE_MM,
                                  doc="explicit needle tips")
    entries_mm: tuple | None = param(_d(_VP, "entries_mm"), item="vec3s", unit="mm",
                                     range=POINT_RANGE_MM,
                                     doc="explicit needle entry points")
    flow: FlowParameters | None = param(_d(_VP, "flow"), doc="cement-front model parameters")
    prophylactic: bool = param(_d(_VP, "prophylactic"),
                               doc="augmentation of an intact neighbour")
    leak_risk: LeakRiskParameters | None = param(_d(_VP, "leak_risk"),
                                                 doc="variability sampled for the leak "
                                                     "probabilities (realisations, seed, CoVs)")
    cannula: Cannula | None = param(_d(_VP, "cannula"), doc="injection cannula (pressure)")
    cement_temperature_C: float | None = param(_d(_VP, "cement_temperature_C"), unit="degC",
                                               range=(0.0, 60.0),
                                               doc="cement temperature during the injection "
                                                   "(default: the formulation's reference)")

    FUNCTION: ClassVar = None

    def __post_init__(self):
        self.validate()

    @property
    def cement_name(self) -> str:
        return self.cement if isinstance(self.cement, str) else self.cement.name

    def keywords(self) -> dict:
        """Keyword arguments of the treatment function."""
        kw = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "level"}
        for k in ("tips_mm", "entries_mm"):
            if kw[k] is not None:
                kw[k] = [tuple(p) for p in kw[k]]
        return kw

    def apply(self, model) -> TreatmentResult:
        return type(self).FUNCTION(model, self.level, **self.keywords())

    def describe(self) -> str:
        return f"{self.KIND} {self.level} {self.approach} {self.cement_name}"


@dataclass(frozen=True)
class Vertebroplasty(_Common):
    """A vertebroplasty: cement injected through one or two needles."""

    KIND: ClassVar[str] = "vertebroplasty"
    FUNCTION: ClassVar = staticmethod(vertebroplasty)

    volume_ml: float = param(_d(_VP, "volume_ml"), unit="mL", range=CEMENT_ML_RANGE,
                             doc="cement injected")


@dataclass(frozen=True)
class Kyphoplasty(_Common):
    """A balloon kyphoplasty: cavity, compacted shell, optional height restoration."""

    KIND: ClassVar[str] = "kyphoplasty"
    FUNCTION: ClassVar = staticmethod(kyphoplasty)

    balloon_volume_ml: float = param(_d(_KP, "balloon_volume_ml"), unit="mL", range=(0.1, 12.0),
                                     doc="inflation volume of all balloons")
    cement_volume_ml: float | None = param(_d(_KP, "cement_volume_ml"), unit="mL",
                                           range=CEMENT_ML_RANGE,
                                           doc="cement injected (default: fills the cavity "
                                               "and the interdigitation layer)")
    height_restoration: float = param(_d(_KP, "height_restoration"), range=(0.0, 1.0),
                                      doc="fraction of the lost height given back")
    balloon_length_mm: float = param(_d(_KP, "balloon_length_mm"), unit="mm", range=(0.0, 40.0),
                                     lo_open=True, doc="balloon length")
    compacted_thickness_mm: float = param(_d(_KP, "compacted_thickness_mm"), unit="mm",
                                          range=(0.0, 10.0), lo_open=True,
                                          doc="compacted bone shell thickness")
    compacted_max_bvtv: float = param(_d(_KP, "compacted_max_bvtv"), range=(0.0, 1.0),
                                      lo_open=True, doc="BV/TV cap of the compacted shell")
    interdigitation_mm: float = param(_d(_KP, "interdigitation_mm"), unit="mm", range=(0.0, 10.0),
                                      doc="cement interdigitation into the shell")


#: The treatments by study-file ``kind``.
TREATMENTS = {c.KIND: c for c in (Vertebroplasty, Kyphoplasty)}


def treatment_from_dict(data: dict):
    """The plan of a ``{"kind": "vertebroplasty", "level": ..., ...}`` dict."""
    from ..describe import from_registry
    return from_registry(TREATMENTS, data, "treatment")


__all__ = ["Vertebroplasty", "Kyphoplasty", "TREATMENTS", "treatment_from_dict"]
