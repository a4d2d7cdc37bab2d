"""Front ends: turn a framework's model into a graph the shared rule matcher can read.

``rewriter.frontends.fx`` lowers a traced ``torch.fx`` graph into an ONNX-like view, so the rule
library (``rewriter.patterns``) and user rules apply to ``torch.nn.Module``s as they do to ONNX.
"""
