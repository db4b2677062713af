"""Atomic writes of files and folders, used by every format writer that is given a path.

The rule, the same for ``.h5``, ``.keras``, ``.weights.h5``, TensorBundle files, the ``checkpoint``
state file and SavedModel folders: the new file (or folder) is built under a temporary name in the
target's own folder (same file system, so the final rename is atomic), moved over the target with
``os.replace`` only once complete, and removed on any error (``KeyboardInterrupt`` included). An
existing target therefore survives a failed save untouched, and a reader never sees half a file.
With ``fsync=True`` the file's bytes and then the folder entry (the rename) are flushed to disk
before returning.

Writers that are handed an open file or ``h5py`` group write into it directly; this module is only
for path targets.

Crashes (SIGKILL, power loss) between steps leave only named temporaries, never a half target:
every temporary name carries the writer's process id, ``.<name>.<marker>-<pid>-<hex>`` (or
TensorFlow's style ``<name>.<marker><pid>-<hex>``), and :func:`recover` (called by every save to,
and every load from, a path) finishes or undoes what a dead process left:

- a folder swap (:func:`replace_dir`) renames the complete new folder to ``.<name>.ready-…``
  first, moves the old one aside to ``.<name>.old-…``, then moves ``ready`` to ``<name>``: when
  ``<name>`` is missing, a ``ready`` folder is complete and is moved in (else ``old`` is put back);
  never "neither".
- a multi-file commit (:func:`commit_many`, a TensorBundle's data and index) first writes a
  journal ``.<first target>.commit-…`` listing its renames, then renames, then drops the journal:
  a journal found later is rolled forward (its temporaries are complete).
- every other temporary of a dead process (or older than :data:`STALE_SECONDS`) is removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import ConfigError

__all__ = [
    "atomic_dir",
    "atomic_file",
    "atomic_path",
    "commit",
    "commit_many",
    "fsync_dir",
    "fsync_file",
    "fsync_path",
    "recover",
    "remove_quietly",
    "replace_dir",
    "temp_sibling",
    "write_bytes",
]

PathLike = str | os.PathLike[str]


def temp_sibling(path: PathLike, *, marker: str = "tmp", hidden: bool = True) -> str:
    """A fresh temporary name in ``path``'s folder: ``.<name>.<marker>-<hex>`` (``hidden``) or
    ``<name>.<marker><hex>`` (TensorFlow's own ``.tempstate<n>`` style)."""
    directory, base = os.path.split(os.path.abspath(os.fspath(path)))
    token = f"{os.getpid()}-{secrets.token_hex(8)}"
    name = f".{base}.{marker}-{token}" if hidden else f"{base}.{marker}{token}"
    return os.path.join(directory, name)


STALE_SECONDS = 24 * 3600
"""A temporary whose writer still runs (same machine) is left alone unless older than this."""
_MARKERS = ("tmp", "old", "ready", "commit", "tempstate")
_TEMP = re.compile(
    r"^\.?(?P<base>.+)\.(?P<marker>" + "|".join(_MARKERS) + r")-?(?P<pid>\d+)-[0-9a-f]{16}$"
)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _remove_any(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        remove_quietly(path)


def _dead_temporaries(folder: str, target: str) -> list[tuple[str, str, str]]:
    """(marker, base, path) of the temporaries in ``folder`` for ``target`` whose writer is gone."""
    try:
        names = sorted(os.listdir(folder or "."))
    except OSError:
        return []
    found = []
    now = time.time()
    for name in names:
        match = _TEMP.match(name)
        if match is None:
            continue
        base = match["base"]
        if base != target and not base.startswith(target + "."):
            continue
        path = os.path.join(folder, name)
        try:
            age = now - os.lstat(path).st_mtime
        except OSError:
            continue
        if _pid_alive(int(match["pid"])) and age < STALE_SECONDS:
            continue
        found.append((match["marker"], base, path))
    return found


def recover(path: PathLike) -> None:
    """Finish or undo what a writer that died left around ``path`` (see the module docstring);
    never raises ``OSError``: a folder we cannot list or change is left as it is."""
    target = os.path.abspath(os.fspath(path))
    folder, base = os.path.split(target)
    dead = _dead_temporaries(folder, base)
    with contextlib.suppress(OSError):
        for marker, _, journal in dead:  # roll multi-file commits forward
            if marker == "commit":
                _roll_forward(folder, journal)
        if not os.path.lexists(target):
            for wanted in ("ready", "old"):
                candidates = [p for m, b, p in dead if m == wanted and b == base]
                if candidates and os.path.isdir(candidates[-1]):
                    os.replace(candidates[-1], target)
                    break
    for _, _, leftover in _dead_temporaries(folder, base):
        _remove_any(leftover)


def _roll_forward(folder: str, journal: str) -> None:
    try:
        with open(journal, encoding="utf-8") as fh:
            moves = json.load(fh)
    except (OSError, ValueError):
        remove_quietly(journal)  # a journal is written atomically: unreadable means not ours
        return
    if isinstance(moves, list):
        for move in moves:
            if isinstance(move, list) and len(move) == 2 and all(_plain_name(m) for m in move):
                src = os.path.join(folder, move[0])
                if os.path.exists(src):
                    os.replace(src, os.path.join(folder, move[1]))
    remove_quietly(journal)


def _plain_name(name: object) -> bool:
    return isinstance(name, str) and os.sep not in name and name not in ("", ".", "..")


def commit_many(moves: list[tuple[str, str]], *, fsync: bool = False) -> None:
    """Move several finished temporaries (same folder) over their targets as one commit: a
    journal of the renames is written first, so that a crash part-way is rolled forward by
    :func:`recover` and the targets never stay a mix of old and new files."""
    folder = os.path.dirname(os.path.abspath(moves[0][1]))
    journal = temp_sibling(moves[0][1], marker="commit")
    names = [[os.path.basename(src), os.path.basename(dst)] for src, dst in moves]
    staging = temp_sibling(moves[0][1], marker="tmp")
    with open(staging, "x", encoding="utf-8") as fh:
        json.dump(names, fh)
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(staging, journal)
    if fsync:
        fsync_dir(folder)
    for src, dst in moves:
        os.replace(src, dst)
    if fsync:
        fsync_dir(folder)
    remove_quietly(journal)


def remove_quietly(path: PathLike) -> None:
    """Remove a file if it is there (cleanup after an error: never raises ``OSError``)."""
    with contextlib.suppress(OSError):
        os.remove(path)


def fsync_file(fh: BinaryIO) -> None:
    """Flush Python's buffer and the OS's for an open file."""
    fh.flush()
    os.fsync(fh.fileno())


def fsync_dir(folder: PathLike) -> None:
    """Flush a folder's entries (renames, new files) to disk where the OS allows it."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(os.fspath(folder) or ".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_path(path: PathLike) -> None:
    """Flush a closed file's data to disk (by path)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit(tmp: PathLike, path: PathLike, *, fsync: bool = False) -> None:
    """Move a finished temporary file over ``path`` (``os.replace``); ``fsync``: then flush the
    folder entry. The caller flushes the file itself (see :func:`fsync_file`)."""
    os.replace(tmp, path)
    if fsync:
        fsync_dir(os.path.dirname(os.path.abspath(os.fspath(path))))


def _refuse_dir(path: PathLike, what: str) -> str:
    text = os.fspath(path)
    if os.path.isdir(text):
        raise ConfigError(f"{text}: is a directory; {what} needs a file path")
    return text


@contextlib.contextmanager
def atomic_path(path: PathLike, *, fsync: bool = False, what: str = "a save") -> Iterator[str]:
    """Yield a temporary path beside ``path`` for the caller to create (``h5py.File(tmp, "w-")``);
    a clean exit moves it over ``path``, an error removes it. ``path`` must not be a folder."""
    target = _refuse_dir(path, what)
    recover(target)
    tmp = temp_sibling(target)
    try:
        yield tmp
        if fsync:
            fsync_path(tmp)
        commit(tmp, target, fsync=fsync)
    except BaseException:
        remove_quietly(tmp)
        raise


@contextlib.contextmanager
def atomic_file(
    path: PathLike, *, fsync: bool = False, buffering: int = -1, what: str = "a save"
) -> Iterator[BinaryIO]:
    """Yield a new binary file (opened ``"xb"``) under a temporary name beside ``path``; a clean
    exit closes it and moves it over ``path``, an error closes and removes it."""
    with (
        atomic_path(path, fsync=fsync, what=what) as tmp,
        open(tmp, "xb", buffering=buffering) as fh,
    ):
        yield fh


def write_bytes(path: PathLike, data: bytes, *, fsync: bool = False) -> None:
    """Replace ``path``'s content with ``data`` atomically."""
    with atomic_file(path, fsync=fsync) as fh:
        fh.write(data)


def replace_dir(tmp: PathLike, target: PathLike, *, fsync: bool = False) -> None:
    """Move the finished folder ``tmp`` to ``target``, replacing what is there only now.

    A folder cannot be renamed over a non-empty one, so an existing target is first renamed aside
    (``.<name>.old-<hex>``), put back if the second rename fails, and deleted after success. A file
    or symlink at ``target`` is removed."""
    target_path = Path(target)
    # Complete now: named "ready" so that recover() moves it in if we die before the last rename.
    tmp_path = Path(temp_sibling(target_path, marker="ready"))
    os.replace(tmp, tmp_path)
    old: Path | None = None
    if target_path.is_symlink() or target_path.is_file():
        target_path.unlink()
    elif target_path.exists():
        old = Path(temp_sibling(target_path, marker="old"))
        os.replace(target_path, old)
    try:
        os.replace(tmp_path, target_path)
    except BaseException:
        if old is not None:
            os.replace(old, target_path)
        shutil.rmtree(tmp_path, ignore_errors=True)
        raise
    if fsync:
        fsync_dir(target_path.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(path: PathLike, *, fsync: bool = False) -> Iterator[Path]:
    """Yield a new, empty temporary folder beside ``path`` (created with the umask's mode, unlike
    ``tempfile.mkdtemp``'s 0700); a clean exit moves it to ``path`` (:func:`replace_dir`), an error
    deletes it. The caller flushes the files inside when it wants ``fsync``."""
    target = Path(os.path.abspath(os.fspath(path)))
    target.parent.mkdir(parents=True, exist_ok=True)
    recover(target)
    tmp = Path(temp_sibling(target))
    tmp.mkdir()
    try:
        yield tmp
        replace_dir(tmp, target, fsync=fsync)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
