#!/usr/bin/env python3
"""Benchmark: ``import purekeras_io`` versus ``import tensorflow``, and installed sizes.

    python tools/bench_import.py            # prints a markdown table

Import times are best-of-N wall times of a fresh interpreter measuring its own import (so the
interpreter start-up is excluded). Sizes are ``du`` of a fresh venv with ``pip install .`` versus
the TensorFlow oracle venv (tensorflow + tf_keras + keras).
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import venv
from pathlib import Path

from oracle_env import ensure  # tools/ is sys.path[0] when run as a script

ROOT = Path(__file__).resolve().parent.parent
SNIPPET = "import time; t=time.perf_counter(); import {mod}; print(time.perf_counter()-t)"


def import_time(python: str, module: str, repeat: int) -> float:
    best = float("inf")
    env = {"TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", "PATH": "/usr/bin:/bin"}
    for _ in range(repeat):
        out = subprocess.run(
            [python, "-c", SNIPPET.format(mod=module)],
            capture_output=True,
            text=True,
            check=True,
            env=env,
            cwd=tempfile.gettempdir(),
        )
        best = min(best, float(out.stdout.strip().splitlines()[-1]))
    return best


def du_bytes(path: Path) -> int:
    out = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    oracle = str(ensure("tf"))
    with tempfile.TemporaryDirectory() as tmp:
        env_dir = Path(tmp) / "venv"
        venv.EnvBuilder(with_pip=True).create(env_dir)
        ours = str(env_dir / "bin" / "python")
        subprocess.run(
            [ours, "-m", "pip", "install", "-q", str(ROOT)], check=True, capture_output=True
        )
        rows = [
            (
                "`import purekeras_io` (fresh venv, `pip install .`)",
                import_time(ours, "purekeras_io", args.repeat),
            ),
            ("`import numpy` (same venv)", import_time(ours, "numpy", args.repeat)),
            (
                "`import tensorflow` (oracle venv)",
                import_time(oracle, "tensorflow", max(2, args.repeat // 2)),
            ),
            (
                "`import tf_keras` (oracle venv)",
                import_time(oracle, "tf_keras", max(2, args.repeat // 2)),
            ),
        ]
        size_ours = du_bytes(env_dir)
    size_tf = du_bytes(Path(oracle).parent.parent)
    print("| import | best of runs (s) | vs purekeras_io |")
    print("|---|---|---|")
    base = rows[0][1]
    for name, t in rows:
        print(f"| {name} | {t:.3f} | {t / base:.1f}x |")
    print()
    print("| environment | installed size |")
    print("|---|---|")
    print(f"| fresh venv with purekeras_io and its dependencies | {size_ours / 1e6:.0f} MB |")
    print(f"| TensorFlow oracle venv (tensorflow, tf_keras, keras) | {size_tf / 1e6:.0f} MB |")
    print(f"\nratio: {size_tf / size_ours:.1f}x smaller")


if __name__ == "__main__":
    main()
