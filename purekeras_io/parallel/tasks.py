"""What a worker runs: write planned blocks of lazy tensors into a preallocated shard file.

A task is ``write_blocks(path, blocks, fsync)``; each block is ``(offset, source, start, stop)``
and means "rows ``start:stop`` of ``source``, as little-endian C-order bytes, at ``offset`` of
``path``". The worker computes or reads the rows (a Dask array's chunk is computed here, with
Dask's synchronous scheduler, so a worker never waits on the cluster), writes them with
``os.pwrite`` in pieces of at most ``CHUNK_BYTES`` and returns each block's unmasked CRC-32C;
the driver combines them into the entry CRCs. Only one block's rows are in memory at a time.

The source travels by pickle: a Dask array as its (culled) graph, a
:class:`~purekeras_io.tensorbundle.lazy_tensor.LazyTensor` as ``(prefix, key)``, a user's lazy
array as whatever its class pickles to (it should not be its data).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..lazy import iter_row_blocks
from ..tensorbundle import crc32c
from ..tensorbundle.writer import CHUNK_BYTES, little_endian_chunks

__all__ = ["Block", "write_blocks"]

Block = tuple[int, Any, int, int]
"""``(offset in the shard file, source array, first row, end row)``."""


def _dask_sync() -> contextlib.AbstractContextManager[Any]:
    import dask  # only for Dask sources, which need dask installed anyway

    return dask.config.set(scheduler="synchronous")


def _rows(source: Any, start: int, stop: int) -> Iterator[np.ndarray]:
    shape = tuple(int(d) for d in source.shape)
    if not shape:
        yield from iter_row_blocks(source, CHUNK_BYTES)
        return
    if hasattr(source, "__dask_graph__"):
        with _dask_sync():
            part = source[start:stop].compute()  # one chunk: the unit Dask already made
        yield np.ascontiguousarray(part, dtype=np.dtype(source.dtype))
        return
    window = source[start:stop] if (start, stop) != (0, shape[0]) else source
    yield from iter_row_blocks(window, CHUNK_BYTES, dtype=np.dtype(source.dtype))


def write_blocks(path: str, blocks: Sequence[Block], fsync: bool = False) -> list[int]:
    """Write ``blocks`` into the existing file ``path``; the unmasked CRC-32C of each."""
    crcs: list[int] = []
    fd = os.open(path, os.O_WRONLY)
    try:
        for offset, source, start, stop in blocks:
            crc = 0
            position = offset
            for slab in _rows(source, start, stop):
                for chunk in little_endian_chunks(slab, CHUNK_BYTES):
                    view = chunk.data
                    crc = crc32c.extend(crc, view)
                    while view:
                        written = os.pwrite(fd, view, position)
                        position += written
                        view = view[written:]
            crcs.append(crc)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    return crcs
