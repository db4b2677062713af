"""Attention layers as TensorFlow ops: EinsumDense, MultiHeadAttention, Attention and
AdditiveAttention, as :mod:`purekeras_io.layers.attention` computes them.

* **EinsumDense**: one ``Einsum`` of the input and the kernel (the layer's equation, ellipsis
  included), the bias broadcast over its ``bias_axes``, the activation.
* **MultiHeadAttention**: the ``query`` / ``key`` / ``value`` (and Keras 3 ``gate``) EinsumDense
  projections, Keras' dot-product and combine equations over ``attention_axes`` (``Einsum``),
  ``1/sqrt(key_dim)`` scaling (on the query, or on the scores in Keras 3's fused path), the
  boolean attention mask ANDed from the query / value / key masks, the causal mask, the sliding
  window and the ``attention_mask`` input, applied per generation (tf_keras: ``+ -1e9 * (1 -
  mask)``, ``softmax_robust_masking`` and Keras 3: replaced by a large negative number, Keras 3's
  explicit-softmax path zeroing masked probabilities), softmax over the attention axes, the
  output projection; the scores as a second output when asked for.
* **Attention** (``dot`` / ``concat`` scores, ``use_scale``) and **AdditiveAttention**: scores
  over ``[query, value(, key)]``, ``-1e9`` where the value mask or the causal mask is off,
  softmax, weights @ value, rows of masked queries zeroed; output mask = the query mask.
"""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np

from ..graph.builder import Tensor, broadcast_shapes
from ..layers import attention as A
from ..model.variable import Variable
from . import activations
from .context import LowerContext
from .registry import lowers, lowers_mask
from .walk import NotLowerable, call_layer

__all__: list[str] = []


# ============================================================================ helpers


def _einsum_shape(equation: str, *shapes: Any) -> tuple[int | None, ...] | None:
    """The static output shape of an ``Einsum`` without ellipsis (None when unknown)."""
    inputs, _, output = equation.partition("->")
    specs = inputs.split(",")
    if "." in equation or any(s is None for s in shapes):
        return None
    sizes: dict[str, int | None] = {}
    for spec, shape in zip(specs, shapes):
        if len(spec) != len(shape):
            return None
        for letter, dim in zip(spec, shape):
            if sizes.get(letter) is None:
                sizes[letter] = dim
    return tuple(sizes.get(c) for c in output)


def _einsum(ctx: LowerContext, equation: str, a: Tensor, b: Tensor,
            shape: Any = None) -> Tensor:
    if shape is None:
        shape = _einsum_shape(equation, a.shape, b.shape)
    return cast(Tensor, ctx.op("Einsum", [a, b], equation=equation, shape=shape))


def _expand(ctx: LowerContext, x: Tensor, axis: int) -> Tensor:
    shape = None
    if x.shape is not None:
        at = axis if axis >= 0 else len(x.shape) + 1 + axis
        shape = (*x.shape[:at], 1, *x.shape[at:])
    return cast(Tensor, ctx.op("ExpandDims", x, ctx.const(np.asarray(axis, np.int32)),
                               shape=shape))


def _bool(ctx: LowerContext, mask: Any, layer: Any, what: str) -> Tensor:
    if not isinstance(mask, Tensor):
        raise NotLowerable(layer, f"{what} is not a tensor")
    if mask.rank is None:
        raise NotLowerable(layer, f"{what} has an unknown rank")
    return ctx.cast(mask, "bool")


def _range(ctx: LowerContext, n: Tensor) -> Tensor:
    zero = ctx.const(np.asarray(0, np.int32))
    one = ctx.const(np.asarray(1, np.int32))
    return cast(Tensor, ctx.op("Range", zero, n, one, shape=(None,)))


def _positions(ctx: LowerContext, rows: Tensor, cols: Tensor) -> tuple[Tensor, Tensor]:
    """Row indices ``[t, 1]`` and column indices ``[1, s]`` (int32)."""
    r = _expand(ctx, _range(ctx, rows), 1)
    c = _expand(ctx, _range(ctx, cols), 0)
    return r, c


def _lower_triangle(ctx: LowerContext, rows: Tensor, cols: Tensor) -> Tensor:
    """``tril(ones((t, s), bool))``: column <= row."""
    r, c = _positions(ctx, rows, cols)
    return ctx.binary("GreaterEqual", r, c)


def _and(ctx: LowerContext, a: Tensor | None, b: Tensor) -> Tensor:
    return b if a is None else ctx.binary("LogicalAnd", a, b)


def _variable(layer: Any, name: str) -> Variable | None:
    for var in layer._variables:
        if var.name == name:
            return cast(Variable, var)
    return None


# ============================================================================ EinsumDense


@lowers(A.EinsumDense)
def _einsum_dense(ctx: LowerContext, layer: A.EinsumDense, x: Tensor, **_: Any) -> Tensor:
    dtype = layer.compute_dtype
    variables = layer._variables
    kernel = ctx.read(variables[0], dtype)
    x = ctx.cast(x, kernel.dtype)
    shape = None
    if x.shape is not None:
        try:
            shape = tuple(layer.compute_output_shape(x.shape))
        except Exception:  # a shape Keras' analysis cannot place: leave it to TensorFlow
            shape = None
    y = _einsum(ctx, layer.config["equation"], x, kernel, shape=shape)
    if len(variables) > 1:
        y = ctx.add(y, ctx.read(variables[1], dtype))
    return activations.apply(ctx, layer.config["activation"], y)


def _project(ctx: LowerContext, dense: A.EinsumDense, x: Tensor) -> Tensor:
    out, _ = call_layer(ctx, dense, [x], {})
    return cast(Tensor, out)


# ============================================================================ MultiHeadAttention


def _mha_mask(
    ctx: LowerContext, layer: A.MultiHeadAttention, q: Tensor, v: Tensor,
    masks: tuple[Any, Any, Any], attention_mask: Any, use_causal_mask: bool,
) -> tuple[Tensor | None, int]:
    """The combined boolean mask (and its rank), as the NumPy forward pass ANDs it."""
    q_mask, value_mask, key_mask = masks
    combined: Tensor | None = None
    rank = 0
    if q_mask is not None:
        part = _expand(ctx, _bool(ctx, q_mask, layer, "the query mask"), 2)
        combined, rank = part, cast(int, part.rank)
    for what, m in (("the value mask", value_mask), ("the key mask", key_mask)):
        if m is not None:
            part = _expand(ctx, _bool(ctx, m, layer, what), 1)
            combined, rank = _and(ctx, combined, part), max(rank, cast(int, part.rank))
    if use_causal_mask:
        part = _expand(ctx, _lower_triangle(ctx, ctx.dim(q, 1), ctx.dim(v, 1)), 0)
        combined, rank = _and(ctx, combined, part), max(rank, 3)
    window = layer.config.get("sliding_window")
    if window is not None:
        r, c = _positions(ctx, ctx.dim(q, 1), ctx.dim(v, 1))
        near = ctx.binary("Less", ctx.unary("Abs", ctx.sub(r, c)),
                          ctx.const(np.asarray(int(window), np.int32)))
        combined, rank = _and(ctx, combined, _expand(ctx, near, 0)), max(rank, 3)
    if attention_mask is not None:
        part = _bool(ctx, attention_mask, layer, "attention_mask")
        combined, rank = _and(ctx, combined, part), max(rank, cast(int, part.rank))
    return combined, rank


@lowers(A.MultiHeadAttention)
def _mha(
    ctx: LowerContext,
    layer: A.MultiHeadAttention,
    inputs: Any = None,
    value: Any = None,
    key: Any = None,
    attention_mask: Any = None,
    return_attention_scores: bool = False,
    training: Any = False,
    use_causal_mask: bool = False,
    *,
    mask: Any = None,
    query_mask: Any = None,
    value_mask: Any = None,
    key_mask: Any = None,
    **kwargs: Any,
) -> Any:
    query = kwargs.pop("query", None) if inputs is None else inputs
    if not isinstance(query, Tensor) or not isinstance(value, Tensor):
        raise NotLowerable(layer, "query and value must be tensors")
    k_in = value if key is None else key
    if not layer.built:
        raise NotLowerable(layer, "the layer is not built")
    dense = layer._dense
    dialect = layer.source_dialect
    gate = _project(ctx, dense["gate_dense"], query) if "gate_dense" in dense else None
    pq = _project(ctx, dense["query_dense"], query)
    pk = _project(ctx, dense["key_dense"], k_in)
    pv = _project(ctx, dense["value_dense"], value)
    q_mask = mask if mask is not None else query_mask
    combined, mask_rank = _mha_mask(ctx, layer, query, value, (q_mask, value_mask, key_mask),
                                    attention_mask, bool(use_causal_mask))
    axes = layer._attention_axes()
    rank = pq.rank
    if rank is None:
        raise NotLowerable(layer, "the projected query has an unknown rank")
    dot_eq, combine_eq, scores_rank = A._attention_equations(rank, axes)
    scale = ctx.scalar(1.0 / math.sqrt(float(layer.config["key_dim"])), pq)
    if combined is not None:
        for _ in range(scores_rank - mask_rank):
            combined = _expand(ctx, combined, -len(axes) * 2 - 1)
    norm_axes = list(range(scores_rank - len(axes), scores_rank))
    fused = (dialect == "keras3" and float(layer.config["dropout"] or 0) == 0.0
             and not return_attention_scores and rank == 4)
    if fused:
        scores = ctx.mul(_einsum(ctx, dot_eq, pk, pq), scale)
    else:
        scores = _einsum(ctx, dot_eq, pk, ctx.mul(pq, scale))
    if combined is not None:
        if dialect == "keras2" and not layer._robust_masking:
            off = ctx.sub(ctx.scalar(1.0, scores), ctx.cast(combined, scores.dtype))
            scores = ctx.add(scores, ctx.mul(off, A._LARGE_NEGATIVE))
        else:
            negative = A._K3_FUSED_NEGATIVE if fused else A._LARGE_NEGATIVE
            scores = cast(Tensor, ctx.op("SelectV2", combined, scores,
                                         ctx.scalar(negative, scores), shape=scores.shape))
    probs = activations.softmax(ctx, scores, norm_axes)
    if combined is not None and dialect == "keras3" and not fused:
        probs = cast(Tensor, ctx.op("SelectV2", combined, probs, ctx.scalar(0.0, probs),
                                    shape=probs.shape))
    out = _einsum(ctx, combine_eq, probs, pv, shape=_einsum_shape(combine_eq, probs.shape,
                                                                    pv.shape))
    if gate is not None:
        out = ctx.mul(out, gate)
    result = _project(ctx, dense["output_dense"], out)
    if return_attention_scores:
        return [result, probs]
    return result


# ============================================================================ Attention layers


def _matmul_shape(a: Tensor, b: Tensor, adj_y: bool) -> Any:
    if a.shape is None or b.shape is None:
        return None
    batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    if batch is None:
        return None
    return (*batch, a.shape[-2], b.shape[-2] if adj_y else b.shape[-1])


def _batch_matmul(ctx: LowerContext, a: Tensor, b: Tensor, adj_y: bool = False) -> Tensor:
    return cast(Tensor, ctx.op("BatchMatMulV2", a, b, adj_y=adj_y,
                               shape=_matmul_shape(a, b, adj_y)))


def _pairwise_sum(ctx: LowerContext, q: Tensor, k: Tensor) -> Tensor:
    """``q[..., :, None, :] + k[..., None, :, :]``."""
    return ctx.add(_expand(ctx, q, -2), _expand(ctx, k, -3))


def _attention_scores(ctx: LowerContext, layer: A.Attention, q: Tensor, k: Tensor) -> Tensor:
    var = _variable(layer, "scale")
    scale = None if var is None else ctx.read(var, q.dtype)
    if layer.config["score_mode"] == "dot":
        scores = _batch_matmul(ctx, q, k, adj_y=True)
        return scores if scale is None else ctx.mul(scores, scale)
    summed = _pairwise_sum(ctx, q, k)
    if scale is not None:
        summed = ctx.mul(scale, summed)
    weight_var = _variable(layer, "concat_score_weight")
    if weight_var is None:
        raise NotLowerable(layer, "score_mode='concat' without concat_score_weight")
    weight = ctx.read(weight_var, q.dtype)
    return ctx.mul(weight, ctx.reduce("Sum", ctx.unary("Tanh", summed), [-1]))


def _additive_scores(ctx: LowerContext, layer: A.AdditiveAttention, q: Tensor, k: Tensor
                     ) -> Tensor:
    t = ctx.unary("Tanh", _pairwise_sum(ctx, q, k))
    if layer.config["use_scale"]:
        t = ctx.mul(ctx.read(layer._variables[0], q.dtype), t)
    return ctx.reduce("Sum", t, [-1])


@lowers(A.Attention, A.AdditiveAttention)
def _dense_attention(
    ctx: LowerContext, layer: Any, inputs: Any, mask: Any = None,
    return_attention_scores: bool = False, use_causal_mask: bool = False, **_: Any,
) -> Any:
    if not isinstance(inputs, (list, tuple)) or len(inputs) not in (2, 3):
        raise NotLowerable(layer, "must be called on [query, value(, key)]")
    q, v = inputs[0], inputs[1]
    k = inputs[2] if len(inputs) > 2 else v
    dtype = q.dtype if q.dtype.startswith(("float", "bfloat")) else "float32"
    q, v, k = (ctx.cast(t, dtype) for t in (q, v, k))
    q_mask = mask[0] if mask else None
    v_mask = mask[1] if mask and len(mask) > 1 else None
    if isinstance(layer, A.Attention):
        scores = _attention_scores(ctx, layer, q, k)
    else:
        scores = _additive_scores(ctx, layer, q, k)
    score_mask: Tensor | None = None
    if v_mask is not None:
        score_mask = _expand(ctx, _bool(ctx, v_mask, layer, "the value mask"), -2)
    if use_causal_mask or layer._causal:
        causal = _lower_triangle(ctx, ctx.dim(q, -2), ctx.dim(k, -2))
        score_mask = _and(ctx, score_mask, causal)
    if score_mask is not None:
        off = ctx.cast(ctx.unary("LogicalNot", score_mask), dtype)
        scores = ctx.sub(scores, ctx.mul(off, 1e9))
    weights = activations.softmax(ctx, scores, -1)
    result = _batch_matmul(ctx, weights, v)
    if q_mask is not None:
        keep = _expand(ctx, ctx.cast(_bool(ctx, q_mask, layer, "the query mask"), dtype), -1)
        result = ctx.mul(result, keep)
    if return_attention_scores:
        return [result, weights]
    return result


@lowers_mask(A.Attention, A.AdditiveAttention)
def _dense_attention_mask(ctx: LowerContext, layer: Any, inputs: Any, mask: Any) -> Any:
    if not mask or mask[0] is None:
        return None
    return mask[0]
