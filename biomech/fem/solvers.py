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

from ..errors import ConvergenceError, InputError
from . import deflation as D

log = logging.getLogger(__name__)

#: Above this many unknowns "auto" does not pick the direct solver.
DIRECT_MAX_UNKNOWNS = 60_000
#: Above this ratio of the largest to the smallest diagonal entry (a modulus
#: contrast such as bone against disc) AMG uses energy-minimising prolongation.
HIGH_CONTRAST = 100.0
#: Coarsest AMG level size [unknowns], factorised by sparse LU (a dense pseudo-inverse
#: of a few thousand unknowns costs tens of seconds; a 2310-unknown LU dominated each
#: cycle of a 3 mm segment, one more level below 750 unknowns cost iterations at 1 mm).
COARSE_MAX_UNKNOWNS = 1000
#: A GMG V-cycle takes a changed set of springs (an active set that moved) when it
#: differs from the set it holds by more than this fraction of the summed |entries|
#: (GMGCGSolver.follow_coupling): 0, any change.  A 2 % threshold cost 456 against 385
#: CG iterations on the 1 mm L1-L3 case (a few facet contacts matter locally).
COUPLING_UPDATE_FRACTION = 0.0


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
    #: linear solves of the active-set iteration (tension-only / contact springs); 1 if linear
    active_set_iterations: int = 1

    @property
    def wall_time_s(self) -> float:
        return self.setup_time_s + self.solve_time_s


def pcg(A, b, M=None, *, rtol=1e-8, maxiter=2000, x0=None, overwrite_b=False):
    """Preconditioned conjugate gradients, for one right-hand side or k at once.

    A, M : objects with ``@`` (matrices or LinearOperators); M approximates A^-1.
    b : (n,) or (n, k).  With k columns, k independent CG iterations run in
    lockstep (each its own step lengths) so that A and M are applied to blocks;
    a column stops changing once it has converged.
    overwrite_b : b (float64) may hold the residual (one full vector less).
    Returns (x, residuals) with residuals[i] = max over columns of ||r_i|| / ||b||.
    """
    single = np.ndim(b) == 1
    B = np.asarray(b, dtype=float).reshape(b.shape[0], -1)
    bnorm = np.linalg.norm(B, axis=0)
    scale = np.where(bnorm > 0, bnorm, 1.0)
    X = np.zeros_like(B) if x0 is None else np.array(x0, dtype=float).reshape(B.shape)
    if x0 is not None:
        R = B - _apply(A, X)
    else:
        R = B if overwrite_b else B.copy()     # B is b itself or already a copy of it
    rel = np.linalg.norm(R, axis=0) / scale
    res = [float(rel.max(initial=0.0))]
    active = rel > rtol
    if active.any():
        Z = _apply(M, R) if M is not None else R
        # a copy: M may hand back its input or a buffer of its own; Z is then dropped,
        # so no extra vector is alive during the products
        P = Z.copy()
        rz = np.einsum("ij,ij->j", R, Z)
        del Z
        for _ in range(maxiter):
            AP = _apply(A, P)
            pAp = np.einsum("ij,ij->j", P, AP)
            # a column that has converged (or meets A along a non-positive
            # direction: singular or indefinite) takes no further step
            active &= pAp > 0
            if not active.any():
                break
            alpha = np.where(active, rz / np.where(active, pAp, 1.0), 0.0)
            X += alpha * P
            R -= alpha * AP
            del AP                 # freed before the next products: one vector less at peak
            rel = np.linalg.norm(R, axis=0) / scale
            res.append(float(rel.max()))
            active &= rel > rtol
            if not active.any():
                break
            Z = _apply(M, R) if M is not None else R
            rz_new = np.einsum("ij,ij->j", R, Z)
            beta = np.where(active, rz_new / np.where(rz != 0, rz, 1.0), 0.0)
            P *= beta
            P += Z
            del Z
            rz = rz_new
    return (X[:, 0] if single else X), res


def _apply(op, X):
    """op @ X for X (n, k); a single column goes in as a vector (a user's
    LinearOperator may define matvec only)."""
    if X.shape[1] == 1:
        return np.asarray(op @ X[:, 0]).reshape(X.shape)
    return np.asarray(op @ X).reshape(X.shape)


class SumOperator:
    """``A @ X = sum(part @ X)``: a base operator plus sparse additions (springs,
    contact), so the base keeps its fast kernel and the additions stay small."""

    def __init__(self, *parts):
        from .multigrid import SparseRowsOperator
        self.parts = [p for p in parts if p is not None]
        self.shape = self.parts[0].shape
        self.dtype = np.dtype(float)
        # sparse additions with few nonzero rows: products on those rows only (also read
        # by a deflated solve, which needs C W on those rows)
        self.sparse_rows = [SparseRowsOperator(p) if sp.issparse(p) else None
                            for p in self.parts]

    def diagonal(self) -> np.ndarray:
        return sum(np.asarray(p.diagonal()) for p in self.parts)

    def columns(self, cols, *, sparse: bool = False):
        """Columns ``cols`` of the sum (a matrix-free part provides its own): dense, or
        CSC with ``sparse=True``."""
        out = sum(p.columns(cols, sparse=True) if hasattr(p, "columns") else
                  sp.csc_matrix(sp.csr_matrix(p)[:, cols]) for p in self.parts)
        return sp.csc_matrix(out) if sparse else out.toarray()

    def __matmul__(self, x):
        out = None
        for p, rows in zip(self.parts, self.sparse_rows):
            if out is not None and rows is not None:
                rows.add_to(out, np.asarray(x).reshape(out.shape))
                continue
            y = np.asarray(p @ x) if rows is None else rows @ x
            out = y if out is None else out + y.reshape(out.shape)
        return out


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

    def set_operator(self, A_base, C):
        """Solve with ``A_base + C`` from now on (C sparse, same shape), keeping the
        expensive set-up (preconditioner, hierarchy) made for the set-up matrix."""
        raise NotImplementedError(f"{self.method}: no operator update")

    def _iterative(self, A, M, b, maxiter_default, x0=None, overwrite_b=False):
        t0 = time.perf_counter()
        maxiter = self.maxiter or maxiter_default
        x, res = pcg(A, b, M, rtol=self.rtol, maxiter=maxiter, x0=x0, overwrite_b=overwrite_b)
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
    """CG preconditioned by smoothed-aggregation AMG with the rigid-body modes as
    near-nullspace (Vanek, Mandel & Brezina 1996).

    pyamg builds the hierarchy; the V-cycle runs on biomech's parallel block
    kernels (:class:`biomech.fem.multigrid.MultigridCycle`: symmetric Gauss-Seidel,
    parallel over row chunks), so ``solve`` takes one right-hand side (n,) or k at
    once (n, k) and reads each matrix once per iteration for all of them.

    reuse_hierarchy : keep the prolongators in :data:`biomech.fem.multigrid.HIERARCHY_CACHE`
        and, for a later matrix on the same unknowns (same mesh and constraints,
        other materials), rebuild only the coarse matrices (see HierarchyCache).
    """

    method = "amg-cg"

    def __init__(self, *, rtol: float = 1e-8, maxiter: int | None = None,
                 reuse_hierarchy: bool = False):
        super().__init__(rtol=rtol, maxiter=maxiter)
        self.reuse_hierarchy = bool(reuse_hierarchy)
        self.reused = False
        self._key = None
        self._observed = False

    def _setup(self, A, near_nullspace, diagonal):
        from .multigrid import HIERARCHY_CACHE, CSROperator, MultigridCycle
        A = sp.csr_matrix(A)
        self.A = CSROperator(A)
        B = near_nullspace if near_nullspace is not None else np.ones((A.shape[0], 1))
        d = A.diagonal()
        d = d[d > 0]
        self.contrast = float(d.max() / d.min()) if d.size else 1.0
        prolongators = None
        if self.reuse_hierarchy:
            self._key = HIERARCHY_CACHE.key(A, B)
            prolongators = HIERARCHY_CACHE.get(self._key)
        self.reused = prolongators is not None
        if self.reused:
            self.M = MultigridCycle.galerkin(A, prolongators)
        else:
            self.M = MultigridCycle.from_pyamg(self._pyamg_hierarchy(A, B))
            if self.reuse_hierarchy:
                HIERARCHY_CACHE.put(self._key, self.M.prolongators)
        self.level_sizes = self.M.level_sizes

    def _pyamg_hierarchy(self, A, B):
        import pyamg
        if self.contrast > HIGH_CONTRAST:
            # energy-minimising prolongation: robust to the bone/disc modulus contrast
            # (L1-L3 segment at 2 mm: 54 iterations against 77 with Jacobi smoothing)
            smooth = ("energy", {"krylov": "cg", "maxiter": 2, "degree": 1, "weighting": "local"})
        else:
            # near-homogeneous material: Jacobi prolongation smoothing, cheaper to set up
            smooth = ("jacobi", {"omega": 4.0 / 3.0})
        # pyamg counts max_coarse in blocks of the near-nullspace size (6 unknowns per
        # aggregate for elasticity): without the division a 3 mm segment stopped at a
        # 2310-unknown coarsest level whose LU solve took most of each cycle
        blocks = B.shape[1] if B.ndim == 2 else 1
        return pyamg.smoothed_aggregation_solver(
            A, B=B, symmetry="hermitian", strength=("symmetric", {"theta": 0.0}),
            smooth=smooth, improve_candidates=None,
            max_coarse=max(COARSE_MAX_UNKNOWNS // blocks, 1), coarse_solver="splu")

    def set_operator(self, A_base, C):
        from .multigrid import CSROperator
        if getattr(self, "_base", (None,))[0] is not A_base:
            self._base = (A_base, CSROperator(A_base))
        self.A = SumOperator(self._base[1], C)

    def solve(self, b, x0=None):
        """b (n,) or (n, k) -> (z of the same shape, SolveInfo); x0: a first guess."""
        x, info = self._iterative(self.A, self.M, b, 500, x0=x0)
        if self.reuse_hierarchy and not self._observed:
            from .multigrid import HIERARCHY_CACHE
            HIERARCHY_CACHE.observe(self._key, info.iterations, reused=self.reused)
            self._observed = True
        return x, info


def split_coupled(A: sp.csr_matrix, columns):
    """(A_ii, A_ip, is_p) for the coupled unknowns ``columns`` (plate DOFs) of a CSR A:
    A_ii = A with those rows and columns decoupled (diagonal kept, same pattern),
    A_ip (n, p) CSC = A[:, columns] with the coupled rows zeroed, is_p (n,) bool."""
    from biomech import kernels as K
    is_p = np.zeros(A.shape[0], dtype=bool)
    is_p[columns] = True
    A_ii = A.copy()
    K.decouple_rows_and_columns(A_ii.indptr, A_ii.indices, A_ii.data, is_p)
    return A_ii, _without_rows(A[:, columns], is_p), is_p


def _without_rows(M, rows_mask) -> sp.csc_matrix:
    """Sparse M (n, k) with the rows ``rows_mask`` zeroed, as CSC (the plate columns
    A_ip: nonzero next to the plate only, so held sparse)."""
    return (sp.diags((~rows_mask).astype(float)) @ sp.csr_matrix(M)).tocsc()


class CondensedSolver(_Solver):
    """Static condensation of a few coupled unknowns (rigid-plate DOFs).

    A plate DOF couples to every tied node: a dense row and column that spoil
    AMG aggregation.  With the plate unknowns p and the rest i:
    ``X = A_ii^-1 A_ip`` (all plate columns in one block solve, at set-up) and the
    plate's condensed stiffness in the energy form
    ``S = [-X; I]^T A [-X; I] = A_pp - A_pi X - X^T (A_ip - A_ii X)``, whose error
    is quadratic in the error of X (the plain ``A_pp - A_pi X`` subtracts two
    nearly equal numbers and needed X 1000x tighter).  Then each right-hand side
    costs one inner solve, or none when it loads only the plates (b_i = 0), and
    ``z_p = S^-1 (b_p - A_pi y)``, ``z_i = y - X z_p`` with ``y = A_ii^-1 b_i``.

    The reported residual is that of the inner rows, ``||(b - A z)_i||``, relative
    to the larger of ``||b||`` and ``sum_k |z_p,k| ||A_ip[:, k]||``, the scale of
    the inner problems solved (each column of X to rtol).  The plate rows hold in
    the Galerkin sense of S.  Measured on the L1-L3 segment at 2 mm against X
    solved to 1e-11: at rtol 1e-6 the plate displacement is within 1e-8 and the
    displacement field within 4e-5 (the plain form of S: 3e-5 and 6e-4).
    """

    def __init__(self, inner: _Solver, plate_columns, *, rtol=1e-8, maxiter=None,
                 columns_rtol=None, preconditioner_only: bool = False):
        super().__init__(rtol=rtol, maxiter=maxiter)
        self.inner = inner
        self.method = f"condensed-{inner.method}"
        self.p = np.asarray(plate_columns, dtype=np.int64)
        #: tolerance of the plate columns X (default rtol).  Where every solve goes
        #: through :meth:`set_operator` (springs that switch), X and S only precondition
        #: and a loose X serves as well as a tight one.
        self.columns_rtol = rtol if columns_rtol is None else float(columns_rtol)
        #: every solve will go through :meth:`set_operator` (springs that switch): X only
        #: preconditions, and is kept in float32 (4 instead of 8 bytes per DOF and plate
        #: unknown; its products in _precondition half as long)
        self.preconditioner_only = bool(preconditioner_only)

    def _setup(self, A, near_nullspace, diagonal):
        from .multigrid import CSROperator
        n = A.shape[0]
        self._columnwise = not sp.issparse(A)
        if sp.issparse(A):
            A = sp.csr_matrix(A)
            self.A = CSROperator(A)
            A_ii, A_ip, is_p = split_coupled(A, self.p)
            A_pp = A[self.p][:, self.p].toarray()
        else:
            # matrix-free (solver 'gmg'): A offers columns() for the plate unknowns
            from .gmg_operator import DecoupledOperator
            self.A = A
            cols = A.columns(self.p, sparse=True)
            is_p = np.zeros(n, dtype=bool)
            is_p[self.p] = True
            A_pp = cols[self.p].toarray()
            A_ip = _without_rows(cols, is_p)
            A_ii = DecoupledOperator(A, is_p)
        B = None
        if near_nullspace is not None:
            B = near_nullspace.copy()
            B[is_p] = 0.0
        self.inner.setup(A_ii, B)
        self.X = np.zeros((n, self.p.size))
        loaded = np.flatnonzero(np.diff(A_ip.indptr) > 0)
        self.setup_iterations = 0
        if loaded.size:
            inner_rtol, self.inner.rtol = self.inner.rtol, self.columns_rtol
            try:
                if self._columnwise:
                    # matrix-free products go column by column anyway: one column's CG
                    # at a time holds 1/k of a block's work vectors (~40 instead of ~240
                    # bytes per DOF for six columns); iterations: the slowest column's
                    infos = []
                    for j in loaded:
                        self.X[:, j], info_j = self.inner.solve(A_ip[:, [j]].toarray().ravel())
                        infos.append(info_j)
                    info = max(infos, key=lambda i: i.iterations)
                else:
                    self.X[:, loaded], info = self.inner.solve(A_ip[:, loaded].toarray())
            finally:
                self.inner.rtol = inner_rtol
            self.setup_iterations = info.iterations
            self.setup_info = info
        self.X[is_p] = 0.0
        # S = A_pp - A_pi X - X^T (A_ip - A_ii X), expanded (X is 0 on the plate rows);
        # X^T A_ii X column by column (no n x k temporaries)
        XtAX = np.column_stack([self.X.T @ (A_ii @ self.X[:, j]) for j in range(self.p.size)])
        ApX = np.asarray(A_ip.T @ self.X)
        S = A_pp - ApX - ApX.T + XtAX
        self.S_inv = np.linalg.inv(0.5 * (S + S.T))
        if self.preconditioner_only:
            self.X = self.X.astype(np.float32)
            # every solve goes through set_operator's operator: the set-up's (all springs
            # active) is not kept here nor as the inner solver's operator (a GMG inner
            # solver then holds no copy of those springs; an AMG one keeps its levels)
            self.A = self.inner.A = None
        self.A_ip = A_ip
        self.column_norms = np.sqrt(np.asarray(A_ip.multiply(A_ip).sum(axis=0)).ravel())
        self.is_p = is_p
        self._base = None
        self.op = None
        self.deflation = None

    def set_operator(self, A_base, C):
        """Solve with ``A_base + C`` from now on (springs that switched on or off): one
        CG on the whole system per right-hand side, preconditioned by the condensation
        of the set-up matrix with one V-cycle for the inner block,
        ``M^-1 = [I -X; 0 I] diag(V, S^-1) [I 0; -X^T I]`` (symmetric positive definite;
        X and S are not solved again, so a changed operator costs no extra set-up; a
        GMG inner solver takes the new springs into its V-cycle, see
        :meth:`GMGCGSolver.follow_coupling`)."""
        from .multigrid import CSROperator
        if self._base is None or self._base[0] is not A_base:
            self._base = (A_base, CSROperator(A_base) if sp.issparse(A_base) else A_base)
        self.op = SumOperator(self._base[1], sp.csr_matrix(C))
        if hasattr(self.inner, "follow_coupling"):
            self.inner.follow_coupling(C)

    def _precondition(self, R):
        """Apply M^-1 (see :meth:`set_operator`) to R (n,) or (n, k)."""
        R2 = R.reshape(R.shape[0], -1)
        X = self.X
        r_p = R2[self.p] - X.T @ R2.astype(X.dtype, copy=False)      # X is 0 on the plates
        Ri = R2.copy()
        Ri[self.p] = 0.0
        y = np.asarray(self.inner.M @ Ri).reshape(R2.shape)
        del Ri
        z_p = self.S_inv @ r_p
        y -= X @ z_p.astype(X.dtype)
        y[self.p] = z_p
        return y.reshape(R.shape)

    def _solve_changed(self, b, x0):
        t0 = time.perf_counter()
        M = spla.LinearOperator(self.op.shape, matvec=self._precondition,
                                matmat=self._precondition, dtype=float)
        maxiter = self.maxiter or 1000
        if D.DEFLATION_VECTORS > 0:
            # the same body with other springs, solve after solve: recycle Ritz vectors
            if self.deflation is None or self.deflation.base is not self._base[1]:
                self.deflation = D.RecycledDeflation(self._base[1])
            z, res = self.deflation.solve(self.op, self.op.sparse_rows[-1], b, M,
                                          rtol=self.rtol, maxiter=maxiter, x0=x0)
        else:
            z, res = pcg(self.op, b, M, rtol=self.rtol, maxiter=maxiter, x0=x0)
        info = SolveInfo(self.method, self.n, len(res) - 1, res, self.setup_time_s,
                         time.perf_counter() - t0, res[-1] <= self.rtol, self.rtol)
        if not info.converged:
            raise ConvergenceError(f"{self.method}: relative residual {res[-1]:.3g} after "
                                   f"{info.iterations} iterations with changed springs "
                                   f"(asked for {self.rtol:g})", info=info)
        return z, info

    def solve(self, b, x0=None):
        """x0: a guess of z (its inner part warm-starts the inner solve)."""
        if getattr(self, "op", None) is not None:
            return self._solve_changed(b, x0)
        if self.preconditioner_only:
            raise InputError("this condensation's X only preconditions (float32): solve "
                             "through set_operator()")
        t0 = time.perf_counter()
        b_i = np.where(self.is_p, 0.0, b)
        # a load on the plate alone costs no CG here: report the set-up's plate-column CG
        iterations, residuals = self.setup_iterations, []
        if np.any(b_i):
            y0 = None
            if x0 is not None:                 # y = z_i + X z_p
                y0 = np.where(self.is_p, 0.0, x0 + self.X @ x0[self.p])
            y, info = self.inner.solve(b_i, x0=y0)
            iterations, residuals = info.iterations, info.residuals
        else:
            y = np.zeros_like(b)
        z_p = self.S_inv @ (b[self.p] - self.A_ip.T @ y)
        z = y - self.X @ z_p
        z[self.p] = z_p
        scale = max(float(np.linalg.norm(b)), float(self.column_norms @ np.abs(z_p)), 1e-300)
        res = float(np.linalg.norm((b - self.A @ z)[~self.is_p])) / scale
        info = SolveInfo(self.method, self.n, iterations, residuals + [res], self.setup_time_s,
                         time.perf_counter() - t0, res <= max(10 * self.rtol, 1e-10), self.rtol)
        if not info.converged:
            raise ConvergenceError(f"{self.method}: relative residual {res:.3g} after condensation "
                                   f"(asked for {self.rtol:g})", info=info)
        return z, info


class DirectSolver(_Solver):
    """Sparse LU (SuperLU through SciPy); for small systems."""

    method = "direct"

    def set_operator(self, A_base, C):
        self._setup(sp.csr_matrix(A_base) + sp.csr_matrix(C), None, None)

    def _setup(self, A, near_nullspace, diagonal):
        try:
            self.lu = spla.splu(sp.csc_matrix(A), permc_spec="MMD_AT_PLUS_A")
        except RuntimeError as exc:  # "Factor is exactly singular"
            raise ConvergenceError(f"direct factorisation failed: {exc}; the model is "
                                   "singular (unconstrained or disconnected parts)") from exc

    def solve(self, b, x0=None):
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

    def set_operator(self, A_base, C):
        self.A = SumOperator(A_base, C)

    def solve(self, b, x0=None):
        return self._iterative(self.A, self.M, b, 20_000, x0=x0)


class GMGCGSolver(_Solver):
    """CG preconditioned by the geometric multigrid V-cycle of a voxel model
    (:class:`biomech.fem.gmg.VoxelHierarchy`: matrix-free fine level, Galerkin coarse
    levels built element by element, Chebyshev smoothing).

    voxel : the model's :class:`~biomech.fem.problem.VoxelOperator` (mesh, lam, mu [MPa]);
    T : reduction u = T z (n_dofs, n_free); decoupled (n_free,) bool: prescribed unknowns;
    coupling : sparse (n_free, n_free) springs / contact in the set-up operator, or None;
    own : the (DOF rows, unknown columns) of T's identity part, if the caller has them;
    many_solves : a sequence of solves follows (an active set): the hierarchy keeps its
    small parallel levels unpacked (faster, ~1.1 kB more per coarse element).
    The V-cycle acts on the unknowns that are a node's own DOF (identity columns of T);
    the others (plate unknowns, prescribed ones) get Jacobi (they are decoupled in a
    :class:`CondensedSolver`'s inner block).  ``solve`` takes b (n,) or (n, k).
    """

    method = "gmg-cg"

    def __init__(self, *, voxel=None, T=None, decoupled=None, coupling=None, rtol: float = 1e-8,
                 maxiter: int | None = None, degree: int | None = None, own=None,
                 many_solves: bool = False):
        super().__init__(rtol=rtol, maxiter=maxiter)
        if voxel is None or T is None:
            raise InputError("the gmg solver needs the voxel operator and the reduction T "
                             "(StaticProblem passes them; use solver='gmg' there)")
        self.voxel = voxel
        self.T = sp.csr_matrix(T)
        self.decoupled = (np.zeros(self.T.shape[1], bool) if decoupled is None
                          else np.asarray(decoupled, bool))
        self.coupling = coupling
        self.degree = degree
        self.own = own
        self.many_solves = bool(many_solves)     # faster coarse levels for more memory

    def _full(self, C):
        """C (n_free, n_free) on the own DOFs, as (n_dofs, n_dofs); entries of other
        unknowns (plates) dropped.  The map of a pattern is kept: a C on the same
        pattern (a changed active set) costs one gather."""
        from .couplings import pattern_of, same_pattern
        C = sp.csr_matrix(C)
        cache = getattr(self, "_full_cache", None)
        if cache is None or not same_pattern(cache["pattern"], C):
            dof_of = np.full(self.T.shape[1], -1, dtype=np.int64)
            dof_of[self.cols] = self.rows
            c = C.tocoo()
            i, j = dof_of[c.row], dof_of[c.col]
            keep = np.flatnonzero((i >= 0) & (j >= 0))
            n = self.T.shape[0]
            # the entries' positions ride along as values: where each lands in the CSR
            where = sp.csr_matrix((keep.astype(float) + 1.0, (i[keep], j[keep])), shape=(n, n))
            where.sort_indices()
            cache = self._full_cache = {"pattern": pattern_of(C), "take": where.data.astype(
                np.int64) - 1, "indices": where.indices, "indptr": where.indptr, "n": n}
        n = cache["n"]
        out = sp.csr_matrix((C.data[cache["take"]], cache["indices"], cache["indptr"]),
                            shape=(n, n))
        out.has_sorted_indices = True
        return out

    def _setup(self, A, near_nullspace, diagonal):
        from .gmg import Grid, VoxelHierarchy
        from .multigrid import CSROperator
        from .problem import _identity_part
        self.A = CSROperator(A) if sp.issparse(A) else A
        d = np.asarray(A.diagonal() if diagonal is None else diagonal, dtype=float)
        # the (DOF, unknown) pairs of own unknowns: shared with the operator where it has them
        self.rows, self.cols = (self.own if self.own is not None else _identity_part(self.T))
        mask = np.zeros(self.T.shape[0], dtype=bool)
        mask[self.rows] = ~self.decoupled[self.cols]
        v = self.voxel
        m = v.mesh
        self.hierarchy = VoxelHierarchy(
            Grid(m.voxel_ijk, m.cells, m.node_ijk), v.lam, v.mu, v.K_lambda, v.K_mu, mask,
            None if self.coupling is None else self._full(self.coupling),
            degree=self.degree, unpacked=self.many_solves)
        self.level_sizes = self.hierarchy.level_sizes
        self.coupling_updates = 0
        # Jacobi on the unknowns outside the V-cycle: plate unknowns and prescribed ones
        outside = np.ones(self.n, dtype=bool)
        outside[self.cols] = self.decoupled[self.cols]
        self.outside = np.flatnonzero(outside)
        d = d[self.outside]
        self.jacobi = np.where(d > 0, 1.0 / np.where(d > 0, d, 1.0), 0.0)
        self.M = _GMGPreconditioner(self)

    def set_operator(self, A_base, C):
        from .multigrid import CSROperator
        if getattr(self, "_base", (None,))[0] is not A_base:
            self._base = (A_base, CSROperator(A_base) if sp.issparse(A_base) else A_base)
        self.A = SumOperator(self._base[1], C)
        self.follow_coupling(C)

    def follow_coupling(self, C):
        """Give the V-cycle the springs C (n_free, n_free) of the active set when they
        differ from its own by more than COUPLING_UPDATE_FRACTION (of the summed
        |entries|): a V-cycle built with every tension-only fibre active is too stiff
        where half of them went slack (the slowest modes of the L1-L3 segment after the
        nucleus's).  The Chebyshev bounds are kept (gmg.COUPLING_LMAX_SAFETY)."""
        from .couplings import same_pattern
        C = sp.csr_matrix(C)
        last = self.coupling
        size = max(abs(C.data).sum(), 0.0 if last is None else abs(last.data).sum())
        if last is None:
            change = abs(C.data).sum()
        elif same_pattern(C, last):
            change = abs(C.data - last.data).sum()
        else:
            change = abs(C - last).sum()
        if size == 0 or change <= COUPLING_UPDATE_FRACTION * size:
            return
        self.hierarchy.set_coupling(self._full(C), reestimate=False)
        self.coupling = C
        self.coupling_updates += 1

    def solve(self, b, x0=None, *, overwrite_b=False):
        """b (n,) or (n, k) -> (z of the same shape, SolveInfo); x0: a first guess;
        overwrite_b: b may be used as workspace (its contents are lost)."""
        return self._iterative(self.A, self.M, b, 500, x0=x0, overwrite_b=overwrite_b)


class _GMGPreconditioner:
    """M @ r for a :class:`GMGCGSolver`: the V-cycle on the own DOFs, Jacobi elsewhere."""

    def __init__(self, solver):
        self.s = solver
        self.shape = (solver.n, solver.n)
        self.dtype = np.dtype(float)

    def __matmul__(self, R):
        from .. import kernels as K
        from ..threads import rebalance
        rebalance()                # a batch worker may take cores others freed (a read)
        s = self.s
        R = np.asarray(R, dtype=float)
        R2 = R.reshape(R.shape[0], -1)
        full = np.zeros((s.T.shape[0], R2.shape[1]), dtype=s.hierarchy.dtype)
        K.gather_own(R2, s.rows, s.cols, s.decoupled, full)
        Y = s.hierarchy.vcycle(full if full.shape[1] > 1 else full[:, 0],
                               overwrite=True).reshape(full.shape)
        del full
        Z = np.empty_like(R2)
        K.scatter_own(Y, s.rows, s.cols, Z)
        Z[s.outside] = s.jacobi[:, None] * R2[s.outside]
        return Z.reshape(R.shape)


SOLVERS = {"amg": AMGCGSolver, "gmg": GMGCGSolver, "direct": DirectSolver, "jacobi": JacobiCGSolver}


def make_solver(name: str, **options) -> _Solver:
    """A solver by name: 'gmg' (voxel models; needs voxel= and T=), 'amg', 'direct',
    'jacobi'."""
    if name not in SOLVERS:
        raise InputError(f"unknown solver {name!r}; choose one of {sorted(SOLVERS)}")
    return SOLVERS[name](**options)
