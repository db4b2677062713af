"""Whole files written by workers: the shards of Keras 3 sharded weights.

A Keras 3 weight shard (``<base>_NNNNN.weights.h5``) is a complete HDF5 file, so each is one
task: the driver lays out the file (``keras_v3.h5image``: the HDF5 metadata as bytes, the
datasets as the arrays themselves, lazy ones unread) and a worker writes the parts in order
under the shard's temporary name, computing a Dask array's slabs itself with Dask's synchronous
scheduler. Shard ``i`` goes to worker ``i mod N``. The driver then writes the JSON index and
commits all files at once (``keras_v3.sharded``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from typing import Any

from .._io import fsync_file
from .executors import make_executor

__all__ = ["write_file", "write_files"]


def write_file(path: str, parts: Sequence[Any], fsync: bool = False) -> int:
    """Create ``path`` holding ``parts`` (bytes and arrays, lazy ones slab by slab); its size."""
    from ..keras_v3.zipstream import write_parts

    sync: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    if any(hasattr(part, "__dask_graph__") for part in parts):
        import dask

        sync = dask.config.set(scheduler="synchronous")
    with sync, open(path, "xb", buffering=0) as fh:
        write_parts(fh, parts)
        if fsync:
            fsync_file(fh)
        return fh.tell()


def write_files(jobs: Sequence[tuple[str, Sequence[Any]]], *, workers: int | None,
                client: Any, fsync: bool = False, where: str = "parallel save") -> None:
    """Write every ``(path, parts)`` of ``jobs`` on the workers (see the module docstring);
    on any failure the files already written are removed and the error is raised."""
    executor = make_executor(workers, client, where)
    try:
        tasks = [(i % executor.num_shards, write_file, (path, parts, fsync))
                 for i, (path, parts) in enumerate(jobs)]
        executor.run(tasks)
    except BaseException:
        for path, _ in jobs:
            with contextlib.suppress(OSError):
                os.remove(path)
        raise
    finally:
        executor.close()
