"""PyTorch weights → the weights of our Keras layers, in ``layer.set_weights`` order.

Every converter takes plain arrays (a ``state_dict``'s tensors, or NumPy arrays of them) and
returns NumPy ``float32`` arrays; ``module_weights(module)`` dispatches on a module's class.
torch is never imported here: a tensor is turned into an array by ``.detach().cpu().numpy()``
when it has those methods.

===================  ==============================  =========================================
torch                torch layout                    Keras layout (``set_weights`` order)
===================  ==============================  =========================================
Linear               ``weight (out, in)``, bias       ``kernel (in, out)``, ``bias``
ConvNd               ``weight (out, in/g, *k)``       ``kernel (*k, in/g, out)``, ``bias``
ConvNd, depthwise    ``weight (c*m, 1, *k)``          ``depthwise_kernel (*k, c, m)``, ``bias``
ConvTransposeNd      ``weight (in, out, *k)``         ``kernel (*k, out, in)``, ``bias``
BatchNormNd          weight, bias, running_mean/var   ``gamma, beta, moving_mean, moving_var``
LayerNorm/GroupNorm  weight, bias                     ``gamma, beta``
Embedding            ``weight (n, d)``                ``embeddings (n, d)``
RNN (tanh/relu)      ``W_ih (u, in)``, ``W_hh``, b    ``kernel W_ihᵀ``, ``recurrent W_hhᵀ``,
                                                      ``bias = b_ih + b_hh``
LSTM                 gates **i, f, g, o**             gates i, f, c, o (same order):
                                                      ``bias = b_ih + b_hh`` ``(4u,)``
GRU                  gates **r, z, n**                gates **z, r, h**, ``reset_after=True``:
                                                      ``bias (2, 3u) = [b_ih; b_hh]``
MultiheadAttention   ``in_proj (3E, E)``, out_proj    EinsumDense ``query/key/value``
                                                      ``kernel (E, heads, E/heads)``, ``bias
                                                      (heads, E/heads)``; ``attention_output``
                                                      ``kernel (heads, E/heads, E)``, ``bias (E,)``
===================  ==============================  =========================================

Why these are exact: torch's GRU computes ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))`` and
``h' = (1 - z) * n + z * h``, which is Keras' ``reset_after=True`` GRU with the input and
recurrent biases kept apart; torch's LSTM adds both biases to the same pre-activation, so one
summed bias is the same function. torch's attention scales the query by ``1/sqrt(E/heads)``, as
Keras' MultiHeadAttention with ``key_dim = E/heads`` does.

Options that change the function and have no Keras counterpart are refused with
:class:`~purekeras_io.errors.UnsupportedFeatureError` naming the module and the option
(``Embedding(max_norm=…)``, ``MultiheadAttention(add_bias_kv=True)``, ``LSTM(proj_size>0)``…).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, UnsupportedFeatureError

__all__ = [
    "batchnorm_weights",
    "conv_transpose_weights",
    "conv_weights",
    "depthwise_conv_weights",
    "embedding_weights",
    "gru_weights",
    "keras_momentum",
    "linear_weights",
    "lstm_weights",
    "mha_weights",
    "module_weights",
    "norm_weights",
    "rnn_layer_weights",
    "simple_rnn_weights",
    "to_numpy",
]


def to_numpy(value: Any, dtype: Any = np.float32) -> np.ndarray:
    """A torch tensor / parameter / array-like → a NumPy array (``float32`` unless told)."""
    if hasattr(value, "detach"):
        value = value.detach()
    if hasattr(value, "cpu"):
        value = value.cpu()
    if hasattr(value, "numpy"):
        value = value.numpy()
    array = np.asarray(value)
    return array.astype(dtype, copy=False) if dtype is not None else array


def _bias(bias: Any, n: int) -> np.ndarray:
    return np.zeros((n,), np.float32) if bias is None else to_numpy(bias)


# ============================================================================ dense and conv


def linear_weights(weight: Any, bias: Any = None) -> list[np.ndarray]:
    """``nn.Linear``: ``[kernel (in, out), bias]`` (no bias entry when ``bias`` is None)."""
    w = to_numpy(weight)
    if w.ndim != 2:
        raise ConfigError(f"Linear weight must be 2-D (out, in), received shape {w.shape}")
    out = [np.ascontiguousarray(w.T)]
    if bias is not None:
        out.append(to_numpy(bias))
    return out


def conv_weights(weight: Any, bias: Any = None) -> list[np.ndarray]:
    """``nn.ConvNd`` (any ``groups``): ``(out, in/g, *k)`` → ``[kernel (*k, in/g, out), bias]``."""
    return _spatial_first(weight, bias, "Conv weight must be (out, in/groups, *kernel)")


def _spatial_first(weight: Any, bias: Any, expected: str) -> list[np.ndarray]:
    """``(a, b, *k)`` → ``[(*k, b, a), bias]``: the kernel's two channel axes go last, swapped."""
    w = to_numpy(weight)
    if w.ndim < 3:
        raise ConfigError(f"{expected}, received {w.shape}")
    rank = w.ndim - 2
    out = [np.ascontiguousarray(np.transpose(w, (*range(2, 2 + rank), 1, 0)))]
    if bias is not None:
        out.append(to_numpy(bias))
    return out


def depthwise_conv_weights(weight: Any, bias: Any = None, *, in_channels: int) -> list[np.ndarray]:
    """A depthwise ``nn.ConvNd`` (``groups == in_channels``): ``(c*m, 1, *k)`` →
    ``[depthwise_kernel (*k, c, m), bias]``; torch output channel ``i*m + j`` is Keras' too."""
    w = to_numpy(weight)
    if w.ndim < 3 or w.shape[1] != 1 or w.shape[0] % in_channels:
        raise ConfigError(
            f"depthwise Conv weight must be (c*m, 1, *kernel) with c={in_channels}, "
            f"received {w.shape}"
        )
    rank = w.ndim - 2
    mult = w.shape[0] // in_channels
    kernel = w[:, 0].reshape(in_channels, mult, *w.shape[2:])  # (c, m, *k)
    out = [np.ascontiguousarray(np.transpose(kernel, (*range(2, 2 + rank), 0, 1)))]
    if bias is not None:
        out.append(to_numpy(bias))
    return out


def conv_transpose_weights(weight: Any, bias: Any = None) -> list[np.ndarray]:
    """``nn.ConvTransposeNd`` (groups 1): ``(in, out, *k)`` → ``[kernel (*k, out, in), bias]``."""
    return _spatial_first(weight, bias, "ConvTranspose weight must be (in, out, *kernel)")


# ============================================================================ normalization


def keras_momentum(torch_momentum: float | None) -> float:
    """torch updates ``running = (1 - m) * running + m * batch``; Keras ``m' * moving + …``."""
    return 0.99 if torch_momentum is None else 1.0 - float(torch_momentum)


def batchnorm_weights(
    weight: Any, bias: Any, running_mean: Any, running_var: Any
) -> list[np.ndarray]:
    """``nn.BatchNormNd``: ``[gamma, beta, moving_mean, moving_variance]``; gamma/beta are left
    out when ``weight``/``bias`` are None (``affine=False`` → ``scale=center=False``)."""
    out = [to_numpy(w) for w in (weight, bias) if w is not None]
    return [*out, to_numpy(running_mean), to_numpy(running_var)]


def norm_weights(weight: Any, bias: Any) -> list[np.ndarray]:
    """``nn.LayerNorm`` / ``nn.GroupNorm``: ``[gamma, beta]`` (each only when present)."""
    return [to_numpy(w) for w in (weight, bias) if w is not None]


def embedding_weights(weight: Any) -> list[np.ndarray]:
    """``nn.Embedding``: ``[embeddings]`` as they are."""
    return [to_numpy(weight)]


# ============================================================================ recurrent


def _gates(array: np.ndarray, n: int, order: Sequence[int]) -> np.ndarray:
    parts = np.split(array, n, axis=0)
    return np.concatenate([parts[i] for i in order], axis=0)


def simple_rnn_weights(
    w_ih: Any, w_hh: Any, b_ih: Any = None, b_hh: Any = None
) -> list[np.ndarray]:
    """One direction of one ``nn.RNN`` layer: ``[kernel, recurrent_kernel, bias]``."""
    wi, wh = to_numpy(w_ih), to_numpy(w_hh)
    out = [np.ascontiguousarray(wi.T), np.ascontiguousarray(wh.T)]
    if b_ih is not None or b_hh is not None:
        out.append(_bias(b_ih, wh.shape[0]) + _bias(b_hh, wh.shape[0]))
    return out


def lstm_weights(w_ih: Any, w_hh: Any, b_ih: Any = None, b_hh: Any = None) -> list[np.ndarray]:
    """One direction of one ``nn.LSTM`` layer: torch gates i, f, g, o are Keras' i, f, c, o;
    ``[kernel (in, 4u), recurrent_kernel (u, 4u), bias = b_ih + b_hh (4u,)]``."""
    wi, wh = to_numpy(w_ih), to_numpy(w_hh)
    if wi.shape[0] % 4 or wh.shape[0] != wi.shape[0] or wh.shape[1] * 4 != wh.shape[0]:
        raise ConfigError(
            f"LSTM weights must be (4u, in) and (4u, u), received {wi.shape} and {wh.shape}"
        )
    return simple_rnn_weights(wi, wh, b_ih, b_hh)


_GRU_ORDER = (1, 0, 2)  # torch (r, z, n) → Keras (z, r, h)


def gru_weights(w_ih: Any, w_hh: Any, b_ih: Any = None, b_hh: Any = None) -> list[np.ndarray]:
    """One direction of one ``nn.GRU`` layer for a Keras GRU with ``reset_after=True``:
    gates r, z, n → z, r, h; ``[kernel (in, 3u), recurrent_kernel (u, 3u), bias (2, 3u)]``
    with the input bias in row 0 and the recurrent bias in row 1."""
    wi, wh = to_numpy(w_ih), to_numpy(w_hh)
    if wi.shape[0] % 3 or wh.shape[0] != wi.shape[0] or wh.shape[1] * 3 != wh.shape[0]:
        raise ConfigError(
            f"GRU weights must be (3u, in) and (3u, u), received {wi.shape} and {wh.shape}"
        )
    out = [
        np.ascontiguousarray(_gates(wi, 3, _GRU_ORDER).T),
        np.ascontiguousarray(_gates(wh, 3, _GRU_ORDER).T),
    ]
    if b_ih is not None or b_hh is not None:
        n = wi.shape[0]
        out.append(
            np.stack(
                [_gates(_bias(b_ih, n), 3, _GRU_ORDER), _gates(_bias(b_hh, n), 3, _GRU_ORDER)]
            )
        )
    return out


def rnn_layer_weights(
    kind: str, state: dict[str, Any], layer: int, bidirectional: bool
) -> list[np.ndarray]:
    """The weights of layer ``layer`` of an ``nn.LSTM``/``nn.GRU``/``nn.RNN`` state dict
    (``weight_ih_l0``, ``weight_hh_l0_reverse``…): forward then backward, as a Keras
    ``Bidirectional`` lists them."""
    convert = {"LSTM": lstm_weights, "GRU": gru_weights, "RNN": simple_rnn_weights}[kind]
    out: list[np.ndarray] = []
    for suffix in ("", "_reverse") if bidirectional else ("",):
        key = f"l{layer}{suffix}"
        if f"weight_ih_{key}" not in state:
            raise ConfigError(f"{kind} state dict has no weight_ih_{key}; keys: {sorted(state)}")
        if f"weight_hr_{key}" in state:
            raise UnsupportedFeatureError(
                f"{kind}: proj_size > 0 (weight_hr_{key}) has no Keras layer"
            )
        out.extend(
            convert(
                state[f"weight_ih_{key}"],
                state[f"weight_hh_{key}"],
                state.get(f"bias_ih_{key}"),
                state.get(f"bias_hh_{key}"),
            )
        )
    return out


# ============================================================================ attention


def mha_weights(
    num_heads: int,
    in_proj_weight: Any = None,
    in_proj_bias: Any = None,
    out_proj_weight: Any = None,
    out_proj_bias: Any = None,
    *,
    q_proj_weight: Any = None,
    k_proj_weight: Any = None,
    v_proj_weight: Any = None,
) -> list[np.ndarray]:
    """``nn.MultiheadAttention`` → Keras ``MultiHeadAttention(num_heads, key_dim=E/heads)``
    weights: query, key, value, attention_output (kernel then bias each; no biases when
    ``in_proj_bias`` is None). Separate ``q/k/v_proj_weight`` (``kdim``/``vdim`` ≠ E) work too."""
    if out_proj_weight is None:
        raise ConfigError("MultiheadAttention: out_proj.weight is required")
    wo = to_numpy(out_proj_weight)
    embed = wo.shape[0]
    if embed % num_heads:
        raise ConfigError(f"MultiheadAttention: embed_dim {embed} is not divisible by {num_heads}")
    head = embed // num_heads
    if in_proj_weight is not None:
        wq, wk, wv = np.split(to_numpy(in_proj_weight), 3, axis=0)
    else:
        wq, wk, wv = (to_numpy(w) for w in (q_proj_weight, k_proj_weight, v_proj_weight))
    biases = None if in_proj_bias is None else np.split(to_numpy(in_proj_bias), 3)
    out: list[np.ndarray] = []
    for i, w in enumerate((wq, wk, wv)):
        out.append(np.ascontiguousarray(w.T.reshape(w.shape[1], num_heads, head)))
        if biases is not None:
            out.append(biases[i].reshape(num_heads, head))
    out.append(np.ascontiguousarray(wo.T.reshape(num_heads, head, embed)))
    if biases is not None:
        out.append(_bias(out_proj_bias, embed))
    return out


# ============================================================================ by module


def _state(module: Any) -> dict[str, Any]:
    return dict(module.state_dict()) if hasattr(module, "state_dict") else dict(module)


def module_weights(module: Any) -> list[np.ndarray]:
    """The Keras weights of one torch module, by its class (see the table above).

    Recurrent modules give the weights of every layer and direction concatenated (each layer
    forward then backward); :func:`rnn_layer_weights` gives one layer's."""
    kind = type(module).__name__
    sd = _state(module)
    if kind == "Linear":
        return linear_weights(sd["weight"], sd.get("bias"))
    if kind in ("Conv1d", "Conv2d", "Conv3d"):
        groups, cin = int(module.groups), int(module.in_channels)
        if groups > 1 and groups == cin:
            return depthwise_conv_weights(sd["weight"], sd.get("bias"), in_channels=cin)
        return conv_weights(sd["weight"], sd.get("bias"))
    if kind in ("ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"):
        if int(module.groups) != 1:
            raise UnsupportedFeatureError(f"{kind}(groups={module.groups}) has no Keras layer")
        return conv_transpose_weights(sd["weight"], sd.get("bias"))
    if kind in ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d"):
        return batchnorm_weights(sd.get("weight"), sd.get("bias"), sd["running_mean"],
                                 sd["running_var"])
    if kind in ("LayerNorm", "GroupNorm"):
        return norm_weights(sd.get("weight"), sd.get("bias"))
    if kind == "Embedding":
        return embedding_weights(sd["weight"])
    if kind in ("LSTM", "GRU", "RNN"):
        out: list[np.ndarray] = []
        for layer in range(int(module.num_layers)):
            out.extend(rnn_layer_weights(kind, sd, layer, bool(module.bidirectional)))
        return out
    if kind == "MultiheadAttention":
        return mha_weights(
            int(module.num_heads),
            sd.get("in_proj_weight"),
            sd.get("in_proj_bias"),
            sd["out_proj.weight"],
            sd.get("out_proj.bias"),
            q_proj_weight=sd.get("q_proj_weight"),
            k_proj_weight=sd.get("k_proj_weight"),
            v_proj_weight=sd.get("v_proj_weight"),
        )
    raise UnsupportedFeatureError(f"no weight converter for torch module class {kind!r}")
