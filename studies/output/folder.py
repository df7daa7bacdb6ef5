"""Output folders that are complete or absent: a lock, a staging folder, a completion marker.

Every command that writes an output folder (``run``, ``qsts``, ``profile``, ``size``, ``sweep``,
:meth:`~gridstudy.studies.output.result.StudyResult.save`) does it through :func:`output_folder`:

1. **Lock.** An exclusive, non-blocking ``fcntl.flock`` on ``.<name>.lock`` beside the target
   folder ``<name>``. A second writer of the same folder is refused at once with
   :class:`OutputBusyError` (exit code 3, an environment problem), before any computation.
   ``gridstudy report`` takes the same lock while it re-renders.
2. **Staging.** The command writes into ``.<name>.staging-XXXX`` beside the target (same file
   system), never into the target itself.
3. **Marker.** When everything is written, :data:`MARKER` (``complete.json``: the command and the
   list of files) is written last into the staging folder.
4. **Move into place.** The staging folder replaces the target in one step (Linux
   ``renameat2(RENAME_EXCHANGE)``; elsewhere the old folder is renamed to ``.<name>.old-XXXX``, the
   staging folder to the target, and the old one deleted). Nothing of a previous run survives
   beside the new one (no stale scenario folder, no old report).

So an interrupted run leaves either the previous complete folder or none, plus at most a hidden
staging or old folder that readers ignore and the next run of that folder deletes. A reader
(:func:`check_complete`; the report) refuses a folder without the marker, or whose marker lists a
file that is missing (:class:`IncompleteOutputError`, exit code 2).

The target must be new, empty, or a previous output (it holds the marker, or a file only a
gridstudy command writes): a folder of other files is refused, never replaced
(:class:`OutputFolderError`, exit code 3).

Testing hook: ``GRIDSTUDY_FAULT_AFTER=<point>[:TERM|:INT]`` makes the process send itself SIGKILL
(or the named signal) when it reaches the named point (:func:`fault_point`), so that tests hit an
exact moment of a run.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gridstudy.grid.errors import InputError, Problem, parse_json_object
from gridstudy.studies.errors import EXIT_ENVIRONMENT
from gridstudy.studies.io import write_json

__all__ = ["MARKER", "OutputFolderError", "OutputBusyError", "IncompleteOutputError", "output_folder",
           "locked", "write_marker", "check_complete", "stop_on_signals", "fault_point"]

#: The completion marker, written last into a complete output folder.
MARKER = "complete.json"
#: Files only a gridstudy command writes: a folder holding one is a previous output (written before
#: the marker existed, or an interrupted sweep's resumable ``scenarios/`` store) and may be replaced.
OWN_NAMES = frozenset({MARKER, "summary.json", "qsts.json", "profiles.json", "sizing.json", "sweep.json", "scenarios"})
#: Files of the report: a view of the results, re-rendered by ``gridstudy report``.
REPORT_FILES = ("report.html", "report.pdf", "report_tables/")


class OutputFolderError(OSError):
    """The output folder cannot be used (not writable, not a folder, holds other files): exit code 3."""

    exit_code = EXIT_ENVIRONMENT


class OutputBusyError(OutputFolderError):
    """Another gridstudy process holds the output folder's lock: exit code 3."""


class IncompleteOutputError(InputError):
    """A folder given to a reader is not a complete gridstudy output: exit code 2."""

    kind = "output folder"


# ----------------------------------------------------------------------------------------- helpers
def fault_point(point: str) -> None:
    """Testing hook: kill this process here when ``GRIDSTUDY_FAULT_AFTER`` names ``point``.

    With ``GRIDSTUDY_FAULT_ONCE`` naming a file, the fault is armed by that file: only the process
    that removes it is killed (once, whichever process of a pool or cluster gets there first)."""
    want = os.environ.get("GRIDSTUDY_FAULT_AFTER")
    if not want:
        return
    name, _, sig = want.partition(":")
    if name != point:
        return
    once = os.environ.get("GRIDSTUDY_FAULT_ONCE")
    if once:
        try:
            os.remove(once)
        except FileNotFoundError:  # not armed, or another process took it
            return
    os.kill(os.getpid(), getattr(signal, f"SIG{sig or 'KILL'}"))


_defer = False
_deferred: list[int] = []


def _leave(signum: int, frame: Any) -> None:
    if _defer:  # moving the folder into place: finish that first (see _uninterrupted)
        _deferred.append(signum)
        return
    raise SystemExit(128 + signum)


@contextmanager
def _uninterrupted() -> Iterator[None]:
    """Hold back SIGTERM/SIGHUP (under :func:`stop_on_signals`) until the block is done, then act on them."""
    global _defer
    _defer = True
    try:
        yield
    finally:
        _defer = False
        if _deferred:
            signum = _deferred[0]
            _deferred.clear()
            raise SystemExit(128 + signum)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into ``SystemExit(128 + signal)`` in the main thread while inside.

    Their default action ends the process on the spot; as an exception they unwind it: ``finally``
    blocks run, worker pools are stopped, the staging folder and temporary folders are removed.
    SIGINT is already ``KeyboardInterrupt``. A handler someone else installed is left alone.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) in (signal.SIG_DFL, None):
            old[sig] = signal.signal(sig, _leave)
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2`` with ``RENAME_EXCHANGE``); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):  # a file system or kernel without it
        return False
    raise OSError(err, os.strerror(err), str(b))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _resolve(target: str | Path) -> Path:
    raw = Path(target)
    if not str(target).strip():
        raise OutputFolderError(errno.EINVAL, "the output folder name is empty")
    path = Path(os.path.realpath(raw))
    if path.parent == path:
        raise OutputFolderError(errno.EINVAL, f"{raw}: the root folder cannot be an output folder")
    return path


def _lock_path(target: Path) -> Path:
    return target.parent / f".{target.name}.lock"


def _leftovers(target: Path) -> list[Path]:
    pat = re.compile(rf"^\.{re.escape(target.name)}\.(staging|old)-[A-Za-z0-9_]+$")
    try:
        return [p for p in target.parent.iterdir() if pat.match(p.name)]
    except OSError:
        return []


def _is_own(target: Path) -> bool:
    """The target may be replaced: it does not exist, is empty, or is a previous gridstudy output."""
    if not target.exists():
        return True
    if not target.is_dir():
        return False
    names = {p.name for p in target.iterdir()}
    return not names or bool(names & OWN_NAMES)


# ------------------------------------------------------------------------------------------- lock
@contextmanager
def locked(target: str | Path, *, create_parent: bool = True) -> Iterator[Path]:
    """Hold the exclusive lock of the output folder ``target``; yield its resolved path.

    Raises
    ------
    OutputBusyError
        Another process holds it (the lock is not waited for).
    OutputFolderError
        The lock file cannot be created (a folder that is not writable, a missing parent).
    """

    path = _resolve(target)
    created: list[Path] = []
    if create_parent:
        for p in reversed([path.parent, *path.parent.parents]):
            if not p.exists():
                try:
                    p.mkdir()
                except OSError as exc:
                    _remove_empty(created)
                    raise OutputFolderError(exc.errno, f"cannot create {p}: {exc.strerror}") from None
                created.append(p)
    lock = _lock_path(path)
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            _remove_empty(created)
            raise OutputFolderError(exc.errno, f"cannot write beside the output folder {path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise OutputBusyError(errno.EBUSY, f"the output folder {path} is in use by another gridstudy run "
                                      f"(it holds {lock.name}); wait for it to end or choose another folder") from None
            raise OutputFolderError(exc.errno, f"cannot lock the output folder {path}: {exc.strerror}") from None
        try:  # the holder before us may have removed the file on release: lock the file that is there now
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield path
    finally:
        try:
            os.unlink(lock)  # still held: whoever opened this file retries on the new one
        except OSError:
            pass
        os.close(fd)


def _remove_empty(dirs: list[Path]) -> None:
    for p in reversed(dirs):
        try:
            p.rmdir()
        except OSError:
            break


# ----------------------------------------------------------------------------------------- marker
def _files(d: Path) -> list[str]:
    return sorted(p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file() and p.name != MARKER
                  and not p.name.endswith(".tmp"))


def write_marker(d: str | Path, command: str) -> Path:
    """Write :data:`MARKER` into ``d`` (atomically): the command and every file of the folder."""

    d = Path(d)
    return write_json(d / MARKER, {"gridstudy_output": command, "files": _files(d)})


def check_complete(d: str | Path, command: str | None = None, *, ignore: tuple[str, ...] = ()) -> dict[str, Any]:
    """The marker of a complete output folder ``d``; :class:`IncompleteOutputError` otherwise.

    Parameters
    ----------
    d : str or Path
        The folder.
    command : str, optional
        The command that must have written it (``run`` for the report).
    ignore : tuple of str
        Listed files (or folder prefixes ending in ``/``) that may be missing.
    """
    d = Path(d)

    def refuse(message: str) -> IncompleteOutputError:
        return IncompleteOutputError([Problem(str(d), message, has_value=False)])

    if not d.exists():
        raise refuse("no such folder")
    if not d.is_dir():
        raise refuse("is a file, not an output folder")
    marker = d / MARKER
    if not marker.is_file():
        raise refuse(f"no {MARKER}: not a complete gridstudy output (a run that was interrupted or is still "
                     "writing, or another folder); run the study again")
    try:
        text = marker.read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        raise refuse(f"{MARKER} cannot be read ({type(exc).__name__}); run the study again") from None
    data = parse_json_object(text, str(marker), IncompleteOutputError, str(d), "a completion marker; run the study again")
    if not isinstance(data.get("files"), list):
        raise refuse(f"{MARKER} is not a completion marker; run the study again")
    if command is not None and data.get("gridstudy_output") != command:
        raise refuse(f"written by `gridstudy {data.get('gridstudy_output')}`, not by `gridstudy {command}`")
    missing = [f for f in data["files"] if isinstance(f, str) and not (d / f).is_file()
               and not any(f == i or (i.endswith("/") and f.startswith(i)) for i in ignore)]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise refuse(f"incomplete: {', '.join(missing[:3])}{more} missing; run the study again")
    return data


# ------------------------------------------------------------------------------------------ folder
@contextmanager
def output_folder(target: str | Path, command: str) -> Iterator[Path]:
    """Lock ``target``, yield a staging folder to write into, then move it into place with its marker.

    On an exception (a signal included, see :func:`stop_on_signals`) the staging folder is removed
    and the target is left as it was.

    Parameters
    ----------
    target : str or Path
        The output folder.
    command : str
        The command writing it (recorded in the marker).

    Raises
    ------
    OutputBusyError, OutputFolderError
        Before anything is computed: the folder is locked, not writable, or not an output folder.
    """
    with stop_on_signals(), locked(target) as path:
        _recover(path)
        if path.exists() and not path.is_dir():
            raise OutputFolderError(errno.ENOTDIR, f"the output folder {path} is a file")
        if Path.cwd() == path or path in Path.cwd().parents:
            raise OutputFolderError(errno.EINVAL, f"the output folder {path} holds the current folder; "
                                    "choose a new folder for the results")
        if not _is_own(path):
            raise OutputFolderError(errno.ENOTEMPTY, f"the output folder {path} holds files that no gridstudy "
                                    f"command wrote (no {MARKER}); choose a new or empty folder")
        for old in _leftovers(path):  # what an interrupted run of this folder left (we hold the lock)
            shutil.rmtree(old, ignore_errors=True)
        try:
            stage = Path(tempfile.mkdtemp(prefix=f".{path.name}.staging-", dir=path.parent))
        except OSError as exc:
            raise OutputFolderError(exc.errno, f"cannot write beside the output folder {path}: {exc.strerror}") from None
        try:
            os.chmod(stage, 0o777 & ~_umask())
            fault_point("locked")
            yield stage
            fault_point("staged")
            write_marker(stage, command)
            fault_point("marked")
            with _uninterrupted():
                _commit(stage, path)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise


def _recover(path: Path) -> None:
    """Put back a complete previous output that a run killed between its two renames left aside."""
    if path.exists():
        return
    for old in _leftovers(path):
        if ".old-" in old.name and (old / MARKER).is_file():
            os.rename(old, path)
            return


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _commit(stage: Path, path: Path) -> None:
    if not path.exists():
        os.rename(stage, path)
    elif _exchange(stage, path):
        fault_point("swapped")
        shutil.rmtree(stage, ignore_errors=True)  # now the previous output
    else:
        old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
        os.replace(path, old)  # onto the empty folder mkdtemp made
        fault_point("moved-old")
        os.rename(stage, path)
        shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(path.parent)
