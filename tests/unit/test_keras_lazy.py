"""Lazy loads of ``.keras``, ``.weights.h5`` and ``.h5``: variables hold
:class:`~purekeras_io.keras_v3.lazy_member.LazyDataset` views of the file, read on first use;
converting a lazily loaded model streams the tensors in slabs."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import purekeras_io as pk
from purekeras_io import layers
from purekeras_io.errors import FormatError
from purekeras_io.keras_v3 import zipstream
from purekeras_io.keras_v3.lazy_member import LazyDataset


def _model() -> Any:
    m = pk.Sequential(
        [layers.Input((32,), name="inp"), layers.Dense(40, name="d1"),
         layers.BatchNormalization(name="bn"), layers.Dense(3, name="d2")],
        name="seq",
    )
    rng = np.random.default_rng(0)
    m.set_weights([rng.standard_normal(w.shape).astype(w.dtype) for w in m.get_weights()])
    return m


def _lazies(m: Any) -> list[LazyDataset]:
    return [v._value for v in m.weights if isinstance(v._value, LazyDataset)]


@pytest.mark.parametrize("ext", [".keras", ".h5", ".weights.h5"])
def test_lazy_load_reads_on_first_use(tmp_path: Path, ext: str) -> None:
    m = _model()
    path = tmp_path / f"m{ext}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if ext == ".weights.h5":
            m.save_weights(path)
            back = _model()
            back.set_weights([np.zeros(w.shape, w.dtype) for w in back.get_weights()])
            back.load_weights(path)
        else:
            m.save(path)
            back = pk.models.load_model(path, verify_crc=False)
    lazies = _lazies(back)
    assert len(lazies) == len(m.weights)
    assert [d.reads for d in lazies] == [0] * len(lazies)
    for a, b in zip(back.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert all(d.reads == 1 for d in lazies)


def test_eager_load_and_file_objects_stay_eager(tmp_path: Path) -> None:
    m = _model()
    m.save(tmp_path / "m.keras")
    eager = pk.models.load_model(tmp_path / "m.keras", lazy=False)
    assert not _lazies(eager)
    with open(tmp_path / "m.keras", "rb") as fh:
        assert not _lazies(pk.keras_v3.load(fh))


def test_lazy_model_converts_in_slabs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """.keras → .h5 and → .keras of a lazily loaded model: each tensor read in row slabs, the
    output the same bytes as from the model in memory."""
    monkeypatch.setattr(zipstream, "STREAM_BLOCK_BYTES", 8 * 40 * 4)  # 8 rows of the kernel
    m = _model()
    m.save(tmp_path / "m.keras")
    m.save(tmp_path / "ref.h5")
    m.save(tmp_path / "ref2.keras")
    back = pk.models.load_model(tmp_path / "m.keras")
    kernel = back.weights[0]._value
    back.save(tmp_path / "out.h5")
    back.save(tmp_path / "out.keras")
    assert kernel.reads == 2 * 4  # 32 rows in 8-row slabs, once per save
    assert all(v.lazy for v in back.weights)
    assert (tmp_path / "out.h5").read_bytes() == (tmp_path / "ref.h5").read_bytes()
    assert (tmp_path / "out.keras").read_bytes() == (tmp_path / "ref2.keras").read_bytes()


def test_replaced_file_keeps_serving_loaded_bytes(tmp_path: Path) -> None:
    m = _model()
    path = tmp_path / "m.keras"
    m.save(path)
    back = pk.models.load_model(path)
    other = _model()
    other.set_weights([np.ones(w.shape, w.dtype) for w in other.get_weights()])
    other.save(path)  # atomic replace: the loaded model still reads the old file
    np.testing.assert_array_equal(back.get_weights()[0], m.get_weights()[0])


def test_out_of_file_offsets_are_refused(tmp_path: Path) -> None:
    from purekeras_io.keras_v3.lazy_member import FileSource

    p = tmp_path / "f.bin"
    p.write_bytes(b"\0" * 100)
    src = FileSource(str(p))
    with pytest.raises(FormatError, match="outside the file"):
        LazyDataset(src, 90, (4,), np.float32)
    d = LazyDataset(src, 84, (4,), np.float32)
    assert d[1:3].shape == (2,) and d[-1] == 0
    src.close()


def _corrupt_first_tensor(tmp_path: Path) -> tuple[Path, Any]:
    m = _model()
    path = tmp_path / "m.keras"
    m.save(path)
    offset = _lazies(pk.models.load_model(path))[0].offset
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    return path, m


@pytest.fixture
def defer_all(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every member counts as large: its CRC check waits for the first tensor read."""
    from purekeras_io.keras_v3 import reader

    monkeypatch.setattr(reader, "CHECK_AT_LOAD_BYTES", 0)


def test_small_member_is_checked_at_load(tmp_path: Path) -> None:
    path, _ = _corrupt_first_tensor(tmp_path)
    with pytest.raises(FormatError, match="CRC-32"):
        pk.models.load_model(path)


@pytest.mark.usefixtures("defer_all")
def test_crc_is_checked_on_first_read_not_at_load(tmp_path: Path) -> None:
    path, m = _corrupt_first_tensor(tmp_path)
    back = pk.models.load_model(path)  # no weight byte read: the damage is not seen yet
    lazies = _lazies(back)
    assert len(lazies) == len(m.weights) and all(d.reads == 0 for d in lazies)
    for _ in range(2):  # the failure is remembered
        with pytest.raises(FormatError, match="CRC-32"):
            back.get_weights()
    with pytest.raises(FormatError, match="CRC"):
        pk.models.load_model(path, verify_crc=True)
    unchecked = pk.models.load_model(path, verify_crc=False).get_weights()
    assert not np.array_equal(unchecked[0], m.get_weights()[0])


@pytest.mark.usefixtures("defer_all")
def test_pending_crc_check_travels_with_a_pickled_tensor(tmp_path: Path) -> None:
    import pickle
    import subprocess
    import sys

    path, _ = _corrupt_first_tensor(tmp_path)
    blob = tmp_path / "t.pkl"
    blob.write_bytes(pickle.dumps(_lazies(pk.models.load_model(path))[-1]))  # an intact tensor
    code = (
        "import pickle,sys,numpy as np\n"
        "from purekeras_io.errors import FormatError\n"
        "t = pickle.loads(open(sys.argv[1], 'rb').read())\n"
        "try:\n    np.asarray(t)\nexcept FormatError as e:\n    print('refused', e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(blob)], capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("refused") and "CRC-32" in out


@pytest.mark.usefixtures("defer_all")
def test_intact_file_checks_once(tmp_path: Path) -> None:
    m = _model()
    m.save(tmp_path / "m.keras")
    back = pk.models.load_model(tmp_path / "m.keras")
    source = _lazies(back)[0].source
    assert source.pending is not None
    for a, b in zip(back.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert source.pending is None
