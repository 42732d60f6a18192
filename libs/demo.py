"""`make demo`: the library's main jobs on embedded data, with their pictures under outputs/.

    python -m libs.demo [--out outputs] [--quick]

Uses CelebA when it is in the data directory (see data/README.md), else the embedded faces.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


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


JOBS = {"pipeline": pipeline}


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
