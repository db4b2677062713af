"""Keras 3 sharded weights and ``.keras`` files written from lazy weights, against Keras 3.15.1
(TensorFlow backend), in one oracle process:

1. Keras ``model.load_weights("w.weights.json")`` reads our sharded weights (a layer's group
   split across two shards, the optimizer's across several): weights and Adam variables equal.
2. Keras writes its own sharded weights (same model, same ``max_shard_size``): our
   ``load_weights`` reads them (weights and optimizer state equal), and Keras' JSON is the same
   text as ours (same shard split, same ``total_size``) and the same shard file names.
3. ``keras.saving.load_model`` loads our ``.keras`` written from in-memory, ``np.memmap``-backed
   and Dask-backed weights (all three the same bytes): predictions and weights equal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import purekeras_io as pk
from purekeras_io import layers
from purekeras_io.keras_v3.optimizer_state import optimizer_arrays

pytestmark = pytest.mark.oracle

# dense kernel (64x300 float32, 76800 bytes) fits, its bias then overflows into the next shard
LIMIT_GB = (76800 + 600) / 1024**3


def _model() -> Any:
    m = pk.Sequential(
        [layers.Input((64,), name="inp"), layers.Dense(300, activation="relu", name="d1"),
         layers.Dense(10, name="d2")],
        name="seq",
    )
    m.compile(optimizer=pk.optimizers.Adam(learning_rate=0.01), loss="mse")
    m.optimizer.build(m.trainable_weights)
    return m


def _randomize(m: Any, seed: int) -> None:
    rng = np.random.default_rng(seed)
    m.set_weights([rng.standard_normal(w.shape).astype(np.float32) for w in m.get_weights()])
    opt = m.optimizer
    slots = [
        {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in d.items()}
        for d in opt.slot_values
    ]
    opt.set_state(7 + seed, slots)


def _opt_arrays(m: Any) -> list[np.ndarray]:
    return [np.asarray(a) for a in optimizer_arrays(m.optimizer, m.trainable_weights, "keras3")]


def test_sharded_weights_and_lazy_keras_against_keras(oracle: Any, tmp_path: Path) -> None:
    import dask.array as da

    m = _model()
    _randomize(m, 0)
    m.save(tmp_path / "arch.keras")
    _randomize(m, 2)
    (tmp_path / "ours").mkdir()
    m.save_weights(tmp_path / "ours" / "w.weights.json", max_shard_size=LIMIT_GB)
    ws = [np.asarray(w) for w in m.get_weights()]
    np.savez(
        tmp_path / "ours_ref.npz",
        **{f"w{i}": w for i, w in enumerate(ws)},
        **{f"o{i}": o for i, o in enumerate(_opt_arrays(m))},
    )
    ours_json = (tmp_path / "ours" / "w.weights.json").read_text()
    assert isinstance(json.loads(ours_json)["weight_map"]["/layers/dense/vars"], list)

    # .keras from in-memory, np.memmap-backed and Dask-backed weights
    m.save(tmp_path / "mem.keras", include_optimizer=False)
    mm, dk = _model(), _model()
    for i, (a, b, w) in enumerate(zip(mm.weights, dk.weights, ws)):
        path = tmp_path / f"w{i}.npy"
        np.save(path, w)
        a.assign(np.load(path, mmap_mode="r"))
        b.assign(da.from_array(w, chunks=(max(1, w.shape[0] // 3), *w.shape[1:])))
        assert b.lazy
    mm.save(tmp_path / "memmap.keras", include_optimizer=False)
    dk.save(tmp_path / "dask.keras", include_optimizer=False)
    files = ["mem.keras", "memmap.keras", "dask.keras"]
    blobs = {f: (tmp_path / f).read_bytes() for f in files}
    assert blobs["memmap.keras"] == blobs["mem.keras"] == blobs["dask.keras"]
    x = np.random.default_rng(5).standard_normal((4, 64)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)

    res = oracle.run(
        "keras_sharded_check",
        {"dir": str(tmp_path), "limit_gb": LIMIT_GB, "keras_files": files, "x": "x.npy"},
    )
    assert res["keras_version"] == "3.15.1"
    assert not res["errors"], "\n".join(res["errors"])
    assert res["ours_weights_equal"]
    assert res["ours_optimizer_equal"], res["ours_optimizer_counts"]
    assert res["predicted"] == sorted(files)
    y0 = np.load(tmp_path / "pred_mem.keras.npy")
    h = np.maximum(x @ ws[0] + ws[1], 0) @ ws[2] + ws[3]
    np.testing.assert_allclose(y0, h, rtol=1e-4, atol=1e-4 * float(np.abs(h).max()))
    for f in files:
        np.testing.assert_array_equal(np.load(tmp_path / f"pred_{f}.npy"), y0)
        with np.load(tmp_path / f"weights_{f}.npz") as z:
            for i, w in enumerate(ws):
                np.testing.assert_array_equal(z[f"w{i}"], w)

    # Keras' own sharded weights: same split and JSON as ours; our reader takes them
    k3_dir = tmp_path / "k3"
    assert res["k3_files"] == sorted(p.name for p in (tmp_path / "ours").iterdir())
    assert (k3_dir / "w.weights.json").read_text() == ours_json
    ours = pk.models.load_model(tmp_path / "arch.keras")
    ours.load_weights(k3_dir / "w.weights.json")
    assert all(v.lazy for v in ours.weights)
    with np.load(tmp_path / "k3_ref.npz") as z:
        for i, w in enumerate(ours.get_weights()):
            np.testing.assert_array_equal(w, z[f"w{i}"])
        got = _opt_arrays(ours)
        assert len(got) == sum(k.startswith("o") for k in z.files)
        for i, o in enumerate(got):
            np.testing.assert_array_equal(o, z[f"o{i}"].reshape(o.shape))
