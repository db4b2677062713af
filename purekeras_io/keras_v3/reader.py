"""Read a ``.keras`` archive (ours, Keras 3's or tf_keras') back into a model description.

What the reader trusts, and how it bounds what it reads:

* the zip directory is parsed by :mod:`zipfile`; ``config.json`` and ``metadata.json`` are read
  with a size cap (a lying or huge member cannot exhaust memory), and only parsed as JSON;
* ``model.weights.h5``: a STORED member is opened in place (a window on the archive, CRC-32
  checked first); a compressed one is extracted to a temporary file, bounded by its declared size
  (``zipfile`` stops there) and by a ratio cap;
* inside the HDF5 file only hard links to groups and to numeric datasets are followed (no soft or
  external links, no external or virtual storage, no object or string arrays); a dataset cannot
  declare more than ``_MAX_EXPANSION`` x the file size;
* ``model.weights.npz`` (pickled dicts) is refused, never unpickled; sharded weights are refused.

Missing groups of layers without variables are fine (Keras 3 writes none for some); a layer whose
variables are missing or whose count or shapes differ is a :class:`FormatError` naming the path.
"""

from __future__ import annotations

import io
import math
import os
import shutil
import struct
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import h5py
import numpy as np

from ..errors import ConfigError, FormatError, UnsupportedFeatureError, reading
from ..model.base import Model
from ..model.config_schema import check_compile_config
from ..model.dialect import neutral_value
from ..model.layer import UnknownLayer
from ..model.serialize import detect_dialect, model_from_config
from ..model.validate import MAX_JSON_BYTES, load_json
from .layout import CONFIG_MEMBER, METADATA_MEMBER, WEIGHTS_MEMBER, layer_groups
from .lazy_member import FileSource, LazyDataset, contiguous_offset
from .optimizer_state import restore_optimizer
from .zipstream import crc32

__all__ = [
    "CHECK_AT_LOAD_BYTES",
    "assign_tree",
    "load",
    "load_weights",
    "numbered",
    "open_h5",
    "read_archive",
    "read_weights_tree",
    "vars_datasets",
]

_MAX_JSON = MAX_JSON_BYTES  # config.json / metadata.json larger than this is refused
_MAX_RATIO = 100  # a compressed weights member may expand at most this much (above the floor)
_RATIO_FLOOR = 1 << 28
_MAX_EXPANSION = 1000  # a dataset may not declare more than this x the HDF5 file size
_CHUNK = 16 << 20


# ---------------------------------------------------------------- archive access


class _Window(io.RawIOBase):
    """A read-only file object over ``[start, start + size)`` of an open file."""

    def __init__(self, fh: Any, start: int, size: int) -> None:
        super().__init__()
        self._fh, self._start, self._size, self._pos = fh, start, size, 0

    @property
    def start(self) -> int:
        """Where the window starts in the underlying file."""
        return self._start

    @property
    def size(self) -> int:
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        n = max(0, min(len(view), self._size - self._pos))
        if n == 0:
            return 0
        self._fh.seek(self._start + self._pos)
        got = self._fh.readinto(view[:n])
        self._pos += got
        return int(got)

    def read_array(self, offset: int, dtype: np.dtype, shape: tuple[int, ...], what: str) -> Any:
        """A contiguous dataset's bytes at ``offset``, read straight into a new array."""
        arr = np.empty(shape, dtype=dtype)
        flat: Any = arr.reshape(-1).view(np.uint8)
        view = memoryview(flat)
        if offset < 0 or offset + len(view) > self._size:
            raise FormatError(
                f"{what}: data at {offset}+{len(view)} lies outside the file ({self._size} bytes)"
            )
        self._fh.seek(self._start + offset)
        done = 0
        while done < len(view):
            got = self._fh.readinto(view[done:])
            if not got:
                raise FormatError(f"{what}: file ends inside the data")
            done += got
        return arr


def _why(exc: BaseException) -> str:
    """What a failed member read says (``zlib``'s ``EOFError`` says nothing)."""
    if isinstance(exc, EOFError):
        detail = f": {exc}" if str(exc) else ""
        return f"its compressed data ends before the end of the stream{detail}"
    return str(exc)


def _read_json(zf: zipfile.ZipFile, name: str, where: str) -> Any:
    size = zf.getinfo(name).file_size
    if size > _MAX_JSON:  # the directory's claim; a lying one is caught by the bounded read
        raise FormatError(
            f"{where}: member {name!r}: {size} bytes of JSON, more than the {_MAX_JSON} "
            "accepted; refused"
        )
    try:
        with zf.open(name) as fh:
            data = fh.read(_MAX_JSON + 1)
    except (
        zipfile.BadZipFile, OSError, RuntimeError, zlib.error, NotImplementedError, EOFError
    ) as exc:
        raise FormatError(f"{where}: member {name!r} cannot be read ({_why(exc)})") from None
    return load_json(data, f"{where}: member {name!r}", max_bytes=_MAX_JSON)


def _stored_data_offset(fh: Any, info: zipfile.ZipInfo, file_size: int, where: str) -> int:
    fh.seek(info.header_offset)
    header = fh.read(30)
    if len(header) != 30 or header[:4] != b"PK\x03\x04":
        raise FormatError(
            f"{where}: local header of {info.filename!r} at {info.header_offset} is damaged"
        )
    name_len = int.from_bytes(header[26:28], "little")
    extra_len = int.from_bytes(header[28:30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    if start + info.file_size > file_size:
        raise FormatError(
            f"{where}: member {info.filename!r} claims {info.file_size} bytes at offset {start}, "
            f"past the end of the archive ({file_size} bytes)"
        )
    return start


def _check_crc(fh: Any, start: int, size: int, expected: int, where: str) -> None:
    fh.seek(start)
    buf = bytearray(min(_CHUNK, max(size, 1)))
    view = memoryview(buf)
    crc, left = 0, size
    while left:
        n = fh.readinto(view[: min(len(buf), left)])
        if not n:
            raise FormatError(f"{where}: {WEIGHTS_MEMBER} is truncated")
        crc = crc32(view[:n], crc)
        left -= n
    if crc != expected:
        raise FormatError(
            f"{where}: {WEIGHTS_MEMBER} CRC-32 is {crc:08x}, the zip directory says {expected:08x}"
        )


@contextmanager
def _weights_file(
    zf: zipfile.ZipFile, fh: Any, file_size: int, where: str, verify_crc: bool = True
) -> Iterator[Any]:
    """The weights member as something h5py opens (window or bounded temporary copy)."""
    info = zf.getinfo(WEIGHTS_MEMBER)
    if info.flag_bits & 0x1:
        raise FormatError(f"{where}: {WEIGHTS_MEMBER} is encrypted")
    if info.compress_type == zipfile.ZIP_STORED:
        if info.compress_size != info.file_size:
            raise FormatError(
                f"{where}: STORED {WEIGHTS_MEMBER} has compressed size "
                f"{info.compress_size} != size {info.file_size}"
            )
        start = _stored_data_offset(fh, info, file_size, where)
        if verify_crc:
            _check_crc(fh, start, info.file_size, info.CRC, where)
        yield _Window(fh, start, info.file_size)
        return
    if info.file_size > _RATIO_FLOOR and info.file_size > _MAX_RATIO * max(info.compress_size, 1):
        raise FormatError(
            f"{where}: {WEIGHTS_MEMBER} would expand {info.compress_size} → {info.file_size} bytes "
            f"(more than {_MAX_RATIO}x); refused as a zip bomb"
        )
    with tempfile.TemporaryFile() as tmp:
        try:
            with zf.open(info) as src:
                shutil.copyfileobj(src, tmp, _CHUNK)
        except (
            zipfile.BadZipFile, OSError, RuntimeError, zlib.error, NotImplementedError, EOFError
        ) as exc:
            raise FormatError(
                f"{where}: {WEIGHTS_MEMBER} cannot be extracted ({_why(exc)})"
            ) from None
        tmp.seek(0)
        yield tmp


# ---------------------------------------------------------------- HDF5 tree


# A weights member up to this size has its CRC-32 checked at load even when the load is lazy:
# it costs little, and HDF5 metadata of a damaged file never reaches h5py (whose library can
# loop on some damage). A larger member is checked on the first tensor read.
CHECK_AT_LOAD_BYTES = 64 << 20

# what h5py raises on a damaged file (RuntimeError: the HDF5 library's own checks, e.g. a bad
# object header signature)
_H5_ERRORS = (KeyError, OSError, ValueError, TypeError, RuntimeError)


def _hard_child(parent: Any, name: str, where: str) -> Any:
    """``parent[name]`` if it is a hard link; None if absent; FormatError for other links."""
    here = f"{where}: {parent.name.rstrip('/')}/{name}"
    try:
        link = parent.get(name, getlink=True)
    except _H5_ERRORS as exc:
        raise FormatError(f"{here} cannot be opened ({exc})") from None
    if link is None:
        return None
    if not isinstance(link, h5py.HardLink):
        raise FormatError(f"{here} is a {type(link).__name__}; only hard links are read")
    try:
        return parent[name]
    except _H5_ERRORS as exc:
        raise FormatError(f"{here} cannot be opened ({exc})") from None


def _group_at(f: Any, path: str, where: str) -> Any:
    node = f
    for part in [p for p in path.split("/") if p]:
        node = _hard_child(node, part, where)
        if node is None:
            return None
        if not isinstance(node, h5py.Group):
            raise FormatError(f"{where}: {node.name} is a dataset, expected a group")
    return node


def _read_dataset(
    ds: Any,
    limit: int,
    where: str,
    window: _Window | None = None,
    source: FileSource | None = None,
) -> Any:
    """A dataset's array; with ``source`` (the file ``window`` lies in, opened for lazy reads) a
    contiguous dataset becomes a :class:`~.lazy_member.LazyDataset` (nothing read now)."""
    name = f"{where}: {ds.name}"
    if not isinstance(ds, h5py.Dataset):
        raise FormatError(f"{name} is a group, expected a dataset")
    try:
        special = ds.is_virtual or ds.external
        dtype, shape = ds.dtype, ds.shape
        tag = ds.attrs.get("dtype") if "dtype" in ds.attrs else None
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as exc:
        raise FormatError(f"{name} cannot be inspected ({exc})") from None
    if special:
        raise FormatError(f"{name} uses virtual or external storage; refused")
    bf16 = isinstance(tag, (str, bytes)) and tag in ("bfloat16", b"bfloat16")
    if dtype.kind not in "biuf" and not (dtype.kind == "V" and dtype.itemsize == 2 and bf16):
        raise FormatError(f"{name} has dtype {dtype}; only numeric variables are read")
    nbytes = math.prod(int(d) for d in shape) * dtype.itemsize if shape is not None else 0
    if nbytes > limit:
        raise FormatError(f"{name} declares {nbytes} bytes, more than the file can hold; refused")
    offset = contiguous_offset(ds) if window is not None and nbytes else None
    if window is not None and offset is not None and source is not None and shape:
        # (scalars — iterations, learning rate — are read now: a few bytes)
        if offset < 0 or offset + nbytes > window.size:
            raise FormatError(
                f"{name}: data at {offset}+{nbytes} lies outside the file ({window.size} bytes)"
            )
        if bf16:
            import ml_dtypes

            dtype = np.dtype(ml_dtypes.bfloat16)
        return LazyDataset(
            source, window.start + offset, tuple(int(d) for d in shape), dtype, name
        )
    if window is not None and offset is not None:
        arr = window.read_array(offset, dtype, tuple(int(d) for d in shape), name)
    else:
        try:
            value = ds[()]
        except (OSError, ValueError, TypeError, RuntimeError, MemoryError) as exc:
            raise FormatError(f"{name} cannot be read ({exc})") from None
        arr = np.asarray(value)
    if bf16:
        import ml_dtypes

        arr = arr.view(ml_dtypes.bfloat16)
    return arr


def vars_datasets(
    f: Any,
    vars_path: str,
    limit: int,
    where: str,
    window: _Window | None = None,
    source: FileSource | None = None,
) -> dict[str, Any] | None:
    """``{key: array}`` of the datasets of a ``vars`` group as they are (None when absent); with
    ``source``, contiguous ones lazy (:func:`_read_dataset`)."""
    group = _group_at(f, vars_path, where)
    if group is None:
        return None
    out: dict[str, Any] = {}
    try:
        keys = sorted(group.keys())
    except _H5_ERRORS as exc:
        raise FormatError(f"{where}: {vars_path} cannot be listed ({exc})") from None
    for key in keys:
        ds = _hard_child(group, key, where)
        if ds is None:
            raise FormatError(f"{where}: {vars_path}/{key} is listed but cannot be opened")
        out[key] = _read_dataset(ds, limit, where, window, source)
    return out


def numbered(found: dict[str, Any], vars_path: str, where: str) -> list[Any]:
    """The arrays of keys ``"0"…"n-1"`` in order, or a FormatError naming what is there."""
    keys = list(found)
    n = len(keys)
    if sorted(keys) != sorted(str(i) for i in range(n)):
        raise FormatError(
            f"{where}: {vars_path} holds {sorted(keys)[:10]}, expected datasets '0'…'{n - 1}'"
        )
    return [found[str(i)] for i in range(n)]


def _vars_arrays(
    f: Any,
    vars_path: str,
    limit: int,
    where: str,
    window: _Window | None = None,
    source: FileSource | None = None,
) -> list[Any] | None:
    """Datasets ``0…n-1`` of a ``vars`` group (None when the group is absent)."""
    found = vars_datasets(f, vars_path, limit, where, window, source)
    return None if found is None else numbered(found, vars_path, where)


def read_weights_tree(
    model: Model,
    f: Any,
    limit: int,
    where: str,
    dialect: str = "keras3",
    window: _Window | None = None,
    source: FileSource | None = None,
) -> None:
    """Assign every layer's variables from an open ``model.weights.h5`` (and optimizer state).

    With ``window`` (the file h5py reads), contiguous datasets are read straight into their
    arrays from the file instead of through h5py's buffers; with ``source`` too they are not read
    at all but become lazy arrays (:mod:`.lazy_member`). A damaged HDF5 structure (h5py and
    HDF5 raise many kinds of errors for it) is reported as :class:`FormatError`.
    """
    assign_tree(
        model,
        lambda vars_path: _vars_arrays(f, vars_path, limit, where, window, source),
        where,
        dialect,
    )


def assign_tree(
    model: Model, fetch: Callable[[str], list[Any] | None], where: str, dialect: str = "keras3"
) -> None:
    """Assign every layer's variables (and the optimizer state) from ``fetch(vars_path)``: the
    arrays ``0…n-1`` of that group, None when absent. Errors of h5py become FormatError."""
    try:
        _read_weights_tree(model, fetch, where, dialect)
    except (FormatError, UnsupportedFeatureError):
        raise
    except (
        OSError,
        RuntimeError,
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
        IndexError,
    ) as exc:
        raise FormatError(
            f"{where}: damaged HDF5 structure ({type(exc).__name__}: {exc})"
        ) from None


def _read_weights_tree(
    model: Model, fetch: Callable[[str], list[Any] | None], where: str, dialect: str
) -> None:
    for group in layer_groups(model, dialect):
        if group.path == "" or isinstance(group.layer, Model):
            continue
        arrays = fetch(group.vars_path)
        expected = group.variables
        layer = group.layer
        if isinstance(layer, UnknownLayer) and not expected:
            if arrays:
                layer.set_weights(arrays)
            continue
        got = len(arrays or [])
        if got != len(expected):
            raise FormatError(
                f"{where}: {group.vars_path} holds {got} variables, layer {group.name!r} "
                f"({layer.class_name() if layer else '?'}) expects {len(expected)}: "
                f"{[v.name for v in expected]}"
            )
        for i, (var, arr) in enumerate(zip(expected, arrays or [])):
            if tuple(arr.shape) != tuple(var.shape):
                raise FormatError(
                    f"{where}: {group.vars_path}/{i} has shape {tuple(arr.shape)}, variable "
                    f"{var.path or var.name!r} has shape {tuple(var.shape)}"
                )
            var.assign(arr)
    info = model.compile_info
    if info is None or info.optimizer is None:
        return
    arrays = fetch("optimizer/vars")
    if not arrays:
        return
    message = restore_optimizer(
        info.optimizer, arrays, model.trainable_weights, f"{where}: optimizer/vars", dialect
    )
    if message:
        warnings.warn(message, stacklevel=3)


# ---------------------------------------------------------------- config


def _compile(model: Model, config: Any, where: str) -> None:
    if not isinstance(config, dict) or not config or not config.get("optimizer"):
        return
    from .. import optimizers

    try:
        check_compile_config(config, "compile_config")
    except ConfigError as exc:
        raise FormatError(f"{where}: {CONFIG_MEMBER}: {exc}") from None
    try:
        identifier = config["optimizer"]
        opt = (
            optimizers.deserialize(identifier, "compile_config.optimizer")
            if isinstance(identifier, dict)
            else optimizers.get(identifier)
        )
    except ConfigError as exc:
        warnings.warn(
            f"{where}: compile_config: {exc}; the model is loaded uncompiled", stacklevel=3
        )
        return
    known = ("loss", "metrics", "loss_weights", "weighted_metrics")
    kwargs = {k: neutral_value(config.get(k)) for k in known}
    model.compile(
        optimizer=opt,
        run_eagerly=bool(config.get("run_eagerly") or False),
        steps_per_execution=int(config.get("steps_per_execution") or 1),
        jit_compile=bool(config.get("jit_compile") or False),
        **kwargs,
    )


def _model_from(config: Any, where: str) -> tuple[Model, str]:
    if not isinstance(config, dict) or "class_name" not in config:
        raise FormatError(f"{where}: {CONFIG_MEMBER} must be an object with 'class_name'")
    try:
        dialect = detect_dialect(config)
        model = model_from_config(config, dialect)  # type: ignore[arg-type]
    except ConfigError as exc:
        raise FormatError(f"{where}: {CONFIG_MEMBER}: {exc}") from None
    _compile(model, config.get("compile_config"), where)
    return model, dialect


# ---------------------------------------------------------------- entry points


def read_archive(filepath: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``(config, metadata)`` of an archive, without reading the weights."""
    where = str(filepath)
    with _open_zip(filepath, where) as (zf, _fh, _size):
        config = _read_json(zf, CONFIG_MEMBER, where)
        metadata = (
            _read_json(zf, METADATA_MEMBER, where) if METADATA_MEMBER in zf.namelist() else None
        )
    return config, metadata


@contextmanager
def _open_zip(filepath: Any, where: str) -> Iterator[tuple[zipfile.ZipFile, Any, int]]:
    own = not hasattr(filepath, "read")
    fh = open(os.fspath(filepath), "rb") if own else filepath
    try:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(0)
        try:
            zf = zipfile.ZipFile(fh, "r")
        except (
            zipfile.BadZipFile,
            zipfile.LargeZipFile,
            OSError,
            ValueError,
            EOFError,
            NotImplementedError,
            struct.error,
        ) as exc:
            raise FormatError(f"{where}: not a .keras zip archive ({exc})") from None
        with zf:
            yield zf, fh, size
    finally:
        if own:
            fh.close()


def _check_members(zf: zipfile.ZipFile, where: str) -> None:
    names = set(zf.namelist())
    for name in sorted(names):  # nothing is extracted, but such a name is a hostile archive
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts or (parts[0][1:2] == ":"):
            raise FormatError(f"{where}: member {name!r} escapes the archive's folder; refused")
    if CONFIG_MEMBER not in names:
        raise FormatError(f"{where}: no {CONFIG_MEMBER} member (members: {sorted(names)[:10]})")
    if WEIGHTS_MEMBER not in names:
        if "model.weights.npz" in names:
            raise UnsupportedFeatureError(
                f"{where}: weights are in model.weights.npz (pickled arrays); "
                "refused, never unpickled"
            )
        if any(n.endswith(".weights.json") for n in names):
            raise UnsupportedFeatureError(
                f"{where}: sharded weights (.weights.json) are not supported"
            )
        raise FormatError(f"{where}: no {WEIGHTS_MEMBER} member (members: {sorted(names)[:10]})")


def load(filepath: Any, **ignored: Any) -> Model:
    """See :func:`_load`; any error that is not ours becomes a ``FormatError`` naming the file."""
    with reading(filepath):
        return _load(filepath, **ignored)


def _load(
    filepath: Any, lazy: bool = True, verify_crc: bool | None = None, **ignored: Any
) -> Model:
    """A model (architecture, weights, compile settings, optimizer state) from a ``.keras`` file.

    ``lazy`` (default, for a path whose weights member is STORED): variables hold
    :class:`~.lazy_member.LazyDataset` views of the archive, read on first use. The member's
    CRC-32 (``verify_crc=None``, the default) is checked now when the member is at most
    :data:`CHECK_AT_LOAD_BYTES` or the load is eager; a larger member of a lazy load is checked
    when its first tensor is read, so that no weight byte is read at load. ``True`` checks now,
    ``False`` never."""
    where = str(filepath)
    if not hasattr(filepath, "read") and os.path.isdir(os.fspath(filepath)):
        return _load_dir(os.fspath(filepath), lazy)
    with _open_zip(filepath, where) as (zf, fh, size):
        _check_members(zf, where)
        config = _read_json(zf, CONFIG_MEMBER, where)
        model, dialect = _model_from(config, where)
        info = zf.getinfo(WEIGHTS_MEMBER)
        stored = info.compress_type == zipfile.ZIP_STORED
        source = _source(filepath, fh) if lazy and stored else None
        defer = verify_crc is None and source is not None and info.file_size > CHECK_AT_LOAD_BYTES
        check_now = verify_crc is True or (verify_crc is None and not defer)
        with _weights_file(zf, fh, size, where, check_now) as wf:
            limit = max(_MAX_EXPANSION * info.file_size, 1 << 20)
            if defer and source is not None and isinstance(wf, _Window):
                source.check_on_first_read(wf.start, info.file_size, info.CRC, WEIGHTS_MEMBER)
            with open_h5(wf, f"{where}: {WEIGHTS_MEMBER}") as (f, window):
                read_weights_tree(
                    model, f, limit, f"{where}: {WEIGHTS_MEMBER}", dialect, window, source
                )
        if defer and source is not None and not source.views:
            source.run_check()  # every tensor was read now: check now, as an eager load does
    return model


def _source(filepath: Any, fh: Any) -> FileSource | None:
    """The file ``fh`` (opened by us from the path ``filepath``) opened again for lazy reads;
    None for a file object of the caller's (its tensors are read now)."""
    if hasattr(filepath, "read"):
        return None
    try:
        source = FileSource(os.fspath(filepath))
    except OSError:
        return None
    if not source.same_file(fh):  # replaced between the two opens: read now
        source.close()
        return None
    return source


def _load_dir(path: str, lazy: bool = True) -> Model:
    where = path
    cfg_path = os.path.join(path, CONFIG_MEMBER)
    w_path = os.path.join(path, WEIGHTS_MEMBER)
    if not os.path.isfile(cfg_path) or not os.path.isfile(w_path):
        raise FormatError(
            f"{where}: an unzipped .keras directory needs {CONFIG_MEMBER} and {WEIGHTS_MEMBER}"
        )
    if os.path.getsize(cfg_path) > _MAX_JSON:
        raise FormatError(f"{where}: {CONFIG_MEMBER} is larger than {_MAX_JSON} bytes; refused")
    with open(cfg_path, "rb") as fh:
        config = load_json(fh.read(_MAX_JSON + 1), cfg_path, max_bytes=_MAX_JSON)
    model, dialect = _model_from(config, where)
    limit = max(_MAX_EXPANSION * os.path.getsize(w_path), 1 << 20)
    with open(w_path, "rb") as wf, open_h5(wf, w_path) as (f, window):
        source = _source(w_path, wf) if lazy else None
        read_weights_tree(model, f, limit, w_path, dialect, window, source)
    return model


@contextmanager
def open_h5(fileobj: Any, where: str) -> Iterator[tuple[Any, _Window]]:
    """h5py on ``fileobj`` (through a :class:`_Window`, which also serves direct reads)."""
    if isinstance(fileobj, _Window):
        window = fileobj
    else:
        fileobj.seek(0, 2)
        window = _Window(fileobj, 0, fileobj.tell())
    try:
        f = h5py.File(window, "r")
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
        raise FormatError(f"{where}: not a readable HDF5 file ({exc})") from None
    try:
        yield f, window
    finally:
        with suppress(Exception):
            f.close()


def load_weights(model: Model, filepath: Any, lazy: bool = True, **ignored: Any) -> None:
    """Read a ``.weights.h5`` file (Keras 3 ``save_weights``) into ``model`` (``lazy``: for a
    path, contiguous datasets are read on first use, see :mod:`.lazy_member`)."""
    where = str(filepath)
    own = not hasattr(filepath, "read")
    fh = open(os.fspath(filepath), "rb") if own else filepath
    try:
        fh.seek(0, 2)
        limit = max(_MAX_EXPANSION * fh.tell(), 1 << 20)
        fh.seek(0)
        source = _source(filepath, fh) if lazy and own else None
        with open_h5(fh, where) as (f, window):
            read_weights_tree(model, f, limit, where, model.source_dialect, window, source)
    finally:
        if own:
            fh.close()
