"""One exit-code rule for every command that solves power flows: 1 when a step did not converge
(a finding, with the results written), as the README's "Exit codes" says."""

from __future__ import annotations

import json

import pytest

STUDY = """
[study]
name = "collapse after the job starts"
site = "feeder-34.5kv"
duration = "2min"
seed = 1
[campus]
# about 80 MW on a feeder of SCR 4.7 for 25 MW: the idle campus of the first steps converges,
# the full campus after the 30-s start ramp does not
gpus = 60000
job_start_s = 30.0
start_ramp_s = 30.0
checkpoint_interval_s = 0.0
[battery]
strategy = "none"
[contingencies]
enabled = false
[sag]
enabled = false
[fluctuation]
enabled = false
"""


@pytest.mark.parametrize("command, extra", [("run", ["--no-report"]), ("qsts", [])])
def test_nonconverged_steps_exit_1_and_write_results(tmp_path, cli, command, extra):
    f = tmp_path / "s.toml"
    f.write_text(STUDY)
    out = tmp_path / "out"
    code, _, err = cli(command, f, "--out", out, "--quiet", *extra)
    assert code == 1, err
    assert "Traceback" not in err
    summary = json.loads((out / ("summary.json" if command == "run" else "qsts.json")).read_text())
    steps = [s["nonconverged_steps"] for s in summary["scenarios"].values()]
    assert min(steps) > 0  # the full campus collapses the feeder: a finding, counted


def test_engine_stops_when_the_first_block_does_not_converge():
    """A campus of 400 MW at the end of a feeder built for 25 MW collapses every step: the engine
    stops after its first block with the verdict (the CLI's exit 1), instead of a full-Newton retry
    on every remaining step; a run whose first block converges is carried to its end."""
    import numpy as np
    import pandas as pd

    from gridstudy.grid import load_site
    from gridstudy.studies.errors import NotConvergedError
    from gridstudy.studies.qsts.fast import run_fast
    from gridstudy.studies.qsts.inputs import QSTSInputs

    site = load_site("feeder-34.5kv")
    idx = pd.date_range("2025-07-01", periods=12, freq="1s")
    with pytest.raises(NotConvergedError, match="none of the first 4 steps converged"):
        run_fast(QSTSInputs(site, pd.DataFrame({"campus_p_mw": np.full(12, 400.0)}, index=idx)), quiet=True,
                 block_steps=4, pipeline=False)
    # converged first block, collapse later: every step is solved and the failures are counted
    p = np.r_[np.full(4, 10.0), np.full(8, 400.0)]
    res = run_fast(QSTSInputs(site, pd.DataFrame({"campus_p_mw": p}, index=idx)), quiet=True, block_steps=4,
                   pipeline=False)
    assert res.nonconverged_steps == 8
