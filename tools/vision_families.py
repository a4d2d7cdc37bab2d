"""torchvision's and timm's architectures, exported as users export them, for the CLI sweep.

    VENV/bin/python tools/vision_families.py --out DIR [--list] [NAME ...]
    python tools/acceptance.py --zoo DIR --out DIR/out --no-target   # the project's environment
    VENV/bin/python tools/vision_families.py --fx [--plan] [NAME ...]  # the torch.fx front end

``--fx`` exports nothing: each module, built the same way, goes through ``rewrite_module(module,
"pau_all", example_inputs=...)`` (the project installed into VENV: ``pip install --no-deps -e
.`` beside its runtime dependencies) and one line says the sites replaced, the rel-L2 against
the original module on the example and the seconds; ``--plan`` adds ``plan_module`` on
torch-eager.

Builds random-weight models (no download: ``weights=None``, ``pretrained=False``) of
torchvision's classifiers, segmenters, detectors, video and optical-flow nets and of timm's
mobile and hybrid architectures (HardSwish, SiLU, GELU, ReLU6, Mish, LeakyReLU, GELU-tanh,
attention, RoPE, LSTM-like mixers), BatchNorm statistics set from one random batch as in a trained
net, and exports each with the dynamo exporter (``torch.onnx.export``'s default since torch 2.9;
``Dim.AUTO`` on the batch) and, for torchvision's, the TorchScript exporter too (named
``batch``; detectors take only this one). A family whose export fails (the exporter's limit,
not this project's) is listed with the reason and skipped.

Runs where torchvision and timm import: PyPI's torchvision does not import beside the CPU torch
2.13 of the project's environment ("operator torchvision::nms does not exist"), so this script
runs in a venv of its own (``pip install torch==2.14.1 torchvision==0.29.1 timm onnx onnxscript``)
and ``tools/acceptance.py`` runs the written models in the project's. The README quotes the
table.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hf_families import _quiet, fx_line  # noqa: E402  (tools/: stdout silenced at the descriptor)
from zoo import _export  # noqa: E402  (tools/zoo.py: the one export helper of the sweeps)

B = 2  # example batch: dynamo specializes a dim of size 1


def _families() -> Iterator[tuple[str, Callable[[], Any], tuple[int, ...], str]]:
    """(name, make the model, one example input's shape, kind); kinds: ``image`` (dynamic
    batch), ``image_hw`` (batch, height and width dynamic: segmenters), ``detector`` (one image,
    a list to the model; TorchScript only), ``video``, ``flow`` (two images), ``yolo``
    (Ultralytics' YOLO, exported by Ultralytics' own ``export``; only where it is installed)."""
    import timm
    import torchvision.models as tvm
    import torchvision.models.detection as det
    import torchvision.models.optical_flow as flow
    import torchvision.models.segmentation as seg
    import torchvision.models.video as video

    img = (B, 3, 224, 224)
    for name in ("resnet18", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large",
                 "efficientnet_b0", "efficientnet_v2_s", "regnet_y_400mf", "convnext_tiny",
                 "swin_t", "swin_v2_t", "shufflenet_v2_x0_5", "squeezenet1_1", "mnasnet0_5",
                 "densenet121", "maxvit_t"):  # fmt: skip
        yield f"tv_{name}", (lambda n=name: getattr(tvm, n)(weights=None)), img, "image"
    yield "tv_googlenet", lambda: tvm.googlenet(weights=None, aux_logits=False, init_weights=True), img, "image"  # fmt: skip
    yield "tv_inception_v3", lambda: tvm.inception_v3(weights=None, aux_logits=False, init_weights=True), (B, 3, 299, 299), "image"  # fmt: skip
    yield "tv_vit_small", lambda: tvm.VisionTransformer(224, 16, num_layers=2, num_heads=2, hidden_dim=64, mlp_dim=128), img, "image"  # fmt: skip
    yield "tv_lraspp_mobilenet_v3", lambda: seg.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None), (B, 3, 256, 256), "image_hw"  # fmt: skip
    yield "tv_deeplabv3_mobilenet_v3", lambda: seg.deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None, aux_loss=False), (B, 3, 256, 256), "image_hw"  # fmt: skip
    yield "tv_ssdlite320", lambda: det.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None), (1, 3, 320, 320), "detector"  # fmt: skip
    yield "tv_fasterrcnn_mobilenet_320", lambda: det.fasterrcnn_mobilenet_v3_large_320_fpn(weights=None, weights_backbone=None), (1, 3, 320, 320), "detector"  # fmt: skip
    yield "tv_fcos_resnet50", lambda: det.fcos_resnet50_fpn(weights=None, weights_backbone=None, min_size=320, max_size=320), (1, 3, 320, 320), "detector"  # fmt: skip
    yield "tv_r3d_18", lambda: video.r3d_18(weights=None), (B, 3, 8, 112, 112), "video"
    yield "tv_raft_small", lambda: flow.raft_small(weights=None), (1, 3, 128, 128), "flow"  # fmt: skip
    for name in ("mobilenetv3_large_100", "mobilenetv4_conv_small", "mobilenetv4_hybrid_medium",
                 "ghostnetv2_100", "mixnet_s", "lcnet_050", "hardcorenas_a", "tinynet_e",
                 "rexnet_100", "efficientvit_b0", "efficientvit_m0", "levit_128s", "repvit_m0_9",
                 "fastvit_t8", "mobilevit_xxs", "mobilevitv2_050", "mobileone_s0",
                 "tiny_vit_5m_224", "edgenext_xx_small", "efficientformerv2_s0",
                 "convnext_atto", "inception_next_atto", "poolformerv2_s12", "regnety_002",
                 "cspdarknet53", "dla34", "hrnet_w18_small", "ese_vovnet19b_slim", "gernet_s",
                 "hgnetv2_b0", "starnet_s1", "resnet18d", "nf_resnet26", "selecsls42b",
                 "vit_tiny_patch16_224", "deit_tiny_patch16_224", "eva02_tiny_patch14_224",
                 "pvt_v2_b0", "xcit_nano_12_p16_224", "coat_lite_tiny", "sequencer2d_s",
                 "mixer_s16_224", "resmlp_12_224", "gcvit_xxtiny", "davit_tiny",
                 "mambaout_femto"):  # fmt: skip
        yield f"timm_{name}", (lambda n=name: timm.create_model(n, pretrained=False)), img, "image"  # fmt: skip
    try:  # random weights from the architecture's yaml: nothing downloads
        from ultralytics.nn import tasks
    except ImportError:
        return
    for cfg, cls in (("yolov8n", tasks.DetectionModel), ("yolo11n", tasks.DetectionModel),
                     ("yolo11n-seg", tasks.SegmentationModel), ("yolov8n-pose", tasks.PoseModel),
                     ("yolo11n-obb", tasks.OBBModel)):  # fmt: skip
        yield f"ul_{cfg}", (lambda c=cfg, k=cls: k(f"{c}.yaml", verbose=False)), (1, 3, 320, 320), "yolo"  # fmt: skip


def _calibrate_batchnorm(model: Any, args: tuple[Any, ...]) -> None:
    """BatchNorm statistics from one random batch (scale 1, shift 0), as in a trained net:
    random-init statistics (mean 0, variance 1) leave deep nets' activations vanishing or
    exploding, and a verification of zeros checks nothing."""
    import torch

    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    model.eval()  # only the norms train: a detector in training mode wants targets
    for m in norms:
        m.reset_parameters()
        m.momentum = None
        m.train()
    with torch.no_grad():
        model(*args)
    model.eval()


def _unzero(model: Any) -> None:
    """Weights initialized to zero (torchvision's ViT head, timm's classifier heads) drawn
    again as in a trained net: a zero head makes the output constant, and a constant output
    checks nothing."""
    import torch

    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            w = getattr(m, "weight", None)
            if isinstance(m, torch.nn.Linear) and w is not None and not w.any():
                w.copy_(torch.randn(w.shape, generator=g) / w.shape[1] ** 0.5)


def _io(kind: str, shape: tuple[int, ...]) -> tuple[tuple[Any, ...], list[str], list[str], dict[str, dict[int, str]]]:  # fmt: skip
    """Example inputs, input names, output names and dynamic axes of one kind."""
    import torch

    g = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, generator=g)
    if kind == "image":
        return (x,), ["input"], ["output"], {"input": {0: "batch"}}
    if kind == "image_hw":
        return (x,), ["input"], ["out"], {"input": {0: "batch", 2: "height", 3: "width"}}
    if kind == "detector":
        return (
            (x.abs().clamp(0, 1),),
            ["images"],
            ["boxes", "scores", "labels"],
            {"images": {2: "height", 3: "width"}},
        )
    if kind == "video":
        return (x,), ["video"], ["output"], {"video": {0: "batch"}}
    if kind == "yolo":
        return (torch.rand(*shape, generator=g),), ["images"], ["output0"], {"images": {0: "batch"}}  # fmt: skip
    y = torch.randn(*shape, generator=g)  # flow: two frames
    return (x, y), ["image1", "image2"], ["flow"], {"image1": {0: "batch"}, "image2": {0: "batch"}}  # fmt: skip


def _deployed(model: Any, kind: str) -> Any:
    """The model as users export it for deployment: a detector takes a batch tensor of one
    image and returns boxes, scores and labels; a segmenter its ``out``; RAFT its last flow (4
    refinement steps instead of 12: a smaller graph); the others as they are."""
    import torch

    if kind not in ("detector", "image_hw", "flow"):
        return model

    class Deployed(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = model

        def forward(self, x0: Any, x1: Any = None) -> Any:  # named: torch.export's dims
            if kind == "detector":
                o = self.m(list(x0))[0]
                return o["boxes"], o["scores"], o["labels"]
            if kind == "flow":
                return self.m(x0, x1, num_flow_updates=4)[-1]
            return self.m(x0)["out"]

    return Deployed().eval()


def _prepared(make: Callable[[], Any], shape: tuple[int, ...], kind: str) -> tuple[Any, tuple[Any, ...]]:  # fmt: skip
    """The model as deployed, its norms calibrated and zero heads drawn, and its example inputs."""
    import torch

    torch.manual_seed(0)
    model = _deployed(make().eval(), kind)
    # statistics over 16 images (4 where the model is heavy): over the example's 2, a norm
    # after a global pool (RexNet's squeeze-excite) divides by the spread of 2 values and
    # the net amplifies any change 1000-fold (a rational's 2e-4 moved its output by 60%)
    many = 4 if kind in ("detector", "video", "flow") else 16
    _calibrate_batchnorm(model, _io(kind, (many, *shape[1:]))[0])
    _unzero(model)
    return model, _io(kind, shape)[0]


def fx(name: str, make: Callable[[], Any], shape: tuple[int, ...], kind: str, plan: bool) -> str:
    """One line: the family through the torch.fx front end, no export (``fx_line``)."""
    try:
        model, args = _prepared(make, shape, kind)
    except Exception as e:
        return f"{name}: not built ({type(e).__name__}: {str(e).splitlines()[0][:120]})"
    return fx_line(name, model, args, plan)


def build(name: str, make: Callable[[], Any], shape: tuple[int, ...], kind: str, folder: str) -> list[str]:  # fmt: skip
    """Export one family into ``folder``; the lines to print (built, or why not)."""

    try:
        model, args = _prepared(make, shape, kind)
    except Exception as e:
        return [f"{name}: not built ({type(e).__name__}: {str(e).splitlines()[0][:120]})"]
    if kind == "yolo":
        return _ultralytics_export(name, shape, folder)
    _, ins, outs, axes = _io(kind, shape)
    exporters = [False] if kind == "detector" else ([True, False] if name.startswith("tv_") else [True])  # fmt: skip
    lines = []
    for dynamo in exporters:
        path = os.path.join(folder, f"{name}_{'dynamo' if dynamo else 'torchscript'}.onnx")
        try:  # zoo's export: dynamo at opset 18 with Dim.AUTO, TorchScript at 17; one file
            with _quiet():
                _export(model, args, path, ins, outs, axes, dynamo, auto_dims=True)
            lines.append(f"built {os.path.basename(path)}")
        except Exception as e:  # the exporter's limit: say which, go on
            cause = e.__cause__ or e  # torch.onnx wraps torch.export's own error ("step 1/3")
            text = str(cause).strip()
            msg = text.splitlines()[0][:160] if text else ""
            lines.append(f"{os.path.basename(path)}: export failed ({type(cause).__name__}: {msg})")
            if os.path.exists(path):
                os.unlink(path)
    return lines


def _ultralytics_export(name: str, shape: tuple[int, ...], folder: str) -> list[str]:
    """Ultralytics' YOLO as its users export it: ``YOLO(cfg).export(format="onnx")`` (the
    TorchScript exporter, Conv and BatchNorm fused, its decoding of boxes inside), with a dynamic
    batch and image size and without."""
    import shutil

    import torch
    from ultralytics import YOLO

    lines = []
    for dynamic in (True, False):
        path = os.path.join(folder, f"{name}_ultralytics{'_dynamic' if dynamic else ''}.onnx")
        try:
            torch.manual_seed(0)
            yolo = YOLO(f"{name[3:]}.yaml")
            # norms from 4 images, as for the other families: with its initial statistics the
            # random net's outputs were the same for every input ("outputs the same on other
            # inputs"), and a verification of a constant checks nothing
            _calibrate_batchnorm(yolo.model, _io("yolo", (4, *shape[1:]))[0])
            with _quiet():
                written = yolo.export(
                    format="onnx", dynamic=dynamic, imgsz=shape[-1], simplify=False
                )
            shutil.move(str(written), path)
            lines.append(f"built {os.path.basename(path)}")
        except Exception as e:  # the exporter's limit: say which, go on
            lines.append(f"{os.path.basename(path)}: export failed ({type(e).__name__}: {e})")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="families (default all)")
    ap.add_argument("--out", help="folder for the exported models (required unless --fx)")
    ap.add_argument("--fx", action="store_true",
                    help="run each torch module through the torch.fx front end instead (no export)")  # fmt: skip
    ap.add_argument("--plan", action="store_true",
                    help="with --fx: also plan_module on torch-eager (decisions, seconds)")  # fmt: skip
    ap.add_argument("--list", action="store_true", help="list the families and exit")
    a = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    for log in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript", "timm"):
        logging.getLogger(log).setLevel(logging.ERROR)
    if not (a.out or a.fx or a.list):
        ap.error("--out is required (the folder for the exported models), unless --fx or --list")
    if a.out:
        os.makedirs(a.out, exist_ok=True)
    for name, make, shape, kind in _families():
        if a.list:
            print(name, kind, "x".join(map(str, shape)))
        elif a.fx and (not a.names or name in a.names):
            print(fx(name, make, shape, kind, a.plan), flush=True)
        elif not a.names or name in a.names:
            for line in build(name, make, shape, kind, a.out):
                print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
