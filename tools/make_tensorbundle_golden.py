#!/usr/bin/env python3
"""Write the TensorBundle goldens with real TensorFlow: ``tests/golden/tensorbundle/``.

    PY=$(python3 tools/oracle_env.py ensure tf)
    $PY tools/make_tensorbundle_golden.py            # rewrites tests/golden/tensorbundle/

Each case is a list of tensors given to ``tf.raw_ops.SaveV2`` in a known order; TF writes
``<case>.index`` and ``<case>.data-00000-of-00001``. ``MANIFEST.json`` records, per case, the
SHA-256 of every file, a digest over every input tensor (key, dtype, shape, seed, contents) in
order and, for small cases, that recipe itself; and the TF version. The tensors are regenerated
from the recipe by :func:`make_tensors`, which needs only numpy and ml_dtypes, so the unit tests
(``tests/unit/test_tensorbundle_golden.py``, loading this file by path) rebuild the same inputs
without TF and compare our writer's output byte for byte.
The oracle test regenerates the files with TF and compares them with the checked-in ones.

Tensor contents: raw bits from a SHA-256 counter stream over the tensor's seed (floats may be any
bit pattern, NaN payloads included: TF copies them verbatim); ``bool`` takes the low bit; strings
take lengths and bytes from the stream (plus an empty and a 300-byte element, whose length needs a
2-byte varint).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np

__all__ = [
    "CASES",
    "GOLDEN_DIR",
    "describe",
    "generate",
    "make_tensor",
    "make_tensors",
    "np_dtype",
]

ROOT = Path(__file__).resolve().parent.parent
GOLDEN_DIR = ROOT / "tests" / "golden" / "tensorbundle"

# Every dtype of purekeras_io.dtypes that TF's SaveV2 handles (all of them).
NUMERIC_DTYPES = (
    "float32",
    "float64",
    "int32",
    "uint8",
    "int16",
    "int8",
    "complex64",
    "int64",
    "bool",
    "bfloat16",
    "uint16",
    "complex128",
    "float16",
    "uint32",
    "uint64",
    "float8_e5m2",
    "float8_e4m3fn",
)
_ML_DTYPES = ("bfloat16", "float8_e5m2", "float8_e4m3fn")

Spec = dict[str, Any]  # {"key", "dtype", "shape", "seed"}
LISTED = 64


def np_dtype(name: str) -> np.dtype:
    """numpy dtype for a recipe dtype name (``string`` -> object)."""
    if name == "string":
        return np.dtype(object)
    if name in _ML_DTYPES:
        return np.dtype(getattr(ml_dtypes, name))
    return np.dtype(name)


def _stream(seed: str, nbytes: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < nbytes:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:nbytes])


def make_tensor(spec: Spec) -> np.ndarray:
    """The tensor a recipe entry describes (deterministic, independent of numpy's RNG)."""
    shape = tuple(spec["shape"])
    n = math.prod(shape)
    name = spec["dtype"]
    seed = spec["seed"]
    if name == "string":
        raw = _stream(seed, 2 * n)
        items: list[bytes] = []
        for i in range(n):
            length = raw[2 * i] % 24
            if i % 7 == 3:
                length = 0
            if i % 11 == 5:
                length = 300
            items.append(_stream(f"{seed}/{i}", length))
        arr = np.empty(n, dtype=object)
        arr[:] = items
        return arr.reshape(shape)
    dtype = np_dtype(name)
    raw = _stream(seed, n * dtype.itemsize)
    if name == "bool":
        return (np.frombuffer(raw, dtype=np.uint8) & 1).astype(np.bool_).reshape(shape)
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def make_tensors(specs: list[Spec]) -> list[tuple[str, np.ndarray]]:
    """(key, tensor) pairs in recipe order."""
    return [(spec["key"], make_tensor(spec)) for spec in specs]


def _dtypes_case() -> list[Spec]:
    shapes = ([3, 5], [7], [2, 3, 4], [1], [4, 1])
    specs = []
    for i, name in enumerate(NUMERIC_DTYPES):
        shape = shapes[i % len(shapes)]
        specs.append({"key": f"model/{name}/kernel", "dtype": name, "shape": shape, "seed": name})
    specs.append({"key": "model/string/vocab", "dtype": "string", "shape": [6], "seed": "str"})
    # file order differs from key order: reverse half of them
    return specs[::2] + specs[1::2][::-1]


def _strings_case() -> list[Spec]:
    return [
        {"key": "_CHECKPOINTABLE_OBJECT_GRAPH", "dtype": "string", "shape": [], "seed": "graph"},
        {"key": "strings/matrix", "dtype": "string", "shape": [3, 4], "seed": "m"},
        {"key": "strings/empty", "dtype": "string", "shape": [0], "seed": "e"},
        {"key": "strings/long", "dtype": "string", "shape": [12], "seed": "l"},
        {"key": "strings/scalar_empty", "dtype": "string", "shape": [], "seed": "s3"},
    ]


def _scalars_case() -> list[Spec]:
    specs: list[Spec] = []
    for name in ("float32", "int64", "bool", "float64", "bfloat16", "uint8"):
        specs.append({"key": f"scalar/{name}", "dtype": name, "shape": [], "seed": f"s{name}"})
    specs += [
        {"key": "zero/a", "dtype": "float32", "shape": [0], "seed": "z0"},
        {"key": "zero/b", "dtype": "int32", "shape": [2, 0, 3], "seed": "z1"},
        {"key": "zero/c", "dtype": "float64", "shape": [0, 0], "seed": "z2"},
        {"key": "after/zero", "dtype": "float32", "shape": [2], "seed": "z3"},
    ]
    return specs


def _multiblock_case() -> list[Spec]:
    """~4000 tiny tensors whose keys barely share prefixes: the index spans two data blocks."""
    specs: list[Spec] = []
    for i in range(4000):
        tag = hashlib.sha256(str(i).encode()).hexdigest()[:10]
        name = ("float32", "int64", "float16", "int8")[i % 4]
        specs.append(
            {
                "key": f"{tag}/layer_{i:05d}/kernel/.ATTRIBUTES/VARIABLE_VALUE",
                "dtype": name,
                "shape": [i % 3],
                "seed": f"mb{i}",
            }
        )
    return specs


CASES: dict[str, list[Spec]] = {
    "dtypes": _dtypes_case(),
    "strings": _strings_case(),
    "scalars": _scalars_case(),
    "multiblock": _multiblock_case(),
}


def tensor_sha256(arr: np.ndarray) -> str:
    """SHA-256 over a tensor's contents (strings: each element's length and bytes)."""
    h = hashlib.sha256()
    if arr.dtype == np.dtype(object):
        for item in arr.reshape(-1).tolist():
            h.update(len(item).to_bytes(8, "little") + item)
    else:
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def describe(specs: list[Spec], tensors: list[tuple[str, np.ndarray]]) -> dict[str, Any]:
    """The manifest record of a case's inputs: a digest over every (key, dtype, shape, contents)
    in order, plus the recipe itself for cases of at most :data:`LISTED` tensors."""
    listed = [{**spec, "sha256": tensor_sha256(arr)} for spec, (_, arr) in zip(specs, tensors)]
    digest = hashlib.sha256(json.dumps(listed, sort_keys=True).encode()).hexdigest()
    record: dict[str, Any] = {"count": len(specs), "inputs_sha256": digest}
    if len(specs) <= LISTED:
        record["tensors"] = listed
    return record


def save_v2(tf: Any, prefix: str, tensors: list[tuple[str, np.ndarray]]) -> None:
    """Write tensors with ``tf.raw_ops.SaveV2`` in the given order."""
    values = []
    for _, arr in tensors:
        if arr.dtype == np.dtype(object):
            values.append(tf.constant(arr.tolist() if arr.ndim else arr.item(), dtype=tf.string))
        else:
            values.append(tf.constant(arr, dtype=tf.as_dtype(arr.dtype)))
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=[key for key, _ in tensors],
        shape_and_slices=[""] * len(tensors),
        tensors=values,
    )


def generate(out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Write every case with TF into ``out_dir``; return the manifest (also written there)."""
    import tensorflow as tf  # only in the oracle environment

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {"tf_version": tf.__version__, "cases": {}}
    for case, specs in CASES.items():
        tensors = make_tensors(specs)
        with tempfile.TemporaryDirectory() as tmp:
            save_v2(tf, os.path.join(tmp, case), tensors)
            files = {}
            for name in (f"{case}.index", f"{case}.data-00000-of-00001"):
                data = Path(tmp, name).read_bytes()
                (out / name).write_bytes(data)
                files[name] = hashlib.sha256(data).hexdigest()
            leftovers = sorted(set(os.listdir(tmp)) - set(files))
            if leftovers:
                raise RuntimeError(f"SaveV2 left unexpected files: {leftovers}")
        manifest["cases"][case] = {"files": files, **describe(specs, tensors)}
    text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    (out / "MANIFEST.json").write_text(text)
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(GOLDEN_DIR), help="target folder")
    args = parser.parse_args()
    manifest = generate(args.out)
    total = sum(
        Path(args.out, name).stat().st_size
        for case in manifest["cases"].values()
        for name in case["files"]
    )
    print(f"wrote {len(manifest['cases'])} cases ({total} bytes) to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
