"""The model description: Keras-like API, both config dialects, unknown layers, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

import purekeras_io as pk
from purekeras_io.errors import ConfigError, UnknownLayerError
from purekeras_io.model import detect_dialect


def seed_model() -> pk.Sequential:
    return pk.Sequential([pk.layers.Dense(5, input_shape=(3,)), pk.layers.Softmax()])


def test_seed_example_predicts_softmax() -> None:
    model = seed_model()
    x = np.random.uniform(size=(10, 3)).astype("float32")
    y = model.predict(x)
    assert y.shape == (10, 5)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
    assert [w.shape for w in model.get_weights()] == [(3, 5), (5,)]
    assert model.get_layer(index=0).kernel.shape == (3, 5)


@pytest.mark.parametrize("dialect", ["keras2", "keras3"])
def test_config_round_trip(dialect: str) -> None:
    model = seed_model()
    text = model.to_json(dialect)
    assert detect_dialect(text) == dialect
    again = pk.model_from_json(text)
    again.set_weights(model.get_weights())
    x = np.random.uniform(size=(4, 3)).astype("float32")
    np.testing.assert_array_equal(again.predict(x), model.predict(x))
    assert [la.name for la in again.layers] == [la.name for la in model.layers]
    assert json.loads(again.to_json(dialect)) == json.loads(text)


def test_dialect_markers() -> None:
    model = seed_model()
    k2 = json.loads(model.to_json("keras2"))
    k3 = json.loads(model.to_json("keras3"))
    assert "batch_input_shape" in k2["config"]["layers"][0]["config"]
    assert "batch_shape" in k3["config"]["layers"][0]["config"]
    assert k2["config"]["layers"][1]["config"]["dtype"] == "float32"
    assert k3["config"]["layers"][1]["config"]["dtype"]["class_name"] == "DTypePolicy"


def multi_io_model() -> pk.Functional:
    a = pk.Input((8,), name="a")
    b = pk.Input((3,), name="b")
    shared = pk.layers.Dense(3, name="shared")
    inner = pk.Sequential([pk.layers.Dense(2, name="inner_dense")], name="inner")
    x = pk.layers.Dense(3, name="pre")(a)
    y1 = shared(x)
    y2 = shared(b)
    cat = pk.layers.Concatenate(name="cat")([y1, y2]) if hasattr(pk.layers, "Concatenate") else y1
    out1 = inner(cat)
    return pk.Model([a, b], [out1, y2], name="multi")


@pytest.mark.parametrize("dialect", ["keras2", "keras3"])
def test_functional_multi_io_shared_and_nested(dialect: str) -> None:
    model = multi_io_model()
    xa = np.random.uniform(size=(4, 8)).astype("float32")
    xb = np.random.uniform(size=(4, 3)).astype("float32")
    want = model.predict([xa, xb])
    again = pk.model_from_json(model.to_json(dialect))
    again.set_weights(model.get_weights())
    got = again.predict([xa, xb])
    for w, g in zip(want, got):
        np.testing.assert_allclose(g, w, rtol=1e-6)
    assert [la.name for la in again.layers] == [la.name for la in model.layers]
    got_dict = again.predict({"a": xa, "b": xb})
    np.testing.assert_allclose(got_dict[0], want[0], rtol=1e-6)


def test_keras2_nested_model_node_index_starts_at_one() -> None:
    model = multi_io_model()
    if not hasattr(pk.layers, "Concatenate"):
        pytest.skip("merge layers not in the catalog yet")
    k2 = json.loads(model.to_json("keras2"))
    k3 = json.loads(model.to_json("keras3"))
    assert ["inner", 1, 0] in k2["config"]["output_layers"]
    assert ["inner", 0, 0] in k3["config"]["output_layers"]


def test_unknown_layer_is_data_not_error() -> None:
    config = json.loads(seed_model().to_json("keras3"))
    config["config"]["layers"][1]["class_name"] = "MyCustomLayer"
    config["config"]["layers"][1]["module"] = "my_package.layers"
    model = pk.model_from_config(config)
    layer = model.layers[0]
    assert layer.class_name() == "MyCustomLayer"
    layer.set_weights([np.ones((3, 5), "float32"), np.zeros(5, "float32")])
    assert [w.shape for w in model.get_weights()] == [(3, 5), (5,)]
    again = json.loads(model.to_json("keras3"))
    assert again["config"]["layers"][1]["class_name"] == "MyCustomLayer"
    assert again["config"]["layers"][1]["module"] == "my_package.layers"
    with pytest.raises(UnknownLayerError, match="MyCustomLayer"):
        model.predict(np.zeros((1, 3), "float32"))


def test_errors_name_the_value() -> None:
    model = seed_model()
    with pytest.raises(ConfigError, match="expected 2 arrays"):
        model.layers[0].set_weights([np.zeros((3, 5))])
    with pytest.raises(ConfigError, match=r"\(4, 5\)"):
        model.layers[0].set_weights([np.zeros((4, 5)), np.zeros(5)])
    with pytest.raises(ConfigError, match="no layer named 'nope'"):
        model.get_layer("nope")
    with pytest.raises(ConfigError, match="unknown argument"):
        pk.layers.Dense(3, not_an_argument=1)
    with pytest.raises(AttributeError):
        _ = model.layers[0].not_a_weight
    assert isinstance(ConfigError("x"), ValueError)


def test_compile_records_optimizer_and_state() -> None:
    model = seed_model()
    model.compile(
        optimizer=pk.optimizers.Adam(learning_rate=0.01), loss="mse", metrics=["accuracy"]
    )
    assert model.compiled
    opt = model.optimizer
    assert opt is not None
    opt.build(model.trainable_weights)
    slots = [
        {
            "momentum": np.full(v.shape, 0.5, "float32"),
            "velocity": np.full(v.shape, 0.25, "float32"),
        }
        for v in model.trainable_weights
    ]
    opt.set_state(7, slots)
    assert opt.iterations == 7
    assert len(opt.flat_slots()) == 4


def test_summary_lists_layers() -> None:
    lines: list[str] = []
    seed_model().summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Dense" in text and "Total params: 20" in text


def test_names_are_unique_per_class() -> None:
    pk.clear_session()
    a, b = pk.layers.Dense(1), pk.layers.Dense(1)
    assert (a.name, b.name) == ("dense", "dense_1")


def test_positional_arguments_in_keras_order() -> None:
    layers = pk.layers
    conv = layers.Conv2D(4, (3, 3), (2, 2), "same")
    assert (conv.config["filters"], conv.config["strides"], conv.config["padding"]) == (
        4, [2, 2], "same"
    )
    assert layers.Concatenate(1).config["axis"] == 1
    emb = layers.Embedding(10, 4)
    assert (emb.config["input_dim"], emb.config["output_dim"]) == (10, 4)
    pool = layers.MaxPooling2D(2, 1, "same")
    assert (pool.config["strides"], pool.config["padding"]) == ([1, 1], "same")
    assert layers.LeakyReLU(0.1).config["negative_slope"] == 0.1
    assert pk.optimizers.SGD(0.1, 0.9).config["momentum"] == 0.9
    with pytest.raises(ConfigError, match="positional"):
        layers.Softmax(1, 2)
