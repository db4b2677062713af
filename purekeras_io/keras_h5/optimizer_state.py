"""Optimizer state in ``optimizer_weights``: ``.h5`` names over :mod:`purekeras_io.optimizer_state`.

``optimizer_weights/@weight_names`` lists the optimizer's variables; both loaders pass the datasets
to ``optimizer.set_weights`` in that order (names are ignored, h5.md §6):

====================  =====================================================================
layout                order
====================  =====================================================================
``keras2``            ``iteration:0``, then the slots (tf_keras ≥ 2.11 optimizer)
``keras3``            ``<opt>/iteration``, ``<opt>/learning_rate`` (absent for schedules), slots
``keras2-legacy``     ``<Opt>/iter:0``, then every variable's first slot, then the second, …
====================  =====================================================================

The orders and names are :meth:`purekeras_io.optimizers.Optimizer.variables`; this module adds
tf_keras' ``:0`` suffix and tells the layout of a file on reading (by the first name).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import FormatError, TargetCompatibilityError
from ..model.dialect import Dialect
from ..optimizer_state import (
    check_iterations,
    legacy_slot_order,
    legacy_to_keras2,
    restore_variables,
    state_variables,
)
from ..optimizers import Optimizer

__all__ = ["optimizer_entries", "restore_optimizer_state"]


def optimizer_entries(
    optimizer: Optimizer, trainable: Sequence[Any], var_names: Sequence[str], dialect: Dialect
) -> list[tuple[str, np.ndarray]]:
    """``(dataset name, value)`` for ``optimizer_weights`` (empty when the optimizer is not built).

    ``var_names`` are the trainable variables' names without ``:0`` (``dense/kernel``), in
    ``model.trainable_variables`` order; tf_keras' names get ``:0`` as its writer adds it.
    """
    if optimizer.slot_values is None:
        return []
    entries = state_variables(optimizer, trainable, dialect, var_names,
                              where="optimizer_weights", error=TargetCompatibilityError)
    if dialect == "keras2":
        entries = [(n if n.endswith(":0") else f"{n}:0", v) for n, v in entries]
    return entries


def restore_optimizer_state(
    optimizer: Optimizer,
    names: Sequence[str],
    arrays: Sequence[Any],
    trainable: Sequence[Any],
    where: str,
) -> None:
    """Set ``iterations`` and slots from ``optimizer_weights`` in any of the three layouts."""
    if not names:
        return
    it = check_iterations(arrays[0], where, repr(names[0]))
    if len(names) == 1 or (
        len(names) == 2 and names[1].rsplit("/", 1)[-1].startswith("learning_rate")
    ):
        optimizer.iterations = int(it)  # a file written before the optimizer was built
        return
    if names[0].endswith("iter:0") and not names[0].endswith("iteration:0"):
        want = len(legacy_slot_order(optimizer, len(trainable)))
        if len(arrays) - 1 != want:
            raise FormatError(
                f"{where}: {len(arrays) - 1} slot arrays for {type(optimizer).__name__} on "
                f"{len(trainable)} trainable variables; expected {want} (tf_keras legacy layout)"
            )
        slots = legacy_to_keras2(optimizer, trainable, arrays[1:])
        restore_variables(optimizer, trainable, [it, *slots], "keras2", where)
        return
    dialect: Dialect = "keras2" if names[0].endswith(":0") else "keras3"
    restore_variables(optimizer, trainable, arrays, dialect, where)
