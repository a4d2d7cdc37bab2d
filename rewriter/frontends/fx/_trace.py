"""Getting a GraphModule: torch.fx.symbolic_trace first, torch.export as the fallback.

symbolic_trace keeps the user's modules as ``call_module`` nodes (so parameters such as
``nn.ELU(alpha)`` are read from the module, and submodule names stay readable) but fails on
Python control flow over tensors and on untraceable calls. torch.export runs the module on the
example inputs and records ATen ops (``aten.gelu.default``); it handles shape-dependent control
flow but needs example inputs and fails on data-dependent control flow. The batch dim of every
input tensor and every other dim of inputs that are not images is exported as
``torch.export.Dim.AUTO``, so the result accepts other batch and sequence sizes than the
example's, except where the module itself pins a size (a Linear's features, a branch on
``x.shape``); when that export fails, a static one (the example's shapes) is tried. An image's
height and width (a float input of 4 dims or more) are the example's: with them dynamic, export
reasons symbolically over every patch reshape: ``rewrite_module`` took 62 s on timm's
MobileViT-XXS and 310 s on MobileViT-V2, against 5 s each with the batch alone.
The exported graph is taken in eval mode: train()/eval() on it only flip flags. The fallback is
announced with an :class:`FxFallbackWarning`, shown once per module class and reason (not per
call). When both tracers fail, :class:`FxTraceError` names each attempt and its reason.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import operator
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx, nn
from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode

__all__ = ["FxFallbackWarning", "FxTraceError", "Traced", "trace", "input_shapes", "runs_on"]

log = logging.getLogger("rewriter.frontends.fx")


class FxFallbackWarning(UserWarning):
    """symbolic_trace failed and torch.export was used instead (once per module class and
    reason), or neither traced the module as a whole and it was rewritten by parts.

    Every result still says so: ``FxSite.tracer`` and ``gm.meta["pau_rewriter"]``.
    """


# (module class, reason) already warned about. Python's own "once" filter cannot do this: every
# change to the filter list (sympy adds one during each export) clears its registry.
_WARNED: set[tuple[str, str]] = set()


class FxTraceError(ValueError):
    """The module could be turned into a GraphModule by none of the tracers tried.

    Attributes:
        attempts: ``(tracer, reason)`` for each tracer tried, in order.
        fixable: the message names a fix after which the module traces as a whole (a
            transformers KV cache: ``use_cache=False``), so it is not rewritten by parts.
    """

    def __init__(self, module_name: str, attempts: list[tuple[str, str]]) -> None:
        self.attempts = attempts
        lines = [f"cannot trace {module_name} into a torch.fx GraphModule; tried:"]
        lines += [f"  - {name}: {reason}" for name, reason in attempts]
        # a cause the caller can fix, and then the module traces whole
        self.fixable = any("Cache" in reason for _, reason in attempts)
        if self.fixable:
            lines.append(
                "Its forward returns a KV cache torch.export cannot carry: for a transformers "
                "model, set use_cache=False in its config (the forward then returns no cache)."
            )
        lines.append(
            "Make the forward traceable (no Python control flow on tensor values), pass "
            "example_inputs so torch.export can be tried, or wrap the untraceable part in a "
            "leaf module."
        )
        super().__init__("\n".join(lines))


@dataclass
class Traced:
    """A traced module and how it was obtained."""

    gm: fx.GraphModule
    tracer: str  # "symbolic_trace" or "torch.export"
    fallback_reason: str | None = None  # why symbolic_trace was not used
    widened: bool = False  # exported on the example with its batch of 1 widened to 2


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:300]


def _is_image(x: torch.Tensor) -> bool:
    """A float tensor of 4 dims or more (images, video, feature maps): its dims after the batch
    stay the example's (module docstring)."""
    return x.is_floating_point() and x.dim() >= 4


def _dynamic_shapes(example_inputs: tuple[Any, ...]) -> tuple[Any, ...]:
    """``Dim.AUTO`` for the batch dim of every tensor input and every dim of those that are not
    images: export keeps what the module allows."""
    auto = torch.export.Dim.AUTO
    return tuple(
        ({0: auto} if _is_image(x) else {i: auto for i in range(x.dim())})
        if isinstance(x, torch.Tensor)
        else None
        for x in example_inputs
    )


def _register_pytrees(exc: BaseException) -> bool:
    """Teach torch.export a container type the module returns, when its library says how;
    True when the export is worth trying again.

    A ``transformers`` decoder returns its KV cache (``DynamicCache``) whenever ``use_cache`` is
    on (the default), and torch.export refuses a type it cannot flatten ("Found <class
    'transformers.cache_utils.DynamicCache'> in output, which is not a known type"); transformers
    registers it for export itself (``register_dynamic_cache_export_support``). The rewritten
    module then returns the same output, cache included.
    """
    text = str(exc)
    if "transformers.cache_utils" not in text or "not a known type" not in text:
        return False
    try:
        from transformers.integrations.executorch import register_dynamic_cache_export_support
    except ImportError:
        return False
    try:
        register_dynamic_cache_export_support()
    except Exception:  # noqa: BLE001 - registered already, or a version that cannot
        return False
    return True


def _widened(args: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The example with a leading dim of 1 repeated to 2, or None when there is none: export
    specialises dims whose example size is 0 or 1 even under ``Dim.AUTO``, so a batch-1 example
    (what users pass) would pin the batch to 1."""
    if not any(isinstance(x, torch.Tensor) and x.dim() >= 1 and x.shape[0] == 1 for x in args):
        return None
    return tuple(
        torch.cat([x, x], 0)
        if isinstance(x, torch.Tensor) and x.dim() >= 1 and x.shape[0] == 1
        else x
        for x in args
    )


# torch's loggers that narrate an export attempt this module handles (a failed guard, a dim
# specialised to the example). The outcome reaches the caller as an FxFallbackWarning or an
# FxTraceError.
_EXPORT_LOGGERS = ("torch.fx.experimental.symbolic_shapes", "torch._export", "torch.export")


@contextlib.contextmanager
def _quiet_export() -> Iterator[None]:
    """An export attempt without torch's narration: its loggers above ERROR, and stderr kept
    (a failed export prints the partial graph there: 2.8 MB for a torchvision detector)."""
    loggers = [logging.getLogger(name) for name in _EXPORT_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(max(lg.getEffectiveLevel(), logging.ERROR))
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _export(
    module: nn.Module, args: tuple[Any, ...], dynamic_shapes: Any = None
) -> tuple[Any, bool, bool]:
    """(ExportedProgram, whether its input dims are dynamic, whether it was exported on the
    widened example): dynamic dims on the example with a batch of 1 widened to 2, else on the
    example itself, else the example's static shapes.

    A program exported on the widened example must still take the caller's own: export derives
    guards from the widened sizes, and one may exclude a batch of 1 (RAFT stacks both frames into
    one batch and splits it in halves: ``2b - (2b + 1) // 2 != 1``, false for b = 1), so the
    program is run once on the example and, when its guards refuse it, the next way is tried.

    ``dynamic_shapes`` (the caller's, in torch.export's spelling) replaces the derived spec, and
    then a static export is not tried: the caller asked for those dims, so export's reason why
    not is raised.
    """
    widened = _widened(args)
    last: Exception | None = None
    for example in (widened, args) if widened is not None else (args,):
        try:
            dyn = _dynamic_shapes(example) if dynamic_shapes is None else dynamic_shapes
            with _quiet_export():
                exported = torch.export.export(module, example, dynamic_shapes=dyn)
        except GuardOnDataDependentSymNode:
            raise  # a size from the data (a detector's NMS): no other shapes export either
        except Exception as exc:  # noqa: BLE001 - e.g. a size-1 dim the module needs, nested inputs
            last = exc
            continue
        if example is args or runs_on(exported.module(), args):
            return exported, True, example is not args
    if dynamic_shapes is not None:
        raise (
            last
            if last is not None
            else ValueError("the program exported with dynamic_shapes refuses the example inputs")
        )
    with _quiet_export():
        return torch.export.export(module, args), False, False


def _faithful(module: nn.Module, gm: nn.Module, args: tuple[Any, ...]) -> None:
    """Raise unless ``gm`` (torch.export's graph of ``module``) computes what ``module`` does on
    ``args``, within 1e-3 relative L2 per float output, each run from the same random state.
    AIMv2's text tower exports to a graph 0.44 away from the module (transformers builds its
    attention mask otherwise under export): its rewrite was that far off, and nothing said so.
    Such a module is rewritten by parts, whose graphs are checked the same way."""
    from torch.utils import _pytree as pytree

    outs = []
    for m in (module, gm):
        with torch.random.fork_rng(), torch.no_grad():
            torch.manual_seed(0)
            outs.append([t for t in pytree.tree_leaves(m(*args)) if isinstance(t, torch.Tensor)])
    want, got = outs
    if len(want) != len(got):
        raise ValueError(f"its graph returns {len(got)} tensors, the module {len(want)}")
    for k, (w, g) in enumerate(zip(want, got, strict=True)):
        if w.shape != g.shape:
            raise ValueError(f"its graph's output {k} is {tuple(g.shape)}, not {tuple(w.shape)}")
        if not w.is_floating_point():
            continue
        finite = torch.isfinite(w)  # NaN or inf where the module has them, and only there
        if not torch.equal(finite, torch.isfinite(g)):
            raise ValueError(f"its graph's output {k} is not finite where the module's is")
        diff = torch.linalg.vector_norm((w - g).double()[finite])
        scale = torch.linalg.vector_norm(w.double()[finite])
        if not diff <= 1e-3 * scale + 1e-6:
            raise ValueError(
                f"its graph computes something else than the module on the example inputs "
                f"(output {k}: rel-L2 {float(diff / scale) if scale else float(diff):.2g})"
            )


def runs_on(module: Any, args: tuple[Any, ...]) -> bool:
    """Whether ``module`` runs on ``args`` without grad (an exported program's input guards
    hold; a part put in place still lets its parent run). Silent: a traced part that fails
    inside its generated code has torch.fx print that code and a marker on stderr, which a
    user took for this tool's traceback (Kimi-K2.5's vision tower, a part traced with a mask
    that its parent calls again with None)."""
    try:
        with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):
            module(*args)
    except Exception:  # noqa: BLE001 - a guard on the input sizes, or anything it implies
        return False
    return True


class _Tracer(fx.Tracer):
    """symbolic_trace's tracer, except that a torch.nn module holding an activation it applies
    itself (``nn.TransformerEncoderLayer``'s ``activation``, a function such as ``F.gelu`` or a
    module; the encoders and transformers holding such layers) is traced into, not kept whole:
    symbolic_trace keeps every torch.nn module as one ``call_module`` node, so the GELU of a
    model built from ``nn.TransformerEncoderLayer(activation="gelu")`` was never seen and the
    model came back unchanged, without a word."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return super().is_leaf_module(m, module_qualified_name) and not _holds_activation(m)


def _holds_activation(m: nn.Module) -> bool:
    """Whether ``m`` applies an activation of its own (an ``activation`` attribute, itself or
    in a layer it holds)."""
    return any(hasattr(s, "activation") for s in m.modules())


def _hiding(module: nn.Module) -> list[str]:
    """The modules inside ``module`` that plain symbolic_trace keeps whole (torch.nn's) and
    that hold an activation, outermost only, as ``Class 'path'``."""
    plain, found = fx.Tracer(), list[str]()
    for path, m in module.named_modules():
        if any(path.startswith(f"{p}.") for p in found):
            continue
        if path and plain.is_leaf_module(m, path) and _holds_activation(m):
            found.append(path)
    return [f"{type(module.get_submodule(p)).__name__} {p!r}" for p in found]


def _symbolic_trace(module: nn.Module) -> fx.GraphModule:
    """``fx.symbolic_trace`` with :class:`_Tracer`."""
    tracer = _Tracer()
    graph = tracer.trace(module)
    return fx.GraphModule(tracer.root, graph, type(module).__name__)


def trace(
    module: nn.Module, example_inputs: Sequence[Any] | None = None, dynamic_shapes: Any = None
) -> Traced:
    """Trace ``module`` with symbolic_trace, falling back to torch.export (with the caller's
    ``dynamic_shapes`` when given, see ``_export``).

    Raises:
        FxTraceError: when every tracer failed; the message lists each and why.
    """
    if isinstance(module, fx.GraphModule):
        return Traced(module, "graph_module")
    name = type(module).__name__
    attempts: list[tuple[str, str]] = []
    try:
        return Traced(_symbolic_trace(module), "symbolic_trace")
    except Exception as exc:  # noqa: BLE001 - any tracing failure means: try the next tracer
        attempts.append(("torch.fx.symbolic_trace", _reason(exc)))
    hiding = _hiding(module)
    if hiding:  # it failed inside them (their forwards branch on the inputs): say so
        attempts[0] = (attempts[0][0], f"inside {', '.join(hiding)}: {attempts[0][1]}")

    def whole(why: str) -> Traced | None:
        """symbolic_trace keeping those modules whole, their activations unseen (said)."""
        if not hiding:
            return None
        try:
            gm = fx.symbolic_trace(module)
        except Exception:  # noqa: BLE001 - fails elsewhere too: the caller's error stands
            return None
        warnings.warn(
            f"the activations inside {', '.join(hiding)} are not seen: symbolic_trace keeps "
            f"those torch.nn modules whole, and torch.export {why}",
            FxFallbackWarning,
            stacklevel=4,
        )
        return Traced(gm, "symbolic_trace", attempts[0][1])

    if example_inputs is None:
        kept = whole("needs example_inputs to trace into them")
        if kept is not None:
            return kept
        attempts.append(("torch.export.export", "not tried: it needs example_inputs"))
        raise FxTraceError(name, attempts)
    try:
        module.eval()  # the caller's copy: rewriting is for inference (BN, dropout frozen)
        try:
            exported, dynamic, widened = _export(module, tuple(example_inputs), dynamic_shapes)
        except Exception as exc:  # noqa: BLE001
            if not _register_pytrees(exc):
                raise
            exported, dynamic, widened = _export(module, tuple(example_inputs), dynamic_shapes)
        gm = exported.module()
        # ExportedProgram.module() forbids train()/eval(): the ONNX exporter and finetune call
        # them. Restore nn.Module's, which only flip flags: the graph stays in eval semantics.
        for method in ("train", "eval"):
            gm.__dict__.pop(method, None)
        gm.eval()
        _inline_grad_regions(gm)
        _faithful(module, gm, tuple(example_inputs))
    except Exception as exc:  # noqa: BLE001
        kept = whole(f"failed ({_reason(exc)})")
        if kept is not None:
            return kept
        attempts.append(("torch.export.export", _reason(exc)))
        raise FxTraceError(name, attempts) from exc
    reason = attempts[0][1]
    shapes = (
        "keeps the dims of dynamic_shapes dynamic"
        if dynamic_shapes is not None
        else "keeps the batch dim dynamic where the module allows (and the other dims of inputs "
        "that are not images; an image's height and width are the example's: pass "
        "dynamic_shapes=({0: Dim.AUTO, 2: Dim.AUTO, 3: Dim.AUTO},), torch.export's spelling, "
        "to keep them free)"
        if dynamic
        else "is specialised to the example input shapes"
    )
    msg = (
        f"torch.fx.symbolic_trace failed on {name} ({reason}); using torch.export instead: "
        f"the graph holds ATen ops, {shapes} and is frozen in eval mode (batch norm, dropout)"
    )
    key = (f"{type(module).__module__}.{type(module).__qualname__}", reason)
    if key not in _WARNED:
        _WARNED.add(key)
        warnings.warn(msg, FxFallbackWarning, stacklevel=4)  # the caller of rewrite_module
    log.debug(msg)
    return Traced(gm, "torch.export", reason, widened)


def _inline_grad_regions(gm: fx.GraphModule) -> None:
    """Splice each ``with torch.no_grad()`` / ``torch.enable_grad()`` block of the forward back
    into ``gm``'s graph.

    torch.export records such a block as a ``wrap_with_set_grad_enabled`` call of a submodule
    (CLIPSeg runs its CLIP towers under ``no_grad``; frozen backbones do), where the rules,
    which walk ``gm.graph``, would not see its activations. Grad mode changes no value, and the
    exported graph is for inference (eval mode, above); a block inside a block is spliced on the
    next round.
    """
    hop = getattr(torch.ops.higher_order, "wrap_with_set_grad_enabled", None)
    spliced = False
    while hop is not None and (
        calls := [n for n in gm.graph.nodes if n.op == "call_function" and n.target is hop]
    ):
        for call in calls:
            _splice(gm, call)
        spliced = True
    if spliced:
        gm.graph.lint()
        gm.recompile()


def _splice(gm: fx.GraphModule, call: fx.Node) -> None:
    """Replace ``call`` (``hop(enabled, submodule, *operands)``, read through ``getitem``) by
    the submodule's nodes, and drop the submodule."""
    ref, operands = call.args[1], call.args[2:]
    assert isinstance(ref, fx.Node)
    sub = getattr(gm, str(ref.target))
    inner = [n for n in sub.graph.nodes if n.op == "placeholder"]
    env: dict[fx.Node, Any] = dict(zip(inner, operands, strict=True))
    with gm.graph.inserting_before(call):
        for n in sub.graph.nodes:
            if n.op == "get_attr":  # a constant, or a nested block's submodule
                name = _free_name(gm, str(n.target).replace(".", "_"))
                setattr(gm, name, operator.attrgetter(str(n.target))(sub))
                env[n] = gm.graph.get_attr(name)
                env[n].meta = dict(n.meta)
            elif n.op not in ("placeholder", "output"):
                env[n] = gm.graph.node_copy(n, env.__getitem__)
    result = next(n for n in sub.graph.nodes if n.op == "output").args[0]
    values = fx.map_arg(result, env.__getitem__)
    for user in list(call.users):  # getitem(call, i)
        user.replace_all_uses_with(values[user.args[1]])
        gm.graph.erase_node(user)
    gm.graph.erase_node(call)
    if not ref.users:
        gm.graph.erase_node(ref)
        delattr(gm, str(ref.target))


def _free_name(gm: nn.Module, base: str) -> str:
    """``base``, or ``base_1``, ``base_2``, ...: the first name ``gm`` has no attribute for."""
    name, i = base, 0
    while hasattr(gm, name):
        i += 1
        name = f"{base}_{i}"
    return name


def input_shapes(
    traced: Traced, example_inputs: Sequence[Any] | None
) -> dict[fx.Node, tuple[tuple[int, ...], str]]:
    """Shape and dtype of every tensor-valued node, from the example inputs.

    Exported graphs carry fake-tensor values in ``node.meta["val"]``, at the sizes of the example
    they were exported on; symbolically traced ones, and exported ones whose example's batch of
    1 was widened to 2 for the export, are run once through ``ShapeProp`` on clones of the
    caller's inputs, in eval mode and without grad, so batch-norm statistics and the caller's
    tensors are untouched.
    """
    out: dict[fx.Node, tuple[tuple[int, ...], str]] = {}
    gm = traced.gm
    if example_inputs is not None and (traced.tracer != "torch.export" or traced.widened):
        from torch.fx.passes.shape_prop import ShapeProp

        modes = {m: m.training for m in gm.modules()}
        inputs = [
            x.clone() if isinstance(x, torch.Tensor) else copy.deepcopy(x) for x in example_inputs
        ]
        try:
            gm.eval()
            with torch.no_grad():
                ShapeProp(gm).propagate(*inputs)
        except Exception as exc:  # noqa: BLE001 - shapes are informative only
            warnings.warn(
                f"shape propagation failed ({_reason(exc)}); site shapes unknown", stacklevel=3
            )
        finally:
            for m, mode in modes.items():
                m.training = mode
    for n in gm.graph.nodes:
        meta = n.meta.get("tensor_meta")
        val = n.meta.get("val")
        if meta is not None and hasattr(meta, "shape"):
            # _size: an exported dim may be data-dependent (VITS's waveform length, an unbacked
            # symbol that int() refuses: GuardOnDataDependentSymNode)
            out[n] = (tuple(_size(d) for d in meta.shape), str(meta.dtype).replace("torch.", ""))
        elif isinstance(val, torch.Tensor):
            shape = tuple(_size(d) for d in val.shape)
            out[n] = (shape, str(val.dtype).replace("torch.", ""))
    return out


def _size(d: Any) -> int:
    """A dim of an exported value: the example's size for a dynamic dim, -1 if unknown."""
    if isinstance(d, int):
        return d
    hint = getattr(getattr(d, "node", None), "hint", None)
    return int(hint) if isinstance(hint, int) else -1
