"""Our SavedModels through the deployment converters: OpenVINO's TensorFlow frontend
(``openvino.convert_model``, no TensorFlow in its environment) and tf2onnx + onnxruntime.

Each architecture is saved twice, by us and by TensorFlow itself (tf_keras ``model.save`` of the
same JSON and weights), and both folders go through both tools (``scripts/convert_check.py``).
A tool's result must agree with our ``predict`` (which is checked against tf_keras' prediction
too). Where the tool fails on TensorFlow's own SavedModel as well, that is the tool's limit,
recorded in :data:`TOOL_LIMITS` (and the README); where it takes TensorFlow's folder and not ours,
the test fails.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from serving_helpers import _close, _specs, check_serving, failures

import purekeras_io as pk

pytestmark = pytest.mark.oracle
L = pk.layers
TOOLS = ("openvino", "onnx")
REL_TOL = 1e-4
CASE_TIMEOUT = 240  # seconds per model and tool, both SavedModels
APPS = {"MobileNetV2": [64, 64], "ResNet50": [64, 64], "EfficientNetB0": [64, 64]}
# (case, tool) pairs that fail on TensorFlow's own SavedModel too: the tool's limit, not ours.
TOOL_LIMITS: dict[tuple[str, str], str] = {}


def _randomize(model: Any, seed: int) -> Any:
    rng = np.random.RandomState(seed)
    for var in model.weights:
        if var.dtype.kind == "f":
            name = var.name.split("/")[-1]
            if "variance" in name:
                var.assign(rng.uniform(0.5, 1.5, var.shape).astype(var.dtype))
            else:
                var.assign((rng.randn(*var.shape) * 0.3).astype(var.dtype))
    return model


def _built() -> list[tuple[str, Any, list[np.ndarray]]]:
    rng = np.random.RandomState(0)
    out: list[tuple[str, Any, list[np.ndarray]]] = []
    seed = pk.Sequential([L.Dense(5, input_shape=(3,)), L.Softmax()])
    out.append(("seed", seed, [rng.rand(3, 3).astype("float32")]))
    mlp = pk.Sequential([L.Dense(16, activation="relu", input_shape=(8,)),
                         L.BatchNormalization(), L.Dropout(0.2),
                         L.Dense(4, activation="gelu"), L.Dense(3)], name="mlp")
    out.append(("mlp", mlp, [rng.randn(3, 8).astype("float32")]))
    cnn = pk.Sequential([
        L.Conv2D(8, 3, padding="same", activation="relu", input_shape=(16, 16, 3)),
        L.BatchNormalization(), L.MaxPooling2D(),
        L.DepthwiseConv2D(3, padding="same"), L.SeparableConv2D(6, 3, activation="relu"),
        L.Conv2DTranspose(4, 3, strides=2), L.AveragePooling2D(),
        L.GlobalAveragePooling2D(), L.Dense(5, activation="softmax")], name="cnn")
    out.append(("cnn", cnn, [rng.rand(3, 16, 16, 3).astype("float32")]))
    x = pk.Input((8, 16), name="tokens")
    a = L.MultiHeadAttention(num_heads=2, key_dim=8, name="mha")(x, x)
    h = L.LayerNormalization(name="ln1")(L.Add(name="add1")([x, a]))
    f = L.Dense(16, name="ffn2")(L.Dense(32, activation="relu", name="ffn1")(h))
    y = L.LayerNormalization(name="ln2")(L.Add(name="add2")([h, f]))
    y = L.Dense(3, name="head")(L.GlobalAveragePooling1D(name="gap")(y))
    out.append(("transformer", pk.Model(x, y, name="transformer"),
                [rng.randn(3, 8, 16).astype("float32")]))
    ids = rng.randint(1, 50, size=(3, 10)).astype("int32")
    ids[0, 6:] = 0
    lstm = pk.Sequential([pk.Input((10,), dtype="int32"),
                          L.Embedding(50, 8, mask_zero=True), L.LSTM(6), L.Dense(2)],
                         name="lstm_text")
    out.append(("lstm_text", lstm, [ids]))
    gru = pk.Sequential([pk.Input((10,), dtype="int32"), L.Embedding(50, 8),
                         L.Bidirectional(L.GRU(4, return_sequences=True)),
                         L.GlobalMaxPooling1D(), L.Dense(2)], name="gru_bidi")
    out.append(("gru_bidi", gru, [ids]))
    a_in = pk.Input((4,), name="a")
    b_in = pk.Input((6,), name="b")
    c = L.Concatenate(name="cat")([L.Dense(5, activation="tanh", name="da")(a_in),
                                   L.Dense(5, name="db")(b_in)])
    multi = pk.Model([a_in, b_in], [L.Dense(2, name="o1")(c), L.Dense(3, name="o2")(c)],
                     name="multi_io")
    out.append(("multi_io", multi, [rng.randn(3, 4).astype("float32"),
                                    rng.randn(3, 6).astype("float32")]))
    for i, (_, model, _) in enumerate(out):
        _randomize(model, 10 + i)
    return out


@pytest.fixture(scope="module")
def run(oracle: Any, oracle_openvino: Any, oracle_onnx: Any,
        tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("convert")
    cases = _built()
    oracle.run("convert_check", {"step": "app", "dir": str(d), "apps": APPS})
    rng = np.random.RandomState(1)
    for name, (h, w) in APPS.items():
        model = pk.models.model_from_json((d / f"{name}.json").read_text())
        with np.load(d / f"{name}_w.npz") as data:
            model.set_weights([data[f"w{i}"] for i in range(len(data.files))])
        cases.append((name, model, [rng.rand(3, h, w, 3).astype("float32") * 255]))
    expected: dict[str, list[np.ndarray]] = {}
    export_cases, tool_cases = [], []
    for cid, model, xs in cases:
        keys = [s.name for s in _specs(model)]
        inputs = d / f"{cid}_in.npz"
        np.savez(inputs, **dict(zip(keys, xs)))
        ours = model.predict(xs if len(xs) > 1 else xs[0])
        expected[cid] = [np.asarray(o) for o in (ours if isinstance(ours, list) else [ours])]
        (d / f"{cid}.json").write_text(model.to_json("keras2"))
        weights = model.get_weights()
        np.savez(d / f"{cid}_w.npz", **{f"w{i}": w for i, w in enumerate(weights)})
        model.save(str(d / f"ours_{cid}"), save_format="tf")
        export_cases.append({"id": cid, "json": str(d / f"{cid}.json"),
                             "weights": str(d / f"{cid}_w.npz"), "inputs": str(inputs),
                             "keys": keys})
        tool_cases.append({"id": cid, "inputs": str(inputs),
                           "paths": {"ours": str(d / f"ours_{cid}"),
                                     "tf": str(d / f"tf_{cid}")}})
    exported = oracle.run("convert_check", {"step": "export", "dir": str(d),
                                            "cases": export_cases})
    results: dict[str, Any] = {}
    for tool in TOOLS:
        env = oracle_openvino if tool == "openvino" else oracle_onnx
        results[tool] = {"results": {}}
        for case in tool_cases:  # one process per SavedModel: a tool that hangs costs one
            results[tool]["results"][case["id"]] = {}
            for source, path in case["paths"].items():
                one = {**case, "paths": {source: path}}
                try:
                    got = env.run("convert_check", {"step": tool, "dir": str(d), "cases": [one]},
                                  timeout=CASE_TIMEOUT)
                except subprocess.TimeoutExpired:
                    results[tool]["results"][case["id"]][source] = {
                        "ok": False, "stage": "timeout",
                        "error": f"no result within {CASE_TIMEOUT} s"}
                    continue
                results[tool]["results"][case["id"]].update(got["results"][case["id"]])
                results[tool].update({k: v for k, v in got.items() if k != "results"})
    return {"dir": d, "expected": expected, "exported": exported, "results": results,
            "ids": [c[0] for c in cases]}


def _outcome(run: dict[str, Any], cid: str, tool: str, source: str) -> str:
    res = run["results"][tool]["results"][cid][source]
    if not res["ok"]:
        return f"{res['stage']}: {res['error'].splitlines()[0][:300]}"
    with np.load(run["dir"] / f"{cid}.{source}.{tool}.npz") as data:
        got = {k: data[k] for k in data.files}
    pending = list({id(v): v for v in got.values()}.values())
    for k, want in enumerate(run["expected"][cid]):
        hit = next((i for i, b in enumerate(pending)
                    if b.shape == want.shape and not _close(want, b, REL_TOL)), None)
        if hit is None:
            near = [_close(want, b, REL_TOL) for b in pending if b.shape == want.shape]
            return f"output {k} {want.shape}: {near[0] if near else 'no output of that shape'}"
        pending.pop(hit)
    return "ok"


CASE_IDS = ["seed", "mlp", "cnn", "transformer", "lstm_text", "gru_bidi", "multi_io", *APPS]


def test_tensorflow_export_matches_our_predict(run: dict[str, Any]) -> None:
    bad = {}
    for cid in run["ids"]:
        res = run["exported"]["results"][cid]
        if not res["ok"]:
            bad[cid] = res["error"][:500]
            continue
        with np.load(run["dir"] / f"{cid}.keras.npz") as data:
            theirs = [data[f"out{k}"] for k in range(len(data.files))]
        for k, (a, b) in enumerate(zip(run["expected"][cid], theirs)):
            msg = _close(a, b, REL_TOL)
            if msg:
                bad[cid] = f"output {k}: {msg}"
    assert not bad, bad


# TFLite cannot lower a TensorList whose element shape has a dynamic batch inside a reversed
# (go_backwards) loop; TensorFlow's own SavedModel of the same model fails the same way (checked
# below), and Select TF ops is the converter's own way out.
TFLITE_LIMITS = {"gru_bidi": "TensorListReserve"}


def test_tflite_and_saved_model_cli(oracle: Any, run: dict[str, Any], tmp_path: Path) -> None:
    """``TFLiteConverter.from_saved_model`` + the LiteRT interpreter, and ``saved_model_cli run``,
    on the dense, convolutional, attention, recurrent and multi-input models."""
    cases = [(cid, model, [xs]) for cid, model, xs in _built()]
    report = check_serving(oracle, tmp_path, cases, consumers=("tflite", "cli"))
    bad = failures(report)
    for cid, needle in TFLITE_LIMITS.items():
        assert needle in bad.get(cid, {}).pop("tflite", ""), (cid, report[cid])
        bad = {k: v for k, v in bad.items() if v}
        theirs = oracle.run("serving_check", {"cases": [{
            "id": cid, "path": str(run["dir"] / f"tf_{cid}"),
            "inputs": [str(run["dir"] / f"{cid}_in.npz")], "consumers": ["tflite"]}]})
        assert needle in str(theirs["cases"][cid]["tflite"]), theirs
    assert not bad, bad


def test_openvino_has_no_tensorflow(run: dict[str, Any]) -> None:
    assert run["results"]["openvino"]["tensorflow_importable"] is False


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("cid", CASE_IDS)
def test_converter_agrees(run: dict[str, Any], cid: str, tool: str) -> None:
    ours = _outcome(run, cid, tool, "ours")
    theirs = _outcome(run, cid, tool, "tf")
    summary = run["dir"] / "summary.jsonl"
    with open(summary, "a") as fh:
        fh.write(json.dumps({"case": cid, "tool": tool, "ours": ours, "tf": theirs}) + "\n")
    if (cid, tool) in TOOL_LIMITS:
        assert theirs != "ok", f"{cid}/{tool} is listed as a tool limit but TF's own passes"
        return
    assert ours == "ok", f"{tool} on our SavedModel of {cid}: {ours} (TF's own: {theirs})"


def test_summary(run: dict[str, Any]) -> None:
    """Prints the table the README quotes (run with ``-s``)."""
    versions = {t: run["results"][t]["versions"] for t in TOOLS}
    print("\nversions:", json.dumps(versions))
    for cid in run["ids"]:
        row = [f"{t}: ours={_outcome(run, cid, t, 'ours')[:60]}"
               f" | tf={_outcome(run, cid, t, 'tf')[:60]}" for t in TOOLS]
        print(f"{cid:16s} " + " || ".join(row))
