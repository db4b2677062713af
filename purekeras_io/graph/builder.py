"""Building TensorFlow ``FunctionDef`` bodies and ``GraphDef`` nodes without TensorFlow.

A :class:`FunctionBuilder` collects the nodes of one function: arguments (``arg``), ops
(``op``, checked against :mod:`.opdefs`: every input argument given, type attributes inferred
from the inputs, list lengths counted, attributes equal to their default left out), constants
and outputs; ``build`` renders the ``FunctionDef``. A :class:`GraphBuilder` does the same for
the ``nodes`` of a ``GraphDef`` (the main graph).

References follow the two conventions of TensorFlow:

* inside a function a node output is ``node:<output arg>:<i>`` (``mm:product:0``) and a
  function argument its bare name;
* in a ``GraphDef`` it is ``node`` (output 0) or ``node:<flat index>``.

Names are deterministic: a node is named after the scope and the op (``dense/MatMul``), and a
name already taken gets ``_1``, ``_2``… in creation order. Argument names are made valid
(``[a-z][a-z0-9_]*``) the same way. Nothing depends on counters shared between builders.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from .._proto.tf import (
    attr_value_pb2,
    function_pb2,
    graph_pb2,
    node_def_pb2,
    op_def_pb2,
    types_pb2,
)
from . import opdefs
from .attrs import Shape, attr_value, dtype_enum, shape_proto, tensor_proto

__all__ = ["FunctionBuilder", "GraphBuilder", "Library", "Tensor", "arg_name"]


@dataclass(frozen=True)
class Tensor:
    """One value in a function or graph under construction."""

    ref: str
    """How a node input names it (see the module docstring)."""
    dtype: str
    """Our dtype name (``float32``), or ``resource`` / ``variant``."""
    shape: Shape = None
    """Static shape, ``None`` entries for unknown dimensions (None: unknown rank)."""
    node: str = ""
    """The producing node (empty for a function argument)."""

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)


_ARG_BAD = re.compile(r"[^a-z0-9_]")
_NODE_BAD = re.compile(r"[^A-Za-z0-9_.\-/]")


def arg_name(name: str) -> str:
    """A valid FunctionDef argument name (``[a-z][a-z0-9_]*``) for ``name``."""
    out = _ARG_BAD.sub("_", name.lower())
    return out if out and out[0].isalpha() else f"a_{out}"


_UNARY_SAME_SHAPE = frozenset(
    {
        "Abs", "Acos", "Acosh", "Asin", "Asinh", "Atan", "Atanh", "Ceil", "Cos", "Cosh", "Elu",
        "Erf", "Exp", "Expm1", "Floor", "Identity", "IsFinite", "IsInf", "IsNan", "LeakyRelu",
        "Log", "Log1p", "LogSoftmax", "LogicalNot", "Neg", "OnesLike", "Reciprocal", "Relu",
        "Relu6", "Rint", "Round", "Rsqrt", "Selu", "Sigmoid", "Sign", "Sin", "Sinh", "Snapshot",
        "Softmax", "Softplus", "Softsign", "Sqrt", "Square", "StopGradient", "Tan", "Tanh",
        "ZerosLike", "Cast", "BiasAdd", "ClipByValue", "Cumsum", "Cumprod", "ReverseV2",
    }
)
_BINARY_BROADCAST = frozenset(
    {
        "AddV2", "Sub", "Mul", "RealDiv", "DivNoNan", "Maximum", "Minimum", "Pow", "FloorDiv",
        "FloorMod", "Mod", "TruncateDiv", "SquaredDifference", "Equal", "NotEqual", "Less",
        "LessEqual", "Greater", "GreaterEqual", "LogicalAnd", "LogicalOr", "Xlogy", "Xdivy",
        "Atan2", "BitwiseAnd", "SelectV2",
    }
)


def broadcast_shapes(*shapes: Shape) -> Shape:
    """NumPy broadcasting of static shapes (unknown dims stay unknown unless the other is > 1)."""
    if any(s is None for s in shapes):
        return None
    rank = max(len(s) for s in shapes if s is not None)
    out: list[int | None] = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if s is not None and len(s) - rank + i >= 0]
        known = [d for d in dims if d is not None and d != 1]
        if known:
            out.append(known[0])
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


class _Builder:
    """What function and graph builders share: naming, op checking, constants."""

    def __init__(self) -> None:
        self._nodes: list[node_def_pb2.NodeDef] = []
        self._taken: set[str] = set()
        self._next_suffix: dict[str, int] = {}
        self._scope: list[str] = []
        self._consts: dict[tuple[Any, ...], Tensor] = {}
        self.ops_used: set[str] = set()
        self.stateful = False

    # ------------------------------------------------------------------ names

    def unique(self, base: str) -> str:
        base = _NODE_BAD.sub("_", base) or "node"
        if base[0] in "_-/":
            base = "n" + base
        if base not in self._taken:
            self._taken.add(base)
            return base
        # the smallest free suffix, searched from where the last search for ``base`` ended
        # (names are only ever added, so no smaller suffix can have become free)
        k = self._next_suffix.get(base, 1)
        name = f"{base}_{k}"
        while name in self._taken:
            k += 1
            name = f"{base}_{k}"
        self._taken.add(name)
        self._next_suffix[base] = k + 1
        return name

    @contextlib.contextmanager
    def scope(self, name: str) -> Iterator[None]:
        """Nodes created inside are named ``<scope>/<op>``."""
        self._scope.append(_NODE_BAD.sub("_", name))
        try:
            yield
        finally:
            self._scope.pop()

    def _node_name(self, op_type: str, name: str | None) -> str:
        return self.unique("/".join([*self._scope, name or op_type]))

    def _ref(self, node: str, op: opdefs.OpDef, arg_index: int, flat: int, i: int) -> str:
        raise NotImplementedError

    # ------------------------------------------------------------------ ops

    def op(
        self,
        op_type: str,
        *inputs: Tensor | Sequence[Tensor],
        name: str | None = None,
        shape: Shape | Sequence[Shape] = None,
        control: Sequence[str] = (),
        **attrs: Any,
    ) -> Any:
        """Add one node; returns its output Tensor (one output), a tuple (several or none).

        ``inputs`` follow the OpDef's input arguments in order (a list for ``N*T`` / type-list
        arguments). ``shape`` is the static output shape (a list of shapes for several
        outputs); without it simple cases are inferred (elementwise ops), others are unknown.
        """
        op = opdefs.get(op_type)
        if op.attr("shape") is not None and "shape" not in attrs:
            # Placeholder / VarHandleOp: ``shape`` is the op's attribute
            attrs["shape"] = shape
            shape = shape if op_type == "Placeholder" else None
        if len(inputs) != len(op.inputs):
            raise ValueError(
                f"{op_type}: expects {len(op.inputs)} inputs "
                f"({[a.name for a in op.inputs]}), received {len(inputs)}"
            )
        values: dict[str, Any] = dict(attrs)
        flat_inputs: list[Tensor] = []
        for arg, given in zip(op.inputs, inputs):
            tensors = [given] if isinstance(given, Tensor) else list(given)
            if arg.number_attr:
                values.setdefault(arg.number_attr, len(tensors))
            elif arg.type_list_attr:
                values.setdefault(arg.type_list_attr, [t.dtype for t in tensors])
            elif len(tensors) != 1:
                raise ValueError(f"{op_type}: input {arg.name!r} takes one tensor")
            if arg.type_attr and tensors:
                values.setdefault(arg.type_attr, tensors[0].dtype)
            flat_inputs.extend(tensors)
        node = node_def_pb2.NodeDef()
        node.name = self._node_name(op_type, name)
        node.op = op_type
        node.input.extend(t.ref for t in flat_inputs)
        node.input.extend(f"^{c}" for c in control)
        for attr in op.attrs:
            if attr.name not in values:
                if not attr.has_default:
                    raise ValueError(f"{op_type}: required attribute {attr.name!r} is missing")
                continue
            value = attr_value(attr.type, values.pop(attr.name))
            if attr.has_default and value == _default_value(op_type, attr):
                continue  # stripped_default_attrs
            node.attr[attr.name].CopyFrom(value)
        extra = [k for k in values if not k.startswith("_")]
        if extra:
            raise ValueError(f"{op_type}: unknown attribute(s) {extra}")
        for key, value in values.items():  # private attrs (_output_shapes …), given as AttrValue
            node.attr[key].CopyFrom(value)
        self._nodes.append(node)
        self.ops_used.add(op_type)
        self.stateful = self.stateful or op.is_stateful
        outputs = self._outputs(node, op, attr_values={**attrs, **_inferred(op, inputs)})
        final = [
            Tensor(t.ref, t.dtype, s, t.node)
            for t, s in zip(outputs, self._shape_list(op_type, outputs, flat_inputs, shape))
        ]
        if len(final) == 1:
            return final[0]
        return tuple(final)

    def _outputs(self, node: node_def_pb2.NodeDef, op: opdefs.OpDef,
                 attr_values: dict[str, Any]) -> list[Tensor]:
        out: list[Tensor] = []
        flat = 0
        for index, arg in enumerate(op.outputs):
            if arg.type_list_attr:
                dtypes = [_dtype_name(d) for d in attr_values[arg.type_list_attr]]
            else:
                if arg.fixed:
                    dtype = _dtype_name(arg.fixed)
                elif arg.type_attr in attr_values:
                    dtype = _dtype_name(attr_values[arg.type_attr])
                else:
                    dtype = _dtype_name(_default_of(op, arg))
                count = int(attr_values[arg.number_attr]) if arg.number_attr else 1
                dtypes = [dtype] * count
            for i, dt in enumerate(dtypes):
                out.append(Tensor(self._ref(node.name, op, index, flat, i), dt, None, node.name))
                flat += 1
        return out

    @staticmethod
    def _shape_list(op_type: str, outputs: list[Tensor], inputs: list[Tensor],
                    shape: Any) -> list[Shape]:
        if len(outputs) == 1:
            if shape is not None:
                return [tuple(shape)]
            if op_type in _UNARY_SAME_SHAPE and inputs:
                return [inputs[0].shape]
            if op_type in _BINARY_BROADCAST and len(inputs) >= 2:
                return [broadcast_shapes(*(t.shape for t in inputs))]
            if op_type == "ReadVariableOp":
                return [inputs[0].shape]
            return [None]
        if shape is None:
            return [None] * len(outputs)
        shapes = list(shape)
        return [None if s is None else tuple(s) for s in shapes] + [None] * (
            len(outputs) - len(shapes)
        )

    def const(self, value: Any, dtype: str | None = None, name: str | None = None) -> Tensor:
        """A ``Const`` node (identical constants are one node)."""
        arr = np.asarray(value)
        proto = tensor_proto(arr, dtype)
        key = (proto.SerializeToString(deterministic=True),)
        if key in self._consts and name is None:
            return self._consts[key]
        t = cast(
            Tensor,
            self.op(
                "Const", name=name or "Const", dtype=int(proto.dtype), value=proto,
                shape=tuple(int(d) for d in arr.shape),
            ),
        )
        if name is None:
            self._consts[key] = t
        return t

    def nodes(self) -> list[node_def_pb2.NodeDef]:
        return list(self._nodes)

    def last_node(self) -> node_def_pb2.NodeDef:
        """The node added last."""
        return self._nodes[-1]


_DEFAULTS: dict[tuple[str, str], attr_value_pb2.AttrValue] = {}


def _default_value(op_type: str, attr: Any) -> attr_value_pb2.AttrValue:
    """An attribute's default as an ``AttrValue`` (made once per op and attribute)."""
    key = (op_type, attr.name)
    found = _DEFAULTS.get(key)
    if found is None:
        found = _DEFAULTS[key] = attr_value(attr.type, attr.default)
    return found


def _inferred(op: opdefs.OpDef, inputs: Sequence[Tensor | Sequence[Tensor]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for arg, given in zip(op.inputs, inputs):
        tensors = [given] if isinstance(given, Tensor) else list(given)
        if arg.number_attr:
            out[arg.number_attr] = len(tensors)
        if arg.type_list_attr:
            out[arg.type_list_attr] = [t.dtype for t in tensors]
        if arg.type_attr and tensors:
            out.setdefault(arg.type_attr, tensors[0].dtype)
    return out


def _default_of(op: opdefs.OpDef, arg: opdefs.ArgDef) -> Any:
    attr = op.attr(arg.type_attr)
    if attr is None or not attr.has_default:
        raise ValueError(f"{op.name}: the type of output {arg.name!r} ({arg.type_attr}) is unknown")
    return attr.default


_ENUM_NAMES = {20: "resource", 21: "variant"}


def _dtype_name(value: Any) -> str:
    """Our dtype name of a dtype given as a name or a TensorFlow enum."""
    from ..dtypes import by_tf_enum

    if isinstance(value, str):
        return value
    number = int(value)
    return _ENUM_NAMES.get(number) or by_tf_enum(number).name


class FunctionBuilder(_Builder):
    """The body of one ``FunctionDef``."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self._args: list[op_def_pb2.OpDef.ArgDef] = []
        self._arg_shapes: list[Shape] = []  # () for resources, as TF records them
        self._arg_names: set[str] = set()
        self._rets: list[tuple[str, Tensor]] = []
        self._control_rets: list[str] = []
        self.attrs: dict[str, attr_value_pb2.AttrValue] = {}

    def _ref(self, node: str, op: opdefs.OpDef, arg_index: int, flat: int, i: int) -> str:
        return f"{node}:{op.outputs[arg_index].name}:{i}"

    def arg(self, name: str, dtype: str, shape: Shape = None,
            handle: tuple[str, Shape] | None = None) -> Tensor:
        """A function argument (``handle``: the dtype and shape a resource argument holds)."""
        base = arg_name(name)
        unique, k = base, 0
        while unique in self._arg_names or unique in self._taken:
            k += 1
            unique = f"{base}_{k}"
        self._arg_names.add(unique)
        self._taken.add(unique)
        proto = op_def_pb2.OpDef.ArgDef()
        proto.name = unique
        proto.type = cast(types_pb2.DataType, dtype_enum(dtype))
        if handle is not None:
            data = proto.handle_data.add()
            data.dtype = cast(types_pb2.DataType, dtype_enum(handle[0]))
            data.shape.CopyFrom(shape_proto(handle[1]))
        self._args.append(proto)
        self._arg_shapes.append(() if handle is not None or dtype == "resource" else shape)
        return Tensor(unique, dtype, shape)

    def ret(self, name: str, tensor: Tensor) -> str:
        """Return ``tensor`` as output ``name`` (made a valid, unique argument name)."""
        base = arg_name(name)
        taken = {n for n, _ in self._rets}
        unique, k = base, 0
        while unique in taken:
            k += 1
            unique = f"{base}_{k}"
        self._rets.append((unique, tensor))
        return unique

    def control_ret(self, node: str) -> None:
        self._control_rets.append(node)

    def build(self) -> function_pb2.FunctionDef:
        fdef = function_pb2.FunctionDef()
        sig = fdef.signature
        sig.name = self.name
        sig.input_arg.extend(self._args)
        # Argument shapes as TF records them (``_input_shapes``; ``arg_attr[i]._output_shapes``
        # and ``_user_specified_name``): TF's loaders do not need them, but tf2onnx freezes a
        # signature into placeholders of exactly these shapes (scalars when missing).
        fdef.attr["_input_shapes"].list.shape.extend(shape_proto(s) for s in self._arg_shapes)
        for i, (arg, shape) in enumerate(zip(self._args, self._arg_shapes)):
            attrs = fdef.arg_attr[i].attr
            if arg.type != types_pb2.DT_RESOURCE:
                attrs["_output_shapes"].list.shape.add().CopyFrom(shape_proto(shape))
            attrs["_user_specified_name"].s = arg.name.encode()
        for name, tensor in self._rets:
            out = sig.output_arg.add()
            out.name = name
            out.type = cast(types_pb2.DataType, dtype_enum(tensor.dtype))
            fdef.ret[name] = tensor.ref
        for node in self._control_rets:
            sig.control_output.append(node)
            fdef.control_ret[node] = node
        sig.is_stateful = self.stateful
        fdef.node_def.extend(self._nodes)
        for key, value in self.attrs.items():
            fdef.attr[key].CopyFrom(value)
        return fdef


class GraphBuilder(_Builder):
    """The nodes of a ``GraphDef`` (the MetaGraphDef's main graph)."""

    def _ref(self, node: str, op: opdefs.OpDef, arg_index: int, flat: int, i: int) -> str:
        return node if flat == 0 else f"{node}:{flat}"

    def placeholder(self, name: str, dtype: str, shape: Shape) -> Tensor:
        return cast(Tensor, self.op("Placeholder", name=name, dtype=dtype, shape=shape))

    def graph_def(self) -> graph_pb2.GraphDef:
        out = graph_pb2.GraphDef()
        out.node.extend(self._nodes)
        return out

    @staticmethod
    def tensor_name(t: Tensor) -> str:
        """The ``name:index`` form signatures use (``serving_default_x:0``)."""
        return t.ref if ":" in t.ref else f"{t.ref}:0"


class Library:
    """The functions of a SavedModel, in the order they were added, and the ops they use."""

    def __init__(self) -> None:
        self.functions: dict[str, function_pb2.FunctionDef] = {}
        self.ops_used: set[str] = set()
        self._names: set[str] = set()

    def reserve(self, base: str) -> str:
        """A function name ``__inference_<base>_<k>`` not used before in this library."""
        stem = _NODE_BAD.sub("_", base).replace("/", "_").replace("-", "_").replace(".", "_")
        k = 0
        while f"__inference_{stem}_{k}" in self._names:
            k += 1
        name = f"__inference_{stem}_{k}"
        self._names.add(name)
        return name

    def add(self, builder: FunctionBuilder) -> function_pb2.FunctionDef:
        fdef = builder.build()
        if fdef.signature.name in self.functions:
            raise ValueError(f"function {fdef.signature.name!r} defined twice")
        self.functions[fdef.signature.name] = fdef
        self.ops_used |= builder.ops_used
        self._names.add(fdef.signature.name)
        return fdef
