"""Errors for bad input, shared by every layer.

Each layer raises its own subclass of :class:`InputError` (itself a ``ValueError``) once, with
every problem of the input listed, each with the field path and the offending value. The CLI turns
one into a message of one line per problem and exit code 2.
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from numbers import Real
from pathlib import Path
from typing import Any

from pydantic import ConfigDict

__all__ = ["Problem", "InputError", "SiteError", "problems_from_pydantic", "read_toml", "read_text",
           "parse_toml_text", "parse_json_object", "MAX_VALUE_CHARS", "INPUT_MODEL_CONFIG", "NOT_FINITE",
           "is_non_finite", "non_finite_problems"]

#: Longest rendering of a value in a problem message; longer values are cut (an error never echoes a
#: whole file). [characters]
MAX_VALUE_CHARS = 200


#: The configuration of every pydantic schema of an input file (site, network, study sections): unknown
#: keys refused, the parsed file frozen, and no infinite or NaN number in any float field (TOML and
#: JSON can write ``inf`` and ``nan``; no parameter of this package means one).
INPUT_MODEL_CONFIG = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

#: The message of a non-finite number, in every layer (pydantic's own, "Input should be a finite
#: number", is rewritten to it where a layer rewrites pydantic's messages).
NOT_FINITE = "must be a finite number"


def is_non_finite(value: Any) -> bool:
    """Whether ``value`` is an infinite or NaN real number, or a list or tuple holding one (a
    boolean, an integer, a string or ``None`` is not)."""
    if isinstance(value, (list, tuple)):
        return any(is_non_finite(v) for v in value)
    if isinstance(value, bool) or not isinstance(value, Real):
        return False
    try:
        return not math.isfinite(value)
    except OverflowError:  # an integer too large for a float is finite
        return False


def non_finite_problems(values: Mapping[str, Any], prefix: str = "") -> list[Problem]:
    """One problem per non-finite number among ``values`` (name -> value): the one finiteness rule
    of the parameters that are not read through a pydantic schema (the models' parameter classes,
    the arguments of the functions that attach a campus to a network)."""
    return [Problem(f"{prefix}.{name}" if prefix else name, NOT_FINITE, list(v) if isinstance(v, tuple) else v)
            for name, v in values.items() if is_non_finite(v)]


def _short(value: Any) -> str:
    text = repr(value)
    if len(text) > MAX_VALUE_CHARS:
        text = f"{text[:MAX_VALUE_CHARS]}... ({len(text)} characters)"
    return text


@dataclass(frozen=True)
class Problem:
    """One problem of an input: where it is, what is wrong, and the value found there."""

    path: str
    message: str
    value: Any = None
    has_value: bool = True

    def __str__(self) -> str:
        # a message quoting a file (a parser's own text) is cut like a value
        msg = self.message if len(self.message) <= 2 * MAX_VALUE_CHARS else self.message[:2 * MAX_VALUE_CHARS] + "..."
        if not self.has_value:
            return f"{self.path}: {msg}"
        return f"{self.path}: {msg}, got {_short(self.value)}"


class InputError(ValueError):
    """Bad input: carries every problem found, each with its field path and value."""

    kind = "input"

    def __init__(self, problems: Iterable[Problem], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        head = f"invalid {self.kind}" + (f" {source}" if source else "")
        lines = [f"{head}: {len(self.problems)} problem(s)"]
        lines += [f"  {p}" for p in self.problems]
        super().__init__("\n".join(lines))

    @property
    def fields(self) -> list[str]:
        """The field paths named by the problems, in order."""
        return [p.path for p in self.problems]


class SiteError(InputError):
    """A site description (TOML, or a net with attachments) is invalid."""

    kind = "site"


def _loc_to_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<root>"


def problems_from_pydantic(exc: Any, prefix: str = "") -> list[Problem]:
    """Turn a ``pydantic.ValidationError`` into problems with dotted field paths."""
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(err.get("loc", ()))
        # pydantic puts the tag of a tagged union in the location; drop pure tag parts
        path = _loc_to_path(loc)
        if prefix:
            path = f"{prefix}.{path}" if path != "<root>" else prefix
        msg = err.get("msg", "invalid")
        msg = msg.removeprefix("Value error, ")
        if err.get("type") == "finite_number":  # allow_inf_nan=False (INPUT_MODEL_CONFIG)
            msg = NOT_FINITE
        if err.get("type") == "missing":
            problems.append(Problem(path, "required field is missing", has_value=False))
        else:
            problems.append(Problem(path, msg, err.get("input")))
    return problems


def read_text(path: str | os.PathLike[str], error: type[InputError] = SiteError, field: str = "site") -> str:
    """The text of an input file (UTF-8); a missing file, a folder, an unreadable or non-UTF-8 file
    raises ``error`` naming ``field`` and the path (never the content)."""

    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error([Problem(field, "file not found", str(path))]) from None
    except IsADirectoryError:
        raise error([Problem(field, "is a folder, not a file", str(path))]) from None
    except UnicodeDecodeError as exc:
        raise error([Problem(field, f"not UTF-8 text (byte {exc.start})", str(path))]) from None
    except OSError as exc:
        raise error([Problem(field, f"cannot be read ({exc.strerror or exc})", str(path))]) from None


def parse_toml_text(text: str, path: str, error: type[InputError] = SiteError, field: str = "site") -> dict[str, Any]:
    """Parse TOML text; bad TOML (including nesting too deep to parse) raises ``error``."""

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error([Problem(field, f"not valid TOML ({exc})", path)]) from None
    except RecursionError:
        raise error([Problem(field, "not valid TOML (nested too deeply)", path)]) from None


def read_toml(path: str | os.PathLike[str], error: type[InputError] = SiteError, field: str = "site") -> dict[str, Any]:
    """Parse a TOML file; a missing, unreadable or non-UTF-8 file or bad TOML raises ``error``
    naming ``field`` and the path."""
    return parse_toml_text(read_text(path, error, field), str(path), error, field)


_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean",
               type(None): "null"}


def parse_json_object(text: str, source: str, error: type[InputError] = SiteError, field: str = "site",
                      expected: str = "a JSON object") -> dict[str, Any]:
    """Parse JSON text whose top level must be an object: the one shape check of every JSON input.

    Bad JSON, nesting too deep to parse, or a top level that is an array, a string, a number, a
    boolean or null raises ``error`` naming ``field``, the file (``source``) and what was
    expected (``expected``, e.g. "a pandapower net written by pandapower.to_json").
    """

    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        msg = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:120]
        raise error([Problem(field, f"not valid JSON ({msg}); expected {expected}", source)]) from None
    if not isinstance(parsed, dict):
        kind = _JSON_TYPES.get(type(parsed), type(parsed).__name__)
        raise error([Problem(field, f"the top level is {kind}, not an object; expected {expected}", source)])
    return parsed
