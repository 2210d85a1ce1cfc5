"""The finite-element layer: meshes, problems, solvers.

=================  ====================================================================
module             responsibility
=================  ====================================================================
``mesh``           :class:`Mesh` (hex8, tet4, tet10) and :class:`VoxelMesh` (regular grid)
``assembly``       element matrices -> CSR stiffness (Numba kernels)
``constraints``    Dirichlet elimination, rigid plates, the reduced system
``problem``        :class:`StaticProblem`: materials, supports, loads -> :class:`Solution`
``solvers``        direct, AMG-CG, matrix-free CG, block CG; :class:`SolveInfo`
``multigrid``      biomech's block V-cycle on pyamg hierarchies, hierarchy reuse
``recovery``       strain, stress, von Mises, principal values, energy density
``regions``        node sets of voxel surfaces (plates, supports)
``surface``        consistent face loads and pressures
=================  ====================================================================

Imports point down only: this layer knows nothing of anatomy, conditions or studies.
"""
