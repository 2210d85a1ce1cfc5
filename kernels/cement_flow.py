"""Cement-front growth on the voxel grid: a Dijkstra-like invasion of a resistance field.

The physics (which resistances, which thresholds, what a site code means) lives in
``biomech.treatments.flow``; these kernels only take arrays and numbers.

Front model (``cement_front``).  Every voxel ``v`` carries a cumulative pressure
``D[v]`` (the cheapest sum of edge resistances from a source, each edge weighted
by the viscosity scale ``S`` in force when it was crossed) and a local entry
threshold ``theta[v]`` that is *not* accumulated.  The front invades, one voxel at
a time, the candidate with the smallest priority ``D[v] + theta[v]``; ties are
broken by the smaller C-order flat index, so the result is deterministic.  The
edge resistance between face neighbours ``u`` and ``v`` along axis ``a`` is
``0.5 * (resist[u, a] + resist[v, a])`` (two half voxels in series).  ``S`` is a
piecewise-linear function of the cement volume already injected (cement cures:
its viscosity rises during the injection), evaluated when the invading voxel
relaxes its neighbours.

Site codes: ``site[v] == -1`` impassable, ``0`` inside the treated body, ``> 0``
outside the body (the code is the leak site of cement that leaves the body into
that voxel).  A voxel filled from an outside voxel inherits its parent's code (a
leak keeps the site where it left the body); cement never re-enters the body from
outside.

Pure invasion percolation is the limit of zero resistance (priority = threshold);
plain Dijkstra (compact, pressure-driven growth) is the limit of zero threshold.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ._numba import JIT


# ----------------------------------------------------------------------------- binary heap
# Parallel arrays (key float64, item int64); order is lexicographic on (key, item).

@njit(**JIT)
def _less(k1, i1, k2, i2):
    return k1 < k2 or (k1 == k2 and i1 < i2)


@njit(**JIT)
def _heap_push(keys, items, size, key, item):
    """Push (key, item); returns the (possibly reallocated) arrays and the new size."""
    if size == keys.shape[0]:
        nk = np.empty(2 * size + 16, np.float64)
        ni = np.empty(2 * size + 16, np.int64)
        nk[:size] = keys[:size]
        ni[:size] = items[:size]
        keys = nk
        items = ni
    pos = size
    keys[pos] = key
    items[pos] = item
    while pos > 0:
        parent = (pos - 1) >> 1
        if _less(keys[pos], items[pos], keys[parent], items[parent]):
            _swap(keys, items, pos, parent)
            pos = parent
        else:
            break
    return keys, items, size + 1


#: Face-neighbour steps (-x, +x, -y, +y, -z, +z); step d moves along axis d // 2.
_DI = (-1, 1, 0, 0, 0, 0)
_DJ = (0, 0, -1, 1, 0, 0)
_DK = (0, 0, 0, 0, -1, 1)


@njit(inline="always", **JIT)
def _neighbour(i, j, k, d, nx, ny, nz):
    """Flat C-order index and (ii, jj, kk) of face neighbour d of voxel (i, j, k),
    or -1 outside the grid."""
    ii = i + _DI[d]
    jj = j + _DJ[d]
    kk = k + _DK[d]
    if ii < 0 or jj < 0 or kk < 0 or ii >= nx or jj >= ny or kk >= nz:
        return -1, ii, jj, kk
    return (ii * ny + jj) * nz + kk, ii, jj, kk


@njit(**JIT)
def _swap(keys, items, i, j):
    tk = keys[i]
    ti = items[i]
    keys[i] = keys[j]
    items[i] = items[j]
    keys[j] = tk
    items[j] = ti


@njit(**JIT)
def _heap_pop(keys, items, size):
    """Pop the smallest (key, item); returns key, item, new size."""
    key = keys[0]
    item = items[0]
    size -= 1
    if size > 0:
        keys[0] = keys[size]
        items[0] = items[size]
        pos = 0
        while True:
            left = 2 * pos + 1
            if left >= size:
                break
            best = left
            right = left + 1
            if right < size and _less(keys[right], items[right], keys[left], items[left]):
                best = right
            if _less(keys[best], items[best], keys[pos], items[pos]):
                _swap(keys, items, pos, best)
                pos = best
            else:
                break
    return key, item, size


@njit(**JIT)
def _interp_scale(volume, knot_volume, knot_scale):
    """Piecewise-linear S(volume), constant beyond the end knots."""
    n = knot_volume.shape[0]
    if volume <= knot_volume[0]:
        return knot_scale[0]
    if volume >= knot_volume[n - 1]:
        return knot_scale[n - 1]
    lo = 0
    hi = n - 1
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if knot_volume[mid] <= volume:
            lo = mid
        else:
            hi = mid
    t = (volume - knot_volume[lo]) / (knot_volume[hi] - knot_volume[lo])
    return knot_scale[lo] + t * (knot_scale[hi] - knot_scale[lo])


# ----------------------------------------------------------------------------- front growth

@njit(**JIT)
def cement_front(site, capacity, resist, threshold, sources, knot_volume, knot_scale,
                 target_volume):
    """Grow the cement front until ``target_volume`` is placed or nothing is reachable.

    site : (nx, ny, nz) int8 -- -1 impassable, 0 inside the body, > 0 outside (leak site code)
    capacity : (nx, ny, nz) float64 [mm^3] -- cement volume a voxel takes when filled
    resist : (nx, ny, nz, 3) float64 [-] -- voxel resistance along x, y, z (>= 0)
    threshold : (nx, ny, nz) float64 [-] -- local entry threshold (>= 0), not accumulated
    sources : (n_src, 3) int64 -- voxel indices where cement enters (pressure 0)
    knot_volume : (m,) float64 [mm^3] increasing; knot_scale : (m,) float64 [-] > 0 --
        viscosity scale S as a function of the volume already injected
    target_volume : float [mm^3]

    Returns (order (n,) int64 flat C-order indices in fill order,
             cumulative (n,) float64 [mm^3] volume after each fill (the last may exceed
             the target by less than one voxel capacity),
             fill_site (n,) int8 site code of each filled voxel,
             pressure (n,) float64 [-] cumulative pressure D at invasion).
    """
    nx, ny, nz = site.shape
    n = nx * ny * nz
    sflat = site.ravel()
    cflat = capacity.ravel()
    tflat = threshold.ravel()
    best = np.full(n, np.inf)
    state = np.zeros(n, np.int8)            # 0 untouched, 1 queued, 2 filled
    vsite = np.zeros(n, np.int8)
    keys = np.empty(64, np.float64)
    items = np.empty(64, np.int64)
    size = 0
    for s in range(sources.shape[0]):
        i = sources[s, 0]
        j = sources[s, 1]
        k = sources[s, 2]
        f = (i * ny + j) * nz + k
        if sflat[f] < 0:
            continue
        if best[f] > 0.0:
            best[f] = 0.0
            vsite[f] = sflat[f]
            state[f] = 1
            keys, items, size = _heap_push(keys, items, size, tflat[f], f)
    cap_out = 1024
    order = np.empty(cap_out, np.int64)
    cumul = np.empty(cap_out, np.float64)
    fsite = np.empty(cap_out, np.int8)
    press = np.empty(cap_out, np.float64)
    count = 0
    volume = 0.0
    while size > 0 and volume < target_volume:
        key, f, size = _heap_pop(keys, items, size)
        if state[f] == 2:
            continue
        if key > best[f] + tflat[f]:
            continue                                   # stale entry
        state[f] = 2
        volume += cflat[f]
        if count == cap_out:
            cap_out *= 2
            o2 = np.empty(cap_out, np.int64)
            c2 = np.empty(cap_out, np.float64)
            s2 = np.empty(cap_out, np.int8)
            p2 = np.empty(cap_out, np.float64)
            o2[:count] = order[:count]
            c2[:count] = cumul[:count]
            s2[:count] = fsite[:count]
            p2[:count] = press[:count]
            order = o2
            cumul = c2
            fsite = s2
            press = p2
        order[count] = f
        cumul[count] = volume
        fsite[count] = vsite[f]
        press[count] = best[f]
        count += 1
        scale = _interp_scale(volume, knot_volume, knot_scale)
        k = f % nz
        j = (f // nz) % ny
        i = f // (ny * nz)
        for d in range(6):
            g, ii, jj, kk = _neighbour(i, j, k, d, nx, ny, nz)
            if g < 0:
                continue
            if sflat[g] < 0 or state[g] == 2:
                continue
            if vsite[f] > 0 and sflat[g] == 0:
                continue                               # no re-entry into the body
            axis = d // 2
            w = 0.5 * (resist[i, j, k, axis] + resist[ii, jj, kk, axis])
            nd = best[f] + scale * w
            if nd < best[g]:
                best[g] = nd
                vsite[g] = sflat[g] if vsite[f] == 0 else vsite[f]
                state[g] = 1
                keys, items, size = _heap_push(keys, items, size, nd + tflat[g], g)
    return order[:count].copy(), cumul[:count].copy(), fsite[:count].copy(), press[:count].copy()


# ----------------------------------------------------------------------------- distances

@njit(**JIT)
def resistance_distance(passable, resist, seeds, seed_cost):
    """Multi-source Dijkstra distance on the voxel graph.

    passable : (nx, ny, nz) bool -- voxels the path may use
    resist : (nx, ny, nz, 3) float64 [-] -- voxel resistance along x, y, z (>= 0)
    seeds : (n_seed,) int64 flat C-order indices; seed_cost : (n_seed,) float64 starting costs
    Returns (nx, ny, nz) float64 distance (inf where unreachable).
    Edge weight: 0.5 * (resist[u, a] + resist[v, a]), as in ``cement_front``.
    """
    nx, ny, nz = passable.shape
    n = nx * ny * nz
    pflat = passable.ravel()
    dist = np.full(n, np.inf)
    done = np.zeros(n, np.bool_)
    keys = np.empty(64, np.float64)
    items = np.empty(64, np.int64)
    size = 0
    for s in range(seeds.shape[0]):
        f = seeds[s]
        if not pflat[f]:
            continue
        if seed_cost[s] < dist[f]:
            dist[f] = seed_cost[s]
            keys, items, size = _heap_push(keys, items, size, seed_cost[s], f)
    while size > 0:
        key, f, size = _heap_pop(keys, items, size)
        if done[f] or key > dist[f]:
            continue
        done[f] = True
        k = f % nz
        j = (f // nz) % ny
        i = f // (ny * nz)
        for d in range(6):
            g, ii, jj, kk = _neighbour(i, j, k, d, nx, ny, nz)
            if g < 0:
                continue
            if not pflat[g] or done[g]:
                continue
            axis = d // 2
            nd = dist[f] + 0.5 * (resist[i, j, k, axis] + resist[ii, jj, kk, axis])
            if nd < dist[g]:
                dist[g] = nd
                keys, items, size = _heap_push(keys, items, size, nd, g)
    return dist.reshape((nx, ny, nz))
