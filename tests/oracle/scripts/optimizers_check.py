"""Oracle for optimizers: variables, configs and serialization in tf_keras 2.21 and Keras 3.15.1.

stdin: ``{"dir": <tmp>, "variants": [{"id", "class", "kwargs"}], "ours": {id: {"keras2":
{"legacy", "new"}, "keras3": <serialized>}}}``. For each variant and generation, on a model
``Dense("d1") → BatchNormalization("bn") → Dense("d2")`` with seeded weights:

* ``built``: ``optimizer.build(model.trainable_variables)`` → names, paths, shapes, dtypes;
  values in ``<id>.<gen>.built.npz`` (``v0…``);
* ``trained``: ``compile`` + ``fit`` for 3 steps on fixed data → names, paths, iterations; values
  in ``<id>.<gen>.trained.npz`` (``v0…``);
* ``config`` (``get_config()``), ``serialize`` (``optimizers.serialize``; tf_keras also the
  legacy form its ``.h5`` writer uses);
* ``ours``: our serialized configs deserialized by this generation → its ``get_config()``
  (or the error).

The last stdout line is ``{id: {gen: {...}}}``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import tf_keras
from tf_keras.src.saving.legacy import serialization as legacy_serialization


def _model(mod: Any) -> Any:
    inp = mod.Input((3,))
    x = mod.layers.Dense(4, name="d1")(inp)
    x = mod.layers.BatchNormalization(name="bn")(x)
    x = mod.layers.Dense(2, name="d2")(x)
    model = mod.Model(inp, x)
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.5, size=w.shape).astype(w.dtype) + (1.0 if "variance" in
                       v.name else 0.0) for w, v in zip(model.get_weights(), model.weights)])
    return model


def _optimizer(mod: Any, cls: str, kwargs: dict[str, Any]) -> Any:
    mod.backend.clear_session()  # Keras 3 numbers optimizer names per session (adam, adam_1…)
    kwargs = dict(kwargs)
    if isinstance(kwargs.get("learning_rate"), dict):
        schedule = json.loads(json.dumps(kwargs["learning_rate"]))
        if mod is keras and schedule["config"].get("name") is None:
            schedule["config"].pop("name", None)  # Keras 3's fit needs a named schedule
        kwargs["learning_rate"] = mod.optimizers.schedules.deserialize(schedule)
    return getattr(mod.optimizers, cls)(**kwargs)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _describe(variables: list[Any]) -> list[dict[str, Any]]:
    return [{"name": v.name, "path": getattr(v, "path", None), "shape": list(v.shape),
             "dtype": str(np.asarray(v.numpy()).dtype)} for v in variables]


def _save(path: str, variables: list[Any]) -> None:
    np.savez(path, **{f"v{i}": np.asarray(v.numpy()) for i, v in enumerate(variables)})


def one(directory: str, variant: dict[str, Any], gen: str, ours: dict[str, Any]) -> dict[str, Any]:
    mod = tf_keras if gen == "keras2" else keras
    vid, cls, kwargs = variant["id"], variant["class"], variant["kwargs"]
    out: dict[str, Any] = {}
    opt = _optimizer(mod, cls, kwargs)
    model = _model(mod)
    opt.build(model.trainable_variables)
    out["built"] = _describe(opt.variables)
    _save(os.path.join(directory, f"{vid}.{gen}.built.npz"), opt.variables)
    out["config"] = _plain(opt.get_config())
    out["serialize"] = _plain(mod.optimizers.serialize(opt))
    if gen == "keras2":
        out["serialize_legacy"] = _plain(legacy_serialization.serialize_keras_object(opt))

    opt = _optimizer(mod, cls, kwargs)
    model = _model(mod)
    model.compile(optimizer=opt, loss="mse")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 3)).astype("float32")
    y = rng.normal(size=(8, 2)).astype("float32")
    model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    out["trained"] = _describe(opt.variables)
    out["iterations"] = int(np.asarray(opt.iterations.numpy()))
    _save(os.path.join(directory, f"{vid}.{gen}.trained.npz"), opt.variables)
    np.savez(os.path.join(directory, f"{vid}.{gen}.weights.npz"),
             **{f"w{i}": np.asarray(w.numpy()) for i, w in enumerate(model.trainable_variables)})
    out["trainable"] = [getattr(w, "path", None) or w.name for w in model.trainable_variables]

    loaded: dict[str, Any] = {}
    for form, serialized in ours.items():
        mod.backend.clear_session()
        try:
            obj = mod.optimizers.deserialize(json.loads(json.dumps(serialized)))
            loaded[form] = {"ok": True, "class": type(obj).__name__,
                            "config": _plain(obj.get_config())}
        except Exception as exc:
            loaded[form] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:1500]}
    out["ours"] = loaded
    return out


def main() -> None:
    payload = json.loads(sys.stdin.read())
    results: dict[str, Any] = {}
    for variant in payload["variants"]:
        ours = payload["ours"][variant["id"]]
        results[variant["id"]] = {
            "keras2": one(payload["dir"], variant, "keras2", ours["keras2"]),
            "keras3": one(payload["dir"], variant, "keras3", ours["keras3"]),
        }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
