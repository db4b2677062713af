"""Pooling layers as TensorFlow ops: Max/AveragePooling1D/2D/3D and the global poolings.

Window poolings are ``MaxPool`` / ``AvgPool`` (2-D) and ``MaxPool3D`` / ``AvgPool3D`` on a
channels-last batch (``channels_first`` layers transpose there and back, as TensorFlow's CPU
kernels have no ``NCHW``); 1-D poolings run as 2-D ones on an expanded axis, as Keras does.
TensorFlow's ``SAME`` padding is Keras': max pooling never picks a pad, average pooling divides
by the number of real inputs in the window.

Global poolings are ``Mean`` / ``Max`` over the spatial axes (``keepdims`` as configured);
``GlobalAveragePooling1D`` with a mask is ``sum(x * mask) / sum(mask)`` over the steps (NaN
where every step is masked, as Keras) and passes no mask on.
"""

from __future__ import annotations

from typing import Any, cast

from ..graph.builder import Tensor
from ..layers import pooling as P
from .context import LowerContext
from .conv import expand_1d, from_channels_last, squeeze_1d, to_channels_last
from .registry import lowers, lowers_mask

__all__: list[str] = []

_WINDOW_OPS = {("max", 2): "MaxPool", ("mean", 2): "AvgPool",
               ("max", 3): "MaxPool3D", ("mean", 3): "AvgPool3D"}


@lowers(P.MaxPooling1D, P.MaxPooling2D, P.MaxPooling3D,
        P.AveragePooling1D, P.AveragePooling2D, P.AveragePooling3D)
def _pool(ctx: LowerContext, layer: P._Pooling, x: Tensor, **_: Any) -> Tensor:
    c = layer.config
    x = to_channels_last(ctx, x, c["data_format"])
    pool, strides = list(c["pool_size"]), list(c["strides"])
    static = None
    if x.shape is not None:
        spatial = [P.output_length(n, k, s, c["padding"])
                   for n, k, s in zip(x.shape[1:-1], pool, strides)]
        static = (x.shape[0], *spatial, x.shape[-1])
    if layer.rank == 1:
        x = expand_1d(ctx, x)
        pool, strides = [1, *pool], [1, *strides]
        static = None if static is None else (static[0], 1, *static[1:])
    op = _WINDOW_OPS[(layer.reduce, max(layer.rank, 2))]
    y = cast(Tensor, ctx.op(op, x, ksize=[1, *pool, 1], strides=[1, *strides, 1],
                            padding=c["padding"].upper(), shape=static))
    if layer.rank == 1:
        y = squeeze_1d(ctx, y)
    return from_channels_last(ctx, y, c["data_format"])


@lowers(P.GlobalMaxPooling1D, P.GlobalMaxPooling2D, P.GlobalMaxPooling3D,
        P.GlobalAveragePooling2D, P.GlobalAveragePooling3D)
def _global_pool(ctx: LowerContext, layer: P._GlobalPooling, x: Tensor, **_: Any) -> Tensor:
    op = "Max" if layer.reduce == "max" else "Mean"
    return ctx.reduce(op, x, list(layer._axes()), layer.config["keepdims"])


@lowers(P.GlobalAveragePooling1D)
def _global_average_1d(ctx: LowerContext, layer: P.GlobalAveragePooling1D, x: Tensor,
                       mask: Tensor | None = None, **_: Any) -> Tensor:
    keep = bool(layer.config["keepdims"])
    if mask is None:
        return ctx.reduce("Mean", x, list(layer._axes()), keep)
    first = layer.config["data_format"] == "channels_first"
    axis = 2 if first else 1
    m = expand_1d(ctx, ctx.cast(mask, x.dtype), 1 if first else 2)
    total = ctx.reduce("Sum", ctx.mul(x, m), [axis], keep)
    return ctx.div(total, ctx.reduce("Sum", m, [axis], keep))


@lowers_mask(P.GlobalAveragePooling1D)
def _global_average_1d_mask(ctx: LowerContext, layer: Any, x: Any, mask: Any) -> None:
    return None
