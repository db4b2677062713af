"""Oracle for operator layers (TFOpLambda / SlicingOpLambda / Keras 3 ops), in two phases.

One process, two JSON lines on stdin, two on stdout (the test drives it with ``Popen``):

1. stdin ``{"dir": <tmp>}``: builds each model of ``K2_MODELS`` natively in tf_keras (ops through
   ``tf.*`` and Python operators → TFOpLambda) and each of ``K3_MODELS`` in Keras 3
   (``keras.ops``), with seeded weights; writes ``<name>.json`` (``model.to_json()``),
   ``<name>.npz`` (``w0…`` weights, ``x0…`` inputs, ``y0…`` predictions). stdout: ``{"phase": 1,
   "models": {name: {"generation", "inputs", "outputs"}}}``.
2. stdin ``{"loads": [{"id", "generation", "json", "weights"?, "inputs", "expect"?}]}``: loads
   each config (our renders) with that generation's ``model_from_json``, sets the weights from
   ``weights`` (an npz of ``w0…``) if given, predicts on the npz's ``x0…`` and writes
   ``<id>.out.npz`` (``y0…``). stdout: ``{"phase": 2, "results": {id: {"ok", "error"?}}}``.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import tensorflow as tf
import tf_keras
from keras import ops


def _x(shape: tuple[int, ...], seed: int, low: float = 0.5, high: float = 1.5) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, size=(2, *shape)).astype("float32")


# ============================================================================ tf_keras models


def k2_user() -> Any:
    """The user-model idioms: slicing, Python arithmetic, tf.nn / tf.math / tf.concat / reshape."""
    k = tf_keras
    inp = k.Input((4, 5))
    x = inp[:, 1:3] * 2.0 + 1
    y = tf.nn.relu6(x)
    z = tf.reduce_mean(y, axis=-1, keepdims=True)
    w = tf.concat([y, z], axis=-1)
    w = tf.reshape(w, (-1, 12))
    w = tf.transpose(tf.reshape(w, (-1, 3, 4)), perm=[0, 2, 1])
    w = -w
    w = w - inp[:, 0, :3][:, None, :]
    d = k.layers.Dense(3, name="dense")(w)
    out = 2.0 - d / 3.0 + d**2
    return k.Model(inp, out), [(4, 5)]


def k2_math() -> Any:
    """Element-wise math, reductions, shape ops, matmul, comparisons, multiple outputs."""
    k = tf_keras
    a = k.Input((4, 5))
    b = k.Input((5, 3))
    outs = [
        tf.sigmoid(a) + tf.tanh(a) * tf.nn.relu(a - 1.0),
        tf.nn.softmax(a, axis=1),
        tf.nn.softmax(a),
        tf.expand_dims(a, 1),
        tf.squeeze(a[:, :1], axis=1),
        tf.cast(tf.cast(a * 10.0, tf.int32), tf.float32),
        tf.matmul(a, b),
        a @ b,
        tf.maximum(a, 1.0) + tf.minimum(a, 0.9),
        tf.sqrt(a) + tf.square(a) + tf.exp(a) + tf.math.log(a) + tf.abs(a - 1.0),
        tf.reduce_sum(a, axis=[1, 2]),
        tf.reduce_max(a, 1),
        tf.reduce_min(a, axis=-1, keepdims=True),
        tf.stack([a, a * 2.0], axis=1),
        3.0 / a + 2**a,
        a[..., 0],
        a[..., 1:, None],
        a[0],
        tf.clip_by_value(a, 0.7, 1.2),
        tf.where(a > 1.0, a, 0.0),
        tf.math.rsqrt(a),
        tf.nn.silu(a) + tf.nn.gelu(a) + tf.nn.gelu(a, approximate=True),
        tf.nn.leaky_relu(a - 1.0) + tf.nn.elu(a - 1.0) + tf.math.softplus(a),
        tf.tile(a, [1, 2, 1]),
        tf.split(a, 2, axis=1)[1],
        tf.split(a, [1, 4], axis=2)[0],
        tf.math.reduce_std(a, axis=1) + tf.math.reduce_variance(a, axis=1),
        tf.math.argmax(a, axis=-1),
        tf.concat([a, 2.0 * a], 1),
    ]
    return k.Model([a, b], outs), [(4, 5), (5, 3)]


def k2_only() -> Any:
    """TF calls Keras 3 cannot express: matmul(transpose_b=True), l2_normalize, tensor shape."""
    k = tf_keras
    a = k.Input((4, 5))
    outs = [
        tf.matmul(a, a, transpose_b=True),
        tf.math.l2_normalize(a, axis=-1),
        tf.reshape(a * 2.0, tf.shape(a)),
    ]
    return k.Model(a, outs), [(4, 5)]


def k2_mobilenet_block() -> Any:
    """The hard-swish / squeeze-excite idiom of tf_keras' MobileNetV3 (x + 3.0, * (1/6))."""
    k = tf_keras
    inp = k.Input((6, 6, 4))
    x = k.layers.Conv2D(8, 1, name="conv")(inp)
    h = k.layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)
    x = k.layers.Multiply()([x, h])
    s = k.layers.GlobalAveragePooling2D(keepdims=True)(x)
    s = k.layers.Conv2D(8, 1, name="se")(s)
    s = k.layers.ReLU(6.0)(s + 3.0) * (1.0 / 6.0)
    out = k.layers.Multiply()([x, s])
    return k.Model(inp, out), [(6, 6, 4)]


# ============================================================================ Keras 3 models


def k3_user() -> Any:
    inp = keras.Input((4, 5))
    x = inp[:, 1:3] * 2.0 + 1
    y = ops.relu6(x)
    z = ops.mean(y, axis=-1, keepdims=True)
    w = ops.concatenate([y, z], axis=-1)
    w = ops.reshape(w, (-1, 12))
    w = ops.transpose(ops.reshape(w, (-1, 3, 4)), axes=[0, 2, 1])
    w = -w
    w = w - inp[:, 0, :3][:, None, :]
    d = keras.layers.Dense(3, name="dense")(w)
    out = 2.0 - d / 3.0 + d**2
    return keras.Model(inp, out), [(4, 5)]


def k3_math() -> Any:
    a = keras.Input((4, 5))
    b = keras.Input((5, 3))
    outs = [
        ops.sigmoid(a) + ops.tanh(a) * ops.relu(a - 1.0),
        ops.softmax(a, axis=1),
        ops.expand_dims(a, 1),
        ops.squeeze(a[:, :1], axis=1),
        ops.cast(ops.cast(a * 10.0, "int32"), "float32"),
        ops.matmul(a, b),
        a @ b,
        ops.maximum(a, 1.0) + ops.minimum(a, 0.9),
        ops.sqrt(a) + ops.square(a) + ops.exp(a) + ops.log(a) + ops.abs(a - 1.0),
        ops.sum(a, axis=[1, 2]),
        ops.max(a, 1),
        ops.min(a, axis=-1, keepdims=True),
        ops.stack([a, a * 2.0], axis=1),
        3.0 / a + 2**a,
        a[..., 0],
        a[..., 1:, None],
        ops.clip(a, 0.7, 1.2),
        ops.where(a > 1.0, a, 0.0),
        ops.rsqrt(a),
        ops.silu(a) + ops.gelu(a) + ops.gelu(a, approximate=False),
        ops.leaky_relu(a - 1.0) + ops.elu(a - 1.0) + ops.softplus(a),
        ops.tile(a, [1, 2, 1]),
        ops.split(a, 2, axis=1)[1],
        ops.split(a, [1], axis=2)[0],
        ops.std(a, axis=1) + ops.var(a, axis=1),
        ops.argmax(a, axis=-1),
        ops.concatenate([a, 2.0 * a], 1),
        ops.divide(a, 4.0) + ops.true_divide(a, 2.0),
        ops.log_softmax(a),
    ]
    return keras.Model([a, b], outs), [(4, 5), (5, 3)]


def k3_only() -> Any:
    """Keras 3 ops without a TF function (hard_sigmoid) or argument (Max.initial)."""
    a = keras.Input((4, 5))
    return keras.Model(a, [ops.hard_sigmoid(a), ops.max(a, axis=1, initial=1.2)]), [(4, 5)]


K2_MODELS = {"k2_user": k2_user, "k2_math": k2_math, "k2_only": k2_only,
             "k2_mobilenet_block": k2_mobilenet_block}
K3_MODELS = {"k3_user": k3_user, "k3_math": k3_math, "k3_only": k3_only}


def _seed_weights(model: Any, seed: int) -> None:
    rng = np.random.default_rng(seed)
    weights = model.get_weights()
    model.set_weights([rng.normal(0, 0.3, size=w.shape).astype(w.dtype) for w in weights])


def _as_list(y: Any) -> list[np.ndarray]:
    return [np.asarray(v) for v in (y if isinstance(y, (list, tuple)) else [y])]


def phase1(directory: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for seed, (name, build) in enumerate([*K2_MODELS.items(), *K3_MODELS.items()]):
        gen = "keras2" if name in K2_MODELS else "keras3"
        model, shapes = build()
        _seed_weights(model, seed)
        xs = [_x(s, seed * 10 + i) for i, s in enumerate(shapes)]
        ys = _as_list(model.predict(xs if len(xs) > 1 else xs[0], verbose=0))
        with open(os.path.join(directory, f"{name}.json"), "w") as f:
            f.write(model.to_json())
        arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
        arrays.update({f"x{i}": x for i, x in enumerate(xs)})
        arrays.update({f"y{i}": y for i, y in enumerate(ys)})
        np.savez(os.path.join(directory, f"{name}.npz"), **arrays)
        out[name] = {"generation": gen, "inputs": len(xs), "outputs": len(ys)}
    return out


def phase2(directory: str, loads: list[dict[str, Any]]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for item in loads:
        try:
            with open(item["json"]) as f:
                text = f.read()
            if item["generation"] == "keras2":
                model = tf_keras.models.model_from_json(text)
            else:
                model = keras.models.model_from_json(text)
            if item.get("weights"):
                data = np.load(item["weights"])
                model.set_weights([data[f"w{i}"] for i in range(len(model.get_weights()))])
            data = np.load(item["inputs"])
            xs = [data[f"x{i}"] for i in range(item["n_inputs"])]
            ys = _as_list(model.predict(xs if len(xs) > 1 else xs[0], verbose=0))
            np.savez(os.path.join(directory, f"{item['id']}.out.npz"),
                     **{f"y{i}": y for i, y in enumerate(ys)})
            results[item["id"]] = {"ok": True, "classes": sorted(
                {type(la).__name__ for la in model.layers})}
        except Exception as exc:
            results[item["id"]] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000],
                                   "trace": traceback.format_exc()[-3000:]}
    return results


def main() -> None:
    first = json.loads(sys.stdin.readline())
    print(json.dumps({"phase": 1, "models": phase1(first["dir"])}), flush=True)
    line = sys.stdin.readline()
    if not line.strip():
        return
    second = json.loads(line)
    print(json.dumps({"phase": 2, "results": phase2(first["dir"], second["loads"])}), flush=True)


if __name__ == "__main__":
    main()
