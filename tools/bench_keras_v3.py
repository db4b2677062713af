#!/usr/bin/env python3
"""Benchmark ``.keras`` saves: purekeras_io vs Keras 3 vs a raw write of the same bytes.

    python tools/bench_keras_v3.py [--dir DIR] [--skip-keras]

Model (baselines.md §1): ``Input(4096) → 6 x Dense(4096)``, 100,687,872 float32 parameters
(402.8 MB); "compiled" adds Adam with its slots built (≈ 1.21 GB). Each method saves once to warm
up, then three times; the best time is reported, with and without an ``fsync`` of the written file
(an untimed ``fsync`` follows every repetition, so each starts without dirty pages). Keras 3 runs
in the TF oracle environment (``tools/oracle_env.py``), in a subprocess of its own. Prints a
markdown table; ratios are against the raw write measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from oracle_env import ensure  # tools/ is sys.path[0] when run as a script

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

UNITS, LAYERS, REPS = 4096, 6, 3
_OPTIONS = {"reps": REPS}

_KERAS_SCRIPT = r"""
import json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
d, compiled, reps = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3])
m = keras.Sequential([keras.Input((4096,))] + [keras.layers.Dense(4096) for _ in range(6)])
if compiled:
    m.compile(optimizer="adam", loss="mse")
    m.optimizer.build(m.trainable_variables)
path = os.path.join(d, "k3.keras")
def fsync(p):
    fd = os.open(p, os.O_RDONLY); os.fsync(fd); os.close(fd)
out = {"save": [], "save_fsync": []}
m.save(path); fsync(path)
for _ in range(reps):
    t0 = time.perf_counter(); m.save(path); t1 = time.perf_counter()
    fsync(path); t2 = time.perf_counter()
    out["save"].append(t1 - t0); out["save_fsync"].append(t2 - t0)
out["size"] = os.path.getsize(path)
os.unlink(path)
print(json.dumps(out))
"""


def _time(fn: Callable[[], None], path: str) -> dict[str, Any]:
    from purekeras_io._io import fsync_path

    fn()
    fsync_path(path)
    out: dict[str, Any] = {"save": [], "save_fsync": []}
    for _ in range(_OPTIONS["reps"]):
        t0 = time.perf_counter()
        fn()
        t1 = time.perf_counter()
        fsync_path(path)
        t2 = time.perf_counter()
        out["save"].append(t1 - t0)
        out["save_fsync"].append(t2 - t0)
    out["size"] = os.path.getsize(path)
    return out


def _ours(d: str, compiled: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    import numpy as np

    import purekeras_io as pk
    from purekeras_io import keras_v3

    rng = np.random.default_rng(0)
    layers = [pk.layers.Dense(UNITS, input_shape=(UNITS,), kernel_initializer="zeros")]
    layers += [pk.layers.Dense(UNITS, kernel_initializer="zeros") for _ in range(LAYERS - 1)]
    model = pk.Sequential(layers)
    for v in model.weights:  # fast random fill (initializers are not what is measured)
        v.assign(rng.standard_normal(v.shape, dtype=np.float32))
    if compiled:
        model.compile(optimizer="adam", loss="mse")
        assert model.optimizer is not None
        model.optimizer.build(model.trainable_weights)
    path = os.path.join(d, "ours.keras")
    ours = _time(lambda: keras_v3.save(model, path), path)
    arrays = [v.value for v in model.weights]
    if compiled and model.optimizer is not None and model.optimizer.slot_values:
        arrays += [a for slots in model.optimizer.slot_values for a in slots.values()]
    raw_path = os.path.join(d, "raw.bin")

    def raw() -> None:
        with open(raw_path, "wb", buffering=0) as fh:
            for a in arrays:
                fh.write(memoryview(a.reshape(-1).view(np.uint8)))

    raw_t = _time(raw, raw_path)
    os.unlink(path)
    os.unlink(raw_path)
    return ours, raw_t


def _keras(d: str, compiled: bool) -> dict[str, Any] | None:
    python = str(ensure("tf"))
    env = dict(
        os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", KERAS_BACKEND="tensorflow"
    )
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [python, "-c", _KERAS_SCRIPT, d, "1" if compiled else "0", str(_OPTIONS["reps"])],
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        return None
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dir", default=None, help="where to write (default: a temp dir under /tmp)"
    )
    parser.add_argument("--skip-keras", action="store_true", help="measure ours and raw only")
    parser.add_argument("--uncompiled-only", action="store_true")
    parser.add_argument("--reps", type=int, default=REPS, help="timed repetitions (best is kept)")
    args = parser.parse_args()
    _OPTIONS["reps"] = args.reps
    rows = []
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        for compiled in (False,) if args.uncompiled_only else (False, True):
            ours, raw = _ours(d, compiled)
            keras = None if args.skip_keras else _keras(d, compiled)
            rows.append((compiled, ours, raw, keras))
    from purekeras_io.keras_v3.zipstream import CRC32_IMPLEMENTATION

    print(f"CRC-32: {CRC32_IMPLEMENTATION}; best of {_OPTIONS['reps']} after one warm-up save")
    print()
    print(
        "| model | method | save (s) | save+fsync (s) | size (bytes) | x raw | x raw (+fsync) "
        "| Keras 3 / ours | (+fsync) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for compiled, ours, raw, keras in rows:
        label = "compiled + Adam" if compiled else "uncompiled"
        r_s, r_f = min(raw["save"]), min(raw["save_fsync"])
        methods = [("raw write", raw), ("purekeras_io .keras", ours)]
        if keras:
            methods.append(("Keras 3 .keras", keras))
        o_s, o_f = min(ours["save"]), min(ours["save_fsync"])
        for name, m in methods:
            s, f = min(m["save"]), min(m["save_fsync"])
            speed = f"{s / o_s:.2f}x | {f / o_f:.2f}x" if name == "Keras 3 .keras" else " | "
            print(
                f"| {label} | {name} | {s:.3f} | {f:.3f} | {m['size']:,} | {s / r_s:.2f} | "
                f"{f / r_f:.2f} | {speed} |"
            )
    print()
    print("raw repetitions (save / save+fsync):")
    for compiled, ours, raw, keras in rows:
        for name, m in (("raw", raw), ("ours", ours), ("keras3", keras)):
            if m:
                print(
                    f"  {'compiled' if compiled else 'uncompiled'} {name}: "
                    f"{[round(x, 3) for x in m['save']]} / {[round(x, 3) for x in m['save_fsync']]}"
                )


if __name__ == "__main__":
    main()
