"""What ``verify`` reports, shared by the per-format checkers (``<format>/verify.py``).

A checker never raises on a damaged file: each rule it breaks becomes one :class:`Problem`
(file, key, what was found), and the checker goes on with what still makes sense. Our readers'
errors (:class:`~purekeras_io.errors.PurekerasError`) and any other exception a damaged file
makes a library raise are caught by :meth:`Report.guard` and recorded as problems.

:func:`compare_weights` is the "weights against the layer configs" rule: the model built from
the file's config has variables of the shapes and dtypes the config implies; each stored array
must match its variable.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["Problem", "Report", "compare_weights"]


@dataclass(frozen=True)
class Problem:
    """One broken rule: the file, the key inside it (block, tensor, member, weight…), what."""

    file: str
    key: str
    message: str

    def __str__(self) -> str:
        key = f": {self.key}" if self.key else ""
        return f"{self.file}{key}: {self.message}"


@dataclass
class Report:
    """Problems, notes (what the format cannot prove) and counts of what was checked."""

    path: str
    format: str
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, file: str, key: str, message: str) -> None:
        """One problem; a message that repeats the file or key at its start is shortened."""
        text = " ".join(str(message).split())
        for prefix in (f"{file}: ", f"{key}: "):
            if prefix.strip(": ") and text.startswith(prefix):
                text = text[len(prefix):]
        self.problems.append(Problem(str(file), key, text or "damaged"))

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def count(self, what: str, n: int = 1) -> None:
        self.checked[what] = self.checked.get(what, 0) + n

    def extend(self, other: Report) -> None:
        self.problems.extend(other.problems)
        for n in other.notes:
            self.note(n)
        for k, v in other.checked.items():
            self.count(k, v)

    @contextlib.contextmanager
    def guard(self, file: str, key: str, what: str = "") -> Iterator[None]:
        """Run a check; any exception (ours or a library's) becomes one problem."""
        try:
            yield
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # a damaged file may make anything raise
            text = str(exc) or type(exc).__name__
            if not _names_error(exc):
                text = f"{type(exc).__name__}: {text}"
            self.add(file, key, f"{what}{': ' if what else ''}{text}")

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "ok": self.ok,
            "problems": [asdict(p) for p in self.problems],
            "notes": list(self.notes),
            "checked": dict(self.checked),
        }


def _names_error(exc: BaseException) -> bool:
    from ..errors import PurekerasError

    return isinstance(exc, PurekerasError)


def compare_weights(report: Report, file: str, key: str, var: Any, value: Any) -> bool:
    """One stored array against the model's variable (shape, then dtype); True when it fits."""
    report.count("weights")
    shape = tuple(int(d) for d in np.shape(value))
    want = tuple(int(d) for d in var.shape)
    ok = True
    if shape != want:
        report.add(file, key, f"shape {list(shape)}, but the layer config makes "
                   f"{var.path or var.name} {list(want)}")
        ok = False
    got_dtype = np.asarray(value).dtype if not hasattr(value, "dtype") else value.dtype
    want_dtype = np.dtype(var.dtype)
    if got_dtype.kind != "V" and np.dtype(got_dtype) != want_dtype:
        report.add(file, key, f"dtype {np.dtype(got_dtype)}, but the layer config makes "
                   f"{var.path or var.name} {want_dtype}")
        ok = False
    return ok
