"""``.keras`` archives without the oracle: round trips, determinism, zip layout, hostile input."""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import h5py
import ml_dtypes
import numpy as np
import pytest

import purekeras_io as pk
from purekeras_io import keras_v3
from purekeras_io.errors import FormatError, UnsupportedFeatureError
from purekeras_io.keras_v3 import reader, zipstream
from purekeras_io.keras_v3.layout import layer_groups
from purekeras_io.keras_v3.optimizer_state import optimizer_arrays
from purekeras_io.model.base import Model

L = pk.layers


def _seed(compiled: bool = True) -> Model:
    pk.clear_session()
    m = pk.Sequential([L.Dense(5, input_shape=(3,)), L.Softmax()])
    rng = np.random.default_rng(0)
    m.set_weights([rng.normal(size=w.shape).astype("float32") for w in m.get_weights()])
    if compiled:
        m.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
        opt = m.optimizer
        assert opt is not None
        opt.set_state(
            5,
            [
                {
                    "momentum": np.full(v.shape, 0.25, "float32"),
                    "velocity": np.full(v.shape, 0.5, "float32"),
                }
                for v in m.trainable_weights
            ],
        )
    return m


def _conv() -> Model:
    pk.clear_session()
    inp = pk.Input((8, 8, 3), name="img")
    h = L.conv.Conv2D(4, 3, name="conv")(inp)
    h = L.normalization.BatchNormalization()(h)
    h = L.ReLU()(h)
    h = L.conv.Conv2D(4, 1, name="skip_conv")(h)
    h = L.pooling.GlobalAveragePooling2D()(h)
    out = L.Dense(2, name="head")(h)
    m = pk.Model(inp, out, name="convnet")
    rng = np.random.default_rng(1)
    for v in m.weights:
        v.assign(np.abs(rng.normal(size=v.shape)) + 0.1)
    m.compile(optimizer=pk.optimizers.SGD(learning_rate=0.1, momentum=0.9), loss="mse")
    return m


def _nested() -> Model:
    pk.clear_session()
    x = pk.Input((5, 4), name="x")
    h = L.rnn.Bidirectional(L.rnn.LSTM(3, return_sequences=True), name="bidi")(x)
    h = L.rnn.TimeDistributed(L.Dense(2), name="td")(h)
    h = L.reshaping.Flatten()(h)
    inner = pk.Sequential(
        [L.Dense(3, input_shape=(10,), name="in_d1"), L.Dense(3, name="in_d2")], name="inner_seq"
    )
    out = L.Dense(1, name="out")(inner(h))
    return pk.Model(x, out, name="nested")


def _weights_tree(path: Path | bytes) -> dict[str, Any]:
    data = path if isinstance(path, bytes) else zipfile.ZipFile(path).read("model.weights.h5")
    out: dict[str, Any] = {}
    with h5py.File(io.BytesIO(data), "r") as f:

        def visit(name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Dataset):
                out[name] = (obj.shape, str(obj.dtype))
            elif "vars" in name.rsplit("/", 1)[-1]:
                out[name] = obj.attrs.get("name")

        f.visititems(visit)
        out["vars"] = f["vars"].attrs.get("name")
    return out


# ---------------------------------------------------------------- round trips


def test_round_trip_compiled(tmp_path: Path) -> None:
    m = _seed()
    path = tmp_path / "m.keras"
    pk.save_model(m, path)
    m2 = pk.load_model(path)
    for a, b in zip(m.get_weights(), m2.get_weights()):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(3).random((4, 3), dtype=np.float32)
    np.testing.assert_array_equal(m.predict(x), m2.predict(x))
    assert m2.compile_info is not None and m2.optimizer is not None
    assert type(m2.optimizer).__name__ == "Adam"
    assert m2.optimizer.iterations == 5
    assert m2.compile_info.loss == "categorical_crossentropy"
    assert m2.compile_info.metrics == ["accuracy"]
    for a, b in zip(
        optimizer_arrays(m.optimizer, m.trainable_weights, "keras3"),  # type: ignore[arg-type]
        optimizer_arrays(m2.optimizer, m2.trainable_weights, "keras3"),
    ):
        np.testing.assert_allclose(a, b)


def test_round_trip_functional_and_nested(tmp_path: Path) -> None:
    for build in (_conv, _nested):
        m = build()
        path = tmp_path / f"{m.name}.keras"
        keras_v3.save(m, path)
        m2 = keras_v3.load(path)
        assert [v.shape for v in m2.weights] == [v.shape for v in m.weights]
        for a, b in zip(m.get_weights(), m2.get_weights()):
            np.testing.assert_array_equal(a, b)


def test_include_optimizer_false(tmp_path: Path) -> None:
    path = tmp_path / "m.keras"
    pk.save_model(_seed(), path, include_optimizer=False)
    config, _ = keras_v3.read_archive(path)
    assert config["compile_config"] == {}
    assert not any(k.startswith("optimizer") for k in _weights_tree(path))
    assert pk.load_model(path).compile_info is None


def test_save_format_keras_dispatch(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    pk.save_model(_seed(), path, save_format="keras")
    assert zipfile.is_zipfile(path)
    assert pk.load_model(path).optimizer is not None


def test_weights_h5_round_trip(tmp_path: Path) -> None:
    m = _conv()
    path = tmp_path / "w.weights.h5"
    m.save_weights(path)  # dispatched here by the .weights.h5 suffix
    tree = _weights_tree(path.read_bytes())
    assert tree["layers/conv2d/vars/0"] == ((3, 3, 3, 4), "float32")
    m2 = _conv()
    for v in m2.weights:
        v.assign(np.zeros(v.shape))
    m2.load_weights(path)
    for a, b in zip(m.get_weights(), m2.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(pk.ConfigError, match=r"weights\.h5"):
        keras_v3.save_weights(m, tmp_path / "w.h5")


def test_file_object_target(tmp_path: Path) -> None:
    buf = io.BytesIO()
    keras_v3.save(_seed(), buf)
    path = tmp_path / "m.keras"
    keras_v3.save(_seed(), path)
    assert buf.getvalue() == path.read_bytes()
    buf.seek(0)
    assert keras_v3.load(buf).optimizer is not None


class _Pipe(io.RawIOBase):
    """A write-only, non-seekable stream."""

    def __init__(self) -> None:
        super().__init__()
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.data += bytes(b)
        return len(b)


def test_non_seekable_target_same_bytes(tmp_path: Path) -> None:
    pipe = _Pipe()
    keras_v3.save(_seed(), pipe)
    path = tmp_path / "m.keras"
    keras_v3.save(_seed(), path)
    assert bytes(pipe.data) == path.read_bytes()


# ---------------------------------------------------------------- determinism and layout


def test_byte_determinism(tmp_path: Path) -> None:
    a, b = tmp_path / "a.keras", tmp_path / "b.keras"
    keras_v3.save(_conv(), a)
    keras_v3.save(_conv(), b)
    assert a.read_bytes() == b.read_bytes()
    keras_v3.save(_conv(), b, date_saved="2026-11-23@19:48:14")
    meta = json.loads(zipfile.ZipFile(b).read("metadata.json"))
    assert meta == {"keras_version": "3.15.1", "date_saved": "2026-11-23@19:48:14"}
    with pytest.raises(pk.ConfigError, match="date_saved"):
        keras_v3.save(_conv(), b, date_saved="yesterday")


def test_zip_layout_as_keras(tmp_path: Path) -> None:
    path = tmp_path / "m.keras"
    keras_v3.save(_seed(), path)
    zf = zipfile.ZipFile(path)
    assert zf.testzip() is None
    infos = zf.infolist()
    assert [i.filename for i in infos] == ["metadata.json", "config.json", "model.weights.h5"]
    for i in infos:
        assert i.compress_type == zipfile.ZIP_STORED
        assert i.date_time == (1980, 1, 1, 0, 0, 0)
        assert (i.flag_bits, i.create_system, i.create_version, i.extract_version) == (0, 3, 20, 20)
        assert i.external_attr == 0o600 << 16
        assert i.extra == b"" and i.comment == b""
    assert infos[0].header_offset == 0 and infos[1].header_offset == 107
    assert (
        zf.read("metadata.json")
        == b'{"keras_version": "3.15.1", "date_saved": "1980-01-01@00:00:00"}'
    )
    assert zf.comment == b""


def test_config_json_keras3(tmp_path: Path) -> None:
    path = tmp_path / "m.keras"
    keras_v3.save(_seed(), path)
    config, _ = keras_v3.read_archive(path)
    assert list(config) == [
        "module",
        "class_name",
        "config",
        "registered_name",
        "build_config",
        "compile_config",
    ]
    assert config["module"] == "keras" and config["class_name"] == "Sequential"
    cc = config["compile_config"]
    assert cc["optimizer"]["module"] == "keras.optimizers"
    assert cc["optimizer"]["class_name"] == "Adam"
    assert cc["optimizer"]["config"]["name"] == "adam"
    assert list(cc) == [
        "optimizer",
        "loss",
        "loss_weights",
        "metrics",
        "weighted_metrics",
        "run_eagerly",
        "steps_per_execution",
        "jit_compile",
    ]
    assert "shared_object_id" not in json.dumps(config)


def test_weights_tree_seed(tmp_path: Path) -> None:
    """Same tree as keras_v3.md examples/keras_b_k3.txt (member size included)."""
    path = tmp_path / "m.keras"
    keras_v3.save(_seed(), path)
    tree = _weights_tree(path)
    assert tree == {
        "layers/dense/vars": "dense",
        "layers/dense/vars/0": ((3, 5), "float32"),
        "layers/dense/vars/1": ((5,), "float32"),
        "layers/softmax/vars": "softmax",
        "optimizer/vars": "adam",
        "optimizer/vars/0": ((), "int64"),
        "optimizer/vars/1": ((), "float32"),
        "optimizer/vars/2": ((3, 5), "float32"),
        "optimizer/vars/3": ((3, 5), "float32"),
        "optimizer/vars/4": ((5,), "float32"),
        "optimizer/vars/5": ((5,), "float32"),
        "vars": "sequential",
    }
    assert zipfile.ZipFile(path).getinfo("model.weights.h5").file_size == 15636


def test_class_name_keys_model_c(tmp_path: Path) -> None:
    m = _conv()
    keys = [g.path for g in layer_groups(m)]
    assert keys == [
        "",
        "layers/input_layer",
        "layers/conv2d",
        "layers/batch_normalization",
        "layers/re_lu",
        "layers/conv2d_1",
        "layers/global_average_pooling2d",
        "layers/dense",
    ]
    path = tmp_path / "c.keras"
    keras_v3.save(m, path)
    tree = _weights_tree(path)
    assert tree["layers/dense/vars"] == "head"
    assert tree["layers/conv2d_1/vars"] == "skip_conv"
    assert [k for k in tree if k.startswith("optimizer/vars/")] == [
        f"optimizer/vars/{i}" for i in range(10)
    ]


def test_nested_paths_as_keras3(tmp_path: Path) -> None:
    """examples/nested_paths.txt, nested_k3.keras."""
    path = tmp_path / "n.keras"
    keras_v3.save(_nested(), path)
    tree = _weights_tree(path)
    for key, shape in [
        ("layers/bidirectional/backward_layer/cell/vars/0", (4, 12)),
        ("layers/bidirectional/forward_layer/cell/vars/1", (3, 12)),
        ("layers/bidirectional/forward_layer/cell/vars/2", (12,)),
        ("layers/time_distributed/layer/vars/0", (6, 2)),
        ("layers/sequential/layers/dense/vars/0", (10, 3)),
        ("layers/sequential/layers/dense_1/vars/0", (3, 3)),
        ("layers/dense/vars/0", (3, 1)),
    ]:
        assert tree[key][0] == shape, key
    assert tree["layers/bidirectional/vars"] == "bidi"
    assert tree["layers/time_distributed/vars"] == "td"
    assert tree["layers/sequential/vars"] == "inner_seq"
    assert tree["layers/input_layer/vars"] == "x"
    assert tree["vars"] == "nested"


def test_keras2_target(tmp_path: Path) -> None:
    path = tmp_path / "k2.keras"
    keras_v3.save(_seed(), path, target="keras2")
    config, meta = keras_v3.read_archive(path)
    assert meta is not None and meta["keras_version"] == "2.21.0"
    text = json.dumps(config)
    assert "batch_input_shape" in text and "DTypePolicy" not in text
    assert config["compile_config"]["optimizer"]["config"]["is_legacy_optimizer"] is False
    tree = _weights_tree(path)
    assert tree["vars"] is None and tree["layers/dense/vars"] is None
    assert [k for k in tree if k.startswith("optimizer/vars/")] == [
        f"optimizer/vars/{i}" for i in range(5)
    ]
    m2 = keras_v3.load(path)
    assert m2.optimizer is not None and m2.optimizer.iterations == 5


def test_bfloat16_tagged(tmp_path: Path) -> None:
    pk.clear_session()
    m = pk.Sequential([L.Dense(2, input_shape=(3,), dtype="bfloat16")])
    path = tmp_path / "bf.keras"
    keras_v3.save(m, path)
    with h5py.File(io.BytesIO(zipfile.ZipFile(path).read("model.weights.h5")), "r") as f:
        ds = f["layers/dense/vars/0"]
        assert ds.dtype == np.dtype("V2") and ds.attrs["dtype"] == "bfloat16"
    m2 = keras_v3.load(path)
    assert m2.weights[0].dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(m.weights[0].value, m2.weights[0].value)


# ---------------------------------------------------------------- zip writer details


def test_crc32_combine() -> None:
    rng = np.random.default_rng(0)
    for n1, n2 in [(0, 5), (5, 0), (1, 1), (1000, 3), (12345, 70000)]:
        a, b = rng.bytes(n1), rng.bytes(n2)
        got = zipstream.crc32_combine(zlib.crc32(a), zlib.crc32(b), n2)
        assert got == zlib.crc32(a + b)
    parts = [rng.bytes(1000), np.arange(1 << 16, dtype="float32"), b"", rng.bytes(7)]
    assert zipstream.crc32_of(parts, threads=3) == zlib.crc32(
        b"".join(bytes(p) if not isinstance(p, np.ndarray) else p.tobytes() for p in parts)
    )


def test_parallel_crc_large_member(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zipstream, "_CRC_SPLIT_MIN", 1000)
    arr = np.arange(100_000, dtype="float32")
    with open(tmp_path / "z.zip", "wb") as fh:
        zipstream.write_zip(
            fh, [zipstream.Member("a", [b"x" * 10]), zipstream.Member("b", [b"head", arr, b"tail"])]
        )
    zf = zipfile.ZipFile(tmp_path / "z.zip")
    assert zf.testzip() is None
    assert zf.read("b") == b"head" + arr.tobytes() + b"tail"


def test_zip64_fields(tmp_path: Path) -> None:
    """Above the zip64 limit, sizes and offsets move to zip64 extras (limit lowered here)."""
    data = np.arange(4000, dtype="uint8")
    with open(tmp_path / "z.zip", "wb") as fh:
        zipstream.write_zip(
            fh, [zipstream.Member("a", [data]), zipstream.Member("b", [data])], zip64_limit=1000
        )
    zf = zipfile.ZipFile(tmp_path / "z.zip")
    assert zf.testzip() is None
    assert zf.read("b") == data.tobytes()
    assert zf.getinfo("b").header_offset > 1000
    raw = (tmp_path / "z.zip").read_bytes()
    assert b"PK\x06\x06" in raw and b"PK\x06\x07" in raw


# ---------------------------------------------------------------- hostile archives


def _members(path: Path) -> dict[str, bytes]:
    zf = zipfile.ZipFile(path)
    return {n: zf.read(n) for n in zf.namelist()}


def _rezip(path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> Path:
    out = path.with_name("bad.keras")
    with zipfile.ZipFile(out, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out


@pytest.fixture()
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.keras"
    keras_v3.save(_conv(), path)
    return path


def test_accepts_deflate_order_and_extras(good: Path) -> None:
    members = _members(good)
    members = {
        "model.weights.h5": members["model.weights.h5"],
        "config.json": members["config.json"],
        "assets/readme.txt": b"hi",
    }
    model = keras_v3.load(_rezip(good, members, zipfile.ZIP_DEFLATED))
    for a, b in zip(_conv().get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "x.keras"
    path.write_bytes(b"PK\x03\x04 garbage")
    with pytest.raises(FormatError, match=r"not a \.keras zip"):
        keras_v3.load(path)


def test_truncated_archive(good: Path) -> None:
    data = good.read_bytes()
    bad = good.with_name("trunc.keras")
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(FormatError):
        keras_v3.load(bad)


@pytest.mark.parametrize("missing", ["config.json", "model.weights.h5"])
def test_missing_member(good: Path, missing: str) -> None:
    members = _members(good)
    del members[missing]
    with pytest.raises(FormatError, match=missing.replace(".", r"\.")):
        keras_v3.load(_rezip(good, members))


def test_npz_weights_refused(good: Path) -> None:
    members = _members(good)
    del members["model.weights.h5"]
    members["model.weights.npz"] = b"PK\x03\x04 pickles would be here"
    with pytest.raises(UnsupportedFeatureError, match="never unpickled"):
        keras_v3.load(_rezip(good, members))


def test_bad_json(good: Path) -> None:
    members = _members(good)
    members["config.json"] = b"{not json"
    with pytest.raises(FormatError, match=r"config\.json"):
        keras_v3.load(_rezip(good, members))
    members["config.json"] = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(FormatError, match=r"config\.json"):
        keras_v3.load(_rezip(good, members))
    members["config.json"] = b"[1, 2]"
    with pytest.raises(FormatError, match="class_name"):
        keras_v3.load(_rezip(good, members))


def test_json_size_cap(good: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "_MAX_JSON", 100)
    with pytest.raises(FormatError, match="more than the 100 accepted"):
        keras_v3.load(good)


def test_zip_bomb_ratio(good: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    members = _members(good)
    members["model.weights.h5"] += bytes(3_000_000)
    bad = _rezip(good, members, zipfile.ZIP_DEFLATED)
    monkeypatch.setattr(reader, "_RATIO_FLOOR", 1000)
    with pytest.raises(FormatError, match="zip bomb"):
        keras_v3.load(bad)


def test_crc_mismatch(good: Path) -> None:
    data = bytearray(good.read_bytes())
    info = zipfile.ZipFile(good).getinfo("model.weights.h5")
    start = info.header_offset + 30 + len(info.filename)
    data[start + info.file_size - 100] ^= 0xFF
    bad = good.with_name("crc.keras")
    bad.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="CRC-32"):
        keras_v3.load(bad, verify_crc=True)
    with pytest.raises(FormatError, match="CRC-32"):  # a small member: at load
        keras_v3.load(bad)
    with pytest.raises(FormatError, match="CRC-32"):
        keras_v3.load(bad, lazy=False)


def test_member_past_end(good: Path) -> None:
    data = bytearray(good.read_bytes())
    info = zipfile.ZipFile(good).getinfo("model.weights.h5")
    cd = data.rindex(b"PK\x01\x02")  # the last central entry is the weights member
    struct.pack_into("<LL", data, cd + 20, info.file_size + 10**6, info.file_size + 10**6)
    bad = good.with_name("past.keras")
    bad.write_bytes(bytes(data))
    with pytest.raises(FormatError):
        keras_v3.load(bad)


def _edit_weights(good: Path, edit: Any) -> Path:
    members = _members(good)
    buf = io.BytesIO(members["model.weights.h5"])
    with h5py.File(buf, "a") as f:
        edit(f)
    members["model.weights.h5"] = buf.getvalue()
    return _rezip(good, members)


def test_missing_layer_vars(good: Path) -> None:
    bad = _edit_weights(good, lambda f: f["layers/dense"].__delitem__("vars"))
    with pytest.raises(FormatError, match=r"layers/dense/vars holds 0 variables, layer 'head'"):
        keras_v3.load(bad)


def test_missing_empty_groups_ok(good: Path) -> None:
    def edit(f: Any) -> None:
        del f["layers/re_lu"]
        del f["vars"]
        for g in ("layers/dense/vars", "optimizer/vars"):
            del f[g].attrs["name"]

    assert keras_v3.load(_edit_weights(good, edit)).optimizer is not None


def test_wrong_count_and_shape(good: Path) -> None:
    bad = _edit_weights(good, lambda f: f["layers/dense/vars"].__delitem__("1"))
    with pytest.raises(FormatError, match=r"layers/dense/vars holds"):
        keras_v3.load(bad)

    def reshape(f: Any) -> None:
        del f["layers/dense/vars/0"]
        f["layers/dense/vars/0"] = np.zeros((5, 5), "float32")

    with pytest.raises(FormatError, match=r"layers/dense/vars/0 has shape \(5, 5\)"):
        keras_v3.load(_edit_weights(good, reshape))


def test_links_and_strings_refused(good: Path, tmp_path: Path) -> None:
    def soft(f: Any) -> None:
        del f["layers/dense/vars"]
        f["layers/dense/vars"] = h5py.SoftLink("/layers/conv2d/vars")

    with pytest.raises(FormatError, match="SoftLink"):
        keras_v3.load(_edit_weights(good, soft))

    def external(f: Any) -> None:
        del f["layers/dense/vars/0"]
        f["layers/dense/vars/0"] = h5py.ExternalLink(str(tmp_path / "other.h5"), "/x")

    with pytest.raises(FormatError, match="ExternalLink"):
        keras_v3.load(_edit_weights(good, external))

    def strings(f: Any) -> None:
        del f["layers/dense/vars/1"]
        f["layers/dense/vars/1"] = np.array(["a", "b"], dtype=h5py.string_dtype())

    with pytest.raises(FormatError, match="only numeric"):
        keras_v3.load(_edit_weights(good, strings))


def test_optimizer_count_mismatch_warns(good: Path) -> None:
    bad = _edit_weights(good, lambda f: f["optimizer/vars"].__delitem__("9"))
    with pytest.raises(FormatError):  # vars must be 0..n-1
        keras_v3.load(bad)

    def drop_two(f: Any) -> None:
        del f["optimizer/vars/9"]
        del f["optimizer/vars/8"]

    with pytest.warns(UserWarning, match="skipping optimizer state"):
        model = keras_v3.load(_edit_weights(good, drop_two))
    assert model.optimizer is not None and model.optimizer.iterations == 0


def test_unzipped_directory(good: Path, tmp_path: Path) -> None:
    d = tmp_path / "unzipped"
    d.mkdir()
    for name, data in _members(good).items():
        (d / name).write_bytes(data)
    model = pk.load_model(d)
    assert model.name == "convnet"


def test_no_temp_files_left(tmp_path: Path) -> None:
    keras_v3.save(_seed(), tmp_path / "m.keras")
    assert sorted(os.listdir(tmp_path)) == ["m.keras"]


def test_random_corruption_only_format_errors(good: Path) -> None:
    """Any single corrupted byte either still loads or raises FormatError (CRCs catch the rest)."""
    data = good.read_bytes()
    rng = np.random.default_rng(7)
    bad = good.with_name("fuzz.keras")
    positions = list(rng.integers(0, len(data), 60)) + list(range(len(data) - 120, len(data), 2))
    for pos in positions:
        mutated = bytearray(data)
        mutated[pos] ^= int(rng.integers(1, 256))
        bad.write_bytes(bytes(mutated))
        try:
            keras_v3.load(bad)
        except FormatError:
            pass


def test_h5_image_dtypes_and_shapes() -> None:
    """Scalars, empty arrays, big-endian, non-contiguous and integer arrays come back equal."""
    from purekeras_io.keras_v3.h5image import H5Group, build_h5_image

    arrays = [
        np.array(3, dtype="int64"),
        np.zeros((0, 4), "float32"),
        np.arange(6, dtype=">f8").reshape(2, 3),
        np.arange(12, dtype="float32").reshape(3, 4)[:, ::2],
        np.arange(5, dtype="uint8"),
        np.array([True, False]),
    ]
    parts, size = build_h5_image([H5Group("a/vars", "x", arrays), H5Group("vars", None, [])])
    data = b"".join(zipstream.byte_view(p).tobytes() for p in parts)
    assert len(data) == size
    with h5py.File(io.BytesIO(data), "r") as f:
        assert f["a/vars"].attrs["name"] == "x" and len(f["vars"]) == 0
        for i, a in enumerate(arrays):
            got = f[f"a/vars/{i}"][()]
            assert got.shape == a.shape
            np.testing.assert_array_equal(got, a)


def test_crc32_implementation_matches_zlib() -> None:
    data = np.random.default_rng(1).bytes(1 << 20)
    assert zipstream.crc32(data) == zlib.crc32(data)
    assert zipstream.crc32(data[500:], zipstream.crc32(data[:500])) == zlib.crc32(data)


def test_shape_bomb_refused(good: Path) -> None:
    def bomb(f: Any) -> None:
        del f["layers/dense/vars/0"]
        f.create_dataset(
            "layers/dense/vars/0",
            shape=(1 << 40,),
            dtype="f4",
            chunks=(1 << 16,),
            compression="gzip",
        )

    with pytest.raises(FormatError, match="declares 4398046511104 bytes"):
        keras_v3.load(_edit_weights(good, bomb))


def test_optimizer_slot_shape_mismatch(good: Path) -> None:
    def reshape(f: Any) -> None:
        del f["optimizer/vars/3"]
        f["optimizer/vars/3"] = np.zeros((7,), "float32")

    with pytest.raises(FormatError, match="optimizer/vars"):
        keras_v3.load(_edit_weights(good, reshape))


def test_corrupted_hdf5_with_valid_crc(good: Path) -> None:
    """Damaged HDF5 metadata behind a correct CRC: FormatError, never another exception."""
    members = _members(good)
    h5 = members["model.weights.h5"]
    rng = np.random.default_rng(9)
    bad = good.with_name("h5fuzz.keras")
    for _ in range(120):
        mutated = bytearray(h5)
        for _ in range(int(rng.integers(1, 6))):
            mutated[int(rng.integers(0, 12000))] ^= int(rng.integers(1, 256))
        with zipfile.ZipFile(bad, "w") as zf:
            zf.writestr("config.json", members["config.json"])
            zf.writestr("model.weights.h5", bytes(mutated))
        try:
            with np.errstate(invalid="ignore"):
                keras_v3.load(bad)
        except FormatError:
            pass
