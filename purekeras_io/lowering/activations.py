"""Every Keras activation as TensorFlow ops, by the name Keras serializes (the table of
:mod:`purekeras_io.activations`, same names, same per-generation semantics).

Where TensorFlow has the op Keras itself emits, it is used (``Relu``, ``Selu``, ``Softmax``
…); the rest are written as Keras writes them (``hard_sigmoid`` of each generation, ``gelu`` with
``Erf``, ``mish`` with ``Softplus``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import numpy as np

from .. import activations as np_activations
from ..errors import ConfigError
from ..graph.builder import Tensor
from .context import LowerContext

__all__ = ["ACTIVATIONS", "apply", "softmax"]

Fn = Callable[[LowerContext, Tensor], Tensor]


def _op(name: str) -> Fn:
    return lambda ctx, x: ctx.unary(name, x)


def softmax(ctx: LowerContext, x: Tensor, axis: int | list[int] | tuple[int, ...] = -1
            ) -> Tensor:
    """Softmax over ``axis`` (the op for the last axis; else ``exp(x - max) / sum``)."""
    axes = [axis] if isinstance(axis, int) else list(axis)
    rank = x.rank
    if rank is not None and [a % rank for a in axes] == [rank - 1]:
        return ctx.unary("Softmax", x)
    m = ctx.reduce("Max", x, axes, keepdims=True)
    e = ctx.unary("Exp", ctx.sub(x, m))
    return ctx.div(e, ctx.reduce("Sum", e, axes, keepdims=True))


def _log_softmax(ctx: LowerContext, x: Tensor) -> Tensor:
    return ctx.unary("LogSoftmax", x)


def _relu6(ctx: LowerContext, x: Tensor) -> Tensor:
    return ctx.unary("Relu6", x)


def _hard_sigmoid_k2(ctx: LowerContext, x: Tensor) -> Tensor:
    y = ctx.add(ctx.mul(x, 0.2), 0.5)
    return cast(Tensor, ctx.op("ClipByValue", y, ctx.scalar(0.0, x), ctx.scalar(1.0, x)))


def _hard_sigmoid_k3(ctx: LowerContext, x: Tensor) -> Tensor:
    return ctx.div(_relu6(ctx, ctx.add(x, 3.0)), 6.0)


def _hard_silu(ctx: LowerContext, x: Tensor) -> Tensor:
    return ctx.mul(x, _hard_sigmoid_k3(ctx, x))


def _silu(ctx: LowerContext, x: Tensor) -> Tensor:
    return ctx.mul(x, ctx.unary("Sigmoid", x))


def _gelu(ctx: LowerContext, x: Tensor) -> Tensor:
    half = ctx.mul(x, 0.5)
    return ctx.mul(half, ctx.add(ctx.unary("Erf", ctx.mul(x, 1.0 / math.sqrt(2.0))), 1.0))


def _mish(ctx: LowerContext, x: Tensor) -> Tensor:
    return ctx.mul(x, ctx.unary("Tanh", ctx.unary("Softplus", x)))


def _leaky_relu(ctx: LowerContext, x: Tensor) -> Tensor:
    return cast(Tensor, ctx.op("LeakyRelu", x, alpha=0.2))


def _where(ctx: LowerContext, cond: Tensor, a: Tensor, b: Tensor) -> Tensor:
    return cast(Tensor, ctx.op("SelectV2", cond, a, b))


def _zeros(ctx: LowerContext, x: Tensor) -> Tensor:
    return ctx.unary("ZerosLike", x)


def _tanh_shrink(ctx: LowerContext, x: Tensor) -> Tensor:
    return ctx.sub(x, ctx.unary("Tanh", x))


def _hard_tanh(ctx: LowerContext, x: Tensor) -> Tensor:
    return cast(Tensor, ctx.op("ClipByValue", x, ctx.scalar(-1.0, x), ctx.scalar(1.0, x)))


def _celu(ctx: LowerContext, x: Tensor) -> Tensor:
    neg = ctx.binary("Minimum", x, 0.0)
    return ctx.add(ctx.unary("Relu", x), ctx.binary("Minimum", ctx.unary("Expm1", neg), 0.0))


def _glu(ctx: LowerContext, x: Tensor) -> Tensor:
    a, b = ctx.op("Split", ctx.const(np.asarray(-1, np.int32)), x, num_split=2)
    return ctx.mul(a, ctx.unary("Sigmoid", b))


def _sparse_plus(ctx: LowerContext, x: Tensor) -> Tensor:
    mid = ctx.div(ctx.unary("Square", ctx.add(x, 1.0)), 4.0)
    upper = _where(ctx, ctx.binary("GreaterEqual", x, 1.0), x, mid)
    return _where(ctx, ctx.binary("LessEqual", x, -1.0), _zeros(ctx, x), upper)


def _sparse_sigmoid(ctx: LowerContext, x: Tensor) -> Tensor:
    mid = ctx.mul(ctx.add(x, 1.0), 0.5)
    ones = ctx.unary("OnesLike", x)
    upper = _where(ctx, ctx.binary("GreaterEqual", x, 1.0), ones, mid)
    return _where(ctx, ctx.binary("LessEqual", x, -1.0), _zeros(ctx, x), upper)


def _log_sigmoid(ctx: LowerContext, x: Tensor) -> Tensor:
    return ctx.unary("Neg", ctx.unary("Softplus", ctx.unary("Neg", x)))


def _squareplus(ctx: LowerContext, x: Tensor) -> Tensor:
    root = ctx.unary("Sqrt", ctx.add(ctx.unary("Square", x), 4.0))
    return ctx.div(ctx.add(x, root), 2.0)


def _soft_shrink(ctx: LowerContext, x: Tensor) -> Tensor:
    lower = _where(ctx, ctx.binary("Less", x, -0.5), ctx.add(x, 0.5), _zeros(ctx, x))
    return _where(ctx, ctx.binary("Greater", x, 0.5), ctx.sub(x, 0.5), lower)


def _hard_shrink(ctx: LowerContext, x: Tensor) -> Tensor:
    return _where(ctx, ctx.binary("Greater", ctx.unary("Abs", x), 0.5), x, _zeros(ctx, x))


def _sparsemax(ctx: LowerContext, x: Tensor) -> Tensor:
    """Keras 3's sparsemax over the last axis, as :mod:`purekeras_io.activations` writes it."""
    n = ctx.dim(x, -1)
    z, _ = ctx.op("TopKV2", x, n, shape=[x.shape, x.shape])
    cssv = cast(Tensor, ctx.op("Cumsum", z, ctx.const(np.asarray(-1, np.int32))))
    r = ctx.cast(cast(Tensor, ctx.op(
        "Range", ctx.const(np.asarray(1, np.int32)), ctx.add(n, ctx.const(np.asarray(1, np.int32))),
        ctx.const(np.asarray(1, np.int32)))), x.dtype)
    support = ctx.binary("Greater", ctx.sub(z, ctx.div(ctx.sub(cssv, 1.0), r)), 0.0)
    k = ctx.reduce("Sum", ctx.cast(support, x.dtype), [-1], keepdims=True)
    picked = _where(ctx, support, cssv, _zeros(ctx, cssv))
    tau = ctx.div(ctx.sub(ctx.reduce("Sum", picked, [-1], keepdims=True), 1.0), k)
    return ctx.binary("Maximum", ctx.sub(x, tau), 0.0)


def _linear(ctx: LowerContext, x: Tensor) -> Tensor:
    return x


def _softmax(ctx: LowerContext, x: Tensor) -> Tensor:
    return softmax(ctx, x, -1)


# name → (tf_keras lowering, Keras 3 lowering); one function when both agree.
ACTIVATIONS: dict[str, tuple[Fn, Fn]] = {}


def _add(names: tuple[str, ...], k2: Fn, k3: Fn | None = None) -> None:
    for name in names:
        ACTIVATIONS[name] = (k2, k3 or k2)


_add(("linear", "None"), _linear)
_add(("relu",), _op("Relu"))
_add(("relu6",), _relu6)
_add(("sigmoid",), _op("Sigmoid"))
_add(("hard_sigmoid",), _hard_sigmoid_k2, _hard_sigmoid_k3)
_add(("hard_silu", "hard_swish"), _hard_silu)
_add(("softmax",), _softmax)
_add(("log_softmax",), _log_softmax)
_add(("softplus",), _op("Softplus"))
_add(("softsign",), _op("Softsign"))
_add(("tanh",), _op("Tanh"))
_add(("elu",), _op("Elu"))
_add(("selu",), _op("Selu"))
_add(("exponential",), _op("Exp"))
_add(("swish", "silu"), _silu)
_add(("gelu",), _gelu)
_add(("mish",), _mish)
_add(("leaky_relu",), _leaky_relu)
_add(("tanh_shrink",), _tanh_shrink)
_add(("hard_tanh",), _hard_tanh)
_add(("celu",), _celu)
_add(("glu",), _glu)
_add(("sparse_plus",), _sparse_plus)
_add(("sparse_sigmoid",), _sparse_sigmoid)
_add(("log_sigmoid",), _log_sigmoid)
_add(("squareplus",), _squareplus)
_add(("soft_shrink",), _soft_shrink)
_add(("hard_shrink",), _hard_shrink)
_add(("sparsemax",), _sparsemax)


def apply(ctx: LowerContext, identifier: Any, x: Tensor) -> Tensor:
    """The activation ``identifier`` (a config value) applied to ``x``, with the semantics of
    the generation the layer's config came from (``ctx.dialect``)."""
    name = np_activations.name_of(identifier)
    if name not in ACTIVATIONS:
        raise ConfigError(f"activation {name!r} has no graph lowering; known: "
                          f"{', '.join(sorted(ACTIVATIONS))}")
    k2, k3 = ACTIVATIONS[name]
    return (k2 if ctx.dialect == "keras2" else k3)(ctx, x)
