"""Study files cut to a short horizon for tests: the same sections and scenarios, less work.

:func:`shorten` rewrites a study file's text: a horizon of a few minutes, N-1 over the whole short
horizon, one short sub-second window without sensitivities, one short sag event, and scripted
campus events moved into the short horizon. Tests that run a study file end to end (the README's
commands, the parse counts, the wheel) use it so that what they check is the file's handling, not
its size.
"""

from __future__ import annotations

import re

__all__ = ["shorten", "SHORT_DURATION", "SHORT_SAG", "SHORT_FLUCT"]

#: A short horizon for every study file, and a short run of each sag event. [TOML text]
SHORT_DURATION = '"4min"'
SHORT_SAG = ('\n[sag]\nduration_s = 4.0\nevents = [{ name = "sag to 0.85 pu for 0.5 s", kind = "source_sag", '
             'vm_pu = 0.85, duration_s = 0.5 }]\n')
#: One short sub-second window (one minute at 100 ms, no sensitivity): the reference engine runs it
#: too. A file with a grid-forming scenario runs it at 20 ms: its power loop is refused at steps it
#: cannot be advanced at (the demo's at 45 ms and above, studies/setup.py grid_forming_problems).
SHORT_FLUCT = ("[fluctuation]\nstep_s = {step}\nwindow_s = 60.0\nwarmup_s = 5.0\nworst_windows = 1\nevents = false\n"
               "latencies_s = []\ncontrol_modes = false\nperiods_s = []\n\n")


def shorten(text: str, *, reference_engine: bool = False) -> str:
    """The study file's text with a short horizon, window, sub-second window and sag event.

    ``reference_engine``: the file is run by pandapower's time series (tens of power flows a second
    rather than tens of thousands): its horizon is two minutes.
    """
    duration, duration_s = ('"2min"', 120) if reference_engine else (SHORT_DURATION, 240)
    text = re.sub(r'(?m)^duration = ".*"$', f"duration = {duration}", text)
    text = re.sub(r"(?m)^duration_s = .*$", f"duration_s = {duration_s}", text)
    text = re.sub(r"(?m)^(job_start_s|trip_at_s) = .*$", r"\1 = 30.0", text)
    text = re.sub(r"(?m)^job_stop_s = .*$", "job_stop_s = 150.0", text)
    text = re.sub(r'(?m)^window = ".*"$', 'window = "1min"', text)  # N-1 over one minute of the horizon
    fluct = SHORT_FLUCT.format(step=0.02 if "grid_forming" in text else 0.1)
    if re.search(r"(?m)^\[fluctuation\]", text):
        text = re.sub(r"(?ms)^\[fluctuation\]\n.*?(?=^\[|\Z)", fluct, text)
    else:
        text = text + "\n" + fluct
    if re.search(r"(?m)^\[sag\]", text):
        return re.sub(r"(?m)^\[sag\]$", SHORT_SAG.strip(), text)
    return text + SHORT_SAG
