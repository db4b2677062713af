"""TensorBoard event files: TFRecord framing around ``Event`` protocol buffers.

A file is a sequence of records; each record is

=======  ==========================================================
bytes    what
=======  ==========================================================
8        ``length`` of the data, uint64 little-endian
4        ``mask(crc32c(length bytes))``, uint32 little-endian
length   the data: one serialized ``Event``
4        ``mask(crc32c(data))``, uint32 little-endian
=======  ==========================================================

(``mask`` is TensorBundle's CRC mask: ``((crc >> 15 | crc << 17) + 0xa282ead8) mod 2**32``.)

The ``Event`` message (``tensorflow/core/util/event.proto``), of which we write three fields,
encoded here directly in the protobuf wire format:

=====  =================  ======  =========================================================
field  name               wire    what
=====  =================  ======  =========================================================
1      ``wall_time``      64-bit  double, seconds since the epoch
2      ``step``           varint  int64
3      ``file_version``   bytes   ``"brain.Event:2"``: the first event of every file
4      ``graph_def``      bytes   a serialized ``GraphDef``, shown by the graph dashboard
=====  =================  ======  =========================================================

The file is named ``events.out.tfevents.<int(wall_time)>.<host>`` (TensorBoard finds files by
the ``tfevents`` part). Same graph and wall time, same bytes.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

from ..errors import FormatError
from ..tensorbundle import crc32c

__all__ = ["FILE_VERSION", "encode_event", "event_filename", "iter_records", "record",
           "write_graph_event_file"]

FILE_VERSION = b"brain.Event:2"
_MAX_RECORD = 1 << 31


def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def encode_event(wall_time: float, step: int = 0, file_version: bytes | None = None,
                 graph_def: bytes | None = None) -> bytes:
    """One serialized ``Event`` (fields in number order, as protobuf serializes them)."""
    out = bytearray(b"\x09" + struct.pack("<d", float(wall_time)))
    if step:
        out += b"\x10" + _varint(int(step))
    if file_version is not None:
        out += b"\x1a" + _varint(len(file_version)) + file_version
    if graph_def is not None:
        out += b"\x22" + _varint(len(graph_def)) + graph_def
    return bytes(out)


def record(data: bytes) -> bytes:
    """``data`` framed as one TFRecord."""
    length = struct.pack("<Q", len(data))
    return (length + struct.pack("<I", crc32c.mask(crc32c.value(length))) + data
            + struct.pack("<I", crc32c.mask(crc32c.value(data))))


def iter_records(path: str | os.PathLike[str]) -> Iterator[bytes]:
    """The records of a TFRecord file, every checksum checked."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        while True:
            head = fh.read(12)
            if not head:
                return
            if len(head) < 12:
                raise FormatError(f"{path}: truncated record header at {fh.tell() - len(head)}")
            length_bytes, crc = head[:8], struct.unpack("<I", head[8:])[0]
            if crc32c.mask(crc32c.value(length_bytes)) != crc:
                raise FormatError(f"{path}: record length checksum mismatch")
            (length,) = struct.unpack("<Q", length_bytes)
            if length > min(size, _MAX_RECORD):
                raise FormatError(f"{path}: record length {length} exceeds the file")
            data = fh.read(length)
            tail = fh.read(4)
            if len(data) < length or len(tail) < 4:
                raise FormatError(f"{path}: truncated record")
            if crc32c.mask(crc32c.value(data)) != struct.unpack("<I", tail)[0]:
                raise FormatError(f"{path}: record data checksum mismatch")
            yield data


def event_filename(wall_time: float, host: str | None = None) -> str:
    return f"events.out.tfevents.{int(wall_time)}.{host or socket.gethostname()}"


def write_graph_event_file(logdir: str | os.PathLike[str], graph_def: bytes, wall_time: float,
                           host: str | None = None) -> Path:
    """``logdir/events.out.tfevents.*`` holding the file version and one graph; returns it."""
    folder = Path(logdir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / event_filename(wall_time, host)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(record(encode_event(wall_time, file_version=FILE_VERSION)))
            fh.write(record(encode_event(wall_time, graph_def=graph_def)))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
