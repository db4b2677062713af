"""Where every byte of a parallel TensorBundle goes, decided by the driver before any is written.

::

    tensors, in the order added        a (lazy, 3 row blocks)   b (in memory)   c (lazy, 2 blocks)
    cumulative bytes, split N ways     |---- shard 0 ----|---- shard 1 ----|
    pieces                             a[0:2] → shard 0   a[2:3] → shard 1   b → 1   c → 1
    entries                            a: full entry + 2 slices      b, c: whole tensors

* **Blocks.** A lazy tensor is cut into row blocks along its first axis: a Dask array at its
  chunk boundaries (the chunks its workers compute), any other lazy array every
  :data:`BLOCK_BYTES`. A tensor in memory, a scalar or a string tensor is one block that is
  never split.
* **Shards.** Block ``b`` goes to shard ``min(N - 1, ⌊N · mid(b) / total⌋)`` where ``mid(b)``
  is the cumulative byte position of its middle: shards get contiguous runs of tensors of about
  ``total / N`` bytes each, and at most ``N - 1`` tensors are split.
* **Pieces.** The blocks of one tensor that share a shard form one stored entry: the whole
  tensor when all its blocks are in one shard, else one TensorFlow slice per shard
  (``(start, length)`` on the first axis, the full extent elsewhere) under its slice key, plus
  the tensor's full entry listing the slices (``tensorbundle/slices.py``).
* **Offsets.** Within a shard, pieces follow the order the tensors were added, with no padding;
  the plan depends only on keys, shapes, dtypes and chunking, so the same model written by the
  same number of workers gives the same bytes however the tasks are scheduled. With one shard
  the layout is :class:`~purekeras_io.tensorbundle.writer.BundleWriter`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..tensorbundle.slices import Extent

__all__ = ["BLOCK_BYTES", "Layout", "Piece", "TensorSpec", "plan_layout"]

BLOCK_BYTES = 64 << 20
"""Rows per block of a lazy array that has no chunks of its own: about this many bytes."""


@dataclass(frozen=True)
class TensorSpec:
    """What the plan needs of one tensor: its byte size and where it may be cut."""

    key: str
    shape: tuple[int, ...]
    nbytes: int
    row_blocks: tuple[int, ...]
    """Rows per block along the first axis (one entry: never split)."""


@dataclass
class Piece:
    """One stored entry: a whole tensor (``extents`` None) or one of its slices."""

    index: int
    """Position of the tensor in the order added."""
    key: str
    shard: int
    offset: int
    size: int
    rows: tuple[int, int]
    """The first-axis rows ``[start, stop)`` this piece holds (``(0, 1)`` for a scalar)."""
    blocks: list[tuple[int, int]] = field(default_factory=list)
    """Row ranges written one at a time (each one block of the plan)."""
    extents: list[Extent] | None = None


@dataclass
class Layout:
    num_shards: int
    pieces: list[Piece]
    shard_sizes: list[int]

    def by_tensor(self) -> list[list[Piece]]:
        """The pieces of each tensor, in the order the tensors were added."""
        out: list[list[Piece]] = []
        for piece in self.pieces:  # pieces come in tensor order
            while len(out) <= piece.index:
                out.append([])
            out[piece.index].append(piece)
        return out


def row_blocks_for(shape: tuple[int, ...], nbytes: int, chunks: Sequence[int] | None,
                   splittable: bool, block_bytes: int = BLOCK_BYTES) -> tuple[int, ...]:
    """The rows of each block of a tensor (see the module docstring)."""
    if not splittable or not shape or shape[0] <= 1 or nbytes == 0:
        return (shape[0] if shape else 1,)
    if chunks is not None and sum(chunks) == shape[0] and all(c > 0 for c in chunks):
        return tuple(int(c) for c in chunks)
    row_bytes = max(1, nbytes // shape[0])
    rows = max(1, block_bytes // row_bytes)
    full, rest = divmod(shape[0], rows)
    return (rows,) * full + ((rest,) if rest else ())


def plan_layout(tensors: Sequence[TensorSpec], num_shards: int) -> Layout:
    """Assign every block to a shard and every piece its offset (module docstring)."""
    if num_shards < 1:
        raise ValueError(f"plan_layout: num_shards must be at least 1, got {num_shards}")
    total = sum(t.nbytes for t in tensors)
    sizes = [0] * num_shards
    pieces: list[Piece] = []
    position = 0
    for index, spec in enumerate(tensors):
        row_bytes = spec.nbytes // spec.shape[0] if spec.shape and spec.shape[0] else 0
        own: list[Piece] = []
        start = 0
        for rows in spec.row_blocks:
            nbytes = rows * row_bytes if spec.shape else spec.nbytes
            if len(spec.row_blocks) == 1:
                nbytes = spec.nbytes
            middle = position + nbytes / 2
            shard = min(num_shards - 1, int(num_shards * middle / total)) if total else 0
            if own and own[-1].shard == shard:
                piece = own[-1]
                piece.size += nbytes
                piece.rows = (piece.rows[0], start + rows)
            else:
                piece = Piece(index, spec.key, shard, 0, nbytes, (start, start + rows))
                own.append(piece)
            piece.blocks.append((start, start + rows))
            start += rows
            position += nbytes
        if len(own) > 1:
            rest: list[Extent] = [(0, -1)] * (len(spec.shape) - 1)
            for piece in own:
                piece.extents = [(piece.rows[0], piece.rows[1] - piece.rows[0]), *rest]
        for piece in own:
            piece.offset = sizes[piece.shard]
            sizes[piece.shard] += piece.size
        pieces.extend(own)
    return Layout(num_shards, pieces, sizes)
