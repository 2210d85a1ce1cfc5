"""Bone conditions: turn a healthy labelled voxel model into a patient.

Every condition is a small frozen dataclass with ``apply(model) -> model`` (models are
immutable); :func:`apply_condition` / :func:`apply_conditions` are the entry points::

    m = apply_conditions(model, BoneDensity(vbmd_mg_cm3=70),
                         OsteoporoticFracture(level="L2", grade=2, shape="wedge"))

Conditions
----------
* :class:`BoneDensity`, :class:`OsteoporosisRule`, :class:`BoneFromCT` -- bone quality by
  trabecular vBMD, by the named osteoporosis rule or from calibrated CT (sources and rules
  in :mod:`.bone_quality`).
* :class:`OsteoporoticFracture` -- Genant semi-quantitative grade 1-3 (height reduction
  20-25 %, 25-40 %, > 40 %; Genant et al., J Bone Miner Res 8:1137, 1993) and shape (wedge:
  anterior height lost, biconcave: central height lost through both endplates, crush: the
  whole body).  The geometry changes (columns of voxels are shortened; wedge and crush
  lower everything above the collapsed superior endplate, biconcave lets the adjacent
  discs fill the depressions) and a damaged zone is labelled FRACTURE_ZONE.
* :class:`Metastasis` -- lytic, blastic or mixed lesion by centre (central, anterior,
  posterior, lateral_left/right, pedicle_left/right or explicit), size (diameter in mm or
  percent of the body volume) and destruction of the posterior wall or an endplate.
* :class:`Angioma` -- vertebral haemangioma.

Modules: :mod:`.anatomy` (vertebra queries and measured geometry), :mod:`.editing` (model
editing helpers), :mod:`.bone_quality`, :mod:`.remap` (column remapping), :mod:`.fracture`,
:mod:`.lesions`.
"""
from __future__ import annotations

from ..errors import InputError
from .anatomy import (BODY_LABELS, TRABECULAR_TISSUE, VertebraGeometry, check_level, is_intact,
                      normalise_pedicle, vertebra_geometry, vertebra_levels)
from .bone_quality import (BoneDensity, BoneFromCT, OsteoporosisRule, cortical_thinning_factor,
                           vbmd_category)
from .fracture import FRACTURE_SHAPES, GENANT_BANDS, GENANT_DEFAULT_LOSS, OsteoporoticFracture
from .lesions import BLASTIC_BVTV, LESION_KINDS, LESION_LOCATIONS, Angioma, Metastasis
from .remap import change_body_height, exposed_trabecular

#: The conditions of study files by ``kind`` (described dataclasses: biomech.describe).
CONDITIONS = {c.KIND: c for c in (OsteoporoticFracture, Metastasis, Angioma, BoneDensity,
                                  OsteoporosisRule)}


def condition_from_dict(data: dict):
    """The condition object of a ``{"kind": "fracture", "level": ..., ...}`` dict."""
    from ..describe import from_registry
    return from_registry(CONDITIONS, data, "condition")


__all__ = [
    "CONDITIONS", "condition_from_dict", "Angioma", "BLASTIC_BVTV", "BODY_LABELS", "BoneDensity", "BoneFromCT", "FRACTURE_SHAPES",
    "GENANT_BANDS", "GENANT_DEFAULT_LOSS", "LESION_KINDS", "LESION_LOCATIONS", "Metastasis",
    "OsteoporosisRule", "OsteoporoticFracture", "TRABECULAR_TISSUE", "VertebraGeometry",
    "apply_condition", "apply_conditions", "change_body_height", "check_level",
    "cortical_thinning_factor", "exposed_trabecular", "is_intact", "normalise_pedicle",
    "vbmd_category", "vertebra_geometry", "vertebra_levels",
]


def apply_condition(model, condition):
    """Apply one condition; returns a new model."""
    if not hasattr(condition, "apply"):
        raise InputError(f"{condition!r} is not a condition (BoneDensity, OsteoporosisRule, "
                         "BoneFromCT, OsteoporoticFracture, Metastasis, Angioma)")
    return condition.apply(model)


def apply_conditions(model, *conditions):
    """Apply conditions in order; returns a new model."""
    for cnd in conditions:
        model = apply_condition(model, cnd)
    return model
