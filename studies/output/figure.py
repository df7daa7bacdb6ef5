"""The figures a command writes beside its tables (``sizing.png``, ``sweep.png``): matplotlib on its
non-interactive backend when the optional report extra is installed, each figure written atomically."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

from gridstudy.studies.io import atomic_write

__all__ = ["pyplot", "save_png"]


def pyplot() -> ModuleType | None:
    """``matplotlib.pyplot`` on the Agg backend, or ``None`` without the report extra (the command
    then writes its tables without the figure)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ModuleNotFoundError:  # the report extra is optional
        return None
    return plt


def save_png(fig: Any, path: Path, dpi: int = 110) -> None:
    """Write ``fig`` to ``path`` as PNG (a temporary file, then renamed) and close it."""
    import matplotlib.pyplot as plt

    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=dpi))
    plt.close(fig)
