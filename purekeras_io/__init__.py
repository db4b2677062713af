"""purekeras_io: Keras and TensorFlow model files without TensorFlow."""

from __future__ import annotations

from . import dtypes, errors
from .errors import (
    ChecksumError,
    ConfigError,
    FileExistsRefusedError,
    FormatError,
    PurekerasError,
    TargetCompatibilityError,
    UnknownLayerError,
    UnsupportedDtypeError,
    UnsupportedFeatureError,
)

__version__ = "0.1.0"

__all__ = [
    "ChecksumError",
    "ConfigError",
    "FileExistsRefusedError",
    "FormatError",
    "PurekerasError",
    "TargetCompatibilityError",
    "UnknownLayerError",
    "UnsupportedDtypeError",
    "UnsupportedFeatureError",
    "__version__",
    "dtypes",
    "errors",
]
