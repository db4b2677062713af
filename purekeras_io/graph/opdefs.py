# ruff: noqa: E501  (the op table keeps one op per line)
"""The TensorFlow ops the graph builder may emit, as TensorFlow's op registry defines them.

One line per op, in the notation of TensorFlow's ``REGISTER_OP`` (facts of the format: names,
argument names, types, attribute defaults; checked against ``tf.raw_ops`` by the oracle test
``tests/oracle/test_graph_opdefs_oracle.py``)::

    Name: in_arg: T, other: N*T -> out_arg: T; attr: type = default; N: int >= 1 !stateful

* an argument's type is a ``type`` attribute (``T``), a ``list(type)`` attribute (``Tin``: one
  tensor per listed type), or a fixed dtype (``int32``, ``string``, ``resource``, ``variant``);
  ``N*T`` is a list of ``N`` tensors of type ``T``;
* an attribute without ``=`` is required; ``>= k`` is its minimum (lists: length);
* ``!stateful`` marks ops TensorFlow must not prune or constant-fold.

The builder names a node's outputs ``node:<output arg>:<index>`` (function bodies) from this
table, strips attributes equal to their default (``stripped_default_attrs``), and writes the
``stripped_op_list`` of the ops a SavedModel uses from it (:func:`op_list`).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from typing import Any

from .._proto.tf import op_def_pb2

__all__ = [
    "FIXED_TYPES", "ArgDef", "AttrDef", "OpDef", "add_ops", "get", "known_ops", "op_list",
]

# Fixed argument types by their name in the table → TensorFlow DataType enum.
FIXED_TYPES: dict[str, int] = {
    "float": 1, "double": 2, "int32": 3, "uint8": 4, "string": 7, "int64": 9, "bool": 10,
    "resource": 20, "variant": 21,
}

_TABLE = """\
Abs: x: T -> y: T; T: type
Acos: x: T -> y: T; T: type
Acosh: x: T -> y: T; T: type
AddN: inputs: N*T -> sum: T; N: int >= 1; T: type
AddV2: x: T, y: T -> z: T; T: type
All: input: bool, reduction_indices: Tidx -> output: bool; keep_dims: bool = false; Tidx: type = int32
Any: input: bool, reduction_indices: Tidx -> output: bool; keep_dims: bool = false; Tidx: type = int32
ArgMax: input: T, dimension: Tidx -> output: output_type; T: type; Tidx: type = int32; output_type: type = int64
ArgMin: input: T, dimension: Tidx -> output: output_type; T: type; Tidx: type = int32; output_type: type = int64
Asin: x: T -> y: T; T: type
Asinh: x: T -> y: T; T: type
AssignVariableOp: resource: resource, value: dtype -> ; dtype: type; validate_shape: bool = false !stateful
Atan: x: T -> y: T; T: type
Atanh: x: T -> y: T; T: type
AvgPool3D: input: T -> output: T; ksize: list(int) >= 5; strides: list(int) >= 5; padding: string; data_format: string = 'NDHWC'; T: type
AvgPool: value: T -> output: T; ksize: list(int) >= 4; strides: list(int) >= 4; padding: string; data_format: string = 'NHWC'; T: type
BatchMatMulV2: x: T, y: T -> output: T; T: type; adj_x: bool = false; adj_y: bool = false; grad_x: bool = false; grad_y: bool = false
BatchMatMulV3: x: Ta, y: Tb -> output: Tout; Ta: type; Tb: type; Tout: type; adj_x: bool = false; adj_y: bool = false; grad_x: bool = false; grad_y: bool = false
BiasAdd: value: T, bias: T -> output: T; T: type; data_format: string = 'NHWC'
BitwiseAnd: x: T, y: T -> z: T; T: type
BroadcastTo: input: T, shape: Tidx -> output: T; T: type; Tidx: type = int32
Cast: x: SrcT -> y: DstT; SrcT: type; DstT: type; Truncate: bool = false
Ceil: x: T -> y: T; T: type
ClipByValue: t: T, clip_value_min: T, clip_value_max: T -> output: T; T: type
ConcatV2: values: N*T, axis: Tidx -> output: T; N: int >= 2; T: type; Tidx: type = int32
Const:  -> output: dtype; value: tensor; dtype: type
Conv2D: input: T, filter: T -> output: T; T: type; strides: list(int); use_cudnn_on_gpu: bool = true; padding: string; explicit_paddings: list(int) = []; data_format: string = 'NHWC'; dilations: list(int) = [1, 1, 1, 1]
Conv2DBackpropInput: input_sizes: int32, filter: T, out_backprop: T -> output: T; T: type; strides: list(int); use_cudnn_on_gpu: bool = true; padding: string; explicit_paddings: list(int) = []; data_format: string = 'NHWC'; dilations: list(int) = [1, 1, 1, 1]
Conv3D: input: T, filter: T -> output: T; T: type; strides: list(int) >= 5; padding: string; data_format: string = 'NDHWC'; dilations: list(int) = [1, 1, 1, 1, 1]
Conv3DBackpropInputV2: input_sizes: Tshape, filter: T, out_backprop: T -> output: T; T: type; strides: list(int) >= 5; padding: string; data_format: string = 'NDHWC'; dilations: list(int) = [1, 1, 1, 1, 1]; Tshape: type = int32
Conv: input: T, filter: T -> output: T; T: type; strides: list(int); padding: string; explicit_paddings: list(int) = []; data_format: string = 'CHANNELS_LAST'; dilations: list(int) = []; batch_dims: int = 1; groups: int = 1
Cos: x: T -> y: T; T: type
Cosh: x: T -> y: T; T: type
CropAndResize: image: T, boxes: float, box_ind: int32, crop_size: int32 -> crops: float; T: type; method: string = 'bilinear'; extrapolation_value: float = 0.0
Cumprod: x: T, axis: Tidx -> out: T; exclusive: bool = false; reverse: bool = false; T: type; Tidx: type = int32
Cumsum: x: T, axis: Tidx -> out: T; exclusive: bool = false; reverse: bool = false; T: type; Tidx: type = int32
DepthwiseConv2dNative: input: T, filter: T -> output: T; T: type; strides: list(int); padding: string; explicit_paddings: list(int) = []; data_format: string = 'NHWC'; dilations: list(int) = [1, 1, 1, 1]
DisableCopyOnRead: resource: resource -> ;  !stateful
DivNoNan: x: T, y: T -> z: T; T: type
Einsum: inputs: N*T -> output: T; equation: string; N: int >= 1; T: type
Elu: features: T -> activations: T; T: type
Equal: x: T, y: T -> z: bool; T: type; incompatible_shape_error: bool = true
Erf: x: T -> y: T; T: type
Exp: x: T -> y: T; T: type
ExpandDims: input: T, dim: Tdim -> output: T; T: type; Tdim: type = int32
Expm1: x: T -> y: T; T: type
Fill: dims: index_type, value: T -> output: T; T: type; index_type: type = int32
Floor: x: T -> y: T; T: type
FloorDiv: x: T, y: T -> z: T; T: type
FloorMod: x: T, y: T -> z: T; T: type
FusedBatchNormV3: x: T, scale: U, offset: U, mean: U, variance: U -> y: T, batch_mean: U, batch_variance: U, reserve_space_1: U, reserve_space_2: U, reserve_space_3: U; T: type; U: type; epsilon: float = 0.0001; exponential_avg_factor: float = 1.0; data_format: string = 'NHWC'; is_training: bool = true
GatherV2: params: Tparams, indices: Tindices, axis: Taxis -> output: Tparams; batch_dims: int = 0; Tparams: type; Tindices: type; Taxis: type
Greater: x: T, y: T -> z: bool; T: type
GreaterEqual: x: T, y: T -> z: bool; T: type
Identity: input: T -> output: T; T: type
IdentityN: input: T -> output: T; T: list(type) >= 1
IsFinite: x: T -> y: bool; T: type
IsInf: x: T -> y: bool; T: type
IsNan: x: T -> y: bool; T: type
L2Loss: t: T -> output: T; T: type
LeakyRelu: features: T -> activations: T; alpha: float = 0.2; T: type = float
Less: x: T, y: T -> z: bool; T: type
LessEqual: x: T, y: T -> z: bool; T: type
Log1p: x: T -> y: T; T: type
Log: x: T -> y: T; T: type
LogSoftmax: logits: T -> logsoftmax: T; T: type
LogicalAnd: x: bool, y: bool -> z: bool;
LogicalNot: x: bool -> y: bool;
LogicalOr: x: bool, y: bool -> z: bool;
MatMul: a: T, b: T -> product: T; transpose_a: bool = false; transpose_b: bool = false; T: type; grad_a: bool = false; grad_b: bool = false
MatrixBandPart: input: T, num_lower: Tindex, num_upper: Tindex -> band: T; T: type; Tindex: type = int64
Max: input: T, reduction_indices: Tidx -> output: T; keep_dims: bool = false; T: type; Tidx: type = int32
MaxPool3D: input: T -> output: T; ksize: list(int) >= 5; strides: list(int) >= 5; padding: string; data_format: string = 'NDHWC'; T: type
MaxPool: input: T -> output: T; T: type = float; ksize: list(int) >= 4; strides: list(int) >= 4; padding: string; explicit_paddings: list(int) = []; data_format: string = 'NHWC'
Maximum: x: T, y: T -> z: T; T: type
Mean: input: T, reduction_indices: Tidx -> output: T; keep_dims: bool = false; T: type; Tidx: type = int32
MergeV2Checkpoints: checkpoint_prefixes: string, destination_prefix: string -> ; delete_old_dirs: bool = true; allow_missing_files: bool = false !stateful
Min: input: T, reduction_indices: Tidx -> output: T; keep_dims: bool = false; T: type; Tidx: type = int32
Minimum: x: T, y: T -> z: T; T: type
MirrorPad: input: T, paddings: Tpaddings -> output: T; T: type; Tpaddings: type = int32; mode: string
Mod: x: T, y: T -> z: T; T: type
Mul: x: T, y: T -> z: T; T: type
Neg: x: T -> y: T; T: type
NoOp:  -> ;
NotEqual: x: T, y: T -> z: bool; T: type; incompatible_shape_error: bool = true
OneHot: indices: TI, depth: int32, on_value: T, off_value: T -> output: T; axis: int = -1; T: type; TI: type = int64
OnesLike: x: T -> y: T; T: type
Pack: values: N*T -> output: T; N: int >= 1; T: type; axis: int = 0
Pad: input: T, paddings: Tpaddings -> output: T; T: type; Tpaddings: type = int32
PadV2: input: T, paddings: Tpaddings, constant_values: T -> output: T; T: type; Tpaddings: type = int32
PartitionedCall: args: Tin -> output: Tout; Tin: list(type) >= 0; Tout: list(type) >= 0; f: func; config: string = ''; config_proto: string = ''; executor_type: string = ''
Placeholder:  -> output: dtype; dtype: type; shape: shape = unknown
Pow: x: T, y: T -> z: T; T: type
Prod: input: T, reduction_indices: Tidx -> output: T; keep_dims: bool = false; T: type; Tidx: type = int32
Qr: input: T -> q: T, r: T; full_matrices: bool = false; T: type
RandomUniform: shape: T -> output: dtype; seed: int = 0; seed2: int = 0; dtype: type; T: type !stateful
Range: start: Tidx, limit: Tidx, delta: Tidx -> output: Tidx; Tidx: type = int32
Rank: input: T -> output: int32; T: type
ReadVariableOp: resource: resource -> value: dtype; dtype: type !stateful
RealDiv: x: T, y: T -> z: T; T: type
Reciprocal: x: T -> y: T; T: type
Relu6: features: T -> activations: T; T: type
Relu: features: T -> activations: T; T: type
Reshape: tensor: T, shape: Tshape -> output: T; T: type; Tshape: type = int32
ResizeArea: images: T, size: int32 -> resized_images: float; T: type; align_corners: bool = false
ResizeBicubic: images: T, size: int32 -> resized_images: float; T: type; align_corners: bool = false; half_pixel_centers: bool = false
ResizeBilinear: images: T, size: int32 -> resized_images: float; T: type; align_corners: bool = false; half_pixel_centers: bool = false
ResizeNearestNeighbor: images: T, size: int32 -> resized_images: T; T: type; align_corners: bool = false; half_pixel_centers: bool = false
ResourceGather: resource: resource, indices: Tindices -> output: dtype; batch_dims: int = 0; validate_indices: bool = true; dtype: type; Tindices: type !stateful
RestoreV2: prefix: string, tensor_names: string, shape_and_slices: string -> tensors: dtypes; dtypes: list(type) >= 1 !stateful
ReverseV2: tensor: T, axis: Tidx -> output: T; Tidx: type = int32; T: type
Rint: x: T -> y: T; T: type
Round: x: T -> y: T; T: type
Rsqrt: x: T -> y: T; T: type
SaveV2: prefix: string, tensor_names: string, shape_and_slices: string, tensors: dtypes -> ; dtypes: list(type) >= 1 !stateful
ScaleAndTranslate: images: T, size: int32, scale: float, translation: float -> resized_images: float; T: type; kernel_type: string = 'lanczos3'; antialias: bool = true
Select: condition: bool, t: T, e: T -> output: T; T: type
SelectV2: condition: bool, t: T, e: T -> output: T; T: type
Selu: features: T -> activations: T; T: type
Shape: input: T -> output: out_type; T: type; out_type: type = int32
ShardedFilename: basename: string, shard: int32, num_shards: int32 -> filename: string;
Sigmoid: x: T -> y: T; T: type
Sign: x: T -> y: T; T: type
Sin: x: T -> y: T; T: type
Sinh: x: T -> y: T; T: type
Size: input: T -> output: out_type; T: type; out_type: type = int32
Slice: input: T, begin: Index, size: Index -> output: T; T: type; Index: type
Snapshot: input: T -> output: T; T: type
Softmax: logits: T -> softmax: T; T: type
Softplus: features: T -> activations: T; T: type
Softsign: features: T -> activations: T; T: type
Split: split_dim: int32, value: T -> output: num_split*T; num_split: int >= 1; T: type
SplitV: value: T, size_splits: Tlen, split_dim: int32 -> output: num_split*T; num_split: int >= 1; T: type; Tlen: type = int64
Sqrt: x: T -> y: T; T: type
Square: x: T -> y: T; T: type
SquaredDifference: x: T, y: T -> z: T; T: type
Squeeze: input: T -> output: T; T: type; squeeze_dims: list(int) = [] >= 0
StatefulPartitionedCall: args: Tin -> output: Tout; Tin: list(type) >= 0; Tout: list(type) >= 0; f: func; config: string = ''; config_proto: string = ''; executor_type: string = '' !stateful
StatelessWhile: input: T -> output: T; T: list(type) >= 0; cond: func; body: func; output_shapes: list(shape) = []; parallel_iterations: int = 10
StaticRegexFullMatch: input: string -> output: bool; pattern: string
StopGradient: input: T -> output: T; T: type
StridedSlice: input: T, begin: Index, end: Index, strides: Index -> output: T; T: type; Index: type; begin_mask: int = 0; end_mask: int = 0; ellipsis_mask: int = 0; new_axis_mask: int = 0; shrink_axis_mask: int = 0
StringJoin: inputs: N*string -> output: string; N: int >= 0; separator: string = ''
Sub: x: T, y: T -> z: T; T: type
Sum: input: T, reduction_indices: Tidx -> output: T; keep_dims: bool = false; T: type; Tidx: type = int32
Tan: x: T -> y: T; T: type
Tanh: x: T -> y: T; T: type
TensorListFromTensor: tensor: element_dtype, element_shape: shape_type -> output_handle: variant; element_dtype: type; shape_type: type
TensorListGetItem: input_handle: variant, index: int32, element_shape: Tshape -> item: element_dtype; element_dtype: type; Tshape: type = int32
TensorListReserve: element_shape: shape_type, num_elements: int32 -> handle: variant; element_dtype: type; shape_type: type
TensorListSetItem: input_handle: variant, index: int32, item: element_dtype -> output_handle: variant; element_dtype: type; resize_if_index_out_of_bounds: bool = false
TensorListStack: input_handle: variant, element_shape: int32 -> tensor: element_dtype; element_dtype: type; num_elements: int = -1
Tile: input: T, multiples: Tmultiples -> output: T; T: type; Tmultiples: type = int32
TopKV2: input: T, k: Tk -> values: T, indices: index_type; sorted: bool = true; T: type; Tk: type = int32; index_type: type = int32
Transpose: x: T, perm: Tperm -> y: T; T: type; Tperm: type = int32
TruncateDiv: x: T, y: T -> z: T; T: type
Unique: x: T -> y: T, idx: out_idx; T: type; out_idx: type = int32
Unpack: value: T -> output: num*T; num: int >= 0; T: type; axis: int = 0
VarHandleOp:  -> resource: resource; container: string = ''; shared_name: string = ''; debug_name: string = ''; dtype: type; shape: shape; allowed_devices: list(string) = [] !stateful
Where: input: T -> index: int64; T: type = bool
While: input: T -> output: T; T: list(type) >= 0; cond: func; body: func; output_shapes: list(shape) = []; parallel_iterations: int = 10 !stateful
Xdivy: x: T, y: T -> z: T; T: type
Xlogy: x: T, y: T -> z: T; T: type
ZerosLike: x: T -> y: T; T: type
"""


@dataclass(frozen=True)
class ArgDef:
    """One input or output argument."""

    name: str
    type_attr: str = ""
    """A ``type`` attribute (``T``)."""
    type_list_attr: str = ""
    """A ``list(type)`` attribute: one tensor per listed type."""
    number_attr: str = ""
    """An ``int`` attribute: that many tensors of ``type_attr`` / ``fixed``."""
    fixed: int = 0
    """A fixed DataType (0 when the type comes from an attribute)."""


@dataclass(frozen=True)
class AttrDef:
    name: str
    type: str
    """``type``, ``int``, ``float``, ``bool``, ``string``, ``shape``, ``tensor``, ``func``,
    ``list(int)``, ``list(type)``, ``list(shape)``, ``list(string)``…"""
    has_default: bool = False
    default: Any = None
    minimum: int | None = None


@dataclass(frozen=True)
class OpDef:
    name: str
    inputs: tuple[ArgDef, ...]
    outputs: tuple[ArgDef, ...]
    attrs: tuple[AttrDef, ...]
    is_stateful: bool = False

    def attr(self, name: str) -> AttrDef | None:
        for a in self.attrs:
            if a.name == name:
                return a
        return None


def _default(text: str, kind: str) -> Any:
    text = text.strip()
    if kind == "shape":
        return None if text == "unknown" else ast.literal_eval(text)
    if kind == "type":
        return FIXED_TYPES[text] if text in FIXED_TYPES else _TYPE_NAMES[text]
    if text in ("true", "false"):
        return text == "true"
    value = ast.literal_eval(text)
    if kind == "list(type)":
        return [_TYPE_NAMES.get(v, FIXED_TYPES.get(v)) for v in value]
    return value


# DataType names beyond FIXED_TYPES that appear as defaults.
_TYPE_NAMES: dict[str, int] = {"half": 19, "bfloat16": 14, "int8": 6, "int16": 5}


def _arg(text: str, attrs: dict[str, AttrDef]) -> ArgDef:
    name, _, kind = (p.strip() for p in text.partition(":"))
    number = ""
    if "*" in kind:
        number, _, kind = kind.partition("*")
    if kind in attrs and attrs[kind].type == "list(type)":
        return ArgDef(name, type_list_attr=kind)
    if kind in attrs:
        return ArgDef(name, type_attr=kind, number_attr=number)
    return ArgDef(name, number_attr=number, fixed=FIXED_TYPES[kind])


def _parse(line: str) -> OpDef:
    stateful = line.endswith(" !stateful")
    if stateful:
        line = line[: -len(" !stateful")]
    name, _, rest = line.rstrip(";").partition(": ")
    signature, _, attr_text = rest.partition("; ")
    ins, _, outs = signature.partition("->")
    attrs: dict[str, AttrDef] = {}
    for part in filter(None, (p.strip() for p in attr_text.split("; "))):
        minimum = None
        if " >= " in part:
            part, _, low = part.rpartition(" >= ")
            minimum = int(low)
        head, eq, default = part.partition(" = ")
        attr_name, _, kind = (p.strip() for p in head.partition(":"))
        attrs[attr_name] = AttrDef(
            attr_name, kind, bool(eq), _default(default, kind) if eq else None, minimum
        )
    split = lambda s: [p for p in (x.strip() for x in s.split(", ")) if p]  # noqa: E731
    return OpDef(
        name,
        tuple(_arg(a, attrs) for a in split(ins)),
        tuple(_arg(a, attrs) for a in split(outs)),
        tuple(attrs.values()),
        stateful,
    )


@cache
def _ops() -> dict[str, OpDef]:
    out: dict[str, OpDef] = {}
    for line in _TABLE.splitlines():
        if line.strip():
            op = _parse(line.strip())
            out[op.name] = op
    return out


def add_ops(text: str) -> None:
    """Add op lines (same notation as the table) — for a lowering family that needs an op the
    table lacks; the oracle test checks every op against TensorFlow's registry all the same."""
    ops = _ops()
    for line in text.splitlines():
        if line.strip():
            op = _parse(line.strip())
            if op.name in ops and ops[op.name] != op:
                raise ValueError(f"op {op.name!r} is already defined differently")
            ops[op.name] = op


def known_ops() -> list[str]:
    return sorted(_ops())


def get(name: str) -> OpDef:
    """The definition of op ``name`` (KeyError names the op when the table lacks it)."""
    try:
        return _ops()[name]
    except KeyError:
        raise KeyError(f"graph builder: op {name!r} is not in purekeras_io.graph.opdefs") from None


def op_list(names: list[str]) -> op_def_pb2.OpList:
    """``stripped_op_list``: the OpDefs of ``names``, sorted by name as TensorFlow writes them."""
    from .attrs import attr_value

    out = op_def_pb2.OpList()
    for name in sorted(set(names)):
        op = get(name)
        proto = out.op.add()
        proto.name = op.name
        for args, target in ((op.inputs, proto.input_arg), (op.outputs, proto.output_arg)):
            for arg in args:
                a = target.add()
                a.name = arg.name
                if arg.fixed:
                    a.type = arg.fixed  # type: ignore[assignment]
                a.type_attr = arg.type_attr
                a.type_list_attr = arg.type_list_attr
                a.number_attr = arg.number_attr
        for attr in op.attrs:
            a = proto.attr.add()
            a.name = attr.name
            a.type = attr.type
            if attr.has_default:
                a.default_value.CopyFrom(attr_value(attr.type, attr.default))
            if attr.minimum is not None:
                a.has_minimum = True
                a.minimum = attr.minimum
        if op.is_stateful:
            proto.is_stateful = True
    return out
