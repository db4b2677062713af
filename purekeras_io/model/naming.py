"""Keras' automatic names: snake_case of the class name, made unique with ``_1``, ``_2``; and the
renaming of layer names Keras 3 refuses (``/``) when writing for it."""

from __future__ import annotations

import contextlib
import re
import warnings
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

__all__ = ["clear_session", "renamed_layers", "snake_case", "unique_name"]

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


@contextlib.contextmanager
def renamed_layers(model: Any, target: str, where: str) -> Iterator[dict[str, str]]:
    """While writing for Keras 3 (``target`` other than ``"keras2"``), replace ``/`` in layer names
    by ``_``, consistently across the config and the weights; the names are restored after.

    Keras 3 refuses ``/`` in layer names (``ValueError: Argument `name` must be a string and
    cannot contain character `/`.``), which tf_keras configs have (MobileNetV3, DenseNet). A new
    name that is already taken gets ``_1``, ``_2``, … Warns once, naming ``where`` (``the .h5
    file``) and up to five renames. Yields ``{old name: new name}``.
    """
    renamed: dict[str, str] = {}
    if target == "keras2":
        yield renamed
        return
    layers: list[Any] = []
    seen: set[int] = set()
    for layer in model.iter_layers():
        if id(layer) not in seen:
            seen.add(id(layer))
            layers.append(layer)
    taken = {la.name for la in layers}
    changed: list[tuple[Any, str]] = []
    try:
        for layer in layers:
            old = layer.name
            if "/" not in old:
                continue
            base = old.replace("/", "_")
            new, i = base, 1
            while new in taken:
                new, i = f"{base}_{i}", i + 1
            taken.add(new)
            layer.name = new
            changed.append((layer, old))
            renamed[old] = new
        if renamed:
            sample = ", ".join(f"{a!r} → {b!r}" for a, b in list(renamed.items())[:5])
            warnings.warn(
                f"Keras 3 refuses '/' in layer names: {len(renamed)} layer(s) renamed in {where} "
                f"({sample}{', …' if len(renamed) > 5 else ''}). The model in memory keeps its "
                "names.",
                stacklevel=3,
            )
        yield renamed
    finally:
        for layer, old in changed:
            layer.name = old
