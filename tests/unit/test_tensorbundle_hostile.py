"""The reader on damaged and malicious bundles (``tensorbundle.md`` §8): every problem is a
``FormatError`` (or ``ChecksumError``) naming the file and key; nothing crashes, hangs or
allocates from an unchecked size."""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from purekeras_io._proto.tf import tensor_bundle_pb2
from purekeras_io.errors import ChecksumError, FormatError
from purekeras_io.tensorbundle import BundleReader, crc32c, read, write
from purekeras_io.tensorbundle.sstable import TableBuilder
from purekeras_io.tensorbundle.writer import header_bytes

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "tensorbundle"


def _sample(tmp_path: Path) -> Path:
    prefix = tmp_path / "sample"
    write(
        prefix,
        {
            "weights": np.arange(12, dtype=np.float32).reshape(3, 4),
            "names": np.array([b"alpha", b"", b"gamma" * 30], dtype=object),
            "step": np.array(7, dtype=np.int64),
            "empty": np.zeros((0, 2), np.float64),
        },
    )
    return prefix


def _read_all(prefix: Path, verify_crc: bool = True) -> dict[str, Any]:
    out = read(prefix, verify_crc=verify_crc)
    return {
        k: (v.tolist() if v.dtype == object else v.tobytes(), v.dtype.str, v.shape)
        for k, v in out.items()
    }


def _entry(**fields: Any) -> bytes:
    shape = fields.pop("shape", [])
    entry = tensor_bundle_pb2.BundleEntryProto(**fields)
    entry.shape.SetInParent()
    for d in shape:
        entry.shape.dim.add().size = d
    return entry.SerializeToString()


def _craft(
    tmp_path: Path,
    entries: list[tuple[bytes, bytes]],
    data: bytes = b"",
    header: bytes | None = None,
    num_shards: int = 1,
) -> Path:
    prefix = tmp_path / "crafted"
    with open(f"{prefix}.index", "wb") as f:
        table = TableBuilder(f)
        if header is not False:
            table.add(b"", header_bytes(num_shards) if header is None else header)
        for key, value in sorted(entries):
            table.add(key, value)
        table.finish()
    Path(f"{prefix}.data-00000-of-{num_shards:05d}").write_bytes(data)
    return prefix


def _crc(data: bytes) -> int:
    return crc32c.mask(crc32c.value(data))


# --- index file --------------------------------------------------------------------------


def test_missing_index(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        BundleReader(tmp_path / "nothing")


@pytest.mark.parametrize("content", [b"", b"\x00" * 47, b"\x00" * 48, os.urandom(5000)])
def test_garbage_index(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "g.index").write_bytes(content)
    with pytest.raises(FormatError, match=r"g\.index"):
        BundleReader(tmp_path / "g")


def test_bad_magic(tmp_path: Path) -> None:
    prefix = _sample(tmp_path)
    index = Path(f"{prefix}.index")
    data = bytearray(index.read_bytes())
    data[-1] ^= 0xFF
    index.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="magic"):
        BundleReader(prefix)


@pytest.mark.parametrize("case", ["dtypes", "strings", "scalars"])
def test_truncated_index_at_every_offset(tmp_path: Path, case: str) -> None:
    data = (GOLDEN / f"{case}.index").read_bytes()
    (tmp_path / f"{case}.data-00000-of-00001").write_bytes(
        (GOLDEN / f"{case}.data-00000-of-00001").read_bytes()
    )
    index = tmp_path / f"{case}.index"
    for n in range(len(data)):
        index.write_bytes(data[:n])
        with pytest.raises(FormatError):
            BundleReader(tmp_path / case)


@pytest.mark.parametrize("case", ["dtypes", "strings", "scalars"])
def test_flipped_index_bytes(tmp_path: Path, case: str) -> None:
    data = (GOLDEN / f"{case}.index").read_bytes()
    (tmp_path / f"{case}.data-00000-of-00001").write_bytes(
        (GOLDEN / f"{case}.data-00000-of-00001").read_bytes()
    )
    index = tmp_path / f"{case}.index"
    index.write_bytes(data)
    expected = _read_all(tmp_path / case)
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x10
        index.write_bytes(bytes(bad))
        try:
            got = _read_all(tmp_path / case)
        except FormatError:
            continue
        # unread bytes (metaindex, footer padding) may change silently, nothing else
        assert got == expected, i


def test_truncated_data_file(tmp_path: Path) -> None:
    prefix = _sample(tmp_path)
    path = Path(f"{prefix}.data-00000-of-00001")
    full = path.read_bytes()
    for n in range(0, len(full), 3):
        path.write_bytes(full[:n])
        with BundleReader(prefix) as r:
            for key in r.keys():
                e = r.entry(key)
                if e.offset + e.size <= n:
                    r.get(key)
                    continue
                with pytest.raises(FormatError, match=rf"{key!r}.*runs past"):
                    r.get(key)


def test_flipped_data_bytes_fail_the_crc(tmp_path: Path) -> None:
    prefix = _sample(tmp_path)
    path = Path(f"{prefix}.data-00000-of-00001")
    full = path.read_bytes()
    with BundleReader(prefix) as r:
        spans = {k: (r.entry(k).offset, r.entry(k).size) for k in r.keys()}
    for i in range(len(full)):
        bad = bytearray(full)
        bad[i] ^= 0x01
        path.write_bytes(bytes(bad))
        owner = next(k for k, (o, s) in spans.items() if o <= i < o + s)
        with BundleReader(prefix) as r:
            expected = (
                ChecksumError if owner != "names" or i >= spans[owner][0] + 4 else FormatError
            )
            with pytest.raises(expected, match=rf"data-00000-of-00001: tensor {owner!r}"):
                r.get(owner)
            with BundleReader(prefix, verify_crc=False) as unchecked:
                try:
                    unchecked.get(owner)  # may still be structurally invalid (string lengths)
                except FormatError:
                    pass


# --- crafted entries ---------------------------------------------------------------------

FLOATS = np.arange(4, dtype=np.float32).tobytes()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (_entry(dtype=1, shape=[5], size=16, crc32c=_crc(FLOATS)), "invalid size"),
        (_entry(dtype=1, shape=[4], size=12, crc32c=_crc(FLOATS)), "invalid size"),
        (_entry(dtype=2, shape=[4], size=16, crc32c=_crc(FLOATS)), "invalid size"),
        (_entry(dtype=99, shape=[4], size=16), "DataType 99"),
        (_entry(dtype=21, shape=[4], size=16), "DataType 21"),
        (_entry(dtype=0, shape=[4], size=16), "DataType 0"),
        (_entry(dtype=1, shape=[-1], size=16), "negative"),
        (_entry(dtype=1, shape=[2**40, 2**40], size=16), "invalid size"),
        (_entry(dtype=1, shape=[4], size=16, shard_id=1), "shard_id 1"),
        (_entry(dtype=1, shape=[4], size=16, shard_id=-3), "shard_id -3"),
        (_entry(dtype=1, shape=[4], size=16, offset=-1), "negative offset"),
        (_entry(dtype=7, shape=[10], size=8), "strings"),
        (_entry(dtype=7, shape=[2**40], size=8), "strings"),
        (b"\x08\x01\x12\xff\xff\xff\xff\x0f", "unable to parse"),
        (b"\xff\xff\xff", "unable to parse"),
    ],
)
def test_bad_entries(tmp_path: Path, entry: bytes, message: str) -> None:
    prefix = _craft(tmp_path, [(b"t", entry)], FLOATS)
    with BundleReader(prefix) as r:
        assert r.keys() == ["t"]
        with pytest.raises(FormatError, match=message) as info:
            r.get("t")
        assert "crafted.index" in str(info.value) and "'t'" in str(info.value)


def test_unknown_rank(tmp_path: Path) -> None:
    entry = tensor_bundle_pb2.BundleEntryProto(dtype=1, size=16)
    entry.shape.unknown_rank = True
    prefix = _craft(tmp_path, [(b"t", entry.SerializeToString())], FLOATS)
    with BundleReader(prefix) as r, pytest.raises(FormatError, match="unknown rank"):
        r.get("t")


def test_damaged_sliced_entries(tmp_path: Path) -> None:
    """A partitioned tensor's entry that holds data, whose slices miss elements or overlap, or
    whose slice entry is absent is refused before anything is allocated."""
    cases = []
    entry = tensor_bundle_pb2.BundleEntryProto(dtype=1, size=16)
    entry.shape.dim.add().size = 4
    entry.slices.add().extent.add()
    cases.append((entry, "holds data"))
    entry = tensor_bundle_pb2.BundleEntryProto(dtype=1)
    entry.shape.dim.add().size = 10**12
    entry.slices.add().extent.add(start=0, length=4)
    cases.append((entry, "slices hold 4 of"))
    entry = tensor_bundle_pb2.BundleEntryProto(dtype=1)
    entry.shape.dim.add().size = 4
    entry.slices.add().extent.add(start=0, length=3)
    entry.slices.add().extent.add(start=2, length=1)
    cases.append((entry, "overlap"))
    entry = tensor_bundle_pb2.BundleEntryProto(dtype=1)
    entry.shape.dim.add().size = 4
    entry.slices.add().extent.add()
    cases.append((entry, "missing"))
    for i, (proto, message) in enumerate(cases):
        (tmp_path / str(i)).mkdir()
        prefix = _craft(tmp_path / str(i), [(b"t", proto.SerializeToString())], FLOATS)
        with BundleReader(prefix) as r, pytest.raises(FormatError, match=message):
            r.get("t")


@pytest.mark.parametrize(("offset", "size"), [(1, 16), (2**62, 16), (0, 2**62)])
def test_offsets_and_sizes_out_of_range(tmp_path: Path, offset: int, size: int) -> None:
    n = size // 4
    entry = _entry(dtype=1, shape=[n], size=size, offset=offset, crc32c=_crc(FLOATS))
    prefix = _craft(tmp_path, [(b"t", entry)], FLOATS)
    with BundleReader(prefix) as r, pytest.raises(FormatError, match="runs past"):
        r.get("t")


def test_bad_entry_crc(tmp_path: Path) -> None:
    prefix = _craft(tmp_path, [(b"t", _entry(dtype=1, shape=[4], size=16, crc32c=0))], FLOATS)
    with BundleReader(prefix) as r, pytest.raises(ChecksumError, match="checksum does not match"):
        r.get("t")
    with BundleReader(prefix, verify_crc=False) as r:
        assert r.get("t").tolist() == [0, 1, 2, 3]


def test_missing_data_file(tmp_path: Path) -> None:
    prefix = _craft(tmp_path, [(b"t", _entry(dtype=1, shape=[4], size=16))], FLOATS)
    os.remove(f"{prefix}.data-00000-of-00001")
    with BundleReader(prefix) as r, pytest.raises(FileNotFoundError, match="'t'"):
        r.get("t")


def test_multi_shard_names(tmp_path: Path) -> None:
    prefix = tmp_path / "crafted"
    entries = [
        (b"a", _entry(dtype=1, shape=[4], size=16, crc32c=_crc(FLOATS))),
        (b"b", _entry(dtype=1, shape=[2], size=8, shard_id=2, offset=4, crc32c=_crc(FLOATS[4:12]))),
    ]
    _craft(tmp_path, entries, FLOATS, num_shards=3)
    Path(f"{prefix}.data-00002-of-00003").write_bytes(FLOATS)
    with BundleReader(prefix) as r:
        assert r.num_shards == 3
        assert r.get("a").tolist() == [0, 1, 2, 3]
        assert r.get("b").tolist() == [1, 2]


# --- strings -----------------------------------------------------------------------------


def _string_data(lengths: list[int], payload: bytes, length_crc: int | None = None) -> bytes:
    varints = b"".join(bytes([n]) for n in lengths)  # all < 128
    packed = struct.pack(f"<{len(lengths)}I", *lengths)
    lc = crc32c.value(packed) if length_crc is None else length_crc
    return varints + struct.pack("<I", crc32c.mask(lc)) + payload


def _string_entry(data: bytes, n: int, crc: int | None = None) -> bytes:
    if crc is None:
        lengths_end = n
        lc = crc32c.unmask(struct.unpack_from("<I", data, lengths_end)[0])
        c = crc32c.extend(crc32c.extend(lc, data[n : n + 4]), data[n + 4 :])
        crc = crc32c.mask(c)
    return _entry(dtype=7, shape=[n], size=len(data), crc32c=crc)


def test_crafted_string_ok(tmp_path: Path) -> None:
    data = _string_data([2, 0, 3], b"abxyz")
    prefix = _craft(tmp_path, [(b"s", _string_entry(data, 3))], data)
    assert read(prefix)["s"].tolist() == [b"ab", b"", b"xyz"]


def test_string_lengths_disagree_with_size(tmp_path: Path) -> None:
    data = _string_data([2, 0, 30], b"abxyz")
    prefix = _craft(tmp_path, [(b"s", _string_entry(data, 3))], data)
    with pytest.raises(FormatError, match="add up"):
        read(prefix)


def test_string_length_crc_mismatch(tmp_path: Path) -> None:
    data = _string_data([2, 0, 3], b"abxyz", length_crc=12345)
    prefix = _craft(tmp_path, [(b"s", _string_entry(data, 3))], data)
    with pytest.raises(ChecksumError, match="length checksum"):
        read(prefix)


def test_string_truncated_varint(tmp_path: Path) -> None:
    data = b"\x80\x80\x80\x80" + b"\x00" * 4
    prefix = _craft(tmp_path, [(b"s", _entry(dtype=7, shape=[4], size=len(data)))], data)
    with pytest.raises(FormatError):
        read(prefix)


def test_string_huge_declared_length(tmp_path: Path) -> None:
    data = b"\xff\xff\xff\xff\xff\xff\xff\x7f" + b"\x00" * 4 + b"abc"
    prefix = _craft(tmp_path, [(b"s", _entry(dtype=7, shape=[1], size=len(data)))], data)
    with pytest.raises(ChecksumError, match="length checksum"):
        read(prefix)
    with pytest.raises(FormatError, match="add up"):
        read(prefix, verify_crc=False)


# --- header ------------------------------------------------------------------------------


def _header(**fields: Any) -> bytes:
    version = fields.pop("version", {"producer": 1})
    h = tensor_bundle_pb2.BundleHeaderProto(num_shards=fields.pop("num_shards", 1), **fields)
    h.version.producer = version.get("producer", 0)
    h.version.min_consumer = version.get("min_consumer", 0)
    h.version.bad_consumers.extend(version.get("bad_consumers", []))
    return h.SerializeToString()


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (_header(version={"producer": -1}), "producer"),
        (_header(version={"producer": 1, "min_consumer": 2}), "consumer version >= 2"),
        (_header(version={"producer": 1, "bad_consumers": [1]}), "disallows"),
        (_header(num_shards=0), "num_shards"),
        (_header(num_shards=-5), "num_shards"),
        (_header(endianness=7), "endianness"),
        (b"\x0a\xff", "unable to parse the bundle header"),
    ],
)
def test_bad_headers(tmp_path: Path, header: bytes, message: str) -> None:
    prefix = _craft(tmp_path, [], header=header)
    with pytest.raises(FormatError, match=message):
        BundleReader(prefix)


def test_header_version_variants_accepted(tmp_path: Path) -> None:
    header = _header(version={"producer": 5, "min_consumer": 1, "bad_consumers": [0, 2]})
    prefix = _craft(tmp_path, [], header=header)
    with BundleReader(prefix) as r:
        assert r.header.producer == 5


def test_no_header_entry(tmp_path: Path) -> None:
    prefix = tmp_path / "crafted"
    with open(f"{prefix}.index", "wb") as f:
        table = TableBuilder(f)
        table.add(b"t", _entry(dtype=1, shape=[4], size=16))
        table.finish()
    with pytest.raises(FormatError, match="header"):
        BundleReader(prefix)


def test_big_endian_bundle(tmp_path: Path) -> None:
    values = np.arange(6, dtype=">f4").reshape(2, 3)
    raw = values.tobytes()
    strings = [b"ab", b"cde"]
    packed = struct.pack(">2I", 2, 3)
    lc = crc32c.value(packed)
    stored = struct.pack(">I", crc32c.mask(lc))
    sdata = b"\x02\x03" + stored + b"abcde"
    scrc = crc32c.mask(crc32c.extend(crc32c.extend(lc, stored), b"abcde"))
    entries = [
        (b"f", _entry(dtype=1, shape=[2, 3], size=24, crc32c=_crc(raw))),
        (b"s", _entry(dtype=7, shape=[2], size=len(sdata), offset=24, crc32c=scrc)),
    ]
    prefix = _craft(tmp_path, entries, raw + sdata, header=_header(endianness=1))
    got = read(prefix)
    assert got["f"].dtype == np.float32 and np.array_equal(got["f"], values)
    assert got["s"].tolist() == strings


# --- fuzz ----------------------------------------------------------------------------------


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=400))
def test_random_index_bytes(tmp_path: Path, blob: bytes) -> None:
    (tmp_path / "r.index").write_bytes(blob)
    with pytest.raises(FormatError):
        BundleReader(tmp_path / "r")


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_mutated_bundles_never_crash(tmp_path: Path, data: Any) -> None:
    prefix = tmp_path / "m"
    if not Path(f"{prefix}.index").exists():
        write(
            prefix,
            {
                "a": np.arange(5, dtype=np.int16),
                "s": np.array([b"xy", b"z" * 140], dtype=object),
                "c": np.array(3.5),
            },
        )
        Path(f"{prefix}.index.orig").write_bytes(Path(f"{prefix}.index").read_bytes())
        Path(f"{prefix}.data.orig").write_bytes(Path(f"{prefix}.data-00000-of-00001").read_bytes())
    index = bytearray(Path(f"{prefix}.index.orig").read_bytes())
    blob = bytearray(Path(f"{prefix}.data.orig").read_bytes())
    target = data.draw(st.sampled_from([index, blob]))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(target) - 1))
        target[i] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        del target[data.draw(st.integers(0, len(target))) :]
    Path(f"{prefix}.index").write_bytes(bytes(index))
    Path(f"{prefix}.data-00000-of-00001").write_bytes(bytes(blob))
    verify = data.draw(st.booleans())
    try:
        read(prefix, verify_crc=verify)
    except FormatError:
        pass
