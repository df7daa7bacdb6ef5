"""Errors of the study layer."""

from __future__ import annotations

from gridstudy.grid.errors import InputError

__all__ = ["StudyError"]


class StudyError(InputError):
    """A study file (or its combination with a site) is invalid."""

    kind = "study"
