"""Reshaping layers as TensorFlow ops: Flatten, Reshape, Permute, RepeatVector, ZeroPadding,
Cropping and UpSampling.

* ``Flatten`` / ``Reshape``: ``Reshape`` to ``[batch, …]`` with the batch (and, through ``-1``,
  any dynamic dimension) taken at run time; ``Flatten`` of a ``channels_first`` input moves the
  channels last first, as Keras;
* ``Permute``: ``Transpose``; ``RepeatVector``: ``ExpandDims`` + ``Tile``;
* ``ZeroPadding``: ``Pad``; ``Cropping``: ``StridedSlice`` (works for dynamic lengths);
* ``UpSampling`` ``nearest`` (and ``area``, which at integer factors is nearest): each spatial
  axis repeated (``ExpandDims`` + ``Tile`` + ``Reshape``); ``UpSampling2D`` ``bilinear`` /
  ``bicubic``: ``ResizeBilinear`` / ``ResizeBicubic`` with half-pixel centres on a channels-last
  batch, as ``tf.image.resize`` (the other interpolations have no NumPy pass either).
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from ..graph.builder import Tensor
from ..layers import reshaping as R
from .context import LowerContext
from .conv import expand_1d, from_channels_last, to_channels_last
from .registry import lowers
from .walk import NotLowerable

__all__ = ["repeat"]

_RESIZE_OPS = {"bilinear": "ResizeBilinear", "bicubic": "ResizeBicubic"}


@lowers(R.Flatten)
def _flatten(ctx: LowerContext, layer: R.Flatten, x: Tensor, **_: Any) -> Tensor:
    x = to_channels_last(ctx, x, layer.config["data_format"])
    return ctx.reshape(x, [None, -1])


@lowers(R.Reshape)
def _reshape(ctx: LowerContext, layer: R.Reshape, x: Tensor, **_: Any) -> Tensor:
    return ctx.reshape(x, [None, *layer.config["target_shape"]])


@lowers(R.Permute)
def _permute(ctx: LowerContext, layer: R.Permute, x: Tensor, **_: Any) -> Tensor:
    return ctx.transpose(x, [0, *layer.config["dims"]])


@lowers(R.RepeatVector)
def _repeat_vector(ctx: LowerContext, layer: R.RepeatVector, x: Tensor, **_: Any) -> Tensor:
    n = int(layer.config["n"])
    shape = None if x.shape is None else (x.shape[0], n, x.shape[1])
    return cast(Tensor, ctx.op("Tile", expand_1d(ctx, x),
                               ctx.const(np.asarray([1, n, 1], np.int32)), shape=shape))


@lowers(R.ZeroPadding1D, R.ZeroPadding2D, R.ZeroPadding3D)
def _zero_padding(ctx: LowerContext, layer: R._ZeroPadding, x: Tensor, **_: Any) -> Tensor:
    rank = cast(int, x.rank)
    pads = np.zeros((rank, 2), np.int32)
    for axis, (a, b) in zip(layer._spatial_axes(), layer._pad_list()):
        pads[axis] = (a, b)
    shape = None
    if x.shape is not None:
        shape = tuple(None if d is None else d + int(pads[i].sum())
                      for i, d in enumerate(x.shape))
    return cast(Tensor, ctx.op("Pad", x, ctx.const(pads), shape=shape))


@lowers(R.Cropping1D, R.Cropping2D, R.Cropping3D)
def _cropping(ctx: LowerContext, layer: R._Cropping, x: Tensor, **_: Any) -> Tensor:
    rank = cast(int, x.rank)
    begin, end = [0] * rank, [0] * rank
    end_mask = 0
    crops = dict(zip(layer._spatial_axes(), layer._crop_list()))
    for axis in range(rank):
        a, b = crops.get(axis, (0, 0))
        begin[axis] = a
        if b:
            end[axis] = -b
        else:
            end_mask |= 1 << axis
    shape = None
    if x.shape is not None:
        shape = tuple(
            None if d is None else d - sum(crops.get(i, (0, 0))) for i, d in enumerate(x.shape)
        )
    return ctx.strided_slice(x, begin, end, [1] * rank, shape=shape, end_mask=end_mask)


def repeat(ctx: LowerContext, x: Tensor, axis: int, times: int) -> Tensor:
    """Each element of ``x`` repeated ``times`` along ``axis`` (``np.repeat``)."""
    if times == 1:
        return x
    rank = cast(int, x.rank)
    tiled = cast(Tensor, ctx.op(
        "Tile", expand_1d(ctx, x, axis + 1),
        ctx.const(np.asarray([times if i == axis + 1 else 1 for i in range(rank + 1)], np.int32)),
    ))
    n = None if x.shape is None else x.shape[axis]
    dims: list[int | Tensor | None] = [None] * rank
    dims[axis] = n * times if n is not None else ctx.mul(ctx.dim(x, axis), times)
    if x.shape is not None and all(d is not None for d in x.shape):
        dims = [*x.shape[:axis], cast(int, n) * times, *x.shape[axis + 1:]]
    static = None if x.shape is None else tuple(
        (None if n is None else n * times) if i == axis else d for i, d in enumerate(x.shape)
    )
    return ctx.reshape(tiled, ctx.shape_vector(x, dims), static=static)


def _resize(ctx: LowerContext, layer: R.UpSampling2D, x: Tensor, method: str) -> Tensor:
    c = layer.config
    x = to_channels_last(ctx, x, c["data_format"])
    sizes: list[int | Tensor] = []
    for axis, s in zip((1, 2), layer._sizes()):
        n = None if x.shape is None else x.shape[axis]
        sizes.append(n * s if n is not None else ctx.mul(ctx.dim(x, axis), s))
    if all(isinstance(s, int) for s in sizes):
        size = ctx.const(np.asarray(sizes, np.int32))
    else:
        parts = [s if isinstance(s, Tensor) else ctx.const(np.asarray(s, np.int32))
                 for s in sizes]
        size = cast(Tensor, ctx.op("Pack", parts, shape=(2,)))
    static = None
    if x.shape is not None:
        static = (x.shape[0], *(s if isinstance(s, int) else None for s in sizes), x.shape[-1])
    y = cast(Tensor, ctx.op(_RESIZE_OPS[method], x, size, half_pixel_centers=True,
                            shape=static))
    if x.dtype != y.dtype:
        y = ctx.cast(y, x.dtype)
    return from_channels_last(ctx, y, c["data_format"])


@lowers(R.UpSampling1D, R.UpSampling2D, R.UpSampling3D)
def _upsampling(ctx: LowerContext, layer: R._UpSampling, x: Tensor, **_: Any) -> Tensor:
    method = layer.config.get("interpolation", "nearest")
    if method in _RESIZE_OPS:
        return _resize(ctx, cast(R.UpSampling2D, layer), x, method)
    if method not in ("nearest", "area"):
        raise NotLowerable(layer, f"interpolation {method!r} has no NumPy forward pass")
    for axis, s in zip(layer._spatial_axes(), layer._sizes()):
        x = repeat(ctx, x, axis, int(s))
    return x
