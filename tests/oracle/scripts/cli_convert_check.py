"""Oracle for ``purekeras convert``: the converted files, loaded by tf_keras 2.21 or Keras 3.15.1
(the backend is the caller's ``KERAS_BACKEND``: ``tensorflow`` in the tf env, ``jax`` in the jax
env).

stdin: ``{"cases": [{"id", "file", "loader": "tf_keras"|"keras", "ref": <.ref.npz>}]}``. For each
case: ``load_model(file)``, ``predict`` the reference inputs ``x<i>``, then the optimizer state
(``optimizer.build(trainable_variables)`` first if its slots are not there yet, which restores a
SavedModel's deferred slot values), compared with the reference arrays: predictions as the max
absolute difference, optimizer arrays as exact equality (a conversion copies them).

The last stdout line: ``{"cases": {id: {"ok", "pred_diff", "state_equal", "state_missing",
"state_diff", "iterations", "optimizer", "error"}}, "versions"}``.
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
from cli_convert_common import optimizer_state, to_np  # noqa: E402


def check(mod: Any, case: dict[str, Any]) -> dict[str, Any]:
    with np.load(case["ref"]) as z:
        ref = {k: z[k] for k in z.files}
    model = mod.models.load_model(case["file"])
    xs = [ref[f"x{i}"] for i in range(sum(1 for k in ref if k.startswith("x")))]
    preds = model.predict(xs[0] if len(xs) == 1 else xs, verbose=0)
    preds = list(preds) if isinstance(preds, (list, tuple)) else [preds]
    diff = max(float(np.max(np.abs(to_np(p) - ref[f"p{i}"]))) for i, p in enumerate(preds))
    res: dict[str, Any] = {"pred_diff": diff, "n_outputs": len(preds)}
    opt = getattr(model, "optimizer", None)
    res["optimizer"] = type(opt).__name__ if opt is not None else None
    if opt is not None:
        built = any(isinstance(getattr(opt, a, None), list) and getattr(opt, a)
                    for a in ("_momentums", "_velocities", "momentums"))
        if not built:
            opt.build(model.trainable_variables)
        state, _attrs = optimizer_state(opt, model.trainable_variables)
        want = {k: v for k, v in ref.items() if k == "iterations" or "." in k}
        res["iterations"] = int(state.get("iterations", -1))
        res["state_missing"] = sorted(set(want) - set(state))
        res["state_extra"] = sorted(set(state) - set(want))
        unequal = {}
        for k in sorted(set(want) & set(state)):
            a, b = np.asarray(state[k]), np.asarray(want[k])
            if a.shape != b.shape:
                unequal[k] = f"shape {a.shape} != {b.shape}"
            elif not np.array_equal(a.astype(b.dtype), b):
                unequal[k] = float(np.max(np.abs(a.astype(np.float64) - b)))
        res["state_diff"] = unequal
        res["state_equal"] = not unequal and not res["state_missing"]
    return res


def main() -> None:
    payload = json.loads(sys.stdin.read())
    import keras

    mods: dict[str, Any] = {"keras": keras}
    versions = {"keras": keras.__version__, "backend": keras.backend.backend()}
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        import tf_keras

        tf.config.set_visible_devices([], "GPU")
        mods["tf_keras"] = tf_keras
        versions.update(tf=tf.__version__, tf_keras=tf_keras.__version__)
    results = {}
    for case in payload["cases"]:
        try:
            results[case["id"]] = check(mods[case["loader"]], case)
        except Exception as exc:
            results[case["id"]] = {"error": f"{type(exc).__name__}: {exc}"[:1500] + "\n"
                                   + traceback.format_exc()[-2500:]}
    print(json.dumps({"cases": results, "versions": versions}))


if __name__ == "__main__":
    main()
