"""Embedding: one weight ``embeddings`` of shape ``(input_dim, output_dim)``.

Format facts (tf_keras 2.21 and Keras 3.15, measured):

* Both write ``input_dim``, ``output_dim``, ``embeddings_initializer`` (default
  ``RandomUniform(-0.05, 0.05)``), ``embeddings_regularizer``, ``activity_regularizer``,
  ``embeddings_constraint``, ``mask_zero``.
* tf_keras also writes ``input_length`` (and, since its constructor turns it into an input shape,
  ``batch_input_shape: [null, input_length]``); Keras 3 accepts ``input_length`` with a
  deprecation warning and drops it. Keras 3 writes ``quantization_config`` and, only when LoRA is
  on, ``lora_rank`` / ``lora_alpha``; tf_keras refuses all three.
* Keras 3 saves a LoRA embedding merged (``embeddings + lora_alpha / lora_rank * a @ b``) as the
  single ``embeddings`` array; the description keeps it that way (one weight, LoRA in the config).
* Indices that are not int32/int64 are cast to int32 (truncation) before the lookup. With
  ``mask_zero`` the output mask is ``inputs != 0``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError, UnsupportedFeatureError
from ..model.layer import INPUT_KEYS, Layer, WeightSpec, register

__all__ = ["Embedding"]


@register
class Embedding(Layer):
    defaults = {
        "input_dim": None,
        "output_dim": None,
        "embeddings_initializer": {
            "class_name": "RandomUniform",
            "config": {"minval": -0.05, "maxval": 0.05, "seed": None},
        },
        "embeddings_regularizer": None,
        "activity_regularizer": None,
        "embeddings_constraint": None,
        "mask_zero": False,
        "quantization_config": None,
        "lora_rank": None,
        "lora_alpha": None,
    }
    keras2_only = {"input_length": None}
    keras3_only = ("quantization_config", "lora_rank", "lora_alpha")

    def __init__(
        self, input_dim: int | None = None, output_dim: int | None = None, **kwargs: Any
    ) -> None:
        if input_dim is not None:
            kwargs["input_dim"] = input_dim
        if output_dim is not None:
            kwargs["output_dim"] = output_dim
        input_length = kwargs.get("input_length")
        shape_keys = [k for k in INPUT_KEYS if k != "input_dim"]
        if input_length is not None and not any(kwargs.get(k) is not None for k in shape_keys):
            # tf_keras: Embedding(…, input_length=n) as first layer means input shape (n,).
            lengths = input_length if isinstance(input_length, (list, tuple)) else [input_length]
            kwargs["input_shape"] = tuple(lengths)
        super().__init__(**kwargs)
        for key in ("input_dim", "output_dim"):
            value = self.config[key]
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ConfigError(
                    f"Embedding {self.name!r}: {key} must be a positive int, received {value!r}"
                )
            self.config[key] = int(value)
        if self.config.get("quantization_config") is not None:
            raise UnsupportedFeatureError(
                f"Embedding {self.name!r}: quantized embeddings (quantization_config) are not "
                "supported"
            )

    def render_config(self, config: dict[str, Any], dialect: Any) -> dict[str, Any]:
        if dialect == "keras3" and config.get("lora_rank") is None:
            config.pop("lora_rank", None)
            config.pop("lora_alpha", None)
        return config

    def weight_specs(self, input_shape: Any) -> list[WeightSpec]:
        c = self.config
        return [
            WeightSpec("embeddings", (c["input_dim"], c["output_dim"]), c["embeddings_initializer"])
        ]

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (*tuple(input_shape), self.config["output_dim"])

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        idx = np.asarray(inputs)
        if idx.dtype not in (np.int32, np.int64):
            idx = idx.astype(np.int32)
        table = self._variables[0].value
        n = table.shape[0]
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise ConfigError(
                f"Embedding {self.name!r}: indices must lie in [0, {n}); received values from "
                f"{int(idx.min())} to {int(idx.max())}"
            )
        return np.take(table, idx, axis=0)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if not self.config.get("mask_zero"):
            return None
        return np.asarray(inputs) != 0
