"""Operator layers against tf_keras 2.21 and Keras 3.15.1 (one oracle process, two phases).

``scripts/layers_ops.py`` first builds models natively (tf_keras: ``tf.*`` calls and Python
operators → ``TFOpLambda`` / ``SlicingOpLambda``; Keras 3: ``keras.ops`` → op classes) and
writes their ``to_json()``, weights, inputs and predictions. We read each config, set the weights
and predict (equal within 1e-5 relative); render it back in its own dialect (op entries byte-equal
to Keras'); and render it for the other generation, which the same oracle process then loads,
predicts, and must agree. Models built with purekeras_io's own op API go both ways too.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import purekeras_io as pk
from purekeras_io.errors import TargetCompatibilityError
from purekeras_io.layers.ops import apply_op

pytestmark = pytest.mark.oracle

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "oracle" / "scripts" / "layers_ops.py"
NATIVE = ["k2_user", "k2_math", "k2_only", "k2_mobilenet_block", "k3_user", "k3_math", "k3_only"]
CROSS = {"k2_user": "keras3", "k2_math": "keras3", "k2_mobilenet_block": "keras3",
         "k3_user": "keras2", "k3_math": "keras2"}
UNTRANSLATABLE = {"k2_only": "keras3", "k3_only": "keras2"}


def _ours_models() -> dict[str, tuple[Any, list[tuple[int, ...]]]]:
    """Models built with purekeras_io's API (Python operators and ``apply_op``)."""
    pk.clear_session()
    a = pk.Input((4, 5))
    b = pk.Input((5, 3))
    x = a[:, 1:3] * 2.0 + 1
    y = apply_op("relu6", x)
    z = apply_op("mean", y, axis=-1, keepdims=True)
    w = apply_op("concatenate", [y, z], axis=-1)
    w = apply_op("transpose", apply_op("reshape", w, newshape=(-1, 3, 4)), axes=[0, 2, 1])
    d = pk.layers.Dense(3, name="dense")(-w - a[:, 0, :3][:, None, :])
    user = pk.Model(a, 2.0 - d / 3.0 + d**2, name="ours_user")
    outs = [
        a @ b,
        apply_op("sigmoid", a) + apply_op("tanh", a),
        apply_op("softmax", a, axis=1),
        apply_op("sum", a, axis=[1, 2]),
        apply_op("max", a, axis=1),
        apply_op("expand_dims", a, axis=1),
        apply_op("squeeze", a[:, :1], axis=1),
        apply_op("sqrt", a) + apply_op("exp", a) + apply_op("log", a),
        apply_op("maximum", a, 1.0) + apply_op("minimum", a, 0.9),
        apply_op("where", apply_op("greater", a, 1.0), a, 0.0),
        apply_op("stack", [a, a * 2.0], axis=1),
        apply_op("split", a, indices_or_sections=[1], axis=2)[1],
        a[..., 0] ** 2,
    ]
    math = pk.Model([a, b], outs, name="ours_math")
    return {"ours_user": (user, [(4, 5)]), "ours_math": (math, [(4, 5), (5, 3)])}


def _arrays(data: Any, prefix: str) -> list[np.ndarray]:
    keys = sorted((k for k in data.files if k.startswith(prefix) and k[1:].isdigit()),
                  key=lambda k: int(k[1:]))
    return [data[k] for k in keys]


def _as_list(y: Any) -> list[np.ndarray]:
    return [np.asarray(v) for v in (y if isinstance(y, list) else [y])]


def _predict(model: Any, xs: list[np.ndarray]) -> list[np.ndarray]:
    return _as_list(model.predict(xs if len(xs) > 1 else xs[0]))


class _Session:
    """The oracle script as a two-phase conversation on one process."""

    def __init__(self, python: str, directory: Path) -> None:
        env = dict(os.environ)
        env.update({"TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "",
                    "PYTHONHASHSEED": "0", "TF_ENABLE_ONEDNN_OPTS": "0"})
        env.pop("PYTHONPATH", None)
        self.stderr = open(directory / "oracle.stderr", "w+")
        self.proc = subprocess.Popen(
            [python, str(SCRIPT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.stderr, text=True, env=env, cwd=str(ROOT),
        )

    def ask(self, payload: Any) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(payload) + "\n")
        self.proc.stdin.flush()
        while True:
            line = self.proc.stdout.readline()
            if not line:
                self.stderr.seek(0)
                raise AssertionError(f"oracle script ended early:\n{self.stderr.read()[-6000:]}")
            if line.startswith("{"):
                return json.loads(line)

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=600)
        self.stderr.close()


@pytest.fixture(scope="module")
def run(oracle: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("ops")
    session = _Session(oracle.python, d)
    try:
        phase1 = session.ask({"dir": str(d)})
        ours: dict[str, Any] = {"predict": {}, "renders": {}, "errors": {}, "models": {}}
        loads = []
        for name in NATIVE:
            text = (d / f"{name}.json").read_text()
            data = np.load(d / f"{name}.npz")
            model = pk.model_from_json(text)
            model.set_weights(_arrays(data, "w"))
            ours["models"][name] = model
            ours["predict"][name] = _predict(model, _arrays(data, "x"))
            if name in CROSS:
                dialect = CROSS[name]
                path = d / f"{name}.{dialect}.json"
                path.write_text(model.to_json(dialect))
                loads.append({"id": f"{name}.{dialect}", "generation": dialect, "json": str(path),
                              "weights": str(d / f"{name}.npz"), "inputs": str(d / f"{name}.npz"),
                              "n_inputs": phase1["models"][name]["inputs"]})
        for name, (model, shapes) in _ours_models().items():
            rng = np.random.default_rng(7)
            xs = [rng.uniform(0.5, 1.5, size=(2, *s)).astype("float32") for s in shapes]
            arrays = {f"x{i}": x for i, x in enumerate(xs)}
            arrays.update({f"w{i}": w for i, w in enumerate(model.get_weights())})
            np.savez(d / f"{name}.npz", **arrays)
            ours["predict"][name] = _predict(model, xs)
            for dialect in ("keras2", "keras3"):
                path = d / f"{name}.{dialect}.json"
                path.write_text(model.to_json(dialect))
                loads.append({"id": f"{name}.{dialect}", "generation": dialect, "json": str(path),
                              "weights": str(d / f"{name}.npz"), "inputs": str(d / f"{name}.npz"),
                              "n_inputs": len(xs)})
        phase2 = session.ask({"loads": loads})
    finally:
        session.close()
    return {"dir": d, "phase1": phase1, "ours": ours, "results": phase2["results"]}


def _close(ours: list[np.ndarray], ref: list[np.ndarray], what: str) -> None:
    assert len(ours) == len(ref), f"{what}: {len(ours)} outputs, Keras {len(ref)}"
    for i, (a, b) in enumerate(zip(ours, ref)):
        assert a.shape == b.shape, f"{what} output {i}: shape {a.shape}, Keras {b.shape}"
        scale = max(1.0, float(np.max(np.abs(b)))) if b.size else 1.0
        np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), rtol=1e-5,
                                   atol=1e-6 * scale, err_msg=f"{what} output {i}")


@pytest.mark.parametrize("name", NATIVE)
def test_native_config_predicts_like_keras(run: dict[str, Any], name: str) -> None:
    data = np.load(run["dir"] / f"{name}.npz")
    _close(run["ours"]["predict"][name], _arrays(data, "y"), name)


def _op_entries(config: dict[str, Any]) -> dict[str, Any]:
    return {
        la["name"]: la for la in config["config"]["layers"]
        if la["class_name"] in ("TFOpLambda", "SlicingOpLambda")
        or str(la.get("module", "")).startswith("keras.src.ops.")
    }


@pytest.mark.parametrize("name", NATIVE)
def test_same_dialect_render_keeps_op_entries(run: dict[str, Any], name: str) -> None:
    native = json.loads((run["dir"] / f"{name}.json").read_text())
    dialect = "keras2" if name.startswith("k2") else "keras3"
    ours = json.loads(run["ours"]["models"][name].to_json(dialect))
    expected, got = _op_entries(native), _op_entries(ours)
    assert expected, f"{name}: no op layers in the native config"
    assert sorted(got) == sorted(expected)
    for layer_name, entry in expected.items():
        assert got[layer_name] == entry, layer_name


@pytest.mark.parametrize("name", sorted(CROSS))
def test_render_loads_in_other_generation(run: dict[str, Any], name: str) -> None:
    key = f"{name}.{CROSS[name]}"
    result = run["results"][key]
    assert result["ok"], result.get("trace") or result
    out = np.load(run["dir"] / f"{key}.out.npz")
    ref = np.load(run["dir"] / f"{name}.npz")
    _close(_arrays(out, "y"), _arrays(ref, "y"), key)


@pytest.mark.parametrize("name", sorted(CROSS))
def test_render_uses_other_generations_classes(run: dict[str, Any], name: str) -> None:
    config = json.loads(run["ours"]["models"][name].to_json(CROSS[name]))
    entries = _op_entries(config)
    assert entries
    if CROSS[name] == "keras3":
        assert all(e["module"].startswith("keras.src.ops.") for e in entries.values())
        assert all("build_config" not in e for e in entries.values())
        assert "TFOpLambda" not in json.dumps(config)
    else:
        assert {e["class_name"] for e in entries.values()} <= {"TFOpLambda", "SlicingOpLambda"}
        assert all("function" in e["config"] for e in entries.values())


@pytest.mark.parametrize("name", sorted(UNTRANSLATABLE))
def test_untranslatable_ops_refuse_the_other_dialect(run: dict[str, Any], name: str) -> None:
    with pytest.raises(TargetCompatibilityError):
        run["ours"]["models"][name].to_json(UNTRANSLATABLE[name])


@pytest.mark.parametrize("name", ["ours_user", "ours_math"])
@pytest.mark.parametrize("dialect", ["keras2", "keras3"])
def test_our_models_load_in_both_generations(run: dict[str, Any], name: str, dialect: str) -> None:
    key = f"{name}.{dialect}"
    result = run["results"][key]
    assert result["ok"], result.get("trace") or result
    out = np.load(run["dir"] / f"{key}.out.npz")
    _close(run["ours"]["predict"][name], _arrays(out, "y"), key)
