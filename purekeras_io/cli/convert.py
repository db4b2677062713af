"""``purekeras convert SRC DST [--format tf|h5|keras|checkpoint] [--target keras2|keras3|both]``.

Reads any model file the library reads (SavedModel with Keras metadata, ``.h5``, ``.keras``) and
writes it with the library's writers, keeping weights, compile information and optimizer state.
Weights-only sources (a TensorBundle checkpoint, a weights-only ``.h5``, Keras 3 sharded
``.weights.json``) hold no model config and are refused with one line, as ``diff`` refuses them.
The source's tensors are not copied: TensorBundle and ``.keras`` readers hand out views of the
mapped file, and the writers stream them tensor by tensor to the target.

``--format`` defaults to the target's extension (``.h5``/``.hdf5`` → ``h5``, ``.keras`` →
``keras``, ``.index``/``.ckpt`` → ``checkpoint``, anything else → ``tf``). ``--target`` picks the
Keras generation the file is for: for ``.h5`` the library's targets (``both`` keeps no optimizer
state, see ``purekeras_io.keras_h5``), for ``.keras`` the config dialect (``keras3`` by default;
``keras2`` for tf_keras' own ``.keras``); a SavedModel and a checkpoint serve tf_keras and
TensorFlow and take no target.
"""

from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, FileExistsRefusedError, TargetCompatibilityError
from ..model.base import Model
from .detect import detect
from .ui import UI, load_model_from

__all__ = ["CONVERT_FORMATS", "add_parser", "convert", "format_for", "run"]

CONVERT_FORMATS = ("tf", "h5", "keras", "checkpoint")
TARGETS = ("keras2", "keras3", "both")


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "convert", parents=parents,
        help="convert a model file to another format, keeping weights, compile info and "
        "optimizer state",
        description=__doc__.split("\n\n", 1)[1].split("\n\n")[0],
    )
    p.add_argument("src", help="SavedModel directory, .h5 or .keras")
    p.add_argument("dst", help="the file or directory to write")
    p.add_argument("--format", choices=CONVERT_FORMATS,
                   help="format to write (default: from DST's extension)")
    p.add_argument("--target", choices=TARGETS,
                   help="the Keras generation the file is for (.h5: default 'both' when the "
                   "model has such a form; .keras: default keras3)")
    p.add_argument("--no-optimizer", action="store_true",
                   help="leave compile information and optimizer state out")
    p.add_argument("-f", "--force", action="store_true", help="replace DST if it exists")


def format_for(dst: str, fmt: str | None) -> str:
    """The format to write: ``fmt``, else from the extension of ``dst``."""
    if fmt is not None:
        return fmt
    low = dst.lower()
    if low.endswith((".h5", ".hdf5")):
        return "h5"
    if low.endswith(".keras"):
        return "keras"
    if low.endswith((".index", ".ckpt")):
        return "checkpoint"
    return "tf"


def _state(model: Model) -> str:
    opt = model.optimizer
    if opt is None:
        return "not compiled"
    slots = len(opt.flat_slots()) if opt.built else 0
    return f"{opt.class_name()}, iterations {opt.iterations}, {slots} slot variables"


def convert(src: str, dst: str, fmt: str | None, target: str | None, ui: UI,
            include_optimizer: bool = True, force: bool = False) -> tuple[Model, str]:
    """Convert; returns the model and the format written."""
    detected = detect(src)
    out_fmt = format_for(dst, fmt)
    if os.path.exists(dst) and not force:
        raise FileExistsRefusedError(f"{dst}: exists; give --force to replace it")
    if out_fmt in ("tf", "checkpoint") and target not in (None, "keras2"):
        raise ConfigError(
            f"--target {target}: a {'SavedModel' if out_fmt == 'tf' else 'checkpoint'} is read "
            "by tf_keras and TensorFlow only (Keras 3 serves a SavedModel through TFSMLayer); "
            "write .keras for Keras 3"
        )
    if out_fmt == "keras" and target == "both":
        raise TargetCompatibilityError(
            "--target both: no .keras file loads in both generations (tf_keras' .keras and "
            "Keras 3's differ); choose keras3 or keras2"
        )
    model = load_model_from(detected, ui)
    ui.info(f"read {detected.given} ({detected.format}): {len(model.weights)} weights, "
            f"{_state(model)}")
    from .. import models

    total = sum(int(np.prod(w.shape, dtype=np.int64)) * w.dtype.itemsize for w in model.weights)
    with warnings.catch_warnings(record=True) as caught, ui.write_progress(dst, total):
        warnings.simplefilter("always")
        if out_fmt == "checkpoint":
            prefix = dst[: -len(".index")] if dst.endswith(".index") else dst
            Path(prefix).parent.mkdir(parents=True, exist_ok=True)
            models.save_weights(model, prefix, include_optimizer=include_optimizer)
        else:
            options: dict[str, Any] = {}
            if target is not None and out_fmt in ("h5", "keras"):
                options["target"] = target
            models.save_model(model, dst, save_format=out_fmt,
                              include_optimizer=include_optimizer, **options)
    for w in caught:
        ui.warn(str(w.message))
    return model, out_fmt


def run(args: argparse.Namespace, ui: UI) -> int:
    _model, fmt = convert(args.src, args.dst, args.format, args.target, ui,
                         include_optimizer=not args.no_optimizer, force=args.force)
    ui.info(f"wrote {args.dst} ({fmt})")
    return 0
