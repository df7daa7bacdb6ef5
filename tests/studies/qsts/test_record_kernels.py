"""The recorder's compiled kernels against the numpy reductions they replace (written out here):
extremes with their steps, and 1-minute envelopes with the compact convergence record. Min and
max involve no rounding, so the kernels must agree exactly, NaN placement and steps included."""

import numpy as np

from gridstudy.studies.qsts.results import _envelope_kernel, _extremes_kernel


def numpy_extremes(x, start, mn, mx, mn_at, mx_at):
    """ResultRecorder._extremes as it was: block argmin/argmax, then a strict comparison."""
    if x.shape[1] == 0 or x.shape[0] == 0:
        return
    lo = np.where(np.isnan(x), np.inf, x)
    hi = np.where(np.isnan(x), -np.inf, x)
    ilo, ihi = lo.argmin(axis=0), hi.argmax(axis=0)
    cols = np.arange(x.shape[1])
    vlo, vhi = lo[ilo, cols], hi[ihi, cols]
    better = vlo < mn
    mn[better], mn_at[better] = vlo[better], start + ilo[better]
    better = vhi > mx
    mx[better], mx_at[better] = vhi[better], start + ihi[better]


def numpy_envelopes(S, codes, env_min, env_max, conv, iters, mis, r_conv, r_iter, r_mis):
    """ResultRecorder.add_block's reduceat path as it was."""
    cuts = np.flatnonzero(np.diff(codes)) + 1
    starts = np.r_[0, cuts]
    ids = codes[starts]
    r_conv[ids] &= np.logical_and.reduceat(conv, starts)
    r_iter[ids] = np.maximum(r_iter[ids], np.maximum.reduceat(iters.astype(np.int16), starts))
    m = mis.astype(np.float32)
    r_mis[ids] = np.fmax(r_mis[ids], np.fmax.reduceat(m, starts))
    for s in range(S.shape[0]):
        env_min[s, ids] = np.fmin(env_min[s, ids], np.fmin.reduceat(S[s], starts))
        env_max[s, ids] = np.fmax(env_max[s, ids], np.fmax.reduceat(S[s], starts))


def data(rng, k, n):
    # coarse values (many ties), signed zeros, NaN rows and NaN entries
    x = np.round(rng.normal(size=(k, n)), 1)
    x[rng.random((k, n)) < 0.05] = 0.0
    x[rng.random((k, n)) < 0.05] = -0.0
    x[rng.random((k, n)) < 0.05] = np.nan
    x[rng.random(k) < 0.02] = np.nan
    return x


def test_extremes_kernel_equals_numpy():
    rng = np.random.default_rng(7)
    n = 6
    st_k = [np.full(n, np.inf), np.full(n, -np.inf), np.full(n, -1), np.full(n, -1)]
    st_n = [a.copy() for a in st_k]
    start = 0
    for k in (1, 50, 0, 333, 7):
        x = data(rng, k, n)
        if k == 7:
            x[:, 2] = np.nan  # a column with no value in the block
        _extremes_kernel(x, start, *st_k)
        numpy_extremes(x, start, *st_n)
        start += k
    for a, b in zip(st_k, st_n, strict=True):
        assert np.array_equal(a, b)
        assert np.array_equal(np.signbit(a), np.signbit(b))


def test_envelope_kernel_equals_numpy():
    rng = np.random.default_rng(11)
    ns, ne = 4, 40
    per = 60  # steps per interval
    kern = [np.full((ns, ne), np.nan), np.full((ns, ne), np.nan), np.ones(ne, bool), np.zeros(ne, np.int16),
            np.full(ne, np.nan, np.float32)]
    ref = [a.copy() for a in kern]
    start = 0
    for k in (17, 100, 1, 500, 300, 157):  # blocks that cut intervals anywhere
        S = data(rng, k, ns).T.copy()
        codes = (np.arange(start, start + k, dtype=np.int64) + 13) // per
        conv = rng.random(k) > 0.01
        iters = rng.integers(0, 9, k)
        mis = rng.random(k) * 1e-9
        mis[rng.random(k) < 0.1] = np.nan
        _envelope_kernel(S, codes, kern[0], kern[1], conv, iters, mis, kern[2], kern[3], kern[4])
        numpy_envelopes(S, codes, ref[0], ref[1], conv, iters, mis, ref[2], ref[3], ref[4])
        start += k
    for a, b in zip(kern, ref, strict=True):
        assert a.dtype == b.dtype
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
        if a.dtype.kind == "f":
            assert np.array_equal(np.signbit(a), np.signbit(b))
