"""Oracle for the seed example in every format, with the loaders the README promises.

Payload: ``{"dir": D}`` with ``D/x.npy`` (inputs), ``D/expected.npy`` (our predictions),
``D/model_keras2.json`` (our tf_keras-dialect config) and the files our ``model.save`` wrote:
``D/model`` (SavedModel), ``D/model.h5``, ``D/model.keras``, ``D/ckpt/ckpt`` (save_weights).
Each check returns the max abs difference of the loader's predictions from ours, or an error.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402


def main() -> None:
    payload = json.loads(sys.stdin.read())
    d = payload["dir"]
    x = np.load(os.path.join(d, "x.npy"))
    expected = np.load(os.path.join(d, "expected.npy"))
    import keras
    import tensorflow as tf
    import tf_keras

    def diff(pred: object) -> float:
        return float(np.max(np.abs(np.asarray(pred) - expected)))

    def tf_keras_savedmodel() -> dict[str, object]:
        m = tf_keras.models.load_model(os.path.join(d, "model"))
        return {"diff": diff(m.predict(x, verbose=0)), "class": type(m).__name__,
                "layers": [la.name for la in m.layers]}

    def tf_saved_model_load() -> dict[str, object]:
        obj = tf.saved_model.load(os.path.join(d, "model"))
        return {"opened": obj is not None}

    def tf_keras_h5() -> dict[str, object]:
        m = tf_keras.models.load_model(os.path.join(d, "model.h5"))
        return {"diff": diff(m.predict(x, verbose=0))}

    def keras3_h5() -> dict[str, object]:
        m = keras.saving.load_model(os.path.join(d, "model.h5"))
        return {"diff": diff(m.predict(x, verbose=0))}

    def keras3_keras() -> dict[str, object]:
        m = keras.saving.load_model(os.path.join(d, "model.keras"))
        return {"diff": diff(m.predict(x, verbose=0))}

    def tf_keras_load_weights() -> dict[str, object]:
        with open(os.path.join(d, "model_keras2.json")) as fh:
            m = tf_keras.models.model_from_json(fh.read())
        m.load_weights(os.path.join(d, "ckpt", "ckpt"))
        return {"diff": diff(m.predict(x, verbose=0))}

    def tf_checkpoint_restore() -> dict[str, object]:
        with open(os.path.join(d, "model_keras2.json")) as fh:
            m = tf_keras.models.model_from_json(fh.read())
        tf.train.Checkpoint(model=m).restore(os.path.join(d, "ckpt", "ckpt")).expect_partial()
        return {"diff": diff(m.predict(x, verbose=0))}

    results: dict[str, object] = {}
    for check in (tf_keras_savedmodel, tf_saved_model_load, tf_keras_h5, keras3_h5, keras3_keras,
                  tf_keras_load_weights, tf_checkpoint_restore):
        try:
            results[check.__name__] = check()
        except Exception:
            results[check.__name__] = {"error": traceback.format_exc()[-3000:]}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
