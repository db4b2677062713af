"""``purekeras`` (also ``python -m purekeras_io``): inspect, convert, diff, verify and plot model
files in every format, without TensorFlow.

Each verb lives in its own module with ``add_parser(sub, parents)`` and ``run(args, ui)``.
A user's mistake (missing file, unknown format, a target that cannot hold the model) prints one
line, ``purekeras: error: …``, on stderr and exits 2; ``--debug`` shows the traceback instead.
``diff`` exits 0 when equal, 1 when different, 2 on error; ``verify`` exits 1 when it finds a
problem.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from typing import Any

from ..errors import PurekerasError
from .ui import UI

__all__ = ["VERBS", "build_parser", "main"]

EXIT_ERROR = 2
# verb → module in this package (each has add_parser and run).
VERBS = {
    "inspect": "inspect_cmd",
    "convert": "convert",
    "diff": "diff",
    "verify": "verify",
    "plot": "plot",
    "tensorboard": "tensorboard_cmd",
    "demo": "demo",
}


def _common() -> argparse.ArgumentParser:
    """Options every verb takes (also accepted before the verb)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="show the Python traceback of an error")
    p.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                   help="no warnings, notes or progress bars")
    return p


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    common = _common()  # the subparsers' copy: argparse shares action objects with parents
    parser = argparse.ArgumentParser(
        prog="purekeras", parents=[_common()],
        description="Inspect, convert, diff, verify and plot Keras / TensorFlow model files "
        "(SavedModel, .h5, .keras, .weights.h5, Keras 3 sharded .weights.json, TensorBundle "
        "checkpoints) without TensorFlow.",
    )
    parser.add_argument("--version", action="version", version=f"purekeras {__version__}")
    sub = parser.add_subparsers(dest="cmd", metavar="VERB")
    sub.required = True
    for module in VERBS.values():
        importlib.import_module(f"{__package__}.{module}").add_parser(sub, [common])
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one verb; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    ui = UI(quiet=bool(getattr(args, "quiet", False)), debug=bool(getattr(args, "debug", False)))
    module: Any = importlib.import_module(f"{__package__}.{VERBS[args.cmd]}")
    try:
        return int(module.run(args, ui))
    except KeyboardInterrupt:
        print("purekeras: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `purekeras inspect x | head`
        return 0
    except (PurekerasError, OSError) as exc:
        if ui.debug:
            traceback.print_exc()
        print(f"purekeras: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:
        if ui.debug:
            traceback.print_exc()
        print(
            f"purekeras: internal error: {type(exc).__name__}: {_one_line(exc)} "
            "(run with --debug for the traceback, and please report it)",
            file=sys.stderr,
        )
        return EXIT_ERROR


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
    return " ".join(text.split())
