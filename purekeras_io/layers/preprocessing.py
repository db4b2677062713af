"""Preprocessing layers: Rescaling, Normalization, Resizing, CenterCrop.

Format facts (tf_keras 2.21 and Keras 3.15, measured):

* Rescaling: ``y = x * scale + offset`` in the compute dtype; ``scale``/``offset`` are floats or
  lists (per channel). Keras 3 writes a NumPy array as ``{"class_name": "__numpy__", "config":
  {"value": […], "dtype": …}}``; the description keeps the plain list.
* Normalization: ``axis`` is written as a list (``[-1]``; ``axis=None`` → ``[]``). Without
  ``mean``/``variance`` in the config the layer owns three non-trainable weights, in this order:
  ``mean`` and ``variance`` (float32, shape = the kept axes' sizes, kept axes sorted), ``count``
  (int64 scalar). With ``mean``/``variance`` in the config it owns no weights; the values are
  broadcast, right-aligned, against the kept axes. Output ``(x - mean) / max(sqrt(var), 1e-7)``,
  or with ``invert`` ``mean + x * max(sqrt(var), 1e-7)``.
* Resizing: TensorFlow's ``tf.image.resize`` (half-pixel centers, no antialias) for
  ``bilinear`` and ``nearest``; ``crop_to_aspect_ratio`` first crops the central box of the target
  aspect ratio. Keras 3 adds ``data_format``, ``pad_to_aspect_ratio``, ``fill_mode``,
  ``fill_value``, ``antialias``.
* CenterCrop: the central ``height`` by ``width`` window (offset ``(in - out) // 2``); Keras 3 adds
  ``data_format``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError, TargetCompatibilityError, UnsupportedFeatureError
from ..model.layer import Layer, WeightSpec, register

__all__ = ["CenterCrop", "Normalization", "Rescaling", "Resizing"]

_EPSILON = 1e-7  # keras.backend.epsilon()


def _plain(value: Any) -> Any:
    """Keras 3's ``{"class_name": "__numpy__", …}`` → a plain number or list."""
    if isinstance(value, dict) and value.get("class_name") == "__numpy__":
        return value.get("config", {}).get("value")
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _compute(layer: Layer, x: Any) -> np.ndarray:
    from ..dtypes import to_numpy

    return np.asarray(x).astype(to_numpy(layer.compute_dtype), copy=False)


@register
class Rescaling(Layer):
    defaults = {"scale": None, "offset": 0.0}
    supports_masking = True

    def __init__(self, scale: Any = None, offset: Any = None, **kwargs: Any) -> None:
        if scale is not None:
            kwargs["scale"] = scale
        if offset is not None:
            kwargs["offset"] = offset
        super().__init__(**kwargs)

    def normalize_config(self) -> None:
        self.config["scale"] = _plain(self.config["scale"])
        self.config["offset"] = _plain(self.config["offset"])
        if self.config["scale"] is None:
            raise ConfigError(f"Rescaling {self.name!r}: scale is required")

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        x = _compute(self, inputs)
        scale = np.asarray(self.config["scale"], dtype=x.dtype)
        offset = np.asarray(self.config["offset"], dtype=x.dtype)
        return (x * scale + offset).astype(x.dtype, copy=False)


@register
class Normalization(Layer):
    defaults = {"axis": [-1], "invert": False, "mean": None, "variance": None}
    supports_masking = True

    def __init__(
        self, axis: Any = -1, mean: Any = None, variance: Any = None, **kwargs: Any
    ) -> None:
        kwargs.setdefault("axis", axis)  # None is meaningful here: normalize every element alone
        if mean is not None:
            kwargs["mean"] = mean
        if variance is not None:
            kwargs["variance"] = variance
        super().__init__(**kwargs)

    def normalize_config(self) -> None:
        c = self.config
        axis = c["axis"]
        if axis is None:
            c["axis"] = []
        elif isinstance(axis, (int, np.integer)):
            c["axis"] = [int(axis)]
        else:
            c["axis"] = [int(a) for a in axis]
        c["mean"], c["variance"] = _plain(c["mean"]), _plain(c["variance"])
        if (c["mean"] is None) != (c["variance"] is None):
            raise ConfigError(
                f"Normalization {self.name!r}: give both mean and variance, or neither "
                f"(received mean={c['mean']!r}, variance={c['variance']!r})"
            )

    def _keep(self, ndim: int) -> list[int]:
        keep = []
        for a in self.config["axis"]:
            if not -ndim <= a < ndim:
                raise ConfigError(
                    f"Normalization {self.name!r}: axis {a} out of range for input rank {ndim}"
                )
            keep.append(a + ndim if a < 0 else a)
        return sorted(keep)

    def _stat_shape(self, input_shape: Any) -> tuple[int, ...]:
        keep = self._keep(len(input_shape))
        for d in keep:
            if input_shape[d] is None:
                raise ConfigError(
                    f"Normalization {self.name!r}: kept axis {d} of input shape "
                    f"{tuple(input_shape)} must be known"
                )
        return tuple(int(input_shape[d]) for d in keep)

    def weight_specs(self, input_shape: Any) -> list[WeightSpec]:
        if self.config["mean"] is not None:
            return []
        shape = self._stat_shape(input_shape)
        return [
            WeightSpec("mean", shape, "zeros", trainable=False),
            WeightSpec("variance", shape, "ones", trainable=False),
            WeightSpec("count", (), "zeros", trainable=False, dtype="int64"),
        ]

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        x = _compute(self, inputs)
        keep = self._keep(x.ndim)
        bshape = [x.shape[d] if d in keep else 1 for d in range(x.ndim)]
        if self.config["mean"] is not None:
            stat_shape = tuple(x.shape[d] for d in keep)
            mean = np.asarray(self.config["mean"], np.float64) * np.ones(stat_shape)
            var = np.asarray(self.config["variance"], np.float64) * np.ones(stat_shape)
        else:
            values = {v.name: v.value for v in self._variables}
            mean, var = values["mean"], values["variance"]
        mean = mean.astype(x.dtype).reshape(bshape)
        var = var.astype(x.dtype).reshape(bshape)
        denom = np.maximum(np.sqrt(var), np.asarray(_EPSILON, x.dtype))
        if self.config["invert"]:
            return (mean + x * denom).astype(x.dtype, copy=False)
        return ((x - mean) / denom).astype(x.dtype, copy=False)


# ============================================================================ image layers


def _hw_axes(layer: Layer, ndim: int) -> tuple[int, int]:
    if ndim not in (3, 4):
        raise ConfigError(
            f"{layer.class_name()} {layer.name!r}: expected images of rank 3 or 4, "
            f"received rank {ndim}"
        )
    if layer.config.get("data_format", "channels_last") == "channels_first":
        return ndim - 2, ndim - 1
    return ndim - 3, ndim - 2


def _axis_weights(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TensorFlow's bilinear interpolation (half-pixel centers): lower, upper index, lerp."""
    scale = np.float32(in_size) / np.float32(out_size)
    pos = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    floor = np.floor(pos)
    lower = np.maximum(floor, 0).astype(np.int64)
    upper = np.minimum(np.ceil(pos), in_size - 1).astype(np.int64)
    return lower, upper, (pos - floor).astype(np.float32)


def _nearest_index(in_size: int, out_size: int) -> np.ndarray:
    scale = np.float32(in_size) / np.float32(out_size)
    pos = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale
    return np.clip(np.floor(pos), 0, in_size - 1).astype(np.int64)


def resize(
    images: np.ndarray, size: tuple[int, int], interpolation: str, axes: tuple[int, int]
) -> np.ndarray:
    """``tf.image.resize`` (antialias off) for ``bilinear`` and ``nearest``."""
    ha, wa = axes
    if interpolation == "nearest":
        out = np.take(images, _nearest_index(images.shape[ha], size[0]), axis=ha)
        return np.take(out, _nearest_index(images.shape[wa], size[1]), axis=wa)
    if interpolation != "bilinear":
        raise UnsupportedFeatureError(
            f"Resizing: interpolation {interpolation!r} is not supported (bilinear, nearest are)"
        )
    x = images.astype(np.float32, copy=False)
    ylo, yhi, ylerp = _axis_weights(x.shape[ha], size[0])
    xlo, xhi, xlerp = _axis_weights(x.shape[wa], size[1])

    def along(lerp: np.ndarray, axis: int) -> np.ndarray:
        shape = [1] * x.ndim
        shape[axis] = lerp.size
        return lerp.reshape(shape)

    top, bottom = np.take(x, ylo, axis=ha), np.take(x, yhi, axis=ha)
    tl, tr = np.take(top, xlo, axis=wa), np.take(top, xhi, axis=wa)
    bl, br = np.take(bottom, xlo, axis=wa), np.take(bottom, xhi, axis=wa)
    xl = along(xlerp, wa)
    t = tl + (tr - tl) * xl
    b = bl + (br - bl) * xl
    return (t + (b - t) * along(ylerp, ha)).astype(np.float32)


def _slice(x: np.ndarray, axis: int, start: int, length: int) -> np.ndarray:
    index = [slice(None)] * x.ndim
    index[axis] = slice(start, start + length)
    return x[tuple(index)]


@register
class Resizing(Layer):
    defaults = {
        "data_format": "channels_last",
        "height": None,
        "width": None,
        "interpolation": "bilinear",
        "crop_to_aspect_ratio": False,
        "pad_to_aspect_ratio": False,
        "fill_mode": "constant",
        "fill_value": 0.0,
        "antialias": False,
    }
    keras3_only = ("data_format", "pad_to_aspect_ratio", "fill_mode", "fill_value", "antialias")

    def __init__(self, height: int | None = None, width: int | None = None, **kwargs: Any) -> None:
        if height is not None:
            kwargs["height"] = height
        if width is not None:
            kwargs["width"] = width
        super().__init__(**kwargs)
        if self.config["data_format"] is None:
            self.config["data_format"] = "channels_last"

    def render_config(self, config: dict[str, Any], dialect: Any) -> dict[str, Any]:
        c = self.config
        if dialect == "keras2" and (
            c["data_format"] != "channels_last" or c["pad_to_aspect_ratio"] or c["antialias"]
        ):
            raise TargetCompatibilityError(
                f"Resizing {self.name!r}: data_format={c['data_format']!r}, pad_to_aspect_ratio, "
                "antialias exist only in Keras 3"
            )
        return config

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = list(input_shape)
        ha, wa = _hw_axes(self, len(shape))
        shape[ha], shape[wa] = int(self.config["height"]), int(self.config["width"])
        return tuple(shape)

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        x = np.asarray(inputs)
        c = self.config
        if c["pad_to_aspect_ratio"] or c["antialias"]:
            raise UnsupportedFeatureError(
                f"Resizing {self.name!r}: pad_to_aspect_ratio and antialias are not supported"
            )
        ha, wa = _hw_axes(self, x.ndim)
        th, tw = int(c["height"]), int(c["width"])
        if c["crop_to_aspect_ratio"]:
            h, w = x.shape[ha], x.shape[wa]
            ch = max(min(h, int(np.float32(w * th) / np.float32(tw))), 1)
            cw = max(min(w, int(np.float32(h * tw) / np.float32(th))), 1)
            x = _slice(x, ha, int(np.float32(h - ch) / 2), ch)
            x = _slice(x, wa, int(np.float32(w - cw) / 2), cw)
        out = resize(x, (th, tw), str(c["interpolation"]), (ha, wa))
        from ..dtypes import to_numpy

        return out.astype(to_numpy(self.compute_dtype), copy=False)


@register
class CenterCrop(Layer):
    defaults = {"data_format": "channels_last", "height": None, "width": None}
    keras3_only = ("data_format",)

    def __init__(self, height: int | None = None, width: int | None = None, **kwargs: Any) -> None:
        if height is not None:
            kwargs["height"] = height
        if width is not None:
            kwargs["width"] = width
        super().__init__(**kwargs)
        if self.config["data_format"] is None:
            self.config["data_format"] = "channels_last"

    def render_config(self, config: dict[str, Any], dialect: Any) -> dict[str, Any]:
        if dialect == "keras2" and self.config["data_format"] != "channels_last":
            raise TargetCompatibilityError(
                f"CenterCrop {self.name!r}: data_format={self.config['data_format']!r} exists "
                "only in Keras 3"
            )
        return config

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = list(input_shape)
        ha, wa = _hw_axes(self, len(shape))
        shape[ha], shape[wa] = int(self.config["height"]), int(self.config["width"])
        return tuple(shape)

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        x = _compute(self, inputs)
        ha, wa = _hw_axes(self, x.ndim)
        th, tw = int(self.config["height"]), int(self.config["width"])
        h, w = x.shape[ha], x.shape[wa]
        if h < th or w < tw:
            raise UnsupportedFeatureError(
                f"CenterCrop {self.name!r}: input {h}x{w} is smaller than the crop {th}x{tw} "
                "(Keras then resizes; not supported)"
            )
        return _slice(_slice(x, ha, (h - th) // 2, th), wa, (w - tw) // 2, tw)
