"""Benchmark: saving a ~400 MB model as ``.h5``: purekeras_io, tf_keras, Keras 3, raw h5py.

The model is ``Input(4096) → 6 x Dense(4096)`` (6 kernels of 64 MiB + biases, float32, ≈ 403 MB).
Every writer gets the same arrays. ``raw h5py`` writes the 12 arrays into 12 datasets of one file
(the floor any ``.h5`` writer sits on). Each writer: one warm-up save, then the best of
``--repeats`` timed saves, without and with ``fsync`` (the fsync of the finished file is inside
the timing). Output: a markdown table with ratios to raw h5py.

The whole run happens in the oracle venv (tensorflow, tf_keras, keras 3), with this repository on
``PYTHONPATH`` so all four writers use the same h5py/HDF5 build; started from another Python, the
script re-executes itself there (``tools/oracle_env.py ensure tf``).

    python tools/bench_h5.py [--repeats 3] [--dir /tmp/bench_h5] [--units 4096] [--layers 6]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from oracle_env import ensure  # tools/ is sys.path[0] when run as a script

ROOT = Path(__file__).resolve().parent.parent


def _reexec_in_oracle() -> None:
    try:
        import keras  # noqa: F401
        import tf_keras  # noqa: F401
    except ImportError:
        python = str(ensure("tf"))
        env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3",
                   CUDA_VISIBLE_DEVICES="")
        os.execve(python, [python, __file__, *sys.argv[1:]], env)


def _time(save: Callable[[Path], None], path: Path, fsync: bool) -> float:
    from purekeras_io._io import fsync_path

    if path.exists():
        path.unlink()
    t0 = time.perf_counter()
    save(path)
    if fsync:
        fsync_path(path)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", default="/tmp/bench_h5")
    parser.add_argument("--units", type=int, default=4096)
    parser.add_argument("--layers", type=int, default=6)
    args = parser.parse_args()
    _reexec_in_oracle()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore")

    import h5py
    import keras
    import numpy as np
    import tensorflow as tf
    import tf_keras

    import purekeras_io as pk
    from purekeras_io import keras_h5

    n, depth = args.units, args.layers
    rs = np.random.RandomState(0)
    arrays: list[np.ndarray] = []
    for _ in range(depth):
        arrays.append(rs.standard_normal((n, n)).astype(np.float32) * 0.01)
        arrays.append(rs.standard_normal((n,)).astype(np.float32))
    total = sum(a.nbytes for a in arrays)

    inp = pk.Input((n,), name="x")
    x = inp
    for i in range(depth):
        x = pk.layers.Dense(n, name=f"dense_{i}")(x)
    ours = pk.Model(inp, x, name="bench")
    for var, value in zip(ours.weights, arrays):
        var.value = value  # share the arrays: the model holds no copy

    def keras_model(K: Any) -> Any:
        i = K.Input((n,), name="x")
        h = i
        for j in range(depth):
            h = K.layers.Dense(n, name=f"dense_{j}")(h)
        m = K.Model(i, h, name="bench")
        m.set_weights(arrays)
        return m

    k2 = keras_model(tf_keras)
    k3 = keras_model(keras)

    def raw(path: Path) -> None:
        with h5py.File(path, "w") as f:
            for i, a in enumerate(arrays):
                f.create_dataset(f"w{i}", data=a)

    writers: dict[str, Callable[[Path], None]] = {
        "raw h5py (same arrays)": raw,
        "purekeras_io keras_h5.save (target='both')": lambda p: keras_h5.save(ours, str(p)),
        "tf_keras 2.21 model.save('.h5')": lambda p: k2.save(str(p)),
        "Keras 3.15.1 model.save('.h5')": lambda p: k3.save(str(p)),
    }
    d = Path(args.dir)
    d.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, float]] = {}
    for name, save in writers.items():
        path = d / "bench.h5"
        _time(save, path, fsync=False)  # warm-up
        best = {
            "plain": min(_time(save, path, fsync=False) for _ in range(args.repeats)),
            "fsync": min(_time(save, path, fsync=True) for _ in range(args.repeats)),
        }
        best["size"] = path.stat().st_size
        results[name] = best
        path.unlink()
        print(f"# {name}: {best['plain']:.3f} s, fsync {best['fsync']:.3f} s", file=sys.stderr)

    base = results["raw h5py (same arrays)"]
    print(f"\nSave of Input({n}) → {depth} x Dense({n}): {total / 1e6:.0f} MB of float32 weights; "
          f"best of {args.repeats} after a warm-up; h5py {h5py.__version__} / HDF5 "
          f"{h5py.version.hdf5_version}; TF {tf.__version__}, {os.cpu_count()} CPUs.\n")
    print("| writer | file MB | save s | MB/s | vs raw | save+fsync s | MB/s | vs raw |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        mb = total / 1e6
        print(f"| {name} | {r['size'] / 1e6:.0f} | {r['plain']:.3f} | {mb / r['plain']:.0f} | "
              f"{r['plain'] / base['plain']:.2f} | {r['fsync']:.3f} | {mb / r['fsync']:.0f} | "
              f"{r['fsync'] / base['fsync']:.2f} |")


if __name__ == "__main__":
    main()
