"""Optimizer state in ``optimizer_weights``: the order of variables each Keras generation uses.

``optimizer_weights/@weight_names`` lists the optimizer's variables; both loaders pass the datasets
to ``optimizer.set_weights`` in that order (names are ignored, h5.md §6):

====================  =====================================================================
layout                order
====================  =====================================================================
``keras2``            ``iteration:0``, then the slots (tf_keras ≥ 2.11 optimizer)
``keras3``            ``<opt>/iteration``, ``<opt>/learning_rate`` (absent for schedules), slots
``keras2-legacy``     ``<Opt>/iter:0``, then every variable's first slot, then the second, …
====================  =====================================================================

Slots follow the optimizer's ``build`` (``Optimizer.slot_order`` / ``Optimizer.variables`` in
:mod:`purekeras_io.optimizers` hold the per-optimizer tables; this module adds the ``.h5`` names,
the layout detection on read and the legacy layout).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, FormatError, TargetCompatibilityError
from ..model.dialect import Dialect
from ..optimizers import Optimizer, SlotSpec

__all__ = ["optimizer_entries", "restore_optimizer_state", "slot_order"]


def slot_order(optimizer: Optimizer, n_vars: int, *, legacy: bool = False,
               dialect: Dialect = "keras2") -> list[tuple[int, SlotSpec]]:
    """``(variable index, slot)`` in the order the optimizer creates its slot variables.

    ``legacy``: tf_keras' pre-2.11 optimizers create every variable's first slot, then every
    variable's second slot, and so on."""
    if legacy:
        return [(i, s) for s in optimizer.active_slots(dialect) for i in range(n_vars)]
    return optimizer.slot_order(n_vars, dialect)


def optimizer_entries(
    optimizer: Optimizer, trainable: Sequence[Any], var_names: Sequence[str], dialect: Dialect
) -> list[tuple[str, np.ndarray]]:
    """``(dataset name, value)`` for ``optimizer_weights`` (empty when the optimizer is not built).

    ``var_names`` are the trainable variables' names without ``:0`` (``dense/kernel``), in
    ``model.trainable_variables`` order; tf_keras' names get ``:0`` as its writer adds it.
    """
    if optimizer.slot_values is None:
        return []
    try:
        entries = optimizer.variables(trainable, dialect, var_names=var_names)
    except ConfigError as exc:
        raise TargetCompatibilityError(f"optimizer_weights: {exc}") from None
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
    it = np.asarray(arrays[0])
    if it.ndim != 0 or it.dtype.kind not in "iu":
        raise FormatError(
            f"{where}: {names[0]!r} must be an integer scalar (the iteration count), found "
            f"dtype {it.dtype} shape {it.shape}"
        )
    if len(names) == 1 or (
        len(names) == 2 and names[1].rsplit("/", 1)[-1].startswith("learning_rate")
    ):
        optimizer.iterations = int(it)  # a file written before the optimizer was built
        return
    legacy = names[0].endswith("iter:0") and not names[0].endswith("iteration:0")
    if legacy:
        _restore_legacy(optimizer, names, arrays, trainable, where)
        return
    dialect: Dialect = "keras2" if names[0].endswith(":0") else "keras3"
    try:
        optimizer.set_from_variables(trainable, list(arrays), dialect)
    except ConfigError as exc:
        raise FormatError(f"{where}: {exc}") from None


def _restore_legacy(
    optimizer: Optimizer, names: Sequence[str], arrays: Sequence[Any], trainable: Sequence[Any],
    where: str,
) -> None:
    order = slot_order(optimizer, len(trainable), legacy=True)
    rest_names, rest = list(names[1:]), list(arrays[1:])
    if len(rest) != len(order):
        raise FormatError(
            f"{where}: {len(rest)} slot arrays for {type(optimizer).__name__} on "
            f"{len(trainable)} trainable variables; expected {len(order)} "
            f"({[s.keras3 for s in optimizer.active_slots('keras2')]} per variable)"
        )
    slot_values: list[dict[str, np.ndarray]] = [{} for _ in trainable]
    for (i, slot), name, value in zip(order, rest_names, rest):
        arr = np.asarray(value)
        want = tuple(trainable[i].shape)
        if arr.shape != want:
            raise FormatError(
                f"{where}: optimizer weight {name!r} has shape {arr.shape}, but slot "
                f"{slot.keras3!r} of variable {i} ({trainable[i].path or trainable[i].name}) "
                f"needs {want}"
            )
        slot_values[i][slot.keras3] = arr
    for s in optimizer.active_slots("keras3"):
        for v, d in zip(trainable, slot_values):
            d.setdefault(s.keras3, np.full(v.shape, optimizer.initial_value(s), dtype=v.dtype))
    try:
        optimizer.set_state(int(np.asarray(arrays[0])), slot_values)
    except ConfigError as exc:
        raise FormatError(f"{where}: {exc}") from None
