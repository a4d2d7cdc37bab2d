"""The IR layer: the graph view the engine edits (``graph``), reading and writing models
(``io``), and the one ONNX Runtime helper every command runs models with (``runtime``)."""

from rewriter.ir.graph import (
    Graph,
    ValueInfo,
    ValueInfoTable,
    all_initializers,
    all_nodes,
    default_opset,
    dynamic_inputs,
    free_values,
    infer_value_info,
    sort_nodes,
    subgraph_attrs,
)
from rewriter.ir.io import (
    MIN_OPSET,
    check_output_path,
    load_model,
    save_atomic,
    write_atomic,
)
from rewriter.ir.runtime import run_model, run_values, session

__all__ = [
    "Graph",
    "ValueInfo",
    "ValueInfoTable",
    "all_initializers",
    "all_nodes",
    "default_opset",
    "dynamic_inputs",
    "free_values",
    "infer_value_info",
    "sort_nodes",
    "subgraph_attrs",
    "check_output_path",
    "load_model",
    "MIN_OPSET",
    "save_atomic",
    "write_atomic",
    "run_model",
    "run_values",
    "session",
]
