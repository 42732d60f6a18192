import matplotlib
import numpy as np
import pytest

from libs import nb_utils

matplotlib.use("agg")


@pytest.mark.parametrize("value, quick", [("1", True), ("true", True), ("0", False), ("", False)])
def test_quick_and_pick(monkeypatch, value, quick):
    monkeypatch.setenv("CADL_QUICK", value)
    assert nb_utils.quick() is quick
    assert nb_utils.pick(100, 3) == (3 if quick else 100)


def test_quick_defaults_to_full(monkeypatch):
    monkeypatch.delenv("CADL_QUICK", raising=False)
    assert nb_utils.quick() is False


def test_quick_refuses_other_values(monkeypatch):
    monkeypatch.setenv("CADL_QUICK", "yes please")
    with pytest.raises(ValueError, match="CADL_QUICK"):
        nb_utils.quick()


@pytest.mark.parametrize("shape", [(8, 8), (8, 8, 1), (8, 8, 3)])
def test_imshow_draws_the_image(shape, monkeypatch):
    import matplotlib.pyplot as plt

    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(plt.gcf()))
    nb_utils.imshow(np.random.default_rng(0).random(shape), title="t")
    (fig,) = shown
    (ax,) = fig.axes
    assert ax.get_title() == "t" and ax.images[0].get_array().shape[:2] == (8, 8)
    plt.close(fig)
