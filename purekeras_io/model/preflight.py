"""The checks every writer runs before its first byte: a model a loader would refuse, or that would
come back different, is refused while the target is still untouched.

:func:`check_model` is called at the top of each format's save entry (SavedModel, checkpoint,
``.h5`` full model and weights, ``.keras`` and ``.weights.h5``), before any temporary file exists:

* **names**: two layers of one model with the same name (every loader matches layers by name or
  by order under their names; ``.h5`` groups and ``.keras`` paths would collide), two weights of
  one layer with the same name;
* **weights against the config**: each built catalog layer's variables are the ones its config
  creates for its build input shape: same names, same shapes, same dtypes (a layer whose config
  was edited after it was built, or whose variables were replaced, would load with different
  weights or not at all);
* **optimizer state**: when the optimizer is written, one slot set per trainable variable, each
  slot of the variable's shape, ``iterations`` a non-negative integer.

Errors are :class:`~purekeras_io.errors.ConfigError` naming the model, layer, weight and values.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from ..errors import ConfigError
from .base import Model
from .layer import Layer, UnknownLayer

__all__ = ["check_model"]


def check_model(model: Any, *, include_optimizer: bool = True, what: str = "save") -> None:
    """Refuse (``ConfigError``) a model whose files would not load back as it is; see the module
    docstring for what is checked. ``what`` names the operation in messages."""
    if not isinstance(model, Model):
        raise ConfigError(f"{what}: expected a purekeras_io model, received {type(model).__name__}")
    seen: set[int] = set()
    for layer in model.iter_layers():
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if isinstance(layer, Model):
            _unique_layer_names(layer, what)
        else:
            _weights_match_config(layer, what)
        _unique_weight_names(layer, what)
    if include_optimizer and model.optimizer is not None:
        _optimizer_fits(model, what)


def _unique_layer_names(model: Model, what: str) -> None:
    counts = Counter(layer.name for layer in model.layers)
    dup = sorted(name for name, n in counts.items() if n > 1)
    if dup:
        raise ConfigError(
            f"{what}: model {model.name!r} has several layers named {dup[:10]} (layer names must "
            "be unique in a model: loaders find layers and their weights by name)"
        )


def _unique_weight_names(layer: Layer, what: str) -> None:
    counts = Counter(var.name for var in layer.own_variables)
    dup = sorted(name for name, n in counts.items() if n > 1)
    if dup:
        raise ConfigError(
            f"{what}: layer {layer.name!r} ({layer.class_name()}) has several weights named "
            f"{dup[:10]}"
        )


def _weights_match_config(layer: Layer, what: str) -> None:
    """A built catalog layer with the base ``build``: its variables are its ``weight_specs``."""
    if isinstance(layer, UnknownLayer) or not layer.built or layer.build_input_shape is None:
        return
    if type(layer).build is not Layer.build:  # builds sub-layers or extra state of its own
        return
    try:
        specs = layer.weight_specs(_shape(layer.build_input_shape))
    except Exception as exc:  # the config no longer fits the shape it was built for
        raise ConfigError(
            f"{what}: layer {layer.name!r} ({layer.class_name()}): its config does not fit the "
            f"input shape {layer.build_input_shape} it was built for ({exc})"
        ) from None
    have = layer.own_variables
    if [s.name for s in specs] != [v.name for v in have]:
        raise ConfigError(
            f"{what}: layer {layer.name!r} ({layer.class_name()}) has weights "
            f"{[v.name for v in have]}, its config creates {[s.name for s in specs]}"
        )
    for spec, var in zip(specs, have):
        shape = tuple(int(d) for d in spec.shape)
        if tuple(var.shape) != shape:
            raise ConfigError(
                f"{what}: layer {layer.name!r} ({layer.class_name()}) weight {var.name!r} has "
                f"shape {tuple(var.shape)}, its config (input shape "
                f"{layer.build_input_shape}) makes it {shape}"
            )
        want = _dtype(spec.dtype or layer.dtype)
        if want is not None and np.dtype(var.dtype) != want:
            raise ConfigError(
                f"{what}: layer {layer.name!r} ({layer.class_name()}) weight {var.name!r} has "
                f"dtype {np.dtype(var.dtype)}, its config makes it {want}"
            )


def _optimizer_fits(model: Model, what: str) -> None:
    opt = model.optimizer
    assert opt is not None
    iterations = opt.iterations
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or (
        iterations < 0
    ):
        raise ConfigError(
            f"{what}: optimizer {type(opt).__name__} iterations must be a non-negative integer, "
            f"received {iterations!r}"
        )
    if opt.slot_values is None:
        return
    weights = model.trainable_weights
    if len(opt.slot_values) != len(weights):
        raise ConfigError(
            f"{what}: optimizer {type(opt).__name__} holds slots for {len(opt.slot_values)} "
            f"variables, the model has {len(weights)} trainable variables "
            f"({[v.path or v.name for v in weights][:5]}…); rebuild the optimizer "
            "(optimizer.build(model.trainable_weights)) or set its state again"
        )
    for var, slots in zip(weights, opt.slot_values):
        for name, value in slots.items():
            shape = tuple(np.shape(value))
            if shape != tuple(var.shape):
                raise ConfigError(
                    f"{what}: optimizer {type(opt).__name__} slot {name!r} of variable "
                    f"{var.path or var.name!r} has shape {shape}, the variable has "
                    f"{tuple(var.shape)}"
                )


def _shape(shape: Any) -> Any:
    if isinstance(shape, list) and all(d is None or isinstance(d, int) for d in shape):
        return tuple(shape)
    if isinstance(shape, list):
        return [_shape(s) for s in shape]
    return shape


def _dtype(name: str) -> np.dtype | None:
    from ..dtypes import to_numpy

    try:
        return np.dtype(to_numpy(name))
    except Exception:
        return None
