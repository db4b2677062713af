"""Oracle for TF2 object-based checkpoints (``model.save_weights(prefix)``), in ONE TF process.

stdin payload::

    {"dir": D, "entries": [ENTRY, ...]}

    ENTRY = {"name", "prefix", "json": our to_json("keras2") file, "optimizer": tf_keras
             optimizer config or null, "restore": "load_weights" | "checkpoint", "x": npz with
             x0 and p0 (our input and prediction)}

1. *check ours*: for every ENTRY a tf_keras model is built from the JSON (compiled with the
   optimizer when given) and restored from our checkpoint, with ``model.load_weights(prefix)``
   (``root="model"``) or ``tf.train.Checkpoint(model=model).restore(prefix)``
   (``root="checkpoint"``); then ``optimizer.build(trainable_variables)`` (deferred slot
   restoration). We report ``tf.train.latest_checkpoint(folder)``, the prediction's max abs
   difference to ours, ``iterations``, and re-save the model with tf_keras ``save_weights``
   (``D/resaved/<name>/ckpt``): the test compares that file with ours key by key (every variable
   restored, the same keys). Also tried: the other restore entry point on the same file
   (``cross``: which layout each entry point accepts).
2. *make*: tf_keras writes checkpoints for our reader, ``D/tf/<name>/ckpt`` with
   ``model.json`` (``to_json()``), ``opt.json`` (optimizer config or null) and ``ref.npz``
   (x0, p0): the seed Sequential, a Functional CNN with BatchNorm (random statistics), a Dense
   model trained one step with Adam, another with RMSprop(momentum, centered) and one with Nadam,
   Embedding + Bidirectional(LSTM) + LSTM, a nested Sequential, MultiHeadAttention +
   LayerNormalization, an adapted Normalization; plus ``tf.train.Checkpoint(model=m).save``
   (``D/tf/tfckpt/ck-1``), a custom training loop's ``tf.train.Checkpoint(model=m,
   optimizer=o).write`` (``D/tf/loop/ck``, ``ref.npz`` with ``opt<j>`` = ``o.variables[1:]``)
   and a SavedModel folder (``D/tf/savedmodel``).

Last stdout line: ``{"tf_version", "checked": {name: {...}}, "made": [name, ...]}``.
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
L = tf_keras.layers


def _restore(model: Any, prefix: str, how: str) -> None:
    if how == "load_weights":
        model.load_weights(prefix)
    else:
        tf.train.Checkpoint(model=model).restore(prefix)


def _fresh(entry: dict[str, Any]) -> Any:
    with open(entry["json"], encoding="utf-8") as f:
        model = tf_keras.models.model_from_json(f.read())
    if entry["optimizer"] is not None:
        model.compile(tf_keras.optimizers.deserialize(entry["optimizer"]), "mse")
    return model


def check(d: str, entry: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    prefix, how = entry["prefix"], entry["restore"]
    out["latest"] = tf.train.latest_checkpoint(os.path.dirname(prefix))
    model = _fresh(entry)
    try:
        _restore(model, prefix, how)
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
        return out
    if model.optimizer is not None:
        model.optimizer.build(model.trainable_variables)
        out["iterations"] = int(model.optimizer.iterations.numpy())
        out["learning_rate"] = float(model.optimizer.learning_rate.numpy())
        if hasattr(model.optimizer, "_u_product"):  # Nadam (not in tf_keras' re-save)
            out["u_product"] = float(model.optimizer._u_product.numpy())
    ref = np.load(entry["x"])
    pred = np.asarray(model.predict(ref["x0"], verbose=0))
    out["pred_maxdiff"] = float(np.max(np.abs(pred - ref["p0"])))
    out["pred_scale"] = float(np.max(np.abs(ref["p0"])))
    resaved = os.path.join(d, "resaved", entry["name"], "ckpt")
    model.save_weights(resaved)
    out["resaved"] = resaved
    # the other entry point on the same file
    other = "checkpoint" if how == "load_weights" else "load_weights"
    cross = _fresh(entry)
    try:
        _restore(cross, prefix, other)
        kernel = cross.trainable_variables[0].numpy()
        out["cross"] = bool(np.array_equal(kernel, model.trainable_variables[0].numpy()))
    except Exception as exc:
        out["cross"] = f"{type(exc).__name__}: {str(exc)[:200]}"
    return out


def _randomize(model: Any, seed: int) -> None:
    rng = np.random.RandomState(seed)
    for v in model.weights:
        value = rng.rand(*v.shape) * 0.5 + (0.5 if "variance" in v.name else -0.25)
        v.assign(value.astype(v.dtype.as_numpy_dtype))


def _save(d: str, name: str, model: Any, x: np.ndarray) -> None:
    folder = os.path.join(d, "tf", name)
    model.save_weights(os.path.join(folder, "ckpt"))
    with open(os.path.join(folder, "model.json"), "w", encoding="utf-8") as f:
        f.write(model.to_json())
    opt = tf_keras.optimizers.serialize(model.optimizer) if model.optimizer else None
    with open(os.path.join(folder, "opt.json"), "w", encoding="utf-8") as f:
        json.dump(opt, f, default=float)
    np.savez(os.path.join(folder, "ref.npz"), x0=x, p0=np.asarray(model.predict(x, verbose=0)))


def make(d: str) -> list[str]:
    tf.random.set_seed(1)
    rng = np.random.RandomState(0)
    made = []

    def dense_pair() -> Any:
        return tf_keras.Sequential([L.Dense(4, input_shape=(3,)), L.Dense(2)])

    x3 = rng.rand(4, 3).astype("float32")
    seed = tf_keras.Sequential([L.Dense(5, input_shape=(3,)), L.Softmax()])
    _randomize(seed, 1)
    _save(d, "seed", seed, x3)
    made.append("seed")

    x = tf_keras.Input((8, 8, 3))
    y = L.Conv2D(4, 3)(x)
    y = L.BatchNormalization()(y)
    y = L.GlobalAveragePooling2D()(L.ReLU()(y))
    cnn = tf_keras.Model(x, L.Dense(2)(y))
    _randomize(cnn, 2)
    _save(d, "cnn_bn", cnn, rng.rand(2, 8, 8, 3).astype("float32"))
    made.append("cnn_bn")

    for name, opt in [("adam", tf_keras.optimizers.Adam(0.01)),
                      ("rmsprop", tf_keras.optimizers.RMSprop(momentum=0.5, centered=True)),
                      ("nadam", tf_keras.optimizers.Nadam())]:
        m = dense_pair()
        m.compile(opt, "mse")
        m.fit(x3, rng.rand(4, 2).astype("float32"), verbose=0)
        _save(d, name, m, x3)
        made.append(name)

    rnn = tf_keras.Sequential([
        L.Embedding(10, 4, input_shape=(5,)),
        L.Bidirectional(L.LSTM(3, return_sequences=True)),
        L.LSTM(2),
        L.Dense(1),
    ])
    _randomize(rnn, 3)
    _save(d, "rnn", rnn, rng.randint(0, 10, (2, 5)).astype("float32"))
    made.append("rnn")

    inner = dense_pair()
    nested = tf_keras.Sequential([inner, L.Dense(1)])
    _randomize(nested, 4)
    _save(d, "nested", nested, x3)
    made.append("nested")

    a = tf_keras.Input((4, 3))
    att = L.MultiHeadAttention(2, 2)(a, a)
    mha = tf_keras.Model(a, L.LayerNormalization()(L.Add()([a, att])))
    _randomize(mha, 5)
    _save(d, "mha", mha, rng.rand(2, 4, 3).astype("float32"))
    made.append("mha")

    norm = tf_keras.Sequential([tf_keras.Input((3,)), L.Normalization(), L.Dense(2)])
    norm.layers[0].adapt(rng.rand(10, 3).astype("float32"))  # built in the model's name scope
    _save(d, "norm", norm, x3)
    made.append("norm")

    plain = tf_keras.Sequential([L.Dense(5, input_shape=(3,))])
    _randomize(plain, 6)
    tf.train.Checkpoint(model=plain).save(os.path.join(d, "tf", "tfckpt", "ck"))
    _save(d, "plain", plain, x3)  # its json and reference (the weights are the same)
    made.append("tfckpt")
    # a custom training loop: the optimizer beside the model, not tracked by it
    loop = dense_pair()
    opt = tf_keras.optimizers.Adam(0.01)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(loop(x3) ** 2)
    opt.apply_gradients(zip(tape.gradient(loss, loop.trainable_variables),
                            loop.trainable_variables))
    tf.train.Checkpoint(model=loop, optimizer=opt).write(os.path.join(d, "tf", "loop", "ck"))
    with open(os.path.join(d, "tf", "loop", "model.json"), "w", encoding="utf-8") as f:
        f.write(loop.to_json())
    np.savez(os.path.join(d, "tf", "loop", "ref.npz"), x0=x3,
             p0=np.asarray(loop.predict(x3, verbose=0)),
             **{f"opt{j}": v.numpy() for j, v in enumerate(opt.variables[1:])})
    made.append("loop")
    seed.save(os.path.join(d, "tf", "savedmodel"), save_format="tf")
    made.append("savedmodel")
    return made


def main() -> None:
    payload = json.loads(sys.stdin.read())
    d = payload["dir"]
    checked: dict[str, Any] = {}
    for entry in payload["entries"]:
        try:
            checked[entry["name"]] = check(d, entry)
        except Exception:
            checked[entry["name"]] = {"error": traceback.format_exc()[-2000:]}
    made = make(d)
    print(json.dumps({"tf_version": tf.__version__, "checked": checked, "made": made}))


if __name__ == "__main__":
    main()
