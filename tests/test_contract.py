"""The one model contract (libs/training.py's docstring), checked on every model module, so
that a fifth model cannot drift: the same names, signatures and return conventions."""
import dataclasses
import inspect
import json

import numpy as np
import pytest
import tensorflow as tf

from libs import charrnn, draw, gan, vaegan

TEXT = "the quick brown fox jumps over the lazy dog. " * 20
# (module, data, tiny settings, the amount sample() makes, what it returns)
MODELS = {
    "charrnn": (charrnn, TEXT, dict(n_cells=8, n_layers=1, batch_size=2, sequence_length=8,
                                    eval_every=10**6, sample_chars=0), 5, "text"),
    "gan": (gan, "faces", dict(image_size=16, n_features=4, n_latent=4, batch_size=8), 3,
            "images"),
    "draw": (draw, np.zeros((16, 8, 8, 1), np.uint8),
             dict(T=2, read_n=2, write_n=2, enc_size=8, dec_size=8, n_latent=2, batch_size=8),
             3, "images"),
    "vaegan": (vaegan, "faces", dict(image_size=16, n_features=4, n_latent=4, batch_size=8), 3,
               "images"),
}
TRAIN_KEYWORDS = ("steps", "seconds", "strategy", "callbacks", "progress", "checkpoint_every")


def parameters(function):
    return inspect.signature(function).parameters


@pytest.mark.parametrize("name", MODELS)
def test_module_names_and_signatures(name):
    module = MODELS[name][0]
    assert isinstance(module.MODEL_NAME, str) and dataclasses.is_dataclass(module.Config)
    train = parameters(module.train)
    assert list(train)[:2] == ["data", "ckpt_dir"]
    for keyword in TRAIN_KEYWORDS:
        assert train[keyword].kind is inspect.Parameter.KEYWORD_ONLY, keyword
    assert "config" not in train
    assert any(p.kind is inspect.Parameter.VAR_KEYWORD for p in train.values())
    assert list(parameters(module.load))[0] == "ckpt_dir"
    sample = parameters(module.sample)
    assert list(sample)[0] == "model" and "seed" in sample
    assert list(parameters(module.evaluate))[0] == "model"
    assert callable(module.main)


@pytest.mark.parametrize("name", MODELS)
def test_models_train_load_sample_and_evaluate_alike(name, tmp_path):
    module, data, settings, n, kind = MODELS[name]
    model, history = module.train(data, tmp_path / "ck", steps=2, progress=False, **settings)
    assert history.stop_reason == "steps" and int(model.step.numpy()) == 2
    held = model.trackables()
    assert held["step"] is model.step and held["step"].dtype == tf.int64
    assert any(isinstance(v, tf.random.Generator) for v in held.values())
    assert any("optimizer" in k for k in held)
    assert dataclasses.is_dataclass(model.config)
    loaded = module.load(tmp_path / "ck")
    assert int(loaded.step.numpy()) == 2 and loaded.config == model.config
    made = module.sample(loaded, n, seed=1)
    if kind == "images":
        assert made.dtype == np.uint8 and made.ndim == 4 and len(made) == n
        np.testing.assert_array_equal(made, module.sample(loaded, n, seed=1))
    else:
        assert isinstance(made, list) and all(isinstance(t, str) for t in made)
    figures = module.evaluate(loaded, data)
    assert isinstance(figures, dict) and json.dumps(figures)
