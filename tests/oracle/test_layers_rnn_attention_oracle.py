"""Recurrent and attention layers against tf_keras 2.21 and Keras 3.15.1 (one oracle process,
``scripts/layers_rnn_attention.py``).

Each case is a small graph built with ``purekeras_io`` with random weights. The oracle loads our
``to_json("keras2")`` in tf_keras and our ``to_json("keras3")`` in Keras 3, sets our weights with
``model.set_weights`` (so nested weight order must be Keras' own) and runs the same inputs; our
forward pass (of the model parsed back from that same JSON, so in that generation's numerics) must
match within ``1e-5 * max|keras output|``, output masks exactly. The oracle also builds each graph
natively in both generations and returns its ``to_json()``, weight names and predictions: our
parser must read it, name and order the weights as Keras does, render the same config keys, and
predict what Keras predicted. Two natively built models are the brief's end-to-end ones: an LSTM
text classifier and a small Transformer encoder block.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from layer_oracle_helpers import assert_close, assert_masks, keras_arrays

import purekeras_io as pk

BOTH = ["keras2", "keras3"]
F = "float32"


def _case(
    cid: str, inputs: list[Any], layers: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    spec = [{"shape": list(s), "dtype": F} if isinstance(s, tuple) else s for s in inputs]
    case = {"id": cid, "inputs": spec, "layers": layers, "dialects": BOTH, "native": True}
    case.update(extra)
    return case


def L(
    class_name: str, _in: Any = None, *, _args: Any = None, _kw: Any = None, **args: Any
) -> dict[str, Any]:
    """A layer of the graph: ``_in`` its first input, ``_args`` more positional inputs,
    ``_kw`` call keyword arguments (``{"t": ref}`` for tensors)."""
    spec: dict[str, Any] = {"class_name": class_name, "args": args}
    if _in is not None:
        spec["in"] = _in
    if _args:
        spec["call_args"] = _args
    if _kw:
        spec["call_kwargs"] = _kw
    return spec


def N(class_name: str, **args: Any) -> dict[str, Any]:
    """A nested layer argument (Bidirectional's ``layer``, RNN's ``cell``…)."""
    return {"class_name": class_name, "args": args}


def _tokens(steps: int, high: int, pad: str = "mixed") -> dict[str, Any]:
    return {"shape": [steps], "dtype": "int32", "high": high, "pad": pad}


CASES: list[dict[str, Any]] = [
    # ---------------------------------------------------------------- SimpleRNN / LSTM / GRU
    _case("srnn_default", [(5, 3)], [L("SimpleRNN", units=4)]),
    _case(
        "srnn_seq_back_relu",
        [(5, 3)],
        [L("SimpleRNN", units=4, return_sequences=True, go_backwards=True, activation="relu")],
    ),
    _case(
        "srnn_state", [(5, 3)], [L("SimpleRNN", units=3, return_state=True)], outputs=["1:0", "1:1"]
    ),
    _case("lstm_default", [(5, 3)], [L("LSTM", units=4)]),
    _case(
        "lstm_seq_state",
        [(5, 3)],
        [L("LSTM", units=4, return_sequences=True, return_state=True)],
        outputs=["1:0", "1:1", "1:2"],
    ),
    _case(
        "lstm_back_hard",
        [(6, 2)],
        [
            L(
                "LSTM",
                units=3,
                go_backwards=True,
                return_sequences=True,
                recurrent_activation="hard_sigmoid",
                activation="relu",
                unit_forget_bias=False,
            )
        ],
    ),
    _case("lstm_nobias", [(4, 3)], [L("LSTM", units=3, use_bias=False)]),
    _case("gru_default", [(5, 3)], [L("GRU", units=4)]),
    _case("gru_v1", [(5, 3)], [L("GRU", units=4, reset_after=False, return_sequences=True)]),
    _case(
        "gru_state_back",
        [(5, 3)],
        [L("GRU", units=3, return_state=True, go_backwards=True)],
        outputs=["1:0", "1:1"],
    ),
    _case("gru_nobias", [(4, 2)], [L("GRU", units=3, use_bias=False)]),
    _case("rnn_lstmcell", [(5, 3)], [L("RNN", cell=N("LSTMCell", units=3))]),
    _case(
        "rnn_grucell_seq",
        [(5, 3)],
        [
            L(
                "RNN",
                cell=N("GRUCell", units=3, reset_after=False),
                return_sequences=True,
                go_backwards=True,
            )
        ],
    ),
    _case(
        "rnn_simplecell_state",
        [(4, 3)],
        [L("RNN", cell=N("SimpleRNNCell", units=2), return_state=True)],
        outputs=["1:0", "1:1"],
    ),
    _case(
        "stacked",
        [(6, 3)],
        [
            L("LSTM", units=4, return_sequences=True),
            L("GRU", units=3, return_sequences=True),
            L("SimpleRNN", units=2),
        ],
    ),
    _case(
        "initial_state",
        [(5, 3), (4, 2)],
        [
            L("LSTM", 0, units=3, return_state=True),
            L(
                "LSTM",
                1,
                units=3,
                return_sequences=True,
                _kw={"initial_state": [{"t": "2:1"}, {"t": "2:2"}]},
            ),
        ],
    ),
    # ---------------------------------------------------------------- masks
    _case(
        "mask_lstm_seq",
        [_tokens(6, 9)],
        [
            L("Embedding", input_dim=9, output_dim=3, mask_zero=True),
            L("LSTM", units=4, return_sequences=True),
        ],
        masks=True,
    ),
    _case(
        "mask_lstm_last",
        [_tokens(6, 9, "full")],
        [L("Embedding", input_dim=9, output_dim=3, mask_zero=True), L("LSTM", units=4)],
        masks=True,
    ),
    _case(
        "mask_gru_back",
        [_tokens(6, 9)],
        [
            L("Embedding", input_dim=9, output_dim=3, mask_zero=True),
            L("GRU", units=3, go_backwards=True, return_sequences=True),
            L("GRU", units=3),
        ],
        masks=True,
    ),
    _case(
        "mask_srnn_state",
        [_tokens(5, 7)],
        [
            L("Embedding", input_dim=7, output_dim=3, mask_zero=True),
            L("SimpleRNN", units=3, return_state=True, return_sequences=True),
        ],
        outputs=["2:0", "2:1"],
        masks=True,
    ),
    _case(
        "mask_gru_v1_zero",
        [_tokens(6, 9)],
        [
            L("Embedding", input_dim=9, output_dim=3, mask_zero=True),
            L("GRU", units=3, reset_after=False, return_sequences=True, zero_output_for_mask=True),
        ],
        masks=True,
    ),
    _case(
        "masking_layer",
        [{"shape": [5, 3], "dtype": F, "zero_steps": True}],
        [L("Masking"), L("LSTM", units=3, return_sequences=True)],
        masks=True,
    ),
    _case(
        "mask_rnn_cell",
        [_tokens(6, 9)],
        [
            L("Embedding", input_dim=9, output_dim=3, mask_zero=True),
            L("RNN", cell=N("LSTMCell", units=3), return_sequences=True),
        ],
        masks=True,
    ),
    # ---------------------------------------------------------------- Bidirectional
    _case(
        "bidi_concat_seq",
        [(5, 3)],
        [L("Bidirectional", layer=N("LSTM", units=3, return_sequences=True))],
    ),
    _case(
        "bidi_sum_gru", [(5, 3)], [L("Bidirectional", layer=N("GRU", units=3), merge_mode="sum")]
    ),
    _case(
        "bidi_mul", [(5, 3)], [L("Bidirectional", layer=N("SimpleRNN", units=3), merge_mode="mul")]
    ),
    _case(
        "bidi_ave_seq",
        [(5, 3)],
        [L("Bidirectional", layer=N("GRU", units=2, return_sequences=True), merge_mode="ave")],
    ),
    _case(
        "bidi_none",
        [(5, 3)],
        [L("Bidirectional", layer=N("LSTM", units=2, return_sequences=True), merge_mode=None)],
        outputs=["1:0", "1:1"],
    ),
    _case(
        "bidi_state",
        [(5, 3)],
        [L("Bidirectional", layer=N("LSTM", units=2, return_state=True))],
        outputs=["1:0", "1:1", "1:2", "1:3", "1:4"],
    ),
    _case(
        "bidi_backward",
        [(5, 3)],
        [
            L(
                "Bidirectional",
                layer=N("LSTM", units=3, return_sequences=True),
                backward_layer=N("GRU", units=2, go_backwards=True, return_sequences=True),
            )
        ],
    ),
    _case(
        "bidi_mask",
        [_tokens(6, 9)],
        [
            L("Embedding", input_dim=9, output_dim=3, mask_zero=True),
            L("Bidirectional", layer=N("GRU", units=3, return_sequences=True)),
            L("Bidirectional", layer=N("LSTM", units=2)),
        ],
        masks=True,
    ),
    _case(
        "bidi_rnn_cell", [(5, 3)], [L("Bidirectional", layer=N("RNN", cell=N("GRUCell", units=2)))]
    ),
    # ---------------------------------------------------------------- TimeDistributed
    _case(
        "td_dense", [(5, 3)], [L("TimeDistributed", layer=N("Dense", units=4, activation="tanh"))]
    ),
    _case("td_dense_4d", [(4, 3, 2)], [L("TimeDistributed", layer=N("Dense", units=3))]),
    _case(
        "td_mask",
        [_tokens(6, 9)],
        [
            L("Embedding", input_dim=9, output_dim=3, mask_zero=True),
            L("TimeDistributed", layer=N("Dense", units=3)),
            L("LSTM", units=2),
        ],
        masks=True,
    ),
    # ---------------------------------------------------------------- MultiHeadAttention
    _case("mha_self", [(5, 4)], [L("MultiHeadAttention", 0, _args=[0], num_heads=2, key_dim=3)]),
    _case(
        "mha_cross",
        [(5, 4), (6, 3)],
        [L("MultiHeadAttention", 0, _args=[1], num_heads=2, key_dim=3)],
    ),
    _case(
        "mha_key",
        [(5, 4), (6, 3), (6, 2)],
        [
            L(
                "MultiHeadAttention",
                0,
                _args=[1],
                _kw={"key": {"t": 2}},
                num_heads=3,
                key_dim=2,
                value_dim=4,
                output_shape=[5],
            )
        ],
    ),
    _case(
        "mha_key_positional",
        [(5, 4), (6, 3), (6, 2)],
        [L("MultiHeadAttention", 0, _args=[1, 2], num_heads=2, key_dim=2)],
    ),
    _case(
        "mha_causal_nobias",
        [(5, 4)],
        [
            L(
                "MultiHeadAttention",
                0,
                _args=[0],
                _kw={"use_causal_mask": True},
                num_heads=2,
                key_dim=3,
                use_bias=False,
            )
        ],
    ),
    _case(
        "mha_scores",
        [(5, 4), (6, 3)],
        [
            L(
                "MultiHeadAttention",
                0,
                _args=[1],
                _kw={"return_attention_scores": True},
                num_heads=2,
                key_dim=3,
            )
        ],
        outputs=["2:0", "2:1"],
    ),
    _case(
        "mha_attn_mask",
        [(5, 4), (6, 3), {"shape": [5, 6], "dtype": "int32", "high": 2}],
        [
            L(
                "MultiHeadAttention",
                0,
                _args=[1],
                _kw={"attention_mask": {"t": 2}},
                num_heads=2,
                key_dim=3,
            )
        ],
    ),
    _case(
        "mha_mask",
        [_tokens(6, 9, "full")],
        [
            L("Embedding", input_dim=9, output_dim=4, mask_zero=True),
            L("MultiHeadAttention", 1, _args=[1], num_heads=2, key_dim=2),
        ],
        masks=True,
    ),
    _case(
        "mha_mask_scores_causal",
        [_tokens(6, 9, "full")],
        [
            L("Embedding", input_dim=9, output_dim=4, mask_zero=True),
            L(
                "MultiHeadAttention",
                1,
                _args=[1],
                _kw={"return_attention_scores": True, "use_causal_mask": True},
                num_heads=2,
                key_dim=2,
            ),
        ],
        outputs=["2:0", "2:1"],
    ),
    _case(
        "mha_4d",
        [(3, 4, 5)],
        [L("MultiHeadAttention", 0, _args=[0], num_heads=2, key_dim=2, attention_axes=[1, 2])],
    ),
    # ---------------------------------------------------------------- EinsumDense, Attention
    _case(
        "einsum",
        [(5, 4)],
        [
            L(
                "EinsumDense",
                equation="abc,cd->abd",
                output_shape=[None, 6],
                bias_axes="d",
                activation="relu",
            )
        ],
    ),
    _case(
        "einsum_ellipsis",
        [(4,)],
        [L("EinsumDense", equation="...b,bc->...c", output_shape=3, bias_axes="c")],
    ),
    _case(
        "einsum_heads",
        [(5, 4)],
        [L("EinsumDense", equation="abc,cde->abde", output_shape=[None, 2, 3], bias_axes="de")],
    ),
    _case("attn_dot", [(5, 4), (6, 4)], [L("Attention", [0, 1])]),
    _case(
        "attn_concat_key",
        [(5, 4), (6, 4), (6, 4)],
        [L("Attention", [0, 1, 2], use_scale=True, score_mode="concat")],
    ),
    _case(
        "attn_causal_scores",
        [(5, 4), (5, 4)],
        [
            L(
                "Attention",
                [0, 1],
                _kw={"use_causal_mask": True, "return_attention_scores": True},
                use_scale=True,
            )
        ],
        outputs=["2:0", "2:1"],
    ),
    _case(
        "attn_mask",
        [_tokens(5, 9), _tokens(6, 9)],
        [
            L("Embedding", 0, input_dim=9, output_dim=4, mask_zero=True),
            L("Embedding", 1, input_dim=9, output_dim=4, mask_zero=True),
            L("Attention", [2, 3]),
        ],
        masks=True,
    ),
    _case("additive", [(5, 4), (6, 4)], [L("AdditiveAttention", [0, 1])]),
    _case(
        "additive_mask_key",
        [_tokens(5, 9), _tokens(6, 9), (6, 4)],
        [
            L("Embedding", 0, input_dim=9, output_dim=4, mask_zero=True),
            L("Embedding", 1, input_dim=9, output_dim=4, mask_zero=True),
            L("AdditiveAttention", [3, 4, 2], use_scale=False),
        ],
        masks=True,
    ),
    # ---------------------------------------------------------------- end-to-end models
    _case(
        "text_classifier",
        [_tokens(8, 30)],
        [
            L("Embedding", input_dim=30, output_dim=6, mask_zero=True),
            L("Bidirectional", layer=N("LSTM", units=5)),
            L("Dense", units=1, activation="sigmoid"),
        ],
    ),
    _case(
        "transformer",
        [_tokens(7, 25, "none")],
        [
            L("Embedding", input_dim=25, output_dim=8),  # 1
            L("MultiHeadAttention", 1, _args=[1], num_heads=2, key_dim=4),  # 2
            L("Add", [1, 2]),  # 3
            L("LayerNormalization"),  # 4
            L("Dense", units=8, activation="relu"),  # 5
            L("Add", [4, 5]),  # 6
            L("LayerNormalization"),  # 7
            L("GlobalAveragePooling1D"),  # 8
            L("Dense", units=3, activation="softmax"),
        ],
    ),
    _case(
        "transformer_masked",
        [_tokens(7, 25)],
        [
            L("Embedding", input_dim=25, output_dim=8, mask_zero=True),  # 1
            L("MultiHeadAttention", 1, _args=[1], num_heads=2, key_dim=4),  # 2
            L("Add", [1, 2]),  # 3
            L("LayerNormalization"),  # 4
            L("Dense", units=8, activation="relu"),  # 5
            L("Add", [4, 5]),  # 6
            L("LayerNormalization"),  # 7
            L("GlobalAveragePooling1D"),  # 8
            L("Dense", units=3, activation="softmax"),
        ],
    ),
]

CASE_BY_ID = {c["id"]: c for c in CASES}
PAIRS = [(c["id"], d) for c in CASES for d in c["dialects"]]
NATIVE_PAIRS = [
    (c["id"], d) for c in CASES for d in c["dialects"] if c["native"] is True or d in c["native"]
]
# Classes whose rendered config keys are compared with Keras' own (nested entries included).
MY_CLASSES = {
    "SimpleRNN",
    "LSTM",
    "GRU",
    "RNN",
    "SimpleRNNCell",
    "LSTMCell",
    "GRUCell",
    "Bidirectional",
    "TimeDistributed",
    "MultiHeadAttention",
    "EinsumDense",
    "Attention",
    "AdditiveAttention",
}
# Keys we leave out on purpose: tf_keras' time_major (Keras 3 refuses it, tf_keras does not
# need it; shared/docs/h5.md §9.5).
SKIPPED_KEYS = {"keras2": {"time_major"}, "keras3": set()}


# ==================================================================== our side


def _make_layer(spec: dict[str, Any], name: str | None) -> pk.layers.Layer:
    args = dict(spec.get("args", {}))
    for arg, value in list(args.items()):
        if isinstance(value, dict) and "class_name" in value:
            args[arg] = _make_layer(value, None)
    if name is not None:
        args["name"] = name
    layer: pk.layers.Layer = getattr(pk.layers, spec["class_name"])(**args)
    return layer


def _ref(tensors: list[Any], ref: Any) -> Any:
    if isinstance(ref, str):
        k, j = ref.split(":")
        return tensors[int(k)][int(j)]
    return tensors[ref]


def _kwarg(tensors: list[Any], value: Any) -> Any:
    if isinstance(value, dict) and "t" in value:
        return _ref(tensors, value["t"])
    if isinstance(value, list):
        return [_kwarg(tensors, v) for v in value]
    return value


def build(case: dict[str, Any]) -> pk.Model:
    """The case's graph with purekeras_io layers (same names as the oracle's native build)."""
    inputs = [
        pk.Input(shape=tuple(s["shape"]), dtype=s.get("dtype", F), name=f"in{k}")
        for k, s in enumerate(case["inputs"])
    ]
    tensors: list[Any] = list(inputs)
    for k, spec in enumerate(case["layers"]):
        layer = _make_layer(spec, f"l{k}")
        src = spec.get("in", len(tensors) - 1)
        first = [_ref(tensors, r) for r in src] if isinstance(src, list) else _ref(tensors, src)
        extra = [_ref(tensors, r) for r in spec.get("call_args", [])]
        kwargs = {n: _kwarg(tensors, v) for n, v in spec.get("call_kwargs", {}).items()}
        tensors.append(layer(first, *extra, **kwargs))
    outs = [_ref(tensors, r) for r in case.get("outputs", [len(tensors) - 1])]
    return pk.Model(inputs if len(inputs) > 1 else inputs[0], outs if len(outs) > 1 else outs[0])


def random_inputs(case: dict[str, Any], rng: np.random.Generator) -> list[np.ndarray]:
    out = []
    for spec in case["inputs"]:
        shape = (4, *spec["shape"])
        if spec.get("dtype") == "int32":
            x = rng.integers(1 if spec.get("pad") else 0, spec["high"], shape).astype(np.int32)
            pad = spec.get("pad")
            if pad in ("mixed", "full"):
                x[0, -2:] = 0  # post-padding
                x[1, :2] = 0  # pre-padding
                x[3, shape[1] // 2] = 0  # a hole
                if pad == "full":
                    x[3] = 0  # nothing left
            out.append(x)
        else:
            x = rng.normal(0.0, 1.0, shape).astype(np.float32)
            if spec.get("zero_steps"):
                x[0, -2:] = 0.0
                x[1, :1] = 0.0
                x[2, 2] = 0.0
            out.append(x)
    return out


def random_weights(model: pk.Model, rng: np.random.Generator) -> list[np.ndarray]:
    values = [rng.uniform(-0.6, 0.6, v.shape).astype(v.dtype) for v in model.weights]
    model.set_weights(values)
    return values


def predict_with_masks(model: pk.Model, inputs: list[np.ndarray]) -> tuple[list[Any], list[Any]]:
    """Our outputs and output masks (recorded from the output layers' ``compute_mask``)."""
    recorded: dict[int, Any] = {}
    patched: list[Any] = []
    for t in model.outputs:
        layer = t.history[0]  # type: ignore[index]
        if layer in patched:
            continue
        original = layer.compute_mask
        positions = [
            (j, i)
            for j, o in enumerate(model.outputs)
            if o.history[0] is layer
            for i in [o.history[2]]
        ]  # type: ignore[index]

        def hook(inputs_: Any, mask: Any = None, _f: Any = original, _p: Any = positions) -> Any:
            result = _f(inputs_, mask)
            for j, i in _p:
                recorded[j] = result[i] if isinstance(result, (list, tuple)) else result
            return result

        layer.compute_mask = hook  # type: ignore[method-assign]
        patched.append(layer)
    try:
        result = model.predict(inputs if len(inputs) > 1 else inputs[0])
    finally:
        for layer in patched:
            del layer.compute_mask
    outs = result if isinstance(result, list) else [result]
    return outs, [recorded.get(k) for k in range(len(outs))]


# ==================================================================== the oracle run


@pytest.fixture(scope="module")
def run(oracle: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("rnn_attention")
    rng = np.random.default_rng(20240612)
    ours: dict[str, Any] = {}
    for case in CASES:
        cid = case["id"]
        model = build(case)
        weights = random_weights(model, rng)
        inputs = random_inputs(case, rng)
        np.savez(folder / f"{cid}_weights.npz", **{f"w{i}": w for i, w in enumerate(weights)})
        np.savez(folder / f"{cid}_inputs.npz", **{f"in{k}": x for k, x in enumerate(inputs)})
        per: dict[str, Any] = {
            "weights": weights,
            "inputs": inputs,
            "names": {d: _our_weight_names(model, d) for d in BOTH},
        }
        for dialect in case["dialects"]:
            short = "k2" if dialect == "keras2" else "k3"
            text = model.to_json(dialect)
            (folder / f"{cid}_{short}.json").write_text(text)
            parsed = pk.model_from_json(text)
            parsed.set_weights(weights)
            per[dialect] = predict_with_masks(parsed, inputs)
        ours[cid] = per
    result: dict[str, Any] = oracle.run(
        "layers_rnn_attention", {"dir": str(folder), "cases": CASES}
    )
    return {"folder": folder, "ours": ours, "oracle": result}


def _our_weight_names(model: pk.Model, dialect: str) -> list[list[Any]]:
    if dialect == "keras2":
        return [
            [str(v.extra.get("keras2_path", v.path)) + ":0", list(v.shape)] for v in model.weights
        ]
    return [[v.path, list(v.shape)] for v in model.weights]


def _entries(config: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every ``{"class_name", "config"}`` entry of my classes, nested ones included."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(config, dict):
        if config.get("class_name") in MY_CLASSES and isinstance(config.get("config"), dict):
            found.append((config["class_name"], config["config"]))
        for value in config.values():
            found.extend(_entries(value))
    elif isinstance(config, list):
        for value in config:
            found.extend(_entries(value))
    return found


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
    assert _our_weight_names(model, dialect) == res["native_weights"], f"{cid} {dialect}"
    model.set_weights(run["ours"][cid]["weights"])
    outs, masks = predict_with_masks(model, run["ours"][cid]["inputs"])
    assert_close(outs, keras, f"{cid} {dialect} (Keras-written config)")
    if CASE_BY_ID[cid].get("masks"):
        assert_masks(masks, keras, f"{cid} {dialect} (Keras-written config)")


@pytest.mark.oracle
@pytest.mark.parametrize(("cid", "dialect"), NATIVE_PAIRS)
def test_our_config_has_keras_keys(run: dict[str, Any], cid: str, dialect: str) -> None:
    """Re-rendering a Keras-written config gives the same keys, per layer and nested entry."""
    res = run["oracle"]["cases"][cid][dialect]
    assert "native_json" in res, res.get("native_error")
    native = json.loads(res["native_json"])
    ours = json.loads(pk.model_from_json(res["native_json"]).to_json(dialect))
    theirs_entries, our_entries = _entries(native), _entries(ours)
    assert [c for c, _ in our_entries] == [c for c, _ in theirs_entries]
    for (cls, theirs), (_, mine) in zip(theirs_entries, our_entries):
        want = set(theirs) - SKIPPED_KEYS[dialect]
        assert set(mine) == want, f"{cls}: extra {set(mine) - want}, missing {want - set(mine)}"


@pytest.mark.oracle
@pytest.mark.parametrize("dialect", BOTH)
def test_weight_order_matches_keras(run: dict[str, Any], dialect: str) -> None:
    """Keras' own ``model.weights`` of our configs has our order and shapes.

    (Names are compared on natively built models; a model Keras rebuilds from a config can name
    its variables differently, e.g. Keras builds an RNN's cell from the cell's ``build_config``
    outside the RNN's name scope: ``lstm_cell/kernel`` instead of ``rnn/lstm_cell/kernel``.)
    """
    for case in CASES:
        res = run["oracle"]["cases"][case["id"]][dialect]
        assert "loaded_weights" in res, (case["id"], res.get("loaded_error"))
        ours = run["ours"][case["id"]]["names"][dialect]
        assert [s for _, s in res["loaded_weights"]] == [s for _, s in ours], case["id"]


@pytest.mark.oracle
@pytest.mark.parametrize(("cid", "dialect"), NATIVE_PAIRS)
def test_our_graph_rendering_matches_keras(run: dict[str, Any], cid: str, dialect: str) -> None:
    """Re-rendering a Keras-written config gives Keras' own ``inbound_nodes`` (multi-argument
    calls: MultiHeadAttention's ``value``/``key``, RNN ``initial_state``, attention scores)."""
    res = run["oracle"]["cases"][cid][dialect]
    assert "native_json" in res, res.get("native_error")
    native = json.loads(res["native_json"])["config"]
    ours = json.loads(pk.model_from_json(res["native_json"]).to_json(dialect))["config"]
    theirs = {e["name"]: e["inbound_nodes"] for e in native["layers"]}
    mine = {e["name"]: e["inbound_nodes"] for e in ours["layers"]}
    assert mine == theirs
    assert ours["input_layers"] == native["input_layers"]
    assert ours["output_layers"] == native["output_layers"]
