"""``/optimizer/vars/<i>``: the optimizer's variables in the order each Keras generation saves them.

=========  ====================================================================================
target     ``optimizer/vars`` order
=========  ====================================================================================
keras3     ``0`` iteration (int64 scalar), ``1`` learning_rate (float32 scalar; absent for a
           schedule), then the slots
keras2     ``0`` iteration (int64 scalar), then the slots
=========  ====================================================================================

Slots follow the optimizer's ``build``: the unconditional slots interleaved per trainable variable
(Adam ``momentum, velocity`` of var 0, of var 1, …), then each conditional slot (Adam
``velocity_hat`` with amsgrad, RMSprop ``momentum``/``average_gradient``) for all variables in a
block. ``Optimizer.slot_order`` (when :mod:`purekeras_io.optimizers` provides it) wins.
A loader that finds another count only warns and starts a fresh optimizer (keras_v3.md §7).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, FormatError
from ..optimizers import Optimizer, SlotSpec

__all__ = ["optimizer_arrays", "restore_optimizer", "slot_order"]


def slot_order(optimizer: Optimizer, n_vars: int) -> list[tuple[int, SlotSpec]]:
    """``(variable index, slot)`` in the order the optimizer creates its slot variables."""
    custom = getattr(optimizer, "slot_order", None)
    if callable(custom):
        return list(custom(n_vars))
    slots = optimizer.active_slots()
    plain = [s for s in slots if s.condition is None]
    conditional = [s for s in slots if s.condition is not None]
    order = [(i, s) for i in range(n_vars) for s in plain]
    order += [(i, s) for s in conditional for i in range(n_vars)]
    return order


def _has_lr_variable(optimizer: Optimizer) -> bool:
    """Keras 3 keeps ``learning_rate`` as a variable unless it is a schedule."""
    return not isinstance(optimizer.learning_rate, dict)


def optimizer_arrays(
    optimizer: Optimizer, trainable: Sequence[Any], target: str
) -> list[np.ndarray]:
    """The optimizer's variables for ``optimizer/vars`` (initial-state slots if never built)."""
    if hasattr(optimizer, "variables"):  # purekeras_io.optimizers owns the layout
        try:
            return [np.asarray(a) for _, a in optimizer.variables(trainable, target)]  # type: ignore[arg-type]
        except ConfigError as exc:
            raise FormatError(f"optimizer {optimizer.name!r}: {exc}") from None
    return _fallback_arrays(optimizer, trainable, target)


def _fallback_arrays(
    optimizer: Optimizer, trainable: Sequence[Any], target: str
) -> list[np.ndarray]:
    n = len(trainable)
    if optimizer.slot_values is None:
        slot_values = [
            {
                s.keras3: np.full(tuple(v.shape), s.initial, dtype=np.asarray(v.value).dtype)
                for s in optimizer.active_slots()
            }
            for v in trainable
        ]
    else:
        slot_values = optimizer.slot_values
    if len(slot_values) != n:
        raise FormatError(
            f"optimizer {optimizer.name!r} holds slots for {len(slot_values)} variables, but the "
            f"model has {n} trainable variables"
        )
    out = [np.asarray(optimizer.iterations, dtype=np.int64)]
    if target == "keras3" and _has_lr_variable(optimizer):
        out.append(np.asarray(optimizer.learning_rate, dtype=np.float32))
    out += [np.asarray(slot_values[i][s.keras3]) for i, s in slot_order(optimizer, n)]
    return out


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
    counts = {d: _count(optimizer, len(trainable), d) for d in ("keras3", "keras2")}
    dialects = [d for d in (prefer, "keras3", "keras2") if counts[d] == len(arrays)]
    if not dialects:
        return (
            f"{where}: skipping optimizer state: {len(arrays)} variables saved, "
            f"{type(optimizer).__name__} on {len(trainable)} trainable variables has "
            f"{counts['keras3']} (Keras 3) or {counts['keras2']} (tf_keras)"
        )
    dialect = dialects[0]
    it = np.asarray(arrays[0])
    if it.ndim != 0 or it.dtype.kind not in "iu":
        raise FormatError(
            f"{where}/0: iteration must be an integer scalar, found {it.dtype} {it.shape}"
        )
    setter = getattr(optimizer, "set_from_variables", None)
    if callable(setter):
        try:
            setter(trainable, list(arrays), dialect)
        except ConfigError as exc:
            raise FormatError(f"{where}: {exc}") from None
        return None
    _fallback_restore(optimizer, arrays, trainable, dialect)
    return None


def _count(optimizer: Optimizer, n_vars: int, dialect: str) -> int:
    """How many variables the layout has, without building any slot array."""
    order = getattr(optimizer, "slot_order", None)
    if not callable(order) or not hasattr(optimizer, "has_schedule"):
        lr = 1 if dialect == "keras3" and _has_lr_variable(optimizer) else 0
        return 1 + lr + len(slot_order(optimizer, n_vars))
    count = 1 + len(order(n_vars, dialect))
    if dialect == "keras3":
        count += (0 if optimizer.has_schedule else 1) + len(getattr(optimizer, "extras", ()))
    return count


def _fallback_restore(
    optimizer: Optimizer, arrays: Sequence[np.ndarray], trainable: Sequence[Any], dialect: str
) -> None:
    order = slot_order(optimizer, len(trainable))
    slots = list(arrays[len(arrays) - len(order) :])
    if dialect == "keras3" and _has_lr_variable(optimizer):
        optimizer.config["learning_rate"] = float(np.asarray(arrays[1]))
    values: list[dict[str, np.ndarray]] = [{} for _ in trainable]
    for (i, slot), arr in zip(order, slots):
        values[i][slot.keras3] = np.asarray(arr)
    optimizer.set_state(int(np.asarray(arrays[0])), values)
