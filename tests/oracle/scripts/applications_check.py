"""Oracle for Keras applications (tf_keras 2.21 and Keras 3.15.1, TF backend), in ONE process.

stdin payload::

    {"dir": D, "models": {NAME: [H, W]}, "host_cmd": [argv…]}

1. *make*: for each generation ``k2`` (``tf_keras.applications``) and ``k3``
   (``keras.applications``) and each NAME that generation has, build
   ``NAME(weights=None, input_shape=(H, W, 3), classes=10, classifier_activation=None)`` (the
   smallest variant of each family; ``classifier_activation`` only where the constructor takes
   it; ``ConvNeXtStochasticDepth`` is a small ``ConvNeXt(drop_path_rate=0.1)``), give
   BatchNormalization layers random statistics and LayerScale random ``gamma`` (seeded), write
   ``D/<gen>_<NAME>.json`` (``model.to_json()``) and ``D/<gen>_<NAME>.npz``: ``x`` (a fixed
   input), ``p`` (Keras' prediction) and ``w<i>`` (``model.get_weights()`` order).
   ``D/made.json`` lists what was built: ``{tag: {"n_weights", "lambda_layers"}}``.
2. *host*: runs ``host_cmd`` (the test's Python parses the configs, sets the weights, predicts,
   and writes our files ``D/ours_<tag>.keras``, ``.h5`` and SavedModel ``D/ours_<tag>_sm``;
   ``D/host.json`` says which files were written).
3. *check*: the real loaders open our files and predict on ``x``: ``.keras`` with Keras 3,
   ``.h5`` with tf_keras and with Keras 3, the SavedModel with tf_keras. Each result is
   ``{"ok": bool, "rel": max abs diff / max |p|}`` or ``{"ok": false, "error": "Type: message"}``.

Last stdout line: ``{"made": {...}, "host": {...}, "results": {tag: {kind: {...}}}}``.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import time
import traceback
import warnings
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402


def _rel_diff(a: Any, b: Any) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    scale = max(float(np.max(np.abs(b))) if b.size else 0.0, 1e-6)
    return float(np.max(np.abs(a - b)) / scale) if a.size else 0.0


def _randomize(model: Any, rng: np.random.RandomState) -> None:
    for layer in model.layers:
        if type(layer).__name__ == "LayerScale":  # ConvNeXt: gamma starts at 1e-6
            layer.set_weights([(0.5 * rng.randn(*w.shape)).astype("float32")
                               for w in layer.get_weights()])
        if type(layer).__name__ != "BatchNormalization":
            continue
        new = []
        for var in layer.weights:
            shape = tuple(var.shape)
            name = var.name.split("/")[-1].split(":")[0]
            if name == "moving_variance":
                new.append(rng.uniform(0.5, 1.5, shape))
            elif name == "gamma":
                new.append(1.0 + 0.1 * rng.randn(*shape))
            else:
                new.append(0.1 * rng.randn(*shape))
        layer.set_weights([v.astype("float32") for v in new])


def _constructor(gen: str, apps: Any, name: str) -> Any:
    """``apps.<name>``; ``ConvNeXtStochasticDepth``: a small ConvNeXt with ``drop_path_rate``
    (the only way Keras writes ``StochasticDepth`` layers; the public constructors never do)."""
    if name != "ConvNeXtStochasticDepth":
        return getattr(apps, name, None)
    import importlib

    convnext = importlib.import_module(
        "tf_keras.src.applications.convnext" if gen == "k2" else "keras.src.applications.convnext"
    )
    named = {"model_name": "convnext_sd"} if gen == "k2" else {"name": "convnext_sd"}

    def build(**kwargs: Any) -> Any:
        return convnext.ConvNeXt(depths=[1, 1, 2, 1], projection_dims=[8, 8, 16, 16],
                                 drop_path_rate=0.1, **named, **kwargs)

    return build


def make(d: str, models: dict[str, list[int]]) -> dict[str, Any]:
    import keras
    import tf_keras

    made: dict[str, Any] = {}
    for gen, apps, kmod in (("k2", tf_keras.applications, tf_keras), ("k3", keras.applications,
                                                                      keras)):
        for name, (h, w) in models.items():
            ctor = _constructor(gen, apps, name)
            if ctor is None:
                continue
            kmod.backend.clear_session()
            if gen == "k2":
                tf_keras.utils.set_random_seed(0)
            else:
                keras.utils.set_random_seed(0)
            kwargs: dict[str, Any] = {"weights": None, "input_shape": (h, w, 3), "classes": 10}
            if "classifier_activation" in inspect.signature(ctor).parameters:
                kwargs["classifier_activation"] = None
            tag = f"{gen}_{name}"
            t0 = time.perf_counter()
            model = ctor(**kwargs)
            _randomize(model, np.random.RandomState(7))
            x = np.random.RandomState(3).uniform(0, 255, (2, h, w, 3)).astype("float32")
            p = np.asarray(model(x, training=False))
            with open(os.path.join(d, f"{tag}.json"), "w") as fh:
                fh.write(model.to_json())
            weights = model.get_weights()
            data: dict[str, Any] = {f"w{i}": np.asarray(v) for i, v in enumerate(weights)}
            data.update(x=x, p=p)
            np.savez(os.path.join(d, f"{tag}.npz"), **data)
            made[tag] = {
                "t": time.perf_counter() - t0,
                "n_weights": len(weights),
                "lambda_layers": [la.name for la in model.layers
                                  if type(la).__name__ == "Lambda"],
            }
    with open(os.path.join(d, "made.json"), "w") as fh:
        json.dump(made, fh)
    return made


def _try(load: Any, path: str, x: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        model = load(path)
        out = np.asarray(model(x, training=False))
        return {"ok": True, "rel": _rel_diff(out, p), "t": time.perf_counter() - t0}
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:1500],
                "trace": traceback.format_exc()[-1500:]}


def check(d: str, host: dict[str, Any]) -> dict[str, Any]:
    import keras
    import tf_keras

    def k3(path: str) -> Any:
        return keras.models.load_model(path, compile=False, safe_mode=False)

    def k2(path: str) -> Any:
        return tf_keras.models.load_model(path, compile=False)

    def served(path: str) -> Any:
        import tensorflow as tf

        fn = tf.saved_model.load(path).signatures["serving_default"]
        (key,) = fn.structured_input_signature[1]

        def call(x: np.ndarray, training: bool = False) -> Any:
            (out,) = fn(**{key: tf.constant(x)}).values()
            return out

        return call

    def tfsm_layer(path: str) -> Any:
        layer = keras.layers.TFSMLayer(path, call_endpoint="serving_default")

        def call(x: np.ndarray, training: bool = False) -> Any:
            (out,) = layer(x).values()
            return out

        return call

    results: dict[str, Any] = {}
    for tag, files in host.items():
        ref = np.load(os.path.join(d, f"{tag}.npz"))
        x, p = ref["x"], ref["p"]
        res: dict[str, Any] = {}
        for kind, loader in (("keras", k3), ("h5_tfk", k2), ("h5_k3", k3), ("sm_tfk", k2),
                             ("sm_tfsm", served), ("sm_tfsmlayer", tfsm_layer)):
            path = files.get(kind.split("_")[0])
            if path:
                keras.backend.clear_session()
                tf_keras.backend.clear_session()
                res[kind] = _try(loader, path, x, p)
        results[tag] = res
    return results


def main() -> None:
    payload = json.loads(sys.stdin.read())
    d = payload["dir"]
    made = make(d, payload["models"])
    proc = subprocess.run(payload["host_cmd"], capture_output=True, text=True)
    host_info = {"returncode": proc.returncode, "stderr": proc.stderr[-4000:]}
    host_path = os.path.join(d, "host.json")
    host: dict[str, Any] = {}
    if os.path.exists(host_path):
        with open(host_path) as fh:
            host = json.load(fh)
    results = check(d, host.get("files", {}))
    print(json.dumps({"made": made, "host": host_info, "results": results}))


if __name__ == "__main__":
    main()
