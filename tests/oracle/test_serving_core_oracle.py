"""SavedModel graphs of core layers, served by TensorFlow (``serving_helpers``): the seed model,
dense stacks with every activation of both generations, multi-input / multi-output Functional
models, nested models, mixed precision."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from serving_helpers import check_serving, failures

import purekeras_io as pk
from purekeras_io import activations

pytestmark = pytest.mark.oracle
L = pk.layers


def _rng(seed: int) -> np.random.RandomState:
    return np.random.RandomState(seed)


def _randomize(model: Any, seed: int) -> Any:
    rng = _rng(seed)
    for var in model.weights:
        if var.dtype.kind == "f":
            var.assign(rng.randn(*var.shape).astype(var.dtype) * 0.5)
    return model


def _cases() -> list[tuple[str, Any, list[list[np.ndarray]]]]:
    out = []
    seed = pk.Sequential([L.Dense(5, input_shape=(3,)), L.Softmax()])
    out.append(("seed", _randomize(seed, 0),
                [[_rng(1).rand(1, 3).astype("float32")], [_rng(2).rand(7, 3).astype("float32")]]))
    for i, name in enumerate(sorted(activations.ACTIVATIONS)):
        if name in ("None", "glu"):  # glu halves the last axis: not a Dense activation
            continue
        for dialect in ("keras2", "keras3"):
            if dialect == "keras2" and name not in activations.KERAS2_NAMES:
                continue
            m = pk.Sequential([L.Dense(6, activation=name, input_shape=(4,))])
            m.layers[-1].source_dialect = dialect
            x = (_rng(i).randn(7, 4) * 2).astype("float32")
            out.append((f"act_{name}_{dialect}", _randomize(m, i), [[x]]))
    a = pk.Input((4,), name="a")
    b = pk.Input((2, 3), name="b")
    h = L.Dense(3, activation="relu", name="ha")(a)
    g = L.Dense(3, name="hb")(b)
    g2 = L.ReLU(max_value=1.5, negative_slope=0.1, threshold=0.2, name="r")(g)
    o1 = L.Dense(2, name="o1")(h)
    o2 = L.LeakyReLU(0.2, name="o2")(g2)
    multi = pk.Model([a, b], [o1, o2], name="multi")
    out.append(("multi_io", _randomize(multi, 5),
                [[_rng(6).randn(7, 4).astype("float32"),
                  _rng(7).randn(7, 2, 3).astype("float32")]]))
    inner = pk.Sequential([L.Dense(4, activation="tanh"), L.Dropout(0.5)], name="inner")
    x = pk.Input((3,), name="x")
    y = L.PReLU(name="prelu")(inner(x))
    y = L.ELU(0.7, name="elu")(y)
    nested = pk.Model(x, L.Activation("softmax", name="sm")(y), name="nested")
    out.append(("nested", _randomize(nested, 8), [[_rng(9).randn(7, 3).astype("float32")]]))
    return out


def test_core_models_serve(oracle: Any, tmp_path: Path) -> None:
    report = check_serving(oracle, tmp_path, _cases())
    assert not failures(report), failures(report)


def test_seed_through_tflite_and_saved_model_cli(oracle: Any, tmp_path: Path) -> None:
    cases = [c for c in _cases() if c[0] in ("seed", "nested")]
    report = check_serving(oracle, tmp_path, cases, consumers=("tflite", "cli"))
    assert not failures(report), failures(report)


def test_save_debug_info_is_served(oracle: Any, tmp_path: Path) -> None:
    """``SaveOptions(save_debug_info=True)`` adds ``debug/``; every consumer still serves it."""
    cases = [c for c in _cases() if c[0] in ("seed", "multi_io")]
    report = check_serving(oracle, tmp_path, cases,
                           consumers=("tfsm", "call", "tf1", "cli", "tflite"),
                           save_kwargs={"options": {"save_debug_info": True}})
    assert not failures(report), failures(report)
    assert (tmp_path / "seed" / "debug" / "saved_model_debug_info.pb").stat().st_size > 0


class _Spec:
    """Stands in for ``tf.TensorSpec`` (duck-typed: shape, dtype, name)."""

    def __init__(self, shape: tuple[int | None, ...], dtype: str, name: str) -> None:
        self.shape, self.dtype, self.name = shape, dtype, name


def test_signatures_argument(oracle: Any, tmp_path: Path) -> None:
    x = pk.Input((3,), name="x")
    h = L.Dense(4, activation="relu", name="hidden")(x)
    model = _randomize(pk.Model(x, L.Dense(2, name="out")(h), name="two_sigs"), 3)
    path = tmp_path / "m"
    model.save(str(path), save_format="tf", signatures={
        "serving_default": _Spec((None, 3), "float32", "x"),
        "fixed": {"inputs": [(7, 3)]},
        "features": {"outputs": ["hidden"]},
    })
    batch = _rng(4).randn(7, 3).astype("float32")
    np.savez(tmp_path / "in.npz", x=batch, __positional__0=batch)
    result = oracle.run("serving_check", {"cases": [{
        "id": "m", "path": str(path), "inputs": [str(tmp_path / "in.npz")],
        "consumers": ["tfsm"], "signatures": ["fixed", "features"]}]})["cases"]["m"]
    assert result["tfsm"] == "ok", result
    assert "shape=(7, 3)" in result["spec_fixed"]
    with np.load(tmp_path / "in.npz.tfsm.fixed.npz") as got:
        np.testing.assert_allclose(got["out"], model.predict(batch), rtol=1e-5, atol=1e-6)
    hidden = pk.Model(x, h).predict(batch)
    with np.load(tmp_path / "in.npz.tfsm.features.npz") as got:
        np.testing.assert_allclose(got["hidden"], hidden, rtol=1e-5, atol=1e-6)
