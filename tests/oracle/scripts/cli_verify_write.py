"""Oracle side of ``test_cli_verify_oracle``: TensorFlow, tf_keras and Keras 3 write their own
files into ``payload["dir"]``; prints ``{"files": {name: path}}``.

tf_keras (compiled, trained 2 steps, two-input Functional and an LSTM Sequential): SavedModel,
``.h5``, ``save_weights`` checkpoint and ``.h5`` weights; Keras 3: ``.keras``, ``.weights.h5``;
TensorFlow: ``tf.train.Checkpoint`` of a model and optimizer, a plain ``tf.Module`` SavedModel.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "0")

import keras
import numpy as np
import tensorflow as tf
import tf_keras


def main() -> None:
    payload = json.loads(sys.stdin.read())
    d = payload["dir"]
    out: dict[str, str] = {}
    rng = np.random.default_rng(0)

    a = tf_keras.Input((3,), name="a")
    b = tf_keras.Input((2,), name="b")
    x = tf_keras.layers.Concatenate()([a, b])
    x = tf_keras.layers.Dense(4, activation="relu")(x)
    y = tf_keras.layers.Dense(1)(x)
    k2 = tf_keras.Model([a, b], y)
    k2.compile(optimizer="adam", loss="mse")
    k2.fit([rng.normal(size=(8, 3)), rng.normal(size=(8, 2))], rng.normal(size=(8, 1)),
           epochs=2, verbose=0)
    out["k2_savedmodel"] = os.path.join(d, "k2_sm")
    k2.save(out["k2_savedmodel"], save_format="tf")
    out["k2_h5"] = os.path.join(d, "k2.h5")
    k2.save(out["k2_h5"])
    out["k2_ckpt"] = os.path.join(d, "k2ck", "ckpt")
    k2.save_weights(out["k2_ckpt"])
    out["k2_weights_h5"] = os.path.join(d, "k2w.h5")
    k2.save_weights(out["k2_weights_h5"])

    lstm = tf_keras.Sequential([tf_keras.layers.Embedding(20, 4, input_length=5),
                                tf_keras.layers.LSTM(3), tf_keras.layers.Dense(2)])
    lstm.compile(optimizer="rmsprop", loss="mse")
    lstm.fit(rng.integers(0, 20, size=(8, 5)), rng.normal(size=(8, 2)), epochs=1, verbose=0)
    out["k2_lstm_savedmodel"] = os.path.join(d, "lstm_sm")
    lstm.save(out["k2_lstm_savedmodel"], save_format="tf")
    out["k2_lstm_h5"] = os.path.join(d, "lstm.h5")
    lstm.save(out["k2_lstm_h5"])

    k3 = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"),
                           keras.layers.BatchNormalization(), keras.layers.Dense(2)])
    k3.compile(optimizer="adam", loss="mse")
    k3.fit(rng.normal(size=(8, 3)), rng.normal(size=(8, 2)), epochs=2, verbose=0)
    out["k3_keras"] = os.path.join(d, "k3.keras")
    k3.save(out["k3_keras"])
    out["k3_weights_h5"] = os.path.join(d, "k3.weights.h5")
    k3.save_weights(out["k3_weights_h5"])

    ck = tf.train.Checkpoint(model=k2, optimizer=k2.optimizer)
    out["tf_checkpoint"] = ck.save(os.path.join(d, "tfck", "ck"))

    class Plain(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable(tf.ones((3, 2)), name="w")
            self.s = tf.Variable("text", name="s")

        @tf.function(input_signature=[tf.TensorSpec((None, 3), tf.float32)])
        def __call__(self, x: tf.Tensor) -> tf.Tensor:
            return tf.matmul(x, self.w)

    out["tf_module_savedmodel"] = os.path.join(d, "plain_sm")
    tf.saved_model.save(Plain(), out["tf_module_savedmodel"])
    print(json.dumps({"files": out}))


if __name__ == "__main__":
    main()
