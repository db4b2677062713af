"""Writing TensorBundles byte-identical to TensorFlow's ``SaveV2``; spec: ``tensorbundle.md`` §1-5.

::

    BundleWriter(prefix)            opens <prefix>.data-00000-of-00001.tempstate<random>
      .add(key, array) …            appends the tensor's bytes to the data file at once and keeps
                                    only its BundleEntryProto (dtype, shape, offset, size, crc32c)
      .add_slice(key, shape,        one piece of a partitioned tensor (``slices.py``): its bytes
                 extents, array)    under the slice key, its extent in the full entry of ``key``
      .finish()                     writes <prefix>.index.tempstate<random> (header "" + entries
                                    sorted bytewise), then os.replace()s data and index into place

    state machine:  open --add*--> open --finish--> finished
                    open --abort / error--> aborted (temporary files removed)

Data-file layout per tensor (no padding; TF's alignment is 1):

* numeric: raw little-endian C-order bytes; ``crc32c = mask(crc32c(bytes))``. Big arrays are
  streamed in chunks of :data:`CHUNK_BYTES` straight from a read-only C-contiguous view (only
  non-contiguous or big-endian input is copied, one chunk at a time).
* lazy arrays (``purekeras_io.lazy``: a Dask array, a memory map, an entry of another bundle,
  a :class:`~purekeras_io.model.variable.Variable` holding one) are streamed in row slabs of at
  most :data:`CHUNK_BYTES`; only one slab is in memory.
* ``DT_STRING`` (§5.1): ``[varint64 len_i]* | fixed32 mask(L) | bytes_0 … bytes_{n-1}`` where
  ``L = crc32c(len_i as uint32 LE …)`` (uint64 LE for lengths above ``2**32 - 1``) and the entry
  CRC runs over the lengths as uint32, the 4 stored bytes of ``mask(L)``, then all string bytes.
"""

from __future__ import annotations

import enum
import os
import struct
import sys
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any, BinaryIO, cast

import numpy as np

from .._io import commit_many, fsync_file, recover, remove_quietly, temp_sibling
from .._proto.tf import tensor_bundle_pb2, tensor_slice_pb2, types_pb2
from ..dtypes import DType, by_numpy
from ..errors import PurekerasError, UnsupportedDtypeError
from ..lazy import is_lazy, iter_row_blocks, unwrap
from . import crc32c
from .format import (
    ENDIAN_LITTLE,
    HEADER_KEY,
    TENSOR_BUNDLE_VERSION,
    VERSION_MIN_CONSUMER,
    data_filename,
    index_filename,
)
from .slices import Extent, encode_slice_key, slice_proto
from .sstable import TableBuilder, encode_varint

__all__ = [
    "CHUNK_BYTES",
    "BundleKeyError",
    "BundleStateError",
    "BundleWriter",
    "encode_key",
    "entry_bytes",
    "full_entry_bytes",
    "header_bytes",
    "little_endian_chunks",
    "needs_swap",
    "slice_shape",
    "string_elements",
    "string_layout",
    "string_scalar",
    "write",
]

CHUNK_BYTES = 8 << 20
"""Largest piece of a tensor that is checksummed and written in one call (and the largest copy
made for non-contiguous or big-endian input)."""
_WRITE_BUFFER = 1 << 20
_STRING_DTYPE = "string"


class BundleStateError(PurekerasError, RuntimeError):
    """A :class:`BundleWriter` method was called in the wrong state (e.g. ``add`` after
    ``finish``)."""


class BundleKeyError(PurekerasError, ValueError):
    """A tensor key is empty, not a string, or already added."""


class _State(enum.Enum):
    OPEN = "open"
    FINISHED = "finished"
    ABORTED = "aborted"


def encode_key(key: str | bytes) -> bytes:
    """The table key for a tensor name: UTF-8 (``surrogateescape`` keeps arbitrary bytes)."""
    if isinstance(key, bytes):
        raw = key
    elif isinstance(key, str):
        raw = key.encode("utf-8", "surrogateescape")
    else:
        raise BundleKeyError(f"tensor key must be str, got {type(key).__name__}: {key!r}")
    if raw == HEADER_KEY:
        raise BundleKeyError('tensor key must not be empty ("" is reserved for the bundle header)')
    return raw


def header_bytes(num_shards: int = 1) -> bytes:
    """The serialized ``BundleHeaderProto`` TF writes: ``08 01 1a 02 08 01`` for one shard."""
    header = tensor_bundle_pb2.BundleHeaderProto()
    header.num_shards = num_shards
    header.endianness = cast(tensor_bundle_pb2.BundleHeaderProto.Endianness, ENDIAN_LITTLE)
    header.version.producer = TENSOR_BUNDLE_VERSION
    header.version.min_consumer = VERSION_MIN_CONSUMER
    return header.SerializeToString()


def entry_bytes(
    row: DType, shape: tuple[int, ...], offset: int, size: int, crc: int, shard_id: int = 0
) -> bytes:
    """The serialized ``BundleEntryProto`` of a stored tensor (``crc``: unmasked CRC-32C)."""
    entry = tensor_bundle_pb2.BundleEntryProto()
    entry.dtype = cast(types_pb2.DataType, row.tf_enum)
    entry.shape.SetInParent()  # scalars still carry `12 00`, as TF's C++ writes
    for dim in shape:
        entry.shape.dim.add().size = dim
    entry.shard_id = shard_id
    entry.offset = offset
    entry.size = size
    entry.crc32c = crc32c.mask(crc)
    return entry.SerializeToString()


def full_entry_bytes(
    row: DType, shape: tuple[int, ...], slices: list[tensor_slice_pb2.TensorSliceProto]
) -> bytes:
    """The entry of a partitioned tensor: dtype, full shape and its slices, no data."""
    entry = tensor_bundle_pb2.BundleEntryProto()
    entry.dtype = cast(types_pb2.DataType, row.tf_enum)
    entry.shape.SetInParent()
    for dim in shape:
        entry.shape.dim.add().size = dim
    entry.slices.extend(slices)
    return entry.SerializeToString()


def needs_swap(dtype: np.dtype) -> bool:
    return dtype.byteorder == ">" or (dtype.byteorder == "=" and sys.byteorder == "big")


def little_endian_chunks(arr: np.ndarray, limit: int) -> Iterator[np.ndarray]:
    """1-D ``uint8`` arrays that together are ``arr``'s C-order little-endian bytes.

    C-contiguous little-endian input is yielded as views (no copy); anything else is copied one
    slab of at most about ``limit`` bytes at a time.
    """
    dtype = arr.dtype
    swap = needs_swap(dtype)
    if arr.flags.c_contiguous:
        flat = arr.reshape(-1)
        step = max(1, limit // max(dtype.itemsize, 1))
        for start in range(0, flat.size, step):
            part = flat[start : start + step]
            if swap:
                part = part.astype(dtype.newbyteorder("<"))
            yield part.view(np.uint8)
        return
    if arr.size == 0:
        return
    row_bytes = arr[0].nbytes
    rows = max(1, limit // max(row_bytes, 1))
    for start in range(0, arr.shape[0], rows):
        if rows == 1 and arr.ndim > 1:
            yield from little_endian_chunks(arr[start], limit)
        else:
            yield from little_endian_chunks(np.ascontiguousarray(arr[start : start + rows]), limit)


def string_elements(arr: np.ndarray, key: str) -> list[bytes]:
    """The elements of a string tensor as ``bytes`` (``str`` is encoded as UTF-8)."""
    items = arr.reshape(-1).tolist()
    if arr.dtype.kind == "S":
        return cast(list[bytes], items)
    out: list[bytes] = []
    for i, item in enumerate(items):
        if isinstance(item, bytes):
            out.append(item)
        elif isinstance(item, str):
            out.append(item.encode("utf-8"))
        else:
            raise UnsupportedDtypeError(
                f"tensor {key!r}: string tensors hold bytes or str, element {i} is "
                f"{type(item).__name__}: {item!r}"
            )
    return out


def string_layout(elements: list[bytes]) -> tuple[bytes, int]:
    """(varint lengths ‖ masked length CRC, the running CRC over the lengths as uint32 and
    those 4 stored bytes)."""
    lengths = [len(e) for e in elements]
    varints = b"".join(encode_varint(n) for n in lengths)
    if all(n <= 0xFFFFFFFF for n in lengths):
        packed = np.asarray(lengths, dtype="<u4").tobytes()
    else:
        packed = b"".join(struct.pack("<I" if n <= 0xFFFFFFFF else "<Q", n) for n in lengths)
    length_crc = crc32c.value(packed)
    stored = struct.pack("<I", crc32c.mask(length_crc))
    return varints + stored, crc32c.extend(length_crc, stored)


class BundleWriter:
    """Streams tensors into ``<prefix>.data-00000-of-00001`` and writes ``<prefix>.index`` at
    :meth:`finish`, atomically (temporary names in the target folder, then ``os.replace``).

    Use as a context manager: a clean exit calls :meth:`finish`, an exception calls :meth:`abort`.
    Tensors land in the data file in the order they are added; the index is sorted bytewise, so
    the same tensors added in the same order give the same bytes as TensorFlow's ``SaveV2``.
    With ``fsync=True`` both files and the folder are flushed to disk before returning.
    """

    def __init__(self, prefix: str | os.PathLike[str], *, fsync: bool = False) -> None:
        self.prefix = os.fspath(prefix)
        self._fsync = fsync
        folder = os.path.dirname(self.prefix)
        if folder:
            os.makedirs(folder, exist_ok=True)
        self._data_path = data_filename(self.prefix, 0, 1)
        self._index_path = index_filename(self.prefix)
        recover(self._index_path)
        recover(self._data_path)
        # TensorFlow's temporary names (``<file>.tempstate<n>``), beside the targets.
        self._data_tmp = temp_sibling(self._data_path, marker="tempstate", hidden=False)
        self._index_tmp = temp_sibling(self._index_path, marker="tempstate", hidden=False)
        self._entries: dict[bytes, bytes] = {}
        # partitioned tensors: key -> (dtype row, full shape, slice protos in the order added)
        self._sliced: dict[bytes, tuple[DType, tuple[int, ...], list[Any]]] = {}
        self._size = 0
        self._file: BinaryIO | None = open(  # closed by finish() or abort()
            self._data_tmp, "xb", buffering=_WRITE_BUFFER
        )
        self._state = _State.OPEN

    # -- state -------------------------------------------------------------------------------

    @property
    def state(self) -> str:
        """``"open"``, ``"finished"`` or ``"aborted"``."""
        return self._state.value

    def _require_open(self, method: str) -> BinaryIO:
        if self._state is not _State.OPEN or self._file is None:
            raise BundleStateError(
                f"BundleWriter({self.prefix!r}).{method}: expected state 'open', "
                f"but the writer is {self._state.value!r}"
            )
        return self._file

    def __len__(self) -> int:
        return len(self._entries)

    # -- adding tensors ----------------------------------------------------------------------

    def add(self, key: str, array: Any) -> None:
        """Append one tensor (anything ``np.asarray`` accepts; strings as bytes/str objects or
        ``S``/``U`` arrays). The key must be new and non-empty."""
        file = self._require_open("add")
        raw_key = encode_key(key)
        if raw_key in self._entries or raw_key in self._sliced:
            raise BundleKeyError(f"BundleWriter({self.prefix!r}).add: duplicate tensor key {key!r}")
        self._add_data(file, raw_key, key, array)

    def add_slice(
        self, key: str, shape: tuple[int, ...], extents: list[Extent], array: Any
    ) -> None:
        """Append one slice of the partitioned tensor ``key`` of full ``shape``: ``extents`` is
        ``(start, length)`` per dimension (length -1: the whole dimension) and ``array`` has the
        slice's shape. The slices of one key must share the dtype; TF's readers (and ours)
        reassemble them."""
        file = self._require_open("add_slice")
        raw_key = encode_key(key)
        where = f"BundleWriter({self.prefix!r}).add_slice: tensor {key!r}"
        if raw_key in self._entries:
            raise BundleKeyError(f"{where}: already added as a whole tensor")
        value = unwrap(array)
        full = tuple(int(d) for d in shape)
        wanted = slice_shape(full, extents, where)
        if tuple(int(d) for d in value.shape) != wanted:
            raise BundleKeyError(f"{where}: slice {list(extents)} has shape {list(wanted)}, the "
                                 f"array {list(value.shape)}")
        row = by_numpy(np.dtype(value.dtype), what=f"tensor {key!r}")
        if row.name == _STRING_DTYPE:
            raise UnsupportedDtypeError(f"{where}: string tensors cannot be sliced")
        known = self._sliced.get(raw_key)
        if known is not None and (known[0] is not row or known[1] != full):
            raise BundleKeyError(f"{where}: slices disagree on dtype or shape ({known[0].name}"
                                 f"{list(known[1])} vs {row.name}{list(full)})")
        slice_key = encode_slice_key(key, extents)
        if slice_key in self._entries:
            raise BundleKeyError(f"{where}: slice {list(extents)} added twice")
        self._add_data(file, slice_key, key, value)
        self._sliced.setdefault(raw_key, (row, full, []))[2].append(slice_proto(extents))

    def _add_data(self, file: BinaryIO, raw_key: bytes, key: str, array: Any) -> None:
        value = unwrap(array)
        lazy = is_lazy(value)
        arr = value if lazy else np.asarray(value)
        row = by_numpy(np.dtype(arr.dtype), what=f"tensor {key!r}")
        shape = tuple(int(d) for d in arr.shape)
        elements = None
        if row.name == _STRING_DTYPE:
            elements = string_elements(np.asarray(arr), key)
        offset = self._size
        try:
            if elements is not None:
                size, crc = self._write_strings(file, elements)
            elif lazy:
                size, crc = self._write_lazy(file, arr)
            else:
                size, crc = self._write_numeric(file, arr)
        except BaseException:
            self.abort()
            raise
        self._size += size
        self._entries[raw_key] = entry_bytes(row, shape, offset, size, crc)

    @classmethod
    def _write_lazy(cls, file: BinaryIO, value: Any) -> tuple[int, int]:
        size = 0
        crc = 0
        for block in iter_row_blocks(value, CHUNK_BYTES):
            for chunk in little_endian_chunks(block, CHUNK_BYTES):
                crc = crc32c.extend(crc, chunk)
                file.write(chunk.data)
                size += chunk.size
        return size, crc

    @staticmethod
    def _write_numeric(file: BinaryIO, arr: np.ndarray) -> tuple[int, int]:
        if arr.flags.c_contiguous and arr.nbytes <= CHUNK_BYTES and not needs_swap(arr.dtype):
            flat = arr.reshape(-1).view(np.uint8)  # the common case: one view, no generator
            crc = crc32c.value(flat)
            file.write(flat.data)
            return flat.size, crc
        size = 0
        crc = 0
        for chunk in little_endian_chunks(arr, CHUNK_BYTES):
            crc = crc32c.extend(crc, chunk)
            file.write(chunk.data)
            size += chunk.size
        return size, crc

    @staticmethod
    def _write_strings(file: BinaryIO, elements: list[bytes]) -> tuple[int, int]:
        prefix, crc = string_layout(elements)
        file.write(prefix)
        size = len(prefix)
        total = sum(len(e) for e in elements)
        if total <= CHUNK_BYTES:
            blob = b"".join(elements)
            crc = crc32c.extend(crc, blob)
            file.write(blob)
        else:
            for element in elements:
                crc = crc32c.extend(crc, element)
                file.write(element)
        return size + total, crc

    # -- finishing ---------------------------------------------------------------------------

    def finish(self) -> None:
        """Write the index and move both files into place. The writer is then ``finished``."""
        file = self._require_open("finish")
        try:
            file.flush()
            if self._fsync:
                fsync_file(file)
            file.close()
            self._file = None
            with open(self._index_tmp, "xb", buffering=_WRITE_BUFFER) as index:
                table = TableBuilder(index)
                table.add(HEADER_KEY, header_bytes(1))
                for raw_key, (row, shape, protos) in self._sliced.items():
                    self._entries[raw_key] = full_entry_bytes(row, shape, protos)
                for raw_key in sorted(self._entries):
                    table.add(raw_key, self._entries[raw_key])
                table.finish()
                if self._fsync:
                    fsync_file(index)
            # One commit for both files (journaled): a crash between the renames is rolled
            # forward by the next save or load, never left as new data under an old index.
            commit_many(
                [(self._index_tmp, self._index_path), (self._data_tmp, self._data_path)],
                fsync=self._fsync,
            )
        except BaseException:
            self.abort()
            raise
        self._entries.clear()
        self._sliced.clear()
        self._state = _State.FINISHED

    def abort(self) -> None:
        """Stop and remove the temporary files (no-op once finished or aborted)."""
        if self._state is not _State.OPEN:
            return
        self._state = _State.ABORTED
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None
        for path in (self._data_tmp, self._index_tmp):
            remove_quietly(path)
        self._entries.clear()
        self._sliced.clear()

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()
        elif self._state is _State.OPEN:
            self.finish()


def slice_shape(shape: tuple[int, ...], extents: list[Extent], where: str) -> tuple[int, ...]:
    if len(extents) != len(shape) or not shape:
        raise BundleKeyError(f"{where}: {len(extents)} extents for a tensor of shape {list(shape)}")
    out = []
    for d, (start, length) in enumerate(extents):
        if length == -1 and start == 0:
            out.append(shape[d])
        elif start < 0 or length < 0 or start + length > shape[d]:
            raise BundleKeyError(f"{where}: extent {start},{length} outside dimension {d} of "
                                 f"size {shape[d]}")
        else:
            out.append(length)
    return tuple(out)


def string_scalar(data: bytes) -> np.ndarray:
    """A scalar ``DT_STRING`` tensor holding ``data`` exactly (an object array: NumPy's ``S``
    dtype would drop trailing NUL bytes of, e.g., a serialized proto)."""
    arr = np.empty((), dtype=object)
    arr[()] = data
    return arr


def write(
    prefix: str | os.PathLike[str], tensors: Mapping[str, Any], *, fsync: bool = False
) -> None:
    """Write ``tensors`` as ``<prefix>.index`` + ``<prefix>.data-00000-of-00001`` (one shard).

    Tensors are written to the data file in the mapping's order; the index is sorted bytewise.
    """
    with BundleWriter(prefix, fsync=fsync) as writer:
        for key, array in tensors.items():
            writer.add(key, array)
