"""The one dtype table: numpy / ml_dtypes ↔ TensorFlow ``DataType`` ↔ Keras string ↔ item size.

Every format module maps dtypes through this table and nowhere else. Lookups compare ``np.dtype``
objects for equality (or names), never ``.num`` or ``.char``: ml_dtypes assigns ``num`` at
registration time and ``char`` is ambiguous (``shared/docs/toolchain.md`` §5).

==================  ====  ==============  ======  ====================================
name                 TF   numpy           bytes   notes
==================  ====  ==============  ======  ====================================
float32               1   float32          4
float64               2   float64          8
int32                 3   int32            4
uint8                 4   uint8            1
int16                 5   int16            2
int8                  6   int8             1
string                7   object (bytes)   var.   TensorBundle has its own layout
complex64             8   complex64        8
int64                 9   int64            8      optimizer iteration counters
bool                 10   bool             1
bfloat16             14   ml_dtypes        2      HDF5 stores it opaque (``|V2``)
uint16               17   uint16           2
complex128           18   complex128      16
float16              19   float16          2      TF calls it DT_HALF
uint32               22   uint32           4
uint64               23   uint64           8
float8_e5m2          24   ml_dtypes        1      h5py cannot store it
float8_e4m3fn        25   ml_dtypes        1
==================  ====  ==============  ======  ====================================
"""

from __future__ import annotations

from typing import NamedTuple

import ml_dtypes
import numpy as np

from .errors import UnsupportedDtypeError

__all__ = [
    "DTYPES",
    "DT_INVALID",
    "DT_RESOURCE",
    "DT_VARIANT",
    "DType",
    "by_keras_name",
    "by_numpy",
    "by_tf_enum",
    "to_numpy",
]

DT_INVALID = 0
DT_RESOURCE = 20
DT_VARIANT = 21


class DType(NamedTuple):
    """One row of the table."""

    name: str
    """Our name; equal to the Keras 3 dtype string."""
    numpy: np.dtype
    """The numpy (or ml_dtypes) dtype; ``object`` for strings."""
    tf_enum: int
    """TensorFlow ``DataType`` value."""
    tf_name: str
    """TensorFlow ``DataType`` enum name."""
    itemsize: int
    """Bytes per element on disk; 0 for variable-length strings."""
    h5_storable: bool
    """Whether h5py can write it as a dataset."""


def _row(name: str, np_dtype: object, tf_enum: int, tf_name: str, h5: bool = True) -> DType:
    dt = np.dtype(np_dtype)  # type: ignore[call-overload]
    size = 0 if dt == np.dtype(object) else dt.itemsize
    return DType(name, dt, tf_enum, tf_name, size, h5)


DTYPES: tuple[DType, ...] = (
    _row("float32", np.float32, 1, "DT_FLOAT"),
    _row("float64", np.float64, 2, "DT_DOUBLE"),
    _row("int32", np.int32, 3, "DT_INT32"),
    _row("uint8", np.uint8, 4, "DT_UINT8"),
    _row("int16", np.int16, 5, "DT_INT16"),
    _row("int8", np.int8, 6, "DT_INT8"),
    _row("string", object, 7, "DT_STRING"),
    _row("complex64", np.complex64, 8, "DT_COMPLEX64"),
    _row("int64", np.int64, 9, "DT_INT64"),
    _row("bool", np.bool_, 10, "DT_BOOL"),
    _row("bfloat16", ml_dtypes.bfloat16, 14, "DT_BFLOAT16"),
    _row("uint16", np.uint16, 17, "DT_UINT16"),
    _row("complex128", np.complex128, 18, "DT_COMPLEX128"),
    _row("float16", np.float16, 19, "DT_HALF"),
    _row("uint32", np.uint32, 22, "DT_UINT32"),
    _row("uint64", np.uint64, 23, "DT_UINT64"),
    _row("float8_e5m2", ml_dtypes.float8_e5m2, 24, "DT_FLOAT8_E5M2", h5=False),
    _row("float8_e4m3fn", ml_dtypes.float8_e4m3fn, 25, "DT_FLOAT8_E4M3FN"),
)

_BY_NAME = {row.name: row for row in DTYPES}
_BY_ENUM = {row.tf_enum: row for row in DTYPES}
# Aliases Keras configs use for the same dtypes.
_ALIASES = {"float": "float32", "double": "float64", "half": "float16", "str": "string"}


# ``np.dtype`` → row, filled by :func:`by_numpy` (numpy dtypes compare by value, hash alike)
_BY_NUMPY: dict[np.dtype, DType] = {}


def by_numpy(dtype: object, *, what: str = "dtype") -> DType:
    """The row for a numpy dtype (or anything ``np.dtype`` accepts), compared by equality.

    Byte order is ignored (``>f4`` maps to float32); writers convert to little-endian.
    ``bytes``/``str`` arrays (``S``/``U`` kinds) map to ``string``.
    """
    try:
        dt = np.dtype(dtype)  # type: ignore[call-overload]
    except TypeError:
        raise UnsupportedDtypeError(f"{what}: {dtype!r} is not a dtype") from None
    if dt.kind in "SUO":
        return _BY_NAME["string"]
    found = _BY_NUMPY.get(dt)
    if found is not None:
        return found
    native = dt.newbyteorder("=") if dt.byteorder not in "=|" else dt
    for row in DTYPES:
        if row.numpy == native:
            _BY_NUMPY[dt] = row
            return row
    raise UnsupportedDtypeError(
        f"{what}: dtype {dt!s} has no TensorFlow DataType; supported: "
        + ", ".join(row.name for row in DTYPES)
    )


def by_tf_enum(value: int, *, what: str = "dtype") -> DType:
    """The row for a TensorFlow ``DataType`` number."""
    try:
        return _BY_ENUM[int(value)]
    except KeyError:
        raise UnsupportedDtypeError(
            f"{what}: TensorFlow DataType {value} is not supported; supported: "
            + ", ".join(f"{row.tf_enum} ({row.tf_name})" for row in DTYPES)
        ) from None


def by_keras_name(name: str, *, what: str = "dtype") -> DType:
    """The row for a Keras dtype string (``"float32"``, ``"bfloat16"``, …)."""
    key = _ALIASES.get(name, name)
    try:
        return _BY_NAME[key]
    except KeyError:
        raise UnsupportedDtypeError(
            f"{what}: Keras dtype {name!r} is not supported; supported: " + ", ".join(_BY_NAME)
        ) from None


def to_numpy(name: str) -> np.dtype:
    """The numpy dtype for a Keras dtype string."""
    return by_keras_name(name).numpy
