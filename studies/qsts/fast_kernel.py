"""Compiled inner loop of the fast QSTS engine: chord Newton-Raphson over a block of steps.

One power flow per step in polar coordinates, unknowns ``[Va(pv+pq), Vm(pq)]``, mismatch
``V·conj(Ybus·V) - Sbus`` (per unit on the net's ``sn_mva``). The Jacobian is fixed (chord
method). Small nets (dense mode) keep a cache of operating points, each a Jacobian inverse with the
voltages where it was taken; a step starts from the nearest of the cached points and the previous
step's solution, and iterates with the nearest point's Jacobian. Larger nets (sparse mode) use
sparse LU factorisations that the caller computes
(:meth:`gridstudy.studies.qsts.fast_model.FactorSet.factorise`) at a few
operating points, with the sensitivities of the unknowns to the changing injections: a step starts
from the nearest recent solution, takes a first-order predictor from it, and iterates with the
nearest factorisation. Between steps the on-load tap changer timers run; volt-var is a fixed point of
solve ↔ battery Q inside each step, with the plant's first-order response (implicit: the lagged
target ``Q_{k-1} + (f(V_k) - Q_{k-1})·a`` at the step's own voltage, see
:mod:`gridstudy.studies.qsts.controllers`). Voltage-dependent campus loads
(:mod:`gridstudy.models.campus_voltage`) enter the mismatch exactly: their injection
``-S_sched·m(|V|)`` is re-evaluated with the voltages at every iteration, and the dense Jacobian
carries its derivative ``S_sched·m'(|V|)`` on the ``dVm`` diagonal.

The per-step loop is written out in :func:`solve_block` rather than split into helpers: on these
small systems a call with array arguments (reference counting of each array) costs more than a
chord iteration.

The kernel stops and hands control back to Python when the caller must act:

``DONE``
    every step of the block is solved.
``REFRESH``
    (sparse mode) step ``i`` converged but slowly: add a factorisation at the current voltages.
``FAILED``
    step ``i`` did not converge with the chord Jacobian (not recorded): retry with full
    Newton-Raphson.
``TAP``
    after step ``i`` a tap moved (``tap_pos`` updated): rebuild ``Ybus`` and continue at ``i + 1``.
``LIMIT``
    step ``i`` converged with the grid-forming plant's current above its limit (not recorded; the
    voltages are the step's source-mode solution): solve it again with the plant on the limit
    circle (:mod:`gridstudy.studies.qsts.grid_forming`), advance the loop and the taps, continue at
    ``i + 1``.

Grid-forming plant (``gfm_r >= 0``): the plant's EMF is the slack ``ref_bus[gfm_r]``; each step
its magnitude and angle come from the loop's state ``gfm_x`` (written into ``ref_vm[i, gfm_r]``
and ``gfm_va[i]``; the angle is one more component of the key), and after a converged step the
plant's injection at that bus (row product of ``Ybus`` with ``V``) is checked against the current
limit and advances the loop with the compiled :func:`gridstudy.models.grid_forming.loop_step`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from gridstudy.models.campus_voltage import multiplier, multiplier_slope
from gridstudy.models.grid_forming import S_DELTA, S_E, loop_step
from gridstudy.studies.qsts.controllers import DELAY_EPS_S
from gridstudy.studies.qsts.fast_jacobian import jacobian_inverse

DONE, REFRESH, FAILED, TAP, LIMIT = 0, 1, 2, 3, 4

#: the campus characteristic of the models layer, compiled: one definition for both engines
_vd_m = njit(cache=True, fastmath=False)(multiplier)
_vd_dm = njit(cache=True, fastmath=False)(multiplier_slope)
#: the grid-forming plant's power loop of the models layer, compiled: one definition for both engines
_gfm_loop = njit(cache=True, fastmath=False)(loop_step)

#: fast-math without the no-NaN/no-inf assumptions (the kernel tests for NaN)
_FM = {"nsz", "arcp", "contract", "afn", "reassoc"}


@njit(cache=True, fastmath=_FM, error_model="numpy", inline="always")
def _lu_solve(f: int, Lp: np.ndarray, Li: np.ndarray, Lx: np.ndarray, Up: np.ndarray, Ui: np.ndarray, Ux: np.ndarray,
              Ud: np.ndarray, perm_r: np.ndarray, perm_c: np.ndarray, F: np.ndarray, dx: np.ndarray,
              work: np.ndarray) -> None:
    """``dx = J⁻¹ F`` from the sparse LU factors of slot ``f`` (rows ``f`` of the factor arrays:
    ``Pr J Pc = L U``; ``L`` unit lower triangular without its diagonal, ``U`` strictly upper with
    the reciprocal of its diagonal in ``Ud``). Inlined and indexed by slot: no array views per
    call."""
    m = F.shape[0]
    for i in range(m):
        work[perm_r[f, i]] = F[i]
    for j in range(m):
        yj = work[j]
        if yj != 0.0:
            for k in range(Lp[f, j], Lp[f, j + 1]):
                work[Li[f, k]] -= Lx[f, k] * yj
    for j in range(m - 1, -1, -1):
        yj = work[j] * Ud[f, j]
        work[j] = yj
        if yj != 0.0:
            for k in range(Up[f, j], Up[f, j + 1]):
                work[Ui[f, k]] -= Ux[f, k] * yj
    for i in range(m):
        dx[i] = work[perm_c[f, i]]


@njit(cache=True, fastmath=_FM, error_model="numpy", inline="always")
def _apply(dx: np.ndarray, pvpq: np.ndarray, pq: np.ndarray, Va: np.ndarray, Vm: np.ndarray, V: np.ndarray) -> None:
    """``x -= dx`` on the unknowns ``[Va(pv+pq), Vm(pq)]``, and ``V`` with them: rotated by the
    angle correction (cos/sin by their series for the small corrections of a chord step: the
    first omitted terms, d⁶/720 and d⁷/5040, are below 2e-15 for |d| < 1e-2 rad) and scaled by
    the magnitude correction, instead of a cos/sin per bus and iteration."""
    npvpq = pvpq.shape[0]
    for a in range(npvpq):
        b = pvpq[a]
        d = -dx[a]
        Va[b] += d
        if abs(d) < 1e-2:
            d2 = d * d
            V[b] = V[b] * complex(1.0 - d2 * (0.5 - d2 / 24.0), d * (1.0 - d2 * (1.0 / 6.0 - d2 / 120.0)))
        else:
            V[b] = V[b] * complex(math.cos(d), math.sin(d))
    for a in range(pq.shape[0]):
        b = pq[a]
        vm_new = Vm[b] - dx[npvpq + a]
        V[b] = V[b] * (vm_new / Vm[b])
        Vm[b] = vm_new


@njit(cache=True, inline="always")
def _nearest(keys: np.ndarray, used: int, key: np.ndarray) -> tuple[int, float]:
    """The row of ``keys[:used]`` nearest to ``key`` (L1 distance) and its distance; ``(-1, 1e300)``
    when none is used."""
    row = -1
    best = 1e300
    for c in range(used):
        d = 0.0
        for x in range(key.shape[0]):
            d += abs(keys[c, x] - key[x])
        if d < best:
            best = d
            row = c
    return row, best


@njit(cache=True, nogil=True)
def vd_multipliers(V: np.ndarray, buses: np.ndarray, par: np.ndarray, out: np.ndarray) -> None:
    """``out[i, a]``: the voltage-dependent load ``a``'s draw per unit of its schedule at step
    ``i`` (:func:`gridstudy.models.campus_voltage.multiplier` of ``|V[i, buses[a]]|``, parameters
    ``par``)."""
    for i in range(V.shape[0]):
        for a in range(buses.shape[0]):
            out[i, a] = _vd_m(abs(V[i, buses[a]]), par[0], par[1], par[2], par[3])


@njit(cache=True)
def _insert(Yp: np.ndarray, Yj: np.ndarray, Yx: np.ndarray, V: np.ndarray, Vm: np.ndarray, Va: np.ndarray,
            pvpq: np.ndarray, pq: np.ndarray, pos: np.ndarray, key: np.ndarray, Jc: np.ndarray, Ckey: np.ndarray,
            CVm: np.ndarray, CVa: np.ndarray, Jstate: np.ndarray, dsd: np.ndarray) -> int:
    """Invert the Jacobian at ``V`` (load derivative ``dsd``,
    :func:`gridstudy.studies.qsts.fast_jacobian.jacobian_inverse`) into a
    free (or the oldest) cache slot keyed by ``key``, with ``Vm, Va`` as the slot's voltages;
    return the slot."""
    if Jstate[0] < Jc.shape[0]:
        slot: int = Jstate[0]  # an element of the int64 state array
        Jstate[0] += 1
    else:
        slot = Jstate[1]
        Jstate[1] = (Jstate[1] + 1) % Jc.shape[0]
    jacobian_inverse(Yp, Yj, Yx, V, pvpq, pq, pos[0], pos[1], dsd, Jc[slot])
    Ckey[slot, :] = key
    CVm[slot, :] = Vm
    CVa[slot, :] = Va
    Jstate[2] += 1
    return slot


@njit(cache=True)
def tap_update(Vm: np.ndarray, tap_i: np.ndarray, tap_f: np.ndarray, tap_pos: np.ndarray, timers: np.ndarray,
               dt: float) -> bool:
    """Advance the tap timers by one step ``dt`` [s] at LV voltages ``Vm`` [pu]; return whether a
    tap moved.

    Per regulating transformer ``t``: ``tap_i[:, t] = (enabled, LV bus, direction, tap_min,
    tap_max)`` (direction: the tap_pos change that lowers the LV voltage), ``tap_f[:, t] =
    (vm_set [pu], deadband [pu], delay [s])``, ``timers[:, t] = (up, down)`` [s] (state).
    Above ``vm_set + db`` the up-timer runs (down-timer reset), below ``vm_set - db`` the
    down-timer, inside the band (or NaN) both reset. A timer that reaches ``delay - DELAY_EPS_S``
    (:data:`gridstudy.studies.qsts.controllers.DELAY_EPS_S`) moves the tap one step unless at its limit, and
    resets (at the limit: no move, the timer is capped at ``delay``). ``tap_pos`` and ``timers`` are updated in place. (Few array arguments: each costs
    reference counting per call, and this runs every step.)
    """
    moved = False
    for t in range(tap_pos.shape[0]):
        if not tap_i[0, t]:
            continue
        v = Vm[tap_i[1, t]]
        vset, db, delay = tap_f[0, t], tap_f[1, t], tap_f[2, t]
        if v > vset + db:
            timers[0, t] += dt
            timers[1, t] = 0.0
        elif v < vset - db:
            timers[1, t] += dt
            timers[0, t] = 0.0
        else:
            timers[0, t] = 0.0
            timers[1, t] = 0.0
        for d in range(2):  # 0: up-timer lowers the voltage (+direction), 1: down-timer raises it
            if timers[d, t] >= delay - DELAY_EPS_S:
                new = tap_pos[t] + (tap_i[2, t] if d == 0 else -tap_i[2, t])
                if tap_i[3, t] <= new <= tap_i[4, t]:
                    tap_pos[t] = new
                    timers[d, t] = 0.0
                    moved = True
                else:
                    timers[d, t] = min(timers[d, t], delay)
    return moved


@njit(cache=True)
def _vd_slope(vd_el: np.ndarray, el_bus: np.ndarray, vd_s: np.ndarray, Vm: np.ndarray, vd_par: np.ndarray,
              dsd: np.ndarray) -> None:
    """``dsd[b] = Σ S_sched · m'(|V_b|)`` over the voltage-dependent loads at bus ``b`` [pu]."""
    for a in range(vd_el.shape[0]):
        dsd[el_bus[vd_el[a]]] = 0.0
    for a in range(vd_el.shape[0]):
        b = el_bus[vd_el[a]]
        dsd[b] += vd_s[a] * _vd_dm(Vm[b], vd_par[0], vd_par[1], vd_par[2], vd_par[3])


@njit(cache=True, nogil=True)
def solve_block(
    start: int, stop: int,
    Yp: np.ndarray, Yj: np.ndarray, Yx: np.ndarray, Sbus0: np.ndarray, el_bus: np.ndarray, el_w: np.ndarray,
    el_p: np.ndarray, el_q: np.ndarray,
    ref_bus: np.ndarray, ref_vm: np.ndarray, ref_w: np.ndarray, pv_bus: np.ndarray, pv_vm: np.ndarray, pvpq: np.ndarray,
    pq: np.ndarray,
    dense: bool, Jc: np.ndarray, Ckey: np.ndarray, CVm: np.ndarray, CVa: np.ndarray, CV: np.ndarray, Jstate: np.ndarray,
    key_prev: np.ndarray, pos: np.ndarray,
    Lp: np.ndarray, Li: np.ndarray, Lx: np.ndarray, Up: np.ndarray, Ui: np.ndarray, Ux: np.ndarray, Ud: np.ndarray,
    perm_r: np.ndarray, perm_c: np.ndarray, Fs: np.ndarray, Fkey: np.ndarray, Fstate: np.ndarray,
    Vm: np.ndarray, Va: np.ndarray,
    vv_el: np.ndarray, vv_bus: np.ndarray, vv_sn: np.ndarray, vv_p0: np.ndarray, vv_q0: np.ndarray, vv_cv: np.ndarray,
    vv_cq: np.ndarray, vv_q: np.ndarray, vv_tol: float, vv_max: int, vv_alpha: float, vv_lag_from: int,
    vd_el: np.ndarray, vd_p0: np.ndarray, vd_q0: np.ndarray, vd_par: np.ndarray,
    tap_i: np.ndarray, tap_f: np.ndarray, tap_pos: np.ndarray, timers: np.ndarray, dt: float,
    tol: float, max_iter: int, slow_iter: int, ratio: float, insert_iter: int,
    out_V: np.ndarray, out_conv: np.ndarray, out_iter: np.ndarray, out_mis: np.ndarray, out_vvq: np.ndarray,
    gfm_r: int, gfm_t: int, gfm_par: np.ndarray, gfm_c: np.ndarray, gfm_x: np.ndarray, gfm_set: np.ndarray,
    gfm_va: np.ndarray, gfm_out: np.ndarray,
) -> tuple[int, int]:
    """Solve steps ``start .. stop-1`` of the block; return ``(status, step)``.

    ``el_p``/``el_q`` are the per-step deltas of the changing elements' consumer power from the
    values built into ``Sbus0`` [MW, Mvar]; ``el_w`` their ``scaling / sn_mva`` weights [1/MVA].
    Volt-var elements (``vv_el``, indices into the element columns) follow ``f = curve(vm) · sn``
    limited to ``sqrt(sn² - P²)`` [Mvar] with the lag ``Q = clip(Q_prev + (f - Q_prev)·vv_alpha)``
    (``vv_alpha`` [-]: 1.0 = at once; applied from the block's step ``vv_lag_from`` on, so the run's
    first step starts from its own steady state); ``vv_q`` holds each one's last Q (state, delta
    form). Voltage-dependent loads (``vd_el``, element columns, base P/Q ``vd_p0``/``vd_q0`` [MW,
    Mvar]) draw their scheduled power times :func:`gridstudy.models.campus_voltage.multiplier` of
    their bus voltage with the parameters ``vd_par``.
    Taps: see :func:`tap_update`; ``timers`` [s] and ``tap_pos`` are state, updated in place.
    Grid-forming plant (module docstring; ``gfm_r = -1``: none): ``gfm_t`` its terminal (internal
    bus), ``gfm_par`` the loop's parameters, ``gfm_c = (baseMVA / plant MVA, current limit [pu],
    LIMIT_EPS [pu], baseMVA)``, ``gfm_x`` the loop's state (updated in place), ``gfm_set[i]`` the step's
    set-points ``(p_set, q_set)`` [pu of the plant, generator sign], ``gfm_va[i]`` the EMF angle
    used [rad], ``gfm_out[i] = (P, Q, 0)`` the delivered terminal power [MW, Mvar, consumer sign].

    Dense mode keeps a cache of operating points: slot ``c`` holds a Jacobian inverse ``Jc[c]``,
    the voltages ``CVm[c], CVa[c]`` where it was taken and their key ``Ckey[c]`` (the changing
    injections ``el_w·(P, Q)`` [pu] and the slack voltages weighted by ``ref_w`` [pu]);
    ``Jstate = [used, next slot, inversions, have key_prev]``. A step starts from the nearest
    cached point when it is nearer than the previous step (``key_prev``) — training load swings
    between two levels, so the previous step is often the far one — and iterates with that slot's
    Jacobian. A step that needed ``insert_iter`` iterations or more adds its solution to the cache.

    Sparse mode keeps the recent solutions instead: the last ``Jc.shape[0]`` converged steps in a
    ring, ``CVm, CVa`` and ``CV`` (the complex voltages, so that a start needs no cos/sin) with
    their keys; a step starts from the nearest of them when it is nearer than the previous step.
    The complex voltages of the previous step are carried over as they are (only the slack buses'
    magnitudes are reset), so a step costs no trigonometry unless it starts from elsewhere. The
    Jacobians are the caller's sparse LU factorisations, slot by slot
    (:class:`gridstudy.studies.qsts.fast_model.FactorSet`: ``Lp .. perm_c`` per slot, the
    sensitivities ``Fs``, keys ``Fkey`` and ``Fstate``): a step iterates with the slot whose key is
    nearest to its own, after a first-order predictor from its start point, ``x -= Fs[f]ᵀ·(key -
    key_start)`` (the changing injections enter the mismatch linearly, so this is the chord step
    for them without a mismatch or a solve). A step whose first volt-var pass needed more than
    ``slow_iter`` chord iterations asks for a factorisation at its solution (``REFRESH``) while the
    set has free slots, or once ``Fstate[1]`` steps have passed since the last replacement.
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
    n_ref = ref_bus.shape[0]
    vv_qp = np.empty(n_vv)
    vv_fp = np.empty(n_vv)
    vv_q_prev = np.empty(n_vv)
    n_vd = vd_el.shape[0]
    vd_s = np.empty(n_vd, dtype=np.complex128)  # scheduled consumer power of each [pu]
    vd_m = np.empty(n_vd)                        # multiplier folded into Sbus now [-]
    dsd = np.zeros(nb, dtype=np.complex128)      # load derivative for the Jacobian [pu]
    vd_f, vd_k, vd_z, vd_i = (vd_par[0], vd_par[1], vd_par[2], vd_par[3]) if n_vd > 0 else (0.0, 1.0, 0.0, 0.0)
    kd = 2 * n_el + n_ref + (1 if gfm_r >= 0 else 0)
    key = np.empty(kd)
    vv_of = np.full(n_el, -1, dtype=np.int64)
    for a in range(n_vv):
        vv_of[vv_el[a]] = a
    npvpq = pvpq.shape[0]
    pos_a = pos[0]
    pos_m = pos[1]
    ncache = Jc.shape[0]
    v_ok = False  # sparse mode: V holds the previous step's solution (consistent with Vm, Va)
    for i in range(start, stop):
        for b in range(nb):
            Sbus[b] = Sbus0[b]
            Vm_prev[b] = Vm[b]
            Va_prev[b] = Va[b]
        for e in range(n_el):
            a = vv_of[e]
            q = el_q[i, e] if a < 0 else vv_q[a]  # volt-var: the element's Q is the state vv_q
            Sbus[el_bus[e]] -= el_w[e] * (el_p[i, e] + 1j * q)
            key[e] = el_w[e] * el_p[i, e]
            key[n_el + e] = el_w[e] * q
        if gfm_r >= 0:  # the plant's EMF from the loop's state; its angle is the key's last component
            ref_vm[i, gfm_r] = gfm_x[S_E]
            gfm_va[i] = gfm_x[S_DELTA]
            key[kd - 1] = ref_w[gfm_r] * gfm_x[S_DELTA]
        for r in range(n_ref):
            key[2 * n_el + r] = ref_w[r] * ref_vm[i, r]
        for a in range(n_vd):  # Sbus holds them at m = 1 (their scheduled power)
            e = vd_el[a]
            vd_s[a] = el_w[e] * complex(vd_p0[a] + el_p[i, e], vd_q0[a] + el_q[i, e])
            vd_m[a] = 1.0
        # the nearest cached operating point (dense: its Jacobian too; sparse: a start only)
        slot, best = _nearest(Ckey, Jstate[0] if dense or Jstate[3] == 1 else 0, key)
        start_slot = -1
        if slot >= 0 and Jstate[3] == 1:
            d = 0.0
            for x in range(kd):
                d += abs(key_prev[x] - key[x])
            if best < d:  # the cached point is nearer than the previous step: start from it
                start_slot = slot
                for b in range(nb):
                    Vm[b] = CVm[slot, b]
                    Va[b] = CVa[slot, b]
                    if not dense:
                        V[b] = CV[slot, b]
        if not dense:
            slot = -1  # sparse mode keeps no Jacobian per cached point
        for r in range(n_ref):
            Vm[ref_bus[r]] = ref_vm[i, r]
        if gfm_r >= 0:
            Va[ref_bus[gfm_r]] = gfm_va[i]
        for r in range(pv_bus.shape[0]):
            Vm[pv_bus[r]] = pv_vm[r]
        fresh = True
        if not dense and v_ok:  # V is valid: reset the slack magnitudes only (PV ones are fixed)
            fresh = False
            for r in range(n_ref):
                b = ref_bus[r]
                V[b] = complex(Vm[b] * math.cos(Va[b]), Vm[b] * math.sin(Va[b]))
        fsel = 0
        if not dense:  # the factorisation nearest to this step
            fsel = max(_nearest(Fkey, Fstate[0], key)[0], 0)
            Fstate[3 + fsel] += 1
            if Fstate[1] > 0:
                Fstate[1] -= 1
        if Jstate[3] == 1 and (slot >= 0 or not dense):
            # first-order predictor from the start point, with the Jacobian the step iterates with
            # (V is recomputed from Vm, Va below when it is not valid)
            for r in range(m):
                dx[r] = 0.0
            if not dense:
                for x in range(kd):
                    dk = key[x] - (Ckey[start_slot, x] if start_slot >= 0 else key_prev[x])
                    if dk != 0.0:
                        for r in range(m):
                            dx[r] += Fs[fsel, x, r] * dk
            else:  # the injections' columns of the mismatch are unit vectors: J⁻¹ columns
                for e in range(n_el):
                    b = el_bus[e]
                    for half in range(2):
                        x = e + half * n_el
                        c = pos_a[b] if half == 0 else pos_m[b]
                        dk = key[x] - (Ckey[start_slot, x] if start_slot >= 0 else key_prev[x])
                        if c >= 0 and dk != 0.0:
                            for r in range(m):
                                dx[r] += Jc[slot, r, c] * dk
            _apply(dx, pvpq, pq, Va, Vm, V)
        # one loop does the chord iterations and the volt-var fixed point; ``fresh``: the
        # voltages changed, recompute V and the mismatch F at the top
        iters = 0
        it_first = -1  # chord iterations of the first volt-var pass
        ok = False
        refreshed = False
        stepped = False
        need_f = True  # the mismatch at the step's start
        prev = 0.0
        worst = 0.0
        fp = 0
        pass_iters = 0  # chord iterations of this volt-var pass (limit: max_iter)
        # after a volt-var update one iteration is forced even when the mismatch is already within
        # tolerance: a Q change below the tolerance would otherwise never move the voltages and the
        # fixed point would stall
        force = False
        # volt-var: secant-damped fixed point on h(q) = f(V(q)) - q, the same update as
        # studies.qsts.controllers.volt_var_update (Newton on h with a secant slope; a plain
        # fixed point diverges when the loop gain exceeds 1)
        for a in range(n_vv):
            vv_qp[a] = np.nan
            vv_q_prev[a] = vv_q[a]
        while True:
            if fresh or stepped or need_f:
                if fresh:
                    for b in range(nb):
                        V[b] = complex(Vm[b] * math.cos(Va[b]), Vm[b] * math.sin(Va[b]))
                for a in range(n_vd):  # voltage-dependent loads at the present voltages
                    b = el_bus[vd_el[a]]
                    m_new = _vd_m(Vm[b], vd_f, vd_k, vd_z, vd_i)
                    Sbus[b] -= vd_s[a] * (m_new - vd_m[a])
                    vd_m[a] = m_new
                worst = 0.0
                for a in range(npvpq):  # one row product per bus: P row, and Q row of a PQ bus
                    b = pvpq[a]
                    acc = 0j
                    for k in range(Yp[b], Yp[b + 1]):
                        acc += Yx[k] * V[Yj[k]]
                    mis = V[b] * np.conj(acc) - Sbus[b]
                    F[a] = mis.real
                    if abs(mis.real) > worst:
                        worst = abs(mis.real)
                    rm = pos_m[b]
                    if rm >= 0:
                        F[rm] = mis.imag
                        if abs(mis.imag) > worst:
                            worst = abs(mis.imag)
                fresh = False
                need_f = False
                if stepped and dense and worst > tol and worst > ratio * prev:
                    slot = -1  # slow contraction: a fresh Jacobian at the current point
                stepped = False
            if (worst > tol or force) and pass_iters < max_iter and np.isfinite(worst):
                force = False
                if dense:
                    if slot < 0:
                        if n_vd > 0:
                            _vd_slope(vd_el, el_bus, vd_s, Vm, vd_par, dsd)
                        slot = _insert(Yp, Yj, Yx, V, Vm, Va, pvpq, pq, pos, key, Jc, Ckey, CVm, CVa, Jstate, dsd)
                        refreshed = True
                    for r in range(m):
                        acc_r = 0.0
                        for c in range(m):
                            acc_r += Jc[slot, r, c] * F[c]
                        dx[r] = acc_r
                else:
                    _lu_solve(fsel, Lp, Li, Lx, Up, Ui, Ux, Ud, perm_r, perm_c, F, dx, work)
                _apply(dx, pvpq, pq, Va, Vm, V)
                prev = worst
                iters += 1
                pass_iters += 1
                stepped = True
                continue
            if not worst <= tol:
                break  # not converged (iteration limit or NaN)
            if it_first < 0:
                it_first = iters
            if n_vv == 0:
                ok = True
                break
            change = 0.0
            for a in range(n_vv):
                e = vv_el[a]
                sn = vv_sn[a]
                p = vv_p0[a] + el_p[i, e]
                qlim = np.sqrt(max(sn * sn - p * p, 0.0))
                q = np.interp(Vm[vv_bus[a]], vv_cv, vv_cq) * sn
                q = min(max(q, -qlim), qlim)
                if vv_alpha != 1.0 and i >= vv_lag_from:  # the plant's response time
                    q_from = vv_q0[a] + vv_q_prev[a]
                    q = min(max(q_from + (q - q_from) * vv_alpha, -qlim), qlim)
                qd = q - vv_q0[a]
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
            fp += 1
            if fp >= vv_max:
                break
            fresh = True
            force = True
            pass_iters = 0
        if not ok:  # back to the last good state for the caller's retry
            for b in range(nb):
                Vm[b] = Vm_prev[b]
                Va[b] = Va_prev[b]
            for a in range(n_vv):
                vv_q[a] = vv_q_prev[a]
            Jstate[3] = 0
            return FAILED, i
        for b in range(nb):
            out_V[i, b] = V[b]
        out_conv[i] = True
        out_iter[i] = iters
        out_mis[i] = worst
        for a in range(n_vv):
            out_vvq[i, a] = vv_q[a]
            key[n_el + vv_el[a]] = el_w[vv_el[a]] * vv_q[a]  # the key of the solution: its final Q
        v_ok = True
        if not dense:  # the step's solution into the ring of recent ones, and its key
            if ncache > 0:
                if Jstate[0] < ncache:
                    c = Jstate[0]
                    Jstate[0] += 1
                else:
                    c = Jstate[1]
                    Jstate[1] = (Jstate[1] + 1) % ncache
                for b in range(nb):
                    CVm[c, b] = Vm[b]
                    CVa[c, b] = Va[b]
                    CV[c, b] = V[b]
                for x in range(kd):
                    Ckey[c, x] = key[x]
            for x in range(kd):
                key_prev[x] = key[x]
            Jstate[3] = 1
        if dense:
            for x in range(kd):
                key_prev[x] = key[x]
            Jstate[3] = 1
            if refreshed:  # the slot's Jacobian was taken on the way: keep the solution with it
                CVm[slot, :] = Vm
                CVa[slot, :] = Va
            elif iters >= insert_iter:
                if n_vd > 0:
                    _vd_slope(vd_el, el_bus, vd_s, Vm, vd_par, dsd)
                _insert(Yp, Yj, Yx, V, Vm, Va, pvpq, pq, pos, key, Jc, Ckey, CVm, CVa, Jstate, dsd)
        if gfm_r >= 0:  # the plant's injection: the current into its EMF bus's only branch
            g = ref_bus[gfm_r]
            acc = 0j
            for k in range(Yp[g], Yp[g + 1]):
                acc += Yx[k] * V[Yj[k]]
            if abs(acc) * gfm_c[0] > gfm_c[1] + gfm_c[2]:
                Jstate[3] = 0
                return LIMIT, i
            s_e = V[g] * np.conj(acc) * gfm_c[0]
            s_t = V[gfm_t] * np.conj(acc)
            gfm_out[i, 0] = -s_t.real * gfm_c[3]
            gfm_out[i, 1] = -s_t.imag * gfm_c[3]
            gfm_out[i, 2] = 0.0
            _gfm_loop(gfm_x, gfm_par, s_e.real, s_e.imag, gfm_set[i, 0], gfm_set[i, 1], dt)
        moved = tap_update(Vm, tap_i, tap_f, tap_pos, timers, dt)
        if moved:
            return TAP, i
        if not dense and it_first > slow_iter and (Fstate[0] < Fs.shape[0] or Fstate[1] == 0):
            return REFRESH, i
    return DONE, stop
