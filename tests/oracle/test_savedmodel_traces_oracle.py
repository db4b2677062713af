"""Traced layer calls in our SavedModels (``purekeras_io/savedmodel/traces.py``): tf_keras
``load_model`` revives the layers it cannot rebuild from config (ConvNeXt's unregistered
``LayerScale`` and ``StochasticDepth``, Keras 3's ``hard_silu`` activation in ``Activation`` and
``Dense``) from our ``keras_api.call_and_return_conditional_losses`` functions, and predicts as
our ``predict`` does; the serving consumers keep working on the same files. Without traces
(``save_traces=False``) the same model cannot be revived, with tf_keras' own error.
(ConvNeXtTiny itself is in ``test_applications_oracle``.)"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from serving_helpers import check_serving, failures

import purekeras_io as pk
from purekeras_io._proto.tf import saved_model_pb2

pytestmark = pytest.mark.oracle
L = pk.layers

CONSUMERS = ("tfk", "tfsm", "call", "tfsmlayer")


def _randomize(model: Any, seed: int) -> Any:
    rng = np.random.RandomState(seed)
    for var in model.weights:
        var.assign((rng.randn(*var.shape) * 0.5).astype(var.dtype))
    return model


def _convnext_block() -> Any:
    x = pk.Input((6, 6, 8), name="image")
    y = L.DepthwiseConv2D(3, padding="same", name="dw")(x)
    y = L.LayerNormalization(epsilon=1e-6, name="ln")(y)
    y = L.Dense(16, activation="gelu", name="pw1")(y)
    y = L.Dense(8, name="pw2")(y)
    y = L.LayerScale(init_values=1e-6, projection_dim=8, name="layer_scale")(y)
    y = L.StochasticDepth(drop_path_rate=0.1, name="drop_path")(y)
    y = L.Add(name="residual")([x, y])
    y = L.GlobalAveragePooling2D(name="gap")(y)
    return pk.Model(x, L.Dense(3, name="head")(y), name="convnext_block")


def _hard_silu() -> Any:
    return pk.Sequential([
        L.Dense(6, activation="hard_silu", input_shape=(4,), name="d1"),
        L.Activation("hard_silu", name="act"),
        L.Dense(2, name="d2"),
    ], name="hard_silu_mlp")


def _nested() -> Any:
    inner = pk.Sequential([L.Dense(4, input_shape=(4,), name="inner_dense"),
                           L.LayerScale(init_values=0.1, projection_dim=4, name="inner_scale")],
                          name="inner")
    x = pk.Input((4,), name="x")
    return pk.Model(x, L.Dense(2, name="out")(inner(x)), name="outer")


def _two_inputs() -> Any:
    a = pk.Input((3,), name="a")
    b = pk.Input((5,), name="b")
    y = L.Concatenate(name="cat")([a, b])
    y = L.Dense(4, activation="hard_silu", name="mix")(y)
    y2 = L.LayerScale(init_values=0.5, projection_dim=4, name="scale")(y)
    return pk.Model([a, b], [y2, L.Dense(1, name="aux")(y)], name="two_inputs")


def _text() -> Any:
    x = pk.Input((None,), dtype="int32", name="tokens")
    y = L.Embedding(20, 6, mask_zero=True, name="emb")(x)
    y = L.LSTM(5, name="lstm")(y)
    return pk.Model(x, L.Dense(3, activation="hard_silu", name="head")(y), name="text")


def _cases() -> list[tuple[str, Any, list[list[np.ndarray]]]]:
    rng = np.random.RandomState(7)
    f = np.float32
    tokens = rng.randint(1, 20, size=(7, 9)).astype("int32")
    tokens[3, 5:] = 0
    return [
        ("convnext_block", _randomize(_convnext_block(), 1),
         [[rng.randn(1, 6, 6, 8).astype(f)], [rng.randn(7, 6, 6, 8).astype(f)]]),
        ("hard_silu_mlp", _randomize(_hard_silu(), 2),
         [[rng.randn(1, 4).astype(f) * 3], [rng.randn(7, 4).astype(f) * 3]]),
        ("nested", _randomize(_nested(), 3), [[rng.randn(7, 4).astype(f)]]),
        ("two_inputs", _randomize(_two_inputs(), 4),
         [[rng.randn(7, 3).astype(f), rng.randn(7, 5).astype(f)]]),
        ("text", _randomize(_text(), 5), [[tokens[:1]], [tokens]]),
    ]


REVIVED = {
    "convnext_block": ["drop_path", "layer_scale"],
    "hard_silu_mlp": ["act", "d1"],
    "nested": ["inner_scale"],
    "two_inputs": ["mix", "scale"],
    "text": ["head"],
}


def test_tf_keras_revives_layers_from_our_traces(oracle: Any, tmp_path: Path) -> None:
    raw: dict[str, Any] = {}
    report = check_serving(oracle, tmp_path, _cases(), consumers=CONSUMERS, raw=raw)
    assert not failures(report), failures(report)
    assert {cid: info["tfk_revived"] for cid, info in raw.items()} == REVIVED


def _object_nodes(path: Path) -> list[Any]:
    sm = saved_model_pb2.SavedModel()
    sm.ParseFromString((path / "saved_model.pb").read_bytes())
    return list(sm.meta_graphs[0].object_graph_def.nodes)


def test_only_layers_tf_keras_cannot_rebuild_are_traced(tmp_path: Path) -> None:
    model = _randomize(_convnext_block(), 1)
    model.save(str(tmp_path / "a"), save_format="tf")
    nodes = _object_nodes(tmp_path / "a")
    traced = [dict((c.local_name, c.node_id) for c in n.children)["keras_api"]
              for n in nodes if any(c.local_name == "keras_api" for c in n.children)]
    assert len(traced) == 2
    for api in traced:
        children = {c.local_name: nodes[c.node_id] for c in nodes[api].children}
        assert children["call_and_return_conditional_losses"].WhichOneof("kind") == "function"
    # deterministic: the same model gives the same bytes
    model.save(str(tmp_path / "b"), save_format="tf")
    assert (tmp_path / "a" / "saved_model.pb").read_bytes() == \
        (tmp_path / "b" / "saved_model.pb").read_bytes()


def test_without_traces_tf_keras_cannot_revive(oracle: Any, tmp_path: Path) -> None:
    model = _randomize(_convnext_block(), 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.save(str(tmp_path / "plain"), save_format="tf", save_traces=False)
    messages = [str(w.message) for w in caught]
    assert any("['LayerScale', 'StochasticDepth']" in m for m in messages), messages
    with pytest.raises(pk.TargetCompatibilityError):
        _hard_silu().save(str(tmp_path / "hs"), save_format="tf", save_traces=False)
    x = np.zeros((1, 6, 6, 8), np.float32)
    report = check_serving(oracle, tmp_path, [("plain", model, [[x]])], consumers=("tfk",),
                           save_kwargs={"save_traces": False})
    assert "Cannot call custom layer" in report["plain"]["tfk"], report
