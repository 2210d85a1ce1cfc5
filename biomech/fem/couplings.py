"""Two-node axial springs between mesh nodes: what a voxel grid cannot carry.

Ligaments and annulus fibres (tension only), facet contact (compression only, across an
initial gap) and plain linear springs all enter the FE problem the same way: a spring s
joins node a to node b along the unit direction d_s with stiffness k_s [N/mm]; its
elongation is ``delta_s = d_s . (u_b - u_a)`` [mm] and, when active, it adds
``k_s B_s^T B_s`` to the stiffness (B_s = [-d_s^T, d_s^T] on the six DOFs of a and b),
a sparse addition to the voxel operator.

* ``kind="linear"``: always active, force ``k delta``.
* ``kind="tension"``: active while ``delta > 0`` (ligaments, collagen fibres buckle).
* ``kind="compression"``: active while ``delta + gap < 0`` (frictionless contact across an
  initial clearance ``gap`` [mm] measured along d, d pointing from a to b); force
  ``k (delta + gap)``, negative in compression.  The gap enters the right-hand side:
  ``K u = f - sum_active k gap B^T``.

Which springs are active is found by an active-set iteration (:func:`active_set`), each
step one linear solve that reuses the solver set-up.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import scipy.sparse as sp

from ..errors import InputError

SPRING_KINDS = ("linear", "tension", "compression")


@dataclass(frozen=True)
class SpringSet:
    """Springs of one kind: node_a, node_b (n,) int mesh nodes; direction (n, 3) unit
    vectors from a to b; stiffness_N_per_mm (n,); gap_mm (n,) initial clearance of a
    compression (contact) spring [mm]; group (n,) int labels for reporting (e.g. the
    side or the ligament) with ``group_names`` naming them."""

    name: str
    kind: str
    node_a: np.ndarray
    node_b: np.ndarray
    direction: np.ndarray
    stiffness_N_per_mm: np.ndarray
    gap_mm: np.ndarray
    group: np.ndarray
    group_names: tuple = field(default=("all",))

    def __post_init__(self):
        if self.kind not in SPRING_KINDS:
            raise InputError(f"spring set {self.name!r}: kind must be one of {SPRING_KINDS}, "
                             f"got {self.kind!r}")
        n = self.node_a.size
        if not (self.node_b.size == n and self.direction.shape == (n, 3)
                and self.stiffness_N_per_mm.shape == (n,) and self.gap_mm.shape == (n,)
                and self.group.shape == (n,)):
            raise InputError(f"spring set {self.name!r}: node_a, node_b (n,), direction (n, 3), "
                             f"stiffness (n,), gap (n,) and group (n,) must agree, n = {n}")
        if n and not (np.all(np.isfinite(self.stiffness_N_per_mm))
                      and np.all(self.stiffness_N_per_mm >= 0)):
            raise InputError(f"spring set {self.name!r}: stiffness must be finite and >= 0 N/mm")
        if n and not np.allclose(np.linalg.norm(self.direction, axis=1), 1.0, atol=1e-9):
            raise InputError(f"spring set {self.name!r}: directions must be unit vectors")

    @property
    def n(self) -> int:
        return int(self.node_a.size)

    @property
    def nonlinear(self) -> bool:
        return self.kind != "linear"


def make_spring_set(name, points, node_a, node_b, stiffness_N_per_mm, *, kind="tension",
                    direction=None, gap_mm=0.0, group=None, group_names=("all",)) -> SpringSet:
    """A :class:`SpringSet` on mesh nodes; ``direction`` defaults to the unit vector from
    a to b (nodes must then be distinct points); scalars broadcast."""
    a = np.asarray(node_a, dtype=np.int64).ravel()
    b = np.asarray(node_b, dtype=np.int64).ravel()
    if a.size != b.size:
        raise InputError(f"spring set {name!r}: {a.size} a-nodes but {b.size} b-nodes")
    n_nodes = points.shape[0]
    if a.size and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= n_nodes):
        raise InputError(f"spring set {name!r}: node numbers must lie in [0, {n_nodes})")
    if direction is None:
        d = points[b] - points[a]
        length = np.linalg.norm(d, axis=1)
        if np.any(length <= 0):
            raise InputError(f"spring set {name!r}: a spring joins a node to itself; give its "
                             "direction")
        d = d / length[:, None]
    else:
        d = np.broadcast_to(np.asarray(direction, float), (a.size, 3)).copy()
        d /= np.linalg.norm(d, axis=1)[:, None]
    k = np.broadcast_to(np.asarray(stiffness_N_per_mm, float), (a.size,)).copy()
    g = np.broadcast_to(np.asarray(gap_mm, float), (a.size,)).copy()
    grp = np.zeros(a.size, np.int64) if group is None else np.asarray(group, np.int64).ravel()
    return SpringSet(name, kind, a, b, d, k, g, grp, tuple(group_names))


def spring_matrix(springs: list, n_dofs: int, active: list | None = None) -> sp.csr_matrix:
    """Sum of k B^T B over the (active) springs: (n_dofs, n_dofs) CSR [N/mm]."""
    rows, cols, vals = [], [], []
    for i, s in enumerate(springs):
        if not s.n:
            continue
        k = s.stiffness_N_per_mm if active is None else s.stiffness_N_per_mm * active[i]
        r, c, unit = _spring_entries(s)
        rows.append(r)
        cols.append(c)
        vals.append((k[:, None] * unit.reshape(s.n, 36)).ravel())
    if not rows:
        return sp.csr_matrix((n_dofs, n_dofs))
    C = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(n_dofs, n_dofs))
    C.sum_duplicates()
    return C


def _spring_entries(s: SpringSet):
    """(rows, cols, values) (36 n,) of B_s^T B_s of each spring of s for unit stiffness,
    spring by spring (6 x 6 on the DOFs of a and b, row-major)."""
    dofs = np.concatenate([3 * s.node_a[:, None] + np.arange(3),
                           3 * s.node_b[:, None] + np.arange(3)], axis=1)   # (n, 6)
    Bd = np.concatenate([-s.direction, s.direction], axis=1)                 # (n, 6)
    return (np.repeat(dofs, 6, axis=1).ravel(), np.tile(dofs, (1, 6)).ravel(),
            (Bd[:, :, None] * Bd[:, None, :]).ravel())


def gap_forces(springs: list, n_dofs: int, active: list) -> np.ndarray:
    """(n_dofs,) right-hand side of the active contact gaps: -sum k gap B^T [N]."""
    f = np.zeros(n_dofs)
    for s, act in zip(springs, active):
        if s.kind != "compression" or not s.n:
            continue
        w = s.stiffness_N_per_mm * s.gap_mm * act
        np.add.at(f, 3 * s.node_a[:, None] + np.arange(3), w[:, None] * s.direction)
        np.add.at(f, 3 * s.node_b[:, None] + np.arange(3), -w[:, None] * s.direction)
    return f


def elongation(s: SpringSet, u: np.ndarray) -> np.ndarray:
    """(n,) elongation d . (u_b - u_a) [mm] of each spring; u (n_nodes, 3) [mm]."""
    return np.einsum("ij,ij->i", s.direction, u[s.node_b] - u[s.node_a])


def spring_force(s: SpringSet, u: np.ndarray, active: np.ndarray) -> np.ndarray:
    """(n,) axial force [N], positive in tension, of each spring in state ``active``."""
    delta = elongation(s, u)
    if s.kind == "compression":
        delta = delta + s.gap_mm
    return s.stiffness_N_per_mm * delta * active


def initial_active(s: SpringSet) -> np.ndarray:
    """Start of the active-set iteration: tension springs and linear springs on, contact
    springs on where the gap is closed already."""
    if s.kind == "compression":
        return (s.gap_mm <= 0).astype(float)
    return np.ones(s.n)


def update_active(s: SpringSet, u: np.ndarray, tol_mm: float) -> np.ndarray:
    """Which springs are active for displacement u; ``tol_mm`` is a dead band against
    chattering between states of springs that carry (almost) nothing."""
    if s.kind == "linear":
        return np.ones(s.n)
    delta = elongation(s, u)
    if s.kind == "tension":
        return (delta > tol_mm).astype(float)
    return (delta + s.gap_mm < -tol_mm).astype(float)


def active_set(solve_linear, springs: list, *, max_iterations: int = 30, tol_mm: float = 1e-7,
               start: list | None = None, inexact: bool = False):
    """Active-set iteration for tension-only and contact springs.

    solve_linear(active[, final]) -> u (n_nodes, 3) [mm] solves with the given active
    masks.  Returns (u, active, iterations, converged).  Converged when no spring changes
    state; each step is one linear solve (the caller keeps the solver set-up).  With
    ``inexact`` the steps solve loosely (``final=False``) until the set stops changing,
    then once more accurately (``final=True``), and that solve's set is checked again."""
    active = [initial_active(s) for s in springs] if start is None else [a.copy() for a in start]
    u = None
    final = not inexact
    for it in range(1, max_iterations + 1):
        u = solve_linear(active, final) if inexact else solve_linear(active)
        new = [update_active(s, u, tol_mm) for s in springs]
        if all(np.array_equal(a, b) for a, b in zip(active, new)):
            if final:
                return u, active, it, True
            final = True                   # settled on loose solves: confirm accurately
            continue
        active = new
    return u, active, max_iterations, False


class ReducedSprings:
    """The springs' stiffness ``T^T C(active) T`` on the unknowns z (u = T z), with the
    rows and columns of prescribed unknowns dropped, on one sparsity pattern for every
    active set: its values are a fixed linear map of the springs' weights ``k_s a_s``.
    A changed active set then costs one sparse product (the 1 mm L1-L3 segment: ~5 ms
    against ~80 ms for :func:`spring_matrix` and the two sparse products of the
    reduction), and a solver can tell a changed set from a changed pattern by the
    index arrays, which every :meth:`matrix` shares.

    springs : list of :class:`SpringSet`; T : (n_dofs, n_free) sparse reduction;
    decoupled : (n_free,) bool, unknowns whose rows and columns are left out."""

    def __init__(self, springs: list, T, decoupled=None):
        T = sp.csr_matrix(T)
        n_free = T.shape[1]
        self.springs = list(springs)
        self.offsets = np.cumsum([0] + [s.n for s in self.springs])
        n_springs = int(self.offsets[-1])
        drop = (np.zeros(n_free, bool) if decoupled is None
                else np.asarray(decoupled, bool))
        rows, cols, vals, sid = [], [], [], []
        for s, lo in zip(self.springs, self.offsets):
            if not s.n:
                continue
            r, c, unit = _spring_entries(s)
            rows.append(r)
            cols.append(c)
            vals.append(unit)
            sid.append(np.repeat(np.arange(lo, lo + s.n), 36))
        if rows:
            r, c, v, s_ = (np.concatenate(a) for a in (rows, cols, vals, sid))
            # through T: every (DOF i, DOF j) entry goes to (I, J) for T_iI, T_jJ != 0
            r, v, s_, c = _through_rows(T, r, v, s_, c)
            c, v, s_, r = _through_rows(T, c, v, s_, r)
            keep = ~(drop[r] | drop[c]) & (v != 0)
            r, c, v, s_ = r[keep], c[keep], v[keep], s_[keep]
        else:
            r = c = s_ = np.zeros(0, np.int64)
            v = np.zeros(0)
        keys, entry = np.unique(r * np.int64(n_free) + c, return_inverse=True)
        self.indptr = np.concatenate(
            [[0], np.cumsum(np.bincount(keys // n_free, minlength=n_free))]).astype(np.int32)
        self.indices = (keys % n_free).astype(np.int32)
        #: (n_entries, n_springs) CSR: the pattern's values for unit spring weights
        self.map = sp.csr_matrix((v, (entry.ravel(), s_)), shape=(keys.size, n_springs))
        self.shape = (n_free, n_free)
        self._made_with = (T, drop.copy())

    def reduces_like(self, T, decoupled) -> bool:
        """Whether reduction T (and the prescribed ``decoupled``) is the one this map was
        made with, entry for entry; if so the map holds on to this T from now on (the
        older one may be freed)."""
        T0, drop0 = self._made_with
        T = sp.csr_matrix(T)
        same = same_pattern(T, T0) and _same_values(T.data, T0.data) \
            and np.array_equal(np.asarray(decoupled, bool), drop0)
        if same:
            self._made_with = (T, drop0)
        return same

    def weights(self, active: list | None = None) -> np.ndarray:
        """(n_springs,) k_s a_s [N/mm] of every spring, set after set."""
        if not self.springs:
            return np.zeros(0)
        if active is None:
            active = [None] * len(self.springs)
        return np.concatenate([s.stiffness_N_per_mm * (1.0 if a is None else a)
                               for s, a in zip(self.springs, active)])

    def matrix(self, active: list | None = None) -> sp.csr_matrix:
        """(n_free, n_free) CSR [N/mm] of the (active) springs, on the fixed pattern
        (entries of inactive springs stored as zeros); every spring active when
        ``active`` is None."""
        C = sp.csr_matrix((self.map @ self.weights(active), self.indices, self.indptr),
                          shape=self.shape)
        C.has_sorted_indices = True
        return C


def same_pattern(A, B) -> bool:
    """Whether CSR matrices A and B store the same entries (values aside): shared index
    arrays (as every :meth:`ReducedSprings.matrix`) are recognised without reading them."""
    if A is None or B is None or A.shape != B.shape or A.nnz != B.nnz:
        return False
    return _same_values(A.indptr, B.indptr) and _same_values(A.indices, B.indices)


def _same_values(x, y) -> bool:
    """x and y hold the same values: the same memory (not read), or equal entries."""
    return (x.shape == y.shape and x.dtype == y.dtype and x.ctypes.data == y.ctypes.data
            and (x.strides == y.strides)) or np.array_equal(x, y)


def pattern_of(C):
    """C's index arrays (shared, not copied) and shape, without its values: what
    :func:`same_pattern` reads, for a cache that should not keep the values alive."""
    return SimpleNamespace(shape=C.shape, nnz=C.nnz, indptr=C.indptr, indices=C.indices)


def _through_rows(T, idx, v, s, other):
    """Each entry's index ``idx`` (a DOF) replaced by the columns of T's row idx, its
    value scaled by T's entries (the entry repeated once per nonzero)."""
    counts = np.diff(T.indptr)[idx]
    if np.all(counts == 1):
        pos = T.indptr[idx]
        return T.indices[pos].astype(np.int64), v * T.data[pos], s, other
    rep = np.repeat(np.arange(idx.size), counts)
    start = np.repeat(T.indptr[idx] - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    pos = start + np.arange(rep.size)
    return T.indices[pos].astype(np.int64), v[rep] * T.data[pos], s[rep], other[rep]
