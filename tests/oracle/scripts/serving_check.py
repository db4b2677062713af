"""Oracle: our SavedModels served by TensorFlow 2.21 and Keras 3.15.1 (savedmodel.md §7).

stdin: ``{"cases": [{"id", "path", "inputs": [<npz path>...], "consumers": [...],
"signatures": [more signature names for tfsm]}]}``. Each
inputs npz holds one array per signature input key (``serving_default``'s argument names), plus
``__positional__<k>`` arrays in model-input order. Per case and input file, consumers:

* ``tfsm``: ``tf.saved_model.load(path).signatures["serving_default"](**inputs)``;
* ``call``: ``tf.saved_model.load(path)(x)`` (positional; a list for several inputs);
* ``tfsmlayer``: Keras 3 ``TFSMLayer(path, call_endpoint="serving_default")`` called
  positionally, plus its number of weights;
* ``tf1``: ``tf.compat.v1.saved_model.loader.load`` in a session, ``session.run`` of the
  ``signature_def`` tensors;
* ``tflite`` (asked for explicitly): ``TFLiteConverter.from_saved_model`` and the LiteRT
  interpreter's ``serving_default`` runner;
* ``cli`` (asked for explicitly): ``saved_model_cli run --inputs k=file[k] --outdir``;
* ``tfk`` (asked for explicitly): tf_keras ``load_model(path)`` and ``predict`` (positional),
  plus the class names of the layers it revived from traced functions (``tfk_revived``).

Results are written as ``<npz>.<consumer>.npz`` (output key → array; ``call``: ``out<k>``);
errors are returned as text per case and consumer. Last stdout line:
``{"cases": {id: {consumer: "ok" | error text, "tfsmlayer_weights": n, "variables": n}}}``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from _oracle_common import error, load_npz


def _save(path: str, arrays: dict[str, Any]) -> None:
    np.savez(path, **{k: np.asarray(v) for k, v in arrays.items()})


def _all_layers(model: Any) -> list[Any]:
    out = []
    for layer in getattr(model, "layers", []):
        out.append(layer)
        out.extend(_all_layers(layer))
    return out


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    import tensorflow as tf

    out: dict[str, Any] = {}
    path = case["path"]
    consumers = case.get("consumers", ["tfsm", "call", "tfsmlayer", "tf1"])
    files = [(f, load_npz(f)) for f in case["inputs"]]
    try:
        loaded = tf.saved_model.load(path)
    except Exception as exc:
        return {c: "load: " + error(exc) for c in consumers}
    out["variables"] = len(getattr(loaded, "variables", []))
    for c in consumers:
        try:
            for f, arrays in files:
                named = {k: v for k, v in arrays.items() if not k.startswith("__positional__")}
                pos = [arrays[f"__positional__{i}"] for i in range(len(arrays) - len(named))]
                if c == "tfsm":
                    res = loaded.signatures["serving_default"](
                        **{k: tf.constant(v) for k, v in named.items()})
                    _save(f"{f}.{c}.npz", {k: v.numpy() for k, v in res.items()})
                    for extra in case.get("signatures", []):
                        fn = loaded.signatures[extra]
                        res = fn(**{k: tf.constant(v) for k, v in named.items()})
                        _save(f"{f}.{c}.{extra}.npz", {k: v.numpy() for k, v in res.items()})
                        out[f"spec_{extra}"] = str(fn.structured_input_signature)
                elif c == "call":
                    res = loaded(pos[0] if len(pos) == 1 else pos)
                    outs = list(res) if isinstance(res, (list, tuple)) else [res]
                    _save(f"{f}.{c}.npz", {f"out{k}": v.numpy() for k, v in enumerate(outs)})
                elif c == "tfsmlayer":
                    import keras

                    # one positional argument: serving_default for one input, else the
                    # root's ``serve`` (a signature cannot take a list positionally)
                    endpoint = "serving_default" if len(pos) == 1 else "serve"
                    layer = keras.layers.TFSMLayer(path, call_endpoint=endpoint)
                    res = layer(pos[0] if len(pos) == 1 else pos)
                    out["tfsmlayer_weights"] = len(layer.weights)
                    if isinstance(res, dict):
                        _save(f"{f}.{c}.npz", {k: np.asarray(v) for k, v in res.items()})
                    else:
                        outs = list(res) if isinstance(res, (list, tuple)) else [res]
                        _save(f"{f}.{c}.npz", {f"out{k}": np.asarray(v)
                                               for k, v in enumerate(outs)})
                elif c == "tflite":
                    if "tflite_model" not in out:
                        conv = tf.lite.TFLiteConverter.from_saved_model(path)
                        out["tflite_model"] = len(blob := conv.convert())
                        interp = tf.lite.Interpreter(model_content=blob)
                    runner = interp.get_signature_runner("serving_default")
                    _save(f"{f}.{c}.npz", runner(**named))
                elif c == "cli":
                    import subprocess

                    exe = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
                    ins = ";".join(f"{k}={f}[{k}]" for k in named)
                    outdir = f"{f}.cli"
                    subprocess.run([exe, "run", "--dir", path, "--tag_set", "serve",
                                    "--signature_def", "serving_default", "--inputs", ins,
                                    "--outdir", outdir, "--overwrite"], check=True,
                                   capture_output=True, text=True)
                    _save(f"{f}.{c}.npz", {k[:-4]: np.load(os.path.join(outdir, k))
                                           for k in sorted(os.listdir(outdir))})
                elif c == "tfk":
                    import tf_keras

                    if "tfk_model" not in locals():
                        tfk_model = tf_keras.models.load_model(path)
                        out["tfk_revived"] = sorted(
                            la.name for la in _all_layers(tfk_model)
                            if any(c.__name__ == "RevivedLayer" for c in type(la).__mro__))
                    res = tfk_model.predict(pos[0] if len(pos) == 1 else pos, verbose=0)
                    outs = list(res) if isinstance(res, (list, tuple)) else [res]
                    _save(f"{f}.{c}.npz", {f"out{k}": np.asarray(v)
                                           for k, v in enumerate(outs)})
                elif c == "tf1":
                    with tf.compat.v1.Session(graph=tf.Graph()) as sess:
                        meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], path)
                        sig = meta.signature_def["serving_default"]
                        keys = sorted(sig.outputs)
                        vals = sess.run([sig.outputs[k].name for k in keys],
                                        {sig.inputs[k].name: v for k, v in named.items()})
                    _save(f"{f}.{c}.npz", dict(zip(keys, vals)))
            out[c] = "ok"
        except Exception as exc:
            out[c] = error(exc)
    return out


def main() -> None:
    payload = json.loads(sys.stdin.read())
    results = {}
    for case in payload["cases"]:
        try:
            results[case["id"]] = run_case(case)
        except Exception as exc:
            results[case["id"]] = {"error": error(exc)}
    print(json.dumps({"cases": results}))


if __name__ == "__main__":
    main()
