import os

import matplotlib
import numpy as np
import pytest

from libs import nb_utils

matplotlib.use("agg")


@pytest.mark.parametrize("value, quick", [("1", True), ("true", True), ("0", False), ("", False)])
def test_quick_and_pick(monkeypatch, value, quick):
    monkeypatch.setenv("CADL_QUICK", value)
    assert nb_utils.quick() is quick
    assert nb_utils.pick(100, 3) == (3 if quick else 100)


def test_quick_defaults_to_full(monkeypatch):
    monkeypatch.delenv("CADL_QUICK", raising=False)
    assert nb_utils.quick() is False


def test_quick_refuses_other_values(monkeypatch):
    monkeypatch.setenv("CADL_QUICK", "yes please")
    with pytest.raises(ValueError, match="CADL_QUICK"):
        nb_utils.quick()


@pytest.mark.parametrize("shape", [(8, 8), (8, 8, 1), (8, 8, 3)])
def test_imshow_draws_the_image(shape, monkeypatch):
    import matplotlib.pyplot as plt

    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(plt.gcf()))
    nb_utils.imshow(np.random.default_rng(0).random(shape), title="t")
    (fig,) = shown
    (ax,) = fig.axes
    assert ax.get_title() == "t" and ax.images[0].get_array().shape[:2] == (8, 8)
    plt.close(fig)


NOISE = [  # what TensorFlow 2.21 printed into notebook cells at TF_CPP_MIN_LOG_LEVEL=2
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1795993517.139680    3785 cudart_stub.cc:31] Could not find cuda drivers on your "
    "machine, GPU will not be used.",
    "I0000 00:00:1795993712.885412    6380 port.cc:153] oneDNN custom operations are on.",
    "E0000 00:00:1795993530.948147    3785 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
    "CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
    "E0000 00:00:1795993746.715483    6380 util.cc:131] oneDNN supports DT_INT32 only on platforms "
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
    assert all(nb_utils.keep_log_line(line, 0) for line in NOISE + REAL)
    assert not any(nb_utils.keep_log_line(line, 2) for line in NOISE)
    assert all(nb_utils.keep_log_line(line, 2) for line in REAL)
    warning, error = NOISE[-1], REAL[0]
    assert nb_utils.keep_log_line(warning, 1) and not nb_utils.keep_log_line(NOISE[1], 1)
    assert not nb_utils.keep_log_line(error, 3) and nb_utils.keep_log_line(REAL[1], 3)
    # Where an NVIDIA driver is installed, cuInit failing means its GPU goes unused: kept.
    assert nb_utils.keep_log_line(NOISE[3], 2, nvidia_driver=True)


def test_filter_native_stderr_filters_file_descriptor_2():
    import subprocess
    import sys
    import textwrap

    lines = "\n".join(NOISE + REAL[:-1]) + "\n"
    child = f"import os; os.write(2, {lines!r}.encode())"   # C-level writes of another process
    script = textwrap.dedent(f"""
        import os, subprocess, sys
        from libs import nb_utils
        nb_utils.filter_native_stderr()
        nb_utils.filter_native_stderr()            # twice: still one filter
        os.write(2, {lines!r}.encode())
        subprocess.run([sys.executable, "-c", {child!r}], check=True)
        os.write(2, b"no newline at the end")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr
    assert done.stderr == ("\n".join(REAL[:-1]) + "\n") * 2 + "no newline at the end"
