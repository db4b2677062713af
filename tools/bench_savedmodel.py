#!/usr/bin/env python3
"""Benchmark: SavedModel save time, purekeras_io vs tf_keras ``save_format="tf"`` vs a raw write.

Model (``shared/docs/baselines.md`` §1): ``Input(4096) → 6 x Dense(4096)`` = 100,687,872
float32 parameters (402.8 MB); "compiled" adds Adam with its slots built (≈ 1.21 GB on disk).

Protocol (baselines.md §2): in one warm process per framework, one warm-up save, then best of
``--reps`` (default 3). The target folder is removed (untimed) before every save, and every save
is followed by an untimed ``sync`` so that repetitions start without dirty pages. "+fsync" is the
best time of save plus flushing every written file (ours: ``fsync=True``; tf_keras: ``os.fsync``
on each file after ``model.save``; raw: ``os.fsync`` of the one file). "raw" writes the same
tensor bytes into one file with ``file.write`` (the disk floor).

    python tools/bench_savedmodel.py [--dir /tmp/bench_sm] [--reps 3] [--skip-tf]

Prints a markdown table with the ratios tf_keras / ours, ours / raw, and the cost of the graph
tier (``save_traces=True``: lowered functions, signatures, main graph) over ``save_traces=False``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
UNITS = 4096
DEPTH = 6

_TF_SCRIPT = r"""
import json, os, shutil, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
import tf_keras as k

d, reps = sys.argv[1], int(sys.argv[2])

def fsync_tree(path):
    for base, _, files in os.walk(path):
        for f in files:
            fd = os.open(os.path.join(base, f), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

def build(compiled):
    x = k.Input((4096,))
    y = x
    for _ in range(6):
        y = k.layers.Dense(4096)(y)
    m = k.Model(x, y)
    if compiled:
        m.compile(k.optimizers.Adam(), "mse")
        m.optimizer.build(m.trainable_variables)
    return m

def size(path):
    return sum(os.path.getsize(os.path.join(b, f)) for b, _, fs in os.walk(path) for f in fs)

out = {}
for compiled in (False, True):
    m = build(compiled)
    target = os.path.join(d, "tf_sm")
    times, ftimes = [], []
    for rep in range(reps + 1):
        for with_fsync in (False, True):
            shutil.rmtree(target, ignore_errors=True)
            os.sync()
            t0 = time.perf_counter()
            m.save(target, save_format="tf")
            if with_fsync:
                fsync_tree(target)
            dt = time.perf_counter() - t0
            os.sync()
            if rep:
                (ftimes if with_fsync else times).append(dt)
    out["compiled" if compiled else "plain"] = {
        "times": times, "fsync_times": ftimes, "size": size(target)}
    shutil.rmtree(target, ignore_errors=True)
    del m
print(json.dumps(out))
"""


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _measure(run: Callable[[bool], None], target: Path, reps: int) -> dict[str, Any]:
    """One warm-up, then ``reps`` timed runs without and with fsync."""
    times: list[float] = []
    ftimes: list[float] = []
    for rep in range(reps + 1):
        for with_fsync in (False, True):
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            os.sync()
            t0 = time.perf_counter()
            run(with_fsync)
            dt = time.perf_counter() - t0
            os.sync()
            if rep:
                (ftimes if with_fsync else times).append(dt)
    size = _size(target)
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink()
    return {"times": times, "fsync_times": ftimes, "size": size}


def bench_ours(d: Path, reps: int) -> dict[str, dict[str, dict[str, Any]]]:
    sys.path.insert(0, str(ROOT))
    import numpy as np

    import purekeras_io as pk
    from purekeras_io import savedmodel

    results: dict[str, dict[str, dict[str, Any]]] = {"ours": {}, "ours_traced": {}, "raw": {}}
    rng = np.random.default_rng(0)
    for compiled in (False, True):
        pk.clear_session()
        x = pk.Input((UNITS,))
        y = x
        for _ in range(DEPTH):
            y = pk.layers.Dense(UNITS, kernel_initializer="zeros")(y)
        model = pk.Model(x, y)
        for var in model.weights:
            var.assign(rng.random(var.shape, dtype=np.float32))
        arrays = [v.value for v in model.weights]
        if compiled:
            model.compile(pk.optimizers.Adam(), "mse")
            assert model.optimizer is not None
            model.optimizer.build(model.trainable_weights)
            assert model.optimizer.slot_values is not None
            for slots in model.optimizer.slot_values:
                arrays.extend(slots.values())
        key = "compiled" if compiled else "plain"

        def save(with_fsync: bool, model: Any = model) -> None:
            savedmodel.save(model, d / "ours_sm", save_traces=False, fsync=with_fsync)

        def save_traced(with_fsync: bool, model: Any = model) -> None:
            savedmodel.save(model, d / "ours_sm", save_traces=True, fsync=with_fsync)

        def raw(with_fsync: bool, arrays: list[Any] = arrays) -> None:
            with open(d / "raw.bin", "wb") as fh:
                for arr in arrays:
                    fh.write(memoryview(arr).cast("B"))
                if with_fsync:
                    fh.flush()
                    os.fsync(fh.fileno())

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results["ours"][key] = _measure(save, d / "ours_sm", reps)
            results["ours_traced"][key] = _measure(save_traced, d / "ours_sm", reps)
        results["raw"][key] = _measure(raw, d / "raw.bin", reps)
        del model, arrays
    return results


def bench_tf(d: Path, reps: int) -> dict[str, Any]:
    python = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "oracle_env.py"), "ensure", "tf"],
        check=True, capture_output=True, text=True,
    ).stdout.strip().splitlines()[-1]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [python, "-c", _TF_SCRIPT, str(d), str(reps)],
        capture_output=True, text=True, env=env, check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"tf_keras benchmark failed:\n{proc.stderr[-4000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def table(results: dict[str, dict[str, dict[str, Any]]]) -> str:
    rows = [
        "| save | plain (s) | +fsync (s) | size (B) "
        "| compiled + Adam (s) | +fsync (s) | size (B) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, label in (("ours", "purekeras_io SavedModel, `save_traces=False`"),
                        ("ours_traced", "purekeras_io SavedModel with graph + signatures"),
                        ("tf_keras", 'tf_keras `save_format="tf"`'), ("raw", "raw write")):
        if name not in results:
            continue
        cells = []
        for key in ("plain", "compiled"):
            r = results[name][key]
            cells += [f"{min(r['times']):.3f}", f"{min(r['fsync_times']):.3f}", f"{r['size']:,}"]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    lines = ["\n".join(rows), ""]
    for key in ("plain", "compiled"):
        ours = results["ours"][key]
        parts = [f"**{key}**:"]
        if "tf_keras" in results:
            tf = results["tf_keras"][key]
            parts.append(f"tf_keras / ours = {min(tf['times']) / min(ours['times']):.2f}x "
                         f"(+fsync {min(tf['fsync_times']) / min(ours['fsync_times']):.2f}x);")
        traced = results["ours_traced"][key]
        parts.append(f"graph + signatures / config only = "
                     f"{min(traced['times']) / min(ours['times']):.3f}x;")
        raw = results["raw"][key]
        parts.append(f"ours / raw = {min(ours['times']) / min(raw['times']):.2f}x "
                     f"(+fsync {min(ours['fsync_times']) / min(raw['fsync_times']):.2f}x)")
        lines.append(" ".join(parts))
    raw_lists = {n: {k: [round(t, 3) for t in v["times"]] for k, v in r.items()}
                 for n, r in results.items()}
    lines.append("")
    lines.append(f"raw repetitions (s): {json.dumps(raw_lists)}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/bench_savedmodel")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--skip-tf", action="store_true")
    args = parser.parse_args()
    d = Path(args.dir)
    d.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, dict[str, Any]]] = dict(bench_ours(d, args.reps))
    if not args.skip_tf:
        results["tf_keras"] = bench_tf(d, args.reps)
    print(table(results))


if __name__ == "__main__":
    main()
