"""Serving signatures and the graph tier of a SavedModel (``savedmodel.md`` §2, §7).

For each signature (``serving_default`` unless ``signatures=`` says otherwise) the model is
lowered (:mod:`purekeras_io.lowering`) into one flat ``FunctionDef``::

    inputs:  the signature's tensors, sorted by key (TensorFlow flattens dicts by sorted key),
             then one DT_RESOURCE per variable read, in first-use order;
    outputs: the model's outputs by Keras output name, sorted by key.

and the SavedModel gets, around it:

* object graph: root child ``signatures`` (``signature_map``) → ``<name>``
  (``bare_concrete_function``, positional arguments allowed, as TFSMLayer calls it), and a
  ``concrete_functions`` entry whose ``bound_inputs`` are the variables' node ids;
* root ``__call__`` (``function`` with one concrete function taking the model's inputs
  positionally and returning Keras' output structure), so ``tf.saved_model.load(path)(x)`` works;
  the same function is the root's ``serve`` (the endpoint of Keras 3's ``model.export``, which
  ``TFSMLayer(path, call_endpoint="serve")`` calls with a list for multi-input models);
* the graph tier for TF1-style loaders (``saved_model_cli run``, TF Serving, C++):
  ``VarHandleOp`` per variable, ``<signature>_<input>`` placeholders, a
  ``StatefulPartitionedCall`` per signature, ``signature_def``, the init ``NoOp`` with
  ``saved_model_main_op``, and a V2 saver (``saver_filename`` placeholder, ``RestoreV2`` +
  ``AssignVariableOp`` → ``restore_all``; ``SaveV2`` → ``save_done``) reading the checkpoint
  keys of ``variables/``;
* ``meta_info_def.stripped_op_list``: the OpDef of every op used.

Function names derive from the model and signature names only (``__inference_<name>_<k>``, k
counting within this SavedModel), so the same model gives the same bytes.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from .._proto.tf import (
    meta_graph_pb2,
    saved_object_graph_pb2,
    types_pb2,
)
from ..dtypes import by_keras_name, by_numpy
from ..errors import ConfigError, UnsupportedFeatureError
from ..graph import opdefs
from ..graph.attrs import Shape, dtype_enum, shape_proto
from ..graph.builder import FunctionBuilder, GraphBuilder, Library, Tensor
from ..lowering import Capture, LowerContext, NotLowerable, call_model
from ..model.base import Model
from ..model.functional import Functional
from ..model.sequential import Sequential
from ..model.tensor import KerasTensor, flatten
from ..model.variable import Variable
from .object_graph import GraphNode, ObjectGraph
from .structs import dict_value, fullargspec, list_value, none_value, tensor_spec, tuple_value
from .traces import add_layer_traces

__all__ = ["TRACES_WARNING", "Added", "SignatureSpec", "add_functions", "parse_signatures"]

TRACES_WARNING = (
    "purekeras_io SavedModel: the model has layers without a graph lowering ({layers}); the "
    "SavedModel is written without serving signatures (tf_keras load_model still restores it "
    "from the layer configs; tf.saved_model.load, TFSMLayer and TF Serving find nothing to call)"
)
SERVING_METHOD = "tensorflow/serving/predict"
INIT_OP_SIGNATURE = "__saved_model_init_op"
MAIN_OP_KEY = "saved_model_main_op"


@dataclass(frozen=True)
class InputSpec:
    name: str
    shape: Shape
    dtype: str


@dataclass(frozen=True)
class SignatureSpec:
    """One signature: input specs (one per model input, in model order) and the outputs."""

    name: str
    inputs: tuple[InputSpec, ...]
    outputs: tuple[KerasTensor, ...] | None = None
    """Tensors of the model's graph to return (None: the model's outputs)."""
    output_names: tuple[str, ...] | None = None


# ====================================================================== signatures=


def _spec_from(obj: Any, default: InputSpec, where: str) -> InputSpec:
    """A TensorSpec-like object (duck-typed: ``shape``, ``dtype``, ``name``), a shape tuple, or
    a dict ``{"shape", "dtype", "name"}`` → InputSpec (missing parts from the model)."""
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        shape, dtype, name = obj.get("shape"), obj.get("dtype"), obj.get("name")
    elif isinstance(obj, (list, tuple)) and all(d is None or isinstance(d, int) for d in obj):
        shape, dtype, name = obj, None, None
    elif hasattr(obj, "shape") and hasattr(obj, "dtype"):
        shape, dtype, name = obj.shape, obj.dtype, getattr(obj, "name", None)
    else:
        raise ConfigError(f"{where}: expected a TensorSpec, a shape or a dict, received {obj!r}")
    if shape is not None:
        dims = getattr(shape, "as_list", lambda: shape)()
        shape_t: Shape = None if dims is None else tuple(
            None if d is None or int(d) < 0 else int(d) for d in dims
        )
    else:
        shape_t = default.shape
    if dtype is not None:
        dname = getattr(dtype, "name", dtype)
        try:
            dtype_s = by_keras_name(str(dname)).name
        except Exception:
            dtype_s = by_numpy(dname).name
    else:
        dtype_s = default.dtype
    if shape_t is not None and default.shape is not None and len(shape_t) != len(default.shape):
        raise ConfigError(
            f"{where}: shape {shape_t} has rank {len(shape_t)}, the model input "
            f"{default.name!r} has shape {default.shape}"
        )
    return InputSpec(str(name) if name else default.name, shape_t, dtype_s)


def _model_inputs(model: Model) -> list[InputSpec]:
    names = list(getattr(model, "input_names", []) or [])
    if isinstance(model, Sequential) and model.implicit_input and model.layers:
        # tf_keras names the InputLayer it makes itself "<first layer>_input" (as
        # keras_metadata.pb says), and its serving signature takes that name.
        names = [f"{model.layers[0].name}_input"]
    out = []
    for i, kt in enumerate(model.inputs):
        name = names[i] if i < len(names) else f"input_{i}"
        out.append(InputSpec(name, tuple(kt.shape), str(kt.dtype)))
    return out


def parse_signatures(model: Model, signatures: Any) -> list[SignatureSpec]:
    """``signatures=`` → signature specs.

    * None: ``serving_default`` over the model's inputs and outputs;
    * a mapping ``{name: spec}`` where spec is the input specification (one TensorSpec-like
      object, a list of them in model-input order, or a dict by input name), or a dict
      ``{"inputs": <that>, "outputs": <layer name | KerasTensor | list of them>}``;
    * a TensorSpec-like object or list of them: ``serving_default`` with those inputs.
    """
    base = _model_inputs(model)
    if signatures is None:
        return [SignatureSpec("serving_default", tuple(base))]
    if not isinstance(signatures, Mapping):
        signatures = {"serving_default": signatures}
    out = []
    for name, spec in signatures.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"signatures: names must be non-empty strings, received {name!r}")
        if callable(spec) and not hasattr(spec, "shape"):
            raise UnsupportedFeatureError(
                f"signatures[{name!r}]: a function (tf.function) cannot be traced without "
                "TensorFlow; give the input specification instead (TensorSpec-like objects, "
                "shapes, or {'inputs': ..., 'outputs': [layer names]})"
            )
        outputs = None
        if isinstance(spec, Mapping) and ("inputs" in spec or "outputs" in spec):
            outputs = spec.get("outputs")
            spec = spec.get("inputs")
        where = f"signatures[{name!r}]"
        if spec is None:
            inputs = list(base)
        elif isinstance(spec, Mapping) and not {"shape", "dtype"} & set(spec):
            unknown = sorted(set(spec) - {b.name for b in base})
            if unknown:
                raise ConfigError(f"{where}: unknown input name(s) {unknown}; model inputs: "
                                  f"{[b.name for b in base]}")
            inputs = [_spec_from(spec.get(b.name), b, f"{where}[{b.name!r}]") for b in base]
        elif (isinstance(spec, (list, tuple)) and len(base) > 1) or (
            isinstance(spec, (list, tuple)) and spec and not all(
                d is None or isinstance(d, int) for d in spec)
        ):
            if len(spec) != len(base):
                raise ConfigError(f"{where}: {len(spec)} input specs for {len(base)} inputs")
            inputs = [_spec_from(s, b, f"{where}[{i}]") for i, (s, b) in
                      enumerate(zip(spec, base))]
        else:
            if len(base) != 1:
                raise ConfigError(f"{where}: one input spec for a model with {len(base)} inputs")
            inputs = [_spec_from(spec, base[0], where)]
        out_tensors, out_names = _outputs_of(model, outputs, where)
        out.append(SignatureSpec(name, tuple(inputs), out_tensors, out_names))
    return out


def _outputs_of(model: Model, outputs: Any, where: str
                ) -> tuple[tuple[KerasTensor, ...] | None, tuple[str, ...] | None]:
    if outputs is None:
        return None, None
    items = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    tensors: list[KerasTensor] = []
    names: list[str] = []
    for item in items:
        if isinstance(item, KerasTensor):
            tensors.append(item)
            names.append(item.name)
            continue
        if not isinstance(item, str):
            raise ConfigError(f"{where}: outputs are layer names or KerasTensors, received "
                              f"{item!r}")
        layer = model.get_layer(item)
        kts = [kt for node in layer.inbound_nodes for kt in node.outputs
               if isinstance(model, Functional) and node in model.graph.nodes]
        if not kts:
            kts = [kt for node in layer.inbound_nodes for kt in node.outputs][:1]
        if not kts:
            raise ConfigError(f"{where}: layer {item!r} has no output in the model's graph")
        tensors.append(kts[0])
        names.append(item)
    return tuple(tensors), tuple(names)


# ====================================================================== building


@dataclass
class _Built:
    spec: SignatureSpec
    function: str
    arg_names: list[str]
    """Flat input keys (sorted), matching the function's first arguments."""
    inputs: dict[str, InputSpec]
    outputs: dict[str, Tensor]
    """Output key → tensor, in sorted key order (the function's outputs)."""
    variables: list[Variable]
    structure: Any
    """Keras' output structure: a key, or a list of keys."""


def _output_keys(model: Model, spec: SignatureSpec, n: int) -> list[str]:
    names = list(spec.output_names or getattr(model, "output_names", []) or [])
    if len(names) < n:
        names += [f"output_{i}" for i in range(len(names), n)]
    seen: dict[str, int] = {}
    out = []
    for name in names[:n]:
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        else:
            seen[name] = 0
        out.append(name)
    return out


def _lower_signature(model: Model, spec: SignatureSpec, library: Library) -> _Built:
    fname = library.reserve(f"{spec.name}_{model.name}")
    b = FunctionBuilder(fname)
    capture = Capture()
    ctx = LowerContext(b, library, capture)
    by_key = {s.name: s for s in spec.inputs}
    if len(by_key) != len(spec.inputs):
        raise ConfigError(f"signature {spec.name!r}: input names {[s.name for s in spec.inputs]} "
                          "are not unique")
    args = {key: b.arg(key, by_key[key].dtype, by_key[key].shape) for key in sorted(by_key)}
    ordered = [args[s.name] for s in spec.inputs]
    target = model
    if spec.outputs is not None:
        if not isinstance(model, Functional):
            raise UnsupportedFeatureError(
                f"signature {spec.name!r}: intermediate outputs need a Functional model")
        target = Functional(model.inputs, list(spec.outputs), name=model.name)
    result, _ = call_model(ctx, target, ordered if len(ordered) > 1 else ordered[0])
    flat = [cast(Tensor, t) for t in flatten(result)]
    keys = _output_keys(model, spec, len(flat))
    outputs: dict[str, Tensor] = {}
    for key, t in sorted(zip(keys, flat)):
        outputs[key] = t
    for key, t in outputs.items():
        b.ret(key, b.op("Identity", t, name=f"output_{key}", shape=t.shape))
    library.add(b)
    structure: Any = keys if isinstance(result, (list, tuple)) or len(keys) > 1 else keys[0]
    return _Built(spec, fname, sorted(by_key), by_key, outputs, list(capture.variables),
                  structure)


def _call_wrapper(model: Model, built: _Built, library: Library) -> str:
    """A function taking the inputs positionally and returning Keras' output structure: it
    calls the signature function and reorders its outputs."""
    fname = library.reserve(f"call_{model.name}")
    b = FunctionBuilder(fname)
    positional = [b.arg(s.name, s.dtype, s.shape) for s in built.spec.inputs]
    by_name = {s.name: t for s, t in zip(built.spec.inputs, positional)}
    resources = [
        b.arg(v.path or v.name, "resource", (), handle=(by_numpy(v.dtype).name, tuple(v.shape)))
        for v in built.variables
    ]
    call_inputs = [by_name[k] for k in built.arg_names] + resources
    outs = b.op(
        "StatefulPartitionedCall", call_inputs, Tout=[t.dtype for t in built.outputs.values()],
        f=built.function, name="call",
    )
    outs = [outs] if isinstance(outs, Tensor) else list(outs)
    keyed = dict(zip(built.outputs, outs))
    order = built.structure if isinstance(built.structure, list) else [built.structure]
    for key in order:
        b.ret(key, b.op("Identity", keyed[key], name=f"output_{key}"))
    library.add(b)
    return fname


def _variable_ids(graph: ObjectGraph) -> dict[int, int]:
    return {id(n.obj): i for i, n in enumerate(graph.nodes)
            if n.kind == "variable" and n.obj is not None}


def _signature_objects(graph: ObjectGraph, model: Model, built: list[_Built], library: Library
                       ) -> None:
    var_ids = _variable_ids(graph)

    def bound(b: _Built) -> list[int]:
        missing = [v.path or v.name for v in b.variables if id(v) not in var_ids]
        if missing:
            raise UnsupportedFeatureError(
                f"signature {b.spec.name!r}: variables {missing} are not tracked by the model")
        return [var_ids[id(v)] for v in b.variables]

    # root.variables / root.trainable_variables, as tf_keras tracks them (the loaded object's
    # ``variables`` and ``trainable_variables``).
    present = {name for name, _ in graph.nodes[0].children}
    for attr, weights in (("variables", model.weights),
                          ("trainable_variables", model.trainable_weights)):
        if attr in present:
            continue
        lst = graph.add(GraphNode("user_object", "trackable_list_wrapper"))
        for k, var in enumerate(w for w in weights if id(w) in var_ids):
            graph.add_child(lst, str(k), var_ids[id(var)])
        graph.add_child(0, attr, lst)
    sig_map = graph.add(GraphNode("user_object", "signature_map"))
    graph.add_child(0, "signatures", sig_map)
    for b in built:
        bare = saved_object_graph_pb2.SavedBareConcreteFunction()
        bare.concrete_function_name = b.function
        bare.argument_keywords.extend(b.arg_names)
        bare.allowed_positional_arguments = len(b.arg_names)
        node = graph.add(GraphNode("bare_concrete_function", proto=bare))
        graph.add_child(sig_map, b.spec.name, node)
        conc = saved_object_graph_pb2.SavedConcreteFunction()
        conc.bound_inputs.extend(bound(b))
        conc.canonicalized_input_signature.CopyFrom(tuple_value(tuple_value(), dict_value({
            k: tensor_spec(k, b.inputs[k].shape, b.inputs[k].dtype) for k in b.arg_names
        })))
        conc.output_signature.CopyFrom(dict_value({
            k: tensor_spec(k, t.shape, t.dtype) for k, t in b.outputs.items()
        }))
        graph.concrete_functions[b.function] = conc

    # root __call__: the first signature's computation, positional, Keras' output structure.
    first = built[0]
    call = _call_wrapper(model, first, library)
    specs = [tensor_spec(s.name, s.shape, s.dtype) for s in first.spec.inputs]
    arg = specs[0] if len(specs) == 1 else list_value(specs)
    conc = saved_object_graph_pb2.SavedConcreteFunction()
    conc.bound_inputs.extend(bound(first))
    conc.canonicalized_input_signature.CopyFrom(tuple_value(tuple_value(arg), dict_value({})))
    out_specs = {k: tensor_spec(k, t.shape, t.dtype) for k, t in first.outputs.items()}
    conc.output_signature.CopyFrom(
        list_value([out_specs[k] for k in first.structure])
        if isinstance(first.structure, list) else out_specs[first.structure]
    )
    graph.concrete_functions[call] = conc
    fn = saved_object_graph_pb2.SavedFunction()
    fn.concrete_functions.append(call)
    fn.function_spec.fullargspec.CopyFrom(fullargspec(["inputs"]))
    fn.function_spec.input_signature.CopyFrom(none_value())
    call_node = graph.add(GraphNode("function", proto=fn))
    graph.add_child(0, "__call__", call_node)
    # ``serve``: the endpoint name Keras 3's ``model.export`` writes; TFSMLayer calls its
    # endpoint with ONE positional argument, which a multi-input signature cannot take.
    if "serve" not in {name for name, _ in graph.nodes[0].children}:
        graph.add_child(0, "serve", call_node)


def _graph_tier(graph: ObjectGraph, meta_graph: meta_graph_pb2.MetaGraphDef,
                built: list[_Built], keys: dict[int, str], skip_saver: bool) -> set[str]:
    """Main graph nodes, signature_def, saver; returns the ops used."""
    g = GraphBuilder()
    var_nodes = [(i, n) for i, n in graph.variables() if not n.checkpoint_only]
    handles: dict[int, Tensor] = {}
    for i, node in var_nodes:
        dtype = by_numpy(np.dtype(node.value.dtype)).name
        shape = tuple(int(d) for d in node.value.shape)
        name = g.unique(node.name or f"variable_{i}")
        g._taken.discard(name)
        handles[id(node.obj)] = cast(Tensor, g.op(
            "VarHandleOp", name=name, dtype=dtype, shape=shape, shared_name=name,
            debug_name=node.name,
        ))
    for b in built:
        feeds = {}
        sig = meta_graph.signature_def[b.spec.name]
        sig.method_name = SERVING_METHOD
        for key in b.arg_names:
            s = b.inputs[key]
            ph = g.placeholder(f"{b.spec.name}_{key}", s.dtype, s.shape)
            feeds[key] = ph
            info = sig.inputs[key]
            info.name = g.tensor_name(ph)
            info.dtype = cast(types_pb2.DataType, dtype_enum(s.dtype))
            info.tensor_shape.CopyFrom(shape_proto(s.shape))
        call_inputs = [feeds[k] for k in b.arg_names] + [handles[id(v)] for v in b.variables]
        outs = g.op("StatefulPartitionedCall", call_inputs,
                    Tout=[t.dtype for t in b.outputs.values()], f=b.function,
                    name="StatefulPartitionedCall")
        outs = [outs] if isinstance(outs, Tensor) else list(outs)
        for (key, t), out in zip(b.outputs.items(), outs):
            info = sig.outputs[key]
            info.name = g.tensor_name(out)
            info.dtype = cast(types_pb2.DataType, dtype_enum(t.dtype))
            info.tensor_shape.CopyFrom(shape_proto(t.shape))
    init = g.op("NoOp", name="NoOp")
    del init
    meta_graph.collection_def[MAIN_OP_KEY].node_list.value.append("NoOp")
    init_sig = meta_graph.signature_def[INIT_OP_SIGNATURE]
    init_sig.outputs[INIT_OP_SIGNATURE].name = "NoOp"
    init_sig.outputs[INIT_OP_SIGNATURE].tensor_shape.unknown_rank = True
    if not skip_saver and var_nodes:
        filename = g.placeholder("saver_filename", "string", ())
        names = [keys[i] for i, _ in var_nodes]
        dtypes = [by_numpy(np.dtype(n.value.dtype)).name for _, n in var_nodes]
        with g.scope("save"):
            tensor_names = g.const(np.asarray([s.encode() for s in names], dtype=object))
            slices = g.const(np.asarray([b"" for _ in names], dtype=object))
            restored = g.op("RestoreV2", filename, tensor_names, slices, dtypes=dtypes,
                            name="RestoreV2")
            restored = [restored] if isinstance(restored, Tensor) else list(restored)
            assigns = []
            for (_, node), value in zip(var_nodes, restored):
                g.op("AssignVariableOp", handles[id(node.obj)], value, dtype=value.dtype,
                     name="Assign")
                assigns.append(g.last_node().name)
            g.op("NoOp", name="restore_all", control=assigns)
            restore_name = g.last_node().name
            reads = [cast(Tensor, g.op("ReadVariableOp", handles[id(n.obj)], dtype=dt,
                                       name="Read"))
                     for (_, n), dt in zip(var_nodes, dtypes)]
            g.op("SaveV2", filename, tensor_names, slices, reads, name="SaveV2")
            save_node = g.last_node().name
            done = cast(Tensor, g.op("Identity", filename, name="save_done",
                                     control=[save_node]))
        saver = meta_graph.saver_def
        saver.filename_tensor_name = g.tensor_name(filename)
        saver.save_tensor_name = g.tensor_name(done)
        saver.restore_op_name = restore_name
        saver.version = 2  # type: ignore[assignment]
    meta_graph.graph_def.node.extend(g.nodes())
    return g.ops_used


def lowering_problems(model: Model, signatures: Any = None) -> list[str]:
    """Layers (``name (Class)``) the graph lowering cannot take; empty when it can."""
    try:
        specs = parse_signatures(model, signatures)
        for spec in specs:
            _lower_signature(model, spec, Library())
    except NotLowerable as exc:
        return [f"{exc.layer_name} ({exc.class_name})"]
    return []


@dataclass
class Added:
    """What :func:`add_functions` wrote."""

    not_lowered: str = ""
    """``name (Class)`` of a layer that kept the model from being lowered (no signatures)."""
    traced: frozenset[int] = frozenset()
    """``id()`` of the layers given a traced call function (:mod:`.traces`)."""
    untraced: tuple[str, ...] = ()
    """Layers that need a trace for tf_keras but could not be traced."""


def add_functions(
    graph: ObjectGraph,
    meta_graph: meta_graph_pb2.MetaGraphDef,
    model: Model,
    *,
    signatures: Any = None,
    save_traces: bool = True,
    options: Any = None,
) -> Added:
    """Add the signatures, the root ``__call__``, the graph tier and the layer traces tf_keras
    needs. ``not_lowered`` is set when signatures were asked for (``save_traces`` or
    ``signatures``) but the model cannot be lowered (the caller warns); raises when
    ``signatures`` was explicit."""
    if not save_traces and signatures is None:
        meta_graph.signature_def[INIT_OP_SIGNATURE].outputs[INIT_OP_SIGNATURE].name = "NoOp"
        return Added()
    specs = parse_signatures(model, signatures)
    library = Library()
    added = Added()
    try:
        built = [_lower_signature(model, spec, library) for spec in specs]
    except NotLowerable as exc:
        if signatures is not None:
            raise UnsupportedFeatureError(
                f"{exc}; signatures= needs every layer lowered. Save without signatures "
                "(signatures=None, save_traces=False) to write the config-only SavedModel"
            ) from exc
        built = []
        library = Library()
        added.not_lowered = f"{exc.layer_name} ({exc.class_name})"
    if save_traces:
        traced, untraced = add_layer_traces(graph, library)
        added.traced, added.untraced = frozenset(traced), tuple(untraced)
    if built:
        _signature_objects(graph, model, built, library)
    for fdef in library.functions.values():
        meta_graph.graph_def.library.function.add().CopyFrom(fdef)
    ops = set(library.ops_used)
    if not built:
        if ops:
            meta_graph.meta_info_def.stripped_op_list.CopyFrom(opdefs.op_list(sorted(ops)))
        return added
    skip = bool(getattr(options, "experimental_skip_saver", False))
    ops |= _graph_tier(graph, meta_graph, built, graph.checkpoint_keys(), skip)
    aliases = getattr(options, "function_aliases", None) or {}
    for alias, target in dict(aliases).items():
        if not isinstance(target, str) or target not in {b.spec.name for b in built}:
            raise UnsupportedFeatureError(
                f"options.function_aliases[{alias!r}]: without TensorFlow only the name of a "
                f"signature can be aliased ({[b.spec.name for b in built]}); received {target!r}")
        fn = next(b.function for b in built if b.spec.name == target)
        meta_graph.meta_info_def.function_aliases[fn] = str(alias)
    meta_graph.meta_info_def.stripped_op_list.CopyFrom(opdefs.op_list(sorted(ops)))
    return added


def warn_not_lowered(layer: str, stacklevel: int = 3) -> None:
    warnings.warn(TRACES_WARNING.format(layers=layer), UserWarning, stacklevel=stacklevel)
