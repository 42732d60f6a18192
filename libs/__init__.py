"""The `libs` package of the Session 5 "Generative Models" companion.

Importing it (any `from libs import ...`) sets TensorFlow's C++ log level to 2, errors only,
unless TF_CPP_MIN_LOG_LEVEL is set already: this runs before any module here imports TensorFlow.
TensorFlow 2.21 still prints a few lines at import and on the first operation whatever the
level; `libs.logs` filters them out of notebook cells and, where this process is one of the
library's commands (`python -m libs.charrnn ...`), imports TensorFlow with them filtered out.

It also has the C library keep freed memory for reuse (`keep_freed_memory`), unless
CADL_KEEP_MEMORY=0 (1, the default: keep it).
"""
import ctypes
import os

from libs import logs

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc's mallopt parameters (malloc.h)


def keep_freed_memory() -> bool:
    """Have glibc's malloc serve every block from its heap and keep freed memory there, instead
    of mapping each large block afresh and unmapping it when freed; True if applied.

    A training step frees and reallocates the same buffers every time (a char-RNN's saved gates
    are 41 MB each). A fresh mapping costs a page fault and a zeroed page per 4 KB touched: on 2
    AMD EPYC cores, 19% of the char-RNN's training time went to the kernel's page faults, and
    the step took 773 ms against 545-549 ms with memory kept. The price: memory freed once
    stays with the process until it exits, and the heap fragments: that char-RNN's training
    holds 1.74 GB instead of 0.84 GB (1.13 GB at its peak), steady over 60 steps. Not glibc
    (macOS, Windows, musl): nothing is changed and False is returned.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, 2**31 - 1))


_KEEP = os.environ.get("CADL_KEEP_MEMORY", "1")
if _KEEP not in ("0", "1"):
    raise ValueError(f"CADL_KEEP_MEMORY must be 0 (let the C library return freed memory) or 1 "
                     f"(keep it for reuse, the default), got {_KEEP!r}")
KEEPS_FREED_MEMORY = _KEEP == "1" and keep_freed_memory()

if logs.run_as_command():
    logs.quiet_tensorflow_start()
