"""tf.data input pipelines: image batches for the GAN and DRAW, character windows for the char-RNN.

The original course built the image pipeline from TensorFlow 1 queues
(`tf.train.string_input_producer`, `tf.WholeFileReader`, `tf.train.shuffle_batch`) that
needed a `Coordinator` and queue-runner threads. Here the same steps are a `tf.data.Dataset`
that a `for` loop, `model.fit` or a `tf.function` consumes directly.
"""
from __future__ import annotations

import functools
import inspect
import itertools
import os
import warnings
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import tensorflow as tf

from libs.arguments import check_int

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp")
# JPEG's DCT can scale by 1/2, 1/4, 1/8 while decoding, far cheaper than decoding in full and
# resizing afterwards (libjpeg's scaled IDCT).
_JPEG_RATIOS = (1, 2, 4, 8)


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


# Checks on file contents, elementwise on a 1-D batch of them: a few ops per batch, not per image.

def _has(contents: tf.Tensor, marker: bytes, tail: int = 64) -> tf.Tensor:
    """Where `marker` occurs in the last `tail` bytes of `contents`."""
    length = tf.strings.length(contents)
    start = tf.maximum(length - tail, 0)
    end = tf.strings.substr(contents, start, length - start)
    return tf.strings.split(end, sep=marker).row_lengths() > 1


def _whole_jpegs(contents: tf.Tensor) -> tf.Tensor:
    """Where `contents` is a JPEG that ends with its end-of-image marker, as a whole file does
    and a partial download does not."""
    length = tf.strings.length(contents)
    last = tf.strings.substr(contents, tf.maximum(length - 2, 0), tf.minimum(length, 2))
    return (tf.equal(tf.strings.substr(contents, 0, 3), b"\xff\xd8\xff")
            & tf.equal(last, b"\xff\xd9"))


def _decodable(contents: tf.Tensor) -> tf.Tensor:
    """Where `contents` is a whole PNG, GIF, BMP or JPEG file (a JPEG may have trailing bytes).

    A cheap check that catches files that are not images and the truncated ones that partial
    downloads leave: a JPEG must still hold its end-of-image marker, a PNG its IEND chunk.
    """
    head = tf.strings.substr(contents, 0, 8)
    is_jpeg = tf.equal(tf.strings.substr(head, 0, 3), b"\xff\xd8\xff")
    is_png = tf.equal(head, b"\x89PNG\r\n\x1a\n")
    is_gif = tf.equal(tf.strings.substr(head, 0, 4), b"GIF8")
    is_bmp = tf.equal(tf.strings.substr(head, 0, 2), b"BM")
    return ((is_jpeg & _has(contents, b"\xff\xd9")) | (is_png & _has(contents, b"IEND"))
            | is_gif | is_bmp)


def _crop_window(hw: tf.Tensor, crop_shape, crop_factor, ratio: int = 1) -> tf.Tensor:
    """[top, left, height, width] of the centred window that, resized to `crop_shape`, equals
    resizing the whole image (aspect kept) so the crop covers `crop_factor` of it, then
    centre-cropping. `hw` is the image's [height, width]; the window is given in pixels of the
    image scaled by 1/`ratio`, as libjpeg scales it (sizes rounded up)."""
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


def _crop_jpeg(contents, hw, crop_shape, crop_factor, channels, ratio):
    """A whole JPEG of height and width `hw` to its float32 crop: only the window that survives
    the crop is decoded, at 1/ratio scale."""
    window = _crop_window(hw, crop_shape, crop_factor, ratio)
    image = tf.io.decode_and_crop_jpeg(contents, window, channels=channels, ratio=ratio)
    return tf.image.resize(tf.cast(image, tf.float32), crop_shape)


def _crop_any(contents, crop_shape, crop_factor, channels):
    """A decodable PNG, GIF, BMP or JPEG of any size to its float32 crop."""
    image = tf.io.decode_image(contents, channels=channels, expand_animations=False)
    window = _crop_window(tf.shape(image)[:2], crop_shape, crop_factor)
    crop = tf.slice(image, tf.concat([window[:2], [0]], 0), tf.concat([window[2:], [-1]], 0))
    # Any size can come this way: antialias so large images do not alias.
    return tf.image.resize(crop, crop_shape, antialias=True)


@functools.lru_cache(maxsize=None)
def _completer(crop_shape, crop_factor, channels, ratio):
    """`_SlowPath`'s compiled function for one crop: one per setting for the whole process, so
    that a new pipeline with the same crop traces nothing again."""
    spec = tf.TensorSpec(crop_shape + (channels,), tf.float32)

    @tf.function(input_signature=[tf.TensorSpec((None,) + spec.shape, tf.float32),
                                  tf.TensorSpec([None], tf.string),
                                  tf.TensorSpec([None, 2], tf.int32),
                                  tf.TensorSpec([None], tf.bool),
                                  tf.TensorSpec([None], tf.bool)])
    def complete(images, contents, hw, todo, keep):
        """`images` with the files where `todo` cropped, and where they decode and `keep`;
        `hw` holds the height and width of the JPEGs. Returns them and that mask."""
        whole_jpeg = _whole_jpegs(contents)
        jpeg = tf.where(todo & whole_jpeg)[:, 0]
        other = tf.where(todo & ~whole_jpeg & _decodable(contents))[:, 0]
        jpeg_crops = tf.map_fn(
            lambda a: _crop_jpeg(a[0], a[1], crop_shape, crop_factor, channels, ratio),
            (tf.gather(contents, jpeg), tf.gather(hw, jpeg)), fn_output_signature=spec)
        other_crops = tf.map_fn(lambda c: _crop_any(c, crop_shape, crop_factor, channels),
                                tf.gather(contents, other), fn_output_signature=spec)
        done = tf.concat([jpeg, other], 0)[:, None]
        images = tf.tensor_scatter_nd_update(images, done,
                                             tf.concat([jpeg_crops, other_crops], 0))
        ok = (keep & ~todo) | tf.scatter_nd(done, tf.fill(tf.shape(done)[:1], True),
                                             tf.shape(todo, tf.int64))
        return tf.boolean_mask(images, ok), ok

    return complete


class _SlowPath:
    """Completes a batch from `_load_batch`'s fast path: crops the files it did not take --
    JPEGs of another size, PNG, GIF, BMP -- and drops unreadable or truncated files, which are
    warned about (RuntimeWarning, with the running count) and kept in `skipped`. Corrupt data
    that passes the checks of `_decodable` (a garbled GIF, BMP or JPEG) fails the decoding of
    the whole batch, here or on the fast path; then `one_at_a_time` crops its files one by one,
    so that only the corrupt ones are dropped.

    tf.data re-optimises (Grappler) the graph of its functions for every new iterator, at
    ~0.2 ms per op, which for this rarely needed code cost more than decoding a few hundred
    images. So it is a `tf.function`, traced and optimised once, that the tf.data function
    calls through `tf.py_function`, and only for the batches that need it.
    """

    def __init__(self, crop_shape, crop_factor, channels, ratio):
        self.skipped: set[str] = set()
        self._complete = _completer(tuple(crop_shape), float(crop_factor), channels, ratio)
        self._blank = tf.zeros((1,) + tuple(crop_shape) + (channels,))

    def __call__(self, paths, images, contents, hw, todo, keep):
        try:
            images, ok = self._complete(images, contents, hw, todo, keep)
        except tf.errors.InvalidArgumentError:
            return self.one_at_a_time(tf.boolean_mask(paths, keep).numpy())
        self._skip(tf.boolean_mask(paths, keep & ~ok).numpy())
        return images

    def one_at_a_time(self, paths) -> tf.Tensor:
        """The crops of those of `paths` (bytes) that are readable images, each file read and
        cropped on its own."""
        crops, bad = [self._blank[:0]], []
        for path in paths:
            try:
                contents = tf.io.read_file(path)[None]
                hw = tf.io.extract_jpeg_shape(contents[0])[None, :2] if _whole_jpegs(contents)[0] \
                    else tf.zeros([1, 2], tf.int32)
                crop, ok = self._complete(self._blank, contents, hw, [True], [True])
            except tf.errors.OpError:  # corrupt, or gone since it was listed
                crop, ok = self._blank[:0], [False]
            crops.append(crop)
            bad += [] if ok[0] else [path]
        self._skip(bad)
        return tf.concat(crops, 0)

    def _skip(self, paths):
        for path in (p.decode() for p in paths):
            if path not in self.skipped:
                self.skipped.add(path)
                warnings.warn(f"skipping unreadable or truncated image {path!r} "
                              f"({len(self.skipped)} skipped so far)", RuntimeWarning,
                              stacklevel=1)


def _load_batch(paths, size, shape, crop_shape, crop_factor, ratio, slow_path):
    """Crops (B, h, w, C), float32 in 0-255, of the readable files among up to `size` paths.

    Decoding a 218x178 JPEG's window takes ~120 us and every op in a tf.data function a few
    more, so the common case -- a whole JPEG of the declared `shape` -- takes three ops per
    image (read_file, extract_jpeg_shape, decode_and_crop_jpeg at one fixed window), unrolled
    over the batch, while the checks and the resize run once on the stacked batch. A
    `tf.map_fn` with a `tf.cond` per image measured ~1.5x slower: its loop and untaken
    branches cost about as much as the decoding. Every other file is swapped for a blank JPEG
    here and decoded by `slow_path`.
    """
    channels = shape[2]
    n = tf.shape(paths)[0]
    # The unrolled graph needs `size` paths: pad a short last batch with its first path.
    paths = tf.reshape(tf.concat([paths, tf.fill([size - n], paths[0])], 0), [size])
    contents = tf.stack([tf.io.read_file(p) for p in tf.unstack(paths, num=size)])
    with tf.init_scope():  # computed once, eagerly; the graph holds them as constants
        blank = tf.io.encode_jpeg(tf.zeros(shape[:2] + (1,), tf.uint8))
        window = _crop_window(tf.constant(shape[:2]), crop_shape, crop_factor, ratio)

    # extract_jpeg_shape reads only the header but fails on what is not a JPEG: swap those.
    jpeg = _whole_jpegs(contents)
    hw = tf.stack([tf.io.extract_jpeg_shape(c)
                   for c in tf.unstack(tf.where(jpeg, contents, blank), num=size)])[:, :2]
    fast = jpeg & tf.reduce_all(tf.equal(hw, shape[:2]), axis=1)
    crops = tf.stack([tf.io.decode_and_crop_jpeg(c, window, channels=channels, ratio=ratio)
                      for c in tf.unstack(tf.where(fast, contents, blank), num=size)])
    # Bilinear, on the whole batch; casting first measured 2x faster than resizing uint8.
    images = tf.image.resize(tf.cast(crops, tf.float32), crop_shape)

    def complete():  # the other files, and dropping the padding
        real = tf.range(size) < n
        completed = tf.py_function(slow_path, [paths, images, contents, hw, real & ~fast, real],
                                   tf.float32)
        completed.set_shape((None,) + crop_shape + (channels,))
        return completed

    # A full batch of fast-path files, the common case, needs nothing more.
    return tf.cond(tf.reduce_all(fast) & tf.equal(n, size), lambda: images, complete)


def shuffled_files(names, seed: int, epoch=0) -> tf.Tensor:
    """The order in which `create_input_pipeline(names, ..., seed=seed)` reads the files of its
    epoch `epoch` (0 to n_epochs - 1): a function of (seed, epoch)."""
    return tf.random.experimental.stateless_shuffle(tf.convert_to_tensor(names), tf.stack([
        tf.constant(seed, tf.int64), tf.cast(epoch, tf.int64)]))


def create_input_pipeline(files: Sequence[str], batch_size: int, n_epochs: int,
                          shape: Sequence[int] | None = None,
                          crop_shape: Sequence[int] | None = None, crop_factor: float = 1.0,
                          n_threads: int | None = None, seed: int | None = None,
                          shuffle: bool = True, drop_remainder: bool = False,
                          skip: int = 0) -> tf.data.Dataset:
    """Batches of images from image files, resized and centre-cropped, as the course did.

    Each image is resized keeping its aspect ratio so that `crop_shape` covers `crop_factor`
    of it (0.8 crops away a 10% border, as the lecture did for CelebA), then centre-cropped
    to `crop_shape`. Only the surviving region of a JPEG is decoded, at the coarsest DCT scale
    that keeps enough pixels. Images of different sizes and formats are fine; JPEGs of the
    declared `shape` are the fast case: about half the CPU time per image of Keras's
    `image_dataset_from_directory` (benchmarks/bench_pipeline.py).

    Args:
      files: image paths (.jpg, .jpeg, .png, .gif, .bmp).
      batch_size: images per batch (the last one may be smaller unless `drop_remainder`).
      n_epochs: how many times every file is read; exactly that many.
      shape: (H, W, C) of the images (of most of them, if sizes differ): C (1 or 3) forces
        grayscale or RGB, (H, W) sets the JPEG decoding scale. None reads the first file.
      crop_shape: (h, w) of the output; None keeps `shape[:2]`.
      crop_factor: in (0, 1]; fraction of the resized image the crop covers.
      n_threads: chunks of files loaded in parallel; None lets tf.data tune it.
      seed: shuffle seed, for a repeatable order (each epoch its own).
      shuffle: False keeps the order of `files`, epoch after epoch.
      drop_remainder: drop the last batch when it is smaller than `batch_size`.
      skip: files at the start of the (shuffled) order to leave out without reading them.
        Resuming after k batches passes k * batch_size and gets the batches that would have
        come next, unless one of the files left out was unreadable (each one shifts the
        batches that follow by one image).

    Returns:
      A `tf.data.Dataset` of float32 batches (B, h, w, C), values in 0-255. Unreadable,
      truncated or corrupt files are skipped with a `RuntimeWarning` that names and counts
      them; their paths are in the dataset's `skipped` attribute. Every iteration of the
      dataset reads the files in the same order.
    """
    files = _check_files(files)
    batch_size = check_int("batch_size", batch_size)
    n_epochs = check_int("n_epochs", n_epochs)
    if not 0.0 < crop_factor <= 1.0:
        raise ValueError(f"crop_factor must be in (0, 1], got {crop_factor!r}: a crop_factor "
                         "above 1 asks for a crop larger than the resized image")
    if shape is None:
        shape = _infer_shape(files)
    if len(shape) != 3 or shape[2] not in (1, 3):
        raise ValueError(f"shape must be (height, width, channels) with 1 or 3 channels, "
                         f"got {tuple(shape)!r}")
    shape = tuple(int(d) for d in shape)
    crop_shape = tuple(shape[:2] if crop_shape is None else crop_shape)[:2]
    if len(crop_shape) != 2 or any(not isinstance(d, (int, np.integer)) or d < 1
                                   for d in crop_shape):
        raise ValueError(f"crop_shape must be (height, width) of positive integers, "
                         f"got {crop_shape!r}")
    crop_shape = (int(crop_shape[0]), int(crop_shape[1]))
    skip = check_int("skip", skip, 0)
    if n_threads is not None:
        n_threads = check_int("n_threads", n_threads)
    parallel = n_threads or tf.data.AUTOTUNE
    ratio = _jpeg_ratio(shape, crop_shape, crop_factor)
    slow_path = _SlowPath(crop_shape, crop_factor, shape[2], ratio)
    # Files are loaded in chunks of `size`, then rebatch() makes batches of `batch_size`. The
    # unrolled graph grows with `size`, and so does the time each new iterator spends
    # optimising it (~25 ms at 16, ~60 ms at 64); 16 measured as fast per image as 64.
    size = min(batch_size, 16)

    # Each epoch's order is a function of (seed, epoch), so that the files of any chunk can be
    # found again: a JPEG that passes the checks yet fails to decode on the fast path (a garbled
    # header, a progressive JPEG garbled mid-scan) fails its whole chunk, no graph op can catch
    # that, and ignore_errors() drops the chunk. The chunks are numbered and kept in order, so
    # the next one to arrive (or a last, empty one) finds the gap, and the files of the chunks
    # missing are cropped one at a time. Catching failures per file cost every chunk ~18%.
    seed = int(np.random.SeedSequence().generate_state(1)[0]) if seed is None else seed
    names, total = tf.constant(files), n_epochs * len(files)

    def order(epoch):  # the files of an epoch, in the order they are read
        return shuffled_files(names, seed, epoch) if shuffle else names

    def chunks_again(first, end):  # the files (bytes) of the chunks numbered first..end-1
        epochs, where = np.divmod(np.arange(skip + int(first) * size,
                                            min(skip + int(end) * size, total)), len(files))
        orders = {e: order(e).numpy() for e in set(epochs.tolist())}
        return [orders[e][i] for e, i in zip(epochs.tolist(), where)]

    def missed(first, end):  # the crops of the readable files of chunks first..end-1
        crops = tf.py_function(lambda a, b: slow_path.one_at_a_time(chunks_again(a, b)),
                               [first, end], tf.float32)
        return tf.ensure_shape(crops, (None,) + crop_shape + shape[2:])

    def fill_gap(expected, chunk):  # expected: the number of the next chunk
        number, images = chunk
        images = tf.cond(number > expected,
                         lambda: tf.concat([missed(expected, number), images], 0), lambda: images)
        return number + 1, images

    n_chunks = -(-max(total - skip, 0) // size)
    ds = (tf.data.Dataset.range(n_epochs).map(order).unbatch()
          .skip(skip).batch(size).enumerate()
          .map(lambda number, paths: (number, _load_batch(
              paths, size, shape, crop_shape, crop_factor, ratio, slow_path)),
               num_parallel_calls=parallel, deterministic=True)
          .ignore_errors()
          .concatenate(tf.data.Dataset.from_tensors(
              (tf.constant(n_chunks, tf.int64), tf.zeros((0,) + crop_shape + shape[2:]))))
          .scan(tf.constant(0, tf.int64), fill_gap)
          .rebatch(batch_size, drop_remainder=drop_remainder)
          .prefetch(tf.data.AUTOTUNE))
    ds.skipped = slow_path.skipped
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
    sequence_length = check_int("sequence_length", sequence_length)
    batch_size = check_int("batch_size", batch_size)
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


# --- Resumable epochs: where a resumed run continues ------------------------------------------

def epoch_seed(seed: int, epoch: int) -> int:
    """The shuffling seed of `epoch` in a run seeded with `seed`: the one scheme for every
    model's data, so that a resumed run shuffles as an uninterrupted one."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


class EpochBatches(tf.Module):
    """Batches epoch after epoch, from `make_epoch(epoch)`, resumable exactly.

    `make_epoch(epoch)` returns the batches of that epoch (a tf.data.Dataset or any iterable),
    deterministically from the epoch number (e.g. shuffled with a seed derived from it). The
    position, `epoch` and `batch` (batches of it already handed out), lives in two variables;
    put this object in `fit`'s `objects` and a resumed run continues with the next batch.
    A resumed epoch drops the batches already handed out. When reading them is costly (decoding
    image files), `make_epoch(epoch, skip)` can take the count and leave them unread.

    `shard` = (index, count): several workers train together (`training.fit` sets it), and
    this one hands out only its share of every batch, rows index * b to (index + 1) * b where
    b = batch size / count: together the workers' shares are the batch one process trains
    on. A `make_epoch(epoch, skip, shard)` yields its share itself (image files: it reads only
    its own); otherwise each whole batch is made and this worker's rows kept. The position
    counts whole batches, so a run saved under N workers resumes under M.
    """

    def __init__(self, make_epoch: Callable[[int], Iterable], name: str = "data"):
        super().__init__(name=name)
        self.make_epoch = make_epoch
        parameters = inspect.signature(make_epoch).parameters
        self._takes_skip, self._takes_shard = "skip" in parameters, "shard" in parameters
        self.shard = (0, 1)
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.batch = tf.Variable(0, dtype=tf.int64, trainable=False, name="batch")

    def __iter__(self):
        while True:
            epoch, skip = int(self.epoch.numpy()), int(self.batch.numpy())
            index, count = self.shard
            sharding = count > 1 and self._takes_shard
            given = {"skip": skip} if self._takes_skip else {}  # it leaves them out itself
            batches = self.make_epoch(epoch, **given, **({"shard": self.shard} if sharding else {}))
            if not self._takes_skip:
                batches = batches.skip(skip) if isinstance(batches, tf.data.Dataset) \
                    else itertools.islice(batches, skip, None)
            empty = True
            for batch in batches:
                empty = False
                self.batch.assign_add(1)
                if count > 1 and not sharding:  # this worker's rows of the whole batch
                    batch = tf.nest.map_structure(
                        lambda x: x[index * (len(x) // count):(index + 1) * (len(x) // count)], batch)
                yield batch
            if empty and skip == 0:
                raise ValueError(f"make_epoch({epoch}) yielded no batches")
            self.epoch.assign_add(1)
            self.batch.assign(0)
