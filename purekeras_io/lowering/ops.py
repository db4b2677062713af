"""Operator layers (tf_keras ``TFOpLambda`` / ``SlicingOpLambda``, the Keras 3
``keras.src.ops`` classes) as TensorFlow ops, driven by the operator table of
:mod:`purekeras_io.layers.ops_table`.

Every op layer holds one row of ``OPS``; its call is resolved to Keras 3-named arguments exactly as
the NumPy forward pass resolves it (``OpLayer._resolve``: tf_keras calls the table translates,
``raw`` tf_keras calls translated at call time), then :data:`OP_LOWERINGS` — one entry per op key
of ``OPS`` — emits the ops. Dtypes follow the NumPy forward pass (NumPy 2 promotion: a Python
scalar takes the tensor's dtype, ``int / int`` is ``float64``, ``sum`` of ``int32`` is ``int64``),
since that is the specification the served graph must agree with. Slicing keys become one
``StridedSlice`` with begin / end / ellipsis / new-axis / shrink masks. An op without a lowering,
a TF function outside the table, or an argument the lowering cannot express raises
:class:`~purekeras_io.lowering.walk.NotLowerable` naming the op.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any, cast

import numpy as np

from ..dtypes import by_numpy, to_numpy
from ..errors import UnsupportedFeatureError
from ..graph.builder import Tensor
from ..layers.ops import OpLayer
from ..layers.ops_table import const_value
from . import activations
from .context import LowerContext
from .registry import lowers
from .walk import NotLowerable

__all__ = ["OP_LOWERINGS", "Unlowerable"]


class Unlowerable(Exception):
    """An op call the lowering cannot express (becomes :class:`NotLowerable`)."""


OpFn = Callable[..., Any]
OP_LOWERINGS: dict[str, OpFn] = {}
"""Op key (``OPS``) → ``fn(ctx, *call_args, **constructor_args) -> Tensor | list[Tensor]``."""


def _register(*keys: str) -> Callable[[OpFn], OpFn]:
    def deco(fn: OpFn) -> OpFn:
        for key in keys:
            OP_LOWERINGS[key] = fn
        return fn

    return deco


# ============================================================================ the layer


@lowers(OpLayer)
def _op_layer(ctx: LowerContext, layer: OpLayer, *args: Any, **kwargs: Any) -> Any:
    kwargs.pop("mask", None)
    kwargs.pop("training", None)
    spec = layer.spec
    if spec is None:
        what = f"TF function {layer.tf_function!r}" if layer.tf_function else layer.class_name()
        raise NotLowerable(layer, f"{what} is outside the operator table")
    fn = OP_LOWERINGS.get(spec.key)
    if fn is None:
        raise NotLowerable(layer, f"op {spec.key!r} has no graph lowering")
    try:
        _, call_args, call_kwargs = layer._resolve(tuple(args), dict(kwargs))
    except UnsupportedFeatureError as exc:
        raise NotLowerable(layer, f"op {spec.key!r}: {exc}") from None
    try:
        return fn(ctx, *call_args, **call_kwargs)
    except Unlowerable as exc:
        raise NotLowerable(layer, f"op {spec.key!r}: {exc}") from None


# ============================================================================ helpers


def _np_dtype(value: Any) -> Any:
    """What NumPy promotion sees: a 0-d array of a tensor's dtype, a constant as converted."""
    if isinstance(value, Tensor):
        return np.empty((), to_numpy(value.dtype))
    return const_value(value)


def _result_dtype(*values: Any) -> str:
    return by_numpy(np.result_type(*(_np_dtype(v) for v in values if v is not None))).name


def _tensor(ctx: LowerContext, value: Any, dtype: str | None = None) -> Tensor:
    """``value`` (a Tensor or a constant) as a Tensor of ``dtype`` (default: its own)."""
    if isinstance(value, Tensor):
        return value if dtype is None else ctx.cast(value, dtype)
    if isinstance(value, (list, tuple)) and any(isinstance(v, Tensor) for v in value):
        raise Unlowerable("a list mixing tensors and constants")
    arr = np.asarray(const_value(value))
    if dtype is None:
        dtype = by_numpy(arr.dtype).name
    return ctx.const(arr.astype(to_numpy(dtype)), dtype)


def _operands(ctx: LowerContext, *values: Any, dtype: str | None = None) -> list[Tensor]:
    """The operands of an element-wise op, promoted as NumPy promotes them."""
    want = dtype or _result_dtype(*values)
    return [_tensor(ctx, v, want) for v in values]


def _is_float(dtype: str) -> bool:
    return dtype.startswith(("float", "bfloat"))


def _floating(ctx: LowerContext, x: Tensor) -> Tensor:
    """NumPy's float ufuncs compute integers and booleans in ``float64``."""
    return x if _is_float(x.dtype) else ctx.cast(x, "float64")


def _rank(x: Tensor) -> int:
    if x.rank is None:
        raise Unlowerable("an input of unknown rank")
    return x.rank


def _axes(x: Tensor, axis: Any) -> list[int]:
    """An ``axis`` argument (None: all axes) as a list of non-negative ints."""
    rank = _rank(x)
    if axis is None:
        return list(range(rank))
    items = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    if any(isinstance(a, Tensor) for a in items):
        raise Unlowerable("a tensor axis")
    return [int(a) % rank if rank else int(a) for a in items]


def _i32(ctx: LowerContext, value: Any) -> Tensor:
    return ctx.const(np.asarray(value, np.int32))


def _expand(ctx: LowerContext, x: Tensor, axis: int) -> Tensor:
    shape = None
    if x.shape is not None:
        at = axis if axis >= 0 else len(x.shape) + 1 + axis
        shape = (*x.shape[:at], 1, *x.shape[at:])
    return cast(Tensor, ctx.op("ExpandDims", x, _i32(ctx, axis), shape=shape))


def _select(ctx: LowerContext, cond: Tensor, a: Tensor, b: Tensor) -> Tensor:
    return cast(Tensor, ctx.op("SelectV2", cond, a, b))


# ============================================================================ element-wise binary

_BINARY_OPS = {
    "add": "AddV2", "subtract": "Sub", "multiply": "Mul", "power": "Pow",
    "maximum": "Maximum", "minimum": "Minimum", "floor_divide": "FloorDiv", "mod": "FloorMod",
    "greater": "Greater", "greater_equal": "GreaterEqual", "less": "Less",
    "less_equal": "LessEqual", "equal": "Equal", "not_equal": "NotEqual",
}


def _binary(op_type: str) -> OpFn:
    def run(ctx: LowerContext, x1: Any, x2: Any) -> Tensor:
        a, b = _operands(ctx, x1, x2)
        return ctx.binary(op_type, a, b)

    return run


for _key, _op_type in _BINARY_OPS.items():
    OP_LOWERINGS[_key] = _binary(_op_type)


@_register("divide", "true_divide")
def _divide(ctx: LowerContext, x1: Any, x2: Any) -> Tensor:
    dtype = _result_dtype(x1, x2)
    a, b = _operands(ctx, x1, x2, dtype=dtype if _is_float(dtype) else "float64")
    return ctx.div(a, b)


def _logical(op_type: str) -> OpFn:
    def run(ctx: LowerContext, x1: Any, x2: Any) -> Tensor:
        a, b = (_tensor(ctx, v) for v in (x1, x2))
        return ctx.binary(op_type, ctx.cast(a, "bool"), ctx.cast(b, "bool"))

    return run


OP_LOWERINGS["logical_and"] = _logical("LogicalAnd")
OP_LOWERINGS["logical_or"] = _logical("LogicalOr")


@_register("matmul")
def _matmul(ctx: LowerContext, x1: Any, x2: Any, transpose_a: bool = False,
            transpose_b: bool = False) -> Tensor:
    a, b = _operands(ctx, x1, x2)
    if _rank(a) < 2 or _rank(b) < 2:
        raise Unlowerable("matmul of a 1-D operand")
    if a.rank == 2 and b.rank == 2:
        return cast(Tensor, ctx.op("MatMul", a, b, transpose_a=bool(transpose_a),
                                   transpose_b=bool(transpose_b)))
    return cast(Tensor, ctx.op("BatchMatMulV2", a, b, adj_x=bool(transpose_a),
                               adj_y=bool(transpose_b)))


# ============================================================================ element-wise unary

_FLOAT_UNARY = {
    "tanh": "Tanh", "sqrt": "Sqrt", "exp": "Exp", "expm1": "Expm1", "log": "Log",
    "log1p": "Log1p", "sin": "Sin", "cos": "Cos", "erf": "Erf", "rsqrt": "Rsqrt",
    "floor": "Floor", "ceil": "Ceil",
}
_SAME_UNARY = {
    "negative": "Neg", "relu": "Relu", "relu6": "Relu6", "sigmoid": "Sigmoid",
    "square": "Square", "absolute": "Abs", "reciprocal": "Reciprocal", "sign": "Sign",
    "softplus": "Softplus", "softsign": "Softsign", "selu": "Selu", "identity": "Identity",
}
_FLOAT_ONLY = frozenset({"Sigmoid", "Softplus", "Softsign", "Selu"})
"""TensorFlow kernels for floats only, where the NumPy pass keeps an integer dtype."""


def _float_unary(op_type: str) -> OpFn:
    def run(ctx: LowerContext, x: Any) -> Tensor:
        return ctx.unary(op_type, _floating(ctx, _tensor(ctx, x)))

    return run


def _same_unary(op_type: str) -> OpFn:
    def run(ctx: LowerContext, x: Any) -> Tensor:
        t = _tensor(ctx, x)
        if op_type in _FLOAT_ONLY and not _is_float(t.dtype):
            raise Unlowerable(f"{op_type} of a {t.dtype} tensor")
        return ctx.unary(op_type, t)

    return run


for _key, _op_type in _FLOAT_UNARY.items():
    OP_LOWERINGS[_key] = _float_unary(_op_type)
for _key, _op_type in _SAME_UNARY.items():
    OP_LOWERINGS[_key] = _same_unary(_op_type)


@_register("logical_not")
def _logical_not(ctx: LowerContext, x: Any) -> Tensor:
    return ctx.unary("LogicalNot", ctx.cast(_tensor(ctx, x), "bool"))


def _hard_sigmoid_of(ctx: LowerContext, x: Tensor) -> Tensor:
    return ctx.div(ctx.unary("Relu6", ctx.add(x, 3.0)), 6.0)


@_register("hard_sigmoid")
def _hard_sigmoid(ctx: LowerContext, x: Any) -> Tensor:
    return _hard_sigmoid_of(ctx, _tensor(ctx, x))


@_register("hard_silu")
def _hard_silu(ctx: LowerContext, x: Any) -> Tensor:
    t = _tensor(ctx, x)
    return ctx.div(ctx.mul(t, ctx.unary("Relu6", ctx.add(t, 3.0))), 6.0)


@_register("silu")
def _silu(ctx: LowerContext, x: Any, beta: float = 1.0) -> Tensor:
    t = _tensor(ctx, x)
    inner = t if float(beta) == 1.0 else ctx.mul(t, float(beta))
    return ctx.mul(t, ctx.unary("Sigmoid", inner))


@_register("gelu")
def _gelu(ctx: LowerContext, x: Any, approximate: bool = True) -> Tensor:
    t = _tensor(ctx, x)
    if not approximate:
        erf = ctx.unary("Erf", ctx.mul(t, 1.0 / math.sqrt(2.0)))
        return ctx.mul(ctx.mul(t, 0.5), ctx.add(erf, 1.0))
    cube = ctx.mul(ctx.mul(ctx.mul(t, t), t), 0.044715)
    inner = ctx.mul(ctx.add(t, cube), math.sqrt(2.0 / math.pi))
    return ctx.mul(ctx.mul(t, 0.5), ctx.add(ctx.unary("Tanh", inner), 1.0))


@_register("leaky_relu")
def _leaky_relu(ctx: LowerContext, x: Any, negative_slope: float = 0.2) -> Tensor:
    return cast(Tensor, ctx.op("LeakyRelu", _tensor(ctx, x), alpha=float(negative_slope)))


@_register("elu")
def _elu(ctx: LowerContext, x: Any, alpha: float = 1.0) -> Tensor:
    t = _tensor(ctx, x)
    y = ctx.unary("Elu", t)
    if float(alpha) == 1.0:
        return y
    return _select(ctx, ctx.binary("Greater", t, 0.0), y, ctx.mul(y, float(alpha)))


@_register("round")
def _round(ctx: LowerContext, x: Any, decimals: int = 0) -> Tensor:
    t = _tensor(ctx, x)
    if not decimals:
        return ctx.unary("Round", t)
    if not _is_float(t.dtype):
        raise Unlowerable("round(decimals=...) of an integer tensor")
    factor = 10.0 ** int(decimals)
    return ctx.div(ctx.unary("Round", ctx.mul(t, factor)), factor)


@_register("softmax")
def _softmax(ctx: LowerContext, x: Any, axis: Any = -1) -> Tensor:
    t = _tensor(ctx, x)
    return activations.softmax(ctx, t, _axes(t, -1 if axis is None else axis))


@_register("log_softmax")
def _log_softmax(ctx: LowerContext, x: Any, axis: Any = -1) -> Tensor:
    t = _tensor(ctx, x)
    axes = _axes(t, -1 if axis is None else axis)
    if axes == [_rank(t) - 1]:
        return ctx.unary("LogSoftmax", t)
    shifted = ctx.sub(t, ctx.reduce("Max", t, axes, keepdims=True))
    total = ctx.reduce("Sum", ctx.unary("Exp", shifted), axes, keepdims=True)
    return ctx.sub(shifted, ctx.unary("Log", total))


@_register("normalize")
def _normalize(ctx: LowerContext, x: Any, axis: Any = -1, order: int = 2,
               epsilon: Any = None) -> Tensor:
    if order != 2:
        raise Unlowerable(f"order={order!r} (only the L2 norm is lowered)")
    t = _tensor(ctx, x)
    eps = 1e-7 if epsilon is None else float(epsilon)
    inv = ctx.unary("Rsqrt", ctx.reduce("Sum", ctx.unary("Square", t), _axes(t, axis), True))
    return ctx.mul(t, ctx.binary("Minimum", inv, 1.0 / eps))


@_register("cast")
def _cast(ctx: LowerContext, x: Any, dtype: Any = None) -> Tensor:
    if dtype is None:
        raise Unlowerable("cast without a dtype")
    name = by_numpy(to_numpy(str(dtype))).name
    return ctx.cast(_tensor(ctx, x), name)


@_register("clip")
def _clip(ctx: LowerContext, x: Any, x_min: Any = None, x_max: Any = None) -> Tensor:
    dtype = _result_dtype(x, x_min, x_max)
    y = _tensor(ctx, x, dtype)
    if x_min is not None:
        y = ctx.binary("Maximum", y, _tensor(ctx, x_min, dtype))
    if x_max is not None:
        y = ctx.binary("Minimum", y, _tensor(ctx, x_max, dtype))
    return y


@_register("shape")
def _shape(ctx: LowerContext, x: Any, out_type: Any = "int32") -> Tensor:
    t = _tensor(ctx, x)
    dtype = by_numpy(to_numpy(str(out_type))).name
    return cast(Tensor, ctx.op("Shape", t, out_type=dtype, shape=(t.rank,)))


# ============================================================================ reductions

_NUMPY_INT = frozenset({"bool", "int8", "int16", "int32", "uint8", "uint16", "uint32"})


def _reduction(op_type: str, accumulate: str = "") -> OpFn:
    """``accumulate``: ``float`` (mean: integers in float64), ``int`` (sum: small ints in
    int64, as NumPy accumulates), ``bool`` (any / all)."""

    def run(ctx: LowerContext, x: Any, axis: Any = None, keepdims: bool = False,
            initial: Any = None, dtype: Any = None) -> Tensor:
        t = _tensor(ctx, x)
        if accumulate == "float":
            t = _floating(ctx, t)
        elif accumulate == "int" and t.dtype in _NUMPY_INT:
            t = ctx.cast(t, "int64")
        elif accumulate == "bool":
            t = ctx.cast(t, "bool")
        y = ctx.reduce(op_type, t, _axes(t, axis), bool(keepdims))
        if initial is not None:
            y = ctx.binary("Maximum" if op_type == "Max" else "Minimum", y,
                           _tensor(ctx, initial, y.dtype))
        return y

    return run


OP_LOWERINGS.update({
    "mean": _reduction("Mean", "float"), "sum": _reduction("Sum", "int"),
    "max": _reduction("Max"), "min": _reduction("Min"), "prod": _reduction("Prod", "int"),
    "any": _reduction("Any", "bool"), "all": _reduction("All", "bool"),
})


def _variance(ctx: LowerContext, x: Any, axis: Any, keepdims: bool) -> Tensor:
    t = _floating(ctx, _tensor(ctx, x))
    axes = _axes(t, axis)
    centred = ctx.sub(t, ctx.reduce("Mean", t, axes, keepdims=True))
    return ctx.reduce("Mean", ctx.unary("Square", centred), axes, bool(keepdims))


@_register("var")
def _var(ctx: LowerContext, x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    return _variance(ctx, x, axis, keepdims)


@_register("std")
def _std(ctx: LowerContext, x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    return ctx.unary("Sqrt", _variance(ctx, x, axis, keepdims))


@_register("logsumexp")
def _logsumexp(ctx: LowerContext, x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    t = _floating(ctx, _tensor(ctx, x))
    axes = _axes(t, axis)
    m = ctx.reduce("Max", t, axes, keepdims=True)
    total = ctx.reduce("Sum", ctx.unary("Exp", ctx.sub(t, m)), axes, keepdims=True)
    out = ctx.add(ctx.unary("Log", total), m)
    if keepdims:
        return out
    return cast(Tensor, ctx.op("Squeeze", out, squeeze_dims=axes))


def _flat(ctx: LowerContext, x: Tensor) -> Tensor:
    return ctx.reshape(x, [-1])


def _arg_extreme(op_type: str) -> OpFn:
    def run(ctx: LowerContext, x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
        t = _tensor(ctx, x)
        if axis is None:
            if keepdims:
                raise Unlowerable("axis=None with keepdims")
            t, ax = _flat(ctx, t), 0
        else:
            ax = _axes(t, axis)[0]
        y = cast(Tensor, ctx.op(op_type, t, _i32(ctx, ax), output_type="int64"))
        return _expand(ctx, y, ax) if keepdims else y

    return run


OP_LOWERINGS["argmax"] = _arg_extreme("ArgMax")
OP_LOWERINGS["argmin"] = _arg_extreme("ArgMin")


@_register("cumsum")
def _cumsum(ctx: LowerContext, x: Any, axis: Any = None, dtype: Any = None) -> Tensor:
    t = _tensor(ctx, x)
    if t.dtype in _NUMPY_INT:
        t = ctx.cast(t, "int64")
    if axis is None:
        t, ax = _flat(ctx, t), 0
    else:
        ax = _axes(t, axis)[0]
    return cast(Tensor, ctx.op("Cumsum", t, _i32(ctx, ax)))


# ============================================================================ slicing


def _slice_key(key: Any) -> list[Any]:
    if isinstance(key, (list, tuple)):
        return list(key)
    return [key]


@_register("get_item")
def _get_item(ctx: LowerContext, x: Any, key: Any) -> Tensor:
    """``x[key]``: slices, ints, ``...`` and ``None`` as one ``StridedSlice``."""
    t = _tensor(ctx, x)
    rows: list[tuple[int, int, int]] = []
    masks = {"begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0, "new_axis_mask": 0,
             "shrink_axis_mask": 0}
    for i, item in enumerate(_slice_key(key)):
        bit = 1 << i
        if item is Ellipsis:
            masks["ellipsis_mask"] |= bit
            rows.append((0, 0, 1))
        elif item is None:
            masks["new_axis_mask"] |= bit
            rows.append((0, 0, 1))
        elif isinstance(item, slice):
            for part in (item.start, item.stop, item.step):
                if part is not None and (isinstance(part, bool) or not isinstance(part, int)):
                    raise Unlowerable(f"slice bound {part!r}")
            step = 1 if item.step is None else int(item.step)
            if step == 0:
                raise Unlowerable("slice step 0")
            if item.start is None:
                masks["begin_mask"] |= bit
            if item.stop is None:
                masks["end_mask"] |= bit
            rows.append((0 if item.start is None else int(item.start),
                         0 if item.stop is None else int(item.stop), step))
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            index = int(item)
            masks["shrink_axis_mask"] |= bit
            rows.append((index, index + 1, 1))
        else:
            raise Unlowerable(f"index {item!r} (only slices, ints, ... and None are lowered)")
    if not rows:
        return t
    given: dict[str, Any] = {k: v for k, v in masks.items() if v}
    begin, end, strides = ([r[k] for r in rows] for k in range(3))
    return ctx.strided_slice(t, begin, end, strides, **given)


# ============================================================================ shapes and joins


@_register("reshape")
def _reshape(ctx: LowerContext, x: Any, newshape: Any = None) -> Tensor:
    t = _tensor(ctx, x)
    if isinstance(newshape, Tensor):
        return ctx.reshape(t, ctx.cast(newshape, "int32")
                           if newshape.dtype != "int32" else newshape)
    if newshape is None:
        raise Unlowerable("reshape without a shape")
    dims = list(newshape) if isinstance(newshape, (list, tuple)) else [newshape]
    if any(isinstance(d, Tensor) for d in dims):
        raise Unlowerable("a shape mixing tensors and constants")
    return ctx.reshape(t, [-1 if d is None else int(d) for d in dims])


@_register("transpose")
def _transpose(ctx: LowerContext, x: Any, axes: Any = None) -> Tensor:
    t = _tensor(ctx, x)
    rank = _rank(t)
    perm = list(reversed(range(rank))) if axes is None else [int(a) % rank for a in axes]
    return ctx.transpose(t, perm)


@_register("concatenate")
def _concatenate(ctx: LowerContext, xs: Any, axis: int = 0) -> Tensor:
    items = list(xs) if isinstance(xs, (list, tuple)) else [xs]
    parts = _operands(ctx, *items)
    return ctx.concat(parts, int(axis))


@_register("stack")
def _stack(ctx: LowerContext, x: Any, axis: int = 0) -> Tensor:
    parts = _operands(ctx, *list(x))
    return cast(Tensor, ctx.op("Pack", parts, axis=int(axis)))


@_register("expand_dims")
def _expand_dims(ctx: LowerContext, x: Any, axis: Any = None) -> Tensor:
    t = _tensor(ctx, x)
    if axis is None:
        raise Unlowerable("expand_dims without an axis")
    items = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    out_rank = _rank(t) + len(items)
    for a in sorted(int(a) % out_rank for a in items):
        t = _expand(ctx, t, a)
    return t


@_register("squeeze")
def _squeeze(ctx: LowerContext, x: Any, axis: Any = None) -> Tensor:
    t = _tensor(ctx, x)
    if axis is None:
        if t.shape is not None and all(d is not None for d in t.shape):
            dims = [i for i, d in enumerate(t.shape) if d == 1]
            return cast(Tensor, ctx.op("Squeeze", t, squeeze_dims=dims))
        return cast(Tensor, ctx.op("Squeeze", t))
    return cast(Tensor, ctx.op("Squeeze", t, squeeze_dims=_axes(t, axis)))


@_register("tile")
def _tile(ctx: LowerContext, x: Any, repeats: Any = None) -> Tensor:
    t = _tensor(ctx, x)
    if repeats is None or isinstance(repeats, Tensor):
        raise Unlowerable("tile repeats that are not constants")
    reps = [int(r) for r in (repeats if isinstance(repeats, (list, tuple)) else [repeats])]
    while _rank(t) < len(reps):
        t = _expand(ctx, t, 0)
    reps = [1] * (_rank(t) - len(reps)) + reps
    return cast(Tensor, ctx.op("Tile", t, _i32(ctx, reps)))


@_register("where")
def _where(ctx: LowerContext, condition: Any, x1: Any = None, x2: Any = None) -> Tensor:
    cond = ctx.cast(_tensor(ctx, condition), "bool")
    if x1 is None and x2 is None:
        return cast(Tensor, ctx.op("Where", cond))
    if x1 is None or x2 is None:
        raise Unlowerable("where with one of x1 / x2")
    a, b = _operands(ctx, x1, x2)
    return _select(ctx, cond, a, b)


@_register("split")
def _split(ctx: LowerContext, x: Any, indices_or_sections: Any = None, axis: int = 0
           ) -> list[Tensor]:
    t = _tensor(ctx, x)
    ax = _axes(t, axis)[0]
    spec = indices_or_sections
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        parts = ctx.op("Split", _i32(ctx, ax), t, num_split=int(spec))
        return list(parts) if isinstance(parts, tuple) else [parts]
    if not isinstance(spec, (list, tuple)) or any(isinstance(i, Tensor) for i in spec):
        raise Unlowerable(f"split indices {spec!r}")
    bounds = [0, *[int(i) for i in spec]]
    sizes = [b - a for a, b in itertools.pairwise(bounds)] + [-1]
    if any(s < 0 for s in sizes[:-1]):
        raise Unlowerable("split indices that are not increasing")
    parts = ctx.op("SplitV", t, _i32(ctx, sizes), _i32(ctx, ax), num_split=len(sizes))
    return list(parts) if isinstance(parts, tuple) else [parts]


@_register("unstack")
def _unstack(ctx: LowerContext, x: Any, num: Any = None, axis: int = 0) -> list[Tensor]:
    t = _tensor(ctx, x)
    ax = _axes(t, axis)[0]
    size = None if t.shape is None else t.shape[ax]
    if size is None:
        raise Unlowerable("unstack along a dimension unknown before run time")
    parts = ctx.op("Unpack", t, num=int(size), axis=ax)
    return list(parts) if isinstance(parts, tuple) else [parts]


@_register("take")
def _take(ctx: LowerContext, x: Any, indices: Any, axis: Any = None) -> Tensor:
    t = _tensor(ctx, x)
    if axis is None:
        t, ax = _flat(ctx, t), 0
    else:
        ax = _axes(t, axis)[0]
    idx = _tensor(ctx, indices)
    if idx.dtype not in ("int32", "int64"):
        raise Unlowerable(f"take with {idx.dtype} indices")
    # NumPy counts negative indices from the end; GatherV2 refuses them.
    size = ctx.cast(ctx.dim(t, ax), idx.dtype)
    negative = ctx.binary("Less", idx, ctx.scalar(0, idx))
    idx = _select(ctx, negative, ctx.add(idx, size), idx)
    return cast(Tensor, ctx.op("GatherV2", t, idx, _i32(ctx, ax)))

