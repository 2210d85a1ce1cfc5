"""Deflated CG with Ritz vectors recycled across a sequence of solves.

An active-set iteration (tension-only fibres, contact) solves the same body with a
different set of springs some forty times per L1-L3 case.  Once the nucleus is
smoothed properly (:mod:`.gmg_volumetric`) and the V-cycle follows the springs, the
preconditioned operator keeps a few outlying small eigenvalues, modes of the posterior
elements (82 % of their amplitude at 1 mm; smallest 0.025, 0.047, 0.077, the next 0.16),
that cost each tight solve about 22 iterations from 1e-3 to 1e-6.  They change little
from one solve to the next, so their Ritz vectors, taken once from a solve's Lanczos
coefficients, deflate all later ones (Saad, Yeung, Erhel & Guyomarc'h 2000, SIAM J. Sci.
Comput. 21:1909, "A deflated version of the conjugate gradient algorithm"; recycling as
in Parks et al. 2006, SIAM J. Sci. Comput. 28:1651).  Any W gives the right answer; a
good one only makes it cheaper.

Shapes: n unknowns, k = :data:`DEFLATION_VECTORS`.
"""
from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

#: Ritz vectors kept (the outlying small eigenvalues of the segment at 1 mm: 3-4).
DEFLATION_VECTORS = 4
#: Lanczos vectors stored (float32) while no deflation space exists yet: the first
#: solve that runs at least RITZ_MIN_STEPS iterations provides it.
RITZ_STEPS = 16
RITZ_MIN_STEPS = 12


class RecycledDeflation:
    """Deflation space W (n, k) for the solves with ``A = base + C`` (C: sparse springs
    that change); ``base`` has ``@`` for (n,) vectors.  Empty until :meth:`solve` has
    seen a solve of at least RITZ_MIN_STEPS iterations.  Holds W and base @ W: 16 k
    bytes per unknown."""

    def __init__(self, base, k: int = DEFLATION_VECTORS):
        self.base = base
        self.k = int(k)
        self.W = None              # (n, k)
        self.base_W = None         # (n, k): base @ W
        self.ritz_values = None    # (k,) Ritz values of M A that W belongs to

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
        k = min(self.k, m)
        W = Z[:, :m] @ V[:, :k].astype(Z.dtype)
        W = W.astype(float)
        norms = np.linalg.norm(W, axis=0)
        keep = norms > 0
        if not keep.any():
            return
        W = W[:, keep] / norms[keep]
        k = W.shape[1]
        self.W = W
        self.base_W = np.column_stack([np.asarray(self.base @ W[:, j]) for j in range(k)])
        self.ritz_values = theta[:norms.size][keep]

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
            # A W = base W + C W, C W on C's nonzero rows only
            Cr = C if isinstance(C, SparseRowsOperator) else SparseRowsOperator(C)
            rows, CW = Cr.rows, np.asarray(Cr.sub @ W)
            E = W.T @ self.base_W + W[rows].T @ CW
            E = 0.5 * (E + E.T)
            ev = np.linalg.eigvalsh(E)
            if not ev[0] > 1e-12 * ev[-1]:
                W = None                  # a dependent space: plain CG this time
        if W is not None:
            E_inv = np.linalg.inv(E)

            def AW_T(v):                    # (A W)^T v
                return self.base_W.T @ v + CW.T @ v[rows]

            # start with W^T r = 0: x += W E^-1 W^T r
            mu = E_inv @ (W.T @ r)
            x += W @ mu
            r -= self.base_W @ mu
            r[rows] -= CW @ mu
        res = [float(np.linalg.norm(r)) / bnorm]
        if res[0] <= rtol:
            return x, res
        collect = W is None
        Z = np.empty((b.size, RITZ_STEPS), dtype=np.float32) if collect else None
        alphas, betas = [], []

        def project(z):                     # z - W E^-1 (A W)^T z: p stays A-orthogonal to W
            return z if W is None else z - W @ (E_inv @ AW_T(z))

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
                self.W = self.base_W = None
                from .solvers import pcg
                x, more = pcg(A, b, M, rtol=rtol, maxiter=maxiter, x0=x)
                res += more
        return x, res
