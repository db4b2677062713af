"""Core layers: Dense, the activation layers, the inference-time identities, Masking."""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from ..graph.builder import Tensor
from ..layers import core as L
from . import activations
from .context import LowerContext
from .registry import lowers, lowers_mask

__all__: list[str] = []


@lowers(L.Dense)
def _dense(ctx: LowerContext, layer: L.Dense, x: Tensor, **_: Any) -> Tensor:
    dtype = layer.compute_dtype
    kernel = ctx.read(layer.weights[0], dtype)
    y = ctx.matmul(x, kernel)
    if layer.config["use_bias"]:
        y = cast(Tensor, ctx.op("BiasAdd", y, ctx.read(layer.weights[1], dtype)))
    return activations.apply(ctx, layer.config["activation"], y)


@lowers(L.Activation)
def _activation(ctx: LowerContext, layer: L.Activation, x: Tensor, **_: Any) -> Tensor:
    return activations.apply(ctx, layer.config["activation"], x)


@lowers(L.Softmax)
def _softmax(ctx: LowerContext, layer: L.Softmax, x: Tensor, mask: Any = None, **_: Any
             ) -> Tensor:
    if mask is not None:
        keep = ctx.cast(mask, x.dtype)
        x = ctx.add(x, ctx.mul(ctx.sub(ctx.scalar(1.0, x), keep), -1e9))
    axis = layer.config["axis"]
    return activations.softmax(ctx, x, tuple(axis) if isinstance(axis, list) else axis)


@lowers(L.ReLU)
def _relu(ctx: LowerContext, layer: L.ReLU, x: Tensor, **_: Any) -> Tensor:
    c = layer.config
    thr, slope = float(c["threshold"] or 0.0), float(c["negative_slope"] or 0.0)
    top = c["max_value"]
    if thr == 0.0 and slope == 0.0:
        if top is not None and float(top) == 6.0:
            return ctx.unary("Relu6", x)
        y = ctx.unary("Relu", x)
    else:
        below = ctx.mul(ctx.sub(x, thr), slope)
        y = cast(Tensor, ctx.op("SelectV2", ctx.binary("GreaterEqual", x, thr), x, below))
    if top is not None:
        y = ctx.binary("Minimum", y, float(top))
    return y


@lowers(L.LeakyReLU)
def _leaky(ctx: LowerContext, layer: L.LeakyReLU, x: Tensor, **_: Any) -> Tensor:
    return cast(Tensor, ctx.op("LeakyRelu", x, alpha=float(layer.config["negative_slope"])))


@lowers(L.ELU)
def _elu(ctx: LowerContext, layer: L.ELU, x: Tensor, **_: Any) -> Tensor:
    alpha = float(layer.config["alpha"])
    y = ctx.unary("Elu", x)
    if alpha == 1.0:
        return y
    return cast(Tensor, ctx.op("SelectV2", ctx.binary("Greater", x, 0.0), y, ctx.mul(y, alpha)))


@lowers(L.ThresholdedReLU)
def _thresholded(ctx: LowerContext, layer: L.ThresholdedReLU, x: Tensor, **_: Any) -> Tensor:
    theta = float(layer.config["theta"])
    return cast(Tensor, ctx.op("SelectV2", ctx.binary("Greater", x, theta), x,
                               ctx.unary("ZerosLike", x)))


@lowers(L.PReLU)
def _prelu(ctx: LowerContext, layer: L.PReLU, x: Tensor, **_: Any) -> Tensor:
    alpha = ctx.read(layer.weights[0], layer.compute_dtype)
    pos = ctx.unary("Relu", x)
    neg = ctx.mul(alpha, ctx.unary("Relu", ctx.unary("Neg", x)))
    return ctx.sub(pos, neg)


@lowers(L._Identity)
def _identity(ctx: LowerContext, layer: Any, x: Any, **_: Any) -> Any:
    return x


def _keep(ctx: LowerContext, layer: L.Masking, x: Tensor) -> Tensor:
    value = ctx.scalar(float(layer.config["mask_value"]), x)
    return cast(Tensor, ctx.op("Any", ctx.binary("NotEqual", x, value),
                               ctx.const(np.asarray([-1], np.int32)), keep_dims=True))


@lowers(L.Masking)
def _masking(ctx: LowerContext, layer: L.Masking, x: Tensor, **_: Any) -> Tensor:
    return ctx.mul(x, ctx.cast(_keep(ctx, layer, x), x.dtype))


@lowers_mask(L.Masking)
def _masking_mask(ctx: LowerContext, layer: L.Masking, x: Tensor, mask: Any) -> Tensor:
    keep = _keep(ctx, layer, x)
    return cast(Tensor, ctx.op("Squeeze", keep, squeeze_dims=[-1],
                               shape=None if x.shape is None else x.shape[:-1]))


@lowers_mask(L.Softmax)
def _softmax_mask(ctx: LowerContext, layer: Any, x: Any, mask: Any) -> None:
    return None
