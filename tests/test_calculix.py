"""biomech against CalculiX CrunchiX reference results (beam8p, beam10p).

The inputs and the reference printouts (``*.dat.ref``) are CalculiX's own
regression tests (github.com/Dhondtguido/CalculiX, test/), copied byte-identical
to ../shared/data/calculix-tests.  Same elements, same quadrature (C3D8 = trilinear
hex, 2x2x2 Gauss; C3D10 = quadratic tet, 4-point rule), so a correct small-strain
code reproduces every printed digit; the shared data README records an
independent code that did so (max |du| ~ 5e-9).

Tolerance of every comparison with a printed value v (7 significant digits,
``d.dddddd E+xx``):  |ours - v| <= 1e-6 * max|printed field| + half a unit of
v's last printed digit.  The second term is the printing; the first allows
round-off and solver differences far below the 7th digit, yet is 1000x smaller
than any modelling difference (e.g. C3D8I vs C3D8 changes u by ~10 %).
"""
from __future__ import annotations

import numpy as np
import pytest

from biomech.errors import InputError
from biomech.io.calculix import read_dat_displacements, read_dat_stresses, read_inp
from tests.conftest import shared_file

FIELD_REL_TOL = 1e-6

#: CalculiX numbers the 2x2x2 Gauss points with xi fastest, then eta, then zeta
#: (gauss3d2 in CalculiX's gauss.f); biomech numbers them like the hex corners
#: (VTK order).  ccx point q is biomech point HEX8_CCX_TO_BIOMECH[q].
HEX8_CCX_TO_BIOMECH = [0, 1, 3, 2, 4, 5, 7, 6]
#: The 4-point tet rule has the same order in both (centroid-near corner 1 first).
TET10_CCX_TO_BIOMECH = [0, 1, 2, 3]
#: CalculiX prints sxx syy szz sxy sxz syz; biomech stores xx yy zz xy yz xz.
CCX_STRESS_FROM_BIOMECH = [0, 1, 2, 3, 5, 4]

BEAMS = {
    # name: (biomech kind, Gauss point map)
    "beam8p": ("hex8", HEX8_CCX_TO_BIOMECH),
    "beam10p": ("tet10", TET10_CCX_TO_BIOMECH),
}


def half_unit_last_digit(values):
    """Half a unit of the 7th significant digit of each printed value (0 for 0)."""
    v = np.abs(np.asarray(values, float))
    exp = np.floor(np.log10(np.where(v > 0, v, 1.0)))
    return np.where(v > 0, 0.5 * 10.0 ** (exp - 6), 0.0)


def assert_matches_printout(ours, printed, what):
    """|ours - printed| <= 1e-6 max|printed| + half a unit of the last printed digit."""
    printed = np.asarray(printed, float)
    tol = FIELD_REL_TOL * np.abs(printed).max() + half_unit_last_digit(printed)
    err = np.abs(ours - printed)
    worst = np.unravel_index(np.argmax(err - tol), err.shape)
    assert np.all(err <= tol), (
        f"{what}: {int((err > tol).sum())} values differ beyond the print precision; worst "
        f"at {worst}: ours {ours[worst]:.9g}, CalculiX {printed[worst]:.7g}, "
        f"|diff| {err[worst]:.3g} > tol {tol[worst]:.3g}")
    return float(err.max())


@pytest.fixture(scope="module", params=sorted(BEAMS))
def beam(request):
    """(name, model, direct solution) of one CalculiX beam."""
    name = request.param
    model = read_inp(shared_file("calculix-tests", f"{name}.inp"))
    problem = model.to_problem()
    return name, model, problem, problem.solve("direct")


def reference_displacements(name, model):
    ref = read_dat_displacements(shared_file("calculix-tests", f"{name}.dat.ref"), "NALL")
    assert set(ref) == set(model.node_ids.tolist()), "printout and input name other nodes"
    return np.array([ref[i] for i in model.node_ids.tolist()])


# ------------------------------------------------------------------ reading
def test_beam_inputs_read_as_described(beam):
    """Mesh, sets, materials and loads as the data README describes them (a reader
    that lost a node, a set or a load would fail here, before any solve)."""
    name, model, problem, _ = beam
    mesh = model.mesh.validate()
    assert mesh.kind == BEAMS[name][0]
    assert model.E.tolist() == [210000.0] * mesh.n_elements
    assert model.nu.tolist() == [0.3] * mesh.n_elements
    # the beam occupies [0,1] x [0,1] x [0,8]
    np.testing.assert_array_equal(mesh.points.min(axis=0), [0, 0, 0])
    np.testing.assert_array_equal(mesh.points.max(axis=0), [1, 1, 8])
    # total tip shear 9 in +y on the nodes of z = 8 (README: P = 9)
    f = model.nodal_forces()
    tip = mesh.nodes_where(lambda x, y, z: z == 8.0)
    np.testing.assert_allclose(f.sum(axis=0), [0.0, 9.0, 0.0], rtol=1e-15)
    assert np.all(f[np.setdiff1d(np.arange(mesh.n_nodes), tip)] == 0.0)
    # every support sits on z = 0
    fixed_nodes = {n for (n, _c) in model.prescribed_displacements()}
    assert np.all(mesh.points[sorted(fixed_nodes), 2] == 0.0)


def test_beam20p_is_rejected_with_the_line_of_the_c3d20_block():
    """C3D20 is not in biomech's core: the reader must say so, not misread it."""
    path = shared_file("calculix-tests", "beam20p.inp")
    line = next(i for i, s in enumerate(path.read_text().splitlines(), 1)
                if s.upper().startswith("*ELEMENT"))
    with pytest.raises(InputError, match=rf"beam20p\.inp:{line}: .*C3D20"):
        read_inp(path)


# ------------------------------------------------------------------ displacements
def test_displacements_match_calculix_direct(beam):
    name, model, _, sol = beam
    assert sol.info.method == "direct"
    ref = reference_displacements(name, model)
    err = assert_matches_printout(sol.u, ref, f"{name} displacements (direct)")
    # stricter than the tolerance above: within one unit of the last printed digit
    # of the largest values (1e-8); measured 5.0e-9 for both beams, as the README's 5e-9
    assert err < 1e-8


def test_displacements_match_calculix_amg(beam):
    """Same with smoothed-aggregation AMG-CG at rtol 1e-10 (the hierarchy of these
    small systems is a single coarse solve, so CG stops after 1-2 iterations)."""
    name, model, problem, _ = beam
    sol = problem.solve("amg", rtol=1e-10)
    assert sol.info.method == "amg-cg" and sol.info.converged
    assert sol.info.residuals[-1] <= 1e-10
    assert_matches_printout(sol.u, reference_displacements(name, model),
                            f"{name} displacements (AMG-CG)")


def test_integration_point_stresses_match_calculix(beam):
    """Stresses at every integration point (CalculiX *EL PRINT S): checks the
    strain recovery and Hooke's law, and the Gauss point order documented above."""
    name, model, _, sol = beam
    printed = read_dat_stresses(shared_file("calculix-tests", f"{name}.dat.ref"), "EALL")
    point_map = BEAMS[name][1]
    ref = np.array([[printed[(e, q + 1)] for q in range(len(point_map))]
                    for e in model.element_ids.tolist()])
    ours = sol.stress(at="gauss")[:, point_map][..., CCX_STRESS_FROM_BIOMECH]
    assert_matches_printout(ours, ref, f"{name} integration-point stresses")


def test_reaction_balances_the_tip_load(beam):
    """Reaction at the supports = -(applied load) to round-off (global equilibrium)."""
    _, model, _, sol = beam
    fixed_nodes = sorted({n for (n, _c) in model.prescribed_displacements()})
    r = sol.reaction(fixed_nodes)
    np.testing.assert_allclose(r, [0.0, -9.0, 0.0], atol=1e-9 * 9.0)


# ------------------------------------------------------------------ reader details
SMALL_INP = """** two unit hexes, lower-case keywords, continuation and GENERATE
*node, nset=all
1, 0, 0, 0
2, 1, 0, 0
3, 1, 1, 0
4, 0, 1, 0
5, 0, 0, 1
6, 1, 0, 1
7, 1, 1, 1
8, 0, 1, 1
9, 0, 0, 2
10, 1, 0, 2
11, 1, 1, 2
12, 0, 1, 2
*ELEMENT, TYPE=C3D8R,
 ELSET=Cubes
101, 1, 2, 3, 4,
 5, 6, 7, 8
102, 5, 6, 7, 8, 9, 10, 11, 12
*NSET, NSET=bottom, GENERATE
1, 4
*nset, nset=Top
9, 10
11, 12,
*ELSET, ELSET=upper
102
*MATERIAL, NAME=soft
*ELASTIC
100., 0.2
*MATERIAL, NAME=stiff
*ELASTIC
1.d3, .3
*SOLID SECTION, ELSET=cubes, MATERIAL=soft
*SOLID SECTION, ELSET=UPPER, MATERIAL=stiff
*BOUNDARY
bottom, 1, 3
5, 1, , 0.25
*STEP
*STATIC
*CLOAD
top, 3, -1.0
12, 3, -4.0
*NODE PRINT, NSET=all
U
*END STEP
"""


def test_reader_subset_on_a_small_file(tmp_path):
    """Sets, GENERATE, continuation lines, case, materials by section, dofs, and
    Abaqus OP=MOD semantics (a later CLOAD on the same dof replaces)."""
    path = tmp_path / "two.inp"
    path.write_text(SMALL_INP)
    m = read_inp(path)
    assert m.mesh.kind == "hex8" and m.element_types == {"C3D8R"}
    assert m.element_ids.tolist() == [101, 102]
    assert sorted(m.mesh.node_sets) == ["ALL", "BOTTOM", "TOP"]
    np.testing.assert_array_equal(m.node_ids[m.mesh.node_sets["BOTTOM"]], [1, 2, 3, 4])
    np.testing.assert_array_equal(m.node_ids[m.mesh.node_sets["TOP"]], [9, 10, 11, 12])
    assert m.E.tolist() == [100.0, 1000.0] and m.nu.tolist() == [0.2, 0.3]
    presc = m.prescribed_displacements()
    assert len(presc) == 13 and presc[(m.node_index[5], 0)] == 0.25
    f = m.nodal_forces()
    assert f[m.node_index[12], 2] == -4.0 and f[:, 2].sum() == -7.0
    sol = m.to_problem().solve("direct")
    assert sol.u[m.node_index[5], 0] == pytest.approx(0.25, abs=1e-15)
    assert sol.reaction("TOP")[2] == pytest.approx(0.0, abs=1e-12)   # loads only, no support


@pytest.mark.parametrize("text, line, message", [
    ("*NODE\n1, 0, 0, x\n", 2, "coordinate must be a number"),
    ("*NODE\n1, 0, 0, 0\n*ELEMENT, TYPE=S4\n1, 1, 1, 1, 1\n", 3, "TYPE=S4 is not supported"),
    ("*NODE\n1, 0, 0, 0\n*DLOAD\nE1, P1, 1.0\n", 3, r"\*DLOAD is not supported"),
    ("*NODE\n1, 0, 0, 0\n*ELEMENT, TYPE=C3D8\n1, 1, 1, 1\n", 4, "needs an id and 8 nodes"),
    ("*NODE\n1, 0, 0, 0\n*BOUNDARY\nNOSUCH, 1, 3\n", 4, "known node set"),
    ("*NODE\n1, 0, 0, 0\n*BOUNDARY\n1, 4, 6\n", 4, "must be 1, 2 or 3"),
    ("*NODE\n1, 0, 0, 0\n*CLOAD\n1, 2\n", 4, "'node or set, dof, value'"),
    ("*NSET, NSET=A, GENERATE\n5, 1\n", 2, "first <= last"),
    ("1, 2, 3\n", 1, "data line before any keyword"),
])
def test_bad_input_names_file_line_and_problem(tmp_path, text, line, message):
    path = tmp_path / "bad.inp"
    path.write_text(text)
    with pytest.raises(InputError, match=rf"bad\.inp:{line}: .*{message}"):
        read_inp(path)


def test_element_with_an_undefined_node_is_named(tmp_path):
    path = tmp_path / "orphan.inp"
    path.write_text("*NODE\n1,0,0,0\n2,1,0,0\n3,0,1,0\n*ELEMENT,TYPE=C3D10\n"
                    "7,1,2,3,4,5,6,7,8,9,10\n*MATERIAL,NAME=M\n*ELASTIC\n1,0.3\n")
    with pytest.raises(InputError, match=r"orphan\.inp: element 7 uses node 4"):
        read_inp(path)


def test_dat_reader_without_the_block_raises(tmp_path):
    path = tmp_path / "empty.dat"
    path.write_text("\n S T E P 1\n")
    with pytest.raises(InputError, match=r"empty\.dat: no 'displacements"):
        read_dat_displacements(path)
