#!/usr/bin/env python3
"""Benchmark: a fresh process, end to end: import, build from config, set weights, save.

Each row is one fresh interpreter (best of ``--repeats`` by process wall time, which includes
interpreter start-up and teardown), as in ``/work/shared/docs/baselines.md`` §3:

* **purekeras_io** (this interpreter's Python): ``import purekeras_io``; build
  ``Input(units) → layers x Dense(units)`` from its JSON config; set the weights from ``.npy``
  files written beforehand and opened memory-mapped (``np.load(mmap_mode="r")``), or leave the
  lazy random initial values (``random``: drawn while saving); save as ``.h5``, ``.keras`` or a
  SavedModel folder.
* **tf_keras** and **Keras 3** (the oracle venv, ``tools/oracle_env.py ensure tf``): the same
  steps with ``model_from_json`` + ``set_weights`` (same ``.npy`` files) + ``model.save``.
* **floor**: a fresh ``python -c "import numpy"`` process writing the same ``.npy`` arrays into
  one file with ``ndarray.tofile``.

Every process reports its own peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``); the
ratio to the weights' size shows how many copies of the model a process holds. Pages of the
memory-mapped ``.npy`` files count in RSS once they are read, so a process that holds the model
once sits at ≈ 1.0x the weights plus its interpreter and libraries; "RSS - floor's" is what a
process holds beyond the floor process (which maps and reads every array once). Outputs are
fsynced (untimed) and deleted between runs, so no run starts with another's dirty pages.

    python tools/bench_end_to_end.py [--repeats 3] [--units 4096] [--layers 6] [--dir DIR]
                                     [--no-oracle] [--fsync]

Prints one markdown table (seconds; RSS in MB).
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

_PRELUDE = r"""
import json, os, resource, sys, time
t0 = time.perf_counter()
args = json.loads(sys.argv[1])
"""

_FINISH = r"""
def _fsync_tree(path):
    paths = [path] if os.path.isfile(path) else [
        os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs]
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
if args["fsync"]:
    _fsync_tree(args["out"])
t4 = time.perf_counter()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"import": t1 - t0, "build": t2 - t1, "set": t3 - t2, "save": t4 - t3,
                  "rss": rss}))
"""

OURS = _PRELUDE + r"""
import numpy as np
import purekeras_io as pk
t1 = time.perf_counter()
with open(args["config"], encoding="utf-8") as f:
    model = pk.model_from_json(f.read())
t2 = time.perf_counter()
if args["weights"] == "npy":
    model.set_weights([np.load(p, mmap_mode="r") for p in args["arrays"]])
t3 = time.perf_counter()
model.save(args["out"], save_format=args["format"])
""" + _FINISH

KERAS = _PRELUDE + r"""
import numpy as np
if args["lib"] == "tf_keras":
    import tf_keras as K
else:
    import keras as K
t1 = time.perf_counter()
with open(args["config"], encoding="utf-8") as f:
    model = K.models.model_from_json(f.read())
t2 = time.perf_counter()
if args["weights"] == "npy":
    model.set_weights([np.load(p, mmap_mode="r") for p in args["arrays"]])
t3 = time.perf_counter()
if args["format"] == "tf":
    model.save(args["out"], save_format="tf")
else:
    model.save(args["out"])
""" + _FINISH

FLOOR = _PRELUDE + r"""
import numpy as np
t1 = t2 = time.perf_counter()
arrays = [np.load(p, mmap_mode="r") for p in args["arrays"]]
t3 = time.perf_counter()
with open(args["out"], "wb") as f:
    for a in arrays:
        a.tofile(f)
""" + _FINISH

_EXT = {"h5": ".h5", "keras": ".keras", "tf": ""}


def _oracle_python() -> str:
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "oracle_env.py"), "ensure", "tf"],
        check=True, capture_output=True, text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def _remove(path: Path) -> None:
    """fsync (untimed) then delete an output file or folder."""
    if not path.exists():
        return
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    for p in files:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()


def _run(python: str, code: str, args: dict[str, Any], env: dict[str, str]) -> dict[str, float]:
    out_path = Path(args["out"])
    _remove(out_path)
    t0 = time.perf_counter()
    proc = subprocess.run([python, "-c", code, json.dumps(args)], capture_output=True,
                          text=True, env=env, cwd=args["cwd"])
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{python} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall"] = wall
    result["size"] = float(
        out_path.stat().st_size if out_path.is_file()
        else sum(p.stat().st_size for p in out_path.rglob("*") if p.is_file())
    )
    _remove(out_path)
    return result


def _best(python: str, code: str, args: dict[str, Any], env: dict[str, str],
          repeats: int) -> dict[str, float]:
    runs = [_run(python, code, args, env) for _ in range(repeats)]
    best = min(runs, key=lambda r: r["wall"])
    best["walls"] = [round(r["wall"], 2) for r in runs]  # type: ignore[assignment]
    return best


def _prepare(work: Path, units: int, layers: int) -> tuple[Path, Path, list[str], int]:
    """The model configs (Keras 3 and tf_keras dialects) and one ``.npy`` per weight."""
    import numpy as np

    sys.path.insert(0, str(ROOT))
    import purekeras_io as pk

    inputs = pk.Input(shape=(units,))
    x = inputs
    for _ in range(layers):
        x = pk.layers.Dense(units)(x)
    model = pk.Model(inputs, x)
    k3 = work / "config_keras3.json"
    k2 = work / "config_keras2.json"
    k3.write_text(model.to_json("keras3"), encoding="utf-8")
    k2.write_text(model.to_json("keras2"), encoding="utf-8")
    rng = np.random.default_rng(0)
    paths, total = [], 0
    for i, var in enumerate(model.weights):  # shapes only: nothing is drawn here
        path = work / f"w{i:02d}.npy"
        arr = (rng.random(var.shape, dtype=np.float32) - np.float32(0.5)) * np.float32(0.02)
        np.save(path, arr)
        fd = os.open(path, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
        paths.append(str(path))
        total += arr.nbytes
    return k3, k2, paths, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--units", type=int, default=4096)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--dir", default=None, help="work folder (default: a temporary one)")
    parser.add_argument("--no-oracle", action="store_true", help="skip tf_keras / Keras 3")
    parser.add_argument("--fsync", action="store_true", help="fsync the output inside 'save'")
    opts = parser.parse_args()

    tmp = None if opts.dir else tempfile.TemporaryDirectory(prefix="bench_e2e_")
    work = Path(opts.dir or tmp.name)  # type: ignore[union-attr]
    work.mkdir(parents=True, exist_ok=True)
    try:
        k3, k2, arrays, total = _prepare(work, opts.units, opts.layers)
        env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3",
                   CUDA_VISIBLE_DEVICES="", PYTHONDONTWRITEBYTECODE="1")
        base = {"arrays": arrays, "fsync": opts.fsync, "cwd": str(work)}
        rows: list[tuple[str, dict[str, float]]] = []

        def add(label: str, python: str, code: str, **kw: Any) -> None:
            args = {**base, **kw}
            rows.append((label, _best(python, code, args, env, opts.repeats)))
            print(f"  measured {label}: {rows[-1][1]['walls']}", file=sys.stderr)

        add("floor: numpy `tofile` of the same arrays", sys.executable, FLOOR,
            out=str(work / "floor.bin"), weights="npy")
        for fmt in ("h5", "keras", "tf"):
            for weights in ("npy", "random"):
                add(f"purekeras_io `{fmt}` ({weights})", sys.executable, OURS,
                    config=str(k3), format=fmt, weights=weights,
                    out=str(work / f"ours_{fmt}_{weights}{_EXT[fmt]}"))
        if not opts.no_oracle:
            oracle = _oracle_python()
            oracle_env = dict(env)
            oracle_env.pop("PYTHONPATH")
            for lib, fmt, config in (("tf_keras", "h5", k2), ("tf_keras", "tf", k2),
                                     ("tf_keras", "keras", k2), ("keras", "keras", k3),
                                     ("keras", "h5", k3)):
                label = f"{'tf_keras' if lib == 'tf_keras' else 'Keras 3'} `{fmt}` (npy)"
                args = {**base, "lib": lib, "format": fmt, "weights": "npy",
                        "config": str(config), "out": str(work / f"{lib}_{fmt}{_EXT[fmt]}")}
                rows.append((label, _best(oracle, KERAS, args, oracle_env, opts.repeats)))
                print(f"  measured {label}: {rows[-1][1]['walls']}", file=sys.stderr)
    finally:
        if tmp is not None:
            tmp.cleanup()

    floor, floor_rss = rows[0][1]["wall"], rows[0][1]["rss"]
    print(f"Model: Input({opts.units}) → {opts.layers} x Dense({opts.units}), weights "
          f"{total / 1e6:.1f} MB float32; best of {opts.repeats} fresh processes by wall time"
          f"{'; save includes fsync' if opts.fsync else ''}.\n")
    print("| process | import | build | set weights | save | wall | wall / floor "
          "| peak RSS (MB) | RSS / weights | RSS - floor's (MB) | walls |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for label, r in rows:
        print(f"| {label} | {r['import']:.3f} | {r['build']:.3f} | {r['set']:.3f} | "
              f"{r['save']:.3f} | **{r['wall']:.2f}** | {r['wall'] / floor:.1f}x | "
              f"{r['rss'] / 1e6:.0f} | {r['rss'] / total:.2f}x | "
              f"{(r['rss'] - floor_rss) / 1e6:+.0f} | "
              f"{r['walls']} |")


if __name__ == "__main__":
    main()
