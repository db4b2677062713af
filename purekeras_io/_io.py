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
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import ConfigError

__all__ = [
    "atomic_dir",
    "atomic_file",
    "atomic_path",
    "commit",
    "fsync_dir",
    "fsync_file",
    "fsync_path",
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
    token = secrets.token_hex(8)
    name = f".{base}.{marker}-{token}" if hidden else f"{base}.{marker}{token}"
    return os.path.join(directory, name)


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
    tmp_path, target_path = Path(tmp), Path(target)
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
    tmp = Path(temp_sibling(target))
    tmp.mkdir()
    try:
        yield tmp
        replace_dir(tmp, target, fsync=fsync)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
