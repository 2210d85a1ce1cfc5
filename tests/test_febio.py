"""biomech against FEBio's verification suite (github.com/febiosoftware/TestSuite).

The suite stores one number per problem, ``solution_norm`` = sqrt(sum u^2 over the
free (not prescribed) DOFs) at the final time (FEBio ``FECore/FELogSolutionNorm.cpp``;
see ../shared/data/febio-testsuite/README.md).  The gold values are read from
``code/linuxGoldStandards.py``, never typed in here.

* ``mi02``: a 4 x 1 x 1 cantilever (500 hex8) with a small tip load.  FEBio solves
  it at finite strain (St. Venant-Kirchhoff); biomech solves linear elasticity.
  The tip deflection is 2.5 % of the length, so geometric non-linearity changes
  the norm by ~5e-4: the tolerance is 1e-3 relative.  Tighter: the data README
  records an independent linear hex8 code giving 1.419145 (7 digits), which a
  correct linear solve must reproduce to its print precision.
* ``mi25``: a homogeneous neo-Hookean stretch with a closed-form answer; it does
  not test biomech's solver (linear only) but checks this reader's free-DOF
  bookkeeping (surfaces, node sets, prescribed DOFs) against FEBio's own norm.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq

from biomech.errors import InputError
from biomech.io.febio import read_feb, read_gold_standards
from tests.conftest import shared_file

#: Linear vs finite-strain (St.V-K) on mi02: measured 4.6e-4 (README and here).
LINEAR_VS_FEBIO_REL_TOL = 1e-3


def gold(test: str) -> float:
    """FEBio's stored solution_norm of ``test`` (linux gold standards)."""
    table = read_gold_standards(shared_file("febio-testsuite", "code", "linuxGoldStandards.py"))
    return float(table[test][-1])


@pytest.fixture(scope="module")
def mi02():
    model = read_feb(shared_file("febio-testsuite", "Verify", "mi02.feb"))
    return model, model.to_problem()


def test_mi02_reads_as_described(mi02):
    """Mesh, sets, material and load as the data README describes them."""
    model, _ = mi02
    mesh = model.mesh.validate()
    assert (mesh.kind, mesh.n_nodes, mesh.n_elements) == ("hex8", 756, 500)
    np.testing.assert_array_equal(mesh.points.min(axis=0), [-2.0, -0.5, 0.0])
    np.testing.assert_array_equal(mesh.points.max(axis=0), [2.0, 0.5, 1.0])
    assert model.material_types == {"Part4": "isotropic elastic"}
    assert set(model.E) == {1.0} and set(model.nu) == {0.1}
    assert model.final_time == pytest.approx(1.0, rel=1e-15)
    # all three components fixed on the 37 nodes of FixedDisplacement01-03
    mask = model.prescribed_dof_mask()
    fixed = np.flatnonzero(mask.any(axis=1))
    assert fixed.size == 37 and mask[fixed].all()
    # 37 tip nodes, each (0, 0, 1) * lc(1) with lc(1) = -1e-5 from the file's curve
    tip = mesh.node_sets["ForceNodeset01"]
    assert tip.size == 37
    np.testing.assert_allclose(model.nodal_forces[tip], np.tile([0, 0, -1e-5], (37, 1)),
                               rtol=1e-15)
    assert np.count_nonzero(model.nodal_forces) == 37


def test_mi02_linear_solution_norm_matches_febio(mi02):
    """Direct solve only: AMG-CG is covered by test_calculix.py (an AMG solve of
    mi02's 2157 unknowns costs ~40 s, see the report on AMGCGSolver's coarse solver)."""
    model, problem = mi02
    sol = problem.solve("direct")
    norm = model.free_dof_norm(sol.u)
    reference = gold("mi02")
    rel = abs(norm - reference) / reference
    assert rel <= LINEAR_VS_FEBIO_REL_TOL, (
        f"mi02 solution_norm {norm:.9g} vs FEBio {reference:.12g}: rel {rel:.3g}")
    # the loaded end moves down, the clamped end not at all
    assert sol.u[model.mesh.node_sets["ForceNodeset01"], 2].max() < 0
    assert np.all(sol.u[model.prescribed_dof_mask()] == 0.0)


def test_mi02_matches_the_independent_linear_code(mi02):
    """1.419145 = linear hex8 (2x2x2 Gauss) solution_norm of mi02 by the independent
    code of ../shared/data/febio-testsuite/README.md (7 digits printed): we must
    agree to half a unit of its last digit (5e-7); the difference between FEBio and
    any linear code (6.6e-4) is 1000 times larger."""
    model, problem = mi02
    norm = model.free_dof_norm(problem.solve("direct").u)
    assert abs(norm - 1.419145) <= 5e-7


# ------------------------------------------------------------------ bookkeeping
def test_free_dof_norm_bookkeeping_against_febio_mi25():
    """mi25 (8 hex8, neo-Hookean E=1, nu=0.4) is a homogeneous stretch lambda_x = 2 with
    traction-free lateral faces: lateral stretch lt from mu (lt^2 - 1) + lam ln(2 lt^2)
    = 0 and u = ((2-1)(x+1/2), (lt-1)(y+1/2), (lt-1) z).  The norm of that field over
    the reader's free DOFs must equal FEBio's gold value; FEBio's own convergence
    (README: rel 9e-7) limits the tolerance to 1e-5, while one DOF more or less in the
    mask would change the norm by > 5 %."""
    model = read_feb(shared_file("febio-testsuite", "Verify", "mi25.feb"))
    assert model.material_types == {"Part4": "neo-Hookean"}
    E = model.material_parameters["Part4"]["E"]
    nu = model.material_parameters["Part4"]["v"]
    lam = E * nu / ((1 + nu) * (1 - 2 * nu))
    mu = E / (2 * (1 + nu))
    stretch = 2.0
    lt = brentq(lambda t: mu * (t * t - 1) + lam * np.log(stretch * t * t), 0.1, 1.0,
                xtol=1e-15)
    x, y, z = model.mesh.points.T
    u = np.c_[(stretch - 1) * (x + 0.5), (lt - 1) * (y + 0.5), (lt - 1) * z]
    # the field honours every prescribed value the reader found
    for p in model.prescribed:
        np.testing.assert_allclose(u[p.nodes][:, list(p.components)], p.value, atol=1e-15)
    assert int((~model.prescribed_dof_mask()).sum()) == 45      # 9 ux + 18 uy + 18 uz
    assert model.free_dof_norm(u) == pytest.approx(gold("mi25"), rel=1e-5)


def test_surfaces_and_load_curve_at_the_final_time():
    """ma73: surfaces become node sets, and the prescribed uz is 0.75 lc(t_end) with
    lc linear through (0.5, 1) and (1.00469321193, -1.00443011636), t_end = 100 x 0.01."""
    model = read_feb(shared_file("febio-testsuite", "Verify", "ma73.feb"))
    assert model.final_time == pytest.approx(1.0, rel=1e-12)
    assert {k: v.size for k, v in model.mesh.node_sets.items() if k.startswith("@surface:")} \
        == {f"@surface:ZeroDisplacement{i}": 4 for i in (1, 2, 3)} | \
           {"@surface:PrescribedDisplacement4": 4}
    t0, v0, t1, v1 = 0.5, 1.0, 1.00469321193, -1.00443011636
    expected = 0.75 * (v0 + (1.0 - t0) * (v1 - v0) / (t1 - t0))
    top = [p for p in model.prescribed if p.value != 0.0]
    assert len(top) == 1 and top[0].components == (2,)
    assert top[0].value == pytest.approx(expected, rel=1e-12)
    assert top[0].value == pytest.approx(-0.739343, abs=5e-7)      # README, 6 decimals


def test_non_linear_material_is_not_solved_as_linear():
    model = read_feb(shared_file("febio-testsuite", "Verify", "ma36.feb"))
    with pytest.raises(InputError, match="hyperelastic"):
        model.to_problem()


# ------------------------------------------------------------------ small files
FEB3_STYLE = """<?xml version="1.0"?>
<febio_spec version="3.0">
  <Control><time_steps>4</time_steps><step_size>0.5</step_size></Control>
  <Material><material id="1" name="bone" type="isotropic elastic"><E>100</E><v>0.3</v>
  </material></Material>
  <Mesh>
    <Nodes name="cube">
      <node id="10">0,0,0</node><node id="11">1,0,0</node><node id="12">1,1,0</node>
      <node id="13">0,1,0</node><node id="14">0,0,1</node><node id="15">1,0,1</node>
      <node id="16">1,1,1</node><node id="17">0,1,1</node>
    </Nodes>
    <Elements type="hex8" name="block"><elem id="1">10,11,12,13,14,15,16,17</elem></Elements>
    <NodeSet name="base"><n id="10"/><n id="11"/><n id="12"/><n id="13"/></NodeSet>
    <NodeSet name="lid">14, 15, 16, 17</NodeSet>
  </Mesh>
  <MeshDomains><SolidDomain name="block" mat="bone"/></MeshDomains>
  <Boundary><bc name="clamp" node_set="base" type="fix"><dofs>x,y,z</dofs></bc></Boundary>
  <Loads>
    <nodal_load name="push" node_set="lid" type="nodal_force">
      <dof>z</dof><scale lc="1">-2.0</scale>
    </nodal_load>
  </Loads>
  <LoadData><load_controller id="1" type="loadcurve"><interpolate>STEP</interpolate>
    <points><pt>0,0</pt><pt>1,0.5</pt><pt>3,1</pt></points></load_controller></LoadData>
</febio_spec>
"""


def test_febio3_forms_and_step_curve(tmp_path):
    """<n id> node sets, fix with <dofs>, nodal_load dof+scale, a STEP curve read at
    t_end = 4 x 0.5 = 2 (value of the point at t = 1: 0.5, so -1 per lid node)."""
    path = tmp_path / "cube.feb"
    path.write_text(FEB3_STYLE)
    m = read_feb(path)
    assert m.final_time == 2.0
    np.testing.assert_array_equal(m.node_ids[m.mesh.node_sets["base"]], [10, 11, 12, 13])
    assert m.prescribed_dof_mask().sum() == 12
    np.testing.assert_array_equal(m.nodal_forces[m.mesh.node_sets["lid"]],
                                  np.tile([0.0, 0.0, -1.0], (4, 1)))
    sol = m.to_problem().solve("direct")
    np.testing.assert_allclose(sol.reaction("base"), [0.0, 0.0, 4.0], atol=1e-12)


@pytest.mark.parametrize("old, new, message", [
    ('type="fix"><dofs>x,y,z</dofs>', 'type="rigid"><dofs>x</dofs>',
     r"type='rigid'.* in <Boundary> is not supported"),
    ('node_set="lid"', 'node_set="top"', r"node set 'top', which <Mesh> does not define"),
    ('type="hex8"', 'type="tet10"', r"type='tet10'.* is not supported"),
    ('<scale lc="1">', '<scale lc="7">', r"lc=7, which <LoadData> does not define"),
    ('<n id="13"/>', '<n id="99"/>', r"undefined nodes \[99\]"),
    ('mat="bone"', 'mat="cement"', r"material 'cement'"),
    ('<node id="16">1,1,1</node>', '<node id="16">1,1</node>', "needs 3 numbers"),
])
def test_bad_feb_input_is_named(tmp_path, old, new, message):
    assert old in FEB3_STYLE
    path = tmp_path / "bad.feb"
    path.write_text(FEB3_STYLE.replace(old, new))
    with pytest.raises(InputError, match=rf"bad\.feb: .*{message}"):
        read_feb(path)


def test_gold_standards_file_is_read_not_executed(tmp_path):
    path = tmp_path / "gold.py"
    path.write_text("import os\nstdResults = {'x': ['Normal', 1, '2.5']}\n")
    assert read_gold_standards(path) == {"x": ["Normal", 1, "2.5"]}
    path.write_text("stdResults = dict(x=os.system('true'))\n")
    with pytest.raises(InputError, match="not a plain literal"):
        read_gold_standards(path)
