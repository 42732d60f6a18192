"""Tests for libs.sound: WAV reading and writing, resampling, mu-law symbols, the example; offline."""
import hashlib
import os
import struct
import wave

import numpy as np
import pytest

from libs import sound

WORKS = "an 8- or 16-bit PCM WAV file is what works"


@pytest.fixture(autouse=True)
def data_home(tmp_path, monkeypatch):
    """Every test gets its own data directory; nothing is written to the repository's data/."""
    monkeypatch.setenv("CADL_DATA_DIR", str(tmp_path / "cadl-data"))
    return tmp_path / "cadl-data"


def tone(freq, rate, seconds=1.0, amplitude=0.5):
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate)).astype(np.float32)


def peak_hz(x, rate):
    return np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(np.abs(np.fft.rfft(x)))]


def riff(format_tag, channels, rate, bits, data):
    """A WAV file's bytes, header written by hand: format 1 is PCM, 3 is IEEE float."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", format_tag, channels, rate, rate * block, block, bits)
    body = b"WAVEfmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def compress(x, mu=255):  # the mu-law formula, written out again
    return np.sign(x) * np.log(1 + mu * np.abs(x)) / np.log(1 + mu)


def test_mu_law_follows_the_formula():
    x = np.linspace(-1, 1, 2001)
    np.testing.assert_array_equal(sound.mu_law_encode(x), np.floor((compress(x) + 1) / 2 * 255 + 0.5))
    assert sound.mu_law_encode(x).dtype == np.uint8
    np.testing.assert_array_equal(sound.mu_law_encode([-1.5, -1, 0, 1, 2]), [0, 0, 128, 255, 255])
    y = 2 * np.arange(256) / 255 - 1
    np.testing.assert_allclose(sound.mu_law_decode(np.arange(256, dtype=np.uint8)),
                               np.sign(y) * (256 ** np.abs(y) - 1) / 255, rtol=1e-6, atol=1e-9)
    assert sound.mu_law_decode([0, 255]).tolist() == [-1, 1] and sound.mu_law_decode([0]).dtype == np.float32


def test_mu_law_round_trip_is_within_one_quantisation_step():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-1, 1, 10000), rng.uniform(-0.01, 0.01, 10000)])
    back = sound.mu_law_decode(sound.mu_law_encode(x)).astype(np.float64)
    assert np.abs(compress(x) - compress(back)).max() <= 1 / 255 + 1e-6   # half a step of 2/255
    assert np.abs(x - back).max() < 0.022 and np.abs(x - back)[10000:].max() < 4e-4   # steps grow with |x|
    codes = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(sound.mu_law_encode(sound.mu_law_decode(codes)), codes)
    small = sound.mu_law_encode(x, mu=15)
    assert small.max() == 15 and np.abs(sound.mu_law_decode(small, mu=15) - x).max() < 0.2


def test_mu_law_refuses_bad_mu_and_codes():
    for mu in (0, 256, 2.5):
        with pytest.raises(ValueError, match="mu must be an integer in 1..255"):
            sound.mu_law_encode([0.0], mu=mu)
    with pytest.raises(ValueError, match="codes must be in 0..15, got 0..16"):
        sound.mu_law_decode([0, 16], mu=15)


def test_read_wav_reads_8_and_16_bit_mono_and_stereo(tmp_path):
    with wave.open(str(tmp_path / "u8.wav"), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(1)
        w.setframerate(11025)
        w.writeframes(bytes([128, 128, 255, 191, 0, 64]))   # frames: (0, 0), (.99, .49), (-1, -.5)
    x, rate = sound.read_wav(tmp_path / "u8.wav")
    assert rate == 11025 and x.dtype == np.float32
    np.testing.assert_allclose(x, [0, (127 + 63) / 256, -0.75])
    (tmp_path / "s16.wav").write_bytes(riff(1, 1, 16000, 16, np.array([0, 16384, -32768], "<i2").tobytes()))
    x, rate = sound.read_wav(tmp_path / "s16.wav")
    assert rate == 16000 and x.tolist() == [0, 0.5, -1]


def test_resample_keeps_length_and_pitch_and_removes_what_cannot_be_held():
    x = tone(1000, 16000)
    y = sound.resample(x, 16000, 8000)
    assert y.shape == (8000,) and y.dtype == np.float32 and peak_hz(y, 8000) == 1000
    assert abs(np.sqrt(np.mean(y[100:-100] ** 2)) / np.sqrt(np.mean(x ** 2)) - 1) < 0.02
    high = sound.resample(tone(6000, 16000), 16000, 8000)      # would alias to 2 kHz
    assert np.sqrt(np.mean(high ** 2)) < 0.01
    assert sound.resample(np.zeros(1000), 44100, 8000).shape == (181,)
    up = sound.resample(tone(500, 8000), 8000, 16000)
    assert up.shape == (16000,) and peak_hz(up, 16000) == 500


def test_wav_errors_name_the_file_and_what_works(tmp_path):
    (tmp_path / "text.wav").write_text("not a sound")
    (tmp_path / "float.wav").write_bytes(riff(3, 1, 8000, 32, np.zeros(100, "<f4").tobytes()))
    with wave.open(str(tmp_path / "24bit.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(3)
        w.setframerate(8000)
        w.writeframes(bytes(300))
    (tmp_path / "empty.wav").write_bytes(riff(1, 1, 8000, 16, b""))
    (tmp_path / "zero.wav").write_bytes(b"")
    messages = {"text.wav": "is not a WAV file this library reads .file does not start with RIFF id",
                "float.wav": r"is not a WAV file this library reads \(unknown format: 3\)",
                "24bit.wav": "has 24-bit samples", "empty.wav": r"has no samples \(zero frames\)",
                "zero.wav": r"is not a WAV file this library reads \(it ends too early\)"}
    for name, message in messages.items():
        with pytest.raises(ValueError, match=f"{name} {message}.*{WORKS}"):
            sound.read_wav(tmp_path / name)
    with pytest.raises(FileNotFoundError, match="No such WAV file: .*gone.wav"):
        sound.wav_to_tokens(tmp_path / "gone.wav")


def test_wav_to_tokens_and_back(tmp_path):
    sound.write_wav(tone(440, 16000), tmp_path / "a.wav", 16000)
    t = sound.wav_to_tokens(tmp_path / "a.wav")          # resampled to 8000 Hz
    assert len(t) == 8000 and max(map(ord, t)) <= 0xFF and len(set(t)) > 50
    assert len(sound.wav_to_tokens(tmp_path / "a.wav", rate=None)) == 16000
    sound.tokens_to_wav(t, tmp_path / "b.wav", 8000)
    x, rate = sound.read_wav(tmp_path / "b.wav")
    assert rate == 8000 and np.abs(x - sound.read_wav(tmp_path / "a.wav", 8000)[0]).max() < 0.01
    assert sound.wav_to_tokens(tmp_path / "b.wav") == t   # the codes survive 16-bit PCM exactly
    np.testing.assert_array_equal(sound.tokens_to_codes(t), sound.mu_law_encode(
        sound.read_wav(tmp_path / "a.wav", 8000)[0]))


def test_tokens_to_wav_refuses_bad_symbols_nothing_and_existing_files(tmp_path):
    with pytest.raises(ValueError, match=r"'Ā' \(U\+0100\) at position 1 is not a sound symbol"):
        sound.tokens_to_wav("\x80\u0100", tmp_path / "x.wav")
    with pytest.raises(ValueError, match="No samples to write"):
        sound.tokens_to_wav("", tmp_path / "x.wav")
    assert not os.listdir(tmp_path)
    (tmp_path / "x.wav").write_bytes(b"mine")
    with pytest.raises(FileExistsError, match="x.wav exists; pass overwrite=True"):
        sound.tokens_to_wav("\x80\xff", tmp_path / "x.wav")
    assert (tmp_path / "x.wav").read_bytes() == b"mine"
    sound.tokens_to_wav("\xff\x00", tmp_path / "x.wav", overwrite=True)
    assert sound.read_wav(tmp_path / "x.wav")[0].tolist() == [32767 / 32768, -1.0]
    assert os.listdir(tmp_path) == ["x.wav"]


def test_example_wav_is_the_same_bytes_everywhere_and_not_written_over_other_files(tmp_path, data_home):
    a, b = sound.example_wav(tmp_path / "a"), sound.example_wav(tmp_path / "b")
    assert a == tmp_path / "a" / "sound-examples" / "plucked.wav" and a.read_bytes() == b.read_bytes()
    assert hashlib.sha256(a.read_bytes()).hexdigest() == (
        "9ea3c7a41d2e9cb16c30036daa5e9f523f689fb6749c6da7a0dbe79b1bdd2e3b")
    x, rate = sound.read_wav(a)
    assert rate == 8000 and x.shape == (24000,) and 0.05 < np.sqrt(np.mean(x ** 2)) and np.abs(x).max() <= 1
    assert abs(peak_hz(x[:2000], 8000) - 196) <= 4          # G3, the first pluck
    when = a.stat().st_mtime_ns
    assert sound.example_wav(tmp_path / "a") == a and a.stat().st_mtime_ns == when
    a.write_bytes(b"my own")
    with pytest.raises(FileExistsError, match="plucked.wav exists and is not the example"):
        sound.example_wav(tmp_path / "a")
    assert a.read_bytes() == b"my own"
    assert sound.example_wav() == data_home / "sound-examples" / "plucked.wav"
