"""NaN and infinity in the NumPy forward pass follow TensorFlow's kernels (the values below were
measured in TF 2.21; ``tests/oracle/test_degenerate_numbers_oracle.py`` checks whole layers)."""

from __future__ import annotations

import numpy as np

import purekeras_io as pk
from purekeras_io import activations

NAN, INF = np.nan, np.inf
LOWEST = np.finfo(np.float32).min


def _pool(layer: object, x: np.ndarray) -> np.ndarray:
    return np.asarray(layer(x.astype(np.float32)))  # type: ignore[operator]


def test_maxpool_skips_nan_and_starts_at_the_lowest_value() -> None:
    x = np.array([1.0, NAN, NAN, 3.0, NAN, NAN, -INF, -INF]).reshape(1, 8, 1)
    y = _pool(pk.layers.MaxPooling1D(2), x).ravel()
    np.testing.assert_array_equal(y, [1.0, 3.0, LOWEST, LOWEST])
    x2 = np.array([[NAN, 1.0], [2.0, NAN]]).reshape(1, 2, 2, 1)
    assert _pool(pk.layers.MaxPooling2D(2), x2).ravel().tolist() == [2.0]


def test_maxpool3d_keeps_a_nan_until_a_later_value() -> None:
    """MaxPool3D folds each window in row-major order with ``acc if acc > v else v``."""
    first = np.array([NAN, 1, 2, 3, 4, 5, 6, 7], np.float32).reshape(1, 2, 2, 2, 1)
    last = np.array([0, 1, 2, 3, 4, 5, 6, NAN], np.float32).reshape(1, 2, 2, 2, 1)
    pool = pk.layers.MaxPooling3D(2)
    assert _pool(pool, first).ravel().tolist() == [7.0]
    assert np.isnan(_pool(pool, last).ravel()[0])
    assert _pool(pool, np.full((1, 2, 2, 2, 1), -INF)).ravel().tolist() == [-INF]


def test_relu_follows_each_generation() -> None:
    x = np.array([-INF, NAN, -1.0, 0.25, 3.0, INF], np.float32)
    np.testing.assert_array_equal(activations.relu(x), [0, NAN, 0, 0.25, 3, INF])
    # threshold: tf_keras multiplies by (x > t), so -inf * 0 = NaN; Keras 3 selects 0 (NaN too)
    k2 = activations.relu(x, threshold=0.5, dialect="keras2")
    k3 = activations.relu(x, threshold=0.5, dialect="keras3")
    np.testing.assert_array_equal(k2, [NAN, NAN, 0, 0, 3, INF])
    np.testing.assert_array_equal(k3, [0, 0, 0, 0, 3, INF])
