"""Errors for bad input, shared by every layer.

Each layer raises its own subclass of :class:`InputError` (itself a ``ValueError``) once, with
every problem of the input listed, each with the field path and the offending value. The CLI turns
one into a message of one line per problem and exit code 2.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Problem", "InputError", "SiteError", "problems_from_pydantic", "read_toml", "read_text",
           "parse_toml_text", "MAX_VALUE_CHARS"]

#: Longest rendering of a value in a problem message; longer values are cut (an error never echoes a
#: whole file). [characters]
MAX_VALUE_CHARS = 200


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

    def __init__(self, problems: Iterable[Problem], source: str | None = None):
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
