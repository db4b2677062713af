"""Normalization, merge, embedding and preprocessing layers, and every activation, against
tf_keras 2.21 and Keras 3.15.1 (one oracle process, ``scripts/layers_norm_merge_embed.py``).

Each case is a small graph built with ``purekeras_io`` with random weights. The oracle loads our
``to_json("keras2")`` in tf_keras and our ``to_json("keras3")`` in Keras 3, sets our weights and
runs the same inputs; our forward pass (of the model parsed back from that same JSON, so in that
generation's numerics) must match within ``1e-5 * max|keras output|``, output masks exactly. The
oracle also builds each graph natively and returns its ``to_json()``: our parser must read it,
give the same weight names and shapes, and predict what Keras predicted.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from layer_oracle_helpers import assert_close, assert_masks, keras_arrays

import purekeras_io as pk
from purekeras_io.activations import ACTIVATIONS, KERAS2_NAMES

BOTH = ["keras2", "keras3"]
K3 = ["keras3"]
K2 = ["keras2"]
F = "float32"


def _case(
    cid: str, inputs: list[Any], layers: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    spec = [{"shape": list(s), "dtype": F} if isinstance(s, tuple) else s for s in inputs]
    case = {"id": cid, "inputs": spec, "layers": layers, "dialects": BOTH, "native": True}
    case.update(extra)
    return case


def L(class_name: str, _in: Any = None, **args: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"class_name": class_name, "args": args}
    if _in is not None:
        spec["in"] = _in
    return spec


def _ints(shape: tuple[int, ...], high: int) -> dict[str, Any]:
    return {"shape": list(shape), "dtype": "int32", "high": high}


CASES: list[dict[str, Any]] = [
    # ---------------------------------------------------------------- normalization
    _case("bn_default", [(4, 5, 3)], [L("BatchNormalization")]),
    _case("bn_axis1", [(3, 4, 5)], [L("BatchNormalization", axis=1, center=False, epsilon=0.01)]),
    _case("bn_noscale", [(6,)], [L("BatchNormalization", scale=False, momentum=0.9)]),
    _case("bn_renorm", [(6,)], [L("BatchNormalization", renorm=True)]),
    _case("bn_multi_axis", [(3, 4, 5)], [L("BatchNormalization", axis=[1, 3])], dialects=K2),
    _case("ln_default", [(7,)], [L("LayerNormalization")]),
    _case("ln_axes", [(3, 4, 5)], [L("LayerNormalization", axis=[1, 2], center=False)]),
    _case("ln_neg_axes", [(3, 4, 5)], [L("LayerNormalization", axis=[-2, -1], epsilon=1e-5)]),
    _case("ln_noscale", [(2, 6)], [L("LayerNormalization", scale=False)]),
    _case("ln_rms", [(8,)], [L("LayerNormalization", rms_scaling=True)], dialects=K3),
    _case("gn_2", [(5, 4)], [L("GroupNormalization", groups=2)]),
    _case("gn_axis1", [(6, 3, 3)], [L("GroupNormalization", groups=-1, axis=1)]),
    _case("gn_nocenter", [(2, 2, 6)], [L("GroupNormalization", groups=3, center=False)]),
    _case("unitnorm", [(5,)], [L("UnitNormalization")]),
    _case("unitnorm_axes", [(3, 4)], [L("UnitNormalization", axis=[1, 2])]),
    # ---------------------------------------------------------------- merge
    *[
        _case(f"merge_{c.lower()}", [(4, 3), (4, 3)], [L(c, [0, 1])])
        for c in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")
    ],
    _case("add_three", [(3,), (3,), (3,)], [L("Add", [0, 1, 2])]),
    _case("add_broadcast", [(4, 3), (1, 3)], [L("Add", [0, 1])]),
    _case("multiply_rank", [(3,), (4, 3)], [L("Multiply", [0, 1])]),
    _case("concat_last", [(4, 3), (4, 2)], [L("Concatenate", [0, 1])]),
    _case("concat_axis1", [(4, 3), (2, 3)], [L("Concatenate", [0, 1], axis=1)]),
    _case("dot_1", [(5,), (5,)], [L("Dot", [0, 1], axes=1)]),
    _case("dot_norm", [(3, 4), (5, 4)], [L("Dot", [0, 1], axes=[2, 2], normalize=True)]),
    _case("dot_12", [(3, 4), (5, 3)], [L("Dot", [0, 1], axes=[1, 2])]),
    _case("dot_neg", [(3, 4), (3, 6)], [L("Dot", [0, 1], axes=-2)]),
    # ---------------------------------------------------------------- embedding and masks
    _case("embed", [_ints((6,), 10)], [L("Embedding", input_dim=10, output_dim=4)]),
    _case(
        "embed_seq",
        [_ints((5,), 7)],
        [L("Embedding", input_dim=7, output_dim=2, input_length=5, mask_zero=True)],
        sequential=True,
        masks=True,
    ),
    _case(
        "embed_masks",
        [_ints((5,), 6), _ints((5,), 6)],
        [
            L("Embedding", 0, input_dim=6, output_dim=3, mask_zero=True),  # 2
            L("Embedding", 1, input_dim=6, output_dim=3, mask_zero=True),  # 3
            L("Embedding", 1, input_dim=6, output_dim=3),  # 4
            L("Add", [2, 3]),
            L("Add", [2, 4]),
            L("Multiply", [2, 3]),
            L("Multiply", [2, 4]),
            L("Maximum", [2, 3]),
            L("Minimum", [2, 4]),
            L("Concatenate", [2, 4]),
            L("Concatenate", [2, 3]),
            L("Average", [2, 3]),
            L("Subtract", [3, 2]),
            L("Dot", [2, 3], axes=2),
            L("LayerNormalization", 2),
            L("Activation", 2, activation="tanh"),
            L("UnitNormalization", 2),
            L("Rescaling", 2, scale=2.0),
        ],
        outputs=list(range(5, 19)),
        masks=True,
    ),
    # Keras 3 passes the mask of a masked input explicitly to layers whose ``call`` takes
    # ``mask`` (BatchNormalization): its own config then holds a ``NotEqual`` op layer (the
    # operator-layer family), so only tf_keras' native config is read back here.
    _case(
        "embed_mask_bn",
        [_ints((5,), 6)],
        [L("Embedding", input_dim=6, output_dim=3, mask_zero=True), L("BatchNormalization")],
        masks=True,
        native=K2,
    ),
    # ---------------------------------------------------------------- preprocessing
    _case("rescale", [(2, 2, 3)], [L("Rescaling", scale=1 / 255, offset=-1.0)]),
    _case("rescale_list", [(2, 2, 3)], [L("Rescaling", scale=[1.0, 2.0, 3.0], offset=0.5)]),
    _case("norm_adapted", [(4,)], [L("Normalization")]),
    _case("norm_axes", [(3, 4)], [L("Normalization", axis=[1, 2])]),
    _case("norm_none", [(3, 4)], [L("Normalization", axis=None)]),
    _case(
        "norm_given", [(3,)], [L("Normalization", mean=[1.0, 2.0, 3.0], variance=[1.0, 4.0, 0.5])]
    ),
    _case("norm_given_scalar", [(2, 3)], [L("Normalization", mean=2.0, variance=3.0, invert=True)]),
    _case("resize_bilinear", [(4, 6, 3)], [L("Resizing", height=5, width=7)]),
    _case("resize_down", [(8, 9, 2)], [L("Resizing", height=3, width=4)]),
    _case(
        "resize_nearest", [(4, 6, 3)], [L("Resizing", height=8, width=3, interpolation="nearest")]
    ),
    _case(
        "resize_crop", [(6, 10, 1)], [L("Resizing", height=4, width=4, crop_to_aspect_ratio=True)]
    ),
    _case("centercrop", [(5, 6, 2)], [L("CenterCrop", height=2, width=3)]),
]
# ---------------------------------------------------------------- every activation
for _name in sorted(ACTIVATIONS):
    if _name == "None":
        continue
    CASES.append(
        _case(
            f"act_{_name}",
            [(3, 8) if _name == "glu" else (12,)],
            [L("Activation", activation=_name)],
            sequential=True,
            dialects=BOTH if _name in KERAS2_NAMES else K3,
        )
    )

CASE_BY_ID = {c["id"]: c for c in CASES}
PAIRS = [(c["id"], d) for c in CASES for d in c["dialects"]]
NATIVE_PAIRS = [
    (c["id"], d)
    for c in CASES
    for d in c["dialects"]
    if c["native"] is True or d in c["native"]
]


# ==================================================================== our side


def build(case: dict[str, Any]) -> pk.Model:
    """The case's graph with purekeras_io layers (same names as the oracle's native build)."""
    inputs = [
        pk.Input(shape=tuple(s["shape"]), dtype=s.get("dtype", F), name=f"in{k}")
        for k, s in enumerate(case["inputs"])
    ]
    layers = [
        getattr(pk.layers, s["class_name"])(name=f"l{k}", **s.get("args", {}))
        for k, s in enumerate(case["layers"])
    ]
    if case.get("sequential"):
        return pk.Sequential([inputs[0], *layers], name="ours")
    tensors: list[Any] = list(inputs)
    for spec, layer in zip(case["layers"], layers):
        src = spec.get("in", len(tensors) - 1)
        tensors.append(layer([tensors[i] for i in src] if isinstance(src, list) else tensors[src]))
    outs = [tensors[i] for i in case.get("outputs", [len(tensors) - 1])]
    return pk.Model(inputs if len(inputs) > 1 else inputs[0], outs if len(outs) > 1 else outs[0])


_POSITIVE = ("moving_variance", "variance", "moving_stddev", "renorm_stddev")


def random_weights(model: pk.Model, rng: np.random.Generator) -> dict[str, np.ndarray]:
    out = {}
    for layer in model.layers:
        values = []
        for var in layer.weights:
            if var.name in _POSITIVE:
                v = rng.uniform(0.3, 2.0, var.shape)
            elif var.name == "count":
                v = np.asarray(17)
            else:
                v = rng.normal(0.0, 1.0, var.shape)
            values.append(np.asarray(v).astype(var.dtype))
        layer.set_weights(values)
        for i, v in enumerate(values):
            out[f"{layer.name}::{i}"] = v
    return out


def random_inputs(case: dict[str, Any], rng: np.random.Generator) -> list[np.ndarray]:
    out = []
    for spec in case["inputs"]:
        shape = (3, *spec["shape"])
        if spec.get("dtype") == "int32":
            ints = rng.integers(1, spec["high"], shape)
            ints[rng.random(shape) < 0.4] = 0  # index 0 is the masked one (mask_zero)
            out.append(ints.astype(np.int32))
        else:
            out.append((rng.normal(0.0, 2.0, shape)).astype(np.float32))
    return out


def set_layer_weights(model: pk.Model, weights: dict[str, np.ndarray]) -> None:
    for layer in model.layers:
        values = []
        while f"{layer.name}::{len(values)}" in weights:
            values.append(weights[f"{layer.name}::{len(values)}"])
        if values or layer.weights:
            layer.set_weights(values)


def predict_with_masks(model: pk.Model, inputs: list[np.ndarray]) -> tuple[list[Any], list[Any]]:
    """Our outputs and output masks (recorded from the output layers' ``compute_mask``)."""
    outputs = model.outputs
    recorded: dict[int, Any] = {}
    originals = []
    for k, t in enumerate(outputs):
        layer = t.history[0]  # type: ignore[index]
        original = layer.compute_mask

        def hook(inputs_: Any, mask: Any = None, _k: int = k, _f: Any = original) -> Any:
            result = _f(inputs_, mask)
            recorded[_k] = result
            return result

        layer.compute_mask = hook  # type: ignore[method-assign]
        originals.append((layer, original))
    try:
        result = model.predict(inputs if len(inputs) > 1 else inputs[0])
    finally:
        for layer, _ in originals:
            del layer.compute_mask
    outs = result if isinstance(result, list) else [result]
    return outs, [recorded.get(k) for k in range(len(outs))]


# ==================================================================== the oracle run


@pytest.fixture(scope="module")
def run(oracle: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("norm_merge_embed")
    rng = np.random.default_rng(20240611)
    ours: dict[str, Any] = {}
    for case in CASES:
        cid = case["id"]
        model = build(case)
        weights = random_weights(model, rng)
        inputs = random_inputs(case, rng)
        np.savez(folder / f"{cid}_weights.npz", **weights)
        np.savez(folder / f"{cid}_inputs.npz", **{f"in{k}": x for k, x in enumerate(inputs)})
        per: dict[str, Any] = {"weights": weights, "inputs": inputs}
        for dialect in case["dialects"]:
            short = "k2" if dialect == "keras2" else "k3"
            text = model.to_json(dialect)
            (folder / f"{cid}_{short}.json").write_text(text)
            parsed = pk.model_from_json(text)
            set_layer_weights(parsed, weights)
            per[dialect] = predict_with_masks(parsed, inputs)
        ours[cid] = per
    result: dict[str, Any] = oracle.run(
        "layers_norm_merge_embed", {"dir": str(folder), "cases": CASES}
    )
    return {"folder": folder, "ours": ours, "oracle": result}


@pytest.mark.oracle
def test_oracle_versions(run: dict[str, Any]) -> None:
    v = run["oracle"]["versions"]
    assert v["tf_keras"].startswith("2.21") and v["keras"].startswith("3."), v


@pytest.mark.oracle
@pytest.mark.parametrize(("cid", "dialect"), PAIRS)
def test_keras_loads_our_config_and_agrees(run: dict[str, Any], cid: str, dialect: str) -> None:
    keras = keras_arrays(run, cid, dialect, "loaded")
    outs, masks = run["ours"][cid][dialect]
    assert_close(outs, keras, f"{cid} {dialect} (our config)")
    if CASE_BY_ID[cid].get("masks"):
        assert_masks(masks, keras, f"{cid} {dialect} (our config)")


@pytest.mark.oracle
@pytest.mark.parametrize(("cid", "dialect"), NATIVE_PAIRS)
def test_we_read_keras_written_config(run: dict[str, Any], cid: str, dialect: str) -> None:
    keras = keras_arrays(run, cid, dialect, "native")
    res = run["oracle"]["cases"][cid][dialect]
    model = pk.model_from_json(res["native_json"])
    listing = {
        layer.name: [[w.name, list(w.shape)] for w in layer.weights] for layer in model.layers
    }
    native = {k: v for k, v in res["native_weights"].items() if k in listing}
    assert listing == {k: native.get(k, []) for k in listing}, f"{cid} {dialect}: weights differ"
    set_layer_weights(model, run["ours"][cid]["weights"])
    outs, masks = predict_with_masks(model, run["ours"][cid]["inputs"])
    assert_close(outs, keras, f"{cid} {dialect} (Keras-written config)")
    if CASE_BY_ID[cid].get("masks"):
        assert_masks(masks, keras, f"{cid} {dialect} (Keras-written config)")


@pytest.mark.oracle
def test_every_activation_is_covered() -> None:
    names = {c["id"][4:] for c in CASES if c["id"].startswith("act_")}
    assert names == set(ACTIVATIONS) - {"None"}
    assert json.dumps(sorted(KERAS2_NAMES))  # the keras2 list is non-empty and serializable
