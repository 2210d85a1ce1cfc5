"""Linear solvers for the reduced system A z = b.

Factories in the scikit-fem habit: ``make_solver("amg")`` returns an object whose
``setup(A, near_nullspace)`` does the expensive part once (factorisation, AMG
hierarchy) and whose ``solve(b)`` can then be called for every load case.
Every solve returns a :class:`SolveInfo` and raises
:class:`~biomech.errors.ConvergenceError` when it fails.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .errors import ConvergenceError, InputError

log = logging.getLogger(__name__)

#: Above this many unknowns "auto" does not pick the direct solver.
DIRECT_MAX_UNKNOWNS = 60_000
#: Above this ratio of the largest to the smallest diagonal entry (a modulus
#: contrast such as bone against disc) AMG uses energy-minimising prolongation.
HIGH_CONTRAST = 100.0
#: Coarsest AMG level size, factorised by sparse LU (a dense pseudo-inverse of a
#: few thousand unknowns costs tens of seconds).
COARSE_MAX_UNKNOWNS = 500


@dataclass
class SolveInfo:
    """What a solve did.  residuals are relative, ||b - A z|| / ||b||, one per iteration."""

    method: str
    n_unknowns: int
    iterations: int = 0
    residuals: list = field(default_factory=list)
    setup_time_s: float = 0.0
    solve_time_s: float = 0.0
    converged: bool = True
    rtol: float = 0.0

    @property
    def wall_time_s(self) -> float:
        return self.setup_time_s + self.solve_time_s


def pcg(A, b, M=None, *, rtol=1e-8, maxiter=2000, x0=None):
    """Preconditioned conjugate gradients.

    A, M : objects with ``@`` (matrices or LinearOperators); M approximates A^-1.
    Returns (x, residuals) with residuals[i] = ||r_i|| / ||b||.
    """
    bnorm = float(np.linalg.norm(b))
    if bnorm == 0.0:
        return np.zeros_like(b), [0.0]
    x = np.zeros_like(b) if x0 is None else x0.copy()
    r = b - A @ x if x0 is not None else b.copy()
    z = M @ r if M is not None else r.copy()
    p = z.copy()
    rz = float(r @ z)
    res = [float(np.linalg.norm(r)) / bnorm]
    for _ in range(maxiter):
        if res[-1] <= rtol:
            break
        Ap = A @ p
        pAp = float(p @ Ap)
        if not pAp > 0:
            break          # A not positive definite along p: singular or indefinite
        alpha = rz / pAp
        x += alpha * p
        r -= alpha * Ap
        res.append(float(np.linalg.norm(r)) / bnorm)
        z = M @ r if M is not None else r
        rz_new = float(r @ z)
        p *= rz_new / rz
        p += z
        rz = rz_new
    return x, res


class _Solver:
    method = ""

    def __init__(self, *, rtol: float = 1e-8, maxiter: int | None = None):
        if not (0 < rtol < 1):
            raise InputError(f"rtol must lie in (0, 1), got {rtol!r}")
        self.rtol = float(rtol)
        self.maxiter = maxiter
        self.setup_time_s = 0.0
        self.n = 0

    def setup(self, A, near_nullspace=None, diagonal=None):
        t0 = time.perf_counter()
        self.n = A.shape[0]
        self._setup(A, near_nullspace, diagonal)
        self.setup_time_s = time.perf_counter() - t0
        return self

    def _iterative(self, A, M, b, maxiter_default):
        t0 = time.perf_counter()
        maxiter = self.maxiter or maxiter_default
        x, res = pcg(A, b, M, rtol=self.rtol, maxiter=maxiter)
        info = SolveInfo(self.method, self.n, len(res) - 1, res, self.setup_time_s,
                         time.perf_counter() - t0, res[-1] <= self.rtol, self.rtol)
        if not info.converged:
            raise ConvergenceError(
                f"{self.method} did not converge: relative residual {res[-1]:.3g} after "
                f"{info.iterations} iterations (asked for {self.rtol:g}, maxiter {maxiter}). "
                "A singular or badly conditioned model (an unconstrained part, a modulus "
                "ratio above ~1e8) is the usual cause.", info=info)
        return x, info


class AMGCGSolver(_Solver):
    """CG preconditioned by pyamg smoothed aggregation with the rigid-body modes
    as near-nullspace (Vanek, Mandel & Brezina 1996)."""

    method = "amg-cg"

    def _setup(self, A, near_nullspace, diagonal):
        import pyamg
        self.A = A
        B = near_nullspace if near_nullspace is not None else np.ones((A.shape[0], 1))
        smoother = ("gauss_seidel", {"sweep": "symmetric"})
        d = A.diagonal()
        d = d[d > 0]
        self.contrast = float(d.max() / d.min()) if d.size else 1.0
        if self.contrast > HIGH_CONTRAST:
            # energy-minimising prolongation: robust to the bone/disc modulus contrast
            # (L1-L3 segment: 44 iterations against 74 with Jacobi smoothing)
            smooth = ("energy", {"krylov": "cg", "maxiter": 2, "degree": 1, "weighting": "local"})
        else:
            # near-homogeneous material: Jacobi prolongation smoothing, cheaper to set up
            smooth = ("jacobi", {"omega": 4.0 / 3.0})
        self.ml = pyamg.smoothed_aggregation_solver(
            A, B=B, symmetry="hermitian", strength=("symmetric", {"theta": 0.0}),
            smooth=smooth, improve_candidates=None, presmoother=smoother, postsmoother=smoother,
            max_coarse=COARSE_MAX_UNKNOWNS, coarse_solver="splu")
        self.M = self.ml.aspreconditioner(cycle="V")
        self.M @ np.zeros(A.shape[0])      # factorise the coarse level inside the set-up time

    def solve(self, b):
        return self._iterative(self.A, self.M, b, 500)


class CondensedSolver(_Solver):
    """Static condensation of a few coupled unknowns (rigid-plate DOFs).

    A plate DOF couples to every tied node: a dense row and column that spoil
    AMG aggregation.  With the plate unknowns p and the rest i:
    ``X = A_ii^-1 A_ip`` (one inner solve per plate DOF, at set-up),
    ``S = A_pp - A_pi X`` (small, dense); then each right-hand side costs one
    inner solve, or none when it loads only the plates (b_i = 0), and
    ``z_p = S^-1 (b_p - A_pi y)``, ``z_i = y - X z_p`` with ``y = A_ii^-1 b_i``.
    """

    def __init__(self, inner: _Solver, plate_columns, *, rtol=1e-8, maxiter=None):
        super().__init__(rtol=rtol, maxiter=maxiter)
        self.inner = inner
        self.method = f"condensed-{inner.method}"
        self.p = np.asarray(plate_columns, dtype=np.int64)

    def _setup(self, A, near_nullspace, diagonal):
        from biomech import kernels as K
        A = sp.csr_matrix(A)
        self.A = A
        n = A.shape[0]
        is_p = np.zeros(n, dtype=bool)
        is_p[self.p] = True
        A_ii = A.copy()
        K.decouple_rows_and_columns(A_ii.indptr, A_ii.indices, A_ii.data, is_p)
        B = None
        if near_nullspace is not None:
            B = near_nullspace.copy()
            B[is_p] = 0.0
        self.inner.setup(A_ii, B)
        A_ip = A[:, self.p].toarray()
        A_ip[is_p] = 0.0
        self.X = np.zeros((n, self.p.size))
        self.setup_iterations = 0
        # X is combined with the (large) plate unknowns: solve it 1000x tighter
        outer_rtol = self.inner.rtol
        self.inner.rtol = max(outer_rtol * 1e-3, 1e-13)
        try:
            for k in range(self.p.size):
                if np.any(A_ip[:, k]):
                    self.X[:, k], info = self.inner.solve(A_ip[:, k])
                    self.setup_iterations += info.iterations
        finally:
            self.inner.rtol = outer_rtol
        A_pp = A[self.p][:, self.p].toarray()
        S = A_pp - A_ip.T @ self.X
        self.S_inv = np.linalg.inv(S)
        self.A_ip = A_ip
        self.is_p = is_p

    def solve(self, b):
        t0 = time.perf_counter()
        b_i = np.where(self.is_p, 0.0, b)
        iterations, residuals = 0, []
        if np.any(b_i):
            y, info = self.inner.solve(b_i)
            iterations, residuals = info.iterations, info.residuals
        else:
            y = np.zeros_like(b)
        z_p = self.S_inv @ (b[self.p] - self.A_ip.T @ y)
        z = y - self.X @ z_p
        z[self.p] = z_p
        res = float(np.linalg.norm(b - self.A @ z) / max(np.linalg.norm(b), 1e-300))
        info = SolveInfo(self.method, self.n, iterations, residuals + [res], self.setup_time_s,
                         time.perf_counter() - t0, res <= max(10 * self.rtol, 1e-10), self.rtol)
        if not info.converged:
            raise ConvergenceError(f"{self.method}: relative residual {res:.3g} after condensation "
                                   f"(asked for {self.rtol:g})", info=info)
        return z, info


class DirectSolver(_Solver):
    """Sparse LU (SuperLU through SciPy); for small systems."""

    method = "direct"

    def _setup(self, A, near_nullspace, diagonal):
        try:
            self.lu = spla.splu(sp.csc_matrix(A), permc_spec="MMD_AT_PLUS_A")
        except RuntimeError as exc:  # "Factor is exactly singular"
            raise ConvergenceError(f"direct factorisation failed: {exc}; the model is "
                                   "singular (unconstrained or disconnected parts)") from exc

    def solve(self, b):
        t0 = time.perf_counter()
        x = self.lu.solve(b)
        info = SolveInfo(self.method, self.n, 1, [], self.setup_time_s,
                         time.perf_counter() - t0, True, 0.0)
        if not np.isfinite(x).all():
            info.converged = False
            raise ConvergenceError("direct solve produced non-finite values: singular model",
                                   info=info)
        return x, info


class JacobiCGSolver(_Solver):
    """CG with Jacobi preconditioning; works with a matrix-free LinearOperator
    (give the operator's diagonal to ``setup``)."""

    method = "jacobi-cg"

    def _setup(self, A, near_nullspace, diagonal):
        self.A = A
        d = A.diagonal() if diagonal is None else np.asarray(diagonal)
        if not (d > 0).all():
            raise ConvergenceError("the operator has non-positive diagonal entries: "
                                   "a DOF without stiffness (unconnected node)")
        inv = 1.0 / d
        self.M = spla.LinearOperator(A.shape, matvec=lambda r: inv * r, dtype=float)

    def solve(self, b):
        return self._iterative(self.A, self.M, b, 20_000)


SOLVERS = {"amg": AMGCGSolver, "direct": DirectSolver, "jacobi": JacobiCGSolver}


def make_solver(name: str, **options) -> _Solver:
    """A solver by name: 'amg' (default for most models), 'direct', 'jacobi'."""
    if name not in SOLVERS:
        raise InputError(f"unknown solver {name!r}; choose one of {sorted(SOLVERS)}")
    return SOLVERS[name](**options)
