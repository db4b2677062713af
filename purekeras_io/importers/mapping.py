r"""Tensors named by another framework → the weights of a ``pk`` model, by name rules.

::

    report = assign_weights(model, load_safetensors("block.safetensors"), [
        (r"attn\.(query|key|value)\.(kernel|bias)", r"mha/\1/\2"),
        (r"attn\.out\.(kernel|bias)", r"mha/attention_output/\2"),
        (r"fc(\d)\.weight", r"dense_\1/kernel", "transpose"),   # torch Linear: (out, in)
        (r"fc(\d)\.bias", r"dense_\1/bias"),
        (r".*\.num_batches_tracked", None),                     # dropped on purpose
    ])
    print(report)

**Targets** are our variables' paths, Keras 3's ``variable.path`` (``dense_1/kernel``,
``multi_head_attention/query/bias``, ``lstm/lstm_cell/kernel``); a weight directly under a
top-level layer may also be named ``<layer name>/<weight name>`` (``lstm/kernel``) when that is
unambiguous. The model must be built (its variables exist).

**Rules** are tried in order on each source name; the first whose pattern matches the *whole*
name (``re.fullmatch``) gives the target (``match.expand(replacement)``; ``None`` drops the
tensor on purpose). A name no rule matches is its own target (so a file written by
:func:`~purekeras_io.importers.save_safetensors` from a ``pk`` model assigns with no rules).
A rule's optional third item transforms the tensor first: ``"transpose"`` (reverse the axes: a
torch ``Linear`` weight), a tuple of axes (``np.transpose``), or a callable. ``rules`` may also be a
``{pattern: replacement}`` dict.

**Checks before anything is assigned**: every target must have the shape of its variable (after
the transform; dtypes are cast), and no two sources may feed the same variable. Shape mismatches
always raise :class:`~purekeras_io.errors.ConfigError` naming the source, the target and both
shapes; ``strict=True`` also raises on model weights left unassigned and source tensors left
unused. Nothing is assigned when anything raises.

**Lazy tensors stay lazy**: an untransformed lazy array (a
:class:`~purekeras_io.importers.safetensors.SafetensorsTensor`, a Dask array) is handed to
``Variable.assign`` unread, and so is a transpose of a memory-mapped one (:class:`Transposed`:
writers copy its rows slab by slab); any other transform reads its tensor.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError

__all__ = [
    "MatchReport",
    "Rule",
    "Transform",
    "Transposed",
    "apply_transform",
    "assign_weights",
    "target_index",
]

Transform = str | tuple[int, ...] | Callable[[Any], Any] | None
"""``"transpose"``, axes for ``np.transpose``, a callable, or None (as it is)."""
Rule = tuple[str, str | None] | tuple[str, str | None, Transform]
"""``(pattern, replacement)`` or ``(pattern, replacement, transform)``."""


def _shape(value: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in value.shape)


@dataclass(frozen=True)
class MatchReport:
    """What :func:`assign_weights` did (or would have done, when it raised)."""

    matched: tuple[tuple[str, str], ...]
    """(source name, target path) of every assigned weight, in the sources' order."""
    unmatched: tuple[str, ...]
    """Model weight paths no source fed (they keep their values)."""
    unused: tuple[str, ...]
    """Source names whose target is not a model weight (the target is in ``targets``)."""
    ignored: tuple[str, ...] = ()
    """Source names a rule dropped on purpose (replacement ``None``)."""
    mismatched: tuple[tuple[str, str, tuple[int, ...], tuple[int, ...]], ...] = ()
    """(source, target, source shape after the transform, the variable's shape)."""
    targets: tuple[tuple[str, str], ...] = ()
    """(source, the target it mapped to) for the unused sources."""
    notes: tuple[str, ...] = ()
    """Things to check that names cannot show (an importer's epsilon defaults, ...)."""

    @property
    def ok(self) -> bool:
        """Every model weight assigned, every source used (or dropped on purpose), shapes equal."""
        return not (self.unmatched or self.unused or self.mismatched)

    def __str__(self) -> str:
        lines = [
            f"MatchReport: {len(self.matched)} assigned, {len(self.unmatched)} model weights "
            f"unassigned, {len(self.unused)} source tensors unused, {len(self.ignored)} dropped "
            f"by rules, {len(self.mismatched)} shape mismatches"
        ]
        width = max((len(s) for s, _ in self.matched), default=0)
        lines += [f"  {s:<{width}} -> {t}" for s, t in self.matched]
        mapped = dict(self.targets)
        for title, names in (
            ("unassigned model weights", self.unmatched),
            ("unused source tensors", self.unused),
            ("dropped by rules", self.ignored),
        ):
            if names:
                lines.append(f" {title}:")
                lines += [
                    f"  {n}" + (f" (-> {mapped[n]}: no such weight)" if n in mapped else "")
                    for n in names
                ]
        if self.mismatched:
            lines.append(" shape mismatches:")
            lines += [
                f"  {s} -> {t}: source {list(a)}, model {list(b)}" for s, t, a, b in self.mismatched
            ]
        lines += [f" note: {note}" for note in self.notes]
        return "\n".join(lines)


def target_index(model: Any) -> dict[str, Any]:
    """Our variables by every name a rule may target: ``variable.path`` and, when unique,
    ``<top-level layer name>/<weight name>``."""
    weights = list(getattr(model, "weights", []))
    if not weights:
        raise ConfigError(
            f"assign_weights: the model {getattr(model, 'name', model)!r} has no weights "
            "(build it first: give it an Input)"
        )
    index: dict[str, Any] = {}
    for var in weights:
        index[var.path or var.name] = var
    aliases: dict[str, list[Any]] = {}
    for layer in getattr(model, "layers", []):
        for var in getattr(layer, "weights", []):
            aliases.setdefault(f"{layer.name}/{var.name}", []).append(var)
    for alias, found in aliases.items():
        if alias not in index and len(found) == 1:
            index[alias] = found[0]
    return index


class Transposed:
    """A lazy transpose of a memory-mapped tensor (a
    :class:`~purekeras_io.importers.safetensors.SafetensorsTensor` or an ``np.memmap``): shape
    and dtype without reading; ``t[i:j]`` copies only those rows of the transpose (the source's
    pages are read through the map, nothing else is held), ``np.asarray(t)`` the whole."""

    def __init__(self, source: Any, axes: tuple[int, ...]) -> None:
        self.source = source
        self.axes = axes
        self.dtype = np.dtype(source.dtype)
        self.shape = tuple(int(source.shape[a]) for a in axes)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0] if self.shape else 0

    def _view(self) -> np.ndarray:
        return np.transpose(np.asarray(self.source), self.axes)  # a view of the map

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.ascontiguousarray(self._view()[key])

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        arr = np.ascontiguousarray(self._view())
        return arr if dtype is None else arr.astype(dtype, copy=False)


def _mapped(value: Any) -> bool:
    """Whether ``np.asarray(value)`` is a free view of a memory map (so a lazy transpose pays)."""
    if isinstance(value, np.memmap):
        return True
    from .safetensors import SafetensorsTensor

    return isinstance(value, SafetensorsTensor)


def apply_transform(value: Any, transform: Transform, *, what: str = "tensor") -> Any:
    """``value`` with a rule's transform applied. A transpose of a memory-mapped tensor stays
    lazy (:class:`Transposed`); other lazy arrays are read by any transform."""
    if transform is None:
        return value
    if transform == "transpose" or isinstance(transform, tuple):
        ndim = len(value.shape) if hasattr(value, "shape") else np.ndim(value)
        axes: tuple[int, ...] = (
            tuple(range(ndim))[::-1] if isinstance(transform, str) else tuple(transform)
        )
        if sorted(axes) != list(range(ndim)):
            raise ConfigError(
                f"assign_weights: {what}: axes {list(axes)} do not permute a {ndim}-D tensor"
            )
        if _mapped(value):
            return Transposed(value, axes)
        return np.ascontiguousarray(np.transpose(np.asarray(value), axes))
    if callable(transform):
        return transform(value)
    raise ConfigError(
        f"assign_weights: {what}: transform must be 'transpose', a tuple of axes or a callable, "
        f"received {transform!r}"
    )


_Compiled = tuple[re.Pattern[str], str | None, Transform]


def _compiled(rules: Sequence[Rule] | Mapping[str, str | None]) -> list[_Compiled]:
    items: Iterable[Any] = rules.items() if isinstance(rules, Mapping) else rules
    out = []
    for i, rule in enumerate(items):
        if not isinstance(rule, tuple | list) or len(rule) not in (2, 3):
            raise ConfigError(
                f"assign_weights: rules[{i}] must be (pattern, replacement[, transform]), "
                f"received {rule!r}"
            )
        pattern, replacement = rule[0], rule[1]
        transform = rule[2] if len(rule) == 3 else None
        try:
            compiled = re.compile(pattern)
        except (re.error, TypeError) as exc:
            raise ConfigError(f"assign_weights: rules[{i}] pattern {pattern!r}: {exc}") from None
        out.append((compiled, replacement, transform))
    return out


def assign_weights(
    model: Any,
    tensors: Mapping[str, Any],
    rules: Sequence[Rule] | Mapping[str, str | None] = (),
    *,
    strict: bool = False,
    dry_run: bool = False,
) -> MatchReport:
    """Assign ``tensors`` (source name → array-like) to ``model``'s variables by ``rules`` (see
    the module docstring) and report what matched. ``dry_run``: check and report, assign nothing.
    """
    index = target_index(model)
    compiled = _compiled(rules)
    matched: list[tuple[str, str]] = []
    unused: list[str] = []
    ignored: list[str] = []
    mismatched: list[tuple[str, str, tuple[int, ...], tuple[int, ...]]] = []
    targets: list[tuple[str, str]] = []
    plan: list[tuple[Any, Any]] = []
    fed: dict[int, str] = {}
    for source, value in tensors.items():
        target: str | None = source
        transform: Transform = None
        for pattern, replacement, rule_transform in compiled:
            found = pattern.fullmatch(source)
            if found is not None:
                target = None if replacement is None else found.expand(replacement)
                transform = rule_transform
                break
        if target is None:
            ignored.append(source)
            continue
        var = index.get(target)
        if var is None:
            unused.append(source)
            targets.append((source, target))
            continue
        path = var.path or var.name
        if id(var) in fed:
            raise ConfigError(
                f"assign_weights: sources {fed[id(var)]!r} and {source!r} both map to {path!r}"
            )
        fed[id(var)] = source
        array = apply_transform(value, transform, what=f"source {source!r}")
        if not hasattr(array, "shape"):
            array = np.asarray(array)
        if _shape(array) != tuple(var.shape):
            mismatched.append((source, path, _shape(array), tuple(var.shape)))
            continue
        matched.append((source, path))
        plan.append((var, array))
    assigned = {id(var) for var, _ in plan}
    seen: set[int] = set()
    unmatched = []
    for var in index.values():
        if id(var) not in seen:
            seen.add(id(var))
            if id(var) not in assigned and id(var) not in fed:
                unmatched.append(var.path or var.name)
    report = MatchReport(
        tuple(matched), tuple(unmatched), tuple(unused), tuple(ignored), tuple(mismatched),
        tuple(targets),
    )
    if mismatched:
        raise ConfigError("assign_weights: shapes differ; nothing assigned\n" + str(report))
    if strict and (unmatched or unused):
        raise ConfigError(
            "assign_weights(strict=True): unassigned model weights or unused source tensors; "
            "nothing assigned\n" + str(report)
        )
    if not dry_run:
        for var, array in plan:
            var.assign(array)
    return report
