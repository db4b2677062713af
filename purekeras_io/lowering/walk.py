"""Lowering whole models: Sequential chains and Functional graphs, nested models included.

The walk mirrors the NumPy forward pass of :mod:`purekeras_io.model` (``Functional.call``): nodes in
execution order, each layer's lowering called with the node's arguments (Tensors in place of
KerasTensors), masks propagated as Keras propagates them (a layer's ``mask`` argument, then its
output mask), floating inputs cast to the layer's compute dtype (Keras' autocasting). The static
shape of every output is the KerasTensor's (Keras' own shape inference), so lowerings see the
shapes Keras sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from ..errors import UnsupportedFeatureError
from ..graph.builder import Tensor
from ..model.base import Model
from ..model.functional import Functional
from ..model.input_layer import InputLayer
from ..model.layer import Layer
from ..model.sequential import Sequential
from ..model.tensor import KerasTensor, flatten, map_structure
from . import registry
from .context import LowerContext

__all__ = ["NotLowerable", "call_layer", "call_model"]


class NotLowerable(UnsupportedFeatureError):
    """A layer has no graph lowering (a class outside the catalog, or a ``Lambda``)."""

    def __init__(self, layer: Layer, why: str = "") -> None:
        self.layer_name = layer.name
        self.class_name = layer.class_name()
        detail = f": {why}" if why else ""
        super().__init__(
            f"layer {layer.name!r} ({layer.class_name()}) cannot be lowered to a TensorFlow "
            f"graph{detail}"
        )


def _with_shape(t: Any, kt: Any) -> Any:
    if isinstance(t, Tensor) and isinstance(kt, KerasTensor):
        return Tensor(t.ref, t.dtype, tuple(kt.shape), t.node)
    return t


def _autocast(ctx: LowerContext, layer: Layer, value: Any) -> Any:
    want = str(getattr(layer, "compute_dtype", "") or "")
    if not want.startswith(("float", "bfloat")) or not layer.config.get("autocast", True):
        return value

    def cast_one(t: Any) -> Any:
        if isinstance(t, Tensor) and t.dtype.startswith(("float", "bfloat")) and t.dtype != want:
            return ctx.cast(t, want)
        return t

    return map_structure(cast_one, value)


def call_layer(
    ctx: LowerContext, layer: Layer, args: Sequence[Any], kwargs: dict[str, Any],
    mask: Any = None,
) -> tuple[Any, Any]:
    """Lower one call of ``layer``; returns (outputs, output mask)."""
    if isinstance(layer, Model):
        first = args[0] if args else next(iter(kwargs.values()))
        return call_model(ctx, layer, first, mask)
    fn = registry.find(layer)
    if fn is None:
        raise NotLowerable(layer)
    args = list(args)
    if args:
        args[0] = _autocast(ctx, layer, args[0])
    if mask is not None and any(m is not None for m in flatten(mask)):
        kwargs = {**kwargs, "mask": mask} if "mask" not in kwargs else kwargs
    previous = ctx.dialect
    ctx.dialect = layer.source_dialect
    try:
        with ctx.b.scope(layer.name):
            outputs = fn(ctx, layer, *args, **kwargs)
            mask_fn = registry.find_mask(layer)
            first = args[0] if args else None
            in_mask = kwargs.get("mask")
            if mask_fn is not None:
                out_mask = mask_fn(ctx, layer, first, in_mask)
            elif layer.supports_masking:
                out_mask = in_mask
            else:
                out_mask = None
    finally:
        ctx.dialect = previous
    return outputs, out_mask


def call_model(ctx: LowerContext, model: Model, inputs: Any, mask: Any = None) -> tuple[Any, Any]:
    """Lower ``model`` called on ``inputs`` (a Tensor, or a list / dict for several inputs)."""
    with ctx.b.scope(model.name):
        if isinstance(model, Sequential):
            return _sequential(ctx, model, inputs, mask)
        if isinstance(model, Functional):
            return _functional(ctx, model, inputs, mask)
    raise NotLowerable(model, "a model class that is neither Sequential nor Functional")


def _sequential(ctx: LowerContext, model: Sequential, inputs: Any, mask: Any) -> tuple[Any, Any]:
    x = inputs
    if isinstance(x, dict) and len(x) == 1:
        x = next(iter(x.values()))
    if isinstance(x, (list, tuple)) and len(x) == 1:
        x = x[0]
    kt = model.inputs[0] if model.inputs else None
    for layer in model.layers:
        if isinstance(layer, InputLayer):
            continue
        out, mask = call_layer(ctx, layer, [x], {}, mask)
        if kt is not None:
            node = next((n for n in layer.inbound_nodes if n.args and n.args[0] is kt), None)
            if node is not None and node.outputs:
                kt = node.outputs[0]
                out = _with_shape(out, kt)
            else:
                kt = None
        x = out
    return x, mask


def _functional(ctx: LowerContext, model: Functional, inputs: Any, mask: Any) -> tuple[Any, Any]:
    if isinstance(inputs, dict):
        values_in = [inputs[layer.name] for layer in model.input_layers]
    elif isinstance(inputs, (list, tuple)):
        values_in = list(inputs)
    else:
        values_in = [inputs]
    if len(values_in) != len(model.inputs):
        raise UnsupportedFeatureError(
            f"model {model.name!r}: expects {len(model.inputs)} inputs, lowering received "
            f"{len(values_in)}"
        )
    values: dict[int, Any] = {}
    masks: dict[int, Any] = {}
    in_masks = list(mask) if isinstance(mask, (list, tuple)) else [mask] * len(values_in)
    for kt, value, m in zip(model.inputs, values_in, in_masks):
        values[id(kt)] = _with_shape(value, kt)
        if m is not None:
            masks[id(kt)] = m
    for node in model.graph.execution_order():
        if isinstance(node.layer, InputLayer) and not node.input_tensors:
            continue

        def resolve(t: Any) -> Any:
            return values[id(t)] if isinstance(t, KerasTensor) else t

        args = map_structure(resolve, node.args)
        kwargs = map_structure(resolve, node.kwargs)
        first = node.args[0] if node.args else None
        in_mask = map_structure(
            lambda t: masks.get(id(t)) if isinstance(t, KerasTensor) else None, first
        )
        has_mask = any(m is not None for m in flatten(in_mask))
        if getattr(node.layer, "argument_masks", False):
            names = node.layer.call_arg_names()
            named = [*zip(names[1:], node.args[1:]), *node.kwargs.items()]
            for arg_name, t in named:
                m = masks.get(id(t)) if isinstance(t, KerasTensor) else None
                if m is not None and f"{arg_name}_mask" not in kwargs:
                    kwargs[f"{arg_name}_mask"] = m
        if isinstance(node.layer, Model):
            result, out_mask = call_model(ctx, node.layer, args[0] if args else kwargs,
                                          in_mask if has_mask else None)
        else:
            result, out_mask = call_layer(ctx, node.layer, list(args), dict(kwargs),
                                          in_mask if has_mask else None)
        outs = list(result) if isinstance(result, (list, tuple)) else [result]
        out_masks = (
            list(out_mask) if isinstance(out_mask, (list, tuple)) else [out_mask] * len(outs)
        )
        for kt, value, m in zip(node.outputs, outs, out_masks):
            values[id(kt)] = _with_shape(value, kt)
            if m is not None:
                masks[id(kt)] = m
    results = [values[id(t)] for t in model.outputs]
    result_masks = [masks.get(id(t)) for t in model.outputs]
    if len(results) == 1 and not isinstance(model._outputs_struct, (list, tuple, dict)):
        return results[0], result_masks[0]
    return results, result_masks


def output_tensors(outputs: Any) -> list[Tensor]:
    return [cast(Tensor, t) for t in flatten(outputs)]
