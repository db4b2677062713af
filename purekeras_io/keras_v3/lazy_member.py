"""Weights read on first use: a contiguous HDF5 dataset seen through the file it lies in.

``load_model`` / ``load_weights`` of ``.keras`` (a ZIP_STORED ``model.weights.h5`` member),
``.weights.h5``, sharded ``.weights.json`` and legacy ``.h5`` give each variable a
:class:`LazyDataset` when the dataset is CONTIGUOUS, unfiltered and allocated (what Keras, tf_keras
and h5py write by default): shape and dtype now, bytes only when used::

    LazyDataset(source, offset, shape, dtype)
      .shape .dtype .ndim .nbytes     from the HDF5 header (validated: inside the file)
      np.asarray(d)                   the whole tensor, read with pread (a new array)
      d[i:j], d[i], d[i:j, ...]       rows i..j only (basic slicing on the first axis; other keys
                                      read the whole tensor and index it)
      .reads                          how many reads went to the file (tests count them)
      pickle                          (path, offset, shape, dtype, file identity): another process
                                      (a Dask worker) reopens the file and refuses a changed one

``offset`` is absolute in the file (a ``.keras`` member's data offset plus the dataset's offset in
the member). Every tensor of one loaded file shares one :class:`FileSource`: an open descriptor,
so a file replaced later (``os.replace``, as every writer of ours does) keeps serving the bytes
that were loaded. Reads use ``os.pread``, not a memory map: a file truncated behind our back gives
a :class:`~purekeras_io.errors.FormatError` ("file ends inside the data") instead of SIGBUS, and
nothing of the file stays mapped. No data is cached: a variable keeps what ``np.asarray`` gave it
(:attr:`~purekeras_io.model.variable.Variable.value`), writers stream row slabs
(:func:`purekeras_io.lazy.iter_row_blocks`) and hold one slab at a time.

A ``.keras`` member's CRC-32 covers the whole member, so no one tensor can be checked alone. A
lazy load of a member above :data:`.reader.CHECK_AT_LOAD_BYTES` reads no data byte: the check
waits (:meth:`FileSource.check_on_first_read`) until the first tensor is read, then streams the
whole member once (16 MiB at a time) before that tensor is served; a mismatch is a
:class:`~purekeras_io.errors.FormatError` then, and on every later read. A process that
unpickles a tensor (a Dask worker) inherits a check the loader has not run yet.
``verify_crc=True`` checks at load, ``verify_crc=False`` never.
"""

from __future__ import annotations

import os
import threading
import zlib
from typing import Any

import numpy as np

from ..errors import FormatError

__all__ = ["FileSource", "LazyDataset", "contiguous_offset", "source_for_h5"]


def contiguous_offset(ds: Any) -> int | None:
    """File offset of an allocated, unfiltered CONTIGUOUS ``h5py.Dataset`` (else None: such a
    dataset is read through h5py, not lazily)."""
    import h5py

    try:
        dcpl = ds.id.get_create_plist()
        if dcpl.get_layout() != h5py.h5d.CONTIGUOUS or dcpl.get_nfilters():
            return None
        if ds.external or ds.is_virtual:
            return None
        offset = ds.id.get_offset()
    except (OSError, ValueError, TypeError, KeyError, RuntimeError):
        return None
    return None if offset is None else int(offset)


def source_for_h5(path: Any, f: Any) -> FileSource | None:
    """The HDF5 file ``f`` that h5py opened from ``path``, opened again for lazy reads (None when
    it cannot be, or when ``path`` is no longer the file h5py has open)."""
    try:
        source = FileSource(os.fspath(path))
        handle = f.id.get_vfd_handle()
        st = os.fstat(int(handle))
    except (OSError, TypeError, ValueError, AttributeError):
        return None
    if (st.st_dev, st.st_ino) != source.identity[:2]:
        source.close()
        return None
    return source


class FileSource:
    """One open file (read-only descriptor) shared by the lazy tensors read from it."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self.fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        st = os.fstat(self.fd)
        self.identity = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        self.size = int(st.st_size)
        self._lock = threading.Lock()
        self._check_lock = threading.Lock()
        self.pending: tuple[int, int, int, str] | None = None
        self._failed: str | None = None
        self.views = 0  # LazyDatasets made on this source

    def check_on_first_read(self, start: int, size: int, crc: int, what: str) -> None:
        """Before the first read, check that bytes ``start..start+size`` have CRC-32 ``crc``."""
        self.pending = (int(start), int(size), int(crc), what)

    def run_check(self) -> None:
        """Run the pending check now (a no-op once it passed; a FormatError again if it failed)."""
        with self._check_lock:
            if self._failed is not None:
                raise FormatError(self._failed)
            if self.pending is None:
                return
            start, size, expected, what = self.pending
            buf = bytearray(min(_CHECK_CHUNK, max(size, 1)))
            view = memoryview(buf)
            crc, done = 0, 0
            while done < size:
                n = self._pread_into(view[: min(len(buf), size - done)], start + done)
                if not n:
                    self._failed = f"{self.path}: {what} is truncated (the file changed?)"
                    raise FormatError(self._failed)
                crc = zlib.crc32(view[:n], crc)
                done += n
            if crc != expected:
                self._failed = (
                    f"{self.path}: {what} CRC-32 is {crc:08x}, the zip directory says "
                    f"{expected:08x}"
                )
                raise FormatError(self._failed)
            self.pending = None

    def same_file(self, fh: Any) -> bool:
        """Whether the open file object ``fh`` is this very file (device and inode)."""
        try:
            st = os.fstat(fh.fileno())
        except (AttributeError, OSError, ValueError):
            return False
        return (st.st_dev, st.st_ino) == self.identity[:2]

    def read_into(self, view: memoryview, offset: int, what: str) -> None:
        """Fill ``view`` with the bytes at ``offset`` (a short file is a FormatError)."""
        if self.pending is not None or self._failed is not None:
            self.run_check()
        done = 0
        while done < len(view):
            try:
                got = self._pread_into(view[done:], offset + done)
            except OSError as exc:
                raise FormatError(f"{self.path}: {what}: cannot be read ({exc})") from None
            if not got:
                raise FormatError(
                    f"{self.path}: {what}: the file ends inside the data (offset {offset}, "
                    f"{len(view)} bytes; the file changed since it was loaded?)"
                )
            done += got

    def _pread_into(self, view: memoryview, offset: int) -> int:
        if hasattr(os, "preadv"):
            return os.preadv(self.fd, [view], offset)
        with self._lock:  # no preadv (macOS < 11, Windows): pread and copy
            data = os.pread(self.fd, len(view), offset)
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __del__(self) -> None:
        try:
            self.close()
        except OSError:
            pass


_CHECK_CHUNK = 16 << 20
_REOPENED: dict[tuple[int, str, tuple[int, ...]], FileSource] = {}


def _reopen(
    path: str, identity: tuple[int, ...], pending: tuple[int, int, int, str] | None = None
) -> FileSource:
    key = (os.getpid(), path, identity)
    source = _REOPENED.get(key)
    if source is None:
        source = FileSource(path)
        if source.identity != identity:
            source.close()
            raise FormatError(
                f"{path}: changed since its weights were loaded (device, inode, size, mtime "
                f"{source.identity} != {identity}); load it again"
            )
        _REOPENED[key] = source
        if pending is not None:
            source.check_on_first_read(*pending)
    return source


class LazyDataset:
    """A C-order tensor of ``shape``/``dtype`` at byte ``offset`` of ``source`` (module doc)."""

    def __init__(
        self, source: FileSource, offset: int, shape: tuple[int, ...], dtype: Any, what: str = ""
    ) -> None:
        self.source = source
        self.offset = int(offset)
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.what = what or f"tensor at offset {offset}"
        self.reads = 0
        source.views += 1
        end = self.offset + self.nbytes
        if self.offset < 0 or end > source.size:
            raise FormatError(
                f"{source.path}: {self.what}: data at {self.offset}+{self.nbytes} lies outside "
                f"the file ({source.size} bytes)"
            )

    # ------------------------------------------------------------- array protocol

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d lazy dataset")
        return self.shape[0]

    def __repr__(self) -> str:
        return (
            f"<LazyDataset {self.what} shape={self.shape} dtype={self.dtype} "
            f"{self.source.path}@{self.offset}>"
        )

    def _rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start..stop`` (clipped) as a new C-contiguous array."""
        rows = self.shape[0] if self.shape else 1
        start, stop = max(0, min(start, rows)), max(0, min(stop, rows))
        stop = max(start, stop)
        shape = ((stop - start), *self.shape[1:]) if self.shape else ()
        out = np.empty(shape, dtype=self.dtype)
        row_bytes = self.nbytes // rows if rows else 0
        if out.nbytes:
            flat: Any = out.reshape(-1).view(np.uint8)
            self.reads += 1
            self.source.read_into(memoryview(flat), self.offset + start * row_bytes, self.what)
        return out

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        arr = self._rows(0, self.shape[0] if self.shape else 1)
        return arr if dtype is None else arr.astype(dtype, copy=False)

    def __getitem__(self, key: Any) -> Any:
        if not self.shape:
            return np.asarray(self)[key]
        first, rest = (key[0], key[1:]) if isinstance(key, tuple) and key else (key, ())
        if isinstance(first, slice) and first.step in (None, 1):
            start, stop, _ = first.indices(self.shape[0])
            block = self._rows(start, stop)
            return block[(slice(None), *rest)] if rest else block
        if isinstance(first, (int, np.integer)) and not isinstance(first, bool):
            i = int(first) + (self.shape[0] if int(first) < 0 else 0)
            if not 0 <= i < self.shape[0]:
                raise IndexError(f"index {int(first)} out of range for {self.shape[0]} rows")
            row = self._rows(i, i + 1)[0]
            return row[rest] if rest else row
        return np.asarray(self)[key]

    def view(self, dtype: Any) -> LazyDataset:
        """The same bytes seen as ``dtype`` of the same item size (HDF5 opaque → bfloat16)."""
        dtype = np.dtype(dtype)
        if dtype.itemsize != self.dtype.itemsize:
            raise TypeError(f"view as {dtype}: item size differs from {self.dtype}")
        return LazyDataset(self.source, self.offset, self.shape, dtype, self.what)

    # ------------------------------------------------------------- pickling (Dask workers)

    def __reduce__(self) -> Any:
        return (
            _rebuild,
            (self.source.path, self.source.identity, self.offset, self.shape, self.dtype,
             self.what, self.source.pending),
        )


def _rebuild(
    path: str,
    identity: tuple[int, ...],
    offset: int,
    shape: tuple[int, ...],
    dtype: Any,
    what: str,
    pending: tuple[int, int, int, str] | None = None,
) -> LazyDataset:
    return LazyDataset(_reopen(path, identity, pending), offset, shape, dtype, what)
