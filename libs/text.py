"""Text as the char-RNN reads it: the vocabulary, the held-out split and shuffled windows.

The text itself comes from `libs.datasets` (`corpus()`, `ALICE()`, `load_text(path)`); this
module turns it into ids and epochs of batches, the way `libs.images` does for pictures. Data
knows no model: the char-RNN, the benchmarks and the notebooks import it.

    vocab = text.Vocabulary.from_text(corpus)              # sorted characters <-> ids
    train_part, held_out = text.split_held_out(corpus, 100, 100, 0.1)
    batches = text.training_windows(vocab.encode(train_part), 100, 100, seed=0)
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from libs.dataset_utils import EpochBatches, create_character_windows, epoch_seed
from libs.files import write_bytes_atomic


class Vocabulary:
    """Characters <-> integer ids, the characters sorted: a text always gives the same ids."""

    def __init__(self, chars):
        chars = list(chars)
        if not chars or len(set(chars)) != len(chars) or any(len(c) != 1 for c in chars):
            raise ValueError("a vocabulary needs at least one character, each once")
        self.chars = sorted(chars)
        self._ids = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str) -> Vocabulary:
        if not text:
            raise ValueError("the text is empty; give some text to build a vocabulary from")
        return cls(set(text))

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
