"""The demo study file's own claims, checked with the project's engine (issue 12, item 11)."""

import re
from pathlib import Path

import pandas as pd
import pytest

from gridstudy.studies.study import Study

DEMO = Path(__file__).resolve().parents[3] / "examples" / "demo.toml"


def test_demo_comment_states_the_measured_poi_swing(tmp_path):
    # The comment gives the POI voltage swing per training iteration without the battery. Measured
    # here at a 0.1-s step (the 1.5-s iteration resolved), campus at full load from 60 s (its
    # start ramp), over the 90th-180th second: the peak-to-peak POI voltage in every 1.5-s window.
    # The comment states one decimal of a percent: tolerance 0.05 %-point plus the spread of the
    # windows (every window is within it, so the stated number is the swing of each iteration).
    stated = float(re.search(r"~(\d+(?:\.\d+)?) % per swing", DEMO.read_text()).group(1)) / 100.0
    text = (DEMO.read_text().replace('duration = "1D"', 'duration = "3min"')
            .replace("step_s = 1.0\nseed", "step_s = 0.1\nseed").replace("job_start_s = 1800.0", "job_start_s = 0.0")
            .replace('window = "1h"', 'window = "all"'))
    path = tmp_path / "demo-swing.toml"
    path.write_text(text)
    st = Study.from_file(path)
    assert st.step_s == 0.1
    v = st.qsts("fast")["without_battery"].series["poi_vm_pu"]
    v = v[v.index >= v.index[0] + pd.Timedelta("90s")]
    p2p = (v.rolling(15).max() - v.rolling(15).min()).dropna()
    assert p2p.median() == pytest.approx(stated, abs=0.0005)
    assert p2p.min() > stated - 0.001 and p2p.max() < stated + 0.001
