"""Keras applications (tf_keras 2.21 and Keras 3.15.1) through our catalog, ONE oracle process.

``applications_check.py`` builds the smallest variant of every application family each Keras
generation has (``weights=None``, ``classes=10``, no classifier activation, small inputs, random
BatchNormalization statistics), then calls back into this interpreter (:func:`host_step`), which

* parses ``model.to_json()`` with :func:`purekeras_io.models.model_from_json`, sets Keras'
  ``get_weights()`` and predicts on Keras' input (max abs diff < 1e-4 · max|Keras out|);
* writes our ``.keras`` (Keras 3 loads it), ``.h5`` (default target ``both``: tf_keras and
  Keras 3 load it) and SavedModel (tf_keras loads it),

and then the real loaders open our files and predict. Each model and generation is one parse and
one predict test; each model and format is one load test (files written from the generation
in ``FORMAT_SOURCE``, so both are covered and the run stays near three minutes).
"""

from __future__ import annotations

import json
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import purekeras_io as pk
from purekeras_io.model.base import Model

pytestmark = pytest.mark.oracle

REL_TOL = 1e-4

# Smallest variant of each family → input (height, width): the smallest size Keras accepts.
MODELS: dict[str, tuple[int, int]] = {
    "VGG16": (32, 32),
    "ResNet50": (32, 32),
    "ResNet50V2": (32, 32),
    "ResNetRS50": (32, 32),
    "InceptionV3": (75, 75),
    "InceptionResNetV2": (75, 75),
    "Xception": (71, 71),
    "MobileNet": (32, 32),
    "MobileNetV2": (32, 32),
    "MobileNetV3Small": (32, 32),
    "MobileNetV3Large": (32, 32),
    "DenseNet121": (32, 32),
    "NASNetMobile": (32, 32),
    "EfficientNetB0": (32, 32),
    "EfficientNetV2B0": (32, 32),
    "ConvNeXtTiny": (32, 32),
    "RegNetX002": (32, 32),
    # ConvNeXt(depths=[1, 1, 2, 1], drop_path_rate=0.1): ConvNeXt's StochasticDepth layers.
    "ConvNeXtStochasticDepth": (32, 32),
}
# What each generation has (Keras 3.15.1 dropped ResNetRS and RegNet).
PRESENT: dict[str, list[str]] = {
    "k2": list(MODELS),
    "k3": [m for m in MODELS if m not in ("ResNetRS50", "RegNetX002")],
}

# Which generation's model each family's files are written from (both generations are covered).
FORMAT_SOURCE: dict[str, str] = {
    "VGG16": "k2", "ResNet50": "k3", "ResNet50V2": "k2", "ResNetRS50": "k2",
    "InceptionV3": "k3", "InceptionResNetV2": "k3", "Xception": "k2", "MobileNet": "k3",
    "MobileNetV2": "k2", "MobileNetV3Small": "k2", "MobileNetV3Large": "k3",
    "DenseNet121": "k3", "NASNetMobile": "k2", "EfficientNetB0": "k3",
    "EfficientNetV2B0": "k2", "ConvNeXtTiny": "k3", "RegNetX002": "k2",
    "ConvNeXtStochasticDepth": "k2",
}
# Format loads: "keras" (.keras, Keras 3), "h5_tfk" / "h5_k3" (.h5, target "both", tf_keras /
# Keras 3), "sm_tfk" (SavedModel, tf_keras), "sm_tfsm" / "sm_tfsmlayer" (our SavedModel's graph:
# ``tf.saved_model.load(...).signatures["serving_default"]`` / Keras 3 ``TFSMLayer``).
KINDS = ("keras", "h5_tfk", "h5_k3", "sm_tfk", "sm_tfsm", "sm_tfsmlayer")
_FMT = {"keras": "keras", "sm_tfk": "sm", "sm_tfsm": "sm", "sm_tfsmlayer": "sm"}
# Keras loaders' own limits (their own files fail the same way): the exact error.
_UNKNOWN = (
    "ValueError: Unknown layer: '{}'. Please ensure you are using a "
    "`keras.utils.custom_object_scope` and that this object is included in the scope. See "
    "https://www.tensorflow.org/guide/keras/save_and_serialize#registering_the_custom_object "
    "for details."
)
KERAS_LIMITS: dict[tuple[str, str], str] = {
    # Keras 3 cannot read tf_keras' TFOpLambda layers from .h5 (tf_keras' own .h5 neither).
    ("MobileNetV3Small", "h5_k3"): _UNKNOWN.format("TFOpLambda"),
    ("RegNetX002", "h5_k3"): _UNKNOWN.format("TFOpLambda"),
    # Keras 3's legacy .h5 loader does not know the application's own layer class.
    ("InceptionResNetV2", "h5_k3"): _UNKNOWN.format("Custom>CustomScaleLayer"),
    # ConvNeXt's LayerScale is not registered: neither generation loads it from .h5 (tf_keras'
    # own ConvNeXt .h5 fails with this message too).
    ("ConvNeXtTiny", "h5_tfk"): _UNKNOWN.format("LayerScale"),
    ("ConvNeXtTiny", "h5_k3"): _UNKNOWN.format("LayerScale"),
    ("ConvNeXtStochasticDepth", "h5_tfk"): _UNKNOWN.format("LayerScale"),
    ("ConvNeXtStochasticDepth", "h5_k3"): _UNKNOWN.format("LayerScale"),
}
# Files our writers refuse for the default target: Keras 3's MobileNetV3 uses the activation
# ``hard_silu``, which tf_keras does not have (its SavedModel is written: tf_keras revives those
# layers from their traced call functions).
REFUSED: dict[tuple[str, str], str] = {
    ("MobileNetV3Large", "h5"): "TargetCompatibilityError",
}
# Our own open bugs (format writers), strict: the test flags when they are fixed.
OUR_BUGS: dict[tuple[str, str], str] = {}


def _rel_diff(a: Any, b: Any) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    scale = max(float(np.max(np.abs(b))) if b.size else 0.0, 1e-6)
    return float(np.max(np.abs(a - b)) / scale) if a.size else 0.0


def _err(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000] + "\n" + traceback.format_exc()[-2000:]


# ============================================================================ host step


def host_step(d: str) -> None:
    """Called back from the oracle: parse, set weights, predict, write our three formats."""
    root = Path(d)
    made = json.loads((root / "made.json").read_text())
    report: dict[str, Any] = {}
    files: dict[str, dict[str, str]] = {}
    for tag in made:
        res: dict[str, Any] = {}
        report[tag] = res
        t0 = time.perf_counter()
        try:
            model: Model = pk.models.model_from_json((root / f"{tag}.json").read_text())
            ref = np.load(root / f"{tag}.npz")
            model.set_weights([ref[f"w{i}"] for i in range(made[tag]["n_weights"])])
            res["parse"] = {"ok": True}
        except Exception as exc:
            res["parse"] = {"ok": False, "error": _err(exc)}
            continue
        res["unknown"] = sorted({type(la).__name__ if not hasattr(la, "class_name")
                                 else la.class_name() for la in model.layers
                                 if isinstance(la, pk.layers.UnknownLayer)})
        try:
            res["predict"] = {"ok": True, "rel": _rel_diff(model.predict(ref["x"]), ref["p"])}
        except Exception as exc:
            res["predict"] = {"ok": False, "error": _err(exc)}
        res["t_ours"] = time.perf_counter() - t0
        if FORMAT_SOURCE.get(tag.split("_", 1)[1]) != tag.split("_", 1)[0]:
            continue
        files[tag] = {}
        for kind, path in (("keras", root / f"ours_{tag}.keras"), ("h5", root / f"ours_{tag}.h5"),
                           ("sm", root / f"ours_{tag}_sm")):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    pk.models.save_model(model, str(path))
                files[tag][kind] = str(path)
                res[f"save_{kind}"] = {"ok": True}
            except Exception as exc:
                res[f"save_{kind}"] = {"ok": False, "error": _err(exc), "type": type(exc).__name__}
    (root / "host.json").write_text(json.dumps({"files": files, "report": report}))


# ============================================================================ fixture


@pytest.fixture(scope="module")
def run(oracle: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("applications_oracle")
    host_cmd = [
        sys.executable, "-c",
        "import runpy, sys; runpy.run_path(sys.argv[1])['host_step'](sys.argv[2])",
        __file__, str(d),
    ]
    payload = {"dir": str(d), "models": {k: list(v) for k, v in MODELS.items()},
               "host_cmd": host_cmd}
    out = oracle.run("applications_check", payload)
    host = json.loads((d / "host.json").read_text()) if (d / "host.json").exists() else {}
    return {"dir": d, "out": out, "report": host.get("report", {})}


# ============================================================================ tests

TAGS = [f"{gen}_{name}" for gen in ("k2", "k3") for name in PRESENT[gen]]
FORMAT_CASES = [
    (name, kind) for name in MODELS for kind in KINDS
    if (name, _FMT.get(kind, "h5")) not in REFUSED
]


def test_host_step_ran(run: dict[str, Any]) -> None:
    assert run["out"]["host"]["returncode"] == 0, run["out"]["host"]["stderr"]
    assert set(run["out"]["made"]) == set(TAGS)


@pytest.mark.parametrize("tag", TAGS)
def test_parse(run: dict[str, Any], tag: str) -> None:
    res = run["report"][tag]
    assert res["parse"]["ok"], res["parse"].get("error")
    assert res["unknown"] == [], f"{tag}: layers outside the catalog: {res['unknown']}"
    # No application uses a Lambda layer (whose bytecode we would keep as data, never run).
    assert run["out"]["made"][tag]["lambda_layers"] == []


@pytest.mark.parametrize("tag", TAGS)
def test_predict(run: dict[str, Any], tag: str) -> None:
    res = run["report"][tag]
    assert res["predict"]["ok"], res["predict"].get("error")
    assert res["predict"]["rel"] < REL_TOL, res["predict"]


@pytest.mark.parametrize(("name", "fmt"), sorted(REFUSED))
def test_writer_refuses(run: dict[str, Any], name: str, fmt: str) -> None:
    res = run["report"][f"{FORMAT_SOURCE[name]}_{name}"][f"save_{fmt}"]
    assert not res["ok"] and res["type"] == REFUSED[(name, fmt)], res


@pytest.mark.parametrize(("name", "kind"), FORMAT_CASES)
def test_format_load(run: dict[str, Any], name: str, kind: str) -> None:
    tag = f"{FORMAT_SOURCE[name]}_{name}"
    fmt = _FMT.get(kind, "h5")
    saved = run["report"][tag][f"save_{fmt}"]
    assert saved["ok"], saved.get("error")
    res = run["out"]["results"][tag][kind]
    if (name, kind) in KERAS_LIMITS:
        assert not res["ok"] and res["error"] == KERAS_LIMITS[(name, kind)], res
        return
    if (name, kind) in OUR_BUGS and not res["ok"]:
        pytest.xfail(OUR_BUGS[(name, kind)])
    assert (name, kind) not in OUR_BUGS, f"fixed, remove from OUR_BUGS: {OUR_BUGS[(name, kind)]}"
    assert res["ok"], res.get("error", "") + "\n" + res.get("trace", "")
    assert res["rel"] < REL_TOL, res
