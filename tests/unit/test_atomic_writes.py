"""Path targets are written atomically (``purekeras_io._io``): a failed save leaves an existing
file untouched and no temporary files behind; a successful one replaces it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import purekeras_io as pk
from purekeras_io import _io, keras_h5, keras_v3
from purekeras_io.errors import ConfigError
from purekeras_io.keras_h5 import writer as h5_writer
from purekeras_io.keras_v3 import writer as v3_writer


def _model() -> Any:
    return pk.Sequential([pk.layers.Dense(2, input_shape=(3,))], name="atomic")


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_atomic_file_replaces_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "t.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), _io.atomic_file(target) as fh:
        fh.write(b"new, half written")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old" and _listing(tmp_path) == ["t.bin"]
    with _io.atomic_file(target, fsync=True) as fh:
        fh.write(b"new")
    assert target.read_bytes() == b"new" and _listing(tmp_path) == ["t.bin"]
    _io.write_bytes(target, b"again")
    assert target.read_bytes() == b"again"


def test_atomic_path_refuses_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"), _io.atomic_path(tmp_path):
        pass


def test_atomic_dir(tmp_path: Path) -> None:
    target = tmp_path / "d"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), _io.atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("new")
        raise RuntimeError("interrupted")
    assert _listing(target) == ["old.txt"] and _listing(tmp_path) == ["d"]
    with _io.atomic_dir(target, fsync=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert _listing(target) == ["new.txt"] and _listing(tmp_path) == ["d"]


@pytest.mark.parametrize("kind", ["keras", "weights", "h5"])
def test_failed_save_keeps_the_existing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    model = _model()
    name, save, module, attr = {
        "keras": ("m.keras", keras_v3.save, v3_writer, "write_zip"),
        "weights": ("m.weights.h5", keras_v3.save_weights, v3_writer, "_write_parts"),
        "h5": ("m.h5", keras_h5.save, h5_writer, "write_model"),
    }[kind]
    target = tmp_path / name
    save(model, target)
    before = target.read_bytes()

    def boom(fh: Any, *args: Any, **kwargs: Any) -> None:
        if hasattr(fh, "write"):
            fh.write(b"partial")
        raise OSError("disk full")

    with monkeypatch.context() as m:
        m.setattr(module, attr, boom)
        for var in model.weights:
            var.assign(np.ones(var.shape, var.dtype))
        with pytest.raises(OSError, match="disk full"):
            save(model, target)
    assert target.read_bytes() == before and _listing(tmp_path) == [name]
    save(model, target)  # and a good save replaces it
    assert target.read_bytes() != before and _listing(tmp_path) == [name]


@pytest.mark.parametrize("kind", ["tf", "h5", "keras", "ckpt", "h5-weights", "keras-weights"])
def test_fsync_true_flushes_every_format(tmp_path: Path, kind: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """``fsync=True`` (``save_model``/``save_weights`` keyword; SavedModel also through
    ``options.fsync``) flushes the files and the folder; the default flushes nothing."""
    import os as _os

    model = pk.Sequential([pk.layers.Dense(2, input_shape=(3,))])
    calls: list[int] = []
    real = _os.fsync
    monkeypatch.setattr(_os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    path = {"tf": "sm", "h5": "m.h5", "keras": "m.keras", "ckpt": "ck/ckpt",
            "h5-weights": "w.h5", "keras-weights": "w.weights.h5"}[kind]
    for flag in (False, True):
        calls.clear()
        target = tmp_path / str(flag) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if kind in ("tf", "h5", "keras"):
            pk.models.save_model(model, target, fsync=flag)
        else:
            pk.models.save_weights(model, target, fsync=flag)
        assert (len(calls) >= 2) if flag else not calls, (kind, flag, calls)
