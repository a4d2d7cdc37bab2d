"""PyTorch files: a ``torch.export`` program (``torch.export.save``, ``.pt2``) is converted to ONNX
with torch's own exporter and checked against the program run in PyTorch.

    rewrite model.pt2 -p pau_all -o out.onnx

``rewriter.ir.load_model`` calls ``convert`` for such a file (``source_kind`` says which, from
the archive's contents, not its name), so every command accepts it; ``source_check`` runs the
program (``ExportedProgram.module()``) and the converted and rewritten ONNX models in ONNX
Runtime on the same inputs, and reports both deviations, as for TensorFlow-family inputs.

Why this exporter: an exported program is what ``torch.onnx.export(..., dynamo=True)`` exports
in the first place (it calls ``torch.export`` on a module), so converting the saved program is
the same path a user's own export takes, with the program's dynamic dims kept as named dims.

A TorchScript archive (``torch.jit.save``) is converted too (``_script``): it records no input
shapes, so an example is read from its graph and probed, and the module is exported with
torch.onnx's TorchScript exporter; its check runs the module in PyTorch.

The other files PyTorch users hold have no graph this can convert, and each gets one line that
says what the file is and what to do (``describe``): a state dict or ``pytorch_model.bin``
(weights only), a pickled ``nn.Module`` (Python objects; loading it runs code from the file),
safetensors (weights only), and an AOTInductor package (machine code for one device).
"""

from __future__ import annotations

from rewriter.frontends.pt2._convert import (
    convert,
    describe,
    export_check,
    source_check,
    source_kind,
)

__all__ = ["convert", "describe", "export_check", "source_check", "source_kind"]
