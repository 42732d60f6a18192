"""Tests for libs.metrics' image measures: Laplacian pyramid, sliced Wasserstein distance,
FID and KID."""
import numpy as np
import pytest
import scipy.ndimage

from libs import datasets, metrics

RNG = np.random.default_rng(0)


def smooth_images(n=24, size=16, channels=1, seed=0):
    """Random blobs: low-pass noise, 0-255, (n, size, size, channels)."""
    noise = np.random.default_rng(seed).random((n, size, size, channels))
    blobs = scipy.ndimage.gaussian_filter(noise, sigma=(0, 2, 2, 0))
    return 255 * (blobs - blobs.min()) / (blobs.max() - blobs.min())


def test_blur_matches_scipy_mirror_convolution():
    x = RNG.random((2, 11, 9, 3)).astype(np.float32)
    kernel = np.outer(metrics._BINOMIAL, metrics._BINOMIAL)[None, :, :, None]
    np.testing.assert_allclose(metrics._blur(x), scipy.ndimage.convolve(x, kernel, mode="mirror"),
                               atol=1e-5)


def test_laplacian_pyramid_reconstructs_and_has_expected_shapes():
    x = RNG.random((2, 20, 20, 1)).astype(np.float32)
    levels = metrics.laplacian_pyramid(x, 3)
    assert [level.shape[1] for level in levels] == [20, 10, 5]
    image = levels[-1]
    for level in levels[-2::-1]:
        image = level + metrics.pyramid_up(image, level.shape[1:3])
    np.testing.assert_allclose(image, x, atol=1e-5)


@pytest.mark.parametrize("size, expected", [(16, 1), (32, 2), (64, 3), (128, 4), (25, 1), (8, 1)])
def test_levels_down_to_16(size, expected):
    assert metrics.n_levels(size) == expected


@pytest.mark.parametrize("channels", [1, 3])
def test_identical_sets_give_zero(channels):
    images = smooth_images(channels=channels)
    result = metrics.swd(images, images.copy(), patches_per_image=16, n_directions=64)
    assert result["swd_x1e3"] == pytest.approx(0.0, abs=1e-6)
    assert result["resolutions"] == [16]


def test_symmetric_deterministic_and_seeded():
    a, b = smooth_images(seed=1), smooth_images(seed=2)
    kwargs = dict(patches_per_image=16, n_directions=64)
    ab, ba = metrics.swd(a, b, **kwargs), metrics.swd(b, a, **kwargs)
    assert ab["swd_x1e3"] == pytest.approx(ba["swd_x1e3"], rel=1e-6)
    assert metrics.swd(a, b, **kwargs) == ab  # deterministic
    assert metrics.swd(a, b, seed=5, **kwargs)["swd_x1e3"] != ab["swd_x1e3"]


@pytest.mark.parametrize("channels", [1, 3])
def test_altered_sets_score_higher(channels):
    faces = datasets.faces(32).astype(np.float32)  # (200, 32, 32, 1), offline
    if channels == 3:  # tinted faces, a colour per face
        faces = faces * np.random.default_rng(1).uniform(0.5, 1.0, (200, 1, 1, 3))
    order = np.random.default_rng(0).permutation(len(faces))
    a, b = faces[order[:100]], faces[order[100:]]  # two samples of one distribution
    kwargs = dict(patches_per_image=32, n_directions=128)
    same = metrics.swd(a, b, **kwargs)
    assert len(same["levels_x1e3"]) == 2 and same["resolutions"] == [32, 16]
    blurred = scipy.ndimage.gaussian_filter(b, sigma=(0, 1, 1, 0))
    shifted = np.roll(b, 4, axis=2)  # a wrap-around seam in every face
    noise = 255 * np.random.default_rng(3).random(b.shape)
    for other, factor in ((blurred, 1.2), (shifted, 1.5), (noise, 2.5)):
        assert metrics.swd(a, other, **kwargs)["swd_x1e3"] > factor * same["swd_x1e3"]


def test_scale_of_values_does_not_matter():
    a, b = smooth_images(seed=1), smooth_images(seed=2)
    kwargs = dict(patches_per_image=16, n_directions=64)
    raw = metrics.swd(a, b, **kwargs)["swd_x1e3"]
    scaled = metrics.swd(a / 127.5 - 1, b / 127.5 - 1, **kwargs)["swd_x1e3"]
    assert scaled == pytest.approx(raw, rel=1e-3)


def test_sets_of_different_sizes_compare_by_quantiles():
    a = RNG.standard_normal((400, 5))
    assert metrics.sliced_wasserstein(a, a[::2], n_directions=64) < 0.1
    assert metrics.sliced_wasserstein(a, a[::2] + 1.0, n_directions=64) > 0.3


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="same image shape"):
        metrics.swd(np.zeros((2, 16, 16, 1)), np.zeros((2, 16, 16, 3)))
    with pytest.raises(ValueError, match="channels|shape"):
        metrics.swd(np.zeros((2, 16, 16, 2)), np.zeros((2, 16, 16, 2)))
    with pytest.raises(ValueError, match="smaller than"):
        metrics.swd(np.zeros((2, 5, 5)), np.zeros((2, 5, 5)))
    with pytest.raises(ValueError, match="NaN"):
        metrics.swd(np.full((2, 16, 16), np.nan), np.zeros((2, 16, 16)))
    with pytest.raises(ValueError, match="odd"):
        metrics.descriptors(np.zeros((2, 16, 16)), patch_size=6)


def test_frechet_distance():
    a = RNG.standard_normal((500, 4))
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # Means 2 apart in every dimension: |mu_a - mu_b|^2 = 4 * 4, covariances about equal.
    assert metrics.frechet_distance(a, a + 2.0) == pytest.approx(16.0, rel=1e-6)


def test_kernel_inception_distance():
    a, b = RNG.standard_normal((300, 8)), RNG.standard_normal((300, 8))
    near = metrics.kernel_inception_distance(a, b, n_subsets=5, subset_size=200)
    far = metrics.kernel_inception_distance(a, b + 1.0, n_subsets=5, subset_size=200)
    assert abs(near) < 0.05 < far
    with pytest.raises(ValueError, match="same D"):
        metrics.kernel_inception_distance(a, b[:, :3])
