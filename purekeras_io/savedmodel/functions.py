"""Traced functions and serving signatures (the "serving tier", ``savedmodel.md`` §7): not yet.

This module is the hook where the serving tier slots in. The writer calls
:func:`add_functions` after the Keras object graph is built and before checkpoint-only nodes are
appended, with the ``MetaGraphDef`` being filled. The serving tier will add here:

* one flat ``FunctionDef`` per signature to ``meta_graph.graph_def.library`` (inputs: the model
  inputs, then one ``DT_RESOURCE`` per captured variable; ``ReadVariableOp`` + math ops);
* a ``signatures`` user object (``signature_map``, version 1/1) under the root with a
  ``bare_concrete_function`` child ``serving_default`` (``allowed_positional_arguments: 1``);
* ``object_graph_def.concrete_functions[F]`` with ``bound_inputs`` = the variable node ids.

Until then :func:`add_functions` writes nothing and reports whether traces were asked for, so
the caller can warn once.
"""

from __future__ import annotations

from typing import Any

from .._proto.tf import meta_graph_pb2
from ..model.base import Model
from .object_graph import ObjectGraph

__all__ = ["TRACES_WARNING", "add_functions"]

TRACES_WARNING = (
    "purekeras_io SavedModel: save_traces=True, but traced call functions and serving "
    "signatures are not written yet; the SavedModel loads in tf_keras (load_model) from the "
    "layer configs, while tf.saved_model.load finds no signatures"
)


def add_functions(
    graph: ObjectGraph,
    meta_graph: meta_graph_pb2.MetaGraphDef,
    model: Model,
    *,
    signatures: Any = None,
    save_traces: bool = True,
) -> bool:
    """Add traced functions and signatures (nothing yet). Returns True when something asked for
    traces that were not written."""
    del graph, meta_graph, model, signatures
    return bool(save_traces)
