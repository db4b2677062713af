"""Per-tensor layout for the PyTorch importer: which torch axis each Keras axis holds.

A torch tensor of shape ``(N, C, H, W)`` may live in the Keras graph as ``(N, H, W, C)``. A
:class:`TV` keeps the Keras tensor with ``perm``: Keras axis ``i`` is torch axis ``perm[i]``
(``keras = torch.permute(perm)``); axis 0 is the batch in both and never moves.

* Convolutions, pooling and padding want the *spatial* layout: channels-last
  ``(0, 2, …, r-1, 1)`` for ``data_format="channels_last"``, the identity for
  ``"channels_first"``.
* Element-wise ops keep whatever layout they get (both operands brought to the first's).
* ``flatten``/``view``/``reshape``/``Linear`` want torch's order: a ``Permute`` layer goes in
  first, unless only size-1 axes move (then the memory order is the same and nothing is needed;
  e.g. ResNet's ``(N, 1, 1, 512)`` before ``flatten``).
* ``permute``/``transpose`` change only ``perm`` (no layer).

Putting a ``Permute`` before a flatten (instead of permuting the next Dense kernel's rows) gives
equal predictions for any consumer of the flattened tensor, not only a Dense.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["TV", "channels_last_perm", "identity", "invert", "same_memory_order"]


@dataclass(frozen=True)
class TV:
    """A torch tensor as a Keras tensor: ``tensor`` = torch tensor permuted by ``perm``."""

    tensor: Any
    """The KerasTensor."""
    perm: tuple[int, ...]
    """Keras axis ``i`` holds torch axis ``perm[i]``."""
    shape: tuple[int, ...]
    """The torch shape (from the example inputs; axis 0 the batch)."""
    nonneg: bool = False
    """Known to be ≥ 0 (after ReLU): zero padding before a max pool is then exact."""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def rank(self) -> int:
        return len(self.shape)

    def keras_axis(self, torch_axis: int) -> int:
        """The Keras axis that holds torch axis ``torch_axis`` (negative counts from the end)."""
        return self.perm.index(torch_axis % self.rank)

    def keras_shape(self) -> tuple[int, ...]:
        return tuple(self.shape[p] for p in self.perm)

    def with_tensor(self, tensor: Any, **changes: Any) -> TV:
        return replace(self, tensor=tensor, **changes)


def identity(rank: int) -> tuple[int, ...]:
    return tuple(range(rank))


def channels_last_perm(rank: int) -> tuple[int, ...]:
    """``(0, 2, …, rank-1, 1)``: torch ``(N, C, *spatial)`` → Keras ``(N, *spatial, C)``."""
    return (0, *range(2, rank), 1) if rank >= 3 else identity(rank)


def invert(perm: Sequence[int]) -> tuple[int, ...]:
    out = [0] * len(perm)
    for i, p in enumerate(perm):
        out[p] = i
    return tuple(out)


def same_memory_order(perm: Sequence[int], shape: Sequence[int]) -> bool:
    """True when a tensor stored in ``perm`` order has torch's row-major element order (the
    axes that move all have size 1)."""
    kept = [p for p in perm if shape[p] != 1]
    return kept == sorted(kept)
