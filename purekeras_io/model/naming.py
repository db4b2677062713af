"""Keras' automatic names: snake_case of the class name, made unique with ``_1``, ``_2``."""

from __future__ import annotations

import re
from collections import defaultdict

__all__ = ["clear_session", "snake_case", "unique_name"]

_COUNTS: defaultdict[str, int] = defaultdict(int)


def snake_case(name: str) -> str:
    """``GlobalAveragePooling2D`` → ``global_average_pooling2d``, ``ReLU`` → ``re_lu``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub(r"([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def unique_name(base: str) -> str:
    """The next free automatic name for ``base`` in this process: ``dense``, ``dense_1``, …"""
    count = _COUNTS[base]
    _COUNTS[base] += 1
    return base if count == 0 else f"{base}_{count}"


def clear_session() -> None:
    """Reset the automatic name counters (as ``keras.backend.clear_session``)."""
    _COUNTS.clear()
