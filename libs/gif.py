"""Animated GIFs from frames, written directly with imageio (no matplotlib animation, no ImageMagick).

``build_gif`` keeps the original course's signature; ``show`` displays an existing GIF or PNG inline.
"""
from __future__ import annotations

import math
import numbers
import os
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from .utils import _split_channels, _stack_images, _write_bytes_atomic, to_uint8


def _ipython_display():
    """Return (IPython.display.Image, IPython.display.display), or a clear ImportError."""
    try:
        from IPython.display import Image, display
    except ImportError as err:
        raise ImportError("showing images inline needs IPython (pip install ipython), normally in a "
                          "Jupyter notebook; otherwise save the GIF and open the file") from err
    return Image, display


def _positive(x) -> bool:
    """True for a finite real number > 0 (not a bool)."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def _scale(frames: np.ndarray, scale: float) -> np.ndarray:
    """Nearest-neighbour resize of (N, H, W[, C]) by ``scale`` (np.repeat when it is an integer)."""
    if scale == 1:
        return frames
    if float(scale).is_integer():
        k = int(scale)
        return np.repeat(np.repeat(frames, k, axis=1), k, axis=2)
    h, w = frames.shape[1:3]
    rows = np.minimum((np.arange(max(1, round(h * scale))) / scale).astype(int), h - 1)
    cols = np.minimum((np.arange(max(1, round(w * scale))) / scale).astype(int), w - 1)
    return frames[:, rows][:, :, cols]


def build_gif(imgs, interval: float = 0.1, dpi: float = 72, save_gif: bool = True,
              saveto: str | os.PathLike = "animation.gif", show_gif: bool = False,
              cmap=None, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """Write frames as a looping GIF, ``interval`` seconds per frame; return the uint8 frames written.

    imgs: sequence or array of (N, H, W), (N, H, W, 1) or (N, H, W, 3) frames, float or uint8, converted
    with ``utils.to_uint8`` using ONE range for all frames (``value_range`` or inferred), so brightness
    does not flicker. cmap: matplotlib colormap (name) applied to grayscale frames, giving RGB.
    dpi: pixels are scaled by dpi / 72 (nearest neighbour), as the original's figure was.
    Returns (N, h, w) or (N, h, w, 3) uint8. Writes ``saveto`` atomically when ``save_gif``; displays
    inline (IPython) when ``show_gif``, which also works without saving.

    GIF stores durations in 1/100 s, keeps at most 256 colours per frame (RGB frames are quantised),
    and Pillow merges identical consecutive frames, adding up their durations (playback is unchanged).
    """
    if not _positive(interval):
        raise ValueError(f"interval={interval!r} is not valid; expected seconds per frame > 0")
    if not _positive(dpi):
        raise ValueError(f"dpi={dpi!r} is not valid; expected a number > 0 (72 keeps the frame size)")
    frames, is_rgb = _split_channels(_stack_images(imgs, "frame"), "frames")
    frames = to_uint8(frames, value_range)
    if cmap is not None:
        if is_rgb:
            raise ValueError(f"cmap={cmap!r} only applies to grayscale frames; "
                             f"these are RGB, shape {frames.shape}")
        import matplotlib  # only needed for colormaps
        if isinstance(cmap, str):
            try:
                cmap = matplotlib.colormaps[cmap]
            except KeyError:
                raise ValueError(f"cmap={cmap!r} is not a matplotlib colormap; valid names include "
                                 "'gray', 'viridis', 'magma', 'inferno' (see matplotlib.colormaps)") from None
        frames = cmap(frames / 255.0, bytes=True)[..., :3]
    frames = _scale(frames, dpi / 72)
    if save_gif or show_gif:
        data = iio.imwrite("<bytes>", frames, extension=".gif", plugin="pillow", is_batch=True,
                           duration=interval * 1000, loop=0)  # duration in ms; loop=0: forever
        if save_gif:
            _write_bytes_atomic(saveto, data)
        if show_gif:
            image, display = _ipython_display()
            display(image(data=data, format="gif"))
    return frames


def show(path_or_bytes: str | os.PathLike | bytes):
    """Display a GIF or PNG inline in Jupyter, from a file path or its bytes; return the IPython Image."""
    if isinstance(path_or_bytes, (bytes, bytearray)):
        data, source = bytes(path_or_bytes), "the data given"
    else:
        path = Path(path_or_bytes)
        if not path.is_file():
            raise FileNotFoundError(f"no image file at {path}")
        data, source = path.read_bytes(), str(path)
    if data[:6] in (b"GIF87a", b"GIF89a"):
        fmt = "gif"
    elif data[:8] == b"\x89PNG\r\n\x1a\n":
        fmt = "png"
    else:
        raise ValueError(f"{source} is neither a GIF nor a PNG image; show() displays GIF or PNG")
    image, display = _ipython_display()
    img = image(data=data, format=fmt)
    display(img)
    return img
