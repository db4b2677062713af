"""Verifying a ``.keras`` archive (or an unzipped one, or a Keras 3 ``.weights.h5``), every
problem reported (``keras_v3.md``).

================================  ===============================================================
rule                              checked how
================================  ===============================================================
zip directory                     parses; no member escapes the folder; ``config.json`` and
                                  ``model.weights.h5`` present
every member                      its local header agrees with the directory (name, and CRC and
                                  sizes unless a data descriptor follows); its bytes, inflated
                                  if compressed, have the directory's CRC-32 and size
``config.json``, ``metadata.json``  parse as JSON (bounded); the config builds a model
``model.weights.h5``              one ``vars`` group per object of the model (Keras' save walk,
                                  :func:`.layout.layer_groups`), datasets ``0…n-1``, numeric,
                                  each of the shape and dtype its layer config implies; the
                                  optimizer's variables fit its layout
================================  ===============================================================

HDF5 stores no checksum of its data: inside a zip the weights file is covered by the member's
CRC-32 only, and a loose ``.weights.h5`` or unzipped archive by nothing; the report says so.
"""

from __future__ import annotations

import os
import struct
import warnings
import zipfile
import zlib
from typing import Any

from ..model.base import Model
from ..model.layer import UnknownLayer
from ..model.validate import load_json
from ..model.verify import Report, compare_weights
from .layout import CONFIG_MEMBER, METADATA_MEMBER, WEIGHTS_MEMBER, layer_groups
from .optimizer_state import restore_optimizer
from .reader import (
    _MAX_EXPANSION,
    _MAX_JSON,
    _check_members,
    _model_from,
    _stored_data_offset,
    _vars_arrays,
    _weights_file,
    _Window,
    open_h5,
)

__all__ = ["NOTE_H5", "NOTE_ZIP", "verify_keras", "verify_weights_tree"]

NOTE_ZIP = ("note: model.weights.h5 is covered only by its zip CRC-32 (checked); HDF5 carries no "
            "checksum of its own data; its structure and shapes were checked against config.json")
NOTE_H5 = ("note: HDF5 carries no checksum of its data; structure and shapes checked, "
           "the values cannot be proven intact")
_CHUNK = 1 << 20


def _check_member_bytes(report: Report, where: str, zf: zipfile.ZipFile, fh: Any,
                        info: zipfile.ZipInfo) -> None:
    key = f"member {info.filename!r}"
    report.count("zip members")
    fh.seek(info.header_offset)
    local = fh.read(30)
    if len(local) == 30 and local[:4] == b"PK\x03\x04":
        flags, _method = struct.unpack_from("<HH", local, 6)
        crc, csize, usize = struct.unpack_from("<III", local, 14)
        name_len, extra_len = struct.unpack_from("<HH", local, 26)
        name = fh.read(name_len)
        if name.decode("utf-8" if flags & 0x800 else "cp437", "replace") != info.orig_filename:
            report.add(where, key, f"local header names it {name!r}")
        if not flags & 0x8:
            if crc != info.CRC:
                report.add(where, key, f"local header CRC-32 {crc:08x}, the zip directory "
                           f"says {info.CRC:08x}")
            if csize != 0xFFFFFFFF and (csize, usize) != (info.compress_size, info.file_size):
                report.add(where, key, f"local header sizes {csize}/{usize}, the zip "
                           f"directory says {info.compress_size}/{info.file_size}")
        del extra_len
    else:
        report.add(where, key, f"no local header at offset {info.header_offset}")
        return
    crc, size = 0, 0
    try:
        with zf.open(info) as src:
            src._expected_crc = None  # type: ignore[attr-defined]  # we compare it ourselves
            while True:
                chunk = src.read(_CHUNK)
                if not chunk:
                    break
                crc = zlib.crc32(chunk, crc)
                size += len(chunk)
                if size > info.file_size:
                    break
    except (zipfile.BadZipFile, OSError, RuntimeError, zlib.error, NotImplementedError,
            EOFError, ValueError) as exc:
        report.add(where, key, f"cannot be read ({exc})")
        return
    if size != info.file_size:
        report.add(where, key, f"{size} bytes, the zip directory says {info.file_size}")
    if crc != info.CRC:
        report.add(where, key, f"CRC-32 mismatch: calculated {crc:08x}, the zip directory "
                   f"says {info.CRC:08x}")


def _json_member(report: Report, where: str, zf: zipfile.ZipFile, name: str) -> Any:
    try:
        with zf.open(name) as fh:
            fh._expected_crc = None  # type: ignore[attr-defined]  # CRCs are reported above
            data = fh.read(_MAX_JSON + 1)
    except Exception as exc:
        report.add(where, f"member {name!r}", f"cannot be read ({exc})")
        return None
    with report.guard(where, f"member {name!r}"):
        return load_json(data, name, max_bytes=_MAX_JSON)
    return None


def verify_weights_tree(report: Report, model: Model, f: Any, dialect: str, where: str,
                        limit: int, window: _Window | None = None) -> None:
    """Every ``vars`` group the model needs, each variable against its config's shape and dtype,
    and the optimizer variables against the optimizer's layout."""
    for group in layer_groups(model, dialect):
        if group.path == "" or isinstance(group.layer, Model):
            continue
        key = group.vars_path
        arrays = None
        failed = False
        try:
            arrays = _vars_arrays(f, key, limit, where, window)
        except Exception as exc:
            report.add(where, key, str(exc).replace(f"{where}: ", ""))
            failed = True
        if failed:
            continue
        expected = group.variables
        layer = group.layer
        if isinstance(layer, UnknownLayer) and not expected:
            report.note(f"note: layer {group.name!r} ({layer.class_name()}) is outside the "
                        "catalog; its weights' shapes cannot be checked against its config")
            continue
        got = len(arrays or [])
        if got != len(expected):
            report.add(where, key, f"holds {got} variables, layer {group.name!r} "
                       f"({layer.class_name() if layer else '?'}) expects {len(expected)}: "
                       f"{[v.name for v in expected]}")
            continue
        for i, (var, arr) in enumerate(zip(expected, arrays or [])):
            compare_weights(report, where, f"{key}/{i}", var, arr)
    info = model.compile_info
    if info is None or info.optimizer is None:
        return
    try:
        arrays = _vars_arrays(f, "optimizer/vars", limit, where, window)
    except Exception as exc:
        report.add(where, "optimizer/vars", str(exc).replace(f"{where}: ", ""))
        return
    if not arrays:
        return
    report.count("optimizer variables", len(arrays))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with report.guard(where, "optimizer/vars"):
            message = restore_optimizer(info.optimizer, arrays, model.trainable_weights,
                                        "optimizer/vars", dialect)
            if message:
                report.add(where, "optimizer/vars", message.replace("optimizer/vars: ", ""))


def _weights(report: Report, where: str, zf: zipfile.ZipFile, fh: Any, size: int,
             model: Model, dialect: str) -> None:
    info = zf.getinfo(WEIGHTS_MEMBER)
    wwhere = f"{where}: {WEIGHTS_MEMBER}"
    limit = max(_MAX_EXPANSION * info.file_size, 1 << 20)
    if info.compress_type == zipfile.ZIP_STORED and info.compress_size == info.file_size:
        try:
            start = _stored_data_offset(fh, info, size, where)
        except Exception as exc:
            report.add(where, f"member {WEIGHTS_MEMBER!r}", str(exc).replace(f"{where}: ", ""))
            return
        window: Any = _Window(fh, start, info.file_size)
        with report.guard(wwhere, ""), open_h5(window, wwhere) as (f, win):
            verify_weights_tree(report, model, f, dialect, wwhere, limit, win)
        return
    with report.guard(wwhere, ""), _weights_file(zf, fh, size, where) as wf:
        with open_h5(wf, wwhere) as (f, win):
            verify_weights_tree(report, model, f, dialect, wwhere, limit, win)


def _model(report: Report, where: str, config: Any) -> tuple[Model, str] | None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            built = _model_from(config, where)
        except Exception as exc:
            report.add(where, CONFIG_MEMBER, str(exc).replace(f"{where}: ", "")
                       .replace(f"{CONFIG_MEMBER}: ", ""))
            return None
    for w in caught:
        report.note(f"note: {w.message}")
    report.count("layers", len(built[0].layers))
    return built


def verify_keras(path: str | os.PathLike[str], report: Report) -> None:
    """Check a ``.keras`` zip or an unzipped ``.keras`` directory."""
    where = os.fspath(path)
    if os.path.isdir(where):
        _verify_dir(where, report)
        return
    try:
        fh = open(where, "rb")
    except OSError as exc:
        report.add(where, "", f"cannot be read ({exc.strerror or exc})")
        return
    with fh:
        size = os.fstat(fh.fileno()).st_size
        try:
            zf = zipfile.ZipFile(fh, "r")
        except Exception as exc:
            report.add(where, "zip directory", f"not a readable zip archive ({exc})")
            return
        with zf:
            for info in zf.infolist():
                _check_member_bytes(report, where, zf, fh, info)
            try:
                _check_members(zf, where)
            except Exception as exc:
                report.add(where, "members", str(exc).replace(f"{where}: ", ""))
                return
            names = set(zf.namelist())
            if METADATA_MEMBER in names:
                _json_member(report, where, zf, METADATA_MEMBER)
            config = _json_member(report, where, zf, CONFIG_MEMBER)
            if config is None:
                return
            built = _model(report, where, config)
            if built is None:
                return
            _weights(report, where, zf, fh, size, *built)
    report.note(NOTE_ZIP)


def _verify_dir(where: str, report: Report) -> None:
    cfg = os.path.join(where, CONFIG_MEMBER)
    wpath = os.path.join(where, WEIGHTS_MEMBER)
    config = None
    with report.guard(cfg, ""):
        with open(cfg, "rb") as fh:
            config = load_json(fh.read(_MAX_JSON + 1), cfg, max_bytes=_MAX_JSON)
    if config is None:
        return
    built = _model(report, where, config)
    if built is None:
        return
    limit = max(_MAX_EXPANSION * os.path.getsize(wpath), 1 << 20)
    with report.guard(wpath, ""), open(wpath, "rb") as wf, open_h5(wf, wpath) as (f, win):
        verify_weights_tree(report, built[0], f, built[1], wpath, limit, win)
    report.note(NOTE_H5)
