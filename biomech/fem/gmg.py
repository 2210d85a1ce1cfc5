"""Geometric multigrid (GMG) on the voxel grid: a V-cycle preconditioner for CG.

* Levels: the voxel grid and its repeated 2x2x2 coarsenings (a coarse voxel exists
  where any of its 8 children does).  A coarse node is split into copies where the
  fine voxels around it are not connected (a gap: facet joints, neighbouring
  processes, pores), so that no coarse function spans both sides.  Prolongation P is
  trilinear on the coarse voxels, element-local, so the Galerkin coarse operator ``P^T K P`` is a sum of
  coarse element matrices ``sum_children P_q^T K_c P_q`` (:mod:`biomech.kernels.gmg`):
  each coarse level sees the material contrast of the fine one exactly (plain
  re-discretisation with averaged moduli fails at the bone/disc contrast).
* Fine level: matrix-free (``lam K_lambda + mu K_mu`` per voxel), masked: DOFs
  that are prescribed or tied to a rigid plate are left out (``M K M``, and P
  starts from the masked fine space, so coarse levels are ``(M P)^T K (M P)``).
* Sparse couplings C (springs, contact) are added on the fine level and as
  ``P^T C P`` on the coarse ones.
* Smoother: Chebyshev of degree ``degree`` on the Jacobi-scaled operator over
  [lmax / SMOOTHING_RANGE, lmax], lmax from a few Lanczos steps times 1.1
  (race-free: products and the diagonal only).  The same smoother before and after
  the coarse correction and an exact coarsest solve (SuperLU) make the V-cycle
  symmetric positive definite, so CG may use it.  Levels from
  :data:`COARSE_CYCLE_FROM` on (voxels of 4 mm and more on a 1 mm model, too coarse
  to bend thin bone right) correct twice per visit (a W-cycle) with more smoothing.

Shapes: level vectors are (3 n_nodes,) in node-major order (x, y, z of node 0 first),
of the V-cycle's precision (:data:`VCYCLE_DTYPE`, float32 by default: mixed precision,
CG and its residuals stay float64).  Stiffnesses in N/mm, moduli in MPa.
"""
from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .. import kernels as K
from . import deflation as _D
from ..errors import ConvergenceError, InputError
from ..kernels.gmg import PACKED

log = logging.getLogger(__name__)

#: Chebyshev smoothing interval [lmax / SMOOTHING_RANGE, lmax] of D^-1 A (the
#: lower end of the eigenvalues the smoother must damp; the rest is the coarse
#: grid's).  Chosen on the synthetic contrast tests (tests/test_gmg.py).
SMOOTHING_RANGE = 20.0
#: Safety factor on the Lanczos estimate of lmax (it approaches from below).
LMAX_SAFETY = 1.1
LANCZOS_STEPS = 12
#: Coarsest level size [unknowns]: factorised by SuperLU.
COARSE_MAX_UNKNOWNS = 4000
#: Chebyshev degree (Jacobi applications per smoothing step; one product fewer).  2
#: against 3: verse004 0.5 mm 5.6 against 6.8 s (11 iterations both), 1 mm 0.78 s both
#: (13 against 11 iterations); L1-L3 case at 1 mm 63 against 70 s (370 against 328
#: iterations: the nucleus's volumetric solves are paid per application); degree 4 cost
#: more on the 2 mm case.
DEGREE = 2
#: Levels from this index on (1/64 of the fine grid's nodes and fewer: 4 mm voxels and
#: coarser on a 1 mm model) are visited twice per cycle (a W-cycle below it) and
#: smoothed with Chebyshev degree :data:`COARSE_DEGREE`.  Why: a coarse voxel of 8 mm
#: spans the whole thickness of a lamina or pedicle wall (2-4 mm), so its trilinear
#: functions bend that bone far too stiffly (the locking of one element through a
#: plate's thickness), and the slow modes of the L1-L3 segment lay in the posterior
#: elements.  Solving the 4 mm level exactly instead of recursing to 8 mm cut the 1 mm
#: intact case from 272 to 199 iterations (a 130 MB factor); the W-cycle gets most of
#: that without memory: 1 mm case iterations / time, V-cycle against W-cycle:
#: vertebroplasty 266 / 46.9 s -> 213 / 39.4 s, intact 272 / 48.6 -> 219 / 43.1,
#: lytic metastasis 290 / 48.7 -> 204 / 40.1.  Those levels cost about 1/64 of the fine
#: one per visit.  From level 1 (degree 3) it cost more than it saved: 222 iterations,
#: 48 s (level 1 is 1/8 of the fine work).
COARSE_CYCLE_FROM = 2
#: Chebyshev degree on the levels from :data:`COARSE_CYCLE_FROM` on (6: 206 iterations and
#: 40.4 s on the 1 mm vertebroplasty case, against 213 and 39.4 s at 4).
COARSE_DEGREE = 4
#: Levels with fewer nodes run their products on one thread (the node-gather form, no
#: barrier): a parallel product's nine barriers cost more than a serial product of this
#: many nodes.  Larger levels use the coloured element form on all threads.
SERIAL_MAX_NODES = 2_000
#: Storage of the coarse element matrices, packed (their upper triangles: 300 of 576
#: entries): float32 with packing brings them from ~190 to ~50 bytes per fine DOF and
#: cuts the bandwidth of the coarse products; they are summed in float64 (kernels) and
#: only precondition CG, whose residuals use the exact fine operator in float64.
COARSE_DTYPE = np.float32
#: Precision of the V-cycle's vectors, smoothers and transfers (mixed precision: CG runs
#: in float64 with the exact fine operator; the V-cycle only preconditions).  float32
#: halves the V-cycle's memory traffic and work vectors; its fine product ran 1.6x
#: the float64 one (8.6 against 13.5 ms at 680k DOF).  Coarse element products sum in
#: float64 whatever the vectors' precision.
VCYCLE_DTYPE = np.float32
#: Chebyshev bounds after the hierarchy's springs change (an active set that moved):
#: the set-up's lmax times this instead of a new Lanczos estimate (12 products per
#: level, ~0.5 s at 1 mm).  Re-estimated on the 2 mm segment after each change: 21 of
#: 40 within 0.2 %, all within -4 / +12 %.
COUPLING_LMAX_SAFETY = 1.15
#: A changed set of springs goes down the levels as a difference (P^T dC P added to each
#: level's float32 couplings); after this many such updates the levels are made afresh
#: from C, so rounding does not pile up and the V-cycle depends on the springs' recent
#: history only.
COUPLING_RESYNC_UPDATES = 8
# Blocks of right-hand sides (a plate condensation) go column by column: a block form
# of the gather product (each element read once for all k columns) ran 1.5-2x slower
# than k single products, the products being bound by flops, not by memory.

_CORNER = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0],
                    [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]], dtype=np.int64)  # hex8 order


def child_weights() -> np.ndarray:
    """W (8, 8, 8): weight of coarse corner A at local node a of the child at
    position q = 4 ox + 2 oy + oz inside its parent (trilinear)."""
    W = np.zeros((8, 8, 8))
    for q in range(8):
        off = np.array([(q >> 2) & 1, (q >> 1) & 1, q & 1])
        for a in range(8):
            xi = (off + _CORNER[a]) / 2.0
            for A in range(8):
                W[q, a, A] = np.prod(np.where(_CORNER[A] == 1, xi, 1.0 - xi))
    return W


def _topology(ijk: np.ndarray):
    """conn (n_el, 8) and node_ijk (n_nodes, 3) of voxels at grid indices ijk,
    nodes numbered in C order of their grid index."""
    top = ijk.max(axis=0) + 2
    corners = ijk[:, None, :] + _CORNER[None]
    flat = np.ravel_multi_index(corners.reshape(-1, 3).T, top)
    used, conn = np.unique(flat, return_inverse=True)
    return conn.reshape(-1, 8).astype(np.int64), np.stack(np.unravel_index(used, top), 1), top


def parity_colours(ijk: np.ndarray):
    """(colour_ptr (9,), order (n_el,)): voxels grouped by the parity of their grid index
    (8 colours; voxels of one colour share no node), for the coloured product."""
    parity = (np.asarray(ijk) % 2) @ np.array([4, 2, 1])
    order = np.argsort(parity, kind="stable").astype(np.int64)
    colour_ptr = np.concatenate([[0], np.cumsum(np.bincount(parity, minlength=8))])
    return colour_ptr.astype(np.int64), order


#: grid layers below which the fine product keeps the 8 colours: a thread takes whole
#: layers of one parity, so few layers leave threads idle.  Chosen from the data, not
#: from the thread count: the product's summation order, hence its bits, must not
#: depend on the threads (tests/test_runner.py: workers reproduce the in-process table)
MIN_LAYERS = 16


def fine_schedule(ijk: np.ndarray, min_layers: int | None = None):
    """How the fine voxel product runs: ("layers", layer_ptr, order) -- whole grid layers
    of the first axis (VoxelMesh's voxels are in C order, so a layer is a contiguous run
    in grid order; layers along another axis scattered the gathers and made the L1-L3
    case 35 % slower), by parity (kernels.voxel_matvec_layers) -- when there are at
    least ``min_layers`` (default MIN_LAYERS), else ("colours", colour_ptr, order)
    (parity_colours).  Either is deterministic for any thread count."""
    ijk = np.asarray(ijk)
    min_layers = MIN_LAYERS if min_layers is None else int(min_layers)
    first = ijk[:, 0] - ijk[:, 0].min() if len(ijk) else np.zeros(0, np.int64)
    n_layers = int(first.max()) + 1 if len(ijk) else 0
    if n_layers < max(min_layers, 2):
        return ("colours",) + parity_colours(ijk)
    order = (np.arange(len(ijk), dtype=np.int64) if np.all(np.diff(first) >= 0)
             else np.argsort(first, kind="stable").astype(np.int64))
    layer_ptr = np.concatenate([[0], np.cumsum(np.bincount(first, minlength=n_layers))])
    return "layers", layer_ptr.astype(np.int64), order


def voxel_product(x, conn, schedule, lam, mu, K_lambda, K_mu, y):
    """y = K x for a voxel mesh by its fine_schedule (all arrays one float dtype)."""
    kind, ptr, order = schedule
    kernel = K.voxel_matvec_layers if kind == "layers" else K.voxel_matvec_coloured
    kernel(x, conn, ptr, order, lam, mu, K_lambda, K_mu, y)


def _node_elements(conn: np.ndarray, n_nodes: int) -> np.ndarray:
    out = np.full((n_nodes, 8), -1, dtype=np.int64)
    for a in range(8):
        out[conn[:, a], a] = np.arange(conn.shape[0])
    return out


class ModelTooLargeError(InputError, MemoryError):
    """The estimated peak memory of a solve exceeds the memory available."""


def coarse_element_counts(ijk: np.ndarray, coarse_max_elements: int = 1) -> list:
    """Voxels on each coarser level of the grid ijk (n_el, 3), finest first."""
    counts = []
    ijk = np.asarray(ijk, dtype=np.int64)
    while ijk.shape[0] > coarse_max_elements:
        top = ijk.max(axis=0) // 2 + 1
        flat = np.unique(np.ravel_multi_index((ijk // 2).T, top))
        if flat.size >= ijk.shape[0]:
            break
        counts.append(int(flat.size))
        ijk = np.stack(np.unravel_index(flat, top), 1)
    return counts


#: bytes per fine DOF of the solve besides the coarse levels and CG: the mesh and the
#: reduction (T, g, index maps: ~75), the V-cycle's mask, diagonals and float32 work
#: vectors (~35) and the node-element table while the fine diagonal is formed (~21).
#: Estimates 276 B/DOF on verse004 1 mm (measured RSS 213-219), ~230 on the growth
#: blocks (measured 199-205 from 0.45M to 17.8M DOF)
FINE_BYTES_PER_DOF = 130
CG_BYTES_PER_DOF = 5 * 8 + 3 * 8     # CG vectors and the operator's temporaries (one column
#                                      at a time: the plate columns are solved in turn)
PLATE_COLUMN_BYTES_PER_DOF = 8       # the condensation's X, per plate unknown
#: bytes per coarse element (dense 24x24 matrix, connectivity, indices) and per coarse
#: DOF (prolongation rows, diagonals, work vectors)
COARSE_BYTES_PER_ELEMENT = PACKED * 4 + 8 * 8 + 3 * 8 + 8 * 8
COARSE_BYTES_PER_DOF = 120
#: elements per chunk of _element_csr (its COO triplets, 14 kB per element, were the
#: largest transient of the coarsest factorisation)
CSR_CHUNK_ELEMENTS = 512
#: the first coarse level of a large model in coefficient form (_coefficient_form): 16
#: moduli, its kind, connectivity, indices, and packed matrices for the ~5 % of its
#: voxels with a masked child
COEFFICIENT_BYTES_PER_ELEMENT = 16 * 4 + 4 + 8 * 8 + 3 * 8 + 8 * 8 + PACKED * 4 // 20
#: per coarsest element: its assembled CSR and the CSC copy for SuperLU (~24 x 24 x 24),
#: and per element of a chunk being assembled (int64 rows, cols, float64 data)
COARSEST_BYTES_PER_ELEMENT = 24 * 24 * 24
COARSEST_CHUNK_BYTES_PER_ELEMENT = 24 * 24 * 32
#: per nearly incompressible voxel (gmg_volumetric): SuperLU's factor of G, 378 entries a
#: row on the 1 mm segment's nucleus (10,242 voxels; in 3D nested dissection the entries
#: per row grow as n^(1/3)), and the rows B and B^T
VOLUMETRIC_FACTOR_ENTRIES = (378, 10_242)
VOLUMETRIC_BYTES_PER_VOXEL = 2 * 24 * 12
#: per DOF when an active set recycles a deflation space (deflation): W (float32) and
#: base @ W (float64), DEFLATION_MAX_VECTORS columns each from the first harvest on, a
#: solve's Lanczos vectors (float32, RITZ_STEPS) while the space grows, and a harvest's
#: float64 temporaries (the new vectors, their projection and QR: 4 x DEFLATION_VECTORS)
RECYCLED_BYTES_PER_DOF = (4 * _D.RITZ_STEPS + 12 * _D.DEFLATION_MAX_VECTORS
                          + 4 * 8 * _D.DEFLATION_VECTORS)


def estimate_peak_bytes(ijk: np.ndarray, n_nodes: int, columns: int = 1, *,
                        nearly_incompressible: int = 0, recycled: bool = False,
                        unpacked: bool = False) -> int:
    """Estimated peak memory [bytes] of a GMG solve of a voxel model with voxels at
    grid indices ijk (n_el, 3), n_nodes nodes, and ``columns`` plate unknowns condensed
    (6 per rigid plate; their columns are solved one at a time); nearly_incompressible:
    voxels smoothed with their volumetric part exact; recycled: an active set (springs
    that switch) with a recycled deflation space; unpacked: the hierarchy keeps small
    parallel levels unpacked (VoxelHierarchy(unpacked=True)).  Cheap: counts the coarse voxels
    without building the levels.  Compared with measured peaks in bench_gmg.py."""
    n_dofs = 3 * n_nodes
    # a level of n voxels has about 1.5 n nodes on these grids: stop as the hierarchy does
    counts = coarse_element_counts(ijk, int(COARSE_MAX_UNKNOWNS / 4.5))
    # the first coarse level in coefficient form; with unpacked, later parallel ones also
    # hold their matrices unpacked (unpack_elements; both while the next level is made)
    dense = 24 * 24 * np.dtype(VCYCLE_DTYPE).itemsize
    per_element = []
    for i, c in enumerate(counts):
        parallel = 1.5 * c >= SERIAL_MAX_NODES
        if i == 0 and parallel and len(counts) > 1:
            per_element.append(COEFFICIENT_BYTES_PER_ELEMENT)
        else:
            per_element.append(COARSE_BYTES_PER_ELEMENT + dense * (
                unpacked and parallel and i > 0 and i + 1 < len(counts)))
    coarse = sum(b * c + COARSE_BYTES_PER_DOF * 3 * c for b, c in zip(per_element, counts))
    # the coarsest level assembled for SuperLU, in chunks of CSR_CHUNK_ELEMENTS
    n_coarsest = counts[-1] if counts else len(ijk)
    coarse += (COARSEST_BYTES_PER_ELEMENT * n_coarsest
               + COARSEST_CHUNK_BYTES_PER_ELEMENT * min(n_coarsest, CSR_CHUNK_ELEMENTS))
    from .gmg_volumetric import VOLUMETRIC_MAX_VOXELS
    n_b = int(nearly_incompressible) if nearly_incompressible <= VOLUMETRIC_MAX_VOXELS else 0
    per_row, at = VOLUMETRIC_FACTOR_ENTRIES
    coarse += n_b * (VOLUMETRIC_BYTES_PER_VOXEL + 12 * per_row * (n_b / at) ** (1 / 3))
    return int(n_dofs * (FINE_BYTES_PER_DOF + CG_BYTES_PER_DOF
                         + PLATE_COLUMN_BYTES_PER_DOF * columns
                         + (RECYCLED_BYTES_PER_DOF if recycled else 0)) + coarse)


def check_memory(ijk, n_nodes, columns=1, available=None, **extra) -> int:
    """Raise ModelTooLargeError when estimate_peak_bytes (``extra``: its keywords)
    exceeds the memory available [bytes] (default: the machine's, when known).  Returns
    the estimate."""
    from ..environment import available_memory_bytes
    need = estimate_peak_bytes(ijk, n_nodes, columns, **extra)
    have = available_memory_bytes() if available is None else available
    if have is not None and need > have:
        raise ModelTooLargeError(
            f"the GMG solve of this voxel model ({3 * n_nodes:,} DOF, {len(ijk):,} voxels) needs "
            f"about {need / 1e9:.2f} GB, more than the {have / 1e9:.2f} GB available: use larger "
            "voxels (voxel_size_mm), a smaller region, or a machine with more memory")
    return need


class Grid:
    """Voxels at grid indices ijk (n_el, 3) with their nodes (C order of node index)."""

    def __init__(self, ijk, conn=None, node_ijk=None):
        self.ijk = np.ascontiguousarray(ijk, dtype=np.int64)
        if conn is None:
            conn, node_ijk, _ = _topology(self.ijk)
        self.conn = np.ascontiguousarray(conn, dtype=np.int64)
        self.node_ijk = np.asarray(node_ijk, dtype=np.int64)
        self.n_nodes = self.node_ijk.shape[0]

    def coarsen(self):
        """(coarse Grid, child_ptr, child_el, child_pos, node prolongation (n_f, n_c) CSR).

        Coarse nodes follow the fine grid's connectivity: a coarse node is shared by
        the coarse voxels around it only where their children share a fine node in its
        support (the fine nodes it interpolates to); elsewhere each side gets its own
        copy.  Parts separated by a gap (facet joints, neighbouring processes, pores)
        are not glued together by the coarse functions, which made the V-cycle slow on
        the segment (see :func:`coarse_node_slots`)."""
        pij = self.ijk // 2
        top = pij.max(axis=0) + 1
        flat = np.ravel_multi_index(pij.T, top)
        parents, parent_of = np.unique(flat, return_inverse=True)
        parent_ijk = np.stack(np.unravel_index(parents, top), 1)
        child_el = np.argsort(parent_of, kind="stable").astype(np.int64)
        child_ptr = np.concatenate([[0], np.cumsum(np.bincount(parent_of))]).astype(np.int64)
        child_pos = ((self.ijk % 2) @ np.array([4, 2, 1]))[child_el].astype(np.int64)
        conn_c, node_ijk_c, fine_parent = coarse_node_slots(
            self.conn, self.node_ijk, parent_of, parent_ijk)
        coarse = Grid(parent_ijk, conn_c, node_ijk_c)
        # trilinear prolongation: fine node n takes weight 1 (even axis) or 1/2 (odd axis)
        # from each coarse corner N around it, the copy seen from one of its parents
        orphans = int(np.count_nonzero(fine_parent < 0))
        if orphans:
            raise InputError(f"voxel grid: {orphans} of its {self.n_nodes} nodes belong to no "
                             "voxel; every node must be a corner of a voxel (build the grid "
                             "with VoxelMesh.from_mask or Grid(ijk))")
        indptr = np.zeros(self.n_nodes + 1, dtype=np.int64)
        indptr[1:] = 2 ** (self.node_ijk % 2).sum(axis=1)
        nnz = int(indptr.sum())
        indices = np.empty(nnz, dtype=np.int32 if coarse.n_nodes < 2**31 else np.int64)
        data = np.empty(nnz)
        K.trilinear_prolongation(self.node_ijk, fine_parent, parent_ijk, conn_c,
                                 _CORNER_INDEX, indptr, indices, data)
        P = sp.csr_matrix((data, indices, indptr), shape=(self.n_nodes, coarse.n_nodes))
        return coarse, child_ptr, child_el, child_pos, P


#: hex8 local index of a corner offset (ox, oy, oz) in {0, 1}^3
_CORNER_INDEX = np.zeros((2, 2, 2), dtype=np.int64)
_CORNER_INDEX[tuple(_CORNER.T)] = np.arange(8)


def coarse_node_slots(conn, node_ijk, parent_of, parent_ijk):
    """Coarse connectivity that follows the fine grid's.

    Each coarse voxel E has 8 corner slots (E, A).  Slots of neighbouring coarse voxels
    at the same position N are one coarse node when a fine node n with |n - 2N| < 2
    (per axis, in fine node units: the support of N) belongs to children of both; else
    they stay separate copies.  Every fine node then interpolates from the same copies
    whichever parent it is seen from, so P is well defined.

    conn (n_el, 8), node_ijk (n_nodes, 3): the fine grid; parent_of (n_el,);
    parent_ijk (n_par, 3).  Returns (conn_c (n_par, 8), node_ijk_c (n_c, 3),
    fine_parent (n_nodes,)): the coarse grid, and for each fine node its smallest
    parent (the prolongation reads the copies there; -1 for a node in no voxel).
    One pass of union-find over the slots (``biomech.kernels.coarse_slot_labels``):
    about 11 bytes per fine DOF (the sort-and-graph form took 150).
    """
    n_par = parent_ijk.shape[0]
    fine_parent = np.empty(node_ijk.shape[0], dtype=np.int64)
    label = np.empty(8 * n_par, dtype=np.int64)
    K.coarse_slot_labels(np.ascontiguousarray(conn, dtype=np.int64),
                         np.ascontiguousarray(node_ijk, dtype=np.int64),
                         np.ascontiguousarray(parent_of, dtype=np.int64),
                         np.ascontiguousarray(parent_ijk, dtype=np.int64), _CORNER_INDEX,
                         fine_parent, label)
    conn_c = label.reshape(n_par, 8)
    node_ijk_c = np.empty((int(label.max()) + 1, 3), dtype=np.int64)
    node_ijk_c[label] = (parent_ijk[:, None, :] + _CORNER[None]).reshape(-1, 3)
    return conn_c, node_ijk_c, fine_parent


def _csr_rows(C: sp.csr_matrix) -> np.ndarray:
    """(nnz,) row of each stored entry of CSR C."""
    return np.repeat(np.arange(C.shape[0]), np.diff(C.indptr))


def _csr_entries(C: sp.csr_matrix, take: np.ndarray, data=None) -> sp.csr_matrix:
    """The CSR matrix of C's stored entries ``take`` (increasing positions), with values
    ``data`` (default C's own); the order of C is kept."""
    counts = np.bincount(_csr_rows(C)[take], minlength=C.shape[0])
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(C.indptr.dtype)
    out = sp.csr_matrix((C.data[take] if data is None else data, C.indices[take], indptr),
                        shape=C.shape)
    out.has_sorted_indices = C.has_sorted_indices
    return out


def _dof_prolongation(P_node: sp.csr_matrix) -> sp.csr_matrix:
    return sp.kron(P_node, sp.identity(3), format="csr")


def _galerkin_rows(P_node, C: sp.csr_matrix, cache: dict) -> sp.csr_matrix:
    """P^T C P for the node prolongation P (n_f, n_c) and a symmetric C (3 n_f)^2 with
    few nonzero rows (springs), through those rows of P only (no fine-size DOF
    prolongation is formed).  ``cache`` keeps the rows of P of the first C's nodes
    (the set-up's springs, all active) for later C on the same nodes or fewer."""
    c = C.tocoo()
    nodes = np.unique(c.row // 3)
    if "pos" not in cache or np.any(cache["pos"][3 * nodes] < 0):
        dofs = (3 * nodes[:, None] + np.arange(3)).ravel()
        pos = np.full(C.shape[0], -1, dtype=np.int32)
        pos[dofs] = np.arange(dofs.size)
        cache.update(pos=pos, Pd=_dof_prolongation(sp.csr_matrix(P_node)[nodes].astype(float)))
    pos, Pd = cache["pos"], cache["Pd"]
    C_sub = sp.csr_matrix((c.data, (pos[c.row], pos[c.col])), shape=(Pd.shape[0],) * 2)
    return (Pd.T @ C_sub @ Pd).tocsr()


def _coefficient_form(cptr, cel, cpos, lam, mu, conn, mask, A_ref, B_ref, K_lambda, K_mu,
                      W, dtype):
    """(coef, special, Ke_special, KK): the first coarse level in the form of
    kernels.galerkin_matvec_coloured.  Its Galerkin element matrices are sums of the
    children's lam A_q + mu B_q, so 16 moduli per coarse voxel stand for its PACKED
    entries (~3 instead of ~57 bytes per fine DOF, never allocated), and the product is
    as fast (2.0 against 2.4 ms on verse004 1 mm, 18 against 19 ms at 1.6M DOF).  Coarse
    voxels with a masked child (supports, plates) keep a packed matrix (COARSE_DTYPE);
    those with 8 children of one material (63 % on the L1-L3 segment at 1 mm) take one
    product with the sum of the 8 reference pairs."""
    n = cptr.size - 1
    coef = np.empty((n, 16), dtype)
    masked = np.empty(n, np.int8)
    K.galerkin_coefficients(cptr, cel, cpos, lam, mu, conn, mask, coef, masked)
    rows = np.flatnonzero(masked == 1)
    special = np.where(masked == 2, -2, -1).astype(np.int32)    # -2: one material
    special[rows] = np.arange(rows.size, dtype=np.int32)
    counts = cptr[rows + 1] - cptr[rows]
    sub_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(cptr.dtype)
    take = np.repeat(cptr[rows] - sub_ptr[:-1], counts) + np.arange(sub_ptr[-1])
    Ke_special = np.empty((rows.size, PACKED), dtype=COARSE_DTYPE)
    K.galerkin_voxel(sub_ptr, cel[take], cpos[take], lam, mu, conn, mask, A_ref, B_ref,
                     K_lambda, K_mu, W, Ke_special)
    KK = np.concatenate([A_ref, B_ref], axis=2)
    KK = np.ascontiguousarray(np.concatenate([KK, KK.sum(axis=0)[None]]), dtype=dtype)
    return coef, special, Ke_special, KK


_TRIU = np.triu_indices(24)        # the packed order of kernels.gmg (row by row, c >= r)


def pack_elements(Ke: np.ndarray) -> np.ndarray:
    """(n_el, 24, 24) symmetric element matrices -> (n_el, PACKED) upper triangles."""
    return np.ascontiguousarray(Ke[:, _TRIU[0], _TRIU[1]])


def unpack_elements(Ke: np.ndarray, dtype=np.float64) -> np.ndarray:
    """(n_el, PACKED) packed element matrices -> (n_el, 24, 24) of dtype (the coarsest
    level's assembly; the products of small parallel levels, kernels.
    element_matvec_dense_coloured: 2.7x the packed product on 5.8k coarse voxels, 1.3x
    on 17.6k, 2.3 kB per element in float32)."""
    full = np.empty((Ke.shape[0], 24, 24), dtype=dtype)
    full[:, _TRIU[0], _TRIU[1]] = Ke
    full[:, _TRIU[1], _TRIU[0]] = Ke
    return full


def _element_csr(grid: Grid, Ke: np.ndarray, n: int) -> sp.csr_matrix:
    """Assembled sum of element matrices Ke, (n_el, 24, 24) or packed (n_el, PACKED)."""
    parts = []
    for lo in range(0, Ke.shape[0], CSR_CHUNK_ELEMENTS):
        part = Ke[lo:lo + CSR_CHUNK_ELEMENTS]
        if part.ndim == 2:
            part = unpack_elements(part)
        idx = (3 * grid.conn[lo:lo + part.shape[0], :, None] + np.arange(3)).reshape(-1, 24)
        rows = np.repeat(idx[:, :, None], 24, axis=2).ravel()
        cols = np.repeat(idx[:, None, :], 24, axis=1).ravel()
        parts.append(sp.csr_matrix((part.ravel(), (rows, cols)), shape=(n, n)))
    while len(parts) > 1:              # pairwise sums: n log n, not quadratic in chunks
        parts = [a + b for a, b in zip(parts[::2], parts[1::2])] + parts[len(parts) // 2 * 2:]
    return parts[0] if parts else sp.csr_matrix((n, n))


class _Level:
    """One level: operator ``A x = (element part) x + extra x``, Jacobi scaling,
    Chebyshev bounds, and the node prolongation to it from the next coarser level."""

    def __init__(self, grid: Grid, apply_elements, diag_elements, extra, dtype=np.float64):
        self.grid = grid
        self.n = 3 * grid.n_nodes
        self.dtype = np.dtype(dtype)
        self._apply = apply_elements
        # the element part of the diagonal, kept (in the V-cycle's precision) for
        # set_extra: Jacobi scaling only
        self._diag_el = np.asarray(diag_elements, dtype=self.dtype)
        self.P = self.R = None
        self.Ke = None                 # packed element matrices (coarse levels), if stored
        self.dense = None              # the same unpacked (small parallel levels)
        self.coefficients = None       # or _coefficient_form's (level 1, parallel products)
        self.volumetric = None
        self.coupling_cache = {}       # _galerkin_rows: the springs' rows of P
        self.set_extra(extra)

    @property
    def coefficient_form(self) -> bool:
        """Products from the children's moduli instead of stored element matrices."""
        return self.coefficients is not None

    def set_extra(self, extra):
        from .multigrid import SparseRowsOperator
        # held once, as its nonzero rows (products touch those only)
        self._extra_op = (None if extra is None or extra.nnz == 0
                          else SparseRowsOperator(extra, self.dtype))
        d = self._diag_el.astype(float)
        if extra is not None and extra.nnz:
            d += extra.diagonal()
        self._set_jacobi(d)

    def _set_jacobi(self, d):
        """Jacobi scaling from the level's diagonal d (n,) [N/mm]; with volumetric rows,
        D~ (gmg_volumetric) on their DOFs."""
        self.empty = ~(d > 0)          # no stiffness (masked or unsupported): kept at 0
        if self.volumetric is not None:
            d = self.volumetric.refresh(d)
        self.dinv = np.where(self.empty, 0.0, 1.0 / np.where(self.empty, 1.0, d)).astype(
            self.dtype)

    def jacobi(self, v, out=None):
        """The smoother's 'diagonal' solve: D^-1 v, with the volumetric rows exact."""
        dinv = self.dinv if v.ndim == 1 else self.dinv[:, None]
        out = np.multiply(dinv, v, out=out)
        if self.volumetric is not None:
            self.volumetric.correct(out)
        return out

    @property
    def extra(self):
        """The level's sparse couplings (springs, contact) as CSR, or None."""
        return None if self._extra_op is None else self._extra_op.tocsr()

    def matvec(self, x, masked=False):
        """A x; masked: x is known to be zero on the fine level's masked DOFs (no masked
        copy of x is made)."""
        y = self._apply(x, masked=masked)
        if self._extra_op is not None:
            self._extra_op.add_to(y, x)
        return y

    def estimate_lmax(self, seed=0):
        """Largest eigenvalue of D^-1 A from LANCZOS_STEPS steps of Jacobi-PCG (Ritz value)."""
        rng = np.random.default_rng(seed)
        # in the level's precision (an estimate, with LMAX_SAFETY on top): float64
        # vectors here were the fine level's largest set-up transient (~45 B/DOF)
        r = np.where(self.empty, 0.0, rng.standard_normal(self.n)).astype(self.dtype)
        z = self.jacobi(r)
        p = z.copy()
        rz = float(r @ z)
        alphas, betas = [], []
        for _ in range(min(LANCZOS_STEPS, int((~self.empty).sum()))):
            Ap = self.matvec(p, masked=True)
            pAp = float(p @ Ap)
            if not pAp > 0:
                break
            alpha = rz / pAp
            r -= self.dtype.type(alpha) * Ap
            del Ap
            z = self.jacobi(r, out=z)
            rz_new = float(r @ z)
            alphas.append(alpha)
            betas.append(rz_new / rz)
            if rz_new <= 1e-30 * rz:
                break
            p *= self.dtype.type(betas[-1])
            p += z
            rz = rz_new
        m = len(alphas)
        if m == 0:
            raise ConvergenceError("multigrid level without positive stiffness: the model is "
                                   "singular (unconstrained or disconnected parts)")
        T = np.zeros((m, m))
        for i in range(m):
            T[i, i] = 1.0 / alphas[i] + (betas[i - 1] / alphas[i - 1] if i else 0.0)
            if i + 1 < m:
                T[i, i + 1] = T[i + 1, i] = np.sqrt(betas[i]) / alphas[i]
        self.lmax = LMAX_SAFETY * float(np.linalg.eigvalsh(T).max())
        self.lmin = self.lmax / SMOOTHING_RANGE

    def smooth(self, b, degree):
        """x = p(D^-1 A) D^-1 b: ``degree`` Chebyshev steps from x = 0 (symmetric in b)."""
        theta = 0.5 * (self.lmax + self.lmin)
        delta = 0.5 * (self.lmax - self.lmin)
        sigma = theta / delta
        rho = 1.0 / sigma
        d = self.jacobi(b)                 # in place where possible: fewer full-size temporaries
        d /= theta
        x = None                           # x equals d until the first update
        for step in range(degree - 1):
            res = self.matvec(d if x is None else x, masked=True)
            np.subtract(b, res, out=res)
            rho_new = 1.0 / (2.0 * sigma - rho)
            self.jacobi(res, out=res)
            res *= 2.0 * rho_new / delta
            if x is None and step == degree - 2:
                # the last step from x = d: x + (c d + res) = (1 + c) d + res, in d's memory
                d *= 1.0 + rho_new * rho
                d += res
                return d
            if x is None:
                x = d.copy()
            d *= rho_new * rho
            d += res
            x += d
            rho = rho_new
        return d if x is None else x


class VoxelHierarchy:
    """The GMG levels of a voxel model and its cycle ``M @ r`` (r (n,) or (n, k)): a
    V-cycle with Chebyshev degree ``degree`` (default :data:`DEGREE`) on the first
    COARSE_CYCLE_FROM levels, a W-cycle with degree :data:`COARSE_DEGREE` below.

    grid : the fine :class:`Grid`; lam, mu (n_el,) [MPa]; K_lambda, K_mu (24, 24)
    reference matrices; dof_mask (3 n_nodes,) bool, True for the DOFs solved for
    (others are left out of every level); coupling : sparse (3 n_nodes)^2 addition
    (springs, contact) or None; node_elems : the fine grid's (n_nodes, 8) node-element
    table when the caller has it (VoxelOperator.node_elems), else built here;
    volumetric_ratio : lam / mu above which an element's volumetric part is smoothed
    exactly (default :data:`.gmg_volumetric.VOLUMETRIC_RATIO`; ``inf``: plain Jacobi);
    unpacked : parallel levels below the first keep their element matrices unpacked in
    the V-cycle's precision (2.3 instead of 1.2 kB per coarse element in float32, products
    2.7x faster on a 5.8k-voxel level, 1.3x on 17.6k: for a sequence of many solves, such as an active set, where the W-cycle's
    level-2 products add up; a single solve keeps the packed ones).
    """

    def __init__(self, grid: Grid, lam, mu, K_lambda, K_mu, dof_mask, coupling=None, *,
                 degree: int | None = None, coarse_max: int | None = None, node_elems=None,
                 dtype=None, volumetric_ratio: float | None = None, unpacked: bool = False):
        self.degree = int(DEGREE if degree is None else degree)
        coarse_max = COARSE_MAX_UNKNOWNS if coarse_max is None else int(coarse_max)
        dt = np.dtype(VCYCLE_DTYPE if dtype is None else dtype)
        if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise InputError(f"V-cycle dtype must be float32 or float64, got {dt}")
        self.dtype = dt
        lam = np.ascontiguousarray(lam, float)
        mu = np.ascontiguousarray(mu, float)
        mask = np.ascontiguousarray(dof_mask, dtype=float)
        self.mask = mask != 0          # bool (1 byte per DOF; numpy casts it in products)
        # the fine level's operator in the V-cycle's precision (the Galerkin products
        # below use the float64 originals)
        lam_v, mu_v = lam.astype(dt), mu.astype(dt)
        Kl_v, Km_v = np.ascontiguousarray(K_lambda, dt), np.ascontiguousarray(K_mu, dt)
        mask_v = self.mask
        node_el = _node_elements(grid.conn, grid.n_nodes) if node_elems is None else node_elems
        d0 = np.empty(3 * grid.n_nodes)
        K.voxel_diagonal(node_el, lam, mu, K_lambda, K_mu, d0)
        d0 *= mask

        serial0 = grid.n_nodes < SERIAL_MAX_NODES
        schedule = fine_schedule(grid.ijk)
        if not serial0:
            node_el = None                 # only the small serial product needs it

        def apply0(x, g=grid, masked=False):
            if masked and x.ndim == 1 and x.flags.c_contiguous:
                xm = x[None, :]                # zero on the masked DOFs already: no copy
            else:
                xm = np.ascontiguousarray((x.T * mask_v).reshape(-1, x.shape[0]))
            y = np.empty_like(xm)
            for j in range(y.shape[0]):        # a block column by column (see SERIAL_MAX_NODES)
                if serial0:
                    K.voxel_matvec_gather_serial(xm[j], node_el, g.conn, lam_v, mu_v, Kl_v,
                                                 Km_v, y[j])
                else:
                    voxel_product(xm[j], g.conn, schedule, lam_v, mu_v, Kl_v, Km_v, y[j])
            y *= mask_v
            return np.ascontiguousarray(y.T).reshape(x.shape)

        self.levels = [_Level(grid, apply0, d0, coupling, dt)]
        W = child_weights()
        Pq = np.einsum("qaA,ij->qaiAj", W, np.eye(3)).reshape(8, 24, 24)
        A_ref = np.ascontiguousarray(np.einsum("qra,rs,qsb->qab", Pq, K_lambda, Pq))
        B_ref = np.ascontiguousarray(np.einsum("qra,rs,qsb->qab", Pq, K_mu, Pq))
        while self.levels[-1].n > coarse_max:
            fine = self.levels[-1]
            coarse, cptr, cel, cpos, P = fine.grid.coarsen()
            if coarse.n_nodes >= fine.grid.n_nodes:
                break
            dc = np.empty(3 * coarse.n_nodes)
            ne = _node_elements(coarse.conn, coarse.n_nodes)
            serial = coarse.n_nodes < SERIAL_MAX_NODES
            Ke = coefficients = None
            if len(self.levels) == 1 and not serial:
                # the first coarse level, products in parallel: its element matrices are
                # never held (see _coefficient_form)
                coefficients = _coefficient_form(cptr, cel, cpos, lam, mu, grid.conn, mask,
                                                 A_ref, B_ref, K_lambda, K_mu, W, dt)
                K.coefficient_diagonal(ne, *coefficients[:3], A_ref, B_ref, dc)
            else:
                Ke = np.empty((coarse.ijk.shape[0], PACKED), dtype=COARSE_DTYPE)
                if len(self.levels) == 1:
                    K.galerkin_voxel(cptr, cel, cpos, lam, mu, grid.conn, mask, A_ref, B_ref,
                                     K_lambda, K_mu, W, Ke)
                elif fine.coefficient_form:
                    K.galerkin_coefficient_elements(cptr, cel, cpos, *fine.coefficients[:3],
                                                    A_ref, B_ref, W, Ke)
                else:
                    K.galerkin_elements(cptr, cel, cpos, fine.Ke, W, Ke)
                K.element_diagonal(ne, Ke, dc)
            dense = None
            if not serial:
                ne = None                  # only the small serial product needs it
                if Ke is not None and unpacked and 3 * coarse.n_nodes > coarse_max:
                    dense = unpack_elements(Ke, dt)   # a parallel level above the coarsest

            colours = parity_colours(coarse.ijk)

            def apply_c(x, masked=False, g=coarse, Ke=None if dense is not None else Ke,
                        ne=ne, colours=colours, coefficients=coefficients,
                        dense=dense):    # no mask on coarse levels; no packed Ke held
                #                          where the unpacked one serves (freed below)
                xt = np.ascontiguousarray(x.T).reshape(-1, x.shape[0])
                y = np.empty_like(xt)
                for j in range(y.shape[0]):
                    if ne is not None:
                        K.element_matvec_gather_serial(xt[j], ne, g.conn, Ke, y[j])
                    elif coefficients is not None:
                        K.galerkin_matvec_coloured(xt[j], g.conn, *colours, *coefficients, y[j])
                    elif dense is not None:
                        K.element_matvec_dense_coloured(xt[j], g.conn, *colours, dense, y[j])
                    else:
                        K.element_matvec_coloured(xt[j], g.conn, *colours, Ke, y[j])
                return np.ascontiguousarray(y.T).reshape(x.shape)

            P = P.astype(dt)                 # entries 1, 1/2, 1/4, 1/8: exact in float32
            fine.P, fine.R = P, P.T          # R: a CSC view of P, no copy
            level = _Level(coarse, apply_c, dc, None, dt)
            level.Ke, level.dense = Ke, dense
            level.coefficients = coefficients
            self.levels.append(level)
        for lev in self.levels[1:-1]:
            if lev.dense is not None:
                lev.Ke = None          # its product reads the unpacked copy; the packed one
                #                        made the next level and is needed no more
        self._lam, self._mu, self._refs = lam, mu, (K_lambda, K_mu)
        self._coarse_refs = (A_ref, B_ref)
        self._attach_volumetric(grid, K_lambda, volumetric_ratio)
        self.set_coupling(coupling)
        self.shape = (self.levels[0].n, self.levels[0].n)

    def _attach_volumetric(self, grid, K_lambda, ratio):
        """Exact volumetric smoothing (:mod:`.gmg_volumetric`) of the nearly
        incompressible elements on the first VOLUMETRIC_LEVELS smoothed levels."""
        from . import gmg_volumetric as V
        B = V.volumetric_rows(self._lam, self._mu, grid.conn, K_lambda, self.mask,
                              V.VOLUMETRIC_RATIO if ratio is None else ratio, grid.ijk)
        for i, lev in enumerate(self.levels[:-1][:V.VOLUMETRIC_LEVELS]):
            if B is None or B.nnz == 0:
                break
            lev.volumetric = V.VolumetricSmoothing(B)   # refreshed by set_extra
            if i + 1 < V.VOLUMETRIC_LEVELS:
                B = (B @ _dof_prolongation(lev.P.astype(float))).tocsr()

    @property
    def level_sizes(self) -> list:
        return [lev.n for lev in self.levels]

    def set_coupling(self, coupling, *, reestimate: bool = True):
        """Sparse couplings C on the fine DOFs: fine level C, coarse ones P^T C P;
        re-estimates the smoothing bounds and refactorises the coarsest level, unless
        ``reestimate`` is False: a changed set of springs keeps the set-up's bounds (see
        :data:`COUPLING_LMAX_SAFETY`) and coarsest factor, and when C keeps the last
        C's pattern (:class:`~biomech.fem.couplings.ReducedSprings`) only the change
        goes down the levels: ``P^T (C - C_last) P`` through the changed springs' rows."""
        from .couplings import same_pattern
        C = None if coupling is None else self._masked_coupling(coupling)
        last = getattr(self, "_coupling", None)
        if not reestimate and C is not None and same_pattern(C, last) \
                and self._updates < COUPLING_RESYNC_UPDATES:
            self._update_coupling(C, last)
            return
        self._coupling = C
        self._updates = 0
        for i, lev in enumerate(self.levels):
            lev.set_extra(C)
            if i + 1 < len(self.levels):
                if reestimate or not hasattr(lev, "lmax"):
                    lev.estimate_lmax(seed=i)
                    lev.lmax_setup = lev.lmax
                else:
                    lev.lmax = COUPLING_LMAX_SAFETY * lev.lmax_setup
                    lev.lmin = lev.lmax / SMOOTHING_RANGE
                if C is not None and C.nnz:
                    C = _galerkin_rows(lev.P, C, lev.coupling_cache)
        if reestimate:
            # a changed set of springs keeps the set-up's coarsest factor (every spring
            # active): still an SPD coarse solve.  Refactorising after each change of the
            # 2 mm segment's active set cost 0.04 s a time, grew the RSS by ~90 MB over
            # the case (SuperLU's own allocations), and saved 3 of 262 iterations.
            self._factor_coarsest()

    def _masked_coupling(self, coupling) -> sp.csr_matrix:
        """C (float64 CSR) without the entries of masked DOFs; the kept entries of a
        pattern are remembered, so the same pattern again costs one gather."""
        from .couplings import pattern_of, same_pattern
        C = sp.csr_matrix(coupling, dtype=float)
        if not C.has_canonical_format:              # the caller's arrays are not touched
            C = C.copy()
            C.sum_duplicates()
        cache = getattr(self, "_mask_cache", None)
        if cache is None or not same_pattern(cache["pattern"], C):
            keep = np.flatnonzero(self.mask[_csr_rows(C)] & self.mask[C.indices])
            pattern = _csr_entries(C, keep)
            cache = self._mask_cache = {"pattern": pattern_of(C), "keep": keep,
                                        "indices": pattern.indices, "indptr": pattern.indptr}
        out = sp.csr_matrix((C.data[cache["keep"]], cache["indices"], cache["indptr"]),
                            shape=C.shape)
        out.has_sorted_indices = True
        return out

    def _update_coupling(self, C, last):
        """set_coupling's path for a C on ``last``'s pattern (bounds and coarsest factor
        kept): each level's couplings plus P^T dC P, dC holding the changed entries (in
        float64; each level's sum is rounded to its precision once per change, which no
        float64 copy of the coarse couplings is kept for: 64 bytes per DOF on the 1 mm
        segment)."""
        for lev in self.levels[:-1]:
            lev.lmax = COUPLING_LMAX_SAFETY * lev.lmax_setup
            lev.lmin = lev.lmax / SMOOTHING_RANGE
        diff = C.data - last.data
        changed = diff != 0
        self._coupling = C
        if not changed.any():
            return
        self._updates += 1
        dC = _csr_entries(C, np.flatnonzero(changed), diff[changed])
        extra = C
        for i, lev in enumerate(self.levels):
            lev.set_extra(extra)
            if i + 1 < len(self.levels):
                dC = _galerkin_rows(lev.P, dC, lev.coupling_cache)
                now = self.levels[i + 1].extra
                extra = dC if now is None else (now.astype(float) + dC).tocsr()

    def _factor_coarsest(self):
        lev = self.levels[-1]
        if len(self.levels) == 1:
            kl, km = self._refs
            Ke = (self._lam[:, None, None] * kl + self._mu[:, None, None] * km)
            m = self.mask[(3 * lev.grid.conn[:, :, None] + np.arange(3)).reshape(-1, 24)]
            Ke = Ke * m[:, :, None] * m[:, None, :]
        elif lev.coefficient_form:
            Ke = np.empty((lev.coefficients[0].shape[0], PACKED))
            K.coefficient_elements(*lev.coefficients[:3], *self._coarse_refs, Ke)
        else:
            Ke = lev.Ke
        if getattr(self, "_coarsest_elements", None) is None:
            # kept (a few MB): a changed set of springs refactorises without reassembling
            self._coarsest_elements = _element_csr(lev.grid, Ke, lev.n)   # float64 sums
        A = self._coarsest_elements
        if lev.extra is not None:
            A = A + lev.extra
        # unit diagonal on DOFs without stiffness; a relative 1e-10 shift elsewhere: with
        # masked fine DOFs (supports, plates) P can lose rank on the active DOFs, which
        # leaves P^T A P singular along directions that restrict no residual (the
        # shift keeps SuperLU regular and changes nothing a residual sees)
        d = A.diagonal()
        A = (A + sp.diags(np.where(lev.empty, 1.0, 1e-10 * d))).tocsc()
        try:
            # symmetric positive definite: SuperLU's symmetric mode (diagonal pivots,
            # ordering of A + A^T) has 4x less fill than partial pivoting (verse004 1 mm:
            # 0.22M against 0.93M entries, 19 MB) and factorises 6x faster
            self.coarse_lu = spla.splu(A, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                                       options={"SymmetricMode": True})
        except RuntimeError as exc:
            raise ConvergenceError(f"coarsest multigrid level ({lev.n} unknowns) is singular: "
                                   f"{exc}; an unconstrained or disconnected part") from exc

    def _cycle(self, i, b):
        """The cycle on level i for b: smooth, coarse-correct, smooth; levels from
        COARSE_CYCLE_FROM on correct twice with a smoothing between (smooth, correct,
        smooth, correct, smooth: a palindrome of symmetric steps, so the cycle stays
        symmetric positive definite)."""
        lev = self.levels[i]
        if i == len(self.levels) - 1:
            x = self.coarse_lu.solve(np.asarray(b, dtype=float))
            x[lev.empty] = 0.0
            return x.astype(self.dtype, copy=False)
        coarse = i >= COARSE_CYCLE_FROM
        degree = COARSE_DEGREE if coarse else self.degree
        x = lev.smooth(b, degree)
        for visit in range(2 if coarse else 1):
            if visit:
                x += self._residual_smoothed(lev, b, x, degree)
            self._coarse_correct(i, b, x)
        x += self._residual_smoothed(lev, b, x, degree)
        return x

    @staticmethod
    def _residual(lev, b, x):
        r = lev.matvec(x, masked=True)     # smoothing keeps masked DOFs at 0
        return np.subtract(b, r, out=r)

    def _residual_smoothed(self, lev, b, x, degree):
        return lev.smooth(self._residual(lev, b, x), degree)

    def _coarse_correct(self, i, b, x):
        """x += P (cycle on level i + 1 of R (b - A x)), in place."""
        lev = self.levels[i]
        r = self._residual(lev, b, x)
        # node-major vectors: (3 n, k) reshapes to (n, 3 k), and P acts on the node index
        tail = b.shape[1:]
        rc = (lev.R @ r.reshape(lev.grid.n_nodes, -1)).reshape((-1,) + tail)
        del r
        ec = self._cycle(i + 1, rc)
        x += (lev.P @ ec.reshape(ec.shape[0] // 3, -1)).reshape((-1,) + tail)
        if i == 0:
            x *= self.mask if x.ndim == 1 else self.mask[:, None]   # the output is masked anyway

    def vcycle(self, r: np.ndarray, *, overwrite: bool = False) -> np.ndarray:
        """One cycle on r (3 n_nodes,) or a block (3 n_nodes, k) (the k cycles in
        lockstep): a V-cycle down to level COARSE_CYCLE_FROM, a W-cycle below; any float
        dtype: masked entries in and out are 0; the result has the
        V-cycle's dtype (:data:`VCYCLE_DTYPE` unless given).  overwrite: r (of the
        V-cycle's dtype) may be used as workspace (one full vector less)."""
        m = self.mask if r.ndim == 1 else self.mask[:, None]
        if overwrite and r.dtype == self.dtype:
            b = np.multiply(r, m, out=r)
        else:
            b = np.multiply(r, m, dtype=self.dtype)
        x = self._cycle(0, b)
        x *= m
        return x

    def __matmul__(self, R):
        R = np.asarray(R)
        if R.ndim == 2 and R.shape[1] == 1:
            return self.vcycle(R[:, 0])[:, None]
        return self.vcycle(R)
