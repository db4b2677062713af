"""Numbers like TensorFlow's: the NumPy reference forward pass on degenerate statistics and on
NaN/infinite inputs, against tf_keras 2.21 and Keras 3.15.1 on TensorFlow (the oracle script
``scripts/layers_norm_merge_embed.py``, which sets the weights, calls ``finalize_state`` as
loading a file does, and runs the inputs).

Statistics: Normalization ``mean``/``variance`` and BatchNormalization ``moving_mean``/
``moving_variance`` holding zero, negative, NaN and infinite entries; inputs with NaN and ±inf
entries (whole pooling windows of NaN too). Our output must have NaN exactly where Keras has it,
the same infinities, and finite values within ``1e-5 * max|finite keras output|``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from layer_oracle_helpers import keras_arrays

import purekeras_io as pk

BOTH = ["keras2", "keras3"]
NAN, INF = float("nan"), float("inf")
_STATS = [0.0, -1.0, NAN, INF, -INF, 2.0]


def _case(cid: str, shape: tuple[int, ...], layers: list[dict[str, Any]], *,
          stats: dict[str, list[float]] | None = None, special: bool = True,
          dialects: list[str] = BOTH, windows: bool = False) -> dict[str, Any]:
    return {"id": cid, "inputs": [{"shape": list(shape), "dtype": "float32"}], "layers": layers,
            "dialects": dialects, "native": [], "stats": stats or {}, "special": special,
            "windows": windows}


def L(class_name: str, **args: Any) -> dict[str, Any]:
    return {"class_name": class_name, "args": args}


CASES: list[dict[str, Any]] = [
    _case("norm_variance", (6,), [L("Normalization", axis=-1)],
          stats={"variance": _STATS}, special=False),
    _case("norm_mean", (6,), [L("Normalization", axis=-1)],
          stats={"mean": [NAN, INF, -INF, 0.0, 1.0, -2.0], "variance": [1.0] * 6},
          special=False),
    _case("norm_inputs", (6,), [L("Normalization", axis=-1)], stats={"variance": _STATS}),
    _case("norm_invert", (6,), [L("Normalization", axis=-1, invert=True)],
          stats={"variance": _STATS}),
    _case("bn_variance", (6,), [L("BatchNormalization")], stats={"moving_variance": _STATS},
          special=False),
    _case("bn_variance_eps0", (6,), [L("BatchNormalization", epsilon=0.0)],
          stats={"moving_variance": _STATS}, special=False),
    _case("bn_fused_variance", (2, 2, 6), [L("BatchNormalization")],
          stats={"moving_variance": _STATS, "moving_mean": [INF, NAN, 0.0, 1.0, -INF, 3.0]}),
    _case("bn_inputs", (2, 2, 6), [L("BatchNormalization")]),
    _case("bn_gamma_beta", (6,), [L("BatchNormalization")],
          stats={"gamma": [INF, 0.0, NAN, 1.0, -INF, 1.0], "beta": [0.0, INF, 1.0, NAN, 0.0, -INF]},
          special=False),
    _case("ln_inputs", (6,), [L("LayerNormalization")]),
    _case("ln_rms_inputs", (6,), [L("LayerNormalization", rms_scaling=True)], dialects=["keras3"]),
    _case("gn_inputs", (2, 6), [L("GroupNormalization", groups=2)]),
    _case("unitnorm_inputs", (6,), [L("UnitNormalization")]),
    _case("maxpool1d", (8, 2), [L("MaxPooling1D", pool_size=2)], windows=True),
    _case("maxpool1d_same", (7, 2), [L("MaxPooling1D", pool_size=3, strides=2, padding="same")],
          windows=True),
    _case("maxpool2d", (4, 4, 2), [L("MaxPooling2D", pool_size=2)], windows=True),
    _case("maxpool3d", (2, 4, 4, 1), [L("MaxPooling3D", pool_size=2)], windows=True),
    _case("maxpool2d_same", (5, 5, 2), [L("MaxPooling2D", pool_size=3, strides=2,
                                            padding="same")], windows=True),
    _case("maxpool3d_same", (3, 5, 5, 1), [L("MaxPooling3D", pool_size=(2, 3, 2),
                                             strides=(1, 2, 1), padding="same")], windows=True),
    _case("avgpool2d", (4, 4, 2), [L("AveragePooling2D", pool_size=2)], windows=True),
    # ResNet's and DenseNet's stem: a BatchNormalization with a few negative variances gives
    # NaN channels, which TF's MaxPool skips (Keras predicts numbers; so must we).
    _case("resnet_stem", (2, 2, 3), [
        L("Conv2D", filters=6, kernel_size=3, padding="same"), L("BatchNormalization"),
        L("ReLU"), L("ZeroPadding2D", padding=1), L("MaxPooling2D", pool_size=2),
        L("Conv2D", filters=4, kernel_size=2), L("Flatten"), L("Dense", units=3),
    ], stats={"moving_variance": [-1.0, 1.0, 1.0, -1.0, 0.5, 2.0]}, special=False),
    _case("globalmax", (6, 3), [L("GlobalMaxPooling1D")], windows=True),
    _case("globalavg", (6, 3), [L("GlobalAveragePooling1D")], windows=True),
    _case("relu_args", (6,), [L("ReLU", max_value=6.0, threshold=0.5, negative_slope=0.1)]),
    _case("relu_plain", (6,), [L("ReLU")]),
    _case("leaky", (6,), [L("LeakyReLU")]),
    _case("elu", (6,), [L("ELU")]),
    _case("softmax", (6,), [L("Softmax")]),
    *[_case(f"act_{a}", (6,), [L("Activation", activation=a)]) for a in (
        "relu", "sigmoid", "tanh", "softplus", "softsign", "elu", "selu", "exponential",
        "hard_sigmoid", "swish", "gelu", "softmax",
    )],
    *[_case(f"act3_{a}", (6,), [L("Activation", activation=a)], dialects=["keras3"]) for a in (
        "relu6", "hard_silu", "leaky_relu", "log_softmax", "celu", "hard_tanh", "squareplus",
    )],
    _case("rescaling", (6,), [L("Rescaling", scale=INF, offset=1.0)], dialects=["keras3"]),
]


def _special(x: np.ndarray, rng: np.random.Generator, windows: bool) -> np.ndarray:
    """Inputs with NaN, +inf and -inf entries; ``windows``: whole leading blocks of NaN too."""
    x = x.copy()
    flat = x.reshape(-1)
    picks = rng.choice(flat.size, size=max(3, flat.size // 5), replace=False)
    for i, p in enumerate(picks):
        flat[p] = (NAN, INF, -INF)[i % 3]
    if windows:
        x[0] = NAN  # a whole sample: every pooling window of it is NaN
        sl = tuple(slice(0, 2) for _ in range(x.ndim - 2))
        x[(1, *sl)] = NAN  # one all-NaN window (and more) in another
        x[(2, *sl)] = -INF  # and one all -inf window
    return x


def _build(case: dict[str, Any]) -> pk.Model:
    spec = case["inputs"][0]
    inputs = pk.Input(shape=tuple(spec["shape"]), name="in0")
    x = inputs
    for k, layer in enumerate(case["layers"]):
        x = getattr(pk.layers, layer["class_name"])(name=f"l{k}", **layer["args"])(x)
    return pk.Model(inputs, x)


def _weights(model: pk.Model, case: dict[str, Any], rng: np.random.Generator
             ) -> dict[str, np.ndarray]:
    out = {}
    for layer in model.layers:
        values = []
        for var in layer.weights:
            if var.name in case["stats"]:
                v = np.asarray(case["stats"][var.name])
            elif var.name == "count":
                v = np.asarray(17)
            elif "variance" in var.name:
                v = rng.uniform(0.3, 2.0, var.shape)
            else:
                v = rng.normal(0.0, 1.0, var.shape)
            values.append(np.asarray(v).astype(var.dtype))
        if values:
            layer.set_weights(values)
        for i, v in enumerate(values):
            out[f"{layer.name}::{i}"] = v
    return out


@pytest.fixture(scope="module")
def run(oracle: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("degenerate")
    rng = np.random.default_rng(20260611)
    ours: dict[str, Any] = {}
    for case in CASES:
        cid = case["id"]
        model = _build(case)
        weights = _weights(model, case, rng)
        shape = (3, *case["inputs"][0]["shape"])
        x = rng.normal(0.0, 2.0, shape).astype(np.float32)
        if case["special"]:
            x = _special(x, rng, case["windows"])
        np.savez(folder / f"{cid}_weights.npz", **weights)
        np.savez(folder / f"{cid}_inputs.npz", in0=x)
        per: dict[str, Any] = {}
        for dialect in case["dialects"]:
            text = model.to_json(dialect)
            (folder / f"{cid}_{'k2' if dialect == 'keras2' else 'k3'}.json").write_text(text)
            parsed = pk.model_from_json(text)
            for layer in parsed.layers:
                values = [weights[f"{layer.name}::{i}"] for i in range(len(layer.weights))]
                if values:
                    layer.set_weights(values)
            with np.errstate(all="ignore"):
                per[dialect] = np.asarray(parsed.predict(x))
        ours[cid] = per
    result = oracle.run("layers_norm_merge_embed", {"dir": str(folder), "cases": CASES})
    return {"folder": folder, "ours": ours, "oracle": result}


PAIRS = [(c["id"], d) for c in CASES for d in c["dialects"]]


def assert_same_numbers(mine: np.ndarray, ref: np.ndarray, what: str) -> None:
    """NaN where Keras has NaN, the same infinities, finite values within 1e-5 of the scale."""
    assert mine.shape == ref.shape, f"{what}: shape {mine.shape} != {ref.shape}"
    mine = mine.astype(np.float64)
    nan_mine, nan_ref = np.isnan(mine), np.isnan(ref)
    assert (nan_mine == nan_ref).all(), (
        f"{what}: NaN at {np.argwhere(nan_mine != nan_ref)[:5].tolist()}: ours "
        f"{mine[nan_mine != nan_ref][:5]}, Keras {ref[nan_mine != nan_ref][:5]}"
    )
    inf_ref = np.isinf(ref)
    assert (np.isinf(mine) == inf_ref).all() and (mine[inf_ref] == ref[inf_ref]).all(), (
        f"{what}: infinities differ: ours {mine[np.isinf(mine) != inf_ref][:5]}, Keras "
        f"{ref[np.isinf(mine) != inf_ref][:5]}"
    )
    finite = np.isfinite(ref)
    if finite.any():
        scale = max(float(np.max(np.abs(ref[finite]))), 1e-30)
        diff = float(np.max(np.abs(mine[finite] - ref[finite])))
        assert diff <= 1e-5 * scale, f"{what}: max abs diff {diff} (scale {scale})"


@pytest.mark.oracle
@pytest.mark.parametrize(("cid", "dialect"), PAIRS)
def test_degenerate_numbers_like_tensorflow(run: dict[str, Any], cid: str, dialect: str) -> None:
    keras = keras_arrays(run, cid, dialect, "loaded")
    assert_same_numbers(run["ours"][cid][dialect], keras["out0"], f"{cid} ({dialect})")
