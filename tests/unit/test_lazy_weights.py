"""Lazy weights (a Dask array) are written by every format without being read whole, give the
bytes of the same weights in memory, and come back lazy from a checkpoint or SavedModel."""

from __future__ import annotations

import filecmp
import zipfile
from pathlib import Path

import dask.array as da
import numpy as np
import pytest

import purekeras_io as pk
from purekeras_io.model.variable import Variable

W = da.random.RandomState(0).random_sample((1000, 64), chunks=(100, 64)).astype("float32")


def _model(kernel: object) -> pk.Sequential:
    model = pk.Sequential(
        [pk.layers.Dense(64, input_shape=(1000,), name="d"), pk.layers.Softmax(name="s")],
        name="m",
    )
    model.layers[0].kernel.assign(kernel)
    model.layers[0].bias.assign(np.zeros(64, "float32"))
    return model


@pytest.mark.parametrize("target", ["ckpt/m", "sm", "m.keras", "m.h5"])
def test_lazy_weights_stay_unread_and_give_the_same_bytes(
    tmp_path: Path, target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = []
    original = Variable.value.fget
    assert original is not None

    def spy(self: Variable) -> object:
        if self.lazy:
            read.append(self.path)
        return original(self)

    monkeypatch.setattr(Variable, "value", property(spy, Variable.value.fset))
    for tag in ("lazy", "eager"):
        (tmp_path / tag).mkdir()
    lazy = _model(W)
    save = lazy.save_weights if target.startswith("ckpt") else lazy.save
    save(str(tmp_path / "lazy" / target))
    assert read == [] and lazy.layers[0].kernel.lazy
    monkeypatch.undo()
    eager = _model(W.compute())
    save = eager.save_weights if target.startswith("ckpt") else eager.save
    save(str(tmp_path / "eager" / target))
    if target in ("ckpt/m", "sm"):  # TensorBundle bytes (the SavedModel's variables/)
        parts = ["m.index", "m.data-00000-of-00001"] if target == "ckpt/m" else [
            "variables/variables.index", "variables/variables.data-00000-of-00001"]
        folder = Path(target).parent if target == "ckpt/m" else Path(target)
        for part in parts:
            assert filecmp.cmp(tmp_path / "lazy" / folder / part,
                               tmp_path / "eager" / folder / part, shallow=False), part
    elif target == "m.keras":  # the weights member (config.json numbers the input layer)
        def member(tag: str) -> bytes:
            with zipfile.ZipFile(tmp_path / tag / target) as archive:
                return archive.read("model.weights.h5")

        assert member("lazy") == member("eager")
    else:
        assert filecmp.cmp(tmp_path / "lazy" / target, tmp_path / "eager" / target,
                           shallow=False)


def test_checkpoint_and_savedmodel_load_lazily(tmp_path: Path) -> None:
    ref = W.compute()
    model = _model(ref)
    model.save_weights(str(tmp_path / "ckpt" / "m"))
    model.save(str(tmp_path / "sm"))
    again = _model(np.zeros((1000, 64), "float32"))
    again.load_weights(str(tmp_path / "ckpt" / "m"))
    loaded = pk.models.load_model(str(tmp_path / "sm"))
    for m in (again, loaded):
        kernel = m.layers[0].kernel
        assert kernel.lazy and type(kernel.array_like()).__name__ == "LazyTensor"
        assert np.array_equal(kernel.value, ref)
