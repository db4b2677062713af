"""TF2 object-based checkpoints of Keras models: tf_keras ``model.save_weights(prefix)``.

Spec: ``shared/docs/tensorbundle.md`` §7 (keys, ``_CHECKPOINTABLE_OBJECT_GRAPH``) and
``savedmodel.md`` §6, §8 (what loaders need, optimizer state). What tf_keras 2.21 writes for
``model.save_weights("dir/ckpt")`` (TF format), and what :func:`save_weights` writes::

    dir/ckpt.index                  TensorBundle, one shard (tensorbundle.md §3-4)
    dir/ckpt.data-00000-of-00001    variables in object-graph node-id order, then the
                                    TrackableObjectGraph string (DT_STRING scalar) last
    dir/checkpoint                  CheckpointState text: model_checkpoint_path: "ckpt"
                                                          all_model_checkpoint_paths: "ckpt"
                                    (paths relative to dir; rewritten on every save)

Object graph (``root="model"``, tf_keras' own layout; node ids = breadth-first discovery order)::

    0 model  ─ layer_with_weights-K / layer-N … (as in a SavedModel, savedmodel/object_graph.py)
             ─ optimizer ─ _variables ─ 0 (= _iterations), 1..k slots in tf_keras order
             │           ─ _iterations, _learning_rate
             │           ─ _index_dict, _momentums/_velocities/… (lists aliasing the slots;
             │             only once the optimizer is built), Nadam's _u_product
             ─ root → 0   (a self edge; tf_keras writes it last)

Keys are ``<first BFS path>/.ATTRIBUTES/VARIABLE_VALUE``: ``layer_with_weights-0/kernel/…``,
``optimizer/_variables/3/…``. tf_keras also tracks attributes without values as empty nodes
(BatchNormalization ``axis``, RNN ``state_spec``, LSTMCell ``state_size``, Normalization
``adapt_mean`` aliasing ``mean`` …; table :data:`_CHILD_ORDER`, measured on tf_keras 2.21): they
change no key, only the object-graph bytes. Nodes tf_keras adds after ``fit`` / ``predict``
(``train_function``, ``train_tf_function``, ``predict_function`` …) are not written.

``root="checkpoint"`` writes what ``tf.train.Checkpoint(model=model).write(prefix)`` writes: a
root with one child ``model`` (keys ``model/layer_with_weights-0/…``), for
``tf.train.Checkpoint(model=m).restore(prefix)``. Neither layout serves the other entry point (TF
binds the restoring object to node 0 and walks child names from there; measured: tf_keras'
layout restores nothing through ``Checkpoint(model=…)``, and ``load_weights`` on the
``Checkpoint`` layout fails "Nothing except the root object matched"). ``root="both"`` serves
both: tf_keras' layout plus ``root → model → <a twin node with the root's children>``; keys stay
tf_keras' (the first BFS paths do not change), only the object graph gains one node. TF 2.21
restores every variable and the optimizer state through both entry points, and ``load_weights``
even passes ``assert_consumed``.

:func:`load_weights` reads either layout (and a SavedModel's ``variables/``): it finds the model
node (node 0, or node 0's ``model`` child when node 0 has no ``layer-*`` children), walks the
object graph of ``model`` and the file's TrackableObjectGraph together by child name (as TF
does: ids and key spelling are free) and assigns each variable from its node's
``checkpoint_key``. With ``model.optimizer`` set, ``optimizer → _variables`` (under the model
node, else under node 0 as ``tf.train.Checkpoint(model=m, optimizer=o)`` writes it) restores
iterations and slots (and ``_learning_rate``, Nadam's ``_u_product``). Without
``model.optimizer`` the optimizer values are reported in :attr:`LoadResult.unused` (tf_keras would
restore them later, when ``compile`` creates the optimizer).
"""

from __future__ import annotations

import dataclasses
import os
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from google.protobuf import text_format

from .._io import write_bytes
from .._proto.tf import checkpoint_state_pb2, trackable_object_graph_pb2
from ..errors import ConfigError, FormatError
from ..model.base import Model
from ..model.preflight import check_model
from ..optimizers import Optimizer
from ..parallel import open_writer
from ..savedmodel import layout
from ..savedmodel.object_graph import GraphNode, ObjectGraph, add_optimizer, build_model_graph
from ..savedmodel.optimizer_state import (
    keras2_slot_order,
    optimizer_checkpoint_state,
    restore_optimizer_state,
)
from ..savedmodel.tog import node_children, read_object_graph, value_key
from ..tensorbundle.format import index_filename
from ..tensorbundle.reader import BundleReader
from ..tensorbundle.writer import string_scalar

__all__ = [
    "CHECKPOINT_STATE_FILENAME",
    "OBJECT_GRAPH_KEY",
    "ROOTS",
    "LoadResult",
    "build_checkpoint_graph",
    "latest_checkpoint",
    "load_weights",
    "read_checkpoint_state",
    "save_weights",
    "write_checkpoint_state",
]

CHECKPOINT_STATE_FILENAME = "checkpoint"
"""The ``CheckpointState`` text file beside the bundle (``tf.train.latest_checkpoint`` reads it)."""
OBJECT_GRAPH_KEY = layout.OBJECT_GRAPH_KEY
ROOTS = ("model", "checkpoint", "both")
"""``model``: tf_keras ``save_weights`` layout (byte-identical); ``checkpoint``:
``tf.train.Checkpoint(model=…).write``; ``both``: ``model`` plus a ``model`` child, restorable by
either entry point."""

_ATTRIBUTES = "/.ATTRIBUTES/"

# tf_keras' child order of a layer's node, where it tracks more than the catalog's sub-layers and
# weights (measured on tf_keras 2.21 save_weights). Entries: "name" = our child of that name (if
# the layer has it), "+name" = an attribute without checkpoint values (an empty node: a list, a
# spec, a weightless layer), "alias=name" = a second edge to our child "name", "*" = our
# remaining children in their order. Classes not listed: our children as they are.
_RNN_ORDER = ("*", "+state_spec")
_CHILD_ORDER: dict[str, tuple[str, ...]] = {
    "BatchNormalization": ("+axis", "*"),
    "LayerNormalization": ("+axis", "*"),
    "EinsumDense": ("+partial_output_shape", "+full_output_shape", "*"),
    "LSTMCell": ("+state_size", "*"),
    "RNN": _RNN_ORDER,
    "SimpleRNN": _RNN_ORDER,
    "GRU": _RNN_ORDER,
    "LSTM": _RNN_ORDER,
    "ConvLSTM1D": _RNN_ORDER,
    "ConvLSTM2D": _RNN_ORDER,
    "ConvLSTM3D": _RNN_ORDER,
    "MultiHeadAttention": (
        "_query_dense", "_key_dense", "_value_dense", "+_softmax", "+_dropout_layer", "*",
    ),
    "Normalization": (
        "+_keep_axis", "+_reduce_axis", "+_reduce_axis_mask", "+_broadcast_shape",
        "mean", "adapt_mean=mean", "variance", "adapt_variance=variance", "*",
    ),
}

# tf_keras (optimizer_experimental) lists that alias the slot variables, in attribute order:
# (attribute, tf_keras slot name, present even when that slot is not created). They appear, with
# ``_index_dict`` before them, once the optimizer is built.
_SLOT_LISTS: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "SGD": (("momentums", "m", True),),
    "Adam": (("_momentums", "m", True), ("_velocities", "v", True),
             ("_velocity_hats", "vhat", False)),
    "AdamW": (("_momentums", "m", True), ("_velocities", "v", True),
              ("_velocity_hats", "vhat", False)),
    "RMSprop": (("_velocities", "velocity", True), ("_momentums", "momentum", True),
                ("_average_gradients", "average_gradient", True)),
    "Adagrad": (("_accumulators", "accumulator", True),),
    "Adadelta": (("_accumulated_grads", "accumulated_grad", True),
                 ("_accumulated_delta_vars", "accumulated_delta_var", True)),
    "Adamax": (("_m", "m", True), ("_u", "u", True)),
    "Nadam": (("_momentums", "m", True), ("_velocities", "v", True)),
    "Ftrl": (("_accumulators", "accumulator", True), ("_linears", "linear", True)),
    "Lion": (("momentums", "m", True),),
}
_NADAM_U_PRODUCT = "_u_product"
"""tf_keras Nadam's ``tf.Variable(1.0)`` (named ``Nadam/Variable``), a child of ``optimizer``
outside ``_variables``."""


# ====================================================================== the object graph


def _empty(graph: ObjectGraph) -> int:
    return graph.add(GraphNode("user_object", checkpoint_only=True))


def _apply_child_order(graph: ObjectGraph) -> None:
    """Insert tf_keras' value-less attributes and aliases (:data:`_CHILD_ORDER`)."""
    for i in range(len(graph.nodes)):
        node = graph.nodes[i]
        obj = node.obj
        if node.kind != "user_object" or obj is None or not hasattr(obj, "class_name"):
            continue
        order = _CHILD_ORDER.get(obj.class_name())
        if order is None:
            continue
        mine = dict(node.children)
        placed: set[str] = set()
        out: list[tuple[str, int]] = []
        for entry in order:
            if entry == "*":
                rest = [(n, c) for n, c in node.children if n not in placed]
                out.extend(rest)
                placed.update(n for n, _ in rest)
            elif entry.startswith("+"):
                out.append((entry[1:], _empty(graph)))
            elif "=" in entry:
                alias, target = entry.split("=", 1)
                if target in mine:
                    out.append((alias, mine[target]))
            elif entry in mine and entry not in placed:
                out.append((entry, mine[entry]))
                placed.add(entry)
        out.extend((n, c) for n, c in node.children if n not in placed)
        node.children = out


def _add_optimizer(graph: ObjectGraph, model: Model, optimizer: Optimizer) -> None:
    """``root → optimizer`` (savedmodel ``add_optimizer``) plus tf_keras' slot lists."""
    state = optimizer_checkpoint_state(model, optimizer)
    add_optimizer(graph, state.iterations, state.learning_rate, state.slots)
    opt = dict(graph.nodes[0].children)["optimizer"]
    if not state.slots:
        return  # never built: tf_keras tracks _variables, _iterations, _learning_rate only
    var_list = dict(graph.nodes[opt].children)["_variables"]
    slot_nodes = [c for n, c in graph.nodes[var_list].children if n != "0"]
    order = keras2_slot_order(optimizer, len(model.trainable_weights))
    graph.add_child(opt, "_index_dict", _empty(graph))
    for attribute, slot_name, always in _SLOT_LISTS.get(optimizer.class_name(), ()):
        members = [node for node, (_, spec) in zip(slot_nodes, order) if spec.keras2 == slot_name]
        if not members and not always:
            continue
        lst = _empty(graph)
        for k, node in enumerate(members):
            graph.add_child(lst, str(k), node)
        graph.add_child(opt, attribute, lst)
    if optimizer.class_name() == "Nadam":
        extra = optimizer.extras[0]
        value = optimizer.extra_values.get(extra.key)
        if value is None:
            value = optimizer.extra_initial(extra, model.trainable_weights)
        u = graph.add(GraphNode(
            "variable", checkpoint_only=True, name=f"{optimizer.name_for('keras2')}/Variable",
            value=np.asarray(value, dtype=np.float32), trainable=True,
        ))
        graph.add_child(opt, _NADAM_U_PRODUCT, u)


def _renumbered(graph: ObjectGraph, root: int) -> ObjectGraph:
    """The graph with ids in breadth-first discovery order from ``root`` (TF's numbering)."""
    index = {root: 0}
    order = [root]
    queue: deque[int] = deque([root])
    while queue:
        current = queue.popleft()
        for _, child in graph.nodes[current].children:
            if child not in index:
                index[child] = len(order)
                order.append(child)
                queue.append(child)
    out = ObjectGraph()
    for old in order:
        node = graph.nodes[old]
        out.add(dataclasses.replace(
            node, checkpoint_only=False, children=[(n, index[c]) for n, c in node.children]
        ))
    return out


def build_checkpoint_graph(
    model: Model, include_optimizer: bool = True, root: str = "model"
) -> ObjectGraph:
    """The object graph tf_keras checkpoints for ``model`` (see the module docstring)."""
    if root not in ROOTS:
        raise ConfigError(f"save_weights: root must be one of {ROOTS}, received {root!r}")
    graph = build_model_graph(model)
    _apply_child_order(graph)
    optimizer = model.optimizer if include_optimizer else None
    if optimizer is not None:
        _add_optimizer(graph, model, optimizer)
    if root == "both":
        twin = graph.add(GraphNode("user_object", checkpoint_only=True))
        graph.nodes[twin].children = list(graph.nodes[0].children)
        graph.add_child(0, "model", twin)
    if root in ("model", "both"):
        graph.add_child(0, "root", 0)
        return _renumbered(graph, 0)
    top = graph.add(GraphNode("user_object", checkpoint_only=True))
    graph.add_child(top, "model", 0)
    return _renumbered(graph, top)


# ====================================================================== saving


def write_checkpoint_state(prefix: str | os.PathLike[str], fsync: bool = False) -> str:
    """Write ``<dir>/checkpoint`` naming ``prefix`` as TF's ``update_checkpoint_state`` does
    for tf_keras (``save_relative_paths=True``, one path): the path relative to the prefix's
    folder, in protobuf text format. Returns the file's path."""
    path = os.fspath(prefix)
    folder = os.path.dirname(path)
    relative = os.path.relpath(path, folder) if folder else path
    state = checkpoint_state_pb2.CheckpointState()
    state.model_checkpoint_path = relative
    state.all_model_checkpoint_paths.append(relative)
    target = os.path.join(folder, CHECKPOINT_STATE_FILENAME)
    if os.path.abspath(target) == os.path.abspath(path):
        raise ConfigError(
            f"save_weights: prefix {path!r} conflicts with the checkpoint state file {target!r}"
        )
    write_bytes(target, text_format.MessageToString(state).encode("utf-8"), fsync=fsync)
    return target


def save_weights(
    model: Model,
    prefix: str | os.PathLike[str],
    include_optimizer: bool = True,
    root: str = "both",
    *,
    fsync: bool = False,
    workers: int | None = None,
    client: Any = None,
    **ignored: Any,
) -> None:
    """Write ``model``'s weights (and optimizer state) in TensorFlow's checkpoint format:
    ``<prefix>.index``, ``<prefix>.data-00000-of-00001`` and the ``checkpoint`` state file.

    ``root="both"`` (default): tf_keras' layout plus a ``model`` child of the root, so that both
    tf_keras ``model.load_weights(prefix)`` and ``tf.train.Checkpoint(model=…).restore(prefix)``
    restore every variable (keys equal tf_keras'; the object graph has one node more).
    ``root="model"``: byte for byte what tf_keras ``model.save_weights(prefix)`` writes (which
    ``tf.train.Checkpoint(model=…)`` silently restores nothing from). ``root="checkpoint"``:
    ``tf.train.Checkpoint(model=…).write(prefix)``'s layout. Keyword arguments of
    Keras' signature (``options``, ``overwrite``…) are accepted and ignored. ``fsync=True``:
    data, index, state file and folder are flushed to disk before the save returns.
    ``workers=N`` (local processes) or ``client=`` (a Dask ``distributed.Client``): the lazy
    weights are written by the workers, one data file each (``purekeras_io.parallel``)."""
    del ignored
    path = os.fspath(prefix)
    if not getattr(model, "built", True):
        raise ConfigError(
            f"save_weights: the weights of model {model.name!r} have not yet been created (the "
            f"model is not built; tf_keras refuses too): call it on data or build it first"
        )
    check_model(model, include_optimizer=include_optimizer, what=f"saving {path}")
    graph = build_checkpoint_graph(model, include_optimizer=include_optimizer, root=root)
    keys = graph.checkpoint_keys()
    tog = graph.trackable_object_graph(keys).SerializeToString()
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    with open_writer(path, fsync=fsync, workers=workers, client=client) as writer:
        for i, node in graph.variables():  # TF's data order: node ids, the graph string last
            writer.add(keys[i], node.value)  # a Variable: streamed, a lazy one unread
        writer.add(OBJECT_GRAPH_KEY, string_scalar(tog))
    write_checkpoint_state(path, fsync)


# ====================================================================== loading


@dataclass
class LoadResult:
    """What :func:`load_weights` restored."""

    prefix: str
    restored: list[str] = field(default_factory=list)
    """Checkpoint keys assigned to model variables."""
    optimizer_restored: bool = False
    """Iterations (and slots, when the checkpoint has them) went into ``model.optimizer``."""
    unused: list[str] = field(default_factory=list)
    """Checkpoint keys that matched nothing (TF's "unrestored values" warning)."""


def read_checkpoint_state(folder: str | os.PathLike[str]) -> checkpoint_state_pb2.CheckpointState:
    """Parse ``<folder>/checkpoint`` (text format)."""
    path = os.path.join(os.fspath(folder), CHECKPOINT_STATE_FILENAME)
    with open(path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(
            f"{path}: not a CheckpointState text file (byte {exc.start} is not UTF-8: "
            f"{data[exc.start:exc.start + 1]!r})"
        ) from None
    state = checkpoint_state_pb2.CheckpointState()
    try:
        text_format.Parse(text, state)
    except text_format.ParseError as exc:
        raise FormatError(f"{path}: not a CheckpointState text file: {exc}") from exc
    return state


def latest_checkpoint(folder: str | os.PathLike[str]) -> str | None:
    """The prefix ``<folder>/checkpoint`` names (as ``tf.train.latest_checkpoint``), or None."""
    folder = os.fspath(folder)
    if not os.path.isfile(os.path.join(folder, CHECKPOINT_STATE_FILENAME)):
        return None
    name = read_checkpoint_state(folder).model_checkpoint_path
    if not name:
        return None
    prefix = name if os.path.isabs(name) else os.path.join(folder, name)
    return prefix if os.path.isfile(index_filename(prefix)) else None


def _resolve_prefix(path: str) -> str:
    """A bundle prefix, a folder with a ``checkpoint`` file, or a SavedModel folder."""
    if os.path.isfile(index_filename(path)):
        return path
    if os.path.isdir(path):
        latest = latest_checkpoint(path)
        if latest is not None:
            return latest
        saved = os.path.join(path, layout.VARIABLES_DIR, layout.VARIABLES_PREFIX)
        if os.path.isfile(index_filename(saved)):
            return saved
        state = os.path.join(path, CHECKPOINT_STATE_FILENAME)
        if os.path.isfile(state):  # a state file naming no bundle: damaged, or its bundle gone
            named = read_checkpoint_state(path).model_checkpoint_path
            raise FormatError(
                f"{state}: model_checkpoint_path {named!r} names no checkpoint (no "
                f"{index_filename(os.path.join(path, named or '<empty>'))!r})"
            )
    raise FileNotFoundError(
        f"load_weights: no checkpoint at {path!r} (expected {index_filename(path)!r}, a folder "
        f"with a {CHECKPOINT_STATE_FILENAME!r} file, or a SavedModel folder)"
    )


def _model_node(tog: trackable_object_graph_pb2.TrackableObjectGraph) -> int:
    """Node 0, or its ``model`` child for a ``tf.train.Checkpoint(model=…)`` file."""
    root = node_children(tog, 0)
    if "model" in root and not any(n.startswith("layer") for n in root):
        return root["model"]
    return 0


def _match(
    ours: ObjectGraph, tog: trackable_object_graph_pb2.TrackableObjectGraph, model_node: int
) -> dict[int, int]:
    """Our node id → the file's node id, walking child names from both roots."""
    mapping = {0: model_node}
    queue: deque[int] = deque([0])
    while queue:
        current = queue.popleft()
        theirs = node_children(tog, mapping[current])
        for name, child in ours.nodes[current].children:
            if child in mapping or name not in theirs:
                continue
            mapping[child] = theirs[name]
            queue.append(child)
    return mapping


def _tensor(reader: BundleReader, key: str, prefix: str) -> np.ndarray:
    if key not in reader:
        raise FormatError(f"{prefix}: key {key!r} named by the object graph is not in the bundle")
    # No copy: a read-only view of the memory-mapped data file, kept by ``Variable.assign``
    # (which replaces, never writes in place); the map outlives ``reader.close()``.
    return reader.lazy_or_get(key)


def _check(var: Any, value: np.ndarray, key: str, prefix: str) -> None:
    """TF's rules: the shape and the dtype must match exactly."""
    if value.shape != var.shape:  # shape/dtype: a lazy variable is not materialized
        raise ConfigError(
            f"{prefix}: received incompatible tensor with shape {value.shape} when restoring "
            f"variable {var.path or var.name!r} with shape {var.shape} (key {key!r})"
        )
    if value.dtype != var.dtype:
        raise ConfigError(
            f"{prefix}: key {key!r} has dtype {value.dtype}, variable {var.path or var.name!r} "
            f"expects {var.dtype}"
        )


def _restore_optimizer(
    model: Model, optimizer: Optimizer, reader: BundleReader, prefix: str,
    tog: trackable_object_graph_pb2.TrackableObjectGraph, opt_node: int, used: set[str],
) -> bool:
    children = node_children(tog, opt_node)
    key = value_key(tog, children["_iterations"]) if "_iterations" in children else None
    if key is None:
        return False
    iterations = int(_tensor(reader, key, prefix))
    used.add(key)
    slots: list[np.ndarray] = []
    if "_variables" in children:
        entries = node_children(tog, children["_variables"])
        for k in range(1, len(entries)):
            slot_key = value_key(tog, entries[str(k)]) if str(k) in entries else None
            if slot_key is None:
                raise FormatError(f"{prefix}: optimizer/_variables/{k} has no value")
            slots.append(_tensor(reader, slot_key, prefix))
            used.add(slot_key)
    if not restore_optimizer_state(model, optimizer, iterations, slots):
        return False
    lr_key = value_key(tog, children["_learning_rate"]) if "_learning_rate" in children else None
    if lr_key is not None and not optimizer.has_schedule:
        optimizer.config["learning_rate"] = float(_tensor(reader, lr_key, prefix))
        used.add(lr_key)
    u_key = value_key(tog, children[_NADAM_U_PRODUCT]) if _NADAM_U_PRODUCT in children else None
    if u_key is not None and optimizer.extras:
        optimizer.extra_values[optimizer.extras[0].key] = _tensor(reader, u_key, prefix)
        used.add(u_key)
    return True


def load_weights(model: Model, prefix: str | os.PathLike[str], **ignored: Any) -> LoadResult:
    """Restore ``model``'s weights from a TF2 object-based checkpoint (ours or TF's; see the
    module docstring); every model variable must be found, with its shape and dtype. The
    optimizer state goes into ``model.optimizer`` when both exist. Keyword arguments of Keras'
    signature (``skip_mismatch``, ``by_name``, ``options``) are accepted and ignored."""
    del ignored
    path = _resolve_prefix(os.fspath(prefix))
    result = LoadResult(prefix=path)
    with BundleReader(path) as reader:
        tog = read_object_graph(reader, path)
        model_node = _model_node(tog)
        ours = build_model_graph(model)
        mapping = _match(ours, tog, model_node)
        paths = ours.bfs_paths()
        missing = [
            "/".join(paths.get(i, [node.name]))
            for i, node in ours.variables()
            if i not in mapping or value_key(tog, mapping[i]) is None
        ]
        if missing:
            raise ConfigError(
                f"{path}: the checkpoint has no value for {len(missing)} variable(s) of the "
                f"model, e.g. {missing[:3]} (different architecture?)"
            )
        used: set[str] = set()
        assignments = []
        for i, node in ours.variables():
            key = value_key(tog, mapping[i])
            assert key is not None
            assignments.append((node.obj, _tensor(reader, key, path), key))
        for var, value, key in assignments:  # all read and checked before any is assigned
            _check(var, value, key, path)
        for var, value, key in assignments:
            var.assign(value)
            result.restored.append(key)
            used.add(key)
        optimizer = model.optimizer
        # under the model (tf_keras), else beside it (tf.train.Checkpoint(model=m, optimizer=o))
        opt_node = node_children(tog, model_node).get(
            "optimizer", node_children(tog, 0).get("optimizer"))
        if optimizer is not None and opt_node is not None:
            result.optimizer_restored = _restore_optimizer(
                model, optimizer, reader, path, tog, opt_node, used
            )
        result.unused = [
            k for k in reader.keys() if k != OBJECT_GRAPH_KEY and _ATTRIBUTES in k and k not in used
        ]
    return result
