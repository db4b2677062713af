"""Oracle: recurrent layers (SimpleRNN, LSTM, GRU, their cells, RNN, Bidirectional,
TimeDistributed) and attention layers (MultiHeadAttention, EinsumDense, Attention,
AdditiveAttention) in tf_keras 2.21 and Keras 3.15.1.

Runs in the oracle venv (see ``tests/conftest.py``). stdin::

    {"dir": <tmp dir>, "cases": [case, ...]}

A case describes a small graph (the same description builds our model in the test)::

    {"id", "inputs": [{"shape", "dtype"}, ...],
     "layers": [{"class_name", "args", "k2_args"?, "k3_args"?,
                 "in"?: ref or [ref, ...], "call_args"?: [ref, ...],
                 "call_kwargs"?: {name: {"t": ref} or constant}}, ...],
     "outputs"?: [ref, ...], "dialects": [...], "native": bool or [dialect, ...]}

Tensors are numbered inputs first, then one per layer (layer ``k`` is named ``l<k>``); a ref is
an index, or ``"<index>:<j>"`` for output ``j`` of a layer with several outputs. Layer arguments
that are ``{"class_name", "args"}`` dicts are nested layers (Bidirectional's ``layer``, RNN's
``cell``…). Files in ``dir`` per case: ``<id>_k2.json`` / ``<id>_k3.json`` (our ``to_json`` in
each dialect), ``<id>_weights.npz`` (``w<i>`` in our ``model.get_weights()`` order),
``<id>_inputs.npz`` (``in<k>``).

Per case and generation (``keras2`` = tf_keras, ``keras3`` = Keras 3):

* ``loaded``: ``model_from_json`` of our config + ``model.set_weights`` (whole model, so our
  weight order is checked) + call → ``<id>_<gen>_loaded.npz`` (``out<k>``, ``mask<k>``);
* ``native``: the graph built by Keras itself, same weights, same call →
  ``<id>_<gen>_native.npz``; its ``to_json()`` and its weight names (tf_keras ``var.name``,
  Keras 3 ``var.path``) and shapes, in ``model.weights`` order, are returned.

Errors are caught per item and returned as text. Last stdout line:
``{"cases": {id: {gen: {...}}}, "versions": {...}}``.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _oracle_common import error, load_npz, run_and_save, run_cases_main

TAIL = 2500  # characters of traceback kept in error texts


def _make_layer(mod: Any, spec: dict[str, Any], gen: str, name: str | None) -> Any:
    key = "k2_args" if gen == "keras2" else "k3_args"
    args = dict(spec.get("args", {}))
    args.update(spec.get(key, {}))
    for arg, value in list(args.items()):
        if isinstance(value, dict) and "class_name" in value:
            args[arg] = _make_layer(mod, value, gen, None)
    if name is not None:
        args["name"] = name
    return getattr(mod.layers, spec["class_name"])(**args)


def _ref(tensors: list[Any], ref: Any) -> Any:
    if isinstance(ref, str):
        k, j = ref.split(":")
        return tensors[int(k)][int(j)]
    return tensors[ref]


def _kwarg(tensors: list[Any], value: Any) -> Any:
    if isinstance(value, dict) and "t" in value:
        return _ref(tensors, value["t"])
    if isinstance(value, list):
        return [_kwarg(tensors, v) for v in value]
    return value


def _build_native(mod: Any, case: dict[str, Any], gen: str) -> Any:
    inputs = [
        mod.Input(shape=tuple(s["shape"]), dtype=s.get("dtype", "float32"), name=f"in{k}")
        for k, s in enumerate(case["inputs"])
    ]
    tensors: list[Any] = list(inputs)
    for k, spec in enumerate(case["layers"]):
        layer = _make_layer(mod, spec, gen, f"l{k}")
        src = spec.get("in", len(tensors) - 1)
        first = [_ref(tensors, r) for r in src] if isinstance(src, list) else _ref(tensors, src)
        extra = [_ref(tensors, r) for r in spec.get("call_args", [])]
        kwargs = {n: _kwarg(tensors, v) for n, v in spec.get("call_kwargs", {}).items()}
        out = layer(first, *extra, **kwargs)
        tensors.append(list(out) if isinstance(out, (list, tuple)) else out)
    outs = [_ref(tensors, r) for r in case.get("outputs", [len(tensors) - 1])]
    return mod.Model(
        inputs if len(inputs) > 1 else inputs[0], outs if len(outs) > 1 else outs[0], name="native"
    )


def _weight_listing(model: Any, gen: str) -> list[list[Any]]:
    if gen == "keras2":
        return [[w.name, list(w.shape)] for w in model.weights]
    return [[w.path, list(w.shape)] for w in model.weights]


def run_case(mods: dict[str, Any], case: dict[str, Any], folder: str) -> dict[str, Any]:
    cid = case["id"]
    wz = load_npz(os.path.join(folder, f"{cid}_weights.npz"))
    weights = [wz[f"w{i}"] for i in range(len(wz))]
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
            res["loaded_weights"] = _weight_listing(model, gen)
            model.set_weights(weights)
            run_and_save(model, inputs, os.path.join(folder, f"{cid}_{gen}_loaded.npz"))
            res["loaded"] = "ok"
        except Exception as exc:
            res["loaded_error"] = error(exc, TAIL)
        native = case.get("native", True)
        if native is True or gen in native:
            try:
                model = _build_native(mod, case, gen)
                res["native_json"] = model.to_json()
                res["native_weights"] = _weight_listing(model, gen)
                model.set_weights(weights)
                run_and_save(model, inputs, os.path.join(folder, f"{cid}_{gen}_native.npz"))
            except Exception as exc:
                res["native_error"] = error(exc, TAIL)
        out[gen] = res
    return out


def main() -> None:
    run_cases_main(run_case, tail=TAIL)


if __name__ == "__main__":
    main()
