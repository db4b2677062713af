"""Importers: models and weights from PyTorch, JAX/Flax and safetensors into purekeras_io models.

torch, jax and flax are never imported by the core package; each importer imports its framework
only when called (optional extras). safetensors files are read and written in pure Python.

Modules (each with its own ``__all__``):

- ``torch_weights``: per-layer weight converters for PyTorch modules / state-dict entries.
- ``torch_graph``: ``from_torch(module, example_inputs)``, a Functional model from a
  ``torch.export`` / ``torch.fx`` graph.
- ``safetensors``: ``load_safetensors`` / ``save_safetensors`` (pure Python, lazy reads).
- ``mapping``: ``assign_weights(model, tensors, rules)`` by name rules, with a ``MatchReport`` of
  unmatched and unused tensors.
- ``flax``: ``assign_flax_params(model, params, ...)`` for linen parameter trees.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "MatchReport",
    "assign_flax_params",
    "assign_weights",
    "from_torch",
    "load_safetensors",
    "save_safetensors",
]

# public name → submodule that defines it (imported on first use, so no framework loads early)
_WHERE = {
    "from_torch": "torch_graph",
    "load_safetensors": "safetensors",
    "save_safetensors": "safetensors",
    "assign_weights": "mapping",
    "MatchReport": "mapping",
    "assign_flax_params": "flax",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        module = importlib.import_module(f"{__name__}.{_WHERE[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
