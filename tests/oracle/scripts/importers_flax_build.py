"""Build Flax linen models with random parameters, save them and their outputs; check our
safetensors bytes against the reference library.

Runs in the ``flax`` oracle environment (jax 0.10.2 + flax 0.12.8 + safetensors 0.8.0, no TF)
with the repository on ``PYTHONPATH`` (only ``purekeras_io.importers.safetensors`` is used here).
Payload: ``{"dir": D}``. Writes, for every model ``name`` (``cnn``, ``lstm_text``,
``gru_text``, ``transformer``): ``D/<name>/x.npy`` (the input), ``D/<name>/ref.npy`` (flax's
output), ``D/<name>/params.npz`` (the variables tree flattened with ``/``: ``params/Conv_0/kernel``,
``batch_stats/BatchNorm_0/mean``); for ``transformer`` also ``block.safetensors``, written by the
real ``safetensors.numpy.save_file`` from the tree flattened with ``.``.

Then the safetensors cases: for each, the same tensors saved by ``save_file`` and by our
``save_safetensors``; reports whether the bytes are equal, whether each library reads the
other's file back exactly, and how the reference treats files our reader refuses.
Prints ``{"versions": ..., "models": {name: {...}}, "safetensors": {case: {...}}, "damaged":
{case: error}}``.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import time
import warnings
from typing import Any

warnings.filterwarnings("ignore")

import flax  # noqa: E402
import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import ml_dtypes  # noqa: E402
import numpy as np  # noqa: E402
import safetensors  # noqa: E402
from flax import traverse_util  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.numpy import load_file, save_file  # noqa: E402

from purekeras_io.importers.safetensors import load_safetensors, save_safetensors  # noqa: E402

jax.config.update("jax_platform_name", "cpu")


class CNN(nn.Module):
    @nn.compact
    def __call__(self, x: Any, train: bool = False) -> Any:
        x = nn.Conv(8, (3, 3), padding="SAME")(x)
        x = nn.BatchNorm(use_running_average=not train)(x)
        x = nn.relu(x)
        x = nn.avg_pool(x, (2, 2), strides=(2, 2))
        x = nn.Conv(16, (3, 3), strides=(2, 2), padding="VALID")(x)
        x = nn.BatchNorm(use_running_average=not train)(x)
        x = nn.relu(x)
        x = nn.Conv(16, (3, 3), padding="SAME", feature_group_count=16)(x)  # depthwise
        x = nn.max_pool(x, (2, 2), strides=(2, 2))
        x = x.reshape((x.shape[0], -1))
        x = nn.relu(nn.Dense(32)(x))
        return nn.Dense(5)(x)


class LSTMText(nn.Module):
    @nn.compact
    def __call__(self, tokens: Any) -> Any:
        x = nn.Embed(40, 8)(tokens)
        x = nn.RNN(nn.LSTMCell(12))(x)
        return nn.Dense(3)(x[:, -1])


class GRUText(nn.Module):
    @nn.compact
    def __call__(self, tokens: Any) -> Any:
        x = nn.Embed(30, 6)(tokens)
        x = nn.RNN(nn.GRUCell(10))(x)
        return nn.Dense(4)(x[:, -1])


class Block(nn.Module):
    """A pre-norm Transformer block over token embeddings."""

    @nn.compact
    def __call__(self, tokens: Any) -> Any:
        x = nn.Embed(50, 16)(tokens)
        y = nn.LayerNorm()(x)
        y = nn.MultiHeadDotProductAttention(num_heads=4)(y, y)
        x = x + y
        y = nn.LayerNorm()(x)
        y = nn.gelu(nn.Dense(32)(y), approximate=False)
        return x + nn.Dense(16)(y)


def randomized(variables: Any, seed: int) -> Any:
    """Every leaf redrawn (so biases, scales and BatchNorm statistics all matter)."""
    rng = np.random.default_rng(seed)
    flat = traverse_util.flatten_dict(jax.tree_util.tree_map(np.asarray, variables))
    out = {}
    for key, value in flat.items():
        if key[-1] == "var":
            out[key] = rng.uniform(0.5, 1.5, value.shape).astype(np.float32)
        elif key[-1] == "scale":
            out[key] = rng.uniform(0.5, 1.5, value.shape).astype(np.float32)
        else:
            fan = value.shape[0] if value.ndim >= 2 else 4
            out[key] = (rng.normal(size=value.shape) / np.sqrt(fan) * 1.5).astype(np.float32)
    return traverse_util.unflatten_dict(out)


def build_models(root: str) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    cases = {
        "cnn": (CNN(), rng.normal(size=(4, 20, 20, 3)).astype(np.float32)),
        "lstm_text": (LSTMText(), rng.integers(0, 40, size=(4, 7)).astype(np.int32)),
        "gru_text": (GRUText(), rng.integers(0, 30, size=(4, 9)).astype(np.int32)),
        "transformer": (Block(), rng.integers(0, 50, size=(3, 6)).astype(np.int32)),
    }
    results: dict[str, Any] = {}
    for i, (name, (module, x)) in enumerate(cases.items()):
        d = os.path.join(root, name)
        os.makedirs(d, exist_ok=True)
        start = time.perf_counter()
        variables = randomized(module.init(jax.random.PRNGKey(i), jnp.asarray(x)), seed=10 + i)
        ref = np.asarray(module.apply(variables, jnp.asarray(x)), np.float32)
        tree = traverse_util.flatten_dict(variables)
        flat = {"/".join(k): np.asarray(v) for k, v in tree.items()}
        np.savez(os.path.join(d, "params.npz"), **flat)
        np.save(os.path.join(d, "x.npy"), x)
        np.save(os.path.join(d, "ref.npy"), ref)
        entry: dict[str, Any] = {"tensors": len(flat), "shape": list(ref.shape)}
        if name == "transformer":
            dotted = {".".join(k): np.asarray(v) for k, v in tree.items()}
            save_file(dotted, os.path.join(d, "block.safetensors"), metadata={"format": "flax"})
            entry["safetensors_keys"] = sorted(dotted)
        entry["seconds"] = round(time.perf_counter() - start, 3)
        results[name] = entry
    return results


def st_cases() -> dict[str, tuple[dict[str, np.ndarray], dict[str, str] | None]]:
    rng = np.random.default_rng(7)
    every = {
        "f64": rng.normal(size=(3, 2)),
        "f32": rng.normal(size=(5,)).astype(np.float32),
        "f16": rng.normal(size=(2, 2)).astype(np.float16),
        "bf16": rng.normal(size=(4, 3)).astype(ml_dtypes.bfloat16),
        "f8_e4m3": rng.normal(size=(3,)).astype(ml_dtypes.float8_e4m3fn),
        "f8_e5m2": rng.normal(size=(3,)).astype(ml_dtypes.float8_e5m2),
        "i64": rng.integers(-9, 9, size=(2, 3)).astype(np.int64),
        "i32": rng.integers(-9, 9, size=(7,)).astype(np.int32),
        "i16": rng.integers(-9, 9, size=(1, 1, 3)).astype(np.int16),
        "i8": rng.integers(-9, 9, size=(5,)).astype(np.int8),
        "u8": rng.integers(0, 255, size=(6,)).astype(np.uint8),
        "u16": rng.integers(0, 9, size=(2,)).astype(np.uint16),
        "u32": rng.integers(0, 9, size=(2,)).astype(np.uint32),
        "u64": rng.integers(0, 9, size=(2,)).astype(np.uint64),
        "bool": rng.integers(0, 2, size=(3, 3)).astype(bool),
        "c64": (rng.normal(size=(2,)) + 1j).astype(np.complex64),
    }
    odd = {
        "scalar": np.array(2.5, np.float32),
        "empty": np.zeros((0, 4), np.float32),
        "zz": np.ones((2,), np.float32),
        "aa": np.ones((3,), np.float32),
        "é/ñ.key \"q\"\n\t\x1f": np.arange(3, dtype=np.int8),
        "layer.0.weight": rng.normal(size=(4, 4)).astype(np.float32),
    }
    # header lengths 0..7 mod 8 (the padding rule)
    pads = {f"k{'x' * n}": np.zeros((1,), np.float32) for n in range(8)}
    big = {"big": rng.normal(size=(300, 257)).astype(np.float32)}
    return {
        "every_dtype": (every, None),
        "odd_names_and_shapes": (odd, None),
        "padding": (pads, None),
        "empty_file": ({}, None),
        "metadata_empty": (odd, {}),
        "metadata_one_key": (every, {"format": "np"}),
        "metadata_many_keys": (every, {f"m{i}": str(i) for i in range(6)} | {"ü": "\t"}),
        "big": (big, {"format": "pt"}),
    }


def reference_load(path: str) -> tuple[dict[str, Any], list[str]]:
    """The reference's reading of a file: its NumPy loader, its Flax loader for what NumPy has
    no dtype for (BF16); tensors neither can load (F8_*: ``module 'numpy' has no attribute
    'float8_e4m3fn'``) are listed instead."""
    out: dict[str, Any] = {}
    cannot: list[str] = []
    with safe_open(path, "np") as f:
        keys = list(f.keys())
    for key in keys:
        for framework in ("np", "flax"):
            try:
                with safe_open(path, framework) as f:
                    value = np.asarray(f.get_tensor(key))
                out[key] = value
                break
            except (KeyError, AttributeError):
                continue
        else:
            cannot.append(key)
    return out, cannot


def same(a: Any, b: Any) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def header(path: str) -> Any:
    with open(path, "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        return json.loads(fh.read(n))


def check_safetensors(root: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    d = os.path.join(root, "safetensors")
    os.makedirs(d, exist_ok=True)
    for case, (tensors, metadata) in st_cases().items():
        ref_path, our_path = os.path.join(d, f"{case}.ref"), os.path.join(d, f"{case}.ours")
        save_file(tensors, ref_path, metadata=metadata)
        # our writer, given the tensors in reversed order (the bytes must not depend on it)
        save_safetensors(dict(reversed(list(tensors.items()))), our_path, metadata=metadata)
        with open(ref_path, "rb") as fh:
            ref_bytes = fh.read()
        with open(our_path, "rb") as fh:
            our_bytes = fh.read()
        theirs_of_ours, cannot = reference_load(our_path)
        ours_of_theirs = load_safetensors(ref_path)
        with safe_open(our_path, "np") as f:
            meta = f.metadata()
        ref_header, our_header = header(ref_path), header(our_path)
        entry = {
            "bytes_equal": ref_bytes == our_bytes,
            "size": len(ref_bytes),
            "headers_equal_parsed": ref_header == our_header,
            "data_equal": ref_bytes[-(len(ref_bytes) - 8 - struct.unpack("<Q", ref_bytes[:8])[0]):]
            == our_bytes[-(len(our_bytes) - 8 - struct.unpack("<Q", our_bytes[:8])[0]):]
            if tensors else True,
            "reference_reads_ours": all(
                same(theirs_of_ours[k], v) for k, v in tensors.items() if k not in cannot
            ) and set(theirs_of_ours) | set(cannot) == set(tensors),
            "reference_cannot_load": cannot,
            "we_read_reference": all(same(ours_of_theirs[k], v) for k, v in tensors.items())
            and set(ours_of_theirs) == set(tensors),
            "metadata_roundtrip": meta == (metadata or None) or (meta == {} and not metadata),
            "metadata_key_order": {
                "reference": list((ref_header.get("__metadata__") or {}).keys()),
                "ours": list((our_header.get("__metadata__") or {}).keys()),
            },
        }
        if case == "big":
            # a lazy source: our reader's tensors straight into our writer (streamed)
            lazy_path = os.path.join(d, "big.lazy")
            save_safetensors(load_safetensors(ref_path), lazy_path, metadata=metadata)
            with open(lazy_path, "rb") as fh:
                entry["lazy_copy_bytes_equal"] = fh.read() == ref_bytes
        out[case] = entry
    return out


def damaged_by_reference(paths: dict[str, str]) -> dict[str, str]:
    """What the reference library says about each damaged file ("loaded" if it accepts it)."""
    result = {}
    for case, path in paths.items():
        try:
            load_file(path)
            result[case] = "loaded"
        except Exception as exc:
            result[case] = f"{type(exc).__name__}: {str(exc)[:200]}"
    return result


def main() -> None:
    payload = json.loads(sys.stdin.read())
    root = payload["dir"]
    start = time.perf_counter()
    models = build_models(root)
    sts = check_safetensors(root)
    damaged = damaged_by_reference(payload.get("damaged", {}))
    print(json.dumps({
        "versions": {"jax": jax.__version__, "flax": flax.__version__,
                     "safetensors": safetensors.__version__},
        "models": models,
        "safetensors": sts,
        "damaged": damaged,
        "seconds": round(time.perf_counter() - start, 3),
    }))


if __name__ == "__main__":
    main()
