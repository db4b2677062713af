"""The function and method handlers of :func:`~purekeras_io.importers.torch_graph.from_torch`.

Two tables, by name (leaf modules are in :data:`.torch_modules.MODULES`): :data:`FUNCTIONS`
(``call_function`` targets by ``__name__``: ``relu`` is ``torch.relu`` and ``F.relu``, ``add``
is ``operator.add`` and ``torch.add``…) and :data:`METHODS` (``call_method`` names: ``view``,
``flatten``, ``mean``…). A handler gets the :class:`~.torch_graph.Context` and the call's
arguments with every node replaced by its value: a :class:`~.torch_layout.TV` for a tensor,
Python values for sizes and constants.

Mapping choices (each exact in float32 up to rounding):

* ``hardsigmoid(x) = clip(x/6 + 1/2, 0, 1)`` → ``Rescaling(1/6, 0.5)`` + ``ReLU(max_value=1)``
  (tf_keras' ``hard_sigmoid`` is a different function); ``hardswish`` → that times ``x``.
* a tensor plus, minus, times or divided by a Python number → ``Rescaling``; two tensors →
  ``Add``/``Subtract``/``Multiply`` (same rank, broadcasting over size-1 axes), the
  ``TrueDivide`` op for a division.
* ``mean`` over the spatial axes of a channels-last image → ``GlobalAveragePooling``; other
  reductions → the Keras 3 ``Mean``/``Sum`` op layer with the axes in the Keras layout.
* ``view``/``reshape``/``flatten``/``unsqueeze``/``squeeze`` → ``Reshape``/``Flatten`` in torch's
  element order (a ``Permute`` first when the layout differs); the batch axis must stay.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..layers import (
    Activation,
    Add,
    Concatenate,
    Flatten,
    LeakyReLU,
    Multiply,
    ReLU,
    Rescaling,
    Reshape,
    Softmax,
    Subtract,
)
from ..layers.ops import apply_op
from .torch_layout import TV, invert

if TYPE_CHECKING:
    from .torch_graph import Context

__all__ = ["FUNCTIONS", "METHODS", "activation", "binary"]

Handler = Callable[..., Any]

# ============================================================================ activations


def activation(ctx: Context, x: TV, kind: str, **params: Any) -> TV:
    """One activation on ``x`` (any layout)."""
    name = ctx.name()
    t = x.tensor
    nonneg = False
    if kind == "relu":
        out, nonneg = ReLU(name=name)(t), True
    elif kind == "relu6":
        out, nonneg = ReLU(max_value=6.0, name=name)(t), True
    elif kind in ("sigmoid", "tanh", "silu", "elu_1", "softplus"):
        act = {"silu": "swish", "elu_1": "elu"}.get(kind, kind)
        out = Activation(act, name=name)(t)
        nonneg = kind == "sigmoid"
    elif kind == "gelu":
        if params.get("approximate", "none") == "tanh":
            out = apply_op("gelu", t, approximate=True, name=name)
        else:
            out = Activation("gelu", name=name)(t)
    elif kind == "leaky_relu":
        out = LeakyReLU(negative_slope=float(params.get("negative_slope", 0.01)), name=name)(t)
    elif kind == "elu":
        alpha = float(params.get("alpha", 1.0))
        if alpha == 1.0:
            out = Activation("elu", name=name)(t)
        else:
            from ..layers import ELU

            out = ELU(alpha=alpha, name=name)(t)
    elif kind == "hardsigmoid":
        out, nonneg = ReLU(max_value=1.0, name=name)(Rescaling(1.0 / 6.0, 0.5)(t)), True
    elif kind == "hardswish":
        gate = ReLU(max_value=1.0)(Rescaling(1.0 / 6.0, 0.5)(t))
        out = Multiply(name=name)([t, gate])
    elif kind == "softmax":
        dim = params.get("dim")
        if dim is None:
            raise ctx.refuse("softmax without dim")
        out = Softmax(axis=_axis(x, int(dim)), name=name)(t)
        nonneg = True
    else:  # pragma: no cover - table and handlers agree
        raise ctx.refuse(f"activation {kind!r}")
    return x.with_tensor(out, nonneg=nonneg)


def _axis(x: TV, torch_axis: int) -> int:
    axis = x.keras_axis(torch_axis)
    return -1 if axis == x.rank - 1 else axis


def _act(kind: str, *names: str) -> Handler:
    def handler(ctx: Context, x: TV, *args: Any, **kwargs: Any) -> TV:
        params = dict(zip(names, args))
        params.update({k: v for k, v in kwargs.items() if k in names})
        return activation(ctx, x, kind, **params)

    return handler


# ============================================================================ arithmetic


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def binary(ctx: Context, op: str, a: Any, b: Any) -> Any:
    """``a <op> b`` for tensors and Python numbers (``add``, ``sub``, ``mul``, ``div``)."""
    if _is_number(a) and _is_number(b):
        if op == "div":
            return a / b if b else math.nan
        return {"add": a + b, "sub": a - b, "mul": a * b}[op]
    name = ctx.name()
    if isinstance(a, TV) and _is_number(b):
        if op == "div" and b == 0:
            raise ctx.refuse("a division by zero")
        scale, offset = {"add": (1.0, b), "sub": (1.0, -b), "mul": (b, 0.0),
                         "div": (1.0 / b if b else 0.0, 0.0)}[op]
        return a.with_tensor(Rescaling(float(scale), float(offset), name=name)(a.tensor),
                             nonneg=a.nonneg and op in ("mul", "div") and b > 0)
    if _is_number(a) and isinstance(b, TV):
        if op == "add":
            return binary(ctx, "add", b, a)
        if op == "mul":
            return binary(ctx, "mul", b, a)
        if op == "sub":
            return b.with_tensor(Rescaling(-1.0, float(a), name=name)(b.tensor))
        raise ctx.refuse("a number divided by a tensor")
    if not (isinstance(a, TV) and isinstance(b, TV)):
        raise ctx.refuse(f"{op} of {type(a).__name__} and {type(b).__name__}")
    if a.rank != b.rank:
        raise ctx.refuse(f"{op} of tensors of ranks {a.rank} and {b.rank} (broadcast by rank)")
    b = ctx.permute(b, a.perm)
    if op == "div":
        out = apply_op("true_divide", a.tensor, b.tensor, name=name)
    else:
        layer = {"add": Add, "sub": Subtract, "mul": Multiply}[op](name=name)
        out = layer([a.tensor, b.tensor])
    nonneg = a.nonneg and b.nonneg and op != "sub"
    return TV(out, a.perm, ctx.meta_shape(), nonneg)


def _binary(op: str) -> Handler:
    def handler(ctx: Context, a: Any, b: Any, *args: Any, **kwargs: Any) -> Any:
        alpha = kwargs.get("alpha", args[0] if args else 1)
        if alpha != 1:
            raise ctx.refuse(f"{op} with alpha={alpha}")
        return binary(ctx, op, a, b)

    return handler


def _rbinary(op: str) -> Handler:
    def handler(ctx: Context, a: Any, b: Any) -> Any:
        return binary(ctx, op, b, a)

    return handler


# ============================================================================ shapes


def _batch_kept(ctx: Context, x: TV, out_shape: tuple[int, ...]) -> None:
    if not out_shape or out_shape[0] != x.shape[0]:
        raise ctx.refuse(f"a reshape from {x.shape} to {out_shape} that changes the batch axis")


def reshape_to_meta(ctx: Context, x: TV, *_: Any, **__: Any) -> TV:
    """``view``/``reshape``/``unsqueeze``/``squeeze``: the traced output shape, batch kept."""
    out_shape = ctx.meta_shape()
    _batch_kept(ctx, x, out_shape)
    x = ctx.torch_order(x)
    if len(out_shape) == 2:
        tensor = Flatten(name=ctx.name())(x.tensor) if x.rank > 2 else Reshape(
            list(out_shape[1:]), name=ctx.name())(x.tensor)
    else:
        tensor = Reshape(list(out_shape[1:]), name=ctx.name())(x.tensor)
    return TV(tensor, tuple(range(len(out_shape))), out_shape, x.nonneg)


def flatten(ctx: Context, x: TV, start_dim: int = 0, end_dim: int = -1) -> TV:
    if start_dim % max(x.rank, 1) == 0:
        raise ctx.refuse("flatten over the batch axis (start_dim=0)")
    return reshape_to_meta(ctx, x)


def permute(ctx: Context, x: TV, *dims: Any) -> TV:
    """``x.permute(*dims)``: only the layout changes (Keras axis ``j`` now holds new torch axis
    ``inv(dims)[perm[j]]``)."""
    if len(dims) == 1 and isinstance(dims[0], (list, tuple)):
        dims = tuple(dims[0])
    d = tuple(int(v) % x.rank for v in dims)
    if d[0] != 0:
        raise ctx.refuse(f"permute{d} that moves the batch axis")
    inv = invert(d)
    return TV(x.tensor, tuple(inv[p] for p in x.perm), ctx.meta_shape(), x.nonneg)


def transpose(ctx: Context, x: TV, dim0: int, dim1: int) -> TV:
    order = list(range(x.rank))
    a, b = int(dim0) % x.rank, int(dim1) % x.rank
    order[a], order[b] = order[b], order[a]
    return permute(ctx, x, *order)


def identity_op(ctx: Context, x: Any, *_: Any, **__: Any) -> Any:
    return x


def size(ctx: Context, x: TV, dim: Any = None) -> Any:
    if dim is None:
        return tuple(x.shape)
    return x.shape[int(dim)]


def getattr_(ctx: Context, x: Any, attr: str) -> Any:
    if isinstance(x, TV) and attr == "shape":
        return tuple(x.shape)
    raise ctx.refuse(f"attribute {attr!r}")


def getitem(ctx: Context, x: Any, key: Any) -> Any:
    if isinstance(x, (tuple, list)):
        return x[key]
    if hasattr(x, "select"):
        return x.select(ctx, key)
    if not isinstance(x, TV):
        raise ctx.refuse(f"indexing a {type(x).__name__}")
    keys = key if isinstance(key, tuple) else (key,)
    first = keys[0] if keys else slice(None)
    if first is Ellipsis or not (isinstance(first, slice) and first == slice(None)):
        raise ctx.refuse(f"indexing {key!r} that does not keep the batch axis whole")
    for k in keys:
        if isinstance(k, TV):
            raise ctx.refuse("indexing with a tensor")
    x = ctx.permute(x, tuple(range(x.rank)))
    tensor = apply_op("get_item", x.tensor, key, name=ctx.name())
    shape = ctx.meta_shape()
    return TV(tensor, tuple(range(len(shape))), shape, x.nonneg)


def cat(ctx: Context, tensors: Any, dim: int = 0) -> TV:
    parts = list(tensors)
    if not parts or not all(isinstance(p, TV) for p in parts):
        raise ctx.refuse("cat of values that are not all tensors")
    first = parts[0]
    if int(dim) % first.rank == 0:
        raise ctx.refuse("cat along the batch axis")
    parts = [ctx.permute(p, first.perm) for p in parts]
    out = Concatenate(axis=_axis(first, int(dim)), name=ctx.name())([p.tensor for p in parts])
    return TV(out, first.perm, ctx.meta_shape(), all(p.nonneg for p in parts))


def _dims(x: TV, dim: Any) -> list[int]:
    if dim is None:
        return list(range(1, x.rank))
    dims = dim if isinstance(dim, (list, tuple)) else [dim]
    return sorted(int(d) % x.rank for d in dims)


def reduce(kind: str) -> Handler:
    def handler(ctx: Context, x: TV, dim: Any = None, keepdim: bool = False,
                *args: Any, **kwargs: Any) -> TV:
        dim = kwargs.get("axis", dim)
        keepdim = bool(kwargs.get("keepdims", keepdim))
        if kwargs.get("dtype") is not None:
            raise ctx.refuse(f"{kind} with dtype")
        dims = _dims(x, dim)
        if 0 in dims or dim is None:
            raise ctx.refuse(f"{kind} over the batch axis")
        axes = sorted(x.keras_axis(d) for d in dims)
        r = x.rank
        fmt = {tuple(range(1, r - 1)): "channels_last", tuple(range(2, r)): "channels_first"}
        if kind == "mean" and r in (3, 4, 5) and tuple(axes) in fmt:
            # a mean over all axes but batch and one: GlobalAveragePoolingND (a real layer
            # every loader knows, unlike the Mean op)
            from .. import layers

            cls = getattr(layers, f"GlobalAveragePooling{r - 2}D")
            out = cls(keepdims=keepdim, data_format=fmt[tuple(axes)], name=ctx.name())(x.tensor)
        else:
            out = apply_op(kind, x.tensor, axis=axes, keepdims=keepdim, name=ctx.name())
        if keepdim:
            perm = x.perm
        else:
            kept = [p for p in x.perm if p not in dims]
            rank_map = {p: i for i, p in enumerate(sorted(kept))}
            perm = tuple(rank_map[p] for p in kept)
        return TV(out, perm, ctx.meta_shape(), x.nonneg)

    return handler


def contiguous(ctx: Context, x: Any, *_: Any, **__: Any) -> Any:
    return x


def _pool(kind: str, rank: int) -> Handler:
    def handler(ctx: Context, x: TV, *args: Any, **kwargs: Any) -> Any:
        from .torch_modules import functional_pool

        return functional_pool(ctx, kind, rank, x, *args, **kwargs)

    return handler


def _adaptive(kind: str, rank: int) -> Handler:
    def handler(ctx: Context, x: TV, output_size: Any, *args: Any, **kwargs: Any) -> Any:
        from .torch_modules import adaptive_pool

        return adaptive_pool(ctx, kind, rank, x, output_size)

    return handler


def interpolate(ctx: Context, x: TV, size: Any = None, scale_factor: Any = None,
                mode: str = "nearest", align_corners: Any = None, *args: Any,
                **kwargs: Any) -> Any:
    from .torch_modules import upsample

    return upsample(ctx, x, size, scale_factor, mode, align_corners)


def dropout(ctx: Context, x: Any, *args: Any, **kwargs: Any) -> Any:
    return x


def _softmax(ctx: Context, x: TV, dim: Any = None, *args: Any, **kwargs: Any) -> TV:
    dim = kwargs.get("dim", dim)
    if kwargs.get("dtype") is not None:
        raise ctx.refuse("softmax with dtype")
    return activation(ctx, x, "softmax", dim=dim)


FUNCTIONS: dict[str, Handler] = {
    "relu": _act("relu"),
    "relu_": _act("relu"),
    "relu6": _act("relu6"),
    "gelu": _act("gelu", "approximate"),
    "silu": _act("silu"),
    "sigmoid": _act("sigmoid"),
    "tanh": _act("tanh"),
    "hardswish": _act("hardswish"),
    "hardsigmoid": _act("hardsigmoid"),
    "leaky_relu": _act("leaky_relu", "negative_slope"),
    "elu": _act("elu", "alpha"),
    "softmax": _softmax,
    "add": _binary("add"),
    "iadd": _binary("add"),
    "sub": _binary("sub"),
    "isub": _binary("sub"),
    "mul": _binary("mul"),
    "imul": _binary("mul"),
    "truediv": _binary("div"),
    "div": _binary("div"),
    "getitem": getitem,
    "getattr": getattr_,
    "flatten": flatten,
    "reshape": reshape_to_meta,
    "permute": permute,
    "transpose": transpose,
    "cat": cat,
    "concat": cat,
    "mean": reduce("mean"),
    "sum": reduce("sum"),
    "unsqueeze": reshape_to_meta,
    "squeeze": reshape_to_meta,
    "dropout": dropout,
    "dropout1d": dropout,
    "dropout2d": dropout,
    "dropout3d": dropout,
    "max_pool1d": _pool("max", 1),
    "max_pool2d": _pool("max", 2),
    "avg_pool1d": _pool("avg", 1),
    "avg_pool2d": _pool("avg", 2),
    "adaptive_avg_pool1d": _adaptive("avg", 1),
    "adaptive_avg_pool2d": _adaptive("avg", 2),
    "adaptive_max_pool1d": _adaptive("max", 1),
    "adaptive_max_pool2d": _adaptive("max", 2),
    "interpolate": interpolate,
}

METHODS: dict[str, Handler] = {
    "relu": _act("relu"),
    "relu_": _act("relu"),
    "sigmoid": _act("sigmoid"),
    "tanh": _act("tanh"),
    "softmax": _softmax,
    "add": _binary("add"),
    "add_": _binary("add"),
    "sub": _binary("sub"),
    "mul": _binary("mul"),
    "mul_": _binary("mul"),
    "div": _binary("div"),
    "__radd__": _rbinary("add"),
    "__rmul__": _rbinary("mul"),
    "view": reshape_to_meta,
    "reshape": reshape_to_meta,
    "flatten": flatten,
    "unsqueeze": reshape_to_meta,
    "squeeze": reshape_to_meta,
    "permute": permute,
    "transpose": transpose,
    "contiguous": contiguous,
    "size": size,
    "mean": reduce("mean"),
    "sum": reduce("sum"),
}
