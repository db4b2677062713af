"""TensorBundle: TensorFlow's V2 checkpoint format (``<prefix>.index`` + ``<prefix>.data-*``).

Spec: ``shared/docs/tensorbundle.md``. Verbs::

    write(prefix, {"name": array, ...})           # one shard, byte-identical to TF's SaveV2
    read(prefix) -> {"name": array, ...}          # read-only arrays, memory-mapped
    merge([prefix_a, prefix_b], out_prefix)       # like TF's MergeBundles
    with BundleWriter(prefix) as w: w.add(key, array)      # streaming, one tensor at a time
    with BundleReader(prefix) as r: r.keys(), r.entry(key), r.get(key)

Byte level only: the TF2 object-based checkpoints of Keras models (``model.save_weights``) are
built on this package in :mod:`purekeras_io.checkpoint`.
"""

from __future__ import annotations

from .merge import merge
from .reader import BundleReader, Entry, read
from .writer import BundleKeyError, BundleStateError, BundleWriter, write

__all__ = [
    "BundleKeyError",
    "BundleReader",
    "BundleStateError",
    "BundleWriter",
    "Entry",
    "merge",
    "read",
    "write",
]
