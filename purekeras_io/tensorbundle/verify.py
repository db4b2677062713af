"""Verifying a TensorBundle (``<prefix>.index`` + ``<prefix>.data-*``) rule by rule, every problem
reported (``tensorbundle.md`` §3-8); nothing is written, nothing is recovered.

=================================  ==========================================================
rule                               checked how
=================================  ==========================================================
footer                             48 bytes, magic, two block handles
every block (metaindex, index,     inside the file, trailer ``mask(crc32c(block ‖ type))``,
each data block)                   type 0, restart array, entries inside the block
keys                               strictly increasing within and across data blocks; each
                                   data block's last key ``<=`` its index key
header entry ``""``                first, ``BundleHeaderProto`` parses, versions, num_shards
every entry                        ``BundleEntryProto`` parses; dtype, shape, size agree;
                                   ``shard_id < num_shards``; ``offset + size`` inside its data
                                   file; tensors do not overlap; every byte of a data file
                                   belongs to one tensor
every tensor's data                ``crc32c`` over its bytes; DT_STRING: length varints, the
                                   length checksum, sizes adding up, the running checksum
=================================  ==========================================================

What the bytes mean above the bundle (the object graph of a checkpoint or SavedModel, the
``checkpoint`` state file) is checked by the layers that own it: ``savedmodel/verify.py`` and
``checkpoint/verify.py`` pass ``string_checks`` for the string scalars they understand.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .._report import Progress, Report, no_progress
from . import crc32c
from .format import (
    BLOCK_TRAILER_SIZE,
    COMPRESSION_NONE,
    FOOTER_SIZE,
    HEADER_KEY,
    data_filename,
    index_filename,
)
from .reader import Entry, Header, decode_key, parse_entry, parse_header
from .sstable import BlockHandle, block_trailer, decode_footer, decode_varint, parse_block

__all__ = ["StringCheck", "verify_bundle"]

StringCheck = Callable[[Report, str, bytes, set[str]], None]
"""``check(report, index_name, value, keys)`` for a string scalar whose checksums matched:
``value`` is the string's bytes, ``keys`` every tensor key of the bundle."""


def _block(report: Report, name: str, data: bytes, handle: BlockHandle, what: str) -> bytes | None:
    """The block's contents when it lies inside the file and its trailer matches."""
    end_of_blocks = len(data) - FOOTER_SIZE
    if handle.offset > end_of_blocks or handle.size + BLOCK_TRAILER_SIZE > (
        end_of_blocks - handle.offset
    ):
        report.add(name, what, f"offset {handle.offset}, size {handle.size} lies outside the "
                   f"{len(data)}-byte file (truncated?)")
        return None
    end = handle.offset + handle.size
    contents = data[handle.offset : end]
    trailer = data[end : end + BLOCK_TRAILER_SIZE]
    report.count("SSTable blocks")
    ok = True
    if block_trailer(contents, trailer[0]) != trailer:
        stored = struct.unpack_from("<I", trailer, 1)[0]
        actual = struct.unpack_from("<I", block_trailer(contents, trailer[0]), 1)[0]
        report.add(name, what, f"block checksum mismatch at offset {handle.offset} "
                   f"({handle.size} bytes): stored masked CRC-32C {stored:#010x}, "
                   f"calculated {actual:#010x}")
        ok = False
    if trailer[0] != COMPRESSION_NONE:
        report.add(name, what, f"compression type {trailer[0]} (TensorFlow writes 0, none)")
        ok = False
    return contents if ok else None


def _parsed(report: Report, name: str, contents: bytes | None, what: str
            ) -> list[tuple[bytes, bytes]] | None:
    if contents is None:
        return None
    with report.guard(name, what):
        return parse_block(contents, what=what)
    return None


def _read_table(report: Report, name: str, data: bytes) -> list[tuple[bytes, bytes]] | None:
    """All entries of the index file's table (None when the index block is unusable); a bad
    data block is reported and skipped, the others are still read."""
    if len(data) < FOOTER_SIZE:
        report.add(name, "footer", f"{len(data)} bytes is too short for a table "
                   f"(the footer alone is {FOOTER_SIZE}; truncated?)")
        return None
    footer = data[-FOOTER_SIZE:]
    try:
        metaindex, index = decode_footer(footer, what=name)
    except Exception as exc:
        report.add(name, "footer", str(exc))
        return None
    meta = _parsed(report, name, _block(report, name, data, metaindex, "metaindex block"),
                   "metaindex block")
    if meta:
        report.add(name, "metaindex block", f"{len(meta)} entries (TensorFlow writes none)")
    index_entries = _parsed(report, name, _block(report, name, data, index, "index block"),
                            "index block")
    if index_entries is None:
        return None
    entries: list[tuple[bytes, bytes]] = []
    for number, (index_key, handle_bytes) in enumerate(index_entries):
        what = f"data block {number}"
        try:
            handle, used = BlockHandle.decode(handle_bytes, what=f"index entry {number}")
        except Exception as exc:
            report.add(name, f"index entry {number}", str(exc))
            continue
        if used != len(handle_bytes):
            report.add(name, f"index entry {number}", f"{len(handle_bytes) - used} stray bytes "
                       "after the block handle")
        block = _parsed(report, name, _block(report, name, data, handle, what), what)
        if block is None:
            continue
        if not block:
            report.add(name, what, "empty data block")
            continue
        if entries and block[0][0] <= entries[-1][0]:
            report.add(name, what, f"starts with key {block[0][0]!r}, which does not follow "
                       f"{entries[-1][0]!r} (keys must increase)")
        if block[-1][0] > index_key:
            report.add(name, what, f"ends with key {block[-1][0]!r}, past its index key "
                       f"{index_key!r}")
        entries.extend(block)
    return entries


def _string_crc(report: Report, path: str, entry: Entry, data: bytes, big_endian: bool) -> None:
    """DT_STRING layout (§5.1): varint lengths, masked CRC of the lengths, the bytes."""
    key = f"tensor {entry.key!r}"
    n = entry.num_elements
    lengths: list[int] = []
    pos = 0
    try:
        for _ in range(n):
            length, pos = decode_varint(data, pos, len(data), what=key)
            lengths.append(length)
    except Exception as exc:
        report.add(path, key, f"string lengths: {exc}")
        return
    if pos + 4 > len(data):
        report.add(path, key, "string lengths leave no room for their checksum")
        return
    order = ">" if big_endian else "<"
    (stored,) = struct.unpack_from(order + "I", data, pos)
    packed = b"".join(struct.pack(order + ("I" if x <= 0xFFFFFFFF else "Q"), x) for x in lengths)
    length_crc = crc32c.value(packed)
    if crc32c.unmask(stored) != length_crc:
        report.add(path, key, f"string length checksum mismatch: stored "
                   f"{crc32c.unmask(stored):#010x}, calculated {length_crc:#010x}")
    if pos + 4 + sum(lengths) != len(data):
        report.add(path, key, f"{n} string lengths add up to {pos + 4 + sum(lengths)} bytes with "
                   f"their header, but the entry size is {len(data)}")
    crc = crc32c.extend(crc32c.extend(length_crc, data[pos : pos + 4]), data[pos + 4 :])
    if crc32c.unmask(entry.crc32c) != crc:
        report.add(path, key, f"data checksum mismatch ({entry.size} bytes at offset "
                   f"{entry.offset}): stored {crc32c.unmask(entry.crc32c):#010x}, "
                   f"calculated {crc:#010x}")


def _check_data(report: Report, prefix: str, header: Header, entries: list[Entry],
                progress: Progress) -> dict[str, bytes]:
    """Bounds, overlaps, coverage and CRC of every tensor; returns the string scalars' bytes
    (the object graph) whose checksums matched."""
    shards: dict[int, Any] = {}
    sizes: dict[int, int] = {}
    strings: dict[str, bytes] = {}
    for shard in range(header.num_shards):
        path = data_filename(prefix, shard, header.num_shards)
        try:
            with open(path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                mapped: Any = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
            shards[shard] = np.frombuffer(mapped, dtype=np.uint8)
            sizes[shard] = int(shards[shard].size)
            report.count("data files")
        except OSError as exc:
            report.add(path, f"shard {shard}", f"data file cannot be read ({exc.strerror or exc})")
    regions: dict[int, list[tuple[int, int, str]]] = {}
    for entry in progress(entries, len(entries), "tensors"):
        path = data_filename(prefix, entry.shard_id, header.num_shards)
        buf = shards.get(entry.shard_id)
        if buf is None:
            continue
        key = f"tensor {entry.key!r}"
        if entry.offset > buf.size or entry.size > buf.size - entry.offset:
            report.add(path, key, f"offset {entry.offset}, size {entry.size} runs past the end "
                       f"of the {buf.size}-byte data file (truncated?)")
            continue
        regions.setdefault(entry.shard_id, []).append((entry.offset, entry.size, entry.key))
        region = buf[entry.offset : entry.offset + entry.size]
        report.count("tensors")
        if entry.dtype.name == "string":
            before = len(report.problems)
            _string_crc(report, path, entry, region.tobytes(), header.big_endian)
            if len(report.problems) == before and entry.shape == ():
                strings[entry.key] = region.tobytes()
            continue
        actual = crc32c.value(region)
        if crc32c.unmask(entry.crc32c) != actual:
            report.add(path, key, f"data checksum mismatch ({entry.size} bytes at offset "
                       f"{entry.offset}): stored {crc32c.unmask(entry.crc32c):#010x}, "
                       f"calculated {actual:#010x}")
    for shard, spans in regions.items():
        path = data_filename(prefix, shard, header.num_shards)
        spans.sort()
        end, last = 0, ""
        for offset, size, key in spans:
            if offset < end:
                report.add(path, f"tensor {key!r}", f"bytes {offset}..{offset + size} overlap "
                           f"tensor {last!r} (which ends at {end})")
            elif offset > end:
                report.add(path, f"bytes {end}..{offset}", "belong to no tensor")
            if offset + size >= end:
                end, last = offset + size, key
        if end < sizes.get(shard, 0):
            report.add(path, f"bytes {end}..{sizes[shard]}", "belong to no tensor (trailing)")
    for shard, size in sizes.items():
        if shard not in regions and size:
            report.add(data_filename(prefix, shard, header.num_shards), f"shard {shard}",
                       f"{size} bytes that no tensor uses")
    return strings


def _string_scalar(data: bytes) -> bytes | None:
    """The bytes of a valid one-string DT_STRING region."""
    try:
        length, pos = decode_varint(data, 0, len(data))
    except Exception:
        return None
    return data[pos + 4 : pos + 4 + length]


def verify_bundle(prefix: str | os.PathLike[str], report: Report,
                  progress: Progress = no_progress,
                  string_checks: Mapping[str, StringCheck] | None = None) -> dict[str, Entry]:
    """Check the bundle at ``prefix``, adding every problem to ``report``; returns the entries
    that parsed (key → :class:`Entry`). ``string_checks[key]`` is run on the string scalar
    ``key`` when it is present and sound."""
    prefix = os.fspath(prefix)
    name = index_filename(prefix)
    try:
        with open(name, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        report.add(name, "", f"cannot be read ({exc.strerror or exc})")
        return {}
    items = _read_table(report, name, data)
    if items is None:
        return {}
    if not items or items[0][0] != HEADER_KEY:
        report.add(name, 'header entry ""', "the first entry is not the bundle header")
        return {}
    try:
        header = parse_header(items[0][1], name=name)
    except Exception as exc:
        report.add(name, 'header entry ""', str(exc))
        return {}
    entries: dict[str, Entry] = {}
    for raw_key, raw in items[1:]:
        key = decode_key(raw_key)
        try:
            _, entry = parse_entry(raw, key=key, name=name, num_shards=header.num_shards)
        except Exception as exc:
            report.add(name, f"tensor {key!r}", str(exc).replace(f"{name}: tensor {key!r}", "")
                       .lstrip(": ") or type(exc).__name__)
            continue
        entries[key] = entry
    strings = _check_data(report, prefix, header, list(entries.values()), progress)
    for key, check in (string_checks or {}).items():
        if key in strings:
            value = _string_scalar(strings[key])
            if value is not None:
                check(report, name, value, set(entries))
    return entries
