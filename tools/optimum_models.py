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
decoder (one If on ``use_cache_branch``, each branch's outputs named as the If's),
classifiers, a CTC speech model, CLIP, image classifiers, a segmenter and detectors (23
architectures, 35 files). Files are written flat as
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
    "gemma": ("AutoModelForCausalLM", {"model_type": "gemma", **_SMALL, "num_key_value_heads": 2,
              "head_dim": 16, "vocab_size": 1000}, "text-generation-with-past"),
    "phi": ("AutoModelForCausalLM", {"model_type": "phi", **_SMALL, "vocab_size": 1000},
            "text-generation-with-past"),
    "mistral": ("AutoModelForCausalLM", {"model_type": "mistral", **_SMALL,
                "num_key_value_heads": 2, "vocab_size": 1000}, "text-generation-with-past"),
    "falcon": ("AutoModelForCausalLM", {"model_type": "falcon", "hidden_size": 64,
               "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 1000},
               "text-generation-with-past"),
    "bart": ("AutoModelForSeq2SeqLM", {"model_type": "bart", **_DECODER, "vocab_size": 1000},
             "text2text-generation-with-past"),
    "marian": ("AutoModelForSeq2SeqLM", {"model_type": "marian", **_DECODER, "vocab_size": 1000,
               "decoder_vocab_size": 1000, "pad_token_id": 0, "decoder_start_token_id": 0},
               "text2text-generation-with-past"),
    "wav2vec2": ("AutoModelForCTC", {"model_type": "wav2vec2", **_SMALL, "conv_dim": [32, 32],
                 "conv_stride": [5, 2], "conv_kernel": [10, 3], "num_feat_extract_layers": 2,
                 "vocab_size": 32}, "automatic-speech-recognition"),
    "clip": ("AutoModel", {"model_type": "clip", "text_config": {**_SMALL, "vocab_size": 1000},
             "vision_config": {**_SMALL, "image_size": 32, "patch_size": 8},
             "projection_dim": 32}, "zero-shot-image-classification"),
    "segformer": ("AutoModelForSemanticSegmentation", {"model_type": "segformer",
                  "hidden_sizes": [16, 32, 64, 128], "decoder_hidden_size": 64,
                  "depths": [1, 1, 1, 1], "num_attention_heads": [1, 2, 4, 8]},
                  "semantic-segmentation"),
    "mobilevit": ("AutoModelForImageClassification", {"model_type": "mobilevit",
                  "image_size": 64, "hidden_sizes": [32, 48, 64],
                  "neck_hidden_sizes": [8, 16, 24, 32, 48, 64, 80]}, "image-classification"),
    "swin": ("AutoModelForImageClassification", {"model_type": "swin", "image_size": 64,
             "embed_dim": 16, "depths": [1, 1], "num_heads": [1, 2], "window_size": 4},
             "image-classification"),
    "yolos": ("AutoModelForObjectDetection", {"model_type": "yolos", **_SMALL,
              "image_size": [64, 64], "patch_size": 16, "num_detection_tokens": 10},
              "object-detection"),
    "mpnet": ("AutoModel", {"model_type": "mpnet", **_SMALL, "vocab_size": 1000},
              "feature-extraction"),
    "distilbert": ("AutoModelForTokenClassification", {"model_type": "distilbert", "dim": 64,
                   "n_layers": 2, "n_heads": 4, "hidden_dim": 128, "vocab_size": 1000},
                   "token-classification"),
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
