#!/usr/bin/env python3
"""Benchmark: what the graph costs in a SavedModel save, on a ResNet50-sized model.

ResNet50 (Keras' layout: 177 layers, 25,636,712 parameters, 102.5 MB of float32), written
side by side in one run:

* purekeras_io ``save_traces=False`` (config + weights, no graph);
* purekeras_io ``save_traces=True`` (the default: lowered ``serving_default``, root
  ``__call__``, main graph with saver, layer traces where tf_keras needs them);
* a raw write of the same tensor bytes into one file (the disk floor);
* tf_keras ``ResNet50(weights=None).save(save_format="tf")`` with ``save_traces`` True and
  False, in the oracle environment (skip with ``--skip-tf``).

Protocol as ``bench_savedmodel.py``: one warm-up, best of ``--reps``, target removed and
``sync`` untimed around every save.

    python tools/bench_traces.py [--dir /tmp/bench_traces] [--reps 3] [--skip-tf]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from bench_savedmodel import _measure  # noqa: E402

_TF_SCRIPT = r"""
import json, os, shutil, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tf_keras as k
d, reps = sys.argv[1], int(sys.argv[2])
m = k.applications.ResNet50(weights=None)
out = {}
for traces in (False, True):
    times = []
    for rep in range(reps + 1):
        target = os.path.join(d, "tf_sm")
        shutil.rmtree(target, ignore_errors=True)
        os.sync()
        t0 = time.perf_counter()
        m.save(target, save_format="tf", save_traces=traces)
        dt = time.perf_counter() - t0
        os.sync()
        if rep:
            times.append(dt)
    out["tf_traced" if traces else "tf_plain"] = times
print(json.dumps(out))
"""


def resnet50() -> Any:
    import purekeras_io as pk

    L = pk.layers

    def bn(y: Any) -> Any:
        return L.BatchNormalization(epsilon=1.001e-5)(y)

    def block(y: Any, filters: int, stride: int, shortcut_conv: bool) -> Any:
        if shortcut_conv:
            short = bn(L.Conv2D(4 * filters, 1, strides=stride)(y))
        else:
            short = y
        y = L.Activation("relu")(bn(L.Conv2D(filters, 1, strides=stride)(y)))
        y = L.Activation("relu")(bn(L.Conv2D(filters, 3, padding="same")(y)))
        y = bn(L.Conv2D(4 * filters, 1)(y))
        return L.Activation("relu")(L.Add()([short, y]))

    x = pk.Input((224, 224, 3), name="input_1")
    y = L.ZeroPadding2D(3)(x)
    y = L.Activation("relu")(bn(L.Conv2D(64, 7, strides=2)(y)))
    y = L.MaxPooling2D(3, strides=2)(L.ZeroPadding2D(1)(y))
    for filters, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        y = block(y, filters, stride, True)
        for _ in range(blocks - 1):
            y = block(y, filters, 1, False)
    y = L.GlobalAveragePooling2D()(y)
    return pk.Model(x, L.Dense(1000, activation="softmax")(y), name="resnet50")


def bench_ours(d: Path, reps: int) -> dict[str, Any]:
    import numpy as np

    from purekeras_io import savedmodel

    model = resnet50()
    rng = np.random.default_rng(0)
    for var in model.weights:
        var.assign(rng.random(var.shape, dtype=np.float32))
    arrays = [v.value for v in model.weights]
    params = sum(int(a.size) for a in arrays)

    def plain(with_fsync: bool) -> None:
        savedmodel.save(model, d / "ours_sm", save_traces=False, fsync=with_fsync)

    def traced(with_fsync: bool) -> None:
        savedmodel.save(model, d / "ours_sm", save_traces=True, fsync=with_fsync)

    def raw(with_fsync: bool) -> None:
        with open(d / "raw.bin", "wb") as fh:
            for arr in arrays:
                fh.write(np.ascontiguousarray(arr).data)
            if with_fsync:
                fh.flush()
                os.fsync(fh.fileno())

    t0 = time.perf_counter()
    from purekeras_io._proto.tf import meta_graph_pb2
    from purekeras_io.savedmodel import functions
    from purekeras_io.savedmodel.object_graph import build_model_graph

    functions.add_functions(build_model_graph(model), meta_graph_pb2.MetaGraphDef(), model)
    graph_only = time.perf_counter() - t0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out: dict[str, Any] = {"ours_plain": _measure(plain, d / "ours_sm", reps),
                               "ours_traced": _measure(traced, d / "ours_sm", reps),
                               "raw": _measure(raw, d / "raw.bin", reps)}
    out["params"] = params
    out["layers"] = len(model.layers)
    out["graph_build_s"] = graph_only
    return out


def bench_tf(d: Path, reps: int) -> dict[str, Any]:
    python = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "oracle_env.py"), "ensure", "tf"],
        check=True, capture_output=True, text=True,
    ).stdout.strip().splitlines()[-1]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([python, "-c", _TF_SCRIPT, str(d), str(reps)], capture_output=True,
                          text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"tf_keras benchmark failed:\n{proc.stderr[-4000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/bench_traces")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--skip-tf", action="store_true")
    args = parser.parse_args()
    d = Path(args.dir)
    d.mkdir(parents=True, exist_ok=True)
    ours = bench_ours(d, args.reps)
    best = {k: min(ours[k]["times"]) for k in ("ours_plain", "ours_traced", "raw")}
    rows = ["| ResNet50 SavedModel save | best (s) | size (B) |", "|---|---|---|"]
    rows.append(f"| purekeras_io `save_traces=False` | {best['ours_plain']:.3f} "
                f"| {ours['ours_plain']['size']:,} |")
    rows.append(f"| purekeras_io `save_traces=True` (graph) | {best['ours_traced']:.3f} "
                f"| {ours['ours_traced']['size']:,} |")
    rows.append(f"| raw write | {best['raw']:.3f} | {ours['raw']['size']:,} |")
    notes = [f"{ours['layers']} layers, {ours['params']:,} parameters; building the graph alone "
             f"(lowering + object graph): {ours['graph_build_s']:.3f} s",
             f"graph / no graph = {best['ours_traced'] / best['ours_plain']:.3f}x; "
             f"ours (graph) / raw = {best['ours_traced'] / best['raw']:.2f}x"]
    if not args.skip_tf:
        tf = bench_tf(d, args.reps)
        tp, tt = min(tf["tf_plain"]), min(tf["tf_traced"])
        rows.append(f"| tf_keras `save_traces=False` | {tp:.3f} | |")
        rows.append(f"| tf_keras `save_traces=True` | {tt:.3f} | |")
        notes.append(f"tf_keras / ours, with traces: {tt / best['ours_traced']:.1f}x; "
                     f"without: {tp / best['ours_plain']:.1f}x")
    print("\n".join(rows))
    print()
    print("\n".join(notes))


if __name__ == "__main__":
    main()
