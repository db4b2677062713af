"""``debug/saved_model_debug_info.pb``: where each graph node came from (``save_debug_info``).

TensorFlow writes a ``GraphDebugInfo`` there when ``SaveOptions(save_debug_info=True)``; the
converters (TFLite's MLIR converter, ``saved_model_cli``) use it to name the source of an op in
their messages. The form TensorFlow 2.21 writes (checked with a real save)::

    files:             [path, ...]                 file_index refers here
    frames_by_id:      {fixed64 id: FileLineCol}   FileLineCol = file_index, line, col, func, code
    traces_by_id:      {fixed64 id: StackTrace}    StackTrace.frame_id: frame ids, outermost first
    name_to_trace_id:  {"<node>@<function>": trace id}   one entry per node of every function

TensorFlow's frames are Python stack frames of the tracing code. Ours have no Python stack: a
node's source is the layer it was lowered from, so each trace is two frames, the model
(``func`` = model name, ``code`` = its class) and the layer (``func`` = layer name, ``line`` =
the layer's position in the model's layer order, ``code`` = ``Class(name)``), both in the one
file ``<purekeras_io VERSION: model NAME>``. A node is matched to a layer by the innermost
scope of its name (``<model>/<layer>/<op>``) that is a layer name; other nodes (signature
wrappers, loop bodies' own scaffolding) get the model's frame alone. Ids are small integers in a
fixed order, so the file is byte-reproducible.
"""

from __future__ import annotations

import re

from .._proto.tf import graph_debug_info_pb2, meta_graph_pb2
from ..model.base import Model

__all__ = ["DEBUG_DIR", "DEBUG_INFO_FILENAME", "build_debug_info"]

DEBUG_DIR = "debug"
DEBUG_INFO_FILENAME = "saved_model_debug_info.pb"
_BAD = re.compile(r"[^A-Za-z0-9_.\-]")


def build_debug_info(
    meta_graph: meta_graph_pb2.MetaGraphDef, model: Model, version: str
) -> graph_debug_info_pb2.GraphDebugInfo:
    """A ``GraphDebugInfo`` naming, for every node of every function, the layer it lowers."""
    info = graph_debug_info_pb2.GraphDebugInfo()
    info.files.append(f"<purekeras_io {version}: model {model.name}>")
    model_frame = info.frames_by_id[1]
    model_frame.file_index, model_frame.line = 0, 0
    model_frame.func, model_frame.code = model.name, model.class_name()
    info.traces_by_id[1].frame_id.append(1)
    by_scope: dict[str, int] = {}
    for position, layer in enumerate(model.iter_layers(), start=1):
        scope = _BAD.sub("_", layer.name)
        if scope in by_scope:
            continue
        ident = len(by_scope) + 2
        by_scope[scope] = ident
        frame = info.frames_by_id[ident]
        frame.file_index, frame.line = 0, position
        frame.func, frame.code = layer.name, f"{layer.class_name()}({layer.name!r})"
        info.traces_by_id[ident].frame_id.extend((1, ident))
    for function in meta_graph.graph_def.library.function:
        fname = function.signature.name
        for node in function.node_def:
            scopes = node.name.split("/")[:-1]
            ident = next((by_scope[p] for p in reversed(scopes) if p in by_scope), 1)
            info.name_to_trace_id[f"{node.name}@{fname}"] = ident
    return info
