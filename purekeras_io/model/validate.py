"""Checks for every value read from a file's config, before anything uses it.

A file's JSON (``model_config``, ``config.json``, ``keras_metadata.pb`` metadata,
``training_config``) goes through :func:`load_json` (size and depth limits), then each value
through a :class:`Check` that narrows its type or raises :class:`~purekeras_io.errors.ConfigError`
naming the **key path** (``config.layers[3].config.units``), what was expected and the value
received; readers prefix the file. No check recurses: nesting is bounded once, by
:data:`MAX_JSON_DEPTH`, when the document is loaded (and by :func:`check_depth` for a config
given as a Python dict), so every recursive walker downstream stays far below Python's limit.

The per-key tables (layers, initializers, optimizers …) live in :mod:`.config_schema`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from ..errors import ConfigError, FormatError

__all__ = [
    "MAX_DIM",
    "MAX_JSON_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_NAME",
    "MAX_RANK",
    "Check",
    "Flag",
    "Int",
    "IntOrInts",
    "Json",
    "ListOf",
    "Num",
    "NumOrNums",
    "OneOf",
    "Opt",
    "Shape",
    "Text",
    "check_depth",
    "check_keys",
    "custom",
    "dict_at",
    "fail",
    "index",
    "key",
    "list_at",
    "load_json",
    "located",
    "show",
]

MAX_JSON_BYTES = 64 << 20
"""A config document larger than this is refused before it is parsed (Keras' largest application
configs are a few MB)."""
MAX_JSON_DEPTH = 100
"""Deepest nesting of lists and objects accepted in a config (Keras configs nest about 12 levels,
plus 4 per nested model); keeps every recursive walker below Python's recursion limit."""
MAX_DIM = 2**31 - 1
"""Largest size, count or dimension accepted in a config (units, filters, shapes …)."""
MAX_RANK = 64
"""Most dimensions a shape (or entries a per-axis list) may have."""
MAX_NAME = 4096
"""Longest name (layer, class, weight) accepted."""


def show(value: Any, limit: int = 120) -> str:
    """A value as a message shows it: ``repr``, cut at ``limit`` characters."""
    try:
        text = repr(value)
    except Exception:  # a repr that fails must not hide the real error
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def key(path: str, name: object) -> str:
    """``path.name`` (``name`` alone at the root)."""
    return f"{path}.{name}" if path else str(name)


def index(path: str, i: int) -> str:
    """``path[i]``."""
    return f"{path}[{i}]"


def fail(path: str, expected: str, value: Any) -> NoReturn:
    """Raise the one message every check gives: key path, what was expected, what was found."""
    raise located(f"expected {expected}, received {show(value)}", path)


def located(message: str, path: str) -> ConfigError:
    """A ``ConfigError`` whose message starts with the key path (``key_path`` set)."""
    error = ConfigError(f"{path or '<root>'}: {message}")
    error.key_path = path
    return error


# ---------------------------------------------------------------- JSON documents


def load_json(
    data: bytes | str,
    where: str,
    *,
    max_bytes: int = MAX_JSON_BYTES,
    max_depth: int = MAX_JSON_DEPTH,
) -> Any:
    """Parse a config document from a file: refused (``FormatError`` naming ``where``) when larger
    than ``max_bytes``, not UTF-8, not JSON, or nested deeper than ``max_depth``."""
    size = len(data)
    if size > max_bytes:
        raise FormatError(
            f"{where}: {size} bytes of JSON, more than the {max_bytes} accepted; refused"
        )
    if isinstance(data, (bytes, bytearray)):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormatError(f"{where}: JSON is not valid UTF-8 ({exc})") from None
    try:
        doc = json.loads(data)
    except RecursionError:
        raise FormatError(
            f"{where}: JSON nested deeper than {max_depth} levels; refused"
        ) from None
    except ValueError as exc:  # JSONDecodeError, and int strings over Python's digit limit
        raise FormatError(f"{where}: not valid JSON ({exc})") from None
    depth = _depth(doc, max_depth)
    if depth > max_depth:
        raise FormatError(f"{where}: JSON nested deeper than {max_depth} levels; refused")
    return doc


def _depth(doc: Any, limit: int) -> int:
    """Nesting depth of a JSON value (iterative; stops counting past ``limit``)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, (list, tuple)):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        if depth > limit:
            return depth
        stack.extend((child, depth + 1) for child in children)
    return deepest


def check_depth(doc: Any, path: str = "", max_depth: int = MAX_JSON_DEPTH) -> None:
    """``ConfigError`` when a config given as Python data nests deeper than ``max_depth``."""
    if _depth(doc, max_depth) > max_depth:
        raise located(f"nested deeper than {max_depth} levels; refused", path)


def dict_at(value: Any, path: str, *, optional: bool = False) -> dict[str, Any]:
    """``value`` if it is a JSON object (``{}`` for None when ``optional``)."""
    if value is None and optional:
        return {}
    if not isinstance(value, dict):
        fail(path, "an object", value)
    return value


def list_at(value: Any, path: str, *, optional: bool = False, max_len: int = MAX_DIM) -> list[Any]:
    """``value`` if it is a JSON list (``[]`` for None when ``optional``)."""
    if value is None and optional:
        return []
    if not isinstance(value, (list, tuple)):
        fail(path, "a list", value)
    if len(value) > max_len:
        fail(path, f"a list of at most {max_len} entries", f"<{len(value)} entries>")
    return list(value)


# ---------------------------------------------------------------- checks


class Check:
    """A value check: ``check(value, path)`` returns the value (narrowed, e.g. ``4.0`` → ``4``)
    or raises ``ConfigError`` through :func:`fail`. ``expected`` words the accepted values."""

    expected: str = "a value"

    def __call__(self, value: Any, path: str) -> Any:
        raise NotImplementedError

    def accepts(self, value: Any) -> bool:
        try:
            self(value, "")
        except ConfigError:
            return False
        return True


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Int(Check):
    """An integer in ``[lo, hi]`` (an integral float such as ``4.0`` is taken as ``4``)."""

    def __init__(self, lo: int | None = None, hi: int = MAX_DIM) -> None:
        self.lo, self.hi = lo, hi
        low = "any" if lo is None else str(lo)
        self.expected = (
            "a positive integer" if lo == 1 and hi == MAX_DIM
            else "a non-negative integer" if lo == 0 and hi == MAX_DIM
            else f"an integer in [{low}, {hi}]"
        )

    def __call__(self, value: Any, path: str) -> int:
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        if not _is_int(value):
            fail(path, self.expected, value)
        if (self.lo is not None and value < self.lo) or value > self.hi or value < -MAX_DIM:
            fail(path, self.expected, value)
        return int(value)


class Num(Check):
    """A finite number in ``[lo, hi]`` (ints accepted; booleans are not numbers)."""

    def __init__(self, lo: float | None = None, hi: float | None = None) -> None:
        self.lo, self.hi = lo, hi
        if lo is None and hi is None:
            self.expected = "a finite number"
        else:
            self.expected = (
                f"a finite number in [{'-inf' if lo is None else lo}, "
                f"{'inf' if hi is None else hi}]"
            )

    def __call__(self, value: Any, path: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail(path, self.expected, value)
        if isinstance(value, int) and abs(value) > 2**63:
            fail(path, self.expected, value)
        if not math.isfinite(value):
            fail(path, self.expected, value)
        if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            fail(path, self.expected, value)
        return value


class Flag(Check):
    """A boolean (``0``/``1`` accepted, as Python's truth would take them)."""

    expected = "true or false"

    def __call__(self, value: Any, path: str) -> bool:
        if isinstance(value, bool):
            return value
        if _is_int(value) and value in (0, 1):
            return bool(value)
        fail(path, self.expected, value)


class Text(Check):
    """A string (non-empty, at most :data:`MAX_NAME` characters); with ``choices``, one of them
    (compared lower-cased when ``lower``)."""

    def __init__(self, *choices: str, lower: bool = False, empty: bool = False) -> None:
        self.choices, self.lower, self.empty = choices, lower, empty
        self.expected = (
            f"one of {list(choices)}" if choices else "a string" if empty else "a non-empty string"
        )

    def __call__(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or len(value) > MAX_NAME or (not value and not self.empty):
            fail(path, self.expected, value)
        if self.choices:
            probe = value.lower() if self.lower else value
            if probe not in self.choices:
                fail(path, self.expected, value)
        return value


class Opt(Check):
    """None, or what ``inner`` accepts."""

    def __init__(self, inner: Check) -> None:
        self.inner = inner
        self.expected = f"null or {inner.expected}"

    def __call__(self, value: Any, path: str) -> Any:
        if value is None:
            return None
        try:
            return self.inner(value, path)
        except ConfigError:
            fail(path, self.expected, value)


class OneOf(Check):
    """The first of ``checks`` that accepts the value."""

    def __init__(self, *checks: Check) -> None:
        self.checks = checks
        self.expected = " or ".join(c.expected for c in checks)

    def __call__(self, value: Any, path: str) -> Any:
        for check in self.checks:
            try:
                return check(value, path)
            except ConfigError:
                continue
        fail(path, self.expected, value)


class ListOf(Check):
    """A list of ``min_len`` to ``max_len`` items, each accepted by ``item``."""

    def __init__(self, item: Check, min_len: int = 0, max_len: int = MAX_RANK) -> None:
        self.item, self.min_len, self.max_len = item, min_len, max_len
        count = (
            f"{min_len}" if min_len == max_len else f"{min_len} to {max_len}"
        )
        self.expected = f"a list of {count} items, each {item.expected}"

    def __call__(self, value: Any, path: str) -> list[Any]:
        if not isinstance(value, (list, tuple)) or not (
            self.min_len <= len(value) <= self.max_len
        ):
            fail(path, self.expected, value)
        return [self.item(v, index(path, i)) for i, v in enumerate(value)]


class IntOrInts(Check):
    """An integer, or a list of them (``kernel_size``, ``strides``, ``axis`` …)."""

    def __init__(self, lo: int | None = None, hi: int = MAX_DIM, max_len: int = MAX_RANK,
                 min_len: int = 1) -> None:
        self.one = Int(lo, hi)
        self.many = ListOf(self.one, min_len, max_len)
        self.expected = f"{self.one.expected} or a list of them"

    def __call__(self, value: Any, path: str) -> Any:
        if isinstance(value, (list, tuple)):
            try:
                return self.many(value, path)
            except ConfigError:
                fail(path, self.expected, value)
        try:
            return self.one(value, path)
        except ConfigError:
            fail(path, self.expected, value)


class Shape(Check):
    """A tensor shape: a list of at most :data:`MAX_RANK` sizes, each null (unknown) or in
    ``[lo, MAX_DIM]`` (``lo=-1`` for Reshape's inferred dimension)."""

    def __init__(self, lo: int = 0, min_len: int = 0) -> None:
        self.dim = Opt(Int(lo))
        self.min_len = min_len
        self.expected = f"a shape (a list of {'' if lo >= 0 else '-1, '}null or non-negative sizes)"

    def __call__(self, value: Any, path: str) -> list[Any]:
        if not isinstance(value, (list, tuple)) or not (self.min_len <= len(value) <= MAX_RANK):
            fail(path, self.expected, value)
        return [self.dim(d, index(path, i)) for i, d in enumerate(value)]


class NumOrNums(Check):
    """A finite number, or a list (nested up to ``MAX_JSON_DEPTH``) of them: per-channel
    statistics such as Normalization's ``mean``; NaN and infinity are refused unless
    ``finite=False``."""

    def __init__(self, finite: bool = True) -> None:
        self.finite = finite
        self.expected = "a number or a nested list of numbers"

    def __call__(self, value: Any, path: str) -> Any:
        stack: list[tuple[Any, str]] = [(value, path)]
        while stack:
            item, where = stack.pop()
            if isinstance(item, (list, tuple)):
                stack.extend((v, index(where, i)) for i, v in enumerate(item))
                continue
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                fail(where, self.expected, item)
            if isinstance(item, int) and abs(item) > 2**63:
                fail(where, self.expected, item)
            if self.finite and not math.isfinite(item):
                fail(where, "a finite number", item)
        return value


class Json(Check):
    """Any JSON value (nesting already bounded by :func:`load_json`): kept as data."""

    expected = "any JSON value"

    def __call__(self, value: Any, path: str) -> Any:
        return value


class _Custom(Check):
    """A check from a plain function (for the few structured values with their own rules)."""

    def __init__(self, fn: Callable[[Any, str], Any], expected: str) -> None:
        self.fn, self.expected = fn, expected

    def __call__(self, value: Any, path: str) -> Any:
        return self.fn(value, path)


def custom(fn: Callable[[Any, str], Any], expected: str) -> Check:
    """Wrap ``fn(value, path)`` (which raises through :func:`fail`) as a :class:`Check`."""
    return _Custom(fn, expected)


def check_keys(
    config: dict[str, Any], path: str, checks: dict[str, Check], keys: Sequence[str] | None = None
) -> None:
    """Run ``checks[k]`` on ``config[k]`` for each present key (of ``keys``, default all),
    writing narrowed values back."""
    for name in keys if keys is not None else list(config):
        check = checks.get(name)
        if check is not None and name in config:
            config[name] = check(config[name], key(path, name))
