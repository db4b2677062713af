"""NumPy forward passes of every Keras activation, by the name Keras serializes.

Where tf_keras 2.x and Keras 3 compute different functions under one name (``hard_sigmoid``,
``hard_silu``), the table holds one entry per generation and :func:`get` takes the dialect the
config came from.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import ConfigError

__all__ = ["ACTIVATIONS", "get", "softmax"]

Fn = Callable[[np.ndarray], np.ndarray]


def softmax(x: np.ndarray, axis: int | tuple[int, ...] = -1) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    s = x - m
    return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))


def sigmoid(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x).astype(x.dtype)


def elu(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def selu(x: np.ndarray) -> np.ndarray:
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return scale * elu(x, alpha)


def gelu(x: np.ndarray, approximate: bool = False) -> np.ndarray:
    if approximate:
        c = math.sqrt(2.0 / math.pi)
        return 0.5 * x * (1.0 + np.tanh(c * (x + 0.044715 * x**3)))
    from math import erf

    verf = np.vectorize(erf, otypes=[np.float64])
    return (0.5 * x * (1.0 + verf(x / math.sqrt(2.0)))).astype(x.dtype)


def _relu6(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0, 6)


def _mish(x: np.ndarray) -> np.ndarray:
    return x * np.tanh(softplus(x))


# name → (keras2 function, keras3 function); one function when both agree.
ACTIVATIONS: dict[str, tuple[Fn, Fn]] = {}


def _add(names: tuple[str, ...], k2: Fn, k3: Fn | None = None) -> None:
    for name in names:
        ACTIVATIONS[name] = (k2, k3 or k2)


_add(("linear", "None"), lambda x: x)
_add(("relu",), lambda x: np.maximum(x, 0))
_add(("relu6",), _relu6)
_add(("sigmoid",), sigmoid)
_add(
    ("hard_sigmoid",),
    lambda x: np.clip(0.2 * x + 0.5, 0.0, 1.0),
    lambda x: _relu6(x + 3.0) / 6.0,
)
_add(("hard_silu", "hard_swish"), lambda x: x * _relu6(x + 3.0) / 6.0)
_add(("softmax",), softmax)
_add(("log_softmax",), log_softmax)
_add(("softplus",), softplus)
_add(("softsign",), lambda x: x / (1.0 + np.abs(x)))
_add(("tanh",), np.tanh)
_add(("elu",), elu)
_add(("selu",), selu)
_add(("exponential",), np.exp)
_add(("swish", "silu"), lambda x: x * sigmoid(x))
_add(("gelu",), gelu)
_add(("mish",), _mish)
_add(("leaky_relu",), lambda x: np.where(x > 0, x, 0.2 * x))
_add(("tanh_shrink",), lambda x: x - np.tanh(x))
_add(("hard_tanh",), lambda x: np.clip(x, -1.0, 1.0))
_add(("celu",), lambda x: np.maximum(x, 0) + np.minimum(0, np.expm1(np.minimum(x, 0))))
_add(("glu",), lambda x: np.split(x, 2, axis=-1)[0] * sigmoid(np.split(x, 2, axis=-1)[1]))
_add(("sparse_plus",), lambda x: np.where(x <= -1, 0, np.where(x >= 1, x, (x + 1) ** 2 / 4)))
_add(("squareplus",), lambda x: (x + np.sqrt(x * x + 4.0)) / 2.0)
_add(("soft_shrink",), lambda x: np.where(x > 0.5, x - 0.5, np.where(x < -0.5, x + 0.5, 0)))
_add(("hard_shrink",), lambda x: np.where(np.abs(x) > 0.5, x, 0))
_add(("threshold",), lambda x: x)
_add(("sparsemax",), lambda x: _sparsemax(x))


def _sparsemax(x: np.ndarray) -> np.ndarray:
    z = np.sort(x, axis=-1)[..., ::-1]
    k = np.arange(1, x.shape[-1] + 1, dtype=x.dtype)
    cssv = np.cumsum(z, axis=-1)
    support = 1 + k * z > cssv
    kz = np.sum(support, axis=-1, keepdims=True)
    tau = (np.take_along_axis(cssv, kz.astype(int) - 1, axis=-1) - 1) / kz
    return np.maximum(x - tau, 0)


def get(identifier: Any, dialect: str = "keras3") -> Fn:
    """The NumPy function for a serialized activation (name or ``{"class_name": …}`` dict)."""
    if identifier is None:
        identifier = "linear"
    if isinstance(identifier, dict):
        identifier = identifier.get("config", {}).get("name") or identifier.get("class_name")
    if not isinstance(identifier, str) or identifier not in ACTIVATIONS:
        raise ConfigError(
            f"activation {identifier!r} is not known; known: {', '.join(sorted(ACTIVATIONS))}"
        )
    k2, k3 = ACTIVATIONS[identifier]
    fn = k2 if dialect == "keras2" else k3

    def apply(x: np.ndarray) -> np.ndarray:
        return np.asarray(fn(x)).astype(x.dtype, copy=False)

    return apply
