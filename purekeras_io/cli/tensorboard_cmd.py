"""``purekeras tensorboard PATH LOGDIR``: an event file with the model's graph for TensorBoard.

The graph is the ``GraphDef`` a graph-mode loader runs: the main graph of the SavedModel (its
placeholders, variables, the call of ``serving_default`` and the function library with the
lowered layers). A SavedModel that has one (TensorFlow's own, or ours) gives it as it is; any
other model file is written as a SavedModel in a temporary folder by our writer and its graph is
taken. A model we cannot lower gets the layer graph instead (one node per layer, its op the layer
class, its inputs the layers it reads), with a warning. View with ``tensorboard --logdir LOGDIR``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from .._proto.tf import graph_pb2, saved_model_pb2
from ..errors import FormatError, PurekerasError
from ..model.base import Model
from ..tensorboard import write_graph_event_file
from .describe import layer_edges
from .detect import Detected, detect
from .ui import UI, load_model_from

__all__ = ["add_parser", "layer_graph", "model_graph", "run"]


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("tensorboard", parents=parents,
                       help="write a TensorBoard event file with the model's graph",
                       description=(__doc__ or "").splitlines()[0])
    p.add_argument("path", help="SavedModel directory, .h5 or .keras")
    p.add_argument("logdir", help="the folder for the event file (made if missing)")
    p.add_argument("--wall-time", type=float, default=None,
                   help="the events' time stamp in seconds (default: now); fixes the bytes")


def _saved_graph(pb: Path) -> graph_pb2.GraphDef | None:
    saved = saved_model_pb2.SavedModel()
    try:
        saved.ParseFromString(pb.read_bytes())
    except Exception as exc:
        raise FormatError(f"{pb}: does not parse as SavedModel ({exc})") from None
    if not saved.meta_graphs or not saved.meta_graphs[0].graph_def.node:
        return None
    return saved.meta_graphs[0].graph_def


def layer_graph(model: Model) -> graph_pb2.GraphDef:
    """One node per layer (op = layer class), inputs = the layers it reads."""
    graph = graph_pb2.GraphDef()
    inputs: dict[str, list[str]] = {}
    for src, dst in layer_edges(model):
        inputs.setdefault(dst, []).append(src)
    for layer in model.layers:
        node = graph.node.add(name=layer.name, op=str(layer.class_name()))
        node.input.extend(inputs.get(layer.name, []))
    return graph


def model_graph(detected: Detected, ui: UI) -> graph_pb2.GraphDef:
    if detected.format == "savedmodel":
        graph = _saved_graph(Path(detected.path) / "saved_model.pb")
        if graph is not None:
            return graph
    model = load_model_from(detected, ui)
    from .. import models

    with tempfile.TemporaryDirectory(prefix="purekeras-tb-") as tmp:
        target = Path(tmp) / "sm"
        try:
            models.save_model(model, target, save_format="tf", include_optimizer=False)
            graph = _saved_graph(target / "saved_model.pb")
        except PurekerasError as exc:
            ui.warn(f"the model does not lower to a TensorFlow graph ({exc}); writing its "
                    "layer graph instead")
            graph = None
    return graph if graph is not None else layer_graph(model)


def run(args: argparse.Namespace, ui: UI) -> int:
    graph = model_graph(detect(args.path), ui)
    wall = time.time() if args.wall_time is None else args.wall_time
    path = write_graph_event_file(args.logdir, graph.SerializeToString(deterministic=True), wall)
    ui.info(f"wrote {path} ({len(graph.node)} nodes, {len(graph.library.function)} functions); "
            f"view it with: tensorboard --logdir {args.logdir}")
    return 0
