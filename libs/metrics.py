"""Small metric functions shared by the models: cross-entropy in nats, bits per character, the
entropy of a text's characters (a language model's baseline), and the sliced Wasserstein
distance between sets of images (with FID and KID on given features).

Each function does one thing and documents its units. Losses are natural-log cross-entropies
(nats); a language model's figure of merit is the same number in bits per character
(nats / ln 2), and perplexity is exp(nats).
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from libs.arguments import check_int

LN2 = math.log(2.0)


def bits_per_char(loss_nats: float) -> float:
    """Bits per character from a mean cross-entropy in nats per character (divide by ln 2)."""
    return float(loss_nats) / LN2


def perplexity(loss_nats: float) -> float:
    """exp(loss): the number of equally likely characters the model is as unsure as."""
    return math.exp(float(loss_nats))


def unigram_entropy(text: str) -> float:
    """Nats per character of the best model that ignores context: the entropy of the text's
    character frequencies. A language model has learnt something from context once its loss
    on the text falls below this."""
    if not text:
        raise ValueError("text is empty: there are no characters to count")
    _, counts = np.unique(np.frombuffer(text.encode("utf-32-le"), np.uint32), return_counts=True)
    p = counts / counts.sum()
    return float(-np.sum(p * np.log(p)))


def sparse_cross_entropy(labels: tf.Tensor, logits: tf.Tensor,
                         weights: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor]:
    """Summed cross-entropy in nats and the number of terms: (sum, count), both float32 scalars.

    labels: int ids (...), logits: (..., V) unnormalised log-probabilities, weights: optional
    0/1 mask (...) that leaves padding out. Returning the sum and the count (not the mean) lets a
    caller add up batches of different sizes exactly, then divide once.
    """
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)  # (...)
    if weights is None:
        return tf.reduce_sum(ce), tf.cast(tf.size(ce), tf.float32)
    weights = tf.cast(weights, ce.dtype)
    return tf.reduce_sum(ce * weights), tf.reduce_sum(weights)


# --- Sliced Wasserstein distance ------------------------------------------------------------
# Sliced Wasserstein distance between two sets of images, as Karras et al. (2018) measure GANs.
#
# No download, no pretrained network: it compares the distributions of small patches at every
# scale. Following the Progressive GAN paper and its code (metrics/sliced_wasserstein.py):
#
# 1. each image is decomposed into a Laplacian pyramid (5-tap binomial filter, mirrored borders)
#    from full resolution down to 16x16; the last level is the low-pass residual;
# 2. from every level of every image, 128 patches of 7x7 pixels are taken at random positions;
# 3. each set's patches of a level are normalised per channel (mean 0, std 1 over the set) and
#    flattened to descriptors of 7 * 7 * C values;
# 4. per level, both sets are projected on 512 random unit directions (4 repeats of 128), the
#    projections sorted, and the mean absolute difference of the sorted values (the 1-D Wasserstein
#    distance along each direction) averaged: the sliced Wasserstein distance.
#
# Results are reported x1e3 per level and averaged over levels (`swd_x1e3`), as in the paper.
# Lower is better; identical sets give 0. Because step 3 normalises each set on its own, the value
# does not depend on the images' range (0-255, [0, 1], [-1, 1]) and a global change of brightness
# or contrast is not penalised; structure is. Deterministic given `seed`: both sets use the same
# patch positions and directions, so swd(a, b) == swd(b, a).

_BINOMIAL = np.array([1.0, 4.0, 6.0, 4.0, 1.0], np.float32) / 16.0  # separable 5x5 Gaussian


def _as_batch(images, what: str = "images") -> np.ndarray:
    """(N, H, W[, C]) images of any numeric dtype as float32 (N, H, W, C)."""
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3) or x.shape[0] < 1:
        raise ValueError(f"{what} must be a non-empty batch (N, H, W), (N, H, W, 1) or "
                         f"(N, H, W, 3); got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise ValueError(f"{what} must be numeric, got dtype {x.dtype}")
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{what} contain NaN or infinite values")
    return x


def _blur(x: np.ndarray) -> np.ndarray:
    """Binomial 5x5 filter of (N, H, W, C), mirrored borders (scipy.ndimage's 'mirror')."""
    for axis in (1, 2):
        pad = [(0, 0)] * 4
        pad[axis] = (2, 2)
        p = np.pad(x, pad, mode="reflect")
        n = x.shape[axis]
        window = [slice(None)] * 4
        out = np.zeros(x.shape, np.float32)
        for i, w in enumerate(_BINOMIAL):
            window[axis] = slice(i, i + n)
            out += w * p[tuple(window)]
        x = out
    return x


def pyramid_down(x: np.ndarray) -> np.ndarray:
    """Blur, then keep every other row and column: (N, H, W, C) -> (N, ceil(H/2), ceil(W/2), C)."""
    return _blur(x)[:, ::2, ::2]


def pyramid_up(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Insert zeros between pixels, blur with 4x the filter, crop to `shape` (H, W)."""
    n, h, w, c = x.shape
    up = np.zeros((n, 2 * h, 2 * w, c), np.float32)
    up[:, ::2, ::2] = x
    return 4.0 * _blur(up)[:, :shape[0], :shape[1]]


def laplacian_pyramid(images, n_levels: int) -> list[np.ndarray]:
    """Levels finest first: n_levels - 1 band-pass images, then the low-pass residual.

    Summing pyramid_up of each coarser level back reconstructs the images exactly.
    """
    x = _as_batch(images)
    levels = [x]
    for _ in range(n_levels - 1):
        coarse = pyramid_down(levels[-1])
        levels[-1] = levels[-1] - pyramid_up(coarse, levels[-1].shape[1:3])
        levels.append(coarse)
    return levels


def n_levels(size: int, min_resolution: int = 16) -> int:
    """Pyramid levels from `size` down to `min_resolution` (Karras: 128 -> 128, 64, 32, 16)."""
    return 1 + max(0, int(math.floor(math.log2(size / min_resolution)))) if size >= min_resolution \
        else 1


def descriptors(images, patches_per_image: int = 128, patch_size: int = 7,
                min_resolution: int = 16, seed: int = 0) -> list[np.ndarray]:
    """Per pyramid level, normalised patch descriptors (N * patches_per_image, patch_size**2 * C).

    Patch positions are drawn from `seed` and depend only on the images' shape, so two sets of
    the same shape are sampled at the same places.
    """
    x = _as_batch(images)
    for name, value, low in (("patches_per_image", patches_per_image, 1),
                             ("patch_size", patch_size, 1), ("min_resolution", min_resolution, 1)):
        check_int(name, value, low)
    if patch_size % 2 == 0:
        raise ValueError(f"patch_size must be odd, got {patch_size}")
    size = min(x.shape[1:3])
    if size < patch_size:
        raise ValueError(f"images of {x.shape[1]}x{x.shape[2]} are smaller than the "
                         f"{patch_size}x{patch_size} patches")
    levels = laplacian_pyramid(x, n_levels(size, max(min_resolution, patch_size)))
    rng = np.random.default_rng(seed)
    r = patch_size // 2
    offsets = np.arange(-r, r + 1)
    result = []
    for level in levels:
        n, h, w, c = level.shape
        count = n * patches_per_image
        image = np.repeat(np.arange(n), patches_per_image)[:, None, None]
        ys = rng.integers(r, h - r, size=count)[:, None, None] + offsets[None, :, None]
        xs = rng.integers(r, w - r, size=count)[:, None, None] + offsets[None, None, :]
        patches = level[image, ys, xs]  # (count, patch, patch, C)
        mean = patches.mean(axis=(0, 1, 2), keepdims=True)
        std = patches.std(axis=(0, 1, 2), keepdims=True)
        result.append(((patches - mean) / np.maximum(std, 1e-8)).reshape(count, -1))
    return result


def _sorted_quantiles(p: np.ndarray, n: int) -> np.ndarray:
    """Sorted columns of p (m, D) read at n evenly spaced quantiles (midpoints) -> (n, D)."""
    p = np.sort(p, axis=0)
    if len(p) == n:
        return p
    return p[((np.arange(n) + 0.5) * len(p) / n).astype(np.int64)]


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, n_directions: int = 512, n_repeats: int = 4,
                       seed: int = 0) -> float:
    """Mean over random unit directions of the 1-D Wasserstein-1 distance between projections.

    a (n_a, D), b (n_b, D). With n_a != n_b the sorted projections are compared at max(n_a, n_b)
    evenly spaced quantiles.
    """
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"descriptor sets must be (n, D) with the same D, got {a.shape} and "
                         f"{b.shape}")
    if n_directions < n_repeats or n_directions % n_repeats:
        raise ValueError(f"n_directions ({n_directions}) must be a multiple of n_repeats "
                         f"({n_repeats})")
    rng = np.random.default_rng([seed, 1])
    n = max(len(a), len(b))
    distances = []
    for _ in range(n_repeats):
        directions = rng.standard_normal((a.shape[1], n_directions // n_repeats))
        directions = (directions / np.linalg.norm(directions, axis=0, keepdims=True)).astype(np.float32)
        pa = _sorted_quantiles(a @ directions, n)
        pb = _sorted_quantiles(b @ directions, n)
        distances.append(float(np.mean(np.abs(pa - pb))))
    return float(np.mean(distances))


def swd_from_descriptors(desc_a: list[np.ndarray], desc_b: list[np.ndarray],
                         n_directions: int = 512, seed: int = 0) -> dict:
    """The result of `swd` from two `descriptors` lists (e.g. the real set's, computed once)."""
    if len(desc_a) != len(desc_b):
        raise ValueError(f"the two sets have {len(desc_a)} and {len(desc_b)} pyramid levels; "
                         "they must be images of the same size")
    levels = [1e3 * sliced_wasserstein(a, b, n_directions, seed=seed + i)
              for i, (a, b) in enumerate(zip(desc_a, desc_b))]
    return {"swd_x1e3": float(np.mean(levels)), "levels_x1e3": levels}


def swd(images_a, images_b, patches_per_image: int = 128, patch_size: int = 7,
        n_directions: int = 512, min_resolution: int = 16, seed: int = 0) -> dict:
    """Sliced Wasserstein distance between two image sets, x1e3 (lower is better).

    images_*: (N, H, W), (N, H, W, 1) or (N, H, W, 3), any numeric range (see the module
    docstring); both sets must have the same H, W, C; N may differ. Returns
    {"swd_x1e3": mean over levels, "levels_x1e3": [finest, ..., low-pass],
     "resolutions": [H of each level]}.
    """
    a, b = _as_batch(images_a, "images_a"), _as_batch(images_b, "images_b")
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"both sets need the same image shape, got {a.shape[1:]} and {b.shape[1:]}")
    kwargs = dict(patches_per_image=patches_per_image, patch_size=patch_size,
                  min_resolution=min_resolution, seed=seed)
    desc_a, desc_b = descriptors(a, **kwargs), descriptors(b, **kwargs)
    result = swd_from_descriptors(desc_a, desc_b, n_directions, seed)
    size = a.shape[1]
    result["resolutions"] = [math.ceil(size / 2 ** i) for i in range(len(desc_a))]
    return result


# ---------------------------------------------------------------------------- with a feature extractor

def _features(a, b) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"features must be (N >= 2, D) with the same D, got {a.shape} and {b.shape}")
    return a, b


def frechet_distance(features_a, features_b) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, D): FID when the
    features are Inception-v3 pool features (Heusel et al. 2017). Needs no download itself;
    the caller supplies the features."""
    import scipy.linalg

    a, b = _features(features_a, features_b)
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root = scipy.linalg.sqrtm(cov_a @ cov_b)
    root = np.real(root)  # tiny imaginary parts come from rounding
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2.0 * root))


def kernel_inception_distance(features_a, features_b, n_subsets: int = 10,
                              subset_size: int = 1000, seed: int = 0) -> float:
    """Unbiased squared MMD with the cubic polynomial kernel (x.y / D + 1)^3, averaged over
    random subsets: KID with Inception features (Binkowski et al. 2018). Report it x1e3."""
    a, b = _features(features_a, features_b)
    m = min(subset_size, len(a), len(b))
    rng = np.random.default_rng(seed)
    d = a.shape[1]
    values = []
    for _ in range(n_subsets):
        x, y = a[rng.choice(len(a), m, replace=False)], b[rng.choice(len(b), m, replace=False)]
        kxx, kyy, kxy = ((x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3)
        values.append((kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                      - 2.0 * kxy.mean())
    return float(np.mean(values))
