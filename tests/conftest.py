"""Shared test fixtures."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

# Run first in every script `on_two_cpus` runs: one CPU split into two logical devices (before
# TensorFlow uses it), and `strategy`, a MirroredStrategy over them.
TWO_CPUS = f"""
import sys
sys.path[:0] = [{str(TESTS.parent)!r}, {str(TESTS)!r}]
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
"""


@pytest.fixture
def on_two_cpus():
    """run(script, *args): run `script` in a new Python process after TWO_CPUS, with `args` in
    sys.argv[1:]; it passes when the script exits 0 and its last printed line is "ok"."""
    def run(script: str, *args) -> None:
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        done = subprocess.run([sys.executable, "-c", TWO_CPUS + textwrap.dedent(script),
                               *map(str, args)], env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]
    return run
