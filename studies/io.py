"""Atomic output: write to a temporary file in the target folder, then rename."""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, overload

import numpy as np
import pandas as pd

__all__ = ["atomic_write", "write_json", "write_parquet", "to_jsonable"]


def text_sha256(text: str) -> str:
    """SHA-256 of a text's UTF-8 bytes, in hex: the ``input_sha256`` of a study's outputs."""
    return hashlib.sha256(text.encode()).hexdigest()


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)`` then rename onto ``path``; on error nothing is left behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file ordinary permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@overload
def to_jsonable(obj: dict[Any, Any]) -> dict[str, Any]: ...
@overload
def to_jsonable(obj: list[Any] | tuple[Any, ...]) -> list[Any]: ...
@overload
def to_jsonable(obj: Any) -> Any: ...


def to_jsonable(obj: Any) -> Any:
    """Convert numpy/pandas scalars and containers for JSON; NaN and inf become ``None``."""

    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, (pd.Timestamp,)):
        return obj.isoformat()
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    return obj


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically (NaN and inf as ``null``); return the path."""
    text = json.dumps(to_jsonable(data), indent=2, allow_nan=False) + "\n"
    return atomic_write(path, lambda p: p.write_text(text))


def write_parquet(path: str | Path, df: pd.DataFrame) -> Path:
    """Write ``df`` as Parquet to ``path`` atomically; return the path. A text column that also
    holds numbers (element names of an imported case, numbered, beside the site's own named
    elements) is written as text."""
    mixed = [k for k, c in enumerate(df.columns) if pd.api.types.is_object_dtype(df.dtypes.iloc[k]) and _mixed_text(df.iloc[:, k])]
    if mixed:
        df = df.copy()
        for k in mixed:
            col = df.iloc[:, k]
            df.isetitem(k, [str(v) if isinstance(v, (int, float, np.number)) and not _missing(v) else v for v in col])
    return atomic_write(path, lambda p: df.to_parquet(p))


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, (float, np.floating)) and math.isnan(v))


def _mixed_text(col: pd.Series) -> bool:
    """True for a column of text and numbers (no other kind: lists and the like are left as they are)."""
    kinds = {"text" if isinstance(v, str) else "number" if isinstance(v, (int, float, np.number)) else "other"
             for v in col if not _missing(v)}
    return kinds == {"text", "number"}
