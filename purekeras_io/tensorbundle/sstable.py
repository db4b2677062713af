"""The LevelDB-style sorted table inside ``<prefix>.index``; spec: ``tensorbundle.md`` §2-3.

::

    file     := [data block][trailer]* [metaindex block][trailer] [index block][trailer] footer
    block    := entry* | fixed32 restart_offset[k] | fixed32 k          (restart_offset[0] == 0)
    entry    := varint32 shared | varint32 non_shared | varint32 value_len
                | key[shared : shared+non_shared] | value              (shared == 0 at restarts)
    trailer  := u8 type (0: none) | fixed32 mask(crc32c(block ‖ type))
    footer   := varint64 meta_off | varint64 meta_size | varint64 idx_off | varint64 idx_size
                | zero padding to 40 bytes | fixed32 0x8b80fb57 | fixed32 0xdb477524

Writing (:class:`TableBuilder`, TF's ``table_builder.cc`` rules, §3.2): restart interval 16 in data
blocks and 1 in the index block; before adding an entry whose ``len(key) + len(value)`` is at least
``2 * block_size`` the current block is flushed; after adding, the block is flushed once its size
estimate reaches ``block_size``. The index entry of a block is emitted when the next key is known:
its key is ``shortest_separator(last, next)``, or ``short_successor(last)`` for the final block.

Reading (:class:`TableReader`) is hostile-input safe: every offset and length is checked against
the bytes that exist before it is used, every block CRC is verified, keys must strictly increase,
and every loop consumes at least one byte per step.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO, NamedTuple

from ..errors import FormatError, UnsupportedFeatureError
from . import crc32c
from .format import (
    BLOCK_RESTART_INTERVAL,
    BLOCK_SIZE,
    BLOCK_TRAILER_SIZE,
    COMPRESSION_NONE,
    COMPRESSION_SNAPPY,
    FOOTER_SIZE,
    INDEX_RESTART_INTERVAL,
    MAGIC,
    MAX_BLOCK_HANDLE_SIZE,
)

__all__ = [
    "BlockBuilder",
    "BlockHandle",
    "TableBuilder",
    "TableReader",
    "block_trailer",
    "decode_footer",
    "decode_varint",
    "encode_footer",
    "encode_varint",
    "parse_block",
    "short_successor",
    "shortest_separator",
]

_FIXED32 = struct.Struct("<I")
_MAGIC_BYTES = struct.pack("<II", MAGIC & 0xFFFFFFFF, MAGIC >> 32)


# --- varints --------------------------------------------------------------------------------


def encode_varint(value: int) -> bytes:
    """Unsigned LEB128: 7 bits per byte, low group first, high bit = more bytes follow."""
    if value < 0:
        raise ValueError(f"varint: value must be non-negative, got {value}")
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(
    buf: bytes, pos: int, end: int, *, bits: int = 64, what: str = "varint"
) -> tuple[int, int]:
    """Decode a varint of at most ``bits`` bits from ``buf[pos:end]``; return (value, new pos).

    Raises :class:`FormatError` if it runs past ``end`` or is longer or larger than allowed.
    """
    result = 0
    shift = 0
    max_bytes = (bits + 6) // 7
    for i in range(max_bytes):
        if pos + i >= end:
            raise FormatError(f"{what}: truncated varint at offset {pos}")
        byte = buf[pos + i]
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            if result >> bits:
                raise FormatError(f"{what}: varint at offset {pos} exceeds {bits} bits")
            return result, pos + i + 1
        shift += 7
    raise FormatError(f"{what}: varint at offset {pos} is longer than {max_bytes} bytes")


# --- block handles and footer ---------------------------------------------------------------


class BlockHandle(NamedTuple):
    """Where a block lives in the table file; ``size`` excludes the 5-byte trailer."""

    offset: int
    size: int

    def encode(self) -> bytes:
        """``varint64 offset | varint64 size``."""
        return encode_varint(self.offset) + encode_varint(self.size)

    @classmethod
    def decode(
        cls, buf: bytes, pos: int = 0, end: int | None = None, *, what: str = "block handle"
    ) -> tuple[BlockHandle, int]:
        """Decode one handle from ``buf[pos:end]``; return it and the position after it."""
        stop = len(buf) if end is None else end
        offset, pos = decode_varint(buf, pos, stop, what=what)
        size, pos = decode_varint(buf, pos, stop, what=what)
        return cls(offset, size), pos


def encode_footer(metaindex: BlockHandle, index: BlockHandle) -> bytes:
    """The 48-byte footer: both handles, zero padding to 40 bytes, the magic (low word first)."""
    handles = metaindex.encode() + index.encode()
    return handles + bytes(2 * MAX_BLOCK_HANDLE_SIZE - len(handles)) + _MAGIC_BYTES


def decode_footer(footer: bytes, *, what: str = "table") -> tuple[BlockHandle, BlockHandle]:
    """(metaindex handle, index handle) from the last 48 bytes of a table."""
    if len(footer) != FOOTER_SIZE:
        raise FormatError(f"{what}: footer must be {FOOTER_SIZE} bytes, got {len(footer)}")
    if footer[-8:] != _MAGIC_BYTES:
        raise FormatError(
            f"{what}: bad table magic {footer[-8:].hex(' ')} (expected {_MAGIC_BYTES.hex(' ')}); "
            "not a TensorBundle index"
        )
    limit = 2 * MAX_BLOCK_HANDLE_SIZE
    metaindex, pos = BlockHandle.decode(footer, 0, limit, what=f"{what}: footer")
    index, _ = BlockHandle.decode(footer, pos, limit, what=f"{what}: footer")
    return metaindex, index


# --- separators -----------------------------------------------------------------------------


def _common_prefix_len(a: bytes, b: bytes) -> int:
    """Length of the common prefix (binary search over C-speed slice comparisons)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def shortest_separator(start: bytes, limit: bytes) -> bytes:
    """A short key ``k`` with ``start <= k < limit`` (TF's bytewise ``FindShortestSeparator``).

    At the first differing byte ``d``: if ``start[d] < 0xff`` and ``start[d] + 1 < limit[d]``,
    return ``start[:d] + (start[d] + 1)``; otherwise (also if one is a prefix of the other)
    return ``start`` unchanged.
    """
    d = _common_prefix_len(start, limit)
    if d >= min(len(start), len(limit)):
        return start
    byte = start[d]
    if byte < 0xFF and byte + 1 < limit[d]:
        return start[:d] + bytes((byte + 1,))
    return start


def short_successor(key: bytes) -> bytes:
    """A short key ``>= key`` (TF's ``FindShortSuccessor``): increment the first byte that is not
    ``0xff`` and cut after it; a key of only ``0xff`` bytes is returned unchanged."""
    for i, byte in enumerate(key):
        if byte != 0xFF:
            return key[:i] + bytes((byte + 1,))
    return key


# --- writing --------------------------------------------------------------------------------


class BlockBuilder:
    """Builds one block with prefix-compressed keys and a restart array."""

    def __init__(self, restart_interval: int = BLOCK_RESTART_INTERVAL) -> None:
        if restart_interval < 1:
            raise ValueError(f"restart_interval must be >= 1, got {restart_interval}")
        self._interval = restart_interval
        self._buf = bytearray()
        self._restarts = [0]
        self._counter = 0
        self._last_key = b""

    @property
    def empty(self) -> bool:
        """No entry added since the last reset."""
        return not self._buf

    def add(self, key: bytes, value: bytes) -> None:
        """Append one entry; keys must be added in increasing order."""
        if self._counter == self._interval:
            self._restarts.append(len(self._buf))
            self._counter = 0
            shared = 0
        else:
            shared = _common_prefix_len(self._last_key, key)
        buf = self._buf
        buf += encode_varint(shared)
        buf += encode_varint(len(key) - shared)
        buf += encode_varint(len(value))
        buf += key[shared:]
        buf += value
        self._last_key = key
        self._counter += 1

    def size_estimate(self) -> int:
        """Bytes :meth:`finish` would return."""
        return len(self._buf) + 4 * len(self._restarts) + 4

    def finish(self) -> bytes:
        """The block contents (entries, restart offsets, restart count); then reset."""
        restarts = self._restarts
        out = bytes(self._buf) + struct.pack(f"<{len(restarts) + 1}I", *restarts, len(restarts))
        self._buf = bytearray()
        self._restarts = [0]
        self._counter = 0
        self._last_key = b""
        return out


def block_trailer(contents: bytes, compression: int = COMPRESSION_NONE) -> bytes:
    """The 5-byte trailer: type byte and ``mask(crc32c(contents ‖ type))``."""
    type_byte = bytes((compression,))
    crc = crc32c.extend(crc32c.value(contents), type_byte)
    return type_byte + _FIXED32.pack(crc32c.mask(crc))


class TableBuilder:
    """Streams a sorted table to a binary file object (blocks are written as they fill)."""

    def __init__(self, file: BinaryIO, *, block_size: int = BLOCK_SIZE) -> None:
        self._file = file
        self._block_size = block_size
        self._offset = 0
        self._data_block = BlockBuilder(BLOCK_RESTART_INTERVAL)
        self._index_block = BlockBuilder(INDEX_RESTART_INTERVAL)
        self._last_key = b""
        self._num_entries = 0
        self._pending: BlockHandle | None = None
        self._closed = False

    @property
    def num_entries(self) -> int:
        """Entries added so far."""
        return self._num_entries

    @property
    def offset(self) -> int:
        """Bytes written so far."""
        return self._offset

    def add(self, key: bytes, value: bytes) -> None:
        """Add one entry; keys must strictly increase bytewise."""
        if self._closed:
            raise ValueError("TableBuilder.add: the table is already finished")
        if self._num_entries > 0:
            if key <= self._last_key:
                raise ValueError(
                    f"TableBuilder.add: key {key!r} does not follow {self._last_key!r}"
                )
            if len(key) + len(value) >= 2 * self._block_size:
                self._flush()
        if self._pending is not None:
            separator = shortest_separator(self._last_key, key)
            self._index_block.add(separator, self._pending.encode())
            self._pending = None
        self._last_key = key
        self._num_entries += 1
        self._data_block.add(key, value)
        if self._data_block.size_estimate() >= self._block_size:
            self._flush()

    def _write_block(self, block: BlockBuilder) -> BlockHandle:
        contents = block.finish()
        handle = BlockHandle(self._offset, len(contents))
        self._file.write(contents)
        self._file.write(block_trailer(contents))
        self._offset += len(contents) + BLOCK_TRAILER_SIZE
        return handle

    def _flush(self) -> None:
        if self._data_block.empty:
            return
        self._pending = self._write_block(self._data_block)

    def finish(self) -> int:
        """Write the last data block, metaindex, index block and footer; return the file size."""
        if self._closed:
            raise ValueError("TableBuilder.finish: the table is already finished")
        self._flush()
        self._closed = True
        metaindex = self._write_block(BlockBuilder(BLOCK_RESTART_INTERVAL))
        if self._pending is not None:
            self._index_block.add(short_successor(self._last_key), self._pending.encode())
            self._pending = None
        index = self._write_block(self._index_block)
        footer = encode_footer(metaindex, index)
        self._file.write(footer)
        self._offset += len(footer)
        return self._offset


# --- reading --------------------------------------------------------------------------------


def parse_block(contents: bytes, *, what: str = "block") -> list[tuple[bytes, bytes]]:
    """All (key, value) entries of one block's contents, validating the restart array."""
    n = len(contents)
    if n < 4:
        raise FormatError(f"{what}: {n} bytes is too short for a block (at least 4)")
    (num_restarts,) = _FIXED32.unpack_from(contents, n - 4)
    if num_restarts < 1 or num_restarts > (n - 4) // 4:
        raise FormatError(
            f"{what}: restart count {num_restarts} does not fit a {n}-byte block "
            f"(1..{(n - 4) // 4})"
        )
    limit = n - 4 - 4 * num_restarts
    restarts = struct.unpack_from(f"<{num_restarts}I", contents, limit)
    entries: list[tuple[bytes, bytes]] = []
    starts: dict[int, int] = {}  # entry offset -> its shared length
    prev = b""
    pos = 0
    while pos < limit:
        start = pos
        shared, pos = decode_varint(contents, pos, limit, bits=32, what=what)
        non_shared, pos = decode_varint(contents, pos, limit, bits=32, what=what)
        value_len, pos = decode_varint(contents, pos, limit, bits=32, what=what)
        if shared > len(prev):
            raise FormatError(
                f"{what}: entry at offset {start} shares {shared} bytes with a "
                f"{len(prev)}-byte previous key"
            )
        if non_shared + value_len > limit - pos:
            raise FormatError(
                f"{what}: entry at offset {start} ({non_shared} key + {value_len} value bytes) "
                f"runs past the restart array at offset {limit}"
            )
        key = prev[:shared] + contents[pos : pos + non_shared]
        pos += non_shared
        value = contents[pos : pos + value_len]
        pos += value_len
        if entries and key <= prev:
            raise FormatError(f"{what}: key {key!r} does not follow {prev!r} (keys must increase)")
        entries.append((key, value))
        starts[start] = shared
        prev = key
    previous_restart = -1
    for restart in restarts:
        ok = restart > previous_restart and (
            starts.get(restart) == 0 or (restart == 0 and not entries)
        )
        if not ok:
            raise FormatError(f"{what}: restart offset {restart} is not the start of a full key")
        previous_restart = restart
    if restarts[0] != 0:
        raise FormatError(f"{what}: first restart offset is {restarts[0]}, expected 0")
    return entries


class TableReader:
    """Reads a whole table held in memory; iterating yields (key, value) in key order.

    Construction checks the footer, the index block and every data block (bounds, trailer CRC,
    restart arrays, strictly increasing keys, index keys bounding their blocks).
    """

    def __init__(self, data: bytes, *, name: str = "table") -> None:
        self.name = name
        self._data = data
        self._entries = self._read_all()

    def _block(self, handle: BlockHandle, what: str) -> bytes:
        data = self._data
        end_of_blocks = len(data) - FOOTER_SIZE
        if handle.offset > end_of_blocks or handle.size + BLOCK_TRAILER_SIZE > (
            end_of_blocks - handle.offset
        ):
            raise FormatError(
                f"{self.name}: {what} (offset {handle.offset}, size {handle.size}) lies outside "
                f"the {len(data)}-byte file (truncated?)"
            )
        end = handle.offset + handle.size
        contents = data[handle.offset : end]
        trailer = data[end : end + BLOCK_TRAILER_SIZE]
        if block_trailer(contents, trailer[0]) != trailer:
            stored = _FIXED32.unpack_from(trailer, 1)[0]
            raise FormatError(
                f"{self.name}: {what} at offset {handle.offset}: block checksum mismatch "
                f"(stored masked CRC {stored:#010x})"
            )
        if trailer[0] == COMPRESSION_SNAPPY:
            raise UnsupportedFeatureError(
                f"{self.name}: {what} at offset {handle.offset} is snappy-compressed; "
                "TensorFlow never writes compressed bundle indexes and purekeras_io does not "
                "read them"
            )
        if trailer[0] != COMPRESSION_NONE:
            raise FormatError(
                f"{self.name}: {what} at offset {handle.offset}: unknown compression type "
                f"{trailer[0]}"
            )
        return contents

    def _read_all(self) -> list[tuple[bytes, bytes]]:
        data = self._data
        if len(data) < FOOTER_SIZE:
            raise FormatError(
                f"{self.name}: {len(data)} bytes is too short for a table "
                f"(the footer alone is {FOOTER_SIZE}; truncated?)"
            )
        _, index_handle = decode_footer(data[-FOOTER_SIZE:], what=self.name)
        index_entries = parse_block(
            self._block(index_handle, "index block"), what=f"{self.name}: index block"
        )
        entries: list[tuple[bytes, bytes]] = []
        for number, (index_key, handle_bytes) in enumerate(index_entries):
            what = f"data block {number}"
            handle, used = BlockHandle.decode(
                handle_bytes, what=f"{self.name}: index entry {number}"
            )
            if used != len(handle_bytes):
                raise FormatError(
                    f"{self.name}: index entry {number} has {len(handle_bytes) - used} stray bytes"
                )
            block = parse_block(self._block(handle, what), what=f"{self.name}: {what}")
            if not block:
                raise FormatError(f"{self.name}: {what} is empty")
            if entries and block[0][0] <= entries[-1][0]:
                raise FormatError(
                    f"{self.name}: {what} starts with key {block[0][0]!r}, which does not follow "
                    f"{entries[-1][0]!r} (keys must increase)"
                )
            if block[-1][0] > index_key:
                raise FormatError(
                    f"{self.name}: {what} ends with key {block[-1][0]!r}, past its index key "
                    f"{index_key!r}"
                )
            entries.extend(block)
        return entries

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
