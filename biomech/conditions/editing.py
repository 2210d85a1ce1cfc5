"""Model-editing helpers shared by the conditions: models are immutable, so a condition
builds new label / level / field arrays and a new ``meta`` and returns a copy of the model."""
from __future__ import annotations

import copy

import numpy as np

from .anatomy import check_level, vertebra_levels


def _meta_update(model, key, level, value, *, append=False):
    """Return meta dict with meta[key][level] = value (or appended to a list)."""
    meta = copy.deepcopy(dict(model.meta))
    if append:
        meta.setdefault(key, [])
        meta[key] = list(meta[key]) + [value]
    else:
        d = dict(meta.get(key) or {})
        d[level] = value
        meta[key] = d
    return meta


def _replace(model, *, labels=None, level=None, fields=None, meta=None):
    import dataclasses
    return dataclasses.replace(
        model,
        labels=model.labels if labels is None else labels,
        level=model.level if level is None else level,
        fields=model.fields if fields is None else fields,
        meta=model.meta if meta is None else meta)


def _field(model, name, default=0.0):
    if name in model.fields:
        return np.array(model.fields[name], dtype=np.float64)
    return np.full(model.shape, default)


def _levels_mask(model, levels):
    names = vertebra_levels(model) if levels is None else list(levels)
    idx = [check_level(model, n) for n in names]
    return np.isin(model.level, idx), names
