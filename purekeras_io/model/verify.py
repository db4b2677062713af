"""The model description's part of ``verify``: :class:`Problem` and :class:`Report` (defined in
``purekeras_io._report``, below every format, and re-exported here) and

:func:`compare_weights` is the "weights against the layer configs" rule: the model built from
the file's config has variables of the shapes and dtypes the config implies; each stored array
must match its variable.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._report import Problem, Report

__all__ = ["Problem", "Report", "compare_weights"]


def compare_weights(report: Report, file: str, key: str, var: Any, value: Any) -> bool:
    """One stored array against the model's variable (shape, then dtype); True when it fits."""
    report.count("weights")
    shape = tuple(int(d) for d in np.shape(value))
    want = tuple(int(d) for d in var.shape)
    ok = True
    if shape != want:
        report.add(file, key, f"shape {list(shape)}, but the layer config makes "
                   f"{var.path or var.name} {list(want)}")
        ok = False
    got_dtype = np.asarray(value).dtype if not hasattr(value, "dtype") else value.dtype
    want_dtype = np.dtype(var.dtype)
    if got_dtype.kind != "V" and np.dtype(got_dtype) != want_dtype:
        report.add(file, key, f"dtype {np.dtype(got_dtype)}, but the layer config makes "
                   f"{var.path or var.name} {want_dtype}")
        ok = False
    return ok
