"""Leaf ``nn.Module`` handlers of :func:`~purekeras_io.importers.torch_graph.from_torch`.

:data:`MODULES` maps a torch module class name to a handler ``(ctx, module, *args, **kwargs)``
that calls our layer(s) on the argument tensors and sets their weights
(:mod:`.torch_weights`). Where Keras has no equivalent argument, explicit layers go in:

* **conv padding**: an int/tuple ``padding`` is Keras ``"same"`` when that pads exactly as
  torch does for the traced input size (same output length, same left padding), else a
  ``ZeroPaddingND`` before a ``"valid"`` convolution; ``padding="same"|"valid"`` map as they
  are. ``groups == in_channels`` → ``DepthwiseConvND``; other groups → ``ConvND(groups=…)``.
  ``padding_mode`` other than ``"zeros"`` is refused.
* **transposed conv**: ``"valid"`` with ``output_padding``, then ``CroppingND(padding)``.
* **max pooling padding** is ``-inf`` in torch: zero padding when the input is known to be
  ≥ 0 (after a ReLU), else the border row/column repeated (``CroppingND`` + ``Concatenate``),
  which gives the same maximum because each padded window also holds that border element.
  ``ceil_mode`` becomes extra right padding. **avg pooling** pads zeros
  (``count_include_pad=True``); ``count_include_pad=False`` with padding is refused.
* **adaptive pooling** to 1 → ``GlobalAvg/MaxPoolingND(keepdims=True)``; to a size dividing
  the input → a pooling with ``k = s = n / out``; other sizes are refused.
* **recurrent**: ``num_layers`` stacked Keras layers (``Bidirectional`` when bidirectional), the
  last with ``return_state=True`` so that ``h_n[-1]`` (and ``h_n[-2]``, the last layer's forward
  state of a bidirectional module) can be read; states of earlier layers are refused.
  ``batch_first=False`` and initial states are refused.
* **TransformerEncoderLayer/TransformerEncoder** (``batch_first=True``, no masks):
  ``MultiHeadAttention`` + ``Dense`` + ``LayerNormalization`` + ``Add``, post-norm or
  ``norm_first``, ``relu`` or ``gelu``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import layers as L
from .torch_layout import TV, identity
from .torch_ops import activation, reshape_to_meta
from .torch_weights import keras_momentum, mha_weights, module_weights, rnn_layer_weights

if TYPE_CHECKING:
    from .torch_graph import Context

__all__ = ["MODULES", "adaptive_pool", "functional_pool", "upsample"]

Handler = Callable[..., Any]


def _tuple(value: Any, rank: int) -> tuple[int, ...]:
    if isinstance(value, (list, tuple)):
        if len(value) != rank:
            raise ValueError(f"expected {rank} values, received {value!r}")
        return tuple(int(v) for v in value)
    return (int(value),) * rank


def _no_extra(ctx: Context, what: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    given = [a for a in args if a is not None] + [k for k, v in kwargs.items() if v is not None]
    if given:
        raise ctx.refuse(f"{what} called with extra arguments {given!r}")


def _fmt(ctx: Context) -> dict[str, Any]:
    return {"data_format": ctx.data_format}


def _spatial_layer(ctx: Context, kind: str, rank: int, **config: Any) -> Any:
    """``ZeroPaddingND``/``CroppingND``/… of ``rank`` spatial axes in the context's format."""
    cls = getattr(L, f"{kind}{rank}D")
    if rank == 1:
        if ctx.data_format == "channels_first":
            raise ctx.refuse(f"{kind}1D in channels_first (Keras has only channels-last)")
        return cls(**config)
    return cls(**config, **_fmt(ctx))


def _pairs(pads: list[tuple[int, int]]) -> Any:
    return pads[0] if len(pads) == 1 else [list(p) for p in pads]


# ============================================================================ dense and conv


def linear(ctx: Context, m: Any, x: TV) -> TV:
    if x.perm[-1] != x.rank - 1:
        x = ctx.permute(x, identity(x.rank))
    layer = L.Dense(int(m.out_features), use_bias=m.bias is not None, name=ctx.name())
    out = layer(x.tensor)
    layer.set_weights(module_weights(m))
    return TV(out, x.perm, ctx.meta_shape())


def _keras_same(n: int, k: int, s: int, d: int) -> tuple[int, int]:
    """Output length and left padding of Keras ``padding="same"``."""
    keff = (k - 1) * d + 1
    out = -(-n // s)
    total = max((out - 1) * s + keff - n, 0)
    return out, total // 2


def conv(ctx: Context, m: Any, x: TV) -> TV:
    rank = m.weight.ndim - 2
    if m.padding_mode != "zeros":
        raise ctx.refuse(f"padding_mode={m.padding_mode!r}")
    k, s, d = (_tuple(v, rank) for v in (m.kernel_size, m.stride, m.dilation))
    if any(v > 1 for v in s) and any(v > 1 for v in d):
        raise ctx.refuse(f"strides {s} together with dilation {d} (Keras refuses both > 1)")
    x = ctx.permute(x, ctx.spatial_perm(x.rank))
    out_spatial = ctx.meta_shape()[2:]
    padding = "valid"
    if m.padding == "same":
        padding = "same"
    elif m.padding != "valid":
        p = _tuple(m.padding, rank)
        if any(p):
            same = [_keras_same(n, *a) for n, *a in zip(x.shape[2:], k, s, d)]
            if all(o == t and left == pi for (o, left), t, pi in zip(same, out_spatial, p)):
                padding = "same"
            else:
                pad = _spatial_layer(ctx, "ZeroPadding", rank,
                                     padding=_pairs([(pi, pi) for pi in p]),
                                     name=ctx.name("_pad"))
                x = x.with_tensor(pad(x.tensor))
    cin, cout, groups = int(m.in_channels), int(m.out_channels), int(m.groups)
    common = {"kernel_size": list(k), "strides": list(s), "padding": padding,
              "dilation_rate": list(d), "use_bias": m.bias is not None, "name": ctx.name(),
              **_fmt(ctx)}
    if groups > 1 and groups == cin:
        layer = getattr(L, f"DepthwiseConv{rank}D")(depth_multiplier=cout // cin, **common)
    else:
        layer = getattr(L, f"Conv{rank}D")(cout, groups=groups, **common)
    out = layer(x.tensor)
    layer.set_weights(module_weights(m))
    return TV(out, x.perm, ctx.meta_shape())


def conv_transpose(ctx: Context, m: Any, x: TV, output_size: Any = None) -> TV:
    rank = m.weight.ndim - 2
    if output_size is not None:
        raise ctx.refuse("ConvTranspose called with output_size")
    if m.padding_mode != "zeros" or int(m.groups) != 1:
        raise ctx.refuse(f"padding_mode={m.padding_mode!r}, groups={m.groups}")
    k, s, d, p, op = (_tuple(v, rank) for v in (m.kernel_size, m.stride, m.dilation,
                                                 m.padding, m.output_padding))
    if any(v > 1 for v in s) and any(v > 1 for v in d):
        raise ctx.refuse(f"strides {s} together with dilation {d}")
    if any(o >= si for o, si in zip(op, s)):
        raise ctx.refuse(f"output_padding {op} not smaller than strides {s}")
    x = ctx.permute(x, ctx.spatial_perm(x.rank))
    layer = getattr(L, f"Conv{rank}DTranspose")(
        int(m.out_channels), kernel_size=list(k), strides=list(s), padding="valid",
        output_padding=list(op), dilation_rate=list(d), use_bias=m.bias is not None,
        name=ctx.name(), **_fmt(ctx))
    out = layer(x.tensor)
    layer.set_weights(module_weights(m))
    if any(p):
        crop = _spatial_layer(ctx, "Cropping", rank, cropping=_pairs([(v, v) for v in p]),
                              name=ctx.name("_crop"))
        out = crop(out)
    return TV(out, x.perm, ctx.meta_shape())


# ============================================================================ normalization


def _channel_axis(x: TV) -> int:
    axis = x.keras_axis(1)
    return -1 if axis == x.rank - 1 else axis


def batchnorm(ctx: Context, m: Any, x: TV) -> TV:
    if not m.track_running_stats or m.running_mean is None:
        raise ctx.refuse("BatchNorm without running statistics (track_running_stats=False)")
    layer = L.BatchNormalization(axis=_channel_axis(x), epsilon=float(m.eps),
                                 momentum=keras_momentum(m.momentum), center=bool(m.affine),
                                 scale=bool(m.affine), name=ctx.name())
    out = layer(x.tensor)
    layer.set_weights(module_weights(m))
    return x.with_tensor(out, nonneg=False)


def _layernorm(ctx: Context, m: Any, x: TV, name: str | None) -> TV:
    n = len(m.normalized_shape)
    r = x.rank
    if x.perm[r - n:] != tuple(range(r - n, r)):
        x = ctx.permute(x, identity(r))
    axis: Any = -1 if n == 1 else list(range(r - n, r))
    has_w = getattr(m, "weight", None) is not None
    has_b = getattr(m, "bias", None) is not None
    layer = L.LayerNormalization(axis=axis, epsilon=float(m.eps), center=has_b, scale=has_w,
                                 name=name)
    out = layer(x.tensor)
    layer.set_weights(module_weights(m))
    return x.with_tensor(out, nonneg=False)


def layernorm(ctx: Context, m: Any, x: TV) -> TV:
    return _layernorm(ctx, m, x, ctx.name())


def groupnorm(ctx: Context, m: Any, x: TV) -> TV:
    layer = L.GroupNormalization(groups=int(m.num_groups), axis=_channel_axis(x),
                                 epsilon=float(m.eps), center=bool(m.affine),
                                 scale=bool(m.affine), name=ctx.name())
    out = layer(x.tensor)
    layer.set_weights(module_weights(m))
    return x.with_tensor(out, nonneg=False)


def embedding(ctx: Context, m: Any, x: TV) -> TV:
    if m.max_norm is not None:
        raise ctx.refuse(f"Embedding(max_norm={m.max_norm}) (renormalizes rows at lookup)")
    layer = L.Embedding(int(m.num_embeddings), int(m.embedding_dim), name=ctx.name())
    out = layer(x.tensor)
    layer.set_weights(module_weights(m))
    return TV(out, (*x.perm, x.rank), ctx.meta_shape())


# ============================================================================ pooling


def _edge(ctx: Context, t: Any, rank: int, i: int, n: int, first: bool) -> Any:
    """The first (or last) element along spatial axis ``i`` of ``t``, by cropping."""
    crops = [(0, 0)] * rank
    crops[i] = (0, n - 1) if first else (n - 1, 0)
    return _spatial_layer(ctx, "Cropping", rank, cropping=_pairs(crops))(t)


def _replicate_pad(ctx: Context, x: TV, pads: list[tuple[int, int]]) -> TV:
    rank = len(pads)
    t = x.tensor
    shape = list(x.keras_shape())
    for i, (left, right) in enumerate(pads):
        if not (left or right):
            continue
        axis = x.keras_axis(2 + i)
        n = shape[axis]

        parts = [_edge(ctx, t, rank, i, n, True)] * left + [t]
        parts += [_edge(ctx, t, rank, i, n, False)] * right
        t = L.Concatenate(axis=axis)(parts)
        shape[axis] = n + left + right
    return x.with_tensor(t)


def pool(ctx: Context, kind: str, rank: int, x: TV, kernel_size: Any, stride: Any = None,
         padding: Any = 0, dilation: Any = 1, ceil_mode: bool = False,
         count_include_pad: bool = True, divisor_override: Any = None,
         return_indices: bool = False) -> TV:
    k = _tuple(kernel_size, rank)
    s = _tuple(stride if stride not in (None, [], ()) else kernel_size, rank)
    p, d = _tuple(padding, rank), _tuple(dilation, rank)
    if any(v != 1 for v in d) or return_indices or divisor_override is not None:
        raise ctx.refuse(f"{kind} pooling with dilation {d}, return_indices or divisor_override")
    x = ctx.permute(x, ctx.spatial_perm(x.rank))
    out_spatial = ctx.meta_shape()[2:]
    rights = [max((o - 1) * si + ki - n - pi, 0)
              for o, si, ki, n, pi in zip(out_spatial, s, k, x.shape[2:], p)]
    pads = list(zip(p, rights))
    if any(left or right for left, right in pads):
        if kind == "avg":
            if not count_include_pad and any(p):
                raise ctx.refuse("avg pooling with padding and count_include_pad=False")
            if any(r > pi for r, pi in zip(rights, p)):
                raise ctx.refuse("avg pooling whose ceil_mode windows pass the padding")
        if kind == "avg" or x.nonneg:
            pad = _spatial_layer(ctx, "ZeroPadding", rank, padding=_pairs(pads))
            x = x.with_tensor(pad(x.tensor))
        else:
            x = _replicate_pad(ctx, x, pads)
    cls = getattr(L, f"{'Max' if kind == 'max' else 'Average'}Pooling{rank}D")
    layer = cls(pool_size=list(k), strides=list(s), padding="valid", name=ctx.name(), **_fmt(ctx))
    return TV(layer(x.tensor), x.perm, ctx.meta_shape(), x.nonneg)


def functional_pool(ctx: Context, kind: str, rank: int, x: TV, *args: Any, **kwargs: Any) -> TV:
    names = (("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
             if kind == "max" else
             ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
              "divisor_override"))
    params = dict(zip(names, args))
    params.update(kwargs)
    return pool(ctx, kind, rank, x, **params)


def adaptive_pool(ctx: Context, kind: str, rank: int, x: TV, output_size: Any) -> TV:
    x = ctx.permute(x, ctx.spatial_perm(x.rank))
    sizes = output_size if isinstance(output_size, (list, tuple)) else [output_size] * rank
    n = x.shape[2:]
    target = [ni if o is None else int(o) for o, ni in zip(sizes, n)]
    if all(t == 1 for t in target):
        prefix = "GlobalMax" if kind == "max" else "GlobalAverage"
        layer = getattr(L, f"{prefix}Pooling{rank}D")(keepdims=True, name=ctx.name(),
                                                        **_fmt(ctx))
        return TV(layer(x.tensor), x.perm, ctx.meta_shape(), x.nonneg)
    if any(ni % t for ni, t in zip(n, target)):
        raise ctx.refuse(f"adaptive pooling from {tuple(n)} to {tuple(target)} "
                         "(only to 1 or to sizes that divide the input)")
    k = [ni // t for ni, t in zip(n, target)]
    return pool(ctx, kind, rank, x, k, k)


def _pool_module(kind: str, rank: int) -> Handler:
    def handler(ctx: Context, m: Any, x: TV) -> TV:
        params: dict[str, Any] = {"kernel_size": m.kernel_size, "stride": m.stride,
                                  "padding": m.padding, "ceil_mode": m.ceil_mode}
        if kind == "max":
            params.update(dilation=m.dilation, return_indices=m.return_indices)
        else:
            params.update(count_include_pad=m.count_include_pad,
                          divisor_override=getattr(m, "divisor_override", None))
        return pool(ctx, kind, rank, x, **params)

    return handler


def _adaptive_module(kind: str, rank: int) -> Handler:
    def handler(ctx: Context, m: Any, x: TV) -> TV:
        if getattr(m, "return_indices", False):
            raise ctx.refuse("adaptive max pooling with return_indices")
        return adaptive_pool(ctx, kind, rank, x, m.output_size)

    return handler


def upsample(ctx: Context, x: TV, size: Any, scale_factor: Any, mode: str,
             align_corners: Any) -> TV:
    rank = x.rank - 2
    out_spatial = ctx.meta_shape()[2:]
    factors = [o // n for o, n in zip(out_spatial, x.shape[2:])]
    if any(f * n != o for f, n, o in zip(factors, x.shape[2:], out_spatial)):
        raise ctx.refuse(f"upsampling from {x.shape[2:]} to {out_spatial} (not an integer factor)")
    x = ctx.permute(x, ctx.spatial_perm(x.rank))
    if mode == "nearest":
        extra: dict[str, Any] = {"interpolation": "nearest"} if rank == 2 else {}
    elif mode == "bilinear" and rank == 2 and not align_corners:
        extra = {"interpolation": "bilinear"}
    else:
        raise ctx.refuse(f"upsampling mode {mode!r} (align_corners={align_corners})")
    size_arg: Any = factors[0] if rank == 1 else factors
    layer = _spatial_layer(ctx, "UpSampling", rank, size=size_arg, name=ctx.name(), **extra)
    return TV(layer(x.tensor), x.perm, ctx.meta_shape(), x.nonneg and mode == "nearest")


def upsample_module(ctx: Context, m: Any, x: TV) -> TV:
    return upsample(ctx, x, m.size, m.scale_factor, m.mode, m.align_corners)


def flatten_module(ctx: Context, m: Any, x: TV) -> TV:
    if int(m.start_dim) % x.rank == 0:
        raise ctx.refuse("Flatten(start_dim=0) over the batch axis")
    return reshape_to_meta(ctx, x)


# ============================================================================ recurrent


class States:
    """``h_n``/``c_n`` of a recurrent module: ``(layers * directions, N, H)``, of which the last
    layer's entries are known (Keras ``return_state``)."""

    def __init__(self, total: int, known: dict[int, TV], what: str) -> None:
        self.total, self.known, self.what = total, known, what

    def select(self, ctx: Context, key: Any) -> TV:
        if not isinstance(key, int):
            raise ctx.refuse(f"{self.what}[{key!r}] (index it with an int, e.g. [-1])")
        index = key % self.total
        if index not in self.known:
            raise ctx.refuse(f"{self.what}[{key}]: only the last layer's states are available")
        return self.known[index]


class NotAvailable:
    """A result Keras does not compute (``MultiheadAttention``'s attention weights)."""

    def __init__(self, what: str) -> None:
        self.what = what

    def select(self, ctx: Context, key: Any) -> Any:
        raise ctx.refuse(self.what)


def recurrent(ctx: Context, m: Any, x: TV, hx: Any = None) -> Any:
    kind = type(m).__name__
    if hx is not None:
        raise ctx.refuse(f"{kind} called with initial states")
    if not m.batch_first:
        raise ctx.refuse(f"{kind}(batch_first=False) (time-major inputs)")
    if getattr(m, "proj_size", 0):
        raise ctx.refuse(f"{kind}(proj_size={m.proj_size})")
    if x.rank != 3:
        raise ctx.refuse(f"{kind} on an input of rank {x.rank} (batched sequences only)")
    x = ctx.permute(x, identity(3))
    state = dict(m.state_dict())
    layers, bi, units = int(m.num_layers), bool(m.bidirectional), int(m.hidden_size)
    t = x.tensor
    outs: Any = None
    for i in range(layers):
        last = i == layers - 1
        config: dict[str, Any] = {"return_sequences": True, "return_state": last,
                                  "use_bias": bool(m.bias)}
        name = ctx.name(f"_l{i}") if layers > 1 else ctx.name()
        if kind == "LSTM":
            inner: Any = L.LSTM(units, **config, name=None if bi else name)
        elif kind == "GRU":
            inner = L.GRU(units, reset_after=True, **config, name=None if bi else name)
        else:
            inner = L.SimpleRNN(units, activation=m.nonlinearity, **config,
                                name=None if bi else name)
        layer = L.Bidirectional(inner, name=name) if bi else inner
        outs = layer(t)
        layer.set_weights(rnn_layer_weights(kind, state, i, bi))
        t = outs[0] if last else outs
    seq = TV(outs[0], identity(3), ctx.meta_shape(index=0))
    n_states = 2 if kind == "LSTM" else 1
    batch = x.shape[0]
    directions = 2 if bi else 1
    total = layers * directions
    per_state: list[dict[int, TV]] = [{} for _ in range(n_states)]
    for direction in range(directions):
        for j in range(n_states):
            tensor = outs[1 + direction * n_states + j]
            per_state[j][total - directions + direction] = TV(tensor, (0, 1), (batch, units))
    h = States(total, per_state[0], f"{kind} h_n")
    if kind == "LSTM":
        return (seq, (h, States(total, per_state[1], f"{kind} c_n")))
    return (seq, h)


# ============================================================================ attention


def _mha(ctx: Context, m: Any, q: TV, k: TV, v: TV, name: str | None) -> Any:
    if not m.batch_first:
        raise ctx.refuse("MultiheadAttention(batch_first=False)")
    if m.bias_k is not None or m.add_zero_attn:
        raise ctx.refuse("MultiheadAttention with add_bias_kv or add_zero_attn")
    has_in_bias = m.in_proj_bias is not None
    if has_in_bias != (m.out_proj.bias is not None):
        raise ctx.refuse("MultiheadAttention with bias on only some projections")
    q, k, v = (ctx.permute(t, identity(t.rank)) for t in (q, k, v))
    layer = L.MultiHeadAttention(num_heads=int(m.num_heads), key_dim=int(m.head_dim),
                                 value_dim=int(m.head_dim), use_bias=has_in_bias, name=name)
    if k is v:
        out = layer(q.tensor, v.tensor)
    else:
        out = layer(q.tensor, v.tensor, key=k.tensor)
    sd = dict(m.state_dict())
    layer.set_weights(mha_weights(
        int(m.num_heads), sd.get("in_proj_weight"), sd.get("in_proj_bias"),
        sd["out_proj.weight"], sd.get("out_proj.bias"), q_proj_weight=sd.get("q_proj_weight"),
        k_proj_weight=sd.get("k_proj_weight"), v_proj_weight=sd.get("v_proj_weight")))
    return out


def multihead_attention(ctx: Context, m: Any, query: TV, key: TV, value: TV,
                        key_padding_mask: Any = None, need_weights: bool = True,
                        attn_mask: Any = None, average_attn_weights: bool = True,
                        is_causal: bool = False) -> Any:
    if key_padding_mask is not None or attn_mask is not None or is_causal:
        raise ctx.refuse("MultiheadAttention with masks or is_causal")
    out = _mha(ctx, m, query, key, value, ctx.name())
    shape = ctx.meta_shape(index=0)
    return (TV(out, identity(len(shape)), shape),
            NotAvailable("MultiheadAttention's attention weights"))


def _activation_name(ctx: Context, act: Any) -> str:
    name = getattr(act, "__name__", type(act).__name__).lower()
    if name == "gelu" and getattr(act, "approximate", "none") != "none":
        raise ctx.refuse("TransformerEncoderLayer with tanh-approximated GELU")
    if name not in ("relu", "gelu"):
        raise ctx.refuse(f"TransformerEncoderLayer activation {name!r}")
    return name


def _dense(ctx: Context, lin: Any, t: Any, name: str, act: str | None = None) -> Any:
    layer = L.Dense(int(lin.out_features), activation=act, use_bias=lin.bias is not None,
                    name=ctx.unique(name))
    out = layer(t)
    layer.set_weights(module_weights(lin))
    return out


def _encoder_layer(ctx: Context, m: Any, x: TV, base: str) -> TV:
    act = _activation_name(ctx, m.activation)
    shape = x.shape

    def tv(t: Any) -> TV:
        return TV(t, identity(len(shape)), shape)

    def norm(mod: Any, t: Any, suffix: str) -> Any:
        return _layernorm(ctx, mod, tv(t), ctx.unique(f"{base}_{suffix}")).tensor

    def attention(t: Any) -> Any:
        h = tv(t)
        return _mha(ctx, m.self_attn, h, h, h, ctx.unique(f"{base}_self_attn"))

    def feed_forward(t: Any) -> Any:
        h = _dense(ctx, m.linear1, t, f"{base}_linear1", act)
        return _dense(ctx, m.linear2, h, f"{base}_linear2")

    t = ctx.permute(x, identity(x.rank)).tensor
    if m.norm_first:
        t = L.Add(name=ctx.unique(f"{base}_add1"))([t, attention(norm(m.norm1, t, "norm1"))])
        t = L.Add(name=ctx.unique(f"{base}_add2"))([t, feed_forward(norm(m.norm2, t, "norm2"))])
    else:
        t = norm(m.norm1, L.Add(name=ctx.unique(f"{base}_add1"))([t, attention(t)]), "norm1")
        t = norm(m.norm2, L.Add(name=ctx.unique(f"{base}_add2"))([t, feed_forward(t)]), "norm2")
    return tv(t)


def _encoder_checks(ctx: Context, m: Any, masks: list[Any]) -> None:
    if any(v is not None and v is not False for v in masks):
        raise ctx.refuse(f"{type(m).__name__} with masks or is_causal")


def transformer_encoder_layer(ctx: Context, m: Any, src: TV, src_mask: Any = None,
                              src_key_padding_mask: Any = None, is_causal: bool = False) -> TV:
    _encoder_checks(ctx, m, [src_mask, src_key_padding_mask, is_causal])
    return _encoder_layer(ctx, m, src, str(ctx.node.target).replace(".", "_"))


def transformer_encoder(ctx: Context, m: Any, src: TV, mask: Any = None,
                        src_key_padding_mask: Any = None, is_causal: Any = None) -> TV:
    _encoder_checks(ctx, m, [mask, src_key_padding_mask, is_causal])
    base = str(ctx.node.target).replace(".", "_")
    x = src
    for i, layer in enumerate(m.layers):
        x = _encoder_layer(ctx, layer, x, f"{base}_layers_{i}")
    if m.norm is not None:
        x = _layernorm(ctx, m.norm, x, ctx.unique(f"{base}_norm"))
    return x


# ============================================================================ table


def _act_module(kind: str, **attrs: str) -> Handler:
    def handler(ctx: Context, m: Any, x: TV) -> TV:
        return activation(ctx, x, kind, **{k: getattr(m, a) for k, a in attrs.items()})

    return handler


def _passthrough(ctx: Context, m: Any, x: Any, *args: Any, **kwargs: Any) -> Any:
    return x


MODULES: dict[str, Handler] = {
    "Linear": linear,
    "Conv1d": conv,
    "Conv2d": conv,
    "Conv3d": conv,
    "ConvTranspose1d": conv_transpose,
    "ConvTranspose2d": conv_transpose,
    "ConvTranspose3d": conv_transpose,
    "BatchNorm1d": batchnorm,
    "BatchNorm2d": batchnorm,
    "BatchNorm3d": batchnorm,
    "LayerNorm": layernorm,
    "GroupNorm": groupnorm,
    "Embedding": embedding,
    "LSTM": recurrent,
    "GRU": recurrent,
    "RNN": recurrent,
    "MultiheadAttention": multihead_attention,
    "TransformerEncoderLayer": transformer_encoder_layer,
    "TransformerEncoder": transformer_encoder,
    "MaxPool1d": _pool_module("max", 1),
    "MaxPool2d": _pool_module("max", 2),
    "MaxPool3d": _pool_module("max", 3),
    "AvgPool1d": _pool_module("avg", 1),
    "AvgPool2d": _pool_module("avg", 2),
    "AvgPool3d": _pool_module("avg", 3),
    "AdaptiveAvgPool1d": _adaptive_module("avg", 1),
    "AdaptiveAvgPool2d": _adaptive_module("avg", 2),
    "AdaptiveAvgPool3d": _adaptive_module("avg", 3),
    "AdaptiveMaxPool1d": _adaptive_module("max", 1),
    "AdaptiveMaxPool2d": _adaptive_module("max", 2),
    "Flatten": flatten_module,
    "Upsample": upsample_module,
    "ReLU": _act_module("relu"),
    "ReLU6": _act_module("relu6"),
    "GELU": _act_module("gelu", approximate="approximate"),
    "SiLU": _act_module("silu"),
    "Sigmoid": _act_module("sigmoid"),
    "Tanh": _act_module("tanh"),
    "Hardswish": _act_module("hardswish"),
    "Hardsigmoid": _act_module("hardsigmoid"),
    "LeakyReLU": _act_module("leaky_relu", negative_slope="negative_slope"),
    "ELU": _act_module("elu", alpha="alpha"),
    "Softmax": _act_module("softmax", dim="dim"),
    "Identity": _passthrough,
    "Dropout": _passthrough,
    "Dropout1d": _passthrough,
    "Dropout2d": _passthrough,
    "Dropout3d": _passthrough,
    "AlphaDropout": _passthrough,
}
