"""Optimizer state as named arrays, the same in tf_keras 2.21 and Keras 3.15.1 (both run the
"new" optimizers, which keep slots as lists parallel to the trainable variables).

Imported by plain name by ``cli_convert_write.py`` and ``cli_convert_check.py`` (this folder is
``sys.path[0]`` when they run).
"""

from __future__ import annotations

from typing import Any

import numpy as np

SLOT_ATTRS = ("_momentums", "_velocities", "momentums", "_average_gradients", "_velocity_hats")


def to_np(value: Any) -> np.ndarray:
    if hasattr(value, "numpy"):
        return np.asarray(value.numpy())
    import keras

    return np.asarray(keras.ops.convert_to_numpy(value))


def optimizer_state(opt: Any, trainable: list[Any]) -> tuple[dict[str, np.ndarray], list[str]]:
    """``{"iterations": ..., "<attr>.<i>": slot of trainable variable i}`` and the slot
    attributes the optimizer has."""
    arrays: dict[str, np.ndarray] = {"iterations": to_np(opt.iterations).astype(np.int64)}
    attrs = []
    for attr in SLOT_ATTRS:
        slots = getattr(opt, attr, None)
        if not isinstance(slots, (list, tuple)) or not slots:
            continue
        attrs.append(attr)
        for i, slot in enumerate(slots):
            if slot is not None:
                arrays[f"{attr}.{i}"] = to_np(slot)
    if len(trainable) and attrs:
        n = len(getattr(opt, attrs[0]))
        if n != len(trainable):
            raise AssertionError(f"{attrs[0]}: {n} slots for {len(trainable)} variables")
    return arrays, attrs


def trainable_names(variables: list[Any]) -> list[str]:
    return [str(getattr(v, "path", None) or v.name) for v in variables]
