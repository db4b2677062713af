"""``purekeras verify PATH [--json]``: the rules and checksums of the format, weights against
configs.

Format from content (:mod:`.detect`); the checks live beside each format's reader
(``tensorbundle/verify.py``, ``savedmodel/verify.py``, ``keras_v3/verify.py``,
``keras_v3/sharded.py`` for sharded ``.weights.json``, ``keras_h5/verify.py``) and collect
every problem instead of stopping at the first. Output: one line per problem,
``FILE: KEY: what was found``, then the notes (what the format cannot prove, such as HDF5's
missing data checksums) and a summary. Exit status: 0 clean, 1 problems found, 2 error
(missing file, unknown format).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..model.verify import Report
from .detect import detect
from .ui import UI

__all__ = ["add_parser", "run", "verify_path"]

CLEAN, PROBLEMS = 0, 1


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "verify", parents=parents,
        help="check a file's structure, checksums and weight shapes (exit 0 clean, 1 problems)",
        description=" ".join(__doc__.split("\n\n")[0].split(": ", 1)[1].split()),
    )
    p.add_argument("path", help="SavedModel directory, .h5, .keras, .weights.json or "
                   "checkpoint prefix")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def verify_path(path: str, ui: UI) -> Report:
    """Every problem of the file at ``path`` (a user error, such as a missing file, raises)."""
    detected = detect(path)
    report = Report(detected.given, detected.format)

    def progress(items: Any, total: int, desc: str) -> Any:
        return ui.progress(items, total=total, desc=desc)

    if detected.format == "checkpoint":
        from ..checkpoint.verify import verify_checkpoint

        verify_checkpoint(detected.path, report, progress)
    elif detected.format == "savedmodel":
        from ..savedmodel.verify import verify_savedmodel

        verify_savedmodel(detected.path, report, progress)
    elif detected.format == "weights-json":
        from ..keras_v3.sharded import verify_sharded

        verify_sharded(detected.path, report)
    elif detected.format == "keras":
        from ..keras_v3.verify import verify_keras

        verify_keras(detected.path, report)
    else:
        from ..keras_h5.verify import verify_h5

        verify_h5(detected.path, report)
    return report


def render_text(report: Report) -> str:
    lines = [str(p) for p in report.problems]
    lines += report.notes
    checked = ", ".join(f"{n} {what}" for what, n in report.checked.items()) or "nothing"
    verdict = "OK" if report.ok else f"{len(report.problems)} problem(s)"
    lines.append(f"{report.path} ({report.format}): {verdict}; checked {checked}")
    return "\n".join(lines)


def run(args: argparse.Namespace, ui: UI) -> int:
    report = verify_path(args.path, ui)
    if args.json:
        ui.print(json.dumps(report.to_json(), indent=2))
    else:
        ui.print(render_text(report))
    return CLEAN if report.ok else PROBLEMS
