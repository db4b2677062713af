"""Verifying a legacy Keras ``.h5`` file (full model or ``save_weights``) and a Keras 3
``.weights.h5``, every problem reported (``h5.md``).

=======================  =====================================================================
rule                     checked how
=======================  =====================================================================
HDF5 file                opens; variable-length string attributes read from the file's bytes,
                         bounds-checked (:mod:`.safe_attrs`); only hard links followed
``model_config``         parses as JSON and builds a model (full-model files)
``model_weights``        ``layer_names`` name groups; ``weight_names`` name numeric datasets;
                         the model's layers with weights pair one by one with the file's (as
                         both Keras loaders pair them) and each weight has the shape and dtype
                         its layer config implies
``training_config``      parses and compiles; ``optimizer_weights`` are readable and fit the
                         optimizer on the model's trainable variables
weights-only files       legacy: every listed group and dataset exists and is numeric;
                         Keras 3 (``layers/…/vars/<i>``): every ``vars`` group holds numeric
                         datasets ``0…n-1`` (without a config, shapes cannot be compared)
=======================  =====================================================================

HDF5 stores no checksum of its data (the report says so); damage to a weight's values that
keeps the structure intact cannot be detected in this format.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import h5py

from .. import optimizers
from ..model.base import Model
from ..model.layer import UnknownLayer
from ..model.serialize import model_from_config
from ..model.validate import load_json
from ..model.verify import Report, compare_weights
from . import layout as L
from .optimizer_state import restore_optimizer_state
from .reader import _cast, _child, _legacy_weights, read_dataset

__all__ = ["NOTE_H5", "verify_h5"]

NOTE_H5 = ("note: HDF5 carries no checksum of its data; structure and shapes checked, "
           "the values cannot be proven intact")


def _strip(text: str, where: str) -> str:
    return str(text).replace(f"{where}: ", "")


def _saved_layers(report: Report, file: str, group: h5py.Group
                  ) -> list[tuple[str, h5py.Group, list[str]]]:
    """``(layer name, group, weight_names)`` of every listed layer that has weights."""
    names: list[str] = []
    with report.guard(file, f"{group.name} @{L.LAYER_NAMES}"):
        names = L.read_name_list(group, L.LAYER_NAMES) or []
    saved = []
    for name in names:
        key = f"{group.name.rstrip('/')}/{name}"
        try:
            g = _child(group, name, "layer group")
        except Exception as exc:
            report.add(file, key, _strip(str(exc), L.describe(group)))
            continue
        if not isinstance(g, h5py.Group):
            report.add(file, key, "is a dataset, expected a layer group")
            continue
        wnames: list[str] = []
        with report.guard(file, f"{key} @{L.WEIGHT_NAMES}"):
            wnames = L.read_name_list(g, L.WEIGHT_NAMES, required=False) or []
        if wnames:
            saved.append((name, g, wnames))
    return saved


def _read(report: Report, file: str, g: h5py.Group, wname: str) -> Any:
    key = f"{g.name.rstrip('/')}/{wname}"
    try:
        value = read_dataset(g, wname, "weight")
    except Exception as exc:
        report.add(file, key, _strip(str(exc), L.describe(g)))
        return None
    return value


def _check_model_weights(report: Report, file: str, group: h5py.Group, model: Model) -> None:
    saved = _saved_layers(report, file, group)
    if any(isinstance(la, UnknownLayer) and not la.own_variables for la in model.layers):
        by_name: dict[str, tuple[h5py.Group, list[str]]] = {n: (g, w) for n, g, w in saved}
        pairs: list[tuple[Any, tuple[str, h5py.Group, list[str]]]] = []
        for layer in model.layers:
            entry = by_name.pop(layer.name, None)
            if entry is None:
                if _legacy_weights(layer):
                    report.add(file, f"{group.name.rstrip('/')}/{layer.name}",
                               "no weights saved for this layer")
                continue
            if isinstance(layer, UnknownLayer) and not layer.own_variables:
                report.note(f"note: layer {layer.name!r} ({layer.class_name()}) is outside the "
                            "catalog; its weights' shapes cannot be checked against its config")
                for wname in entry[1]:
                    _read(report, file, entry[0], wname)
                continue
            pairs.append((layer, (layer.name, entry[0], entry[1])))
        for name in sorted(by_name):
            report.add(file, f"{group.name.rstrip('/')}/{name}",
                       "weights saved for a layer the model lacks")
    else:
        layers = [la for la in model.layers if _legacy_weights(la)]
        if len(layers) != len(saved):
            report.add(file, f"{group.name} @{L.LAYER_NAMES}",
                       f"{len(saved)} layers with weights ({[s[0] for s in saved][:10]}), the "
                       f"model config has {len(layers)} ({[la.name for la in layers][:10]})")
            named = {s[0]: s for s in saved}
            pairs = [(la, named[la.name]) for la in layers if la.name in named]
        else:
            pairs = list(zip(layers, saved))
    for layer, (_name, g, wnames) in pairs:
        targets = _legacy_weights(layer)
        if len(targets) != len(wnames):
            report.add(file, f"{g.name} @{L.WEIGHT_NAMES}",
                       f"lists {len(wnames)} weights, layer {layer.name!r} "
                       f"({layer.class_name()}) has {len(targets)}: {[v.name for v in targets]}")
            continue
        for var, wname in zip(targets, wnames):
            value = _read(report, file, g, wname)
            if value is not None:
                compare_weights(report, file, f"{g.name.rstrip('/')}/{wname}", var,
                                _cast(value, var))


def _check_optimizer(report: Report, file: str, root: h5py.Group, model: Model) -> None:
    try:
        g = _child(root, L.OPTIMIZER_WEIGHTS, "group")
    except Exception as exc:
        report.add(file, L.OPTIMIZER_WEIGHTS, _strip(str(exc), L.describe(root)))
        return
    if not isinstance(g, h5py.Group):
        report.add(file, L.OPTIMIZER_WEIGHTS, "is not a group")
        return
    names: list[str] = []
    with report.guard(file, f"{g.name} @{L.WEIGHT_NAMES}"):
        names = L.read_name_list(g, L.WEIGHT_NAMES) or []
    arrays = [_read(report, file, g, n) for n in names]
    report.count("optimizer variables", len(arrays))
    if any(a is None for a in arrays) or model.optimizer is None or not names:
        return
    with report.guard(file, L.OPTIMIZER_WEIGHTS):
        restore_optimizer_state(model.optimizer, names, arrays, model.trainable_weights,
                                L.OPTIMIZER_WEIGHTS)


def _compile(report: Report, file: str, root: h5py.Group, model: Model) -> bool:
    training = None
    with report.guard(file, f"@{L.TRAINING_CONFIG}"):
        text = L.read_text_attr(root, L.TRAINING_CONFIG, required=False)
        if text is None:
            return False
        training = load_json(text, f"@{L.TRAINING_CONFIG}")
    if not isinstance(training, dict):
        if training is not None:
            report.add(file, f"@{L.TRAINING_CONFIG}", "is not a JSON object")
        return False
    with report.guard(file, f"@{L.TRAINING_CONFIG}"):
        opt_config: Any = training.get("optimizer_config")
        optimizer = optimizers.deserialize(opt_config, "optimizer_config")
        model.compile(optimizer=optimizer, loss=training.get("loss"),
                      metrics=training.get("metrics"),
                      loss_weights=training.get("loss_weights"),
                      weighted_metrics=training.get("weighted_metrics"))
        return True
    return False


def _full_model(report: Report, file: str, f: h5py.File) -> None:
    model = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with report.guard(file, f"@{L.MODEL_CONFIG}"):
            text = L.read_text_attr(f, L.MODEL_CONFIG, required=True)
            config = load_json(text or "", f"@{L.MODEL_CONFIG}")
            model = model_from_config(config)
    for w in caught:
        report.note(f"note: {w.message}")
    if model is None:
        return
    report.count("layers", len(model.layers))
    try:
        weights = _child(f, L.MODEL_WEIGHTS, "group")
    except Exception as exc:
        report.add(file, L.MODEL_WEIGHTS, _strip(str(exc), L.describe(f)))
        return
    if not isinstance(weights, h5py.Group):
        report.add(file, L.MODEL_WEIGHTS, "is not a group")
        return
    _check_model_weights(report, file, weights, model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if _compile(report, file, f, model) and L.OPTIMIZER_WEIGHTS in f:
            _check_optimizer(report, file, f, model)


def _legacy_weights_only(report: Report, file: str, f: h5py.File) -> None:
    for _name, g, wnames in _saved_layers(report, file, f):
        for wname in wnames:
            if _read(report, file, g, wname) is not None:
                report.count("weights")
    report.note("note: a weights-only file holds no model config; the weights' shapes "
                "cannot be checked against layer configs")


def _keras3_weights_only(report: Report, file: str, f: h5py.File) -> None:
    from ..keras_v3.reader import _vars_arrays

    limit = max(1000 * os.path.getsize(file), 1 << 20)
    paths: list[str] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Group) and name.rsplit("/", 1)[-1] == "vars":
            paths.append(name)

    with report.guard(file, ""):
        f.visititems(visit)
        if "vars" in f:
            paths.append("vars")
    for path in sorted(set(paths)):
        try:
            arrays = _vars_arrays(f, path, limit, file) or []
        except Exception as exc:
            report.add(file, path, _strip(str(exc), file))
            continue
        report.count("weights", len(arrays))
    report.note("note: a weights-only file holds no model config; the weights' shapes "
                "cannot be checked against layer configs")


def verify_h5(path: str | os.PathLike[str], report: Report) -> None:
    """Check an ``.h5`` full model, a legacy ``save_weights`` file or a Keras 3 ``.weights.h5``."""
    file = os.fspath(path)
    try:
        f = h5py.File(file, "r")
    except Exception as exc:
        report.add(file, "", f"not a readable HDF5 file ({exc})")
        return
    with f:
        try:
            ctx = L.safe_attributes(f)
            ctx.__enter__()
        except Exception as exc:
            report.add(file, "", _strip(str(exc), file))
            return
        try:
            if L.has_attr(f, L.MODEL_CONFIG):
                _full_model(report, file, f)
            elif L.has_attr(f, L.LAYER_NAMES) or L.has_attr(f, f"{L.LAYER_NAMES}0"):
                _legacy_weights_only(report, file, f)
            elif "layers" in f or "vars" in f:
                _keras3_weights_only(report, file, f)
            else:
                report.add(file, "/", "no model_config, layer_names or layers: not a Keras file")
        except Exception as exc:
            report.add(file, "", f"{type(exc).__name__}: {exc}")
        finally:
            ctx.__exit__(None, None, None)
    report.note(NOTE_H5)
