"""A model variable: a name, a NumPy value (or a deferred initial value) and the formats' flags.

**Lazy values.** A layer's variables are created with an :class:`~purekeras_io.initializers.Initial`
(initializer, shape, dtype, seed) instead of an array: ``shape`` and ``dtype`` come from it, and
the array is drawn on the first read of ``value`` (then kept). :meth:`Variable.assign` replaces
the value without ever drawing the initial one, so a model whose weights come from a file or from
``set_weights`` holds each weight once and never spends time on random numbers it throws away.
``materialized`` tells whether the array exists.

**No copies on assign.** ``assign`` keeps the array it is given when its dtype already matches
(``astype(copy=False)``): the variable then shares memory with the caller's array. The readers
rely on this to hold what they read once; a TensorBundle / SavedModel load leaves each variable
as a read-only view of the memory-mapped data file (``value.flags.writeable`` is False). That is
safe because nothing writes into a variable's array in place: ``assign`` and the ``value`` setter
replace the array, and our bundle writer replaces files by ``os.replace`` (the mapped old file
stays valid). Code that wants to modify a value in place must copy it first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError
from ..lazy import Cast, is_lazy

if TYPE_CHECKING:
    from ..initializers import Initial

__all__ = ["Variable"]


class Variable:
    """One weight of a layer (or one optimizer variable).

    ``name`` is the short attribute name (``kernel``); ``path`` is Keras 3's ``var.path``
    (``dense/kernel``), filled in when the owning layer is known. ``synchronization`` and
    ``aggregation`` carry TensorFlow's enums for SavedModel (BatchNorm statistics are ON_READ/MEAN).
    Give either ``value`` (an array) or ``initial`` (a deferred initial value).
    """

    def __init__(
        self,
        name: str,
        value: Any = None,
        trainable: bool = True,
        path: str = "",
        synchronization: int = 0,
        aggregation: int = 0,
        extra: dict[str, object] | None = None,
        *,
        initial: Initial | None = None,
    ) -> None:
        self.name = name
        self.trainable = trainable
        self.path = path
        self.synchronization = synchronization
        self.aggregation = aggregation
        self.extra: dict[str, object] = {} if extra is None else extra
        self._value: Any = None
        self._initial: Initial | None = None
        if value is not None:
            self._value = value
        elif initial is not None:
            self._initial = initial
        else:
            raise ConfigError(f"variable {path or name!r}: needs a value or an initial value")

    # ---------------------------------------------------------------- value

    @property
    def value(self) -> Any:
        """The array (drawn from the initial value, or read from a lazy array, on first read,
        then kept)."""
        if self._value is None:
            assert self._initial is not None
            self._value = self._initial.materialize()
            self._initial = None
        elif is_lazy(self._value) and not isinstance(self._value, np.ndarray):
            self._value = np.asarray(self._value)
        return self._value

    @value.setter
    def value(self, value: Any) -> None:
        self._value = value
        self._initial = None

    @property
    def materialized(self) -> bool:
        """Whether the variable holds an array (False while only its initial value is known; a
        lazy array counts as held)."""
        return self._value is not None

    @property
    def initial(self) -> Initial | None:
        """The deferred initial value, while the variable is not materialized."""
        return self._initial

    @property
    def shape(self) -> tuple[int, ...]:
        if self._value is None:
            assert self._initial is not None
            return self._initial.shape
        return tuple(self._value.shape)

    @property
    def dtype(self) -> np.dtype:
        if self._value is None:
            assert self._initial is not None
            return self._initial.dtype
        return np.dtype(self._value.dtype)

    def numpy(self) -> np.ndarray:
        return np.asarray(self.value)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """``np.asarray(variable)`` is its value (writers take variables as array-likes, so
        nothing is read until the bytes are written; ``shape``/``dtype`` never draw)."""
        value = np.asarray(self.value)
        if dtype is not None and np.dtype(dtype) != value.dtype:
            return value.astype(dtype)
        return value.copy() if copy else value

    def array_like(self) -> Any:
        """The held array as it is: a lazy array (see :mod:`purekeras_io.lazy`) stays unread;
        otherwise :attr:`value`. Writers stream what this gives."""
        if self._value is not None and is_lazy(self._value):
            return self._value
        return self.value

    @property
    def lazy(self) -> bool:
        """Whether the value is a lazy array that has not been read (see :meth:`assign`)."""
        return self._value is not None and is_lazy(self._value)

    def assign(self, value: object) -> None:
        """Replace the value (no copy when the dtype matches); the shape must match exactly,
        the dtype is cast. A lazy variable's initial value is dropped without being drawn.
        A lazy array (a Dask array, a memory map, an entry read on demand) is kept unread:
        :attr:`value` reads it on first use, :meth:`array_like` hands it to writers as it is."""
        if is_lazy(value) and not isinstance(value, np.ndarray):
            got = tuple(int(d) for d in value.shape)  # type: ignore[attr-defined]
            if got != self.shape:
                raise ConfigError(
                    f"variable {self.path or self.name!r}: expected shape {self.shape}, "
                    f"received {got}"
                )
            dtype = self.dtype
            self._value = value if np.dtype(value.dtype) == dtype else Cast(value, dtype)  # type: ignore[attr-defined]
            self._initial = None
            return
        arr = np.asarray(value)
        shape = self.shape
        if arr.shape != shape:
            raise ConfigError(
                f"variable {self.path or self.name!r}: expected shape {shape}, "
                f"received {arr.shape}"
            )
        self._value = arr.astype(self.dtype, copy=False)
        self._initial = None

    def __repr__(self) -> str:
        return f"<Variable {self.path or self.name} shape={self.shape} dtype={self.dtype}>"
