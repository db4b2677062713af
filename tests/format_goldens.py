"""Shared helpers for ``tests/unit/test_format_goldens.py``: the golden recipe (loaded by path from
``tools/make_format_goldens.py``, numpy only), the same models built with purekeras_io, and
format dumps (HDF5 trees, zip members, SavedModel object graphs) that compare without TF."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import h5py
import numpy as np

import purekeras_io as pk
from purekeras_io._proto.keras import saved_metadata_pb2
from purekeras_io._proto.tf import saved_model_pb2, trackable_object_graph_pb2
from purekeras_io.model.base import Model
from purekeras_io.tensorbundle import BundleReader

__all__ = [
    "GOLDEN",
    "MANIFEST",
    "RECIPE",
    "build",
    "checkpoint_graph",
    "h5_tree",
    "json_diff",
    "keras_metadata",
    "layer_part",
    "object_graph_edges",
]

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
MANIFEST: dict[str, Any] = json.loads((GOLDEN / "MANIFEST.json").read_text())


def _load_recipe() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_format_goldens", ROOT / "tools" / "make_format_goldens.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RECIPE = _load_recipe()


def build(case: str) -> Model:
    """The case's model with purekeras_io: same names, weights and optimizer state as the
    goldens (automatic names start fresh, as the generator's ``clear_session``)."""
    model_name, compiled = RECIPE.CASES[case]
    pk.clear_session()
    L = pk.layers
    model: Model
    if model_name == "seed":
        model = pk.Sequential(
            [L.Dense(5, input_shape=(3,), name="dense"), L.Softmax(name="softmax")],
            name="sequential",
        )
    else:
        image = pk.Input((8, 8, 3), name="image")
        x = L.Conv2D(3, 3, padding="same", name="conv")(image)
        x = L.BatchNormalization(name="bn")(x)
        x = L.Add(name="add")([x, image])
        x = L.GlobalAveragePooling2D(name="gap")(x)
        out = L.Dense(2, name="head")(x)
        model = pk.Model(image, out, name="cnn")
    for var in model.weights:
        layer, weight = var.path.split("/")[-2:]
        var.assign(RECIPE.weight_value(model_name, layer, weight, tuple(var.shape)))
    if compiled:
        model.compile(
            optimizer=pk.optimizers.Adam(learning_rate=RECIPE.LEARNING_RATE), loss=RECIPE.LOSS
        )
        slots = []
        for var in model.trainable_weights:
            layer, weight = var.path.split("/")[-2:]
            shape = tuple(var.shape)
            slots.append(
                {
                    "momentum": RECIPE.slot_value(model_name, layer, weight, "m", shape),
                    "velocity": RECIPE.slot_value(model_name, layer, weight, "v", shape),
                }
            )
        assert model.optimizer is not None
        model.optimizer.set_state(RECIPE.ITERATIONS, slots)
    return model


# ------------------------------------------------------------------------------- JSON


def json_diff(ours: Any, theirs: Any, path: str = "") -> list[str]:
    """Every leaf difference as ``path: ours != theirs`` (``<missing>`` for absent keys)."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        out = []
        for k in sorted(set(ours) | set(theirs)):
            out += json_diff(ours.get(k, "<missing>"), theirs.get(k, "<missing>"), f"{path}.{k}")
        return out
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        out = []
        for i, (a, b) in enumerate(zip(ours, theirs)):
            out += json_diff(a, b, f"{path}[{i}]")
        return out
    if ours != theirs:
        return [f"{path}: {json.dumps(ours)} != {json.dumps(theirs)}"]
    return []


# ------------------------------------------------------------------------------- HDF5


def _attr(obj: Any, name: str, json_attrs: tuple[str, ...]) -> dict[str, Any]:
    aid = h5py.h5a.open(obj.id, name.encode())
    htype = aid.get_type()
    info: dict[str, Any] = {"class": htype.get_class(), "shape": aid.get_space().shape}
    if htype.get_class() == h5py.h5t.STRING:
        info["cset"] = htype.get_cset()
        info["vlen"] = htype.is_variable_str()
        if not htype.is_variable_str():
            info["size"] = htype.get_size()
    else:
        info["dtype"] = htype.dtype.str
    value = obj.attrs[name]
    if name in json_attrs:
        info["value"] = "<json>"
    elif isinstance(value, np.ndarray):
        info["value"] = [v.decode() if isinstance(v, bytes) else v for v in value.tolist()]
    elif isinstance(value, bytes):
        info["value"] = value.decode()
    elif isinstance(value, np.generic):
        info["value"] = value.item()
    else:
        info["value"] = value
    return info


def h5_tree(f: h5py.Group, json_attrs: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """Every group and dataset (in h5py's name order) with kind, shape, dtype and attributes
    (value, HDF5 type class, string cset / vlen); ``json_attrs`` values are compared apart."""
    out: dict[str, dict[str, Any]] = {}

    def visit(name: str, obj: Any) -> None:
        entry: dict[str, Any] = {"kind": "group" if isinstance(obj, h5py.Group) else "dataset"}
        if entry["kind"] == "dataset":
            entry["shape"] = obj.shape
            entry["dtype"] = obj.dtype.str
        entry["attrs"] = {a: _attr(obj, a, json_attrs) for a in obj.attrs}
        out[name] = entry

    visit("/", f)
    f.visititems(visit)
    return out


# ------------------------------------------------------------------------------- SavedModel

_LAYER_EDGE = ("layer-", "layer_with_weights-")


def _object_graph(dirpath: Path) -> Any:
    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((dirpath / "saved_model.pb").read_bytes())
    return saved.meta_graphs[0].object_graph_def


def layer_part(dirpath: Path) -> dict[str, Any]:
    """The object graph's layer/variable part: root kind + identifier, the root's layer edges,
    and per layer node (by first path): kind, identifier, its variable children with their
    SavedVariable fields."""
    graph = _object_graph(dirpath)
    root = graph.nodes[0]
    out: dict[str, Any] = {
        "root": (root.WhichOneof("kind"), root.user_object.identifier),
        "root_layer_edges": sorted(
            c.local_name for c in root.children if c.local_name.startswith(_LAYER_EDGE)
        ),
        "layers": {},
    }
    for child in root.children:
        if not child.local_name.startswith(_LAYER_EDGE):
            continue
        node = graph.nodes[child.node_id]
        variables = {}
        for c in node.children:
            v = graph.nodes[c.node_id]
            if v.WhichOneof("kind") == "variable":
                sv = v.variable
                variables[c.local_name] = {
                    "name": sv.name,
                    "dtype": sv.dtype,
                    "shape": [d.size for d in sv.shape.dim],
                    "trainable": sv.trainable,
                    "synchronization": sv.synchronization,
                    "aggregation": sv.aggregation,
                    "device": sv.device,
                }
        out["layers"][child.local_name] = {
            "kind": node.WhichOneof("kind"),
            "identifier": node.user_object.identifier,
            "variables": variables,
        }
    return out


def object_graph_edges(dirpath: Path) -> dict[str, list[str]]:
    """Child names of the root and of its optimizer node (if any)."""
    graph = _object_graph(dirpath)
    root = graph.nodes[0]
    out = {"root": [c.local_name for c in root.children]}
    for c in root.children:
        if c.local_name == "optimizer":
            out["optimizer"] = [x.local_name for x in graph.nodes[c.node_id].children]
    return out


def keras_metadata(dirpath: Path) -> dict[str, dict[str, Any]]:
    """``keras_metadata.pb`` nodes by ``node_path``: identifier, version, metadata JSON."""
    md = saved_metadata_pb2.SavedMetadata()
    md.ParseFromString((dirpath / "keras_metadata.pb").read_bytes())
    return {
        n.node_path: {
            "identifier": n.identifier,
            "version": (n.version.producer, n.version.min_consumer),
            "metadata": json.loads(n.metadata),
        }
        for n in md.nodes
    }


def checkpoint_graph(prefix: Path) -> tuple[list[str], Any]:
    """Keys and the ``_CHECKPOINTABLE_OBJECT_GRAPH`` of a TF checkpoint."""
    with BundleReader(prefix) as reader:
        keys = reader.keys()
        tog = trackable_object_graph_pb2.TrackableObjectGraph()
        tog.ParseFromString(reader.get("_CHECKPOINTABLE_OBJECT_GRAPH").item())
    return keys, tog
