"""Normalization, merge, embedding and preprocessing layers, and the activation table: weights,
shapes, configs in both dialects, masks, and the NumPy forward pass (no oracle; see
``tests/oracle/test_layers_norm_merge_embed_oracle.py`` for the comparison with Keras)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

import purekeras_io as pk
from purekeras_io import activations
from purekeras_io.errors import ConfigError, TargetCompatibilityError, UnsupportedFeatureError
from purekeras_io.model.layer import AGG_MEAN, SYNC_ON_READ

RNG = np.random.default_rng(7)


def _x(*shape: int) -> np.ndarray:
    return RNG.normal(0, 1, shape).astype(np.float32)


def _layer_cfg(model: pk.Model, dialect: str, name: str) -> dict[str, Any]:
    cfg = json.loads(model.to_json(dialect))
    layers = cfg["config"]["layers"]
    return next(entry["config"] for entry in layers if entry["config"]["name"] == name)


def _roundtrip(layer: Any, input_shape: tuple[int, ...]) -> None:
    """The layer survives ``to_json``/``model_from_json`` in both dialects, config and weights."""
    x = pk.Input(shape=input_shape)
    model = pk.Model(x, layer(x))
    for dialect in ("keras2", "keras3"):
        back = pk.model_from_json(model.to_json(dialect))
        other = back.get_layer(layer.name)
        assert type(other) is type(layer)
        assert other.get_config(dialect) == layer.get_config(dialect), dialect
        assert [(w.name, w.shape) for w in other.weights] == [
            (w.name, w.shape) for w in layer.weights
        ]


# ============================================================================ BatchNormalization


def test_batchnorm_weights_and_flags() -> None:
    bn = pk.layers.BatchNormalization()
    bn.build((None, 4, 4, 3))
    assert [(w.name, w.shape, w.trainable) for w in bn.weights] == [
        ("gamma", (3,), True),
        ("beta", (3,), True),
        ("moving_mean", (3,), False),
        ("moving_variance", (3,), False),
    ]
    stats = bn.weights[2:]
    assert all(w.synchronization == SYNC_ON_READ and w.aggregation == AGG_MEAN for w in stats)
    np.testing.assert_array_equal(bn.weights[0].value, np.ones(3))
    np.testing.assert_array_equal(bn.weights[3].value, np.ones(3))


def test_batchnorm_flags_and_renorm_weights() -> None:
    bn = pk.layers.BatchNormalization(center=False, scale=False, renorm=True)
    bn.build((None, 5))
    assert [w.name for w in bn.weights] == [
        "moving_mean", "moving_variance", "moving_stddev", "renorm_mean", "renorm_stddev"
    ]


def test_batchnorm_inference_formula() -> None:
    bn = pk.layers.BatchNormalization(axis=1, epsilon=0.01)
    x = _x(2, 3, 4)
    bn.build(x.shape)
    gamma, beta, mean, var = _x(3), _x(3), _x(3), RNG.uniform(0.5, 2, 3).astype(np.float32)
    bn.set_weights([gamma, beta, mean, var])
    want = (x - mean[:, None]) / np.sqrt(var[:, None] + 0.01) * gamma[:, None] + beta[:, None]
    np.testing.assert_allclose(bn(x), want, rtol=1e-5, atol=1e-6)


def test_batchnorm_axis_in_both_dialects() -> None:
    # tf_keras writes the built axis as a list of non-negative ints; Keras 3 wants an int.
    k2 = pk.layers.BatchNormalization.from_config({"name": "bn", "axis": [3]}, "keras2")
    assert k2.get_config("keras3")["axis"] == 3
    assert k2.get_config("keras2")["axis"] == [3]
    multi = pk.layers.BatchNormalization(axis=[1, 3])
    multi.build((None, 2, 4, 5))
    assert multi.weights[0].shape == (1, 2, 1, 5)
    with pytest.raises(TargetCompatibilityError, match="several axes"):
        multi.get_config("keras3")


def test_batchnorm_keras2_keys() -> None:
    cfg = {"name": "bn", "axis": -1, "fused": None, "adjustment": None, "virtual_batch_size": 2}
    bn = pk.layers.BatchNormalization.from_config(cfg, "keras2")
    assert "fused" not in bn.config and "virtual_batch_size" not in bn.config
    bn.build((None, 3, 4))
    assert bn.weights[0].shape == (1, 1, 1, 4)  # tf_keras adds an axis for virtual batches
    assert bn.get_config("keras2")["virtual_batch_size"] == 2
    with pytest.raises(TargetCompatibilityError):
        bn.get_config("keras3")
    ones = np.ones((2, 3, 4), np.float32)
    np.testing.assert_allclose(bn(ones), ones / np.sqrt(1.001), rtol=1e-6)


def test_batchnorm_configs_per_dialect() -> None:
    bn = pk.layers.BatchNormalization(name="bn")
    k2, k3 = bn.get_config("keras2"), bn.get_config("keras3")
    assert "synchronized" not in k2 and "renorm" not in k2
    assert k3["synchronized"] is False and k3["renorm"] is False and k3["renorm_momentum"] == 0.99
    assert k3["dtype"]["class_name"] == "DTypePolicy"
    assert pk.layers.BatchNormalization(renorm=True).get_config("keras2")["renorm"] is True
    _roundtrip(pk.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, center=False), (4, 2))


# ============================================================================ LayerNormalization


def test_layernorm_numerics_and_weights() -> None:
    ln = pk.layers.LayerNormalization(axis=[1, 2], epsilon=1e-5)
    x = _x(2, 3, 4)
    ln.build(x.shape)
    assert [(w.name, w.shape) for w in ln.weights] == [("gamma", (3, 4)), ("beta", (3, 4))]
    gamma, beta = _x(3, 4), _x(3, 4)
    ln.set_weights([gamma, beta])
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(ln(x), (x - mean) / np.sqrt(var + 1e-5) * gamma + beta, rtol=1e-5,
                               atol=1e-5)


def test_layernorm_axis_order_per_generation() -> None:
    k2 = pk.layers.LayerNormalization.from_config({"name": "a", "axis": [2, 1]}, "keras2")
    k3 = pk.layers.LayerNormalization.from_config({"name": "b", "axis": [2, 1]}, "keras3")
    k2.build((None, 3, 4))
    k3.build((None, 3, 4))
    assert k2.weights[0].shape == (4, 3)  # tf_keras: the axes as listed
    assert k3.weights[0].shape == (3, 4)  # Keras 3: sorted


def test_layernorm_rms_scaling_is_keras3_only() -> None:
    ln = pk.layers.LayerNormalization(rms_scaling=True, name="ln")
    ln.build((None, 5))
    assert [w.name for w in ln.weights] == ["gamma"]
    assert ln.get_config("keras3")["rms_scaling"] is True
    with pytest.raises(TargetCompatibilityError, match="rms_scaling"):
        ln.get_config("keras2")
    assert "rms_scaling" not in pk.layers.LayerNormalization().get_config("keras2")
    x = _x(2, 5)
    np.testing.assert_allclose(ln(x), x / np.sqrt(x.var(-1, keepdims=True) + 1e-3), rtol=1e-5)
    _roundtrip(pk.layers.LayerNormalization(axis=[-2, -1], center=False), (3, 4))


# ============================================================================ Group / Unit


def test_groupnorm() -> None:
    gn = pk.layers.GroupNormalization(groups=2)
    x = _x(2, 3, 4)
    gn.build(x.shape)
    assert [(w.name, w.shape) for w in gn.weights] == [("gamma", (4,)), ("beta", (4,))]
    g = x.reshape(2, 3, 2, 2)
    mean = g.mean(axis=(1, 3), keepdims=True)
    var = g.var(axis=(1, 3), keepdims=True)
    want = ((g - mean) / np.sqrt(var + 1e-3)).reshape(x.shape)
    np.testing.assert_allclose(gn(x), want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ConfigError, match="groups=3"):
        pk.layers.GroupNormalization(groups=3).build((None, 4))
    _roundtrip(pk.layers.GroupNormalization(groups=-1, axis=1), (4, 2))


def test_groupnorm_keras2_mask_must_broadcast() -> None:
    gn = pk.layers.GroupNormalization.from_config({"name": "g", "groups": 1}, "keras2")
    x = _x(2, 5, 3)
    gn.build(x.shape)
    with pytest.raises(ConfigError, match="does not broadcast"):
        gn.call(x, mask=np.ones((2, 5), bool))


def test_unitnorm() -> None:
    un = pk.layers.UnitNormalization(axis=[1, 2])
    x = _x(2, 3, 4)
    want = x / np.sqrt(np.sum(x * x, axis=(1, 2), keepdims=True))
    np.testing.assert_allclose(un(x), want, rtol=1e-6)
    np.testing.assert_array_equal(un(np.zeros((1, 3, 4), np.float32)), np.zeros((1, 3, 4)))
    _roundtrip(pk.layers.UnitNormalization(), (3,))


# ============================================================================ merge


def test_merge_shapes_and_values() -> None:
    a, b = pk.Input(shape=(4, 3)), pk.Input(shape=(1, 3))
    c = pk.Input(shape=(3,))
    assert pk.layers.Add()([a, b]).shape == (None, 4, 3)
    assert pk.layers.Multiply()([c, a]).shape == (None, 4, 3)
    assert pk.layers.Concatenate(axis=1)([a, b]).shape == (None, 5, 3)
    assert pk.layers.Dot(axes=[2, 2])([a, b]).shape == (None, 4, 1)
    assert pk.layers.Dot(axes=1)([c, c]).shape == (None, 1)
    with pytest.raises(ConfigError, match="incompatible"):
        pk.layers.Add()([a, pk.Input(shape=(4, 2))])
    with pytest.raises(ConfigError, match="exactly 2"):
        pk.layers.Subtract()([c, c, c])
    x, y = _x(2, 4, 3), _x(2, 1, 3)
    np.testing.assert_allclose(pk.layers.Add()([x, y]), x + y)
    np.testing.assert_allclose(pk.layers.Average()([x, y]), (x + y) / 2)
    np.testing.assert_allclose(pk.layers.Maximum()([x, y]), np.maximum(x, y))
    np.testing.assert_allclose(pk.layers.Minimum()([x, y]), np.minimum(x, y))
    np.testing.assert_allclose(pk.layers.Subtract()([x, y]), x - y)
    v = _x(2, 3)
    np.testing.assert_allclose(pk.layers.Multiply()([v, x]), v[:, None, :] * x, rtol=1e-6)


def test_dot_values() -> None:
    x, y = _x(2, 3, 4), _x(2, 5, 3)
    np.testing.assert_allclose(
        pk.layers.Dot(axes=[1, 2])([x, y]), np.einsum("bij,bki->bjk", x, y), rtol=1e-5
    )
    u, v = _x(2, 6), _x(2, 6)
    un = u / np.linalg.norm(u, axis=1, keepdims=True)
    vn = v / np.linalg.norm(v, axis=1, keepdims=True)
    np.testing.assert_allclose(
        pk.layers.Dot(axes=1, normalize=True)([u, v]), np.sum(un * vn, 1, keepdims=True), rtol=1e-5
    )


def test_merge_masks_per_generation() -> None:
    m1 = np.array([[True, False, True]])
    m2 = np.array([[False, False, True]])
    k2 = pk.layers.Add.from_config({"name": "a"}, "keras2")
    k3 = pk.layers.Add.from_config({"name": "b"}, "keras3")
    x = [np.zeros((1, 3, 2)), np.zeros((1, 3, 2))]
    np.testing.assert_array_equal(k2.compute_mask(x, [m1, m2]), m1 & m2)
    np.testing.assert_array_equal(k2.compute_mask(x, [m1, None]), m1)
    np.testing.assert_array_equal(k3.compute_mask(x, [m1, m2]), m1 | m2)
    assert k3.compute_mask(x, [m1, None]) is None
    c2 = pk.layers.Concatenate.from_config({"name": "c"}, "keras2")
    c3 = pk.layers.Concatenate.from_config({"name": "d"}, "keras3")
    np.testing.assert_array_equal(c2.compute_mask(x, [m1, None]), m1)
    np.testing.assert_array_equal(c3.compute_mask(x, [m1, None]), np.ones((1, 3), bool))
    # Keras 3 Multiply: masked positions count as 1, positions no input keeps become 0.
    mul = pk.layers.Multiply.from_config({"name": "m"}, "keras3")
    a, b = np.full((1, 3, 1), 2.0), np.full((1, 3, 1), 3.0)
    np.testing.assert_array_equal(mul.call([a, b], mask=[m1, m2])[..., 0], [[2.0, 0.0, 6.0]])


def test_merge_roundtrip() -> None:
    a, b = pk.Input(shape=(3,), name="a"), pk.Input(shape=(3,), name="b")
    outs = [
        pk.layers.Concatenate(axis=-1, name="cat")([a, b]),
        pk.layers.Dot(axes=(1, 1), normalize=True, name="dot")([a, b]),
        pk.layers.Subtract(name="sub")([a, b]),
    ]
    model = pk.Model([a, b], outs)
    for dialect in ("keras2", "keras3"):
        back = pk.model_from_json(model.to_json(dialect))
        assert [la.get_config(dialect) for la in back.layers] == [
            la.get_config(dialect) for la in model.layers
        ]
    assert _layer_cfg(model, "keras3", "dot")["axes"] == [1, 1]


# ============================================================================ Embedding


def test_embedding_configs_per_dialect() -> None:
    emb = pk.layers.Embedding(10, 4, name="emb")
    k2, k3 = emb.get_config("keras2"), emb.get_config("keras3")
    assert "quantization_config" not in k2 and "lora_rank" not in k2
    assert k3["quantization_config"] is None and "lora_rank" not in k3
    assert k2["embeddings_initializer"]["class_name"] == "RandomUniform"
    lora = pk.layers.Embedding(10, 4, lora_rank=2, lora_alpha=4)
    assert lora.get_config("keras3")["lora_rank"] == 2
    assert "lora_rank" not in lora.get_config("keras2")
    k2_cfg = {"name": "e", "input_dim": 5, "output_dim": 2, "input_length": 7,
              "batch_input_shape": [None, 7]}
    back = pk.layers.Embedding.from_config(k2_cfg, "keras2")
    assert "input_length" not in back.config and back.batch_input_shape == (None, 7)
    with pytest.raises(ConfigError, match="input_dim"):
        pk.layers.Embedding(0, 3)


def test_embedding_input_length_makes_the_input() -> None:
    model = pk.Sequential([pk.layers.Embedding(6, 2, input_length=5)])
    assert model.inputs[0].shape == (None, 5)
    assert model.layers[0].weights[0].shape == (6, 2)


def test_embedding_lookup_and_mask_flow() -> None:
    ids = pk.Input(shape=(4,), dtype="int32")
    emb = pk.layers.Embedding(5, 3, mask_zero=True, name="emb")
    other = pk.Input(shape=(4, 3))
    out = pk.layers.Add(name="add")([emb(ids), other])
    model = pk.Model([ids, other], out)
    table = _x(5, 3)
    emb.set_weights([table])
    x = np.array([[1, 0, 4, 2]], np.int32)
    y = _x(1, 4, 3)
    np.testing.assert_allclose(model.predict([x, y]), table[x] + y, rtol=1e-6)
    assert emb.compute_output_shape((None, 4)) == (None, 4, 3)
    np.testing.assert_array_equal(emb.compute_mask(x), x != 0)
    # Floats are truncated to int32 indices, as Keras casts them.
    np.testing.assert_array_equal(emb(np.array([[1.7, 3.2]])), table[[[1, 3]]])
    with pytest.raises(ConfigError, match="indices"):
        emb(np.array([[5]]))
    # The mask reaches the merge: recorded from its compute_mask during predict.
    seen: list[Any] = []
    add = model.get_layer("add")
    original = add.compute_mask
    add.compute_mask = lambda i, m=None: seen.append(m) or original(i, m)  # type: ignore[method-assign]
    model.predict([x, y])
    assert seen and seen[0][1] is None
    np.testing.assert_array_equal(seen[0][0], x != 0)


def test_embedding_roundtrip() -> None:
    _roundtrip(pk.layers.Embedding(7, 3, mask_zero=True, name="e"), (5,))


# ============================================================================ preprocessing


def test_rescaling() -> None:
    layer = pk.layers.Rescaling(1 / 255, offset=-1.0)
    x = RNG.integers(0, 255, (2, 2, 2, 3)).astype(np.uint8)
    np.testing.assert_allclose(layer(x), x.astype(np.float32) / 255 - 1, atol=1e-6)
    k3 = {"name": "r", "scale": {"class_name": "__numpy__", "config": {"value": [1.0, 2.0],
                                                                       "dtype": "float64"}}}
    assert pk.layers.Rescaling.from_config(k3, "keras3").config["scale"] == [1.0, 2.0]
    _roundtrip(pk.layers.Rescaling([1.0, 2.0, 3.0]), (2, 3))


def test_normalization_weights_and_values() -> None:
    layer = pk.layers.Normalization(axis=[1, 2])
    layer.build((None, 3, 4))
    assert [(w.name, w.shape, str(w.dtype), w.trainable) for w in layer.weights] == [
        ("mean", (3, 4), "float32", False),
        ("variance", (3, 4), "float32", False),
        ("count", (), "int64", False),
    ]
    mean, var = _x(3, 4), RNG.uniform(0.5, 2, (3, 4)).astype(np.float32)
    layer.set_weights([mean, var, np.asarray(3)])
    x = _x(2, 3, 4)
    np.testing.assert_allclose(layer(x), (x - mean) / np.sqrt(var), rtol=1e-5, atol=1e-6)
    assert pk.layers.Normalization(axis=None).config["axis"] == []
    assert pk.layers.Normalization(axis=2).config["axis"] == [2]


def test_normalization_given_stats() -> None:
    layer = pk.layers.Normalization(mean=[1.0, 2.0], variance=[4.0, 0.0], invert=True)
    layer.build((None, 2))
    assert layer.weights == []
    x = _x(3, 2)
    want = np.array([1.0, 2.0]) + x * np.array([2.0, 1e-7])
    np.testing.assert_allclose(layer(x), want, rtol=1e-6)
    with pytest.raises(ConfigError, match="both mean and variance"):
        pk.layers.Normalization(mean=1.0)
    _roundtrip(pk.layers.Normalization(mean=0.5, variance=2.0), (3,))
    _roundtrip(pk.layers.Normalization(), (3,))


def test_resizing_and_centercrop() -> None:
    x = _x(1, 4, 6, 2)
    same = pk.layers.Resizing(4, 6)
    np.testing.assert_allclose(same(x), x, rtol=1e-6)
    up = pk.layers.Resizing(8, 12, interpolation="nearest")
    np.testing.assert_array_equal(up(x), x.repeat(2, axis=1).repeat(2, axis=2))
    assert pk.layers.Resizing(3, 5).compute_output_shape((None, 4, 6, 2)) == (None, 3, 5, 2)
    first = pk.layers.Resizing(3, 5, data_format="channels_first")
    assert first.compute_output_shape((None, 2, 4, 6)) == (None, 2, 3, 5)
    with pytest.raises(TargetCompatibilityError):
        first.get_config("keras2")
    with pytest.raises(UnsupportedFeatureError):
        pk.layers.Resizing(3, 3, interpolation="bicubic")(x)
    crop = pk.layers.CenterCrop(2, 3)
    np.testing.assert_array_equal(crop(x), x[:, 1:3, 1:4])
    assert "data_format" not in crop.get_config("keras2")
    _roundtrip(pk.layers.Resizing(2, 3, crop_to_aspect_ratio=True), (4, 6, 1))
    _roundtrip(pk.layers.CenterCrop(2, 2), (4, 6, 1))


# ============================================================================ activations


def test_activation_table() -> None:
    assert activations.KERAS2_NAMES <= set(activations.ACTIVATIONS)
    x = np.array([-3.0, -1.0, 0.0, 1.0, 3.0], np.float32)
    np.testing.assert_allclose(activations.get("hard_sigmoid", "keras2")(x), [0, 0.3, 0.5, 0.7, 1])
    np.testing.assert_allclose(
        activations.get("hard_sigmoid", "keras3")(x), [0, 1 / 3, 0.5, 2 / 3, 1], rtol=1e-6
    )
    fn = {"module": "keras.activations", "class_name": "function", "config": "relu",
          "registered_name": "function"}
    np.testing.assert_array_equal(activations.get(fn)(x), np.maximum(x, 0))
    assert activations.get({"class_name": "swish", "config": {}})(x).dtype == np.float32
    assert activations.name_of(None) == "linear"
    with pytest.raises(ConfigError, match="not known"):
        activations.get("threshold")
    for name in sorted(activations.ACTIVATIONS):
        y = activations.get(name)(np.linspace(-4, 4, 8, dtype=np.float32).reshape(2, 4))
        assert y.dtype == np.float32 and y.shape[0] == 2, name


def test_activation_layer_uses_source_generation() -> None:
    model = pk.Sequential([pk.Input(shape=(3,)), pk.layers.Activation("hard_sigmoid")])
    x = np.array([[-1.0, 0.0, 1.0]], np.float32)
    k2 = pk.model_from_json(model.to_json("keras2"))
    k3 = pk.model_from_json(model.to_json("keras3"))
    np.testing.assert_allclose(k2.predict(x), [[0.3, 0.5, 0.7]], rtol=1e-6)
    np.testing.assert_allclose(k3.predict(x), [[1 / 3, 0.5, 2 / 3]], rtol=1e-6)
