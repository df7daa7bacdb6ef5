"""The power-flow Jacobian of the fast QSTS engine, compiled: polar form, rows and columns
``[Va(pv+pq), Vm(pq)]``, with the voltage-dependent loads' derivative on the ``dVm`` diagonal.

- :func:`jacobian_inverse`: the dense inverse, for the kernel's cache of operating points on small
  nets (:mod:`gridstudy.studies.qsts.fast_kernel`);
- :func:`jacobian_values`: the values of the sparse Jacobian on a pattern worked out once per
  ``Ybus`` (:meth:`gridstudy.studies.qsts.fast_model.FastModel.jacobian`), for its LU factors;
- :func:`lu_refactor`: the numeric LU factors of the sparse Jacobian on a symbolic factorisation
  (ordering and fill pattern) worked out once per ``Ybus``
  (:meth:`gridstudy.studies.qsts.fast_model.FastModel.lu_pattern`), and :func:`lu_solve_columns`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["jacobian_inverse", "jacobian_values", "invert", "lu_refactor", "lu_solve_columns"]


@njit(cache=True)
def jacobian_inverse(Yp: np.ndarray, Yj: np.ndarray, Yx: np.ndarray, V: np.ndarray, pvpq: np.ndarray, pq: np.ndarray,
                     pos_a: np.ndarray, pos_m: np.ndarray, dsd: np.ndarray, out: np.ndarray) -> None:
    """Dense inverse of the power-flow Jacobian at ``V`` into ``out`` (m x m).

    ``dS/dVa[b, c] = -j V_b conj(Y_bc V_c) + δ_bc j V_b conj(I_b)``,
    ``dS/dVm[b, c] = V_b conj(Y_bc V_c / |V_c|) + δ_bc conj(I_b) V_b / |V_b|``, plus ``dsd[b]``
    (the voltage-dependent loads' ``d(S_load)/d|V_b|`` [pu]) on the ``dVm`` diagonal; rows and
    columns ``[Va(pv+pq), Vm(pq)]`` (``pos_a``/``pos_m``: position of a bus, -1 if none)."""
    m = out.shape[0]
    J = np.zeros((m, m))
    nb = V.shape[0]
    for b in range(nb):
        ra, rm = pos_a[b], pos_m[b]
        if ra < 0 and rm < 0:
            continue
        Ib = 0j
        for k in range(Yp[b], Yp[b + 1]):
            Ib += Yx[k] * V[Yj[k]]
        for k in range(Yp[b], Yp[b + 1]):
            c = Yj[k]
            yv = Yx[k] * V[c]
            dva = -1j * V[b] * np.conj(yv)
            dvm = V[b] * np.conj(yv / abs(V[c]))
            if c == b:
                dva += 1j * V[b] * np.conj(Ib)
                dvm += np.conj(Ib) * V[b] / abs(V[b])
            ca, cm = pos_a[c], pos_m[c]
            if ra >= 0:
                if ca >= 0:
                    J[ra, ca] += dva.real
                if cm >= 0:
                    J[ra, cm] += dvm.real
            if rm >= 0:
                if ca >= 0:
                    J[rm, ca] += dva.imag
                if cm >= 0:
                    J[rm, cm] += dvm.imag
    for b in range(nb):
        d = dsd[b]
        cm = pos_m[b]
        if cm >= 0 and (d.real != 0.0 or d.imag != 0.0):
            if pos_a[b] >= 0:
                J[pos_a[b], cm] += d.real
            J[cm, cm] += d.imag
    invert(J, out)


@njit(cache=True)
def jacobian_values(Yp: np.ndarray, Yj: np.ndarray, Yx: np.ndarray, V: np.ndarray, Yrow: np.ndarray, src: np.ndarray,
                    kind: np.ndarray, dest: np.ndarray, dsd: np.ndarray, out: np.ndarray) -> None:
    """The sparse power-flow Jacobian's values at ``V`` into ``out`` (its CSC data): entry ``i`` of
    the pattern takes quadrant ``kind[i]`` (0: ``dP/dVa``, 1: ``dP/dVm``, 2: ``dQ/dVa``, 3:
    ``dQ/dVm``) of ``Ybus`` entry ``src[i]`` (row ``Yrow[src[i]]``), stored at ``out[dest[i]]``;
    the derivatives as in :func:`jacobian_inverse`, with ``dsd`` (the voltage-dependent loads'
    ``d(S_load)/d|V_b|`` [pu]) on the ``dVm`` diagonal."""
    nb = V.shape[0]
    Ib = np.zeros(nb, dtype=np.complex128)
    for b in range(nb):
        acc = 0j
        for k in range(Yp[b], Yp[b + 1]):
            acc += Yx[k] * V[Yj[k]]
        Ib[b] = acc
    for i in range(src.shape[0]):
        k = src[i]
        b = Yrow[k]
        c = Yj[k]
        yv = Yx[k] * V[c]
        q = kind[i]
        if q == 0 or q == 2:
            d = -1j * V[b] * np.conj(yv)
            if c == b:
                d += 1j * V[b] * np.conj(Ib[b])
        else:
            d = V[b] * np.conj(yv / abs(V[c]))
            if c == b:
                d += np.conj(Ib[b]) * V[b] / abs(V[b]) + dsd[b]
        out[dest[i]] = d.real if q < 2 else d.imag


@njit(cache=True)
def invert(A: np.ndarray, out: np.ndarray) -> None:
    """``out = A⁻¹`` by Gauss-Jordan elimination with partial pivoting, ``A`` overwritten (no
    allocation: the Jacobians here are small). A singular ``A`` gives a NaN ``out``."""
    m = A.shape[0]
    for r in range(m):
        for c in range(m):
            out[r, c] = 1.0 if r == c else 0.0
    for col in range(m):
        p = col
        big = abs(A[col, col])
        for r in range(col + 1, m):
            if abs(A[r, col]) > big:
                big = abs(A[r, col])
                p = r
        if not big > 0.0:
            out[:, :] = np.nan
            return
        if p != col:
            for c in range(m):
                A[p, c], A[col, c] = A[col, c], A[p, c]
                out[p, c], out[col, c] = out[col, c], out[p, c]
        inv = 1.0 / A[col, col]
        for c in range(m):
            A[col, c] *= inv
            out[col, c] *= inv
        for r in range(m):
            if r != col:
                f = A[r, col]
                if f != 0.0:
                    for c in range(m):
                        A[r, c] -= f * A[col, c]
                        out[r, c] -= f * out[col, c]


@njit(cache=True)
def lu_refactor(Jp: np.ndarray, Jj: np.ndarray, Jx: np.ndarray, q: np.ndarray, qinv: np.ndarray, Lp: np.ndarray,
                Li: np.ndarray, Lx: np.ndarray, Up: np.ndarray, Ui: np.ndarray, Ux: np.ndarray, Ud: np.ndarray,
                x: np.ndarray, pivot_rel: float) -> bool:
    """Numeric LU factors ``J[q][:, q] = L U`` of the CSC matrix ``(Jp, Jj, Jx)`` on a fixed
    symbolic factorisation: diagonal pivots in the order ``q`` (``qinv`` its inverse), ``L``
    (strictly lower, CSC ``Lp, Li``, unit diagonal implied) and ``U`` (strictly upper, CSC ``Up,
    Ui``, rows ascending in each column) holding every fill entry of that order. Writes ``Lx``,
    ``Ux`` and ``Ud`` (the reciprocal of ``U``'s diagonal); ``x`` is zeroed work space of length m,
    left zeroed. Up-looking column by column: column ``j`` of ``U`` is column ``q[j]`` of ``J``
    less the earlier columns of ``L`` times its own entries, in row order.

    Returns False when a pivot is not finite or below ``pivot_rel`` times the largest magnitude of
    its column of ``J`` (the caller then factorises with row pivoting instead)."""
    m = q.shape[0]
    for j in range(m):
        c = q[j]
        big = 0.0
        for t in range(Jp[c], Jp[c + 1]):
            v = Jx[t]
            x[qinv[Jj[t]]] = v
            if abs(v) > big:
                big = abs(v)
        for t in range(Up[j], Up[j + 1]):
            k = Ui[t]
            xk = x[k]
            Ux[t] = xk
            x[k] = 0.0
            if xk != 0.0:
                for s in range(Lp[k], Lp[k + 1]):
                    x[Li[s]] -= Lx[s] * xk
        d = x[j]
        x[j] = 0.0
        ok = abs(d) > pivot_rel * big and np.isfinite(d)
        inv = 1.0 / d if ok else 0.0
        Ud[j] = inv
        for s in range(Lp[j], Lp[j + 1]):
            i = Li[s]
            Lx[s] = x[i] * inv
            x[i] = 0.0
        if not ok:
            for t in range(m):  # leave the work space zeroed
                x[t] = 0.0
            return False
    return True


@njit(cache=True)
def lu_solve_columns(Lp: np.ndarray, Li: np.ndarray, Lx: np.ndarray, Up: np.ndarray, Ui: np.ndarray, Ux: np.ndarray,
                     Ud: np.ndarray, perm_r: np.ndarray, perm_c: np.ndarray, B: np.ndarray, out: np.ndarray) -> None:
    """``out[x] = J⁻¹ B[:, x]`` for each column of ``B`` (m x kd), from the factors ``Pr J Pc = L U``
    in the layout of :class:`gridstudy.studies.qsts.fast_model.FactorSet` (one slot's rows)."""
    m = B.shape[0]
    work = np.empty(m)
    for x in range(B.shape[1]):
        for i in range(m):
            work[perm_r[i]] = B[i, x]
        for j in range(m):
            yj = work[j]
            if yj != 0.0:
                for k in range(Lp[j], Lp[j + 1]):
                    work[Li[k]] -= Lx[k] * yj
        for j in range(m - 1, -1, -1):
            yj = work[j] * Ud[j]
            work[j] = yj
            if yj != 0.0:
                for k in range(Up[j], Up[j + 1]):
                    work[Ui[k]] -= Ux[k] * yj
        for i in range(m):
            out[x, i] = work[perm_c[i]]
