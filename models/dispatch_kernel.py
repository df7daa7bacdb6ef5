"""The compiled dispatch kernel behind :mod:`gridstudy.models.dispatch`: every strategy's step, vectorised
over a series, on a parameter vector ``P`` and a state vector ``S`` whose slots are named here.

:class:`gridstudy.models.dispatch.Strategy` fills ``P`` from its parameters and the plant, keeps ``S`` between
calls, and calls :func:`_run` for one step (the step API) or for a whole series
(:func:`gridstudy.models.dispatch.dispatch`): the same compiled code, so both give the same bytes.

Around every strategy the kernel runs the plant's response chain of
:class:`gridstudy.models.plant_response.PlantResponse` (measurement delay and filter, control cycle,
communication latency, inverter lag, ramp limit, capability at delivery); its discretisation is
described there. With every slot of the chain zero the chain passes values through unchanged.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from gridstudy.models.battery import energy_step

# strategy kinds inside the compiled kernel
_NONE, _RAMP, _SMOOTH, _CAP, _LOSS = 0, 1, 2, 3, 4
# reactive modes
_Q_NONE, _Q_PF_BATTERY, _Q_PF_GRID, _Q_VOLTVAR = 0, 1, 2, 3
# parameter vector slots
(_PMAX, _SMAX, _ETAC, _ETAD, _ELO, _EHI, _AUX, _QPRIO, _QMODE, _TANPHI, _ETGT, _RECT, _RECMAX,
 _RAMPR, _WINMW, _WINS, _TAU, _CAPMW, _TRIG, _REL,
 # plant response: measurement delay and filter, control period, comms latency, inverter lag [s],
 # ramp limit [MW/s] (0: none)
 _DMEAS, _TMEAS, _TCTRL, _DCOMM, _TINV, _RAMPP, _NPAR) = range(27)
# state vector slots
(_E, _Y, _GPREV, _INIT, _ENG, _HPOS, _HCNT,
 # plant response: measured campus P and Q, held command P and Q, time since the last control
 # cycle, inverter output P and Q, delivered converter P, write position of the delay lines
 _CM, _CQM, _HOLDP, _HOLDQ, _PHASE, _PL, _QL, _POUT, _DPOS, _NSTATE) = range(17)
#: Ring buffer of past grid values for the window limit: enough for 5 s at 10 ms, and more.
_HIST = 4096
#: Delay lines of the plant response (rows: campus P, campus Q, command P, command Q): the longest
#: delay (10 s, :data:`gridstudy.models.plant_response.MAX_DELAY_S`) at the shortest step (10 ms)
#: is 1,000 samples.
_DLEN = 2048
_NLINES = 4


@numba.njit(cache=True)
def _delay_split(d: float, dt: float) -> tuple[int, float]:
    """A delay of ``d`` seconds at step ``dt`` as ``k`` whole steps and a fraction ``f`` in [0, 1)."""
    x = d / dt
    k = int(math.floor(x + 1e-9))
    f = x - k
    if f < 1e-9:
        f = 0.0
    if k > _DLEN - 2:
        k = _DLEN - 2
        f = 0.0
    return k, f


@numba.njit(cache=True)
def _delay_read(line: np.ndarray, pos: int, k: int, f: float) -> float:
    """The input delayed by ``k + f`` steps, ``pos`` being the slot of this step's input: linear
    interpolation between samples, the exact step average of a delayed step-held signal."""
    n = line.shape[0]
    x = line[(pos - k) % n]
    if f > 0.0:
        x = (1.0 - f) * x + f * line[(pos - k - 1) % n]
    return float(x)



@numba.njit(cache=True)
def _run(kind: int, P: np.ndarray, S: np.ndarray, hist: np.ndarray, dl: np.ndarray, vv_v: np.ndarray,
         vv_q: np.ndarray, campus_p: np.ndarray, campus_q: np.ndarray, vm: np.ndarray, dt: float, nwin: int,
         out_p: np.ndarray, out_q: np.ndarray, out_e: np.ndarray, out_sat: np.ndarray) -> None:
    """The dispatch kernel: ``len(campus_p)`` steps from state ``S`` (updated in place).

    ``nwin`` is the number of samples in the peak-to-peak window of ``ramp_limit``, this step
    included, from :func:`gridstudy.models.timeindex.window_samples` (the criteria's definition);
    below 2 the window limit is off. ``dl`` holds the plant response's delay lines
    (``_NLINES`` x ``_DLEN``).
    """
    n = campus_p.shape[0]
    pmax, smax, eta_c, eta_d = P[_PMAX], P[_SMAX], P[_ETAC], P[_ETAD]
    e_lo, e_hi, aux = P[_ELO], P[_EHI], P[_AUX]
    alpha = 1.0 - math.exp(-dt / P[_TAU]) if P[_TAU] > 0.0 else 1.0
    if nwin > hist.shape[0]:
        nwin = hist.shape[0]
    tol = 1e-9 * max(1.0, pmax)
    # plant response: delays as whole steps + fraction, exact first-order factors
    k_m, f_m = _delay_split(P[_DMEAS], dt)
    k_c, f_c = _delay_split(P[_DCOMM], dt)
    a_m = 1.0 - math.exp(-dt / P[_TMEAS]) if P[_TMEAS] > 0.0 else 1.0
    a_i = 1.0 - math.exp(-dt / P[_TINV]) if P[_TINV] > 0.0 else 1.0
    t_ctrl, ramp_p = P[_TCTRL], P[_RAMPP]
    nd = dl.shape[1]
    for i in range(n):
        first = S[_INIT] == 0.0
        e = S[_E]
        # -- measurement: delay line, then first-order filter; the strategy sees the measured load
        c_true, cq_true = campus_p[i], campus_q[i]
        if first:
            dpos = 0
            dl[0, :] = c_true
            dl[1, :] = cq_true
        else:
            dpos = (int(S[_DPOS]) + 1) % nd
            dl[0, dpos] = c_true
            dl[1, dpos] = cq_true
        S[_DPOS] = float(dpos)
        c_md = _delay_read(dl[0], dpos, k_m, f_m)
        cq_md = _delay_read(dl[1], dpos, k_m, f_m)
        if first or a_m == 1.0:
            S[_CM] = c_md
            S[_CQM] = cq_md
        else:
            S[_CM] = S[_CM] + a_m * (c_md - S[_CM])
            S[_CQM] = S[_CQM] + a_m * (cq_md - S[_CQM])
        c = S[_CM]
        cq = S[_CQM]
        if first:
            S[_Y] = c
            S[_GPREV] = c
            S[_INIT] = 1.0
            S[_ENG] = 0.0
            S[_HPOS] = 0.0
            S[_HCNT] = 0.0
        y_prev = S[_Y]
        y = y_prev + alpha * (c - y_prev)
        S[_Y] = y
        g_prev = S[_GPREV]
        rec = 0.0
        if P[_RECT] > 0.0:
            rec = (P[_ETGT] - e) * 3600.0 / P[_RECT]
            if rec > P[_RECMAX]:
                rec = P[_RECMAX]
            if rec < -P[_RECMAX]:
                rec = -P[_RECMAX]
        # -- the strategy's wish: battery terminal power, charging positive
        if kind == _RAMP:
            g = y + rec
            lo = g_prev - P[_RAMPR] * dt
            hi = g_prev + P[_RAMPR] * dt
            cnt = int(S[_HCNT])
            if nwin >= 2 and cnt > 0:
                m = min(cnt, nwin - 1)
                pos = int(S[_HPOS])
                hmax = -1e300
                hmin = 1e300
                for k in range(m):
                    v = hist[(pos - 1 - k) % hist.shape[0]]
                    if v > hmax:
                        hmax = v
                    if v < hmin:
                        hmin = v
                if hmax - P[_WINMW] > lo:
                    lo = hmax - P[_WINMW]
                if hmin + P[_WINMW] < hi:
                    hi = hmin + P[_WINMW]
            if lo > hi:  # only after a saturated step: stay as close to the previous value as allowed
                lo = hi = min(max(g_prev, hi), lo)
            if g < lo:
                g = lo
            if g > hi:
                g = hi
            p_des = g - c
        elif kind == _SMOOTH:
            p_des = y + rec - c
        elif kind == _CAP:
            if c > P[_CAPMW]:
                p_des = P[_CAPMW] - c
            else:
                p_des = min(rec, P[_CAPMW] - c)
        elif kind == _LOSS:
            if S[_ENG] == 0.0 and c < (1.0 - P[_TRIG]) * y_prev:
                S[_ENG] = 1.0
            if S[_ENG] == 1.0:
                g = g_prev - P[_REL] * dt
                if g <= c:
                    g = c
                    S[_ENG] = 0.0
                p_des = g - c
            else:
                p_des = rec
        else:
            p_des = aux
        p_conv_des = p_des - aux
        # -- reactive wish
        qmode = int(P[_QMODE])
        q_des = 0.0
        if qmode == _Q_PF_BATTERY:
            q_des = P[_TANPHI] * abs(p_conv_des)
        elif qmode == _Q_PF_GRID:
            q_des = P[_TANPHI] * abs(c + p_des) - cq
        elif qmode == _Q_VOLTVAR:
            v = vm[i]
            if v == v:  # not NaN
                q_des = np.interp(v, vv_v, vv_q) * smax
        # -- capability: circle of radius smax, P or Q first, then the energy headroom
        if P[_QPRIO] == 1.0:
            q = min(max(q_des, -smax), smax)
            plim = min(pmax, math.sqrt(max(smax * smax - q * q, 0.0)))
        else:
            plim = min(pmax, smax)
        p_ch = min(plim, max((e_hi - e) * 3600.0 / (eta_c * dt), 0.0))
        p_dis = min(plim, max((e - e_lo) * eta_d * 3600.0 / dt, 0.0))
        p_conv = min(max(p_conv_des, -p_dis), p_ch)
        sat = abs(p_conv - p_conv_des) > tol
        if P[_QPRIO] != 1.0:
            if qmode == _Q_PF_BATTERY:
                q_des = P[_TANPHI] * abs(p_conv)
            elif qmode == _Q_PF_GRID:
                q_des = P[_TANPHI] * abs(c + p_conv + aux) - cq
            qlim = math.sqrt(max(smax * smax - p_conv * p_conv, 0.0))
            q = min(max(q_des, -qlim), qlim)
        # -- the strategy's view of grid import: measured load + its command (the actual grid
        #    import is campus + delivered power; they agree when the plant answers at once)
        g_seen = c + (p_conv + aux)
        S[_GPREV] = g_seen
        pos = int(S[_HPOS])
        hist[pos] = g_seen
        S[_HPOS] = float((pos + 1) % hist.shape[0])
        S[_HCNT] = min(S[_HCNT] + 1.0, float(hist.shape[0]))
        # -- control cycle: the command is sampled and held at the controller period
        tick = first
        if not first:
            if t_ctrl <= dt * (1.0 + 1e-9):
                tick = True
            else:
                ph = S[_PHASE] + dt
                if ph >= t_ctrl * (1.0 - 1e-9):
                    tick = True
                    ph = max(ph - t_ctrl, 0.0)
                S[_PHASE] = ph
        else:
            S[_PHASE] = 0.0
        if tick:
            S[_HOLDP] = p_conv
            S[_HOLDQ] = q
        # -- communication latency
        if first:
            dl[2, :] = S[_HOLDP]
            dl[3, :] = S[_HOLDQ]
        else:
            dl[2, dpos] = S[_HOLDP]
            dl[3, dpos] = S[_HOLDQ]
        p_in = _delay_read(dl[2], dpos, k_c, f_c)
        q_in = _delay_read(dl[3], dpos, k_c, f_c)
        # -- inverter current loop, first order
        if first or a_i == 1.0:
            S[_PL] = p_in
            S[_QL] = q_in
        else:
            S[_PL] = S[_PL] + a_i * (p_in - S[_PL])
            S[_QL] = S[_QL] + a_i * (q_in - S[_QL])
        p_act = S[_PL]
        q_act = S[_QL]
        # -- ramp limit of the delivered active power
        if ramp_p > 0.0 and not first:
            lo_r = S[_POUT] - ramp_p * dt
            hi_r = S[_POUT] + ramp_p * dt
            if p_act < lo_r:
                p_act = lo_r
            if p_act > hi_r:
                p_act = hi_r
        # -- capability at delivery: P-Q circle and energy headroom (identity on an in-range command)
        if P[_QPRIO] == 1.0:
            q_act = min(max(q_act, -smax), smax)
            plim_d = min(pmax, math.sqrt(max(smax * smax - q_act * q_act, 0.0)))
        else:
            plim_d = min(pmax, smax)
        p_ch_d = min(plim_d, max((e_hi - e) * 3600.0 / (eta_c * dt), 0.0))
        p_dis_d = min(plim_d, max((e - e_lo) * eta_d * 3600.0 / dt, 0.0))
        p_del = min(max(p_act, -p_dis_d), p_ch_d)
        if abs(p_del - p_act) > tol:
            sat = True
        if P[_QPRIO] != 1.0:
            qlim_d = math.sqrt(max(smax * smax - p_del * p_del, 0.0))
            q_act = min(max(q_act, -qlim_d), qlim_d)
        S[_POUT] = p_del
        S[_E] = energy_step(e, p_del, dt, eta_c, eta_d, e_lo, e_hi)
        out_p[i] = p_del + aux
        out_q[i] = q_act
        out_e[i] = S[_E]
        out_sat[i] = sat
