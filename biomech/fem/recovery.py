"""Derived fields from strains: stresses, von Mises, principal values, energy.

Strain and stress arrays use tensor Voigt order
``[xx, yy, zz, xy, yz, xz]`` (shear as tensor components).
"""
from __future__ import annotations

import numpy as np


def stress_from_strain(strain, lam, mu):
    """sigma = lam tr(eps) I + 2 mu eps [MPa]; strain (n_el, n_pts, 6), lam/mu (n_el,) [MPa]."""
    lam = np.asarray(lam)[:, None, None]
    mu = np.asarray(mu)[:, None, None]
    tr = strain[..., :3].sum(axis=-1, keepdims=True)
    sig = 2.0 * mu * strain
    sig[..., :3] += lam * tr
    return sig


def von_mises(stress):
    """Von Mises equivalent stress [MPa] of (..., 6) stress arrays."""
    s = stress
    return np.sqrt(0.5 * ((s[..., 0] - s[..., 1]) ** 2 + (s[..., 1] - s[..., 2]) ** 2
                          + (s[..., 2] - s[..., 0]) ** 2)
                   + 3.0 * (s[..., 3] ** 2 + s[..., 4] ** 2 + s[..., 5] ** 2))


def to_matrix(voigt):
    """(..., 6) tensor Voigt -> (..., 3, 3) symmetric matrices."""
    m = np.empty(voigt.shape[:-1] + (3, 3))
    m[..., 0, 0] = voigt[..., 0]; m[..., 1, 1] = voigt[..., 1]; m[..., 2, 2] = voigt[..., 2]
    m[..., 0, 1] = m[..., 1, 0] = voigt[..., 3]
    m[..., 1, 2] = m[..., 2, 1] = voigt[..., 4]
    m[..., 0, 2] = m[..., 2, 0] = voigt[..., 5]
    return m


def principal_values(voigt):
    """Principal values, ascending (..., 3): minimum first (compression for strains)."""
    return np.linalg.eigvalsh(to_matrix(voigt))


def strain_energy_density(strain, stress):
    """0.5 sigma:eps [MPa = mJ/mm^3] of (..., 6) arrays (shear counted twice)."""
    return 0.5 * ((strain[..., :3] * stress[..., :3]).sum(-1)
                  + 2.0 * (strain[..., 3:] * stress[..., 3:]).sum(-1))
