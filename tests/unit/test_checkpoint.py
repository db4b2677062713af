"""TF2 object-based checkpoints (``purekeras_io.checkpoint``) without TensorFlow.

Expected keys and object graphs were measured on tf_keras 2.21 ``model.save_weights(prefix)``
(the oracle test compares against live files).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import purekeras_io as pk
from purekeras_io._proto.tf import trackable_object_graph_pb2
from purekeras_io.checkpoint import (
    CHECKPOINT_STATE_FILENAME,
    OBJECT_GRAPH_KEY,
    build_checkpoint_graph,
    latest_checkpoint,
    load_weights,
    read_checkpoint_state,
    save_weights,
)
from purekeras_io.errors import ConfigError
from purekeras_io.model.base import Model
from purekeras_io.tensorbundle import BundleReader

L = pk.layers
SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"


def _randomize(model: Model, seed: int) -> None:
    rng = np.random.RandomState(seed)
    for var in model.weights:
        var.assign(np.asarray(rng.rand(*var.shape) + 0.1, dtype=var.value.dtype))


def _seed() -> Model:
    return pk.Sequential([L.Dense(5, input_shape=(3,), name="dense"), L.Softmax()])


def _cnn() -> Model:
    x = pk.Input((8, 8, 3))
    y = L.Conv2D(4, 3)(x)
    y = L.BatchNormalization()(y)
    y = L.GlobalAveragePooling2D()(L.ReLU()(y))
    return pk.Model(x, L.Dense(2)(y))


def _rnn() -> Model:
    return pk.Sequential([
        L.Embedding(10, 4, input_shape=(5,)),
        L.Bidirectional(L.LSTM(3, return_sequences=True, name="lstm"), name="bidirectional"),
        L.LSTM(2),
        L.Dense(1),
    ])


def _nested() -> Model:
    inner = pk.Sequential([L.Dense(4, input_shape=(3,)), L.Dense(2)])
    return pk.Sequential([pk.Input((3,)), inner, L.Dense(1)])


def _adam_model(seed: int = 0) -> Model:
    m = pk.Sequential([L.Dense(4, input_shape=(3,), name="dense"), L.Dense(2, name="dense_1")])
    m.compile(pk.optimizers.Adam(learning_rate=0.01), "mse")
    _randomize(m, seed)
    opt = m.optimizer
    assert opt is not None
    rng = np.random.RandomState(seed + 100)
    opt.set_state(
        3 + seed,
        [{s.keras3: rng.rand(*v.shape).astype("float32") for s in opt.active_slots()}
         for v in m.trainable_weights],
    )
    return m


def _keys(prefix: Path) -> list[str]:
    with BundleReader(prefix) as r:
        return [k.removesuffix(SUFFIX) for k in r.keys()]


def _tog(prefix: Path) -> trackable_object_graph_pb2.TrackableObjectGraph:
    with BundleReader(prefix) as r:
        tog = trackable_object_graph_pb2.TrackableObjectGraph()
        tog.ParseFromString(r.get(OBJECT_GRAPH_KEY)[()])
        return tog


def _nodes(tog: trackable_object_graph_pb2.TrackableObjectGraph) -> list[Any]:
    return [
        ([(c.local_name, c.node_id) for c in n.children],
         [a.full_name for a in n.attributes],
         n.has_checkpoint_values.value)
        for n in tog.nodes
    ]


# ============================================================================ layout (tf_keras)


def test_seed_object_graph_is_tf_keras(tmp_path: Path) -> None:
    save_weights(_seed(), tmp_path / "ckpt", root="model")
    assert _nodes(_tog(tmp_path / "ckpt")) == [
        ([("layer_with_weights-0", 1), ("layer-0", 1), ("layer-1", 2), ("root", 0)], [], True),
        ([("kernel", 3), ("bias", 4)], [], True),
        ([], [], False),
        ([], ["dense/kernel"], True),
        ([], ["dense/bias"], True),
    ]
    tog = _tog(tmp_path / "ckpt")
    assert tog.nodes[3].attributes[0].name == "VARIABLE_VALUE"
    assert tog.nodes[3].attributes[0].checkpoint_key == "layer_with_weights-0/kernel" + SUFFIX


def test_files_and_data_order(tmp_path: Path) -> None:
    save_weights(_seed(), tmp_path / "sub" / "ckpt")
    assert sorted(os.listdir(tmp_path / "sub")) == [
        "checkpoint", "ckpt.data-00000-of-00001", "ckpt.index"]
    with BundleReader(tmp_path / "sub" / "ckpt") as r:
        by_offset = sorted(r.keys(), key=lambda k: r.entry(k).offset)
    # TF: variables in node-id order, the object graph last
    assert [k.removesuffix(SUFFIX) for k in by_offset] == [
        "layer_with_weights-0/kernel", "layer_with_weights-0/bias", OBJECT_GRAPH_KEY]


def test_cnn_keys_and_batchnorm_axis(tmp_path: Path) -> None:
    save_weights(_cnn(), tmp_path / "ckpt", root="model")
    assert _keys(tmp_path / "ckpt") == [
        OBJECT_GRAPH_KEY,
        "layer_with_weights-0/bias", "layer_with_weights-0/kernel",
        "layer_with_weights-1/beta", "layer_with_weights-1/gamma",
        "layer_with_weights-1/moving_mean", "layer_with_weights-1/moving_variance",
        "layer_with_weights-2/bias", "layer_with_weights-2/kernel",
    ]
    nodes = _nodes(_tog(tmp_path / "ckpt"))
    assert [n for n, _ in nodes[3][0]] == [
        "axis", "gamma", "beta", "moving_mean", "moving_variance"]
    assert len(nodes) == 16  # as tf_keras: the InputLayer, 5 layers, axis, 8 variables, root


def test_rnn_keys_and_tracked_specs(tmp_path: Path) -> None:
    save_weights(_rnn(), tmp_path / "ckpt", root="model")
    keys = _keys(tmp_path / "ckpt")
    assert "layer_with_weights-1/forward_layer/cell/recurrent_kernel" in keys
    assert "layer_with_weights-1/backward_layer/cell/bias" in keys
    assert "layer_with_weights-2/cell/kernel" in keys
    assert len(keys) == 13
    tog = _tog(tmp_path / "ckpt")
    assert [c.local_name for c in tog.nodes[3].children] == ["cell", "state_spec"]
    assert [c.local_name for c in tog.nodes[8].children] == [
        "state_size", "kernel", "recurrent_kernel", "bias"]
    full = {a.full_name for n in tog.nodes for a in n.attributes}
    assert "bidirectional/forward_lstm/lstm_cell/kernel" in full


def test_nested_sequential_keys(tmp_path: Path) -> None:
    save_weights(_nested(), tmp_path / "ckpt")
    assert _keys(tmp_path / "ckpt") == [
        OBJECT_GRAPH_KEY,
        "layer_with_weights-0/layer_with_weights-0/bias",
        "layer_with_weights-0/layer_with_weights-0/kernel",
        "layer_with_weights-0/layer_with_weights-1/bias",
        "layer_with_weights-0/layer_with_weights-1/kernel",
        "layer_with_weights-1/bias",
        "layer_with_weights-1/kernel",
    ]


def test_optimizer_keys_and_slot_lists(tmp_path: Path) -> None:
    save_weights(_adam_model(), tmp_path / "ckpt")
    keys = _keys(tmp_path / "ckpt")
    assert [k for k in keys if k.startswith("optimizer")] == [
        "optimizer/_iterations", "optimizer/_learning_rate",
        *[f"optimizer/_variables/{k}" for k in range(1, 9)],
    ]
    tog = _tog(tmp_path / "ckpt")
    opt = tog.nodes[dict((c.local_name, c.node_id) for c in tog.nodes[0].children)["optimizer"]]
    assert [c.local_name for c in opt.children] == [
        "_variables", "_iterations", "_learning_rate", "_index_dict", "_momentums", "_velocities"]
    names = {a.checkpoint_key.removesuffix(SUFFIX): a.full_name
             for n in tog.nodes for a in n.attributes}
    assert names["optimizer/_variables/1"] == "Adam/m/dense/kernel"
    assert names["optimizer/_variables/2"] == "Adam/v/dense/kernel"
    assert names["optimizer/_iterations"] == "iteration"


def test_unbuilt_optimizer_and_include_optimizer(tmp_path: Path) -> None:
    m = _seed()
    m.compile(pk.optimizers.Adam(), "mse")
    save_weights(m, tmp_path / "a" / "ckpt")
    assert [k for k in _keys(tmp_path / "a" / "ckpt") if k.startswith("optimizer")] == [
        "optimizer/_iterations", "optimizer/_learning_rate"]
    save_weights(_adam_model(), tmp_path / "b" / "ckpt", include_optimizer=False)
    assert not [k for k in _keys(tmp_path / "b" / "ckpt") if k.startswith("optimizer")]


def test_root_layouts(tmp_path: Path) -> None:
    m = _adam_model()
    for root in ("model", "checkpoint", "both"):
        save_weights(m, tmp_path / root / "ckpt", root=root)
    model_keys = _keys(tmp_path / "model" / "ckpt")
    assert _keys(tmp_path / "both" / "ckpt") == model_keys  # same keys, one more node
    assert _keys(tmp_path / "checkpoint" / "ckpt") == [OBJECT_GRAPH_KEY] + [
        f"model/{k}" for k in model_keys if k != OBJECT_GRAPH_KEY]
    both = _tog(tmp_path / "both" / "ckpt")
    assert [c.local_name for c in both.nodes[0].children][-2:] == ["model", "root"]
    assert len(both.nodes) == len(_tog(tmp_path / "model" / "ckpt").nodes) + 1
    ckpt = _tog(tmp_path / "checkpoint" / "ckpt")
    assert [c.local_name for c in ckpt.nodes[0].children] == ["model"]
    with pytest.raises(ConfigError, match="root must be one of"):
        build_checkpoint_graph(m, root="tree")


# ============================================================================ round trip


@pytest.mark.parametrize("root", ["model", "checkpoint", "both"])
def test_round_trip_with_optimizer(tmp_path: Path, root: str) -> None:
    src = _adam_model(seed=1)
    save_weights(src, tmp_path / "ckpt", root=root)
    dst = _adam_model(seed=2)
    result = load_weights(dst, tmp_path / "ckpt")
    assert result.optimizer_restored and result.unused == []
    for a, b in zip(src.weights, dst.weights):
        np.testing.assert_array_equal(a.value, b.value)
    assert src.optimizer is not None and dst.optimizer is not None
    assert dst.optimizer.iterations == src.optimizer.iterations == 4
    assert dst.optimizer.learning_rate == pytest.approx(0.01)
    assert src.optimizer.slot_values is not None and dst.optimizer.slot_values is not None
    for a_slots, b_slots in zip(src.optimizer.slot_values, dst.optimizer.slot_values):
        for name in a_slots:
            np.testing.assert_array_equal(a_slots[name], b_slots[name])


@pytest.mark.parametrize("build", [_seed, _cnn, _rnn, _nested])
def test_round_trip_models(tmp_path: Path, build: Any) -> None:
    src = build()
    _randomize(src, 5)
    save_weights(src, tmp_path / "ckpt")
    dst = build()
    result = load_weights(dst, tmp_path / "ckpt")
    assert len(result.restored) == len(src.weights)
    for a, b in zip(src.weights, dst.weights):
        np.testing.assert_array_equal(a.value, b.value)


def test_round_trip_nadam_u_product(tmp_path: Path) -> None:
    m = _seed()
    m.compile(pk.optimizers.Nadam(), "mse")
    assert m.optimizer is not None
    m.optimizer.build(m.trainable_weights)
    m.optimizer.iterations = 5
    m.optimizer.extra_values["u_product"] = np.asarray(0.25, np.float32)
    save_weights(m, tmp_path / "ckpt")
    assert "optimizer/_u_product" in _keys(tmp_path / "ckpt")
    dst = _seed()
    dst.compile(pk.optimizers.Nadam(), "mse")
    load_weights(dst, tmp_path / "ckpt")
    assert dst.optimizer is not None and dst.optimizer.iterations == 5
    assert float(dst.optimizer.extra_values["u_product"]) == 0.25


def test_optimizer_state_ignored_without_optimizer(tmp_path: Path) -> None:
    save_weights(_adam_model(), tmp_path / "ckpt")
    m = pk.Sequential([L.Dense(4, input_shape=(3,)), L.Dense(2)])
    result = load_weights(m, tmp_path / "ckpt")
    assert not result.optimizer_restored
    assert "optimizer/_iterations" + SUFFIX in result.unused


def test_deterministic(tmp_path: Path) -> None:
    m = _adam_model()
    save_weights(m, tmp_path / "a" / "ckpt")
    save_weights(m, tmp_path / "b" / "ckpt")
    for name in ("ckpt.index", "ckpt.data-00000-of-00001", "checkpoint"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_model_methods_route_here(tmp_path: Path) -> None:
    m = _seed()
    _randomize(m, 7)
    m.save_weights(str(tmp_path / "w" / "ckpt"))
    assert (tmp_path / "w" / "ckpt.index").is_file()
    dst = _seed()
    dst.load_weights(str(tmp_path / "w" / "ckpt"))
    np.testing.assert_array_equal(dst.weights[0].value, m.weights[0].value)


# ============================================================================ checkpoint state


def test_checkpoint_state_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_weights(_seed(), tmp_path / "ckpt")
    text = (tmp_path / CHECKPOINT_STATE_FILENAME).read_text()
    assert text == 'model_checkpoint_path: "ckpt"\nall_model_checkpoint_paths: "ckpt"\n'
    state = read_checkpoint_state(tmp_path)
    assert state.model_checkpoint_path == "ckpt"
    assert latest_checkpoint(tmp_path) == str(tmp_path / "ckpt")
    # a second save in the folder replaces the state (tf_keras keeps one path)
    save_weights(_seed(), tmp_path / "other")
    assert read_checkpoint_state(tmp_path).all_model_checkpoint_paths == ["other"]
    # relative prefixes are written relative to their folder too
    monkeypatch.chdir(tmp_path)
    save_weights(_seed(), os.path.join("rel", "ck"))
    assert read_checkpoint_state(tmp_path / "rel").model_checkpoint_path == "ck"


def test_load_from_folder(tmp_path: Path) -> None:
    src = _seed()
    _randomize(src, 3)
    save_weights(src, tmp_path / "ckpt")
    dst = _seed()
    assert load_weights(dst, tmp_path).prefix == str(tmp_path / "ckpt")
    np.testing.assert_array_equal(dst.weights[1].value, src.weights[1].value)


def test_prefix_named_checkpoint_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="conflicts"):
        save_weights(_seed(), tmp_path / "checkpoint")


# ============================================================================ errors


def test_architecture_mismatch_changes_nothing(tmp_path: Path) -> None:
    save_weights(_seed(), tmp_path / "ckpt")
    other = pk.Sequential([L.Dense(6, input_shape=(3,)), L.Softmax()])
    before = [w.value.copy() for w in other.weights]
    with pytest.raises(ConfigError, match="incompatible tensor with shape"):
        load_weights(other, tmp_path / "ckpt")
    for b, w in zip(before, other.weights):
        np.testing.assert_array_equal(b, w.value)
    with pytest.raises(ConfigError, match="no value for 2 variable"):
        load_weights(pk.Sequential([L.Dense(5, input_shape=(3,)), L.Dense(2)]), tmp_path / "ckpt")


def test_missing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_weights(_seed(), tmp_path / "nothing")


def test_unbuilt_model_is_refused(tmp_path: Path) -> None:
    m = pk.Sequential([L.Dense(2)])
    with pytest.raises(ConfigError, match="not yet been created"):
        save_weights(m, tmp_path / "ckpt")
    assert not (tmp_path / "ckpt.index").exists()
