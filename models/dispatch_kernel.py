"""The compiled dispatch kernel behind :mod:`gridstudy.models.dispatch`: every strategy's step, vectorised
over a series, on a parameter vector ``P`` and a state vector ``S`` whose slots are named here.

:class:`gridstudy.models.dispatch.Strategy` fills ``P`` from its parameters and the plant, keeps ``S`` between
calls, and calls :func:`_run` for one step (the step API) or for a whole series
(:func:`gridstudy.models.dispatch.dispatch`): the same compiled code, so both give the same bytes.
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
 _RAMPR, _WINMW, _WINS, _TAU, _CAPMW, _TRIG, _REL, _NPAR) = range(21)
# state vector slots
_E, _Y, _GPREV, _INIT, _ENG, _HPOS, _HCNT, _NSTATE = range(8)
#: Ring buffer of past grid values for the window limit: enough for 5 s at 10 ms, and more.
_HIST = 4096



@numba.njit(cache=True)
def _run(kind: int, P: np.ndarray, S: np.ndarray, hist: np.ndarray, vv_v: np.ndarray, vv_q: np.ndarray,
         campus_p: np.ndarray, campus_q: np.ndarray, vm: np.ndarray, dt: float, nwin: int,
         out_p: np.ndarray, out_q: np.ndarray, out_e: np.ndarray, out_sat: np.ndarray) -> None:
    """The dispatch kernel: ``len(campus_p)`` steps from state ``S`` (updated in place).

    ``nwin`` is the number of samples in the peak-to-peak window of ``ramp_limit``, this step
    included, from :func:`gridstudy.models.timeindex.window_samples` (the criteria's definition);
    below 2 the window limit is off.
    """
    n = campus_p.shape[0]
    pmax, smax, eta_c, eta_d = P[_PMAX], P[_SMAX], P[_ETAC], P[_ETAD]
    e_lo, e_hi, aux = P[_ELO], P[_EHI], P[_AUX]
    alpha = 1.0 - math.exp(-dt / P[_TAU]) if P[_TAU] > 0.0 else 1.0
    if nwin > hist.shape[0]:
        nwin = hist.shape[0]
    tol = 1e-9 * max(1.0, pmax)
    for i in range(n):
        c = campus_p[i]
        e = S[_E]
        if S[_INIT] == 0.0:
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
            q_des = P[_TANPHI] * abs(c + p_des) - campus_q[i]
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
                q_des = P[_TANPHI] * abs(c + p_conv + aux) - campus_q[i]
            qlim = math.sqrt(max(smax * smax - p_conv * p_conv, 0.0))
            q = min(max(q_des, -qlim), qlim)
        S[_E] = energy_step(e, p_conv, dt, eta_c, eta_d, e_lo, e_hi)
        p_bat = p_conv + aux
        g_act = c + p_bat
        S[_GPREV] = g_act
        pos = int(S[_HPOS])
        hist[pos] = g_act
        S[_HPOS] = float((pos + 1) % hist.shape[0])
        S[_HCNT] = min(S[_HCNT] + 1.0, float(hist.shape[0]))
        out_p[i] = p_bat
        out_q[i] = q
        out_e[i] = S[_E]
        out_sat[i] = sat
