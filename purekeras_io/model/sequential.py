"""Sequential models: a plain stack of layers."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .base import Model
from .input_layer import InputLayer
from .layer import Layer
from .tensor import KerasTensor, shape_of

__all__ = ["Sequential"]


class Sequential(Model):
    """A stack of layers, as ``keras.Sequential``; ``model.layers`` excludes the InputLayer."""

    def __init__(
        self, layers: list[Any] | None = None, name: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(name=name, **kwargs)
        self._layers: list[Layer] = []
        self.input_layer: InputLayer | None = None
        # True when the InputLayer was made here (from the first layer's input shape or by
        # build()), not given: tf_keras then names it "<first layer>_input".
        self.implicit_input = False
        self.output: KerasTensor | None = None
        for item in layers or []:
            self.add(item)

    @property
    def layers(self) -> list[Layer]:
        return list(self._layers)

    def add(self, item: Any) -> None:
        """Append a layer (or, first, an ``Input`` tensor or InputLayer) and build when possible."""
        if isinstance(item, KerasTensor):
            item = item.history[0] if item.history else None
        if isinstance(item, InputLayer):
            if self._layers or self.input_layer is not None:
                raise ConfigError(f"Sequential {self.name!r}: an InputLayer must come first")
            self.input_layer = item
            return
        if not isinstance(item, Layer):
            raise ConfigError(f"Sequential {self.name!r}: expected a layer, received {item!r}")
        first_shape = item.batch_input_shape
        if (
            first_shape is None
            and isinstance(item, Model)
            and len(getattr(item, "inputs", [])) == 1
        ):
            first_shape = item.inputs[0].shape  # a built model used as the first layer
        if not self._layers and self.input_layer is None and first_shape is not None:
            self.implicit_input = True
            self.input_layer = InputLayer(
                batch_shape=list(first_shape),
                dtype=item.config.get("dtype")
                if item.config.get("dtype")
                and not str(item.config.get("dtype")).startswith("mixed")
                else "float32",
                name=None,
            )
        self._layers.append(item)
        if self.input_layer is not None:
            if self.built and getattr(self, "output", None) is not None and len(self._layers) > 1:
                self.output = item(self.output)  # extend the built chain by one call
            else:
                self._build_graph()

    def _build_graph(self) -> None:
        assert self.input_layer is not None
        x: Any = self.input_layer.output
        for layer in self._layers:
            if layer.inbound_nodes and any(n.args and n.args[0] is x for n in layer.inbound_nodes):
                x = next(n for n in layer.inbound_nodes if n.args and n.args[0] is x).outputs[0]
                continue
            x = layer(x)
        self.output = x
        self.built = True
        self.build_input_shape = list(self.input_layer.config["batch_shape"])

    def build(self, input_shape: Any = None) -> None:
        if self.input_layer is None:
            if input_shape is None:
                raise ConfigError(f"Sequential {self.name!r}: cannot build without an input shape")
            self.implicit_input = True
            self.input_layer = InputLayer(batch_shape=list(input_shape))
        if self._layers:
            self._build_graph()
        self.built = True

    @property
    def inputs(self) -> list[KerasTensor]:
        return [self.input_layer.output] if self.input_layer else []

    @property
    def outputs(self) -> list[KerasTensor]:
        return [self.output] if self.built and self._layers and self.output is not None else []

    @property
    def input_names(self) -> list[str]:
        return [self.input_layer.name] if self.input_layer else []

    @property
    def output_names(self) -> list[str]:
        return [self._layers[-1].name] if self._layers else []

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = input_shape
        for layer in self._layers:
            shape = layer.compute_output_shape(shape)
        return shape

    def compute_output_dtype(self, input_dtype: Any) -> Any:
        return self._layers[-1].compute_output_dtype(input_dtype) if self._layers else input_dtype

    def call(self, inputs: Any, mask: Any = None, **kwargs: Any) -> Any:
        if isinstance(inputs, dict) and len(inputs) == 1:
            inputs = next(iter(inputs.values()))
        if not self.built:
            self.build(shape_of(inputs))
        import numpy as np

        x = np.asarray(inputs)
        if self.input_layer is not None:
            want = str(self.input_layer.config.get("dtype") or "float32")
            if x.dtype.kind in "fiub" and str(x.dtype) != want and want != "string":
                from ..dtypes import to_numpy

                x = x.astype(to_numpy(want))
        for layer in self._layers:
            kw: dict[str, Any] = {}
            if mask is not None:
                kw["mask"] = mask
            out = layer.call(x, **kw)
            mask = layer.compute_mask(x, mask)
            x = out
        return x

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return None
