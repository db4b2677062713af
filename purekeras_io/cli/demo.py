"""``purekeras demo OUTDIR``: save the seed example in every format and load each back."""

from __future__ import annotations

import argparse
from typing import Any

from .ui import UI

__all__ = ["add_parser", "run"]


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", parents=parents, help="save the seed example in every format",
                       description=__doc__.splitlines()[0].split(": ", 1)[1])
    p.add_argument("outdir", nargs="?", default="purekeras_demo")


def run(args: argparse.Namespace, ui: UI) -> int:
    from ..__main__ import demo

    failed = False
    for path, result in demo(args.outdir):
        ui.print(f"{path}: {result}")
        failed = failed or result == "MISMATCH"
    return 1 if failed else 0
