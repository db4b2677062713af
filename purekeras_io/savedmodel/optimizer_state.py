"""Optimizer state in the SavedModel checkpoint, in tf_keras' layout (``savedmodel.md`` §8).

tf_keras (``optimizer_experimental``) tracks ``_iterations`` (int64 scalar), ``_learning_rate``
(float32 scalar variable) and ``_variables = [iterations, <slots>…]``. The slots come in the
order its ``build(var_list)`` creates them: the unconditional slots of the optimizer interleaved
per trainable variable in one loop, then each conditional slot (Adam ``amsgrad`` → ``vhat``,
RMSprop ``momentum`` → ``momentum``, ``centered`` → ``average_gradient``) in a loop of its own::

    Adam:     m0 v0 m1 v1 …  [vhat0 vhat1 …]
    RMSprop:  velocity0 velocity1 …  [momentum0 …]  [average_gradient0 …]
    SGD:      m0 m1 …      (tf_keras creates them even with momentum=0)

Slot variables are named ``<Class>/<slot>/<variable name>`` (``Adam/m/dense/kernel``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..model.base import Model
from ..optimizers import Optimizer, SlotSpec

__all__ = ["OptimizerCheckpointState", "keras2_slot_order", "optimizer_checkpoint_state"]


@dataclass
class OptimizerCheckpointState:
    iterations: int
    learning_rate: float | None
    slots: list[tuple[str, np.ndarray]]
    """(tf_keras variable name, value) in ``_variables`` order after ``iterations``."""


def keras2_slot_order(optimizer: Optimizer, num_variables: int) -> list[tuple[int, SlotSpec]]:
    """``(trainable variable index, slot)`` in tf_keras' ``_variables`` order (after index 0)."""
    active = optimizer.active_slots()
    plain = [s for s in active if s.condition is None]
    conditional = [s for s in active if s.condition is not None]
    if len(active) == 1:
        plain, conditional = active, []
    order = [(i, s) for i in range(num_variables) for s in plain]
    for slot in conditional:
        order.extend((i, slot) for i in range(num_variables))
    return order


def _learning_rate(optimizer: Optimizer) -> float | None:
    lr = optimizer.learning_rate
    if isinstance(lr, (int, float)) and not isinstance(lr, bool):
        return float(lr)
    return None


def optimizer_checkpoint_state(model: Model, optimizer: Optimizer) -> OptimizerCheckpointState:
    """The optimizer's iterations, learning rate and slots as the checkpoint holds them."""
    trainable = model.trainable_weights
    slots: list[tuple[str, np.ndarray]] = []
    values = optimizer.slot_values
    if values is not None and len(values) == len(trainable):
        from .object_graph import variable_names

        scopes = variable_names(model)
        cls = type(optimizer).__name__
        for index, slot in keras2_slot_order(optimizer, len(trainable)):
            var = trainable[index]
            name = scopes.get(id(var), var.path or var.name)
            slots.append((f"{cls}/{slot.keras2}/{name}", np.asarray(values[index][slot.keras3])))
    return OptimizerCheckpointState(int(optimizer.iterations), _learning_rate(optimizer), slots)


def restore_optimizer_state(
    model: Model, optimizer: Optimizer, iterations: int, slots: list[Any]
) -> bool:
    """Set ``optimizer``'s state from the checkpoint's ``_variables`` (after iterations).
    Returns False (state left unset) when the count does not fit this model."""
    trainable = model.trainable_weights
    order = keras2_slot_order(optimizer, len(trainable))
    optimizer.iterations = int(iterations)
    if not slots:
        return True
    if len(slots) != len(order):
        return False
    per_var: list[dict[str, np.ndarray]] = [{} for _ in trainable]
    for (index, slot), value in zip(order, slots):
        if tuple(np.shape(value)) != tuple(trainable[index].shape):
            return False
        per_var[index][slot.keras3] = np.array(value)
    optimizer.set_state(int(iterations), per_var)
    return True
