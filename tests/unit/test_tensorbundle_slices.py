"""Partitioned tensors: our slice keys, writer and merge against TF 2.21's own bytes, the reader's
assembly, and lazy reads (tools/make_slice_goldens.py made the goldens)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from purekeras_io.errors import ChecksumError
from purekeras_io.tensorbundle import BundleReader
from purekeras_io.tensorbundle.merge import merge
from purekeras_io.tensorbundle.slices import decode_slice_key, encode_slice_key
from purekeras_io.tensorbundle.writer import BundleKeyError, BundleWriter

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "tensorbundle_slices"
X = np.arange(12, dtype=np.float32).reshape(4, 3)
Y = np.arange(5, dtype=np.int64)


def _same(ours: Path, name: str, parts: list[str]) -> None:
    for part in parts:
        assert (ours.parent / f"{ours.name}.{part}").read_bytes() == (
            GOLDEN / f"{name}.{part}"
        ).read_bytes(), part


def test_slice_keys_as_tf() -> None:
    assert encode_slice_key("x", [(0, 2), (0, -1)]).hex() == "0078000101028082807f"
    assert encode_slice_key("x", [(2, 2), (0, 3)]).hex() == "00780001010282828083"
    rng = random.Random(3)
    values = [0, -1, 63, 64, -64, -65, 2**13, 2**55, 2**62, 2**63 - 1, -(2**63)]
    values += [rng.randint(-(2**63), 2**63 - 1) for _ in range(500)]
    for v in values:
        assert decode_slice_key(encode_slice_key("a\x00b", [(v, 1)])) == ("a\x00b", ((v, 1),))
    ordered = sorted(rng.randint(-(2**40), 2**40) for _ in range(300))
    keys = [encode_slice_key("x", [(v, 1)]) for v in ordered]
    assert keys == sorted(keys)  # OrderedCode keeps numeric order


def test_writer_equals_tf_savev2(tmp_path: Path) -> None:
    with BundleWriter(tmp_path / "one") as w:
        w.add_slice("x", (4, 3), [(0, 2), (0, -1)], X[:2])
        w.add_slice("x", (4, 3), [(2, 2), (0, -1)], X[2:])
        w.add("y", Y)
    _same(tmp_path / "one", "one", ["index", "data-00000-of-00001"])


def test_merge_equals_tf_merge(tmp_path: Path) -> None:
    with BundleWriter(tmp_path / "w0") as w:
        w.add_slice("x", (4, 3), [(0, 2), (0, -1)], X[:2])
        w.add("y", Y)
    with BundleWriter(tmp_path / "w1") as w:
        w.add_slice("x", (4, 3), [(2, 2), (0, 3)], X[2:])
    merge([tmp_path / "w0", tmp_path / "w1"], tmp_path / "merged")
    _same(tmp_path / "merged", "merged",
          ["index", "data-00000-of-00002", "data-00001-of-00002"])


@pytest.mark.parametrize("name", ["one", "merged"])
def test_reader_assembles_tf_slices(name: str) -> None:
    with BundleReader(GOLDEN / name) as r:
        assert r.keys() == ["x", "y"]
        assert r.get("x").tolist() == X.tolist()
        assert r.get("y").tolist() == Y.tolist()


def test_writer_refuses_bad_slices(tmp_path: Path) -> None:
    with BundleWriter(tmp_path / "b") as w:
        with pytest.raises(BundleKeyError, match="shape"):
            w.add_slice("x", (4, 3), [(0, 2), (0, -1)], X[:3])
        with pytest.raises(BundleKeyError, match="outside"):
            w.add_slice("x", (4, 3), [(3, 2), (0, -1)], X[:2])
        w.abort()


def test_lazy_tensor_reads_on_demand_and_checks_crc(tmp_path: Path) -> None:
    big = np.arange(4000, dtype=np.float32).reshape(1000, 4)
    with BundleWriter(tmp_path / "z") as w:
        w.add("big", big)
    reader = BundleReader(tmp_path / "z")
    lazy = reader.lazy("big")
    assert lazy.shape == (1000, 4) and lazy.dtype == np.float32
    assert np.array_equal(np.concatenate([lazy[i : i + 300] for i in range(0, 1000, 300)]), big)
    assert np.array_equal(np.asarray(lazy), big)
    data = tmp_path / "z.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[-1] ^= 1
    data.write_bytes(bytes(raw))
    damaged = BundleReader(tmp_path / "z").lazy("big")
    with pytest.raises(ValueError, match="checksum"):
        for i in range(0, 1000, 300):
            damaged[i : i + 300]


def test_lazy_rows_of_a_partitioned_tensor(tmp_path: Path) -> None:
    """Rows of a partitioned tensor read only the slices that hold them; an in-order pass
    checks each slice's CRC; ``load_weights`` keeps the tensor lazy."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((10, 6)).astype("float32")
    prefix = tmp_path / "p"
    with BundleWriter(prefix) as w:  # rows 0-3 and 4-9; columns 0-2 and 3-5 of rows 4-9
        w.add_slice("x", (10, 6), [(0, 4), (0, -1)], x[:4])
        w.add_slice("x", (10, 6), [(4, 6), (0, 3)], x[4:, :3])
        w.add_slice("x", (10, 6), [(4, 6), (3, 3)], x[4:, 3:])
    with BundleReader(prefix) as r:
        t = r.lazy_or_get("x")
        assert t.shape == (10, 6) and not isinstance(t, np.ndarray)
        for start, stop in ((0, 10), (2, 7), (4, 5), (9, 10), (3, 3)):
            assert np.array_equal(t[start:stop], x[start:stop])
        assert np.array_equal(np.asarray(t), x) and np.array_equal(t[:, 2], x[:, 2])
        data = r.entry("x")
    raw = bytearray((tmp_path / "p.data-00000-of-00001").read_bytes())
    raw[-1] ^= 1  # the last slice (rows 4-9, columns 3-5)
    (tmp_path / "p.data-00000-of-00001").write_bytes(bytes(raw))
    with BundleReader(prefix) as r:
        t = r.lazy(data.key)
        assert np.array_equal(t[0:4], x[:4])  # the first slice is sound
        with pytest.raises(ChecksumError, match="x"):
            t[4:10]
