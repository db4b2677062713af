#!/usr/bin/env python3
"""Write the model-format goldens with real TensorFlow / tf_keras / Keras 3: ``tests/golden/``.

    PY=$(python3 tools/oracle_env.py ensure tf)
    $PY tools/make_format_goldens.py    # rewrites tests/golden/{savedmodel,h5,keras,checkpoint}

Models (fixed layer names, see :data:`MODELS`): ``seed`` = ``Sequential([Dense(5,
input_shape=(3,)) "dense", Softmax "softmax"], name="sequential")``; ``cnn`` = a Functional
``Input(8, 8, 3) "image" -> Conv2D(3, 3, padding="same") "conv" -> BatchNormalization "bn" ->
Add "add" ([bn, image]) -> GlobalAveragePooling2D "gap" -> Dense(2) "head"``, name ``"cnn"``.
Each is written uncompiled (``<model>``) and compiled (``<model>_compiled``: ``Adam(1e-3)``,
``loss="categorical_crossentropy"``; the optimizer is built on the trainable variables and its
variables are assigned fixed values, no training step, so every framework holds the same state).

Values come from :func:`weight_value` / :func:`slot_value` (numpy only, keyed by model, layer and
weight name, not by position) so the unit tests (``tests/unit/test_format_goldens.py``, which
load this file by path) rebuild identical models with purekeras_io without TF.

Formats (folder under ``tests/golden/`` / file name per case):

===================  ===============================================================
``savedmodel/``      ``<case>.tf/`` tf_keras ``save_format="tf"``; ``<case>.notraces/``
                     the same with ``save_traces=False``
``h5/``              ``<case>.k2.h5`` tf_keras; ``<case>.k3.h5`` Keras 3 (legacy writer)
``keras/``           ``<case>.keras`` Keras 3
``checkpoint/``      ``<case>/ckpt.{index,data-00000-of-00001}`` + ``checkpoint``: tf_keras
                     ``model.save_weights(prefix)``
===================  ===============================================================

``MANIFEST.json`` (in ``tests/golden/``): versions, the recipe, every file's size and SHA-256, and
the SHA-256 of every weight / optimizer value as the frameworks saw them after assignment.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CASES",
    "FORMAT_DIRS",
    "GOLDEN_DIR",
    "ITERATIONS",
    "LEARNING_RATE",
    "MODELS",
    "array_sha256",
    "generate",
    "slot_value",
    "weight_value",
]

ROOT = Path(__file__).resolve().parent.parent
GOLDEN_DIR = ROOT / "tests" / "golden"
FORMAT_DIRS = ("savedmodel", "h5", "keras", "checkpoint")

MODELS = {
    "seed": "Sequential([Dense(5, input_shape=(3,), name='dense'), Softmax(name='softmax')], "
    "name='sequential')",
    "cnn": "Input((8, 8, 3), name='image') -> Conv2D(3, 3, padding='same', name='conv') -> "
    "BatchNormalization(name='bn') -> Add(name='add')([bn, image]) -> "
    "GlobalAveragePooling2D(name='gap') -> Dense(2, name='head'); Model(name='cnn')",
}
# case -> (model, compiled)
CASES: dict[str, tuple[str, bool]] = {
    "seed": ("seed", False),
    "seed_compiled": ("seed", True),
    "cnn": ("cnn", False),
    "cnn_compiled": ("cnn", True),
}
LEARNING_RATE = 1e-3
LOSS = "categorical_crossentropy"
ITERATIONS = 3
RECIPE_TEXT = (
    "weight_value(model, layer, weight, shape): float32 from numpy.random.default_rng(seed) with "
    "seed = first 8 bytes (little endian) of sha256('<model>/<layer>/<weight>'); "
    "standard_normal * 0.5, except names containing 'variance': uniform(0.5, 1.5). "
    "slot_value(model, layer, weight, slot, shape): the same over "
    "'<model>/<layer>/<weight>/<slot>' "
    "(slot 'm' or 'v'; 'v' takes the absolute value). Optimizer: Adam(learning_rate=1e-3), built "
    "on the trainable variables (tf_keras: inside tf.name_scope('Adam') as apply_gradients "
    "does), iterations = 3, m/v assigned; compile loss 'categorical_crossentropy'. "
    "Each case starts with clear_session() in both frameworks."
)


def _rng(key: str) -> np.random.Generator:
    seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")
    return np.random.default_rng(seed)


def weight_value(model: str, layer: str, weight: str, shape: tuple[int, ...]) -> np.ndarray:
    """The fixed value of ``layer``'s weight ``weight`` (short name: ``kernel``, ``gamma``…)."""
    rng = _rng(f"{model}/{layer}/{weight}")
    if "variance" in weight:
        return rng.uniform(0.5, 1.5, size=shape).astype(np.float32)
    return (rng.standard_normal(size=shape) * 0.5).astype(np.float32)


def slot_value(
    model: str, layer: str, weight: str, slot: str, shape: tuple[int, ...]
) -> np.ndarray:
    """The fixed value of Adam's slot ``slot`` (``m`` / ``v``) for that weight."""
    value = (_rng(f"{model}/{layer}/{weight}/{slot}").standard_normal(size=shape) * 0.5)
    if slot == "v":
        value = np.abs(value)
    return value.astype(np.float32)


def array_sha256(arr: Any) -> str:
    """SHA-256 over dtype, shape and contents."""
    a = np.ascontiguousarray(np.asarray(arr))
    head = f"{a.dtype.str}{list(a.shape)}".encode()
    return hashlib.sha256(head + a.tobytes()).hexdigest()


# ----------------------------------------------------------------- framework side (oracle only)


def _short(var: Any) -> tuple[str, str]:
    """(layer name, short weight name) of a tf_keras or Keras 3 variable."""
    path = getattr(var, "path", None) or var.name
    parts = path.split(":")[0].split("/")
    return parts[-2], parts[-1]


def _build(K: Any, model: str) -> Any:
    L = K.layers
    if model == "seed":
        return K.Sequential(
            [L.Dense(5, input_shape=(3,), name="dense"), L.Softmax(name="softmax")],
            name="sequential",
        )
    image = K.Input((8, 8, 3), name="image")
    x = L.Conv2D(3, 3, padding="same", name="conv")(image)
    x = L.BatchNormalization(name="bn")(x)
    x = L.Add(name="add")([x, image])
    x = L.GlobalAveragePooling2D(name="gap")(x)
    out = L.Dense(2, name="head")(x)
    return K.Model(image, out, name="cnn")


def make_model(K: Any, case: str) -> tuple[Any, dict[str, Any]]:
    """The case's model in framework ``K`` (tf_keras or keras) with the fixed values; returns it
    and the digests of what it holds."""
    model_name, compiled = CASES[case]
    model = _build(K, model_name)
    values = []
    for var in model.weights:
        layer, weight = _short(var)
        values.append(weight_value(model_name, layer, weight, tuple(var.shape)))
    model.set_weights(values)
    record: dict[str, Any] = {
        "weights": {
            "/".join(_short(v)): array_sha256(v.numpy()) for v in model.weights
        }
    }
    if compiled:
        opt = K.optimizers.Adam(learning_rate=LEARNING_RATE)
        model.compile(optimizer=opt, loss=LOSS)
        if K.__name__ == "tf_keras":  # as apply_gradients does: slots named Adam/m/dense/kernel
            import tensorflow as tf

            with tf.name_scope(opt.name):
                opt.build(model.trainable_variables)
        else:
            opt.build(model.trainable_variables)
        slots = {}
        for var, m, v in zip(model.trainable_variables, opt._momentums, opt._velocities):
            layer, weight = _short(var)
            for slot, holder in (("m", m), ("v", v)):
                value = slot_value(model_name, layer, weight, slot, tuple(var.shape))
                holder.assign(value)
                slots[f"{layer}/{weight}/{slot}"] = array_sha256(holder.numpy())
        opt.iterations.assign(ITERATIONS)
        record["optimizer"] = {"iterations": int(opt.iterations.numpy()), "slots": slots}
    return model, record


def _files(folder: Path, base: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for p in sorted(folder.rglob("*")) if folder.is_dir() else [folder]:
        if p.is_file():
            data = p.read_bytes()
            out[str(p.relative_to(base))] = {
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
    return out


def generate(out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Write every case in every format into ``out_dir``; return the manifest (written there)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import h5py
    import keras
    import tensorflow as tf
    import tf_keras

    tf.keras.utils.set_random_seed(0)
    out = Path(out_dir)
    for name in FORMAT_DIRS:
        shutil.rmtree(out / name, ignore_errors=True)
        (out / name).mkdir(parents=True)
    manifest: dict[str, Any] = {
        "versions": {
            "tensorflow": tf.__version__,
            "tf_keras": tf_keras.__version__,
            "keras": keras.__version__,
            "h5py": h5py.__version__,
            "hdf5": h5py.version.hdf5_version,
            "numpy": np.__version__,
        },
        "recipe": {
            "models": MODELS,
            "cases": {c: {"model": m, "compiled": k} for c, (m, k) in CASES.items()},
            "values": RECIPE_TEXT,
            "learning_rate": LEARNING_RATE,
            "loss": LOSS,
            "iterations": ITERATIONS,
            "generator": "tools/make_format_goldens.py",
        },
        "cases": {},
    }
    for case in CASES:
        entry: dict[str, Any] = {}
        tf_keras.backend.clear_session()  # fresh automatic names (input_layer, adam) per case
        keras.backend.clear_session()
        m2, rec2 = make_model(tf_keras, case)
        m3, rec3 = make_model(keras, case)
        entry["values"] = {"tf_keras": rec2, "keras": rec3}
        files: dict[str, Any] = {}
        sm = out / "savedmodel"
        m2.save(str(sm / f"{case}.tf"), save_format="tf")
        m2.save(str(sm / f"{case}.notraces"), save_format="tf", save_traces=False)
        files.update(_files(sm / f"{case}.tf", out))
        files.update(_files(sm / f"{case}.notraces", out))
        m2.save(str(out / "h5" / f"{case}.k2.h5"), save_format="h5")
        files.update(_files(out / "h5" / f"{case}.k2.h5", out))
        # .keras before .h5: Keras 3.15.1's .h5 save pops the optimizer from the compile
        # config, so a later .keras save would lose it (keras_v3.md §7 item 5)
        m3.save(str(out / "keras" / f"{case}.keras"))
        files.update(_files(out / "keras" / f"{case}.keras", out))
        keras.saving.save_model(m3, str(out / "h5" / f"{case}.k3.h5"))
        files.update(_files(out / "h5" / f"{case}.k3.h5", out))
        with tempfile.TemporaryDirectory() as tmp:
            m2.save_weights(os.path.join(tmp, "ckpt"))
            target = out / "checkpoint" / case
            shutil.copytree(tmp, target)
        files.update(_files(out / "checkpoint" / case, out))
        entry["files"] = files
        manifest["cases"][case] = entry
    text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    (out / "MANIFEST.json").write_text(text)
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", default=str(GOLDEN_DIR), help="target folder")
    args = parser.parse_args()
    manifest = generate(args.out)
    total = sum(
        f["size"] for case in manifest["cases"].values() for f in case["files"].values()
    )
    print(f"wrote {len(manifest['cases'])} cases ({total} bytes) to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
