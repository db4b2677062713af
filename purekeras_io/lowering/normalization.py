"""Normalization layers in inference mode: BatchNormalization (moving statistics),
LayerNormalization, GroupNormalization, UnitNormalization.

As in the NumPy forward pass (:mod:`purekeras_io.layers.normalization`), inputs narrower than
float32 (``float16`` / ``bfloat16``, mixed precision) are normalized in float32 with the
layer's float32 statistics and scales, and the result is cast to the compute dtype; wider floats
stay in their own dtype. A 4-D channels-last BatchNormalization of float32 / float16 inputs is one
``FusedBatchNormV3`` (``is_training=False``, as Keras' fused path); every other case is the
arithmetic ``x * inv + (beta - mean * inv)`` with ``inv = gamma * rsqrt(variance + epsilon)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from ..dtypes import to_numpy
from ..graph.builder import Tensor
from ..layers import normalization as N
from .context import LowerContext
from .registry import lowers
from .walk import NotLowerable

__all__: list[str] = []

_FLOATS = ("float16", "bfloat16", "float32", "float64")


def _work_dtype(x: Tensor) -> str:
    """The dtype the statistics are computed in (NumPy pass: float32 below 4 bytes)."""
    if x.dtype in ("float32", "float64"):
        return x.dtype
    return "float32"


def _out_dtype(layer: Any, x: Tensor) -> str:
    name = str(layer.compute_dtype)
    if name in _FLOATS:
        return name
    return x.dtype if x.dtype in _FLOATS else "float32"


def _static(x: Tensor, layer: Any) -> tuple[int | None, ...]:
    if x.shape is None:
        raise NotLowerable(layer, "the input rank is unknown")
    return tuple(x.shape)


def _param(ctx: LowerContext, layer: Any, name: str, work: str, bshape: Sequence[int]
           ) -> Tensor | None:
    """Weight ``name`` of ``layer`` cast to ``work`` and reshaped to broadcast over the input."""
    var = next((v for v in layer.own_variables if v.name == name), None)
    if var is None:
        return None
    value = ctx.read(var, work)
    if tuple(value.shape or ()) == tuple(bshape):
        return value
    return ctx.reshape(value, list(bshape))


def _affine(ctx: LowerContext, x: Tensor, inv: Tensor, mean: Tensor,
            gamma: Tensor | None, beta: Tensor | None) -> Tensor:
    """``x * inv' + (beta - mean * inv')`` with ``inv' = inv * gamma``."""
    if gamma is not None:
        inv = ctx.mul(inv, gamma)
    shift = ctx.mul(ctx.unary("Neg", mean), inv)
    if beta is not None:
        shift = ctx.add(shift, beta)
    return ctx.add(ctx.mul(x, inv), shift)


def _inv_std(ctx: LowerContext, var: Tensor, epsilon: float) -> Tensor:
    # NumPy pass: 1 / sqrt(var + eps) (Rsqrt differs from it by at most an ulp)
    return ctx.unary("Rsqrt", ctx.add(var, float(epsilon)))


# ================================================================================== BatchNorm


def _bn_fused(ctx: LowerContext, layer: N.BatchNormalization, x: Tensor, channels: int
              ) -> Tensor:
    c = layer.config
    mean = _param(ctx, layer, "moving_mean", "float32", (channels,))
    var = _param(ctx, layer, "moving_variance", "float32", (channels,))
    gamma = _param(ctx, layer, "gamma", "float32", (channels,))
    beta = _param(ctx, layer, "beta", "float32", (channels,))
    assert mean is not None and var is not None
    if gamma is None:
        gamma = ctx.const(np.ones((channels,), np.float32))
    if beta is None:
        beta = ctx.const(np.zeros((channels,), np.float32))
    outs = ctx.op("FusedBatchNormV3", x, gamma, beta, mean, var,
                  epsilon=float(c["epsilon"]), is_training=False, data_format="NHWC",
                  shape=[x.shape])
    return cast(Tensor, outs[0])


@lowers(N.BatchNormalization)
def _batch_norm(ctx: LowerContext, layer: N.BatchNormalization, x: Tensor, **_: Any
                ) -> Tensor:
    shape = _static(x, layer)
    out_dtype = _out_dtype(layer, x)
    if x.dtype not in _FLOATS:
        x = ctx.cast(x, "float32")
    axes, pshape = layer._param_shape(shape)
    if (len(shape) == 4 and len(pshape) == 1 and axes == [3]
            and x.dtype in ("float32", "float16")):
        return ctx.cast(_bn_fused(ctx, layer, x, pshape[0]), out_dtype)
    work = _work_dtype(x)
    x = ctx.cast(x, work)
    if len(pshape) == 1:
        bshape = [1] * len(shape)
        bshape[axes[0]] = pshape[0]
    else:
        bshape = [d for i, d in enumerate(pshape) if not (layer.virtual_batch_size and i == 1)]
    mean = _param(ctx, layer, "moving_mean", work, bshape)
    var = _param(ctx, layer, "moving_variance", work, bshape)
    assert mean is not None and var is not None
    inv = _inv_std(ctx, var, layer.config["epsilon"])
    y = _affine(ctx, x, inv, mean, _param(ctx, layer, "gamma", work, bshape),
                _param(ctx, layer, "beta", work, bshape))
    return ctx.cast(y, out_dtype)


# ================================================================================== LayerNorm


def _moments(ctx: LowerContext, x: Tensor, axes: Sequence[int]) -> tuple[Tensor, Tensor]:
    mean = ctx.reduce("Mean", x, axes, keepdims=True)
    var = ctx.reduce("Mean", ctx.binary("SquaredDifference", x, mean), axes, keepdims=True)
    return mean, var


@lowers(N.LayerNormalization)
def _layer_norm(ctx: LowerContext, layer: N.LayerNormalization, x: Tensor, **_: Any
                ) -> Tensor:
    shape = _static(x, layer)
    out_dtype = _out_dtype(layer, x)
    work = _work_dtype(x)
    x = ctx.cast(x, work)
    axes = sorted(layer._norm_axes(len(shape)))
    bshape = [1] * len(shape)
    for a in axes:
        if shape[a] is None:
            raise NotLowerable(layer, f"normalized axis {a} has no static size")
        bshape[a] = cast(int, shape[a])
    gamma = _param(ctx, layer, "gamma", work, bshape)
    beta = _param(ctx, layer, "beta", work, bshape)
    mean, var = _moments(ctx, x, axes)
    inv = _inv_std(ctx, var, layer.config["epsilon"])
    if layer.config.get("rms_scaling"):
        y = ctx.mul(x, inv)
        if gamma is not None:
            y = ctx.mul(y, gamma)
        return ctx.cast(y, out_dtype)
    return ctx.cast(_affine(ctx, x, inv, mean, gamma, beta), out_dtype)


# ================================================================================== GroupNorm


def _grouped_shape(ctx: LowerContext, x: Tensor, axis: int, groups: int, per: int) -> Tensor:
    """The shape of ``x`` with dimension ``axis`` split into ``(groups, per)``."""
    shape = cast(tuple, x.shape)
    dims: list[int | None] = list(shape)
    if all(d is not None for i, d in enumerate(dims) if i != axis):
        out = [cast(int, d) for d in dims]
        out[axis: axis + 1] = [groups, per]
        return ctx.const(np.asarray(out, np.int32))
    full = ctx.shape_vector(x)
    parts: list[Tensor] = []
    if axis > 0:
        parts.append(ctx.strided_slice(full, [0], [axis], [1], shape=(axis,)))
    parts.append(ctx.const(np.asarray([groups, per], np.int32)))
    if axis + 1 < len(dims):
        parts.append(ctx.strided_slice(full, [axis + 1], [len(dims)], [1],
                                       shape=(len(dims) - axis - 1,)))
    return ctx.concat(parts, 0, shape=(len(dims) + 1,))


@lowers(N.GroupNormalization)
def _group_norm(ctx: LowerContext, layer: N.GroupNormalization, x: Tensor, mask: Any = None,
                **_: Any) -> Tensor:
    shape = _static(x, layer)
    out_dtype = _out_dtype(layer, x)
    work = _work_dtype(x)
    x = ctx.cast(x, work)
    rank = len(shape)
    axis = int(layer.config["axis"]) % rank
    dim = shape[axis]
    if dim is None:
        raise NotLowerable(layer, "the channel axis has no static size")
    groups = layer._groups(dim)
    per = dim // groups
    gshape = [*shape[:axis], groups, per, *shape[axis + 1:]]
    xg = ctx.reshape(x, _grouped_shape(ctx, x, axis, groups, per), static=tuple(gshape))
    reduce = [i for i in range(1, rank + 1) if i != axis]
    if mask is not None and ctx.dialect == "keras2":
        # tf_keras: moments weighted by the mask broadcast (right-aligned) to the input
        m = cast(Tensor, mask)
        weights = ctx.mul(ctx.cast(m, work), ctx.unary("OnesLike", x))
        wg = ctx.reshape(weights, _grouped_shape(ctx, x, axis, groups, per),
                         static=tuple(gshape))
        total = ctx.binary("Maximum", ctx.reduce("Sum", wg, reduce, keepdims=True), 1e-30)
        mean = ctx.div(ctx.reduce("Sum", ctx.mul(xg, wg), reduce, keepdims=True), total)
        sq = ctx.mul(ctx.binary("SquaredDifference", xg, mean), wg)
        var = ctx.div(ctx.reduce("Sum", sq, reduce, keepdims=True), total)
    else:
        mean, var = _moments(ctx, xg, reduce)
    bshape = [1] * rank
    bshape[axis] = per
    bshape.insert(axis, groups)
    inv = _inv_std(ctx, var, layer.config["epsilon"])
    y = _affine(ctx, xg, inv, mean, _param(ctx, layer, "gamma", work, bshape),
                _param(ctx, layer, "beta", work, bshape))
    y = ctx.reshape(y, ctx.shape_vector(x), static=shape)
    return ctx.cast(y, out_dtype)


# ================================================================================== UnitNorm


@lowers(N.UnitNormalization)
def _unit_norm(ctx: LowerContext, layer: N.UnitNormalization, x: Tensor, **_: Any) -> Tensor:
    shape = _static(x, layer)
    out_dtype = _out_dtype(layer, x)
    if x.dtype not in _FLOATS:
        x = ctx.cast(x, "float32")
    axes = N._positive(N._axes(layer.config["axis"]), len(shape), layer)
    square_sum = ctx.reduce("Sum", ctx.unary("Square", x), axes, keepdims=True)
    with np.errstate(over="ignore"):  # float16: the cap is inf, as in the NumPy pass
        cap = np.asarray(1e12).astype(to_numpy(x.dtype))
    inv = ctx.binary("Minimum", ctx.unary("Rsqrt", square_sum), ctx.const(cap, x.dtype))
    return ctx.cast(ctx.mul(x, inv), out_dtype)
