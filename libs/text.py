"""Text as the char-RNN reads it: the vocabulary, the held-out split, shuffled windows, records
with an end mark, and other kinds of data (bytes, music, sound) as text.

The text itself comes from `libs.datasets` (`corpus()`, `ALICE()`, `load_text(path)`); this
module turns it into ids and epochs of batches, the way `libs.images` does for pictures. Data
knows no model: the char-RNN, the benchmarks and the notebooks import it.

    vocab = text.Vocabulary.from_text(corpus)              # sorted characters <-> ids
    train_part, held_out = text.split_held_out(corpus, 100, 100, 0.1)
    batches = text.training_windows(vocab.encode(train_part), 100, 100, seed=0)

Any data is text here, one character per symbol (`read_symbols`, `write_symbols`): a file's
bytes are the characters U+0000-U+00FF (Latin-1 maps each byte to one of them), MIDI events and
mu-law sound codes are characters of `libs.music` and `libs.sound`. The end mark `END` closes
each record: a corpus of records (`record_windows`: a name per line, a poem per paragraph) is
one padded window per record, and pieces too long for a window (MIDI files) are joined into one
stream with the mark between them (`join_pieces`).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tensorflow as tf

from libs import music, sound
from libs.dataset_utils import EpochBatches, create_character_windows, epoch_seed
from libs.files import write_bytes_atomic

# The end-of-sequence mark: a character of Unicode's private use area, which no real text uses,
# and outside the bytes' U+0000-U+00FF and the music's characters. Read, it says "a record
# begins"; predicted, "this record ends".
END = "\ue000"
KINDS = ("text", "bytes", "midi", "wav")  # what the symbols stand for (`read_symbols`)


class Vocabulary:
    """Characters <-> integer ids, the characters sorted: a text always gives the same ids."""

    def __init__(self, chars):
        chars = list(chars)
        if not chars or len(set(chars)) != len(chars) or any(len(c) != 1 for c in chars):
            raise ValueError("a vocabulary needs at least one character, each once")
        self.chars = sorted(chars)
        self._ids = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str, kind: str = "text") -> Vocabulary:
        """The characters of `text`; for bytes and sound every one of the 256 byte values, for
        music every event of `libs.music` (so that any file can be read), plus END if the text
        has it."""
        if not text:
            raise ValueError("the text is empty; give some text to build a vocabulary from")
        if kind == "text":
            return cls(set(text))
        # a file's bytes as Latin-1 characters, as mu-law codes are
        alphabet = sound.VOCABULARY if kind in ("bytes", "wav") else music.VOCABULARY
        bad = set(text) - set(alphabet) - {END}
        if bad:
            raise ValueError(f"{len(bad)} character(s) of the data are not {kind} symbols, "
                             f"e.g. {sorted(bad)[:5]}; read the data with read_symbols({kind!r}, "
                             "path)")
        return cls(set(alphabet) | ({END} & set(text)))

    def __len__(self) -> int:
        return len(self.chars)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.chars == other.chars

    def unknown(self, text: str) -> list[str]:
        """Characters of `text` that are not in the vocabulary, sorted."""
        return sorted(set(text) - set(self._ids))

    def encode(self, text: str, what: str = "text") -> np.ndarray:
        """int32 ids (len(text),); ValueError naming any character outside the vocabulary."""
        bad = self.unknown(text)
        if bad:
            shown = ", ".join(repr(c) for c in bad[:20]) + (" ..." if len(bad) > 20 else "")
            raise ValueError(f"the {what} has {len(bad)} character(s) that are not in the "
                             f"model's vocabulary: {shown}")
        return np.fromiter((self._ids[c] for c in text), np.int32, len(text))

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in np.asarray(ids).ravel())

    def save(self, path) -> None:
        write_bytes_atomic(path, json.dumps({"chars": self.chars}, ensure_ascii=False).encode())

    @classmethod
    def load(cls, path) -> Vocabulary:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path.parent} has no {path.name}; is it a char-RNN "
                                    "checkpoint folder?")
        try:
            return cls(json.loads(path.read_text(encoding="utf-8"))["chars"])
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path} is damaged ({e}); the model cannot be used without its "
                             "vocabulary: restore the file from a copy, or train in a new "
                             "folder") from e


HELD_OUT_PIECES = 10  # the held-out text is cut from this many places spread over the text


def split_held_out(text: str, sequence_length: int, batch_size: int,
                   validation_fraction: float) -> tuple[str, str]:
    """The training text and the held-out text, `validation_fraction` of it, with clear errors
    when the training part cannot fill one batch of windows or the held-out part is empty.

    The text is cut into up to HELD_OUT_PIECES equal parts (fewer when the pieces would be
    shorter than 10 windows of `sequence_length`), and the end of each part is held out. A text
    is seldom the same from start to end (chapters, a corpus of many documents), so the held-out
    pieces stand for all of it, and training sees every part of it; holding out the end alone
    left the last tenth of the text unseen. Each string joins its pieces in order.
    """
    if not isinstance(text, str):
        raise TypeError(f"the data must be a text (a str), got {type(text).__name__}")
    if not text:
        raise ValueError("the text is empty; give a corpus with some text in it")
    need = sequence_length + 1
    if len(text) < need:
        raise ValueError(f"the text has {len(text)} characters, fewer than sequence_length + 1 "
                         f"= {need}; use more text or a smaller sequence_length")
    n_val = int(len(text) * validation_fraction)
    pieces = max(1, min(HELD_OUT_PIECES, n_val // (10 * sequence_length)))
    bounds = np.linspace(0, len(text), pieces + 1).round().astype(int)
    train_parts, val_parts = [], []
    for k, (start, end) in enumerate(zip(bounds[:-1], bounds[1:])):
        cut = end - (n_val * (k + 1) // pieces - n_val * k // pieces)  # n_val in all
        train_parts.append(text[start:cut])
        val_parts.append(text[cut:end])
    train_text, val_text = "".join(train_parts), "".join(val_parts)
    need = batch_size * sequence_length + 1
    if len(train_text) < need:
        raise ValueError(
            f"the training part of the text has {len(train_text)} characters ({len(text)} "
            f"minus {n_val} held out); one batch needs batch_size * sequence_length + 1 = {need}. "
            "Use more text, or a smaller batch_size, sequence_length or validation_fraction")
    if validation_fraction > 0 and len(val_text) < 2:
        raise ValueError(f"validation_fraction={validation_fraction} holds out "
                         f"{len(val_text)} character(s), too few to evaluate; use more text or 0")
    return train_text, val_text


def training_windows(ids: np.ndarray, sequence_length: int, batch_size: int,
                     seed: int) -> EpochBatches:
    """Shuffled (input, target) windows of `ids`, a new order each epoch from (seed, epoch), as
    the images' epochs have it: resumable."""
    return EpochBatches(lambda epoch: create_character_windows(
        ids, sequence_length, batch_size, shuffle=True, seed=epoch_seed(seed, epoch)))


# --- Records: texts with an end, each in a window of its own ------------------------------------

def as_records(data) -> tuple[list[str], list[str]] | None:
    """(records, names) when `data` is a corpus of records, a list of texts or a dict of
    name -> text (a file name, "names.txt line 3": errors name them); None for one text."""
    if isinstance(data, str):
        return None
    if isinstance(data, dict):
        names, records = [str(k) for k in data], list(data.values())
    elif isinstance(data, (list, tuple)):
        names, records = [f"record {i + 1}" for i in range(len(data))], list(data)
    else:
        raise TypeError(f"the data must be a text (a str) or records (a list or dict of str), "
                        f"got {type(data).__name__}")
    if not records:
        raise ValueError("there are no records; give at least one")
    for name, record in zip(names, records):
        if not isinstance(record, str) or not record:
            raise ValueError(f"{name} is {record!r}; every record must be a non-empty text")
        if END in record:
            raise ValueError(f"{name} contains the end mark text.END (U+E000); remove it")
    return records, names


def split_records(records: list[str], names: list[str], validation_fraction: float):
    """(training records, names), (held-out records, names): `validation_fraction` of them,
    taken at places spread evenly over the corpus."""
    n_val = int(len(records) * validation_fraction)
    held = set(np.linspace(0, len(records) - 1, n_val).round().astype(int)) if n_val else set()
    if validation_fraction > 0 and not held:
        raise ValueError(f"validation_fraction={validation_fraction} holds out none of the "
                         f"{len(records)} records; use more records or 0")
    pick = [[i for i in range(len(records)) if (i in held) == hold] for hold in (False, True)]
    return tuple(([records[i] for i in part], [names[i] for i in part]) for part in pick)


def record_windows(vocab: Vocabulary, records: list[str], names: list[str],
                   sequence_length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One window per record: inputs END + record, targets record + END, padded with zeros to
    `sequence_length` and weighted 1 where a target is real, 0 on the padding.

    Returns x, y (N, sequence_length) int32 and w (N, sequence_length) float32. A record longer
    than sequence_length - 1 characters does not fit: a ValueError names it.
    """
    T, end = sequence_length, vocab.encode(END, "end mark")[0]
    x = np.zeros((len(records), T), np.int32)
    y, w = np.zeros_like(x), np.zeros((len(records), T), np.float32)
    for i, (record, name) in enumerate(zip(records, names)):
        if len(record) > T - 1:
            raise ValueError(f"{name} has {len(record)} characters; a record may have at most "
                             f"sequence_length - 1 = {T - 1}. Give a larger sequence_length or "
                             "shorter records")
        ids = vocab.encode(record, name)
        x[i, 0], x[i, 1:len(ids) + 1] = end, ids
        y[i, :len(ids)], y[i, len(ids)] = ids, end
        w[i, :len(ids) + 1] = 1.0
    return x, y, w


def training_records(windows: tuple[np.ndarray, ...], batch_size: int, seed: int) -> EpochBatches:
    """Shuffled batches of `record_windows`' (x, y, w), a new order each epoch: resumable."""
    if len(windows[0]) < batch_size:
        raise ValueError(f"{len(windows[0])} records are left for training, fewer than "
                         f"batch_size={batch_size}; use more records or a smaller batch_size")

    def epoch(e):
        ds = tf.data.Dataset.from_tensor_slices(windows)
        return ds.shuffle(len(windows[0]), seed=epoch_seed(seed, e)).batch(
            batch_size, drop_remainder=True)
    return EpochBatches(epoch)


def read_records(path, split: str) -> dict[str, str]:
    """The records of a text file or folder, named for errors: split="lines" (each non-empty
    line of the file), "paragraphs" (texts between blank lines) or "files" (each file of the
    folder, sorted)."""
    from libs import datasets

    path = Path(path)
    if split == "files":
        if not path.is_dir():
            raise NotADirectoryError(f"records='files' reads a folder; {path} is not one")
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise ValueError(f"{path} has no files to read records from")
        return {str(f): datasets.load_text(f).strip("\n") for f in files}
    if split not in ("lines", "paragraphs"):
        raise ValueError(f"split must be 'lines', 'paragraphs' or 'files', got {split!r}")
    text = datasets.load_text(path)
    pieces = text.split("\n") if split == "lines" else text.split("\n\n")
    return {f"{path} {split[:-1]} {i + 1}": p.strip("\n") for i, p in enumerate(pieces)
            if p.strip()}


# --- Other kinds of data as text ----------------------------------------------------------------

def join_pieces(pieces: list[str]) -> str:
    """Pieces too long for one window (music files) as one stream, END before each and after
    the last: reading END means "a piece begins", predicting it "this one ends"."""
    return "".join(END + piece for piece in pieces) + END


def read_symbols(kind: str, path, sample_rate: int = 8000, transpose_by: int = 0) -> str:
    """The data at `path` as the char-RNN's text: kind "text" a UTF-8 file; "bytes" any file,
    byte by byte; "midi" a folder of MIDI files (`libs.music`), joined by `join_pieces`, each
    piece also in the keys up to `transpose_by` semitones down and up (`music.read_folder`);
    "wav" a PCM WAV file as 8-bit mu-law codes at `sample_rate` (`libs.sound`)."""
    from libs import datasets

    if transpose_by and kind != "midi":
        raise ValueError(f"transpose_by goes with kind 'midi' (music), not {kind!r}")
    if kind == "text":
        return datasets.load_text(path)
    if kind == "bytes":
        path = Path(path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"No such file: {path}")
        data = path.read_bytes()
        if not data:
            raise ValueError(f"{path} is empty")
        return data.decode("latin-1")
    if kind == "midi":
        return join_pieces(music.read_folder(path, transpose_by))
    if kind == "wav":
        return sound.wav_to_tokens(path, sample_rate)
    raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")


def write_symbols(kind: str, symbols: str, path, sample_rate: int = 8000) -> Path:
    """Write a sample as a file of its kind (UTF-8 text, bytes, a MIDI file, a WAV file),
    leaving out END marks (text: a new line for each); a file that exists is refused, never
    overwritten."""
    path = Path(path).expanduser()
    if path.exists():
        raise FileExistsError(f"{path} exists; choose a new name (samples never overwrite a "
                              "file)")
    if kind == "text":  # records one per line
        write_bytes_atomic(path, symbols.replace(END, "\n").strip("\n").encode("utf-8"))
        return path
    symbols = symbols.replace(END, "")
    if kind == "bytes":
        write_bytes_atomic(path, symbols.encode("latin-1"))
    elif kind == "midi":
        music.tokens_to_midi(symbols, path)
    elif kind == "wav":
        sound.tokens_to_wav(symbols, path, sample_rate)
    else:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return path
