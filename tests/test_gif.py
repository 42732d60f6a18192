"""Tests for libs.gif: build_gif writes a looping GIF with the right frames and timing; show displays."""
import base64
import io

import imageio
import imageio.v3 as iio
import IPython.display
import numpy as np
import pytest
from PIL import Image

from libs import gif


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Run every test inside tmp_path so default output names (animation.gif) stay there."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def shown(monkeypatch):
    """Capture what would be displayed inline instead of displaying it."""
    captured = []
    monkeypatch.setattr(IPython.display, "display", captured.append)
    return captured


def _frames(n=4, h=6, w=5):
    """Distinct grayscale float frames in [0, 1] (Pillow would merge identical consecutive frames)."""
    return np.linspace(0, 1, n * h * w).reshape(n, h, w)


def _read_gif(path_or_bytes):
    src = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    with Image.open(src) as im:
        durations = []
        for i in range(im.n_frames):
            im.seek(i)
            durations.append(im.info["duration"])
        im.seek(0)
        return im.n_frames, durations, im.info.get("loop"), im.size


def test_build_gif_writes_looping_gif(tmp_path):
    path = tmp_path / "out" / "anim.gif"
    out = gif.build_gif(_frames(), interval=0.25, saveto=path)
    assert out.dtype == np.uint8 and out.shape == (4, 6, 5)
    n_frames, durations, loop, size = _read_gif(path)
    assert n_frames == 4 and durations == [250] * 4 and loop == 0 and size == (5, 6)
    assert [p.name for p in path.parent.iterdir()] == ["anim.gif"]  # no temporary file left
    with Image.open(path) as im:
        im.seek(2)
        np.testing.assert_array_equal(np.asarray(im.convert("L")), out[2])


def test_build_gif_default_name_and_common_range(tmp_path):
    frames = np.stack([np.full((3, 3), 0.2), np.full((3, 3), 0.4), np.full((3, 3), 0.6)])
    out = gif.build_gif(frames)
    assert (tmp_path / "animation.gif").is_file()
    # one range (0, 1) for all frames: constant frames keep their distinct brightness
    np.testing.assert_array_equal(out[:, 0, 0], [51, 102, 153])


def test_build_gif_rgb_and_channel_one(tmp_path):
    rgb = np.zeros((3, 4, 4, 3), np.uint8)
    rgb[:, :, :, 0] = np.arange(3)[:, None, None] * 100
    out = gif.build_gif(list(rgb), saveto=tmp_path / "rgb.gif")
    assert out.shape == (3, 4, 4, 3)
    assert _read_gif(tmp_path / "rgb.gif")[0] == 3
    gray = gif.build_gif(_frames()[..., None], save_gif=False)
    assert gray.shape == (4, 6, 5)
    narrow = gif.build_gif(_frames(w=3), saveto=tmp_path / "narrow.gif")  # (N, H, 3) is gray, not RGB
    assert narrow.shape == (4, 6, 3) and _read_gif(tmp_path / "narrow.gif")[0] == 4


def test_build_gif_dpi_144_doubles_size(tmp_path):
    out = gif.build_gif(_frames(), dpi=144, saveto=tmp_path / "big.gif")
    assert out.shape == (4, 12, 10)
    np.testing.assert_array_equal(out[:, ::2, ::2], gif.build_gif(_frames(), save_gif=False))
    assert _read_gif(tmp_path / "big.gif")[3] == (10, 12)
    assert gif.build_gif(_frames(), dpi=108, save_gif=False).shape == (4, 9, 8)  # 1.5x, nearest neighbour


def test_build_gif_cmap_makes_rgb(tmp_path):
    out = gif.build_gif(_frames(), cmap="viridis", saveto=tmp_path / "c.gif")
    assert out.shape == (4, 6, 5, 3) and out.dtype == np.uint8
    assert not (out[..., 0] == out[..., 1]).all()  # really coloured
    with Image.open(tmp_path / "c.gif") as im:
        assert im.convert("RGB").size == (5, 6)


def test_build_gif_show_without_saving(tmp_path, shown):
    out = gif.build_gif(_frames(), show_gif=True, save_gif=False)
    assert list(tmp_path.iterdir()) == []
    assert len(shown) == 1 and isinstance(shown[0], gif.Picture)
    assert shown[0].format == "gif"
    n_frames, durations, loop, _ = _read_gif(shown[0].data)
    assert n_frames == len(out) and durations == [100] * 4 and loop == 0


@pytest.mark.parametrize("imgs, kwargs, match", [
    ([], {}, "empty"),
    ([np.zeros((4, 4)), np.zeros((4, 4)), np.zeros((4, 5))], {},
     r"frame 2 has shape \(4, 5\).*frame 0 has shape \(4, 4\)"),
    (np.zeros((2, 4, 4, 2)), {}, "2 channels"),
    (np.zeros((4, 4)), {}, "expected"),
    (np.zeros((2, 4, 4)), {"interval": 0}, "interval=0"),
    (np.zeros((2, 4, 4)), {"dpi": -72}, "dpi=-72"),
    (np.zeros((2, 4, 4, 3)), {"cmap": "gray"}, "grayscale"),
    (np.zeros((2, 4, 4)), {"cmap": "no-such-map"}, "not a matplotlib colormap"),
    (np.array([np.zeros((2, 2)), np.full((2, 2), np.nan)]), {}, "NaN"),
])
def test_build_gif_bad_input(tmp_path, imgs, kwargs, match):
    with pytest.raises(ValueError, match=match):
        gif.build_gif(imgs, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_show_path_and_bytes(tmp_path, shown):
    path = tmp_path / "a.gif"
    gif.build_gif(_frames(), saveto=path)
    img = gif.show(path)
    assert shown == [img] and img.format == "gif" and img.data == path.read_bytes()
    png = iio.imwrite("<bytes>", np.zeros((3, 300), np.uint8), extension=".png")
    assert gif.show(png).format == "png"
    with pytest.raises(ValueError, match="neither a GIF nor a PNG"):
        gif.show(b"hello")
    with pytest.raises(FileNotFoundError, match="missing.gif"):
        gif.show(tmp_path / "missing.gif")


def test_shown_gif_renders_as_html_too(shown):
    """nbconvert's HTML and static viewers do not render image/gif: an <img> goes alongside."""
    out = gif.build_gif(_frames(), save_gif=False, show_gif=True, interval=0.25)
    picture = shown[0]
    bundle, metadata = picture._repr_mimebundle_()
    b64 = base64.b64encode(picture.shown).decode()
    assert bundle["image/gif"] == b64
    assert bundle["text/html"].startswith(f'<img src="data:image/gif;base64,{b64}"')
    # 5x6 pixels: enlarged by the smallest whole factor reaching 256 (52), each pixel repeated
    assert 'width="260" height="312"' in bundle["text/html"] and "pixelated" in bundle["text/html"]
    assert metadata == {"image/gif": {"width": 260, "height": 312}}
    assert "IPython" not in bundle["text/plain"]
    n_frames, durations, loop, size = _read_gif(picture.shown)
    assert (n_frames, durations, loop, size) == (4, [250] * 4, 0, (260, 312))
    enlarged = iio.imread(picture.shown, extension=".gif", index=None)
    enlarged = enlarged if enlarged.ndim == 3 else enlarged[..., 0]
    np.testing.assert_array_equal(enlarged, np.repeat(np.repeat(out, 52, axis=1), 52, axis=2))


def test_large_pictures_are_shown_as_they_are(shown):
    frames = np.random.default_rng(0).random((2, 300, 300))
    gif.build_gif(frames, save_gif=False, show_gif=True)
    assert shown[0].shown is shown[0].data and shown[0].width == 300


@pytest.mark.parametrize("width, shown_size", [(None, (300, 3)), (100, (100, 1)), (600, (600, 6))])
def test_show_width(shown, width, shown_size):
    png = iio.imwrite("<bytes>", np.zeros((3, 300), np.uint8), extension=".png")
    picture = gif.show(png, width=width)
    assert picture.size == (300, 3) and (picture.width, picture.height) == shown_size


def test_show_refuses_a_bad_width(shown):
    with pytest.raises(ValueError, match="width=0"):
        gif.show(iio.imwrite("<bytes>", np.zeros((3, 3), np.uint8), extension=".png"), width=0)
    assert shown == []


@pytest.mark.parametrize("kind", ["gray", "rgb"])
def test_written_gif_reads_back_with_imageio(tmp_path, kind):
    # Frame 0 holds all 256 grays, frame 1 only the even ones: Pillow's optimize gave frame 1 a
    # palette of its own that imageio's reader failed on ("No packer found from P to L").
    ramp = np.arange(256, dtype=np.uint8).reshape(16, 16)
    frames = np.stack([ramp, ramp // 2 * 2, ramp[::-1]])
    if kind == "rgb":
        frames = np.stack([frames, 255 - frames, frames // 2], axis=-1)
    path = tmp_path / f"{kind}.gif"
    out = gif.build_gif(frames, saveto=path)
    for read in (imageio.mimread(path), iio.imread(path)):
        read = np.asarray(read)
        assert read.shape[:3] == (3, 16, 16)
        if kind == "gray":  # 256 grays or fewer per frame: exact
            np.testing.assert_array_equal(read if read.ndim == 3 else read[..., 0], out)


def test_show_gif_without_ipython(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_ipython(name, *args, **kwargs):
        if name.startswith("IPython"):
            raise ImportError("no IPython")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ipython)
    with pytest.raises(ImportError, match="pip install ipython"):
        gif.build_gif(_frames(), show_gif=True, save_gif=False)


def test_small_png_is_shown_enlarged(shown):
    image = np.arange(30, dtype=np.uint8).reshape(3, 10) * 8
    picture = gif.show(iio.imwrite("<bytes>", image, extension=".png"))
    assert (picture.width, picture.height) == (260, 78)
    np.testing.assert_array_equal(iio.imread(picture.shown),
                                  np.repeat(np.repeat(image, 26, axis=0), 26, axis=1))


def test_progress_strip_puts_evenly_spaced_montages_side_by_side(tmp_path):
    folder = tmp_path / "progress"
    folder.mkdir()
    for step in range(0, 101, 10):  # 11 montages of 5x7, each filled with its step
        iio.imwrite(folder / f"step_{step:06d}.png", np.full((5, 7), step, np.uint8))
    strip, steps = gif.progress_strip(folder, 5)
    assert steps == [0, 20, 50, 80, 100]  # the first and the last always
    assert strip.shape == (5 + 2, 5 * 7 + 6) and strip.dtype == np.uint8
    for k, step in enumerate(steps):  # in order, one gray line apart
        np.testing.assert_array_equal(strip[1:6, 1 + 8 * k:8 + 8 * k], step)
    assert gif.progress_strip(folder, 1)[1] == [100]  # one: the last
    assert gif.progress_strip(folder, 50)[1] == list(range(0, 101, 10))  # no more than there are
    with pytest.raises(ValueError, match="n must be"):
        gif.progress_strip(folder, 0)
    with pytest.raises(FileNotFoundError, match="no progress montages"):
        gif.progress_strip(tmp_path, 3)
