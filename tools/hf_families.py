"""579 model families (576 `transformers`, 3 `diffusers`), built as users export them, through the
CLI with no flags.

    python tools/hf_families.py [--out DIR] [--no-target] [--opset N]
                                [--interpreter | --fx [--plan] | --pt2 | --archive] [NAME ...]

Builds small random-weight models of 576 ``transformers`` families and 3 ``diffusers`` ones
(a text-conditioned UNet, an unconditional one, a VAE) from their configs (no download: text
encoders and decoders, vision and audio models, a detector, segmenters; and inputs other than
ids + mask or one image: ids alone (Mamba, RWKV), a decoder with encoder states,
encoder-decoder ids, a time series, a trajectory, text + image, a spectrogram; boxes per token
(LayoutLM), an image with clicks (SAM), a forecaster's float observed-mask and categories,
filterbank frames with a mask (Speech2Text), a codec's mono waveform (EnCodec), an audio
spectrogram's patches (AST), an image with its trimap (ViTMatte), video frames (TimeSformer,
VideoMAE, V-JEPA 2), an image of any size (SuperPoint, the VAE), flattened patches with their
mask and each image's patch grid (SigLIP 2's NaFlex), a scene-text crop at its one size (MGP-STR), an image with
a low-resolution depth prompt (Prompt Depth Anything), a latent with a timestep per sample and
text states (the UNets), seven token types per token (TAPAS), an image's pixel mask (ViLT),
a task's ids read as floats (OneFormer), entities with the token positions each spans (LUKE),
XPath tags and subscripts per token (MarkupLM), boxes as fractions of the page (BROS), a dataset
index per sample (ViTPose+), UTF-8 bytes named ``inputs`` (Perceiver), region features
and their boxes (LXMERT), a detector's visual embeddings (VisualBERT), an image beside ids
holding its image tokens (LLaVA, PaliGemma, Aya Vision), mel frames stacked at a low frame
rate with their mask (FunASR), mel bins by frames in chunks of 100 with their mask
(Qwen3-ASR), one series per sample of any length (TimesFM 2.5), a text id and a codec's audio
codes per step (Kyutai STT), a waveform beside its filterbank frames (NeuCodec), ids holding a
log-mel's audio tokens beside it (Qwen2-Audio), an image per sample and the tokens attending to it
(Idefics), one video and its text (TVP: batch 1), an image at two resolutions (DeepSeek-VL
hybrid), Qwen2-VL's patches padded per image (ColQwen2), tiles with a bool mask of the real ones
(Granite Docling), a video's frames and a Q-Former's instruction (InstructBLIP-Video), a robot's state,
noisy actions and flow time beside a camera image and text (PI0), a protein's tokens beside text
(Evolla), ids holding a log-mel's 50 audio tokens beside it and its frames' mask (Music
Flamingo), ids holding audio frames' tokens beside each frame's codebook ids and a bool mask
(Higgs Audio v2), a waveform and video frames (PE Audio-Video), image-text models' inputs as their processors
lay them out (Mllama's tiles, Qwen2.5-VL's patch grid, OmDet-Turbo's class names, LLaVA-NeXT's
tiles, Pixtral's images each at its own size, Gemma 4's padded patches with each one's (x, y),
Kosmos-2.5's flattened patches: ``_laid_out``)), each
exported twice: by the TorchScript exporter with named ``dynamic_axes`` (``batch``,
``sequence``), and by the dynamo exporter with ``torch.export.Dim.AUTO`` on every dynamic dim,
as a user who does not name dims gets it (``input_ids[s72, s53]``, ``attention_mask[s43,
s53]``: made-up names, the batches of two inputs not known to be equal). Then runs
``tools/acceptance.py`` on the folder (``rewrite MODEL`` plain and with ``--target
ort-cpu:threads=1``) and prints its table. A family whose config or export fails (the exporter's
limit, not this project's) is listed with the reason and skipped.

``--opset N`` exports the dynamo models at opset N instead of 20, the dynamo exporter's own
default in torch 2.13 (the TorchScript ones are at 17; 23: Attention, RotaryEmbedding and
RMSNormalization nodes). ``--interpreter`` runs every model through the ONNX -> torch
interpreter (retraining and the torch targets) and ONNX Runtime on generated inputs and prints
the largest difference relative to each output's largest value (not of outputs a random op's
draw is behind: torch's draws are not ONNX Runtime's), instead of the CLI runs.
``--pt2`` saves each family's ``torch.export`` program instead (``NAME.pt2``, the same
``Dim.AUTO`` dims, the inputs under their own names) and runs the CLI on those: the converter is then this project's
(``rewriter.frontends.pt2``). ``--archive`` saves each family's ``torch.jit.trace`` instead
(``NAME.pt``, ``check_trace=False``, the inputs under their own names), as a TorchScript
archive reaches users, and runs the CLI on those (``rewriter.frontends.pt2._script``). ``--fx`` exports nothing: each torch module goes through the
torch.fx front end (``rewrite_module(module, "pau_all", example_inputs=...)``, no other
option) and is compared with
the original module; ``--plan`` adds ``plan_module(module, example_inputs)`` on torch-eager
(sites replaced, seconds).

Takes about half a minute per family on two cores (14 of this round's: 6 minutes, both
exports and both runs each); the README quotes what it printed.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from typing import Any

# tools/ for zoo.py, and this checkout's rewriter before an installed one: --fx and --interpreter
# import it in this process (the CLI runs go through tools/acceptance.py, from the checkout too)
sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)), os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]  # fmt: skip

from zoo import _export  # noqa: E402  (tools/zoo.py: one export helper for both)

B, S = 2, 8  # example batch and sequence of the export


def _families() -> Iterator[tuple[str, Callable[[], Any], str, list[str]]]:
    """(name, make the model, input kind, output names); kinds: text, image, audio, features,
    and (one family or two each) tokens, decoder, seq2seq, series, trajectory, text_image,
    spectrogram; VITS is text to speech. No output names: the model returns one tensor
    (``waveform``)."""
    import transformers as tf

    t = dict(vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
             intermediate_size=64, max_position_embeddings=64)  # fmt: skip
    v = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    last, pool = ["last_hidden_state"], ["pooler_output"]
    yield "deberta_v2", lambda: tf.DebertaV2Model(tf.DebertaV2Config(**t, type_vocab_size=0)), "text", last  # fmt: skip
    yield "albert", lambda: tf.AlbertModel(tf.AlbertConfig(**t, embedding_size=16)), "text", last
    yield "mobilebert", lambda: tf.MobileBertModel(tf.MobileBertConfig(**{**t, "hidden_size": 64}, embedding_size=32, intra_bottleneck_size=32, true_hidden_size=32, num_feedforward_networks=2)), "text", last  # fmt: skip
    yield "mpnet", lambda: tf.MPNetModel(tf.MPNetConfig(**t)), "text", last
    yield "xlmr", lambda: tf.XLMRobertaModel(tf.XLMRobertaConfig(**{**t, "max_position_embeddings": 66})), "text", last  # fmt: skip
    yield "squeezebert", lambda: tf.SqueezeBertModel(tf.SqueezeBertConfig(**t, embedding_size=32)), "text", last  # fmt: skip
    yield "convbert", lambda: tf.ConvBertModel(tf.ConvBertConfig(**t, embedding_size=32)), "text", last  # fmt: skip
    yield "distilbert", lambda: tf.DistilBertModel(tf.DistilBertConfig(vocab_size=1000, dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=64)), "text", last  # fmt: skip
    yield "t5_encoder", lambda: tf.T5EncoderModel(tf.T5Config(vocab_size=1000, d_model=32, d_kv=16, d_ff=64, num_layers=2, num_heads=2, feed_forward_proj="gated-gelu")), "text", last  # fmt: skip
    yield "bart", lambda: tf.BartModel(tf.BartConfig(vocab_size=1000, d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64, use_cache=False)), "text", last  # fmt: skip
    yield "clip_text", lambda: tf.CLIPTextModel(tf.CLIPTextConfig(**{**t, "max_position_embeddings": 16})), "text", last  # fmt: skip
    yield "llama", lambda: tf.LlamaModel(tf.LlamaConfig(**t, num_key_value_heads=1, use_cache=False)), "text", last  # fmt: skip
    yield "gemma", lambda: tf.GemmaModel(tf.GemmaConfig(**t, num_key_value_heads=1, head_dim=16, use_cache=False)), "text", last  # fmt: skip
    yield "mixtral", lambda: tf.MixtralModel(tf.MixtralConfig(**t, num_key_value_heads=1, num_local_experts=4, num_experts_per_tok=2, use_cache=False)), "text", last  # fmt: skip
    yield "phi", lambda: tf.PhiModel(tf.PhiConfig(**t, use_cache=False)), "text", last
    yield "falcon", lambda: tf.FalconModel(tf.FalconConfig(vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, use_cache=False)), "text", last  # fmt: skip
    yield "bloom", lambda: tf.BloomModel(tf.BloomConfig(vocab_size=1000, hidden_size=32, n_layer=2, n_head=2, use_cache=False)), "text", last  # fmt: skip
    yield "gpt_neox", lambda: tf.GPTNeoXModel(tf.GPTNeoXConfig(**t, use_cache=False)), "text", last
    yield "codegen", lambda: tf.CodeGenModel(tf.CodeGenConfig(vocab_size=1000, n_embd=32, n_layer=2, n_head=2, rotary_dim=8, n_positions=64, use_cache=False)), "text", last  # fmt: skip
    yield "opt", lambda: tf.OPTModel(tf.OPTConfig(vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, ffn_dim=64, max_position_embeddings=64, word_embed_proj_dim=32, use_cache=False)), "text", last  # fmt: skip
    yield "vit", lambda: tf.ViTModel(tf.ViTConfig(**v, image_size=64, patch_size=8)), "image", last
    yield "clip_vision", lambda: tf.CLIPVisionModel(tf.CLIPVisionConfig(**v, image_size=64, patch_size=8)), "image", last  # fmt: skip
    yield "dinov2", lambda: tf.Dinov2Model(tf.Dinov2Config(**v, image_size=64, patch_size=8)), "image", last  # fmt: skip
    yield "beit", lambda: tf.BeitModel(tf.BeitConfig(vocab_size=100, **v, image_size=64, patch_size=8, use_relative_position_bias=True)), "image", pool  # fmt: skip
    yield "swin", lambda: tf.SwinModel(tf.SwinConfig(image_size=64, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[1, 2], window_size=4)), "image", pool  # fmt: skip
    yield "convnext", lambda: tf.ConvNextModel(tf.ConvNextConfig(hidden_sizes=[16, 32], depths=[1, 1], num_stages=2)), "image", pool  # fmt: skip
    yield "resnet", lambda: tf.ResNetModel(tf.ResNetConfig(embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1], layer_type="basic", hidden_act="relu")), "image", pool  # fmt: skip
    yield "regnet", lambda: tf.RegNetModel(tf.RegNetConfig(embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1], groups_width=8)), "image", pool  # fmt: skip
    yield "efficientnet", lambda: tf.EfficientNetModel(tf.EfficientNetConfig(image_size=64, width_coefficient=0.25, depth_coefficient=0.25, hidden_dim=320)), "image", pool  # fmt: skip
    yield "mobilenet_v2", lambda: tf.MobileNetV2Model(tf.MobileNetV2Config(image_size=64, depth_multiplier=0.35)), "image", pool  # fmt: skip
    yield "mobilevit", lambda: tf.MobileViTModel(tf.MobileViTConfig(image_size=64, hidden_sizes=[32, 48, 64], neck_hidden_sizes=[8, 16, 24, 32, 40, 48, 64])), "image", pool  # fmt: skip
    yield "levit", lambda: tf.LevitModel(tf.LevitConfig(image_size=64, hidden_sizes=[32, 48, 64], num_attention_heads=[1, 2, 2], depths=[1, 1, 1], key_dim=[8, 8, 8])), "image", pool  # fmt: skip
    yield "segformer", lambda: tf.SegformerForSemanticSegmentation(tf.SegformerConfig(num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[16, 32], num_attention_heads=[1, 2], decoder_hidden_size=32, num_labels=3)), "image", ["logits"]  # fmt: skip
    yield "yolos", lambda: tf.YolosForObjectDetection(tf.YolosConfig(**v, image_size=[64, 64], patch_size=8, num_detection_tokens=10, num_labels=5)), "image", ["logits", "pred_boxes"]  # fmt: skip
    yield "dpt", lambda: tf.DPTForDepthEstimation(tf.DPTConfig(**{**v, "num_hidden_layers": 4}, image_size=64, patch_size=8, backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16, head_in_index=-1)), "image", ["predicted_depth"]  # fmt: skip
    a = dict(conv_dim=(16, 16), conv_stride=(5, 2), conv_kernel=(10, 3), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)  # fmt: skip
    yield "hubert", lambda: tf.HubertModel(tf.HubertConfig(**v, **a)), "audio", last
    yield "wav2vec2", lambda: tf.Wav2Vec2Model(tf.Wav2Vec2Config(**v, **a, feat_extract_norm="layer")), "audio", last  # fmt: skip
    w = dict(vocab_size=1000, d_model=32, encoder_layers=2, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_mel_bins=16, max_source_positions=50, max_target_positions=32, pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1)  # fmt: skip
    yield "whisper_encoder", lambda: tf.WhisperModel(tf.WhisperConfig(**w)).encoder, "features", last  # fmt: skip
    # other input signatures: token ids alone (state-space and RNN language models), a decoder
    # reading encoder states, encoder-decoder ids, a time series, a trajectory of floats and
    # ints, text + image, a spectrogram to a waveform, and a segmenter on a ConvNeXt backbone
    yield "mamba", lambda: tf.MambaModel(tf.MambaConfig(vocab_size=1000, hidden_size=32, state_size=8, num_hidden_layers=2, expand=2, conv_kernel=4, use_cache=False)), "tokens", last  # fmt: skip
    yield "rwkv", lambda: tf.RwkvModel(tf.RwkvConfig(vocab_size=1000, context_length=64, hidden_size=32, num_hidden_layers=2, attention_hidden_size=32, intermediate_size=64, use_cache=False)), "tokens", last  # fmt: skip
    yield "whisper_decoder", lambda: tf.WhisperModel(tf.WhisperConfig(**{**w, "decoder_layers": 2}, use_cache=False)).decoder, "decoder", last  # fmt: skip
    yield "t5", lambda: tf.T5Model(tf.T5Config(vocab_size=1000, d_model=32, d_kv=16, d_ff=64, num_layers=2, num_heads=2, feed_forward_proj="gated-gelu", use_cache=False, decoder_start_token_id=0)), "seq2seq", last  # fmt: skip
    yield "patchtst", lambda: tf.PatchTSTModel(tf.PatchTSTConfig(num_input_channels=3, context_length=32, patch_length=8, patch_stride=8, d_model=32, num_attention_heads=2, num_hidden_layers=2, ffn_dim=64)), "series", last  # fmt: skip
    yield "decision_transformer", lambda: tf.DecisionTransformerModel(tf.DecisionTransformerConfig(state_dim=11, act_dim=3, hidden_size=32, max_ep_len=100, n_layer=2, n_head=2, n_inner=64, n_positions=64)), "trajectory", ["action_preds"]  # fmt: skip
    yield "owlvit", lambda: tf.OwlViTModel(tf.OwlViTConfig(text_config=dict(vocab_size=1000, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, max_position_embeddings=16), vision_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, image_size=64, patch_size=16), projection_dim=16)), "text_image", ["logits_per_image"]  # fmt: skip
    yield "hifigan", lambda: tf.SpeechT5HifiGan(tf.SpeechT5HifiGanConfig(model_in_dim=16, upsample_initial_channel=32, upsample_rates=[4, 4], upsample_kernel_sizes=[8, 8], resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]])), "spectrogram", []  # fmt: skip
    # text to speech (MMS-TTS): durations rounded and summed set the waveform's length, and
    # the duration predictor and the prior draw noise (RandomNormalLike)
    yield "vits", lambda: tf.VitsModel(tf.VitsConfig(vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, ffn_dim=64, flow_size=32, spectrogram_bins=33, upsample_initial_channel=32, upsample_rates=[4, 4], upsample_kernel_sizes=[8, 8], resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]], prior_encoder_num_flows=2, prior_encoder_num_wavenet_layers=2, duration_predictor_num_flows=2, duration_predictor_filter_channels=32, posterior_encoder_num_wavenet_layers=2, depth_separable_num_layers=2, window_size=4)), "text", ["waveform"]  # fmt: skip
    # a detector that TopK-selects its queries from the encoder's proposals (RT-DETR)
    yield "rtdetr", lambda: tf.RTDetrForObjectDetection(tf.RTDetrConfig(backbone_config=tf.RTDetrResNetConfig(embedding_size=16, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], layer_type="basic", out_features=["stage2", "stage3", "stage4"]), encoder_hidden_dim=32, encoder_in_channels=[32, 64, 128], feat_strides=[8, 16, 32], encoder_ffn_dim=64, d_model=32, decoder_ffn_dim=64, decoder_layers=2, num_queries=20, num_labels=5, encoder_attention_heads=2, decoder_attention_heads=2, decoder_n_points=2, decoder_in_channels=[32, 32, 32], num_denoising=0, anchor_image_size=None)), "image", ["logits", "pred_boxes"]  # fmt: skip
    # this round's sweep: inputs beyond ids and pixels (boxes per token, prompts, a float
    # observed-mask and categorical features, frames with a per-frame mask)
    yield "layoutlm", lambda: tf.LayoutLMModel(tf.LayoutLMConfig(**t, max_2d_position_embeddings=1024)), "layout", last  # fmt: skip
    yield "sam", lambda: tf.SamModel(tf.SamConfig(vision_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_dim=64, image_size=64, patch_size=8, output_channels=32, window_size=4, global_attn_indexes=[1], num_pos_feats=16), prompt_encoder_config=dict(hidden_size=32, image_size=64, patch_size=8, mask_input_channels=4, num_point_embeddings=4), mask_decoder_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_dim=64, iou_head_hidden_dim=32, num_multimask_outputs=3))), "prompts", ["iou_scores", "pred_masks"]  # fmt: skip
    yield "time_series_transformer", lambda: tf.TimeSeriesTransformerModel(tf.TimeSeriesTransformerConfig(prediction_length=8, context_length=16, lags_sequence=[1, 2, 3], num_time_features=2, num_static_categorical_features=1, cardinality=[5], embedding_dimension=[3], d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, use_cache=False)), "forecast", last  # fmt: skip
    yield "speech2text_encoder", lambda: tf.Speech2TextModel(tf.Speech2TextConfig(vocab_size=1000, d_model=32, encoder_layers=2, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_source_positions=256, max_target_positions=64, input_feat_per_channel=20, input_channels=1, conv_channels=32, num_conv_layers=2, use_cache=False)).get_encoder(), "frames", last  # fmt: skip
    yield "upernet", lambda: tf.UperNetForSemanticSegmentation(tf.UperNetConfig(backbone_config=tf.ConvNextConfig(hidden_sizes=[16, 32, 48, 64], depths=[1, 1, 1, 1], out_features=["stage1", "stage2", "stage3", "stage4"]), hidden_size=32, auxiliary_in_channels=48, num_labels=4)), "image", ["logits"]  # fmt: skip
    # this round's sweep (32 more): other text encoders (ESM's rotary, Funnel's pooling, CANINE's
    # characters, XLNet, BigBird), decoders (Qwen2, GPT-J, GPT-BigCode's multi-query, MPT's
    # ALiBi), recurrent ones (RecurrentGemma, Mamba2), speech (WavLM, SEW, EnCodec's ELU and
    # LSTM, AST), vision backbones, depth, matting, video and keypoints, and DETR
    yield "esm", lambda: tf.EsmModel(tf.EsmConfig(**t, pad_token_id=1, position_embedding_type="rotary")), "text", last  # fmt: skip
    yield "electra", lambda: tf.ElectraModel(tf.ElectraConfig(**t, embedding_size=16)), "text", last
    yield "funnel", lambda: tf.FunnelModel(tf.FunnelConfig(vocab_size=1000, block_sizes=[1, 1], d_model=32, n_head=2, d_head=16, d_inner=64)), "text", last  # fmt: skip
    yield "canine", lambda: tf.CanineModel(tf.CanineConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, downsampling_rate=4, max_position_embeddings=64, num_hash_buckets=64)), "text", last  # fmt: skip
    yield "xlnet", lambda: tf.XLNetModel(tf.XLNetConfig(vocab_size=1000, d_model=32, n_layer=2, n_head=2, d_inner=64, use_mems_eval=False)), "text", last  # fmt: skip
    yield "big_bird", lambda: tf.BigBirdModel(tf.BigBirdConfig(**t, attention_type="original_full")), "text", last  # fmt: skip
    yield "qwen2", lambda: tf.Qwen2Model(tf.Qwen2Config(**t, num_key_value_heads=1, use_cache=False)), "text", last  # fmt: skip
    yield "gptj", lambda: tf.GPTJModel(tf.GPTJConfig(vocab_size=1000, n_embd=32, n_layer=2, n_head=2, rotary_dim=8, n_positions=64, use_cache=False)), "text", last  # fmt: skip
    yield "gpt_bigcode", lambda: tf.GPTBigCodeModel(tf.GPTBigCodeConfig(vocab_size=1000, n_embd=32, n_layer=2, n_head=2, n_positions=64, multi_query=True, use_cache=False)), "text", last  # fmt: skip
    yield "mpt", lambda: tf.MptModel(tf.MptConfig(d_model=32, n_heads=2, n_layers=2, vocab_size=1000, max_seq_len=64, use_cache=False)), "text", last  # fmt: skip
    yield "recurrent_gemma", lambda: tf.RecurrentGemmaModel(tf.RecurrentGemmaConfig(vocab_size=1000, hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=2, num_key_value_heads=1, head_dim=16, lru_width=32, attention_window_size=16, conv1d_width=4, block_types=["recurrent", "recurrent", "attention"], use_cache=False)), "tokens", last  # fmt: skip
    yield "mamba2", lambda: tf.Mamba2Model(tf.Mamba2Config(vocab_size=1000, hidden_size=32, state_size=8, num_heads=4, head_dim=16, expand=2, n_groups=1, num_hidden_layers=2, chunk_size=8, use_cache=False)), "tokens", last  # fmt: skip
    yield "wavlm", lambda: tf.WavLMModel(tf.WavLMConfig(**v, **a)), "audio", last
    yield "sew", lambda: tf.SEWModel(tf.SEWConfig(**v, **a, squeeze_factor=2)), "audio", last
    yield "encodec", lambda: tf.EncodecModel(tf.EncodecConfig(num_filters=8, num_residual_layers=1, upsampling_ratios=[4, 2], hidden_size=16, codebook_size=64, target_bandwidths=[12.0], sampling_rate=8000, num_lstm_layers=1)), "waveform", ["audio_values"]  # fmt: skip
    yield "ast", lambda: tf.ASTModel(tf.ASTConfig(**v, num_mel_bins=16, max_length=100, patch_size=16, frequency_stride=10, time_stride=10)), "patches", pool  # fmt: skip
    yield "convnextv2", lambda: tf.ConvNextV2Model(tf.ConvNextV2Config(hidden_sizes=[16, 32], depths=[1, 1], num_stages=2)), "image", pool  # fmt: skip
    yield "focalnet", lambda: tf.FocalNetModel(tf.FocalNetConfig(embed_dim=16, depths=[1, 1], focal_levels=[2, 2], focal_windows=[3, 3], image_size=64, patch_size=4)), "image", pool  # fmt: skip
    yield "pvt_v2", lambda: tf.PvtV2Model(tf.PvtV2Config(hidden_sizes=[16, 32], depths=[1, 1], num_encoder_blocks=2, num_attention_heads=[1, 2], sr_ratios=[2, 1], patch_sizes=[7, 3], strides=[4, 2], mlp_ratios=[2, 2])), "image", last  # fmt: skip
    yield "poolformer", lambda: tf.PoolFormerModel(tf.PoolFormerConfig(hidden_sizes=[16, 32], depths=[1, 1], num_encoder_blocks=2, patch_sizes=[7, 3], strides=[4, 2], padding=[2, 1])), "image", last  # fmt: skip
    yield "bit", lambda: tf.BitModel(tf.BitConfig(embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1], layer_type="preactivation", global_padding="SAME", num_groups=8)), "image", pool  # fmt: skip
    yield "swiftformer", lambda: tf.SwiftFormerModel(tf.SwiftFormerConfig(depths=[1, 1, 1, 1], embed_dims=[16, 16, 32, 32])), "image", last  # fmt: skip
    yield "glpn", lambda: tf.GLPNForDepthEstimation(tf.GLPNConfig(num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[16, 32], num_attention_heads=[1, 2], patch_sizes=[7, 3], strides=[4, 2], decoder_hidden_size=16)), "image", ["predicted_depth"]  # fmt: skip
    yield "data2vec_vision", lambda: tf.Data2VecVisionModel(tf.Data2VecVisionConfig(**v, image_size=64, patch_size=8)), "image", last  # fmt: skip
    yield "siglip_vision", lambda: tf.SiglipVisionModel(tf.SiglipVisionConfig(**v, image_size=64, patch_size=8)), "image", pool  # fmt: skip
    yield "mobilevitv2", lambda: tf.MobileViTV2Model(tf.MobileViTV2Config(image_size=64, width_multiplier=0.25)), "image", pool  # fmt: skip
    yield "depth_anything", lambda: tf.DepthAnythingForDepthEstimation(tf.DepthAnythingConfig(backbone_config=tf.Dinov2Config(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64, image_size=64, patch_size=8, out_features=["stage1", "stage2", "stage3", "stage4"], reshape_hidden_states=False), neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16, head_hidden_size=8, reassemble_hidden_size=32, patch_size=8)), "image", ["predicted_depth"]  # fmt: skip
    yield "vitmatte", lambda: tf.VitMatteForImageMatting(tf.VitMatteConfig(backbone_config=tf.VitDetConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2, image_size=64, patch_size=16, num_channels=4, out_features=["stage2"]), hidden_size=32, convstream_hidden_sizes=[8, 16, 32], fusion_hidden_sizes=[32, 16, 8, 8])), "image_trimap", ["alphas"]  # fmt: skip
    yield "timesformer", lambda: tf.TimesformerModel(tf.TimesformerConfig(**v, image_size=64, patch_size=16, num_frames=4)), "video", last  # fmt: skip
    yield "videomae", lambda: tf.VideoMAEModel(tf.VideoMAEConfig(**v, image_size=64, patch_size=16, num_frames=4, tubelet_size=2)), "video", last  # fmt: skip
    yield "superpoint", lambda: tf.SuperPointForKeypointDetection(tf.SuperPointConfig(encoder_hidden_sizes=[8, 8, 16, 16], decoder_hidden_size=32, max_keypoints=32)), "image_any", ["keypoints", "scores", "mask"]  # fmt: skip
    yield "detr", lambda: tf.DetrForObjectDetection(tf.DetrConfig(use_timm_backbone=False, use_pretrained_backbone=False, backbone_config=tf.ResNetConfig(embedding_size=16, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], layer_type="basic", out_features=["stage4"]), d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_queries=10, num_labels=5)), "image", ["logits", "pred_boxes"]  # fmt: skip
    # this round's sweep (14 more): a Conformer's GLU (wav2vec2-conformer, Parakeet's
    # FastConformer), text to spectrogram through predicted durations (FastSpeech2), logit
    # soft-capping (Gemma 2), sliding windows (Mistral, ModernBERT), mixture-of-experts routing
    # (Qwen2-MoE), squared ReLU (Nemotron), a codec's Snake (DAC), keypoint heatmaps (ViTPose),
    # deformable attention, Hiera, DINOv3's registers and a vocoder fed noise (UnivNet)
    yield "wav2vec2_conformer", lambda: tf.Wav2Vec2ConformerModel(tf.Wav2Vec2ConformerConfig(**v, **a, position_embeddings_type="relative", conv_depthwise_kernel_size=7)), "audio", last  # fmt: skip
    yield "fastspeech2_conformer", lambda: tf.FastSpeech2ConformerModel(tf.FastSpeech2ConformerConfig(hidden_size=32, vocab_size=1000, num_mel_bins=20, encoder_num_attention_heads=2, encoder_layers=2, encoder_linear_units=64, decoder_layers=2, decoder_num_attention_heads=2, decoder_linear_units=64, speech_decoder_postnet_layers=2, speech_decoder_postnet_units=32, duration_predictor_channels=32, pitch_predictor_channels=32, energy_predictor_channels=32, encoder_kernel_size=3, decoder_kernel_size=3, positionwise_conv_kernel_size=1)), "tokens", ["spectrogram"]  # fmt: skip
    yield "gemma2_lm", lambda: tf.Gemma2ForCausalLM(tf.Gemma2Config(**t, num_key_value_heads=1, head_dim=16, sliding_window=4, final_logit_softcapping=30.0, attn_logit_softcapping=50.0, use_cache=False)), "text", ["logits"]  # fmt: skip
    yield "mistral", lambda: tf.MistralModel(tf.MistralConfig(**t, num_key_value_heads=1, sliding_window=4, use_cache=False)), "text", last  # fmt: skip
    yield "qwen2_moe", lambda: tf.Qwen2MoeModel(tf.Qwen2MoeConfig(**t, num_key_value_heads=1, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, shared_expert_intermediate_size=32, use_cache=False)), "text", last  # fmt: skip
    yield "modernbert", lambda: tf.ModernBertModel(tf.ModernBertConfig(**t, global_attn_every_n_layers=2, local_attention=8, pad_token_id=0, bos_token_id=1, eos_token_id=2, cls_token_id=1, sep_token_id=2)), "text", last  # fmt: skip
    yield "nemotron", lambda: tf.NemotronModel(tf.NemotronConfig(**t, num_key_value_heads=1, use_cache=False)), "text", last  # fmt: skip
    yield "dac", lambda: tf.DacModel(tf.DacConfig(encoder_hidden_size=8, downsampling_ratios=[2, 4], decoder_hidden_size=32, n_codebooks=2, codebook_size=64, codebook_dim=4, hidden_size=32, sampling_rate=8000, upsampling_ratios=[4, 2])), "waveform", ["audio_values"]  # fmt: skip
    yield "vitpose", lambda: tf.VitPoseForPoseEstimation(tf.VitPoseConfig(backbone_config=tf.VitPoseBackboneConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2, image_size=[64, 48], patch_size=[8, 8], out_features=["stage2"]), num_labels=17)), "pose", ["heatmaps"]  # fmt: skip
    yield "deformable_detr", lambda: tf.DeformableDetrForObjectDetection(tf.DeformableDetrConfig(use_timm_backbone=False, use_pretrained_backbone=False, backbone_config=tf.ResNetConfig(embedding_size=16, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], layer_type="basic", out_features=["stage2", "stage3", "stage4"]), d_model=32, encoder_layers=1, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_queries=10, num_labels=5, encoder_n_points=2, decoder_n_points=2)), "image", ["logits", "pred_boxes"]  # fmt: skip
    yield "textnet", lambda: tf.TextNetModel(tf.TextNetConfig(stem_out_channels=16, conv_layer_kernel_sizes=[[[3, 3]], [[3, 3]], [[3, 3]], [[3, 3]]], conv_layer_strides=[[1], [2], [2], [2]], hidden_sizes=[16, 16, 32, 32, 64])), "image", pool  # fmt: skip
    yield "hiera", lambda: tf.HieraModel(tf.HieraConfig(embed_dim=16, image_size=[64, 64], patch_size=[7, 7], patch_stride=[4, 4], patch_padding=[3, 3], depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2], query_stride=[2, 2], masked_unit_size=[8, 8])), "image", pool  # fmt: skip
    yield "dinov3", lambda: tf.DINOv3ViTModel(tf.DINOv3ViTConfig(**v, image_size=64, patch_size=8, num_register_tokens=2)), "image", pool  # fmt: skip
    yield "parakeet", lambda: tf.ParakeetEncoder(tf.ParakeetEncoderConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, num_mel_bins=16, subsampling_conv_channels=16, conv_kernel_size=9)), "frames16", last  # fmt: skip
    yield "univnet", lambda: tf.UnivNetModel(tf.UnivNetConfig(model_in_channels=16, model_hidden_channels=8, num_mel_bins=20, resblock_kernel_sizes=[3], resblock_stride_sizes=[4], resblock_dilation_sizes=[[1, 3]], kernel_predictor_num_blocks=1, kernel_predictor_hidden_channels=16)), "spec_noise", ["waveforms"]  # fmt: skip
    # and ten more: a music decoder whose batch is samples x codebooks (MusicGen), Fourier mixing
    # (FNet), sliding-window and landmark attention (Longformer, Nystromformer), flattened patches
    # with their row and column in the first two columns (Pix2Struct), text + boxes + image
    # (LayoutLMv3), hybrid attention / Mamba / experts (Jamba), FalconMamba, an OCR decoder on
    # encoder states (TrOCR) and text + image (BLIP)
    yield "musicgen", lambda: tf.MusicgenForCausalLM(tf.MusicgenDecoderConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, ffn_dim=64, max_position_embeddings=64, num_codebooks=4, use_cache=False)), "codebooks", ["logits"]  # fmt: skip
    yield "fnet", lambda: tf.FNetModel(tf.FNetConfig(vocab_size=1000, hidden_size=32, num_hidden_layers=2, intermediate_size=64, max_position_embeddings=64, use_tpu_fourier_optimizations=False)), "tokens", last  # fmt: skip
    yield "longformer", lambda: tf.LongformerModel(tf.LongformerConfig(**{**t, "max_position_embeddings": 130}, attention_window=4, pad_token_id=1)), "text", last  # fmt: skip
    yield "nystromformer", lambda: tf.NystromformerModel(tf.NystromformerConfig(**{**t, "max_position_embeddings": 130}, num_landmarks=4, segment_means_seq_len=8, conv_kernel_size=3)), "text", last  # fmt: skip
    yield "pix2struct_vision", lambda: tf.Pix2StructVisionModel(tf.Pix2StructVisionConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, d_ff=64, d_kv=16, patch_embed_hidden_size=48, seq_len=64, initializer_range=0.02)), "flat_patches", last  # fmt: skip
    yield "layoutlmv3", lambda: tf.LayoutLMv3Model(tf.LayoutLMv3Config(**t, max_2d_position_embeddings=1024, input_size=64, patch_size=16, coordinate_size=6, shape_size=4, rel_pos_bins=8, max_rel_pos=16, rel_2d_pos_bins=8, max_rel_2d_pos=32)), "layout_image", last  # fmt: skip
    yield "jamba", lambda: tf.JambaModel(tf.JambaConfig(**t, num_key_value_heads=1, num_experts=2, num_experts_per_tok=1, expert_layer_period=2, expert_layer_offset=1, attn_layer_period=2, attn_layer_offset=1, mamba_d_state=8, mamba_d_conv=4, mamba_expand=2, mamba_dt_rank=4, use_mamba_kernels=False, use_cache=False)), "text", last  # fmt: skip
    yield "falcon_mamba", lambda: tf.FalconMambaModel(tf.FalconMambaConfig(vocab_size=1000, hidden_size=32, state_size=8, num_hidden_layers=2, expand=2, conv_kernel=4, use_cache=False, use_mambapy=False)), "tokens", last  # fmt: skip
    yield "trocr", lambda: tf.TrOCRForCausalLM(tf.TrOCRConfig(vocab_size=1000, d_model=32, decoder_layers=2, decoder_attention_heads=2, decoder_ffn_dim=64, max_position_embeddings=64, use_cache=False, cross_attention_hidden_size=32)), "decoder", ["logits"]  # fmt: skip
    yield "blip", lambda: tf.BlipModel(tf.BlipConfig(text_config=dict(vocab_size=1000, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, max_position_embeddings=64, encoder_hidden_size=32), vision_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, image_size=64, patch_size=16), projection_dim=16)), "text_image", ["logits_per_image"]  # fmt: skip
    # and three: a speech encoder on the raw waveform (Moonshine), an audio tower on a mel
    # spectrogram image (CLAP's HTS-AT) and a universal segmenter with deformable attention on a
    # Swin backbone (Mask2Former)
    yield "moonshine_encoder", lambda: tf.MoonshineModel(tf.MoonshineConfig(vocab_size=1000, hidden_size=32, intermediate_size=64, encoder_num_hidden_layers=2, decoder_num_hidden_layers=1, encoder_num_attention_heads=2, decoder_num_attention_heads=2, max_position_embeddings=256, use_cache=False)).encoder, "audio", last  # fmt: skip
    yield "clap_audio", lambda: tf.ClapAudioModel(tf.ClapAudioConfig(hidden_size=32, patch_embeds_hidden_size=16, depths=[1, 1], num_attention_heads=[1, 2], window_size=4, spec_size=64, num_mel_bins=16, patch_size=4, enable_fusion=False)), "mel4", ["pooler_output"]  # fmt: skip
    yield "mask2former", lambda: tf.Mask2FormerForUniversalSegmentation(tf.Mask2FormerConfig(backbone_config=tf.SwinConfig(image_size=64, patch_size=4, embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2], window_size=2, out_features=["stage1", "stage2", "stage3", "stage4"]), feature_size=32, mask_feature_size=32, hidden_dim=32, encoder_feedforward_dim=64, dim_feedforward=64, encoder_layers=1, decoder_layers=2, num_attention_heads=2, num_queries=10, num_labels=4, common_stride=4)), "image", ["class_queries_logits", "masks_queries_logits"]  # fmt: skip
    # and fourteen: PaddleOCR's v5 mobile text detector (a probability map, any size a multiple
    # of 32) and recognizer (a text line of any width), its LCNet classifier, HGNet-V2, a table
    # recognizer decoding a fixed number of steps (SLANet), two DETR detectors on HGNet / ResNet
    # backbones (D-FINE, Conditional DETR), super-resolution (Swin2SR), monocular depth with
    # bins (ZoeDepth), short-conv and xLSTM and Mamba-2 hybrid language models (LFM2, xLSTM,
    # Bamba), integer-only BERT (I-BERT's quantized arithmetic in float ops) and a patch mixer
    # forecaster (PatchTSMixer)
    yield "pp_ocrv5_det", lambda: tf.PPOCRV5MobileDetForObjectDetection(tf.PPOCRV5MobileDetConfig()), "image_any", ["last_hidden_state"]  # fmt: skip
    yield "pp_ocrv5_rec", lambda: tf.PPOCRV5MobileRecForTextRecognition(tf.PPOCRV5MobileRecConfig()), "text_line", ["last_hidden_state"]  # fmt: skip
    yield "pp_lcnet", lambda: tf.PPLCNetForImageClassification(tf.PPLCNetConfig()), "image", ["last_hidden_state"]  # fmt: skip
    yield "hgnet_v2", lambda: tf.HGNetV2ForImageClassification(tf.HGNetV2Config(embedding_size=16, hidden_sizes=[32, 64, 128, 256], stem_channels=[3, 16, 16], stage_in_channels=[16, 32, 64, 128], stage_mid_channels=[16, 16, 32, 64], stage_out_channels=[32, 64, 128, 256], stage_numb_of_layers=[2, 2, 2, 2], num_labels=5)), "image", ["logits"]  # fmt: skip
    yield "slanet", lambda: tf.SLANetForTableRecognition(tf.SLANetConfig(max_text_length=12)), "image", ["last_hidden_state"]  # fmt: skip
    yield "d_fine", lambda: tf.DFineForObjectDetection(tf.DFineConfig(encoder_hidden_dim=32, d_model=32, decoder_in_channels=[32, 32, 32], encoder_layers=1, decoder_layers=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_queries=10, num_labels=5)), "image", ["logits", "pred_boxes"]  # fmt: skip
    yield "conditional_detr", lambda: tf.ConditionalDetrForObjectDetection(tf.ConditionalDetrConfig(use_timm_backbone=False, use_pretrained_backbone=False, backbone_config=tf.ResNetConfig(embedding_size=16, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], layer_type="basic", out_features=["stage4"]), d_model=32, encoder_layers=1, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_queries=10, num_labels=5)), "image", ["logits", "pred_boxes"]  # fmt: skip
    yield "swin2sr", lambda: tf.Swin2SRForImageSuperResolution(tf.Swin2SRConfig(image_size=32, embed_dim=16, depths=[1, 1], num_heads=[1, 1], window_size=4, upscale=2)), "lowres", ["reconstruction"]  # fmt: skip
    yield "zoedepth", lambda: tf.ZoeDepthForDepthEstimation(tf.ZoeDepthConfig(backbone_config=tf.BeitConfig(image_size=64, patch_size=16, hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64, out_indices=[1, 2, 3, 4], use_relative_position_bias=True, reshape_hidden_states=False), neck_hidden_sizes=[16, 32, 64, 64], fusion_hidden_size=32, bottleneck_features=32, num_attractors=[4, 4, 4, 4], bin_embedding_dim=32)), "image", ["predicted_depth"]  # fmt: skip
    yield "lfm2", lambda: tf.Lfm2Model(tf.Lfm2Config(**t, num_key_value_heads=1, layer_types=["conv", "full_attention"], use_cache=False)), "text", last  # fmt: skip
    yield "xlstm", lambda: tf.xLSTMModel(tf.xLSTMConfig(vocab_size=1000, hidden_size=32, num_blocks=2, num_heads=2, use_cache=False, mode="inference")), "tokens", last  # fmt: skip
    yield "bamba", lambda: tf.BambaModel(tf.BambaConfig(**t, num_key_value_heads=1, attn_layer_indices=[1], mamba_n_heads=4, mamba_d_head=16, mamba_n_groups=1, mamba_d_state=8, mamba_chunk_size=16, use_cache=False)), "text", last  # fmt: skip
    yield "ibert", lambda: tf.IBertModel(tf.IBertConfig(**t, quant_mode=True)), "text", last
    yield "patchtsmixer", lambda: tf.PatchTSMixerForPrediction(tf.PatchTSMixerConfig(context_length=32, patch_length=8, patch_stride=8, num_input_channels=3, d_model=16, num_layers=2, prediction_length=8)), "series", ["prediction_outputs"]  # fmt: skip
    # and four: an open-vocabulary detector on text and image (Grounding DINO), a keypoint
    # matcher on an image pair (LightGlue on SuperPoint), ViTDet's windowed backbone and a
    # segmenter prompted by an image and its mask (SegGPT)
    yield "grounding_dino", lambda: tf.GroundingDinoForObjectDetection(tf.GroundingDinoConfig(use_timm_backbone=False, use_pretrained_backbone=False, backbone_config=tf.SwinConfig(image_size=64, patch_size=4, embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2], window_size=2, out_features=["stage2", "stage3", "stage4"]), text_config=tf.BertConfig(vocab_size=1000, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64), d_model=32, encoder_layers=1, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_queries=10, num_feature_levels=3, encoder_n_points=2, decoder_n_points=2, max_text_len=16)), "grounded", ["logits", "pred_boxes"]  # fmt: skip
    yield "lightglue", lambda: tf.LightGlueForKeypointMatching(tf.LightGlueConfig(keypoint_detector_config=tf.SuperPointConfig(encoder_hidden_sizes=[8, 8, 16, 16], decoder_hidden_size=32, keypoint_decoder_dim=65, descriptor_decoder_dim=32, max_keypoints=32), descriptor_dim=32, num_hidden_layers=2, num_attention_heads=2)), "image_pair", ["matches", "matching_scores", "keypoints"]  # fmt: skip
    yield "vitdet", lambda: tf.VitDetModel(tf.VitDetConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2, image_size=64, patch_size=8, pretrain_image_size=64, window_size=4, window_block_indices=[0], residual_block_indices=[1], use_relative_position_embeddings=True)), "image", last  # fmt: skip
    yield "seggpt", lambda: tf.SegGptForImageSegmentation(tf.SegGptConfig(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, mlp_dim=64, image_size=[128, 32], patch_size=8, merge_index=1, encoder_output_indicies=[1, 2, 3, 3], intermediate_hidden_state_indices=[1, 3], decoder_hidden_size=16)), "prompted", ["pred_masks"]  # fmt: skip
    # and a forecaster taking a padding indicator (1 where a step is padding) and a frequency
    # category per series (TimesFM)
    yield "timesfm", lambda: tf.TimesFmModel(tf.TimesFmConfig(patch_length=8, context_length=64, horizon_length=16, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, head_dim=16)), "padded_series", ["last_hidden_state", "loc", "scale"]  # fmt: skip
    # and eleven: PaddleOCR v6's tiny recognizer, MobileNetV1, Swin V2, SigLIP's vision tower,
    # PVT, speech encoders on the raw waveform (Data2Vec audio, UniSpeech-SAT), detectors
    # (RT-DETR v2's multi-scale sampling, DAB-DETR's anchor boxes, Table Transformer) and
    # EoMT, a segmenter whose queries join the ViT's last blocks
    yield "pp_ocrv6_tiny_rec", lambda: tf.PPOCRV6TinyRecForTextRecognition(tf.PPOCRV6TinyRecConfig()), "text_line48", ["last_hidden_state"]  # fmt: skip
    yield "mobilenet_v1", lambda: tf.MobileNetV1Model(tf.MobileNetV1Config(image_size=64, depth_multiplier=0.25)), "image", pool  # fmt: skip
    yield "swinv2", lambda: tf.Swinv2Model(tf.Swinv2Config(image_size=64, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[1, 2], window_size=4)), "image", pool  # fmt: skip
    yield "pvt", lambda: tf.PvtModel(tf.PvtConfig(image_size=64, hidden_sizes=[16, 32, 48, 64], num_attention_heads=[1, 1, 2, 2], depths=[1, 1, 1, 1])), "image", last  # fmt: skip
    yield "data2vec_audio", lambda: tf.Data2VecAudioModel(tf.Data2VecAudioConfig(**v, conv_dim=(16, 16), conv_stride=(5, 2), conv_kernel=(10, 3), num_conv_pos_embedding_groups=2, conv_pos_kernel_size=5, num_conv_pos_embeddings=5)), "audio", last  # fmt: skip
    yield "unispeech_sat", lambda: tf.UniSpeechSatModel(tf.UniSpeechSatConfig(**v, **a)), "audio", last  # fmt: skip
    yield "rt_detr_v2", lambda: tf.RTDetrV2ForObjectDetection(tf.RTDetrV2Config(backbone_config=tf.RTDetrResNetConfig(embedding_size=16, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], layer_type="basic", out_features=["stage2", "stage3", "stage4"]), encoder_hidden_dim=32, encoder_in_channels=[32, 64, 128], feat_strides=[8, 16, 32], encoder_ffn_dim=64, d_model=32, decoder_ffn_dim=64, decoder_layers=2, num_queries=20, num_labels=5, encoder_attention_heads=2, decoder_attention_heads=2, decoder_n_points=2, decoder_in_channels=[32, 32, 32], num_denoising=0, anchor_image_size=None)), "image", ["logits", "pred_boxes"]  # fmt: skip
    yield "dab_detr", lambda: tf.DabDetrForObjectDetection(tf.DabDetrConfig(use_timm_backbone=False, use_pretrained_backbone=False, backbone_config=tf.ResNetConfig(embedding_size=16, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], layer_type="basic", out_features=["stage4"]), hidden_size=32, encoder_layers=1, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_queries=10, num_labels=5)), "image", ["logits", "pred_boxes"]  # fmt: skip
    yield "table_transformer", lambda: tf.TableTransformerForObjectDetection(tf.TableTransformerConfig(use_timm_backbone=False, use_pretrained_backbone=False, backbone_config=tf.ResNetConfig(embedding_size=16, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], layer_type="basic", out_features=["stage4"]), d_model=32, encoder_layers=1, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_queries=10, num_labels=5)), "image", ["logits", "pred_boxes"]  # fmt: skip
    yield "eomt", lambda: tf.EomtForUniversalSegmentation(tf.EomtConfig(**{**v, "num_hidden_layers": 4}, image_size=64, patch_size=8, num_blocks=2, num_queries=10, num_labels=4, num_upscale_blocks=2)), "image", ["class_queries_logits", "masks_queries_logits"]  # fmt: skip
    # and twelve: SigLIP 2's NaFlex vision tower (patches of any aspect ratio: flattened
    # patches, a patch mask and each image's patch grid as int64 inputs), W2V-BERT 2.0's
    # conformer on filterbank frames, SEW-D on the raw waveform, Mimi's codec (quantizes and
    # decodes a mono waveform), three language models (BitNet's squared ReLU, Falcon-H1's
    # attention and Mamba-2 mixer in parallel, Gemma 3's sliding window), V-JEPA 2 on video,
    # AIMv2, MLCD and DINOv2 with registers, and EfficientLoFTR matching an image pair
    yield "siglip2_naflex", lambda: tf.Siglip2VisionModel(tf.Siglip2VisionConfig(**v, patch_size=8, num_patches=16)), "naflex", pool  # fmt: skip
    yield "w2v_bert", lambda: tf.Wav2Vec2BertModel(tf.Wav2Vec2BertConfig(**v, feature_projection_input_dim=20, output_hidden_size=32, conv_depthwise_kernel_size=3, position_embeddings_type="relative_key", left_max_position_embeddings=8, right_max_position_embeddings=8)), "frames", last  # fmt: skip
    yield "sew_d", lambda: tf.SEWDModel(tf.SEWDConfig(**v, conv_dim=(16, 16), conv_stride=(5, 2), conv_kernel=(10, 3), num_conv_pos_embedding_groups=2, num_conv_pos_embeddings=5, squeeze_factor=2, max_position_embeddings=64, position_buckets=32)), "audio", last  # fmt: skip
    yield "mimi", lambda: tf.MimiModel(tf.MimiConfig(hidden_size=32, num_filters=8, upsample_groups=32, vector_quantization_hidden_dimension=16, frame_rate=375.0, upsampling_ratios=[4, 2], num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2, head_dim=16, intermediate_size=64, codebook_size=32, codebook_dim=16, num_quantizers=4, num_semantic_quantizers=1, sliding_window=16, use_cache=False)), "waveform", ["audio_codes", "audio_values"]  # fmt: skip
    yield "bitnet", lambda: tf.BitNetModel(tf.BitNetConfig(**t, num_key_value_heads=1, use_cache=False)), "text", last  # fmt: skip
    yield "falcon_h1", lambda: tf.FalconH1Model(tf.FalconH1Config(**t, num_key_value_heads=1, mamba_d_ssm=32, mamba_n_heads=4, mamba_d_head=8, mamba_n_groups=1, mamba_d_state=8, mamba_chunk_size=16, use_cache=False)), "text", last  # fmt: skip
    yield "gemma3_text", lambda: tf.Gemma3TextModel(tf.Gemma3TextConfig(**t, num_key_value_heads=1, head_dim=16, sliding_window=4, use_cache=False)), "text", last  # fmt: skip
    yield "vjepa2", lambda: tf.VJEPA2Model(tf.VJEPA2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2.0, crop_size=64, patch_size=16, frames_per_clip=4, tubelet_size=2, pred_hidden_size=32, pred_num_hidden_layers=1, pred_num_attention_heads=2, pred_num_mask_tokens=2)), "videos", last  # fmt: skip
    yield "aimv2_vision", lambda: tf.Aimv2VisionModel(tf.Aimv2VisionConfig(**v, image_size=64, patch_size=8)), "image", pool  # fmt: skip
    yield "mlcd_vision", lambda: tf.MLCDVisionModel(tf.MLCDVisionConfig(**v, image_size=64, patch_size=8)), "image", pool  # fmt: skip
    yield "dinov2_registers", lambda: tf.Dinov2WithRegistersModel(tf.Dinov2WithRegistersConfig(**v, image_size=64, patch_size=8, num_register_tokens=2)), "image", pool  # fmt: skip
    yield "efficientloftr", lambda: tf.EfficientLoFTRForKeypointMatching(tf.EfficientLoFTRConfig()), "image_pair", ["matches", "matching_scores", "keypoints"]  # fmt: skip
    # and nine: two DETR-style detectors (LW-DETR's windowed ViT, PP-DocLayout-V3's layout
    # boxes with masks and a reading order), CvT's convolutional attention, ViViT on video,
    # MGP-STR reading a fixed 32x128 text crop, RADIO's summary tokens, Pixio, OWLv2 finding
    # text queries in an image, CLIPSeg segmenting an image by a phrase
    yield "lw_detr", lambda: tf.LwDetrForObjectDetection(tf.LwDetrConfig(projector_scale_factors=[1.0], backbone_config=tf.LwDetrViTConfig(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, image_size=64, pretrain_image_size=64, window_block_indices=[0, 2], _out_indices=[1, 3], num_windows=4), d_model=32, decoder_ffn_dim=64, num_queries=10, group_detr=1, num_labels=5)), "image", ["logits", "pred_boxes"]  # fmt: skip
    yield "pp_doclayout_v3", lambda: tf.PPDocLayoutV3ForObjectDetection(tf.PPDocLayoutV3Config(encoder_hidden_dim=32, d_model=32, decoder_in_channels=[32, 32, 32], encoder_layers=1, decoder_layers=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_queries=10, num_labels=5, mask_feature_channels=[32, 32], x4_feat_dim=128, num_prototypes=8, global_pointer_head_size=16)), "image", ["logits", "pred_boxes", "order_logits", "out_masks"]  # fmt: skip
    yield "cvt", lambda: tf.CvtForImageClassification(tf.CvtConfig(embed_dim=[16, 32, 64], num_heads=[1, 2, 2], depth=[1, 2, 3], num_labels=10)), "image", ["logits"]  # fmt: skip
    yield "vivit", lambda: tf.VivitModel(tf.VivitConfig(**v, image_size=64, num_frames=4, tubelet_size=[2, 16, 16])), "video", pool  # fmt: skip
    yield "mgp_str", lambda: tf.MgpstrForSceneTextRecognition(tf.MgpstrConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2.0)), "text_crop", ["logits"]  # fmt: skip
    yield "radio", lambda: tf.RadioModel(tf.RadioConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, max_img_size=128)), "image", ["summary", "features"]  # fmt: skip
    yield "pixio", lambda: tf.PixioModel(tf.PixioConfig(**v, image_size=64, patch_size=8)), "image", pool  # fmt: skip
    yield "owlv2", lambda: tf.Owlv2ForObjectDetection(tf.Owlv2Config(text_config={**t, "max_position_embeddings": 16}, vision_config={**v, "image_size": 64, "patch_size": 8}, projection_dim=32)), "text_image", ["logits", "objectness_logits", "pred_boxes"]  # fmt: skip
    yield "clipseg", lambda: tf.CLIPSegForImageSegmentation(tf.CLIPSegConfig(text_config={**t, "max_position_embeddings": 16}, vision_config={**v, "image_size": 64, "patch_size": 8}, projection_dim=32, reduce_dim=16, extract_layers=[0, 1], decoder_num_attention_heads=2, decoder_intermediate_size=32)), "grounded", ["logits"]  # fmt: skip
    # and seven: two detectors (RF-DETR's windowed DINOv2, DEIMv2's HGNetV2 with distribution
    # boxes), Qwen3 and SmolLM3 (RoPE left out of some layers), DINOv3's ConvNeXt (its layer
    # scale at 1, as trained, not the 1e-6 it starts from), DeiT, I-JEPA
    yield "rf_detr", lambda: tf.RfDetrForObjectDetection(tf.RfDetrConfig(backbone_config=tf.RfDetrDinov2Config(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, image_size=64, patch_size=8, num_windows=2, window_block_indexes=[0, 2], out_features=["stage1", "stage2", "stage3", "stage4"]), d_model=32, decoder_ffn_dim=64, num_queries=10, group_detr=1, num_labels=5, decoder_layers=2, decoder_self_attention_heads=2, decoder_cross_attention_heads=2)), "image", ["logits", "pred_boxes"]  # fmt: skip
    yield "deimv2", lambda: tf.Deimv2ForObjectDetection(tf.Deimv2Config(backbone_config=tf.HGNetV2Config(embedding_size=16, depths=[1, 1, 1, 1], hidden_sizes=[16, 32, 64, 128], stem_channels=[3, 8, 16], stage_in_channels=[16, 16, 32, 64], stage_mid_channels=[8, 16, 32, 64], stage_out_channels=[16, 32, 64, 128], stage_num_blocks=[1, 1, 1, 1], stage_numb_of_layers=[2, 2, 2, 2], out_features=["stage2", "stage3", "stage4"]), encoder_hidden_dim=32, encoder_in_channels=[32, 64, 128], encoder_ffn_dim=64, d_model=32, decoder_ffn_dim=64, decoder_layers=2, num_queries=10, num_labels=5, encoder_attention_heads=2, decoder_attention_heads=2, decoder_in_channels=[32, 32, 32], num_denoising=0, anchor_image_size=None)), "image", ["logits", "pred_boxes"]  # fmt: skip
    yield "qwen3", lambda: tf.Qwen3Model(tf.Qwen3Config(**t, num_key_value_heads=1, head_dim=16, use_cache=False)), "text", last  # fmt: skip
    yield "smollm3", lambda: tf.SmolLM3Model(tf.SmolLM3Config(**t, num_key_value_heads=1, pad_token_id=0, use_cache=False)), "text", last  # fmt: skip
    yield "dinov3_convnext", lambda: tf.DINOv3ConvNextModel(tf.DINOv3ConvNextConfig(hidden_sizes=[16, 32], depths=[1, 1], layer_scale_init_value=1.0)), "image", pool  # fmt: skip
    yield "deit", lambda: tf.DeiTModel(tf.DeiTConfig(**v, image_size=64, patch_size=8)), "image", pool  # fmt: skip
    yield "ijepa", lambda: tf.IJepaModel(tf.IJepaConfig(**v, image_size=64, patch_size=8)), "image", last  # fmt: skip
    # and eight: ViT-MAE (random patch masking: its noise is drawn inside the graph), Qwen3-Next
    # (gated delta-rule linear attention and a mixture of experts), Gemma 3n (AltUp, per-layer
    # inputs, a Gaussian top-k activation sparsity: an erfinv of a constant), Informer (ProbSparse
    # attention sampling keys at random), EoMT on DINOv3, SuperGlue (Sinkhorn over matched
    # keypoints), WavTokenizer (a codec decoding through an inverse STFT), Prompt Depth Anything
    # (an image and a low-resolution depth prompt)
    yield "vit_mae", lambda: tf.ViTMAEModel(tf.ViTMAEConfig(**v, image_size=64, patch_size=8)), "image", last  # fmt: skip
    yield "qwen3_next", lambda: tf.Qwen3NextModel(tf.Qwen3NextConfig(**t, num_key_value_heads=1, head_dim=16, linear_key_head_dim=8, linear_value_head_dim=8, linear_num_key_heads=2, linear_num_value_heads=4, moe_intermediate_size=32, shared_expert_intermediate_size=32, num_experts=4, num_experts_per_tok=2, layer_types=["linear_attention", "full_attention"], use_cache=False)), "text", last  # fmt: skip
    yield "gemma3n_text", lambda: tf.Gemma3nTextModel(tf.Gemma3nTextConfig(**t, num_key_value_heads=1, head_dim=16, vocab_size_per_layer_input=1000, hidden_size_per_layer_input=8, laurel_rank=8, num_kv_shared_layers=0, sliding_window=4, layer_types=["sliding_attention", "full_attention"], activation_sparsity_pattern=[0.95, 0.0], use_cache=False)), "text", last  # fmt: skip
    yield "informer", lambda: tf.InformerModel(tf.InformerConfig(prediction_length=8, context_length=16, lags_sequence=[1, 2, 3], num_time_features=2, num_static_categorical_features=1, cardinality=[5], embedding_dimension=[3], d_model=16, encoder_layers=2, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, use_cache=False)), "forecast", last  # fmt: skip
    yield "eomt_dinov3", lambda: tf.EomtDinov3ForUniversalSegmentation(tf.EomtDinov3Config(**{**v, "num_hidden_layers": 4}, image_size=64, patch_size=8, num_blocks=2, num_queries=10, num_labels=4, num_upscale_blocks=2)), "image", ["class_queries_logits", "masks_queries_logits"]  # fmt: skip
    yield "superglue", lambda: tf.SuperGlueForKeypointMatching(tf.SuperGlueConfig(keypoint_detector_config=tf.SuperPointConfig(encoder_hidden_sizes=[8, 8, 16, 16], decoder_hidden_size=32, keypoint_decoder_dim=65, descriptor_decoder_dim=32, max_keypoints=32), hidden_size=32, keypoint_encoder_sizes=[8, 16], gnn_layers_types=["self", "cross"], num_attention_heads=2, sinkhorn_iterations=10)), "image_pair", ["matches", "matching_scores", "keypoints"]  # fmt: skip
    yield "wavtokenizer", lambda: tf.WavTokenizerModel(tf.WavTokenizerConfig(num_filters=8, upsampling_ratios=[4, 2], hidden_size=32, codebook_size=64, codebook_dim=32, num_lstm_layers=1, decoder_hidden_size=32, decoder_intermediate_size=64, decoder_num_layers=1, decoder_attention_num_groups=4)), "waveform", ["audio_values"]  # fmt: skip
    yield "prompt_depth_anything", lambda: tf.PromptDepthAnythingForDepthEstimation(tf.PromptDepthAnythingConfig(backbone_config=tf.Dinov2Config(**{**v, "num_hidden_layers": 4}, image_size=56, patch_size=14, out_indices=[1, 2, 3, 4], reshape_hidden_states=False), initializer_range=0.2, patch_size=14, reassemble_hidden_size=32, neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16, head_hidden_size=8)), "image_depth", ["predicted_depth"]  # fmt: skip
    # and three: SAM 2 (a Hiera image encoder and its prompt decoder), LASR's conformer speech
    # encoder, MaskFormer on a Swin backbone
    yield "sam2", lambda: tf.Sam2Model(tf.Sam2Config(vision_config=tf.Sam2VisionConfig(backbone_config=tf.Sam2HieraDetConfig(hidden_size=16, image_size=[128, 128], embed_dim_per_stage=[16, 32, 64, 128], num_attention_heads_per_stage=[1, 1, 2, 2], blocks_per_stage=[1, 1, 2, 1], window_size_per_stage=[8, 4, 4, 2], global_attention_blocks=[3], window_positional_embedding_background_size=[4, 4]), backbone_channel_list=[128, 64, 32, 16], backbone_feature_sizes=[[32, 32], [16, 16], [8, 8]], fpn_hidden_size=32), prompt_encoder_config=dict(hidden_size=32, image_size=128, patch_size=16, mask_input_channels=4, num_point_embeddings=4), mask_decoder_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_dim=64, iou_head_hidden_dim=32, num_multimask_outputs=3))), "prompts128", ["iou_scores", "pred_masks"]  # fmt: skip
    yield "lasr_encoder", lambda: tf.LasrEncoder(tf.LasrEncoderConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2, intermediate_size=64, conv_kernel_size=5, subsampling_conv_channels=16, num_mel_bins=20)), "frames", last  # fmt: skip
    yield "maskformer", lambda: tf.MaskFormerForInstanceSegmentation(tf.MaskFormerConfig(backbone_config=tf.SwinConfig(image_size=64, patch_size=4, embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2], window_size=2, out_features=["stage1", "stage2", "stage3", "stage4"]), decoder_config=tf.DetrConfig(d_model=32, encoder_layers=1, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_queries=10), fpn_feature_size=32, mask_feature_size=32, num_labels=4)), "image", ["class_queries_logits", "masks_queries_logits"]  # fmt: skip
    # and Depth Pro: one ViT over overlapping patches of the image at three scales, another
    # over the whole image, fused (its smallest scale takes 4 patches: a 128x128 image here)
    yield "depth_pro", lambda: tf.DepthProForDepthEstimation(tf.DepthProConfig(patch_size=32, fusion_hidden_size=16, intermediate_hook_ids=[3, 1], intermediate_feature_dims=[16, 16], scaled_images_feature_dims=[32, 32, 16], image_model_config=tf.Dinov2Config(**{**v, "num_hidden_layers": 4}, image_size=32, patch_size=8), patch_model_config=tf.Dinov2Config(**{**v, "num_hidden_layers": 4}, image_size=32, patch_size=8), fov_model_config=tf.Dinov2Config(**{**v, "num_hidden_layers": 4}, image_size=32, patch_size=8), use_fov_model=False)), "image128", ["predicted_depth"]  # fmt: skip
    # and fourteen, each with inputs of its own: TAPAS (seven token types per token: segment,
    # column, row, ranks), ViLT (an image and its pixel mask beside the text), OneFormer (an image
    # and the task's token ids, read as floats), LUKE (entities and the token positions each
    # spans, -1 past its end), MarkupLM (each token's XPath: 50 tags and subscripts), Whisper
    # encoder-decoder (log-mel frames and decoder ids), X-CLIP (video frames and text), Autoformer
    # (series decomposition, FFT auto-correlation), SAM-HQ, UVDoc (document unwarping), SLANeXt,
    # PP-OCRv5's server detector, GPT-2 (the tanh GELU), BROS (boxes as fractions of the page)
    yield "tapas", lambda: tf.TapasModel(tf.TapasConfig(**t)), "table", last  # fmt: skip
    yield "vilt", lambda: tf.ViltModel(tf.ViltConfig(**{**t, "max_position_embeddings": 40}, image_size=64, patch_size=8)), "text_image_mask", last  # fmt: skip
    yield "oneformer", lambda: tf.OneFormerForUniversalSegmentation(tf.OneFormerConfig(backbone_config=tf.SwinConfig(image_size=64, patch_size=4, embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2], window_size=2, out_features=["stage1", "stage2", "stage3", "stage4"]), num_queries=10, task_seq_len=16, text_encoder_width=32, text_encoder_context_length=16, text_encoder_num_layers=1, text_encoder_vocab_size=1000, conv_dim=32, mask_dim=32, hidden_dim=32, encoder_feedforward_dim=64, encoder_layers=1, decoder_layers=3, num_attention_heads=2, dim_feedforward=64, query_dec_layers=1, num_labels=4, is_training=False)), "image_task", ["class_queries_logits", "masks_queries_logits"]  # fmt: skip
    yield "luke", lambda: tf.LukeModel(tf.LukeConfig(**t, entity_vocab_size=100, entity_emb_size=16)), "entities", ["last_hidden_state", "entity_last_hidden_state"]  # fmt: skip
    yield "markuplm", lambda: tf.MarkupLMModel(tf.MarkupLMConfig(**t)), "markup", last  # fmt: skip
    yield "whisper", lambda: tf.WhisperModel(tf.WhisperConfig(vocab_size=1000, pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_mel_bins=16, max_source_positions=50, max_target_positions=32, use_cache=False)), "speech_seq2seq", last  # fmt: skip
    yield "x_clip", lambda: tf.XCLIPModel(tf.XCLIPConfig(text_config={**t, "max_position_embeddings": 16}, vision_config={**v, "image_size": 64, "patch_size": 8, "num_frames": 4, "mit_hidden_size": 32, "mit_intermediate_size": 64, "mit_num_hidden_layers": 1, "mit_num_attention_heads": 2}, projection_dim=32, prompt_layers=1, prompt_num_attention_heads=2)), "video_text", ["logits_per_video"]  # fmt: skip
    yield "autoformer", lambda: tf.AutoformerModel(tf.AutoformerConfig(prediction_length=8, context_length=16, lags_sequence=[1, 2, 3], num_time_features=2, num_static_categorical_features=1, cardinality=[5], embedding_dimension=[3], d_model=16, encoder_layers=2, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, label_length=4, use_cache=False)), "forecast", ["encoder_last_hidden_state"]  # fmt: skip
    yield "sam_hq", lambda: tf.SamHQModel(tf.SamHQConfig(vision_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_dim=64, image_size=64, patch_size=8, output_channels=32, window_size=4, global_attn_indexes=[1], num_pos_feats=16), prompt_encoder_config=dict(hidden_size=32, image_size=64, patch_size=8, mask_input_channels=4, num_point_embeddings=4, image_embedding_size=8), mask_decoder_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_dim=64, iou_head_hidden_dim=32, num_multimask_outputs=3, vit_dim=32))), "prompts", ["iou_scores", "pred_masks"]  # fmt: skip
    yield "uvdoc", lambda: _uvdoc(tf), "image128", ["last_hidden_state"]
    yield "slanext", lambda: tf.SLANeXtForTableRecognition(tf.SLANeXtConfig(vision_config=dict(hidden_size=32, output_channels=32, num_hidden_layers=2, num_attention_heads=2, image_size=64, patch_size=8, window_size=4, global_attn_indexes=[1], mlp_dim=64, initializer_range=0.02), post_conv_in_channels=32, post_conv_out_channels=64, hidden_size=32, max_text_length=12)), "image", ["last_hidden_state"]  # fmt: skip
    # PP-OCR's server and v6 medium detectors: a small HGNet-V2 and the intra-class blocks' convs,
    # each (kernel, stride, padding)
    hgnet = dict(embedding_size=16, depths=[1, 1, 1, 1], hidden_sizes=[16, 32, 64, 128], stem_channels=[3, 8, 16], stage_in_channels=[16, 16, 32, 64], stage_mid_channels=[8, 16, 32, 64], stage_out_channels=[16, 32, 64, 128], stage_num_blocks=[1, 1, 1, 1], stage_numb_of_layers=[2, 2, 2, 2], out_features=["stage1", "stage2", "stage3", "stage4"])  # fmt: skip
    intra = dict(reduce_channel=[1, 1, 0], return_channel=[1, 1, 0], vertical_long_to_small_conv_longratio=[[7, 1], 1, [3, 0]], vertical_long_to_small_conv_midratio=[[5, 1], 1, [2, 0]], vertical_long_to_small_conv_shortratio=[[3, 1], 1, [1, 0]], horizontal_small_to_long_conv_longratio=[[1, 7], 1, [0, 3]], horizontal_small_to_long_conv_midratio=[[1, 5], 1, [0, 2]], horizontal_small_to_long_conv_shortratio=[[1, 3], 1, [0, 1]], symmetric_conv_long_longratio=[7, 1, 3], symmetric_conv_long_midratio=[5, 1, 2], symmetric_conv_long_shortratio=[3, 1, 1])  # fmt: skip
    yield "pp_ocrv5_server_det", lambda: tf.PPOCRV5ServerDetForObjectDetection(tf.PPOCRV5ServerDetConfig(backbone_config=tf.HGNetV2Config(**hgnet), neck_out_channels=32, kernel_list=[3, 2, 2], scale_factor_list=[1, 2, 4, 8], intraclass_block_config=intra)), "image_any", ["last_hidden_state"]  # fmt: skip
    yield "gpt2", lambda: tf.GPT2Model(tf.GPT2Config(vocab_size=1000, n_embd=32, n_layer=2, n_head=2, n_positions=64, use_cache=False)), "text", last  # fmt: skip
    yield "bros", lambda: tf.BrosModel(tf.BrosConfig(**{**t, "hidden_size": 64})), "layout_fraction", last  # fmt: skip
    # and seven more: ViTPose+ (a mixture of experts picked per sample by a dataset index),
    # ImageGPT (an image as colour-cluster ids; quick GELU), Reformer (LSH attention: its
    # hash rotations drawn at random on every call), SpeechT5 speech to text (a waveform and
    # decoder ids), GroupViT (text and image, grouping tokens), Perceiver over UTF-8 bytes (its
    # ids named "inputs"), OLMoE (experts)
    yield "vitpose_plus", lambda: tf.VitPoseForPoseEstimation(tf.VitPoseConfig(backbone_config=tf.VitPoseBackboneConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2, image_size=[64, 48], patch_size=[8, 8], num_experts=3, part_features=8, out_features=["stage2"]), num_labels=17)), "pose_dataset", ["heatmaps"]  # fmt: skip
    yield "imagegpt", lambda: tf.ImageGPTModel(tf.ImageGPTConfig(vocab_size=513, n_positions=64, n_embd=32, n_layer=2, n_head=2, use_cache=False)), "pixel_clusters", last  # fmt: skip
    yield "reformer", lambda: tf.ReformerModel(tf.ReformerConfig(vocab_size=1000, hidden_size=32, num_attention_heads=2, attention_head_size=16, attn_layers=["local", "lsh"], axial_pos_shape=[4, 8], axial_pos_embds_dim=[16, 16], lsh_attn_chunk_length=8, local_attn_chunk_length=8, num_buckets=4, feed_forward_size=64, max_position_embeddings=32, pad_token_id=0, use_cache=False)), "text", last  # fmt: skip
    yield "speecht5_asr", lambda: tf.SpeechT5ForSpeechToText(tf.SpeechT5Config(vocab_size=1000, hidden_size=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, conv_dim=(16, 16), conv_stride=(5, 2), conv_kernel=(10, 3), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2, use_cache=False)), "speech_text", ["logits"]  # fmt: skip
    yield "groupvit", lambda: tf.GroupViTModel(tf.GroupViTConfig(text_config={**t, "max_position_embeddings": 16}, vision_config=dict(hidden_size=32, intermediate_size=64, depths=[2, 2, 2], num_hidden_layers=6, num_attention_heads=2, num_group_tokens=[8, 4, 0], num_output_groups=[8, 4, 4], image_size=64, patch_size=8), projection_dim=32, projection_intermediate_dim=64)), "grounded", ["logits_per_image"]  # fmt: skip
    yield "perceiver", lambda: tf.PerceiverForMaskedLM(tf.PerceiverConfig(num_latents=16, d_latents=32, d_model=32, num_blocks=1, num_self_attends_per_block=2, num_self_attention_heads=2, num_cross_attention_heads=2, qk_channels=32, v_channels=32, vocab_size=262, max_position_embeddings=64)), "bytes", ["logits"]  # fmt: skip
    yield "olmoe", lambda: tf.OlmoeModel(tf.OlmoeConfig(**t, num_experts=4, num_experts_per_tok=2, use_cache=False)), "text", last  # fmt: skip
    # and nineteen more: LXMERT (text and region features with their boxes), VisualBERT
    # (text and visual embeddings), LiLT (boxes per token), UDOP (a page's boxes, image and ids
    # to ids), Zamba2 and Nemotron-H (Mamba2 hybrids), RoFormer (rotary), XLM, LED, FSMT,
    # PEGASUS-X, ProphetNet (n-gram decoder), gpt-oss (sinks, experts), DeepSeek-V3 (latent
    # attention, experts), MRA, YOSO, RemBERT, Cohere2 and Llama 4 text (chunked attention)
    yield "lxmert", lambda: tf.LxmertModel(tf.LxmertConfig(vocab_size=1000, hidden_size=32, num_attention_heads=2, intermediate_size=64, l_layers=1, x_layers=1, r_layers=1, visual_feat_dim=16, visual_pos_dim=4)), "regions", ["language_output", "vision_output"]  # fmt: skip
    yield "visual_bert", lambda: tf.VisualBertModel(tf.VisualBertConfig(**t, visual_embedding_dim=16)), "visual_embeds", last  # fmt: skip
    yield "lilt", lambda: tf.LiltModel(tf.LiltConfig(**{**t, "hidden_size": 48}, channel_shrink_ratio=4, max_2d_position_embeddings=1024)), "layout", last  # fmt: skip
    yield "udop", lambda: tf.UdopModel(tf.UdopConfig(vocab_size=1000, d_model=32, d_kv=16, d_ff=64, num_layers=1, num_decoder_layers=1, num_heads=2, image_size=64, patch_size=8, use_cache=False)), "layout_seq2seq", last  # fmt: skip
    yield "zamba2", lambda: tf.Zamba2Model(tf.Zamba2Config(vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mamba_d_state=8, mamba_headdim=8, n_mamba_heads=8, num_mem_blocks=1, attention_hidden_size=64, attention_head_dim=32, layers_block_type=["mamba", "hybrid"], use_cache=False, use_mem_rope=False)), "text", last  # fmt: skip
    yield "nemotron_h", lambda: tf.NemotronHModel(tf.NemotronHConfig(vocab_size=1000, hidden_size=32, num_hidden_layers=3, num_attention_heads=2, num_key_value_heads=1, head_dim=16, intermediate_size=64, mamba_num_heads=4, mamba_head_dim=16, ssm_state_size=8, n_groups=1, hybrid_override_pattern="M*-", use_cache=False)), "text", last  # fmt: skip
    yield "roformer", lambda: tf.RoFormerModel(tf.RoFormerConfig(**t, embedding_size=32)), "text", last  # fmt: skip
    yield "xlm", lambda: tf.XLMModel(tf.XLMConfig(vocab_size=1000, emb_dim=32, n_layers=2, n_heads=2, max_position_embeddings=64, n_langs=2, use_lang_emb=True)), "text", last  # fmt: skip
    yield "led", lambda: tf.LEDModel(tf.LEDConfig(vocab_size=1000, d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_encoder_position_embeddings=64, max_decoder_position_embeddings=64, attention_window=[4], use_cache=False)), "seq2seq", last  # fmt: skip
    yield "fsmt", lambda: tf.FSMTModel(tf.FSMTConfig(langs=["en", "de"], src_vocab_size=1000, tgt_vocab_size=1000, d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64, use_cache=False)), "seq2seq", last  # fmt: skip
    yield "pegasus_x", lambda: tf.PegasusXModel(tf.PegasusXConfig(vocab_size=1000, d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64, num_global_tokens=4, block_size=4, use_cache=False)), "seq2seq", last  # fmt: skip
    yield "prophetnet", lambda: tf.ProphetNetModel(tf.ProphetNetConfig(vocab_size=1000, hidden_size=32, encoder_ffn_dim=64, decoder_ffn_dim=64, num_encoder_layers=1, num_decoder_layers=1, num_encoder_attention_heads=2, num_decoder_attention_heads=2, max_position_embeddings=64, ngram=2, use_cache=False)), "seq2seq", last  # fmt: skip
    yield "gpt_oss", lambda: tf.GptOssModel(tf.GptOssConfig(**t, num_key_value_heads=1, head_dim=16, num_local_experts=4, num_experts_per_tok=2, layer_types=["sliding_attention", "full_attention"], sliding_window=4, use_cache=False)), "text", last  # fmt: skip
    yield "deepseek_v3", lambda: tf.DeepseekV3Model(tf.DeepseekV3Config(**t, moe_intermediate_size=16, n_routed_experts=4, num_experts_per_tok=2, n_group=1, topk_group=1, first_k_dense_replace=1, kv_lora_rank=16, q_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=16, num_key_value_heads=2, use_cache=False)), "text", last  # fmt: skip
    yield "mra", lambda: tf.MraModel(tf.MraConfig(**{**t, "max_position_embeddings": 514})), "text", last  # fmt: skip
    yield "yoso", lambda: tf.YosoModel(tf.YosoConfig(**t, use_expectation=True)), "text", last  # fmt: skip
    yield "rembert", lambda: tf.RemBertModel(tf.RemBertConfig(**t, input_embedding_size=16, output_embedding_size=16)), "text", last  # fmt: skip
    yield "cohere2", lambda: tf.Cohere2Model(tf.Cohere2Config(**t, num_key_value_heads=1, sliding_window=4, layer_types=["sliding_attention", "full_attention"], use_cache=False)), "text", last  # fmt: skip
    yield "llama4_text", lambda: tf.Llama4TextModel(tf.Llama4TextConfig(**t, intermediate_size_mlp=64, num_key_value_heads=1, head_dim=16, num_local_experts=2, num_experts_per_tok=1, attention_chunk_size=4, use_cache=False)), "text", last  # fmt: skip
    # and ten more: three text-image dual encoders (Chinese-CLIP, AltCLIP, AIMv2), four speech
    # encoders (Qwen2-Audio's, Voxtral's, GLM-ASR's: log-mel frames; Granite Speech's conformer
    # CTC encoder: frames of features named hidden_states), Gemma 3n's audio encoder (mel
    # frames and a bool mask true where padded), VideoPrism (video), Sapiens2 (a human-centric
    # ViT)
    yield "chinese_clip", lambda: tf.ChineseCLIPModel(tf.ChineseCLIPConfig(text_config=t, vision_config={**v, "image_size": 64, "patch_size": 8}, projection_dim=32)), "grounded", ["logits_per_image"]  # fmt: skip
    yield "altclip", lambda: tf.AltCLIPModel(tf.AltCLIPConfig(text_config={**t, "project_dim": 32, "max_position_embeddings": 66}, vision_config={**v, "image_size": 64, "patch_size": 8}, projection_dim=32)), "grounded", ["logits_per_image"]  # fmt: skip
    yield "aimv2", lambda: tf.Aimv2Model(tf.Aimv2Config(text_config={**t, "max_position_embeddings": 16}, vision_config={**v, "image_size": 64, "patch_size": 8}, projection_dim=32)), "grounded", ["logits_per_image"]  # fmt: skip
    yield "qwen2_audio_encoder", lambda: tf.Qwen2AudioEncoder(tf.Qwen2AudioEncoderConfig(num_mel_bins=16, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64, d_model=32, max_source_positions=50)), "features", last  # fmt: skip
    yield "voxtral_encoder", lambda: tf.VoxtralEncoder(tf.VoxtralEncoderConfig(num_mel_bins=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, hidden_size=32, max_source_positions=50)), "features", last  # fmt: skip
    yield "glmasr_encoder", lambda: tf.GlmAsrEncoder(tf.GlmAsrEncoderConfig(num_mel_bins=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, hidden_size=32, max_position_embeddings=64)), "features", last  # fmt: skip
    yield "granite_speech_encoder", lambda: tf.GraniteSpeechCTCEncoder(tf.GraniteSpeechEncoderConfig(input_dim=16, num_layers=2, hidden_dim=32, feedforward_mult=2, num_heads=2, dim_head=16, output_dim=16, context_size=20)), "feature_frames", last  # fmt: skip
    yield "gemma3n_audio", lambda: tf.Gemma3nAudioEncoder(tf.Gemma3nAudioConfig(hidden_size=32, conf_num_attention_heads=2, conf_num_hidden_layers=2, input_feat_size=16, sscp_conv_channel_size=[8, 8])), "mel_padding", ["last_hidden_state"]  # fmt: skip
    yield "videoprism", lambda: tf.VideoPrismVisionModel(tf.VideoPrismVisionConfig(hidden_size=32, intermediate_size=64, num_attention_heads=2, num_spatial_layers=1, num_temporal_layers=1, image_size=64, tubelet_size=[1, 8, 8], num_frames=4)), "videos", last  # fmt: skip
    yield "sapiens2", lambda: tf.Sapiens2Model(tf.Sapiens2Config(**v, image_size=64, patch_size=8)), "image", last  # fmt: skip
    # and eleven more: Speech2Text end to end (filterbank frames, their mask, decoder ids), a
    # ViT-to-GPT-2 VisionEncoderDecoder (an image to text), Switch Transformers (experts),
    # LongT5 (transient-global attention), M2M100, RoCBERT (pronunciation and glyph-shape ids
    # per token), X-MOD (language adapters), DPR's question encoder, PP-OCRv5's server and
    # PP-OCRv6's small text-line recognizers, Donut's Swin
    yield "speech_to_text", lambda: tf.Speech2TextModel(tf.Speech2TextConfig(vocab_size=1000, d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_source_positions=64, max_target_positions=64, input_feat_per_channel=20, conv_channels=16, use_cache=False)), "frames_text", last  # fmt: skip
    yield "vision_encoder_decoder", lambda: tf.VisionEncoderDecoderModel(encoder=tf.ViTModel(tf.ViTConfig(**v, image_size=64, patch_size=8)), decoder=tf.GPT2LMHeadModel(tf.GPT2Config(vocab_size=1000, n_embd=32, n_layer=2, n_head=2, n_positions=64, add_cross_attention=True, is_decoder=True, use_cache=False))), "image_text", ["logits"]  # fmt: skip
    yield "switch_transformers", lambda: tf.SwitchTransformersModel(tf.SwitchTransformersConfig(vocab_size=1000, d_model=32, d_kv=16, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=2, num_experts=4, encoder_sparse_step=1, decoder_sparse_step=1, use_cache=False)), "seq2seq", last  # fmt: skip
    yield "longt5", lambda: tf.LongT5Model(tf.LongT5Config(vocab_size=1000, d_model=32, d_kv=16, d_ff=64, num_layers=1, num_decoder_layers=1, num_heads=2, local_radius=4, global_block_size=4, encoder_attention_type="transient-global", use_cache=False)), "seq2seq", last  # fmt: skip
    yield "m2m_100", lambda: tf.M2M100Model(tf.M2M100Config(vocab_size=1000, d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64, use_cache=False)), "seq2seq", last  # fmt: skip
    yield "roc_bert", lambda: tf.RoCBertModel(tf.RoCBertConfig(**t, pronunciation_vocab_size=50, shape_vocab_size=50, pronunciation_embed_dim=16, shape_embed_dim=16)), "pronounced", last  # fmt: skip
    yield "xmod", lambda: tf.XmodModel(tf.XmodConfig(**{**t, "max_position_embeddings": 66}, languages=("en_XX", "de_DE"), default_language="en_XX")), "text", last  # fmt: skip
    yield "dpr", lambda: tf.DPRQuestionEncoder(tf.DPRConfig(**t)), "text", ["pooler_output"]  # fmt: skip
    yield "pp_ocrv5_server_rec", lambda: tf.PPOCRV5ServerRecForTextRecognition(tf.PPOCRV5ServerRecConfig()), "text_line48", ["last_hidden_state"]  # fmt: skip
    yield "pp_ocrv6_small_rec", lambda: tf.PPOCRV6SmallRecForTextRecognition(tf.PPOCRV6SmallRecConfig()), "text_line48", ["last_hidden_state"]  # fmt: skip
    yield "donut_swin", lambda: tf.DonutSwinModel(tf.DonutSwinConfig(image_size=64, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[1, 2], window_size=4)), "image", last  # fmt: skip
    s2s = dict(vocab_size=1000, d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64, use_cache=False)  # fmt: skip
    yield "ernie", lambda: tf.ErnieModel(tf.ErnieConfig(**t, use_task_id=True, task_type_vocab_size=3)), "text", last  # fmt: skip
    yield "nomic_bert", lambda: tf.NomicBertModel(tf.NomicBertConfig(**t)), "text", last
    yield "eurobert", lambda: tf.EuroBertModel(tf.EuroBertConfig(**t, num_key_value_heads=2, pad_token_id=0, bos_token_id=1, eos_token_id=2)), "text", last  # fmt: skip
    yield "jina_embeddings_v3", lambda: tf.JinaEmbeddingsV3Model(tf.JinaEmbeddingsV3Config(**t)), "text", last  # fmt: skip
    yield "splinter", lambda: tf.SplinterModel(tf.SplinterConfig(**t)), "text", last
    yield "megatron_bert", lambda: tf.MegatronBertModel(tf.MegatronBertConfig(**t)), "text", last  # fmt: skip
    yield "flaubert", lambda: tf.FlaubertModel(tf.FlaubertConfig(vocab_size=1000, emb_dim=32, n_layers=2, n_heads=2, max_position_embeddings=64)), "text", last  # fmt: skip
    yield "gpt_neo", lambda: tf.GPTNeoModel(tf.GPTNeoConfig(vocab_size=1000, hidden_size=32, num_layers=2, num_heads=2, attention_types=[[["global", "local"], 1]], window_size=8, max_position_embeddings=64, intermediate_size=64)), "text", last  # fmt: skip
    yield "ctrl", lambda: tf.CTRLModel(tf.CTRLConfig(vocab_size=1000, n_embd=32, n_layer=2, n_head=2, dff=64, n_positions=64)), "text", last  # fmt: skip
    yield "biogpt", lambda: tf.BioGptModel(tf.BioGptConfig(**t)), "text", last
    yield "xglm", lambda: tf.XGLMModel(tf.XGLMConfig(vocab_size=1000, d_model=32, num_layers=2, attention_heads=2, ffn_dim=64, max_position_embeddings=64)), "text", last  # fmt: skip
    yield "stablelm", lambda: tf.StableLmModel(tf.StableLmConfig(**t, num_key_value_heads=2)), "text", last  # fmt: skip
    yield "phi3", lambda: tf.Phi3Model(tf.Phi3Config(**t, pad_token_id=0)), "text", last
    yield "olmo2", lambda: tf.Olmo2Model(tf.Olmo2Config(**t)), "text", last
    yield "starcoder2", lambda: tf.Starcoder2Model(tf.Starcoder2Config(**t, num_key_value_heads=2)), "text", last  # fmt: skip
    yield "marian", lambda: tf.MarianModel(tf.MarianConfig(**s2s, pad_token_id=0, decoder_start_token_id=0)), "seq2seq", last  # fmt: skip
    yield "mbart", lambda: tf.MBartModel(tf.MBartConfig(**s2s)), "seq2seq", last
    yield "blenderbot", lambda: tf.BlenderbotModel(tf.BlenderbotConfig(**s2s)), "seq2seq", last
    yield "mt5", lambda: tf.MT5Model(tf.MT5Config(vocab_size=1000, d_model=32, d_kv=16, d_ff=64, num_layers=1, num_decoder_layers=1, num_heads=2, use_cache=False, decoder_start_token_id=0)), "seq2seq", last  # fmt: skip
    yield "vit_msn", lambda: tf.ViTMSNModel(tf.ViTMSNConfig(**v, image_size=64, patch_size=8)), "image", last  # fmt: skip
    yield "metaclip_2_vision", lambda: tf.MetaClip2VisionModel(tf.MetaClip2VisionConfig(**v, image_size=64, patch_size=8)), "image", pool  # fmt: skip
    yield "unispeech", lambda: tf.UniSpeechModel(tf.UniSpeechConfig(**v, **a)), "audio", last
    yield "llava", lambda: tf.LlavaModel(tf.LlavaConfig(vision_config=tf.CLIPVisionConfig(**v, image_size=64, patch_size=8), text_config=tf.LlamaConfig(**{**t, "max_position_embeddings": 256}, use_cache=False), image_token_index=999, projector_hidden_act="gelu")), "image_tokens", last  # fmt: skip
    yield "paligemma", lambda: tf.PaliGemmaModel(tf.PaliGemmaConfig(vision_config=tf.SiglipVisionConfig(**v, image_size=64, patch_size=8), text_config=tf.GemmaConfig(**{**t, "max_position_embeddings": 256}, head_dim=16, num_key_value_heads=1, use_cache=False), image_token_index=999, projection_dim=32)), "image_tokens", last  # fmt: skip
    yield "aya_vision", lambda: tf.AyaVisionModel(tf.AyaVisionConfig(vision_config=tf.SiglipVisionConfig(**v, image_size=64, patch_size=8), text_config=tf.CohereConfig(**{**t, "max_position_embeddings": 256}, use_cache=False), image_token_index=999, downsample_factor=2, adapter_layer_norm_eps=1e-6)), "image_tokens16", last  # fmt: skip
    # this round (24 more): DeBERTa's disentangled attention, pre-LayerNorm and XL RoBERTas,
    # GPT-1, decoders with squared ReLU (Persimmon), differential attention (DiffLlama), dynamic
    # masks (Doge), sliding windows (EXAONE 4), mixtures of experts (Qwen3-MoE, JetMoE), seq2seq
    # with sinusoidal positions (Pegasus, BigBird-Pegasus), SigLIP whole, GIT (image tokens
    # before the text), VipLlava's multi-layer projector and Gemma 3's pooled image tokens
    yield "deberta", lambda: tf.DebertaModel(tf.DebertaConfig(**t, relative_attention=True, pos_att_type=["c2p", "p2c"], max_relative_positions=16)), "text", last  # fmt: skip
    yield "roberta_prelayernorm", lambda: tf.RobertaPreLayerNormModel(tf.RobertaPreLayerNormConfig(**{**t, "max_position_embeddings": 66})), "text", last  # fmt: skip
    yield "xlm_roberta_xl", lambda: tf.XLMRobertaXLModel(tf.XLMRobertaXLConfig(**{**t, "max_position_embeddings": 66})), "text", last  # fmt: skip
    yield "data2vec_text", lambda: tf.Data2VecTextModel(tf.Data2VecTextConfig(**{**t, "max_position_embeddings": 66})), "text", last  # fmt: skip
    yield "openai_gpt", lambda: tf.OpenAIGPTModel(tf.OpenAIGPTConfig(vocab_size=1000, n_embd=32, n_layer=2, n_head=2, n_positions=64)), "text", last  # fmt: skip
    yield "persimmon", lambda: tf.PersimmonModel(tf.PersimmonConfig(**t, use_cache=False)), "text", last  # fmt: skip
    yield "olmo", lambda: tf.OlmoModel(tf.OlmoConfig(**t, use_cache=False)), "text", last
    yield "glm4", lambda: tf.Glm4Model(tf.Glm4Config(**t, pad_token_id=0, num_key_value_heads=1, head_dim=16, use_cache=False)), "text", last  # fmt: skip
    yield "granite", lambda: tf.GraniteModel(tf.GraniteConfig(**t, use_cache=False)), "text", last
    yield "helium", lambda: tf.HeliumModel(tf.HeliumConfig(**t, num_key_value_heads=1, head_dim=16, use_cache=False)), "text", last  # fmt: skip
    yield "exaone4", lambda: tf.Exaone4Model(tf.Exaone4Config(**t, num_key_value_heads=1, sliding_window=4, use_cache=False)), "text", last  # fmt: skip
    yield "vaultgemma", lambda: tf.VaultGemmaModel(tf.VaultGemmaConfig(**t, num_key_value_heads=1, head_dim=16, use_cache=False)), "text", last  # fmt: skip
    yield "diffllama", lambda: tf.DiffLlamaModel(tf.DiffLlamaConfig(**t, num_key_value_heads=2, use_cache=False)), "text", last  # fmt: skip
    yield "qwen3_moe", lambda: tf.Qwen3MoeModel(tf.Qwen3MoeConfig(**t, num_key_value_heads=1, head_dim=16, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, use_cache=False)), "text", last  # fmt: skip
    yield "jetmoe", lambda: tf.JetMoeModel(tf.JetMoeConfig(vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_key_value_heads=2, kv_channels=8, intermediate_size=64, num_local_experts=4, num_experts_per_tok=2, max_position_embeddings=64, use_cache=False)), "text", last  # fmt: skip
    yield "doge", lambda: tf.DogeModel(tf.DogeConfig(**t, num_key_value_heads=1, use_cache=False)), "text", last  # fmt: skip
    yield "umt5", lambda: tf.UMT5Model(tf.UMT5Config(vocab_size=1000, d_model=32, d_kv=16, d_ff=64, num_layers=1, num_decoder_layers=1, num_heads=2, use_cache=False, decoder_start_token_id=0)), "seq2seq", last  # fmt: skip
    yield "pegasus", lambda: tf.PegasusModel(tf.PegasusConfig(**s2s)), "seq2seq", last
    yield "plbart", lambda: tf.PLBartModel(tf.PLBartConfig(**s2s)), "seq2seq", last
    yield "bigbird_pegasus", lambda: tf.BigBirdPegasusModel(tf.BigBirdPegasusConfig(**s2s, attention_type="original_full")), "seq2seq", last  # fmt: skip
    yield "siglip", lambda: tf.SiglipModel(tf.SiglipConfig(text_config={**t, "max_position_embeddings": 16}, vision_config={**v, "image_size": 64, "patch_size": 8})), "text_image", ["logits_per_image"]  # fmt: skip
    yield "git", lambda: tf.GitModel(tf.GitConfig(vision_config={**v, "image_size": 64, "patch_size": 8}, **t)), "captioned", last  # fmt: skip
    yield "vipllava", lambda: tf.VipLlavaModel(tf.VipLlavaConfig(vision_config=tf.CLIPVisionConfig(**v, image_size=64, patch_size=8), text_config=tf.LlamaConfig(**{**t, "max_position_embeddings": 256}, use_cache=False), image_token_index=999, vision_feature_layers=[-2, -1])), "image_tokens", last  # fmt: skip
    yield "gemma3", lambda: tf.Gemma3Model(tf.Gemma3Config(vision_config=tf.SiglipVisionConfig(**v, image_size=64, patch_size=8), text_config=tf.Gemma3TextConfig(**{**t, "max_position_embeddings": 256}, head_dim=16, num_key_value_heads=1, use_cache=False), image_token_index=999, mm_tokens_per_image=16)), "image_tokens16", last  # fmt: skip
    # and five more VLMs, each with its own inputs: BLIP-2 and InstructBLIP (a Q-Former's 8
    # queries fill the image tokens; InstructBLIP's Q-Former reads the instruction's own ids),
    # Idefics3 and SmolVLM (images per sample, 5-D, pixel-shuffled to 16 tokens) and Kosmos-2
    # (a mask of where in the ids the 8 image embeddings go)
    q = dict(vocab_size=1000, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, encoder_hidden_size=32)  # fmt: skip
    opt = dict(vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, ffn_dim=64, max_position_embeddings=256, word_embed_proj_dim=32)  # fmt: skip
    yield "blip2", lambda: tf.Blip2Model(tf.Blip2Config(vision_config={**v, "image_size": 64, "patch_size": 8}, qformer_config=q, text_config=tf.OPTConfig(**opt), num_query_tokens=8, image_token_index=999)), "image_tokens8", ["logits"]  # fmt: skip
    yield "instructblip", lambda: tf.InstructBlipForConditionalGeneration(tf.InstructBlipConfig(vision_config={**v, "image_size": 64, "patch_size": 8}, qformer_config=q, text_config=tf.OPTConfig(**opt), num_query_tokens=8, image_token_index=999)), "instructed8", ["logits"]  # fmt: skip
    yield "idefics3", lambda: tf.Idefics3Model(tf.Idefics3Config(vision_config=dict(**v, image_size=64, patch_size=8), text_config=tf.LlamaConfig(**{**t, "max_position_embeddings": 256}), image_token_id=999, scale_factor=2)), "images16", last  # fmt: skip
    yield "smolvlm", lambda: tf.SmolVLMModel(tf.SmolVLMConfig(vision_config=dict(**v, image_size=64, patch_size=8), text_config=tf.LlamaConfig(**{**t, "max_position_embeddings": 256}), image_token_id=999, scale_factor=2)), "images16", last  # fmt: skip
    yield "kosmos2", lambda: tf.Kosmos2Model(tf.Kosmos2Config(text_config=dict(vocab_size=1000, embed_dim=32, layers=2, attention_heads=2, ffn_dim=64, max_position_embeddings=256), vision_config=dict(**v, image_size=64, patch_size=8), latent_query_num=8)), "image_positions8", last  # fmt: skip
    # and twenty-eight more: Gemma 2's soft-capped attention, Cohere, MLA decoders (DeepSeek-V2,
    # MiniCPM3), Mamba-2 and MoE hybrids (Granite 4), lightning and delta-rule linear attention
    # (MiniMax, Kimi Linear), short convolutions (LFM2-MoE), more mixtures of experts (DBRX,
    # ERNIE 4.5, Hunyuan, PhiMoE, EXAONE-MoE, AFMoE), T5Gemma, and inputs beyond ids and one
    # image: InternVL and GOT-OCR2 (image tokens), Mistral 3 (Pixtral with image_sizes), Qwen2-VL
    # (a flat list of patches, each image's grid), Fuyu (patches and where each goes), Idefics2
    # (a perceiver's 8 latents), Chameleon (an image's VQ codes as tokens), FLAVA, Pix2Struct's
    # flattened patches, Pop2Piano's features (LLaVA-NeXT exports with neither exporter:
    # Python's round() of its image_sizes)
    tm = dict(num_key_value_heads=1, use_cache=False)
    yield "gemma2", lambda: tf.Gemma2Model(tf.Gemma2Config(**t, **tm, head_dim=16)), "text", last  # fmt: skip
    yield "cohere", lambda: tf.CohereModel(tf.CohereConfig(**t, use_cache=False)), "text", last
    yield "olmo3", lambda: tf.Olmo3Model(tf.Olmo3Config(**t, **tm, sliding_window=4)), "text", last  # fmt: skip
    yield "seed_oss", lambda: tf.SeedOssModel(tf.SeedOssConfig(**t, **tm, head_dim=16)), "text", last  # fmt: skip
    yield "nanochat", lambda: tf.NanoChatModel(tf.NanoChatConfig(**t, **tm)), "text", last
    mla = dict(kv_lora_rank=16, q_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=16)  # fmt: skip
    yield "deepseek_v2", lambda: tf.DeepseekV2Model(tf.DeepseekV2Config(**t, **mla, num_key_value_heads=2, n_routed_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, first_k_dense_replace=1, n_group=1, topk_group=1, use_cache=False)), "text", last  # fmt: skip
    yield "minicpm3", lambda: tf.MiniCPM3Model(tf.MiniCPM3Config(**t, **mla, num_key_value_heads=2, use_cache=False)), "text", last  # fmt: skip
    yield "granitemoehybrid", lambda: tf.GraniteMoeHybridModel(tf.GraniteMoeHybridConfig(**t, **tm, num_local_experts=4, num_experts_per_tok=2, layer_types=["mamba", "attention"], mamba_n_heads=4, mamba_d_head=16, mamba_d_state=8, mamba_n_groups=1)), "text", last  # fmt: skip
    yield "minimax", lambda: tf.MiniMaxModel(tf.MiniMaxConfig(**t, **tm, head_dim=16, num_local_experts=4, num_experts_per_tok=2, layer_types=["linear_attention", "full_attention"], block_size=4)), "text", last  # fmt: skip
    yield "kimi_linear", lambda: tf.KimiLinearModel(tf.KimiLinearConfig(**t, **tm, **{**mla, "q_lora_rank": None}, pad_token_id=0, head_dim=16, num_experts=4, num_experts_per_token=2, moe_intermediate_size=32, linear_head_dim=16, linear_num_heads=2)), "text", last  # fmt: skip
    yield "lfm2_moe", lambda: tf.Lfm2MoeModel(tf.Lfm2MoeConfig(**t, **tm, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, num_dense_layers=1, layer_types=["conv", "full_attention"])), "text", last  # fmt: skip
    yield "dbrx", lambda: tf.DbrxModel(tf.DbrxConfig(vocab_size=1000, d_model=32, n_layers=2, n_heads=2, max_seq_len=64, attn_config=dict(kv_n_heads=1, rope_theta=10000.0, clip_qkv=8.0), ffn_config=dict(ffn_hidden_size=64, moe_num_experts=4, moe_top_k=2), use_cache=False)), "text", last  # fmt: skip
    yield "ernie4_5_moe", lambda: tf.Ernie4_5_MoeModel(tf.Ernie4_5_MoeConfig(**t, **tm, moe_num_experts=4, moe_k=2, moe_intermediate_size=32, moe_layer_start_index=1)), "text", last  # fmt: skip
    yield "hunyuan_v1_moe", lambda: tf.HunYuanMoEV1Model(tf.HunYuanMoEV1Config(**t, **tm, num_experts=4, moe_topk=2, head_dim=16)), "text", last  # fmt: skip
    yield "phimoe", lambda: tf.PhimoeModel(tf.PhimoeConfig(**t, **tm, num_local_experts=4, num_experts_per_tok=2)), "text", last  # fmt: skip
    yield "exaone_moe", lambda: tf.ExaoneMoeModel(tf.ExaoneMoeConfig(**t, **tm, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32)), "text", last  # fmt: skip
    yield "afmoe", lambda: _routed(tf.AfmoeModel(tf.AfmoeConfig(**t, **tm, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, num_dense_layers=1))), "text", last  # fmt: skip
    yield "t5gemma", lambda: tf.T5GemmaModel(tf.T5GemmaConfig(encoder=tf.T5GemmaModuleConfig(**t, num_key_value_heads=1, head_dim=16), decoder=tf.T5GemmaModuleConfig(**t, num_key_value_heads=1, head_dim=16), use_cache=False)), "seq2seq", last  # fmt: skip
    t256 = {**t, "max_position_embeddings": 256}
    yield "internvl", lambda: tf.InternVLModel(tf.InternVLConfig(vision_config=dict(**v, image_size=[64, 64], patch_size=[8, 8]), text_config=tf.Qwen2Config(**t256, **tm), image_token_id=999, downsample_ratio=0.5)), "image_tokens16", last  # fmt: skip
    yield "got_ocr2", lambda: tf.GotOcr2Model(tf.GotOcr2Config(vision_config=dict(hidden_size=32, output_channels=32, num_hidden_layers=2, num_attention_heads=2, image_size=64, patch_size=8, global_attn_indexes=[1], window_size=4, mlp_dim=64), text_config=tf.Qwen2Config(**t256, **tm), image_token_index=999)), "image_tokens4", last  # fmt: skip
    yield "mistral3", lambda: tf.Mistral3Model(tf.Mistral3Config(vision_config=tf.PixtralVisionConfig(**v, image_size=64, patch_size=8, head_dim=16), text_config=tf.MistralConfig(**t256, **tm, head_dim=16), image_token_index=999, spatial_merge_size=2)), "image_sized16", last  # fmt: skip
    yield "qwen2_vl", lambda: tf.Qwen2VLModel(tf.Qwen2VLConfig(vision_config=dict(depth=2, embed_dim=32, hidden_size=32, num_heads=2, mlp_ratio=2, patch_size=8, spatial_merge_size=2, temporal_patch_size=2), text_config=dict(**t256, num_key_value_heads=1, rope_scaling={"type": "mrope", "mrope_section": [2, 2, 4]}), image_token_id=999)), "grid4", last  # fmt: skip
    yield "fuyu", lambda: tf.FuyuModel(tf.FuyuConfig(text_config=dict(model_type="persimmon", **t256), hidden_size=32, num_attention_heads=2, num_hidden_layers=2, intermediate_size=64, vocab_size=1000, patch_size=8, num_channels=3, image_token_id=999)), "patches16", last  # fmt: skip
    yield "idefics2", lambda: tf.Idefics2Model(tf.Idefics2Config(vision_config=dict(**v, image_size=64, patch_size=8), perceiver_config=dict(hidden_size=32, resampler_n_latents=8, resampler_depth=1, resampler_n_heads=2, resampler_head_dim=16, num_key_value_heads=1), text_config=dict(model_type="mistral", **t256, num_key_value_heads=1), image_token_id=999)), "images8", last  # fmt: skip
    yield "chameleon", lambda: tf.ChameleonModel(tf.ChameleonConfig(**{**t, "max_position_embeddings": 512}, **tm, vq_config=dict(embed_dim=16, num_embeddings=64, base_channels=32, channel_multiplier=[1, 2], num_res_blocks=1, resolution=32, attn_resolutions=[], latent_channels=16), vocabulary_map={"<image>": 999, **{"IMGIMG" + "".join(chr(65 + int(d)) for d in str(i)) + "Z": 900 + i for i in range(64)}}, image_token_id=999)), "vq256", last  # fmt: skip
    yield "flava", lambda: tf.FlavaModel(tf.FlavaConfig(text_config=dict(**t), image_config=dict(**v, image_size=64, patch_size=8), multimodal_config=dict(**v))), "captioned", ["multimodal_embeddings"]  # fmt: skip
    yield "pix2struct", lambda: tf.Pix2StructForConditionalGeneration(tf.Pix2StructConfig(text_config=dict(vocab_size=1000, hidden_size=32, d_kv=16, d_ff=64, num_layers=1, num_heads=2), vision_config=dict(hidden_size=32, d_kv=16, d_ff=64, num_hidden_layers=1, num_attention_heads=2, patch_embed_hidden_size=192, seq_len=64))), "flattened_patches", ["logits"]  # fmt: skip
    yield "pop2piano", lambda: tf.Pop2PianoForConditionalGeneration(tf.Pop2PianoConfig(vocab_size=1000, d_model=32, d_kv=16, d_ff=64, num_layers=1, num_decoder_layers=1, num_heads=2, composer_vocab_size=21)), "features_text", ["logits"]  # fmt: skip
    # and fifteen more image-text models, each with the inputs its processor makes (``_laid_out``)
    lm = dict(**{**t, "max_position_embeddings": 512}, num_key_value_heads=1, use_cache=False, bos_token_id=1, eos_token_id=2, pad_token_id=0)  # fmt: skip
    vis = dict(**v, image_size=32, patch_size=8)
    yield "mllama", lambda: tf.MllamaModel(tf.MllamaConfig(vision_config=dict(hidden_size=32, attention_heads=2, num_hidden_layers=2, num_global_layers=1, intermediate_size=64, image_size=32, patch_size=8, max_num_tiles=4, intermediate_layers_indices=[0], vision_output_dim=64), text_config={**lm, "cross_attention_layers": [1]}, image_token_index=999)), "tiles", last  # fmt: skip
    yield "janus", lambda: tf.JanusModel(tf.JanusConfig(text_config={**lm, "model_type": "llama"}, vision_config=dict(**vis, mlp_ratio=2.0, projection_dim=32, depth=2, num_image_tokens=16), vq_config=dict(embed_dim=8, num_embeddings=64, latent_channels=32, base_channels=32, channel_multiplier=[1, 1], num_res_blocks=1, projection_dim=32, image_token_embed_dim=32, num_hidden_layers=1), image_token_id=999)), "marked16", last  # fmt: skip
    yield "deepseek_vl", lambda: tf.DeepseekVLModel(tf.DeepseekVLConfig(text_config={**lm, "model_type": "llama"}, vision_config={**vis, "model_type": "siglip_vision_model"}, image_token_id=999)), "small16", last  # fmt: skip
    yield "fast_vlm", lambda: _fast_vlm(tf, lm), "image_tokens", last
    yield "ovis2", lambda: tf.Ovis2Model(tf.Ovis2Config(vision_config=dict(**{**vis, "image_size": 64}, hidden_stride=2, vocab_size=64, num_visual_indicator_tokens=5), text_config={**lm, "model_type": "qwen2"}, image_token_id=994, visual_indicator_token_ids=[995, 996, 997, 998, 999], vocab_size=1000, hidden_size=32)), "indicated16", last  # fmt: skip
    yield "perception_lm", lambda: _perception_lm(tf, lm, vis), "thumb_tile8", last
    yield "florence2", lambda: tf.Florence2Model(tf.Florence2Config(vision_config=dict(depths=[1, 1], patch_size=[7, 3], patch_stride=[4, 2], patch_padding=[3, 1], patch_prenorm=[False, True], embed_dim=[16, 32], num_heads=[1, 2], num_groups=[1, 2], window_size=4, drop_path_rate=0.0, projection_dim=32, max_position_embeddings=16, max_temporal_embeddings=4), text_config=dict(model_type="bart", vocab_size=1000, d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=128, use_cache=False, pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2), image_token_id=999)), "image_prompt65", last  # fmt: skip
    yield "aria", lambda: tf.AriaModel(tf.AriaConfig(vision_config={**vis, "model_type": "idefics3_vision"}, text_config={**lm, "moe_num_experts": 4, "moe_topk": 2, "moe_num_shared_experts": 1}, projector_patch_to_query_dict={16: 8}, image_token_index=999)), "pixel_masked8", last  # fmt: skip
    yield "cohere2_vision", lambda: tf.Cohere2VisionModel(tf.Cohere2VisionConfig(vision_config={**vis, "model_type": "siglip_vision_model"}, text_config=dict(**lm, model_type="cohere2", sliding_window=8, layer_types=["sliding_attention", "full_attention"]), downsample_factor=2, image_token_id=999, alignment_intermediate_size=64)), "crops3", last  # fmt: skip
    yield "omdet_turbo", lambda: _omdet_turbo(tf), "class_names", ["decoder_class_logits"]
    yield "qwen2_5_vl", lambda: tf.Qwen2_5_VLModel(tf.Qwen2_5_VLConfig(vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=8, spatial_merge_size=2, temporal_patch_size=2, window_size=32, out_hidden_size=32, fullatt_block_indexes=[1]), text_config={**lm, "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]}}, image_token_id=999, video_token_id=996, vision_start_token_id=997, vision_end_token_id=998)), "grid12", last  # fmt: skip
    yield "glm4v", lambda: tf.Glm4vModel(tf.Glm4vConfig(vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, image_size=32, patch_size=8, spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=32), text_config=dict(**{k: lm[k] for k in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "max_position_embeddings", "use_cache", "pad_token_id")}, rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 1, 1], "partial_rotary_factor": 0.5}), image_token_id=999, video_token_id=996, image_start_token_id=997, image_end_token_id=998, video_start_token_id=994, video_end_token_id=995)), "grid12", last  # fmt: skip
    yield "emu3", lambda: tf.Emu3Model(tf.Emu3Config(vq_config=dict(codebook_size=64, embed_dim=4, latent_channels=4, base_channels=32, channel_multiplier=[1, 1, 1, 1], num_res_blocks=1, attn_resolutions=[], hidden_size=32, num_attention_heads=1, temporal_downsample_factor=4), text_config=lm, vocabulary_map={**{f"<|visual token{i:06d}|>": 900 + i for i in range(64)}, "<image>": 999, "<|extra_200|>": 998})), "vq_rows20", last  # fmt: skip
    yield "llava_onevision", lambda: tf.LlavaOnevisionModel(tf.LlavaOnevisionConfig(vision_config={**vis, "model_type": "siglip_vision_model"}, text_config={**lm, "model_type": "qwen2"}, image_token_index=999, video_token_index=998, image_grid_pinpoints=[[32, 32], [32, 64], [64, 32], [64, 64]], vision_aspect_ratio="anyres_max_9")), "anyres", last  # fmt: skip
    yield "lfm2_vl", lambda: tf.Lfm2VlModel(tf.Lfm2VlConfig(vision_config=dict(model_type="siglip2_vision_model", **v, patch_size=8, num_patches=16), text_config=dict(**{k: lm[k] for k in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "max_position_embeddings", "use_cache", "pad_token_id", "bos_token_id", "eos_token_id")}, model_type="lfm2", layer_types=["conv", "full_attention"], block_auto_adjust_ff_dim=False), image_token_id=999, projector_hidden_size=64, downsample_factor=2)), "naflex_text", last  # fmt: skip
    # and the models a deployment round brings: PaddleOCR's v6 text detectors (a probability map,
    # any size a multiple of 32), its LCNet v3/v4 backbones, two document-layout detectors, the
    # RT-DETR ResNet backbone, CTC speech recognizers (Parakeet, LASR), Moonshine's streaming
    # encoder (a waveform, sliding-window attention), Voxtral Realtime's encoder, Perception
    # Encoder Audio (a DAC codec's encoder under a transformer), SAM 3's windowed ViT, Pixtral's vision
    # tower (images of their own sizes), LLaVA-NeXT's tiles of any resolution, Qwen3-VL,
    # Video-LLaVA
    det = dict(encoder_hidden_dim=32, d_model=32, decoder_in_channels=[32, 32, 32], encoder_layers=1, decoder_layers=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_queries=10, num_labels=5)  # fmt: skip
    yield "pp_ocrv6_small_det", lambda: tf.PPOCRV6SmallDetForObjectDetection(tf.PPOCRV6SmallDetConfig(backbone_config=tf.PPLCNetV3Config(scale=0.75, out_features=["stage2", "stage3", "stage4", "stage5"], out_indices=[2, 3, 4, 5], divisor=16), layer_list_out_channels=[48, 96, 192, 384])), "image_any", ["last_hidden_state"]  # fmt: skip
    yield "pp_ocrv6_medium_det", lambda: tf.PPOCRV6MediumDetForObjectDetection(tf.PPOCRV6MediumDetConfig(backbone_config=tf.HGNetV2Config(**hgnet), neck_out_channels=32, kernel_list=[3, 2, 2], scale_factor_list=[1, 2, 4, 8], intraclass_block_config=intra)), "image_any", ["last_hidden_state"]  # fmt: skip
    yield "pp_lcnet_v3", lambda: tf.PPLCNetV3Backbone(tf.PPLCNetV3Config()), "image", ["feature_maps"]  # fmt: skip
    yield "pp_lcnet_v4", lambda: tf.PPLCNetV4Backbone(tf.PPLCNetV4Config()), "image", ["feature_maps"]  # fmt: skip
    yield "pp_doclayout_v2", lambda: tf.PPDocLayoutV2ForObjectDetection(tf.PPDocLayoutV2Config(**det, class_thresholds=[0.5] * 5, class_order=list(range(5)), reading_order_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, coordinate_size=4, shape_size=8, num_classes=5, global_pointer_head_size=16))), "image", ["logits", "pred_boxes", "order_logits"]  # fmt: skip
    yield "pp_doclayout_v4", lambda: tf.PPDocLayoutV4ForObjectDetection(tf.PPDocLayoutV4Config(**det)), "image", ["logits", "pred_boxes"]  # fmt: skip
    yield "rt_detr_resnet", lambda: tf.RTDetrResNetBackbone(tf.RTDetrResNetConfig(embedding_size=16, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], layer_type="basic", out_features=["stage2", "stage3", "stage4"])), "image", ["feature_maps"]  # fmt: skip
    yield "parakeet_ctc", lambda: tf.ParakeetForCTC(tf.ParakeetCTCConfig(vocab_size=64, pad_token_id=63, encoder_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, num_mel_bins=16, subsampling_conv_channels=16, conv_kernel_size=9))), "frames16", ["logits"]  # fmt: skip
    yield "lasr_ctc", lambda: tf.LasrForCTC(tf.LasrCTCConfig(vocab_size=64, encoder_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2, intermediate_size=64, conv_kernel_size=5, subsampling_conv_channels=16, num_mel_bins=20))), "frames", ["logits"]  # fmt: skip
    yield "moonshine_streaming", lambda: tf.MoonshineStreamingModel(tf.MoonshineStreamingConfig(encoder_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2, sliding_windows=[[16, 4], [16, 0]]), vocab_size=1000, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2, use_cache=False)).encoder, "audio", last  # fmt: skip
    yield "voxtral_realtime_encoder", lambda: tf.VoxtralRealtimeEncoder(tf.VoxtralRealtimeEncoderConfig(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, num_mel_bins=16, max_position_embeddings=256, sliding_window=16, head_dim=16, use_cache=False)), "features", last  # fmt: skip
    yield "pe_audio", lambda: tf.PeAudioEncoder(tf.PeAudioEncoderConfig(dac_config=dict(encoder_hidden_size=8, downsampling_ratios=[2, 4], decoder_hidden_size=16, hidden_size=16, n_codebooks=2, codebook_size=16, codebook_dim=4), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, head_dim=16)), "waveform", last  # fmt: skip
    yield "sam3_vit", lambda: tf.Sam3ViTModel(tf.Sam3ViTConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=64, patch_size=8, window_size=4, global_attn_indexes=[1], pretrain_image_size=32)), "image", last  # fmt: skip
    yield "pixtral", lambda: tf.PixtralVisionModel(tf.PixtralVisionConfig(**v, image_size=64, patch_size=8, head_dim=16)), "image_sized", last  # fmt: skip
    yield "llava_next", lambda: tf.LlavaNextModel(tf.LlavaNextConfig(vision_config={**vis, "model_type": "clip_vision_model"}, text_config={**lm, "model_type": "llama"}, image_token_index=999, image_grid_pinpoints=[[32, 32], [32, 64], [64, 32], [64, 64]])), "anyres_sized", last  # fmt: skip
    yield "qwen3_vl", lambda: tf.Qwen3VLModel(tf.Qwen3VLConfig(vision_config=dict(depth=2, hidden_size=32, num_heads=2, intermediate_size=64, patch_size=8, spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=32, num_position_embeddings=64, deepstack_visual_indexes=[1]), text_config=dict(**lm, head_dim=16, rope_scaling={"rope_type": "default", "mrope_section": [2, 2, 4], "mrope_interleaved": True}), image_token_id=999)), "grid12", last  # fmt: skip
    yield "video_llava", lambda: tf.VideoLlavaModel(tf.VideoLlavaConfig(vision_config={**vis, "model_type": "clip_vision_model"}, text_config={**lm, "model_type": "llama"}, image_token_index=999, video_token_index=998, vision_feature_select_strategy="full")), "images_sampled", last  # fmt: skip
    # a later deployment round: speech recognizers' encoders (a chunked Whisper-style one that
    # packs the batch, a low-frame-rate one, a cache-aware streaming FastConformer), codecs and
    # tokenizers of speech generators, depth and segmentation heads on DINOv3-style backbones,
    # a video segmenter, a forecaster of one series per sample, a formula recognizer's encoder
    asr = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, num_mel_bins=16, subsampling_conv_channels=16, conv_kernel_size=9)  # fmt: skip
    yield "omniasr_ctc", lambda: tf.OmniASRForCTC(tf.OmniASRCTCConfig(vocab_size=64, audio_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, conv_dim=[16, 16], conv_stride=[5, 2], conv_kernel=[10, 3], num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2))), "waveform", ["logits"]  # fmt: skip
    yield "qwen3_asr_encoder", lambda: tf.Qwen3ASREncoder(tf.Qwen3ASREncoderConfig(num_mel_bins=16, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64, d_model=32, n_window=50, output_dim=32, n_window_infer=400, downsample_hidden_size=8, max_position_embeddings=16)), "mel_chunks", last  # fmt: skip
    yield "fun_asr_nano_encoder", lambda: tf.FunAsrNanoEncoder(tf.FunAsrNanoEncoderConfig(num_mel_bins=16, hidden_size=32, num_attention_heads=2, intermediate_size=64, num_hidden_layers=2, num_timestamp_prediction_layers=1, num_stacked_frames=2)), "stacked_frames", last  # fmt: skip
    yield "nemotron_asr_streaming_encoder", lambda: tf.NemotronAsrStreamingForRNNT(tf.NemotronAsrStreamingConfig(vocab_size=65, blank_token_id=64, decoder_hidden_size=32, encoder_config=asr)).encoder, "frames16", last  # fmt: skip
    yield "cohere_asr_encoder", lambda: tf.CohereAsrModel(tf.CohereAsrConfig(vocab_size=64, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2, intermediate_size=64, head_dim=16, encoder_config=asr)).encoder, "frames16", last  # fmt: skip
    yield "xcodec", lambda: _coded(tf.XcodecModel(tf.XcodecConfig(codebook_size=16, codebook_dim=32, acoustic_model_config=dict(model_type="dac", encoder_hidden_size=8, downsampling_ratios=[4, 8], decoder_hidden_size=16, upsampling_ratios=[8, 4], hidden_size=16, n_codebooks=2, codebook_size=16, codebook_dim=4), semantic_model_config=dict(model_type="hubert", hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, conv_dim=[16, 16], conv_stride=[4, 8], conv_kernel=[4, 8], num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)))), "waveform", ["audio_codes", "audio_values"]  # fmt: skip
    yield "vibevoice_acoustic_encoder", lambda: tf.VibeVoiceAcousticTokenizerModel(tf.VibeVoiceAcousticTokenizerConfig(hidden_size=16, num_filters=8, downsampling_ratios=[2, 4], depths=[1, 1, 1], layer_scale_init_value=0.1)).encoder, "waveform_states", ["latents"]  # fmt: skip
    yield "pocket_tts_codec_encoder", lambda: tf.PocketTTSAudioTokenizerModel(tf.PocketTTSAudioTokenizerConfig(hidden_size=32, num_filters=8, upsampling_ratios=[4, 2], num_hidden_layers=1, intermediate_size=64, num_attention_heads=2, num_key_value_heads=2, head_dim=16, latent_dim=8, upsample_groups=32, latent_stride=2, layer_scale_initial_scale=1.0)).encoder, "waveform", ["latents"]  # fmt: skip
    dino3 = dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, image_size=64, patch_size=8, out_indices=[1, 2, 3, 4])  # fmt: skip
    yield "tipsv2_vision", lambda: tf.Tipsv2VisionModel(tf.Tipsv2VisionConfig(**v, image_size=64, patch_size=8)), "image", last  # fmt: skip
    yield "tipsv2_dpt", lambda: tf.Tipsv2DptForDepthEstimation(tf.Tipsv2DptConfig(neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16, num_depth_bins=16, backbone_config=dict(**dino3, model_type="tipsv2_vision_model", reshape_hidden_states=False))), "image", ["predicted_depth"]  # fmt: skip
    yield "chmv2", lambda: tf.CHMv2ForDepthEstimation(tf.CHMv2Config(patch_size=8, post_process_channels=[8, 16, 32, 32], fusion_hidden_size=16, head_hidden_size=16, number_output_channels=16, backbone_config=dict(**dino3, model_type="dinov3_vit", intermediate_size=64, num_register_tokens=1, reshape_hidden_states=True, return_class_token=True))), "image", ["predicted_depth"]  # fmt: skip
    yield "videomt", lambda: tf.VideomtForUniversalSegmentation(tf.VideomtConfig(**v, image_size=64, patch_size=8, num_blocks=2, num_queries=10, num_register_tokens=1, num_labels=5)), "videos", ["class_queries_logits", "masks_queries_logits"]  # fmt: skip
    yield "timesfm2_5", lambda: tf.TimesFm2_5Model(tf.TimesFm2_5Config(patch_length=8, context_length=64, horizon_length=16, num_hidden_layers=2, hidden_size=32, intermediate_size=32, head_dim=16, num_attention_heads=2, num_key_value_heads=2, output_quantile_len=32, max_position_embeddings=64)), "series1d", last  # fmt: skip
    yield "pp_formulanet_vision", lambda: tf.PPFormulaNetVisionModel(tf.PPFormulaNetVisionConfig(hidden_size=32, output_channels=16, num_hidden_layers=2, num_attention_heads=2, image_size=64, patch_size=8, window_size=4, global_attn_indexes=[1], mlp_dim=64, post_conv_in_channels=16, post_conv_out_channels=32, post_conv_mid_channels=16, decoder_hidden_size=32, initializer_range=0.02)), "image", pool  # fmt: skip
    # language models of a later round: xIELU (Apertus) and ReLU² (Arcee, Jais 2) MLPs, Gemma 4,
    # Qwen3.5's and OLMo Hybrid's linear-attention layers beside full attention, Mistral 4,
    # LFM3's convolutions; and Gemma 4's audio encoder (a conformer on mel frames)
    kv = dict(**t, num_key_value_heads=1, use_cache=False)
    yield "apertus", lambda: tf.ApertusModel(tf.ApertusConfig(**kv)), "text", last
    yield "arcee", lambda: tf.ArceeModel(tf.ArceeConfig(**kv)), "text", last
    yield "jais2", lambda: tf.Jais2Model(tf.Jais2Config(**kv)), "text", last
    yield "gemma4_text", lambda: tf.Gemma4TextModel(tf.Gemma4TextConfig(**kv, head_dim=16)), "text", last  # fmt: skip
    yield "qwen3_5_text", lambda: tf.Qwen3_5TextModel(tf.Qwen3_5TextConfig(**kv, head_dim=16)), "text", last  # fmt: skip
    yield "olmo_hybrid", lambda: tf.OlmoHybridModel(tf.OlmoHybridConfig(**kv, pad_token_id=0)), "text", last  # fmt: skip
    yield "mistral4", lambda: tf.Mistral4Model(tf.Mistral4Config(**kv)), "text", last
    yield "ministral3", lambda: tf.Ministral3Model(tf.Ministral3Config(**kv)), "text", last
    yield "ernie4_5", lambda: tf.Ernie4_5Model(tf.Ernie4_5Config(**kv)), "text", last
    yield "lfm3", lambda: tf.Lfm3Model(tf.Lfm3Config(**t, pad_token_id=0, use_cache=False)), "text", last  # fmt: skip
    yield "gemma4_audio", lambda: tf.Gemma4AudioModel(tf.Gemma4AudioConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, subsampling_conv_channels=[16, 8], output_proj_dims=32)), "frames16", last  # fmt: skip
    # and eighteen of the newest: decoders with experts (MiniMax-M2, FlexOlmo, LongCat-Flash's zero
    # experts), BLT (bytes patched by a small LM's entropy), Kyutai STT (a text id and audio codes
    # per step), OCR and image-text models as their processors lay them out (GLM-OCR, GLM-4.6V,
    # LightOnOCR, PaddleOCR-VL's 3x8x8 patches, Kosmos-2.5's flattened patches), vision towers
    # (Gemma 4's patches with their (x, y), Qwen3.5's, DeepSeek-OCR 2's SAM and query encoder:
    # its SAM's weights drawn at 1e-10 by default, output the same on any image), PE Video's frame
    # encoder, MM Grounding DINO, SAM 3's tracker and its lite-text detector, and NeuCodec (a
    # waveform and its filterbanks to codes and audio; drawn at std 0.1: at 0.02 every frame
    # rounds to one code and the audio is 0)
    yield "minimax_m2", lambda: tf.MiniMaxM2Model(tf.MiniMaxM2Config(**kv, head_dim=16, num_local_experts=4, num_experts_per_tok=2, bos_token_id=1, eos_token_id=2)), "text", last  # fmt: skip
    yield "flex_olmo", lambda: tf.FlexOlmoModel(tf.FlexOlmoConfig(**kv, num_experts=4, num_experts_per_tok=2, pad_token_id=0, eos_token_id=2)), "text", last  # fmt: skip
    yield "longcat_flash", lambda: tf.LongcatFlashModel(tf.LongcatFlashConfig(vocab_size=1000, hidden_size=32, num_layers=1, num_attention_heads=2, max_position_embeddings=64, ffn_hidden_size=64, q_lora_rank=16, kv_lora_rank=16, qk_nope_head_dim=8, qk_rope_head_dim=8, head_dim=8, v_head_dim=16, moe_topk=2, n_routed_experts=4, zero_expert_num=2, expert_ffn_hidden_size=32, use_cache=False)), "text", last  # fmt: skip
    bl = dict(vocab_size=1000, hidden_size=32, num_attention_heads=2, intermediate_size=64, max_position_embeddings=64, num_hidden_layers=1)  # fmt: skip
    yield "blt", lambda: tf.BltModel(tf.BltConfig(vocab_size=1000, max_position_embeddings=64, local_attention_window_len=None, encoder_hash_byte_group_size=[3, 4], encoder_hash_byte_group_vocab=64, patcher_config=bl, encoder_config=dict(**bl, hidden_size_global=64), decoder_config=dict(**bl, hidden_size_global=64), global_config={**bl, "hidden_size": 64}, use_cache=False)), "text", last  # fmt: skip
    yield "kyutai_stt", lambda: tf.KyutaiSpeechToTextModel(tf.KyutaiSpeechToTextConfig(vocab_size=1000, codebook_vocab_size=65, num_codebooks=4, audio_pad_token_id=1260, audio_bos_token_id=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, ffn_dim=128, max_position_embeddings=64, sliding_window=16, bos_token_id=1, use_cache=False)), "text_codes4", last  # fmt: skip
    glmv = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, image_size=32, patch_size=8, spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=32)  # fmt: skip
    glmt = dict(**{k: lm[k] for k in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "max_position_embeddings", "use_cache", "pad_token_id")}, rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 1, 1], "partial_rotary_factor": 0.5})  # fmt: skip
    glm_ids = dict(image_token_id=999, video_token_id=996, image_start_token_id=997, image_end_token_id=998, video_start_token_id=994, video_end_token_id=995)  # fmt: skip
    yield "glm_ocr", lambda: tf.GlmOcrModel(tf.GlmOcrConfig(vision_config=glmv, text_config=glmt, **glm_ids)), "grid12", last  # fmt: skip
    yield "glm46v", lambda: tf.Glm46VModel(tf.Glm46VConfig(vision_config=glmv, text_config=glmt, **glm_ids)), "grid12", last  # fmt: skip
    yield "lighton_ocr", lambda: tf.LightOnOcrModel(tf.LightOnOcrConfig(vision_config=dict(model_type="pixtral", **v, image_size=64, patch_size=8, head_dim=16), text_config=dict(model_type="qwen3", **lm, head_dim=16), image_token_id=999, spatial_merge_size=2)), "image_sized16", last  # fmt: skip
    yield "paddleocr_vl", lambda: tf.PaddleOCRVLModel(tf.PaddleOCRVLConfig(vision_config=dict(**v, image_size=64, patch_size=8, spatial_merge_size=2), text_config=dict(**lm, head_dim=16, rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]}), image_token_id=999, video_token_id=996, vision_start_token_id=997, vision_end_token_id=998)), "grid12_chw", last  # fmt: skip
    yield "kosmos2_5", lambda: tf.Kosmos2_5Model(tf.Kosmos2_5Config(text_config=dict(vocab_size=1000, embed_dim=32, layers=2, attention_heads=2, ffn_dim=64, max_position_embeddings=256), vision_config=dict(hidden_size=32, patch_embed_hidden_size=192, intermediate_size=64, head_dim=16, num_hidden_layers=2, num_attention_heads=2, max_num_patches=64), latent_query_num=8)), "patches_marked8", last  # fmt: skip
    yield "gemma4_vision", lambda: tf.Gemma4VisionModel(tf.Gemma4VisionConfig(**v, num_key_value_heads=2, head_dim=16, patch_size=8, pooling_kernel_size=2, position_embedding_size=64)), "patch_xy16", last  # fmt: skip
    yield "qwen3_5_vision", lambda: tf.Qwen3_5VisionModel(tf.Qwen3_5VisionConfig(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=8, spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=32, num_position_embeddings=64)), "grid_tower", pool  # fmt: skip
    yield "deepseek_ocr2_vision", lambda: tf.DeepseekOcr2VisionModel(tf.DeepseekOcr2VisionConfig(sam_config=dict(hidden_size=32, output_channels=16, num_hidden_layers=2, num_attention_heads=2, image_size=64, patch_size=8, window_size=4, global_attn_indexes=[1], mlp_dim=64, downsample_channels=[32, 32], initializer_range=0.02), encoder_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1))), "image", last  # fmt: skip
    yield "pe_video", lambda: tf.PeVideoEncoder(tf.PeVideoEncoderConfig(vision_config=tf.ViTConfig(**v, image_size=64, patch_size=8, num_labels=32), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, head_dim=16)), "videos", last  # fmt: skip
    yield "mm_grounding_dino", lambda: tf.MMGroundingDinoForObjectDetection(tf.MMGroundingDinoConfig(backbone_config=tf.SwinConfig(image_size=64, patch_size=4, embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2], window_size=2, out_features=["stage2", "stage3", "stage4"]), text_config=tf.BertConfig(vocab_size=1000, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64), d_model=32, encoder_layers=1, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_queries=10, num_feature_levels=3, encoder_n_points=2, decoder_n_points=2, max_text_len=16)), "grounded", ["logits", "pred_boxes"]  # fmt: skip
    s3v = dict(model_type="sam3_vision_model", backbone_config=dict(model_type="sam3_vit_model", hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=64, patch_size=8, window_size=4, global_attn_indexes=[1], pretrain_image_size=32), fpn_hidden_size=32, backbone_feature_sizes=[[32, 32], [16, 16], [8, 8]])  # fmt: skip
    s3d = dict(hidden_size=32, num_layers=1, num_attention_heads=2, intermediate_size=64)
    yield "sam3_tracker", lambda: tf.Sam3TrackerModel(tf.Sam3TrackerConfig(vision_config=s3v, prompt_encoder_config=dict(hidden_size=32, image_size=64, patch_size=8, mask_input_channels=4, num_point_embeddings=4), mask_decoder_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_dim=64, iou_head_hidden_dim=32, num_multimask_outputs=3))), "prompts", ["iou_scores", "pred_masks"]  # fmt: skip
    yield "sam3_lite_text", lambda: tf.Sam3LiteTextModel(tf.Sam3LiteTextConfig(vision_config=s3v, text_config=dict(vocab_size=1000, hidden_size=32, intermediate_size=64, projection_dim=32, num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=16, repmixer_kernel_size=3), geometry_encoder_config=s3d, detr_encoder_config=s3d, detr_decoder_config=dict(**s3d, num_queries=10), mask_decoder_config=dict(hidden_size=32, num_attention_heads=2, num_upsampling_stages=2))), "grounded", ["pred_logits", "pred_boxes", "pred_masks"]  # fmt: skip
    yield "neucodec", lambda: tf.NeuCodecModel(tf.NeuCodecConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2, head_dim=16, encoder_hidden_size=8, downsampling_ratios=[4, 8, 10], semantic_model_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, output_hidden_size=32, conv_depthwise_kernel_size=3), quantization_dim=64, quantization_levels=[4, 4, 4, 4], initializer_range=0.1)), "waveform_fbank", ["audio_codes", "audio_values"]  # fmt: skip
    # and seventy-nine of the newest: decoders (MLA with a sparse indexer, hyper-connections,
    # experts routed every way, linear attention beside full), encoders (ESM C, GTE, UltraBERT
    # and its image-text sibling), speech encoders and codecs (Granite Speech 5, Nemotron 3.5 ASR
    # and diarization, Parakeet TDT / RNN-T, X-Codec 2, Mimi's and WavTokenizer's encoders), and
    # vision towers alone, as their processors lay the patches out (a grid per image, Kimi K2.5's
    # 3x8x8 patches, VideoLLaMA 3's merge sizes, MiniCPM-OCR's images packed in one row)
    ex = dict(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32)
    dsx = dict(n_routed_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, n_group=1, topk_group=1)  # fmt: skip
    yield "axk1", lambda: tf.AXK1Model(tf.AXK1Config(**t, **mla, **dsx, num_key_value_heads=2, use_cache=False)), "text", last  # fmt: skip
    yield "axk2", lambda: tf.AXK2Model(tf.AXK2Config(**t, **mla, **dsx, num_key_value_heads=2, index_topk=4, index_head_dim=16, index_n_heads=2, use_cache=False)), "text", last  # fmt: skip
    yield "bailing_hybrid", lambda: tf.BailingHybridModel(tf.BailingHybridConfig(**t, **{**mla, "q_lora_rank": None}, num_key_value_heads=2, num_experts=4, num_experts_per_token=2, moe_intermediate_size=32, num_expert_group=1, topk_group=1, first_k_dense_replace=1, layer_group_size=2, linear_head_dim=16, linear_num_heads=2, pad_token_id=0, use_cache=False)), "text", last  # fmt: skip
    yield "beam", lambda: tf.BeamModel(tf.BeamConfig(**kv, head_dim=16)), "text", last
    yield "cohere2_moe", lambda: tf.Cohere2MoeModel(tf.Cohere2MoeConfig(**kv, head_dim=16)), "text", last  # fmt: skip
    yield "cwm", lambda: tf.CwmModel(tf.CwmConfig(**kv, head_dim=16)), "text", last
    yield "deepseek_v32", lambda: tf.DeepseekV32Model(tf.DeepseekV32Config(**t, **mla, **dsx, num_key_value_heads=2, first_k_dense_replace=1, index_topk=4, index_head_dim=16, index_n_heads=2, use_cache=False)), "text", last  # fmt: skip
    yield "deepseek_v4", lambda: tf.DeepseekV4Model(tf.DeepseekV4Config(**kv, head_dim=16, q_lora_rank=16, o_lora_rank=16, o_groups=2, n_routed_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, index_n_heads=2, index_head_dim=16, index_topk=4, sliding_window=4, qk_rope_head_dim=8)), "text", last  # fmt: skip
    yield "dory", lambda: tf.DoryModel(tf.DoryConfig(**kv, head_dim=16)), "text", last
    yield "dots1", lambda: tf.Dots1Model(tf.Dots1Config(**kv, **dsx, n_shared_experts=1, first_k_dense_replace=1)), "text", last  # fmt: skip
    yield "ergo", lambda: tf.ErgoModel(tf.ErgoConfig(**kv, **ex, first_dense_intermediate_size=64, shared_intermediate_size=32, sliding_window=4, global_attention_every_n_layers=2)), "text", last  # fmt: skip
    yield "flint", lambda: tf.FlintModel(tf.FlintConfig(**kv, head_dim=16)), "text", last
    yield "glm4_moe", lambda: tf.Glm4MoeModel(tf.Glm4MoeConfig(**kv, **dsx, first_k_dense_replace=1)), "text", last  # fmt: skip
    yield "glm4_moe_lite", lambda: tf.Glm4MoeLiteModel(tf.Glm4MoeLiteConfig(**t, **mla, **dsx, num_key_value_heads=2, use_cache=False)), "text", last  # fmt: skip
    yield "glm_moe_dsa", lambda: tf.GlmMoeDsaModel(tf.GlmMoeDsaConfig(**t, **mla, **dsx, num_key_value_heads=2, first_k_dense_replace=1, index_topk=4, index_head_dim=16, index_n_heads=2, use_cache=False)), "text", last  # fmt: skip
    yield "granite_swa", lambda: tf.GraniteSWAModel(tf.GraniteSWAConfig(**kv)), "text", last
    yield "granitemoe_swa", lambda: tf.GraniteMoeSWAModel(tf.GraniteMoeSWAConfig(**kv)), "text", last  # fmt: skip
    yield "granitemoeshared", lambda: tf.GraniteMoeSharedModel(tf.GraniteMoeSharedConfig(**kv)), "text", last  # fmt: skip
    yield "hrm_text", lambda: tf.HrmTextModel(tf.HrmTextConfig(**kv)), "text", last
    yield "hunyuan_v1_dense", lambda: tf.HunYuanDenseV1Model(tf.HunYuanDenseV1Config(**kv, head_dim=16)), "text", last  # fmt: skip
    yield "hy_v3", lambda: tf.HYV3Model(tf.HYV3Config(**kv, **ex, head_dim=16)), "text", last  # fmt: skip
    yield "hy_v4", lambda: tf.HYV4Model(tf.HYV4Config(**t, **mla, n_routed_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, num_key_value_heads=2, index_topk=4, index_head_dim=16, index_n_heads=2, pad_token_id=0, use_cache=False)), "text", last  # fmt: skip
    yield "hyperclovax", lambda: tf.HyperCLOVAXModel(tf.HyperCLOVAXConfig(**kv, head_dim=16)), "text", last  # fmt: skip
    yield "internlm3", lambda: tf.LlamaModel(tf.InternLM3Config(**kv, head_dim=16)), "text", last  # fmt: skip
    yield "iquestcoder", lambda: tf.LlamaModel(tf.IQuestCoderConfig(**kv, head_dim=16)), "text", last  # fmt: skip
    yield "kolibri1", lambda: tf.Kolibri1Model(tf.Kolibri1Config(**kv, head_dim=16, num_local_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, shared_expert_intermediate_size=32, sliding_window=4)), "text", last  # fmt: skip
    yield "laguna", lambda: tf.LagunaModel(tf.LagunaConfig(**kv, **ex, head_dim=16, shared_expert_intermediate_size=32, sliding_window=4)), "text", last  # fmt: skip
    yield "lara_mini", lambda: tf.LaraMiniModel(tf.LaraMiniConfig(**kv, **ex, head_dim=16, shared_expert_intermediate_size=32, linear_key_head_dim=8, linear_value_head_dim=8, linear_num_key_heads=2, linear_num_value_heads=4, sliding_window=4)), "text", last  # fmt: skip
    yield "mellum", lambda: tf.MellumModel(tf.MellumConfig(**kv, head_dim=16, num_local_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, sliding_window=4)), "text", last  # fmt: skip
    yield "mimo_v2_flash", lambda: tf.MiMoV2FlashModel(tf.MiMoV2FlashConfig(**kv, **dsx, head_dim=24, v_head_dim=16, sliding_window=4)), "text", last  # fmt: skip
    yield "minicpm5_moe", lambda: tf.MiniCPM5MoeModel(tf.MiniCPM5MoeConfig(**kv, **dsx, head_dim=16, pad_token_id=0)), "text", last  # fmt: skip
    yield "param2moe", lambda: tf.Glm4MoeModel(tf.Param2MoeConfig(**kv, **dsx, head_dim=16, first_k_dense_replace=1)), "text", last  # fmt: skip
    yield "sarvam_mla", lambda: tf.DeepseekV3Model(tf.SarvamMLAConfig(**t, **{**mla, "q_lora_rank": None}, **dsx, num_key_value_heads=2, first_k_dense_replace=1, use_cache=False)), "text", last  # fmt: skip
    yield "sarvam_moe", lambda: tf.Glm4MoeModel(tf.SarvamMoEConfig(**kv, **dsx, head_dim=16, first_k_dense_replace=1)), "text", last  # fmt: skip
    yield "solar_open", lambda: tf.SolarOpenModel(tf.SolarOpenConfig(**kv, **dsx, head_dim=16)), "text", last  # fmt: skip
    yield "youtu", lambda: tf.YoutuModel(tf.YoutuConfig(**t, **mla, num_key_value_heads=2, use_cache=False)), "text", last  # fmt: skip
    yield "zaya", lambda: tf.ZayaModel(tf.ZayaConfig(**kv, head_dim=16, num_experts=4, moe_intermediate_size=32, router_hidden_size=16)), "text", last  # fmt: skip
    yield "gemma4_unified_text", lambda: tf.Gemma4UnifiedTextModel(tf.Gemma4UnifiedTextConfig(**kv, head_dim=16)), "text", last  # fmt: skip
    yield "qwen3_5_moe_text", lambda: tf.Qwen3_5MoeTextModel(tf.Qwen3_5MoeTextConfig(**kv, **ex, head_dim=16, shared_expert_intermediate_size=32, linear_key_head_dim=8, linear_value_head_dim=8, linear_num_key_heads=2, linear_num_value_heads=4, layer_types=["linear_attention", "full_attention"])), "text", last  # fmt: skip
    yield "qwen4_exp_text", lambda: tf.Qwen4ExpTextModel(tf.Qwen4ExpTextConfig(**kv, **ex, head_dim=16, shared_expert_intermediate_size=32, linear_key_head_dim=8, linear_value_head_dim=8, linear_num_key_heads=2, linear_num_value_heads=4, hc_lowrank=8, ple_embed_dim=32, ngram_vocab_size_base=1000, split_ngram_parts=4)), "text", last  # fmt: skip
    yield "apertus1p5_text", lambda: tf.Apertus1p5TextModel(tf.Apertus1p5TextConfig(**kv, head_dim=16)), "text", last  # fmt: skip
    yield "minimax_m3_vl_text", lambda: tf.MiniMaxM3VLTextModel(tf.MiniMaxM3VLTextConfig(**kv, head_dim=16, num_local_experts=4, num_experts_per_tok=2, dense_intermediate_size=64, shared_intermediate_size=32, rotary_dim=8, index_n_heads=2, index_head_dim=16, index_block_size=4, index_topk_blocks=2)), "text", last  # fmt: skip
    yield "inkling2_text", lambda: tf.Inkling2TextModel(tf.Inkling2TextConfig(**kv, head_dim=16, swa_num_attention_heads=2, swa_num_key_value_heads=1, swa_head_dim=16, sliding_window_size=4, rel_extent=16, moe_intermediate_size=32, n_routed_experts=4, num_experts_per_tok=2, unpadded_vocab_size=1000)), "text", last  # fmt: skip
    yield "modernbert_decoder", lambda: tf.ModernBertDecoderModel(tf.ModernBertDecoderConfig(**kv, pad_token_id=0, cls_token_id=1, sep_token_id=2, local_attention=8, sliding_window=4)), "text", last  # fmt: skip
    yield "esmc", lambda: tf.EsmcModel(tf.EsmcConfig(**t, head_dim=16)), "text", last
    yield "gte", lambda: tf.GteModel(tf.GteConfig(**t)), "text", last
    yield "neomme", lambda: tf.NeoMMEModel(tf.NeoMMEConfig(**t, num_key_value_heads=1, head_dim=16, embedding_rank=16, sliding_window=4)), "text", last  # fmt: skip
    yield "ultrabert", lambda: tf.UltrabertModel(tf.UltrabertConfig(**t, head_dim=16, sliding_window=4, layer_types=["sliding_attention", "full_attention"])), "text", last  # fmt: skip
    yield "ultravbert", lambda: tf.UltraVBertModel(tf.UltraVBertConfig(text_config=dict(**{**t, "max_position_embeddings": 256}, head_dim=16, sliding_window=4, layer_types=["sliding_attention", "full_attention"]), vision_config={**v, "image_size": 64, "patch_size": 8}, image_token_id=999, pixel_shuffle_factor=2)), "images16", last  # fmt: skip
    yield "openai_privacy_filter", lambda: tf.OpenAIPrivacyFilterModel(tf.OpenAIPrivacyFilterConfig(**t, num_key_value_heads=1, head_dim=16, num_local_experts=4, num_experts_per_tok=2, sliding_window=4, pad_token_id=0)), "text", last  # fmt: skip
    yield "embedding_gemma2_text", lambda: tf.EmbeddingGemma2TextModel(tf.EmbeddingGemma2TextConfig(**t, num_key_value_heads=1, head_dim=16, sliding_window=4, hidden_size_per_layer_input=16, embedding_dim=32, per_layer_config={})), "text", last  # fmt: skip
    yield "camembert", lambda: tf.CamembertModel(tf.CamembertConfig(**{**t, "max_position_embeddings": 66})), "text", last  # fmt: skip
    yield "granite_speech5_ctc", lambda: tf.GraniteSpeech5ForCTC(tf.GraniteSpeech5CTCConfig(vocab_size=64, encoder_config=dict(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2, head_dim=16, num_mel_bins=4, context_size=16, conv_kernel_size=7))), "frames16", ["logits"]  # fmt: skip
    yield "granite_speech5_encoder", lambda: tf.GraniteSpeech5Encoder(tf.GraniteSpeech5EncoderConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2, head_dim=16, num_mel_bins=4, context_size=16, conv_kernel_size=7)), "frames16", last  # fmt: skip
    yield "nemotron3_5_asr_encoder", lambda: tf.Nemotron3_5AsrForRNNT(tf.Nemotron3_5AsrConfig(vocab_size=65, blank_token_id=64, decoder_hidden_size=32, prompt_intermediate_size=32, num_prompts=4, default_prompt_id=1, encoder_config={**asr, "sliding_window": 8, "default_num_lookahead_tokens": 2})).encoder, "frames16", last  # fmt: skip
    yield "nemotron3_diarization", lambda: tf.Nemotron3DiarizationModel(tf.Nemotron3DiarizationConfig(audio_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2, num_mel_bins=16), head_config=dict(hidden_size=16, num_speakers=4, audio_hidden_size=32), streaming_config=dict(num_speakers=4))), "frames16", last  # fmt: skip
    yield "parakeet_tdt_encoder", lambda: tf.ParakeetForTDT(tf.ParakeetTDTConfig(vocab_size=65, blank_token_id=64, pad_token_id=2, decoder_hidden_size=32, encoder_config=asr)).encoder, "frames16", last  # fmt: skip
    yield "parakeet_rnnt_encoder", lambda: tf.ParakeetForRNNT(tf.ParakeetRNNTConfig(vocab_size=65, blank_token_id=64, pad_token_id=2, decoder_hidden_size=32, encoder_config=asr)).encoder, "frames16", last  # fmt: skip
    yield "xcodec2", lambda: tf.Xcodec2Model(tf.Xcodec2Config(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2, head_dim=16, encoder_hidden_size=8, downsampling_ratios=[4, 8, 10], semantic_model_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, output_hidden_size=32, conv_depthwise_kernel_size=3), quantization_dim=64, quantization_levels=[4, 4, 4, 4], initializer_range=0.1)), "waveform_fbank", ["audio_codes", "audio_values"]  # fmt: skip
    yield "mimi_encoder", lambda: tf.MimiEncoderModel(tf.MimiEncoderConfig(hidden_size=32, num_filters=8, upsample_groups=32, vector_quantization_hidden_dimension=16, upsampling_ratios=[4, 2], num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2, head_dim=16, intermediate_size=64, codebook_size=32, codebook_dim=16, num_quantizers=4, num_semantic_quantizers=1, sliding_window=16)), "waveform", ["latents"]  # fmt: skip
    yield "wavtokenizer_encoder", lambda: _coded(tf.WavTokenizerEncoderModel(tf.WavTokenizerEncoderConfig(num_filters=8, upsampling_ratios=[4, 2], hidden_size=32, codebook_size=64, codebook_dim=32, num_lstm_layers=1))), "waveform", ["audio_codes"]  # fmt: skip
    yield "omniasr_audio", lambda: tf.OmniASRAudioModel(tf.OmniASRAudioConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, conv_dim=[16, 16], conv_stride=[5, 2], conv_kernel=[10, 3], num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)), "waveform", last  # fmt: skip
    yield "moss_transcribe_diarize_audio", lambda: tf.MossTranscribeDiarizeAudioModel(tf.MossTranscribeDiarizeAudioConfig(num_mel_bins=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, hidden_size=32, max_source_positions=50)), "features", last  # fmt: skip
    samv = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_dim=64, image_size=64, patch_size=8, output_channels=32, window_size=4, global_attn_indexes=[1], num_pos_feats=16, initializer_range=0.02)  # fmt: skip
    yield "sam_vision_model", lambda: tf.SamVisionModel(tf.SamVisionConfig(**samv)), "image", last  # fmt: skip
    yield "sam_hq_vision_model", lambda: tf.SamHQVisionModel(tf.SamHQVisionConfig(**samv)), "image", last  # fmt: skip
    yield "internvl_vision", lambda: tf.InternVLVisionModel(tf.InternVLVisionConfig(**v, image_size=[64, 64], patch_size=[8, 8])), "image", last  # fmt: skip
    yield "smolvlm_vision", lambda: tf.SmolVLMVisionTransformer(tf.SmolVLMVisionConfig(**v, image_size=64, patch_size=8)), "image", last  # fmt: skip
    yield "qianfan_ocr_vision", lambda: tf.QianfanOCRVisionModel(tf.QianfanOCRVisionConfig(**v, image_size=[64, 64], patch_size=[8, 8])), "image", last  # fmt: skip
    yield "minicpm_ocr_vision", lambda: tf.MiniCPMOcrVisionModel(tf.MiniCPMOcrVisionConfig(**v, image_size=64, patch_size=8, insert_layer_id=1)), "packed_sizes", last  # fmt: skip
    yield "kimi_k25_vision", lambda: tf.Kimi_K25VisionModel(tf.Kimi_K25VisionConfig(**v, patch_size=8, pos_emb_height=16, pos_emb_width=16)), "grid_pixels_chw", pool  # fmt: skip
    yield "ovis2_5_vision", lambda: tf.Ovis2_5VisionModel(tf.Ovis2_5VisionConfig(**v, patch_size=8, image_size=64, vocab_size=64, window_size=32, layer_types=None)), "grid_pixels192", last  # fmt: skip
    yield "lfm3_vl_vision", lambda: tf.Lfm3VlVisionModel(tf.Lfm3VlVisionConfig(**v, num_key_value_heads=1, patch_size=8, layer_types=["conv", "full_attention"])), "grid_pixels", last  # fmt: skip
    yield "exaone4_5_vision", lambda: tf.Exaone4_5_VisionModel(tf.Exaone4_5_VisionConfig(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, num_key_value_heads=1, patch_size=8, window_size=32, out_hidden_size=32, fullatt_block_indexes=[1])), "grid_tower", pool  # fmt: skip
    yield "video_llama_3_vision", lambda: tf.VideoLlama3VisionModel(tf.VideoLlama3VisionConfig(**v, patch_size=8)), "grid_merged192", last  # fmt: skip
    yield "llava_onevision1_5_vision", lambda: tf.LlavaOnevision15VisionModel(tf.LlavaOnevision15VisionConfig(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=8, out_hidden_size=32)), "grid_pixels192", pool  # fmt: skip
    yield "rf_detr_dinov2", lambda: tf.RfDetrDinov2Backbone(tf.RfDetrDinov2Config(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, image_size=64, patch_size=8, num_windows=2, window_block_indexes=[0, 2], out_features=["stage2", "stage4"])), "image", ["feature_maps"]  # fmt: skip
    yield "uvdoc_backbone", lambda: tf.UVDocBackbone(tf.UVDocBackboneConfig()), "image128", ["feature_maps"]  # fmt: skip
    yield "slanext_vision", lambda: tf.models.slanext.modeling_slanext.SLANeXtVisionEncoder(tf.SLANeXtVisionConfig(hidden_size=32, output_channels=32, num_hidden_layers=2, num_attention_heads=2, image_size=64, patch_size=8, window_size=4, global_attn_indexes=[1], mlp_dim=64, initializer_range=0.02)), "image", last  # fmt: skip
    yield "pp_ocrv5_mobile_rec", lambda: tf.PPOCRV5MobileRecModel(tf.PPOCRV5MobileRecConfig()), "text_line", last  # fmt: skip
    # and twenty-five more: text decoders of the newest multimodal models alone (Step 3.7,
    # GLM-5-Next's linear and indexed attention, Mistral Large 4, Muse Spark, HY-V4-VL, Granite 4
    # Vision, Cosmos 3 Edge, dots.3 note), Kolibri 1.1, MetaCLIP 2's text tower, speech and music
    # models' parts (CLVP's text encoder, Bark's semantic model, MusicGen Melody's decoder, CSM's
    # depth decoder, Dia's encoder, Granite Speech Plus's CTC encoder, Audio Flamingo 3's encoder,
    # Muse Spark's waveform encoder) and vision towers alone (Step 3.7's, GLM-5-Next's, Muse
    # Spark's, HY-V4-VL's, Cosmos 3 Edge's, dots.3 note's with experts, Unlimited OCR's SAM)
    ix = dict(index_topk=4, index_head_dim=16, index_n_heads=2)
    mla_nope = {**mla, "qk_rope_head_dim": 0, "qk_nope_head_dim": 16}
    rope3 = dict(rope_type="default", rope_theta=10000.0)
    yield "step3p7_text", lambda: tf.Step3p7TextModel(tf.Step3p7TextConfig(**kv, head_dim=16, num_local_experts=4, n_routed_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, share_expert_dim=32, sliding_window=4)), "text", last  # fmt: skip
    yield "glm5_next_text", lambda: tf.Glm5NextTextModel(tf.Glm5NextTextConfig(**t, **mla_nope, **dsx, **ix, num_key_value_heads=2, index_kpool=2, linear_head_dim=16, linear_num_heads=2, layer_types=["linear_attention", "indexed_attention"], mlp_layer_types=["dense", "sparse"], pad_token_id=0, use_cache=False)), "text", last  # fmt: skip
    yield "mistral_large4_text", lambda: tf.MistralLarge4TextModel(tf.MistralLarge4TextConfig(**t, **{**mla, "q_lora_rank": None}, **dsx, **ix, num_key_value_heads=2, first_k_dense_replace=1, use_cache=False)), "text", last  # fmt: skip
    yield "muse_spark_text", lambda: tf.MuseSparkTextModel(tf.MuseSparkTextConfig(**kv, head_dim=16, sliding_window=4, num_local_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, moe_hidden_size=32)), "text", last  # fmt: skip
    yield "kolibri1_1", lambda: tf.Kolibri1_1Model(tf.Kolibri1_1Config(**kv, head_dim=16, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, shared_expert_intermediate_size=32, sliding_window=4, index_topk=4, index_num_heads=2)), "text", last  # fmt: skip
    yield "hy_v4_vl_text", lambda: tf.HYV4VLTextModel(tf.HYV4VLTextConfig(**t, **mla, **ix, num_key_value_heads=2, n_routed_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, rope_parameters={**rope3, "mrope_section": [2, 1, 1]}, pad_token_id=0, use_cache=False)), "text", last  # fmt: skip
    yield "granite4_vision_text", lambda: tf.Granite4VisionTextModel(tf.Granite4VisionTextConfig(**kv)), "text", last  # fmt: skip
    yield "cosmos3_edge_text", lambda: tf.Cosmos3EdgeTextModel(tf.Cosmos3EdgeTextConfig(**kv, head_dim=16, rope_parameters={**rope3, "mrope_section": [4, 2, 2]})), "text", last  # fmt: skip
    yield "dots3_note_text", lambda: tf.Dots3NoteTextModel(tf.Dots3NoteTextConfig(**{**kv, "num_key_value_heads": 2}, **mla, **dsx, **ix, head_dim=16, sliding_window=4, shared_experts_intermediate_size=32, pad_token_id=0)), "text", last  # fmt: skip
    yield "metaclip_2_text", lambda: tf.MetaClip2TextModel(tf.MetaClip2TextConfig(**{**t, "max_position_embeddings": 16})), "text", pool  # fmt: skip
    yield "clvp_encoder", lambda: tf.ClvpEncoder(tf.ClvpEncoderConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, projection_dim=32)), "text", last  # fmt: skip
    yield "bark_semantic", lambda: tf.BarkSemanticModel(tf.BarkSemanticConfig(input_vocab_size=1000, output_vocab_size=1000, hidden_size=32, num_layers=2, num_heads=2, block_size=64, use_cache=False)), "tokens", ["logits"]  # fmt: skip
    yield "musicgen_melody", lambda: tf.MusicgenMelodyForCausalLM(tf.MusicgenMelodyDecoderConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, ffn_dim=64, max_position_embeddings=64, num_codebooks=4, use_cache=False)), "codebooks", ["logits"]  # fmt: skip
    yield "csm_depth_decoder", lambda: tf.CsmDepthDecoderModel(tf.CsmDepthDecoderConfig(num_codebooks=8, backbone_hidden_size=32, vocab_size=1000, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=16, use_cache=False)), "tokens", last  # fmt: skip
    yield "dia_encoder", lambda: tf.models.dia.modeling_dia.DiaEncoder(tf.DiaEncoderConfig(vocab_size=1000, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=64)), "text", last  # fmt: skip
    yield "granite_speech_plus_ctc", lambda: tf.GraniteSpeechPlusCTCEncoder(tf.GraniteSpeechPlusEncoderConfig(input_dim=16, num_layers=2, hidden_dim=32, feedforward_mult=2, num_heads=2, dim_head=16, output_dim=32, context_size=8)), "feature_frames", last  # fmt: skip
    yield "audioflamingo3_encoder", lambda: tf.AudioFlamingo3Encoder(tf.AudioFlamingo3EncoderConfig(num_mel_bins=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, hidden_size=32, max_source_positions=100)), "mel_chunks", last  # fmt: skip
    yield "muse_spark_audio", lambda: tf.MuseSparkAudioModel(tf.MuseSparkAudioConfig(patch_sizes=(4, 5, 4, 5), hidden_sizes=(8, 16, 32, 32), depths=(1, 1, 1, 1), num_hidden_layers=4, out_hidden_size=32)), "audio", last  # fmt: skip
    yield "step3p7_vision", lambda: tf.Step3p7VisionModel(tf.Step3p7VisionConfig(**v, image_size=64, patch_size=8)), "image", last  # fmt: skip
    yield "glm5_next_vision", lambda: tf.Glm5NextVisionModel(tf.Glm5NextVisionConfig(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, image_size=32, patch_size=8, spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=32, projection_intermediate_size=64)), "grid_tower", last  # fmt: skip
    yield "muse_spark_vision", lambda: tf.MuseSparkVisionModel(tf.MuseSparkVisionConfig(**v, patch_size=8, pos_emb_height=16, pos_emb_width=16, patch_temporal=2, merge_size=2)), "grid_pixels", last  # fmt: skip
    yield "hy_v4_vl_vision", lambda: tf.HYV4VLVisionModel(tf.HYV4VLVisionConfig(**v, num_key_value_heads=1, patch_size=8, spatial_merge_size=2, out_hidden_size=32, max_image_size=64)), "grid_pixels192", last  # fmt: skip
    yield "cosmos3_edge_vision", lambda: tf.Cosmos3EdgeVisionModel(tf.Cosmos3EdgeVisionConfig(**v, patch_size=8, spatial_merge_size=2, num_patches=64)), "grid_pixels192", last  # fmt: skip
    yield "dots3_note_vision", lambda: tf.Dots3NoteVisionModel(tf.Dots3NoteVisionConfig(**v, patch_size=8, spatial_merge_size=2, moe_intermediate_size=32, num_local_experts=4, num_experts_per_tok=2, adapter_in_dim=32, adapter_out_dim=32, mlp_layer_types=["dense", "sparse"])), "grid_pixels192", last  # fmt: skip
    yield "unlimited_ocr_vision", lambda: tf.UnlimitedOcrVisionModel(tf.UnlimitedOcrVisionConfig(sam_config=dict(hidden_size=32, output_channels=16, num_hidden_layers=2, num_attention_heads=2, image_size=64, patch_size=8, window_size=4, global_attn_indexes=[1], mlp_dim=64, downsample_channels=[32, 32], initializer_range=0.02), encoder_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1))), "image", last  # fmt: skip
    # and twenty-seven more: vision towers alone on their processors' patch grids (Qwen2.5-VL's,
    # Qwen3-VL's with deepstack, GLM-4V's and GLM-OCR's, Cohere Compass's, Qwen4's, HunYuan-VL's,
    # GLM-Image's, Muse Glimmer's) or on an image (Chinese-CLIP's, SAM 3's with its FPN,
    # Idefics3's, MaskFormer's Swin), text decoders of multimodal models alone (Qwen2.5-VL's and
    # Qwen3-VL's multimodal rotary, GLM-4V's), RoBERTa, Ministral, GLM, GraniteMoE, Zamba,
    # GPT-NeoX Japanese, text towers (TIPSv2's, SAM 3 Lite's, Cohere Compass's), NLLB-MoE's
    # experts, and Nemotron 3 diarization's audio encoder
    q25v = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=8, spatial_merge_size=2, temporal_patch_size=2, window_size=32, out_hidden_size=32, fullatt_block_indexes=[1])  # fmt: skip
    q3v = dict(depth=2, hidden_size=32, num_heads=2, intermediate_size=64, patch_size=8, spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=32, num_position_embeddings=64)  # fmt: skip
    yield "qwen2_5_vl_vision", lambda: tf.Qwen2_5_VisionTransformerPretrainedModel(tf.Qwen2_5_VLVisionConfig(**q25v)), "grid_tower", pool  # fmt: skip
    yield "qwen3_vl_vision", lambda: tf.Qwen3VLVisionModel(tf.Qwen3VLVisionConfig(**q3v, deepstack_visual_indexes=[1])), "grid_tower", pool  # fmt: skip
    yield "glm4v_vision", lambda: tf.Glm4vVisionModel(tf.Glm4vVisionConfig(**glmv)), "grid_tower", pool  # fmt: skip
    yield "glm_ocr_vision", lambda: tf.GlmOcrVisionModel(tf.GlmOcrVisionConfig(**glmv)), "grid_tower", pool  # fmt: skip
    yield "cohere_compass_vision", lambda: tf.CohereCompassVisionModel(tf.CohereCompassVisionConfig(**q3v, deepstack_visual_indexes=[1])), "grid_tower", pool  # fmt: skip
    yield "qwen4_exp_vision", lambda: tf.Qwen4ExpVisionModel(tf.Qwen4ExpVisionConfig(**q3v)), "grid_tower", pool  # fmt: skip
    yield "hunyuan_vl_vision", lambda: tf.HunYuanVLVisionTransformer(tf.HunYuanVLVisionConfig(**v, patch_size=8, spatial_merge_size=2, out_hidden_size=32)), "grid_pixels192", last  # fmt: skip
    yield "glm_image_vision", lambda: tf.GlmImageVisionModel(tf.GlmImageVisionConfig(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, image_size=64, patch_size=8)), "grid_pixels192", last  # fmt: skip
    yield "muse_glimmer_vision", lambda: tf.MuseGlimmerVisionModel(tf.MuseGlimmerVisionConfig(**v, patch_size=8, pos_emb_height=16, pos_emb_width=16, patch_temporal=2, merge_size=2)), "grid_pixels", last  # fmt: skip
    yield "chinese_clip_vision", lambda: tf.ChineseCLIPVisionModel(tf.ChineseCLIPVisionConfig(**v, image_size=64, patch_size=8)), "image", pool  # fmt: skip
    yield "sam3_vision", lambda: tf.Sam3VisionModel(tf.Sam3VisionConfig(**{k: x for k, x in s3v.items() if k != "model_type"})), "image", ["last_hidden_state"]  # fmt: skip
    yield "idefics3_vision", lambda: tf.Idefics3VisionTransformer(tf.Idefics3VisionConfig(**v, image_size=64, patch_size=8)), "image", last  # fmt: skip
    yield "maskformer_swin", lambda: tf.MaskFormerSwinModel(tf.MaskFormerSwinConfig(image_size=64, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[1, 2], window_size=4)), "image", pool  # fmt: skip
    yield "qwen2_5_vl_text", lambda: tf.Qwen2_5_VLTextModel(tf.Qwen2_5_VLTextConfig(**lm, rope_parameters={**rope3, "mrope_section": [2, 3, 3]})), "text", last  # fmt: skip
    yield "qwen3_vl_text", lambda: tf.Qwen3VLTextModel(tf.Qwen3VLTextConfig(**lm, head_dim=16, rope_parameters={**rope3, "mrope_section": [2, 2, 4], "mrope_interleaved": True})), "text", last  # fmt: skip
    yield "glm4v_text", lambda: tf.Glm4vTextModel(tf.Glm4vTextConfig(**glmt)), "text", last
    yield "roberta", lambda: tf.RobertaModel(tf.RobertaConfig(**{**t, "max_position_embeddings": 66})), "text", last  # fmt: skip
    yield "ministral", lambda: tf.MinistralModel(tf.MinistralConfig(**kv, head_dim=16, sliding_window=4)), "text", last  # fmt: skip
    yield "glm", lambda: tf.GlmModel(tf.GlmConfig(**kv, head_dim=16, pad_token_id=0)), "text", last
    yield "granitemoe", lambda: tf.GraniteMoeModel(tf.GraniteMoeConfig(**kv, num_local_experts=4, num_experts_per_tok=2)), "text", last  # fmt: skip
    yield "zamba", lambda: tf.ZambaModel(tf.ZambaConfig(vocab_size=1000, hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=2, num_key_value_heads=2, attention_hidden_size=64, attention_head_dim=32, n_mamba_heads=2, mamba_d_state=8, mamba_dt_rank=4, layers_block_type=["hybrid", "mamba", "hybrid"], use_cache=False)), "text", last  # fmt: skip
    yield "tipsv2_text", lambda: tf.Tipsv2TextModel(tf.Tipsv2TextConfig(**t)), "text", last
    yield "sam3_lite_text_text", lambda: tf.Sam3LiteTextTextModel(tf.Sam3LiteTextTextConfig(vocab_size=1000, hidden_size=32, intermediate_size=64, projection_dim=32, num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=16, repmixer_kernel_size=3)), "text", last  # fmt: skip
    yield "cohere_compass_text", lambda: tf.CohereCompassTextModel(tf.CohereCompassTextConfig(**kv, head_dim=16, pad_token_id=0, rope_parameters={"full_attention": rope3})), "text", last  # fmt: skip
    yield "nllb_moe", lambda: tf.NllbMoeModel(tf.NllbMoeConfig(**s2s, num_experts=4, expert_capacity=8, encoder_sparse_step=1, decoder_sparse_step=1)), "seq2seq", last  # fmt: skip
    yield "nemotron3_diarization_audio", lambda: tf.Nemotron3DiarizationAudioModel(tf.Nemotron3DiarizationAudioConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2, num_mel_bins=16)), "frames16", last  # fmt: skip
    yield "gpt_neox_japanese", lambda: tf.GPTNeoXJapaneseModel(tf.GPTNeoXJapaneseConfig(vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_multiple_size=2, max_position_embeddings=64, use_cache=False)), "text", last  # fmt: skip
    # and twenty more: dual encoders whole (CLIP, ALIGN's EfficientNet and BERT, CLAP on text and
    # a mel spectrogram, VideoPrism and PE Video on video and text, PE Audio on a waveform and
    # text), BridgeTower's cross-modal layers (text, an image and its pixel mask), seq2seq models
    # (MVP, BlenderbotSmall, Dia's text to 4 codebooks per step, DiffusionGemma's encoder and
    # canvas decoder with experts), text models (CPM-Ant's prompt ids, BERT-Generation, EXAONE,
    # Inkling's hybrid attention and experts, T5Gemma 2's encoder, Moshi's temporal decoder),
    # Llama 4's vision tower and two codec decoders on latents (VibeVoice's, Pocket TTS's)
    yield "clip", lambda: tf.CLIPModel(tf.CLIPConfig(text_config={**t, "max_position_embeddings": 16}, vision_config={**v, "image_size": 64, "patch_size": 8}, projection_dim=32)), "grounded", ["logits_per_image"]  # fmt: skip
    yield "align", lambda: tf.AlignModel(tf.AlignConfig(text_config=t, vision_config=dict(image_size=64, width_coefficient=0.25, depth_coefficient=0.25, hidden_dim=320), projection_dim=80)), "grounded", ["logits_per_image"]  # fmt: skip
    yield "clap", lambda: tf.ClapModel(tf.ClapConfig(text_config={**t, "max_position_embeddings": 66, "projection_dim": 32}, audio_config=dict(hidden_size=32, patch_embeds_hidden_size=16, depths=[1, 1], num_attention_heads=[1, 2], window_size=4, spec_size=64, num_mel_bins=16, patch_size=4, enable_fusion=False, projection_dim=32), projection_dim=32)), "mel4_text", ["logits_per_audio"]  # fmt: skip
    yield "videoprism_clip", lambda: tf.VideoPrismClipModel(tf.VideoPrismConfig(text_config=t, vision_config=dict(hidden_size=32, intermediate_size=64, num_attention_heads=2, num_spatial_layers=1, num_temporal_layers=1, num_auxiliary_layers=1, image_size=64, tubelet_size=[1, 8, 8], num_frames=4))), "videos_text", ["logits_per_video"]  # fmt: skip
    pe_text = dict(model_type="modernbert", **t, global_attn_every_n_layers=2, local_attention=8, pad_token_id=0, bos_token_id=1, eos_token_id=2, cls_token_id=1, sep_token_id=2)  # fmt: skip
    yield "pe_audio_text", lambda: tf.PeAudioModel(tf.PeAudioConfig(text_config=pe_text, audio_config=dict(dac_config=dict(encoder_hidden_size=8, downsampling_ratios=[2, 4], decoder_hidden_size=16, hidden_size=16, n_codebooks=2, codebook_size=16, codebook_dim=4), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, head_dim=16))), "waveform_text", ["text_audio_embeds", "audio_embeds"]  # fmt: skip
    yield "pe_video_text", lambda: tf.PeVideoModel(tf.PeVideoConfig(text_config=pe_text, video_config=dict(vision_config=tf.ViTConfig(**v, image_size=64, patch_size=8, num_labels=32), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, head_dim=16))), "videos_text", ["text_video_embeds", "video_embeds"]  # fmt: skip
    yield "bridgetower", lambda: tf.BridgeTowerModel(tf.BridgeTowerConfig(text_config={**t, "hidden_size": 64, "max_position_embeddings": 66}, vision_config=dict(hidden_size=64, num_hidden_layers=2, image_size=64, patch_size=8), hidden_size=64, num_hidden_layers=2, num_attention_heads=2)), "text_image_mask", ["text_features", "image_features"]  # fmt: skip
    yield "mvp", lambda: tf.MvpModel(tf.MvpConfig(**s2s)), "seq2seq", last
    yield "blenderbot_small", lambda: tf.BlenderbotSmallModel(tf.BlenderbotSmallConfig(**s2s)), "seq2seq", last  # fmt: skip
    yield "dia", lambda: tf.DiaModel(tf.DiaConfig(encoder_config=dict(vocab_size=1000, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=64), decoder_config=dict(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, head_dim=16, cross_num_attention_heads=2, cross_head_dim=16, cross_num_key_value_heads=2, cross_hidden_size=32, num_channels=4, max_position_embeddings=64, pad_token_id=61, eos_token_id=60, bos_token_id=62), delay_pattern=[0, 1, 2, 3], use_cache=False)), "seq2seq_codes4", last  # fmt: skip
    yield "diffusion_gemma", lambda: tf.DiffusionGemmaModel(tf.DiffusionGemmaConfig(text_config=dict(**kv, head_dim=16, sliding_window=4, per_layer_config={}, num_experts=4, top_k_experts=2, moe_intermediate_size=32), vision_config=dict(**v, num_key_value_heads=2, head_dim=16, patch_size=8, pooling_kernel_size=2, position_embedding_size=64), boi_token_id=997, eoi_token_id=998, image_token_id=999)), "seq2seq", last  # fmt: skip
    yield "cpmant", lambda: tf.CpmAntModel(tf.CpmAntConfig(vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, dim_head=16, dim_ff=64, prompt_types=3, prompt_length=4, segment_types=4, use_cache=False)), "tokens", last  # fmt: skip
    yield "bert_generation", lambda: tf.BertGenerationEncoder(tf.BertGenerationConfig(**t)), "text", last  # fmt: skip
    yield "exaone", lambda: tf.LlamaModel(tf.ExaoneConfig(**kv, head_dim=16)), "text", last
    yield "inkling_text", lambda: tf.InklingTextModel(tf.InklingTextConfig(**kv, head_dim=16, swa_num_attention_heads=2, swa_num_key_value_heads=1, swa_head_dim=16, sliding_window_size=4, rel_extent=16, moe_intermediate_size=32, n_routed_experts=4, num_experts_per_tok=2, n_shared_experts=1, layer_types=["hybrid_sliding", "hybrid"], mlp_layer_types=["dense", "sparse"])), "text", last  # fmt: skip
    yield "t5gemma2_encoder", lambda: tf.T5Gemma2Encoder(tf.T5Gemma2EncoderConfig(text_config=dict(**kv, head_dim=16, sliding_window=4, dropout_rate=0.0), vision_config=dict(**v, image_size=64, patch_size=8), mm_tokens_per_image=16, boi_token_index=997, eoi_token_index=998, image_token_index=999)), "text", last  # fmt: skip
    yield "moshi", lambda: tf.MoshiModel(tf.MoshiConfig(**kv, head_dim=16, ffn_dim=128, sliding_window=16, audio_vocab_size=64, num_codebooks=4)), "text", last  # fmt: skip
    yield "llama4_vision", lambda: tf.Llama4VisionModel(tf.Llama4VisionConfig(**{**v, "intermediate_size": 128}, image_size=64, patch_size=8, vision_output_dim=32, projector_input_dim=32, projector_output_dim=32)), "image", last  # fmt: skip
    yield "vibevoice_acoustic_decoder", lambda: tf.VibeVoiceAcousticTokenizerModel(tf.VibeVoiceAcousticTokenizerConfig(hidden_size=16, num_filters=8, downsampling_ratios=[2, 4], depths=[1, 1, 1], layer_scale_init_value=0.1)).decoder, "latent_states16", ["audio"]  # fmt: skip
    yield "pocket_tts_codec_decoder", lambda: tf.PocketTTSAudioTokenizerModel(tf.PocketTTSAudioTokenizerConfig(hidden_size=32, num_filters=8, upsampling_ratios=[4, 2], num_hidden_layers=1, intermediate_size=64, num_attention_heads=2, num_key_value_heads=2, head_dim=16, latent_dim=8, upsample_groups=32, latent_stride=2, layer_scale_initial_scale=1.0)).decoder, "latents32", ["audio_values"]  # fmt: skip
    # and eleven more: whole models whose towers were here alone (SigLIP 2's dual encoder on
    # NaFlex patches and text, SAM 3's text-prompted detector, Qwen3.5 with its vision tower's
    # patch grid, Qwen2-Audio: ids holding a log-mel's audio tokens, Phi-4-multimodal on text),
    # LLaVA-NeXT-Video on images, Nougat (Donut's Swin to an mBART decoder), TVP (a ResNet on 4
    # frames, a visual prompt and text; batch 1 only), SeamlessM4T speech to text and text to
    # text, Idefics (gated cross-attention to a perceiver's image latents)
    yield "siglip2", lambda: tf.Siglip2Model(tf.Siglip2Config(text_config=t, vision_config={**v, "patch_size": 8, "num_patches": 64})), "naflex_text", ["logits_per_image"]  # fmt: skip
    yield "sam3", lambda: tf.Sam3Model(tf.Sam3Config(vision_config=s3v, text_config=dict(vocab_size=1000, hidden_size=32, intermediate_size=64, projection_dim=32, num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=16), geometry_encoder_config=s3d, detr_encoder_config=s3d, detr_decoder_config=dict(**s3d, num_queries=10), mask_decoder_config=dict(hidden_size=32, num_attention_heads=2, num_upsampling_stages=2))), "grounded", ["pred_logits", "pred_boxes", "pred_masks"]  # fmt: skip
    yield "qwen3_5", lambda: tf.Qwen3_5Model(tf.Qwen3_5Config(vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=8, spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=32, num_position_embeddings=64), text_config=dict(**lm, head_dim=16), image_token_id=999, video_token_id=996, vision_start_token_id=997, vision_end_token_id=998)), "grid12", last  # fmt: skip
    yield "llava_next_video", lambda: tf.LlavaNextVideoModel(tf.LlavaNextVideoConfig(vision_config={**vis, "model_type": "clip_vision_model"}, text_config={**lm, "model_type": "llama"}, image_token_index=999, video_token_index=998, image_grid_pinpoints=[[32, 32], [32, 64], [64, 32], [64, 64]])), "anyres_sized", last  # fmt: skip
    yield "nougat", lambda: tf.VisionEncoderDecoderModel(encoder=tf.DonutSwinModel(tf.DonutSwinConfig(image_size=64, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[1, 2], window_size=4)), decoder=tf.MBartForCausalLM(tf.MBartConfig(vocab_size=1000, d_model=32, decoder_layers=2, decoder_attention_heads=2, decoder_ffn_dim=64, max_position_embeddings=64, add_cross_attention=True, is_decoder=True, scale_embedding=True, use_cache=False))), "image_text", ["logits"]  # fmt: skip
    yield "tvp", lambda: tf.TvpModel(tf.TvpConfig(backbone_config=tf.ResNetConfig(embedding_size=16, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], layer_type="basic", out_features=["stage4"]), **t, max_img_size=64, visual_prompt_size=8, num_frames=4)), "video_text1", last  # fmt: skip
    yield "qwen2_audio", lambda: tf.Qwen2AudioForConditionalGeneration(tf.Qwen2AudioConfig(audio_config=dict(num_mel_bins=16, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64, d_model=32, max_source_positions=50), text_config=dict(**lm, model_type="qwen2"), audio_token_index=999)), "audio_tokens25", ["logits"]  # fmt: skip
    m4t = dict(vocab_size=1000, hidden_size=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64, speech_encoder_layers=2, speech_encoder_attention_heads=2, speech_encoder_intermediate_size=64, feature_projection_input_dim=20, t2u_encoder_layers=1, t2u_decoder_layers=1, use_cache=False)  # fmt: skip
    yield "seamless_m4t_s2t", lambda: tf.SeamlessM4TForSpeechToText(tf.SeamlessM4TConfig(**m4t)), "frames_text", ["logits"]  # fmt: skip
    yield "seamless_m4t_t2t", lambda: tf.SeamlessM4TForTextToText(tf.SeamlessM4TConfig(**m4t)), "seq2seq", ["logits"]  # fmt: skip
    yield "idefics", lambda: tf.IdeficsModel(tf.IdeficsConfig(**{**t, "max_position_embeddings": 256}, vision_config=dict(embed_dim=32, image_size=64, patch_size=8, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64), perceiver_config=dict(use_resampler=True, resampler_n_latents=8, resampler_depth=1, resampler_n_heads=2, resampler_head_dim=16), cross_layer_interval=1, use_cache=False)), "image_cross", last  # fmt: skip
    yield "phi4_multimodal", lambda: tf.Phi4MultimodalModel(tf.Phi4MultimodalConfig(**kv, pad_token_id=0, bos_token_id=1, eos_token_id=2, vision_config=dict(**v, image_size=64, patch_size=8), audio_config=dict(hidden_size=32, num_blocks=1, num_attention_heads=2, intermediate_size=64, nemo_conv_channels=16, depthwise_separable_out_channel=32, ext_pw_out_channel=32))), "text", last  # fmt: skip
    # and fourteen more: mixture-of-experts VLMs whole (Qwen3-VL-MoE, GLM-4.5V), retrievers'
    # multi-vector embeddings (ColPali on PaliGemma, ColQwen2 on Qwen2-VL's patches padded per
    # image), Granite Docling (tiles and a bool mask of the real ones), ModernVBERT (a ModernBERT
    # encoder on pixel-shuffled image tokens), InstructBLIP-Video (a Q-Former's 8 queries for each
    # of 4 frames), DeepSeek-VL hybrid (one image at SigLIP's and SAM's resolutions), PI0 (a robot's
    # state, a noisy action chunk and its flow time beside a camera image and an instruction),
    # Evolla (a protein's structure-aware tokens, cross-attended from text), Canary (FastConformer
    # mel frames to a decoder's ids), Music Flamingo (a log-mel's audio tokens with rotary time
    # stamps), Higgs Audio v2 (audio frames' codebook ids in the ids, a second MLP for their
    # tokens), PE Audio-Video (a waveform and video frames, fused)
    yield "qwen3_vl_moe", lambda: tf.Qwen3VLMoeModel(tf.Qwen3VLMoeConfig(vision_config=dict(depth=2, hidden_size=32, num_heads=2, intermediate_size=64, patch_size=8, spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=32, num_position_embeddings=64, deepstack_visual_indexes=[1]), text_config=dict(**lm, head_dim=16, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, rope_parameters={**rope3, "mrope_section": [2, 2, 4], "mrope_interleaved": True}), image_token_id=999)), "grid12", last  # fmt: skip
    yield "glm4v_moe", lambda: tf.Glm4vMoeModel(tf.Glm4vMoeConfig(vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, image_size=32, patch_size=8, spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=32), text_config=dict(**glmt, moe_intermediate_size=32, n_routed_experts=4, num_experts_per_tok=2, n_shared_experts=1, first_k_dense_replace=1), image_token_id=999, video_token_id=996, image_start_token_id=997, image_end_token_id=998, video_start_token_id=994, video_end_token_id=995)), "grid12", last  # fmt: skip
    yield "colpali", lambda: tf.ColPaliForRetrieval(tf.ColPaliConfig(vlm_config=tf.PaliGemmaConfig(vision_config=tf.SiglipVisionConfig(**v, image_size=64, patch_size=8), text_config=tf.GemmaConfig(**{**t, "max_position_embeddings": 256}, head_dim=16, num_key_value_heads=1, use_cache=False), image_token_index=999, projection_dim=32), embedding_dim=16)), "image_tokens", ["embeddings"]  # fmt: skip
    yield "colqwen2", lambda: tf.ColQwen2ForRetrieval(tf.ColQwen2Config(vlm_config=tf.Qwen2VLConfig(vision_config=dict(depth=2, embed_dim=32, hidden_size=32, num_heads=2, mlp_ratio=2, patch_size=8, spatial_merge_size=2, temporal_patch_size=2), text_config=dict(**t256, num_key_value_heads=1, rope_scaling={"type": "mrope", "mrope_section": [2, 2, 4]}), image_token_id=999), embedding_dim=16)), "grid4_padded", ["embeddings"]  # fmt: skip
    yield "granite_docling", lambda: tf.GraniteDoclingModel(tf.GraniteDoclingConfig(vision_config=dict(**v, image_size=64, patch_size=8, out_hidden_size=32, scale_factor=2), text_config=dict(**{k: lm[k] for k in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "max_position_embeddings", "use_cache", "pad_token_id", "bos_token_id", "eos_token_id")}), image_token_id=999, pad_token_id=0)), "tiles_masked16", last  # fmt: skip
    yield "instructblipvideo", lambda: tf.InstructBlipVideoForConditionalGeneration(tf.InstructBlipVideoConfig(vision_config={**v, "image_size": 64, "patch_size": 8}, qformer_config=q, text_config=tf.OPTConfig(**opt), num_query_tokens=8, video_token_index=999)), "video_instructed32", ["logits"]  # fmt: skip
    yield "deepseek_vl_hybrid", lambda: tf.DeepseekVLHybridModel(tf.DeepseekVLHybridConfig(text_config={**lm, "model_type": "llama"}, vision_config={**vis, "model_type": "siglip_vision_model"}, high_res_vision_config=dict(model_type="sam_vision_model", hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_dim=64, image_size=64, patch_size=8, output_channels=16, window_size=4, global_attn_indexes=[1], num_pos_feats=16), image_token_id=999)), "hybrid16", last  # fmt: skip
    yield "pi0", lambda: tf.PI0ForConditionalGeneration(tf.PI0Config(vlm_config=dict(model_type="paligemma", vision_config=dict(model_type="siglip_vision_model", **vis, vision_use_head=False), text_config=dict(model_type="gemma", **{**lm, "num_key_value_heads": 1}, head_dim=16), projection_dim=32, image_token_id=999), dit_config=dict(model_type="gemma", **{**lm, "num_key_value_heads": 1}, head_dim=16), chunk_size=4, max_state_dim=8, max_action_dim=6)), "robot", ["logits"]  # fmt: skip
    yield "evolla", lambda: tf.EvollaModel(tf.EvollaConfig(protein_encoder_config=dict(vocab_size=446, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=64), **{k: lm[k] for k in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "max_position_embeddings", "pad_token_id", "bos_token_id", "eos_token_id")}, aligner_num_add_layers=1, resampler_depth=1, resampler_dim_head=16, resampler_heads=2, resampler_num_latents=8)), "protein_text", last  # fmt: skip
    yield "canary", lambda: tf.CanaryForConditionalGeneration(tf.CanaryConfig(encoder_config=asr, decoder_config=dict(vocab_size=1000, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2, head_dim=16, max_position_embeddings=64), vocab_size=1000, use_cache=False)), "frames16_text", ["logits"]  # fmt: skip
    yield "musicflamingo", lambda: tf.MusicFlamingoForConditionalGeneration(tf.MusicFlamingoConfig(audio_config=dict(model_type="audioflamingo3_encoder", num_mel_bins=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, hidden_size=32, max_source_positions=100), text_config=dict(**lm, model_type="qwen2"), audio_token_id=999, audio_bos_token_id=997, audio_eos_token_id=998)), "audio_tokens50", ["logits"]  # fmt: skip
    yield "higgs_audio_v2", lambda: tf.HiggsAudioV2Model(tf.HiggsAudioV2Config(**{k: lm[k] for k in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "max_position_embeddings", "use_cache", "pad_token_id", "bos_token_id", "eos_token_id")}, head_dim=16, num_codebooks=4, codebook_size=64, audio_token_id=999, audio_bos_token_id=997, audio_delay_token_id=998, audio_stream_bos_id=64, audio_stream_eos_id=65)), "text_audio_codes", last  # fmt: skip
    yield "pe_audio_video", lambda: tf.PeAudioVideoEncoder(tf.PeAudioVideoEncoderConfig(audio_config=dict(dac_config=dict(encoder_hidden_size=8, downsampling_ratios=[2, 4], decoder_hidden_size=16, hidden_size=16, n_codebooks=2, codebook_size=16, codebook_dim=4), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, head_dim=16), video_config=dict(vision_config=tf.ViTConfig(**v, image_size=64, patch_size=8, num_labels=32), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, head_dim=16), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, head_dim=16)), "waveform_video", last  # fmt: skip
    yield "modernvbert", lambda: tf.ModernVBertModel(tf.ModernVBertConfig(vision_config=dict(**v, image_size=64, patch_size=8), text_config=dict(**{**t, "max_position_embeddings": 256}, global_attn_every_n_layers=2, local_attention=8, pad_token_id=0, bos_token_id=1, eos_token_id=2, cls_token_id=1, sep_token_id=2), image_token_id=999, pixel_shuffle_factor=2)), "images16", last  # fmt: skip
    # diffusion models from diffusers' configs (the dev extra installs it): a UNet that takes a
    # latent, a timestep per sample and text states; an unconditional one; a VAE, whose
    # attention runs over every position of the feature map
    yield "sd_unet", lambda: _diffusers().UNet2DConditionModel(sample_size=16, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32, attention_head_dim=8, norm_num_groups=8), "latent_text", ["sample"]  # fmt: skip
    yield "ddpm_unet", lambda: _diffusers().UNet2DModel(sample_size=16, in_channels=3, out_channels=3, layers_per_block=1, block_out_channels=(32, 64), down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"), norm_num_groups=8), "latent_step", ["sample"]  # fmt: skip
    yield "sd_vae", lambda: _diffusers().AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(32, 64), latent_channels=4, norm_num_groups=8, layers_per_block=1), "vae", ["sample"]  # fmt: skip


def _routed(model: Any) -> Any:
    """``model`` with its routers' weights drawn at random, as a trained model's are not zero:
    transformers zero-inits AFMoE's router, so every expert ties for every token, and torch's
    top-k and ONNX's TopK break the ties differently (the conversion differed by rel-L2 0.15)."""
    import torch

    with torch.no_grad():
        for m in model.modules():
            if type(m).__name__.endswith("Router") and hasattr(m, "gate"):
                torch.nn.init.normal_(m.gate.weight, std=0.5)
    return model


def _coded(model: Any) -> Any:
    """``model`` with its codebooks drawn at random, as a trained codec's are not zero:
    transformers zero-inits X-Codec's, so every frame ties with every code, the codes are all
    0 and the audio decoded from them the same for any waveform (nothing to verify there)."""
    import torch

    with torch.no_grad():
        for m in model.modules():
            if type(m).__name__.endswith("Codebook") and isinstance(getattr(m, "embed", None), torch.Tensor):  # fmt: skip
                m.embed.normal_()
    return model


def _uvdoc(tf: Any) -> Any:
    """UVDoc fusing all six bridge stages, as trained; its backbone reads the stages from the
    hidden states it records, which transformers 5.25 records only when the config asks."""
    model = tf.UVDocModel(tf.UVDocConfig(backbone_config=tf.UVDocBackboneConfig(out_features=[f"stage{i}" for i in range(1, 7)])))  # fmt: skip
    model.config.output_hidden_states = model.backbone.config.output_hidden_states = True
    return model


def _diffusers() -> Any:
    import diffusers

    return diffusers


def _fast_vlm(tf: Any, lm: dict[str, Any]) -> Any:
    """FastVLM with a transformers ConvNeXt for its timm FastViT (a conv net's map, flattened
    as FastVLM flattens timm's): a 64 px image gives 64 image tokens."""
    vc = tf.ConvNextConfig(hidden_sizes=[16, 32], depths=[1, 1], num_stages=2, image_size=64)
    vc.hidden_size = 32  # what the projector reads (timm_wrapper's num_features)
    cfg = tf.FastVlmConfig(vision_config=vc, text_config={**lm, "model_type": "qwen2"}, image_token_index=999, image_seq_length=64)  # fmt: skip
    return tf.FastVlmModel(cfg)


def _perception_lm(tf: Any, lm: dict[str, Any], vis: dict[str, Any]) -> Any:
    """PerceptionLM with a CLIP vision tower for its timm PE (its CLS token first, as
    ``vision_use_cls_token`` expects; the projector reads ``model_args["embed_dim"]``)."""
    vc = tf.CLIPVisionConfig(**vis)
    vc.model_args = {"embed_dim": 32}
    cfg = tf.PerceptionLMConfig(vision_config=vc, text_config={**lm, "model_type": "llama"}, vision_use_cls_token=True, projector_pooling_ratio=2, image_token_id=999, video_token_id=998)  # fmt: skip
    return tf.PerceptionLMModel(cfg)


def _omdet_turbo(tf: Any) -> Any:
    """OmDet-Turbo with a transformers Swin backbone (not timm's) and a CLIP text tower."""
    text = dict(model_type="clip_text_model", vocab_size=1000, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32, max_position_embeddings=8, bos_token_id=998, eos_token_id=999, pad_token_id=999)  # fmt: skip
    backbone = dict(model_type="swin", embed_dim=8, depths=(1, 1, 1, 1), num_heads=(1, 1, 1, 1), window_size=2, image_size=64, out_indices=(2, 3, 4))  # fmt: skip
    cfg = tf.OmDetTurboConfig(text_config=text, backbone_config=backbone, use_timm_backbone=False, apply_layernorm_after_vision_backbone=False, image_size=64, decoder_num_layers=1, encoder_layers=1, encoder_in_channels=(16, 32, 64), num_queries=10, encoder_projection_indices=[2], encoder_attention_heads=2, decoder_num_heads=2, decoder_num_points=2, num_feature_levels=3, encoder_dim_feedforward=32, task_encoder_hidden_dim=32, decoder_dim_feedforward=32, class_embed_dim=16, text_projection_in_dim=16, text_projection_out_dim=16, encoder_hidden_dim=8, decoder_hidden_dim=8, vision_features_channels=[8, 8, 8])  # fmt: skip
    return tf.OmDetTurboForObjectDetection(cfg)


def _laid_out(kind: str) -> tuple[tuple[Any, ...], list[str], dict[str, dict[int, str]]] | None:
    """Image-text models' inputs as their processors lay them out (None: another
    kind): text ids in [3, 900), the image token 999 as many times as the model makes features,
    its markers and side inputs; both rows the same length."""
    import torch

    g = torch.Generator().manual_seed(0)

    def ids(*parts: Any) -> Any:  # an int: that token; (token, n): n of it; ("t", n): n of text
        row: list[int] = []
        for p in parts:
            if isinstance(p, int):
                row.append(p)
            elif p[0] == "t":
                row += torch.randint(3, 900, (p[1],), generator=g).tolist()
            else:
                row += [p[0]] * p[1]
        return torch.tensor([row] * B)

    seq, batch = {0: "batch", 1: "sequence"}, {0: "batch"}
    text = {"input_ids": seq, "attention_mask": seq}
    names = ["input_ids", "attention_mask", "pixel_values"]
    if kind == "tiles":  # Mllama: one image of up to 4 tiles; its grid's id; a mask per token
        x = ids(999, 1, ("t", 10))
        px = torch.randn(B, 1, 4, 3, 32, 32, generator=g)
        px[1, 0, 2:] = 0  # sample 1: a 1x2 grid of tiles (id 2), tiles 3 and 4 padding
        ratio, tiles = torch.tensor([[6], [2]]), torch.tensor([[[1, 1, 1, 1]], [[1, 1, 0, 0]]])
        cross = tiles[:, None].expand(B, x.shape[1], 1, 4).clone()  # each token sees the tiles
        extra = ["aspect_ratio_ids", "aspect_ratio_mask", "cross_attention_mask"]
        return (x, torch.ones_like(x), px, ratio, tiles, cross), [*names, *extra], {**text, "cross_attention_mask": seq, **dict.fromkeys(["pixel_values", "aspect_ratio_ids", "aspect_ratio_mask"], batch)}  # fmt: skip
    if kind in ("marked16", "small16", "indicated16", "thumb_tile8", "pixel_masked8", "image_prompt65"):  # fmt: skip
        x = {
            "marked16": lambda: ids(1, ("t", 3), 997, (999, 16), 998, ("t", 5)),  # Janus
            "small16": lambda: ids(1, ("t", 3), (999, 16), ("t", 5)),  # DeepSeek-VL
            "indicated16": lambda: ids(("t", 3), 995, (994, 16), 996, 999, ("t", 5)),  # Ovis2
            "thumb_tile8": lambda: ids(1, ("t", 3), (999, 8), ("t", 5)),  # PerceptionLM
            "pixel_masked8": lambda: ids(1, ("t", 3), (999, 8), ("t", 5)),  # Aria
            "image_prompt65": lambda: ids((999, 65), 0, ("t", 6), 2),  # Florence-2
        }[kind]()
        side = 64 if kind in ("indicated16", "image_prompt65") else 32
        px = torch.randn(B, *((2,) if kind == "thumb_tile8" else ()), 3, side, side, generator=g)
        args, axes = (x, torch.ones_like(x), px), {**text, "pixel_values": batch}
        if kind == "pixel_masked8":  # Aria: which pixels are the image (sample 1: 8 rows padded)
            mask = torch.ones(B, 32, 32, dtype=torch.bool)
            mask[1, 24:], px[1, :, 24:] = False, 0
            return (*args, mask), [*names, "pixel_mask"], {**axes, "pixel_mask": batch}
        if kind == "image_prompt65":  # Florence-2: the decoder's ids, from its start token 2
            return (*args, ids(2, 0, ("t", 4))), [*names, "decoder_input_ids"], {**axes, "decoder_input_ids": {0: "batch", 1: "decoder_sequence"}}  # fmt: skip
        return args, names, axes
    if kind == "crops3":  # Cohere2 Vision: 2 crops and a thumbnail a sample, 4 tokens a crop
        x = ids(1, ("t", 3), 996, *[p for _ in range(3) for p in ((999, 4), 998)], 997, ("t", 5))
        return (x, torch.ones_like(x), torch.randn(B * 3, 3, 32, 32, generator=g)), names, {**text, "pixel_values": {0: "crops"}}  # fmt: skip
    if kind == "class_names":  # OmDet-Turbo: 3 class names per image and the task's words

        def padded(rows: int, words: list[int]) -> tuple[Any, Any]:
            x, m = torch.full((rows, 8), 999), torch.zeros(rows, 8, dtype=torch.int64)
            for r, n in enumerate(words):  # start, the words, the end token (999 pads too)
                x[r, 0], x[r, 1 : 1 + n], m[r, : n + 2] = 998, torch.randint(3, 900, (n,), generator=g), 1  # fmt: skip
            return x, m

        classes, tasks = padded(B * 3, [1, 2, 1, 1, 1, 3]), padded(B, [5] * B)
        names = ["pixel_values", "classes_input_ids", "classes_attention_mask", "tasks_input_ids", "tasks_attention_mask", "classes_structure"]  # fmt: skip
        axes = {**dict.fromkeys(names[1:3], {0: "classes"}), **dict.fromkeys([names[0], *names[3:]], batch)}  # fmt: skip
        return (torch.randn(B, 3, 64, 64, generator=g), *classes, *tasks, torch.tensor([3] * B)), names, axes  # fmt: skip
    if kind in ("grid12", "grid12_chw"):  # Qwen2.5-VL, GLM-4V: a 48x64 image's 6x8 patches
        x = ids(("t", 3), 997, (999, 12), 998, ("t", 5))
        grid = torch.tensor([[1, 6, 8]] * B)
        names = [*names, "image_grid_thw", "mm_token_type_ids"]
        patch = (384,) if kind == "grid12" else (3, 8, 8)  # merged 2x2; PaddleOCR-VL's: 3 x 8 x 8
        return (x, torch.ones_like(x), torch.randn(B * 48, *patch, generator=g), grid, (x == 999).long()), names, {**text, "mm_token_type_ids": seq, "pixel_values": {0: "patches"}, "image_grid_thw": {0: "images"}}  # fmt: skip
    if kind == "grid_tower":  # a Qwen-VL vision tower alone: grid12's patches named hidden_states
        return (torch.randn(B * 48, 384, generator=g), torch.tensor([[1, 6, 8]] * B)), ["hidden_states", "grid_thw"], {"hidden_states": {0: "patches"}, "grid_thw": {0: "images"}}  # fmt: skip
    if kind in ("grid_pixels", "grid_pixels192", "grid_pixels_chw", "grid_merged192"):
        # a vision tower alone on grid12's patches named pixel_values: 2 frames flattened (LFM3-VL),
        # one (Ovis2.5, LLaVA-OneVision-1.5), 3 x 8 x 8 (Kimi K2.5); each image's merge size too
        # (VideoLLaMA 3)
        patch = {"grid_pixels": (384,), "grid_pixels_chw": (3, 8, 8)}.get(kind, (192,))
        args = (torch.randn(B * 48, *patch, generator=g), torch.tensor([[1, 6, 8]] * B))
        axes = {"pixel_values": {0: "patches"}, "grid_thw": {0: "images"}}
        if kind == "grid_merged192":
            return (*args, torch.tensor([2] * B)), ["pixel_values", "grid_thw", "merge_sizes"], {**axes, "merge_sizes": {0: "images"}}  # fmt: skip
        return args, ["pixel_values", "grid_thw"], axes
    if kind == "packed_sizes":  # MiniCPM-OCR: two images' 6x8 patches in one row, each one's grid
        px = torch.randn(1, 3, 8, 8 * 2 * 48, generator=g)
        return (px, torch.tensor([[6, 8]] * B)), ["pixel_values", "target_sizes"], {"pixel_values": {3: "patches"}, "target_sizes": {0: "images"}}  # fmt: skip
    if kind == "patch_xy16":  # Gemma 4's tower: a 64x64 and a 32x64 image's 8x8 patches in [0, 1]
        px, xy = torch.rand(B, 64, 192, generator=g), torch.full((B, 64, 2), -1)  # padded to 64
        for b, rows in enumerate((8, 4)):  # each patch's (x, y); -1: padding, its pixels 0
            xy[b, : 8 * rows] = torch.stack(torch.meshgrid(torch.arange(8), torch.arange(rows), indexing="xy"), -1).reshape(-1, 2)  # fmt: skip
        px[1, 32:] = 0
        return (px, xy), ["pixel_values", "pixel_position_ids"], dict.fromkeys(["pixel_values", "pixel_position_ids"], {0: "batch", 1: "patches"})  # fmt: skip
    if kind == "patches_marked8":  # Kosmos-2.5: 64 flattened 8x8 patches (row, column from 1)
        x = ids(1, 997, (999, 8), 998, ("t", 5))  # and where the 8 image embeddings go
        at = torch.arange(64.0).view(1, 64, 1).expand(B, 64, 1)
        patches = torch.cat([at.div(8, rounding_mode="floor") + 1, at.remainder(8) + 1, torch.randn(B, 64, 192, generator=g)], -1)  # fmt: skip
        names = ["input_ids", "flattened_patches", "image_embeds_position_mask", "attention_mask"]
        return (x, patches, (x == 999).long(), torch.ones_like(x)), names, {**text, "image_embeds_position_mask": seq, "flattened_patches": {0: "batch", 1: "patches"}}  # fmt: skip
    if kind == "vq_rows20":  # Emu3: a 32x32 image's 4x4 codes and an end of line a row
        x = ids(1, ("t", 3), 997, ("t", 3), 996, (999, 20), 995, 994, ("t", 5))
        return (x, torch.ones_like(x), torch.randn(B, 3, 32, 32, generator=g), torch.tensor([[32, 32]] * B)), [*names, "image_sizes"], {**text, "pixel_values": batch, "image_sizes": batch}  # fmt: skip
    if kind == "anyres":  # LLaVA-OneVision: a 64x64 view and 4 tiles of a 60x40 image, 70 tokens
        x = ids(("t", 3), (999, 70), ("t", 5))
        px = torch.randn(B, 5, 3, 32, 32, generator=g)
        return (x, torch.ones_like(x), px, torch.tensor([[40, 60]] * B), torch.ones(B, dtype=torch.int64)), [*names, "image_sizes", "batch_num_images"], {**text, **dict.fromkeys(["pixel_values", "image_sizes", "batch_num_images"], batch)}  # fmt: skip
    if kind == "anyres_sized":  # LLaVA-NeXT: LLaVA-OneVision's layout, no image count per sample
        x = ids(("t", 3), (999, 70), ("t", 5))
        return (x, torch.ones_like(x), torch.randn(B, 5, 3, 32, 32, generator=g), torch.tensor([[40, 60]] * B)), [*names, "image_sizes"], {**text, **dict.fromkeys(["pixel_values", "image_sizes"], batch)}  # fmt: skip
    if kind == "image_sized":  # Pixtral's tower: images padded to the largest, each one's size
        return (torch.randn(B, 3, 64, 48, generator=g), torch.tensor([[64, 48], [48, 32]])), ["pixel_values", "image_sizes"], {"pixel_values": {0: "batch", 2: "height", 3: "width"}, "image_sizes": batch}  # fmt: skip
    if kind == "images_sampled":  # Video-LLaVA: an image's 17 tokens (16 patches and the class)
        x = ids(("t", 3), (999, 17), ("t", 5))
        return (x, torch.ones_like(x), torch.randn(B, 3, 32, 32, generator=g)), ["input_ids", "attention_mask", "pixel_values_images"], {**text, "pixel_values_images": batch}  # fmt: skip
    if kind == "naflex_text":  # LFM2-VL: 8x8 patches of each image, their mask, the grid
        x = ids(1, ("t", 3), 997, (999, 16), 998, ("t", 5))
        patches = {0: "batch", 1: "patches"}
        return (x, torch.ones_like(x), torch.randn(B, 64, 192, generator=g), torch.ones(B, 64, dtype=torch.int64), torch.tensor([[8, 8]] * B)), [*names, "pixel_attention_mask", "spatial_shapes"], {**text, "pixel_values": patches, "pixel_attention_mask": patches, "spatial_shapes": batch}  # fmt: skip
    return None


def _example(kind: str) -> tuple[tuple[Any, ...], list[str], dict[str, dict[int, str]]]:
    """Example inputs, their names and their named dynamic axes, per input kind."""
    import torch

    if (laid := _laid_out(kind)) is not None:
        return laid
    if kind == "text":
        ids = torch.randint(3, 1000, (B, S))
        mask = torch.ones(B, S, dtype=torch.int64)
        axes = {0: "batch", 1: "sequence"}
        return (ids, mask), ["input_ids", "attention_mask"], dict.fromkeys(["input_ids", "attention_mask"], axes)  # fmt: skip
    if kind in ("image", "image128"):
        px = 128 if kind == "image128" else 64
        return (torch.randn(B, 3, px, px),), ["pixel_values"], {"pixel_values": {0: "batch"}}
    if kind == "audio":
        return (torch.randn(B, 4000),), ["input_values"], {"input_values": {0: "batch", 1: "samples"}}  # fmt: skip
    ids, mask = torch.randint(3, 1000, (B, S)), torch.ones(B, S, dtype=torch.int64)
    seq = {0: "batch", 1: "sequence"}
    if kind == "tokens":
        return (ids,), ["input_ids"], {"input_ids": seq}
    if kind == "decoder":
        return (ids, torch.randn(B, 50, 32)), ["input_ids", "encoder_hidden_states"], {"input_ids": seq, "encoder_hidden_states": {0: "batch"}}  # fmt: skip
    if kind == "seq2seq":
        names = ["input_ids", "attention_mask", "decoder_input_ids"]
        return (ids, mask, ids[:, :5]), names, {"input_ids": seq, "attention_mask": seq, "decoder_input_ids": {0: "batch", 1: "decoder_sequence"}}  # fmt: skip
    if kind == "series":
        return (torch.randn(B, 32, 3),), ["past_values"], {"past_values": {0: "batch"}}
    if kind == "trajectory":
        t = 5
        names = ["states", "actions", "rewards", "returns_to_go", "timesteps", "attention_mask"]
        args = (torch.randn(B, t, 11), torch.randn(B, t, 3), torch.randn(B, t, 1), torch.randn(B, t, 1), torch.randint(0, 100, (B, t)), torch.ones(B, t, dtype=torch.int64))  # fmt: skip
        return args, names, dict.fromkeys(names, {0: "batch", 1: "steps"})
    if kind in ("image_tokens", "image_tokens16", "image_tokens8", "image_tokens4", "image_sized16"):  # fmt: skip
        n = {"image_tokens16": 16, "image_sized16": 16, "image_tokens8": 8, "image_tokens4": 4}.get(kind, 64)  # fmt: skip
        vlm = torch.randint(3, 900, (B, n + 8))
        vlm[:, 4 : 4 + n] = 999
        names = ["input_ids", "pixel_values", "attention_mask"]
        if kind == "image_sized16":  # Pixtral: each image's height and width (its token count)
            return (vlm, torch.randn(B, 3, 64, 64), torch.ones_like(vlm), torch.tensor([[64, 64]] * B)), [*names, "image_sizes"], {"input_ids": seq, "attention_mask": seq, "pixel_values": {0: "batch"}, "image_sizes": {0: "batch"}}  # fmt: skip
        return (vlm, torch.randn(B, 3, 64, 64), torch.ones_like(vlm)), names, {"input_ids": seq, "attention_mask": seq, "pixel_values": {0: "batch"}}  # fmt: skip
    if kind in ("instructed8", "images16", "images8", "image_positions8"):  # 8 or 16 image tokens
        n = 16 if kind == "images16" else 8
        vlm, text = torch.randint(3, 900, (B, n + 8)), {0: "batch", 1: "sequence"}
        vlm[:, 4 : 4 + n] = 999
        px, axes = torch.randn(B, 3, 64, 64), {"input_ids": text, "attention_mask": text}
        if kind in ("images16", "images8"):  # images per sample: batch x images x channels x h x w
            return (vlm, torch.randn(B, 1, 3, 64, 64), torch.ones_like(vlm)), ["input_ids", "pixel_values", "attention_mask"], {**axes, "pixel_values": {0: "batch"}}  # fmt: skip
        if kind == "instructed8":  # the instruction's ids again, as the Q-Former reads them
            names = ["input_ids", "pixel_values", "attention_mask", "qformer_input_ids"]
            return (vlm, px, torch.ones_like(vlm), torch.randint(3, 900, (B, 6))), names, {**axes, "pixel_values": {0: "batch"}, "qformer_input_ids": {0: "batch", 1: "instruction"}}  # fmt: skip
        at = torch.zeros_like(vlm)  # Kosmos-2: 1 where an image embedding replaces the token
        at[:, 4 : 4 + n] = 1
        names = ["input_ids", "pixel_values", "attention_mask", "image_embeds_position_mask"]
        return (vlm, px, torch.ones_like(vlm), at), names, {**axes, "pixel_values": {0: "batch"}, "image_embeds_position_mask": text}  # fmt: skip
    if kind == "text_image":
        text = {0: "queries", 1: "sequence"}
        return (ids, torch.randn(1, 3, 64, 64), mask), ["input_ids", "pixel_values", "attention_mask"], {"input_ids": text, "attention_mask": text, "pixel_values": {0: "batch"}}  # fmt: skip
    if kind == "grid4":  # Qwen2-VL: every image's patches in one flat list, each image's grid
        vlm = torch.randint(3, 900, (B, 12))  # 4 image tokens a row: 4x4 patches merged 2x2
        vlm[:, 4:8] = 999
        names = ["input_ids", "pixel_values", "image_grid_thw", "attention_mask", "mm_token_type_ids"]  # fmt: skip
        return (vlm, torch.randn(B * 16, 3 * 2 * 8 * 8), torch.tensor([[1, 4, 4]] * B), torch.ones_like(vlm), (vlm == 999).long()), names, {"input_ids": seq, "attention_mask": seq, "mm_token_type_ids": seq, "pixel_values": {0: "patches"}, "image_grid_thw": {0: "images"}}  # fmt: skip
    if kind == "patches16":  # Fuyu: an image's 16 patches and which token each goes to (-1: none)
        vlm = torch.randint(3, 900, (B, 24))
        vlm[:, 4:20] = 999
        at = torch.full((B, 24), -1)
        at[:, 4:20] = torch.arange(16)
        names = ["input_ids", "image_patches", "image_patches_indices", "attention_mask"]
        return (vlm, torch.randn(B, 16, 192), at, torch.ones_like(vlm)), names, {"input_ids": seq, "attention_mask": seq, "image_patches_indices": seq, "image_patches": {0: "batch", 1: "patches"}}  # fmt: skip
    if kind == "vq256":  # Chameleon: a 32x32 image's 256 VQ codes replace its 256 image tokens
        vlm = torch.randint(3, 900, (B, 264))
        vlm[:, 4:260] = 999
        names = ["input_ids", "pixel_values", "attention_mask"]
        return (vlm, torch.randn(B, 3, 32, 32), torch.ones_like(vlm)), names, {"input_ids": seq, "attention_mask": seq, "pixel_values": {0: "batch"}}  # fmt: skip
    if kind == "flattened_patches":  # Pix2Struct: patches with their row and column first
        at = torch.arange(64.0).view(1, 64, 1).expand(B, 64, 1)  # an 8x8 grid, from 1
        patches = torch.cat([at.div(8, rounding_mode="floor") + 1, at.remainder(8) + 1, torch.randn(B, 64, 192)], -1)  # fmt: skip
        names = ["flattened_patches", "attention_mask", "decoder_input_ids"]
        return (patches, torch.ones(B, 64), ids[:, :5].clone()), names, {"flattened_patches": {0: "batch", 1: "patches"}, "attention_mask": {0: "batch", 1: "patches"}, "decoder_input_ids": {0: "batch", 1: "decoder_sequence"}}  # fmt: skip
    if kind == "features_text":  # Pop2Piano: audio features and the decoder's ids
        return (torch.randn(B, 10, 32), ids[:, :5].clone()), ["input_features", "decoder_input_ids"], {"input_features": {0: "batch", 1: "frames"}, "decoder_input_ids": {0: "batch", 1: "decoder_sequence"}}  # fmt: skip
    if kind == "captioned":  # GIT: ids, one image per sample (its tokens go first), a mask
        return (ids, torch.randn(B, 3, 64, 64), mask), ["input_ids", "pixel_values", "attention_mask"], {"input_ids": seq, "attention_mask": seq, "pixel_values": {0: "batch"}}  # fmt: skip
    if kind == "spectrogram":
        return (torch.randn(B, 20, 16),), ["spectrogram"], {"spectrogram": {0: "batch", 1: "frames"}}  # fmt: skip
    if kind == "layout":  # boxes per token, x0 <= x1 and y0 <= y1, in [0, 1000]
        box = torch.randint(0, 500, (B, S, 4))
        box[..., 2:] += box[..., :2]
        names = ["input_ids", "bbox", "attention_mask"]
        return (ids, box, mask), names, dict.fromkeys(names, seq)
    if kind in ("prompts", "prompts128"):  # an image, two clicks in pixels and their labels
        pts, px = {0: "batch", 2: "points"}, 128 if kind == "prompts128" else 64
        return (torch.randn(1, 3, px, px), torch.rand(1, 1, 2, 2) * px, torch.ones(1, 1, 2, dtype=torch.int64)), ["pixel_values", "input_points", "input_labels"], {"input_points": pts, "input_labels": pts}  # fmt: skip
    if kind == "forecast":  # context 16 + the largest lag 3; 8 future steps
        names = ["past_values", "past_time_features", "past_observed_mask", "static_categorical_features", "future_time_features"]  # fmt: skip
        args = (torch.randn(B, 19), torch.randn(B, 19, 2), torch.ones(B, 19), torch.randint(0, 5, (B, 1)), torch.randn(B, 8, 2))  # fmt: skip
        return args, names, dict.fromkeys(names, {0: "batch"})
    if kind == "frames":  # filterbank frames and a per-frame mask
        axes = {0: "batch", 1: "frames"}
        return (torch.randn(B, 100, 20), torch.ones(B, 100, dtype=torch.int64)), ["input_features", "attention_mask"], {"input_features": axes, "attention_mask": axes}  # fmt: skip
    if kind == "waveform":  # mono audio as a codec takes it: batch x channels x samples
        return (torch.randn(B, 1, 4000),), ["input_values"], {"input_values": {0: "batch", 2: "samples"}}  # fmt: skip
    if kind == "patches":  # an audio spectrogram as AST takes it: frames x mel bins
        return (torch.randn(B, 100, 16),), ["input_values"], {"input_values": {0: "batch"}}
    if kind == "image_trimap":  # RGB and a trimap, four channels (ViTMatte)
        return (torch.randn(B, 4, 64, 64),), ["pixel_values"], {"pixel_values": {0: "batch"}}
    if kind in ("video", "videos"):  # frames x channels x height x width (V-JEPA 2's name)
        name = "pixel_values_videos" if kind == "videos" else "pixel_values"
        return (torch.randn(B, 4, 3, 64, 64),), [name], {name: {0: "batch"}}
    if kind in ("latent_text", "latent_step"):  # a latent, one timestep per sample, text states
        hw = {0: "batch", 2: "height", 3: "width"}
        latent = torch.randn(B, 4 if kind == "latent_text" else 3, 16, 16)
        if kind == "latent_step":
            return (latent, torch.tensor([10, 500])), ["sample", "timestep"], {"sample": hw, "timestep": {0: "batch"}}  # fmt: skip
        names = ["sample", "timestep", "encoder_hidden_states"]
        return (latent, torch.tensor([10, 500]), torch.randn(B, 7, 32)), names, {"sample": hw, "timestep": {0: "batch"}, "encoder_hidden_states": {0: "batch", 1: "sequence"}}  # fmt: skip
    if kind == "vae":  # an image of any size, as a VAE takes it (named "sample")
        return (torch.randn(B, 3, 32, 32),), ["sample"], {"sample": {0: "batch", 2: "height", 3: "width"}}  # fmt: skip
    if kind == "codebooks":  # a music decoder's ids: batch x codebooks rows (MusicGen: 4)
        return (torch.randint(0, 64, (B * 4, S)),), ["input_ids"], {"input_ids": {0: "batch", 1: "sequence"}}  # fmt: skip
    if kind == "flat_patches":  # Pix2Struct: each patch's row and column (from 1), then pixels
        n = 16
        rows, cols = (torch.arange(n) // 4 + 1).float(), (torch.arange(n) % 4 + 1).float()
        at = torch.stack([rows, cols], -1)[None].expand(B, n, 2)
        axes = {0: "batch", 1: "patches"}
        return (torch.cat([at, torch.randn(B, n, 48)], -1), torch.ones(B, n)), ["flattened_patches", "attention_mask"], dict.fromkeys(["flattened_patches", "attention_mask"], axes)  # fmt: skip
    if kind == "layout_image":  # LayoutLMv3: ids, a box per token, a mask and the page image
        box = torch.randint(0, 500, (B, S, 4))
        box[..., 2:] += 400
        names = ["input_ids", "bbox", "attention_mask", "pixel_values"]
        return (ids, box, mask, torch.randn(B, 3, 64, 64)), names, {**dict.fromkeys(names[:3], seq), "pixel_values": {0: "batch"}}  # fmt: skip
    if kind == "mel4":  # a mel spectrogram as a one-channel image (CLAP's audio tower)
        return (torch.randn(B, 1, 64, 16),), ["input_features"], {"input_features": {0: "batch"}}
    if kind == "pose":  # a person crop, taller than wide (ViTPose: 256 x 192 at full size)
        return (torch.randn(B, 3, 64, 48),), ["pixel_values"], {"pixel_values": {0: "batch"}}
    if kind == "frames16":  # mel frames and a per-frame mask (a FastConformer encoder)
        axes = {0: "batch", 1: "frames"}
        return (torch.randn(B, 100, 16), torch.ones(B, 100, dtype=torch.int64)), ["input_features", "attention_mask"], {"input_features": axes, "attention_mask": axes}  # fmt: skip
    if kind == "spec_noise":  # a mel spectrogram and the noise a UnivNet vocoder is driven by
        axes = {0: "batch", 1: "frames"}
        return (torch.randn(B, 20, 20), torch.randn(B, 20, 16)), ["input_features", "noise_sequence"], {"input_features": axes, "noise_sequence": axes}  # fmt: skip
    if kind == "grounded":  # an image and the phrases to find in it, one text per image
        return (torch.randn(B, 3, 64, 64), ids, mask), ["pixel_values", "input_ids", "attention_mask"], {"pixel_values": {0: "batch"}, "input_ids": seq, "attention_mask": seq}  # fmt: skip
    if kind == "image_pair":  # two images to match, stacked (LightGlue), in [0, 1]
        return (torch.rand(B, 2, 3, 64, 64),), ["pixel_values"], {"pixel_values": {0: "batch"}}
    if kind == "prompted":  # an image, a prompt image and the prompt's mask (SegGPT)
        names = ["pixel_values", "prompt_pixel_values", "prompt_masks"]
        return tuple(torch.randn(B, 3, 64, 32) for _ in names), names, dict.fromkeys(names, {0: "batch"})  # fmt: skip
    if kind == "padded_series":  # values, a float padding indicator (0: a real step), a category
        names = ["past_values", "past_values_padding", "freq"]
        return (torch.randn(B, 64), torch.zeros(B, 64), torch.zeros(B, 1, dtype=torch.int64)), names, {"past_values": {0: "batch"}, "past_values_padding": {0: "batch"}, "freq": {0: "batch"}}  # fmt: skip
    if kind == "naflex":  # SigLIP 2: flattened 8x8 patches, their mask, each image's grid
        names = ["pixel_values", "pixel_attention_mask", "spatial_shapes"]
        patches = {0: "batch", 1: "patches"}
        return (torch.randn(B, 16, 192), torch.ones(B, 16, dtype=torch.int64), torch.tensor([[4, 4]] * B)), names, {"pixel_values": patches, "pixel_attention_mask": patches, "spatial_shapes": {0: "batch"}}  # fmt: skip
    if kind in ("text_line", "text_line48"):  # a cropped text line, any width (OCR recognizers)
        h = 48 if kind == "text_line48" else 96
        return (torch.randn(B, 3, h, 320),), ["pixel_values"], {"pixel_values": {0: "batch", 3: "width"}}  # fmt: skip
    if kind == "text_crop":  # a scene-text crop at the recognizer's one size (MGP-STR: 32x128)
        return (torch.randn(B, 3, 32, 128),), ["pixel_values"], {"pixel_values": {0: "batch"}}
    if kind == "lowres":  # a small image of any size to upscale (super-resolution)
        return (torch.randn(B, 3, 32, 32),), ["pixel_values"], {"pixel_values": {0: "batch", 2: "height", 3: "width"}}  # fmt: skip
    if kind == "image_depth":  # an image and a low-resolution depth prompt (a LiDAR map)
        return (torch.randn(B, 3, 56, 56), torch.rand(B, 1, 14, 14) * 5), ["pixel_values", "prompt_depth"], {"pixel_values": {0: "batch"}, "prompt_depth": {0: "batch"}}  # fmt: skip
    if kind == "table":  # TAPAS: per token its segment, column, row and four ranks/relations
        types = torch.zeros(B, S, 7, dtype=torch.int64)
        types[:, S // 2 :, 0] = 1  # the table after the question
        types[:, S // 2 :, 1] = torch.arange(S - S // 2) % 3 + 1  # columns 1..3
        types[:, S // 2 :, 2] = torch.arange(S - S // 2) // 3 + 1  # rows
        names = ["input_ids", "attention_mask", "token_type_ids"]
        return (ids, mask, types), names, dict.fromkeys(names, seq)
    if kind == "text_image_mask":  # ViLT: text, an image and which of its pixels are real
        names = ["input_ids", "attention_mask", "pixel_values", "pixel_mask"]
        args = (ids, mask, torch.randn(B, 3, 64, 64), torch.ones(B, 64, 64, dtype=torch.int64))
        return args, names, {**dict.fromkeys(names[:2], seq), "pixel_values": {0: "batch"}, "pixel_mask": {0: "batch"}}  # fmt: skip
    if kind == "image_task":  # OneFormer: an image and its task prompt's ids ("the task is ...")
        return (torch.randn(B, 3, 64, 64), torch.randint(3, 1000, (B, 16))), ["pixel_values", "task_inputs"], {"pixel_values": {0: "batch"}, "task_inputs": {0: "batch"}}  # fmt: skip
    if kind == "entities":  # LUKE: ids, 2 entities and the token positions each spans (-1: none)
        pos = torch.full((B, 2, 4), -1, dtype=torch.int64)
        pos[:, 0, :2], pos[:, 1, :3] = torch.tensor([1, 2]), torch.tensor([4, 5, 6])
        names = ["input_ids", "attention_mask", "entity_ids", "entity_attention_mask", "entity_position_ids"]  # fmt: skip
        ents = {0: "batch", 1: "entities"}
        return (ids, mask, torch.randint(1, 100, (B, 2)), torch.ones(B, 2, dtype=torch.int64), pos), names, {**dict.fromkeys(names[:2], seq), **dict.fromkeys(names[2:], ents)}  # fmt: skip
    if kind == "markup":  # MarkupLM: per token its XPath, 50 tag ids and subscripts, padded
        tags, subs = torch.full((B, S, 50), 216), torch.full((B, S, 50), 1001)
        tags[..., :3], subs[..., :3] = (
            torch.randint(0, 200, (B, S, 3)),
            torch.randint(0, 5, (B, S, 3)),
        )
        names = ["input_ids", "xpath_tags_seq", "xpath_subs_seq", "attention_mask"]
        return (ids, tags, subs, mask), names, dict.fromkeys(names, seq)
    if kind == "speech_seq2seq":  # Whisper: log-mel frames (its one length) and decoder ids
        return (torch.randn(B, 16, 100), ids[:, :5]), ["input_features", "decoder_input_ids"], {"input_features": {0: "batch"}, "decoder_input_ids": {0: "batch", 1: "decoder_sequence"}}  # fmt: skip
    if kind == "video_text":  # X-CLIP: captions (any count) and videos of 4 frames
        text = {0: "captions", 1: "sequence"}
        return (ids, torch.randn(B, 4, 3, 64, 64), mask), ["input_ids", "pixel_values", "attention_mask"], {"input_ids": text, "attention_mask": text, "pixel_values": {0: "batch"}}  # fmt: skip
    if kind == "layout_fraction":  # BROS: boxes as fractions of the page, in [0, 1]
        box = torch.rand(B, S, 4) * 0.5
        box[..., 2:] += 0.4
        names = ["input_ids", "bbox", "attention_mask"]
        return (ids, box, mask), names, dict.fromkeys(names, seq)
    if kind == "pose_dataset":  # a person crop and which dataset's expert head each takes
        return (torch.randn(B, 3, 64, 48), torch.tensor([0, 2])), ["pixel_values", "dataset_index"], {"pixel_values": {0: "batch"}, "dataset_index": {0: "batch"}}  # fmt: skip
    if kind == "pixel_clusters":  # ImageGPT: an 8x8 image as colour-cluster ids (512 clusters)
        return (torch.randint(0, 512, (B, 64)),), ["input_ids"], {"input_ids": {0: "batch"}}
    if kind == "speech_text":  # a waveform and the decoder's ids (speech to text)
        return (torch.randn(B, 4000), ids[:, :5].clone()), ["input_values", "decoder_input_ids"], {"input_values": {0: "batch", 1: "samples"}, "decoder_input_ids": {0: "batch", 1: "decoder_sequence"}}  # fmt: skip
    if kind == "bytes":  # Perceiver's UTF-8 bytes (+ 6 special ids), named "inputs"
        return (torch.randint(6, 262, (B, S)), mask), ["inputs", "attention_mask"], dict.fromkeys(["inputs", "attention_mask"], seq)  # fmt: skip
    if kind == "regions":  # LXMERT: ids, region features and their boxes in [0, 1], a mask
        pos = torch.rand(B, 5, 4) * 0.5
        pos[..., 2:] += pos[..., :2]
        names = ["input_ids", "visual_feats", "visual_pos", "attention_mask"]
        return (ids, torch.randn(B, 5, 16), pos, mask), names, {**dict.fromkeys(["input_ids", "attention_mask"], seq), **dict.fromkeys(["visual_feats", "visual_pos"], {0: "batch", 1: "regions"})}  # fmt: skip
    if kind == "visual_embeds":  # VisualBERT: ids, a mask and visual embeddings (from a detector)
        names = ["input_ids", "attention_mask", "visual_embeds"]
        return (ids, mask, torch.randn(B, 5, 16)), names, {**dict.fromkeys(names[:2], seq), "visual_embeds": {0: "batch", 1: "regions"}}  # fmt: skip
    if kind == "layout_seq2seq":  # UDOP: ids, a mask, boxes in [0, 1], the page, decoder ids
        box = torch.rand(B, S, 4) * 0.5
        box[..., 2:] += box[..., :2]
        names = ["input_ids", "attention_mask", "bbox", "pixel_values", "decoder_input_ids"]
        return (ids, mask, box, torch.randn(B, 3, 64, 64), ids[:, :5].clone()), names, {**dict.fromkeys(names[:3], seq), "pixel_values": {0: "batch"}, "decoder_input_ids": {0: "batch", 1: "decoder_sequence"}}  # fmt: skip
    if kind == "feature_frames":  # frames of 16 features, named hidden_states (Granite Speech)
        return (torch.randn(B, 40, 16),), ["hidden_states"], {"hidden_states": {0: "batch", 1: "frames"}}  # fmt: skip
    if kind == "mel_padding":  # mel frames and a bool mask, true where a frame is padding
        names = ["audio_mel", "audio_mel_mask"]
        return (torch.randn(B, 64, 16), torch.zeros(B, 64, dtype=torch.bool)), names, dict.fromkeys(names, {0: "batch", 1: "frames"})  # fmt: skip
    if kind in ("frames_text", "frames16_text"):  # filterbank frames, their mask, decoder ids
        frames = {0: "batch", 1: "frames"}  # (20 features; 16 mel bins: a FastConformer's)
        return (torch.randn(B, 100, 20 if kind == "frames_text" else 16), torch.ones(B, 100, dtype=torch.int64), ids[:, :5].clone()), ["input_features", "attention_mask", "decoder_input_ids"], {"input_features": frames, "attention_mask": frames, "decoder_input_ids": {0: "batch", 1: "decoder_sequence"}}  # fmt: skip
    if kind == "image_text":  # an image and the ids decoded so far (captioning, OCR)
        return (torch.randn(B, 3, 64, 64), ids[:, :5].clone()), ["pixel_values", "decoder_input_ids"], {"pixel_values": {0: "batch"}, "decoder_input_ids": {0: "batch", 1: "decoder_sequence"}}  # fmt: skip
    if kind == "pronounced":  # RoCBERT: ids, each token's glyph-shape and pronunciation ids
        names = ["input_ids", "input_shape_ids", "input_pronunciation_ids", "attention_mask"]
        return (ids, torch.randint(0, 50, (B, S)), torch.randint(0, 50, (B, S)), mask), names, dict.fromkeys(names, seq)  # fmt: skip
    if kind == "waveform_states":  # a codec's mono waveform named hidden_states (VibeVoice's)
        return (torch.randn(B, 1, 4000),), ["hidden_states"], {"hidden_states": {0: "batch", 2: "samples"}}  # fmt: skip
    if kind == "stacked_frames":  # 2 mel frames of 16 stacked per step, and their mask (FunASR)
        axes = {0: "batch", 1: "frames"}
        return (torch.randn(B, 50, 32), torch.ones(B, 50, dtype=torch.int64)), ["input_features", "input_features_mask"], {"input_features": axes, "input_features_mask": axes}  # fmt: skip
    if kind == "mel_chunks":  # mel bins x frames, in chunks of 100 frames, and the frames' mask
        return (torch.randn(B, 16, 200), torch.ones(B, 200, dtype=torch.int64)), ["input_features", "input_features_mask"], {"input_features": {0: "batch", 2: "frames"}, "input_features_mask": {0: "batch", 1: "frames"}}  # fmt: skip
    if kind == "series1d":  # one series per sample, its context any length (TimesFM 2.5)
        return (torch.randn(B, 32),), ["past_values"], {"past_values": {0: "batch", 1: "context"}}
    if kind == "waveform_fbank":  # NeuCodec: a waveform of 10 frames of 320 samples, and 2 stacked
        # 80-bin filterbank frames per frame
        return (torch.randn(B, 1, 3200), torch.randn(B, 10, 160)), ["input_values", "input_features"], {"input_values": {0: "batch", 2: "samples"}, "input_features": {0: "batch", 1: "frames"}}  # fmt: skip
    if kind == "text_codes4":  # Kyutai STT: per step a text id and a codec's 4 audio codes
        codes = torch.cat([ids[..., None], torch.randint(0, 64, (B, S, 4))], -1)
        return (codes, mask), ["input_ids", "attention_mask"], dict.fromkeys(["input_ids", "attention_mask"], seq)  # fmt: skip
    if kind in ("mel4_text", "waveform_text"):  # text, and CLAP's mel image or PE Audio's waveform
        audio = torch.randn(B, 1, 64, 16) if kind == "mel4_text" else torch.randn(B, 1, 4000)
        name = "input_features" if kind == "mel4_text" else "input_values"
        return (ids, mask, audio), ["input_ids", "attention_mask", name], {"input_ids": seq, "attention_mask": seq, name: {0: "batch", **({2: "samples"} if kind == "waveform_text" else {})}}  # fmt: skip
    if kind == "videos_text":  # videos of 4 frames and one text each (VideoPrism, PE Video)
        return (torch.randn(B, 4, 3, 64, 64), ids, mask), ["pixel_values_videos", "input_ids", "attention_mask"], {"pixel_values_videos": {0: "batch"}, "input_ids": seq, "attention_mask": seq}  # fmt: skip
    if kind == "seq2seq_codes4":  # Dia: text ids and the decoder's 4 audio codes per step
        names = ["input_ids", "attention_mask", "decoder_input_ids"]
        return (ids, mask, torch.randint(0, 60, (B, 5, 4))), names, {"input_ids": seq, "attention_mask": seq, "decoder_input_ids": {0: "batch", 1: "decoder_sequence"}}  # fmt: skip
    if kind in ("latents32", "latent_states16"):  # a codec decoder's latents: channels x frames
        name = "latents" if kind == "latents32" else "hidden_states"
        return (torch.randn(B, 32 if kind == "latents32" else 16, 50),), [name], {name: {0: "batch", 2: "frames"}}  # fmt: skip
    if kind == "audio_tokens25":  # Qwen2-Audio: ids holding a 100-frame log-mel's 25 audio tokens
        aud = torch.randint(3, 900, (B, 33))  # (its encoder halves the frames twice)
        aud[:, 4:29] = 999
        names = ["input_ids", "input_features", "attention_mask", "feature_attention_mask"]
        return (aud, torch.randn(B, 16, 100), torch.ones_like(aud), torch.ones(B, 100, dtype=torch.int64)), names, {"input_ids": seq, "attention_mask": seq, "input_features": {0: "batch"}, "feature_attention_mask": {0: "batch"}}  # fmt: skip
    if kind == "audio_tokens50":  # Music Flamingo: ids holding a 200-frame log-mel's 50 audio
        aud = torch.randint(3, 900, (B, 58))  # tokens (its encoder halves the frames twice), the
        aud[:, 4:54] = 999  # log-mel (mel bins x frames) and its frames' mask
        names = ["input_ids", "input_features", "input_features_mask", "attention_mask"]
        return (aud, torch.randn(B, 16, 200), torch.ones(B, 200, dtype=torch.int64), torch.ones_like(aud)), names, {"input_ids": seq, "attention_mask": seq, "input_features": {0: "batch"}, "input_features_mask": {0: "batch"}}  # fmt: skip
    if kind == "text_audio_codes":  # Higgs Audio v2: ids holding 8 audio frames' tokens, the
        aud = torch.randint(3, 900, (B, 16))  # frames' 4 codebook ids each, which frames are real
        aud[:, 4:12] = 999
        names = ["input_ids", "audio_input_ids", "attention_mask", "audio_input_ids_mask"]
        return (aud, torch.randint(0, 64, (B, 8, 4)), torch.ones_like(aud), torch.ones(B, 8, dtype=torch.bool)), names, {"input_ids": seq, "attention_mask": seq, "audio_input_ids": {0: "batch", 1: "frames"}, "audio_input_ids_mask": {0: "batch", 1: "frames"}}  # fmt: skip
    if kind == "image_cross":  # Idefics: ids, one image per sample, which tokens attend to it
        names = ["input_ids", "attention_mask", "pixel_values", "image_attention_mask"]
        return (ids, mask, torch.randn(B, 1, 3, 64, 64), torch.ones(B, S, 1, dtype=torch.int64)), names, {**dict.fromkeys(["input_ids", "attention_mask", "image_attention_mask"], seq), "pixel_values": {0: "batch"}}  # fmt: skip
    if kind == "video_text1":  # TVP: one video of 4 frames and its text, batch 1 (TVP views its
        # column position embeddings to the batch: only 1 works)
        text = {1: "sequence"}
        return (ids[:1], torch.randn(1, 4, 3, 64, 64), mask[:1]), ["input_ids", "pixel_values", "attention_mask"], {"input_ids": text, "attention_mask": text}  # fmt: skip
    if kind == "grid4_padded":  # ColQwen2: grid4's patches padded per image (batch x patches)
        vlm = torch.randint(3, 900, (B, 12))
        vlm[:, 4:8] = 999
        names = ["input_ids", "attention_mask", "pixel_values", "image_grid_thw"]
        return (vlm, torch.ones_like(vlm), torch.randn(B, 16, 3 * 2 * 8 * 8), torch.tensor([[1, 4, 4]] * B)), names, {"input_ids": seq, "attention_mask": seq, "pixel_values": {0: "batch"}, "image_grid_thw": {0: "batch"}}  # fmt: skip
    if kind == "tiles_masked16":  # Granite Docling: tiles per sample and which are real (bool)
        vlm = torch.randint(3, 900, (B, 24))
        vlm[:, 4:20] = 999
        names = ["input_ids", "attention_mask", "pixel_values", "pixel_attention_mask"]
        return (vlm, torch.ones_like(vlm), torch.randn(B, 1, 3, 64, 64), torch.ones(B, 1, dtype=torch.bool)), names, {"input_ids": seq, "attention_mask": seq, "pixel_values": {0: "batch"}, "pixel_attention_mask": {0: "batch"}}  # fmt: skip
    if kind == "video_instructed32":  # InstructBLIP-Video: 4 frames, 8 query tokens a frame
        vlm = torch.randint(3, 900, (B, 40))
        vlm[:, 4:36] = 999
        names = ["input_ids", "pixel_values", "attention_mask", "qformer_input_ids"]
        return (vlm, torch.randn(B, 4, 3, 64, 64), torch.ones_like(vlm), torch.randint(3, 900, (B, 6))), names, {"input_ids": seq, "attention_mask": seq, "pixel_values": {0: "batch"}, "qformer_input_ids": {0: "batch", 1: "instruction"}}  # fmt: skip
    if kind == "hybrid16":  # DeepSeek-VL hybrid: a 32x32 image for SigLIP, a 64x64 one for SAM
        vlm = torch.randint(3, 900, (B, 24))
        vlm[:, 4:20] = 999
        names = ["input_ids", "attention_mask", "pixel_values", "high_res_pixel_values"]
        return (vlm, torch.ones_like(vlm), torch.randn(B, 3, 32, 32), torch.randn(B, 3, 64, 64)), names, {"input_ids": seq, "attention_mask": seq, "pixel_values": {0: "batch"}, "high_res_pixel_values": {0: "batch"}}  # fmt: skip
    if kind == "robot":  # PI0: a robot's state, the noisy action chunk, its flow time, a camera
        vlm = torch.randint(3, 900, (B, 24))  # image and the instruction (16 image tokens)
        vlm[:, :16] = 999
        names = ["state", "noise", "timestep", "input_ids", "pixel_values", "pixel_attention_mask", "attention_mask"]  # fmt: skip
        return (torch.randn(B, 8), torch.randn(B, 4, 6), torch.tensor([0.3, 0.8]), vlm, torch.randn(B, 1, 3, 32, 32), torch.ones(B, 1, dtype=torch.bool), torch.ones_like(vlm)), names, {**dict.fromkeys(["state", "noise", "timestep", "pixel_values", "pixel_attention_mask"], {0: "batch"}), "input_ids": seq, "attention_mask": seq}  # fmt: skip
    if kind == "protein_text":  # Evolla: text ids and a protein's structure-aware tokens
        names = ["input_ids", "attention_mask", "protein_input_ids", "protein_attention_mask"]
        prot = {0: "batch", 1: "residues"}
        return (ids, mask, torch.randint(5, 446, (B, 12)), torch.ones(B, 12, dtype=torch.int64)), names, {"input_ids": seq, "attention_mask": seq, "protein_input_ids": prot, "protein_attention_mask": prot}  # fmt: skip
    if kind == "waveform_video":  # PE Audio-Video: a mono waveform and 4 video frames
        return (torch.randn(B, 1, 4000), torch.randn(B, 4, 3, 64, 64)), ["input_values", "pixel_values_videos"], {"input_values": {0: "batch", 2: "samples"}, "pixel_values_videos": {0: "batch"}}  # fmt: skip
    if kind == "image_any":  # height and width dynamic too (a keypoint detector)
        return (torch.randn(B, 3, 64, 64),), ["pixel_values"], {"pixel_values": {0: "batch", 2: "height", 3: "width"}}  # fmt: skip
    return (torch.randn(B, 16, 100),), ["input_features"], {"input_features": {0: "batch"}}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """stdout silenced at the file descriptor: the TorchScript exporter prints its whole IR
    graph from C++ when it fails (Mixtral's: hundreds of lines), past ``sys.stdout``."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


def _calibrate_batchnorm(model: Any, names: list[str], args: tuple[Any, ...]) -> None:
    """BatchNorm as in a trained net: scale 1, shift 0 and statistics from one random batch.
    The configs' initialization draws every weight, BatchNorm scales included, from a 0.02-std
    normal and leaves the statistics at mean 0, variance 1: an EfficientNet's activations then
    shrink 1e-5-fold per block (three BatchNorms of scale ~0.02) and its output is 0 or 1e-33,
    which verifies nothing."""
    import torch

    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    for m in norms:
        m.reset_parameters()  # scale 1, shift 0, statistics reset
        m.momentum = None  # a cumulative average: one batch sets the statistics
        m.train()  # only the norms: FastSpeech2 in training mode asks for its labels
    with torch.no_grad():
        model(**dict(zip(names, args, strict=True)))
    model.eval()


def _outputs(model: Any, names: list[str], outs: list[str]) -> Any:
    """``model`` taking its inputs by position and returning the named outputs as a tuple (a
    ``ModelOutput`` is a dict to the exporters and to torch.fx)."""
    import torch

    class Outputs(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = model

        def forward(  # positional, as the exporters pass inputs
            self, x0: Any, x1: Any = None, x2: Any = None, x3: Any = None, x4: Any = None,
            x5: Any = None, x6: Any = None,
        ) -> tuple[Any, ...]:  # fmt: skip
            xs = (x0, x1, x2, x3, x4, x5, x6)
            o = self.m(**{k: x for k, x in zip(names, xs, strict=False) if x is not None})
            return tuple(o[k] for k in outs) if outs else (o,)  # [] : the model returns a tensor

    return Outputs().eval()


def _named(model: Any, names: list[str], outs: list[str]) -> Any:
    """``_outputs(...)`` whose ``forward`` takes the inputs under their own names (the tracer and
    torch.export name the inputs after the signature, as a user's own module has them: a
    program's ``x1`` read as any 0/1 ints where ``attention_mask`` is a mask of ones)."""
    import inspect

    wrapped = _outputs(model, names, outs)
    keep = type(wrapped).forward

    def forward(self: Any, *xs: Any) -> Any:
        return keep(self, *xs)

    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter(n, kind) for n in ["self", *names]]
    forward.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    type(wrapped).forward = forward
    return wrapped


def _make(
    name: str, make: Callable[[], Any], kind: str
) -> tuple[Any, tuple[Any, ...], list[str], Any]:
    """The seeded model (BatchNorm calibrated), its example inputs, their names and axes; or the
    line saying why the config was refused."""
    import torch

    try:
        torch.manual_seed(0)
        model = make().eval()
    except Exception as e:  # a config this transformers version does not take
        return (
            None,
            (),
            [],
            f"{name}: config refused ({type(e).__name__}: {str(e).splitlines()[0][:120]})",
        )
    args, names, axes = _example(kind)
    try:
        _calibrate_batchnorm(model, names, args)
    except Exception as e:  # a config whose fields mean something else in this version
        msg = str(e).splitlines()[0][:120] if str(e) else ""
        return None, (), [], f"{name}: the model refuses its example ({type(e).__name__}: {msg})"
    return model, args, names, axes


def fx_check(
    name: str, make: Callable[[], Any], kind: str, outs: list[str], plan: bool = False
) -> str:
    """One line: the family through the torch.fx front end (``fx_line``)."""
    model, args, names, why = _make(name, make, kind)
    if model is None:
        return str(why)
    return fx_line(name, _outputs(model, names, outs), args, plan)


def fx_line(name: str, module: Any, args: tuple[Any, ...], plan: bool = False) -> str:
    """One line: ``rewrite_module(module, "pau_all", example_inputs=args)`` and nothing else,
    against the original module on those inputs; with ``plan``, also ``plan_module(module,
    args)`` (torch-eager): sites replaced, seconds. A failure is one line too."""
    import time

    import torch

    from rewriter.frontends.fx import plan_module, rewrite_module

    t0 = time.perf_counter()
    try:
        gm, sites = rewrite_module(module, "pau_all", example_inputs=args)
    except Exception as e:  # noqa: BLE001  (the sweep reports every failure and goes on)
        return (
            f"{name}: FAILED ({type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''})"
        )
    seconds = time.perf_counter() - t0
    with torch.no_grad():  # seeded alike: VITS draws noise, and its length follows it
        torch.manual_seed(0)
        want = module(*args)
        torch.manual_seed(0)
        try:
            got = gm(*args)
        except Exception as e:  # noqa: BLE001  (a rewritten module that fails on its example)
            first = str(e).splitlines()[0][:160] if str(e) else ""
            return f"{name}: the rewritten module FAILED on the example ({type(e).__name__}: {first})"  # fmt: skip
    # nested outputs (YOLO's tensor beside a dict of feature maps): their tensors, in order
    want, got = (
        [t for t in torch.utils._pytree.tree_leaves(o) if isinstance(t, torch.Tensor)]
        for o in (want, got)
    )
    if len(want) != len(got):
        return f"{name}: {len(want)} output tensors -> {len(got)}"
    if any(w.shape != g.shape for w, g in zip(want, got, strict=True)):
        shapes = ", ".join(
            f"{tuple(w.shape)} -> {tuple(g.shape)}" for w, g in zip(want, got, strict=True)
        )
        return f"{name}: outputs of other shapes ({shapes}), {time.perf_counter() - t0:.1f} s"
    rel = max(_rel_l2(w, g) for w, g in zip(want, got, strict=True))
    found = ", ".join(sorted({s.function for s in sites})) or "none"
    n = sum(s.replaced for s in sites)
    line = (
        f"{name}: {n} of {len(sites)} site(s) replaced ({found}), rel-L2 {rel:.1e}, {seconds:.1f} s"
    )
    if plan:
        p = plan_module(module, args)
        line += (
            f"; plan_module: {len(p.replaced)} of {len(p.decisions)} replaced, {p.seconds:.1f} s"
        )
    return line


def _rel_l2(want: Any, got: Any) -> float:
    """Relative L2 over the finite entries; inf where the non-finite ones differ (Grounding
    DINO's logits are -inf past each text: the difference there read NaN)."""
    import torch

    w, g = want.double(), got.double()
    finite = torch.isfinite(w)
    if not torch.equal(finite, torch.isfinite(g)) or not torch.equal(w[~finite], g[~finite]):
        return float("inf")
    w, g = w[finite], g[finite]
    return float((g - w).norm() / max(float(w.norm()), 1e-30))


def build(
    name: str,
    make: Callable[[], Any],
    kind: str,
    outs: list[str],
    folder: str,
    opset: int = 20,
    pt2: bool = False,
    archive: bool = False,
) -> list[str]:
    """Export one family both ways into ``folder``; the lines to print (built or why not). With
    ``pt2``, save its ``torch.export`` program instead (``NAME.pt2``, ``Dim.AUTO`` dims); with
    ``archive``, its ``torch.jit.trace`` (``NAME.pt``, the inputs under their own names)."""
    model, args, names, axes = _make(name, make, kind)
    if model is None:
        return [str(axes)]
    if archive:
        import torch

        path = os.path.join(folder, f"{name}.pt")
        try:
            with _quiet(), torch.no_grad():
                traced = torch.jit.trace(_named(model, names, outs), args, check_trace=False)
                torch.jit.save(traced, path)
            return [f"built {os.path.basename(path)}"]
        except Exception as e:  # the tracer's limit (an autograd Function): say which, go on
            msg = next((ln for ln in str(e).splitlines() if ln.strip()), "")[:160]
            if os.path.exists(path):  # torch.jit.save refused the trace's Python ops midway
                os.unlink(path)
            return [f"{os.path.basename(path)}: trace failed ({type(e).__name__}: {msg})"]
    if pt2:
        import torch

        path = os.path.join(folder, f"{name}.pt2")
        auto = tuple(dict.fromkeys(axes.get(n, {}), torch.export.Dim.AUTO) for n in names)
        try:
            with _quiet(), torch.no_grad():
                ep = torch.export.export(_named(model, names, outs), args, dynamic_shapes=auto)
                torch.export.save(ep, path)
            return [f"built {os.path.basename(path)}"]
        except Exception as e:  # torch.export's limit: say which, go on
            msg = str(e).splitlines()[0][:160] if str(e) else ""
            if os.path.exists(path):  # torch.export.save refused a node midway (a flat_apply)
                os.unlink(path)
            return [f"{os.path.basename(path)}: export failed ({type(e).__name__}: {msg})"]
    # an output named like an input (a diffusers UNet's "sample"): the dynamo exporter writes
    # a model ONNX Runtime refuses, the TorchScript one renames the input "sample.1"
    onames = [f"{o}_out" if o in names else o for o in outs or ["waveform"]]
    lines = []
    for dynamo in (False, True):
        path = os.path.join(folder, f"{name}_{'dynamo' if dynamo else 'torchscript'}.onnx")
        try:
            with _quiet():
                _export(_outputs(model, names, outs), args, path, names, onames, axes, dynamo, auto_dims=True,
                        opset=opset if dynamo else None)  # fmt: skip
            lines.append(f"built {os.path.basename(path)}")
        except Exception as e:  # the exporter's limit: say which, go on
            msg = str(e).splitlines()[0][:160] if str(e) else ""
            lines.append(f"{os.path.basename(path)}: export failed ({type(e).__name__}: {msg})")
            if os.path.exists(path):
                os.unlink(path)
    return lines


def interpreter_check(path: str) -> str:
    """One line: the interpreter against ONNX Runtime on ``path``, on generated inputs."""
    import numpy as np
    import torch

    from rewriter.cost.torch_convert import UnsupportedOps, to_torch
    from rewriter.errors import RewriterError
    from rewriter.inputs import generate_inputs
    from rewriter.ir.io import load_model
    from rewriter.ir.runtime import run_session, session

    name = os.path.basename(path)
    try:
        model = load_model(path)  # as the CLI loads it (Mamba2's negative Transpose perms)
        feeds = generate_inputs(model).feeds
        want = run_session(session(model), feeds)
        if any(n.op_type == "If" for n in model.graph.node):
            # the branches these inputs take spliced in, as retraining does (the interpreter
            # has no If: ViTDet's and DINOv3's TorchScript exports branch on shapes)
            from rewriter.ir.branches import take_branches

            model = take_branches(model, feeds).model
        module = to_torch(model)
        with torch.no_grad():
            got = module(*(torch.from_numpy(feeds[n]) for n in module.input_names))
    except UnsupportedOps as e:
        return f"{name}: not converted ({e})"
    except RewriterError as e:  # ONNX Runtime refuses the export, or runs it on no input
        return f"{name}: not checked ({e})"
    from rewriter.ir.picks import drawn

    # an output a random draw is behind: torch's draws are not ONNX Runtime's (ViT-MAE)
    random = drawn(model.graph)
    pairs = [
        (w, g)
        for o, w, g in zip(model.graph.output, want, got, strict=True)
        if o.name not in random
    ]
    if not pairs:
        return f"{name}: converted and run; every output drawn at random, none compared"
    worst = max(
        float(np.abs(w - g.numpy()).max() / max(float(np.abs(w).max()), 1e-30)) for w, g in pairs
    )
    skipped = (
        f" ({len(want) - len(pairs)} drawn at random not compared)"
        if len(pairs) < len(want)
        else ""
    )
    return f"{name}: matches ONNX Runtime to {worst:.1e} of the output's largest value{skipped}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="families (default all)")
    ap.add_argument("--out", help="folder for the models and results (default: temporary)")
    ap.add_argument("--no-target", action="store_true", help="skip the --target runs")
    ap.add_argument("--opset", type=int, default=20, help="opset of the dynamo exports (20)")
    ap.add_argument("--interpreter", action="store_true",
                    help="check the ONNX -> torch interpreter instead of running the CLI")  # fmt: skip
    ap.add_argument("--fx", action="store_true",
                    help="run each torch module through the torch.fx front end instead (no export)")  # fmt: skip
    ap.add_argument("--pt2", action="store_true",
                    help="save each family's torch.export program (NAME.pt2) and run those")  # fmt: skip
    ap.add_argument("--archive", action="store_true",
                    help="save each family's torch.jit.trace (NAME.pt) and run those")  # fmt: skip
    ap.add_argument("--plan", action="store_true",
                    help="with --fx: also plan_module on torch-eager (decisions, seconds)")  # fmt: skip
    a = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    for log in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript", "transformers"):
        logging.getLogger(log).setLevel(logging.ERROR)
    import acceptance  # tools/acceptance.py

    if a.fx:
        for name, make, kind, outs in _families():
            if not a.names or name in a.names:
                print(fx_check(name, make, kind, outs, a.plan), flush=True)
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(a.out or tmp, "models")
        os.makedirs(folder, exist_ok=True)
        for name, make, kind, outs in _families():
            if a.names and name not in a.names:
                continue
            for line in build(name, make, kind, outs, folder, a.opset, a.pt2, a.archive):
                print(line, file=sys.stderr, flush=True)
        if a.interpreter:
            for path in sorted(os.listdir(folder)):
                print(interpreter_check(os.path.join(folder, path)), flush=True)
            return 0
        extra = ["--no-target"] if a.no_target else []
        return acceptance.main(
            ["--zoo", folder, "--out", os.path.join(a.out or tmp, "out"), *extra]
        )


if __name__ == "__main__":
    sys.exit(main())
