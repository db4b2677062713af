"""The README's seed example, word for word, checked by the real loaders of every format.

``model.save(path)`` as SavedModel, ``.h5`` and ``.keras``, and ``model.save_weights(prefix)``;
then tf_keras 2.21 (SavedModel, ``.h5``, checkpoint), ``tf.saved_model.load``, Keras 3.15.1
(``.h5``, ``.keras``) and ``tf.train.Checkpoint(model=…).restore`` must give our predictions;
our own ``load_model`` too. One oracle process for everything.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import purekeras_io as pk

pytestmark = pytest.mark.oracle

LOADERS = (
    "tf_keras_savedmodel",
    "tf_keras_h5",
    "keras3_h5",
    "keras3_keras",
    "tf_keras_load_weights",
    "tf_checkpoint_restore",
)


@pytest.fixture(scope="module")
def seed(oracle: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("seed")
    model = pk.Sequential([pk.layers.Dense(5, input_shape=(3,)), pk.layers.Softmax()])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(d / "model")
        model.save(d / "model.h5")
        model.save(d / "model.keras")
    model.save_weights(d / "ckpt" / "ckpt")
    x = np.random.uniform(size=(10, 3)).astype("float32")
    np.save(d / "x.npy", x)
    np.save(d / "expected.npy", model.predict(x))
    (d / "model_keras2.json").write_text(model.to_json("keras2"))
    results = oracle.run("seed_every_format", {"dir": str(d)})
    return {"dir": d, "model": model, "x": x, "results": results}


@pytest.mark.parametrize("loader", LOADERS)
def test_real_loader_predicts_what_we_predict(seed: dict[str, Any], loader: str) -> None:
    result = seed["results"][loader]
    assert "error" not in result, result.get("error")
    assert result["diff"] < 1e-6


def test_tf_keras_revives_the_same_class_and_layers(seed: dict[str, Any]) -> None:
    result = seed["results"]["tf_keras_savedmodel"]
    assert result["class"] == "Sequential"
    assert result["layers"] == [layer.name for layer in seed["model"].layers]


def test_tf_saved_model_load_opens_it(seed: dict[str, Any]) -> None:
    assert seed["results"]["tf_saved_model_load"] == {"opened": True}


@pytest.mark.parametrize("name", ["model", "model.h5", "model.keras"])
def test_we_load_our_own_files(seed: dict[str, Any], name: str) -> None:
    loaded = pk.models.load_model(Path(seed["dir"]) / name)
    assert np.allclose(seed["model"].predict(seed["x"]), loaded.predict(seed["x"]))
