"""A tensor of a bundle that is read only when used: the lazy arrays of ``load_model``.

::

    LazyTensor(reader, key)     shape, dtype, nbytes from the (validated) index entry; no data
      np.asarray(t)             the whole tensor, CRC checked (BundleReader.get)
      t[i:j]                    rows i..j of a stored tensor, a read-only view of the memory map;
                                slabs read in order from row 0 to the end are CRC-checked as
                                they pass (what writers streaming the tensor do)
      t[other key]              read from the map without a CRC check
      pickle                    (prefix, key): another process (a Dask worker) reopens the bundle

      t[i:j] of a partitioned   only the slices holding rows i..j are read (each its own rows,
        tensor (``slices.py``)  CRC-checked per slice when read in order), into a new array
      np.asarray(partitioned)   assembled whole, every slice CRC-checked

A string tensor is decoded whole on first access. Nothing is cached: the memory map is the
cache (pages the OS may drop).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from . import crc32c
from .reader import BundleReader, Entry
from .slices import Extent

__all__ = ["LazyTensor"]

_STRING_DTYPE = "string"
_OPEN: dict[tuple[int, str, bool], BundleReader] = {}  # per process: reopened bundles


def _reopen(prefix: str, key: str, verify_crc: bool) -> LazyTensor:
    slot = (os.getpid(), prefix, verify_crc)
    reader = _OPEN.get(slot)
    if reader is None:
        reader = _OPEN[slot] = BundleReader(prefix, verify_crc=verify_crc)
    return LazyTensor(reader, key)


class LazyTensor:
    """One tensor of an open :class:`BundleReader`, read on demand (see the module docstring)."""

    def __init__(self, reader: BundleReader, key: str) -> None:
        self._reader = reader
        self.key = key
        self._entry = reader.entry(key)
        self.shape: tuple[int, ...] = self._entry.shape
        self.dtype = np.dtype(self._entry.dtype.numpy)
        self._pieces: list[tuple[tuple[Extent, ...], _RowCrc]] | None = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return self._entry.num_elements

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a scalar tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        return f"<LazyTensor {self.key!r} {self.dtype}{list(self.shape)} of {self._reader.prefix}>"

    def __reduce__(self) -> tuple[Any, tuple[str, str, bool]]:
        return _reopen, (self._reader.prefix, self.key, self._reader.verify_crc)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        arr = self._reader.get(self.key)
        if dtype is not None and np.dtype(dtype) != arr.dtype:
            return arr.astype(dtype)
        return arr.copy() if copy else arr

    def _streamable(self) -> bool:
        return bool(self.shape) and self._entry.dtype.name != _STRING_DTYPE

    def __getitem__(self, index: Any) -> np.ndarray:
        if not self._streamable():
            return np.asarray(self)[index]
        if isinstance(index, slice) and index.step in (None, 1):
            start, stop, _ = index.indices(self.shape[0])
            stop = max(start, stop)
            if self._entry.slices:
                return self._rows_of_slices(start, stop)
            block = self._reader.get_entry(self._entry, rows=slice(start, stop))
            self._checks()[0].feed(start, stop, block)
            return block
        if self._entry.slices:
            return np.asarray(self)[index]
        return self._reader.get_entry(self._entry, rows=slice(0, None))[index]

    def _checks(self) -> list[_RowCrc]:
        """One in-order CRC tracker per stored piece (the entry, or each slice's entry)."""
        if self._pieces is None:
            entry = self._entry
            if entry.slices:
                self._pieces = [
                    (ext, _RowCrc(self._reader, self._reader.slice_entry(entry, ext, raw)))
                    for ext, raw in entry.slices
                ]
            else:
                self._pieces = [((), _RowCrc(self._reader, entry))]
        return [check for _, check in self._pieces]

    def _rows_of_slices(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of a partitioned tensor: only the slices that overlap them are
        read, each as its own rows, into one new array."""
        self._checks()
        assert self._pieces is not None
        out = np.empty((stop - start, *self.shape[1:]), dtype=self.dtype)
        for extents, check in self._pieces:
            first, length = extents[0]
            lo, hi = max(first, start), min(first + length, stop)
            if lo >= hi:
                continue
            block = self._reader.get_entry(check.entry, rows=slice(lo - first, hi - first))
            check.feed(lo - first, hi - first, block)
            rest = tuple(slice(a, a + n) for a, n in extents[1:])
            out[(slice(lo - start, hi - start), *rest)] = block
        out.flags.writeable = False
        return out


class _RowCrc:
    """CRC of one stored entry's slabs read in order from row 0; checked when its last row has
    passed (a pass out of order is not checked)."""

    __slots__ = ("_crc", "_next_row", "_reader", "entry")

    def __init__(self, reader: BundleReader, entry: Entry) -> None:
        self._reader = reader
        self.entry = entry
        self._next_row = 0
        self._crc = 0

    def feed(self, start: int, stop: int, block: np.ndarray) -> None:
        if not self._reader.verify_crc or self._reader.header.big_endian:
            return
        if start == 0:
            self._next_row, self._crc = 0, 0
        if start != self._next_row:
            self._next_row = -1
            return
        self._crc = crc32c.extend(self._crc, np.ascontiguousarray(block).view(np.uint8))
        self._next_row = stop
        if stop == self.entry.shape[0]:
            crc, self._next_row, self._crc = self._crc, 0, 0
            self._reader.check_crc(self.entry, crc)
