"""Oracle: TensorBundles between purekeras_io and TensorFlow 2.21, in one TF process.

stdin (JSON)::

    {"ours": [{"prefix": str, "tensors": [TENSOR, ...]}, ...],   # written by purekeras_io
     "merge": [{"inputs": [prefix, ...], "out": prefix}, ...],    # copies of our bundles: TF merges
     "golden_out": folder,                                        # regenerate the goldens here
     "tf_writes": folder}                                         # TF writes bundles here

    TENSOR = {"key": str, "dtype": TF dtype name, "shape": [int],
              "sha256": of the raw bytes, "hex": the raw bytes (up to 64 KiB)}
             | {... "dtype": "string", "strings": [hex, ...]}

stdout, last line (JSON)::

    {"tf_version": str,
     "read_ours": {prefix: {"checked": [key, ...], "problems": [str, ...]}},
     "merged": [out prefix, ...],
     "golden_manifest": {...},
     "tf_written": [{"prefix": str, "num_shards": int, "tensors": [TENSOR, ...]}, ...]}

(1) Every tensor of every bundle we wrote is read with ``tf.train.load_checkpoint`` (the
CheckpointReader; TF verifies all CRCs) and with ``tf.raw_ops.RestoreV2`` (the op Keras restores
through) and compared by dtype, shape and bytes. (2) The goldens are regenerated with
``tools/make_tensorbundle_golden.py``. (3) TF writes bundles (``SaveV2`` of every dtype, a
``tf.train.Checkpoint`` and a 5-shard ``tf.train.Checkpoint``) and reports their contents.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf

ROOT = Path.cwd()


HEX_LIMIT = 1 << 16


def _describe(key: str, value: Any, dtype: Any) -> dict[str, Any]:
    arr = np.asarray(value)
    out: dict[str, Any] = {"key": key, "dtype": dtype.name, "shape": list(arr.shape)}
    if dtype == tf.string:
        out["strings"] = [bytes(x).hex() for x in arr.reshape(-1).tolist()]
    else:
        raw = np.ascontiguousarray(arr).tobytes()
        out["sha256"] = hashlib.sha256(raw).hexdigest()
        if len(raw) <= HEX_LIMIT:
            out["hex"] = raw.hex()
    return out


def _same(expected: dict[str, Any], actual: dict[str, Any]) -> str | None:
    """Compare the fields the expectation has (big tensors carry only a SHA-256)."""
    for field in ("dtype", "shape", "hex", "sha256", "strings"):
        if field in expected and expected[field] != actual.get(field):
            return (
                f"{expected['key']}: {field} differs: expected {str(expected.get(field))[:200]}, "
                f"TF has {str(actual.get(field))[:200]}"
            )
    return None


def read_ours(bundle: dict[str, Any]) -> dict[str, Any]:
    prefix = bundle["prefix"]
    problems: list[str] = []
    checked: list[str] = []
    try:
        reader = tf.train.load_checkpoint(prefix)
    except Exception as exc:  # report, do not crash the whole check
        return {"checked": [], "problems": [f"load_checkpoint: {type(exc).__name__}: {exc}"]}
    dtypes = reader.get_variable_to_dtype_map()
    expected_keys = sorted(t["key"] for t in bundle["tensors"])
    if sorted(dtypes) != expected_keys:
        problems.append(f"keys differ: TF sees {sorted(dtypes)[:20]}")
    for tensor in bundle["tensors"]:
        key = tensor["key"]
        try:
            actual = _describe(key, reader.get_tensor(key), dtypes[key])
        except Exception as exc:
            problems.append(f"{key}: get_tensor: {type(exc).__name__}: {exc}")
            continue
        problem = _same(tensor, actual)
        if problem:
            problems.append("CheckpointReader " + problem)
        else:
            checked.append(key)
    # RestoreV2: the op Keras / tf.train.Checkpoint restore through
    keys = [t["key"] for t in bundle["tensors"]]
    if keys:
        try:
            values = tf.raw_ops.RestoreV2(
                prefix=prefix,
                tensor_names=keys,
                shape_and_slices=[""] * len(keys),
                dtypes=[tf.as_dtype(t["dtype"]) for t in bundle["tensors"]],
            )
            for tensor, value in zip(bundle["tensors"], values):
                problem = _same(tensor, _describe(tensor["key"], value.numpy(), value.dtype))
                if problem:
                    problems.append("RestoreV2 " + problem)
        except Exception as exc:
            problems.append(f"RestoreV2: {type(exc).__name__}: {exc}")
    return {"checked": checked, "problems": problems}


def regenerate_goldens(folder: str) -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location(
        "make_tensorbundle_golden", ROOT / "tools" / "make_tensorbundle_golden.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    manifest: dict[str, Any] = module.generate(folder)
    return manifest


def _dump(prefix: str) -> dict[str, Any]:
    reader = tf.train.load_checkpoint(prefix)
    dtypes = reader.get_variable_to_dtype_map()
    tensors = [_describe(k, reader.get_tensor(k), dtypes[k]) for k in sorted(dtypes)]
    names = os.listdir(os.path.dirname(prefix))
    base = os.path.basename(prefix)
    shards = [n for n in names if n.startswith(base + ".data-")]
    return {"prefix": prefix, "num_shards": len(shards), "tensors": tensors}


def tf_writes(folder: str) -> list[dict[str, Any]]:
    import ml_dtypes

    os.makedirs(folder, exist_ok=True)
    out = []
    # SaveV2 of every dtype, in a non-sorted order, with scalars, empty and string tensors
    names = [
        "float32", "float64", "int32", "uint8", "int16", "int8", "complex64", "int64", "bool",
        "bfloat16", "uint16", "complex128", "float16", "uint32", "uint64", "float8_e5m2",
        "float8_e4m3fn",
    ]  # fmt: skip
    rng = np.random.default_rng(7)
    tensors: list[tuple[str, Any]] = []
    for i, name in enumerate(names):
        dtype = np.dtype(getattr(ml_dtypes, name, None) or name)
        shape = [(2, 3), (5,), (), (0, 4), (3, 1, 2)][i % 5]
        n = int(np.prod(shape))
        if name == "bool":
            arr = rng.integers(0, 2, n).astype(bool)
        else:
            arr = rng.standard_normal(n * 2).astype(np.float64)[:n] * 10
            arr = arr.astype(dtype) if dtype.kind != "c" else (arr + 1j * arr).astype(dtype)
        tensors.append((f"v/{name}", tf.constant(np.asarray(arr).reshape(shape), dtype=name)))
    tensors.append(("s/scalar", tf.constant(b"hello")))
    tensors.append(("s/matrix", tf.constant([[b"a", b""], [b"x" * 300, b"\xff\x00"]])))
    tensors.append(("s/empty", tf.constant([], dtype=tf.string)))
    tensors = tensors[::-1]
    prefix = os.path.join(folder, "savev2", "bundle")
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=[k for k, _ in tensors],
        shape_and_slices=[""] * len(tensors),
        tensors=[v for _, v in tensors],
    )
    out.append(_dump(prefix))

    # An object-based checkpoint (SaveV2 per device + MergeV2Checkpoints)
    variables = {
        "kernel": tf.Variable(rng.standard_normal((4, 3)).astype(np.float32)),
        "bias": tf.Variable(np.zeros(3, np.float32)),
        "step": tf.Variable(np.int64(42)),
        "half": tf.Variable(np.arange(5, dtype=np.float16)),
    }
    ckpt = tf.train.Checkpoint(**variables)
    out.append(_dump(ckpt.write(os.path.join(folder, "object", "ckpt"))))

    # A 5-shard checkpoint: MaxShardSizePolicy with exactly one 4000-byte variable per shard
    # (a variable that does not fit the space left would be split into slices, unsupported)
    many = {f"w{i}": tf.Variable(np.arange(1000, dtype=np.float32) + i) for i in range(5)}
    ckpt = tf.train.Checkpoint(**many)
    policy = tf.train.experimental.MaxShardSizePolicy(max_shard_size=4000)
    options = tf.train.CheckpointOptions(experimental_sharding_callback=policy)
    out.append(_dump(ckpt.write(os.path.join(folder, "sharded", "ckpt"), options=options)))
    return out


def main() -> None:
    payload = json.loads(sys.stdin.read())
    result: dict[str, Any] = {"tf_version": tf.__version__}
    result["read_ours"] = {b["prefix"]: read_ours(b) for b in payload.get("ours", [])}
    merged = []
    for job in payload.get("merge", []):
        tf.raw_ops.MergeV2Checkpoints(
            checkpoint_prefixes=job["inputs"],
            destination_prefix=job["out"],
            delete_old_dirs=False,
        )
        merged.append(job["out"])
    result["merged"] = merged
    if payload.get("golden_out"):
        result["golden_manifest"] = regenerate_goldens(payload["golden_out"])
    if payload.get("tf_writes"):
        result["tf_written"] = tf_writes(payload["tf_writes"])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
