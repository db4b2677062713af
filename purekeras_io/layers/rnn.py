"""Recurrent layers: SimpleRNN, LSTM, GRU (and their cells), the generic RNN, Bidirectional and
TimeDistributed.

Format and behaviour facts (tf_keras 2.21 and Keras 3.15.1, read from their sources and checked
by ``tests/oracle/test_layers_rnn_attention_oracle.py``):

* **Weights live on the cell** (``layer.cell``): ``kernel`` ``(features, k*units)``,
  ``recurrent_kernel`` ``(units, k*units)``, ``bias`` (k = 1 SimpleRNN, 4 LSTM, 3 GRU; gates in
  the order i, f, c, o for LSTM and z, r, h for GRU). GRU with ``reset_after=True`` (the default
  in both generations) has a bias of shape ``(2, 3*units)`` (input bias, recurrent bias).
  Variable names: tf_keras ``lstm/lstm_cell/kernel:0``; Keras 3 path ``lstm/lstm_cell/kernel``;
  the ``.keras`` weights tree holds them under ``layers/lstm/cell/vars/0..2``.
* **Configs.** SimpleRNN/LSTM/GRU write one flat config (cell arguments + RNN arguments).
  tf_keras adds ``time_major`` (refused by Keras 3, dropped here unless True) and, for LSTM/GRU,
  ``implementation`` (Keras 3 accepts it on LSTM/GRU, not on SimpleRNN, and never writes it);
  it writes ``zero_output_for_mask`` only when True. Keras 3 adds ``seed`` and always writes
  ``zero_output_for_mask``; tf_keras accepts both. Keras 3's ``use_cudnn`` is never written.
  The generic ``RNN`` writes ``cell`` as a full nested entry (``module``, ``class_name``,
  ``config``, ``registered_name``, ``build_config``) in both generations.
* **Masks** (a boolean ``(batch, time)`` mask from ``Embedding(mask_zero=True)`` or ``Masking``):
  at a masked step the states keep their previous values and the output repeats the previous
  output (zeros before the first kept step), or is zero when ``zero_output_for_mask``. The output
  mask is the input mask when ``return_sequences``, else none; states get no mask.
* ``go_backwards`` reverses the inputs (and mask); with ``return_sequences`` the output sequence
  stays in reversed time order (Bidirectional flips it back).
* **Bidirectional**: forward layer named ``forward_<name>``, backward ``backward_<name>`` (a
  copy with ``go_backwards`` flipped); both get ``zero_output_for_mask = return_sequences``.
  tf_keras also prefixes a given backward layer (``backward_<its name>``); Keras 3 keeps its
  name and does not double a ``forward_``/``backward_`` prefix already present.
  tf_keras writes ``layer`` = the original layer's config (its own name, no build_config) and
  ``backward_layer`` only when one was given; Keras 3 writes ``layer`` = the forward layer's
  config (named ``forward_<name>``) and always ``backward_layer``, both with ``build_config``.
  Weights: forward then backward (``bidi/forward_lstm/lstm_cell/kernel``).
* **TimeDistributed** applies the inner layer to ``(batch*time, …)``. Weights are the inner
  layer's: Keras 3 path ``td/dense/kernel``, tf_keras name ``td/kernel:0`` (kept in
  ``Variable.extra["keras2_path"]``).
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import numpy as np

from .. import activations
from ..errors import ConfigError, TargetCompatibilityError
from ..model.dialect import Dialect
from ..model.layer import Layer, WeightSpec, register
from ..model.variable import Variable

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "Bidirectional",
    "GRUCell",
    "LSTMCell",
    "SimpleRNN",
    "SimpleRNNCell",
    "TimeDistributed",
]

_GLOROT = {"class_name": "GlorotUniform", "config": {"seed": None}}
_ORTHOGONAL = {"class_name": "Orthogonal", "config": {"gain": 1.0, "seed": None}}
_ZEROS = {"class_name": "Zeros", "config": {}}

# Arguments every cell takes (neutral form, Keras defaults).
_CELL_DEFAULTS: dict[str, Any] = {
    "units": None,
    "activation": "tanh",
    "use_bias": True,
    "kernel_initializer": _GLOROT,
    "recurrent_initializer": _ORTHOGONAL,
    "bias_initializer": _ZEROS,
    "kernel_regularizer": None,
    "recurrent_regularizer": None,
    "bias_regularizer": None,
    "kernel_constraint": None,
    "recurrent_constraint": None,
    "bias_constraint": None,
    "dropout": 0.0,
    "recurrent_dropout": 0.0,
    "seed": None,
}
# Arguments of the RNN wrapper (shared by SimpleRNN/LSTM/GRU).
_RNN_DEFAULTS: dict[str, Any] = {
    "return_sequences": False,
    "return_state": False,
    "go_backwards": False,
    "stateful": False,
    "unroll": False,
    "zero_output_for_mask": False,
}
_GATED_DEFAULTS: dict[str, Any] = {"recurrent_activation": "sigmoid", "implementation": 2}


# ============================================================================ shared helpers


def set_weight_paths(layer: Layer, prefix: str) -> None:
    """Give every variable under ``layer`` its Keras 3 path: ``prefix/<sub name>/…/<var name>``."""
    for var in layer.own_variables:
        var.path = f"{prefix}/{var.name}"
    for sub in layer.sublayers().values():
        set_weight_paths(sub, f"{prefix}/{sub.name}")


def nested_entry(layer: Layer, dialect: Dialect, *, build: bool = True) -> dict[str, Any]:
    """A nested layer as both generations write it inside a config (``cell``, ``layer``…)."""
    from ..model.serialize import serialize_layer

    entry = serialize_layer(layer, dialect)
    if not build:
        entry.pop("build_config", None)
    return entry


def layer_from_entry(value: Any, dialect: Dialect) -> Layer:
    """A nested layer argument: a Layer or a ``{"class_name", "config"}`` entry (either dialect)."""
    if isinstance(value, Layer):
        return value
    if isinstance(value, dict) and "class_name" in value:
        from ..model.serialize import deserialize_layer

        return deserialize_layer(value, dialect)
    raise ConfigError(f"expected a layer or a layer config entry, received {value!r:.200}")


def clone_layer(layer: Layer, **overrides: Any) -> Layer:
    """A fresh (unbuilt) copy of ``layer`` with some config values replaced (through a config of
    the generation it came from, so generation-only values such as ``time_major`` survive)."""
    dialect = layer.source_dialect
    entry = nested_entry(layer, dialect, build=False)
    entry["config"].update(overrides)
    return layer_from_entry(entry, dialect)


def _pop_shape(shape: Any) -> tuple[Any, ...]:
    """The sequence shape of an RNN call: the first shape when called on ``[x, *states]``."""
    if isinstance(shape, list) and shape and isinstance(shape[0], (list, tuple)):
        return tuple(shape[0])
    return tuple(shape)


def _float(x: Any) -> np.ndarray:
    arr = np.asarray(x)
    return arr if arr.dtype.kind == "f" else arr.astype(np.float32)


# ============================================================================ cells


class _Cell(Layer):
    """A recurrent cell: weights and one time step."""

    gates: ClassVar[int] = 1
    cell_name: ClassVar[str] = "simple_rnn_cell"
    """The name SimpleRNN/LSTM/GRU give their cell (both generations; not made unique)."""
    supports_masking = True

    def __init__(self, units: int | None = None, **kwargs: Any) -> None:
        if units is not None:
            kwargs["units"] = int(units)
        kwargs.pop("time_major", None)
        if "implementation" not in self.defaults:
            kwargs.pop("implementation", None)
        super().__init__(**kwargs)
        if self.config.get("units") is None:
            raise ConfigError(f"{self.class_name()}: argument 'units' is required")

    @property
    def units(self) -> int:
        return int(self.config["units"])

    @property
    def state_size(self) -> list[int]:
        return [self.units]

    def render_config(self, config: dict[str, Any], dialect: Dialect) -> dict[str, Any]:
        if dialect == "keras2":
            config.pop("seed", None)
        else:
            config.pop("implementation", None)
        return config

    def weight_specs(self, input_shape: Any) -> list[WeightSpec]:
        features = int(_pop_shape(input_shape)[-1])
        width = self.gates * self.units
        c = self.config
        specs = [
            WeightSpec("kernel", (features, width), c["kernel_initializer"]),
            WeightSpec("recurrent_kernel", (self.units, width), c["recurrent_initializer"]),
        ]
        if c["use_bias"]:
            specs.append(WeightSpec("bias", self.bias_shape(), c["bias_initializer"]))
        return specs

    def bias_shape(self) -> tuple[int, ...]:
        return (self.gates * self.units,)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (_pop_shape(input_shape)[0], self.units)

    def _act(self, key: str, dialect: Dialect) -> Any:
        return activations.get(self.config[key], dialect)

    def step(
        self, x: np.ndarray, states: list[np.ndarray], dialect: Dialect
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """One time step: ``(output, new_states)``."""
        raise NotImplementedError

    def call(self, inputs: Any, states: Any = None, **kwargs: Any) -> Any:
        """A cell called directly: ``(output, new_states)`` as Keras returns it."""
        x = _float(inputs)
        if states is None:
            states = [np.zeros((x.shape[0], n), x.dtype) for n in self.state_size]
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        return self.step(x, [_float(s) for s in states], self.source_dialect)


@register
class SimpleRNNCell(_Cell):
    """``h = activation(x·W + b + h₋₁·U)``."""

    defaults = dict(_CELL_DEFAULTS)

    def step(
        self, x: np.ndarray, states: list[np.ndarray], dialect: Dialect
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        kernel, recurrent = self._variables[0].value, self._variables[1].value
        h = x @ kernel
        if self.config["use_bias"]:
            h = h + self._variables[2].value
        out = self._act("activation", dialect)((h + states[0] @ recurrent).astype(kernel.dtype))
        return out, [out]


@register
class LSTMCell(_Cell):
    """``z = x·W + h₋₁·U + b``; gates i, f, c, o; ``c = f*c₋₁ + i*act(c̃)``, ``h = o*act(c)``.

    ``unit_forget_bias`` initializes the forget-gate quarter of the bias to ones.
    """

    gates = 4
    cell_name = "lstm_cell"
    defaults = {**_CELL_DEFAULTS, **_GATED_DEFAULTS, "unit_forget_bias": True}

    @property
    def state_size(self) -> list[int]:
        return [self.units, self.units]

    def build(self, input_shape: Any) -> None:
        if self.built:
            return
        super().build(input_shape)
        if self.config["use_bias"] and self.config["unit_forget_bias"]:
            bias = self._variables[2]
            value = bias.value.copy()
            value[self.units : 2 * self.units] = 1.0
            bias.value = value

    def step(
        self, x: np.ndarray, states: list[np.ndarray], dialect: Dialect
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        kernel, recurrent = self._variables[0].value, self._variables[1].value
        h_prev, c_prev = states
        z = x @ kernel + h_prev @ recurrent
        if self.config["use_bias"]:
            z = z + self._variables[2].value
        z = z.astype(kernel.dtype)
        u = self.units
        rec, act = self._act("recurrent_activation", dialect), self._act("activation", dialect)
        i, f = rec(z[:, :u]), rec(z[:, u : 2 * u])
        c = f * c_prev + i * act(z[:, 2 * u : 3 * u])
        o = rec(z[:, 3 * u :])
        h = o * act(c)
        return h, [h, c]


@register
class GRUCell(_Cell):
    """Gates z, r, h. ``reset_after=True`` (default): ``h̃ = act(x·W_h + b_h + r*(h₋₁·U_h + b'_h))``
    with a ``(2, 3*units)`` bias; ``reset_after=False``: ``h̃ = act(x·W_h + b_h + (r*h₋₁)·U_h)``.
    ``h = z*h₋₁ + (1-z)*h̃``."""

    gates = 3
    cell_name = "gru_cell"
    defaults = {**_CELL_DEFAULTS, **_GATED_DEFAULTS, "reset_after": True}

    def bias_shape(self) -> tuple[int, ...]:
        return (2, 3 * self.units) if self.config["reset_after"] else (3 * self.units,)

    def step(
        self, x: np.ndarray, states: list[np.ndarray], dialect: Dialect
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        kernel, recurrent = self._variables[0].value, self._variables[1].value
        h_prev = states[0]
        u = self.units
        reset_after = bool(self.config["reset_after"])
        input_bias = recurrent_bias = None
        if self.config["use_bias"]:
            bias = self._variables[2].value
            input_bias, recurrent_bias = (bias[0], bias[1]) if reset_after else (bias, None)
        mx = x @ kernel
        if input_bias is not None:
            mx = mx + input_bias
        if reset_after:
            inner = h_prev @ recurrent
            if recurrent_bias is not None:
                inner = inner + recurrent_bias
        else:
            inner = h_prev @ recurrent[:, : 2 * u]
        rec, act = self._act("recurrent_activation", dialect), self._act("activation", dialect)
        dtype = kernel.dtype
        z = rec((mx[:, :u] + inner[:, :u]).astype(dtype))
        r = rec((mx[:, u : 2 * u] + inner[:, u : 2 * u]).astype(dtype))
        if reset_after:
            rh = r * inner[:, 2 * u :]
        else:
            rh = (r * h_prev) @ recurrent[:, 2 * u :]
        hh = act((mx[:, 2 * u :] + rh).astype(dtype))
        h = (z * h_prev + (1 - z) * hh).astype(dtype)
        return h, [h]


# ============================================================================ RNN layers


class _RNNBase(Layer):
    """What RNN, SimpleRNN, LSTM and GRU share: the time loop, masks, outputs and states."""

    supports_masking = True
    cell: Layer

    def _pop_rnn_kwargs(self, kwargs: dict[str, Any]) -> bool:
        """Drop arguments that change nothing here; return ``time_major``."""
        kwargs.pop("use_cudnn", None)
        kwargs.pop("num_constants", None)
        if "implementation" not in self.defaults:
            kwargs.pop("implementation", None)
        return bool(kwargs.pop("time_major", False))

    def render_config(self, config: dict[str, Any], dialect: Dialect) -> dict[str, Any]:
        if self.config.get("time_major"):
            if dialect == "keras3":
                raise TargetCompatibilityError(
                    f"layer {self.name!r}: time_major=True has no Keras 3 equivalent"
                )
        if dialect == "keras2":
            config.pop("seed", None)
            if not config.get("zero_output_for_mask"):
                config.pop("zero_output_for_mask", None)
        else:
            config.pop("implementation", None)
        return config

    def sublayers(self) -> dict[str, Layer]:
        return {"cell": self.cell}

    @property
    def weights(self) -> list[Variable]:
        out = super().weights
        set_weight_paths(self, self.name)
        return out

    @property
    def return_sequences(self) -> bool:
        return bool(self.config["return_sequences"])

    @property
    def return_state(self) -> bool:
        return bool(self.config["return_state"])

    @property
    def state_size(self) -> list[int]:
        return list(getattr(self.cell, "state_size", []))

    def build(self, input_shape: Any) -> None:
        if self.built:
            return
        shape = _pop_shape(input_shape)
        if self.config.get("time_major"):
            shape = (shape[1], shape[0], *shape[2:])
        self.build_input_shape = [None if d is None else int(d) for d in shape]
        if not self.cell.built:
            self.cell.build((shape[0], *shape[2:]))
        self.built = True
        set_weight_paths(self, self.name)

    def build_config(self) -> dict[str, Any] | None:
        if self.build_input_shape is None:
            return None
        return {"input_shape": list(self.build_input_shape)}

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = _pop_shape(input_shape)
        time_major = bool(self.config.get("time_major"))
        batch, steps = (shape[1], shape[0]) if time_major else (shape[0], shape[1])
        units = self.state_size[0]
        if self.return_sequences:
            out: tuple[Any, ...] = (steps, batch, units) if time_major else (batch, steps, units)
        else:
            out = (batch, units)
        if self.return_state:
            return [out] + [(batch, n) for n in self.state_size]
        return out

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if isinstance(mask, (list, tuple)):
            mask = mask[0] if mask else None
        out_mask = mask if self.return_sequences else None
        if self.return_state:
            return [out_mask] + [None] * len(self.state_size)
        return out_mask

    def call(
        self,
        inputs: Any,
        mask: Any = None,
        training: Any = False,
        initial_state: Any = None,
        **kwargs: Any,
    ) -> Any:
        inputs, mask, initial_state = _split_state_inputs(inputs, mask, initial_state)
        x = _float(inputs)
        time_major = bool(self.config.get("time_major"))
        if time_major:
            x = np.swapaxes(x, 0, 1)
            if mask is not None:
                mask = np.swapaxes(np.asarray(mask), 0, 1)
        if not self.built:
            self.build(x.shape)
        dialect = self.source_dialect
        batch, steps = x.shape[0], x.shape[1]
        if initial_state is None:
            states = [np.zeros((batch, n), x.dtype) for n in self.state_size]
        else:
            given = initial_state if isinstance(initial_state, (list, tuple)) else [initial_state]
            states = [_float(s).astype(x.dtype) for s in given]
        m = None if mask is None else np.asarray(mask).astype(bool)
        if self.config["go_backwards"]:
            x = x[:, ::-1]
            m = None if m is None else m[:, ::-1]
        zero_masked = bool(self.config.get("zero_output_for_mask"))
        outputs: list[np.ndarray] = []
        prev: np.ndarray | None = None
        for t in range(steps):
            out, new_states = self.cell.step(x[:, t], states, dialect)  # type: ignore[attr-defined]
            if m is not None:
                keep = m[:, t][:, None]
                if prev is None or zero_masked:
                    prev = np.zeros_like(out)
                out = np.where(keep, out, prev)
                new_states = [np.where(keep, ns, s) for ns, s in zip(new_states, states)]
            prev, states = out, new_states
            outputs.append(out)
        if outputs:
            sequence = np.stack(outputs, axis=1)
            last = outputs[-1]
        else:
            sequence = np.zeros((batch, 0, self.state_size[0]), x.dtype)
            last = np.zeros((batch, self.state_size[0]), x.dtype)
        result = sequence if self.return_sequences else last
        if time_major and self.return_sequences:
            result = np.swapaxes(result, 0, 1)
        if self.return_state:
            return [result, *states]
        return result


class _FlatRNN(_RNNBase):
    """SimpleRNN, LSTM, GRU: one flat config holding the cell's arguments too."""

    cell_class: ClassVar[type[_Cell]]

    def __init__(self, units: int | None = None, **kwargs: Any) -> None:
        if units is not None:
            kwargs["units"] = int(units)
        time_major = self._pop_rnn_kwargs(kwargs)
        super().__init__(**kwargs)
        if time_major:
            self.config["time_major"] = True
        if self.config.get("units") is None:
            raise ConfigError(f"{self.class_name()}: argument 'units' is required")
        cell_cfg = {
            k: copy.deepcopy(self.config[k]) for k in self.cell_class.defaults if k in self.config
        }
        cell_cfg.update(
            name=self.cell_class.cell_name,
            dtype=self.config["dtype"],
            trainable=self.config["trainable"],
        )
        self.cell = self.cell_class(_from_config=True, _dialect=self.source_dialect, **cell_cfg)

    @property
    def units(self) -> int:
        return int(self.config["units"])


@register
class SimpleRNN(_FlatRNN):
    cell_class = SimpleRNNCell
    # Keras 3 writes ``seed`` on SimpleRNNCell but not on SimpleRNN.
    defaults = {
        **{k: v for k, v in _CELL_DEFAULTS.items() if k != "seed"},
        **_RNN_DEFAULTS,
        "activity_regularizer": None,
    }


@register
class LSTM(_FlatRNN):
    cell_class = LSTMCell
    defaults = {**LSTMCell.defaults, **_RNN_DEFAULTS, "activity_regularizer": None}


@register
class GRU(_FlatRNN):
    cell_class = GRUCell
    defaults = {**GRUCell.defaults, **_RNN_DEFAULTS, "activity_regularizer": None}


@register
class RNN(_RNNBase):
    """The generic RNN over a cell given as a layer or a nested config entry."""

    defaults = dict(_RNN_DEFAULTS)

    def __init__(self, cell: Any = None, **kwargs: Any) -> None:
        dialect = kwargs.get("_dialect", "keras3")
        time_major = self._pop_rnn_kwargs(kwargs)
        if cell is None:
            cell = kwargs.pop("cell", None)
        if cell is None:
            raise ConfigError("RNN: argument 'cell' is required")
        if isinstance(cell, (list, tuple)):
            raise ConfigError("RNN: a list of cells (StackedRNNCells) is not supported")
        super().__init__(**kwargs)
        if time_major:
            self.config["time_major"] = True
        self.cell = layer_from_entry(cell, dialect)

    def render_config(self, config: dict[str, Any], dialect: Dialect) -> dict[str, Any]:
        config = super().render_config(config, dialect)
        config["cell"] = nested_entry(self.cell, dialect)
        return config


# ============================================================================ Bidirectional


_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _strip(name: str, prefix: str) -> str:
    return name[len(prefix) :] if name.startswith(prefix) else name


@register
class Bidirectional(Layer):
    """Runs a recurrent layer forwards and a copy backwards and merges the two outputs."""

    defaults = {"merge_mode": "concat"}
    supports_masking = True

    def __init__(self, layer: Any = None, merge_mode: Any = "concat", **kwargs: Any) -> None:
        dialect = kwargs.get("_dialect", "keras3")
        backward = kwargs.pop("backward_layer", None)
        kwargs.pop("weights", None)
        if layer is None:
            raise ConfigError("Bidirectional: argument 'layer' is required")
        if merge_mode not in _MERGE_MODES:
            raise ConfigError(
                f"Bidirectional: merge_mode must be one of {_MERGE_MODES}, received {merge_mode!r}"
            )
        kwargs["merge_mode"] = merge_mode
        super().__init__(**kwargs)
        original = layer_from_entry(layer, dialect)
        # tf_keras prefixes both names (a given backward layer too); Keras 3 avoids doubling
        # the prefix and keeps a given backward layer's name.
        k2 = dialect == "keras2"
        fwd_base = original.name if k2 else _strip(original.name, "forward_")
        bwd_base = original.name if k2 else _strip(original.name, "backward_")
        self.forward_layer = clone_layer(original, name=f"forward_{fwd_base}")
        if backward is None:
            self.backward_layer = clone_layer(
                original,
                name=f"backward_{bwd_base}",
                go_backwards=not original.config.get("go_backwards", False),
            )
        else:
            self.backward_layer = layer_from_entry(backward, dialect)
            if k2:
                self.backward_layer.name = f"backward_{self.backward_layer.name}"
        for sub in (self.forward_layer, self.backward_layer):
            sub.source_dialect = self.source_dialect
            if "zero_output_for_mask" in sub.config:
                sub.config["zero_output_for_mask"] = bool(sub.config.get("return_sequences"))
        fwd, bwd = self.forward_layer.config, self.backward_layer.config
        if fwd.get("go_backwards") == bwd.get("go_backwards"):
            raise ConfigError(
                f"Bidirectional {self.name!r}: forward and backward layers have the same "
                f"go_backwards={fwd.get('go_backwards')!r}"
            )
        for key in ("stateful", "return_sequences", "return_state"):
            if fwd.get(key) != bwd.get(key):
                raise ConfigError(
                    f"Bidirectional {self.name!r}: forward and backward layers differ in {key!r} "
                    f"({fwd.get(key)!r} vs {bwd.get(key)!r})"
                )

    # ------------------------------------------------------------------ config

    def _auto_backward_config(self) -> dict[str, Any]:
        cfg = copy.deepcopy(self.forward_layer.config)
        cfg["go_backwards"] = not cfg.get("go_backwards", False)
        cfg["name"] = "backward_" + _strip(self.forward_layer.name, "forward_")
        return cfg

    def render_config(self, config: dict[str, Any], dialect: Dialect) -> dict[str, Any]:
        if dialect == "keras3":
            config["layer"] = nested_entry(self.forward_layer, dialect)
            config["backward_layer"] = nested_entry(self.backward_layer, dialect)
            return config
        forward = nested_entry(self.forward_layer, dialect, build=False)
        forward["config"]["name"] = _strip(self.forward_layer.name, "forward_")
        forward["config"].pop("zero_output_for_mask", None)
        config["layer"] = forward
        if self.backward_layer.config != self._auto_backward_config() or type(
            self.backward_layer
        ) is not type(self.forward_layer):
            backward = nested_entry(self.backward_layer, dialect, build=False)
            backward["config"]["name"] = _strip(self.backward_layer.name, "backward_")
            backward["config"].pop("zero_output_for_mask", None)
            config["backward_layer"] = backward
        return config

    def sublayers(self) -> dict[str, Layer]:
        return {"forward_layer": self.forward_layer, "backward_layer": self.backward_layer}

    @property
    def weights(self) -> list[Variable]:
        out = super().weights
        set_weight_paths(self, self.name)
        return out

    # ------------------------------------------------------------------ shapes

    @property
    def return_sequences(self) -> bool:
        return bool(self.forward_layer.config.get("return_sequences"))

    @property
    def return_state(self) -> bool:
        return bool(self.forward_layer.config.get("return_state"))

    def build(self, input_shape: Any) -> None:
        if self.built:
            return
        shape = _pop_shape(input_shape)
        self.build_input_shape = [None if d is None else int(d) for d in shape]
        for sub in (self.forward_layer, self.backward_layer):
            if not sub.built:
                sub.build(shape)
        self.built = True
        set_weight_paths(self, self.name)

    def build_config(self) -> dict[str, Any] | None:
        if self.build_input_shape is None:
            return None
        return {"input_shape": list(self.build_input_shape)}

    def compute_output_shape(self, input_shape: Any) -> Any:
        out = self.forward_layer.compute_output_shape(_pop_shape(input_shape))
        states: list[Any] = []
        if self.return_state:
            out, states = out[0], list(out[1:])
        merge = self.config["merge_mode"]
        if merge == "concat":
            merged: Any = (*out[:-1], None if out[-1] is None else 2 * out[-1])
        elif merge is None:
            merged = [tuple(out), tuple(out)]
        else:
            merged = tuple(out)
        if self.return_state or merge is None:
            head = merged if merge is None else [merged]
            return [*head, *states, *states]
        return merged

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if isinstance(mask, (list, tuple)):
            mask = mask[0] if mask else None
        out_mask = mask if self.return_sequences else None
        merge = self.config["merge_mode"]
        outs = [out_mask, out_mask] if merge is None else [out_mask]
        if self.return_state:
            n = len(getattr(self.forward_layer, "state_size", []))
            outs += [None] * (2 * n)
        return outs if len(outs) > 1 else outs[0]

    # ------------------------------------------------------------------ forward pass

    def call(
        self,
        inputs: Any,
        mask: Any = None,
        training: Any = False,
        initial_state: Any = None,
        **kwargs: Any,
    ) -> Any:
        inputs, mask, initial_state = _split_state_inputs(inputs, mask, initial_state)
        x = _float(inputs)
        if not self.built:
            self.build(x.shape)
        fwd_state = bwd_state = None
        if initial_state is not None:
            half = len(initial_state) // 2
            fwd_state, bwd_state = list(initial_state[:half]), list(initial_state[half:])
        for sub in (self.forward_layer, self.backward_layer):
            sub.source_dialect = self.source_dialect
        y = self.forward_layer.call(x, mask=mask, initial_state=fwd_state)
        y_rev = self.backward_layer.call(x, mask=mask, initial_state=bwd_state)
        states: list[Any] = []
        if self.return_state:
            states = list(y[1:]) + list(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            time_axis = 0 if self.forward_layer.config.get("time_major") else 1
            y_rev = np.flip(y_rev, axis=time_axis)
        merge = self.config["merge_mode"]
        if merge == "concat":
            out: Any = np.concatenate([y, y_rev], axis=-1)
        elif merge == "sum":
            out = y + y_rev
        elif merge == "ave":
            out = (y + y_rev) / 2
        elif merge == "mul":
            out = y * y_rev
        else:
            out = [y, y_rev]
        if self.return_state:
            return [*(out if merge is None else [out]), *states]
        return out


# ============================================================================ TimeDistributed


@register
class TimeDistributed(Layer):
    """Applies ``layer`` to every step of axis 1 (as one call on ``(batch*time, …)``)."""

    defaults = {}
    supports_masking = True

    def __init__(self, layer: Any = None, **kwargs: Any) -> None:
        dialect = kwargs.get("_dialect", "keras3")
        if layer is None:
            raise ConfigError("TimeDistributed: argument 'layer' is required")
        super().__init__(**kwargs)
        self.layer = layer_from_entry(layer, dialect)

    def render_config(self, config: dict[str, Any], dialect: Dialect) -> dict[str, Any]:
        config["layer"] = nested_entry(self.layer, dialect)
        return config

    def sublayers(self) -> dict[str, Layer]:
        return {"layer": self.layer}

    def _set_paths(self) -> None:
        set_weight_paths(self, self.name)
        for var in self.layer.own_variables:
            var.extra["keras2_path"] = f"{self.name}/{var.name}"

    @property
    def weights(self) -> list[Variable]:
        out = super().weights
        self._set_paths()
        return out

    @staticmethod
    def _inner_shape(shape: tuple[Any, ...]) -> tuple[Any, ...]:
        if len(shape) < 3:
            raise ConfigError(
                f"TimeDistributed expects inputs of rank >= 3, received shape {shape}"
            )
        return (None, *shape[2:])

    def build(self, input_shape: Any) -> None:
        if self.built:
            return
        shape = tuple(input_shape)
        self.build_input_shape = [None if d is None else int(d) for d in shape]
        if not self.layer.built:
            self.layer.build(self._inner_shape(shape))
        self.built = True
        self._set_paths()

    def build_config(self) -> dict[str, Any] | None:
        if self.build_input_shape is None:
            return None
        return {"input_shape": list(self.build_input_shape)}

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = tuple(input_shape)
        inner = tuple(self.layer.compute_output_shape(self._inner_shape(shape)))
        return (shape[0], shape[1], *inner[1:])

    def call(self, inputs: Any, mask: Any = None, **kwargs: Any) -> Any:
        x = np.asarray(inputs)
        if not self.built:
            self.build(x.shape)
        batch, steps = x.shape[0], x.shape[1]
        flat = x.reshape((batch * steps, *x.shape[2:]))
        self.layer.source_dialect = self.source_dialect
        inner_kwargs: dict[str, Any] = {}
        if mask is not None and np.ndim(mask) > 2:
            m = np.asarray(mask)
            inner_kwargs["mask"] = m.reshape((batch * steps, *m.shape[2:]))
        y = np.asarray(self.layer.call(flat, **inner_kwargs))
        return y.reshape((batch, steps, *y.shape[1:]))

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if inputs is None or isinstance(inputs, (list, tuple)):
            return mask
        x = np.asarray(inputs)
        batch, steps = x.shape[0], x.shape[1]
        inner_mask = None
        if mask is not None and np.ndim(mask) > 2:
            m = np.asarray(mask)
            inner_mask = m.reshape((batch * steps, *m.shape[2:]))
        out = self.layer.compute_mask(x.reshape((batch * steps, *x.shape[2:])), inner_mask)
        if out is None or isinstance(out, (list, tuple)):
            return mask
        return np.asarray(out).reshape((batch, steps, *np.shape(out)[1:]))


def _split_state_inputs(inputs: Any, mask: Any, initial_state: Any) -> tuple[Any, Any, Any]:
    """tf_keras records ``layer(x, initial_state=s)`` as a call on the list ``[x, *s]``:
    split it back into the sequence, its mask and the initial state."""
    if isinstance(inputs, (list, tuple)):
        if len(inputs) > 1 and initial_state is None:
            initial_state = list(inputs[1:])
        inputs = inputs[0]
    if isinstance(mask, (list, tuple)):
        mask = mask[0] if mask else None
    return inputs, mask, initial_state
