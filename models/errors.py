"""Errors of the model layer: bad model parameters, profiles or traces."""

from __future__ import annotations

from gridstudy.grid.errors import InputError, Problem

__all__ = ["ModelError", "Problem"]


class ModelError(InputError):
    """A model parameter, time index or measured trace is invalid (every problem listed)."""

    kind = "model"
