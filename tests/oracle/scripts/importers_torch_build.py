"""Build PyTorch models, import them with ``from_torch``, save them in every format.

Runs in the ``torchvision`` oracle environment (torch 2.14.1 + torchvision 0.29.1, no TF) with
the repository on ``PYTHONPATH``. Payload: ``{"dir": D}``. For every model ``name``:
``D/<name>/x.npy`` (the Keras model's input: channels-last for images), ``D/<name>/ref.npy``
(torch's output), ``D/<name>/model.keras``, ``model.h5`` (default target), ``model_keras3.h5``
(``target="keras3"``) and the SavedModel folder ``model``. Prints ``{"models": {name: {"rel":
..., "saved": [...], "errors": {...}, "layers": n, "seconds": s}}, "refusals": {case:
message}}``.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
import warnings
from typing import Any

import numpy as np
import torch
import torchvision
from torch import nn

warnings.filterwarnings("ignore")

import purekeras_io as pk  # noqa: E402
from purekeras_io.importers import from_torch  # noqa: E402


def rel(ours: Any, ref: Any) -> float:
    a, b = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-30))


def randomize_bn(model: nn.Module) -> None:
    """BatchNorm statistics and affine parameters away from their defaults (so BN matters)."""
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=gen) * 0.4 - 0.2)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=gen) * 0.4 - 0.2)


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.bn2 = nn.BatchNorm2d(16)
        self.pool = nn.MaxPool2d(2)
        self.avg = nn.AvgPool2d(3, stride=1, padding=1)
        self.fc = nn.Linear(16 * 4 * 4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.pool(x)
        x = nn.functional.silu(self.bn2(self.conv2(x)))
        x = self.avg(x)
        return self.fc(torch.flatten(x, 1))


class LSTMText(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(100, 16)
        self.lstm = nn.LSTM(16, 24, batch_first=True)
        self.fc = nn.Linear(24, 4)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.lstm(self.emb(tokens))
        return self.fc(h[-1])


class GRUText(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(100, 16)
        self.gru = nn.GRU(16, 12, num_layers=2, bidirectional=True, batch_first=True)
        self.fc = nn.Linear(24, 3)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        _, h = self.gru(self.emb(tokens))
        return self.fc(torch.cat([h[-2], h[-1]], dim=1))


class TinyTransformer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(32, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x).mean(dim=1))


class Misc(nn.Module):
    """The ops the other models do not use: dilated 'same' conv, GroupNorm, max pooling of a
    signed tensor with padding and ceil_mode, bilinear Upsample, hardswish, a strided depthwise
    conv, leaky_relu, ConvTranspose2d with padding and output_padding, LayerNorm over
    channels via permute, flatten(2), Conv1d, elu, avg_pool1d, mean, arithmetic, view."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding="same", dilation=2)
        self.gn = nn.GroupNorm(2, 8)
        self.pool = nn.MaxPool2d(3, 2, padding=1, ceil_mode=True)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear")
        self.dw = nn.Conv2d(8, 16, 3, padding=1, groups=8, stride=2)
        self.ct = nn.ConvTranspose2d(16, 4, 3, stride=2, padding=1, output_padding=1)
        self.ln = nn.LayerNorm(4)
        self.c1d = nn.Conv1d(4, 6, 3, padding=2)
        self.fc = nn.Linear(6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = nn.functional
        y = self.pool(self.gn(self.c1(x))) - 0.5
        y = self.up(f.hardswish(y))
        y = f.leaky_relu(self.dw(y), 0.1)
        y = self.ln(self.ct(y).permute(0, 2, 3, 1))
        y = y.permute(0, 3, 1, 2).flatten(2)
        y = f.avg_pool1d(f.elu(self.c1d(y)), 2)
        y = y.mean(dim=2) * 2.0 + 1.0
        z = y.view(y.size(0), 3, 2).sum(dim=1)
        return torch.cat([torch.softmax(self.fc(y), dim=-1), z], dim=1)


def models() -> dict[str, tuple[nn.Module, torch.Tensor, bool]]:
    """name → (module, example input, image input)."""
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 16), nn.GELU(),
                        nn.Linear(16, 3), nn.Softmax(dim=-1))
    cnn = SmallCNN()
    resnet = torchvision.models.resnet18(weights=None)
    mobilenet = torchvision.models.mobilenet_v3_small(weights=None)
    for m in (cnn, resnet, mobilenet):
        randomize_bn(m)
    tokens = torch.randint(0, 100, (4, 9))
    return {
        "mlp": (mlp, torch.randn(5, 10), False),
        "cnn": (cnn, torch.randn(3, 3, 16, 16), True),
        "resnet18": (resnet, torch.randn(2, 3, 64, 64), True),
        "mobilenet_v3_small": (mobilenet, torch.randn(2, 3, 64, 64), True),
        "lstm_text": (LSTMText(), tokens, False),
        "gru_text": (GRUText(), tokens, False),
        "transformer": (TinyTransformer(), torch.randn(3, 7, 32), False),
        "misc": (Misc(), torch.randn(2, 3, 16, 12), True),
    }


def variants(cnn: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """The CNN imported with the other layout options: our predictions vs torch (NCHW in)."""
    with torch.no_grad():
        ref = cnn(x).numpy()
    out = {}
    for key, kwargs in (("keep_input_layout", {"keep_input_layout": True}),
                        ("channels_first", {"data_format": "channels_first"})):
        model = from_torch(cnn, x, **kwargs)
        out[key] = rel(model.predict(x.numpy()), ref)
    return out


def refusals() -> dict[str, str]:
    """What from_torch refuses, and its messages."""

    class Reflect(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect")

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x)

    class Branchy(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * 2 if x.sum() > 0 else x

    class Sorts(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.sort(x, dim=1).values

    cases = {
        "reflect_padding": (Reflect(), torch.randn(1, 3, 8, 8)),
        "time_major_lstm": (nn.LSTM(4, 5), torch.randn(6, 2, 4)),
        "control_flow": (Branchy(), torch.randn(2, 3)),
        "unknown_function": (Sorts(), torch.randn(2, 3)),
    }
    out = {}
    for name, (module, x) in cases.items():
        try:
            from_torch(module.eval(), x)
            out[name] = "NOT REFUSED"
        except pk.UnsupportedFeatureError as exc:
            out[name] = f"UnsupportedFeatureError: {exc}"
        except Exception as exc:
            out[name] = f"{type(exc).__name__}: {exc}"
    return out


def main() -> None:
    payload = json.loads(sys.stdin.read())
    root = payload["dir"]
    results: dict[str, Any] = {}
    built = models()
    for name, (module, x, image) in built.items():
        module.eval()
        d = os.path.join(root, name)
        os.makedirs(d, exist_ok=True)
        entry: dict[str, Any] = {"errors": {}, "saved": []}
        results[name] = entry
        try:
            with torch.no_grad():
                ref = module(x).numpy()
            start = time.perf_counter()
            model = from_torch(module, x)
            entry["seconds"] = round(time.perf_counter() - start, 3)
            xk = x.numpy()
            xk = xk.transpose(0, 2, 3, 1) if image else xk
            xk = xk.astype(np.int32 if xk.dtype.kind == "i" else np.float32)
            ours = model.predict(xk)
            entry["rel"] = rel(ours, ref)
            entry["layers"] = len(model.layers)
            entry["classes"] = sorted({la.class_name() for la in model.layers})
            np.save(os.path.join(d, "x.npy"), xk)
            np.save(os.path.join(d, "ref.npy"), ref)
        except Exception:
            entry["errors"]["convert"] = traceback.format_exc()[-3000:]
            continue
        for fname in ("model.keras", "model.h5", "model", "model_keras3.h5"):
            kwargs = {"target": "keras3"} if fname == "model_keras3.h5" else {}
            try:
                model.save(os.path.join(d, fname), **kwargs)
                entry["saved"].append(fname)
            except Exception:
                entry["errors"][fname] = traceback.format_exc()[-3000:]
    print(json.dumps({"models": results, "refusals": refusals(),
                      "variants": variants(built["cnn"][0], built["cnn"][1])}))


if __name__ == "__main__":
    main()
