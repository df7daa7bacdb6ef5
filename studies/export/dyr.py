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
- battery plant, grid-forming: :func:`grid_forming_parameters` (the parameters the grid-forming
  models take; see its note).

The campus has no dynamic record: it is a constant-power load driven by its time series (the
README written beside the files says so; no sourced PERC1 record layout is available to the
package).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from gridstudy.grid.errors import Problem
from gridstudy.grid.spec import GridEquivalentSpec
from gridstudy.models.plant_response import PlantResponse
from gridstudy.studies.export.raw import ExportError

__all__ = ["grid_records", "plant_records", "plant_time_constants", "PlantTimeConstants", "GridFormingParameters",
           "grid_forming_parameters", "MIN_LAG_S"]

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


@dataclass(frozen=True)
class GridFormingParameters:
    """A grid-forming plant's parameters (droop control: ANDES ``REGF1``; WECC REGFM_A1).

    Parameters
    ----------
    mp_pu : float
        Active-power / frequency droop. [pu]
    mq_pu : float
        Reactive-power / voltage droop. [pu]
    tf_s : float
        Power measurement filter (the plant's ``measurement_tau_s``). [s]
    ra_pu, xa_pu : float
        Coupling (virtual) impedance on the plant's MVA. [pu]
    """

    mp_pu: float = 0.05
    mq_pu: float = 0.05
    tf_s: float = 0.02
    ra_pu: float = 0.0
    xa_pu: float = 0.15

    def problems(self, prefix: str = "grid_forming") -> list[Problem]:
        """Every parameter out of its model's range, each at ``prefix.name``."""
        out = []
        for k, v in asdict(self).items():
            ok = math.isfinite(v) and (v >= 0 if k == "ra_pu" else v > 0)
            if not ok:
                out.append(Problem(f"{prefix}.{k}", "must be finite and > 0" + (" or 0" if k == "ra_pu" else ""), v))
        return out


def grid_forming_parameters(bus: int, gen: int | str, mva: float, params: GridFormingParameters) -> dict[str, float | int | str]:
    """The grid-forming plant as ANDES ``REGF1`` parameters (``System.add('REGF1', ...)``).

    The PSS/E records REGFM_A1 / REGFM_B1 are not written: their DYR layout is not sourced in this
    package, and ANDES (2.0) reads no grid-forming record from a DYR file. A grid-forming plant is
    exported as its parameters here, for the tool that runs it.
    """
    problems = params.problems()
    if problems:
        raise ExportError(problems)
    return {"bus": bus, "gen": gen, "Sn": mva, "mp": params.mp_pu, "mq": params.mq_pu, "Tf": params.tf_s,
            "ra": params.ra_pu, "xa": params.xa_pu}
