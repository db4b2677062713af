"""Which format a path holds, decided from its content (never from its extension alone).

========================  ===================================================================
format                    what is looked at
========================  ===================================================================
``savedmodel``            a directory holding ``saved_model.pb``
``keras``                 a zip archive (``PK\\x03\\x04``) holding ``config.json``,
                          or an unzipped ``.keras`` directory (``config.json`` +
                          ``model.weights.h5``)
``h5``                    an HDF5 file (``\\x89HDF\\r\\n\\x1a\\n`` at offset 0, 512, 1024 …)
                          whose root has a ``model_config`` attribute (a full model)
``h5-weights``            an HDF5 file with ``layer_names`` (tf_keras ``save_weights``) or a
                          ``layers`` group (Keras 3 ``.weights.h5``) and no model config
``checkpoint``            a TensorBundle: ``PATH.index`` exists, or ``PATH`` is the ``.index``
                          file, or a directory whose ``checkpoint`` state file names a prefix
``weights-json``          Keras 3 sharded weights (``save_weights("x.weights.json",
                          max_shard_size=…)``): a regular file whose JSON (the first 64 MiB
                          read) is an object with ``metadata`` and ``weight_map``; a damaged
                          one (does not parse, or lacks a key) still is when it names
                          ``"weight_map"`` or ends ``.weights.json``, so that ``verify`` can
                          report what is wrong; other malformed JSON is a :class:`FormatError`
========================  ===================================================================
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import FormatError

__all__ = ["FORMATS", "Detected", "detect"]

FORMATS = ("savedmodel", "keras", "h5", "h5-weights", "checkpoint", "weights-json")
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")
SAVED_MODEL_PB = "saved_model.pb"
INDEX_SUFFIX = ".index"
WEIGHTS_JSON_SUFFIX = ".weights.json"
MAX_JSON_HEAD = 64 << 20  # bytes of a JSON file read to decide its format


@dataclass(frozen=True)
class Detected:
    """A path and its format; ``path`` is what the format's reader takes (the TensorBundle
    prefix for a checkpoint, without ``.index``)."""

    path: str
    format: str
    given: str


def _is_hdf5(path: Path) -> bool:
    """HDF5's superblock may sit at 0 or at 512 · 2^k bytes (a user block)."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        offset = 0
        while offset + 8 <= size:
            fh.seek(offset)
            if fh.read(8) == HDF5_SIGNATURE:
                return True
            offset = 512 if offset == 0 else offset * 2
    return False


def _h5_kind(path: Path) -> str:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if "model_config" in f.attrs:
                return "h5"
            if "layer_names" in f.attrs or "layers" in f or "model_weights" in f:
                return "h5-weights"
    except OSError as exc:
        raise FormatError(f"{path}: an HDF5 signature, but h5py cannot open it ({exc})") from None
    raise FormatError(
        f"{path}: an HDF5 file, but not a Keras one (no model_config, layer_names or layers)"
    )


def _weights_json(path: Path, head: bytes) -> bool:
    """Whether a regular file (neither zip nor HDF5) is Keras 3 sharded weights (see the table);
    :class:`FormatError` for JSON that is malformed and shows no sign of being a weight map."""
    named = path.name.endswith(WEIGHTS_JSON_SUFFIX)
    if not head.lstrip().startswith(b"{") and not named:
        return False
    with open(path, "rb") as fh:
        data = fh.read(MAX_JSON_HEAD + 1)
    hinted = named or b'"weight_map"' in data
    try:
        doc = json.loads(data.decode("utf-8")) if len(data) <= MAX_JSON_HEAD else None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        if hinted:
            return True
        raise FormatError(f"{path}: malformed JSON ({exc}); not a model file") from None
    if isinstance(doc, dict) and "metadata" in doc and "weight_map" in doc:
        return True
    if hinted:
        return True
    if doc is None:
        raise FormatError(f"{path}: more than {MAX_JSON_HEAD} bytes of JSON without "
                          "'weight_map'; not a model file")
    raise FormatError(
        f"{path}: a JSON file without 'metadata' and 'weight_map'; not Keras sharded weights "
        "or any other model file"
    )


def _checkpoint_prefix(path: Path) -> str | None:
    text = str(path)
    if text.endswith(INDEX_SUFFIX) and path.is_file():
        return text[: -len(INDEX_SUFFIX)]
    if Path(text + INDEX_SUFFIX).is_file():
        return text
    if path.is_dir() and (path / "checkpoint").is_file():
        from ..checkpoint import latest_checkpoint

        latest = latest_checkpoint(path)
        if latest is not None and Path(latest + INDEX_SUFFIX).is_file():
            return latest
    return None


def detect(path: str | os.PathLike[str]) -> Detected:
    """The format of ``path``; :class:`FormatError` (one line, naming the path) otherwise."""
    given = os.fspath(path)
    p = Path(given)
    prefix = _checkpoint_prefix(p)
    if p.is_dir():
        if (p / SAVED_MODEL_PB).is_file():
            return Detected(given, "savedmodel", given)
        if (p / "config.json").is_file() and (p / "model.weights.h5").is_file():
            return Detected(given, "keras", given)
        if prefix is not None:
            return Detected(prefix, "checkpoint", given)
        raise FormatError(
            f"{given}: a directory without {SAVED_MODEL_PB}, an unzipped .keras or a checkpoint "
            "state file; not a model"
        )
    if prefix is not None:
        return Detected(prefix, "checkpoint", given)
    if not p.exists():
        raise FormatError(f"{given}: no such file or directory")
    if not p.is_file():
        raise FormatError(f"{given}: not a regular file or directory")
    with open(p, "rb") as fh:
        head = fh.read(8)
    if head[:4] in ZIP_SIGNATURES:
        return Detected(given, "keras", given)
    if _is_hdf5(p):
        return Detected(given, _h5_kind(p), given)
    if p.name == SAVED_MODEL_PB:
        return Detected(str(p.parent), "savedmodel", given)
    if _weights_json(p, head):
        return Detected(given, "weights-json", given)
    raise FormatError(
        f"{given}: not a SavedModel directory, .keras zip, HDF5 file, TensorBundle "
        f"checkpoint or sharded .weights.json (starts {head!r})"
    )
