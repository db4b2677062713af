"""Read legacy Keras ``.h5`` files written by purekeras_io, tf_keras 2.x or Keras 3.

Weights are matched as both Keras loaders match them (h5.md §1, §5): the layers of the model that
have weights, in ``model.layers`` order, against the layers of ``layer_names`` whose
``weight_names`` is not empty, one by one; inside a layer, datasets in ``weight_names`` order go to
the layer's trainable then non-trainable weights. Names are never used to match, only to find the
datasets. ``training_config`` compiles the model (optimizer from its config, either dialect) and
``optimizer_weights`` (either generation's layout, or the tf_keras legacy one) sets the optimizer's
``iterations`` and slots.

Hostile input: every missing or malformed attribute, count or shape raises
:class:`~purekeras_io.errors.FormatError` naming the file and the key; soft and external links,
external-storage and virtual datasets are refused (a weight file must not point elsewhere).
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any

import h5py
import numpy as np

from .. import optimizers
from ..errors import ConfigError, FormatError, PurekerasError, reading
from ..keras_v3.lazy_member import FileSource, LazyDataset, contiguous_offset, source_for_h5
from ..model.base import Model
from ..model.config_schema import check_compile_config
from ..model.layer import UnknownLayer
from ..model.serialize import model_from_config
from ..model.validate import load_json
from ..model.variable import Variable
from . import layout as L
from .optimizer_state import restore_optimizer_state

__all__ = ["load", "load_weights", "read_dataset", "read_weights_into"]


def _child(group: h5py.Group, name: str, what: str) -> Any:
    """``group[name]`` following hard links only (``name`` may contain ``/``)."""
    node: Any = group
    for part in name.split("/"):
        if not part:
            continue
        where = L.describe(node)
        if not isinstance(node, h5py.Group):
            raise FormatError(f"{where}: {what} {name!r}: {part!r} is below a dataset")
        with L.h5_access(where, f"{what} {name!r}"):
            link = node.get(part, getlink=True)
        if link is None:
            raise FormatError(f"{where}: {what} {name!r} is missing ({part!r} does not exist)")
        if not isinstance(link, h5py.HardLink):
            raise FormatError(
                f"{where}: {what} {name!r}: {part!r} is a {type(link).__name__}; links to other "
                "objects or files are refused"
            )
        with L.h5_access(where, f"{what} {name!r}"):
            node = node[part]
    return node


def _has_child(group: h5py.Group, name: str) -> bool:
    with L.h5_access(L.describe(group), f"group {name!r}"):
        return name in group


def read_dataset(
    group: h5py.Group, name: str, what: str, source: FileSource | None = None
) -> Any:
    """One dataset as an array (no external storage, no virtual datasets, numeric only); with
    ``source`` (the file, opened for lazy reads) a contiguous dataset becomes a
    :class:`~purekeras_io.keras_v3.lazy_member.LazyDataset`, read on first use."""
    ds = _child(group, name, what)
    where = L.describe(group)
    if not isinstance(ds, h5py.Dataset):
        raise FormatError(f"{where}: {what} {name!r} is a group, expected a dataset")
    with L.h5_access(where, f"{what} {name!r}"):
        external, virtual, dtype = ds.external, ds.is_virtual, ds.dtype
    if external:
        raise FormatError(f"{where}: {what} {name!r} stores its data in external files; refused")
    if virtual:
        raise FormatError(f"{where}: {what} {name!r} is a virtual dataset; refused")
    if dtype.kind not in "biufcV":
        raise FormatError(f"{where}: {what} {name!r} has non-numeric dtype {dtype}")
    with L.h5_access(where, f"{what} {name!r}"):
        offset = contiguous_offset(ds) if source is not None else None
        shape = ds.shape
        if offset is not None and source is not None and shape and dtype.kind != "c":
            nbytes = math.prod(int(d) for d in shape) * dtype.itemsize
            if nbytes:
                return LazyDataset(source, offset, tuple(int(d) for d in shape), dtype,
                                   f"{what} {name!r} of {where}")
        return np.asarray(ds[()])


def _json_attr(group: h5py.Group, name: str, *, required: bool) -> Any:
    text = L.read_text_attr(group, name, required=required)
    if text is None:
        return None
    return load_json(text, f"{L.describe(group)}: attribute {name!r}")


def _legacy_weights(layer: Any) -> list[Variable]:
    return list(layer.trainable_weights) + list(layer.non_trainable_weights)


def _cast(value: Any, var: Variable) -> Any:
    """Opaque HDF5 data (h5py's bfloat16/float8 storage) is read as the variable's dtype."""
    if value.dtype.kind == "V" and value.dtype.itemsize == var.dtype.itemsize:
        return value.view(var.dtype)
    return value


def read_weights_into(
    group: h5py.Group, model: Model, source: FileSource | None = None
) -> None:
    """Set ``model``'s weights from a ``model_weights``-style group (by order and shape);
    ``source``: contiguous datasets are left in the file, read on first use."""
    where = L.describe(group)
    layer_names = L.read_name_list(group, L.LAYER_NAMES) or []
    if not L.has_attr(group, L.KERAS_VERSION):
        warnings.warn(
            f"{where}: no 'keras_version' attribute (a Keras 1 file?); tf_keras would convert "
            "some kernels, purekeras_io loads them as stored",
            stacklevel=3,
        )
    saved: list[tuple[str, h5py.Group, list[str]]] = []
    for name in layer_names:
        g = _child(group, name, "layer group")
        if not isinstance(g, h5py.Group):
            raise FormatError(f"{where}: layer {name!r} is a dataset, expected a group")
        names = L.read_name_list(g, L.WEIGHT_NAMES, required=False) or []
        if names:
            saved.append((name, g, names))
    if any(_unbuilt_unknown(la) for la in model.layers):
        _read_by_name(model, saved, where, source)
        return
    layers = [la for la in model.layers if _legacy_weights(la)]
    if len(layers) != len(saved):
        raise FormatError(
            f"{where}: layer count mismatch: the model has {len(layers)} layers with weights "
            f"({[la.name for la in layers][:10]}), the file has {len(saved)} "
            f"({[s[0] for s in saved][:10]}) ('{L.LAYER_NAMES}'/'{L.WEIGHT_NAMES}')"
        )
    for layer, (name, g, names) in zip(layers, saved):
        targets = _legacy_weights(layer)
        if len(targets) != len(names):
            raise FormatError(
                f"{L.describe(g)}: layer {layer.name!r} has {len(targets)} weights, the file lists "
                f"{len(names)} in '{L.WEIGHT_NAMES}' of {name!r}"
            )
        values = []
        for var, wname in zip(targets, names):
            value = _cast(read_dataset(g, wname, "weight", source), var)
            if value.shape != var.shape:
                raise FormatError(
                    f"{L.describe(g)}: weight {wname!r} has shape {value.shape}, layer "
                    f"{layer.name!r} expects {var.shape} for {var.name!r}"
                )
            values.append(value)
        for var, value in zip(targets, values):
            var.assign(value)


def _unbuilt_unknown(layer: Any) -> bool:
    return isinstance(layer, UnknownLayer) and not layer.own_variables


def _read_group(g: h5py.Group, names: list[str], source: FileSource | None) -> list[Any]:
    return [read_dataset(g, n, "weight", source) for n in names]


def _read_by_name(
    model: Model,
    saved: list[tuple[str, h5py.Group, list[str]]],
    where: str,
    source: FileSource | None = None,
) -> None:
    """Layers outside the catalog do not know their weights before they get them: pair the
    model's layers with the file's by name, and give unknown layers the arrays as stored."""
    by_name = {name: (g, names) for name, g, names in saved}
    for layer in model.layers:
        entry = by_name.pop(layer.name, None)
        targets = _legacy_weights(layer)
        if entry is None:
            if targets:
                raise FormatError(f"{where}: no weights saved for layer {layer.name!r}")
            continue
        g, names = entry
        if _unbuilt_unknown(layer):
            layer.set_weights(_read_group(g, names, source))
            continue
        if len(targets) != len(names):
            raise FormatError(
                f"{L.describe(g)}: layer {layer.name!r} has {len(targets)} weights, the file lists "
                f"{len(names)} in '{L.WEIGHT_NAMES}'"
            )
        for var, wname, value in zip(targets, names, _read_group(g, names, source)):
            value = _cast(value, var)
            if value.shape != var.shape:
                raise FormatError(
                    f"{L.describe(g)}: weight {wname!r} has shape {value.shape}, layer "
                    f"{layer.name!r} expects {var.shape} for {var.name!r}"
                )
            var.assign(value)
    if by_name:
        raise FormatError(f"{where}: weights saved for layers the model lacks: {sorted(by_name)}")


def _compile_from(model: Model, training: Any, where: str) -> bool:
    if not isinstance(training, dict):
        raise FormatError(f"{where}: attribute {L.TRAINING_CONFIG!r} must be a JSON object")
    for key in ("optimizer_config", "loss_weights"):
        if key not in training:
            raise FormatError(f"{where}: {L.TRAINING_CONFIG!r} has no {key!r} key")
    try:
        check_compile_config(training, "")
    except ConfigError as exc:
        raise FormatError(f"{where}: {L.TRAINING_CONFIG!r}: {exc}") from None
    opt_config = training["optimizer_config"]
    if not isinstance(opt_config, dict) or "class_name" not in opt_config:
        raise FormatError(
            f"{where}: {L.TRAINING_CONFIG!r} optimizer_config must be an object with 'class_name'"
        )
    try:
        optimizer = optimizers.deserialize(opt_config, "optimizer_config")
    except PurekerasError as exc:
        warnings.warn(
            f"{where}: the model is loaded uncompiled: its optimizer cannot be used ({exc})",
            stacklevel=4,
        )
        return False
    model.compile(
        optimizer=optimizer,
        loss=training.get("loss"),
        metrics=training.get("metrics"),
        loss_weights=training.get("loss_weights"),
        weighted_metrics=training.get("weighted_metrics"),
        run_eagerly=bool(training.get("run_eagerly", False)),
        steps_per_execution=int(training.get("steps_per_execution", 1) or 1),
        jit_compile=bool(training.get("jit_compile", False)),
    )
    return True


def _read_optimizer(root: h5py.Group, model: Model, source: FileSource | None = None) -> None:
    g = _child(root, L.OPTIMIZER_WEIGHTS, "group")
    if not isinstance(g, h5py.Group):
        raise FormatError(f"{L.describe(root)}: {L.OPTIMIZER_WEIGHTS!r} is not a group")
    names = L.read_name_list(g, L.WEIGHT_NAMES) or []
    arrays = [read_dataset(g, n, "optimizer weight", source) for n in names]
    opt = model.optimizer
    if opt is None or not names:
        return
    restore_optimizer_state(opt, names, arrays, model.trainable_weights, L.describe(g))


def read_model(root: h5py.Group, source: FileSource | None = None) -> Model:
    """A model (weights set, compiled and optimizer state restored when saved) from a group
    (``source``: weights read on first use, see :func:`read_dataset`)."""
    where = L.describe(root)
    config = _json_attr(root, L.MODEL_CONFIG, required=True)
    if not isinstance(config, dict) or "class_name" not in config:
        raise FormatError(f"{where}: {L.MODEL_CONFIG!r} must be a JSON object with 'class_name'")
    try:
        model = model_from_config(config)
    except ConfigError as exc:
        raise FormatError(f"{where}: {L.MODEL_CONFIG!r}: {exc}") from None
    weights = _child(root, L.MODEL_WEIGHTS, "group")
    if not isinstance(weights, h5py.Group):
        raise FormatError(f"{where}: {L.MODEL_WEIGHTS!r} is not a group")
    read_weights_into(weights, model, source)
    training = _json_attr(root, L.TRAINING_CONFIG, required=False)
    if training is None:
        return model
    if _compile_from(model, training, where) and _has_child(root, L.OPTIMIZER_WEIGHTS):
        _read_optimizer(root, model, source)
    return model


def _open(filepath: Any) -> h5py.File:
    path = os.fspath(filepath)
    try:
        return h5py.File(path, "r")
    except FileNotFoundError:
        raise FormatError(f"{path}: no such file") from None
    except OSError as exc:
        raise FormatError(f"{path}: not a readable HDF5 file ({exc})") from None


def load(filepath: Any, lazy: bool = True, **ignored: Any) -> Model:
    """Read a full-model ``.h5`` (path or open ``h5py.File``/``h5py.Group``); ``lazy`` (a path):
    contiguous weights are read on first use (:mod:`purekeras_io.keras_v3.lazy_member`)."""
    with reading(_where(filepath)):
        if isinstance(filepath, h5py.Group):
            with L.safe_attributes(filepath.file):
                return read_model(filepath)
        with _open(filepath) as f, L.safe_attributes(f):
            return read_model(f, source_for_h5(filepath, f) if lazy else None)


def load_weights(model: Model, filepath: Any, lazy: bool = True, **ignored: Any) -> None:
    """Weights from a ``save_weights`` file, or from the ``model_weights`` of a full-model file
    (``lazy`` as in :func:`load`)."""

    def read(root: h5py.Group, source: FileSource | None = None) -> None:
        if not L.has_attr(root, L.LAYER_NAMES) and not L.has_attr(root, f"{L.LAYER_NAMES}0"):
            if _has_child(root, L.MODEL_WEIGHTS):
                root = _child(root, L.MODEL_WEIGHTS, "group")
        read_weights_into(root, model, source)

    with reading(_where(filepath)):
        if isinstance(filepath, h5py.Group):
            with L.safe_attributes(filepath.file):
                read(filepath)
            return
        with _open(filepath) as f, L.safe_attributes(f):
            read(f, source_for_h5(filepath, f) if lazy else None)


def _where(filepath: Any) -> str:
    if isinstance(filepath, h5py.Group):
        return f"{filepath.file.filename}:{filepath.name}"
    return os.fspath(filepath)
