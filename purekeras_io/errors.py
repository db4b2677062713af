"""The exceptions purekeras_io raises.

One root, :class:`PurekerasError`; every subclass also subclasses the built-in exception that fits,
so callers that already catch ``ValueError`` or ``OSError`` keep working. Messages name the file,
key or argument and the value received (and, where it helps, what was expected).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

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
    "reading",
]


class PurekerasError(Exception):
    """Root of every error purekeras_io raises on purpose."""


class FormatError(PurekerasError, ValueError):
    """A file is damaged or is not of the format it claims to be (names the file and the key)."""


class ChecksumError(FormatError):
    """A stored CRC-32C does not match the bytes it covers."""


class ConfigError(PurekerasError, ValueError):
    """A model, layer or optimizer config is malformed (names the key and the value).

    ``key_path`` is set when the message already names where in the config the value is
    (``config.layers[3].config.units``), so callers do not prefix it again."""

    key_path: str | None = None


class UnsupportedDtypeError(PurekerasError, TypeError):
    """A dtype that the target format (or TensorFlow itself) cannot represent."""


class UnsupportedFeatureError(PurekerasError, NotImplementedError):
    """Something the format allows but purekeras_io does not implement (yet)."""


class UnknownLayerError(UnsupportedFeatureError):
    """A layer class outside the catalog was asked to compute (its config and weights are kept)."""


class TargetCompatibilityError(PurekerasError, ValueError):
    """The model cannot be written for the requested target loader."""


class FileExistsRefusedError(PurekerasError, FileExistsError):
    """The target exists and overwriting it was declined (or could not be asked)."""


FOREIGN_READ_ERRORS: tuple[type[BaseException], ...] = (Exception,)
"""What a damaged file can make a library (h5py, zipfile, json, protobuf, numpy) or a config parser
raise: ``KeyError``, ``OSError``, ``RuntimeError``, ``EOFError``, ``zipfile.BadZipFile``,
``RecursionError`` … (``KeyboardInterrupt`` and ``SystemExit`` pass through)."""


@contextlib.contextmanager
def reading(path: object) -> Iterator[None]:
    """The boundary of a reader: an exception that is not ours becomes a :class:`FormatError`
    naming the file and what went wrong (the original is chained as ``__cause__``)."""
    try:
        yield
    except PurekerasError:
        raise
    except FileNotFoundError as exc:
        raise FormatError(f"{path}: no such file ({exc})") from exc
    except FOREIGN_READ_ERRORS as exc:
        kind = "config nested too deeply" if isinstance(exc, RecursionError) else type(exc).__name__
        raise FormatError(f"{path}: damaged or not a Keras file ({kind}: {exc})") from exc
