"""Preprocessing layers: Rescaling, Normalization, Resizing, CenterCrop.

As in the NumPy forward pass (:mod:`purekeras_io.layers.preprocessing`), inputs are cast to the
layer's compute dtype first. Rescaling is ``x * scale + offset`` (scalars or per-channel
constants); Normalization ``(x - mean) / max(sqrt(variance), 1e-7)`` (or, ``invert``,
``mean + x * max(…)``) with the statistics from its weights or, folded into constants, from its
config. Resizing is ``tf.image.resize`` without antialias: ``ResizeBilinear`` /
``ResizeNearestNeighbor`` with half-pixel centers, after the central crop of
``crop_to_aspect_ratio`` (computed at run time, so images of any size work); channels-first
images are transposed around it. CenterCrop is one ``Slice`` of the central window.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from ..dtypes import to_numpy
from ..graph.builder import Tensor
from ..layers import preprocessing as P
from .context import LowerContext
from .registry import lowers
from .walk import NotLowerable

__all__: list[str] = []


def _compute(ctx: LowerContext, layer: Any, x: Tensor) -> Tensor:
    return ctx.cast(x, str(layer.compute_dtype))


def _constant(ctx: LowerContext, value: Any, like: Tensor) -> Tensor:
    return ctx.const(np.asarray(value, dtype=to_numpy(like.dtype)), like.dtype)


# ================================================================================== Rescaling


@lowers(P.Rescaling)
def _rescaling(ctx: LowerContext, layer: P.Rescaling, x: Tensor, **_: Any) -> Tensor:
    x = _compute(ctx, layer, x)
    y = ctx.mul(x, _constant(ctx, layer.config["scale"], x))
    return ctx.add(y, _constant(ctx, layer.config["offset"], x))


# ================================================================================== Normalization


@lowers(P.Normalization)
def _normalization(ctx: LowerContext, layer: P.Normalization, x: Tensor, **_: Any) -> Tensor:
    x = _compute(ctx, layer, x)
    if x.shape is None:
        raise NotLowerable(layer, "the input rank is unknown")
    shape = tuple(x.shape)
    keep = layer._keep(len(shape))
    bshape = [cast(int, shape[d]) if d in keep else 1 for d in range(len(shape))]
    dtype = to_numpy(x.dtype)
    eps = np.asarray(P._EPSILON, dtype)
    if layer.config["mean"] is not None:
        stat_shape = layer._stat_shape(shape)
        mean_v = (np.asarray(layer.config["mean"], np.float64) * np.ones(stat_shape))
        var_v = (np.asarray(layer.config["variance"], np.float64) * np.ones(stat_shape))
        mean_a = mean_v.astype(dtype).reshape(bshape)
        denom_a = np.maximum(np.sqrt(var_v.astype(dtype).reshape(bshape)), eps)
        mean, denom = ctx.const(mean_a, x.dtype), ctx.const(denom_a, x.dtype)
    else:
        values = {v.name: v for v in layer.own_variables}
        mean = ctx.reshape(ctx.read(values["mean"], x.dtype), bshape)
        var = ctx.reshape(ctx.read(values["variance"], x.dtype), bshape)
        denom = ctx.binary("Maximum", ctx.unary("Sqrt", var), ctx.const(eps, x.dtype))
    if layer.config["invert"]:
        return ctx.add(mean, ctx.mul(x, denom))
    return ctx.div(ctx.sub(x, mean), denom)


# ================================================================================== image layers


def _as_nhwc(ctx: LowerContext, layer: Any, x: Tensor) -> tuple[Tensor, Any]:
    """``x`` as a batch of channels-last images, and how to undo it."""
    if x.rank not in (3, 4):
        raise NotLowerable(layer, f"expected images of rank 3 or 4, received rank {x.rank}")
    first = layer.config.get("data_format", "channels_last") == "channels_first"
    single = x.rank == 3
    if single:  # one image (H, W, C) / (C, H, W): the NumPy pass's rank-3 convention
        x = cast(Tensor, ctx.op("ExpandDims", x, ctx.const(np.asarray(0, np.int32)),
                                shape=(1, *cast(tuple, x.shape))))
    if first:
        x = ctx.transpose(x, [0, 2, 3, 1])

    def undo(y: Tensor) -> Tensor:
        if first:
            y = ctx.transpose(y, [0, 3, 1, 2])
        if single:
            y = cast(Tensor, ctx.op("Squeeze", y, squeeze_dims=[0],
                                    shape=None if y.shape is None else y.shape[1:]))
        return y

    return x, undo


def _i32(ctx: LowerContext, v: int) -> Tensor:
    return ctx.const(np.asarray(v, np.int32))


def _crop_box(ctx: LowerContext, h: Tensor, w: Tensor, th: int, tw: int
              ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The central box of aspect ``th:tw`` (top, left, height, width), as the NumPy pass:
    float32 quotients truncated to int."""

    def f32(t: Tensor) -> Tensor:
        return ctx.cast(t, "float32")

    def trunc(t: Tensor) -> Tensor:
        return ctx.cast(t, "int32")

    ch = ctx.binary("Minimum", h, trunc(ctx.div(f32(ctx.mul(w, _i32(ctx, th))),
                                                 ctx.const(np.float32(tw)))))
    cw = ctx.binary("Minimum", w, trunc(ctx.div(f32(ctx.mul(h, _i32(ctx, tw))),
                                                 ctx.const(np.float32(th)))))
    ch = ctx.binary("Maximum", ch, _i32(ctx, 1))
    cw = ctx.binary("Maximum", cw, _i32(ctx, 1))
    top = trunc(ctx.div(f32(ctx.sub(h, ch)), ctx.const(np.float32(2))))
    left = trunc(ctx.div(f32(ctx.sub(w, cw)), ctx.const(np.float32(2))))
    return top, left, ch, cw


def _window(ctx: LowerContext, x: Tensor, top: Tensor, left: Tensor, height: Tensor,
            width: Tensor, static: Any) -> Tensor:
    """``x[:, top:top+height, left:left+width, :]`` of an NHWC batch."""

    def vec(*parts: Tensor) -> Tensor:
        return ctx.concat([ctx.reshape(p, [1]) for p in parts], 0, shape=(4,))

    begin = vec(_i32(ctx, 0), top, left, _i32(ctx, 0))
    size = vec(_i32(ctx, -1), height, width, _i32(ctx, -1))
    return cast(Tensor, ctx.op("Slice", x, begin, size, shape=static))


@lowers(P.Resizing)
def _resizing(ctx: LowerContext, layer: P.Resizing, x: Tensor, **_: Any) -> Tensor:
    c = layer.config
    if c["pad_to_aspect_ratio"] or c["antialias"]:
        raise NotLowerable(layer, "pad_to_aspect_ratio and antialias are not supported")
    interpolation = str(c["interpolation"])
    if interpolation not in ("bilinear", "nearest"):
        raise NotLowerable(layer, f"interpolation {interpolation!r} is not supported")
    th, tw = int(c["height"]), int(c["width"])
    images, undo = _as_nhwc(ctx, layer, x)
    shape = cast(tuple, images.shape)
    if c["crop_to_aspect_ratio"]:
        top, left, ch, cw = _crop_box(ctx, ctx.dim(images, 1), ctx.dim(images, 2), th, tw)
        images = _window(ctx, images, top, left, ch, cw, (shape[0], None, None, shape[3]))
    size = ctx.const(np.asarray([th, tw], np.int32))
    out_shape = (shape[0], th, tw, shape[3])
    if interpolation == "nearest":
        y = ctx.op("ResizeNearestNeighbor", images, size, half_pixel_centers=True,
                   shape=out_shape)
    else:
        y = ctx.op("ResizeBilinear", images, size, half_pixel_centers=True, shape=out_shape)
    return ctx.cast(undo(cast(Tensor, y)), str(layer.compute_dtype))


@lowers(P.CenterCrop)
def _center_crop(ctx: LowerContext, layer: P.CenterCrop, x: Tensor, **_: Any) -> Tensor:
    x = _compute(ctx, layer, x)
    th, tw = int(layer.config["height"]), int(layer.config["width"])
    images, undo = _as_nhwc(ctx, layer, x)
    shape = cast(tuple, images.shape)
    h, w = shape[1], shape[2]
    if h is not None and w is not None and (h < th or w < tw):
        raise NotLowerable(layer, f"input {h}x{w} is smaller than the crop {th}x{tw}")

    def offset(size: Tensor, target: int) -> Tensor:
        return ctx.binary("FloorDiv", ctx.sub(size, _i32(ctx, target)), _i32(ctx, 2))

    top, left = offset(ctx.dim(images, 1), th), offset(ctx.dim(images, 2), tw)
    y = _window(ctx, images, top, left, _i32(ctx, th), _i32(ctx, tw),
                (shape[0], th, tw, shape[3]))
    return undo(y)
