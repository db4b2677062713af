"""The PyTorch importer's parts that need no torch: weight converters on NumPy state dicts
(checked against NumPy versions of torch's equations through our layers' forward passes),
the layout helpers and the refusals."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import purekeras_io as pk
from purekeras_io.importers import torch_weights as tw
from purekeras_io.importers.torch_layout import (
    TV,
    channels_last_perm,
    invert,
    same_memory_order,
)

RNG = np.random.default_rng(0)


def rand(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# ============================================================================ dense and conv


def test_linear_kernel_is_transposed() -> None:
    w, b = rand(3, 5), rand(3)
    kernel, bias = tw.linear_weights(w, b)
    assert kernel.shape == (5, 3)
    x = rand(2, 5)
    layer = pk.layers.Dense(3)
    layer.build((None, 5))
    layer.set_weights([kernel, bias])
    np.testing.assert_allclose(layer(x), x @ w.T + b, rtol=1e-5, atol=1e-6)


def _torch_conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray, groups: int = 1) -> np.ndarray:
    """NCHW valid stride-1 cross-correlation, as torch computes it."""
    n, _, h, wd = x.shape
    out_c, cpg, kh, kw = w.shape
    opg = out_c // groups
    y = np.zeros((n, out_c, h - kh + 1, wd - kw + 1), np.float64)
    for o in range(out_c):
        g = o // opg
        for i in range(kh):
            for j in range(kw):
                patch = x[:, g * cpg:(g + 1) * cpg, i:i + y.shape[2], j:j + y.shape[3]]
                y[:, o] += np.einsum("nchw,c->nhw", patch, w[o, :, i, j])
    return y + b[None, :, None, None]


@pytest.mark.parametrize("groups", [1, 2])
def test_conv_kernel_layout(groups: int) -> None:
    w, b, x = rand(4, 6 // groups, 3, 2), rand(4), rand(2, 6, 5, 4)
    kernel, bias = tw.conv_weights(w, b)
    assert kernel.shape == (3, 2, 6 // groups, 4)
    layer = pk.layers.Conv2D(4, (3, 2), groups=groups)
    layer.build((None, 5, 4, 6))
    layer.set_weights([kernel, bias])
    ours = layer(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(ours, _torch_conv2d(x, w, b, groups), rtol=1e-4, atol=1e-5)


def test_depthwise_kernel_keeps_torch_channel_order() -> None:
    # 3 input channels, depth multiplier 2: torch output channel o = i*2 + j
    w, b, x = rand(6, 1, 3, 3), rand(6), rand(1, 3, 5, 5)
    kernel, bias = tw.depthwise_conv_weights(w, b, in_channels=3)
    assert kernel.shape == (3, 3, 3, 2)
    layer = pk.layers.DepthwiseConv2D(3, depth_multiplier=2)
    layer.build((None, 5, 5, 3))
    layer.set_weights([kernel, bias])
    ours = layer(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(ours, _torch_conv2d(x, w, b, groups=3), rtol=1e-4, atol=1e-5)


def test_conv_transpose_kernel_layout() -> None:
    # torch ConvTranspose1d weight (in=2, out=3, k=3); full transposed conv by scatter
    w, b, x = rand(2, 3, 3), rand(3), rand(1, 2, 4)
    expected = np.zeros((1, 3, 4 + 2), np.float64)
    for t in range(4):
        for k in range(3):
            expected[0, :, t + k] += x[0, :, t] @ w[:, :, k]
    expected += b[None, :, None]
    kernel, bias = tw.conv_transpose_weights(w, b)
    assert kernel.shape == (3, 3, 2)
    layer = pk.layers.Conv1DTranspose(3, 3)
    layer.build((None, 4, 2))
    layer.set_weights([kernel, bias])
    ours = layer(x.transpose(0, 2, 1)).transpose(0, 2, 1)
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-5)


def test_batchnorm_order_and_momentum() -> None:
    g, be, m, v = rand(4), rand(4), rand(4), np.abs(rand(4)) + 0.5
    assert [a.tolist() for a in tw.batchnorm_weights(g, be, m, v)] == [
        a.tolist() for a in (g, be, m, v)]
    assert len(tw.batchnorm_weights(None, None, m, v)) == 2
    assert tw.keras_momentum(0.1) == pytest.approx(0.9)
    assert tw.keras_momentum(None) == 0.99


# ============================================================================ recurrent


def _torch_lstm(x: np.ndarray, wi: Any, wh: Any, bi: Any, bh: Any) -> np.ndarray:
    u = wh.shape[1]
    h = np.zeros((x.shape[0], u))
    c = np.zeros((x.shape[0], u))
    for t in range(x.shape[1]):
        z = x[:, t] @ wi.T + bi + h @ wh.T + bh
        i, f, g, o = sigmoid(z[:, :u]), sigmoid(z[:, u:2 * u]), np.tanh(z[:, 2 * u:3 * u]), \
            sigmoid(z[:, 3 * u:])
        c = f * c + i * g
        h = o * np.tanh(c)
    return h


def _torch_gru(x: np.ndarray, wi: Any, wh: Any, bi: Any, bh: Any) -> np.ndarray:
    u = wh.shape[1]
    h = np.zeros((x.shape[0], u))
    for t in range(x.shape[1]):
        gi, gh = x[:, t] @ wi.T + bi, h @ wh.T + bh
        r = sigmoid(gi[:, :u] + gh[:, :u])
        z = sigmoid(gi[:, u:2 * u] + gh[:, u:2 * u])
        n = np.tanh(gi[:, 2 * u:] + r * gh[:, 2 * u:])
        h = (1 - z) * n + z * h
    return h


def test_lstm_gate_order_and_summed_bias() -> None:
    u, f = 5, 3
    wi, wh, bi, bh, x = rand(4 * u, f), rand(4 * u, u), rand(4 * u), rand(4 * u), rand(2, 6, f)
    weights = tw.lstm_weights(wi, wh, bi, bh)
    assert [w.shape for w in weights] == [(f, 4 * u), (u, 4 * u), (4 * u,)]
    np.testing.assert_allclose(weights[2], bi + bh)
    layer = pk.layers.LSTM(u)
    layer.build((None, 6, f))
    layer.set_weights(weights)
    np.testing.assert_allclose(layer(x), _torch_lstm(x, wi, wh, bi, bh), rtol=1e-4, atol=1e-5)


def test_gru_gates_reordered_and_biases_kept_apart() -> None:
    u, f = 4, 3
    wi, wh, bi, bh, x = rand(3 * u, f), rand(3 * u, u), rand(3 * u), rand(3 * u), rand(2, 5, f)
    kernel, recurrent, bias = tw.gru_weights(wi, wh, bi, bh)
    assert bias.shape == (2, 3 * u)
    # torch (r, z, n) → Keras (z, r, h): Keras' first block is torch's second
    np.testing.assert_array_equal(kernel[:, :u], wi[u:2 * u].T)
    np.testing.assert_array_equal(bias[1, :u], bh[u:2 * u])
    layer = pk.layers.GRU(u, reset_after=True)
    layer.build((None, 5, f))
    layer.set_weights([kernel, recurrent, bias])
    np.testing.assert_allclose(layer(x), _torch_gru(x, wi, wh, bi, bh), rtol=1e-4, atol=1e-5)


def test_rnn_state_dict_layers_and_directions() -> None:
    u, f = 3, 2
    state = {}
    for key, inp in (("l0", f), ("l0_reverse", f), ("l1", 2 * u), ("l1_reverse", 2 * u)):
        state[f"weight_ih_{key}"] = rand(3 * u, inp)
        state[f"weight_hh_{key}"] = rand(3 * u, u)
        state[f"bias_ih_{key}"] = rand(3 * u)
        state[f"bias_hh_{key}"] = rand(3 * u)
    out = tw.rnn_layer_weights("GRU", state, 1, bidirectional=True)
    assert [w.shape for w in out] == [(2 * u, 3 * u), (u, 3 * u), (2, 3 * u)] * 2
    np.testing.assert_array_equal(out[3], tw.gru_weights(
        state["weight_ih_l1_reverse"], state["weight_hh_l1_reverse"])[0])
    with pytest.raises(pk.ConfigError, match="weight_ih_l2"):
        tw.rnn_layer_weights("GRU", state, 2, bidirectional=False)
    state["weight_hr_l0"] = rand(2, u)
    with pytest.raises(pk.UnsupportedFeatureError, match="proj_size"):
        tw.rnn_layer_weights("LSTM", state, 0, bidirectional=False)


# ============================================================================ attention


def test_mha_projections_split_by_head() -> None:
    e, heads, t = 8, 2, 3
    w_in, b_in, w_out, b_out = rand(3 * e, e), rand(3 * e), rand(e, e), rand(e)
    weights = tw.mha_weights(heads, w_in, b_in, w_out, b_out)
    assert [w.shape for w in weights] == [(e, heads, 4), (heads, 4)] * 3 + [(heads, 4, e), (e,)]
    x = rand(2, t, e)
    q, k, v = (x @ w.T + b for w, b in zip(np.split(w_in, 3), np.split(b_in, 3)))

    def split(a: np.ndarray) -> np.ndarray:
        return a.reshape(2, t, heads, 4).transpose(0, 2, 1, 3)

    scores = split(q) @ split(k).transpose(0, 1, 3, 2) / np.sqrt(4)
    p = np.exp(scores - scores.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    expected = (p @ split(v)).transpose(0, 2, 1, 3).reshape(2, t, e) @ w_out.T + b_out
    inp = pk.Input((t, e))
    layer = pk.layers.MultiHeadAttention(num_heads=heads, key_dim=4)
    model = pk.Model(inp, layer(inp, inp))
    layer.set_weights(weights)
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-4, atol=1e-5)


# ============================================================================ refusals, layout


class _FakeModule:
    def state_dict(self) -> dict[str, Any]:
        return {}


def test_unknown_module_class_is_refused_by_name() -> None:
    with pytest.raises(pk.UnsupportedFeatureError, match="'_FakeModule'"):
        tw.module_weights(_FakeModule())


def test_bad_shapes_name_what_was_received() -> None:
    with pytest.raises(pk.ConfigError, match=r"\(3, 4, 5\)"):
        tw.linear_weights(np.zeros((3, 4, 5)))
    with pytest.raises(pk.ConfigError, match="LSTM weights"):
        tw.lstm_weights(np.zeros((6, 2)), np.zeros((6, 2)))
    with pytest.raises(pk.ConfigError, match="c=3"):
        tw.depthwise_conv_weights(np.zeros((4, 1, 3, 3)), in_channels=3)


def test_from_torch_checks_data_format_before_importing_torch() -> None:
    from purekeras_io.importers import from_torch

    with pytest.raises(pk.ConfigError, match="'nhwc'"):
        from_torch(object(), None, data_format="nhwc")


def test_layout_helpers() -> None:
    assert channels_last_perm(4) == (0, 2, 3, 1)
    assert channels_last_perm(2) == (0, 1)
    assert invert((0, 2, 3, 1)) == (0, 3, 1, 2)
    assert same_memory_order((0, 2, 3, 1), (2, 512, 1, 1))
    assert not same_memory_order((0, 2, 3, 1), (2, 16, 4, 4))
    tv = TV(None, (0, 2, 3, 1), (2, 16, 4, 5))
    assert tv.keras_axis(1) == 3
    assert tv.keras_shape() == (2, 4, 5, 16)
