"""The multigrid V-cycle run by biomech's own kernels on a pyamg hierarchy.

pyamg builds the smoothed-aggregation hierarchy (aggregates, prolongators, Galerkin
coarse operators: the set-up it does well).  The cycle itself runs here, on
blocks of vectors and in parallel: pyamg's cycle relaxes one vector at a time
with a sequential Gauss-Seidel, so six right-hand sides (a rigid plate's
condensation) read every matrix six times on one core.  Here each level is
relaxed by a symmetric Gauss-Seidel sweep, parallel over row chunks one
bandwidth long (:mod:`biomech.kernels.multigrid`), over all k vectors at once;
the coarsest level is factorised once (SuperLU).

Shapes: vectors are (n,) or (n, k) float64; the result has the shape of the input.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .. import kernels as K


def _csr(M) -> sp.csr_matrix:
    M = sp.csr_matrix(M)
    M.sort_indices()
    return M


def _as_block(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x[:, None] if x.ndim == 1 else x, dtype=float)


class CSROperator:
    """y = A x with the parallel block kernel; x (n,) or (n, k).  ``shape``,
    ``dtype`` and ``diagonal()`` as a SciPy matrix."""

    def __init__(self, A):
        self.A = _csr(A)
        self.shape = self.A.shape
        self.dtype = np.dtype(float)

    def diagonal(self) -> np.ndarray:
        return self.A.diagonal()

    def __matmul__(self, x):
        X = _as_block(np.asarray(x))
        Y = np.empty((self.shape[0], X.shape[1]))
        K.csr_matmat(self.A.indptr, self.A.indices, self.A.data, X, Y, False)
        return Y[:, 0] if np.ndim(x) == 1 else Y


class SparseRowsOperator:
    """A sparse (n, n) matrix with few nonzero rows (springs, contact) whose products
    touch those rows only: SciPy's CSR product walks all n rows (0.7 ms at 574k DOF for
    a few thousand nonzeros, ~10 % of a 1 mm segment solve).  ``add_to(y, x)`` adds
    C x into y (n,) or (n, k) in place; ``@`` returns C x."""

    def __init__(self, C, dtype=float):
        C = sp.csr_matrix(C)
        if not C.has_canonical_format:               # sorted, one entry each; the
            C = C.copy()                             # caller's arrays are not touched
            C.sum_duplicates()
        self.shape = C.shape
        self.dtype = np.dtype(dtype)
        self.rows = np.flatnonzero(np.diff(C.indptr))
        # the nonzero rows' entries are C's own, in order: (n_rows, n) CSR on C's index
        # arrays (and values, where the dtype agrees), not a copy
        indptr = np.append(C.indptr[self.rows], C.indptr[-1]).astype(C.indptr.dtype)
        self.sub = sp.csr_matrix((C.data.astype(self.dtype, copy=False), C.indices, indptr),
                                 shape=(self.rows.size, C.shape[1]))
        self.nnz = C.nnz

    def square_product(self, W) -> np.ndarray:
        """(C W)[rows] (n_rows, m) float64 for a symmetric C: its nonzero columns are
        its nonzero rows, so only W[rows] is read (a float32 W is not copied whole)."""
        # each column's place among the nonzero rows, -1 if it is none: a gather (a
        # binary search of every entry took 15 ms at 574k DOF, 40 times a case)
        place = np.full(self.shape[1], -1, dtype=np.int64)
        place[self.rows] = np.arange(self.rows.size)
        cols = place[self.sub.indices]
        if (cols < 0).any():
            return np.asarray(self.sub @ np.asarray(W, dtype=float))   # not symmetric
        square = sp.csr_matrix((self.sub.data, cols, self.sub.indptr),
                               shape=(self.rows.size, self.rows.size))
        return np.asarray(square @ np.asarray(W[self.rows], dtype=float))

    def diagonal(self) -> np.ndarray:
        d = np.zeros(self.shape[0], dtype=self.dtype)
        d[self.rows] = np.asarray(self.sub[np.arange(self.rows.size), self.rows]).ravel()
        return d

    def tocsr(self) -> sp.csr_matrix:
        """The whole (n, n) matrix again (for a factorisation or a check)."""
        counts = np.zeros(self.shape[0], dtype=np.int64)
        counts[self.rows] = np.diff(self.sub.indptr)
        indptr = np.concatenate([[0], np.cumsum(counts)])
        return sp.csr_matrix((self.sub.data, self.sub.indices, indptr), shape=self.shape)

    def add_to(self, y, x) -> None:
        y[self.rows] += self.sub @ x

    def __matmul__(self, x):
        x = np.asarray(x)
        y = np.zeros((self.shape[0],) + x.shape[1:], dtype=np.result_type(self.dtype, x))
        self.add_to(y, x)
        return y


@dataclass
class _Level:
    A: sp.csr_matrix
    inv_diag: np.ndarray
    chunk_ptr: np.ndarray
    P: sp.csr_matrix
    R: sp.csr_matrix


class MultigridCycle:
    """Symmetric V-cycle (one symmetric Gauss-Seidel sweep before and after the
    coarse correction) on a hierarchy: level matrices A_0 (finest) .. A_L, and the
    prolongators P_l (A_l's unknowns from A_{l+1}'s) and restrictions R_l = P_l^T.

    A symmetric positive definite preconditioner for CG: ``M @ r`` with r (n,) or
    (n, k).  Build it with :meth:`from_pyamg` or :meth:`galerkin`.
    """

    def __init__(self, matrices, prolongators, restrictions):
        self.levels = []
        for A, P, R in zip(matrices[:-1], prolongators, restrictions):
            A = _csr(A)
            d = A.diagonal()
            inv = np.zeros_like(d)
            inv[d != 0] = 1.0 / d[d != 0]
            chunk_ptr = K.row_chunks(A.indptr, A.indices, A.data)
            self.levels.append(_Level(A, inv, chunk_ptr, _csr(P), _csr(R)))
        coarse = sp.csr_matrix(matrices[-1])
        # with several near-nullspace vectors an aggregate can lose a candidate: its
        # coarse row and column are zero (and so is its right-hand side); a unit
        # diagonal there keeps the factorisation regular and the solution 0
        empty = coarse.diagonal() == 0
        if empty.any():
            coarse = coarse + sp.diags(empty.astype(float))
        self.coarse_lu = spla.splu(sp.csc_matrix(coarse), permc_spec="MMD_AT_PLUS_A")
        self.coarse_n = coarse.shape[0]
        self.shape = sp.csr_matrix(matrices[0]).shape
        self.dtype = np.dtype(float)
        self._work = {}

    @classmethod
    def from_pyamg(cls, ml) -> "MultigridCycle":
        """The levels of a ``pyamg.MultilevelSolver``."""
        levels = list(ml.levels)
        Rs = [lev.R if getattr(lev, "R", None) is not None else lev.P.T for lev in levels[:-1]]
        return cls([lev.A for lev in levels], [lev.P for lev in levels[:-1]], Rs)

    @classmethod
    def galerkin(cls, A, prolongators) -> "MultigridCycle":
        """A new finest matrix A on given prolongators: coarse matrices R A P again
        (a material change on the same mesh keeps the aggregates and P)."""
        matrices = [_csr(A)]
        Rs = []
        for P in prolongators:
            R = _csr(P.T)
            Rs.append(R)
            matrices.append(_csr(R @ matrices[-1] @ P))
        return cls(matrices, prolongators, Rs)

    @property
    def prolongators(self) -> list:
        return [lev.P for lev in self.levels]

    @property
    def level_sizes(self) -> list:
        return [lev.A.shape[0] for lev in self.levels] + [self.coarse_n]

    @property
    def n_chunks(self) -> list:
        """Row chunks of each smoothed level (half of them run at a time)."""
        return [lev.chunk_ptr.size - 1 for lev in self.levels]

    def _workspace(self, k: int) -> dict:
        """Buffers for k vectors: X_i, B_i of every level below the finest, R_i of
        every smoothed level (kept for the last k used)."""
        if k not in self._work:
            sizes = [lev.A.shape[0] for lev in self.levels] + [self.coarse_n]
            self._work = {k: {"X": [None] + [np.empty((m, k)) for m in sizes[1:]],
                              "B": [None] + [np.empty((m, k)) for m in sizes[1:]],
                              "R": [np.empty((m, k)) for m in sizes[:-1]]}}
        return self._work[k]

    def smooth(self, i: int, X: np.ndarray, B: np.ndarray) -> None:
        """One symmetric sweep (forward, then reverse) on level i, in place on X."""
        lev = self.levels[i]
        for reverse in (False, True):
            K.chunked_gauss_seidel(lev.A.indptr, lev.A.indices, lev.A.data, lev.inv_diag, X, B,
                                   lev.chunk_ptr, reverse)

    def _cycle(self, i: int, B: np.ndarray, X: np.ndarray, work: dict) -> None:
        if i == len(self.levels):
            X[:] = self.coarse_lu.solve(B).reshape(X.shape)
            return
        lev = self.levels[i]
        X[:] = 0.0
        self.smooth(i, X, B)
        R, Bc, Xc = work["R"][i], work["B"][i + 1], work["X"][i + 1]
        K.csr_residual(lev.A.indptr, lev.A.indices, lev.A.data, X, B, R)
        K.csr_matmat(lev.R.indptr, lev.R.indices, lev.R.data, R, Bc, False)
        self._cycle(i + 1, Bc, Xc, work)
        K.csr_matmat(lev.P.indptr, lev.P.indices, lev.P.data, Xc, X, True)
        self.smooth(i, X, B)

    def __matmul__(self, r):
        B = _as_block(np.asarray(r))
        X = np.empty_like(B)
        self._cycle(0, B, X, self._workspace(B.shape[1]))
        return X[:, 0] if np.ndim(r) == 1 else X


class HierarchyCache:
    """The prolongators of the last AMG hierarchies, by layout of the unknowns.

    Cases of a study that share a mesh and its constraints (a cement sweep: the
    cement changes materials, not nodes) can keep the aggregates and prolongators
    of an earlier case and rebuild only the Galerkin coarse matrices R A P: on the
    L1-L3 segment at 2 mm the set-up fell from 2.1 s to 0.6 s with the same number
    of CG iterations (52).  The layout key is the near-nullspace (node coordinates
    and constrained unknowns) and the size.  A reused hierarchy that needs more
    than ``max_growth`` times the iterations of the fresh one it came from is
    dropped, so the next case builds afresh.  Results then depend, within the
    solver tolerance, on which case ran before in the process: opt-in.
    """

    def __init__(self, max_entries: int = 1, max_growth: float = 1.5):
        self.max_entries = max_entries
        self.max_growth = max_growth
        self._entries = {}          # key -> {"P": [...], "iterations": int | None}

    @staticmethod
    def key(A, B) -> str:
        import hashlib
        h = hashlib.blake2b(digest_size=16)
        h.update(np.asarray(A.shape, np.int64).tobytes())
        if B is not None:
            h.update(np.ascontiguousarray(B, dtype=float).tobytes())
        return h.hexdigest()

    def get(self, key: str):
        entry = self._entries.get(key)
        return None if entry is None else entry["P"]

    def put(self, key: str, prolongators) -> None:
        self._entries.pop(key, None)
        while len(self._entries) >= self.max_entries:
            self._entries.pop(next(iter(self._entries)))
        self._entries[key] = {"P": list(prolongators), "iterations": None}

    def observe(self, key: str, iterations: int, *, reused: bool) -> None:
        """Record the first solve's iterations of a fresh hierarchy; drop a reused
        one that needed more than max_growth times as many."""
        entry = self._entries.get(key)
        if entry is None:
            return
        if not reused:
            if entry["iterations"] is None:
                entry["iterations"] = iterations
        elif entry["iterations"] and iterations > self.max_growth * entry["iterations"]:
            del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


#: The process-wide cache used by ``make_solver("amg", reuse_hierarchy=True)``.
HIERARCHY_CACHE = HierarchyCache()
