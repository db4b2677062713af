"""NumPy forward passes of every Keras activation, by the name Keras serializes.

Names each generation resolves from a config string (tf_keras 2.21 ``activations.deserialize``,
Keras 3.15 ``activations.ALL_OBJECTS_DICT``):

* both: ``elu exponential gelu hard_sigmoid linear mish relu selu sigmoid softmax softplus
  softsign swish tanh``;
* Keras 3 only: ``celu glu hard_shrink hard_silu hard_swish hard_tanh leaky_relu log_sigmoid
  log_softmax relu6 silu soft_shrink sparse_plus sparse_sigmoid sparsemax squareplus
  tanh_shrink`` (``threshold`` is listed too but needs arguments, so it cannot be used by name).

Where the generations compute different functions under one name, the table holds one entry per
generation and :func:`get` takes the dialect the config came from: ``hard_sigmoid`` is
``clip(0.2 x + 0.5, 0, 1)`` in tf_keras and ``relu6(x + 3) / 6`` in Keras 3. Keras 3's
``sparsemax`` computes its threshold as ``(Σ_support cumsum - 1) / k`` (not the textbook
``(cumsum_k - 1) / k``); the table follows Keras. ``gelu`` is exact (erf) in both by default,
``leaky_relu`` uses slope 0.2. Keras 3 writes ``swish`` as ``silu`` and ``hard_swish`` as
``hard_silu``; :data:`KERAS2_NAMES` lists what tf_keras can read.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import ConfigError

__all__ = [
    "ACTIVATIONS", "KERAS2_NAMES", "elu", "gelu", "get", "name_of", "relu", "sigmoid", "softmax",
]

Fn = Callable[[np.ndarray], np.ndarray]

KERAS2_NAMES = frozenset(
    {
        "elu", "exponential", "gelu", "hard_sigmoid", "linear", "mish", "relu", "selu",
        "sigmoid", "softmax", "softplus", "softsign", "swish", "tanh",
    }
)
"""Activation names tf_keras 2.21 resolves from a config string."""


def softmax(x: np.ndarray, axis: int | tuple[int, ...] = -1) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    s = x - m
    return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))


def sigmoid(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(np.zeros((), x.dtype), -x)


def softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(np.zeros((), x.dtype), x)


def elu(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def selu(x: np.ndarray) -> np.ndarray:
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return scale * elu(x, alpha)


def gelu(x: np.ndarray, approximate: bool = False) -> np.ndarray:
    if approximate:
        c = math.sqrt(2.0 / math.pi)
        return 0.5 * x * (1.0 + np.tanh(c * (x + 0.044715 * x**3)))
    verf = np.vectorize(math.erf, otypes=[np.float64])
    return (0.5 * x * (1.0 + verf(x.astype(np.float64) / math.sqrt(2.0)))).astype(x.dtype)


def relu(
    x: np.ndarray,
    negative_slope: float = 0.0,
    max_value: float | None = None,
    threshold: float = 0.0,
    dialect: str = "keras3",
) -> np.ndarray:
    """The ReLU layer's function, in the steps each generation takes (tf_keras
    ``backend.relu``, Keras 3 ``ReLU.static_call``), so NaN and infinities come out as in
    TensorFlow: ``relu(-inf) = 0``; with a threshold tf_keras multiplies by ``x > threshold``
    (``-inf * 0 = NaN``) where Keras 3 selects (``0``); the negative part is subtracted last."""
    x = np.asarray(x)
    with np.errstate(invalid="ignore", over="ignore"):  # -inf * 0 is TF's NaN too
        return _relu(x, negative_slope, max_value, threshold, dialect)


def _relu(
    x: np.ndarray, negative_slope: float, max_value: float | None, threshold: float, dialect: str
) -> np.ndarray:
    if negative_slope != 0.0:
        if max_value is None and threshold == 0:
            return np.where(x > 0, x, x * np.asarray(negative_slope, x.dtype))
        negative = np.maximum(-x + np.asarray(threshold, x.dtype), 0)
    clip = max_value is not None
    if threshold != 0:
        above = x > np.asarray(threshold, x.dtype)
        y = x * above.astype(x.dtype) if dialect == "keras2" else np.where(above, x, 0)
    elif max_value == 6:
        y, clip = np.clip(x, 0, 6), False
    else:
        y = np.maximum(x, 0)
    if clip:
        y = np.clip(y, 0, np.asarray(max_value, x.dtype))
    if negative_slope != 0.0:
        y = y - np.asarray(negative_slope, x.dtype) * negative
    return np.asarray(y).astype(x.dtype, copy=False)


def _relu6(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0, 6)


def _mish(x: np.ndarray) -> np.ndarray:
    return x * np.tanh(softplus(x))


def _glu(x: np.ndarray) -> np.ndarray:
    a, b = np.split(x, 2, axis=-1)
    return a * sigmoid(b)


def _sparsemax(x: np.ndarray) -> np.ndarray:
    """Keras 3's sparsemax over the last axis, as written (threshold from Σ_support cumsum)."""
    z = -np.sort(-x, axis=-1)
    cssv = np.cumsum(z, axis=-1)
    r = np.arange(1, x.shape[-1] + 1, dtype=x.dtype)
    support = z - (cssv - 1) / r > 0
    k = np.sum(support, axis=-1, keepdims=True).astype(x.dtype)
    tau = (np.sum(np.where(support, cssv, 0), axis=-1, keepdims=True) - 1) / k
    return np.maximum(x - tau, 0)


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
_add(("hard_silu", "hard_swish"), lambda x: x * (_relu6(x + 3.0) / 6.0))
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
_add(("glu",), _glu)
_add(("sparse_plus",), lambda x: np.where(x <= -1, 0, np.where(x >= 1, x, (x + 1) ** 2 / 4)))
_add(("sparse_sigmoid",), lambda x: np.where(x <= -1, 0, np.where(x >= 1, 1, 0.5 * (x + 1))))
_add(("log_sigmoid",), log_sigmoid)
_add(("squareplus",), lambda x: (x + np.sqrt(x * x + 4.0)) / 2.0)
_add(("soft_shrink",), lambda x: np.where(x > 0.5, x - 0.5, np.where(x < -0.5, x + 0.5, 0)))
_add(("hard_shrink",), lambda x: np.where(np.abs(x) > 0.5, x, 0))
_add(("sparsemax",), _sparsemax)


def name_of(identifier: Any) -> str:
    """The activation name in a config value: a string, or a serialized function dict."""
    if identifier is None:
        return "linear"
    if isinstance(identifier, dict):
        config = identifier.get("config")
        if isinstance(config, str):
            return config
        if isinstance(config, dict) and config.get("name"):
            return str(config["name"])
        return str(identifier.get("class_name"))
    if not isinstance(identifier, str):
        raise ConfigError(
            f"activation must be a name or a serialized function, received {identifier!r}"
        )
    return identifier


def get(identifier: Any, dialect: str = "keras3") -> Fn:
    """The NumPy function for a serialized activation, as the given Keras generation computes it."""
    name = name_of(identifier)
    if name not in ACTIVATIONS:
        raise ConfigError(
            f"activation {name!r} is not known; known: {', '.join(sorted(ACTIVATIONS))}"
        )
    k2, k3 = ACTIVATIONS[name]
    fn = k2 if dialect == "keras2" else k3

    def apply(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype.kind != "f":
            x = x.astype(np.float32)
        with np.errstate(over="ignore", under="ignore"):
            return np.asarray(fn(x)).astype(x.dtype, copy=False)

    return apply
