"""Mutation fuzzing of the readers: damaged copies of valid files, each read in a forked child
with a time and memory limit; prints how each case ended.

    python tools/fuzz.py [--format h5|keras|tf|checkpoint|all] [--cases N] [--seed S]
                         [--seeds ours|golden|all]

Outcomes per case: ``ok`` (loaded), ``ours`` (a purekeras_io error raised on purpose),
``wrapped`` (a purekeras_io error that only quotes a foreign exception: a reader boundary caught
it as a last resort; the detail lines name the exception and the innermost purekeras_io frame it
came through), ``foreign:<Type>`` (any other exception: a bug), ``hang`` (over ``--timeout``
seconds), ``crash`` (the child died by a signal), ``memory`` (MemoryError under the ``--memory``
limit). Mutations: 1 to 8 random byte overwrites, a truncation at a random offset, or (``.h5``,
``.keras``, SavedModel: 40 % of cases) one value of the JSON config inside replaced by a hostile
one, by another value of the same document, or by a deep nest, in a container that stays valid.
Seed files (``--seeds``, default ``all``: even cases start from ours, odd ones from TensorFlow's
and Keras' own):

- ``ours``: two sample models written by purekeras_io, a small Dense one, and a two-input one with
  Conv2D, BatchNormalization, Embedding, LSTM, Concatenate, Dropout, LayerNormalization and a
  regularizer, compiled with Adam and its state built;
- ``golden``: the files TensorFlow 2.21, tf_keras and Keras 3 wrote in ``tests/golden`` (see
  ``tests/golden/MANIFEST.json``; ``tools/make_format_goldens.py``): 8 ``.h5`` (tf_keras and
  Keras 3), 4 ``.keras``, 8 SavedModels (with and without traces), and for ``checkpoint`` the 4
  ``save_weights`` checkpoints plus the 4 bundles ``tf.raw_ops.SaveV2`` wrote
  (``tests/golden/tensorbundle``: every dtype, strings, scalars, a multi-block index).

Reading a case: ``pk.models.load_model`` for ``.h5``, ``.keras`` and SavedModel; for
``checkpoint`` every tensor of every bundle in the folder through ``BundleReader``, then, when the
seed has a model (ours; a golden checkpoint takes the model of the golden ``.h5`` of its case),
``load_weights`` of the folder (its ``checkpoint`` state file, the object graph, the optimizer).

    --only-json    only the JSON mutations (the config parser's corpus)
    --strict       exit 1 when any case is not ``ok``/``ours``/``wrapped``
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import re
import resource
import shutil
import signal
import sys
import tempfile
import time
import traceback
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import purekeras_io as pk
from purekeras_io.errors import PurekerasError

FORMATS = ("h5", "keras", "tf", "checkpoint")
SEED_SETS = ("ours", "golden", "all")
GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "golden"
_EXIT = {"ok": 0, "ours": 10, "memory": 11, "wrapped": 12}
_GOOD = ("ok", "ours", "wrapped")


def _small_model() -> pk.Model:
    layers = pk.layers
    inputs = pk.Input((6,), name="x")
    hidden = layers.Dense(4, activation="relu", name="hidden")(inputs)
    return pk.Model(inputs, layers.Dense(2, activation="softmax", name="out")(hidden))


def _rich_model() -> pk.Model:
    layers = pk.layers
    img = pk.Input((8, 8, 3), name="img")
    seq = pk.Input((5,), name="seq", dtype="int32")
    x = layers.Conv2D(
        4, 3, padding="same", name="conv",
        kernel_regularizer={"class_name": "L2", "config": {"l2": 0.01}},
    )(img)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.ReLU(name="relu")(x)
    x = layers.MaxPooling2D(2, name="pool")(x)
    x = layers.Flatten(name="flat")(x)
    e = layers.Embedding(20, 4, name="emb")(seq)
    e = layers.LSTM(3, name="lstm")(e)
    h = layers.Concatenate(name="cat")([x, e])
    h = layers.Dense(6, activation="tanh", name="hidden")(h)
    h = layers.Dropout(0.1, name="drop")(h)
    h = layers.LayerNormalization(name="ln")(h)
    return pk.Model([img, seq], layers.Dense(2, activation="softmax", name="out")(h))


SAMPLES = {"small": _small_model, "rich": _rich_model}


def _sample(folder: Path, kind: str = "small") -> dict[str, Path]:
    folder.mkdir(parents=True)
    model = SAMPLES[kind]()
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


@dataclass
class Seed:
    """A valid file (or folder) that cases are mutated from."""

    origin: str
    """``ours`` or ``golden``."""
    path: Path
    model: pk.Model | None = None
    """For a checkpoint: the model its weights load into (None: ``BundleReader`` only); built
    once, each forked child loads into its own copy."""


def _sample_model(kind: str) -> pk.Model:
    model = SAMPLES[kind]()
    model.compile(optimizer=pk.optimizers.Adam(), loss="categorical_crossentropy")
    model.optimizer.build(model.trainable_weights)
    return model


def _golden_model(h5: Path) -> pk.Model:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pk.models.load_model(h5)


def _golden_seeds(fmt: str, base: Path) -> list[Seed]:
    """TensorFlow's and Keras' own files of ``fmt`` (``tests/golden``); bundles of
    ``tests/golden/tensorbundle`` are copied one per folder (a case's folder holds one bundle)."""
    if fmt == "h5":
        return [Seed("golden", p) for p in sorted((GOLDEN / "h5").glob("*.h5"))]
    if fmt == "keras":
        return [Seed("golden", p) for p in sorted((GOLDEN / "keras").glob("*.keras"))]
    if fmt == "tf":
        return [Seed("golden", p) for p in sorted((GOLDEN / "savedmodel").iterdir()) if p.is_dir()]
    seeds = [
        Seed("golden", p, _golden_model(GOLDEN / "h5" / f"{p.name}.k2.h5"))
        for p in sorted((GOLDEN / "checkpoint").iterdir())
        if p.is_dir()
    ]
    for index in sorted((GOLDEN / "tensorbundle").glob("*.index")):
        folder = base / f"golden-bundle-{index.stem}"
        folder.mkdir(parents=True)
        for part in index.parent.glob(f"{index.stem}.*"):
            shutil.copy(part, folder / part.name)
        seeds.append(Seed("golden", folder))
    return seeds


def seeds(fmt: str, which: str, base: Path) -> list[list[Seed]]:
    """The seed groups of ``fmt`` for ``--seeds which`` (cases alternate between the groups)."""
    groups = []
    if which in ("ours", "all"):
        groups.append([
            Seed("ours", _sample(base / f"src-{kind}", kind)[fmt], _sample_model(kind))
            for kind in SAMPLES
        ])
    if which in ("golden", "all"):
        groups.append(_golden_seeds(fmt, base))
    return groups


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


_DEEP = "__deep__"
"""Placeholder replaced by a 100,000-deep nest of lists in the JSON text."""
_HOSTILE: list[object] = [
    None,
    -1,
    0,
    2**63,
    10**30,
    1e308,
    -1e308,
    float("nan"),
    float("inf"),
    2.5,
    "",
    "x/../y",
    "\u00e9\u0000",
    [],
    {},
    [[[]]],
    True,
    {"class_name": 7},
    {"class_name": "Dense", "config": []},
    [None] * 3,
    [1, -1],
    [2**40, 2**40],
    "float64",
    "string",
    "Dense",
    "Sequential",
    _DEEP,
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
    roll = rng.random()
    if roll < 0.3:  # a value of the same document, elsewhere (a plausible but wrong value)
        donor = doc
        for step in paths[rng.randrange(len(paths))]:
            donor = donor[step]
        value = json.loads(json.dumps(donor))
    else:
        value = rng.choice(_HOSTILE)
    if isinstance(parent, dict) and roll > 0.8:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    text = json.dumps(doc)
    return text.replace(json.dumps(_DEEP), "[" * 100_000 + "]" * 100_000, 1)


def _mutate_config(fmt: str, target: Path, rng: random.Random) -> bool:
    """Mutate the JSON config inside a file, keeping the container valid (zip CRCs, HDF5)."""
    if fmt == "h5":
        import h5py

        with h5py.File(target, "r+") as f:
            names = [n for n in ("model_config", "training_config") if n in f.attrs]
            if not names:
                return False
            name = rng.choice(names)
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
    if fmt == "tf":
        from purekeras_io._proto.keras import saved_metadata_pb2

        meta_path = target / "keras_metadata.pb"
        proto = saved_metadata_pb2.SavedMetadata()
        proto.ParseFromString(meta_path.read_bytes())
        node = proto.nodes[0 if rng.random() < 0.7 else rng.randrange(len(proto.nodes))]
        node.metadata = _mutate_json(node.metadata, rng)
        meta_path.write_bytes(proto.SerializeToString())
        return True
    return False


def _read(fmt: str, path: Path, model: pk.Model | None) -> None:
    if fmt == "checkpoint":
        for index in sorted(path.glob("*.index")):
            with pk.tensorbundle.BundleReader(path / index.stem) as reader:
                for key in reader.keys():
                    reader.get(key)
        if model is not None:
            model.load_weights(path)
    else:
        pk.models.load_model(path)


def _child(fmt: str, path: Path, memory: int, model: pk.Model | None) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    warnings.simplefilter("ignore")
    try:
        _read(fmt, path, model)
    except PurekerasError as exc:
        origin = _wrapped(exc)
        if origin is None:
            os._exit(_EXIT["ours"])
        sys.stdout.write(origin + "\n")
        sys.stdout.flush()
        os._exit(_EXIT["wrapped"])
    except MemoryError:
        os._exit(_EXIT["memory"])
    except BaseException as exc:  # a foreign exception: report its type
        sys.stdout.write(type(exc).__name__ + "\n")
        sys.stdout.flush()
        os._exit(20)
    os._exit(_EXIT["ok"])


def _wrapped(exc: BaseException) -> str | None:
    """``Type@module:function`` when ``exc`` only quotes a foreign exception (its message names
    the foreign type: a catch-all boundary wrapped it); None for an error raised on purpose."""
    original = exc.__cause__ or exc.__context__
    if original is None or isinstance(original, PurekerasError):
        return None
    kind = type(original).__name__
    if f"{kind}:" not in str(exc) and "damaged or not a Keras file (" not in str(exc):
        return None
    where = "?"
    for frame in traceback.extract_tb(original.__traceback__):
        if f"{os.sep}purekeras_io{os.sep}" in frame.filename:
            tail = frame.filename.split(f"{os.sep}purekeras_io{os.sep}")[-1]
            where = f"{tail}:{frame.name}"
    return f"{kind}@{where}"


def _run_case(
    fmt: str, path: Path, timeout: float, memory: int,
    model: pk.Model | None = None,
) -> str:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        os.dup2(write_fd, 1)
        _child(fmt, path, memory, model)
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
    if code == _EXIT["wrapped"]:
        return f"wrapped:{text}"
    for name, value in _EXIT.items():
        if code == value:
            return name
    return f"foreign:{text or code}"


def fuzz(
    fmt: str,
    cases: int,
    seed: int,
    timeout: float,
    memory: int,
    keep: Path | None = None,
    only_json: bool = False,
    which: str = "all",
    origins: collections.Counter[str] | None = None,
) -> collections.Counter[str]:
    """Run ``cases`` mutations of the seed files of ``fmt`` (``which``: ours, golden or all);
    ``keep``: copy bad cases there; ``origins``: counts cases per seed origin and outcome."""
    rng = random.Random(seed)
    counts: collections.Counter[str] = collections.Counter()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        groups = seeds(fmt, which, base)
        for i in range(cases):
            group = groups[i % len(groups)]
            start = group[(i // len(groups)) % len(group)]
            source = start.path
            files = _files(fmt, source)
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
            json_case = only_json or rng.random() < 0.4
            if not (json_case and _mutate_config(fmt, target, rng)):
                victim.write_bytes(_mutate(victim.read_bytes(), rng))
            outcome = _run_case(fmt, target, timeout, memory, start.model)
            counts[outcome] += 1
            if origins is not None:
                origins[f"{start.origin}:{outcome.split(':')[0]}"] += 1
            if keep is not None and outcome.split(":")[0] not in ("ok", "ours"):
                kept = keep / re.sub(r"[^\w.@-]", "_", f"{fmt}-{seed}-{i}-{outcome}")
                shutil.copytree(work, kept, dirs_exist_ok=True)
                (kept / "SEED.txt").write_text(f"{start.origin} {source}\n")
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
    parser.add_argument("--only-json", action="store_true", help="JSON config mutations only")
    parser.add_argument("--seeds", choices=SEED_SETS, default="all",
                        help="mutate our sample files, TF's/Keras' goldens, or both (default)")
    parser.add_argument("--strict", action="store_true", help="exit 1 on any bad case")
    args = parser.parse_args()
    any_bad = False
    for fmt in FORMATS if args.format == "all" else (args.format,):
        start = time.perf_counter()
        origins: collections.Counter[str] = collections.Counter()
        counts = fuzz(
            fmt, args.cases, args.seed, args.timeout, args.memory, args.keep, args.only_json,
            args.seeds, origins,
        )
        summary: collections.Counter[str] = collections.Counter()
        for key, n in counts.items():
            summary[key.split(":")[0] if key.startswith("wrapped:") else key] += n
        bad = sum(n for k, n in summary.items() if k not in _GOOD)
        any_bad = any_bad or bad > 0
        print(
            f"{fmt:<10} {args.cases} cases in {time.perf_counter() - start:.0f} s: "
            f"{dict(sorted(summary.items()))}  bad={bad}"
        )
        for origin in ("ours", "golden"):
            part = {k.split(":", 1)[1]: n for k, n in sorted(origins.items())
                    if k.startswith(origin + ":")}
            if part:
                print(f"    from {origin}: {sum(part.values())} cases {part}")
        for key, n in counts.most_common():
            if key.split(":")[0] not in ("ok", "ours"):
                print(f"    {n:5d}  {key}")
    if args.strict and any_bad:
        sys.exit(1)


if __name__ == "__main__":
    main()
