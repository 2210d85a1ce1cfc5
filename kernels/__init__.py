"""biomech.kernels: the compiled core (Numba).

Plain arrays and numbers in, arrays out; nothing here imports ``biomech``.
Users call these through the validated wrappers in ``biomech``.
"""
from ._numba import cache_dir  # noqa: F401  (sets the cache directory first)
from .assembly import (  # noqa: F401
    block_pattern, block_positions, decouple_rows_and_columns, fill_general, fill_voxel,
    greedy_element_colouring, node_components, node_element_adjacency, scalar_csr_structure,
)
from .elements import (  # noqa: F401
    KIND_HEX8, KIND_TET10, KIND_TET4, NODES_PER_KIND, element_min_jacobian,
    hex8_stiffness, tet10_stiffness, tet4_stiffness, voxel_reference_matrices,
)
from .matfree import (  # noqa: F401
    gather_own, scatter_own, voxel_diagonal, voxel_matvec_coloured, voxel_matvec_gather,
    voxel_matvec_gather_serial, voxel_matvec_layers,
)
from .recovery import element_strains, voxel_strains  # noqa: F401
from .multigrid import (  # noqa: F401
    chunked_gauss_seidel, csr_bandwidth, csr_matmat, csr_residual, row_chunks,
)
from .gmg import (  # noqa: F401
    coarse_slot_labels, coefficient_diagonal, coefficient_elements, element_diagonal,
    element_matvec_coloured, element_matvec_dense_coloured, element_matvec_gather,
    element_matvec_gather_serial,
    galerkin_coefficient_elements, galerkin_coefficients, galerkin_elements,
    galerkin_matvec_coloured, galerkin_voxel, trilinear_prolongation,
)
