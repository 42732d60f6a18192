"""TensorFlow's C++ log lines filtered at TF_CPP_MIN_LOG_LEVEL: line by line, in a process for
good (notebooks) or while TensorFlow starts (the library's commands)."""
import os
import subprocess
import sys
import textwrap

import pytest

from libs import logs

NOISE = [  # what TensorFlow 2.21 printed into notebook cells at TF_CPP_MIN_LOG_LEVEL=2
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1795993517.139680    3785 cudart_stub.cc:31] Could not find cuda drivers on your "
    "machine, GPU will not be used.",
    "I0000 00:00:1795993712.885412    6380 port.cc:153] oneDNN custom operations are on.",
    "E0000 00:00:1795993530.948147    3785 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
    "CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
    "E0000 00:00:1795993746.715483    6380 util.cc:131] oneDNN supports DT_INT32 only on platforms "
    "with AVX-512. Falling back to the default Eigen-based implementation if present.",
    "E0000 00:00:1796103171.863731    6026 util.cc:131] oneDNN supports DT_INT64 only on platforms "
    "with AVX-512. Falling back to the default Eigen-based implementation if present.",
    "W0000 00:00:1795993746.715483    6380 some_file.cc:12] a warning",
]
REAL = [
    "E0000 00:00:1795993819.949430    7634 meta_optimizer.cc:967] remapper failed: INVALID_ARGUMENT",
    "F0000 00:00:1795993819.949430    7634 some_file.cc:1] Check failed: fatal",
    "Traceback (most recent call last):",
    "",
]


def test_keep_log_line_applies_the_log_level():
    assert all(logs.keep_log_line(line, 0) for line in NOISE + REAL)
    assert not any(logs.keep_log_line(line, 2) for line in NOISE)
    assert all(logs.keep_log_line(line, 2) for line in REAL)
    warning, error = NOISE[-1], REAL[0]
    assert logs.keep_log_line(warning, 1) and not logs.keep_log_line(NOISE[1], 1)
    assert not logs.keep_log_line(error, 3) and logs.keep_log_line(REAL[1], 3)
    # Where an NVIDIA driver is installed, cuInit failing means its GPU goes unused: kept.
    assert logs.keep_log_line(NOISE[3], 2, nvidia_driver=True)


def test_filter_native_stderr_filters_file_descriptor_2():
    lines = "\n".join(NOISE + REAL[:-1]) + "\n"
    child = f"import os; os.write(2, {lines!r}.encode())"   # C-level writes of another process
    script = textwrap.dedent(f"""
        import os, subprocess, sys
        from libs import logs
        logs.filter_native_stderr()
        logs.filter_native_stderr()            # twice: still one filter
        os.write(2, {lines!r}.encode())
        subprocess.run([sys.executable, "-c", {child!r}], check=True)
        os.write(2, b"no newline at the end")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr
    assert done.stderr == ("\n".join(REAL[:-1]) + "\n") * 2 + "no newline at the end"


def test_quiet_native_stderr_filters_within_and_gives_descriptor_2_back():
    lines = "\n".join(NOISE + REAL[:-1]) + "\n"
    script = textwrap.dedent(f"""
        import os
        from libs import logs
        before = os.fstat(2).st_ino
        with logs.quiet_native_stderr():
            os.write(2, {lines!r}.encode())
        os.write(2, b"\\r 3/30 steps")   # a progress bar's update, no newline: passed at once
        print(os.fstat(2).st_ino == before, logs._filter is None)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True,  # bytes: \r kept
                          timeout=60, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [b"True", b"True"]
    assert done.stderr.decode() == "\n".join(REAL[:-1]) + "\n\r 3/30 steps"


def test_a_command_starts_without_tensorflow_log_lines():
    """`python -m libs.charrnn train` with a required argument missing: its usage and error on
    stderr, none of TensorFlow's import-time records (TensorFlow 2.21 writes six of them and, on
    a machine without a GPU driver, a seventh when it looks for devices)."""
    done = subprocess.run([sys.executable, "-m", "libs.charrnn", "train"], capture_output=True,
                          text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"})
    assert done.returncode == 2
    assert done.stderr.startswith("usage: python -m libs.charrnn train"), done.stderr[:300]
    assert "python -m libs.charrnn train: error: " in done.stderr
    assert not any(logs._RECORD.match(line) or line == logs._BANNER
                   for line in done.stderr.splitlines()), done.stderr[:600]
    assert logs.run_as_command() is False   # this test process is pytest, not a command


def test_sampling_after_a_prime_writes_no_onednn_integer_notice():
    """oneDNN's notice that it leaves integers to TensorFlow's kernels comes once per process,
    on the first integer transpose outside XLA: `charrnn.sample` reading a prime does none
    (commands print what reaches stderr after TensorFlow started)."""
    def notices(script: str) -> list[str]:
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              timeout=120, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        assert done.returncode == 0, done.stderr
        return logs._ONEDNN_INTEGERS.findall(done.stderr)
    for dtype in ("int32", "int64"):
        if not notices(f"from libs import logs\nimport tensorflow as tf\n"
                       f"tf.transpose(tf.zeros((1, 3), tf.{dtype}))\n"):
            pytest.skip(f"this TensorFlow (or CPU) writes no oneDNN notice for {dtype}")
    assert notices("from libs import charrnn\nfrom libs.text import Vocabulary\n"
                   "model = charrnn.CharRNN(charrnn.CharRNNConfig(n_cells=8, n_layers=1), "
                   "Vocabulary.from_text('The cat'))\n"
                   "print(charrnn.sample(model, 5, prime='The ', seed=0))\n") == []


def test_a_command_starts_with_stderr_closed(tmp_path):
    """Started with no stderr at all (a service manager may close it), a command still runs."""
    done = subprocess.run([sys.executable, "-m", "libs.paths"], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True, timeout=120,
                          env={**os.environ, "CADL_DATA_DIR": str(tmp_path)},
                          preexec_fn=lambda: os.close(2))
    assert done.returncode == 0
    assert "timed on this machine" in done.stdout
