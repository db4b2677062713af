"""safetensors (pure Python) and name-rule assignment: round trips of every dtype, lazy reads
that stay unread, damaged files, deterministic bytes; ``assign_weights`` rules and reports;
``assign_flax_params`` module recognition and order. (The reference library's bytes and real
flax models: ``tests/oracle/test_importers_flax_oracle.py``.)"""

from __future__ import annotations

import json
import os
import pickle
import struct
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest

import purekeras_io as pk
from purekeras_io.errors import ConfigError, FormatError, UnsupportedDtypeError
from purekeras_io.importers import (
    MatchReport,
    assign_flax_params,
    assign_weights,
    load_safetensors,
    save_safetensors,
)
from purekeras_io.importers.flax import flax_modules
from purekeras_io.importers.mapping import Transposed
from purekeras_io.importers.safetensors import (
    DTYPES,
    SafetensorsTensor,
    read_safetensors_header,
)

L = pk.layers
RNG = np.random.default_rng(3)


def every_dtype() -> dict[str, np.ndarray]:
    out = {}
    for row in DTYPES:
        values = RNG.normal(size=(3, 2)) * 4
        if row.ours == "bool":
            out[row.name] = values > 0
        elif row.ours.startswith("complex"):
            out[row.name] = (values + 1j * values).astype(row.numpy)
        else:
            out[row.name] = np.abs(values).astype(row.numpy) if row.ours.startswith("u") \
                else values.astype(row.numpy)
    return out


def same(a: Any, b: Any) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# ============================================================================ round trips


@pytest.mark.parametrize("lazy", [True, False])
def test_every_dtype_round_trips(tmp_path: Path, lazy: bool) -> None:
    tensors = every_dtype() | {
        "scalar": np.array(3.5, np.float32),
        "empty": np.zeros((0, 5), np.float16),
        "ünï/cödé.key": np.arange(4, dtype=np.int64),
    }
    path = tmp_path / "all.safetensors"
    save_safetensors(tensors, path, metadata={"format": "np"})
    back = load_safetensors(path, lazy=lazy)
    assert set(back) == set(tensors)
    for name, value in tensors.items():
        got = back[name]
        assert isinstance(got, SafetensorsTensor) == lazy
        assert same(np.asarray(got), value), name
    assert back["BF16"].dtype == np.dtype(ml_dtypes.bfloat16)  # the package's bfloat16
    assert read_safetensors_header(path).metadata == {"format": "np"}


def test_lazy_tensors_stay_unread_through_assign_and_save(tmp_path: Path) -> None:
    def build() -> Any:
        return pk.Sequential([L.Input((6,)), L.Dense(300, name="a"), L.Dense(4, name="b")])

    model = build()
    save_safetensors(model, tmp_path / "m.safetensors")  # a model: its weights by path
    tensors = load_safetensors(tmp_path / "m.safetensors")
    assert sorted(tensors) == ["a/bias", "a/kernel", "b/bias", "b/kernel"]
    mapped = tensors["a/kernel"]._mapped
    assert mapped._map is None  # header only: the buffer is not even mapped
    fresh = build()
    report = assign_weights(fresh, tensors, strict=True)  # no rules: names are our paths
    assert report.ok and len(report.matched) == 4
    assert all(v.lazy for v in fresh.weights) and mapped._map is None
    save_safetensors(fresh, tmp_path / "copy.safetensors")  # streamed from the lazy tensors
    assert (tmp_path / "copy.safetensors").read_bytes() == (tmp_path / "m.safetensors").read_bytes()
    x = RNG.normal(size=(2, 6)).astype(np.float32)
    np.testing.assert_array_equal(fresh.predict(x), model.predict(x))


def test_rows_are_views_and_other_indexes_work(tmp_path: Path) -> None:
    value = RNG.normal(size=(10, 3)).astype(np.float32)
    save_safetensors({"t": value}, tmp_path / "t.safetensors")
    t = load_safetensors(tmp_path / "t.safetensors")["t"]
    assert (t.shape, t.dtype, t.nbytes, len(t), t.ndim) == ((10, 3), np.float32, 120, 10, 2)
    rows = t[2:5]
    np.testing.assert_array_equal(rows, value[2:5])
    assert not rows.flags.writeable and not rows.flags.owndata
    np.testing.assert_array_equal(t[7:100], value[7:])
    np.testing.assert_array_equal(t[5:2], value[5:2])
    np.testing.assert_array_equal(t[::2], value[::2])
    np.testing.assert_array_equal(t[1, 2], value[1, 2])
    np.testing.assert_array_equal(np.asarray(t, np.float64), value.astype(np.float64))
    again = pickle.loads(pickle.dumps(t))  # another process maps the file again
    np.testing.assert_array_equal(np.asarray(again), value)


def test_bytes_are_deterministic_and_pinned(tmp_path: Path) -> None:
    """The header the reference library 0.8.0 writes for these tensors (checked in the flax
    oracle): ordered by dtype rank then name, compact JSON, space-padded to 8 bytes."""
    tensors = {"b": np.arange(3, dtype=np.float32), "a": np.zeros((2, 2), np.int8),
               "c": np.array(1.5, np.float64), "z": np.zeros((0, 3), np.float16)}
    save_safetensors(tensors, tmp_path / "one")
    save_safetensors(dict(reversed(list(tensors.items()))), tmp_path / "two")
    raw = (tmp_path / "one").read_bytes()
    assert raw == (tmp_path / "two").read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n == 224
    assert raw[8 : 8 + n] == (
        b'{"c":{"dtype":"F64","shape":[],"data_offsets":[0,8]},'
        b'"b":{"dtype":"F32","shape":[3],"data_offsets":[8,20]},'
        b'"z":{"dtype":"F16","shape":[0,3],"data_offsets":[20,20]},'
        b'"a":{"dtype":"I8","shape":[2,2],"data_offsets":[20,24]}}    '
    )
    assert len(raw) == 8 + 224 + 24


def test_big_endian_input_is_written_little_endian(tmp_path: Path) -> None:
    value = np.arange(4, dtype=">f4")
    save_safetensors({"t": value}, tmp_path / "t")
    back = load_safetensors(tmp_path / "t", lazy=False)["t"]
    assert back.dtype == np.float32 and back.tolist() == [0, 1, 2, 3]


def test_writer_refusals_leave_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "t.safetensors"
    save_safetensors({"t": np.ones(2, np.float32)}, path)
    before = path.read_bytes()
    with pytest.raises(UnsupportedDtypeError, match=r"'s'.*complex128"):
        save_safetensors({"s": np.ones(2, np.complex128)}, path)
    with pytest.raises(ConfigError, match="__metadata__"):
        save_safetensors({"__metadata__": np.ones(2)}, path)
    with pytest.raises(ConfigError, match="metadata"):
        save_safetensors({"t": np.ones(2)}, path, metadata={"k": 1})  # type: ignore[dict-item]

    class Broken:
        shape, dtype = (4, 2), np.dtype(np.float32)

        def __getitem__(self, key: Any) -> Any:
            raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError, match="disk gone"):
        save_safetensors({"a": np.ones(3, np.float32), "b": Broken()}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["t.safetensors"]  # no temporary left


def test_sharded_checkpoint_index(tmp_path: Path) -> None:
    a, b = np.ones((2, 2), np.float32), np.arange(3, dtype=np.int32)
    save_safetensors({"a": a}, tmp_path / "model-00001-of-00002.safetensors")
    save_safetensors({"b": b}, tmp_path / "model-00002-of-00002.safetensors")
    index = tmp_path / "model.safetensors.index.json"
    index.write_text(json.dumps({"metadata": {"total_size": 28}, "weight_map": {
        "a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}))
    back = load_safetensors(index)
    assert list(back) == ["a", "b"] and isinstance(back["a"], SafetensorsTensor)
    assert same(np.asarray(back["a"]), a) and same(np.asarray(back["b"]), b)
    first = "model-00001-of-00002.safetensors"
    for weight_map, words in (
        ({"a": first, "b": first}, "'b' is not in its shard"),
        ({"a": "../x.safetensors"}, "must be a file name"),
        ({"b": "model-00002-of-00002.safetensors", "a": first}, None),
    ):
        index.write_text(json.dumps({"weight_map": weight_map}))
        if words is None:
            assert list(load_safetensors(index)) == ["b", "a"]  # the index's order
            continue
        with pytest.raises(FormatError, match=words):
            load_safetensors(index)
    save_safetensors({"a": a, "b": b}, tmp_path / first)
    index.write_text(json.dumps({"weight_map": {"a": first}}))
    with pytest.raises(FormatError, match="does not list: 'b'"):
        load_safetensors(index)
    index.write_text("[]")
    with pytest.raises(FormatError, match="weight_map"):
        load_safetensors(index)


# ============================================================================ damaged files


def _write(
    path: Path, header: bytes | str, data: bytes = b"", *, length: int | None = None
) -> Path:
    raw = header.encode() if isinstance(header, str) else header
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + data)
    return path


F32 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


@pytest.mark.parametrize(
    ("header", "data", "length", "words"),
    [
        ("{}", b"", 1000, ["header length 1000", "past the end"]),
        ("{}", b"", 2**64 - 1, ["exceeds the 100000000-byte limit"]),
        (b"\xff\xfe{}", b"", None, ["not UTF-8"]),
        ("[1, 2]", b"", None, ["must be a JSON object"]),
        ("{nope", b"", None, ["not valid JSON"]),
        ('{"t": 5}', b"", None, ["'t'", "must be an object", "5"]),
        (json.dumps({"t": {"dtype": "F32", "shape": [2]}}), b"", None, ["'t'", "data_offsets"]),
        (json.dumps({"t": {**F32, "dtype": "F33"}}), b"\0" * 8, None, ["'t'", "'F33'"]),
        (json.dumps({"t": {**F32, "shape": [-2]}}), b"\0" * 8, None, ["'t'", "[-2]"]),
        (json.dumps({"t": {**F32, "shape": [True]}}), b"\0" * 8, None, ["'t'", "[True]"]),
        (json.dumps({"t": {**F32, "data_offsets": [8, 0]}}), b"\0" * 8, None, ["[8, 0]"]),
        (json.dumps({"t": {**F32, "data_offsets": [0, 1.5]}}), b"\0" * 8, None, ["[0, 1.5]"]),
        (json.dumps({"t": {**F32, "shape": [3]}}), b"\0" * 8, None,
         ["'t'", "hold 8 bytes", "needs 12"]),
        (json.dumps({"t": F32, "u": {**F32, "data_offsets": [4, 12]}}), b"\0" * 12, None,
         ["'u'", "overlaps", "[4, 12]"]),
        (json.dumps({"t": {**F32, "data_offsets": [4, 12]}}), b"\0" * 12, None,
         ["'t'", "gap", "begin at 0"]),
        (json.dumps({"t": F32}), b"\0" * 5, None, ["cover 8 bytes of a 5-byte"]),
        (json.dumps({"t": F32}), b"\0" * 9, None, ["cover 8 bytes of a 9-byte"]),
        ('{"t":' + json.dumps(F32) + ',"t":' + json.dumps(F32) + "}", b"\0" * 8, None,
         ["'t' twice"]),
        (json.dumps({"__metadata__": {"k": 3}}), b"", None, ["__metadata__", "'k': 3"]),
    ],
)
def test_damaged_files_are_refused(
    tmp_path: Path, header: Any, data: bytes, length: int | None, words: list[str]
) -> None:
    path = _write(tmp_path / "bad.safetensors", header, data, length=length)
    with pytest.raises(FormatError) as err:
        load_safetensors(path)
    message = str(err.value)
    assert str(path) in message
    for word in words:
        assert word in message, message


def test_short_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "short").write_bytes(b"\x01\x02")
    with pytest.raises(FormatError, match="8-byte header length"):
        load_safetensors(tmp_path / "short")
    with pytest.raises(FormatError, match="no such file"):
        load_safetensors(tmp_path / "missing")


def test_dtypes_without_tensorflow_counterpart(tmp_path: Path) -> None:
    path = _write(tmp_path / "e8", json.dumps({"t": {"dtype": "F8_E8M0", "shape": [1],
                                                      "data_offsets": [0, 1]}}), b"\0")
    with pytest.raises(UnsupportedDtypeError, match=r"'t'.*F8_E8M0"):
        load_safetensors(path)


# ============================================================================ assign_weights


def mlp() -> Any:
    return pk.Sequential([L.Input((4,)), L.Dense(3, name="fc1"), L.Dense(2, name="fc2")])


def torch_like() -> dict[str, np.ndarray]:
    return {
        "net.0.weight": RNG.normal(size=(3, 4)).astype(np.float32),
        "net.0.bias": RNG.normal(size=(3,)).astype(np.float32),
        "net.2.weight": RNG.normal(size=(2, 3)).astype(np.float32),
        "net.2.bias": RNG.normal(size=(2,)).astype(np.float32),
        "net.extra.num_batches_tracked": np.array(3),
        "head.weight": np.zeros((1, 1), np.float32),
    }


def test_rules_transforms_and_report() -> None:
    model, src = mlp(), torch_like()
    rules: list[Any] = [
        (r"net\.0\.weight", "fc1/kernel", "transpose"),  # torch Linear: (out, in)
        (r"net\.2\.weight", "fc2/kernel", (1, 0)),  # the same, as axes
        (r"net\.0\.bias", "fc1/bias", lambda a: np.asarray(a) * 1),  # a callable
        (r"net\.(\d)\.bias", r"fc\g<1>/bias"),  # net.2.bias -> fc2/bias
        (r".*\.num_batches_tracked", None),
    ]
    report = assign_weights(model, src, rules)
    assert isinstance(report, MatchReport)
    assert report.matched == (("net.0.weight", "fc1/kernel"), ("net.0.bias", "fc1/bias"),
                              ("net.2.weight", "fc2/kernel"), ("net.2.bias", "fc2/bias"))
    assert report.ignored == ("net.extra.num_batches_tracked",)
    assert report.unused == ("head.weight",) and report.unmatched == ()
    assert not report.ok
    np.testing.assert_array_equal(model.get_layer("fc1").weights[0].numpy(), src["net.0.weight"].T)
    np.testing.assert_array_equal(model.get_layer("fc2").weights[0].numpy(), src["net.2.weight"].T)
    text = str(report)
    assert "4 assigned" in text and "head.weight (-> head.weight: no such weight)" in text
    assert "net.0.weight -> fc1/kernel" in text
    x = RNG.normal(size=(2, 4)).astype(np.float32)
    hidden = x @ src["net.0.weight"].T + src["net.0.bias"]
    expected = hidden @ src["net.2.weight"].T + src["net.2.bias"]
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-6)


def test_shape_mismatch_raises_and_assigns_nothing() -> None:
    model, src = mlp(), torch_like()
    before = [w.numpy().copy() for w in model.weights]
    with pytest.raises(ConfigError) as err:
        assign_weights(model, src, [(r"net\.0\.weight", "fc1/kernel"),  # forgot the transpose
                                    (r"net\.0\.bias", "fc1/bias")])
    message = str(err.value)
    assert "net.0.weight -> fc1/kernel: source [3, 4], model [4, 3]" in message
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, model.weights, strict=True))


def test_strict_names_unmatched_and_unused() -> None:
    model = mlp()
    src = {"fc1/kernel": np.ones((4, 3), np.float32), "stray": np.ones(2)}
    with pytest.raises(ConfigError) as err:
        assign_weights(model, src, strict=True)
    message = str(err.value)
    for word in ("fc1/bias", "fc2/kernel", "fc2/bias", "stray", "nothing assigned"):
        assert word in message
    assert not np.array_equal(model.weights[0].numpy(), np.ones((4, 3)))  # nothing assigned
    report = assign_weights(model, src, dry_run=True)
    assert report.unmatched == ("fc1/bias", "fc2/kernel", "fc2/bias")
    assert not np.array_equal(model.weights[0].numpy(), np.ones((4, 3)))


def test_two_sources_for_one_weight_and_bad_rules() -> None:
    model = mlp()
    src = {"a": np.ones((4, 3), np.float32), "b": np.ones((4, 3), np.float32)}
    with pytest.raises(ConfigError, match="'a' and 'b' both map to 'fc1/kernel'"):
        assign_weights(model, src, {"a|b": "fc1/kernel"})
    with pytest.raises(ConfigError, match=r"rules\[0\] pattern"):
        assign_weights(model, src, [("(", "x")])
    with pytest.raises(ConfigError, match=r"rules\[0\] must be"):
        assign_weights(model, src, ["nope"])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="transform must be"):
        assign_weights(model, src, [("a", "fc1/kernel", "flip")])
    with pytest.raises(ConfigError, match="has no weights"):
        assign_weights(pk.Sequential([L.Dense(2)]), src)


def test_transpose_of_a_mapped_tensor_stays_lazy(tmp_path: Path) -> None:
    """A torch state dict in safetensors: Linear weights (out, in) transposed without reading,
    the model saved from the lazy views, loaded back with the same predictions."""
    src = {k: v for k, v in torch_like().items() if k.startswith("net.") and "num" not in k}
    save_safetensors(src, tmp_path / "torch.safetensors")
    model = mlp()
    report = assign_weights(model, load_safetensors(tmp_path / "torch.safetensors"), [
        (r"net\.0\.(weight|bias)", r"fc1/\1"), (r"net\.2\.(weight|bias)", r"fc2/\1")])
    assert report.unused == ("net.0.weight", "net.2.weight")  # no "weight": ours is "kernel"
    report = assign_weights(model, load_safetensors(tmp_path / "torch.safetensors"), [
        (r"net\.0\.weight", "fc1/kernel", "transpose"), (r"net\.2\.weight", "fc2/kernel", (1, 0)),
        (r"net\.0\.bias", "fc1/bias"), (r"net\.2\.bias", "fc2/bias")], strict=True)
    assert report.ok
    assert all(v.lazy for v in model.weights)
    kernel = model.get_layer("fc1").weights[0].array_like()
    assert isinstance(kernel, Transposed) and kernel.shape == (4, 3)
    np.testing.assert_array_equal(kernel[1:3], src["net.0.weight"].T[1:3])
    x = RNG.normal(size=(2, 4)).astype(np.float32)
    expected = (x @ src["net.0.weight"].T + src["net.0.bias"]) @ src["net.2.weight"].T \
        + src["net.2.bias"]
    model.save(str(tmp_path / "m.keras"))  # streamed from the lazy transposes
    np.testing.assert_allclose(pk.load_model(str(tmp_path / "m.keras")).predict(x), expected,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ConfigError, match=r"axes \[0, 0\] do not permute a 2-D tensor"):
        assign_weights(model, src, [(r"net\.0\.weight", "fc1/kernel", (0, 0))])


def test_layer_alias_targets_nested_weights() -> None:
    model = pk.Sequential([L.Input((5, 2)), L.LSTM(3, name="rnn")])
    src = {"k": np.ones((2, 12), np.float32), "r": np.ones((3, 12), np.float32),
           "b": np.zeros(12, np.float32)}
    report = assign_weights(model, src, [("k", "rnn/kernel"), ("r", "rnn/recurrent_kernel"),
                                         ("b", "rnn/lstm_cell/bias")], strict=True)
    assert [t for _, t in report.matched] == [
        "rnn/lstm_cell/kernel", "rnn/lstm_cell/recurrent_kernel", "rnn/lstm_cell/bias"]


# ============================================================================ flax trees


def test_flax_auto_names_in_number_order() -> None:
    """Dense_10 comes after Dense_2 even when the dict is sorted as strings."""
    params = {f"Dense_{i}": {"kernel": np.full((2, 2), i, np.float32)} for i in (0, 1, 10, 2)}
    paths = [m.path for m in flax_modules({"params": params})]
    assert paths == ["Dense_0", "Dense_1", "Dense_2", "Dense_10"]


def test_flax_lstm_gates_and_flat_names() -> None:
    r = np.random.default_rng(5)
    cell = {g: {"kernel": r.normal(size=(2, 3)).astype(np.float32)}
            for g in ("ii", "if", "ig", "io")}
    cell |= {g: {"kernel": r.normal(size=(3, 3)).astype(np.float32),
                 "bias": r.normal(size=(3,)).astype(np.float32)} for g in ("hi", "hf", "hg", "ho")}
    flat = {f"params.LSTMCell_0.{g}.{n}": v for g, d in cell.items() for n, v in d.items()}
    model = pk.Sequential([L.Input((4, 2)), L.LSTM(3)])
    report = assign_flax_params(model, flat, strict=True)
    assert len(report.matched) == 3
    kernel, recurrent, bias = (w.numpy() for w in model.weights)
    np.testing.assert_array_equal(kernel[:, 6:9], cell["ig"]["kernel"])  # g is Keras' c gate
    np.testing.assert_array_equal(recurrent[:, 3:6], cell["hf"]["kernel"])
    np.testing.assert_array_equal(bias[9:], cell["ho"]["bias"])
    # one step of flax's LSTMCell from zeros equals our LSTM on a length-1 sequence
    x = r.normal(size=(2, 1, 2)).astype(np.float32)

    def gate(g: str, h: str) -> np.ndarray:
        return x[:, 0] @ cell[g]["kernel"] + cell[h]["bias"]

    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    c = sig(gate("ii", "hi")) * np.tanh(gate("ig", "hg"))
    h = sig(gate("io", "ho")) * np.tanh(c)
    np.testing.assert_allclose(model.predict(x), h, rtol=1e-5, atol=1e-6)


def test_flax_gru_gates() -> None:
    """flax GRUCell (biases on ir/iz/in and hn) is Keras' GRU with reset_after=True."""
    r = np.random.default_rng(6)
    u, d = 3, 2

    def dense(n_in: int, bias: bool) -> dict[str, np.ndarray]:
        out = {"kernel": r.normal(size=(n_in, u)).astype(np.float32)}
        return out | ({"bias": r.normal(size=(u,)).astype(np.float32)} if bias else {})

    cell = {"ir": dense(d, True), "iz": dense(d, True), "in": dense(d, True),
            "hr": dense(u, False), "hz": dense(u, False), "hn": dense(u, True)}
    model = pk.Sequential([L.Input((4, d)), L.GRU(u)])
    assert assign_flax_params(model, {"params": {"RNN_0": {"GRUCell_0": cell}}}, strict=True).ok
    x = r.normal(size=(2, 4, d)).astype(np.float32)
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    h = np.zeros((2, u), np.float32)
    for t in range(4):
        def lin(g: str, v: np.ndarray) -> np.ndarray:
            return v @ cell[g]["kernel"] + cell[g].get("bias", 0)

        reset = sig(lin("ir", x[:, t]) + lin("hr", h))
        z = sig(lin("iz", x[:, t]) + lin("hz", h))
        n = np.tanh(lin("in", x[:, t]) + reset * lin("hn", h))
        h = (1 - z) * n + z * h
    np.testing.assert_allclose(model.predict(x), h, rtol=1e-5, atol=1e-6)


def test_flax_leftovers_are_reported() -> None:
    model = pk.Sequential([L.Input((2,)), L.Dense(2)])
    params = {"Dense_0": {"kernel": np.ones((2, 2)), "bias": np.ones(2)},
              "Embed_0": {"embedding": np.ones((3, 2))}}
    report = assign_flax_params(model, params)
    assert report.unused == ("Embed_0/embedding",)
    with pytest.raises(ConfigError, match="Embed_0/embedding"):
        assign_flax_params(model, params, strict=True)
    with pytest.raises(ConfigError, match="not a layer with weights"):
        assign_flax_params(model, params, rules=[("Dense_0", "nope")])
