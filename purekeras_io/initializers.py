"""NumPy versions of the Keras initializers, seeded, so a model built without weights works at once.

The values follow each initializer's distribution (not TensorFlow's random stream): a model saved
from fresh weights is statistically, not bitwise, what Keras would have made.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import ConfigError
from .model.naming import snake_case

__all__ = ["get", "initialize", "seed"]

_RNG = [np.random.default_rng(1337)]


def seed(value: int) -> None:
    """Reseed the generator used for initializers that carry no seed of their own."""
    _RNG[0] = np.random.default_rng(value)


def _fans(shape: tuple[int, ...]) -> tuple[float, float]:
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    receptive = float(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


def _variance_scaling(
    rng: np.random.Generator,
    shape: tuple[int, ...],
    scale: float = 1.0,
    mode: str = "fan_in",
    distribution: str = "truncated_normal",
) -> np.ndarray:
    fan_in, fan_out = _fans(shape)
    denom = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    var = scale / max(1.0, denom)
    if distribution == "uniform":
        limit = math.sqrt(3.0 * var)
        return rng.uniform(-limit, limit, shape)
    if distribution == "untruncated_normal":
        return rng.normal(0.0, math.sqrt(var), shape)
    std = math.sqrt(var) / 0.87962566103423978
    return _truncated(rng, shape, 0.0, std)


def _truncated(
    rng: np.random.Generator, shape: tuple[int, ...], mean: float, std: float
) -> np.ndarray:
    out = rng.normal(0.0, 1.0, shape)
    bad = np.abs(out) > 2
    while bad.any():
        out[bad] = rng.normal(0.0, 1.0, int(bad.sum()))
        bad = np.abs(out) > 2
    return mean + std * out


def _orthogonal(rng: np.random.Generator, shape: tuple[int, ...], gain: float = 1.0) -> np.ndarray:
    if len(shape) < 2:
        return rng.normal(0.0, 1.0, shape)
    rows = int(np.prod(shape[:-1]))
    cols = shape[-1]
    flat = rng.normal(0.0, 1.0, (max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return gain * q[:rows, :cols].reshape(shape)


def _identity(shape: tuple[int, ...], gain: float = 1.0) -> np.ndarray:
    if len(shape) != 2:
        raise ConfigError(f"Identity initializer needs a 2-D shape, received {shape}")
    return gain * np.eye(*shape)


_Init = Callable[[np.random.Generator, tuple[int, ...], dict[str, Any]], np.ndarray]

# snake_case class name → (function, defaults)
_TABLE: dict[str, _Init] = {
    "zeros": lambda rng, s, c: np.zeros(s),
    "ones": lambda rng, s, c: np.ones(s),
    "constant": lambda rng, s, c: np.full(s, c.get("value", 0.0)),
    "random_normal": lambda rng, s, c: rng.normal(c.get("mean", 0.0), c.get("stddev", 0.05), s),
    "random_uniform": lambda rng, s, c: rng.uniform(
        c.get("minval", -0.05), c.get("maxval", 0.05), s
    ),
    "truncated_normal": lambda rng, s, c: _truncated(
        rng, s, c.get("mean", 0.0), c.get("stddev", 0.05)
    ),
    "variance_scaling": lambda rng, s, c: _variance_scaling(
        rng,
        s,
        c.get("scale", 1.0),
        c.get("mode", "fan_in"),
        c.get("distribution", "truncated_normal"),
    ),
    "glorot_uniform": lambda rng, s, c: _variance_scaling(rng, s, 1.0, "fan_avg", "uniform"),
    "glorot_normal": lambda rng, s, c: _variance_scaling(rng, s, 1.0, "fan_avg"),
    "he_uniform": lambda rng, s, c: _variance_scaling(rng, s, 2.0, "fan_in", "uniform"),
    "he_normal": lambda rng, s, c: _variance_scaling(rng, s, 2.0, "fan_in"),
    "lecun_uniform": lambda rng, s, c: _variance_scaling(rng, s, 1.0, "fan_in", "uniform"),
    "lecun_normal": lambda rng, s, c: _variance_scaling(rng, s, 1.0, "fan_in"),
    "orthogonal": lambda rng, s, c: _orthogonal(rng, s, c.get("gain", 1.0)),
    "identity": lambda rng, s, c: _identity(s, c.get("gain", 1.0)),
}
_ALIASES = {
    "uniform": "random_uniform",
    "normal": "random_normal",
    "zero": "zeros",
    "one": "ones",
    "glorot_uniform": "glorot_uniform",
    "xavier_uniform": "glorot_uniform",
    "xavier_normal": "glorot_normal",
}


def get(identifier: Any) -> tuple[str, dict[str, Any]]:
    """Normalise a Keras initializer identifier (string or config dict) to ``(key, config)``."""
    if identifier is None:
        return "zeros", {}
    if isinstance(identifier, str):
        key, config = snake_case(identifier), {}
    elif isinstance(identifier, dict) and "class_name" in identifier:
        key, config = (
            snake_case(str(identifier["class_name"])),
            dict(identifier.get("config") or {}),
        )
    else:
        raise ConfigError(f"initializer: expected a name or a config dict, received {identifier!r}")
    key = _ALIASES.get(key, key)
    if key not in _TABLE:
        raise ConfigError(f"initializer {identifier!r} is not known; known: {sorted(_TABLE)}")
    return key, config


def initialize(identifier: Any, shape: tuple[int, ...], dtype: Any = "float32") -> np.ndarray:
    """Draw an initial value for ``shape`` as Keras' initializer ``identifier`` would."""
    key, config = get(identifier)
    seed_value = config.get("seed")
    rng = np.random.default_rng(seed_value) if seed_value is not None else _RNG[0]
    return np.asarray(_TABLE[key](rng, tuple(int(d) for d in shape), config)).astype(dtype)
