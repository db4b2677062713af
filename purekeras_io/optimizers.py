"""Optimizers as data: class, hyperparameters, ``iterations`` and slot arrays set from NumPy.

The slot table gives, per optimizer, the slots each trainable variable gets, in the order Keras
creates them, with the names each generation uses (Keras 3 ``momentum``/``velocity``; tf_keras
``m``/``v``). Formats lay the state out from this table:

* Keras 3: ``[iteration, learning_rate, <slots of var 0>, <slots of var 1>, …]``
* tf_keras (optimizer_experimental): ``[iteration, <slots of var 0>, <slots of var 1>, …]``
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .errors import ConfigError
from .model.dialect import Dialect, neutral_value
from .model.naming import snake_case

__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Ftrl",
    "Nadam",
    "Optimizer",
    "RMSprop",
    "SlotSpec",
    "deserialize",
    "get",
]

# Hyperparameters every Keras 3 optimizer takes (neutral form = Keras 3 names and defaults).
_BASE: dict[str, Any] = {
    "learning_rate": 0.001,
    "weight_decay": None,
    "clipnorm": None,
    "global_clipnorm": None,
    "clipvalue": None,
    "use_ema": False,
    "ema_momentum": 0.99,
    "ema_overwrite_frequency": None,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}
# Keys tf_keras' optimizer_experimental refuses.
_KERAS3_ONLY = ("loss_scale_factor", "gradient_accumulation_steps")


@dataclass(frozen=True)
class SlotSpec:
    """One slot per trainable variable: its Keras 3 and tf_keras names, and its initial value."""

    keras3: str
    keras2: str
    initial: float = 0.0
    condition: str | None = None
    """Name of a boolean-ish hyperparameter that must be truthy for the slot to exist."""


class Optimizer:
    """An optimizer's class, hyperparameters and state (``iterations`` and slot arrays)."""

    defaults: ClassVar[dict[str, Any]] = {}
    slots: ClassVar[tuple[SlotSpec, ...]] = ()

    def __init__(self, **kwargs: Any) -> None:
        if "lr" in kwargs:
            kwargs["learning_rate"] = kwargs.pop("lr")
        cfg = copy.deepcopy(_BASE)
        cfg.update(copy.deepcopy(self.defaults))
        cfg["name"] = snake_case(type(self).__name__)
        for key in ("jit_compile", "is_legacy_optimizer", "decay"):
            kwargs.pop(key, None)
        unknown = [k for k in kwargs if k not in cfg]
        if unknown:
            raise ConfigError(
                f"{type(self).__name__}: unknown argument(s) {unknown}; known: {sorted(cfg)}"
            )
        cfg.update({k: neutral_value(v) for k, v in kwargs.items()})
        self.config: dict[str, Any] = cfg
        self.iterations = 0
        self.slot_values: list[dict[str, np.ndarray]] | None = None

    @property
    def name(self) -> str:
        return str(self.config["name"])

    @property
    def learning_rate(self) -> Any:
        return self.config["learning_rate"]

    def active_slots(self) -> list[SlotSpec]:
        return [s for s in self.slots if s.condition is None or self.config.get(s.condition)]

    def build(self, variables: list[Any]) -> None:
        """Create zero-state slots (or the optimizer's initial value) for these trainable variables."""
        self.slot_values = [
            {
                s.keras3: np.full(np.shape(v.value), s.initial, dtype=np.asarray(v.value).dtype)
                for s in self.active_slots()
            }
            for v in variables
        ]

    @property
    def built(self) -> bool:
        return self.slot_values is not None

    def set_state(self, iterations: int, slot_values: list[dict[str, Any]]) -> None:
        """Set ``iterations`` and, per trainable variable, ``{keras3 slot name: array}``."""
        names = [s.keras3 for s in self.active_slots()]
        for i, slots in enumerate(slot_values):
            if sorted(slots) != sorted(names):
                raise ConfigError(
                    f"{type(self).__name__}.set_state: variable {i} has slots {sorted(slots)}, "
                    f"expected {names}"
                )
        self.iterations = int(iterations)
        self.slot_values = [{k: np.asarray(d[k]) for k in names} for d in slot_values]

    def flat_slots(self) -> list[tuple[int, SlotSpec, np.ndarray]]:
        """``(variable index, slot, value)`` in Keras order (per variable, slots in table order)."""
        if self.slot_values is None:
            return []
        return [
            (i, s, d[s.keras3])
            for i, d in enumerate(self.slot_values)
            for s in self.active_slots()
        ]

    def get_config(self, dialect: Dialect = "keras3") -> dict[str, Any]:
        cfg = copy.deepcopy(self.config)
        if dialect == "keras2":
            for key in _KERAS3_ONLY:
                cfg.pop(key, None)
            cfg["name"] = type(self).__name__
            cfg["jit_compile"] = False
            cfg["is_legacy_optimizer"] = False
            cfg = self.render_keras2(cfg)
        return cfg

    def render_keras2(self, config: dict[str, Any]) -> dict[str, Any]:
        return config

    def serialize(self, dialect: Dialect = "keras3") -> dict[str, Any]:
        """``{"class_name", "config"}`` as that generation's ``optimizers.serialize``."""
        if dialect == "keras2":
            return {"class_name": f"Custom>{type(self).__name__}", "config": self.get_config(dialect)}
        return {
            "module": "keras.optimizers",
            "class_name": type(self).__name__,
            "config": self.get_config(dialect),
            "registered_name": None,
        }

    def __repr__(self) -> str:
        return f"<{type(self).__name__} lr={self.learning_rate} iterations={self.iterations}>"


class SGD(Optimizer):
    defaults = {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False}
    slots = (SlotSpec("momentum", "m", condition="momentum"),)


class Adam(Optimizer):
    defaults = {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": False}
    slots = (
        SlotSpec("momentum", "m"),
        SlotSpec("velocity", "v"),
        SlotSpec("velocity_hat", "vhat", condition="amsgrad"),
    )


class AdamW(Adam):
    defaults = {"weight_decay": 0.004, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": False}


class RMSprop(Optimizer):
    defaults = {"rho": 0.9, "momentum": 0.0, "epsilon": 1e-07, "centered": False}
    slots = (
        SlotSpec("velocity", "velocity"),
        SlotSpec("momentum", "momentum", condition="momentum"),
        SlotSpec("average_gradient", "average_gradient", condition="centered"),
    )


class Adagrad(Optimizer):
    defaults = {"initial_accumulator_value": 0.1, "epsilon": 1e-07}
    slots = (SlotSpec("accumulator", "accumulator", initial=0.1),)


class Adadelta(Optimizer):
    defaults = {"rho": 0.95, "epsilon": 1e-07}
    slots = (
        SlotSpec("accumulated_grad", "accumulated_grad"),
        SlotSpec("accumulated_delta_var", "accumulated_delta_var"),
    )


class Adamax(Optimizer):
    defaults = {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07}
    slots = (SlotSpec("m", "m"), SlotSpec("u", "u"))


class Nadam(Optimizer):
    defaults = {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07}
    slots = (SlotSpec("momentum", "m"), SlotSpec("velocity", "v"))


class Ftrl(Optimizer):
    defaults = {
        "learning_rate_power": -0.5,
        "initial_accumulator_value": 0.1,
        "l1_regularization_strength": 0.0,
        "l2_regularization_strength": 0.0,
        "l2_shrinkage_regularization_strength": 0.0,
        "beta": 0.0,
    }
    slots = (SlotSpec("accumulator", "accumulator", initial=0.1), SlotSpec("linear", "linear"))


_CLASSES: dict[str, type[Optimizer]] = {
    cls.__name__.lower(): cls
    for cls in (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, Nadam, Ftrl)
}


def deserialize(config: dict[str, Any]) -> Optimizer:
    """An optimizer from ``{"class_name", "config"}`` in either dialect (``Custom>Adam`` too)."""
    name = str(config.get("class_name", "")).split(">")[-1]
    cls = _CLASSES.get(name.lower())
    if cls is None:
        raise ConfigError(f"optimizer class {config.get('class_name')!r} is not supported; "
                          f"supported: {sorted(c.__name__ for c in _CLASSES.values())}")
    cfg = dict(config.get("config") or {})
    cfg.pop("name", None)
    known = set(_BASE) | set(cls.defaults) | {"lr", "jit_compile", "is_legacy_optimizer", "decay"}
    dropped = {k: cfg.pop(k) for k in list(cfg) if k not in known}
    opt = cls(**cfg)
    if config.get("config", {}).get("name"):
        opt.config["name"] = snake_case(str(config["config"]["name"]))
    opt.config.update({})  # nothing else to carry
    _ = dropped
    return opt


def get(identifier: Any) -> Optimizer:
    """An optimizer from a name (``"adam"``), a config dict, or an optimizer instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        cls = _CLASSES.get(identifier.lower())
        if cls is None:
            raise ConfigError(f"optimizer {identifier!r} is not known; known: {sorted(_CLASSES)}")
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ConfigError(f"optimizer: expected a name, a config or an Optimizer, received {identifier!r}")
