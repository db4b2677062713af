"""``purekeras inspect PATH [--json]``: what a model file holds, without TensorFlow.

Format from content (:mod:`.detect`); for a model: layers (name, class, output shape,
parameters, dtype), totals, inputs and outputs, compile information, optimizer state (iterations,
every variable's name, shape and dtype); for a SavedModel, also tags, signatures with their
tensor specs, graph functions, object graph and variables, with or without Keras metadata; for
a checkpoint or a weights-only ``.h5``, every tensor's key, shape and dtype; for Keras 3 sharded
weights (``.weights.json``), the weight map and each shard's datasets (key, shape, dtype, bytes)
with totals; file sizes always.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from .describe import (
    describe_checkpoint,
    describe_h5_weights,
    describe_model,
    describe_savedmodel,
    describe_weights_json,
    file_sizes,
)
from .detect import detect
from .ui import UI, has_keras_metadata, jsonable_shape, load_model_from

__all__ = ["add_parser", "inspect_path", "render_text", "run"]


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "inspect",
        parents=parents,
        help="show layers, shapes, parameters, compile info, optimizer state, signatures",
        description=__doc__.splitlines()[0].split(": ", 1)[1],
    )
    p.add_argument("path", help="SavedModel directory, .h5, .keras, .weights.json or "
                   "checkpoint prefix")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--weights", action="store_true",
                   help="list every weight (path, shape, dtype) in the text report")


def inspect_path(path: str, ui: UI) -> dict[str, Any]:
    """The whole report as JSON-ready data."""
    detected = detect(path)
    files = file_sizes(detected.path, detected.format)
    report: dict[str, Any] = {
        "path": detected.given,
        "format": detected.format,
        "files": files,
        "total_bytes": sum(f["bytes"] for f in files),
    }
    if detected.format == "savedmodel":
        report["savedmodel"] = describe_savedmodel(detected.path)
        if has_keras_metadata(detected):
            report["model"] = describe_model(load_model_from(detected, ui))
    elif detected.format == "checkpoint":
        report["checkpoint"] = describe_checkpoint(detected.path)
    elif detected.format == "h5-weights":
        report["h5_weights"] = describe_h5_weights(detected.path)
    elif detected.format == "weights-json":
        report["weights_json"] = describe_weights_json(detected.path)
    else:
        report["model"] = describe_model(load_model_from(detected, ui))
    return report


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _table(rows: list[list[str]], head: list[str]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  " + "  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip()]
    for r in rows:
        lines.append("  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
    return lines


def _tensors(title: str, rows: list[dict[str, Any]]) -> list[str]:
    out = [f"{title} ({len(rows)}):"]
    out += _table([[r["key"], jsonable_shape(r["shape"]), r["dtype"]] for r in rows],
                  ["key", "shape", "dtype"])
    return out


def _weights_json_text(w: dict[str, Any]) -> list[str]:
    t = w["totals"]
    size = w["total_size"]
    out = [f"weight map: {len(w['weight_map'])} groups in {t['shards']} shard(s); total_size "
           f"{'-' if size is None else f'{size:,.0f}'} bytes (metadata)"]
    for s in w["shards"]:
        out.append(f"shard {s['name']} ({len(s['tensors'])} datasets, {_size(s['bytes'])}):")
        out += _table([[r["key"], jsonable_shape(r["shape"]), r["dtype"], f"{r['bytes']:,}"]
                       for r in s["tensors"]], ["key", "shape", "dtype", "bytes"])
    out.append(f"totals: {t['tensors']} datasets, {t['bytes']:,} bytes ({_size(t['bytes'])}) "
               f"in {t['shards']} shard(s)")
    return out


def _model_text(m: dict[str, Any], weights: bool) -> list[str]:
    out = [f"model: {m['name']} ({m['class']})"]
    rows = [[la["name"], la["class"], jsonable_shape(la["output_shape"]), f"{la['params']:,}",
             la["dtype"], ", ".join(la["inbound"])] for la in m["layers"]]
    out += _table(rows, ["layer", "class", "output shape", "params", "dtype", "inbound"])
    t = m["totals"]
    out.append(f"params: {t['params']:,} total, {t['trainable']:,} trainable, "
               f"{t['non_trainable']:,} non-trainable ({t['weights']} weights, "
               f"{_size(t['weight_bytes'])})")
    for key in ("inputs", "outputs"):
        specs = ", ".join(f"{s['name']} {jsonable_shape(s['shape'])} {s['dtype']}"
                          for s in m[key])
        out.append(f"{key}: {specs or '-'}")
    if weights:
        out.append("weights:")
        out += _table([[w["path"], jsonable_shape(w["shape"]), w["dtype"],
                        "" if w["trainable"] else "non-trainable"] for w in m["weights"]],
                      ["path", "shape", "dtype", ""])
    c = m["compile"]
    if c is None:
        out.append("compiled: no")
    else:
        extra = {k: v for k, v in c.items() if k not in ("optimizer", "loss", "metrics")}
        out.append(f"compiled: optimizer {c['optimizer']}, loss {json.dumps(c['loss'])}, "
                   f"metrics {json.dumps(c['metrics'])}"
                   + "".join(f", {k} {json.dumps(v)}" for k, v in extra.items()))
    o = m["optimizer"]
    if o is not None:
        lr = o["config"].get("learning_rate")
        out.append(f"optimizer: {o['class']} (learning_rate {lr}), iterations {o['iterations']}, "
                   f"{len(o['variables'])} variables")
        if o.get("error"):
            out.append(f"  state: {o['error']}")
        out += _table([[v["name"], jsonable_shape(v["shape"]), v["dtype"]]
                       for v in o["variables"]], ["variable", "shape", "dtype"])
    return out


def _savedmodel_text(s: dict[str, Any]) -> list[str]:
    out = [f"saved_model.pb: schema version {s['schema_version']}, "
           f"keras_metadata.pb {'present' if s['keras_metadata'] else 'absent'}"]
    for mg in s["meta_graphs"]:
        og = mg["object_graph"]
        out.append(f"meta graph tags {mg['tags']}: {len(mg['functions'])} functions, "
                   f"{mg['graph_nodes']} graph nodes, {og['nodes']} objects "
                   f"(root children: {', '.join(og['root_children']) or '-'})")
        for name, sig in mg["signatures"].items():
            out.append(f"signature {name!r} ({sig['method']}):")
            for side in ("inputs", "outputs"):
                for key, info in sig[side].items():
                    out.append(f"  {side[:-1]:<6} {key}: {info['dtype']} "
                               f"{jsonable_shape(info['shape'])} ({info['name']})")
        if mg["functions"]:
            shown = mg["functions"][:8]
            more = len(mg["functions"]) - len(shown)
            out.append("functions: " + ", ".join(shown) + (f", … {more} more" if more else ""))
    if "variables" in s:
        out += _tensors("variables", s["variables"])
    return out


def render_text(report: dict[str, Any], weights: bool = False) -> str:
    """The report as the text ``inspect`` prints."""
    out = [f"{report['path']}: {report['format']}, {_size(report['total_bytes'])} in "
           f"{len(report['files'])} file(s)"]
    if len(report["files"]) > 1:
        out += [f"  {_size(f['bytes']):>10}  {f['path']}" for f in report["files"]]
    if "model" in report:
        out += _model_text(report["model"], weights)
    if "savedmodel" in report:
        out += _savedmodel_text(report["savedmodel"])
    if "checkpoint" in report:
        out += _tensors("tensors", report["checkpoint"]["tensors"])
    if "h5_weights" in report:
        out += _tensors("datasets", report["h5_weights"]["tensors"])
    if "weights_json" in report:
        out += _weights_json_text(report["weights_json"])
    return "\n".join(out)


def run(args: argparse.Namespace, ui: UI) -> int:
    report = inspect_path(args.path, ui)
    if args.json:
        ui.print(json.dumps(report, indent=2))
    else:
        ui.print(render_text(report, weights=args.weights))
    return 0
