"""The finite-element layer: meshes, problems, solvers.

=================  ====================================================================
module             responsibility
=================  ====================================================================
``mesh``           :class:`~biomech.fem.mesh.Mesh` (hex8, tet4, tet10) and :class:`~biomech.fem.mesh.VoxelMesh` (regular grid)
``assembly``       element matrices -> CSR stiffness (Numba kernels)
``constraints``    Dirichlet elimination, rigid plates, the reduced system
``problem``        :class:`~biomech.fem.problem.StaticProblem`: materials, supports, loads -> :class:`~biomech.fem.problem.Solution`
``solvers``        direct, AMG-CG, matrix-free CG, block CG; :class:`~biomech.fem.solvers.SolveInfo`
``multigrid``      biomech's block V-cycle on pyamg hierarchies, hierarchy reuse
``recovery``       strain, stress, von Mises, principal values, energy density
``regions``        node sets of voxel surfaces (plates, supports)
``surface``        consistent face loads and pressures
=================  ====================================================================

Imports point down only: this layer knows nothing of anatomy, conditions or studies.
"""
