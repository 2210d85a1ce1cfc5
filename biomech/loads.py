"""Load cases of a spinal segment or a single vertebral body.

A load case is a force [N] and a moment [N mm] applied through a rigid plate
on the superior endplate of the top vertebra (or the superior PMMA cap), with
the inferior endplate of the lowest vertebra (or the inferior cap) fixed.
Linear elasticity: every load case is a combination of four unit solves
(axial force, moments about x, y, z) that share one solver set-up.

Sign conventions (axes: x left->right, y anterior->posterior, z caudal->cranial):
compression is -z force; flexion (bending forward) is +x moment (the top tilts
anteriorly, towards -y); extension -x; lateral bending to the right is -y moment
(the top tilts towards +x); axial rotation to the left is +z moment.

Defaults: 500 N compression and 7.5 N m moments (Li & Lewis 2010; BMC MSD 2022,
s12891-022-05522-3; see ../shared/MATERIALS.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InputError

DEFAULT_AXIAL_N = 500.0
DEFAULT_MOMENT_NMM = 7500.0     # 7.5 N m


@dataclass(frozen=True)
class LoadCase:
    """name; force_N (3,) and moment_Nmm (3,) on the superior plate."""

    name: str
    force_N: tuple = (0.0, 0.0, 0.0)
    moment_Nmm: tuple = (0.0, 0.0, 0.0)

    def __post_init__(self):
        f = np.asarray(self.force_N, float).reshape(-1)
        m = np.asarray(self.moment_Nmm, float).reshape(-1)
        if f.shape != (3,) or m.shape != (3,) or not (np.isfinite(f).all() and np.isfinite(m).all()):
            raise InputError(f"load case {self.name!r}: force_N and moment_Nmm must be 3 finite "
                             f"numbers, got {self.force_N!r}, {self.moment_Nmm!r}")
        if not (f.any() or m.any()):
            raise InputError(f"load case {self.name!r} has no load")
        object.__setattr__(self, "force_N", tuple(float(v) for v in f))
        object.__setattr__(self, "moment_Nmm", tuple(float(v) for v in m))

    @property
    def vector(self) -> np.ndarray:
        """(6,) [Fx, Fy, Fz, Mx, My, Mz] in N and N mm."""
        return np.concatenate([self.force_N, self.moment_Nmm])

    @property
    def axial_force_N(self) -> float:
        """Compressive axial force [N] (positive in compression)."""
        return -self.force_N[2]


def standard_load_case(name: str, magnitude: float | None = None) -> LoadCase:
    """One of 'compression' [N], 'flexion', 'extension', 'lateral_bending_left',
    'lateral_bending_right', 'axial_rotation_left', 'axial_rotation_right' [N mm]."""
    m = DEFAULT_MOMENT_NMM if magnitude is None else float(magnitude)
    table = {
        "compression": ((0, 0, -(DEFAULT_AXIAL_N if magnitude is None else float(magnitude))), (0, 0, 0)),
        "flexion": ((0, 0, 0), (m, 0, 0)),
        "extension": ((0, 0, 0), (-m, 0, 0)),
        "lateral_bending_right": ((0, 0, 0), (0, -m, 0)),
        "lateral_bending_left": ((0, 0, 0), (0, m, 0)),
        "axial_rotation_left": ((0, 0, 0), (0, 0, m)),
        "axial_rotation_right": ((0, 0, 0), (0, 0, -m)),
    }
    if name not in table:
        raise InputError(f"unknown load case {name!r}; choose one of {sorted(table)} or give "
                         "force_N / moment_Nmm")
    f, mo = table[name]
    return LoadCase(name, f, mo)


#: The default load cases of a study: compression, flexion, extension, lateral
#: bending and axial rotation.
DEFAULT_LOAD_CASES = tuple(standard_load_case(n) for n in (
    "compression", "flexion", "extension", "lateral_bending_right", "axial_rotation_left"))


def combine(name: str, *cases: LoadCase) -> LoadCase:
    """The sum of load cases (e.g. compression + flexion)."""
    v = sum(c.vector for c in cases)
    return LoadCase(name, tuple(v[:3]), tuple(v[3:]))
