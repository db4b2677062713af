"""A TensorBundle written by several workers: ``<prefix>.data-0000i-of-0000N`` + one index.

::

    ParallelBundleWriter(prefix, workers=N | client=dask_client)
      .add(key, array) …       records the tensor (nothing is read or written yet)
      .finish()                1. plan (``plan.py``): shard, offset and slices of every block
                               2. create the N data files at their final sizes (temporary names)
                               3. workers write the lazy tensors' blocks (``tasks.py``, pwrite)
                                  while the driver writes the in-memory and string tensors
                               4. the driver combines block CRCs per entry, writes the index
                                  (``num_shards = N``; partitioned tensors' full entries) and
                                  renames index + data files in one journaled commit

The driver holds keys, shapes and CRCs only; a worker holds one block at a time. A failure in
any task removes every temporary file and leaves the previous checkpoint as it was. Data files
of an earlier save of the same prefix with another shard count are removed after the commit.
TensorFlow reads the result as it reads a checkpoint of N devices (``MergeV2Checkpoints``'s
output): a tensor split across workers is restored whole from its slices.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import numpy as np

from .._crc import CrcCombiner
from .._io import commit_many, fsync_file, recover, remove_quietly, temp_sibling
from ..dtypes import DType, by_numpy
from ..lazy import is_lazy, lazy_nbytes, unwrap
from ..tensorbundle import crc32c
from ..tensorbundle.format import HEADER_KEY, data_filename, index_filename
from ..tensorbundle.slices import encode_slice_key, slice_proto
from ..tensorbundle.sstable import TableBuilder
from ..tensorbundle.writer import (
    BundleKeyError,
    BundleStateError,
    BundleWriter,
    encode_key,
    entry_bytes,
    full_entry_bytes,
    header_bytes,
    string_elements,
    string_layout,
)
from .executors import Executor, check_workers, make_executor
from .plan import Layout, Piece, TensorSpec, plan_layout, row_blocks_for
from .tasks import Block, write_blocks

__all__ = ["TASK_BYTES", "ParallelBundleWriter", "open_writer", "write"]

TASK_BYTES = 64 << 20
"""Consecutive blocks of one shard are batched into one task up to about this many bytes."""
_CRC32C = CrcCombiner(0x82F63B78)
_STRING = "string"


class _Tensor:
    __slots__ = ("blob", "blob_crc", "dtype", "key", "lazy", "raw_key", "shape", "value")

    def __init__(self, key: str, value: Any) -> None:
        self.key = key
        self.raw_key = encode_key(key)
        value = unwrap(value)
        self.lazy = is_lazy(value) and not isinstance(value, np.memmap)
        self.value = value if self.lazy or isinstance(value, np.ndarray) else np.asarray(value)
        self.dtype: DType = by_numpy(np.dtype(self.value.dtype), what=f"tensor {key!r}")
        self.shape = tuple(int(d) for d in self.value.shape)
        self.blob: bytes | None = None  # a string tensor's stored bytes (§5.1), made now
        self.blob_crc = 0
        if self.dtype.name == _STRING:
            elements = string_elements(np.asarray(self.value), key)
            prefix, crc = string_layout(elements)
            for element in elements:
                crc = crc32c.extend(crc, element)
            self.blob, self.blob_crc = prefix + b"".join(elements), crc

    def spec(self) -> TensorSpec:
        if self.blob is not None:
            return TensorSpec(self.key, self.shape, len(self.blob), (1,))
        nbytes = lazy_nbytes(self.value)
        chunks = getattr(self.value, "chunks", None)
        first = chunks[0] if isinstance(chunks, tuple) and chunks and isinstance(
            chunks[0], tuple) else None
        blocks = row_blocks_for(self.shape, nbytes, first, splittable=self.lazy)
        return TensorSpec(self.key, self.shape, nbytes, blocks)


class ParallelBundleWriter:
    """:class:`~purekeras_io.tensorbundle.writer.BundleWriter`'s interface (``add``,
    ``finish``, ``abort``, context manager), written by ``workers`` local processes or the
    workers of a Dask ``client`` (module docstring)."""

    def __init__(self, prefix: str | os.PathLike[str], *, workers: int | None = None,
                 client: Any = None, fsync: bool = False) -> None:
        self.prefix = os.fspath(prefix)
        self._where = f"parallel save of {self.prefix!r}"
        self._workers = workers
        self._client = client
        check_workers(workers, client, self._where)
        self._fsync = fsync
        self._tensors: list[_Tensor] = []
        self._keys: set[bytes] = set()
        self._state = "open"

    @property
    def state(self) -> str:
        return self._state

    def __len__(self) -> int:
        return len(self._tensors)

    def add(self, key: str, array: Any) -> None:
        if self._state != "open":
            raise BundleStateError(f"{self._where}.add: the writer is {self._state!r}")
        tensor = _Tensor(key, array)
        if tensor.raw_key in self._keys:
            raise BundleKeyError(f"{self._where}: duplicate tensor key {key!r}")
        self._keys.add(tensor.raw_key)
        self._tensors.append(tensor)

    # -- finishing ---------------------------------------------------------------------------

    def finish(self) -> None:
        if self._state != "open":
            raise BundleStateError(f"{self._where}.finish: the writer is {self._state!r}")
        executor = make_executor(self._workers, self._client, self._where)
        temps: list[str] = []
        try:
            layout = plan_layout([t.spec() for t in self._tensors], executor.num_shards)
            self._write(executor, layout, temps)
        except BaseException:
            self._state = "aborted"
            for path in temps:
                remove_quietly(path)
            raise
        finally:
            executor.close()
        self._tensors.clear()
        self._state = "finished"

    def abort(self) -> None:
        if self._state == "open":
            self._state = "aborted"
            self._tensors.clear()

    def _write(self, executor: Executor, layout: Layout, temps: list[str]) -> None:
        n = layout.num_shards
        folder = os.path.dirname(self.prefix)
        if folder:
            os.makedirs(folder, exist_ok=True)
        index_path = index_filename(self.prefix)
        recover(index_path)
        finals = [data_filename(self.prefix, i, n) for i in range(n)]
        data_tmps = []
        for i, final in enumerate(finals):
            recover(final)
            tmp = temp_sibling(final, marker="tempstate", hidden=False)
            temps.append(tmp)
            with open(tmp, "xb") as fh:
                fh.truncate(layout.shard_sizes[i])
            data_tmps.append(tmp)

        tasks, owners = self._tasks(layout, data_tmps)
        crcs: dict[int, list[int]] = {}  # id(piece) -> block CRCs in order
        for (_, block_of), result in zip(owners, executor.run(tasks), strict=True):
            for piece, crc in zip(block_of, result, strict=True):
                crcs.setdefault(id(piece), []).append(crc)
        self._write_in_driver(layout, data_tmps, crcs)
        if self._fsync:
            for tmp in data_tmps:
                with open(tmp, "rb+") as fh:
                    fsync_file(fh)

        index_tmp = temp_sibling(index_path, marker="tempstate", hidden=False)
        temps.append(index_tmp)
        with open(index_tmp, "xb") as fh:
            table = TableBuilder(fh)
            table.add(HEADER_KEY, header_bytes(n))
            for raw_key, value in sorted(self._entries(layout, crcs).items()):
                table.add(raw_key, value)
            table.finish()
            if self._fsync:
                fsync_file(fh)
        commit_many([(index_tmp, index_path), *zip(data_tmps, finals, strict=True)],
                    fsync=self._fsync)
        _remove_other_shard_counts(self.prefix, n)

    def _tasks(self, layout: Layout, paths: list[str]
               ) -> tuple[list[Any], list[tuple[int, list[Piece]]]]:
        """Worker tasks (one list of blocks each) and, per task, the piece of each block."""
        tasks: list[Any] = []
        owners: list[tuple[int, list[Piece]]] = []
        batch: list[Block] = []
        batch_pieces: list[Piece] = []
        batch_shard = -1
        batch_bytes = 0

        def flush() -> None:
            nonlocal batch, batch_pieces, batch_bytes
            if batch:
                tasks.append((batch_shard, write_blocks,
                              (paths[batch_shard], batch, self._fsync)))
                owners.append((batch_shard, batch_pieces))
            batch, batch_pieces, batch_bytes = [], [], 0

        for piece in layout.pieces:
            tensor = self._tensors[piece.index]
            if not tensor.lazy:
                continue
            row_bytes = (lazy_nbytes(tensor.value) // tensor.shape[0]
                         if tensor.shape and tensor.shape[0] else 0)
            offset = piece.offset
            for start, stop in piece.blocks:
                if piece.shard != batch_shard or batch_bytes >= TASK_BYTES:
                    flush()
                    batch_shard = piece.shard
                source, a, b = _block_source(tensor.value, start, stop)
                batch.append((offset, source, a, b))
                batch_pieces.append(piece)
                size = (stop - start) * row_bytes if tensor.shape else piece.size
                offset += size
                batch_bytes += size
        flush()
        return tasks, owners

    def _write_in_driver(self, layout: Layout, paths: list[str],
                         crcs: dict[int, list[int]]) -> None:
        """The in-memory tensors (strings as their stored bytes), one pass per shard file."""
        per_shard: dict[int, list[tuple[Piece, Block]]] = {}
        for piece in layout.pieces:
            tensor = self._tensors[piece.index]
            if tensor.lazy:
                continue
            source = (np.frombuffer(tensor.blob, dtype=np.uint8) if tensor.blob is not None
                      else tensor.value)
            rows = len(tensor.blob) if tensor.blob is not None else piece.rows[1]
            per_shard.setdefault(piece.shard, []).append((piece, (piece.offset, source, 0, rows)))
        for shard, items in per_shard.items():
            results = write_blocks(paths[shard], [block for _, block in items])
            for (piece, _), crc in zip(items, results, strict=True):
                blob_crc = self._tensors[piece.index].blob_crc
                crcs[id(piece)] = [blob_crc if self._tensors[piece.index].blob is not None
                                   else crc]

    def _entries(self, layout: Layout, crcs: dict[int, list[int]]) -> dict[bytes, bytes]:
        entries: dict[bytes, bytes] = {}
        for tensor, pieces in zip(self._tensors, layout.by_tensor(), strict=True):
            protos = []
            for piece in pieces:
                crc = _combine(crcs[id(piece)], piece, tensor)
                if piece.extents is None:
                    entries[tensor.raw_key] = entry_bytes(
                        tensor.dtype, tensor.shape, piece.offset, piece.size, crc, piece.shard)
                    continue
                shape = (piece.rows[1] - piece.rows[0], *tensor.shape[1:])
                entries[encode_slice_key(tensor.key, piece.extents)] = entry_bytes(
                    tensor.dtype, shape, piece.offset, piece.size, crc, piece.shard)
                protos.append(slice_proto(piece.extents))
            if protos:
                entries[tensor.raw_key] = full_entry_bytes(tensor.dtype, tensor.shape, protos)
        return entries

    def __enter__(self) -> ParallelBundleWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None:
            self.abort()
        elif self._state == "open":
            self.finish()


def _block_source(value: Any, start: int, stop: int) -> tuple[Any, int, int]:
    """What a task gets for rows ``start:stop``: a Dask array's culled slice (so the pickle
    holds only the chunks it needs), anything else as it is with the row range."""
    if hasattr(value, "__dask_graph__") and value.shape:
        import dask

        (part,) = dask.optimize(value[start:stop])
        return part, 0, stop - start
    return value, start, stop


def _combine(block_crcs: list[int], piece: Piece, tensor: _Tensor) -> int:
    if len(block_crcs) == 1:
        return block_crcs[0]
    row_bytes = lazy_nbytes(tensor.value) // tensor.shape[0]
    crc = block_crcs[0]
    for (start, stop), nxt in zip(piece.blocks[1:], block_crcs[1:], strict=True):
        crc = _CRC32C.combine(crc, nxt, (stop - start) * row_bytes)
    return crc


_SHARD_RE = re.compile(r"\.data-(\d{5})-of-(\d{5})$")


def _remove_other_shard_counts(prefix: str, num_shards: int) -> None:
    folder, base = os.path.split(os.path.abspath(prefix))
    with contextlib.suppress(OSError):
        for name in os.listdir(folder):
            if not name.startswith(base):
                continue
            match = _SHARD_RE.fullmatch(name[len(base):])
            if match and int(match.group(2)) != num_shards:
                remove_quietly(os.path.join(folder, name))


def open_writer(prefix: str | os.PathLike[str], *, fsync: bool = False,
                workers: int | None = None, client: Any = None
                ) -> BundleWriter | ParallelBundleWriter:
    """The bundle writer of a save: one process unless ``workers`` or ``client`` is given."""
    if workers is None and client is None:
        return BundleWriter(prefix, fsync=fsync)
    return ParallelBundleWriter(prefix, workers=workers, client=client, fsync=fsync)


def write(prefix: str | os.PathLike[str], tensors: Mapping[str, Any], *,
          workers: int | None = None, client: Any = None, fsync: bool = False) -> None:
    """Write ``tensors`` as an N-shard bundle, their lazy arrays by the workers."""
    with ParallelBundleWriter(prefix, workers=workers, client=client, fsync=fsync) as writer:
        for key, array in tensors.items():
            writer.add(key, array)

