"""Optimizers as data: class, hyperparameters, ``iterations`` and slot arrays, in both dialects.

Measured on tf_keras 2.21 (``optimizer_experimental``, "K2") and Keras 3.15.1 ("K3") after
``optimizer.build(model.trainable_variables)`` and after ``fit``:

* **Variables** (``optimizer.variables``). K2: ``iteration`` (int64 scalar), then the slots. K3:
  ``iteration``, ``learning_rate`` (float32 scalar; absent when it is a schedule), the slots,
  then extras (Nadam ``variable``, float32 1.0).
* **Slot names.** K2 ``<Opt>/<slot>/<variable name>`` (``Adam/m/dense/kernel``) once built
  inside ``apply_gradients``/``fit`` (``m/dense/kernel`` when built directly); K3 path
  ``<opt>/<variable path with _>_<slot>`` (``adam/dense_kernel_momentum``), which its ``.h5``
  writer uses as dataset names. Keras-3 / tf_keras slot names: Adam ``momentum``/``m``,
  ``velocity``/``v``, ``velocity_hat``/``vhat``; Adamax ``momentum``/``m``, ``norm``/``u``; …
* **Slot order**, the same in both: each ``build`` creates groups of slots, a group's slots
  interleaved per trainable variable, groups one after another (Adam ``[m, v]`` then ``[vhat]``;
  RMSprop ``[velocity]``, ``[momentum]``, ``[average_gradient]``; Ftrl ``[accumulator, linear]``).
* **Differences.** K2 SGD creates ``m`` slots even with ``momentum=0`` (K3: none). K2 Nadam keeps
  ``_u_product`` outside ``variables`` (checkpoints only). Adagrad/Ftrl accumulators start at
  ``initial_accumulator_value``.
* **Config.** K2: ``name`` = class name (``Adam``), weight_decay … ema_overwrite_frequency,
  ``jit_compile``, ``is_legacy_optimizer``, ``learning_rate``, the optimizer's own keys (RMSprop
  ``ema_overwrite_frequency`` defaults to 100). K3: ``name`` = snake case (``adam``,
  ``rm_sprop``), ``learning_rate``, weight_decay … ema_overwrite_frequency, ``loss_scale_factor``,
  ``gradient_accumulation_steps``, the optimizer's own. K2 refuses ``loss_scale_factor``,
  ``gradient_accumulation_steps`` and ``decay``; K3 refuses ``jit_compile``,
  ``is_legacy_optimizer`` and ``lr``. Both write ``learning_rate`` rounded to float32
  (``0.0010000000474974513``); a schedule is ``{"module": "keras.optimizers.schedules",
  "class_name", "config", "registered_name"}`` in both, kept as data.
* **serialize.** K2 ``.h5``/SavedModel ``training_config``: ``{"class_name": "Custom>Adam",
  "config"}``; ``.keras`` files (both): ``{"module": "keras.optimizers", "class_name": "Adam",
  "config", "registered_name": null}``.

The neutral form (``self.config``) uses Keras 3 names and defaults.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .errors import ConfigError, TargetCompatibilityError
from .lazy import as_dtype, keep
from .model.config_schema import check_optimizer_config
from .model.dialect import Dialect, check_dialect, neutral_value
from .model.naming import snake_case
from .model.validate import Text, key, located, show

__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Ftrl",
    "Lion",
    "Nadam",
    "Optimizer",
    "RMSprop",
    "SlotSpec",
    "deserialize",
    "get",
    "nadam_u_product",
]

# Hyperparameters every optimizer takes, in Keras 3's config order (neutral form = Keras 3).
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
_KERAS3_ONLY = ("loss_scale_factor", "gradient_accumulation_steps")
"""Keras 3 keys tf_keras refuses (``TypeError: … is not a valid argument``)."""
_KERAS2_ONLY: dict[str, Any] = {"jit_compile": False, "is_legacy_optimizer": False}
"""tf_keras keys Keras 3 refuses (``ValueError: Argument(s) not recognized``), with defaults."""
_KERAS2_ORDER = ("weight_decay", "clipnorm", "global_clipnorm", "clipvalue", "use_ema",
                 "ema_momentum", "ema_overwrite_frequency", "jit_compile", "is_legacy_optimizer",
                 "learning_rate")
_IGNORED = ("decay", "lr")
"""Legacy keys accepted on reading: ``decay`` (legacy optimizers, dropped), ``lr`` (alias)."""
_SCHEDULE_MODULE = "keras.optimizers.schedules"


@dataclass(frozen=True)
class SlotSpec:
    """One slot variable per trainable variable.

    ``keras3``/``keras2`` are its names in each generation; ``initial`` its value when built
    (``initial_from`` names the hyperparameter that sets it instead, e.g. Adagrad's
    ``initial_accumulator_value``); ``condition`` a hyperparameter that must be truthy for Keras 3
    to create it (tf_keras too, unless ``keras2_always``); ``group``: slots of one group are created
    interleaved per variable, groups one after another.
    """

    keras3: str
    keras2: str
    initial: float = 0.0
    condition: str | None = None
    group: int = 0
    keras2_always: bool = False
    initial_from: str | None = None


@dataclass(frozen=True)
class ExtraVariable:
    """A variable an optimizer keeps beside its slots (Keras 3 Nadam's ``u_product``)."""

    key: str
    keras3_name: str
    initial: float


class Optimizer:
    """An optimizer's class, hyperparameters and state (``iterations``, slots, extras)."""

    defaults: ClassVar[dict[str, Any]] = {}
    slots: ClassVar[tuple[SlotSpec, ...]] = ()
    extras: ClassVar[tuple[ExtraVariable, ...]] = ()
    """Variables beside the slots; unless set from a Keras 3 list, computed by ``extra_initial``."""
    keras2_defaults: ClassVar[dict[str, Any]] = {}
    """Defaults tf_keras writes where Keras 3's differ (RMSprop ``ema_overwrite_frequency``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Positional arguments in Keras' order: learning_rate, then the class's own arguments.
        order = ["learning_rate", *(k for k in self.defaults if k != "learning_rate")]
        if len(args) > len(order):
            raise ConfigError(
                f"{type(self).__name__}: at most {len(order)} positional arguments ({order}), "
                f"received {len(args)}"
            )
        for name, value in zip(order, args):
            if name in kwargs:
                raise ConfigError(f"{type(self).__name__}: {name!r} given twice")
            kwargs[name] = value
        if "lr" in kwargs:
            kwargs.setdefault("learning_rate", kwargs.pop("lr"))
            kwargs.pop("lr", None)
        self._name: str | None = kwargs.pop("name", None)
        self.keras2_extra: dict[str, Any] = {k: kwargs.pop(k) for k in _KERAS2_ONLY if k in kwargs}
        kwargs.pop("decay", None)
        cfg = copy.deepcopy(_BASE)
        cfg.update(copy.deepcopy(self.defaults))
        unknown = [k for k in kwargs if k not in cfg]
        if unknown:
            raise ConfigError(
                f"{type(self).__name__}: unknown argument(s) {unknown}; known: {sorted(cfg)}"
            )
        cfg.update({k: neutral_value(v) for k, v in kwargs.items()})
        self.config: dict[str, Any] = cfg
        self.iterations = 0
        self.slot_values: list[dict[str, np.ndarray]] | None = None
        self.extra_values: dict[str, np.ndarray] = {}

    # ---------------------------------------------------------------- names and hyperparameters

    @classmethod
    def class_name(cls) -> str:
        return cls.__name__

    @property
    def name(self) -> str:
        """The Keras 3 name (``adam``, ``rm_sprop`` unless named): its variables' path prefix."""
        return self.name_for("keras3")

    def name_for(self, dialect: Dialect) -> str:
        """The name each generation gives the optimizer (tf_keras: the class name by default)."""
        if self._name:
            return self._name
        return self.class_name() if dialect == "keras2" else snake_case(self.class_name())

    @property
    def learning_rate(self) -> Any:
        """A float, or a schedule as ``{"class_name", "config"}``."""
        return self.config["learning_rate"]

    @property
    def has_schedule(self) -> bool:
        return isinstance(self.config["learning_rate"], dict)

    # ---------------------------------------------------------------- slots

    def active_slots(self, dialect: Dialect = "keras3") -> list[SlotSpec]:
        """The slots each trainable variable gets in that generation, in table order."""
        return [
            s for s in self.slots
            if s.condition is None or self.config.get(s.condition)
            or (dialect == "keras2" and s.keras2_always)
        ]

    def slot_order(self, n_vars: int, dialect: Dialect = "keras3") -> list[tuple[int, SlotSpec]]:
        """``(variable index, slot)`` in the order ``build`` creates the slot variables."""
        active = self.active_slots(dialect)
        order: list[tuple[int, SlotSpec]] = []
        for group in sorted({s.group for s in active}):
            members = [s for s in active if s.group == group]
            order.extend((i, s) for i in range(n_vars) for s in members)
        return order

    def initial_value(self, slot: SlotSpec) -> float:
        """What the slot holds when built (Adagrad/Ftrl accumulators: the configured value)."""
        if slot.initial_from is not None:
            return float(self.config[slot.initial_from])
        return float(slot.initial)

    def build(self, variables: Sequence[Any]) -> None:
        """Create initial-state slots (and extras) for these trainable variables."""
        self.slot_values = [
            {
                s.keras3: np.full(_shape_of(v), self.initial_value(s),
                                  dtype=_dtype_of(v))
                for s in self.active_slots("keras3")
            }
            for v in variables
        ]
        for s in self.active_slots("keras2"):  # tf_keras-only slots (SGD momentum=0)
            for v, slots in zip(variables, self.slot_values):
                slots.setdefault(s.keras3, np.full(_shape_of(v), self.initial_value(s),
                                                   dtype=_dtype_of(v)))
        self.extra_values = {}

    def extra_initial(self, extra: ExtraVariable, variables: Sequence[Any]) -> np.ndarray:
        dtype = _dtype_of(variables[0]) if variables else np.float32
        return np.asarray(extra.initial, dtype=dtype)

    @property
    def built(self) -> bool:
        return self.slot_values is not None

    def set_state(self, iterations: int, slot_values: list[dict[str, Any]]) -> None:
        """Set ``iterations`` and, per trainable variable, ``{keras3 slot name: array}``."""
        names = [s.keras3 for s in self.active_slots("keras3")]
        for i, slots in enumerate(slot_values):
            missing = [n for n in names if n not in slots]
            if missing:
                raise ConfigError(
                    f"{type(self).__name__}.set_state: variable {i} has slots {sorted(slots)}, "
                    f"expected {names}"
                )
        self.iterations = int(iterations)
        self.slot_values = [{k: keep(v) for k, v in d.items()} for d in slot_values]
        self.extra_values = {}  # extras (Nadam u_product) follow the new iterations

    def flat_slots(self) -> list[tuple[int, SlotSpec, np.ndarray]]:
        """``(variable index, slot, value)`` in Keras 3's creation order."""
        if self.slot_values is None:
            return []
        return [(i, s, self.slot_values[i][s.keras3])
                for i, s in self.slot_order(len(self.slot_values))]

    # ---------------------------------------------------------------- the variable list

    def variables(
        self, model_trainable_weights: Sequence[Any], dialect: Dialect = "keras3",
        var_names: Sequence[str] | None = None,
    ) -> list[tuple[str, np.ndarray]]:
        """The optimizer's variables as that generation lists them (``optimizer.variables``).

        ``keras3``: names are the variables' paths (``adam/iteration``, ``adam/learning_rate``,
        ``adam/dense_kernel_momentum``, Nadam's ``nadam/variable``), as Keras 3's ``.h5`` writer
        names them. ``keras2``: ``iteration``, then ``Adam/m/dense/kernel`` as named after
        ``fit`` (tf_keras' ``.h5`` writer appends ``:0``). ``var_names`` overrides the model
        variables' names (default: their ``path``). Unbuilt optimizers give initial state.
        """
        check_dialect(dialect)
        weights = list(model_trainable_weights)
        names = list(var_names) if var_names is not None else [_path(v) for v in weights]
        if len(names) != len(weights):
            raise ConfigError(f"variables: {len(names)} names for {len(weights)} variables")
        slots = self._slots_for(weights)
        iterations = np.asarray(self.iterations, dtype=np.int64)
        if dialect == "keras2":
            prefix = self.name_for("keras2")
            out = [("iteration", iterations)]
            out += [(f"{prefix}/{s.keras2}/{names[i]}", slots[i][s.keras3])
                    for i, s in self.slot_order(len(weights), "keras2")]
            return out
        prefix = self.name_for("keras3")
        out = [(f"{prefix}/iteration", iterations)]
        if not self.has_schedule:
            out.append((f"{prefix}/learning_rate", np.asarray(self.learning_rate, np.float32)))
        out += [(f"{prefix}/{names[i].replace('/', '_')}_{s.keras3}", slots[i][s.keras3])
                for i, s in self.slot_order(len(weights), "keras3")]
        for extra in self.extras:
            value = self.extra_values.get(extra.key)
            if value is None:
                value = self.extra_initial(extra, weights)
            out.append((f"{prefix}/{extra.keras3_name}", np.asarray(value)))
        return out

    def set_from_variables(
        self, model_trainable_weights: Sequence[Any], arrays: Sequence[Any],
        dialect: Dialect = "keras3",
    ) -> None:
        """The inverse of :meth:`variables`: arrays (or ``(name, array)`` pairs) in its order.

        Only the layout's names and shapes are computed (no initial-state slot arrays are filled
        just to be replaced, no lazy model variable is materialized); arrays whose dtype already
        matches the variable's are kept as given, without a copy (read-only views included).
        """
        check_dialect(dialect)
        weights = list(model_trainable_weights)
        values = [keep(a[1] if isinstance(a, tuple) else a) for a in arrays]
        layout = self._layout(weights, dialect)
        if len(values) != len(layout):
            raise ConfigError(
                f"{type(self).__name__}: {len(values)} arrays for the {dialect} layout of "
                f"{len(layout)} variables ({[n for n, _ in layout][:4]}…) on "
                f"{len(weights)} trainable variables"
            )
        for (name, want), got in zip(layout, values):
            if tuple(got.shape) != tuple(want):
                raise ConfigError(f"{type(self).__name__}: {name!r} has shape {got.shape}, "
                                  f"expected {want}")
        rest = iter(values)
        it = next(rest)
        if dialect == "keras3" and not self.has_schedule:
            self.config["learning_rate"] = float(next(rest))
        slot_values: list[dict[str, np.ndarray]] = [{} for _ in weights]
        for i, s in self.slot_order(len(weights), dialect):
            slot_values[i][s.keras3] = as_dtype(next(rest), _dtype_of(weights[i]))
        if dialect == "keras2":
            for s in self.active_slots("keras3"):  # Keras 3 slots tf_keras lacks: initial state
                for v, d in zip(weights, slot_values):
                    if s.keras3 not in d:
                        d[s.keras3] = np.full(_shape_of(v), self.initial_value(s),
                                              dtype=_dtype_of(v))
        self.iterations = int(it)
        self.slot_values = slot_values
        self.extra_values = {}
        for extra in self.extras if dialect == "keras3" else ():
            self.extra_values[extra.key] = next(rest)

    def _layout(self, weights: list[Any], dialect: Dialect) -> list[tuple[str, tuple[int, ...]]]:
        """``(name, shape)`` of each entry of :meth:`variables`, without building any array."""
        names = [_path(v) for v in weights]
        if dialect == "keras2":
            prefix = self.name_for("keras2")
            return [("iteration", ())] + [
                (f"{prefix}/{s.keras2}/{names[i]}", _shape_of(weights[i]))
                for i, s in self.slot_order(len(weights), "keras2")
            ]
        prefix = self.name_for("keras3")
        out: list[tuple[str, tuple[int, ...]]] = [(f"{prefix}/iteration", ())]
        if not self.has_schedule:
            out.append((f"{prefix}/learning_rate", ()))
        out += [(f"{prefix}/{names[i].replace('/', '_')}_{s.keras3}", _shape_of(weights[i]))
                for i, s in self.slot_order(len(weights), "keras3")]
        for extra in self.extras:  # scalars (Nadam u_product) unless a stored value says else
            stored = self.extra_values.get(extra.key)
            out.append((f"{prefix}/{extra.keras3_name}",
                        () if stored is None else tuple(np.shape(stored))))
        return out

    def _slots_for(self, weights: list[Any]) -> list[dict[str, np.ndarray]]:
        if self.slot_values is not None and len(self.slot_values) != len(weights):
            raise ConfigError(
                f"optimizer {self.name!r} holds slots for {len(self.slot_values)} variables, "
                f"received {len(weights)} trainable variables"
            )
        out = []
        for i, v in enumerate(weights):
            have = self.slot_values[i] if self.slot_values is not None else {}
            d = dict(have)
            for s in self.active_slots("keras2") + self.active_slots("keras3"):
                if s.keras3 not in d:
                    d[s.keras3] = np.full(_shape_of(v), self.initial_value(s),
                                          dtype=_dtype_of(v))
            out.append(d)
        return out

    # ---------------------------------------------------------------- config

    def get_config(self, dialect: Dialect = "keras3") -> dict[str, Any]:
        """The config as that generation's ``optimizer.get_config()`` writes it."""
        check_dialect(dialect)
        cfg = copy.deepcopy(self.config)
        lr = cfg["learning_rate"]
        cfg["learning_rate"] = _schedule(lr, dialect) if isinstance(lr, dict) else float(
            np.float32(lr))
        specific = [k for k in cfg if k not in _BASE]
        if dialect == "keras3":
            return {"name": self.name_for("keras3"), **{k: cfg[k] for k in _BASE},
                    **{k: cfg[k] for k in specific}}
        for name in _KERAS3_ONLY:
            if cfg.get(name) is not None:
                raise TargetCompatibilityError(
                    f"{type(self).__name__}: {name}={cfg[name]!r} has no tf_keras equivalent "
                    "(tf_keras refuses the argument)"
                )
        for name, default in self.keras2_defaults.items():
            if cfg.get(name) is None:
                cfg[name] = default
        cfg.update({k: self.keras2_extra.get(k, v) for k, v in _KERAS2_ONLY.items()})
        out = {"name": self.name_for("keras2"), **{k: cfg[k] for k in _KERAS2_ORDER},
               **{k: cfg[k] for k in specific}}
        return self.render_keras2(out)

    def render_keras2(self, config: dict[str, Any]) -> dict[str, Any]:
        """Hook: per-optimizer tf_keras differences on top of :meth:`get_config`."""
        return config

    def serialize(self, dialect: Dialect = "keras3", *, legacy: bool | None = None
                  ) -> dict[str, Any]:
        """As that generation's ``optimizers.serialize``.

        tf_keras' ``.h5``/SavedModel ``training_config`` uses the legacy form
        ``{"class_name": "Custom>Adam", "config"}`` (the default for ``keras2``); ``legacy=False``
        gives the envelope both generations use in ``.keras`` files.
        """
        config = self.get_config(dialect)
        if dialect == "keras2" and legacy is not False:
            return {"class_name": f"Custom>{self.class_name()}", "config": config}
        return {"module": "keras.optimizers", "class_name": self.class_name(), "config": config,
                "registered_name": None}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Optimizer:
        """An optimizer from its ``config`` in either dialect (unknown keys are refused)."""
        cfg = dict(config or {})
        known = set(_BASE) | set(cls.defaults) | set(_KERAS2_ONLY) | set(_IGNORED) | {"name"}
        unknown = sorted(k for k in cfg if k not in known)
        if unknown:
            raise ConfigError(f"{cls.__name__} config: unknown key(s) {unknown}; "
                              f"known: {sorted(known)}")
        name = cfg.pop("name", None)
        if "lr" in cfg and "learning_rate" in cfg:
            cfg.pop("lr")
        lr = cfg.get("learning_rate")
        if isinstance(lr, dict):
            cfg["learning_rate"] = _schedule(lr)
        keras2 = any(k in cfg for k in _KERAS2_ONLY) or "decay" in cfg
        if keras2 and not cfg.get("use_ema"):
            for key, default in cls.keras2_defaults.items():
                if cfg.get(key) == default:
                    cfg[key] = None
        opt = cls(**cfg)
        if name and name not in (cls.__name__, snake_case(cls.__name__)):
            opt._name = str(name)
        return opt

    def __repr__(self) -> str:
        return f"<{type(self).__name__} lr={self.learning_rate} iterations={self.iterations}>"


def _shape_of(v: Any) -> tuple[int, ...]:
    """A variable's (or array's) shape, without materializing a lazy variable."""
    shape = getattr(v, "shape", None)
    return tuple(int(d) for d in shape) if shape is not None else tuple(np.shape(v))


def _dtype_of(v: Any) -> np.dtype:
    """A variable's (or array's) dtype, without materializing a lazy variable."""
    dtype = getattr(v, "dtype", None)
    return np.dtype(dtype) if dtype is not None else np.asarray(v).dtype


def _path(v: Any) -> str:
    return str(getattr(v, "path", "") or getattr(v, "name", ""))


def _schedule(value: dict[str, Any], dialect: Dialect | None = None) -> dict[str, Any]:
    """A learning-rate schedule in the envelope both generations write.

    tf_keras' schedules default ``name`` to None, Keras 3's to the class name; Keras 3 takes a
    None name but its ``fit`` then fails (``Argument `name` must be a string``): rendered for
    Keras 3, a None name becomes the class name.
    """
    config = copy.deepcopy(value.get("config") or {})
    if dialect == "keras3" and "name" in config and config["name"] is None:
        config["name"] = str(value.get("class_name"))
    return {"module": value.get("module") or _SCHEDULE_MODULE,
            "class_name": str(value.get("class_name")), "config": config,
            "registered_name": value.get("registered_name")}


# ============================================================================ the catalog


class SGD(Optimizer):
    defaults = {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False}
    slots = (SlotSpec("momentum", "m", condition="momentum", keras2_always=True),)


class Adam(Optimizer):
    defaults = {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": False}
    slots = (
        SlotSpec("momentum", "m"),
        SlotSpec("velocity", "v"),
        SlotSpec("velocity_hat", "vhat", condition="amsgrad", group=1),
    )


class AdamW(Adam):
    defaults = {"weight_decay": 0.004, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07,
                "amsgrad": False}


class RMSprop(Optimizer):
    defaults = {"rho": 0.9, "momentum": 0.0, "epsilon": 1e-07, "centered": False}
    slots = (
        SlotSpec("velocity", "velocity"),
        SlotSpec("momentum", "momentum", condition="momentum", group=1),
        SlotSpec("average_gradient", "average_gradient", condition="centered", group=2),
    )
    keras2_defaults = {"ema_overwrite_frequency": 100}


class Adagrad(Optimizer):
    defaults = {"initial_accumulator_value": 0.1, "epsilon": 1e-07}
    slots = (SlotSpec("accumulator", "accumulator", initial=0.1,
                      initial_from="initial_accumulator_value"),)


class Adadelta(Optimizer):
    defaults = {"rho": 0.95, "epsilon": 1e-07}
    slots = (
        SlotSpec("accumulated_grad", "accumulated_grad"),
        SlotSpec("accumulated_delta_var", "accumulated_delta_var"),
    )


class Adamax(Optimizer):
    defaults = {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07}
    slots = (SlotSpec("momentum", "m"), SlotSpec("norm", "u"))


class Nadam(Optimizer):
    """Keras 3 keeps ``u_product`` (the product of the momentum schedule) as variable
    ``variable`` after the slots; tf_keras keeps it as ``_u_product`` outside ``variables``
    (checkpoints only). Without a stored value it is computed from ``iterations``."""

    defaults = {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07}
    slots = (SlotSpec("momentum", "m"), SlotSpec("velocity", "v"))
    extras = (ExtraVariable("u_product", "variable", 1.0),)

    def extra_initial(self, extra: ExtraVariable, variables: Sequence[Any]) -> np.ndarray:
        dtype = _dtype_of(variables[0]) if variables else np.float32
        return np.asarray(nadam_u_product(self.iterations, float(self.config["beta_1"])), dtype)


class Ftrl(Optimizer):
    defaults = {
        "learning_rate_power": -0.5,
        "initial_accumulator_value": 0.1,
        "l1_regularization_strength": 0.0,
        "l2_regularization_strength": 0.0,
        "l2_shrinkage_regularization_strength": 0.0,
        "beta": 0.0,
    }
    slots = (SlotSpec("accumulator", "accumulator", initial=0.1,
                      initial_from="initial_accumulator_value"),
             SlotSpec("linear", "linear"))


class Lion(Optimizer):
    """tf_keras' default learning rate is 1e-4 (Keras 3: 1e-3); both write it explicitly."""

    defaults = {"beta_1": 0.9, "beta_2": 0.99}
    slots = (SlotSpec("momentum", "m"),)


def nadam_u_product(iterations: int, beta_1: float) -> float:
    """Keras 3's Nadam ``u_product`` after ``iterations`` steps: the product over t = 1…n of
    ``beta_1 * (1 - 0.5 * 0.96**t)`` in float32 (from t ≈ 400 every factor is float32(beta_1))."""
    n = int(iterations)
    head = min(n, 512)
    t = np.arange(1, head + 1, dtype=np.float32)
    factors = (np.float32(beta_1) * (np.float32(1.0) - np.float32(0.5) * np.float32(0.96) ** t))
    product = np.float32(1.0)
    for f in factors.astype(np.float32):
        product = np.float32(product * f)
    if n > head:
        product = np.float32(float(product) * float(np.float32(beta_1)) ** (n - head))
    return float(product)


_CLASSES: dict[str, type[Optimizer]] = {
    cls.__name__.lower(): cls
    for cls in (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, Nadam, Ftrl, Lion)
}


def deserialize(config: dict[str, Any], path: str = "optimizer") -> Optimizer:
    """An optimizer from ``{"class_name", "config"}`` in either dialect (``Custom>Adam``, the
    ``module`` envelope, legacy tf_keras configs with ``decay``; names case-insensitive).

    Every hyperparameter is checked first (``config_schema.check_optimizer_config``); errors
    name the key path below ``path`` and the value."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise located(f"optimizer config must be an object with 'class_name', received "
                      f"{show(config)}", path)
    class_name = Text()(config.get("class_name"), key(path, "class_name"))
    cls = _CLASSES.get(class_name.split(">")[-1].lower())
    if cls is None:
        raise located(f"optimizer class {class_name!r} is not supported; "
                      f"supported: {sorted(c.__name__ for c in _CLASSES.values())}",
                      key(path, "class_name"))
    cfg = check_optimizer_config(config.get("config"), key(path, "config"))
    try:
        return cls.from_config(dict(cfg))
    except ConfigError as exc:
        raise located(str(exc), key(path, "config")) from None


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
    raise ConfigError(f"optimizer: expected a name, a config or an Optimizer, "
                      f"received {identifier!r}")
