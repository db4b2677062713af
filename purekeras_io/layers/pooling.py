"""Pooling layers: Max/AveragePooling1D/2D/3D and the global poolings. No weights.

Config (both generations write the same keys): ``pool_size``, ``padding``, ``strides`` (``None``
means ``pool_size``; both write the resolved value), ``data_format``; the global poolings write
``data_format`` and ``keepdims``. Keras 3 requires ``pool_size`` for the average poolings; tf_keras
defaults it to 2, as we do.

``same`` padding pads like a convolution (``max((out - 1) * s + k - n, 0)``, smaller half first);
average pooling divides by the number of real inputs in the window (TensorFlow's ``avg_pool``
excludes the padding). Max pooling follows TensorFlow's kernels on NaN and infinity (checked in
TF 2.21): a pad counts as the lowest finite value (``-3.4e38`` in float32); 1D/2D ``MaxPool``
skips NaN, so a window of only NaN or -inf gives that lowest value; ``MaxPool3D`` keeps a NaN
unless a later value in the window replaces it. ``GlobalAveragePooling1D`` is the only one that
takes a mask (a masked mean; steps where the mask is false are left out); no pooling passes a
mask on.
"""

from __future__ import annotations

from typing import Any, ClassVar

import ml_dtypes
import numpy as np

from ..errors import ConfigError
from ..model.layer import Layer, register
from .conv import (
    check_data_format,
    compute_float,
    from_channels_last,
    int_tuple,
    out_dtype,
    output_length,
    pad_spatial,
    padding_amounts,
    to_channels_last,
    window_view,
)

__all__ = [
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "AvgPool1D",
    "AvgPool2D",
    "AvgPool3D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
    "GlobalAvgPool1D",
    "GlobalAvgPool2D",
    "GlobalAvgPool3D",
    "GlobalMaxPool1D",
    "GlobalMaxPool2D",
    "GlobalMaxPool3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
    "MaxPool1D",
    "MaxPool2D",
    "MaxPool3D",
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
]


class _Pooling(Layer):
    positional = ("pool_size", "strides", "padding")
    rank: ClassVar[int] = 2
    reduce: ClassVar[str] = "max"
    defaults = {"pool_size": 2, "padding": "valid", "strides": None, "data_format": "channels_last"}

    def __init__(
        self, pool_size: Any = None, strides: Any = None, padding: Any = None, **kwargs: Any
    ) -> None:
        for key, value in (("pool_size", pool_size), ("strides", strides), ("padding", padding)):
            if value is not None:
                kwargs[key] = value
        super().__init__(**kwargs)

    def normalize_config(self) -> None:
        c = self.config
        name = self.class_name()
        c["pool_size"] = int_tuple(c["pool_size"], self.rank, "pool_size", name)
        if c.get("strides") is None:
            c["strides"] = list(c["pool_size"])
        c["strides"] = int_tuple(c["strides"], self.rank, "strides", name)
        c["padding"] = str(c.get("padding", "valid")).lower()
        if c["padding"] not in ("valid", "same"):
            raise ConfigError(
                f"{name} {c['name']!r}: padding must be 'valid' or 'same', "
                f"received {c['padding']!r}"
            )
        check_data_format(self)

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = tuple(input_shape)
        if len(shape) != self.rank + 2:
            raise ConfigError(
                f"{self.class_name()} {self.name!r}: expects inputs of rank {self.rank + 2}, "
                f"received shape {shape}"
            )
        c = self.config
        first = c["data_format"] == "channels_first"
        spatial = shape[2:] if first else shape[1:-1]
        out = [
            output_length(n, k, s, c["padding"])
            for n, k, s in zip(spatial, c["pool_size"], c["strides"])
        ]
        return (shape[0], shape[1], *out) if first else (shape[0], *out, shape[-1])

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        c = self.config
        x = to_channels_last(np.asarray(inputs), c["data_format"])
        work = x.astype(compute_float(self.compute_dtype), copy=False)
        pads = [
            padding_amounts(n, k, s, c["padding"])
            for n, k, s in zip(work.shape[1:-1], c["pool_size"], c["strides"])
        ]
        ones = [1] * self.rank
        axes = tuple(range(1 + self.rank, 1 + 2 * self.rank))
        if self.reduce == "max":
            # TensorFlow's max pooling (checked against TF 2.21): padding counts as the lowest
            # finite value. MaxPool (1D, 2D) starts each window at that value and skips NaN, so
            # an all-NaN or all -inf window gives it. MaxPool3D folds the window in row-major
            # order from -inf with ``acc = acc if acc > v else v``: a NaN is kept until a later
            # number replaces it.
            lowest = np.asarray(
                ml_dtypes.finfo(_float(out_dtype(self.compute_dtype), work.dtype)).min, work.dtype
            )
            if self.rank == 3:
                view = window_view(
                    pad_spatial(work, pads, value=float(lowest)), c["pool_size"], c["strides"], ones
                )
                y = np.full(view.shape[:4] + view.shape[-1:], -np.inf, work.dtype)
                for at in np.ndindex(*c["pool_size"]):
                    v = view[(slice(None),) * 4 + at]
                    y = np.where(y > v, y, v)
            else:
                clean = np.where(np.isnan(work), lowest, work)
                padded = pad_spatial(clean, pads, value=float(lowest))
                y = window_view(padded, c["pool_size"], c["strides"], ones).max(axis=axes)
                y = np.maximum(y, lowest)
        else:
            padded = pad_spatial(work, pads)
            y = window_view(padded, c["pool_size"], c["strides"], ones).sum(axis=axes)
            if any(a or b for a, b in pads):
                count = pad_spatial(np.ones((1, *work.shape[1:-1], 1), dtype=work.dtype), pads)
                y = y / window_view(count, c["pool_size"], c["strides"], ones).sum(axis=axes)
            else:
                y = y / np.prod(c["pool_size"])
        y = from_channels_last(np.asarray(y), c["data_format"])
        return y.astype(out_dtype(self.compute_dtype), copy=False)


def _float(dtype: Any, fallback: Any) -> Any:
    dt = np.dtype(dtype)
    return dt if dt.kind == "f" else np.dtype(fallback)


class _Pooling1D(_Pooling):
    """tf_keras writes the 1-D pooling keys in another order (``strides`` first)."""

    rank = 1

    def render_config(self, config: dict[str, Any], dialect: Any) -> dict[str, Any]:
        if dialect != "keras2":
            return config
        head = [k for k in ("name", "trainable", "dtype") if k in config]
        keys = [*head, "strides", "pool_size", "padding", "data_format"]
        keys += [k for k in config if k not in keys]
        return {k: config[k] for k in keys if k in config}


@register
class MaxPooling1D(_Pooling1D):
    aliases = ("MaxPool1D",)


@register
class MaxPooling2D(_Pooling):
    rank = 2
    aliases = ("MaxPool2D",)


@register
class MaxPooling3D(_Pooling):
    rank = 3
    aliases = ("MaxPool3D",)


@register
class AveragePooling1D(_Pooling1D):
    reduce = "mean"
    aliases = ("AvgPool1D",)


@register
class AveragePooling2D(_Pooling):
    rank = 2
    reduce = "mean"
    aliases = ("AvgPool2D",)


@register
class AveragePooling3D(_Pooling):
    rank = 3
    reduce = "mean"
    aliases = ("AvgPool3D",)


class _GlobalPooling(Layer):
    rank: ClassVar[int] = 2
    reduce: ClassVar[str] = "max"
    defaults = {"data_format": "channels_last", "keepdims": False}

    def normalize_config(self) -> None:
        check_data_format(self)
        self.config["keepdims"] = bool(self.config.get("keepdims", False))

    def _axes(self) -> tuple[int, ...]:
        start = 2 if self.config["data_format"] == "channels_first" else 1
        return tuple(range(start, start + self.rank))

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = tuple(input_shape)
        if len(shape) != self.rank + 2:
            raise ConfigError(
                f"{self.class_name()} {self.name!r}: expects inputs of rank {self.rank + 2}, "
                f"received shape {shape}"
            )
        axes = self._axes()
        if self.config["keepdims"]:
            return tuple(1 if i in axes else d for i, d in enumerate(shape))
        return tuple(d for i, d in enumerate(shape) if i not in axes)

    def call(self, inputs: Any, mask: Any = None, **kwargs: Any) -> Any:
        x = np.asarray(inputs)
        work = x.astype(compute_float(self.compute_dtype), copy=False)
        keep = self.config["keepdims"]
        if self.reduce == "max":
            y = work.max(axis=self._axes(), keepdims=keep)
        else:
            y = work.mean(axis=self._axes(), keepdims=keep)
        return np.asarray(y).astype(out_dtype(self.compute_dtype), copy=False)


@register
class GlobalMaxPooling1D(_GlobalPooling):
    rank = 1
    aliases = ("GlobalMaxPool1D",)


@register
class GlobalMaxPooling2D(_GlobalPooling):
    rank = 2
    aliases = ("GlobalMaxPool2D",)


@register
class GlobalMaxPooling3D(_GlobalPooling):
    rank = 3
    aliases = ("GlobalMaxPool3D",)


@register
class GlobalAveragePooling1D(_GlobalPooling):
    """Supports masking: with a ``(batch, steps)`` mask the mean runs over unmasked steps only
    (``sum(x * mask) / sum(mask)``, NaN where every step is masked, as Keras)."""

    rank = 1
    reduce = "mean"
    aliases = ("GlobalAvgPool1D",)
    supports_masking = True

    def call(self, inputs: Any, mask: Any = None, **kwargs: Any) -> Any:
        if mask is None:
            return super().call(inputs, **kwargs)
        x = np.asarray(inputs).astype(compute_float(self.compute_dtype), copy=False)
        first = self.config["data_format"] == "channels_first"
        m = np.asarray(mask).astype(x.dtype)
        m = m[:, None, :] if first else m[:, :, None]
        axis = 2 if first else 1
        keep = self.config["keepdims"]
        with np.errstate(invalid="ignore", divide="ignore"):
            y = (x * m).sum(axis=axis, keepdims=keep) / m.sum(axis=axis, keepdims=keep)
        return y.astype(out_dtype(self.compute_dtype), copy=False)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return None


@register
class GlobalAveragePooling2D(_GlobalPooling):
    rank = 2
    reduce = "mean"
    aliases = ("GlobalAvgPool2D",)


@register
class GlobalAveragePooling3D(_GlobalPooling):
    rank = 3
    reduce = "mean"
    aliases = ("GlobalAvgPool3D",)


# Keras' alternative names for the same classes (also registered as catalog aliases).
MaxPool1D = MaxPooling1D
MaxPool2D = MaxPooling2D
MaxPool3D = MaxPooling3D
AvgPool1D = AveragePooling1D
AvgPool2D = AveragePooling2D
AvgPool3D = AveragePooling3D
GlobalMaxPool1D = GlobalMaxPooling1D
GlobalMaxPool2D = GlobalMaxPooling2D
GlobalMaxPool3D = GlobalMaxPooling3D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalAvgPool3D = GlobalAveragePooling3D
