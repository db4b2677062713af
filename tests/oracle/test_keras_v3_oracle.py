"""``.keras`` archives against Keras 3.15.1 on its three backends (TensorFlow, JAX, PyTorch).

One ``keras_v3_check`` process per backend (plus one TF ``prepare`` process that builds the
MobileNetV2 source models in tf_keras and Keras 3):

1. Keras 3 ``load_model`` reads every archive we write (seed model, conv/BN/pooling, multi-input
   multi-output with a shared layer and nested models, LSTM/Bidirectional text model, Transformer
   block, MobileNetV2 from tf_keras JSON and from Keras 3 JSON): weights equal, predictions equal
   (max abs diff < 1e-4 x max |output|); compiled ones come back compiled with the same optimizer
   class, iterations and every optimizer variable, and train a step.
2. Archives Keras 3 wrote on each backend (compiled, trained) read back with our ``load``:
   weights, optimizer state (iterations, learning rate, slots) and predictions equal.
3. ``.weights.h5`` both ways (Keras 3 ``load_weights`` of ours; our ``load_weights`` of theirs).
4. ``target="keras2"`` archives load in tf_keras 2.21 (TF process only), and a compiled model that
   tf_keras saved as ``.keras`` reads back with our ``load`` (weights, Adam state, predictions).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import purekeras_io as pk
from purekeras_io import keras_v3
from purekeras_io.keras_v3.optimizer_state import optimizer_arrays
from purekeras_io.model.base import Model

pytestmark = pytest.mark.oracle

BACKENDS = ("tensorflow", "jax", "torch")
FROM_JSON = ("mnv2_k2", "mnv2_k3", "ops_k2")
OUR_CASES = ("seed", "convnet", "multi", "textrnn", "transformer", "slash", *FROM_JSON)
COMPILED = ("seed", "convnet", "textrnn", "transformer")
K2_TARGET = ("k2t_seed", "k2t_convnet", "k2t_multi")  # target="keras2", loaded by tf_keras
K3_WRITTEN = ("seed", "convnet", "textrnn", "transformer")


def _save_npz(path: Path, arrays: list[Any]) -> None:
    np.savez(path, **{f"a{i}": np.asarray(a) for i, a in enumerate(arrays)})


def _load_npz(path: Path) -> list[np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return [z[f"a{i}"] for i in range(len(z.files))]


def _randomize(model: Model, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for var in model.weights:
        if var.dtype.kind != "f":
            continue
        value = rng.normal(0, 0.3, var.shape)
        if "variance" in var.name:
            value = np.abs(value) + 0.5
        var.assign(value.astype(var.dtype))


def _set_state(model: Model, iterations: int, seed: int) -> None:
    opt = model.optimizer
    assert opt is not None
    rng = np.random.default_rng(seed)
    slots = [
        {s.keras3: np.abs(rng.normal(0, 0.1, v.shape)).astype(v.dtype) for s in opt.active_slots()}
        for v in model.trainable_weights
    ]
    opt.set_state(iterations, slots)


def _seed() -> Model:
    m = pk.Sequential([pk.layers.Dense(5, input_shape=(3,)), pk.layers.Softmax()], name="seed")
    m.compile(optimizer=pk.optimizers.Adam(learning_rate=0.01), loss="mse", metrics=["mae"])
    return m


def _convnet() -> Model:
    L = pk.layers
    inp = pk.Input((12, 12, 3))
    h = L.conv.Conv2D(4, 3, padding="same")(inp)
    h = L.normalization.BatchNormalization()(h)
    h = L.ReLU()(h)
    h = L.pooling.MaxPooling2D()(h)
    h = L.conv.Conv2D(4, 3)(h)
    h = L.pooling.GlobalAveragePooling2D()(h)
    out = L.Dense(2)(h)
    m = pk.Model(inp, out, name="convnet")
    m.compile(optimizer=pk.optimizers.SGD(learning_rate=0.01, momentum=0.9), loss="mse")
    return m


def _multi() -> Model:
    L = pk.layers
    a = pk.Input((4,), name="a")
    b = pk.Input((4,), name="b")
    shared = L.Dense(3, name="shared")
    inner = pk.Sequential([L.Dense(3, input_shape=(6,)), L.Dense(2)], name="inner")
    fi = pk.Input((3,))
    innerf = pk.Model(fi, L.Dense(2)(fi), name="innerf")
    s1, s2 = shared(a), shared(b)
    cat = L.merge.Concatenate()([s1, s2])
    o1 = inner(cat)
    o2 = innerf(s2)
    return pk.Model([a, b], [o1, o2], name="multi")


def _textrnn() -> Model:
    L = pk.layers
    inp = pk.Input((6,), dtype="int32")
    h = L.embedding.Embedding(20, 4, mask_zero=True)(inp)
    h = L.rnn.LSTM(3, return_sequences=True)(h)
    h = L.rnn.Bidirectional(L.rnn.GRU(2))(h)
    out = L.Dense(1)(h)
    m = pk.Model(inp, out, name="textrnn")
    m.compile(optimizer=pk.optimizers.RMSprop(), loss="mse")
    return m


def _transformer() -> Model:
    L = pk.layers
    inp = pk.Input((5, 8))
    a = L.attention.MultiHeadAttention(num_heads=2, key_dim=4)(inp, inp)
    h = L.normalization.LayerNormalization()(L.merge.Add()([inp, a]))
    out = L.Dense(8)(h)
    m = pk.Model(inp, out, name="transformer")
    m.compile(optimizer=pk.optimizers.Adam(amsgrad=True), loss="mse")
    return m


def _slash() -> Model:
    """A layer name with ``/`` (tf_keras MobileNetV3/DenseNet configs): Keras 3 refuses it, so
    the ``.keras`` writer renames it ``block_out`` (with a warning)."""
    L = pk.layers
    inp = pk.Input((4,))
    h = L.Dense(3, name="block/dense")(inp)
    out = L.Dense(2, name="block/out")(L.Dense(3, name="block_dense")(h))
    return pk.Model(inp, out, name="slash")


def _inputs(name: str, rng: np.random.Generator) -> list[np.ndarray]:
    if name == "slash":
        return [rng.random((4, 4), dtype=np.float32)]
    if name == "seed":
        return [rng.random((4, 3), dtype=np.float32)]
    if name == "convnet":
        return [rng.random((4, 12, 12, 3), dtype=np.float32)]
    if name == "multi":
        return [rng.random((4, 4), dtype=np.float32), rng.random((4, 4), dtype=np.float32)]
    if name == "textrnn":
        x = rng.integers(1, 20, (4, 6)).astype("int32")
        x[:, 4:] = 0
        return [x]
    return [rng.random((4, 5, 8), dtype=np.float32)]


def _outputs(y: Any) -> list[np.ndarray]:
    if isinstance(y, dict):
        return [np.asarray(y[k]) for k in sorted(y)]
    if isinstance(y, (list, tuple)):
        return [np.asarray(v) for v in y]
    return [np.asarray(y)]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keras_v3_oracle")


@pytest.fixture(scope="module")
def ours(workdir: Path, oracle: Any) -> list[dict[str, Any]]:
    """Our archives (and their reference npz files) for every case."""
    prepared = oracle.run("keras_v3_check", {"dir": str(workdir), "mode": "prepare"})
    assert set(prepared["prepared"]) == {*FROM_JSON, "k2_written"}
    builders = {
        "seed": _seed,
        "convnet": _convnet,
        "multi": _multi,
        "textrnn": _textrnn,
        "transformer": _transformer,
        "slash": _slash,
    }
    rng = np.random.default_rng(42)
    cases = []
    for i, name in enumerate(OUR_CASES + K2_TARGET):
        target = "keras2" if name in K2_TARGET else "keras3"
        if name in K2_TARGET:
            model = builders[name[4:]]()
            _randomize(model, i)
            xs = _inputs(name[4:], rng)
            ys = _outputs(model.predict(xs if len(xs) > 1 else xs[0]))
        elif name in builders:
            model = builders[name]()
            _randomize(model, i)
            xs = _inputs(name, rng)
            ys = _outputs(model.predict(xs if len(xs) > 1 else xs[0]))
        else:
            model = pk.model_from_json((workdir / f"{name}.json").read_text())
            model.set_weights(_load_npz(workdir / f"{name}_weights.npz"))
            with np.load(workdir / f"{name}_io.npz") as z:
                xs, ys = [z["x"]], [z["y"]]
        case: dict[str, Any] = {
            "name": name,
            "file": f"ours_{name}.keras",
            "io": f"ours_{name}_io.npz",
            "weights": f"ours_{name}_weights.npz",
            "optimizer": None,
            "loader": "tf_keras" if target == "keras2" else "keras",
        }
        if model.optimizer is not None:
            _set_state(model, 7 + i, 100 + i)
            _save_npz(
                workdir / f"ours_{name}_opt.npz",
                optimizer_arrays(model.optimizer, model.trainable_weights, target),
            )
            case["optimizer"] = f"ours_{name}_opt.npz"
            case["iterations"] = model.optimizer.iterations
            case["optimizer_class"] = type(model.optimizer).__name__
        if name == "slash":
            with pytest.warns(UserWarning, match="refuses '/'"):
                keras_v3.save(model, workdir / case["file"], target=target)
            assert [la.name for la in model.layers][-1] == "block/out"  # names kept in memory
        else:
            keras_v3.save(model, workdir / case["file"], target=target)
        if name in ("seed", "convnet", "transformer"):  # .weights.h5 both ways
            keras_v3.save_weights(model, workdir / f"ours_{name}_back.weights.h5")
            for var in model.weights:
                var.assign(var.value + 0.5)
            keras_v3.save_weights(model, workdir / f"ours_{name}.weights.h5")
            _save_npz(workdir / f"ours_{name}_w2.npz", [v.value for v in model.weights])
            keras_v3.load_weights(model, workdir / f"ours_{name}_back.weights.h5")
            case["weights_h5"] = f"ours_{name}.weights.h5"
            case["weights_h5_ref"] = f"ours_{name}_w2.npz"
            case["weights_h5_back"] = f"ours_{name}_back.weights.h5"
        _save_npz(workdir / case["weights"], [v.value for v in model.weights])
        np.savez(
            workdir / case["io"],
            **{f"x{j}": x for j, x in enumerate(xs)},
            **{f"y{j}": y for j, y in enumerate(ys)},
        )
        cases.append(case)
    return cases


def _run(oracle: Any, workdir: Path, cases: list[dict[str, Any]], backend: str) -> dict[str, Any]:
    if backend != "tensorflow":  # tf_keras lives in the TF oracle only
        cases = [c for c in cases if c["loader"] == "keras"]
    payload = {"dir": str(workdir), "mode": "check", "cases": cases}
    out: dict[str, Any] = oracle.run("keras_v3_check", payload, env={"KERAS_BACKEND": backend})
    assert out["backend"] == backend, out
    assert out["keras"] == "3.15.1"
    return out


@pytest.fixture(scope="module")
def results(
    oracle: Any, oracle_jax: Any, oracle_torch: Any, workdir: Path, ours: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    return {
        "tensorflow": _run(oracle, workdir, ours, "tensorflow"),
        "jax": _run(oracle_jax, workdir, ours, "jax"),
        "torch": _run(oracle_torch, workdir, ours, "torch"),
    }


def _case(ours: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(c for c in ours if c["name"] == name)


@pytest.mark.parametrize("name", OUR_CASES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_keras3_loads_ours(results: dict[str, Any], backend: str, name: str) -> None:
    res = results[backend]["results"][name]
    assert "error" not in res, res.get("trace", res)
    assert res["n_weights"][0] == res["n_weights"][1]
    assert res["weights_equal"], res
    assert res["n_outputs"][0] == res["n_outputs"][1]
    for out in res["outputs"]:
        assert out["max_diff"] < 1e-4 * max(out["scale"], 1e-6), res["outputs"]
    if name in ("seed", "convnet", "transformer"):
        assert res["weights_h5_equal"], "Keras 3 load_weights of our .weights.h5"


@pytest.mark.parametrize("name", COMPILED)
@pytest.mark.parametrize("backend", BACKENDS)
def test_keras3_restores_optimizer(
    results: dict[str, Any], ours: list[dict[str, Any]], backend: str, name: str
) -> None:
    res = results[backend]["results"][name]
    case = _case(ours, name)
    assert "error" not in res, res.get("trace", res)
    assert res["compiled"]
    assert res["warnings"] == []
    assert res["optimizer_class"] == case["optimizer_class"]
    assert res["optimizer_counts"][0] == res["optimizer_counts"][1]
    assert res["optimizer_equal"]
    assert res["iterations"] == case["iterations"]
    assert res["iterations_after_fit"] == case["iterations"] + 1


@pytest.mark.parametrize("name", K3_WRITTEN)
@pytest.mark.parametrize("backend", BACKENDS)
def test_we_read_keras3_files(
    results: dict[str, Any], workdir: Path, backend: str, name: str
) -> None:
    written = results[backend]["written"]
    assert "error" not in written, written
    info = written[name]
    model = keras_v3.load(workdir / info["file"])
    ref_w = _load_npz(workdir / f"k3_{backend}_{name}_weights.npz")
    ours_w = [v.value for v in model.weights]
    assert len(ours_w) == len(ref_w)
    for a, b in zip(ours_w, ref_w):
        assert a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    assert model.optimizer is not None
    assert type(model.optimizer).__name__ == info["optimizer"]
    assert model.optimizer.iterations == info["iterations"]
    ref_opt = _load_npz(workdir / f"k3_{backend}_{name}_opt.npz")
    got_opt = optimizer_arrays(model.optimizer, model.trainable_weights, "keras3")
    assert len(got_opt) == len(ref_opt)
    for a, b in zip(got_opt, ref_opt):
        np.testing.assert_array_equal(
            np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        )
    fresh = keras_v3.load(workdir / f"ours_{name}.keras")
    keras_v3.load_weights(fresh, workdir / f"k3_{backend}_{name}.weights.h5")
    for a, b in zip(fresh.weights, ref_w):
        np.testing.assert_array_equal(a.value, b)
    assert fresh.optimizer is not None
    assert fresh.optimizer.iterations == info["iterations"]
    with np.load(workdir / f"k3_{backend}_{name}_io.npz") as z:
        xs = [z[k] for k in sorted(k for k in z.files if k.startswith("x"))]
        ys = [z[k] for k in sorted(k for k in z.files if k.startswith("y"))]
    got = _outputs(model.predict(xs if len(xs) > 1 else xs[0]))
    for g, y in zip(got, ys):
        assert np.max(np.abs(g - y)) < 1e-4 * max(float(np.max(np.abs(y))), 1e-6)


@pytest.mark.parametrize("name", K2_TARGET)
def test_tf_keras_loads_our_keras2_target(
    results: dict[str, Any], ours: list[dict[str, Any]], name: str
) -> None:
    res = results["tensorflow"]["results"][name]
    assert "error" not in res, res.get("trace", res)
    assert res["weights_equal"], res
    for out in res["outputs"]:
        assert out["max_diff"] < 1e-4 * max(out["scale"], 1e-6), res["outputs"]
    case = _case(ours, name)
    if case["optimizer"]:
        assert res["compiled"] and res["warnings"] == []
        assert res["optimizer_class"] == case["optimizer_class"]
        assert res["optimizer_equal"], res
        assert res["iterations"] == case["iterations"]
        assert res["iterations_after_fit"] == case["iterations"] + 1


def test_we_read_tf_keras_file(ours: list[dict[str, Any]], workdir: Path) -> None:
    """A compiled, trained model tf_keras saved as .keras: weights, Adam state, predictions."""
    model = keras_v3.load(workdir / "k2_written.keras")
    ref_w = _load_npz(workdir / "k2_written_weights.npz")
    assert [v.value.shape for v in model.weights] == [w.shape for w in ref_w]
    for a, b in zip(model.weights, ref_w):
        np.testing.assert_array_equal(a.value, b)
    assert model.optimizer is not None and type(model.optimizer).__name__ == "Adam"
    ref_opt = _load_npz(workdir / "k2_written_opt.npz")
    got = optimizer_arrays(model.optimizer, model.trainable_weights, "keras2")
    assert len(got) == len(ref_opt)
    for a, b in zip(got, ref_opt):
        np.testing.assert_array_equal(a, b)
    with np.load(workdir / "k2_written_io.npz") as z:
        x, y = z["x0"], z["y0"]
    assert np.max(np.abs(model.predict(x) - y)) < 1e-4 * max(float(np.max(np.abs(y))), 1e-6)


def test_our_config_is_keras3_dialect(workdir: Path, ours: list[dict[str, Any]]) -> None:
    """The tf_keras-born MobileNetV2 is written in the Keras 3 dialect only."""
    for name in ("mnv2_k2", "ops_k2"):
        config, metadata = keras_v3.read_archive(workdir / f"ours_{name}.keras")
        text = json.dumps(config)
        assert "batch_input_shape" not in text and "tf_keras" not in text
        assert "TFOpLambda" not in text
    assert metadata == {"keras_version": "3.15.1", "date_saved": "1980-01-01@00:00:00"}


def test_slash_names_renamed(workdir: Path, ours: list[dict[str, Any]]) -> None:
    """``block/out`` is written as ``block_out``, ``block/dense`` (taken: ``block_dense``) as
    ``block_dense_1``; our reader loads it with the same predictions (Keras 3: above)."""
    config, _ = keras_v3.read_archive(workdir / "ours_slash.keras")
    names = [la["config"]["name"] for la in config["config"]["layers"]]
    assert "/" not in json.dumps(config)
    assert names[1:] == ["block_dense_1", "block_dense", "block_out"]
    model = keras_v3.load(workdir / "ours_slash.keras")
    assert [la.name for la in model.layers][1:] == names[1:]
    with np.load(workdir / "ours_slash_io.npz") as z:
        x, y = z["x0"], z["y0"]
    assert np.max(np.abs(model.predict(x) - y)) < 1e-5
