"""Merge layers: the elementwise merges (Add, Subtract, Multiply, Average, Maximum, Minimum),
Concatenate and Dot, with their output masks.

As in the NumPy forward pass (:mod:`purekeras_io.layers.merge`): inputs of lower rank get size-1
axes at axis 1 (``ExpandDims``) until the ranks match, then the ops broadcast. Keras 3's
``Multiply`` / ``Maximum`` / ``Minimum`` skip masked positions (``SelectV2`` on the expanded
masks); tf_keras ignores masks in the values. Output masks: tf_keras ANDs the masks present,
Keras 3 ORs them when every input has one; Concatenate concatenates the (expanded, all-True
for unmasked inputs) masks and reduces the last axis with ``All`` (tf_keras) / ``Any``
(Keras 3); Dot has none. Dot is Keras' ``batch_dot``: the contracted axes moved last / first,
a ``BatchMatMulV2`` of the flattened operands, reshaped back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from ..dtypes import to_numpy
from ..graph.builder import Tensor
from ..layers import merge as M
from .context import LowerContext
from .registry import lowers, lowers_mask
from .walk import NotLowerable

__all__: list[str] = []


def _rank(x: Tensor, layer: Any) -> int:
    if x.rank is None:
        raise NotLowerable(layer, "an input of unknown rank")
    return x.rank


def _expand(ctx: LowerContext, x: Tensor, axis: int, times: int = 1) -> Tensor:
    for _ in range(times):
        shape = None
        if x.shape is not None:
            pos = axis if axis >= 0 else len(x.shape) + 1 + axis
            shape = (*x.shape[:pos], 1, *x.shape[pos:])
        x = cast(Tensor, ctx.op("ExpandDims", x, ctx.const(np.asarray(axis, np.int32)),
                                shape=shape))
    return x


def _common_dtype(ctx: LowerContext, xs: list[Tensor]) -> list[Tensor]:
    names = {x.dtype for x in xs}
    if len(names) == 1:
        return xs
    want = np.result_type(*(to_numpy(n) for n in names)).name
    return [ctx.cast(x, want) for x in xs]


def _same_rank(ctx: LowerContext, layer: Any, inputs: Any) -> list[Tensor]:
    if not isinstance(inputs, (list, tuple)):
        raise NotLowerable(layer, "a merge layer called on a single tensor")
    xs = [cast(Tensor, x) for x in inputs]
    top = max(_rank(x, layer) for x in xs)
    xs = [_expand(ctx, x, 1, top - _rank(x, layer)) for x in xs]
    return _common_dtype(ctx, xs)


def _masks(mask: Any, n: int) -> list[Tensor | None]:
    if isinstance(mask, (list, tuple)):
        return [cast(Tensor | None, m) for m in mask]
    return [None] * n


def _expand_mask(ctx: LowerContext, m: Tensor, x: Tensor) -> Tensor:
    """``m`` with trailing size-1 axes up to the rank of ``x`` (broadcasts against ``x``)."""
    return _expand(ctx, m, -1, cast(int, x.rank) - cast(int, m.rank))


def _select(ctx: LowerContext, cond: Tensor, t: Tensor, e: Tensor) -> Tensor:
    return cast(Tensor, ctx.op("SelectV2", cond, t, e))


def _fold(ctx: LowerContext, op_type: str, xs: list[Tensor]) -> Tensor:
    out = xs[0]
    for x in xs[1:]:
        out = ctx.binary(op_type, out, x)
    return out


def _masked_fold(ctx: LowerContext, op_type: str, xs: list[Tensor],
                 masks: list[Tensor | None]) -> Tensor:
    """Keras 3 ``_apply_merge_op_and_or_mask`` (Maximum, Minimum): skip masked positions."""
    output: Tensor | None = None
    out_mask: Tensor | None = None
    for x, m in zip(xs, masks):
        mm = None if m is None else _expand_mask(ctx, m, x)
        if output is None:
            output, out_mask = x, mm
            continue
        if mm is not None:
            x = _select(ctx, mm, x, output)
        if out_mask is not None:
            output = _select(ctx, out_mask, output, x)
        out_mask = (ctx.binary("LogicalOr", out_mask, mm)
                    if mm is not None and out_mask is not None else None)
        output = ctx.binary(op_type, output, x)
    assert output is not None
    return output


def _masked_product(ctx: LowerContext, xs: list[Tensor], masks: list[Tensor | None]) -> Tensor:
    """Keras 3 ``Multiply`` with masks: masked factors are 1, positions no input keeps are 0."""
    all_masked = all(m is not None for m in masks)
    out: Tensor | None = None
    out_mask: Tensor | None = None
    for x, m in zip(xs, masks):
        if m is not None:
            mm = _expand_mask(ctx, m, x)
            x = _select(ctx, mm, x, ctx.scalar(1, x))
            if all_masked:
                out_mask = mm if out_mask is None else ctx.binary("LogicalOr", out_mask, mm)
        out = x if out is None else ctx.mul(out, x)
    assert out is not None
    if out_mask is not None:
        out = _select(ctx, out_mask, out, ctx.scalar(0, out))
    return out


def _values_use_masks(ctx: LowerContext, masks: list[Tensor | None]) -> bool:
    return ctx.dialect != "keras2" and any(m is not None for m in masks)


@lowers(M.Add)
def _add(ctx: LowerContext, layer: M.Add, inputs: Any, **_: Any) -> Tensor:
    return _fold(ctx, "AddV2", _same_rank(ctx, layer, inputs))


@lowers(M.Subtract)
def _subtract(ctx: LowerContext, layer: M.Subtract, inputs: Any, **_: Any) -> Tensor:
    xs = _same_rank(ctx, layer, inputs)
    if len(xs) != 2:
        raise NotLowerable(layer, f"Subtract takes 2 inputs, received {len(xs)}")
    return ctx.sub(xs[0], xs[1])


@lowers(M.Multiply)
def _multiply(ctx: LowerContext, layer: M.Multiply, inputs: Any, mask: Any = None, **_: Any
              ) -> Tensor:
    xs = _same_rank(ctx, layer, inputs)
    masks = _masks(mask, len(xs))
    if _values_use_masks(ctx, masks):
        return _masked_product(ctx, xs, masks)
    return _fold(ctx, "Mul", xs)


@lowers(M.Average)
def _average(ctx: LowerContext, layer: M.Average, inputs: Any, **_: Any) -> Tensor:
    xs = _same_rank(ctx, layer, inputs)
    total = _fold(ctx, "AddV2", xs)
    if total.dtype.startswith(("float", "bfloat")):
        return ctx.div(total, float(len(xs)))
    # integers: NumPy's true division gives float64, then the result is cast back to the input
    # dtype (truncation)
    quotient = ctx.div(ctx.cast(total, "float64"), float(len(xs)))
    return ctx.cast(quotient, total.dtype)


def _extremum(op_type: str) -> Any:
    def lower(ctx: LowerContext, layer: Any, inputs: Any, mask: Any = None, **_: Any
              ) -> Tensor:
        xs = _same_rank(ctx, layer, inputs)
        masks = _masks(mask, len(xs))
        if _values_use_masks(ctx, masks):
            return _masked_fold(ctx, op_type, xs, masks)
        return _fold(ctx, op_type, xs)

    return lower


lowers(M.Maximum)(_extremum("Maximum"))
lowers(M.Minimum)(_extremum("Minimum"))


def _combine(ctx: LowerContext, op_type: str, masks: Sequence[Tensor]) -> Tensor:
    out = masks[0]
    for m in masks[1:]:
        out = ctx.binary(op_type, out, m)
    return out


@lowers_mask(M._Merge)
def _merge_mask(ctx: LowerContext, layer: Any, inputs: Any, mask: Any) -> Tensor | None:
    if mask is None:
        return None
    masks = _masks(mask, 0)
    if ctx.dialect == "keras2":
        present = [m for m in masks if m is not None]
        return _combine(ctx, "LogicalAnd", present) if present else None
    if not masks or any(m is None for m in masks):
        return None
    return _combine(ctx, "LogicalOr", cast(list[Tensor], masks))


# ================================================================================== Concatenate


@lowers(M.Concatenate)
def _concatenate(ctx: LowerContext, layer: M.Concatenate, inputs: Any, **_: Any) -> Tensor:
    if not isinstance(inputs, (list, tuple)):
        raise NotLowerable(layer, "Concatenate called on a single tensor")
    xs = _common_dtype(ctx, [cast(Tensor, x) for x in inputs])
    return ctx.concat(xs, int(layer.config["axis"]))


def _full_mask(ctx: LowerContext, x: Tensor, m: Tensor | None) -> Tensor:
    """The mask of ``x`` at the full shape of ``x`` (all True without a mask)."""
    shape = ctx.shape_vector(x)
    if m is None:
        return cast(Tensor, ctx.op("Fill", shape, ctx.const(np.asarray(True)), shape=x.shape))
    return cast(Tensor, ctx.op("BroadcastTo", _expand_mask(ctx, m, x), shape, shape=x.shape))


@lowers_mask(M.Concatenate)
def _concatenate_mask(ctx: LowerContext, layer: M.Concatenate, inputs: Any, mask: Any
                      ) -> Tensor | None:
    if not isinstance(mask, (list, tuple)) or all(m is None for m in mask):
        return None
    xs = [cast(Tensor, x) for x in inputs]
    parts = [_full_mask(ctx, x, cast(Tensor | None, m)) for x, m in zip(xs, mask)]
    joined = ctx.concat(parts, int(layer.config["axis"]))
    reduce = "All" if ctx.dialect == "keras2" else "Any"
    return ctx.reduce(reduce, joined, [-1])


# ================================================================================== Dot


def _l2_normalize(ctx: LowerContext, x: Tensor, axis: int) -> Tensor:
    square_sum = ctx.reduce("Sum", ctx.unary("Square", x), [axis], keepdims=True)
    return ctx.div(x, ctx.unary("Sqrt", ctx.binary("Maximum", square_sum, 1e-12)))


def _move(ctx: LowerContext, x: Tensor, src: int, dst: int) -> Tensor:
    rank = cast(int, x.rank)
    perm = [i for i in range(rank) if i != src]
    perm.insert(dst % rank, src)
    return x if perm == list(range(rank)) else ctx.transpose(x, perm)


def _slice_shape(ctx: LowerContext, x: Tensor, begin: int, end: int) -> Tensor:
    rank = cast(int, x.rank)
    end = end % rank if end < 0 else end
    return ctx.strided_slice(ctx.shape_vector(x), [begin], [end], [1], shape=(end - begin,))


def batch_dot(ctx: LowerContext, x: Tensor, y: Tensor, axes: Sequence[int]) -> Tensor:
    """Keras ``batch_dot`` (see :func:`purekeras_io.layers.merge.batch_dot`)."""
    a0, a1 = axes
    xm = _move(ctx, x, a0, -1)
    ym = _move(ctx, y, a1, 1)
    k = cast(tuple, xm.shape)[-1]
    xr = ctx.reshape(xm, [None, -1, k if k is not None else ctx.dim(xm, -1)])
    yr = ctx.reshape(ym, [None, k if k is not None else ctx.dim(ym, 1), -1])
    out = cast(Tensor, ctx.op("BatchMatMulV2", xr, yr))
    xs, ys = cast(tuple, xm.shape), cast(tuple, ym.shape)
    static = (*xs[:-1], *ys[2:])
    if len(static) == 1:
        return ctx.reshape(out, [-1, 1], static=(static[0], 1))
    pieces = [_slice_shape(ctx, xm, 0, -1)]
    if len(ys) > 2:
        pieces.append(_slice_shape(ctx, ym, 2, len(ys)))
    return ctx.reshape(out, ctx.concat(pieces, 0, shape=(len(static),)), static=static)


@lowers(M.Dot)
def _dot(ctx: LowerContext, layer: M.Dot, inputs: Any, **_: Any) -> Tensor:
    if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
        raise NotLowerable(layer, "Dot takes a list of 2 inputs")
    x, y = _common_dtype(ctx, [cast(Tensor, t) for t in inputs])
    axes = M._dot_axes(layer.config["axes"], (_rank(x, layer), _rank(y, layer)))
    if 0 in axes:
        raise NotLowerable(layer, "a dot product over the batch axis")
    if layer.config["normalize"]:
        x = _l2_normalize(ctx, x, axes[0])
        y = _l2_normalize(ctx, y, axes[1])
    return batch_dot(ctx, x, y, axes)


@lowers_mask(M.Dot)
def _dot_mask(ctx: LowerContext, layer: M.Dot, inputs: Any, mask: Any) -> None:
    return None
