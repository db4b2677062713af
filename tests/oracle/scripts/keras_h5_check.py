"""Oracle for legacy ``.h5``: make reference files with tf_keras 2.21 / Keras 3.15.1, and load ours.

Runs in the oracle venv (``tests/conftest.py``); stdin is a JSON payload, the last stdout line a
JSON result. Two modes:

``{"mode": "make", "dir": D, "archs": [names]}``
    For each framework (``tf_keras``, ``keras3``) and architecture: build the model (fixed seeds),
    train compiled ones for one step, then write ``D/<fw>_<arch>.h5`` (the framework's own
    ``model.save``), ``D/<fw>_<arch>.json`` (``model.to_json()``) and ``D/<fw>_<arch>.npz``:
    inputs ``x<i>``, predictions ``p<i>``, per layer of ``model.layers`` (index ``k``) its weights
    in load order (trainable, then non-trainable) ``w<k>_<j>``, layer names ``names``, and for
    compiled models the optimizer state: ``iterations`` and ``s<i>_<slot>`` per trainable variable
    ``i`` with the Keras 3 slot name (``momentum``/``velocity``). Result: ``{"made": [...]}``.
``{"mode": "check", "files": [{"file", "ref", "compiled", "state"}]}``
    Load each file with tf_keras ``load_model`` and Keras 3 ``load_model``; predict on the ``x<i>``
    of ``ref`` (npz) and compare with its ``p<i>``; if compiled, check the model came back compiled
    and ``fit`` one step on (x, predictions); with ``state`` (npz with ``iterations`` and
    ``s<i>_<slot>``), compare tf_keras' restored optimizer state exactly (before fitting).
    Result: ``{"results": {file: {loader: {...}}}}``.
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

# Optimizer attribute holding each slot list (tf_keras ≥ 2.11 and Keras 3), by Keras 3 slot name.
SLOT_ATTRS = {
    "momentum": ("_momentums", "momentums"),
    "velocity": ("_velocities", "velocities"),
}


def _frameworks() -> dict[str, Any]:
    import keras
    import tf_keras

    return {"tf_keras": tf_keras, "keras3": keras}


# ============================================================================ architectures


def arch_seed(K: Any) -> tuple[Any, list[np.ndarray], dict[str, Any] | None]:
    m = K.Sequential([K.layers.Dense(5, input_shape=(3,)), K.layers.Softmax()])
    return m, [np.random.RandomState(1).randn(4, 3).astype("float32")], None


def arch_dense_adam(K: Any) -> tuple[Any, list[np.ndarray], dict[str, Any] | None]:
    m, x, _ = arch_seed(K)
    return m, x, {"optimizer": K.optimizers.Adam(1e-3), "loss": "categorical_crossentropy",
                  "metrics": ["accuracy"]}


def arch_convnet(K: Any) -> tuple[Any, list[np.ndarray], dict[str, Any] | None]:
    L = K.layers
    img = K.Input((8, 8, 3), name="img")
    x = L.Conv2D(4, 3, padding="same", name="conv")(img)
    x = L.BatchNormalization(name="bn")(x)
    x = L.ReLU(name="relu")(x)
    s = L.Conv2D(4, 1, name="skip_conv")(img)
    x = L.Add(name="add")([x, s])
    x = L.MaxPooling2D(name="pool")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = L.Dropout(0.2, name="drop")(x)
    out = L.Dense(3, activation="softmax", name="head")(x)
    m = K.Model(img, out, name="convnet")
    xs = [np.random.RandomState(2).rand(4, 8, 8, 3).astype("float32")]
    return m, xs, {"optimizer": K.optimizers.SGD(0.01, momentum=0.9),
                   "loss": "categorical_crossentropy", "metrics": ["accuracy"]}


def arch_multi_io(K: Any) -> tuple[Any, list[np.ndarray], dict[str, Any] | None]:
    L = K.layers
    a = K.Input((4,), name="in_a")
    b = K.Input((6,), name="in_b")
    shared = L.Dense(5, activation="relu", name="shared")
    ha = shared(L.Dense(6, name="pre_a")(a))
    hb = shared(b)
    tower = K.Sequential(
        [K.Input((5,)), L.Dense(4, activation="tanh", name="t_d1"),
         L.BatchNormalization(name="t_bn"), L.Dense(3, name="t_d2")],
        name="tower",
    )
    ta = tower(ha)
    cat = L.Concatenate(name="cat")([ta, hb])
    out1 = L.Dense(2, activation="softmax", name="out1")(cat)
    out2 = L.Dense(1, name="out2")(L.Multiply(name="mul")([ta, tower(hb)]))
    m = K.Model([a, b], [out1, out2], name="multi_io")
    rs = np.random.RandomState(3)
    xs = [rs.randn(4, 4).astype("float32"), rs.randn(4, 6).astype("float32")]
    return m, xs, {"optimizer": K.optimizers.Adam(2e-3), "loss": "mse",
                   "metrics": [["mae"], ["mae"]]}


def arch_lstm_text(K: Any) -> tuple[Any, list[np.ndarray], dict[str, Any] | None]:
    L = K.layers
    tok = K.Input((10,), dtype="int32", name="tokens")
    x = L.Embedding(50, 8, name="emb")(tok)
    x = L.LSTM(6, return_sequences=True, name="lstm")(x)
    x = L.GRU(5, name="gru")(x)
    out = L.Dense(1, activation="sigmoid", name="out")(x)
    m = K.Model(tok, out, name="text")
    xs = [np.random.RandomState(4).randint(0, 50, size=(4, 10)).astype("int32")]
    return m, xs, {"optimizer": K.optimizers.RMSprop(1e-3), "loss": "binary_crossentropy",
                   "metrics": ["accuracy"]}


def arch_bidi(K: Any) -> tuple[Any, list[np.ndarray], dict[str, Any] | None]:
    L = K.layers
    x_in = K.Input((5, 4), name="x")
    x = L.Bidirectional(L.LSTM(3, return_sequences=True), name="bidi")(x_in)
    x = L.TimeDistributed(L.Dense(2), name="td")(x)
    x = L.Flatten(name="flat")(x)
    out = L.Dense(1, name="out")(x)
    m = K.Model(x_in, out, name="bidi_model")
    return m, [np.random.RandomState(5).randn(4, 5, 4).astype("float32")], None


def arch_transformer(K: Any) -> tuple[Any, list[np.ndarray], dict[str, Any] | None]:
    L = K.layers
    x_in = K.Input((6, 8), name="seq")
    att = L.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(x_in, x_in)
    x = L.LayerNormalization(name="ln1")(L.Add(name="res1")([x_in, att]))
    ff = L.Dense(8, name="ff2")(L.Dense(16, activation="relu", name="ff1")(x))
    x = L.LayerNormalization(name="ln2")(L.Add(name="res2")([x, ff]))
    out = L.Dense(3, activation="softmax", name="cls")(L.GlobalAveragePooling1D(name="gap")(x))
    m = K.Model(x_in, out, name="transformer")
    return m, [np.random.RandomState(6).randn(4, 6, 8).astype("float32")], None


def arch_mobilenetv2(K: Any) -> tuple[Any, list[np.ndarray], dict[str, Any] | None]:
    m = K.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=4)
    # Non-trivial BatchNorm statistics so inference differs from training mode.
    rs = np.random.RandomState(7)
    for layer in m.layers:
        if layer.__class__.__name__ == "BatchNormalization":
            mean, var = layer.moving_mean, layer.moving_variance
            mean.assign(rs.randn(*mean.shape).astype("float32") * 0.1)
            var.assign(rs.rand(*var.shape).astype("float32") + 0.5)
    return m, [rs.rand(2, 32, 32, 3).astype("float32")], None


ARCHS = {
    "seed": arch_seed,
    "dense_adam": arch_dense_adam,
    "convnet": arch_convnet,
    "multi_io": arch_multi_io,
    "lstm_text": arch_lstm_text,
    "bidi": arch_bidi,
    "transformer": arch_transformer,
    "mobilenetv2": arch_mobilenetv2,
}


# ============================================================================ helpers


def _as_list(value: Any) -> list[np.ndarray]:
    if isinstance(value, (list, tuple)):
        return [np.asarray(v) for v in value]
    if isinstance(value, dict):
        return [np.asarray(v) for v in value.values()]
    return [np.asarray(value)]


def _legacy(layer: Any) -> list[Any]:
    return list(layer.trainable_weights) + list(layer.non_trainable_weights)


def _optimizer_state(model: Any) -> dict[str, np.ndarray]:
    opt = model.optimizer
    out: dict[str, np.ndarray] = {"iterations": np.asarray(int(opt.iterations.numpy()))}
    for slot, attrs in SLOT_ATTRS.items():
        for attr in attrs:
            values = getattr(opt, attr, None)
            if values:
                for i, v in enumerate(values):
                    out[f"s{i}_{slot}"] = np.asarray(v.numpy())
                break
    return out


def _plain(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _inputs(ref: Any) -> list[np.ndarray]:
    out = []
    i = 0
    while f"x{i}" in ref:
        out.append(ref[f"x{i}"])
        i += 1
    return out


def _preds(ref: Any) -> list[np.ndarray]:
    out = []
    i = 0
    while f"p{i}" in ref:
        out.append(ref[f"p{i}"])
        i += 1
    return out


# ============================================================================ make


def make(payload: dict[str, Any]) -> dict[str, Any]:
    fws = _frameworks()
    d = payload["dir"]
    made = []
    for fw, K in fws.items():
        for arch in payload["archs"]:
            np.random.seed(0)
            if fw == "keras3":
                K.utils.set_random_seed(0)
            else:
                K.utils.set_random_seed(0)
            model, xs, compile_args = ARCHS[arch](K)
            x_arg = xs[0] if len(xs) == 1 else xs
            if compile_args:
                model.compile(**compile_args)
                y = _as_list(model.predict(x_arg, verbose=0))
                model.fit(x_arg, y[0] if len(y) == 1 else y, epochs=1, batch_size=len(xs[0]),
                          verbose=0)
            preds = _as_list(model.predict(x_arg, verbose=0))
            base = os.path.join(d, f"{fw}_{arch}")
            arrays: dict[str, np.ndarray] = {}
            for i, x in enumerate(xs):
                arrays[f"x{i}"] = x
            for i, p in enumerate(preds):
                arrays[f"p{i}"] = p
            for k, layer in enumerate(model.layers):
                for j, w in enumerate(_legacy(layer)):
                    arrays[f"w{k}_{j}"] = np.asarray(w.numpy())
            arrays["names"] = np.array([la.name for la in model.layers])
            if compile_args:
                arrays.update(_optimizer_state(model))
            np.savez(base + ".npz", **arrays)
            with open(base + ".json", "w") as fh:
                fh.write(model.to_json())
            model.save(base + ".h5")
            made.append(base)
            K.backend.clear_session()
    return {"made": made}


# ============================================================================ check


def _check_one(K: Any, spec: dict[str, Any]) -> dict[str, Any]:
    res: dict[str, Any] = {}
    try:
        model = K.models.load_model(spec["file"])
    except Exception as exc:
        return {"loaded": False, "error": f"{type(exc).__name__}: {str(exc)[:600]}"}
    res["loaded"] = True
    ref = np.load(spec["ref"])
    xs = _inputs(ref)
    x_arg = xs[0] if len(xs) == 1 else xs
    preds = _as_list(model.predict(x_arg, verbose=0))
    expected = _preds(ref)
    res["n_outputs"] = [len(preds), len(expected)]
    diffs, scales = [], []
    for p, e in zip(preds, expected):
        diffs.append(float(np.max(np.abs(p.astype("float64") - e))) if p.shape == e.shape else 1e30)
        scales.append(float(np.max(np.abs(e))))
    res["maxdiff"] = max(diffs) if diffs else 1e30
    res["scale"] = max(scales) if scales else 0.0
    opt = getattr(model, "optimizer", None)
    compiled = bool(getattr(model, "compiled", False) or getattr(model, "_is_compiled", False))
    res["compiled"] = compiled and opt is not None
    res["optimizer"] = type(opt).__name__ if opt is not None else None
    if opt is not None:
        try:
            res["optimizer_config"] = json.loads(json.dumps(opt.get_config(), default=_plain))
        except Exception:
            res["optimizer_config"] = None
    if spec.get("state") and opt is not None:
        want = np.load(spec["state"])
        try:
            got = _optimizer_state(model)
            res["iterations"] = int(got["iterations"])
            bad = []
            for key in want.files:
                if key == "iterations":
                    if int(want[key]) != int(got["iterations"]):
                        bad.append(key)
                    continue
                if key not in got or got[key].shape != want[key].shape or not np.array_equal(
                    got[key], want[key]
                ):
                    bad.append(key)
            extra = sorted(set(got) - set(want.files))
            res["state_bad"] = bad
            res["state_extra"] = extra
        except Exception as exc:
            res["state_bad"] = [f"{type(exc).__name__}: {exc}"]
    if spec.get("compiled") and res["compiled"]:
        try:
            y = expected[0] if len(expected) == 1 else expected
            model.fit(x_arg, y, epochs=1, batch_size=len(xs[0]), verbose=0)
            res["fit"] = True
            res["iterations_after_fit"] = int(model.optimizer.iterations.numpy())
        except Exception as exc:
            res["fit"] = False
            res["fit_error"] = f"{type(exc).__name__}: {str(exc)[:400]}"
    return res


def check(payload: dict[str, Any]) -> dict[str, Any]:
    fws = _frameworks()
    results: dict[str, Any] = {}
    for spec in payload["files"]:
        per: dict[str, Any] = {}
        for fw, K in fws.items():
            try:
                per[fw] = _check_one(K, spec)
            except Exception:
                per[fw] = {"loaded": False, "error": traceback.format_exc()[-1500:]}
            K.backend.clear_session()
        results[spec["file"]] = per
    return {"results": results}


def main() -> None:
    payload = json.loads(sys.stdin.read())
    out = make(payload) if payload["mode"] == "make" else check(payload)
    sys.stdout.write("\n" + json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
