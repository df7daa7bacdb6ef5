"""Criteria: pure functions that turn time series of study results into findings.

Each criterion takes pandas objects on a fixed-step ``DatetimeIndex`` and returns a
:class:`Finding` with its verdict, its evidence (worst value, when, how long, how often) and the
limits used, each with its source.
"""

from studies.criteria._base import CriteriaError, Finding, Limit, step_seconds

__all__ = ["CriteriaError", "Finding", "Limit", "step_seconds"]
