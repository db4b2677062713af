"""``purekeras tensorboard PATH LOGDIR``: an event file with the model's graph for TensorBoard."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import UnsupportedFeatureError
from .ui import UI

__all__ = ["add_parser", "run"]


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("tensorboard", parents=parents, help="(not yet written)",
                       description=(__doc__ or "").splitlines()[0])
    p.add_argument("path")


def run(args: argparse.Namespace, ui: UI) -> int:
    raise UnsupportedFeatureError("purekeras tensorboard is not written yet")
