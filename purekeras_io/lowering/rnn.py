"""Recurrent layers as TensorFlow graphs: SimpleRNN, LSTM, GRU, the generic RNN over their cells,
Bidirectional and TimeDistributed.

A recurrent layer becomes one functional loop (``StatelessWhile``) over a time dimension that
is known only at run time, as Keras' own graph does:

* outside the loop, the cell's weights are read, the sequence is projected by the input kernel
  (``x·W`` for every step at once, plus the input bias where the cell adds it before the
  recurrent term), put time-major (``(time, batch, k*units)``) and, for ``go_backwards``,
  reversed in time together with the mask;
* the loop variables are the step counter, the number of steps, the previous output, the cell's
  states, a ``TensorList`` collecting every step's output, the projected sequence, the mask and
  the weights (nested functions cannot read the outer function's variables, so they go through
  the loop unchanged);
* the body takes step ``t`` of the sequence, runs the cell (the gates of
  :mod:`purekeras_io.layers.rnn`, same order of operations), and where the mask is off keeps
  the previous states and repeats the previous output (zeros with ``zero_output_for_mask``);
* after the loop: the last output or the stacked sequence (batch-major again, left in reversed
  order for ``go_backwards``), then the final states for ``return_state``.

Initial states come from ``initial_state`` (or tf_keras' ``[x, *states]`` call), zeros
otherwise; ``unroll`` changes nothing here. Bidirectional lowers its two layers, flips the
backward sequence back and merges (concat/sum/mul/ave/None); TimeDistributed folds time into the
batch (``(batch*time, …)``), lowers the wrapped layer and unfolds its result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from ..graph.attrs import Shape
from ..graph.builder import FunctionBuilder, Tensor
from ..layers import rnn as R
from . import activations, registry
from .context import LowerContext
from .registry import lowers, lowers_mask
from .walk import NotLowerable, call_layer

__all__: list[str] = []

StepFn = Callable[[LowerContext, Tensor, list[Tensor], list[Tensor]],
                  tuple[Tensor, list[Tensor]]]
"""One cell step in a loop body: ``(ctx, projected input, states, weights) -> (out, states)``."""


# ============================================================================ cells


@dataclass
class _CellPlan:
    """What the loop needs from a cell: the projected sequence, the weights and the step."""

    projected: Tensor
    """``(batch, time, width)`` or time-major: the input part computed before the loop."""
    weights: list[Tensor]
    step: StepFn
    state_sizes: list[int]
    units: int
    extra: dict[str, Any] = field(default_factory=dict)


def _split(ctx: LowerContext, x: Tensor, parts: int, units: int) -> list[Tensor]:
    batch = None if x.shape is None else x.shape[0]
    out = ctx.op("Split", ctx.const(np.asarray(-1, np.int32)), x, num_split=parts,
                 shape=[(batch, units)] * parts)
    return [out] if parts == 1 else list(out)


def _mm(ctx: LowerContext, x: Tensor, w: Tensor) -> Tensor:
    batch = None if x.shape is None else x.shape[0]
    cols = None if w.shape is None else w.shape[-1]
    return cast(Tensor, ctx.op("MatMul", x, w, shape=(batch, cols)))


def _plan(ctx: LowerContext, layer: Any, x: Tensor) -> _CellPlan:
    """The cell of ``layer`` (``SimpleRNNCell``/``LSTMCell``/``GRUCell``) applied to ``x``."""
    cell = layer.cell
    if isinstance(cell, R.LSTMCell):
        return _lstm_plan(ctx, cell, x)
    if isinstance(cell, R.GRUCell):
        return _gru_plan(ctx, cell, x)
    if isinstance(cell, R.SimpleRNNCell):
        return _simple_plan(ctx, cell, x)
    raise NotLowerable(layer, f"a recurrent cell of class {type(cell).__name__}")


def _read(ctx: LowerContext, cell: Any, dtype: str) -> list[Tensor]:
    return [ctx.read(v, dtype) for v in cell.own_variables]


def _simple_plan(ctx: LowerContext, cell: R.SimpleRNNCell, x: Tensor) -> _CellPlan:
    w = _read(ctx, cell, x.dtype)
    h = ctx.matmul(x, w[0])
    if cell.config["use_bias"]:
        h = ctx.add(h, w[2])
    act = cell.config["activation"]

    def step(b: LowerContext, xt: Tensor, states: list[Tensor], ws: list[Tensor]
             ) -> tuple[Tensor, list[Tensor]]:
        out = activations.apply(b, act, b.add(xt, _mm(b, states[0], ws[0])))
        return out, [out]

    return _CellPlan(h, [w[1]], step, [cell.units], cell.units)


def _lstm_plan(ctx: LowerContext, cell: R.LSTMCell, x: Tensor) -> _CellPlan:
    w = _read(ctx, cell, x.dtype)
    u = cell.units
    use_bias = bool(cell.config["use_bias"])
    act, rec = cell.config["activation"], cell.config["recurrent_activation"]

    def step(b: LowerContext, xt: Tensor, states: list[Tensor], ws: list[Tensor]
             ) -> tuple[Tensor, list[Tensor]]:
        h_prev, c_prev = states
        z = b.add(xt, _mm(b, h_prev, ws[0]))
        if use_bias:
            z = b.add(z, ws[1])
        zi, zf, zc, zo = _split(b, z, 4, u)
        i = activations.apply(b, rec, zi)
        f = activations.apply(b, rec, zf)
        c = b.add(b.mul(f, c_prev), b.mul(i, activations.apply(b, act, zc)))
        o = activations.apply(b, rec, zo)
        h = b.mul(o, activations.apply(b, act, c))
        return h, [h, c]

    return _CellPlan(ctx.matmul(x, w[0]), [w[1], *w[2:3]], step, [u, u], u)


def _gru_plan(ctx: LowerContext, cell: R.GRUCell, x: Tensor) -> _CellPlan:
    w = _read(ctx, cell, x.dtype)
    u = cell.units
    reset_after = bool(cell.config["reset_after"])
    use_bias = bool(cell.config["use_bias"])
    act, rec = cell.config["activation"], cell.config["recurrent_activation"]
    mx = ctx.matmul(x, w[0])
    weights: list[Tensor]
    if reset_after:
        weights = [w[1]]
        if use_bias:
            bias = w[2]
            in_bias = ctx.strided_slice(bias, [0], [1], [1], shape=(3 * u,), shrink_axis_mask=1)
            rec_bias = ctx.strided_slice(bias, [1], [2], [1], shape=(3 * u,), shrink_axis_mask=1)
            mx = ctx.add(mx, in_bias)
            weights.append(rec_bias)
    else:
        if use_bias:
            mx = ctx.add(mx, w[2])
        gates = ctx.strided_slice(w[1], [0, 0], [0, 2 * u], [1, 1], shape=(u, 2 * u),
                                  begin_mask=1, end_mask=1)
        cand = ctx.strided_slice(w[1], [0, 2 * u], [0, 3 * u], [1, 1], shape=(u, u),
                                 begin_mask=1, end_mask=1)
        weights = [gates, cand]

    def step(b: LowerContext, xt: Tensor, states: list[Tensor], ws: list[Tensor]
             ) -> tuple[Tensor, list[Tensor]]:
        h_prev = states[0]
        inner = _mm(b, h_prev, ws[0])
        if reset_after and use_bias:
            inner = b.add(inner, ws[1])
        xz, xr, xh = _split(b, xt, 3, u)
        if reset_after:
            iz, ir, ih = _split(b, inner, 3, u)
        else:
            iz, ir = _split(b, inner, 2, u)
        z = activations.apply(b, rec, b.add(xz, iz))
        r = activations.apply(b, rec, b.add(xr, ir))
        rh = b.mul(r, ih) if reset_after else _mm(b, b.mul(r, h_prev), ws[1])
        hh = activations.apply(b, act, b.add(xh, rh))
        h = b.add(b.mul(z, h_prev), b.mul(b.sub(b.scalar(1.0, z), z), hh))
        return h, [h]

    return _CellPlan(mx, weights, step, [u], u)


# ============================================================================ the time loop


@dataclass
class _LoopResult:
    last: Tensor
    states: list[Tensor]
    sequence: Tensor | None
    """Time-major ``(time, batch, units)`` (only when asked for)."""


def _time_loop(ctx: LowerContext, name: str, plan: _CellPlan, seq: Tensor, mask: Tensor | None,
               states: list[Tensor], zero_masked: bool, want_sequence: bool) -> _LoopResult:
    """Run ``plan.step`` over the time-major ``seq`` (``(time, batch, width)``) in a While."""
    dtype = seq.dtype
    u = plan.units
    batch = None if seq.shape is None else seq.shape[1]
    steps = ctx.dim(seq, 0)
    batch_t = ctx.dim(seq, 1)
    zeros = cast(Tensor, ctx.op("Fill", ctx.shape_vector(seq, [batch_t, u]),
                                ctx.const(np.asarray(0.0), dtype), shape=(batch, u)))
    loop: list[Tensor] = [ctx.const(np.asarray(0, np.int32)), steps, zeros, *states]
    names = ["t", "n", "prev", *[f"state{i}" for i in range(len(states))]]
    if want_sequence:
        handle = cast(Tensor, ctx.op(
            "TensorListReserve", ctx.const(np.asarray([-1, u], np.int32)), steps,
            element_dtype=dtype, shape=()))
        loop.append(handle)
        names.append("outputs")
    loop.append(seq)
    names.append("seq")
    if mask is not None:
        loop.append(mask)
        names.append("mask")
    loop.extend(plan.weights)
    names.extend(f"w{i}" for i in range(len(plan.weights)))
    shapes: list[Shape] = [t.shape for t in loop]

    cond = ctx.new_function(f"{name}_while_cond")
    args = [cond.arg(n, t.dtype, t.shape) for n, t in zip(names, loop)]
    cond.ret("less", cast(Tensor, cond.op("Less", args[0], args[1], shape=())))
    ctx.library.add(cond)

    body = ctx.new_function(f"{name}_while_body")
    bctx = LowerContext(body, ctx.library)
    bctx.dialect = ctx.dialect
    outs = _body(bctx, body, names, loop, plan, len(states), mask is not None, zero_masked,
                 want_sequence)
    for n, t in zip(names, outs):
        body.ret(f"next_{n}", t)  # not the argument names: OpenVINO resolves both alike
    ctx.library.add(body)

    result = ctx.op("StatelessWhile", loop, cond=cond.name, body=body.name,
                    output_shapes=shapes, shape=shapes, name="while")
    result = list(result)
    k = len(states)
    final_states = result[3 : 3 + k]
    sequence = None
    if want_sequence:
        sequence = cast(Tensor, ctx.op(
            "TensorListStack", result[3 + k], ctx.const(np.asarray([-1, u], np.int32)),
            element_dtype=dtype, shape=(seq.shape[0] if seq.shape else None, batch, u)))
    return _LoopResult(result[2], final_states, sequence)


def _body(b: LowerContext, fb: FunctionBuilder, names: list[str], loop: list[Tensor],
          plan: _CellPlan, n_states: int, masked: bool, zero_masked: bool,
          want_sequence: bool) -> list[Tensor]:
    """The loop body's outputs, in the order of the loop variables."""
    args = [fb.arg(n, t.dtype, t.shape) for n, t in zip(names, loop)]
    t, n, prev = args[0], args[1], args[2]
    states = args[3 : 3 + n_states]
    pos = 3 + n_states
    handle = None
    if want_sequence:
        handle = args[pos]
        pos += 1
    seq = args[pos]
    pos += 1
    mask = None
    if masked:
        mask = args[pos]
        pos += 1
    weights = args[pos:]
    axis = b.const(np.asarray(0, np.int32))
    width = None if seq.shape is None else seq.shape[2]
    batch = None if seq.shape is None else seq.shape[1]
    xt = cast(Tensor, b.op("GatherV2", seq, t, axis, shape=(batch, width)))
    out, new_states = plan.step(b, xt, list(states), list(weights))
    if mask is not None:
        keep_t = cast(Tensor, b.op("GatherV2", mask, t, axis, shape=(batch,)))
        keep = cast(Tensor, b.op("ExpandDims", keep_t, b.const(np.asarray(-1, np.int32)),
                                 shape=(batch, 1)))
        fallback = b.unary("ZerosLike", out) if zero_masked else prev
        out = cast(Tensor, b.op("SelectV2", keep, out, fallback, shape=prev.shape))
        new_states = [cast(Tensor, b.op("SelectV2", keep, ns, s, shape=s.shape))
                      for ns, s in zip(new_states, states)]
    result = [b.add(t, b.const(np.asarray(1, np.int32))), b.identity(n), out, *new_states]
    if handle is not None:
        result.append(cast(Tensor, b.op("TensorListSetItem", handle, t, out, shape=())))
    result.append(b.identity(seq))
    if mask is not None:
        result.append(b.identity(mask))
    result.extend(b.identity(w) for w in weights)
    return result


# ============================================================================ RNN layers


def _split_inputs(inputs: Any, mask: Any, initial_state: Any) -> tuple[Tensor, Any, Any]:
    """tf_keras' ``[x, *states]`` call → the sequence, its mask and the initial states."""
    if isinstance(inputs, (list, tuple)):
        if len(inputs) > 1 and initial_state is None:
            initial_state = list(inputs[1:])
        inputs = inputs[0]
    if isinstance(mask, (list, tuple)):
        mask = mask[0] if mask else None
    if initial_state is not None and not isinstance(initial_state, (list, tuple)):
        initial_state = [initial_state]
    return cast(Tensor, inputs), mask, initial_state


@lowers(R._RNNBase)
def _rnn(ctx: LowerContext, layer: Any, inputs: Any, mask: Any = None,
         initial_state: Any = None, **_: Any) -> Any:
    x, mask, initial_state = _split_inputs(inputs, mask, initial_state)
    if layer.config.get("stateful"):
        raise NotLowerable(layer, "stateful=True keeps states between calls")
    time_major = bool(layer.config.get("time_major"))
    plan = _plan(ctx, layer, x)
    seq = plan.projected if time_major else ctx.transpose(plan.projected, [1, 0, 2])
    m = None
    if mask is not None:
        m = ctx.cast(cast(Tensor, mask), "bool")
        if not time_major:
            m = ctx.transpose(m, [1, 0])
    if layer.config["go_backwards"]:
        time_axis = ctx.const(np.asarray([0], np.int32))
        seq = cast(Tensor, ctx.op("ReverseV2", seq, time_axis))
        if m is not None:
            m = cast(Tensor, ctx.op("ReverseV2", m, time_axis))
    batch = ctx.dim(seq, 1)
    if initial_state is None:
        states = [cast(Tensor, ctx.op("Fill", ctx.shape_vector(seq, [batch, n]),
                                      ctx.const(np.asarray(0.0), seq.dtype),
                                      shape=(None if seq.shape is None else seq.shape[1], n)))
                  for n in plan.state_sizes]
    else:
        given = [ctx.cast(cast(Tensor, s), seq.dtype) for s in initial_state]
        if len(given) != len(plan.state_sizes):
            raise NotLowerable(layer, f"{len(given)} initial states for a cell with "
                                      f"{len(plan.state_sizes)}")
        states = given
    want_sequence = bool(layer.config["return_sequences"])
    res = _time_loop(ctx, layer.name, plan, seq, m, states,
                     bool(layer.config.get("zero_output_for_mask")), want_sequence)
    if want_sequence:
        seq_out = cast(Tensor, res.sequence)
        result: Tensor = seq_out if time_major else ctx.transpose(seq_out, [1, 0, 2])
    else:
        result = res.last
    if layer.config["return_state"]:
        return [result, *res.states]
    return result


@lowers_mask(R._RNNBase)
def _rnn_mask(ctx: LowerContext, layer: Any, inputs: Any, mask: Any) -> Any:
    if isinstance(mask, (list, tuple)):
        mask = mask[0] if mask else None
    out_mask = mask if layer.config["return_sequences"] else None
    if layer.config["return_state"]:
        return [out_mask] + [None] * len(layer.state_size)
    return out_mask


# ============================================================================ Bidirectional


def _merge(ctx: LowerContext, mode: Any, y: Tensor, y_rev: Tensor) -> Any:
    if mode == "concat":
        return ctx.concat([y, y_rev], -1)
    if mode == "sum":
        return ctx.add(y, y_rev)
    if mode == "ave":
        return ctx.div(ctx.add(y, y_rev), 2.0)
    if mode == "mul":
        return ctx.mul(y, y_rev)
    return [y, y_rev]


@lowers(R.Bidirectional)
def _bidirectional(ctx: LowerContext, layer: R.Bidirectional, inputs: Any, mask: Any = None,
                   initial_state: Any = None, **_: Any) -> Any:
    x, mask, initial_state = _split_inputs(inputs, mask, initial_state)
    fwd_state = bwd_state = None
    if initial_state is not None:
        half = len(initial_state) // 2
        fwd_state, bwd_state = list(initial_state[:half]), list(initial_state[half:])
    outs = []
    for sub, state in ((layer.forward_layer, fwd_state), (layer.backward_layer, bwd_state)):
        sub.source_dialect = layer.source_dialect
        kwargs = {} if state is None else {"initial_state": state}
        y, _ = call_layer(ctx, sub, [x], kwargs, mask)
        outs.append(y)
    y, y_rev = outs
    states: list[Any] = []
    if layer.return_state:
        states = list(y[1:]) + list(y_rev[1:])
        y, y_rev = y[0], y_rev[0]
    if layer.return_sequences:
        time_axis = 0 if layer.forward_layer.config.get("time_major") else 1
        y_rev = cast(Tensor, ctx.op("ReverseV2", y_rev,
                                    ctx.const(np.asarray([time_axis], np.int32))))
    out = _merge(ctx, layer.config["merge_mode"], y, y_rev)
    if layer.return_state:
        return [*(out if isinstance(out, list) else [out]), *states]
    return out


@lowers_mask(R.Bidirectional)
def _bidirectional_mask(ctx: LowerContext, layer: R.Bidirectional, inputs: Any, mask: Any
                        ) -> Any:
    if isinstance(mask, (list, tuple)):
        mask = mask[0] if mask else None
    out_mask = mask if layer.return_sequences else None
    outs = [out_mask, out_mask] if layer.config["merge_mode"] is None else [out_mask]
    if layer.return_state:
        outs += [None] * (2 * len(getattr(layer.forward_layer, "state_size", [])))
    return outs if len(outs) > 1 else outs[0]


# ============================================================================ TimeDistributed


def _fold(ctx: LowerContext, x: Tensor) -> Tensor:
    """``(batch, time, …)`` → ``(batch*time, …)``."""
    if x.shape is None:
        raise ValueError("TimeDistributed needs inputs of known rank")
    rest: Sequence[int | None] = x.shape[2:]
    if all(d is not None for d in rest):
        return ctx.reshape(x, [-1, *cast(Sequence[int], rest)], static=(None, *rest))
    tail = ctx.strided_slice(ctx.shape_vector(x), [2], [0], [1], end_mask=1)
    vec = ctx.concat([ctx.const(np.asarray([-1], np.int32)), tail], 0)
    return ctx.reshape(x, vec, static=(None, *rest))


def _unfold(ctx: LowerContext, y: Tensor, like: Tensor) -> Tensor:
    """``(batch*time, …)`` → ``(batch, time, …)`` with batch and time of ``like``."""
    lead = ctx.strided_slice(ctx.shape_vector(like), [0], [2], [1], shape=(2,))
    rest: Sequence[int | None] = () if y.shape is None else y.shape[1:]
    if y.shape is not None and all(d is not None for d in rest):
        tail = ctx.const(np.asarray(list(rest), np.int32))
    else:
        tail = ctx.strided_slice(ctx.shape_vector(y), [1], [0], [1], end_mask=1)
    vec = ctx.concat([lead, tail], 0)
    static = None if like.shape is None or y.shape is None else (*like.shape[:2], *rest)
    return ctx.reshape(y, vec, static=static)


def _inner_mask(ctx: LowerContext, mask: Any) -> Tensor | None:
    if isinstance(mask, Tensor) and mask.rank is not None and mask.rank > 2:
        return _fold(ctx, mask)
    return None


@lowers(R.TimeDistributed)
def _time_distributed(ctx: LowerContext, layer: R.TimeDistributed, x: Tensor, mask: Any = None,
                      **_: Any) -> Tensor:
    flat = _fold(ctx, x)
    layer.layer.source_dialect = layer.source_dialect
    inner_mask = _inner_mask(ctx, mask)
    kwargs = {} if inner_mask is None else {"mask": inner_mask}
    y, _ = call_layer(ctx, layer.layer, [flat], kwargs, None)
    if not isinstance(y, Tensor):
        raise NotLowerable(layer, "a wrapped layer with several outputs")
    return _unfold(ctx, y, x)


@lowers_mask(R.TimeDistributed)
def _time_distributed_mask(ctx: LowerContext, layer: R.TimeDistributed, x: Any, mask: Any
                           ) -> Any:
    if x is None or isinstance(x, (list, tuple)):
        return mask
    inner = layer.layer
    inner_mask = _inner_mask(ctx, mask)
    mask_fn = registry.find_mask(inner)
    if mask_fn is not None:
        out = mask_fn(ctx, inner, _fold(ctx, x), inner_mask)
    elif inner.supports_masking:
        out = inner_mask
    else:
        out = None
    if out is None or isinstance(out, (list, tuple)):
        return mask
    return _unfold(ctx, cast(Tensor, out), x)
