"""``from_torch``: PyTorch models → our models → every file format → the real Keras loaders.

One ``torchvision`` oracle process (torch 2.14.1 + torchvision 0.29.1, no TF; purekeras_io from
this repository) builds eight models with seeded random weights in eval mode (an MLP, a small
CNN with BatchNorm and pooling, ResNet-18, MobileNetV3-Small with randomized BatchNorm
statistics, an LSTM and a 2-layer bidirectional GRU text classifier with Embedding, a 2-layer
``nn.TransformerEncoder``, one model of the remaining ops), imports them with ``from_torch``,
compares our NumPy ``predict`` with torch's forward and saves ``.keras``, ``.h5`` and a
SavedModel. Then one ``tf`` oracle process loads every file (tf_keras 2.21: ``.h5`` and the
SavedModel; Keras 3.15.1: ``.keras`` and ``.h5``) and compares its predictions with torch's:
max|diff| / max|torch| < 1e-4 in float64.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from importer_oracle_helpers import check_loaded

pytestmark = pytest.mark.oracle

MODELS = ("mlp", "cnn", "resnet18", "mobilenet_v3_small", "lstm_text", "gru_text", "transformer",
          "misc")
LOADERS = ("tf_keras_h5", "tf_keras_savedmodel", "keras3_keras", "keras3_h5",
           "keras3_h5_target_keras3")
TOLERANCE = 1e-4
ROOT = Path(__file__).resolve().parents[2]

# (model, loader) pairs a real loader cannot take, with the reason.
CANNOT = {
    ("transformer", "keras3_h5"): (
        "a default-target .h5 with MultiHeadAttention is tf_keras' form: tf_keras needs "
        "query_shape/key_shape/value_shape in the config and Keras 3.15.1 refuses them "
        "(the target='keras3' .h5 of the same model loads)"
    ),
    ("misc", "keras3_h5"): (
        "x.sum(dim=1) is an operator layer; Keras 3.15.1's .h5 loader deserializes none "
        "(Unknown layer: 'TFOpLambda'); its .keras loader and tf_keras load it"
    ),
    ("misc", "keras3_h5_target_keras3"): (
        "x.sum(dim=1) is an operator layer; Keras 3.15.1's .h5 loader deserializes none "
        "(Unknown layer: 'Sum'); its .keras loader and tf_keras load it"
    ),
}


@pytest.fixture(scope="module")
def imported(oracle_torchvision: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d: Path = tmp_path_factory.mktemp("importers_torch")
    result: dict[str, Any] = oracle_torchvision.run(
        "importers_torch_build", {"dir": str(d)}, env={"PYTHONPATH": str(ROOT)}
    )
    result["dir"] = d
    return result


@pytest.fixture(scope="module")
def loaded(oracle: Any, imported: dict[str, Any]) -> dict[str, Any]:
    dirs = {name: str(imported["dir"] / name) for name in MODELS
            if "convert" not in imported["models"][name]["errors"]}
    result: dict[str, Any] = oracle.run("importers_keras_check", {"dirs": dirs})
    return result


@pytest.mark.parametrize("name", MODELS)
def test_our_predictions_equal_torch(imported: dict[str, Any], name: str) -> None:
    entry = imported["models"][name]
    assert "convert" not in entry["errors"], entry["errors"]["convert"]
    assert entry["rel"] < TOLERANCE, entry


@pytest.mark.parametrize("name", MODELS)
def test_every_format_is_written(imported: dict[str, Any], name: str) -> None:
    entry = imported["models"][name]
    assert entry["errors"] == {}, entry["errors"]
    assert entry["saved"] == ["model.keras", "model.h5", "model", "model_keras3.h5"]


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize("name", MODELS)
def test_real_loader_predicts_what_torch_predicts(
    loaded: dict[str, Any], name: str, loader: str
) -> None:
    check_loaded(loaded[name][loader], (name, loader), CANNOT, TOLERANCE)


@pytest.mark.parametrize("variant", ["keep_input_layout", "channels_first"])
def test_layout_options_predict_what_torch_predicts(imported: dict[str, Any], variant: str) -> None:
    """NCHW inputs: one Permute after the input, or NCHW layers throughout (ours only: TF's CPU
    kernels cannot run channels-first convolutions)."""
    assert imported["variants"][variant] < TOLERANCE


def test_bn_statistics_matter(imported: dict[str, Any]) -> None:
    """The CNNs use BatchNormalization with randomized statistics, not an identity."""
    for name in ("cnn", "resnet18", "mobilenet_v3_small"):
        assert "BatchNormalization" in imported["models"][name]["classes"]


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("reflect_padding", ["padding_mode='reflect'", "module 'conv' (Conv2d)",
                             "importers_torch_build.py"]),
        ("time_major_lstm", ["batch_first=False", "(LSTM)"]),
        ("control_flow", ["cannot trace Branchy", "control flow"]),
        ("unknown_function", ["'torch.sort'", "importers_torch_build.py",
                              "torch.sort(x, dim=1)"]),
    ],
)
def test_refusals_name_the_op_and_its_source(
    imported: dict[str, Any], case: str, words: list[str]
) -> None:
    message = imported["refusals"][case]
    assert message.startswith("UnsupportedFeatureError: from_torch:"), message
    for word in words:
        assert word in message, message
