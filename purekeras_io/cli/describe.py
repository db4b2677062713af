"""What ``inspect`` (and ``diff``, ``plot``) know about a file, as plain JSON-ready data.

* :func:`describe_model`: layers (name, class, output shape, parameters, dtype, inbound
  layers), totals, inputs and outputs, weights, compile information and optimizer state of a
  loaded :class:`~purekeras_io.model.base.Model`.
* :func:`describe_savedmodel`: what ``saved_model.pb`` itself holds, with or without Keras
  metadata: tags, signatures and their tensor specs, graph functions, object graph, variables.
* :func:`describe_checkpoint`: every key of a TensorBundle with its shape and dtype.
* :func:`describe_h5_weights`: the datasets of a weights-only HDF5 file.
* :func:`describe_weights_json`: Keras 3 sharded weights: the weight map, and each shard's
  datasets (key, shape, dtype, bytes), with totals.
* :func:`file_sizes`: every file under a path, with its size.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..dtypes import by_tf_enum
from ..errors import PurekerasError
from ..model.base import Model
from ..model.layer import Layer

__all__ = [
    "describe_checkpoint",
    "describe_h5_weights",
    "describe_model",
    "describe_savedmodel",
    "describe_weights_json",
    "file_sizes",
    "layer_edges",
    "output_shape",
]


def file_sizes(path: str, fmt: str) -> list[dict[str, Any]]:
    """``[{"path", "bytes"}]`` of every file the model consists of."""
    p = Path(path)
    if fmt == "checkpoint":
        folder = p.parent
        files = sorted(q for q in folder.glob(p.name + ".*") if q.is_file())
    elif fmt == "weights-json":
        files = [p, *(q for q in _shard_paths(path) if q.is_file())]
    elif p.is_dir():
        files = sorted(q for q in p.rglob("*") if q.is_file())
    else:
        files = [p]
    return [{"path": str(q), "bytes": q.stat().st_size} for q in files]


def _shard_paths(json_path: str) -> list[Path]:
    """The shards a ``.weights.json`` lists, in the order first listed ([] when unreadable)."""
    from ..keras_v3.sharded import _read_map

    try:
        weight_map = _read_map(json_path)
    except PurekerasError:
        return []
    names = dict.fromkeys(n for names in weight_map.values() for n in names)
    return [Path(json_path).parent / n for n in names]


def _shape(shape: Any) -> Any:
    if isinstance(shape, (list, tuple)):
        return [_shape(s) for s in shape]
    return None if shape is None else int(shape)


def output_shape(layer: Layer) -> Any:
    """The output shape(s) of the layer's last call, ``None`` for an unknown dimension."""
    if not layer.inbound_nodes or not layer.inbound_nodes[-1].outputs:
        return None
    shapes = [_shape(t.shape) for t in layer.inbound_nodes[-1].outputs]
    return shapes[0] if len(shapes) == 1 else shapes


def layer_edges(model: Model) -> list[tuple[str, str]]:
    """``(from layer, to layer)`` for every tensor passed between the model's layers."""
    edges: list[tuple[str, str]] = []
    names = {id(la) for la in model.layers}
    for layer in model.layers:
        for node in layer.inbound_nodes:
            for t in node.input_tensors:
                if t.history is None:
                    continue
                src = t.history[0]
                if id(src) in names and (src.name, layer.name) not in edges:
                    edges.append((src.name, layer.name))
    return edges


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "get_config"):
        try:
            return {"class_name": type(value).__name__, "config": _jsonable(value.get_config())}
        except (PurekerasError, TypeError, ValueError):
            pass
    return repr(value)


def _tensor_specs(tensors: list[Any]) -> list[dict[str, Any]]:
    return [{"name": t.name, "shape": _shape(t.shape), "dtype": str(t.dtype)} for t in tensors]


def _optimizer(model: Model) -> dict[str, Any] | None:
    opt = model.optimizer
    if opt is None:
        return None
    out: dict[str, Any] = {
        "class": opt.class_name(),
        "config": _jsonable(opt.get_config("keras3")),
        "iterations": int(opt.iterations),
        "built": bool(opt.built),
        "variables": [],
    }
    if opt.built:
        try:
            variables = opt.variables(model.trainable_weights, "keras3")
        except PurekerasError as exc:
            out["error"] = str(exc)
            variables = []
        out["variables"] = [
            {"name": name, "shape": list(np.shape(v)), "dtype": str(np.asarray(v).dtype)}
            for name, v in variables
        ]
    return out


def _compile(model: Model) -> dict[str, Any] | None:
    info = model.compile_info
    if info is None:
        return None
    out: dict[str, Any] = {
        "optimizer": info.optimizer.class_name() if info.optimizer is not None else None,
        "loss": _jsonable(info.loss),
        "metrics": _jsonable(info.metrics),
    }
    for key in ("loss_weights", "weighted_metrics"):
        value = getattr(info, key)
        if value is not None:
            out[key] = _jsonable(value)
    if info.run_eagerly:
        out["run_eagerly"] = True
    if info.steps_per_execution != 1:
        out["steps_per_execution"] = info.steps_per_execution
    if info.jit_compile:
        out["jit_compile"] = True
    return out


def describe_model(model: Model) -> dict[str, Any]:
    """The model part of ``inspect``'s report (see the module docstring)."""
    layers = []
    for layer in model.layers:
        inbound = sorted({src for src, dst in layer_edges(model) if dst == layer.name})
        layers.append(
            {
                "name": layer.name,
                "class": layer.class_name(),
                "output_shape": output_shape(layer),
                "params": int(layer.count_params()),
                "dtype": str(layer.config.get("dtype") or layer.dtype),
                "trainable": bool(layer.trainable),
                "inbound": inbound,
            }
        )
    total = sum(int(np.prod(v.shape)) for v in model.weights)
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    weights = [
        {
            "path": v.path or v.name,
            "shape": list(v.shape),
            "dtype": str(v.dtype),
            "trainable": bool(v.trainable),
        }
        for v in model.weights
    ]
    nbytes = sum(int(np.prod(v.shape)) * v.dtype.itemsize for v in model.weights)
    return {
        "name": model.name,
        "class": model.class_name(),
        "layers": layers,
        "totals": {
            "params": total,
            "trainable": trainable,
            "non_trainable": total - trainable,
            "weights": len(weights),
            "weight_bytes": nbytes,
        },
        "inputs": _tensor_specs(list(getattr(model, "inputs", []) or [])),
        "outputs": _tensor_specs(list(getattr(model, "outputs", []) or [])),
        "weights": weights,
        "compile": _compile(model),
        "optimizer": _optimizer(model),
    }


def _tensor_info(info: Any) -> dict[str, Any]:
    try:
        dtype = by_tf_enum(info.dtype).name if info.dtype else "-"
    except PurekerasError:
        dtype = f"enum {info.dtype}"
    shape: Any = None
    if info.HasField("tensor_shape") and not info.tensor_shape.unknown_rank:
        shape = [None if d.size < 0 else int(d.size) for d in info.tensor_shape.dim]
    return {"name": info.name, "dtype": dtype, "shape": shape}


def describe_savedmodel(dirpath: str) -> dict[str, Any]:
    """Tags, signatures, functions, object graph and variables of ``saved_model.pb``."""
    from .._proto.tf import saved_model_pb2
    from ..savedmodel import layout
    from ..tensorbundle import BundleReader

    root = Path(dirpath)
    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((root / layout.SAVED_MODEL_FILENAME).read_bytes())
    out: dict[str, Any] = {
        "schema_version": int(saved.saved_model_schema_version),
        "keras_metadata": (root / layout.KERAS_METADATA_FILENAME).is_file(),
        "meta_graphs": [],
    }
    for mg in saved.meta_graphs:
        sigs = {}
        for name in sorted(mg.signature_def):
            sig = mg.signature_def[name]
            sigs[name] = {
                "method": sig.method_name,
                "inputs": {k: _tensor_info(sig.inputs[k]) for k in sorted(sig.inputs)},
                "outputs": {k: _tensor_info(sig.outputs[k]) for k in sorted(sig.outputs)},
            }
        og = mg.object_graph_def
        kinds: dict[str, int] = {}
        for node in og.nodes:
            kind = node.WhichOneof("kind") or "none"
            kinds[kind] = kinds.get(kind, 0) + 1
        root_children = [c.local_name for c in og.nodes[0].children] if og.nodes else []
        out["meta_graphs"].append(
            {
                "tags": list(mg.meta_info_def.tags),
                "tensorflow_version": mg.meta_info_def.tensorflow_version,
                "signatures": sigs,
                "functions": sorted(f.signature.name for f in mg.graph_def.library.function),
                "graph_nodes": len(mg.graph_def.node),
                "object_graph": {"nodes": len(og.nodes), "kinds": kinds,
                                 "root_children": root_children},
            }
        )
    prefix = root / layout.VARIABLES_DIR / layout.VARIABLES_PREFIX
    if Path(str(prefix) + ".index").is_file():
        with BundleReader(prefix, verify_crc=False) as reader:
            out["variables"] = _entries(reader)
    return out


def _entries(reader: Any) -> list[dict[str, Any]]:
    rows = []
    for key in reader.keys():
        entry = reader.entry(key)
        rows.append({"key": key, "shape": list(entry.shape), "dtype": entry.dtype.name,
                     "bytes": entry.size})
    return rows


def describe_checkpoint(prefix: str) -> dict[str, Any]:
    """Every tensor of a TensorBundle: key, shape, dtype, stored bytes."""
    from ..tensorbundle import BundleReader

    with BundleReader(prefix, verify_crc=False) as reader:
        return {"prefix": prefix, "num_shards": reader.num_shards, "tensors": _entries(reader)}


def describe_h5_weights(path: str) -> dict[str, Any]:
    """The datasets of a weights-only HDF5 file (tf_keras ``save_weights`` / ``.weights.h5``)."""
    import h5py

    rows: list[dict[str, Any]] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            dtype = str(obj.dtype)
            if obj.dtype.kind == "V" and obj.dtype.itemsize == 2:  # Keras 3 tags bfloat16
                tag = obj.attrs.get("dtype")
                dtype = "bfloat16" if tag in ("bfloat16", b"bfloat16") else dtype
            rows.append({"key": name, "shape": list(obj.shape), "dtype": dtype,
                         "bytes": int(obj.size * obj.dtype.itemsize)})

    with h5py.File(os.fspath(path), "r") as f:
        f.visititems(visit)
    return {"tensors": rows}


def describe_weights_json(json_path: str) -> dict[str, Any]:
    """Keras 3 sharded weights: ``total_size`` (as the JSON says), the weight map (key → shards),
    every listed shard's datasets and the totals (datasets, bytes, shards)."""
    from ..errors import FormatError
    from ..keras_v3.sharded import _read_map
    from ..model.validate import MAX_JSON_BYTES, load_json

    weight_map = _read_map(json_path)  # FormatError naming the file when damaged
    with open(json_path, "rb") as fh:
        doc = load_json(fh.read(MAX_JSON_BYTES + 1), json_path)
    meta = doc.get("metadata") if isinstance(doc, dict) else None
    total_size = meta.get("total_size") if isinstance(meta, dict) else None
    shards = []
    for p in _shard_paths(json_path):
        if not p.is_file():
            raise FormatError(f"{p}: shard listed in the weight map is missing")
        try:
            tensors = describe_h5_weights(str(p))["tensors"]
        except OSError as exc:
            raise FormatError(f"{p}: not a readable HDF5 file ({exc})") from None
        shards.append({"name": p.name, "path": str(p), "file_bytes": p.stat().st_size,
                       "tensors": tensors, "bytes": sum(t["bytes"] for t in tensors)})
    return {
        "total_size": total_size,
        "weight_map": [{"key": k, "shards": v} for k, v in weight_map.items()],
        "shards": shards,
        "totals": {
            "shards": len(shards),
            "tensors": sum(len(s["tensors"]) for s in shards),
            "bytes": sum(s["bytes"] for s in shards),
        },
    }
