"""The Keras v3 ``.keras`` archive: member names and the weights-tree rules (``keras_v3.md``).

Container (a zip; every member ZIP_STORED, ``flag_bits=0``, ``create_system=3``,
``create_version=20``, ``extract_version=20``, ``external_attr=0o600 << 16``, no extra,
no comment)::

    metadata.json      {"keras_version": "3.15.1", "date_saved": "%Y-%m-%d@%H:%M:%S"}
                       (no loader reads it)
    config.json        {"module", "class_name", "config", "registered_name", "build_config",
                        "compile_config"}                       (``module`` required everywhere)
    model.weights.h5   HDF5 (superblock v0, contiguous datasets), the tree below

Weights tree (``model.weights.h5``)::

    /vars                                  the model's own variables (empty; K2 needs the group)
    /layers/<key>/vars/<i>                 each layer's own variables
    /layers/<key>/<attr>/.../vars/<i>      sub-objects by attribute name (RNN ``cell``,
                                           Bidirectional ``forward_layer``/``backward_layer``,
                                           TimeDistributed ``layer``, MHA ``query_dense``…)
    /layers/<key>/layers/<key>/vars/<i>    nested models: their own ``layers`` container
    /optimizer/vars/<i>                    K3 [iteration, learning_rate, slots…];
                                           K2 [iteration, slots…]

* ``<key>`` = snake_case of the **class name** (not the layer name), made unique with ``_1``,
  ``_2``… in ``model.layers`` order (a Sequential lists no InputLayer, a Functional does).
* ``<i>`` = ``"0"…"n-1"``: own trainable variables, then own non-trainable ones (creation order).
* K3 puts a vlen UTF-8 attribute ``name`` (the object's name) on every ``vars`` group and creates
  every group; K2 writes no ``name`` but also creates every ``vars`` group (root included).
* A layer reached twice (shared between a nested model and its parent) is saved once, at the first
  path of Keras' walk (each object's own variables, then its children; the ``layers`` container
  first, then attributes sorted by name with private ``_x`` ones last).
* bfloat16 variables: HDF5 OPAQUE of size 2 with attribute ``dtype="bfloat16"``.
* Groups only Keras 3 writes and no loader needs are left out: empty ``vars`` of weightless
  sub-layers outside the catalog's ``sublayers()`` (MultiHeadAttention ``_softmax``,
  ``_dropout_layer``), tf_keras' ``metrics/`` state.
* ``save_weights`` (``.weights.h5``) is the same tree as a plain HDF5 file, optimizer included.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..model.base import Model
from ..model.functional import Functional
from ..model.input_layer import InputLayer
from ..model.layer import Layer
from ..model.naming import snake_case
from ..model.sequential import Sequential
from ..model.variable import Variable

__all__ = [
    "CONFIG_MEMBER",
    "KERAS_VERSIONS",
    "MEMBER_ORDER",
    "METADATA_MEMBER",
    "WEIGHTS_MEMBER",
    "Group",
    "class_key",
    "layer_groups",
    "model_layers",
    "sublayer_attrs",
    "unique_key",
    "walk_order_key",
]

METADATA_MEMBER = "metadata.json"
CONFIG_MEMBER = "config.json"
WEIGHTS_MEMBER = "model.weights.h5"
MEMBER_ORDER = (METADATA_MEMBER, CONFIG_MEMBER, WEIGHTS_MEMBER)
KERAS_VERSIONS = {"keras3": "3.15.1", "keras2": "2.21.0"}
DATE_FORMAT = "%Y-%m-%d@%H:%M:%S"
DEFAULT_DATE = "1980-01-01@00:00:00"


@dataclass
class Group:
    """One ``<path>/vars`` group: the object's name and its variables in ``vars/<i>`` order."""

    path: str
    name: str
    variables: list[Variable] = field(default_factory=list)
    layer: Layer | None = None

    @property
    def vars_path(self) -> str:
        return f"{self.path}/vars" if self.path else "vars"


def class_key(layer: Layer) -> str:
    """The snake-cased class name Keras uses as the container key (``ReLU`` → ``re_lu``)."""
    return snake_case(str(layer.class_name()))


def unique_key(base: str, used: dict[str, int]) -> str:
    """Keras' ``_get_unique_name``: ``dense``, ``dense_1``, … per container."""
    if base in used:
        used[base] += 1
        return f"{base}_{used[base]}"
    used[base] = 0
    return base


def walk_order_key(attr: str) -> str:
    """Keras visits attributes sorted by name, private ones (``_x``) last."""
    return f"~{attr}" if attr.startswith("_") else attr


def model_layers(model: Model, dialect: str = "keras3") -> list[Layer]:
    """``model.layers`` as Keras 3 lists them for saving (Sequential: no InputLayer; a Functional
    lists its InputLayers but not the ``keras.ops`` operations recorded in its graph)."""
    if isinstance(model, Sequential):
        return [la for la in model.layers if not isinstance(la, InputLayer)]
    from ..layers.ops import OpLayer  # Keras 3 ops are Operations, not Layers: not listed

    if dialect == "keras2":  # tf_keras' TFOpLambda are layers
        return list(model.layers)
    return [la for la in model.layers if not isinstance(la, OpLayer)]


def sublayer_attrs(layer: Layer, dialect: str = "keras3") -> list[tuple[str, Layer]]:
    """``(attribute path, sub-layer)`` pairs in Keras' walk order."""
    subs = layer.sublayers()
    # Catalog entries name sub-layers as Keras 3 saves them; tf_keras may use other attribute
    # names (MultiHeadAttention ``_query_dense``…), given by the layer's ``KERAS2_TREE_NAMES``.
    aliases: dict[str, str] = getattr(layer, "KERAS2_TREE_NAMES", {}) if dialect == "keras2" else {}
    pairs = [(aliases.get(attr, attr), sub) for attr, sub in subs.items()]
    return sorted(pairs, key=lambda p: walk_order_key(p[0]))


def own_variables(layer: Layer) -> list[Variable]:
    """A layer's own variables in ``vars/<i>`` order: trainable, then non-trainable."""
    own = list(layer.own_variables)
    return [v for v in own if v.trainable] + [v for v in own if not v.trainable]


def layer_groups(model: Model, dialect: str = "keras3") -> Iterator[Group]:
    """Every ``vars`` group of the model (root first), in Keras' save walk order."""
    visited: set[int] = set()
    yield from _walk(model, "", visited, dialect)


def _walk(layer: Layer, path: str, visited: set[int], dialect: str) -> Iterator[Group]:
    if id(layer) in visited:
        return
    visited.add(id(layer))
    if isinstance(layer, Model):
        yield Group(path, layer.name, [], layer)
        yield from _container(model_layers(layer, dialect), _join(path, "layers"), visited, dialect)
        return
    yield Group(path, layer.name, own_variables(layer), layer)
    for attr, sub in sublayer_attrs(layer, dialect):
        yield from _walk(sub, _join(path, attr), visited, dialect)


def _container(layers: list[Layer], path: str, visited: set[int], dialect: str) -> Iterator[Group]:
    used: dict[str, int] = {}
    for layer in layers:
        key = unique_key(class_key(layer), used)
        yield from _walk(layer, _join(path, key), visited, dialect)


def _join(path: str, name: str) -> str:
    return f"{path}/{name}" if path else name


def is_functional(model: Any) -> bool:
    return isinstance(model, Functional)
