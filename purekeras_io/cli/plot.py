"""``purekeras plot PATH OUT.{png,svg,dot}``: the model graph as Keras' ``plot_model`` draws it.

One box per layer (``name``, ``class``, and with shapes its input and output shapes), one edge per
tensor passed between layers, nested models as one box. The DOT text is made here, deterministic
(layers in the model's order, labels escaped as DOT's HTML-like labels); ``.dot`` needs nothing
else, ``.png``/``.svg``/``.pdf`` run Graphviz' ``dot`` found on ``PATH`` at run time.
"""

from __future__ import annotations

import argparse
import html
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ..errors import ConfigError, UnsupportedFeatureError
from ..model.base import Model
from .describe import layer_edges, output_shape
from .detect import detect
from .ui import UI, jsonable_shape, load_model_from

__all__ = ["RENDERED", "add_parser", "model_to_dot", "render", "run"]

RENDERED = ("png", "svg", "pdf")
INSTALL_HINT = (
    "Graphviz' 'dot' program is not on PATH: install Graphviz (apt install graphviz, "
    "brew install graphviz, conda install graphviz) or write OUT.dot, which needs nothing"
)


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("plot", parents=parents,
                       help="draw the model graph (.dot, or .png/.svg/.pdf through Graphviz)",
                       description=(__doc__ or "").splitlines()[0])
    p.add_argument("path", help="SavedModel directory, .h5 or .keras")
    p.add_argument("out", help="the picture to write: OUT.dot, OUT.png, OUT.svg or OUT.pdf")
    p.add_argument("--rankdir", choices=("TB", "LR"), default="TB",
                   help="top to bottom (default) or left to right")
    p.add_argument("--no-shapes", action="store_true", help="leave the shapes out")
    p.add_argument("--dtype", action="store_true", help="show each layer's dtype")
    p.add_argument("-f", "--force", action="store_true", help="replace OUT if it exists")


def _input_shape(layer: Any) -> Any:
    if not layer.inbound_nodes:
        return None
    shapes = [t.shape for t in layer.inbound_nodes[-1].input_tensors]
    if not shapes:
        return None
    shapes = [None if s is None else [None if d is None else int(d) for d in s] for s in shapes]
    return shapes[0] if len(shapes) == 1 else shapes


def _shape_text(shape: Any) -> str:
    return "?" if shape is None else jsonable_shape(shape)


def _label(layer: Any, show_shapes: bool, show_dtype: bool) -> str:
    def cell(text: str, bold: bool = False) -> str:
        body = html.escape(text, quote=True)
        return f"<td>{'<b>' + body + '</b>' if bold else body}</td>"

    rows = [f"<tr>{cell(layer.name, True)}{cell(str(layer.class_name()))}</tr>"]
    if show_dtype:
        rows.append(f'<tr><td colspan="2">dtype: {html.escape(str(layer.dtype))}</td></tr>')
    if show_shapes:
        rows.append(f"<tr>{cell('input: ' + _shape_text(_input_shape(layer)))}"
                    f"{cell('output: ' + _shape_text(output_shape(layer)))}</tr>")
    return ('<<table border="0" cellborder="1" cellspacing="0" cellpadding="4">'
            + "".join(rows) + "</table>>")


def model_to_dot(model: Model, show_shapes: bool = True, show_dtype: bool = False,
                 rankdir: str = "TB") -> str:
    """The model's layer graph as DOT text (same model, same bytes)."""
    if rankdir not in ("TB", "LR"):
        raise ConfigError(f"rankdir {rankdir!r}: expected 'TB' or 'LR'")
    ids = {layer.name: f"n{i}" for i, layer in enumerate(model.layers)}
    title = html.escape(model.name or "model", quote=True)
    lines = [
        "digraph model {",
        f'  graph [rankdir={rankdir}, label="{title}", labelloc=t, fontname="Helvetica"];',
        '  node [shape=plaintext, fontname="Helvetica", fontsize=11];',
        "  edge [arrowsize=0.7];",
    ]
    for layer in model.layers:
        lines.append(f"  {ids[layer.name]} [label={_label(layer, show_shapes, show_dtype)}];")
    edges = layer_edges(model)
    if not edges and model.__class__.__name__ == "Sequential":
        edges = [(a.name, b.name) for a, b in zip(model.layers, model.layers[1:], strict=False)]
    for src, dst in edges:
        lines.append(f"  {ids[src]} -> {ids[dst]};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(dot_text: str, out: str, fmt: str, timeout: float = 120.0) -> None:
    """Run Graphviz' ``dot -T<fmt>`` on ``dot_text`` into ``out``."""
    exe = shutil.which("dot")
    if exe is None:
        raise UnsupportedFeatureError(INSTALL_HINT)
    tmp = f"{out}.tmp-{os.getpid()}"
    try:
        proc = subprocess.run([exe, f"-T{fmt}", "-o", tmp], input=dot_text.encode(),
                              capture_output=True, timeout=timeout, check=False)
        if proc.returncode != 0:
            raise UnsupportedFeatureError(
                f"{out}: Graphviz 'dot -T{fmt}' failed (exit {proc.returncode}): "
                f"{proc.stderr.decode(errors='replace').strip()[:300]}")
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def run(args: argparse.Namespace, ui: UI) -> int:
    fmt = Path(args.out).suffix.lower().lstrip(".")
    if fmt not in ("dot", *RENDERED):
        raise ConfigError(f"{args.out}: the picture's extension must be .dot, .png, .svg or .pdf")
    if os.path.exists(args.out) and not args.force:
        raise ConfigError(f"{args.out}: exists; give --force to replace it")
    if fmt != "dot" and shutil.which("dot") is None:
        raise UnsupportedFeatureError(INSTALL_HINT)
    model = load_model_from(detect(args.path), ui)
    text = model_to_dot(model, show_shapes=not args.no_shapes, show_dtype=args.dtype,
                        rankdir=args.rankdir)
    if fmt == "dot":
        tmp = f"{args.out}.tmp-{os.getpid()}"
        Path(tmp).write_text(text, encoding="utf-8")
        os.replace(tmp, args.out)
    else:
        render(text, args.out, fmt)
    ui.info(f"wrote {args.out} ({len(model.layers)} layers)")
    return 0
