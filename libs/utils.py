"""Image and latent-space utilities: uint8 conversion, montage, interp/slerp, latent manifold, homework zip.

Names follow the original course's ``libs/utils.py``; behaviour is today's. Needs only numpy and imageio.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import secrets
import sys
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import imageio.v3 as iio
import numpy as np

BORDER = 128  # gray of the montage grid lines; the original used 0.5 on a [0, 1] canvas


# ---------------------------------------------------------------------------- shared helpers

def _temporary_sibling(path: Path, create: Callable[[Path], object]) -> Path:
    """A new hidden ``.NAME.XXXXXXXX.tmp`` beside ``path``, made by ``create`` (which opens a
    file or makes a folder, and refuses a name that exists with FileExistsError).

    Made as any new file or folder is, the umask applies: 0644 and 0755 where the umask is 022,
    not the 0600 and 0700 of ``tempfile.mkstemp`` and ``mkdtemp``.
    """
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            create(tmp)
            return tmp
        except FileExistsError:  # taken: draw another name
            continue


@contextlib.contextmanager
def _atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it onto ``path``, on error delete it.

    Creates the parent folder. Readers never see a half-written file; the file gets the modes
    of any new file (the umask applies).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_sibling(path, lambda p: open(p, "xb").close())  # "x": a new file only
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def _write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``; return the path."""
    with _atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def _stack_images(images, what: str = "image") -> np.ndarray:
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


def _split_channels(batch: np.ndarray, what: str = "images") -> tuple[np.ndarray, bool]:
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


SEED_MAX = 2**32 - 1  # the largest seed keras.utils.set_random_seed (NumPy's seeding) takes
# Far above any learning rate that trains, and far below those that overflow float32 (1e39).
LEARNING_RATE_MAX = 10.0


def check_int(name: str, value, low: int = 1, high: int | None = None) -> int:
    """`value` as an int; ValueError naming `name` unless it is an integer >= `low` (and <=
    `high`, if given; not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low \
            or (high is not None and value > high):
        raise ValueError(f"{name} must be an integer >= {low}"
                         f"{'' if high is None else f' and <= {high}'}, got {value!r}")
    return int(value)


def check_positive(name: str, value, high: float | None = None) -> float:
    """`value` as a float; ValueError naming `name` unless it is a finite number > 0 (and <=
    `high`, if given; not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value <= 0 or (high is not None and value > high):
        raise ValueError(f"{name} must be a number > 0{'' if high is None else f' and <= {high:g}'}"
                         f", got {value!r}")
    return float(value)


def check_fits(n_bytes: float, what: str, advice: str) -> None:
    """ValueError when `n_bytes`, what `what` needs, exceed this machine's memory: "WHAT need
    about X GiB of memory, more than this machine's Y GiB; ADVICE". No check where the system
    does not say how much memory it has."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not a POSIX system
        return
    if n_bytes > memory:
        raise ValueError(f"{what} need about {n_bytes / 2**30:,.0f} GiB of memory, more than "
                         f"this machine's {memory / 2**30:,.0f} GiB; {advice}")


def check_samples_fit(n: int, shape: Sequence[int], copies: int = 1) -> None:
    """``check_fits`` for n sample images of ``shape`` (H, W, C), each made ``copies`` times (DRAW
    keeps a canvas per step): 12 bytes a value, as float32 and as ``to_uint8``'s float64 copy."""
    check_fits(12 * copies * n * math.prod(shape),
               f"{n:,} samples of {'x'.join(map(str, shape))} pixels", "ask for fewer (n, --n)")


def arg_type(kind: type, rule: str, ok: Callable[[float], bool]) -> Callable[[str], float]:
    """An argparse ``type=`` for the command lines: the text parsed by ``kind`` (int or float).

    A value that does not parse, is not finite or fails ``ok`` is refused with the text and
    ``rule``, in ``check_int``'s words: argparse prints "argument --n-cells: '-3' is not an
    integer >= 1".
    """
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or (kind is float and not math.isfinite(value)) or not ok(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {rule}")
        return value
    return parse


def arg_int(low: int = 1, high: int | None = None) -> Callable[[str], int]:
    """``arg_type`` for an integer >= ``low`` (and <= ``high``): ``check_int`` for the command
    lines."""
    return arg_type(int, f"an integer >= {low}{'' if high is None else f' and <= {high}'}",
                    lambda value: value >= low and (high is None or value <= high))


def arg_positive(high: float | None = None) -> Callable[[str], float]:
    """``arg_type`` for a number > 0 (and <= ``high``): learning rates, time budgets, clipping."""
    return arg_type(float, f"a number > 0{'' if high is None else f' and <= {high:g}'}",
                    lambda value: value > 0 and (high is None or value <= high))


def model_parser(prog: str, description: str, defaults, settings: Sequence[tuple],
                 data: dict, *, sample_help: str, eval_help: str, eval_min_n: int = 1):
    """The command line of an image model, as DESIGN.md has it: ``train --data --ckpt
    [--steps] [--seconds] [settings...] [--checkpoint-every]``, ``sample --ckpt [--n] --out
    [--seed]`` and ``eval --ckpt --data [--n] [--seed]``; strict flags throughout.

    settings: (flag, type) pairs, or (flag, type, help); by default the help names the value in
    ``defaults`` (the model's config) and that a resumed folder keeps its saved one. data: the
    keyword arguments of ``--data`` (``choices`` or ``help``). Returns the parser and its
    train, sample and eval parsers, for the flags only one model has.
    """
    parser = argparse.ArgumentParser(prog=prog, allow_abbrev=False, description=description)
    commands = parser.add_subparsers(dest="command", required=True, metavar="train|sample|eval")
    train = commands.add_parser("train", allow_abbrev=False, help="train or resume")
    train.add_argument("--data", required=True, **data)
    train.add_argument("--ckpt", required=True, type=Path,
                       help="checkpoint folder (resumed if there)")
    train.add_argument("--steps", type=arg_int(0), help="total step to reach")
    train.add_argument("--seconds", type=arg_positive(), help="time budget of this run")
    for flag, parse, *help_ in settings:
        name = flag[2:].replace("-", "_")
        train.add_argument(flag, type=parse, dest=name, help=help_[0] if help_ else
                           f"default {getattr(defaults, name)} (or the saved value when resuming)")
    train.add_argument("--checkpoint-every", type=arg_int(1), default=500)
    sample = commands.add_parser("sample", allow_abbrev=False, help=sample_help)
    sample.add_argument("--ckpt", required=True, type=Path)
    sample.add_argument("--n", type=arg_int(1), default=64)
    sample.add_argument("--out", required=True, type=Path,
                        help="folder for the pictures: a new one, or one of earlier samples, "
                             "which are replaced")
    sample.add_argument("--seed", type=arg_int(0, SEED_MAX), default=0)
    evaluate = commands.add_parser("eval", allow_abbrev=False, help=eval_help)
    evaluate.add_argument("--ckpt", required=True, type=Path)
    evaluate.add_argument("--data", required=True, **data)
    evaluate.add_argument("--n", type=arg_int(eval_min_n), default=1000)
    evaluate.add_argument("--seed", type=arg_int(0, SEED_MAX), default=0)
    return parser, train, sample, evaluate


def run_command(parser: argparse.ArgumentParser, argv, commands: Mapping[str, Callable]) -> int:
    """A command line's `main`: parse `argv` and run ``commands[args.command](args)``; the exit
    status.

    0 when the command returns. A problem with the user's input, files or checkpoint (ValueError,
    TypeError, OSError) or a training stopped by a NaN loss (FloatingPointError) is printed on
    stderr as "PROG COMMAND: error: MESSAGE", with status 1; argparse refuses bad flags with 2.
    """
    args = parser.parse_args(argv)
    try:
        commands[args.command](args)
    except (ValueError, TypeError, OSError, FloatingPointError) as e:
        print(f"{parser.prog} {args.command}: error: {e}", file=sys.stderr)
        return 1
    return 0


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
    batch, is_rgb = _split_channels(_stack_images(images), "images")
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
        _write_bytes_atomic(saveto, iio.imwrite("<bytes>", m, extension=".png"))
    return m


# What the sample commands write into their folder (`save_samples`, and DRAW's canvas.gif), and
# the temporary names `_atomic_path` gives them until they are complete.
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
    pictures = to_uint8(_stack_images(images), value_range)
    paths = []
    for i, picture in enumerate(pictures):
        paths.append(out / f"sample_{i:04d}.png")
        picture = picture[..., 0] if picture.ndim == 3 and picture.shape[-1] == 1 else picture
        _write_bytes_atomic(paths[-1], iio.imwrite("<bytes>", picture, extension=".png"))
    paths.append(out / "montage.png")
    montage(pictures, saveto=paths[-1])
    for earlier in set(out.iterdir()) - set(paths):
        if _SAMPLE_FILE.fullmatch(earlier.name) and earlier.is_file():
            earlier.unlink()
    return paths


# ---------------------------------------------------------------------------- latent space

def interp(l, r, n_samples: int) -> np.ndarray:
    """Linear interpolation: ``n_samples`` (>= 2) points from ``l`` to ``r`` inclusive.

    Returns shape (n_samples, *l.shape), float (float32 stays float32).
    """
    l, r = np.asarray(l), np.asarray(r)
    if l.shape != r.shape:
        raise ValueError(f"l and r must have the same shape, got {l.shape} and {r.shape}")
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 2:
        raise ValueError(f"n_samples={n_samples!r} is not valid; expected an integer >= 2")
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

def build_submission(filename: str | os.PathLike, file_list: Sequence[str | os.PathLike],
                     optional_file_list: Sequence[str | os.PathLike] = ()) -> Path:
    """Zip the homework: every file of ``file_list`` plus those of ``optional_file_list`` that exist.

    Raises FileNotFoundError listing each missing required file and its homework part (Part index+1),
    and ValueError for an empty ``file_list`` or a ``filename`` that is one of the files.
    Names in the zip are relative to the current directory where possible, else the file name.
    Writes a ZIP_DEFLATED archive atomically, prints where it is and returns its absolute path.
    """
    for name, lst in (("file_list", file_list), ("optional_file_list", optional_file_list)):
        if isinstance(lst, (str, bytes, os.PathLike)):
            raise TypeError(f"{name} must be a list of file names, got a single name {lst!r}; "
                            "wrap it in [...]")
    if not file_list:
        raise ValueError("file_list is empty: name the files of your homework (notebooks, GIFs, "
                         "...) that the submission must hold")
    out = Path(filename).resolve()
    for f in [*file_list, *optional_file_list]:
        if Path(f).resolve() == out:
            raise ValueError(f"the submission {filename!r} would overwrite {f!r}, one of the files "
                             "it zips; give it another name, e.g. session-5.zip")
    required = [Path(f) for f in file_list]
    missing = [f"  {f} (Part {i + 1})" for i, f in enumerate(required) if not f.is_file()]
    if missing:
        raise FileNotFoundError("cannot build the submission; these required files are missing, so those "
                                "parts of the homework do not look complete:\n" + "\n".join(missing))
    files = required + [Path(f) for f in optional_file_list if Path(f).is_file()]
    cwd = Path.cwd().resolve()
    arcnames: dict[str, Path] = {}
    for f in files:
        full = f.resolve()
        arc = full.relative_to(cwd).as_posix() if full.is_relative_to(cwd) else full.name
        if arc in arcnames and arcnames[arc] != full:
            raise ValueError(f"two files would have the same name {arc!r} in the zip: "
                             f"{arcnames[arc]} and {full}")
        arcnames[arc] = full
    with _atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for arc, full in arcnames.items():
            zf.write(full, arc)
    print(f"Your assignment zip file has been created:\n{out}\nSubmit this file for grading.")
    return out
