"""The reduced system ``A = T^T K T`` of a voxel model without assembling K.

Used by solver 'gmg': the fine level holds no matrix, so the whole solve stays
within a few hundred bytes per DOF.  Prescribed unknowns (``decoupled``) keep only
their diagonal, as in the assembled path (``StaticProblem._setup_solver``).
Rigid-plate unknowns are applied through T's plate columns; :meth:`ReducedVoxelOperator.columns` gives
the dense plate columns ``A[:, p]`` that :class:`~biomech.fem.solvers.CondensedSolver`
needs (one product with K per plate unknown).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp


class ReducedVoxelOperator:
    """y = A z for z (n_free,) or (n_free, k); ``shape``, ``dtype``, ``diagonal()``.

    K : the model's matrix-free :class:`~biomech.fem.problem.VoxelOperator` [N/mm];
    T : (n_dofs, n_free) reduction; decoupled : (n_free,) bool.
    """

    def __init__(self, K, T, decoupled):
        from .problem import _identity_part
        self.K = K
        T = sp.csr_matrix(T)
        self.n_dofs, n = T.shape
        self.shape = (n, n)
        self.dtype = np.dtype(float)
        self.decoupled = np.asarray(decoupled, bool)
        self.rows, self.cols = _identity_part(T)
        rest = np.setdiff1d(np.arange(n), self.cols)
        self.rest = rest                           # plate unknowns
        self.T_rest = sp.csc_matrix(T[:, rest]) if rest.size else None
        self._keep = (~self.decoupled).astype(float)
        self._Krest = None
        d = np.zeros(n)
        d[self.cols] = K.diagonal()[self.rows]
        if rest.size:
            d[rest] = np.einsum("ij,ij->j", self.T_rest.toarray(), self._K_rest())
        self._diag = d

    def _K_rest(self):
        """K T[:, rest] (n_dofs, n_rest) dense, computed once."""
        if self._Krest is None:
            Tr = self.T_rest.toarray()
            self._Krest = np.stack([self.K @ Tr[:, j] for j in range(Tr.shape[1])], axis=1)
        return self._Krest

    def diagonal(self) -> np.ndarray:
        return self._diag.copy()

    def _apply(self, z):
        """z (n_free,) or (n_free, k)."""
        zk = z * (self._keep if z.ndim == 1 else self._keep[:, None])
        x = np.zeros((self.n_dofs,) + z.shape[1:])
        x[self.rows] = zk[self.cols]
        if self.T_rest is not None:
            x += self.T_rest @ zk[self.rest]
        Kx = self.K @ x
        y = np.empty_like(z)
        y[self.cols] = Kx[self.rows]
        if self.T_rest is not None:
            y[self.rest] = self.T_rest.T @ Kx
        y[self.decoupled] = (self._diag[self.decoupled] * z[self.decoupled].T).T
        return y

    def __matmul__(self, Z):
        return self._apply(np.asarray(Z, dtype=float))

    def columns(self, cols) -> np.ndarray:
        """Dense A[:, cols] (n_free, len(cols)) for plate unknowns ``cols``."""
        cols = np.asarray(cols, dtype=np.int64)
        where = np.searchsorted(self.rest, cols)
        if not np.array_equal(self.rest[np.minimum(where, self.rest.size - 1)], cols):
            raise ValueError("columns() serves plate unknowns only")
        Kr = self._K_rest()[:, where]
        out = np.zeros((self.shape[0], cols.size))
        out[self.cols] = Kr[self.rows]
        out[self.rest] = self.T_rest.T @ Kr
        out[self.decoupled] = 0.0
        for j, c in enumerate(cols):
            if self.decoupled[c]:
                out[:, j] = 0.0
                out[c, j] = self._diag[c]
        return out


class DecoupledOperator:
    """``A`` with the unknowns ``is_p`` decoupled (their rows and columns zeroed, the
    diagonal kept): the inner block of a plate condensation, matrix-free."""

    def __init__(self, A, is_p):
        self.A = A
        self.is_p = np.asarray(is_p, bool)
        self.shape = A.shape
        self.dtype = np.dtype(float)
        self._diag = A.diagonal()

    def diagonal(self) -> np.ndarray:
        return self._diag.copy()

    def __matmul__(self, Z):
        Z = np.asarray(Z, dtype=float)
        keep = np.where(self.is_p, 0.0, 1.0)
        Zk = Z * (keep if Z.ndim == 1 else keep[:, None])
        Y = np.asarray(self.A @ Zk)
        Y[self.is_p] = (self._diag[self.is_p] * Z[self.is_p].T).T
        return Y
