"""Tensor slices: partitioned variables in a TensorBundle; spec: ``tensorbundle.md`` §4.2, §9.

A variable stored in pieces has one *full entry* under its own key, holding ``dtype``, the full
``shape`` and one ``TensorSliceProto`` per piece (no data: ``shard_id``, ``offset``, ``size`` and
``crc32c`` are 0), and one ordinary entry per piece, with data, under the key
``EncodeTensorNameSlice(name, slice)``::

    WriteNumIncreasing(0) ‖ WriteString(name) ‖ WriteNumIncreasing(rank)
      ‖ for each dimension: WriteSignedNumIncreasing(start) ‖ WriteSignedNumIncreasing(length)

in TensorFlow's OrderedCode (``tensorflow/core/lib/strings/ordered_code.cc``):

* ``WriteNumIncreasing(v)``: one byte ``n`` (the byte length of ``v``; 0 for 0), then ``v`` in
  ``n`` big-endian bytes.
* ``WriteString(s)``: ``s`` with ``00`` → ``00 ff`` and ``ff`` → ``ff 00``, then ``00 01``.
* ``WriteSignedNumIncreasing(v)``: ``v`` in ``L`` bytes big-endian two's complement (``L`` the
  smallest with ``-2**(7L-1) <= v < 2**(7L-1)``, at most 10), XOR ``L`` leading one bits
  (``80``, ``c0 00``, ``e0 00 00`` …). A non-negative number then starts with ``L`` ones and a
  zero, a negative one with ``L`` zeros and a one: ``0`` is ``80``, ``-1`` is ``7f``, ``2`` is
  ``82``, ``64`` is ``c0 40``.

A dimension the slice takes whole ("``-``" in a ``shape_and_slices`` spec) has start 0 and length
-1 in the key and an empty ``Extent`` in the proto; TF 2.21 writes what it is given, so a full
range spelled ``0,3`` keeps length 3. The leading ``00`` sorts every slice key before all
ordinary keys (which cannot start with a NUL byte). A merge of bundles (``MergeV2Checkpoints``)
joins the full entries of one key by appending their ``slices`` in input order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .._proto.tf import tensor_slice_pb2
from ..errors import FormatError

__all__ = [
    "Extent",
    "decode_slice_key",
    "encode_slice_key",
    "extents_from_proto",
    "is_slice_key",
    "slice_proto",
]

Extent = tuple[int, int]
"""``(start, length)`` of one dimension; length ``-1`` takes the whole dimension."""

_MAX_SIGNED_LEN = 10


def _write_num_increasing(out: bytearray, value: int) -> None:
    raw = value.to_bytes(8, "big").lstrip(b"\x00")
    out.append(len(raw))
    out += raw


_ESCAPES = {b"\x00": b"\x00\xff", b"\xff": b"\xff\x00"}
_SPECIAL = re.compile(b"[\x00\xff]")


def _write_string(out: bytearray, data: bytes) -> None:
    out += _SPECIAL.sub(lambda m: _ESCAPES[m.group()], data)
    out += b"\x00\x01"


def _signed_length(value: int) -> int:
    magnitude = ~value if value < 0 else value
    return max(1, (magnitude.bit_length() + 7) // 7)  # bits with the sign, 7 per byte


def _write_signed(out: bytearray, value: int) -> None:
    length = _signed_length(value)
    raw = bytearray(value.to_bytes(length, "big", signed=True))
    header = ((1 << length) - 1) << (8 * length - length)
    as_int = int.from_bytes(raw, "big") ^ header
    out += as_int.to_bytes(length, "big")


def encode_slice_key(name: str, extents: Sequence[Extent]) -> bytes:
    """TensorFlow's key of one slice of tensor ``name`` (rank ≥ 1)."""
    if not extents:
        raise ValueError(f"slice of tensor {name!r}: a slice needs rank 1 or more")
    out = bytearray()
    _write_num_increasing(out, 0)
    _write_string(out, name.encode("utf-8"))
    _write_num_increasing(out, len(extents))
    for start, length in extents:
        _write_signed(out, int(start))
        _write_signed(out, int(length))
    return bytes(out)


def is_slice_key(raw: bytes) -> bool:
    """Whether an index key is a slice key (ordinary keys never start with a NUL byte)."""
    return raw[:1] == b"\x00"


class _Cursor:
    def __init__(self, raw: bytes, where: str) -> None:
        self.raw = raw
        self.pos = 0
        self.where = where

    def fail(self, what: str) -> FormatError:
        return FormatError(f"{self.where}: slice key {self.raw!r}: {what}")

    def num_increasing(self) -> int:
        if self.pos >= len(self.raw):
            raise self.fail("ends inside a number")
        n = self.raw[self.pos]
        if n > 8 or self.pos + 1 + n > len(self.raw):
            raise self.fail(f"number of {n} bytes does not fit")
        value = int.from_bytes(self.raw[self.pos + 1 : self.pos + 1 + n], "big")
        self.pos += 1 + n
        return value

    def string(self) -> bytes:
        out = bytearray()
        raw = self.raw
        while self.pos + 1 < len(raw):
            c = raw[self.pos]
            if c == 0x00:
                nxt = raw[self.pos + 1]
                self.pos += 2
                if nxt == 0x01:
                    return bytes(out)
                if nxt != 0xFF:
                    raise self.fail("bad escape in the name")
                out.append(0)
            elif c == 0xFF:
                if raw[self.pos + 1] != 0x00:
                    raise self.fail("bad escape in the name")
                out.append(0xFF)
                self.pos += 2
            else:
                out.append(c)
                self.pos += 1
        raise self.fail("the name is not terminated")

    def signed(self) -> int:
        if self.pos >= len(self.raw):
            raise self.fail("ends inside a slice bound")
        first = self.raw[self.pos]
        negative = not first & 0x80
        # the length is the run of leading bits that differ from the sign, over two bytes
        lead = int.from_bytes(self.raw[self.pos : self.pos + 2].ljust(2, b"\x00"), "big")
        if negative:
            lead ^= 0xFFFF
        length = 0
        while length < 16 and lead & (0x8000 >> length):
            length += 1
        if not 1 <= length <= _MAX_SIGNED_LEN or self.pos + length > len(self.raw):
            raise self.fail("slice bound of a bad length")
        header = ((1 << length) - 1) << (8 * length - length)
        as_int = int.from_bytes(self.raw[self.pos : self.pos + length], "big") ^ header
        value = int.from_bytes(as_int.to_bytes(length, "big"), "big", signed=True)
        self.pos += length
        return value


def decode_slice_key(raw: bytes, where: str = "slice key") -> tuple[str, tuple[Extent, ...]]:
    """``(name, extents)`` of a slice key; :class:`FormatError` naming ``where`` if malformed."""
    cursor = _Cursor(raw, where)
    if cursor.num_increasing() != 0:
        raise cursor.fail("does not start with 0")
    try:
        name = cursor.string().decode("utf-8")
    except UnicodeDecodeError:
        raise cursor.fail("the tensor name is not UTF-8") from None
    rank = cursor.num_increasing()
    if not 1 <= rank <= 64:
        raise cursor.fail(f"rank {rank} outside 1…64")
    extents = tuple((cursor.signed(), cursor.signed()) for _ in range(rank))
    if cursor.pos != len(raw):
        raise cursor.fail(f"{len(raw) - cursor.pos} bytes after the last slice bound")
    return name, extents


def slice_proto(extents: Sequence[Extent]) -> tensor_slice_pb2.TensorSliceProto:
    """The ``TensorSliceProto`` of a slice (an empty ``Extent`` for a whole dimension)."""
    proto = tensor_slice_pb2.TensorSliceProto()
    for start, length in extents:
        extent = proto.extent.add()
        if length != -1:
            extent.start = int(start)
            extent.length = int(length)
    return proto


def extents_from_proto(
    proto: tensor_slice_pb2.TensorSliceProto, shape: Sequence[int], where: str
) -> tuple[Extent, ...]:
    """A slice's ``(start, length)`` per dimension, checked against the full ``shape`` (a whole
    dimension comes back as ``(0, shape[d])``)."""
    if len(proto.extent) != len(shape):
        raise FormatError(
            f"{where}: slice of rank {len(proto.extent)} in a tensor of shape {list(shape)}"
        )
    out = []
    for d, extent in enumerate(proto.extent):
        if not extent.HasField("length"):
            start, length = 0, int(shape[d])
            if extent.start:
                raise FormatError(f"{where}: slice starts at {extent.start} without a length")
        else:
            start, length = int(extent.start), int(extent.length)
        if start < 0 or length < 0 or start + length > int(shape[d]):
            raise FormatError(
                f"{where}: slice {start},{length} outside dimension {d} of size {shape[d]}"
            )
        out.append((start, length))
    return tuple(out)
