"""Core layers: Dense, Activation and the advanced activations, Softmax, and the inference-time
identities (Dropout and friends)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .. import activations
from ..errors import TargetCompatibilityError
from ..model.dialect import keeps_keras3_names
from ..model.layer import Layer, WeightSpec, register

__all__ = [
    "ELU",
    "Activation",
    "ActivityRegularization",
    "AlphaDropout",
    "Dense",
    "Dropout",
    "GaussianDropout",
    "GaussianNoise",
    "Identity",
    "LeakyReLU",
    "Masking",
    "PReLU",
    "ReLU",
    "Softmax",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "ThresholdedReLU",
]


@register
class Dense(Layer):
    defaults = {
        "units": None,
        "activation": "linear",
        "use_bias": True,
        "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
        "bias_initializer": {"class_name": "Zeros", "config": {}},
        "kernel_regularizer": None,
        "bias_regularizer": None,
        "activity_regularizer": None,
        "kernel_constraint": None,
        "bias_constraint": None,
        "quantization_config": None,
    }
    keras3_only = ("quantization_config", "lora_rank", "lora_alpha", "lora_enabled")
    supports_masking = True

    def __init__(self, units: int | None = None, activation: Any = None, **kwargs: Any) -> None:
        if units is not None:
            kwargs["units"] = int(units)
        kwargs["activation"] = (
            activation if activation is not None else kwargs.get("activation", "linear")
        )
        super().__init__(**kwargs)

    def render_config(self, config: dict[str, Any], dialect: Any) -> dict[str, Any]:
        """Keras 3.15 ``Dense.get_config`` always writes ``quantization_config`` (null) and,
        through the base ``Layer.get_config``, ``activity_regularizer`` only when one is set;
        tf_keras always writes ``activity_regularizer`` and never ``quantization_config``."""
        if dialect != "keras3" or "activity_regularizer" not in config:
            return config
        regularizer = config.pop("activity_regularizer")
        if regularizer is None:
            return config
        # Set: the base config's keys come first (name, trainable, dtype, activity_regularizer).
        out: dict[str, Any] = {}
        for key, value in config.items():
            out[key] = value
            if key == "dtype":
                out["activity_regularizer"] = regularizer
        out.setdefault("activity_regularizer", regularizer)
        return out

    def weight_specs(self, input_shape: Any) -> list[WeightSpec]:
        fan_in = int(input_shape[-1])
        units = int(self.config["units"])
        specs = [WeightSpec("kernel", (fan_in, units), self.config["kernel_initializer"])]
        if self.config["use_bias"]:
            specs.append(WeightSpec("bias", (units,), self.config["bias_initializer"]))
        return specs

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (*tuple(input_shape[:-1]), int(self.config["units"]))

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        x = np.asarray(inputs)
        kernel = self._variables[0].value
        y = np.tensordot(x, kernel, axes=([x.ndim - 1], [0])) if x.ndim > 2 else x @ kernel
        if self.config["use_bias"]:
            y = y + self._variables[1].value
        return activations.get(self.config["activation"], self.source_dialect)(
            y.astype(kernel.dtype)
        )


@register
class Activation(Layer):
    defaults = {"activation": "linear"}
    supports_masking = True

    def __init__(self, activation: Any = None, **kwargs: Any) -> None:
        if activation is not None:
            kwargs["activation"] = activation
        super().__init__(**kwargs)

    def render_config(self, config: dict[str, Any], dialect: Any) -> dict[str, Any]:
        """tf_keras resolves only :data:`activations.KERAS2_NAMES` (Keras 3's ``silu`` is its
        ``swish``): a Keras 3-only name (``hard_silu`` in Keras 3's MobileNetV3) cannot be
        written for Keras 2."""
        name = config.get("activation")
        if dialect != "keras2" or not isinstance(name, str):
            return config
        if name == "silu":
            config["activation"] = "swish"
        elif name not in activations.KERAS2_NAMES and not keeps_keras3_names(self):
            raise TargetCompatibilityError(
                f"Activation {self.name!r}: tf_keras has no activation {name!r}; the layer "
                "cannot be written for Keras 2 (write a Keras 3 file: .keras, or .h5 with "
                "target='keras3')"
            )
        return config

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        return activations.get(self.config["activation"], self.source_dialect)(np.asarray(inputs))


@register
class Softmax(Layer):
    defaults = {"axis": -1}
    supports_masking = True

    def call(self, inputs: Any, mask: Any = None, **kwargs: Any) -> Any:
        x = np.asarray(inputs)
        axis = self.config["axis"]
        axis = tuple(axis) if isinstance(axis, list) else axis
        if mask is not None:
            x = x + (1.0 - np.asarray(mask, dtype=x.dtype)) * np.asarray(-1e9, dtype=x.dtype)
        return activations.softmax(x, axis=axis).astype(x.dtype)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return None


@register
class ReLU(Layer):
    defaults = {"max_value": None, "negative_slope": 0.0, "threshold": 0.0}
    supports_masking = True

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        x = np.asarray(inputs)
        c = self.config
        thr, slope = float(c["threshold"] or 0.0), float(c["negative_slope"] or 0.0)
        top = None if c["max_value"] is None else float(c["max_value"])
        return activations.relu(x, slope, top, thr, self.source_dialect)


@register
class LeakyReLU(Layer):
    """``alpha`` in tf_keras, ``negative_slope`` in Keras 3 (defaults 0.3)."""

    defaults = {"negative_slope": 0.3}
    supports_masking = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if "alpha" in kwargs:
            kwargs["negative_slope"] = kwargs.pop("alpha")
        super().__init__(*args, **kwargs)

    def render_config(self, config: dict[str, Any], dialect: Any) -> dict[str, Any]:
        if dialect == "keras2":
            config["alpha"] = config.pop("negative_slope")
        return config

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        x = np.asarray(inputs)
        return np.where(x >= 0, x, self.config["negative_slope"] * x).astype(x.dtype)


@register
class ELU(Layer):
    defaults = {"alpha": 1.0}
    supports_masking = True

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        x = np.asarray(inputs)
        return activations.elu(x, float(self.config["alpha"])).astype(x.dtype)


@register
class ThresholdedReLU(Layer):
    """tf_keras only; Keras 3 has no such class, so its config is rendered as
    ``ReLU(threshold=theta)`` there (equal except at exactly ``x == theta``)."""

    defaults = {"theta": 1.0}
    supports_masking = True

    def serialize_entry(self, entry: dict[str, Any], dialect: Any) -> dict[str, Any]:
        if dialect != "keras3":
            return entry
        config = entry["config"]
        theta = config.pop("theta")
        config.update({"max_value": None, "negative_slope": 0.0, "threshold": theta})
        entry["class_name"] = "ReLU"
        return entry

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        x = np.asarray(inputs)
        return np.where(x > self.config["theta"], x, 0).astype(x.dtype)


@register
class PReLU(Layer):
    defaults = {
        "alpha_initializer": {"class_name": "Zeros", "config": {}},
        "alpha_regularizer": None,
        "alpha_constraint": None,
        "shared_axes": None,
    }
    supports_masking = True

    def weight_specs(self, input_shape: Any) -> list[WeightSpec]:
        shape = [int(d) if d is not None else 1 for d in input_shape[1:]]
        for axis in self.config.get("shared_axes") or []:
            shape[int(axis) - 1] = 1
        return [WeightSpec("alpha", tuple(shape), self.config["alpha_initializer"])]

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        x = np.asarray(inputs)
        alpha = self._variables[0].value
        return (np.maximum(x, 0) - alpha * np.maximum(-x, 0)).astype(x.dtype)


class _Identity(Layer):
    """Layers that change nothing at inference time."""

    supports_masking = True

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        return inputs


@register
class Dropout(_Identity):
    defaults = {"rate": 0.0, "noise_shape": None, "seed": None}

    def __init__(self, rate: float | None = None, **kwargs: Any) -> None:
        if rate is not None:
            kwargs["rate"] = rate
        super().__init__(**kwargs)


@register
class SpatialDropout1D(Dropout):
    defaults = {"rate": 0.0, "seed": None}


@register
class SpatialDropout2D(Dropout):
    defaults = {"rate": 0.0, "data_format": "channels_last", "seed": None}


@register
class SpatialDropout3D(Dropout):
    defaults = {"rate": 0.0, "data_format": "channels_last", "seed": None}


@register
class GaussianDropout(Dropout):
    defaults = {"rate": 0.0, "seed": None}


@register
class AlphaDropout(Dropout):
    defaults = {"rate": 0.0, "noise_shape": None, "seed": None}


@register
class GaussianNoise(_Identity):
    defaults = {"stddev": 0.0, "seed": None}


@register
class ActivityRegularization(_Identity):
    defaults = {"l1": 0.0, "l2": 0.0}


@register
class Identity(_Identity):
    defaults: ClassVar[dict[str, Any]] = {}


@register
class Masking(Layer):
    defaults = {"mask_value": 0.0}
    supports_masking = True

    def __init__(self, mask_value: float | None = None, **kwargs: Any) -> None:
        if mask_value is not None:
            kwargs["mask_value"] = mask_value
        super().__init__(**kwargs)

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        x = np.asarray(inputs)
        keep = np.any(x != self.config["mask_value"], axis=-1, keepdims=True)
        return (x * keep).astype(x.dtype)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return np.any(np.asarray(inputs) != self.config["mask_value"], axis=-1)
