"""The SavedModel directory tf_keras ``model.save(dir)`` writes, and the constants we share.

Spec: ``shared/docs/savedmodel.md`` (§1 tiers, §2 what TF writes, §4-§8 what loaders need) and
``tensorbundle.md`` §7 (object-based checkpoint keys). The "Keras tier" we write::

    <dir>/
      saved_model.pb            SavedModel{saved_model_schema_version: 1,
                                  meta_graphs: [MetaGraphDef{
                                    meta_info_def{tags: ["serve"], tensorflow_version: "2.21.0",
                                                  tensorflow_git_version, stripped_default_attrs},
                                    graph_def{versions{producer: 2474, min_consumer: 12}},
                                    object_graph_def: SavedObjectGraph}]}
      keras_metadata.pb         SavedMetadata{nodes: one per Keras object (node_id, node_path,
                                  identifier, version{2, 1}, metadata = JSON)}
      fingerprint.pb            FingerprintDef (hashes of the other files; only logged by TF)
      variables/
        variables.index         TensorBundle, one shard; keys
        variables.data-00000-of-00001   "<first BFS path>/.ATTRIBUTES/VARIABLE_VALUE" and
                                        "_CHECKPOINTABLE_OBJECT_GRAPH" (TrackableObjectGraph)
      assets/                   empty

SavedObjectGraph (node 0 = root)::

    root  user_object "_tf_keras_sequential" | "_tf_keras_network"
      ├─ layer_with_weights-K → a layer that has weights (alias, K counts weighted layers)
      ├─ layer-N              → every layer, contiguous, in config order (MANDATORY: tf_keras
      │                         finds the layers only through these; Functional counts its
      │                         InputLayers, Sequential does not)
      │    user_object "_tf_keras_layer" | "_tf_keras_input_layer" | "_tf_keras_rnn_layer"
      │      ├─ <sub-layer attribute> (cell, forward_layer, backward_layer, layer …)
      │      └─ <weight attribute>    (kernel, bias, gamma …) → variable nodes
      └─ (nested models are layers with their own layer-N children)

The checkpoint's TrackableObjectGraph repeats these nodes with the same ids, and adds, when the
optimizer state is saved, ``root → optimizer → {_iterations, _learning_rate, _variables → 0..k}``
(0 is the iterations variable) **only in the checkpoint**: tf_keras then restores the whole
optimizer state by deferred restoration when ``compile`` creates the optimizer (§8).
"""

from __future__ import annotations

__all__ = [
    "ASSETS_DIR",
    "ATTRIBUTES_SUFFIX",
    "FINGERPRINT_FILENAME",
    "FINGERPRINT_VERSION",
    "GRAPH_MIN_CONSUMER",
    "GRAPH_PRODUCER",
    "INPUT_LAYER_IDENTIFIER",
    "KERAS_BACKEND",
    "KERAS_METADATA_FILENAME",
    "KERAS_METADATA_VERSION",
    "KERAS_VERSION",
    "LAYER_IDENTIFIER",
    "METRIC_IDENTIFIER",
    "MODEL_IDENTIFIER",
    "NETWORK_IDENTIFIER",
    "OBJECT_GRAPH_KEY",
    "RNN_LAYER_IDENTIFIER",
    "SAVED_MODEL_FILENAME",
    "SAVED_MODEL_SCHEMA_VERSION",
    "SEQUENTIAL_IDENTIFIER",
    "SERVE_TAG",
    "TENSORFLOW_GIT_VERSION",
    "TENSORFLOW_VERSION",
    "USER_OBJECT_VERSION",
    "VARIABLES_DIR",
    "VARIABLES_PREFIX",
    "VARIABLE_VALUE",
    "checkpoint_key",
]

# ---------------------------------------------------------------- files
SAVED_MODEL_FILENAME = "saved_model.pb"
KERAS_METADATA_FILENAME = "keras_metadata.pb"
FINGERPRINT_FILENAME = "fingerprint.pb"
VARIABLES_DIR = "variables"
VARIABLES_PREFIX = "variables"
"""The bundle prefix inside ``variables/``: ``variables/variables.index`` …"""
ASSETS_DIR = "assets"

# ---------------------------------------------------------------- versions
SAVED_MODEL_SCHEMA_VERSION = 1
SERVE_TAG = "serve"
TENSORFLOW_VERSION = "2.21.0"
TENSORFLOW_GIT_VERSION = "v2.21.0-rc1-5-ga481b10260d"
GRAPH_PRODUCER = 2474
GRAPH_MIN_CONSUMER = 12
USER_OBJECT_VERSION = (1, 1)
"""``SavedUserObject.version`` (producer, min_consumer) of every Keras user object."""
KERAS_METADATA_VERSION = (2, 1)
"""``SavedMetadata.nodes[].version`` tf_keras writes."""
FINGERPRINT_VERSION = 4
KERAS_VERSION = "2.21.0"
KERAS_BACKEND = "tensorflow"

# ---------------------------------------------------------------- identifiers (tf_keras constants)
SEQUENTIAL_IDENTIFIER = "_tf_keras_sequential"
NETWORK_IDENTIFIER = "_tf_keras_network"
MODEL_IDENTIFIER = "_tf_keras_model"
LAYER_IDENTIFIER = "_tf_keras_layer"
INPUT_LAYER_IDENTIFIER = "_tf_keras_input_layer"
RNN_LAYER_IDENTIFIER = "_tf_keras_rnn_layer"
METRIC_IDENTIFIER = "_tf_keras_metric"

# ---------------------------------------------------------------- checkpoint
OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
VARIABLE_VALUE = "VARIABLE_VALUE"
ATTRIBUTES_SUFFIX = "/.ATTRIBUTES/" + VARIABLE_VALUE


def checkpoint_key(path: list[str]) -> str:
    """A first-BFS path → its checkpoint key.

    ``["layer_with_weights-0", "kernel"]`` →
    ``layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE``.

    TF escapes ``/`` and ``.`` inside names (``.S`` and ``..``); Keras attribute names never
    contain them, but list indices and odd names are escaped the same way for safety.
    """
    escaped = [name.replace(".", "..").replace("/", ".S") for name in path]
    return "/".join(escaped) + ATTRIBUTES_SUFFIX
