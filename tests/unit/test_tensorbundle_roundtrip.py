"""Writer → reader round trips: every dtype, strings, scalars, zero-size, big-endian and
non-contiguous input, chunked streaming, a multi-block index, determinism, and the streaming
writer's state machine and atomicity."""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from purekeras_io import dtypes
from purekeras_io.errors import PurekerasError, UnsupportedDtypeError
from purekeras_io.tensorbundle import (
    BundleKeyError,
    BundleReader,
    BundleStateError,
    BundleWriter,
    crc32c,
    read,
    sstable,
    write,
    writer,
)

NUMERIC = [row for row in dtypes.DTYPES if row.name != "string"]


def _random(dtype: np.dtype, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = math.prod(shape)
    if dtype == np.bool_:
        return rng.integers(0, 2, n).astype(bool).reshape(shape)
    raw = rng.integers(0, 256, n * dtype.itemsize, dtype=np.uint8)
    return raw.view(dtype).reshape(shape)


def _same(got: np.ndarray, want: Any) -> bool:
    want = np.asarray(want)
    if want.dtype.kind in "OSU":
        flat = [x.encode() if isinstance(x, str) else bytes(x) for x in want.reshape(-1).tolist()]
        return (
            got.dtype == np.dtype(object)
            and got.shape == want.shape
            and got.reshape(-1).tolist() == flat
        )
    native = want.dtype.newbyteorder("=") if want.dtype.byteorder == ">" else want.dtype
    return (
        got.dtype == native
        and got.shape == want.shape
        and got.tobytes() == np.ascontiguousarray(want.astype(native)).tobytes()
    )


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("row", NUMERIC, ids=lambda r: r.name)
@pytest.mark.parametrize("shape", [(), (0,), (7,), (3, 5), (2, 0, 3), (2, 3, 4)])
def test_every_dtype_round_trips(tmp_path: Path, row: dtypes.DType, shape: tuple[int, ...]) -> None:
    arr = _random(row.numpy, shape, seed=row.tf_enum)
    write(tmp_path / "b", {"t": arr})
    with BundleReader(tmp_path / "b") as r:
        entry = r.entry("t")
        assert entry.dtype == row
        assert entry.shape == shape
        assert entry.size == arr.nbytes
        assert entry.crc32c == crc32c.mask(crc32c.value(arr.tobytes()))
        got = r.get("t")
        assert _same(got, arr)
        assert not got.flags.writeable


def test_read_returns_views_of_the_data_file(tmp_path: Path) -> None:
    arr = np.arange(1000, dtype=np.float32)
    write(tmp_path / "b", {"t": arr})
    got = read(tmp_path / "b")["t"]
    assert not got.flags.owndata and not got.flags.writeable
    base = got
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    assert not isinstance(base, np.ndarray)  # the memory map, not a copy
    assert _same(got, arr)


@pytest.mark.parametrize(
    "value",
    [
        np.array(b"hello"),
        np.array(["a", "bb", ""]),  # U
        np.array([b"x\x00y", b""], dtype="S3"),  # S (numpy strips trailing NULs)
        np.array([[b"a", "é"], [b"", b"\xff" * 300]], dtype=object),
        np.array([], dtype=object),
        np.zeros((2, 0), dtype=object),
        b"scalar bytes",
        "scalar str ∑",
        ["list", b"of", "strings"],
    ],
)
def test_strings_round_trip(tmp_path: Path, value: Any) -> None:
    write(tmp_path / "b", {"s": value})
    got = read(tmp_path / "b")["s"]
    assert _same(got, np.asarray(value, dtype=object) if isinstance(value, list) else value)


def test_string_layout_matches_spec(tmp_path: Path) -> None:
    items = [b"ab", b"", b"x" * 200]
    write(tmp_path / "b", {"s": np.array(items, dtype=object)})
    data = (tmp_path / "b.data-00000-of-00001").read_bytes()
    lengths = b"\x02\x00\xc8\x01"
    length_crc = crc32c.value(np.array([2, 0, 200], dtype="<u4").tobytes())
    stored = crc32c.mask(length_crc).to_bytes(4, "little")
    assert data == lengths + stored + b"".join(items)
    with BundleReader(tmp_path / "b") as r:
        entry = r.entry("s")
    assert entry.size == len(data)
    expected = crc32c.extend(crc32c.extend(length_crc, stored), b"".join(items))
    assert crc32c.unmask(entry.crc32c) == expected


def test_bad_string_elements(tmp_path: Path) -> None:
    with BundleWriter(tmp_path / "b") as w:
        with pytest.raises(UnsupportedDtypeError, match="element 1"):
            w.add("s", np.array([b"a", 3], dtype=object))
        w.add("ok", np.array([1.0]))  # the writer is still usable
    assert list(read(tmp_path / "b")) == ["ok"]


@pytest.mark.parametrize("bad", [np.dtype("M8[s]"), np.dtype("V4"), ml_dtypes.float8_e3m4, "i4,f4"])
def test_unsupported_dtypes(tmp_path: Path, bad: Any) -> None:
    with BundleWriter(tmp_path / "b") as w, pytest.raises(UnsupportedDtypeError, match="'t'"):
        w.add("t", np.zeros(3, dtype=bad))


@pytest.mark.parametrize("dt", [">f4", ">i8", ">c16", ">u2", ">f8", ">c8"])
def test_big_endian_input_is_byteswapped(tmp_path: Path, dt: str) -> None:
    arr = np.arange(12).astype(dt).reshape(3, 4)
    write(tmp_path / "b", {"t": arr})
    got = read(tmp_path / "b")["t"]
    assert got.dtype == np.dtype(dt).newbyteorder("=")
    assert np.array_equal(got, arr)
    raw = (tmp_path / "b.data-00000-of-00001").read_bytes()
    assert raw == arr.astype(np.dtype(dt).newbyteorder("<")).tobytes()


@pytest.mark.parametrize(
    "make",
    [
        lambda: np.arange(60.0).reshape(6, 10).T,
        lambda: np.arange(100, dtype=np.int16)[::3],
        lambda: np.arange(24, dtype=">i4").reshape(2, 3, 4)[:, ::2, ::-1],
        lambda: np.broadcast_to(np.arange(5, dtype=np.uint8), (4, 5)),
        lambda: np.asfortranarray(np.arange(30, dtype=np.float16).reshape(5, 6)),
    ],
)
def test_non_contiguous_input(tmp_path: Path, make: Any) -> None:
    arr = make()
    write(tmp_path / "b", {"t": arr})
    assert _same(read(tmp_path / "b")["t"], arr)


@pytest.mark.parametrize("chunk", [1, 7, 64, 1000])
@pytest.mark.parametrize(
    "make",
    [
        lambda: np.arange(3000, dtype=np.float32).reshape(30, 100),
        lambda: np.arange(3000, dtype=">f8").reshape(30, 100),
        lambda: np.arange(3000, dtype=np.int32).reshape(30, 100).T,
        lambda: np.arange(3000, dtype=np.int64).reshape(3, 10, 100)[:, :, ::2],
        lambda: np.arange(1000).astype(ml_dtypes.bfloat16),
    ],
)
def test_chunked_streaming(tmp_path: Path, monkeypatch: Any, chunk: int, make: Any) -> None:
    monkeypatch.setattr(writer, "CHUNK_BYTES", chunk)
    arr = make()
    chunks = list(writer.little_endian_chunks(arr, chunk))
    assert all(c.dtype == np.uint8 and c.ndim == 1 for c in chunks)
    assert max(c.size for c in chunks) <= max(chunk, arr.dtype.itemsize)
    assert (
        b"".join(c.tobytes() for c in chunks) == arr.astype(arr.dtype.newbyteorder("<")).tobytes()
    )
    write(tmp_path / "b", {"t": arr})
    assert _same(read(tmp_path / "b")["t"], arr)


def test_contiguous_input_is_not_copied() -> None:
    arr = np.arange(10_000, dtype=np.float32).reshape(100, 100)
    chunks = list(writer.little_endian_chunks(arr, 4096))
    assert len(chunks) == math.ceil(arr.nbytes / 4096)
    for c in chunks:
        assert np.shares_memory(c, arr)


def test_many_keys_span_several_data_blocks(tmp_path: Path) -> None:
    tensors = {
        f"{hashlib.md5(str(i).encode()).hexdigest()}/layer_{i:05d}/{'sub/' * (i % 5)}kernel/"
        ".ATTRIBUTES/VARIABLE_VALUE": np.full((i % 4,), i, dtype=np.int32)
        for i in range(6000)
    }
    write(tmp_path / "b", tensors)
    index = (tmp_path / "b.index").read_bytes()
    _, handle = sstable.decode_footer(index[-48:])
    blocks = sstable.parse_block(index[handle.offset : handle.offset + handle.size])
    assert len(blocks) >= 3
    got = read(tmp_path / "b")
    assert list(got) == sorted(tensors)
    for key, arr in tensors.items():
        assert _same(got[key], arr)


def test_data_file_order_is_insertion_order(tmp_path: Path) -> None:
    tensors = {
        "z": np.array([1], np.int8),
        "a": np.array([2], np.int8),
        "m": np.array([3], np.int8),
    }
    write(tmp_path / "b", tensors)
    assert (tmp_path / "b.data-00000-of-00001").read_bytes() == b"\x01\x02\x03"
    with BundleReader(tmp_path / "b") as r:
        assert r.keys() == ["a", "m", "z"]
        assert [r.entry(k).offset for k in ("z", "a", "m")] == [0, 1, 2]


def test_deterministic(tmp_path: Path) -> None:
    tensors = {f"k{i}": _random(NUMERIC[i % len(NUMERIC)].numpy, (i % 5, 3), i) for i in range(50)}
    tensors["s"] = np.array([b"a", b"bc"], dtype=object)
    write(tmp_path / "one" / "b", tensors)
    write(tmp_path / "two" / "b", tensors)
    with BundleWriter(tmp_path / "three" / "b") as w:
        for k, v in tensors.items():
            w.add(k, v)
    assert _files(tmp_path / "one") == _files(tmp_path / "two") == _files(tmp_path / "three")


def test_unicode_and_binary_keys(tmp_path: Path) -> None:
    keys = ["é/ü", "a\udcff", "zz", "A", "\u4e2d\u6587"]
    write(tmp_path / "b", {k: np.array([i]) for i, k in enumerate(keys)})
    got = read(tmp_path / "b")
    assert sorted(got) == sorted(keys)
    assert list(got) == sorted(keys, key=lambda k: k.encode("utf-8", "surrogateescape"))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(NUMERIC),
            hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5),
            st.integers(0, 2**16),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_property_round_trip(tmp_path_factory: Any, specs: list[Any]) -> None:
    folder = tmp_path_factory.mktemp("prop")
    tensors = {
        f"t{i}/{row.name}": _random(row.numpy, shape, seed)
        for i, (row, shape, seed) in enumerate(specs)
    }
    write(folder / "b", tensors)
    got = read(folder / "b")
    assert set(got) == set(tensors)
    for key, arr in tensors.items():
        assert _same(got[key], arr)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.binary(max_size=300) | st.text(max_size=20), max_size=20))
def test_property_strings(tmp_path_factory: Any, items: list[Any]) -> None:
    folder = tmp_path_factory.mktemp("props")
    arr = np.empty(len(items), dtype=object)
    arr[:] = items
    write(folder / "b", {"s": arr})
    assert _same(read(folder / "b")["s"], arr)


# --- streaming writer: state machine and atomicity -------------------------------------------


def test_state_machine(tmp_path: Path) -> None:
    w = BundleWriter(tmp_path / "b")
    assert w.state == "open"
    w.add("a", np.zeros(2))
    assert len(w) == 1
    with pytest.raises(BundleKeyError, match="'a'"):
        w.add("a", np.zeros(2))
    with pytest.raises(BundleKeyError, match="empty"):
        w.add("", np.zeros(2))
    with pytest.raises(BundleKeyError):
        w.add(3, np.zeros(2))  # type: ignore[arg-type]
    w.finish()
    assert w.state == "finished"
    with pytest.raises(BundleStateError, match=r"expected state 'open'.*'finished'"):
        w.add("b", np.zeros(2))
    with pytest.raises(BundleStateError):
        w.finish()
    w.abort()  # no-op once finished
    assert w.state == "finished"
    assert sorted(os.listdir(tmp_path)) == ["b.data-00000-of-00001", "b.index"]
    assert issubclass(BundleStateError, (PurekerasError, RuntimeError))
    assert issubclass(BundleKeyError, (PurekerasError, ValueError))


def test_writes_go_to_temporary_names_until_finish(tmp_path: Path) -> None:
    w = BundleWriter(tmp_path / "b")
    w.add("a", np.arange(1000.0))
    names = os.listdir(tmp_path)
    assert len(names) == 1 and names[0].startswith("b.data-00000-of-00001.tempstate")
    w.finish()
    assert sorted(os.listdir(tmp_path)) == ["b.data-00000-of-00001", "b.index"]


def test_abort_and_exceptions_remove_temporaries(tmp_path: Path) -> None:
    w = BundleWriter(tmp_path / "b")
    w.add("a", np.zeros(3))
    w.abort()
    assert w.state == "aborted"
    assert os.listdir(tmp_path) == []
    with pytest.raises(BundleStateError, match="aborted"):
        w.add("b", np.zeros(1))

    with pytest.raises(RuntimeError, match="boom"), BundleWriter(tmp_path / "c") as w2:
        w2.add("a", np.zeros(3))
        raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []


def test_failure_during_write_aborts(tmp_path: Path, monkeypatch: Any) -> None:
    w = BundleWriter(tmp_path / "b")

    def broken(crc: int, data: Any) -> int:
        raise OSError("disk full")

    monkeypatch.setattr(crc32c, "extend", broken)
    with pytest.raises(OSError, match="disk full"):
        w.add("a", np.zeros(3))
    assert w.state == "aborted"
    assert os.listdir(tmp_path) == []


def test_overwrites_existing_bundle_atomically(tmp_path: Path) -> None:
    write(tmp_path / "b", {"old": np.zeros(3)})
    w = BundleWriter(tmp_path / "b")
    w.add("new", np.ones(2))
    assert list(read(tmp_path / "b")) == ["old"]  # still the old bundle until finish
    w.finish()
    assert list(read(tmp_path / "b")) == ["new"]


def test_fsync_and_nested_folder(tmp_path: Path) -> None:
    write(tmp_path / "deep" / "er" / "b", {"a": np.arange(5)}, fsync=True)
    assert _same(read(tmp_path / "deep" / "er" / "b")["a"], np.arange(5))


def test_empty_bundle(tmp_path: Path) -> None:
    write(tmp_path / "b", {})
    assert (tmp_path / "b.data-00000-of-00001").read_bytes() == b""
    assert read(tmp_path / "b") == {}


def test_verify_crc_can_be_skipped(tmp_path: Path) -> None:
    write(tmp_path / "b", {"a": np.arange(4, dtype=np.int32)})
    path = tmp_path / "b.data-00000-of-00001"
    data = bytearray(path.read_bytes())
    data[0] ^= 1
    path.write_bytes(bytes(data))
    assert read(tmp_path / "b", verify_crc=False)["a"].tolist() == [1, 1, 2, 3]
