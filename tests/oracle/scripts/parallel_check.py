"""Oracle for checkpoints and SavedModels whose data shards several workers wrote (issue 14).

stdin payload::

    {"entries": [{"name", "kind": "checkpoint" | "savedmodel", "path", "json": our
                  to_json("keras2") file, "ref": npz with our values by checkpoint key and
                  x0 / p0 (input, our prediction)}, ...]}

For each entry, in ONE TF process:

1. ``tf.train.load_checkpoint`` (the ``variables/variables`` prefix of a SavedModel): every key
   of ``ref`` except x0/p0 is read and compared exactly (``equal``: keys whose value differs or
   is missing), and ``num_keys`` / ``shapes`` of what TF lists.
2. checkpoint: a tf_keras model from the JSON, compiled with Adam, restored with
   ``model.load_weights(path)`` and another with ``tf.train.Checkpoint(model=m).restore(path)``;
   savedmodel: ``tf_keras.models.load_model(path)``. Reported: the max abs difference of the
   prediction to ours (relative to our largest output) and whether every weight equals the
   one restored by ``load_weights``.

Last stdout line: ``{"tf_version", "checked": {name: {...}}}``.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
import warnings
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

tf.get_logger().setLevel("ERROR")


def _fresh(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        model = tf_keras.models.model_from_json(f.read())
    model.compile(tf_keras.optimizers.Adam(), "mse")
    return model


def _predict(model: Any, ref: Any) -> float:
    pred = np.asarray(model.predict(ref["x0"], verbose=0))
    return float(np.max(np.abs(pred - ref["p0"])) / np.max(np.abs(ref["p0"])))


def check(entry: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    ref = np.load(entry["ref"])
    path = entry["path"]
    prefix = os.path.join(path, "variables", "variables") if entry["kind"] == "savedmodel" else path
    reader = tf.train.load_checkpoint(prefix)
    shapes = reader.get_variable_to_shape_map()
    out["num_keys"] = len(shapes)
    wrong = []
    for key in ref.files:
        if key in ("x0", "p0"):
            continue
        try:
            value = reader.get_tensor(key)
        except Exception as exc:  # a missing key
            wrong.append(f"{key}: {type(exc).__name__}")
            continue
        if not np.array_equal(np.asarray(value), ref[key]):
            wrong.append(key)
    out["wrong"] = wrong
    if entry["kind"] == "checkpoint":
        model = _fresh(entry["json"])
        model.load_weights(path)
        out["pred_maxdiff"] = _predict(model, ref)
        other = _fresh(entry["json"])
        tf.train.Checkpoint(model=other).restore(path).expect_partial()
        out["checkpoint_restore_equal"] = all(
            np.array_equal(a, b) for a, b in zip(model.get_weights(), other.get_weights()))
        out["checkpoint_restore_maxdiff"] = _predict(other, ref)
    else:
        model = tf_keras.models.load_model(path)
        out["pred_maxdiff"] = _predict(model, ref)
        out["iterations"] = int(model.optimizer.iterations.numpy()) if model.optimizer else None
    return out


def main() -> None:
    payload = json.load(sys.stdin)
    checked = {}
    for entry in payload["entries"]:
        try:
            checked[entry["name"]] = check(entry)
        except Exception as exc:
            checked[entry["name"]] = {"error": f"{type(exc).__name__}: {exc}",
                                      "trace": traceback.format_exc()[-2000:]}
    print(json.dumps({"tf_version": tf.__version__, "checked": checked}))


if __name__ == "__main__":
    main()
