"""Our SavedModel reader on our traced SavedModels: layer traces (``savedmodel/traces.py``),
signatures and graph functions are there for TensorFlow; the reader restores the model from the
Keras metadata and the checkpoint, ignores the functions, and predicts the same."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

import purekeras_io as pk
from purekeras_io._proto.tf import saved_model_pb2

L = pk.layers


def _models() -> dict[str, pk.Model]:
    x = pk.Input((5, 5, 4), name="x")
    y = L.Conv2D(4, 1, name="conv")(x)
    y = L.LayerScale(init_values=0.5, projection_dim=4, name="ls")(y)
    y = L.StochasticDepth(drop_path_rate=0.1, name="sd")(y)
    y = L.Activation("hard_silu", name="hs")(y)
    y = L.GlobalAveragePooling2D(name="gap")(y)
    convnext = pk.Model(x, L.Dense(3, activation="hard_silu", name="d")(y), name="cx")
    t = pk.Input((None,), dtype="int32", name="tokens")
    e = L.Embedding(12, 4, mask_zero=True, name="emb")(t)
    text = pk.Model(t, L.Dense(2, name="head")(L.GRU(3, name="gru")(e)), name="text")
    return {"convnext": convnext, "text": text}


def _inputs(name: str) -> np.ndarray:
    rng = np.random.RandomState(1)
    if name == "text":
        x = rng.randint(1, 12, size=(3, 6)).astype("int32")
        x[1, 3:] = 0
        return x
    return rng.randn(2, 5, 5, 4).astype("float32")


@pytest.mark.parametrize("name", ["convnext", "text"])
def test_reader_reads_our_traced_savedmodel(tmp_path: Path, name: str) -> None:
    model = _models()[name]
    rng = np.random.RandomState(0)
    for var in model.weights:
        var.assign(rng.randn(*var.shape).astype(var.dtype))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.save(str(tmp_path / "sm"), save_format="tf")
    sm = saved_model_pb2.SavedModel()
    sm.ParseFromString((tmp_path / "sm" / "saved_model.pb").read_bytes())
    assert len(sm.meta_graphs[0].graph_def.library.function) >= 2
    back = pk.load_model(str(tmp_path / "sm"))
    assert [la.name for la in back.layers] == [la.name for la in model.layers]
    for a, b in zip(back.weights, model.weights):
        np.testing.assert_array_equal(a.value, b.value)
    x = _inputs(name)
    np.testing.assert_allclose(back.predict(x), model.predict(x), rtol=1e-6)
