"""The layer: one entry of the catalog, and the base every catalog entry fills in.

A catalog entry is a subclass of :class:`Layer` that states, in one place:

* ``defaults``: its constructor arguments and their Keras defaults (the neutral config, see
  :mod:`.dialect`), and the per-dialect keys (``keras2_only``, ``keras3_only``);
* ``weight_specs(input_shape)``: its own weights in Keras' creation order (names, shapes,
  initializers, trainable flags); nested sub-layers (an RNN cell, a Bidirectional's two layers)
  are attributes listed in ``sublayers()``, and their weights follow the layer's own;
* ``compute_output_shape(input_shape)`` and ``compute_mask``;
* ``call(inputs, …)``: the NumPy forward pass (inference mode);
* room for more facets (TensorFlow graph lowering, trackable structure) as methods beside these.

Layers outside the catalog are :class:`UnknownLayer`: config and weights are kept through every
format; only ``call`` refuses.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .. import initializers
from ..errors import ConfigError, UnknownLayerError
from .dialect import Dialect, neutral_config, render_value
from .naming import snake_case, unique_name
from .tensor import KerasTensor, Node, flatten, map_structure, shape_of
from .variable import Variable

__all__ = [
    "LAYER_CLASSES",
    "Layer",
    "UnknownLayer",
    "WeightSpec",
    "layer_class",
    "register",
    "register_qualified",
]

# TensorFlow's VariableSynchronization / VariableAggregation values used by Keras layers.
SYNC_AUTO, SYNC_ON_READ = 0, 3
AGG_NONE, AGG_SUM, AGG_MEAN = 0, 1, 2

LAYER_CLASSES: dict[str, type[Layer]] = {}

# Config keys every layer understands, with their defaults.
BASE_DEFAULTS: dict[str, Any] = {"name": None, "trainable": True, "dtype": "float32"}
# Constructor keys that describe the input of the first layer (Keras 2 and 3 spellings).
INPUT_KEYS = ("input_shape", "batch_input_shape", "batch_shape", "batch_size", "input_dim")


@dataclass(frozen=True)
class WeightSpec:
    """A weight a layer creates when built."""

    name: str
    shape: tuple[int, ...]
    initializer: Any = "zeros"
    trainable: bool = True
    dtype: str | None = None
    synchronization: int = SYNC_AUTO
    aggregation: int = AGG_NONE


# Class names that mean a catalog entry only under one ``module`` (Keras 3 ops share names with
# layers: ``keras.src.ops.numpy.Add`` is an operator, ``keras.layers.Add`` the merge layer), and
# per-module factories for class names of such a module that have no entry of their own.
QUALIFIED_CLASSES: dict[tuple[str, str], type[Layer]] = {}
MODULE_FALLBACKS: dict[str, Callable[[str], type[Layer]]] = {}


def register(cls: type[Layer]) -> type[Layer]:
    """Class decorator: add a catalog entry under its Keras class name (and its aliases)."""
    LAYER_CLASSES[cls.class_name()] = cls
    for alias in cls.aliases:
        LAYER_CLASSES[alias] = cls
    return cls


def register_qualified(module: str, class_name: str, cls: type[Layer]) -> type[Layer]:
    """Add a catalog entry for ``class_name`` as written with this ``module`` only."""
    QUALIFIED_CLASSES[(module, class_name)] = cls
    return cls


def layer_class(class_name: str, module: str | None = None) -> type[Layer] | None:
    """The catalog entry for a config's ``class_name`` (and ``module``, where it decides)."""
    if module is not None:
        if (module, class_name) in QUALIFIED_CLASSES:
            return QUALIFIED_CLASSES[(module, class_name)]
        if module in MODULE_FALLBACKS:
            return MODULE_FALLBACKS[module](class_name)
    return LAYER_CLASSES.get(class_name)


class Layer:
    """Base of every layer in the description."""

    defaults: ClassVar[dict[str, Any]] = {}
    aliases: ClassVar[tuple[str, ...]] = ()
    module: ClassVar[str] = "keras.layers"
    keras2_only: ClassVar[dict[str, Any]] = {}
    """Keys tf_keras writes (with their defaults) that Keras 3 refuses; not kept in neutral form."""
    keras3_only: ClassVar[tuple[str, ...]] = ()
    """Keys Keras 3 writes that tf_keras refuses; left out when rendering for Keras 2."""
    supports_masking: ClassVar[bool] = False
    stateless_weights: ClassVar[bool] = False

    # ---------------------------------------------------------------- construction

    positional: ClassVar[tuple[str, ...] | None] = None
    """Constructor arguments that may be given by position, in Keras' order; None: the first two
    keys of ``defaults`` (``Concatenate(1)``, ``Embedding(10, 4)``, ``Dot(1)``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args:
            names = self.positional if self.positional is not None else tuple(self.defaults)[:2]
            if len(args) > len(names):
                raise ConfigError(
                    f"{type(self).__name__}: at most {len(names)} positional arguments "
                    f"({list(names)}), received {len(args)}: {args!r}"
                )
            for key, value in zip(names, args):
                if key in kwargs:
                    raise ConfigError(f"{type(self).__name__}: argument {key!r} given twice")
                kwargs[key] = value
        from_config = kwargs.pop("_from_config", False)
        self.source_dialect: Dialect = kwargs.pop("_dialect", "keras3")
        input_spec = {
            k: kwargs.pop(k) for k in INPUT_KEYS if k in kwargs and k not in self.defaults
        }
        cfg = copy.deepcopy(BASE_DEFAULTS)
        cfg.update(copy.deepcopy(self.defaults))
        unknown = [k for k in kwargs if k not in cfg and k not in self.keras2_only]
        if unknown and not from_config and not isinstance(self, UnknownLayer):
            raise ConfigError(
                f"{self.class_name()}: unknown argument(s) {unknown}; "
                f"known: {sorted(k for k in cfg if k != 'name')}"
            )
        cfg.update(neutral_config(kwargs))
        for key in self.keras2_only:
            cfg.pop(key, None)
        if not cfg.get("name"):
            cfg["name"] = unique_name(snake_case(self.class_name()))
        self.config: dict[str, Any] = cfg
        self._variables: list[Variable] = []
        self.built = False
        self.build_input_shape: Any = None
        self.inbound_nodes: list[Node] = []
        self.batch_input_shape = _batch_shape_from(input_spec)
        self.normalize_config()

    def normalize_config(self) -> None:
        """Hook: fix up ``self.config`` after construction (e.g. tuples → lists)."""

    @classmethod
    def class_name(cls) -> str:
        return cls.__name__

    @classmethod
    def call_arg_names(cls) -> tuple[str, ...]:
        """Names of ``call``'s positional arguments (tf_keras writes the rest as kwargs)."""
        return ("inputs",)

    @classmethod
    def from_config(cls, config: dict[str, Any], dialect: Dialect = "keras3") -> Layer:
        """Build the layer from a config in either dialect."""
        config = dict(config)
        return cls(_from_config=True, _dialect=dialect, **config)

    # ---------------------------------------------------------------- config

    @property
    def name(self) -> str:
        return str(self.config["name"])

    @name.setter
    def name(self, value: str) -> None:
        self.config["name"] = value

    @property
    def trainable(self) -> bool:
        return bool(self.config.get("trainable", True))

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self.config["trainable"] = bool(value)
        for sub in self.sublayers().values():
            sub.trainable = value

    @property
    def dtype(self) -> str:
        """The variable dtype (for ``mixed_float16`` policies, the variables are float32)."""
        name = self.config.get("dtype") or "float32"
        return "float32" if str(name).startswith("mixed_") else str(name)

    @property
    def compute_dtype(self) -> str:
        name = str(self.config.get("dtype") or "float32")
        return name.split("_", 1)[1] if name.startswith("mixed_") else name

    def get_config(self, dialect: Dialect = "keras3") -> dict[str, Any]:
        """The layer config as the given Keras generation writes it."""
        out: dict[str, Any] = {}
        for key, value in self.config.items():
            if dialect == "keras2" and key in self.keras3_only:
                continue
            out[key] = render_value(key, copy.deepcopy(value), dialect)
        return self.render_config(out, dialect)

    def render_config(self, config: dict[str, Any], dialect: Dialect) -> dict[str, Any]:
        """Hook: per-layer dialect differences on top of :meth:`get_config`."""
        return config

    def build_config(self) -> dict[str, Any] | None:
        if self.build_input_shape is None:
            return None
        return {"input_shape": _json_shape(self.build_input_shape)}

    # ---------------------------------------------------------------- weights

    def weight_specs(self, input_shape: Any) -> list[WeightSpec]:
        """The layer's own weights for this input shape, in Keras' creation order."""
        return []

    def sublayers(self) -> dict[str, Layer]:
        """Nested layers by attribute name (``cell``, ``forward_layer``…), in weight order."""
        return {}

    def build(self, input_shape: Any) -> None:
        """Create the weights for ``input_shape`` (with initial values) and mark the layer built."""
        if self.built:
            return
        self.build_input_shape = _json_shape(input_shape)
        self._variables = [self._make_variable(spec) for spec in self.weight_specs(input_shape)]
        self.built = True

    def _make_variable(self, spec: WeightSpec) -> Variable:
        # Lazy: nothing is drawn until the value is read (set_weights/readers replace it).
        dtype = spec.dtype or self.dtype
        initial = initializers.lazy(spec.initializer, spec.shape, _np_dtype(dtype))
        return Variable(
            name=spec.name,
            initial=initial,
            trainable=spec.trainable,
            path=f"{self.name}/{spec.name}",
            synchronization=spec.synchronization,
            aggregation=spec.aggregation,
        )

    @property
    def own_variables(self) -> list[Variable]:
        """This layer's own variables (not its sub-layers'), in creation order."""
        return self._variables

    @property
    def weights(self) -> list[Variable]:
        """Trainable then non-trainable own weights, then each sub-layer's (as Keras 3)."""
        own = [v for v in self._variables if v.trainable] + [
            v for v in self._variables if not v.trainable
        ]
        for sub in self.sublayers().values():
            own.extend(sub.weights)
        return own

    @property
    def trainable_weights(self) -> list[Variable]:
        if not self.trainable:
            return []
        return [v for v in self.weights if v.trainable]

    @property
    def non_trainable_weights(self) -> list[Variable]:
        if not self.trainable:
            return self.weights
        return [v for v in self.weights if not v.trainable]

    def get_weights(self) -> list[np.ndarray]:
        return [v.value for v in self.weights]

    def set_weights(self, weights: list[Any]) -> None:
        mine = self.weights
        if len(weights) != len(mine):
            raise ConfigError(
                f"layer {self.name!r}: set_weights expected {len(mine)} arrays "
                f"({[v.name for v in mine]}), received {len(weights)}"
            )
        for var, value in zip(mine, weights):
            var.assign(value)

    def __getattr__(self, item: str) -> Any:
        # Attribute access to weights (``layer.kernel``); anything else is a real AttributeError.
        if item.startswith("_") or item in ("config",):
            raise AttributeError(item)
        for var in self.__dict__.get("_variables", ()):
            if var.name == item:
                return var
        raise AttributeError(
            f"{type(self).__name__} {self.__dict__.get('config', {}).get('name')!r} "
            f"has no attribute {item!r}"
        )

    # ---------------------------------------------------------------- shapes and forward pass

    def compute_output_shape(self, input_shape: Any) -> Any:
        """Output shape(s): a tuple for one output, a list of tuples for several."""
        return input_shape

    def compute_output_dtype(self, input_dtype: Any) -> Any:
        return self.compute_dtype

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return mask if self.supports_masking else None

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        """The NumPy forward pass in inference mode."""
        raise UnknownLayerError(
            f"layer {self.name!r}: class {self.class_name()!r} has no NumPy forward pass"
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        leaves = list(flatten((args, kwargs)))
        if any(isinstance(t, KerasTensor) for t in leaves):
            return self._call_symbolic(args, kwargs)
        if not args:
            raise ConfigError(f"layer {self.name!r}: called without inputs")
        inputs = map_structure(_as_array, args[0])
        if not self.built:
            self.build(shape_of(inputs))
        return self.call(inputs, *args[1:], **kwargs)

    def _call_symbolic(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        inputs = args[0] if args else next(iter(kwargs.values()))
        input_shape = shape_of(inputs)
        if not self.built:
            self.build(input_shape)
        out_shape = self.compute_output_shape(input_shape)
        in_dtype = map_structure(lambda t: getattr(t, "dtype", None), inputs)
        out_dtype = self.compute_output_dtype(in_dtype)
        node = Node(self, args, kwargs)
        self.inbound_nodes.append(node)
        index = len(self.inbound_nodes) - 1
        if isinstance(out_shape, list):
            dtypes = out_dtype if isinstance(out_dtype, list) else [out_dtype] * len(out_shape)
            node.outputs = [
                KerasTensor(s, d, (self, index, i))
                for i, (s, d) in enumerate(zip(out_shape, dtypes))
            ]
            return list(node.outputs)
        node.outputs = [KerasTensor(out_shape, out_dtype, (self, index, 0))]
        return node.outputs[0]

    # ---------------------------------------------------------------- misc

    def iter_layers(self) -> Iterator[Layer]:
        yield self

    def count_params(self) -> int:
        return int(sum(int(np.prod(v.shape)) for v in self.weights))

    def __repr__(self) -> str:
        return f"<{self.class_name()} name={self.name}>"


class UnknownLayer(Layer):
    """A layer class outside the catalog: config and weights kept verbatim, no forward pass."""

    def __init__(
        self, keras_class_name: str = "Layer", keras_module: str | None = None, **kwargs: Any
    ) -> None:
        self._keras_class_name = keras_class_name
        self._keras_module = keras_module
        self._registered_name: Any = kwargs.pop("_registered_name", None)
        super().__init__(**kwargs)

    def class_name(self) -> str:  # type: ignore[override]
        return self.__dict__.get("_keras_class_name", "Layer")

    def set_weights(self, weights: list[Any]) -> None:
        # Unknown layers take whatever weights they are given (shapes come from the file).
        if self._variables and len(weights) == len(self._variables):
            super().set_weights(weights)
            return
        self._variables = [
            Variable(
                name=f"weight_{i}" if not self._variables else self._variables[i].name,
                value=np.asarray(w),
                path=f"{self.name}/weight_{i}",
            )
            for i, w in enumerate(weights)
        ]
        self.built = True

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        raise UnknownLayerError(
            f"layer {self.name!r}: class {self.class_name()!r} is not in the purekeras_io catalog; "
            "its config and weights are kept, but predict cannot run it"
        )

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape


def _np_dtype(name: str) -> Any:
    from ..dtypes import to_numpy

    return to_numpy(name)


def _as_array(value: Any) -> Any:
    if isinstance(value, np.ndarray) or value is None:
        return value
    return np.asarray(value)


def _json_shape(shape: Any) -> Any:
    """Shapes as JSON lists (None stays None)."""
    if (
        isinstance(shape, (list, tuple))
        and shape
        and all(isinstance(d, (int, np.integer)) or d is None for d in shape)
    ):
        return [None if d is None else int(d) for d in shape]
    if isinstance(shape, (list, tuple)):
        if not shape:
            return []
        return [_json_shape(s) for s in shape]
    if isinstance(shape, dict):
        return {k: _json_shape(v) for k, v in shape.items()}
    return shape


def _batch_shape_from(spec: dict[str, Any]) -> tuple[int | None, ...] | None:
    """``input_shape``/``batch_input_shape``/``batch_shape``/``input_dim`` → a batch shape."""
    if "batch_shape" in spec and spec["batch_shape"] is not None:
        return tuple(spec["batch_shape"])
    if "batch_input_shape" in spec and spec["batch_input_shape"] is not None:
        return tuple(spec["batch_input_shape"])
    batch = spec.get("batch_size")
    if "input_shape" in spec and spec["input_shape"] is not None:
        return (batch, *tuple(spec["input_shape"]))
    if "input_dim" in spec and spec["input_dim"] is not None:
        return (batch, int(spec["input_dim"]))
    return None
