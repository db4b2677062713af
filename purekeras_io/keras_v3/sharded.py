"""Keras 3 sharded weights: ``model.save_weights("x.weights.json", max_shard_size=GB)``.

Layout (Keras 3.15.1 ``saving_lib.ShardedH5IOStore``)::

    x.weights.json            json.dumps(indent=4), no trailing newline:
                              {"metadata": {"total_size": <float bytes>},
                               "weight_map": {"/layers/dense/vars": "x_00000.weights.h5",
                                              "/layers/big/vars": ["x_00000.weights.h5",
                                                                   "x_00001.weights.h5"], ...}}
    x_00000.weights.h5        each shard a complete ``.weights.h5`` tree (see :mod:`.layout`)
    x_00001.weights.h5        holding only its own datasets

* The shard base name is the JSON file's stem with every ``.weights`` removed
  (``Path(p).stem.replace(".weights", "")``); shard ``i`` is ``<base>_{i:05}.weights.h5`` beside
  the JSON. A path ending ``.weights.h5`` is renamed to ``.weights.json`` with a warning, as Keras
  does.
* Walk: the same groups, in the same order, as ``.weights.h5``. A group with a ``name`` is created
  (with that attribute) in the shard current when the walk reaches it, even if it holds nothing.
  For each variable, ``size = prod(shape) * bits(dtype) / 8`` (Keras' ``dtype_size`` is in bits:
  bool counts 1/8 byte, though HDF5 stores a byte); a variable larger than ``max_shard_size`` GiB
  (``* 1024**3``) is an error; the running size of the current shard grows by ``size`` and, when
  it exceeds the limit, a new shard starts with this variable (its group created there again,
  without ``name``). So a shard exceeds the limit only by HDF5 overhead.
* ``weight_map`` lists, in the order first written, each ``vars`` group (``h5py`` name, leading
  ``/``) that received a dataset: a shard name for a group of one dataset, else the list of
  shards its datasets span (Keras turns the entry into a list at the second dataset, so a kernel
  and bias in one shard are ``["x_00000.weights.h5"]``).
  Groups that got no dataset are not listed (the root ``/vars``, models, weightless layers).
  ``total_size`` is the sum of the sizes above (a float: Keras divides by 8), ``0`` when none.
* Loading (Keras and here) finds a group's datasets through ``weight_map`` (key ``/<path>/vars``,
  or ``<path>`` as Keras also tries) and gathers them from every listed shard.

Keras 3.15.1's ``.keras`` has no sharded form: ``saving_lib.save_model`` always writes one
``model.weights.h5`` member, and ``load_model`` of an unzipped folder reads only
``model.weights.h5`` or ``model.weights.npz`` (the reader refuses a ``.weights.json`` member).

Writing is atomic and deterministic: every shard and the JSON go to temporaries beside their
targets, then :func:`purekeras_io._io.commit_many` renames them all (the JSON last) under a journal
named after shard 0, which :func:`~purekeras_io._io.recover` rolls forward after a crash. Shards
of an earlier save that the new JSON does not list (``<base>_NNNNN.weights.h5``) are removed after
the commit. Lazy weights are streamed (:mod:`.zipstream`), loaded weights are lazy
(:mod:`.lazy_member`).

:func:`verify_sharded` (``purekeras verify x.weights.json``) reports every problem, never raises:

==========================  =================================================================
rule                        checked how
==========================  =================================================================
the JSON                    at most 64 MiB, UTF-8 JSON, an object; ``metadata.total_size`` a
                            number ≥ 0; ``weight_map`` an object whose keys Keras can look up
                            (``/<path>/vars``, ``/vars`` or ``<path>``), no two for one group,
                            values a shard name or a non-empty list of plain file names
every listed shard          exists; opens as HDF5; every object a hard link; every dataset in
                            a ``vars`` group, numeric (bfloat16 tagged), not virtual or
                            external, and (contiguous ones) inside the file — the per-dataset
                            checks of the ``.weights.h5`` reader (:mod:`.reader`); contiguous
                            data is bounds-checked, not read
map against shards          each mapped group has datasets in every shard the map names; no
                            dataset in two shards; keys ``0…n-1`` across its shards; every
                            stored group is mapped, and to the shard that holds it
``total_size``              equals the sum of ``prod(shape) * bits / 8`` (:func:`keras_size`)
                            of the datasets (judged only when every dataset was readable)
stray shards                ``<base>_NNNNN.weights.h5`` beside the JSON that the map does not
                            list: a note (an earlier save's leftover), not a problem
==========================  =================================================================

HDF5 carries no checksum of its data (a note says so); verifying reads the files as they are
and does not roll forward an interrupted save's journal (loading does).
"""

from __future__ import annotations

import json
import math
import os
import re
import warnings
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .._io import commit_many, fsync_file, recover, remove_quietly, temp_sibling
from .._report import Report
from ..errors import ConfigError, FormatError, reading
from ..model.base import Model
from ..model.naming import renamed_layers
from ..model.preflight import check_model
from ..model.validate import MAX_JSON_BYTES, load_json
from .h5image import H5Group, build_h5_image
from .lazy_member import FileSource
from .reader import (
    _MAX_EXPANSION,
    _hard_child,
    _read_dataset,
    _source,
    assign_tree,
    numbered,
    open_h5,
    vars_datasets,
)
from .writer import weights_groups
from .zipstream import write_parts

__all__ = [
    "KERAS_DTYPE_BITS",
    "NOTE_WEIGHTS_ONLY",
    "ShardPlan",
    "json_path_for",
    "keras_size",
    "load_sharded",
    "plan_shards",
    "save_sharded",
    "shard_name",
    "verify_sharded",
]

KERAS_DTYPE_BITS: dict[str, int] = {
    **{f"float{i}": i for i in (16, 32, 64)},
    **{f"int{i}": i for i in (8, 16, 32, 64)},
    **{f"uint{i}": i for i in (8, 16, 32, 64)},
    "bfloat16": 16,
    "bool": 1,
}
"""Keras 3.15.1 ``dtype_utils.DTYPE_TO_SIZE`` (bits per element; other dtypes: Keras raises, we
count their item size)."""

_GIB = 1024**3


def json_path_for(filepath: Any) -> str:
    """The ``.weights.json`` path Keras uses for ``filepath`` (a non-``.json`` suffix is replaced,
    with Keras' warning)."""
    path = Path(os.fspath(filepath))
    if path.suffix != ".json":
        new = path.with_suffix(".json")
        warnings.warn(
            f"Saving sharded weights requires `*.json` as the extension. The original path: "
            f"{path} will be renamed to {new}.",
            UserWarning,
            stacklevel=3,
        )
        path = new
    return str(path)


def shard_name(json_path: str, index: int) -> str:
    """``<base>_{index:05}.weights.h5`` (``base``: the JSON stem without ``.weights``)."""
    base = Path(json_path).stem.replace(".weights", "")
    return f"{base}_{index:05}.weights.h5"


def keras_size(value: Any) -> float:
    """What Keras counts for one variable: ``prod(shape) * bits / 8`` (a float)."""
    dtype = np.dtype(value.dtype)
    bits = KERAS_DTYPE_BITS.get(dtype.name, dtype.itemsize * 8)
    return math.prod(int(d) for d in value.shape) * bits / 8


class ShardPlan:
    """Which groups and datasets go to which shard, and the JSON (computed without data)."""

    def __init__(self, json_path: str, max_shard_size: float) -> None:
        self.json_path = json_path
        try:
            self.limit = float(max_shard_size) * _GIB
        except (TypeError, ValueError):
            raise ConfigError(
                f"{json_path}: max_shard_size must be a number of GB, received {max_shard_size!r}"
            ) from None
        if not self.limit > 0:
            raise ConfigError(
                f"{json_path}: max_shard_size must be positive, received {max_shard_size!r}"
            )
        self.shards: list[list[H5Group]] = [[]]
        self.current = 0.0
        self.total: float = 0
        self.weight_map: dict[str, Any] = {}

    def _group(self, path: str, name: str | None) -> H5Group:
        group = H5Group(path, name, [], [])
        self.shards[-1].append(group)
        return group

    def add(self, group: H5Group) -> None:
        here: H5Group | None = None
        if group.name is not None:  # Keras creates named groups when it reaches them
            here = self._group(group.path, group.name)
        for i, value in enumerate(group.arrays):
            size = keras_size(value)
            self.total += size
            if size > self.limit:
                raise ConfigError(
                    f"{self.json_path}: /{group.path}/{i} ({tuple(value.shape)} "
                    f"{np.dtype(value.dtype)}) is {size:.0f} bytes, more than max_shard_size "
                    f"({self.limit:.0f} bytes); Keras refuses it too: increase max_shard_size"
                )
            self.current += size
            if self.current > self.limit:
                self.shards.append([])
                self.current = size
                here = None
            if here is None:
                here = self._group(group.path, None)
            assert isinstance(here.arrays, list) and isinstance(here.keys, list)
            here.arrays.append(value)
            here.keys.append(str(i))
            self._record(f"/{group.path}", shard_name(self.json_path, len(self.shards) - 1))

    def _record(self, key: str, name: str) -> None:
        """Keras' bookkeeping: the first dataset of a group records the shard name, every
        further one turns it into a list (so a group of two or more datasets is a list, even
        of one shard) and appends a shard not yet listed."""
        known = self.weight_map.get(key)
        if known is None:
            self.weight_map[key] = name
            return
        if not isinstance(known, list):
            known = self.weight_map[key] = [known]
        if name not in known:
            known.append(name)

    def json_text(self) -> str:
        return json.dumps(
            {"metadata": {"total_size": self.total}, "weight_map": self.weight_map}, indent=4
        )


def plan_shards(model: Model, json_path: str, max_shard_size: float) -> ShardPlan:
    """The shard plan of ``model``'s weights (the optimizer's included when compiled)."""
    plan = ShardPlan(json_path, max_shard_size)
    with renamed_layers(model, "keras3", "the weights file"):
        for group in weights_groups(model, "keras3", include_optimizer=True):
            plan.add(group)
    return plan


_SHARD_RE = re.compile(r"_\d{5}\.weights\.h5$")


def _old_shards(json_path: str) -> set[str]:
    """Shard names an existing JSON lists (ours to replace: ``<base>_NNNNN.weights.h5``)."""
    try:
        with open(json_path, "rb") as fh:
            data = json.loads(fh.read(MAX_JSON_BYTES + 1))
        names = _map_names(data.get("weight_map", {}))
    except (OSError, ValueError, AttributeError, TypeError):
        return set()
    base = Path(json_path).stem.replace(".weights", "")
    return {n for n in names if n.startswith(base + "_") and _SHARD_RE.search(n)}


def _map_names(weight_map: Any) -> set[str]:
    names: set[str] = set()
    for value in weight_map.values():
        names.update([value] if isinstance(value, str) else list(value))
    return names


def save_sharded(
    model: Model,
    filepath: Any,
    max_shard_size: float,
    *,
    fsync: bool = False,
    target: str = "keras3",
    workers: int | None = None,
    client: Any = None,
    **ignored: Any,
) -> list[str]:
    """Write ``model``'s weights as Keras 3 sharded weights; returns the paths written (shards,
    then the JSON). Only the Keras 3 layout exists (tf_keras has no sharded weights).
    ``workers=N`` (local processes) or ``client=`` (Dask): each shard file is written by a
    worker (``purekeras_io.parallel.files``); the driver lays them out and writes the JSON."""
    if target != "keras3":
        raise ConfigError(
            f"sharded weights are a Keras 3 format; target must be 'keras3', received {target!r}"
        )
    json_path = json_path_for(filepath)
    if os.path.isdir(json_path):
        raise ConfigError(f"{json_path}: is a directory; sharded weights need a file path")
    check_model(model, include_optimizer=True, what=f"saving {json_path}")
    plan = plan_shards(model, json_path, max_shard_size)
    folder = os.path.dirname(os.path.abspath(json_path))
    targets = [os.path.join(folder, shard_name(json_path, i)) for i in range(len(plan.shards))]
    recover(targets[0])
    recover(json_path)
    old = _old_shards(json_path)
    moves: list[tuple[str, str]] = []
    parallel = workers is not None or client is not None
    try:
        jobs = []
        for groups, target_path in zip(plan.shards, targets):
            parts, _ = build_h5_image(groups)  # metadata only; the arrays stay where they are
            tmp = temp_sibling(target_path)
            moves.append((tmp, target_path))
            if parallel:
                jobs.append((tmp, parts))
                continue
            with open(tmp, "xb", buffering=0) as fh:
                write_parts(fh, parts)
                if fsync:
                    fsync_file(fh)
        if jobs:
            from ..parallel.files import write_files

            write_files(jobs, workers=workers, client=client, fsync=fsync,
                        where=f"saving {json_path}")
        tmp = temp_sibling(json_path)
        moves.append((tmp, json_path))
        with open(tmp, "x", encoding="utf-8", newline="") as text:
            text.write(plan.json_text())
            if fsync:
                text.flush()
                os.fsync(text.fileno())
        commit_many(moves, fsync=fsync)
    except BaseException:
        for tmp, _ in moves:
            remove_quietly(tmp)
        raise
    written = {os.path.basename(t) for t in targets}
    for stale in sorted(old - written):
        remove_quietly(os.path.join(folder, stale))
    return [*targets, json_path]


# ---------------------------------------------------------------- reading


def _plain(name: Any, where: str) -> str:
    if (
        not isinstance(name, str)
        or not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\x00" in name
    ):
        raise FormatError(
            f"{where}: weight_map names shard {name!r}; only plain file names beside the JSON "
            "are read"
        )
    return name


def _read_map(json_path: str) -> dict[str, list[str]]:
    try:
        size = os.path.getsize(json_path)
        if size > MAX_JSON_BYTES:
            raise FormatError(f"{json_path}: {size} bytes of JSON, more than {MAX_JSON_BYTES}")
        with open(json_path, "rb") as fh:
            data = fh.read(MAX_JSON_BYTES + 1)
    except FileNotFoundError:
        raise FormatError(f"{json_path}: no such file") from None
    except OSError as exc:
        raise FormatError(f"{json_path}: cannot be read ({exc})") from None
    config = load_json(data, json_path, max_bytes=MAX_JSON_BYTES)
    if not isinstance(config, dict) or not isinstance(config.get("weight_map"), dict):
        raise FormatError(f"{json_path}: expected an object with a 'weight_map' object")
    out: dict[str, list[str]] = {}
    for key, value in config["weight_map"].items():
        names = value if isinstance(value, list) else [value]
        if not names:
            raise FormatError(f"{json_path}: weight_map[{key!r}] is an empty list")
        out[key] = [_plain(n, f"{json_path}: weight_map[{key!r}]") for n in names]
    return out


class _Shards:
    """The shard files of one load, opened on first use and closed together."""

    def __init__(self, stack: ExitStack, folder: str, lazy: bool) -> None:
        self.stack, self.folder, self.lazy = stack, folder, lazy
        self.open: dict[str, tuple[Any, Any, int, FileSource | None]] = {}

    def get(self, name: str) -> tuple[Any, Any, int, FileSource | None]:
        found = self.open.get(name)
        if found is None:
            path = os.path.join(self.folder, name)
            try:
                fh = self.stack.enter_context(open(path, "rb"))
            except FileNotFoundError:
                raise FormatError(f"{path}: shard listed in the weight map is missing") from None
            except OSError as exc:
                raise FormatError(f"{path}: cannot be opened ({exc})") from None
            size = os.fstat(fh.fileno()).st_size
            source = _source(path, fh) if self.lazy else None
            f, window = self.stack.enter_context(open_h5(fh, path))
            found = self.open[name] = (f, window, max(_MAX_EXPANSION * size, 1 << 20), source)
        return found


def load_sharded(model: Model, filepath: Any, *, lazy: bool = True, **ignored: Any) -> None:
    """Read Keras 3 sharded weights (``x.weights.json`` and its shards) into ``model``
    (``lazy``: contiguous datasets are read on first use)."""
    json_path = os.fspath(filepath)
    if Path(json_path).suffix != ".json":
        json_path = str(Path(json_path).with_suffix(".json"))
    with reading(json_path):
        recover(os.path.join(os.path.dirname(os.path.abspath(json_path)),
                             shard_name(json_path, 0)))
        recover(json_path)
        weight_map = _read_map(json_path)
        folder = os.path.dirname(os.path.abspath(json_path))
        with ExitStack() as stack:
            shards = _Shards(stack, folder, lazy)

            def fetch(vars_path: str) -> list[Any] | None:
                path = vars_path[: -len("vars")].rstrip("/")
                names = weight_map.get(f"/{vars_path}") or weight_map.get(path or "/vars")
                if names is None:
                    return None
                found: dict[str, Any] = {}
                for name in names:
                    f, window, limit, source = shards.get(name)
                    where = os.path.join(folder, name)
                    part = vars_datasets(f, vars_path, limit, where, window, source)
                    for key, value in (part or {}).items():
                        if key in found:
                            raise FormatError(
                                f"{json_path}: /{vars_path}/{key} is in more than one shard "
                                f"({names})"
                            )
                        found[key] = value
                return numbered(found, f"/{vars_path}", json_path)

            assign_tree(model, fetch, json_path, model.source_dialect)


# ---------------------------------------------------------------- verifying

_MAX_DEPTH = 64  # HDF5 allows hard-link cycles; a Keras tree is a few levels deep
_MAX_NODES = 1_000_000
NOTE_WEIGHTS_ONLY = ("note: sharded weights hold no model config; the datasets' shapes cannot be "
                     "checked against layer configs")


class _Info:
    """Shape and dtype of one stored dataset (what :func:`keras_size` needs)."""

    def __init__(self, shape: tuple[int, ...], dtype: Any) -> None:
        self.shape, self.dtype = shape, dtype


def _group_of(key: Any) -> str | None:
    """The ``vars`` group Keras reads for a weight-map key: ``/<path>/vars`` or ``/vars`` (what
    Keras writes) or ``<path>`` without a leading slash (what Keras also looks up)."""
    if not isinstance(key, str) or not key or "\x00" in key:
        return None
    if key == "/vars":
        return "vars"
    if key.startswith("/"):
        return key[1:] if key.endswith("/vars") and "//" not in key else None
    return f"{key.rstrip('/')}/vars" if "//" not in key else None


def _verify_json(json_path: str, report: Report
                 ) -> tuple[dict[str, tuple[str, list[str]]], float | None] | None:
    """The weight map (key → (group, shard names)) and ``total_size``; problems reported."""
    try:
        size = os.path.getsize(json_path)
        if size > MAX_JSON_BYTES:
            report.add(json_path, "", f"{size} bytes of JSON, more than the {MAX_JSON_BYTES} "
                       "accepted; refused")
            return None
        with open(json_path, "rb") as fh:
            data = fh.read(MAX_JSON_BYTES + 1)
    except OSError as exc:
        report.add(json_path, "", f"cannot be read ({exc.strerror or exc})")
        return None
    try:
        doc = load_json(data, json_path, max_bytes=MAX_JSON_BYTES)
    except FormatError as exc:
        report.add(json_path, "", str(exc))
        return None
    if not isinstance(doc, dict):
        report.add(json_path, "", f"a JSON {type(doc).__name__}, expected an object with "
                   "'metadata' and 'weight_map'")
        return None
    total: float | None = None
    meta = doc.get("metadata")
    if not isinstance(meta, dict):
        report.add(json_path, "metadata", "missing" if meta is None else
                   f"is {type(meta).__name__}, expected an object with 'total_size'")
    else:
        value = meta.get("total_size")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            math.isfinite(value) and value >= 0
        ):
            report.add(json_path, "metadata.total_size",
                       f"{value!r}, expected a number of bytes (Keras writes a float)")
        else:
            total = float(value)
    raw = doc.get("weight_map")
    if not isinstance(raw, dict):
        report.add(json_path, "weight_map", "missing" if raw is None else
                   f"is {type(raw).__name__}, expected an object")
        return None
    out: dict[str, tuple[str, list[str]]] = {}
    groups: dict[str, str] = {}
    for key, value in raw.items():
        where = f"weight_map[{key!r}]"
        report.count("weight map entries")
        group = _group_of(key)
        if group is None:
            report.add(json_path, where, "Keras looks groups up as '/<path>/vars' or '<path>'; "
                       "this key is neither")
            continue
        if group in groups:
            report.add(json_path, where, f"names the same group as weight_map[{groups[group]!r}]")
            continue
        groups[group] = key
        names = value if isinstance(value, list) else [value]
        if not names:
            report.add(json_path, where, "an empty list of shards")
            continue
        try:
            plain = [_plain(n, json_path) for n in names]
        except FormatError as exc:
            report.add(json_path, where, str(exc))
            continue
        if len(set(plain)) != len(plain):
            report.add(json_path, where, f"lists a shard twice: {plain}")
        out[key] = (group, list(dict.fromkeys(plain)))
    return out, total


def _verify_shard(path: str, report: Report) -> dict[str, dict[str, _Info]] | None:
    """``{vars group: {dataset: info}}`` of one shard, every problem reported; None when the shard
    cannot be read at all."""
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        report.add(path, "", "shard listed in the weight map is missing")
        return None
    except OSError as exc:
        report.add(path, "", f"cannot be opened ({exc.strerror or exc})")
        return None
    found: dict[str, dict[str, _Info]] = {}
    with fh:
        size = os.fstat(fh.fileno()).st_size
        limit = max(_MAX_EXPANSION * size, 1 << 20)
        try:
            opened = open_h5(fh, path)
            f, window = opened.__enter__()
        except FormatError as exc:
            report.add(path, "", str(exc))
            return None
        source = _source(path, fh)
        try:
            with report.guard(path, "", "damaged HDF5 structure"):
                _walk(f, "", path, report, found, limit, window, source, [0])
        finally:
            if source is not None:
                source.close()
            opened.__exit__(None, None, None)
    report.count("shards")
    return found


def _walk(group: Any, prefix: str, path: str, report: Report,
          found: dict[str, dict[str, _Info]], limit: int, window: Any, source: Any,
          nodes: list[int]) -> None:
    """Every object under ``group`` (hard links only): datasets must sit in ``vars`` groups and
    be numeric variables that lie inside the file (:func:`.reader._read_dataset`)."""
    if prefix.count("/") >= _MAX_DEPTH:
        report.add(path, f"/{prefix}", f"nested more than {_MAX_DEPTH} levels; not a Keras tree")
        return
    in_vars = prefix.rsplit("/", 1)[-1] == "vars"
    for name in sorted(group.keys()):
        nodes[0] += 1
        if nodes[0] > _MAX_NODES:
            report.add(path, "", f"more than {_MAX_NODES} objects; not a Keras weights tree")
            return
        key = f"{prefix}/{name}" if prefix else name
        try:
            child = _hard_child(group, name, path)
        except FormatError as exc:
            report.add(path, f"/{key}", str(exc).replace(f"{path}: /{key} ", ""))
            continue
        if isinstance(child, h5py.Group):
            _walk(child, key, path, report, found, limit, window, source, nodes)
            continue
        if not in_vars:
            report.add(path, f"/{key}", "a dataset outside a 'vars' group; not part of a Keras "
                       "weights tree (Keras reads none of it)")
            continue
        try:
            value = _read_dataset(child, limit, path, window, source)
        except FormatError as exc:
            report.add(path, f"/{key}", str(exc).replace(f"{path}: /{key}", "").lstrip(": "))
            continue
        found.setdefault(prefix, {})[name] = _Info(
            tuple(int(d) for d in value.shape), np.dtype(value.dtype))
        report.count("weights")


def _cross_check(json_path: str, folder: str, weight_map: dict[str, tuple[str, list[str]]],
                 shards: dict[str, dict[str, dict[str, _Info]] | None], report: Report) -> None:
    """Each mapped group is in the shards the map names, each dataset once, keys ``0…n-1``;
    each stored group is mapped, and to the shard it lies in."""
    by_group = {group: (key, names) for key, (group, names) in weight_map.items()}
    for key, (group, names) in weight_map.items():
        seen: dict[str, str] = {}
        complete = True
        for name in names:
            tree = shards.get(name)
            if tree is None:
                complete = False
                continue
            held = tree.get(group)
            if not held:
                report.add(json_path, f"weight_map[{key!r}]",
                           f"names {name}, which holds no dataset of /{group}")
                continue
            for ds in held:
                if ds in seen:
                    report.add(json_path, f"/{group}/{ds}",
                               f"stored in more than one shard ({seen[ds]}, {name})")
                else:
                    seen[ds] = name
        n = len(seen)
        if complete and seen and sorted(seen) != sorted(str(i) for i in range(n)):
            report.add(json_path, f"/{group}", f"the shards hold datasets {sorted(seen)[:10]}, "
                       f"expected '0'…'{n - 1}'")
    for name, tree in shards.items():
        if tree is None:
            continue
        spath = os.path.join(folder, name)
        for group, held in tree.items():
            listed = by_group.get(group)
            if listed is None:
                report.add(spath, f"/{group}", f"{len(held)} dataset(s) the weight map does not "
                           "list; loading will not find them")
            elif name not in listed[1]:
                for ds in held:
                    report.add(spath, f"/{group}/{ds}",
                               f"stored in {name}, but weight_map[{listed[0]!r}] names "
                               f"{listed[1]}; loading will not find it")


def verify_sharded(path: str | os.PathLike[str], report: Report) -> None:
    """Check Keras 3 sharded weights: the JSON (structure, ``total_size``), every listed shard
    (exists, an HDF5 ``.weights.h5`` tree of numeric datasets inside the file), and the map
    against the shards (each dataset in the shard the map names, none twice, keys ``0…n-1``,
    nothing unlisted); shards beside the JSON that it does not list are a note."""
    from .verify import NOTE_H5

    json_path = os.fspath(path)
    parsed = _verify_json(json_path, report)
    if parsed is None:
        return
    weight_map, total = parsed
    folder = os.path.dirname(json_path)  # shard paths reported as the user named the JSON
    shards: dict[str, dict[str, dict[str, _Info]] | None] = {}
    before = len(report.problems)
    for _group, names in weight_map.values():
        for name in names:
            if name not in shards:
                shards[name] = _verify_shard(os.path.join(folder, name), report)
    readable = len(report.problems) == before  # else total_size cannot be judged
    _cross_check(json_path, folder, weight_map, shards, report)
    if total is not None and readable:
        unique: dict[tuple[str, str], _Info] = {}
        for tree in shards.values():
            for group, held in (tree or {}).items():
                for key, info in held.items():
                    unique.setdefault((group, key), info)
        counted = sum((keras_size(i) for i in unique.values()), 0.0)
        if counted != total:
            report.add(json_path, "metadata.total_size",
                       f"{total!r}, but the shards' datasets add up to {counted!r} bytes "
                       "(Keras counts prod(shape) * dtype bits / 8)")
    base = Path(json_path).stem.replace(".weights", "")
    pattern = re.compile(re.escape(base) + r"_\d{5}\.weights\.h5")
    with suppress(OSError):
        for entry in sorted(os.listdir(folder or os.curdir)):
            if pattern.fullmatch(entry) and entry not in shards:
                report.note(f"note: {os.path.join(folder, entry)}: a shard file beside the JSON "
                            "that its weight map does not list (left by an earlier save?); not "
                            "read")
    report.note(NOTE_WEIGHTS_ONLY)
    report.note(NOTE_H5)
