"""Tests for libs.paths: timing candidates, the cache of choices (written, read back, keyed by
shape, rebuilt when damaged), the overrides, and the GAN's "auto" (no timing under pytest); and
for importing libs keeping freed memory (CADL_KEEP_MEMORY)."""
import io
import json
import logging
import os
import platform
import subprocess
import sys
import time
import types

import keras
import numpy as np
import pytest

from libs import draw, gan, paths


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """The cache file in a fresh data directory; one step per run, one round (fast tests)."""
    monkeypatch.setenv("CADL_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(paths, "STEPS", 1)
    monkeypatch.setattr(paths, "ROUNDS", 1)
    return tmp_path / paths.CACHE_NAME


def sleeper(seconds):
    """make() of a candidate whose step takes `seconds`."""
    return lambda: ((lambda x: time.sleep(seconds)), None)


def refused():
    raise AssertionError("timed although a choice was cached")


def test_choose_times_caches_and_reads_back(cache, capsys):
    shape = {"image_size": 32, "batch_size": 64}
    assert paths.choose("test layers", {"slow": sleeper(0.03), "quick": sleeper(0)}, shape) == "quick"
    line = capsys.readouterr().out
    assert line.startswith("Timing the test layers on this machine (once): slow ")
    assert f"-> quick; cached in {cache}" in line
    (entry,) = json.loads(cache.read_text()).values()
    assert entry["choice"] == "quick" and set(entry["rates"]) == {"slow", "quick"}
    # Read back, without timing or printing.
    assert paths.choose("test layers", {"slow": refused, "quick": refused}, shape) == "quick"
    assert capsys.readouterr().out == ""
    # Another shape is another key: timed again, both kept.
    assert paths.choose("test layers", {"slow": sleeper(0.03), "quick": sleeper(0)},
                        {**shape, "batch_size": 8}) == "quick"
    keys = [json.loads(k) for k in json.loads(cache.read_text())]
    assert sorted(k["batch_size"] for k in keys) == [8, 64]
    assert all(k["cpu"] and k["cores"] >= 1 and k["tensorflow"] for k in keys)


def test_a_choice_cached_among_other_candidates_is_timed_again(cache, capsys):
    # A newer library with one more way to compute the step: the old choice is not taken.
    assert paths.choose("test step", {"one": sleeper(0), "two": sleeper(0.03)}, {}) == "one"
    assert paths.choose("test step", {"one": refused, "two": refused}, {}) == "one"
    capsys.readouterr()
    candidates = {"one": sleeper(0.03), "two": sleeper(0.03), "three": sleeper(0)}
    assert paths.choose("test step", candidates, {}, fallback="two") == "two"  # untimed: not it
    assert paths.choose("test step", candidates, {}) == "three"
    assert "Timing the test step" in capsys.readouterr().out
    (entry,) = json.loads(cache.read_text()).values()
    assert set(entry["rates"]) == {"one", "two", "three"}


@pytest.mark.parametrize("other_rate, chosen", [(102.0, "default"), (104.0, "other")])
def test_the_first_candidate_is_kept_unless_another_beats_it_by_the_margin(cache, monkeypatch,
                                                                            other_rate, chosen):
    monkeypatch.setattr(paths, "_time", lambda candidates, per_step: {"default": 100.0,
                                                                      "other": other_rate})
    assert paths.MARGIN == 0.03
    assert paths.choose("margin", {"default": refused, "other": refused}, {}) == chosen


@pytest.mark.parametrize("rates, chosen", [((90, 150, 153), "fast"), ((90, 150, 160), "xla"),
                                           ((160, 150, 163), "stock"), ((90, 90, 80), "stock")])
def test_the_first_candidate_within_the_margin_of_the_fastest_is_chosen(cache, monkeypatch,
                                                                        rates, chosen):
    names = ("stock", "fast", "xla")
    monkeypatch.setattr(paths, "_time", lambda candidates, per_step: dict(zip(names, rates)))
    assert paths.choose("three", {n: refused for n in names}, {}) == chosen


def test_a_fallback_times_nothing(cache, capsys):
    assert paths.choose("untimed", {"a": refused, "b": refused}, {}, fallback="b") == "b"
    assert not cache.exists() and capsys.readouterr().out == ""


@pytest.mark.parametrize("damage", [b"{not json", b"\xff\xfe", b"[1, 2]", b'{"k": {"rates": 1}}'])
def test_a_damaged_cache_is_reported_and_rebuilt(cache, capsys, damage):
    cache.write_bytes(damage)
    assert paths.choose("test layers", {"slow": sleeper(0.03), "quick": sleeper(0)}, {}) == "quick"
    assert f"The cache of timed choices {cache} is damaged" in capsys.readouterr().out
    assert [v["choice"] for v in json.loads(cache.read_text()).values()] == ["quick"]


def test_without_a_writable_data_directory_it_chooses_and_caches_nothing(cache, monkeypatch, capsys):
    def unwritable():
        raise PermissionError("The data directory /nowhere is not writable.")
    monkeypatch.setattr(paths, "data_dir", unwritable)
    assert paths.choose("test layers", {"slow": sleeper(0.03), "quick": sleeper(0)}, {}) == "quick"
    assert "-> quick; not cached (The data directory /nowhere is not writable.)" in capsys.readouterr().out


def test_overrides_argument_then_environment_then_library_setting(monkeypatch):
    monkeypatch.delenv("CADL_PATH", raising=False)
    assert paths.resolve("path") == "auto"
    monkeypatch.setitem(paths.DEFAULTS, "path", "fast")
    assert paths.resolve("path") == "fast"
    monkeypatch.setenv("CADL_PATH", "stock")
    assert paths.resolve("path") == "stock" and paths.resolve("path", "fast") == "fast"
    monkeypatch.setenv("CADL_PRECISION", "fp8")
    with pytest.raises(ValueError, match=r"precision must be one of auto, fp32, bf16, fp16, got "
                                         r"'fp8' \(from CADL_PRECISION\)"):
        paths.resolve("precision")


def test_the_gan_takes_the_override_and_times_nothing_under_pytest(cache, monkeypatch):
    monkeypatch.setenv("CADL_PATH", "stock")
    model = gan.GAN(gan.GANConfig(image_size=16, n_features=4, n_latent=4, batch_size=4))
    assert (model.path, model.precision) == ("stock", "fp32")
    monkeypatch.delenv("CADL_PATH")
    monkeypatch.delenv("CADL_PRECISION", raising=False)
    # Large enough to be timed, but this is pytest: "auto" takes the fixed choice.
    big = gan.GANConfig(image_size=32, n_features=4, n_latent=4, batch_size=32)
    assert not paths.may_time()
    assert (gan.GAN(big).path, gan.GAN(big).precision) == ("fast", "fp32") and not cache.exists()


def test_image_models_time_nothing_below_the_small_batch_size(cache, monkeypatch, capsys):
    monkeypatch.setattr(paths, "may_time", lambda: True)
    small = gan.GANConfig(image_size=16, n_features=4, n_latent=4, batch_size=4)
    assert not paths.large_batch(small)
    assert paths.large_batch(draw.DRAWConfig(batch_size=42))  # 42 * 28 * 28 >= 32 * 32 * 32
    assert not paths.large_batch(draw.DRAWConfig(batch_size=41))
    assert gan.speed_settings(small) == ("fast", "fp32")
    assert draw.speed_settings(draw.DRAWConfig(batch_size=4)) == ("stock", "fp32")
    assert "Timing" not in capsys.readouterr().out and not cache.exists()


def test_gan_auto_times_once_and_changes_no_weights(cache, monkeypatch, capsys):
    monkeypatch.setattr(paths, "may_time", lambda: True)
    monkeypatch.setattr(paths, "SMALL_BATCH_PIXELS", 0)
    config = gan.GANConfig(image_size=16, n_features=4, n_latent=4, batch_size=4)
    built = []
    for _ in range(2):  # timed, then read from the cache
        keras.utils.set_random_seed(0)
        built.append(gan.GAN(config, path="auto", precision="fp32"))
    timed, cached = built
    assert "Timing the GAN's path" in capsys.readouterr().out
    assert timed.path == cached.path and timed.path in ("stock", "fast", "xla")
    assert len(json.loads(cache.read_text())) == 1
    for a, b in zip(timed.generator.weights, cached.generator.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    gan.GAN(gan.GANConfig(**{**config.__dict__, "equilibrium": True}), path="auto", precision="fp32")
    assert "Timing the GAN's path" in capsys.readouterr().out  # the gates' step: its own key
    assert len(json.loads(cache.read_text())) == 2


def test_auto_precision_is_fp32_unless_another_is_faster(cache, monkeypatch):
    monkeypatch.setattr(paths, "may_time", lambda: True)
    monkeypatch.setattr(paths, "bf16_instructions", lambda: True)
    monkeypatch.setattr(paths, "SMALL_BATCH_PIXELS", 0)
    config = gan.GANConfig(image_size=16, n_features=4, n_latent=4, batch_size=4)
    for slow, chosen in (("bf16", "fp32"), ("fp32", "bf16")):
        def build(path, precision):  # a stand-in model whose step takes 30 ms in `slow`
            return types.SimpleNamespace(train_step=lambda x: time.sleep(0.03 * (precision == slow)))
        cache.unlink(missing_ok=True)
        assert gan.speed_settings(config, "stock", "auto", build=build) == ("stock", chosen)
        (key,) = map(json.loads, json.loads(cache.read_text()))
        assert key["name"] == "GAN's precision" and key["path"] == "stock"


def test_path_and_precision_both_auto_are_one_choice_among_every_pair(cache, monkeypatch, capsys):
    """The fastest pair need not be the fastest path's fastest precision: here "xla" wins in
    float32 and float32 wins on "xla", but "stock" in bfloat16 beats both."""
    monkeypatch.setattr(paths, "may_time", lambda: True)
    seconds = {("stock", "fp32"): 0.04, ("xla", "fp32"): 0.02, ("stock", "bf16"): 0.0,
               ("xla", "bf16"): 0.06}

    def make(path, precision):
        return (lambda x: time.sleep(seconds[path, precision])), None

    def settings(**kwargs):
        return paths.speed_settings("test", make, {"size": 1}, per_step=1,
                                    candidates=("stock", "xla"), fallback="xla", **kwargs)

    monkeypatch.setattr(paths, "bf16_instructions", lambda: True)
    assert settings(measure=False) == ("xla", "fp32") and not cache.exists()
    assert settings() == ("stock", "bf16")
    assert "Timing the test's path and precision on this machine (once): stock fp32 " \
        in capsys.readouterr().out
    (key, entry), = json.loads(cache.read_text()).items()
    assert json.loads(key)["name"] == "test's path and precision"
    assert set(entry["rates"]) == {"stock fp32", "xla fp32", "stock bf16", "xla bf16"}
    assert settings(measure=False) == ("stock", "bf16")  # cached: read back, not timed
    assert settings(distributed=True) == ("stock", "bf16")  # a cached pair without XLA holds
    # One asked: the other timed with it, under its own name.
    assert settings(precision="fp32") == ("xla", "fp32")
    assert "Timing the test's path on this machine" in capsys.readouterr().out
    # Without bfloat16 instructions, the paths in float32 alone.
    cache.unlink()
    monkeypatch.setattr(paths, "bf16_instructions", lambda: False)
    assert settings() == ("xla", "fp32")
    (key,) = map(json.loads, json.loads(cache.read_text()))
    assert key["name"] == "test's path" and key["precision"] == "fp32"


def test_timing_many_models_does_not_warn_of_retracing(cache):
    """Each candidate builds a model whose step is traced once; TensorFlow counts the traces of
    a class's step across models and warns from the fifth on, outside the timing as well."""
    import tensorflow as tf

    class Timed:
        @tf.function
        def step(self, x):
            return x + 1

    class Built:  # its own code: TensorFlow counts the traces by the step's code
        @tf.function
        def step(self, x):
            return x + 1

    def make():
        return Timed().step, tf.constant(1.0)

    warning, logged = "triggered tf.function retracing", io.StringIO()
    handler = logging.StreamHandler(logged)
    tf.get_logger().addHandler(handler)  # TensorFlow's logger does not propagate to pytest's
    try:
        paths.choose("test", {f"model {i}": make for i in range(7)}, {"size": 1})
        assert warning not in logged.getvalue()
        for _ in range(7):  # such models built outside the timing: warned
            Built().step(tf.constant(1.0))
        assert warning in logged.getvalue()
    finally:
        tf.get_logger().removeHandler(handler)


def test_bf16_instructions_come_from_the_cpu_flags_and_decide_whether_bf16_is_timed(
        cache, monkeypatch, tmp_path):
    assert paths.bf16_instructions() in (True, False, None)  # this machine's, whatever it is
    for i, (text, expected) in enumerate([
            ("flags\t: fpu avx2 fma\n", False), ("flags : avx2 avx512_bf16\n", True),
            ("Features\t: fp asimd bf16\n", True), ("processor : 0\n", None)]):
        (tmp_path / f"cpuinfo{i}").write_text(text)
        assert paths.bf16_instructions(str(tmp_path / f"cpuinfo{i}")) is expected, text
    assert paths.bf16_instructions(str(tmp_path / "none")) is None  # no such file: not Linux
    monkeypatch.setattr(paths, "bf16_instructions", lambda: False)
    assert paths.choose_precision("test", refused, {"size": 1}, per_step=1) == "fp32"
    assert not cache.exists()  # nothing timed, nothing cached


def test_the_cpu_model_has_its_family_and_model_numbers_which_key_the_cache(tmp_path):
    """Two generations that a virtual machine names alike ("AMD EPYC") get different keys."""
    block = "processor\t: {}\nvendor_id\t: AuthenticAMD\ncpu family\t: {}\nmodel\t\t: {}\n" \
            "model name\t: AMD EPYC\n\n"
    names = []
    for family, model in (("23", "49"), ("26", "2")):
        path = tmp_path / f"cpuinfo{family}"
        path.write_text(block.format(0, family, model) + block.format(1, family, model))
        names.append(paths.cpu_model(str(path)))
    assert names == ["AMD EPYC, cpu family 23, model 49", "AMD EPYC, cpu family 26, model 2"]
    (tmp_path / "arm").write_text("processor\t: 0\nBogoMIPS\t: 50.00\n\n")
    assert paths.cpu_model(str(tmp_path / "arm")) == (platform.processor() or platform.machine())
    assert paths.cpu_model(str(tmp_path / "none")) == (platform.processor() or platform.machine())
    assert paths.machine()["cpu"] == paths.cpu_model()  # what the cache's keys hold


def test_precision_scope_restores_the_policy():
    with pytest.raises(RuntimeError), paths.precision_scope("bf16"):
        assert keras.config.dtype_policy().name == "mixed_bfloat16"
        raise RuntimeError
    assert keras.config.dtype_policy().name == "float32"
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16, fp16 here, got 'auto'"):
        with paths.precision_scope("auto"):
            pass


MAPPED_BLOCKS = """
import ctypes, sys
import numpy as np
import libs

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
mallinfo2.restype = MallInfo2
before = mallinfo2().hblks
block = np.ones(48 * 2**20 // 8)  # 48 MB, above glibc's largest mmap threshold (32 MB)
print(libs.KEEPS_FREED_MEMORY, mallinfo2().hblks - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
@pytest.mark.parametrize("setting, kept", [(None, True), ("1", True), ("0", False)])
def test_importing_libs_keeps_freed_memory_unless_told_not_to(setting, kept):
    """A large block comes from the heap (no mapping of its own) once libs is imported, unless
    CADL_KEEP_MEMORY=0."""
    env = {k: v for k, v in os.environ.items() if k != "CADL_KEEP_MEMORY"}
    if setting is not None:
        env["CADL_KEEP_MEMORY"] = setting
    out = subprocess.run([sys.executable, "-c", MAPPED_BLOCKS], env=env, capture_output=True,
                         text=True, timeout=60, check=True).stdout.split()
    assert out == (["True", "0"] if kept else ["False", "1"])


def test_a_bad_keep_memory_setting_names_the_valid_ones():
    env = dict(os.environ, CADL_KEEP_MEMORY="yes")
    run = subprocess.run([sys.executable, "-c", "import libs"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode != 0
    assert "CADL_KEEP_MEMORY must be 0 (let the C library return freed memory) or 1" in run.stderr
    assert "got 'yes'" in run.stderr


def test_the_command_lists_this_machines_choices_and_forgets_them(cache, capsys):
    assert paths.choose("test layers", {"slow": sleeper(0.03), "quick": sleeper(0)},
                        {"image_size": 32}) == "quick"
    other = json.dumps({"name": "test layers", **paths.machine(), "cpu": "another CPU"})
    cache.write_text(json.dumps({**json.loads(cache.read_text()),
                                 other: {"choice": "slow", "rates": {"slow": 1.0}}}))
    keep = cache.parent / "faces.npz"  # data the cache shares its folder with
    keep.write_bytes(b"not the library's cache")
    capsys.readouterr()
    assert paths.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"1 choice timed on this machine ({paths.machine()['cpu']}")
    assert "  test layers: quick  (quick " in out and "    for image_size=32" in out
    assert "(1 more from other machines or TensorFlow versions.)" in out
    assert paths.main(["--forget"]) == 0
    assert capsys.readouterr().out == f"Deleted {cache}.\n" and not cache.exists()
    assert paths.main(["--forget"]) == 0
    assert "Nothing to delete" in capsys.readouterr().out and keep.exists()
