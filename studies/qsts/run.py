"""One entry point for both QSTS engines: ``run_qsts(inputs, engine='fast'|'reference')``."""

from __future__ import annotations

import dataclasses

from gridstudy.studies.qsts.fast import run_fast
from gridstudy.studies.qsts.inputs import ProfileStream, QSTSInputs
from gridstudy.studies.qsts.reference import run_reference
from gridstudy.studies.qsts.results import QSTSResult

__all__ = ["run_qsts", "ENGINES"]

ENGINES = ("fast", "reference")


def run_qsts(inputs: QSTSInputs, engine: str = "fast", quiet: bool = False,
             block_steps: int = 4096) -> QSTSResult:
    """Run the quasi-static time series of ``inputs`` on the chosen engine.

    Parameters
    ----------
    inputs : QSTSInputs
        Site, profiles, controls and what to record.
    engine : {'fast', 'reference'}
        ``fast``: the batched engine (:func:`gridstudy.studies.qsts.fast.run_fast`); ``reference``:
        pandapower ``run_timeseries`` (:func:`gridstudy.studies.qsts.reference.run_reference`).
    quiet : bool
        No progress bar (a tqdm bar appears only on runs longer than about two seconds).
    block_steps : int
        Steps per block streamed into the result recorder. [-]

    Returns
    -------
    QSTSResult
    """
    if engine == "reference":
        if isinstance(inputs.profiles, ProfileStream):  # the reference engine takes whole frames
            inputs = dataclasses.replace(inputs, profiles=inputs.profiles.frame())

        return run_reference(inputs, quiet=quiet, block_steps=block_steps)
    if engine == "fast":
        return run_fast(inputs, quiet=quiet, block_steps=block_steps)
    raise ValueError(f"unknown QSTS engine {engine!r}; known: {', '.join(ENGINES)}")
