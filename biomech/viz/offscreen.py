"""Off-screen rendering set-up for machines without a display (cluster nodes, CI).

PyVista/VTK picks its OpenGL window class when the first render window is made.
On a headless Linux machine the reliable choice is EGL (Debian packages
``libegl1 libegl-mesa0 libgl1-mesa-dri``); without the environment variable
below VTK first tries X, warns "bad X server connection" and only then falls back.
Forcing OSMesa without ``libosmesa6`` crashes the process, so the check whether a
renderer can start runs in a child process (:func:`renderer_status`).

Everything here imports pyvista lazily: ``import biomech`` and
``import biomech.viz`` work on a node without pyvista.
"""
from __future__ import annotations

import logging
import os
import re
import subprocess
import sys

from biomech.errors import BiomechError

log = logging.getLogger(__name__)

#: Environment variable read by VTK when it creates a render window.
VTK_WINDOW_VARIABLE = "VTK_DEFAULT_OPENGL_WINDOW"
#: Window class used off screen (no X server needed).
OFFSCREEN_WINDOW = "vtkEGLRenderWindow"
#: Debian packages that the EGL path loads (see ../shared/STACK.md).
DEBIAN_EGL_PACKAGES = ("libegl1", "libegl-mesa0", "libgl1-mesa-dri", "libgbm1", "libglvnd0",
                       "libxrender1", "libxcursor1")

#: Set to 1 to skip the child-process check (e.g. in many batch workers of one
#: machine whose renderer is known to work).
SKIP_PROBE_VARIABLE = "BIOMECH_SKIP_RENDERER_PROBE"

_STATUS: tuple[bool, str] | None = None


class RendererUnavailableError(BiomechError, RuntimeError):
    """No off-screen OpenGL renderer can start on this machine (the message says why
    and what to install)."""


class VizDependencyError(BiomechError, ImportError):
    """An optional picture dependency (pyvista, matplotlib) is not installed."""


def configure_environment() -> None:
    """Choose the EGL window class unless the user chose one (call before pyvista is
    imported; harmless afterwards, VTK reads the variable per window)."""
    os.environ.setdefault(VTK_WINDOW_VARIABLE, OFFSCREEN_WINDOW)


def import_pyvista():
    """``pyvista`` configured for off-screen pictures (``pyvista.OFF_SCREEN = True``).

    Raises VizDependencyError with the install command when pyvista is missing.
    """
    configure_environment()
    try:
        import pyvista as pv
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise VizDependencyError(
            "3-D pictures need pyvista (and vtk): pip install 'biomech[viz]' "
            f"(import failed: {exc})") from exc
    pv.OFF_SCREEN = True
    return pv


def import_matplotlib():
    """matplotlib with the non-interactive Agg canvas (no display, no pyplot state)."""
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise VizDependencyError(
            f"plots need matplotlib: pip install 'biomech[viz]' (import failed: {exc})") from exc
    return matplotlib


_PROBE = r"""
import os, sys
os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
import pyvista as pv
pv.OFF_SCREEN = True
p = pv.Plotter(window_size=(32, 24))
p.set_background("white")
p.add_mesh(pv.Cube(), color="red", lighting=False)
img = p.screenshot(return_img=True)
p.close()
red = ((img[..., 0] > 200) & (img[..., 1] < 60)).sum()
sys.stdout.write("OK %d" % red if red > 0 else "BLANK")
"""


def renderer_status(*, timeout_s: float = 60.0, refresh: bool = False) -> tuple[bool, str]:
    """Whether an off-screen renderer can start: ``(True, description)`` or
    ``(False, reason with the fix)``.

    A child process draws a red cube into a 32x24 window and checks the pixels, so a
    crashing OpenGL library cannot take the caller down.  The answer is cached for
    the process (``refresh=True`` asks again).  Costs about 2 s once;
    ``BIOMECH_SKIP_RENDERER_PROBE=1`` skips it.
    """
    global _STATUS
    if _STATUS is not None and not refresh:
        return _STATUS
    if os.environ.get(SKIP_PROBE_VARIABLE) == "1":
        _STATUS = (True, f"renderer assumed to work ({SKIP_PROBE_VARIABLE}=1)")
        return _STATUS
    try:
        import pyvista  # noqa: F401  (only to give a clear reason when missing)
    except ImportError as exc:
        _STATUS = (False, f"pyvista is not installed ({exc}): pip install 'biomech[viz]'")
        return _STATUS
    env = dict(os.environ)
    env.setdefault(VTK_WINDOW_VARIABLE, OFFSCREEN_WINDOW)
    window = env[VTK_WINDOW_VARIABLE]
    try:
        proc = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True,
                              text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _STATUS = (False, f"the off-screen renderer ({window}) did not draw a test picture "
                          f"within {timeout_s:.0f} s")
        return _STATUS
    if proc.returncode == 0 and proc.stdout.startswith("OK"):
        _STATUS = (True, f"off-screen rendering with {window}")
    else:
        text = re.sub(r"\x1b\[[0-9;]*m", "", proc.stderr or proc.stdout)   # no colour codes
        tail = list(dict.fromkeys(line.strip() for line in text.strip().splitlines()[-3:]))
        how = ("exit status %d" % proc.returncode if proc.returncode >= 0
               else "killed by signal %d" % -proc.returncode)
        blank = " (it drew a blank picture)" if proc.stdout.startswith("BLANK") else ""
        _STATUS = (False, (
            f"no off-screen renderer could start with {VTK_WINDOW_VARIABLE}={window}: "
            f"{how}{blank}; {' | '.join(tail)}. On Debian/Ubuntu install "
            f"'apt-get install -y --no-install-recommends {' '.join(DEBIAN_EGL_PACKAGES)}'; "
            "with a software-only stack use libosmesa6 and "
            f"{VTK_WINDOW_VARIABLE}=vtkOSOpenGLRenderWindow, or run under xvfb-run"))
    log.info("renderer status: %s", _STATUS[1])
    return _STATUS


def require_renderer() -> None:
    """Raise RendererUnavailableError (with the reason and the fix) when no
    off-screen renderer can start."""
    ok, reason = renderer_status()
    if not ok:
        raise RendererUnavailableError(reason)
