"""Keras 3 sharded weights (``.weights.json`` + ``<base>_NNNNN.weights.h5``): round trip, the
``max_shard_size`` split, atomic and deterministic writes, lazy writes and lazy loads."""

from __future__ import annotations

import json
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import purekeras_io as pk
from purekeras_io import layers
from purekeras_io.errors import ConfigError, FormatError
from purekeras_io.keras_v3 import sharded, zipstream
from purekeras_io.keras_v3.lazy_member import LazyDataset

KERNEL = 64 * 300 * 4  # d1 kernel bytes
LIMIT_GB = (KERNEL + 600) / 1024**3  # the kernel fits, its bias (1200 bytes) overflows


def _model(compiled: bool = False) -> Any:
    m = pk.Sequential(
        [layers.Input((64,), name="inp"), layers.Dense(300, name="d1"),
         layers.Dense(10, name="d2")],
        name="seq",
    )
    if compiled:
        m.compile(optimizer=pk.optimizers.Adam(), loss="mse")
        m.optimizer.build(m.trainable_weights)
    return m


def _weights(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(w.shape).astype(np.float32) for w in _model().get_weights()]


class CountingLazy:
    """A user's lazy array: records every slice, refuses to be converted whole."""

    def __init__(self, arr: np.ndarray) -> None:
        self.arr, self.shape, self.dtype = arr, arr.shape, arr.dtype
        self.slices: list[int] = []

    def __getitem__(self, key: Any) -> np.ndarray:
        part = self.arr[key]
        self.slices.append(int(part.shape[0]) if part.ndim else 1)
        return part

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise AssertionError("a writer converted the whole lazy array")


def _lazy_reads(m: Any) -> list[int]:
    return [v._value.reads for v in m.weights if isinstance(v._value, LazyDataset)]


def test_round_trip_split_and_json(tmp_path: Path) -> None:
    m = _model(compiled=True)
    m.set_weights(_weights())
    paths = sharded.save_sharded(m, tmp_path / "x.weights.json", LIMIT_GB)
    names = sorted(os.listdir(tmp_path))
    assert [os.path.basename(p) for p in paths][-1] == "x.weights.json"
    assert names == sorted(os.path.basename(p) for p in paths)
    config = json.loads((tmp_path / "x.weights.json").read_text())
    wm = config["weight_map"]
    assert wm["/layers/dense/vars"] == ["x_00000.weights.h5", "x_00001.weights.h5"]
    assert wm["/layers/dense_1/vars"] == ["x_00001.weights.h5"]  # Keras' list of one
    assert isinstance(wm["/optimizer/vars"], list) and len(wm["/optimizer/vars"]) >= 2
    assert "/vars" not in wm  # groups without datasets are not listed
    expected = sum(int(np.prod(w.shape)) * 4 for w in m.get_weights())
    expected += 8 + 4 + 2 * expected  # iteration, learning rate, Adam m and v
    assert config["metadata"]["total_size"] == float(expected)
    text = (tmp_path / "x.weights.json").read_text()
    assert text == json.dumps(config, indent=4)  # Keras' formatting, no trailing newline
    for name in (n for n in names if n.endswith(".h5")):  # every shard a complete HDF5 file
        assert (tmp_path / name).read_bytes()[:4] == b"\x89HDF"

    back = _model(compiled=True)
    back.load_weights(tmp_path / "x.weights.json")
    for a, b in zip(back.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_models_api_names_and_errors(tmp_path: Path) -> None:
    m = _model()
    m.set_weights(_weights())
    with pytest.warns(UserWarning, match=r"renamed to .*y\.weights\.json"):
        m.save_weights(tmp_path / "y.weights.h5", max_shard_size=1)
    assert sorted(os.listdir(tmp_path)) == ["y.weights.json", "y_00000.weights.h5"]
    with pytest.raises(ConfigError, match="max_shard_size"):
        m.save_weights(tmp_path / "z.weights.json")
    with pytest.raises(ConfigError, match=r"weights\.json"):
        m.save_weights(tmp_path / "z.ckpt", max_shard_size=1)
    with pytest.raises(ConfigError, match="more than max_shard_size"):
        m.save_weights(tmp_path / "z.weights.json", max_shard_size=1000 / 1024**3)
    assert not any(p.name.startswith(("z", ".z")) for p in tmp_path.iterdir())


def test_deterministic_and_stale_shards_removed(tmp_path: Path) -> None:
    m = _model()
    m.set_weights(_weights())
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    m.save_weights(a / "w.weights.json", max_shard_size=LIMIT_GB)
    m.save_weights(b / "w.weights.json", max_shard_size=LIMIT_GB)
    for name in os.listdir(a):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert len(os.listdir(a)) == 3
    m.save_weights(a / "w.weights.json", max_shard_size=1)  # one shard now
    assert sorted(os.listdir(a)) == ["w.weights.json", "w_00000.weights.h5"]
    back = _model()
    back.load_weights(a / "w.weights.json")
    np.testing.assert_array_equal(back.get_weights()[2], m.get_weights()[2])


def test_failed_save_leaves_old_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    m = _model()
    m.set_weights(_weights())
    target = tmp_path / "w.weights.json"
    m.save_weights(target, max_shard_size=LIMIT_GB)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    calls = {"n": 0}
    real = sharded.write_parts

    def failing(fh: Any, parts: Any, crc: bool = False) -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full (test)")
        return real(fh, parts, crc)

    monkeypatch.setattr(sharded, "write_parts", failing)
    m.set_weights(_weights(1))
    with pytest.raises(OSError, match="disk full"):
        m.save_weights(target, max_shard_size=LIMIT_GB)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == before  # nothing changed, no temporaries left


def test_crash_before_commit_is_rolled_forward(tmp_path: Path) -> None:
    """A journal left by a dead writer (complete temporaries) is finished by the next load."""
    m = _model()
    m.set_weights(_weights())
    target = tmp_path / "w.weights.json"
    m.save_weights(target, max_shard_size=1)
    new = tmp_path / "new"
    new.mkdir()
    m.set_weights(_weights(3))
    m.save_weights(new / "w.weights.json", max_shard_size=1)
    dead = 2**22 + 12345  # a pid that does not exist
    moves = []
    for name in ("w_00000.weights.h5", "w.weights.json"):
        tmp = f".{name}.tmp-{dead}-{'0' * 16}"
        os.replace(new / name, tmp_path / tmp)
        moves.append([tmp, name])
    (tmp_path / f".w_00000.weights.h5.commit-{dead}-{'1' * 16}").write_text(json.dumps(moves))
    back = _model()
    back.load_weights(target)
    np.testing.assert_array_equal(back.get_weights()[0], _weights(3)[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "new", "w.weights.json", "w_00000.weights.h5"
    ]


def test_lazy_write_from_memmap_and_user_class(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(zipstream, "STREAM_BLOCK_BYTES", 16 * 300 * 4)  # 16 rows of the kernel
    ws = _weights()
    ref = _model()
    ref.set_weights(ws)
    ref.save_weights(tmp_path / "ref.weights.json", max_shard_size=LIMIT_GB)
    mm, lz = _model(), _model()
    fakes = [CountingLazy(w) for w in ws]
    for i, (a, b, w, f) in enumerate(zip(mm.weights, lz.weights, ws, fakes)):
        np.save(tmp_path / f"w{i}.npy", w)
        a.assign(np.load(tmp_path / f"w{i}.npy", mmap_mode="r"))
        b.assign(f)
    mm.save_weights(tmp_path / "mm.weights.json", max_shard_size=LIMIT_GB)
    lz.save_weights(tmp_path / "lz.weights.json", max_shard_size=LIMIT_GB)
    assert all(v.lazy for v in lz.weights)  # never read into the variables
    assert fakes[0].slices == [16, 16, 16, 16]  # the 64-row kernel in 16-row slabs
    for kind in ("mm", "lz"):
        for i in range(2):
            assert (tmp_path / f"{kind}_{i:05}.weights.h5").read_bytes() == (
                tmp_path / f"ref_{i:05}.weights.h5"
            ).read_bytes()
    # the same in .keras, .weights.h5 and .h5
    for ext in (".keras", ".h5"):
        ref.save(tmp_path / f"ref{ext}")
        lz.save(tmp_path / f"lz{ext}")
        assert (tmp_path / f"lz{ext}").read_bytes() == (tmp_path / f"ref{ext}").read_bytes()
    ref.save_weights(tmp_path / "ref.weights.h5")
    lz.save_weights(tmp_path / "lz.weights.h5")
    assert (tmp_path / "lz.weights.h5").read_bytes() == (tmp_path / "ref.weights.h5").read_bytes()
    assert all(v.lazy for v in lz.weights)


def test_lazy_load_reads_nothing_until_asked(tmp_path: Path) -> None:
    ws = _weights()
    m = _model()
    m.set_weights(ws)
    m.save_weights(tmp_path / "w.weights.json", max_shard_size=LIMIT_GB)
    back = _model()
    back.load_weights(tmp_path / "w.weights.json")
    assert all(v.lazy for v in back.weights)
    assert _lazy_reads(back) == [0, 0, 0, 0]
    lazy = back.weights[0]._value
    assert lazy.shape == (64, 300) and lazy.dtype == np.float32
    np.testing.assert_array_equal(lazy[3:5], ws[0][3:5])
    np.testing.assert_array_equal(lazy[7], ws[0][7])
    np.testing.assert_array_equal(lazy[2:4, 5:9], ws[0][2:4, 5:9])
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(lazy))[10:12], ws[0][10:12])
    assert _lazy_reads(back)[1:] == [0, 0, 0]
    np.testing.assert_array_equal(back.weights[1].value, ws[1])
    assert not back.weights[1].lazy


def test_damaged_shards_give_format_errors(tmp_path: Path) -> None:
    m = _model()
    m.set_weights(_weights())
    target = tmp_path / "w.weights.json"
    m.save_weights(target, max_shard_size=LIMIT_GB)
    text = target.read_text()

    def load() -> None:
        _model().load_weights(target)

    target.write_text(text.replace("w_00001.weights.h5", "../w_00001.weights.h5"))
    with pytest.raises(FormatError, match="plain file names"):
        load()
    target.write_text(text.replace("w_00001.weights.h5", "missing.weights.h5"))
    with pytest.raises(FormatError, match="missing"):
        load()
    target.write_text('{"weight_map": 3}')
    with pytest.raises(FormatError, match="weight_map"):
        load()
    target.write_text(text)
    back = _model()
    back.load_weights(target)
    data = (tmp_path / "w_00000.weights.h5").read_bytes()
    with open(tmp_path / "w_00000.weights.h5", "r+b") as fh:  # truncated after the load
        fh.truncate(len(data) // 2)
    with pytest.raises(FormatError, match="ends inside the data"):
        _ = back.weights[0].value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(FormatError):
            load()
