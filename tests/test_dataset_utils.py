"""Tests for libs.dataset_utils: image pipelines on tiny images made in tmp_path, text windows."""
import re
from collections import Counter

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
    image = tf.constant(image)
    data = (tf.io.encode_png(image) if str(path).endswith(".png")
            else tf.io.encode_jpeg(image, quality=quality))
    path.write_bytes(data.numpy())
    return str(path)


def flat_jpegs(folder, values, h=H, w=W):
    """One JPEG per value, every pixel that grey level: the crops tell the files apart."""
    return [write(folder / f"flat_{v:03d}.jpg", np.full((h, w, 3), v, np.uint8)) for v in values]


def images_of(ds):
    return np.concatenate([b.numpy() for b in ds])


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
        seen = [min(values, key=lambda v: abs(v - float(np.mean(im)))) for im in
                images_of(batches)]
        assert Counter(seen) == {v: 3 for v in values}


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
