"""The operator table behind :mod:`.ops`: one :class:`OpSpec` row per operator.

A row names the op's Keras 3 class and module, its ``call`` parameters and constructor arguments,
the TF functions tf_keras writes for it and how TF's arguments map to Keras 3's (with hooks for the
few that need code: slice keys, ``l2_normalize``'s epsilon, ``split``), and its NumPy forward pass.
:mod:`.ops` holds the translation between the two node forms and the layer classes.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import activations
from ..dtypes import to_numpy
from ..model.tensor import KerasTensor

__all__ = [
    "ELLIPSIS_K2",
    "ELLIPSIS_K3",
    "K2_MODULE",
    "K3_MODULE",
    "OPS",
    "PY_OPERATORS",
    "Fn",
    "OpSpec",
    "Untranslatable",
    "const_value",
    "decode_k3",
    "key_to_k3",
    "op_spec",
]

K2_MODULE = "tf_keras.src.layers.core.tf_op_layer"
K3_MODULE = "keras.src.ops."
ELLIPSIS_K3 = {"class_name": "__ellipsis__", "config": {}}
ELLIPSIS_K2 = {"class_name": "__ellipsis__"}

Fn = Callable[..., Any]


class Untranslatable(Exception):
    """A call the table cannot express in the other form (kept as it is instead)."""


@dataclass(frozen=True)
class OpSpec:
    """One operator: its Keras 3 class, its TF functions and its NumPy forward pass."""

    key: str
    """Our name for the op: the snake_case of the Keras 3 class (``true_divide``)."""
    k3: str | None
    """Keras 3 class name; ``None`` for TF functions Keras 3 has no op for."""
    k3_module: str
    """``numpy``, ``nn``, ``core`` or ``math`` (the module is ``keras.src.ops.<this>``)."""
    call: tuple[str, ...]
    """Keras 3 ``call`` parameters (tensors and constants the node holds)."""
    attrs: dict[str, Any]
    """Keras 3 constructor arguments with their defaults, in signature order (the config)."""
    fn: Fn
    """NumPy forward pass: ``fn(*call, **attrs, **tf_only)``."""
    tf: tuple[str, ...] = ()
    """TF function names as tf_keras writes them; the first is the one rendered."""
    tf_params: tuple[tuple[str, str], ...] = ()
    """``(TF parameter, Keras 3 name)`` in TF order; the first is the node's first argument. A
    Keras 3 name may appear twice (deprecated TF spellings): the first one renders."""
    tf_defaults: dict[str, Any] = field(default_factory=dict)
    """Keras 3-named values TF assumes when an argument is absent or None, where Keras 3 differs."""
    tf_ignore: dict[str, Any] = field(default_factory=dict)
    """TF arguments without a Keras 3 meaning, accepted when at this value (``name`` always)."""
    tf_only: dict[str, Any] = field(default_factory=dict)
    """TF arguments Keras 3 lacks (``transpose_b``): kept, Keras 3 renders only at these values."""
    k3_only: dict[str, Any] = field(default_factory=dict)
    """Keras 3 arguments TF lacks (``Max.initial``): tf_keras renders only at these values."""
    tf_no_none: tuple[str, ...] = ()
    """Keras 3 arguments whose ``None`` (flatten) TF cannot express."""
    kind: str = "eval"
    """Shape rule: ``unary`` (same shape), ``broadcast`` (of the call arguments) or ``eval``."""
    aliases: tuple[str, ...] = ()
    """Other Keras 3 class names of the op (``Abs`` for ``Absolute``)."""
    from_tf: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    to_tf: Callable[[dict[str, Any]], dict[str, Any]] | None = None


# ============================================================================ NumPy forward passes


def _ax(axis: Any) -> Any:
    return tuple(axis) if isinstance(axis, list) else axis


def const_value(value: Any) -> Any:
    """A list constant as TF/Keras convert it (float32 / int32), scalars left weak."""
    if isinstance(value, (list, tuple)):
        arr = np.asarray(value)
        if arr.dtype == np.float64:
            return arr.astype(np.float32)
        if arr.dtype == np.int64:
            return arr.astype(np.int32)
        return arr
    return value


def _binary(f: Fn) -> Fn:
    return lambda x1, x2: f(const_value(x1), const_value(x2))


def _unary(f: Fn) -> Fn:
    return lambda x: f(np.asarray(x))


def _reduce(f: Fn) -> Fn:
    def run(x: Any, axis: Any = None, keepdims: Any = False, **extra: Any) -> Any:
        kw = {k: v for k, v in extra.items() if v is not None}
        x = np.asarray(x)
        return np.asarray(f(x, axis=_ax(axis), keepdims=bool(keepdims), **kw))

    return run


def _erf(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[np.float64])(x).astype(x.dtype)


def _matmul(x1: Any, x2: Any, transpose_a: bool = False, transpose_b: bool = False) -> Any:
    a, b = np.asarray(const_value(x1)), np.asarray(const_value(x2))
    a = np.swapaxes(a, -1, -2) if transpose_a else a
    b = np.swapaxes(b, -1, -2) if transpose_b else b
    return np.matmul(a, b)


def _getitem(x: Any, key: Any) -> Any:
    return np.asarray(x)[tuple(key) if isinstance(key, list) else key]


def _reshape(x: Any, newshape: Any) -> Any:
    shape = [-1 if d is None else int(d) for d in np.asarray(newshape).reshape(-1).tolist()]
    return np.reshape(np.asarray(x), shape)


def _concat(xs: Any, axis: int = 0) -> Any:
    items = xs if isinstance(xs, (list, tuple)) else [xs]
    return np.concatenate([np.asarray(const_value(v)) for v in items], axis=axis)


def _stack(x: Any, axis: int = 0) -> Any:
    return np.stack([np.asarray(const_value(v)) for v in x], axis=axis)


def _where(condition: Any, x1: Any = None, x2: Any = None) -> Any:
    if x1 is None and x2 is None:
        return np.stack(np.nonzero(condition), axis=-1)
    return np.where(np.asarray(condition, dtype=bool), const_value(x1), const_value(x2))


def _split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Any]:
    return list(np.split(np.asarray(x), indices_or_sections, axis=axis))


def _unstack(x: Any, num: Any = None, axis: int = 0) -> list[Any]:
    x = np.asarray(x)
    return [np.take(x, i, axis=axis) for i in range(x.shape[axis])]


def _cast(x: Any, dtype: Any = None) -> Any:
    return np.asarray(x).astype(to_numpy(str(dtype)))


def _softmax(f: Fn) -> Fn:
    return lambda x, axis=-1: f(np.asarray(x), axis=-1 if axis is None else _ax(axis))


def _relu6(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0, 6).astype(x.dtype)


def _normalize(x: Any, axis: Any = -1, order: int = 2, epsilon: Any = None) -> Any:
    """Keras 3 ``normalize`` (order 2): ``x * min(rsqrt(sum(x²)), 1/epsilon)``."""
    x = np.asarray(x)
    eps = 1e-7 if epsilon is None else float(epsilon)
    if order != 2:
        norm = np.linalg.norm(x, ord=order, axis=_ax(axis), keepdims=True)
        return (x / np.maximum(norm, eps)).astype(x.dtype)
    inv = 1.0 / np.sqrt(np.sum(np.square(x), axis=_ax(axis), keepdims=True))
    return (x * np.minimum(inv, 1.0 / eps)).astype(x.dtype)


def _logsumexp(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def _argext(f: Fn) -> Fn:
    def run(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return np.asarray(f(np.asarray(x), axis=axis, keepdims=bool(keepdims)))

    return run


# ============================================================================ argument hooks


def _key_from_k2(spec: Any) -> Any:
    """tf_keras ``slice_spec`` → a Python key (slices, ``...``, ``None``, ints)."""
    if isinstance(spec, list):
        return [_key_from_k2(s) for s in spec]
    if isinstance(spec, dict):
        if spec.get("class_name") == "__ellipsis__":
            return Ellipsis
        if "start" in spec or "stop" in spec:
            return slice(spec.get("start"), spec.get("stop"), spec.get("step"))
        if spec.get("class_name") == "__slice__":
            c = spec.get("config", {})
            return slice(c.get("start"), c.get("stop"), c.get("step"))
    return spec


def _key_to_k2(key: Any) -> Any:
    if isinstance(key, (list, tuple)):
        return [_key_to_k2(k) for k in key]
    if isinstance(key, slice):
        return {"start": key.start, "stop": key.stop, "step": key.step}
    if key is Ellipsis:
        return dict(ELLIPSIS_K2)
    if isinstance(key, KerasTensor):
        raise Untranslatable("a tensor inside the slice key")
    return key


def key_to_k3(key: Any) -> Any:
    if isinstance(key, list):
        return [key_to_k3(k) for k in key]
    if key is Ellipsis:
        return dict(ELLIPSIS_K3)
    return key


def decode_k3(value: Any) -> Any:
    """``__ellipsis__`` objects in a Keras 3 node → ``...`` (``__slice__`` is decoded upstream)."""
    if isinstance(value, dict):
        if value.get("class_name") == "__ellipsis__":
            return Ellipsis
        if value.get("class_name") == "__slice__":
            return _key_from_k2(value)
        return {k: decode_k3(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_k3(v) for v in value]
    if isinstance(value, tuple):
        return tuple(decode_k3(v) for v in value)
    return value


def _getitem_from_tf(named: dict[str, Any]) -> dict[str, Any]:
    named["key"] = _key_from_k2(named.get("key"))
    return named


def _getitem_to_tf(named: dict[str, Any]) -> dict[str, Any]:
    named["key"] = _key_to_k2(named.get("key"))
    return named


def _normalize_from_tf(named: dict[str, Any]) -> dict[str, Any]:
    """TF ``l2_normalize`` bounds the squared sum by ``epsilon``; Keras 3 the norm: √epsilon."""
    named["epsilon"] = math.sqrt(float(named["epsilon"]))
    return named


def _normalize_to_tf(named: dict[str, Any]) -> dict[str, Any]:
    eps = named.get("epsilon")
    named["epsilon"] = (1e-7 if eps is None else float(eps)) ** 2
    return named


def _split_from_tf(named: dict[str, Any]) -> dict[str, Any]:
    """TF ``num_or_size_splits`` sizes ``[1, 3]`` → Keras 3 ``indices_or_sections`` ``[1]``."""
    sizes = named.get("indices_or_sections")
    if isinstance(sizes, list):
        if any(s is None or int(s) < 0 for s in sizes[:-1]):
            raise Untranslatable("split sizes with -1 before the last")
        named["indices_or_sections"] = np.cumsum([int(s) for s in sizes[:-1]]).tolist()
    return named


def _split_to_tf(named: dict[str, Any]) -> dict[str, Any]:
    idx = named.get("indices_or_sections")
    if isinstance(idx, list):
        bounds = [0, *[int(i) for i in idx]]
        named["indices_or_sections"] = [b - a for a, b in itertools.pairwise(bounds)] + [-1]
    return named


# ============================================================================ the table


def _params(text: str) -> tuple[tuple[str, str], ...]:
    """``"x=x1 y=x2 axis"`` → ``(("x", "x1"), ("y", "x2"), ("axis", "axis"))``."""
    out = []
    for item in text.split():
        tf_name, _, k3_name = item.partition("=")
        out.append((tf_name, k3_name or tf_name))
    return tuple(out)


OPS: dict[str, OpSpec] = {}
"""Every operator by :attr:`OpSpec.key`."""


def _op(key: str, k3: str | None, module: str, call: str, fn: Fn, tf: tuple[str, ...] = (),
        params: str = "", attrs: dict[str, Any] | None = None, **kw: Any) -> None:
    OPS[key] = OpSpec(key=key, k3=k3, k3_module=module, call=tuple(call.split()),
                      attrs=dict(attrs or {}), fn=fn, tf=tf, tf_params=_params(params), **kw)


_RED_TF = "input_tensor=x axis keepdims keep_dims=keepdims reduction_indices=axis"

# --- arithmetic (Python operators) and element-wise binary ops
_BINARY: tuple[tuple[str, str, tuple[str, ...], Fn], ...] = (
    ("add", "Add", ("__operators__.add", "math.add"), np.add),
    ("subtract", "Subtract", ("math.subtract",), np.subtract),
    ("multiply", "Multiply", ("math.multiply",), np.multiply),
    ("divide", "Divide", ("math.divide",), np.true_divide),
    ("true_divide", "TrueDivide", ("math.truediv",), np.true_divide),
    ("power", "Power", ("math.pow",), np.power),
    ("maximum", "Maximum", ("math.maximum",), np.maximum),
    ("minimum", "Minimum", ("math.minimum",), np.minimum),
    ("floor_divide", "FloorDivide", ("math.floordiv",), np.floor_divide),
    ("mod", "Mod", ("math.floormod",), np.mod),
    ("greater", "Greater", ("math.greater",), np.greater),
    ("greater_equal", "GreaterEqual", ("math.greater_equal",), np.greater_equal),
    ("less", "Less", ("math.less",), np.less),
    ("less_equal", "LessEqual", ("math.less_equal",), np.less_equal),
    ("equal", "Equal", ("math.equal",), np.equal),
    ("not_equal", "NotEqual", ("math.not_equal",), np.not_equal),
    ("logical_and", "LogicalAnd", ("math.logical_and",), np.logical_and),
    ("logical_or", "LogicalOr", ("math.logical_or",), np.logical_or),
)
for _b in _BINARY:
    _op(_b[0], _b[1], "numpy", "x1 x2", _binary(_b[3]), _b[2], "x=x1 y=x2", kind="broadcast")
_op("matmul", "Matmul", "numpy", "x1 x2", _matmul, ("linalg.matmul",),
    "a=x1 b=x2 transpose_a transpose_b", tf_only={"transpose_a": False, "transpose_b": False},
    tf_ignore={"adjoint_a": False, "adjoint_b": False, "a_is_sparse": False, "b_is_sparse": False,
               "output_type": None, "grad_a": False, "grad_b": False})

# --- element-wise unary ops: (key, class, module, TF names, TF first parameter, NumPy)
_UNARY: tuple[tuple[str, str | None, str, tuple[str, ...], str, Fn], ...] = (
    ("negative", "Negative", "numpy", ("math.negative",), "x", np.negative),
    ("relu", "Relu", "nn", ("nn.relu",), "features", lambda x: np.maximum(x, 0).astype(x.dtype)),
    ("relu6", "Relu6", "nn", ("nn.relu6",), "features", _relu6),
    ("sigmoid", "Sigmoid", "nn", ("math.sigmoid", "nn.sigmoid"), "x", activations.sigmoid),
    ("tanh", "Tanh", "numpy", ("math.tanh", "nn.tanh"), "x", np.tanh),
    ("sqrt", "Sqrt", "numpy", ("math.sqrt",), "x", np.sqrt),
    ("square", "Square", "numpy", ("math.square",), "x", np.square),
    ("exp", "Exp", "numpy", ("math.exp",), "x", np.exp),
    ("expm1", "Expm1", "numpy", ("math.expm1",), "x", np.expm1),
    ("log", "Log", "numpy", ("math.log",), "x", np.log),
    ("log1p", "Log1p", "numpy", ("math.log1p",), "x", np.log1p),
    ("absolute", "Absolute", "numpy", ("math.abs",), "x", np.abs),
    ("rsqrt", "Rsqrt", "math", ("math.rsqrt",), "x", lambda x: (1.0 / np.sqrt(x)).astype(x.dtype)),
    ("reciprocal", "Reciprocal", "numpy", ("math.reciprocal",), "x", np.reciprocal),
    ("sign", "Sign", "numpy", ("math.sign",), "x", np.sign),
    ("floor", "Floor", "numpy", ("math.floor",), "x", np.floor),
    ("ceil", "Ceil", "numpy", ("math.ceil",), "x", np.ceil),
    ("sin", "Sin", "numpy", ("math.sin",), "x", np.sin),
    ("cos", "Cos", "numpy", ("math.cos",), "x", np.cos),
    ("erf", "Erf", "math", ("math.erf",), "x", _erf),
    ("logical_not", "LogicalNot", "numpy", ("math.logical_not",), "x", np.logical_not),
    ("softplus", "Softplus", "nn", ("math.softplus", "nn.softplus"), "features",
     activations.softplus),
    ("softsign", "Softsign", "nn", ("nn.softsign", "math.softsign"), "features",
     lambda x: x / (1 + np.abs(x))),
    ("selu", "Selu", "nn", ("nn.selu",), "features", activations.selu),
    ("hard_sigmoid", "HardSigmoid", "nn", (), "x", lambda x: _relu6(x + 3) / 6),
    ("hard_silu", "HardSilu", "nn", (), "x", lambda x: x * _relu6(x + 3) / 6),
    ("identity", None, "core", ("identity",), "input", lambda x: x),
)
_op("shape", None, "core", "x", lambda x, out_type="int32": np.asarray(
    np.shape(x), to_numpy(str(out_type))), ("compat.v1.shape", "shape"), "input=x out_type",
    tf_only={"out_type": "int32"})
for _u in _UNARY:
    _op(_u[0], _u[1], _u[2], "x", _unary(_u[5]), _u[3], f"{_u[4]}=x", kind="unary",
        aliases=("Abs",) if _u[0] == "absolute" else ())
_op("silu", "Silu", "nn", "x", lambda x, beta=1.0: np.asarray(x) * activations.sigmoid(
    np.asarray(beta * np.asarray(x))), ("nn.silu", "nn.swish"), "features=x beta",
    tf_only={"beta": 1.0}, kind="unary")
_op("gelu", "Gelu", "nn", "x", lambda x, approximate=True: activations.gelu(
    np.asarray(x), bool(approximate)).astype(np.asarray(x).dtype), ("nn.gelu",),
    "features=x approximate", {"approximate": True}, tf_defaults={"approximate": False},
    kind="unary")
_op("leaky_relu", "LeakyRelu", "nn", "x", lambda x, negative_slope=0.2: np.where(
    np.asarray(x) > 0, x, np.asarray(x) * negative_slope).astype(np.asarray(x).dtype),
    ("nn.leaky_relu",), "features=x alpha=negative_slope", {"negative_slope": 0.2}, kind="unary")
_op("elu", "Elu", "nn", "x", lambda x, alpha=1.0: activations.elu(np.asarray(x), alpha).astype(
    np.asarray(x).dtype), ("nn.elu",), "features=x", {"alpha": 1.0}, k3_only={"alpha": 1.0},
    kind="unary")
_op("round", "Round", "numpy", "x", lambda x, decimals=0: np.round(np.asarray(x), decimals),
    ("math.round",), "x", {"decimals": 0}, k3_only={"decimals": 0}, kind="unary")
_op("softmax", "Softmax", "nn", "x", _softmax(activations.softmax), ("nn.softmax",),
    "logits=x axis", {"axis": -1}, kind="unary")
_op("log_softmax", "LogSoftmax", "nn", "x", _softmax(activations.log_softmax),
    ("nn.log_softmax",), "logits=x axis", {"axis": -1}, kind="unary")
_op("normalize", "Normalize", "nn", "x", _normalize, ("math.l2_normalize", "nn.l2_normalize"),
    "x axis epsilon dim=axis", {"axis": -1, "order": 2, "epsilon": None},
    tf_defaults={"axis": None, "epsilon": 1e-12}, k3_only={"order": 2}, kind="unary",
    from_tf=_normalize_from_tf, to_tf=_normalize_to_tf)
_op("cast", "Cast", "core", "x", _cast, ("cast",), "x dtype", {"dtype": None}, kind="unary")
_op("clip", "Clip", "numpy", "x", lambda x, x_min=None, x_max=None: np.clip(
    np.asarray(x), x_min, x_max), ("clip_by_value",),
    "t=x clip_value_min=x_min clip_value_max=x_max", {"x_min": None, "x_max": None}, kind="unary")

# --- reductions
_REDUCE: tuple[tuple[str, str, str, str, Fn, dict[str, Any]], ...] = (
    ("mean", "Mean", "numpy", "math.reduce_mean", np.mean, {}),
    ("sum", "Sum", "numpy", "math.reduce_sum", np.sum, {}),
    ("max", "Max", "numpy", "math.reduce_max", np.max, {"initial": None}),
    ("min", "Min", "numpy", "math.reduce_min", np.min, {"initial": None}),
    ("prod", "Prod", "numpy", "math.reduce_prod", np.prod, {"dtype": None}),
    ("std", "Std", "numpy", "math.reduce_std", np.std, {}),
    ("var", "Var", "numpy", "math.reduce_variance", np.var, {}),
    ("any", "Any", "numpy", "math.reduce_any", np.any, {}),
    ("all", "All", "numpy", "math.reduce_all", np.all, {}),
    ("logsumexp", "Logsumexp", "math", "math.reduce_logsumexp", _logsumexp, {}),
)
for _r in _REDUCE:
    _op(_r[0], _r[1], _r[2], "x", _reduce(_r[4]), (_r[3], "compat.v1." + _r[3],
        "compat.v1." + _r[3][5:]), _RED_TF, {"axis": None, "keepdims": False, **_r[5]},
        k3_only=dict(_r[5]))
_ARG: tuple[tuple[str, str, Fn], ...] = (("argmax", "Argmax", np.argmax),
                                         ("argmin", "Argmin", np.argmin))
for _a in _ARG:
    _op(_a[0], _a[1], "numpy", "x", _argext(_a[2]), ("math." + _a[0],), "input=x axis",
        {"axis": None, "keepdims": False}, tf_defaults={"axis": 0}, k3_only={"keepdims": False},
        tf_ignore={"output_type": "int64"}, tf_no_none=("axis",))
_op("cumsum", "Cumsum", "numpy", "x", lambda x, axis=None, dtype=None: np.cumsum(
    np.asarray(x), axis=axis), ("math.cumsum",), "x axis", {"axis": None, "dtype": None},
    tf_defaults={"axis": 0}, tf_ignore={"exclusive": False, "reverse": False},
    k3_only={"dtype": None}, tf_no_none=("axis",))

# --- shapes, joins and indexing
_op("get_item", "GetItem", "numpy", "x key", _getitem, ("__operators__.getitem",),
    "tensor=x slice_spec=key", tf_ignore={"var": None}, from_tf=_getitem_from_tf,
    to_tf=_getitem_to_tf)
_op("reshape", "Reshape", "numpy", "x", _reshape, ("reshape",), "tensor=x shape=newshape",
    {"newshape": None})
_op("transpose", "Transpose", "numpy", "x", lambda x, axes=None: np.transpose(
    np.asarray(x), axes), ("compat.v1.transpose", "transpose"), "a=x perm=axes",
    {"axes": None}, tf_ignore={"conjugate": False})
_op("concatenate", "Concatenate", "numpy", "xs", _concat, ("concat",), "values=xs axis",
    {"axis": 0})
_op("stack", "Stack", "numpy", "x", _stack, ("stack",), "values=x axis", {"axis": 0})
_op("expand_dims", "ExpandDims", "numpy", "x", lambda x, axis=None: np.expand_dims(
    np.asarray(x), _ax(axis)), ("expand_dims", "compat.v1.expand_dims"), "input=x axis",
    {"axis": None})
_op("squeeze", "Squeeze", "numpy", "x", lambda x, axis=None: np.squeeze(
    np.asarray(x), _ax(axis)), ("compat.v1.squeeze", "squeeze"),
    "input=x axis squeeze_dims=axis", {"axis": None})
_op("tile", "Tile", "numpy", "x", lambda x, repeats=None: np.tile(np.asarray(x), repeats),
    ("tile",), "input=x multiples=repeats", {"repeats": None})
_op("where", "Where", "numpy", "condition x1 x2", _where, ("where",), "condition x=x1 y=x2")
_op("split", "Split", "numpy", "x", _split, ("split",),
    "value=x num_or_size_splits=indices_or_sections axis", {"indices_or_sections": None,
    "axis": 0}, tf_ignore={"num": None}, from_tf=_split_from_tf, to_tf=_split_to_tf)
_op("unstack", "Unstack", "core", "x", _unstack, ("unstack",), "value=x num axis",
    {"num": None, "axis": 0})
_op("take", "Take", "numpy", "x indices", lambda x, indices, axis=None: np.take(
    np.asarray(x), np.asarray(indices), axis=axis), ("compat.v1.gather", "gather"),
    "params=x indices axis", {"axis": None}, tf_defaults={"axis": 0},
    tf_ignore={"validate_indices": None, "batch_dims": 0}, tf_no_none=("axis",))

_BY_TF: dict[str, OpSpec] = {name: spec for spec in OPS.values() for name in spec.tf}
PY_OPERATORS = {"add": "add", "subtract": "subtract", "multiply": "multiply",
                 "divide": "true_divide", "negative": "negative", "power": "power",
                 "matmul": "matmul", "getitem": "get_item"}
"""``KerasTensor`` operator → op (``/`` is ``TrueDivide``, as Keras 3 records it)."""


def op_spec(name: str) -> OpSpec | None:
    """The table row for an op key, a Keras 3 class name or a TF function name."""
    if name in OPS:
        return OPS[name]
    for spec in OPS.values():
        if name == spec.k3 or name in spec.aliases:
            return spec
    return _BY_TF.get(name[3:] if name.startswith("tf.") else name)
