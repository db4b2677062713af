"""``merge``: TF's MergeBundles rules (``tensorbundle.md`` §9)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from purekeras_io._proto.tf import tensor_bundle_pb2
from purekeras_io.errors import FormatError
from purekeras_io.tensorbundle import BundleKeyError, BundleReader, merge, read, write
from purekeras_io.tensorbundle.format import data_filename
from purekeras_io.tensorbundle.sstable import TableBuilder
from purekeras_io.tensorbundle.writer import header_bytes


def _names(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


def test_merge_two_bundles(tmp_path: Path) -> None:
    write(tmp_path / "a", {"x/kernel": np.arange(6.0).reshape(2, 3), "z": np.array(1)})
    write(tmp_path / "b", {"y": np.array([b"s"], dtype=object), "a": np.zeros(0, np.int8)})
    merge([tmp_path / "a", tmp_path / "b"], tmp_path / "out" / "m")
    assert _names(tmp_path) == ["out"]  # input indexes deleted, data files moved
    assert _names(tmp_path / "out") == [
        "m.data-00000-of-00002",
        "m.data-00001-of-00002",
        "m.index",
    ]
    with BundleReader(tmp_path / "out" / "m") as r:
        assert r.num_shards == 2
        assert r.keys() == ["a", "x/kernel", "y", "z"]
        assert [r.entry(k).shard_id for k in r.keys()] == [1, 0, 1, 0]
        assert r.get("x/kernel").tolist() == [[0, 1, 2], [3, 4, 5]]
        assert r.get("y").tolist() == [b"s"]


def _bundle_with_shards(
    prefix: Path, num_shards: int, entries: dict[str, tuple[int, float]]
) -> None:
    """A hand-made multi-shard bundle: key -> (shard id, float32 scalar value)."""
    blobs: dict[int, bytearray] = {i: bytearray() for i in range(num_shards)}
    protos = {}
    from purekeras_io.tensorbundle import crc32c

    for key, (shard, value) in entries.items():
        raw = np.float32(value).tobytes()
        e = tensor_bundle_pb2.BundleEntryProto(
            dtype=1, shard_id=shard, offset=len(blobs[shard]), size=4
        )
        e.shape.SetInParent()
        e.crc32c = crc32c.mask(crc32c.value(raw))
        blobs[shard] += raw
        protos[key.encode()] = e.SerializeToString()
    with open(f"{prefix}.index", "wb") as f:
        t = TableBuilder(f)
        t.add(b"", header_bytes(num_shards))
        for k in sorted(protos):
            t.add(k, protos[k])
        t.finish()
    for i, blob in blobs.items():
        Path(data_filename(str(prefix), i, num_shards)).write_bytes(bytes(blob))


def test_first_seen_shard_order(tmp_path: Path) -> None:
    # key order meets shard 2 first, then shard 0, then shard 1
    _bundle_with_shards(tmp_path / "a", 3, {"a": (2, 1.0), "b": (0, 2.0), "c": (1, 3.0)})
    write(tmp_path / "b", {"0first": np.float32(4.0)})
    merge([tmp_path / "a", tmp_path / "b"], tmp_path / "m")
    with BundleReader(tmp_path / "m") as r:
        assert r.num_shards == 4
        assert {k: r.entry(k).shard_id for k in r.keys()} == {"0first": 3, "a": 0, "b": 1, "c": 2}
        assert {k: float(r.get(k)) for k in r.keys()} == {"0first": 4, "a": 1, "b": 2, "c": 3}


def test_unreferenced_shards_are_kept(tmp_path: Path) -> None:
    write(tmp_path / "empty", {})
    write(tmp_path / "b", {"k": np.arange(3)})
    merge([tmp_path / "empty", tmp_path / "b"], tmp_path / "m")
    assert _names(tmp_path) == ["m.data-00000-of-00002", "m.data-00001-of-00002", "m.index"]
    with BundleReader(tmp_path / "m") as r:
        assert r.entry("k").shard_id == 0
        assert r.get("k").tolist() == [0, 1, 2]


def test_merge_of_merged(tmp_path: Path) -> None:
    write(tmp_path / "a", {"a": np.arange(2)})
    write(tmp_path / "b", {"b": np.arange(3)})
    write(tmp_path / "c", {"c": np.arange(4)})
    merge([tmp_path / "a", tmp_path / "b"], tmp_path / "ab")
    merge([tmp_path / "ab", tmp_path / "c"], tmp_path / "abc")
    got = read(tmp_path / "abc")
    assert {k: v.tolist() for k, v in got.items()} == {
        "a": [0, 1],
        "b": [0, 1, 2],
        "c": [0, 1, 2, 3],
    }
    assert len([n for n in _names(tmp_path) if ".data-" in n]) == 3


def test_duplicate_keys_are_refused_before_touching_files(tmp_path: Path) -> None:
    write(tmp_path / "a", {"same": np.zeros(1), "x": np.zeros(1)})
    write(tmp_path / "b", {"same": np.ones(1)})
    before = _names(tmp_path)
    with pytest.raises(BundleKeyError, match="'same'"):
        merge([tmp_path / "a", tmp_path / "b"], tmp_path / "m")
    assert _names(tmp_path) == before


def test_conflicting_headers(tmp_path: Path) -> None:
    write(tmp_path / "a", {"a": np.zeros(1)})
    prefix = tmp_path / "b"
    header = tensor_bundle_pb2.BundleHeaderProto(num_shards=1, endianness=1)
    header.version.producer = 1
    with open(f"{prefix}.index", "wb") as f:
        t = TableBuilder(f)
        t.add(b"", header.SerializeToString())
        t.finish()
    Path(f"{prefix}.data-00000-of-00001").write_bytes(b"")
    with pytest.raises(FormatError, match="endianness"):
        merge([tmp_path / "a", prefix], tmp_path / "m")
    header = tensor_bundle_pb2.BundleHeaderProto(num_shards=1)
    header.version.producer = 1
    header.version.min_consumer = 1
    with open(f"{prefix}.index", "wb") as f:
        t = TableBuilder(f)
        t.add(b"", header.SerializeToString())
        t.finish()
    with pytest.raises(FormatError, match="versions"):
        merge([tmp_path / "a", prefix], tmp_path / "m")


def test_bad_arguments_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        merge([], tmp_path / "m")
    write(tmp_path / "a", {"a": np.zeros(1)})
    with pytest.raises(ValueError, match="duplicates"):
        merge([tmp_path / "a", tmp_path / "a"], tmp_path / "m")
    with pytest.raises(FileNotFoundError):
        merge([tmp_path / "a", tmp_path / "nope"], tmp_path / "m")
    os.remove(tmp_path / "a.data-00000-of-00001")
    with pytest.raises(FileNotFoundError, match="missing"):
        merge([tmp_path / "a"], tmp_path / "m")
    assert _names(tmp_path) == ["a.index"]


def test_merge_into_an_input_prefix(tmp_path: Path) -> None:
    write(tmp_path / "a", {"a": np.arange(2)})
    merge([tmp_path / "a"], tmp_path / "a")
    assert _names(tmp_path) == ["a.data-00000-of-00001", "a.index"]
    assert read(tmp_path / "a")["a"].tolist() == [0, 1]


def test_renames_that_collide_with_other_inputs(tmp_path: Path) -> None:
    # merged onto itself, the first-seen order swaps the two shards: each target name is the
    # other move's source, so the renames must be staged
    _bundle_with_shards(tmp_path / "b", 2, {"x": (1, 1.0), "y": (0, 2.0)})
    merge([tmp_path / "b"], tmp_path / "b")  # shard 1 -> 0, shard 0 -> 1: a swap
    with BundleReader(tmp_path / "b") as r:
        assert {k: (r.entry(k).shard_id, float(r.get(k))) for k in r.keys()} == {
            "x": (0, 1.0),
            "y": (1, 2.0),
        }
