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

from .. import kernels as K


class ReducedVoxelOperator:
    """y = A z for z (n_free,) or (n_free, k); ``shape``, ``dtype``, ``diagonal()``.

    K : the model's matrix-free :class:`~biomech.fem.problem.VoxelOperator` [N/mm];
    T : (n_dofs, n_free) reduction; decoupled : (n_free,) bool.
    Own unknowns (a DOF's own copy) go to and from the DOF vector by the fused
    kernels ``gather_own`` / ``scatter_own`` (no index temporaries); plate unknowns
    through the rows of T they reach.  Held: the own index pairs (8 bytes per DOF) and
    K T[:, plate] as a sparse matrix (nonzero next to the plate only).
    """

    def __init__(self, K, T, decoupled):
        from .problem import _identity_part
        self.K = K
        T = self.T = sp.csr_matrix(T)
        self.n_dofs, n = T.shape
        self.shape = (n, n)
        self.dtype = np.dtype(float)
        self.decoupled = np.asarray(decoupled, bool)
        self.rows, self.cols = _identity_part(T)
        own = np.zeros(n, dtype=bool)
        own[self.cols] = True
        self.rest = np.flatnonzero(~own)          # plate unknowns
        self.T_rest = self._rest_rows = None
        if self.rest.size:
            Tr = sp.csc_matrix(T[:, self.rest])
            self._rest_rows = np.unique(Tr.indices)          # DOFs tied to a plate
            self.T_rest = sp.csr_matrix(Tr[self._rest_rows])  # (n_tied, n_rest)
        self._dec = np.flatnonzero(self.decoupled)
        self._Krest = None
        self._diag_dec = self._diagonal()[self._dec]

    def _K_rest(self):
        """K T[:, rest] (n_dofs, n_rest), sparse (nonzero next to the plates), once."""
        if self._Krest is None:
            Tr = self.T[:, self.rest].tocsc()
            self._Krest = sp.hstack([sp.csc_matrix((self.K @ Tr[:, j].toarray().ravel())[:, None])
                                     for j in range(self.rest.size)], format="csc")
        return self._Krest

    def _diagonal(self) -> np.ndarray:
        d = np.zeros(self.shape[0])
        d[self.cols] = self.K.diagonal()[self.rows]
        if self.rest.size:
            Tr = self.T[:, self.rest]
            d[self.rest] = np.asarray(self._K_rest().multiply(Tr).sum(axis=0)).ravel()
        return d

    def diagonal(self) -> np.ndarray:
        """diag(A) (n_free,): computed on demand, not held."""
        d = self._diagonal()
        d[self._dec] = self._diag_dec
        return d

    def _apply(self, z):
        """z (n_free,) or (n_free, k)."""
        z2 = z.reshape(z.shape[0], -1)
        x = np.zeros((self.n_dofs, z2.shape[1]))
        K.gather_own(z2, self.rows, self.cols, self.decoupled, x)
        if self.T_rest is not None:
            zr = np.where(self.decoupled[self.rest, None], 0.0, z2[self.rest])
            x[self._rest_rows] += self.T_rest @ zr
        if x.shape[1] == 1:
            Kx = self.K.matvec(x[:, 0])[:, None]
        else:
            Kx = self.K @ x
        del x
        y = np.empty_like(z2)
        K.scatter_own(Kx, self.rows, self.cols, y)
        if self.T_rest is not None:
            y[self.rest] = self.T_rest.T @ Kx[self._rest_rows]
        y[self._dec] = self._diag_dec[:, None] * z2[self._dec]
        return y.reshape(z.shape)

    def __matmul__(self, Z):
        return self._apply(np.asarray(Z, dtype=float))

    def columns(self, cols, *, sparse: bool = False):
        """A[:, cols] (n_free, len(cols)) for plate unknowns ``cols``: dense, or CSC with
        ``sparse=True`` (nonzero next to the plate only)."""
        cols = np.asarray(cols, dtype=np.int64)
        where = np.searchsorted(self.rest, cols)
        if not np.array_equal(self.rest[np.minimum(where, self.rest.size - 1)], cols):
            raise ValueError("columns() serves plate unknowns only")
        keep = sp.diags((~self.decoupled).astype(float))
        out = (keep @ (self.T.T @ self._K_rest()[:, where])).tocoo()
        fix = np.flatnonzero(self.decoupled[cols])         # prescribed plate unknowns
        if fix.size:
            drop = np.isin(out.col, fix)
            out = sp.coo_matrix((np.r_[out.data[~drop], self.diagonal()[cols[fix]]],
                                 (np.r_[out.row[~drop], cols[fix]], np.r_[out.col[~drop], fix])),
                                shape=out.shape)
        out = out.tocsc()
        return out if sparse else out.toarray()


class DecoupledOperator:
    """``A`` with the unknowns ``is_p`` decoupled (their rows and columns zeroed, the
    diagonal kept): the inner block of a plate condensation, matrix-free."""

    def __init__(self, A, is_p):
        self.A = A
        self.is_p = np.asarray(is_p, bool)
        self._p = np.flatnonzero(self.is_p)
        self.shape = A.shape
        self.dtype = np.dtype(float)
        self._diag_p = A.diagonal()[self._p]

    def diagonal(self) -> np.ndarray:
        return self.A.diagonal()

    def __matmul__(self, Z):
        Z = np.asarray(Z, dtype=float)
        Zk = Z.copy()
        Zk[self._p] = 0.0
        Y = np.asarray(self.A @ Zk)
        del Zk
        Y[self._p] = (self._diag_p * Z[self._p].T).T
        return Y
