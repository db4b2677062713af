"""Reading a Keras SavedModel directory (ours or tf_keras') back into a model, without TF.

1. ``keras_metadata.pb`` node 0 (the root): ``model_config`` (or ``class_name`` + ``config``)
   → the model (either Keras dialect); ``training_config`` → ``compile``. SavedModels from before
   TF 2.5 keep the same JSON in the root's ``user_object.metadata`` instead.
2. ``variables/``: the checkpoint's ``_CHECKPOINTABLE_OBJECT_GRAPH`` is walked from the root in
   parallel with the model's own object graph, child name by child name (``layer-N``,
   ``layer_with_weights-K``, ``cell``, ``kernel`` …), exactly as TF restores; each variable node
   names its tensor in ``attributes[VARIABLE_VALUE].checkpoint_key``.
3. The checkpoint's ``root → optimizer`` subtree (``_iterations``, ``_variables/1..k``) gives
   the optimizer state (``optimizer_state`` module).

Everything read from the files is validated; problems raise
:class:`~purekeras_io.errors.FormatError` naming the file and the node, key or field.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from google.protobuf.message import DecodeError, Message

from .._proto.keras import saved_metadata_pb2
from .._proto.tf import saved_model_pb2, trackable_object_graph_pb2
from ..errors import ConfigError, FormatError, reading
from ..model.base import Model
from ..model.serialize import model_from_config
from ..model.validate import Shape, load_json, located
from ..tensorbundle import BundleReader
from . import layout
from .keras_metadata import compile_kwargs, decode_json
from .object_graph import build_model_graph
from .optimizer_state import restore_optimizer_state
from .tog import node_child, read_object_graph, value_key

__all__ = ["load", "read_root_metadata"]

_MAX_PB_BYTES = 1 << 31


def _parse(message: Message, path: Path) -> Message:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise FormatError(f"{path}: missing (not a Keras SavedModel directory?)") from None
    if size > _MAX_PB_BYTES:
        raise FormatError(f"{path}: {size} bytes is more than a protobuf message can hold")
    try:
        message.ParseFromString(path.read_bytes())
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise FormatError(f"{path}: not a valid {type(message).__name__} ({exc})") from None
    return message


def read_root_metadata(dirpath: str | os.PathLike[str]) -> dict[str, Any]:
    """The root node's metadata JSON (keras_metadata.pb, or the legacy object-graph copy)."""
    root = Path(os.fspath(dirpath))
    md_path = root / layout.KERAS_METADATA_FILENAME
    text: str | None = None
    where = str(md_path)
    if md_path.exists():
        metadata = saved_metadata_pb2.SavedMetadata()
        _parse(metadata, md_path)
        for node in metadata.nodes:
            if node.node_id == 0:
                text = node.metadata
                break
        if text is None:
            raise FormatError(f"{md_path}: no metadata for the root (node_id 0)")
    else:
        saved = saved_model_pb2.SavedModel()
        _parse(saved, root / layout.SAVED_MODEL_FILENAME)
        where = f"{root / layout.SAVED_MODEL_FILENAME}: root user_object.metadata"
        if saved.meta_graphs and saved.meta_graphs[0].object_graph_def.nodes:
            text = saved.meta_graphs[0].object_graph_def.nodes[0].user_object.metadata or None
        if text is None:
            raise FormatError(
                f"{root}: no {layout.KERAS_METADATA_FILENAME} and no metadata in the object graph: "
                "this SavedModel was written by tf.saved_model.save, not by Keras, so it holds no "
                "model config"
            )
    meta = load_json(text, f"{where}: root metadata")
    if not isinstance(meta, dict):
        raise FormatError(f"{where}: root metadata is a {type(meta).__name__}, expected an object")
    return meta


def _model_config(meta: dict[str, Any], where: str) -> tuple[dict[str, Any], str]:
    """The root model's ``{"class_name", "config"}`` and its key path in the metadata."""
    config = meta.get("model_config")
    path = "model_config"
    if not isinstance(config, dict) or "class_name" not in config:
        if "class_name" not in meta or "config" not in meta:
            raise FormatError(
                f"{where}: root metadata has neither model_config nor class_name/config"
            )
        config = {"class_name": meta["class_name"], "config": meta["config"]}
        path = ""
    try:
        return dict(decode_json(config, path)), path
    except ConfigError as exc:
        raise FormatError(f"{where}: {exc}") from None


def _tensor(reader: BundleReader, key: str, where: str) -> np.ndarray:
    if key not in reader:
        raise FormatError(
            f"{where}: checkpoint key {key!r} is listed in the object graph but absent"
        )
    return reader.lazy_or_get(key)


def _restore_weights(model: Model, reader: BundleReader,
                     tog: trackable_object_graph_pb2.TrackableObjectGraph, where: str) -> None:
    graph = build_model_graph(model)
    paths = graph.bfs_paths()
    mapping: dict[int, int] = {0: 0}
    order = sorted(paths, key=lambda i: (len(paths[i]), i))
    for ours in order:
        theirs = mapping.get(ours)
        if theirs is None:
            continue
        for name, child in graph.nodes[ours].children:
            if child in mapping:
                continue
            found = node_child(tog, theirs, name, where)
            if found is not None:
                mapping[child] = found
    missing = []
    for i, node in graph.variables():
        path = ".".join(["root", *paths[i]])
        tog_id = mapping.get(i)
        key = None if tog_id is None else value_key(tog, tog_id)
        if key is None:
            missing.append(path)
            continue
        value = _tensor(reader, key, where)
        var = node.obj
        if tuple(value.shape) != tuple(var.shape):
            raise FormatError(
                f"{where}: {key!r} has shape {list(value.shape)}, but {path} "
                f"({var.path or var.name}) has shape {list(var.shape)}"
            )
        var.assign(value)  # no copy: keeps the read-only view of the mapped data (variable.py)
    if missing:
        raise FormatError(
            f"{where}: the checkpoint has no value for {len(missing)} variable(s) of the model: "
            f"{missing[:10]}"
        )
    # Values the checkpoint holds directly under a layer that the model has no variable for
    # (a layer left unbuilt, a class whose weights the catalog names differently…).
    used = {mapping[i] for i, _ in graph.variables()}
    unused = []
    for ours, theirs in mapping.items():
        if graph.nodes[ours].kind == "variable":
            continue
        for ref in tog.nodes[theirs].children:
            child = int(ref.node_id)
            if 0 <= child < len(tog.nodes) and child not in used and value_key(tog, child):
                unused.append(".".join(["root", *paths[ours], ref.local_name]))
    if unused:
        warnings.warn(
            f"{where}: {len(unused)} checkpoint value(s) under the model's layers were not "
            f"used: {unused[:10]}",
            UserWarning,
            stacklevel=3,
        )


def _restore_optimizer(model: Model, reader: BundleReader,
                       tog: trackable_object_graph_pb2.TrackableObjectGraph, where: str) -> None:
    optimizer = model.optimizer
    if optimizer is None:
        return
    opt = node_child(tog, 0, "optimizer", where)
    if opt is None:
        return
    iterations = 0
    it_node = node_child(tog, opt, "_iterations", where)
    it_key = None if it_node is None else value_key(tog, it_node)
    if it_key is not None:
        iterations = int(np.asarray(_tensor(reader, it_key, where)).reshape(-1)[0])
    slots: list[np.ndarray] = []
    var_list = node_child(tog, opt, "_variables", where)
    if var_list is not None:
        k = 1
        while True:
            node = node_child(tog, var_list, str(k), where)
            key = None if node is None else value_key(tog, node)
            if key is None:
                break
            slots.append(_tensor(reader, key, where))
            k += 1
    if not restore_optimizer_state(model, optimizer, iterations, slots):
        warnings.warn(
            f"{where}: the checkpoint's {len(slots)} optimizer slot variables do not fit "
            f"{type(optimizer).__name__} on the model's {len(model.trainable_weights)} trainable "
            "variables; the optimizer keeps only iterations",
            UserWarning,
            stacklevel=3,
        )


def load(dirpath: str | os.PathLike[str], **kwargs: Any) -> Model:
    """See :func:`_load`; any error that is not ours becomes a ``FormatError`` naming the file."""
    with reading(dirpath):
        return _load(dirpath, **kwargs)


def _load(dirpath: str | os.PathLike[str], **kwargs: Any) -> Model:
    """A model (config, weights, compile information, optimizer state) from a Keras SavedModel."""
    root = Path(os.fspath(dirpath))
    if not root.is_dir():
        raise FormatError(f"{root}: not a directory (a SavedModel is a directory)")
    saved = saved_model_pb2.SavedModel()
    _parse(saved, root / layout.SAVED_MODEL_FILENAME)
    if len(saved.meta_graphs) < 1:
        raise FormatError(f"{root / layout.SAVED_MODEL_FILENAME}: no MetaGraphDef")
    meta = read_root_metadata(root)
    where_md = str(root / layout.KERAS_METADATA_FILENAME)
    config, path = _model_config(meta, where_md)
    try:
        model = model_from_config(config, path=path)
        if not model.built and meta.get("build_input_shape") is not None:
            # a Sequential built with model.build(shape): the shape is only in the metadata
            shape = Shape()(decode_json(meta["build_input_shape"], "build_input_shape"),
                            "build_input_shape")
            try:
                model.build(tuple(shape))
            except (TypeError, ValueError, IndexError) as exc:
                raise located(f"the model cannot be built for {shape}: {exc}",
                              "build_input_shape") from None
    except ConfigError as exc:
        raise FormatError(f"{where_md}: {exc}") from None
    prefix = root / layout.VARIABLES_DIR / layout.VARIABLES_PREFIX
    where = f"{prefix}.index"
    if not Path(where).exists():
        raise FormatError(f"{where}: missing (the SavedModel has no checkpoint)")
    training = meta.get("training_config")
    if training is not None:
        try:
            model.compile(**compile_kwargs(decode_json(training, "training_config")))
        except ConfigError as exc:
            raise FormatError(f"{where_md}: training_config: {exc}") from None
    with BundleReader(prefix) as reader:
        tog = read_object_graph(reader, where)
        _restore_weights(model, reader, tog, where)
        _restore_optimizer(model, reader, tog, where)
    return model
