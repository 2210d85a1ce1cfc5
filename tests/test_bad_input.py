"""Bad input gives a domain exception (biomech.errors) whose message names the bad
value and what is allowed, raised before any expensive work.

No numeric tolerances here: each check is on the exception class, the message text
and the attributes the exception carries (InvertedElementError.elements,
ConvergenceError.info).
"""
from __future__ import annotations

import re

import numpy as np
import pytest

from biomech import (BoundaryConditionError, ConvergenceError, InputError, InvertedElementError,
                     MaterialError, Mesh, MeshError, StaticProblem, UnconstrainedModelError,
                     VoxelMesh)

from .test_analytic import box_mesh, tet4_to_tet10


@pytest.fixture
def cube():
    """A 2 x 2 x 2 voxel cube of 1 mm voxels (8 elements, 27 nodes)."""
    return VoxelMesh.from_mask(np.ones((2, 2, 2), bool), 1.0)


def bottom_of(mesh):
    return mesh.nodes_where(lambda x, y, z: np.isclose(z, z.min()))


def top_of(mesh):
    return mesh.nodes_where(lambda x, y, z: np.isclose(z, z.max()))


def clamped(mesh, E=100.0, nu=0.3):
    """A problem with the bottom clamped (well posed)."""
    prob = StaticProblem(mesh, E, nu)
    prob.fix(bottom_of(mesh), "xyz")
    return prob


# ---------------------------------------------------------------- materials
@pytest.mark.parametrize("nu", [0.5, 0.6])
def test_incompressible_or_larger_poisson_ratio_is_refused(cube, nu):
    """nu >= 0.5: MaterialError naming the value, the allowed range and the way out
    (a mixed formulation; B-bar with nu <= 0.4999)."""
    with pytest.raises(MaterialError) as exc:
        StaticProblem(cube, 100.0, nu)
    msg = str(exc.value)
    assert str(nu) in msg and "(-1, 0.5)" in msg
    assert "mixed formulation" in msg and "bbar" in msg


def test_poisson_ratio_minus_one_is_refused(cube):
    """nu = -1 (zero bulk modulus): MaterialError naming -1 and the range; the
    incompressibility hint would be misleading here and must not appear."""
    with pytest.raises(MaterialError) as exc:
        StaticProblem(cube, 100.0, -1.0)
    msg = str(exc.value)
    assert "-1" in msg and "(-1, 0.5)" in msg
    assert "mixed formulation" not in msg


def test_bad_element_in_a_poisson_ratio_field_is_named(cube):
    """A per-element field with one bad entry: the message names that element."""
    nu = np.full(cube.n_elements, 0.3)
    nu[5] = 0.5
    with pytest.raises(MaterialError, match=r"element 5\b"):
        StaticProblem(cube, 100.0, nu)


@pytest.mark.parametrize("E, shown", [(0.0, "0.0"), (-5.0, "-5.0"), (np.nan, "nan"), (np.inf, "inf")])
def test_non_positive_or_non_finite_modulus_is_refused(cube, E, shown):
    """E <= 0, NaN or inf: MaterialError naming the value and '> 0 MPa'."""
    with pytest.raises(MaterialError) as exc:
        StaticProblem(cube, E, 0.3)
    msg = str(exc.value)
    assert shown in msg and "> 0 MPa" in msg


def test_bad_modulus_in_set_materials_is_refused(cube):
    """The same check when materials change on an existing problem."""
    prob = clamped(cube)
    E = np.full(cube.n_elements, 100.0)
    E[3] = -1.0
    with pytest.raises(MaterialError, match=r"element 3\b.*-1\.0"):
        prob.set_materials(E, 0.3)


@pytest.mark.parametrize("name, E, nu, bad_shape", [
    ("E", np.ones(7), 0.3, "(7,)"),
    ("E", np.ones((8, 1)), 0.3, "(8, 1)"),
    ("E", np.ones(9), 0.3, "(9,)"),
    ("nu", 100.0, np.full(3, 0.3), "(3,)"),
])
def test_per_element_arrays_of_the_wrong_shape_are_refused(cube, name, E, nu, bad_shape):
    """A per-element E or nu of the wrong shape: MaterialError naming the parameter,
    the shape given and the one expected (8 elements)."""
    with pytest.raises(MaterialError) as exc:
        StaticProblem(cube, E, nu)
    msg = str(exc.value)
    assert msg.startswith(name) and bad_shape in msg and "(8,)" in msg


# ---------------------------------------------------------------- meshes
def two_tets():
    """Two tet4 sharing a face, both positively oriented."""
    points = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], float)
    cells = np.array([[0, 1, 2, 3], [1, 2, 3, 4]])
    x = points[cells]
    vol = np.einsum("ij,ij->i", np.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0]), x[:, 3] - x[:, 0])
    cells[vol < 0] = cells[vol < 0][:, [0, 2, 1, 3]]
    return points, cells


def inverted(kind):
    """A small valid mesh of ``kind`` with element 1 turned inside out (mirrored node
    order: hex8 bottom and top faces swapped; tets corners 2 and 3 swapped, with the
    tet10 mid-edge nodes permuted to match)."""
    if kind == "tet4":
        points, cells = two_tets()
        cells[1] = cells[1][[0, 2, 1, 3]]
        return Mesh(points, cells, "tet4")
    mesh = box_mesh(kind, (2, 1, 1), (2.0, 1.0, 1.0))
    cells = mesh.cells.copy()
    if kind == "hex8":
        cells[1] = cells[1][[4, 5, 6, 7, 0, 1, 2, 3]]
    else:   # corners 1 <-> 2: edges 0-1 <-> 0-2 (4 <-> 6), 1-3 <-> 2-3 (8 <-> 9)
        cells[1] = cells[1][[0, 2, 1, 3, 6, 5, 4, 7, 9, 8]]
    return Mesh(mesh.points, cells, kind)


@pytest.mark.parametrize("kind", ["hex8", "tet4", "tet10"])
def test_inverted_element_is_reported_by_validate_and_by_the_solve(kind):
    """An inside-out element: Mesh.validate() and the assembly of a problem raise
    InvertedElementError with .elements == [1] and a message naming element 1."""
    mesh = inverted(kind)
    with pytest.raises(InvertedElementError) as exc:
        mesh.validate()
    assert exc.value.elements.tolist() == [1]
    assert "element 1" in str(exc.value) and kind in str(exc.value)

    with pytest.raises(InvertedElementError) as exc:
        solve_with_enough_supports(mesh)
    assert exc.value.elements.tolist() == [1]
    assert "element 1" in str(exc.value)


def flat(kind, thickness):
    """A two-element mesh whose element 1 is flat: all its nodes within ``thickness``
    [mm] of one plane (0: exactly coplanar in floating point)."""
    if kind == "hex8":
        base = box_mesh("hex8", (2, 1, 1), (2.0, 1.0, 1.0))
        points = base.points.copy()
        points[np.isclose(points[:, 0], 2.0), 0] = 1.0 + thickness   # element 1 squashed
        return Mesh(points, base.cells, "hex8")
    points, cells = two_tets()
    # element 1 = nodes (1, 2, 3, 4); (1, 1, -1) lies exactly on the plane x + y + z = 1
    points[4] = np.array([1.0, 1.0, -1.0]) + thickness / np.sqrt(3.0)
    if kind == "tet4":
        return Mesh(points, cells, "tet4")
    points10, cells10 = tet4_to_tet10(cells, points, lambda q: q)
    return Mesh(points10, cells10, "tet10")


def solve_with_enough_supports(mesh):
    prob = StaticProblem(mesh, 100.0, 0.3)
    prob.fix(np.arange(mesh.n_nodes), "z")
    prob.fix(np.arange(3), "xy")
    return prob.solve("direct")


@pytest.mark.parametrize("kind", ["hex8", "tet4", "tet10"])
def test_nearly_flat_element_is_reported_by_validate(kind):
    """Element 1 of thickness 1e-13 mm (volume at round-off level): validate() raises
    InvertedElementError (a MeshError) with .elements == [1]."""
    with pytest.raises(InvertedElementError) as exc:
        flat(kind, 1e-13).validate()
    assert isinstance(exc.value, MeshError)
    assert exc.value.elements.tolist() == [1] and "element 1" in str(exc.value)


@pytest.mark.parametrize("kind", ["hex8", "tet4", "tet10"])
def test_exactly_flat_element_is_reported(kind):
    """Element 1 exactly flat (det J = 0): validate() and the solve raise
    InvertedElementError naming element 1."""
    mesh = flat(kind, 0.0)
    with pytest.raises(InvertedElementError) as exc:
        mesh.validate()
    assert 1 in exc.value.elements.tolist()
    with pytest.raises(InvertedElementError):
        solve_with_enough_supports(mesh)


@pytest.mark.parametrize("kind", ["hex8", "tet4"])
def test_nearly_flat_element_is_refused_by_the_solve(kind):
    with pytest.raises(InvertedElementError):
        solve_with_enough_supports(flat(kind, 1e-13))


def test_cells_referencing_missing_nodes_are_refused():
    """Node indices beyond the point array (or negative): MeshError naming the
    allowed range and the range found."""
    points, cells = two_tets()
    bad = cells.copy()
    bad[1, 3] = 7
    with pytest.raises(MeshError, match=re.escape("[0, 4]") + ".*7"):
        Mesh(points, bad, "tet4")
    bad[1, 3] = -1
    with pytest.raises(MeshError, match="-1"):
        Mesh(points, bad, "tet4")


def test_wrong_cell_width_kind_and_coordinates_are_refused():
    """Cells of the wrong width for the kind, an unknown kind and NaN coordinates."""
    points, cells = two_tets()
    with pytest.raises(MeshError, match=r"\(n_elements, 10\).*\(2, 4\)"):
        Mesh(points, cells, "tet10")
    with pytest.raises(MeshError, match="hex20"):
        Mesh(points, cells, "hex20")
    points[2, 1] = np.nan
    with pytest.raises(MeshError, match="NaN"):
        Mesh(points, cells, "tet4")


def test_orphan_nodes_are_reported():
    """A node used by no element would leave K singular: validate() names it."""
    points, cells = two_tets()
    mesh = Mesh(np.vstack([points, [[5.0, 5.0, 5.0]]]), cells, "tet4")
    with pytest.raises(MeshError, match=r"\[5\]"):
        mesh.validate()


def test_empty_voxel_mask_and_bad_voxel_size_are_refused():
    with pytest.raises(MeshError, match="empty"):
        VoxelMesh.from_mask(np.zeros((3, 3, 3), bool), 1.0)
    with pytest.raises(MeshError, match="h must be > 0.*-0.5"):
        VoxelMesh.from_mask(np.ones((3, 3, 3), bool), -0.5)
    with pytest.raises(MeshError, match=r"3-D.*\(3, 3\)"):
        VoxelMesh.from_mask(np.ones((3, 3), bool), 1.0)


# ---------------------------------------------------------------- boundary conditions
def test_unknown_node_set_name_is_refused(cube):
    """An unknown node-set name in fix(), add_force() or add_rigid_plate(): an
    InputError naming the set and listing the sets the mesh has.  (errors.py says an
    unknown set is a BoundaryConditionError; Mesh.node_set raises MeshError: either
    is accepted here, both are InputErrors.)"""
    mesh = cube.with_node_set("bottom", bottom_of(cube))
    prob = StaticProblem(mesh, 100.0, 0.3)
    for call in (lambda: prob.fix("botom", "z"),
                 lambda: prob.add_force("topp", (0, 0, -1)),
                 lambda: prob.add_rigid_plate("p", "topp")):
        with pytest.raises((MeshError, BoundaryConditionError)) as exc:
            call()
        assert re.search(r"'(botom|topp)'", str(exc.value)) and "'bottom'" in str(exc.value)


def test_unknown_displacement_component_is_refused(cube):
    with pytest.raises(BoundaryConditionError, match="'w'"):
        StaticProblem(cube, 100.0, 0.3).fix(bottom_of(cube), "w")


def test_model_without_supports_is_refused(cube):
    """Nothing prescribed: UnconstrainedModelError before any solve work."""
    prob = StaticProblem(cube, 100.0, 0.3)
    prob.add_force(top_of(cube), (0, 0, -10))
    with pytest.raises(UnconstrainedModelError, match="no prescribed displacement"):
        prob.solve()


def test_partly_supported_model_names_the_free_rigid_modes(cube):
    """Only u_z = 0 on the bottom: translations x, y and rotation about z stay free;
    the message names exactly those three."""
    prob = StaticProblem(cube, 100.0, 0.3)
    prob.fix(bottom_of(cube), "z")
    with pytest.raises(UnconstrainedModelError) as exc:
        prob.solve()
    msg = str(exc.value)
    for mode in ("translation x", "translation y", "rotation about z", "3 of 6"):
        assert mode in msg
    for mode in ("translation z", "rotation about x", "rotation about y"):
        assert mode not in msg


def test_plate_with_no_prescribed_dof_and_no_other_support_is_refused(cube):
    """A plate carrying a force, nothing prescribed anywhere: unconstrained."""
    prob = StaticProblem(cube, 100.0, 0.3)
    prob.add_rigid_plate("top", top_of(cube), force=(0, 0, -10))
    with pytest.raises(UnconstrainedModelError):
        prob.solve()


def test_node_fixed_then_tied_to_a_plate_is_refused(cube):
    """fix() first, then the plate over the same node: the solve refuses it with a
    BoundaryConditionError naming the plate and the node."""
    top = top_of(cube)
    prob = clamped(cube)
    prob.fix(top[:1], "x")
    prob.add_rigid_plate("top", top, prescribed={"uz": -0.1})
    with pytest.raises(BoundaryConditionError) as exc:
        prob.solve()
    msg = str(exc.value)
    assert "'top'" in msg and f"node {int(top[0])}" in msg


def test_node_tied_then_fixed_is_refused(cube):
    """The plate first, then fix() on one of its nodes: BoundaryConditionError at once."""
    top = top_of(cube)
    prob = clamped(cube)
    prob.add_rigid_plate("top", top, prescribed={"uz": -0.1})
    with pytest.raises(BoundaryConditionError, match="rigid plate"):
        prob.fix(top[:1], "x")


def test_node_tied_then_fixed_message_names_node_and_plate(cube):
    top = top_of(cube)
    prob = clamped(cube)
    prob.add_rigid_plate("top", top, prescribed={"uz": -0.1})
    with pytest.raises(BoundaryConditionError) as exc:
        prob.fix(top[:1], "x")
    assert "'top'" in str(exc.value) and str(int(top[0])) in str(exc.value)


def test_plate_dof_both_prescribed_and_loaded_is_refused(cube):
    with pytest.raises(BoundaryConditionError, match="uz.*prescribed and loaded"):
        clamped(cube).add_rigid_plate("top", top_of(cube), force=(0, 0, -5), prescribed={"uz": -0.1})


def test_unknown_plate_dof_is_refused(cube):
    with pytest.raises(BoundaryConditionError, match="'wz'"):
        clamped(cube).add_rigid_plate("top", top_of(cube), prescribed={"wz": 0.0})


def test_empty_node_set_is_refused(cube):
    prob = StaticProblem(cube, 100.0, 0.3)
    with pytest.raises(BoundaryConditionError, match="empty"):
        prob.fix(np.array([], dtype=int), "z")


# ---------------------------------------------------------------- solvers
def test_unknown_solver_name_is_refused(cube):
    """An unknown solver name: InputError naming it and listing the choices."""
    prob = clamped(cube)
    with pytest.raises(InputError) as exc:
        prob.solve("superlu")
    msg = str(exc.value)
    assert "'superlu'" in msg and "'amg'" in msg and "'direct'" in msg


def test_bad_relative_tolerance_is_refused(cube):
    with pytest.raises(InputError, match="rtol.*2"):
        clamped(cube).solve("jacobi", rtol=2.0)


def test_matrix_free_needs_a_voxel_mesh():
    prob = clamped(box_mesh("hex8", (2, 2, 2), (1.0, 1.0, 1.0)))
    with pytest.raises(InputError, match="VoxelMesh"):
        prob.solve("matrix-free")


@pytest.mark.parametrize("solver", ["jacobi", "matrix-free"])
def test_too_few_iterations_raise_convergence_error(solver):
    """maxiter = 3 on a 4 x 4 x 4 voxel block cannot reach rtol = 1e-8:
    ConvergenceError naming the method, the residual reached and maxiter, with .info
    holding the history (3 iterations, not converged)."""
    mesh = VoxelMesh.from_mask(np.ones((4, 4, 4), bool), 1.0)
    prob = clamped(mesh)
    prob.add_force(top_of(mesh), (1.0, 2.0, -10.0))
    with pytest.raises(ConvergenceError) as exc:
        prob.solve(solver, maxiter=3)
    msg = str(exc.value)
    assert "jacobi-cg" in msg and "maxiter 3" in msg and "1e-08" in msg
    info = exc.value.info
    assert info.iterations == 3 and not info.converged
    assert len(info.residuals) == 4 and info.residuals[-1] > 1e-8
