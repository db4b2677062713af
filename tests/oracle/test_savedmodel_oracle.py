"""Keras SavedModel directories against tf_keras 2.21 / TF 2.21 (savedmodel.md), ONE oracle process.

``savedmodel_check.py`` first makes reference files with tf_keras / Keras 3, then calls back into
this interpreter (:func:`host_step`: MobileNetV2 configs → our SavedModels; tf_keras' SavedModels
→ our reader), then checks every SavedModel we wrote:

* ``tf_keras.models.load_model`` gives the same class, the same layer names and our predictions
  (max abs diff < 1e-4 · max|out|); ``tf.saved_model.load`` opens it;
* compiled models come back compiled with ``iterations`` and every optimizer slot equal to what we
  wrote, and train one step;
* SavedModels tf_keras wrote (the seed model, a compiled CNN with BatchNorm) read back with our
  ``load`` with equal weights, predictions, compile information and optimizer state.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import purekeras_io as pk
from purekeras_io import savedmodel
from purekeras_io.model.base import Model
from purekeras_io.savedmodel.optimizer_state import keras2_slot_order

pytestmark = pytest.mark.oracle

L = pk.layers
REL_TOL = 1e-4
# SavedModels tf_keras writes in the oracle (name → optimizer class when compiled).
TF_WRITTEN = {"tf_seed": None, "tf_built": None, "tf_cnn": "Adam", "tf_multi": "RMSprop"}


# ============================================================================ our models


def _seed() -> tuple[Model, list[np.ndarray]]:
    m = pk.Sequential([L.Dense(5, input_shape=(3,)), L.Softmax()])
    return m, [np.random.RandomState(1).rand(10, 3).astype("float32")]


def _seed_adam() -> tuple[Model, list[np.ndarray]]:
    m, xs = _seed()
    m.compile(pk.optimizers.Adam(learning_rate=0.01), "categorical_crossentropy", metrics=["mae"])
    return m, xs


def _bn_stats(model: Model, seed: int) -> None:
    rng = np.random.RandomState(seed)
    for layer in model.iter_layers():
        for var in layer.weights:
            if var.name in ("moving_mean", "moving_variance", "gamma", "beta"):
                base = 0.5 if var.name == "moving_variance" else 0.0
                noise = rng.rand(*var.shape) if base else rng.randn(*var.shape) * 0.1
                var.assign(base + noise)


def _cnn_sgd() -> tuple[Model, list[np.ndarray]]:
    x = pk.Input((8, 8, 3), name="img")
    y = L.Conv2D(3, 3, padding="same", name="conv")(x)
    y = L.BatchNormalization(name="bn")(y)
    y = L.ReLU(name="relu")(y)
    y = L.Add(name="add")([y, x])
    y = L.GlobalAveragePooling2D(name="gap")(y)
    y = L.Dropout(0.5, name="drop")(y)
    y = L.Dense(2, name="out")(y)
    m = pk.Model(x, y, name="cnn")
    _bn_stats(m, 3)
    m.get_layer("conv").trainable = False  # frozen: no slots, still restored
    m.compile(pk.optimizers.SGD(learning_rate=0.01, momentum=0.9), "mse")
    return m, [np.random.RandomState(2).randn(4, 8, 8, 3).astype("float32")]


def _pool_merge() -> tuple[Model, list[np.ndarray]]:
    x = pk.Input((16, 16, 3), name="x")
    a = L.Conv2D(4, 3, activation="relu", name="c1")(x)
    a = L.MaxPooling2D(name="mp")(a)
    b = L.SeparableConv2D(4, 3, padding="same", name="sep")(a)
    b = L.DepthwiseConv2D(3, padding="same", name="dw")(b)
    c = L.AveragePooling2D(name="ap")(L.Concatenate(name="cat")([a, b]))
    c = L.Multiply(name="mul")([c, c])
    # a nested Functional block (its InputLayer is its layer-0)
    bin_ = pk.Input((3, 3, 8), name="block_in")
    bout = L.Conv2D(2, 1, activation="relu", name="block_conv")(bin_)
    block = pk.Model(bin_, L.BatchNormalization(name="block_bn")(bout), name="block")
    c = block(c)
    y = L.Dense(3, activation="softmax", name="head")(L.Flatten(name="flat")(c))
    m = pk.Model(x, y)
    _bn_stats(m, 9)
    return m, [np.random.RandomState(4).rand(3, 16, 16, 3).astype("float32")]


def _multi_io() -> tuple[Model, list[np.ndarray]]:
    inner = pk.Sequential([L.Dense(3, input_shape=(5,), name="in_d1"), L.Dense(2, name="in_d2")],
                          name="inner")
    a = pk.Input((5,), name="a")
    b = pk.Input((5,), name="b")
    shared = L.Dense(5, activation="tanh", name="shared")
    y1 = inner(shared(a))
    y2 = inner(shared(b))
    z = L.Concatenate(name="cat")([y1, y2])
    o1 = L.Dense(1, name="o1")(z)
    o2 = L.Dense(2, activation="softmax", name="o2")(y2)
    m = pk.Model([a, b], [o1, o2], name="multi")
    m.compile(pk.optimizers.Adam(learning_rate=0.002), "mse")
    rng = np.random.RandomState(5)
    return m, [rng.rand(6, 5).astype("float32"), rng.rand(6, 5).astype("float32")]


def _rnn() -> tuple[Model, list[np.ndarray]]:
    x = pk.Input((6, 4), name="seq")
    y = L.LSTM(5, return_sequences=True, name="lstm")(x)
    y = L.Bidirectional(L.GRU(3, return_sequences=True), name="bidi")(y)
    y = L.TimeDistributed(L.Dense(2), name="td")(y)
    y = L.SimpleRNN(3, name="srnn")(y)
    m = pk.Model(x, L.Dense(1, name="out")(y))
    m.compile(pk.optimizers.RMSprop(learning_rate=0.001, momentum=0.5), "mse")
    return m, [np.random.RandomState(6).randn(3, 6, 4).astype("float32")]


def _transformer() -> tuple[Model, list[np.ndarray]]:
    tok = pk.Input((7,), dtype="int32", name="tok")
    e = L.Embedding(20, 8, name="emb")(tok)
    att = L.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(e, e)
    h = L.LayerNormalization(name="ln1")(L.Add(name="res1")([e, att]))
    f = L.Dense(8, name="ff2")(L.Dense(16, activation="relu", name="ff1")(h))
    h = L.LayerNormalization(name="ln2")(L.Add(name="res2")([h, f]))
    y = L.Dense(3, activation="softmax", name="cls")(L.GlobalAveragePooling1D(name="pool")(h))
    m = pk.Model(tok, y, name="tiny_transformer")
    return m, [np.random.RandomState(7).randint(0, 20, (4, 7)).astype("int32")]


def _misc() -> tuple[Model, list[np.ndarray]]:
    x = pk.Input((10, 3), name="x")
    norm = L.Normalization(axis=-1, name="norm")
    y = L.Conv1D(4, 3, name="c1")(norm(x))
    y = L.PReLU(name="prelu")(y)
    y = L.GroupNormalization(groups=2, name="gn")(y)
    y = L.Conv2DTranspose(2, 3, name="ct")(L.Reshape((8, 4, 1), name="rs")(y))
    y = L.EinsumDense("ab,bc->ac", output_shape=4, bias_axes="c", name="ed")(L.Flatten()(y))
    m = pk.Model(x, y, name="misc")
    rng = np.random.RandomState(8)
    norm.weights[0].assign(rng.randn(3).astype("float32"))
    norm.weights[1].assign((0.5 + rng.rand(3)).astype("float32"))
    for var in m.weights[3:]:
        var.assign(rng.randn(*var.shape).astype(var.value.dtype) * 0.3)
    return m, [rng.randn(2, 10, 3).astype("float32")]


OURS: dict[str, Callable[[], tuple[Model, list[np.ndarray]]]] = {
    "seed": _seed,
    "seed_adam": _seed_adam,
    "cnn_sgd": _cnn_sgd,
    "pool_merge": _pool_merge,
    "multi_io": _multi_io,
    "rnn": _rnn,
    "transformer": _transformer,
    "misc": _misc,
}


def _give_state(model: Model, seed: int) -> None:
    """Set iterations and distinct slot values, as if trained."""
    opt = model.optimizer
    assert opt is not None
    rng = np.random.RandomState(seed)
    trainable = model.trainable_weights
    opt.set_state(
        5 + seed,
        [{s.keras3: rng.rand(*v.shape).astype(v.value.dtype) for s in opt.active_slots()}
         for v in trainable],
    )


def _state_npz(model: Model, path: Path) -> None:
    opt = model.optimizer
    assert opt is not None and opt.slot_values is not None
    order = keras2_slot_order(opt, len(model.trainable_weights))
    data: dict[str, Any] = {"iterations": np.asarray(opt.iterations)}
    for j, (i, slot) in enumerate(order):
        data[f"opt{j}"] = opt.slot_values[i][slot.keras3]
    np.savez(path, **data)


def _ref_npz(model: Model, xs: list[np.ndarray], path: Path) -> None:
    out = model.predict(xs if len(xs) > 1 else xs[0])
    outs = out if isinstance(out, list) else [out]
    data: dict[str, Any] = {f"x{i}": x for i, x in enumerate(xs)}
    data.update({f"p{i}": np.asarray(p) for i, p in enumerate(outs)})
    np.savez(path, **data)


def _tracked_names(model: Model) -> list[str]:
    return [la.name for la in model.layers]


# ============================================================================ host step


def host_step(d: str) -> None:
    """Called back from the oracle process: configs → our SavedModels; tf_keras' → our reader."""
    root = Path(d)
    entries = []
    for tag in ("k2_mnv2", "k3_mnv2"):
        model = pk.models.model_from_json((root / f"{tag}.json").read_text())
        ref = np.load(root / f"{tag}.npz")
        for layer in model.layers:
            n = len(layer.weights)
            if n:
                layer.set_weights([ref[f"w/{layer.name}/{j}"] for j in range(n)])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            savedmodel.save(model, root / f"ours_{tag}")
        entries.append({
            "path": str(root / f"ours_{tag}"), "ref": str(root / f"{tag}.npz"),
            "class_name": "Functional", "layer_names": _tracked_names(model), "compiled": False,
        })
        ours = model.predict(ref["x0"])
        np.save(root / f"ourpred_{tag}.npy", np.asarray(ours))
    for tag in TF_WRITTEN:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = savedmodel.load(root / tag)
        ref = np.load(root / f"{tag}.npz")
        xs = [ref[k] for k in sorted(k for k in ref.files if k.startswith("x"))]
        data: dict[str, Any] = {"names": np.array(_tracked_names(model))}
        data["warnings"] = np.array([str(w.message) for w in caught] or [""])
        for layer in model.layers:
            for j, w in enumerate(layer.get_weights()):
                data[f"w/{layer.name}/{j}"] = w
        out = model.predict(xs if len(xs) > 1 else xs[0])
        for i, p in enumerate(out if isinstance(out, list) else [out]):
            data[f"p{i}"] = np.asarray(p)
        data["compiled"] = np.asarray(model.compile_info is not None)
        opt = model.optimizer
        if opt is not None:
            data["iterations"] = np.asarray(opt.iterations)
            if opt.slot_values is not None:
                order = keras2_slot_order(opt, len(model.trainable_weights))
                for j, (i, slot) in enumerate(order):
                    data[f"opt{j}"] = opt.slot_values[i][slot.keras3]
            data["optimizer"] = np.asarray(type(opt).__name__)
        np.savez(root / f"ourload_{tag}.npz", **data)
    (root / "host_entries.json").write_text(json.dumps(entries))


# ============================================================================ fixture


@pytest.fixture(scope="module")
def run(oracle: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("savedmodel_oracle")
    entries = []
    models: dict[str, Model] = {}
    for i, (name, build) in enumerate(OURS.items()):
        pk.clear_session()
        model, xs = build()
        if model.optimizer is not None:
            _give_state(model, i)
            _state_npz(model, d / f"{name}_state.npz")
        _ref_npz(model, xs, d / f"{name}_ref.npz")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            savedmodel.save(model, d / name)
        models[name] = model
        entries.append({
            "path": str(d / name), "ref": str(d / f"{name}_ref.npz"),
            "class_name": "Sequential" if isinstance(model, pk.Sequential) else "Functional",
            "layer_names": _tracked_names(model), "compiled": model.optimizer is not None,
            "state": str(d / f"{name}_state.npz"),
        })
    host_cmd = [
        sys.executable, "-c",
        "import runpy, sys; runpy.run_path(sys.argv[1])['host_step'](sys.argv[2])",
        __file__, str(d),
    ]
    out = oracle.run("savedmodel_check", {"dir": str(d), "entries": entries, "host_cmd": host_cmd})
    by_path = {Path(p).name: r for p, r in out["results"].items()}
    return {"dir": d, "out": out, "results": by_path, "entries": entries, "models": models}


# ============================================================================ tests


def test_host_step_ran(run: dict[str, Any]) -> None:
    assert run["out"]["host"]["returncode"] == 0, run["out"]["host"]["stderr"]
    assert set(run["out"]["made"]) == {*TF_WRITTEN, "k2_mnv2", "k3_mnv2"}


@pytest.mark.parametrize("name", [*OURS, "ours_k2_mnv2", "ours_k3_mnv2"])
def test_tf_keras_loads_ours(run: dict[str, Any], name: str) -> None:
    res = run["results"][name]
    assert res.get("tfk_ok"), res.get("tfk_error", "") + "\n" + res.get("tfk_trace", "")
    entries = [e for e in run["entries"] if Path(e["path"]).name == name]
    entry = entries[0] if entries else None
    want_class = entry["class_name"] if entry else "Functional"
    assert res["class_name"] == want_class
    if entry:
        assert res["layer_names"] == entry["layer_names"]
    assert res["pred_rel_diff"] < REL_TOL, res["pred_rel_diff"]


@pytest.mark.parametrize("name", [*OURS, "ours_k2_mnv2", "ours_k3_mnv2"])
def test_tf_saved_model_load_opens_ours(run: dict[str, Any], name: str) -> None:
    res = run["results"][name]
    assert res.get("tfsm_ok"), res.get("tfsm_error")


COMPILED = ["seed_adam", "cnn_sgd", "multi_io", "rnn"]


@pytest.mark.parametrize("name", COMPILED)
def test_optimizer_state_restored(run: dict[str, Any], name: str) -> None:
    res = run["results"][name]
    assert res.get("tfk_ok"), res.get("tfk_error")
    model = run["models"][name]
    assert res["compiled"]
    assert res["optimizer"] == type(model.optimizer).__name__
    assert res["iterations"] == res["want_iterations"] == model.optimizer.iterations
    assert res["n_slots"][0] == res["n_slots"][1] > 0
    assert res["slots_equal"]
    assert np.isfinite(res["fit_loss"])
    assert res["iterations_after_fit"] == res["iterations"] + 1


def test_mobilenet_ours_vs_original(run: dict[str, Any]) -> None:
    """Our NumPy forward pass of the configs agrees with the frameworks (sanity of the inputs)."""
    d = run["dir"]
    for tag in ("k2_mnv2", "k3_mnv2"):
        ref = np.load(d / f"{tag}.npz")
        ours = np.load(d / f"ourpred_{tag}.npy")
        scale = float(np.max(np.abs(ref["p0"])))
        assert float(np.max(np.abs(ours - ref["p0"]))) < 1e-3 * max(scale, 1e-6)


@pytest.mark.parametrize("tag", list(TF_WRITTEN))
def test_we_read_tf_keras_savedmodels(run: dict[str, Any], tag: str) -> None:
    d = run["dir"]
    ref = np.load(d / f"{tag}.npz")
    ours = np.load(d / f"ourload_{tag}.npz")
    assert list(ours["names"]) == list(ref["names"])
    assert list(ours["warnings"]) == [""]
    wkeys = [k for k in ref.files if k.startswith("w/")]
    assert wkeys and sorted(wkeys) == sorted(k for k in ours.files if k.startswith("w/"))
    for key in wkeys:
        np.testing.assert_array_equal(ours[key], ref[key], err_msg=key)
    pkeys = [k for k in ref.files if k.startswith("p")]
    assert pkeys and sorted(pkeys) == sorted(k for k in ours.files if k.startswith("p"))
    for key in pkeys:
        scale = float(np.max(np.abs(ref[key])))
        assert float(np.max(np.abs(ours[key] - ref[key]))) < REL_TOL * max(scale, 1e-6), key
    if TF_WRITTEN[tag]:
        assert bool(ours["compiled"])
        assert str(ours["optimizer"]) == TF_WRITTEN[tag]
        assert int(ours["iterations"]) == int(ref["iterations"]) == 1
        okeys = [k for k in ref.files if k.startswith("opt")]
        assert okeys
        for key in okeys:
            np.testing.assert_array_equal(ours[key], ref[key], err_msg=key)
    else:
        assert not bool(ours["compiled"])
