"""Keras SavedModel directories (``model.save(dir)`` of tf_keras 2.x), without TensorFlow.

``save(model, dirpath, include_optimizer=True, signatures=None, options=None, save_traces=True)``
writes the "Keras tier" (``savedmodel.md`` §1): ``saved_model.pb`` with the object graph,
``keras_metadata.pb`` with every layer's config, ``variables/`` (TensorBundle checkpoint with the
optimizer state) and ``fingerprint.pb``; ``tf_keras.models.load_model`` restores a compiled,
trainable model with its optimizer state. ``load(dirpath)`` reads it back (ours or tf_keras').
The layout is drawn in :mod:`purekeras_io.savedmodel.layout`.
"""

from __future__ import annotations

from .reader import load, read_root_metadata
from .writer import SaveOptions, save, write_files

__all__ = ["SaveOptions", "load", "read_root_metadata", "save", "write_files"]
