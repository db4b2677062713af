"""``save_model`` / ``load_model`` and friends, mirroring ``tf.keras.models``.

``save_format`` (or the file's extension when it is None) picks the writer:

=============  ===========================  ==========================================
save_format    extension                    writer
=============  ===========================  ==========================================
``"h5"``       ``.h5``, ``.hdf5``, ``.keras2``  ``purekeras_io.keras_h5``
``"keras"``    ``.keras``                   ``purekeras_io.keras_v3``
``"tf"``       anything else (a directory)  ``purekeras_io.savedmodel``
=============  ===========================  ==========================================
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

from ._io import recover
from .errors import ConfigError, FileExistsRefusedError, FormatError, UnsupportedFeatureError
from .model import io_hooks
from .model.base import Model
from .model.dialect import Dialect
from .model.serialize import model_from_config as _model_from_config
from .model.validate import load_json

__all__ = [
    "load_model",
    "load_weights",
    "model_from_config",
    "model_from_json",
    "save_model",
    "save_weights",
]

# save_format → the module holding ``save(model, filepath, **options)`` and ``load(filepath)``.
WRITERS = {
    "h5": "purekeras_io.keras_h5",
    "keras": "purekeras_io.keras_v3",
    "tf": "purekeras_io.savedmodel",
}
_H5_EXTENSIONS = (".h5", ".hdf5")


def _format_for(filepath: Any, save_format: str | None) -> str:
    if save_format is not None:
        fmt = str(save_format).lower()
        fmt = {"tensorflow": "tf", "savedmodel": "tf", "hdf5": "h5", "keras_v3": "keras"}.get(
            fmt, fmt
        )
        if fmt not in WRITERS:
            raise ConfigError(
                f"save_format must be one of {sorted(WRITERS)}, received {save_format!r}"
            )
        return fmt
    if _is_h5py_file(filepath):
        return "h5"
    path = str(filepath)
    if path.endswith(_H5_EXTENSIONS):
        return "h5"
    if path.endswith(".keras"):
        return "keras"
    return "tf"


def _is_h5py_file(obj: Any) -> bool:
    return type(obj).__module__.startswith("h5py")


def confirm_overwrite(filepath: Any, overwrite: bool) -> None:
    """``overwrite=False`` on an existing target asks at a terminal, and refuses without one."""
    if overwrite or _is_h5py_file(filepath) or not os.path.exists(str(filepath)):
        return
    if not sys.stdin or not sys.stdin.isatty():
        raise FileExistsRefusedError(
            f"{filepath}: exists and overwrite=False; no terminal to ask, so nothing was written"
        )
    answer = input(f"[WARNING] {filepath} already exists - overwrite? [y/n] ").strip().lower()
    if answer not in ("y", "yes"):
        raise FileExistsRefusedError(f"{filepath}: exists and overwriting was declined")


def _writer(fmt: str) -> Any:
    try:
        return importlib.import_module(WRITERS[fmt])
    except ModuleNotFoundError as exc:
        raise UnsupportedFeatureError(
            f"the {fmt!r} format is not implemented yet ({exc})"
        ) from None


_PARALLEL_KWARGS = ("workers", "client")


def _refuse_parallel(kwargs: dict[str, Any], what: str, path: Any) -> None:
    """Parallel writes (``workers=`` / ``client=``) exist for TensorBundles only."""
    given = [k for k in _PARALLEL_KWARGS if kwargs.get(k) is not None]
    if given:
        raise UnsupportedFeatureError(
            f"saving {path!r}: {'/'.join(f'{k}=' for k in given)} (parallel writes) applies to "
            f"SavedModel folders, TF checkpoints and Keras sharded weights only, not to {what}; "
            f"a {what} is written by one process (streaming lazy weights)"
        )


def save_model(
    model: Model,
    filepath: Any,
    overwrite: bool = True,
    include_optimizer: bool = True,
    save_format: str | None = None,
    signatures: Any = None,
    options: Any = None,
    save_traces: bool = True,
    **kwargs: Any,
) -> None:
    """Save ``model`` as ``tf.keras.models.save_model`` would, without TensorFlow."""
    if not isinstance(model, Model):
        raise ConfigError(
            f"save_model: expected a purekeras_io model, received {type(model).__name__}"
        )
    fmt = _format_for(filepath, save_format)
    if fmt != "tf" and (signatures is not None or options is not None):
        raise ConfigError(
            f"save_model: signatures and options apply to SavedModel only, not {fmt!r}"
        )
    if not _is_h5py_file(filepath):
        filepath = os.fspath(filepath)
    confirm_overwrite(filepath, overwrite)
    if fmt != "tf":
        _refuse_parallel(kwargs, f"{fmt!r} file", filepath)
    writer = _writer(fmt)
    extra: dict[str, Any] = dict(kwargs)
    if fmt == "tf":
        extra.update(signatures=signatures, options=options, save_traces=save_traces)
    writer.save(model, filepath, include_optimizer=include_optimizer, **extra)


def load_model(filepath: Any, compile: bool = True, **kwargs: Any) -> Model:
    """Read a SavedModel directory, ``.h5`` or ``.keras`` file back into a model description."""
    if _is_h5py_file(filepath):
        fmt = "h5"
    else:
        path = Path(os.fspath(filepath))
        recover(path)  # a save to this path that died mid-swap is finished (or undone) first
        if path.is_dir():
            fmt = "keras" if (path / "config.json").exists() else "tf"
        elif not path.exists():
            raise FormatError(f"{path}: no such file or directory") from None
        else:
            with open(path, "rb") as fh:
                head = fh.read(8)
            if head.startswith(b"\x89HDF"):
                fmt = "h5"
            elif head.startswith(b"PK"):
                fmt = "keras"
            else:
                raise FormatError(
                    f"{path}: not a SavedModel directory, HDF5 file or .keras zip (starts {head!r})"
                )
    model = _writer(fmt).load(filepath, **kwargs)
    if not compile:
        model.compile_info = None
    return model


def model_from_json(json_string: str, custom_objects: Any = None) -> Model:
    """A model from ``model.to_json()`` text of tf_keras 2.x or Keras 3."""
    try:
        config = load_json(json_string, "model_from_json")
    except FormatError as exc:  # the text is an argument, not a file: a config error
        raise ConfigError(str(exc)) from None
    return _model_from_config(config)


def model_from_config(
    config: dict[str, Any], custom_objects: Any = None, dialect: Dialect | None = None
) -> Model:
    """A model from a ``{"class_name", "config"}`` dict of tf_keras 2.x or Keras 3."""
    return _model_from_config(config, dialect)


def save_weights(
    model: Model,
    filepath: Any,
    overwrite: bool = True,
    save_format: str | None = None,
    max_shard_size: float | None = None,
    **kwargs: Any,
) -> None:
    """Weights only: ``.h5`` / ``.weights.h5`` as Keras, else a TF object-based checkpoint.

    ``max_shard_size`` (GB, Keras 3): sharded weights, ``x.weights.json`` plus
    ``x_00000.weights.h5``… (a ``.weights.h5`` path becomes ``.weights.json``, with Keras'
    warning); see :mod:`purekeras_io.keras_v3.sharded`."""
    path = os.fspath(filepath)
    if max_shard_size is not None or path.endswith(".weights.json"):
        if max_shard_size is None or not path.endswith(("weights.h5", "weights.json")):
            raise ConfigError(
                f"save_weights: sharded weights need a path ending in .weights.json and "
                f"max_shard_size (GB); received filepath={path!r}, "
                f"max_shard_size={max_shard_size!r}"
            )
        sharded = importlib.import_module("purekeras_io.keras_v3.sharded")
        json_path = sharded.json_path_for(path)
        confirm_overwrite(json_path, overwrite)
        sharded.save_sharded(model, json_path, max_shard_size, **kwargs)
        return
    confirm_overwrite(path, overwrite)
    if save_format == "h5" or path.endswith(_H5_EXTENSIONS):
        _refuse_parallel(kwargs, "HDF5 weights file", path)
        _writer("keras" if path.endswith(".weights.h5") else "h5").save_weights(
            model, path, **kwargs
        )
        return
    importlib.import_module("purekeras_io.checkpoint").save_weights(
        model, path, **kwargs
    )


def load_weights(model: Model, filepath: Any, **kwargs: Any) -> None:
    """Read weights saved by :func:`save_weights` (or by Keras / tf_keras) into ``model``
    (``.weights.json``: Keras 3 sharded weights)."""
    path = os.fspath(filepath)
    if path.endswith(".weights.json"):
        importlib.import_module("purekeras_io.keras_v3.sharded").load_sharded(
            model, path, **kwargs
        )
        return
    if path.endswith(_H5_EXTENSIONS):
        _writer("keras" if path.endswith(".weights.h5") else "h5").load_weights(
            model, path, **kwargs
        )
        return
    importlib.import_module("purekeras_io.checkpoint").load_weights(
        model, path, **kwargs
    )


io_hooks.register(save_model=save_model, save_weights=save_weights, load_weights=load_weights)
