"""`make demo`: the library's main jobs on embedded data, with their pictures under outputs/.

    python -m libs.demo [--out outputs] [--quick] [pipeline gan charrnn draw vaegan]

Uses CelebA when it is in the data directory (see data/README.md), else the embedded faces.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def image_files() -> tuple[list[str], str, tuple[int, int]]:
    """(files, description, crop) of CelebA when present, else of the embedded faces."""
    from libs import datasets

    try:
        return datasets.CELEB(), "CelebA", (64, 64)
    except FileNotFoundError:
        return datasets.face_files(), "the embedded LFW faces (CelebA is not present)", (32, 32)


def pipeline(out: Path, quick: bool) -> list[Path]:
    """Batches from create_input_pipeline: a montage of one and a GIF across batches."""
    from tqdm.auto import tqdm

    from libs import dataset_utils, gif, utils

    files, source, crop = image_files()
    print(f"Input pipeline on {len(files)} images of {source}, cropped to {crop}")
    batches = dataset_utils.create_input_pipeline(files, batch_size=64, n_epochs=100,
                                                  crop_shape=crop, crop_factor=0.8, seed=0)
    frames = [utils.montage(batch.numpy(), saveto=None)
              for batch in tqdm(batches.take(4 if quick else 16), desc="batches", unit="batch",
                                total=4 if quick else 16)]
    montage = out / "pipeline_montage.png"
    utils.montage(next(iter(batches)).numpy(), saveto=montage)
    animation = out / "pipeline.gif"
    gif.build_gif(frames, interval=0.3, saveto=animation)
    return [montage, animation]


def gan(out: Path, quick: bool) -> list[Path]:
    """A short GAN run on the embedded faces: progress GIF, samples, an interpolation GIF."""
    from libs import gan as gans, latents

    settings = dict(image_size=16, n_features=4, steps=6, montage_every=2) if quick \
        else dict(gans.DEMO, montage_every=25)
    print(f"\nGAN on the embedded faces, {settings['steps']} steps (resumes if run again)")
    model, _ = gans.train("faces", out / "gan", **settings)
    samples = out / "gan_samples.png"
    gans.montage_of(model, latents.latent(64, model.config.n_latent, seed=1), samples)
    walk = out / "gan_interpolation.gif"
    gans.interpolation_gif(model, latents.latent(4, model.config.n_latent, seed=2), walk,
                           n_per_segment=2 if quick else 12)
    print("Sliced Wasserstein distance to the real faces (x1e3, lower is better):",
          round(gans.evaluate(model, "faces", n=64 if quick else 200)["swd_x1e3"], 1))
    return [out / "gan" / "progress.gif", samples, walk]


def charrnn(out: Path, quick: bool) -> list[Path]:
    """A short char-RNN run on the embedded corpus: samples at three temperatures, loss plot."""
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    from libs import charrnn, datasets

    settings = dict(steps=10, n_cells=16, n_layers=1, batch_size=8, sequence_length=16) \
        if quick else dict(steps=300, n_cells=128, n_layers=2, batch_size=64, sequence_length=64)
    print(f"\nchar-RNN on the embedded corpus, {settings['steps']} steps (resumes if run again)")
    model, history = charrnn.train(datasets.corpus(), out / "charrnn", sample_chars=0,
                                   eval_every=max(settings["steps"] // 4, 1), **settings)
    for temperature in (0.5, 1.0, 1.5):
        text = charrnn.sample(model, 80 if quick else 300, prime="The ",
                              temperature=temperature, seed=0)[0]
        print(f"--- temperature {temperature} ---\n{text}")
    plot = out / "charrnn_loss.png"
    ax = history.plot(["loss", "val_loss"])
    ax.set_ylabel("nats per character")
    ax.set_title("char-RNN: training and held-out loss")
    ax.figure.savefig(plot)
    plt.close(ax.figure)
    return [plot]


def draw(out: Path, quick: bool) -> list[Path]:
    """A short DRAW run on the embedded digits: the held-out bound before and after, samples
    and a GIF of the canvas filling in, step by step."""
    from libs import draw as draws
    from libs import utils

    # Full: the default model (the paper's MNIST network at T=10), about a minute on 2 CPU cores.
    settings = dict(T=3, enc_size=16, dec_size=16, n_latent=4, batch_size=8) if quick \
        else dict(T=10, enc_size=256, dec_size=256, batch_size=50)
    steps, n_eval, n_drawn = (3, 32, 16) if quick else (400, 500, 64)
    ckpt = out / "draw"
    print(f"\nDRAW on the embedded digits, {steps} steps (resumes if run again)")
    try:
        start = draws.load(ckpt)
    except FileNotFoundError:  # a new folder: the bound of an untrained model
        start = draws.DRAW(draws.DRAWConfig(**settings))
    before = draws.evaluate(start, "digits", n=n_eval)["nll_bound_nats"]
    model, _ = draws.train("digits", ckpt, steps=steps, **settings)
    after = draws.evaluate(model, "digits", n=n_eval)["nll_bound_nats"]
    print(f"Bound on -log p(x) of {n_eval} held-out digits, nats per digit (lower is better): "
          f"{before:.1f} at step {int(start.step.numpy())} -> {after:.1f} at step "
          f"{int(model.step.numpy())}")
    samples = out / "draw_samples.png"
    utils.montage(draws.sample(model, n_drawn, seed=0), saveto=samples)
    animation = out / "draw_canvas.gif"
    draws.canvas_gif(model, animation, n=n_drawn, seed=0)
    return [samples, animation]


def vaegan(out: Path, quick: bool) -> list[Path]:
    """A short VAE-GAN run on the embedded faces: its evaluation before and after, a progress
    GIF and a montage of real faces over their reconstructions, an interpolation GIF between
    two real faces."""
    import keras

    from libs import gif, images, utils
    from libs import vaegan as vaegans

    settings = dict(image_size=16, n_features=4, batch_size=8, steps=3, montage_every=1) \
        if quick else dict(vaegans.DEMO)
    size, n_eval = settings["image_size"], 64 if quick else 200
    ckpt = out / "vaegan"
    print(f"\nVAE-GAN on the embedded faces, {settings['steps']} steps (resumes if run again)")
    try:
        start = vaegans.load(ckpt)
    except FileNotFoundError:  # a new folder: the weights train() starts from
        config = vaegans.VAEGANConfig(**{k: v for k, v in settings.items()
                                         if k not in ("steps", "montage_every")})
        keras.utils.set_random_seed(config.seed)
        start = vaegans.VAEGAN(config)
    before = vaegans.evaluate(start, "faces", n=n_eval)
    model, _ = vaegans.train("faces", ckpt, **settings)
    after = vaegans.evaluate(model, "faces", n=n_eval)
    for key, what in (("reconstruction_mse", "reconstruction error (pixels in [0, 1])"),
                      ("swd_x1e3", "sliced Wasserstein distance of samples (x1e3)")):
        print(f"{what}, lower is better: {before[key]} at step {before['step']} -> "
              f"{after[key]} at step {after['step']}")
    faces = images.real_images(images.image_source("faces", size), size, 32, seed=5)
    recon = out / "vaegan_reconstructions.png"
    utils.montage(vaegans.real_and_reconstructed(model, faces), saveto=recon, value_range=(-1, 1))
    walk = out / "vaegan_interpolation.gif"
    path = vaegans.interpolate(model, faces[0], faces[1], n=3 if quick else 12)
    gif.build_gif(list(path) + list(path[::-1]), interval=0.15, dpi=72 * 4, saveto=walk,
                  value_range=(-1, 1))
    return [ckpt / "progress.gif", recon, walk]


JOBS = {"pipeline": pipeline, "gan": gan, "charrnn": charrnn, "draw": draw, "vaegan": vaegan}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m libs.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("outputs"), help="output folder")
    parser.add_argument("--quick", action="store_true", help="smallest settings (for tests)")
    parser.add_argument("jobs", nargs="*", metavar="JOB",
                        help=f"jobs to run, from {list(JOBS)}; default all")
    args = parser.parse_args(argv)
    unknown = [job for job in args.jobs if job not in JOBS]
    if unknown:
        parser.error(f"unknown job(s) {unknown}; choose from {list(JOBS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in args.jobs or list(JOBS):
        written += JOBS[name](args.out, args.quick)
    print("\nWritten:")
    for path in written:
        print(f"  {path}  ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    sys.exit(main())
