"""Python values → ``AttrValue`` / ``TensorProto`` / ``TensorShapeProto`` (``attr_value.proto``).

An attribute's kind comes from its OpDef (:mod:`.opdefs`), so a Python ``1`` becomes ``i: 1`` for
an ``int`` attribute and ``f: 1.0`` for a ``float`` one. Dtypes are our dtype names
(``"float32"``) or TensorFlow enum numbers; shapes are tuples with ``None`` for unknown
dimensions, or ``None`` for an unknown rank. Constants are written as ``tensor_content`` (raw
little-endian bytes), scalars and strings as typed value fields, as TensorFlow writes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from .._proto.tf import attr_value_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
from ..dtypes import by_keras_name, by_numpy

__all__ = ["Shape", "attr_value", "dtype_enum", "shape_proto", "tensor_proto"]

Shape = tuple[int | None, ...] | None
"""A static shape: dimensions (None = unknown), or None for an unknown rank."""


def dtype_enum(dtype: str | int) -> int:
    """TensorFlow ``DataType`` number of one of our dtype names (or a number, passed through)."""
    if isinstance(dtype, int):
        return dtype
    if dtype == "resource":
        return 20
    if dtype == "variant":
        return 21
    return by_keras_name(dtype).tf_enum


def shape_proto(shape: Shape) -> tensor_shape_pb2.TensorShapeProto:
    proto = tensor_shape_pb2.TensorShapeProto()
    if shape is None:
        proto.unknown_rank = True
        return proto
    for dim in shape:
        proto.dim.add().size = -1 if dim is None else int(dim)
    return proto


def tensor_proto(value: Any, dtype: str | None = None) -> tensor_pb2.TensorProto:
    """A constant: numbers as ``tensor_content`` (scalars as one typed value), strings as
    ``string_val``."""
    arr = np.asarray(value)
    if dtype is not None and by_keras_name(dtype).name != "string":
        arr = arr.astype(by_keras_name(dtype).numpy)
    row = by_numpy(arr.dtype)
    proto = tensor_pb2.TensorProto()
    proto.dtype = cast(types_pb2.DataType, row.tf_enum)
    proto.tensor_shape.CopyFrom(shape_proto(tuple(int(d) for d in arr.shape)))
    if row.name == "string":
        for item in arr.reshape(-1):
            proto.string_val.append(item if isinstance(item, bytes) else str(item).encode())
        return proto
    little = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    if arr.ndim == 0 and row.name in _SCALAR_FIELDS:
        field, convert = _SCALAR_FIELDS[row.name]
        getattr(proto, field).append(convert(arr))
    else:
        proto.tensor_content = np.ascontiguousarray(little).tobytes()
    return proto


_SCALAR_FIELDS: dict[str, tuple[str, Any]] = {
    "float32": ("float_val", float),
    "float64": ("double_val", float),
    "int32": ("int_val", int),
    "int64": ("int64_val", int),
    "bool": ("bool_val", bool),
}


def _s(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("utf-8")


def attr_value(kind: str, value: Any) -> attr_value_pb2.AttrValue:
    """The ``AttrValue`` of ``value`` for an attribute of OpDef type ``kind``."""
    out = attr_value_pb2.AttrValue()
    if isinstance(value, attr_value_pb2.AttrValue):
        out.CopyFrom(value)
        return out
    if kind == "type":
        out.type = cast(types_pb2.DataType, dtype_enum(value))
    elif kind == "int":
        out.i = int(value)
    elif kind == "float":
        out.f = float(value)
    elif kind == "bool":
        out.b = bool(value)
    elif kind == "string":
        out.s = _s(value)
    elif kind == "shape":
        out.shape.CopyFrom(shape_proto(value))
    elif kind == "tensor":
        out.tensor.CopyFrom(
            value if isinstance(value, tensor_pb2.TensorProto) else tensor_proto(value)
        )
    elif kind == "func":
        out.func.name = str(value)
    elif kind.startswith("list("):
        items: Sequence[Any] = list(value)
        out.list.SetInParent()
        inner = kind[5:-1]
        if inner == "int":
            out.list.i.extend(int(v) for v in items)
        elif inner == "float":
            out.list.f.extend(float(v) for v in items)
        elif inner == "type":
            out.list.type.extend(cast(types_pb2.DataType, dtype_enum(v)) for v in items)
        elif inner == "string":
            out.list.s.extend(_s(v) for v in items)
        elif inner == "shape":
            out.list.shape.extend(shape_proto(v) for v in items)
        elif inner == "bool":
            out.list.b.extend(bool(v) for v in items)
        else:
            raise ValueError(f"attribute kind {kind!r} is not supported")
    else:
        raise ValueError(f"attribute kind {kind!r} is not supported")
    return out
