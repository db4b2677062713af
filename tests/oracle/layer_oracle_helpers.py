"""Helpers shared by the layer-family oracle tests (``test_layers_*_oracle.py``).

The test modules import this by plain name (``from layer_oracle_helpers import ...``): ``tests``
has no ``__init__.py``, so pytest's default import mode puts this folder on ``sys.path``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def keras_arrays(run: dict[str, Any], cid: str, dialect: str, kind: str) -> dict[str, np.ndarray]:
    info = run["oracle"]["cases"][cid]
    assert "error" not in info, info["error"]
    res = info[dialect]
    assert f"{kind}_error" not in res, res[f"{kind}_error"]
    path = Path(run["folder"]) / f"{cid}_{dialect}_{kind}.npz"
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def assert_close(ours: list[Any], keras: dict[str, np.ndarray], what: str) -> None:
    assert len(ours) == len([k for k in keras if k.startswith("out")]), what
    for k, mine in enumerate(ours):
        ref = keras[f"out{k}"]
        mine = np.asarray(mine)
        assert mine.shape == ref.shape, f"{what} output {k}: shape {mine.shape} != {ref.shape}"
        scale = max(float(np.max(np.abs(ref))), 1e-30) if ref.size else 1.0
        diff = float(np.max(np.abs(mine.astype(np.float64) - ref))) if ref.size else 0.0
        assert diff <= 1e-5 * scale, f"{what} output {k}: max abs diff {diff} (scale {scale})"


def assert_masks(ours: list[Any], keras: dict[str, np.ndarray], what: str) -> None:
    for k, mine in enumerate(ours):
        ref = keras.get(f"mask{k}")
        if ref is None:
            assert mine is None, f"{what} output {k}: Keras has no mask, ours is {mine}"
        else:
            assert mine is not None, f"{what} output {k}: Keras has mask {ref.astype(int).tolist()}"
            np.testing.assert_array_equal(np.asarray(mine, bool), ref.astype(bool), err_msg=what)
