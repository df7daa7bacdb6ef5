"""gridstudy: grid-interconnection power-flow studies of AI training campuses and their batteries.

The package has three layers, each a sub-package (lower never imports higher):

- :mod:`gridstudy.grid` — what is connected to what: site description -> pandapower net;
- :mod:`gridstudy.models` — what changes over time: campus load, Megapack plant, dispatch;
- :mod:`gridstudy.studies` — what is asked and answered: the :class:`Study`, engines, criteria,
  reports, the command line.

The names below are loaded on first use, so ``import gridstudy`` stays light::

    import gridstudy
    result = gridstudy.Study.from_file("examples/demo.toml").run()
    result.save("out/demo")
    gridstudy.report("out/demo")

In a source checkout the sub-packages live in the top-level folders ``grid/``, ``models/`` and
``studies/``; ``pyproject.toml`` maps them under this namespace.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

__all__ = ["Study", "StudyResult", "report", "grid", "models", "studies", "__version__"]

_LAZY = {
    "Study": ("gridstudy.studies.study", "Study"),
    "StudyResult": ("gridstudy.studies.output.result", "StudyResult"),
    "report": ("gridstudy.studies.report.render", "report"),
}
_SUBPACKAGES = ("grid", "models", "studies")


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"gridstudy.{name}")
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    if name == "__version__":
        try:
            return version("gridstudy")
        except PackageNotFoundError:
            return "unknown"
    raise AttributeError(f"module 'gridstudy' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
