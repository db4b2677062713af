"""Optimizer state as the format modules store it: one adapter over :mod:`.optimizers`.

The per-generation layouts (variable order, slot names, tf_keras' extra SGD ``m`` slots with
``momentum=0``, Adagrad/Ftrl ``initial_accumulator_value``, the tf_keras prefix being the
optimizer's own name, Keras 3 Nadam's trailing ``variable``) live in
:meth:`.optimizers.Optimizer.variables` / :meth:`~.optimizers.Optimizer.set_from_variables`, which
the oracle tests verify. Every format reads and writes optimizer state through the functions here;
the format modules only add their own naming (``.h5``'s ``:0`` suffixes, ``.keras``'s
``optimizer/vars/<i>``, the SavedModel/checkpoint object graph):

==========  ====================================================================================
dialect     ``variables`` order
==========  ====================================================================================
keras3      ``iteration`` (int64 scalar), ``learning_rate`` (float32 scalar; absent for a
            schedule), the slots, extras (Nadam ``variable``)
keras2      ``iteration`` (int64 scalar), the slots (tf_keras ≥ 2.11 ``optimizer_experimental``)
==========  ====================================================================================

tf_keras' legacy optimizers (before 2.11, ``.h5`` only) are the one other layout: every variable's
first slot, then every variable's second slot, … (:func:`legacy_to_keras2`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import ConfigError, FormatError, PurekerasError
from .model.dialect import Dialect
from .optimizers import Optimizer, SlotSpec

__all__ = [
    "DIALECTS",
    "check_iterations",
    "dialect_for_count",
    "layout_size",
    "legacy_slot_order",
    "legacy_to_keras2",
    "restore_variables",
    "state_variables",
]

DIALECTS: tuple[Dialect, Dialect] = ("keras3", "keras2")


def layout_size(optimizer: Optimizer, n_vars: int, dialect: Dialect) -> int:
    """How many variables ``optimizer.variables(…, dialect)`` lists, without building arrays."""
    count = 1 + len(optimizer.slot_order(n_vars, dialect))
    if dialect == "keras3":
        count += (0 if optimizer.has_schedule else 1) + len(optimizer.extras)
    return count


def dialect_for_count(
    optimizer: Optimizer, n_vars: int, count: int, prefer: Dialect = "keras3"
) -> Dialect | None:
    """The layout that has ``count`` variables (``prefer`` breaks a tie), or None."""
    for dialect in (prefer, *DIALECTS):
        if layout_size(optimizer, n_vars, dialect) == count:
            return dialect
    return None


def state_variables(
    optimizer: Optimizer,
    trainable: Sequence[Any],
    dialect: Dialect,
    var_names: Sequence[str] | None = None,
    *,
    where: str,
    error: type[PurekerasError] = FormatError,
) -> list[tuple[str, np.ndarray]]:
    """``optimizer.variables(trainable, dialect, var_names)``; a mismatch (slots held for another
    number of variables) raises ``error`` naming ``where``."""
    try:
        return optimizer.variables(trainable, dialect, var_names=var_names)
    except ConfigError as exc:
        raise error(f"{where}: {exc}") from None


def check_iterations(value: Any, where: str, what: str = "iteration") -> np.ndarray:
    """The first variable of every layout: an integer scalar."""
    it = np.asarray(value)
    if it.ndim != 0 or it.dtype.kind not in "iu":
        raise FormatError(
            f"{where}: {what} must be an integer scalar (the iteration count), found dtype "
            f"{it.dtype} shape {it.shape}"
        )
    return it


def restore_variables(
    optimizer: Optimizer,
    trainable: Sequence[Any],
    arrays: Sequence[Any],
    dialect: Dialect,
    where: str,
) -> None:
    """``optimizer.set_from_variables``; a layout mismatch raises :class:`FormatError`."""
    try:
        optimizer.set_from_variables(trainable, list(arrays), dialect)
    except ConfigError as exc:
        raise FormatError(f"{where}: {exc}") from None


def legacy_slot_order(optimizer: Optimizer, n_vars: int) -> list[tuple[int, SlotSpec]]:
    """``(variable index, slot)`` as tf_keras' legacy optimizers create them: slot by slot, each
    for every variable. Their conditions are Keras 3's (legacy SGD has no slots without
    momentum)."""
    return [(i, s) for s in optimizer.active_slots("keras3") for i in range(n_vars)]


def legacy_to_keras2(
    optimizer: Optimizer, trainable: Sequence[Any], slots: Sequence[Any]
) -> list[np.ndarray]:
    """Legacy slot arrays reordered as the ``keras2`` layout's slots (after ``iteration``).

    Slots the legacy optimizer does not create but tf_keras ≥ 2.11 does (SGD ``m`` with
    ``momentum=0``) get their initial value. The caller checks ``len(slots)`` against
    :func:`legacy_slot_order` first."""
    by_key = {(i, s.keras3): np.asarray(v)
              for (i, s), v in zip(legacy_slot_order(optimizer, len(trainable)), slots)}
    out = []
    for i, s in optimizer.slot_order(len(trainable), "keras2"):
        value = by_key.get((i, s.keras3))
        if value is None:
            v = trainable[i]
            value = np.full(tuple(v.shape), optimizer.initial_value(s), dtype=v.dtype)
        out.append(value)
    return out
