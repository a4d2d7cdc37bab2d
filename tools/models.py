"""Benchmark models, built in torch and exported to ONNX (opset 17, TorchScript exporter).

    python tools/models.py --out out/models          # writes the four .onnx files

* ``resnet_mish``: ResNet-style CNN, Mish after every conv (10 sites), 1x3x224x224.
* ``gpt2_gelu_tanh``: GPT-2-style pre-LN block stack, GPT-2's tanh-GELU formula, 1x128x256.
* ``bert_gelu``: BERT-style post-LN encoder, erf GELU (nn.GELU), 1x128x256.
* ``mobilenet_silu_hswish``: MobileNetV3-style CNN, SiLU and HardSwish, 1x3x224x224.

Batch is a dynamic dimension ("batch"); everything else is static, so the exports constant-fold
their shapes (also what the torch targets' converter wants). Weights are seeded.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import sys

import onnx
import torch
from torch import nn


class ConvBN(nn.Sequential):
    def __init__(
        self,
        cin: int,
        cout: int,
        k: int = 3,
        s: int = 1,
        groups: int = 1,
        act: nn.Module | None = None,
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
        ]
        if act is not None:
            layers.append(act)
        super().__init__(*layers)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.a = ConvBN(cin, cout, 3, stride, act=nn.Mish())
        self.b = ConvBN(cout, cout, 3, 1)
        self.short = ConvBN(cin, cout, 1, stride) if stride != 1 or cin != cout else nn.Identity()
        self.act = nn.Mish()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.b(self.a(x)) + self.short(x))


class ResNetMish(nn.Module):
    """stem (2 Mish) + 4 residual blocks (2 Mish each) = 10 Mish sites."""

    def __init__(self, width: int = 16, classes: int = 100) -> None:
        super().__init__()
        w = width
        self.stem = nn.Sequential(
            ConvBN(3, w, 3, 2, act=nn.Mish()), ConvBN(w, w, 3, 1, act=nn.Mish()), nn.MaxPool2d(2)
        )
        self.blocks = nn.Sequential(
            ResBlock(w, w, 1),
            ResBlock(w, 2 * w, 2),
            ResBlock(2 * w, 4 * w, 2),
            ResBlock(4 * w, 8 * w, 2),
        )
        self.head = nn.Linear(8 * w, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))


class GeluTanh(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:  # GPT-2's spelling
        return (
            0.5
            * x
            * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))
        )


class Attention(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.h, self.qkv, self.proj = heads, nn.Linear(d, 3 * d), nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)
        q, k, v = (z.reshape(b, t, self.h, d // self.h).transpose(1, 2) for z in (q, k, v))
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // self.h), dim=-1)
        return self.proj((a @ v).transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    def __init__(self, d: int, heads: int, act: nn.Module, pre_ln: bool) -> None:
        super().__init__()
        self.ln1, self.ln2, self.attn = nn.LayerNorm(d), nn.LayerNorm(d), Attention(d, heads)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), act, nn.Linear(4 * d, d))
        self.pre_ln = pre_ln

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pre_ln:
            x = x + self.attn(self.ln1(x))
            return x + self.mlp(self.ln2(x))
        x = self.ln1(x + self.attn(x))
        return self.ln2(x + self.mlp(x))


class Stack(nn.Module):
    def __init__(
        self,
        d: int = 256,
        layers: int = 4,
        heads: int = 4,
        act: type[nn.Module] = GeluTanh,
        pre_ln: bool = True,
    ) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*[Block(d, heads, act(), pre_ln) for _ in range(layers)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, expand: int, stride: int, act: type[nn.Module]) -> None:
        super().__init__()
        mid = cin * expand
        self.body = nn.Sequential(
            ConvBN(cin, mid, 1, act=act()),
            ConvBN(mid, mid, 3, stride, groups=mid, act=act()),
            ConvBN(mid, cout, 1),
        )
        self.res = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.res else y


class MobileNetSiLUHSwish(nn.Module):
    def __init__(self, classes: int = 100) -> None:
        super().__init__()
        cfg = [
            (16, 16, 1, 1, nn.SiLU),
            (16, 24, 4, 2, nn.SiLU),
            (24, 24, 3, 1, nn.SiLU),
            (24, 40, 3, 2, nn.Hardswish),
            (40, 40, 3, 1, nn.Hardswish),
            (40, 80, 3, 2, nn.Hardswish),
            (80, 80, 3, 1, nn.SiLU),
        ]
        self.stem = ConvBN(3, 16, 3, 2, act=nn.Hardswish())
        self.blocks = nn.Sequential(*[InvertedResidual(*c) for c in cfg])
        self.head = nn.Sequential(ConvBN(80, 256, 1, act=nn.SiLU()))
        self.fc = nn.Linear(256, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.head(self.blocks(self.stem(x))).mean(dim=(2, 3)))


MODELS = {
    "resnet_mish": (ResNetMish, (1, 3, 224, 224)),
    "gpt2_gelu_tanh": (lambda: Stack(act=GeluTanh, pre_ln=True), (1, 128, 256)),
    "bert_gelu": (lambda: Stack(act=nn.GELU, pre_ln=False), (1, 128, 256)),
    "mobilenet_silu_hswish": (MobileNetSiLUHSwish, (1, 3, 224, 224)),
}


def build(name: str, seed: int = 0, dynamic: bool = True) -> onnx.ModelProto:
    """The named model as an ONNX ModelProto (opset 17; dynamic batch unless ``dynamic=False``,
    which constant-folds every shape computation: what the torch converter wants)."""
    make, shape = MODELS[name]
    torch.manual_seed(seed)
    m = make().eval()
    with torch.no_grad():  # non-trivial BN statistics so that folding is realistic
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 1.5)
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(
            m,
            (torch.randn(*shape),),
            buf,
            dynamo=False,
            opset_version=17,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}} if dynamic else None,
            do_constant_folding=True,
        )
    model = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(model, full_check=True)
    return model


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="out/models")
    ap.add_argument("names", nargs="*", default=list(MODELS))
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    for n in a.names:
        m = build(n)
        path = os.path.join(a.out, f"{n}.onnx")
        onnx.save(m, path)
        print(f"{path}: {len(m.graph.node)} nodes, {os.path.getsize(path) / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
