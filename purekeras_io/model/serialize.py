"""Model configs in both Keras dialects: render (``to_json``) and parse (``model_from_config``).

Differences handled here (``shared/docs/h5.md`` §4, §13):

* ``inbound_nodes``: keras2 writes ``[[["name", node, tensor, {kwargs}]]]``, the first call
  argument only, every other argument becoming a kwarg; keras3 writes
  ``[{"args": […], "kwargs": {…}}]`` with ``__keras_tensor__`` objects.
* node index of a nested graph model: keras2 counts the nested model's own construction call,
  so it starts at 1; keras3 counts from 0.
* one input or output: keras2 ``[["a", 0, 0]]``; keras3 ``["a", 0, 0]``.
* Functional ``module``: ``tf_keras.src.engine.functional`` / ``keras.src.models.functional``.
* Sequential config: keras2 ``name`` and ``layers``; keras3 adds ``trainable``, ``dtype`` and
  ``build_input_shape``. keras2 names an InputLayer the Sequential made itself (from the first
  layer's ``input_shape`` or ``build()``) ``"<first layer>_input"``; Keras 3 ``"input_layer"``.
* a layer made with ``input_shape``: keras2 keeps ``batch_input_shape`` in its config.
* keras3 ``build_config`` only for classes with their own ``build()``
  (:data:`KERAS3_NO_BUILD_CONFIG`); keras3 node kwargs gain ``mask``/``training`` as Keras 3
  records them (:data:`KERAS3_CALL_KWARGS`).
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterator
from typing import Any

from ..errors import ConfigError, PurekerasError
from .base import Model
from .config_schema import DTYPE, check_layer_entry
from .dialect import Dialect, neutral_config, render_dtype
from .functional import Functional
from .input_layer import InputLayer
from .layer import Layer, UnknownLayer, layer_class
from .sequential import Sequential
from .tensor import KerasTensor, flatten, map_structure
from .validate import (
    MAX_DIM,
    Flag,
    Int,
    Opt,
    Shape,
    Text,
    check_depth,
    dict_at,
    fail,
    index,
    key,
    list_at,
    located,
    show,
)

__all__ = [
    "deserialize_layer",
    "detect_dialect",
    "model_from_config",
    "serialize_layer",
    "serialize_model",
]

KERAS_VERSIONS = {"keras2": "2.21.0", "keras3": "3.15.1"}
_MODEL_CLASSES = ("Sequential", "Functional", "Model")

# Keras 3.15 writes a layer's ``build_config`` only when its class has its own ``build()``
# (``Layer._maybe_build`` skips the default one, so ``_build_shapes_dict`` stays None); measured
# with ``to_json()`` on every catalog class. tf_keras writes ``build_config`` for every built layer.
# A class can also say ``keras3_build_config = False``.
KERAS3_NO_BUILD_CONFIG = frozenset(
    {
        "Activation", "ActivityRegularization", "AlphaDropout", "AveragePooling1D",
        "AveragePooling2D", "AveragePooling3D", "Dropout", "ELU", "GaussianDropout",
        "GaussianNoise", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
        "GlobalAveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
        "GlobalMaxPooling3D", "Identity", "LeakyReLU", "Masking", "MaxPooling1D", "MaxPooling2D",
        "MaxPooling3D", "ReLU", "Reshape", "Softmax", "SpatialDropout1D", "SpatialDropout2D",
        "SpatialDropout3D", "ThresholdedReLU", "UnitNormalization",
    }
)
# Call arguments Keras 3.15 adds to a node's ``kwargs`` when a layer is called on one tensor
# argument: ``mask`` (the input's mask, null without one) when ``call`` takes ``mask``, and the
# ``training`` default of ``call``'s signature when it is not None (measured with ``to_json()``;
# nested models take ``mask`` too). Not added when the call has several tensor arguments (an RNN
# with ``initial_state`` writes only its own kwargs). A class can also set ``keras3_call_kwargs``.
KERAS3_CALL_KWARGS: dict[str, dict[str, Any]] = {
    **{c: {"mask": None} for c in (
        "BatchNormalization", "Bidirectional", "GlobalAveragePooling1D", "Softmax",
        "TimeDistributed", "Sequential", "Functional", "Model",
    )},
    **{c: {"training": False, "mask": None} for c in ("RNN", "SimpleRNN", "LSTM", "GRU")},
    **{c: {"training": False} for c in (
        "AlphaDropout", "Dropout", "GaussianDropout", "GaussianNoise", "SpatialDropout1D",
        "SpatialDropout2D", "SpatialDropout3D",
    )},
    **{c: {"training": True} for c in ("CenterCrop", "Resizing")},
}


# ============================================================================ render


def _is_graph_model(layer: Layer) -> bool:
    """tf_keras numbers a nested graph model's nodes from 1 (its construction call is node 0)."""
    if isinstance(layer, Functional):
        return True
    return isinstance(layer, Sequential) and layer.input_layer is not None


def _json_value(value: Any) -> Any:
    if isinstance(value, slice):
        return {
            "class_name": "__slice__",
            "config": {"start": value.start, "stop": value.stop, "step": value.step},
        }
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def _node_ref(model: Functional, t: KerasTensor, dialect: Dialect) -> list[Any]:
    assert t.history is not None
    layer, node_index, tensor_index = t.history
    node = layer.inbound_nodes[node_index]
    index = model.node_index_in_model(node)
    if dialect == "keras2" and _is_graph_model(layer):
        index += 1
    return [layer.name, index, tensor_index]


def _keras3_call_defaults(
    layer: Layer, args: Any, kwargs: dict[str, Any]
) -> dict[str, Any]:
    """The call kwargs Keras 3 records beside the user's (see :data:`KERAS3_CALL_KWARGS`)."""
    defaults = getattr(layer, "keras3_call_kwargs", None)
    if defaults is None and _is_keras_layer(layer):
        defaults = KERAS3_CALL_KWARGS.get(layer.class_name(), {})
    if not defaults or len(args) != 1:
        return {}
    if any(isinstance(t, KerasTensor) for t in flatten(kwargs)):
        return {}
    out = {k: v for k, v in defaults.items() if k not in kwargs}
    if "mask" in out and _may_carry_mask(args[0]):
        # Keras writes the mask tensor itself (an op outside the model's layers); an explicit
        # null would switch the mask off when Keras 3 loads the config, so write nothing.
        del out["mask"]
    return out


def _is_mask_source(layer: Layer) -> bool:
    name = layer.class_name()
    if name == "Masking" or (name == "Embedding" and layer.config.get("mask_zero")):
        return True
    if isinstance(layer, Model):
        return any(_is_mask_source(sub) for sub in layer.iter_layers() if sub is not layer)
    return False


def _may_carry_mask(value: Any) -> bool:
    """Whether a tensor may have a Keras mask: a Masking layer or an Embedding with
    ``mask_zero`` upstream of it (conservative: masks a layer drops are not followed)."""
    seen: set[int] = set()
    stack = [t for t in flatten(value) if isinstance(t, KerasTensor)]
    while stack:
        t = stack.pop()
        if t.history is None or id(t) in seen:
            continue
        seen.add(id(t))
        layer, node_index, _ = t.history
        if _is_mask_source(layer):
            return True
        if node_index < len(layer.inbound_nodes):
            node = layer.inbound_nodes[node_index]
            stack.extend(
                x for x in flatten((node.args, node.kwargs)) if isinstance(x, KerasTensor)
            )
    return False


def _render_node(model: Functional, layer: Layer, node: Any, dialect: Dialect) -> Any:
    args, kwargs = (
        layer.node_arguments(node, dialect)
        if hasattr(layer, "node_arguments")
        else (node.args, node.kwargs)
    )
    if dialect == "keras3":

        def k3(value: Any) -> Any:
            if isinstance(value, KerasTensor):
                return {
                    "class_name": "__keras_tensor__",
                    "config": {
                        "shape": list(value.shape),
                        "dtype": value.dtype,
                        "keras_history": _node_ref(model, value, dialect),
                    },
                }
            return _json_value(value)

        kwargs = {**kwargs, **_keras3_call_defaults(layer, args, kwargs)}
        return {"args": map_structure(k3, list(args)), "kwargs": map_structure(k3, dict(kwargs))}

    # keras2: the first argument carries the tensors; everything else is a kwarg.
    first = args[0] if args else None
    extra = dict(zip(layer.call_arg_names()[1:], args[1:])) if len(args) > 1 else {}
    extra.update(kwargs)
    extra_json = map_structure(
        lambda v: _node_ref(model, v, dialect) if isinstance(v, KerasTensor) else _json_value(v),
        extra,
    )

    def k2(value: Any) -> Any:
        if isinstance(value, KerasTensor):
            return [*_node_ref(model, value, dialect), extra_json]
        return ["_CONSTANT_VALUE", -1, _json_value(value), extra_json]

    data = map_structure(k2, first)
    if getattr(layer, "preserve_input_structure", False):
        # tf_keras op layers (TFOpLambda): the first argument's structure as is, a leaf unwrapped.
        return list(data) if isinstance(data, tuple) else data
    if isinstance(first, KerasTensor) or not isinstance(first, (list, tuple, dict)):
        return [data]
    return list(data) if isinstance(data, tuple) else data


def serialize_layer(layer: Layer, dialect: Dialect) -> dict[str, Any]:
    """One entry of a ``layers`` list (without ``name``/``inbound_nodes``)."""
    if isinstance(layer, Model):
        entry = _model_entry(layer, dialect)
    else:
        entry = {
            "module": layer.module,
            "class_name": layer.class_name(),
            "config": layer.get_config(dialect),
            "registered_name": getattr(layer, "_registered_name", None),
        }
        if isinstance(layer, UnknownLayer) and layer._keras_module:
            entry["module"] = layer._keras_module
        if dialect == "keras2" and layer.batch_input_shape is not None:
            entry["config"] = _with_batch_input_shape(entry["config"], layer.batch_input_shape)
    build = layer.build_config() if not isinstance(layer, InputLayer) else None
    if dialect == "keras3" and not _keras3_build_config(layer):
        build = None
    if isinstance(layer, Functional) and build is not None:
        # A nested Functional: Keras 3 writes {"input_shape": null}, tf_keras its input shape.
        build = {"input_shape": None} if dialect == "keras3" else build
    if build is not None:
        entry["build_config"] = build
    if not isinstance(layer, Model) and hasattr(layer, "serialize_entry"):
        # Last, so a layer can also adjust its build_config per dialect (MultiHeadAttention).
        entry = layer.serialize_entry(entry, dialect)
    return entry


def _with_batch_input_shape(config: dict[str, Any], shape: Any) -> dict[str, Any]:
    """tf_keras keeps the ``input_shape``/``batch_input_shape`` a layer was made with as
    ``batch_input_shape`` in its config, after ``dtype`` (Keras 3 drops it)."""
    value = [None if d is None else int(d) for d in shape]
    if "batch_input_shape" in config:
        return config
    out: dict[str, Any] = {}
    for name, item in config.items():
        out[name] = item
        if name == "dtype":
            out["batch_input_shape"] = value
    out.setdefault("batch_input_shape", value)
    return out


def _keras3_build_config(layer: Layer) -> bool:
    """Whether Keras 3 writes a ``build_config`` for this layer (see KERAS3_NO_BUILD_CONFIG)."""
    flag = getattr(layer, "keras3_build_config", None)
    if flag is not None:
        return bool(flag)
    return not _is_keras_layer(layer) or layer.class_name() not in KERAS3_NO_BUILD_CONFIG


def _is_keras_layer(layer: Layer) -> bool:
    """A catalog ``keras.layers`` class or a model (not an op layer such as Keras 3's
    ``keras.src.ops.nn.Softmax``, which shares a layer's class name, nor an unknown layer)."""
    if isinstance(layer, Model):
        return True
    return not isinstance(layer, UnknownLayer) and layer.module == "keras.layers"


def _model_entry(model: Model, dialect: Dialect) -> dict[str, Any]:
    if isinstance(model, Sequential):
        module = "keras"
        registered = None
    else:
        module = (
            "keras.src.models.functional"
            if dialect == "keras3"
            else "tf_keras.src.engine.functional"
        )
        registered = "Functional"
    return {
        "module": module,
        "class_name": model.class_name(),
        "config": model_config(model, dialect),
        "registered_name": registered,
    }


def model_config(model: Model, dialect: Dialect) -> dict[str, Any]:
    """The ``config`` of a Sequential or Functional model."""
    if isinstance(model, Sequential):
        layers = []
        if model.input_layer is not None:
            first = serialize_layer(model.input_layer, dialect)
            if dialect == "keras2" and model.implicit_input and model.layers:
                # tf_keras names the InputLayer it makes itself "<first layer>_input".
                first["config"]["name"] = f"{model.layers[0].name}_input"
            layers.append(first)
        layers.extend(serialize_layer(la, dialect) for la in model.layers)
        if dialect == "keras2":
            return {"name": model.name, "layers": layers}
        out: dict[str, Any] = {
            "name": model.name,
            "trainable": model.trainable,
            "dtype": render_dtype(model.config.get("dtype") or "float32", dialect),
            "layers": layers,
        }
        if model.build_input_shape is not None:
            out["build_input_shape"] = model.build_input_shape
        return out
    if not isinstance(model, Functional):
        raise ConfigError(f"cannot serialize model class {type(model).__name__}")
    entries = []
    for layer in model.layers:
        entry = serialize_layer(layer, dialect)
        entry["name"] = layer.name
        nodes = [n for n in layer.inbound_nodes if n in model.graph.nodes]
        if isinstance(layer, InputLayer):
            entry["inbound_nodes"] = []
        else:
            entry["inbound_nodes"] = [_render_node(model, layer, n, dialect) for n in nodes]
        entries.append(entry)
    ins = [_node_ref(model, t, dialect) for t in model.inputs]
    outs = [_node_ref(model, t, dialect) for t in model.outputs]
    if dialect == "keras3":
        in_json: Any = (
            ins[0]
            if len(ins) == 1 and not isinstance(model._inputs_struct, (list, tuple, dict))
            else ins
        )
        out_json: Any = (
            outs[0]
            if len(outs) == 1 and not isinstance(model._outputs_struct, (list, tuple, dict))
            else outs
        )
    else:
        in_json, out_json = ins, outs
    return {
        "name": model.name,
        "trainable": model.trainable,
        "layers": entries,
        "input_layers": in_json,
        "output_layers": out_json,
    }


def serialize_model(model: Model, dialect: Dialect) -> dict[str, Any]:
    """What ``model.to_json()`` of that Keras generation produces (as a dict)."""
    if dialect == "keras2":
        return {
            "class_name": model.class_name(),
            "config": model_config(model, dialect),
            "keras_version": KERAS_VERSIONS["keras2"],
            "backend": "tensorflow",
        }
    entry = _model_entry(model, dialect)
    entry["build_config"] = {
        "input_shape": model.build_input_shape if isinstance(model, Sequential) else None
    }
    entry["compile_config"] = {}
    return entry


# ============================================================================ parse
#
# Every value is checked before use (``validate``/``config_schema``); errors name the key path
# from the model config's root (``config.layers[3].config.units``). Nesting is bounded once, in
# :func:`model_from_config`, so the recursive walkers below stay far from Python's limit.


def detect_dialect(config: Any) -> Dialect:
    """Which Keras generation wrote a model config (a dict or its JSON text)."""
    text = config if isinstance(config, str) else json.dumps(config)
    if '"batch_input_shape"' in text or '"TFOpLambda"' in text or '"SlicingOpLambda"' in text:
        return "keras2"
    if '"keras_version": "2.' in text or '"tf_keras.' in text:
        return "keras2"
    if '"__keras_tensor__"' in text or '"DTypePolicy"' in text or '"batch_shape"' in text:
        return "keras3"
    if '"inbound_nodes": [[' in text:
        return "keras2"
    return "keras3"


_CALL_ERRORS = (
    TypeError, ValueError, IndexError, KeyError, AttributeError, OverflowError,
    ZeroDivisionError, ArithmeticError,
)
"""What a catalog layer's shape code can raise on a config that passed every value check but
does not fit its inputs (a Dense on a rank-0 input …): reported with the layer's key path."""


@contextlib.contextmanager
def _at(path: str, what: str) -> Iterator[None]:
    """Give a ``ConfigError`` raised inside (a layer constructor's own check) the key path, and
    report a foreign error of a layer's shape code as a ``ConfigError`` naming the layer."""
    try:
        yield
    except ConfigError as exc:
        if exc.key_path is not None:
            raise
        raise located(f"{what}: {exc}", path) from None
    except PurekerasError:
        raise
    except _CALL_ERRORS as exc:
        raise located(f"{what}: {type(exc).__name__}: {exc}", path) from exc


def deserialize_layer(entry: dict[str, Any], dialect: Dialect, path: str = "layer") -> Layer:
    """A ``{"class_name", "config", …}`` entry → a layer (models recursively, unknown as data);
    ``path`` is the entry's key path, for error messages."""
    check_layer_entry(entry, path)
    class_name = str(entry["class_name"])
    config = copy.deepcopy(entry.get("config") or {})
    if class_name in _MODEL_CLASSES:
        return _model_from(class_name, config, dialect, key(path, "config"))
    cls = layer_class(class_name, entry.get("module"))
    with _at(key(path, "config"), f"{class_name} layer"):
        if cls is None:
            layer: Layer = UnknownLayer(
                keras_class_name=class_name,
                keras_module=entry.get("module"),
                _registered_name=entry.get("registered_name"),
                _from_config=True,
                _dialect=dialect,
                **neutral_config(config),
            )
        else:
            layer = cls.from_config(config, dialect)
    build = entry.get("build_config")
    if build and isinstance(build, dict) and not layer.built:
        # Keras 3 layers built from several shapes (MultiHeadAttention) write ``shapes_dict``.
        shape = build.get("input_shape")
        if shape is None and isinstance(build.get("shapes_dict"), dict):
            shape = build["shapes_dict"]
        if shape is not None:
            try:
                layer.build(_shape_tuple(shape))
            except Exception:
                layer.built = False
    return layer


def _shape_tuple(shape: Any) -> Any:
    if isinstance(shape, dict):
        return {k: _shape_tuple(v) for k, v in shape.items()}
    if isinstance(shape, list) and shape and isinstance(shape[0], (list, dict)):
        return [_shape_tuple(s) for s in shape]
    if isinstance(shape, (list, tuple)):
        return tuple(shape)
    return shape


def _model_from(class_name: str, config: Any, dialect: Dialect, path: str) -> Model:
    if class_name == "Sequential":
        return _sequential_from(config, dialect, path)
    return _functional_from(dict_at(config, path), dialect, path)


def _sequential_from(config: Any, dialect: Dialect, path: str) -> Sequential:
    if isinstance(config, list):  # very old Keras: the config is the layer list itself
        config = {"layers": config}
    config = dict_at(config, path)
    name = Opt(Text())(config.get("name"), key(path, "name"))
    trainable = Flag()(config.get("trainable", True), key(path, "trainable"))
    build_shape = Opt(Shape())(config.get("build_input_shape"), key(path, "build_input_shape"))
    model = Sequential(name=name, trainable=trainable)
    if config.get("dtype") is not None:
        DTYPE(config["dtype"], key(path, "dtype"))
        model.config["dtype"] = neutral_config({"dtype": config["dtype"]})["dtype"]
    layers_path = key(path, "layers")
    layers_cfg = list(enumerate(list_at(config.get("layers"), layers_path, optional=True)))
    if layers_cfg and isinstance(layers_cfg[0][1], dict) and (
        layers_cfg[0][1].get("class_name") == "InputLayer"
    ):
        _, first = layers_cfg.pop(0)
        where = index(layers_path, 0)
        check_layer_entry(first, where)
        with _at(key(where, "config"), "InputLayer"):
            model.add(InputLayer.from_config(dict_at(first.get("config"), key(where, "config")),
                                             dialect))
    elif build_shape is not None:
        model.input_layer = InputLayer(batch_shape=list(build_shape))
        model.implicit_input = True
    for i, entry in layers_cfg:
        where = index(layers_path, i)
        layer = deserialize_layer(entry, dialect, where)
        with _at(where, f"layer {layer.name!r} ({layer.class_name()}) cannot follow the layers "
                 "before it"):
            model.add(layer)
    return model


def _is_ref(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 3
        and isinstance(value[0], str)
        and isinstance(value[1], int)
        and isinstance(value[2], int)
    )


def _check_ref(ref: Any, path: str) -> tuple[str, int, int]:
    """``[layer name, node index, tensor index]`` (a keras2 leaf may add a kwargs object)."""
    if not isinstance(ref, (list, tuple)) or len(ref) not in (3, 4):
        fail(path, "a tensor reference [layer name, node index, tensor index]", ref)
    items = list(ref)
    name = Text()(items[0], index(path, 0))
    node = Int(0)(items[1], index(path, 1))
    tensor = Int(0)(items[2], index(path, 2))
    return name, node, tensor


def _functional_from(config: dict[str, Any], dialect: Dialect, path: str) -> Functional:
    created: dict[str, Layer] = {}
    pending: dict[str, list[Any]] = {}
    where_of: dict[str, str] = {}
    order: list[str] = []
    layers_path = key(path, "layers")
    for i, entry in enumerate(list_at(config.get("layers"), layers_path, optional=True)):
        where = index(layers_path, i)
        check_layer_entry(entry, where)
        cfg = entry.get("config")
        name = entry.get("name") or (cfg.get("name") if isinstance(cfg, dict) else None)
        name = Text()(name, key(where, "name"))
        if name in created:
            raise located(
                f"layer name {name!r} is used twice (also by {where_of[name]}); names must be "
                "unique in a model", key(where, "name"),
            )
        layer = deserialize_layer(entry, dialect, where)
        if name != layer.name:
            layer.name = name
        created[name] = layer
        where_of[name] = where
        nodes = list_at(entry.get("inbound_nodes"), key(where, "inbound_nodes"), optional=True)
        pending[name] = nodes
        order.append(name)
    outputs_by_node: dict[tuple[str, int], list[KerasTensor]] = {}
    for name, layer in created.items():
        if isinstance(layer, InputLayer):
            outputs_by_node[(name, 0)] = layer.inbound_nodes[0].outputs
    counts = {name: 0 for name in created}
    # Decided before any call: calling a Sequential without an input shape builds it.
    graph_models = {name for name, layer in created.items() if _is_graph_model(layer)}

    def node_key(name: str, node: int, where: str) -> tuple[str, int]:
        if name not in created:
            raise located(f"inbound node refers to unknown layer {name!r}", where)
        if dialect == "keras2" and name in graph_models:
            node -= 1
        return (name, node)

    def tensor(ref: Any, where: str) -> KerasTensor | None:
        name, node, t_index = _check_ref(ref, where)
        outs = outputs_by_node.get(node_key(name, node, where))
        if outs is None:
            return None
        if t_index >= len(outs):
            raise located(
                f"tensor {t_index} of layer {name!r} node {node} does not exist (the node has "
                f"{len(outs)} output(s))", where,
            )
        return outs[t_index]

    progress = True
    while progress and any(pending.values()):
        progress = False
        for name in order:
            while pending[name]:
                where = index(key(where_of[name], "inbound_nodes"), counts[name])
                node_data = pending[name][0]
                call = _parse_node(node_data, dialect, tensor, where)
                if call is None:
                    break
                args, kwargs = call
                layer = created[name]
                if not any(isinstance(t, KerasTensor) for t in flatten((args, kwargs))):
                    raise located(
                        f"layer {name!r} is called on no tensor of the model (only constants)",
                        where,
                    )
                what = f"layer {name!r} ({layer.class_name()}) cannot be called on its inputs"
                with _at(where, what):
                    if hasattr(layer, "from_node_arguments"):
                        args, kwargs = layer.from_node_arguments(args, kwargs, dialect)
                    result = layer(*args, **kwargs)
                outs = result if isinstance(result, list) else [result]
                outputs_by_node[(name, counts[name])] = outs
                counts[name] += 1
                pending[name].pop(0)
                progress = True
    stuck = [n for n, p in pending.items() if p]
    if stuck:
        raise located(
            "the graph has loops or disconnected nodes; cannot resolve the inbound nodes of "
            f"{stuck[:10]}", layers_path,
        )

    def refs(value: Any, where: str) -> list[Any]:
        if _is_ref(value):
            return [value]
        return list_at(value, where)

    def resolve(ref: Any, where: str) -> KerasTensor:
        t = tensor(ref, where)
        if t is None:
            raise located(f"{show(ref)} does not resolve to a tensor", where)
        return t

    in_path, out_path = key(path, "input_layers"), key(path, "output_layers")
    in_cfg, out_cfg = config.get("input_layers", []), config.get("output_layers", [])
    inputs: Any = [
        resolve(r, index(in_path, i)) for i, r in enumerate(refs(in_cfg, in_path))
    ]
    outputs: Any = [
        resolve(r, index(out_path, i)) for i, r in enumerate(refs(out_cfg, out_path))
    ]
    # tf_keras treats a list of one input or output as that tensor; Keras 3 keeps the structure.
    if _is_ref(in_cfg) or (dialect == "keras2" and len(inputs) == 1):
        inputs = inputs[0] if inputs else inputs
    if _is_ref(out_cfg) or (dialect == "keras2" and len(outputs) == 1):
        outputs = outputs[0] if outputs else outputs
    name = Opt(Text())(config.get("name"), key(path, "name"))
    trainable = Flag()(config.get("trainable", True), key(path, "trainable"))
    with _at(path, "the model's inputs and outputs do not form a graph"):
        model = Functional(inputs, outputs, name=name, trainable=trainable)
    return model


def _parse_node(
    node_data: Any, dialect: Dialect, tensor: Any, path: str
) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
    """Inbound node data → call arguments, or None while an inbound tensor is not made yet."""
    missing = False

    def from_json(value: Any, where: str) -> Any:
        nonlocal missing
        if isinstance(value, dict):
            cls = value.get("class_name")
            if cls == "__keras_tensor__":
                cfg = dict_at(value.get("config"), key(where, "config"))
                t = tensor(cfg.get("keras_history"), key(key(where, "config"), "keras_history"))
                if t is None:
                    missing = True
                return t
            if cls == "__slice__":
                c = dict_at(value.get("config"), key(where, "config"), optional=True)
                bound = Opt(Int(-MAX_DIM))
                return slice(
                    bound(c.get("start"), key(key(where, "config"), "start")),
                    bound(c.get("stop"), key(key(where, "config"), "stop")),
                    bound(c.get("step"), key(key(where, "config"), "step")),
                )
            return {k: from_json(v, key(where, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [from_json(v, index(where, i)) for i, v in enumerate(value)]
        return value

    if isinstance(node_data, dict) and "args" in node_data:
        args = list_at(from_json(node_data.get("args", []), key(path, "args")), key(path, "args"))
        kwargs = dict_at(
            from_json(node_data.get("kwargs", {}), key(path, "kwargs")), key(path, "kwargs"),
            optional=True,
        )
        return None if missing else (tuple(args), dict(kwargs))

    # keras2: a nest whose leaves are [name, node, tensor, kwargs] (or _CONSTANT_VALUE entries).
    kwargs_holder: dict[str, Any] = {}

    def is_leaf(value: Any) -> bool:
        return (
            isinstance(value, list)
            and len(value) in (3, 4)
            and isinstance(value[0], str)
            and isinstance(value[1], int)
            and (len(value) == 3 or isinstance(value[3], dict))
        )

    def k2_kwargs(value: Any, where: str) -> Any:
        nonlocal missing
        if _is_ref(value) and value[0] != "_CONSTANT_VALUE":
            try:
                t = tensor(value, where)
            except ConfigError:
                return value
            if t is None:
                missing = True
            return t
        if isinstance(value, dict):
            return {k: k2_kwargs(v, key(where, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [k2_kwargs(v, index(where, i)) for i, v in enumerate(value)]
        return value

    def leaf(value: Any, where: str) -> Any:
        nonlocal missing
        if len(value) == 4:
            kwargs_holder.update(value[3])
        if value[0] == "_CONSTANT_VALUE":
            return value[2]
        t = tensor(value[:3], where)
        if t is None:
            missing = True
        return t

    def walk(value: Any, where: str) -> Any:
        if is_leaf(value):
            return leaf(value, where)
        if isinstance(value, dict):
            return {k: walk(v, key(where, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, index(where, i)) for i, v in enumerate(value)]
        return value

    data = walk(node_data, path)
    kwargs = k2_kwargs(dict(kwargs_holder), path)
    if missing:
        return None
    if isinstance(data, list) and len(data) == 1:
        first: Any = data[0]
    else:
        first = data
    return (first,), kwargs


def model_from_config(
    config: dict[str, Any], dialect: Dialect | None = None, *, path: str = ""
) -> Model:
    """A model from ``{"class_name", "config"}`` as either Keras generation writes it.

    Every value is checked first (``ConfigError`` names the key path from ``path``, the config's
    own place in its document, and the value); a config nested deeper than
    :data:`~.validate.MAX_JSON_DEPTH` is refused."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise located(
            f"model config must be an object with 'class_name', received {show(config)}", path
        )
    check_depth(config, path)
    dialect = dialect or detect_dialect(config)
    layer = deserialize_layer(config, dialect, path)
    if not isinstance(layer, Model):
        raise located(f"config describes a {show(config['class_name'])}, not a model",
                      key(path, "class_name"))
    layer.source_dialect = dialect
    for sub in layer.iter_layers():
        sub.source_dialect = dialect
    return layer
