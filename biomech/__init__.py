"""biomech: finite-element models of osteoporotic and metastatic vertebrae before
and after bone cement.  Units: mm, N, MPa, s.

The compiled core is ``biomech.kernels`` (Numba); anatomy is ``biomech.meshes``.

Importing ``biomech`` is cheap: it loads neither Numba, SciPy nor PyVista.  The public
names below (``biomech.VoxelMesh``, ``biomech.StaticProblem``, ...) load their module on
first use (PEP 562), and ``biomech.<submodule>`` imports that submodule on first access.
"""
from __future__ import annotations

import importlib
import importlib.util
import logging
from typing import TYPE_CHECKING

__version__ = "0.1.0"


def _check_installed() -> None:
    """biomech.kernels and biomech.meshes live in the top-level folders kernels/ and
    meshes/ and exist only through the install's package mapping (pyproject
    ``package-dir``); from a checkout that was never installed they cannot be found,
    and the first import of them would fail with a misleading circular-import error."""
    missing = [sub for sub in ("kernels", "meshes")
               if importlib.util.find_spec(f"{__name__}.{sub}") is None]
    if missing:
        raise ImportError(
            f"biomech is not installed: {', '.join(f'{__name__}.{m}' for m in missing)} not "
            f"found beside {__path__[0]}.  The package maps the top-level folders kernels/ and "
            "meshes/ into biomech only when installed: run `pip install -e .` in the checkout "
            "(or `bash scripts/setup.sh`, which installs into ./.venv) and use that Python.",
            name=__name__)


_check_installed()

from .errors import (BiomechError, BoundaryConditionError, ConvergenceError,  # noqa: E402
                     InputError, InvertedElementError, MaterialError, MeshError,
                     UnconstrainedModelError)

logging.getLogger(__name__).addHandler(logging.NullHandler())

# public name -> submodule that defines it (imported on first use)
_LAZY = {
    "Mesh": "fem.mesh", "VoxelMesh": "fem.mesh",
    "StaticProblem": "fem.problem", "Solution": "fem.problem", "PlateResult": "fem.problem",
    "SolveInfo": "fem.solvers", "make_solver": "fem.solvers",
}

if TYPE_CHECKING:                    # for type checkers and IDEs; never run
    from .fem.mesh import Mesh, VoxelMesh
    from .fem.problem import PlateResult, Solution, StaticProblem
    from .fem.solvers import SolveInfo, make_solver

__all__ = [
    "BiomechError", "BoundaryConditionError", "ConvergenceError", "InputError",
    "InvertedElementError", "MaterialError", "MeshError", "UnconstrainedModelError",
    "Mesh", "VoxelMesh", "StaticProblem", "Solution", "PlateResult", "SolveInfo",
    "make_solver", "__version__",
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value               # later lookups skip __getattr__
        return value
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f".{name}", __name__)    # biomech.kernels, ...
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
