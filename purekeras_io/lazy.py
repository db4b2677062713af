"""Weights that are not in memory: lazy arrays and how writers stream them.

A *lazy array* is any object with ``shape``, ``dtype`` and NumPy basic slicing (``x[i:j]``) that is
not an ``np.ndarray``: a ``dask.array.Array``, an ``np.memmap``-backed view, an ``h5py.Dataset``, a
TensorBundle entry read on demand, or a user's own class. Writers never call ``np.asarray`` on
one: they ask :func:`iter_row_blocks` for C-order slabs along the first axis, each at most
``max_bytes`` (one row at least), and write the slabs' bytes one after the other — the bytes of
the whole tensor in C order, with only one slab in memory.

Objects with ``compute()`` (Dask) are computed slab by slab; objects whose slices are already
arrays are used as they are. :func:`unwrap` sees through holders of such arrays (a model
:class:`~purekeras_io.model.variable.Variable` assigned a lazy array keeps it as it is: its
``array_like()`` gives it back without reading), and :class:`Cast` converts a lazy array's dtype
slab by slab.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_BLOCK_BYTES",
    "Cast",
    "as_dtype",
    "is_lazy",
    "iter_row_blocks",
    "keep",
    "lazy_nbytes",
    "unwrap",
]

DEFAULT_BLOCK_BYTES = 64 << 20
"""Default slab size of :func:`iter_row_blocks` (64 MiB)."""


def is_lazy(value: Any) -> bool:
    """Whether ``value`` is an array-like with shape and dtype that is not held as an ndarray."""
    if isinstance(value, np.ndarray) and not isinstance(value, np.memmap):
        return False
    return hasattr(value, "shape") and hasattr(value, "dtype") and hasattr(value, "__getitem__")


def unwrap(value: Any) -> Any:
    """What a holder of an array holds (``value.array_like()``), else ``value`` itself: lazy
    arrays stay lazy, in-memory ones come as they are."""
    get = getattr(value, "array_like", None)
    return get() if callable(get) else value


class Cast:
    """A lazy array ``source`` seen with another ``dtype``: slices and ``np.asarray`` convert only
    the part they read."""

    def __init__(self, source: Any, dtype: Any) -> None:
        self.source = source
        self.dtype = np.dtype(dtype)
        self.shape = tuple(int(d) for d in source.shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0] if self.shape else 0

    def __getitem__(self, key: Any) -> np.ndarray:
        return _as_array(self.source[key], self.dtype)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        arr = _as_array(self.source[()] if not self.shape else self.source[:], self.dtype)
        return arr if dtype is None else arr.astype(dtype, copy=False)


def keep(value: Any) -> Any:
    """``value`` itself if it is a lazy array (not read), else ``np.asarray(value)``."""
    if is_lazy(value) and not isinstance(value, np.ndarray):
        return value
    return np.asarray(value)


def as_dtype(value: Any, dtype: Any) -> Any:
    """``value`` with ``dtype``: an ndarray through ``astype(copy=False)``, a lazy array through
    :class:`Cast` (unless it has the dtype already)."""
    dtype = np.dtype(dtype)
    if isinstance(value, np.ndarray):
        return value.astype(dtype, copy=False)
    return value if np.dtype(value.dtype) == dtype else Cast(value, dtype)


def lazy_nbytes(value: Any) -> int:
    """Byte size of ``value`` from its shape and dtype (never reads it)."""
    count = 1
    for dim in value.shape:
        count *= int(dim)
    return count * np.dtype(value.dtype).itemsize


def _as_array(part: Any, dtype: np.dtype) -> np.ndarray:
    if hasattr(part, "compute") and not isinstance(part, np.ndarray):
        part = part.compute()
    return np.ascontiguousarray(np.asarray(part), dtype=dtype)


def iter_row_blocks(
    value: Any, max_bytes: int = DEFAULT_BLOCK_BYTES, dtype: Any = None
) -> Iterator[np.ndarray]:
    """C-contiguous slabs ``value[i:j]`` of at most ``max_bytes`` each (at least one row), in
    order; a scalar or an in-memory array comes as one block. ``dtype`` converts each slab."""
    target = np.dtype(dtype if dtype is not None else value.dtype)
    shape = tuple(int(d) for d in value.shape)
    if not is_lazy(value) or not shape or shape[0] == 0:
        yield _as_array(value if shape else value[()], target)
        return
    row_bytes = max(1, lazy_nbytes(value) // shape[0])
    rows = max(1, max_bytes // row_bytes)
    for start in range(0, shape[0], rows):
        yield _as_array(value[start : start + rows], target)
