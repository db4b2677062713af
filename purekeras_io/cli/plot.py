"""``purekeras plot PATH OUT.{png,svg,dot}``: the model graph as Keras' plot_model draws it."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import UnsupportedFeatureError
from .ui import UI

__all__ = ["add_parser", "run"]


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("plot", parents=parents, help="(not yet written)",
                       description=(__doc__ or "").splitlines()[0])
    p.add_argument("path")


def run(args: argparse.Namespace, ui: UI) -> int:
    raise UnsupportedFeatureError("purekeras plot is not written yet")
