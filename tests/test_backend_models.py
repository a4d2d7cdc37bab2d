"""The main command on the 140 models onnx ships for its own backend tests (many exporters,
opsets 6-13, IR 3-8; no download): each exits 0, or 1/2 with one line and no traceback
(``tools/backend_sweep.py`` prints the same sweep)."""

from __future__ import annotations

import os
import sys

import pytest

from rewriter.cli import main

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
from backend_sweep import models  # noqa: E402

# what ONNX Runtime itself cannot load or run (checked in the one line each prints)
_KNOWN = {
    "test_gradient_of_add": "ai.onnx.preview.training:Gradient",
    "test_gradient_of_add_and_mul": "ai.onnx.preview.training:Gradient",
    "test_PReLU_1d_multiparam": "ONNX Runtime refuses the feeds",
    "test_PReLU_2d_multiparam": "ONNX Runtime refuses the feeds",
    "test_PReLU_3d_multiparam": "ONNX Runtime refuses the feeds",
}


@pytest.mark.parametrize("target", [None, "ort-cpu:threads=1"])
def test_backend_models_rewrite_or_say_why_in_one_line(target, tmp_path, capsys) -> None:
    paths = models()
    assert len(paths) >= 140
    ok, failed = 0, {}
    for path in paths:
        name = os.path.basename(os.path.dirname(path))
        before = open(path, "rb").read()
        args = [path, "-o", str(tmp_path / "out.onnx"), "-q"]
        code = main([*args, "--target", target] if target else args)
        err = [ln for ln in capsys.readouterr().err.splitlines() if "note:" not in ln]
        assert open(path, "rb").read() == before
        if code == 0:
            ok += 1
            continue
        assert code in (1, 2) and len(err) == 1 and err[0].startswith("rewrite: error:"), (
            name,
            err,
        )
        failed[name] = err[0]
    for name, line in failed.items():
        if name.startswith("test_strnorm"):  # StringNormalizer's locale, absent on some hosts
            assert "string_normalizer" in line, line
        else:
            assert name in _KNOWN and _KNOWN[name] in line, (name, line)
    assert ok >= 131
