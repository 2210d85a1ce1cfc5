"""Deflated CG with Ritz vectors recycled across a sequence of solves.

An active-set iteration (tension-only fibres, contact) solves the same body with a
different set of springs some forty times per L1-L3 case.  Once the nucleus is
smoothed properly (:mod:`.gmg_volumetric`) and the V-cycle follows the springs, the
preconditioned operator keeps a few outlying small eigenvalues, modes of the posterior
elements (82 % of their amplitude at 1 mm; smallest 0.025, 0.047, 0.077, the next 0.16;
seven below 0.07 in the intact case), that cost each tight solve 20-40 iterations from
1e-3 to 1e-6.  They change little from one solve to the next, so Ritz vectors from the
solves' Lanczos coefficients deflate the later ones (Saad, Yeung, Erhel & Guyomarc'h
2000, SIAM J. Sci. Comput. 21:1909, "A deflated version of the conjugate gradient
algorithm"); the space grows solve after solve with Ritz vectors of the operator already
deflated (recycling and augmentation as in Parks et al. 2006, SIAM J. Sci. Comput.
28:1651).  Any W gives the right answer; a good one only makes it cheaper.

Shapes: n unknowns, k = :data:`DEFLATION_VECTORS` per harvest, m <=
:data:`DEFLATION_MAX_VECTORS` held.
"""
from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

#: Ritz vectors harvested from one solve (its Lanczos coefficients give 3-4 good ones).
DEFLATION_VECTORS = 4
#: The space grows by DEFLATION_VECTORS per solve of at least RITZ_MIN_STEPS iterations
#: until it holds this many: each later harvest comes from the operator already
#: deflated, so it finds the next slow modes (augmented recycling, as in Parks et al.
#: 2006).  The 1 mm L1-L3 segment's intact case had 7 Ritz values below 0.07 (0.0025 to
#: 0.053, posterior elements): 4 vectors left its final solves at 28-40 iterations.
#: CG iterations for the case (intact / vertebroplasty) against the space's size: 4:
#: 563 / 338; 12: 411 / 268; 16: 271 / 266; 20: 248 / 251; 28: 247 / 258.
DEFLATION_MAX_VECTORS = 16
#: Lanczos vectors stored (float32) while the space is still growing: a solve of at
#: least RITZ_MIN_STEPS iterations provides the next DEFLATION_VECTORS.
RITZ_STEPS = 16
RITZ_MIN_STEPS = 12


_ROWS = 1 << 15          # row block of the float32 W's products (its float64 copy stays small)


def _w_t(W, V) -> np.ndarray:
    """W^T V in float64 for float32 W (n, m) and float64 V (n,) or (n, k), by row blocks."""
    out = np.zeros((W.shape[1],) + V.shape[1:])
    for lo in range(0, W.shape[0], _ROWS):
        out += W[lo:lo + _ROWS].T.astype(float) @ V[lo:lo + _ROWS]
    return out


def _w_times(W, c) -> np.ndarray:
    """W c in float64 for float32 W (n, m) and c (m,) or (m, k), by row blocks."""
    out = np.empty((W.shape[0],) + np.shape(c)[1:])
    for lo in range(0, W.shape[0], _ROWS):
        out[lo:lo + _ROWS] = W[lo:lo + _ROWS].astype(float) @ c
    return out


class RecycledDeflation:
    """Deflation space W (n, m) for the solves with ``A = base + C`` (C: sparse springs
    that change); ``base`` has ``@`` for (n,) vectors.  Empty until :meth:`solve` has
    seen a solve of at least RITZ_MIN_STEPS iterations; then each such solve adds ``k``
    Ritz vectors until m reaches ``max_vectors``.  W is kept orthonormal, stored in
    float32; base @ W is the float64 product of those stored values, so the space is
    exactly the one deflated (all arithmetic in float64).  12 max_vectors bytes per
    unknown from the first harvest on (both arrays are allocated then), and while the
    space grows a solve's RITZ_STEPS Lanczos vectors (float32) and a harvest's
    float64 temporaries (~4 k vectors).
    (A float32 base @ W made deflated CG stall on a matrix with eigenvalues from 1e-4
    to 2: W and A W no longer agreed.)"""

    def __init__(self, base, k: int = DEFLATION_VECTORS, max_vectors: int | None = None):
        self.base = base
        self.k = int(k)
        self.max_vectors = int(DEFLATION_MAX_VECTORS if max_vectors is None else max_vectors)
        self._W = self._AW = None  # (n, max_vectors) each, the first m columns used
        self.m = 0
        self.ritz_values = None    # (m,) Ritz values of M A at each harvest

    @property
    def W(self):
        """(n, m) orthonormal deflation space, or None while empty."""
        return self._W[:, :self.m] if self.m else None

    @property
    def base_W(self):
        """(n, m) base @ W, or None while empty."""
        return self._AW[:, :self.m] if self.m else None

    def drop(self) -> None:
        """Forget the space (it fills again from later solves)."""
        self._W = self._AW = self.ritz_values = None
        self.m = 0

    def _set_space(self, Z, alphas, betas):
        """W from the Lanczos coefficients of CG (Saad's book, 6.7.3) and its first
        m normalised preconditioned residuals Z (n, m)."""
        m = min(len(alphas), Z.shape[1])
        T = np.zeros((m, m))
        for i in range(m):
            T[i, i] = 1.0 / alphas[i] + (betas[i - 1] / alphas[i - 1] if i else 0.0)
            if i + 1 < m:
                T[i, i + 1] = T[i + 1, i] = np.sqrt(betas[i]) / alphas[i]
        theta, V = np.linalg.eigh(T)
        k = min(self.k, m, self.max_vectors - self.m)
        if k <= 0:
            return
        Y = (Z[:, :m] @ V[:, :k].astype(Z.dtype)).astype(float)
        if self.m:                  # orthogonal to the space held ("twice is enough")
            for _ in range(2):
                Y -= _w_times(self.W, _w_t(self.W, Y))
        Q, R = np.linalg.qr(Y)
        d = np.abs(np.diag(R))
        keep = np.flatnonzero(d > 1e-8 * max(float(d.max(initial=0.0)), 1e-300))
        if not keep.size:
            return
        if self._W is None:
            n = Y.shape[0]
            self._W = np.empty((n, self.max_vectors), dtype=np.float32)
            self._AW = np.empty((n, self.max_vectors))
        for j in keep:
            self._W[:, self.m] = Q[:, j]
            self._AW[:, self.m] = np.asarray(self.base @ self._W[:, self.m].astype(float))
            self.m += 1
        found = theta[:k][keep]
        self.ritz_values = (found if self.ritz_values is None
                            else np.concatenate([self.ritz_values, found]))

    def solve(self, A, C, b, M, *, rtol: float, maxiter: int, x0=None):
        """CG on A z = b (A = base + C; C sparse (n, n) or its SparseRowsOperator),
        preconditioned by M and deflated by W once it exists.  Returns (z (n,),
        residuals ||r_i|| / ||b||)."""
        from .multigrid import SparseRowsOperator
        b = np.asarray(b, dtype=float)
        bnorm = float(np.linalg.norm(b)) or 1.0
        x = np.zeros_like(b) if x0 is None else np.array(x0, dtype=float)
        r = b - np.asarray(A @ x) if x0 is not None else b.copy()
        W = self.W
        if W is not None:
            # A W = base W + C W, C W on C's nonzero rows only (and, C symmetric, from
            # W's rows there: no float64 copy of the whole W)
            Cr = C if isinstance(C, SparseRowsOperator) else SparseRowsOperator(C)
            rows, CW = Cr.rows, Cr.square_product(W)
            E = _w_t(W, self.base_W) + W[rows].T.astype(float) @ CW
            E = 0.5 * (E + E.T)
            ev = np.linalg.eigvalsh(E)
            if not ev[0] > 1e-12 * ev[-1]:
                W = None                  # a dependent space: plain CG this time
        if W is not None:
            E_inv = np.linalg.inv(E)

            def AW_T(v):                    # (A W)^T v
                return self.base_W.T @ v + CW.T @ v[rows]

            # start with W^T r = 0: x += W E^-1 W^T r
            mu = E_inv @ _w_t(W, r)
            x += _w_times(W, mu)
            r -= self.base_W @ mu
            r[rows] -= CW @ mu
        res = [float(np.linalg.norm(r)) / bnorm]
        if res[0] <= rtol:
            return x, res
        # a space still growing takes the Lanczos vectors of this solve too
        collect = self.m < self.max_vectors
        Z = np.empty((b.size, RITZ_STEPS), dtype=np.float32) if collect else None
        alphas, betas = [], []

        def project(z):                     # z - W E^-1 (A W)^T z: p stays A-orthogonal to W
            return z if W is None else z - _w_times(W, E_inv @ AW_T(z))

        z = np.asarray(M @ r)
        rz = float(r @ z)
        p = project(z)
        for it in range(maxiter):
            if collect and it < RITZ_STEPS:
                Z[:, it] = z * ((-1) ** it / np.sqrt(rz))
            Ap = np.asarray(A @ p)
            pAp = float(p @ Ap)
            if not pAp > 0:
                break
            alpha = rz / pAp
            x += alpha * p
            r -= alpha * Ap
            res.append(float(np.linalg.norm(r)) / bnorm)
            alphas.append(alpha)
            if res[-1] <= rtol:
                break
            z = np.asarray(M @ r)
            rz_new = float(r @ z)
            beta = rz_new / rz
            betas.append(beta)
            p *= beta
            p += project(z)
            rz = rz_new
        if collect and len(alphas) >= RITZ_MIN_STEPS:
            self._set_space(Z, alphas, betas)
        if W is not None and res[-1] <= rtol:
            # one product to confirm: base @ W is cached, so a base changed in place
            # since would leave the recurrence's residual wrong; finish without W then
            true = float(np.linalg.norm(b - np.asarray(A @ x))) / bnorm
            if true > max(10.0 * rtol, 1e-12):
                log.warning("deflated CG: residual %.3g against %.3g by recurrence; the "
                            "deflation space is dropped and plain CG finishes", true, res[-1])
                self.drop()
                from .solvers import pcg
                x, more = pcg(A, b, M, rtol=rtol, maxiter=maxiter, x0=x)
                res += more
        return x, res
