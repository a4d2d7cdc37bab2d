"""Evaluating assignments: the model rewritten by an assignment, and its output deviation.

An assignment maps site names to ``rewriter.candidates.Candidate``s; absent sites are kept.
``Evaluator`` runs the original once on the calibration batches and then any assignment (built
with ``rewriter.emit``) on the same batches, and returns a ``Deviation``: per graph output, all
batches concatenated and flattened to float64, ``cosine = a.b / (|a| |b|)``,
``rel_l2 = |b - a| / |a|``, ``max_abs``; the model's numbers are the worst over its outputs (min
cosine, max rel_l2, max max_abs), as in ``rewriter.verify``. With labels, ``accuracy`` is the
percentage of samples whose argmax over the last axis of the first output equals the label.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import onnx

from rewriter.candidates import Candidate
from rewriter.emit import emit
from rewriter.emit.switch import switch_model
from rewriter.ir.downstream import Below, Cut, Keys, downstream
from rewriter.ir.graph import ValueInfoTable, infer_value_info
from rewriter.ir.picks import with_outputs
from rewriter.ir.runtime import run_session, session
from rewriter.verify import Deviation, accuracy_of, compared, deviation, pin_random_seeds

__all__ = ["Deviation", "Evaluator", "run_batches", "joined", "finite"]


def run_batches(
    model: onnx.ModelProto, batches: list[Mapping[str, np.ndarray]]
) -> list[np.ndarray]:
    """Every graph output over all batches, concatenated along axis 0 (flattened when ranks
    differ). Random ops get fixed seeds, as in verification, and one session draws on over the
    batches: two models draw alike while they draw as many numbers (a VITS candidate that makes
    a batch's waveform longer draws other noise on the batches after it, and is judged the
    worse for it; a session per batch would cost VITS 8 x 0.13 s per candidate evaluated).
    Verification runs each input on its own session (``rewriter.verify.compare``)."""
    return joined(_each_batch(model, batches))


def _each_batch(
    model: onnx.ModelProto, batches: list[Mapping[str, np.ndarray]]
) -> list[list[np.ndarray]]:
    model, _ = pin_random_seeds(model)
    sess = session(model)
    return [run_session(sess, b) for b in batches]


def joined(per: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Per-batch outputs joined per output: concatenated along axis 0 (flattened when ranks
    differ)."""
    res = []
    for k in range(len(per[0]) if per else 0):
        parts = [p[k] for p in per]
        if all(a.ndim >= 1 for a in parts) and len({a.shape[1:] for a in parts}) == 1:
            res.append(np.concatenate(parts, axis=0))
        else:
            res.append(np.concatenate([a.ravel() for a in parts]))
    return res


# what the original's tensors read by cuts may hold, all batches together
CAPTURE_BYTES = 2 << 30
# a cut of more than this share of the nodes runs the whole model instead (no capture)
_WORTH = 0.9
# ``solos`` gives each site its own cut from this many sites on: below, finding and loading
# them costs more than they save (the zoo's 3-6 site models: 0.1 s -> 0.2 s; a 7-site OCR
# recognizer x1.00; a 58-site YOLOv8n x1.58)
_SITE_CUTS_FROM = 8


class Evaluator:
    """Runs assignments of one model on fixed calibration batches and caches their deviation.

    An assignment's model shares everything upstream of its sites with the original: only its
    ``rewriter.ir.downstream`` cut runs, on the original's values of the tensors the cut reads
    (captured by one more run of the original, at most ``CAPTURE_BYTES``), and the outputs it
    does not change are the original's. The values are those of the whole model run (the same
    kernels on the same inputs; ONNX Runtime may fuse differently across the cut, moving a
    last bit). A model with random ops, a cut of nearly every node, a capture over the bound
    or a cut ONNX Runtime refuses run whole.

    Args:
        model: the original model (ModelProto).
        pipeline: the pipeline whose sites the assignments name.
        batches: feed dicts (a ``Calibration`` iterates as such).
        labels: one label per sample (with ``accuracy``), or None.
        downstream: run only the cut (False: every model whole).
        switch: ``solos`` evaluates on one switch model (False: each as its own model).
        site_cuts: ``solos`` runs each site's candidates on its own cut of the switch model
            where it can (False: all on the switch model's one cut).
    """

    def __init__(
        self,
        model: onnx.ModelProto,
        pipeline: str,
        batches: Any,
        labels: np.ndarray | None = None,
        *,
        downstream: bool = True,
        switch: bool = True,
        site_cuts: bool = True,
    ) -> None:
        self.model, self.pipeline = model, pipeline
        self.batches = list(batches)
        self.labels = labels
        # outputs that pick are compared on what they pick by (``rewriter.verify.Compared``)
        self.compared = compared(model)
        self._view = self.compared.view(model)
        self._per = _each_batch(self._view, self.batches)
        self.reference = joined(self._per)
        real = self.reference[: len(self.compared.outputs)]
        self.base_accuracy = accuracy_of(real, labels) if labels is not None else None
        self._cache: dict[tuple[tuple[str, str], ...], Deviation] = {}
        self._downstream = downstream and pin_random_seeds(model)[1] == 0
        self._keys: Keys | None = None
        self._types: ValueInfoTable | None = None
        self._captured: dict[str, list[np.ndarray]] = {}
        self._bytes = 0
        self.runs = {"cut": 0, "whole": 0}  # how models were run (for benchmarks and tests)
        self.switch = switch
        self.switched = 0  # assignments evaluated as runs of a switch model (``solos``)
        self.switch_cut = False  # whether the switch model ran as a cut
        self.site_cuts = site_cuts
        self.own_cuts = 0  # sites whose candidates ran on their own cut of it (``solos``)
        self._switch_run: tuple[dict[str, list[Candidate]], Callable[..., Any]] | None = None

    @staticmethod
    def key(assignment: Mapping[str, Candidate]) -> tuple[tuple[str, str], ...]:
        return tuple(sorted((k, c.name) for k, c in assignment.items() if c.kind != "keep"))

    def build(self, assignment: Mapping[str, Candidate]) -> onnx.ModelProto:
        return emit(self.model, assignment, self.pipeline)

    def deviation(self, assignment: Mapping[str, Candidate]) -> Deviation:
        k = self.key(assignment)
        if k not in self._cache:
            if not k:
                self._cache[k] = Deviation([], self.base_accuracy)
            else:
                d = self._by_switch(assignment)
                if d is None:
                    d = self.of(self.build(assignment))
                else:
                    self.switched += 1
                self._cache[k] = d
        return self._cache[k]

    def _by_switch(self, assignment: Mapping[str, Candidate]) -> Deviation | None:
        """The assignment as a run of the switch model ``solos`` built, when every candidate
        it names is one of that model's (a plan of the sweep or the budget search); None
        otherwise."""
        if self._switch_run is None:
            return None
        live, run = self._switch_run
        choice: dict[str, int] = {}
        for name, c in assignment.items():
            if c.kind == "keep":
                continue
            at = [i for i, x in enumerate(live.get(name, ()), 1) if x == c]
            if not at:
                return None
            choice[name] = at[0]
        return self._deviation(run(choice))

    def prepare(self, assignments: Sequence[Mapping[str, Candidate]]) -> None:
        """Capture, in one run of the original, what the cuts of ``assignments`` read (one
        assignment per site is enough: its cut reads what any other choice there reads, and
        assignments of several sites read a part of their sites' union)."""
        if not self._downstream:
            return
        need: list[str] = []
        for a in assignments:
            if self.key(a):
                cut = self._cut(self.compared.view(self.build(a)))
                if cut is not None:
                    need += self._shared(cut)
        self._capture(list(dict.fromkeys(need)))

    def of(self, model: onnx.ModelProto) -> Deviation:
        """The deviation of any model with the original's outputs (a retrained one) on the
        batches."""
        view = self.compared.view(model)
        got = self._run_cut(view)
        if got is None:
            self.runs["whole"] += 1
            got = run_batches(view, self.batches)
        else:
            self.runs["cut"] += 1
        return self._deviation(got)

    def _deviation(self, got: list[np.ndarray]) -> Deviation:
        cmp = self.compared if self.compared.picks else None  # names output_k as before
        return deviation(self.reference, got, labels=self.labels, compare=cmp)

    def deviations(
        self,
        assignments: Sequence[Mapping[str, Candidate]],
        workers: int | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[Deviation]:
        """``deviation`` of each assignment, the same numbers, evaluated ``workers`` at a time
        (default ``rewriter.procs.worker_count``) in threads: sessions run with one thread
        each, and ONNX Runtime lets go of the GIL while it builds and runs them.

        The threads change nothing shared. Each assignment is evaluated as a cut when
        everything its cut reads is captured and the cut runs, else whole when it has no
        cut; then, in order, what one after another would have done is settled: a cut that
        reads what is not captured yet is evaluated here (capturing it), and from a cut that
        fails on, the cuts are run whole, as ``deviation`` does.

        ``progress(done, total)`` is called as each distinct assignment not yet evaluated is
        (in the order they finish)."""
        from concurrent.futures import ThreadPoolExecutor, as_completed

        from rewriter.procs import worker_count

        todo: dict[tuple[tuple[str, str], ...], Mapping[str, Candidate]] = {}
        for a in assignments:
            k = self.key(a)
            if k and k not in self._cache:
                todo.setdefault(k, a)
        n = min(worker_count() if workers is None else workers, len(todo))
        tell = progress or (lambda done, total: None)
        if n >= 2:
            if self._downstream:
                self._original_keys()  # built here, once, before the threads read them
            items = list(todo.items())
            with ThreadPoolExecutor(n) as pool:
                futures = [pool.submit(self._try, a) for _, a in items]
                for done, _ in enumerate(as_completed(futures), 1):
                    tell(done, len(todo))
                got = [f.result() for f in futures]
            for (k, a), (mode, dev) in zip(items, got, strict=True):
                if mode == "switch" and dev is not None:
                    self.switched += 1
                    self._cache[k] = dev
                    continue
                if mode == "cut" and not self._downstream:
                    mode, dev = "whole", None  # a cut before it failed: whole, in order
                if mode == "pending":  # what its cut reads is not captured: as one by one
                    self._cache[k] = self.deviation(a)
                    continue
                if mode == "failed":  # as _run_cut: this and every later cut run whole
                    self._downstream = False
                    mode, dev = "whole", None
                if dev is None:
                    dev = self._deviation(
                        run_batches(self.compared.view(self.build(a)), self.batches)
                    )
                self.runs[mode] += 1
                self._cache[k] = dev
        else:
            for done, a in enumerate(todo.values(), 1):
                self.deviation(a)
                tell(done, len(todo))
        return [self.deviation(a) for a in assignments]

    def solos(
        self,
        alternatives: Mapping[str, Sequence[Candidate]],
        progress: Callable[[int, int], None] | None = None,
    ) -> bool:
        """``deviation`` of every one-site assignment ``{site: candidate}`` of
        ``alternatives``, as runs of one switch model (``rewriter.emit.switch``: each site an If
        over its original and each candidate, a graph input per site picks the branch): one emit
        and one session, where each assignment was a model emitted (and a cut loaded). On a
        D-FINE detector, 245 candidates of 61 sites took 181 s of the map's 254 s that way,
        the emitter's Python holding the threads to one core.

        Like one model each, a site's candidates run only below it: on the site's own cut of
        the switch model (``_site_cuts``), else on the switch model's cut (the part downstream
        of every site), on the original's captured values, the selectors fed; the sites run in
        threads. On a 640 x 640 YOLO detector whose 87 sites lie all along it, its whole map
        took 5m21s on the switch model's cut and 2m34s with each site's own (the same map
        written). The numbers are those of the whole model run, up to
        ONNX Runtime's fusions (a value read by the original and a candidate fuses
        otherwise). False (nothing evaluated) when the switch model cannot be built, ONNX Runtime
        refuses it, or the model draws random numbers (a session per run, each from the pinned
        seeds: the switch model's Ifs cost more to load than emitting saves, VITS x0.86): the
        caller evaluates them one model each (``deviations``).
        Afterwards ``deviation`` of any assignment whose candidates are all the switch
        model's (a plan of the sweep or of the budget search) is a run of it too."""
        from concurrent.futures import ThreadPoolExecutor

        from rewriter.procs import worker_count

        if not self.switch:
            return False
        live = {k: [c for c in v if c.kind != "keep"] for k, v in alternatives.items()}
        todo = [
            (k, i)
            for k, cands in live.items()
            for i, c in enumerate(cands, 1)
            if self.key({k: c}) not in self._cache
        ]
        if not todo:
            return True
        try:
            sw = switch_model(self.model, {k: v for k, v in live.items() if v}, self.pipeline)
            run = self._switch_runner(sw)
            self._switch_run = (live, run)
        except Exception:  # noqa: BLE001 - SwitchError, ONNX Runtime: one model each instead
            return False
        tell = progress or (lambda done, total: None)
        by_site: dict[str, list[int]] = {}
        for k, i in todo:
            by_site.setdefault(k, []).append(i)
        cuts = self._site_cuts(sw, list(by_site))

        def one(k: str) -> tuple[list[Deviation], bool]:
            if k in cuts:
                try:
                    on = self._cut_runner(cuts[k])
                    return [self._deviation(on(sw.feeds({}, {k: i}))) for i in by_site[k]], True
                except Exception:  # noqa: BLE001 - as the switch model, which reports
                    pass
            return [self._deviation(run({k: i})) for i in by_site[k]], False

        workers = max(1, min(worker_count(), len(by_site)))
        done = 0
        with ThreadPoolExecutor(workers) as pool:
            for k, (devs, own) in zip(by_site, pool.map(one, by_site), strict=True):
                self.own_cuts += own
                for i, dev in zip(by_site[k], devs, strict=True):
                    self._cache[self.key({k: live[k][i - 1]})] = dev
                    self.switched += 1
                    done += 1
                    tell(done, len(todo))
        return True

    def _site_cuts(self, sw: Any, sites: list[str]) -> dict[str, Cut]:
        """Each site's own cut of the switch model (``rewriter.ir.downstream.Below``: what
        runs again when its selector changes, fed the original's values by name), for the
        sites whose cut is under ``_WORTH`` of the nodes, smallest cuts first while what they
        read fits ``CAPTURE_BYTES`` beside what is captured; the rest run as the switch model
        does. A detector's sites lie all along it: the switch model's one cut begins at the
        first and runs nearly every node for each candidate, a site's own half of them on
        average. None (an empty dict) when the model draws random numbers (``downstream``
        False), the switch model differs from the original elsewhere than at its sites, or
        there are fewer than ``_SITE_CUTS_FROM`` sites."""
        if len(sites) < _SITE_CUTS_FROM or not (self._downstream and self.site_cuts):
            return {}
        if not sw.same_elsewhere(self.model):
            return {}
        self._original_keys()  # the value info the cuts' inputs get
        view = self.compared.view(sw.model)
        og = self._view.graph
        held = {
            *(i.name for i in og.input),
            *(t.name for t in og.initializer),
            *(o for n in og.node for o in n.output if o),
        }
        sels = set(sw.selectors.values())
        cuts: dict[str, Cut] = {}
        each = Below(view, held, self._types)
        for k in sites:  # the other sites' switches at their original nodes
            cut = each.cut([sw.selectors[k]], inline=functools.partial(sw.fixed, but=k))
            if cut is not None and cut.nodes <= _WORTH * cut.total:
                cuts[k] = cut
        reads = {k: [n for n in self._shared(c) if n not in sels] for k, c in cuts.items()}
        sizes = self._sizes([n for r in reads.values() for n in r if n not in self._captured])
        if sizes is None:
            return {}
        chosen: dict[str, Cut] = {}
        taken: set[str] = set()
        total = self._bytes
        for k in sorted(cuts, key=lambda k: cuts[k].nodes):
            new = {n for n in reads[k] if n not in taken and n not in self._captured}
            add = sum(sizes[n] for n in new)
            if total + add <= CAPTURE_BYTES:
                chosen[k] = cuts[k]
                taken |= new
                total += add
        return chosen if self._capture(sorted(taken), strict=False) else {}

    def _sizes(self, names: list[str]) -> dict[str, int] | None:
        """Bytes of the original's ``names`` over all batches, from a run of the first (None
        when it fails or one is no tensor)."""
        names = list(dict.fromkeys(names))
        if not names or not self.batches:
            return {}
        try:
            got = session(with_outputs(self._view, names)).run(names, dict(self.batches[0]))
        except Exception:  # noqa: BLE001 - no site cuts: the switch model runs as it does
            return None
        if not all(isinstance(v, np.ndarray) for v in got):
            return None
        return {n: v.nbytes * len(self.batches) for n, v in zip(names, got, strict=True)}

    def _switch_runner(self, sw: Any) -> Callable[[Mapping[str, int]], list[np.ndarray]]:
        """``choice -> outputs over the batches`` of a ``SwitchModel``: its cut where it has
        one and the original's values it reads are captured, else the whole model. Runs once
        to check; raises on failure."""
        view = self.compared.view(sw.model)
        selectors = set(sw.selectors.values())
        cut = self._cut(view)
        if cut is not None and self._capture([n for n in self._shared(cut) if n not in selectors]):
            try:
                on_cut = self._cut_runner(cut)
                on_cut(sw.feeds({}, {}))

                def run_cut(choice: Mapping[str, int]) -> list[np.ndarray]:
                    return on_cut(sw.feeds({}, choice))

                self.switch_cut = True
                return run_cut
            except Exception:  # noqa: BLE001 - as a cut that fails: the whole model
                pass
        sess = session(view)

        def run(choice: Mapping[str, int]) -> list[np.ndarray]:
            return joined([run_session(sess, sw.feeds(b, choice)) for b in self.batches])

        run({})
        return run

    def _try(self, assignment: Mapping[str, Candidate]) -> tuple[str, Deviation | None]:
        """One assignment, changing nothing shared: ("cut", deviation), ("whole", deviation)
        when it has no cut, ("pending", None) when its cut reads what is not captured,
        ("failed", None) when its cut fails to run; ("switch", deviation) as a run of the
        switch model ``solos`` built."""
        by_switch = self._by_switch(assignment)
        if by_switch is not None:
            return "switch", by_switch
        view = self.compared.view(self.build(assignment))
        cut = self._cut(view)
        if cut is None:
            return "whole", self._deviation(run_batches(view, self.batches))
        if any(x not in self._captured for x in self._shared(cut)):
            return "pending", None
        got = self._cut_outputs(cut)
        return ("failed", None) if got is None else ("cut", self._deviation(got))

    def _cut(self, view: onnx.ModelProto) -> Cut | None:
        if not self._downstream:
            return None
        cut = downstream(self._view, self._original_keys(), view, self._types)
        if cut is None or cut.nodes > _WORTH * cut.total:
            return None
        return cut

    def _original_keys(self) -> Keys:
        """The original's structural keys and value info, built on first use."""
        if self._keys is None:
            self._keys = Keys(self._view)
            self._types = infer_value_info(self._view)
            _ = self._keys.names  # built now, not by the first of several threads to read it
        return self._keys

    def _shared(self, cut: Cut) -> list[str]:
        """The original's tensors a cut reads or passes on that neither the batches nor the
        reference run hold."""
        have = set(self.batches[0] if self.batches else ()) | {
            o.name for o in self._view.graph.output
        }
        names = [*cut.feeds.values(), *(n for made, n in cut.outputs if not made)]
        return [n for n in dict.fromkeys(names) if n not in have]

    def _capture(self, names: list[str], strict: bool = True) -> bool:
        """The original's values of ``names`` on every batch; False when they are not all
        plain tensors or would pass ``CAPTURE_BYTES``: nothing is kept and every model runs
        whole from then on (``strict``), or what was captured before stays (not ``strict``)."""
        names = [n for n in names if n not in self._captured]
        if not names:
            return True
        got: dict[str, list[np.ndarray]] = {n: [] for n in names}
        size = self._bytes
        try:
            sess = session(with_outputs(self._view, names))
            for b in self.batches:
                for n, v in zip(names, sess.run(names, dict(b)), strict=True):
                    if not isinstance(v, np.ndarray):
                        raise TypeError(f"{n} is no tensor")
                    size += v.nbytes
                    if size > CAPTURE_BYTES:
                        raise MemoryError(n)
                    got[n].append(v)
        except Exception:  # the whole model runs instead; its own errors are reported there
            if strict:
                self._downstream = False
                self._captured.clear()
                self._bytes = 0
            return False
        self._captured.update(got)
        self._bytes = size
        return True

    def _run_cut(self, view: onnx.ModelProto) -> list[np.ndarray] | None:
        cut = self._cut(view)
        if cut is None or not self._capture(self._shared(cut)):
            return None
        got = self._cut_outputs(cut)
        if got is None:  # the whole model runs instead and reports its own errors
            self._downstream = False  # (so do the next: what one cut met, the others meet)
        return got

    def _cut_outputs(self, cut: Cut) -> list[np.ndarray] | None:
        """The outputs, the cut run on what it reads (captured); None when it fails."""
        try:
            return self._cut_runner(cut)({})
        except Exception:  # noqa: BLE001 - the caller runs the whole model, which reports
            return None

    def _cut_runner(self, cut: Cut) -> Callable[[Mapping[str, np.ndarray]], list[np.ndarray]]:
        """``extra -> the outputs over the batches``: the cut loaded once and run on what it
        reads (captured, the reference's outputs, the batches; ``extra``: inputs of the
        changed model the original lacks, a switch model's selectors). Raises what ONNX
        Runtime raises."""
        ref = {o.name: k for k, o in enumerate(self._view.graph.output)}

        def value(name: str, i: int, extra: Mapping[str, np.ndarray]) -> np.ndarray:
            if name in extra:
                return extra[name]
            if name in self._captured:
                return self._captured[name][i]
            if name in ref:
                return self._per[i][ref[name]]
            return np.asarray(self.batches[i][name])

        m = cut.model
        made_names = [o.name for o in m.graph.output]
        first = self.batches[0] if self.batches else {}
        for inp in m.graph.input:  # types the shape inference could not tell (fed: as fed)
            src = cut.feeds[inp.name]
            if src in self._captured or src in ref or src in first:
                v = value(src, 0, {})
                elem = onnx.helper.np_dtype_to_tensor_dtype(v.dtype)
                if inp.type.tensor_type.elem_type != elem:
                    inp.type.tensor_type.elem_type = elem
                    inp.type.tensor_type.ClearField("shape")
        sess = session(m) if made_names else None

        def run(extra: Mapping[str, np.ndarray]) -> list[np.ndarray]:
            per: list[list[np.ndarray]] = []
            for i in range(len(self.batches)):
                made: dict[str, np.ndarray] = {}
                if sess is not None:
                    feeds = {x: value(src, i, extra) for x, src in cut.feeds.items()}
                    made = dict(zip(made_names, run_session(sess, feeds), strict=True))
                per.append(
                    [made[n] if is_made else value(n, i, extra) for is_made, n in cut.outputs]
                )
            return joined(per)

        return run


def finite(v: float | None) -> float | None:
    """JSON-safe float: None for None/NaN/inf."""
    return None if v is None or not math.isfinite(v) else float(v)
