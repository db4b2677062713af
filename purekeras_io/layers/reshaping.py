"""Reshaping layers: Flatten, Reshape, Permute, RepeatVector, ZeroPadding, Cropping, UpSampling.

No weights, no masks passed on (neither generation sets ``supports_masking`` on any of them).
Configs are the same in both generations except ``ZeroPadding1D``: Keras 3 writes
``data_format`` (default ``channels_last``) and tf_keras refuses the key.

Normalized config forms (both generations write these): ``ZeroPadding2D.padding`` and
``Cropping2D.cropping`` are ``[[top, bottom], [left, right]]`` (3-D: three pairs, 1-D: one pair
``[left, right]``); ``UpSampling1D.size`` is an int, ``UpSampling2D/3D.size`` a list.

``UpSampling2D`` interpolations follow TensorFlow's ``tf.image.resize`` (both generations call
it with ``antialias=False``): ``nearest`` repeats rows and columns; ``bilinear`` and ``bicubic``
use half-pixel centres (source ``(i + 0.5) / size - 0.5``); bicubic is Keys' kernel with
``a = -0.5``, its weights read from TensorFlow's 1024-entry table, taps outside the image dropped
and the rest renormalized (``resize_bicubic_op.cc``); ``area`` at integer upscaling is nearest.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..errors import ConfigError, TargetCompatibilityError, UnsupportedFeatureError
from ..model.layer import Layer, register
from .conv import check_data_format, from_channels_last, int_tuple, to_channels_last

__all__ = [
    "Cropping1D",
    "Cropping2D",
    "Cropping3D",
    "Flatten",
    "Permute",
    "RepeatVector",
    "Reshape",
    "UpSampling1D",
    "UpSampling2D",
    "UpSampling3D",
    "ZeroPadding1D",
    "ZeroPadding2D",
    "ZeroPadding3D",
]


def _rank_check(layer: Layer, shape: tuple[Any, ...], rank: int) -> None:
    if len(shape) != rank:
        raise ConfigError(
            f"{layer.class_name()} {layer.name!r}: expects inputs of rank {rank}, "
            f"received shape {shape}"
        )


@register
class Flatten(Layer):
    """``channels_first`` inputs are moved to channels-last before flattening (as Keras)."""

    defaults = {"data_format": "channels_last"}

    def normalize_config(self) -> None:
        check_data_format(self)

    def compute_output_shape(self, input_shape: Any) -> Any:
        batch, *rest = tuple(input_shape)
        size = None if any(d is None for d in rest) else int(np.prod(rest, dtype=np.int64))
        return (batch, size)

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        x = to_channels_last(np.asarray(inputs), self.config["data_format"])
        return x.reshape(x.shape[0], -1)


@register
class Reshape(Layer):
    """``target_shape`` excludes the batch axis and may hold one ``-1``."""

    defaults = {"target_shape": None}

    def __init__(self, target_shape: Any = None, **kwargs: Any) -> None:
        if target_shape is not None:
            kwargs["target_shape"] = target_shape
        super().__init__(**kwargs)

    def normalize_config(self) -> None:
        target = self.config.get("target_shape")
        if target is None or isinstance(target, (str, bytes)):
            raise ConfigError(
                f"Reshape {self.name!r}: 'target_shape' is required, received {target!r}"
            )
        target = [int(d) for d in target]
        if sum(1 for d in target if d == -1) > 1 or any(d < -1 or d == 0 for d in target):
            raise ConfigError(
                f"Reshape {self.name!r}: target_shape may hold one -1 and positive sizes, "
                f"received {target}"
            )
        self.config["target_shape"] = target

    def _resolve(self, rest: tuple[Any, ...]) -> tuple[Any, ...]:
        target = list(self.config["target_shape"])
        if -1 not in target:
            return tuple(target)
        if any(d is None for d in rest):
            return tuple(None if d == -1 else d for d in target)
        total = int(np.prod(rest, dtype=np.int64))
        known = int(np.prod([d for d in target if d != -1], dtype=np.int64))
        if known == 0 or total % known:
            raise ConfigError(
                f"Reshape {self.name!r}: cannot reshape {rest} into {self.config['target_shape']}"
            )
        return tuple(total // known if d == -1 else d for d in target)

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = tuple(input_shape)
        return (shape[0], *self._resolve(shape[1:]))

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        x = np.asarray(inputs)
        return x.reshape(x.shape[0], *self._resolve(x.shape[1:]))


@register
class Permute(Layer):
    """``dims`` are 1-based positions of the non-batch axes."""

    defaults = {"dims": None}

    def __init__(self, dims: Any = None, **kwargs: Any) -> None:
        if dims is not None:
            kwargs["dims"] = dims
        super().__init__(**kwargs)

    def normalize_config(self) -> None:
        dims = self.config.get("dims")
        if dims is None or sorted(int(d) for d in dims) != list(range(1, len(dims) + 1)):
            raise ConfigError(
                f"Permute {self.name!r}: dims must be a permutation of 1..n, received {dims!r}"
            )
        self.config["dims"] = [int(d) for d in dims]

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = tuple(input_shape)
        _rank_check(self, shape, len(self.config["dims"]) + 1)
        return (shape[0], *(shape[d] for d in self.config["dims"]))

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        return np.transpose(np.asarray(inputs), (0, *self.config["dims"]))


@register
class RepeatVector(Layer):
    """``(batch, features)`` → ``(batch, n, features)``."""

    defaults = {"n": None}

    def __init__(self, n: int | None = None, **kwargs: Any) -> None:
        if n is not None:
            kwargs["n"] = n
        super().__init__(**kwargs)

    def normalize_config(self) -> None:
        if self.config.get("n") is None:
            raise ConfigError(f"RepeatVector {self.name!r}: 'n' is required")
        self.config["n"] = int(self.config["n"])

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = tuple(input_shape)
        _rank_check(self, shape, 2)
        return (shape[0], self.config["n"], shape[1])

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        x = np.asarray(inputs)
        return np.repeat(x[:, None, :], self.config["n"], axis=1)


def _pairs(value: Any, rank: int, key: str, layer: str) -> list[list[int]]:
    """An int, ``rank`` ints or ``rank`` pairs → ``rank`` ``[before, after]`` pairs."""
    if isinstance(value, (int, np.integer)):
        return [[int(value), int(value)] for _ in range(rank)]
    if isinstance(value, (list, tuple)) and len(value) == rank:
        out = []
        for item in value:
            if isinstance(item, (int, np.integer)):
                out.append([int(item), int(item)])
            elif isinstance(item, (list, tuple)) and len(item) == 2:
                out.append([int(item[0]), int(item[1])])
            else:
                break
        else:
            return out
    raise ConfigError(
        f"{layer}: {key!r} must be an int, {rank} ints or {rank} pairs of ints, received {value!r}"
    )


class _SpatialLayer(Layer):
    """A layer acting on the ``rank`` spatial axes of ``(batch, *spatial, channels)``."""

    rank: ClassVar[int] = 2

    def _spatial_axes(self) -> list[int]:
        first = self.config.get("data_format") == "channels_first"
        return [2 + i if first else 1 + i for i in range(self.rank)]

    def _check(self, input_shape: Any) -> tuple[Any, ...]:
        shape = tuple(input_shape)
        _rank_check(self, shape, self.rank + 2)
        return shape


class _ZeroPadding(_SpatialLayer):
    defaults = {"padding": 1, "data_format": "channels_last"}

    def __init__(self, padding: Any = None, **kwargs: Any) -> None:
        if padding is not None:
            kwargs["padding"] = padding
        super().__init__(**kwargs)

    def normalize_config(self) -> None:
        c = self.config
        if self.rank == 1:
            c["padding"] = _pairs([c["padding"]], 1, "padding", "ZeroPadding1D")[0]
        else:
            c["padding"] = _pairs(c["padding"], self.rank, "padding", self.class_name())
        check_data_format(self)

    def _pad_list(self) -> list[list[int]]:
        pad = self.config["padding"]
        return [pad] if self.rank == 1 else pad

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = list(self._check(input_shape))
        for axis, (a, b) in zip(self._spatial_axes(), self._pad_list()):
            shape[axis] = None if shape[axis] is None else shape[axis] + a + b
        return tuple(shape)

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        x = np.asarray(inputs)
        widths = [(0, 0)] * x.ndim
        for axis, (a, b) in zip(self._spatial_axes(), self._pad_list()):
            widths[axis] = (a, b)
        return np.pad(x, widths)


@register
class ZeroPadding1D(_ZeroPadding):
    """``padding`` is ``[left, right]``; Keras 3 also writes ``data_format`` (tf_keras refuses
    it)."""

    rank = 1
    keras3_only = ("data_format",)

    def render_config(self, config: dict[str, Any], dialect: Any) -> dict[str, Any]:
        if dialect == "keras2" and self.config.get("data_format") == "channels_first":
            raise TargetCompatibilityError(
                f"ZeroPadding1D {self.name!r}: tf_keras has no data_format for ZeroPadding1D and "
                "always pads axis 1; a channels_first layer cannot be written for Keras 2"
            )
        return config


@register
class ZeroPadding2D(_ZeroPadding):
    rank = 2


@register
class ZeroPadding3D(_ZeroPadding):
    rank = 3


class _Cropping(_SpatialLayer):
    defaults = {"cropping": 1, "data_format": "channels_last"}

    def __init__(self, cropping: Any = None, **kwargs: Any) -> None:
        if cropping is not None:
            kwargs["cropping"] = cropping
        super().__init__(**kwargs)

    def normalize_config(self) -> None:
        c = self.config
        if self.rank == 1:
            c["cropping"] = _pairs([c["cropping"]], 1, "cropping", "Cropping1D")[0]
        else:
            c["cropping"] = _pairs(c["cropping"], self.rank, "cropping", self.class_name())
            check_data_format(self)

    def _crop_list(self) -> list[list[int]]:
        crop = self.config["cropping"]
        return [crop] if self.rank == 1 else crop

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = list(self._check(input_shape))
        for axis, (a, b) in zip(self._spatial_axes(), self._crop_list()):
            if shape[axis] is not None:
                if a + b >= shape[axis]:
                    raise ConfigError(
                        f"{self.class_name()} {self.name!r}: cropping {self.config['cropping']} "
                        f"leaves nothing of input shape {tuple(input_shape)}"
                    )
                shape[axis] = shape[axis] - a - b
        return tuple(shape)

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        x = np.asarray(inputs)
        index = [slice(None)] * x.ndim
        for axis, (a, b) in zip(self._spatial_axes(), self._crop_list()):
            index[axis] = slice(a, x.shape[axis] - b)
        return x[tuple(index)]


@register
class Cropping1D(_Cropping):
    """``cropping`` is ``[left, right]``; no ``data_format`` in either generation."""

    rank = 1
    defaults = {"cropping": [1, 1]}


@register
class Cropping2D(_Cropping):
    rank = 2
    defaults = {"cropping": [[0, 0], [0, 0]], "data_format": "channels_last"}


@register
class Cropping3D(_Cropping):
    rank = 3
    defaults = {"cropping": [[1, 1], [1, 1], [1, 1]], "data_format": "channels_last"}


# ============================================================================ upsampling

_BICUBIC_TABLE_SIZE = 1024  # TensorFlow's kTableSize


def _keys_cubic(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    x = np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.where(x <= 1, near, far)


def resize_matrix(n_in: int, n_out: int, method: str) -> np.ndarray:
    """The ``(n_out, n_in)`` matrix of one axis of ``tf.image.resize`` (half-pixel centres)."""
    scale = np.float32(n_in) / np.float32(n_out)
    src = (np.arange(n_out, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    m = np.zeros((n_out, n_in), dtype=np.float64)
    rows = np.arange(n_out)
    if method == "bilinear":
        floor = np.floor(src)
        lower = np.maximum(floor, 0).astype(np.int64)
        upper = np.minimum(np.ceil(src), n_in - 1).astype(np.int64)
        lerp = (src - floor).astype(np.float64)
        np.add.at(m, (rows, lower), 1 - lerp)
        np.add.at(m, (rows, upper), lerp)
        return m
    if method == "bicubic":
        base = np.floor(src).astype(np.int64)
        offset = np.rint((src - base) * _BICUBIC_TABLE_SIZE).astype(np.int64)
        table = np.arange(_BICUBIC_TABLE_SIZE + 1, dtype=np.float64) / _BICUBIC_TABLE_SIZE
        weights = np.stack(
            [
                _keys_cubic(table[offset] + 1),
                _keys_cubic(table[offset]),
                _keys_cubic(table[_BICUBIC_TABLE_SIZE - offset]),
                _keys_cubic(table[_BICUBIC_TABLE_SIZE - offset] + 1),
            ],
            axis=1,
        ).astype(np.float32)
        taps = base[:, None] + np.arange(-1, 3)[None, :]
        inside = (taps >= 0) & (taps < n_in)
        weights = np.where(inside, weights, 0).astype(np.float64)
        weights /= weights.sum(axis=1, keepdims=True)
        np.add.at(m, (np.repeat(rows, 4), np.clip(taps, 0, n_in - 1).ravel()), weights.ravel())
        return m
    raise UnsupportedFeatureError(f"UpSampling2D interpolation {method!r} is not supported")


class _UpSampling(_SpatialLayer):
    defaults = {"size": 2, "data_format": "channels_last"}

    def __init__(self, size: Any = None, **kwargs: Any) -> None:
        if size is not None:
            kwargs["size"] = size
        super().__init__(**kwargs)

    def normalize_config(self) -> None:
        self.config["size"] = int_tuple(self.config["size"], self.rank, "size", self.class_name())
        check_data_format(self)

    def _sizes(self) -> list[int]:
        return list(self.config["size"])

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = list(self._check(input_shape))
        for axis, s in zip(self._spatial_axes(), self._sizes()):
            shape[axis] = None if shape[axis] is None else shape[axis] * s
        return tuple(shape)

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        x = np.asarray(inputs)
        for axis, s in zip(self._spatial_axes(), self._sizes()):
            x = np.repeat(x, s, axis=axis)
        return x


@register
class UpSampling1D(_UpSampling):
    """``size`` is an int; no ``data_format`` in either generation."""

    rank = 1
    defaults = {"size": 2}

    def normalize_config(self) -> None:
        size = self.config["size"]
        self.config["size"] = int(size[0] if isinstance(size, (list, tuple)) else size)

    def _sizes(self) -> list[int]:
        return [int(self.config["size"])]


@register
class UpSampling2D(_UpSampling):
    """``interpolation``: ``nearest``, ``bilinear``, ``bicubic`` and ``area`` compute here;
    the others (``lanczos3/5``, ``gaussian``, ``mitchellcubic``) keep their config only."""

    rank = 2
    defaults = {"size": 2, "data_format": "channels_last", "interpolation": "nearest"}
    _METHODS: ClassVar[tuple[str, ...]] = ("nearest", "bilinear", "bicubic", "area")

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        method = self.config["interpolation"]
        if method in ("nearest", "area"):
            return super().call(inputs)
        if method not in self._METHODS:
            raise UnsupportedFeatureError(
                f"UpSampling2D {self.name!r}: interpolation {method!r} has no NumPy forward pass; "
                f"supported: {list(self._METHODS)}"
            )
        x = np.asarray(inputs)
        dtype: Any = np.float64 if x.dtype == np.float64 else np.float32
        work: np.ndarray = np.asarray(to_channels_last(x, self.config["data_format"]), dtype=dtype)
        h, w = work.shape[1:3]
        sh, sw = self._sizes()
        mh = resize_matrix(h, h * sh, method).astype(work.dtype)
        mw = resize_matrix(w, w * sw, method).astype(work.dtype)
        y = np.einsum("ph,bhwc->bpwc", mh, work)
        y = np.einsum("qw,bpwc->bpqc", mw, y)
        out = from_channels_last(y, self.config["data_format"])
        return out.astype(x.dtype if x.dtype.kind == "f" else np.float32, copy=False)


@register
class UpSampling3D(_UpSampling):
    rank = 3
    defaults = {"size": 2, "data_format": "channels_last"}
