"""Flax and safetensors → our models → every file format → the real Keras loaders.

One ``flax`` oracle process (jax 0.10.2 + flax 0.12.8 + safetensors 0.8.0, no TF; purekeras_io
from this repository) builds four linen models with random parameters and BatchNorm
statistics (a CNN: Conv, BatchNorm, avg/max pooling, a depthwise Conv, Dense; Embed + LSTM and
Embed + GRU text classifiers; a pre-norm Transformer block: Embed, LayerNorm,
MultiHeadDotProductAttention, a gelu Dense MLP, residuals) and saves their variables
(``.npz``; the block's also as a safetensors file written by the real library) and their
outputs. It also writes the same tensors
with the reference ``save_file`` and our ``save_safetensors`` and compares the bytes, and reports
how the reference treats the damaged files our reader refuses.

Here the matching ``pk`` models import the weights (``assign_flax_params`` by kind and order or
by path rules; ``load_safetensors`` + ``assign_weights`` by name rules), our NumPy ``predict`` is
compared with flax's output, and the models are saved as ``.keras``, ``.h5`` and SavedModel; one
``tf`` oracle process loads every file (tf_keras 2.21, Keras 3.15.1) and compares its predictions
with flax's: max|diff| / max|flax| < 1e-4 in float64.
"""

from __future__ import annotations

import json
import struct
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from importer_oracle_helpers import check_loaded

import purekeras_io as pk
from purekeras_io.importers import (
    assign_flax_params,
    assign_weights,
    load_safetensors,
    save_safetensors,
)

pytestmark = pytest.mark.oracle

L = pk.layers
MODELS = ("cnn", "lstm_text", "gru_text", "transformer")
LOADERS = ("tf_keras_h5", "tf_keras_savedmodel", "keras3_keras", "keras3_h5",
           "keras3_h5_target_keras3")
TOLERANCE = 1e-4
ROOT = Path(__file__).resolve().parents[2]

CANNOT = {
    ("transformer", "keras3_h5"): (
        "a default-target .h5 with MultiHeadAttention is tf_keras' form: tf_keras needs "
        "query_shape/key_shape/value_shape in the config and Keras 3.15.1 refuses them "
        "(the target='keras3' .h5 of the same model loads)"
    ),
}

# name rules from the flax names in the safetensors file (flatten_dict(sep=".")) to our paths
BLOCK_RULES = [
    (r"params\.Embed_0\.embedding", "embed/embeddings"),
    (r"params\.LayerNorm_(\d)\.scale", r"ln_\1/gamma"),
    (r"params\.LayerNorm_(\d)\.bias", r"ln_\1/beta"),
    (r"params\.MultiHeadDotProductAttention_0\.out\.(kernel|bias)", r"attn/attention_output/\1"),
    (r"params\.MultiHeadDotProductAttention_0\.(query|key|value)\.(kernel|bias)", r"attn/\1/\2"),
    (r"params\.Dense_(\d)\.(kernel|bias)", r"mlp_\1/\2"),
]
CNN_RULES = [(r"Conv_([01])", r"c\1"), (r"Conv_2", "dw"), (r"BatchNorm_(\d)", r"bn\1"),
             (r"Dense_(\d)", r"fc\1")]


def rel(ours: Any, ref: Any) -> float:
    a, b = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-30))


def cnn(epsilon: float = 1e-5) -> Any:
    return pk.Sequential([
        L.Input((20, 20, 3)),
        L.Conv2D(8, 3, padding="same", name="c0"),
        L.BatchNormalization(epsilon=epsilon, name="bn0"),
        L.ReLU(),
        L.AveragePooling2D(2),
        L.Conv2D(16, 3, strides=2, name="c1"),
        L.BatchNormalization(epsilon=epsilon, name="bn1"),
        L.ReLU(),
        L.DepthwiseConv2D(3, padding="same", name="dw"),
        L.MaxPooling2D(2),
        L.Flatten(),
        L.Dense(32, activation="relu", name="fc0"),
        L.Dense(5, name="fc1"),
    ])


def lstm_text() -> Any:
    return pk.Sequential([
        L.Input((7,), dtype="int32"),
        L.Embedding(40, 8),
        L.LSTM(12),
        L.Dense(3),
    ])


def gru_text() -> Any:
    return pk.Sequential([
        L.Input((9,), dtype="int32"),
        L.Embedding(30, 6),
        L.GRU(10),
        L.Dense(4),
    ])


def transformer_block() -> Any:
    tokens = L.Input((6,), dtype="int32")
    x = L.Embedding(50, 16, name="embed")(tokens)
    y = L.LayerNormalization(epsilon=1e-6, name="ln_0")(x)
    y = L.MultiHeadAttention(num_heads=4, key_dim=4, name="attn")(y, y)
    x = L.Add()([x, y])
    y = L.LayerNormalization(epsilon=1e-6, name="ln_1")(x)
    y = L.Dense(32, activation="gelu", name="mlp_0")(y)
    y = L.Dense(16, name="mlp_1")(y)
    return pk.Model(tokens, L.Add()([x, y]))


BUILDERS = {"cnn": cnn, "lstm_text": lstm_text, "gru_text": gru_text,
            "transformer": transformer_block}


def _file(path: Path, header: bytes | str, data: bytes = b"", *, length: int | None = None) -> str:
    raw = header.encode() if isinstance(header, str) else header
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + data)
    return str(path)


def damaged_files(d: Path) -> dict[str, str]:
    """Files our reader refuses (the oracle reports what the reference makes of each)."""
    d.mkdir()
    f32 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    return {
        "header_past_end": _file(d / "a", "{}", length=1 << 20),
        "header_too_large": _file(d / "b", "{}", length=200_000_000),
        "not_json": _file(d / "c", "{nope"),
        "bad_dtype": _file(d / "d", json.dumps({"t": {**f32, "dtype": "F33"}}), b"\0" * 8),
        "overlap": _file(d / "e", json.dumps({"t": f32, "u": {**f32, "data_offsets": [4, 12]}}),
                         b"\0" * 12),
        "gap": _file(d / "f", json.dumps({"t": {**f32, "data_offsets": [4, 12]}}), b"\0" * 12),
        "size_not_shape": _file(d / "g", json.dumps({"t": {**f32, "shape": [3]}}), b"\0" * 8),
        "truncated": _file(d / "h", json.dumps({"t": f32}), b"\0" * 5),
        "trailing_bytes": _file(d / "i", json.dumps({"t": f32}), b"\0" * 12),
        "duplicate_key": _file(d / "j", '{"t":' + json.dumps(f32) + ',"t":' + json.dumps(f32)
                               + "}", b"\0" * 8),
    }


@pytest.fixture(scope="module")
def built(oracle_flax: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d: Path = tmp_path_factory.mktemp("importers_flax")
    damaged = damaged_files(d / "damaged")
    start = time.perf_counter()
    result: dict[str, Any] = oracle_flax.run(
        "importers_flax_build", {"dir": str(d), "damaged": damaged}, env={"PYTHONPATH": str(ROOT)}
    )
    result["oracle_seconds"] = round(time.perf_counter() - start, 2)
    result["dir"] = d
    result["damaged_paths"] = damaged
    return result


def _npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def imported(built: dict[str, Any]) -> dict[str, Any]:
    """Each model imported (several ways), predicted and saved in every format."""
    out: dict[str, Any] = {}
    for name in MODELS:
        d = built["dir"] / name
        x, ref = np.load(d / "x.npy"), np.load(d / "ref.npy")
        start = time.perf_counter()
        model = BUILDERS[name]()
        report = assign_flax_params(model, _npz(d / "params.npz"), strict=True)
        entry: dict[str, Any] = {"rel": rel(model.predict(x), ref), "report": str(report),
                                 "seconds": round(time.perf_counter() - start, 3)}
        if name == "cnn":
            ruled = cnn()
            rep = assign_flax_params(ruled, _npz(d / "params.npz"), rules=CNN_RULES, strict=True)
            entry["rules_rel"] = rel(ruled.predict(x), ref)
            entry["rules_matched"] = len(rep.matched)
        if name == "transformer":
            path = d / "block.safetensors"
            by_rules = transformer_block()
            rep = assign_weights(by_rules, load_safetensors(path), BLOCK_RULES, strict=True)
            entry["safetensors_report"] = str(rep)
            entry["safetensors_matched"] = len(rep.matched)
            entry["lazy_after_assign"] = all(v.lazy for v in by_rules.weights)
            entry["safetensors_rel"] = rel(by_rules.predict(x), ref)
            flat_flax = transformer_block()  # the same file through assign_flax_params
            assign_flax_params(flat_flax, load_safetensors(path), strict=True)
            entry["safetensors_flax_rel"] = rel(flat_flax.predict(x), ref)
            model = by_rules  # the model saved below: weights still lazy until written
        entry["saved"] = []
        for fname in ("model.keras", "model.h5", "model", "model_keras3.h5"):
            kwargs = {"target": "keras3"} if fname == "model_keras3.h5" else {}
            model.save(str(d / fname), **kwargs)
            entry["saved"].append(fname)
        out[name] = entry
    return out


@pytest.fixture(scope="module")
def loaded(oracle: Any, built: dict[str, Any], imported: dict[str, Any]) -> dict[str, Any]:
    dirs = {name: str(built["dir"] / name) for name in MODELS}
    result: dict[str, Any] = oracle.run("importers_keras_check", {"dirs": dirs})
    return result


@pytest.mark.parametrize("name", MODELS)
def test_our_predictions_equal_flax(imported: dict[str, Any], name: str) -> None:
    entry = imported[name]
    assert entry["rel"] < TOLERANCE, entry
    assert entry["saved"] == ["model.keras", "model.h5", "model", "model_keras3.h5"]


def test_cnn_by_path_rules(imported: dict[str, Any]) -> None:
    entry = imported["cnn"]
    assert entry["rules_matched"] == 18
    assert entry["rules_rel"] < TOLERANCE, entry


def test_safetensors_block_by_name_rules(imported: dict[str, Any]) -> None:
    """The real library's file of the Transformer block: every tensor matched by the rules,
    the weights still unread after assign, predictions equal flax's."""
    entry = imported["transformer"]
    assert entry["safetensors_matched"] == 17, entry["safetensors_report"]
    assert entry["lazy_after_assign"]
    assert entry["safetensors_rel"] < TOLERANCE, entry
    assert entry["safetensors_flax_rel"] < TOLERANCE, entry


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize("name", MODELS)
def test_real_loader_predicts_what_flax_predicts(
    loaded: dict[str, Any], name: str, loader: str
) -> None:
    check_loaded(loaded[name][loader], (name, loader), CANNOT, TOLERANCE)


def test_epsilon_default_is_reported(built: dict[str, Any]) -> None:
    """flax BatchNorm's epsilon (1e-5) is not a parameter: a Keras-default layer gets a note."""
    model = cnn(epsilon=1e-3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = assign_flax_params(model, _npz(built["dir"] / "cnn" / "params.npz"))
    assert len(report.notes) == 2 and "epsilon=1e-05" in report.notes[0], report.notes
    assert sum("epsilon" in str(w.message) for w in caught) == 2


SAFETENSORS_CASES = ("every_dtype", "odd_names_and_shapes", "padding", "empty_file",
                     "metadata_empty", "metadata_one_key", "big")


@pytest.mark.parametrize("case", SAFETENSORS_CASES)
def test_our_bytes_are_the_reference_bytes(built: dict[str, Any], case: str) -> None:
    entry = built["safetensors"][case]
    assert entry["bytes_equal"], entry
    assert entry["reference_reads_ours"] and entry["we_read_reference"], entry
    assert entry["metadata_roundtrip"], entry
    # the reference's own Python loaders have no dtype for F8_* (numpy has none; jax's path
    # goes through numpy too), so those two are checked by bytes only
    expected_unloadable = ["f8_e4m3", "f8_e5m2"] if case in ("every_dtype", "metadata_one_key") \
        else []
    assert entry["reference_cannot_load"] == expected_unloadable


def test_big_file_streams_from_a_lazy_source(built: dict[str, Any]) -> None:
    assert built["safetensors"]["big"]["lazy_copy_bytes_equal"]


def test_metadata_with_many_keys(built: dict[str, Any]) -> None:
    """The reference writes __metadata__ keys in hash order (random per process); ours are
    sorted. Everything else is the same."""
    entry = built["safetensors"]["metadata_many_keys"]
    assert entry["headers_equal_parsed"] and entry["data_equal"], entry
    assert entry["reference_reads_ours"] and entry["metadata_roundtrip"], entry
    assert entry["metadata_key_order"]["ours"] == sorted(entry["metadata_key_order"]["ours"])


@pytest.mark.parametrize(
    "case",
    ["header_past_end", "header_too_large", "not_json", "bad_dtype", "overlap", "gap",
     "size_not_shape", "truncated", "trailing_bytes", "duplicate_key"],
)
def test_damaged_files_refused_by_both(built: dict[str, Any], case: str) -> None:
    path = built["damaged_paths"][case]
    with pytest.raises(pk.FormatError) as err:
        load_safetensors(path)
    assert path in str(err.value)
    if case == "duplicate_key":
        # safetensors 0.8.0 loads a header naming one tensor twice (the format's own rules say
        # keys are unique); we refuse it: which of the two entries is meant is a guess
        assert built["damaged"][case] == "loaded", built["damaged"][case]
    else:
        assert built["damaged"][case] != "loaded", built["damaged"][case]


def test_our_writer_rereads_the_reference_block(built: dict[str, Any], tmp_path: Path) -> None:
    """The real library's Transformer-block file, rewritten by us from lazy tensors (with its
    one metadata key), is byte for byte the same file."""
    src = built["dir"] / "transformer" / "block.safetensors"
    save_safetensors(load_safetensors(src), tmp_path / "copy.safetensors",
                     metadata={"format": "flax"})
    assert (tmp_path / "copy.safetensors").read_bytes() == src.read_bytes()
