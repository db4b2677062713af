"""Optimizer state in the SavedModel checkpoint, in tf_keras' layout (``savedmodel.md`` §8).

tf_keras (``optimizer_experimental``) tracks ``_iterations`` (int64 scalar), ``_learning_rate``
(float32 scalar variable) and ``_variables = [iterations, <slots>…]``. The slot order and names
are :meth:`purekeras_io.optimizers.Optimizer.variables` with ``dialect="keras2"`` (through
:mod:`purekeras_io.optimizer_state`): groups of
slots created interleaved per trainable variable, groups one after another::

    Adam:     m0 v0 m1 v1 …  [vhat0 vhat1 …]
    RMSprop:  velocity0 velocity1 …  [momentum0 …]  [average_gradient0 …]
    SGD:      m0 m1 …      (tf_keras creates them even with momentum=0)

Slot variables are named ``<Class>/<slot>/<variable name>`` (``Adam/m/dense/kernel``). An
optimizer that was never built (no slot values) saves ``iterations`` only, as tf_keras does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import FormatError
from ..model.base import Model
from ..optimizer_state import restore_variables, state_variables
from ..optimizers import Optimizer, SlotSpec

__all__ = [
    "OptimizerCheckpointState",
    "keras2_slot_order",
    "optimizer_checkpoint_state",
    "restore_optimizer_state",
]


@dataclass
class OptimizerCheckpointState:
    iterations: int
    learning_rate: float | None
    slots: list[tuple[str, np.ndarray]]
    """(tf_keras variable name, value) in ``_variables`` order after ``iterations``."""


def keras2_slot_order(optimizer: Optimizer, num_variables: int) -> list[tuple[int, SlotSpec]]:
    """``(trainable variable index, slot)`` in tf_keras' ``_variables`` order (after index 0)."""
    return optimizer.slot_order(num_variables, "keras2")


def _learning_rate(optimizer: Optimizer) -> float | None:
    lr = optimizer.learning_rate
    if isinstance(lr, (int, float)) and not isinstance(lr, bool):
        return float(lr)
    return None


def optimizer_checkpoint_state(model: Model, optimizer: Optimizer) -> OptimizerCheckpointState:
    """The optimizer's iterations, learning rate and slots as the checkpoint holds them."""
    from .object_graph import variable_names

    trainable = model.trainable_weights
    slots: list[tuple[str, np.ndarray]] = []
    values = optimizer.slot_values
    if values is not None and len(values) == len(trainable):
        scopes = variable_names(model)
        names = [scopes.get(id(v), v.path or v.name) for v in trainable]
        slots = state_variables(optimizer, trainable, "keras2", names, where="optimizer")[1:]
    return OptimizerCheckpointState(int(optimizer.iterations), _learning_rate(optimizer), slots)


def restore_optimizer_state(
    model: Model, optimizer: Optimizer, iterations: int, slots: list[Any]
) -> bool:
    """Set ``optimizer``'s state from the checkpoint's ``_variables`` (after iterations).
    Returns False (only ``iterations`` set) when the slots do not fit this model."""
    optimizer.iterations = int(iterations)
    if not slots:
        return True
    arrays = [np.asarray(iterations, dtype=np.int64), *slots]
    try:
        restore_variables(optimizer, model.trainable_weights, arrays, "keras2", "optimizer")
    except FormatError:
        return False
    return True
