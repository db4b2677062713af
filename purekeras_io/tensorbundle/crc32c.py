"""CRC-32C (Castagnoli) and TensorBundle's CRC masking; spec: ``shared/docs/tensorbundle.md`` §6.

=========  ==========================================================================
CRC        reflected polynomial ``0x82F63B78``, init and xorout ``0xFFFFFFFF``
check      ``value(b"123456789") == 0xE3069283``
mask       ``((c >> 15) | (c << 17)) + 0xA282EAD8  (mod 2**32)``
unmask     ``r = m - 0xA282EAD8; (r >> 17) | (r << 15)  (mod 2**32)``
=========  ==========================================================================

``value`` and ``extend`` take ``bytes``, ``bytearray``, ``memoryview``, ``mmap`` or a C-contiguous
numpy array, and never copy a contiguous buffer. The fast path is ``google_crc32c`` (C, ~14 GB/s);
its API accepts only ``bytes`` or read-only buffers such as ndarrays and raises ``TypeError`` for
``memoryview``/``bytearray``/``mmap``, so those are passed as zero-copy ``np.frombuffer`` views
(``shared/docs/toolchain.md`` §4). When ``google_crc32c`` or its C extension is missing, a numpy
fallback (many lanes in parallel, combined with GF(2) arithmetic as in zlib's ``crc32_combine``)
gives ~100 MB/s instead of the ~3 MB/s of byte-at-a-time Python.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._crc import CrcCombiner
from .format import CRC_MASK_DELTA

__all__ = ["IMPLEMENTATION", "extend", "mask", "unmask", "value"]

_POLY = 0x82F63B78
_MASK32 = 0xFFFFFFFF

try:  # pragma: no cover - exercised implicitly
    import google_crc32c as _google

    if getattr(_google, "implementation", "c") != "c":  # its pure-Python fallback is slower
        _google = None  # type: ignore[assignment]
except ImportError:  # pragma: no cover
    _google = None  # type: ignore[assignment]

IMPLEMENTATION = "google_crc32c" if _google is not None else "numpy"
"""Which implementation ``value``/``extend`` use."""


def mask(crc: int) -> int:
    """The masked form stored on disk (block trailers, entry ``crc32c``, string length CRC)."""
    crc &= _MASK32
    return ((((crc >> 15) | (crc << 17)) & _MASK32) + CRC_MASK_DELTA) & _MASK32


def unmask(masked: int) -> int:
    """Inverse of :func:`mask`."""
    rot = (masked - CRC_MASK_DELTA) & _MASK32
    return ((rot >> 17) | (rot << 15)) & _MASK32


def _as_buffer(data: Any) -> Any:
    """``data`` as something google_crc32c accepts (``bytes`` or a read-only C-contiguous
    ndarray), without copying contiguous input."""
    if isinstance(data, bytes):
        return data
    arr = data if isinstance(data, np.ndarray) else np.frombuffer(data, dtype=np.uint8)
    if not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr)
    if arr.flags.writeable:
        arr = arr.view()
        arr.flags.writeable = False
    return arr


def value(data: Any) -> int:
    """CRC-32C of ``data``."""
    return extend(0, data)


def extend(crc: int, data: Any) -> int:
    """CRC-32C of ``previous ‖ data`` given ``crc`` = CRC-32C of ``previous``."""
    buf = _as_buffer(data)
    if _google is not None:
        return int(_google.extend(crc & _MASK32, buf))
    return _numpy_extend(crc & _MASK32, buf)


# --- numpy fallback -------------------------------------------------------------------------


def _make_table() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint32)
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        table[n] = c
    return table


_TABLE = _make_table()
_TABLE_LIST = [int(x) for x in _TABLE]


_GF2 = CrcCombiner(_POLY)


def _bytewise(crc: int, data: bytes) -> int:
    c = crc ^ _MASK32
    table = _TABLE_LIST
    for byte in data:
        c = table[(c ^ byte) & 0xFF] ^ (c >> 8)
    return c ^ _MASK32


_LANES = 4096
_CHUNK = 1 << 22


def _numpy_extend(crc: int, data: Any) -> int:
    """CRC-32C over a contiguous buffer with numpy: lanes in parallel, then combined."""
    flat = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data
    flat = flat.reshape(-1).view(np.uint8)
    total = flat.size
    pos = 0
    while pos < total:
        chunk = flat[pos : pos + _CHUNK]
        pos += chunk.size
        width = chunk.size // _LANES
        if width < 64:
            crc = _bytewise(crc, chunk.tobytes())
            continue
        cols = np.ascontiguousarray(chunk[: width * _LANES].reshape(_LANES, width).T)
        state = np.full(_LANES, _MASK32, dtype=np.uint32)
        for column in cols:
            state = _TABLE[(state ^ column) & 0xFF] ^ (state >> np.uint32(8))
        state ^= np.uint32(_MASK32)
        shift = _GF2.x8nmodp(width)
        for lane_crc in state.tolist():
            crc = _GF2.multmodp(shift, crc) ^ lane_crc
        crc = _bytewise(crc, chunk[width * _LANES :].tobytes())
    return crc
