"""``/optimizer/vars/<i>``: the optimizer's variables in the order each Keras generation saves them.

=========  ====================================================================================
target     ``optimizer/vars`` order
=========  ====================================================================================
keras3     ``0`` iteration (int64 scalar), ``1`` learning_rate (float32 scalar; absent for a
           schedule), the slots, then extras (Nadam ``variable``: without it Keras 3 finds a
           count mismatch and discards the whole state)
keras2     ``0`` iteration (int64 scalar), then the slots (tf_keras' SGD has ``m`` slots even
           with ``momentum=0``)
=========  ====================================================================================

The order is :meth:`purekeras_io.optimizers.Optimizer.variables` (see
:mod:`purekeras_io.optimizer_state`); ``.keras`` stores the arrays without names, so the layout is
told on reading by the count. A loader that finds another count only warns and starts a fresh
optimizer (keras_v3.md §7).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..lazy import keep, unwrap
from ..model.dialect import check_dialect
from ..optimizer_state import (
    check_iterations,
    dialect_for_count,
    layout_size,
    restore_variables,
    state_variables,
)
from ..optimizers import Optimizer

__all__ = ["optimizer_arrays", "restore_optimizer"]


def optimizer_arrays(
    optimizer: Optimizer, trainable: Sequence[Any], target: str
) -> list[np.ndarray]:
    """The optimizer's variables for ``optimizer/vars`` (initial-state slots if never built)."""
    dialect = check_dialect(target, what="target")
    entries = state_variables(optimizer, trainable, dialect, where=f"optimizer {optimizer.name!r}")
    return [keep(unwrap(a)) for _, a in entries]  # lazy slots stay unread


def restore_optimizer(
    optimizer: Optimizer,
    arrays: Sequence[np.ndarray],
    trainable: Sequence[Any],
    where: str,
    prefer: str = "keras3",
) -> str | None:
    """Set iterations, learning rate and slots from ``optimizer/vars`` (either layout).

    The layout is told by the count (Keras 3's has ``learning_rate``); ``prefer`` breaks a tie.
    Returns a warning text when the count fits neither layout (the state is then left fresh, as
    Keras does), else None.
    """
    if not arrays:
        return None
    n = len(trainable)
    dialect = dialect_for_count(optimizer, n, len(arrays), check_dialect(prefer, what="prefer"))
    if dialect is None:
        return (
            f"{where}: skipping optimizer state: {len(arrays)} variables saved, "
            f"{type(optimizer).__name__} on {n} trainable variables has "
            f"{layout_size(optimizer, n, 'keras3')} (Keras 3) or "
            f"{layout_size(optimizer, n, 'keras2')} (tf_keras)"
        )
    check_iterations(arrays[0], f"{where}/0")
    restore_variables(optimizer, trainable, arrays, dialect, where)
    return None
