"""Tests for libs.dataset_utils: image pipelines on tiny images made in tmp_path, text windows."""
import re
from collections import Counter
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import tensorflow as tf

from libs import dataset_utils

H, W = 60, 48          # image size; with CROP and FACTOR the JPEG fast path decodes at 1/2
CROP, FACTOR = (16, 16), 0.8


def smooth(h=H, w=W, channels=3, phase=0.0):
    """A smooth uint8 image (low frequencies only), so JPEG artefacts stay small."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    planes = [128 + 90 * np.sin(x / w * 3.0 + phase) * np.cos(y / h * 2.0),
              128 + 90 * np.cos(x / w * 2.0 - y / h * 2.5 + phase),
              40 + 180 * (x + y) / (h + w)]
    return np.clip(np.stack(planes[:channels], -1), 0, 255).round().astype(np.uint8)


def write(path, image, quality=95):
    if path.suffix in (".gif", ".bmp"):  # formats TensorFlow decodes but does not encode
        iio.imwrite(path, image)
        return str(path)
    image = tf.constant(image)
    data = (tf.io.encode_png(image) if path.suffix == ".png"
            else tf.io.encode_jpeg(image, quality=quality))
    path.write_bytes(data.numpy())
    return str(path)


def write_corrupt(path, h=H, w=W):
    """A file that passes the pipeline's cheap checks (its format's header; a JPEG's
    end-of-image marker at the end) but fails to decode, by its name: a GIF cut in half, a
    BMP with its header garbled, a JPEG with its Huffman table garbled if its name says
    "header", else with a run of stray markers in its scan data. That JPEG is progressive:
    libjpeg reads all of such a file before its first row, so even the windowed decoding of
    the pipeline meets the corruption (in a baseline JPEG, libjpeg warns and fills with grey)."""
    image = smooth(h, w)
    if path.suffix == ".jpg" and "header" in path.stem:
        data = tf.io.encode_jpeg(image, quality=95).numpy()
        dht = data.index(b"\xff\xc4") + 4  # the first Huffman table, after its length
        data = data[:dht] + b"\xff" * 12 + data[dht + 12:]
    elif path.suffix == ".jpg":
        data = tf.io.encode_jpeg(image, quality=95, progressive=True).numpy()
        sos = data.index(b"\xff\xda")  # start of scan, then the scan header's length
        middle = (sos + 2 + int.from_bytes(data[sos + 2:sos + 4], "big") + len(data)) // 2
        data = data[:middle] + b"\xff\xd8" * 8 + data[middle + 16:]
    else:
        data = Path(write(path, image)).read_bytes()
        if path.suffix == ".gif":
            data = data[:len(data) // 2]
        else:
            data = data[:2] + b"\xff" * 40 + data[42:]
    path.write_bytes(data)
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.io.decode_image(data)
    return str(path)


def flat_jpegs(folder, values, h=H, w=W):
    """One JPEG per value, every pixel that grey level: the crops tell the files apart."""
    return [write(folder / f"flat_{v:03d}.jpg", np.full((h, w, 3), v, np.uint8)) for v in values]


def images_of(ds):
    return np.concatenate([b.numpy() for b in ds])


def nearest(values, images):
    """The value of the flat image each crop comes from."""
    return [min(values, key=lambda v: abs(v - float(np.mean(im)))) for im in images]


def reference_crop(image, crop=CROP, factor=FACTOR):
    """The definition: resize the whole image (aspect kept, antialiased) so that the crop covers
    `factor` of it, then take the central crop."""
    h, w = image.shape[:2]
    scale = max(crop[0] / (h * factor), crop[1] / (w * factor))
    size = (round(h * scale), round(w * scale))
    resized = tf.image.resize(tf.cast(image, tf.float32), size, antialias=True)
    top, left = (size[0] - crop[0]) // 2, (size[1] - crop[1]) // 2
    return resized[top:top + crop[0], left:left + crop[1]].numpy()


def pipeline(files, batch_size=4, n_epochs=1, shape=(H, W, 3), **kwargs):
    kwargs.setdefault("crop_shape", CROP)
    kwargs.setdefault("crop_factor", FACTOR)
    return dataset_utils.create_input_pipeline(files, batch_size, n_epochs, shape, **kwargs)


# ------------------------------------------------------------------- create_input_pipeline

def test_jpeg_rgb_shape_dtype_and_range(tmp_path):
    files = [write(tmp_path / f"{i}.jpg", smooth(phase=i)) for i in range(5)]
    batches = list(pipeline(files, batch_size=2))
    assert [b.shape for b in batches] == [(2, 16, 16, 3), (2, 16, 16, 3), (1, 16, 16, 3)]
    x = images_of(batches)
    assert x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 255.0 and x.max() > 100.0  # 0-255, not 0-1


def test_shape_none_reads_the_first_file_and_crop_none_keeps_its_size(tmp_path):
    files = [write(tmp_path / f"{i}.jpg", smooth(phase=i)) for i in range(3)]
    x = images_of(dataset_utils.create_input_pipeline(files, 3, 1))
    assert x.shape == (3, H, W, 3)


def test_png_grayscale_forced_to_rgb(tmp_path):
    files = [write(tmp_path / f"{i}.png", smooth(channels=1, phase=i)) for i in range(3)]
    x = images_of(pipeline(files, shape=(H, W, 3)))
    assert x.shape == (3, 16, 16, 3) and x.dtype == np.float32
    np.testing.assert_allclose(x[..., 0], x[..., 2])  # grey copied to every channel


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_rgb_forced_to_grayscale(tmp_path, ext):
    files = [write(tmp_path / f"{i}{ext}", smooth(phase=i)) for i in range(3)]
    x = images_of(pipeline(files, shape=(H, W, 1)))
    assert x.shape == (3, 16, 16, 1)
    assert 0.0 <= x.min() and x.max() <= 255.0


@pytest.mark.parametrize("drop_remainder, sizes", [(False, [4, 4, 4, 4, 4, 1]),
                                                    (True, [4, 4, 4, 4, 4])])
def test_exactly_n_epochs(tmp_path, drop_remainder, sizes):
    values = [10, 45, 80, 115, 150, 185, 220]
    files = flat_jpegs(tmp_path, values)
    batches = list(pipeline(files, batch_size=4, n_epochs=3, seed=1,
                            drop_remainder=drop_remainder))
    assert [len(b) for b in batches] == sizes
    if not drop_remainder:  # 21 images: every file exactly 3 times
        assert Counter(nearest(values, images_of(batches))) == {v: 3 for v in values}


def test_more_files_than_a_chunk_and_a_large_batch(tmp_path):
    files = flat_jpegs(tmp_path, range(0, 250, 3))  # 84 files
    assert [len(b) for b in pipeline(files, batch_size=50, n_epochs=2)] == [50, 50, 50, 18]


def test_seeded_shuffle_is_repeatable(tmp_path):
    values = list(range(10, 250, 20))
    files = flat_jpegs(tmp_path, values)
    order = [images_of(pipeline(files, n_epochs=2, seed=7)).mean(axis=(1, 2, 3))
             for _ in range(2)]
    np.testing.assert_allclose(order[0], order[1])
    other = images_of(pipeline(files, n_epochs=2, seed=8)).mean(axis=(1, 2, 3))
    assert not np.allclose(order[0], other)
    assert not np.allclose(order[0][:12], order[0][12:])  # each epoch in a new order


def test_skip_leaves_out_the_first_files_of_the_same_order(tmp_path):
    files = flat_jpegs(tmp_path, list(range(10, 250, 10)))  # 24 files
    whole = [b.numpy() for b in pipeline(files, batch_size=5, n_epochs=2, seed=3)]
    resumed = [b.numpy() for b in pipeline(files, batch_size=5, n_epochs=2, seed=3, skip=10)]
    assert len(whole) == 10 and len(resumed) == 8
    for a, b in zip(whole[2:], resumed):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="skip"):
        pipeline(files, skip=-1)


def test_unshuffled_keeps_the_order_of_files(tmp_path):
    values = list(range(10, 250, 20))
    files = flat_jpegs(tmp_path, values)
    means = images_of(pipeline(files, batch_size=5, shuffle=False)).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(means, values, atol=2)


def test_mixed_sizes_and_formats_in_one_list(tmp_path):
    files = [write(tmp_path / "declared.jpg", smooth()),
             write(tmp_path / "larger.jpg", smooth(90, 70)),
             write(tmp_path / "smaller.jpg", smooth(40, 30)),
             write(tmp_path / "wide.png", smooth(30, 80)),
             write(tmp_path / "grey.png", smooth(50, 50, channels=1))]
    x = images_of(pipeline(files, batch_size=5, shuffle=False))
    assert x.shape == (5, 16, 16, 3)
    for path, crop in zip(files, x):
        image = tf.io.decode_image(open(path, "rb").read(), channels=3).numpy()
        assert np.abs(crop - reference_crop(image)).mean() < 6.0, path


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_crop_matches_resize_then_central_crop(tmp_path, ext):
    images = [smooth(phase=i) for i in range(3)]
    files = [write(tmp_path / f"{i}{ext}", image) for i, image in enumerate(images)]
    x = images_of(pipeline(files, shuffle=False))
    for crop, image in zip(x, images):
        diff = np.abs(crop - reference_crop(image))
        assert diff.mean() < 3.0 and diff.max() < 30.0


def test_crop_factor_one_covers_the_whole_short_side(tmp_path):
    image = smooth(64, 48)
    files = [write(tmp_path / "a.png", image)]
    x = images_of(pipeline(files, shape=(64, 48, 3), crop_factor=1.0))
    assert np.abs(x[0] - reference_crop(image, factor=1.0)).mean() < 3.0


def test_unreadable_files_are_skipped_warned_and_counted(tmp_path):
    good = [write(tmp_path / f"good_{i}.jpg", smooth(phase=i)) for i in range(3)]
    good.append(write(tmp_path / "good.png", smooth()))
    jpeg = (tmp_path / "good_0.jpg").read_bytes()
    png = (tmp_path / "good.png").read_bytes()
    truncated_jpeg = tmp_path / "truncated.jpg"
    truncated_jpeg.write_bytes(jpeg[:len(jpeg) // 2])
    text = tmp_path / "notes.jpg"
    text.write_text("this is not an image\n")
    truncated_png = tmp_path / "truncated.png"
    truncated_png.write_bytes(png[:len(png) // 2])
    bad = [str(truncated_jpeg), str(text), str(truncated_png)]
    ds = pipeline(good + bad, batch_size=3, n_epochs=2, seed=0)
    with pytest.warns(RuntimeWarning, match="skipping unreadable or truncated image") as record:
        batches = list(ds)
    assert [len(b) for b in batches] == [3, 3, 2]  # every good image, both epochs, refilled
    assert ds.skipped == set(bad)
    messages = [str(w.message) for w in record if w.category is RuntimeWarning]
    assert len(messages) == 3 and "3 skipped so far" in " ".join(messages)


@pytest.mark.parametrize("name", ["truncated.gif", "garbled.bmp", "garbled.jpg", "header.jpg"])
def test_a_corrupt_file_costs_only_itself(tmp_path, name):
    # Such a file fails the decoding of its whole chunk of 16; the chunk's other 15 images
    # used to be dropped with it, with nothing but a log line. The JPEGs are of the declared
    # shape, so they fail on the fast path, where no op can catch the error.
    values = list(range(10, 250, 10))  # 24 good files, then 2 epochs: 4 chunks of 16 or less
    good = flat_jpegs(tmp_path, values)
    bad = write_corrupt(tmp_path / name)
    ds = pipeline(good[:5] + [bad] + good[5:], batch_size=16, n_epochs=2, shuffle=False)
    with pytest.warns(RuntimeWarning, match="skipping unreadable or truncated image") as record:
        x = images_of(ds)
    assert len(x) == 2 * len(values)
    np.testing.assert_allclose(x.mean(axis=(1, 2, 3)), values * 2, atol=2)
    assert ds.skipped == {bad}
    messages = [str(w.message) for w in record if w.category is RuntimeWarning]
    assert len(messages) == 1 and repr(bad) in messages[0] and "1 skipped so far" in messages[0]


def test_corrupt_files_among_good_ones_of_every_format(tmp_path):
    values = list(range(10, 250, 10))
    good = flat_jpegs(tmp_path, values[:18]) + [
        write(tmp_path / f"flat_{v:03d}{ext}", np.full((H, W, 3), v, np.uint8))
        for v, ext in zip(values[18:], [".png", ".gif", ".bmp"] * 2)]
    # The larger JPEG takes the other path, for JPEGs not of the declared shape; the others
    # the fast path, where their whole chunk fails.
    bad = [write_corrupt(tmp_path / name)
           for name in ("truncated.gif", "garbled.bmp", "garbled.jpg", "header.jpg")]
    bad.append(write_corrupt(tmp_path / "garbled_larger.jpg", 90, 70))
    ds = pipeline(good + bad, batch_size=16, n_epochs=3, seed=0)
    with pytest.warns(RuntimeWarning, match="skipping unreadable or truncated image") as record:
        x = images_of(ds)
    assert Counter(nearest(values, x)) == {v: 3 for v in values}  # each good one, each epoch
    assert ds.skipped == set(bad)
    messages = " ".join(str(w.message) for w in record if w.category is RuntimeWarning)
    assert all(repr(path) in messages for path in bad) and "5 skipped so far" in messages


def test_a_corrupt_jpeg_in_the_last_chunk_costs_only_itself(tmp_path):
    values = list(range(10, 250, 10))
    good = flat_jpegs(tmp_path, values)
    bad = write_corrupt(tmp_path / "zz_garbled.jpg")  # read last, in the last chunk
    ds = pipeline(good + [bad], batch_size=16, shuffle=False, skip=3)
    with pytest.warns(RuntimeWarning, match=re.escape(repr(bad))):
        x = images_of(ds)
    np.testing.assert_allclose(x.mean(axis=(1, 2, 3)), values[3:], atol=2)
    assert ds.skipped == {bad}


def test_errors_name_the_problem(tmp_path):
    good = write(tmp_path / "a.jpg", smooth())
    make = dataset_utils.create_input_pipeline
    with pytest.raises(ValueError, match="files is empty"):
        make([], 4, 1)
    with pytest.raises(TypeError, match="single path"):
        make(good, 4, 1)
    (tmp_path / "b.txt").write_text("x")
    with pytest.raises(ValueError, match=r"not images by their extension.*b\.txt"):
        make([good, str(tmp_path / "b.txt")], 4, 1)
    with pytest.raises(FileNotFoundError, match=r"do not exist.*missing\.jpg"):
        make([good, str(tmp_path / "missing.jpg")], 4, 1)


@pytest.mark.parametrize("kwargs, match", [
    ({"crop_factor": 0}, "crop_factor must be in"),
    ({"crop_factor": 1.5}, "crop_factor must be in"),
    ({"crop_factor": -1}, "crop_factor must be in"),
    ({"batch_size": 0}, "batch_size must be an integer >= 1"),
    ({"n_epochs": 0}, "n_epochs must be an integer >= 1"),
    ({"batch_size": 2.5}, "batch_size must be an integer >= 1"),
    ({"crop_shape": (0, 16)}, "crop_shape must be"),
    ({"crop_shape": (16,)}, "crop_shape must be"),
    ({"crop_shape": (16.5, 16)}, "crop_shape must be"),
    ({"shape": (H, W, 2)}, "shape must be .* 1 or 3 channels"),
    ({"shape": (H, W)}, "shape must be"),
    ({"n_threads": 0}, "n_threads must be an integer >= 1"),
])
def test_bad_arguments(tmp_path, kwargs, match):
    args = {"files": [write(tmp_path / "a.jpg", smooth())], "batch_size": 4, "n_epochs": 1,
            "shape": (H, W, 3), "crop_shape": CROP}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        dataset_utils.create_input_pipeline(**args)


# ---------------------------------------------------------------- create_character_windows

def test_character_windows_shift_by_one():
    encoded = np.arange(101) % 7
    ds = dataset_utils.create_character_windows(encoded, sequence_length=10, batch_size=3,
                                                seed=0)
    batches = list(ds)
    assert len(batches) == 3  # 10 windows, the remainder of the epoch dropped
    for x, y in batches:
        assert x.shape == y.shape == (3, 10) and x.dtype == y.dtype == tf.int32
        np.testing.assert_array_equal(x.numpy()[:, 1:], y.numpy()[:, :-1])
        np.testing.assert_array_equal((x.numpy() + 1) % 7, y.numpy())


def test_every_target_once_per_epoch_in_order_unshuffled():
    encoded = np.arange(61)  # unique ids: 6 windows of 10 + 1
    ds = dataset_utils.create_character_windows(encoded, 10, 2, shuffle=False)
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    np.testing.assert_array_equal(np.concatenate(ys).ravel(), np.arange(1, 61))
    np.testing.assert_array_equal(np.concatenate(xs).ravel(), np.arange(0, 60))


def test_shuffled_windows_cover_the_same_targets():
    encoded = np.arange(61)
    ds = dataset_utils.create_character_windows(encoded, 10, 2, seed=3)
    targets = np.concatenate([y.numpy() for _, y in ds]).ravel()
    assert sorted(targets) == list(range(1, 61))


def test_too_short_text_names_the_lengths():
    with pytest.raises(ValueError, match=re.escape("the text has 21 characters")) as info:
        dataset_utils.create_character_windows(np.arange(21), 10, 4)
    assert "batch_size=4" in str(info.value) and ">= 41 characters" in str(info.value)


@pytest.mark.parametrize("encoded", [np.linspace(0, 1, 50), np.zeros((5, 10), np.int32),
                                     np.array(list("hello world"))])
def test_character_windows_need_integer_ids(encoded):
    with pytest.raises(ValueError, match="1-D array of integer ids"):
        dataset_utils.create_character_windows(encoded, 4, 2)
