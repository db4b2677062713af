"""Crash consistency of every writer: SIGKILL a process that saves a large model over a small one.

    python tools/crash_test.py [--formats tf,checkpoint,h5,keras] [--kills 50] [--mb 300] [--seed 0]
                               [--measures 3]

For each format (SavedModel folder via ``models.save_model(save_format="tf")``, TF checkpoint via
``model.save_weights("ck/ckpt")``, ``.h5``, ``.keras``):

1. a small model A is saved at the target;
2. a child process saves a large model B (``--mb`` MiB of float32 weights, reproducible from
   ``--seed``) over it undisturbed, to measure how long a save takes (from the moment the child
   says it starts saving to the moment it says it is done); ``--measures`` times (default 3), and
   again before every 10th kill, the kill window being the longest save seen so far: one save of
   300 MiB takes 0.3 to 1.2 s on a shared VM, slower as the page cache's dirty backlog grows
   over the run, and a short window would leave the end of the save, where the renames are,
   unhit;
3. ``--kills`` times: a child starts the same save over A and is SIGKILLed at a uniformly random
   moment within that measured duration; then the temporaries our ``_io`` module names
   (``.<name>.tmp-<pid>-<hex>``, ``…ready-…``, ``…old-…``, ``…commit-…``, ``<name>.tempstate…``)
   beside the target are counted, the target is loaded (``pk.models.load_model``, or
   ``load_weights`` into A's and then B's architecture for a checkpoint) and must equal A exactly
   (``np.array_equal`` of every weight) or B exactly (a BLAKE2b digest of every weight, so that B is
   never held twice), and a normal save of A follows, after which no temporary and no stray file
   may remain beside the target.

Prints one row per format: kills, old intact, new complete, neither (must be 0), temporaries
left after the next save (must be 0), temporaries found right after the kills (informational: the
next load or save removes them), how many saves had finished before their kill (a kill after the
save's exit; the target must then be B), the measured save of B, and the time. Exit status 1 on
any failure.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import purekeras_io as pk
from purekeras_io import _io

__all__ = ["FORMATS", "Result", "main", "run_format"]

FORMATS = ("tf", "checkpoint", "h5", "keras")
_TARGET = {"tf": "sm", "checkpoint": "ckpt", "h5": "m.h5", "keras": "m.keras"}
_CHECKPOINT_FILES = {"checkpoint", "ckpt.index", "ckpt.data-00000-of-00001"}


# ---------------------------------------------------------------------------- the two models


def _model_a() -> pk.Model:
    model = pk.Sequential([pk.layers.Dense(5, input_shape=(3,), name="a0"), pk.layers.Softmax()])
    rng = np.random.default_rng(1234)
    model.set_weights([rng.standard_normal(w.shape).astype(np.float32) for w in model.weights])
    return model


def _b_shape(mb: float) -> tuple[int, int]:
    """(layers, width) of B: Dense(width) layers whose weights hold at least ``mb`` MiB."""
    layers = max(2, math.ceil(mb / 64))
    width = max(8, math.ceil(math.sqrt(mb * 2**20 / 4 / layers)))
    return layers, width


def _model_b_architecture(mb: float) -> pk.Model:
    layers, width = _b_shape(mb)
    return pk.Sequential(
        [pk.layers.Dense(width, input_shape=(width,), name="b0")]
        + [pk.layers.Dense(width, name=f"b{i}") for i in range(1, layers)]
    )


def _b_weight(seed: int, index: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng([seed, index]).random(shape, dtype=np.float32)


def _digest(array: np.ndarray) -> str:
    data = np.ascontiguousarray(array)
    return f"{data.dtype}{data.shape}" + hashlib.blake2b(memoryview(data).cast("B")).hexdigest()


def _b_digests(mb: float, seed: int) -> list[str]:
    """B's weight digests, generating one weight at a time."""
    shapes = [tuple(w.shape) for w in _model_b_architecture(mb).weights]
    return [_digest(_b_weight(seed, i, shape)) for i, shape in enumerate(shapes)]


def _save(model: pk.Model, fmt: str, target: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fmt == "checkpoint":
            model.save_weights(target)
        elif fmt == "tf":
            pk.models.save_model(model, target, save_format="tf")
        else:
            model.save(target)


# ---------------------------------------------------------------------------- the child


def _child(fmt: str, target: Path, mb: float, seed: int) -> None:
    """Build B, say ``ready``, save it over ``target``, say ``done``."""
    model = _model_b_architecture(mb)
    model.set_weights(
        [_b_weight(seed, i, tuple(w.shape)) for i, w in enumerate(model.weights)]
    )
    print("ready", flush=True)
    _save(model, fmt, target)
    print("done", flush=True)


def _start_child(fmt: str, target: Path, mb: float, seed: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--child", fmt, str(target),
         "--mb", str(mb), "--seed", str(seed)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != "ready":
        proc.kill()
        proc.wait()
        raise RuntimeError(f"the saving child did not start (said {line!r})")
    return proc


# ---------------------------------------------------------------------------- the checks


@dataclass
class Result:
    """One format's counts."""

    fmt: str
    kills: int = 0
    old: int = 0
    new: int = 0
    neither: int = 0
    finished: int = 0
    temps_after_kill: int = 0
    temps_after_save: int = 0
    save_seconds: float = 0.0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.neither == 0 and self.temps_after_save == 0 and not self.problems


def _temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if _io._TEMP.match(p.name))


def _strays(fmt: str, target: Path) -> list[str]:
    """Entries beside the target that are neither the target nor a temporary of ours."""
    expected = _CHECKPOINT_FILES if fmt == "checkpoint" else {target.name}
    return sorted(
        p.name
        for p in target.parent.iterdir()
        if p.name not in expected and not _io._TEMP.match(p.name)
    )


def _weights_of(fmt: str, target: Path, mb: float) -> list[np.ndarray]:
    """The weights at ``target`` (raises whatever loading raises)."""
    if fmt != "checkpoint":
        return list(pk.models.load_model(target).get_weights())
    model = _model_a()
    try:
        model.load_weights(target)
    except Exception as first:
        model = _model_b_architecture(mb)
        try:
            model.load_weights(target)
        except Exception as second:
            raise RuntimeError(f"neither A ({first}) nor B ({second}) loads") from second
    return list(model.get_weights())


def _which(
    fmt: str, target: Path, mb: float, a_weights: list[np.ndarray], b_digests: list[str]
) -> tuple[str, str]:
    """("old" | "new" | "neither", detail)."""
    try:
        weights = _weights_of(fmt, target, mb)
    except Exception as exc:
        return "neither", f"{type(exc).__name__}: {exc}"
    if len(weights) == len(a_weights) and all(
        w.shape == a.shape and w.dtype == a.dtype and np.array_equal(w, a)
        for w, a in zip(weights, a_weights)
    ):
        return "old", ""
    if len(weights) == len(b_digests) and all(
        _digest(w) == d for w, d in zip(weights, b_digests)
    ):
        return "new", ""
    shapes = [tuple(w.shape) for w in weights][:4]
    return "neither", f"loads, but equals neither A nor B ({len(weights)} weights {shapes}…)"


def _measure(fmt: str, target: Path, mb: float, seed: int) -> float:
    proc = _start_child(fmt, target, mb, seed)
    start = time.perf_counter()
    assert proc.stdout is not None
    done = proc.stdout.readline().strip()
    proc.wait()
    seconds = time.perf_counter() - start
    if done != "done" or proc.returncode != 0:
        raise RuntimeError(f"{fmt}: an undisturbed save of B failed (exit {proc.returncode})")
    return seconds


def run_format(
    fmt: str, root: Path, kills: int, mb: float, seed: int, b_digests: list[str],
    measures: int = 3,
) -> Result:
    """Measure saves of B, then ``kills`` killed saves of B over A (see the module docstring)."""
    start = time.perf_counter()
    result = Result(fmt)
    folder = root / fmt
    folder.mkdir(parents=True)
    target = folder / _TARGET[fmt]
    model_a = _model_a()
    a_weights = [np.array(w) for w in model_a.get_weights()]
    for _ in range(max(1, measures)):
        _save(model_a, fmt, target)
        result.save_seconds = max(result.save_seconds, _measure(fmt, target, mb, seed))
        verdict, detail = _which(fmt, target, mb, a_weights, b_digests)
        if verdict != "new":
            result.problems.append(f"the undisturbed save of B did not load as B: {detail}")
    rng = random.Random(f"{seed}-{fmt}")
    for kill in range(kills):
        _save(model_a, fmt, target)
        if kill and kill % 10 == 0:  # the save slows down over the run: widen the window
            result.save_seconds = max(result.save_seconds, _measure(fmt, target, mb, seed))
            _save(model_a, fmt, target)
        proc = _start_child(fmt, target, mb, seed)
        time.sleep(rng.uniform(0.0, result.save_seconds))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.returncode == 0:
            result.finished += 1  # the save won the race: the target must be B
        result.kills += 1
        result.temps_after_kill += len(_temporaries(folder))
        verdict, detail = _which(fmt, target, mb, a_weights, b_digests)
        if verdict == "old":
            result.old += 1
        elif verdict == "new":
            result.new += 1
        else:
            result.neither += 1
            result.problems.append(f"kill {kill}: {detail}; folder {sorted(os.listdir(folder))}")
        if verdict == "old" and proc.returncode == 0:
            result.problems.append(f"kill {kill}: the save finished, yet the target is still A")
        _save(model_a, fmt, target)
        left = _temporaries(folder)
        strays = _strays(fmt, target)
        result.temps_after_save += len(left)
        if left or strays:
            result.problems.append(f"kill {kill}: after the next save: {left + strays}")
        verdict, detail = _which(fmt, target, mb, a_weights, b_digests)
        if verdict != "old":
            result.problems.append(f"kill {kill}: the next save of A did not load as A: {detail}")
    result.seconds = time.perf_counter() - start
    shutil.rmtree(folder, ignore_errors=True)
    return result


# ---------------------------------------------------------------------------- the table


def _table(results: list[Result]) -> str:
    head = (
        f"{'format':<11}{'kills':>6}{'old intact':>12}{'new complete':>14}{'neither':>9}"
        f"{'temps left after next save':>28}{'temps right after kill':>24}"
        f"{'save done before kill':>23}{'longest save of B':>19}{'time':>9}"
    )
    rows = [head, "-" * len(head)]
    for r in results:
        rows.append(
            f"{r.fmt:<11}{r.kills:>6}{r.old:>12}{r.new:>14}{r.neither:>9}"
            f"{r.temps_after_save:>28}{r.temps_after_kill:>24}{r.finished:>23}"
            f"{r.save_seconds:>18.2f}s"
            f"{r.seconds:>8.0f}s"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--formats", default=",".join(FORMATS),
                        help=f"comma-separated, of {', '.join(FORMATS)}")
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--mb", type=float, default=300.0, help="MiB of float32 weights in B")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--measures", type=int, default=3,
                        help="undisturbed saves of B timed; the kill window is the longest")
    parser.add_argument("--dir", type=Path, default=None,
                        help="work folder on a local disk (default: a new one under $TMPDIR)")
    parser.add_argument("--child", nargs=2, metavar=("FORMAT", "TARGET"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], Path(args.child[1]), args.mb, args.seed)
        return 0
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        parser.error(f"--formats: unknown {unknown} (choose from {', '.join(FORMATS)})")
    layers, width = _b_shape(args.mb)
    size = layers * (width * width + width) * 4 / 2**20
    print(f"B: {layers} Dense({width}) layers, {size:.0f} MiB of float32; A: Dense(5) on 3 inputs;"
          f" {args.kills} kills per format, seed {args.seed}", flush=True)
    start = time.perf_counter()
    b_digests = _b_digests(args.mb, args.seed)
    root = Path(tempfile.mkdtemp(prefix="crash_test-", dir=args.dir))
    results = []
    try:
        for fmt in formats:
            result = run_format(
                fmt, root, args.kills, args.mb, args.seed, b_digests, args.measures
            )
            results.append(result)
            print(f"{fmt}: {result.kills} kills in {result.seconds:.0f} s "
                  f"(old {result.old}, new {result.new}, neither {result.neither}, "
                  f"temporaries after the next save {result.temps_after_save})", flush=True)
            for problem in result.problems[:20]:
                print(f"    {problem}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print()
    print(_table(results))
    print(f"total {time.perf_counter() - start:.0f} s")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
