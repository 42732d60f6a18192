"""`make demo` writes its pictures and lists them."""
import os
import subprocess
import sys

import imageio.v3 as iio


def test_demo_writes_outputs(tmp_path):
    env = dict(os.environ, CADL_DATA_DIR=str(tmp_path / "data"), TF_CPP_MIN_LOG_LEVEL="2")
    out = tmp_path / "outputs"
    run = subprocess.run([sys.executable, "-m", "libs.demo", "--quick", "--out", str(out)],
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    montage, animation = out / "pipeline_montage.png", out / "pipeline.gif"
    assert iio.imread(montage).ndim >= 2
    assert iio.improps(animation, index=None).shape[0] >= 2  # several frames
    assert str(montage) in run.stdout and str(animation) in run.stdout
    assert iio.improps(out / "gan" / "progress.gif", index=None).shape[0] >= 2
    assert iio.imread(out / "gan_samples.png").ndim >= 2
    assert (out / "charrnn_loss.png").stat().st_size > 0
    assert "temperature 1.5" in run.stdout
    draw_samples, draw_canvas = out / "draw_samples.png", out / "draw_canvas.gif"
    assert iio.imread(draw_samples).ndim >= 2
    assert iio.improps(draw_canvas, index=None).shape[0] >= 2  # one frame per drawing step
    assert str(draw_samples) in run.stdout and str(draw_canvas) in run.stdout
    assert "held-out digits" in run.stdout and "at step 0 ->" in run.stdout
    recon, walk = out / "vaegan_reconstructions.png", out / "vaegan_interpolation.gif"
    assert iio.imread(recon).shape == (8 * 16 + 9, 8 * 16 + 9)  # 32 real over 32 reconstructed
    assert iio.improps(walk, index=None).shape[0] >= 2
    assert iio.improps(out / "vaegan" / "progress.gif", index=None).shape[0] >= 2
    assert "reconstruction error" in run.stdout and str(recon) in run.stdout
    # Run the DRAW job again: it resumes its checkpoint folder, already at its step.
    again = subprocess.run([sys.executable, "-m", "libs.demo", "--quick", "--out", str(out),
                            "draw"], env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "already at step 3" in again.stdout and "at step 3 ->" in again.stdout


def test_demo_refuses_unknown_job(tmp_path):
    run = subprocess.run([sys.executable, "-m", "libs.demo", "--out", str(tmp_path), "nope"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "unknown job" in run.stderr
