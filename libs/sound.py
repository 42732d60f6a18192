"""Sound as a string of symbols for the char-RNN: WAV files <-> 8-bit mu-law codes, one character each.

WaveNet (van den Oord et al. 2016) models raw audio as 256 classes: mu-law companding (ITU-T
G.711, mu = 255) gives quiet samples finer steps than loud ones, so 8 bits sound like about 13
linear ones. Code c is the character chr(c), U+0000..U+00FF (Latin-1). A second at 8000 Hz is
8000 characters, so a character model wants a low rate: `wav_to_tokens` resamples to 8000 Hz.

WAV files are read and written with the standard library's `wave`: 8-bit unsigned and 16-bit
signed PCM, mono or more channels (averaged), in; 16-bit mono PCM out.
"""
from __future__ import annotations

import io
import math
import os
import wave
from pathlib import Path

import numpy as np

from libs.downloads import data_dir
from libs.files import write_bytes_atomic

RATE = 8000
VOCABULARY = "".join(map(chr, range(256)))
_WORKS = "an 8- or 16-bit PCM WAV file is what works"


def resample(samples: np.ndarray, rate: int, new_rate: int) -> np.ndarray:
    """float32 samples at `rate` as round(len * new_rate / rate) samples at `new_rate`.

    Linear interpolation; going down, a windowed-sinc low-pass (Hamming) first removes what
    the new rate cannot hold (above new_rate / 2), which would otherwise alias.
    """
    x = np.asarray(samples, np.float64)
    if rate <= 0 or new_rate <= 0:
        raise ValueError(f"rates must be positive, got {rate} and {new_rate}")
    if new_rate < rate:
        cutoff = 0.5 * new_rate / rate                     # in cycles per input sample
        taps = np.arange(-int(16 * rate / new_rate), int(16 * rate / new_rate) + 1)
        h = 2 * cutoff * np.sinc(2 * cutoff * taps) * np.hamming(len(taps))
        x = np.convolve(x, h / h.sum(), mode="same")
    n = int(round(len(x) * new_rate / rate))
    return np.interp(np.arange(n) * (rate / new_rate), np.arange(len(x)), x).astype(np.float32)


def read_wav(path, rate: int | None = None) -> tuple[np.ndarray, int]:
    """(samples, rate): float32 mono samples in [-1, 1] and their rate, resampled to `rate` if given."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"No such WAV file: {path}")
    try:
        with wave.open(str(path), "rb") as w:
            width, channels, file_rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
            data = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as e:  # not RIFF/WAVE, float or compressed, cut short
        raise ValueError(f"{path} is not a WAV file this library reads ({str(e) or 'it ends too early'}); "
                         f"{_WORKS}.") from e
    if width not in (1, 2):
        raise ValueError(f"{path} has {8 * width}-bit samples; {_WORKS} (convert it, e.g. with Audacity "
                         "or `sox in.wav -b 16 out.wav`).")
    if len(data) < width * channels:
        raise ValueError(f"{path} has no samples (zero frames); {_WORKS}, with some sound in it.")
    if width == 1:
        x = (np.frombuffer(data, np.uint8).astype(np.float32) - 128) / 128
    else:
        x = np.frombuffer(data[:len(data) // 2 * 2], "<i2").astype(np.float32) / 32768
    x = x[:len(x) // channels * channels].reshape(-1, channels).mean(axis=1)
    if rate and rate != file_rate:
        return resample(x, file_rate, rate), rate
    return x.astype(np.float32), file_rate


def _wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    pcm = np.clip(np.round(np.asarray(samples, np.float64) * 32768), -32768, 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return buffer.getvalue()


def write_wav(samples: np.ndarray, path, rate: int, overwrite: bool = False) -> Path:
    """Write samples in [-1, 1] (clipped) as a 16-bit mono PCM WAV, atomically; return its path.

    An existing `path` is refused with FileExistsError unless `overwrite`.
    """
    path = Path(path).expanduser()
    if len(samples) == 0:
        raise ValueError(f"No samples to write; nothing was written to {path}.")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it, or choose another name.")
    return write_bytes_atomic(path, _wav_bytes(samples, rate))


def _check_mu(mu: int) -> None:
    if not (isinstance(mu, int) and 1 <= mu <= 255):
        raise ValueError(f"mu must be an integer in 1..255 (codes are 8-bit), got {mu!r}")


def mu_law_encode(x, mu: int = 255) -> np.ndarray:
    """Samples in [-1, 1] (clipped) as uint8 codes 0..mu:
    floor((sign(x) ln(1 + mu |x|) / ln(1 + mu) + 1) / 2 * mu + 1/2)."""
    _check_mu(mu)
    x = np.clip(np.asarray(x, np.float64), -1.0, 1.0)
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    return np.floor((y + 1) / 2 * mu + 0.5).astype(np.uint8)


def mu_law_decode(codes, mu: int = 255) -> np.ndarray:
    """uint8 codes 0..mu as float32 samples in [-1, 1]: sign(y) ((1 + mu)^|y| - 1) / mu, y = 2 c / mu - 1."""
    _check_mu(mu)
    codes = np.asarray(codes)
    if codes.size and (codes.min() < 0 or codes.max() > mu):
        raise ValueError(f"mu-law codes must be in 0..{mu}, got {codes.min()}..{codes.max()}")
    y = 2 * codes.astype(np.float64) / mu - 1
    return (np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu).astype(np.float32)


def wav_to_tokens(path, rate: int | None = RATE) -> str:
    """A WAV file as mu-law symbols, one character chr(code) a sample, at `rate` (None: the file's)."""
    samples, _ = read_wav(path, rate)
    return mu_law_encode(samples).tobytes().decode("latin-1")


def tokens_to_codes(tokens: str) -> np.ndarray:
    """A symbol string as uint8 mu-law codes; a character above U+00FF is a ValueError."""
    try:
        return np.frombuffer(tokens.encode("latin-1"), np.uint8)
    except UnicodeEncodeError as e:
        raise ValueError(f"Character {tokens[e.start]!r} (U+{ord(tokens[e.start]):04X}) at position "
                         f"{e.start} is not a sound symbol; symbols are U+0000..U+00FF.") from e


def tokens_to_wav(tokens: str, path, rate: int = RATE, overwrite: bool = False) -> Path:
    """Write a symbol string as a 16-bit mono PCM WAV at `rate`, atomically; return its path.

    An existing `path` is refused with FileExistsError unless `overwrite`.
    """
    return write_wav(mu_law_decode(tokens_to_codes(tokens)), path, rate, overwrite=overwrite)


# --- Embedded example: computed here, no download ----------------------------------------------

def _noise(n: int, seed: int) -> list[float]:
    """n values in [-1, 1) from a linear congruential generator: the same on every machine."""
    values = []
    for _ in range(n):
        seed = (1103515245 * seed + 12345) % 2 ** 31
        values.append(seed / 2 ** 30 - 1)
    return values


def _pluck(freq: float, n: int, rate: int, seed: int) -> np.ndarray:
    """n samples of a plucked string (Karplus and Strong 1983): a noise burst one period long,
    repeated through a two-point average that damps high frequencies first."""
    period = max(2, round(rate / freq - 0.5))   # the average delays by half a sample
    burst = _noise(period, seed)
    mean = math.fsum(burst) / period             # exactly rounded: the same bytes everywhere
    y = np.zeros(n + 1)                           # y[0] is the silence before the burst
    y[1:period + 1] = [v - mean for v in burst]
    for s in range(period + 1, n + 1, period):
        e = min(s + period, n + 1)
        y[s:e] = (y[s - period:e - period] + y[s - period - 1:e - period - 1]) * 0.498
    return y[1:]


def example_sound(rate: int = RATE) -> tuple[np.ndarray, int]:
    """(samples, rate): 3 s of a plucked-string melody (Karplus-Strong), float32 in [-1, 1].

    Made of additions and multiplications (no library random generator, no sine), so it is bit
    for bit the same on every machine.
    """
    melody = [55, 59, 62, 67, 64, 60, 57, 64, 62, 59, 55, 50]   # MIDI pitches, G3 B3 D4 ...
    step, n = rate // 4, 3 * rate                                 # a note every 0.25 s, each rings on
    samples = np.zeros(n)
    for k, pitch in enumerate(melody):
        samples[k * step:] += 0.6 * _pluck(440 * 2 ** ((pitch - 69) / 12), n - k * step, rate, k + 1)
    samples[-step:] *= np.arange(step, 0, -1) / step                # fade out over the last 0.25 s
    return np.clip(samples, -1, 1).astype(np.float32), rate


def example_wav(root=None) -> Path:
    """`example_sound()` as root/sound-examples/plucked.wav (16-bit, 8000 Hz), `root` defaulting to
    `downloads.data_dir()`. Written once, atomically; a different file of that name is refused."""
    path = (Path(root).expanduser() if root else data_dir()) / "sound-examples" / "plucked.wav"
    data = _wav_bytes(*example_sound())
    if not (path.is_file() and path.read_bytes() == data):
        if os.path.lexists(path):
            raise FileExistsError(f"{path} exists and is not the example this library writes; move it "
                                  "away (or pass another root) to have the example written.")
        write_bytes_atomic(path, data)
    return path
