"""Reading TensorBundles; spec: ``shared/docs/tensorbundle.md`` §3-5 and the checklist in §8.

::

    BundleReader(prefix)      reads and checks <prefix>.index: footer magic, index block, every
                              data block (bounds, CRC, restarts, increasing keys), the header
                              entry "" (BundleHeaderProto: num_shards, endianness, version)
      .keys()                 tensor keys in index (bytewise) order
      .entry(key)             parsed and validated BundleEntryProto (dtype, shape, shard, offset,
                              size, stored crc32c)
      .get(key)               the tensor: <prefix>.data-%05d-of-%05d (shard_id, num_shards) is
                              memory-mapped once; numeric tensors are read-only views of the map
                              (no copy); DT_STRING tensors (§5.1) become object arrays of bytes;
                              a partitioned tensor (``slices.py``) is assembled from its slices
      .lazy(key)              a :class:`~.lazy_tensor.LazyTensor`: shape and dtype now, bytes
                              (and their CRC check) only when sliced or converted

Validation raises :class:`~purekeras_io.errors.FormatError` (or its subclass
:class:`~purekeras_io.errors.ChecksumError`) naming the file and key: truncated or oversized
files, bad magic, bad block or entry CRC, offsets or lengths outside the data file, size/shape/dtype
mismatches, ``shard_id >= num_shards``, non-increasing keys, unknown dtypes. No size read from the
file is used for an allocation before it has been checked against the bytes that exist.
Big-endian bundles (``endianness = BIG``, never written by TF on x86/ARM) are byte-swapped into a
native copy.
"""

from __future__ import annotations

import math
import mmap
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np
from google.protobuf.message import DecodeError

from .._io import recover
from .._proto.tf import tensor_bundle_pb2
from ..dtypes import DType, by_tf_enum
from ..errors import ChecksumError, FormatError, UnsupportedDtypeError, UnsupportedFeatureError
from . import crc32c
from .format import (
    ENDIAN_BIG,
    ENDIAN_LITTLE,
    HEADER_KEY,
    MIN_PRODUCER,
    TENSOR_BUNDLE_VERSION,
    data_filename,
    index_filename,
)
from .slices import Extent, encode_slice_key, extents_from_proto, is_slice_key
from .sstable import TableReader, decode_varint

__all__ = [
    "MAX_SLICES",
    "BundleReader",
    "Entry",
    "Header",
    "decode_entry",
    "decode_key",
    "parse_entry",
    "parse_header",
    "read",
    "read_index",
]

_STRING_DTYPE = "string"
MAX_SLICES = 4096
"""Most slices one partitioned tensor may have (their overlap check is quadratic)."""


def decode_key(raw: bytes) -> str:
    """A table key as ``str`` (UTF-8; ``surrogateescape`` keeps arbitrary bytes round-trippable)."""
    return raw.decode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class Header:
    """The decoded ``BundleHeaderProto`` (key ``""``)."""

    num_shards: int
    big_endian: bool
    producer: int
    min_consumer: int
    bad_consumers: tuple[int, ...]
    raw: bytes
    """The serialized header as stored."""


@dataclass(frozen=True)
class Entry:
    """One validated ``BundleEntryProto``."""

    key: str
    dtype: DType
    """Row of :data:`purekeras_io.dtypes.DTYPES`; ``dtype.tf_enum`` is the stored DataType."""
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c: int
    """The masked CRC-32C as stored (``crc32c.unmask`` gives the plain CRC)."""
    slices: tuple[tuple[tuple[Extent, ...], bytes], ...] = ()
    """A partitioned tensor's pieces: (extents resolved against ``shape``, the slice's key)."""

    @property
    def num_elements(self) -> int:
        """Product of the shape (1 for a scalar)."""
        return math.prod(self.shape)


def parse_header(raw: bytes, *, name: str) -> Header:
    """Decode and check the header entry of the index file ``name`` (TF's ``CheckVersions``)."""
    header = tensor_bundle_pb2.BundleHeaderProto()
    try:
        header.ParseFromString(raw)
    except DecodeError as exc:
        raise FormatError(f"{name}: unable to parse the bundle header: {exc}") from None
    version = header.version
    if version.producer < MIN_PRODUCER:
        raise FormatError(
            f"{name}: checkpoint producer version {version.producer} is below the minimum "
            f"{MIN_PRODUCER}"
        )
    if version.min_consumer > TENSOR_BUNDLE_VERSION:
        raise FormatError(
            f"{name}: checkpoint needs consumer version >= {version.min_consumer}; "
            f"this reader is version {TENSOR_BUNDLE_VERSION}"
        )
    if TENSOR_BUNDLE_VERSION in version.bad_consumers:
        raise FormatError(
            f"{name}: checkpoint disallows consumer version {TENSOR_BUNDLE_VERSION} "
            f"(bad_consumers={list(version.bad_consumers)})"
        )
    if header.endianness not in (ENDIAN_LITTLE, ENDIAN_BIG):
        raise FormatError(f"{name}: unknown endianness {int(header.endianness)} in the header")
    if header.num_shards < 1:
        raise FormatError(f"{name}: num_shards is {header.num_shards}, expected >= 1")
    return Header(
        num_shards=header.num_shards,
        big_endian=header.endianness == ENDIAN_BIG,
        producer=version.producer,
        min_consumer=version.min_consumer,
        bad_consumers=tuple(version.bad_consumers),
        raw=raw,
    )


def read_index(prefix: str) -> tuple[Header, list[tuple[bytes, bytes]]]:
    """Read ``<prefix>.index``: the header and the other (key, serialized entry) pairs in order."""
    name = index_filename(prefix)
    with open(name, "rb") as f:
        data = f.read()
    items = list(TableReader(data, name=name))
    if not items or items[0][0] != HEADER_KEY:
        raise FormatError(f'{name}: the first entry is not the bundle header (key "")')
    return parse_header(items[0][1], name=name), items[1:]


def decode_entry(
    raw: bytes, *, key: str, name: str, num_shards: int
) -> tensor_bundle_pb2.BundleEntryProto:
    """Decode one ``BundleEntryProto``, refusing a ``shard_id`` outside the bundle (dtype, shape,
    size and slices are left to :func:`parse_entry`: merging takes any tensor)."""
    proto = tensor_bundle_pb2.BundleEntryProto()
    where = f"{name}: tensor {key!r}"
    try:
        proto.ParseFromString(raw)
    except DecodeError as exc:
        raise FormatError(f"{where}: unable to parse the entry: {exc}") from None
    if not 0 <= proto.shard_id < num_shards:
        raise FormatError(f"{where}: shard_id {proto.shard_id} is not in 0..{num_shards - 1}")
    return proto


def parse_entry(
    raw: bytes, *, key: str, name: str, num_shards: int
) -> tuple[tensor_bundle_pb2.BundleEntryProto, Entry]:
    """Decode and validate one ``BundleEntryProto``."""
    proto = decode_entry(raw, key=key, name=name, num_shards=num_shards)
    where = f"{name}: tensor {key!r}"
    try:
        row = by_tf_enum(proto.dtype, what=where)
    except UnsupportedDtypeError as exc:
        raise FormatError(f"{exc}") from None
    if proto.shape.unknown_rank:
        raise FormatError(f"{where}: shape has unknown rank")
    shape = tuple(int(d.size) for d in proto.shape.dim)
    if any(d < 0 for d in shape):
        raise FormatError(f"{where}: invalid shape {list(shape)} (negative dimension)")
    if proto.offset < 0 or proto.size < 0:
        raise FormatError(f"{where}: negative offset {proto.offset} or size {proto.size}")
    n = math.prod(shape)
    if proto.slices:
        return proto, _sliced_entry(proto, key, row, shape, where)
    if row.name == _STRING_DTYPE:
        if proto.size < n + 4:
            raise FormatError(
                f"{where}: invalid size {proto.size} for {n} strings (at least {n + 4} bytes)"
            )
    elif proto.size != n * row.itemsize:
        raise FormatError(
            f"{where}: invalid size in bundle entry: stored size {proto.size}; expected "
            f"{n * row.itemsize} for {row.name}{list(shape)}"
        )
    entry = Entry(key, row, shape, proto.shard_id, proto.offset, proto.size, proto.crc32c)
    return proto, entry


def _sliced_entry(
    proto: tensor_bundle_pb2.BundleEntryProto, key: str, row: DType, shape: tuple[int, ...],
    where: str,
) -> Entry:
    """The full entry of a partitioned tensor: its slices must be disjoint boxes that cover the
    tensor exactly (so assembling it never allocates more than the slices' stored bytes)."""
    if not shape:
        raise FormatError(f"{where}: a scalar cannot be partitioned into slices")
    if proto.size or proto.offset or proto.shard_id:
        raise FormatError(f"{where}: a partitioned tensor's entry holds data (size {proto.size})")
    if row.name == _STRING_DTYPE:
        raise UnsupportedFeatureError(f"{where}: partitioned string tensors are not supported")
    if len(proto.slices) > MAX_SLICES:
        raise UnsupportedFeatureError(
            f"{where}: {len(proto.slices)} slices (at most {MAX_SLICES} are read)"
        )
    pieces: list[tuple[tuple[Extent, ...], bytes]] = []
    volume = 0
    for piece in proto.slices:
        extents = extents_from_proto(piece, shape, where)
        key_form = [(0, -1) if not e.HasField("length") else (int(e.start), int(e.length))
                    for e in piece.extent]
        for other, _ in pieces:
            if all(a < c + d and c < a + b for (a, b), (c, d) in zip(extents, other)):
                raise FormatError(f"{where}: slices {list(extents)} and {list(other)} overlap")
        pieces.append((extents, encode_slice_key(key, key_form)))
        volume += math.prod(length for _, length in extents)
    if volume != math.prod(shape):
        raise FormatError(
            f"{where}: its {len(pieces)} slices hold {volume} of the {math.prod(shape)} elements "
            f"of shape {list(shape)}"
        )
    return Entry(key, row, shape, 0, 0, 0, 0, tuple(pieces))


class BundleReader:
    """Random access to the tensors of a bundle; see the module docstring.

    Arrays returned by :meth:`get` stay valid after :meth:`close` (each keeps its memory map
    alive). ``verify_crc=False`` skips the per-tensor CRC (block CRCs of the index are always
    checked).
    """

    def __init__(self, prefix: str | os.PathLike[str], *, verify_crc: bool = True) -> None:
        self.prefix = os.fspath(prefix)
        self.verify_crc = verify_crc
        self.index_path = index_filename(self.prefix)
        recover(self.index_path)  # a save that died mid-commit is rolled forward first
        self.header, items = read_index(self.prefix)
        self._raw: dict[str, bytes] = {}
        self._slice_raw: dict[bytes, bytes] = {}  # pieces of partitioned tensors, by slice key
        for k, v in items:
            if is_slice_key(k):
                self._slice_raw[k] = v
            else:
                self._raw[decode_key(k)] = v
        self._entries: dict[str, Entry] = {}
        self._maps: dict[int, Any] = {}
        self._paths: dict[int, str] = {}

    # -- metadata ----------------------------------------------------------------------------

    @property
    def num_shards(self) -> int:
        """``num_shards`` from the header."""
        return self.header.num_shards

    def keys(self) -> list[str]:
        """All tensor keys, in index (bytewise) order (slice keys of partitioned tensors are
        not listed: their tensor's key is, as in TF's ``get_variable_to_shape_map``)."""
        return list(self._raw)

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __contains__(self, key: object) -> bool:
        return key in self._raw

    def entry(self, key: str) -> Entry:
        """The validated metadata of one tensor; ``KeyError`` if absent."""
        cached = self._entries.get(key)
        if cached is not None:
            return cached
        try:
            raw = self._raw[key]
        except KeyError:
            raise KeyError(f"key {key!r} not found in {self.index_path}") from None
        _, entry = parse_entry(
            raw, key=key, name=self.index_path, num_shards=self.header.num_shards
        )
        self._entries[key] = entry
        return entry

    # -- data --------------------------------------------------------------------------------

    def data_path(self, shard_id: int) -> str:
        """The data file of one shard."""
        path = self._paths.get(shard_id)
        if path is None:
            path = self._paths[shard_id] = data_filename(
                self.prefix, shard_id, self.header.num_shards
            )
        return path

    def _shard(self, shard_id: int, key: str) -> Any:
        buf = self._maps.get(shard_id)
        if buf is not None:
            return buf
        path = self.data_path(shard_id)
        try:
            f = open(path, "rb")  # closed just below, once mapped
        except FileNotFoundError:
            raise FileNotFoundError(
                f"{path}: data file of shard {shard_id} (needed for tensor {key!r}) is missing"
            ) from None
        with f:
            size = os.fstat(f.fileno()).st_size
            buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        self._maps[shard_id] = buf
        return buf

    def slice_entry(self, full: Entry, extents: tuple[Extent, ...], raw_key: bytes) -> Entry:
        """The validated entry of one piece of the partitioned tensor ``full``."""
        where = f"{self.index_path}: tensor {full.key!r}, slice {list(extents)}"
        raw = self._slice_raw.get(raw_key)
        if raw is None:
            raise FormatError(f"{where}: the slice's entry is missing")
        _, entry = parse_entry(
            raw, key=f"{full.key}[{extents}]", name=self.index_path,
            num_shards=self.header.num_shards,
        )
        want = tuple(length for _, length in extents)
        if entry.slices or entry.dtype is not full.dtype or entry.shape != want:
            raise FormatError(
                f"{where}: the slice's entry is {entry.dtype.name}{list(entry.shape)}, expected "
                f"{full.dtype.name}{list(want)}"
            )
        return entry

    def get(self, key: str) -> np.ndarray:
        """The tensor stored under ``key`` (read-only; numeric tensors are not copied)."""
        entry = self.entry(key)
        if entry.slices:
            return self._assemble(entry)
        return self.get_entry(entry)

    def lazy(self, key: str) -> Any:
        """The tensor under ``key`` as a :class:`~.lazy_tensor.LazyTensor` (nothing read yet)."""
        from .lazy_tensor import LazyTensor

        return LazyTensor(self, key)

    def lazy_or_get(self, key: str) -> Any:
        """A numeric tensor (whole or partitioned) as a lazy array, a scalar or string tensor
        read now: what ``load_model`` / ``load_weights`` keep."""
        entry = self.entry(key)
        if entry.shape and entry.dtype.name != _STRING_DTYPE:
            return self.lazy(key)
        return self.get(key)

    def _assemble(self, entry: Entry) -> np.ndarray:
        pieces = [(ext, self.slice_entry(entry, ext, raw)) for ext, raw in entry.slices]
        for _, piece in pieces:  # every slice's bytes exist before the full array is allocated
            self._check_bounds(piece, self._shard(piece.shard_id, entry.key))
        out = np.empty(entry.shape, dtype=entry.dtype.numpy)
        for extents, piece in pieces:
            out[tuple(slice(a, a + n) for a, n in extents)] = self.get_entry(piece)
        out.flags.writeable = False
        return out

    def _check_bounds(self, entry: Entry, buf: Any) -> None:
        if entry.offset > len(buf) or entry.size > len(buf) - entry.offset:
            raise FormatError(
                f"{self.data_path(entry.shard_id)}: tensor {entry.key!r} (offset {entry.offset}, "
                f"size {entry.size}) runs past the end of the {len(buf)}-byte data file "
                "(truncated?)"
            )

    def get_entry(self, entry: Entry, rows: slice | None = None) -> np.ndarray:
        """The data of one stored (not partitioned) entry; ``rows`` limits a numeric tensor to
        some of its first-axis rows and skips the CRC check (the caller checks)."""
        key = entry.key
        buf = self._shard(entry.shard_id, key)
        path = self.data_path(entry.shard_id)
        self._check_bounds(entry, buf)
        if entry.dtype.name == _STRING_DTYPE:
            return self._get_strings(entry, buf, path)
        if rows is not None and entry.shape:
            start, stop, _ = rows.indices(entry.shape[0])
            stop = max(start, stop)
            row_bytes = entry.size // entry.shape[0] if entry.shape[0] else 0
            raw = np.frombuffer(buf, dtype=np.uint8, count=(stop - start) * row_bytes,
                                offset=entry.offset + start * row_bytes)
            arr = raw.view(entry.dtype.numpy).reshape((stop - start, *entry.shape[1:]))
            if self.header.big_endian and entry.dtype.itemsize > 1:
                arr = _from_big_endian(arr)
                arr.flags.writeable = False
            return arr
        raw = np.frombuffer(buf, dtype=np.uint8, count=entry.size, offset=entry.offset)
        if self.verify_crc:
            self._check_crc(entry, crc32c.value(raw), path)
        arr = raw.view(entry.dtype.numpy).reshape(entry.shape)
        if self.header.big_endian and entry.dtype.itemsize > 1:
            arr = _from_big_endian(arr)
            arr.flags.writeable = False
        return arr

    def check_crc(self, entry: Entry, actual: int) -> None:
        """Raise :class:`ChecksumError` unless ``actual`` is the entry's CRC (unmasked)."""
        self._check_crc(entry, actual, self.data_path(entry.shard_id))

    def _check_crc(self, entry: Entry, actual: int, path: str) -> None:
        if crc32c.unmask(entry.crc32c) != actual:
            raise ChecksumError(
                f"{path}: tensor {entry.key!r} ({entry.size} bytes at offset {entry.offset}): "
                f"checksum does not match: stored {crc32c.unmask(entry.crc32c):#010x}, "
                f"calculated {actual:#010x}"
            )

    def _get_strings(self, entry: Entry, buf: Any, path: str) -> np.ndarray:
        where = f"{path}: tensor {entry.key!r}"
        data = bytes(buf[entry.offset : entry.offset + entry.size])
        n = entry.num_elements  # parse_entry checked n + 4 <= size
        lengths: list[int] = []
        pos = 0
        for _ in range(n):
            length, pos = decode_varint(data, pos, len(data), what=where)
            lengths.append(length)
        if pos + 4 > len(data):
            raise FormatError(f"{where}: string lengths leave no room for their checksum")
        order = ">" if self.header.big_endian else "<"
        (stored,) = struct.unpack_from(order + "I", data, pos)
        if self.verify_crc:
            packed = b"".join(
                struct.pack(order + ("I" if x <= 0xFFFFFFFF else "Q"), x) for x in lengths
            )
            length_crc = crc32c.value(packed)
            if crc32c.unmask(stored) != length_crc:
                raise ChecksumError(
                    f"{where}: the length checksum does not match: stored "
                    f"{crc32c.unmask(stored):#010x}, calculated {length_crc:#010x}"
                )
        total = sum(lengths)
        if pos + 4 + total != len(data):
            raise FormatError(
                f"{where}: {n} string lengths add up to {pos + 4 + total} bytes with the header, "
                f"but the entry size is {len(data)}"
            )
        if self.verify_crc:
            crc = crc32c.extend(length_crc, data[pos : pos + 4])
            self._check_crc(entry, crc32c.extend(crc, data[pos + 4 :]), path)
        out = np.empty(n, dtype=object)
        start = pos + 4
        for i, length in enumerate(lengths):
            out[i] = data[start : start + length]
            start += length
        arr = out.reshape(entry.shape)
        arr.flags.writeable = False
        return arr

    # -- lifetime ----------------------------------------------------------------------------

    def close(self) -> None:
        """Release the memory maps not referenced by returned arrays."""
        for buf in self._maps.values():
            if isinstance(buf, mmap.mmap):
                try:
                    buf.close()
                except BufferError:  # arrays still view it; it closes when they are gone
                    pass
        self._maps.clear()

    def __enter__(self) -> BundleReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _from_big_endian(arr: np.ndarray) -> np.ndarray:
    """A native-order copy of big-endian data viewed with the native dtype."""
    return arr.byteswap()


def read(prefix: str | os.PathLike[str], *, verify_crc: bool = True) -> dict[str, np.ndarray]:
    """Every tensor of the bundle, by key in index order (read-only arrays; numeric ones are
    memory-mapped views of the data files)."""
    with BundleReader(prefix, verify_crc=verify_crc) as reader:
        return {key: reader.get(key) for key in reader.keys()}
