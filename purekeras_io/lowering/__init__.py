"""Layers → TensorFlow graph functions: one lowering per layer class, in the families' terms.

* :mod:`.context`: :class:`LowerContext` (the function being built, variable reads, helpers);
* :mod:`.registry`: the class → lowering table (:func:`lowers`, :func:`lowers_mask`);
* :mod:`.walk`: Sequential and Functional models (nested ones too), masks, autocasting;
* one module per layer family (``core``, ``conv``, ``pooling``, ``reshaping``,
  ``normalization``, ``merge``, ``embedding``, ``preprocessing``, ``attention``, ``rnn``,
  ``ops``, ``applications``), registering its lowerings when imported (here).

Graph construction is :mod:`purekeras_io.graph`; where the functions go in a SavedModel is
:mod:`purekeras_io.savedmodel.functions`.
"""

from __future__ import annotations

from . import activations, core  # noqa: F401  (registers lowerings)
from .context import Capture, LowerContext
from .registry import lowers, lowers_mask
from .walk import NotLowerable, call_layer, call_model

for _family in ("conv", "pooling", "reshaping", "normalization", "merge", "embedding",
                "preprocessing", "attention", "rnn", "ops", "applications"):
    try:
        __import__(f"{__name__}.{_family}")
    except ModuleNotFoundError as _exc:  # a family not written yet
        if _exc.name != f"{__name__}.{_family}":
            raise

__all__ = [
    "Capture", "LowerContext", "NotLowerable", "call_layer", "call_model", "lowers",
    "lowers_mask",
]
