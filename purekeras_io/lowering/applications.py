"""The layer classes of the Keras applications' own modules: ConvNeXt's ``LayerScale``
(``x * gamma``) and ``StochasticDepth`` (the identity at inference), InceptionResNetV2's
``CustomScaleLayer`` (``inputs[0] + inputs[1] * scale``).

As in the NumPy forward pass (:mod:`purekeras_io.layers.applications`), products are taken in
the wider of the operands' dtypes and the result has the first input's dtype.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from ..dtypes import to_numpy
from ..graph.builder import Tensor
from ..layers import applications as A
from .context import LowerContext
from .registry import lowers
from .walk import NotLowerable

__all__: list[str] = []


def _wider(ctx: LowerContext, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    if x.dtype == y.dtype:
        return x, y
    want = np.result_type(to_numpy(x.dtype), to_numpy(y.dtype)).name
    return ctx.cast(x, want), ctx.cast(y, want)


@lowers(A.LayerScale)
def _layer_scale(ctx: LowerContext, layer: A.LayerScale, x: Tensor, **_: Any) -> Tensor:
    gamma = ctx.read(layer.own_variables[0])
    a, g = _wider(ctx, x, gamma)
    return ctx.cast(ctx.mul(a, g), x.dtype)


@lowers(A.StochasticDepth)
def _stochastic_depth(ctx: LowerContext, layer: A.StochasticDepth, x: Tensor, **_: Any
                      ) -> Tensor:
    return x


@lowers(A.CustomScaleLayer)
def _custom_scale(ctx: LowerContext, layer: A.CustomScaleLayer, inputs: Any, **_: Any
                  ) -> Tensor:
    if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
        raise NotLowerable(layer, "CustomScaleLayer takes a list of 2 inputs")
    a, b = cast(Tensor, inputs[0]), cast(Tensor, inputs[1])
    scaled = ctx.mul(b, ctx.const(np.asarray(layer.config["scale"], to_numpy(b.dtype)), b.dtype))
    left, right = _wider(ctx, a, scaled)
    return ctx.cast(ctx.add(left, right), a.dtype)
