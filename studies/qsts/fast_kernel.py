"""Compiled inner loop of the fast QSTS engine: chord Newton-Raphson over a block of steps.

One power flow per step in polar coordinates, unknowns ``[Va(pv+pq), Vm(pq)]``, mismatch
``V·conj(Ybus·V) - Sbus`` (per unit on the net's ``sn_mva``). The Jacobian is fixed (chord
method): its factorisation comes from the caller, either as a dense inverse (small nets) or as the
sparse LU factors of :func:`scipy.sparse.linalg.splu`. Each step starts from the previous step's
solution (warm start). Between steps the on-load tap changer timers run; volt-var is a fixed point
of solve ↔ battery Q inside each step.

The kernel stops and hands control back to Python when the caller must act:

``DONE``
    every step of the block is solved.
``REFRESH``
    step ``i`` converged but slowly: refactorise the Jacobian at the current voltages.
``FAILED``
    step ``i`` did not converge with the chord Jacobian (not recorded): retry with full
    Newton-Raphson.
``TAP``
    after step ``i`` a tap moved (``tap_pos`` updated): rebuild ``Ybus`` and continue at ``i + 1``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

DONE, REFRESH, FAILED, TAP = 0, 1, 2, 3

#: fast-math without the no-NaN/no-inf assumptions (the kernel tests for NaN)
_FM = {"nsz", "arcp", "contract", "afn", "reassoc"}


@njit(cache=True, fastmath=_FM, error_model="numpy")
def _mismatch(Yp, Yj, Yx, V, Sbus, pvpq, pq, F):
    """Fill ``F`` with ``[Re(mis)[pvpq], Im(mis)[pq]]``; return ``max|F|`` [pu]."""
    npvpq = pvpq.shape[0]
    worst = 0.0
    for a in range(npvpq):
        b = pvpq[a]
        acc = 0j
        for k in range(Yp[b], Yp[b + 1]):
            acc += Yx[k] * V[Yj[k]]
        mis = V[b] * np.conj(acc) - Sbus[b]
        F[a] = mis.real
        if abs(mis.real) > worst:
            worst = abs(mis.real)
    for a in range(pq.shape[0]):
        b = pq[a]
        acc = 0j
        for k in range(Yp[b], Yp[b + 1]):
            acc += Yx[k] * V[Yj[k]]
        mis = V[b] * np.conj(acc) - Sbus[b]
        F[npvpq + a] = mis.imag
        if abs(mis.imag) > worst:
            worst = abs(mis.imag)
    return worst


@njit(cache=True, fastmath=_FM, error_model="numpy")
def _solve(dense, Jinv, Lp, Li, Lx, Up, Ui, Ux, Ud, perm_r, perm_c, F, dx, work):
    """``dx = J⁻¹ F`` from a dense inverse or from sparse LU factors (``Pr J Pc = L U``)."""
    m = F.shape[0]
    if dense:
        for r in range(m):
            acc = 0.0
            for c in range(m):
                acc += Jinv[r, c] * F[c]
            dx[r] = acc
        return
    for i in range(m):
        work[perm_r[i]] = F[i]
    for j in range(m):  # L is unit lower triangular (off-diagonal part only)
        yj = work[j]
        if yj != 0.0:
            for k in range(Lp[j], Lp[j + 1]):
                work[Li[k]] -= Lx[k] * yj
    for j in range(m - 1, -1, -1):  # U upper triangular: diagonal Ud, strictly upper part
        work[j] /= Ud[j]
        yj = work[j]
        if yj != 0.0:
            for k in range(Up[j], Up[j + 1]):
                work[Ui[k]] -= Ux[k] * yj
    for i in range(m):
        dx[i] = work[perm_c[i]]


@njit(cache=True)
def _jacobian_inverse(Yp, Yj, Yx, V, pvpq, pq, pos_a, pos_m, out):
    """Dense inverse of the power-flow Jacobian at ``V`` into ``out`` (m x m).

    ``dS/dVa[b, c] = -j V_b conj(Y_bc V_c) + δ_bc j V_b conj(I_b)``,
    ``dS/dVm[b, c] = V_b conj(Y_bc V_c / |V_c|) + δ_bc conj(I_b) V_b / |V_b|``; rows and columns
    ``[Va(pv+pq), Vm(pq)]`` (``pos_a``/``pos_m``: position of a bus, -1 if none)."""
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
    out[:, :] = np.linalg.inv(J)


@njit(cache=True, fastmath=_FM, error_model="numpy")
def _chord(Yp, Yj, Yx, Vm, Va, V, Sbus, pvpq, pq, dense, Jc, Jkey, Jstate, key, pos_a, pos_m,
           Lp, Li, Lx, Up, Ui, Ux, Ud, perm_r, perm_c, F, dx, work, tol, max_iter, ratio):
    """Chord iterations from ``Vm, Va`` in place; return ``(iterations, max|F|)``.

    Dense mode keeps a small cache of Jacobian inverses ``Jc`` keyed by the operating point
    ``key`` (scheduled consumer P of the changing elements) [pu]; ``Jstate = [used, next slot,
    inversions]``. It starts from the nearest cached inverse and, when an iteration contracts the
    mismatch by less than ``1 / ratio``, inverts the Jacobian at the current voltages (Newton step) into the
    cache. Sparse mode uses the caller's LU factors throughout.
    """
    npvpq = pvpq.shape[0]
    nb = Vm.shape[0]
    for b in range(nb):
        V[b] = complex(Vm[b] * math.cos(Va[b]), Vm[b] * math.sin(Va[b]))
    worst = _mismatch(Yp, Yj, Yx, V, Sbus, pvpq, pq, F)
    slot = -1
    if dense and worst > tol:
        best = 1e300
        for c in range(Jstate[0]):
            d = abs(Jkey[c] - key)
            if d < best:
                best = d
                slot = c
    it = 0
    while worst > tol and it < max_iter:
        if not np.isfinite(worst):
            break
        if dense and slot < 0:
            if Jstate[0] < Jc.shape[0]:
                slot = Jstate[0]
                Jstate[0] += 1
            else:
                slot = Jstate[1]
                Jstate[1] = (Jstate[1] + 1) % Jc.shape[0]
            _jacobian_inverse(Yp, Yj, Yx, V, pvpq, pq, pos_a, pos_m, Jc[slot])
            Jkey[slot] = key
            Jstate[2] += 1
        _solve(dense, Jc[max(slot, 0)], Lp, Li, Lx, Up, Ui, Ux, Ud, perm_r, perm_c, F, dx, work)
        for a in range(npvpq):
            Va[pvpq[a]] -= dx[a]
        for a in range(pq.shape[0]):
            Vm[pq[a]] -= dx[npvpq + a]
        for a in range(npvpq):
            b = pvpq[a]
            V[b] = complex(Vm[b] * math.cos(Va[b]), Vm[b] * math.sin(Va[b]))
        prev = worst
        worst = _mismatch(Yp, Yj, Yx, V, Sbus, pvpq, pq, F)
        it += 1
        if dense and worst > tol and worst > ratio * prev:
            slot = -1  # slow: a fresh Jacobian at the current point next iteration
    return it, worst


@njit(cache=True)
def tap_update(Vm, tap_on, tap_lv, tap_vset, tap_db, tap_delay, tap_dir, tap_min, tap_max,
               tap_pos, t_up, t_down, dt):
    """Advance the tap timers by one step ``dt`` [s] at LV voltages ``Vm`` [pu]; return whether a
    tap moved.

    Above ``vm_set + db`` the up-timer runs (down-timer reset), below ``vm_set - db`` the
    down-timer, inside the band (or NaN) both reset. A timer that reaches ``delay - 1e-9`` moves the
    tap one step (``tap_dir``: the tap_pos change that lowers the LV voltage) unless at its limit,
    and resets (at the limit: no move, the timer is capped at ``delay``). ``tap_pos``, ``t_up``, ``t_down`` are updated in place.
    """
    moved = False
    for t in range(tap_lv.shape[0]):
        if not tap_on[t]:
            continue
        v = Vm[tap_lv[t]]
        if v > tap_vset[t] + tap_db[t]:
            t_up[t] += dt
            t_down[t] = 0.0
        elif v < tap_vset[t] - tap_db[t]:
            t_down[t] += dt
            t_up[t] = 0.0
        else:
            t_up[t] = 0.0
            t_down[t] = 0.0
        if t_up[t] >= tap_delay[t] - 1e-9:
            new = tap_pos[t] + tap_dir[t]
            if tap_min[t] <= new <= tap_max[t]:
                tap_pos[t] = new
                t_up[t] = 0.0
                moved = True
            else:
                t_up[t] = min(t_up[t], tap_delay[t])
        if t_down[t] >= tap_delay[t] - 1e-9:
            new = tap_pos[t] - tap_dir[t]
            if tap_min[t] <= new <= tap_max[t]:
                tap_pos[t] = new
                t_down[t] = 0.0
                moved = True
            else:
                t_down[t] = min(t_down[t], tap_delay[t])
    return moved


@njit(cache=True)
def solve_block(
    start, stop,
    Yp, Yj, Yx, Sbus0, el_bus, el_w, el_p, el_q,
    ref_bus, ref_vm, pv_bus, pv_vm, pvpq, pq,
    dense, Jc, Jkey, Jstate, pos_a, pos_m, Lp, Li, Lx, Up, Ui, Ux, Ud, perm_r, perm_c,
    Vm, Va,
    vv_el, vv_bus, vv_sn, vv_p0, vv_q0, vv_cv, vv_cq, vv_q, vv_tol, vv_max,
    tap_on, tap_lv, tap_vset, tap_db, tap_delay, tap_dir, tap_min, tap_max, tap_pos, t_up, t_down, dt,
    tol, max_iter, slow_iter, ratio,
    out_V, out_conv, out_iter, out_mis, out_vvq,
):
    """Solve steps ``start .. stop-1`` of the block; return ``(status, step)``.

    ``el_p``/``el_q`` are the per-step deltas of the changing elements' consumer power from the
    values built into ``Sbus0`` [MW, Mvar]; ``el_w`` their ``scaling / sn_mva`` weights [1/MVA].
    Volt-var elements (``vv_el``, indices into the element columns) get ``Q = curve(vm) · sn``
    limited to ``sqrt(sn² - P²)`` [Mvar]; ``vv_q`` holds each one's last Q (state, delta form).
    Tap timers ``t_up``/``t_down`` [s] and ``tap_pos`` are state, updated in place.
    """
    nb = Vm.shape[0]
    m = pvpq.shape[0] + pq.shape[0]
    F = np.empty(m)
    dx = np.empty(m)
    work = np.empty(m)
    V = np.empty(nb, dtype=np.complex128)
    Sbus = np.empty(nb, dtype=np.complex128)
    Vm_prev = np.empty(nb)
    Va_prev = np.empty(nb)
    n_el = el_bus.shape[0]
    n_vv = vv_el.shape[0]
    vv_qp = np.empty(n_vv)
    vv_fp = np.empty(n_vv)
    for i in range(start, stop):
        for b in range(nb):
            Sbus[b] = Sbus0[b]
            Vm_prev[b] = Vm[b]
            Va_prev[b] = Va[b]
        key = 0.0
        for e in range(n_el):
            Sbus[el_bus[e]] -= el_w[e] * (el_p[i, e] + 1j * el_q[i, e])
            key += el_w[e] * el_p[i, e]
        for r in range(ref_bus.shape[0]):
            Vm[ref_bus[r]] = ref_vm[i, r]
        for r in range(pv_bus.shape[0]):
            Vm[pv_bus[r]] = pv_vm[r]
        # volt-var fixed point: the element's delta Q is replaced by vv_q (absolute minus base)
        for a in range(n_vv):
            e = vv_el[a]
            Sbus[el_bus[e]] -= el_w[e] * 1j * (vv_q[a] - el_q[i, e])
        iters = 0
        ok = False
        worst = 0.0
        # volt-var: secant-damped fixed point on h(q) = f(V(q)) - q, the same update as
        # studies.qsts.controllers.volt_var_update (Newton on h with a secant slope; a plain
        # fixed point diverges when the loop gain exceeds 1)
        for a in range(n_vv):
            vv_qp[a] = np.nan
        for fp in range(vv_max):
            it, worst = _chord(Yp, Yj, Yx, Vm, Va, V, Sbus, pvpq, pq, dense, Jc, Jkey, Jstate, key,
                               pos_a, pos_m, Lp, Li, Lx, Up, Ui, Ux, Ud, perm_r, perm_c, F, dx, work,
                               tol, max_iter, ratio)
            iters += it
            if not worst <= tol:
                break
            change = 0.0
            for a in range(n_vv):
                e = vv_el[a]
                sn = vv_sn[a]
                p = vv_p0[a] + el_p[i, e]
                qlim = np.sqrt(max(sn * sn - p * p, 0.0))
                q = np.interp(Vm[vv_bus[a]], vv_cv, vv_cq) * sn
                qd = min(max(q, -qlim), qlim) - vv_q0[a]
                r = qd - vv_q[a]
                if abs(r) > change:
                    change = abs(r)
                dq = r
                if not np.isnan(vv_qp[a]):
                    dqq = vv_q[a] - vv_qp[a]
                    g = -(qd - vv_fp[a]) / dqq if abs(dqq) > 1e-12 else 0.0
                    if not g > 0.0:
                        g = 0.0
                    dq = r / (1.0 + g)
                vv_qp[a] = vv_q[a]
                vv_fp[a] = qd
                if abs(r) < vv_tol:
                    dq = 0.0  # settled: keep the Q the voltages were solved with
                Sbus[el_bus[e]] -= el_w[e] * 1j * dq
                vv_q[a] = vv_q[a] + dq
            if change < vv_tol:
                ok = True
                break
        if not ok:
            for b in range(nb):
                Vm[b] = Vm_prev[b]
                Va[b] = Va_prev[b]
            return FAILED, i
        for b in range(nb):
            out_V[i, b] = Vm[b] * np.exp(1j * Va[b])
        out_conv[i] = True
        out_iter[i] = iters
        out_mis[i] = worst
        for a in range(n_vv):
            out_vvq[i, a] = vv_q[a]
        moved = tap_update(Vm, tap_on, tap_lv, tap_vset, tap_db, tap_delay, tap_dir, tap_min, tap_max,
                           tap_pos, t_up, t_down, dt)
        if moved:
            return TAP, i
        if iters > slow_iter and not dense:
            return REFRESH, i
    return DONE, stop
