"""TensorBundle: TensorFlow's V2 checkpoint format (``<prefix>.index`` + ``<prefix>.data-*``).

Spec: ``shared/docs/tensorbundle.md``. Verbs::

    write(prefix, {"name": array, ...})           # one shard, byte-identical to TF's SaveV2
    read(prefix) -> {"name": array, ...}          # read-only arrays, memory-mapped
    merge([prefix_a, prefix_b], out_prefix)       # like TF's MergeBundles
    with BundleWriter(prefix) as w: w.add(key, array)      # streaming, one tensor at a time
    with BundleReader(prefix) as r: r.keys(), r.entry(key), r.get(key)
    save_weights(model, prefix) / load_weights(model, prefix)   # TF2 object-based checkpoints
                                                                # (tf_keras model.save_weights)
"""

from __future__ import annotations

from typing import Any

from .merge import merge
from .reader import BundleReader, Entry, read
from .writer import BundleKeyError, BundleStateError, BundleWriter, write

__all__ = [
    "BundleKeyError",
    "BundleReader",
    "BundleStateError",
    "BundleWriter",
    "Entry",
    "load_weights",
    "merge",
    "read",
    "save_weights",
    "write",
]

_LAZY = {"save_weights", "load_weights"}
"""From :mod:`.checkpoint`, imported on first use (it needs ``purekeras_io.savedmodel``, which
imports this package)."""


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import checkpoint

        return getattr(checkpoint, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
