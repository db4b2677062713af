"""Write legacy Keras ``.h5`` files (full model and weights only) for tf_keras 2.x and/or Keras 3.

Targets (h5.md §7, §9, §12, §13):

``"both"`` (default)
    tf_keras 2.21 conventions, limited to what Keras 3.15.1 also accepts: keras2 config dialect
    (per-layer keys Keras 3 refuses are left out by the layer catalog), ``/`` in layer names
    replaced by ``_`` (Keras 3 refuses it), nested Sequential models written without their
    InputLayer (tf_keras numbers a nested Sequential-with-input's calls from 1, Keras 3 from 0;
    without the InputLayer both number from 0), per-layer keys Keras 3 refuses dropped
    (``groups`` of depthwise/separable/transposed convolutions, a one-element BatchNormalization
    ``axis`` list written as an int), metrics as plain strings (tf_keras' ``MeanMetricWrapper``
    configs break Keras 3 ``fit``), loss aliases Keras 3 cannot read back (``mse`` →
    ``mean_squared_error``…), tf_keras' ``Custom>X`` optimizer config, and **no**
    ``optimizer_weights`` (Keras 3.15.1 cannot restore them and cannot ``fit`` a model loaded with
    them until recompiled). MultiHeadAttention has no config both accept: refused with
    :class:`~purekeras_io.errors.TargetCompatibilityError`.
``"keras2"``
    What tf_keras writes, optimizer state included (tf_keras restores ``iterations`` and every
    slot). Keras 3 loads it, drops the state and must recompile before ``fit``; it refuses the file
    if a layer name has ``/`` or a nested Sequential has an input shape.
``"keras3"``
    What Keras 3 writes (keras3 dialect, Keras 3 weight and optimizer names, the learning rate in
    the optimizer list). Only Keras 3 reads it.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from typing import Any

import h5py
import numpy as np

from .._io import atomic_path
from ..errors import ConfigError, TargetCompatibilityError, UnsupportedDtypeError
from ..keras_v3 import zipstream
from ..lazy import is_lazy, iter_row_blocks, unwrap
from ..model.base import CompileInfo, Model
from ..model.layer import Layer
from ..model.naming import renamed_layers
from ..model.preflight import check_model
from ..model.sequential import Sequential
from ..model.serialize import serialize_model
from ..model.variable import Variable
from . import layout as L
from .optimizer_state import optimizer_entries

__all__ = ["TARGET_NOTES", "save", "save_weights", "write_model", "write_weights"]

TARGET_NOTES = {
    "both": (
        "target='both' (default): one .h5 for tf_keras 2.x and Keras 3. tf_keras gets the "
        "architecture, the weights and a compiled model with the saved optimizer "
        "hyperparameters; Keras 3 gets the architecture, the weights, loss and metrics, and an "
        "optimizer of the same class with Keras 3 default hyperparameters (it cannot read "
        "tf_keras' 'Custom>X' optimizer config). The optimizer state (iterations, slots) is "
        "not written: Keras 3.15.1 cannot restore it from .h5 and cannot fit a model loaded "
        "with it until recompiled. Use target='keras2' to keep the state for tf_keras, "
        "target='keras3' for a Keras 3-only file."
    ),
    "keras2": (
        "target='keras2': tf_keras 2.x restores the model, its compile settings and the optimizer "
        "state (iterations and slots). Keras 3.15.1 treats it as a tf_keras file: it refuses "
        "models with '/' in layer names, depthwise/separable/transposed convolutions, "
        "MultiHeadAttention or a nested Sequential with an input shape; otherwise it loads the "
        "weights but not the optimizer state, and must recompile before fit (h5.md §9, §13)."
    ),
    "keras3": (
        "target='keras3': only Keras 3 loads this file (tf_keras refuses 'batch_shape' and "
        "DTypePolicy configs). Keras 3.15.1 restores iterations and learning rate but no slots "
        "from .h5, and must recompile before fit."
    ),
}


def _dialect(target: str) -> str:
    return "keras3" if target == "keras3" else "keras2"


# ============================================================================ names


def weight_names(model: Model, dialect: str) -> dict[int, str]:
    """``id(variable)`` → the name Keras gives it in ``weight_names`` (h5.md §5).

    keras2 uses ``var.name``: ``<layer>/<sub-layer>/…/<weight>:0``, and the layers of a nested
    model carry no outer prefix. keras3 uses ``var.path`` without ``:0``: a nested model's name
    prefixes its layers, and a top-level Sequential prefixes everything with its own name.
    """
    names: dict[int, str] = {}
    suffix = ":0" if dialect == "keras2" else ""

    def walk(layer: Layer, prefix: str) -> None:
        if isinstance(layer, Model):
            inner = "" if dialect == "keras2" else f"{prefix}{layer.name}/"
            for sub in layer.layers:
                walk(sub, inner)
            return
        for var in layer.own_variables:
            names.setdefault(id(var), f"{prefix}{layer.name}/{var.name}{suffix}")
        for sub in layer.sublayers().values():
            walk(sub, f"{prefix}{layer.name}/")

    top = f"{model.name}/" if dialect == "keras3" and isinstance(model, Sequential) else ""
    for layer in model.layers:
        walk(layer, top)
    return names


def _legacy_weights(layer: Layer) -> list[Variable]:
    """The order both loaders assign a layer's weights in: trainable, then non-trainable."""
    return list(layer.trainable_weights) + list(layer.non_trainable_weights)


# ============================================================================ datasets


def _write_dataset(group: h5py.Group, name: str, value: Any, what: str) -> str:
    """Write one array straight into a new contiguous dataset; a clashing name gets ``_<n>``.

    A lazy array (:mod:`purekeras_io.lazy`) is written slab by slab (``iter_row_blocks``) into a
    dataset created with its shape and dtype: one slab in memory, the same file bytes."""
    value = unwrap(value)
    lazy = is_lazy(value) and not isinstance(value, np.ndarray)
    arr = value if lazy else np.asarray(value)
    final, i = name, 1
    while _exists(group, final):
        stem, colon, tail = name.partition(":")
        final = f"{stem}_{i}{colon}{tail}"
        i += 1
    dtype = np.dtype(arr.dtype)
    try:
        if not lazy:
            group.create_dataset(final, data=arr, track_times=False)
            return final
        shape = tuple(int(d) for d in arr.shape)
        ds = group.create_dataset(final, shape=shape, dtype=dtype, track_times=False)
    except TypeError as exc:
        raise UnsupportedDtypeError(
            f"{what}: HDF5 (h5py) cannot store dtype {dtype} ({exc})"
        ) from None
    if not shape:
        ds[()] = next(iter_row_blocks(arr))
        return final
    row = 0
    for block in iter_row_blocks(arr, zipstream.STREAM_BLOCK_BYTES):
        if block.shape[1:] != shape[1:] or row + block.shape[0] > shape[0]:
            raise ConfigError(
                f"{what}: a lazy array of shape {shape} gave a slab of shape {block.shape} at "
                f"row {row} ({type(arr).__name__} slices disagree with its shape)"
            )
        ds[row : row + block.shape[0]] = block
        row += block.shape[0]
    if row != shape[0]:
        raise ConfigError(f"{what}: a lazy array of shape {shape} gave {row} rows")
    return final


def _exists(group: h5py.Group, path: str) -> bool:
    parts = path.split("/")
    node: Any = group
    for depth, part in enumerate(parts):
        if not part:
            continue
        if not isinstance(node, h5py.Group) or part not in node:
            return False
        node = node[part]
        if isinstance(node, h5py.Dataset) and depth < len(parts) - 1:
            return True
    return True


def _clear(group: h5py.Group, keys: tuple[str, ...], attrs: tuple[str, ...]) -> None:
    """Writing into an existing file or group replaces what an earlier save put there."""
    for key in keys:
        if key in group:
            del group[key]
    for attr in attrs:
        L.delete_name_list(group, attr)


# ============================================================================ model weights


def write_weights(group: h5py.Group, model: Model, dialect: str, version: str) -> None:
    """``layer_names``, ``backend``, ``keras_version`` and one group per layer (h5.md §5)."""
    layers = model.layers
    layer_names = [la.name for la in layers]
    dup = sorted(n for n, c in Counter(layer_names).items() if c > 1)
    if dup:
        raise TargetCompatibilityError(f"model {model.name!r}: duplicate layer names {dup}")
    names = weight_names(model, dialect)
    L.write_name_list(group, L.LAYER_NAMES, layer_names)
    L.write_ascii_attr(group, L.BACKEND, "tensorflow")
    L.write_ascii_attr(group, L.KERAS_VERSION, version)
    for layer in layers:
        g = group.create_group(layer.name)
        written = []
        for var in _legacy_weights(layer):
            suffix = ":0" if dialect == "keras2" else ""
            name = names.get(id(var), f"{layer.name}/{var.name}{suffix}")
            what = f"layer {layer.name!r} weight {name!r}"
            written.append(_write_dataset(g, name, var.array_like(), what))
        L.write_name_list(g, L.WEIGHT_NAMES, written)


def _write_optimizer(root: h5py.Group, model: Model, dialect: str) -> None:
    opt = model.optimizer
    if opt is None:
        return
    names = weight_names(model, dialect)
    trainable = model.trainable_weights
    var_names = [names.get(id(v), v.path or v.name).removesuffix(":0") for v in trainable]
    entries = optimizer_entries(opt, trainable, var_names, dialect)  # type: ignore[arg-type]
    if not entries:
        return
    g = root.create_group(L.OPTIMIZER_WEIGHTS)
    written = [_write_dataset(g, n, value, f"optimizer weight {n!r}") for n, value in entries]
    L.write_name_list(g, L.WEIGHT_NAMES, written)


# ============================================================================ configs


# Per-layer keys the tf_keras (keras2) rendering writes and Keras 3.15.1 refuses, with the value
# they may have to be dropped (``...`` = any value). The layer catalog renders keras2 as tf_keras
# writes it; the "both" target drops these (measured: tf_keras loads every config without them).
_BOTH_DROP: dict[str, dict[str, Any]] = {
    "Conv1DTranspose": {"groups": 1},
    "Conv2DTranspose": {"groups": 1},
    "Conv3DTranspose": {"groups": 1},
    "DepthwiseConv1D": {"groups": 1},
    "DepthwiseConv2D": {"groups": 1},
    "SeparableConv1D": {"groups": 1, "kernel_initializer": ..., "kernel_regularizer": ...,
                        "kernel_constraint": ...},
    "SeparableConv2D": {"groups": 1, "kernel_initializer": ..., "kernel_regularizer": ...,
                        "kernel_constraint": ...},
    "LSTM": {"time_major": False},
    "GRU": {"time_major": False},
}
# Layers with no config both loaders accept: tf_keras' MultiHeadAttention.from_config requires
# query_shape/key_shape/value_shape keys (KeyError without them), Keras 3 refuses them.
_NO_BOTH_FORM = {
    "MultiHeadAttention": "tf_keras requires the keys query_shape/key_shape/value_shape in its "
    "config (KeyError without them) and Keras 3 refuses them",
}
# Loss names Keras 3.15.1's .h5 loader cannot deserialize (they resolve to keras.metrics
# functions), even in files Keras 3 wrote itself; both loaders accept the long names.
LOSS_NAMES = {
    "mse": "mean_squared_error",
    "mae": "mean_absolute_error",
    "msle": "mean_squared_logarithmic_error",
    "mape": "mean_absolute_percentage_error",
    "kld": "kl_divergence",
    "logcosh": "log_cosh",
    "huber_loss": "huber",
}


def _model_config(model: Model, target: str) -> dict[str, Any]:
    dialect = _dialect(target)
    full = serialize_model(model, dialect)  # type: ignore[arg-type]
    config = {"class_name": full["class_name"], "config": full["config"]}
    _legacy_entries(config)
    if target == "both":
        _both_compatible(config)
        _both_layer_keys(config, model.name)
    return config


_MODEL_CLASSES = ("Sequential", "Functional", "Model")
_NON_LEGACY_ENTRY_KEYS = ("module", "registered_name", "build_config")


def _legacy_entries(entry: dict[str, Any]) -> None:
    """The entries of a model's ``layers`` list as both generations write them in ``.h5``:
    ``class_name``, ``config`` (+ ``name``, ``inbound_nodes`` in Functional models), without
    ``module``, ``registered_name`` and ``build_config`` (Keras 3 would call ``build`` with the
    ``build_config`` of a tf_keras config, e.g. a BatchNormalization axis ``[3]``, and fail).
    Layers nested inside a layer config (a Bidirectional's ``layer``) keep them, as Keras does.
    """
    conf = entry.get("config")
    if entry.get("class_name") not in _MODEL_CLASSES or not isinstance(conf, dict):
        return
    for sub in conf.get("layers") or []:
        if isinstance(sub, dict):
            registered = sub.get("registered_name")
            if isinstance(registered, str) and ">" in registered:
                # tf_keras' legacy serialization names a registered class by its registered
                # name (``Custom>CustomScaleLayer``); the plain class name does not resolve.
                sub["class_name"] = registered
            for key in _NON_LEGACY_ENTRY_KEYS:
                sub.pop(key, None)
            _legacy_entries(sub)


def _both_layer_keys(value: Any, model_name: str) -> None:
    """Drop per-layer keys Keras 3 refuses (``_BOTH_DROP``); a single BatchNormalization axis
    becomes an int (tf_keras writes ``[3]``, Keras 3 needs ``3``); refuse ``_NO_BOTH_FORM``."""
    if isinstance(value, list):
        for v in value:
            _both_layer_keys(v, model_name)
        return
    if not isinstance(value, dict):
        return
    cls, conf = value.get("class_name"), value.get("config")
    if isinstance(cls, str) and isinstance(conf, dict):
        if cls in _NO_BOTH_FORM:
            raise TargetCompatibilityError(
                f"model {model_name!r}: {cls} {conf.get('name')!r} has no .h5 config that both "
                f"tf_keras and Keras 3 load ({_NO_BOTH_FORM[cls]}); save with target='keras2' "
                "(tf_keras) or target='keras3' (Keras 3), or as .keras"
            )
        for key, allowed in _BOTH_DROP.get(cls, {}).items():
            if key in conf and (allowed is ... or conf[key] == allowed):
                del conf[key]
        if cls == "BatchNormalization":
            axis = conf.get("axis")
            if isinstance(axis, list) and len(axis) == 1:
                conf["axis"] = axis[0]
            elif isinstance(axis, list):
                raise TargetCompatibilityError(
                    f"model {model_name!r}: BatchNormalization {conf.get('name')!r} normalizes "
                    f"over axes {axis}; Keras 3 takes one int axis; save with target='keras2'"
                )
    for v in value.values():
        _both_layer_keys(v, model_name)


def _loss_names(value: Any) -> Any:
    if isinstance(value, str):
        return LOSS_NAMES.get(value, value)
    if isinstance(value, dict) and "class_name" not in value:
        return {k: _loss_names(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_loss_names(v) for v in value]
    return value


def _both_compatible(entry: dict[str, Any]) -> None:
    """Rewrite nested Sequential models so tf_keras and Keras 3 number their calls alike.

    tf_keras counts a nested Sequential-with-input's construction call as node 0 (the first real
    call is node 1); Keras 3 does not (its first call is node 0) and refuses index 1. Without an
    InputLayer (and without ``batch_input_shape`` on its first layer) the Sequential is built when
    called, and both count from 0.
    """
    cls = entry.get("class_name")
    conf = entry.get("config")
    if not isinstance(conf, dict):
        return
    if cls == "Sequential":
        for sub in conf.get("layers", []):
            _both_compatible(sub)
        return
    if cls not in ("Functional", "Model"):
        return
    shifted: set[str] = set()
    for sub in conf.get("layers", []):
        if sub.get("class_name") == "Sequential":
            inner = sub.get("config", {}).get("layers", [])
            if inner and inner[0].get("class_name") == "InputLayer":
                inner.pop(0)
                if inner:
                    inner[0].get("config", {}).pop("batch_input_shape", None)
                sub.get("config", {}).pop("build_input_shape", None)
                sub.pop("build_config", None)
                shifted.add(sub.get("name") or sub["config"].get("name"))
        _both_compatible(sub)
    if not shifted:
        return

    def fix(value: Any) -> Any:
        if (
            isinstance(value, list)
            and len(value) in (3, 4)
            and isinstance(value[0], str)
            and value[0] in shifted
            and isinstance(value[1], int)
            and isinstance(value[2], int)
        ):
            return [value[0], value[1] - 1, *[fix(v) for v in value[2:]]]
        if isinstance(value, list):
            return [fix(v) for v in value]
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        return value

    for sub in conf.get("layers", []):
        sub["inbound_nodes"] = fix(sub.get("inbound_nodes", []))
    conf["input_layers"] = fix(conf.get("input_layers", []))
    conf["output_layers"] = fix(conf.get("output_layers", []))


def _plain_metrics(value: Any) -> Any:
    """tf_keras' ``MeanMetricWrapper`` configs → their names (Keras 3 ``fit`` needs strings)."""
    if isinstance(value, dict):
        if value.get("class_name") == "MeanMetricWrapper" and isinstance(value.get("config"), dict):
            return value["config"].get("name")
        if "class_name" in value:
            return value
        return {k: _plain_metrics(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_metrics(v) for v in value]
    return value


def _training_config(info: CompileInfo, target: str) -> dict[str, Any]:
    opt = info.optimizer
    assert opt is not None
    loss = _loss_names(info.loss) if target != "keras2" else info.loss
    metrics, weighted = info.metrics, info.weighted_metrics
    if target != "keras3":
        if target == "both":
            metrics, weighted = _plain_metrics(metrics), _plain_metrics(weighted)
        return {
            "loss": loss,
            "metrics": metrics,
            "weighted_metrics": weighted,
            "loss_weights": info.loss_weights,
            "optimizer_config": opt.serialize("keras2"),
        }
    serialized = opt.serialize("keras3")
    return {
        "loss": loss,
        "loss_weights": info.loss_weights,
        "metrics": metrics,
        "weighted_metrics": weighted,
        "run_eagerly": info.run_eagerly,
        "steps_per_execution": info.steps_per_execution,
        "jit_compile": info.jit_compile,
        "optimizer_config": {
            "class_name": serialized["class_name"],
            "config": serialized["config"],
        },
    }


def _dumps(value: Any, what: str) -> str:
    try:
        return json.dumps(value, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what} is not JSON serializable: {exc}") from None


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} {value!r:.80}")


# ============================================================================ entry points


def write_model(
    root: h5py.Group, model: Model, *, include_optimizer: bool = True, target: str = "both"
) -> None:
    """Write a full model into an open file or group (replacing an earlier save there)."""
    if target not in L.TARGETS:
        raise ConfigError(f"keras_h5.save: target must be one of {L.TARGETS}, received {target!r}")
    if not isinstance(model, Model):
        raise ConfigError(
            f"keras_h5.save: expected a purekeras_io model, received {type(model).__name__}"
        )
    dialect = _dialect(target)
    version = L.KERAS_VERSIONS[target]
    _clear(
        root,
        (L.MODEL_WEIGHTS, L.OPTIMIZER_WEIGHTS),
        (L.MODEL_CONFIG, L.TRAINING_CONFIG, L.KERAS_VERSION, L.BACKEND),
    )
    info = model.compile_info
    compiled = include_optimizer and info is not None and info.optimizer is not None
    with renamed_layers(model, target, "the .h5 file"):
        config_text = _dumps(_model_config(model, target), "model config")
        training_text = (
            _dumps(_training_config(info, target), "training config") if compiled and info else None
        )
        L.write_utf8_attr(root, L.KERAS_VERSION, version)
        L.write_utf8_attr(root, L.BACKEND, "tensorflow")
        L.write_ascii_attr(root, L.MODEL_CONFIG, config_text)
        if training_text is not None:
            L.write_ascii_attr(root, L.TRAINING_CONFIG, training_text)
        mw = root.create_group(L.MODEL_WEIGHTS)
        write_weights(mw, model, dialect, version)
        top = mw.create_group(L.TOP_LEVEL_MODEL_WEIGHTS)
        L.write_name_list(top, L.WEIGHT_NAMES, [])
        if compiled and target != "both":
            _write_optimizer(root, model, dialect)
    if compiled:
        warnings.warn(TARGET_NOTES[target], stacklevel=2)


def _describe(filepath: Any) -> str:
    if isinstance(filepath, h5py.Group):
        return L.describe(filepath)
    return str(filepath)


def _atomic(filepath: Any, fill: Any, fsync: bool = False) -> None:
    """Write a new file next to ``filepath`` and move it over the target when complete;
    ``fsync``: the file (after HDF5 closed it) and then the folder entry are flushed to disk."""
    with atomic_path(filepath, fsync=fsync, what="an .h5 save") as tmp:
        with h5py.File(tmp, "w-") as f:
            fill(f)


def save(
    model: Model,
    filepath: Any,
    include_optimizer: bool = True,
    target: str | None = None,
    *,
    fsync: bool = False,
    **ignored: Any,
) -> None:
    """Save ``model`` as a legacy Keras ``.h5`` file (``fsync=True``: flushed to disk before the
    rename, and the rename after it).

    ``filepath`` is a path (written atomically: a temporary file in the same folder, renamed over
    the target) or an open ``h5py.File``/``h5py.Group`` (written into, replacing an earlier save).
    ``include_optimizer=False`` leaves out ``training_config`` and ``optimizer_weights`` (the model
    loads uncompiled, as with Keras). What each Keras generation gets per ``target`` is below (and
    is emitted as a warning when the model is compiled).

    ``target=None`` (the default) means ``"both"`` when the model has a form both generations
    load; a model that has none (MultiHeadAttention, BatchNormalization over several axes) is
    written for tf_keras (``"keras2"``) with a warning that sends Keras 3 users to ``.keras``.
    An explicit target raises instead, as does a model tf_keras cannot express at all.
    """
    check_model(model, include_optimizer=include_optimizer, what=f"saving {_describe(filepath)}")

    def write(chosen: str) -> None:
        def fill(root: h5py.Group) -> None:
            write_model(root, model, include_optimizer=include_optimizer, target=chosen)

        if isinstance(filepath, h5py.Group):
            fill(filepath)
        else:
            _atomic(filepath, fill, fsync)

    if target is not None:
        write(target)
        return
    refused: list[str] = []
    for candidate in ("both", "keras2"):
        try:
            write(candidate)
        except TargetCompatibilityError as exc:
            refused.append(f"{candidate}: {exc}")
            continue
        if refused:
            warnings.warn(
                f"no .h5 form both Keras generations load ({refused[0]}); wrote the file with "
                f"target={candidate!r} (tf_keras 2.x); for Keras 3, save as .keras",
                UserWarning,
                stacklevel=3,
            )
        return
    raise TargetCompatibilityError(
        f"model {model.name!r} has no .h5 form for tf_keras: " + "; ".join(refused)
        + "; save with target='keras3' or as .keras"
    )


save.__doc__ = (save.__doc__ or "") + "\n" + "\n\n".join(
    "    " + note for note in TARGET_NOTES.values()
)


def save_weights(model: Model, filepath: Any, target: str = "both", *, fsync: bool = False,
                 **ignored: Any) -> None:
    """Weights only, as ``model.save_weights('x.h5')``: the ``model_weights`` layout at the root."""
    if target not in L.TARGETS:
        raise ConfigError(
            f"keras_h5.save_weights: target must be one of {L.TARGETS}, received {target!r}"
        )
    check_model(model, include_optimizer=False, what=f"saving {_describe(filepath)}")

    def fill(root: h5py.Group) -> None:
        attrs = (L.LAYER_NAMES, L.KERAS_VERSION, L.BACKEND)
        _clear(root, tuple(la.name for la in model.layers), attrs)
        with renamed_layers(model, target, "the .h5 file"):
            write_weights(root, model, _dialect(target), L.KERAS_VERSIONS[target])

    if isinstance(filepath, h5py.Group):
        fill(filepath)
        return
    _atomic(filepath, fill, fsync)
