"""A TensorFlow graph builder without TensorFlow: ``FunctionDef`` and ``GraphDef`` nodes.

* :mod:`.opdefs`: the ops we may emit, as TensorFlow's op registry defines them;
* :mod:`.attrs`: Python values → ``AttrValue`` / ``TensorProto`` / shapes;
* :mod:`.builder`: :class:`FunctionBuilder` / :class:`GraphBuilder` (checked ops, deterministic
  names, default attributes stripped) and the :class:`Library` of a SavedModel.

What the nodes compute is the business of :mod:`purekeras_io.lowering`.
"""

from __future__ import annotations

from .builder import FunctionBuilder, GraphBuilder, Library, Tensor, arg_name

__all__ = ["FunctionBuilder", "GraphBuilder", "Library", "Tensor", "arg_name"]
