"""Helpers shared by the layer-family oracle scripts (``layers_*.py``).

The scripts run as ``python tests/oracle/scripts/<name>.py``, so this folder is ``sys.path[0]``
and they import this module by plain name.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np


def error(exc: BaseException, tail: int = 2000) -> str:
    """The exception and the last ``tail`` characters of its traceback, as text."""
    return f"{type(exc).__name__}: {exc}"[:1500] + "\n" + traceback.format_exc()[-tail:]


def load_npz(path: str) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def run_and_save(model: Any, inputs: list[np.ndarray], path: str) -> None:
    """Call ``model`` on ``inputs``; save its outputs (``out<k>``) and masks (``mask<k>``)."""
    import tensorflow as tf

    arg = [tf.constant(x) for x in inputs]
    result = model(arg if len(arg) > 1 else arg[0], training=False)
    outs = list(result) if isinstance(result, (list, tuple)) else [result]
    arrays: dict[str, np.ndarray] = {}
    for k, out in enumerate(outs):
        arrays[f"out{k}"] = np.asarray(out)
        mask = getattr(out, "_keras_mask", None)
        if mask is not None:
            arrays[f"mask{k}"] = np.asarray(mask)
    np.savez(path, **arrays)


def run_cases_main(
    run_case: Callable[[dict[str, Any], dict[str, Any], str], dict[str, Any]], tail: int = 2000
) -> None:
    """Read the payload on stdin, run every case in tf_keras and Keras 3, print the results."""
    payload = json.loads(sys.stdin.read())
    import keras
    import tensorflow as tf
    import tf_keras

    tf.config.set_visible_devices([], "GPU")
    mods = {"keras2": tf_keras, "keras3": keras}
    results = {}
    for case in payload["cases"]:
        try:
            results[case["id"]] = run_case(mods, case, payload["dir"])
        except Exception as exc:
            results[case["id"]] = {"error": error(exc, tail)}
    versions = {"tf": tf.__version__, "tf_keras": tf_keras.__version__, "keras": keras.__version__}
    print(json.dumps({"cases": results, "versions": versions}))
