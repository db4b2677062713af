"""Config values in the two Keras dialects, and the neutral form the description keeps.

The description stores every layer config in one *neutral* form, close to Keras 3's but plain:

* ``dtype`` is a policy name string (``"float32"``, ``"mixed_float16"``), never a DTypePolicy dict;
* serialized objects (initializers, regularizers, constraints) are ``{"class_name", "config"}``
  without ``module``/``registered_name``/``shared_object_id``;
* InputLayer keeps ``batch_shape``.

Writers render a config into the dialect of their target loader (``"keras2"`` for tf_keras 2.x,
``"keras3"`` for Keras 3) with :func:`render_value`; readers bring either dialect back with
:func:`neutral_value`. Per-layer differences (``time_major``, ``groups``…) live on the layer
classes (``Layer.keras2_only`` / ``Layer.keras3_only``). ``shared/docs/h5.md`` §4 lists them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal

__all__ = [
    "DIALECTS",
    "Dialect",
    "check_dialect",
    "dtype_name",
    "keeps_keras3_names",
    "keras3_names_kept",
    "neutral_config",
    "neutral_value",
    "render_dtype",
    "render_value",
]

Dialect = Literal["keras2", "keras3"]
DIALECTS: tuple[str, ...] = ("keras2", "keras3")

# Which ``module`` Keras records for a serialized object, by the suffix of the config key.
_OBJECT_MODULES = (
    ("_initializer", "keras.initializers"),
    ("_regularizer", "keras.regularizers"),
    ("_constraint", "keras.constraints"),
)
_DROP_KEYS = ("module", "registered_name", "shared_object_id")
# Keys of serialized initializers that only Keras 3 writes (and tf_keras refuses).
_KERAS3_ONLY_OBJECT_KEYS = ("input_axes", "output_axes")
# Keras 3.15 fan-based initializers (VarianceScaling and its subclasses) always write
# ``"input_axes": null, "output_axes": null`` after their other keys; tf_keras has neither.
_FAN_INITIALIZERS = frozenset(
    {
        "VarianceScaling",
        "GlorotUniform",
        "GlorotNormal",
        "HeNormal",
        "HeUniform",
        "LecunNormal",
        "LecunUniform",
    }
)
_POLICY_CLASSES = ("DTypePolicy", "FloatDTypePolicy", "Policy", "QuantizedDTypePolicy")


_KEEP_KERAS3_NAMES: ContextVar[frozenset[int]] = ContextVar("keep_keras3_names",
                                                            default=frozenset())


@contextmanager
def keras3_names_kept(layer_ids: Iterable[int]) -> Iterator[None]:
    """While rendering Keras 2 configs, the layers with these ``id()`` keep Keras 3 names
    tf_keras lacks (an activation such as ``hard_silu``) instead of refusing them: tf_keras
    revives those layers from their traced call functions, not from the config."""
    token = _KEEP_KERAS3_NAMES.set(frozenset(layer_ids))
    try:
        yield
    finally:
        _KEEP_KERAS3_NAMES.reset(token)


def keeps_keras3_names(layer: object) -> bool:
    return id(layer) in _KEEP_KERAS3_NAMES.get()


def check_dialect(dialect: str, *, what: str = "dialect") -> Dialect:
    if dialect not in DIALECTS:
        from ..errors import ConfigError

        raise ConfigError(f"{what} must be one of {DIALECTS}, received {dialect!r}")
    return dialect  # type: ignore[return-value]


def dtype_name(value: Any) -> Any:
    """A dtype policy in either dialect → its name (``None`` stays ``None``)."""
    if isinstance(value, dict) and value.get("class_name") in _POLICY_CLASSES:
        return value.get("config", {}).get("name")
    return value


def render_dtype(name: Any, dialect: Dialect) -> Any:
    """A dtype policy name → what the dialect writes in a layer config."""
    if dialect == "keras2" or name is None:
        return name
    return {
        "module": "keras",
        "class_name": "DTypePolicy",
        "config": {"name": name},
        "registered_name": None,
    }


def neutral_value(value: Any) -> Any:
    """Strip dialect decorations from a serialized object, recursively."""
    if isinstance(value, dict):
        if "class_name" in value and "config" in value:
            if value["class_name"] in _POLICY_CLASSES:
                return dtype_name(value)
            out = {k: v for k, v in value.items() if k not in _DROP_KEYS}
            if isinstance(out.get("config"), dict):
                out["config"] = {
                    k: neutral_value(v)
                    for k, v in out["config"].items()
                    # Keras 3's null input_axes/output_axes are defaults, added back on render.
                    if not (k in _KERAS3_ONLY_OBJECT_KEYS and v is None)
                }
            return out
        return {k: neutral_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [neutral_value(v) for v in value]
    return value


def neutral_config(config: dict[str, Any]) -> dict[str, Any]:
    """A layer config in either dialect → the neutral form (dtype policy → name, objects plain)."""
    out = {k: neutral_value(v) for k, v in config.items()}
    if "dtype" in out:
        out["dtype"] = dtype_name(out["dtype"])
    return out


def _module_for(key: str) -> str | None:
    for suffix, module in _OBJECT_MODULES:
        if key.endswith(suffix):
            return module
    return None


def render_value(key: str, value: Any, dialect: Dialect) -> Any:
    """Render one neutral config value for ``dialect`` (objects get module and registered_name)."""
    if key == "dtype":
        return render_dtype(value, dialect)
    module = _module_for(key)
    if module and isinstance(value, dict) and "class_name" in value:
        config = value.get("config", {})
        if dialect == "keras2" and isinstance(config, dict):
            # Keras 3 initializer configs carry keys tf_keras refuses (GlorotUniform input_axes…).
            config = {k: v for k, v in config.items() if k not in _KERAS3_ONLY_OBJECT_KEYS}
        elif value["class_name"] in _FAN_INITIALIZERS and isinstance(config, dict):
            config = {**config, **{k: config.get(k) for k in _KERAS3_ONLY_OBJECT_KEYS}}
        return {
            "module": module,
            "class_name": value["class_name"],
            "config": config,
            "registered_name": None,
        }
    return value
