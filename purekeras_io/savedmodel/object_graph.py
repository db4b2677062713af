"""The object graph of a Keras SavedModel: one node table, two protos.

:class:`ObjectGraph` holds the trackable objects of a saved model (user objects and variables,
joined by named edges). It renders

* the ``SavedObjectGraph`` of ``saved_model.pb`` (nodes with ``checkpoint_only=False``), and
* the checkpoint's ``TrackableObjectGraph`` (every node, same ids; variables carry one
  ``SerializedTensor{name: "VARIABLE_VALUE", full_name, checkpoint_key}``).

Checkpoint-only nodes (the optimizer subtree, ``layout`` docstring) are added after every other
node, so the SavedObjectGraph's ids are a prefix of the checkpoint's. Node ids follow TF's
breadth-first discovery order from the root; checkpoint keys use each variable's first
breadth-first path (``tensorbundle.md`` §7).

:func:`build_model_graph` walks a purekeras_io model the way tf_keras tracks it (``savedmodel.md``
§2.2, measured on tf_keras 2.21): a model's children are ``layer_with_weights-K`` (layers with
weights) and ``layer-N`` (all layers; Functional includes its InputLayers, Sequential does not),
a layer's children its sub-layers (``cell``, ``forward_layer`` …) then its weights by attribute
name; shared layers and variables are one node each.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from .._proto.tf import (
    saved_object_graph_pb2,
    trackable_object_graph_pb2,
    types_pb2,
    variable_pb2,
)
from ..dtypes import by_numpy
from ..model.base import Model
from ..model.functional import Functional
from ..model.input_layer import InputLayer
from ..model.layer import Layer
from ..model.sequential import Sequential
from ..model.variable import Variable
from . import layout

__all__ = [
    "GraphNode",
    "ObjectGraph",
    "add_optimizer",
    "build_model_graph",
    "keras2_attribute_name",
    "layer_identifier",
    "tracked_layers",
    "variable_names",
]

# tf_keras attribute names that differ from the weight's own name, by (class name, weight name).
# Measured on tf_keras 2.21: none of the catalog's layers differs (Normalization tracks both
# ``mean`` and its alias ``adapt_mean``); the table stays as the place for such cases.
_KERAS2_ATTRIBUTE_NAMES: dict[tuple[str, str], str] = {}
# tf_keras attribute names of sub-layers that differ from the catalog's ``sublayers()`` names.
_KERAS2_SUBLAYER_NAMES: dict[tuple[str, str], str] = {
    ("MultiHeadAttention", "query_dense"): "_query_dense",
    ("MultiHeadAttention", "key_dense"): "_key_dense",
    ("MultiHeadAttention", "value_dense"): "_value_dense",
    ("MultiHeadAttention", "output_dense"): "_output_dense",
}
# Layer classes tf_keras saves as "_tf_keras_rnn_layer" (instances of its RNN base class).
_RNN_CLASSES = frozenset(
    {"RNN", "SimpleRNN", "GRU", "LSTM", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "CuDNNGRU",
     "CuDNNLSTM"}
)


@dataclass
class GraphNode:
    """One trackable object: a user object (layer, model, list…) or a variable."""

    kind: str
    """``"user_object"``, ``"variable"``, ``"function"`` or ``"bare_concrete_function"``."""
    identifier: str = ""
    children: list[tuple[str, int]] = field(default_factory=list)
    checkpoint_only: bool = False
    obj: Any = None
    """The Keras object behind the node (Layer / Model / Variable), when there is one."""
    # variables
    name: str = ""
    value: Any = None
    """The array to checkpoint (anything ``np.asarray`` accepts)."""
    trainable: bool = True
    synchronization: int = 0
    aggregation: int = 0
    # functions
    proto: Any = None
    """``SavedFunction`` / ``SavedBareConcreteFunction`` of a function node."""


class ObjectGraph:
    """Nodes and named edges; ids are list positions, node 0 is the root."""

    def __init__(self) -> None:
        self.nodes: list[GraphNode] = []
        self._checkpoint_only_added = False
        self.concrete_functions: dict[str, saved_object_graph_pb2.SavedConcreteFunction] = {}

    def add(self, node: GraphNode) -> int:
        if node.checkpoint_only is False and self._checkpoint_only_added:
            raise ValueError("checkpoint-only nodes must come after every SavedModel node")
        self._checkpoint_only_added |= node.checkpoint_only
        self.nodes.append(node)
        return len(self.nodes) - 1

    def add_child(self, parent: int, name: str, child: int) -> None:
        self.nodes[parent].children.append((name, child))

    # ------------------------------------------------------------------ paths

    def bfs_paths(self) -> dict[int, list[str]]:
        """Each reachable node's first breadth-first path of child names from the root."""
        paths: dict[int, list[str]] = {0: []}
        queue: deque[int] = deque([0])
        while queue:
            current = queue.popleft()
            for name, child in self.nodes[current].children:
                if child not in paths:
                    paths[child] = [*paths[current], name]
                    queue.append(child)
        return paths

    def variables(self) -> Iterator[tuple[int, GraphNode]]:
        for i, node in enumerate(self.nodes):
            if node.kind == "variable":
                yield i, node

    def checkpoint_keys(self) -> dict[int, str]:
        """Variable node id → checkpoint key (``<first BFS path>/.ATTRIBUTES/VARIABLE_VALUE``)."""
        paths = self.bfs_paths()
        out: dict[int, str] = {}
        for i, _ in self.variables():
            if i not in paths:
                raise ValueError(f"object graph: variable node {i} is not reachable from the root")
            out[i] = layout.checkpoint_key(paths[i])
        return out

    # ------------------------------------------------------------------ protos

    def saved_object_graph(self) -> saved_object_graph_pb2.SavedObjectGraph:
        """The ``SavedObjectGraph`` (checkpoint-only nodes and edges to them left out)."""
        graph = saved_object_graph_pb2.SavedObjectGraph()
        kept = [n for n in self.nodes if not n.checkpoint_only]
        limit = len(kept)
        for node in kept:
            proto = graph.nodes.add()
            for name, child in node.children:
                if child < limit:
                    ref = proto.children.add()
                    ref.node_id = child
                    ref.local_name = name
            if node.kind == "variable":
                var = proto.variable
                arr = np.asarray(node.value) if not hasattr(node.value, "dtype") else node.value
                var.dtype = cast(types_pb2.DataType, by_numpy(arr.dtype).tf_enum)
                for dim in arr.shape:
                    var.shape.dim.add().size = int(dim)
                var.trainable = bool(node.trainable)
                var.synchronization = cast(
                    variable_pb2.VariableSynchronization, node.synchronization
                )
                var.aggregation = cast(variable_pb2.VariableAggregation, node.aggregation)
                var.name = node.name
            elif node.kind == "function":
                proto.function.CopyFrom(node.proto)
            elif node.kind == "bare_concrete_function":
                proto.bare_concrete_function.CopyFrom(node.proto)
            else:
                user = proto.user_object
                user.identifier = node.identifier
                user.version.producer = layout.USER_OBJECT_VERSION[0]
                user.version.min_consumer = layout.USER_OBJECT_VERSION[1]
        for name in sorted(self.concrete_functions):
            graph.concrete_functions[name].CopyFrom(self.concrete_functions[name])
        return graph

    def trackable_object_graph(
        self, keys: dict[int, str]
    ) -> trackable_object_graph_pb2.TrackableObjectGraph:
        """The checkpoint's ``TrackableObjectGraph`` (every node, same ids)."""
        has_values = self._has_values()
        graph = trackable_object_graph_pb2.TrackableObjectGraph()
        for i, node in enumerate(self.nodes):
            proto = graph.nodes.add()
            for name, child in node.children:
                ref = proto.children.add()
                ref.node_id = child
                ref.local_name = name
            if node.kind == "variable":
                attr = proto.attributes.add()
                attr.name = layout.VARIABLE_VALUE
                attr.full_name = node.name
                attr.checkpoint_key = keys[i]
            proto.has_checkpoint_values.value = has_values[i]
        return graph

    def _has_values(self) -> list[bool]:
        """TF's ``has_checkpoint_values``: the node or a descendant holds a variable."""
        memo: dict[int, bool] = {}

        def visit(i: int, stack: frozenset[int]) -> bool:
            if i in memo:
                return memo[i]
            node = self.nodes[i]
            result = node.kind == "variable"
            for _, child in node.children:
                if child not in stack and visit(child, stack | {i}):
                    result = True
            memo[i] = result
            return result

        return [visit(i, frozenset()) for i in range(len(self.nodes))]


# ====================================================================== model → graph


def tracked_layers(model: Model) -> list[Layer]:
    """The layers a model tracks as ``layer-N``.

    Functional: with its InputLayers; Sequential: without."""
    if isinstance(model, Sequential):
        return [la for la in model.layers if not isinstance(la, InputLayer)]
    return list(model.layers)


def layer_identifier(layer: Layer) -> str:
    if isinstance(layer, Sequential):
        return layout.SEQUENTIAL_IDENTIFIER
    if isinstance(layer, Model):
        return layout.NETWORK_IDENTIFIER
    if isinstance(layer, InputLayer):
        return layout.INPUT_LAYER_IDENTIFIER
    if layer.class_name() in _RNN_CLASSES:
        return layout.RNN_LAYER_IDENTIFIER
    return layout.LAYER_IDENTIFIER


def keras2_attribute_name(layer: Layer, var: Variable) -> str:
    """The attribute tf_keras keeps this weight under (usually the weight's own name)."""
    return _KERAS2_ATTRIBUTE_NAMES.get((layer.class_name(), var.name), var.name)


def _children(obj: Any) -> list[tuple[str, Any]]:
    """A Keras object's tracked children in tf_keras' order (see the module docstring)."""
    if isinstance(obj, Variable):
        return []
    out: list[tuple[str, Any]] = []
    if isinstance(obj, (Sequential, Functional)):
        weighted = 0
        for index, layer in enumerate(tracked_layers(obj)):
            if layer.weights:
                out.append((f"layer_with_weights-{weighted}", layer))
                weighted += 1
            out.append((f"layer-{index}", layer))
        return out
    if isinstance(obj, Layer):
        cls = obj.class_name()
        out.extend(
            (_KERAS2_SUBLAYER_NAMES.get((cls, name), name), sub)
            for name, sub in obj.sublayers().items()
        )
        out.extend((keras2_attribute_name(obj, v), v) for v in obj.own_variables)
    return out


def variable_names(model: Model) -> dict[int, str]:
    """id(Variable) → the tf_keras variable name (``bidi/forward_lstm/lstm_cell/kernel``).

    A layer's variables are scoped by its name, a sub-layer's by its parent's scope too; the
    layers of a (nested) model are not scoped by the model's name.
    """
    names: dict[int, str] = {}
    _ = model.weights  # wrappers fill in their variables' paths when their weights are listed

    def visit_layer(layer: Layer, scope: str) -> None:
        if isinstance(layer, Model):
            for sub in tracked_layers(layer):
                visit_layer(sub, "")
            return
        here = f"{scope}/{layer.name}" if scope else layer.name
        for var in layer.own_variables:
            # wrappers record tf_keras' own name where it differs (TimeDistributed: td/kernel)
            keras2 = var.extra.get("keras2_path")
            names.setdefault(id(var), str(keras2) if keras2 else f"{here}/{var.name}")
        for sub in layer.sublayers().values():
            visit_layer(sub, here)

    visit_layer(model, "")
    return names


def build_model_graph(model: Model) -> ObjectGraph:
    """The object graph of ``model`` (without the optimizer; see :func:`add_optimizer`)."""
    graph = ObjectGraph()
    scopes = variable_names(model)
    ids: dict[int, int] = {id(model): 0}
    graph.add(GraphNode("user_object", layer_identifier(model), obj=model))
    queue: deque[Any] = deque([model])
    while queue:
        obj = queue.popleft()
        parent = ids[id(obj)]
        for name, child in _children(obj):
            if id(child) not in ids:
                ids[id(child)] = graph.add(_node_for(child, scopes))
                queue.append(child)
            graph.add_child(parent, name, ids[id(child)])
    return graph


def _node_for(obj: Any, scopes: dict[int, str]) -> GraphNode:
    if isinstance(obj, Variable):
        return GraphNode(
            "variable",
            obj=obj,
            name=scopes.get(id(obj), obj.path or obj.name),
            value=obj,  # the Variable (array-like): read when written, never drawn on load
            trainable=bool(obj.trainable),
            synchronization=int(obj.synchronization),
            aggregation=int(obj.aggregation),
        )
    return GraphNode("user_object", layer_identifier(obj), obj=obj)


def add_optimizer(
    graph: ObjectGraph,
    iterations: int,
    learning_rate: float | None,
    slots: list[tuple[str, np.ndarray]],
) -> None:
    """Append ``root → optimizer → _iterations / _learning_rate / _variables → 0..k`` as
    checkpoint-only nodes (``savedmodel.md`` §8). ``slots`` = (tf_keras variable name, value) in
    tf_keras' ``optimizer.variables`` order after ``iterations``."""
    opt = graph.add(GraphNode("user_object", "experimentalOptimizer", checkpoint_only=True))
    var_list = graph.add(GraphNode("user_object", "trackable_list_wrapper", checkpoint_only=True))
    it = graph.add(
        GraphNode(
            "variable", checkpoint_only=True, name="iteration",
            value=np.asarray(iterations, dtype=np.int64), trainable=False,
        )
    )
    graph.add_child(opt, "_variables", var_list)
    graph.add_child(opt, "_iterations", it)
    if learning_rate is not None:
        lr = graph.add(
            GraphNode(
                "variable", checkpoint_only=True, name="learning_rate",
                value=np.asarray(learning_rate, dtype=np.float32), trainable=False,
            )
        )
        graph.add_child(opt, "_learning_rate", lr)
    graph.add_child(var_list, "0", it)
    for k, (name, value) in enumerate(slots, start=1):
        slot = graph.add(
            GraphNode("variable", checkpoint_only=True, name=name, value=value, trainable=False)
        )
        graph.add_child(var_list, str(k), slot)
    graph.add_child(0, "optimizer", opt)
