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
        raise NotImplementedError

    def close(self) -> None:
        """Release what this executor started (nothing for a client the user passed)."""


class _LocalPool(Executor):
    def __init__(self, workers: int) -> None:
        self.num_shards = workers
        # spawn: a fresh interpreter per worker, safe whatever threads the driver runs
        self._pool = cf.ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn")
        )

    def run(self, tasks: Sequence[Task]) -> list[Any]:
        results: list[Any] = [None] * len(tasks)
        pending: dict[cf.Future[Any], int] = {}
        window = 2 * self.num_shards
        try:
            for i, (_, fn, args) in enumerate(tasks):
                while len(pending) >= window:
                    self._collect(pending, results, cf.FIRST_COMPLETED)
                pending[self._pool.submit(fn, *args)] = i
            while pending:
                self._collect(pending, results, cf.ALL_COMPLETED)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
        return results

    @staticmethod
    def _collect(pending: dict[cf.Future[Any], int], results: list[Any], when: str) -> None:
        done, _ = cf.wait(pending, return_when=when)
        for future in done:
            results[pending.pop(future)] = future.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class _Dask(Executor):
    def __init__(self, client: Any, num_shards: int | None) -> None:
        self._client = client
        addresses = sorted(client.scheduler_info()["workers"])
        if not addresses:
            raise ConfigError("parallel save: the Dask client has no workers")
        self._addresses = addresses
        self.num_shards = num_shards or len(addresses)

    def run(self, tasks: Sequence[Task]) -> list[Any]:
        from distributed import wait

        results: list[Any] = [None] * len(tasks)
        pending: dict[Any, int] = {}
        window = 2 * len(self._addresses)
        try:
            for i, (shard, fn, args) in enumerate(tasks):
                while len(pending) >= window:
                    self._collect(wait, pending, results, "FIRST_COMPLETED")
                address = self._addresses[shard % len(self._addresses)]
                future = self._client.submit(
                    fn, *args, workers=[address], allow_other_workers=False, pure=False
                )
                pending[future] = i
            while pending:
                self._collect(wait, pending, results, "ALL_COMPLETED")
        except BaseException:
            for future in pending:
                future.cancel()
            raise
        return results

    @staticmethod
    def _collect(wait: Any, pending: dict[Any, int], results: list[Any], when: str) -> None:
        done = wait(list(pending), return_when=when).done
        for future in done:
            results[pending.pop(future)] = future.result()
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
