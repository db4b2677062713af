"""Validation before the first byte (``model/preflight.py``), shared by every writer: a model whose
files would not load back as it is gives a ``ConfigError`` naming layer, weight and values, and
the file already at the target is left byte for byte as it was (no temporary beside it)."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import purekeras_io as pk
from purekeras_io import keras_v3
from purekeras_io.errors import ConfigError
from purekeras_io.model.preflight import check_model


def _model() -> Any:
    inputs = pk.Input((6,), name="x")
    hidden = pk.layers.Dense(4, activation="relu", name="hidden")(inputs)
    model = pk.Model(inputs, pk.layers.Dense(2, name="out")(hidden), name="m")
    model.compile(optimizer=pk.optimizers.Adam(), loss="mse")
    model.optimizer.build(model.trainable_weights)
    return model


def _units_edited(model: Any) -> str:
    model.get_layer("hidden").config["units"] = 7
    return (r"layer 'hidden' \(Dense\) weight 'kernel' has shape \(6, 4\), its config \(input "
            r"shape \[None, 6\]\) makes it \(6, 7\)")


def _dtype_edited(model: Any) -> str:
    model.get_layer("out").config["dtype"] = "float64"
    return r"layer 'out' \(Dense\) weight 'kernel' has dtype float32, its config makes it float64"


def _duplicate_layers(model: Any) -> str:
    model.get_layer("out").name = "hidden"
    return r"model 'm' has several layers named \['hidden'\]"


def _duplicate_weights(model: Any) -> str:
    model.get_layer("out").own_variables[1].name = "kernel"
    return r"layer 'out' \(Dense\) has weights \['kernel', 'kernel'\], its config creates"


def _slot_shape(model: Any) -> str:
    model.optimizer.slot_values[2]["momentum"] = np.zeros((3, 3), np.float32)
    return (r"optimizer Adam slot 'momentum' of variable 'out/kernel' has shape \(3, 3\), the "
            r"variable has \(4, 2\)")


def _slot_count(model: Any) -> str:
    model.optimizer.slot_values = model.optimizer.slot_values[:-1]
    return r"optimizer Adam holds slots for 3 variables, the model has 4 trainable variables"


def _iterations(model: Any) -> str:
    model.optimizer.iterations = -5
    return r"optimizer Adam iterations must be a non-negative integer, received -5"


DAMAGE: dict[str, Callable[[Any], str]] = {
    "units edited after build": _units_edited,
    "dtype edited after build": _dtype_edited,
    "duplicate layer names": _duplicate_layers,
    "duplicate weight names": _duplicate_weights,
    "optimizer slot shape": _slot_shape,
    "optimizer slot count": _slot_count,
    "optimizer iterations": _iterations,
}
_OPTIMIZER = {"optimizer slot shape", "optimizer slot count", "optimizer iterations"}


def _save(fmt: str, model: Any, target: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fmt == "tf":
            model.save(target, save_traces=False)
        elif fmt == "h5":
            model.save(target, target="keras2")
        elif fmt == "keras":
            model.save(target)
        elif fmt == "h5-weights":
            model.save_weights(target)
        elif fmt == "weights.h5":
            keras_v3.save_weights(model, target)
        else:
            model.save_weights(target / "ckpt")


TARGETS = {
    "tf": "sm", "h5": "m.h5", "keras": "m.keras", "h5-weights": "w.h5",
    "weights.h5": "m.weights.h5", "checkpoint": "ck",
}
_NO_OPTIMIZER = {"h5-weights"}  # weights only: nothing of the optimizer is written


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize("fmt", sorted(TARGETS))
@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_refused_before_the_first_byte(tmp_path: Path, fmt: str, damage: str) -> None:
    target = tmp_path / TARGETS[fmt]
    _save(fmt, _model(), target)
    before = _snapshot(tmp_path)
    bad = _model()
    match = DAMAGE[damage](bad)
    if fmt in _NO_OPTIMIZER and damage in _OPTIMIZER:
        _save(fmt, bad, target)  # the optimizer is not part of this file: written
        return
    with pytest.raises(ConfigError, match=match) as info:
        _save(fmt, bad, target)
    assert "saving " in str(info.value)
    assert _snapshot(tmp_path) == before  # the old model, byte for byte, and nothing beside it


def test_without_the_optimizer_its_state_is_not_checked(tmp_path: Path) -> None:
    model = _model()
    _slot_count(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(tmp_path / "m.keras", include_optimizer=False)
        model.save(tmp_path / "sm", include_optimizer=False, save_traces=False)
    check_model(model, include_optimizer=False)


def test_good_models_pass() -> None:
    check_model(_model())
    conv = pk.Sequential([
        pk.layers.Conv2D(3, 3, input_shape=(8, 8, 2)), pk.layers.BatchNormalization(),
        pk.layers.Flatten(), pk.layers.Dense(2),
    ])
    check_model(conv)
