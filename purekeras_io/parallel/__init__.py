"""Parallel writes: one TensorBundle written by several processes or a Dask cluster.

``model.save_weights(prefix, workers=N)`` (a local process pool) or ``client=dask_client``
(``distributed``, an optional extra) writes ``<prefix>.data-0000i-of-0000N``, one data file per
worker, each by its worker; the driver plans the layout (``plan.py``), writes in-memory and
string tensors, the index and the checkpoint's protos, then commits all files with one journaled
rename. ``model.save(savedmodel_dir, workers=…)`` does the same for ``variables/``.

Modules: ``plan`` (who writes which bytes where), ``tasks`` (what a worker runs), ``executors``
(process pool or Dask), ``writer`` (:class:`ParallelBundleWriter`, :func:`write`).
"""

from __future__ import annotations

from .writer import ParallelBundleWriter, open_writer, write

__all__ = ["ParallelBundleWriter", "open_writer", "write"]
