"""Peak memory of writing and reading large ``.keras`` / ``.h5`` / sharded weights from lazy
weights (issue 14).

    python tools/bench_h5_lazy.py [--gb 2] [--dir /tmp/bench_h5_lazy] [--keep]

Builds a Sequential of ``n`` Dense(4096) layers (64 MiB kernels) whose weights total ``--gb`` GiB,
stored once as ``.npy`` files; then, each in a fresh process, writes or reads with weights that
are ``np.memmap`` (``np.load(mmap_mode="r")``), Dask arrays over those maps, or loaded lazily
from the written file. Each line reports wall time, the peak resident set (``VmHWM``: includes
pages of memory-mapped files, which the kernel may drop) and the peak of private memory
(``RssAnon``, sampled every 5 ms: what the process really holds).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from typing import Any

import numpy as np

WIDTH = 4096


def _status() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0]) * 1024
    return out


class Sampler:
    """Peak ``RssAnon`` sampled in a thread."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _status()["RssAnon"])
            time.sleep(0.005)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return max(self.peak, _status()["RssAnon"])


class FileRows:
    """Rows of a memory map handed out as copies: a non-ndarray source for ``da.from_array``
    (dask 2026.8's ``from_array`` of an ``np.memmap`` itself holds a private copy of every
    array, measured: +64 MiB anonymous memory per 64 MiB array at creation)."""

    def __init__(self, arr: np.ndarray) -> None:
        self.arr, self.shape, self.dtype, self.ndim = arr, arr.shape, arr.dtype, arr.ndim

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.array(self.arr[key])


def _model(n: int) -> Any:
    import purekeras_io as pk
    from purekeras_io import layers

    return pk.Sequential(
        [layers.Input((WIDTH,), name="inp")]
        + [layers.Dense(WIDTH, name=f"d{i}") for i in range(n)],
        name="big",
    )


def child(case: str, d: str, n: int) -> dict[str, Any]:
    import purekeras_io as pk

    base = _status()["RssAnon"]
    sampler = Sampler()
    t0 = time.perf_counter()
    if case.startswith("write"):
        m = _model(n)
        for i, v in enumerate(m.weights):
            mm = np.load(os.path.join(d, f"w{i}.npy"), mmap_mode="r")
            if "dask" in case:
                import dask.array as da

                mm = da.from_array(FileRows(mm), chunks=(256, *mm.shape[1:]))
            v.assign(mm)
        fmt = case.split("_")[-1]
        if fmt == "keras":
            m.save(os.path.join(d, "big.keras"))
        elif fmt == "h5":
            m.save(os.path.join(d, "big.h5"))
        else:
            m.save_weights(os.path.join(d, "big.weights.json"), max_shard_size=0.5)
    else:  # read_<fmt>: lazy load, then convert to .h5 / .keras (streams the tensors)
        fmt = case.split("_")[-1]
        if fmt == "keras":
            m = pk.models.load_model(os.path.join(d, "big.keras"))
            m.save(os.path.join(d, "conv.h5"))
        elif fmt == "json":
            m = _model(n)
            m.load_weights(os.path.join(d, "big.weights.json"))
            m.save(os.path.join(d, "conv.keras"))
        else:
            m = pk.models.load_model(os.path.join(d, "big.h5"))
            m.save(os.path.join(d, "conv.keras"))
    wall = time.perf_counter() - t0
    anon = sampler.stop()
    st = _status()
    return {
        "case": case,
        "seconds": round(wall, 2),
        "peak_rss_MiB": round(st["VmHWM"] / 2**20),
        "peak_anon_MiB": round(anon / 2**20),
        "anon_at_start_MiB": round(base / 2**20),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gb", type=float, default=2.0)
    ap.add_argument("--dir", default="/tmp/bench_h5_lazy")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--only", help="comma-separated cases to run (default: all)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.dir, args.n)))
        return
    per_layer = (WIDTH * WIDTH + WIDTH) * 4
    n = max(1, round(args.gb * 2**30 / per_layer))
    os.makedirs(args.dir, exist_ok=True)
    rng = np.random.default_rng(0)
    for i, shape in enumerate([(WIDTH, WIDTH), (WIDTH,)] * n):
        path = os.path.join(args.dir, f"w{i}.npy")
        if not os.path.exists(path):
            arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape)
            for r in range(0, shape[0], 512):
                arr[r : r + 512] = rng.standard_normal(arr[r : r + 512].shape, np.float32)
            arr.flush()
            del arr
    total = n * per_layer
    print(f"{n} Dense({WIDTH}) layers, {total / 2**30:.2f} GiB of float32 weights in {args.dir}")
    cases = [
        "write_memmap_keras", "write_dask_keras", "write_memmap_h5", "write_dask_h5",
        "write_memmap_json", "read_keras", "read_h5", "read_json",
    ]
    for case in cases:
        if args.only and case not in args.only.split(","):
            continue
        run = subprocess.run(
            [sys.executable, __file__, "--child", case, "--dir", args.dir, "--n", str(n)],
            capture_output=True, text=True,
        )
        if run.returncode:
            print(json.dumps({"case": case, "failed": run.stderr.strip()[-800:]}))
            continue
        print(json.dumps(json.loads(run.stdout.strip().splitlines()[-1])), flush=True)
    if not args.keep:
        shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
