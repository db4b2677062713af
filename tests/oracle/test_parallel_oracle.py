"""Checkpoints and SavedModels written by 2 workers (a local process pool and a Dask cluster),
with variables sliced across them, read by TensorFlow and tf_keras (``parallel_check.py``)."""

from __future__ import annotations

import filecmp
import os
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import pytest
from distributed import Client, LocalCluster

import purekeras_io as pk
from purekeras_io.model.base import Model
from purekeras_io.savedmodel.layout import OBJECT_GRAPH_KEY
from purekeras_io.tensorbundle.reader import BundleReader

SHAPE = (1000, 64)


def _model(lazy: bool) -> Model:
    """Two Dense layers and Adam state; the big kernel and its slots are Dask arrays when
    ``lazy`` (chunks of 100 rows, so the plan can cut them), computed arrays otherwise."""
    model = pk.Sequential([pk.layers.Dense(64, input_shape=(SHAPE[0],), name="d"),
                           pk.layers.Dense(8, name="e")], name="m")
    model.compile(optimizer="adam", loss="mse")

    def value(seed: int, shape: tuple[int, ...]) -> Any:
        arr = da.random.RandomState(seed).random_sample(shape, chunks=(100, *shape[1:]))
        arr = arr.astype("float32")
        return arr if lazy else arr.compute()

    model.layers[0].kernel.assign(value(0, SHAPE))
    model.layers[1].kernel.assign(value(1, (64, 8)))
    assert model.optimizer is not None
    slots = [{s.keras3: value(10 + 3 * i + j, tuple(v.shape))
              for j, s in enumerate(model.optimizer.active_slots("keras2"))}
             for i, v in enumerate(model.trainable_weights)]
    model.optimizer.set_state(5, slots)
    return model


def _values(prefix: Path) -> dict[str, np.ndarray]:
    with BundleReader(prefix) as r:
        return {k: np.array(r.get(k)) for k in r.keys() if k != OBJECT_GRAPH_KEY}


def _sliced(prefix: Path) -> list[str]:
    with BundleReader(prefix) as r:
        return [k for k in r.keys() if r.entry(k).slices]


@pytest.fixture(scope="module")
def run(oracle: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("parallel_oracle")
    lazy, eager = _model(True), _model(False)
    eager.save_weights(str(d / "one" / "ckpt"))
    eager.save(str(d / "one_sm"))
    lazy.save_weights(str(d / "pool" / "ckpt"), workers=2)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        lazy.save_weights(str(d / "dask" / "ckpt"), client=client)
        lazy.save(str(d / "dask_sm"), client=client)
    (d / "m.json").write_text(eager.to_json("keras2"))
    x = np.random.RandomState(3).rand(4, SHAPE[0]).astype("float32")
    entries = []
    for name, kind, path, single in (
        ("pool", "checkpoint", d / "pool" / "ckpt", d / "one" / "ckpt"),
        ("dask", "checkpoint", d / "dask" / "ckpt", d / "one" / "ckpt"),
        ("dask_sm", "savedmodel", d / "dask_sm", d / "one_sm" / "variables" / "variables"),
    ):
        ref = d / f"{name}.npz"
        np.savez(ref, x0=x, p0=np.asarray(eager.predict(x)), **_values(single))
        entries.append({"name": name, "kind": kind, "path": str(path),
                        "json": str(d / "m.json"), "ref": str(ref)})
    out = oracle.run("parallel_check", {"entries": entries})
    out["dir"] = d
    return out


def test_two_workers_write_two_shards_with_sliced_variables(run: dict[str, Any]) -> None:
    d = run["dir"]
    for folder, base in ((d / "pool", "ckpt"), (d / "dask", "ckpt"),
                         (d / "dask_sm" / "variables", "variables")):
        names = sorted(os.listdir(folder))
        assert f"{base}.data-00000-of-00002" in names and f"{base}.data-00001-of-00002" in names
        assert not [n for n in names if "tempstate" in n or n.startswith(".")], names
        assert _sliced(folder / base), "no variable was split across the workers"


def test_pool_and_dask_give_the_same_bytes(run: dict[str, Any]) -> None:
    d = run["dir"]
    for name in ("ckpt.index", "ckpt.data-00000-of-00002", "ckpt.data-00001-of-00002",
                 "checkpoint"):
        assert filecmp.cmp(d / "pool" / name, d / "dask" / name, shallow=False), name


def test_our_reader_gives_the_single_process_arrays(run: dict[str, Any]) -> None:
    d = run["dir"]
    one = _values(d / "one" / "ckpt")
    for prefix in (d / "pool" / "ckpt", d / "dask" / "ckpt"):
        ours = _values(prefix)
        assert sorted(ours) == sorted(one)
        for key, value in one.items():
            assert np.array_equal(ours[key], value), key
    sm_one = _values(d / "one_sm" / "variables" / "variables")
    sm = _values(d / "dask_sm" / "variables" / "variables")
    assert sorted(sm) == sorted(sm_one)
    assert all(np.array_equal(sm[k], v) for k, v in sm_one.items())


@pytest.mark.parametrize("name", ["pool", "dask", "dask_sm"])
def test_tensorflow_reads_every_value(run: dict[str, Any], name: str) -> None:
    res = run["checked"][name]
    assert "error" not in res, res.get("trace")
    assert res["wrong"] == []
    assert res["pred_maxdiff"] < 1e-5
    if name != "dask_sm":
        assert res["checkpoint_restore_equal"] is True
        assert res["checkpoint_restore_maxdiff"] < 1e-5
    else:
        assert res["iterations"] == 5
