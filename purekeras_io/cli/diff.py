"""``purekeras diff A B [--rtol R] [--atol A] [--json]``: architecture, weights and optimizer
state of two model files, in any formats.

Exit status: 0 equal, 1 different, 2 error (so other projects' CI can use it for golden files).

Layers are matched by name, as the ``.h5`` loaders match them; when the names differ but the
layer counts agree (``.h5`` for both generations renames ``/`` to ``_``), by position. Weights are
compared layer by layer in the layer's own order (shape, dtype, then values with
``|a - b| <= atol + rtol * |b|``); optimizer state as the class, iterations and every variable
of the Keras 3 layout. The report names the first difference and the largest value difference.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import PurekerasError
from ..layers.ops import OpLayer
from ..model.base import Model
from .describe import output_shape
from .detect import detect
from .ui import UI, load_model_from

__all__ = ["DiffReport", "Difference", "add_parser", "diff_models", "run"]

EQUAL, DIFFERENT = 0, 1


@dataclass
class Difference:
    kind: str
    """``architecture``, ``weight``, ``compile`` or ``optimizer``."""
    where: str
    detail: str
    max_abs: float | None = None


@dataclass
class DiffReport:
    a: str
    b: str
    rtol: float
    atol: float
    differences: list[Difference] = field(default_factory=list)
    compared_weights: int = 0
    compared_optimizer_variables: int = 0
    largest: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return not self.differences

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["equal"] = self.equal
        out["first"] = asdict(self.differences[0]) if self.differences else None
        return out


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "diff", parents=parents,
        help="compare two model files (exit 0 equal, 1 different, 2 error)",
        description=" ".join(__doc__.split("\n\n")[0].split(": ", 1)[1].split()),
    )
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--rtol", type=float, default=0.0,
                   help="relative tolerance of weight values (default 0)")
    p.add_argument("--atol", type=float, default=0.0,
                   help="absolute tolerance of weight values (default 0)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--max", type=int, default=20, metavar="N",
                   help="differences listed in the text report (default 20)")


def _compare_values(report: DiffReport, kind: str, where: str, a: Any, b: Any) -> None:
    x, y = np.asarray(a), np.asarray(b)
    if x.shape != y.shape:
        report.differences.append(Difference(kind, where, f"shape {list(x.shape)} != "
                                             f"{list(y.shape)}"))
        return
    if x.dtype != y.dtype:
        report.differences.append(Difference(kind, where, f"dtype {x.dtype} != {y.dtype}"))
        return
    if x.dtype.kind not in "fciub":
        if not np.array_equal(x, y):
            report.differences.append(Difference(kind, where, "values differ"))
        return
    xf, yf = x.astype(np.float64), y.astype(np.float64)
    both_nan = np.isnan(xf) & np.isnan(yf)
    delta = np.where(both_nan, 0.0, np.abs(xf - yf))
    delta = np.where(np.isnan(delta), np.inf, delta)
    worst = float(delta.max()) if delta.size else 0.0
    if report.largest is None or worst > report.largest["max_abs"]:
        report.largest = {"where": where, "max_abs": worst}
    bad = delta > report.atol + report.rtol * np.abs(yf)
    if bad.any():
        count = int(bad.sum())
        idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(delta)), x.shape))
        report.differences.append(Difference(
            kind, where,
            f"{count} of {x.size} values differ; largest |a-b| {worst:.6g} at {list(idx)} "
            f"({xf[idx]:.9g} vs {yf[idx]:.9g})", worst))


def _pair_layers(report: DiffReport, a: Model, b: Model) -> list[tuple[Any, Any]]:
    names_a = [la.name for la in a.layers]
    names_b = [la.name for la in b.layers]
    if names_a == names_b or set(names_a) == set(names_b):
        by_name = {la.name: la for la in b.layers}
        return [(la, by_name[la.name]) for la in a.layers]
    if len(names_a) == len(names_b):
        report.notes.append("layer names differ; layers matched by position")
        return list(zip(a.layers, b.layers))
    missing = [n for n in names_a if n not in names_b]
    extra = [n for n in names_b if n not in names_a]
    report.differences.append(Difference(
        "architecture", "layers",
        f"{len(names_a)} layers vs {len(names_b)}; only in A: {missing[:5]}, "
        f"only in B: {extra[:5]}"))
    by_name = {la.name: la for la in b.layers}
    return [(la, by_name[la.name]) for la in a.layers if la.name in by_name]


def _compare_optimizer(report: DiffReport, a: Model, b: Model) -> None:
    oa, ob = a.optimizer, b.optimizer
    if (oa is None) != (ob is None):
        report.differences.append(Difference(
            "compile", "model", f"compiled: {'yes' if oa else 'no'} vs {'yes' if ob else 'no'}"))
        return
    if oa is None or ob is None:
        return
    if oa.class_name() != ob.class_name():
        report.differences.append(Difference(
            "optimizer", "class", f"{oa.class_name()} vs {ob.class_name()}"))
        return
    if oa.iterations != ob.iterations:
        report.differences.append(Difference(
            "optimizer", "iterations", f"{oa.iterations} vs {ob.iterations}"))
    if oa.built != ob.built:
        report.differences.append(Difference(
            "optimizer", "state",
            f"slot variables: {'present' if oa.built else 'absent'} vs "
            f"{'present' if ob.built else 'absent'}"))
        return
    if not oa.built:
        return
    va = oa.variables(a.trainable_weights, "keras3")
    vb = ob.variables(b.trainable_weights, "keras3")
    if len(va) != len(vb):
        report.differences.append(Difference(
            "optimizer", "variables", f"{len(va)} vs {len(vb)} variables"))
        return
    for k, ((name, x), (_, y)) in enumerate(zip(va, vb)):
        if k == 0:  # iterations, compared above (dtypes differ between generations)
            continue
        _compare_values(report, "optimizer", f"optimizer/{name}", x, y)
        report.compared_optimizer_variables += 1


def _kind(layer: Any) -> str:
    """The layer's class; for an operator layer the operator, so that tf_keras' ``TFOpLambda``
    of ``math.not_equal`` and Keras 3's ``NotEqual`` (one op in each generation's form) agree."""
    if isinstance(layer, OpLayer) and layer.spec is not None:
        return f"op {layer.spec.key}"
    return str(layer.class_name())


def diff_models(a: Model, b: Model, rtol: float, atol: float, names: tuple[str, str] = ("A", "B")
                ) -> DiffReport:
    """Compare two loaded models (see the module docstring)."""
    report = DiffReport(names[0], names[1], rtol, atol)
    for la, lb in _pair_layers(report, a, b):
        where = la.name if la.name == lb.name else f"{la.name}|{lb.name}"
        if _kind(la) != _kind(lb):
            report.differences.append(Difference(
                "architecture", where, f"class {la.class_name()} vs {lb.class_name()}"))
            continue
        sa, sb = output_shape(la), output_shape(lb)
        if sa != sb:
            report.differences.append(Difference(
                "architecture", where, f"output shape {sa} vs {sb}"))
        wa, wb = la.weights, lb.weights
        if len(wa) != len(wb):
            report.differences.append(Difference(
                "weight", where, f"{len(wa)} weights vs {len(wb)}"))
            continue
        for va, vb in zip(wa, wb):
            _compare_values(report, "weight", f"{where}/{va.name}", va, vb)
            report.compared_weights += 1
    try:
        _compare_optimizer(report, a, b)
    except PurekerasError as exc:
        report.differences.append(Difference("optimizer", "state", str(exc)))
    return report


def _text(report: DiffReport, limit: int) -> str:
    lines = [f"{report.a} vs {report.b}: "
             + ("equal" if report.equal else f"{len(report.differences)} difference(s)")
             + f" ({report.compared_weights} weights, {report.compared_optimizer_variables} "
             f"optimizer variables compared; rtol {report.rtol:g}, atol {report.atol:g})"]
    lines += [f"note: {n}" for n in report.notes]
    for d in report.differences[:limit]:
        lines.append(f"{d.kind}: {d.where}: {d.detail}")
    if len(report.differences) > limit:
        lines.append(f"… {len(report.differences) - limit} more")
    if report.largest is not None:
        lines.append(f"largest difference: {report.largest['max_abs']:.6g} "
                     f"({report.largest['where']})")
    return "\n".join(lines)


def run(args: argparse.Namespace, ui: UI) -> int:
    a = load_model_from(detect(args.a), ui)
    b = load_model_from(detect(args.b), ui)
    report = diff_models(a, b, args.rtol, args.atol, (args.a, args.b))
    ui.print(json.dumps(report.to_json(), indent=2) if args.json else _text(report, args.max))
    return EQUAL if report.equal else DIFFERENT
