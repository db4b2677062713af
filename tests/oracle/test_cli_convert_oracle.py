"""``purekeras convert`` as the Keras 2 → 3 rescue, judged by the real loaders.

tf_keras 2.21 and Keras 3.15.1 (TensorFlow backend) train and save five compiled models each
(``scripts/cli_convert_write.py``: Sequential, a two-input Functional with BatchNormalization,
an LSTM text model with a mask, a Transformer block, MobileNetV2). The command line converts

* tf_keras' ``.h5`` and SavedModel to ``.keras``, which Keras 3 loads on the TensorFlow and JAX
  backends with tf_keras' predictions and optimizer state (iterations and every slot, exactly);
* those ``.keras`` files back to ``.h5`` and SavedModel, which tf_keras loads with equal state;
* Keras 3's own ``.keras`` to ``.h5`` and SavedModel, which tf_keras loads with equal state;

``purekeras diff`` says equal (exit 0) for every file and its conversion, and exit 1 naming the
weight after one element of one weight changes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import purekeras_io as pk
from purekeras_io.cli.main import main as purekeras

ARCHS = ("seq", "multi", "lstm", "transformer", "mobilenetv2")
PRED_ATOL = 1e-5


def _convert(src: str, dst: str, *extra: str) -> None:
    code = purekeras(["--quiet", "convert", src, dst, *extra])
    assert code == 0, f"purekeras convert {src} {dst} {' '.join(extra)}: exit {code}"


@pytest.fixture(scope="module")
def run(oracle: Any, oracle_jax: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("convert")
    written = oracle.run("cli_convert_write", {"dir": str(d), "archs": list(ARCHS)})
    conversions: dict[str, dict[str, str]] = {}  # id -> {src, file, ref, loader}
    for arch in ARCHS:
        k2, k3 = d / f"k2_{arch}", d / f"k3_{arch}"
        for kind, src in (("h5", f"{k2}.h5"), ("sm", f"{k2}_sm")):
            keras_file = str(d / f"k2{kind}_{arch}.keras")
            _convert(src, keras_file)
            conversions[f"k2{kind}_{arch}.keras"] = {"src": src, "file": keras_file,
                                                      "ref": f"{k2}.ref.npz", "loader": "keras"}
        back = str(d / f"k2h5_{arch}.keras")
        for fmt, dst in (("h5", d / f"back_{arch}.h5"), ("tf", d / f"back_{arch}_sm")):
            _convert(back, str(dst), "--format", fmt, *(["--target", "keras2"]
                                                          if fmt == "h5" else []))
            conversions[f"back_{arch}.{fmt}"] = {"src": back, "file": str(dst),
                                                 "ref": f"{k2}.ref.npz", "loader": "tf_keras"}
        for fmt, dst in (("h5", d / f"k3_{arch}_to.h5"), ("tf", d / f"k3_{arch}_to_sm")):
            _convert(f"{k3}.keras", str(dst), "--format", fmt,
                     *(["--target", "keras2"] if fmt == "h5" else []))
            conversions[f"k3_{arch}.{fmt}"] = {"src": f"{k3}.keras", "file": str(dst),
                                               "ref": f"{k3}.ref.npz", "loader": "tf_keras"}
    cases = [{"id": cid, **{k: c[k] for k in ("file", "loader", "ref")}}
             for cid, c in conversions.items()]
    tf_out = oracle.run("cli_convert_check", {"cases": cases},
                        env={"KERAS_BACKEND": "tensorflow"})
    jax_cases = [c for c in cases if c["loader"] == "keras"]
    jax_out = oracle_jax.run("cli_convert_check", {"cases": jax_cases},
                             env={"KERAS_BACKEND": "jax"})
    return {"dir": d, "written": written, "conversions": conversions,
            "results": {"tensorflow": tf_out["cases"], "jax": jax_out["cases"]}}


def _ids(loader: str | None = None) -> list[str]:
    out = []
    for arch in ARCHS:
        if loader in (None, "keras"):
            out += [f"k2h5_{arch}.keras", f"k2sm_{arch}.keras"]
        if loader in (None, "tf_keras"):
            out += [f"back_{arch}.h5", f"back_{arch}.tf", f"k3_{arch}.h5", f"k3_{arch}.tf"]
    return out


def _assert_same(res: dict[str, Any], where: str) -> None:
    assert "error" not in res, f"{where}: {res.get('error')}"
    assert res["pred_diff"] <= PRED_ATOL, f"{where}: predictions differ by {res['pred_diff']}"
    assert res["optimizer"] is not None, f"{where}: loaded without an optimizer"
    assert res["state_missing"] == [], f"{where}: optimizer state missing {res['state_missing']}"
    assert res["state_diff"] == {}, f"{where}: optimizer state differs {res['state_diff']}"
    assert res["iterations"] > 0


@pytest.mark.parametrize("cid", _ids("keras"))
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_keras3_loads_the_rescued_tf_keras_model(run: dict[str, Any], cid: str,
                                                 backend: str) -> None:
    _assert_same(run["results"][backend][cid], f"Keras 3 ({backend}) on {cid}")


@pytest.mark.parametrize("cid", _ids("tf_keras"))
def test_tf_keras_loads_the_conversion(run: dict[str, Any], cid: str) -> None:
    _assert_same(run["results"]["tensorflow"][cid], f"tf_keras on {cid}")


@pytest.mark.parametrize("cid", _ids())
def test_diff_says_equal(run: dict[str, Any], cid: str) -> None:
    c = run["conversions"][cid]
    assert purekeras(["--quiet", "diff", c["src"], c["file"]]) == 0


def test_diff_names_the_changed_weight(run: dict[str, Any], tmp_path: Path) -> None:
    src = run["conversions"]["k2h5_multi.keras"]["file"]
    model = pk.models.load_model(src)
    layer = model.get_layer("pre_b")
    kernel, bias = layer.get_weights()
    kernel = kernel.copy()
    kernel[1, 2] += 0.5
    layer.set_weights([kernel, bias])
    changed = tmp_path / "changed.keras"
    model.save(changed)
    proc = subprocess.run([sys.executable, "-m", "purekeras_io", "diff", src, str(changed)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "pre_b" in proc.stdout and "kernel" in proc.stdout, proc.stdout
    assert "0.5" in proc.stdout, proc.stdout
    same = subprocess.run([sys.executable, "-m", "purekeras_io", "diff", src, src],
                          capture_output=True, text=True, timeout=300)
    assert same.returncode == 0, same.stdout + same.stderr
    assert np.isfinite(kernel).all()
