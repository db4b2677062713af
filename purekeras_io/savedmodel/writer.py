"""Writing the Keras tier of a SavedModel directory (layout: :mod:`.layout`).

Steps, all inside a temporary folder beside the target (``.<name>.tmp-XXXX``), renamed into place
at the end (an existing target is replaced only then):

1. object graph of the model (:func:`.object_graph.build_model_graph`), the function hook
   (:mod:`.functions`), then the optimizer subtree as checkpoint-only nodes;
2. ``variables/``: every variable under ``<first BFS path>/.ATTRIBUTES/VARIABLE_VALUE`` plus
   ``_CHECKPOINTABLE_OBJECT_GRAPH``, added in sorted key order as TF's saver does (one shard);
3. ``saved_model.pb``, ``keras_metadata.pb``, ``fingerprint.pb``, empty ``assets/``, and with
   ``save_debug_info`` the ``debug/saved_model_debug_info.pb`` of :mod:`.debug_info`.

Every byte depends only on the model: protos are serialized deterministically and the
fingerprint's hashes (and ``uuid``) are BLAKE2b digests of the files' contents.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import __version__
from .._io import atomic_dir, fsync_dir, fsync_file
from .._proto.tf import fingerprint_pb2, meta_graph_pb2, saved_model_pb2
from ..errors import ConfigError, FileExistsRefusedError, UnsupportedFeatureError
from ..model.base import Model
from ..model.dialect import keras3_names_kept
from ..model.preflight import check_model
from ..parallel import open_writer
from ..tensorbundle.writer import string_scalar
from . import functions, layout
from .debug_info import DEBUG_DIR, DEBUG_INFO_FILENAME, build_debug_info
from .keras_metadata import build_saved_metadata
from .object_graph import add_optimizer, build_model_graph
from .optimizer_state import optimizer_checkpoint_state
from .traces import needs_python

__all__ = ["SaveOptions", "check_options", "save", "write_files"]


@dataclasses.dataclass(frozen=True)
class SaveOptions:
    """``tf.saved_model.SaveOptions``' fields, plus ``fsync`` (flush files and folders to disk
    before returning). What each means here (:func:`check_options`):

    * honoured: ``save_debug_info`` (``debug/saved_model_debug_info.pb``, :mod:`.debug_info`),
      ``extra_tags`` (added to the MetaGraph's tags after ``serve``), ``function_aliases``
      (alias -> signature name, :mod:`.functions`), ``experimental_skip_saver`` (no saver
      functions in the main graph), ``fsync``;
    * accepted, with nothing to change in our files: ``namespace_whitelist`` (we emit only
      TensorFlow's own ops), ``experimental_debug_stripper`` (our nodes carry no debug info),
      ``experimental_io_device`` (where TF's runtime does I/O), ``experimental_variable_policy``
      (our variables have no devices and none is distributed), ``experimental_custom_gradients``
      (our functions have no custom gradients);
    * refused (:class:`~purekeras_io.errors.UnsupportedFeatureError`):
      ``experimental_image_format`` (the chunked ``.cpb`` form) and
      ``experimental_sharding_callback`` (a TensorFlow callable).
    """

    namespace_whitelist: Any = None
    save_debug_info: bool = False
    function_aliases: Any = None
    experimental_debug_stripper: bool = False
    experimental_io_device: Any = None
    experimental_variable_policy: Any = None
    experimental_custom_gradients: bool = True
    experimental_image_format: bool = False
    experimental_skip_saver: bool = False
    experimental_sharding_callback: Any = None
    extra_tags: Any = None
    fsync: bool = False


_OPTION_FIELDS = tuple(f.name for f in dataclasses.fields(SaveOptions))


def _parse_options(options: Any) -> SaveOptions:
    """None, our :class:`SaveOptions`, a dict of its fields, or TensorFlow's ``SaveOptions``."""
    if options is None:
        return SaveOptions()
    if isinstance(options, SaveOptions):
        return options
    if isinstance(options, Mapping):
        unknown = sorted(str(k) for k in options if k not in _OPTION_FIELDS)
        if unknown:
            raise ConfigError(
                f"SavedModel options: unknown option(s) {unknown}; known: {list(_OPTION_FIELDS)}"
            )
        return SaveOptions(**dict(options))
    if type(options).__name__ == "SaveOptions":
        values = {f: getattr(options, f) for f in _OPTION_FIELDS if hasattr(options, f)}
        return SaveOptions(**values)
    raise ConfigError(
        "SavedModel options must be None, purekeras_io.savedmodel.SaveOptions, a dict of its "
        f"fields or tf.saved_model.SaveOptions; received {type(options).__name__}: {options!r:.200}"
    )


def check_options(opts: SaveOptions, where: str) -> None:
    """Refuse the options whose meaning needs TensorFlow's runtime objects."""
    refused = {
        "experimental_image_format": bool(opts.experimental_image_format),
        "experimental_sharding_callback": opts.experimental_sharding_callback is not None,
    }
    for name, bad in refused.items():
        if bad:
            raise UnsupportedFeatureError(
                f"{where}: SaveOptions.{name}={getattr(opts, name)!r:.200} is not supported "
                "(it needs TensorFlow's runtime objects); leave it at its default"
            )
    tags = opts.extra_tags
    if tags is not None and (isinstance(tags, (str, bytes))
                             or not all(isinstance(t, str) and t for t in tags)):
        raise ConfigError(f"{where}: SaveOptions.extra_tags must be a list of non-empty "
                          f"strings; received {tags!r:.200}")


def _hash64(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def _write(path: Path, data: bytes, fsync: bool) -> None:
    """A new file inside the temporary folder (the folder as a whole is renamed into place)."""
    with open(path, "xb") as fh:
        fh.write(data)
        if fsync:
            fsync_file(fh)


def write_files(
    model: Model,
    folder: str | os.PathLike[str],
    *,
    include_optimizer: bool = True,
    signatures: Any = None,
    save_traces: bool = True,
    fsync: bool = False,
    options: Any = None,
    workers: int | None = None,
    client: Any = None,
) -> functions.Added:
    """Write the SavedModel files into an existing, empty ``folder``; returns what
    :func:`functions.add_functions` wrote (signatures, traces)."""
    root = Path(folder)
    graph = build_model_graph(model)
    meta_graph = meta_graph_pb2.MetaGraphDef()
    added = functions.add_functions(
        graph, meta_graph, model, signatures=signatures, save_traces=save_traces,
        options=options,
    )
    compile_info = model.compile_info if include_optimizer else None
    if compile_info is not None and compile_info.optimizer is not None:
        state = optimizer_checkpoint_state(model, compile_info.optimizer)
        add_optimizer(graph, state.iterations, state.learning_rate, state.slots)
    keys = graph.checkpoint_keys()
    tog = graph.trackable_object_graph(keys)

    # variables/: tensors in sorted key order (as TF's MultiDeviceSaver), TOG included.
    (root / layout.VARIABLES_DIR).mkdir()
    (root / layout.ASSETS_DIR).mkdir()
    tensors: list[tuple[bytes, str, Any]] = [
        (keys[i].encode("utf-8"), keys[i], graph.nodes[i].value) for i in keys
    ]
    tog_bytes = tog.SerializeToString(deterministic=True)
    tensors.append(
        (layout.OBJECT_GRAPH_KEY.encode(), layout.OBJECT_GRAPH_KEY, string_scalar(tog_bytes))
    )
    tensors.sort(key=lambda t: t[0])
    prefix = root / layout.VARIABLES_DIR / layout.VARIABLES_PREFIX
    with open_writer(prefix, fsync=fsync, workers=workers, client=client) as bundle:
        for _, key, value in tensors:
            bundle.add(key, value)

    # saved_model.pb
    info = meta_graph.meta_info_def
    info.tags.append(layout.SERVE_TAG)
    opts = options if isinstance(options, SaveOptions) else _parse_options(options)
    info.tags.extend(t for t in (opts.extra_tags or ()) if t != layout.SERVE_TAG)
    info.tensorflow_version = layout.TENSORFLOW_VERSION
    info.tensorflow_git_version = layout.TENSORFLOW_GIT_VERSION
    info.stripped_default_attrs = True
    meta_graph.graph_def.versions.producer = layout.GRAPH_PRODUCER
    meta_graph.graph_def.versions.min_consumer = layout.GRAPH_MIN_CONSUMER
    meta_graph.object_graph_def.CopyFrom(graph.saved_object_graph())
    saved_model = saved_model_pb2.SavedModel()
    saved_model.saved_model_schema_version = layout.SAVED_MODEL_SCHEMA_VERSION
    saved_model.meta_graphs.append(meta_graph)
    saved_model_bytes = saved_model.SerializeToString(deterministic=True)
    _write(root / layout.SAVED_MODEL_FILENAME, saved_model_bytes, fsync)

    with keras3_names_kept(added.traced):
        metadata = build_saved_metadata(graph, model, compile_info)
    _write(root / layout.KERAS_METADATA_FILENAME, metadata.SerializeToString(deterministic=True),
           fsync)

    # fingerprint.pb: only logged by TF; our hashes are BLAKE2b of the same pieces TF hashes.
    index_bytes = (root / layout.VARIABLES_DIR / f"{layout.VARIABLES_PREFIX}.index").read_bytes()
    fingerprint = fingerprint_pb2.FingerprintDef()
    fingerprint.saved_model_checksum = _hash64(saved_model_bytes)
    fingerprint.graph_def_program_hash = _hash64(
        meta_graph.graph_def.SerializeToString(deterministic=True))
    fingerprint.signature_def_hash = _hash64(b"".join(
        k.encode() + v.SerializeToString(deterministic=True)
        for k, v in sorted(meta_graph.signature_def.items())))
    fingerprint.saved_object_graph_hash = _hash64(
        meta_graph.object_graph_def.SerializeToString(deterministic=True))
    fingerprint.checkpoint_hash = _hash64(index_bytes)
    fingerprint.version.producer = layout.FINGERPRINT_VERSION
    fingerprint.uuid = str(int.from_bytes(
        hashlib.blake2b(saved_model_bytes + index_bytes, digest_size=16).digest(), "little"))
    _write(root / layout.FINGERPRINT_FILENAME, fingerprint.SerializeToString(deterministic=True),
           fsync)
    subdirs = [layout.VARIABLES_DIR, layout.ASSETS_DIR]
    if opts.save_debug_info:
        (root / DEBUG_DIR).mkdir()
        debug = build_debug_info(meta_graph, model, __version__)
        _write(root / DEBUG_DIR / DEBUG_INFO_FILENAME, debug.SerializeToString(deterministic=True),
               fsync)
        subdirs.append(DEBUG_DIR)
    if fsync:
        for sub in subdirs:
            fsync_dir(root / sub)
        fsync_dir(root)
    return added


# What a SavedModel folder may hold (ours, and TF's optional extras); anything else in an existing
# target folder means it is not a SavedModel, and it is not replaced.
_SAVEDMODEL_ENTRIES = frozenset(
    {
        layout.SAVED_MODEL_FILENAME, "saved_model.pbtxt", layout.KERAS_METADATA_FILENAME,
        layout.FINGERPRINT_FILENAME, layout.VARIABLES_DIR, layout.ASSETS_DIR, "assets.extra",
        "debug",
    }
)


def _check_replaceable(target: Path) -> None:
    if not target.is_dir() or target.is_symlink():
        return
    foreign = sorted(p.name for p in target.iterdir() if p.name not in _SAVEDMODEL_ENTRIES)
    if foreign:
        raise FileExistsRefusedError(
            f"{target}: exists and holds files that are not part of a SavedModel "
            f"({foreign[:5]}); not replacing it"
        )


def save(
    model: Model,
    dirpath: str | os.PathLike[str],
    include_optimizer: bool = True,
    signatures: Any = None,
    options: Any = None,
    save_traces: bool = True,
    **ignored: Any,
) -> None:
    """Write ``model`` as a SavedModel directory tf_keras ``load_model`` restores (config,
    weights, compile information and optimizer state)."""
    if not isinstance(model, Model):
        raise ConfigError(
            f"savedmodel.save: expected a purekeras_io model, received {type(model).__name__}"
        )
    if not model.built:
        raise ConfigError(
            f"savedmodel.save: model {model.name!r} is not built (give it an input shape first)"
        )
    check_model(model, include_optimizer=include_optimizer, what=f"saving {os.fspath(dirpath)}")
    opts = _parse_options(options)
    check_options(opts, f"saving {os.fspath(dirpath)}")
    fsync = bool(ignored.pop("fsync", opts.fsync))
    workers, client = ignored.pop("workers", None), ignored.pop("client", None)
    target = Path(os.path.abspath(os.fspath(dirpath)))
    if target == target.parent or Path.cwd().is_relative_to(target):
        raise ConfigError(f"savedmodel.save: {os.fspath(dirpath)!r} does not name a new folder")
    _check_replaceable(target)
    with atomic_dir(target, fsync=fsync) as tmp:
        added = write_files(
            model, tmp, include_optimizer=include_optimizer, signatures=signatures,
            save_traces=save_traces, fsync=fsync, options=opts, workers=workers,
            client=client,
        )
    if added.not_lowered:
        functions.warn_not_lowered(added.not_lowered, stacklevel=3)
    custom = sorted({layer.class_name() for layer in model.iter_layers()
                     if needs_python(layer) and id(layer) not in added.traced})
    if custom:
        warnings.warn(
            f"SavedModel {os.fspath(dirpath)!r}: without traced functions tf_keras can revive "
            f"the layer classes {custom} only from their Python code (import or pass them as "
            "custom_objects to load_model); the .keras format needs the same",
            UserWarning,
            stacklevel=2,
        )
