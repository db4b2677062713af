"""The package's layers: the model description imports no format, TensorBundle is byte level only,
and every reader's boundary answers a damaged file with our own error."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import purekeras_io as pk
from purekeras_io.errors import FormatError

PACKAGE = Path(pk.__file__).parent
FORMATS = ("models", "keras_h5", "keras_v3", "savedmodel", "checkpoint")


def _imports(module: Path) -> set[str]:
    """Dotted names a module imports, made absolute (``..models`` → ``purekeras_io.models``)."""
    parts = list(module.relative_to(PACKAGE.parent).with_suffix("").parts)
    found: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = parts[: len(parts) - node.level] if node.level else []
            name = ".".join([*base, node.module or ""]).strip(".")
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("package, forbidden", [
    ("model", (*FORMATS, "tensorbundle")),
    ("tensorbundle", ("model", "models", "savedmodel", "checkpoint", "keras_h5", "keras_v3")),
])
def test_lower_layers_import_no_higher_one(package: str, forbidden: tuple[str, ...]) -> None:
    bad = []
    for module in sorted((PACKAGE / package).glob("*.py")):
        for name in sorted(_imports(module)):
            if any(name == f"purekeras_io.{f}" or name.startswith(f"purekeras_io.{f}.")
                   for f in forbidden):
                bad.append(f"{module.name}: {name}")
    assert bad == []


def test_model_methods_reach_the_writers_through_the_hooks(tmp_path: Path) -> None:
    model = pk.Sequential([pk.layers.Dense(2, input_shape=(3,))])
    model.save_weights(tmp_path / "w.h5")
    model.load_weights(tmp_path / "w.h5")
    with pytest.raises(ValueError, match="unknown hooks"):
        pk.model.io_hooks.register(save=print)


def test_h5_reader_boundary_gives_format_error(tmp_path: Path) -> None:
    import h5py

    path = tmp_path / "m.h5"
    pk.Sequential([pk.layers.Dense(2, input_shape=(3,))]).save(path)
    with h5py.File(path, "r+") as f:  # a config whose layers are not a list
        f.attrs["model_config"] = '{"class_name": "Sequential", "config": {"layers": 7}}'
    with pytest.raises(FormatError, match=str(path)):
        pk.models.load_model(path)
    deep = "[" * 100_000 + "]" * 100_000
    with h5py.File(path, "r+") as f:
        f.attrs["model_config"] = deep
    with pytest.raises(FormatError):
        pk.models.load_model(path)
