"""NumPy versions of the Keras initializers, seeded, so a model built without weights works at once.

The values follow each initializer's distribution (not TensorFlow's random stream): a model saved
from fresh weights is statistically, not bitwise, what Keras would have made.

**Lazy initial values.** Building a layer does not draw anything: :func:`lazy` returns an
:class:`Initial` (initializer key and config, shape, dtype, seed) that a
:class:`~purekeras_io.model.variable.Variable` keeps until its value is first read; a value
assigned before that (``set_weights``, every file reader) replaces it without a draw ever being
made. A 400 MB model loaded from a file is therefore held once, and building it costs no time.

**Determinism.** Each random initializer without a ``seed`` of its own takes, when it is created,
the next number of a process-wide counter; its values are drawn from
``SeedSequence(base seed, spawn_key=(counter,))`` whenever they are materialized, so they do not
depend on the order in which variables are read: the same model built the same way in a fresh
process always gets the same values. :func:`seed` sets the base seed (default 1337) and restarts
the counter. Initializers with a ``seed`` in their config draw from ``default_rng(seed)``, as
before. Constant initializers (``zeros``, ``ones``, ``constant``, ``identity``) take no counter
number. Random values are drawn in float32 (float64 for float64 variables).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConfigError
from .model.naming import snake_case

__all__ = ["NAMES", "Initial", "get", "initialize", "known", "lazy", "seed"]

_DEFAULT_SEED = 1337
# [base seed, next counter number] of the process-wide stream of unseeded initializers.
_STREAM: list[int] = [_DEFAULT_SEED, 0]


def seed(value: int) -> None:
    """Set the base seed of initializers that carry no seed of their own; restart the counter."""
    _STREAM[0] = int(value)
    _STREAM[1] = 0


def _fans(shape: tuple[int, ...]) -> tuple[float, float]:
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    receptive = float(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


def _uniform(
    rng: np.random.Generator, shape: tuple[int, ...], low: float, high: float, work: Any
) -> np.ndarray:
    out = rng.random(shape, dtype=work)
    out *= high - low
    out += low
    return np.asarray(out)


def _normal(
    rng: np.random.Generator, shape: tuple[int, ...], mean: float, std: float, work: Any
) -> np.ndarray:
    out = np.asarray(rng.standard_normal(shape, dtype=work))
    out *= std
    out += mean
    return out


def _truncated(
    rng: np.random.Generator, shape: tuple[int, ...], mean: float, std: float, work: Any
) -> np.ndarray:
    """Normal values redrawn until within two standard deviations of the mean."""
    out = np.asarray(rng.standard_normal(shape, dtype=work))
    bad = np.abs(out) > 2
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()), dtype=work)
        bad = np.abs(out) > 2
    out *= std
    out += mean
    return out


def _variance_scaling(
    rng: np.random.Generator,
    shape: tuple[int, ...],
    work: Any,
    scale: float = 1.0,
    mode: str = "fan_in",
    distribution: str = "truncated_normal",
) -> np.ndarray:
    fan_in, fan_out = _fans(shape)
    denom = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    var = scale / max(1.0, denom)
    if distribution == "uniform":
        limit = math.sqrt(3.0 * var)
        return _uniform(rng, shape, -limit, limit, work)
    if distribution == "untruncated_normal":
        return _normal(rng, shape, 0.0, math.sqrt(var), work)
    std = math.sqrt(var) / 0.87962566103423978
    return _truncated(rng, shape, 0.0, std, work)


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


_Init = Callable[[np.random.Generator, tuple[int, ...], dict[str, Any], Any], np.ndarray]

# snake_case class name → function(rng, shape, config, working float dtype)
_TABLE: dict[str, _Init] = {
    "zeros": lambda rng, s, c, w: np.zeros(s),
    "ones": lambda rng, s, c, w: np.ones(s),
    "constant": lambda rng, s, c, w: np.full(s, c.get("value", 0.0)),
    "random_normal": lambda rng, s, c, w: _normal(
        rng, s, c.get("mean", 0.0), c.get("stddev", 0.05), w
    ),
    "random_uniform": lambda rng, s, c, w: _uniform(
        rng, s, c.get("minval", -0.05), c.get("maxval", 0.05), w
    ),
    "truncated_normal": lambda rng, s, c, w: _truncated(
        rng, s, c.get("mean", 0.0), c.get("stddev", 0.05), w
    ),
    "variance_scaling": lambda rng, s, c, w: _variance_scaling(
        rng,
        s,
        w,
        c.get("scale", 1.0),
        c.get("mode", "fan_in"),
        c.get("distribution", "truncated_normal"),
    ),
    "glorot_uniform": lambda rng, s, c, w: _variance_scaling(rng, s, w, 1.0, "fan_avg", "uniform"),
    "glorot_normal": lambda rng, s, c, w: _variance_scaling(rng, s, w, 1.0, "fan_avg"),
    "he_uniform": lambda rng, s, c, w: _variance_scaling(rng, s, w, 2.0, "fan_in", "uniform"),
    "he_normal": lambda rng, s, c, w: _variance_scaling(rng, s, w, 2.0, "fan_in"),
    "lecun_uniform": lambda rng, s, c, w: _variance_scaling(rng, s, w, 1.0, "fan_in", "uniform"),
    "lecun_normal": lambda rng, s, c, w: _variance_scaling(rng, s, w, 1.0, "fan_in"),
    "orthogonal": lambda rng, s, c, w: _orthogonal(rng, s, c.get("gain", 1.0)),
    "identity": lambda rng, s, c, w: _identity(s, c.get("gain", 1.0)),
}
_CONSTANT = frozenset({"zeros", "ones", "constant", "identity"})
"""Initializers that draw nothing (no seed, no counter number)."""
_ALIASES = {
    "uniform": "random_uniform",
    "normal": "random_normal",
    "zero": "zeros",
    "one": "ones",
    "glorot_uniform": "glorot_uniform",
    "xavier_uniform": "glorot_uniform",
    "xavier_normal": "glorot_normal",
}


NAMES: tuple[str, ...] = tuple(sorted(_TABLE))
"""The initializers the catalog can draw (snake-case class names)."""


def known(identifier: Any) -> bool:
    """Whether ``identifier`` (a name or ``{"class_name", …}``) names an initializer of
    :data:`NAMES` (or an alias); None means zeros."""
    if identifier is None:
        return True
    name = identifier.get("class_name") if isinstance(identifier, dict) else identifier
    if not isinstance(name, str):
        return False
    key = snake_case(name)
    return _ALIASES.get(key, key) in _TABLE


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


@dataclass(frozen=True, eq=False)
class Initial:
    """A deferred initial value: which initializer, for which shape and dtype, from which seed.

    ``seed`` is the initializer's own seed (``default_rng(seed)``); otherwise ``stream`` is the
    ``(base seed, counter)`` pair taken when it was created (``None`` for constant initializers).
    :meth:`materialize` draws the same array every time it is called.
    """

    key: str
    config: dict[str, Any]
    shape: tuple[int, ...]
    dtype: np.dtype
    seed: int | None = None
    stream: tuple[int, int] | None = None

    def _rng(self) -> np.random.Generator:
        if self.seed is not None:
            return np.random.default_rng(self.seed)
        if self.stream is not None:
            base, counter = self.stream
            return np.random.default_rng(np.random.SeedSequence(base, spawn_key=(counter,)))
        return np.random.default_rng(0)  # constant initializers never draw

    def materialize(self) -> np.ndarray:
        """The initial value as an array of ``shape`` and ``dtype`` (a new array each call)."""
        shape, dtype = self.shape, self.dtype
        if self.key == "zeros":
            return np.zeros(shape, dtype)
        if self.key == "ones":
            return np.ones(shape, dtype)
        if self.key == "constant":
            return np.full(shape, self.config.get("value", 0.0)).astype(dtype, copy=False)
        work = np.float64 if dtype == np.float64 else np.float32
        value = _TABLE[self.key](self._rng(), shape, self.config, work)
        return np.asarray(value).astype(dtype, copy=False)


def lazy(identifier: Any, shape: tuple[int, ...], dtype: Any = "float32") -> Initial:
    """The deferred initial value Keras' initializer ``identifier`` gives ``shape`` (no draw yet).

    The identifier is checked here (an unknown initializer fails at build time, as before); an
    unseeded random initializer takes the next counter number of the process-wide stream.
    """
    key, config = get(identifier)
    seed_value = config.get("seed")
    stream = None
    if seed_value is None and key not in _CONSTANT:
        stream = (_STREAM[0], _STREAM[1])
        _STREAM[1] += 1
    return Initial(
        key=key,
        config=config,
        shape=tuple(int(d) for d in shape),
        dtype=np.dtype(dtype),
        seed=None if seed_value is None else int(seed_value),
        stream=stream,
    )


def initialize(identifier: Any, shape: tuple[int, ...], dtype: Any = "float32") -> np.ndarray:
    """Draw an initial value for ``shape`` as Keras' initializer ``identifier`` would (at once)."""
    return lazy(identifier, shape, dtype).materialize()
