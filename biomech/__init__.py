"""biomech: finite-element models of osteoporotic and metastatic vertebrae before
and after bone cement.  Units: mm, N, MPa, s.

The compiled core is ``biomech.kernels`` (Numba); anatomy is ``biomech.meshes``.
"""
from __future__ import annotations

import logging

from .errors import (BiomechError, BoundaryConditionError, ConvergenceError, InputError,
                     InvertedElementError, MaterialError, MeshError, UnconstrainedModelError)
from .mesh import Mesh, VoxelMesh
from .problem import PlateResult, Solution, StaticProblem
from .solvers import SolveInfo, make_solver

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "BiomechError", "BoundaryConditionError", "ConvergenceError", "InputError",
    "InvertedElementError", "MaterialError", "MeshError", "UnconstrainedModelError",
    "Mesh", "VoxelMesh", "StaticProblem", "Solution", "PlateResult", "SolveInfo",
    "make_solver", "__version__",
]
