"""Recurrent and attention layers without the oracle: shapes, weights, both config dialects,
masks and the forward pass against hand-written NumPy (the oracle tests compare with Keras)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

import purekeras_io as pk
from purekeras_io.errors import ConfigError, TargetCompatibilityError

L = pk.layers
RNG = np.random.default_rng(7)


def _randomize(model: Any) -> None:
    model.set_weights([RNG.uniform(-0.5, 0.5, v.shape).astype(v.dtype) for v in model.weights])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _layer_entry(text: str, name: str) -> dict[str, Any]:
    for entry in json.loads(text)["config"]["layers"]:
        if entry["name"] == name:
            return entry
    raise KeyError(name)


# ============================================================================ shapes and weights


@pytest.mark.parametrize(
    ("cls", "gates", "bias"),
    [(L.SimpleRNN, 1, (4,)), (L.LSTM, 4, (16,)), (L.GRU, 3, (2, 12))],
)
def test_rnn_weights_live_on_the_cell(cls: Any, gates: int, bias: tuple[int, ...]) -> None:
    x = pk.Input((5, 3))
    layer = cls(4, name="rnn_x")
    y = layer(x)
    assert y.shape == (None, 4)
    assert layer.own_variables == []
    assert [(v.name, v.shape) for v in layer.weights] == [
        ("kernel", (3, 4 * gates)),
        ("recurrent_kernel", (4, 4 * gates)),
        ("bias", bias),
    ]
    cell_name = layer.cell.name
    assert [v.path for v in layer.weights] == [
        f"rnn_x/{cell_name}/{n}" for n in ("kernel", "recurrent_kernel", "bias")
    ]
    assert layer.sublayers() == {"cell": layer.cell}


def test_gru_reset_before_has_flat_bias_and_lstm_forget_bias_is_one() -> None:
    gru = L.GRU(3, reset_after=False)
    gru.build((None, 4, 2))
    assert gru.cell.bias.shape == (9,)
    lstm = L.LSTM(3)
    lstm.build((None, 4, 2))
    np.testing.assert_array_equal(lstm.cell.bias.value, [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])


def test_return_sequences_and_state_shapes() -> None:
    x = pk.Input((7, 3))
    outs = L.LSTM(4, return_sequences=True, return_state=True)(x)
    assert [t.shape for t in outs] == [(None, 7, 4), (None, 4), (None, 4)]
    outs = L.GRU(2, return_state=True)(x)
    assert [t.shape for t in outs] == [(None, 2), (None, 2)]


@pytest.mark.parametrize(
    ("merge", "shapes"),
    [
        ("concat", [(None, 6, 8)]),
        ("sum", [(None, 6, 4)]),
        (None, [(None, 6, 4), (None, 6, 4)]),
    ],
)
def test_bidirectional_shapes(merge: Any, shapes: list[Any]) -> None:
    x = pk.Input((6, 3))
    out = L.Bidirectional(L.LSTM(4, return_sequences=True), merge_mode=merge)(x)
    got = [t.shape for t in out] if isinstance(out, list) else [out.shape]
    assert got == shapes


def test_bidirectional_with_state_lists_every_output() -> None:
    x = pk.Input((6, 3))
    outs = L.Bidirectional(L.LSTM(4, return_state=True), name="bi")(x)
    assert [t.shape for t in outs] == [(None, 8)] + [(None, 4)] * 4


def test_bidirectional_weight_order_and_paths() -> None:
    x = pk.Input((5, 4))
    bi = L.Bidirectional(L.LSTM(3, name="lstm_a"), name="bidi")
    bi(x)
    assert [v.path for v in bi.weights] == [
        f"bidi/{side}_lstm_a/lstm_cell/{n}"
        for side in ("forward", "backward")
        for n in ("kernel", "recurrent_kernel", "bias")
    ]
    assert list(bi.sublayers()) == ["forward_layer", "backward_layer"]
    assert bi.backward_layer.config["go_backwards"] is True


def test_time_distributed_shapes_and_names() -> None:
    x = pk.Input((5, 4, 3))
    td = L.TimeDistributed(L.Dense(2, name="dd"), name="td")
    y = td(x)
    assert y.shape == (None, 5, 4, 2)
    assert [(v.path, v.extra["keras2_path"]) for v in td.weights] == [
        ("td/dd/kernel", "td/kernel"),
        ("td/dd/bias", "td/bias"),
    ]


def test_mha_weights_and_shapes() -> None:
    q, v = pk.Input((5, 4)), pk.Input((6, 7))
    mha = L.MultiHeadAttention(num_heads=2, key_dim=3, name="mha")
    out = mha(q, v)
    assert out.shape == (None, 5, 4)
    assert [(w.path, w.shape) for w in mha.weights] == [
        ("mha/query/kernel", (4, 2, 3)),
        ("mha/query/bias", (2, 3)),
        ("mha/key/kernel", (7, 2, 3)),
        ("mha/key/bias", (2, 3)),
        ("mha/value/kernel", (7, 2, 3)),
        ("mha/value/bias", (2, 3)),
        ("mha/attention_output/kernel", (2, 3, 4)),
        ("mha/attention_output/bias", (4,)),
    ]
    out, scores = L.MultiHeadAttention(2, 3, output_shape=[9])(q, v, return_attention_scores=True)
    assert out.shape == (None, 5, 9)
    assert scores.shape == (None, 2, 5, 6)


def test_einsum_dense_shapes() -> None:
    e = L.EinsumDense("abc,cde->abde", output_shape=[None, 2, 3], bias_axes="de")
    y = e(pk.Input((5, 4)))
    assert y.shape == (None, 5, 2, 3)
    assert [w.shape for w in e.weights] == [(4, 2, 3), (2, 3)]
    e2 = L.EinsumDense("...b,bc->...c", output_shape=3, bias_axes="c")
    assert e2(pk.Input((4,))).shape == (None, 3)
    with pytest.raises(ConfigError, match="invalid equation"):
        L.EinsumDense("ab->b", output_shape=3)(pk.Input((4,)))


# ============================================================================ forward pass


def test_lstm_step_matches_the_formula() -> None:
    layer = L.LSTM(2)
    x = RNG.normal(size=(3, 1, 4)).astype("float32")
    layer.build(x.shape)
    _randomize(layer)
    k, u, b = (v.value for v in layer.weights)
    z = x[:, 0] @ k + b
    i, f, c, o = (_sigmoid(z[:, :2]), _sigmoid(z[:, 2:4]), np.tanh(z[:, 4:6]), _sigmoid(z[:, 6:]))
    h = o * np.tanh(f * 0.0 + i * c)  # c₋₁ = 0
    np.testing.assert_allclose(layer(x), h, rtol=1e-5, atol=1e-6)
    assert u.shape == (2, 8)


def test_gru_reset_before_matches_the_formula() -> None:
    layer = L.GRU(2, reset_after=False, return_sequences=True)
    x = RNG.normal(size=(2, 2, 3)).astype("float32")
    layer.build(x.shape)
    _randomize(layer)
    k, u, b = (v.value.astype(np.float64) for v in layer.weights)
    h = np.zeros((2, 2))
    outs = []
    for t in range(2):
        mx = x[:, t] @ k + b
        z = _sigmoid(mx[:, :2] + h @ u[:, :2])
        r = _sigmoid(mx[:, 2:4] + h @ u[:, 2:4])
        hh = np.tanh(mx[:, 4:] + (r * h) @ u[:, 4:])
        h = z * h + (1 - z) * hh
        outs.append(h)
    np.testing.assert_allclose(layer(x), np.stack(outs, 1), rtol=1e-5, atol=1e-6)


def test_go_backwards_runs_reversed_and_keeps_reversed_order() -> None:
    x = RNG.normal(size=(2, 5, 3)).astype("float32")
    fwd = L.SimpleRNN(3, return_sequences=True)
    bwd = L.SimpleRNN(3, return_sequences=True, go_backwards=True)
    fwd.build(x.shape)
    bwd.build(x.shape)
    _randomize(fwd)
    bwd.set_weights(fwd.get_weights())
    np.testing.assert_allclose(bwd(x), fwd(x[:, ::-1]), rtol=1e-6)


def test_mask_keeps_state_and_repeats_output() -> None:
    tokens = np.array([[3, 4, 5, 0, 0], [0, 0, 3, 4, 5]])
    inp = pk.Input((5,), dtype="int32")
    emb = L.Embedding(6, 3, mask_zero=True)
    seq = L.LSTM(2, return_sequences=True)(emb(inp))
    model = pk.Model(inp, seq)
    _randomize(model)
    out = model.predict(tokens)
    # post-padding: masked steps repeat the last kept output
    np.testing.assert_array_equal(out[0, 3], out[0, 2])
    np.testing.assert_array_equal(out[0, 4], out[0, 2])
    # pre-padding: zeros before the first kept step, then the same run as unpadded
    np.testing.assert_array_equal(out[1, :2], 0.0)
    np.testing.assert_allclose(out[1, 2:], out[0, :3], rtol=1e-6)


def test_zero_output_for_mask() -> None:
    inp = pk.Input((4,), dtype="int32")
    seq = L.GRU(2, return_sequences=True, zero_output_for_mask=True)(
        L.Embedding(5, 3, mask_zero=True)(inp)
    )
    model = pk.Model(inp, seq)
    _randomize(model)
    out = model.predict(np.array([[1, 2, 0, 0]]))
    np.testing.assert_array_equal(out[0, 2:], 0.0)
    assert np.all(out[0, :2] != 0.0)


def test_bidirectional_concat_is_forward_and_flipped_backward() -> None:
    x = RNG.normal(size=(2, 4, 3)).astype("float32")
    bi = L.Bidirectional(L.GRU(2, return_sequences=True))
    bi.build(x.shape)
    _randomize(bi)
    y = bi(x)
    f = bi.forward_layer.call(x)
    b = bi.backward_layer.call(x)
    np.testing.assert_array_equal(y, np.concatenate([f, b[:, ::-1]], -1))


def test_time_distributed_applies_per_step() -> None:
    x = RNG.normal(size=(2, 3, 4)).astype("float32")
    td = L.TimeDistributed(L.Dense(5))
    td.build(x.shape)
    _randomize(td)
    k, b = td.get_weights()
    np.testing.assert_allclose(td(x), x @ k + b, rtol=1e-6)


def _mha_reference(q: np.ndarray, v: np.ndarray, w: list[np.ndarray], mask: Any) -> np.ndarray:
    qk, qb, kk, kb, vk, vb, ok, ob = (a.astype(np.float64) for a in w)
    pq = np.einsum("btd,dnh->btnh", q, qk) + qb
    pk_ = np.einsum("bsd,dnh->bsnh", v, kk) + kb
    pv = np.einsum("bsd,dnh->bsnh", v, vk) + vb
    s = np.einsum("bsnh,btnh->bnts", pk_, pq) / np.sqrt(qk.shape[-1])
    if mask is not None:
        s = np.where(mask[:, None], s, -1e9)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    o = np.einsum("bnts,bsnh->btnh", p, pv)
    return np.einsum("btnh,nhd->btd", o, ok) + ob


@pytest.mark.parametrize("causal", [False, True])
def test_mha_matches_reference(causal: bool) -> None:
    q = RNG.normal(size=(2, 4, 5)).astype("float32")
    v = RNG.normal(size=(2, 4, 3)).astype("float32")
    mha = L.MultiHeadAttention(num_heads=2, key_dim=3)
    mha.build({"query_shape": q.shape, "value_shape": v.shape})
    _randomize(mha)
    mask = np.tril(np.ones((4, 4), bool))[None].repeat(2, 0) if causal else None
    want = _mha_reference(q, v, mha.get_weights(), mask)
    np.testing.assert_allclose(mha(q, v, use_causal_mask=causal), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("dialect", "masked_row"), [("keras2", 1 / 4), ("keras3", 0.0)])
def test_mha_fully_masked_query_rows_per_generation(dialect: str, masked_row: float) -> None:
    """tf_keras: a masked query row attends uniformly; Keras 3's softmax path zeroes it."""
    tok = pk.Input((4,), dtype="int32")
    x = L.Embedding(6, 4, mask_zero=True)(tok)
    out, scores = L.MultiHeadAttention(2, 2, name="m")(x, x, return_attention_scores=True)
    model = pk.model_from_json(pk.Model(tok, [out, scores]).to_json(dialect))
    _randomize(model)
    _, probs = model.predict(np.array([[1, 2, 3, 0], [0, 0, 0, 0]]))
    np.testing.assert_allclose(probs[1], masked_row, atol=1e-7)
    np.testing.assert_allclose(probs[0, :, 3], masked_row, atol=1e-7)
    np.testing.assert_allclose(probs[0, :, :3, 3], 0.0, atol=1e-7)


def test_attention_layers_mask_values_and_queries() -> None:
    q = RNG.normal(size=(1, 3, 4)).astype("float32")
    v = RNG.normal(size=(1, 5, 4)).astype("float32")
    att = L.Attention()
    out, w = att(
        [q, v],
        mask=[np.array([[1, 1, 0]], bool), np.array([[1, 1, 1, 0, 0]], bool)],
        return_attention_scores=True,
    )
    np.testing.assert_allclose(w[0, :, 3:], 0.0, atol=1e-7)
    np.testing.assert_array_equal(out[0, 2], 0.0)
    s = q[0] @ v[0].T
    p = np.exp(s[:, :3] - s[:, :3].max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    np.testing.assert_allclose(out[0, :2], (p @ v[0, :3])[:2], rtol=1e-5)
    add = L.AdditiveAttention()
    add.build([q.shape, v.shape])
    assert [x.shape for x in add.get_weights()] == [(4,)]
    assert add([q, v]).shape == (1, 3, 4)


# ============================================================================ configs


def _rnn_model() -> Any:
    x = pk.Input((6, 3), name="x")
    y = L.Bidirectional(L.LSTM(4, return_sequences=True, name="lstm"), name="bidi")(x)
    y = L.TimeDistributed(L.Dense(3, name="dd"), name="td")(y)
    y = L.GRU(2, reset_after=False, go_backwards=True, name="gru")(y)
    z = L.RNN(L.SimpleRNNCell(2, name="cell"), name="rnn")(x)
    return pk.Model(x, [y, z])


@pytest.mark.parametrize("dialect", ["keras2", "keras3"])
def test_rnn_config_round_trip(dialect: str) -> None:
    model = _rnn_model()
    _randomize(model)
    text = model.to_json(dialect)
    again = pk.model_from_json(text)
    assert json.loads(again.to_json(dialect)) == json.loads(text)
    again.set_weights(model.get_weights())
    x = RNG.normal(size=(2, 6, 3)).astype("float32")
    for a, b in zip(again.predict(x), model.predict(x)):
        np.testing.assert_array_equal(a, b)
    assert [v.path for v in again.weights] == [v.path for v in model.weights]


def test_rnn_dialect_keys() -> None:
    model = _rnn_model()
    k2 = model.to_json("keras2")
    k3 = model.to_json("keras3")
    gru2, gru3 = _layer_entry(k2, "gru")["config"], _layer_entry(k3, "gru")["config"]
    assert gru2["implementation"] == 2 and "implementation" not in gru3
    assert "time_major" not in gru2 and "time_major" not in gru3
    assert "seed" not in gru2 and gru3["seed"] is None
    assert "zero_output_for_mask" not in gru2 and gru3["zero_output_for_mask"] is False
    rnn2 = _layer_entry(k2, "rnn")["config"]["cell"]
    assert rnn2["class_name"] == "SimpleRNNCell" and rnn2["module"] == "keras.layers"
    assert rnn2["build_config"] == {"input_shape": [None, 3]}
    assert "seed" not in rnn2["config"] and "implementation" not in rnn2["config"]
    bidi2 = _layer_entry(k2, "bidi")["config"]
    bidi3 = _layer_entry(k3, "bidi")["config"]
    assert bidi2["layer"]["config"]["name"] == "lstm" and "backward_layer" not in bidi2
    assert "zero_output_for_mask" not in bidi2["layer"]["config"]
    assert bidi3["layer"]["config"]["name"] == "forward_lstm"
    assert bidi3["backward_layer"]["config"]["name"] == "backward_lstm"
    assert bidi3["backward_layer"]["config"]["zero_output_for_mask"] is True
    assert bidi3["layer"]["build_config"] == {"input_shape": [None, 6, 3]}
    td2 = _layer_entry(k2, "td")["config"]["layer"]
    assert td2["build_config"] == {"input_shape": [None, 8]}
    cell3 = _layer_entry(k3, "rnn")["config"]["cell"]
    assert cell3["config"]["seed"] is None and "implementation" not in cell3["config"]


def test_k2_bidirectional_names_and_explicit_backward() -> None:
    entry = {
        "class_name": "Bidirectional",
        "config": {
            "name": "bi",
            "merge_mode": "concat",
            "layer": {"class_name": "LSTM", "config": {"name": "lstm", "units": 2}},
            "backward_layer": {
                "class_name": "GRU",
                "config": {"name": "g", "units": 3, "go_backwards": True},
            },
        },
    }
    from purekeras_io.model.serialize import deserialize_layer, serialize_layer

    bi = deserialize_layer(entry, "keras2")
    assert (bi.forward_layer.name, bi.backward_layer.name) == ("forward_lstm", "backward_g")
    out = serialize_layer(bi, "keras2")["config"]
    assert out["layer"]["config"]["name"] == "lstm"
    assert out["backward_layer"]["config"]["name"] == "g"
    k3 = serialize_layer(bi, "keras3")["config"]
    assert k3["backward_layer"]["config"]["name"] == "backward_g"
    with pytest.raises(ConfigError, match="go_backwards"):
        L.Bidirectional(L.LSTM(2), backward_layer=L.LSTM(2))


def test_time_major_is_dropped_when_false_and_computed_when_true() -> None:
    cfg = {"units": 2, "time_major": False, "implementation": 1, "name": "l"}
    layer = L.LSTM.from_config(cfg, "keras2")
    assert "time_major" not in layer.config
    tm = L.LSTM.from_config({"units": 2, "time_major": True, "return_sequences": True}, "keras2")
    x = RNG.normal(size=(4, 2, 3)).astype("float32")  # (time, batch, features)
    tm.build(x.shape)
    _randomize(tm)
    plain = L.LSTM(2, return_sequences=True)
    plain.build((2, 4, 3))
    plain.set_weights(tm.get_weights())
    np.testing.assert_allclose(tm(x), np.swapaxes(plain(np.swapaxes(x, 0, 1)), 0, 1), rtol=1e-6)
    assert tm.get_config("keras2")["time_major"] is True
    with pytest.raises(TargetCompatibilityError):
        tm.get_config("keras3")


def test_simple_rnn_refuses_k3_seed_and_implementation_quirks() -> None:
    layer = L.SimpleRNN.from_config({"units": 2, "implementation": 1}, "keras2")
    assert "implementation" not in layer.get_config("keras2")
    assert "seed" not in layer.get_config("keras3")
    assert "seed" in layer.cell.get_config("keras3")


# ============================================================================ MHA configs

K2_MHA = {
    "class_name": "Functional",
    "config": {
        "name": "model",
        "trainable": True,
        "layers": [
            {
                "class_name": "InputLayer",
                "name": "q",
                "config": {"batch_input_shape": [None, 5, 4], "dtype": "float32", "name": "q"},
                "inbound_nodes": [],
            },
            {
                "class_name": "InputLayer",
                "name": "v",
                "config": {"batch_input_shape": [None, 6, 7], "dtype": "float32", "name": "v"},
                "inbound_nodes": [],
            },
            {
                "class_name": "MultiHeadAttention",
                "name": "mha",
                "config": {
                    "name": "mha",
                    "trainable": True,
                    "dtype": "float32",
                    "num_heads": 2,
                    "key_dim": 3,
                    "value_dim": 3,
                    "dropout": 0.0,
                    "use_bias": True,
                    "output_shape": None,
                    "attention_axes": [1],
                    "query_shape": [None, 5, 4],
                    "key_shape": [None, 6, 7],
                    "value_shape": [None, 6, 7],
                    "softmax_robust_masking": False,
                },
                "build_config": {"input_shape": [None, 5, 4]},
                "inbound_nodes": [[["q", 0, 0, {"value": ["v", 0, 0], "use_causal_mask": True}]]],
            },
        ],
        "input_layers": [["q", 0, 0], ["v", 0, 0]],
        "output_layers": [["mha", 0, 0]],
    },
    "keras_version": "2.21.0",
    "backend": "tensorflow",
}


def test_mha_reads_tf_keras_config_and_renders_both() -> None:
    model = pk.model_from_config(K2_MHA)
    mha = model.get_layer("mha")
    assert mha.built and len(mha.weights) == 8
    k2 = _layer_entry(model.to_json("keras2"), "mha")
    assert k2["inbound_nodes"] == K2_MHA["config"]["layers"][2]["inbound_nodes"]
    assert k2["build_config"] == {"input_shape": [None, 5, 4]}
    assert k2["config"]["key_shape"] == [None, 6, 7]
    assert "use_gate" not in k2["config"] and "seed" not in k2["config"]
    k3 = _layer_entry(model.to_json("keras3"), "mha")
    assert k3["build_config"] == {
        "shapes_dict": {"query_shape": [None, 5, 4], "value_shape": [None, 6, 7]}
    }
    assert [a["config"]["keras_history"] for a in k3["inbound_nodes"][0]["args"]] == [
        ["q", 0, 0],
        ["v", 0, 0],
    ]
    assert k3["inbound_nodes"][0]["kwargs"] == {"use_causal_mask": True}
    for key in ("query_shape", "softmax_robust_masking"):
        assert key not in k3["config"]
    again = pk.model_from_json(model.to_json("keras3"))
    _randomize(model)
    again.set_weights(model.get_weights())
    q = RNG.normal(size=(2, 5, 4)).astype("float32")
    v = RNG.normal(size=(2, 6, 7)).astype("float32")
    # keras2 vs keras3 numerics (Keras 3 scales the logits, tf_keras the query)
    np.testing.assert_allclose(again.predict([q, v]), model.predict([q, v]), atol=1e-6)


def test_mha_key_and_mask_arguments_in_a_graph() -> None:
    tok = pk.Input((5,), dtype="int32")
    x = L.Embedding(8, 4, mask_zero=True)(tok)
    k = pk.Input((5, 2))
    out = L.MultiHeadAttention(2, 2, name="m")(x, x, key=k)
    model = pk.Model([tok, k], out)
    k2 = _layer_entry(model.to_json("keras2"), "m")
    (leaf,) = k2["inbound_nodes"][0]
    assert set(leaf[3]) == {"value", "key"}
    _randomize(model)
    t = np.array([[1, 2, 0, 0, 0]])
    kv = RNG.normal(size=(1, 5, 2)).astype("float32")
    y = model.predict([t, kv])
    # the value mask hides the padded keys: changing them changes nothing
    kv2 = kv.copy()
    kv2[:, 2:] = 9.0
    np.testing.assert_allclose(model.predict([t, kv2])[0, :2], y[0, :2], rtol=1e-6)


def test_mha_validation() -> None:
    with pytest.raises(ConfigError, match="num_heads"):
        L.MultiHeadAttention(num_heads=0, key_dim=2)
    mha = L.MultiHeadAttention(2, 2)
    with pytest.raises(ConfigError, match="value"):
        mha(pk.Input((3, 4)))
