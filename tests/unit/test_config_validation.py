"""The config parser trusts nothing: every value read from a file's config is checked before use,
and a damaged one gives ``ConfigError``/``FormatError`` naming the file, the key path and the
value (``model/validate.py``, ``model/config_schema.py``)."""

from __future__ import annotations

import json
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import purekeras_io as pk
from purekeras_io import optimizers
from purekeras_io._proto.keras import saved_metadata_pb2
from purekeras_io.errors import ConfigError, FormatError
from purekeras_io.model import config_schema, validate
from purekeras_io.model.layer import LAYER_CLASSES
from purekeras_io.model.serialize import model_from_config


def _model() -> pk.Model:
    inputs = pk.Input((6,), name="x")
    hidden = pk.layers.Dense(4, activation="relu", name="hidden")(inputs)
    model = pk.Model(inputs, pk.layers.Dense(2, name="out")(hidden))
    model.compile(optimizer=pk.optimizers.Adam(), loss="mse")
    return model


def _config(dialect: str = "keras3") -> dict[str, Any]:
    return json.loads(_model().to_json(dialect=dialect) if dialect else _model().to_json())


def _set_units(doc: dict[str, Any], value: Any) -> dict[str, Any]:
    for entry in doc["config"]["layers"]:
        if entry["class_name"] == "Dense" and entry["config"]["name"] == "hidden":
            entry["config"]["units"] = value
    return doc


# ---------------------------------------------------------------- one damaged value, every format


def _save_all(tmp_path: Path) -> dict[str, Path]:
    model = _model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(tmp_path / "m.h5", target="keras2")
        model.save(tmp_path / "m.keras")
        model.save(tmp_path / "sm", save_traces=False)
    return {"h5": tmp_path / "m.h5", "keras": tmp_path / "m.keras", "tf": tmp_path / "sm"}


def _edit_h5(path: Path, edit: Any) -> None:
    with h5py.File(path, "r+") as f:
        doc = json.loads(f.attrs["model_config"])
        f.attrs["model_config"] = json.dumps(edit(doc)).encode()


def _edit_keras(path: Path, edit: Any) -> None:
    with zipfile.ZipFile(path) as zin:
        members = [(info, zin.read(info)) for info in zin.infolist()]
    with zipfile.ZipFile(path, "w") as zout:
        for info, data in members:
            if info.filename == "config.json":
                data = json.dumps(edit(json.loads(data))).encode()
            zout.writestr(info, data)


def _edit_savedmodel(path: Path, edit: Any) -> None:
    meta_path = path / "keras_metadata.pb"
    proto = saved_metadata_pb2.SavedMetadata()
    proto.ParseFromString(meta_path.read_bytes())
    root = json.loads(proto.nodes[0].metadata)
    root["model_config"] = edit(root["model_config"])
    proto.nodes[0].metadata = json.dumps(root)
    meta_path.write_bytes(proto.SerializeToString())


_EDITORS = {"h5": _edit_h5, "keras": _edit_keras, "tf": _edit_savedmodel}
_WHERE = {"h5": "m.h5", "keras": "m.keras", "tf": "keras_metadata.pb"}
_ROOT = {"h5": "", "keras": "", "tf": "model_config."}


@pytest.mark.parametrize("fmt", sorted(_EDITORS))
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (-3, "a positive integer"),
        ("four", "a positive integer"),
        (2**40, "a positive integer"),
        (None, "a positive integer"),
        ([4], "a positive integer"),
    ],
)
def test_damaged_value_names_file_key_path_and_value(
    tmp_path: Path, fmt: str, value: Any, expected: str
) -> None:
    path = _save_all(tmp_path)[fmt]
    _EDITORS[fmt](path, lambda doc: _set_units(doc, value))
    with pytest.raises(FormatError) as info:
        pk.models.load_model(path)
    message = str(info.value)
    assert _WHERE[fmt] in message
    assert f"{_ROOT[fmt]}config.layers[1].config.units: expected {expected}" in message
    assert repr(value)[:20] in message
    assert info.value.__cause__ is None  # ours, not a wrapped foreign exception


@pytest.mark.parametrize("fmt", sorted(_EDITORS))
def test_deep_json_is_refused_quickly(tmp_path: Path, fmt: str) -> None:
    path = _save_all(tmp_path)[fmt]
    deep = "[" * 100_000 + "]" * 100_000
    if fmt == "h5":
        with h5py.File(path, "r+") as f:
            f.attrs["model_config"] = deep.encode()
    elif fmt == "keras":
        with zipfile.ZipFile(path) as zin:
            members = [(i, zin.read(i)) for i in zin.infolist()]
        with zipfile.ZipFile(path, "w") as zout:
            for info, data in members:
                zout.writestr(info, deep.encode() if info.filename == "config.json" else data)
    else:
        meta_path = path / "keras_metadata.pb"
        proto = saved_metadata_pb2.SavedMetadata()
        proto.ParseFromString(meta_path.read_bytes())
        proto.nodes[0].metadata = deep
        meta_path.write_bytes(proto.SerializeToString())
    start = time.perf_counter()
    with pytest.raises(FormatError, match="nested deeper than 100 levels"):
        pk.models.load_model(path)
    assert time.perf_counter() - start < 1.0


def test_moderately_deep_json_is_refused() -> None:
    """Deeper than the limit but shallow enough for Python's parser: refused by the depth walk."""
    with pytest.raises(FormatError, match="nested deeper than 100 levels"):
        validate.load_json("[" * 150 + "]" * 150, "doc")
    assert validate.load_json("[" * 50 + "]" * 50, "doc") is not None


@pytest.mark.parametrize("fmt", ["h5", "keras"])
def test_huge_json_is_refused_quickly(tmp_path: Path, fmt: str) -> None:
    path = _save_all(tmp_path)[fmt]
    huge = b'{"class_name": "Sequential", "config": {"name": "' + b"x" * (200 << 20) + b'"}}'
    if fmt == "h5":
        with h5py.File(path, "r+") as f:
            f.attrs["model_config"] = huge
    else:
        with zipfile.ZipFile(path) as zin:
            members = [(i, zin.read(i)) for i in zin.infolist()]
        with zipfile.ZipFile(path, "w") as zout:
            for info, data in members:
                zout.writestr(info, huge if info.filename == "config.json" else data)
        del members
    start = time.perf_counter()
    with pytest.raises(FormatError, match="bytes of JSON, more than the"):
        pk.models.load_model(path)
    # .keras: refused from the zip directory's size. .h5: HDF5 gives a variable-length string's
    # size only by reading it (about 1.5 s for 200 MB here); memory stays bounded by the file.
    assert time.perf_counter() - start < (1.0 if fmt == "keras" else 4.0)
    path.unlink()


# ---------------------------------------------------------------- the graph structure


def test_duplicate_layer_names_are_refused() -> None:
    doc = _config()
    doc["config"]["layers"][2]["name"] = "hidden"
    doc["config"]["layers"][2]["config"]["name"] = "hidden"
    with pytest.raises(ConfigError, match=r"config\.layers\[2\]\.name: layer name 'hidden' is "
                       r"used twice \(also by config\.layers\[1\]\)"):
        model_from_config(doc)


def test_tensor_index_out_of_range() -> None:
    doc = _config()
    node = doc["config"]["layers"][2]["inbound_nodes"][0]
    node["args"][0]["config"]["keras_history"] = ["hidden", 0, 5]
    with pytest.raises(ConfigError, match=r"config\.layers\[2\]\.inbound_nodes\[0\]\.args\[0\]"
                       r"\.config\.keras_history: tensor 5 of layer 'hidden' node 0 does not "
                       r"exist"):
        model_from_config(doc)


def test_layer_called_on_constants_only_is_refused() -> None:
    """A node without any tensor of the model would run the NumPy forward pass at load time."""
    doc = _config()
    doc["config"]["layers"][1]["inbound_nodes"][0]["args"] = [[[1.0] * 6]]
    with pytest.raises(ConfigError, match=r"config\.layers\[1\]\.inbound_nodes\[0\]: layer "
                       r"'hidden' is called on no tensor"):
        model_from_config(doc)


def test_bad_reference_shape() -> None:
    doc = _config("keras2")
    doc["config"]["output_layers"] = [["out", "zero", 0]]
    with pytest.raises(ConfigError, match=r"config\.output_layers\[0\]\[1\]: expected a "
                       r"non-negative integer, received 'zero'"):
        model_from_config(doc)


def test_layer_that_does_not_fit_its_input_names_the_node() -> None:
    doc = _config()
    doc["config"]["layers"][0]["config"]["batch_shape"] = []
    del doc["config"]["layers"][1]["build_config"]
    with pytest.raises(ConfigError, match=r"config\.layers\[1\]\.inbound_nodes\[0\]: layer "
                       r"'hidden' \(Dense\) cannot be called on its inputs"):
        model_from_config(doc)


def test_python_config_nested_too_deeply() -> None:
    doc: Any = {"class_name": "Sequential", "config": {"name": "s", "layers": []}}
    deep: Any = []
    for _ in range(200):
        deep = [deep]
    doc["config"]["extra"] = deep
    with pytest.raises(ConfigError, match="nested deeper than 100 levels"):
        model_from_config(doc)


# ---------------------------------------------------------------- values, one kind each


@pytest.mark.parametrize(
    ("class_name", "key", "value", "expected"),
    [
        ("Conv2D", "kernel_size", [3, -1], "a positive integer or a list of them"),
        ("Conv2D", "padding", "middle", "one of ['valid', 'same', 'causal']"),
        ("Conv2D", "data_format", "nchw", "null or one of ['channels_last', 'channels_first']"),
        ("Dropout", "rate", 1.5, "a finite number in [0, 1]"),
        ("Dropout", "rate", float("nan"), "a finite number in [0, 1]"),
        ("Dense", "use_bias", "yes", "true or false"),
        ("Dense", "kernel_initializer", {"class_name": "Nonsense"}, "a known initializer"),
        ("Dense", "kernel_initializer", {"class_name": "RandomNormal",
                                         "config": {"stddev": "wide"}}, "a finite number"),
        ("Dense", "kernel_initializer", {"class_name": "GlorotUniform",
                                         "config": {"seed": -4}}, "integer in [0,"),
        ("Dense", "kernel_regularizer", 7, "null, a name or a serialized regularizer"),
        ("Dense", "activation", 7, "an activation name or a serialized function"),
        ("Dense", "dtype", 7, "a dtype name or a DTypePolicy"),
        ("Reshape", "target_shape", [2, "x"], "null or an integer"),
        ("Embedding", "input_dim", 0, "a positive integer"),
        ("BatchNormalization", "axis", "last", "an integer in [-64, 64] or a list of them"),
        ("ZeroPadding2D", "padding", [[1, -1], [0, 0]], "a non-negative int"),
        ("Normalization", "mean", ["a"], "a nested list of numbers or a __numpy__ object"),
    ],
)
def test_layer_value_checks(class_name: str, key: str, value: Any, expected: str) -> None:
    cls = LAYER_CLASSES[class_name]
    with pytest.raises(ConfigError) as info:
        config_schema.check_layer_config(cls, {key: value}, "config.layers[3].config")
    message = str(info.value)
    assert message.startswith(f"config.layers[3].config.{key}")
    assert expected in message, message


def test_required_keys_are_named() -> None:
    with pytest.raises(ConfigError, match=r"config\.units: expected a positive integer \(the "
                       r"key is required\), received None"):
        config_schema.check_layer_config(LAYER_CLASSES["Dense"], {"name": "d"}, "config")


def test_values_are_narrowed() -> None:
    config = {"units": 4.0, "use_bias": 1}
    config_schema.check_layer_config(LAYER_CLASSES["Dense"], config, "c")
    assert config == {"units": 4, "use_bias": True}
    assert isinstance(config["units"], int)


def test_statistics_may_hold_nan_and_inf() -> None:
    """Normalization statistics are data: degenerate values load (predict handles them)."""
    config = {"mean": [float("nan"), 1.0], "variance": [float("inf"), -1.0]}
    config_schema.check_layer_config(LAYER_CLASSES["Normalization"], config, "c")


def test_every_catalog_key_has_a_check() -> None:
    """New layer keys must say what they accept (a None default without an entry takes any
    JSON, which is only right for values kept as data)."""
    as_data = {"quantization_config", "adjustment"}
    loose = set()
    for name, cls in LAYER_CLASSES.items():
        if getattr(cls, "config_is_data", False):
            continue
        for key in [*cls.defaults, *cls.keras2_only]:
            if isinstance(config_schema.key_check(cls, key), validate.Json) and key not in as_data:
                loose.add((name, key))
    assert not loose, sorted(loose)


# ---------------------------------------------------------------- optimizers and compile


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"class_name": "Adam", "config": {"beta_1": "high"}},
         r"optimizer_config\.config\.beta_1: expected a finite number, received 'high'"),
        ({"class_name": "Adam", "config": {"learning_rate": -1}},
         r"optimizer_config\.config\.learning_rate: expected a finite number in \[0, inf\]"),
        ({"class_name": "Adam", "config": {"learning_rate": {"class_name": 3}}},
         r"optimizer_config\.config\.learning_rate: expected"),
        ({"class_name": "Adam", "config": {"amsgrad": "no"}},
         r"optimizer_config\.config\.amsgrad: expected true or false"),
        ({"class_name": 7, "config": {}}, r"optimizer_config\.class_name: expected a non-empty"),
        ({"class_name": "Adam", "config": [1]}, r"optimizer_config\.config: expected an object"),
        ({"class_name": "Adam", "config": {"bogus": 1}},
         r"optimizer_config\.config: Adam config: unknown key\(s\) \['bogus'\]"),
    ],
)
def test_optimizer_values(config: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        optimizers.deserialize(config, "optimizer_config")


def test_compile_config_values(tmp_path: Path) -> None:
    path = _save_all(tmp_path)["h5"]
    with h5py.File(path, "r+") as f:
        doc = json.loads(f.attrs["training_config"])
        doc["steps_per_execution"] = "many"
        f.attrs["training_config"] = json.dumps(doc).encode()
    with pytest.raises(FormatError, match=r"m\.h5:/: 'training_config': steps_per_execution: "
                       r"expected null or a positive integer, received 'many'"):
        pk.models.load_model(path)


def test_damaged_optimizer_in_h5_loads_uncompiled_with_a_warning(tmp_path: Path) -> None:
    path = _save_all(tmp_path)["h5"]
    with h5py.File(path, "r+") as f:
        doc = json.loads(f.attrs["training_config"])
        doc["optimizer_config"]["config"]["epsilon"] = [1]
        f.attrs["training_config"] = json.dumps(doc).encode()
    with pytest.warns(UserWarning, match=r"optimizer_config\.config\.epsilon: expected a finite"):
        model = pk.models.load_model(path)
    assert model.optimizer is None
    assert np.allclose(model.predict(np.ones((1, 6), np.float32)).shape, (1, 2))


def test_model_from_json_limits() -> None:
    with pytest.raises(ConfigError, match="nested deeper than 100 levels"):
        pk.models.model_from_json("[" * 5000 + "]" * 5000)
