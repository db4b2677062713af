"""Mutation fuzzing of the readers: damaged copies of valid files, each read in a forked child
with a time and memory limit; prints how each case ended.

    python tools/fuzz.py [--format h5|keras|tf|checkpoint|all] [--cases N] [--seed S]

Outcomes per case: ``ok`` (loaded), ``ours`` (a purekeras_io error), ``foreign:<Type>`` (any other
exception: a bug), ``hang`` (over ``--timeout`` seconds), ``crash`` (the child died by a signal),
``memory`` (MemoryError under the ``--memory`` limit). Mutations: 1 to 8 random byte overwrites,
a truncation at a random offset, or (``.h5``, ``.keras``: 40 % of cases) one value of the JSON
config inside replaced by a hostile one in a container that stays valid.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import resource
import shutil
import signal
import sys
import tempfile
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np

import purekeras_io as pk
from purekeras_io.errors import PurekerasError

FORMATS = ("h5", "keras", "tf", "checkpoint")
_EXIT = {"ok": 0, "ours": 10, "memory": 11}


def _sample(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True)
    layers = pk.layers
    inputs = pk.Input((6,), name="x")
    hidden = layers.Dense(4, activation="relu", name="hidden")(inputs)
    model = pk.Model(inputs, layers.Dense(2, activation="softmax", name="out")(hidden))
    model.compile(optimizer=pk.optimizers.Adam(), loss="categorical_crossentropy")
    model.optimizer.build(model.trainable_weights)
    model.set_weights([np.full(w.shape, 0.5, np.float32) for w in model.get_weights()])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(folder / "m.h5", target="keras2")
        model.save(folder / "m.keras")
        model.save(folder / "sm", save_traces=False)
        model.save_weights(folder / "ck" / "ckpt")
    return {
        "h5": folder / "m.h5",
        "keras": folder / "m.keras",
        "tf": folder / "sm",
        "checkpoint": folder / "ck",
    }


def _files(fmt: str, root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file())


def _mutate(data: bytes, rng: random.Random) -> bytes:
    if rng.random() < 0.2:
        return data[: rng.randrange(len(data))]
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


_HOSTILE: list[object] = [
    None,
    -1,
    0,
    2**63,
    1e308,
    float("nan"),
    "",
    "x/../y",
    [],
    {},
    [[[]]],
    True,
    {"class_name": 7},
    [None] * 3,
    "float64",
    "Dense",
]


def _json_paths(node: object, path: tuple = ()) -> list[tuple]:
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_json_paths(value, (*path, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_json_paths(value, (*path, i)))
    return found


def _mutate_json(text: str, rng: random.Random) -> str:
    """One value of a JSON document (or a key of an object) replaced by a hostile one."""
    doc = json.loads(text)
    paths = _json_paths(doc)[1:]
    if not paths:
        return text
    path = paths[rng.randrange(len(paths))]
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    value = rng.choice(_HOSTILE)
    if isinstance(parent, dict) and rng.random() < 0.3:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return json.dumps(doc)


def _mutate_config(fmt: str, target: Path, rng: random.Random) -> bool:
    """Mutate the JSON config inside a file, keeping the container valid (zip CRCs, HDF5)."""
    if fmt == "h5":
        import h5py

        with h5py.File(target, "r+") as f:
            name = rng.choice(["model_config", "training_config"])
            text = f.attrs[name]
            f.attrs[name] = _mutate_json(text if isinstance(text, str) else text.decode(), rng)
        return True
    if fmt == "keras":
        with zipfile.ZipFile(target) as zin:
            members = [(info, zin.read(info)) for info in zin.infolist()]
        with zipfile.ZipFile(target, "w") as zout:
            for info, data in members:
                if info.filename.endswith(".json"):
                    data = _mutate_json(data.decode(), rng).encode()
                zout.writestr(info, data)
        return True
    return False


def _read(fmt: str, path: Path) -> None:
    if fmt == "checkpoint":
        with pk.tensorbundle.BundleReader(path / "ckpt") as reader:
            for key in reader.keys():
                reader.get(key)
    else:
        pk.models.load_model(path)


def _child(fmt: str, path: Path, memory: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    warnings.simplefilter("ignore")
    try:
        _read(fmt, path)
    except PurekerasError:
        os._exit(_EXIT["ours"])
    except MemoryError:
        os._exit(_EXIT["memory"])
    except BaseException as exc:  # a foreign exception: report its type
        sys.stdout.write(type(exc).__name__ + "\n")
        sys.stdout.flush()
        os._exit(20)
    os._exit(_EXIT["ok"])


def _run_case(fmt: str, path: Path, timeout: float, memory: int) -> str:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        os.dup2(write_fd, 1)
        _child(fmt, path, memory)
    os.close(write_fd)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(read_fd)
            return "hang"
        time.sleep(0.002)
    text = os.read(read_fd, 200).decode(errors="replace").strip()
    os.close(read_fd)
    if os.WIFSIGNALED(status):
        return f"crash:{signal.Signals(os.WTERMSIG(status)).name}"
    code = os.WEXITSTATUS(status)
    for name, value in _EXIT.items():
        if code == value:
            return name
    return f"foreign:{text or code}"


def fuzz(
    fmt: str, cases: int, seed: int, timeout: float, memory: int, keep: Path | None = None
) -> collections.Counter[str]:
    """Run ``cases`` mutations of a sample file of ``fmt``; ``keep``: copy bad cases there."""
    rng = random.Random(seed)
    counts: collections.Counter[str] = collections.Counter()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        source = _sample(base / "src")[fmt]
        files = _files(fmt, source)
        for i in range(cases):
            work = base / f"case{i}"
            target = work / source.name
            work.mkdir()
            if source.is_dir():
                shutil.copytree(source, target)
            else:
                shutil.copy(source, target)
            victim = (
                target / files[rng.randrange(len(files))].relative_to(source)
                if source.is_dir()
                else target
            )
            if not (rng.random() < 0.4 and _mutate_config(fmt, target, rng)):
                victim.write_bytes(_mutate(victim.read_bytes(), rng))
            outcome = _run_case(fmt, target, timeout, memory)
            counts[outcome] += 1
            if keep is not None and outcome not in ("ok", "ours"):
                kept = keep / f"{fmt}-{seed}-{i}-{outcome.replace(':', '_')}"
                shutil.copytree(work, kept, dirs_exist_ok=True)
            shutil.rmtree(work)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", choices=(*FORMATS, "all"), default="all")
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--keep", type=Path, help="copy the cases that went wrong here")
    parser.add_argument("--memory", type=int, default=2 << 30, help="bytes of address space")
    args = parser.parse_args()
    for fmt in FORMATS if args.format == "all" else (args.format,):
        start = time.perf_counter()
        counts = fuzz(fmt, args.cases, args.seed, args.timeout, args.memory, args.keep)
        bad = sum(n for k, n in counts.items() if k not in ("ok", "ours"))
        print(
            f"{fmt:<10} {args.cases} cases in {time.perf_counter() - start:.0f} s: "
            f"{dict(sorted(counts.items()))}  bad={bad}"
        )


if __name__ == "__main__":
    main()
