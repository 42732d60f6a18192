"""Tests for libs.images: where training images come from, epochs of batches, real images."""
import subprocess
import sys

import numpy as np
import pytest

from libs import dataset_utils, images


def test_data_knows_no_model():
    code = ("import sys, libs.images; "
            "print(sorted(m for m in sys.modules if m in ('libs.gan', 'libs.vaegan', "
            "'libs.draw', 'libs.charrnn')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_array_epochs_shuffle_by_seed_and_epoch_and_skip():
    pictures = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1)
    make_epoch = images.array_epochs(pictures, 4, seed=3)
    first = [b.numpy().ravel().tolist() for b in make_epoch(0)]
    assert len(first) == 2 and all(len(b) == 4 for b in first)  # whole batches only
    assert first == [b.numpy().ravel().tolist() for b in make_epoch(0)]
    assert first != [b.numpy().ravel().tolist() for b in make_epoch(1)]
    assert [b.numpy().ravel().tolist() for b in make_epoch(0, skip=1)] == first[1:]
    assert dataset_utils.epoch_seed(3, 0) != dataset_utils.epoch_seed(3, 1)
    with pytest.raises(ValueError, match="only 10 images for batches of 11"):
        images.array_epochs(pictures, 11, seed=0)


def test_epoch_batches_of_embedded_faces_are_0_255_floats():
    source = images.image_source("faces", 16)
    batch = next(iter(images.epoch_batches(source, 8, 16, seed=0)(0)))
    assert batch.shape == (8, 16, 16, 1) and batch.dtype.name == "float32"
    assert 0 <= float(np.min(batch)) and float(np.max(batch)) <= 255


def test_image_array_is_the_one_check_of_image_arrays():
    x = images.image_array(np.linspace(0, 1, 2 * 8 * 8).reshape(2, 8, 8))
    assert x.shape == (2, 8, 8, 1) and x.dtype == np.uint8 and x.max() == 255
    assert images.image_array(np.full((1, 4, 4, 3), 7, np.int64), 4).dtype == np.uint8
    for bad, rule in [(np.zeros((2, 8, 6)), r"square images"),
                      (np.zeros((2, 8, 8, 2)), r"1 or 3"),
                      (np.full((1, 4, 4), 255.0), r"float images must be in \[0, 1\]"),
                      (np.full((1, 4, 4), 300), r"uint8 0-255 or floats")]:
        with pytest.raises(ValueError, match=rule):
            images.image_array(bad)
    with pytest.raises(ValueError, match=r"\(N, 16, 16\)"):  # the GAN's size, named
        images.image_source(np.zeros((2, 8, 8, 1), np.uint8), 16)


def test_derived_attributes_split_the_images_by_what_they_show():
    x = np.zeros((4, 8, 8, 1), np.uint8)
    x[0], x[1] = 200, 10                      # bright, dark
    x[2, :, :4], x[3, :, 4:] = 250, 240       # lit from the left, lit from the right
    names, labels = images.derived_attributes(x)
    assert names == ["Bright", "High_Contrast", "Lit_From_Left"] and labels.dtype == bool
    assert labels[:, 0].tolist() == [True, False, True, False]   # means 200, 10, 125, 120
    assert labels[:, 1].tolist() == [False, False, True, True]   # the half-lit ones vary
    assert labels[:, 2].tolist() == [False, False, True, False]
