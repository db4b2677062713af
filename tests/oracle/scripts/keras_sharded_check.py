"""Oracle for Keras 3 sharded weights and for ``.keras`` files written from lazy weights.

Payload ``{"dir", "limit_gb", "keras_files": [...], "x": "x.npy"}`` (files in ``dir``):

* ``arch.keras``: our archive of the model (compiled, Adam state); ``ours/w.weights.json``: our
  sharded weights of the same model with other values, ``ours_ref.npz`` (weights ``w<i>``,
  optimizer variables ``o<i>``). Keras 3 ``load_model("arch.keras")``, then
  ``load_weights("ours/w.weights.json")``: weights and optimizer variables must equal the npz.
* ``keras_files``: our ``.keras`` files (in-memory, np.memmap-backed, dask-backed weights):
  each loads with ``keras.saving.load_model`` and predicts ``x``; the predictions and weights are
  returned for comparison (``pred_<name>.npy``).
* Keras writes its own sharded weights: the model from ``arch.keras`` with new values (seed 1)
  and ``max_shard_size=limit_gb`` to ``k3/w.weights.json``, plus ``k3_ref.npz`` for our reader.

Prints one JSON object as the last line.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
import warnings

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np


def _np(v):
    import keras

    return np.asarray(keras.ops.convert_to_numpy(v))


def main() -> None:
    payload = json.loads(sys.stdin.read())
    d = payload["dir"]
    out: dict = {"errors": []}
    import keras

    out["keras_version"] = keras.__version__
    try:
        m = keras.saving.load_model(os.path.join(d, "arch.keras"))
        m.load_weights(os.path.join(d, "ours", "w.weights.json"))
        with np.load(os.path.join(d, "ours_ref.npz")) as ref:
            ws = [ref[f"w{i}"] for i in range(sum(k.startswith("w") for k in ref.files))]
            os_ = [ref[f"o{i}"] for i in range(sum(k.startswith("o") for k in ref.files))]
        got_w = [_np(v) for v in m.weights]
        got_o = [_np(v) for v in m.optimizer.variables]
        out["ours_weights_equal"] = len(got_w) == len(ws) and all(
            a.shape == b.shape and np.array_equal(a, b) for a, b in zip(got_w, ws)
        )
        out["ours_optimizer_equal"] = len(got_o) == len(os_) and all(
            np.array_equal(a.reshape(b.shape), b) for a, b in zip(got_o, os_)
        )
        out["ours_optimizer_counts"] = [len(got_o), len(os_)]
    except Exception as exc:
        out["errors"].append(f"load ours: {exc!r}\n{traceback.format_exc()[-1500:]}")

    x = np.load(os.path.join(d, payload["x"]))
    preds = {}
    for name in payload["keras_files"]:
        try:
            km = keras.saving.load_model(os.path.join(d, name))
            y = np.asarray(km.predict(x, verbose=0))
            np.save(os.path.join(d, f"pred_{name}.npy"), y)
            np.savez(
                os.path.join(d, f"weights_{name}.npz"),
                **{f"w{i}": _np(v) for i, v in enumerate(km.weights)},
            )
            preds[name] = True
        except Exception as exc:
            out["errors"].append(f"{name}: {exc!r}\n{traceback.format_exc()[-1500:]}")
    out["predicted"] = sorted(preds)

    try:
        m = keras.saving.load_model(os.path.join(d, "arch.keras"))
        rng = np.random.default_rng(1)
        m.set_weights([rng.standard_normal(w.shape).astype(w.dtype) for w in m.get_weights()])
        for v in m.optimizer.variables:
            if v.dtype == "float32" and len(v.shape):
                v.assign(rng.standard_normal(v.shape).astype("float32"))
        os.makedirs(os.path.join(d, "k3"), exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.save_weights(os.path.join(d, "k3", "w.weights.json"),
                           max_shard_size=payload["limit_gb"])
        np.savez(
            os.path.join(d, "k3_ref.npz"),
            **{f"w{i}": _np(v) for i, v in enumerate(m.weights)},
            **{f"o{i}": _np(v) for i, v in enumerate(m.optimizer.variables)},
        )
        out["k3_files"] = sorted(os.listdir(os.path.join(d, "k3")))
    except Exception as exc:
        out["errors"].append(f"keras sharded save: {exc!r}\n{traceback.format_exc()[-1500:]}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
