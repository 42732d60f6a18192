"""Where training images come from, and how they become epochs of batches.

A source is the embedded faces, CelebA, a folder of images or an array; `epoch_batches` turns
it into resumable epochs for `dataset_utils.EpochBatches`, shuffled by its `epoch_seed` (the
scheme the char-RNN's text windows use too); `real_images` picks real images for montages and
evaluation. Data knows no model: the GAN, the VAE-GAN, DRAW, the demo and the notebooks import
this module, never each other, for their images.

    source = images.image_source("faces", 32)            # or "celeb", a folder, an array
    batches = dataset_utils.EpochBatches(images.epoch_batches(source, 64, 32, seed=0))
    real = images.real_images(source, 32, 64)             # uint8 (64, 32, 32, C)
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from . import checkpoints, utils
from .dataset_utils import IMAGE_EXTENSIONS, create_input_pipeline, epoch_seed, shuffled_files


def image_files(folder: Path) -> list[str]:
    """The image files under `folder` (searched recursively), sorted."""
    return sorted(str(p) for p in Path(folder).rglob("*")
                  if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def file_shape(path: str) -> tuple[int, int, int]:
    """(H, W, C) of an image file, C 1 for grayscale modes and 3 otherwise (alpha dropped)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            gray = image.mode in ("1", "L", "LA", "I", "I;16", "F")
            return image.height, image.width, 1 if gray else 3
    except (OSError, UnidentifiedImageError) as e:
        raise ValueError(f"cannot read the image {path} ({e})") from e


@dataclasses.dataclass
class ImageSource:
    """Training images: an array (N, S, S, C) in 0-255, or files that are cropped and resized."""
    images: np.ndarray | None = None
    files: list[str] | None = None
    shape: tuple[int, int, int] = (0, 0, 0)  # (H, W, C) of the first file
    crop_factor: float = 1.0

    @property
    def channels(self) -> int:
        return int(self.images.shape[-1]) if self.images is not None else self.shape[2]

    def __len__(self) -> int:
        return len(self.images) if self.images is not None else len(self.files)


def image_array(data, image_size: int | None = None) -> np.ndarray:
    """An array of images checked and made uint8 (N, S, S, C): `data` is (N, S, S) or
    (N, S, S, 1 or 3), square, N >= 1, of integers in 0-255 or floats in [0, 1] (quantised to
    256 levels); S must be `image_size` when given."""
    x = np.asarray(data)
    shape, size = x.shape, "S" if image_size is None else image_size
    x = x[..., None] if x.ndim == 3 else x
    if x.ndim != 4 or len(x) == 0 or x.shape[1] != x.shape[2] or x.shape[3] not in (1, 3) \
            or (image_size is not None and x.shape[1] != image_size):
        raise ValueError(f"an image array must be (N, {size}, {size}) or (N, {size}, {size}, 1 or "
                         f"3): square images, N >= 1; got shape {shape}")
    if np.issubdtype(x.dtype, np.floating):
        lo, hi = float(np.min(x)), float(np.max(x))
        if not (0.0 <= lo and hi <= 1.0):  # NaN fails too
            raise ValueError(f"float images must be in [0, 1], got values in [{lo}, {hi}]; "
                             "divide 0-255 data by 255 or pass uint8")
        return utils.to_uint8(x, (0, 1))
    if x.dtype != np.uint8:
        if x.dtype.kind not in "iub" or x.min() < 0 or x.max() > 255:
            raise ValueError(f"images must be uint8 0-255 or floats in [0, 1], got {x.dtype}"
                             + (f" in [{x.min()}, {x.max()}]" if x.dtype.kind in "iu" else ""))
        return utils.to_uint8(x)
    return x


def image_source(data, image_size: int) -> ImageSource:
    """`data`: "faces" (the embedded faces at image_size), "celeb" (CelebA, cropped to its
    central 80% as the lecture did), a folder of images (searched recursively), or an array
    (N, image_size, image_size[, 1 or 3]) that `image_array` takes."""
    from . import datasets

    if isinstance(data, np.ndarray):
        return ImageSource(images=image_array(data, image_size))
    if not isinstance(data, (str, os.PathLike)):
        raise TypeError(f"data must be 'faces', 'celeb', a folder of images or an array, got "
                        f"{type(data).__name__}")
    if data == "faces":
        return ImageSource(images=datasets.faces(image_size))
    if data == "celeb":
        files = datasets.CELEB()
        return ImageSource(files=files, shape=file_shape(files[0]), crop_factor=0.8)
    folder = Path(data).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"data {str(data)!r} is not 'faces', 'celeb' or an existing "
                                "folder")
    files = image_files(folder)
    if not files:
        raise ValueError(f"the folder {folder} holds no images ({', '.join(IMAGE_EXTENSIONS)}, "
                         "searched recursively)")
    return ImageSource(files=files, shape=file_shape(files[0]))


def training_images(data, ckpt_dir, model_name: str, what: str, config_type,
                    image_size: int | None = None) -> ImageSource:
    """`image_source(data, size)` at the size to train at: `image_size` when given, else that
    of the folder being resumed, else the config's default; a bad size is refused (by
    `config_type`) before any data is read."""
    if image_size is None and (Path(ckpt_dir) / checkpoints.CONFIG_FILE).is_file():
        image_size = checkpoints.load_config(ckpt_dir, model_name, what, config_type).image_size
    if image_size is None:
        image_size = config_type.image_size
    config_type(image_size=image_size)
    return image_source(data, image_size)


def _file_batches(source: ImageSource, files, batch_size, image_size, channels, **kwargs):
    return create_input_pipeline(files, batch_size, 1, shape=source.shape[:2] + (channels,),
                                 crop_shape=(image_size, image_size),
                                 crop_factor=source.crop_factor, **kwargs)


def array_epochs(images: np.ndarray, batch_size: int, seed: int):
    """`make_epoch(epoch, skip)` for `EpochBatches` over an array (N, ...): whole
    batches, shuffled by `epoch_seed(seed, epoch)`, less the first `skip`."""
    if len(images) < batch_size:
        raise ValueError(f"only {len(images)} images for batches of {batch_size}; use a smaller "
                         "batch_size")
    data = tf.data.Dataset.from_tensor_slices(images)

    def make_epoch(epoch: int, skip: int = 0):
        return (data.shuffle(len(images), seed=epoch_seed(seed, epoch))
                .batch(batch_size, drop_remainder=True).skip(skip))
    return make_epoch


def epoch_batches(source: ImageSource, batch_size: int, image_size: int, seed: int):
    """`make_epoch(epoch, skip, shard)` for `EpochBatches`: that epoch's float32 batches
    (B, S, S, C) in 0-255, whole batches only, shuffled by `epoch_seed(seed, epoch)`,
    less the first `skip` (files behind them are not even read). With `shard` (index, count),
    worker `index` of `count` reads only its rows of every batch: its files, in the same
    order, B / count to a batch."""
    if source.images is not None:
        return array_epochs(np.asarray(source.images, np.float32), batch_size, seed)
    if len(source) < batch_size:
        raise ValueError(f"only {len(source)} images for batches of {batch_size}; use a smaller "
                         "batch_size")

    def make_epoch(epoch: int, skip: int = 0, shard: tuple[int, int] = (0, 1)):
        index, count = shard
        files, size, order = source.files, batch_size, {"seed": epoch_seed(seed, epoch)}
        if count > 1:  # the epoch's order as one process reads it; this worker's rows of it
            size = batch_size // count
            whole = shuffled_files(source.files, order["seed"]).numpy()
            whole = whole[:len(whole) // batch_size * batch_size].reshape(-1, count, size)
            files, order = [os.fsdecode(f) for f in whole[:, index].ravel()], {"shuffle": False}
        return _file_batches(source, files, size, image_size, source.channels,
                             drop_remainder=True, skip=skip * size, **order)
    return make_epoch


def real_images(source: ImageSource, image_size: int, n: int, seed: int = 0,
                among=None) -> np.ndarray:
    """Up to n real images, uint8 (n, S, S, C): a seeded random subset of `source`, or of the
    images `among` selects: indices, or a boolean mask with one value per image (e.g. a label
    of `datasets.CELEB_ATTRIBUTES`)."""
    among = np.arange(len(source)) if among is None else np.asarray(among)
    if among.dtype == bool:
        if among.shape != (len(source),):
            raise ValueError(f"a boolean mask for among needs one value per image "
                             f"({len(source)}), got shape {among.shape}")
        among = np.flatnonzero(among)
    if not np.issubdtype(among.dtype, np.integer) and among.size:
        raise ValueError(f"among must hold integer indices or a boolean mask, got {among.dtype}")
    among = among.astype(np.int64).ravel()
    if not len(among):
        raise ValueError("among holds no indices: there is no image to choose from")
    if among.min() < 0 or among.max() >= len(source):
        raise ValueError(f"among holds indices outside 0..{len(source) - 1} (the source has "
                         f"{len(source)} images)")
    pick = np.sort(among[np.random.default_rng(seed).permutation(len(among))[:n]])
    if source.images is not None:
        return utils.to_uint8(np.asarray(source.images)[pick], (0, 255))
    batches = _file_batches(source, [source.files[i] for i in pick], 256, image_size,
                            source.channels, shuffle=False)
    return utils.to_uint8(np.concatenate([b.numpy() for b in batches]), (0, 255))


# Labels the pictures carry themselves, for attribute vectors where a dataset has none.
DERIVED_ATTRIBUTES = ("Bright", "High_Contrast", "Lit_From_Left")


def derived_attributes(pictures) -> tuple[list[str], np.ndarray]:
    """(names, labels): DERIVED_ATTRIBUTES computed from uint8 images (N, S, S, C), labels a
    boolean (N, 3) array as `datasets.CELEB_ATTRIBUTES` gives CelebA's. Each is true for the
    images above the median of: mean brightness ("Bright"), the standard deviation of the
    pixels ("High_Contrast"), the left half's brightness minus the right half's
    ("Lit_From_Left"). So half of the images have each, whatever the data."""
    x = image_array(pictures).astype(np.float64).mean(axis=-1)   # (N, S, S) gray
    half = x.shape[2] // 2
    scores = np.stack([x.mean(axis=(1, 2)), x.std(axis=(1, 2)),
                       x[:, :, :half].mean(axis=(1, 2)) - x[:, :, -half:].mean(axis=(1, 2))], 1)
    return list(DERIVED_ATTRIBUTES), scores > np.median(scores, axis=0)
