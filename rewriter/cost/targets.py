"""Targets: a runtime plus the hardware it runs on, and how to make a callable session on it.

    t = get_target("ort-cpu:threads=1")
    run = t.session(model_proto)          # callable(feeds: dict[str, np.ndarray]) -> outputs
    run(feeds)
    t.fingerprint()                       # CPU model, ISA flags, cores, caches, runtime, threads

A target string is ``NAME[:key=value,...]``. Known names and options:

* ``ort-cpu``: ONNX Runtime, CPUExecutionProvider. ``threads`` (default 1), ``opt``
  (``all`` = ORT_ENABLE_ALL, the deployment level, default; ``extended``, ``basic``, ``disabled``).
* ``openvino-cpu``: OpenVINO CPU plugin, LATENCY hint. ``threads`` (default 1), ``precision``
  (``f32`` default; ``bf16`` where the CPU has it), ``static`` (``0`` default: the model is
  compiled as it is, dynamic dims dynamic; ``1``: reshaped to the input shapes of its first run
  before compiling, as OpenVINO recommends for speed). It matters for rationals: OpenVINO fuses
  their elementwise chain into one kernel only with static shapes (the zoo's YOLO with its SiLU
  sites as rationals, at 1x3x224x224, one thread: 0.243 ms static, 1.753 ms dynamic; the
  original 0.279 / 0.297 ms; ``tools/bench_openvino_static.py``).
* ``torch-eager`` / ``torch-inductor``: the ONNX model converted to a ``torch.nn.Module``
  (``rewriter.cost.torch_convert``), run eagerly or through ``torch.compile`` (Inductor).
  ``threads`` (default 1).
* ``ort-cuda`` / ``ort-tensorrt``: ONNX Runtime GPU providers; available only where the
  installed onnxruntime has them (``pip install onnxruntime-gpu``). Same interface, so the
  cost model and the planner work unchanged on GPUs.

Unknown names, unknown options and missing runtimes raise ``UsageError`` with one line saying
what to do.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

from rewriter.errors import ModelError, UsageError
from rewriter.ir import runtime
from rewriter.ir.io import mapped, model_file
from rewriter.procs import scratch_prefix

__all__ = [
    "Target",
    "get_target",
    "parse_target",
    "target_names",
    "hardware_fingerprint",
    "installed_targets",
]

Session = Callable[[dict[str, np.ndarray]], Any]

_ISA_FLAGS = (
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
    "neon",
    "asimd",
    "sve",
)


@functools.lru_cache(maxsize=1)
def hardware_fingerprint() -> dict[str, Any]:
    """CPU model, ISA flags that matter to kernels, logical cores and cache sizes (Linux /proc, /sys)."""
    model, flags = platform.processor() or platform.machine(), set[str]()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, val = line.partition(":")
                key = key.strip()
                if key in ("model name", "Hardware", "CPU part") and model in (
                    "",
                    platform.machine(),
                    platform.processor(),
                ):
                    model = val.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = set(val.split())
    except OSError:
        pass
    caches: dict[str, str] = {}
    base = "/sys/devices/system/cpu/cpu0/cache"
    if os.path.isdir(base):
        for idx in sorted(os.listdir(base)):
            try:
                level = open(f"{base}/{idx}/level").read().strip()
                kind = open(f"{base}/{idx}/type").read().strip()
                size = open(f"{base}/{idx}/size").read().strip()
            except OSError:
                continue
            caches[f"L{level}{'d' if kind == 'Data' else 'i' if kind == 'Instruction' else ''}"] = (
                size
            )
    fp: dict[str, Any] = {
        "cpu": model,
        "machine": platform.machine(),
        "isa": sorted(f for f in _ISA_FLAGS if f in flags),
        "cores": os.cpu_count() or 1,
        "caches": caches,
    }
    # `rewrite worker --label`: tells apart devices /proc cannot (containers with CPU limits)
    label = os.environ.get("PAU_REWRITER_DEVICE_LABEL")
    if label:
        fp["label"] = label
    return fp


def hardware_key() -> str:
    """Short stable hash of ``hardware_fingerprint()`` (the database key for the machine)."""
    text = json.dumps(hardware_fingerprint(), sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


@dataclass
class Target:
    """A runtime plus hardware. Subclasses implement ``_session``, ``runtime`` and ``version``.

    Attributes:
        name: the target name (``ort-cpu``).
        options: parsed ``key=value`` options (strings).
        threads: intra-op threads (fixed for every session of this target).
    """

    name: str
    options: dict[str, str] = field(default_factory=dict)
    threads: int = 1
    runtime: str = ""
    version: str = ""
    known_options: tuple[str, ...] = ("threads",)

    def __post_init__(self) -> None:
        bad = sorted(set(self.options) - set(self.known_options))
        if bad:
            raise UsageError(
                f"target {self.name}: unknown option(s) {bad}; known: {', '.join(self.known_options)}"
            )
        try:
            self.threads = int(self.options.get("threads", self.threads))
        except ValueError:
            raise UsageError(
                f"target {self.name}: threads={self.options['threads']!r} is not an integer"
            ) from None
        if self.threads < 1:
            raise UsageError(f"target {self.name}: threads must be >= 1")
        self._load()

    def _load(self) -> None:  # import the runtime, set runtime/version
        raise NotImplementedError

    def session(self, model: onnx.ModelProto) -> Session:
        """A callable running ``model`` on this target: ``run(feeds) -> outputs`` (numpy or tensors)."""
        try:
            return self._session(model)
        except (UsageError, ModelError):  # already one line saying what and where
            raise
        except Exception as e:  # runtime refusing the model: one line
            raise ModelError(
                f"{self.name} cannot load the model: {runtime.first_line(e)}"
            ) from None

    def _session(self, model: onnx.ModelProto) -> Session:
        raise NotImplementedError

    @property
    def spec(self) -> str:
        """Canonical target string with the options that change timings (database key)."""
        opts = {k: v for k, v in sorted(self.options.items()) if k != "threads"}
        return self.name + "".join(f":{k}={v}" for k, v in opts.items())

    def fingerprint(self) -> dict[str, Any]:
        return {
            **hardware_fingerprint(),
            "target": self.spec,
            "runtime": self.runtime,
            "version": self.version,
            "threads": self.threads,
        }

    def __str__(self) -> str:
        return f"{self.spec} ({self.runtime} {self.version}, {self.threads} thread{'s' if self.threads > 1 else ''})"


class OrtCpu(Target):
    provider = "CPUExecutionProvider"
    _LEVELS = runtime.LEVELS

    def __init__(self, name: str, options: dict[str, str]) -> None:
        super().__init__(name, options, known_options=("threads", "opt"))

    def _load(self) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise UsageError(
                f"target {self.name} needs ONNX Runtime: pip install onnxruntime"
            ) from None
        self.runtime, self.version = "onnxruntime", ort.__version__
        if self.options.get("opt", "all") not in self._LEVELS:
            raise UsageError(f"target {self.name}: opt must be one of {', '.join(self._LEVELS)}")
        if self.provider not in ort.get_available_providers():
            raise UsageError(
                f"target {self.name} needs {self.provider}, which this onnxruntime lacks "
                f"(it has {', '.join(ort.get_available_providers())}); pip install onnxruntime-gpu"
            )

    def _session(self, model: onnx.ModelProto) -> Session:

        sess = runtime.session(
            model,
            threads=self.threads,
            optimization=self.options.get("opt", "all"),
            provider=self.provider,
            what=f"the model on {self.name}",
        )
        return functools.partial(sess.run, None)


class OrtCuda(OrtCpu):
    provider = "CUDAExecutionProvider"


class OrtTensorRT(OrtCpu):
    provider = "TensorrtExecutionProvider"


class OpenVinoCpu(Target):
    def __init__(self, name: str, options: dict[str, str]) -> None:
        super().__init__(name, options, known_options=("threads", "precision", "static"))
        if self.options.get("static", "0") not in ("0", "1"):
            raise UsageError(
                f"target {self.name}: static={self.options['static']!r}; pass static=1 (compile "
                "at the input shapes) or static=0 (as the model is)"
            )
        self.static = self.options.get("static", "0") == "1"
        # a model with dynamic dims is compiled dynamic: micro-models are measured that way too
        self.keeps_dynamic_shapes = not self.static
        if not self.static:
            self.options.pop("static", None)  # the default: one database key with or without it

    def _load(self) -> None:
        try:
            import openvino as ov
        except ImportError:
            raise UsageError(
                f"target {self.name} needs OpenVINO: pip install 'pau-rewriter[openvino]'"
            ) from None
        self.runtime, self.version = "openvino", ov.get_version().split("-")[0]
        self._core = ov.Core()

    def _session(self, model: onnx.ModelProto) -> Session:
        with model_file(model, external=mapped(model)) as path:  # weights mapped, not copied
            ov_model = self._core.read_model(path)
            cfg = {
                "INFERENCE_NUM_THREADS": self.threads,
                "PERFORMANCE_HINT": "LATENCY",
                "INFERENCE_PRECISION_HINT": self.options.get("precision", "f32"),
            }
            # inputs the model declares no shape for: OpenVINO compiles no op of unknown rank
            # (a BERT whose inputs were stripped of shapes: "SoftmaxDecomposition ... f32[...]")
            unranked = {
                p.get_any_name() for p in ov_model.inputs if p.get_partial_shape().rank.is_dynamic
            }
            if not self.static and not unranked:
                return self._core.compile_model(ov_model, "CPU", cfg).create_infer_request().infer
        compiled: dict[tuple[Any, ...], Any] = {}

        def run(feeds: dict[str, np.ndarray]) -> Any:  # compiled at the first feeds' shapes
            key: tuple[Any, ...] = tuple(sorted((k, np.shape(v)) for k, v in feeds.items()))
            if not self.static:  # the feeds' ranks for the unranked, every dim dynamic
                key = tuple((k, len(s)) for k, s in key if k in unranked)
            if key not in compiled:
                if self.static:
                    ov_model.reshape({k: list(np.shape(v)) for k, v in feeds.items()})
                else:
                    ov_model.reshape({k: [-1] * np.ndim(feeds[k]) for k in unranked})
                c = self._core.compile_model(ov_model, "CPU", cfg)
                compiled[key] = c.create_infer_request().infer
            return compiled[key](feeds)

        return run


class TorchTarget(Target):
    def __init__(self, name: str, options: dict[str, str]) -> None:
        super().__init__(name, options, known_options=("threads",))

    def _load(self) -> None:
        import torch

        self.runtime, self.version = "torch", torch.__version__.split("+")[0]
        if self.name == "torch-inductor":
            self.runtime = "torch-inductor"

    def _session(self, model: onnx.ModelProto) -> Session:
        import torch

        torch.set_num_threads(self.threads)
        if self.name == "torch-inductor":
            return self._compiled(model)
        module = self._module(model)
        names = module.input_names

        def run(feeds: dict[str, np.ndarray]) -> Any:
            with torch.inference_mode():
                return module(*(torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in names))

        return run

    def _module(self, model: onnx.ModelProto) -> Any:
        """The model in the ONNX-to-torch interpreter; one it does not cover is a model this
        target cannot run (a ``ModelError``: a plan then says its whole model was not
        measured)."""
        from .torch_convert import UnsupportedOps, to_torch

        try:
            return to_torch(model).eval()
        except UnsupportedOps as e:
            raise ModelError(
                f"{self.name} cannot run this model: {e.names} "
                f"{'is' if len(e.ops) == 1 else 'are'} not covered by the ONNX-to-torch "
                "interpreter; measure it on an ONNX target (ort-cpu, openvino-cpu)"
            ) from None

    def _compiled(self, model: onnx.ModelProto) -> Session:
        """torch-inductor: compiled on the first call, at the shapes of its feeds (``dynamic=
        False``). The model is folded first at those shapes by ONNX Runtime's basic
        optimizations (constant folding: an exporter's Shape -> Gather -> Concat -> Reshape
        chains become constants), as torch.compile cannot read shapes computed from tensor
        values into one graph ("could not guard on data-dependent expression"); the original
        and the rewritten model are folded alike."""
        import torch
        import torch._dynamo.config as dcfg

        # every converted model shares OnnxModule.forward: one cache entry per model
        for knob in (
            "recompile_limit",
            "cache_size_limit",
            "accumulated_recompile_limit",
            "accumulated_cache_size_limit",
        ):
            if hasattr(dcfg, knob):
                setattr(dcfg, knob, max(getattr(dcfg, knob), 4096))
        compiled: dict[tuple[tuple[int, ...], ...], Any] = {}

        def build(feeds: dict[str, np.ndarray]) -> Any:
            module = self._module(_folded(model, feeds))
            fn = torch.compile(module, backend="inductor", dynamic=False, fullgraph=True)
            return fn, module.input_names

        def run(feeds: dict[str, np.ndarray]) -> Any:
            key = tuple(np.shape(feeds[k]) for k in sorted(feeds))
            try:
                if key not in compiled:
                    compiled[key] = build(feeds)
                fn, names = compiled[key]
                with torch.inference_mode():
                    return fn(*(torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in names))
            except Exception as e:
                if not type(e).__module__.startswith(("torch._dynamo", "torch._inductor")):
                    raise
                # a Loop's trip count, a shape read from a tensor that folding cannot fix
                raise ModelError(
                    f"{self.name} cannot compile this model into one graph (torch.compile "
                    f"fullgraph=True: {runtime.first_line(e, 160)}); measure it on torch-eager "
                    "or an ONNX target (ort-cpu, openvino-cpu)"
                ) from None

        return run


def _folded(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> onnx.ModelProto:
    """``model`` with its inputs fixed to the feeds' shapes and ONNX Runtime's basic graph
    optimizations applied (constant folding, default-domain ops only), read back."""
    import tempfile

    from rewriter.inputs import with_input_shapes

    with tempfile.TemporaryDirectory(prefix=scratch_prefix("folded")) as d:
        path = os.path.join(d, "folded.onnx")
        try:
            runtime.session(
                with_input_shapes(model, feeds), optimization="basic", optimized_path=path
            )
            return onnx.load(path)
        except Exception:  # what ONNX Runtime cannot optimize is converted as it is
            return model


TARGETS: dict[str, type[Target]] = {
    "ort-cpu": OrtCpu,
    "openvino-cpu": OpenVinoCpu,
    "torch-eager": TorchTarget,
    "torch-inductor": TorchTarget,
    "ort-cuda": OrtCuda,
    "ort-tensorrt": OrtTensorRT,
}


def target_names() -> list[str]:
    return list(TARGETS)


def parse_target(text: str) -> tuple[str, dict[str, str]]:
    """``"ort-cpu:threads=1,opt=all"`` -> ``("ort-cpu", {"threads": "1", "opt": "all"})``."""
    name, _, rest = text.strip().partition(":")
    opts: dict[str, str] = {}
    for item in (t for t in rest.replace(":", ",").split(",") if t.strip()):
        k, eq, v = item.partition("=")
        if not eq or not k.strip():
            raise UsageError(f"--target {text!r}: options are key=value, e.g. ort-cpu:threads=1")
        opts[k.strip()] = v.strip()
    return name, opts


def get_target(target: str | Target) -> Target:
    """The ``Target`` for a string such as ``ort-cpu:threads=1`` (or the Target itself)."""
    if isinstance(target, Target):
        return target
    name, opts = parse_target(target)
    if name not in TARGETS:
        raise UsageError(f"unknown target {name!r}; known: {', '.join(TARGETS)}")
    return TARGETS[name](name, opts)


def installed_targets(
    names: tuple[str, ...] = ("ort-cpu", "openvino-cpu", "torch-eager", "torch-inductor"),
) -> list[str]:
    """The CPU targets whose runtime imports here."""
    out = []
    for n in names:
        try:
            get_target(n)
            out.append(n)
        except UsageError:
            pass
    return out
