"""Images/s of `create_input_pipeline` against `keras.utils.image_dataset_from_directory`.

Both read the same CelebA-shaped JPEGs (218x178 RGB, generated here), resize keeping the aspect
ratio so that a 64x64 centre crop covers 80% of the image width (the lecture's crop_factor=0.8),
crop, shuffle and batch 64.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import skimage.data
import skimage.transform

from run import interleaved

N_IMAGES, N_EPOCHS, BATCH, SHAPE, CROP, CROP_FACTOR = 1024, 3, 64, (218, 178, 3), (64, 64), 0.8


def make_jpegs(folder: Path, n: int) -> list[str]:
    """Photo-like JPEGs: random crops of scikit-image's sample photographs, quality 90."""
    rng = np.random.default_rng(0)
    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea(),
              skimage.data.rocket()]
    files = []
    for i in range(n):
        photo = photos[i % len(photos)]
        y = rng.integers(0, photo.shape[0] - 260)
        x = rng.integers(0, photo.shape[1] - 212)
        crop = skimage.transform.resize(photo[y:y + 260, x:x + 212], SHAPE[:2])
        path = folder / f"{i:06d}.jpg"
        iio.imwrite(path, (crop * 255).astype(np.uint8), quality=90)
        files.append(str(path))
    return files


def run() -> dict:
    import tensorflow as tf
    import keras
    from libs.dataset_utils import create_input_pipeline

    with tempfile.TemporaryDirectory() as tmp:
        print(f"pipeline: writing {N_IMAGES} JPEGs of {SHAPE}", file=sys.stderr)
        files = make_jpegs(Path(tmp), N_IMAGES)

        # As in training: one iterator over several epochs.
        ours = create_input_pipeline(files, BATCH, N_EPOCHS, SHAPE, CROP, CROP_FACTOR)

        # Reference: Keras's directory loader resizes the whole image, then the same crop.
        resized = (round(SHAPE[0] * CROP[1] / (SHAPE[1] * CROP_FACTOR)),
                   round(CROP[1] / CROP_FACTOR))
        top, left = (resized[0] - CROP[0]) // 2, (resized[1] - CROP[1]) // 2
        reference = keras.utils.image_dataset_from_directory(
            tmp, labels=None, image_size=resized, batch_size=BATCH, shuffle=True,
            verbose=False)
        reference = reference.map(
            lambda b: tf.image.crop_to_bounding_box(b, top, left, *CROP),
            num_parallel_calls=tf.data.AUTOTUNE).repeat(N_EPOCHS).prefetch(tf.data.AUTOTUNE)

        def drain(ds):
            def fn():
                count = sum(int(b.shape[0]) for b in ds)
                assert count == N_IMAGES * N_EPOCHS, count
            return fn

        drain(ours)(), drain(reference)()  # warm up: trace functions, fill the page cache
        rates, cpu = interleaved({"ours": drain(ours), "reference": drain(reference)},
                                 N_IMAGES * N_EPOCHS, 3, "pipeline")
    best = {name: max(r) for name, r in rates.items()}
    return {"name": "pipeline", "unit": "images/s", "ours": round(best["ours"], 1),
            "reference": round(best["reference"], 1),
            "ratio": round(best["ours"] / best["reference"], 2),
            "reference_impl": "keras.utils.image_dataset_from_directory + crop",
            # On a shared machine the best wall times are noisy: the medians and the CPU time
            # (all threads of the process) help to read them.
            "ratio_median": round(float(np.median(rates["ours"]) / np.median(rates["reference"])),
                                  2),
            "images_per_cpu_second_ratio": round(max(cpu["ours"]) / max(cpu["reference"]), 2),
            "images": N_IMAGES, "epochs": N_EPOCHS, "image_shape": list(SHAPE),
            "crop": list(CROP), "crop_factor": CROP_FACTOR, "batch_size": BATCH}
