"""Traced layer calls: how tf_keras revives a layer it cannot rebuild from its config.

tf_keras ``load_model`` rebuilds each layer from ``class_name`` + ``config`` when it can. When it
cannot (the class is not registered, as ConvNeXt's ``LayerScale``; or ``from_config`` raises
``ValueError`` on a value tf_keras lacks, as Keras 3's ``hard_silu`` activation), it makes a
``RevivedLayer`` and, at the end of loading, sets its ``call`` to the layer's traced function
``keras_api.call_and_return_conditional_losses``; without that function the layer is not
callable and loading fails. TensorFlow's saver writes such traces for every layer
(``save_traces=True``); we write them for the layers that need them (:func:`needs_trace`), as
the graph lowering of that layer alone (:mod:`purekeras_io.lowering`)::

    layer node ── keras_api (user_object "_generic_user_object")
                     └── call_and_return_conditional_losses (function)
    SavedFunction{concrete_functions: [<the trace>],
                  function_spec{fullargspec: FullArgSpec(args=["inputs"]), input_signature: None}}
    trace: __inference_<layer>_layer_call_and_return_conditional_losses_<k>
    SavedConcreteFunction{bound_inputs: the layer's variables (node ids, first-use order),
                          canonicalized_input_signature: ((inputs,), {}),
                          output_signature: (outputs, [])}   # (call outputs, conditional losses)

``inputs`` is the layer's first call in the model (a tensor, or a list/tuple of tensors, with
Keras' static shapes and a dynamic batch); the function's arguments are those tensors, flat,
then one resource per variable read. A layer called with tensors in more than one argument is not
traced (tf_keras rebuilds every such catalog class from its config).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from .. import activations
from .._proto.tf import saved_object_graph_pb2, struct_pb2
from ..graph.builder import FunctionBuilder, Library, Tensor
from ..lowering import Capture, LowerContext, NotLowerable, call_layer
from ..model.base import Model
from ..model.input_layer import InputLayer
from ..model.layer import Layer, UnknownLayer
from ..model.tensor import KerasTensor, flatten, map_structure
from .object_graph import GraphNode, ObjectGraph
from .structs import dict_value, fullargspec, list_value, none_value, tensor_spec, tuple_value

__all__ = ["KERAS_API", "TRACE_FUNCTION", "add_layer_traces", "needs_python", "needs_trace"]

KERAS_API = "keras_api"
TRACE_FUNCTION = "call_and_return_conditional_losses"
_GENERIC_USER_OBJECT = "_generic_user_object"
_ACTIVATION_KEYS = ("activation", "recurrent_activation")


def needs_python(layer: Layer) -> bool:
    """tf_keras cannot find the class by name: a class outside the catalog, or one that lives
    in an application module without a ``Package>Class`` registration (``LayerScale``)."""
    if isinstance(layer, UnknownLayer):
        return True
    registered = getattr(layer, "registered_names", {}).get("keras2")
    return registered is not None and ">" not in registered


def _keras3_only_activation(layer: Layer) -> bool:
    for key in _ACTIVATION_KEYS:
        name = layer.config.get(key)
        if isinstance(name, str) and name != "silu" and name not in activations.KERAS2_NAMES:
            return True
    return False


def needs_trace(layer: Layer) -> bool:
    """tf_keras can call this layer only through its traced function."""
    if isinstance(layer, (Model, InputLayer)):
        return False
    return needs_python(layer) or _keras3_only_activation(layer)


def _first_call(layer: Layer) -> Any:
    for node in layer.inbound_nodes:
        structure = node.args[0] if len(node.args) == 1 else None
        if structure is None or isinstance(structure, dict):
            continue
        if not all(isinstance(t, KerasTensor) for t in flatten(structure)):
            continue
        if any(isinstance(t, KerasTensor) for t in flatten(node.kwargs)):
            continue
        return node
    return None


def _spec_value(structure: Any, names: Iterable[str]) -> struct_pb2.StructuredValue:
    it = iter(names)

    def visit(s: Any) -> struct_pb2.StructuredValue:
        if isinstance(s, list):
            return list_value([visit(x) for x in s])
        if isinstance(s, tuple):
            return tuple_value(*[visit(x) for x in s])
        return tensor_spec(next(it), cast(Any, s).shape, s.dtype)

    return visit(structure)


def _trace(layer: Layer, node: Any, library: Library
           ) -> tuple[str, list[Any], struct_pb2.StructuredValue, struct_pb2.StructuredValue]:
    fname = library.reserve(f"{layer.name}_layer_{TRACE_FUNCTION}")
    b = FunctionBuilder(fname)
    capture = Capture()
    ctx = LowerContext(b, library, capture)
    kts = list(flatten(node.args[0]))
    names = ["inputs"] if len(kts) == 1 else [f"inputs_{i}" for i in range(len(kts))]
    args = iter([b.arg(n, kt.dtype, tuple(kt.shape)) for n, kt in zip(names, kts)])
    inputs = map_structure(lambda _: next(args), node.args[0])
    kwargs = {k: v for k, v in node.kwargs.items() if k != "mask"}
    result, _ = call_layer(ctx, layer, [inputs], kwargs, None)
    flat = [cast(Tensor, t) for t in flatten(result)]
    shapes = [tuple(kt.shape) for kt in node.outputs]
    outs = []
    for i, t in enumerate(flat):
        shape = shapes[i] if i < len(shapes) else t.shape
        y = cast(Tensor, b.op("Identity", t, name=f"output_{i}", shape=shape))
        b.ret(f"output_{i}", y)
        outs.append(y)
    library.add(b)
    in_value = tuple_value(tuple_value(_spec_value(node.args[0], names)), dict_value({}))
    out_names = [f"tensor_{i}" for i in range(len(outs))]
    it = iter(outs)
    out_struct = map_structure(lambda _: next(it), result)
    out_value = tuple_value(_spec_value(out_struct, out_names), list_value([]))
    return fname, list(capture.variables), in_value, out_value


def add_layer_traces(graph: ObjectGraph, library: Library) -> tuple[set[int], list[str]]:
    """Trace every layer of the object graph that :func:`needs_trace`. Returns the ids of the
    layers traced and the layers that needed a trace but got none (``name (Class)``)."""
    var_ids = {id(n.obj): i for i, n in enumerate(graph.nodes)
               if n.kind == "variable" and n.obj is not None}
    traced: set[int] = set()
    missing: list[str] = []
    for node_id, gnode in list(enumerate(graph.nodes)):
        layer = gnode.obj
        if gnode.checkpoint_only or not isinstance(layer, Layer) or id(layer) in traced:
            continue
        if not needs_trace(layer):
            continue
        call = _first_call(layer)
        try:
            if call is None:
                raise NotLowerable(layer, "no call with one tensor argument to trace")
            fname, variables, in_value, out_value = _trace(layer, call, library)
        except NotLowerable:
            missing.append(f"{layer.name} ({layer.class_name()})")
            continue
        conc = saved_object_graph_pb2.SavedConcreteFunction()
        conc.bound_inputs.extend(var_ids[id(v)] for v in variables)
        conc.canonicalized_input_signature.CopyFrom(in_value)
        conc.output_signature.CopyFrom(out_value)
        graph.concrete_functions[fname] = conc
        fn = saved_object_graph_pb2.SavedFunction()
        fn.concrete_functions.append(fname)
        fn.function_spec.fullargspec.CopyFrom(fullargspec(["inputs"]))
        fn.function_spec.input_signature.CopyFrom(none_value())
        api = graph.add(GraphNode("user_object", _GENERIC_USER_OBJECT))
        graph.add_child(node_id, KERAS_API, api)
        graph.add_child(api, TRACE_FUNCTION, graph.add(GraphNode("function", proto=fn)))
        traced.add(id(layer))
    return traced, missing
