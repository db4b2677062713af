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

:data:`OPS` (in :mod:`.ops_table`) is the one table between the two: per op, the Keras 3 class,
constructor and call arguments, the TF function names and how TF's arguments map to Keras 3's, and
the NumPy forward pass. A layer keeps its calls in the Keras 3 form (call arguments in the node,
constructor arguments in :attr:`OpLayer.op_args`) and renders either dialect from it; a tf_keras
node is also kept verbatim so tf_keras configs render back unchanged. TF functions outside the
table (or arguments it cannot express) stay in tf_keras form: they render for tf_keras only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from ..dtypes import by_numpy, to_numpy
from ..errors import ConfigError, TargetCompatibilityError, UnsupportedFeatureError
from ..model.dialect import Dialect
from ..model.layer import MODULE_FALLBACKS, Layer, register, register_qualified
from ..model.naming import snake_case, unique_name
from ..model.tensor import KerasTensor, flatten, map_structure
from .ops_table import (
    K2_MODULE,
    K3_MODULE,
    OPS,
    PY_OPERATORS,
    Fn,
    OpSpec,
    Untranslatable,
    const_value,
    decode_k3,
    key_to_k3,
    op_spec,
)

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
            raise Untranslatable(f"argument {tf_name}={value!r}")
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
        raise Untranslatable(f"Keras 3 op {spec.k3!r} has no TensorFlow function")
    for k3_name, allowed in spec.k3_only.items():
        if named.get(k3_name, allowed) != allowed:
            raise Untranslatable(f"{k3_name}={named[k3_name]!r} (TF has no such argument)")
    for k3_name in spec.tf_no_none:
        if named.get(k3_name) is None:
            raise Untranslatable(f"{k3_name}=None (TF does not flatten)")
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
    config_is_data: ClassVar[bool] = True
    """The config holds the op's arguments (``axes``, ``axis`` … in the op's own sense): beyond
    ``name``/``trainable``/``dtype`` they are not checked by the layer key table
    (``model/config_schema.py``); the op's own code checks them."""
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
            except Untranslatable as exc:
                raise TargetCompatibilityError(
                    f"layer {self.name!r} ({self.spec.k3}): {exc}; tf_keras cannot load it"
                ) from None
            return (first,), kwargs
        self._k3_class()
        return tuple(key_to_k3(list(node.args))), dict(node.kwargs)

    def from_node_arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any],
                            dialect: Dialect) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """A parsed node → the call to record (tf_keras calls become Keras 3 calls if they can)."""
        if dialect == "keras3" or not isinstance(self, TFOpLambda):
            return tuple(decode_k3(list(args))), decode_k3(dict(kwargs))
        first = args[0] if args else None
        index = len(self.inbound_nodes)
        if self.spec is not None and not self.raw:
            try:
                named = _from_tf(self.spec, first, kwargs)
                call_args, op_args = _split_named(self.spec, named)
                if any(isinstance(t, KerasTensor) for t in flatten(op_args)):
                    raise Untranslatable("a tensor where Keras 3 wants a constant")
                if self._attrs_bound and op_args != self.op_args:
                    raise Untranslatable("nodes with different constant arguments")
            except Untranslatable:
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
            except Untranslatable as exc:
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
            shapes = [t.shape if isinstance(t, KerasTensor) else np.shape(const_value(t))
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
        return tuple(key_to_k3(list(node.args))), dict(node.kwargs)


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
    if name not in PY_OPERATORS:
        raise UnsupportedFeatureError(f"operator {name!r} on symbolic tensors is not supported")
    return apply_op(PY_OPERATORS[name], *args)


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
