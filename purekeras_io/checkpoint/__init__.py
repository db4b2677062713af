"""TF2 object-based checkpoints of Keras models: ``model.save_weights("dir/ckpt")``.

Built on the byte-level :mod:`purekeras_io.tensorbundle` and on the SavedModel object graph
(:mod:`purekeras_io.savedmodel.object_graph`); the spec is in :mod:`.object_based`.
"""

from __future__ import annotations

from .object_based import (
    CHECKPOINT_STATE_FILENAME,
    OBJECT_GRAPH_KEY,
    ROOTS,
    LoadResult,
    build_checkpoint_graph,
    latest_checkpoint,
    load_weights,
    read_checkpoint_state,
    save_weights,
    write_checkpoint_state,
)

__all__ = [
    "CHECKPOINT_STATE_FILENAME",
    "OBJECT_GRAPH_KEY",
    "ROOTS",
    "LoadResult",
    "build_checkpoint_graph",
    "latest_checkpoint",
    "load_weights",
    "read_checkpoint_state",
    "save_weights",
    "write_checkpoint_state",
]
