"""Oracle for SavedModel directories: tf_keras 2.21 / TF 2.21 / Keras 3.15.1, in ONE process.

stdin payload::

    {"dir": D, "entries": [ENTRY…], "host_cmd": [argv…]}

1. *make*: tf_keras writes reference SavedModels for our reader (``D/tf_seed``: the seed
   Sequential; ``D/tf_built``: a Sequential built with ``model.build``; ``D/tf_cnn``: a compiled
   Conv/BatchNorm/Add model trained one step with Adam; ``D/tf_multi``: two inputs and outputs,
   a shared layer, a nested Sequential, Bidirectional LSTM and attention, trained one step with
   RMSprop(momentum, centered)), each with
   ``D/<name>.npz``: inputs ``x<i>``, predictions ``p<i>``, per layer of ``model.layers`` its
   weights ``w/<layer name>/<j>`` (layer order), ``names`` and, when compiled, ``iterations`` and
   ``opt<j>`` (``optimizer.variables`` after ``iterations``). It also writes MobileNetV2
   (``alpha=0.35``, 32x32 input, random BatchNorm statistics) as built by tf_keras and by Keras 3:
   ``D/k2_mnv2.json`` / ``D/k3_mnv2.json`` (``model.to_json()``) and ``.npz`` as above.
2. *host*: runs ``host_cmd`` (the test's own Python: it turns the configs into our SavedModels,
   reads ``tf_*`` with our reader, and appends entries to ``D/host_entries.json``).
3. *check*: for every ENTRY ``{"path", "ref", "class_name", "layer_names", "compiled", "state"}``:
   ``tf_keras.models.load_model(path)``: class, layer names, predictions on the ``x<i>`` of ``ref``
   against its ``p<i>``; when ``compiled``: the model is compiled, ``iterations`` and every slot
   (``state`` npz: ``iterations``, ``opt<j>`` in tf_keras order) equal, one ``fit`` step runs;
   then ``tf.saved_model.load(path)`` opens it.

Last stdout line: ``{"made": [...], "host": {...}, "results": {path: {...}}}``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
import warnings
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402


def _layer_weights(model: Any) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for layer in model.layers:
        for j, w in enumerate(layer.get_weights()):
            out[f"w/{layer.name}/{j}"] = np.asarray(w)
    return out


def _save_ref(path: str, model: Any, xs: list[np.ndarray], compiled: bool) -> None:
    preds = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    preds = preds if isinstance(preds, list) else [preds]
    data: dict[str, Any] = {f"x{i}": x for i, x in enumerate(xs)}
    data.update({f"p{i}": np.asarray(p) for i, p in enumerate(preds)})
    data.update(_layer_weights(model))
    data["names"] = np.array([la.name for la in model.layers])
    if compiled:
        variables = list(model.optimizer.variables)
        data["iterations"] = np.asarray(int(model.optimizer.iterations.numpy()))
        for j, v in enumerate(variables[1:]):
            data[f"opt{j}"] = v.numpy()
    np.savez(path, **data)


def _randomize_bn(model: Any, rng: np.random.RandomState) -> None:
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([
                (1 + 0.1 * rng.randn(*gamma.shape)).astype("float32"),
                (0.1 * rng.randn(*beta.shape)).astype("float32"),
                (0.1 * rng.randn(*mean.shape)).astype("float32"),
                (0.5 + rng.rand(*var.shape)).astype("float32"),
            ])


def make(d: str) -> list[str]:
    import keras
    import tensorflow as tf
    import tf_keras

    made = []
    tf.random.set_seed(1)
    rng = np.random.RandomState(0)
    L = tf_keras.layers
    # the seed example, uncompiled
    seed = tf_keras.Sequential([L.Dense(5, input_shape=(3,)), L.Softmax()])
    xs = [rng.randn(4, 3).astype("float32")]
    seed.save(os.path.join(d, "tf_seed"), save_format="tf")
    _save_ref(os.path.join(d, "tf_seed.npz"), seed, xs, compiled=False)
    made.append("tf_seed")
    # a Sequential without input shape, built with model.build(): the shape is in metadata only
    built = tf_keras.Sequential([L.Dense(4, activation="relu"), L.Dense(2)], name="built")
    built.build((None, 3))
    built.save(os.path.join(d, "tf_built"), save_format="tf")
    _save_ref(os.path.join(d, "tf_built.npz"), built, [rng.randn(4, 3).astype("float32")],
              compiled=False)
    made.append("tf_built")
    # a compiled CNN with BatchNorm, trained one step with Adam
    x = tf_keras.Input((8, 8, 3), name="img")
    y = L.Conv2D(3, 3, padding="same", name="conv")(x)
    y = L.BatchNormalization(name="bn")(y)
    y = L.ReLU(name="relu")(y)
    y = L.Add(name="add")([y, x])
    y = L.GlobalAveragePooling2D(name="gap")(y)
    y = L.Dropout(0.5, name="drop")(y)
    y = L.Dense(2, name="out")(y)
    cnn = tf_keras.Model(x, y, name="cnn")
    cnn.compile(tf_keras.optimizers.Adam(0.01), "mse")
    xs = [rng.randn(4, 8, 8, 3).astype("float32")]
    cnn.fit(xs[0], rng.randn(4, 2).astype("float32"), verbose=0)
    cnn.save(os.path.join(d, "tf_cnn"), save_format="tf")
    _save_ref(os.path.join(d, "tf_cnn.npz"), cnn, xs, compiled=True)
    made.append("tf_cnn")
    # multi-input, multi-output: shared layer, nested Sequential, Bidirectional LSTM, attention;
    # RMSprop(momentum, centered) has its slots in three separate loops
    a = tf_keras.Input((4, 5), name="a")
    b = tf_keras.Input((4, 5), name="b")
    shared = L.Dense(5, activation="tanh", name="shared")
    inner = tf_keras.Sequential(
        [L.Dense(3, input_shape=(4, 5), name="in_d1"), L.Dense(5, name="in_d2")], name="inner")
    ya, yb = inner(shared(a)), inner(shared(b))
    att = L.MultiHeadAttention(num_heads=2, key_dim=3, name="mha")(ya, yb)
    o1 = L.Dense(1, name="o1")(L.Bidirectional(L.LSTM(3), name="bidi")(att))
    o2 = L.Dense(2, name="o2")(L.GlobalAveragePooling1D(name="gap1")(yb))
    multi = tf_keras.Model([a, b], [o1, o2], name="multi")
    multi.compile(tf_keras.optimizers.RMSprop(0.01, momentum=0.5, centered=True), "mse")
    xs = [rng.randn(3, 4, 5).astype("float32"), rng.randn(3, 4, 5).astype("float32")]
    multi.fit(xs, [rng.randn(3, 1).astype("float32"), rng.randn(3, 2).astype("float32")],
              verbose=0)
    multi.save(os.path.join(d, "tf_multi"), save_format="tf")
    _save_ref(os.path.join(d, "tf_multi.npz"), multi, xs, compiled=True)
    made.append("tf_multi")
    # MobileNetV2 configs + weights from both generations
    xs = [rng.rand(2, 32, 32, 3).astype("float32")]
    for tag, K in (("k2_mnv2", tf_keras), ("k3_mnv2", keras)):
        model = K.applications.MobileNetV2(
            input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=10
        )
        _randomize_bn(model, rng)
        with open(os.path.join(d, f"{tag}.json"), "w") as fh:
            fh.write(model.to_json())
        _save_ref(os.path.join(d, f"{tag}.npz"), model, xs, compiled=False)
        made.append(tag)
    return made


def _rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    scale = max(float(np.max(np.abs(b))) if b.size else 0.0, 1e-6)
    return float(np.max(np.abs(a - b)) / scale) if a.size else 0.0


def check_one(entry: dict[str, Any]) -> dict[str, Any]:
    import tensorflow as tf
    import tf_keras

    path = entry["path"]
    res: dict[str, Any] = {}
    ref = np.load(entry["ref"])
    xs = [ref[f"x{i}"] for i in range(len([k for k in ref.files if k.startswith("x")]))]
    ps = [ref[f"p{i}"] for i in range(len([k for k in ref.files if k.startswith("p")]))]
    try:
        model = tf_keras.models.load_model(path)
        res["class_name"] = type(model).__name__
        res["layer_names"] = [la.name for la in model.layers]
        out = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
        out = out if isinstance(out, list) else [out]
        res["pred_rel_diff"] = max(_rel_diff(o, p) for o, p in zip(out, ps))
        res["n_outputs"] = len(out)
        res["compiled"] = (
            model.optimizer is not None and getattr(model, "compiled_loss", None) is not None
        )
        if entry.get("compiled"):
            opt = model.optimizer
            res["optimizer"] = type(opt).__name__
            res["iterations"] = int(opt.iterations.numpy())
            opt.build(model.trainable_variables)
            state = np.load(entry["state"])
            res["want_iterations"] = int(state["iterations"])
            got = [v.numpy() for v in list(opt.variables)[1:]]
            n_want = len([k for k in state.files if k.startswith("opt")])
            want = [state[f"opt{j}"] for j in range(n_want)]
            res["n_slots"] = [len(got), len(want)]
            res["slots_equal"] = len(got) == len(want) and all(
                g.shape == w.shape and np.array_equal(g, w) for g, w in zip(got, want)
            )
            ys = [np.asarray(p) for p in ps]
            hist = model.fit(xs if len(xs) > 1 else xs[0], ys if len(ys) > 1 else ys[0],
                             epochs=1, verbose=0)
            res["fit_loss"] = float(hist.history["loss"][-1])
            res["iterations_after_fit"] = int(opt.iterations.numpy())
        res["tfk_ok"] = True
    except Exception as exc:
        res["tfk_error"] = f"{type(exc).__name__}: {exc}"[:3000]
        res["tfk_trace"] = traceback.format_exc()[-3000:]
    try:
        tf.saved_model.load(path)
        res["tfsm_ok"] = True
    except Exception as exc:
        res["tfsm_error"] = f"{type(exc).__name__}: {exc}"[:2000]
    return res


def main() -> None:
    payload = json.loads(sys.stdin.read())
    d = payload["dir"]
    made = make(d)
    host = subprocess.run(payload["host_cmd"], capture_output=True, text=True)
    host_info = {"returncode": host.returncode, "stderr": host.stderr[-4000:]}
    entries = list(payload["entries"])
    extra = os.path.join(d, "host_entries.json")
    if os.path.exists(extra):
        with open(extra) as fh:
            entries.extend(json.load(fh))
    results = {e["path"]: check_one(e) for e in entries}
    print(json.dumps({"made": made, "host": host_info, "results": results}))


if __name__ == "__main__":
    main()
