"""Smoothing with the volumetric part of nearly incompressible voxels solved exactly.

Why: Jacobi, and the Chebyshev smoothing built on it, fails on nearly incompressible
elements (the nucleus, nu 0.499).  Their diagonal is dominated by the bulk modulus
kappa (about 50x the deviatoric share at nu 0.499), while the divergence-free modes have
deviatoric energy only: D^-1 A scales them by ~1/50, below the smoothing interval, and
the trilinear coarse levels lock on them as well.  On the L1-L3 segment they were the
slowest modes of the preconditioned operator (99 % of the amplitude in the nucleus), and
a plate column's CG needed 61 iterations to 1e-10 where a compressible nucleus
(nu 0.45) needed 25.  Robust multigrid for this needs a smoother that sees the
near-kernel of the volumetric term (Schoeberl 1999, Numer. Math. 84:97-119).

How: the B-bar voxel's volumetric part is rank one,
``kappa_e V gbar gbar^T = kappa_e K_lambda`` (kernels.elements.voxel_reference_matrices),
so a level's operator is ``A = A_rest + B^T B`` with one row
``sqrt(kappa_e) g^T`` per nearly incompressible element (g g^T = K_lambda; on coarse
levels B P, the exact volumetric part of the Galerkin operator).  The smoother uses
``S = (D~ + B^T B)^-1`` with ``D~ = diag(A) - diag(B^T B)``: Jacobi on everything but
the volumetric terms, which are exact.  By the Woodbury identity
``S v = D~^-1 v - D~^-1 B^T G^-1 B D~^-1 v``, ``G = I + B D~^-1 B^T`` (one row and
column per such element, sparse, factorised once).  On divergence-free modes S acts as
deviatoric Jacobi, whatever kappa.  Segment column solve: 61 -> 26 CG iterations
(smallest eigenvalue of the preconditioned operator 0.019 -> 0.12).
"""
from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

log = logging.getLogger(__name__)

#: An element's volumetric part is smoothed exactly where lam / mu exceeds this
#: (nu > 0.476): below it Jacobi damps its divergence-free modes well enough (the
#: annulus and lytic tissue, nu 0.45, lam / mu = 9, are left to Jacobi).
VOLUMETRIC_RATIO = 20.0
#: At most this many such voxels get it (the nucleus is ~10k at 1 mm, ~26k at 0.75 mm,
#: ~86k at 0.5 mm): G's factor grows as n^(4/3) (46 MB at 10k, 172 MB at 26k), so a model
#: made mostly of nearly incompressible voxels keeps plain Jacobi (and converges slowly).
VOLUMETRIC_MAX_VOXELS = 150_000
#: Smoothed levels that get it (the fine one: the next coarser, with the Galerkin rows
#: B P and a denser G, added little on a 2 mm plate column, 26 -> 25 iterations, and on the
#: whole L1-L3 case nothing: 267 against 262 iterations at 2 mm, 377 and 96 s against
#: 338 and 65 s at 1 mm).
VOLUMETRIC_LEVELS = 1


def nested_dissection(ijk: np.ndarray, leaf: int = 64) -> np.ndarray:
    """An order of voxels (n, 3) int by geometric nested dissection: halves split by a
    plane of voxels across the longest extent, the plane last.  Voxels couple in G
    only through a shared node (|d ijk| <= 1), so a plane separates the halves.  On a
    nucleus-sized blob (5.5k voxels) SuperLU's fill is 1.7M entries against 2.7M with
    its minimum-degree order, and a solve 3.5x faster."""
    ijk = np.asarray(ijk)
    order = []

    def split(idx):
        if idx.size <= leaf:
            order.append(idx)
            return
        pts = ijk[idx]
        c = pts[:, int(np.argmax(pts.max(axis=0) - pts.min(axis=0)))]
        mid = int(np.median(c))
        split(idx[c < mid])
        split(idx[c > mid])
        order.append(idx[c == mid])

    split(np.arange(ijk.shape[0]))
    return np.concatenate(order)


def volumetric_rows(lam, mu, conn, K_lambda, dof_mask, ratio: float = VOLUMETRIC_RATIO,
                    ijk=None):
    """B (n_b, 3 n_nodes) CSR: one row sqrt(kappa_e) g^T per element with
    lam_e / mu_e > ratio, on its 24 DOFs (node-major), masked DOFs left out; None if no
    element qualifies, or if K_lambda is not rank one (no B-bar: the volumetric part is
    then not one row per element).  lam, mu (n_el,) [MPa]; conn (n_el, 8); K_lambda
    (24, 24) [mm]; dof_mask (3 n_nodes,) 0/1; ijk (n_el, 3): the voxels, to order the rows by
    :func:`nested_dissection` (G's factor follows the row order)."""
    lam = np.asarray(lam, float)
    mu = np.asarray(mu, float)
    sel = np.flatnonzero(lam > ratio * mu)
    if sel.size == 0:
        return None
    if sel.size > VOLUMETRIC_MAX_VOXELS:
        log.warning("%d nearly incompressible voxels (lam / mu > %g): more than "
                    "VOLUMETRIC_MAX_VOXELS = %d, so they are smoothed by plain Jacobi; "
                    "expect many CG iterations", sel.size, ratio, VOLUMETRIC_MAX_VOXELS)
        return None
    if ijk is not None:
        sel = sel[nested_dissection(np.asarray(ijk)[sel])]
    w, V = np.linalg.eigh(np.asarray(K_lambda, float))
    if w[-2] > 1e-10 * w[-1]:
        return None       # not B-bar (full integration): the volumetric part is not rank one
    g = V[:, -1] * np.sqrt(w[-1])
    kappa = lam[sel] + 2.0 * mu[sel] / 3.0
    cols = (3 * np.asarray(conn)[sel][:, :, None] + np.arange(3)).reshape(-1, 24)
    vals = np.sqrt(kappa)[:, None] * g[None, :] * np.asarray(dof_mask, float)[cols]
    B = sp.csr_matrix((vals.ravel(), cols.ravel(), np.arange(0, 24 * sel.size + 1, 24)),
                      shape=(sel.size, np.asarray(dof_mask).size))
    B.eliminate_zeros()
    return B


class VolumetricSmoothing:
    """The correction ``u -= D~^-1 B^T G^-1 B u`` that turns ``u = D~^-1 v`` into
    ``S v`` (module docstring), on the DOFs B touches only.

    B (n_b, n) CSR: the level's volumetric rows.  :meth:`refresh` takes the level's
    full diagonal and returns D~ (the Jacobi diagonal the level must use)."""

    def __init__(self, B: sp.csr_matrix):
        B = sp.csr_matrix(B)
        self.loc = np.unique(B.indices)
        self.B = sp.csr_matrix(B[:, self.loc])
        self.Bt = self.B.T.tocsr()
        self.diag_BtB = np.asarray(self.B.multiply(self.B).sum(axis=0)).ravel()
        self._d_loc = None

    @property
    def n_rows(self) -> int:
        return self.B.shape[0]

    def refresh(self, diagonal: np.ndarray) -> np.ndarray:
        """diagonal (n,) float64 of the level's operator -> D~ (n,) (factorises G the
        first time)."""
        d = np.array(diagonal, dtype=float)
        if self._d_loc is None:
            d_loc = d[self.loc] - self.diag_BtB
            if not np.all(d_loc > 0):
                # cannot happen for B-bar voxels (the deviatoric diagonal stays); guard
                d_loc = np.where(d_loc > 0, d_loc, d[self.loc])
            self._d_loc = d_loc
            self._dinv_loc = 1.0 / d_loc
            G = (sp.identity(self.n_rows, format="csr")
                 + self.B @ sp.diags(self._dinv_loc) @ self.Bt).tocsc()
            # SPD: SuperLU's symmetric mode (diagonal pivots) in the rows' order (nested
            # dissection, volumetric_rows).  float64 whatever the V-cycle's precision: a
            # float32 factor left the float32 V-cycle symmetric to 1.6e-5 only (G's
            # condition grows with lam / mu), against 7e-8 without it
            self._lu = spla.splu(G, permc_spec="NATURAL", diag_pivot_thresh=0.0,
                                 options={"SymmetricMode": True})
        # later calls (springs of a changed active set) keep D~ on these DOFs: any SPD
        # smoother serves, and G is not refactorised (0.1 s at 1 mm) for the few
        # springs that end at the nucleus's boundary
        d[self.loc] = self._d_loc
        return d

    @property
    def factor_entries(self) -> int:
        return int(self._lu.L.nnz + self._lu.U.nnz)

    def correct(self, u: np.ndarray) -> None:
        """u = D~^-1 v (n,) or (n, k), in place -> S v."""
        ul = u[self.loc]
        t = self.B @ ul
        s = self._lu.solve(np.asarray(t, dtype=float))
        w = self.Bt @ s
        dinv = self._dinv_loc if w.ndim == 1 else self._dinv_loc[:, None]
        ul -= (dinv * w).astype(u.dtype, copy=False)
        u[self.loc] = ul
