"""Domain exceptions.  Every message names the bad value and what is allowed."""
from __future__ import annotations


class BiomechError(Exception):
    """Base class of every error biomech raises on purpose."""


class InputError(BiomechError, ValueError):
    """A value given by the user is outside what is allowed."""


class MeshError(InputError):
    """The mesh is not usable: bad shapes, orphan nodes, degenerate or inverted elements."""


class InvertedElementError(MeshError):
    """An element has a non-positive Jacobian determinant."""

    def __init__(self, message: str, elements=None):
        super().__init__(message)
        self.elements = elements


class MaterialError(InputError):
    """A material parameter is outside its valid range (E <= 0, nu outside (-1, 0.5))."""


class BoundaryConditionError(InputError):
    """Boundary conditions are inconsistent (a node both fixed and tied, an unknown set)."""


class UnconstrainedModelError(BoundaryConditionError):
    """Rigid-body motion is left free: the stiffness matrix is singular."""


class ConvergenceError(BiomechError, RuntimeError):
    """An iterative solver did not reach its tolerance.  ``info`` holds the history."""

    def __init__(self, message: str, info=None):
        super().__init__(message)
        self.info = info
