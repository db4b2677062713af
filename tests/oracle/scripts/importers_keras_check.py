"""Load imported models with the real Keras loaders and compare with the reference outputs.

Payload: ``{"dirs": {name: D}}``; each ``D`` holds ``x.npy`` (the Keras input), ``ref.npy`` (the
reference, e.g. torch's output) and ``model.keras``, ``model.h5``, ``model_keras3.h5`` (written
with ``target="keras3"``), ``model`` (SavedModel). Loaders: tf_keras 2.21 for ``model.h5`` and
the SavedModel, Keras 3.15.1 for ``.keras`` and both ``.h5``.
Prints ``{name: {loader: {"rel": max|diff| / max|ref|} | {"error": ...}}}`` (float64).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
import warnings
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402


def main() -> None:
    payload = json.loads(sys.stdin.read())
    import keras
    import tensorflow as tf
    import tf_keras

    tf.config.set_visible_devices([], "GPU")
    loaders: dict[str, tuple[Callable[[str], Any], str]] = {
        "tf_keras_h5": (tf_keras.models.load_model, "model.h5"),
        "tf_keras_savedmodel": (tf_keras.models.load_model, "model"),
        "keras3_keras": (keras.saving.load_model, "model.keras"),
        "keras3_h5": (keras.saving.load_model, "model.h5"),
        "keras3_h5_target_keras3": (keras.saving.load_model, "model_keras3.h5"),
    }
    results: dict[str, Any] = {}
    for name, d in payload["dirs"].items():
        x = np.load(os.path.join(d, "x.npy"))
        ref = np.load(os.path.join(d, "ref.npy")).astype(np.float64)
        entry: dict[str, Any] = {}
        for loader, (load, fname) in loaders.items():
            try:
                model = load(os.path.join(d, fname), compile=False)
                pred = np.asarray(model.predict(x, verbose=0), np.float64)
                scale = max(float(np.max(np.abs(ref))), 1e-30)
                entry[loader] = {"rel": float(np.max(np.abs(pred - ref)) / scale)}
            except Exception as exc:
                entry[loader] = {"error": f"{type(exc).__name__}: {str(exc)[:600]}\n"
                                          + traceback.format_exc()[-1500:]}
        results[name] = entry
    print(json.dumps(results))


if __name__ == "__main__":
    main()
