"""Progress bars of ``convert`` (bytes written to our temporaries, polled) and ``verify``
(tensors checked): on a terminal only, never with ``--quiet`` or when piped."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

import purekeras_io as pk
from purekeras_io.cli.ui import UI


class _TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(scope="module")
def model() -> pk.Model:
    m = pk.Sequential([pk.layers.Dense(2000, input_shape=(4000,)), pk.layers.Dense(2000)])
    m.set_weights([np.ones(w.shape, np.float32) for w in m.get_weights()])
    return m


@pytest.mark.parametrize("fmt, name", [("tf", "sm"), ("h5", "m.h5"), ("keras", "m.keras"),
                                       ("checkpoint", "ck/ckpt")])
def test_write_progress_counts_the_bytes_of_every_format(model: pk.Model, tmp_path: Path,
                                                         fmt: str, name: str) -> None:
    dst = str(tmp_path / name)
    total = sum(int(np.prod(w.shape)) * 4 for w in model.weights)
    err = _TTY()
    with UI(err=err).write_progress(dst, total, delay=0, interval=0.002):
        if fmt == "checkpoint":
            pk.models.save_weights(model, dst)
        else:
            pk.models.save_model(model, dst, save_format=fmt)
    frames = [f for f in err.getvalue().split("\r") if "writing" in f]
    assert frames, err.getvalue()
    assert any(not f.strip().startswith("writing:   0%") for f in frames), frames


def test_no_bar_when_piped_or_quiet(tmp_path: Path) -> None:
    for ui in (UI(err=io.StringIO()), UI(err=_TTY(), quiet=True)):
        with ui.write_progress(str(tmp_path / "x"), 10, delay=0):
            pass
        assert ui.err.getvalue() == ""
        assert list(ui.progress(range(3), 3)) == [0, 1, 2]
        assert ui.err.getvalue() == ""
