"""A model variable: a name, a NumPy value and the flags the formats need."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError

__all__ = ["Variable"]


@dataclass(eq=False)
class Variable:
    """One weight of a layer (or one optimizer variable).

    ``name`` is the short attribute name (``kernel``); ``path`` is Keras 3's ``var.path``
    (``dense/kernel``), filled in when the owning layer is known. ``synchronization`` and
    ``aggregation`` carry TensorFlow's enums for SavedModel (BatchNorm statistics are ON_READ/MEAN).
    """

    name: str
    value: np.ndarray
    trainable: bool = True
    path: str = ""
    synchronization: int = 0
    aggregation: int = 0
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.value.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.value.dtype

    def numpy(self) -> np.ndarray:
        return self.value

    def assign(self, value: object) -> None:
        """Replace the value; the shape must match exactly, the dtype is cast."""
        arr = np.asarray(value)
        if arr.shape != self.value.shape:
            raise ConfigError(
                f"variable {self.path or self.name!r}: expected shape {self.value.shape}, "
                f"received {arr.shape}"
            )
        self.value = arr.astype(self.value.dtype, copy=False)

    def __repr__(self) -> str:
        return f"<Variable {self.path or self.name} shape={self.shape} dtype={self.dtype}>"
