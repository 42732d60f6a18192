"""Notebook helpers: quick-mode parameters, inline pictures, and quiet TensorFlow logs.

The tests execute every notebook with `CADL_QUICK=1`, so each notebook's parameters cell picks
small settings with `pick(full, quick)`; a student running it normally gets the full ones.

Imported in a Jupyter kernel (every notebook's first code cell does), this module also filters
TensorFlow's C++ log lines out of the cells' output: see `libs.logs`.
"""
from __future__ import annotations

import os
import sys

import numpy as np

from libs import logs

QUICK_ENV = "CADL_QUICK"


def quick() -> bool:
    """True when notebooks should run in quick mode (`CADL_QUICK=1`, as the tests set)."""
    value = os.environ.get(QUICK_ENV, "0").strip().lower()
    if value not in ("0", "1", "true", "false", ""):
        raise ValueError(f"{QUICK_ENV}={value!r} is not valid; use 1 (quick) or 0 (full)")
    return value in ("1", "true")


def pick(full, quick_value):
    """`quick_value` in quick mode, else `full`: for the parameters cell of a notebook."""
    return quick_value if quick() else full


def imshow(image: np.ndarray, title: str | None = None,
           figsize: tuple[float, float] = (6, 6)) -> None:
    """Show one image (H, W), (H, W, 1) or (H, W, 3) without axes."""
    import matplotlib.pyplot as plt

    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    fig, ax = plt.subplots(figsize=figsize)
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    plt.show()


def _in_jupyter_kernel() -> bool:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


if _in_jupyter_kernel():
    logs.filter_native_stderr()
