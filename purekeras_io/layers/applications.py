"""Layer classes that the Keras applications define in their own modules.

Measured on tf_keras 2.21 / Keras 3.15.1 (``model.to_json()``):

* ``CustomScaleLayer`` (InceptionResNetV2): ``inputs[0] + inputs[1] * scale``; config ``scale``.
  tf_keras: module ``tf_keras.src.applications.inception_resnet_v2``, registered name
  ``Custom>CustomScaleLayer`` (tf_keras' legacy ``.h5`` writes that registered name as the
  ``class_name``); Keras 3: module ``keras.src.applications.inception_resnet_v2``, registered
  name ``CustomScaleLayer``. No weights.
* ``LayerScale`` (ConvNeXt): ``x * gamma``; config ``init_values``, ``projection_dim``; one
  weight ``gamma`` of shape ``(projection_dim,)`` initialized to ``init_values``. Module
  ``tf_keras.src.applications.convnext`` / ``keras.src.applications.convnext``, registered name
  ``LayerScale`` in both.
* ``StochasticDepth`` (ConvNeXt with ``drop_path_rate > 0``): identity at inference; config
  ``drop_path_rate``; modules as LayerScale, registered name ``StochasticDepth``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..model.dialect import Dialect
from ..model.layer import Layer, WeightSpec, register

__all__ = ["CustomScaleLayer", "LayerScale", "StochasticDepth"]


class _ApplicationLayer(Layer):
    """A layer class living in an application module: module and registered name per dialect."""

    modules: ClassVar[dict[str, str]] = {}
    registered_names: ClassVar[dict[str, str]] = {}

    def serialize_entry(self, entry: dict[str, Any], dialect: Dialect) -> dict[str, Any]:
        entry["module"] = self.modules[dialect]
        entry["registered_name"] = self.registered_names[dialect]
        return entry


@register
class CustomScaleLayer(_ApplicationLayer):
    defaults = {"scale": None}
    aliases = ("Custom>CustomScaleLayer",)
    modules = {
        "keras2": "tf_keras.src.applications.inception_resnet_v2",
        "keras3": "keras.src.applications.inception_resnet_v2",
    }
    registered_names = {"keras2": "Custom>CustomScaleLayer", "keras3": "CustomScaleLayer"}

    def compute_output_shape(self, input_shape: Any) -> Any:
        return tuple(input_shape[0])

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        a = np.asarray(inputs[0])
        b = np.asarray(inputs[1])
        return (a + b * np.asarray(self.config["scale"], dtype=b.dtype)).astype(a.dtype)


_CONVNEXT = {
    "keras2": "tf_keras.src.applications.convnext",
    "keras3": "keras.src.applications.convnext",
}


@register
class LayerScale(_ApplicationLayer):
    defaults = {"init_values": None, "projection_dim": None}
    modules = _CONVNEXT
    registered_names = {"keras2": "LayerScale", "keras3": "LayerScale"}

    def weight_specs(self, input_shape: Any) -> list[WeightSpec]:
        init = {"class_name": "Constant", "config": {"value": self.config["init_values"]}}
        return [WeightSpec("gamma", (int(self.config["projection_dim"]),), init)]

    def compute_output_shape(self, input_shape: Any) -> Any:
        return tuple(input_shape)

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        x = np.asarray(inputs)
        return (x * self._variables[0].value).astype(x.dtype)


@register
class StochasticDepth(_ApplicationLayer):
    defaults = {"drop_path_rate": None}
    modules = _CONVNEXT
    registered_names = {"keras2": "StochasticDepth", "keras3": "StochasticDepth"}

    def compute_output_shape(self, input_shape: Any) -> Any:
        return tuple(input_shape)

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        return np.asarray(inputs)
