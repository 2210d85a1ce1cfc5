"""The README's Python examples run as written, and its test command is the one
CI runs."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_the_two_commands():
    text = README.read_text()
    assert "bash scripts/demo.sh" in text
    block = text.split("<!-- test-command -->", 1)[1]
    assert block.lstrip().startswith("```bash\nbash scripts/test.sh")


def test_core_example_runs():
    """The FE-core example: a 10 x 10 x 20 mm block under a plate load; the plate
    moves down under 500 N compression (negative uz)."""
    ns = {}
    exec(compile(python_blocks()[1], "README-core", "exec"), ns)
    sol = ns["sol"]
    assert sol.info.converged
    assert sol.plates["top"].displacement[2] < 0
    assert sol.info.iterations > 0          # the AMG-CG work it printed as 0 once


@pytest.mark.slow
def test_segment_example_runs():
    """The study example: a treated osteoporotic L1-L3 at 3 mm voxels; the cement
    went in and the treated level's stiffness is positive and finite."""
    ns = {}
    exec(compile(python_blocks()[0], "README-segment", "exec"), ns)
    treated = ns["treated"]
    assert treated.placed_ml > 0
    k = ns["results"][0].metrics["stiffness_N_per_mm"]
    assert np.isfinite(k) and k > 0
