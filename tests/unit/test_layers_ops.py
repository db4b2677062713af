"""Operator layers: the op table, Python operators on KerasTensors, both config dialects and the
translation between them (configs below are verbatim excerpts of tf_keras 2.21 / Keras 3.15.1
``to_json()`` output)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

import purekeras_io as pk
from purekeras_io.errors import (
    ConfigError,
    TargetCompatibilityError,
    UnsupportedFeatureError,
)
from purekeras_io.layers.ops import (
    OPS,
    OpLayer,
    SlicingOpLambda,
    TFOpLambda,
    apply_op,
    apply_operator,
    op_spec,
)
from purekeras_io.model.layer import layer_class


def _input_k2(name: str, shape: list[int | None]) -> dict[str, Any]:
    return {"module": "keras.layers", "class_name": "InputLayer", "config": {
        "batch_input_shape": shape, "dtype": "float32", "sparse": False, "ragged": False,
        "name": name, "optional": False}, "registered_name": None, "name": name,
        "inbound_nodes": []}


def _k2_op(name: str, function: str, nodes: list[Any], shape: Any, cls: str = "TFOpLambda"
           ) -> dict[str, Any]:
    return {"module": "tf_keras.src.layers.core.tf_op_layer", "class_name": cls,
            "config": {"name": name, "trainable": True, "dtype": "float32", "function": function},
            "registered_name": cls, "build_config": {"input_shape": shape}, "name": name,
            "inbound_nodes": nodes}


def _k2_model(layers: list[dict[str, Any]], inputs: list[str], outputs: list[str]) -> str:
    return json.dumps({"class_name": "Functional", "config": {
        "name": "model", "trainable": True, "layers": layers,
        "input_layers": [[n, 0, 0] for n in inputs],
        "output_layers": [[n, 0, 0] for n in outputs]},
        "keras_version": "2.21.0", "backend": "tensorflow"})


# tf_keras: x = inp[:, 1:3] * 2.0 + 1; y = tf.nn.relu6(x); z = tf.reduce_mean(y, -1, True);
# tf.concat([y, z], -1); 2.0 - …; tf.compat.v1.transpose
K2_USER = _k2_model([
    _input_k2("input_1", [None, 4, 5]),
    _k2_op("tf.__operators__.getitem", "__operators__.getitem", [["input_1", 0, 0, {
        "slice_spec": [{"start": None, "stop": None, "step": None},
                       {"start": 1, "stop": 3, "step": None}]}]], [None, 4, 5], "SlicingOpLambda"),
    _k2_op("tf.math.multiply", "math.multiply", [["tf.__operators__.getitem", 0, 0,
                                                  {"y": 2.0, "name": None}]], [None, 2, 5]),
    _k2_op("tf.__operators__.add", "__operators__.add", [["tf.math.multiply", 0, 0,
                                                          {"y": 1, "name": None}]], [None, 2, 5]),
    _k2_op("tf.nn.relu6", "nn.relu6", [["tf.__operators__.add", 0, 0, {}]], [None, 2, 5]),
    _k2_op("tf.math.reduce_mean", "math.reduce_mean", [["tf.nn.relu6", 0, 0, {
        "axis": -1, "keepdims": True}]], [None, 2, 5]),
    _k2_op("tf.concat", "concat", [[["tf.nn.relu6", 0, 0, {"axis": -1}],
                                    ["tf.math.reduce_mean", 0, 0, {"axis": -1}]]],
           [[None, 2, 5], [None, 2, 1]]),
    _k2_op("tf.math.subtract", "math.subtract", [["_CONSTANT_VALUE", -1, 2.0, {
        "y": ["tf.concat", 0, 0], "name": None}]], []),
    _k2_op("tf.compat.v1.transpose", "compat.v1.transpose", [["tf.math.subtract", 0, 0, {
        "perm": [0, 2, 1], "name": "transpose", "conjugate": False}]], [None, 2, 6]),
], ["input_1"], ["tf.compat.v1.transpose"])


def _k2_user_numpy(x: np.ndarray) -> np.ndarray:
    y = np.clip(x[:, 1:3] * 2.0 + 1, 0, 6)
    w = np.concatenate([y, y.mean(-1, keepdims=True)], -1)
    return np.transpose(2.0 - w, (0, 2, 1))


def _one(y: Any) -> np.ndarray:
    """tf_keras configs list outputs (``[["name", 0, 0]]``): one output comes back as a list."""
    return np.asarray(y[0] if isinstance(y, list) and len(y) == 1 else y)


X = np.random.default_rng(0).uniform(0.5, 1.5, size=(3, 4, 5)).astype("float32")


@pytest.fixture(autouse=True)
def _fresh_names() -> None:
    pk.clear_session()


# ============================================================================ the table


def test_table_tf_names_unique_and_params_consistent() -> None:
    seen: dict[str, str] = {}
    for spec in OPS.values():
        for name in spec.tf:
            assert name not in seen, f"{name} in {seen.get(name)} and {spec.key}"
            seen[name] = spec.key
        if spec.tf:
            k3_names = {k for _, k in spec.tf_params}
            assert spec.tf_params[0][1] == spec.call[0], spec.key
            assert k3_names <= set(spec.call) | set(spec.attrs) | set(spec.tf_only), spec.key
        assert set(spec.k3_only) <= set(spec.attrs), spec.key
        json.dumps(spec.attrs)


def test_every_keras3_class_is_registered_under_its_module() -> None:
    for spec in OPS.values():
        if spec.k3 is None:
            continue
        cls = layer_class(spec.k3, "keras.src.ops." + spec.k3_module)
        assert cls is not None and issubclass(cls, OpLayer) and cls.class_name() == spec.k3


def test_module_decides_between_op_and_layer() -> None:
    assert layer_class("Add", "keras.src.ops.numpy") is not layer_class("Add", "keras.layers")
    assert layer_class("Add", "keras.layers") is pk.layers.Add
    assert layer_class("TFOpLambda", "tf_keras.src.layers.core.tf_op_layer") is TFOpLambda
    assert layer_class("SlicingOpLambda") is SlicingOpLambda


@pytest.mark.parametrize("name,key", [
    ("Multiply", "multiply"), ("math.multiply", "multiply"), ("tf.math.reduce_mean", "mean"),
    ("compat.v1.transpose", "transpose"), ("Abs", "absolute"), ("__operators__.add", "add"),
    ("relu6", "relu6"),
])
def test_op_spec_lookup(name: str, key: str) -> None:
    spec = op_spec(name)
    assert spec is not None and spec.key == key


# ============================================================================ building


def test_python_operators_record_keras3_ops() -> None:
    a = pk.Input((4, 5))
    outs = {"add": a + 1, "radd": 1 + a, "sub": a - 1, "rsub": 2.0 - a, "mul": a * 2,
            "div": a / 2, "rdiv": 2 / a, "neg": -a, "pow": a**2, "getitem": a[:, 0]}
    classes = {k: v.history[0].class_name() for k, v in outs.items()}
    assert classes == {"add": "Add", "radd": "Add", "sub": "Subtract", "rsub": "Subtract",
                       "mul": "Multiply", "div": "TrueDivide", "rdiv": "TrueDivide",
                       "neg": "Negative", "pow": "Power", "getitem": "GetItem"}
    assert outs["add"].history[0].name == "add" and outs["radd"].history[0].name == "add_1"
    assert outs["getitem"].shape == (None, 5)
    assert outs["rsub"].history[0].inbound_nodes[0].args[0] == 2.0


def test_unknown_python_operator_refuses() -> None:
    with pytest.raises(UnsupportedFeatureError):
        apply_operator("xor", pk.Input((2,)), 1)


def test_apply_op_refuses_unknown_op_and_argument() -> None:
    a = pk.Input((3,))
    with pytest.raises(ConfigError, match="not known"):
        apply_op("frobnicate", a)
    with pytest.raises(ConfigError, match="unknown argument"):
        apply_op("mean", a, axes=1)


@pytest.mark.parametrize("key,kwargs,shape", [
    ("reshape", {"newshape": (-1, 20)}, (None, 20)),
    ("reshape", {"newshape": (-1, 2, 10)}, (None, 2, 10)),
    ("transpose", {"axes": [0, 2, 1]}, (None, 5, 4)),
    ("mean", {"axis": -1, "keepdims": True}, (None, 4, 1)),
    ("sum", {"axis": [1, 2]}, (None,)),
    ("expand_dims", {"axis": 1}, (None, 1, 4, 5)),
    ("tile", {"repeats": [1, 2, 1]}, (None, 8, 5)),
    ("softmax", {"axis": 1}, (None, 4, 5)),
    ("argmax", {"axis": -1}, (None, 4)),
])
def test_symbolic_shapes(key: str, kwargs: dict[str, Any], shape: tuple[Any, ...]) -> None:
    assert apply_op(key, pk.Input((4, 5)), **kwargs).shape == shape


def test_symbolic_broadcast_dtype_and_multiple_outputs() -> None:
    a, b = pk.Input((4, 1)), pk.Input((1, 5))
    assert (a + b).shape == (None, 4, 5)
    assert apply_op("greater", a, 0.5).dtype == "bool"
    assert apply_op("cast", a, dtype="int32").dtype == "int32"
    parts = apply_op("split", pk.Input((4, 6)), indices_or_sections=[1, 4], axis=2)
    assert [p.shape for p in parts] == [(None, 4, 1), (None, 4, 3), (None, 4, 2)]
    rows = apply_op("unstack", pk.Input((4, 6)), axis=1)
    assert len(rows) == 4 and rows[0].shape == (None, 6)


def test_eager_call_on_arrays() -> None:
    np.testing.assert_allclose(apply_op("mean", X, axis=-1, keepdims=True),
                               X.mean(-1, keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(apply_op("subtract", 2.0, X), 2.0 - X)
    assert apply_op("relu6", X * 10).max() == 6.0


def test_getitem_keys_round_trip_both_dialects() -> None:
    a = pk.Input((4, 5, 6))
    keys = [(Ellipsis, 0), (slice(None), None, slice(1, None, 2)), 1, slice(0, 2),
            (slice(None), -1)]
    outs = [a[k] for k in keys]
    model = pk.Model(a, outs)
    x = np.random.default_rng(1).normal(size=(2, 4, 5, 6)).astype("float32")
    expected = [x[k] for k in keys]
    for ours, ref in zip(model.predict(x), expected):
        np.testing.assert_array_equal(ours, ref)
    for dialect in ("keras2", "keras3"):
        again = pk.model_from_json(model.to_json(dialect))
        for ours, ref in zip(again.predict(x), expected):
            np.testing.assert_array_equal(ours, ref)
    k2 = json.loads(model.to_json("keras2"))["config"]["layers"]
    specs = [la["inbound_nodes"][0][3]["slice_spec"] for la in k2[1:]]
    assert specs[0] == [{"class_name": "__ellipsis__"}, 0]
    assert specs[1][1] is None and specs[2] == 1
    k3 = json.loads(model.to_json("keras3"))["config"]["layers"]
    assert k3[1]["inbound_nodes"][0]["args"][1][0] == {"class_name": "__ellipsis__", "config": {}}
    assert k3[4]["inbound_nodes"][0]["args"][1] == [
        {"class_name": "__slice__", "config": {"start": 0, "stop": 2, "step": None}}]


# ============================================================================ tf_keras configs


def test_k2_config_predicts_and_renders_back_verbatim() -> None:
    model = pk.model_from_json(K2_USER)
    np.testing.assert_allclose(_one(model.predict(X)), _k2_user_numpy(X), rtol=1e-6)
    assert isinstance(model.get_layer("tf.concat"), TFOpLambda)
    assert isinstance(model.get_layer("tf.__operators__.getitem"), SlicingOpLambda)
    assert json.loads(model.to_json("keras2")) == json.loads(K2_USER)


def test_k2_config_renders_keras3_ops() -> None:
    model = pk.model_from_json(K2_USER)
    layers = {la["name"]: la for la in json.loads(model.to_json("keras3"))["config"]["layers"]}
    mean = layers["tf.math.reduce_mean"]
    assert mean["module"] == "keras.src.ops.numpy" and mean["class_name"] == "Mean"
    assert mean["registered_name"] == "Mean" and "build_config" not in mean
    assert mean["config"] == {"name": "tf.math.reduce_mean", "axis": -1, "keepdims": True}
    assert layers["tf.concat"]["config"] == {"name": "tf.concat", "axis": -1}
    assert layers["tf.compat.v1.transpose"]["config"]["axes"] == [0, 2, 1]
    sub = layers["tf.math.subtract"]["inbound_nodes"][0]
    assert sub["args"][0] == 2.0 and sub["args"][1]["class_name"] == "__keras_tensor__"
    assert sub["kwargs"] == {}
    again = pk.model_from_json(model.to_json("keras3"))
    np.testing.assert_allclose(_one(again.predict(X)), _k2_user_numpy(X), rtol=1e-6)


def test_k2_unknown_function_is_kept_for_keras2_only() -> None:
    text = _k2_model([
        _input_k2("input_1", [None, 4, 5]),
        _k2_op("tf.image.resize", "image.resize", [["input_1", 0, 0, {"size": [8, 10]}]],
               [None, 4, 5]),
    ], ["input_1"], ["tf.image.resize"])
    model = pk.model_from_json(text)
    assert json.loads(model.to_json("keras2")) == json.loads(text)
    with pytest.raises(TargetCompatibilityError, match=r"image\.resize"):
        model.to_json("keras3")
    with pytest.raises(UnsupportedFeatureError, match=r"image\.resize"):
        model.predict(X)


def test_k2_untranslatable_arguments_stay_tf() -> None:
    text = _k2_model([
        _input_k2("input_1", [None, 4, 5]),
        _k2_op("tf.linalg.matmul", "linalg.matmul", [["input_1", 0, 0, {
            "b": ["input_1", 0, 0], "transpose_b": True}]], [None, 4, 5]),
    ], ["input_1"], ["tf.linalg.matmul"])
    model = pk.model_from_json(text)
    np.testing.assert_allclose(_one(model.predict(X)), X @ np.swapaxes(X, 1, 2), rtol=1e-6)
    assert json.loads(model.to_json("keras2")) == json.loads(text)
    with pytest.raises(TargetCompatibilityError, match="transpose_b"):
        model.to_json("keras3")


@pytest.mark.parametrize("function,kwargs,expected_config", [
    ("nn.gelu", {}, {"approximate": False}),
    ("nn.softmax", {}, {"axis": -1}),
    ("nn.leaky_relu", {"alpha": 0.1}, {"negative_slope": 0.1}),
    ("math.l2_normalize", {"axis": -1}, {"axis": -1, "order": 2, "epsilon": 1e-6}),
    ("compat.v1.squeeze", {"axis": None, "name": None}, {"axis": None}),
    ("math.argmax", {}, {"axis": 0, "keepdims": False}),
    ("split", {"num_or_size_splits": [1, 3], "axis": 1},
     {"indices_or_sections": [1], "axis": 1}),
])
def test_k2_arguments_translate(function: str, kwargs: dict[str, Any],
                                expected_config: dict[str, Any]) -> None:
    text = _k2_model([
        _input_k2("input_1", [None, 4, 5]),
        _k2_op("op", function, [["input_1", 0, 0, kwargs]], [None, 4, 5]),
    ], ["input_1"], ["op"])
    model = pk.model_from_json(text)
    entry = json.loads(model.to_json("keras3"))["config"]["layers"][1]
    assert {k: v for k, v in entry["config"].items() if k != "name"} == expected_config


# ============================================================================ Keras 3 configs


def _k3_model(layers: list[dict[str, Any]]) -> str:
    return json.dumps({"module": "keras.src.models.functional", "class_name": "Functional",
                       "config": {"name": "m", "trainable": True, "layers": layers,
                                  "input_layers": ["input_layer", 0, 0],
                                  "output_layers": [layers[-1]["name"], 0, 0]},
                       "registered_name": "Functional"})


def _kt(layer: str, shape: list[Any]) -> dict[str, Any]:
    return {"class_name": "__keras_tensor__",
            "config": {"shape": shape, "dtype": "float32", "keras_history": [layer, 0, 0]}}


K3_INPUT = {"module": "keras.layers", "class_name": "InputLayer", "config": {
    "batch_shape": [None, 4, 5], "dtype": "float32", "sparse": False, "ragged": False,
    "name": "input_layer", "optional": False}, "registered_name": None, "name": "input_layer",
    "inbound_nodes": []}


def test_k3_config_renders_tf_op_lambda() -> None:
    text = _k3_model([
        K3_INPUT,
        {"module": "keras.src.ops.numpy", "class_name": "Power", "config": {"name": "power"},
         "registered_name": "Power", "name": "power",
         "inbound_nodes": [{"args": [2, _kt("input_layer", [None, 4, 5])], "kwargs": {}}]},
        {"module": "keras.src.ops.numpy", "class_name": "Max",
         "config": {"name": "max", "axis": 1, "keepdims": False, "initial": None},
         "registered_name": "Max", "name": "max",
         "inbound_nodes": [{"args": [_kt("power", [None, 4, 5])], "kwargs": {}}]},
    ])
    model = pk.model_from_json(text)
    np.testing.assert_allclose(_one(model.predict(X)), np.max(2.0**X, axis=1), rtol=1e-6)
    k3 = json.loads(model.to_json("keras3"))["config"]["layers"]
    assert k3 == json.loads(text)["config"]["layers"]
    k2 = {la["name"]: la for la in json.loads(model.to_json("keras2"))["config"]["layers"]}
    # TF converts a Python int first argument to int32: rendered as 2.0.
    assert k2["power"]["inbound_nodes"] == [["_CONSTANT_VALUE", -1, 2.0, {
        "y": ["input_layer", 0, 0]}]]
    assert k2["max"]["config"]["function"] == "math.reduce_max"
    assert k2["max"]["inbound_nodes"] == [["power", 0, 0, {"axis": 1, "keepdims": False}]]
    assert k2["max"]["class_name"] == "TFOpLambda" and "build_config" in k2["max"]
    again = pk.model_from_json(model.to_json("keras2"))
    np.testing.assert_allclose(_one(again.predict(X)), np.max(2.0**X, axis=1), rtol=1e-6)


def test_k3_same_class_name_as_layer_in_one_model() -> None:
    text = _k3_model([
        K3_INPUT,
        {"module": "keras.src.ops.numpy", "class_name": "Add", "config": {"name": "add"},
         "registered_name": "Add", "name": "add",
         "inbound_nodes": [{"args": [_kt("input_layer", [None, 4, 5]), 3.0], "kwargs": {}}]},
        {"module": "keras.layers", "class_name": "Add", "config": {
            "name": "add_1", "trainable": True, "dtype": {"module": "keras", "class_name":
            "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}},
         "registered_name": None, "name": "add_1", "build_config": {"input_shape": [
             [None, 4, 5], [None, 4, 5]]},
         "inbound_nodes": [{"args": [[_kt("add", [None, 4, 5]), _kt("input_layer",
                                                                    [None, 4, 5])]],
                            "kwargs": {}}]},
    ])
    model = pk.model_from_json(text)
    assert isinstance(model.get_layer("add"), OpLayer)
    assert isinstance(model.get_layer("add_1"), pk.layers.Add)
    np.testing.assert_allclose(_one(model.predict(X)), 2 * X + 3.0, rtol=1e-6)


def test_k3_unknown_op_kept_verbatim_for_keras3_only() -> None:
    entry = {"module": "keras.src.ops.numpy", "class_name": "Swapaxes",
             "config": {"name": "swapaxes", "axis1": 1, "axis2": 2},
             "registered_name": "Swapaxes", "name": "swapaxes",
             "inbound_nodes": [{"args": [_kt("input_layer", [None, 4, 5])], "kwargs": {}}]}
    model = pk.model_from_json(_k3_model([K3_INPUT, entry]))
    assert json.loads(model.to_json("keras3"))["config"]["layers"][1] == entry
    with pytest.raises(TargetCompatibilityError, match="Swapaxes"):
        model.to_json("keras2")
    with pytest.raises(UnsupportedFeatureError):
        model.predict(X)


def test_k3_only_op_refuses_keras2() -> None:
    a = pk.Input((3,))
    model = pk.Model(a, apply_op("hard_sigmoid", a))
    with pytest.raises(TargetCompatibilityError, match="HardSigmoid"):
        model.to_json("keras2")
    model = pk.Model(a, apply_op("max", a, axis=-1, initial=0.5))
    with pytest.raises(TargetCompatibilityError, match="initial"):
        model.to_json("keras2")
    model = pk.Model(a, apply_op("argmax", a))
    with pytest.raises(TargetCompatibilityError, match="axis=None"):
        model.to_json("keras2")


def test_k2_node_with_constant_and_tensor_kwargs_round_trips_through_keras3() -> None:
    a = pk.Input((4, 5))
    b = pk.Input((4, 5))
    out = apply_op("where", apply_op("greater", a, b), a, 0.0)
    model = pk.Model([a, b], out)
    y = np.random.default_rng(2).normal(size=X.shape).astype("float32")
    expected = np.where(X > y, X, 0.0)
    for first, second in (("keras2", "keras3"), ("keras3", "keras2")):
        m1 = pk.model_from_json(model.to_json(first))
        m2 = pk.model_from_json(m1.to_json(second))
        np.testing.assert_array_equal(_one(m2.predict([X, y])), expected)
