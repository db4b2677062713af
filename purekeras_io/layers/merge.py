"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot.

Format and behaviour facts (tf_keras 2.21 and Keras 3.15, read from their sources, checked by
``tests/oracle/test_layers_norm_merge_embed_oracle.py``):

* Elementwise merges take a list of tensors; inputs of lower rank get size-1 axes inserted at
  axis 1 until every rank matches, then NumPy broadcasting applies (size-1 dims broadcast).
* Output masks differ between the generations. tf_keras: logical AND of the masks that are
  present (``None`` when none is). Keras 3: logical OR of the masks when *every* input has one,
  else ``None``. Keras 3 ``Multiply`` / ``Maximum`` / ``Minimum`` also use the input masks in
  the values: masked positions are skipped (``Multiply`` zeroes positions no input keeps).
* ``Concatenate`` mask: each input's mask (all-True for unmasked inputs, a trailing axis added to
  masks of lower rank) concatenated along ``axis``, reduced over the last axis with ``all``
  (tf_keras) or ``any`` (Keras 3).
* ``Dot(axes, normalize)``: a batch-wise dot product (``batch_dot``); ``normalize`` L2-normalizes
  both inputs along their dot axes first; a rank-1 result becomes ``(batch, 1)``; no output mask.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..errors import ConfigError
from ..model.layer import Layer, register

__all__ = [
    "Add",
    "Average",
    "Concatenate",
    "Dot",
    "Maximum",
    "Minimum",
    "Multiply",
    "Subtract",
]


def _shape_list(input_shape: Any, layer: Layer) -> list[tuple[Any, ...]]:
    if not isinstance(input_shape, (list, tuple)) or not input_shape or not isinstance(
        input_shape[0], (list, tuple)
    ):
        raise ConfigError(
            f"{layer.class_name()} {layer.name!r} must be called on a list of inputs; "
            f"received input shape {input_shape!r}"
        )
    return [tuple(s) for s in input_shape]


def _broadcast_dims(
    shape1: tuple[Any, ...], shape2: tuple[Any, ...], layer: Layer
) -> tuple[Any, ...]:
    """Keras' ``_compute_elemwise_op_output_shape`` (shapes without the batch axis)."""
    if len(shape1) < len(shape2):
        shape1, shape2 = shape2, shape1
    if not shape2:
        return shape1
    out = list(shape1[: len(shape1) - len(shape2)])
    for i, j in zip(shape1[len(shape1) - len(shape2):], shape2):
        if i is None or j is None:
            out.append(None)
        elif i == 1:
            out.append(j)
        elif j == 1 or i == j:
            out.append(i)
        else:
            raise ConfigError(
                f"{layer.class_name()} {layer.name!r}: inputs have incompatible shapes "
                f"{shape1} and {shape2}"
            )
    return tuple(out)


class _Merge(Layer):
    """Elementwise merge of a list of tensors."""

    defaults: ClassVar[dict[str, Any]] = {}
    supports_masking = True
    min_inputs = 1
    max_inputs: int | None = None

    def _check_count(self, n: int) -> None:
        if n < self.min_inputs or (self.max_inputs is not None and n > self.max_inputs):
            want = (
                f"exactly {self.max_inputs}" if self.max_inputs == self.min_inputs
                else f"at least {self.min_inputs}"
            )
            raise ConfigError(
                f"{self.class_name()} {self.name!r} must be called on {want} inputs, received {n}"
            )

    def compute_output_shape(self, input_shape: Any) -> Any:
        shapes = _shape_list(input_shape, self)
        self._check_count(len(shapes))
        out = shapes[0][1:]
        for s in shapes[1:]:
            out = _broadcast_dims(out, s[1:], self)
        batches = {s[0] for s in shapes if s} - {None}
        if len(batches) > 1:
            raise ConfigError(
                f"{self.class_name()} {self.name!r}: inputs have different batch sizes {shapes}"
            )
        return (next(iter(batches)) if batches else None, *out)

    def _merge(self, xs: list[np.ndarray], masks: list[np.ndarray | None]) -> np.ndarray:
        raise NotImplementedError

    def call(self, inputs: Any, mask: Any = None, **kwargs: Any) -> Any:
        if not isinstance(inputs, (list, tuple)):
            raise ConfigError(
                f"{self.class_name()} {self.name!r} must be called on a list of inputs"
            )
        xs = [np.asarray(x) for x in inputs]
        self._check_count(len(xs))
        top = max(x.ndim for x in xs)
        xs = [x.reshape(x.shape[:1] + (1,) * (top - x.ndim) + x.shape[1:]) for x in xs]
        masks = list(mask) if isinstance(mask, (list, tuple)) else [None] * len(xs)
        if self.source_dialect == "keras2":
            masks = [None] * len(xs)
        out = self._merge(xs, [None if m is None else np.asarray(m, bool) for m in masks])
        dtype = np.result_type(*xs)
        return np.asarray(out).astype(dtype, copy=False)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if mask is None:
            return None
        if not isinstance(mask, (list, tuple)):
            raise ConfigError(f"{self.class_name()} {self.name!r}: mask must be a list")
        if self.source_dialect == "keras2":
            present = [np.asarray(m, bool) for m in mask if m is not None]
            if not present:
                return None
            return np.logical_and.reduce(np.broadcast_arrays(*present))
        if any(m is None for m in mask):
            return None
        return np.logical_or.reduce(np.broadcast_arrays(*[np.asarray(m, bool) for m in mask]))


def _expand_mask(m: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.broadcast_to(m.reshape(m.shape + (1,) * (x.ndim - m.ndim)), x.shape)


def _masked_fold(op: Any, xs: list[np.ndarray], masks: list[np.ndarray | None]) -> np.ndarray:
    """Keras 3 ``_apply_merge_op_and_or_mask`` (Maximum, Minimum): skip masked positions."""
    output: np.ndarray | None = None
    out_mask: np.ndarray | None = None
    for x, m in zip(xs, masks):
        mm = None if m is None else _expand_mask(m, x)
        if output is None:
            output, out_mask = x, mm
            continue
        if mm is not None:
            x = np.where(mm, x, output)
        if out_mask is not None:
            output = np.where(out_mask, output, x)
        out_mask = np.logical_or(out_mask, mm) if mm is not None and out_mask is not None else None
        output = op(output, x)
    assert output is not None
    return output


@register
class Add(_Merge):
    def _merge(self, xs: list[np.ndarray], masks: list[np.ndarray | None]) -> np.ndarray:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


@register
class Subtract(_Merge):
    min_inputs = 2
    max_inputs = 2

    def _merge(self, xs: list[np.ndarray], masks: list[np.ndarray | None]) -> np.ndarray:
        return xs[0] - xs[1]


@register
class Multiply(_Merge):
    def _merge(self, xs: list[np.ndarray], masks: list[np.ndarray | None]) -> np.ndarray:
        all_masked = all(m is not None for m in masks)
        out: np.ndarray | None = None
        out_mask: np.ndarray | None = None
        for x, m in zip(xs, masks):
            if m is not None:
                mm = _expand_mask(m, x)
                x = np.where(mm, x, np.ones((), x.dtype))
                if all_masked:
                    out_mask = mm if out_mask is None else np.logical_or(out_mask, mm)
            out = x if out is None else out * x
        assert out is not None
        if out_mask is not None:
            out = np.where(out_mask, out, np.zeros((), out.dtype))
        return out


@register
class Average(_Merge):
    def _merge(self, xs: list[np.ndarray], masks: list[np.ndarray | None]) -> np.ndarray:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out / np.asarray(len(xs), dtype=out.dtype if out.dtype.kind == "f" else None)


@register
class Maximum(_Merge):
    def _merge(self, xs: list[np.ndarray], masks: list[np.ndarray | None]) -> np.ndarray:
        return _masked_fold(np.maximum, xs, masks)


@register
class Minimum(_Merge):
    def _merge(self, xs: list[np.ndarray], masks: list[np.ndarray | None]) -> np.ndarray:
        return _masked_fold(np.minimum, xs, masks)


@register
class Concatenate(Layer):
    defaults = {"axis": -1}
    supports_masking = True

    def __init__(self, axis: int | None = None, **kwargs: Any) -> None:
        if axis is not None:
            kwargs["axis"] = axis
        super().__init__(**kwargs)

    def compute_output_shape(self, input_shape: Any) -> Any:
        shapes = _shape_list(input_shape, self)
        axis = int(self.config["axis"])
        ranks = {len(s) for s in shapes}
        if len(ranks) != 1:
            raise ConfigError(
                f"Concatenate {self.name!r} needs inputs of one rank; received shapes {shapes}"
            )
        out = list(shapes[0])
        for s in shapes[1:]:
            if out[axis] is None or s[axis] is None:
                out[axis] = None
                break
            out[axis] += s[axis]
        return tuple(out)

    def call(self, inputs: Any, mask: Any = None, **kwargs: Any) -> Any:
        if not isinstance(inputs, (list, tuple)):
            raise ConfigError(f"Concatenate {self.name!r} must be called on a list of inputs")
        return np.concatenate([np.asarray(x) for x in inputs], axis=int(self.config["axis"]))

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if mask is None or not isinstance(mask, (list, tuple)):
            return None
        if all(m is None for m in mask):
            return None
        xs = [np.asarray(x) for x in inputs]
        parts = []
        for x, m in zip(xs, mask):
            if m is None:
                parts.append(np.ones(x.shape, bool))
            else:
                parts.append(_expand_mask(np.asarray(m, bool), x))
        joined = np.concatenate(parts, axis=int(self.config["axis"]))
        if self.source_dialect == "keras2":
            return np.all(joined, axis=-1)
        return np.any(joined, axis=-1)


def _dot_axes(axes: Any, ndims: tuple[int, int]) -> list[int]:
    if isinstance(axes, int):
        return [axes % ndims[0], axes % ndims[1]] if axes < 0 else [axes, axes]
    return [a % n if a < 0 else a for a, n in zip(axes, ndims)]


def _l2_normalize(x: np.ndarray, axis: int) -> np.ndarray:
    square_sum = np.sum(np.square(x), axis=axis, keepdims=True)
    return x / np.sqrt(np.maximum(square_sum, np.asarray(1e-12, x.dtype)))


def batch_dot(x: np.ndarray, y: np.ndarray, axes: list[int]) -> np.ndarray:
    """Keras ``batch_dot``: per sample, contract ``x`` axis ``axes[0]`` with ``y`` axis ``axes[1]``.

    The result keeps ``x``'s other axes, then ``y``'s (without batch); rank 1 becomes
    ``(batch, 1)``.
    """
    a0, a1 = axes
    if 0 in (a0, a1):
        raise ConfigError(f"Dot: cannot take the dot product over the batch axis (axes={axes})")
    xm = np.moveaxis(x, a0, -1)
    ym = np.moveaxis(y, a1, 1)
    batch = x.shape[0]
    xr = xm.reshape(batch, -1, xm.shape[-1])
    yr = ym.reshape(batch, ym.shape[1], -1)
    out = np.matmul(xr, yr).reshape(xm.shape[:-1] + ym.shape[2:])
    if out.ndim == 1:
        out = out.reshape(batch, 1)
    return out


@register
class Dot(Layer):
    defaults = {"axes": None, "normalize": False}
    supports_masking = True

    def __init__(self, axes: Any = None, normalize: bool | None = None, **kwargs: Any) -> None:
        if axes is not None:
            kwargs["axes"] = axes
        if normalize is not None:
            kwargs["normalize"] = normalize
        super().__init__(**kwargs)
        a = self.config["axes"]
        if isinstance(a, tuple):
            self.config["axes"] = list(a)
        if not isinstance(a, int) and not (
            isinstance(a, (list, tuple)) and len(a) == 2 and all(isinstance(v, int) for v in a)
        ):
            raise ConfigError(f"Dot {self.name!r}: axes must be an int or two ints, received {a!r}")

    def compute_output_shape(self, input_shape: Any) -> Any:
        shapes = _shape_list(input_shape, self)
        if len(shapes) != 2:
            raise ConfigError(
                f"Dot {self.name!r} must be called on 2 inputs, received {len(shapes)}"
            )
        s1, s2 = list(shapes[0]), list(shapes[1])
        a0, a1 = _dot_axes(self.config["axes"], (len(s1), len(s2)))
        if s1[a0] is not None and s2[a1] is not None and s1[a0] != s2[a1]:
            raise ConfigError(
                f"Dot {self.name!r}: axis sizes differ: {s1[a0]} (axis {a0} of {tuple(s1)}) and "
                f"{s2[a1]} (axis {a1} of {tuple(s2)})"
            )
        s1.pop(a0)
        s2.pop(a1)
        s2.pop(0)
        out = s1 + s2
        if len(out) == 1:
            out.append(1)
        return tuple(out)

    def call(self, inputs: Any, mask: Any = None, **kwargs: Any) -> Any:
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ConfigError(f"Dot {self.name!r} must be called on a list of 2 inputs")
        x, y = (np.asarray(v) for v in inputs)
        axes = _dot_axes(self.config["axes"], (x.ndim, y.ndim))
        if self.config["normalize"]:
            x = _l2_normalize(x, axes[0])
            y = _l2_normalize(y, axes[1])
        return batch_dot(x, y, axes).astype(np.result_type(x, y), copy=False)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return None
