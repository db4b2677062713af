"""What each config value read from a file may be: layers, initializers, regularizers,
constraints, activations, dtype policies, optimizers and compile (training) configs.

Built from the checks of :mod:`.validate`. A catalog layer's config is checked key by key before
the layer is constructed (:func:`check_layer_config`): the key's entry in :data:`CLASS_KEYS` (by
the class or a base class), else :data:`LAYER_KEYS`, else a check inferred from the type of the
class's default (a bool default takes booleans, a float default finite numbers …; a None default
takes any JSON, kept as data). Keys of :data:`REQUIRED` must be present. Layers outside the
catalog keep their config as data: only their ``name`` is checked. Every error names the key
path (``config.layers[3].config.units``) and the value.
"""

from __future__ import annotations

from typing import Any

from .validate import (
    MAX_RANK,
    Check,
    Flag,
    Int,
    IntOrInts,
    Json,
    ListOf,
    Num,
    NumOrNums,
    OneOf,
    Opt,
    Shape,
    Text,
    custom,
    dict_at,
    fail,
    key,
)

__all__ = [
    "ACTIVATION",
    "CLASS_KEYS",
    "DTYPE",
    "LAYER_KEYS",
    "REQUIRED",
    "check_compile_config",
    "check_initializer",
    "check_layer_config",
    "check_layer_entry",
    "check_optimizer_config",
    "check_serialized",
    "key_check",
]

_POLICY_CLASSES = ("DTypePolicy", "FloatDTypePolicy", "Policy", "QuantizedDTypePolicy")


# ---------------------------------------------------------------- serialized objects


def check_serialized(value: Any, path: str, what: str) -> Any:
    """``{"class_name": str, "config": object|null, "module"?, "registered_name"?}``."""
    entry = dict_at(value, path)
    Text()(entry.get("class_name"), key(path, "class_name"))
    Opt(Text(empty=True))(entry.get("module"), key(path, "module"))
    Opt(Text(empty=True))(entry.get("registered_name"), key(path, "registered_name"))
    dict_at(entry.get("config"), key(path, "config"), optional=True)
    return value


def _object(what: str) -> Check:
    """None, a name, or a serialized object (regularizers and constraints: kept as data)."""
    def check(value: Any, path: str) -> Any:
        if value is None or (isinstance(value, str) and Text().accepts(value)):
            return value
        if not isinstance(value, dict):
            fail(path, f"null, a name or a serialized {what}", value)
        return check_serialized(value, path, what)

    return custom(check, f"null, a name or a serialized {what}")


_INITIALIZER_KEYS: dict[str, Check] = {
    "seed": Opt(Int(0, 2**63 - 1)),
    "mean": Num(),
    "stddev": Num(0),
    "minval": Num(),
    "maxval": Num(),
    "value": Num(),
    "gain": Num(),
    "scale": Num(0),
    "mode": Text("fan_in", "fan_out", "fan_avg"),
    "distribution": Text("truncated_normal", "untruncated_normal", "normal", "uniform"),
}


def check_initializer(value: Any, path: str) -> Any:
    """An initializer the catalog can draw: a known name, or a serialized one whose
    hyperparameters are numbers in range (``seed`` a non-negative integer or null)."""
    from .. import initializers

    if value is None:
        return value
    if isinstance(value, dict):
        check_serialized(value, path, "initializer")
        config = value.get("config")
        if isinstance(config, dict):
            for name, item in config.items():
                check = _INITIALIZER_KEYS.get(name)
                if check is not None:
                    check(item, key(key(path, "config"), name))
        name_path = key(path, "class_name")
    elif isinstance(value, str):
        name_path = path
    else:
        fail(path, "an initializer name or a serialized initializer", value)
    if not initializers.known(value):
        fail(name_path, f"a known initializer ({', '.join(initializers.NAMES)})", value)
    return value


def _activation(value: Any, path: str) -> Any:
    if value is None or (isinstance(value, str) and len(value) <= 4096):
        return value
    if not isinstance(value, dict):
        fail(path, "an activation name or a serialized function", value)
    Opt(Text())(value.get("class_name"), key(path, "class_name"))
    OneOf(Opt(Text()), Json())(value.get("config"), key(path, "config"))
    config = value.get("config")
    if not (config is None or isinstance(config, (str, dict))):
        fail(key(path, "config"), "a function name or an object", config)
    if isinstance(config, dict):
        Opt(Text())(config.get("name"), key(key(path, "config"), "name"))
    return value


ACTIVATION = custom(_activation, "an activation name or a serialized function")


def _dtype(value: Any, path: str) -> Any:
    if value is None or (isinstance(value, str) and Text().accepts(value)):
        return value
    if isinstance(value, dict) and value.get("class_name") in _POLICY_CLASSES:
        config = dict_at(value.get("config"), key(path, "config"))
        Text()(config.get("name"), key(key(path, "config"), "name"))
        return value
    fail(path, "a dtype name or a DTypePolicy", value)


DTYPE = custom(_dtype, "a dtype name or a DTypePolicy")


def _numpy_value(value: Any, path: str) -> Any:
    """Per-channel values: numbers, nested lists, or Keras 3's ``{"class_name": "__numpy__"}``
    (NaN and infinity are data here: statistics may hold them)."""
    if isinstance(value, dict) and value.get("class_name") == "__numpy__":
        config = dict_at(value.get("config"), key(path, "config"))
        return NumOrNums(finite=False)(config.get("value"), key(key(path, "config"), "value"))
    return NumOrNums(finite=False)(value, path)


NUMBERS = custom(_numpy_value, "a number, a nested list of numbers or a __numpy__ object")


def _nested_layer(value: Any, path: str) -> Any:
    """A layer inside a layer's config (``cell``, ``layer``, ``backward_layer``)."""
    if isinstance(value, dict):
        check_layer_entry(value, path)
        return value
    fail(path, "a layer config entry ({'class_name', 'config'})", value)


NESTED_LAYER = custom(_nested_layer, "a layer config entry")


def _pads(value: Any, path: str) -> Any:
    """ZeroPadding ``padding`` / Cropping ``cropping``: an int, ints, or (before, after) pairs."""
    pair = ListOf(Int(0), 2, 2)
    return OneOf(Int(0), ListOf(OneOf(Int(0), pair), 1, 3))(value, path)


PADS = custom(_pads, "a non-negative int, a list of them, or a list of (before, after) pairs")


def _clipping(value: Any, path: str) -> Any:
    config = dict_at(value, path)
    for name, item in config.items():
        Opt(Num())(item, key(path, name))
    return value


_AXIS = IntOrInts(-MAX_RANK, MAX_RANK, min_len=0)
_RATE = Num(0, 1)

LAYER_KEYS: dict[str, Check] = {
    "name": Opt(Text()),
    "trainable": Flag(),
    "dtype": DTYPE,
    # sizes and counts
    "units": Int(1),
    "filters": Int(1),
    "depth_multiplier": Int(1),
    "groups": Int(1),
    "input_dim": Int(1),
    "output_dim": Int(1),
    "n": Int(1),
    "num_heads": Int(1),
    "key_dim": Int(1),
    "value_dim": Opt(Int(1)),
    "height": Int(1),
    "width": Int(1),
    "lora_rank": Opt(Int(0)),
    "projection_dim": Opt(Int(1)),
    "sliding_window": Opt(Int(1)),
    "implementation": Int(0, 2),
    "input_length": Opt(Int(0)),
    "virtual_batch_size": Opt(Int(1)),
    # window geometry
    "kernel_size": IntOrInts(1),
    "strides": Opt(IntOrInts(1)),
    "dilation_rate": IntOrInts(1),
    "pool_size": IntOrInts(1),
    "output_padding": Opt(IntOrInts(0)),
    "padding": Text("valid", "same", "causal", lower=True),
    "data_format": Opt(Text("channels_last", "channels_first")),
    "size": IntOrInts(1),
    "cropping": PADS,
    # shapes and axes
    "axis": _AXIS,
    "axes": IntOrInts(-MAX_RANK, MAX_RANK, max_len=2),
    "attention_axes": Opt(IntOrInts(-MAX_RANK, MAX_RANK)),
    "shared_axes": Opt(IntOrInts(1, MAX_RANK)),
    "target_shape": Shape(lo=-1),
    "dims": ListOf(Int(1, MAX_RANK), 1, MAX_RANK),
    "noise_shape": Opt(Shape()),
    "batch_shape": Opt(Shape()),
    "batch_input_shape": Opt(Shape()),
    "input_shape": Opt(Shape()),
    "batch_size": Opt(Int(0)),
    "query_shape": Opt(Shape()),
    "key_shape": Opt(Shape()),
    "value_shape": Opt(Shape()),
    "output_shape": Opt(IntOrInts(1)),
    "equation": Text(),
    "bias_axes": Opt(Text(empty=True)),
    # numbers
    "rate": _RATE,
    "dropout": _RATE,
    "recurrent_dropout": _RATE,
    "drop_path_rate": Opt(_RATE),
    "momentum": Num(),
    "renorm_momentum": Num(),
    "epsilon": Num(0),
    "stddev": Num(0),
    "l1": Num(0),
    "l2": Num(0),
    "alpha": Num(),
    "theta": Num(),
    "threshold": Num(),
    "negative_slope": Num(),
    "max_value": Opt(Num(0)),
    "mask_value": Num(),
    "fill_value": Num(),
    "init_values": Opt(Num()),
    "lora_alpha": Opt(Num()),
    "renorm_clipping": Opt(custom(_clipping, "an object of numbers")),
    "mean": Opt(NUMBERS),
    "variance": Opt(NUMBERS),
    "offset": NUMBERS,
    # choices
    "interpolation": Text(
        "nearest", "bilinear", "bicubic", "area", "lanczos3", "lanczos5", "gaussian",
        "mitchellcubic", lower=True,
    ),
    "fill_mode": Text("constant", "reflect", "wrap", "nearest"),
    "merge_mode": Opt(Text("concat", "sum", "mul", "ave")),
    "score_mode": Text("dot", "concat"),
    "activation": ACTIVATION,
    "recurrent_activation": ACTIVATION,
    "function": Text(),
    "seed": Opt(Int(0, 2**63 - 1)),
    "fused": Opt(Flag()),
    # nested layers
    "cell": OneOf(NESTED_LAYER, ListOf(NESTED_LAYER, 1, 1024)),
    "layer": NESTED_LAYER,
    "backward_layer": Opt(NESTED_LAYER),
    "forward_layer": Opt(NESTED_LAYER),
}
"""Checks by config key, for every catalog layer that has the key."""

CLASS_KEYS: dict[tuple[str, str], Check] = {
    ("_ZeroPadding", "padding"): PADS,
    ("Rescaling", "scale"): NUMBERS,
    ("CustomScaleLayer", "scale"): Num(),
    ("EinsumDense", "output_shape"): OneOf(Int(1), Shape()),
    ("Normalization", "axis"): Opt(_AXIS),
    ("GroupNormalization", "groups"): OneOf(Int(1), Int(-1, -1)),  # -1: one group per channel
}
"""Checks for a key that means something else in one class (or its subclasses)."""

REQUIRED: dict[str, tuple[str, ...]] = {
    "units": ("*",),
    "filters": ("*",),
    "kernel_size": ("*",),
    "input_dim": ("*",),
    "output_dim": ("*",),
    "n": ("*",),
    "target_shape": ("*",),
    "dims": ("*",),
    "num_heads": ("*",),
    "key_dim": ("*",),
    "equation": ("*",),
    "height": ("*",),
    "width": ("*",),
    "axes": ("*",),
    "output_shape": ("EinsumDense",),
    "scale": ("Rescaling",),
}
"""Keys whose default (None) means "must be given": an absent one is an error naming it."""

_SUFFIXES: tuple[tuple[str, Check], ...] = (
    ("_initializer", custom(check_initializer, "an initializer")),
    ("_regularizer", _object("regularizer")),
    ("_constraint", _object("constraint")),
)


def _inferred(default: Any) -> Check:
    if isinstance(default, bool):
        return Flag()
    if isinstance(default, int):
        return Int(-(2**31))
    if isinstance(default, float):
        return Num()
    if isinstance(default, str):
        return Text(empty=True)
    return Json()


def key_check(cls: type, name: str) -> Check:
    """The check for config key ``name`` of catalog class ``cls``."""
    for klass in cls.__mro__:
        check = CLASS_KEYS.get((klass.__name__, name))
        if check is not None:
            return check
    if name in LAYER_KEYS:
        return LAYER_KEYS[name]
    for suffix, check in _SUFFIXES:
        if name.endswith(suffix):
            return check
    defaults = {**getattr(cls, "defaults", {}), **getattr(cls, "keras2_only", {})}
    return _inferred(defaults.get(name))


def _required(cls: type, name: str) -> bool:
    classes = REQUIRED.get(name, ())
    return "*" in classes or any(k.__name__ in classes for k in cls.__mro__)


def check_layer_config(cls: type, config: dict[str, Any], path: str) -> None:
    """Check (and narrow in place) every key of a catalog layer's ``config``; keys the class does
    not know are checked only when :data:`LAYER_KEYS` has them (both dialects' extras)."""
    defaults = getattr(cls, "defaults", {})
    data = getattr(cls, "config_is_data", False)  # op layers: the op's own arguments
    for name in list(config):
        if data and name not in _BASE_KEYS:
            continue
        config[name] = key_check(cls, name)(config[name], key(path, name))
    for name in defaults:
        if name not in config and defaults[name] is None and _required(cls, name):
            fail(key(path, name), f"{key_check(cls, name).expected} (the key is required)",
                 None)


_MODEL_CLASSES = ("Sequential", "Functional", "Model")
_BASE_KEYS = ("name", "trainable", "dtype")


def check_layer_entry(entry: Any, path: str) -> None:
    """One ``{"class_name", "config", "module"?, "registered_name"?, "build_config"?}`` entry:
    its envelope, and a catalog class's config key by key (models check their own structure)."""
    from .layer import layer_class

    if not isinstance(entry, dict):
        fail(path, "a layer config entry (an object with 'class_name')", entry)
    class_name = Text()(entry.get("class_name"), key(path, "class_name"))
    module = Opt(Text(empty=True))(entry.get("module"), key(path, "module"))
    Opt(Text(empty=True))(entry.get("registered_name"), key(path, "registered_name"))
    Opt(Text())(entry.get("name"), key(path, "name"))
    build = entry.get("build_config")
    if build is not None:
        where = key(path, "build_config")
        build = dict_at(build, where)
        shape = build.get("input_shape")
        if shape is not None:
            _BUILD_SHAPE(shape, key(where, "input_shape"))
        shapes = build.get("shapes_dict")
        if shapes is not None:
            where = key(where, "shapes_dict")
            for name, item in dict_at(shapes, where).items():
                _BUILD_SHAPE(item, key(where, name))
    config = entry.get("config")
    if class_name in _MODEL_CLASSES:
        if class_name == "Sequential" and isinstance(config, list):
            return  # very old Keras: the config is the layer list itself
        dict_at(config, key(path, "config"), optional=True)
        return
    config = dict_at(config, key(path, "config"), optional=True)
    cls = layer_class(class_name, module)
    if cls is None:
        return  # outside the catalog: the config is kept as data
    check_layer_config(cls, config, key(path, "config"))


def _build_shape(value: Any, path: str) -> Any:
    """A build input shape: a shape, or a list or object of shapes."""
    if isinstance(value, dict):
        for name, item in value.items():
            Opt(Shape())(item, key(path, name))
        return value
    if isinstance(value, (list, tuple)) and value and all(
        isinstance(v, (list, tuple, dict)) or v is None for v in value
    ):
        for i, item in enumerate(value):  # one level: a list of shapes (or of shape objects)
            if isinstance(item, dict):
                for name, shape in item.items():
                    Opt(Shape())(shape, key(f"{path}[{i}]", name))
            else:
                Opt(Shape())(item, f"{path}[{i}]")
        return value
    return Shape()(value, path)


_BUILD_SHAPE = custom(_build_shape, "a shape, or a list or object of shapes")


# ---------------------------------------------------------------- optimizers and compile


def _schedule(value: Any, path: str) -> Any:
    return check_serialized(value, path, "learning-rate schedule")


_OPTIMIZER_KEYS: dict[str, Check] = {
    "name": Opt(Text()),
    "learning_rate": OneOf(Num(0), custom(_schedule, "a serialized schedule")),
    "lr": OneOf(Num(0), custom(_schedule, "a serialized schedule")),
    "weight_decay": Opt(Num(0)),
    "clipnorm": Opt(Num(0)),
    "global_clipnorm": Opt(Num(0)),
    "clipvalue": Opt(Num(0)),
    "use_ema": Flag(),
    "ema_momentum": Num(0, 1),
    "ema_overwrite_frequency": Opt(Int(0)),
    "loss_scale_factor": Opt(Num()),
    "gradient_accumulation_steps": Opt(Int(1)),
    "jit_compile": OneOf(Flag(), Text("auto")),
    "is_legacy_optimizer": Flag(),
    "decay": Num(),
    "momentum": Num(0),
    "nesterov": Flag(),
    "amsgrad": Flag(),
    "centered": Flag(),
    "beta_1": Num(),
    "beta_2": Num(),
    "epsilon": Num(0),
    "rho": Num(),
    "initial_accumulator_value": Num(0),
    "learning_rate_power": Num(),
    "l1_regularization_strength": Num(0),
    "l2_regularization_strength": Num(0),
    "l2_shrinkage_regularization_strength": Num(0),
    "beta": Num(),
}


def check_optimizer_config(config: Any, path: str) -> dict[str, Any]:
    """An optimizer's ``config`` object: every hyperparameter a finite number in range, a flag,
    a name or a serialized schedule (unknown keys are left to the optimizer, which refuses them)."""
    cfg = dict_at(config, path, optional=True)
    for name, value in cfg.items():
        check = _OPTIMIZER_KEYS.get(name)
        if check is not None:
            cfg[name] = check(value, key(path, name))
    return cfg


def _names(value: Any, path: str) -> Any:
    """Losses and metrics: names, serialized objects, or lists/dicts of them (kept as data)."""
    if value is None or isinstance(value, (str, list, dict)):
        return value
    fail(path, "a name, a serialized object, or a list or object of them", value)


_COMPILE_KEYS: dict[str, Check] = {
    "loss": custom(_names, "losses"),
    "metrics": custom(_names, "metrics"),
    "weighted_metrics": custom(_names, "metrics"),
    "loss_weights": Opt(OneOf(Num(), custom(_names, "weights"))),
    "run_eagerly": Opt(Flag()),
    "steps_per_execution": Opt(Int(1)),
    "jit_compile": Opt(OneOf(Flag(), Text("auto"))),
}


def check_compile_config(config: Any, path: str) -> dict[str, Any]:
    """A ``training_config`` (tf_keras) or ``compile_config`` (Keras 3) object."""
    cfg = dict_at(config, path)
    for name, value in cfg.items():
        check = _COMPILE_KEYS.get(name)
        if check is not None:
            cfg[name] = check(value, key(path, name))
    return cfg
