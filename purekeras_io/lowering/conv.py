"""Convolution layers as TensorFlow ops: ConvND, ConvNDTranspose, DepthwiseConvND, SeparableConvND.

Everything computes channels-last (TensorFlow's CPU kernels have no ``NCHW``): a
``channels_first`` layer transposes its input to channels-last, convolves, and transposes back.
1-D layers convolve as 2-D ones on an expanded axis, as Keras does (``ExpandDims`` at axis 1, a
``(1, k, …)`` kernel, ``Squeeze``); ``causal`` padding is a ``Pad`` of ``k' - 1`` steps on the
left (``k' = (k - 1) * dilation + 1``) followed by a ``VALID`` convolution.

Where a TensorFlow CPU kernel lacks an option, the lowering computes the same numbers another way:

* dilation in ``Conv3D`` and in the transposed convolutions: the kernel is *dilated* (zeros
  inserted between its taps, a ``(k' , …)`` kernel) and convolved undilated;
* dilation in ``DepthwiseConv2dNative``: the dilated kernel as well; unequal strides: the
  strides' greatest common divisor on the explicitly ``SAME``-padded input, then a
  ``StridedSlice`` keeping every ``s / g``-th output;
* ``groups``: one convolution per group (``Split`` / ``ConcatV2``). ``Conv3D`` has no grouped
  CPU kernel, and Grappler fuses a grouped ``Conv2D`` + ``BiasAdd`` into ``_FusedConv2D``, which
  refuses groups at run time ("Fused conv implementation does not support grouped
  convolutions"); Keras itself compiles grouped convolutions with XLA on CPU.

Transposed convolutions are ``Conv2DBackpropInput`` / ``Conv3DBackpropInputV2`` whose
``input_sizes`` is Keras' ``deconv_output_length`` per spatial axis (linear in the input length,
so a dynamic axis is ``n * s + c`` computed from ``Shape``) and the dynamic batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from ..errors import ConfigError
from ..graph.builder import Tensor
from ..layers import conv as C
from . import activations
from .context import LowerContext
from .registry import lowers

__all__ = [
    "dilate_kernel",
    "expand_1d",
    "from_channels_last",
    "squeeze_1d",
    "to_channels_last",
]

Dim = int | Tensor


# ============================================================================ layout helpers


def to_channels_last(ctx: LowerContext, x: Tensor, data_format: Any) -> Tensor:
    """``(B, C, *spatial)`` → ``(B, *spatial, C)`` for ``channels_first`` (rank > 2)."""
    rank = cast(int, x.rank)
    if data_format != "channels_first" or rank <= 2:
        return x
    return ctx.transpose(x, [0, *range(2, rank), 1])


def from_channels_last(ctx: LowerContext, y: Tensor, data_format: Any) -> Tensor:
    """``(B, *spatial, C)`` → ``(B, C, *spatial)`` for ``channels_first`` (rank > 2)."""
    rank = cast(int, y.rank)
    if data_format != "channels_first" or rank <= 2:
        return y
    return ctx.transpose(y, [0, rank - 1, *range(1, rank - 1)])


def expand_1d(ctx: LowerContext, x: Tensor, axis: int = 1) -> Tensor:
    """``ExpandDims`` at ``axis`` (a 1-D batch ``(B, W, C)`` → ``(B, 1, W, C)``; a kernel
    ``(k, a, b)`` → ``(1, k, a, b)`` with ``axis=0``)."""
    shape = None if x.shape is None else (*x.shape[:axis], 1, *x.shape[axis:])
    return cast(Tensor, ctx.op("ExpandDims", x, ctx.const(np.asarray(axis, np.int32)),
                               shape=shape))


def squeeze_1d(ctx: LowerContext, y: Tensor) -> Tensor:
    """``(B, 1, W, C)`` → ``(B, W, C)``."""
    shape = None if y.shape is None else (y.shape[0], *y.shape[2:])
    return cast(Tensor, ctx.op("Squeeze", y, squeeze_dims=[1], shape=shape))


def dilate_kernel(ctx: LowerContext, kernel: Tensor, dilation: Sequence[int]) -> Tensor:
    """The kernel ``(*k, a, b)`` with ``d - 1`` zeros between the taps of each spatial axis
    (``(*k', a, b)``): convolving with it undilated is the dilated convolution."""
    shape = list(cast(tuple, kernel.shape))
    for axis, d in enumerate(dilation):
        if d == 1:
            continue
        k = shape[axis]
        expanded = expand_1d(ctx, kernel, axis + 1)  # (..., k, 1, ...)
        pads = np.zeros((len(shape) + 1, 2), np.int32)
        pads[axis + 1, 1] = d - 1
        padded = cast(Tensor, ctx.op("Pad", expanded, ctx.const(pads)))  # (..., k, d, ...)
        flat = [*shape[:axis], k * d, *shape[axis + 1:]]
        kernel = ctx.reshape(padded, flat)
        keep = C.effective_size(k, d)
        end = [*shape[:axis], keep, *shape[axis + 1:]]
        shape[axis] = keep
        kernel = ctx.strided_slice(kernel, [0] * len(shape), end, [1] * len(shape),
                                   shape=tuple(shape))
    return kernel


def _left_pad(ctx: LowerContext, x: Tensor, amount: int) -> Tensor:
    """Zeros before axis 1 of a ``(B, W, C)`` batch (``causal`` padding)."""
    if amount == 0:
        return x
    pads = np.zeros((cast(int, x.rank), 2), np.int32)
    pads[1, 0] = amount
    shape = None
    if x.shape is not None:
        shape = (x.shape[0], None if x.shape[1] is None else x.shape[1] + amount, *x.shape[2:])
    return cast(Tensor, ctx.op("Pad", x, ctx.const(pads), shape=shape))


def _static_out(layer: Any, x_last: Tensor, channels: int | None) -> tuple[Any, ...] | None:
    """The channels-last output shape (spatial lengths from the layer's own rule)."""
    if x_last.shape is None:
        return None
    spatial = list(x_last.shape[1:-1])
    if isinstance(layer, C._ConvTranspose):
        out = layer._lengths(spatial)
    else:
        out = layer._spatial_out(spatial)
    return (x_last.shape[0], *out, channels)


def _expand_static(shape: tuple[Any, ...] | None) -> tuple[Any, ...] | None:
    return None if shape is None else (shape[0], 1, *shape[1:])


def _finish(ctx: LowerContext, layer: Any, y: Tensor, bias_var: Any) -> Tensor:
    """Bias, activation, back to the layer's data format."""
    if bias_var is not None:
        y = cast(Tensor, ctx.op("BiasAdd", y, ctx.read(bias_var, layer.compute_dtype),
                                shape=y.shape))
    y = activations.apply(ctx, layer.config["activation"], y)
    return from_channels_last(ctx, y, layer.config["data_format"])


def _weight(layer: Any, name: str) -> Any:
    for var in layer.weights:
        if var.name == name:
            return var
    raise ConfigError(f"{layer.class_name()} {layer.name!r} has no weight {name!r}")


def _bias(layer: Any) -> Any:
    return _weight(layer, "bias") if layer.config["use_bias"] else None


# ============================================================================ ConvND


def _conv_nd(ctx: LowerContext, x: Tensor, kernel: Tensor, strides: Sequence[int],
             dilation: Sequence[int], padding: str, shape: Any) -> Tensor:
    """One ``Conv2D`` / ``Conv3D`` of a channels-last batch (one group)."""
    rank = len(strides)
    op = "Conv2D" if rank == 2 else "Conv3D"
    if rank == 3 and any(d != 1 for d in dilation):
        kernel = dilate_kernel(ctx, kernel, dilation)
        dilation = [1] * rank
    attrs: dict[str, Any] = {"strides": [1, *strides, 1], "padding": padding.upper()}
    if any(d != 1 for d in dilation):
        attrs["dilations"] = [1, *dilation, 1]
    return cast(Tensor, ctx.op(op, x, kernel, shape=shape, **attrs))


def _split(ctx: LowerContext, t: Tensor, parts: int) -> list[Tensor]:
    """``t`` in ``parts`` equal pieces along its last axis."""
    axis = ctx.const(np.asarray(cast(int, t.rank) - 1, np.int32))
    shape = None
    if t.shape is not None:
        last = t.shape[-1]
        shape = (*t.shape[:-1], None if last is None else last // parts)
    out = ctx.op("Split", axis, t, num_split=parts, shape=[shape] * parts)
    return [out] if isinstance(out, Tensor) else list(out)


@lowers(C.Conv1D, C.Conv2D, C.Conv3D)
def _conv(ctx: LowerContext, layer: C._Conv, x: Tensor, **_: Any) -> Tensor:
    c = layer.config
    rank = layer.rank
    x = to_channels_last(ctx, x, c["data_format"])
    kernel = ctx.read(_weight(layer, "kernel"), layer.compute_dtype)
    strides, dilation, padding = list(c["strides"]), list(c["dilation_rate"]), c["padding"]
    static = _static_out(layer, x, c["filters"])
    if padding == "causal":
        x = _left_pad(ctx, x, C.effective_size(c["kernel_size"][0], dilation[0]) - 1)
        padding = "valid"
    if rank == 1:
        x, kernel = expand_1d(ctx, x), expand_1d(ctx, kernel, 0)
        strides, dilation = [1, *strides], [1, *dilation]
        static = _expand_static(static)
    if c["groups"] > 1:
        pieces = [
            _conv_nd(ctx, xg, kg, strides, dilation, padding, None)
            for xg, kg in zip(_split(ctx, x, c["groups"]), _split(ctx, kernel, c["groups"]))
        ]
        y = ctx.concat(pieces, -1, shape=static)
    else:
        y = _conv_nd(ctx, x, kernel, strides, dilation, padding, static)
    if rank == 1:
        y = squeeze_1d(ctx, y)
    return _finish(ctx, layer, y, _bias(layer))


# ============================================================================ transposed


def _deconv_dims(ctx: LowerContext, layer: C._ConvTranspose, x: Tensor) -> list[Dim]:
    """Keras' ``deconv_output_length`` of each spatial axis of a channels-last batch: an int
    when the input length is static, else ``n * s + c`` from the run-time shape."""
    c = layer.config
    rank = layer.rank
    op = c.get("output_padding") or [None] * rank
    dims: list[Dim] = []
    for i in range(rank):
        k, s, d = c["kernel_size"][i], c["strides"][i], c["dilation_rate"][i]
        n = None if x.shape is None else x.shape[1 + i]
        if n is not None:
            dims.append(cast(int, C.deconv_output_length(n, k, s, c["padding"], op[i], d)))
            continue
        offset = cast(int, C.deconv_output_length(1, k, s, c["padding"], op[i], d)) - s
        dims.append(ctx.add(ctx.mul(ctx.dim(x, 1 + i), s), offset))
    return dims


@lowers(C.Conv1DTranspose, C.Conv2DTranspose, C.Conv3DTranspose)
def _conv_transpose(ctx: LowerContext, layer: C._ConvTranspose, x: Tensor, **_: Any) -> Tensor:
    c = layer.config
    rank = layer.rank
    x = to_channels_last(ctx, x, c["data_format"])
    kernel = ctx.read(_weight(layer, "kernel"), layer.compute_dtype)
    kernel = dilate_kernel(ctx, kernel, c["dilation_rate"])
    strides = list(c["strides"])
    dims = _deconv_dims(ctx, layer, x)
    static = _static_out(layer, x, c["filters"])
    if rank == 1:
        x, kernel = expand_1d(ctx, x), expand_1d(ctx, kernel, 0)
        strides, dims = [1, *strides], [1, *dims]
        static = _expand_static(static)
    sizes = ctx.shape_vector(x, [None, *dims, int(c["filters"])])
    op = "Conv3DBackpropInputV2" if rank == 3 else "Conv2DBackpropInput"
    y = cast(Tensor, ctx.op(op, sizes, kernel, x, strides=[1, *strides, 1],
                            padding=c["padding"].upper(), shape=static))
    if rank == 1:
        y = squeeze_1d(ctx, y)
    return _finish(ctx, layer, y, _bias(layer))


# ============================================================================ depthwise / separable


def _same_pads(ctx: LowerContext, x: Tensor, kernel: Sequence[int], strides: Sequence[int]
               ) -> Tensor:
    """``Pad`` a channels-last batch as ``SAME`` pads for these (undilated) kernel sizes and
    strides (amounts from the run-time length where it is dynamic)."""
    rank = cast(int, x.rank)
    rows: list[Tensor] = []
    static: list[tuple[int, int] | None] = [(0, 0)]
    for i, (k, s) in enumerate(zip(kernel, strides)):
        n = None if x.shape is None else x.shape[1 + i]
        if n is not None:
            static.append(C.padding_amounts(n, k, s, "same"))
            rows.append(ctx.const(np.asarray(static[-1], np.int32)))
            continue
        static.append(None)
        size = ctx.dim(x, 1 + i)
        out = ctx.binary("FloorDiv", ctx.add(size, s - 1), s)
        total = ctx.binary("Maximum", ctx.sub(ctx.add(ctx.mul(out, s), k - s), size), 0)
        before = ctx.binary("FloorDiv", total, 2)
        rows.append(cast(Tensor, ctx.op("Pack", [before, ctx.sub(total, before)], shape=(2,))))
    static.append((0, 0))
    zero = ctx.const(np.zeros(2, np.int32))
    if all(p is not None for p in static):
        pads = ctx.const(np.asarray(static, np.int32))
    else:
        pads = cast(Tensor, ctx.op("Pack", [zero, *rows, zero], shape=(rank, 2)))
    shape = None
    if x.shape is not None:
        shape = tuple(None if d is None or p is None else d + sum(p)
                      for d, p in zip(x.shape, static))
    return cast(Tensor, ctx.op("Pad", x, pads, shape=shape))


def _depthwise(ctx: LowerContext, layer: Any, x: Tensor) -> Tensor:
    """The depthwise part of a depthwise or separable layer on a channels-last batch; 1-D
    layers return the expanded ``(B, 1, W, C * m)`` result.

    ``DepthwiseConv2dNative``'s CPU kernel has neither dilation (the kernel is dilated instead)
    nor unequal strides: then it convolves with the strides' greatest common divisor on the
    explicitly padded input and a ``StridedSlice`` keeps every ``s / g``-th output."""
    c = layer.config
    kernel = ctx.read(_weight(layer, "depthwise_kernel"), layer.compute_dtype)
    strides, dilation, padding = list(c["strides"]), list(c["dilation_rate"]), c["padding"]
    mult = int(c["depth_multiplier"])
    channels = None if x.shape is None else x.shape[-1]
    static = _static_out(layer, x, None if channels is None else channels * mult)
    if padding == "causal":
        x = _left_pad(ctx, x, C.effective_size(c["kernel_size"][0], dilation[0]) - 1)
        padding = "valid"
    if layer.rank == 1:
        x, kernel = expand_1d(ctx, x), expand_1d(ctx, kernel, 0)
        # The expanded axis has length 1 and a 1-tap kernel: any stride there gives one row.
        strides, dilation = [strides[0], *strides], [1, *dilation]
        static = _expand_static(static)
    kernel = dilate_kernel(ctx, kernel, dilation)
    if strides[0] == strides[1]:
        return cast(Tensor, ctx.op("DepthwiseConv2dNative", x, kernel,
                                   strides=[1, *strides, 1], padding=padding.upper(),
                                   shape=static))
    if padding == "same":
        x = _same_pads(ctx, x, cast(tuple, kernel.shape)[:2], strides)
    g = math.gcd(*strides)
    y = cast(Tensor, ctx.op("DepthwiseConv2dNative", x, kernel, strides=[1, g, g, 1],
                            padding="VALID"))
    return ctx.strided_slice(y, [0] * 4, [0] * 4, [1, strides[0] // g, strides[1] // g, 1],
                             shape=static, begin_mask=15, end_mask=15)


@lowers(C.DepthwiseConv1D, C.DepthwiseConv2D)
def _depthwise_conv(ctx: LowerContext, layer: C._DepthwiseConv, x: Tensor, **_: Any) -> Tensor:
    x = to_channels_last(ctx, x, layer.config["data_format"])
    y = _depthwise(ctx, layer, x)
    if layer.rank == 1:
        y = squeeze_1d(ctx, y)
    return _finish(ctx, layer, y, _bias(layer))


@lowers(C.SeparableConv1D, C.SeparableConv2D)
def _separable_conv(ctx: LowerContext, layer: C._SeparableConv, x: Tensor, **_: Any) -> Tensor:
    x = to_channels_last(ctx, x, layer.config["data_format"])
    y = _depthwise(ctx, layer, x)
    pointwise = ctx.read(_weight(layer, "pointwise_kernel"), layer.compute_dtype)
    if layer.rank == 1:
        pointwise = expand_1d(ctx, pointwise, 0)
    shape = None if y.shape is None else (*y.shape[:-1], int(layer.config["filters"]))
    y = cast(Tensor, ctx.op("Conv2D", y, pointwise, strides=[1, 1, 1, 1], padding="VALID",
                            shape=shape))
    if layer.rank == 1:
        y = squeeze_1d(ctx, y)
    return _finish(ctx, layer, y, _bias(layer))
