"""The documentation site (docs/: Sphinx, autosummary API reference, sphinx-gallery of the
examples, not executed) builds offline with warnings as errors and every cross-reference
resolved (-n), in a few seconds."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_docs_build_without_warnings(tmp_path):
    pytest.importorskip("sphinx", reason="sphinx is not installed (pip install --group test)")
    pytest.importorskip("sphinx_gallery", reason="sphinx-gallery is not installed "
                                                 "(pip install --group test)")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-q", "-W", "-n", "--keep-going", "-b", "html",
                           "-d", str(tmp_path / "doctrees"), str(REPO / "docs"), str(tmp_path / "html")],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    html = tmp_path / "html"
    assert (html / "index.html").is_file()
    assert (html / "api.html").is_file() and (html / "generated" / "biomech.analysis.html").is_file()
    # the API reference is recursive: nested modules and the mapped sub-packages are there
    for module in ("biomech.fem.solvers", "biomech.meshes.attachments_facets", "biomech.kernels.matfree",
                   "biomech.runner.executors", "biomech.treatments.needle"):
        assert (html / "generated" / f"{module}.html").is_file(), module
    gallery = html / "auto_examples"
    assert len(list(gallery.glob("*.html"))) >= 8          # every example, with its docstring
    metrics = (html / "guide" / "metrics.html").read_text()
    assert "yield strains of human vertebral trabecular bone" in metrics   # from report_text
    assert "tension-only" in (html / "guide" / "validity.html").read_text()
    assert time.perf_counter() - t0 < 120
