"""Weights that are not in memory: lazy arrays and how writers stream them.

A *lazy array* is any object with ``shape``, ``dtype`` and NumPy basic slicing (``x[i:j]``) that is
not an ``np.ndarray``: a ``dask.array.Array``, an ``np.memmap``-backed view, an ``h5py.Dataset``, a
TensorBundle entry read on demand, or a user's own class. Writers never call ``np.asarray`` on
one: they ask :func:`iter_row_blocks` for C-order slabs along the first axis, each at most
``max_bytes`` (one row at least), and write the slabs' bytes one after the other — the bytes of
the whole tensor in C order, with only one slab in memory.

Objects with ``compute()`` (Dask) are computed slab by slab; objects whose slices are already
arrays are used as they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["DEFAULT_BLOCK_BYTES", "is_lazy", "iter_row_blocks", "lazy_nbytes"]

DEFAULT_BLOCK_BYTES = 64 << 20
"""Default slab size of :func:`iter_row_blocks` (64 MiB)."""


def is_lazy(value: Any) -> bool:
    """Whether ``value`` is an array-like with shape and dtype that is not held as an ndarray."""
    if isinstance(value, np.ndarray) and not isinstance(value, np.memmap):
        return False
    return hasattr(value, "shape") and hasattr(value, "dtype") and hasattr(value, "__getitem__")


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
