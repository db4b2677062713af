"""The table from layer classes to their lowerings (one entry per class, found along the MRO).

A lowering is ``fn(ctx, layer, inputs, **call_kwargs) -> outputs`` with the arguments of the
layer's NumPy ``call`` (``mask=`` included when the layer receives one), Tensors in place of
arrays. A mask lowering ``mask_fn(ctx, layer, inputs, mask) -> mask`` is registered only for
layers whose output mask is not "the input mask when the layer supports masking, else none".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..model.layer import Layer

__all__ = ["LOWERINGS", "MASKS", "find", "find_mask", "lowers", "lowers_mask"]

LowerFn = Callable[..., Any]

LOWERINGS: dict[type, LowerFn] = {}
MASKS: dict[type, LowerFn] = {}


def lowers(*classes: type) -> Callable[[LowerFn], LowerFn]:
    """Decorator: ``fn`` lowers these layer classes."""

    def deco(fn: LowerFn) -> LowerFn:
        for cls in classes:
            LOWERINGS[cls] = fn
        return fn

    return deco


def lowers_mask(*classes: type) -> Callable[[LowerFn], LowerFn]:
    """Decorator: ``fn`` computes these classes' output masks."""

    def deco(fn: LowerFn) -> LowerFn:
        for cls in classes:
            MASKS[cls] = fn
        return fn

    return deco


def find(layer: Layer) -> LowerFn | None:
    for cls in type(layer).__mro__:
        if cls in LOWERINGS:
            return LOWERINGS[cls]
    return None


def find_mask(layer: Layer) -> LowerFn | None:
    for cls in type(layer).__mro__:
        if cls in MASKS:
            return MASKS[cls]
    return None
