"""SavedModel graphs of the normalization, merge, embedding, preprocessing and application helper
layers, served by TensorFlow (``serving_helpers``): every case of the layer-family oracle test
(``test_layers_norm_merge_embed_oracle.CASES`` without the activations, in each of its
dialects), plus models with dynamic dimensions served at several sizes, masks flowing through
merges into mask-using layers, integer / float index inputs, mixed precision, channels-first
images and the ConvNeXt / InceptionResNetV2 helper layers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from serving_helpers import check_serving, failures
from test_layers_norm_merge_embed_oracle import CASES, build, random_weights

import purekeras_io as pk
from purekeras_io.lowering import registry

pytestmark = pytest.mark.oracle
L = pk.layers
Case = tuple[str, Any, list[list[np.ndarray]]]


def _set_dialect(model: Any, dialect: str) -> Any:
    for layer in model.layers:
        layer.source_dialect = dialect
    return model


def _batch(spec: dict[str, Any], n: int, rng: np.random.Generator) -> np.ndarray:
    full = (n, *(int(d) for d in spec["shape"]))
    if spec.get("dtype", "float32").startswith(("int", "uint")):
        ints = rng.integers(1, spec["high"], full)
        ints[rng.random(full) < 0.4] = 0  # index 0 is the masked one (mask_zero)
        return ints.astype(spec["dtype"])
    return rng.normal(0.0, 2.0, full).astype(spec.get("dtype", "float32"))


def _family_cases(rng: np.random.Generator) -> list[Case]:
    out = []
    for case in CASES:
        if case["id"].startswith("act_"):  # activations: the core lowering's test
            continue
        for dialect in case["dialects"]:
            model = _set_dialect(build(case), dialect)
            random_weights(model, rng)
            batches = [[_batch(s, n, rng) for s in case["inputs"]] for n in (1, 7)]
            out.append((f"{case['id']}_{dialect}", model, batches))
    return out


def _randomize(model: Any, rng: np.random.Generator) -> Any:
    for var in model.weights:
        if var.name in ("moving_variance", "variance"):
            var.assign(rng.uniform(0.3, 2.0, var.shape).astype(var.dtype))
        elif var.dtype.kind == "f":
            var.assign(rng.normal(0.0, 1.0, var.shape).astype(var.dtype))
    return model


def _floats(rng: np.random.Generator, *shape: int, dtype: str = "float32") -> np.ndarray:
    return rng.normal(0.0, 2.0, shape).astype(dtype)


def _ints(rng: np.random.Generator, *shape: int, high: int = 6, dtype: str = "int32"
          ) -> np.ndarray:
    ints = rng.integers(1, high, shape)
    ints[rng.random(shape) < 0.4] = 0
    return ints.astype(dtype)


def _seq(layers: list[Any], shape: tuple[Any, ...], dtype: str = "float32") -> Any:
    return pk.Sequential([pk.Input(shape, dtype=dtype), *layers])


def _dynamic_cases(rng: np.random.Generator) -> list[Case]:
    """Dimensions unknown until run time, served at several sizes."""
    out: list[Case] = []
    for dialect in ("keras2", "keras3"):
        m = _seq([L.LayerNormalization(axis=-1), L.GroupNormalization(groups=3),
                  L.BatchNormalization(), L.UnitNormalization(axis=[1, 2])], (None, 6))
        out.append((f"norms_dyn_{dialect}", _randomize(_set_dialect(m, dialect), rng),
                    [[_floats(rng, 1, 3, 6)], [_floats(rng, 7, 11, 6)]]))
    a, b = pk.Input((None, 4), name="a"), pk.Input((None, 4), name="b")
    outs = [L.Dot(axes=2)([a, b]), L.Dot(axes=[1, 1], normalize=True)([a, b]),
            L.Concatenate(axis=1)([a, b]), L.Average()([a, b])]
    out.append(("merge_dyn", pk.Model([a, b], outs),
                [[_floats(rng, 1, 3, 4), _floats(rng, 1, 3, 4)],
                 [_floats(rng, 7, 5, 4), _floats(rng, 7, 5, 4)]]))
    for interpolation in ("bilinear", "nearest"):
        m = _seq([L.Resizing(4, 5, interpolation=interpolation, crop_to_aspect_ratio=True)],
                 (None, None, 3))
        out.append((f"resize_dyn_{interpolation}", m,
                    [[_floats(rng, 1, 6, 10, 3)], [_floats(rng, 7, 9, 5, 3)],
                     [_floats(rng, 2, 3, 3, 3)]]))
    m = _seq([L.CenterCrop(3, 2)], (None, None, 2))
    out.append(("centercrop_dyn", m, [[_floats(rng, 1, 5, 6, 2)], [_floats(rng, 7, 8, 3, 2)]]))
    return out


def _masked_merges(dialect: str) -> Any:
    """Two masked embeddings of a sequence of unknown length, through every merge, into
    merges that use the masks (Keras 3) and a Dense."""
    a = pk.Input((None,), dtype="int32", name="a")
    b = pk.Input((None,), dtype="int32", name="b")
    ea = L.Embedding(6, 3, mask_zero=True, name="ea")(a)
    eb = L.Embedding(6, 3, mask_zero=True, name="eb")(b)
    ec = L.Embedding(6, 3, name="ec")(b)
    merged = [
        L.Add()([ea, eb]), L.Subtract()([ea, ec]), L.Average()([ea, eb]),
        L.Maximum()([ea, eb]), L.Minimum()([ea, ec]), L.Multiply()([ea, ec]),
        L.Concatenate()([ea, ec]), L.Concatenate(axis=1)([ea, eb]),
    ]
    outs = []
    for k, t in enumerate(merged):
        partner = L.Dense(int(t.shape[-1]), name=f"d{k}")(ea if k != 7 else
                                                            L.Concatenate(axis=1)([eb, ea]))
        outs.append(L.Maximum(name=f"mx{k}")([t, partner]))
        outs.append(L.Multiply(name=f"mu{k}")([t, t]))
    outs.append(L.Dot(axes=2)([ea, eb]))
    return _set_dialect(pk.Model([a, b], outs, name=f"masked_{dialect}"), dialect)


def _mask_cases(rng: np.random.Generator) -> list[Case]:
    out: list[Case] = []
    for dialect in ("keras2", "keras3"):
        out.append((f"masked_merges_{dialect}", _randomize(_masked_merges(dialect), rng),
                    [[_ints(rng, 1, 4), _ints(rng, 1, 4)], [_ints(rng, 7, 9), _ints(rng, 7, 9)]]))
    pool = getattr(L, "GlobalAveragePooling1D", None)
    if pool is not None and registry.find(pool()) is not None:  # pooling's masked mean
        m = _seq([L.Embedding(8, 4, mask_zero=True), pool()], (None,), dtype="int32")
        out.append(("embed_mask_gap1d", _randomize(m, rng),
                    [[_ints(rng, 1, 5, high=8)], [_ints(rng, 7, 12, high=8)]]))
    for dtype in ("int64", "uint8", "int16", "float32"):
        m = _seq([L.Embedding(8, 3, mask_zero=True), L.Dense(2)], (None,), dtype=dtype)
        x1, x7 = _ints(rng, 1, 4, high=8), _ints(rng, 7, 6, high=8)
        if dtype == "float32":
            x1 = x1 + rng.uniform(0.0, 0.9, x1.shape)
            x7 = x7 + rng.uniform(0.0, 0.9, x7.shape)
        out.append((f"embed_{dtype}", _randomize(m, rng),
                    [[x1.astype(dtype)], [x7.astype(dtype)]]))
    return out


def _other_cases(rng: np.random.Generator) -> list[Case]:
    out: list[Case] = []
    for dialect in ("keras2", "keras3"):
        m = _seq([L.BatchNormalization(epsilon=1e-5), L.BatchNormalization(center=False),
                  L.BatchNormalization(scale=False, center=False),
                  L.BatchNormalization(axis=1)], (4, 5, 3))
        out.append((f"bn_4d_{dialect}", _randomize(_set_dialect(m, dialect), rng),
                    [[_floats(rng, 1, 4, 5, 3)], [_floats(rng, 7, 4, 5, 3)]]))
    m = _seq([L.Rescaling(1 / 127.5, offset=-1.0), L.Normalization(mean=[0.1, 0.2, 0.3],
                                                                   variance=[1.0, 2.0, 0.0])],
             (4, 4, 3), dtype="uint8")
    out.append(("rescale_uint8", m, [[rng.integers(0, 256, (1, 4, 4, 3)).astype("uint8")],
                                     [rng.integers(0, 256, (7, 4, 4, 3)).astype("uint8")]]))
    m = _seq([L.LayerNormalization(rms_scaling=True, axis=[2, 3]),
              L.Resizing(3, 5, data_format="channels_first"),
              L.CenterCrop(2, 3, data_format="channels_first"),
              L.Normalization(axis=1, invert=True)], (2, 6, 7))
    out.append(("image_channels_first", _randomize(m, rng),
                [[_floats(rng, 1, 2, 6, 7)], [_floats(rng, 7, 2, 6, 7)]]))
    x, y = pk.Input((4, 4, 6), name="x"), pk.Input((4, 4, 6), name="y")
    h = L.LayerScale(init_values=1e-6, projection_dim=6, name="ls")(x)
    h = L.StochasticDepth(drop_path_rate=0.1, name="sd")(h)
    h = L.CustomScaleLayer(scale=0.17, name="cs")([h, y])
    out.append(("applications", _randomize(pk.Model([x, y], h), rng),
                [[_floats(rng, 1, 4, 4, 6), _floats(rng, 1, 4, 4, 6)],
                 [_floats(rng, 7, 4, 4, 6), _floats(rng, 7, 4, 4, 6)]]))
    return out


def _float64_cases() -> list[Case]:
    f64 = "float64"
    m = _seq([L.BatchNormalization(axis=2, dtype=f64), L.LayerNormalization(axis=[1, 3], dtype=f64),
              L.GroupNormalization(groups=2, axis=1, dtype=f64), L.Rescaling(0.5, dtype=f64)],
             (4, 3, 5), dtype=f64)
    return [("norms_float64", m, [])]


def _mixed_cases(rng: np.random.Generator) -> list[Case]:
    """float16 compute, float32 variables (``mixed_float16``)."""
    out: list[Case] = []
    for shape in ((4, 5, 3), (6,)):
        m = _seq([L.Dense(3, dtype="mixed_float16"), L.BatchNormalization(dtype="mixed_float16"),
                  L.LayerNormalization(dtype="mixed_float16"),
                  L.GroupNormalization(groups=3, dtype="mixed_float16"),
                  L.UnitNormalization(dtype="mixed_float16"),
                  L.LayerScale(init_values=0.5, projection_dim=3, dtype="mixed_float16"),
                  L.Dense(2, dtype="float32")], shape)
        out.append((f"mixed_bn_{len(shape) + 1}d", _randomize(m, rng),
                    [[_floats(rng, 1, *shape)], [_floats(rng, 7, *shape)]]))
    return out


def _bfloat16_cases(rng: np.random.Generator) -> list[Case]:
    """BatchNormalization under ``mixed_bfloat16`` (the arithmetic path, also in 4-D)."""
    out: list[Case] = []
    for shape in ((4, 5, 3), (6,)):
        m = _seq([L.BatchNormalization(dtype="mixed_bfloat16"),
                  L.Activation("linear", dtype="float32")], shape)  # npz has no bfloat16
        out.append((f"bfloat16_bn_{len(shape) + 1}d", _randomize(m, rng),
                    [[_floats(rng, 1, *shape)], [_floats(rng, 7, *shape)]]))
    return out


def _fill(cases: list[Case], rng: np.random.Generator) -> list[Case]:
    """Cases given without batches get batches of 1 and 7 of the input's static shape."""
    out = []
    for cid, model, batches in cases:
        if not batches:
            dtype = model.inputs[0].dtype
            shape = tuple(model.inputs[0].shape[1:])
            batches = [[_floats(rng, n, *shape, dtype=dtype)] for n in (1, 7)]
        out.append((cid, model, batches))
    return out


KERAS3_ONLY = {
    # Keras 3-only options (LayerNormalization's rms_scaling, channels-first Resizing /
    # CenterCrop): a SavedModel holds tf_keras configs (keras_metadata.pb), which refuse them.
    # The graph is checked anyway, with that refusal switched off for the test; the graph
    # consumers do not read keras_metadata.pb.
    "ln_rms_keras3", "image_channels_first",
}


def _keep_config(self: Any, config: dict[str, Any], dialect: Any) -> dict[str, Any]:
    return config


def test_norm_merge_embed_models_serve(oracle: Any, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    for cls in (L.LayerNormalization, L.Resizing, L.CenterCrop):
        monkeypatch.setattr(cls, "render_config", _keep_config)
    rng = np.random.default_rng(20240701)
    cases = _fill([*_family_cases(rng), *_dynamic_cases(rng), *_mask_cases(rng),
                   *_other_cases(rng)], rng)
    report = check_serving(oracle, tmp_path, cases)
    assert set(report) == {c[0] for c in cases}
    assert not failures(report), failures(report)


def test_mixed_precision_models_serve(oracle: Any, tmp_path: Path) -> None:
    # float16 results: the walker (as Keras) casts the float32 input to float16 before the first
    # layer, the NumPy pass keeps it float32; a float16 ulp is ~1e-3 of the values
    rng = np.random.default_rng(20240702)
    for sub in ("f16", "bf16"):
        (tmp_path / sub).mkdir()
    report = check_serving(oracle, tmp_path / "f16", _mixed_cases(rng), rel_tol=2e-3)
    assert not failures(report), failures(report)
    # a bfloat16 ulp is ~8e-3 of the values
    report = check_serving(oracle, tmp_path / "bf16", _bfloat16_cases(rng), rel_tol=1e-2)
    assert not failures(report), failures(report)


def test_float64_models_serve(oracle: Any, tmp_path: Path) -> None:
    # TFSMLayer (a float32 Keras layer) autocasts its float64 inputs to float32: not a consumer
    rng = np.random.default_rng(20240703)
    report = check_serving(oracle, tmp_path, _fill(_float64_cases(), rng),
                           consumers=("tfsm", "call", "tf1"))
    assert not failures(report), failures(report)


def test_keras3_only_options_refused_by_savedmodel(tmp_path: Path) -> None:
    rng = np.random.default_rng(20240704)
    cases = {c[0]: c[1] for c in [*_family_cases(rng), *_other_cases(rng)]}
    for cid in sorted(KERAS3_ONLY):
        with pytest.raises(pk.errors.TargetCompatibilityError):
            cases[cid].save(str(tmp_path / cid), save_format="tf")
