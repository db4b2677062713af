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
        yield from _dask_rows(source[start:stop], np.dtype(source.dtype))
        return
    window = source[start:stop] if (start, stop) != (0, shape[0]) else source
    yield from iter_row_blocks(window, CHUNK_BYTES, dtype=np.dtype(source.dtype))


def _dask_rows(part: Any, dtype: np.dtype) -> Iterator[np.ndarray]:
    """The row chunks of the Dask array ``part``, in order, one at a time.

    ``compute()`` would concatenate the chunks into a new array (a second copy of the block);
    when the chunks split only the first axis each one is computed by its key and yielded as is.
    """
    if any(n != 1 for n in part.numblocks[1:]):
        with _dask_sync():
            yield np.ascontiguousarray(part.compute(), dtype=dtype)
        return
    from dask.local import get_sync  # only for Dask sources

    graph = dict(part.__dask_graph__())
    keys = part.__dask_keys__()
    for index in range(part.numblocks[0]):
        key = keys[index]
        while isinstance(key, list):  # the key of chunk (index, 0, ..., 0)
            key = key[0]
        chunk = get_sync(graph, key)
        yield np.ascontiguousarray(chunk, dtype=dtype)
        del chunk


def _write_slab(fd: int, slab: np.ndarray, crc: int, position: int) -> tuple[int, int]:
    """Write ``slab`` at ``position`` of ``fd``; the extended CRC and the next position."""
    for chunk in little_endian_chunks(slab, CHUNK_BYTES):
        view = chunk.data
        crc = crc32c.extend(crc, view)
        while view:
            written = os.pwrite(fd, view, position)
            position += written
            view = view[written:]
    return crc, position


def write_blocks(path: str, blocks: Sequence[Block], fsync: bool = False) -> list[int]:
    """Write ``blocks`` into the existing file ``path``; the unmasked CRC-32C of each."""
    crcs: list[int] = []
    fd = os.open(path, os.O_WRONLY)
    try:
        for offset, source, start, stop in blocks:
            crc = 0
            position = offset
            for slab in _rows(source, start, stop):
                crc, position = _write_slab(fd, slab, crc, position)
                del slab  # before the next slab is computed: one in memory at a time
            crcs.append(crc)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    return crcs
