"""purekeras_io installs and imports without TensorFlow, Keras, JAX or PyTorch.

A fresh virtual environment gets ``pip install <repo>`` (a real build and install, no editable
shortcut); then every submodule of the package is imported there and ``sys.modules`` is checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FORBIDDEN = ("tensorflow", "keras", "tf_keras", "jax", "torch")

CHECK = r"""
import importlib, json, pkgutil, sys, time
t = time.perf_counter()
import purekeras_io
elapsed = time.perf_counter() - t
names = ["purekeras_io"]
for info in pkgutil.walk_packages(purekeras_io.__path__, "purekeras_io."):
    if info.name.endswith("__main__"):
        continue
    importlib.import_module(info.name)
    names.append(info.name)
bad = sorted(m for m in sys.modules if m.split(".")[0] in %r)
print(json.dumps({"modules": names, "forbidden": bad, "import_seconds": elapsed,
                  "file": purekeras_io.__file__}))
""".replace("%r", repr(FORBIDDEN))


def test_fresh_install_imports_without_tensorflow(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(ROOT)],
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        [str(python), "-c", CHECK], check=True, capture_output=True, text=True, cwd=str(tmp_path)
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["forbidden"] == [], result["forbidden"]
    assert str(env_dir) in result["file"], "imported the repository copy, not the installed one"
    assert "purekeras_io.tensorbundle" in result["modules"]
    assert len(result["modules"]) > 10


def test_this_process_has_no_tensorflow() -> None:
    import importlib
    import pkgutil

    import purekeras_io

    for info in pkgutil.walk_packages(purekeras_io.__path__, "purekeras_io."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    assert not [m for m in sys.modules if m.split(".")[0] in FORBIDDEN]
