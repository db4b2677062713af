"""The ``purekeras`` command line, run in-process (``main(argv)``) and once as a subprocess, on
files the library writes: format detection from content, inspect, errors without tracebacks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import purekeras_io as pk
from purekeras_io.cli import main
from purekeras_io.cli.detect import detect

ROOT = Path(__file__).resolve().parents[2]


def run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _seq(seed: int = 0) -> pk.Sequential:
    pk.initializers.seed(seed)
    m = pk.Sequential([pk.layers.Dense(4, input_shape=(3,), name="hidden"),
                       pk.layers.Dense(2, name="out")], name="seq")
    m.compile(optimizer=pk.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    opt = m.optimizer
    assert opt is not None
    opt.build(m.trainable_weights)
    rng = np.random.default_rng(seed)
    opt.set_state(7, [{s.keras3: rng.normal(size=v.shape).astype("float32")
                       for s in opt.active_slots()} for v in m.trainable_weights])
    return m


def _functional() -> pk.Functional:
    a = pk.Input((3,), name="a")
    b = pk.Input((2,), name="b")
    x = pk.layers.Concatenate(name="cat")([a, b])
    y = pk.layers.Dense(1, name="y")(x)
    return pk.Model([a, b], y, name="two_in")


@pytest.fixture(scope="module")
def files(tmp_path_factory: Any) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cli")
    m = _seq()
    out = {
        "sm": d / "sm",
        "h5": d / "m.h5",
        "h5k2": d / "k2.h5",
        "keras": d / "m.keras",
        "ckpt": d / "ck" / "ckpt",
        "func": d / "f.keras",
        "noext": d / "model_without_extension",
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.save(out["sm"], save_format="tf")
        m.save(out["h5"])
        pk.models.save_model(m, out["h5k2"], target="keras2")
        m.save(out["keras"])
        m.save_weights(out["ckpt"])
        _functional().save(out["func"])
    shutil.copy(out["keras"], out["noext"])
    return out


def test_detect_from_content(files: dict[str, Path]) -> None:
    assert detect(files["sm"]).format == "savedmodel"
    assert detect(files["sm"] / "saved_model.pb").format == "savedmodel"
    assert detect(files["h5"]).format == "h5"
    assert detect(files["keras"]).format == "keras"
    assert detect(files["noext"]).format == "keras"  # a zip, whatever the name says
    ck = detect(files["ckpt"])
    assert ck.format == "checkpoint" and ck.path == str(files["ckpt"])
    assert detect(str(files["ckpt"]) + ".index").path == str(files["ckpt"])
    assert detect(files["ckpt"].parent).path == str(files["ckpt"])  # via the state file
    assert detect(files["sm"] / "variables" / "variables").format == "checkpoint"


def test_inspect_text(capsys: Any, files: dict[str, Path]) -> None:
    code, out, err = run(capsys, "inspect", str(files["h5k2"]))
    assert code == 0, err
    assert "hidden" in out and "Dense" in out and "(None, 4)" in out
    assert "params: 26 total, 26 trainable" in out
    assert "optimizer: Adam" in out and "iterations 7" in out


@pytest.mark.parametrize("key", ["sm", "h5k2", "keras"])
def test_inspect_json_model(capsys: Any, files: dict[str, Path], key: str) -> None:
    code, out, _ = run(capsys, "inspect", "--json", str(files[key]))
    assert code == 0
    rep = json.loads(out)
    m = rep["model"]
    assert [la["name"] for la in m["layers"]] == ["hidden", "out"]
    assert [la["params"] for la in m["layers"]] == [16, 10]
    assert m["layers"][1]["output_shape"] == [None, 2]
    assert m["totals"]["params"] == 26
    assert m["compile"]["loss"] == "mse"
    opt = m["optimizer"]
    assert opt["class"] == "Adam" and opt["iterations"] == 7
    shapes = [v["shape"] for v in opt["variables"]]
    assert [3, 4] in shapes and [2] in shapes
    assert rep["total_bytes"] == sum(f["bytes"] for f in rep["files"]) > 0


def test_inspect_savedmodel_signatures(capsys: Any, files: dict[str, Path]) -> None:
    _code, out, _ = run(capsys, "inspect", "--json", str(files["sm"]))
    sm = json.loads(out)["savedmodel"]
    sig = sm["meta_graphs"][0]["signatures"]["serving_default"]
    (spec,) = sig["inputs"].values()
    assert spec["shape"] == [None, 3] and spec["dtype"] == "float32"
    keys = {v["key"] for v in sm["variables"]}
    assert "_CHECKPOINTABLE_OBJECT_GRAPH" in keys


def test_inspect_savedmodel_without_keras_metadata(capsys: Any, files: dict[str, Path],
                                                   tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    shutil.copytree(files["sm"], plain)
    (plain / "keras_metadata.pb").unlink()
    code, out, err = run(capsys, "inspect", str(plain))
    assert code == 0, err
    assert "keras_metadata.pb absent" in out and "serving_default" in out
    assert "model:" not in out


def test_inspect_checkpoint_and_functional(capsys: Any, files: dict[str, Path]) -> None:
    code, out, _ = run(capsys, "inspect", "--json", str(files["ckpt"]))
    assert code == 0
    keys = {t["key"]: t for t in json.loads(out)["checkpoint"]["tensors"]}
    assert any(k.endswith("kernel/.ATTRIBUTES/VARIABLE_VALUE") for k in keys)
    _code, out, _ = run(capsys, "inspect", "--json", str(files["func"]))
    m = json.loads(out)["model"]
    assert [i["name"] for i in m["inputs"]] == ["a", "b"]
    assert next(la for la in m["layers"] if la["name"] == "cat")["inbound"] == ["a", "b"]


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["inspect", "/no/such/file"], "no such file"),
        (["inspect", "{readme}"], "not a SavedModel directory"),
    ],
)
def test_user_errors_one_line(capsys: Any, argv: list[str], needle: str) -> None:
    argv = [a.format(readme=ROOT / "README.md") for a in argv]
    code, _out, err = run(capsys, *argv)
    assert code == 2
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err


def test_debug_shows_traceback(capsys: Any) -> None:
    code, _, err = run(capsys, "--debug", "inspect", "/no/such/file")
    assert code == 2 and "Traceback" in err


def test_help_for_each_verb(capsys: Any) -> None:
    from purekeras_io.cli.main import VERBS

    for verb in VERBS:
        with pytest.raises(SystemExit) as exc:
            main([verb, "--help"])
        assert exc.value.code == 0
        assert "usage: purekeras " + verb in capsys.readouterr().out


def test_module_entry_point_and_demo(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "purekeras_io", "demo", str(tmp_path)],
                          capture_output=True, text=True, env=env, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("predictions equal") == 3
    proc = subprocess.run([sys.executable, "-m", "purekeras_io", "inspect",
                           str(tmp_path / "seed.keras")],
                          capture_output=True, text=True, env=env, cwd=str(ROOT))
    assert proc.returncode == 0 and "softmax" in proc.stdout, proc.stderr


# ------------------------------------------------------------------ convert and diff


def _load(path: Path) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pk.models.load_model(path)


def _same_state(a: Any, b: Any) -> None:
    assert a.optimizer.iterations == b.optimizer.iterations
    for x, y in zip(a.optimizer.flat_slots(), b.optimizer.flat_slots()):
        np.testing.assert_array_equal(x[2], y[2])
    for x, y in zip(a.weights, b.weights):
        np.testing.assert_array_equal(x.value, y.value)


@pytest.mark.parametrize(
    "src, dst, extra",
    [
        ("sm", "out.keras", []),
        ("keras", "out.h5", ["--target", "keras2"]),
        ("h5k2", "out_sm", []),
        ("keras", "out_noext", ["--format", "keras"]),
    ],
)
def test_convert_keeps_weights_and_optimizer_state(
    capsys: Any, files: dict[str, Path], tmp_path: Path, src: str, dst: str, extra: list[str]
) -> None:
    target = tmp_path / dst
    code, _, err = run(capsys, "convert", str(files[src]), str(target), *extra)
    assert code == 0, err
    a, b = _load(files[src]), _load(target)
    assert b.compile_info is not None and b.compile_info.loss == "mse"
    _same_state(a, b)
    code, out, _ = run(capsys, "diff", str(files[src]), str(target))
    assert code == 0 and "equal" in out and "optimizer variables" in out


def test_convert_to_checkpoint(capsys: Any, files: dict[str, Path], tmp_path: Path) -> None:
    code, _, err = run(capsys, "convert", str(files["keras"]), str(tmp_path / "c" / "ckpt"),
                       "--format", "checkpoint")
    assert code == 0, err
    m = _seq(5)
    m.load_weights(str(tmp_path / "c" / "ckpt"))
    _same_state(_load(files["keras"]), m)


def test_convert_refusals(capsys: Any, files: dict[str, Path], tmp_path: Path) -> None:
    code, _, err = run(capsys, "convert", str(files["keras"]), str(files["h5"]))
    assert code == 2 and "exists; give --force" in err
    code, _, err = run(capsys, "convert", str(files["keras"]), str(tmp_path / "x"),
                       "--target", "keras3")
    assert code == 2 and "write .keras for Keras 3" in err and err.count("\n") == 1
    code, _, err = run(capsys, "convert", str(files["ckpt"]), str(tmp_path / "y.keras"))
    assert code == 2 and "weights only" in err
    code, _, err = run(capsys, "convert", str(files["keras"]), str(files["h5"]), "--force",
                       "--target", "keras2")
    assert code == 0, err


def test_convert_h5_both_warns_optimizer_state_dropped(
    capsys: Any, files: dict[str, Path], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "convert", str(files["keras"]), str(tmp_path / "b.h5"))
    assert code == 0 and "warning" in err
    code, out, _ = run(capsys, "diff", str(files["keras"]), str(tmp_path / "b.h5"))
    assert code == 1 and "optimizer" in out
    code, _, err = run(capsys, "-q", "convert", str(files["keras"]), str(tmp_path / "q.h5"))
    assert code == 0 and err == ""


def test_diff_names_the_changed_weight(capsys: Any, files: dict[str, Path],
                                       tmp_path: Path) -> None:
    m = _load(files["keras"])
    value = np.array(m.get_layer("out").weights[0].value)
    value[1, 0] += 0.5
    m.get_layer("out").weights[0].assign(value)
    m.save(tmp_path / "changed.keras")
    code, out, _ = run(capsys, "diff", str(files["sm"]), str(tmp_path / "changed.keras"))
    assert code == 1
    assert "weight: out/kernel: 1 of 8 values differ" in out and "[1, 0]" in out
    assert "largest difference: 0.5 (out/kernel)" in out
    code, out, _ = run(capsys, "diff", "--json", str(files["sm"]),
                       str(tmp_path / "changed.keras"))
    rep = json.loads(out)
    assert code == 1 and not rep["equal"] and rep["first"]["where"] == "out/kernel"
    assert rep["largest"]["max_abs"] == pytest.approx(0.5)
    code, out, _ = run(capsys, "diff", "--atol", "0.6", str(files["sm"]),
                       str(tmp_path / "changed.keras"))
    assert code == 0


def test_diff_architecture_and_errors(capsys: Any, files: dict[str, Path]) -> None:
    code, out, _ = run(capsys, "diff", str(files["keras"]), str(files["func"]))
    assert code == 1 and "architecture" in out
    code, _, err = run(capsys, "diff", str(files["keras"]), "/no/such")
    assert code == 2 and "no such file" in err
