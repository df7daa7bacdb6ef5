"""Errors of the model layer: bad model parameters, profiles or traces."""

from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Any, TypeVar

from gridstudy.grid.errors import InputError, Problem, non_finite_problems

__all__ = ["ModelError", "Problem", "finite_parameters"]


class ModelError(InputError):
    """A model parameter, time index or measured trace is invalid (every problem listed)."""

    kind = "model"


_C = TypeVar("_C", bound=type)


def _parameter_names(cls: type) -> tuple[str, ...]:
    """The parameters of a parameter class: its dataclass fields, or the named parameters of its
    ``__init__`` (kept as attributes of the same name, as the dispatch strategies do)."""
    if dataclasses.is_dataclass(cls):
        return tuple(f.name for f in dataclasses.fields(cls))
    params = inspect.signature(cls.__init__).parameters.values()  # type: ignore[misc]  # a class's own __init__
    return tuple(p.name for p in params if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))


def finite_parameters(cls: _C) -> _C:
    """Class decorator: the one finiteness rule of the models' parameter classes.

    The class's ``problems(prefix)`` (every problem of its parameter set, each at
    ``prefix.name``) reports first one problem per parameter that is an infinite or NaN number, or
    a tuple or list holding one (:func:`gridstudy.grid.errors.non_finite_problems`), in place of
    its own problems at those paths (a NaN fails every comparison, an infinite rating passes a
    check of sign), the others after them. Ranges and signs stay each class's own checks; a parameter that is itself a
    parameter object (a smoothing, a curve, a recovery) is judged by that object's ``problems``.
    """
    inner = cls.__dict__["problems"]
    sig = inspect.signature(inner)
    names = _parameter_names(cls)

    @functools.wraps(inner)
    def problems(self: Any, *args: Any, **kwargs: Any) -> list[Problem]:
        bound = sig.bind(self, *args, **kwargs)
        bound.apply_defaults()
        prefix = str(bound.arguments.get("prefix", ""))
        bad = {q.path: q for q in non_finite_problems({n: getattr(self, n, None) for n in names}, prefix)}
        out: list[Problem] = []
        for q in inner(self, *args, **kwargs):  # in the class's order, a non-finite field's problem in its place
            if q.path not in bad:
                out.append(q)
            elif bad[q.path] not in out:
                out.append(bad[q.path])
        return out + [q for q in bad.values() if q not in out]

    setattr(cls, "problems", problems)  # noqa: B010  # a method replaced on the class mypy sees as a type
    return cls
