"""Errors of the study layer."""

from __future__ import annotations

from gridstudy.grid.errors import InputError

__all__ = ["StudyError", "ReportError", "NotConvergedError", "MissingExtraError", "EXIT_OK", "EXIT_NONCONVERGED", "EXIT_BAD_INPUT",
           "EXIT_ENVIRONMENT", "EXIT_INTERNAL"]

#: Exit codes of every ``gridstudy`` command: done (every verdict written, pass or fail); a power
#: flow did not converge (a finding, written); bad input (nothing written); the environment failed
#: (disk, permissions, a busy output folder, an unreachable scheduler); an internal error.
EXIT_OK, EXIT_NONCONVERGED, EXIT_BAD_INPUT, EXIT_ENVIRONMENT, EXIT_INTERNAL = 0, 1, 2, 3, 4


class StudyError(InputError):
    """A study file (or its combination with a site) is invalid."""

    kind = "study"


class ReportError(InputError):
    """A folder given to the report is not a study output, or its saved files are invalid."""

    kind = "study output"


class NotConvergedError(RuntimeError):
    """A power flow the study cannot go past did not converge: a finding (voltage collapse), not
    bad input; the command stops with its verdict (exit code 1)."""



class MissingExtraError(OSError):
    """An option of the study needs an optional extra that is not installed: the environment, not
    the input (exit code 3); the message names the extra to install."""

    def __init__(self, option: str, extra: str, module: str) -> None:
        super().__init__(f"{option} needs the '{extra}' extra ({module} is not installed): "
                         f"pip install 'gridstudy[{extra}]'")
        self.extra, self.module = extra, module
