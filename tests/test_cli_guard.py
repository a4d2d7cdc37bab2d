"""A crash in native code ends with one line, not a dead process with nothing said.

The model is the mechanism of onnx-asr's wespeaker fed an empty waveform: a Scan over zero
iterations with ``scan_output_axes=[1]``, on which ONNX Runtime 1.32 raises SIGFPE.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper as h

from rewriter.cli.guard import crash_line


def _scan_model(path: str) -> None:
    body = h.make_graph(
        [
            h.make_node("Identity", ["prev"], ["next"]),
            h.make_node("Concat", ["prev", "curr"], ["cat"], axis=-1),
            h.make_node("Sigmoid", ["cat"], ["gate"]),
            h.make_node("Mul", ["cat", "gate"], ["frame"]),  # a SiLU site
        ],
        "body",
        [
            h.make_tensor_value_info("prev", T.FLOAT, ["b", 4]),
            h.make_tensor_value_info("curr", T.FLOAT, ["b", 2]),
        ],
        [
            h.make_tensor_value_info("next", T.FLOAT, ["b", 4]),
            h.make_tensor_value_info("frame", T.FLOAT, ["b", 6]),
        ],
    )
    scan = h.make_node(
        "Scan",
        ["s0", "x"],
        ["s", "y"],
        body=body,
        num_scan_inputs=1,
        scan_input_axes=[1],
        scan_output_axes=[1],
    )
    g = h.make_graph(
        [scan],
        "framer",
        [
            h.make_tensor_value_info("s0", T.FLOAT, ["b", 4]),
            h.make_tensor_value_info("x", T.FLOAT, ["b", "t", 2]),
        ],
        [h.make_tensor_value_info("y", T.FLOAT, ["b", "t", 6])],
    )
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, path)


def _digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture
def crashing(tmp_path):
    model, feeds = str(tmp_path / "framer.onnx"), str(tmp_path / "empty.npz")
    _scan_model(model)
    np.savez(feeds, s0=np.zeros((2, 4), np.float32), x=np.zeros((2, 0, 2), np.float32))
    # the bug itself, in a bare process (x86 traps an integer division by zero; ARM does not)
    code = (
        "import sys, numpy as np, onnxruntime as ort; d = np.load(sys.argv[2]);"
        "s = ort.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider']);"
        "s.run(None, {k: d[k] for k in d.files})"
    )
    p = subprocess.run([sys.executable, "-c", code, model, feeds], capture_output=True, timeout=120)
    if p.returncode != -signal.SIGFPE:
        pytest.skip(
            f"onnxruntime {ort.__version__} on this CPU does not crash on an empty Scan ({p.returncode})"
        )
    return model, feeds


def test_ort_crash_is_one_line(crashing, tmp_path) -> None:
    model, feeds = crashing
    before = _digest(model)
    out = tmp_path / "out.onnx"
    cmd = [sys.executable, "-m", "rewriter", model, "--inputs", feeds, "-o", str(out)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert p.returncode == 128 + signal.SIGFPE, (p.returncode, p.stderr)
    line = p.stderr.strip()
    assert line.count("\n") == 0 and "Traceback" not in line, p.stderr
    assert line.startswith("rewrite: error: ONNX Runtime crashed the process (SIGFPE"), line
    assert "called from rewriter/verify.py:" in line and "--inputs" in line, line
    assert not out.exists() and _digest(model) == before
    # non-empty frames run: the crash is the input's, and the same model rewrites
    np.savez(feeds, s0=np.zeros((2, 4), np.float32), x=np.ones((2, 3, 2), np.float32))
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and out.exists(), p.stderr


def test_without_the_guard_the_process_just_dies(crashing, tmp_path) -> None:
    """What users saw before: killed by the signal, not a word on stderr."""
    model, feeds = crashing
    env = {**os.environ, "PAU_REWRITER_NO_FORK": "1"}
    cmd = [
        sys.executable,
        "-m",
        "rewriter",
        model,
        "--inputs",
        feeds,
        "-o",
        str(tmp_path / "o.onnx"),
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == -signal.SIGFPE and "rewrite: error" not in p.stderr, p.stderr
    # the debug switch prints faulthandler's stack above the line
    env = {**os.environ, "PAU_REWRITER_DEBUG": "1"}
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 128 + signal.SIGFPE
    assert "Fatal Python error: Floating point exception" in p.stderr
    assert p.stderr.strip().splitlines()[-1].startswith("rewrite: error: ONNX Runtime crashed")


def test_exit_codes_pass_through_the_child(tmp_path) -> None:
    p = subprocess.run(
        [sys.executable, "-m", "rewriter", str(tmp_path / "none.onnx")],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 2 and p.stderr.startswith("rewrite: error: no output path"), p.stderr
    p = subprocess.run(
        [sys.executable, "-m", "rewriter", "--version"], capture_output=True, text=True
    )
    assert p.returncode == 0 and p.stdout.startswith("pau-rewriter "), p.stdout


_SLEEPER = textwrap.dedent(
    """
    import os, sys, time
    from rewriter.cli import guard
    status = guard.supervise()
    if status is not None:
        sys.exit(status)
    print(os.getpid(), flush=True)
    time.sleep(120)
    """
)


def _sleeper() -> tuple[subprocess.Popen[str], int]:
    p = subprocess.Popen(
        [sys.executable, "-c", _SLEEPER], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert p.stdout is not None
    return p, int(p.stdout.readline())


def test_killed_child_and_forwarded_term() -> None:
    p, child = _sleeper()
    try:
        os.kill(child, signal.SIGKILL)  # what the OOM killer does
        _, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 128 + signal.SIGKILL
    assert err.strip() == (
        "rewrite: error: the run was killed (SIGKILL): out of memory? The kernel's OOM killer sends "
        "it; free memory, or pass smaller --input-shapes or fewer --calibration samples"
    )
    p, child = _sleeper()
    try:
        p.send_signal(signal.SIGTERM)  # to the parent: passed on to the child
        _, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert (
        p.returncode == 128 + signal.SIGTERM
        and err.strip() == "rewrite: error: the run was stopped by SIGTERM"
    )
    # and a parent killed outright takes the child with it (Linux)
    if sys.platform.startswith("linux"):
        p, child = _sleeper()
        p.kill()
        p.wait()
        deadline = time.time() + 30
        while time.time() < deadline and _alive(child):
            time.sleep(0.05)
        assert not _alive(child)


def test_a_killed_child_leaves_no_temporary_folder(tmp_path) -> None:
    """A TorchScript conversion killed by a native crash (EXAONE's tower segfaulted torch's
    shape inference) left its folder in the temporary folder for good, and one in ONNX Runtime
    the copy of the model it was running. The command's folders are named for its process
    and the guard's parent removes what its child left; another run's stay."""
    script = textwrap.dedent(
        """
        import os, sys, tempfile, time
        from rewriter.cli import guard
        from rewriter.procs import scratch_prefix
        status = guard.supervise()
        if status is not None:
            sys.exit(status)
        folder = tempfile.mkdtemp(prefix=scratch_prefix("torchscript"))
        open(os.path.join(folder, "model.onnx"), "wb").close()
        print(os.getpid(), folder, flush=True)
        time.sleep(120)
        """
    )
    other = tmp_path / "pau-torchscript-1-abc"  # pid 1's: not this run's
    other.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    p = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env,
    )  # fmt: skip
    try:
        assert p.stdout is not None
        child, folder = p.stdout.readline().split()
        assert os.path.exists(os.path.join(folder, "model.onnx"))
        assert os.path.dirname(folder) == str(tmp_path)
        os.kill(int(child), signal.SIGSEGV)
        p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 128 + signal.SIGSEGV
    assert sorted(os.listdir(tmp_path)) == ["pau-torchscript-1-abc"]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_crash_line_names_the_library_and_our_caller() -> None:
    # a pool thread crashed: no "Current thread" block; the Python thread waiting in OpenVINO
    stack = textwrap.dedent(
        """\
        Fatal Python error: Segmentation fault

        Thread 0x00007f0000000001 (most recent call first):
          File "/usr/lib/python3.11/threading.py", line 320 in wait

        Thread 0x00007f0000000002 (most recent call first):
          File "/venv/lib/python3.11/site-packages/openvino/_ov_api.py", line 118 in infer
          File "/venv/lib/python3.11/site-packages/rewriter/ir/runtime.py", line 90 in run
          File "/venv/lib/python3.11/site-packages/rewriter/cost/measure.py", line 77 in _time
          File "/venv/bin/rewrite", line 8 in <module>
        """
    )
    line = crash_line(signal.SIGSEGV, stack)
    assert line.startswith("OpenVINO crashed the process (SIGSEGV: segmentation fault) in infer, ")
    assert "called from rewriter/cost/measure.py:77 (_time)" in line and "another --target" in line
    assert crash_line(signal.SIGABRT, "").startswith(
        "native code crashed the process (SIGABRT: aborted);"
    )


def test_a_write_the_machine_refuses_is_one_line_and_leaves_nothing(tmp_path) -> None:
    """A full disk ended a sweep's runs in 'internal error: OSError: [Errno 28] No space left on
    device': no bug, and nothing said about what to do. The kernel refuses the write here the
    way it refuses one on a full disk, by a file-size limit (EFBIG): one line naming the file
    and what to do, exit 1, and no partial file left."""
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))  # the model is 152 KiB

    out = tmp_path / "out.onnx"
    p = subprocess.run(
        [sys.executable, "-m", "rewriter", "examples/digits_cnn.onnx", "-o", str(out)],
        preexec_fn=limit, capture_output=True, text=True, timeout=300,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )  # fmt: skip
    lines = [ln for ln in p.stderr.splitlines() if ln.strip() and not ln.startswith("[")]
    assert p.returncode == 1, p.stderr
    assert lines == [
        f"rewrite: error: File too large ({out}): larger than this process may write (ulimit "
        "-f); raise the limit or write elsewhere; files are written whole or not at all"
    ]
    assert os.listdir(tmp_path) == []  # no temporary file, no partial model
