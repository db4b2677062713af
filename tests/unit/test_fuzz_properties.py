"""Property tests of every reader (hypothesis): a damaged file is read, or refused with our error.

For each of ``.h5``, ``.keras``, SavedModel and TensorBundle (a ``save_weights`` checkpoint),
hypothesis damages a valid file written by purekeras_io: byte overwrites at chosen offsets,
a truncation, or (``.h5``, ``.keras``, SavedModel) one value of the JSON config inside replaced by
a generated JSON value, or a key removed, with the container kept valid (the zip re-written with
fresh CRCs, the HDF5 attribute or the ``keras_metadata.pb`` node rewritten). Reading
(``load_model``; for a checkpoint every tensor through ``BundleReader``, then ``load_weights``)
must succeed or raise a :class:`~purekeras_io.errors.PurekerasError`, never another exception.

Bounded for the suite: about 50 examples per reader, derandomized (the same examples on every
run, no example database). The long runs are ``tools/fuzz.py`` (see ``README.md``). The last
tests reproduce what ``tools/fuzz.py`` found.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import purekeras_io as pk
from purekeras_io._proto.keras import saved_metadata_pb2
from purekeras_io.checkpoint import load_weights
from purekeras_io.errors import FormatError, PurekerasError
from purekeras_io.tensorbundle import BundleReader

L = pk.layers

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(
        ["Dense", "Sequential", "Functional", "InputLayer", "float64", "string", "relu", "x/../y"]
    )
)
JSON = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=10,
)


def _model() -> pk.Model:
    inputs = pk.Input((6,), name="x")
    hidden = L.Dense(4, activation="relu", name="hidden")(inputs)
    hidden = L.BatchNormalization(name="bn")(hidden)
    model = pk.Model(inputs, L.Dense(2, activation="softmax", name="out")(hidden), name="m")
    model.compile(optimizer=pk.optimizers.Adam(), loss="categorical_crossentropy")
    model.optimizer.build(model.trainable_weights)
    model.set_weights([np.full(w.shape, 0.5, np.float32) for w in model.get_weights()])
    return model


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("seeds")
    model = _model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(folder / "m.h5", target="keras2")
        model.save(folder / "m.keras")
        model.save(folder / "sm", save_traces=False)
        model.save_weights(folder / "ck" / "ckpt")
    return {"h5": folder / "m.h5", "keras": folder / "m.keras", "tf": folder / "sm",
            "checkpoint": folder / "ck"}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cases")


# ---------------------------------------------------------------------------- damage


def _damage_bytes(data: bytes, draw: Callable[..., Any]) -> bytes:
    """Overwrites at drawn offsets (1 to 8 bytes), or a truncation."""
    if not data:
        return data
    if draw(st.integers(0, 4)) == 0:
        return data[: draw(st.integers(0, len(data) - 1))]
    out = bytearray(data)
    for offset, value in draw(
        st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(0, 255)),
                 min_size=1, max_size=8)
    ):
        out[offset] = value
    return bytes(out)


def _paths(node: object, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, (*path, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_paths(value, (*path, i)))
    return found


def _damage_json(text: str, draw: Callable[..., Any]) -> str:
    """One value of the document replaced by generated JSON, or one key removed."""
    doc = json.loads(text)
    paths = _paths(doc)[1:]
    if not paths:
        return text
    path = paths[draw(st.integers(0, len(paths) - 1))]
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    if isinstance(parent, dict) and draw(st.integers(0, 5)) == 0:
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(JSON)
    return json.dumps(doc)


def _files(root: Path) -> list[Path]:
    return [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())


def _copy(seed: Path, scratch: Path) -> Path:
    target = Path(tempfile.mkdtemp(dir=scratch)) / seed.name
    if seed.is_dir():
        shutil.copytree(seed, target)
    else:
        shutil.copy(seed, target)
    return target


def _damage_any_file(target: Path, draw: Callable[..., Any]) -> None:
    files = _files(target)
    victim = files[draw(st.integers(0, len(files) - 1))]
    victim.write_bytes(_damage_bytes(victim.read_bytes(), draw))


def _damage_h5_config(target: Path, draw: Callable[..., Any]) -> None:
    with h5py.File(target, "r+") as f:
        name = draw(st.sampled_from(["model_config", "training_config"]))
        text = f.attrs[name]
        f.attrs[name] = _damage_json(text if isinstance(text, str) else text.decode(), draw)


def _rezip(target: Path, change: Callable[[str, bytes], bytes]) -> None:
    with zipfile.ZipFile(target) as zin:
        members = [(info, zin.read(info)) for info in zin.infolist()]
    with zipfile.ZipFile(target, "w") as zout:
        for info, data in members:
            zout.writestr(info, change(info.filename, data))


def _damage_keras_config(target: Path, draw: Callable[..., Any]) -> None:
    name = draw(st.sampled_from(["config.json", "metadata.json"]))
    _rezip(target, lambda member, data: (
        _damage_json(data.decode(), draw).encode() if member == name else data
    ))


def _damage_keras_member(target: Path, draw: Callable[..., Any]) -> None:
    """Bytes of one member damaged, the zip itself valid (its CRCs recomputed)."""
    with zipfile.ZipFile(target) as zin:
        names = sorted(zin.namelist())
    name = draw(st.sampled_from(names))
    _rezip(target, lambda member, data: _damage_bytes(data, draw) if member == name else data)


def _damage_savedmodel_metadata(target: Path, draw: Callable[..., Any]) -> None:
    meta = target / "keras_metadata.pb"
    proto = saved_metadata_pb2.SavedMetadata()
    proto.ParseFromString(meta.read_bytes())
    node = proto.nodes[draw(st.integers(0, len(proto.nodes) - 1))]
    node.metadata = _damage_json(node.metadata, draw)
    meta.write_bytes(proto.SerializeToString())


# ---------------------------------------------------------------------------- reading


def _read_ours_or_refused(read: Callable[[], object]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            read()
        except PurekerasError:
            pass


def _read_checkpoint(folder: Path) -> None:
    with BundleReader(folder / "ckpt") as reader:
        for key in reader.keys():
            reader.get(key)
    load_weights(_model(), folder)


@pytest.fixture()
def case(scratch: Path) -> Iterator[Callable[[Path], Path]]:
    made: list[Path] = []

    def copy(seed: Path) -> Path:
        target = _copy(seed, scratch)
        made.append(target.parent)
        return target

    yield copy
    for folder in made:
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------------------- the properties


@SETTINGS
@given(data=st.data())
def test_damaged_h5_is_read_or_refused(
    seeds: dict[str, Path], scratch: Path, data: st.DataObject
) -> None:
    target = _copy(seeds["h5"], scratch)
    if data.draw(st.booleans()):
        _damage_h5_config(target, data.draw)
    else:
        _damage_any_file(target, data.draw)
    _read_ours_or_refused(lambda: pk.models.load_model(target))
    shutil.rmtree(target.parent)


@SETTINGS
@given(data=st.data())
def test_damaged_keras_is_read_or_refused(
    seeds: dict[str, Path], scratch: Path, data: st.DataObject
) -> None:
    target = _copy(seeds["keras"], scratch)
    how = data.draw(st.sampled_from(["json", "member", "bytes"]))
    if how == "json":
        _damage_keras_config(target, data.draw)
    elif how == "member":
        _damage_keras_member(target, data.draw)
    else:
        _damage_any_file(target, data.draw)
    _read_ours_or_refused(lambda: pk.models.load_model(target))
    shutil.rmtree(target.parent)


@SETTINGS
@given(data=st.data())
def test_damaged_savedmodel_is_read_or_refused(
    seeds: dict[str, Path], scratch: Path, data: st.DataObject
) -> None:
    target = _copy(seeds["tf"], scratch)
    if data.draw(st.booleans()):
        _damage_savedmodel_metadata(target, data.draw)
    else:
        _damage_any_file(target, data.draw)
    _read_ours_or_refused(lambda: pk.models.load_model(target))
    shutil.rmtree(target.parent)


@SETTINGS
@given(data=st.data())
def test_damaged_tensorbundle_is_read_or_refused(
    seeds: dict[str, Path], scratch: Path, data: st.DataObject
) -> None:
    target = _copy(seeds["checkpoint"], scratch)
    _damage_any_file(target, data.draw)
    _read_ours_or_refused(lambda: _read_checkpoint(target))
    shutil.rmtree(target.parent)


# ---------------------------------------------------------------------------- found by fuzz.py


def test_checkpoint_state_file_that_is_not_utf8_is_our_error(seeds: dict[str, Path],
                                                              case: Callable[[Path], Path]) -> None:
    """``tools/fuzz.py --format checkpoint`` (a byte of the ``checkpoint`` file overwritten)
    raised ``UnicodeDecodeError`` from ``read_checkpoint_state``."""
    folder = case(seeds["checkpoint"])
    state = folder / "checkpoint"
    data = bytearray(state.read_bytes())
    data[28] = 0xAA
    state.write_bytes(bytes(data))
    with pytest.raises(FormatError, match=r"checkpoint: not a CheckpointState text file \(byte 28"):
        load_weights(_model(), folder)


def test_checkpoint_state_naming_no_bundle_is_our_error(seeds: dict[str, Path],
                                                        case: Callable[[Path], Path]) -> None:
    """A damaged ``checkpoint`` file naming a prefix that does not exist raised a bare
    ``FileNotFoundError`` (``no checkpoint at <folder>``) instead of naming the state file."""
    folder = case(seeds["checkpoint"])
    state = folder / "checkpoint"
    state.write_bytes(state.read_bytes().replace(b'"ckpt"', b'"ckpu"'))
    with pytest.raises(FormatError, match=r"model_checkpoint_path 'ckpu' names no checkpoint"):
        load_weights(_model(), folder)


def test_keras_member_whose_local_header_points_past_the_end_is_our_error(
    seeds: dict[str, Path], case: Callable[[Path], Path]
) -> None:
    """``tools/fuzz.py --format keras --seed 31`` (4 of 10,000): a flipped high byte of
    ``config.json``'s local-header extra length moves its data past the end of the archive;
    ``zipfile`` raised ``EOFError``, which only the reader's last-resort boundary caught."""
    target = case(seeds["keras"])
    data = bytearray(target.read_bytes())
    with zipfile.ZipFile(target) as zf:
        offset = zf.getinfo("config.json").header_offset
    assert data[offset : offset + 4] == b"PK\x03\x04"
    data[offset + 29] = 0x77  # extra field length += 30464 bytes
    target.write_bytes(bytes(data))
    with pytest.raises(FormatError, match=r"member 'config.json' cannot be read \(its compressed"):
        pk.models.load_model(target)
