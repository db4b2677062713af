"""Functional models: a graph of layer calls from input tensors to output tensors.

``model.layers`` and the order of nodes follow Keras' own graph mapping (both generations agree):
a depth-first walk from the outputs numbers the layers; nodes get a depth (longest path to an
output); layers are listed deepest first, ties broken by the walk order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from .base import Model
from .input_layer import InputLayer
from .layer import Layer
from .tensor import KerasTensor, Node, flatten, map_structure

__all__ = ["Functional", "GraphMap", "map_graph"]


class GraphMap:
    """The result of mapping a graph: nodes by depth, layers in Keras order, the nodes kept."""

    def __init__(
        self, nodes_by_depth: dict[int, list[Node]], layers: list[Layer], nodes: set[Node]
    ):
        self.nodes_by_depth = nodes_by_depth
        self.layers = layers
        self.nodes = nodes

    def execution_order(self) -> list[Node]:
        order: list[Node] = []
        for depth in sorted(self.nodes_by_depth, reverse=True):
            order.extend(self.nodes_by_depth[depth])
        return order


def _history_node(t: KerasTensor) -> Node:
    if t.history is None:
        raise ConfigError(f"tensor {t!r} does not come from a layer (was it made by Input?)")
    layer, node_index, _ = t.history
    return layer.inbound_nodes[node_index]


def map_graph(inputs: list[KerasTensor], outputs: list[KerasTensor]) -> GraphMap:
    finished: set[Node] = set()
    in_progress: set[Node] = set()
    decreasing: list[Node] = []
    layer_indices: dict[Layer, int] = {}
    input_nodes = {id(_history_node(t)) for t in inputs}

    def visit(root: KerasTensor) -> None:
        # Depth-first, parents in argument order, iterative (deep graphs exceed Python's stack).
        stack: list[tuple[Node, int]] = []

        def enter(t: KerasTensor) -> None:
            node = _history_node(t)
            if node in finished:
                return
            if node in in_progress:
                raise ConfigError(f"the graph has a cycle at layer {node.layer.name!r}")
            layer_indices.setdefault(node.layer, len(layer_indices))
            in_progress.add(node)
            stack.append((node, 0))

        enter(root)
        while stack:
            node, i = stack[-1]
            parents = [] if id(node) in input_nodes else node.input_tensors
            if i < len(parents):
                stack[-1] = (node, i + 1)
                enter(parents[i])
                continue
            stack.pop()
            finished.add(node)
            in_progress.discard(node)
            decreasing.append(node)

    for t in outputs:
        visit(t)

    node_depth: dict[Node, int] = {}
    layer_depth: dict[Layer, int] = {}
    for node in reversed(decreasing):
        depth = max(node_depth.setdefault(node, 0), layer_depth.get(node.layer, 0))
        layer_depth[node.layer] = depth
        node_depth[node] = depth
        if id(node) in input_nodes:
            continue
        for parent in node.input_tensors:
            pnode = _history_node(parent)
            node_depth[pnode] = max(depth + 1, node_depth.get(pnode, 0))
    for t in inputs:
        node = _history_node(t)
        if node.layer not in layer_depth:
            layer_depth[node.layer] = 0
            layer_indices[node.layer] = -1
            node_depth[node] = 0
    nodes_by_depth: dict[int, list[Node]] = {}
    for node, depth in node_depth.items():
        nodes_by_depth.setdefault(depth, []).append(node)
    layers_by_depth: dict[int, list[Layer]] = {}
    for layer, depth in layer_depth.items():
        layers_by_depth.setdefault(depth, []).append(layer)
    layers: list[Layer] = []
    for depth in sorted(layers_by_depth, reverse=True):
        layers.extend(sorted(layers_by_depth[depth], key=lambda la: layer_indices[la]))
    for t in inputs:
        if _history_node(t).layer not in layers:
            raise ConfigError(f"input {t.name!r} is not connected to the outputs")
    return GraphMap(nodes_by_depth, layers, set(node_depth))


class Functional(Model):
    """A model defined by input and output tensors, as ``keras.Model(inputs, outputs)``."""

    def __init__(self, inputs: Any, outputs: Any, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self._inputs_struct = inputs
        self._outputs_struct = outputs
        self.inputs: list[KerasTensor] = [t for t in flatten(inputs)]
        self.outputs: list[KerasTensor] = [t for t in flatten(outputs)]
        for t in (*self.inputs, *self.outputs):
            if not isinstance(t, KerasTensor):
                raise ConfigError(f"Model inputs and outputs must be KerasTensors, received {t!r}")
        self.graph = map_graph(self.inputs, self.outputs)
        self.built = True
        shapes = [list(t.shape) for t in self.inputs]
        self.build_input_shape = shapes[0] if len(shapes) == 1 else shapes

    @classmethod
    def class_name(cls) -> str:
        return "Functional"

    @property
    def layers(self) -> list[Layer]:
        return list(self.graph.layers)

    @property
    def input_layers(self) -> list[InputLayer]:
        return [t.history[0] for t in self.inputs]  # type: ignore[index,misc]

    @property
    def input_names(self) -> list[str]:
        return [layer.name for layer in self.input_layers]

    @property
    def output_names(self) -> list[str]:
        return [t.history[0].name for t in self.outputs]  # type: ignore[index]

    def node_index_in_model(self, node: Node) -> int:
        """The node's index among the layer's nodes that belong to this model (as configs count)."""
        kept = [n for n in node.layer.inbound_nodes if n in self.graph.nodes]
        return kept.index(node)

    def compute_output_shape(self, input_shape: Any) -> Any:
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    def compute_output_dtype(self, input_dtype: Any) -> Any:
        dtypes = [t.dtype for t in self.outputs]
        return dtypes[0] if len(dtypes) == 1 else dtypes

    def build(self, input_shape: Any) -> None:
        self.built = True

    # ------------------------------------------------------------------ forward pass

    def _bind_inputs(self, inputs: Any) -> dict[int, Any]:
        if isinstance(inputs, dict):
            values = []
            for layer in self.input_layers:
                if layer.name not in inputs:
                    raise ConfigError(
                        f"model {self.name!r}: missing input {layer.name!r}; "
                        f"received keys {sorted(inputs)}"
                    )
                values.append(inputs[layer.name])
        elif isinstance(inputs, (list, tuple)) and len(self.inputs) > 1:
            values = list(inputs)
        elif isinstance(inputs, (list, tuple)) and len(self.inputs) == 1 and len(inputs) == 1:
            values = [inputs[0]]
        else:
            values = [inputs]
        if len(values) != len(self.inputs):
            raise ConfigError(
                f"model {self.name!r} expects {len(self.inputs)} inputs, received {len(values)}"
            )
        out = {}
        for t, v in zip(self.inputs, values):
            arr = np.asarray(v)
            want = t.dtype if t.dtype != "string" else None
            if want and arr.dtype.kind in "fiub" and str(arr.dtype) != want:
                from ..dtypes import to_numpy

                arr = arr.astype(to_numpy(want))
            out[id(t)] = arr
        return out

    def call(self, inputs: Any, mask: Any = None, **kwargs: Any) -> Any:
        values = self._bind_inputs(inputs)
        masks: dict[int, Any] = {}
        for node in self.graph.execution_order():
            if isinstance(node.layer, InputLayer) and not node.input_tensors:
                continue
            resolve = lambda t: values[id(t)] if isinstance(t, KerasTensor) else t  # noqa: E731
            args = map_structure(resolve, node.args)
            kwargs_ = map_structure(resolve, node.kwargs)
            first = node.args[0] if node.args else None
            in_mask = map_structure(
                lambda t: masks.get(id(t)) if isinstance(t, KerasTensor) else None, first
            )
            has_mask = any(m is not None for m in flatten(in_mask))
            if has_mask and "mask" not in kwargs_:
                kwargs_["mask"] = in_mask
            if getattr(node.layer, "argument_masks", False):
                # Keras 3's convention: the mask of tensor argument ``x`` goes to ``x_mask``.
                names = node.layer.call_arg_names()
                named = [*zip(names[1:], node.args[1:]), *node.kwargs.items()]
                for arg_name, t in named:
                    m = masks.get(id(t)) if isinstance(t, KerasTensor) else None
                    if m is not None and f"{arg_name}_mask" not in kwargs_:
                        kwargs_[f"{arg_name}_mask"] = m
            result = node.layer.call(*args, **kwargs_) if args else node.layer.call(**kwargs_)
            outs = result if isinstance(result, (list, tuple)) else [result]
            out_mask = node.layer.compute_mask(
                args[0] if args else None, in_mask if has_mask else None
            )
            out_masks = out_mask if isinstance(out_mask, (list, tuple)) else [out_mask] * len(outs)
            for t, value, m in zip(node.outputs, outs, out_masks):
                values[id(t)] = value
                if m is not None:
                    masks[id(t)] = m
        results = [values[id(t)] for t in self.outputs]
        if isinstance(self._outputs_struct, dict):
            return dict(zip(self._outputs_struct, results))
        if isinstance(self._outputs_struct, (list, tuple)):
            return results
        return results[0]

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return None
