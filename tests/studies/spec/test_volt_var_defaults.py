"""Volt-var defaults by the POI voltage (issue 21, item 4): a transmission-connected plant (POI at
69 kV and above) after IEEE 2800-2022, a distribution-connected one IEEE 1547-2018 Category B."""

from __future__ import annotations

import math

import pytest

from gridstudy.models.dispatch import IEEE1547_CAT_B, IEEE2800_VOLT_VAR, TRANSMISSION_KV, default_volt_var
from gridstudy.studies.study import Study


def _study(tmp_path, site: str, reactive: str = ""):
    f = tmp_path / "s.toml"
    f.write_text(f'[study]\nname = "vv"\nsite = "{site}"\nduration = "1min"\n[battery]\nstrategy = "ramp_limit"\n'
                 f'[battery.reactive]\nmode = "volt_var"\n{reactive}')
    return Study.from_file(f)


def test_the_rule_and_the_two_default_curves():
    assert TRANSMISSION_KV == 69.0
    assert default_volt_var(69.0) is IEEE2800_VOLT_VAR and default_volt_var(161.0) is IEEE2800_VOLT_VAR
    assert default_volt_var(34.5) is IEEE1547_CAT_B and default_volt_var(None) is IEEE1547_CAT_B
    # IEEE 1547-2018 Category B defaults: 0.92 / 0.98 / 1.02 / 1.08 pu, 44 % of the inverter
    # rating, open-loop response time 5 s
    assert IEEE1547_CAT_B.v_pu == (0.92, 0.98, 1.02, 1.08) and IEEE1547_CAT_B.q_pu == (-0.44, 0.0, 0.0, 0.44)
    assert IEEE1547_CAT_B.response_time_s == 5.0
    # IEEE 2800-2022's reactive capability: 0.95 power factor at rated active power, i.e.
    # tan(acos 0.95) = 0.3287 of the active rating; per unit of an inverter sized p / 0.95 that is
    # 0.3287 x 0.95 = 0.3122 (rounded to 0.312 in the curve), reached at the edges of the
    # continuous operating range 0.95 and 1.05 pu
    assert math.tan(math.acos(0.95)) * 0.95 == pytest.approx(IEEE2800_VOLT_VAR.q_pu[-1], abs=5e-4)
    assert IEEE2800_VOLT_VAR.v_pu[0] == 0.95 and IEEE2800_VOLT_VAR.v_pu[-1] == 1.05
    assert IEEE2800_VOLT_VAR.response_time_s == 1.0


def test_a_study_takes_the_default_of_its_poi_voltage(tmp_path):
    tx = _study(tmp_path, "memphis-161kv")
    assert tx.strategy.reactive.curve == IEEE2800_VOLT_VAR
    assert tx.event_strategy()[2] == IEEE2800_VOLT_VAR  # the sag events' curve too
    dist = _study(tmp_path, "feeder-34.5kv")
    assert dist.strategy.reactive.curve == IEEE1547_CAT_B
    assert dist.event_strategy()[2] == IEEE1547_CAT_B


def test_values_given_in_the_file_replace_the_defaults_one_by_one(tmp_path):
    c = _study(tmp_path, "memphis-161kv", "response_time_s = 3.0\n").strategy.reactive.curve
    assert c.response_time_s == 3.0
    assert (c.v_pu, c.q_pu) == (IEEE2800_VOLT_VAR.v_pu, IEEE2800_VOLT_VAR.q_pu)
    assert c.basis.startswith("study file")
    c = _study(tmp_path, "feeder-34.5kv", "v_pu = [0.9, 1.1]\nq_pu = [-0.3, 0.3]\n").strategy.reactive.curve
    assert (c.v_pu, c.q_pu, c.response_time_s) == ((0.9, 1.1), (-0.3, 0.3), 5.0)
