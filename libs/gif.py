"""Animated GIFs from frames, written directly with imageio (no matplotlib animation, no ImageMagick).

``build_gif`` keeps the original course's signature; ``show`` displays an existing GIF or PNG inline.
"""
from __future__ import annotations

import base64
import io
import math
import numbers
import os
import struct
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from .arguments import check_int
from .files import write_bytes_atomic
from .utils import montage, split_channels, stack_images, to_uint8

MIN_WIDTH = 256  # CSS pixels: `show` enlarges narrower pictures by a whole factor up to this


class Picture:
    """A GIF or PNG for Jupyter to display: as image/gif or image/png, and also as an HTML
    ``<img>`` holding the picture as a data URI, which nbconvert's HTML export and static notebook
    viewers render too (they show no image/gif output).

    data: the file's bytes; format: "gif" or "png"; width: display width in CSS pixels. None
    shows a picture narrower than ``MIN_WIDTH`` enlarged by the smallest whole factor that reaches
    it, each pixel repeated in the data shown (a 32x32 face as 256x256), so it stays sharp in every
    viewer; the file's bytes stay in ``data``. Other widths are scaled by the browser, with sharp
    pixels where the page keeps the ``<img>``'s style (Jupyter drops it in untrusted notebooks).
    """

    def __init__(self, data: bytes, format: str, width: int | None = None):
        self.data, self.format = bytes(data), format
        if format == "gif":
            self.size = struct.unpack("<HH", self.data[6:10])      # logical screen width, height
        else:
            self.size = struct.unpack(">II", self.data[16:24])     # IHDR width, height
        w, h = self.size
        self.shown = self.data
        if width is None:
            factor = max(1, math.ceil(MIN_WIDTH / max(w, 1)))
            width = w * factor
            if factor > 1:
                self.shown = _enlarge(self.data, format, factor)
        elif not _positive(width):
            raise ValueError(f"width={width!r} is not valid; expected display pixels > 0")
        self.width, self.height = round(width), max(1, round(h * width / max(w, 1)))

    def _repr_mimebundle_(self, include=None, exclude=None):
        mime, b64 = f"image/{self.format}", base64.b64encode(self.shown).decode("ascii")
        w, h = self.size
        html = (f'<img src="data:{mime};base64,{b64}" width="{self.width}" height="{self.height}" '
                f'alt="{self.format.upper()}, {w}x{h} pixels" style="image-rendering: pixelated">')
        return ({mime: b64, "text/html": html, "text/plain": f"<{self.format.upper()} image, "
                 f"{w}x{h} pixels, shown {self.width} wide>"},
                {mime: {"width": self.width, "height": self.height}})


def _enlarge(data: bytes, format: str, factor: int) -> bytes:
    """The GIF or PNG with each pixel repeated factor x factor times (frames, timing and looping
    kept); the data unchanged when they cannot be decoded (then the browser scales them)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            durations = []
            for i in range(getattr(im, "n_frames", 1)):
                im.seek(i)
                durations.append(im.info.get("duration", 100))
            loop = im.info.get("loop")
        frames = iio.imread(data, extension=f".{format}", index=None if format == "gif" else 0)
    except (OSError, ValueError):
        return data
    frames = frames if format == "gif" else frames[None]
    if frames.ndim == 4 and frames.shape[-1] == 4:
        frames = frames[..., :3]  # GIF and our PNGs carry no useful transparency
    if frames.ndim == 4 and (frames == frames[..., :1]).all():
        frames = frames[..., 0]  # gray: one channel, as build_gif writes it
    frames = _scale(frames, factor)
    if format == "png":
        return iio.imwrite("<bytes>", frames[0], extension=".png")
    options = {} if loop is None else {"loop": loop}
    return iio.imwrite("<bytes>", frames, extension=".gif", plugin="pillow", is_batch=True,
                       duration=durations, optimize=False, **options)


def _display(picture: Picture) -> None:
    """Display inline through IPython, or a clear ImportError."""
    try:
        from IPython.display import display
    except ImportError as err:
        raise ImportError("showing images inline needs IPython (pip install ipython), normally in a "
                          "Jupyter notebook; otherwise save the GIF and open the file") from err
    display(picture)


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
    frames, is_rgb = split_channels(stack_images(imgs, "frame"), "frames")
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
        # duration in ms; loop=0: forever. Pillow's optimize (its default) gives some frames a
        # palette of their own that imageio's reader cannot convert back ("No packer found from
        # P to L"); without it they keep one palette, and the file is no larger.
        data = iio.imwrite("<bytes>", frames, extension=".gif", plugin="pillow", is_batch=True,
                           duration=interval * 1000, loop=0, optimize=False)
        if save_gif:
            write_bytes_atomic(saveto, data)
        if show_gif:
            _display(Picture(data, "gif"))
    return frames


def show(path_or_bytes: str | os.PathLike | bytes, width: int | None = None) -> Picture:
    """Display a GIF or PNG inline in Jupyter, from a file path or its bytes; return the `Picture`.

    width: display width in CSS pixels; None shows small pictures enlarged by a whole factor to
    at least ``MIN_WIDTH`` (a 32x32 face at 256), others at their own size.
    """
    if isinstance(path_or_bytes, (bytes, bytearray)):
        data, source = bytes(path_or_bytes), "the data given"
    else:
        path = Path(path_or_bytes)
        if not path.is_file():
            raise FileNotFoundError(f"no image file at {path}")
        data, source = path.read_bytes(), str(path)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        fmt = "gif"
    elif data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        fmt = "png"
    else:
        raise ValueError(f"{source} is neither a GIF nor a PNG image; show() displays GIF or PNG")
    picture = Picture(data, fmt, width)
    _display(picture)
    return picture


def _progress_frames(folder: Path) -> list[Path]:
    """The montages `train` saved in `folder`, step_000100.png and so on, in step order."""
    frames = sorted(folder.glob("step_*.png"))
    if not frames:
        raise FileNotFoundError(f"no progress montages (step_*.png) in {folder}")
    return frames


def progress_gif(folder, saveto=None, interval: float = 0.2, scale: float = 1) -> Path:
    """Assemble the montages `train` saved in `folder` (step_*.png) into an animated GIF
    (default folder/../progress.gif); returns its path."""
    folder = Path(folder)
    frames = _progress_frames(folder)
    saveto = Path(saveto) if saveto is not None else folder.parent / "progress.gif"
    build_gif([iio.imread(f) for f in frames], interval=interval, dpi=72 * scale,
                  saveto=saveto)
    return saveto


def progress_strip(folder, n: int = 5) -> tuple[np.ndarray, list[int]]:
    """`n` of the montages `train` saved in `folder` (step_*.png), evenly spaced from the first
    to the last (n=1: the last), side by side: the progress at a glance, also where a GIF
    shows only its first frame (a printed or exported notebook). Returns the strip (uint8,
    gray lines between the montages, as `utils.montage`) and the steps of its montages."""
    n = check_int("n", n, 1)
    frames = _progress_frames(Path(folder))
    picked = sorted({round(i) for i in np.linspace(len(frames) - 1, 0, min(n, len(frames)))})
    strip = montage([iio.imread(frames[i]) for i in picked], saveto=None, columns=len(picked))
    return strip, [int(frames[i].stem.removeprefix("step_")) for i in picked]
