"""Reading the trackable object graph (``_CHECKPOINTABLE_OBJECT_GRAPH``) of a TensorBundle.

A TF2 object-based checkpoint (``variables/`` of a SavedModel, or a ``save_weights`` prefix)
stores its ``TrackableObjectGraph`` as a scalar ``DT_STRING`` tensor under that key. Node 0 is
the root; each node lists its children by local name (the first of two equal names wins, as
TF's restore does) and, for a variable, its value's checkpoint key under the attribute
``VARIABLE_VALUE`` (``savedmodel.md`` §5, ``tensorbundle.md``).
"""

from __future__ import annotations

from google.protobuf.message import DecodeError

from .._proto.tf import trackable_object_graph_pb2
from ..errors import FormatError
from ..tensorbundle.reader import BundleReader
from .layout import OBJECT_GRAPH_KEY, VARIABLE_VALUE

__all__ = ["node_child", "node_children", "read_object_graph", "value_key"]

TOG = trackable_object_graph_pb2.TrackableObjectGraph


def read_object_graph(reader: BundleReader, where: str) -> TOG:
    """The bundle's object graph; :class:`FormatError` naming ``where`` when it is missing, not
    a string scalar, does not parse or has no nodes."""
    if OBJECT_GRAPH_KEY not in reader:
        raise FormatError(
            f"{where}: no {OBJECT_GRAPH_KEY} tensor: not a TF2 object-based checkpoint (a TF1 "
            "name-based checkpoint is not supported)"
        )
    value = reader.get(OBJECT_GRAPH_KEY)
    data = value[()] if value.dtype == object and value.shape == () else None
    if not isinstance(data, bytes):
        raise FormatError(
            f"{where}: {OBJECT_GRAPH_KEY} must be a string scalar, found "
            f"{value.dtype} {list(value.shape)}"
        )
    tog = TOG()
    try:
        tog.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise FormatError(f"{where}: {OBJECT_GRAPH_KEY} does not parse ({exc})") from None
    if not tog.nodes:
        raise FormatError(f"{where}: {OBJECT_GRAPH_KEY} has no nodes")
    return tog


def node_children(tog: TOG, node: int, where: str = OBJECT_GRAPH_KEY) -> dict[str, int]:
    """``{local name: node id}`` of a node (the first of equal names), ids range-checked."""
    out: dict[str, int] = {}
    for ref in tog.nodes[node].children:
        if not 0 <= ref.node_id < len(tog.nodes):
            raise FormatError(
                f"{where}: object graph node {node} child {ref.local_name!r} points to node "
                f"{ref.node_id}, outside 0..{len(tog.nodes) - 1}"
            )
        out.setdefault(ref.local_name, int(ref.node_id))
    return out


def node_child(tog: TOG, node: int, name: str, where: str = OBJECT_GRAPH_KEY) -> int | None:
    """The node id of ``node``'s child ``name``, or None."""
    return node_children(tog, node, where).get(name)


def value_key(tog: TOG, node: int) -> str | None:
    """The checkpoint key of a variable node's value (None for other nodes)."""
    for attr in tog.nodes[node].attributes:
        if attr.name == VARIABLE_VALUE:
            return str(attr.checkpoint_key)
    return None
