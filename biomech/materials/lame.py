"""Per-element isotropic material fields: validation and Lamé parameters."""
from __future__ import annotations

import numpy as np

from ..errors import MaterialError

#: Above this Poisson ratio a plain displacement hex8 locks; use B-bar.
LOCKING_NU = 0.49


def element_field(value, n_elements: int, name: str, unit: str) -> np.ndarray:
    """Broadcast a scalar or (n_elements,) array to a float64 (n_elements,) array."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(n_elements, float(arr))
    if arr.shape != (n_elements,):
        raise MaterialError(
            f"{name} must be a number or an array of shape ({n_elements},) [{unit}], "
            f"got shape {arr.shape}")
    return arr


def lame_parameters(E, nu, n_elements: int, *, bbar: bool):
    """Validated Lamé parameters (lam, mu) [MPa] per element from E [MPa] and nu [-].

    Raises MaterialError naming the first bad element for E <= 0 or non-finite,
    nu outside (-1, 0.5), or nu >= 0.5 (incompressible: needs a mixed formulation;
    with ``bbar=True`` nu up to 0.4999 is accurate).
    """
    E = element_field(E, n_elements, "E", "MPa")
    nu = element_field(nu, n_elements, "nu", "-")
    bad = ~np.isfinite(E) | (E <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise MaterialError(
            f"Young's modulus must be a finite number > 0 MPa; element {i} has E = {float(E[i])!r} "
            f"({int(bad.sum())} bad elements)")
    bad = ~np.isfinite(nu) | (nu <= -1.0) | (nu >= 0.5)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        hint = (" nu >= 0.5 (incompressible) needs a mixed formulation; use nu <= 0.4999 "
                "with bbar=True for nearly incompressible tissue such as the nucleus"
                if nu[i] >= 0.5 else "")
        raise MaterialError(
            f"Poisson's ratio must lie in (-1, 0.5); element {i} has nu = {float(nu[i])!r} "
            f"({int(bad.sum())} bad elements).{hint}")
    lam = E * nu / ((1.0 + nu) * (1.0 - 2.0 * nu))
    mu = E / (2.0 * (1.0 + nu))
    return lam, mu
