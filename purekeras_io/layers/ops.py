"""Operator layers: TensorFlow functions and Keras 3 ops that Functional models record as layers.

Arithmetic, slicing and ``tf.*`` / ``keras.ops.*`` calls on symbolic tensors become one layer per
call. The two generations write them differently:

tf_keras (``TFOpLambda``; ``SlicingOpLambda`` for ``x[…]``)::

    {"module": "tf_keras.src.layers.core.tf_op_layer", "class_name": "TFOpLambda",
     "config": {"name": "tf.math.reduce_mean", "trainable": true, "dtype": "float32",
                "function": "math.reduce_mean"},
     "registered_name": "TFOpLambda", "build_config": {"input_shape": [null, 2, 5]},
     "inbound_nodes": [["tf.nn.relu6", 0, 0, {"axis": -1, "keepdims": true}]]}

  The node is the TF call itself: the function's first argument carries the tensors, in its own
  structure (a single tensor is NOT wrapped in a list: op layers keep the argument structure);
  every other argument is a kwarg by its TF name, tensors as ``[layer, node, index]``. A constant
  first argument (``2.0 - x`` → ``math.subtract(2.0, x)``) is ``["_CONSTANT_VALUE", -1, 2.0,
  {"y": [...]}]``. ``SlicingOpLambda`` (``__operators__.getitem``) has kwarg ``slice_spec``:
  slices as ``{"start", "stop", "step"}``, ``...`` as ``{"class_name": "__ellipsis__"}``, ``null``
  for ``tf.newaxis``; a bare index or slice when the key is not a tuple.

Keras 3 (``keras.src.ops.{numpy,nn,core,math}``; class names shared with layers, e.g. ``Add``)::

    {"module": "keras.src.ops.numpy", "class_name": "Mean",
     "config": {"name": "mean", "axis": -1, "keepdims": true}, "registered_name": "Mean",
     "inbound_nodes": [{"args": [<__keras_tensor__>], "kwargs": {}}]}

  The config holds the op's constructor arguments with their defaults and ``name``, nothing else
  (no ``trainable``/``dtype``/``build_config``: ``Operation(**config)`` refuses them); the node
  holds the call arguments (``GetItem``: ``[x, key]`` with ``__slice__`` / ``__ellipsis__``).

:data:`OPS` is the one table between the two: per op, the Keras 3 class, constructor and call
arguments, the TF function names and how TF's arguments map to Keras 3's, and the NumPy forward
pass. A layer keeps its calls in the Keras 3 form (call arguments in the node, constructor
arguments in :attr:`OpLayer.op_args`) and renders either dialect from it; a tf_keras node is also
kept verbatim so tf_keras configs render back unchanged. TF functions outside the table (or
arguments it cannot express) stay in tf_keras form: they render for tf_keras only.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .. import activations
from ..dtypes import by_numpy, to_numpy
from ..errors import ConfigError, TargetCompatibilityError, UnsupportedFeatureError
from ..model.dialect import Dialect
from ..model.layer import MODULE_FALLBACKS, Layer, register, register_qualified
from ..model.naming import snake_case, unique_name
from ..model.tensor import KerasTensor, flatten, map_structure

__all__ = [
    "OPS",
    "OpLayer",
    "OpSpec",
    "SlicingOpLambda",
    "TFOpLambda",
    "apply_op",
    "apply_operator",
    "op_spec",
]

K2_MODULE = "tf_keras.src.layers.core.tf_op_layer"
K3_MODULE = "keras.src.ops."
ELLIPSIS_K3 = {"class_name": "__ellipsis__", "config": {}}
ELLIPSIS_K2 = {"class_name": "__ellipsis__"}

Fn = Callable[..., Any]


class _Untranslatable(Exception):
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


def _const(value: Any) -> Any:
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
    return lambda x1, x2: f(_const(x1), _const(x2))


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
    a, b = np.asarray(_const(x1)), np.asarray(_const(x2))
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
    return np.concatenate([np.asarray(_const(v)) for v in items], axis=axis)


def _stack(x: Any, axis: int = 0) -> Any:
    return np.stack([np.asarray(_const(v)) for v in x], axis=axis)


def _where(condition: Any, x1: Any = None, x2: Any = None) -> Any:
    if x1 is None and x2 is None:
        return np.stack(np.nonzero(condition), axis=-1)
    return np.where(np.asarray(condition, dtype=bool), _const(x1), _const(x2))


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
        raise _Untranslatable("a tensor inside the slice key")
    return key


def _key_to_k3(key: Any) -> Any:
    if isinstance(key, list):
        return [_key_to_k3(k) for k in key]
    if key is Ellipsis:
        return dict(ELLIPSIS_K3)
    return key


def _decode_k3(value: Any) -> Any:
    """``__ellipsis__`` objects in a Keras 3 node → ``...`` (``__slice__`` is decoded upstream)."""
    if isinstance(value, dict):
        if value.get("class_name") == "__ellipsis__":
            return Ellipsis
        if value.get("class_name") == "__slice__":
            return _key_from_k2(value)
        return {k: _decode_k3(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_k3(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_decode_k3(v) for v in value)
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
            raise _Untranslatable("split sizes with -1 before the last")
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
_PY_OPERATORS = {"add": "add", "subtract": "subtract", "multiply": "multiply",
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


# ============================================================================ translation


def _from_tf(spec: OpSpec, first: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """A TF call (first argument + kwargs by TF name) → Keras 3-named arguments."""
    mapping: dict[str, str] = {}
    for tf_name, k3_name in spec.tf_params:
        mapping.setdefault(tf_name, k3_name)
    named: dict[str, Any] = {}
    bound = {spec.tf_params[0][0]: first, **kwargs}
    for tf_name, value in bound.items():
        if tf_name in mapping:
            k3_name = mapping[tf_name]
            if k3_name in named and value is None:
                continue  # a deprecated spelling left at None (keep_dims, squeeze_dims…)
            named[k3_name] = value
        elif tf_name == "name":
            continue
        elif tf_name in spec.tf_ignore and value == spec.tf_ignore[tf_name]:
            continue
        elif tf_name in spec.tf_ignore and spec.tf_ignore[tf_name] is None and value is None:
            continue
        else:
            raise _Untranslatable(f"argument {tf_name}={value!r}")
    for k3_name in {**spec.attrs, **spec.tf_defaults}:
        if named.get(k3_name) is None:
            if k3_name in spec.tf_defaults:
                named[k3_name] = spec.tf_defaults[k3_name]
            elif spec.attrs.get(k3_name) is not None:
                named[k3_name] = spec.attrs[k3_name]
    return spec.from_tf(named) if spec.from_tf else named


def _to_tf(spec: OpSpec, named: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Keras 3-named arguments → a TF call (first argument, kwargs by TF name)."""
    if not spec.tf:
        raise _Untranslatable(f"Keras 3 op {spec.k3!r} has no TensorFlow function")
    for k3_name, allowed in spec.k3_only.items():
        if named.get(k3_name, allowed) != allowed:
            raise _Untranslatable(f"{k3_name}={named[k3_name]!r} (TF has no such argument)")
    for k3_name in spec.tf_no_none:
        if named.get(k3_name) is None:
            raise _Untranslatable(f"{k3_name}=None (TF does not flatten)")
    named = spec.to_tf(dict(named)) if spec.to_tf else dict(named)
    x1, x2 = named.get("x1"), named.get("x2")
    if (spec.kind == "broadcast" and isinstance(x1, int) and not isinstance(x1, bool)
            and isinstance(x2, KerasTensor) and x2.dtype.startswith(("float", "bfloat"))):
        # TF converts a Python int first argument to int32 (Keras 3 promotes it): 2 ** x → 2.0.
        named["x1"] = float(x1)
    out: dict[str, Any] = {}
    done: set[str] = set()
    for tf_name, k3_name in spec.tf_params:
        if k3_name in done or k3_name not in named:
            continue
        done.add(k3_name)
        if k3_name in spec.tf_only and named[k3_name] == spec.tf_only[k3_name]:
            continue
        out[tf_name] = named[k3_name]
    first = out.pop(spec.tf_params[0][0], None)
    return first, out


def _split_named(spec: OpSpec, named: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """Keras 3-named arguments → (call arguments, constructor + TF-only arguments)."""
    present = [i for i, p in enumerate(spec.call) if p in named]
    args = [named.get(p) for p in spec.call[: (max(present) + 1 if present else 0)]]
    op_args = {**spec.attrs, **spec.tf_only}
    op_args.update({k: v for k, v in named.items() if k not in spec.call})
    return args, op_args


# ============================================================================ layers


class OpLayer(Layer):
    """One recorded operator call (base of the tf_keras and Keras 3 classes).

    ``spec`` is the table row (``None`` for TF functions outside the table), ``op_args`` the
    Keras 3 constructor arguments (plus TF-only ones); ``raw`` means the nodes hold tf_keras calls
    the table cannot express, which render for tf_keras only.
    """

    preserve_input_structure: ClassVar[bool] = True
    """tf_keras writes an op layer's first argument in its own structure (see serialize.py)."""
    spec_key: ClassVar[str | None] = None

    def __init__(self, spec: OpSpec | None = None, op_args: dict[str, Any] | None = None,
                 function: str | None = None, **kwargs: Any) -> None:
        self.spec = spec if spec is not None else (OPS[self.spec_key] if self.spec_key else None)
        self.tf_function = function
        self.op_args: dict[str, Any] = {}
        if self.spec is not None:
            self.op_args = {**self.spec.attrs, **self.spec.tf_only}
        self.op_args.update(op_args or {})
        self.raw = False
        self._k2_nodes: dict[int, tuple[Any, dict[str, Any]]] = {}
        self._attrs_bound = op_args is not None
        self._pending: tuple[Any, Any] | None = None
        if not kwargs.get("name"):
            kwargs["name"] = unique_name(self._auto_name())
        super().__init__(**kwargs)

    def _auto_name(self) -> str:
        if self.spec is not None and self.spec.key:
            return self.spec.key
        return "tf." + (self.tf_function or "op")

    # ---------------------------------------------------------------- config

    def _k3_class(self) -> tuple[str, str]:
        spec = self.spec
        if self.raw or spec is None or spec.k3 is None:
            what = f"TF function {self.tf_function!r}" if self.tf_function else "this op"
            raise TargetCompatibilityError(
                f"layer {self.name!r}: {what} has no Keras 3 op (or uses arguments Keras 3 "
                "cannot express); Keras 3 cannot load it"
            )
        return spec.k3, K3_MODULE + spec.k3_module

    def _k3_attrs(self) -> dict[str, Any]:
        assert self.spec is not None
        for key, default in self.spec.tf_only.items():
            if self.op_args.get(key, default) != default:
                raise TargetCompatibilityError(
                    f"layer {self.name!r}: {key}={self.op_args[key]!r} of TF function "
                    f"{self.spec.tf[0]!r} has no Keras 3 equivalent in op {self.spec.k3!r}"
                )
        return {k: v for k, v in self.op_args.items() if k not in self.spec.tf_only}

    def _k2_function(self) -> str:
        if self.tf_function:
            return self.tf_function
        if self.spec is not None and self.spec.tf:
            return self.spec.tf[0]
        raise TargetCompatibilityError(
            f"layer {self.name!r}: Keras 3 op {self.class_name()!r} has no TensorFlow function; "
            "tf_keras cannot load it"
        )

    def get_config(self, dialect: Dialect = "keras3") -> dict[str, Any]:
        if dialect == "keras2":
            return {"name": self.name, "trainable": self.trainable,
                    "dtype": self.config.get("dtype") or "float32", "function": self._k2_function()}
        self._k3_class()
        return {"name": self.name, **self._k3_attrs()}

    def serialize_entry(self, entry: dict[str, Any], dialect: Dialect) -> dict[str, Any]:
        if dialect == "keras2":
            fn = self._k2_function()
            cls = getattr(self, "_k2_class", None) or (
                "SlicingOpLambda" if fn == "__operators__.getitem" else "TFOpLambda")
            entry.update(module=K2_MODULE, class_name=cls, registered_name=cls)
            return entry
        name, module = self._k3_class()
        entry.update(module=module, class_name=name, registered_name=name)
        entry.pop("build_config", None)
        return entry

    # ---------------------------------------------------------------- nodes

    def node_arguments(self, node: Any, dialect: Dialect) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The node's call in the dialect: tf_keras ``((first,), kwargs)``, Keras 3 as recorded."""
        index = self.inbound_nodes.index(node)
        if dialect == "keras2":
            if index in self._k2_nodes:
                first, kwargs = self._k2_nodes[index]
                return (first,), dict(kwargs)
            if self.raw:
                return tuple(node.args), dict(node.kwargs)
            assert self.spec is not None
            named = {**dict(zip(self.spec.call, node.args)), **node.kwargs, **self.op_args}
            try:
                first, kwargs = _to_tf(self.spec, named)
            except _Untranslatable as exc:
                raise TargetCompatibilityError(
                    f"layer {self.name!r} ({self.spec.k3}): {exc}; tf_keras cannot load it"
                ) from None
            return (first,), kwargs
        self._k3_class()
        return tuple(_key_to_k3(list(node.args))), dict(node.kwargs)

    def from_node_arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any],
                            dialect: Dialect) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """A parsed node → the call to record (tf_keras calls become Keras 3 calls if they can)."""
        if dialect == "keras3" or not isinstance(self, TFOpLambda):
            return tuple(_decode_k3(list(args))), _decode_k3(dict(kwargs))
        first = args[0] if args else None
        index = len(self.inbound_nodes)
        if self.spec is not None and not self.raw:
            try:
                named = _from_tf(self.spec, first, kwargs)
                call_args, op_args = _split_named(self.spec, named)
                if any(isinstance(t, KerasTensor) for t in flatten(op_args)):
                    raise _Untranslatable("a tensor where Keras 3 wants a constant")
                if self._attrs_bound and op_args != self.op_args:
                    raise _Untranslatable("nodes with different constant arguments")
            except _Untranslatable:
                if index > 0:
                    raise ConfigError(
                        f"layer {self.name!r} ({self.tf_function}): node {index} cannot be "
                        "expressed like the layer's earlier nodes"
                    ) from None
            else:
                self.op_args, self._attrs_bound = op_args, True
                self._k2_nodes[index] = (first, dict(kwargs))
                return tuple(call_args), {}
        self.raw = True
        return (first,), dict(kwargs)

    # ---------------------------------------------------------------- computing

    def _resolve(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Fn, list[Any], dict[str, Any]]:
        spec = self.spec
        if spec is None:
            raise UnsupportedFeatureError(
                f"layer {self.name!r}: TF function {self.tf_function!r} has no NumPy forward pass "
                "in purekeras_io; its config is kept, but predict cannot run it"
            )
        if self.raw:
            try:
                named = _from_tf(spec, args[0] if args else None, kwargs)
            except _Untranslatable as exc:
                raise UnsupportedFeatureError(
                    f"layer {self.name!r}: TF function {self.tf_function!r} with {exc} has no "
                    "NumPy forward pass in purekeras_io"
                ) from None
            call_args, op_args = _split_named(spec, named)
            return spec.fn, call_args, op_args
        extra = set(self.op_args) - set(spec.attrs) - set(spec.tf_only)
        if extra:
            raise UnsupportedFeatureError(
                f"layer {self.name!r}: op {spec.k3!r} argument(s) {sorted(extra)} are unknown to "
                "purekeras_io"
            )
        return spec.fn, list(args), {**kwargs, **self.op_args}

    def call(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.pop("mask", None)
        kwargs.pop("training", None)
        fn, call_args, call_kwargs = self._resolve(args, kwargs)
        with np.errstate(all="ignore"):
            out = fn(*call_args, **call_kwargs)
        if isinstance(out, (list, tuple)):
            return [np.asarray(o) for o in out]
        return np.asarray(out)

    def build(self, input_shape: Any) -> None:
        """Built on the first argument's shape (tf_keras writes ``[]`` for a constant)."""
        super().build(_shape_or_empty(input_shape))

    def _call_symbolic(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        self._pending = self._infer(args, kwargs)
        try:
            return super()._call_symbolic(args, kwargs)
        finally:
            self._pending = None

    def compute_output_shape(self, input_shape: Any) -> Any:
        return self._pending[0] if self._pending is not None else input_shape

    def compute_output_dtype(self, input_dtype: Any) -> Any:
        return self._pending[1] if self._pending is not None else input_dtype

    def _infer(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
        """Output shape(s) and dtype(s): by the op's shape rule, or by running it on stand-ins."""
        tensors = [t for t in flatten((args, kwargs)) if isinstance(t, KerasTensor)]
        try:
            fn, call_args, call_kwargs = self._resolve(args, kwargs)
        except UnsupportedFeatureError:
            return tensors[0].shape, tensors[0].dtype  # kept as data: shape unknown to us
        if self.raw and any(isinstance(t, KerasTensor) for t in flatten(call_kwargs)):
            # Sizes that come from tensor values (reshape to tf.shape(x)): unknown, rank kept.
            return tuple(None for _ in tensors[0].shape), tensors[0].dtype
        kind = self.spec.kind if self.spec is not None and not self.raw else "eval"
        if kind in ("unary", "broadcast"):
            small = _stand_ins((call_args, call_kwargs), None)
            with np.errstate(all="ignore"):
                dtype = _dtype_name(fn(*small[0], **small[1]))
            shapes = [t.shape if isinstance(t, KerasTensor) else np.shape(_const(t))
                      for t in call_args]
            return (shapes[0] if kind == "unary" else _broadcast(shapes)), dtype
        results = []
        error: Exception | None = None
        for sizes in ((2, 3), (7, 11)):
            try:
                for size in sizes:
                    big = _stand_ins((call_args, call_kwargs), size)
                    with np.errstate(all="ignore"):
                        results.append(fn(*big[0], **big[1]))
                break
            except (ValueError, IndexError, TypeError) as exc:
                results, error = [], exc
        if not results:
            raise ConfigError(
                f"layer {self.name!r}: cannot compute the output of "
                f"{self.spec and self.spec.key!r} for inputs {[t.shape for t in tensors]}: {error}"
            )
        a, b = results
        if isinstance(a, (list, tuple)):
            return [_merge_shape(x, y) for x, y in zip(a, b)], [_dtype_name(x) for x in a]
        return _merge_shape(a, b), _dtype_name(a)


@register
class TFOpLambda(OpLayer):
    """tf_keras' op layer: ``config["function"]`` names the TF function (``math.multiply``)."""

    module = K2_MODULE

    def __init__(self, function: str | None = None, **kwargs: Any) -> None:
        spec = kwargs.pop("spec", None) or (op_spec(function) if function else None)
        super().__init__(spec=spec, function=function, **kwargs)
        self._k2_class = type(self).__name__

    @classmethod
    def from_config(cls, config: dict[str, Any], dialect: Dialect = "keras3") -> Layer:
        config = dict(config)
        function = config.pop("function", None)
        if not isinstance(function, str):
            raise ConfigError(f"{cls.__name__} config: 'function' must be a TF function name, "
                              f"received {function!r}")
        keep = {k: config.pop(k) for k in ("name", "trainable", "dtype") if k in config}
        return cls(function=function, _from_config=True, _dialect=dialect, **keep)


@register
class SlicingOpLambda(TFOpLambda):
    """tf_keras' slicing op layer (``__operators__.getitem``, ``boolean_mask``)."""


class _Keras3Op(OpLayer):
    """Base of the Keras 3 op classes made from the table (one per class name)."""

    @classmethod
    def from_config(cls, config: dict[str, Any], dialect: Dialect = "keras3") -> Layer:
        config = dict(config)
        name = config.pop("name", None)
        return cls(op_args=config, name=name, _from_config=True, _dialect=dialect)


class _OpaqueOp(_Keras3Op):
    """A Keras 3 op outside the table: config kept verbatim, rendered for Keras 3 only."""

    k3_module_name: ClassVar[str] = ""

    def _k3_class(self) -> tuple[str, str]:
        return self.class_name(), self.module

    def _k3_attrs(self) -> dict[str, Any]:
        return dict(self.op_args)

    def _auto_name(self) -> str:
        return snake_case(self.class_name())

    def node_arguments(self, node: Any, dialect: Dialect) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if dialect == "keras2":
            self._k2_function()
        return tuple(_key_to_k3(list(node.args))), dict(node.kwargs)


_K3_CLASSES: dict[str, type[OpLayer]] = {}
for _spec in OPS.values():
    if _spec.k3 is None:
        continue
    for _name in (_spec.k3, *_spec.aliases):
        _cls = type(_name, (_Keras3Op,), {
            "spec_key": _spec.key, "module": K3_MODULE + _spec.k3_module,
            "__doc__": f"Keras 3 op ``{_name}`` (``{_spec.key}``)."})
        register_qualified(K3_MODULE + _spec.k3_module, _name, _cls)
        _K3_CLASSES.setdefault(_spec.key, _cls)

_OPAQUE: dict[tuple[str, str], type[OpLayer]] = {}


def _opaque_factory(module: str) -> Callable[[str], type[Layer]]:
    def make(class_name: str) -> type[Layer]:
        if (module, class_name) not in _OPAQUE:
            _OPAQUE[(module, class_name)] = type(class_name, (_OpaqueOp,), {"module": module})
        return _OPAQUE[(module, class_name)]

    return make


for _module in ("numpy", "nn", "core", "math", "linalg", "image"):
    MODULE_FALLBACKS[K3_MODULE + _module] = _opaque_factory(K3_MODULE + _module)


# ============================================================================ building


def apply_op(op: str, *args: Any, **kwargs: Any) -> Any:
    """Record (or, on arrays, compute) one op: ``apply_op("mean", x, axis=-1, keepdims=True)``.

    ``op`` is an op key, a Keras 3 class name or a TF function name; keyword arguments that are
    constructor arguments of the Keras 3 op (or TF-only arguments such as ``transpose_b``) go to
    the layer, the rest to the call.
    """
    spec = op_spec(op)
    if spec is None:
        raise ConfigError(f"operator {op!r} is not known; known: {', '.join(sorted(OPS))}")
    op_args = {k: kwargs.pop(k) for k in list(kwargs) if k in spec.attrs or k in spec.tf_only}
    unknown = [k for k in kwargs if k not in spec.call and k != "name"]
    if unknown:
        raise ConfigError(f"operator {spec.key!r}: unknown argument(s) {unknown}; call "
                          f"arguments {list(spec.call)}, constructor arguments {list(spec.attrs)}")
    name = kwargs.pop("name", None)
    if spec.key == "get_item" and len(args) == 2:
        args = (args[0], _normalize_key(args[1]))
    layer: OpLayer
    if spec.k3 is None:
        layer = TFOpLambda(function=spec.tf[0], spec=spec, op_args=op_args, name=name)
    else:
        layer = _K3_CLASSES[spec.key](op_args=op_args, name=name)
    return layer(*args, **kwargs)


def apply_operator(name: str, *args: Any) -> Any:
    """A Python operator on a ``KerasTensor`` (``x + 1``, ``x[:, 0]``…) → an op layer call."""
    if name not in _PY_OPERATORS:
        raise UnsupportedFeatureError(f"operator {name!r} on symbolic tensors is not supported")
    return apply_op(_PY_OPERATORS[name], *args)


def _normalize_key(key: Any) -> Any:
    """A ``__getitem__`` key as Keras 3 records it: tuples as lists, a lone slice/None/… wrapped."""
    if isinstance(key, tuple):
        return list(key)
    if isinstance(key, slice) or key is None or key is Ellipsis:
        return [key]
    return key


# ============================================================================ shape helpers


def _shape_or_empty(shape: Any) -> Any:
    if isinstance(shape, tuple) or (isinstance(shape, list) and all(
            isinstance(d, int) or d is None for d in shape)):
        return tuple(shape)
    if isinstance(shape, list):
        return [_shape_or_empty(s) for s in shape]
    return ()


def _stand_ins(structure: Any, size: int | None) -> Any:
    """KerasTensors → read-only arrays of ones (unknown sizes → ``size``; ``None``: all ones)."""

    def one(t: Any) -> Any:
        if not isinstance(t, KerasTensor):
            return t
        dtype = to_numpy(t.dtype) if t.dtype != "string" else np.dtype(object)
        shape = tuple(1 if size is None else (size if d is None else d) for d in t.shape)
        return np.broadcast_to(np.ones((), dtype), shape)

    return map_structure(one, structure)


def _dtype_name(value: Any) -> str:
    return by_numpy(np.asarray(value).dtype).name


def _merge_shape(a: Any, b: Any) -> tuple[int | None, ...]:
    sa, sb = np.shape(a), np.shape(b)
    if len(sa) != len(sb):
        raise ConfigError(f"op output rank depends on the batch size: {sa} vs {sb}")
    return tuple(x if x == y else None for x, y in zip(sa, sb))


def _broadcast(shapes: list[tuple[int | None, ...]]) -> tuple[int | None, ...]:
    """Broadcast shapes with unknown sizes (``None`` against 1 stays ``None``)."""
    rank = max(len(s) for s in shapes)
    out: list[int | None] = []
    for i in range(rank):
        dims = [s[i - rank + len(s)] for s in shapes if i - rank + len(s) >= 0]
        known = [d for d in dims if d is not None and d != 1]
        if known:
            out.append(known[0])
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)
