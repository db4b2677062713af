"""Lazy initial values: building draws nothing, ``assign`` never draws, values are deterministic.

See ``purekeras_io/model/variable.py`` and ``purekeras_io/initializers.py``.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import purekeras_io as pk
from purekeras_io import initializers
from purekeras_io.errors import ConfigError
from purekeras_io.initializers import Initial
from purekeras_io.model.base import Model
from purekeras_io.model.variable import Variable
from purekeras_io.optimizers import Adam

L = pk.layers
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_draws(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Initial]]:
    """Fail on any materialization of an initial value; yields the list of attempted ones."""
    attempts: list[Initial] = []

    def refuse(self: Initial) -> np.ndarray:
        attempts.append(self)
        raise AssertionError(f"initial value drawn: {self.key} {self.shape}")

    monkeypatch.setattr(Initial, "materialize", refuse)
    yield attempts


def _mlp(units: int = 6, name: str | None = None) -> Model:
    x = pk.Input((5,))
    y = L.Dense(units, activation="relu")(x)
    y = L.BatchNormalization()(y)
    y = L.Dense(3, kernel_initializer="he_normal")(y)
    return pk.Model(x, y, name=name)


def _fresh_arrays(model: Model, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random(v.shape).astype(v.dtype) for v in model.weights]


# ---------------------------------------------------------------- no materialization


def test_build_shape_dtype_do_not_draw(no_draws: list[Initial]) -> None:
    model = _mlp()
    assert model.weights
    for v in model.weights:
        assert not v.materialized
        assert v.initial is not None
        assert v.shape == v.initial.shape and v.dtype == np.float32
        repr(v)
    assert [v.shape for v in model.layers[1].weights] == [(5, 6), (6,)]
    model.summary(print_fn=lambda *a, **k: None)
    assert not no_draws


def test_assign_and_set_weights_do_not_draw(no_draws: list[Initial]) -> None:
    model = _mlp()
    arrays = _fresh_arrays(model)
    model.set_weights(arrays)
    for v, a in zip(model.weights, arrays):
        assert v.materialized and v.initial is None
        assert v.value is a  # same dtype: kept without a copy
    model.layers[1].kernel.assign(np.ones((5, 6), np.float64))  # cast, still no draw
    assert model.layers[1].kernel.value.dtype == np.float32
    assert not no_draws


def test_assign_checks_shape_without_drawing(no_draws: list[Initial]) -> None:
    var = _mlp().layers[1].kernel
    with pytest.raises(ConfigError, match="expected shape"):
        var.assign(np.zeros((6, 5), np.float32))
    assert not var.materialized and not no_draws


def test_read_materializes_once() -> None:
    var = _mlp().layers[1].kernel
    first = var.value
    assert var.materialized and var.value is first and var.numpy() is first
    assert first.shape == (5, 6) and first.dtype == np.float32


def test_value_setter_replaces_initial() -> None:
    var = _mlp().layers[1].bias
    var.value = np.arange(6, dtype=np.float32)
    assert var.materialized and var.value.tolist() == list(range(6))


def test_variable_needs_value_or_initial() -> None:
    with pytest.raises(ConfigError, match="needs a value"):
        Variable("kernel")
    assert Variable("k", np.zeros((2,), np.float32)).materialized


@pytest.mark.parametrize("dtype", ["float16", "float64", "bfloat16", "int32"])
def test_lazy_dtype_matches_materialized(dtype: str) -> None:
    layer = L.Dense(4, dtype=dtype)
    layer.build((None, 3))
    kernel = layer.weights[0]
    want = kernel.dtype
    assert not kernel.materialized
    assert kernel.value.dtype == want and kernel.value.shape == (3, 4)


def test_initializers_follow_their_distribution() -> None:
    cases: list[tuple[Any, tuple[float, float]]] = [
        ("zeros", (0.0, 0.0)),
        ("ones", (1.0, 0.0)),
        ({"class_name": "Constant", "config": {"value": 2.5}}, (2.5, 0.0)),
        ({"class_name": "RandomNormal", "config": {"mean": 1.0, "stddev": 0.5}}, (1.0, 0.5)),
        ({"class_name": "RandomUniform", "config": {"minval": 0, "maxval": 1}}, (0.5, 0.2887)),
        ("glorot_uniform", (0.0, (2 / 400) ** 0.5)),
        ("he_normal", (0.0, (2 / 200) ** 0.5)),
    ]
    for ident, (mean, std) in cases:
        value = initializers.initialize(ident, (200, 200))
        assert value.dtype == np.float32 and value.shape == (200, 200)
        assert abs(float(value.mean()) - mean) < 0.02, ident
        assert abs(float(value.std()) - std) < 0.1 * std + 1e-6, ident
    trunc = initializers.initialize({"class_name": "TruncatedNormal", "config": {}}, (100, 100))
    assert float(np.abs(trunc).max()) <= 0.1 + 1e-6
    q = initializers.initialize("orthogonal", (8, 8), "float64")
    np.testing.assert_allclose(q @ q.T, np.eye(8), atol=1e-10)


# ---------------------------------------------------------------- determinism


def test_same_build_same_values_in_any_read_order() -> None:
    initializers.seed(7)
    a = _mlp()
    initializers.seed(7)
    b = _mlp()
    forward = [v.value for v in a.weights]
    backward = [v.value for v in reversed(b.weights)][::-1]
    for x, y in zip(forward, backward):
        np.testing.assert_array_equal(x, y)
    # the two kernels of one model differ (different counter numbers)
    assert not np.array_equal(a.layers[1].kernel.value[:3, :3], a.layers[-1].kernel.value[:3, :3])


def test_value_fixed_at_creation_not_at_read() -> None:
    initializers.seed(3)
    a = _mlp()
    initializers.seed(3)
    b = _mlp()
    _mlp()  # more variables created after b: b's values must not move
    initializers.initialize("glorot_uniform", (4, 4))
    np.testing.assert_array_equal(a.layers[1].kernel.value, b.layers[1].kernel.value)


def test_explicit_seed_is_independent_of_the_stream() -> None:
    init = {"class_name": "GlorotUniform", "config": {"seed": 42}}
    initializers.seed(1)
    first = initializers.initialize(init, (3, 4))
    initializers.seed(2)
    _mlp()
    np.testing.assert_array_equal(initializers.initialize(init, (3, 4)), first)


def test_materialize_twice_gives_the_same_array() -> None:
    initial = initializers.lazy("lecun_normal", (16, 8))
    np.testing.assert_array_equal(initial.materialize(), initial.materialize())
    assert initializers.lazy("zeros", (2,)).stream is None  # constants take no counter number


_FRESH = """
import hashlib, purekeras_io as pk
L = pk.layers
m = pk.Sequential([L.Dense(7, input_shape=(5,)), L.Dense(4),
                   L.Dense(2, kernel_initializer="orthogonal", bias_initializer="random_normal")])
h = hashlib.sha256()
for w in reversed(m.get_weights()):
    h.update(w.tobytes())
print(h.hexdigest())
"""


def test_fresh_processes_get_identical_weights() -> None:
    digests = [
        subprocess.run([sys.executable, "-c", _FRESH], capture_output=True, text=True,
                       check=True, cwd=ROOT).stdout.strip()
        for _ in range(2)
    ]
    assert len(digests[0]) == 64 and digests[0] == digests[1]
    assert digests[0] != hashlib.sha256(b"").hexdigest()


# ---------------------------------------------------------------- loading never draws


def _compiled(model: Model) -> Model:
    model.compile(Adam(learning_rate=0.01), "mse")
    opt = model.optimizer
    assert opt is not None
    rng = np.random.default_rng(1)
    opt.set_state(5, [{s.keras3: rng.random(v.shape).astype(np.float32)
                       for s in opt.active_slots()} for v in model.trainable_weights])
    return model


@pytest.mark.parametrize(
    ("target", "options"),
    [("m.h5", {"target": "keras2"}), ("m3.h5", {"target": "keras3"}), ("m.keras", {}),
     ("m_tf", {})],
)
def test_load_model_draws_nothing(
    tmp_path: Path, target: str, options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _compiled(_mlp())
    model.set_weights(_fresh_arrays(model))
    path = tmp_path / target
    model.save(path, **options)
    drawn: list[Initial] = []
    original = Initial.materialize

    def counting(self: Initial) -> np.ndarray:
        drawn.append(self)
        return original(self)

    monkeypatch.setattr(Initial, "materialize", counting)
    back = pk.models.load_model(path)
    assert not drawn, [(i.key, i.shape) for i in drawn]
    for want, got in zip(model.get_weights(), back.get_weights()):
        np.testing.assert_array_equal(want, got)
    assert back.optimizer is not None and back.optimizer.iterations == 5
    assert back.optimizer.slot_values is not None and model.optimizer is not None
    assert model.optimizer.slot_values is not None
    for want_d, got_d in zip(model.optimizer.slot_values, back.optimizer.slot_values):
        for key in want_d:
            np.testing.assert_array_equal(want_d[key], got_d[key])


def test_checkpoint_load_keeps_read_only_views(tmp_path: Path, no_draws: list[Initial]) -> None:
    from purekeras_io.checkpoint import load_weights, save_weights

    model = _mlp()
    arrays = _fresh_arrays(model)
    model.set_weights(arrays)
    save_weights(model, tmp_path / "ckpt")
    back = _mlp()
    load_weights(back, tmp_path / "ckpt")
    assert not no_draws
    for v, want in zip(back.weights, arrays):
        # mapped from the data file, not copied: read-only; assign replaces it
        assert not v.value.flags.writeable
        np.testing.assert_array_equal(v.value, want)
    kernel = back.layers[1].kernel
    kernel.assign(np.zeros(kernel.shape, np.float32))
    assert kernel.value.flags.writeable and not kernel.value.any()
    # saving over the same prefix while views of the old files are held is safe (os.replace)
    save_weights(back, tmp_path / "ckpt")
    np.testing.assert_array_equal(back.layers[-1].kernel.value, arrays[-2])


def test_set_from_variables_keeps_arrays_and_draws_nothing(no_draws: list[Initial]) -> None:
    model = _mlp()
    opt = Adam()
    weights = model.trainable_weights
    layout = [np.asarray(0, np.int64), np.asarray(0.5, np.float32)]
    slots = []
    for v in weights:
        for _ in ("momentum", "velocity"):
            arr = np.full(v.shape, 0.25, np.float32)
            arr.flags.writeable = False
            slots.append(arr)
    # Keras 3 order: slots interleaved per variable
    opt.set_from_variables(weights, [np.asarray(9, np.int64), layout[1], *slots], "keras3")
    assert opt.iterations == 9 and opt.config["learning_rate"] == 0.5
    assert opt.slot_values is not None
    assert opt.slot_values[0]["momentum"] is slots[0]
    assert opt.slot_values[0]["velocity"] is slots[1]
    with pytest.raises(ConfigError, match="has shape"):
        opt.set_from_variables(weights, [layout[0], layout[1], *slots[::-1]], "keras3")
    # tf_keras layout: iteration then m/v per variable
    opt.set_from_variables(weights, [np.asarray(3, np.int64), *slots], "keras2")
    assert opt.iterations == 3 and opt.slot_values[-1]["velocity"] is slots[-1]
    assert not no_draws


@pytest.mark.parametrize(("target", "options"), [("f.h5", {}), ("f.keras", {}), ("f_tf", {})])
def test_fresh_model_saves_its_drawn_values(
    tmp_path: Path, target: str, options: dict[str, Any]
) -> None:
    initializers.seed(11)
    model = _mlp()
    assert not any(v.materialized for v in model.weights)
    model.save(tmp_path / target, **options)  # writers draw each value while writing it
    back = pk.models.load_model(tmp_path / target)
    initializers.seed(11)
    twin = _mlp()
    for want, saved, got in zip(twin.get_weights(), model.get_weights(), back.get_weights()):
        np.testing.assert_array_equal(want, saved)
        np.testing.assert_array_equal(want, got)


def test_variable_is_array_like_without_drawing_for_shape(no_draws: list[Initial]) -> None:
    var = _mlp().layers[1].kernel
    assert var.shape == (5, 6) and not no_draws
    var.assign(np.ones((5, 6), np.float32))
    arr = np.asarray(var)
    assert arr is var.value
    assert np.asarray(var, dtype=np.float64).dtype == np.float64
    assert np.array(var) is not var.value
