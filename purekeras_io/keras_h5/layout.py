"""The legacy Keras HDF5 (``.h5``) layout: names, attribute encodings, the attribute chunking rule.

Measured on tf_keras 2.21.0 and Keras 3.15.1 (``shared/docs/h5.md``). A full-model file::

    /                                @keras_version  vlen UTF-8 str   '2.21.0' | '3.15.1'
                                     @backend        vlen UTF-8 str   'tensorflow'
                                     @model_config   vlen ASCII bytes JSON {"class_name", "config"}
                                     @training_config vlen ASCII bytes JSON (only when compiled)
    /model_weights/                     @layer_names    vlen ASCII array, ``model.layers`` order
                                        @backend, @keras_version   vlen ASCII scalars
                                        (``keras_version`` is never optional: without it tf_keras
                                        applies Keras-1 kernel conversions, h5.md §9 trap 1)
    /model_weights/<layer>/             @weight_names   vlen ASCII array, or float64 (0,) if none
    /model_weights/<layer>/<weight name>   dataset; ``/`` in a weight name nests groups
    /model_weights/top_level_model_weights/  @weight_names float64 (0,)
    /optimizer_weights/                 @weight_names   vlen ASCII array (only if the optimizer
                                        has variables and the optimizer is included)
    /optimizer_weights/<weight name>    dataset (``iteration`` int64 scalar, slots float32)

``save_weights`` (weights only) writes the ``model_weights`` content at the root instead.

Loaders match layers and weights **by order and shape only**: the names in ``layer_names`` must
name existing groups, and ``weight_names`` must list datasets in variable order; everything else is
free. Groups do not track creation order (HDF5 lists children by name).

Attribute chunking (h5.md §10): an attribute lives in the object header, whose messages are limited
to 64 KiB. A list of names stored as vlen strings costs 16 bytes per element there (the strings
themselves go to the global heap), so a list longer than :data:`MAX_NAMES_PER_ATTRIBUTE` is split
into ``<name>0``, ``<name>1``, … (both loaders read the split form). Keras' own rule estimates the
size with the fixed-width byte length, which is wrong for vlen storage: 5,000 names in one vlen
attribute fail with ``object header message is too large`` under ``libver='earliest'``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import h5py
import numpy as np

from ..errors import FormatError
from .safe_attrs import SafeAttributes, Unparsed, object_address, open_safe

__all__ = [
    "BACKEND",
    "HDF5_OBJECT_HEADER_LIMIT",
    "KERAS_VERSION",
    "KERAS_VERSIONS",
    "LAYER_NAMES",
    "MAX_NAMES_PER_ATTRIBUTE",
    "MODEL_CONFIG",
    "MODEL_WEIGHTS",
    "OPTIMIZER_WEIGHTS",
    "TARGETS",
    "TOP_LEVEL_MODEL_WEIGHTS",
    "TRAINING_CONFIG",
    "VLEN_ELEMENT_BYTES",
    "WEIGHT_NAMES",
    "chunk_names",
    "delete_name_list",
    "describe",
    "h5_access",
    "has_attr",
    "read_name_list",
    "read_text_attr",
    "safe_attributes",
    "write_ascii_attr",
    "write_name_list",
    "write_utf8_attr",
]

# Root attributes.
MODEL_CONFIG = "model_config"
TRAINING_CONFIG = "training_config"
KERAS_VERSION = "keras_version"
BACKEND = "backend"
# Groups and their attributes.
MODEL_WEIGHTS = "model_weights"
LAYER_NAMES = "layer_names"
WEIGHT_NAMES = "weight_names"
TOP_LEVEL_MODEL_WEIGHTS = "top_level_model_weights"
OPTIMIZER_WEIGHTS = "optimizer_weights"

TARGETS = ("both", "keras2", "keras3")
# What each target writes as ``keras_version`` (the Keras generation whose conventions it follows).
KERAS_VERSIONS = {"both": "2.21.0", "keras2": "2.21.0", "keras3": "3.15.1"}

HDF5_OBJECT_HEADER_LIMIT = 64512
"""Keras' per-attribute byte budget (``HDF5_OBJECT_HEADER_LIMIT`` in both generations)."""
VLEN_ELEMENT_BYTES = 16
"""Object-header bytes per element of a vlen string array (a global-heap reference)."""
MAX_NAMES_PER_ATTRIBUTE = 3000
"""Names per attribute chunk: 16 B * 3,000 = 48,000 B < 64,512 B (3,000 is the measured-safe value;
4,032 is the arithmetic ceiling)."""

_ASCII = h5py.string_dtype(encoding="ascii")


def chunk_names(names: list[bytes]) -> list[list[bytes]]:
    """Split a name list into attribute chunks by its real vlen size (one chunk when it fits)."""
    if len(names) * VLEN_ELEMENT_BYTES <= HDF5_OBJECT_HEADER_LIMIT and len(names) <= (
        MAX_NAMES_PER_ATTRIBUTE
    ):
        return [names]
    step = MAX_NAMES_PER_ATTRIBUTE
    return [names[i : i + step] for i in range(0, len(names), step)]


def delete_name_list(group: h5py.Group, name: str) -> None:
    """Remove ``name`` and its chunks ``name0``, ``name1``, … (for writing into existing files)."""
    if name in group.attrs:
        del group.attrs[name]
    i = 0
    while f"{name}{i}" in group.attrs:
        del group.attrs[f"{name}{i}"]
        i += 1


def write_name_list(group: h5py.Group, name: str, names: list[str]) -> None:
    """Write a list of names as Keras does: vlen ASCII of UTF-8 bytes; empty → float64 ``(0,)``."""
    delete_name_list(group, name)
    if not names:
        group.attrs.create(name, np.empty((0,), dtype=np.float64))
        return
    encoded = [n.encode("utf8") for n in names]
    chunks = chunk_names(encoded)
    if len(chunks) == 1:
        group.attrs.create(name, np.array(encoded, dtype=object), dtype=_ASCII)
        return
    for i, chunk in enumerate(chunks):
        group.attrs.create(f"{name}{i}", np.array(chunk, dtype=object), dtype=_ASCII)


def write_ascii_attr(group: h5py.Group, name: str, value: str) -> None:
    """A scalar vlen ASCII string (Keras writes ``bytes``): ``model_config``, ``training_config``,
    and the ``keras_version``/``backend`` of ``model_weights``."""
    group.attrs.create(name, value.encode("utf8"), dtype=_ASCII)


def write_utf8_attr(group: h5py.Group, name: str, value: str) -> None:
    """A scalar vlen UTF-8 string (Keras writes ``str``): the root ``keras_version``/``backend``."""
    group.attrs[name] = str(value)


def describe(group: h5py.Group) -> str:
    """``file.h5:/path`` for error messages."""
    try:
        return f"{group.file.filename}:{group.name}"
    except Exception:
        return "<h5>"


H5PY_ERRORS: tuple[type[Exception], ...] = (
    OSError, RuntimeError, KeyError, ValueError, TypeError, UnicodeError, AttributeError,
)
"""What h5py raises for a damaged object header, heap or B-tree (the HDF5 error stack becomes
``OSError``/``RuntimeError``/``KeyError``; a damaged name or dtype ``ValueError``/``TypeError``)."""


@contextlib.contextmanager
def h5_access(where: str, what: str) -> Iterator[None]:
    """One h5py access: its errors become a ``FormatError`` naming the object and what was being
    read (``file.h5:/model_weights: attribute 'layer_names' cannot be read (…)``)."""
    try:
        yield
    except FormatError:
        raise
    except H5PY_ERRORS as exc:
        raise FormatError(
            f"{where}: {what} cannot be read (damaged HDF5 structure: {exc})"
        ) from exc


_SAFE: ContextVar[SafeAttributes | None] = ContextVar("safe_attributes", default=None)
_MISSING = object()
_H5PY = object()
_VLEN_CLASS = 9  # HDF5 datatype class "variable-length"


@contextlib.contextmanager
def safe_attributes(f: h5py.File) -> Iterator[None]:
    """While reading ``f``, variable-length string attributes are read from the file's bytes
    (:mod:`.safe_attrs`), not by the HDF5 library, which can crash on a damaged global heap."""
    safe = open_safe(f)
    token = _SAFE.set(safe)
    try:
        yield
    finally:
        _SAFE.reset(token)
        if safe is not None:
            safe.close()


def _safe_value(group: h5py.Group, name: str, where: str) -> Any:
    """The attribute through :mod:`.safe_attrs`: bytes (scalar) or an object array of bytes;
    ``_MISSING`` when absent; ``_H5PY`` when h5py must (and safely can) read it."""
    safe = _SAFE.get()
    if safe is None:
        return _H5PY
    try:
        with h5_access(where, f"attribute {name!r}"):
            address = object_address(group)
        attrs = safe.attributes(address, where)
        info = attrs.get(name)
        if info is None:
            return _MISSING
        if info.type_class == _VLEN_CLASS and not info.vlen_string:
            # A variable-length sequence lives in the global heap too, and h5py cannot read a
            # damaged one safely; Keras writes none, so it is damage, not a layout to read.
            raise FormatError(f"{where}: attribute {name!r} is a variable-length sequence, "
                              "not a string (Keras writes none)")
        if not info.vlen_string:
            return _H5PY  # fixed-size data: no global heap involved
        values = safe.strings(info, where)
    except Unparsed:
        return _H5PY
    if info.shape == ():
        return values[0]
    return np.array(values, dtype=object).reshape(info.shape)


def _attr(group: h5py.Group, name: str, where: str) -> Any:
    """``group.attrs[name]`` (``_MISSING`` when absent), strings read safely when possible."""
    value = _safe_value(group, name, where)
    if value is not _H5PY:
        return value
    with h5_access(where, f"attribute {name!r}"):
        return group.attrs[name] if name in group.attrs else _MISSING


def has_attr(group: h5py.Group, name: str) -> bool:
    """``name in group.attrs``, with h5py's errors translated."""
    safe = _SAFE.get()
    where = describe(group)
    if safe is not None:
        try:
            with h5_access(where, f"attribute {name!r}"):
                address = object_address(group)
            return name in safe.attributes(address, where)
        except Unparsed:
            pass
    with h5_access(where, f"attribute {name!r}"):
        return name in group.attrs


def _decode(value: Any, where: str, name: str) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("utf8")
        except UnicodeDecodeError:
            raise FormatError(
                f"{where}: attribute {name!r} holds bytes that are not UTF-8"
            ) from None
    if isinstance(value, str):
        return value
    if isinstance(value, np.bytes_):
        return _decode(bytes(value), where, name)
    if isinstance(value, np.str_):
        return str(value)
    raise FormatError(f"{where}: attribute {name!r} holds {type(value).__name__}, expected strings")


def read_name_list(group: h5py.Group, name: str, *, required: bool = True) -> list[str] | None:
    """Read a name list in any encoding Keras accepts (vlen/fixed, str/bytes, chunked or not).

    A float ``(0,)`` array (Keras' empty list) reads as ``[]``. Missing → ``None`` unless required.
    """
    where = describe(group)
    parts: list[Any] | None
    whole = _attr(group, name, where)
    if whole is not _MISSING:
        parts = [whole]
    else:
        parts = []
        while len(parts) < 100_000:
            part = _attr(group, f"{name}{len(parts)}", where)
            if part is _MISSING:
                break
            parts.append(part)
        parts = parts or None
    if parts is None:
        if required:
            raise FormatError(f"{where}: attribute {name!r} is missing")
        return None
    out: list[str] = []
    for part in parts:
        arr = np.asarray(part)
        if arr.size == 0:
            continue
        if arr.ndim == 0:
            raise FormatError(
                f"{where}: attribute {name!r} must be a list of names, found a scalar"
            )
        if arr.ndim != 1 or arr.dtype.kind not in "OSU":
            raise FormatError(
                f"{where}: attribute {name!r} must be a 1-D list of strings, found "
                f"dtype {arr.dtype} shape {arr.shape}"
            )
        out.extend(_decode(v, where, name) for v in arr.tolist())
    return out


def read_text_attr(group: h5py.Group, name: str, *, required: bool = True) -> str | None:
    """A scalar string attribute (str or bytes, vlen or fixed) as ``str``."""
    where = describe(group)
    value = _attr(group, name, where)
    if value is _MISSING:
        if required:
            raise FormatError(f"{where}: attribute {name!r} is missing")
        return None
    if isinstance(value, np.ndarray):
        if value.ndim != 0:
            raise FormatError(f"{where}: attribute {name!r} must be a scalar string, found shape "
                              f"{value.shape}")
        value = value[()]
    return _decode(value, where, name)
