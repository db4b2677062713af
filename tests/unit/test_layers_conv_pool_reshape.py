"""Convolution, pooling and reshaping layers: shapes, weights, configs in both dialects, and the
NumPy forward passes against slow, obvious reference loops. (Agreement with real Keras is in
``tests/oracle/test_layers_conv_pool_reshape_oracle.py``.)"""

from __future__ import annotations

import itertools
import json
from typing import Any

import numpy as np
import pytest

import purekeras_io as pk
from purekeras_io.errors import ConfigError, TargetCompatibilityError, UnsupportedFeatureError
from purekeras_io.layers import conv, pooling, reshaping
from purekeras_io.model.layer import layer_class

RNG = np.random.default_rng(7)

# class name, kwargs, input shape (no batch), expected output shape (no batch)
SHAPES: list[tuple[str, dict[str, Any], tuple[Any, ...], tuple[Any, ...]]] = [
    ("Conv1D", {"filters": 3, "kernel_size": 3}, (10, 4), (8, 3)),
    (
        "Conv1D",
        {"filters": 3, "kernel_size": 3, "padding": "causal", "dilation_rate": 2},
        (10, 4),
        (10, 3),
    ),
    (
        "Conv1D",
        {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same"},
        (None, 4),
        (None, 3),
    ),
    ("Conv2D", {"filters": 5, "kernel_size": (3, 2), "strides": 2}, (9, 8, 3), (4, 4, 5)),
    (
        "Conv2D",
        {"filters": 5, "kernel_size": 3, "padding": "same", "strides": 2},
        (9, 8, 3),
        (5, 4, 5),
    ),
    (
        "Conv2D",
        {"filters": 4, "kernel_size": 3, "data_format": "channels_first"},
        (3, 9, 8),
        (4, 7, 6),
    ),
    ("Conv3D", {"filters": 2, "kernel_size": 2, "dilation_rate": 2}, (5, 6, 7, 1), (3, 4, 5, 2)),
    ("Conv1DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2}, (5, 3), (11, 2)),
    (
        "Conv2DTranspose",
        {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"},
        (4, 5, 3),
        (8, 10, 2),
    ),
    ("Conv2DTranspose", {"filters": 2, "kernel_size": 2, "strides": 3}, (4, 4, 3), (12, 12, 2)),
    (
        "Conv2DTranspose",
        {"filters": 2, "kernel_size": 3, "strides": 2, "output_padding": 1},
        (4, 4, 3),
        (10, 10, 2),
    ),
    ("Conv3DTranspose", {"filters": 1, "kernel_size": 2, "strides": 2}, (2, 3, 4, 2), (4, 6, 8, 1)),
    ("DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 2}, (6, 6, 3), (4, 4, 6)),
    ("DepthwiseConv1D", {"kernel_size": 3, "padding": "same"}, (7, 2), (7, 2)),
    ("SeparableConv1D", {"filters": 4, "kernel_size": 3}, (7, 2), (5, 4)),
    (
        "SeparableConv2D",
        {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"},
        (7, 7, 2),
        (4, 4, 4),
    ),
    ("MaxPooling1D", {}, (7, 3), (3, 3)),
    ("MaxPooling2D", {"pool_size": 3, "strides": 2, "padding": "same"}, (7, 8, 3), (4, 4, 3)),
    ("MaxPooling3D", {}, (4, 5, 6, 1), (2, 2, 3, 1)),
    ("AveragePooling1D", {"pool_size": 3, "strides": 1, "padding": "same"}, (7, 3), (7, 3)),
    ("AveragePooling2D", {"data_format": "channels_first"}, (3, 6, 5), (3, 3, 2)),
    ("AveragePooling3D", {"pool_size": 2, "padding": "same"}, (3, 3, 3, 2), (2, 2, 2, 2)),
    ("GlobalMaxPooling1D", {}, (5, 3), (3,)),
    ("GlobalAveragePooling2D", {"keepdims": True}, (5, 4, 3), (1, 1, 3)),
    ("GlobalAveragePooling2D", {"data_format": "channels_first"}, (3, 5, 4), (3,)),
    ("GlobalMaxPooling3D", {}, (2, 3, 4, 5), (5,)),
    ("Flatten", {}, (3, 4, 2), (24,)),
    ("Reshape", {"target_shape": (4, -1)}, (3, 4, 2), (4, 6)),
    ("Permute", {"dims": (2, 1)}, (3, 4), (4, 3)),
    ("RepeatVector", {"n": 3}, (4,), (3, 4)),
    ("ZeroPadding1D", {"padding": (1, 2)}, (4, 3), (7, 3)),
    ("ZeroPadding2D", {"padding": ((1, 2), (3, 4))}, (4, 4, 1), (7, 11, 1)),
    ("ZeroPadding3D", {"padding": 1}, (1, 2, 3, 1), (3, 4, 5, 1)),
    ("Cropping1D", {"cropping": (1, 2)}, (6, 3), (3, 3)),
    ("Cropping2D", {"cropping": ((1, 0), (2, 1))}, (6, 6, 2), (5, 3, 2)),
    ("Cropping3D", {"cropping": 1}, (4, 4, 4, 1), (2, 2, 2, 1)),
    ("UpSampling1D", {"size": 3}, (4, 2), (12, 2)),
    ("UpSampling2D", {"size": (2, 3), "interpolation": "bilinear"}, (3, 3, 2), (6, 9, 2)),
    ("UpSampling3D", {"size": 2}, (1, 2, 3, 1), (2, 4, 6, 1)),
]


def _model(class_name: str, kwargs: dict[str, Any], shape: tuple[Any, ...]) -> Any:
    x = pk.Input(shape=shape)
    return pk.Model(x, getattr(pk.layers, class_name)(**kwargs)(x))


def _concrete(shape: tuple[Any, ...]) -> tuple[int, ...]:
    return tuple(9 if d is None else d for d in shape)


@pytest.mark.parametrize(("cls", "kwargs", "shape", "expected"), SHAPES)
def test_output_shapes(
    cls: str, kwargs: dict[str, Any], shape: tuple[Any, ...], expected: Any
) -> None:
    model = _model(cls, kwargs, shape)
    assert tuple(model.outputs[0].shape) == (None, *expected)
    x = RNG.standard_normal((2, *_concrete(shape))).astype(np.float32)
    y = model.predict(x)
    want = model.layers[1].compute_output_shape((2, *_concrete(shape)))
    assert y.shape == tuple(want)
    assert y.dtype == np.float32


@pytest.mark.parametrize(("cls", "kwargs", "shape", "expected"), SHAPES)
def test_configs_round_trip_through_both_dialects(
    cls: str, kwargs: dict[str, Any], shape: tuple[Any, ...], expected: Any
) -> None:
    model = _model(cls, kwargs, _concrete(shape))
    for w in model.weights:
        w.assign(RNG.standard_normal(w.shape).astype(np.float32))
    x = RNG.standard_normal((2, *_concrete(shape))).astype(np.float32)
    want = model.predict(x)
    for dialect in ("keras2", "keras3"):
        again = pk.model_from_json(model.to_json(dialect))
        assert again.layers[1].config == model.layers[1].config
        assert [w.shape for w in again.weights] == [w.shape for w in model.weights]
        again.set_weights(model.get_weights())
        got = again.predict(x)
        got = got[0] if isinstance(got, list) else got
        np.testing.assert_array_equal(got, want)


def _layer_json(model: Any, dialect: str) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(model.to_json(dialect))["config"]["layers"][1]["config"]
    return config


def test_weight_names_and_shapes() -> None:
    cases = [
        (
            "Conv2D",
            {"filters": 6, "kernel_size": (3, 2), "groups": 2},
            (5, 5, 4),
            [("kernel", (3, 2, 2, 6)), ("bias", (6,))],
        ),
        (
            "Conv1D",
            {"filters": 2, "kernel_size": 3, "use_bias": False},
            (5, 4),
            [("kernel", (3, 4, 2))],
        ),
        (
            "Conv3D",
            {"filters": 2, "kernel_size": 2, "data_format": "channels_first"},
            (3, 4, 4, 4),
            [("kernel", (2, 2, 2, 3, 2)), ("bias", (2,))],
        ),
        (
            "Conv2DTranspose",
            {"filters": 5, "kernel_size": 3},
            (4, 4, 3),
            [("kernel", (3, 3, 5, 3)), ("bias", (5,))],
        ),
        (
            "DepthwiseConv2D",
            {"kernel_size": 3, "depth_multiplier": 2},
            (5, 5, 3),
            [("depthwise_kernel", (3, 3, 3, 2)), ("bias", (6,))],
        ),
        (
            "SeparableConv1D",
            {"filters": 4, "kernel_size": 3, "depth_multiplier": 2},
            (6, 3),
            [("depthwise_kernel", (3, 3, 2)), ("pointwise_kernel", (1, 6, 4)), ("bias", (4,))],
        ),
        (
            "SeparableConv2D",
            {"filters": 4, "kernel_size": 3},
            (6, 6, 3),
            [
                ("depthwise_kernel", (3, 3, 3, 1)),
                ("pointwise_kernel", (1, 1, 3, 4)),
                ("bias", (4,)),
            ],
        ),
    ]
    for cls, kwargs, shape, want in cases:
        model = _model(cls, kwargs, shape)
        assert [(w.name, tuple(w.shape)) for w in model.weights] == want, cls


def test_dialect_differences_in_rendered_configs() -> None:
    dt = _model("Conv2DTranspose", {"filters": 2, "kernel_size": 3}, (4, 4, 1))
    assert _layer_json(dt, "keras2")["groups"] == 1
    assert "groups" not in _layer_json(dt, "keras3")
    assert list(_layer_json(dt, "keras2"))[-1] == "output_padding"
    dw = _model("DepthwiseConv2D", {"kernel_size": 3}, (4, 4, 1))
    assert _layer_json(dw, "keras2")["groups"] == 1
    assert "groups" not in _layer_json(dw, "keras3")
    assert list(_layer_json(dw, "keras3"))[3] == "depth_multiplier"
    sep = _model("SeparableConv2D", {"filters": 2, "kernel_size": 3}, (4, 4, 1))
    k2 = _layer_json(sep, "keras2")
    assert k2["kernel_initializer"]["class_name"] == "GlorotUniform"
    assert k2["kernel_regularizer"] is None and k2["kernel_constraint"] is None
    assert not {"groups", "kernel_initializer", "kernel_constraint"} & set(
        _layer_json(sep, "keras3")
    )
    c3t = _model("Conv3DTranspose", {"filters": 2, "kernel_size": 2}, (2, 2, 2, 1))
    assert "dilation_rate" not in _layer_json(c3t, "keras2")
    assert _layer_json(c3t, "keras3")["dilation_rate"] == [1, 1, 1]
    zp = _model("ZeroPadding1D", {"padding": 2}, (4, 1))
    assert _layer_json(zp, "keras2") == {
        "name": zp.layers[1].name,
        "trainable": True,
        "dtype": "float32",
        "padding": [2, 2],
    }
    assert _layer_json(zp, "keras3")["data_format"] == "channels_last"
    mp = _model("MaxPooling1D", {"pool_size": 3}, (6, 1))
    assert list(_layer_json(mp, "keras2"))[3:] == ["strides", "pool_size", "padding", "data_format"]
    assert list(_layer_json(mp, "keras3"))[3:] == ["pool_size", "padding", "strides", "data_format"]
    assert _layer_json(mp, "keras3")["strides"] == [3]


def test_what_tf_keras_cannot_express_is_refused_for_keras2() -> None:
    zp = _model("ZeroPadding1D", {"padding": 1, "data_format": "channels_first"}, (3, 4))
    with pytest.raises(TargetCompatibilityError, match="ZeroPadding1D"):
        zp.to_json("keras2")
    assert _layer_json(zp, "keras3")["data_format"] == "channels_first"
    ct = _model(
        "Conv3DTranspose", {"filters": 1, "kernel_size": 2, "dilation_rate": 2}, (3, 3, 3, 1)
    )
    with pytest.raises(TargetCompatibilityError, match="dilation_rate"):
        ct.to_json("keras2")


def test_keras2_only_keys_are_read_and_dropped() -> None:
    dw = conv.DepthwiseConv2D.from_config(
        {"name": "dw", "kernel_size": [3, 3], "groups": 1}, "keras2"
    )
    assert "groups" not in dw.config
    sep = conv.SeparableConv2D.from_config(
        {
            "name": "s",
            "filters": 2,
            "kernel_size": [3, 3],
            "groups": 1,
            "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
            "kernel_regularizer": None,
            "kernel_constraint": None,
        },
        "keras2",
    )
    assert not {"groups", "kernel_initializer"} & set(sep.config)
    ct = conv.Conv2DTranspose.from_config(
        {"name": "t", "filters": 2, "kernel_size": 3, "groups": 1}, "keras2"
    )
    assert "groups" not in ct.config and ct.config["kernel_size"] == [3, 3]


def test_aliases() -> None:
    for alias, cls in [
        ("Convolution2D", conv.Conv2D),
        ("Convolution1DTranspose", conv.Conv1DTranspose),
        ("SeparableConvolution2D", conv.SeparableConv2D),
        ("MaxPool2D", pooling.MaxPooling2D),
        ("AvgPool1D", pooling.AveragePooling1D),
        ("GlobalAvgPool2D", pooling.GlobalAveragePooling2D),
        ("GlobalMaxPool3D", pooling.GlobalMaxPooling3D),
    ]:
        assert layer_class(alias) is cls
        assert getattr(pk.layers, alias) is cls


def test_positional_arguments_as_keras() -> None:
    layer = pk.layers.Conv2D(8, 3, strides=2)
    assert layer.config["filters"] == 8 and layer.config["kernel_size"] == [3, 3]
    assert pk.layers.DepthwiseConv2D(5).config["kernel_size"] == [5, 5]
    assert pk.layers.MaxPooling2D(3).config["strides"] == [3, 3]
    assert pk.layers.Reshape((2, -1)).config["target_shape"] == [2, -1]


@pytest.mark.parametrize(
    ("cls", "kwargs", "message"),
    [
        ("Conv2D", {"kernel_size": 3}, "filters"),
        ("Conv2D", {"filters": 3, "kernel_size": 3, "groups": 2}, "divisible"),
        ("Conv2D", {"filters": 3, "kernel_size": 3, "padding": "causal"}, "padding"),
        ("Conv2D", {"filters": 3, "kernel_size": (3, 3, 3)}, "kernel_size"),
        ("Conv2D", {"filters": 3, "kernel_size": 3, "data_format": "NHWC"}, "data_format"),
        (
            "Conv2DTranspose",
            {"filters": 3, "kernel_size": 3, "strides": 2, "output_padding": 2},
            "output_padding",
        ),
        ("MaxPooling2D", {"padding": "full"}, "padding"),
        ("Reshape", {"target_shape": (-1, -1)}, "-1"),
        ("Permute", {"dims": (1, 3)}, "permutation"),
    ],
)
def test_bad_configs(cls: str, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        getattr(pk.layers, cls)(**kwargs)


def test_conv_refuses_input_channels_not_divisible_by_groups() -> None:
    with pytest.raises(ConfigError, match="groups"):
        _model("Conv2D", {"filters": 4, "kernel_size": 3, "groups": 2}, (5, 5, 3))


def test_unsupported_interpolation_says_so() -> None:
    model = _model("UpSampling2D", {"interpolation": "lanczos3"}, (3, 3, 1))
    with pytest.raises(UnsupportedFeatureError, match="lanczos3"):
        model.predict(np.ones((1, 3, 3, 1), np.float32))


# ------------------------------------------------------------------------ reference loops


def _pad_same(n: int, k: int, s: int) -> tuple[int, int]:
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def naive_conv2d(
    x: np.ndarray,
    w: np.ndarray,
    strides: tuple[int, int],
    dil: tuple[int, int],
    padding: str,
    groups: int,
) -> np.ndarray:
    b, h, wd, _ = x.shape
    kh, kw, cg, f = w.shape
    ekh, ekw = (kh - 1) * dil[0] + 1, (kw - 1) * dil[1] + 1
    if padding == "same":
        (t, bo), (le, r) = _pad_same(h, ekh, strides[0]), _pad_same(wd, ekw, strides[1])
        x = np.pad(x, [(0, 0), (t, bo), (le, r), (0, 0)])
    oh = (x.shape[1] - ekh) // strides[0] + 1
    ow = (x.shape[2] - ekw) // strides[1] + 1
    fg = f // groups
    out = np.zeros((b, oh, ow, f))
    for n, i, j, o in itertools.product(range(b), range(oh), range(ow), range(f)):
        g = o // fg
        acc = 0.0
        for p, q, ci in itertools.product(range(kh), range(kw), range(cg)):
            acc += (
                x[n, i * strides[0] + p * dil[0], j * strides[1] + q * dil[1], g * cg + ci]
                * w[p, q, ci, o]
            )
        out[n, i, j, o] = acc
    return out


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kernel_size": 3},
        {"kernel_size": (3, 2), "strides": (2, 1), "padding": "same"},
        {"kernel_size": 4, "strides": 2, "padding": "same"},
        {"kernel_size": 3, "dilation_rate": (2, 1), "padding": "same"},
        {"kernel_size": 3, "groups": 2},
        {"kernel_size": 1, "strides": 2},
    ],
)
def test_conv2d_matches_reference_loop(kwargs: dict[str, Any]) -> None:
    model = _model("Conv2D", {"filters": 4, "use_bias": False, **kwargs}, (7, 6, 4))
    kernel = RNG.standard_normal(model.weights[0].shape).astype(np.float32)
    model.set_weights([kernel])
    x = RNG.standard_normal((2, 7, 6, 4)).astype(np.float32)
    c = model.layers[1].config
    want = naive_conv2d(x, kernel, c["strides"], c["dilation_rate"], c["padding"], c["groups"])
    np.testing.assert_allclose(model.predict(x), want, rtol=1e-5, atol=1e-5)


def test_conv1d_causal_is_left_padded_valid() -> None:
    causal = _model(
        "Conv1D", {"filters": 2, "kernel_size": 3, "dilation_rate": 2, "padding": "causal"}, (8, 3)
    )
    valid = _model("Conv1D", {"filters": 2, "kernel_size": 3, "dilation_rate": 2}, (12, 3))
    valid.set_weights(causal.get_weights())
    x = RNG.standard_normal((2, 8, 3)).astype(np.float32)
    padded = np.pad(x, [(0, 0), (4, 0), (0, 0)])
    np.testing.assert_allclose(causal.predict(x), valid.predict(padded), rtol=1e-6)


def test_depthwise_matches_grouped_conv() -> None:
    """A depthwise convolution with multiplier m is a grouped convolution with c groups."""
    dw = _model(
        "DepthwiseConv2D",
        {"kernel_size": 3, "depth_multiplier": 2, "strides": 2, "padding": "same"},
        (7, 7, 3),
    )
    kernel, bias = (RNG.standard_normal(w.shape).astype(np.float32) for w in dw.weights)
    dw.set_weights([kernel, bias])
    grouped = _model(
        "Conv2D",
        {"filters": 6, "kernel_size": 3, "groups": 3, "strides": 2, "padding": "same"},
        (7, 7, 3),
    )
    grouped.set_weights([kernel.reshape(3, 3, 1, 6), bias])
    x = RNG.standard_normal((2, 7, 7, 3)).astype(np.float32)
    np.testing.assert_allclose(dw.predict(x), grouped.predict(x), rtol=1e-5, atol=1e-5)


def test_separable_is_depthwise_then_pointwise() -> None:
    sep = _model(
        "SeparableConv2D",
        {"filters": 4, "kernel_size": 3, "depth_multiplier": 2, "activation": "relu"},
        (6, 6, 3),
    )
    dk, pk_, bias = (RNG.standard_normal(w.shape).astype(np.float32) for w in sep.weights)
    sep.set_weights([dk, pk_, bias])
    dw = _model(
        "DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 2, "use_bias": False}, (6, 6, 3)
    )
    dw.set_weights([dk])
    x = RNG.standard_normal((2, 6, 6, 3)).astype(np.float32)
    want = np.maximum(dw.predict(x) @ pk_[0, 0] + bias, 0)
    np.testing.assert_allclose(sep.predict(x), want, rtol=1e-5, atol=1e-5)


def naive_conv_transpose_1d(
    x: np.ndarray, w: np.ndarray, s: int, d: int, out_len: int, before: int
) -> np.ndarray:
    b, n, _ = x.shape
    k, f, _ = w.shape
    full = np.zeros((b, max((n - 1) * s + (k - 1) * d + 1, before + out_len), f))
    for i, t in itertools.product(range(n), range(k)):
        full[:, i * s + t * d] += x[:, i] @ w[t].T
    return full[:, before : before + out_len]


@pytest.mark.parametrize(
    ("kwargs", "before"),
    [
        ({"kernel_size": 3, "strides": 2}, 0),
        ({"kernel_size": 2, "strides": 3}, 0),
        ({"kernel_size": 4, "strides": 2, "padding": "same"}, 1),
        ({"kernel_size": 3, "strides": 2, "padding": "valid", "output_padding": 1}, 0),
        ({"kernel_size": 3, "dilation_rate": 2}, 0),
    ],
)
def test_conv1d_transpose_matches_scatter_loop(kwargs: dict[str, Any], before: int) -> None:
    model = _model("Conv1DTranspose", {"filters": 2, "use_bias": False, **kwargs}, (5, 3))
    kernel = RNG.standard_normal(model.weights[0].shape).astype(np.float32)
    model.set_weights([kernel])
    x = RNG.standard_normal((2, 5, 3)).astype(np.float32)
    c = model.layers[1].config
    out_len = model.outputs[0].shape[1]
    want = naive_conv_transpose_1d(
        x, kernel, c["strides"][0], c["dilation_rate"][0], out_len, before
    )
    np.testing.assert_allclose(model.predict(x), want, rtol=1e-5, atol=1e-5)


def test_channels_first_is_channels_last_transposed() -> None:
    for cls, kwargs, shape in [
        ("Conv2D", {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same"}, (7, 6, 2)),
        ("Conv2DTranspose", {"filters": 3, "kernel_size": 3, "strides": 2}, (4, 5, 2)),
        ("DepthwiseConv2D", {"kernel_size": 2, "depth_multiplier": 2}, (5, 5, 2)),
        ("AveragePooling2D", {"pool_size": 3, "strides": 2, "padding": "same"}, (7, 6, 2)),
        ("UpSampling2D", {"size": 2, "interpolation": "bilinear"}, (3, 4, 2)),
        ("ZeroPadding2D", {"padding": (1, 2)}, (3, 4, 2)),
        ("Cropping2D", {"cropping": (1, 2)}, (5, 6, 2)),
    ]:
        last = _model(cls, kwargs, shape)
        first = _model(cls, {**kwargs, "data_format": "channels_first"}, (shape[-1], *shape[:-1]))
        first.set_weights(last.get_weights())
        x = RNG.standard_normal((2, *shape)).astype(np.float32)
        want = np.moveaxis(last.predict(x), -1, 1)
        np.testing.assert_allclose(first.predict(np.moveaxis(x, -1, 1)), want, rtol=1e-5, atol=1e-6)


def test_pooling_values() -> None:
    x = np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3, 1)
    avg = _model("AveragePooling2D", {"pool_size": 2, "strides": 1, "padding": "same"}, (3, 3, 1))
    # same padding adds a row and column at the end; the mean leaves the padding out.
    np.testing.assert_allclose(
        avg.predict(x)[0, :, :, 0], [[3, 4, 4.5], [6, 7, 7.5], [7.5, 8.5, 9]]
    )
    mx = _model("MaxPooling2D", {"pool_size": 2, "strides": 1, "padding": "same"}, (3, 3, 1))
    np.testing.assert_array_equal(-mx.predict(-x)[0, :, :, 0], [[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    mp1 = _model("MaxPooling1D", {"pool_size": 3, "strides": 2, "padding": "same"}, (6, 1))
    np.testing.assert_array_equal(
        mp1.predict(np.arange(6, dtype=np.float32).reshape(1, 6, 1))[0, :, 0], [2, 4, 5]
    )


def test_global_average_pooling_1d_with_mask() -> None:
    x_in = pk.Input(shape=(5, 2))
    masked = pk.layers.Masking(mask_value=0.0)(x_in)
    model = pk.Model(x_in, pk.layers.GlobalAveragePooling1D()(masked))
    x = RNG.standard_normal((2, 5, 2)).astype(np.float32)
    x[0, [1, 3]] = 0
    want = np.stack([x[0, [0, 2, 4]].mean(0), x[1].mean(0)])
    np.testing.assert_allclose(model.predict(x), want, rtol=1e-6)
    gap = pooling.GlobalAveragePooling1D()
    assert gap.compute_mask(x, np.ones((2, 5), bool)) is None


def test_bilinear_upsampling_uses_half_pixel_centres() -> None:
    model = _model("UpSampling2D", {"size": (1, 2), "interpolation": "bilinear"}, (1, 2, 1))
    y = model.predict(np.array([[[[0.0], [1.0]]]], np.float32))
    np.testing.assert_allclose(y[0, 0, :, 0], [0.0, 0.25, 0.75, 1.0])
    near = _model("UpSampling2D", {"size": 2}, (2, 2, 1))
    x = np.arange(4, dtype=np.float32).reshape(1, 2, 2, 1)
    np.testing.assert_array_equal(
        near.predict(x)[0, :, :, 0], np.kron(x[0, :, :, 0], np.ones((2, 2)))
    )


def test_bicubic_rows_sum_to_one_and_keep_constants() -> None:
    for n_in, s in [(3, 2), (4, 3), (5, 2)]:
        m = reshaping.resize_matrix(n_in, n_in * s, "bicubic")
        np.testing.assert_allclose(m.sum(axis=1), 1.0, rtol=1e-6)
        m = reshaping.resize_matrix(n_in, n_in * s, "bilinear")
        np.testing.assert_allclose(m.sum(axis=1), 1.0, rtol=1e-6)


def test_reshaping_values() -> None:
    x = RNG.standard_normal((2, 3, 4, 2)).astype(np.float32)
    flat_cf = _model("Flatten", {"data_format": "channels_first"}, (3, 4, 2))
    np.testing.assert_array_equal(flat_cf.predict(x), np.moveaxis(x, 1, -1).reshape(2, -1))
    permute = _model("Permute", {"dims": (3, 1, 2)}, (3, 4, 2))
    np.testing.assert_array_equal(permute.predict(x), np.transpose(x, (0, 3, 1, 2)))
    crop = _model("Cropping2D", {"cropping": ((1, 0), (1, 2))}, (3, 4, 2))
    np.testing.assert_array_equal(crop.predict(x), x[:, 1:, 1:2])
    pad = _model("ZeroPadding2D", {"padding": ((0, 1), (2, 0))}, (3, 4, 2))
    np.testing.assert_array_equal(pad.predict(x), np.pad(x, [(0, 0), (0, 1), (2, 0), (0, 0)]))
    rep = _model("RepeatVector", {"n": 2}, (3,))
    v = x[:, :, 0, 0]
    np.testing.assert_array_equal(rep.predict(v), np.stack([v, v], axis=1))
    reshape = _model("Reshape", {"target_shape": (-1, 6)}, (3, 4, 2))
    np.testing.assert_array_equal(reshape.predict(x), x.reshape(2, 4, 6))


def test_forward_pass_keeps_float64() -> None:
    model = _model("Conv2D", {"filters": 2, "kernel_size": 3, "dtype": "float64"}, (5, 5, 1))
    y = model.predict(np.ones((1, 5, 5, 1)))
    assert y.dtype == np.float64
