"""Quiet TensorFlow logs: its C++ log lines filtered at the level TF_CPP_MIN_LOG_LEVEL asks for.

TensorFlow 2.21 writes its first log records (at import, and where no GPU driver answers, when
it first looks for devices) before it applies TF_CPP_MIN_LOG_LEVEL, so they show whatever the
level: half a dozen lines about oneDNN, CUDA drivers and absl before a command's first word, and
red text in a notebook. `keep_log_line` decides line by line; two places apply it:

- in a Jupyter kernel, for the kernel's whole life (`libs.nb_utils` starts
  `filter_native_stderr` when a notebook imports it);
- in the library's commands (`python -m libs.charrnn ...`: importing `libs` calls
  `quiet_tensorflow_start`), while TensorFlow starts only, so that a command's progress bar and
  messages reach the terminal untouched afterwards.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import re
import select
import sys
import threading

# A C++ log record as TensorFlow writes it (absl's format): severity (Info, Warning, Error,
# Fatal), MMDD hh:mm:ss.micro (0000 00:00:<seconds since 1970> before absl is initialised),
# thread, file:line] message.
_RECORD = re.compile(r"([IWEF])\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^ \]]+:\d+\] (.*)")
_BANNER = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
# Error-level records that only say a CPU machine is a CPU machine: no usable NVIDIA driver (kept
# where one is installed, since then it means the GPU is not used), and oneDNN falling back to
# TensorFlow's own kernels for integer operations (DT_INT32, DT_INT64, ...).
_CUDA_INIT = "failed call to cuInit"
_ONEDNN_INTEGERS = re.compile(r"oneDNN supports DT_\w+ only on platforms with AVX-512")
_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}


def _nvidia_driver() -> bool:
    return os.path.exists("/proc/driver/nvidia") or os.path.exists("/dev/nvidiactl")


def keep_log_line(line: str, min_level: int, nvidia_driver: bool = False) -> bool:
    """Whether `filter_native_stderr` passes on one line written to the process's stderr, at
    the log level `min_level` (TF_CPP_MIN_LOG_LEVEL's): 1 drops Info records and absl's banner
    about them, 2 also Warnings, 3 also Errors; from 1 on it also drops the two Error records
    that are not errors on a CPU machine (cuInit failing without an NVIDIA driver, oneDNN's
    integer fallback). Level 0 keeps all; anything not formatted as a log record (Python,
    other libraries) is always kept.
    """
    if min_level <= 0:
        return True
    if line.strip() == _BANNER:
        return False
    record = _RECORD.match(line)
    if record is None:
        return True
    severity, message = _SEVERITY[record.group(1)], record.group(2)
    if severity == 2 and (_ONEDNN_INTEGERS.search(message)
                          or (_CUDA_INIT in message and not nvidia_driver)):
        return False
    return severity == 3 or severity >= min_level


def _min_log_level() -> int:
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def _pump(read_fd: int, out_fd: int) -> None:
    """Copy lines from read_fd to out_fd, dropping those `keep_log_line` refuses, until EOF."""
    nvidia, pending = _nvidia_driver(), b""
    while True:
        # A partial line (no newline yet) is passed on after 0.2 s instead of waiting for more.
        ready, _, _ = select.select([read_fd], [], [], 0.2 if pending else None)
        chunk = os.read(read_fd, 1 << 16) if ready else b""
        if ready and not chunk:  # end of file: every writer is closed
            break
        *lines, rest = (pending + chunk).split(b"\n")
        if not ready:
            lines, rest = [rest], b""
        level = _min_log_level()
        kept = [line + b"\n" for line in lines
                if keep_log_line(line.decode("utf-8", "replace"), level, nvidia)]
        if not ready and kept:
            kept[-1] = kept[-1][:-1]  # the partial line gets no newline of ours
        _write_all(out_fd, b"".join(kept))
        pending = rest
    _write_all(out_fd, pending)
    os.close(read_fd)


_filter: tuple[int, threading.Thread] | None = None


def filter_native_stderr() -> None:
    """Filter what C and C++ code writes to this process's stderr (file descriptor 2) through
    `keep_log_line`, at the level of TF_CPP_MIN_LOG_LEVEL (2 once `libs` is imported).

    A Jupyter kernel forwards those writes to the notebook, shown in red; TensorFlow's log lines
    about a missing GPU driver read as failures there. Python's own warnings and errors are not
    touched (they do not go through descriptor 2 in a kernel). Idempotent; POSIX only (elsewhere
    it does nothing). The filter stops, passing on what is left, when Python exits.
    """
    global _filter
    if _filter is not None or os.name != "posix":
        return
    try:
        original = os.dup(2)
    except OSError:  # no stderr at all (closed by whoever started the process): nothing to filter
        return
    read_fd, write_fd = os.pipe()
    thread = threading.Thread(target=_pump, args=(read_fd, original), daemon=True,
                              name="native-stderr-filter")
    thread.start()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    _filter = (original, thread)
    atexit.register(_stop_filter)


def _stop_filter() -> None:
    """Give descriptor 2 back and let the filter pass on what it holds (closing the pipe)."""
    global _filter
    if _filter is None:
        return
    original, thread = _filter
    _filter = None
    os.dup2(original, 2)  # closes the pipe's last write end, unless a child process holds one
    thread.join(timeout=1.0)
    if not thread.is_alive():  # else it still writes there: the descriptor stays open
        os.close(original)


@contextlib.contextmanager
def quiet_native_stderr():
    """Within, `filter_native_stderr` (unless it is on already, as in a notebook, where it
    stays on after)."""
    if _filter is not None:
        yield
        return
    filter_native_stderr()
    try:
        yield
    finally:
        _stop_filter()


def run_as_command() -> bool:
    """Whether this process is one of the library's commands, `python -m libs.<module> ...`."""
    argv = getattr(sys, "orig_argv", ())
    return any(a == "-m" and b.startswith("libs.") for a, b in zip(argv, argv[1:]))


def quiet_tensorflow_start() -> None:
    """Import TensorFlow and have it look for its devices with its log lines filtered: what it
    writes before it applies TF_CPP_MIN_LOG_LEVEL. No operation runs: the multi-worker
    strategy must configure TensorFlow's runtime before the first one."""
    with quiet_native_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices()
