"""Oracle for the SavedModel converters: OpenVINO's TensorFlow frontend, tf2onnx + onnxruntime.

Run in one of three oracle environments, chosen by the payload's ``step``; stdin payload::

    {"step": STEP, "dir": D, ...}

* ``app`` (tf env; ``"apps": {NAME: [H, W]}``): build ``tf_keras.applications.NAME(weights=None,
  input_shape=(H, W, 3), classes=10, classifier_activation=None)`` with random
  BatchNormalization statistics (``applications_check._randomize``); write ``D/<NAME>.json``
  (``to_json()``) and ``D/<NAME>_w.npz`` (``w<i>`` in ``get_weights()`` order).
* ``export`` (tf env; ``"cases": [{"id", "json", "weights", "inputs", "keys"}]``): TensorFlow's
  own SavedModel of the same architecture and weights: ``tf_keras.models.model_from_json``,
  ``set_weights``, ``model.save(D/tf_<id>, save_format="tf")``; tf_keras' prediction on the
  inputs (``keys`` order) goes to ``D/<id>.keras.npz`` (``out<k>``).
* ``openvino`` (openvino env, no TensorFlow; ``"cases": [{"id", "paths": {source: dir},
  "inputs"}]``): ``openvino.convert_model(dir)``, compile on CPU, infer.
* ``onnx`` (onnx env; same cases): tf2onnx's command line (``tf2onnx.convert.main`` in this
  process, ``--saved-model dir --opset OPSET``), then an onnxruntime CPU session.

The converters' outputs go to ``D/<id>.<source>.<tool>.npz``, keyed by the output names the tool
gives (``:0`` suffixes dropped); inputs are fed by name from the ``inputs`` npz (the signature's
input keys). Each result is ``{"ok": true, "inputs": [...], "outputs": [...]}`` or
``{"ok": false, "stage": "convert" | "compile" | "infer", "error": "Type: message"}``.

Last stdout line: ``{"results": {id: {source: {...}}}, "versions": {...}, ...}``.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402

OPSET = 17


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:3000] + "\n" + traceback.format_exc()[-3000:]


def _load(path: str) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def _plain(name: str) -> str:
    return name[:-2] if name.endswith(":0") else name


# ============================================================================ tf env


def make_apps(d: str, apps: dict[str, list[int]]) -> dict[str, Any]:
    import tf_keras
    from applications_check import _randomize

    made = {}
    for name, (h, w) in apps.items():
        tf_keras.backend.clear_session()
        tf_keras.utils.set_random_seed(0)
        ctor = getattr(tf_keras.applications, name)
        model = ctor(weights=None, input_shape=(h, w, 3), classes=10,
                     classifier_activation=None)
        _randomize(model, np.random.RandomState(7))
        with open(os.path.join(d, f"{name}.json"), "w") as fh:
            fh.write(model.to_json())
        weights = model.get_weights()
        np.savez(os.path.join(d, f"{name}_w.npz"),
                 **{f"w{i}": np.asarray(v) for i, v in enumerate(weights)})
        made[name] = {"n_weights": len(weights)}
    return {"made": made}


def export(d: str, cases: list[dict[str, Any]]) -> dict[str, Any]:
    import tensorflow as tf
    import tf_keras

    tf.config.set_visible_devices([], "GPU")
    results: dict[str, Any] = {}
    for case in cases:
        t0 = time.perf_counter()
        try:
            tf_keras.backend.clear_session()
            with open(case["json"]) as fh:
                model = tf_keras.models.model_from_json(fh.read())
            w = _load(case["weights"])
            model.set_weights([w[f"w{i}"] for i in range(len(w))])
            xs = _load(case["inputs"])
            args = [tf.constant(xs[k]) for k in case["keys"]]
            out = model(args if len(args) > 1 else args[0], training=False)
            outs = list(out) if isinstance(out, (list, tuple)) else [out]
            np.savez(os.path.join(d, f"{case['id']}.keras.npz"),
                     **{f"out{k}": np.asarray(o) for k, o in enumerate(outs)})
            path = os.path.join(d, f"tf_{case['id']}")
            model.save(path, save_format="tf")
            results[case["id"]] = {"ok": True, "path": path, "t": time.perf_counter() - t0}
        except Exception as exc:
            results[case["id"]] = {"ok": False, "error": _error(exc)}
    return {"results": results, "versions": {"tf": tf.__version__,
                                             "tf_keras": tf_keras.__version__}}


# ============================================================================ converters


def _run_tool(
    d: str, cases: list[dict[str, Any]], tool: str,
    convert: Callable[[str, str], Any],
    compile_model: Callable[[Any], Any],
    infer: Callable[[Any, dict[str, np.ndarray]], tuple[list[str], dict[str, np.ndarray]]],
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for case in cases:
        xs = _load(case["inputs"])
        results[case["id"]] = {}
        for source, path in case["paths"].items():
            res: dict[str, Any] = {}
            results[case["id"]][source] = res
            t0 = time.perf_counter()
            stage = "convert"
            try:
                converted = convert(path, os.path.join(d, f"{case['id']}.{source}"))
                stage = "compile"
                compiled = compile_model(converted)
                stage = "infer"
                names, outs = infer(compiled, xs)
                np.savez(os.path.join(d, f"{case['id']}.{source}.{tool}.npz"), **outs)
                res.update(ok=True, inputs=names, outputs=sorted(outs))
            except Exception as exc:
                res.update(ok=False, stage=stage, error=_error(exc))
            res["t"] = time.perf_counter() - t0
    return results


def openvino_step(d: str, cases: list[dict[str, Any]]) -> dict[str, Any]:
    import importlib.util

    import openvino as ov

    core = ov.Core()
    # On a CPU with bf16 or fp16 units (AMX, AVX512-BF16) OpenVINO infers in that precision by
    # default, so TF's own SavedModel misses float32 predictions by 1e-3; ask for f32.
    F32 = {"INFERENCE_PRECISION_HINT": "f32"}

    def infer(compiled: Any, xs: dict[str, np.ndarray]) -> tuple[list[str], dict[str, Any]]:
        feed: dict[Any, np.ndarray] = {}
        names = []
        for port in compiled.inputs:
            hit = [_plain(n) for n in port.get_names() if _plain(n) in xs]
            if not hit and len(compiled.inputs) == len(xs) == 1:
                hit = list(xs)  # one input: TF's own export names it after its first layer
            if not hit:
                raise KeyError(f"input {sorted(port.get_names())} not among {sorted(xs)}")
            feed[port] = xs[hit[0]]
            names.append(hit[0])
        result = compiled.infer_new_request(feed)
        outs = {}
        for port in compiled.outputs:
            outs[_plain(sorted(port.get_names())[0])] = np.asarray(result[port])
            for n in port.get_names():
                outs[_plain(n)] = np.asarray(result[port])
        return names, outs

    results = _run_tool(d, cases, "openvino", lambda p, _: ov.convert_model(p),
                        lambda m: core.compile_model(m, "CPU", F32), infer)
    return {"results": results, "versions": {"openvino": ov.__version__},
            "tensorflow_importable": importlib.util.find_spec("tensorflow") is not None}


def onnx_step(d: str, cases: list[dict[str, Any]]) -> dict[str, Any]:
    import logging

    import onnx
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx
    import tf2onnx.convert

    tf.config.set_visible_devices([], "GPU")
    logging.disable(logging.WARNING)

    def convert(path: str, stem: str) -> str:
        target = f"{stem}.onnx"
        argv = sys.argv
        sys.argv = ["tf2onnx.convert", "--saved-model", path, "--output", target,
                    "--opset", str(OPSET)]
        try:
            tf2onnx.convert.main()
        finally:
            sys.argv = argv
        return target

    def session(target: str) -> Any:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        return ort.InferenceSession(target, options, providers=["CPUExecutionProvider"])

    def infer(sess: Any, xs: dict[str, np.ndarray]) -> tuple[list[str], dict[str, Any]]:
        names = [i.name for i in sess.get_inputs()]
        missing = [n for n in names if _plain(n) not in xs]
        if missing and len(names) == len(xs) == 1:  # as for OpenVINO
            feed = {names[0]: next(iter(xs.values()))}
        elif missing:
            raise KeyError(f"inputs {missing} not among {sorted(xs)}")
        else:
            feed = {n: xs[_plain(n)] for n in names}
        outs = sess.run(None, feed)
        return names, {_plain(o.name): np.asarray(v) for o, v in zip(sess.get_outputs(), outs)}

    results = _run_tool(d, cases, "onnx", convert, session, infer)
    versions = {"tf": tf.__version__, "tf2onnx": tf2onnx.__version__, "onnx": onnx.__version__,
                "onnxruntime": ort.__version__, "opset": OPSET}
    return {"results": results, "versions": versions}


def main() -> None:
    payload = json.loads(sys.stdin.read())
    step, d = payload["step"], payload["dir"]
    if step == "app":
        out = make_apps(d, payload["apps"])
    elif step == "export":
        out = export(d, payload["cases"])
    elif step == "openvino":
        out = openvino_step(d, payload["cases"])
    elif step == "onnx":
        out = onnx_step(d, payload["cases"])
    else:
        raise SystemExit(f"unknown step {step!r}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
