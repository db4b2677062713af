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

The ``Event`` message is our own schema (``protos/purekeras_io/_proto/tf/event.proto``) with the
names and field numbers of TensorFlow's ``tensorflow/core/util/event.proto`` (compared with TF's
descriptors by ``tests/oracle/test_proto_drift.py``); of it we write:

=====  =================  ======  =========================================================
field  name               wire    what
=====  =================  ======  =========================================================
1      ``wall_time``      64-bit  double, seconds since the epoch (0.0 is left out)
2      ``step``           varint  int64 (0 is left out)
3      ``file_version``   bytes   string ``"brain.Event:2"``: first event of every file
4      ``graph_def``      bytes   a serialized ``GraphDef``, shown by the graph dashboard
=====  =================  ======  =========================================================

(``file_version`` and ``graph_def`` are members of the oneof ``what``: one per event.)

The file is named ``events.out.tfevents.<int(wall_time)>.<host>`` (TensorBoard finds files by
the ``tfevents`` part). Same graph and wall time, same bytes.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

from .._proto.tf import event_pb2
from ..errors import ConfigError, FormatError
from ..tensorbundle import crc32c

__all__ = ["FILE_VERSION", "encode_event", "event_filename", "iter_events", "iter_records",
           "record", "write_graph_event_file"]

FILE_VERSION = b"brain.Event:2"
_MAX_RECORD = 1 << 31


def encode_event(wall_time: float, step: int = 0, file_version: bytes | None = None,
                 graph_def: bytes | None = None) -> bytes:
    """One serialized ``Event`` (fields in number order, as protobuf serializes them)."""
    if file_version is not None and graph_def is not None:
        raise ConfigError("an Event holds one of file_version and graph_def, not both")
    event = event_pb2.Event(wall_time=float(wall_time), step=int(step))
    if file_version is not None:
        event.file_version = file_version.decode("ascii")
    if graph_def is not None:
        event.graph_def = graph_def
    return event.SerializeToString(deterministic=True)


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


def iter_events(path: str | os.PathLike[str]) -> Iterator[event_pb2.Event]:
    """The ``Event`` messages of an event file, every checksum checked."""
    for i, data in enumerate(iter_records(path)):
        event = event_pb2.Event()
        try:
            event.ParseFromString(data)
        except Exception as exc:
            raise FormatError(f"{path}: record {i} does not parse as Event ({exc})") from None
        yield event


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
