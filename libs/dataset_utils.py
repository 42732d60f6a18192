"""tf.data input pipelines: image batches for the GAN and DRAW, character windows for the char-RNN.

The original course built the image pipeline from TensorFlow 1 queues
(`tf.train.string_input_producer`, `tf.WholeFileReader`, `tf.train.shuffle_batch`) that
needed a `Coordinator` and queue-runner threads. Here the same steps are a `tf.data.Dataset`
that a `for` loop, `model.fit` or a `tf.function` consumes directly.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp")
# JPEG's DCT can scale by 1/2, 1/4, 1/8 while decoding, far cheaper than decoding in full and
# resizing afterwards (libjpeg's scaled IDCT).
_JPEG_RATIOS = (1, 2, 4, 8)


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _check_files(files: Sequence[str]) -> list[str]:
    if isinstance(files, (str, bytes, os.PathLike)):
        raise TypeError(f"files must be a list of image paths, got a single path {files!r}; "
                        "wrap it in a list or use datasets.CELEB() to list a folder")
    files = [os.fspath(f) for f in files]
    if not files:
        raise ValueError("files is empty: give at least one image path "
                         "(e.g. datasets.CELEB(), or a list of .jpg/.png files)")
    not_images = [f for f in files if not f.lower().endswith(IMAGE_EXTENSIONS)]
    if not_images:
        raise ValueError(f"{len(not_images)} of {len(files)} files are not images by their "
                         f"extension, e.g. {not_images[:3]}; valid extensions: "
                         f"{', '.join(IMAGE_EXTENSIONS)}")
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        raise FileNotFoundError(f"{len(missing)} of {len(files)} files do not exist, "
                                f"e.g. {missing[:3]}")
    return files


def _infer_shape(files: list[str]) -> tuple[int, int, int]:
    """Shape (H, W, C) of the first file that decodes."""
    for path in files[:100]:
        try:
            image = tf.io.decode_image(tf.io.read_file(path), expand_animations=False)
        except tf.errors.InvalidArgumentError:
            continue
        return tuple(int(d) for d in image.shape)
    raise ValueError(f"none of the first {min(len(files), 100)} files decode as an image, "
                     f"e.g. {files[0]!r}")


def _has(contents: tf.Tensor, marker: bytes, tail: int = 64) -> tf.Tensor:
    """True when `marker` occurs in the last `tail` bytes of `contents`."""
    end = tf.strings.substr(contents, tf.maximum(tf.strings.length(contents) - tail, 0), tail)
    return tf.size(tf.strings.split(end, sep=marker)) > 1


def _decodable(contents: tf.Tensor) -> tf.Tensor:
    """Cheap check that `contents` is a whole PNG, GIF, BMP or JPEG file (with trailing bytes).

    It catches the files that are not images and the truncated ones that partial downloads
    leave: a JPEG must still hold its end-of-image marker, a PNG its IEND chunk.
    """
    head = tf.strings.substr(contents, 0, 8)
    is_png = tf.equal(head, b"\x89PNG\r\n\x1a\n")
    is_gif = tf.equal(tf.strings.substr(head, 0, 4), b"GIF8")
    is_bmp = tf.equal(tf.strings.substr(head, 0, 2), b"BM")
    return ((tf.io.is_jpeg(contents) & _has(contents, b"\xff\xd9"))
            | (is_png & _has(contents, b"IEND")) | is_gif | is_bmp)


class _SkipReport:
    """Counts unreadable files and warns once per file, with the running count."""

    def __init__(self):
        self.paths: set[str] = set()

    def __call__(self, path: tf.Tensor) -> None:
        path = path.numpy().decode()
        if path not in self.paths:
            self.paths.add(path)
            warnings.warn(f"skipping unreadable or truncated image {path!r} "
                          f"({len(self.paths)} skipped so far)", RuntimeWarning, stacklevel=1)


def _crop_window(hw: tf.Tensor, crop_shape, crop_factor, ratio: int = 1) -> tf.Tensor:
    """[top, left, height, width] of the centred window that, resized to `crop_shape`, equals
    resizing the whole image (aspect kept) so the crop covers `crop_factor` of it, then
    centre-cropping. `hw` is the image's [height, width]; the window is given in pixels of the
    image scaled by 1/`ratio`, as libjpeg scales it (sizes rounded up). Few ops on purpose:
    this runs once per image."""
    hw = (hw + ratio - 1) // ratio
    crop = tf.constant(crop_shape, tf.float32)
    scale = tf.reduce_max(crop / (tf.cast(hw, tf.float32) * crop_factor))
    size = tf.clip_by_value(tf.cast(tf.round(crop / scale), tf.int32), 1, hw)
    return tf.concat([(hw - size) // 2, size], 0)


def _jpeg_ratio(shape, crop_shape, crop_factor) -> int:
    """Largest DCT scale 1/r at which the window of an image of `shape` still has at least
    `crop_shape` pixels, so decoding small never costs resolution."""
    window = min(shape[0] / crop_shape[0], shape[1] / crop_shape[1]) * crop_factor
    return max((r for r in _JPEG_RATIOS if r <= window), default=1)


def _load_crop(path, crop_shape, crop_factor, channels, ratio, report):
    """One file to (float32 crop (h, w, C) in 0-255, ok); zeros and ok=False when unreadable."""
    contents = tf.io.read_file(path)

    def jpeg():
        # Only the window survives the crop: decode just it, at 1/ratio scale.
        window = _crop_window(tf.io.extract_jpeg_shape(contents)[:2], crop_shape, crop_factor,
                              ratio)
        return tf.io.decode_and_crop_jpeg(contents, window, channels=channels, ratio=ratio)

    def other():
        image = tf.io.decode_image(contents, channels=channels, expand_animations=False)
        window = _crop_window(tf.shape(image)[:2], crop_shape, crop_factor)
        crop = tf.slice(image, tf.concat([window[:2], [0]], 0), tf.concat([window[2:], [-1]], 0))
        # Any size can come this way: antialias so large images do not alias.
        return tf.image.resize(crop, crop_shape, antialias=True)

    def finish(image):
        image.set_shape([None, None, channels])
        return tf.image.resize(tf.cast(image, tf.float32), crop_shape), True

    def skip():
        tf.py_function(report, [path], [])
        return tf.zeros(crop_shape + (channels,)), False

    def checked():  # the rare case: PNG, GIF, BMP, a JPEG with trailing bytes, or a bad file
        return tf.cond(_decodable(contents), lambda: finish(other()), skip)

    # The common, fast case: a JPEG that ends with its end-of-image marker.
    whole_jpeg = tf.io.is_jpeg(contents) & tf.equal(tf.strings.substr(contents, -2, 2),
                                                    b"\xff\xd9")
    return tf.cond(whole_jpeg, lambda: finish(jpeg()), checked)


def create_input_pipeline(files: Sequence[str], batch_size: int, n_epochs: int,
                          shape: Sequence[int] | None = None,
                          crop_shape: Sequence[int] | None = None, crop_factor: float = 1.0,
                          n_threads: int | None = None, seed: int | None = None,
                          shuffle: bool = True, drop_remainder: bool = False) -> tf.data.Dataset:
    """Batches of images from image files, resized and centre-cropped, as the course did.

    Each image is resized keeping its aspect ratio so that `crop_shape` covers `crop_factor`
    of it (0.8 crops away a 10% border, as the lecture did for CelebA), then centre-cropped
    to `crop_shape`. Images of different sizes are fine. Only the surviving region of a JPEG
    is decoded, at the coarsest DCT scale that keeps enough pixels.

    Args:
      files: image paths (.jpg, .jpeg, .png, .gif, .bmp).
      batch_size: images per batch (the last one may be smaller unless `drop_remainder`).
      n_epochs: how many times every file is read; exactly that many.
      shape: (H, W, C) of the images (of most of them, if sizes differ): C (1 or 3) forces
        grayscale or RGB, (H, W) sets the JPEG decoding scale. None reads the first file.
      crop_shape: (h, w) of the output; None keeps `shape[:2]`.
      crop_factor: in (0, 1]; fraction of the resized image the crop covers.
      n_threads: parallel decoders; None lets tf.data tune it.
      seed: shuffle seed, for a repeatable order.

    Returns:
      A `tf.data.Dataset` of float32 batches (B, h, w, C), values in 0-255. Unreadable or
      truncated files are skipped with a `RuntimeWarning` that counts them.
    """
    files = _check_files(files)
    batch_size = _check_positive_int("batch_size", batch_size)
    n_epochs = _check_positive_int("n_epochs", n_epochs)
    if not 0.0 < crop_factor <= 1.0:
        raise ValueError(f"crop_factor must be in (0, 1], got {crop_factor!r}: a crop_factor "
                         "above 1 asks for a crop larger than the resized image")
    if shape is None:
        shape = _infer_shape(files)
    if len(shape) != 3 or shape[2] not in (1, 3):
        raise ValueError(f"shape must be (height, width, channels) with 1 or 3 channels, "
                         f"got {tuple(shape)!r}")
    crop_shape = tuple(shape[:2] if crop_shape is None else crop_shape)[:2]
    if len(crop_shape) != 2 or any(not isinstance(d, (int, np.integer)) or d < 1
                                   for d in crop_shape):
        raise ValueError(f"crop_shape must be (height, width) of positive integers, "
                         f"got {crop_shape!r}")
    crop_shape = (int(crop_shape[0]), int(crop_shape[1]))
    if n_threads is not None:
        n_threads = _check_positive_int("n_threads", n_threads)
    parallel = n_threads or tf.data.AUTOTUNE
    channels = int(shape[2])
    ratio = _jpeg_ratio(shape, crop_shape, crop_factor)
    report = _SkipReport()
    spec = (tf.TensorSpec(crop_shape + (channels,), tf.float32), tf.TensorSpec([], tf.bool))

    def load_batch(paths):
        # One tf.data call per batch of files (map_fn inside) costs far less per image than
        # one call per file; unreadable files are masked out and rebatch() refills the batch.
        images, ok = tf.map_fn(
            lambda p: _load_crop(p, crop_shape, crop_factor, channels, ratio, report),
            paths, fn_output_signature=spec, parallel_iterations=8)
        return tf.boolean_mask(images, ok)

    ds = tf.data.Dataset.from_tensor_slices(files)
    if shuffle:
        # Shuffling names (not decoded images) gives a full shuffle for the price of a list.
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    ds = (ds.repeat(n_epochs).batch(batch_size)
          .map(load_batch, num_parallel_calls=parallel, deterministic=seed is not None)
          # Corrupt data that passed the checks above fails its whole batch: tf.data drops and
          # logs it, never a crash.
          .ignore_errors(log_warning=True)
          .rebatch(batch_size, drop_remainder=drop_remainder)
          .prefetch(tf.data.AUTOTUNE))
    ds.skipped = report.paths
    return ds


def create_character_windows(encoded: np.ndarray, sequence_length: int, batch_size: int,
                             shuffle: bool = True, seed: int | None = None) -> tf.data.Dataset:
    """(input, target) batches of character ids for a language model.

    The text is cut into consecutive windows of `sequence_length + 1` ids that overlap by one,
    so every character except the first is a target exactly once per epoch; the target is the
    input shifted by one. Batches are full (the remainder of an epoch is dropped).

    Returns:
      A `tf.data.Dataset` of int32 pairs, each (batch_size, sequence_length); one epoch.
    """
    sequence_length = _check_positive_int("sequence_length", sequence_length)
    batch_size = _check_positive_int("batch_size", batch_size)
    encoded = np.asarray(encoded)
    if encoded.ndim != 1 or not np.issubdtype(encoded.dtype, np.integer):
        raise ValueError(f"encoded must be a 1-D array of integer ids, got {encoded.dtype} "
                         f"with shape {encoded.shape}")
    n_windows = (len(encoded) - 1) // sequence_length
    if n_windows < batch_size:
        raise ValueError(f"the text has {len(encoded)} characters: {n_windows} windows of "
                         f"{sequence_length} + 1, fewer than batch_size={batch_size}; use a "
                         f"longer text (>= {batch_size * sequence_length + 1} characters) or "
                         "a smaller sequence_length or batch_size")
    windows = tf.signal.frame(tf.constant(encoded, tf.int32), sequence_length + 1,
                              sequence_length)
    ds = tf.data.Dataset.from_tensor_slices(windows)
    if shuffle:
        ds = ds.shuffle(n_windows, seed=seed, reshuffle_each_iteration=True)
    return (ds.batch(batch_size, drop_remainder=True)
            .map(lambda w: (w[:, :-1], w[:, 1:]), num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE))
