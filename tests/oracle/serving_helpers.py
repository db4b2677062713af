"""Checking our SavedModels' graphs with the real TensorFlow (``scripts/serving_check.py``).

A family's lowering test builds models with ``pk.layers``, calls :func:`check_serving` once with
all of them, and gets, per model and consumer, our NumPy ``predict`` compared with what
TensorFlow computes from the SavedModel's graph functions. Inputs are given per model as one or
more batches (different batch sizes and, for sequence models, different lengths).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from purekeras_io.model.base import Model

CONSUMERS = ("tfsm", "call", "tfsmlayer", "tf1")
REL_TOL = 1e-4


def _input_keys(model: Model) -> list[str]:
    return [s.name for s in _specs(model)]


def _specs(model: Model) -> list[Any]:
    from purekeras_io.savedmodel.functions import parse_signatures

    return list(parse_signatures(model, None)[0].inputs)


def check_serving(
    oracle: Any,
    folder: Path,
    cases: Sequence[tuple[str, Model, list[list[np.ndarray]]]],
    consumers: Sequence[str] = CONSUMERS,
    rel_tol: float = REL_TOL,
    raw: dict[str, Any] | None = None,
    save_kwargs: dict[str, Any] | None = None,
) -> dict[str, dict[str, str]]:
    """Save each model as a SavedModel, serve it in the oracle, compare with ``predict``.

    Returns ``{case id: {consumer: "ok" | reason}}``; every problem is a reason (a failed save
    too), so a test can assert all ok or list what failed. ``raw`` receives the oracle's own
    record per case (``variables``, ``tfk_revived``…)."""
    payload = []
    expected: dict[str, list[tuple[str, list[np.ndarray], Any]]] = {}
    report: dict[str, dict[str, str]] = {}
    for cid, model, batches in cases:
        path = folder / cid
        try:
            model.save(str(path), save_format="tf", **(save_kwargs or {}))
        except Exception as exc:
            report[cid] = {c: f"save: {type(exc).__name__}: {exc}" for c in consumers}
            continue
        keys = _input_keys(model)
        files = []
        expected[cid] = []
        for b, xs in enumerate(batches):
            f = folder / f"{cid}_in{b}.npz"
            arrays = {k: x for k, x in zip(keys, xs)}
            arrays.update({f"__positional__{i}": x for i, x in enumerate(xs)})
            np.savez(f, **arrays)
            files.append(str(f))
            ours = model.predict(xs if len(xs) > 1 else xs[0])
            expected[cid].append((str(f), xs, ours))
        payload.append({"id": cid, "path": str(path), "inputs": files,
                        "consumers": list(consumers)})
    result = oracle.run("serving_check", {"cases": payload}) if payload else {"cases": {}}
    for cid, info in result["cases"].items():
        if raw is not None:
            raw[cid] = info
        report[cid] = {}
        for c in consumers:
            status = info.get(c, info.get("error", "missing"))
            if status != "ok":
                report[cid][c] = str(status)[:3000]
                continue
            report[cid][c] = _compare(expected[cid], c, rel_tol)
    return report


def _compare(items: list[tuple[str, list[np.ndarray], Any]], consumer: str, rel_tol: float
             ) -> str:
    for f, _, ours in items:
        with np.load(f"{f}.{consumer}.npz") as data:
            got = {k: data[k] for k in data.files}
        mine = list(ours) if isinstance(ours, (list, tuple)) else (
            list(ours.values()) if isinstance(ours, dict) else [ours])
        if consumer in ("call", "tfk") or ("out0" in got and consumer == "tfsmlayer"):
            theirs = [got[f"out{k}"] for k in range(len(got))]
        else:
            theirs = [got[k] for k in sorted(got)]
            if len(mine) > 1:
                return _compare_sorted(mine, got, rel_tol)
        if len(theirs) != len(mine):
            return f"{len(theirs)} outputs, predict gives {len(mine)}"
        for k, (a, b) in enumerate(zip(mine, theirs)):
            msg = _close(np.asarray(a), np.asarray(b), rel_tol)
            if msg:
                return f"{Path(f).name} output {k}: {msg}"
    return "ok"


def _compare_sorted(mine: list[Any], got: dict[str, np.ndarray], rel_tol: float) -> str:
    """Several outputs in a dict: match by shape and value (keys are output names)."""
    pending = list(got.values())
    for k, a in enumerate(mine):
        a = np.asarray(a)
        hit = next((i for i, b in enumerate(pending) if b.shape == a.shape
                    and not _close(a, b, rel_tol)), None)
        if hit is None:
            return f"output {k} (shape {a.shape}) matches no served output"
        pending.pop(hit)
    return "ok"


def _close(a: np.ndarray, b: np.ndarray, rel_tol: float) -> str:
    if a.shape != b.shape:
        return f"shape {b.shape} != predict's {a.shape}"
    if a.size == 0:
        return ""
    scale = max(float(np.max(np.abs(a.astype(np.float64)))), 1e-6)
    diff = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
    return "" if diff <= rel_tol * scale else f"max abs diff {diff:.3g} (scale {scale:.3g})"


def failures(report: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    return {cid: {c: s for c, s in r.items() if s != "ok"} for cid, r in report.items()
            if any(s != "ok" for s in r.values())}
