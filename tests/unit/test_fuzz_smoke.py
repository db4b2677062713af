"""A bounded run of ``tools/fuzz.py`` (the long runs are beside the suite): damaged copies of
valid files in every format give our own error or load, never a foreign exception or a crash.

Hangs are counted but not yet failed on: a damaged variable-length string in an HDF5 global heap
makes the HDF5 library itself loop inside ``h5py``'s attribute read (about 1 case in 150-300 of
``.h5``; open in issue 11)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "tools" / "fuzz.py"


def test_mutated_files_give_our_errors_only() -> None:
    out = subprocess.run(
        [sys.executable, str(TOOL), "--cases", "150", "--seed", "7", "--timeout", "10"],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    ).stdout
    lines = [line for line in out.splitlines() if "cases in" in line]
    assert len(lines) == 4, out
    for line in lines:
        assert "foreign" not in line and "crash" not in line and "memory" not in line, line
        assert not re.search(r"'hang': \d+", line) or line.startswith("h5 "), line
