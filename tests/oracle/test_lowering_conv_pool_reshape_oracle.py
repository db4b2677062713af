"""SavedModel graphs of convolution, pooling and reshaping layers, served by TensorFlow
(``serving_helpers``): every layer configuration of ``test_layers_conv_pool_reshape_oracle``
(one model per case, channels_first ones included: the lowering computes channels-last), served
at batch sizes 1 and 7, plus models with dynamic spatial dimensions served at two sizes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from serving_helpers import check_serving, failures
from test_layers_conv_pool_reshape_oracle import CASES

import purekeras_io as pk

pytestmark = pytest.mark.oracle
L = pk.layers

Case = tuple[str, Any, list[list[np.ndarray]]]


def _randomize(model: Any, seed: int) -> Any:
    rng = np.random.RandomState(seed)
    for var in model.weights:
        if var.dtype.kind == "f":
            var.assign((rng.randn(*var.shape) * 0.5).astype(var.dtype))
    return model


def _build(shape: tuple[int | None, ...], layers: list[tuple[str, dict[str, Any]]],
           name: str) -> Any:
    x = pk.Input(shape=shape, name="x")
    y = x
    for class_name, kwargs in layers:
        y = getattr(L, class_name)(**kwargs)(y)
    return pk.Model(x, y, name=name)


def _batch(rng: np.random.RandomState, shape: tuple[int, ...], mask: bool) -> np.ndarray:
    x = rng.randn(*shape).astype(np.float32)
    if mask:  # whole steps of zeros for Masking; the last sample keeps one step only
        x[:, 1] = 0.0
        x[-1, 1:] = 0.0
    return x


# A SavedModel carries tf_keras metadata: layers tf_keras cannot express are not saved at all
# (ZeroPadding1D channels_first raises TargetCompatibilityError when written for Keras 2).
NOT_SAVABLE = {cid for cid, _, _, opts in CASES if not opts.get("keras2", True)}


def _layer_cases() -> list[Case]:
    out = []
    for i, (cid, shape, layers, opts) in enumerate(CASES):
        if cid in NOT_SAVABLE:
            continue
        model = _randomize(_build(tuple(shape), layers, cid), i)
        rng = np.random.RandomState(100 + i)
        mask = bool(opts.get("mask"))
        batches = [[_batch(rng, (n, *shape), mask)] for n in (1, 7)]
        out.append((cid, model, batches))
    return out


# Options the layer CASES leave out, where the lowering takes another road than the plain op.
EXTRA: list[tuple[str, list[int], list[tuple[str, dict[str, Any]]]]] = [
    ("x_c1d_groups_bias", [9, 4], [("Conv1D", {"filters": 6, "kernel_size": 3, "groups": 2,
                                                "padding": "same"})]),
    ("x_c2d_groups_bias_relu", [7, 6, 4], [("Conv2D", {"filters": 4, "kernel_size": 3,
                                                        "groups": 4, "activation": "relu"})]),
    ("x_c3d_groups_dil", [5, 5, 4, 4], [("Conv3D", {"filters": 4, "kernel_size": 2,
                                                     "groups": 2, "dilation_rate": 2,
                                                     "padding": "same"})]),
    ("x_c3d_cf", [2, 4, 5, 3], [("Conv3D", {"filters": 3, "kernel_size": 2,
                                             "data_format": "channels_first"})]),
    ("x_dw_unequal_same", [9, 8, 3], [("DepthwiseConv2D", {"kernel_size": 3, "strides": [2, 3],
                                                            "padding": "same",
                                                            "depth_multiplier": 2})]),
    ("x_dw_unequal_valid", [9, 8, 2], [("DepthwiseConv2D", {"kernel_size": [2, 3],
                                                             "strides": [1, 2]})]),
    ("x_dw1_causal_dil", [10, 3], [("DepthwiseConv1D", {"kernel_size": 3, "padding": "causal",
                                                        "dilation_rate": 2})]),
    ("x_sep2_unequal", [9, 9, 3], [("SeparableConv2D", {"filters": 2, "kernel_size": 3,
                                                         "strides": [2, 1],
                                                         "padding": "same"})]),
    ("x_c1dt_cf", [3, 5], [("Conv1DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2,
                                                 "data_format": "channels_first"})]),
    ("x_mp3_cf", [2, 4, 4, 4], [("MaxPooling3D", {"data_format": "channels_first"})]),
    ("x_gap1_cf", [4, 7], [("GlobalAveragePooling1D", {"data_format": "channels_first"})]),
    ("x_crop3_cf", [2, 5, 5, 5], [("Cropping3D", {"cropping": [[1, 0], [0, 2], [1, 1]],
                                                   "data_format": "channels_first"})]),
    ("x_up3_cf", [2, 2, 3, 2], [("UpSampling3D", {"size": 2, "data_format": "channels_first"})]),
    ("x_zp3_cf", [2, 2, 2, 2], [("ZeroPadding3D", {"padding": [1, 0, 2],
                                                    "data_format": "channels_first"})]),
]


def _extra_cases() -> list[Case]:
    out = []
    for i, (cid, shape, layers) in enumerate(EXTRA):
        model = _randomize(_build(tuple(shape), layers, cid), 500 + i)
        rng = np.random.RandomState(600 + i)
        out.append((cid, model, [[_batch(rng, (n, *shape), False)] for n in (1, 7)]))
    return out


# id, input shape with None dims, layers, concrete non-batch shapes to serve
DYNAMIC: list[tuple[str, tuple[int | None, ...], list[tuple[str, dict[str, Any]]],
                    list[tuple[int, ...]]]] = [
    ("dyn_conv_gap", (None, None, 3), [
        ("Conv2D", {"filters": 4, "kernel_size": 3, "padding": "same", "activation": "relu"}),
        ("GlobalAveragePooling2D", {}),
    ], [(8, 8, 3), (11, 7, 3)]),
    ("dyn_2d_chain", (None, None, 2), [
        ("Conv2DTranspose", {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same",
                             "output_padding": 1}),
        ("Conv2DTranspose", {"filters": 2, "kernel_size": 3, "dilation_rate": 2}),
        ("DepthwiseConv2D", {"kernel_size": 3, "dilation_rate": 2, "padding": "same",
                             "depth_multiplier": 2}),
        ("DepthwiseConv2D", {"kernel_size": 2, "strides": [2, 1], "padding": "same"}),
        ("SeparableConv2D", {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"}),
        ("Conv2D", {"filters": 4, "kernel_size": 3, "groups": 2, "padding": "same"}),
        ("AveragePooling2D", {"pool_size": 3, "strides": 2, "padding": "same"}),
        ("UpSampling2D", {"size": [2, 3], "interpolation": "bilinear"}),
        ("ZeroPadding2D", {"padding": [[1, 0], [2, 1]]}),
        ("Cropping2D", {"cropping": [[0, 1], [1, 2]]}),
        ("UpSampling2D", {"size": 2}),
        ("UpSampling2D", {"size": 2, "interpolation": "bicubic"}),
        ("MaxPooling2D", {"pool_size": 2, "padding": "same"}),
        ("GlobalMaxPooling2D", {}),
    ], [(5, 4, 2), (7, 9, 2)]),
    ("dyn_2d_channels_first", (2, None, None), [
        ("Conv2D", {"filters": 3, "kernel_size": 3, "padding": "same",
                    "data_format": "channels_first"}),
        ("MaxPooling2D", {"data_format": "channels_first"}),
        ("UpSampling2D", {"size": 2, "interpolation": "bilinear",
                          "data_format": "channels_first"}),
        ("Conv2DTranspose", {"filters": 2, "kernel_size": 2, "strides": 2,
                             "data_format": "channels_first"}),
    ], [(2, 6, 6), (2, 9, 5)]),
    ("dyn_1d_chain", (None, 3), [
        ("Conv1D", {"filters": 4, "kernel_size": 3, "padding": "causal", "dilation_rate": 2}),
        ("Conv1DTranspose", {"filters": 3, "kernel_size": 3, "strides": 2}),
        ("DepthwiseConv1D", {"kernel_size": 3, "strides": 2, "padding": "same",
                             "dilation_rate": 1, "depth_multiplier": 2}),
        ("SeparableConv1D", {"filters": 3, "kernel_size": 2, "dilation_rate": 2}),
        ("MaxPooling1D", {"pool_size": 2, "padding": "same"}),
        ("UpSampling1D", {"size": 3}),
        ("ZeroPadding1D", {"padding": [2, 1]}),
        ("Cropping1D", {"cropping": [1, 3]}),
        ("AveragePooling1D", {"pool_size": 3, "strides": 1, "padding": "same"}),
        ("Conv1D", {"filters": 2, "kernel_size": 2, "strides": 2, "padding": "same"}),
    ], [(9, 3), (14, 3)]),
    ("dyn_3d_chain", (None, None, None, 1), [
        ("Conv3DTranspose", {"filters": 2, "kernel_size": 2, "strides": 2}),
        ("Conv3D", {"filters": 4, "kernel_size": 2, "dilation_rate": [1, 2, 1],
                    "padding": "same"}),
        ("Conv3D", {"filters": 2, "kernel_size": 2, "groups": 2}),
        ("MaxPooling3D", {"pool_size": 2, "padding": "same"}),
        ("UpSampling3D", {"size": [2, 1, 2]}),
        ("AveragePooling3D", {"pool_size": 2, "strides": 1, "padding": "same"}),
        ("GlobalAveragePooling3D", {"keepdims": True}),
        ("Flatten", {}),
    ], [(2, 3, 2, 1), (3, 2, 4, 1)]),
    ("dyn_gap1_mask", (None, 3), [
        ("Masking", {"mask_value": 0.0}), ("GlobalAveragePooling1D", {"keepdims": True}),
    ], [(6, 3), (9, 3)]),
    ("dyn_flatten", (None, 4), [("Flatten", {})], [(3, 4), (5, 4)]),
    ("dyn_reshape", (None, 4), [("Reshape", {"target_shape": [-1, 2]})], [(3, 4), (5, 4)]),
    ("dyn_permute_repeat", (None, 3), [
        ("Permute", {"dims": [2, 1]}), ("GlobalMaxPooling1D", {}), ("RepeatVector", {"n": 4}),
    ], [(3, 3), (6, 3)]),
]


def _dynamic_cases() -> list[Case]:
    out = []
    for i, (cid, shape, layers, sizes) in enumerate(DYNAMIC):
        model = _randomize(_build(shape, layers, cid), 1000 + i)
        rng = np.random.RandomState(2000 + i)
        mask = "mask" in cid
        batches = [[_batch(rng, (n, *size), mask)] for size in sizes for n in (1, 7)]
        out.append((cid, model, batches))
    return out


def test_cases_tf_keras_cannot_express_are_not_saved(tmp_path: Path) -> None:
    assert NOT_SAVABLE == {"zp1_cf"}
    for cid, shape, layers, _ in CASES:
        if cid in NOT_SAVABLE:
            with pytest.raises(pk.TargetCompatibilityError):
                _build(tuple(shape), layers, cid).save(str(tmp_path / cid), save_format="tf")


def test_conv_pool_reshape_models_serve(oracle: Any, tmp_path: Path) -> None:
    cases = _layer_cases() + _extra_cases() + _dynamic_cases()
    report = check_serving(oracle, tmp_path, cases)
    assert set(report) == {c[0] for c in cases}
    assert not failures(report), failures(report)
