"""What the report reads from ``summary.json``, as a schema checked before anything is rendered.

A saved output is a file anyone can edit: keys removed, values of the wrong type, criteria
tampered with, text that is not JSON. :func:`load_summary` reads ``summary.json`` and validates it
against :class:`SummaryFile` (the keys and types the report's code reads; further keys are kept),
raising one :class:`gridstudy.studies.errors.ReportError` that names every bad field (exit code 2)
instead of a ``KeyError`` half-way through a figure. :func:`read_table` does the same for a
Parquet table: a file that is present but unreadable is named, never silently dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from gridstudy.grid.errors import Problem, parse_json_object, problems_from_pydantic, read_text
from gridstudy.studies.errors import ReportError

__all__ = ["SummaryFile", "CapabilityEntry", "ScenarioEntry", "CriterionEntry", "LimitEntry", "load_summary", "read_table"]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class LimitEntry(_Open):
    """One limit of a criterion."""

    name: str
    value: Any = None  # a number, a band [low, high] or a text
    unit: str | None = None
    source: str | None = None


class CriterionEntry(_Open):
    """One finding of a scenario (``criteria`` of a scenario)."""

    id: str
    group: str
    criterion: str
    passed: StrictBool = Field(alias="pass")
    limits: list[LimitEntry] = Field(default_factory=list)
    details: dict[str, Any] | None = None


class ScenarioEntry(_Open):
    """One scenario's verdict and figures."""

    passed: StrictBool = Field(alias="pass")
    criteria: list[CriterionEntry] = Field(default_factory=list)
    failed: list[str] = Field(default_factory=list)
    n0_band_pu: list[float] | None = None
    strategy: str | None = None
    nonconverged_steps: int | None = Field(None, ge=0)


class CapabilityEntry(_Open):
    """The plant's full capability (``plant_capability``): the approach, every corner state, the verdict."""

    approach: str
    corners: list[dict[str, Any]] = Field(default_factory=list)
    passed: StrictBool = Field(alias="pass")
    worst: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)
    note: str = ""


class SummaryFile(_Open):
    """``summary.json`` of ``gridstudy run``, as far as the report reads it."""

    study: str
    site: str
    site_description: str | None = None
    steps: int = Field(ge=1)
    step_s: float = Field(gt=0, allow_inf_nan=False)
    start: str
    end: str
    engine: str
    criteria_preset: str | None = None
    input_sha256: str | None = None
    site_summary: dict[str, Any] | None = None
    battery: dict[str, Any] | None = None
    campus_model: dict[str, Any] | None = None
    scenarios: dict[str, ScenarioEntry] = Field(min_length=1)
    bus_bands_n0: dict[str, list[float | None]] | None = None
    contingencies: list[dict[str, Any]] = Field(default_factory=list)
    loss_of_supply: list[dict[str, Any]] = Field(default_factory=list)
    sag_events: list[dict[str, Any]] = Field(default_factory=list)
    passed: StrictBool = Field(alias="pass")
    page_size: str | None = None
    largest_load_loss: dict[str, Any] | None = None
    warnings: list[str] = Field(default_factory=list)
    plant_capability: CapabilityEntry | None = None


def load_summary(d: Path) -> dict[str, Any]:
    """``d/summary.json`` parsed and validated against :class:`SummaryFile`.

    Raises
    ------
    ReportError
        Not JSON, or every field that is missing or of the wrong type, with its path.
    """
    path = d / "summary.json"
    data = parse_json_object(read_text(path, ReportError, "summary.json"), str(path), ReportError, "summary.json",
                             "the summary a study wrote")
    try:
        SummaryFile.model_validate(data)
    except ValidationError as exc:
        raise ReportError(problems_from_pydantic(exc, prefix="summary.json"), source=str(d)) from None
    return data


def read_table(path: Path) -> pd.DataFrame | None:
    """A Parquet table of the output, ``None`` when absent.

    Raises
    ------
    ReportError
        The file is there but is not a readable Parquet table (naming it).
    """
    if not path.exists():
        return None
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises its own errors for a damaged file
        first = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise ReportError([Problem(path.name, f"not a readable Parquet table ({first})", str(path))]) from None
