"""Errors of the study layer."""

from __future__ import annotations

from gridstudy.grid.errors import InputError

__all__ = ["StudyError", "ReportError", "NotConvergedError"]


class StudyError(InputError):
    """A study file (or its combination with a site) is invalid."""

    kind = "study"


class ReportError(InputError):
    """A folder given to the report is not a study output, or its saved files are invalid."""

    kind = "study output"


class NotConvergedError(RuntimeError):
    """A power flow the study cannot go past did not converge: a finding (voltage collapse), not
    bad input; the command stops with its verdict (exit code 1)."""

