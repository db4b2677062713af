#!/usr/bin/env python3
"""Create (once) and locate the oracle virtual environments: the real TensorFlow, tf_keras, Keras,
and the converters that take a SavedModel (OpenVINO; tf2onnx with onnxruntime).

    python tools/oracle_env.py ensure tf      # prints the oracle's python executable

Each kind is declared by its requirements file, ``tests/oracle/requirements-<kind>.txt``.

Each environment lives outside the repository, in ``$PUREKERAS_ORACLE_CACHE`` (default
``~/.cache/purekeras_io``), under a name that carries a hash of its requirements file, so editing
the pins makes a new one. An environment counts as ready only once its ``.complete`` marker exists;
a half-built one is removed and built again. A lock file keeps parallel callers from racing.
purekeras_io itself never imports anything from these environments: tests call them as subprocesses.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["ensure", "env_dir"]

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "tests" / "oracle"
KINDS = ("tf", "jax", "torch", "openvino", "onnx", "tensorboard", "torchvision", "flax")


def _cache() -> Path:
    default = Path.home() / ".cache" / "purekeras_io"
    return Path(os.environ.get("PUREKERAS_ORACLE_CACHE", default))


def env_dir(kind: str) -> Path:
    """Where the environment of this kind lives (it may not exist yet)."""
    req = REQUIREMENTS / f"requirements-{kind}.txt"
    digest = hashlib.sha256(req.read_bytes()).hexdigest()[:12]
    return _cache() / f"oracle-{kind}-{digest}"


def ensure(kind: str, *, quiet: bool = False) -> Path:
    """Build the environment if needed; return its python executable."""
    if kind not in KINDS:
        raise SystemExit(f"oracle kind must be one of {KINDS}, got {kind!r}")
    target = env_dir(kind)
    python = target / "bin" / "python"
    marker = target / ".complete"
    if marker.exists():
        return python
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            return python
        if target.exists():
            shutil.rmtree(target)
        out = subprocess.DEVNULL if quiet else sys.stderr
        print(f"creating oracle environment {target} (once; several minutes)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(target)], check=True, stdout=out)
        req = REQUIREMENTS / f"requirements-{kind}.txt"
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "-r",
                str(req),
            ],
            check=True,
            stdout=out,
        )
        marker.write_text(req.read_text())
    return python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_ensure = sub.add_parser("ensure", help="create the environment if needed, print its python")
    p_ensure.add_argument("kinds", nargs="+", choices=KINDS)
    p_path = sub.add_parser("path", help="print where the environment lives")
    p_path.add_argument("kind", choices=KINDS)
    args = parser.parse_args()
    if args.cmd == "ensure":
        for kind in args.kinds:
            print(ensure(kind))
    else:
        print(env_dir(args.kind))


if __name__ == "__main__":
    main()
