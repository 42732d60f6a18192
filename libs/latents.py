"""The latent space of a generative model: draw latents, walk between them, lay them on a grid,
find attribute directions and move along them.

Model-agnostic: the GAN and the VAE-GAN decode what these make (`gan.generate`,
`vaegan.decode`); the VAE-GAN's encoder gives the latents of real faces for `attribute_vector`.
The interpolations are the original course's `utils.interp`, `utils.slerp` and
`utils.make_latent_manifold`, returned as float32.

    z = latents.latent(2, 100, seed=0)                      # z ~ N(0, I), (2, 100)
    walk = latents.interpolate(z[0], z[1], 8)                # along the great circle
    smile = latents.attribute_vector(z_smiling, z_not_smiling)
    steps = latents.add_attribute(z[0], smile, [0, 0.5, 1])
"""
from __future__ import annotations

import numpy as np

from libs import utils


def latent(n: int, n_latent: int, seed: int = 0) -> np.ndarray:
    """n latent vectors z ~ N(0, I), float32 (n, n_latent), the same for the same seed."""
    return np.random.default_rng(seed).standard_normal((n, n_latent)).astype(np.float32)


def interpolate(z0, z1, n: int = 8, method: str = "slerp") -> np.ndarray:
    """n latents from z0 to z1 inclusive, (n, n_latent): "slerp" (great circle, keeps the norm
    typical of a Gaussian, as the latents were drawn) or "lerp" (straight line)."""
    if method == "slerp":
        return utils.slerp(np.linspace(0.0, 1.0, n), z0, z1).astype(np.float32)
    if method == "lerp":
        return utils.interp(np.asarray(z0, np.float32), np.asarray(z1, np.float32), n)
    raise ValueError(f"method must be 'slerp' or 'lerp', got {method!r}")


def latent_path(zs, n_per_segment: int = 8, method: str = "slerp", loop: bool = True) -> np.ndarray:
    """Latents visiting each of zs (K, n_latent) in turn, n_per_segment per segment; with `loop`
    it returns to zs[0], so a GIF of it plays seamlessly. (K * n_per_segment, n_latent)."""
    zs = np.asarray(zs, np.float32)
    if zs.ndim != 2 or len(zs) < 2:
        raise ValueError(f"zs must hold at least 2 latents, shape (K, n_latent); got {zs.shape}")
    ends = np.concatenate([zs, zs[:1]]) if loop else zs
    return np.concatenate([interpolate(a, b, n_per_segment + 1, method)[:-1]
                           for a, b in zip(ends[:-1], ends[1:])] + ([] if loop else [zs[-1:]]))


def manifold(corners, n: int = 8) -> np.ndarray:
    """An n x n grid of latents between 4 corner latents (4, n_latent), row by row:
    (n * n, n_latent), as `utils.make_latent_manifold` (corners 0 top-left, 2 top-right,
    1 bottom-left, 3 bottom-right)."""
    return utils.make_latent_manifold(np.asarray(corners, np.float32), n).astype(np.float32)


def attribute_vector(with_attribute, without_attribute) -> np.ndarray:
    """Mean latent of images with an attribute minus the mean of images without (n_latent,).
    Both are (N, n_latent) or (n_latent,)."""
    a = np.atleast_2d(np.asarray(with_attribute, np.float32)).mean(axis=0)
    b = np.atleast_2d(np.asarray(without_attribute, np.float32)).mean(axis=0)
    if a.shape != b.shape:
        raise ValueError(f"latent sizes differ: {a.shape} and {b.shape}")
    return a - b


def add_attribute(z, vector, amounts=(-1.0, -0.5, 0.0, 0.5, 1.0)) -> np.ndarray:
    """z + a * vector for each a in amounts: (len(amounts), n_latent), e.g. to show a smile
    appear. Vector arithmetic "a - b + c" is add_attribute(c, a - b, [1])."""
    z, vector = np.asarray(z, np.float32), np.asarray(vector, np.float32)
    if z.shape != vector.shape or z.ndim != 1:
        raise ValueError(f"z and vector must be single latents of the same size, got {z.shape} "
                         f"and {vector.shape}")
    return z[None] + np.asarray(amounts, np.float32)[:, None] * vector[None]
