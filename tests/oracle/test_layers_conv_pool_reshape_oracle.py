"""Convolution, pooling and reshaping layers against tf_keras 2.21 and Keras 3.15.1.

One oracle process (``scripts/layers_conv_pool_reshape.py``) for the whole module. Per case we
build a one-input model here, give it random weights, and check in both Keras generations that

* our config, rendered for that generation, loads there and (with our weights) predicts what we
  predict;
* the same layers built by Keras itself accept our weights (same order and shapes) and predict
  the same; their ``to_json()`` (the Keras-made config) loads here and predicts the same;
* the configs we render carry the keys Keras writes, in Keras' order, with the same values
  (initializer configs aside).

Plus real architectures (MobileNetV2, ResNet50, EfficientNetB0) made by each generation: their
``to_json()`` + ``get_weights()`` load here and predict what Keras predicts; and the full-size
(224 x 224) Keras 3 configs predict a batch of 2 here in seconds.

Tolerance: max |ours - keras| < 1e-5 * max |keras| for layers (float32), 1e-4 for architectures.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import purekeras_io as pk
from purekeras_io.layers import conv, pooling, reshaping

GENS = ("k2", "k3")
# TensorFlow's CPU kernels lack some layouts: there the Keras side must fail with this message
# (and nothing is compared), so a TF that gains the kernel turns the comparison back on.
_NCHW = "only supports the NHWC tensor format on the CPU"
CPU_NCHW = {"keras2_fails": _NCHW, "keras3_fails": _NCHW}
_DILATED = "do not yet support dilation rates larger than 1"
DIALECT = {"k2": "keras2", "k3": "keras3"}

# id, input shape (no batch), layers [(class, kwargs)], options
CASES: list[tuple[str, list[int], list[tuple[str, dict[str, Any]]], dict[str, Any]]] = [
    # ---------------------------------------------------------------- Conv1D/2D/3D
    ("c1d_valid", [10, 4], [("Conv1D", {"filters": 3, "kernel_size": 3})], {}),
    ("c1d_same_s2", [11, 3], [("Conv1D", {"filters": 4, "kernel_size": 3, "strides": 2,
                                           "padding": "same", "activation": "relu"})], {}),
    ("c1d_causal_dil", [12, 3], [("Conv1D", {"filters": 2, "kernel_size": 3,
                                              "padding": "causal", "dilation_rate": 2})], {}),
    ("c1d_groups", [9, 4], [("Conv1D", {"filters": 4, "kernel_size": 3, "groups": 2,
                                         "use_bias": False})], {}),
    ("c1d_cf", [4, 10], [("Conv1D", {"filters": 3, "kernel_size": 2,
                                      "data_format": "channels_first"})], CPU_NCHW),
    ("c2d_valid", [8, 8, 2], [("Conv2D", {"filters": 3, "kernel_size": 3})], {}),
    ("c2d_same_s2", [9, 7, 3], [("Conv2D", {"filters": 4, "kernel_size": [3, 2],
                                             "strides": [2, 1], "padding": "same",
                                             "activation": "tanh"})], {}),
    ("c2d_same_even_k", [8, 8, 2], [("Conv2D", {"filters": 3, "kernel_size": 4, "strides": 2,
                                                 "padding": "same"})], {}),
    ("c2d_dil", [10, 9, 2], [("Conv2D", {"filters": 2, "kernel_size": 3,
                                          "dilation_rate": [2, 1], "padding": "same"})], {}),
    ("c2d_groups", [7, 7, 6], [("Conv2D", {"filters": 6, "kernel_size": 3, "groups": 3})], {}),
    ("c2d_1x1_s2", [7, 7, 3], [("Conv2D", {"filters": 5, "kernel_size": 1, "strides": 2})], {}),
    ("c2d_cf", [2, 7, 7], [("Conv2D", {"filters": 3, "kernel_size": 3, "padding": "same",
                                        "data_format": "channels_first"})], CPU_NCHW),
    ("c3d_same", [5, 6, 4, 2], [("Conv3D", {"filters": 2, "kernel_size": 2,
                                             "strides": [1, 2, 1], "padding": "same"})], {}),
    ("c3d_dil", [6, 6, 6, 1], [("Conv3D", {"filters": 3, "kernel_size": 3,
                                            "dilation_rate": 2})], {}),
    # ---------------------------------------------------------------- transposed
    ("c1dt_s2", [5, 2], [("Conv1DTranspose", {"filters": 3, "kernel_size": 3, "strides": 2})],
     {}),
    ("c1dt_same_op", [5, 3], [("Conv1DTranspose", {"filters": 2, "kernel_size": 4, "strides": 3,
                                                    "padding": "same", "output_padding": 1})],
     {}),
    ("c1dt_dil", [6, 2], [("Conv1DTranspose", {"filters": 2, "kernel_size": 3,
                                                "dilation_rate": 2})],
     {"keras2_fails": _DILATED, "keras3_fails": _DILATED, "reference": "conv_transpose_grad"}),
    ("c2dt_dil_same", [5, 5, 2], [("Conv2DTranspose", {"filters": 2, "kernel_size": 3,
                                                        "dilation_rate": 2,
                                                        "padding": "same"})],
     {"keras3_fails": _DILATED, "reference": "conv_transpose_grad"}),
    ("c2dt_valid_s2", [4, 5, 2], [("Conv2DTranspose", {"filters": 3, "kernel_size": 3,
                                                        "strides": 2})], {}),
    ("c2dt_same_s2", [4, 4, 3], [("Conv2DTranspose", {"filters": 4, "kernel_size": [3, 4],
                                                       "strides": 2, "padding": "same",
                                                       "activation": "relu"})], {}),
    ("c2dt_op", [3, 3, 2], [("Conv2DTranspose", {"filters": 2, "kernel_size": 3,
                                                  "strides": [2, 3],
                                                  "output_padding": [1, 2]})], {}),
    ("c2dt_same_op0", [4, 4, 1], [("Conv2DTranspose", {"filters": 2, "kernel_size": 3,
                                                        "strides": 2, "padding": "same",
                                                        "output_padding": 0})], {}),
    ("c2dt_k_lt_s", [3, 3, 2], [("Conv2DTranspose", {"filters": 2, "kernel_size": 2,
                                                      "strides": 3})], {}),
    ("c2dt_cf", [2, 4, 4], [("Conv2DTranspose", {"filters": 3, "kernel_size": 3, "strides": 2,
                                                  "padding": "same",
                                                  "data_format": "channels_first"})],
     {"keras3_fails": "Conv2DCustomBackpropInputOp only supports NHWC"}),
    ("c3dt_same", [3, 3, 3, 2], [("Conv3DTranspose", {"filters": 2, "kernel_size": 3,
                                                       "strides": 2, "padding": "same"})], {}),
    # ---------------------------------------------------------------- depthwise / separable
    ("dw2", [6, 6, 3], [("DepthwiseConv2D", {"kernel_size": 3})], {}),
    ("dw2_s2_mult", [7, 7, 3], [("DepthwiseConv2D", {"kernel_size": 3, "strides": 2,
                                                      "padding": "same",
                                                      "depth_multiplier": 2})], {}),
    ("dw2_dil", [8, 8, 2], [("DepthwiseConv2D", {"kernel_size": [3, 2], "dilation_rate": 2,
                                                  "padding": "same", "use_bias": False})], {}),
    ("dw2_cf", [3, 6, 6], [("DepthwiseConv2D", {"kernel_size": 3,
                                                 "data_format": "channels_first"})], {}),
    ("dw1_mult", [8, 2], [("DepthwiseConv1D", {"kernel_size": 3, "depth_multiplier": 3})], {}),
    ("dw1_same_s2", [9, 2], [("DepthwiseConv1D", {"kernel_size": 3, "strides": 2,
                                                   "padding": "same"})], {}),
    ("sep1", [9, 3], [("SeparableConv1D", {"filters": 4, "kernel_size": 3, "padding": "same",
                                            "depth_multiplier": 2})], {}),
    ("sep2_s2", [9, 9, 3], [("SeparableConv2D", {"filters": 4, "kernel_size": 3, "strides": 2,
                                                  "padding": "same"})], {}),
    ("sep2_dil", [9, 9, 2], [("SeparableConv2D", {"filters": 3, "kernel_size": 3,
                                                   "dilation_rate": 2, "depth_multiplier": 2,
                                                   "activation": "relu"})], {}),
    # ---------------------------------------------------------------- pooling
    ("mp1_same", [9, 2], [("MaxPooling1D", {"pool_size": 3, "strides": 2, "padding": "same"})],
     {}),
    ("mp2", [7, 7, 2], [("MaxPooling2D", {})], {}),
    ("mp2_same", [8, 8, 2], [("MaxPooling2D", {"pool_size": 3, "strides": 2,
                                                "padding": "same"})], {}),
    ("mp2_cf", [2, 6, 6], [("MaxPooling2D", {"data_format": "channels_first"})],
     {"keras2_fails": "Default MaxPoolingOp only supports NHWC on device type CPU"}),
    ("mp3_same", [5, 4, 3, 2], [("MaxPooling3D", {"pool_size": 2, "padding": "same"})], {}),
    ("ap1", [7, 3], [("AveragePooling1D", {"pool_size": 2})], {}),
    ("ap2_same", [8, 7, 2], [("AveragePooling2D", {"pool_size": 3, "strides": 2,
                                                    "padding": "same"})], {}),
    ("ap2_same_s1", [5, 5, 2], [("AveragePooling2D", {"pool_size": [2, 3], "strides": 1,
                                                       "padding": "same"})], {}),
    ("ap3_same", [3, 3, 3, 2], [("AveragePooling3D", {"pool_size": 2, "strides": 1,
                                                       "padding": "same"})], {}),
    ("gmp1", [6, 3], [("GlobalMaxPooling1D", {})], {}),
    ("gmp2_keep", [5, 4, 3], [("GlobalMaxPooling2D", {"keepdims": True})], {}),
    ("gmp3", [3, 3, 2, 2], [("GlobalMaxPooling3D", {})], {}),
    ("gap1", [6, 3], [("GlobalAveragePooling1D", {})], {}),
    ("gap2", [5, 4, 3], [("GlobalAveragePooling2D", {})], {}),
    ("gap2_cf_keep", [3, 5, 4], [("GlobalAveragePooling2D", {"data_format": "channels_first",
                                                              "keepdims": True})], {}),
    ("gap3_keep", [3, 3, 2, 2], [("GlobalAveragePooling3D", {"keepdims": True})], {}),
    ("gap1_mask", [7, 3], [("Masking", {"mask_value": 0.0}), ("GlobalAveragePooling1D", {})],
     {"mask": True}),
    # ---------------------------------------------------------------- reshaping
    ("flatten", [3, 4, 2], [("Flatten", {})], {}),
    ("flatten_cf", [3, 4, 2], [("Flatten", {"data_format": "channels_first"})], {}),
    ("reshape", [3, 4, 2], [("Reshape", {"target_shape": [4, -1]})], {}),
    ("permute", [3, 4, 2], [("Permute", {"dims": [3, 1, 2]})], {}),
    ("repeat", [5], [("RepeatVector", {"n": 3})], {}),
    ("zp1", [4, 3], [("ZeroPadding1D", {"padding": [1, 2]})], {}),
    ("zp2", [3, 3, 2], [("ZeroPadding2D", {"padding": [[1, 2], [0, 3]]})], {}),
    ("zp2_cf", [2, 3, 3], [("ZeroPadding2D", {"padding": [1, 2],
                                               "data_format": "channels_first"})], {}),
    ("zp1_cf", [4, 3], [("ZeroPadding1D", {"padding": 2, "data_format": "channels_first"})],
     {"keras2": False}),  # tf_keras has no data_format here
    ("zp3", [2, 2, 2, 1], [("ZeroPadding3D", {"padding": 1})], {}),
    ("crop1", [6, 2], [("Cropping1D", {"cropping": [1, 2]})], {}),
    ("crop2", [6, 6, 2], [("Cropping2D", {"cropping": [[1, 0], [2, 1]]})], {}),
    ("crop3", [4, 4, 4, 1], [("Cropping3D", {"cropping": 1})], {}),
    ("up1", [4, 2], [("UpSampling1D", {"size": 3})], {}),
    ("up2", [3, 3, 2], [("UpSampling2D", {"size": [2, 3]})], {}),
    ("up2_bilinear", [4, 5, 2], [("UpSampling2D", {"size": 2, "interpolation": "bilinear"})],
     {}),
    ("up2_bilinear_3", [3, 4, 2], [("UpSampling2D", {"size": [3, 2],
                                                      "interpolation": "bilinear"})], {}),
    ("up2_bilinear_cf", [2, 3, 4], [("UpSampling2D", {"size": 2, "interpolation": "bilinear",
                                                       "data_format": "channels_first"})], {}),
    ("up2_bicubic", [5, 4, 2], [("UpSampling2D", {"size": [2, 3],
                                                   "interpolation": "bicubic"})], {}),
    ("up2_area", [3, 3, 2], [("UpSampling2D", {"size": 2, "interpolation": "area"})], {}),
    ("up3", [2, 2, 2, 2], [("UpSampling3D", {"size": [1, 2, 2]})], {}),
    # ---------------------------------------------------------------- a small chain
    ("chain", [12, 12, 3], [
        ("ZeroPadding2D", {"padding": 1}),
        ("Conv2D", {"filters": 4, "kernel_size": 3, "strides": 2, "activation": "relu"}),
        ("DepthwiseConv2D", {"kernel_size": 3, "padding": "same"}),
        ("MaxPooling2D", {"pool_size": 2}),
        ("Conv2DTranspose", {"filters": 2, "kernel_size": 2, "strides": 2}),
        ("UpSampling2D", {"size": 2, "interpolation": "bilinear"}),
        ("Cropping2D", {"cropping": 1}),
        ("Flatten", {}),
        ("RepeatVector", {"n": 2}),
        ("GlobalAveragePooling1D", {}),
    ], {}),
]

APPS = [
    ("mobilenetv2_k2", "k2", "MobileNetV2", [96, 96, 3]),
    ("resnet50_k2", "k2", "ResNet50", [64, 64, 3]),
    ("efficientnetb0_k2", "k2", "EfficientNetB0", [64, 64, 3]),
    ("mobilenetv2_k3", "k3", "MobileNetV2", [96, 96, 3]),
    ("resnet50_k3", "k3", "ResNet50", [64, 64, 3]),
    ("efficientnetb0_k3", "k3", "EfficientNetB0", [64, 64, 3]),
]
# Full-size configs (Keras 3 made, no weights) for the speed check: batch 2 at 224 x 224.
SPEED_APPS = [
    ("speed_resnet50", "k3", "ResNet50", [224, 224, 3]),
    ("speed_mobilenetv2", "k3", "MobileNetV2", [224, 224, 3]),
    ("speed_efficientnetb0", "k3", "EfficientNetB0", [224, 224, 3]),
]
SPEED_LIMIT_SECONDS = 60.0  # measured 1-3 s on 2 busy cores; the bound only catches Python loops


def _build(shape: list[int], layers: list[tuple[str, dict[str, Any]]]) -> Any:
    x = pk.Input(shape=tuple(shape), name="x")
    y = x
    for class_name, kwargs in layers:
        y = getattr(pk.layers, class_name)(**kwargs)(y)
    return pk.Model(x, y, name="ours")


def _input(rng: np.random.Generator, shape: list[int], mask: bool) -> np.ndarray:
    x = rng.standard_normal((2, *shape)).astype(np.float32)
    if mask:
        x[0, [1, 4]] = 0.0
        x[1, -3:] = 0.0
    return x


@pytest.fixture(scope="module")
def run(oracle: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("conv_pool_reshape")
    rng = np.random.default_rng(1234)
    cases, ours = [], {}
    for cid, shape, layers, opts in CASES:
        model = _build(shape, layers)
        weights = [
            (rng.standard_normal(w.shape) * 0.5).astype(np.float32) for w in model.get_weights()
        ]
        model.set_weights(weights)
        x = _input(rng, shape, bool(opts.get("mask")))
        ours[cid] = {"model": model, "pred": model.predict(x), "x": x, "weights": weights}
        np.save(folder / f"{cid}_input.npy", x)
        np.savez(folder / f"{cid}_weights.npz", *weights)
        reference = None
        if opts.get("reference"):
            layer = model.layers[1]
            reference = {
                "output_shape": [2, *model.outputs[0].shape[1:]],
                "strides": layer.config["strides"],
                "padding": layer.config["padding"],
                "dilations": layer.config["dilation_rate"],
            }
        cases.append(
            {
                "reference": reference,
                "id": cid,
                "input_shape": shape,
                "layers": [[c, kw] for c, kw in layers],
                "json_k2": model.to_json("keras2") if opts.get("keras2", True) else None,
                "json_k3": model.to_json("keras3"),
                "keras2": opts.get("keras2", True),
                "keras3": opts.get("keras3", True),
            }
        )
    apps = []
    for aid, gen, app, shape in APPS:
        np.save(folder / f"{aid}_input.npy", rng.uniform(-1, 1, (2, *shape)).astype(np.float32))
        apps.append({"id": aid, "generation": gen, "app": app, "input_shape": shape})
    for aid, gen, app, shape in SPEED_APPS:
        apps.append(
            {"id": aid, "generation": gen, "app": app, "input_shape": shape, "json_only": True}
        )
    result: dict[str, Any] = oracle.run(
        "layers_conv_pool_reshape", {"dir": str(folder), "cases": cases, "apps": apps}
    )
    result["folder"] = folder
    result["ours"] = ours
    result["case_opts"] = {cid: opts for cid, _, _, opts in CASES}
    return result


def _close(ours: np.ndarray, keras: np.ndarray, rel: float, what: str) -> None:
    assert ours.shape == keras.shape, f"{what}: shape {ours.shape} != keras {keras.shape}"
    scale = float(np.max(np.abs(keras))) if keras.size else 0.0
    diff = float(np.max(np.abs(ours.astype(np.float64) - keras))) if keras.size else 0.0
    assert diff <= rel * max(scale, 1e-6), f"{what}: max |diff| {diff:.3g}, max |keras| {scale:.3g}"


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in config.items()
        if k not in ("name", "dtype") and not k.endswith("_initializer")
    }


def _gens(run: dict[str, Any], cid: str, predicts: bool = True) -> list[str]:
    """The generations this case runs in (``predicts``: only those whose CPU kernels exist)."""
    opts = run["case_opts"][cid]
    return [
        g
        for g in GENS
        if opts.get("keras2" if g == "k2" else "keras3", True)
        and not (predicts and opts.get("keras2_fails" if g == "k2" else "keras3_fails"))
    ]


def _single(pred: Any) -> np.ndarray:
    """One output. (A model read from a tf_keras config, whose ``output_layers`` is always a
    list, currently predicts a one-element list here; tf_keras itself returns the array.)"""
    if isinstance(pred, list) and len(pred) == 1:
        return np.asarray(pred[0])
    return np.asarray(pred)


CASE_IDS = [c[0] for c in CASES]


@pytest.mark.oracle
def test_oracle_versions(run: dict[str, Any]) -> None:
    assert run["versions"]["tf_keras"].startswith("2.21"), run["versions"]
    assert run["versions"]["keras"].startswith("3."), run["versions"]


@pytest.mark.oracle
@pytest.mark.parametrize(
    "cid", [c[0] for c in CASES if c[3].get("keras2_fails") or c[3].get("keras3_fails")]
)
def test_tensorflow_cpu_still_lacks_these_kernels(run: dict[str, Any], cid: str) -> None:
    opts = run["case_opts"][cid]
    for gen in GENS:
        message = opts.get("keras2_fails" if gen == "k2" else "keras3_fails")
        if not message:
            continue
        res = run["cases"][cid][gen]
        assert message in res.get("loaded_error", ""), (cid, gen, res.get("loaded_error"))
        assert message in res.get("native_error", ""), (cid, gen, res.get("native_error"))


@pytest.mark.oracle
@pytest.mark.parametrize("cid", [c[0] for c in CASES if c[3].get("reference")])
def test_dilated_transposed_convolution_is_the_gradient_of_convolution(
    run: dict[str, Any], cid: str
) -> None:
    res = run["cases"][cid]["reference"]
    assert res.get("ok"), f"{cid}: reference failed: {res.get('error')}"
    reference = np.load(run["folder"] / f"{cid}_reference.npy")
    _close(run["ours"][cid]["pred"], reference, 1e-5, f"{cid} ours vs gradient of convolution")


@pytest.mark.oracle
@pytest.mark.parametrize("cid", CASE_IDS)
def test_our_config_loads_and_predicts_the_same(run: dict[str, Any], cid: str) -> None:
    for gen in _gens(run, cid):
        res = run["cases"][cid][gen]
        assert res.get("loaded"), f"{cid} [{gen}]: our config failed: {res.get('loaded_error')}"
        keras = np.load(run["folder"] / f"{cid}_loaded_{gen}.npy")
        _close(run["ours"][cid]["pred"], keras, 1e-5, f"{cid} [{gen}] ours vs loaded")


@pytest.mark.oracle
@pytest.mark.parametrize("cid", CASE_IDS)
def test_keras_built_layers_take_our_weights(run: dict[str, Any], cid: str) -> None:
    for gen in _gens(run, cid):
        res = run["cases"][cid][gen]
        assert res.get("native"), f"{cid} [{gen}]: native build failed: {res.get('native_error')}"
        keras = np.load(run["folder"] / f"{cid}_native_{gen}.npy")
        _close(run["ours"][cid]["pred"], keras, 1e-5, f"{cid} [{gen}] ours vs native")


@pytest.mark.oracle
@pytest.mark.parametrize("cid", CASE_IDS)
def test_we_read_keras_made_configs(run: dict[str, Any], cid: str) -> None:
    ours = run["ours"][cid]
    for gen in _gens(run, cid, predicts=False):
        res = run["cases"][cid][gen]
        model = pk.model_from_json(res["native_json"])
        model.set_weights(ours["weights"])
        pred = _single(model.predict(ours["x"]))
        if gen in _gens(run, cid):
            keras = np.load(run["folder"] / f"{cid}_native_{gen}.npy")
            _close(pred, keras, 1e-5, f"{cid} [{gen}] keras json read by us")
        else:
            _close(pred, ours["pred"], 1e-6, f"{cid} [{gen}] keras json read by us vs ours")
        # Reading one generation's config and rendering the other's (and back) keeps the layer
        # configs (initializer configs aside: Keras 3's extra GlorotUniform keys do not survive
        # a tf_keras rendering).
        other = "keras3" if gen == "k2" else "keras2"
        if other == "keras2" and not run["case_opts"][cid].get("keras2", True):
            with pytest.raises(pk.TargetCompatibilityError):
                model.to_json(other)
            continue
        again = pk.model_from_json(model.to_json(other))
        for a, b in zip(model.layers[1:], again.layers[1:]):
            assert _comparable(a.config) == _comparable(b.config), (cid, gen, a.name)


@pytest.mark.oracle
@pytest.mark.parametrize("cid", CASE_IDS)
def test_rendered_configs_match_keras(run: dict[str, Any], cid: str) -> None:
    """Same keys, same order, same values (lists for tuples) as the layer's own get_config()."""
    model = run["ours"][cid]["model"]
    for gen in _gens(run, cid, predicts=False):
        native = run["cases"][cid][gen]["native_configs"]
        mine = [la.get_config(DIALECT[gen]) for la in model.layers[1:]]
        for ours_cfg, keras_cfg in zip(mine, native):
            assert list(ours_cfg) == list(keras_cfg), f"{cid} [{gen}] key order"
            assert _comparable(ours_cfg) == _comparable(keras_cfg), f"{cid} [{gen}] values"


# ------------------------------------------------------------------------ real architectures


@pytest.mark.oracle
@pytest.mark.parametrize("aid", [a[0] for a in APPS])
def test_keras_applications_predict_the_same(run: dict[str, Any], aid: str) -> None:
    res = run["apps"][aid]
    assert res.get("ok"), f"{aid}: oracle failed: {res.get('error')}"
    folder: Path = run["folder"]
    model = pk.model_from_json((folder / f"{aid}.json").read_text())
    with np.load(folder / f"{aid}_weights.npz") as data:
        model.set_weights([data[f"arr_{i}"] for i in range(len(data.files))])
    assert len(model.layers) == res["layers"]
    assert model.count_params() == res["params"]
    x = np.load(folder / f"{aid}_input.npy")
    start = time.perf_counter()
    pred = _single(model.predict(x))
    seconds = time.perf_counter() - start
    _close(pred, np.load(folder / f"{aid}_pred.npy"), 1e-4, aid)
    assert seconds < 30, f"{aid}: predict took {seconds:.1f} s"
    # The model renders for both generations and reads back to the same configs (checked for
    # this module's layer families; initializer configs aside, see above).
    mine = (conv.__name__, pooling.__name__, reshaping.__name__)
    for dialect in ("keras2", "keras3"):
        again = pk.model_from_json(model.to_json(dialect))
        for a, b in zip(model.layers, again.layers):
            if type(a).__module__ in mine:
                assert _comparable(a.config) == _comparable(b.config), (aid, dialect, a.name)


@pytest.mark.oracle
@pytest.mark.parametrize("aid", [a[0] for a in SPEED_APPS])
def test_full_size_architectures_predict_in_seconds(run: dict[str, Any], aid: str) -> None:
    res = run["apps"][aid]
    assert res.get("ok"), f"{aid}: oracle failed: {res.get('error')}"
    model = pk.model_from_json((run["folder"] / f"{aid}.json").read_text())
    assert model.count_params() == res["params"]
    x = np.random.default_rng(0).uniform(0, 255, (2, 224, 224, 3)).astype(np.float32)
    start = time.perf_counter()
    pred = _single(model.predict(x))
    seconds = time.perf_counter() - start
    assert pred.shape == (2, 1000) and np.all(np.isfinite(pred))
    assert seconds < SPEED_LIMIT_SECONDS, f"{aid}: predict took {seconds:.1f} s"
