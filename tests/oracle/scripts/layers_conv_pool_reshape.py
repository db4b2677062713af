"""Oracle: convolution, pooling and reshaping layers in tf_keras 2.21 and Keras 3.15.1.

Runs in the oracle venv (see ``tests/conftest.py``). stdin::

    {"dir": <tmp dir>,
     "cases": [{"id", "input_shape", "layers": [[class_name, kwargs], ...],
                "json_k2", "json_k3", "keras2": bool, "keras3": bool,
                "reference": {"output_shape", "strides", "padding", "dilations"}?}, ...],
     "apps": [{"id", "generation": "k2"|"k3", "app": "MobileNetV2"|"ResNet50"|…,
               "input_shape": [...], "json_only": bool?}, ...]}

Files in ``dir``: ``<id>_input.npy`` and ``<id>_weights.npz`` (``arr_0``… in ``get_weights``
order) per case, ``<id>_input.npy`` per app.

Per case and generation (``k2`` = tf_keras, ``k3`` = Keras 3):

* ``loaded``: ``model_from_json(json_<gen>)`` (our config) + ``set_weights`` + call →
  ``<id>_loaded_<gen>.npy``;
* ``native``: the same layers built by Keras itself from ``layers`` + ``set_weights`` + call →
  ``<id>_native_<gen>.npy``; its ``to_json()`` and each layer's ``get_config()`` are returned.

Per case with a ``reference``: the transposed convolution computed as TensorFlow defines it (the
gradient of ``tf.nn.convolution``) → ``<id>_reference.npy``.

Per app: ``keras.applications.<app>(weights=None, input_shape=…, classifier_activation=None)``
in the chosen generation; writes ``<id>.json``, ``<id>_weights.npz`` and ``<id>_pred.npy``
(only ``<id>.json`` with ``json_only``).

Errors are caught per item and returned as text, so the test can say which combination failed.
The last stdout line is ``{"cases": {id: {gen: {...}}}, "apps": {id: {...}}, "versions": {...}}``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from _oracle_common import error

TAIL = 1500  # characters of traceback kept in error texts


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return value


def _weights(path: str) -> list[np.ndarray]:
    with np.load(path) as data:
        return [data[f"arr_{i}"] for i in range(len(data.files))]


def _native(keras_mod: Any, case: dict[str, Any]) -> Any:
    inputs = keras_mod.Input(shape=tuple(case["input_shape"]), name="x")
    y = inputs
    for class_name, kwargs in case["layers"]:
        y = getattr(keras_mod.layers, class_name)(**kwargs)(y)
    return keras_mod.Model(inputs, y, name="native")


def run_case(gens: dict[str, Any], case: dict[str, Any], folder: str) -> dict[str, Any]:
    cid = case["id"]
    x = np.load(os.path.join(folder, f"{cid}_input.npy"))
    weights = _weights(os.path.join(folder, f"{cid}_weights.npz"))
    out: dict[str, Any] = {}
    for gen, keras_mod in gens.items():
        if not case.get("keras2" if gen == "k2" else "keras3", True):
            continue
        res: dict[str, Any] = {}
        try:
            model = keras_mod.models.model_from_json(case[f"json_{gen}"])
            model.set_weights(weights)
            y = np.asarray(model(x, training=False))
            np.save(os.path.join(folder, f"{cid}_loaded_{gen}.npy"), y)
            res["loaded"] = True
        except Exception as exc:
            res["loaded_error"] = error(exc, TAIL)
        try:
            model = _native(keras_mod, case)
            model.set_weights(weights)
            res["native_json"] = model.to_json()
            res["native_configs"] = [_jsonable(layer.get_config()) for layer in model.layers[1:]]
            y = np.asarray(model(x, training=False))
            np.save(os.path.join(folder, f"{cid}_native_{gen}.npy"), y)
            res["native"] = True
        except Exception as exc:
            res["native_error"] = error(exc, TAIL)
        out[gen] = res
    return out


def run_reference(tf: Any, case: dict[str, Any], folder: str) -> dict[str, Any]:
    """A transposed convolution as the gradient of the forward convolution (TF's definition),
    for dilations TF's CPU ``conv_transpose`` kernels refuse: ``activation(grad + bias)`` with
    a linear activation."""
    ref = case["reference"]
    cid = case["id"]
    try:
        x = tf.constant(np.load(os.path.join(folder, f"{cid}_input.npy")))
        kernel, bias = (
            tf.constant(w) for w in _weights(os.path.join(folder, f"{cid}_weights.npz"))
        )
        z = tf.zeros(ref["output_shape"], dtype=x.dtype)
        with tf.GradientTape() as tape:
            tape.watch(z)
            y = tf.nn.convolution(
                z,
                kernel,
                strides=ref["strides"],
                padding=ref["padding"].upper(),
                dilations=ref["dilations"],
            )
        grad = tape.gradient(y, z, output_gradients=x)
        np.save(os.path.join(folder, f"{cid}_reference.npy"), np.asarray(grad + bias))
        return {"ok": True}
    except Exception as exc:
        return {"error": error(exc, TAIL)}


def run_app(gens: dict[str, Any], app: dict[str, Any], folder: str) -> dict[str, Any]:
    keras_mod = gens[app["generation"]]
    aid = app["id"]
    try:
        builder = getattr(keras_mod.applications, app["app"])
        model = builder(
            weights=None, input_shape=tuple(app["input_shape"]), classifier_activation=None
        )
        if app.get("json_only"):
            with open(os.path.join(folder, f"{aid}.json"), "w") as f:
                f.write(model.to_json())
            return {"ok": True, "layers": len(model.layers), "params": int(model.count_params())}
        x = np.load(os.path.join(folder, f"{aid}_input.npy"))
        pred = np.asarray(model(x, training=False))
        np.save(os.path.join(folder, f"{aid}_pred.npy"), pred)
        np.savez(os.path.join(folder, f"{aid}_weights.npz"), *model.get_weights())
        with open(os.path.join(folder, f"{aid}.json"), "w") as f:
            f.write(model.to_json())
        return {"ok": True, "layers": len(model.layers), "params": int(model.count_params())}
    except Exception as exc:
        return {"error": error(exc, TAIL)}


def main() -> None:
    payload = json.loads(sys.stdin.read())
    folder = payload["dir"]
    import keras
    import tensorflow as tf
    import tf_keras

    gens = {"k2": tf_keras, "k3": keras}
    cases = {case["id"]: run_case(gens, case, folder) for case in payload["cases"]}
    for case in payload["cases"]:
        if case.get("reference"):
            cases[case["id"]]["reference"] = run_reference(tf, case, folder)
    apps = {app["id"]: run_app(gens, app, folder) for app in payload.get("apps", [])}
    versions = {"tf": tf.__version__, "tf_keras": tf_keras.__version__, "keras": keras.__version__}
    print(json.dumps({"cases": cases, "apps": apps, "versions": versions}))


if __name__ == "__main__":
    main()
