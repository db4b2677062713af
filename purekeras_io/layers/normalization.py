"""Normalization layers: BatchNormalization, LayerNormalization, GroupNormalization,
UnitNormalization.

Format facts (tf_keras 2.21 and Keras 3.15, measured):

* BatchNormalization weights, in creation order: ``gamma`` (if ``scale``), ``beta`` (if
  ``center``), ``moving_mean``, ``moving_variance`` (non-trainable; tf_keras creates them with
  synchronization ON_READ and aggregation MEAN), then with ``renorm`` ``moving_stddev``,
  ``renorm_mean``, ``renorm_stddev`` (non-trainable). Inference uses the moving statistics:
  ``y = x * inv + (beta - mean * inv)``, ``inv = gamma / sqrt(moving_variance + epsilon)``.
* tf_keras rewrites ``axis`` when the layer is built: a list of non-negative axes (``[3]``), which
  its configs then carry. Keras 3 only takes an int (its legacy ``.h5`` loader turns a one-element
  list into an int); a tf_keras multi-axis BatchNormalization has weights of full input rank
  (``(1, H, 1, C)``) and no Keras 3 equivalent.
* tf_keras writes ``renorm``/``renorm_clipping``/``renorm_momentum`` only when ``renorm`` is on,
  ``virtual_batch_size`` only when set (it adds a dimension of 1 at index 1 to every weight), never
  ``synchronized``; ``fused``, ``virtual_batch_size`` and ``adjustment`` are refused by Keras 3.
* LayerNormalization: ``gamma`` then ``beta``, shape = the normalized dimensions (tf_keras: in the
  order of its non-negative axis list; Keras 3: in sorted order of the axis list as given).
  ``rms_scaling`` exists only in Keras 3 (it divides by the variance, not by the root mean square).
* GroupNormalization: ``gamma``, ``beta`` of shape ``(channels,)``; statistics per group over every
  non-batch axis; tf_keras weights the statistics by a mask, Keras 3 takes no mask.
* UnitNormalization: ``x * min(rsqrt(sum(x²)), 1e12)`` (Keras 3) / ``x * rsqrt(max(sum(x²),
  1e-12))`` (tf_keras); no weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError, TargetCompatibilityError
from ..model.layer import AGG_MEAN, SYNC_ON_READ, Layer, WeightSpec, register

__all__ = [
    "BatchNormalization",
    "GroupNormalization",
    "LayerNormalization",
    "UnitNormalization",
]

_ZEROS = {"class_name": "Zeros", "config": {}}
_ONES = {"class_name": "Ones", "config": {}}


def _axes(axis: Any) -> list[int]:
    """An ``axis`` config value (int or list) → a list of ints."""
    if isinstance(axis, (list, tuple)):
        return [int(a) for a in axis]
    return [int(axis)]


def _positive(axes: list[int], ndim: int, layer: Layer) -> list[int]:
    out = []
    for a in axes:
        p = a + ndim if a < 0 else a
        if not 0 <= p < ndim:
            raise ConfigError(
                f"layer {layer.name!r}: axis {a} is out of range for an input of rank {ndim}"
            )
        out.append(p)
    if len(set(out)) != len(out):
        raise ConfigError(f"layer {layer.name!r}: duplicate axis in {axes}")
    return out


def _float(x: Any) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float32)
    return arr


def _param_dtype(layer: Layer) -> str | None:
    """Statistics and scales of float16/bfloat16 normalization layers are float32."""
    return "float32" if layer.dtype in ("float16", "bfloat16") else None


def _out_dtype(layer: Layer, x: np.ndarray) -> Any:
    from ..dtypes import to_numpy

    name = layer.compute_dtype
    return to_numpy(name) if name in ("float16", "bfloat16", "float32", "float64") else x.dtype


# ================================================================================== BatchNorm


@register
class BatchNormalization(Layer):
    defaults = {
        "axis": -1,
        "momentum": 0.99,
        "epsilon": 0.001,
        "center": True,
        "scale": True,
        "beta_initializer": _ZEROS,
        "gamma_initializer": _ONES,
        "moving_mean_initializer": _ZEROS,
        "moving_variance_initializer": _ONES,
        "beta_regularizer": None,
        "gamma_regularizer": None,
        "beta_constraint": None,
        "gamma_constraint": None,
        "synchronized": False,
        "renorm": False,
        "renorm_clipping": None,
        "renorm_momentum": 0.99,
    }
    keras2_only = {"fused": None, "virtual_batch_size": None, "adjustment": None}
    supports_masking = True

    def __init__(self, axis: Any = None, **kwargs: Any) -> None:
        if axis is not None:
            kwargs["axis"] = axis
        # virtual_batch_size changes tf_keras' weight shapes: keep it beside the neutral config.
        self.virtual_batch_size: int | None = kwargs.get("virtual_batch_size")
        super().__init__(**kwargs)

    def render_config(self, config: dict[str, Any], dialect: Any) -> dict[str, Any]:
        axes = _axes(config["axis"])
        if dialect == "keras3":
            if len(axes) != 1:
                raise TargetCompatibilityError(
                    f"BatchNormalization {self.name!r}: axis={config['axis']} normalizes over "
                    "several axes; Keras 3 BatchNormalization takes one int axis"
                )
            if self.virtual_batch_size is not None:
                raise TargetCompatibilityError(
                    f"BatchNormalization {self.name!r}: virtual_batch_size="
                    f"{self.virtual_batch_size} has no Keras 3 equivalent"
                )
            config["axis"] = axes[0]
            return config
        if self.build_input_shape is not None:
            # tf_keras' build() rewrites axis into the list of non-negative axes ([3]).
            config["axis"] = _positive(axes, len(self.build_input_shape), self)
        # tf_keras writes neither `synchronized` nor the renorm keys unless renorm is on.
        config.pop("synchronized", None)
        if not config.get("renorm"):
            for key in ("renorm", "renorm_clipping", "renorm_momentum"):
                config.pop(key, None)
        if self.virtual_batch_size is not None:
            config["virtual_batch_size"] = self.virtual_batch_size
        return config

    def _param_shape(self, input_shape: Any) -> tuple[list[int], tuple[int, ...]]:
        ndim = len(input_shape)
        axes = _positive(_axes(self.config["axis"]), ndim, self)
        for a in axes:
            if input_shape[a] is None:
                raise ConfigError(
                    f"BatchNormalization {self.name!r}: axis {a} of input shape "
                    f"{tuple(input_shape)} must be known"
                )
        if len(axes) == 1 and self.virtual_batch_size is None:
            return axes, (int(input_shape[axes[0]]),)
        shape = [int(input_shape[i]) if i in axes else 1 for i in range(ndim)]
        if self.virtual_batch_size is not None:
            shape.insert(1, 1)
        return axes, tuple(shape)

    def weight_specs(self, input_shape: Any) -> list[WeightSpec]:
        _, shape = self._param_shape(input_shape)
        c = self.config
        dtype = _param_dtype(self)
        specs = []
        if c["scale"]:
            specs.append(WeightSpec("gamma", shape, c["gamma_initializer"], dtype=dtype))
        if c["center"]:
            specs.append(WeightSpec("beta", shape, c["beta_initializer"], dtype=dtype))

        def stat(name: str, init: Any) -> WeightSpec:
            return WeightSpec(
                name, shape, init, trainable=False, dtype=dtype,
                synchronization=SYNC_ON_READ, aggregation=AGG_MEAN,
            )

        specs.append(stat("moving_mean", c["moving_mean_initializer"]))
        specs.append(stat("moving_variance", c["moving_variance_initializer"]))
        if c.get("renorm"):
            # moving_stddev / renorm_stddev start at sqrt(moving_variance_initializer) in Keras.
            specs.append(stat("moving_stddev", c["moving_variance_initializer"]))
            specs.append(stat("renorm_mean", c["moving_mean_initializer"]))
            specs.append(stat("renorm_stddev", c["moving_variance_initializer"]))
        return specs

    def _var(self, name: str) -> np.ndarray | None:
        for v in self._variables:
            if v.name == name:
                return v.value
        return None

    def call(self, inputs: Any, mask: Any = None, training: bool = False, **kwargs: Any) -> Any:
        x = _float(inputs)
        out_dtype = _out_dtype(self, x)
        work = np.float32 if x.dtype.itemsize < 4 else x.dtype
        x = x.astype(work, copy=False)
        axes, shape = self._param_shape(x.shape)
        if len(shape) == 1:
            bshape = [1] * x.ndim
            bshape[axes[0]] = shape[0]
        else:
            bshape = [d for i, d in enumerate(shape) if not (self.virtual_batch_size and i == 1)]

        def param(name: str) -> np.ndarray | None:
            value = self._var(name)
            return None if value is None else value.astype(work).reshape(bshape)

        mean, var = param("moving_mean"), param("moving_variance")
        gamma, beta = param("gamma"), param("beta")
        assert mean is not None and var is not None
        inv = (1.0 / np.sqrt(var + np.asarray(self.config["epsilon"], work))).astype(work)
        if gamma is not None:
            inv = inv * gamma
        shift = -mean * inv
        if beta is not None:
            shift = shift + beta
        return (x * inv + shift).astype(out_dtype, copy=False)


# ================================================================================== LayerNorm


@register
class LayerNormalization(Layer):
    defaults = {
        "axis": -1,
        "epsilon": 0.001,
        "center": True,
        "scale": True,
        "rms_scaling": False,
        "beta_initializer": _ZEROS,
        "gamma_initializer": _ONES,
        "beta_regularizer": None,
        "gamma_regularizer": None,
        "beta_constraint": None,
        "gamma_constraint": None,
    }
    keras3_only = ("rms_scaling",)
    supports_masking = True

    def __init__(self, axis: Any = None, **kwargs: Any) -> None:
        if axis is not None:
            kwargs["axis"] = axis
        super().__init__(**kwargs)

    def render_config(self, config: dict[str, Any], dialect: Any) -> dict[str, Any]:
        if dialect == "keras2" and self.config.get("rms_scaling"):
            raise TargetCompatibilityError(
                f"LayerNormalization {self.name!r}: rms_scaling=True exists only in Keras 3"
            )
        if dialect == "keras2" and self.build_input_shape is not None:
            # tf_keras' build() rewrites axis into the list of non-negative axes, in the order
            # its weights are shaped in ([2]; [3, 2] for axis=[-1, -2]).
            config["axis"] = self._norm_axes(len(self.build_input_shape))
        return config

    def _norm_axes(self, ndim: int) -> list[int]:
        """The normalized axes in weight order (tf_keras: as listed; Keras 3: sorted as given)."""
        axis = self.config["axis"]
        raw = _axes(axis)
        if self.source_dialect == "keras3" and isinstance(axis, (list, tuple)):
            raw = sorted(raw)
        return _positive(raw, ndim, self)

    def weight_specs(self, input_shape: Any) -> list[WeightSpec]:
        axes = self._norm_axes(len(input_shape))
        shape = tuple(int(input_shape[a]) for a in axes)
        c = self.config
        rms = bool(c.get("rms_scaling"))
        dtype = _param_dtype(self)
        specs = []
        if c["scale"] or rms:
            specs.append(WeightSpec("gamma", shape, c["gamma_initializer"], dtype=dtype))
        if c["center"] and not rms:
            specs.append(WeightSpec("beta", shape, c["beta_initializer"], dtype=dtype))
        return specs

    def call(self, inputs: Any, mask: Any = None, **kwargs: Any) -> Any:
        x = _float(inputs)
        out_dtype = _out_dtype(self, x)
        work = np.float32 if x.dtype.itemsize < 4 else x.dtype
        x = x.astype(work, copy=False)
        axes = self._norm_axes(x.ndim)
        reduce = tuple(sorted(axes))
        bshape = [1] * x.ndim
        for a in sorted(axes):
            bshape[a] = x.shape[a]
        weights = {v.name: v.value.astype(work).reshape(bshape) for v in self._variables}
        eps = np.asarray(self.config["epsilon"], work)
        mean = np.mean(x, axis=reduce, keepdims=True)
        var = np.mean(np.square(x - mean), axis=reduce, keepdims=True)
        inv = (1.0 / np.sqrt(var + eps)).astype(work)
        if self.config.get("rms_scaling"):
            y = x * inv
            if "gamma" in weights:
                y = y * weights["gamma"]
            return y.astype(out_dtype, copy=False)
        if "gamma" in weights:
            inv = inv * weights["gamma"]
        shift = -mean * inv
        if "beta" in weights:
            shift = shift + weights["beta"]
        return (x * inv + shift).astype(out_dtype, copy=False)


# ================================================================================== GroupNorm


@register
class GroupNormalization(Layer):
    defaults = {
        "groups": 32,
        "axis": -1,
        "epsilon": 0.001,
        "center": True,
        "scale": True,
        "beta_initializer": _ZEROS,
        "gamma_initializer": _ONES,
        "beta_regularizer": None,
        "gamma_regularizer": None,
        "beta_constraint": None,
        "gamma_constraint": None,
    }
    supports_masking = True

    def __init__(self, groups: int | None = None, **kwargs: Any) -> None:
        if groups is not None:
            kwargs["groups"] = groups
        super().__init__(**kwargs)

    def _groups(self, dim: int) -> int:
        groups = int(self.config["groups"])
        if groups == -1:
            groups = dim
        if dim < groups or dim % groups:
            raise ConfigError(
                f"GroupNormalization {self.name!r}: groups={groups} must divide the "
                f"{dim} channels"
            )
        return groups

    def weight_specs(self, input_shape: Any) -> list[WeightSpec]:
        axis = _positive([int(self.config["axis"])], len(input_shape), self)[0]
        dim = input_shape[axis]
        if dim is None:
            raise ConfigError(
                f"GroupNormalization {self.name!r}: axis {axis} of input shape "
                f"{tuple(input_shape)} must be known"
            )
        self._groups(int(dim))
        c = self.config
        specs = []
        if c["scale"]:
            specs.append(WeightSpec("gamma", (int(dim),), c["gamma_initializer"]))
        if c["center"]:
            specs.append(WeightSpec("beta", (int(dim),), c["beta_initializer"]))
        return specs

    def call(self, inputs: Any, mask: Any = None, **kwargs: Any) -> Any:
        x = _float(inputs)
        out_dtype = _out_dtype(self, x)
        work = np.float32 if x.dtype.itemsize < 4 else x.dtype
        x = x.astype(work, copy=False)
        axis = _positive([int(self.config["axis"])], x.ndim, self)[0]
        dim = x.shape[axis]
        groups = self._groups(dim)
        gshape = list(x.shape)
        gshape[axis] = dim // groups
        gshape.insert(axis, groups)
        xg = x.reshape(gshape)
        reduce = tuple(i for i in range(1, len(gshape)) if i != axis)
        weights = None
        if mask is not None and self.source_dialect == "keras2":
            # tf_keras weights the moments by the mask broadcast to the input shape (a mask of
            # shape (batch, time) on (batch, time, channels) fails there too).
            m = np.asarray(mask)
            try:
                weights = np.broadcast_to(m, x.shape).astype(work).reshape(gshape)
            except ValueError:
                raise ConfigError(
                    f"GroupNormalization {self.name!r} (tf_keras): mask of shape {m.shape} does "
                    f"not broadcast to the input shape {x.shape}"
                ) from None
        if weights is None:
            mean = np.mean(xg, axis=reduce, keepdims=True)
            var = np.mean(np.square(xg - mean), axis=reduce, keepdims=True)
        else:
            total = np.maximum(np.sum(weights, axis=reduce, keepdims=True), 1e-30)
            mean = np.sum(xg * weights, axis=reduce, keepdims=True) / total
            var = np.sum(np.square(xg - mean) * weights, axis=reduce, keepdims=True) / total
        bshape = [1] * x.ndim
        bshape[axis] = dim // groups
        bshape.insert(axis, groups)
        inv = (1.0 / np.sqrt(var + np.asarray(self.config["epsilon"], work))).astype(work)
        params = {v.name: v.value.astype(work).reshape(bshape) for v in self._variables}
        if "gamma" in params:
            inv = inv * params["gamma"]
        shift = -mean * inv
        if "beta" in params:
            shift = shift + params["beta"]
        return (xg * inv + shift).reshape(x.shape).astype(out_dtype, copy=False)


# ================================================================================== UnitNorm


@register
class UnitNormalization(Layer):
    defaults = {"axis": -1}
    supports_masking = True

    def __init__(self, axis: Any = None, **kwargs: Any) -> None:
        if axis is not None:
            kwargs["axis"] = axis
        super().__init__(**kwargs)

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        x = _float(inputs)
        out_dtype = _out_dtype(self, x)
        axes = tuple(_positive(_axes(self.config["axis"]), x.ndim, self))
        square_sum = np.sum(np.square(x), axis=axes, keepdims=True)
        with np.errstate(divide="ignore"):
            inv = np.minimum(1.0 / np.sqrt(square_sum), np.asarray(1e12, x.dtype))
        return (x * inv.astype(x.dtype)).astype(out_dtype, copy=False)
