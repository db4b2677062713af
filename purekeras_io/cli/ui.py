"""Output helpers shared by the verbs: messages, warnings, progress bars, loading models.

Progress bars come from ``tqdm`` and show only on a terminal (stderr is a TTY) and without
``--quiet``; anywhere else the iterable passes through untouched.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO, TypeVar

from ..errors import FormatError
from ..model.base import Model
from .detect import Detected

__all__ = ["UI", "has_keras_metadata", "jsonable_shape", "load_model_from"]

T = TypeVar("T")


@dataclass
class UI:
    """Where a verb writes: ``out`` (results), ``err`` (warnings, progress)."""

    quiet: bool = False
    debug: bool = False
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)

    def print(self, text: str = "") -> None:
        print(text, file=self.out)

    def info(self, text: str) -> None:
        """A line for the user on stderr, dropped with ``--quiet``."""
        if not self.quiet:
            print(text, file=self.err)

    def warn(self, text: str) -> None:
        if not self.quiet:
            print(f"purekeras: warning: {text}", file=self.err)

    def progress(self, items: Iterable[T], total: int | None = None, desc: str = "") -> Iterator[T]:
        """``items``, with a progress bar on a terminal (after a second, as tqdm does)."""
        if self.quiet or not getattr(self.err, "isatty", lambda: False)():
            yield from items
            return
        try:
            from tqdm import tqdm
        except ImportError:  # tqdm is a dependency; a broken install still works, without bars
            yield from items
            return
        yield from tqdm(items, total=total, desc=desc, file=self.err, delay=1.0, leave=False,
                        unit="tensor")

    @contextlib.contextmanager
    def write_progress(self, dst: str, total: int, desc: str = "writing",
                       interval: float = 0.2, delay: float = 1.0) -> Iterator[None]:
        """A bar of the bytes written so far to ``dst``'s temporaries (our writers build every
        format under ``.<name>.<marker>-<pid>-…`` beside the target, see ``purekeras_io._io``),
        polled by a thread; on a terminal only, shown after ``delay`` seconds."""
        if self.quiet or total <= 0 or not getattr(self.err, "isatty", lambda: False)():
            yield
            return
        try:
            from tqdm import tqdm
        except ImportError:
            yield
            return
        folder = os.path.dirname(os.path.abspath(dst))
        mine = re.compile(rf"\.(tmp|ready|commit|tempstate)-?{os.getpid()}-[0-9a-f]{{16}}$")
        stop = threading.Event()
        bar = tqdm(total=total, desc=desc, file=self.err, delay=delay, leave=False,
                   mininterval=interval, unit="B", unit_scale=True, unit_divisor=1024)

        def poll() -> None:
            while not stop.wait(interval):
                done = _bytes_under(folder, mine)
                bar.update(max(0, min(done, total) - bar.n))

        thread = threading.Thread(target=poll, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            bar.update(total - bar.n)
            bar.close()


def _bytes_under(folder: str, pattern: re.Pattern[str]) -> int:
    """Bytes of the entries of ``folder`` whose names match (folders summed recursively)."""
    total = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        if not pattern.search(entry.name):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                for root, _dirs, files in os.walk(entry.path):
                    for f in files:
                        with contextlib.suppress(OSError):
                            total += os.path.getsize(os.path.join(root, f))
            else:
                total += entry.stat(follow_symlinks=False).st_size
        except OSError:
            continue
    return total


def load_model_from(detected: Detected, ui: UI) -> Model:
    """The model in a file that holds one (SavedModel with Keras metadata, ``.h5``, ``.keras``);
    the library's warnings are shown as ``purekeras: warning:`` lines."""
    from .. import models

    if detected.format == "checkpoint":
        raise FormatError(
            f"{detected.given}: a TensorBundle checkpoint holds weights only, no model config"
        )
    if detected.format == "h5-weights":
        raise FormatError(f"{detected.given}: a weights-only HDF5 file holds no model config")
    if detected.format == "weights-json":
        raise FormatError(
            f"{detected.given}: Keras 3 sharded weights (.weights.json and its shards) hold "
            "weights only, no model config"
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = models.load_model(detected.path)
    for w in caught:
        ui.warn(str(w.message))
    return model


def has_keras_metadata(detected: Detected) -> bool:
    """Whether a SavedModel holds a Keras model config (``keras_metadata.pb`` or the legacy
    copy in the root's ``user_object.metadata``)."""
    from ..savedmodel import read_root_metadata

    try:
        read_root_metadata(detected.path)
    except FormatError:
        return False
    return True


def jsonable_shape(value: Any) -> str:
    """``[None, 3]`` as ``(None, 3)``."""
    if isinstance(value, list) and value and isinstance(value[0], list):
        return ", ".join(jsonable_shape(v) for v in value)
    if isinstance(value, list):
        inner = ", ".join("None" if d is None else str(d) for d in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return "?" if value is None else str(value)
