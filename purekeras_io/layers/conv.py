"""Convolution layers: Conv1D/2D/3D, their transposes, depthwise and separable convolutions.

Weights, in Keras' creation order (both generations agree; ``k`` = ``kernel_size``, ``c`` = input
channels, ``f`` = ``filters``, ``m`` = ``depth_multiplier``, ``g`` = ``groups``):

======================  =========================================  ==============================
layer                   weight names                               shapes
======================  =========================================  ==============================
ConvND                  ``kernel``, ``bias``                       ``(*k, c // g, f)``, ``(f,)``
ConvNDTranspose         ``kernel``, ``bias``                       ``(*k, f, c)``, ``(f,)``
DepthwiseConvND         ``depthwise_kernel``, ``bias``             ``(*k, c, m)``, ``(c * m,)``
SeparableConvND         ``depthwise_kernel``,                      ``(*k, c, m)``,
                        ``pointwise_kernel``, ``bias``             ``(1,…, c * m, f)``, ``(f,)``
======================  =========================================  ==============================

Config differences between the generations (measured on tf_keras 2.21 / Keras 3.15.1):

* transposed convolutions: tf_keras writes ``groups`` (always 1), Keras 3 refuses it;
  ``Conv3DTranspose``: tf_keras writes no ``dilation_rate`` (and ignores one it is given);
* ``DepthwiseConv1D/2D``: tf_keras writes ``groups``; Keras 3 refuses it (keras-team/keras#19151);
* ``SeparableConv1D/2D``: tf_keras also writes ``groups``, ``kernel_initializer``,
  ``kernel_regularizer`` and ``kernel_constraint`` (unused); Keras 3 refuses all four;
* Keras 3 writes ``lora_rank`` only when LoRA is enabled; tf_keras refuses it;
* tf_keras orders the keys of depthwise, separable and transposed configs differently; we render
  each dialect in its own order so our configs read like the ones Keras writes.

Output lengths (``k' = (k - 1) * dilation + 1``): ``valid`` ``(n - k') // s + 1``; ``same``
``ceil(n / s)`` with ``max((out - 1) * s + k' - n, 0)`` padding, the smaller half first;
``causal`` (1-D only) pads ``k' - 1`` on the left. Transposed convolutions produce Keras'
``deconv_output_length`` and crop the full transposed result as TensorFlow's
``conv_transpose`` does. The NumPy forward passes use strided window views and one ``tensordot``
(im2col), or a loop over the few kernel taps for depthwise and transposed convolutions.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from .. import activations
from ..errors import ConfigError, TargetCompatibilityError, UnsupportedFeatureError
from ..model.dialect import render_value
from ..model.layer import Layer, WeightSpec, register

__all__ = [
    "Conv1D",
    "Conv1DTranspose",
    "Conv2D",
    "Conv2DTranspose",
    "Conv3D",
    "Conv3DTranspose",
    "Convolution1D",
    "Convolution1DTranspose",
    "Convolution2D",
    "Convolution2DTranspose",
    "Convolution3D",
    "Convolution3DTranspose",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
    "SeparableConv1D",
    "SeparableConv2D",
    "SeparableConvolution1D",
    "SeparableConvolution2D",
]

GLOROT_UNIFORM: dict[str, Any] = {"class_name": "GlorotUniform", "config": {"seed": None}}
ZEROS: dict[str, Any] = {"class_name": "Zeros", "config": {}}

# Keys each dialect writes, in the order it writes them (after name, trainable, dtype).
_CONV_K2_ORDER: tuple[str, ...] = tuple(
    """filters kernel_size strides padding data_format dilation_rate groups activation use_bias
    kernel_initializer bias_initializer kernel_regularizer bias_regularizer activity_regularizer
    kernel_constraint bias_constraint""".split()
)
_TRANSPOSE_K2_ORDER: tuple[str, ...] = (*_CONV_K2_ORDER, "output_padding")
_DEPTHWISE_K2_ORDER: tuple[str, ...] = tuple(
    """kernel_size strides padding data_format dilation_rate groups activation use_bias
    bias_initializer bias_regularizer activity_regularizer bias_constraint depth_multiplier
    depthwise_initializer depthwise_regularizer depthwise_constraint""".split()
)
_SEPARABLE_K2_ORDER: tuple[str, ...] = (
    *_CONV_K2_ORDER,
    *"""depth_multiplier depthwise_initializer pointwise_initializer depthwise_regularizer
    pointwise_regularizer depthwise_constraint pointwise_constraint""".split(),
)
_LORA_KEYS = ("lora_rank", "lora_alpha")


# ============================================================================ spatial helpers


def int_tuple(value: Any, rank: int, key: str, layer: str) -> list[int]:
    """An int or a sequence of ``rank`` ints (a Keras ``kernel_size``/``strides``…) → a list."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return [int(value)] * rank
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == rank:
        try:
            return [int(v) for v in value]
        except (TypeError, ValueError):
            pass
    raise ConfigError(f"{layer}: {key!r} must be an int or {rank} ints, received {value!r}")


def effective_size(kernel: int, dilation: int) -> int:
    return (kernel - 1) * dilation + 1


def output_length(
    size: int | None, kernel: int, stride: int, padding: str, dilation: int = 1
) -> int | None:
    """Keras ``conv_output_length`` (also the pooling output length, with dilation 1)."""
    if size is None:
        return None
    k = effective_size(kernel, dilation)
    if padding == "valid":
        length = size - k + 1
    elif padding in ("same", "causal"):
        length = size
    elif padding == "full":
        length = size + k - 1
    else:
        raise ConfigError(f"padding must be 'valid', 'same' or 'causal', received {padding!r}")
    return max((length + stride - 1) // stride, 0)


def padding_amounts(
    size: int, kernel: int, stride: int, padding: str, dilation: int = 1
) -> tuple[int, int]:
    """Zeros TensorFlow adds before and after one spatial axis (``SAME``: smaller half first)."""
    k = effective_size(kernel, dilation)
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return k - 1, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def deconv_output_length(
    size: int | None,
    kernel: int,
    stride: int,
    padding: str,
    output_padding: int | None,
    dilation: int,
) -> int | None:
    """Keras ``deconv_output_length`` (tf_keras and Keras 3 agree)."""
    if size is None:
        return None
    k = effective_size(kernel, dilation)
    if output_padding is None:
        if padding == "valid":
            return size * stride + max(k - stride, 0)
        if padding == "full":
            return size * stride - (stride + k - 2)
        return size * stride
    pad = {"same": k // 2, "valid": 0, "full": k - 1}[padding]
    return (size - 1) * stride + k - 2 * pad + output_padding


def check_data_format(layer: Any) -> None:
    """``data_format``: None means ``channels_last``; anything but the two formats is refused."""
    c = layer.config
    if c.get("data_format") is None:
        c["data_format"] = "channels_last"
    if c["data_format"] not in ("channels_last", "channels_first"):
        raise ConfigError(
            f"{layer.class_name()} {layer.name!r}: data_format must be 'channels_last' or "
            f"'channels_first', received {c['data_format']!r}"
        )


def to_channels_last(x: np.ndarray, data_format: Any) -> np.ndarray:
    if data_format == "channels_first" and x.ndim > 2:
        return np.moveaxis(x, 1, -1)
    return x


def from_channels_last(x: np.ndarray, data_format: Any) -> np.ndarray:
    if data_format == "channels_first" and x.ndim > 2:
        return np.ascontiguousarray(np.moveaxis(x, -1, 1))
    return x


def pad_spatial(x: np.ndarray, pads: Sequence[tuple[int, int]], value: float = 0.0) -> np.ndarray:
    """Pad the spatial axes of a channels-last batch ``(B, *spatial, C)``."""
    if not any(a or b for a, b in pads):
        return x
    return np.pad(x, [(0, 0), *pads, (0, 0)], constant_values=value)


def window_view(
    x: np.ndarray, window: Sequence[int], strides: Sequence[int], dilation: Sequence[int]
) -> np.ndarray:
    """A read-only view ``(B, *out, *window, C)`` of the windows of a channels-last batch."""
    rank = len(window)
    out = [
        (x.shape[1 + i] - effective_size(window[i], dilation[i])) // strides[i] + 1
        for i in range(rank)
    ]
    out = [max(o, 0) for o in out]
    st = x.strides
    shape = (x.shape[0], *out, *window, x.shape[-1])
    strides_ = (
        st[0],
        *(st[1 + i] * strides[i] for i in range(rank)),
        *(st[1 + i] * dilation[i] for i in range(rank)),
        st[-1],
    )
    return np.lib.stride_tricks.as_strided(x, shape=shape, strides=strides_, writeable=False)


def tap_slices(
    tap: Sequence[int], out: Sequence[int], strides: Sequence[int], dilation: Sequence[int]
) -> tuple[slice, ...]:
    """Index of the inputs one kernel tap meets, for every output position (batch first)."""
    return (
        slice(None),
        *(
            slice(t * d, t * d + (o - 1) * s + 1, s)
            for t, o, s, d in zip(tap, out, strides, dilation)
        ),
    )


def compute_float(dtype_name: str) -> Any:
    """NumPy dtype the forward pass computes in (half precisions compute in float32)."""
    return np.float64 if dtype_name == "float64" else np.float32


def out_dtype(dtype_name: str) -> Any:
    from ..dtypes import to_numpy

    try:
        return to_numpy(dtype_name)
    except Exception:
        return np.float32


def ordered(config: dict[str, Any], order: Sequence[str]) -> dict[str, Any]:
    """``config`` with the keys of ``order`` first-after-the-base-keys, in that order."""
    head = [k for k in ("name", "trainable", "dtype") if k in config]
    keys = head + [k for k in order if k in config and k not in head]
    keys += [k for k in config if k not in keys]
    return {k: config[k] for k in keys}


# ============================================================================ forward passes


def conv_forward(
    x: np.ndarray,
    kernel: np.ndarray,
    strides: Sequence[int],
    dilation: Sequence[int],
    groups: int,
) -> np.ndarray:
    """Valid convolution of a (padded) channels-last batch with a ``(*k, c // g, f)`` kernel."""
    rank = kernel.ndim - 2
    window = kernel.shape[:rank]
    cin, filters = kernel.shape[-2], kernel.shape[-1]
    if x.shape[-1] != cin * groups:
        raise ConfigError(
            f"convolution: input has {x.shape[-1]} channels, kernel expects {cin} x {groups} groups"
        )
    if all(k == 1 for k in window) and groups == 1:
        xs = np.ascontiguousarray(x[tuple(slice(None, None, s) for s in (1, *strides))])
        return (xs.reshape(-1, cin) @ kernel.reshape(cin, filters)).reshape(*xs.shape[:-1], filters)
    view = window_view(x, window, strides, dilation)
    axes_v = list(range(1 + rank, 2 + 2 * rank))
    axes_k = list(range(rank + 1))
    if groups == 1:
        return np.tensordot(view, kernel, axes=(axes_v, axes_k))
    fg = filters // groups
    parts = [
        np.tensordot(
            view[..., g * cin : (g + 1) * cin],
            kernel[..., g * fg : (g + 1) * fg],
            axes=(axes_v, axes_k),
        )
        for g in range(groups)
    ]
    return np.concatenate(parts, axis=-1)


def depthwise_forward(
    x: np.ndarray, kernel: np.ndarray, strides: Sequence[int], dilation: Sequence[int]
) -> np.ndarray:
    """Depthwise valid convolution, ``(*k, c, m)`` kernel; output channel ``i * m + j``."""
    rank = kernel.ndim - 2
    window = kernel.shape[:rank]
    channels, mult = kernel.shape[-2], kernel.shape[-1]
    out = [
        max((x.shape[1 + i] - effective_size(window[i], dilation[i])) // strides[i] + 1, 0)
        for i in range(rank)
    ]
    if mult == 1:
        acc = np.zeros((x.shape[0], *out, channels), dtype=x.dtype)
        for tap in itertools.product(*(range(k) for k in window)):
            acc += x[tap_slices(tap, out, strides, dilation)] * kernel[tap][:, 0]
        return acc
    acc = np.zeros((x.shape[0], *out, channels, mult), dtype=x.dtype)
    for tap in itertools.product(*(range(k) for k in window)):
        acc += x[tap_slices(tap, out, strides, dilation)][..., None] * kernel[tap]
    return acc.reshape(x.shape[0], *out, channels * mult)


def conv_transpose_forward(
    x: np.ndarray,
    kernel: np.ndarray,
    strides: Sequence[int],
    dilation: Sequence[int],
    padding: str,
    output_lengths: Sequence[int],
) -> np.ndarray:
    """Transposed convolution as TensorFlow computes it (the gradient of a forward convolution
    from ``output_lengths`` with the same padding): scatter every tap, then crop the padding."""
    rank = kernel.ndim - 2
    window = kernel.shape[:rank]
    size = x.shape[1 : 1 + rank]
    taps = np.tensordot(x, kernel, axes=([x.ndim - 1], [kernel.ndim - 1]))  # (B, *n, *k, f)
    before = []
    for i in range(rank):
        k = effective_size(window[i], dilation[i])
        if padding == "same":
            before.append(max((size[i] - 1) * strides[i] + k - output_lengths[i], 0) // 2)
        else:
            before.append(0)
    full_len = [
        max(
            (size[i] - 1) * strides[i] + effective_size(window[i], dilation[i]),
            before[i] + output_lengths[i],
        )
        for i in range(rank)
    ]
    full = np.zeros((x.shape[0], *full_len, kernel.shape[-2]), dtype=taps.dtype)
    lead = (slice(None),) * (1 + rank)
    for tap in itertools.product(*(range(k) for k in window)):
        index: tuple[Any, ...] = (*lead, *tap)
        full[tap_slices(tap, size, strides, dilation)] += taps[index]
    crop = (slice(None), *(slice(b, b + n) for b, n in zip(before, output_lengths)))
    return full[crop]


# ============================================================================ layers


class _BaseConv(Layer):
    """What every convolution shares: config normalization, padding, bias and activation."""

    rank: ClassVar[int] = 2
    kernel_key: ClassVar[str] = "kernel_size"
    keras2_order: ClassVar[tuple[str, ...]] = _CONV_K2_ORDER
    keras3_only = _LORA_KEYS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        for key, value in zip(self._positional(), args):
            if key in kwargs:
                raise ConfigError(f"{type(self).__name__}: {key!r} given twice")
            kwargs[key] = value
        if len(args) > len(self._positional()):
            raise ConfigError(f"{type(self).__name__}: too many positional arguments {args!r}")
        if kwargs.get("activation") is None and "activation" in self.defaults:
            kwargs["activation"] = "linear"
        super().__init__(**kwargs)

    @classmethod
    def _positional(cls) -> tuple[str, ...]:
        return ("filters", "kernel_size", "strides", "padding")

    def normalize_config(self) -> None:
        c = self.config
        name = self.class_name()
        for key in ("kernel_size", "strides", "dilation_rate"):
            if key in c:
                if c[key] is None:
                    raise ConfigError(f"{name} {c['name']!r}: {key!r} is required")
                c[key] = int_tuple(c[key], self.rank, key, name)
        if c.get("output_padding") is not None:
            c["output_padding"] = int_tuple(c["output_padding"], self.rank, "output_padding", name)
        c["padding"] = str(c.get("padding", "valid")).lower()
        allowed = ("valid", "same", "causal") if self.rank == 1 else ("valid", "same")
        if c["padding"] not in allowed:
            raise ConfigError(
                f"{name} {c['name']!r}: padding must be one of {allowed}, received {c['padding']!r}"
            )
        check_data_format(self)
        if "filters" in self.defaults and c.get("filters") is not None:
            c["filters"] = int(c["filters"])
        if c.get("lora_rank"):
            raise UnsupportedFeatureError(
                f"{name} {c['name']!r}: LoRA (lora_rank={c['lora_rank']}) is not supported"
            )

    def render_config(self, config: dict[str, Any], dialect: Any) -> dict[str, Any]:
        if dialect == "keras2":
            for key, value in self.keras2_only.items():
                config.setdefault(key, render_value(key, copy.deepcopy(value), dialect))
            return ordered(config, self.keras2_order)
        return config

    # ---------------------------------------------------------------- shapes

    @property
    def channels_first(self) -> bool:
        return self.config["data_format"] == "channels_first"

    def _split(self, input_shape: Any) -> tuple[Any, list[Any], Any]:
        shape = tuple(input_shape)
        if len(shape) != self.rank + 2:
            raise ConfigError(
                f"{self.class_name()} {self.name!r}: expects inputs of rank {self.rank + 2}, "
                f"received shape {shape}"
            )
        if self.channels_first:
            return shape[0], list(shape[2:]), shape[1]
        return shape[0], list(shape[1:-1]), shape[-1]

    def _join(self, batch: Any, spatial: list[Any], channels: Any) -> tuple[Any, ...]:
        if self.channels_first:
            return (batch, channels, *spatial)
        return (batch, *spatial, channels)

    def _in_channels(self, input_shape: Any) -> int:
        channels = self._split(input_shape)[2]
        if channels is None:
            raise ConfigError(
                f"{self.class_name()} {self.name!r}: the channel axis of "
                f"{tuple(input_shape)} must be known"
            )
        return int(channels)

    def _spatial_out(self, spatial: list[Any]) -> list[Any]:
        c = self.config
        return [
            output_length(n, k, s, c["padding"], d)
            for n, k, s, d in zip(spatial, c["kernel_size"], c["strides"], c["dilation_rate"])
        ]

    # ---------------------------------------------------------------- forward pass helpers

    def _prepare(self, inputs: Any) -> np.ndarray:
        x = np.asarray(inputs).astype(compute_float(self.compute_dtype), copy=False)
        x = to_channels_last(x, self.config["data_format"])
        c = self.config
        pads = [
            padding_amounts(n, k, s, c["padding"], d)
            for n, k, s, d in zip(x.shape[1:-1], c["kernel_size"], c["strides"], c["dilation_rate"])
        ]
        return pad_spatial(x, pads)

    def _finish(self, y: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
        if bias is not None:
            y = y + bias.astype(y.dtype)
        y = activations.get(self.config["activation"], self.source_dialect)(y)
        y = from_channels_last(np.asarray(y), self.config["data_format"])
        return y.astype(out_dtype(self.compute_dtype), copy=False)

    def _weight(self, name: str) -> np.ndarray:
        for var in self._variables:
            if var.name == name:
                return np.asarray(var.value)
        raise ConfigError(
            f"{self.class_name()} {self.name!r} has no weight {name!r} (is it built?)"
        )

    def _bias(self) -> np.ndarray | None:
        return self._weight("bias") if self.config["use_bias"] else None


_CONV_DEFAULTS: dict[str, Any] = {
    "filters": None,
    "kernel_size": None,
    "strides": 1,
    "padding": "valid",
    "data_format": "channels_last",
    "dilation_rate": 1,
    "groups": 1,
    "activation": "linear",
    "use_bias": True,
    "kernel_initializer": GLOROT_UNIFORM,
    "bias_initializer": ZEROS,
    "kernel_regularizer": None,
    "bias_regularizer": None,
    "activity_regularizer": None,
    "kernel_constraint": None,
    "bias_constraint": None,
}


class _Conv(_BaseConv):
    """``ConvND``: kernel ``(*kernel_size, in // groups, filters)``."""

    defaults = _CONV_DEFAULTS

    def normalize_config(self) -> None:
        super().normalize_config()
        groups = int(self.config.get("groups") or 1)
        self.config["groups"] = groups
        filters = self.config.get("filters")
        if filters is None:
            raise ConfigError(f"{self.class_name()} {self.name!r}: 'filters' is required")
        if filters % groups:
            raise ConfigError(
                f"{self.class_name()} {self.name!r}: filters={filters} is not divisible by "
                f"groups={groups}"
            )

    def weight_specs(self, input_shape: Any) -> list[WeightSpec]:
        c = self.config
        cin = self._in_channels(input_shape)
        if cin % c["groups"]:
            raise ConfigError(
                f"{self.class_name()} {self.name!r}: {cin} input channels are not divisible by "
                f"groups={c['groups']}"
            )
        shape = (*c["kernel_size"], cin // c["groups"], c["filters"])
        specs = [WeightSpec("kernel", shape, c["kernel_initializer"])]
        if c["use_bias"]:
            specs.append(WeightSpec("bias", (c["filters"],), c["bias_initializer"]))
        return specs

    def compute_output_shape(self, input_shape: Any) -> Any:
        batch, spatial, _ = self._split(input_shape)
        return self._join(batch, self._spatial_out(spatial), self.config["filters"])

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        c = self.config
        x = self._prepare(inputs)
        kernel = self._weight("kernel").astype(x.dtype, copy=False)
        y = conv_forward(x, kernel, c["strides"], c["dilation_rate"], c["groups"])
        return self._finish(y, self._bias())


@register
class Conv1D(_Conv):
    rank = 1
    aliases = ("Convolution1D",)


@register
class Conv2D(_Conv):
    rank = 2
    aliases = ("Convolution2D",)


@register
class Conv3D(_Conv):
    rank = 3
    aliases = ("Convolution3D",)


class _ConvTranspose(_BaseConv):
    """``ConvNDTranspose``: kernel ``(*kernel_size, filters, in)``; no groups (tf_keras writes
    ``groups: 1``, Keras 3 refuses the key)."""

    defaults = {
        **{k: v for k, v in _CONV_DEFAULTS.items() if k != "groups"},
        "output_padding": None,
    }
    keras2_only = {"groups": 1}
    keras2_order = _TRANSPOSE_K2_ORDER

    def normalize_config(self) -> None:
        super().normalize_config()
        if self.config.get("filters") is None:
            raise ConfigError(f"{self.class_name()} {self.name!r}: 'filters' is required")
        op = self.config.get("output_padding")
        if op is not None:
            for o, s in zip(op, self.config["strides"]):
                if o >= s:
                    raise ConfigError(
                        f"{self.class_name()} {self.name!r}: output_padding {op} must be smaller "
                        f"than strides {self.config['strides']}"
                    )
        # Keras 3 orders output_padding right after padding.
        keys = list(self.config)
        keys.remove("output_padding")
        keys.insert(keys.index("padding") + 1, "output_padding")
        self.config = {k: self.config[k] for k in keys}

    def weight_specs(self, input_shape: Any) -> list[WeightSpec]:
        c = self.config
        cin = self._in_channels(input_shape)
        specs = [
            WeightSpec("kernel", (*c["kernel_size"], c["filters"], cin), c["kernel_initializer"])
        ]
        if c["use_bias"]:
            specs.append(WeightSpec("bias", (c["filters"],), c["bias_initializer"]))
        return specs

    def _lengths(self, spatial: list[Any]) -> list[Any]:
        c = self.config
        op = c.get("output_padding") or [None] * self.rank
        return [
            deconv_output_length(n, k, s, c["padding"], o, d)
            for n, k, s, o, d in zip(
                spatial, c["kernel_size"], c["strides"], op, c["dilation_rate"]
            )
        ]

    def compute_output_shape(self, input_shape: Any) -> Any:
        batch, spatial, _ = self._split(input_shape)
        return self._join(batch, self._lengths(spatial), self.config["filters"])

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        c = self.config
        x = np.asarray(inputs).astype(compute_float(self.compute_dtype), copy=False)
        x = to_channels_last(x, c["data_format"])
        kernel = self._weight("kernel").astype(x.dtype, copy=False)
        lengths = [int(n) for n in self._lengths(list(x.shape[1:-1]))]
        y = conv_transpose_forward(
            x, kernel, c["strides"], c["dilation_rate"], c["padding"], lengths
        )
        return self._finish(y, self._bias())


@register
class Conv1DTranspose(_ConvTranspose):
    rank = 1
    aliases = ("Convolution1DTranspose",)


@register
class Conv2DTranspose(_ConvTranspose):
    rank = 2
    aliases = ("Convolution2DTranspose",)


@register
class Conv3DTranspose(_ConvTranspose):
    """tf_keras neither writes nor uses ``dilation_rate`` here: dropped when rendering keras2
    (refused unless 1), and a config read from tf_keras computes undilated."""

    rank = 3
    aliases = ("Convolution3DTranspose",)
    keras2_order = tuple(k for k in _TRANSPOSE_K2_ORDER if k != "dilation_rate")

    def render_config(self, config: dict[str, Any], dialect: Any) -> dict[str, Any]:
        config = super().render_config(config, dialect)
        if dialect == "keras2":
            if any(d != 1 for d in self.config["dilation_rate"]):
                raise TargetCompatibilityError(
                    f"Conv3DTranspose {self.name!r}: tf_keras ignores dilation_rate "
                    f"{self.config['dilation_rate']} here; the layer cannot be written for Keras 2"
                )
            config.pop("dilation_rate", None)
        return config


class _DepthwiseConv(_BaseConv):
    """``DepthwiseConvND``: ``depthwise_kernel`` ``(*kernel_size, in, depth_multiplier)``; output
    channel ``i * depth_multiplier + j``. tf_keras writes ``groups``, Keras 3 refuses it."""

    defaults = {
        "depth_multiplier": 1,
        "kernel_size": None,
        "strides": 1,
        "padding": "valid",
        "data_format": "channels_last",
        "dilation_rate": 1,
        "activation": "linear",
        "use_bias": True,
        "depthwise_initializer": GLOROT_UNIFORM,
        "bias_initializer": ZEROS,
        "depthwise_regularizer": None,
        "bias_regularizer": None,
        "activity_regularizer": None,
        "depthwise_constraint": None,
        "bias_constraint": None,
    }
    keras2_only = {"groups": 1}
    keras2_order = _DEPTHWISE_K2_ORDER

    @classmethod
    def _positional(cls) -> tuple[str, ...]:
        return ("kernel_size", "strides", "padding")

    def normalize_config(self) -> None:
        super().normalize_config()
        self.config["depth_multiplier"] = int(self.config["depth_multiplier"])

    def weight_specs(self, input_shape: Any) -> list[WeightSpec]:
        c = self.config
        cin = self._in_channels(input_shape)
        mult = c["depth_multiplier"]
        specs = [
            WeightSpec(
                "depthwise_kernel", (*c["kernel_size"], cin, mult), c["depthwise_initializer"]
            )
        ]
        if c["use_bias"]:
            specs.append(WeightSpec("bias", (cin * mult,), c["bias_initializer"]))
        return specs

    def compute_output_shape(self, input_shape: Any) -> Any:
        batch, spatial, channels = self._split(input_shape)
        out_c = None if channels is None else int(channels) * self.config["depth_multiplier"]
        return self._join(batch, self._spatial_out(spatial), out_c)

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        c = self.config
        x = self._prepare(inputs)
        kernel = self._weight("depthwise_kernel").astype(x.dtype, copy=False)
        y = depthwise_forward(x, kernel, c["strides"], c["dilation_rate"])
        return self._finish(y, self._bias())


@register
class DepthwiseConv1D(_DepthwiseConv):
    rank = 1


@register
class DepthwiseConv2D(_DepthwiseConv):
    rank = 2


class _SeparableConv(_BaseConv):
    """``SeparableConvND``: a depthwise convolution (strides, dilation and padding apply here),
    then a 1x1 ``pointwise_kernel``, then the bias. tf_keras also writes ``groups`` and unused
    ``kernel_*`` keys; Keras 3 refuses them."""

    defaults = {
        "depth_multiplier": 1,
        "filters": None,
        "kernel_size": None,
        "strides": 1,
        "padding": "valid",
        "data_format": "channels_last",
        "dilation_rate": 1,
        "activation": "linear",
        "use_bias": True,
        "depthwise_initializer": GLOROT_UNIFORM,
        "pointwise_initializer": GLOROT_UNIFORM,
        "bias_initializer": ZEROS,
        "depthwise_regularizer": None,
        "pointwise_regularizer": None,
        "bias_regularizer": None,
        "activity_regularizer": None,
        "depthwise_constraint": None,
        "pointwise_constraint": None,
        "bias_constraint": None,
    }
    keras2_only = {
        "groups": 1,
        "kernel_initializer": GLOROT_UNIFORM,
        "kernel_regularizer": None,
        "kernel_constraint": None,
    }
    keras2_order = _SEPARABLE_K2_ORDER

    def normalize_config(self) -> None:
        super().normalize_config()
        if self.config.get("filters") is None:
            raise ConfigError(f"{self.class_name()} {self.name!r}: 'filters' is required")
        self.config["depth_multiplier"] = int(self.config["depth_multiplier"])

    def weight_specs(self, input_shape: Any) -> list[WeightSpec]:
        c = self.config
        cin = self._in_channels(input_shape)
        mult = c["depth_multiplier"]
        ones = (1,) * self.rank
        specs = [
            WeightSpec(
                "depthwise_kernel", (*c["kernel_size"], cin, mult), c["depthwise_initializer"]
            ),
            WeightSpec(
                "pointwise_kernel", (*ones, cin * mult, c["filters"]), c["pointwise_initializer"]
            ),
        ]
        if c["use_bias"]:
            specs.append(WeightSpec("bias", (c["filters"],), c["bias_initializer"]))
        return specs

    def compute_output_shape(self, input_shape: Any) -> Any:
        batch, spatial, _ = self._split(input_shape)
        return self._join(batch, self._spatial_out(spatial), self.config["filters"])

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        c = self.config
        x = self._prepare(inputs)
        depthwise = self._weight("depthwise_kernel").astype(x.dtype, copy=False)
        pointwise = self._weight("pointwise_kernel").astype(x.dtype, copy=False)
        y = depthwise_forward(x, depthwise, c["strides"], c["dilation_rate"])
        cm, filters = pointwise.shape[-2], pointwise.shape[-1]
        y = (y.reshape(-1, cm) @ pointwise.reshape(cm, filters)).reshape(*y.shape[:-1], filters)
        return self._finish(y, self._bias())


@register
class SeparableConv1D(_SeparableConv):
    rank = 1
    aliases = ("SeparableConvolution1D",)


@register
class SeparableConv2D(_SeparableConv):
    rank = 2
    aliases = ("SeparableConvolution2D",)


# Keras' alternative names for the same classes (also registered as catalog aliases).
Convolution1D = Conv1D
Convolution2D = Conv2D
Convolution3D = Conv3D
Convolution1DTranspose = Conv1DTranspose
Convolution2DTranspose = Conv2DTranspose
Convolution3DTranspose = Conv3DTranspose
SeparableConvolution1D = SeparableConv1D
SeparableConvolution2D = SeparableConv2D
