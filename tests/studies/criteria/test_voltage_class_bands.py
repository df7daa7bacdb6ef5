"""ANSI C84.1 by voltage class (issue 12, item 4): each bus is judged against the steady-state
range of its own class, hand-built series per class."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from gridstudy.studies.criteria import (
    ANSI_MV_SERVICE_RANGE_A,
    ANSI_MV_SERVICE_RANGE_B,
    ANSI_RANGE_A,
    ANSI_RANGE_B,
    PLANNING_N0,
    PLANNING_N1,
    get_preset,
    voltage_band_finding,
    voltage_class,
)
from gridstudy.studies.judge.findings import bus_band_finding

T0 = pd.Timestamp("2026-07-01 18:00")

# ANSI C84.1 Table 1 rows, in volts: (nominal, Range A min, Range A max, Range B min, Range B max).
# Service voltages. The table rounds to 10 V at 34.5 kV (10 / 34 500 = 2.9e-4 pu) and to 1 V on the
# 120-V base of low-voltage service (1/120 = 8.3e-3 pu; Range B's 110 and 127 V are the exact
# limits, 110/120 and 127/120).
TABLE1_34_5KV = (34_500, 33_640, 36_230, 32_780, 36_510)
TABLE1_120V = (120, 114, 126, 110, 127)


def _series(values, step_s=1.0):
    return pd.Series(np.asarray(values, dtype=float),
                     index=pd.date_range(T0, periods=len(values), freq=pd.Timedelta(seconds=step_s)))


def test_bands_follow_ansi_c84_1_table_1_per_class():
    preset = get_preset("generic-utility")
    # low voltage (480 V, 120-V base): Range A 114-126 V, Range B 110-127 V
    vn, a_lo, a_hi, b_lo, b_hi = TABLE1_120V
    assert voltage_class(0.48) == "LV"
    assert preset.band("LV", "n-0") is ANSI_RANGE_A and preset.band("LV", "n-1") is ANSI_RANGE_B
    assert (ANSI_RANGE_A.vmin_pu, ANSI_RANGE_A.vmax_pu) == (a_lo / vn, a_hi / vn)
    assert (ANSI_RANGE_B.vmin_pu, ANSI_RANGE_B.vmax_pu) == (b_lo / vn, b_hi / vn)
    # medium-voltage service (34.5 kV): Range A 33 640-36 230 V, Range B 32 780-36 510 V
    vn, a_lo, a_hi, b_lo, b_hi = TABLE1_34_5KV
    assert voltage_class(34.5) == "MV"
    mv0, mv1 = preset.band("MV", "n-0"), preset.band("MV", "n-1")
    assert mv0 is ANSI_MV_SERVICE_RANGE_A and mv1 is ANSI_MV_SERVICE_RANGE_B
    tol = 10 / 34_500  # the table's 10-V rounding
    assert mv0.vmin_pu == pytest.approx(a_lo / vn, abs=tol) and mv0.vmax_pu == pytest.approx(a_hi / vn, abs=tol)
    assert mv1.vmin_pu == pytest.approx(b_lo / vn, abs=tol) and mv1.vmax_pu == pytest.approx(b_hi / vn, abs=tol)
    assert "C84.1" in mv0.source and "C84.1" in mv1.source
    # transmission (161 kV; ANSI gives only a maximum above 34.5 kV): the planning bands
    assert voltage_class(161.0) == "HV" and voltage_class(69.0) == "HV"
    assert preset.band("HV", "n-0") is PLANNING_N0 and preset.band("HV", "n-1") is PLANNING_N1
    assert PLANNING_N0.source.startswith("NERC TPL-001")


def test_same_series_judged_by_its_class():
    # 60 s at 1.0 pu with 5 s at 0.97 pu (t = 20 .. 24 s), as the demo's MV bus at N-0
    v = np.full(60, 1.0)
    v[20:25] = 0.97
    s = _series(v)
    preset = get_preset("generic-utility")
    mv = voltage_band_finding(s, preset.band(voltage_class(34.5), "n-0"))
    # 0.97 < 0.975 (Range A service at MV): 5 samples of 1 s outside, one excursion
    assert not mv.passed and mv.seconds_outside == 5.0 and mv.events == 1
    assert mv.worst_value == 0.97 and mv.limits[0].value == (0.975, 1.05)
    # the same series at 161 kV is inside the 0.95-1.05 planning band
    hv = voltage_band_finding(s, preset.band(voltage_class(161.0), "n-0"))
    assert hv.passed and hv.limits[0].source.startswith("NERC TPL-001")
    # and at 480 V inside low-voltage Range A (114 V / 120 V = 0.95): what the 34.5 kV bus was
    # judged by before, which let this series pass
    lv = voltage_band_finding(s, preset.band(voltage_class(0.48), "n-0"))
    assert lv.passed and lv.limits[0].value == (0.95, 1.05)
    # after a contingency the MV bus is held to Range B service (0.95): 0.97 passes
    assert voltage_band_finding(s, preset.band("MV", "n-1")).passed
    # 0.94 fails it (below 32 780 V / 34 500 V = 0.9501)
    assert not voltage_band_finding(_series([1.0, 0.94, 1.0]), preset.band("MV", "n-1")).passed


def test_bus_band_finding_service_range_at_poi_equipment_range_elsewhere():
    # a 161 kV bus and a 34.5 kV MV bus, both at 0.97 pu minimum. ANSI C84.1 service ranges hold at
    # the service point (the POI) only; the customer's own buses are judged against their
    # equipment range (0.90-1.10 pu, presets.EQUIPMENT_MV)
    bus = pd.DataFrame({"name": ["POI 161 kV", "MV 34.5 kV"], "vn_kv": [161.0, 34.5]}, index=[0, 1])
    t = T0 + pd.Timedelta(seconds=20)
    summary = pd.DataFrame({"vm_min_pu": [0.97, 0.97], "vm_max_pu": [1.01, 1.01],
                            "vm_min_time": [t, t], "vm_max_time": [T0, T0]}, index=[0, 1])
    result = SimpleNamespace(bus_summary=summary)
    # POI at 161 kV: 0.97 >= 0.95 (planning band) there, and the 34.5 kV customer bus is inside
    # its equipment range (0.97 >= 0.90), though below MV service Range A (0.975)
    site = SimpleNamespace(net=SimpleNamespace(bus=bus), source_impedance=None, poi_bus=0)
    f = bus_band_finding(site, result, get_preset("generic-utility"), "n-0")
    assert f.passed and f.details["buses_outside"] == []
    # the same voltages with the 34.5 kV bus as the service point (a feeder POI): 0.97 < 0.975 of
    # ANSI C84.1 MV service Range A fails there
    site_mv = SimpleNamespace(net=SimpleNamespace(bus=bus), source_impedance=None, poi_bus=1)
    f = bus_band_finding(site_mv, result, get_preset("generic-utility"), "n-0")
    assert not f.passed and f.details["buses_outside"] == ["MV 34.5 kV"]
    assert f.details["element"] == "MV 34.5 kV" and f.limits[0].value == (0.975, 1.05)
    # at N-1 (Range B service 0.95 at MV, 0.90 at HV) both pass
    assert bus_band_finding(site_mv, result, get_preset("generic-utility"), "n-1").passed
