"""Build ``model.weights.h5`` as a list of buffers, without writing the tensor bytes twice.

h5py writes the file's *metadata* into a sparse in-memory page store (the ``fileobj`` driver);
every dataset is created CONTIGUOUS with space allocated at creation (``ALLOC_TIME_EARLY``) and
never filled (``FILL_TIME_NEVER``), so HDF5 never touches the data regions. The image is then

    [metadata bytes][dataset 0 bytes][metadata bytes][dataset 1 bytes]…[metadata bytes]

where each dataset's bytes are the NumPy array itself, at the file offset HDF5 allocated
(``H5Dget_offset``). The zip writer streams these parts to disk as one member. The result is an
ordinary HDF5 file (superblock v0, as Keras writes) that h5py, Keras 3 and tf_keras read.
Creation times are not tracked, so the same tree gives the same bytes.

A *lazy* weight (:mod:`purekeras_io.lazy`: a memory map, a Dask array, a tensor read on demand) is
never read here: HDF5 needs only its shape and dtype, and the part is the lazy array itself, which
the writers stream in row slabs (:func:`.zipstream.iter_part_views`). The image of a model of lazy
weights is the same bytes as that of the same weights in memory.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from ..errors import UnsupportedDtypeError
from ..lazy import Cast, lazy_nbytes
from .zipstream import is_stream_part

__all__ = ["H5Group", "build_h5_image", "storable_array"]

_PAGE = 4096


@dataclass
class H5Group:
    """A group to create: its path, an optional ``name`` attribute, datasets ``"0"…"n-1"``."""

    path: str
    name: str | None
    arrays: Sequence[np.ndarray]
    keys: Sequence[str] | None = None


class _SparseFile(io.RawIOBase):
    """A seekable file kept as 4 KiB pages; unwritten bytes read as zeros."""

    def __init__(self) -> None:
        super().__init__()
        self.pages: dict[int, bytearray] = {}
        self.pos = 0
        self.size = 0
        self.writes: list[tuple[int, int]] = []

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: self.size}[whence]
        self.pos = base + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        n = len(view)
        self.writes.append((self.pos, n))
        p, i = self.pos, 0
        while i < n:
            page_no, off = divmod(p, _PAGE)
            k = min(_PAGE - off, n - i)
            page = self.pages.get(page_no)
            if page is None:
                page = self.pages[page_no] = bytearray(_PAGE)
            page[off : off + k] = view[i : i + k]
            i += k
            p += k
        self.pos = p
        self.size = max(self.size, p)
        return n

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        n = min(len(view), max(0, self.size - self.pos))
        view[:n] = self.read_range(self.pos, n)
        self.pos += n
        return n

    def truncate(self, size: int | None = None) -> int:
        self.size = self.pos if size is None else int(size)
        return self.size

    def flush(self) -> None:
        return None

    def read_range(self, start: int, n: int) -> bytes:
        out = bytearray(n)
        p, i = start, 0
        while i < n:
            page_no, off = divmod(p, _PAGE)
            k = min(_PAGE - off, n - i)
            page = self.pages.get(page_no)
            if page is not None:
                out[i : i + k] = page[off : off + k]
            i += k
            p += k
        return bytes(out)


def storable_array(value: Any, what: str) -> Any:
    """A C-contiguous little-endian array h5py can type (bfloat16 included), or an error; a lazy
    array stays lazy (seen little-endian through :class:`~purekeras_io.lazy.Cast` if needed)."""
    if is_stream_part(value):
        dtype = np.dtype(value.dtype)
        if dtype.kind in "OUSV" and dtype.name != "bfloat16":
            raise UnsupportedDtypeError(
                f"{what}: dtype {dtype} cannot be stored in model.weights.h5"
            )
        return Cast(value, dtype.newbyteorder("<")) if dtype.byteorder == ">" else value
    arr = np.asarray(value)
    if arr.dtype.kind in "OUSV" and arr.dtype.name != "bfloat16":
        raise UnsupportedDtypeError(
            f"{what}: dtype {arr.dtype} cannot be stored in model.weights.h5"
        )
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    return arr if arr.flags.c_contiguous else np.ascontiguousarray(arr).reshape(arr.shape)


def _h5_type(arr: Any, what: str) -> Any:
    try:
        return h5py.h5t.py_create(np.dtype(arr.dtype), logical=True)
    except TypeError:
        raise UnsupportedDtypeError(
            f"{what}: h5py has no HDF5 type for dtype {arr.dtype}"
        ) from None


def build_h5_image(groups: Sequence[H5Group]) -> tuple[list[Any], int]:
    """The HDF5 file as ordered parts (bytes and arrays) and its total size."""
    sparse = _SparseFile()
    regions: list[tuple[int, int, Any]] = []
    with h5py.File(sparse, "w") as f:
        for group in groups:
            g = f.require_group(group.path) if group.path else f
            if group.name is not None:
                g.attrs["name"] = group.name
            keys = (
                group.keys if group.keys is not None else [str(i) for i in range(len(group.arrays))]
            )
            for key, value in zip(keys, group.arrays):
                what = f"model.weights.h5 {group.path}/{key}"
                arr = storable_array(value, what)
                dsid = _create_dataset(g, key, arr, what)
                offset = dsid.get_offset()
                nbytes = lazy_nbytes(arr)
                if offset is not None and nbytes:
                    regions.append((int(offset), nbytes, arr))
                if np.dtype(arr.dtype).name == "bfloat16":
                    h5py.Dataset(dsid).attrs["dtype"] = "bfloat16"
    regions.sort(key=lambda r: r[0])
    _check_untouched(sparse.writes, regions)
    parts: list[Any] = []
    pos = 0
    for offset, nbytes, arr in regions:
        if offset > pos:
            parts.append(sparse.read_range(pos, offset - pos))
        parts.append(arr)
        pos = offset + nbytes
    if sparse.size > pos:
        parts.append(sparse.read_range(pos, sparse.size - pos))
    return parts, max(sparse.size, pos)


def _create_dataset(group: Any, key: str, arr: Any, what: str) -> Any:
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.CONTIGUOUS)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
    dcpl.set_obj_track_times(False)
    shape = tuple(int(d) for d in arr.shape)
    space = h5py.h5s.create_simple(shape) if shape else h5py.h5s.create(h5py.h5s.SCALAR)
    return h5py.h5d.create(group.id, key.encode("utf-8"), _h5_type(arr, what), space, dcpl=dcpl)


def _check_untouched(
    writes: list[tuple[int, int]], regions: list[tuple[int, int, Any]]
) -> None:
    """HDF5 must not have written into a data region (it would be overwritten by the array)."""
    starts = [r[0] for r in regions]
    import bisect

    for w_off, w_len in writes:
        i = bisect.bisect_right(starts, w_off + w_len - 1) - 1
        if (
            i >= 0
            and w_len
            and regions[i][0] < w_off + w_len
            and w_off < regions[i][0] + regions[i][1]
        ):
            raise AssertionError(
                f"HDF5 wrote {w_len} bytes at {w_off} inside a data region; the weights image "
                "would be wrong"
            )
