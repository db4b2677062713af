"""Oracle for ``purekeras convert``: the source files, written by tf_keras 2.21 and Keras 3.15.1.

stdin: ``{"dir": D, "archs": [names]}``. For each architecture (``ARCHS``) and generation, build
the model with fixed seeds, compile it, train it for ``STEPS`` steps (one batch per epoch, so the
optimizer has state), then

* tf_keras: ``model.save(D/k2_<arch>.h5)`` and ``model.save(D/k2_<arch>_sm, save_format="tf")``;
* Keras 3 (TensorFlow backend): ``model.save(D/k3_<arch>.keras)``;

and record beside them ``D/<gen>_<arch>.ref.npz``: the fixed inputs ``x<i>``, the predictions
``p<i>`` (``predict``, inference mode) and the optimizer state: ``iterations`` and
``<attr>.<i>`` for every slot list of the optimizer (``_momentums``, ``_velocities``,
``momentums``, ``_average_gradients``, ``_velocity_hats``: the same attribute names in both
generations), ``i`` indexing ``model.trainable_variables``. ``D/<gen>_<arch>.ref.json`` holds the
optimizer class and config, the trainable variables' names and the slot attributes.

The last stdout line: ``{"sources": {id: {"files": [...], "optimizer": ..., ...}}, "versions"}``.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["KERAS_BACKEND"] = "tensorflow"
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
from cli_convert_common import optimizer_state, trainable_names  # noqa: E402

STEPS = 2


def arch_seq(K: Any) -> tuple[Any, list[np.ndarray], Any, dict[str, Any]]:
    L = K.layers
    m = K.Sequential([K.Input((6,)), L.Dense(8, activation="relu", name="d1"),
                      L.Dropout(0.1, name="drop"), L.Dense(3, activation="softmax", name="d2")],
                     name="seq")
    rs = np.random.RandomState(1)
    x = [rs.randn(8, 6).astype("float32")]
    y = np.eye(3, dtype="float32")[rs.randint(0, 3, 8)]
    return m, x, y, {"optimizer": K.optimizers.Adam(0.01), "loss": "categorical_crossentropy",
                     "metrics": ["accuracy"]}


def arch_multi(K: Any) -> tuple[Any, list[np.ndarray], Any, dict[str, Any]]:
    L = K.layers
    a = K.Input((5,), name="in_a")
    b = K.Input((4,), name="in_b")
    ha = L.Dense(6, activation="tanh", name="pre_a")(a)
    hb = L.Dense(6, activation="relu", name="pre_b")(b)
    x = L.Concatenate(name="cat")([ha, hb])
    x = L.BatchNormalization(name="bn")(x)
    out = L.Dense(2, name="out")(x)
    m = K.Model([a, b], out, name="multi")
    rs = np.random.RandomState(2)
    xs = [rs.randn(8, 5).astype("float32"), rs.randn(8, 4).astype("float32")]
    y = rs.randn(8, 2).astype("float32")
    return m, xs, y, {"optimizer": K.optimizers.SGD(0.05, momentum=0.9), "loss": "mse",
                      "metrics": ["mae"]}


def arch_lstm(K: Any) -> tuple[Any, list[np.ndarray], Any, dict[str, Any]]:
    L = K.layers
    tok = K.Input((12,), dtype="int32", name="tokens")
    x = L.Embedding(40, 8, mask_zero=True, name="emb")(tok)
    x = L.LSTM(8, name="lstm")(x)
    out = L.Dense(1, activation="sigmoid", name="out")(x)
    m = K.Model(tok, out, name="text")
    rs = np.random.RandomState(3)
    t = rs.randint(1, 40, size=(8, 12)).astype("int32")
    t[:, 9:] = 0  # padding the mask hides
    y = rs.randint(0, 2, size=(8, 1)).astype("float32")
    return m, [t], y, {"optimizer": K.optimizers.RMSprop(0.01), "loss": "binary_crossentropy",
                       "metrics": ["accuracy"]}


def arch_transformer(K: Any) -> tuple[Any, list[np.ndarray], Any, dict[str, Any]]:
    L = K.layers
    x_in = K.Input((6, 8), name="seq")
    att = L.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(x_in, x_in)
    x = L.LayerNormalization(name="ln1")(L.Add(name="res1")([x_in, att]))
    ff = L.Dense(8, name="ff2")(L.Dense(16, activation="relu", name="ff1")(x))
    x = L.LayerNormalization(name="ln2")(L.Add(name="res2")([x, ff]))
    out = L.Dense(3, activation="softmax", name="cls")(L.GlobalAveragePooling1D(name="gap")(x))
    m = K.Model(x_in, out, name="transformer")
    rs = np.random.RandomState(4)
    x = [rs.randn(8, 6, 8).astype("float32")]
    y = np.eye(3, dtype="float32")[rs.randint(0, 3, 8)]
    return m, x, y, {"optimizer": K.optimizers.AdamW(0.005, weight_decay=0.01),
                     "loss": "categorical_crossentropy", "metrics": ["accuracy"]}


def arch_mobilenetv2(K: Any) -> tuple[Any, list[np.ndarray], Any, dict[str, Any]]:
    m = K.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=4)
    rs = np.random.RandomState(5)
    x = [rs.rand(4, 32, 32, 3).astype("float32")]
    y = np.eye(4, dtype="float32")[rs.randint(0, 4, 4)]
    return m, x, y, {"optimizer": K.optimizers.Adam(0.001), "loss": "categorical_crossentropy"}


ARCHS = {
    "seq": arch_seq,
    "multi": arch_multi,
    "lstm": arch_lstm,
    "transformer": arch_transformer,
    "mobilenetv2": arch_mobilenetv2,
}


def _plain(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def write_one(K: Any, gen: str, arch: str, d: str) -> dict[str, Any]:
    K.backend.clear_session()
    K.utils.set_random_seed(0)
    model, xs, y, compile_args = ARCHS[arch](K)
    model.compile(**compile_args)
    x_arg = xs[0] if len(xs) == 1 else xs
    model.fit(x_arg, y, batch_size=len(y), epochs=STEPS, shuffle=False, verbose=0)
    preds = model.predict(x_arg, verbose=0)
    preds = list(preds) if isinstance(preds, (list, tuple)) else [preds]
    base = os.path.join(d, f"{gen}_{arch}")
    arrays: dict[str, np.ndarray] = {f"x{i}": x for i, x in enumerate(xs)}
    arrays.update({f"p{i}": np.asarray(p) for i, p in enumerate(preds)})
    state, attrs = optimizer_state(model.optimizer, model.trainable_variables)
    arrays.update(state)
    np.savez(base + ".ref.npz", **arrays)
    opt = model.optimizer
    meta = {"optimizer": type(opt).__name__,
            "optimizer_config": json.loads(json.dumps(opt.get_config(), default=_plain)),
            "trainable": trainable_names(model.trainable_variables), "slot_attrs": attrs,
            "iterations": int(np.asarray(opt.iterations)), "n_inputs": len(xs)}
    with open(base + ".ref.json", "w") as fh:
        json.dump(meta, fh)
    if gen == "k2":
        model.save(base + ".h5")
        model.save(base + "_sm", save_format="tf")
        files = [base + ".h5", base + "_sm"]
    else:
        model.save(base + ".keras")
        files = [base + ".keras"]
    return {"files": files, **meta}


def main() -> None:
    payload = json.loads(sys.stdin.read())
    import keras
    import tensorflow as tf
    import tf_keras

    tf.config.set_visible_devices([], "GPU")
    sources: dict[str, Any] = {}
    for gen, K in (("k2", tf_keras), ("k3", keras)):
        for arch in payload["archs"]:
            sources[f"{gen}_{arch}"] = write_one(K, gen, arch, payload["dir"])
    versions = {"tf": tf.__version__, "tf_keras": tf_keras.__version__, "keras": keras.__version__}
    print(json.dumps({"sources": sources, "versions": versions}))


if __name__ == "__main__":
    main()
