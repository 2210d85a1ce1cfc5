"""Kernels of the multigrid cycle: CSR products and Gauss-Seidel on blocks of vectors.

Every kernel works on ``X`` of shape (n, k): k right-hand sides in one pass, so
the matrix is read once for all of them (a rigid plate's six condensation
solves, several load cases).  Products run rows in parallel.  Gauss-Seidel is
made parallel and deterministic by contiguous row chunks at least one matrix
bandwidth long: a chunk couples only to its two neighbours, so the even chunks
are relaxed at the same time, then the odd ones, each chunk in plain row order.
The ordering (and so the result) does not depend on the number of threads.
On the voxel grid (nodes in lexicographic order) this is a slab-wise
lexicographic sweep: better locality and smoothing than a multicolour sweep
(14 and 29 colours on the two levels), which took 38 % longer per solve on the
L1-L3 segment at 2 mm.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._numba import JIT, PJIT


@njit(**JIT)
def csr_bandwidth(indptr, indices, data):
    """max |row - column| over the non-zero entries of a CSR matrix (0 if diagonal)."""
    bw = 0
    for r in range(indptr.size - 1):
        for p in range(indptr[r], indptr[r + 1]):
            if data[p] != 0.0:
                d = abs(indices[p] - r)
                if d > bw:
                    bw = d
    return bw


#: rows (or blocks) handed to a thread at a time
_CHUNK = 64
#: the widest block of vectors one kernel call processes; wider blocks are split
MAX_WIDTH = 8


def _make_block_kernels(width: int):
    """(product, gauss_seidel) for blocks of exactly ``width`` vectors.

    The width is a compile-time constant of each kernel (a closure variable, part
    of Numba's cache key), so the loop over the vectors is unrolled: a run-time
    width made the kernels 2-4x slower.
    """

    @njit(**PJIT)
    def product(indptr, indices, data, X, C, Y, alpha, beta):
        """Y = beta C + alpha A X for a CSR matrix A (m rows), X (n, width), C and Y
        (m, width); C may be Y.  beta == 0 ignores C (it may hold garbage)."""
        m = indptr.size - 1
        for c in prange((m + _CHUNK - 1) // _CHUNK):
            acc = np.empty(width)
            for r in range(c * _CHUNK, min(m, c * _CHUNK + _CHUNK)):
                for v in range(width):
                    acc[v] = beta * C[r, v] if beta != 0.0 else 0.0
                for p in range(indptr[r], indptr[r + 1]):
                    a = alpha * data[p]
                    j = indices[p]
                    for v in range(width):
                        acc[v] += a * X[j, v]
                for v in range(width):
                    Y[r, v] = acc[v]

    @njit(**PJIT)
    def gauss_seidel(indptr, indices, data, inv_diag, B, X, chunk_ptr, reverse):
        """One Gauss-Seidel sweep on A X = B, in place on X (n, width).

        Rows chunk_ptr[c]:chunk_ptr[c+1] form chunk c; a chunk may couple only to
        chunks c - 1 and c + 1 (see module docstring).  The even chunks are swept
        in parallel, then the odd ones.  ``reverse``: the exact reverse order (odd
        chunks first, rows backwards); a forward then a reverse sweep is a
        symmetric smoother.  inv_diag: 1 / a_rr, 0 where a_rr == 0 (row left alone).
        """
        n_chunks = chunk_ptr.size - 1
        # reverse: rows and their entries backwards, one descending stream through
        # memory (rows backwards with entries forwards ran 2.7x slower)
        direction = -1 if reverse else 1
        for half in range(2):
            parity = 1 - half if reverse else half
            for h in prange((n_chunks - parity + 1) // 2):
                c = 2 * h + parity
                lo = chunk_ptr[c]
                hi = chunk_ptr[c + 1]
                acc = np.empty(width)
                for t in range(hi - lo):
                    r = hi - 1 - t if reverse else lo + t
                    w = inv_diag[r]
                    if w == 0.0:
                        continue
                    for v in range(width):
                        acc[v] = B[r, v]
                    first = indptr[r + 1] - 1 if reverse else indptr[r]
                    for q in range(indptr[r + 1] - indptr[r]):
                        p = first + direction * q
                        a = data[p]
                        j = indices[p]
                        for v in range(width):
                            acc[v] -= a * X[j, v]
                    for v in range(width):
                        X[r, v] += w * acc[v]

    return product, gauss_seidel


_BLOCK_KERNELS = {}
#: widths compiled by ``biomech warmup``: one vector, and a rigid plate's six DOFs
WARM_WIDTHS = (1, 6)
_KERNEL_NAMES = ("product", "gauss_seidel")


def block_kernels(width: int):
    """The (product, gauss_seidel) kernels for blocks of ``width`` vectors
    (1 <= width <= MAX_WIDTH), compiled on first use and cached."""
    if not 1 <= width <= MAX_WIDTH:
        raise ValueError(f"width must lie in 1..{MAX_WIDTH}, got {width}")
    if width not in _BLOCK_KERNELS:
        _BLOCK_KERNELS[width] = _make_block_kernels(width)
    return _BLOCK_KERNELS[width]


def block_dispatchers() -> dict:
    """{"product[6]": dispatcher, ...} for the widths in WARM_WIDTHS (for warm-up and
    its check that everything compiled)."""
    return {f"{name}[{w}]": fn for w in WARM_WIDTHS
            for name, fn in zip(_KERNEL_NAMES, block_kernels(w))}


def warm_block_kernels() -> None:
    """Compile (or load) the block kernels of WARM_WIDTHS on a 2 x 2 matrix."""
    indptr = np.array([0, 2, 4], np.int32)
    indices = np.array([0, 1, 0, 1], np.int32)
    data = np.array([2.0, -1.0, -1.0, 2.0])
    for w in WARM_WIDTHS:
        X, B, Y = np.ones((2, w)), np.ones((2, w)), np.empty((2, w))
        csr_matmat(indptr, indices, data, X, Y, False)
        chunked_gauss_seidel(indptr, indices, data, np.full(2, 0.5), X, B,
                             row_chunks(indptr, indices, data), False)


def _by_width(which: str, head, inputs, outputs, tail) -> None:
    """Run kernel ``which`` as kernel(*head, *inputs, *outputs, *tail) on column blocks
    of at most MAX_WIDTH (contiguous copies where a block is narrower than the
    arrays; outputs are written back)."""
    k = outputs[0].shape[1]
    index = _KERNEL_NAMES.index(which)
    for a in range(0, k, MAX_WIDTH):
        b = min(k, a + MAX_WIDTH)
        if b - a == k:
            block_kernels(k)[index](*head, *inputs, *outputs, *tail)
            continue
        ins = [np.ascontiguousarray(x[:, a:b]) for x in inputs]
        outs = [np.ascontiguousarray(y[:, a:b]) for y in outputs]
        block_kernels(b - a)[index](*head, *ins, *outs, *tail)
        for y, part in zip(outputs, outs):
            y[:, a:b] = part


def csr_matmat(indptr, indices, data, X, Y, accumulate):
    """Y = A X (Y += A X when ``accumulate``) for a CSR matrix A and X (n, k), Y (m, k),
    both C-contiguous float64."""
    _by_width("product", (indptr, indices, data), (X, Y), (Y,),
              (1.0, 1.0 if accumulate else 0.0))


def csr_residual(indptr, indices, data, X, B, R):
    """R = B - A X, all (n, k) C-contiguous float64."""
    _by_width("product", (indptr, indices, data), (X, B), (R,), (-1.0, 1.0))


def chunked_gauss_seidel(indptr, indices, data, inv_diag, X, B, chunk_ptr, reverse):
    """One Gauss-Seidel sweep on A X = B in place on X (n, k), chunk by chunk; see
    :func:`block_kernels` and :func:`row_chunks`."""
    _by_width("gauss_seidel", (indptr, indices, data, inv_diag), (B,), (X,),
              (chunk_ptr, reverse))


def row_chunks(indptr, indices, data):
    """chunk_ptr (n_chunks + 1,) int64: equal contiguous row chunks, each at least the
    matrix bandwidth long, so that a chunk couples only to its neighbours."""
    n = indptr.size - 1
    bw = max(int(csr_bandwidth(indptr, indices, data)), 1)
    n_chunks = max(1, n // bw)
    return np.linspace(0, n, n_chunks + 1).astype(np.int64)
