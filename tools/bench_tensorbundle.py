#!/usr/bin/env python3
"""Benchmark: TensorBundle write/read, ours vs raw ``ndarray.tofile`` vs TensorFlow's saver.

    python3 tools/bench_tensorbundle.py                 # prints a markdown table
    python3 tools/bench_tensorbundle.py --dir /mnt/x    # benchmark another disk

Workloads: ``big`` = 100 float32 tensors of 1000x1000 (400 MB); ``small`` = 10,000 float32 tensors
of 8..400 elements (~8 MB, dominated by per-tensor overhead).

Rows (each best of ``--repeat`` after one warm-up; before every repetition the files are deleted
and an untimed ``os.sync()`` flushes dirty pages, as in ``shared/docs/baselines.md``; our and the
raw writes take turns within each repetition so that outside load hits both alike):

* ``ours``: ``purekeras_io.tensorbundle.write`` (``fsync=True`` syncs both files and the folder);
  read = ``read(prefix)`` with CRC verification (touches every byte; page cache warm).
* ``raw``: the same bytes with ``ndarray.tofile`` into one file (+ ``os.fsync``); read =
  ``np.fromfile``.
* ``tf SaveV2`` / ``tf Checkpoint``: TensorFlow 2.21 in the oracle venv (a subprocess that times
  only the save: ``tf.raw_ops.SaveV2`` of eager tensors, ``tf.train.Checkpoint.write`` of
  variables); TF never fsyncs, so the fsync rows add ``os.fsync`` of its files afterwards. Read =
  ``tf.raw_ops.RestoreV2`` of every tensor.

Memory: peak ``tracemalloc`` allocation during a separate, untimed write (numpy buffers are
traced), i.e. the extra memory beyond the arrays that already exist.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from purekeras_io.tensorbundle import read, write

ROOT = Path(__file__).resolve().parent.parent

TF_SCRIPT = r"""
import json, os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
import tensorflow as tf

cfg = json.loads(sys.stdin.read())

def make(workload):
    rng = np.random.default_rng(0)
    if workload == "big":
        return {f"layer_{i:03d}/kernel": rng.standard_normal((1000, 1000), dtype=np.float32)
                for i in range(100)}
    return {f"model/layer_{i:05d}/kernel/.ATTRIBUTES/VARIABLE_VALUE":
            rng.standard_normal((1 + i % 50, 8), dtype=np.float32) for i in range(10000)}

def fsync_prefix(prefix):
    folder = os.path.dirname(prefix)
    for name in os.listdir(folder):
        if name.startswith(os.path.basename(prefix) + "."):
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            os.fsync(fd); os.close(fd)
    fd = os.open(folder, os.O_RDONLY); os.fsync(fd); os.close(fd)

def clean(folder):
    for name in os.listdir(folder):
        os.remove(os.path.join(folder, name))

def best(fn, folder, repeat):
    times = []
    for i in range(repeat + 1):
        clean(folder)
        os.sync()
        t = time.perf_counter(); fn(); dt = time.perf_counter() - t
        if i:
            times.append(dt)
    return min(times)

out = {}
for workload in cfg["workloads"]:
    arrays = make(workload)
    names = list(arrays)
    folder = os.path.join(cfg["dir"], "tf_" + workload)
    os.makedirs(folder, exist_ok=True)
    prefix = os.path.join(folder, "b")
    tensors = [tf.constant(a) for a in arrays.values()]
    variables = {f"v{i}": tf.Variable(t) for i, t in enumerate(tensors)}
    ckpt = tf.train.Checkpoint(**variables)
    def save():
        tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names,
                          shape_and_slices=[""] * len(names), tensors=tensors)
    def save_sync():
        save(); fsync_prefix(prefix)
    def ck():
        ckpt.write(prefix)
    def ck_sync():
        ckpt.write(prefix); fsync_prefix(prefix)
    r = {"savev2": best(save, folder, cfg["repeat"]),
         "savev2_fsync": best(save_sync, folder, cfg["repeat"]),
         "checkpoint": best(ck, folder, cfg["repeat"]),
         "checkpoint_fsync": best(ck_sync, folder, cfg["repeat"])}
    clean(folder); save()
    dtypes = [tf.float32] * len(names)
    def restore():
        vals = tf.raw_ops.RestoreV2(prefix=prefix, tensor_names=names,
                                    shape_and_slices=[""] * len(names), dtypes=dtypes)
        for v in vals:
            v.numpy()
    restore()
    times = []
    for _ in range(cfg["repeat"]):
        t = time.perf_counter(); restore(); times.append(time.perf_counter() - t)
    r["restore"] = min(times)
    out[workload] = r
    clean(folder)
print(json.dumps(out))
"""


def make(workload: str) -> dict[str, np.ndarray]:
    """The benchmark tensors (same recipe as the TF subprocess)."""
    rng = np.random.default_rng(0)
    if workload == "big":
        return {
            f"layer_{i:03d}/kernel": rng.standard_normal((1000, 1000), dtype=np.float32)
            for i in range(100)
        }
    return {
        f"model/layer_{i:05d}/kernel/.ATTRIBUTES/VARIABLE_VALUE": rng.standard_normal(
            (1 + i % 50, 8), dtype=np.float32
        )
        for i in range(10000)
    }


def _clean(folder: Path) -> None:
    for p in folder.iterdir():
        p.unlink()


def best(fn: Callable[[], Any], folder: Path | None, repeat: int) -> float:
    """Best wall time of ``repeat`` runs after one warm-up (``folder`` emptied before each)."""
    times = []
    for i in range(repeat + 1):
        if folder is not None:
            _clean(folder)
        os.sync()  # untimed: no dirty pages left over from the previous repetition
        t = time.perf_counter()
        fn()
        dt = time.perf_counter() - t
        if i:
            times.append(dt)
    return min(times)


def interleaved(cases: dict[str, tuple[Callable[[], Any], Path]], repeat: int) -> dict[str, float]:
    """Best time per case; the cases take turns within each repetition, so that load from
    elsewhere on the machine hits all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    for i in range(repeat + 1):
        for name, (fn, folder) in cases.items():
            _clean(folder)
            os.sync()
            t = time.perf_counter()
            fn()
            dt = time.perf_counter() - t
            if i:
                times[name].append(dt)
    return {name: min(ts) for name, ts in times.items()}


def raw_write(path: Path, arrays: dict[str, np.ndarray], fsync: bool) -> None:
    with open(path, "wb") as f:
        for arr in arrays.values():
            arr.tofile(f)
        f.flush()
        if fsync:
            os.fsync(f.fileno())
    if fsync:
        fd = os.open(path.parent, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)


def peak_memory(fn: Callable[[], Any]) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def run_ours(workload: str, folder: Path, repeat: int) -> dict[str, float]:
    arrays = make(workload)
    ours = folder / "ours"
    raw = folder / "raw"
    ours.mkdir()
    raw.mkdir()
    prefix = ours / "b"
    r: dict[str, float] = {"bytes": float(sum(a.nbytes for a in arrays.values()))}
    r.update(
        interleaved(
            {
                "ours": (lambda: write(prefix, arrays), ours),
                "ours_fsync": (lambda: write(prefix, arrays, fsync=True), ours),
                "raw": (lambda: raw_write(raw / "data", arrays, False), raw),
                "raw_fsync": (lambda: raw_write(raw / "data", arrays, True), raw),
            },
            repeat,
        )
    )

    def read_all() -> None:
        tensors = read(prefix)  # verify_crc=True: every byte is read
        assert len(tensors) == len(arrays)

    r["ours_read"] = best(read_all, None, repeat)
    r["raw_read"] = best(lambda: np.fromfile(raw / "data", dtype=np.float32), None, repeat)
    _clean(ours)
    r["ours_mem"] = peak_memory(lambda: write(prefix, arrays, fsync=True))
    _clean(raw)
    r["raw_mem"] = peak_memory(lambda: raw_write(raw / "data", arrays, True))
    shutil.rmtree(ours)
    shutil.rmtree(raw)
    return r


def run_tf(workloads: list[str], folder: Path, repeat: int) -> dict[str, Any]:
    python = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "oracle_env.py"), "ensure", "tf"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[-1]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [python, "-c", TF_SCRIPT],
        input=json.dumps({"workloads": workloads, "dir": str(folder), "repeat": repeat}),
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode:
        raise SystemExit(f"TF benchmark failed:\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def table(ours: dict[str, dict[str, float]], tf: dict[str, dict[str, float]]) -> str:
    lines = [
        "| workload | operation | ours (s) | raw tofile (s) | TF SaveV2 (s) | TF Checkpoint (s) "
        "| ours / raw | ours / TF SaveV2 | ours / TF Checkpoint |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for workload, r in ours.items():
        t = tf.get(workload, {})
        label = f"{workload} ({r['bytes'] / 1e6:.0f} MB)"
        for op, o, raw, sv, ck in (
            ("write", r["ours"], r["raw"], t.get("savev2"), t.get("checkpoint")),
            (
                "write + fsync",
                r["ours_fsync"],
                r["raw_fsync"],
                t.get("savev2_fsync"),
                t.get("checkpoint_fsync"),
            ),
            ("read (all, CRC checked)", r["ours_read"], r["raw_read"], t.get("restore"), None),
        ):
            cells = [
                f"{o:.3f}",
                f"{raw:.3f}",
                "" if sv is None else f"{sv:.3f}",
                "" if ck is None else f"{ck:.3f}",
                f"{o / raw:.2f}x",
                "" if sv is None else f"{o / sv:.2f}x",
                "" if ck is None else f"{o / ck:.2f}x",
            ]
            lines.append(f"| {label} | {op} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("| workload | peak extra memory while writing (tracemalloc) | ours | raw tofile |")
    lines.append("|---|---|---:|---:|")
    for workload, r in ours.items():
        lines.append(
            f"| {workload} | with fsync | {r['ours_mem'] / 2**20:.2f} MiB "
            f"| {r['raw_mem'] / 2**20:.2f} MiB |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=None, help="folder on the disk to benchmark")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-tf", action="store_true", help="skip the TensorFlow rows")
    parser.add_argument("--workloads", default="big,small")
    args = parser.parse_args()
    workloads = args.workloads.split(",")
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench_tensorbundle_") as tmp:
        folder = Path(tmp)
        ours = {}
        for w in workloads:
            (folder / w).mkdir()
            ours[w] = run_ours(w, folder / w, args.repeat)
        tf = {} if args.no_tf else run_tf(workloads, folder, args.repeat)
    print(table(ours, tf))


if __name__ == "__main__":
    main()
