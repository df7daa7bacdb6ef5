"""PSS/E DYR records of a study case: the grid equivalent and the battery plant.

Record layouts are PSS/E's (``IBUS 'MODEL' ID con1 con2 ... /``), in the order in which ANDES
reads them (``andes/io/psse-dyr.yaml``, ANDES 2.0):

- grid equivalent: ``GENCLS`` (H, D) or ``GENROU`` (T'd0, T''d0, T'q0, T''q0, H, D, Xd, Xq, X'd,
  X'q, X''d, Xl, S(1.0), S(1.2)) with the exciter ``SEXS`` (TA/TB, TB, K, TE, EMIN, EMAX) and the
  governor ``TGOV1`` (R, T1, VMAX, VMIN, T2, T3, Dt); parameters: the site's ``[dynamics.grid]``
  (:class:`gridstudy.grid.spec.GridEquivalentSpec`);
- battery plant, grid-following: the WECC generic models ``REGCA1`` (REGC_A) + ``REECA1`` (REEC_A)
  + ``REPCA1`` (REPC_A). REEC_C, the storage variant of the electrical controller (state of charge
  limits), has no model in ANDES; REEC_A is its parent and has the same P/Q paths, so it is written
  (the state of charge is the quasi-static study's to judge, :mod:`gridstudy.models.battery`). The
  plant's delays (:class:`gridstudy.models.plant_response.PlantResponse`) map onto the models' time
  constants (:func:`plant_time_constants`);
- battery plant, grid-forming: ANDES ``REGF1`` (droop) / ``REGF2`` (virtual synchronous machine)
  at the plant's EMF node behind its virtual impedance (:func:`grid_forming_andes`, run by the RMS
  check), and the WECC ``REGFM_A1`` / ``REGFM_B1`` parameters by name
  (:func:`regfm_parameters`, written into the export's README): ANDES reads no grid-forming
  record from a DYR file and the PSS/E layout of the REGFM records is not sourced, so no DYR
  record is written for a grid-forming plant.

The campus has no dynamic record: it is a constant-power load driven by its time series (the
README written beside the files says so; no sourced PERC1 record layout is available to the
package).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gridstudy.grid.errors import Problem
from gridstudy.grid.spec import GridEquivalentSpec
from gridstudy.models.grid_forming import GridFormingControl
from gridstudy.models.plant_response import PlantResponse
from gridstudy.studies.export.raw import SBASE_MVA, ExportError

__all__ = ["grid_records", "plant_records", "plant_time_constants", "PlantTimeConstants", "grid_forming_andes",
           "regfm_parameters", "REGF_INNER", "MIN_LAG_S"]

#: Shortest lag written into a generic model's time constant: the WECC models' converter and filter
#: lags cannot be zero (their integration needs a state), so a plant delay of zero becomes 1 ms. [s]
MIN_LAG_S = 0.001


def _rec(bus: int, model: str, mid: str, values: list[float | int | str]) -> str:
    body = " ".join(v if isinstance(v, str) else (str(v) if isinstance(v, int) else f"{float(v):.10g}") for v in values)
    return f"{bus} '{model}' '{mid}' {body} /"


def grid_records(bus: int, mid: str, g: GridEquivalentSpec) -> list[str]:
    """The grid equivalent's records (``GENCLS``, or ``GENROU`` + ``SEXS`` + ``TGOV1``)."""
    if g.model == "GENCLS":
        return [_rec(bus, "GENCLS", mid, [g.h_s, g.d_pu])]
    return [
        _rec(bus, "GENROU", mid, [g.td10_s, g.td20_s, g.tq10_s, g.tq20_s, g.h_s, g.d_pu, g.xd_pu, g.xq_pu, g.xd1_pu,
                                  g.xq1_pu, g.xd2_pu, g.xl_pu, g.s10, g.s12]),
        _rec(bus, "SEXS", mid, [g.exc_ta_tb, g.exc_tb_s, g.exc_k, g.exc_te_s, g.exc_emin_pu, g.exc_emax_pu]),
        _rec(bus, "TGOV1", mid, [g.gov_r_pu, g.gov_t1_s, g.gov_vmax_pu, g.gov_vmin_pu, g.gov_t2_s, g.gov_t3_s,
                                 g.gov_dt_pu]),
    ]


@dataclass(frozen=True)
class PlantTimeConstants:
    """The plant's delays as the generic models' time constants. [s]

    Attributes
    ----------
    tg : float
        REGC_A converter lag ``Tg`` = the inverters' current-loop lag ``inverter_tau_s``.
    tp : float
        REEC_A electrical-power filter ``Tp`` and REPC_A measurement filters ``Tfltr``/``Tp`` = the
        measurement filter ``measurement_tau_s``.
    tpord : float
        REEC_A power-order lag ``Tpord`` (and ``Tiq`` for reactive current) = the pure delays the
        generic models have no block for, as one lag of the same mean delay:
        ``measurement_delay_s + control_period_s / 2 + comms_latency_s`` (a delay ``d`` and a lag
        ``T = d`` have the same first moment; the lag answers earlier in its first part).
    ramp_pu_per_s : float or None
        REEC_A ``dPmax``/``-dPmin`` = ``ramp_mw_per_s`` over the plant's MVA; ``None``: no limit.
    """

    tg: float
    tp: float
    tpord: float
    ramp_pu_per_s: float | None


def plant_time_constants(response: PlantResponse | None, mva: float) -> PlantTimeConstants:
    """:class:`PlantTimeConstants` of a plant response (``None``: the plant that answers at once),
    each lag at least :data:`MIN_LAG_S`."""
    r = response if response is not None else PlantResponse.instantaneous()
    delay = r.measurement_delay_s + 0.5 * r.control_period_s + r.comms_latency_s
    ramp = None if r.ramp_mw_per_s is None else float(r.ramp_mw_per_s) / mva
    return PlantTimeConstants(tg=max(r.inverter_tau_s, MIN_LAG_S), tp=max(r.measurement_tau_s, MIN_LAG_S),
                              tpord=max(delay, MIN_LAG_S), ramp_pu_per_s=ramp)


def plant_records(bus: int, mid: str, mva: float, p_max_mw: float, response: PlantResponse | None) -> list[str]:
    """The grid-following plant's records: ``REGCA1`` + ``REECA1`` + ``REPCA1``, per unit on ``mva``.

    The plant follows its power order (the study's dispatch); the reactive path holds the reactive
    power of the operating point (``QFLAG = 0``, ``VFLAG = 0``: constant Q, no voltage control,
    ``Kqv = 0``: no reactive current injection during a dip), the plant controller monitors no
    branch and answers no frequency (``Fflag = 0``): the study's strategies do not. Typical values
    of the WECC models' other constants (WECC Solar Plant Dynamic Modeling Guidelines, 2014;
    assumed) are written as they are.
    """
    if not (mva > 0 and math.isfinite(mva)):
        raise ExportError([Problem("battery.s_mva", "the plant's MVA must be > 0 and finite", mva)])
    tc = plant_time_constants(response, mva)
    pmax = p_max_mw / mva
    ramp = tc.ramp_pu_per_s if tc.ramp_pu_per_s is not None else 999.0
    regca1 = [0, tc.tg, 10.0, 0.9, 0.4, 1.22, 1.2, 0.8, 0.4, -1.3, 0.02, 0.7, 99.0, -99.0, 0.7]
    reeca1: list[float | int | str] = [0, 0, 0, 0, 0, 0,             # BUSR, PFFLAG, VFLAG, QFLAG, PFLAG, PQFLAG
                                       -99.0, 99.0, 0.02, -0.05, 0.05,  # Vdip, Vup (dip logic off), Trv, dbd1, dbd2
                                       0.0, 1.05, -1.05, 0.0, 0.0, 0.0, 0.0,  # Kqv, Iqh1, Iql1, Vref0, Iqfrz, Thld, Thld2
                                       tc.tp, 1.0, -1.0, 1.1, -1.1,     # Tp, QMax, QMin, VMAX, VMIN (the unused Q-PI path starts at 0)
                                       0.0, 0.1, 0.0, 40.0, 1.0,        # Kqp, Kqi, Kvp, Kvi, Vref1 (Vbias)
                                       tc.tpord, ramp, -ramp, pmax, -pmax, 1.2, tc.tpord,  # Tiq, dPmax, dPmin, PMAX, PMIN, Imax, Tpord
                                       0.2, 1.2, 0.5, 1.2, 0.8, 1.2, 1.5, 1.2,  # Vq1, Iq1 .. Vq4, Iq4
                                       0.2, 1.2, 0.5, 1.2, 0.8, 1.2, 1.5, 1.2]  # Vp1, Ip1 .. Vp4, Ip4
    repca1: list[float | int | str] = [0, 0, 0, "'0'", 0, 0, 0,       # BUSR, BUS1, BUS2, CKTID, VCFlag, RefFlag, Fflag
                                       tc.tp, 0.0, 0.1, 0.0, tc.tpord, 0.0,  # Tfltr, Kp, Ki, Tft, Tfv, Vfrz
                                       0.0, 0.0, 0.0, 0.1, -0.1, 0.0, 0.0,  # Rc, Xc, Kc, emax, emin, dbd1, dbd2
                                       1.0, -1.0, 0.0, 0.1, tc.tp,      # Qmax, Qmin, Kpg, Kig, Tp
                                       -0.0006, 0.0006, 999.0, -999.0, 1.0, -1.0, tc.tpord, 20.0, 20.0]  # fdbd1 .. Dup
    return [_rec(bus, "REGCA1", mid, list(regca1)), _rec(bus, "REECA1", mid, reeca1), _rec(bus, "REPCA1", mid, repca1)]


#: Gains of the REGF1 / REGF2 inner loops that make the bus they regulate (the plant's EMF node behind
#: the virtual impedance) an ideal voltage source at the study's time scale: the outer voltage PI
#: (``KPv``, ``KIv``) holds the EMF's magnitude within a few milliseconds of a load edge, the inner
#: current PI (``KPi``, ``KIi``) and the output lag ``Te`` are faster still, ``xf`` is the
#: converter's own filter reactance on the plant's MVA (``docs/sources/megapack.md §10``).
REGF_INNER = {"KPv": 100.0, "KIv": 2000.0, "KPi": 5.0, "KIi": 200.0, "Te": 0.001, "xf": 0.02, "rf": 0.0}


def grid_forming_andes(control: GridFormingControl, mva: float, base_mva: float = SBASE_MVA,
                       field: str = "battery.control") -> tuple[str, dict[str, float]]:
    """The grid-forming plant as ANDES ``REGF1`` (droop) or ``REGF2`` (virtual synchronous machine)
    parameters, ``(model, parameters)``, for the model placed at the plant's EMF node behind the
    virtual impedance (``docs/sources/megapack.md §10``).

    ANDES's power quantities are on the system base ``base_mva`` and its droops act on them, so a
    gain per unit of the plant's MVA ``mva`` is scaled by ``base_mva / mva``:

    - droop: ``wdrp = m_p · base/mva`` (``dδ/dt = ω_b · wdrp · (P_ref − P_sen)``, the model's
      ``P_f``–``δ`` law), ``Tr = tau_p_s`` (the power filter; it filters Q too);
    - VSM: ``mf · wdrp · dω/dt = wdrp (P_ref − P_sen) − (ω − 1)`` is ``2H dω/dt = P_set − P_e −
      D (ω − 1)`` with ``wdrp = base / (D · mva)``, ``mf = 2H · mva/base``, ``dd = 0`` (damping
      against the nominal speed, as the study's loop), ``Tr = tau_q_s`` (the loop itself filters no
      P; Q is filtered);
    - both: ``Qdrp = m_q · base/mva`` (``E = E_0 + Qdrp · (Q_ref − Q_sen)``), ``Tpm`` at its
      shortest so the P/Q limiter's PI stays idle within the limits, ``Pmax = −Pmin = Qmax =
      −Qmin = current_limit_pu`` (the limit circle's corners: REGF has power limits, not a
      current limit), ``PQFLAG`` from ``priority``; the inner gains :data:`REGF_INNER`.
    """
    c = control
    if not (mva > 0 and math.isfinite(mva)):
        raise ExportError([Problem("battery.s_mva", "the plant's MVA must be > 0 and finite", mva)])
    k = base_mva / mva
    par: dict[str, float] = dict(REGF_INNER)
    par.update({"Sn": mva, "Qdrp": c.mq * k, "Tpm": MIN_LAG_S, "PQFLAG": 1.0 if c.priority == "p" else 0.0,
                "Pmax": c.current_limit_pu, "Pmin": -c.current_limit_pu, "Qmax": c.current_limit_pu,
                "Qmin": -c.current_limit_pu})
    if c.loop == "droop":
        par.update({"wdrp": c.mp * k, "Tr": max(c.tau_p_s, MIN_LAG_S)})
        return "REGF1", par
    if not c.d_pu > 0:
        raise ExportError([Problem(f"{field}.d_pu", "the RMS model of the virtual synchronous machine (ANDES REGF2) "
                                   "needs a damping > 0 (its droop is 1/D)", c.d_pu)])
    par.update({"wdrp": k / c.d_pu, "mf": 2.0 * c.h_s / k, "dd": 0.0, "Tr": max(c.tau_q_s, MIN_LAG_S)})
    return "REGF2", par


def regfm_parameters(control: GridFormingControl) -> tuple[str, dict[str, float]]:
    """The grid-forming plant as the WECC generic model's parameters by name, ``(model, values)``:
    ``REGFM_A1`` (droop) or ``REGFM_B1`` (virtual synchronous machine), per unit on the plant's MVA
    (names as the PowerWorld documentation of the models lists them, ``docs/sources/megapack.md
    §10``). The values are the study's own; the record's PSS/E DYR layout is not sourced, so these
    are given by name, not as a DYR record."""
    c = control
    if c.loop == "droop":
        return "REGFM_A1", {"Re": c.r_pu, "Xe": c.x_pu, "Mp": c.mp, "Mq": c.mq, "TPf": c.tau_p_s, "TQf": c.tau_q_s,
                            "Imax": c.current_limit_pu, "Pmax": c.current_limit_pu, "Pmin": -c.current_limit_pu,
                            "Qmax": c.current_limit_pu, "Qmin": -c.current_limit_pu, "Vflag": 0.0,
                            "PQflag": 1.0 if c.priority == "p" else 0.0}
    # the study's VSM: damping D against the nominal speed and no P filter; its P-f droop (FFlag)
    # off, as the study's loop has none beside the damping
    return "REGFM_B1", {"Re": c.r_pu, "Xe": c.x_pu, "mq": c.mq, "H": c.h_s, "D1": c.d_pu, "D2": 0.0, "Tp": 0.0,
                        "Issmax": c.current_limit_pu, "PQflag": 1.0 if c.priority == "p" else 0.0, "FFlag": 0.0,
                        "ESFlag": 1.0}
