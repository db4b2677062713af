"""The SSTable layer of ``.index`` files: varints, blocks, separators, footer, table builder and
reader (``tensorbundle.md`` §2-3), including model (a)'s 275-byte index rebuilt from its facts."""

from __future__ import annotations

import io
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from purekeras_io.errors import FormatError, UnsupportedFeatureError
from purekeras_io.tensorbundle import crc32c
from purekeras_io.tensorbundle.format import BLOCK_SIZE, FOOTER_SIZE
from purekeras_io.tensorbundle.sstable import (
    BlockBuilder,
    BlockHandle,
    TableBuilder,
    TableReader,
    block_trailer,
    decode_footer,
    decode_varint,
    encode_footer,
    encode_varint,
    parse_block,
    short_successor,
    shortest_separator,
)
from purekeras_io.tensorbundle.writer import entry_bytes, header_bytes

# --- varints --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, "00"),
        (1, "01"),
        (127, "7f"),
        (128, "8001"),
        (189, "bd01"),
        (1972, "b40f"),
        (300, "ac02"),
        (2**32 - 1, "ffffffff0f"),
        (2**64 - 1, "ffffffffffffffffff01"),
    ],
)
def test_varint_vectors(value: int, encoded: str) -> None:
    raw = bytes.fromhex(encoded)
    assert encode_varint(value) == raw
    assert decode_varint(raw, 0, len(raw)) == (value, len(raw))


@given(st.integers(0, 2**64 - 1))
def test_varint_round_trip(value: int) -> None:
    raw = encode_varint(value)
    assert decode_varint(raw + b"junk", 0, len(raw) + 4) == (value, len(raw))


def test_varint_rejects_negative() -> None:
    with pytest.raises(ValueError):
        encode_varint(-1)


@pytest.mark.parametrize(
    ("raw", "bits"),
    [
        ("80", 64),  # truncated
        ("", 64),
        ("ffffffffffffffffffff01", 64),  # 11 bytes
        ("ffffffffffffffffff7f", 64),  # exceeds 64 bits
        ("8080808010", 32),  # exceeds 32 bits
        ("808080808001", 32),  # 6 bytes for a varint32
    ],
)
def test_varint_hostile(raw: str, bits: int) -> None:
    data = bytes.fromhex(raw)
    with pytest.raises(FormatError):
        decode_varint(data, 0, len(data), bits=bits)


def test_varint_respects_end() -> None:
    with pytest.raises(FormatError):
        decode_varint(bytes.fromhex("8001"), 0, 1)


# --- blocks ---------------------------------------------------------------------------------


def test_empty_block() -> None:
    assert BlockBuilder().finish() == bytes.fromhex("0000000001000000")
    assert parse_block(bytes.fromhex("0000000001000000")) == []


def test_block_prefix_compression_and_restarts() -> None:
    b = BlockBuilder(16)
    keys = [f"key{i:03d}".encode() for i in range(40)]
    for k in keys:
        b.add(k, b"v" + k)
    contents = b.finish()
    n = struct.unpack_from("<I", contents, len(contents) - 4)[0]
    assert n == 3  # entries 0, 16, 32
    restarts = struct.unpack_from(f"<{n}I", contents, len(contents) - 4 - 4 * n)
    assert restarts[0] == 0
    # each restart entry stores its full key (shared == 0)
    for r in restarts:
        assert contents[r] == 0
    # second entry shares "key00" (5 bytes)
    assert contents[3 + 6 + 7 : 3 + 6 + 7 + 3] == bytes([5, 1, 7])
    assert parse_block(contents) == [(k, b"v" + k) for k in keys]


def test_index_block_restarts_every_entry() -> None:
    b = BlockBuilder(1)
    for k in (b"a", b"ab", b"abc"):
        b.add(k, b"")
    contents = b.finish()
    assert contents.endswith(struct.pack("<4I", 0, 4, 9, 3))
    assert contents[:4] == bytes([0, 1, 0]) + b"a"


def test_size_estimate_matches_finish() -> None:
    b = BlockBuilder(16)
    for i in range(100):
        b.add(f"k{i:04d}".encode(), bytes(i))
        assert b.size_estimate() == len(bytes(b._buf)) + 4 * len(b._restarts) + 4
    est = b.size_estimate()
    assert len(b.finish()) == est


# --- separators -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "limit", "expected"),
    [
        (b"the quick brown fox", b"the who", b"the r"),
        (b"abc", b"abcd", b"abc"),  # prefix: unchanged
        (b"abcd", b"abc", b"abcd"),
        (b"abc1", b"abc2", b"abc1"),  # +1 not < limit byte: unchanged
        (b"abc1", b"abc3", b"abc2"),
        (b"ab\xff\x00", b"ac", b"ab\xff\x00"),  # diff at 'b'->'c': b+1 == c, unchanged
        (b"a\xffz", b"b\x01", b"a\xffz"),
        (b"\xff\x01", b"\xff\x05", b"\xff\x02"),
        (b"e0c7bfa5b8/layer", b"e0ccc43c9b/layer", b"e0c8"),  # from the multiblock golden
    ],
)
def test_shortest_separator(start: bytes, limit: bytes, expected: bytes) -> None:
    assert shortest_separator(start, limit) == expected
    assert start <= expected
    if not limit.startswith(start) and start < limit:
        assert expected < limit


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (b"layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE", b"m"),
        (b"optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE", b"p"),
        (b"save_counter/.ATTRIBUTES/VARIABLE_VALUE", b"t"),
        (b"\xff\xffa", b"\xff\xffb"),
        (b"\xff\xff", b"\xff\xff"),
        (b"", b""),
    ],
)
def test_short_successor(key: bytes, expected: bytes) -> None:
    assert short_successor(key) == expected


@given(st.binary(max_size=12), st.binary(max_size=12))
def test_separator_property(a: bytes, b: bytes) -> None:
    if a >= b:
        a, b = b, a
    if a == b:
        return
    sep = shortest_separator(a, b)
    assert a <= sep < b or sep == a
    assert short_successor(a) >= a


# --- footer ---------------------------------------------------------------------------------

MODEL_A_FOOTER = bytes.fromhex("c20108cf010f") + bytes(34) + bytes.fromhex("57fb808b247547db")


def test_footer_model_a() -> None:
    assert encode_footer(BlockHandle(194, 8), BlockHandle(207, 15)) == MODEL_A_FOOTER
    assert decode_footer(MODEL_A_FOOTER) == (BlockHandle(194, 8), BlockHandle(207, 15))


def test_footer_max_handles_fit() -> None:
    big = BlockHandle(2**64 - 1, 2**64 - 1)
    footer = encode_footer(big, big)
    assert len(footer) == FOOTER_SIZE
    assert decode_footer(footer) == (big, big)


def test_footer_bad_magic() -> None:
    with pytest.raises(FormatError, match="magic"):
        decode_footer(MODEL_A_FOOTER[:-1] + b"\x00")
    with pytest.raises(FormatError):
        decode_footer(MODEL_A_FOOTER[:-1])


def test_footer_garbage_handles() -> None:
    garbage = b"\xff" * 40 + MODEL_A_FOOTER[-8:]
    with pytest.raises(FormatError):
        decode_footer(garbage)


# --- model (a): the 275-byte variables.index from §3.6 ---------------------------------------

GRAPH = b"_CHECKPOINTABLE_OBJECT_GRAPH"
BIAS = b"layer_with_weights-0/bias/.ATTRIBUTES/VARIABLE_VALUE"
KERNEL = b"layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE"


def _model_a_entries() -> list[tuple[bytes, bytes]]:
    from purekeras_io.dtypes import by_keras_name

    return [
        (b"", header_bytes(1)),
        (GRAPH, entry_bytes(by_keras_name("string"), (), 80, 1978, crc32c.unmask(0x656AED22))),
        (BIAS, entry_bytes(by_keras_name("float32"), (5,), 60, 20, crc32c.unmask(0x4F006462))),
        (KERNEL, entry_bytes(by_keras_name("float32"), (3, 5), 0, 60, 0xDEF62429)),
    ]


def test_model_a_entry_values() -> None:
    entries = dict(_model_a_entries())
    assert entries[b""] == bytes.fromhex("08011a020801")
    assert entries[GRAPH] == bytes.fromhex("08071200205028ba0f3522ed6a65")
    assert entries[BIAS] == bytes.fromhex("0801120412020805203c2814356264004f")
    assert entries[KERNEL] == bytes.fromhex("080112081202080312020805283c35c4a8d6ea")


def test_model_a_index_reproduced() -> None:
    out = io.BytesIO()
    table = TableBuilder(out)
    for key, value in _model_a_entries():
        table.add(key, value)
    assert table.finish() == 275
    data = out.getvalue()
    assert len(data) == 275
    assert data[:64] == bytes.fromhex(  # the hex dump in examples/variables_index_a_bytes.txt
        "00 00 06 08 01 1a 02 08 01 00 1c 0e 5f 43 48 45"
        "43 4b 50 4f 49 4e 54 41 42 4c 45 5f 4f 42 4a 45"
        "43 54 5f 47 52 41 50 48 08 07 12 00 20 50 28 ba"
        "0f 35 22 ed 6a 65 00 34 11 6c 61 79 65 72 5f 77"
    )
    assert data[189:194] == b"\x00" + struct.pack("<I", 0xC8FD8BC0)
    assert data[194:207] == bytes.fromhex("0000000001000000" + "00c0f2a1b0")
    assert data[207:222] == bytes.fromhex("0001036d00bd01" + "0000000001000000")
    assert data[222:227] == b"\x00" + struct.pack("<I", 0x3F63640B)
    assert data[227:] == MODEL_A_FOOTER
    assert list(TableReader(data)) == _model_a_entries()


# --- table builder rules --------------------------------------------------------------------


def _index_entries(data: bytes) -> list[tuple[bytes, BlockHandle]]:
    _, index = decode_footer(data[-FOOTER_SIZE:])
    return [
        (k, BlockHandle.decode(v)[0])
        for k, v in parse_block(data[index.offset : index.offset + index.size])
    ]


def test_blocks_flush_at_block_size() -> None:
    out = io.BytesIO()
    table = TableBuilder(out)
    keys = [f"key/{i:06d}/{'x' * 40}".encode() for i in range(8000)]
    for k in keys:
        table.add(k, b"\x01" * 20)
    table.finish()
    data = out.getvalue()
    index = _index_entries(data)
    assert len(index) >= 2
    for _, handle in index[:-1]:
        # a block is flushed as soon as its estimate reaches BLOCK_SIZE
        assert BLOCK_SIZE <= handle.size < BLOCK_SIZE + 100
    assert [k for k, _ in TableReader(data)] == keys


def test_overly_large_entry_flushes_first() -> None:
    out = io.BytesIO()
    table = TableBuilder(out, block_size=1024)
    table.add(b"a", b"small")
    table.add(b"b", b"x" * 2048)  # >= 2 * block_size: "a" is flushed alone first
    table.add(b"c", b"small")
    table.finish()
    data = out.getvalue()
    index = _index_entries(data)
    assert [k for k, _ in index] == [b"a", b"b", b"d"]
    assert [k for k, _ in TableReader(data)] == [b"a", b"b", b"c"]


def test_table_builder_rejects_unsorted_and_reuse() -> None:
    table = TableBuilder(io.BytesIO())
    table.add(b"b", b"")
    with pytest.raises(ValueError):
        table.add(b"a", b"")
    with pytest.raises(ValueError):
        table.add(b"b", b"")
    table.finish()
    with pytest.raises(ValueError):
        table.add(b"c", b"")
    with pytest.raises(ValueError):
        table.finish()


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(st.binary(max_size=30), st.binary(max_size=60), max_size=300),
    st.sampled_from([64, 256, 4096]),
)
def test_table_round_trip(entries: dict[bytes, bytes], block_size: int) -> None:
    out = io.BytesIO()
    table = TableBuilder(out, block_size=block_size)
    items = sorted(entries.items())
    for k, v in items:
        table.add(k, v)
    table.finish()
    assert list(TableReader(out.getvalue())) == items


# --- table reader: hostile input ------------------------------------------------------------


def _raw_table(blocks: list[bytes], index_keys: list[bytes], *, types: bytes = b"") -> bytes:
    """A table from raw block contents (no ordering checks), for hostile-input tests."""
    out = bytearray()
    handles = []
    for i, contents in enumerate(blocks):
        handles.append(BlockHandle(len(out), len(contents)))
        out += contents + block_trailer(contents, types[i] if i < len(types) else 0)
    meta = BlockBuilder().finish()
    meta_handle = BlockHandle(len(out), len(meta))
    out += meta + block_trailer(meta)
    index = BlockBuilder(1)
    for key, handle in zip(index_keys, handles):
        index.add(key, handle.encode())
    contents = index.finish()
    index_handle = BlockHandle(len(out), len(contents))
    out += contents + block_trailer(contents)
    return bytes(out + encode_footer(meta_handle, index_handle))


def _block(entries: list[tuple[bytes, bytes]]) -> bytes:
    b = BlockBuilder(16)
    for k, v in entries:
        b.add(k, v)
    return b.finish()


def test_raw_table_helper_is_valid() -> None:
    data = _raw_table([_block([(b"a", b"1")]), _block([(b"b", b"2")])], [b"a", b"c"])
    assert list(TableReader(data)) == [(b"a", b"1"), (b"b", b"2")]


def test_non_increasing_keys_within_block() -> None:
    data = _raw_table([_block([(b"b", b"1"), (b"a", b"2")])], [b"c"])
    with pytest.raises(FormatError, match="does not follow"):
        TableReader(data)
    data = _raw_table([_block([(b"a", b"1"), (b"a", b"2")])], [b"c"])
    with pytest.raises(FormatError, match="does not follow"):
        TableReader(data)


def test_non_increasing_keys_across_blocks() -> None:
    data = _raw_table([_block([(b"b", b"1")]), _block([(b"a", b"2")])], [b"b", b"c"])
    with pytest.raises(FormatError):
        TableReader(data)


def test_block_past_its_index_key() -> None:
    data = _raw_table([_block([(b"x", b"1")])], [b"a"])
    with pytest.raises(FormatError, match="past its index key"):
        TableReader(data)


def test_snappy_block_is_unsupported() -> None:
    data = _raw_table([_block([(b"x", b"1")])], [b"y"], types=b"\x01")
    with pytest.raises(UnsupportedFeatureError, match="snappy"):
        TableReader(data)


def test_unknown_compression_type() -> None:
    data = _raw_table([_block([(b"x", b"1")])], [b"y"], types=b"\x07")
    with pytest.raises(FormatError, match="compression"):
        TableReader(data)


@pytest.mark.parametrize(
    "contents",
    [
        b"",
        b"\x00\x00",
        bytes.fromhex("00000000"),  # zero restarts
        bytes.fromhex("ffffffff"),  # absurd restart count
        bytes.fromhex("0000000002000000"),  # 2 restarts claimed in an 8-byte block
        bytes.fromhex("000005") + b"ab" + bytes.fromhex("0000000001000000"),  # value runs past
        bytes.fromhex("050001") + b"a" + bytes.fromhex("0000000001000000"),  # shared > prev
        bytes.fromhex("00ffffffff0f00") + bytes.fromhex("0000000001000000"),  # huge key length
        bytes.fromhex("000100") + b"a" + bytes.fromhex("0100000001000000"),  # restart mid-entry
        bytes.fromhex("000100") + b"a" + bytes.fromhex("04000000") + bytes.fromhex("01000000"),
        bytes.fromhex("808080") + bytes.fromhex("0000000001000000"),  # truncated varint
    ],
)
def test_hostile_blocks(contents: bytes) -> None:
    with pytest.raises(FormatError):
        parse_block(contents)


def test_restart_must_point_at_full_key() -> None:
    contents = _block([(b"aa", b""), (b"ab", b"")])  # second entry shares 1 byte
    second = 3 + 2
    forged = contents[:-8] + struct.pack("<2I", 0, second) + struct.pack("<I", 2)
    with pytest.raises(FormatError, match="restart"):
        parse_block(forged)


def test_index_handles_out_of_range() -> None:
    data = bytearray(_raw_table([_block([(b"a", b"1")])], [b"b"]))
    # rebuild with an index entry pointing past the end of the file
    index = BlockBuilder(1)
    index.add(b"b", BlockHandle(10**12, 5).encode())
    contents = index.finish()
    tail = contents + block_trailer(contents)
    start = len(data) - FOOTER_SIZE
    meta_handle, _ = decode_footer(bytes(data[-FOOTER_SIZE:]))
    fixed = (
        bytes(data[:start]) + tail + encode_footer(meta_handle, BlockHandle(start, len(contents)))
    )
    with pytest.raises(FormatError, match="outside"):
        TableReader(fixed)


def test_index_handle_with_stray_bytes() -> None:
    index = BlockBuilder(1)
    block = _block([(b"a", b"1")])
    index.add(b"b", BlockHandle(0, len(block)).encode() + b"\x00")
    body = block + block_trailer(block)
    contents = index.finish()
    data = body + contents + block_trailer(contents)
    data += encode_footer(BlockHandle(0, 0), BlockHandle(len(body), len(contents)))
    with pytest.raises(FormatError, match="stray"):
        TableReader(data)


def test_bad_block_crc() -> None:
    good = _raw_table([_block([(b"a", b"1")])], [b"b"])
    bad = bytearray(good)
    bad[3] ^= 0x01
    with pytest.raises(FormatError, match="checksum"):
        TableReader(bytes(bad))


def test_every_truncation_and_byte_flip_is_an_error_or_harmless() -> None:
    out = io.BytesIO()
    table = TableBuilder(out, block_size=128)
    items = [(f"k{i:03d}".encode(), bytes([i]) * (i % 9)) for i in range(60)]
    for k, v in items:
        table.add(k, v)
    table.finish()
    data = out.getvalue()
    for n in range(len(data)):
        with pytest.raises(FormatError):
            TableReader(data[:n])
    padding = range(len(data) - FOOTER_SIZE + 8, len(data) - 8)  # footer zero padding
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x40
        try:
            got = list(TableReader(bytes(bad)))
        except FormatError:
            continue
        # only bytes nobody reads may change silently: the footer padding and the metaindex
        assert i in padding or got == items, i
