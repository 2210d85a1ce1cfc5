"""Stiffness assembly: one sparsity pattern per mesh, refilled per material set."""
from __future__ import annotations

import logging
import time

import numpy as np
import scipy.sparse as sp

from biomech import kernels as K
from ..errors import InvertedElementError
from ..materials.lame import lame_parameters
from .mesh import Mesh, VoxelMesh

log = logging.getLogger(__name__)

INT32_MAX = np.iinfo(np.int32).max


class StiffnessAssembler:
    """Assembles K (CSR, N/mm) for a mesh; the pattern is computed once.

    ``assemble(E, nu)`` may be called many times with new materials (E [MPa],
    nu [-], scalars or per element): only the values are recomputed.  Index
    arrays are int32 when the number of stored entries allows, else int64.

    bbar : B-bar volumetric term (voxel and hex8) for nearly incompressible
           material; ignored for tets (tet10 does not lock at nu = 0.4999 as
           badly; tet4 does: use hex or tet10 for the nucleus).
    """

    def __init__(self, mesh: Mesh, *, bbar: bool = False):
        self.mesh = mesh
        self.bbar = bool(bbar)
        self._pattern = None
        self._reference = None
        self.timings: dict[str, float] = {}

    # ------------------------------------------------------------------ pattern
    @property
    def pattern(self):
        if self._pattern is None:
            self._pattern = self._build_pattern()
        return self._pattern

    def _build_pattern(self):
        t0 = time.perf_counter()
        m = self.mesh
        cells = m.cells
        bptr, bind = K.block_pattern(cells, m.n_nodes)
        n_per = cells.shape[1]
        index_width = np.int32 if bptr[-1] < INT32_MAX else np.int64
        bpos = np.empty((m.n_elements, n_per * n_per), dtype=index_width)
        K.block_positions(cells, bptr, bind, bpos)
        nnz = 9 * int(bptr[-1])
        index_dtype = np.int32 if nnz < INT32_MAX and m.n_dofs < INT32_MAX else np.int64
        indptr = np.empty(m.n_dofs + 1, dtype=index_dtype)
        indices = np.empty(nnz, dtype=index_dtype)
        K.scalar_csr_structure(bptr, bind, indptr, indices)
        n2e_ptr, n2e, n2e_local = K.node_element_adjacency(cells, m.n_nodes)
        colour = K.greedy_element_colouring(cells, n2e_ptr, n2e)
        order = np.argsort(colour, kind="stable").astype(np.int64)
        colour_ptr = np.concatenate([[0], np.cumsum(np.bincount(colour))]).astype(np.int64)
        self.timings["pattern_s"] = time.perf_counter() - t0
        log.debug("pattern: %d dofs, %d nnz, %d colours, %.3f s", m.n_dofs, nnz,
                  colour_ptr.size - 1, self.timings["pattern_s"])
        return dict(bptr=bptr, bind=bind, bpos=bpos, nnz=nnz, n2e_ptr=n2e_ptr, n2e=n2e,
                    n2e_local=n2e_local,
                    indptr=indptr, indices=indices,
                    order=order, colour_ptr=colour_ptr)

    @property
    def reference_matrices(self):
        """(K_lambda, K_mu) of the voxel element (voxel meshes only)."""
        if self._reference is None:
            self._reference = K.voxel_reference_matrices(self.mesh.h, self.bbar)
        return self._reference

    # ------------------------------------------------------------------ values
    def lame(self, E, nu):
        return lame_parameters(E, nu, self.mesh.n_elements, bbar=self.bbar)

    def assemble(self, E, nu) -> sp.csr_matrix:
        """Global stiffness K (n_dofs x n_dofs, N/mm) for E [MPa] and nu [-]."""
        lam, mu = self.lame(E, nu)
        return self.assemble_lame(lam, mu)

    def assemble_lame(self, lam, mu) -> sp.csr_matrix:
        p = self.pattern
        m = self.mesh
        t0 = time.perf_counter()
        if isinstance(m, VoxelMesh):
            data = np.empty(p["nnz"])
            K_lambda, K_mu = self.reference_matrices
            K.fill_voxel(m.cells, p["n2e_ptr"], p["n2e"], p["n2e_local"], lam, mu, K_lambda, K_mu,
                         p["bpos"], p["bptr"], data)
        else:
            data = np.zeros(p["nnz"])
            detmin = np.empty(m.n_elements)
            K.fill_general(m.kind_code, m.points, m.cells, lam, mu, self.bbar, p["bpos"],
                           p["bptr"], p["colour_ptr"], p["order"], data, detmin)
            bad = np.flatnonzero(~(detmin > 0))
            if bad.size:
                raise InvertedElementError(
                    f"{bad.size} {m.kind} elements have det J <= 0 at an integration point "
                    f"(first: element {int(bad[0])}, det J = {detmin[bad[0]]:.3g})", elements=bad)
        A = sp.csr_matrix((data, p["indices"], p["indptr"]), shape=(m.n_dofs, m.n_dofs),
                          copy=False)
        A.has_sorted_indices = True
        self.timings["fill_s"] = time.perf_counter() - t0
        return A
