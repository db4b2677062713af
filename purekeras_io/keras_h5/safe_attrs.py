"""Variable-length string attributes read from the file's bytes, never through the HDF5 library.

Why: a damaged global heap makes the HDF5 library itself crash (SIGSEGV) or loop forever while
h5py reads a variable-length string attribute (``model_config``, ``layer_names``,
``weight_names`` …); no Python exception can be raised there. So the ``.h5`` reader finds the
attribute messages in the object header itself and reads the strings from their global heap
collection with every offset and size bounds-checked (HDF5 File Format Specification 3.0:
§III.A superblock sizes, §IV.A object headers v1/v2 and continuation blocks, §IV.A.2.m
attribute message v1-v3, §IV.A.2.d datatype, §IV.A.2.b dataspace, §III.E global heap)::

    attribute data, per element:  u32 length | heap collection address (offset size) | u32 index
    global heap collection:       "GCOL" | u8 version=1 | 3 reserved | collection size (length)
                                  objects: u16 index | u16 refcount | 4 reserved | size (length)
                                           | data, padded to a multiple of 8; index 0 = free space

What this module does not parse (shared datatypes, dense attribute storage in a fractal heap,
unknown versions) is reported as :class:`Unparsed`; the caller then reads the attribute through
h5py as before (Keras files use none of these). Damage it can see (a heap collection that does
not tile, an object past its collection, a string longer than its object) is a
:class:`~purekeras_io.errors.FormatError` naming the object and the attribute.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import h5py

from ..errors import FormatError

__all__ = ["AttributeInfo", "SafeAttributes", "Unparsed", "object_address", "open_safe"]

_ATTRIBUTE, _CONTINUATION, _ATTRIBUTE_INFO = 0x000C, 0x0010, 0x0015
_VLEN, _STRING = 9, 3
_MAX_BLOCKS = 256  # continuation blocks followed per object header
_MAX_MESSAGES = 4096
_MAX_ELEMENTS = 1 << 20  # strings in one attribute (Keras splits name lists at 3,000)


class Unparsed(Exception):
    """A layout this module does not read (the caller falls back to h5py)."""


@dataclass(frozen=True)
class AttributeInfo:
    """One attribute message: its name, datatype class, element count and raw data."""

    name: str
    type_class: int
    vlen_string: bool
    shape: tuple[int, ...]
    data: bytes


class SafeAttributes:
    """The attributes of a file's objects, parsed from its bytes (``read_at(offset, n)``)."""

    def __init__(self, fd: int, size: int, base: int, offset_size: int, length_size: int) -> None:
        if offset_size not in (2, 4, 8) or length_size not in (2, 4, 8):
            raise Unparsed(f"offset/length sizes {offset_size}/{length_size}")
        self.fd, self.size, self.base = fd, size, base
        self.o, self.length = offset_size, length_size
        self._heaps: dict[int, dict[int, tuple[int, int]]] = {}
        self._objects: dict[int, dict[str, AttributeInfo]] = {}

    def close(self) -> None:
        os.close(self.fd)

    # ---------------------------------------------------------------- raw access

    def _read(self, offset: int, n: int, what: str) -> bytes:
        start = self.base + offset
        if offset < 0 or n < 0 or start + n > self.size:
            raise FormatError(
                f"{what}: {n} bytes at {offset} lie outside the file ({self.size} bytes)"
            )
        data = os.pread(self.fd, n, start)
        if len(data) != n:
            raise FormatError(f"{what}: file ends inside {n} bytes at {offset}")
        return data

    def _uint(self, data: bytes, at: int, n: int) -> int:
        return int.from_bytes(data[at : at + n], "little")

    # ---------------------------------------------------------------- object headers

    def attributes(self, address: int, where: str) -> dict[str, AttributeInfo]:
        """Every attribute message in the object header at ``address`` (cached)."""
        cached = self._objects.get(address)
        if cached is not None:
            return cached
        out: dict[str, AttributeInfo] = {}
        for mtype, body in self._messages(address, where):
            if mtype == _ATTRIBUTE:
                info = self._attribute(body, where)
                out[info.name] = info
            elif mtype == _ATTRIBUTE_INFO and self._dense(body):
                raise Unparsed("dense attribute storage (fractal heap)")
        self._objects[address] = out
        return out

    def _dense(self, body: bytes) -> bool:
        """Whether an attribute info message points at a fractal heap of attributes."""
        at = 2 + (2 if len(body) > 1 and body[1] & 0x01 else 0)
        heap = body[at : at + self.o]
        return len(heap) == self.o and heap != b"\xff" * self.o

    def _messages(self, address: int, where: str) -> list[tuple[int, bytes]]:
        head = self._read(address, 16, f"{where}: object header")
        if head[:4] == b"OHDR":
            return self._messages_v2(address, where)
        if head[0] != 1:
            raise Unparsed(f"object header version {head[0]}")
        size = self._uint(head, 8, 4)
        blocks = [(address + 16, size)]
        return self._walk(blocks, where, version=1)

    def _messages_v2(self, address: int, where: str) -> list[tuple[int, bytes]]:
        prefix = self._read(address, 6, f"{where}: object header")
        if prefix[4] != 2:
            raise Unparsed(f"object header v2 with version {prefix[4]}")
        flags = prefix[5]
        at = 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
        width = 1 << (flags & 0x03)
        size = self._uint(self._read(address + at, width, f"{where}: object header"), 0, width)
        start = address + at + width
        return self._walk([(start, size)], where, version=2, flags=flags)

    def _walk(
        self, blocks: list[tuple[int, int]], where: str, version: int, flags: int = 0
    ) -> list[tuple[int, bytes]]:
        out: list[tuple[int, bytes]] = []
        seen: set[int] = set()
        first = True
        while blocks:
            start, size = blocks.pop(0)
            if start in seen or len(seen) >= _MAX_BLOCKS:
                raise FormatError(f"{where}: object header continuation blocks loop")
            seen.add(start)
            data = self._read(start, size, f"{where}: object header block")
            pos = 0
            end = size
            if version == 2 and not first:
                # a continuation chunk's length counts its 'OCHK' and its checksum; chunk 0's
                # length (in the prefix) counts only its messages, the checksum follows it
                if size < 8 or data[:4] != b"OCHK":
                    raise FormatError(f"{where}: continuation block without 'OCHK'")
                pos, end = 4, size - 4
            first = False
            hdr = 8 if version == 1 else 4 + (2 if flags & 0x04 else 0)
            while pos + hdr <= end:
                if version == 1:
                    mtype, msize = self._uint(data, pos, 2), self._uint(data, pos + 2, 2)
                    mflags = data[pos + 4]
                else:
                    mtype, msize = data[pos], self._uint(data, pos + 1, 2)
                    mflags = data[pos + 3]
                body_at = pos + hdr
                if body_at + msize > end:
                    raise FormatError(
                        f"{where}: object header message of {msize} bytes runs past its block"
                    )
                body = data[body_at : body_at + msize]
                if mtype == _ATTRIBUTE and mflags & 0x02:
                    raise Unparsed("shared attribute message")
                if mtype == _CONTINUATION:
                    if msize < self.o + self.length:
                        raise FormatError(f"{where}: truncated continuation message")
                    blocks.append(
                        (self._uint(body, 0, self.o), self._uint(body, self.o, self.length))
                    )
                else:
                    out.append((mtype, body))
                if len(out) > _MAX_MESSAGES:
                    raise FormatError(f"{where}: more than {_MAX_MESSAGES} header messages")
                pos = body_at + msize
                if version == 1:
                    pos = (pos + 7) & ~7
        return out

    # ---------------------------------------------------------------- attribute messages

    def _attribute(self, body: bytes, where: str) -> AttributeInfo:
        if len(body) < 8:
            raise FormatError(f"{where}: truncated attribute message")
        version, flags = body[0], body[1]
        if version not in (1, 2, 3):
            raise Unparsed(f"attribute message version {version}")
        if version >= 2 and flags & 0x03:
            raise Unparsed("shared datatype or dataspace")
        name_size, type_size, space_size = (self._uint(body, i, 2) for i in (2, 4, 6))
        at = 8 + (1 if version == 3 else 0)

        def take(n: int) -> bytes:
            nonlocal at
            piece = body[at : at + n]
            if len(piece) != n:
                raise FormatError(f"{where}: truncated attribute message")
            at += ((n + 7) & ~7) if version == 1 else n
            return piece

        name = take(name_size).split(b"\0", 1)[0].decode("utf-8", "replace")
        dtype = take(type_size)
        space = take(space_size)
        data = body[at:]
        if len(dtype) < 8:
            raise FormatError(f"{where}: attribute {name!r}: truncated datatype")
        type_class = dtype[0] & 0x0F
        vlen_string = type_class == _VLEN and (dtype[1] & 0x0F) == 1
        return AttributeInfo(name, type_class, vlen_string, self._shape(space, where, name), data)

    def _shape(self, space: bytes, where: str, name: str) -> tuple[int, ...]:
        if len(space) < 4:
            raise FormatError(f"{where}: attribute {name!r}: truncated dataspace")
        version, rank, flags = space[0], space[1], space[2]
        if version == 1:
            at = 8
        elif version == 2:
            if space[3] == 0:  # scalar
                return ()
            if space[3] == 2:  # null
                return (0,)
            at = 4
        else:
            raise Unparsed(f"dataspace version {version}")
        if rank > 32 or at + rank * self.length > len(space):
            raise FormatError(f"{where}: attribute {name!r}: dataspace of rank {rank} truncated")
        del flags
        return tuple(self._uint(space, at + i * self.length, self.length) for i in range(rank))

    # ---------------------------------------------------------------- strings

    def strings(self, info: AttributeInfo, where: str) -> list[bytes]:
        """The byte strings of a variable-length string attribute, element by element."""
        count = 1
        for d in info.shape:
            count *= d
        if count > _MAX_ELEMENTS:
            raise FormatError(f"{where}: attribute {info.name!r} claims {count} strings")
        ref = 4 + self.o + 4
        if len(info.data) < count * ref:
            raise FormatError(
                f"{where}: attribute {info.name!r}: {len(info.data)} bytes of data for "
                f"{count} strings"
            )
        out = []
        for i in range(count):
            at = i * ref
            length = self._uint(info.data, at, 4)
            address = self._uint(info.data, at + 4, self.o)
            index = self._uint(info.data, at + 4 + self.o, 4)
            if length == 0:
                out.append(b"")
                continue
            out.append(self._heap_object(address, index, length, where, info.name))
        return out

    def _heap_object(self, address: int, index: int, length: int, where: str, name: str) -> bytes:
        what = f"{where}: attribute {name!r}: global heap collection at {address}"
        objects = self._heaps.get(address)
        if objects is None:
            objects = self._collection(address, what)
            self._heaps[address] = objects
        if index not in objects:
            raise FormatError(f"{what} has no object {index}")
        start, size = objects[index]
        if length > size:
            raise FormatError(f"{what}: object {index} holds {size} bytes, the string claims "
                              f"{length}")
        return self._read(start, length, what)

    def _collection(self, address: int, what: str) -> dict[int, tuple[int, int]]:
        """Walk a collection's objects: they must tile it, each inside it, indexes unique."""
        head = self._read(address, 8 + self.length, what)
        if head[:4] != b"GCOL" or head[4] != 1:
            raise FormatError(f"{what} has no 'GCOL' version 1 signature")
        total = self._uint(head, 8, self.length)
        if total < 8 + self.length or address + total > self.size - self.base:
            raise FormatError(f"{what}: size {total} does not fit in the file")
        data = self._read(address, total, what)
        objects: dict[int, tuple[int, int]] = {}
        pos = 8 + self.length
        hdr = 8 + self.length
        while pos + hdr <= total:
            index = self._uint(data, pos, 2)
            size = self._uint(data, pos + 8, self.length)
            if index == 0:  # free space: the rest of the collection
                break
            padded = (size + 7) & ~7
            if pos + hdr + padded > total:
                raise FormatError(f"{what}: object {index} ({size} bytes) runs past the "
                                  f"collection ({total} bytes)")
            if index in objects:
                raise FormatError(f"{what}: object index {index} appears twice")
            objects[index] = (address + pos + hdr, size)
            pos += hdr + padded
        return objects


def open_safe(f: h5py.File) -> SafeAttributes | None:
    """A :class:`SafeAttributes` on the file behind ``f`` (None when it is not a plain file on
    disk opened read-only: an in-memory or file-object driver, or a file open for writing whose
    bytes on disk may lag behind; the caller then reads through h5py)."""
    try:
        if (
            f.mode != "r"
            or f.driver not in ("sec2", "stdio")
            or not os.path.isfile(f.filename)
        ):
            return None
        offset_size, length_size = f.id.get_create_plist().get_sizes()
        base = int(f.userblock_size)
        fd = os.open(f.filename, os.O_RDONLY)
    except (OSError, ValueError, RuntimeError, AttributeError):
        return None
    try:
        size = os.fstat(fd).st_size
        return SafeAttributes(fd, size, base, int(offset_size), int(length_size))
    except Unparsed:
        os.close(fd)
        return None


def object_address(obj: Any) -> int:
    """The object header address of an open h5py object (relative to the superblock)."""
    return int(h5py.h5o.get_info(obj.id).addr)

