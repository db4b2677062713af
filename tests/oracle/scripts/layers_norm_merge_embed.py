"""Oracle: normalization, merge, embedding, preprocessing layers and every activation, in
tf_keras 2.21 and Keras 3.15.1.

Runs in the oracle venv (see ``tests/conftest.py``). stdin::

    {"dir": <tmp dir>,
     "cases": [{"id", "inputs": [{"shape", "dtype"}, ...],
                "layers": [{"class_name", "args", "k2_args"?, "k3_args"?, "in"?}, ...],
                "outputs"?: [tensor index, ...], "sequential"?: bool,
                "dialects": ["keras2", "keras3"], "native": bool or [dialect, ...],
                "masks": bool}, ...]}

A case describes a small graph: tensors are numbered inputs first, then one per layer in order;
layer ``k`` is named ``l<k>`` and consumes tensor ``in`` (an index or a list of indices; default:
the previous tensor). Files in ``dir`` per case: ``<id>_k2.json`` / ``<id>_k3.json`` (our
``to_json`` in each dialect), ``<id>_weights.npz`` (``<layer>::<i>`` in each layer's
``get_weights`` order), ``<id>_inputs.npz`` (``in<k>``).

Per case and generation (``keras2`` = tf_keras, ``keras3`` = Keras 3):

* ``loaded``: ``model_from_json`` of our config + per-layer ``set_weights`` + call; outputs and
  output masks (``_keras_mask``) → ``<id>_<gen>_loaded.npz`` (``out<k>``, ``mask<k>``);
* ``native``: the same graph built by Keras itself, same weights, same call →
  ``<id>_<gen>_native.npz``; its ``to_json()`` and per-layer weight names/shapes are returned.

Errors are caught per item and returned as text. Last stdout line:
``{"cases": {id: {gen: {...}}}, "versions": {...}}``.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from _oracle_common import error, load_npz, run_and_save, run_cases_main


def _layer_weights(weights: dict[str, np.ndarray], name: str) -> list[np.ndarray]:
    out = []
    i = 0
    while f"{name}::{i}" in weights:
        out.append(weights[f"{name}::{i}"])
        i += 1
    return out


def _build_native(mod: Any, case: dict[str, Any], gen: str) -> Any:
    key = "k2_args" if gen == "keras2" else "k3_args"
    inputs = [
        mod.Input(shape=tuple(spec["shape"]), dtype=spec.get("dtype", "float32"), name=f"in{k}")
        for k, spec in enumerate(case["inputs"])
    ]
    layers = []
    for k, spec in enumerate(case["layers"]):
        args = dict(spec.get("args", {}))
        args.update(spec.get(key, {}))
        layers.append(getattr(mod.layers, spec["class_name"])(name=f"l{k}", **args))
    if case.get("sequential"):
        return mod.Sequential([inputs[0], *layers], name="native")
    tensors: list[Any] = list(inputs)
    for spec, layer in zip(case["layers"], layers):
        src = spec.get("in", len(tensors) - 1)
        tensors.append(layer([tensors[i] for i in src] if isinstance(src, list) else tensors[src]))
    outs = [tensors[i] for i in case.get("outputs", [len(tensors) - 1])]
    return mod.Model(
        inputs if len(inputs) > 1 else inputs[0], outs if len(outs) > 1 else outs[0], name="native"
    )


def _set_weights(model: Any, weights: dict[str, np.ndarray]) -> None:
    for layer in model.layers:
        values = _layer_weights(weights, layer.name)
        if values or layer.weights:
            layer.set_weights(values)
            # Normalization caches its statistics; loading from a file calls finalize_state.
            if values and hasattr(layer, "finalize_state"):
                layer.finalize_state()


def _weight_listing(model: Any) -> dict[str, list[list[Any]]]:
    listing = {}
    for layer in model.layers:
        listing[layer.name] = [
            [w.name.split(":")[0].split("/")[-1], list(w.shape)] for w in layer.weights
        ]
    return listing


def run_case(mods: dict[str, Any], case: dict[str, Any], folder: str) -> dict[str, Any]:
    cid = case["id"]
    weights = load_npz(os.path.join(folder, f"{cid}_weights.npz"))
    inp = load_npz(os.path.join(folder, f"{cid}_inputs.npz"))
    inputs = [inp[f"in{k}"] for k in range(len(case["inputs"]))]
    out: dict[str, Any] = {}
    for gen in case["dialects"]:
        mod = mods[gen]
        short = "k2" if gen == "keras2" else "k3"
        res: dict[str, Any] = {}
        try:
            with open(os.path.join(folder, f"{cid}_{short}.json")) as f:
                model = mod.models.model_from_json(f.read())
            _set_weights(model, weights)
            run_and_save(model, inputs, os.path.join(folder, f"{cid}_{gen}_loaded.npz"))
            res["loaded"] = "ok"
        except Exception as exc:
            res["loaded_error"] = error(exc)
        native = case.get("native", True)
        if native is True or gen in native:
            try:
                model = _build_native(mod, case, gen)
                res["native_json"] = model.to_json()
                res["native_weights"] = _weight_listing(model)
                _set_weights(model, weights)
                run_and_save(model, inputs, os.path.join(folder, f"{cid}_{gen}_native.npz"))
            except Exception as exc:
                res["native_error"] = error(exc)
        out[gen] = res
    return out


def main() -> None:
    run_cases_main(run_case)


if __name__ == "__main__":
    main()
