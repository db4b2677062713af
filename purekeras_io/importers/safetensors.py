"""safetensors files, read and written in pure Python (NumPy only; the ``safetensors`` package is
never imported).

The format (Hugging Face's ``safetensors``, checked against the reference library 0.8.0)::

    bytes 0..8      N, the header's length, unsigned 64-bit little-endian
    bytes 8..8+N    the header: UTF-8 JSON object, starting with "{", padded with spaces
                    (0x20) to a multiple of 8 bytes by the writer
                      "__metadata__": {str: str}           optional, free text
                      "<name>": {"dtype": "F32",           see the table below
                                 "shape": [2, 3],          [] for a scalar, 0 allowed
                                 "data_offsets": [b, e]}   into the buffer, e - b = size*itemsize
    bytes 8+N..     the buffer: every tensor's bytes, C order, little-endian, no gaps, no
                    overlap, nothing after the last one

Rules a reader checks (a damaged file raises :class:`~purekeras_io.errors.FormatError` naming the
file, the key and the value): N at most :data:`MAX_HEADER_BYTES` (100 MB, the reference's cap;
nothing larger is ever allocated) and within the file; the header valid UTF-8 JSON, an object
without duplicate keys; every dtype known; shapes lists of non-negative integers; offsets integers
``0 <= b <= e`` whose length matches shape and dtype; sorted by offset, the tensors cover the buffer
exactly (each begins where the previous one ends, the last ends at the file's end).

The writer gives the reference ``safetensors.numpy.save_file``'s bytes: tensors ordered by dtype
(the rank of :data:`DTYPES`, highest first) then by name, the header compact JSON
(``{"__metadata__": ...}`` first, non-ASCII written as UTF-8), padded with spaces to a multiple of
8. One difference: the reference writes ``__metadata__``'s keys in a random order (a Rust
``HashMap``) when there are two or more; we write them sorted, so our bytes are deterministic and
equal to the reference's whenever the metadata has at most one key.

================  ===============  ====
safetensors       our dtype        rank
================  ===============  ====
BOOL              bool              0
U8                uint8             1
I8                int8              2
F8_E5M2           float8_e5m2       3
F8_E4M3           float8_e4m3fn     4
I16               int16             5
U16               uint16            6
F16               float16           7
BF16              bfloat16          8   (``ml_dtypes.bfloat16``, as everywhere in the package)
I32               int32             9
U32               uint32           10
F32               float32          11
C64               complex64        12
F64               float64          13
I64               int64            14
U64               uint64           15
================  ===============  ====

The reference's other dtypes (``F4``, ``F6_E2M3``, ``F6_E3M2``, ``F8_E8M0``, ``F8_E4M3FNUZ``,
``F8_E5M2FNUZ``) have no TensorFlow counterpart: a file holding them raises
:class:`~purekeras_io.errors.UnsupportedDtypeError` naming the tensor. (The reference's own
Python loaders cannot return BF16 as NumPy, nor F8 in any framework; ours give
``ml_dtypes`` arrays.)

**Sharded checkpoints.** ``load_safetensors("model.safetensors.index.json")`` reads Hugging
Face's index (``{"metadata": {...}, "weight_map": {tensor name: shard file}}``, shard files
beside it) and returns the tensors of every shard, by the index's names; a name the index lists
but its shard lacks, a shard outside the index's folder, or a shard holding tensors the index
does not list is a :class:`~purekeras_io.errors.FormatError`.

**Lazy reads.** ``load_safetensors(path)`` parses and validates the header only and returns
:class:`SafetensorsTensor` objects (see :mod:`purekeras_io.lazy`): ``shape``, ``dtype``,
``nbytes`` without reading; ``np.asarray(t)`` and ``t[i:j]`` (rows) are read-only views of a
memory map of the file, so a model assigned them (``Variable.assign`` keeps lazy arrays) and saved
streams every weight without holding two copies. ``lazy=False`` returns in-memory NumPy arrays.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import sys
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np

from .. import dtypes as _dtypes
from .._io import atomic_file
from ..errors import ConfigError, FormatError, UnsupportedDtypeError
from ..lazy import iter_row_blocks, unwrap

__all__ = [
    "DTYPES",
    "MAX_HEADER_BYTES",
    "SafetensorsTensor",
    "load_safetensors",
    "read_safetensors_header",
    "save_safetensors",
]

MAX_HEADER_BYTES = 100_000_000
"""Largest header a reader accepts (the reference library's limit)."""

PathLike = str | os.PathLike[str]


class STDtype(NamedTuple):
    """One row of the dtype table."""

    name: str
    """The safetensors dtype string."""
    ours: str
    """Our dtype name (:mod:`purekeras_io.dtypes`)."""

    @property
    def numpy(self) -> np.dtype:
        return _dtypes.by_keras_name(self.ours).numpy


DTYPES: tuple[STDtype, ...] = tuple(
    STDtype(name, ours)
    for name, ours in (
        ("BOOL", "bool"),
        ("U8", "uint8"),
        ("I8", "int8"),
        ("F8_E5M2", "float8_e5m2"),
        ("F8_E4M3", "float8_e4m3fn"),
        ("I16", "int16"),
        ("U16", "uint16"),
        ("F16", "float16"),
        ("BF16", "bfloat16"),
        ("I32", "int32"),
        ("U32", "uint32"),
        ("F32", "float32"),
        ("C64", "complex64"),
        ("F64", "float64"),
        ("I64", "int64"),
        ("U64", "uint64"),
    )
)
"""The table (in the reference's rank order: the writer puts higher ranks first)."""

_BY_NAME = {row.name: row for row in DTYPES}
_BY_OURS = {row.ours: row for row in DTYPES}
_RANK = {row.name: rank for rank, row in enumerate(DTYPES)}
_KNOWN_UNSUPPORTED = ("F4", "F6_E2M3", "F6_E3M2", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ")
MAX_INDEX_BYTES = 100_000_000
"""Largest sharded-checkpoint index a reader accepts."""
_METADATA = "__metadata__"


# ============================================================================ reading


class Entry(NamedTuple):
    """One tensor of a header: name, dtype row, shape and absolute byte range in the file."""

    name: str
    dtype: STDtype
    shape: tuple[int, ...]
    start: int
    stop: int


class Header(NamedTuple):
    """A validated header: tensors in the file's order, metadata, where the buffer begins."""

    entries: dict[str, Entry]
    metadata: dict[str, str] | None
    data_start: int
    file_size: int


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


class _Duplicate(Exception):
    pass


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_safetensors_header(path: PathLike) -> Header:
    """Parse and validate a file's header (reads 8 + N bytes, nothing of the buffer)."""
    where = os.fspath(path)
    try:
        with open(where, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(8)
            if len(head) < 8:
                raise FormatError(
                    f"{where}: not a safetensors file: {size} bytes, the 8-byte header length "
                    "is missing"
                )
            (n,) = struct.unpack("<Q", head)
            if n > MAX_HEADER_BYTES:
                raise FormatError(
                    f"{where}: header length {n} exceeds the {MAX_HEADER_BYTES}-byte limit "
                    "(damaged, or not a safetensors file)"
                )
            if 8 + n > size:
                raise FormatError(
                    f"{where}: header length {n} runs past the end of the file ({size} bytes)"
                )
            raw = fh.read(n)
    except FileNotFoundError as exc:
        raise FormatError(f"{where}: no such file ({exc})") from exc
    return _parse_header(where, raw, 8 + n, size)


def _parse_header(where: str, raw: bytes, data_start: int, size: int) -> Header:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(f"{where}: header is not UTF-8 ({exc})") from None
    if not text.startswith("{"):
        raise FormatError(f"{where}: header must be a JSON object, starts with {text[:20]!r}")
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates)
    except _Duplicate as exc:
        raise FormatError(f"{where}: header has the key {exc.args[0]!r} twice") from None
    except (ValueError, RecursionError) as exc:
        raise FormatError(f"{where}: header is not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise FormatError(f"{where}: header must be a JSON object, received {type(doc).__name__}")
    metadata = doc.pop(_METADATA, None)
    if metadata is not None and not (
        isinstance(metadata, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
    ):
        raise FormatError(
            f"{where}: {_METADATA} must map strings to strings, received {str(metadata)[:200]}"
        )
    buffer = size - data_start
    entries = {name: _entry(where, name, info, data_start) for name, info in doc.items()}
    end = 0
    for entry in sorted(entries.values(), key=lambda e: (e.start, e.stop)):
        if entry.start - data_start != end:
            before = entry.start - data_start < end
            kind = "overlaps the previous tensor" if before else "leaves a gap"
            raise FormatError(
                f"{where}: tensor {entry.name!r}: data_offsets "
                f"[{entry.start - data_start}, {entry.stop - data_start}] {kind} (expected to "
                f"begin at {end})"
            )
        end = entry.stop - data_start
    if end != buffer:
        raise FormatError(
            f"{where}: the tensors cover {end} bytes of a {buffer}-byte data buffer "
            "(truncated file, or bytes after the last tensor)"
        )
    return Header(entries, metadata, data_start, size)


def _entry(where: str, name: str, info: Any, data_start: int) -> Entry:
    if not isinstance(info, dict):
        raise FormatError(f"{where}: tensor {name!r}: entry must be an object, received {info!r}")
    missing = [k for k in ("dtype", "shape", "data_offsets") if k not in info]
    if missing:
        raise FormatError(f"{where}: tensor {name!r}: missing {', '.join(missing)}")
    dtype = info["dtype"]
    row = _BY_NAME.get(dtype) if isinstance(dtype, str) else None
    if row is None:
        if dtype in _KNOWN_UNSUPPORTED:
            raise UnsupportedDtypeError(
                f"{where}: tensor {name!r}: safetensors dtype {dtype} has no TensorFlow "
                "counterpart"
            )
        raise FormatError(
            f"{where}: tensor {name!r}: unknown dtype {dtype!r}; known: "
            + ", ".join(row.name for row in DTYPES)
        )
    shape = info["shape"]
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        raise FormatError(
            f"{where}: tensor {name!r}: shape must be a list of non-negative integers, "
            f"received {shape!r}"
        )
    offsets = info["data_offsets"]
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(_is_int(o) and o >= 0 for o in offsets)
        or offsets[0] > offsets[1]
    ):
        raise FormatError(
            f"{where}: tensor {name!r}: data_offsets must be [begin, end] with "
            f"0 <= begin <= end, received {offsets!r}"
        )
    count = 1
    for dim in shape:
        count *= dim
    nbytes = count * row.numpy.itemsize
    if offsets[1] - offsets[0] != nbytes:
        raise FormatError(
            f"{where}: tensor {name!r}: data_offsets {offsets} hold {offsets[1] - offsets[0]} "
            f"bytes, shape {shape} of {dtype} needs {nbytes}"
        )
    return Entry(name, row, tuple(shape), data_start + offsets[0], data_start + offsets[1])


class _Mapped:
    """The memory map of one file, opened on the first read and shared by its tensors."""

    def __init__(self, path: str, size: int) -> None:
        self.path = path
        self.size = size
        self._map: mmap.mmap | None = None

    def view(self, dtype: np.dtype, start: int, count: int, shape: tuple[int, ...]) -> np.ndarray:
        if count == 0:
            arr = np.empty(shape, dtype)
            arr.flags.writeable = False
            return arr
        if self._map is None:
            with open(self.path, "rb") as fh:
                if os.fstat(fh.fileno()).st_size != self.size:
                    raise FormatError(
                        f"{self.path}: the file changed size since its header was read "
                        f"({self.size} bytes then)"
                    )
                self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        arr = np.frombuffer(self._map, dtype=dtype.newbyteorder("<"), count=count, offset=start)
        if sys.byteorder == "big" and dtype.itemsize > 1:  # pragma: no cover - LE machines
            arr = arr.astype(dtype)
            arr.flags.writeable = False
        return arr.reshape(shape)


_OPEN: dict[tuple[int, str], tuple[Header, _Mapped]] = {}


def _reopen(path: str, key: str) -> SafetensorsTensor:
    slot = (os.getpid(), path)
    if slot not in _OPEN:
        header = read_safetensors_header(path)
        _OPEN[slot] = (header, _Mapped(path, header.file_size))
    header, mapped = _OPEN[slot]
    return SafetensorsTensor(mapped, header.entries[key])


class SafetensorsTensor:
    """One tensor of a safetensors file, read on demand (a lazy array, :mod:`purekeras_io.lazy`).

    ``np.asarray(t)`` is the whole tensor and ``t[i:j]`` rows ``i..j``: read-only views of the
    file's memory map (nothing is copied); other indexes read the whole tensor first. Pickles
    as (path, key): another process maps the file again."""

    def __init__(self, mapped: _Mapped, entry: Entry) -> None:
        self._mapped = mapped
        self._entry = entry
        self.key = entry.name
        self.path = mapped.path
        self.shape: tuple[int, ...] = entry.shape
        self.dtype: np.dtype = entry.dtype.numpy

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count

    @property
    def nbytes(self) -> int:
        return self._entry.stop - self._entry.start

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a scalar tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        return f"<SafetensorsTensor {self.key!r} {self.dtype}{list(self.shape)} of {self.path}>"

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return _reopen, (self.path, self.key)

    def _rows(self, start: int, stop: int) -> np.ndarray:
        row = self.size // self.shape[0] if self.shape[0] else 0
        return self._mapped.view(
            self.dtype,
            self._entry.start + start * row * self.dtype.itemsize,
            (stop - start) * row,
            (stop - start, *self.shape[1:]),
        )

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        arr = self._mapped.view(self.dtype, self._entry.start, self.size, self.shape)
        if dtype is not None and np.dtype(dtype) != arr.dtype:
            return arr.astype(dtype)
        return arr.copy() if copy else arr

    def __getitem__(self, index: Any) -> np.ndarray:
        if self.shape and isinstance(index, slice) and index.step in (None, 1):
            start, stop, _ = index.indices(self.shape[0])
            return self._rows(start, max(start, stop))
        return np.asarray(self)[index]


def load_safetensors(path: PathLike, *, lazy: bool = True) -> dict[str, Any]:
    """The tensors of a safetensors file, by name in the header's order: lazy
    :class:`SafetensorsTensor` objects (``lazy=True``) or in-memory NumPy arrays. The header is
    validated either way (see the module docstring); ``__metadata__`` is not among the tensors
    (see :func:`read_safetensors_header`). A ``*.index.json`` path loads a sharded checkpoint."""
    where = os.fspath(path)
    if where.endswith(".json"):
        return _load_index(where, lazy=lazy)
    header = read_safetensors_header(where)
    mapped = _Mapped(where, header.file_size)
    tensors = {name: SafetensorsTensor(mapped, entry) for name, entry in header.entries.items()}
    if lazy:
        return dict(tensors)
    return {name: np.array(t) for name, t in tensors.items()}


def _load_index(where: str, *, lazy: bool) -> dict[str, Any]:
    try:
        with open(where, "rb") as fh:
            raw = fh.read(MAX_INDEX_BYTES + 1)
    except FileNotFoundError as exc:
        raise FormatError(f"{where}: no such file ({exc})") from exc
    if len(raw) > MAX_INDEX_BYTES:
        raise FormatError(f"{where}: index larger than {MAX_INDEX_BYTES} bytes")
    try:
        doc = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except _Duplicate as exc:
        raise FormatError(f"{where}: index has the key {exc.args[0]!r} twice") from None
    except (ValueError, RecursionError) as exc:
        raise FormatError(f"{where}: index is not valid JSON ({exc})") from None
    weight_map = doc.get("weight_map") if isinstance(doc, dict) else None
    if not isinstance(weight_map, dict) or not all(
        isinstance(v, str) for v in weight_map.values()
    ):
        raise FormatError(
            f"{where}: a sharded-checkpoint index needs \"weight_map\": {{tensor: shard file}}"
        )
    folder = os.path.dirname(os.path.abspath(where))
    shards: dict[str, dict[str, Any]] = {}
    out: dict[str, Any] = {}
    for name, shard in weight_map.items():
        if os.path.basename(shard) != shard or shard in ("", ".", ".."):
            raise FormatError(
                f"{where}: tensor {name!r}: shard {shard!r} must be a file name in the index's "
                "folder"
            )
        if shard not in shards:
            shards[shard] = load_safetensors(os.path.join(folder, shard), lazy=lazy)
        if name not in shards[shard]:
            raise FormatError(f"{where}: tensor {name!r} is not in its shard {shard!r}")
        out[name] = shards[shard][name]
    for shard, tensors in shards.items():
        extra = sorted(set(tensors) - set(out))
        if extra:
            raise FormatError(
                f"{where}: shard {shard!r} holds tensors the index does not list: "
                + ", ".join(repr(n) for n in extra[:5])
            )
    return out


# ============================================================================ writing


def _named(tensors: Any) -> Iterable[tuple[Any, Any]]:
    if isinstance(tensors, Mapping):
        return tensors.items()
    weights = getattr(tensors, "weights", None)
    if weights is not None and not callable(weights):  # a model or a layer: its variables by path
        return [(v.path or v.name, v) for v in weights]
    raise ConfigError(
        f"save_safetensors: tensors must be a mapping of names to arrays or a model, received "
        f"{type(tensors).__name__}"
    )


def _plan(tensors: Any) -> list[tuple[str, STDtype, tuple[int, ...], Any]]:
    planned = []
    for name, value in _named(tensors):
        if not isinstance(name, str):
            raise ConfigError(f"save_safetensors: tensor names must be strings, received {name!r}")
        if name == _METADATA:
            raise ConfigError(f"save_safetensors: {_METADATA!r} is reserved, not a tensor name")
        array = unwrap(value)
        if not hasattr(array, "shape") or not hasattr(array, "dtype"):
            array = np.asarray(array)
        ours = _dtypes.by_numpy(array.dtype, what=f"save_safetensors: tensor {name!r}")
        row = _BY_OURS.get(ours.name)
        if row is None:
            raise UnsupportedDtypeError(
                f"save_safetensors: tensor {name!r}: dtype {ours.name} has no safetensors "
                "dtype; supported: " + ", ".join(r.ours for r in DTYPES)
            )
        planned.append((name, row, tuple(int(d) for d in array.shape), array))
    planned.sort(key=lambda item: (-_RANK[item[1].name], item[0]))
    return planned


def _header_bytes(
    planned: list[tuple[str, STDtype, tuple[int, ...], Any]], metadata: Mapping[str, str] | None
) -> bytes:
    doc: dict[str, Any] = {}
    if metadata is not None:
        if not isinstance(metadata, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
        ):
            raise ConfigError(
                f"save_safetensors: metadata must map strings to strings, received {metadata!r}"
            )
        doc[_METADATA] = {k: metadata[k] for k in sorted(metadata)}
    offset = 0
    for name, row, shape, _ in planned:
        count = 1
        for dim in shape:
            count *= dim
        nbytes = count * row.numpy.itemsize
        span = [offset, offset + nbytes]
        doc[name] = {"dtype": row.name, "shape": list(shape), "data_offsets": span}
        offset += nbytes
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return text + b" " * ((8 - len(text) % 8) % 8)


def save_safetensors(
    tensors: Mapping[str, Any] | Any,
    path: PathLike,
    *,
    metadata: Mapping[str, str] | None = None,
    fsync: bool = False,
) -> None:
    """Write ``tensors`` (name → array-like; or a model/layer: its weights by ``Variable.path``)
    as a safetensors file, atomically (a temporary beside ``path``, then ``os.replace``).

    Lazy arrays (a :class:`SafetensorsTensor`, a Dask array, a variable holding one) are
    streamed in row slabs, never read whole. The bytes are the reference library's (see the
    module docstring for the one difference, multi-key metadata order)."""
    planned = _plan(tensors)
    header = _header_bytes(planned, metadata)
    with atomic_file(path, fsync=fsync, what="save_safetensors") as fh:
        fh.write(struct.pack("<Q", len(header)))
        fh.write(header)
        for _, row, _, array in planned:
            little = row.numpy.newbyteorder("<") if row.numpy.itemsize > 1 else row.numpy
            for block in iter_row_blocks(array, dtype=little):
                fh.write(block.reshape(-1).view(np.uint8).data)
