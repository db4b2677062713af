"""A deterministic STORED zip writer that streams members straight from memory to disk.

Byte layout (PKWARE APPNOTE; what Python's ``zipfile`` and Keras write), all little-endian::

    local header   PK\\3\\4 | ver 20 | flags 0 | method 0 (STORED) | dos time | dos date | crc32 |
                   csize | usize | name len | extra len | name | [zip64 extra: 1, 16, usize, csize]
    data           the member bytes, unchanged
    ...            (next member)
    central dir    PK\\1\\2 | made-by 0x0314 (unix, 2.0) | ver 20 | flags 0 | method 0 | time |
                   date |
                   crc32 | csize | usize | name len | extra len | 0 | 0 | 0 | external attr | offset
    [zip64 end record + locator]   only when an offset or size passes the zip64 limit
    end record     PK\\5\\6 | 0 | 0 | n | n | cd size | cd offset | 0

Keras writes every member with ``date_time=(1980, 1, 1, 0, 0, 0)`` when it opens the member for
writing (its weights member gets the local time; we use the fixed time for all three), and
``external_attr = 0o600 << 16``. The CRC is zlib's CRC-32 (not CRC-32C).

A large member is a list of buffers (HDF5 metadata pages and NumPy arrays, see ``h5image``): on a
seekable target the main thread writes them while one or two threads compute the CRC (``zlib.crc32``
releases the GIL), then the CRC is patched into the local header, as ``zipfile`` does. A
non-seekable target gets the CRC computed first. Nothing is copied into one big buffer.

A part may also be a *lazy array* (:mod:`purekeras_io.lazy`: a memory map, a Dask array, a tensor
of a file read on demand): its bytes are streamed in row slabs of at most
:data:`~purekeras_io.lazy.DEFAULT_BLOCK_BYTES` (:func:`iter_part_views`), the CRC is updated
slab by slab, and only one slab is in memory. On a seekable target the CRC is patched into the
local header afterwards; a non-seekable target makes the lazy arrays be read twice (once for the
CRC, once for the bytes). Members without lazy parts are written exactly as before.
"""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

from .._crc import CrcCombiner
from ..errors import ConfigError
from ..lazy import DEFAULT_BLOCK_BYTES, is_lazy, iter_row_blocks, lazy_nbytes

__all__ = [
    "CRC32_IMPLEMENTATION",
    "DOS_DATE_1980",
    "EXTERNAL_ATTR",
    "STREAM_BLOCK_BYTES",
    "ZIP64_LIMIT",
    "Member",
    "byte_view",
    "crc32",
    "crc32_combine",
    "crc32_of",
    "is_stream_part",
    "iter_part_views",
    "part_nbytes",
    "write_all",
    "write_parts",
    "write_zip",
]

ZIP64_LIMIT = (1 << 31) - 1  # as zipfile.ZIP64_LIMIT: larger sizes/offsets use zip64 fields
EXTERNAL_ATTR = 0o600 << 16
CREATE_SYSTEM, CREATE_VERSION, EXTRACT_VERSION, ZIP64_VERSION = 3, 20, 20, 45
DOS_DATE_1980 = (1980, 1, 1, 0, 0, 0)

_LOCAL = struct.Struct("<4s2B4HL2L2H")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_END = struct.Struct("<4s4H2LH")
_END64 = struct.Struct("<4sQ2H2L4Q")
_END64_LOCATOR = struct.Struct("<4sLQL")
_CRC_SPLIT_MIN = 64 << 20  # below this one CRC thread is enough
STREAM_BLOCK_BYTES = DEFAULT_BLOCK_BYTES
"""Slab size in which lazy parts are read and written (tests lower it)."""


@dataclass
class Member:
    """A zip member: its name and its bytes as an ordered list of buffers."""

    name: str
    parts: Sequence[Any]
    """``bytes``/``memoryview``/C-contiguous NumPy arrays, concatenated in order."""

    @property
    def size(self) -> int:
        return sum(_nbytes(p) for p in self.parts)


def _nbytes(part: Any) -> int:
    if is_stream_part(part):
        return lazy_nbytes(part)
    return int(part.nbytes) if isinstance(part, (np.ndarray, memoryview)) else len(part)


part_nbytes = _nbytes


def is_stream_part(part: Any) -> bool:
    """Whether ``part`` is a lazy array (streamed in slabs) rather than a buffer."""
    return not isinstance(part, (bytes, bytearray, memoryview, np.ndarray)) and is_lazy(part)


def iter_part_views(part: Any) -> Any:
    """Byte views of ``part`` in order: one for a buffer, one per row slab for a lazy array."""
    if not is_stream_part(part):
        yield byte_view(part)
        return
    expected, got = lazy_nbytes(part), 0
    for block in iter_row_blocks(part, STREAM_BLOCK_BYTES):
        view = byte_view(block)
        got += len(view)
        if got > expected:
            break
        yield view
    if got != expected:
        raise ConfigError(
            f"a lazy array of shape {tuple(part.shape)} and dtype {part.dtype} gave {got} bytes "
            f"when sliced, not {expected} ({type(part).__name__} slices disagree with its shape)"
        )


def write_parts(target: BinaryIO, parts: Sequence[Any], crc: bool = False) -> int:
    """Write ``parts`` in order (lazy ones slab by slab); the CRC-32 of the bytes if ``crc``."""
    value = 0
    for part in parts:
        for view in iter_part_views(part):
            write_all(target, view)
            if crc:
                value = crc32(view, value)
    return value


def byte_view(part: Any) -> memoryview:
    """A flat byte view of ``part`` (any NumPy dtype, bfloat16 included), without copying."""
    if isinstance(part, np.ndarray):
        arr = part if part.flags.c_contiguous else np.ascontiguousarray(part).reshape(part.shape)
        flat: Any = arr.reshape(-1).view(np.uint8)
        return memoryview(flat)
    return memoryview(part).cast("B")


# ---------------------------------------------------------------- CRC-32


def _pick_crc32() -> tuple[Callable[..., int], str]:
    """zlib's CRC-32 runs at ~4 GB/s; ISA-L's or zlib-ng's (PCLMUL) at ~16 GB/s, same values.

    Used when installed (``pip install isal`` or ``zlib-ng``); both release the GIL like zlib.
    """
    try:
        from isal import isal_zlib

        return isal_zlib.crc32, "isal"
    except ImportError:
        pass
    try:
        from zlib_ng import zlib_ng

        return zlib_ng.crc32, "zlib-ng"
    except ImportError:
        return zlib.crc32, "zlib"


crc32, CRC32_IMPLEMENTATION = _pick_crc32()

_CRC32 = CrcCombiner(0xEDB88320)


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC-32 of A+B from crc(A), crc(B) and len(B) (zlib's ``crc32_combine``)."""
    return _CRC32.combine(crc1, crc2, len2)


def _crc_views(views: list[memoryview]) -> int:
    crc = 0
    for view in views:
        crc = crc32(view, crc)
    return crc


def _split(views: list[memoryview], parts: int) -> list[tuple[list[memoryview], int]]:
    """Cut the byte stream into ``parts`` runs of nearly equal length: ``(views, length)``."""
    total = sum(len(v) for v in views)
    target = -(-total // parts)
    runs: list[tuple[list[memoryview], int]] = []
    cur: list[memoryview] = []
    cur_len = 0
    for view in views:
        while len(view):
            take = min(len(view), target - cur_len)
            cur.append(view[:take])
            cur_len += take
            view = view[take:]
            if cur_len == target:
                runs.append((cur, cur_len))
                cur, cur_len = [], 0
    if cur_len or not runs:
        runs.append((cur, cur_len))
    return runs


class _CrcJob:
    """CRC-32 of a list of buffers, in ``threads`` background threads (combined at the end)."""

    def __init__(self, views: list[memoryview], threads: int) -> None:
        total = sum(len(v) for v in views)
        threads = 1 if total < _CRC_SPLIT_MIN else max(1, threads)
        self._runs = _split(views, threads)
        self._crcs = [0] * len(self._runs)
        self._threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True)
            for i in range(len(self._runs))
        ]
        for t in self._threads:
            t.start()

    def _run(self, index: int) -> None:
        self._crcs[index] = _crc_views(self._runs[index][0])

    def result(self) -> int:
        for t in self._threads:
            t.join()
        crc = self._crcs[0]
        for (_, length), part in zip(self._runs[1:], self._crcs[1:]):
            crc = crc32_combine(crc, part, length)
        return crc


def crc32_of(parts: Sequence[Any], threads: int = 2) -> int:
    """CRC-32 of the concatenated parts."""
    return _CrcJob([byte_view(p) for p in parts], threads).result()


# ---------------------------------------------------------------- headers


def _dos_datetime(date_time: tuple[int, int, int, int, int, int]) -> tuple[int, int]:
    y, mo, d, h, mi, s = date_time
    return (y - 1980) << 9 | mo << 5 | d, h << 11 | mi << 5 | s // 2


def _local_header(name: bytes, crc: int, size: int, dos: tuple[int, int], zip64: bool) -> bytes:
    extra = struct.pack("<HHQQ", 1, 16, size, size) if zip64 else b""
    field = 0xFFFFFFFF if zip64 else size
    version = ZIP64_VERSION if zip64 else EXTRACT_VERSION
    return (
        _LOCAL.pack(
            b"PK\x03\x04",
            version,
            0,
            0,
            0,
            dos[1],
            dos[0],
            crc,
            field,
            field,
            len(name),
            len(extra),
        )
        + name
        + extra
    )


@dataclass
class _Entry:
    name: bytes
    crc: int
    size: int
    offset: int
    zip64: bool


def _central_entry(e: _Entry, dos: tuple[int, int], limit: int) -> bytes:
    extra_fields: list[int] = []
    size = e.size
    offset = e.offset
    if size > limit:
        extra_fields += [size, size]
        size = 0xFFFFFFFF
    if offset > limit:
        extra_fields.append(offset)
        offset = 0xFFFFFFFF
    extra = (
        struct.pack(f"<HH{len(extra_fields)}Q", 1, 8 * len(extra_fields), *extra_fields)
        if extra_fields
        else b""
    )
    version = ZIP64_VERSION if (extra_fields or e.zip64) else EXTRACT_VERSION
    create = ZIP64_VERSION if extra_fields else CREATE_VERSION
    return (
        _CENTRAL.pack(
            b"PK\x01\x02",
            create,
            CREATE_SYSTEM,
            version,
            0,
            0,
            0,
            dos[1],
            dos[0],
            e.crc,
            size,
            size,
            len(e.name),
            len(extra),
            0,
            0,
            0,
            EXTERNAL_ATTR,
            offset,
        )
        + e.name
        + extra
    )


def _end_records(count: int, cd_offset: int, cd_size: int, limit: int) -> bytes:
    out = b""
    if count > 0xFFFF or cd_offset > limit or cd_size > limit:
        end64_offset = cd_offset + cd_size
        out += _END64.pack(b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, cd_size, cd_offset)
        out += _END64_LOCATOR.pack(b"PK\x06\x07", 0, end64_offset, 1)
        count = min(count, 0xFFFF)
        cd_offset = min(cd_offset, 0xFFFFFFFF)
        cd_size = min(cd_size, 0xFFFFFFFF)
    return out + _END.pack(b"PK\x05\x06", 0, 0, count, count, cd_size, cd_offset, 0)


# ---------------------------------------------------------------- writer


def _seekable(fh: Any) -> bool:
    try:
        return bool(fh.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def write_zip(
    target: BinaryIO,
    members: Sequence[Member],
    *,
    date_time: tuple[int, int, int, int, int, int] = DOS_DATE_1980,
    crc_threads: int = 2,
    zip64_limit: int = ZIP64_LIMIT,
) -> int:
    """Write ``members`` (STORED, in order) to the open binary ``target``; return bytes written.

    ``target`` is written from its current position (offsets in the archive count from there,
    as ``zipfile`` does for a fresh file).
    """
    dos = _dos_datetime(date_time)
    seekable = _seekable(target)
    start = target.tell() if seekable else 0
    pos = 0
    entries: list[_Entry] = []
    for member in members:
        name = member.name.encode("utf-8")
        if any(is_stream_part(p) for p in member.parts):
            size = member.size
            zip64 = size > zip64_limit
            offset = pos
            if seekable:  # one pass: bytes out, CRC along, header patched
                header = _local_header(name, 0, size, dos, zip64)
                target.write(header)
                crc = write_parts(target, member.parts, crc=True)
                end = target.tell()
                target.seek(start + offset + 14)
                target.write(struct.pack("<L", crc))
                target.seek(end)
            else:  # the CRC first (the lazy arrays are read twice)
                crc = 0
                for part in member.parts:
                    for view in iter_part_views(part):
                        crc = crc32(view, crc)
                header = _local_header(name, crc, size, dos, zip64)
                target.write(header)
                write_parts(target, member.parts)
            pos += len(header) + size
            entries.append(_Entry(name, crc, size, offset, zip64))
            continue
        views = [byte_view(p) for p in member.parts]
        size = sum(len(v) for v in views)
        zip64 = size > zip64_limit
        offset = pos
        if seekable and size >= _CRC_SPLIT_MIN:
            # CRC in background threads while the bytes go to disk; patch the header after.
            job = _CrcJob(views, crc_threads)
            header = _local_header(name, 0, size, dos, zip64)
            target.write(header)
            for view in views:
                write_all(target, view)
            crc = job.result()
            end = target.tell()
            target.seek(start + offset + 14)
            target.write(struct.pack("<L", crc))
            target.seek(end)
        else:
            crc = _CrcJob(views, crc_threads).result()
            header = _local_header(name, crc, size, dos, zip64)
            target.write(header)
            for view in views:
                write_all(target, view)
        pos += len(header) + size
        entries.append(_Entry(name, crc, size, offset, zip64))
    cd = b"".join(_central_entry(e, dos, zip64_limit) for e in entries)
    target.write(cd)
    tail = _end_records(len(entries), pos, len(cd), zip64_limit)
    target.write(tail)
    return pos + len(cd) + len(tail)


def write_all(target: BinaryIO, view: memoryview) -> None:
    """``write`` may write less than asked on raw files: loop until all is written."""
    while len(view):
        n = target.write(view)
        if n is None or n == len(view):
            return
        view = view[n:]
