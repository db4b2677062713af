"""Coverage-guided fuzzing of the readers with atheris (libFuzzer for Python), beside the
mutation fuzzer ``tools/fuzz.py``.

    python -m venv /tmp/ath && /tmp/ath/bin/pip install atheris -e .
    /tmp/ath/bin/python tools/fuzz_atheris.py --format h5 --seconds 300

One format per run. The fuzzed bytes replace one file of a valid seed (``tools/fuzz.py``'s seeds:
our sample models and TensorFlow's/Keras' golden files): ``.h5`` and ``.keras`` the whole file,
a SavedModel its ``saved_model.pb``, a checkpoint its ``.index``; the corpus starts from those
files' bytes. The reader runs in process (libFuzzer's ``-timeout`` and ``-rss_limit_mb`` catch
hangs and memory); an exception that is not a :class:`purekeras_io.errors.PurekerasError`, a
hang or a crash stops the run with the input saved as ``crash-*``/``timeout-*`` in the
current folder. purekeras_io is instrumented for coverage; h5py/zipfile/protobuf are not.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["purekeras_io"]):
    import purekeras_io  # noqa: F401
    from purekeras_io.errors import PurekerasError

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fuzz

TARGET = {"h5": None, "keras": None, "tf": "saved_model.pb", "checkpoint": "*.index"}


def _target_file(fmt: str, root: Path) -> Path:
    pattern = TARGET[fmt]
    if pattern is None:
        return root
    return sorted(root.glob(pattern))[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--format", choices=fuzz.FORMATS, required=True)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--runs", type=int, default=-1, help="libFuzzer -runs (-1: no limit)")
    parser.add_argument("--seeds", choices=("ours", "golden", "all"), default="all")
    args, rest = parser.parse_known_args()
    base = Path(tempfile.mkdtemp(prefix="purekeras-atheris-"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seeds = [s for group in fuzz.seeds(args.format, args.seeds, base) for s in group]
    corpus = base / "corpus"
    corpus.mkdir()
    for i, seed in enumerate(seeds):
        (corpus / f"seed{i}").write_bytes(_target_file(args.format, seed.path).read_bytes())
    # the case: a copy of the first seed, its target file replaced by the fuzzer's bytes
    first = seeds[0]
    work = base / ("case" + (first.path.suffix if first.path.is_file() else ""))
    if first.path.is_dir():
        shutil.copytree(first.path, work)
    else:
        shutil.copy(first.path, work)
    target = _target_file(args.format, work)

    def one_input(data: bytes) -> None:
        target.write_bytes(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                fuzz._read(args.format, work, first.model)
            except PurekerasError:
                pass

    print(f"fuzz_atheris: {args.format}, {len(seeds)} seeds, {args.seconds} s", flush=True)
    atheris.Setup([sys.argv[0], *rest, str(corpus), f"-max_total_time={args.seconds}",
                   f"-runs={args.runs}", "-timeout=10", "-rss_limit_mb=2048",
                   "-print_final_stats=1"], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
