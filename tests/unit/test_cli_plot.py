"""``purekeras plot``: DOT text made by us, rendered by the real Graphviz ``dot``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import purekeras_io as pk
from purekeras_io.cli.main import main as purekeras
from purekeras_io.cli.plot import model_to_dot

L = pk.layers


def _multi() -> pk.Model:
    a = pk.Input((5,), name="in_a")
    b = pk.Input((4,), name="in_b")
    inner = pk.Sequential([pk.Input((9,)), L.Dense(3, name="inner_dense")], name="head")
    x = L.Concatenate(name="cat")([L.Dense(6, name="pre_a")(a), L.Dense(3, name="pre_b")(b)])
    return pk.Model([a, b], inner(x), name="two<inputs>&")


def test_sequential_chain_and_shapes() -> None:
    m = pk.Sequential([pk.layers.Dense(5, input_shape=(3,)), pk.layers.Softmax()])
    text = model_to_dot(m)
    names = [la.name for la in m.layers]
    assert "n0 -> n1;" in text
    assert f"<b>{names[0]}</b>" in text and "output: (None, 5)" in text
    assert "input: (None, 3)" in text
    assert "input:" not in model_to_dot(m, show_shapes=False)
    assert "dtype: float32" in model_to_dot(m, show_dtype=True)
    assert "rankdir=LR" in model_to_dot(m, rankdir="LR")


def test_functional_edges_nested_model_escaping_and_determinism() -> None:
    m = _multi()
    text = model_to_dot(m)
    ids = {la.name: f"n{i}" for i, la in enumerate(m.layers)}
    for src, dst in (("in_a", "pre_a"), ("in_b", "pre_b"), ("pre_a", "cat"), ("pre_b", "cat"),
                     ("cat", "head")):
        assert f"{ids[src]} -> {ids[dst]};" in text
    assert "inner_dense" not in text  # a nested model is one box
    assert "two&lt;inputs&gt;&amp;" in text
    assert model_to_dot(m) == text


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is installed by tools/test.sh")
def test_graphviz_renders_every_format(tmp_path: Path) -> None:
    src = tmp_path / "m.keras"
    _multi().save(src)
    for ext in ("dot", "svg", "png"):
        out = tmp_path / f"m.{ext}"
        assert purekeras(["--quiet", "plot", str(src), str(out)]) == 0
    check = subprocess.run(["dot", "-Tsvg", str(tmp_path / "m.dot")], capture_output=True,
                           timeout=60, check=True)
    assert b"<svg" in check.stdout and b"pre_a" in check.stdout
    assert (tmp_path / "m.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"cat" in (tmp_path / "m.svg").read_bytes()
    assert not list(tmp_path.glob("*.tmp-*"))


def test_missing_graphviz_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "m.h5"
    pk.Sequential([pk.layers.Dense(2, input_shape=(3,))]).save(src)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert purekeras(["plot", str(src), str(tmp_path / "m.png")]) == 2
    err = capsys.readouterr().err
    assert "apt install graphviz" in err and ".dot" in err and "Traceback" not in err
    assert purekeras(["--quiet", "plot", str(src), str(tmp_path / "m.dot")]) == 0
    assert purekeras(["plot", str(src), str(tmp_path / "m.jpg")]) == 2
