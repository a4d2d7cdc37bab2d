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
            assert "its StringNormalizer needs the locale en_US.UTF-8" in line, line
        else:
            assert name in _KNOWN and _KNOWN[name] in line, (name, line)
    assert ok >= 131


@pytest.mark.filterwarnings("ignore::rewriter.errors.Note")  # "opset 6 converted to 11"
def test_backend_models_run_in_the_interpreter_as_in_onnxruntime() -> None:
    """The ONNX-to-torch interpreter (retraining, torch targets) on the same models, fed their
    own test data: every model ONNX Runtime runs converts, except StringNormalizer's, and
    computes what ONNX Runtime computes (sequences, LRN, Shrink, old opsets converted)."""
    import glob

    import numpy as np
    import onnx
    import onnxruntime as ort
    import torch
    from onnx import numpy_helper

    from rewriter.cost.torch_convert import UnsupportedOps, to_torch
    from rewriter.ir.io import load_model

    ran = 0
    for path in models():
        name = os.path.basename(os.path.dirname(path))
        m = load_model(path)
        given = {t.name for t in m.graph.initializer}
        names = [i.name for i in m.graph.input if i.name not in given]
        feeds = {}
        for k, f in enumerate(
            sorted(glob.glob(f"{os.path.dirname(path)}/test_data_set_0/input_*.pb"))
        ):
            t = onnx.load_tensor(f)
            feeds[t.name or names[k]] = numpy_helper.to_array(t)
        try:
            sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
            ref = sess.run(None, feeds)
        except Exception:  # what ONNX Runtime cannot load or run (see the test above)
            continue
        try:
            module = to_torch(m)
        except UnsupportedOps as e:
            assert e.ops == ["StringNormalizer"], (name, e.ops)
            continue
        with torch.no_grad():
            got = module(*(torch.from_numpy(np.array(feeds[n])) for n in module.input_names))
        assert len(got) == len(ref), name
        for g, r in zip(got, ref, strict=True):
            g = np.asarray([v.numpy() for v in g] if isinstance(g, list) else g)
            r = np.asarray(r)
            assert g.shape == r.shape, (name, g.shape, r.shape)
            scale = max(float(np.nanmax(np.abs(r.astype(np.float64)), initial=0.0)), 1.0)
            np.testing.assert_allclose(  # NaN where ONNX Runtime has NaN (pow of negatives)
                g.astype(np.float64), r.astype(np.float64), rtol=0, atol=1e-4 * scale, err_msg=name
            )
        ran += 1
    assert ran >= 129
