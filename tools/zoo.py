"""A zoo of small, realistic ONNX models whose inputs naive generators get wrong; no download.

    python tools/zoo.py OUTDIR [NAME ...]      # writes OUTDIR/NAME.onnx, prints one line each

Each model reproduces one failure measured on public models (DESIGN.md section 9):

* ``bert_{torchscript,dynamo}``: BERT encoder (transformers config, random weights, hidden 32,
  2 layers, vocab 1000, ``type_vocab_size=2``, 64 positions); inputs ``input_ids``,
  ``attention_mask``, ``token_type_ids`` [batch, sequence]. Ids >= 2 overflow the token-type
  Gather; sequences > 64 overflow the position table.
* ``gpt2_{torchscript,dynamo}``: GPT-2 decoder (hidden 32, 2 layers, vocab 1000, 64
  positions); inputs ``input_ids``, ``attention_mask`` [batch, sequence].
* ``vit_{torchscript,dynamo}``: ViT encoder (image 32, patch 8, hidden 32, 2 layers); input
  ``pixel_values`` [batch, 3, 32, 32].
* ``clip_{torchscript,dynamo}``: CLIP text and vision towers (hidden 32, 2 layers each, vocab
  1000, 64 positions, image 32, patch 8; QuickGELU); inputs ``input_ids``, ``pixel_values``,
  ``attention_mask``. The text tower compares its ids with the EOS id 49407 (the config's
  default) to find where to pool: ids filled with it overflow the 1000-row table.
* ``yolo_silu``: YOLO-like detector: Conv+SiLU downsampling to stride 32, nearest upsample,
  Concat with the stride-16 map, Sigmoid head; input ``images`` [batch, 3, height, width] where
  height and width must be multiples of 32.
* ``yolo_nms``: ``yolo_silu`` with its box decoding and NonMaxSuppression in the graph, as
  end-to-end detector exports have them; outputs ``det_boxes`` [detections, 4], ``det_scores``
  and ``det_classes`` [detections], as many as it keeps.
* ``mobilenet_hswish``: MobileNetV3-small-like classifier (stem Conv+BN+HardSwish, six
  inverted-residual blocks: 1x1 expand + BN + SiLU/HardSwish, depthwise + BN + activation,
  squeeze-excite with HardSigmoid, 1x1 project + BN, residual adds; pool, Linear+HardSwish,
  Linear); input ``images`` [batch, 3, 96, 96], output ``logits`` [batch, 10].
* ``gru_state``: GRU with inputs ``x`` [sequence, batch, 8], state ``h0`` [1, batch, 16] and
  ``sequence_lens`` [batch] (int32, must be <= sequence); Tanh and Sigmoid after it; outputs
  ``y`` and ``h_n`` (same shape as ``h0``).
* ``crnn_lstm``: CRNN text recognizer (Conv+SiLU, Conv+GELU, 2-layer bidirectional LSTM over the
  image columns, LogSoftmax); input ``image`` [batch, 1, 32, width], output ``log_probs``
  [width / 2, batch, 37].
* ``vad_if``: VAD-like: ``sr`` (int64 scalar) selects an If branch by ``sr == 16000``, the else
  branch by ``sr == 8000``, anything else fails a Reshape; Tanh, Sigmoid and SiLU in the branches;
  input ``x`` [batch, 64].
* ``reflect_pad``: Pad mode=reflect with pads 32 on ``audio`` [batch, 1, samples] (needs more
  than 32 samples), Conv1d, SiLU.
* ``quant_mlp``: onnxruntime.quantization.quantize_dynamic of an MLP with SiLU; input ``x``
  [batch, 32] (DynamicQuantizeLinear / MatMulInteger around the SiLU).
* ``qdq_cnn``: a Conv+SiLU, Conv+GELU CNN (TorchScript, opset 17) through ONNX Runtime's
  ``quant_pre_process`` and ``quantize_static`` (QDQ format): a QuantizeLinear/DequantizeLinear
  pair after every op, inside the activations too, constants quantized; input ``input`` [N, 3,
  H, W].
* ``llama_kv``: one decoder step of a Llama (transformers config, random weights, hidden 32,
  2 layers, one KV head) with its KV cache, TorchScript-exported as ONNX Runtime's own exporters
  name it: ``input_ids`` and ``position_ids`` [batch, sequence], ``attention_mask`` [batch,
  total_sequence] (must be past_sequence + sequence), ``past_key_values.{0,1}.{key,value}``
  [batch, 1, past_sequence, 16]; traced with one new token, it runs only at sequence 1.
* ``llama_kv_auto``, ``llama_kv_listed``: the same step (eager attention) exported as users
  who name no dims export it: by the dynamo exporter with ``torch.export.Dim.AUTO`` on each
  input's dynamic dims (``s11``, ``s58``; the mask's batch ``s31`` and the last value's dims
  ``s76``, ``s65`` not tied to the others), and by the TorchScript exporter with
  ``dynamic_axes`` as lists (each dim its input's own, ``input_ids_dynamic_axes_1``); the
  first runs only at sequence 1.
* ``bart_kv_auto``: one decoder-with-past step of a BART (hidden 32, 2 layers each side, eager
  attention), exported by the dynamo exporter with ``Dim.AUTO`` on each dynamic dim:
  ``decoder_input_ids``, ``encoder_hidden_states``, ``encoder_attention_mask``, per layer
  ``past_key_values.N.decoder.{key,value}`` (its own cache, returned as ``present.N.decoder.*``)
  and ``past_key_values.N.encoder.{key,value}`` (the encoder's, not returned), every batch its
  own made-up dim; traced with one new token, it runs only at one.
* ``gpt2_merged``: a GPT-2 decoder (hidden 32, 2 layers, vocab 1000, 128 positions) merged as
  Optimum's ``decoder_model_merged.onnx``: one If on ``use_cache_branch`` (bool [1]) runs the
  step with the KV cache or the first pass without it, each branch with its own weights; inputs
  ``input_ids``, ``attention_mask`` [batch_size, past_sequence_length + sequence_length],
  ``past_key_values.*`` [batch_size, 2, past_sequence_length, 16], ``use_cache_branch``.
* ``fp16_cnn``: the same float CNN through ONNX Runtime's float16 converter with
  ``keep_io_types=True``: float32 input and output, float16 inside, and the input Cast written
  after the nodes that read it (ONNX Runtime runs it; the checker refuses it).

Transformer models are exported with both torch exporters (``dynamo=False`` and ``dynamo=True``)
with dynamic batch and sequence axes; a variant whose exporter fails is skipped with a printed
reason. Everything is seeded: the same call writes the same models.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
_TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)


def _export(
    model: object,
    args: tuple,
    path: str,
    input_names: list[str],
    output_names: list[str],
    dynamic: dict[str, dict[int, str]],
    dynamo: bool,
    *,
    auto_dims: bool = False,
    listed: bool = False,
    opset: int | None = None,
) -> None:
    """Export with one torch exporter; dims named in ``dynamic`` become dim_params.

    ``auto_dims`` (dynamo): those dims get ``torch.export.Dim.AUTO`` instead of named Dims, as a
    user who names no dims exports: made-up dim_params (``s72``), and the batches of two inputs
    not known to be equal. ``listed`` (TorchScript): ``dynamic_axes`` as lists of axes, as
    the exporter's docs show them: each dim named after its input (``input_ids_dynamic_axes_1``),
    none known equal. ``opset``: instead of 17 (TorchScript) / 18 (dynamo)."""
    import torch

    model.eval()  # type: ignore[attr-defined]
    for log in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript"):
        logging.getLogger(log).setLevel(logging.ERROR)  # opset-upgrade and torchvision notes
    # dynamo's lowest opset is 18; asking for 17 converts down and leaves opset-18 Split
    # attributes (num_outputs) that ONNX Runtime rejects
    opset = opset or (18 if dynamo else OPSET)
    kw: dict = dict(input_names=input_names, output_names=output_names, opset_version=opset)
    if dynamo:
        # named Dims so the exported dim_params read "batch" / "sequence", not "s0"
        dims = {
            n: torch.export.Dim.AUTO if auto_dims else torch.export.Dim(n, min=1, max=4096)
            for d in dynamic.values()
            for n in d.values()
        }
        kw["dynamic_shapes"] = tuple(
            {i: dims[n] for i, n in dynamic.get(k, {}).items()} for k in input_names
        )
        kw.update(dynamo=True, external_data=False, verbose=False)
    else:
        axes = {k: sorted(v) for k, v in dynamic.items()} if listed else dynamic
        kw.update(dynamo=False, dynamic_axes=axes)
    with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        prog = torch.onnx.export(model, args, None if dynamo else path, **kw)
        if dynamo:
            prog.save(path)  # type: ignore[union-attr]
    m = onnx.load(path)
    onnx.save(m, path)  # one file, no external data


def _gpt2_config(**over: object) -> object:
    """The zoo's tiny GPT-2: hidden 32, 2 layers, 2 heads, vocab 1000, token 0 for BOS/EOS."""
    import transformers as tf

    base = dict(vocab_size=1000, n_embd=32, n_layer=2, n_head=2, bos_token_id=0, eos_token_id=0)
    return tf.GPT2Config(**{**base, **over})


def _hf_model(kind: str) -> tuple[object, tuple, list[str], list[str], dict]:
    import torch
    import transformers as tf

    torch.manual_seed(0)
    b, s = 2, 8
    ids = torch.randint(0, 1000, (b, s))
    mask = torch.ones(b, s, dtype=torch.int64)
    bs = {0: "batch", 1: "sequence"}
    if kind == "bert":
        cfg = tf.BertConfig(vocab_size=1000, max_position_embeddings=64, type_vocab_size=2, **_TINY)
        m = tf.BertModel(cfg, add_pooling_layer=True)
        tt = torch.zeros(b, s, dtype=torch.int64)
        names = ["input_ids", "attention_mask", "token_type_ids"]
        return (
            m,
            (ids, mask, tt),
            names,
            ["last_hidden_state", "pooler_output"],
            dict.fromkeys(names, bs),
        )
    if kind == "gpt2":
        m = tf.GPT2Model(_gpt2_config(n_positions=64, use_cache=False))
        names = ["input_ids", "attention_mask"]

        class _G(torch.nn.Module):  # no KV cache in or out: positional args only
            def __init__(self) -> None:
                super().__init__()
                self.m = m

            def forward(
                self, input_ids: torch.Tensor, attention_mask: torch.Tensor
            ) -> torch.Tensor:
                return self.m(
                    input_ids=input_ids, attention_mask=attention_mask, use_cache=False
                ).last_hidden_state

        return _G(), (ids, mask), names, ["last_hidden_state"], dict.fromkeys(names, bs)
    if kind == "clip":
        text = dict(vocab_size=1000, max_position_embeddings=64, **_TINY)
        vision = dict(image_size=32, patch_size=8, **_TINY)
        m = tf.CLIPModel(tf.CLIPConfig(text_config=text, vision_config=vision, projection_dim=16))
        names = ["input_ids", "pixel_values", "attention_mask"]
        return (
            m,
            (ids, torch.randn(b, 3, 32, 32), mask),
            names,
            ["logits_per_image", "text_embeds", "image_embeds"],
            {"input_ids": bs, "attention_mask": bs, "pixel_values": {0: "batch"}},
        )
    cfg = tf.ViTConfig(image_size=32, patch_size=8, num_channels=3, **_TINY)
    m = tf.ViTModel(cfg, add_pooling_layer=False)
    x = torch.randn(b, 3, 32, 32)
    return m, (x,), ["pixel_values"], ["last_hidden_state"], {"pixel_values": {0: "batch"}}


def _build_hf(kind: str, dynamo: bool) -> Callable[[str], None]:
    def build(path: str) -> None:
        import torch

        m, args, ins, outs, dyn = _hf_model(kind)

        class _Tuple(torch.nn.Module):  # ModelOutput -> plain tuple of the named outputs
            def __init__(self) -> None:
                super().__init__()
                self.m = m

            # named parameters, not *args: torch.export matches dynamic_shapes to parameters
            def forward(
                self,
                x0: torch.Tensor,
                x1: torch.Tensor | None = None,
                x2: torch.Tensor | None = None,
            ) -> tuple[torch.Tensor, ...]:
                o = self.m(*(x for x in (x0, x1, x2) if x is not None))
                return tuple(o[k] for k in outs) if not isinstance(o, torch.Tensor) else (o,)

        _export(_Tuple(), args, path, ins, outs, dyn, dynamo)

    return build


def yolo_module(width: int = 1) -> object:
    """The YOLO-like detector as a torch module (seeded): Conv+BN+SiLU down to stride 32 with
    channels ``8w, 8w, 16w, 16w, 32w``, nearest upsample, Concat with the stride-16 map, a 1x1
    head of 9 channels and Sigmoid. ``width=1`` is ``yolo_silu``."""
    import torch
    from torch import nn

    torch.manual_seed(0)

    def cbs(cin: int, cout: int, s: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, s, 1), nn.BatchNorm2d(cout), nn.SiLU())

    w = width

    class Yolo(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.p16 = nn.Sequential(
                cbs(3, 8 * w, 2),
                cbs(8 * w, 8 * w, 2),
                cbs(8 * w, 16 * w, 2),
                cbs(16 * w, 16 * w, 2),
            )
            self.p32 = cbs(16 * w, 32 * w, 2)
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            self.head = nn.Conv2d(48 * w, 9, 1)

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            a = self.p16(images)
            b = self.up(self.p32(a))
            return torch.sigmoid(self.head(torch.cat([a, b], 1)))

    return Yolo()


def export_yolo(module: object, path: str) -> None:
    """Export a ``yolo_module`` (TorchScript exporter; batch, height and width dynamic)."""
    import torch

    dyn = {"images": {0: "batch", 2: "height", 3: "width"}}
    _export(module, (torch.randn(1, 3, 64, 64),), path, ["images"], ["output0"], dyn, False)


def _build_yolo(path: str) -> None:
    export_yolo(yolo_module(), path)


def _build_yolo_nms(path: str) -> None:
    """``yolo_silu`` with its decoding and NonMaxSuppression in the graph, appended to the
    TorchScript export as end-to-end detector exports do: boxes (centre, size; x640) and the 5
    class scores into NonMaxSuppression (100 per class, IoU 0.45, score 0.25); outputs the kept
    boxes, scores and classes, as many as it keeps."""
    with tempfile.TemporaryDirectory() as d:
        export_yolo(yolo_module(), os.path.join(d, "yolo.onnx"))
        m = onnx.load(os.path.join(d, "yolo.onnx"))
    g = m.graph
    head = g.output[0].name

    def const(name: str, a: object, dtype: object = np.int64) -> None:
        g.initializer.append(numpy_helper.from_array(np.asarray(a, dtype), name))

    const("nms/shape", [0, 9, -1])
    const("nms/s0", [0])
    const("nms/s4", [4])
    const("nms/s9", [9])
    const("nms/ax1", [1])
    const("nms/scale", np.full((1, 1, 4), 640.0), np.float32)
    const("nms/max", [100])
    const("nms/iou", [0.45], np.float32)
    const("nms/score", [0.25], np.float32)
    const("nms/bi", [0, 2])
    const("nms/ci", [1])
    node = helper.make_node
    g.node.extend(
        [
            node("Reshape", [head, "nms/shape"], ["nms/flat"]),
            node("Slice", ["nms/flat", "nms/s0", "nms/s4", "nms/ax1"], ["nms/xywh"]),
            node("Slice", ["nms/flat", "nms/s4", "nms/s9", "nms/ax1"], ["scores"]),
            node("Transpose", ["nms/xywh"], ["nms/unit"], perm=[0, 2, 1]),
            node("Mul", ["nms/unit", "nms/scale"], ["boxes"]),
            node(
                "NonMaxSuppression",
                ["boxes", "scores", "nms/max", "nms/iou", "nms/score"],
                ["selected"],
                center_point_box=1,
            ),
            node("Gather", ["selected", "nms/bi"], ["nms/where"], axis=1),
            node("GatherND", ["boxes", "nms/where"], ["det_boxes"]),
            node("GatherND", ["scores", "selected"], ["det_scores"]),
            node("Gather", ["selected", "nms/ci"], ["nms/class"], axis=1),
            node("Squeeze", ["nms/class", "nms/ax1"], ["det_classes"]),
        ]
    )
    del g.output[:]
    g.output.extend(
        [
            helper.make_tensor_value_info("det_boxes", TensorProto.FLOAT, ["detections", 4]),
            helper.make_tensor_value_info("det_scores", TensorProto.FLOAT, ["detections"]),
            helper.make_tensor_value_info("det_classes", TensorProto.INT64, ["detections"]),
        ]
    )
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, path)


# MobileNetV3-small's layout (Howard et al. 2019, table 2), the first six bneck blocks:
# (kernel, expansion channels, output channels, squeeze-excite, activation, stride). The paper's
# ReLU blocks are spelled SiLU here (as swish variants of the net are), the others HardSwish.
MOBILENET_BLOCKS = (
    (3, 16, 16, True, "silu", 2),
    (3, 72, 24, False, "silu", 2),
    (3, 88, 24, False, "silu", 1),
    (5, 96, 40, True, "hswish", 2),
    (5, 240, 40, True, "hswish", 1),
    (5, 120, 48, True, "hswish", 1),
)


def mobilenet_module(width: float = 1.0, classes: int = 10, last: int = 288) -> object:
    """A MobileNetV3-small-like classifier as a torch module (seeded): stem Conv3x3/2 + BN +
    HardSwish; ``MOBILENET_BLOCKS`` (1x1 expand + BN + act, depthwise kxk + BN + act,
    squeeze-excite with HardSigmoid, 1x1 project + BN, residual add where shapes allow), channels
    scaled by ``width`` (multiples of 8); 1x1 conv to ``last * width`` + BN + HardSwish, global
    average pool, Linear + HardSwish, Linear to ``classes``."""
    import torch
    from torch import nn

    torch.manual_seed(0)

    def ch(c: float) -> int:
        return max(8, int(c * width + 4) // 8 * 8)

    def act(kind: str) -> nn.Module:
        return nn.Hardswish() if kind == "hswish" else nn.SiLU()

    class SE(nn.Module):
        def __init__(self, c: int) -> None:
            super().__init__()
            mid = max(8, (c // 4 + 4) // 8 * 8)
            self.fc1, self.fc2 = nn.Conv2d(c, mid, 1), nn.Conv2d(mid, c, 1)
            self.relu, self.gate = nn.ReLU(), nn.Hardsigmoid()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            s = x.mean((2, 3), keepdim=True)
            return x * self.gate(self.fc2(self.relu(self.fc1(s))))

    class Block(nn.Module):
        def __init__(self, cin: int, k: int, exp: int, cout: int, se: bool, a: str, s: int):
            super().__init__()
            layers: list[nn.Module] = []
            if exp != cin:
                layers += [nn.Conv2d(cin, exp, 1, bias=False), nn.BatchNorm2d(exp), act(a)]
            layers += [
                nn.Conv2d(exp, exp, k, s, k // 2, groups=exp, bias=False),
                nn.BatchNorm2d(exp),
                act(a),
            ]
            if se:
                layers.append(SE(exp))
            layers += [nn.Conv2d(exp, cout, 1, bias=False), nn.BatchNorm2d(cout)]
            self.body = nn.Sequential(*layers)
            self.residual = s == 1 and cin == cout

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.body(x)
            return x + y if self.residual else y

    class MobileNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            c = ch(16)
            layers: list[nn.Module] = [
                nn.Conv2d(3, c, 3, 2, 1, bias=False),
                nn.BatchNorm2d(c),
                nn.Hardswish(),
            ]
            for k, exp, out, se, a, s in MOBILENET_BLOCKS:
                layers.append(Block(c, k, ch(exp), ch(out), se, a, s))
                c = ch(out)
            layers += [
                nn.Conv2d(c, ch(last), 1, bias=False),
                nn.BatchNorm2d(ch(last)),
                nn.Hardswish(),
            ]
            self.features = nn.Sequential(*layers)
            self.head = nn.Sequential(
                nn.Linear(ch(last), ch(4 * last / 3)),
                nn.Hardswish(),
                nn.Linear(ch(4 * last / 3), classes),
            )

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return self.head(self.features(images).mean((2, 3)))

    return MobileNet()


def export_mobilenet(module: object, path: str, size: int = 96) -> None:
    """Export a ``mobilenet_module`` (TorchScript exporter; input ``images`` [batch, 3, size,
    size], batch dynamic; output ``logits``)."""
    import torch

    dyn = {"images": {0: "batch"}}
    _export(module, (torch.randn(1, 3, size, size),), path, ["images"], ["logits"], dyn, False)


def _build_mobilenet(path: str) -> None:
    """With torch's default init the activations shrink block by block (std 1e-4 by block 5)
    and the logits do not depend on the image (5e-8 across inputs): a rewrite could not be
    verified on it. As in a trained net, BatchNorm statistics follow the data: one pass over a
    random batch in train mode (cumulative average) sets them."""
    import torch

    module = mobilenet_module()
    for m in module.modules():  # type: ignore[attr-defined]
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
            m.reset_running_stats()
    module.train()  # type: ignore[attr-defined]
    with torch.no_grad():
        module(torch.randn(16, 3, 96, 96, generator=torch.Generator().manual_seed(0)))  # type: ignore[operator]
    module.eval()  # type: ignore[attr-defined]
    export_mobilenet(module, path)


def _w(rng: np.random.Generator, name: str, *shape: int) -> TensorProto:
    return numpy_helper.from_array((rng.standard_normal(shape) * 0.3).astype(np.float32), name)


def _build_gru(path: str) -> None:
    rng = np.random.default_rng(0)
    h = 16
    nodes = [
        helper.make_node(
            "GRU",
            ["x", "W", "R", "B", "sequence_lens", "h0"],
            ["Y", "Y_h"],
            name="gru",
            hidden_size=h,
        ),
        helper.make_node("Tanh", ["Y"], ["y"], name="tanh"),
        helper.make_node("Sigmoid", ["Y_h"], ["h_n"], name="sigmoid"),
    ]
    g = helper.make_graph(
        nodes,
        "gru_state",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["sequence", "batch", 8]),
            helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, ["batch"]),
            helper.make_tensor_value_info("h0", TensorProto.FLOAT, [1, "batch", h]),
        ],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["sequence", 1, "batch", h]),
            helper.make_tensor_value_info("h_n", TensorProto.FLOAT, [1, "batch", h]),
        ],
        [_w(rng, "W", 1, 3 * h, 8), _w(rng, "R", 1, 3 * h, h), _w(rng, "B", 1, 6 * h)],
    )
    _save(g, path)


def _branch(name: str, rng: np.random.Generator, act: list[str]) -> onnx.GraphProto:
    """x @ W then the activations in ``act`` in turn (SiLU spelled x * Sigmoid(x))."""
    w = f"{name}_W"
    nodes = [helper.make_node("MatMul", ["x", w], [f"{name}_0"], name=f"{name}_matmul")]
    cur = f"{name}_0"
    for i, a in enumerate(act):
        out = f"{name}_{i + 1}"
        if a == "SiLU":
            nodes.append(helper.make_node("Sigmoid", [cur], [f"{out}_s"], name=f"{name}_silu_sig"))
            nodes.append(helper.make_node("Mul", [cur, f"{out}_s"], [out], name=f"{name}_silu_mul"))
        else:
            nodes.append(helper.make_node(a, [cur], [out], name=f"{name}_{a.lower()}"))
        cur = out
    nodes.append(helper.make_node("Identity", [cur], [f"{name}_out"], name=f"{name}_out"))
    return helper.make_graph(
        nodes,
        name,
        [],
        [helper.make_tensor_value_info(f"{name}_out", TensorProto.FLOAT, None)],
        [_w(rng, w, 64, 64)],
    )


def _build_vad(path: str) -> None:
    rng = np.random.default_rng(0)
    bad = helper.make_graph(  # "unsupported sampling rate": a Reshape that fails for every x
        [helper.make_node("Reshape", ["x", "bad_shape"], ["bad_out"], name="unsupported_sr")],
        "bad",
        [],
        [helper.make_tensor_value_info("bad_out", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.array([-1, 7], np.int64), "bad_shape")],
    )
    sr8k = helper.make_graph(
        [
            helper.make_node("Equal", ["sr", "c8000"], ["is8k"], name="eq_8000"),
            helper.make_node(
                "If",
                ["is8k"],
                ["e_out"],
                name="if_8000",
                then_branch=_branch("b8k", rng, ["Sigmoid", "Tanh"]),
                else_branch=bad,
            ),
        ],
        "else16k",
        [],
        [helper.make_tensor_value_info("e_out", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.array(8000, np.int64), "c8000")],
    )
    g = helper.make_graph(
        [
            helper.make_node("Equal", ["sr", "c16000"], ["is16k"], name="eq_16000"),
            helper.make_node(
                "If",
                ["is16k"],
                ["branch"],
                name="if_16000",
                then_branch=_branch("b16k", rng, ["Tanh", "SiLU", "Sigmoid"]),
                else_branch=sr8k,
            ),
            helper.make_node("Tanh", ["branch"], ["prob"], name="out_tanh"),
        ],
        "vad_if",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64]),
            helper.make_tensor_value_info("sr", TensorProto.INT64, []),
        ],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["batch", 64])],
        [numpy_helper.from_array(np.array(16000, np.int64), "c16000")],
    )
    _save(g, path)


def _build_reflect_pad(path: str) -> None:
    rng = np.random.default_rng(0)
    g = helper.make_graph(
        [
            helper.make_node(
                "Pad", ["audio", "pads"], ["padded"], name="reflect_pad", mode="reflect"
            ),
            helper.make_node(
                "Conv", ["padded", "W", "B"], ["conv"], name="conv", kernel_shape=[65], strides=[4]
            ),
            helper.make_node("Sigmoid", ["conv"], ["sig"], name="silu_sig"),
            helper.make_node("Mul", ["conv", "sig"], ["features"], name="silu_mul"),
        ],
        "reflect_pad",
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["batch", 1, "samples"])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 8, None])],
        [
            numpy_helper.from_array(np.array([0, 0, 32, 0, 0, 32], np.int64), "pads"),
            _w(rng, "W", 8, 1, 65),
            _w(rng, "B", 8),
        ],
    )
    _save(g, path)


def _build_quant_mlp(path: str) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    rng = np.random.default_rng(0)
    g = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W1"], ["h"], name="fc1"),
            helper.make_node("Sigmoid", ["h"], ["hs"], name="silu_sig"),
            helper.make_node("Mul", ["h", "hs"], ["a"], name="silu_mul"),
            helper.make_node("MatMul", ["a", "W2"], ["y"], name="fc2"),
        ],
        "quant_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 16])],
        [_w(rng, "W1", 32, 64), _w(rng, "W2", 64, 16)],
    )
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "float.onnx")
        _save(g, src)
        logging.getLogger().setLevel(logging.ERROR)  # "consider pre-processing" warning
        # reduce_range: 7-bit weights, as ONNX Runtime's quantization docs advise for x86
        # without VNNI, whose uint8 x int8 MatMulInteger saturates int16 pair sums (an AVX2
        # EPYC put one of 16 outputs 7% off exact arithmetic, and so off the interpreter)
        quantize_dynamic(src, path, weight_type=QuantType.QInt8, reduce_range=True)
    m = onnx.load(path)
    onnx.save(m, path)


def float_cnn(path: str, tanh_gelu: bool = False, input_name: str = "input") -> None:
    """A small Conv+SiLU, Conv+GELU CNN (seeded; ``tanh_gelu``: a third Conv with tanh-GELU),
    TorchScript exporter, opset 17 (so each GELU is its Erf or Tanh chain), batch/height/width
    dynamic."""
    import torch

    torch.manual_seed(0)

    class _Cnn(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1 = torch.nn.Conv2d(3, 8, 3, 2, 1)
            self.c2 = torch.nn.Conv2d(8, 16, 3, 2, 1)
            self.c3 = torch.nn.Conv2d(16, 16, 3, 1, 1) if tanh_gelu else None
            self.fc = torch.nn.Linear(16, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = torch.nn.functional.silu(self.c1(x))
            x = torch.nn.functional.gelu(self.c2(x))
            if self.c3 is not None:
                x = torch.nn.functional.gelu(self.c3(x), approximate="tanh")
            return self.fc(x.mean((2, 3)))

    dyn = {input_name: {0: "N", 2: "H", 3: "W"}}
    _export(_Cnn(), (torch.randn(1, 3, 32, 32),), path, [input_name], ["logits"], dyn, False)


def _build_crnn_lstm(path: str) -> None:
    """A CRNN text recognizer as OCR packages ship them: Conv+SiLU, MaxPool, Conv+GELU,
    MaxPool (height 32 -> 8), columns as time steps into a 2-layer bidirectional LSTM, Linear,
    LogSoftmax (37 classes); TorchScript exporter, batch and width dynamic."""
    import torch

    torch.manual_seed(0)

    class _Crnn(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1 = torch.nn.Conv2d(1, 16, 3, 1, 1)
            self.c2 = torch.nn.Conv2d(16, 32, 3, 1, 1)
            self.rnn = torch.nn.LSTM(32 * 8, 32, num_layers=2, bidirectional=True)
            self.fc = torch.nn.Linear(64, 37)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            f = torch.nn.functional.max_pool2d(torch.nn.functional.silu(self.c1(x)), 2)
            f = torch.nn.functional.max_pool2d(torch.nn.functional.gelu(self.c2(f)), (2, 1))
            n, c, h, w = f.shape
            y, _ = self.rnn(f.permute(3, 0, 1, 2).reshape(w, n, c * h))
            return self.fc(y).log_softmax(-1)

    dyn = {"image": {0: "batch", 3: "width"}, "log_probs": {0: "steps", 1: "batch"}}
    _export(_Crnn(), (torch.randn(1, 1, 32, 64),), path, ["image"], ["log_probs"], dyn, False)


def quantize_qdq(src: str, dst: str) -> None:
    """``src`` through ONNX Runtime's ``quant_pre_process`` and ``quantize_static`` (QDQ format,
    8 seeded 1x3x32x32 calibration images): the flow the quantizer's own warning asks for.
    Without the pre-processing the quantizer fuses each GELU into one Gelu node first."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    rng = np.random.default_rng(0)
    name = onnx.load(src).graph.input[0].name

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(
                [{name: rng.standard_normal((1, 3, 32, 32), np.float32)} for _ in range(8)]
            )

        def get_next(self) -> dict | None:
            return next(self.it, None)

    with tempfile.TemporaryDirectory() as d:
        pre = os.path.join(d, "pre.onnx")
        logging.getLogger().setLevel(logging.ERROR)
        quant_pre_process(src, pre, skip_optimization=True)
        quantize_static(pre, dst, _Reader(), quant_format=QuantFormat.QDQ)


def _build_qdq_cnn(path: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "float.onnx")
        float_cnn(src)
        quantize_qdq(src, path)


def _build_fp16_cnn(path: str) -> None:
    from onnxruntime.transformers.float16 import convert_float_to_float16

    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "float.onnx")
        float_cnn(src)
        onnx.save(convert_float_to_float16(onnx.load(src), keep_io_types=True), path)


def _build_llama_kv(path: str, made_up: str = "") -> None:
    """``made_up``: "" (named dims), "auto" (the dynamo exporter, ``Dim.AUTO`` on each dim) or
    "listed" (TorchScript, ``dynamic_axes`` as lists)."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    # torch.export cannot trace SDPA's causal flag of a symbolic length: eager attention
    eager = {"attn_implementation": "eager"} if made_up else {}
    cfg = tf.LlamaConfig(
        vocab_size=1000, max_position_embeddings=256, num_key_value_heads=1, **_TINY, **eager
    )
    lm = tf.LlamaForCausalLM(cfg).eval()
    layers, heads, dim = 2, 1, 16

    class _Step(torch.nn.Module):  # the cache in and out as plain tensors
        def __init__(self) -> None:
            super().__init__()
            self.m = lm

        def forward(  # the cache as named arguments: torch.export takes no *args' shapes
            self,
            ids: torch.Tensor,
            mask: torch.Tensor,
            pos: torch.Tensor,
            k0: torch.Tensor,
            v0: torch.Tensor,
            k1: torch.Tensor,
            v1: torch.Tensor,
        ) -> tuple[torch.Tensor, ...]:
            past = (k0, v0, k1, v1)
            cache = tf.DynamicCache(config=cfg)
            for i in range(layers):
                cache.update(past[2 * i], past[2 * i + 1], i)
            o = self.m(
                input_ids=ids,
                attention_mask=mask,
                position_ids=pos,
                past_key_values=cache,
                use_cache=True,
            )
            kv = o.past_key_values
            pairs = ((kv.layers[i].keys, kv.layers[i].values) for i in range(layers))
            return (o.logits, *(t for pair in pairs for t in pair))

    kv_names = [f"past_key_values.{i}.{w}" for i in range(layers) for w in ("key", "value")]
    ins = ["input_ids", "attention_mask", "position_ids", *kv_names]
    outs = ["logits", *(n.replace("past_key_values", "present") for n in kv_names)]
    dyn = {
        "input_ids": {0: "batch", 1: "sequence"},
        "position_ids": {0: "batch", 1: "sequence"},
        "attention_mask": {0: "batch", 1: "total_sequence"},
        **{n: {0: "batch", 2: "past_sequence"} for n in kv_names},
        **{n: {0: "batch", 2: "total_sequence"} for n in outs[1:]},
        "logits": {0: "batch", 1: "sequence"},
    }
    p = 6
    args = (
        torch.randint(0, 1000, (1, 1)),
        torch.ones(1, p + 1, dtype=torch.int64),
        torch.tensor([[p]]),
        *(torch.randn(1, heads, p, dim) for _ in kv_names),
    )
    if made_up:  # the inputs' dims only: the exporters name the outputs' themselves
        dyn = {k: v for k, v in dyn.items() if k in ins}
    auto = made_up == "auto"
    _export(_Step(), args, path, ins, outs, dyn, auto, auto_dims=auto, listed=made_up == "listed")


def _build_bart_kv(path: str) -> None:
    """One decoder-with-past step of a BART (hidden 32, 2 layers each side, vocab 1000, 256
    positions, eager attention), as ``EncoderDecoderCache`` takes it, exported by the dynamo
    exporter with ``Dim.AUTO`` on each dynamic dim (traced with 1 new token, 6 cached, an
    encoder of 5)."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    layers = 2
    cfg = tf.BartConfig(
        vocab_size=1000, d_model=32, encoder_layers=layers, decoder_layers=layers,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
        decoder_ffn_dim=64, max_position_embeddings=256, attn_implementation="eager",
    )  # fmt: skip
    lm = tf.BartForConditionalGeneration(cfg).eval()

    def cache(flat: tuple[torch.Tensor, ...]) -> object:
        c = tf.DynamicCache()
        for i in range(layers):
            c.update(flat[2 * i], flat[2 * i + 1], i)
        return c

    class _Step(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = lm

        def forward(  # each layer's self-attention key, value, then cross-attention's
            self,
            ids: torch.Tensor,
            states: torch.Tensor,
            mask: torch.Tensor,
            *kv: torch.Tensor,
        ) -> tuple[torch.Tensor, ...]:
            own = cache(tuple(t for i in range(layers) for t in kv[4 * i : 4 * i + 2]))
            cross = cache(tuple(t for i in range(layers) for t in kv[4 * i + 2 : 4 * i + 4]))
            o = self.m(
                decoder_input_ids=ids,
                encoder_outputs=(states,),
                attention_mask=mask,
                past_key_values=tf.EncoderDecoderCache(own, cross),
                use_cache=True,
            )
            kept = o.past_key_values.self_attention_cache
            return (o.logits, *(t for i in range(layers) for t in (kept.layers[i].keys, kept.layers[i].values)))  # fmt: skip

    kv = [
        f"past_key_values.{i}.{side}.{w}"
        for i in range(layers)
        for side in ("decoder", "encoder")
        for w in ("key", "value")
    ]
    ins = ["decoder_input_ids", "encoder_hidden_states", "encoder_attention_mask", *kv]
    outs = ["logits", *(f"present.{i}.decoder.{w}" for i in range(layers) for w in ("key", "value"))]  # fmt: skip
    dyn = {
        "decoder_input_ids": {0: "batch", 1: "sequence"},
        "encoder_hidden_states": {0: "batch", 1: "encoder_sequence"},
        "encoder_attention_mask": {0: "batch", 1: "encoder_sequence"},
        **{n: {0: "batch", 2: "encoder_sequence" if "encoder" in n else "past"} for n in kv},
    }
    past, enc = 6, 5
    args = (
        torch.randint(0, 1000, (1, 1)),
        torch.randn(1, enc, 32),
        torch.ones(1, enc, dtype=torch.int64),
        *(torch.randn(1, 2, enc if "encoder" in n else past, 16) for n in kv),
    )

    class _Named(torch.nn.Module):  # named arguments: torch.export takes no *args' shapes
        def __init__(self) -> None:
            super().__init__()
            self.step = _Step()

        def forward(
            self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor,
            k0: torch.Tensor, v0: torch.Tensor, x0: torch.Tensor, y0: torch.Tensor,
            k1: torch.Tensor, v1: torch.Tensor, x1: torch.Tensor, y1: torch.Tensor,
        ) -> tuple[torch.Tensor, ...]:  # fmt: skip
            return self.step(a, b, c, k0, v0, x0, y0, k1, v1, x1, y1)

    _export(_Named(), args, path, ins, outs, dyn, True, auto_dims=True)


def _build_gpt2_merged(path: str) -> None:
    """A GPT-2 decoder merged as Optimum's ``decoder_model_merged.onnx``: one If on
    ``use_cache_branch`` (bool [1]) runs the step with the KV cache (then) or the first pass
    without it (else), each branch a TorchScript export of the same random-weight model with its
    own copy of the weights; inputs ``input_ids``, ``attention_mask`` [batch_size,
    past_sequence_length + sequence_length], ``past_key_values.*`` and ``use_cache_branch``."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    cfg = _gpt2_config(n_positions=128)
    model = tf.GPT2LMHeadModel(cfg).eval()
    layers = cfg.n_layer
    past = [f"past_key_values.{i}.{w}" for i in range(layers) for w in ("key", "value")]
    present = [n.replace("past_key_values", "present") for n in past]

    def flat(kv: object) -> list[torch.Tensor]:
        return [t for i in range(layers) for t in (kv.layers[i].keys, kv.layers[i].values)]  # type: ignore[attr-defined]

    class First(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = model  # a submodule: its weights are the export's initializers

        def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
            o = self.m(input_ids=ids, attention_mask=mask, use_cache=True)
            return (o.logits, *flat(o.past_key_values))

    class Step(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = model

        def forward(
            self, ids: torch.Tensor, mask: torch.Tensor, *kv: torch.Tensor
        ) -> tuple[torch.Tensor, ...]:
            cache = tf.DynamicCache(config=cfg)
            for i in range(layers):
                cache.update(kv[2 * i], kv[2 * i + 1], i)
            o = self.m(input_ids=ids, attention_mask=mask, past_key_values=cache, use_cache=True)
            return (o.logits, *flat(o.past_key_values))

    ids = torch.randint(0, 1000, (1, 8))
    dyn = {
        "input_ids": {0: "batch_size", 1: "sequence_length"},
        "attention_mask": {0: "batch_size", 1: "past_sequence_length + sequence_length"},
        **{n: {0: "batch_size", 2: "past_sequence_length"} for n in past},
    }
    with tempfile.TemporaryDirectory() as d:
        first, step = os.path.join(d, "first.onnx"), os.path.join(d, "step.onnx")
        _export(First(), (ids, torch.ones(1, 8, dtype=torch.int64)), first,
                ["input_ids", "attention_mask"], ["logits", *present], dyn, False)  # fmt: skip
        kv = tuple(torch.randn(1, 2, 8, 16) for _ in past)
        _export(Step(), (ids[:, :1], torch.ones(1, 9, dtype=torch.int64), *kv), step,
                ["input_ids", "attention_mask", *past], ["logits", *present], dyn, False)  # fmt: skip
        m_first, m_step = onnx.load(first), onnx.load(step)

    def branch(m: onnx.ModelProto, prefix: str) -> onnx.GraphProto:
        """The graph as a branch body: its values and weights renamed under ``prefix`` (the
        two exports name theirs alike), its inputs read from the outer graph."""
        g = m.graph
        new = {o: prefix + o for n in g.node for o in n.output if o}
        new.update({t.name: prefix + t.name for t in g.initializer})
        for n in g.node:
            n.name = prefix + n.name
            n.input[:] = [new.get(i, i) for i in n.input]
            n.output[:] = [new.get(o, o) for o in n.output]
        for t in g.initializer:
            t.name = new[t.name]
        outs = [
            helper.make_tensor_value_info(
                new.get(o.name, o.name), o.type.tensor_type.elem_type, None
            )
            for o in g.output
        ]
        return helper.make_graph(list(g.node), prefix.strip("/"), [], outs, list(g.initializer))

    node = helper.make_node(
        "If",
        ["use_cache_branch"],
        ["logits", *present],
        name="optimum::if",
        then_branch=branch(m_step, "with_past/"),
        else_branch=branch(m_first, "no_past/"),
    )
    ins = [
        *m_step.graph.input,
        helper.make_tensor_value_info("use_cache_branch", TensorProto.BOOL, [1]),
    ]
    g = helper.make_graph([node], "merged", ins, list(m_step.graph.output))
    m = helper.make_model(g, opset_imports=m_step.opset_import, producer_name="pau-rewriter zoo")
    m.ir_version = m_step.ir_version
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, path)


def _save(g: onnx.GraphProto, path: str) -> None:
    m = helper.make_model(
        g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="pau-rewriter zoo"
    )
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, path)


BUILDERS: dict[str, Callable[[str], None]] = {
    **{
        f"{kind}_{'dynamo' if dyn else 'torchscript'}": _build_hf(kind, dyn)
        for kind in ("bert", "gpt2", "vit", "clip")
        for dyn in (False, True)
    },
    "yolo_silu": _build_yolo,
    "yolo_nms": _build_yolo_nms,
    "mobilenet_hswish": _build_mobilenet,
    "gru_state": _build_gru,
    "crnn_lstm": _build_crnn_lstm,
    "vad_if": _build_vad,
    "reflect_pad": _build_reflect_pad,
    "quant_mlp": _build_quant_mlp,
    "qdq_cnn": _build_qdq_cnn,
    "fp16_cnn": _build_fp16_cnn,
    "llama_kv": _build_llama_kv,
    "llama_kv_auto": lambda path: _build_llama_kv(path, "auto"),
    "llama_kv_listed": lambda path: _build_llama_kv(path, "listed"),
    "bart_kv_auto": _build_bart_kv,
    "gpt2_merged": _build_gpt2_merged,
}


def build_zoo(outdir: str, names: list[str] | None = None) -> dict[str, str]:
    """Write the zoo's models (all, or ``names``) to ``outdir``; return name -> path.

    A model whose builder fails (an exporter that cannot export it) is skipped with a printed
    reason; an unknown name is a ValueError.

    Example:
        >>> paths = build_zoo("/tmp/zoo", ["vad_if", "gru_state"])  # doctest: +SKIP
        >>> sorted(paths)
        ['gru_state', 'vad_if']
    """
    unknown = sorted(set(names or ()) - set(BUILDERS))
    if unknown:
        raise ValueError(f"unknown zoo model(s) {unknown}; known: {sorted(BUILDERS)}")
    os.makedirs(outdir, exist_ok=True)
    out: dict[str, str] = {}
    for name in names or list(BUILDERS):
        path = os.path.join(outdir, f"{name}.onnx")
        try:
            BUILDERS[name](path)
        except Exception as e:  # an exporter's limitation: skip the variant, say why
            msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
            print(f"zoo: skipped {name}: {type(e).__name__}: {msg[:200]}", file=sys.stderr)
            with contextlib.suppress(OSError):
                os.remove(path)
            continue
        out[name] = path
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("outdir")
    p.add_argument("names", nargs="*", help=f"models to build (default all): {', '.join(BUILDERS)}")
    a = p.parse_args(argv)
    for name, path in build_zoo(a.outdir, a.names or None).items():
        m = onnx.load(path)
        ins = ", ".join(
            f"{i.name}[{','.join(d.dim_param or str(d.dim_value) for d in i.type.tensor_type.shape.dim)}]"
            for i in m.graph.input
        )
        print(
            f"{name:18s} {os.path.getsize(path) / 1024:8.1f} KiB  {len(m.graph.node):4d} nodes  {ins}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
