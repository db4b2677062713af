"""Verifying a TF2 object-based checkpoint (``save_weights("dir/ckpt")``), every problem reported.

==========================  =====================================================================
rule                        checked how
==========================  =====================================================================
``<prefix>.index``/data     the TensorBundle rules and checksums (:mod:`..tensorbundle.verify`)
object graph                ``_CHECKPOINTABLE_OBJECT_GRAPH`` parses; child ids in range; every
                            ``checkpoint_key`` exists (``savedmodel.verify.check_object_graph``)
``checkpoint`` state file   (optional) parses; the prefixes it names exist
==========================  =====================================================================
"""

from __future__ import annotations

import os

from .._report import Progress, Report, no_progress
from ..savedmodel.verify import OBJECT_GRAPH_CHECKS
from ..tensorbundle.format import index_filename
from ..tensorbundle.verify import verify_bundle
from .object_based import CHECKPOINT_STATE_FILENAME, read_checkpoint_state

__all__ = ["verify_checkpoint", "verify_checkpoint_state"]


def verify_checkpoint(prefix: str | os.PathLike[str], report: Report,
                      progress: Progress = no_progress) -> None:
    """The bundle at ``prefix``, its object graph and the state file of its folder."""
    prefix = os.fspath(prefix)
    verify_bundle(prefix, report, progress, OBJECT_GRAPH_CHECKS)
    verify_checkpoint_state(os.path.dirname(prefix) or ".", report)


def verify_checkpoint_state(folder: str | os.PathLike[str], report: Report) -> None:
    """The ``checkpoint`` text file of ``folder`` (if any): parses, the prefixes it names exist."""
    path = os.path.join(os.fspath(folder), CHECKPOINT_STATE_FILENAME)
    if not os.path.isfile(path):
        return
    try:
        state = read_checkpoint_state(folder)
    except Exception as exc:
        report.add(path, "", str(exc).replace(f"{path}: ", ""))
        return
    report.count("checkpoint state files")
    if not state.model_checkpoint_path:
        report.add(path, "model_checkpoint_path", "empty")
    names = [("model_checkpoint_path", state.model_checkpoint_path)] + [
        ("all_model_checkpoint_paths", p) for p in state.all_model_checkpoint_paths
    ]
    for field, name in names:
        if not name:
            continue
        prefix = name if os.path.isabs(name) else os.path.join(os.fspath(folder), name)
        if not os.path.isfile(index_filename(prefix)):
            report.add(path, field, f"names {name!r}, but {index_filename(prefix)} does not exist")
