"""Write a model as a ``.keras`` archive (layout in :mod:`.layout`, container in :mod:`.zipstream`).

``target="keras3"`` (default) writes what Keras 3.15.1 writes: the Keras 3 config dialect, ``name``
attributes, optimizer ``[iteration, learning_rate, slots…]``. ``target="keras2"`` writes the
tf_keras 2.x flavour (its config dialect, no ``name`` attributes, ``[iteration, slots…]``). The two
are not interchangeable: each loader refuses the other's config (keras_v3.md §6).

Output is deterministic: fixed zip timestamps, ``date_saved`` fixed unless given, no
``shared_object_id``, HDF5 without times. A path target is written atomically (a temporary file
beside it, renamed over it when complete): a failed save never destroys an existing file.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from .._io import atomic_file
from ..errors import ConfigError
from ..lazy import unwrap
from ..model.base import CompileInfo, Model
from ..model.dialect import check_dialect
from ..model.naming import renamed_layers
from ..model.preflight import check_model
from ..model.sequential import Sequential
from ..model.serialize import model_config, serialize_model
from .h5image import H5Group, build_h5_image
from .layout import (
    CONFIG_MEMBER,
    DATE_FORMAT,
    DEFAULT_DATE,
    KERAS_VERSIONS,
    METADATA_MEMBER,
    WEIGHTS_MEMBER,
    layer_groups,
)
from .optimizer_state import optimizer_arrays
from .zipstream import Member, write_parts, write_zip

__all__ = [
    "build_members",
    "compile_config",
    "model_json",
    "save",
    "save_weights",
    "weights_groups",
]

_OBJECT_MODULES = {
    "loss": "keras.losses",
    "metrics": "keras.metrics",
    "weighted_metrics": "keras.metrics",
}


def _with_module(value: Any, module: str) -> Any:
    """A serialized object in a compile setting gets ``module``/``registered_name`` (Keras 3)."""
    if isinstance(value, dict) and "class_name" in value and "config" in value:
        return {
            "module": value.get("module", module),
            "class_name": value["class_name"],
            "config": value["config"],
            "registered_name": value.get("registered_name"),
        }
    if isinstance(value, dict):
        return {k: _with_module(v, module) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_with_module(v, module) for v in value]
    return value


def compile_config(info: CompileInfo | None, target: str) -> dict[str, Any]:
    """``compile_config`` as that Keras generation writes it (``{}`` when not compiled)."""
    if info is None or info.optimizer is None:
        return {}
    opt = info.optimizer.serialize(target)  # type: ignore[arg-type]
    opt = {
        "module": "keras.optimizers",
        "class_name": str(opt["class_name"]).split(">")[-1],
        "config": opt["config"],
        "registered_name": None,
    }
    if target == "keras3":
        out = {
            "optimizer": opt,
            "loss": _with_module(info.loss, _OBJECT_MODULES["loss"]),
            "loss_weights": info.loss_weights,
            "metrics": _with_module(info.metrics, _OBJECT_MODULES["metrics"]),
            "weighted_metrics": _with_module(info.weighted_metrics, _OBJECT_MODULES["metrics"]),
            "run_eagerly": bool(info.run_eagerly),
            "steps_per_execution": int(info.steps_per_execution),
            "jit_compile": bool(info.jit_compile),
        }
    else:
        out = {
            "optimizer": opt,
            "loss": _with_module(info.loss, _OBJECT_MODULES["loss"]),
            "metrics": _with_module(info.metrics, _OBJECT_MODULES["metrics"]),
            "loss_weights": info.loss_weights,
            "weighted_metrics": _with_module(info.weighted_metrics, _OBJECT_MODULES["metrics"]),
            "run_eagerly": None,
            "steps_per_execution": None,
            "jit_compile": None,
        }
    return out


def model_json(model: Model, target: str, include_optimizer: bool = True) -> dict[str, Any]:
    """The ``config.json`` object for ``target``."""
    if target == "keras3":
        entry = serialize_model(model, "keras3")
    else:
        if isinstance(model, Sequential):
            module = "keras"
            registered = None
        else:
            module = "tf_keras.src.engine.functional"
            registered = "Functional"
        entry = {
            "module": module,
            "class_name": model.class_name(),
            "config": model_config(model, "keras2"),
            "registered_name": registered,
        }
        shape = model.build_input_shape
        entry["build_config"] = {"input_shape": shape}
    info = model.compile_info if include_optimizer else None
    entry["compile_config"] = compile_config(info, target)
    return entry


def weights_groups(model: Model, target: str, include_optimizer: bool = True) -> Iterator[H5Group]:
    """Every group of ``model.weights.h5``: root ``vars``, layers, then the optimizer."""
    named = target == "keras3"
    for group in layer_groups(model, target):
        arrays = [unwrap(v) for v in group.variables]  # lazy values stay unread
        yield H5Group(group.vars_path, group.name if named else None, arrays)
    info = model.compile_info
    if include_optimizer and info is not None and info.optimizer is not None:
        opt = info.optimizer
        arrays = optimizer_arrays(opt, model.trainable_weights, target)
        yield H5Group("optimizer/vars", opt.name if named else None, arrays)


def _dumps(obj: Any, what: str) -> bytes:
    try:
        return json.dumps(obj).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what}: cannot be written as JSON ({exc})") from None


def _date(value: str | datetime.datetime | None) -> str:
    """``date_saved``: fixed by default; a datetime or a ``%Y-%m-%d@%H:%M:%S`` string if given."""
    if value is None:
        return DEFAULT_DATE
    if isinstance(value, datetime.datetime):
        return value.strftime(DATE_FORMAT)
    try:
        datetime.datetime.strptime(str(value), DATE_FORMAT)
    except ValueError:
        raise ConfigError(
            f"date_saved must look like '2026-11-23@19:48:14' ({DATE_FORMAT}), received {value!r}"
        ) from None
    return str(value)


def build_members(
    model: Model,
    target: str = "keras3",
    include_optimizer: bool = True,
    date_saved: str | datetime.datetime | None = None,
) -> list[Member]:
    """The three archive members, in Keras' order; the weights member as streamable parts.

    For ``target="keras3"``, ``/`` in layer names becomes ``_`` in the file (Keras 3 refuses it;
    :func:`purekeras_io.model.naming.renamed_layers`, with a warning)."""
    check_dialect(target, what="target")
    if not isinstance(model, Model):
        raise ConfigError(
            f".keras save: expected a purekeras_io model, received {type(model).__name__}"
        )
    metadata = {"keras_version": KERAS_VERSIONS[target], "date_saved": _date(date_saved)}
    with renamed_layers(model, target, "the .keras file"):
        config = model_json(model, target, include_optimizer)
        parts, _size = build_h5_image(list(weights_groups(model, target, include_optimizer)))
    return [
        Member(METADATA_MEMBER, [_dumps(metadata, METADATA_MEMBER)]),
        Member(CONFIG_MEMBER, [_dumps(config, CONFIG_MEMBER)]),
        Member(WEIGHTS_MEMBER, parts),
    ]


def save(
    model: Model,
    filepath: Any,
    include_optimizer: bool = True,
    target: str = "keras3",
    *,
    date_saved: str | datetime.datetime | None = None,
    fsync_file: bool = False,
    fsync: bool = False,
    **ignored: Any,
) -> None:
    """Write ``model`` to ``filepath`` (a path or a writable binary file object) as ``.keras``.

    ``date_saved`` (``"%Y-%m-%d@%H:%M:%S"``) goes into ``metadata.json``; by default it is fixed so
    the same model gives the same bytes. Other keyword arguments of ``save_model`` are accepted
    and ignored (``.keras`` has no use for them).
    """
    check_model(model, include_optimizer=include_optimizer, what=f"saving {filepath}")
    members = build_members(model, target, include_optimizer, date_saved)
    if hasattr(filepath, "write"):
        write_zip(filepath, members)
        return
    _write_file(os.fspath(filepath), lambda fh: write_zip(fh, members), fsync_file or fsync)


def _write_file(path: str, write: Callable[[BinaryIO], Any], sync: bool = False) -> None:
    """Write atomically: a temporary file beside ``path``, renamed over it when complete (a
    failed save leaves an existing file untouched; see :mod:`purekeras_io._io`). Keras writes in
    place; the rename costs nothing measurable beyond page-cache effects."""
    with atomic_file(path, fsync=sync, buffering=0, what="a .keras save") as fh:
        write(fh)


def save_weights(model: Model, filepath: Any, target: str = "keras3", *, fsync: bool = False,
                 **ignored: Any) -> None:
    """``model.save_weights("x.weights.h5")``: the ``model.weights.h5`` tree as a plain file
    (with the optimizer's variables when compiled, as Keras 3 writes it)."""
    check_dialect(target, what="target")
    check_model(model, include_optimizer=True, what=f"saving {filepath}")
    with renamed_layers(model, target, "the weights file"):
        parts, _ = build_h5_image(list(weights_groups(model, target, include_optimizer=True)))
    if hasattr(filepath, "write"):
        _write_parts(filepath, parts)
        return
    path = os.fspath(filepath)
    if not path.endswith(".weights.h5"):
        raise ConfigError(
            f"save_weights: a Keras 3 weights file must end in .weights.h5, received {path!r}"
        )
    _write_file(path, lambda fh: _write_parts(fh, parts), fsync)


def _write_parts(fh: BinaryIO, parts: list[Any]) -> None:
    write_parts(fh, parts)
