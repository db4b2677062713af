"""``StructuredValue`` builders: the nested Python values (tuples, lists, dicts, ``TensorSpec``,
``FullArgSpec``) that a SavedObjectGraph stores for function signatures (``savedmodel.md`` §2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

from .._proto.tf import struct_pb2, types_pb2
from ..graph.attrs import Shape, dtype_enum, shape_proto

__all__ = [
    "dict_value",
    "fullargspec",
    "list_value",
    "none_value",
    "string_list",
    "tensor_spec",
    "tuple_value",
]

def tensor_spec(name: str, shape: Shape, dtype: str) -> struct_pb2.StructuredValue:
    v = struct_pb2.StructuredValue()
    v.tensor_spec_value.name = name
    v.tensor_spec_value.shape.CopyFrom(shape_proto(shape))
    v.tensor_spec_value.dtype = cast(types_pb2.DataType, dtype_enum(dtype))
    return v


def tuple_value(*items: struct_pb2.StructuredValue) -> struct_pb2.StructuredValue:
    v = struct_pb2.StructuredValue()
    v.tuple_value.SetInParent()
    for item in items:
        v.tuple_value.values.add().CopyFrom(item)
    return v


def list_value(items: Sequence[struct_pb2.StructuredValue]) -> struct_pb2.StructuredValue:
    v = struct_pb2.StructuredValue()
    v.list_value.SetInParent()
    for item in items:
        v.list_value.values.add().CopyFrom(item)
    return v


def dict_value(items: Mapping[str, struct_pb2.StructuredValue]) -> struct_pb2.StructuredValue:
    v = struct_pb2.StructuredValue()
    v.dict_value.SetInParent()
    for key, item in items.items():
        v.dict_value.fields[key].CopyFrom(item)
    return v


def none_value() -> struct_pb2.StructuredValue:
    v = struct_pb2.StructuredValue()
    v.none_value.SetInParent()
    return v


def string_list(items: Sequence[str]) -> struct_pb2.StructuredValue:
    out = []
    for s in items:
        v = struct_pb2.StructuredValue()
        v.string_value = s
        out.append(v)
    return list_value(out)


def fullargspec(args: Sequence[str]) -> struct_pb2.StructuredValue:
    v = struct_pb2.StructuredValue()
    nt = v.named_tuple_value
    nt.name = "FullArgSpec"
    for key, value in (
        ("args", string_list(args)), ("varargs", none_value()), ("varkw", none_value()),
        ("defaults", none_value()), ("kwonlyargs", list_value([])),
        ("kwonlydefaults", none_value()),
        ("annotations", dict_value({})),
    ):
        pair = nt.values.add()
        pair.key = key
        pair.value.CopyFrom(value)
    return v
