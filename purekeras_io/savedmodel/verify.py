"""Verifying a SavedModel directory, every problem reported (``savedmodel.md``).

=====================  ===========================================================================
rule                   checked how
=====================  ===========================================================================
``saved_model.pb``     parses as ``SavedModel``; at least one ``MetaGraphDef``
``fingerprint.pb``     (optional) parses; ``version.producer`` set; a fingerprint of ours
                       (BLAKE2b) must match ``saved_model.pb`` and ``variables.index`` byte for
                       byte; TensorFlow's own hashes (FarmHash of regularized protos) are not
                       recomputed, which the report notes
``keras_metadata.pb``  (optional) parses; every node's metadata is JSON
``variables/``         the TensorBundle rules and checksums (:mod:`..tensorbundle.verify`)
checkpoint's object    ``_CHECKPOINTABLE_OBJECT_GRAPH`` parses as a ``TrackableObjectGraph``;
graph                  child ids in range; every ``checkpoint_key`` is a tensor of the bundle
                       (:func:`check_object_graph`, also used for checkpoints)
object graph           every variable node of the ``SavedObjectGraph`` has a checkpoint value
                       of its dtype and shape (same node ids as the checkpoint's object graph)
Keras model            the config builds a model; each of its variables (matched through the
                       checkpoint's object graph as TF restores) exists with the shape and dtype
                       its layer config implies
=====================  ===========================================================================
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from .._proto.keras import saved_metadata_pb2
from .._proto.tf import fingerprint_pb2, saved_model_pb2, trackable_object_graph_pb2
from .._report import Progress, Report, no_progress
from ..dtypes import by_tf_enum
from ..model.serialize import model_from_config
from ..model.validate import load_json
from ..model.verify import compare_weights
from ..tensorbundle.reader import Entry
from ..tensorbundle.verify import StringCheck, verify_bundle
from . import layout
from .object_graph import build_model_graph
from .reader import _model_config, read_root_metadata
from .tog import node_child, value_key

__all__ = ["OBJECT_GRAPH_CHECKS", "check_object_graph", "verify_savedmodel"]

_MAX_PB = 1 << 31


def check_object_graph(report: Report, name: str, data: bytes, keys: set[str]) -> None:
    """The object graph string of a bundle (SavedModel variables or a TF2 checkpoint)."""
    key = layout.OBJECT_GRAPH_KEY
    tog = trackable_object_graph_pb2.TrackableObjectGraph()
    try:
        tog.ParseFromString(data)
    except Exception as exc:
        # the bundle itself is sound (its CRC matched); only object-based restores need a TOG
        report.note(f"note: {key} does not parse as a TrackableObjectGraph "
                    f"({exc}); a byte-level bundle, not a TF2 object-based checkpoint")
        return
    report.count("object graph nodes", len(tog.nodes))
    for i, node in enumerate(tog.nodes):
        for ref in node.children:
            if not 0 <= ref.node_id < len(tog.nodes):
                report.add(name, f"{key} node {i}",
                           f"child {ref.local_name!r} points to node {ref.node_id}, outside "
                           f"0..{len(tog.nodes) - 1}")
        for attr in node.attributes:
            if attr.checkpoint_key and attr.checkpoint_key not in keys:
                report.add(name, f"{key} node {i}",
                           f"attribute {attr.name!r} names checkpoint key "
                           f"{attr.checkpoint_key!r}, which the bundle does not hold")


OBJECT_GRAPH_CHECKS: dict[str, StringCheck] = {layout.OBJECT_GRAPH_KEY: check_object_graph}


def _parse(report: Report, path: Path, message: Any) -> bytes | None:
    try:
        data = path.read_bytes()
    except OSError as exc:
        report.add(str(path), "", f"cannot be read ({exc.strerror or exc})")
        return None
    try:
        message.ParseFromString(data)
    except Exception as exc:
        report.add(str(path), "", f"does not parse as {type(message).__name__} ({exc})")
        return None
    report.count("protos")
    return data


def _hash64(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def _fingerprint(report: Report, root: Path, saved_bytes: bytes | None) -> None:
    path = root / layout.FINGERPRINT_FILENAME
    if not path.exists():
        return
    fp = fingerprint_pb2.FingerprintDef()
    if _parse(report, path, fp) is None:
        return
    if fp.version.producer < 1:
        report.add(str(path), "version.producer", f"{fp.version.producer}, expected >= 1")
    if saved_bytes is None:
        return
    index = root / layout.VARIABLES_DIR / f"{layout.VARIABLES_PREFIX}.index"
    if fp.saved_model_checksum == _hash64(saved_bytes):  # written by purekeras_io
        if index.exists() and fp.checkpoint_hash != _hash64(index.read_bytes()):
            report.add(str(path), "checkpoint_hash",
                       f"{fp.checkpoint_hash} does not match {index} (BLAKE2b-64 "
                       f"{_hash64(index.read_bytes())})")
        return
    report.note("note: fingerprint.pb holds TensorFlow's FarmHash fingerprints, which are not "
                "recomputed (TF only logs them); saved_model.pb and variables/ are checked "
                "on their own")


def _keras_metadata(report: Report, root: Path) -> None:
    path = root / layout.KERAS_METADATA_FILENAME
    if not path.exists():
        return
    md = saved_metadata_pb2.SavedMetadata()
    if _parse(report, path, md) is None:
        return
    for node in md.nodes:
        with report.guard(str(path), f"node {node.node_id} ({node.node_path})"):
            load_json(node.metadata, "metadata")


def _read_tog(report: Report, prefix: Path, entries: dict[str, Entry]
              ) -> trackable_object_graph_pb2.TrackableObjectGraph | None:
    from ..tensorbundle import BundleReader
    from .tog import read_object_graph

    if layout.OBJECT_GRAPH_KEY not in entries:
        return None
    try:
        with warnings.catch_warnings(), BundleReader(prefix, verify_crc=False) as reader:
            warnings.simplefilter("ignore")
            return read_object_graph(reader, f"{prefix}.index")
    except Exception:  # damage already reported by the bundle checks
        return None


def _fake(entry: Entry) -> Any:
    return SimpleNamespace(shape=entry.shape, dtype=entry.dtype.numpy)


def _object_graph_variables(report: Report, pb: str, saved: Any, index: str,
                            tog: Any, entries: dict[str, Entry]) -> None:
    nodes = saved.meta_graphs[0].object_graph_def.nodes
    if len(nodes) != len(tog.nodes):
        return
    for i, node in enumerate(nodes):
        if node.WhichOneof("kind") != "variable":
            continue
        key = value_key(tog, i)
        name = node.variable.name or f"node {i}"
        if key is None:
            report.add(pb, f"object graph node {i} ({name})",
                       "variable without a value in the checkpoint")
            continue
        entry = entries.get(key)
        if entry is None:
            continue  # reported by the bundle's object graph check
        report.count("variables")
        try:
            want = by_tf_enum(node.variable.dtype, what=f"node {i}")
        except Exception:
            continue
        shape = tuple(int(d.size) for d in node.variable.shape.dim)
        if not node.variable.shape.unknown_rank and all(d >= 0 for d in shape) and \
                shape != entry.shape:
            report.add(index, f"tensor {key!r}", f"shape {list(entry.shape)}, but variable "
                       f"{name!r} of saved_model.pb has shape {list(shape)}")
        if want.name != entry.dtype.name:
            report.add(index, f"tensor {key!r}", f"dtype {entry.dtype.name}, but variable "
                       f"{name!r} of saved_model.pb is {want.name}")


def _keras_weights(report: Report, root: Path, index: str, tog: Any,
                   entries: dict[str, Entry]) -> None:
    where_md = str(root / layout.KERAS_METADATA_FILENAME)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            meta = read_root_metadata(root)
        except Exception:
            return  # no Keras model in this SavedModel
        model = None
        with report.guard(where_md, "root model config"):
            config, path = _model_config(meta, where_md)
            model = model_from_config(config, path=path)
            if not model.built and meta.get("build_input_shape") is not None:
                from ..model.validate import Shape
                from .keras_metadata import decode_json

                shape = Shape()(decode_json(meta["build_input_shape"], "build_input_shape"),
                                "build_input_shape")
                model.build(tuple(shape))
    for w in caught:
        report.note(f"note: {w.message}")
    if model is None:
        return
    report.count("layers", len(model.layers))
    graph = build_model_graph(model)
    paths = graph.bfs_paths()
    mapping: dict[int, int] = {0: 0}
    for ours in sorted(paths, key=lambda i: (len(paths[i]), i)):
        theirs = mapping.get(ours)
        if theirs is None:
            continue
        for name, child in graph.nodes[ours].children:
            if child not in mapping:
                try:
                    found = node_child(tog, theirs, name, index)
                except Exception:
                    found = None
                if found is not None:
                    mapping[child] = found
    for i, node in graph.variables():
        where = ".".join(["root", *paths[i]])
        tog_id = mapping.get(i)
        key = None if tog_id is None else value_key(tog, tog_id)
        if key is None:
            report.add(index, where, f"no checkpoint value for variable "
                       f"{node.obj.path or node.obj.name} of the model config")
            continue
        entry = entries.get(key)
        if entry is not None:
            compare_weights(report, index, f"tensor {key!r}", node.obj, _fake(entry))


def verify_savedmodel(path: str | os.PathLike[str], report: Report,
                      progress: Progress = no_progress) -> None:
    """Check the SavedModel directory at ``path``."""
    root = Path(os.fspath(path))
    pb = root / layout.SAVED_MODEL_FILENAME
    saved = saved_model_pb2.SavedModel()
    saved_bytes = _parse(report, pb, saved)
    if saved_bytes is not None and not saved.meta_graphs:
        report.add(str(pb), "meta_graphs", "no MetaGraphDef")
        saved_bytes = None
    _fingerprint(report, root, saved_bytes)
    _keras_metadata(report, root)
    prefix = root / layout.VARIABLES_DIR / layout.VARIABLES_PREFIX
    index = f"{prefix}.index"
    if not Path(index).exists():
        if saved_bytes is not None and any(
            n.WhichOneof("kind") == "variable"
            for n in saved.meta_graphs[0].object_graph_def.nodes
        ):
            report.add(index, "", "missing, but the object graph has variables")
        else:
            report.note("note: no variables/ checkpoint (the object graph has no variables)")
        return
    entries = verify_bundle(prefix, report, progress, OBJECT_GRAPH_CHECKS)
    tog = _read_tog(report, prefix, entries)
    if tog is None:
        return
    if saved_bytes is not None:
        _object_graph_variables(report, str(pb), saved, index, tog, entries)
    _keras_weights(report, root, index, tog, entries)
