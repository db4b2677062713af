"""The layer catalog, one module per family (``pk.layers.Dense`` …)."""

from __future__ import annotations

from ..model.input_layer import Input, InputLayer
from ..model.layer import Layer, UnknownLayer
from . import attention, conv, core, embedding, merge, normalization, ops, pooling, preprocessing, reshaping, rnn
from .core import (
    ELU,
    Activation,
    ActivityRegularization,
    AlphaDropout,
    Dense,
    Dropout,
    GaussianDropout,
    GaussianNoise,
    Identity,
    LeakyReLU,
    Masking,
    PReLU,
    ReLU,
    Softmax,
    SpatialDropout1D,
    SpatialDropout2D,
    SpatialDropout3D,
    ThresholdedReLU,
)

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
    "Input",
    "InputLayer",
    "Layer",
    "LeakyReLU",
    "Masking",
    "PReLU",
    "ReLU",
    "Softmax",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "ThresholdedReLU",
    "UnknownLayer",
    "attention",
    "conv",
    "core",
    "embedding",
    "merge",
    "normalization",
    "ops",
    "pooling",
    "preprocessing",
    "reshaping",
    "rnn",
]
