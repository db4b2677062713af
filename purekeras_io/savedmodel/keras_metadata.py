"""``keras_metadata.pb``: tf_keras' ``SavedMetadata``, one JSON document per Keras object.

``SavedMetadata{nodes: [SavedObject{node_id, node_path, identifier, version{producer: 2,
min_consumer: 1}, metadata}]}`` (``savedmodel.md`` §2.3, §5). ``node_id`` is the object-graph id,
``node_path`` the first breadth-first path (``root.layer_with_weights-0``), ``identifier`` the same
``_tf_keras_*`` string as the object graph's user object. tf_keras revives every layer from the
JSON (``class_name`` + ``config``, Keras 2 dialect) and builds it with ``build_input_shape``.

JSON conventions of tf_keras' ``json_utils``: tuples are ``{"class_name": "__tuple__", "items":
[…]}``, shapes ``{"class_name": "TensorShape", "items": […]}``; ``json.dumps`` default separators.

Keys we write (in tf_keras' order; the ones tf_keras strictly needs are marked *)::

    layer:  name* trainable* expects_training_arg dtype batch_input_shape stateful
            must_restore_from_config preserve_input_structure_in_config autocast class_name*
            config* build_input_shape*
    input:  class_name* name* dtype sparse ragged batch_input_shape config*
    model:  the layer keys + is_graph_network; the root adds keras_version, backend,
            model_config and, when compiled (and the optimizer is included), training_config
            {loss, metrics, weighted_metrics, loss_weights, optimizer_config{"Custom>Adam", …}}
"""

from __future__ import annotations

import json
from typing import Any

from .. import optimizers
from .._proto.keras import saved_metadata_pb2
from ..errors import ConfigError
from ..model.base import CompileInfo, Model
from ..model.config_schema import check_compile_config
from ..model.dialect import neutral_value
from ..model.input_layer import InputLayer
from ..model.layer import Layer
from ..model.serialize import serialize_layer, serialize_model
from ..model.validate import index, key, list_at
from . import layout
from .object_graph import ObjectGraph

__all__ = [
    "build_saved_metadata",
    "compile_kwargs",
    "decode_json",
    "layer_metadata",
    "legacy_json",
    "training_config",
]

# Layer classes whose ``call`` takes ``training`` in tf_keras (models always do).
_TRAINING_ARG_CLASSES = frozenset(
    {
        "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "AlphaDropout",
        "GaussianDropout", "GaussianNoise", "BatchNormalization", "RNN", "SimpleRNN", "GRU",
        "LSTM", "SimpleRNNCell", "GRUCell", "LSTMCell", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D",
        "Bidirectional", "TimeDistributed", "MultiHeadAttention", "Attention",
        "AdditiveAttention", "RandomFlip", "RandomRotation", "RandomZoom", "RandomContrast",
        "RandomTranslation", "RandomCrop", "RandomBrightness", "RandomHeight", "RandomWidth",
    }
)


# Config keys tf_keras holds as Python tuples (``conv_utils.normalize_tuple``, Reshape's
# ``target_shape``, Permute's ``dims``, ZeroPadding/Cropping pairs of pairs…), so its
# ``json_utils`` writes them as ``__tuple__``; measured on tf_keras 2.21 ``get_config()`` of
# every catalog class. Values kept as the user gave them (Dropout ``noise_shape``, Dot ``axes``,
# Softmax ``axis``) stay lists, as does a built BatchNormalization/LayerNormalization ``axis``.
_TUPLE_KEYS = frozenset(
    {
        "attention_axes", "batch_input_shape", "cropping", "dilation_rate", "dims",
        "kernel_size", "output_padding", "padding", "pool_size", "size", "strides",
        "target_shape",
    }
)
_TUPLE_CLASS_KEYS = frozenset({("Normalization", "axis")})
# Keys of the new-style (``serialize_keras_object``) entries that tf_keras' SavedModel metadata,
# written with its legacy serialization, does not have.
_NON_LEGACY_KEYS = ("module", "registered_name", "build_config")


def _tuple_value(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return {"class_name": "__tuple__", "items": [_tuple_value(v) for v in value]}
    return value


def legacy_json(value: Any) -> Any:
    """A keras2-dialect config as tf_keras writes it in ``keras_metadata.pb``: serialized objects
    (layers, initializers…) as ``{"class_name", "config"}`` without ``module``,
    ``registered_name`` and ``build_config``; tuple-valued config keys as ``__tuple__``."""
    if isinstance(value, list):
        return [legacy_json(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "class_name" in value and "config" in value:
        out = {k: legacy_json(v) for k, v in value.items() if k not in _NON_LEGACY_KEYS}
        registered = value.get("registered_name")
        if isinstance(registered, str) and ">" in registered:
            out["class_name"] = registered  # tf_keras names registered classes ``Package>Class``
        config = value["config"]
        if isinstance(config, dict):
            cls = value["class_name"]
            out["config"] = {
                k: _tuple_value(v)
                if k in _TUPLE_KEYS or (cls, k) in _TUPLE_CLASS_KEYS
                else legacy_json(v)
                for k, v in config.items()
            }
        return out
    return {k: legacy_json(v) for k, v in value.items()}


def _tuple(items: Any) -> Any:
    if items is None:
        return None
    return {"class_name": "__tuple__", "items": [None if d is None else int(d) for d in items]}


def _is_shape(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(
        d is None or isinstance(d, int) for d in value
    )


def encode_shape(shape: Any) -> Any:
    """A build input shape as tf_keras writes it: ``TensorShape`` or a list/dict of them."""
    if shape is None:
        return None
    if _is_shape(shape):
        items = [None if d is None else int(d) for d in shape]
        return {"class_name": "TensorShape", "items": items}
    if isinstance(shape, dict):
        return {k: encode_shape(v) for k, v in shape.items()}
    if isinstance(shape, (list, tuple)):
        return [encode_shape(s) for s in shape]
    return shape


def decode_json(value: Any, path: str = "") -> Any:
    """tf_keras' JSON tuples and TensorShapes → plain lists (recursively; the nesting is bounded
    by :func:`~purekeras_io.model.validate.load_json`). ``items`` must be a list or null
    (``ConfigError`` naming the key path below ``path`` otherwise)."""
    if isinstance(value, dict):
        if value.get("class_name") in ("__tuple__", "TensorShape") and "items" in value:
            items = value["items"]
            if items is None:
                return None
            where = key(path, "items")
            return [decode_json(v, index(where, i)) for i, v in enumerate(list_at(items, where))]
        return {k: decode_json(v, key(path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_json(v, index(path, i)) for i, v in enumerate(value)]
    return value


def _entry(layer: Layer) -> dict[str, Any]:
    """``{"class_name", "config"}`` of a layer in the tf_keras dialect (models included), in
    tf_keras' legacy serialization (:func:`legacy_json`)."""
    if isinstance(layer, Model):
        out = serialize_model(layer, "keras2")
    else:
        out = serialize_layer(layer, "keras2")
    return legacy_json(
        {
            "class_name": out["class_name"],
            "config": out["config"],
            "registered_name": out.get("registered_name"),
        }
    )


def layer_metadata(
    layer: Layer, *, root: bool = False, compile_info: CompileInfo | None = None
) -> dict[str, Any]:
    """The metadata JSON (as a dict) of one Keras object."""
    entry = _entry(layer)
    if isinstance(layer, InputLayer):
        config = entry["config"]
        return {
            "class_name": "InputLayer",
            "name": layer.name,
            "dtype": config.get("dtype"),
            "sparse": bool(config.get("sparse", False)),
            "ragged": bool(config.get("ragged", False)),
            "batch_input_shape": config.get("batch_input_shape"),
            "config": config,
        }
    is_model = isinstance(layer, Model)
    meta: dict[str, Any] = {
        "name": layer.name,
        "trainable": layer.trainable,
        "expects_training_arg": is_model or layer.class_name() in _TRAINING_ARG_CLASSES,
        "dtype": layer.config.get("dtype") or "float32",
        "batch_input_shape": None if is_model else _tuple(layer.batch_input_shape),
    }
    if not is_model:
        meta["stateful"] = bool(layer.config.get("stateful", False))
    meta.update(
        {
            "must_restore_from_config": False,
            "preserve_input_structure_in_config": False,
            "autocast": not is_model,
            "class_name": entry["class_name"],
            "config": entry["config"],
        }
    )
    if layer.build_input_shape is not None:
        meta["build_input_shape"] = encode_shape(layer.build_input_shape)
    if is_model:
        meta["is_graph_network"] = True
        if root:
            meta["keras_version"] = layout.KERAS_VERSION
            meta["backend"] = layout.KERAS_BACKEND
            meta["model_config"] = {"class_name": entry["class_name"], "config": entry["config"]}
            if compile_info is not None:
                cfg = training_config(compile_info)
                if cfg is not None:
                    meta["training_config"] = cfg
    return meta


# ---------------------------------------------------------------- training config


def _json_safe(value: Any, what: str) -> Any:
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [_json_safe(v, what) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v, what) for k, v in neutral_value(value).items()}
    raise ConfigError(
        f"SavedModel training_config: compile argument {what} must be a name or a config dict, "
        f"received {type(value).__name__}: {value!r:.200}"
    )


def training_config(info: CompileInfo) -> dict[str, Any] | None:
    """What tf_keras stores from ``model.compile`` (None without an optimizer)."""
    if info.optimizer is None:
        return None
    return {
        "loss": _json_safe(info.loss, "loss"),
        "metrics": _json_safe(info.metrics, "metrics"),
        "weighted_metrics": _json_safe(info.weighted_metrics, "weighted_metrics"),
        "loss_weights": _json_safe(info.loss_weights, "loss_weights"),
        "optimizer_config": info.optimizer.serialize("keras2"),
    }


def compile_kwargs(config: dict[str, Any]) -> dict[str, Any]:
    """``training_config`` → keyword arguments for :meth:`Model.compile`."""
    if not isinstance(config, dict) or not isinstance(config.get("optimizer_config"), dict):
        raise ConfigError(
            f"keras_metadata.pb: training_config needs an 'optimizer_config' dict, "
            f"received {str(config)[:200]!r}"
        )
    check_compile_config(config, "")
    return {
        "optimizer": optimizers.deserialize(config["optimizer_config"], "optimizer_config"),
        "loss": config.get("loss"),
        "metrics": config.get("metrics"),
        "weighted_metrics": config.get("weighted_metrics"),
        "loss_weights": config.get("loss_weights"),
    }


# ---------------------------------------------------------------- the proto


def build_saved_metadata(
    graph: ObjectGraph, model: Model, compile_info: CompileInfo | None
) -> saved_metadata_pb2.SavedMetadata:
    """One ``SavedObject`` per Keras node of the object graph, in node-id order."""
    paths = graph.bfs_paths()
    proto = saved_metadata_pb2.SavedMetadata()
    for node_id, node in enumerate(graph.nodes):
        if node.checkpoint_only or not isinstance(node.obj, Layer) or node_id not in paths:
            continue
        meta = layer_metadata(node.obj, root=node.obj is model, compile_info=compile_info)
        saved = proto.nodes.add()
        saved.node_id = node_id
        saved.node_path = ".".join(["root", *paths[node_id]])
        saved.identifier = node.identifier
        saved.version.producer = layout.KERAS_METADATA_VERSION[0]
        saved.version.min_consumer = layout.KERAS_METADATA_VERSION[1]
        saved.metadata = json.dumps(meta)
    return proto
