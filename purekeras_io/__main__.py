"""Command line: ``python -m purekeras_io VERB …`` is the ``purekeras`` tool
(:mod:`purekeras_io.cli`);
``python -m purekeras_io demo OUTDIR`` saves the seed example in every format.

The seed example is the one of ``tf.keras.models.save_model`` with one import changed::

    model = pk.Sequential([pk.layers.Dense(5, input_shape=(3,)), pk.layers.Softmax()])
    model.save(path)
    loaded = pk.models.load_model(path)
    assert np.allclose(model.predict(x), loaded.predict(x))
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

__all__ = ["demo", "main"]

# Where the seed example is written, per format: (name in the output folder, save_model options).
DEMO_TARGETS: tuple[tuple[str, dict[str, object]], ...] = (
    ("seed_savedmodel", {"save_format": "tf"}),
    ("seed.h5", {}),
    ("seed.keras", {}),
)


def demo(outdir: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """Save the seed model in every format, load each back, compare predictions.

    Returns ``(path, result)`` pairs; a format that is not implemented yet reports so.
    """
    import warnings

    import purekeras_io as pk
    from purekeras_io.errors import UnsupportedFeatureError

    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    pk.initializers.seed(0)
    model = pk.Sequential([pk.layers.Dense(5, input_shape=(3,)), pk.layers.Softmax()])
    x = np.random.default_rng(0).uniform(size=(10, 3)).astype("float32")
    expected = model.predict(x)
    results = []
    for name, options in DEMO_TARGETS:
        path = out / name
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.save(path, **options)  # type: ignore[arg-type]
                loaded = pk.models.load_model(path)
        except UnsupportedFeatureError as exc:
            results.append((str(path), f"not available yet: {exc}"))
            continue
        same = np.allclose(expected, loaded.predict(x))
        results.append((str(path), "saved, loaded back, predictions equal" if same else "MISMATCH"))
    return results


def main(argv: list[str] | None = None) -> int:
    """``purekeras`` (:func:`purekeras_io.cli.main`): ``demo``, ``inspect``, ``convert``, …"""
    from .cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
