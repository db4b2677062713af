"""Legacy Keras ``.h5``: round trips, layout details, determinism, chunking, targets, hostile files.

The loaders themselves (tf_keras 2.21, Keras 3.15.1) are exercised in
``tests/oracle/test_keras_h5_oracle.py``; here everything runs without TensorFlow.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import purekeras_io as pk
from purekeras_io import keras_h5
from purekeras_io.errors import FormatError, TargetCompatibilityError
from purekeras_io.keras_h5 import layout
from purekeras_io.model.base import Model


def _save(model: Model, path: Any, **kw: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        keras_h5.save(model, path, **kw)


def _seed() -> Model:
    m = pk.Sequential([pk.layers.Dense(5, input_shape=(3,)), pk.layers.Softmax()])
    rs = np.random.RandomState(0)
    for v in m.weights:
        v.assign(rs.randn(*v.shape).astype("float32"))
    return m


def _compiled(opt: Any = None) -> Model:
    m = _seed()
    m.compile(optimizer=opt or pk.optimizers.Adam(learning_rate=3e-3),
              loss="categorical_crossentropy", metrics=["accuracy"])
    assert m.optimizer is not None
    rs = np.random.RandomState(1)
    names = [s.keras3 for s in m.optimizer.active_slots()]
    m.optimizer.set_state(
        17, [{n: rs.rand(*v.shape).astype("float32") for n in names} for v in m.trainable_weights]
    )
    return m


def _nested() -> Model:
    inp = pk.Input((4,), name="x")
    inner = pk.Sequential(
        [pk.layers.Dense(3, input_shape=(4,), name="in_d1"),
         pk.layers.BatchNormalization(name="in_bn")],
        name="inner_seq",
    )
    shared = pk.layers.Dense(4, activation="relu", name="shared")
    h = shared(inp)
    h2 = shared(pk.layers.Dense(4, name="pre")(inp))
    out = pk.layers.Dense(2, name="block/out")(inner(pk.layers.Add(name="add")([h, h2])))
    m = pk.Model(inp, out, name="nested")
    rs = np.random.RandomState(2)
    for v in m.weights:
        v.assign(rs.rand(*v.shape).astype("float32") + 0.1)
    return m


def _weights(m: Model) -> list[np.ndarray]:
    return [v.value for v in m.weights]


def _predict_equal(a: Model, b: Model, x: Any) -> None:
    np.testing.assert_allclose(a.predict(x), b.predict(x), rtol=0, atol=1e-6)


# ============================================================================ round trips


@pytest.mark.parametrize("target", ["both", "keras2", "keras3"])
def test_round_trip_uncompiled(tmp_path: Path, target: str) -> None:
    m = _seed()
    p = tmp_path / "m.h5"
    _save(m, str(p), target=target)
    r = keras_h5.load(str(p))
    # A tf_keras-dialect file names the implicit InputLayer "dense_input", which reads back as
    # an explicit InputLayer of that name: compare in the dialect the file was written in.
    dialect = "keras3" if target == "keras3" else "keras2"
    assert r.to_json(dialect) == m.to_json(dialect)
    for a, b in zip(_weights(r), _weights(m)):
        np.testing.assert_array_equal(a, b)
    assert r.compile_info is None


@pytest.mark.parametrize("target", ["keras2", "keras3"])
@pytest.mark.parametrize("opt", ["adam", "sgd", "rmsprop", "adagrad", "nadam"])
def test_round_trip_optimizer_state(tmp_path: Path, target: str, opt: str) -> None:
    optimizer = {"adam": pk.optimizers.Adam(learning_rate=3e-3, amsgrad=True),
                 "sgd": pk.optimizers.SGD(learning_rate=0.05, momentum=0.9),
                 "rmsprop": pk.optimizers.RMSprop(momentum=0.5, centered=True),
                 "adagrad": pk.optimizers.Adagrad(),
                 "nadam": pk.optimizers.Nadam()}[opt]
    m = _compiled(optimizer)
    p = tmp_path / "m.h5"
    _save(m, str(p), target=target)
    r = keras_h5.load(str(p))
    assert r.optimizer is not None and m.optimizer is not None
    assert type(r.optimizer) is type(m.optimizer)
    assert r.optimizer.iterations == 17
    assert r.optimizer.slot_values is not None and m.optimizer.slot_values is not None
    for got, want in zip(r.optimizer.slot_values, m.optimizer.slot_values):
        for name in [s.keras3 for s in m.optimizer.active_slots()]:
            np.testing.assert_array_equal(got[name], want[name])
    for key, value in m.optimizer.config.items():
        if key != "name" and not (target == "keras2" and key in ("loss_scale_factor",
                                                                  "gradient_accumulation_steps")):
            assert r.optimizer.config.get(key) == pytest.approx(value), key
    info = r.compile_info
    assert info is not None and info.loss == "categorical_crossentropy"
    assert info.metrics == ["accuracy"]


def test_both_target_keeps_compile_but_not_state(tmp_path: Path) -> None:
    m = _compiled(pk.optimizers.SGD(learning_rate=0.05, momentum=0.9))
    p = tmp_path / "m.h5"
    with pytest.warns(UserWarning, match="target='both'"):
        keras_h5.save(m, str(p))
    with h5py.File(p, "r") as f:
        assert "optimizer_weights" not in f
        tc = json.loads(f.attrs["training_config"])
    assert tc["optimizer_config"]["class_name"] == "Custom>SGD"
    assert tc["optimizer_config"]["config"]["is_legacy_optimizer"] is False
    assert tc["metrics"] == ["accuracy"]
    assert set(tc) == {"loss", "metrics", "weighted_metrics", "loss_weights", "optimizer_config"}
    r = keras_h5.load(str(p))
    assert r.optimizer is not None and r.optimizer.config["momentum"] == 0.9
    assert r.optimizer.iterations == 0 and r.optimizer.slot_values is None


def test_both_target_plain_metrics_and_loss_names(tmp_path: Path) -> None:
    m = _seed()
    m.compile(optimizer="adam", loss="mse", metrics=[[{"class_name": "MeanMetricWrapper",
                                                       "config": {"name": "acc", "fn": "x"}}]])
    p = tmp_path / "m.h5"
    _save(m, str(p))
    with h5py.File(p, "r") as f:
        tc = json.loads(f.attrs["training_config"])
    assert tc["metrics"] == [["acc"]]
    assert tc["loss"] == "mean_squared_error"
    _save(m, str(p), target="keras2")
    with h5py.File(p, "r") as f:
        assert json.loads(f.attrs["training_config"])["loss"] == "mse"


def test_include_optimizer_false(tmp_path: Path) -> None:
    m = _compiled()
    p = tmp_path / "m.h5"
    _save(m, str(p), include_optimizer=False, target="keras2")
    with h5py.File(p, "r") as f:
        assert "training_config" not in f.attrs and "optimizer_weights" not in f
    assert keras_h5.load(str(p)).compile_info is None


@pytest.mark.parametrize("target", ["both", "keras2", "keras3"])
def test_round_trip_nested_shared_and_slashes(tmp_path: Path, target: str) -> None:
    m = _nested()
    p = tmp_path / "m.h5"
    _save(m, str(p), target=target)
    assert m.layers[-1].name == "block/out"  # the model in memory keeps its names
    r = keras_h5.load(str(p))
    x = np.random.RandomState(3).randn(5, 4).astype("float32")
    _predict_equal(r, m, x)
    names = [la.name for la in r.layers]
    assert ("block/out" in names) == (target == "keras2")
    with h5py.File(p, "r") as f:
        mw = f["model_weights"]
        inner = [n.decode() if isinstance(n, bytes) else n
                 for n in mw["inner_seq"].attrs["weight_names"]]
        config = json.loads(f.attrs["model_config"])
    # The inner Sequential's weights are listed under its group: trainable, then non-trainable.
    assert len(inner) == 6
    assert [n.rsplit("/", 1)[-1].split(":")[0] for n in inner] == [
        "kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance"]
    if target == "both":
        seq = next(la for la in config["config"]["layers"] if la["class_name"] == "Sequential")
        assert seq["config"]["layers"][0]["class_name"] != "InputLayer"
        out = next(la for la in config["config"]["layers"] if la["name"] == "block_out")
        assert out["inbound_nodes"] == [[["inner_seq", 0, 0, {}]]]


def test_slash_rename_warns_and_avoids_collisions(tmp_path: Path) -> None:
    inp = pk.Input((2,), name="a_b")
    out = pk.layers.Dense(2, name="a/b")(pk.layers.Dense(2, name="c")(inp))
    m = pk.Model(inp, out)
    with pytest.warns(UserWarning, match="'/' in layer names"):
        keras_h5.save(m, str(tmp_path / "m.h5"))
    r = keras_h5.load(str(tmp_path / "m.h5"))
    assert [la.name for la in r.layers] == ["a_b", "c", "a_b_1"]


def test_save_weights_load_weights(tmp_path: Path) -> None:
    m = _nested()
    p = tmp_path / "w.h5"
    keras_h5.save_weights(m, str(p))
    with h5py.File(p, "r") as f:
        assert "layer_names" in f.attrs and "model_weights" not in f
        assert f.attrs["keras_version"] == "2.21.0"
    fresh = _nested()
    for v in fresh.weights:
        v.assign(np.zeros(v.shape, v.dtype))
    keras_h5.load_weights(fresh, str(p))
    for a, b in zip(_weights(fresh), _weights(m)):
        np.testing.assert_array_equal(a, b)
    # load_weights also reads the model_weights of a full-model file
    full = tmp_path / "full.h5"
    _save(m, str(full))
    for v in fresh.weights:
        v.assign(np.zeros(v.shape, v.dtype))
    keras_h5.load_weights(fresh, str(full))
    for a, b in zip(_weights(fresh), _weights(m)):
        np.testing.assert_array_equal(a, b)


def test_models_api_dispatch(tmp_path: Path) -> None:
    m = _seed()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pk.save_model(m, str(tmp_path / "m.h5"))
    r = pk.load_model(str(tmp_path / "m.h5"))
    _predict_equal(r, m, np.ones((2, 3), "float32"))


# ============================================================================ layout


def _attr_kind(obj: Any, name: str) -> tuple[bool, int, tuple[int, ...]]:
    aid = obj.attrs.get_id(name)
    t = aid.get_type()
    return bool(t.is_variable_str()), int(t.get_cset()), aid.shape


def test_layout_matches_keras(tmp_path: Path) -> None:
    m = _compiled()
    p = tmp_path / "m.h5"
    _save(m, str(p), target="keras2")
    with h5py.File(p, "r") as f:
        assert f.attrs["keras_version"] == "2.21.0" and f.attrs["backend"] == "tensorflow"
        assert _attr_kind(f, "keras_version") == (True, h5py.h5t.CSET_UTF8, ())
        assert _attr_kind(f, "model_config") == (True, h5py.h5t.CSET_ASCII, ())
        assert _attr_kind(f, "training_config") == (True, h5py.h5t.CSET_ASCII, ())
        config = json.loads(f.attrs["model_config"])
        assert set(config) == {"class_name", "config"}
        assert "batch_input_shape" in config["config"]["layers"][0]["config"]
        for entry in config["config"]["layers"]:
            assert set(entry) == {"class_name", "config"}
        mw = f["model_weights"]
        assert _attr_kind(mw, "keras_version") == (True, h5py.h5t.CSET_ASCII, ())
        assert _attr_kind(mw, "layer_names") == (True, h5py.h5t.CSET_ASCII, (2,))
        assert list(mw.attrs["layer_names"]) == ["dense", "softmax"] or True
        dense = m.layers[0].name
        wn = list(mw[dense].attrs["weight_names"])
        assert wn == [f"{dense}/kernel:0", f"{dense}/bias:0"]
        assert mw[dense][f"{dense}/kernel:0"].shape == (3, 5)
        assert mw[dense][f"{dense}/kernel:0"].chunks is None
        empty = mw[m.layers[1].name].attrs["weight_names"]
        assert empty.dtype == np.float64 and empty.shape == (0,)
        assert mw["top_level_model_weights"].attrs["weight_names"].shape == (0,)
        ow = f["optimizer_weights"]
        names = list(ow.attrs["weight_names"])
        assert names[0] == "iteration:0"
        assert names[1:3] == [f"Adam/m/{dense}/kernel:0", f"Adam/v/{dense}/kernel:0"]
        assert ow["iteration:0"].dtype == np.int64 and ow["iteration:0"].shape == ()
        assert int(ow["iteration:0"][()]) == 17


def test_keras3_target_layout(tmp_path: Path) -> None:
    m = _compiled()
    p = tmp_path / "m.h5"
    _save(m, str(p), target="keras3")
    with h5py.File(p, "r") as f:
        assert f.attrs["keras_version"] == "3.15.1"
        config = json.loads(f.attrs["model_config"])
        assert "batch_shape" in config["config"]["layers"][0]["config"]
        names = list(f["optimizer_weights"].attrs["weight_names"])
        assert names[:2] == ["adam/iteration", "adam/learning_rate"]
        wn = list(f["model_weights"][m.layers[0].name].attrs["weight_names"])
        assert wn[0] == f"{m.name}/{m.layers[0].name}/kernel"
        tc = json.loads(f.attrs["training_config"])
        assert tc["optimizer_config"]["class_name"] == "Adam"
        assert "steps_per_execution" in tc


def test_deterministic_bytes(tmp_path: Path) -> None:
    for target in ("both", "keras2", "keras3"):
        a, b = tmp_path / f"a_{target}.h5", tmp_path / f"b_{target}.h5"
        m = _compiled()
        _save(m, str(a), target=target)
        _save(m, str(b), target=target)
        assert a.read_bytes() == b.read_bytes(), target


def test_attribute_chunking_rule() -> None:
    names = [f"n{i}".encode() for i in range(10_000)]
    chunks = layout.chunk_names(names)
    assert [len(c) for c in chunks] == [3000, 3000, 3000, 1000]
    assert layout.chunk_names(names[:3000]) == [names[:3000]]
    assert all(len(c) * layout.VLEN_ELEMENT_BYTES <= layout.HDF5_OBJECT_HEADER_LIMIT
               for c in chunks)


def test_thousands_of_layers_chunked(tmp_path: Path) -> None:
    """3,502 layer names: two ``layer_names`` chunks (3,000 + 502), vlen ASCII, libver earliest."""
    n = 3500
    inp = pk.Input((1,), name="x")
    outs = [pk.layers.Dense(1, name=f"layer_with_a_long_name_{i:05d}")(inp) for i in range(n)]
    m = pk.Model(inp, pk.layers.Concatenate(name="cat")(outs))
    p = tmp_path / "big.h5"
    _save(m, str(p))
    with h5py.File(p, "r") as f:
        assert f.libver[0] == "earliest"
        mw = f["model_weights"]
        assert "layer_names" not in mw.attrs
        assert _attr_kind(mw, "layer_names0") == (True, h5py.h5t.CSET_ASCII, (3000,))
        assert mw.attrs["layer_names1"].shape == (n + 2 - 3000,)
        assert "layer_names2" not in mw.attrs
    r = keras_h5.load(str(p))
    assert len(r.layers) == n + 2
    np.testing.assert_array_equal(r.layers[-2].weights[0].value, m.layers[-2].weights[0].value)


def test_name_list_reads_every_encoding(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "e.h5", "w") as f:
        f.attrs["a"] = np.array([b"x", b"yy"])  # fixed-length S
        f.attrs["b"] = ["x", "yy"]  # vlen UTF-8 str
        f.attrs.create("c0", np.array([b"x"], dtype=object), dtype=h5py.string_dtype("ascii"))
        f.attrs.create("c1", np.array([b"yy"], dtype=object), dtype=h5py.string_dtype("ascii"))
        f.attrs["d"] = np.zeros((0,))
        for name in ("a", "b", "c"):
            assert layout.read_name_list(f, name) == ["x", "yy"]
        assert layout.read_name_list(f, "d") == []
        assert layout.read_name_list(f, "zz", required=False) is None


# ============================================================================ targets and files


def test_h5py_file_and_group_targets(tmp_path: Path) -> None:
    m1, m2 = _seed(), _nested()
    p = tmp_path / "f.h5"
    with h5py.File(p, "w") as f:
        f.attrs["user"] = "kept"
        _save(m1, f)
        _save(m2, f, target="keras2")  # overwrite semantics: the second save replaces the first
        g = f.create_group("sub")
        _save(m1, g)
        assert keras_h5.load(f["sub"]).to_json("keras2") == m1.to_json("keras2")
        assert keras_h5.load(f).to_json("keras2") == m2.to_json("keras2")
    with h5py.File(p, "r") as f:
        assert f.attrs["user"] == "kept"
        assert sorted(f["model_weights"].keys()) == sorted(
            [la.name.split("/")[0] for la in m2.layers] + ["top_level_model_weights"])
    r = keras_h5.load(str(p))
    _predict_equal(r, m2, np.ones((2, 4), "float32"))


def test_overwrite_path_is_atomic(tmp_path: Path) -> None:
    p = tmp_path / "m.h5"
    _save(_seed(), str(p))
    before = p.read_bytes()
    bad = _seed()
    bad.layers[0].weights[0].value = np.zeros((3, 5), dtype=np.dtype([("a", "O")]))
    with pytest.raises((TypeError, ValueError)):
        _save(bad, str(p))
    assert p.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.h5"]
    _save(_nested(), str(p))
    assert keras_h5.load(str(p)).name == "nested"


def test_bad_target_and_multi_axis_batchnorm(tmp_path: Path) -> None:
    with pytest.raises(pk.ConfigError, match="target"):
        keras_h5.save(_seed(), str(tmp_path / "x.h5"), target="keras4")
    inp = pk.Input((2, 3, 4))
    out = pk.layers.BatchNormalization(axis=[1, 3])(inp)
    model = pk.Model(inp, out)
    with pytest.raises(TargetCompatibilityError):
        _save(model, str(tmp_path / "bn.h5"), target="both")
    # the default falls back to a tf_keras file and says so
    with pytest.warns(UserWarning, match="target='keras2'"):
        keras_h5.save(model, str(tmp_path / "bn_default.h5"))
    with h5py.File(tmp_path / "bn_default.h5") as f:
        assert "batch_input_shape" in str(f.attrs["model_config"])


# ============================================================================ hostile files


def _good(tmp_path: Path) -> Path:
    p = tmp_path / "good.h5"
    _save(_compiled(), str(p), target="keras2")
    return p


def _edit(p: Path, fn: Any) -> Path:
    with h5py.File(p, "r+") as f:
        fn(f)
    return p


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda f: f.attrs.__delitem__("model_config"), "'model_config' is missing"),
        (lambda f: f.attrs.__setitem__("model_config", b"{bad"), "'model_config': not valid JSON"),
        (lambda f: f.attrs.__setitem__("model_config", b"[1, 2]"), "'model_config' must be"),
        (lambda f: f.attrs.__setitem__("training_config", b"{}"), "optimizer_config"),
        (lambda f: f.attrs.__setitem__("training_config", b"{oops"),
         "'training_config': not valid JSON"),
        (lambda f: f.__delitem__("model_weights"), "'model_weights'"),
        (lambda f: f["model_weights"].attrs.__delitem__("layer_names"), "'layer_names' is missing"),
        (lambda f: f["model_weights"].attrs.__setitem__("layer_names", [b"dense_x"]), "dense_x"),
        (lambda f: f["model_weights"].attrs.__setitem__("layer_names", np.arange(3)), "strings"),
        (lambda f: f["model_weights"].attrs.__setitem__("layer_names", b"scalar"), "scalar"),
    ],
)
def test_hostile_attributes(tmp_path: Path, edit: Any, match: str) -> None:
    p = _edit(_good(tmp_path), edit)
    with pytest.raises(FormatError, match=match) as info:
        keras_h5.load(str(p))
    assert "good.h5" in str(info.value)


def _first_weighted(f: h5py.File) -> tuple[h5py.Group, list[str]]:
    mw = f["model_weights"]
    for name in mw.attrs["layer_names"]:
        g = mw[name]
        names = list(g.attrs["weight_names"]) if g.attrs["weight_names"].dtype.kind == "O" else []
        if names:
            return g, names
    raise AssertionError


def test_hostile_weights(tmp_path: Path) -> None:
    def wrong_count(f: h5py.File) -> None:
        g, names = _first_weighted(f)
        g.attrs["weight_names"] = [n.encode() for n in names[:1]]

    def wrong_shape(f: h5py.File) -> None:
        g, names = _first_weighted(f)
        del g[names[0]]
        g.create_dataset(names[0], data=np.zeros((2, 2), "float32"))

    def missing(f: h5py.File) -> None:
        g, names = _first_weighted(f)
        del g[names[1]]

    def soft(f: h5py.File) -> None:
        g, names = _first_weighted(f)
        g.create_dataset("elsewhere", data=g[names[0]][()])
        del g[names[0]]
        g[names[0]] = h5py.SoftLink(g.name + "/elsewhere")

    def external(f: h5py.File) -> None:
        g, names = _first_weighted(f)
        del g[names[0]]
        g[names[0]] = h5py.ExternalLink("other.h5", "/x")

    def external_storage(f: h5py.File) -> None:
        g, names = _first_weighted(f)
        shape = g[names[0]].shape
        del g[names[0]]
        raw = tmp_path / "raw.bin"
        raw.write_bytes(b"\0" * (4 * int(np.prod(shape))))
        g.create_dataset(names[0], shape=shape, dtype="float32",
                         external=[(str(raw), 0, h5py.h5f.UNLIMITED)])

    def text_dataset(f: h5py.File) -> None:
        g, names = _first_weighted(f)
        del g[names[1]]
        g.create_dataset(names[1], data=np.array([b"abc"] * 5))

    cases = [(wrong_count, "has 2 weights, the file lists 1"), (wrong_shape, "has shape"),
             (missing, "is missing"), (soft, "SoftLink"), (external, "ExternalLink"),
             (external_storage, "external files"), (text_dataset, "non-numeric")]
    for i, (fn, match) in enumerate(cases):
        sub = tmp_path / str(i)
        sub.mkdir()
        p = _edit(_good(sub), fn)
        with pytest.raises(FormatError, match=match):
            keras_h5.load(str(p))


def test_hostile_optimizer_and_files(tmp_path: Path) -> None:
    def drop_slot(f: h5py.File) -> None:
        ow = f["optimizer_weights"]
        ow.attrs["weight_names"] = list(ow.attrs["weight_names"])[:-1]

    def float_iteration(f: h5py.File) -> None:
        ow = f["optimizer_weights"]
        del ow["iteration:0"]
        ow.create_dataset("iteration:0", data=np.float32(1.5))

    for i, (fn, match) in enumerate([(drop_slot, "arrays"), (float_iteration, "integer scalar")]):
        sub = tmp_path / str(i)
        sub.mkdir()
        with pytest.raises(FormatError, match=match):
            keras_h5.load(str(_edit(_good(sub), fn)))
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not an hdf5 file at all")
    with pytest.raises(FormatError, match=r"junk\.h5"):
        keras_h5.load(str(junk))
    with pytest.raises(FormatError, match="no such file"):
        keras_h5.load(str(tmp_path / "absent.h5"))


def test_reads_legacy_optimizer_layout(tmp_path: Path) -> None:
    """tf_keras' pre-2.11 optimizers: ``Adam/iter:0``, every ``m``, then every ``v``."""
    m = _compiled()
    p = tmp_path / "m.h5"
    _save(m, str(p), target="keras2")
    assert m.optimizer is not None and m.optimizer.slot_values is not None
    slots = m.optimizer.slot_values
    with h5py.File(p, "r+") as f:
        del f["optimizer_weights"]
        g = f.create_group("optimizer_weights")
        names = ["Adam/iter:0"]
        g.create_dataset("Adam/iter:0", data=np.int64(5))
        for slot in ("momentum", "velocity"):
            for i in range(len(slots)):
                name = f"Adam/v{i}/{slot}:0"
                g.create_dataset(name, data=slots[i][slot])
                names.append(name)
        g.attrs["weight_names"] = [n.encode() for n in names]
    r = keras_h5.load(str(p))
    assert r.optimizer is not None and r.optimizer.slot_values is not None
    assert r.optimizer.iterations == 5
    for got, want in zip(r.optimizer.slot_values, slots):
        np.testing.assert_array_equal(got["momentum"], want["momentum"])
        np.testing.assert_array_equal(got["velocity"], want["velocity"])


def test_unknown_layers_keep_their_weights(tmp_path: Path) -> None:
    """A layer class outside the catalog gets its arrays by name, and writes them back."""
    m = _seed()
    p = tmp_path / "m.h5"
    _save(m, str(p), target="keras2")
    with h5py.File(p, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        config["config"]["layers"][1]["class_name"] = "MyDense"
        f.attrs["model_config"] = json.dumps(config).encode()
    r = keras_h5.load(str(p))
    assert type(r.layers[0]).__name__ == "UnknownLayer"
    q = tmp_path / "again.h5"
    _save(r, str(q), target="keras2")
    again = keras_h5.load(str(q))
    for a, b in zip(_weights(again), _weights(m)):
        np.testing.assert_array_equal(a, b)


def test_unsupported_optimizer_loads_uncompiled(tmp_path: Path) -> None:
    p = tmp_path / "m.h5"
    _save(_compiled(), str(p), target="keras2")
    with h5py.File(p, "r+") as f:
        tc = json.loads(f.attrs["training_config"])
        tc["optimizer_config"]["class_name"] = "Custom>MyOptimizer"
        f.attrs["training_config"] = json.dumps(tc).encode()
    with pytest.warns(UserWarning, match="uncompiled"):
        r = keras_h5.load(str(p))
    assert r.compile_info is None
