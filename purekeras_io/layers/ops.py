"""Operator layers (in progress): TFOpLambda / Keras 3 ops recorded by Functional models."""

from __future__ import annotations

from typing import Any

from ..errors import UnsupportedFeatureError

__all__ = ["apply_operator"]


def apply_operator(name: str, *args: Any) -> Any:
    raise UnsupportedFeatureError(f"operator {name!r} on symbolic tensors is not supported yet")
