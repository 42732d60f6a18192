"""The pretrained models: each ships, loads through its module's `load`, and reproduces the
evaluation its manifest recorded; damaged files are named; `make` exports what it trained."""
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from libs import pretrained

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_every_recipe_has_a_shipped_model():
    assert pretrained.names() == sorted(pretrained.RECIPES)


@pytest.mark.parametrize("name", sorted(pretrained.RECIPES))
def test_pretrained_model_reloads_and_reproduces_its_figures(name):
    entry = pretrained.info(name)
    model = pretrained.load(name)
    assert int(model.step.numpy()) == entry["step"]
    figures = pretrained.evaluate(name, model)
    for key, recorded in entry["figures"].items():
        np.testing.assert_allclose(figures[key], recorded, rtol=1e-2, err_msg=key)  # CPUs differ
    size = sum(p.stat().st_size for p in (pretrained.PRETRAINED_DIR / name).iterdir())
    assert size < 4 * 2**20, f"{name} takes {size / 2**20:.1f} MiB"


def test_all_pretrained_models_fit_the_budget():
    size = sum(p.stat().st_size for p in pretrained.PRETRAINED_DIR.rglob("*") if p.is_file())
    assert size < 10 * 2**20


def test_damaged_or_unknown_models_are_named(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"no pretrained model 'nope'; there are: charrnn"):
        pretrained.info("nope")
    copy = tmp_path / "pretrained"
    shutil.copytree(pretrained.PRETRAINED_DIR, copy)
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", copy)
    monkeypatch.setattr(pretrained, "MANIFEST", copy / "manifest.json")
    config = copy / "gan" / "config.json"
    config.write_text(config.read_text() + " ")
    with pytest.raises(OSError, match=r"the pretrained gan is damaged: .*config.json has "):
        pretrained.load("gan")


def test_make_trains_evaluates_exports_and_records(tmp_path, monkeypatch):
    folder = tmp_path / "pretrained"
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", folder)
    monkeypatch.setattr(pretrained, "MANIFEST", folder / "manifest.json")
    command = ("python -m libs.draw train --data digits --ckpt {ckpt} --steps 2 --T 2 "
               "--enc-size 8 --dec-size 8 --n-latent 2 --batch-size 4")
    monkeypatch.setitem(pretrained.RECIPES, "draw", ("draw", command, "draw.evaluate(...)"))
    entry = pretrained.make("draw", work=tmp_path / "work")
    assert entry["step"] == 2 and entry["command"].startswith("python -m libs.draw train")
    assert set(entry["files"]) == {p.name for p in (folder / "draw").iterdir()}
    saved = [name for name, _ in tf.train.list_variables(str(folder / "draw" / "ckpt-2"))]
    assert saved and not any("optimizer" in name or name.startswith("rng") for name in saved)
    recorded = json.loads((folder / "manifest.json").read_text())["draw"]
    model = pretrained.load("draw")
    assert pretrained.evaluate("draw", model) == pytest.approx(recorded["figures"], rel=1e-4)


def test_make_interrupted_by_sigterm_exports_nothing(tmp_path):
    """A real SIGTERM while the recipe trains: training saves and stops, and `make` refuses to
    export the half-trained model or touch the manifest."""
    folder, work = tmp_path / "pretrained", tmp_path / "work"
    script = f"""
import pathlib, sys
from libs import pretrained
folder = pathlib.Path({str(folder)!r})
pretrained.PRETRAINED_DIR, pretrained.MANIFEST = folder, folder / "manifest.json"
pretrained.RECIPES["draw"] = ("draw", "python -m libs.draw train --data digits --ckpt {{ckpt}} "
                              "--steps 1000000 --T 2 --enc-size 8 --dec-size 8 --n-latent 2 "
                              "--batch-size 4 --checkpoint-every 5", "draw.evaluate(...)")
try:
    pretrained.make("draw", work=pathlib.Path({str(work)!r}))
except RuntimeError as e:
    print("refused:", e)
    sys.exit(3)
"""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    deadline = time.monotonic() + 120
    while not list((work / "draw").glob("ckpt-*.index")) and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err[-2000:]
    assert "was interrupted: nothing exported, the manifest is unchanged" in out
    assert not folder.exists() or not any(folder.iterdir())
