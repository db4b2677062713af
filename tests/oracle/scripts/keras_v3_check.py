"""Oracle for ``.keras`` archives (run once per backend; KERAS_BACKEND set by the caller).

Payload ``{"dir", "mode": "prepare" | "check", "cases": [...]}``:

* ``prepare`` (TF oracle only): build source models in tf_keras and Keras 3 (MobileNetV2 at a small
  input), write ``<name>.json`` (to_json), ``<name>_weights.npz`` (get_weights), ``<name>_io.npz``
  (input ``x`` and output ``y``).
* ``check``: for each case ``{"name", "file", "io", "weights", "optimizer"}`` load our ``.keras``
  with ``keras.models.load_model``, predict, compare weights and optimizer variables with the npz
  files we wrote, train one step. Then write Keras 3 ``.keras`` files of a few compiled, trained
  models (``k3_<backend>_<name>.keras`` + ``…_ref.npz``) for our reader.

Prints one JSON object as the last line.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
import warnings

import numpy as np


def _np(v):
    return np.asarray(v.numpy() if hasattr(v, "numpy") else v)


def _to_np(v):
    if hasattr(v, "numpy"):
        return np.asarray(v.numpy())
    import keras

    return np.asarray(keras.ops.convert_to_numpy(v))


def _save_npz(path, arrays):
    np.savez(path, **{f"a{i}": np.asarray(a) for i, a in enumerate(arrays)})


def _load_npz(path):
    with np.load(path, allow_pickle=False) as z:
        return [z[f"a{i}"] for i in range(len(z.files))]


def prepare(d):
    import keras
    import tf_keras

    out = {}
    rng = np.random.default_rng(0)
    x = rng.random((2, 32, 32, 3), dtype=np.float32)
    for name, lib in (("mnv2_k2", tf_keras), ("mnv2_k3", keras)):
        m = lib.applications.MobileNetV2(
            input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=10
        )
        ws = m.get_weights()
        # non-trivial batch-norm statistics
        ws = [w + rng.normal(0, 0.05, w.shape).astype(w.dtype) for w in ws]
        for i, w in enumerate(m.weights):
            if "moving_variance" in w.name:
                ws[i] = np.abs(ws[i]) + 0.5
        m.set_weights(ws)
        y = np.asarray(m.predict(x, verbose=0))
        with open(os.path.join(d, f"{name}.json"), "w") as f:
            f.write(m.to_json())
        _save_npz(os.path.join(d, f"{name}_weights.npz"), ws)
        np.savez(os.path.join(d, f"{name}_io.npz"), x=x, y=y)
        out[name] = {"layers": len(m.layers), "weights": len(ws)}
    out["ops_k2"] = _prepare_ops_k2(d, rng)
    out["k2_written"] = _prepare_k2_written(d, rng)
    return out


def _prepare_ops_k2(d, rng):
    """A tf_keras Functional model with TFOpLambda layers (arithmetic and tf.* calls)."""
    import tensorflow as tf
    import tf_keras

    inp = tf_keras.Input((6,))
    h = tf_keras.layers.Dense(4)(inp)
    h = tf.nn.relu(h) * 2.0 + h
    h = tf.reduce_mean(h, axis=-1, keepdims=True) - h
    out = tf_keras.layers.Dense(3)(h)
    m = tf_keras.Model(inp, out)
    x = rng.random((4, 6), dtype=np.float32)
    with open(os.path.join(d, "ops_k2.json"), "w") as f:
        f.write(m.to_json())
    _save_npz(os.path.join(d, "ops_k2_weights.npz"), m.get_weights())
    np.savez(os.path.join(d, "ops_k2_io.npz"), x=x, y=m.predict(x, verbose=0))
    return {"layers": [la.__class__.__name__ for la in m.layers]}


def _prepare_k2_written(d, rng):
    """A compiled, trained tf_keras model saved as .keras (tf_keras' own flavour)."""
    import tf_keras

    inp = tf_keras.Input((4,))
    h = tf_keras.layers.Dense(5, activation="relu")(inp)
    h = tf_keras.layers.BatchNormalization()(h)
    out = tf_keras.layers.Dense(2)(h)
    m = tf_keras.Model(inp, out)
    m.compile(optimizer=tf_keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    x = rng.random((8, 4), dtype=np.float32)
    m.fit(x, rng.random((8, 2), dtype=np.float32), epochs=2, batch_size=4, verbose=0)
    m.save(os.path.join(d, "k2_written.keras"))
    _save_npz(os.path.join(d, "k2_written_weights.npz"), [w.numpy() for w in m.weights])
    _save_npz(os.path.join(d, "k2_written_opt.npz"), [v.numpy() for v in m.optimizer.variables()])
    np.savez(os.path.join(d, "k2_written_io.npz"), x0=x, y0=m.predict(x, verbose=0))
    return {"iterations": int(m.optimizer.iterations.numpy())}


def _flat_outputs(y):
    if isinstance(y, dict):
        return [np.asarray(y[k]) for k in sorted(y)]
    if isinstance(y, (list, tuple)):
        return [np.asarray(v) for v in y]
    return [np.asarray(y)]


def _inputs(z):
    keys = sorted(k for k in z.files if k.startswith("x"))
    xs = [z[k] for k in keys]
    return xs[0] if len(xs) == 1 else xs


def check_case(case, d):
    if case.get("loader") == "tf_keras":
        import tf_keras as keras
    else:
        import keras

    res = {}
    path = os.path.join(d, case["file"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = keras.models.load_model(path)
    res["warnings"] = [
        str(w.message)[:300] for w in caught if "optimizer" in str(w.message).lower()
    ]
    with np.load(os.path.join(d, case["io"]), allow_pickle=False) as z:
        x = _inputs(z)
        ys = [z[k] for k in sorted(k for k in z.files if k.startswith("y"))]
    got = _flat_outputs(m.predict(x, verbose=0))
    res["outputs"] = [
        {
            "max_diff": float(np.max(np.abs(g.astype(np.float64) - y))),
            "scale": float(np.max(np.abs(y))),
        }
        for g, y in zip(got, ys)
    ]
    res["n_outputs"] = [len(got), len(ys)]
    ours = _load_npz(os.path.join(d, case["weights"]))
    theirs = [_to_np(w) for w in m.weights]
    res["n_weights"] = [len(theirs), len(ours)]
    res["weights_equal"] = len(ours) == len(theirs) and all(
        a.shape == b.shape and np.array_equal(a.astype(np.float64), b.astype(np.float64))
        for a, b in zip(theirs, ours)
    )
    if case.get("weights_h5"):
        m.load_weights(os.path.join(d, case["weights_h5"]))
        ref = _load_npz(os.path.join(d, case["weights_h5_ref"]))
        got_w = [_to_np(w) for w in m.weights]
        res["weights_h5_equal"] = len(ref) == len(got_w) and all(
            a.shape == b.shape and np.array_equal(a, b) for a, b in zip(got_w, ref)
        )
        m.load_weights(os.path.join(d, case["weights_h5_back"]))  # the .keras weights again
    res["compiled"] = getattr(m, "optimizer", None) is not None and bool(
        getattr(m, "compiled", True)
    )
    if case.get("optimizer"):
        opt = m.optimizer
        res["optimizer_class"] = type(opt).__name__
        ref = _load_npz(os.path.join(d, case["optimizer"]))
        variables = opt.variables() if callable(opt.variables) else opt.variables
        vals = [_to_np(v) for v in variables]
        res["optimizer_counts"] = [len(vals), len(ref)]
        res["iterations"] = int(_to_np(opt.iterations))
        res["optimizer_equal"] = len(vals) == len(ref) and all(
            a.shape == b.shape
            and np.allclose(a.astype(np.float64), b.astype(np.float64), rtol=0, atol=0)
            for a, b in zip(vals, ref)
        )
        ys_t = [np.zeros_like(g) for g in got]
        m.fit(x, ys_t if len(ys_t) > 1 else ys_t[0], epochs=1, batch_size=len(ys_t[0]), verbose=0)
        res["iterations_after_fit"] = int(_to_np(opt.iterations))
    return res


def write_keras_files(d, backend):
    """Compiled, trained Keras 3 models saved as .keras, with reference arrays for our reader."""
    import keras
    from keras import layers

    rng = np.random.default_rng(1)
    made = {}

    def finish(name, m, x, y, optimizer):
        m.compile(optimizer=optimizer, loss="mse", metrics=["mae"])
        m.fit(x, y, epochs=2, batch_size=4, verbose=0)
        path = os.path.join(d, f"k3_{backend}_{name}.keras")
        m.save(path)
        m.save_weights(os.path.join(d, f"k3_{backend}_{name}.weights.h5"))
        opt_vals = [_to_np(v) for v in m.optimizer.variables]
        pred = _flat_outputs(m.predict(x, verbose=0))
        _save_npz(
            os.path.join(d, f"k3_{backend}_{name}_weights.npz"), [_to_np(w) for w in m.weights]
        )
        _save_npz(os.path.join(d, f"k3_{backend}_{name}_opt.npz"), opt_vals)
        xs = x if isinstance(x, list) else [x]
        np.savez(
            os.path.join(d, f"k3_{backend}_{name}_io.npz"),
            **{f"x{i}": v for i, v in enumerate(xs)},
            **{f"y{i}": v for i, v in enumerate(pred)},
        )
        made[name] = {
            "file": os.path.basename(path),
            "optimizer": type(m.optimizer).__name__,
            "iterations": int(_to_np(m.optimizer.iterations)),
        }

    x = rng.random((8, 3), dtype=np.float32)
    m = keras.Sequential([keras.Input((3,)), layers.Dense(5), layers.Softmax()])
    finish("seed", m, x, rng.random((8, 5), dtype=np.float32), keras.optimizers.Adam(1e-2))

    x = rng.random((8, 12, 12, 3), dtype=np.float32)
    inp = keras.Input((12, 12, 3))
    h = layers.Conv2D(4, 3, padding="same")(inp)
    h = layers.BatchNormalization()(h)
    h = layers.ReLU()(h)
    h = layers.MaxPooling2D()(h)
    h = layers.Conv2D(4, 3)(h)
    h = layers.GlobalAveragePooling2D()(h)
    out = layers.Dense(2)(h)
    m = keras.Model(inp, out, name="convnet")
    finish(
        "convnet",
        m,
        x,
        rng.random((8, 2), dtype=np.float32),
        keras.optimizers.SGD(0.01, momentum=0.9),
    )

    x = rng.integers(1, 20, (8, 6)).astype("int32")
    x[:, 4:] = 0
    inp = keras.Input((6,), dtype="int32")
    h = layers.Embedding(20, 4, mask_zero=True)(inp)
    h = layers.LSTM(3, return_sequences=True)(h)
    h = layers.Bidirectional(layers.GRU(2))(h)
    out = layers.Dense(1)(h)
    m = keras.Model(inp, out, name="textrnn")
    finish("textrnn", m, x, rng.random((8, 1), dtype=np.float32), keras.optimizers.RMSprop(1e-3))

    x = rng.random((8, 5, 8), dtype=np.float32)
    inp = keras.Input((5, 8))
    a = layers.MultiHeadAttention(num_heads=2, key_dim=4)(inp, inp)
    h = layers.LayerNormalization()(layers.Add()([inp, a]))
    out = layers.Dense(8)(h)
    m = keras.Model(inp, out, name="transformer")
    finish(
        "transformer",
        m,
        x,
        rng.random((8, 5, 8), dtype=np.float32),
        keras.optimizers.Adam(amsgrad=True),
    )
    return made


def main():
    payload = json.loads(sys.stdin.read())
    d = payload["dir"]
    if payload["mode"] == "prepare":
        print(json.dumps({"prepared": prepare(d)}))
        return
    import keras

    backend = keras.backend.backend()
    results = {}
    for case in payload["cases"]:
        try:
            results[case["name"]] = check_case(case, d)
        except Exception as exc:
            results[case["name"]] = {
                "error": f"{type(exc).__name__}: {exc}"[:2000],
                "trace": traceback.format_exc()[-3000:],
            }
    try:
        written = write_keras_files(d, backend)
    except Exception as exc:
        written = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-3000:]}
    print(
        json.dumps(
            {"backend": backend, "keras": keras.__version__, "results": results, "written": written}
        )
    )


if __name__ == "__main__":
    main()
