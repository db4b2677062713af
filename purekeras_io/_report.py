"""What a checker reports (``verify``), below every format and the model description: one
:class:`Problem` per broken rule (file, key inside it, what was found), notes on what a format
cannot prove, and counts of what was checked. A checker never raises on a damaged file;
:meth:`Report.guard` turns any exception a damaged file makes a library raise into a problem.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import PurekerasError

__all__ = ["Problem", "Progress", "Report", "no_progress"]

Progress = Callable[[Iterable[Any], int, str], Iterator[Any]]
"""``progress(items, total, desc)`` yields ``items``, drawing a bar if it likes."""


def no_progress(items: Iterable[Any], total: int, desc: str) -> Iterator[Any]:
    yield from items


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
    return isinstance(exc, PurekerasError)
