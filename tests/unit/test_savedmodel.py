"""SavedModel directories without TensorFlow: structure (savedmodel.md §2, §7, §8), determinism,
round trips through our reader, atomic replacement, options, and hostile directories."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import purekeras_io as pk
from purekeras_io import savedmodel, tensorbundle
from purekeras_io._proto.keras import saved_metadata_pb2
from purekeras_io._proto.tf import saved_model_pb2, trackable_object_graph_pb2
from purekeras_io.errors import (
    ConfigError,
    FileExistsRefusedError,
    FormatError,
    UnsupportedFeatureError,
)
from purekeras_io.model.base import Model
from purekeras_io.model.layer import UnknownLayer
from purekeras_io.savedmodel import layout, writer
from purekeras_io.savedmodel.optimizer_state import keras2_slot_order

L = pk.layers
FILES = [
    "saved_model.pb",
    "keras_metadata.pb",
    "fingerprint.pb",
    "variables/variables.index",
    "variables/variables.data-00000-of-00001",
]


@pytest.fixture(autouse=True)
def _quiet() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _seed() -> Model:
    pk.clear_session()
    return pk.Sequential([L.Dense(5, input_shape=(3,)), L.Softmax()])


def _cnn() -> Model:
    pk.clear_session()
    x = pk.Input((8, 8, 3), name="img")
    y = L.Conv2D(3, 3, padding="same", name="conv")(x)
    y = L.BatchNormalization(name="bn")(y)
    y = L.Add(name="add")([L.ReLU(name="relu")(y), x])
    y = L.Dense(2, name="out")(L.GlobalAveragePooling2D(name="gap")(y))
    m = pk.Model(x, y, name="cnn")
    rng = np.random.RandomState(0)
    for var in m.weights:
        var.assign(rng.rand(*var.shape).astype("float32") + 0.1)
    return m


def _nested() -> Model:
    pk.clear_session()
    inner = pk.Sequential([L.Dense(3, input_shape=(5,), name="in_d1"), L.Dense(2, name="in_d2")],
                          name="inner")
    a, b = pk.Input((5,), name="a"), pk.Input((5,), name="b")
    shared = L.Dense(5, name="shared")
    y1, y2 = inner(shared(a)), inner(shared(b))
    o1 = L.Dense(1, name="o1")(L.Concatenate(name="cat")([y1, y2]))
    o2 = L.Dense(2, name="o2")(L.Bidirectional(L.LSTM(3), name="bidi")(L.Reshape((2, 1))(y2)))
    return pk.Model([a, b], [o1, o2], name="multi")


def _with_state(model: Model, optimizer: Any, seed: int = 0) -> Model:
    model.compile(optimizer, "mse", metrics=["mae"])
    opt = model.optimizer
    assert opt is not None
    rng = np.random.RandomState(seed)
    opt.set_state(
        11,
        [{s.keras3: rng.rand(*v.shape).astype("float32") for s in opt.active_slots()}
         for v in model.trainable_weights],
    )
    return model


def _read_pb(path: Path) -> saved_model_pb2.SavedModel:
    sm = saved_model_pb2.SavedModel()
    sm.ParseFromString((path / "saved_model.pb").read_bytes())
    return sm


def _read_md(path: Path) -> saved_metadata_pb2.SavedMetadata:
    md = saved_metadata_pb2.SavedMetadata()
    md.ParseFromString((path / "keras_metadata.pb").read_bytes())
    return md


def _read_tog(path: Path) -> trackable_object_graph_pb2.TrackableObjectGraph:
    tensors = tensorbundle.read(path / "variables" / "variables")
    tog = trackable_object_graph_pb2.TrackableObjectGraph()
    tog.ParseFromString(bytes(tensors[layout.OBJECT_GRAPH_KEY][()]))
    return tog


def _children(graph: Any, node: int) -> dict[str, int]:
    return {c.local_name: c.node_id for c in graph.nodes[node].children}


# ============================================================================ structure


def test_seed_structure(tmp_path: Path) -> None:
    model = _seed()
    savedmodel.save(model, tmp_path / "m")
    root = tmp_path / "m"
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == sorted(FILES)
    assert (root / "assets").is_dir() and not list((root / "assets").iterdir())
    sm = _read_pb(root)
    assert sm.saved_model_schema_version == 1 and len(sm.meta_graphs) == 1
    mg = sm.meta_graphs[0]
    assert list(mg.meta_info_def.tags) == ["serve"]
    assert mg.meta_info_def.tensorflow_version == "2.21.0"
    assert (mg.graph_def.versions.producer, mg.graph_def.versions.min_consumer) == (2474, 12)
    og = mg.object_graph_def
    assert og.nodes[0].user_object.identifier == "_tf_keras_sequential"
    assert [c.local_name for c in og.nodes[0].children] == [
        "layer_with_weights-0", "layer-0", "layer-1", "variables", "trainable_variables",
        "signatures", "__call__", "serve"]
    dense = _children(og, 0)["layer-0"]
    assert _children(og, 0)["layer_with_weights-0"] == dense
    kernel = og.nodes[_children(og, dense)["kernel"]].variable
    assert kernel.name == "dense/kernel" and [d.size for d in kernel.shape.dim] == [3, 5]
    assert kernel.trainable and kernel.dtype == 1
    assert not og.nodes[0].user_object.metadata
    md = _read_md(root)
    assert [(n.node_id, n.node_path, n.identifier) for n in md.nodes] == [
        (0, "root", "_tf_keras_sequential"),
        (1, "root.layer_with_weights-0", "_tf_keras_layer"),
        (2, "root.layer-1", "_tf_keras_layer"),
    ]
    assert all((n.version.producer, n.version.min_consumer) == (2, 1) for n in md.nodes)
    meta = json.loads(md.nodes[0].metadata)
    assert meta["class_name"] == "Sequential" and meta["name"] == model.name
    assert meta["trainable"] is True and meta["keras_version"] == "2.21.0"
    assert meta["model_config"]["class_name"] == "Sequential"
    assert "training_config" not in meta
    layer = json.loads(md.nodes[1].metadata)
    assert layer["build_input_shape"] == {"class_name": "TensorShape", "items": [None, 3]}
    assert layer["batch_input_shape"] == {"class_name": "__tuple__", "items": [None, 3]}
    keys = set(tensorbundle.read(root / "variables" / "variables"))
    assert keys == {
        "_CHECKPOINTABLE_OBJECT_GRAPH",
        "layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE",
        "layer_with_weights-0/bias/.ATTRIBUTES/VARIABLE_VALUE",
    }
    tog = _read_tog(root)
    assert len(tog.nodes) == len(og.nodes)
    for i, node in enumerate(tog.nodes):
        assert [(c.local_name, c.node_id) for c in node.children] == [
            (c.local_name, c.node_id) for c in og.nodes[i].children]
    attr = tog.nodes[_children(og, dense)["kernel"]].attributes[0]
    assert (attr.name, attr.full_name) == ("VARIABLE_VALUE", "dense/kernel")
    assert attr.checkpoint_key == "layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE"
    assert tog.nodes[0].has_checkpoint_values.value
    assert not tog.nodes[_children(og, 0)["layer-1"]].has_checkpoint_values.value


def test_functional_nested_rnn_structure(tmp_path: Path) -> None:
    model = _nested()
    savedmodel.save(model, tmp_path / "m")
    og = _read_pb(tmp_path / "m").meta_graphs[0].object_graph_def
    root = _children(og, 0)
    assert og.nodes[0].user_object.identifier == "_tf_keras_network"
    layer_names = sorted(n for n in root if n.startswith("layer-"))
    assert len(layer_names) == len(model.layers)
    assert og.nodes[root["layer-0"]].user_object.identifier == "_tf_keras_input_layer"
    inner = root[f"layer-{[la.name for la in model.layers].index('inner')}"]
    assert og.nodes[inner].user_object.identifier == "_tf_keras_sequential"
    assert set(_children(og, inner)) == {
        "layer_with_weights-0", "layer-0", "layer_with_weights-1", "layer-1"}
    bidi = root[f"layer-{[la.name for la in model.layers].index('bidi')}"]
    fwd = _children(og, bidi)["forward_layer"]
    assert og.nodes[fwd].user_object.identifier == "_tf_keras_rnn_layer"
    cell = _children(og, fwd)["cell"]
    assert set(_children(og, cell)) == {"kernel", "recurrent_kernel", "bias"}
    keys = set(tensorbundle.read(tmp_path / "m" / "variables" / "variables"))
    # Weights of nested layers are keyed by the root's ``variables`` list (its path is the
    # shortest), as TensorFlow keys them (checked with tf_keras 2.21: a Dense inside a nested
    # Sequential is ``variables/0/.ATTRIBUTES/VARIABLE_VALUE``).
    position = {id(w): i for i, w in enumerate(model.weights)}
    inner_kernel = model.get_layer("inner").weights[0]
    assert f"variables/{position[id(inner_kernel)]}/.ATTRIBUTES/VARIABLE_VALUE" in keys
    back = next(w for w in model.get_layer("bidi").weights
                if "backward" in (w.path or w.name) and "recurrent_kernel" in (w.path or w.name))
    assert f"variables/{position[id(back)]}/.ATTRIBUTES/VARIABLE_VALUE" in keys
    # the shared Dense is one node, its variables one key each
    assert len(keys) == 1 + len(model.weights)
    md = _read_md(tmp_path / "m")
    paths = {n.node_path for n in md.nodes}
    k_bidi = next(n for n in root if n.startswith("layer_with_weights") and root[n] == bidi)
    assert f"root.{k_bidi}.forward_layer.cell" in paths


def test_mha_uses_tf_keras_attribute_names(tmp_path: Path) -> None:
    pk.clear_session()
    x = pk.Input((4, 6))
    model = pk.Model(x, L.MultiHeadAttention(num_heads=2, key_dim=3, name="mha")(x, x))
    savedmodel.save(model, tmp_path / "m")
    og = _read_pb(tmp_path / "m").meta_graphs[0].object_graph_def
    mha = _children(og, 0)["layer_with_weights-0"]
    assert {"_query_dense", "_key_dense", "_value_dense", "_output_dense"} <= set(
        _children(og, mha))
    # sub-layer weights are keyed by the root's ``variables`` list (the shortest path), as TF
    keys = set(tensorbundle.read(tmp_path / "m" / "variables" / "variables"))
    assert keys == {"_CHECKPOINTABLE_OBJECT_GRAPH"} | {
        f"variables/{i}/.ATTRIBUTES/VARIABLE_VALUE" for i in range(len(model.weights))}


def test_optimizer_only_in_checkpoint(tmp_path: Path) -> None:
    model = _with_state(_seed(), pk.optimizers.Adam(learning_rate=0.01))
    savedmodel.save(model, tmp_path / "m")
    og = _read_pb(tmp_path / "m").meta_graphs[0].object_graph_def
    assert "optimizer" not in _children(og, 0)
    tog = _read_tog(tmp_path / "m")
    opt = _children(tog, 0)["optimizer"]
    assert opt >= len(og.nodes)
    assert set(_children(tog, opt)) == {"_variables", "_iterations", "_learning_rate"}
    var_list = _children(tog, _children(tog, opt)["_variables"])
    assert var_list["0"] == _children(tog, opt)["_iterations"]
    assert sorted(var_list, key=int) == ["0", "1", "2", "3", "4"]
    tensors = tensorbundle.read(tmp_path / "m" / "variables" / "variables")
    it = tensors["optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"]
    assert it.dtype == np.int64 and it.shape == () and int(it) == 11
    lr = tensors["optimizer/_learning_rate/.ATTRIBUTES/VARIABLE_VALUE"]
    assert lr.dtype == np.float32 and float(lr) == pytest.approx(0.01)
    slots = model.optimizer.slot_values  # type: ignore[union-attr]
    assert slots is not None
    # tf_keras order: m0 v0 m1 v1
    want = [slots[0]["momentum"], slots[0]["velocity"], slots[1]["momentum"], slots[1]["velocity"]]
    for k, w in enumerate(want, start=1):
        key = f"optimizer/_variables/{k}/.ATTRIBUTES/VARIABLE_VALUE"
        np.testing.assert_array_equal(tensors[key], w)
    names = [tog.nodes[var_list[str(k)]].attributes[0].full_name for k in range(1, 5)]
    assert names == ["Adam/m/dense/kernel", "Adam/v/dense/kernel", "Adam/m/dense/bias",
                     "Adam/v/dense/bias"]
    meta = json.loads(_read_md(tmp_path / "m").nodes[0].metadata)
    assert meta["training_config"]["optimizer_config"]["class_name"] == "Custom>Adam"
    assert meta["training_config"]["loss"] == "mse"


def test_include_optimizer_false(tmp_path: Path) -> None:
    model = _with_state(_seed(), "adam")
    savedmodel.save(model, tmp_path / "m", include_optimizer=False)
    keys = set(tensorbundle.read(tmp_path / "m" / "variables" / "variables"))
    assert not any(k.startswith("optimizer/") for k in keys)
    assert "training_config" not in json.loads(_read_md(tmp_path / "m").nodes[0].metadata)
    assert savedmodel.load(tmp_path / "m").compile_info is None


@pytest.mark.parametrize(
    ("cls", "kwargs", "order"),
    [
        (pk.optimizers.Adam, {"amsgrad": True}, ["m", "v", "m", "v", "vhat", "vhat"]),
        (pk.optimizers.RMSprop, {"momentum": 0.5, "centered": True},
         ["velocity", "velocity", "momentum", "momentum", "average_gradient", "average_gradient"]),
        (pk.optimizers.SGD, {"momentum": 0.9}, ["m", "m"]),
        (pk.optimizers.Adadelta, {}, ["accumulated_grad", "accumulated_delta_var"] * 2),
    ],
)
def test_keras2_slot_order(cls: Any, kwargs: dict[str, Any], order: list[str]) -> None:
    opt = cls(**kwargs)
    assert [s.keras2 for _, s in keras2_slot_order(opt, 2)] == order


# ============================================================================ determinism


def _all_bytes(path: Path) -> dict[str, bytes]:
    return {f: (path / f).read_bytes() for f in FILES}


def test_deterministic_bytes(tmp_path: Path) -> None:
    model = _with_state(_cnn(), pk.optimizers.Adam())
    savedmodel.save(model, tmp_path / "a")
    savedmodel.save(model, tmp_path / "b")
    assert _all_bytes(tmp_path / "a") == _all_bytes(tmp_path / "b")
    # the same model built again (fresh objects, same names and values)
    again = _with_state(_cnn(), pk.optimizers.Adam())
    savedmodel.save(again, tmp_path / "c")
    assert _all_bytes(tmp_path / "a") == _all_bytes(tmp_path / "c")


def test_data_in_sorted_key_order(tmp_path: Path) -> None:
    savedmodel.save(_cnn(), tmp_path / "m")
    with tensorbundle.BundleReader(tmp_path / "m" / "variables" / "variables") as reader:
        offsets = [reader.entry(k).offset for k in reader.keys()]
    assert offsets == sorted(offsets)


# ============================================================================ round trips


@pytest.mark.parametrize("build", [_seed, _cnn, _nested])
def test_round_trip_weights(tmp_path: Path, build: Any) -> None:
    model = build()
    rng = np.random.RandomState(3)
    for var in model.weights:
        var.assign(rng.rand(*var.shape).astype(var.value.dtype))
    pk.models.save_model(model, tmp_path / "m")
    back = pk.models.load_model(tmp_path / "m")
    assert type(back) is type(model)
    assert [la.name for la in back.layers] == [la.name for la in model.layers]
    assert len(back.weights) == len(model.weights)
    for a, b in zip(model.weights, back.weights):
        np.testing.assert_array_equal(a.value, b.value)
    assert back.compile_info is None


@pytest.mark.parametrize(
    "optimizer",
    [
        pk.optimizers.Adam(learning_rate=0.003, amsgrad=True),
        pk.optimizers.RMSprop(momentum=0.5, centered=True),
        pk.optimizers.SGD(learning_rate=0.1, momentum=0.9),
        pk.optimizers.Adagrad(),
    ],
)
def test_round_trip_optimizer_state(tmp_path: Path, optimizer: Any) -> None:
    model = _with_state(_nested(), optimizer, seed=4)
    savedmodel.save(model, tmp_path / "m")
    back = savedmodel.load(tmp_path / "m")
    assert back.compile_info is not None and back.optimizer is not None
    assert type(back.optimizer) is type(optimizer)
    want_cfg = {k: v for k, v in optimizer.config.items() if k != "learning_rate"}
    assert {k: v for k, v in back.optimizer.config.items() if k != "learning_rate"} == want_cfg
    assert back.optimizer.learning_rate == pytest.approx(optimizer.learning_rate, rel=1e-7)
    assert back.compile_info.loss == "mse" and back.compile_info.metrics == ["mae"]
    assert back.optimizer.iterations == 11
    assert back.optimizer.slot_values is not None and optimizer.slot_values is not None
    for want, got in zip(optimizer.slot_values, back.optimizer.slot_values):
        assert sorted(want) == sorted(got)
        for name in want:
            np.testing.assert_array_equal(want[name], got[name])
    assert pk.models.load_model(tmp_path / "m", compile=False).compile_info is None


def test_optimizer_state_that_does_not_fit_warns(tmp_path: Path) -> None:
    path = tmp_path / "m"
    savedmodel.save(_with_state(_seed(), "adam"), path)

    def drop_last_slot(tog: Any) -> None:
        opt = _children(tog, 0)["optimizer"]
        var_list = tog.nodes[_children(tog, opt)["_variables"]]
        kept = [c for c in var_list.children if c.local_name != "4"]
        del var_list.children[:]
        var_list.children.extend(kept)

    _rewrite_bundle(path, _edit_tog(drop_last_slot))
    with pytest.warns(UserWarning, match="do not fit"):
        back = savedmodel.load(path)
    assert back.optimizer is not None and back.optimizer.iterations == 11
    assert back.optimizer.slot_values is None


def test_unused_checkpoint_values_warn(tmp_path: Path) -> None:
    path = _good(tmp_path)
    key = "layer_with_weights-0/extra/.ATTRIBUTES/VARIABLE_VALUE"

    def add_extra(tensors: dict[str, Any]) -> None:
        tensors[key] = np.zeros(3, np.float32)

        def edit(tog: Any) -> None:
            layer = _children(tog, 0)["layer_with_weights-0"]
            node = tog.nodes.add()
            node.attributes.add(name="VARIABLE_VALUE", checkpoint_key=key)
            tog.nodes[layer].children.add(node_id=len(tog.nodes) - 1, local_name="extra")

        _edit_tog(edit)(tensors)

    _rewrite_bundle(path, add_extra)
    with pytest.warns(UserWarning, match=r"not used: \['root.layer_with_weights-0.extra'\]"):
        savedmodel.load(path)


def test_unbuilt_optimizer_writes_iterations_only(tmp_path: Path) -> None:
    model = _seed()
    model.compile("adam", "mse")
    savedmodel.save(model, tmp_path / "m")
    keys = set(tensorbundle.read(tmp_path / "m" / "variables" / "variables"))
    assert "optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE" in keys
    assert not any("_variables/1" in k for k in keys)
    back = savedmodel.load(tmp_path / "m")
    assert back.optimizer is not None and back.optimizer.iterations == 0


# ============================================================================ writing


def test_overwrite_replaces_atomically(tmp_path: Path) -> None:
    target = tmp_path / "m"
    savedmodel.save(_seed(), target)
    (target / "variables" / "stale.txt").write_text("old")
    savedmodel.save(_cnn(), target)
    assert not (target / "variables" / "stale.txt").exists()
    assert isinstance(savedmodel.load(target), pk.Functional)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    # a file in the way is replaced too
    (tmp_path / "f").write_text("x")
    savedmodel.save(_seed(), tmp_path / "f")
    assert (tmp_path / "f" / "saved_model.pb").exists()


def test_failure_leaves_target_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "m"
    savedmodel.save(_seed(), target)
    before = _all_bytes(target)

    def boom(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(writer, "build_saved_metadata", boom)
    with pytest.raises(OSError, match="disk full"):
        savedmodel.save(_cnn(), target)
    assert _all_bytes(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_options_and_signatures(tmp_path: Path) -> None:
    model = _seed()
    savedmodel.save(model, tmp_path / "a", options=savedmodel.SaveOptions(fsync=True))
    savedmodel.save(model, tmp_path / "b", options={"experimental_io_device": "/job:localhost"})

    class SaveOptions:  # stands in for tf.saved_model.SaveOptions (duck-typed by name)
        namespace_whitelist = None
        save_debug_info = False

    savedmodel.save(model, tmp_path / "c", options=SaveOptions())
    assert _all_bytes(tmp_path / "a") == _all_bytes(tmp_path / "b") == _all_bytes(tmp_path / "c")
    with pytest.raises(ConfigError, match="unknown option"):
        savedmodel.save(model, tmp_path / "d", options={"bogus": 1})
    with pytest.raises(ConfigError, match="options must be"):
        savedmodel.save(model, tmp_path / "d", options=42)
    with pytest.raises(UnsupportedFeatureError, match=r"tf\.function"):
        savedmodel.save(model, tmp_path / "d", signatures={"serving_default": lambda x: x})
    with pytest.raises(ConfigError, match="rank"):
        savedmodel.save(model, tmp_path / "d", signatures={"s": (None, 3, 1)})
    with pytest.raises(ConfigError, match="does not name a new folder"):
        savedmodel.save(model, "/")
    with pytest.raises(ConfigError, match="does not name a new folder"):
        savedmodel.save(model, ".")
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsRefusedError, match="not part of a SavedModel"):
        savedmodel.save(model, tmp_path / "home")
    assert (tmp_path / "home" / "notes.txt").read_text() == "mine"
    (tmp_path / "empty").mkdir()
    savedmodel.save(model, tmp_path / "empty")
    with pytest.raises(ConfigError, match="not built"):
        savedmodel.save(pk.Sequential([L.Dense(2)]), tmp_path / "d")
    assert not (tmp_path / "d").exists()


def test_save_options_debug_info_tags_and_refusals(tmp_path: Path) -> None:
    from purekeras_io._proto.tf import graph_debug_info_pb2, saved_model_pb2

    model = _cnn()
    opts = {"save_debug_info": True, "extra_tags": ["gpu", "serve"]}
    savedmodel.save(model, tmp_path / "a", options=opts)
    savedmodel.save(model, tmp_path / "b", options=opts)
    assert _all_bytes(tmp_path / "a") == _all_bytes(tmp_path / "b")
    info = graph_debug_info_pb2.GraphDebugInfo()
    info.ParseFromString((tmp_path / "a" / "debug" / "saved_model_debug_info.pb").read_bytes())
    sm = saved_model_pb2.SavedModel()
    sm.ParseFromString((tmp_path / "a" / "saved_model.pb").read_bytes())
    meta = sm.meta_graphs[0]
    assert list(meta.meta_info_def.tags) == ["serve", "gpu"]
    nodes = {f"{n.name}@{f.signature.name}" for f in meta.graph_def.library.function
             for n in f.node_def}
    assert nodes and set(info.name_to_trace_id) == nodes
    layer_names = {layer.name for layer in model.iter_layers()
                   if layer.class_name() != "InputLayer"}
    funcs = {info.frames_by_id[info.traces_by_id[t].frame_id[-1]].func
             for t in info.name_to_trace_id.values()}
    assert layer_names <= funcs
    assert pk.models.load_model(tmp_path / "a").count_params() == model.count_params()
    savedmodel.save(model, tmp_path / "c")
    assert not (tmp_path / "c" / "debug").exists()
    for bad in ({"experimental_image_format": True},
                {"experimental_sharding_callback": object()}):
        with pytest.raises(UnsupportedFeatureError, match=next(iter(bad))):
            savedmodel.save(model, tmp_path / "d", options=bad)
    with pytest.raises(ConfigError, match="extra_tags"):
        savedmodel.save(model, tmp_path / "d", options={"extra_tags": "gpu"})
    assert not (tmp_path / "d").exists()


def test_unlowerable_layer_warns_and_writes_no_signature(tmp_path: Path) -> None:
    model = _seed()
    unknown = UnknownLayer("MyLayer", name="mine")
    functional = pk.Model(model.inputs[0], unknown(model.outputs[0]), name="with_unknown")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        savedmodel.save(model, tmp_path / "a")
        assert not [w for w in caught if "lowering" in str(w.message)]
        savedmodel.save(functional, tmp_path / "b")
    assert [w for w in caught if "mine (MyLayer)" in str(w.message)]
    mg = _read_pb(tmp_path / "b").meta_graphs[0]
    assert "serving_default" not in mg.signature_def and not mg.graph_def.library.function
    with pytest.raises(UnsupportedFeatureError, match="mine"):
        savedmodel.save(functional, tmp_path / "c", signatures={"serving_default": None})
    assert not (tmp_path / "c").exists()


def test_save_model_dispatch(tmp_path: Path) -> None:
    model = _seed()
    model.save(str(tmp_path / "m"), save_format="tf")
    assert (tmp_path / "m" / "keras_metadata.pb").exists()


# ============================================================================ hostile directories


def _good(tmp_path: Path) -> Path:
    target = tmp_path / "m"
    savedmodel.save(_with_state(_seed(), "adam"), target)
    return target


def _rewrite_bundle(path: Path, edit: Any) -> None:
    prefix = path / "variables" / "variables"
    tensors = {k: np.array(v) for k, v in tensorbundle.read(prefix).items()}
    edit(tensors)
    for f in (path / "variables").iterdir():
        f.unlink()
    tensorbundle.write(prefix, tensors)


def _set_tog(tensors: dict[str, Any], tog: Any) -> None:
    arr = np.empty((), dtype=object)
    arr[()] = tog.SerializeToString()
    tensors[layout.OBJECT_GRAPH_KEY] = arr


def _edit_tog(edit: Any) -> Any:
    def run(tensors: dict[str, Any]) -> None:
        tog = trackable_object_graph_pb2.TrackableObjectGraph()
        tog.ParseFromString(bytes(tensors[layout.OBJECT_GRAPH_KEY][()]))
        edit(tog)
        _set_tog(tensors, tog)
    return run


def _edit_root_meta(path: Path, edit: Any) -> None:
    md = _read_md(path)
    md.nodes[0].metadata = edit(md.nodes[0].metadata)
    (path / "keras_metadata.pb").write_bytes(md.SerializeToString())


HOSTILE: dict[str, tuple[Any, str]] = {
    "no saved_model.pb": (lambda p: (p / "saved_model.pb").unlink(), "saved_model.pb: missing"),
    "garbage saved_model.pb": (
        lambda p: (p / "saved_model.pb").write_bytes(b"\xff\xff\xff garbage"), "not a valid"),
    "empty saved_model.pb": (lambda p: (p / "saved_model.pb").write_bytes(b""), "no MetaGraphDef"),
    "no keras_metadata.pb": (
        lambda p: (p / "keras_metadata.pb").unlink(), "tf.saved_model.save"),
    "garbage keras_metadata.pb": (
        lambda p: (p / "keras_metadata.pb").write_bytes(b"\x0a\xff\xff"), "not a valid"),
    "metadata not JSON": (lambda p: _edit_root_meta(p, lambda s: s[:-5]), "not valid JSON"),
    "metadata a list": (lambda p: _edit_root_meta(p, lambda s: "[1, 2]"), "expected an object"),
    "metadata without config": (
        lambda p: _edit_root_meta(p, lambda s: json.dumps({"name": "x"})), "neither model_config"),
    "bad model config": (
        lambda p: _edit_root_meta(p, lambda s: json.dumps(
            {"model_config": {"class_name": "Dense", "config": {"units": 2}}})), "not a model"),
    "config of the wrong shape": (
        lambda p: _edit_root_meta(p, lambda s: json.dumps(
            {"model_config": {"class_name": "Sequential", "config": {"layers": [7]}}})),
        r"model_config\.config\.layers\[0\]: expected a layer config entry .*received 7"),
    "deeply nested metadata": (
        lambda p: _edit_root_meta(p, lambda s: "[" * 100000 + "]" * 100000),
        "nested deeper than 100 levels"),
    "bad training_config": (
        lambda p: _edit_root_meta(p, lambda s: json.dumps(
            {**json.loads(s), "training_config": {"loss": "mse"}})), "optimizer_config"),
    "no root metadata": (
        lambda p: (p / "keras_metadata.pb").write_bytes(
            saved_metadata_pb2.SavedMetadata(nodes=[{"node_id": 3}]).SerializeToString()),
        "no metadata for the root"),
    "no variables": (lambda p: shutil.rmtree(p / "variables"), "variables.index: missing"),
    "no object graph": (
        lambda p: _rewrite_bundle(p, lambda t: t.pop(layout.OBJECT_GRAPH_KEY)),
        "no _CHECKPOINTABLE_OBJECT_GRAPH"),
    "object graph not a string": (
        lambda p: _rewrite_bundle(
            p, lambda t: t.__setitem__(layout.OBJECT_GRAPH_KEY, np.zeros(3, np.float32))),
        "must be a string scalar"),
    "object graph garbage": (
        lambda p: _rewrite_bundle(p, lambda t: t.__setitem__(
            layout.OBJECT_GRAPH_KEY, np.array(b"\xff\xff", dtype=object))),
        "does not parse"),
    "object graph empty": (
        lambda p: _rewrite_bundle(p, lambda t: _set_tog(
            t, trackable_object_graph_pb2.TrackableObjectGraph())), "has no nodes"),
    "child id out of range": (
        lambda p: _rewrite_bundle(p, _edit_tog(
            lambda g: setattr(g.nodes[0].children[0], "node_id", 9999))), "outside"),
    "variable missing from object graph": (
        lambda p: _rewrite_bundle(p, _edit_tog(lambda g: g.nodes[1].ClearField("children"))),
        "no value for 2 variable"),
    "key missing from bundle": (
        lambda p: _rewrite_bundle(
            p, lambda t: t.pop("layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE")),
        "absent"),
    "wrong shape": (
        lambda p: _rewrite_bundle(p, lambda t: t.__setitem__(
            "layer_with_weights-0/bias/.ATTRIBUTES/VARIABLE_VALUE", np.zeros(7, np.float32))),
        "has shape"),
    "corrupt data": (
        lambda p: (p / "variables" / "variables.data-00000-of-00001").write_bytes(
            b"\0" * (p / "variables" / "variables.data-00000-of-00001").stat().st_size),
        "checksum"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile(tmp_path: Path, case: str) -> None:
    path = _good(tmp_path)
    damage, message = HOSTILE[case]
    damage(path)
    with pytest.raises(FormatError, match=message):
        savedmodel.load(path)


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="not a directory"):
        savedmodel.load(tmp_path / "nothing")
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(FormatError, match="not a directory"):
        savedmodel.load(tmp_path / "file")


def test_legacy_metadata_in_object_graph(tmp_path: Path) -> None:
    """SavedModels from before TF 2.5 keep the root JSON in ``user_object.metadata``."""
    path = _good(tmp_path)
    text = _read_md(path).nodes[0].metadata
    sm = _read_pb(path)
    sm.meta_graphs[0].object_graph_def.nodes[0].user_object.metadata = text
    (path / "saved_model.pb").write_bytes(sm.SerializeToString())
    os.remove(path / "keras_metadata.pb")
    back = savedmodel.load(path)
    assert back.optimizer is not None and back.optimizer.iterations == 11


@pytest.mark.parametrize(
    "name", ["saved_model.pb", "keras_metadata.pb", "variables/variables.index"]
)
def test_fuzzed_files_fail_cleanly(tmp_path: Path, name: str) -> None:
    """Random byte damage either still loads or raises FormatError (never anything else)."""
    path = _good(tmp_path)
    original = (path / name).read_bytes()
    rng = np.random.default_rng(len(name))
    outcomes = {"loaded": 0, "refused": 0}
    for _ in range(60):
        data = bytearray(original)
        for pos in rng.integers(0, len(data), size=int(rng.integers(1, 4))):
            data[pos] = int(rng.integers(0, 256))
        (path / name).write_bytes(bytes(data))
        try:
            savedmodel.load(path)
            outcomes["loaded"] += 1
        except FormatError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 0


def test_serving_input_names_are_tf_keras_names(tmp_path: Path) -> None:
    """A Sequential given ``input_shape`` serves its input as tf_keras names it (``dense_input``,
    as keras_metadata.pb says); an explicit Input keeps its own name."""
    implicit = pk.Sequential([pk.layers.Dense(5, input_shape=(3,)), pk.layers.Softmax()])
    explicit = pk.Sequential([pk.Input((3,), name="features"), pk.layers.Dense(2)])
    first = implicit.layers[0].name  # "dense", or "dense_<n>" after other tests made Dense layers
    for model, name in ((implicit, f"{first}_input"), (explicit, "features")):
        path = tmp_path / name
        model.save(str(path))
        sm = saved_model_pb2.SavedModel.FromString((path / "saved_model.pb").read_bytes())
        sig = sm.meta_graphs[0].signature_def["serving_default"]
        assert list(sig.inputs) == [name]
        assert sig.inputs[name].name == f"serving_default_{name}:0"
