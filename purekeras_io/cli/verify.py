"""``purekeras verify PATH``: the rules and checksums of the format, weights against configs."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import UnsupportedFeatureError
from .ui import UI

__all__ = ["add_parser", "run"]


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("verify", parents=parents, help="(not yet written)",
                       description=(__doc__ or "").splitlines()[0])
    p.add_argument("path")


def run(args: argparse.Namespace, ui: UI) -> int:
    raise UnsupportedFeatureError("purekeras verify is not written yet")
