"""Embedding: a row lookup of the ``embeddings`` table (``ReadVariableOp`` + ``GatherV2`` on
axis 0), and with ``mask_zero`` the output mask ``NotEqual(inputs, 0)``.

As in the NumPy forward pass (:mod:`purekeras_io.layers.embedding`): indices that are not int32 /
int64 (other integer widths, floats) are cast to int32 first (``Cast`` truncates floats toward
zero, as Keras' cast does); the rows keep the table's dtype. The mask is taken on the inputs as
given (a float input of 0.5 is kept, though it looks up row 0, as in Keras).
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from ..graph.builder import Tensor
from ..layers import embedding as E
from .context import LowerContext
from .registry import lowers, lowers_mask

__all__: list[str] = []


@lowers(E.Embedding)
def _embedding(ctx: LowerContext, layer: E.Embedding, x: Tensor, **_: Any) -> Tensor:
    idx = x if x.dtype in ("int32", "int64") else ctx.cast(x, "int32")
    var = layer.own_variables[0]
    table = ctx.read(var)
    shape = None if x.shape is None else (*x.shape, int(var.shape[1]))
    return cast(Tensor, ctx.op("GatherV2", table, idx, ctx.const(np.asarray(0, np.int32)),
                               shape=shape))


@lowers_mask(E.Embedding)
def _embedding_mask(ctx: LowerContext, layer: E.Embedding, x: Tensor, mask: Any
                    ) -> Tensor | None:
    if not layer.config.get("mask_zero"):
        return None
    return ctx.binary("NotEqual", x, ctx.const(np.asarray(0), x.dtype))
