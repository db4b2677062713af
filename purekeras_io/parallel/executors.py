"""Where tasks run: a local process pool (``workers=N``) or a Dask cluster (``client=``).

Both give the same interface: ``num_shards`` (one data shard per worker) and
``run(tasks) -> results`` for tasks ``(shard, function, args)``, in order. At most
``2 * workers`` tasks are in flight, so the driver never holds more than that many pickled
sources. On Dask, shard ``i``'s tasks are pinned to the ``i``-th worker (sorted by address;
``allow_other_workers=False``), so each worker writes exactly one data file: on a cluster
without a shared file system each host then holds its own shard, and the files are gathered
into one folder before the index is used.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import ConfigError

__all__ = ["Executor", "check_workers", "make_executor"]

Task = tuple[int, Callable[..., Any], tuple[Any, ...]]


class Executor:
    num_shards: int

    def run(self, tasks: Sequence[Task]) -> list[Any]:
        """Every task's result, in order; at most ``2 * workers`` tasks in flight at once (a
        task's arguments are small, but its result stays in the driver until collected)."""
        results: list[Any] = [None] * len(tasks)
        pending: dict[Any, int] = {}
        try:
            for i, (shard, fn, args) in enumerate(tasks):
                while len(pending) >= self._window:
                    self._collect(pending, results, first=True)
                pending[self._submit(shard, fn, args)] = i
            while pending:
                self._collect(pending, results, first=False)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
        return results

    _window = 2

    def _submit(self, shard: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        raise NotImplementedError

    def _done(self, pending: list[Any], first: bool) -> Any:
        raise NotImplementedError

    def _collect(self, pending: dict[Any, int], results: list[Any], first: bool) -> None:
        for future in self._done(list(pending), first):
            results[pending.pop(future)] = future.result()
            self._release(future)

    def _release(self, future: Any) -> None:
        """Drop what the engine keeps of a collected future."""

    def close(self) -> None:
        """Release what this executor started (nothing for a client the user passed)."""


class _LocalPool(Executor):
    def __init__(self, workers: int) -> None:
        self.num_shards = workers
        self._window = 2 * workers
        # spawn: a fresh interpreter per worker, safe whatever threads the driver runs
        self._pool = cf.ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn")
        )

    def _submit(self, shard: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        return self._pool.submit(fn, *args)

    def _done(self, pending: list[Any], first: bool) -> Any:
        return cf.wait(pending, return_when=cf.FIRST_COMPLETED if first else cf.ALL_COMPLETED)[0]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class _Dask(Executor):
    def __init__(self, client: Any, num_shards: int | None) -> None:
        self._client = client
        addresses = sorted(client.scheduler_info()["workers"])
        if not addresses:
            raise ConfigError("parallel save: the Dask client has no workers")
        self._addresses = addresses
        self._window = 2 * len(addresses)
        self.num_shards = num_shards or len(addresses)

    def _submit(self, shard: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        address = self._addresses[shard % len(self._addresses)]
        return self._client.submit(
            fn, *args, workers=[address], allow_other_workers=False, pure=False
        )

    def _done(self, pending: list[Any], first: bool) -> Any:
        from distributed import wait

        return wait(pending, return_when="FIRST_COMPLETED" if first else "ALL_COMPLETED").done

    def _release(self, future: Any) -> None:
        future.release()


def check_workers(workers: Any, client: Any, where: str) -> None:
    """``workers`` must be a positive int, or None beside a Dask ``client``."""
    if client is not None and workers is None:
        return
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ConfigError(f"{where}: workers={workers!r} must be a positive int"
                          + ("" if client is not None else " (or pass a Dask client=)"))


def make_executor(workers: int | None, client: Any, where: str) -> Executor:
    """The executor for ``workers=N`` (local processes) or ``client=`` (Dask)."""
    check_workers(workers, client, where)
    if client is not None:
        return _Dask(client, workers)
    assert workers is not None
    return _LocalPool(workers)
