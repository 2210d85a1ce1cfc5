"""What software ran (versions of the installed distributions, Python, the platform
and the biomech source revision: one report for summary.json, report.html and
``biomech info``) and what the machine offers (memory)."""
from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Iterable

#: Distributions whose versions every study summary and report lists.
VERSIONED_PACKAGES = ("biomech", "numpy", "scipy", "numba", "meshio", "pyamg", "pyvista", "vtk",
                      "matplotlib", "dask", "distributed")
#: Distributions ``biomech info`` lists (a bug report wants the optional ones too).
INFO_PACKAGES = ("numpy", "scipy", "numba", "llvmlite", "pyamg", "meshio", "pyvista", "vtk",
                 "matplotlib", "nibabel", "pydicom", "dask", "distributed", "dask-jobqueue",
                 "tqdm", "threadpoolctl", "pandas")


def installed_versions(names: Iterable[str], *, missing=None) -> dict:
    """{name: version} of installed distributions (without importing them); ``missing``
    for those not installed."""
    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = missing
    return out


def package_versions(names: Iterable[str] = VERSIONED_PACKAGES) -> dict[str, str]:
    """{name: version} of installed distributions plus python, the platform and the
    biomech source revision (when run from a git checkout); missing ones are
    'not installed'."""
    out = {"python": platform.python_version(), "platform": platform.platform()}
    out.update(installed_versions(names, missing="not installed"))
    rev = source_revision()
    if rev:
        out["biomech source"] = rev
    return out


def source_revision() -> str | None:
    """``git describe --always --dirty`` of the biomech source tree, when it is one
    (``--no-optional-locks``: never writes to the repository; None otherwise)."""
    src = Path(__file__).resolve().parents[1]
    if not (src / ".git").exists():
        return None
    try:
        r = subprocess.run(["git", "--no-optional-locks", "-C", str(src), "describe", "--always",
                            "--dirty"],
                           capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return f"git {r.stdout.strip()}" if r.returncode == 0 and r.stdout.strip() else None


__all__ = ["VERSIONED_PACKAGES", "INFO_PACKAGES", "installed_versions", "package_versions",
           "source_revision"]


def available_memory_bytes() -> int | None:
    """Memory available to new processes [bytes] (Linux MemAvailable; psutil elsewhere;
    None when unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil
        return int(psutil.virtual_memory().available)
    except ImportError:
        return None


def single_threaded_blas():
    """Context manager: BLAS (OpenBLAS/MKL behind NumPy and SciPy) on one thread.

    The solvers' heavy work runs in Numba's threads; the BLAS calls between them are
    tall-skinny products (n x 6) that gain nothing from threads.  With several BLAS
    threads, those threads keep spinning after each call and take the cores from
    Numba's: the L1-L3 case at 2 mm (GMG) ran 41 s with OpenBLAS's default threads
    and 19 s with one (threadpoolctl, made for exactly this)."""
    from threadpoolctl import threadpool_limits
    return threadpool_limits(limits=1, user_api="blas")
