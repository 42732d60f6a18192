"""Tests for libs.utils: to_uint8, montage, interp, slerp, make_latent_manifold, build_submission,
check_int and the command lines' argument types."""
import argparse
import contextlib
import hashlib
import json
import os
import stat
import zipfile

import imageio.v3 as iio
import numpy as np
import pytest

from libs import arguments, commands, files, utils


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Run every test inside tmp_path so default output names (montage.png) stay there."""
    monkeypatch.chdir(tmp_path)


# ---------------------------------------------------------------------------- to_uint8

@pytest.mark.parametrize("x, expected", [
    (np.array([0.0, 0.5, 1.0]), [0, 128, 255]),              # float [0, 1]
    (np.array([0.0, 127.0, 255.0]), [0, 127, 255]),          # float [0, 255], the pipeline's output
    (np.array([-1.0, 0.0, 1.0]), [0, 128, 255]),             # tanh output
    (np.array([10.0, 20.0, 1010.0]), [0, 3, 255]),           # own (min, max)
    (np.array([0, 100, 255], np.int64), [0, 100, 255]),      # ints in [0, 255]
    (np.array([False, True]), [0, 255]),
    (np.full(3, 300.0), [0, 0, 0]),                          # constant outside known ranges -> zeros
])
def test_to_uint8_inferred_ranges(x, expected):
    out = utils.to_uint8(x)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, expected)


def test_to_uint8_uint8_passes_through():
    x = np.array([[3, 200]], np.uint8)
    assert utils.to_uint8(x) is x


def test_to_uint8_explicit_range_clips():
    out = utils.to_uint8(np.array([-5.0, 0.0, 5.0, 10.0, 20.0]), value_range=(0, 10))
    np.testing.assert_array_equal(out, [0, 0, 128, 255, 255])


def test_to_uint8_rejects_nan_and_bad_range():
    with pytest.raises(ValueError, match="NaN"):
        utils.to_uint8(np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match=r"value_range=\(1, 1\)"):
        utils.to_uint8(np.zeros(2), value_range=(1, 1))
    with pytest.raises(ValueError, match="two numbers"):
        utils.to_uint8(np.zeros(2), value_range="ab")


# ---------------------------------------------------------------------------- montage

def _gray(n=4, h=2, w=3):
    return np.arange(n * h * w, dtype=np.float64).reshape(n, h, w) / (n * h * w - 1)


def test_montage_gray_layout_and_border():
    imgs = np.arange(4 * 2 * 3, dtype=np.uint8).reshape(4, 2, 3) + 1
    m = utils.montage(imgs, saveto=None)
    assert m.shape == (2 * 2 + 3, 3 * 2 + 3) and m.dtype == np.uint8
    # tile (i=1, j=0) is image 2, at rows 1+i+i*H .. 1+i+(i+1)*H, cols 1+j+j*W .. 1+j+(j+1)*W
    np.testing.assert_array_equal(m[4:6, 1:4], imgs[2])
    np.testing.assert_array_equal(m[4:6, 5:8], imgs[3])
    assert (m[0] == 128).all() and (m[:, 0] == 128).all() and (m[3] == 128).all() and (m[:, 4] == 128).all()
    assert (m[-1] == 128).all() and (m[:, -1] == 128).all()


def test_montage_channel_one_equals_gray():
    imgs = _gray()
    np.testing.assert_array_equal(utils.montage(imgs[..., None], saveto=None),
                                  utils.montage(imgs, saveto=None))


def test_montage_rgb_list_uint8():
    imgs = [np.full((2, 2, 3), (i, 2 * i, 3 * i), np.uint8) for i in range(1, 5)]
    m = utils.montage(imgs, saveto=None)
    assert m.shape == (7, 7, 3)
    np.testing.assert_array_equal(m[1:3, 4:6], imgs[1])
    assert (m[0] == 128).all()


@pytest.mark.parametrize("imgs, value", [
    (np.full((1, 2, 2), 1.0), 255),          # float [0, 1]
    (np.full((1, 2, 2), 255.0), 255),        # float [0, 255]
    (np.full((1, 2, 2), -1.0), 0),           # float [-1, 1]
    (np.full((1, 2, 2), 7, np.uint8), 7),    # uint8 unchanged
])
def test_montage_value_ranges(imgs, value):
    imgs = np.concatenate([imgs, np.zeros_like(imgs)])  # a 0 tile anchors the inferred range
    m = utils.montage(imgs, saveto=None)
    assert (m[1:3, 1:3] == value).all()


def test_montage_float_range_mid_values():
    m = utils.montage(np.array([[[-1.0, 0.0]], [[0.5, 1.0]]]), saveto=None)
    np.testing.assert_array_equal(m[1, 1:3], [0, 128])


def test_montage_non_square_count_leaves_gray_tiles():
    m = utils.montage(np.zeros((5, 2, 2)), saveto=None)
    assert m.shape == (3 * 2 + 4, 3 * 2 + 4)  # 3 x 3 grid
    assert (m[4:6, 4:6] == 0).all()           # image 4 at tile (1, 1)
    for rows, cols in [(slice(4, 6), slice(7, 9)), (slice(7, 9), slice(1, 3)), (slice(7, 9), slice(7, 9))]:
        assert (m[rows, cols] == 128).all()   # tiles 5..8 unused


def test_montage_columns_makes_strips():
    strip = utils.montage(np.arange(7.0)[:, None, None] * np.ones((7, 2, 3)) / 6, saveto=None,
                          columns=7)
    assert strip.shape == (2 + 2, 7 * 3 + 8)  # one row of 7: the order reads left to right
    np.testing.assert_array_equal(strip[1, 1::4], np.rint(np.arange(7) / 6 * 255))
    two_rows = utils.montage(np.zeros((5, 2, 2)), saveto=None, columns=3)
    assert two_rows.shape == (2 * 2 + 3, 3 * 2 + 4) and (two_rows[4:6, 7:9] == 128).all()
    with pytest.raises(ValueError, match="columns must be an integer >= 1"):
        utils.montage(np.zeros((5, 2, 2)), saveto=None, columns=0)

def test_montage_saves_png_equal_to_result(tmp_path):
    path = tmp_path / "sub" / "m.png"
    m = utils.montage(_gray(), saveto=path)
    np.testing.assert_array_equal(iio.imread(path), m)
    assert [p.name for p in path.parent.iterdir()] == ["m.png"]  # no temporary file left
    rgb = utils.montage(np.random.default_rng(0).random((3, 4, 4, 3)))  # default name in cwd
    np.testing.assert_array_equal(iio.imread(tmp_path / "montage.png"), rgb)


@pytest.mark.parametrize("imgs, match", [
    ([], "empty"),
    (np.zeros((0, 2, 2)), "non-empty"),
    (np.zeros((2, 2)), r"shape \(2, 2\)"),
    (np.zeros((2, 2, 2, 2, 1)), "5 dims"),
    (np.zeros((2, 2, 2, 4)), "4 channels"),
    ([np.zeros((2, 2)), np.zeros((2, 3))], r"image 1 has shape \(2, 3\)"),
])
def test_montage_bad_input(imgs, match):
    with pytest.raises(ValueError, match=match):
        utils.montage(imgs, saveto=None)


# ---------------------------------------------------------------------------- interp, slerp

def test_interp_endpoints_and_midpoint():
    l, r = np.array([0.0, 2.0, -4.0]), np.array([1.0, 4.0, 4.0])  # noqa: E741
    out = utils.interp(l, r, 5)
    assert out.shape == (5, 3)
    np.testing.assert_array_equal(out[0], l)
    np.testing.assert_array_equal(out[-1], r)
    np.testing.assert_allclose(out[2], [0.5, 3.0, 0.0])
    assert utils.interp(np.zeros((2, 2), np.float32), np.ones((2, 2), np.float32), 3).dtype == np.float32


def test_interp_bad_input():
    with pytest.raises(ValueError, match="n_samples must be an integer >= 2, got 1"):
        utils.interp(np.zeros(2), np.ones(2), 1)
    with pytest.raises(ValueError, match="same shape"):
        utils.interp(np.zeros(2), np.ones(3), 3)


def test_slerp_endpoints_and_unit_norm():
    low, high = np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.6, 0.8])
    np.testing.assert_allclose(utils.slerp(0.0, low, high), low, atol=1e-12)
    np.testing.assert_allclose(utils.slerp(1.0, low, high), high, atol=1e-12)
    mid = utils.slerp(0.5, low, high)
    np.testing.assert_allclose(np.linalg.norm(mid), 1.0)
    np.testing.assert_allclose(mid, (low + high) / np.linalg.norm(low + high))


def test_slerp_array_of_values_stacks():
    low, high = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    out = utils.slerp(np.linspace(0, 1, 5), low, high)
    assert out.shape == (5, 2)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0)
    np.testing.assert_allclose(out[2], utils.slerp(0.5, low, high))


def test_slerp_parallel_falls_back_to_lerp():
    low = np.array([1.0, 2.0])
    out = utils.slerp(0.25, low, 3 * low)
    np.testing.assert_allclose(out, 0.75 * low + 0.25 * 3 * low)
    assert np.isfinite(utils.slerp(0.5, np.zeros(2), low)).all()


def test_slerp_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        utils.slerp(0.5, np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match="1-D"):
        utils.slerp(np.zeros((2, 2)), np.ones(2), np.ones(2))


# ---------------------------------------------------------------------------- manifold

def test_make_latent_manifold_corners():
    corners = np.random.default_rng(0).normal(size=(4, 5))
    n = 3
    out = utils.make_latent_manifold(corners, n)
    assert out.shape == (n * n, 5)
    np.testing.assert_allclose(out[0], corners[0])            # top-left
    np.testing.assert_allclose(out[n - 1], corners[2])        # top-right
    np.testing.assert_allclose(out[n * (n - 1)], corners[1])  # bottom-left
    np.testing.assert_allclose(out[-1], corners[3])           # bottom-right
    np.testing.assert_allclose(out[4], corners.mean(axis=0))  # centre
    # same as the original's loop
    left, right = utils.interp(corners[0], corners[1], n), utils.interp(corners[2], corners[3], n)
    ref = np.vstack([utils.interp(left[i], right[i], n) for i in range(n)])
    np.testing.assert_allclose(out, ref)


def test_make_latent_manifold_bad_input():
    with pytest.raises(ValueError, match="4 latent vectors"):
        utils.make_latent_manifold(np.zeros((3, 2)), 3)
    with pytest.raises(ValueError, match="n_samples must be an integer >= 2, got 1"):
        utils.make_latent_manifold(np.zeros((4, 2)), 1)


# ---------------------------------------------------------------------------- build_submission

def test_build_submission_zips_required_and_existing_optional(tmp_path, capsys):
    (tmp_path / "part1.gif").write_bytes(b"gif")
    (tmp_path / "nb").mkdir()
    (tmp_path / "nb" / "part2.ipynb").write_text("{}")
    (tmp_path / "extra.png").write_bytes(b"png")
    (tmp_path / "unlisted.txt").write_text("no")
    out = utils.build_submission("hw/session-5.zip", ["part1.gif", "nb/part2.ipynb"],
                                 optional_file_list=["extra.png", "absent.png"])
    assert out == tmp_path / "hw" / "session-5.zip" and out.is_absolute()
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == ["MANIFEST.json", "extra.png", "nb/part2.ipynb", "part1.gif"]
        assert zf.read("nb/part2.ipynb") == b"{}"
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in zf.infolist())
    assert str(out) in capsys.readouterr().out
    assert [p.name for p in out.parent.iterdir()] == ["session-5.zip"]


def test_build_submission_of_parts_holds_a_manifest_and_names_the_missing_part(tmp_path):
    for name in ("p1.ipynb", "walk.gif", "p2.ipynb"):
        (tmp_path / name).write_bytes(name.encode())
    parts = {"Part 1": ["p1.ipynb", "walk.gif"], "Part 2": ["p2.ipynb", "samples.txt"]}
    with pytest.raises(FileNotFoundError, match=r"samples.txt \(Part 2\)") as err:
        utils.build_submission("session-5.zip", parts)
    assert "walk.gif" not in str(err.value) and not (tmp_path / "session-5.zip").exists()
    (tmp_path / "samples.txt").write_text("text")
    with zipfile.ZipFile(utils.build_submission("session-5.zip", parts)) as zf:
        manifest = json.loads(zf.read("MANIFEST.json"))["files"]
        assert zf.read("walk.gif") == b"walk.gif"
    assert manifest["walk.gif"] == {"part": "Part 1", "bytes": 8,
                                    "sha256": hashlib.sha256(b"walk.gif").hexdigest()}
    assert sorted(manifest) == ["p1.ipynb", "p2.ipynb", "samples.txt", "walk.gif"]
    assert manifest["samples.txt"]["part"] == "Part 2"


def test_build_submission_missing_files(tmp_path):
    (tmp_path / "part1.gif").write_bytes(b"gif")
    with pytest.raises(FileNotFoundError) as err:
        utils.build_submission("s.zip", ["part1.gif", "part2.gif", "part3.ipynb"])
    msg = str(err.value)
    assert "part2.gif (Part 2)" in msg and "part3.ipynb (Part 3)" in msg and "part1.gif" not in msg
    assert not (tmp_path / "s.zip").exists()


def test_build_submission_rejects_single_string():
    with pytest.raises(TypeError, match="list of file names"):
        utils.build_submission("s.zip", "part1.gif")


def test_build_submission_never_overwrites_a_file_it_zips(tmp_path):
    (tmp_path / "p1.ipynb").write_text("{}")
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="'p1.ipynb' would overwrite 'p1.ipynb'"):
        utils.build_submission("p1.ipynb", ["p1.ipynb"])
    with pytest.raises(ValueError, match="'notes.txt' would overwrite 'notes.txt'"):
        utils.build_submission("notes.txt", ["p1.ipynb"], ["notes.txt"])
    with pytest.raises(ValueError, match="would overwrite './p1.ipynb'"):  # the same file
        utils.build_submission(str(tmp_path / "p1.ipynb"), ["./p1.ipynb"])
    assert (tmp_path / "p1.ipynb").read_text() == "{}" and (tmp_path / "notes.txt").read_text() == "mine"


def test_build_submission_refuses_an_empty_list(tmp_path, capsys):
    with pytest.raises(ValueError, match="file_list is empty"):
        utils.build_submission("s.zip", [], ["optional.txt"])
    assert not (tmp_path / "s.zip").exists() and "Submit" not in capsys.readouterr().out


@contextlib.contextmanager
def _umask(mask):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_written_files_get_the_modes_of_a_normal_write(tmp_path, mask):
    with _umask(mask):
        (tmp_path / "p1.ipynb").write_text("{}")
        written = [files.write_bytes_atomic(tmp_path / "config.json", b"{}"),
                   utils.build_submission("s.zip", ["p1.ipynb"]),
                   *utils.save_samples(np.zeros((2, 4, 4, 1), np.uint8), tmp_path / "out")]
    for path in written:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~mask, path


# ---------------------------------------------------------------------------- checks


def test_check_int_accepts_integers_and_names_bad_values():
    assert arguments.check_int("n", np.int64(3)) == 3 and arguments.check_int("n", 0, low=0) == 0
    for bad in (0, 1.5, True, "2"):
        with pytest.raises(ValueError, match=r"n must be an integer >= 1"):
            arguments.check_int("n", bad)


def test_check_positive_accepts_finite_numbers_above_zero():
    assert arguments.check_positive("lr", 3) == 3.0 and arguments.check_positive("lr", np.float32(0.5)) == 0.5
    for bad in (0, -1.0, float("nan"), float("inf"), True, "2"):
        with pytest.raises(ValueError, match=r"lr must be a number > 0"):
            arguments.check_positive("lr", bad)


def test_arg_type_parses_and_names_bad_values():
    positive = arguments.arg_positive()
    assert positive("2.5") == 2.5 and arguments.arg_int(0)("0") == 0 and arguments.arg_int()("7") == 7
    for parse, text, rule in [(arguments.arg_int(), "-3", "an integer >= 1"),
                              (arguments.arg_int(), "2.5", "an integer >= 1"),
                              (arguments.arg_int(16), "8", "an integer >= 16"),
                              (positive, "0", "a number > 0"), (positive, "abc", "a number > 0"),
                              (positive, "inf", "a number > 0"), (positive, "nan", "a number > 0"),
                              (arguments.arg_type(float, "a number in [0, 1)", lambda v: 0 <= v < 1),
                               "1", "a number in [0, 1)")]:
        with pytest.raises(argparse.ArgumentTypeError) as error:
            parse(text)
        assert str(error.value) == f"{text!r} is not {rule}"
    parser = argparse.ArgumentParser()
    parser.add_argument("--n-cells", type=arguments.arg_int())
    assert parser.parse_args(["--n-cells", "4"]).n_cells == 4


@pytest.mark.parametrize("shape, value_range", [((3, 5, 4, 1), (-1, 1)), ((2, 5, 4, 3), None)])
def test_save_samples_writes_each_image_and_a_montage(tmp_path, shape, value_range):
    images = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    if value_range is None:
        images = ((images + 1) * 127.5).astype(np.uint8)
    paths = utils.save_samples(images, tmp_path / "out", value_range)
    assert [p.name for p in paths] == [f"sample_{i:04d}.png" for i in range(shape[0])] + \
        ["montage.png"]
    first = iio.imread(paths[0])
    np.testing.assert_array_equal(first, utils.to_uint8(images, value_range)[0].squeeze(-1)
                                  if shape[-1] == 1 else utils.to_uint8(images, value_range)[0])
    assert not list((tmp_path / "out").glob("*.tmp*"))


def test_save_samples_replaces_earlier_samples_only(tmp_path):
    out = tmp_path / "out"
    utils.save_samples(np.zeros((8, 4, 4, 1), np.uint8), out)
    (out / "canvas.gif").write_bytes(b"an earlier DRAW sample's")
    (out / ".sample_0003.png.1a2b3c4d.tmp").write_bytes(b"left by a crash")
    paths = utils.save_samples(np.full((2, 4, 4, 1), 255, np.uint8), out)
    assert sorted(out.iterdir()) == sorted(paths)  # sample_0002..0007 and the rest are gone
    assert iio.imread(out / "sample_0001.png").min() == 255
    (out / "thesis.tex").write_text("mine")
    (out / "photos").mkdir()
    with pytest.raises(ValueError, match="not earlier samples: photos, thesis.tex"):
        utils.save_samples(np.zeros((1, 4, 4, 1), np.uint8), out)
    assert len(list(out.iterdir())) == 5  # nothing written, nothing removed


def test_run_command_turns_library_errors_into_status_1(capsys):
    parser = argparse.ArgumentParser(prog="python -m libs.x")
    parser.add_subparsers(dest="command", required=True).add_parser("train")

    def bad(args):
        raise ValueError("n must be an integer >= 1, got 0")

    def bug(args):
        raise KeyError("a bug is not the user's input: it shows its traceback")

    assert commands.run_command(parser, ["train"], {"train": lambda args: print("done")}) == 0
    assert capsys.readouterr().out == "done\n"
    assert commands.run_command(parser, ["train"], {"train": bad}) == 1
    assert capsys.readouterr().err == ("python -m libs.x train: error: n must be an integer >= 1, "
                                       "got 0\n")
    with pytest.raises(KeyError):
        commands.run_command(parser, ["train"], {"train": bug})
