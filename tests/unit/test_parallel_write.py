"""Parallel TensorBundle writes (``purekeras_io.parallel``): the plan, bytes, failures."""

from __future__ import annotations

import filecmp
import os
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import pytest

import purekeras_io as pk
from purekeras_io.errors import ConfigError, UnsupportedFeatureError
from purekeras_io.parallel import write
from purekeras_io.parallel.plan import TensorSpec, plan_layout, row_blocks_for
from purekeras_io.tensorbundle import reader as bundle_reader
from purekeras_io.tensorbundle import writer as bundle_writer
from purekeras_io.tensorbundle.writer import string_scalar

RNG = np.random.default_rng(0)
BIG = RNG.standard_normal((1000, 64)).astype("float32")


def _tensors() -> dict[str, Any]:
    return {
        "a": RNG.standard_normal((7, 3)).astype("float32"),
        "big": da.from_array(BIG, chunks=(100, 64)),
        "graph": string_scalar(b"proto\x00bytes"),
        "step": np.int64(5),
        "c": RNG.standard_normal((300, 2)).astype("float64"),
        "h": da.from_array(BIG[:10].astype("float16"), chunks=(3, 64)),
    }


class Exploding:
    """A lazy array whose rows 500+ cannot be read (picklable, for a worker process)."""

    shape = (1000, 64)
    dtype = np.dtype("float32")

    def __getitem__(self, key: Any) -> np.ndarray:
        rows = BIG[key]
        if isinstance(key, slice) and (key.stop or 1000) > 500:
            raise OSError("disk gone at row 500")
        return rows


def test_plan_balances_shards_and_cuts_at_chunks() -> None:
    specs = [TensorSpec("a", (10,), 40, (10,)),
             TensorSpec("b", (100, 4), 1600, row_blocks_for((100, 4), 1600, (25,) * 4, True)),
             TensorSpec("c", (5,), 20, (5,))]
    layout = plan_layout(specs, 2)
    assert [(p.key, p.shard, p.offset, p.size, p.extents) for p in layout.pieces] == [
        ("a", 0, 0, 40, None), ("b", 0, 40, 800, [(0, 50), (0, -1)]),
        ("b", 1, 0, 800, [(50, 50), (0, -1)]), ("c", 1, 800, 20, None)]
    assert layout.shard_sizes == [840, 820]
    # a tensor in memory (one block) is never cut, and one shard is BundleWriter's layout
    assert row_blocks_for((100, 4), 1600, None, splittable=False) == (100,)
    assert row_blocks_for((100, 4), 1600, None, True, block_bytes=512) == (32, 32, 32, 4)
    one = plan_layout(specs, 1)
    assert [(p.offset, p.extents) for p in one.pieces] == [(0, None), (40, None), (1640, None)]


def test_bytes_one_worker_equal_bundlewriter_and_two_read_back(tmp_path: Path) -> None:
    tensors = _tensors()
    eager = {k: (v.compute() if hasattr(v, "compute") else v) for k, v in tensors.items()}
    bundle_writer.write(tmp_path / "one" / "x", eager)
    write(tmp_path / "p1" / "x", tensors, workers=1)
    for suffix in (".index", ".data-00000-of-00001"):
        assert filecmp.cmp(tmp_path / "one" / f"x{suffix}", tmp_path / "p1" / f"x{suffix}",
                           shallow=False)
    write(tmp_path / "p1" / "x", tensors, workers=2)  # over the 1-shard bundle
    write(tmp_path / "again" / "x", tensors, workers=2)
    assert sorted(os.listdir(tmp_path / "p1")) == [
        "x.data-00000-of-00002", "x.data-00001-of-00002", "x.index"]  # the old shard is gone
    for name in os.listdir(tmp_path / "p1"):  # deterministic
        assert filecmp.cmp(tmp_path / "p1" / name, tmp_path / "again" / name, shallow=False)
    with bundle_reader.BundleReader(tmp_path / "p1" / "x") as r:
        assert r.num_shards == 2 and r.entry("big").slices
        for key, value in eager.items():
            got = r.get(key)
            assert got[()] == value[()] if key == "graph" else np.array_equal(got, value), key


def test_a_failing_worker_leaves_the_previous_checkpoint(tmp_path: Path) -> None:
    prefix = tmp_path / "x"
    bundle_writer.write(prefix, {"w": np.ones(3, "float32")})
    before = {n: (tmp_path / n).read_bytes() for n in os.listdir(tmp_path)}
    with pytest.raises(OSError, match="disk gone at row 500"):
        write(prefix, {"w": Exploding(), "v": np.zeros(2)}, workers=2)
    assert {n: (tmp_path / n).read_bytes() for n in os.listdir(tmp_path)} == before


def test_models_save_with_workers(tmp_path: Path) -> None:
    model = pk.Sequential([pk.layers.Dense(64, input_shape=(1000,), name="d")], name="m")
    model.layers[0].kernel.assign(da.from_array(BIG, chunks=(100, 64)))
    model.save_weights(str(tmp_path / "ck" / "m"), workers=2)
    loaded = pk.Sequential([pk.layers.Dense(64, input_shape=(1000,), name="d")], name="m")
    loaded.load_weights(str(tmp_path / "ck" / "m"))
    assert loaded.layers[0].kernel.lazy  # the sliced kernel is read on use
    assert np.array_equal(np.asarray(loaded.layers[0].kernel.value), BIG)
    for bad in (0, -1, "2", True, 1.5):
        with pytest.raises(ConfigError, match="workers="):
            model.save_weights(str(tmp_path / "bad" / "m"), workers=bad)
    for target in ("m.h5", "m.keras", "m.weights.h5"):  # single files
        with pytest.raises(UnsupportedFeatureError, match="parallel writes"):
            (model.save_weights if "weights" in target else model.save)(
                str(tmp_path / target), workers=2)
    assert not (tmp_path / "bad").exists() or not os.listdir(tmp_path / "bad")


def test_keras_sharded_weights_written_by_workers(tmp_path: Path) -> None:
    """Each ``.weights.h5`` shard is written by a worker; the files equal a one-process save."""
    def model(kernel: Any) -> Any:
        m = pk.Sequential([pk.layers.Dense(64, input_shape=(1000,), name="d"),
                           pk.layers.Dense(64, name="e")], name="m")
        m.layers[0].kernel.assign(kernel)
        m.layers[1].kernel.assign(BIG[:64])
        return m

    lazy = model(da.from_array(BIG, chunks=(100, 64)))
    (tmp_path / "one").mkdir()
    (tmp_path / "pool").mkdir()
    model(BIG).save_weights(str(tmp_path / "one" / "w.weights.json"), max_shard_size=0.00025)
    lazy.save_weights(str(tmp_path / "pool" / "w.weights.json"), max_shard_size=0.00025,
                      workers=2)
    names = sorted(os.listdir(tmp_path / "one"))
    assert len(names) >= 3 and names == sorted(os.listdir(tmp_path / "pool"))
    for name in names:
        assert filecmp.cmp(tmp_path / "one" / name, tmp_path / "pool" / name, shallow=False)
    back = model(np.zeros_like(BIG))
    back.load_weights(str(tmp_path / "pool" / "w.weights.json"))
    assert np.array_equal(np.asarray(back.layers[0].kernel.value), BIG)
