"""Errors for bad input, shared by every layer.

Each layer raises its own subclass of :class:`InputError` (itself a ``ValueError``) once, with
every problem of the input listed, each with the field path and the offending value. The CLI turns
one into a message of one line per problem and exit code 2.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["Problem", "InputError", "SiteError", "problems_from_pydantic", "read_toml"]


@dataclass(frozen=True)
class Problem:
    """One problem of an input: where it is, what is wrong, and the value found there."""

    path: str
    message: str
    value: Any = None
    has_value: bool = True

    def __str__(self) -> str:
        if not self.has_value:
            return f"{self.path}: {self.message}"
        return f"{self.path}: {self.message}, got {self.value!r}"


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


def read_toml(path: str | os.PathLike[str], error: type[InputError] = SiteError, field: str = "site") -> dict[str, Any]:
    """Parse a TOML file; a missing file or bad TOML raises ``error`` naming ``field`` and the path."""
    import tomllib
    from pathlib import Path

    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise error([Problem(field, "file not found", str(path))]) from None
    except tomllib.TOMLDecodeError as exc:
        raise error([Problem(field, f"not valid TOML ({exc})", str(path))]) from None
