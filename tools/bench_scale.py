"""Scale benchmark (issue 14): an 8.5 GiB float32 model written by one process, by a local Dask
cluster of 2 workers and by a local pool of 2 processes, against the raw disk write of the same
bytes; peak memory of driver and workers; index/merge time against tensor count; lazy loads.

    python tools/bench_scale.py                  # 8.5 GiB, every case (~25 min on 2 cores)
    python tools/bench_scale.py --quick          # 0.5 GiB smoke run
    python tools/bench_scale.py --gb 2 --only raw,a_ckpt,b_dask --json out.json

**Model.** ``pk.Sequential`` of ``n`` ``Dense(8192)`` on 8192 inputs (256 MiB kernels; ``n`` from
``--gb``: 34 layers = 8.50 GiB). Each kernel is a :class:`SynthRows`, a picklable lazy array
of a few bytes whose rows ``i`` are ``i / 1000 + seed + (j % 251) / 256`` computed on demand
(one slab at a time, never the whole model; deterministic, so the files can be checked); biases
are zeros in memory. For the Dask cases the kernel is ``da.from_array(SynthRows, chunks=(2048,
8192))`` (64 MiB chunks, ``--chunk-mib``); a non-ndarray source, since ``da.from_array`` of an
``np.memmap`` holds a private copy (helper-23's finding, ``bench_h5_lazy.py``).

**Cases** (each in a fresh subprocess, after an untimed ``os.sync()``; outputs deleted between
cases, at most two copies on disk at once):

* ``gen``: only generating the bytes (8 MiB slabs, ``CHUNK_BYTES``); ``disk``: writing one
  8 MiB buffer again and again (no generation); ``raw``: generating and writing the same bytes in
  the same 8 MiB slabs to one file (no fsync, like our writers); ``raw_end``: ``raw`` again after
  the write cases (page-cache writeback makes single runs noisy): the faster of the two is the
  baseline of the ratios.
* ``a_ckpt``: one process, ``model.save_weights(prefix)`` (``BundleWriter`` streaming);
  ``a_sm``: one process, ``model.save(savedmodel_dir)``.
* ``b_dask``: ``distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True)``,
  ``model.save_weights(prefix, client=client)`` with Dask-array kernels; ``b_plain``: the same
  cluster with the plain :class:`SynthRows` kernels (the writer cuts them in 64 MiB blocks).
* ``c_pool``: ``model.save_weights(prefix, workers=2)`` (a local spawn process pool).
* ``load_ckpt`` / ``load_sm`` / ``load_h5`` / ``load_keras`` / ``load_keras_nocrc``: a fresh
  model's ``load_weights(prefix)`` or ``pk.models.load_model(path)`` of the files that
  ``a_ckpt`` / ``a_sm`` / ``w_h5`` / ``w_keras`` wrote (``.keras`` with and without
  ``verify_crc``), with the files' pages first dropped from the page cache
  (``posix_fadvise(DONTNEED)`` after ``os.sync()``) so that ``read_bytes`` counts real reads;
  then one kernel is asked for (``np.asarray``) to show what a first use reads.
* ``index``: 1k / 10k / 100k tensors of 64 float32: ``BundleWriter`` adds and ``finish`` (the
  index), ``tensorbundle.merge.merge`` of 2 per-worker bundles of half the tensors each, and
  ``parallel.write(workers=2)`` of lazy tensors with its driver-side steps timed (plan, worker
  tasks, index entries).

**Memory.** Driver: ``RssAnon`` (private memory) sampled every 5 ms in a thread and ``VmHWM``,
both minus the value measured after the imports (and, for ``b_*``, after the cluster started)
and before the model is built. Workers: ``/proc/<pid>/status`` of the Dask workers (pids from
``client.run(os.getpid)``) or of the pool processes (children of the driver) sampled from the
driver; a worker's baseline is its ``RssAnon`` after importing what a task imports (Dask: after
a warm-up ``client.run``; pool: a spawned process doing the same imports). "largest chunk" is
the largest array :class:`SynthRows` handed out in that process (recorded per pid in files).
Bytes read: ``/proc/self/io`` ``read_bytes`` (from the disk) and ``rchar`` (``read`` calls,
page cache included; mapped pages touched show as ``RssFile`` growth instead).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

WIDTH = 8192
CHUNK_BYTES = 8 << 20  # purekeras_io.tensorbundle.writer.CHUNK_BYTES (the writers' write unit)
MiB = 1 << 20
SLAB_DIR_ENV = "BENCH_SCALE_SLABS"
GEN_CASES = ["gen", "disk", "raw", "raw_end"]
WRITE_CASES = ["a_ckpt", "a_sm", "b_dask", "b_plain", "c_pool", "w_h5", "w_keras"]
LOAD_CASES = ["load_ckpt", "load_sm", "load_h5", "load_keras", "load_keras_nocrc"]
ALL_CASES = ["gen", "disk", "raw", "a_ckpt", "load_ckpt", "a_sm", "load_sm", "b_dask", "b_plain",
             "c_pool", "w_h5", "load_h5", "w_keras", "load_keras", "load_keras_nocrc", "raw_end",
             "index"]

# ------------------------------------------------------------------ the synthetic lazy array

_largest = 0


def _record(nbytes: int) -> None:
    """Remember the largest slab this process handed out (a file per pid, read by the driver)."""
    global _largest
    if nbytes <= _largest:
        return
    _largest = nbytes
    folder = os.environ.get(SLAB_DIR_ENV)
    if folder:
        with contextlib.suppress(OSError), open(os.path.join(folder, str(os.getpid())), "w") as fh:
            fh.write(str(nbytes))


class SynthRows:
    """A 2-D float32 array whose row ``i`` is ``i / 1000 + seed + (j % 251) / 256``, made on
    demand: ``x[a:b]`` (and ``x[a:b, cols]``) computes only rows ``a:b``. Pickles to its shape
    and seed."""

    def __init__(self, shape: tuple[int, int], seed: int) -> None:
        self.shape = (int(shape[0]), int(shape[1]))
        self.dtype = np.dtype(np.float32)
        self.ndim = 2
        self.seed = int(seed)

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"SynthRows({self.shape}, seed={self.seed})"

    def __dask_tokenize__(self) -> tuple[Any, ...]:
        return ("SynthRows", self.shape, self.seed)

    def rows(self, start: int, stop: int) -> np.ndarray:
        base = (np.arange(self.shape[1]) % 251).astype(np.float32) / np.float32(256)
        row = np.arange(start, stop).astype(np.float32) / np.float32(1000) + np.float32(self.seed)
        out = np.empty((max(0, stop - start), self.shape[1]), np.float32)
        np.add(row[:, None], base[None, :], out=out)
        _record(out.nbytes)
        return out

    def __getitem__(self, key: Any) -> np.ndarray:
        keys = key if isinstance(key, tuple) else (key,)
        first = keys[0] if keys else slice(None)
        if isinstance(first, (int, np.integer)):
            i = int(first) + (self.shape[0] if first < 0 else 0)
            if not 0 <= i < self.shape[0]:
                raise IndexError(f"row {first} out of range for {self!r}")
            return self.rows(i, i + 1)[(0, *keys[1:])]
        if not isinstance(first, slice):
            raise TypeError(f"{self!r}: rows must be an int or a slice, got {first!r}")
        start, stop, step = first.indices(self.shape[0])
        stop = max(start, stop)
        block = self.rows(start, stop) if step == 1 else self.rows(0, self.shape[0])[first]
        return block[(slice(None), *keys[1:])] if len(keys) > 1 else block

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        out = self.rows(0, self.shape[0])
        return out if dtype is None else out.astype(dtype, copy=False)


def layer_count(gib: float) -> int:
    return max(1, round(gib * 2**30 / ((WIDTH * WIDTH + WIDTH) * 4)))


def total_bytes(n: int) -> int:
    return n * (WIDTH * WIDTH + WIDTH) * 4


def kernels(n: int) -> list[SynthRows]:
    return [SynthRows((WIDTH, WIDTH), seed=i) for i in range(n)]


def build_model(n: int, source: str = "plain", chunk_rows: int = 2048,
                weights: bool = True) -> Any:
    """The Sequential of ``n`` Dense(8192); ``weights``: assign the lazy kernels (else the
    deferred initial values stay undrawn, for loading into)."""
    import purekeras_io as pk
    from purekeras_io import layers

    model = pk.Sequential(
        [layers.Input((WIDTH,), name="inp")]
        + [layers.Dense(WIDTH, name=f"d{i}") for i in range(n)],
        name="scale",
    )
    if not weights:
        return model
    ks = kernels(n)
    for i, var in enumerate(model.weights):
        if i % 2:
            var.assign(np.zeros(WIDTH, np.float32))
            continue
        kernel: Any = ks[i // 2]
        if source == "dask":
            import dask.array as da

            kernel = da.from_array(kernel, chunks=(chunk_rows, WIDTH), name=f"synth-{i // 2}",
                                   meta=np.empty((0, 0), np.float32))
        var.assign(kernel)
    return model


# ------------------------------------------------------------------ memory sampling


def _status(pid: int | str = "self") -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
                    out[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return out


def _io() -> dict[str, int]:
    with open("/proc/self/io") as fh:
        return {k: int(v) for k, _, v in (line.partition(": ") for line in fh)}


def _children(pid: int) -> list[int]:
    """Descendants of ``pid`` (via ``/proc/<pid>/task/*/children``)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as fh:
                    kids = [int(x) for x in fh.read().split()]
                found += kids
                todo += kids
    return found


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def pool_workers() -> list[int]:
    """The driver's spawned pool processes (not the resource tracker, not Dask's)."""
    return [p for p in _children(os.getpid())
            if "spawn_main" in _cmdline(p) and "resource_tracker" not in _cmdline(p)]


class Sampler:
    """Peak ``RssAnon`` / ``VmRSS`` and the last ``VmHWM`` of this process and of the pids that
    ``pids()`` gives, every ``interval`` seconds in a thread."""

    def __init__(self, pids: Callable[[], list[int]] | None = None,
                 interval: float = 0.005) -> None:
        self.pids = pids
        self.interval = interval
        self.peak: dict[str, dict[str, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        targets: list[int | str] = ["self"]
        if self.pids is not None:
            with contextlib.suppress(Exception):
                targets += self.pids()
        for pid in targets:
            st = _status(pid)
            if not st:
                continue
            slot = self.peak.setdefault(str(pid), {"RssAnon": 0, "VmRSS": 0, "VmHWM": 0})
            slot["RssAnon"] = max(slot["RssAnon"], st.get("RssAnon", 0))
            slot["VmRSS"] = max(slot["VmRSS"], st.get("VmRSS", 0))
            slot["VmHWM"] = max(slot["VmHWM"], st.get("VmHWM", 0))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(self.interval)

    def stop(self) -> dict[str, dict[str, int]]:
        self._stop.set()
        self._thread.join()
        self._sample()
        return self.peak


def _mib(n: float) -> float:
    return round(n / MiB, 1)


def _slabs(folder: str) -> dict[int, int]:
    out = {}
    for name in os.listdir(folder):
        with open(os.path.join(folder, name)) as fh:
            out[int(name)] = int(fh.read() or 0)
    return out


# ------------------------------------------------------------------ files


def _paths(out: str) -> dict[str, str]:
    return {
        "raw": os.path.join(out, "raw.bin"),
        "ckpt": os.path.join(out, "ckpt", "model"),
        "sm": os.path.join(out, "sm"),
        "par": os.path.join(out, "par", "model"),
        "h5": os.path.join(out, "model.h5"),
        "keras": os.path.join(out, "model.keras"),
    }


def _files_of(path: str) -> list[str]:
    """Every file of a written output (a prefix's siblings, a folder's tree, a file)."""
    if os.path.isdir(path):
        return [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs]
    folder, base = os.path.split(path)
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(folder):
        return []
    return [os.path.join(folder, f) for f in os.listdir(folder) if f.startswith(base)]


def _size_of(path: str) -> int:
    return sum(os.path.getsize(f) for f in _files_of(path))


def drop_cache(path: str) -> None:
    """Evict the pages of ``path``'s files from the page cache (after flushing them)."""
    os.sync()
    for name in _files_of(path):
        fd = os.open(name, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def remove(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        for name in _files_of(path):
            with contextlib.suppress(OSError):
                os.remove(name)
        folder = os.path.dirname(path)
        with contextlib.suppress(OSError):
            if os.path.basename(folder) in ("ckpt", "par") and not os.listdir(folder):
                os.rmdir(folder)


# ------------------------------------------------------------------ cases (in the child)


def _gen_case(case: str, n: int, paths: dict[str, str]) -> dict[str, Any]:
    rows = CHUNK_BYTES // (WIDTH * 4)
    bias = np.zeros(WIDTH, np.float32)
    base = _status()
    sampler = Sampler()
    t0 = time.perf_counter()
    written = 0
    if case == "disk":
        buf = SynthRows((rows, WIDTH), 0).rows(0, rows)
        with open(paths["raw"], "wb") as out:
            for _ in range(n * WIDTH // rows):
                out.write(buf.data)
                written += buf.nbytes
            for _ in range(n):
                out.write(bias.data)
                written += bias.nbytes
    else:
        with contextlib.ExitStack() as stack:
            fh: Any = stack.enter_context(open(paths["raw"], "wb")) if case != "gen" else None
            for k in kernels(n):
                for r in range(0, WIDTH, rows):
                    slab = k.rows(r, r + rows)
                    if fh is not None:
                        fh.write(slab.data)
                    written += slab.nbytes
                if fh is not None:
                    fh.write(bias.data)
                written += bias.nbytes
    seconds = time.perf_counter() - t0
    peak = sampler.stop()["self"]
    return {"bytes": written, "seconds": seconds, **_driver_mem(base, peak)}


def _driver_mem(base: dict[str, int], peak: dict[str, int]) -> dict[str, Any]:
    return {
        "driver_base_anon_MiB": _mib(base["RssAnon"]),
        "driver_anon_MiB": _mib(peak["RssAnon"] - base["RssAnon"]),
        "driver_hwm_MiB": _mib(max(peak["VmHWM"], _status()["VmHWM"]) - base["VmRSS"]),
    }


def _warm_worker() -> int:
    """Run on each Dask worker before measuring: the imports a task needs; its RssAnon."""
    import dask.array  # noqa: F401

    import purekeras_io.parallel.tasks
    import purekeras_io.tensorbundle.writer  # noqa: F401

    return _status()["RssAnon"]


def _spawn_baseline() -> int:
    """RssAnon of a spawned process after the imports a pool task needs."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_baseline_child, args=(queue,))
    proc.start()
    value = int(queue.get(timeout=120))
    proc.join()
    return value


def _baseline_child(queue: Any) -> None:
    import purekeras_io.parallel.tasks
    import purekeras_io.tensorbundle.writer  # noqa: F401

    queue.put(_status()["RssAnon"])


def _verify(n: int, prefix: str) -> dict[str, Any]:
    """Untimed: a fresh model loads the checkpoint lazily; every kernel (CRC-checked, sliced
    entries assembled) equals the generator's."""
    model = build_model(n, weights=False)
    model.load_weights(prefix)
    t0 = time.perf_counter()
    bad = []
    ks = kernels(n)
    for i, var in enumerate(model.weights):
        got = np.asarray(var.array_like())
        want = ks[i // 2].rows(0, WIDTH) if i % 2 == 0 else np.zeros(WIDTH, np.float32)
        if not np.array_equal(got, want):
            bad.append(var.path)
        del got, want
    return {"verified": not bad, "mismatched": bad[:5],
            "verify_seconds": round(time.perf_counter() - t0, 1)}


def _shards(prefix: str) -> list[str]:
    folder, base = os.path.split(prefix)
    return sorted(f for f in os.listdir(folder) if f.startswith(base + ".data-"))


def _write_case(case: str, n: int, paths: dict[str, str], chunk_rows: int,
                slab_dir: str) -> dict[str, Any]:
    import purekeras_io
    import purekeras_io.parallel  # noqa: F401

    extra: dict[str, Any] = {}
    cluster = client = None
    worker_pids: dict[str, int] = {}
    worker_base: dict[int, int] = {}
    pids: Callable[[], list[int]] | None = None
    if case.startswith("b_"):
        import dask.array  # noqa: F401
        import distributed

        before = _status()["RssAnon"]
        t = time.perf_counter()
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None, silence_logs=40,
                                           env={SLAB_DIR_ENV: slab_dir})
        client = distributed.Client(cluster)
        extra["cluster_start_s"] = round(time.perf_counter() - t, 2)
        worker_pids = dict(sorted(client.run(os.getpid).items()))
        worker_base = {worker_pids[a]: v for a, v in client.run(_warm_worker).items()}
        extra["cluster_driver_anon_MiB"] = _mib(_status()["RssAnon"] - before)
        pid_list = list(worker_pids.values())

        def pids() -> list[int]:
            return pid_list
    elif case == "c_pool":
        base_pool = _spawn_baseline()
        pids = pool_workers
    base = _status()
    sampler = Sampler(pids)
    t0 = time.perf_counter()
    if case in ("a_ckpt", "a_sm", "w_h5", "w_keras"):
        model = build_model(n)
        if case == "a_ckpt":
            model.save_weights(paths["ckpt"])
        else:
            model.save(paths[{"a_sm": "sm", "w_h5": "h5", "w_keras": "keras"}[case]])
    elif case.startswith("b_"):
        model = build_model(n, "dask" if case == "b_dask" else "plain", chunk_rows)
        model.save_weights(paths["par"], client=client)
    else:
        model = build_model(n)
        model.save_weights(paths["par"], workers=2)
    seconds = time.perf_counter() - t0
    peaks = sampler.stop()
    result: dict[str, Any] = {"seconds": seconds, **_driver_mem(base, peaks["self"]), **extra}
    out = {"a_ckpt": "ckpt", "a_sm": "sm", "w_h5": "h5", "w_keras": "keras"}.get(case, "par")
    result["bytes_on_disk"] = _size_of(paths[out])
    slabs = _slabs(slab_dir)
    if case.startswith(("b_", "c_")):
        result["shards"] = _shards(paths["par"])
        workers = []
        if case == "c_pool":
            for key, peak in sorted(peaks.items()):
                if key != "self":
                    workers.append(_worker_row(int(key), peak, base_pool, slabs))
        else:
            assert client is not None and cluster is not None
            for addr, pid in worker_pids.items():
                peak = peaks.get(str(pid), {"RssAnon": 0, "VmRSS": 0, "VmHWM": 0})
                peak["VmHWM"] = max(peak["VmHWM"], _status(pid).get("VmHWM", 0))
                workers.append({"address": addr,
                                **_worker_row(pid, peak, worker_base[pid], slabs)})
            client.close()
            cluster.close()
        result["workers"] = workers
        result.update(_verify(n, paths["par"]))
    else:
        result["largest_chunk_MiB"] = _mib(slabs.get(os.getpid(), 0))
    return result


def _worker_row(pid: int, peak: dict[str, int], base: int, slabs: dict[int, int]
                ) -> dict[str, Any]:
    return {"pid": pid, "base_anon_MiB": _mib(base),
            "anon_MiB": _mib(peak["RssAnon"] - base),
            "peak_anon_MiB": _mib(peak["RssAnon"]), "hwm_MiB": _mib(peak["VmHWM"]),
            "largest_chunk_MiB": _mib(slabs.get(pid, 0))}


def _load_case(case: str, n: int, paths: dict[str, str]) -> dict[str, Any]:
    import purekeras_io as pk

    src = {"load_ckpt": "ckpt", "load_sm": "sm", "load_h5": "h5", "load_keras": "keras",
           "load_keras_nocrc": "keras"}[case]
    if not _files_of(paths[src]):
        return {"skipped": f"no {paths[src]} (run its write case first)"}
    drop_cache(paths[src])
    base, io0 = _status(), _io()
    t0 = time.perf_counter()
    if case == "load_ckpt":
        model = build_model(n, weights=False)
        model.load_weights(paths["ckpt"])
    elif case == "load_keras_nocrc":
        model = pk.models.load_model(paths["keras"], verify_crc=False)
    else:
        model = pk.models.load_model(paths[src])
    seconds = time.perf_counter() - t0
    st, io1 = _status(), _io()
    lazy = sum(1 for v in model.weights if getattr(v, "lazy", False))
    t1 = time.perf_counter()
    first = np.asarray(model.weights[0].array_like())
    ask_s = time.perf_counter() - t1
    st2, io2 = _status(), _io()
    ok = bool(np.array_equal(first, kernels(1)[0].rows(0, WIDTH)))
    return {
        "seconds": seconds, "bytes_on_disk": _size_of(paths[src]),
        "read_bytes_MiB": _mib(io1["read_bytes"] - io0["read_bytes"]),
        "rchar_MiB": _mib(io1["rchar"] - io0["rchar"]),
        "anon_growth_MiB": _mib(st["RssAnon"] - base["RssAnon"]),
        "file_rss_growth_MiB": _mib(st["RssFile"] - base["RssFile"]),
        "lazy_weights": f"{lazy}/{len(model.weights)}",
        "ask_kernel_s": round(ask_s, 3),
        "ask_read_bytes_MiB": _mib(io2["read_bytes"] - io1["read_bytes"]),
        "ask_rchar_MiB": _mib(io2["rchar"] - io1["rchar"]),
        "ask_rss_growth_MiB": _mib(st2["VmRSS"] - st["VmRSS"]),
        "first_kernel_equal": ok,
    }


@contextlib.contextmanager
def _timed_attr(owner: Any, name: str, into: dict[str, float], label: str) -> Iterator[None]:
    """Time every call of ``owner.name`` (added up in ``into[label]``) while the block runs."""
    original = getattr(owner, name, None)
    if original is None:
        yield
        return

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            into[label] = into.get(label, 0.0) + time.perf_counter() - t

    setattr(owner, name, wrapper)
    try:
        yield
    finally:
        setattr(owner, name, original)


def _index_case(out: str, counts: list[int]) -> dict[str, Any]:
    from purekeras_io import parallel
    from purekeras_io.parallel import executors
    from purekeras_io.parallel import writer as pwriter
    from purekeras_io.tensorbundle import merge
    from purekeras_io.tensorbundle import writer as tbwriter

    rows = []
    folder = os.path.join(out, "index")
    for count in counts:
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        tensors = {f"model/layer_{i:06d}/kernel/.ATTRIBUTES/VARIABLE_VALUE":
                   np.full(64, i, np.float32) for i in range(count)}
        keys = list(tensors)
        row: dict[str, Any] = {"tensors": count}
        one = os.path.join(folder, "one")
        t = time.perf_counter()
        w = tbwriter.BundleWriter(one)
        for key in keys:
            w.add(key, tensors[key])
        row["bundle_add_s"] = time.perf_counter() - t
        t = time.perf_counter()
        w.finish()
        row["bundle_finish_s"] = time.perf_counter() - t
        row["index_KiB"] = round(os.path.getsize(one + ".index") / 1024, 1)
        parts = [os.path.join(folder, f"w{i}") for i in range(2)]
        for i, part in enumerate(parts):
            tbwriter.write(part, {k: tensors[k] for k in keys[i::2]})
        t = time.perf_counter()
        merge(parts, os.path.join(folder, "merged"))
        row["merge_s"] = time.perf_counter() - t
        lazy = {k: SynthRows((1, 64), i) for i, k in enumerate(keys)}
        phases: dict[str, float] = {}
        with contextlib.ExitStack() as stack:
            stack.enter_context(_timed_attr(pwriter, "plan_layout", phases, "plan_s"))
            stack.enter_context(_timed_attr(pwriter.ParallelBundleWriter, "_tasks", phases,
                                            "tasks_s"))
            stack.enter_context(_timed_attr(executors._LocalPool, "run", phases, "workers_s"))
            stack.enter_context(_timed_attr(executors._LocalPool, "__init__", phases,
                                            "pool_start_s"))
            stack.enter_context(_timed_attr(pwriter.ParallelBundleWriter, "_entries", phases,
                                            "entries_s"))
            stack.enter_context(_timed_attr(pwriter, "commit_many", phases, "commit_s"))
            stack.enter_context(_timed_attr(executors._LocalPool, "close", phases,
                                            "pool_close_s"))
            t = time.perf_counter()
            parallel.write(os.path.join(folder, "par"), lazy, workers=2)
            row["parallel_s"] = time.perf_counter() - t
        row.update({f"parallel_{k}": v for k, v in phases.items()})
        known = sum(v for k, v in phases.items() if k != "tasks_s")
        row["parallel_rest_s"] = row["parallel_s"] - known  # index SSTable, files, dispatch
        rows.append({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
    shutil.rmtree(folder, ignore_errors=True)
    return {"index": rows}


def child(case: str, n: int, out: str, chunk_rows: int, counts: list[int]) -> dict[str, Any]:
    paths = _paths(out)
    slab_dir = tempfile.mkdtemp(prefix="slabs-", dir=out)
    os.environ[SLAB_DIR_ENV] = slab_dir
    try:
        if case in GEN_CASES:
            result = _gen_case(case, n, paths)
        elif case in WRITE_CASES:
            result = _write_case(case, n, paths, chunk_rows, slab_dir)
        elif case in LOAD_CASES:
            result = _load_case(case, n, paths)
        elif case == "index":
            result = _index_case(out, counts)
        else:
            raise SystemExit(f"unknown case {case!r}")
    finally:
        shutil.rmtree(slab_dir, ignore_errors=True)
    return {"case": case, **result}


# ------------------------------------------------------------------ driver


def _run_child(case: str, args: argparse.Namespace, n: int) -> dict[str, Any]:
    os.sync()
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ)
    env["PYTHONPATH"] = here + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-c",
           "import sys, bench_scale; bench_scale.main(sys.argv[1:])",
           "--child", case, "--n", str(n), "--out", args.out,
           "--chunk-mib", str(args.chunk_mib), "--counts", args.counts]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = run.stdout.strip().splitlines()
    if run.returncode or not lines:
        return {"case": case, "failed": (run.stderr.strip() or run.stdout.strip())[-1500:]}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _cleanup_after(case: str, paths: dict[str, str], wanted: list[str]) -> None:
    """Delete outputs no later case needs (at most two 8 GiB copies exist at once)."""
    later = wanted[wanted.index(case) + 1:]
    needs = {"ckpt": ["load_ckpt"], "sm": ["load_sm"], "h5": ["load_h5"],
             "keras": ["load_keras", "load_keras_nocrc"]}
    if case in GEN_CASES:
        remove(paths["raw"])
    if case.startswith(("b_", "c_")):
        remove(paths["par"])
    for key, users in needs.items():
        if not any(u in later for u in users):
            remove(paths[key])


def _gbs(row: dict[str, Any]) -> float | None:
    size = row.get("bytes") or row.get("bytes_on_disk")
    if not size or not row.get("seconds"):
        return None
    return float(size) / row["seconds"] / 1e9


def _short(text: Any) -> str:
    """The last line of an error (the exception), for a table cell."""
    lines = str(text).strip().splitlines()
    return (lines[-1] if lines else "").replace("|", "/")[:160]


def table(results: list[dict[str, Any]], total: int) -> str:
    raws = [r for r in results if r.get("case") in ("raw", "raw_end") and "seconds" in r]
    raw = min(raws, key=lambda r: float(r["seconds"])) if raws else None
    lines = [
        f"Model: {total / 2**30:.2f} GiB of float32 ({total:,} bytes).",
        "",
        "| case | s | GB/s | x raw time | driver Δanon MiB | driver ΔHWM MiB | "
        "workers: Δanon MiB (largest chunk MiB) | notes |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in results:
        case = r["case"]
        if case == "index" or case.startswith("load_"):
            continue
        if "failed" in r or "skipped" in r:
            lines.append(f"| {case} | - | - | - | - | - | - | "
                         f"{_short(r.get('failed') or r.get('skipped', ''))} |")
            continue
        gbs = _gbs(r)
        ratio = f"{r['seconds'] / raw['seconds']:.2f}" if raw else "-"
        workers = "; ".join(f"{w['anon_MiB']} ({w['largest_chunk_MiB']})"
                            for w in r.get("workers", [])) or (
            f"- ({r['largest_chunk_MiB']})" if "largest_chunk_MiB" in r else "-")
        notes = []
        if "cluster_start_s" in r:
            notes.append(f"cluster start {r['cluster_start_s']} s, +{r['cluster_driver_anon_MiB']}"
                         " MiB in the driver (not in Δ)")
        if "shards" in r:
            notes.append(f"{len(r['shards'])} data files")
        if "verified" in r:
            notes.append("read back equal" if r["verified"] else
                         f"MISMATCH {r['mismatched']}")
        lines.append(
            f"| {case} | {r['seconds']:.1f} | {gbs:.2f} | {ratio} | {r['driver_anon_MiB']} | "
            f"{r['driver_hwm_MiB']} | {workers} | {'; '.join(notes)} |"
        )
    loads = [r for r in results if r["case"].startswith("load_")]
    if loads:
        lines += [
            "",
            "| load | s | read_bytes MiB | rchar MiB | anon +MiB | mapped +MiB | lazy weights |"
            " first kernel: s, read_bytes MiB |",
            "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
        ]
        for r in loads:
            if "seconds" not in r:
                lines.append(f"| {r['case']} | {_short(r.get('failed') or r.get('skipped'))} |"
                             " | | | | | |")
                continue
            lines.append(
                f"| {r['case']} | {r['seconds']:.3f} | {r['read_bytes_MiB']} | {r['rchar_MiB']} |"
                f" {r['anon_growth_MiB']} | {r['file_rss_growth_MiB']} | {r['lazy_weights']} |"
                f" {r['ask_kernel_s']}, {r['ask_read_bytes_MiB']}"
                f"{'' if r['first_kernel_equal'] else ' (WRONG VALUES)'} |"
            )
    idx = next((r for r in results if r["case"] == "index" and "index" in r), None)
    if idx:
        lines += [
            "",
            "| tensors | BundleWriter add s | finish (index) s | index KiB | merge 2 bundles s |"
            " parallel.write(workers=2) s | of which plan / tasks / entries / pool start s |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for row in idx["index"]:
            lines.append(
                f"| {row['tensors']:,} | {row['bundle_add_s']:.3f} | {row['bundle_finish_s']:.3f}"
                f" | {row['index_KiB']} | {row['merge_s']:.3f} | {row['parallel_s']:.3f} |"
                f" {row.get('parallel_plan_s', 0):.3f} / {row.get('parallel_tasks_s', 0):.3f} /"
                f" {row.get('parallel_entries_s', 0):.3f} /"
                f" {row.get('parallel_pool_start_s', 0):.3f} |"
            )
    elif any(r["case"] == "index" for r in results):
        lines.append(f"\nindex case failed: {next(r for r in results if r['case'] == 'index')}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--gb", type=float, default=8.5, help="model size in GiB (default 8.5)")
    ap.add_argument("--quick", action="store_true", help="0.5 GiB, 1k/10k tensors")
    ap.add_argument("--out", help="work folder (default: a new temp dir under /tmp)")
    ap.add_argument("--only", help="comma-separated cases (default: all): " + ",".join(ALL_CASES))
    ap.add_argument("--chunk-mib", type=int, default=64, help="Dask chunk size (default 64)")
    ap.add_argument("--counts", default="1000,10000,100000", help="tensor counts of 'index'")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--keep", action="store_true", help="keep --out afterwards")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    chunk_rows = max(1, args.chunk_mib * MiB // (WIDTH * 4))
    if args.child:
        counts = [int(c) for c in args.counts.split(",")]
        print(json.dumps(child(args.child, args.n, args.out, chunk_rows, counts)))
        return
    if args.quick:
        args.gb = 0.5
        if args.counts == ap.get_default("counts"):
            args.counts = "1000,10000"
    made = args.out is None
    args.out = os.path.abspath(args.out or tempfile.mkdtemp(prefix="bench_scale-", dir="/tmp"))
    os.makedirs(args.out, exist_ok=True)
    n = layer_count(args.gb)
    total = total_bytes(n)
    free = shutil.disk_usage(args.out).free
    if free < 2.2 * total:
        raise SystemExit(f"{args.out}: {free / 1e9:.1f} GB free, need {2.2 * total / 1e9:.1f}")
    wanted = [c for c in ALL_CASES if not args.only or c in args.only.split(",")]
    print(f"{n} x Dense({WIDTH}) = {total / 2**30:.2f} GiB; cases {','.join(wanted)}; "
          f"out {args.out}", flush=True)
    paths = _paths(args.out)
    results = []
    try:
        for case in wanted:
            t = time.perf_counter()
            result = _run_child(case, args, n)
            result["wall_s"] = round(time.perf_counter() - t, 1)
            results.append(result)
            print(json.dumps(result), flush=True)
            _cleanup_after(case, paths, wanted)
    finally:
        if args.json:
            with open(args.json, "w") as fh:
                json.dump({"gib": total / 2**30, "layers": n, "results": results}, fh, indent=1)
        if made and not args.keep:
            shutil.rmtree(args.out, ignore_errors=True)
    print()
    print(table(results, total))


if __name__ == "__main__":
    main()
