"""Models as Optimum exports them (``optimum-cli export onnx``), for acceptance.

    python -m venv /tmp/opt && /tmp/opt/bin/pip install torch==2.13.0 optimum-onnx onnxruntime
    /tmp/opt/bin/python tools/optimum_models.py DIR [NAME ...]
    python tools/acceptance.py --zoo DIR          # in the project's venv

optimum-onnx pins its own ``transformers`` (4.57 for optimum-onnx 0.1), so it runs in a venv of
its own, as paddle2onnx does; nothing here imports the project. Each model is a small
random-weight one built from its config (no download), saved with ``save_pretrained`` and
exported by ``optimum.exporters.onnx.main_export`` for the task users export it for: decoders
with their KV cache (``text-generation-with-past``: one ``model.onnx`` taking
``past_key_values.*``), encoder-decoders as encoder, decoder, decoder with past and the merged
decoder (one If on ``use_cache_branch``, each branch's outputs named as the If's), a
classifier, image classifiers and a detector. Files are written flat as
``DIR/<name>__<file>.onnx``. A model whose export fails is listed with the reason.
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import sys
import tempfile

_SMALL = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}
_SMALL["intermediate_size"] = 128
_DECODER = {"d_model": 64, "encoder_layers": 2, "decoder_layers": 2, "encoder_ffn_dim": 128}
_DECODER |= {"decoder_ffn_dim": 128, "encoder_attention_heads": 4, "decoder_attention_heads": 4}
_RESNET = {"model_type": "resnet", "depths": [1, 1, 1, 1], "hidden_sizes": [16, 32, 64, 128]}

# name -> (AutoModel class, config, task)
SPECS: dict[str, tuple[str, dict, str]] = {
    "gpt2": ("AutoModelForCausalLM", {"model_type": "gpt2", "n_embd": 64, "n_layer": 2,
             "n_head": 4, "vocab_size": 1000}, "text-generation-with-past"),
    "llama": ("AutoModelForCausalLM", {"model_type": "llama", **_SMALL, "num_key_value_heads": 2,
              "vocab_size": 1000}, "text-generation-with-past"),
    "qwen2": ("AutoModelForCausalLM", {"model_type": "qwen2", **_SMALL, "num_key_value_heads": 2,
              "vocab_size": 1000}, "text-generation-with-past"),
    "bert": ("AutoModelForSequenceClassification", {"model_type": "bert", **_SMALL,
             "vocab_size": 1000}, "text-classification"),
    "t5": ("AutoModelForSeq2SeqLM", {"model_type": "t5", "d_model": 64, "d_ff": 128,
           "num_layers": 2, "num_heads": 4, "d_kv": 16, "vocab_size": 1000,
           "feed_forward_proj": "gated-gelu"}, "text2text-generation-with-past"),
    "whisper": ("AutoModelForSpeechSeq2Seq", {"model_type": "whisper", **_DECODER,
                "num_mel_bins": 80}, "automatic-speech-recognition-with-past"),
    "vit": ("AutoModelForImageClassification", {"model_type": "vit", **_SMALL, "image_size": 64,
            "patch_size": 16}, "image-classification"),
    "convnext": ("AutoModelForImageClassification", {"model_type": "convnext",
                 "depths": [1, 1, 1, 1], "hidden_sizes": [16, 32, 64, 128]},
                 "image-classification"),
    "detr": ("AutoModelForObjectDetection", {"model_type": "detr", **_DECODER,
             "encoder_layers": 1, "decoder_layers": 1, "use_timm_backbone": False,
             "use_pretrained_backbone": False, "num_queries": 10,
             "backbone_config": _RESNET | {"out_features": ["stage4"]}}, "object-detection"),
}  # fmt: skip


def export(name: str, out: pathlib.Path) -> list[pathlib.Path]:
    import torch
    import transformers
    from optimum.exporters.onnx import main_export

    cls_name, cfg, task = SPECS[name]
    torch.manual_seed(0)
    config = transformers.AutoConfig.for_model(**cfg)
    model = getattr(transformers, cls_name).from_config(config).eval()
    with tempfile.TemporaryDirectory() as d:
        src, dst = pathlib.Path(d, "src"), pathlib.Path(d, "onnx")
        model.save_pretrained(src)
        main_export(str(src), output=str(dst), task=task, do_validation=False)
        written = []
        for f in sorted(dst.glob("*.onnx")):
            target = out / f"{name}__{f.name}"
            shutil.copyfile(f, target)
            written.append(target)
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=pathlib.Path)
    ap.add_argument("names", nargs="*", help=f"models (default: {' '.join(SPECS)})")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    for name in a.names or SPECS:
        try:
            files = export(name, a.out)
        except Exception as e:  # noqa: BLE001 - the exporter's limit: listed, not fatal
            print(f"{name}: export failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
            continue
        print(f"{name}: {', '.join(f.name for f in files)}", file=sys.stdout)


if __name__ == "__main__":
    main()
