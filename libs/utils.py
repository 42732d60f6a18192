"""Image and latent-space utilities: uint8 conversion, montage, interp/slerp, latent manifold, homework zip.

Names follow the original course's ``libs/utils.py``; behaviour is today's. Needs only numpy and imageio.
"""
from __future__ import annotations

import json
import math
import os
import re
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from .arguments import check_int
from .downloads import file_hash
from .files import atomic_path, write_bytes_atomic

BORDER = 128  # gray of the montage grid lines; the original used 0.5 on a [0, 1] canvas


# ---------------------------------------------------------------------------- checks of image batches

def stack_images(images, what: str = "image") -> np.ndarray:
    """Stack a non-empty sequence (or array) of equally shaped images into one array (N, ...).

    Raises ValueError when empty, or naming the first index whose shape differs from item 0.
    """
    if isinstance(images, np.ndarray):
        if images.ndim == 0 or images.shape[0] == 0:
            raise ValueError(f"expected a non-empty batch of {what}s, got an array of shape {images.shape}")
        return images
    items = [np.asarray(x) for x in images]
    if not items:
        raise ValueError(f"expected at least one {what}, got an empty sequence")
    for i, item in enumerate(items):
        if item.shape != items[0].shape:
            raise ValueError(f"{what} {i} has shape {item.shape}, but {what} 0 has shape "
                             f"{items[0].shape}; all {what}s must have the same shape")
    return np.stack(items)


def split_channels(batch: np.ndarray, what: str = "images") -> tuple[np.ndarray, bool]:
    """Check a batch is (N, H, W), (N, H, W, 1) or (N, H, W, 3); return it as (N, H, W[, 3]) and is_rgb."""
    if batch.ndim == 3:
        return batch, False
    if batch.ndim == 4:
        if batch.shape[-1] == 1:
            return batch[..., 0], False
        if batch.shape[-1] == 3:
            return batch, True
        raise ValueError(f"{what} have {batch.shape[-1]} channels (shape {batch.shape}); "
                         "expected 1 (grayscale) or 3 (RGB)")
    raise ValueError(f"{what} have shape {batch.shape} ({batch.ndim} dims); "
                     "expected (N, H, W), (N, H, W, 1) or (N, H, W, 3)")



# ---------------------------------------------------------------------------- conversion

def _infer_range(x: np.ndarray) -> tuple[float, float]:
    """The value range ``to_uint8`` assumes when none is given (see its docstring)."""
    lo, hi = float(x.min()), float(x.max())
    if np.issubdtype(x.dtype, np.floating):
        if lo >= 0 and hi <= 1:
            return 0.0, 1.0
        if lo >= -1 and hi <= 1:
            return -1.0, 1.0
    if lo >= 0 and hi <= 255:
        return 0.0, 255.0
    return lo, hi


def to_uint8(images, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """Convert images of any shape to uint8 in [0, 255]: the one conversion used by montage and gif.

    uint8 input passes through unchanged when ``value_range`` is None; bool maps False/True to 0/255.
    Otherwise ``value_range=(lo, hi)`` maps lo -> 0 and hi -> 255, clipping outside values. When None,
    the range is inferred from the data as a whole:

    - float within [0, 1]                      -> (0, 1)
    - float within [-1, 1] with some value < 0 -> (-1, 1)   (tanh generator output)
    - any values within [0, 255], max > 1      -> (0, 255)  (what the tf.data pipelines yield)
    - anything else                            -> (min, max) of the data; a constant image gives zeros.

    NaN or infinite values raise ValueError.
    """
    x = np.asarray(images)
    if x.dtype == np.uint8 and value_range is None:
        return x
    if x.dtype == bool:
        return x.astype(np.uint8) * np.uint8(255)
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"cannot convert images of dtype {x.dtype} to uint8; "
                         "expected a float, int or bool array")
    if x.size == 0:
        raise ValueError(f"cannot convert an empty array (shape {x.shape}) to uint8")
    if not np.all(np.isfinite(x)):
        n_bad = int(np.count_nonzero(~np.isfinite(x)))
        raise ValueError(f"images contain {n_bad} NaN or infinite value(s); expected finite values")
    if value_range is None:
        lo, hi = _infer_range(x)
    else:
        try:
            lo, hi = (float(v) for v in value_range)
        except (TypeError, ValueError):
            raise ValueError(f"value_range={value_range!r} is not valid; "
                             "expected two numbers (lo, hi)") from None
        if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
            raise ValueError(f"value_range={value_range!r} is not valid; "
                             "expected finite (lo, hi) with hi > lo")
    if hi == lo:  # constant image with an inferred range
        return np.zeros(x.shape, np.uint8)
    scaled = (x.astype(np.float64) - lo) * (255.0 / (hi - lo))
    return np.rint(np.clip(scaled, 0, 255)).astype(np.uint8)


# ---------------------------------------------------------------------------- montage

def montage(images, saveto: str | os.PathLike | None = "montage.png",
            value_range: tuple[float, float] | None = None,
            columns: int | None = None) -> np.ndarray:
    """Tile images on a ceil(sqrt(N)) x ceil(sqrt(N)) grid with 1-pixel gray (128) lines between and around.

    images: list or array of (N, H, W), (N, H, W, 1) or (N, H, W, 3), float or uint8; converted with
    ``to_uint8`` using one range for all images. Tiles fill row by row; unused tiles stay gray.
    columns: tiles per row instead (as many rows as needed), e.g. N for one strip.
    Returns uint8 (H*rows+rows+1, W*columns+columns+1) for grayscale or (..., 3) for RGB, and saves
    it as a PNG at ``saveto`` unless that is None (creating the parent folder).
    """
    batch, is_rgb = split_channels(stack_images(images), "images")
    batch = to_uint8(batch, value_range)
    n_imgs, h, w = batch.shape[:3]
    if columns is None:
        n = rows = int(math.ceil(math.sqrt(n_imgs)))
    else:
        n = check_int("columns", columns)
        rows = -(-n_imgs // n)
    m = np.full((h * rows + rows + 1, w * n + n + 1) + batch.shape[3:], BORDER, np.uint8)
    for idx in range(n_imgs):
        i, j = divmod(idx, n)
        m[1 + i + i * h:1 + i + (i + 1) * h, 1 + j + j * w:1 + j + (j + 1) * w] = batch[idx]
    if saveto is not None:
        write_bytes_atomic(saveto, iio.imwrite("<bytes>", m, extension=".png"))
    return m


# What the sample commands write into their folder (`save_samples`, and DRAW's canvas.gif), and
# the temporary names `atomic_path` gives them until they are complete.
_SAMPLE_NAME = r"sample_\d{4,}\.png|montage\.png|canvas\.gif"
_SAMPLE_FILE = re.compile(rf"(?:{_SAMPLE_NAME})|\.(?:{_SAMPLE_NAME})\.\w+\.tmp")


def save_samples(images, out: str | os.PathLike,
                 value_range: tuple[float, float] | None = None) -> list[Path]:
    """Write images (N, H, W[, C]) as out/sample_0000.png, sample_0001.png, ... and
    out/montage.png (converted with ``to_uint8`` over ``value_range``); returns the paths,
    the montage last.

    ``out`` is a new or empty folder, or one that holds only earlier samples (sample_NNNN.png,
    montage.png, canvas.gif): once these are written, the earlier ones they did not replace are
    removed, so that the folder holds this sample only. A folder that holds anything else is
    refused (ValueError naming what), before anything is written.
    """
    out = Path(out)
    others = sorted(p.name for p in out.iterdir() if not _SAMPLE_FILE.fullmatch(p.name)) \
        if out.is_dir() else []
    if others:
        raise ValueError(f"{out} holds files that are not earlier samples: "
                         f"{', '.join(others[:5])}{' ...' if len(others) > 5 else ''}; sample "
                         "into a new or empty folder, or one that holds only earlier samples "
                         "(sample_NNNN.png, montage.png, canvas.gif), which are replaced")
    pictures = to_uint8(stack_images(images), value_range)
    paths = []
    for i, picture in enumerate(pictures):
        paths.append(out / f"sample_{i:04d}.png")
        picture = picture[..., 0] if picture.ndim == 3 and picture.shape[-1] == 1 else picture
        write_bytes_atomic(paths[-1], iio.imwrite("<bytes>", picture, extension=".png"))
    paths.append(out / "montage.png")
    montage(pictures, saveto=paths[-1])
    for earlier in set(out.iterdir()) - set(paths):
        if _SAMPLE_FILE.fullmatch(earlier.name) and earlier.is_file():
            earlier.unlink()
    return paths


# ---------------------------------------------------------------------------- latent space

def interp(l, r, n_samples: int) -> np.ndarray:  # noqa: E741 (the course's names)
    """Linear interpolation: ``n_samples`` (>= 2) points from ``l`` to ``r`` inclusive.

    Returns shape (n_samples, *l.shape), float (float32 stays float32).
    """
    l, r = np.asarray(l), np.asarray(r)  # noqa: E741
    if l.shape != r.shape:
        raise ValueError(f"l and r must have the same shape, got {l.shape} and {r.shape}")
    n_samples = check_int("n_samples", n_samples, 2)
    dtype = np.result_type(l.dtype, r.dtype, np.float32)
    t = np.linspace(0, 1, n_samples).reshape((n_samples,) + (1,) * l.ndim)
    return ((1 - t) * l + t * r).astype(dtype)


def slerp(val, low, high) -> np.ndarray:
    """Spherical interpolation from ``low`` (val=0) to ``high`` (val=1), as in the original course.

    The angle is taken between the flattened, normalised vectors. Falls back to linear interpolation
    when they are (anti-)parallel (sin(omega) ~ 0) or one of them is zero. ``val`` is a scalar
    (returns low.shape) or a 1-D array of values (returns (len(val), *low.shape)).
    """
    low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
    if low.shape != high.shape:
        raise ValueError(f"low and high must have the same shape, got {low.shape} and {high.shape}")
    vals = np.asarray(val, np.float64)
    if vals.ndim > 1:
        raise ValueError(f"val must be a scalar or a 1-D array, got shape {vals.shape}")
    t = vals.reshape(vals.shape + (1,) * low.ndim)
    n_low, n_high = np.linalg.norm(low), np.linalg.norm(high)
    if n_low == 0 or n_high == 0:
        return (1.0 - t) * low + t * high
    omega = np.arccos(np.clip(np.dot(low.ravel() / n_low, high.ravel() / n_high), -1, 1))
    so = np.sin(omega)
    if so < 1e-8:  # L'Hopital's rule / lerp, as the original did for so == 0
        return (1.0 - t) * low + t * high
    return np.sin((1.0 - t) * omega) / so * low + np.sin(t * omega) / so * high


def make_latent_manifold(corners, n_samples: int) -> np.ndarray:
    """A grid of latent vectors between 4 corners, as in the original course; shape (n_samples**2, n_latent).

    corners: (4, n_latent). As in the original, the left column runs corners[0] -> corners[1] and the
    right column corners[2] -> corners[3]; each row interpolates left to right. Read row-major (e.g. by
    ``montage``): corners[0] is top-left, corners[2] top-right, corners[1] bottom-left,
    corners[3] bottom-right.
    """
    c = np.asarray(corners)
    if c.ndim != 2 or c.shape[0] != 4:
        raise ValueError(f"corners must be 4 latent vectors, shape (4, n_latent); got shape {c.shape}")
    left = interp(c[0], c[1], n_samples)   # (n, L): row i's left end
    right = interp(c[2], c[3], n_samples)  # (n, L): row i's right end
    grid = interp(left, right, n_samples)  # (n columns, n rows, L)
    return grid.swapaxes(0, 1).reshape(n_samples * n_samples, c.shape[1])


# ---------------------------------------------------------------------------- homework

SUBMISSION_MANIFEST = "MANIFEST.json"


def build_submission(filename: str | os.PathLike,
                     file_list: Mapping[str, Sequence[str | os.PathLike]] | Sequence[str | os.PathLike],
                     optional_file_list: Sequence[str | os.PathLike] = ()) -> Path:
    """Zip the homework with a manifest: every file of ``file_list``, plus those of
    ``optional_file_list`` that exist.

    file_list: {part: [files]}, e.g. {"Part 1": ["session-5-part-1.ipynb", "part-1-walk.gif"],
    "Part 2": [...]}; a plain list names each file's part by its place, as the original course
    did ("Part 1" for the first file, ...). The zip holds the files and MANIFEST.json: for each
    file its part, size and sha256, so a grader sees what was handed in and that nothing was cut
    short. Raises FileNotFoundError listing each missing required file and its part, and
    ValueError for an empty ``file_list`` or a ``filename`` that is one of the files. Names in
    the zip are relative to the current directory where possible, else the file name. Writes a
    ZIP_DEFLATED archive atomically, prints where it is and returns its absolute path.
    """
    for name, lst in (("file_list", file_list), ("optional_file_list", optional_file_list)):
        if isinstance(lst, (str, bytes, os.PathLike)):
            raise TypeError(f"{name} must be a list of file names, got a single name {lst!r}; "
                            "wrap it in [...]")
    parts = (file_list if isinstance(file_list, Mapping)
             else {f"Part {i + 1}": [f] for i, f in enumerate(file_list)})
    required = [(str(part), os.fspath(f)) for part, files in parts.items() for f in files]
    if not required:
        raise ValueError("file_list is empty: name the files of your homework (notebooks, GIFs, "
                         "...) that the submission must hold")
    out = Path(filename).resolve()
    for f in [f for _, f in required] + [os.fspath(f) for f in optional_file_list]:
        if Path(f).resolve() == out:
            raise ValueError(f"the submission {filename!r} would overwrite {f!r}, one of the "
                             "files it zips; give it another name, e.g. session-5.zip")
    missing = [f"  {f} ({part})" for part, f in required if not Path(f).is_file()]
    if missing:
        raise FileNotFoundError("cannot build the submission; these required files are missing, so those "
                                "parts of the homework do not look complete:\n" + "\n".join(missing))
    files = [(part, Path(f)) for part, f in required] + \
        [("optional", Path(f)) for f in optional_file_list if Path(f).is_file()]
    cwd = Path.cwd().resolve()
    arcnames: dict[str, tuple[str, Path]] = {}
    for part, f in files:
        full = f.resolve()
        arc = full.relative_to(cwd).as_posix() if full.is_relative_to(cwd) else full.name
        if arc == SUBMISSION_MANIFEST:
            raise ValueError(f"{full} would take the name of the zip's own {arc}; rename it")
        if arc in arcnames and arcnames[arc][1] != full:
            raise ValueError(f"two files would have the same name {arc!r} in the zip: "
                             f"{arcnames[arc][1]} and {full}")
        arcnames[arc] = (part, full)
    manifest = {"files": {arc: {"part": part, "bytes": full.stat().st_size,
                                "sha256": file_hash(full)} for arc, (part, full) in arcnames.items()}}
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for arc, (_, full) in arcnames.items():
            zf.write(full, arc)
        zf.writestr(SUBMISSION_MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    print(f"Your assignment zip file has been created:\n{out}\nSubmit this file for grading.")
    return out
