"""Tests for libs.text's records, end mark and kinds of data, and the char-RNN trained on them.

Tiny shapes, offline, seconds each.
"""
import json

import numpy as np
import pytest

from libs import charrnn, text
from libs.text import END, Vocabulary
from test_charrnn import cli

NAMES = ["anna", "bob", "carla", "dmitri", "eve", "frank", "gina", "hank", "ida", "jo"] * 4
TINY = dict(n_cells=16, n_layers=1, batch_size=8, sequence_length=10, progress=False,
            sample_chars=0, eval_every=10**6)


# --- Records ------------------------------------------------------------------------------------

def test_record_windows_pad_each_record_and_weight_only_real_targets():
    vocab = Vocabulary.from_text(END + "abc")
    x, y, w = text.record_windows(vocab, ["ab", "c"], ["one", "two"], 5)
    end, a, b, c = (int(vocab.encode(ch)[0]) for ch in END + "abc")
    np.testing.assert_array_equal(x, [[end, a, b, 0, 0], [end, c, 0, 0, 0]])
    np.testing.assert_array_equal(y, [[a, b, end, 0, 0], [c, end, 0, 0, 0]])
    np.testing.assert_array_equal(w, [[1, 1, 1, 0, 0], [1, 1, 0, 0, 0]])


def test_a_record_too_long_for_the_window_is_named():
    vocab = Vocabulary.from_text(END + "abc")
    with pytest.raises(ValueError, match=r"names.txt line 2 has 5 characters; a record may have "
                                         r"at most sequence_length - 1 = 4"):
        text.record_windows(vocab, ["ab", "abcab"], ["names.txt line 1", "names.txt line 2"], 5)


@pytest.mark.parametrize("data, message", [
    ([], "there are no records"), (["a", ""], "record 2 is ''"),
    ({"x.txt": "a" + END}, "x.txt contains the end mark"), (3, "got int")])
def test_bad_records_are_refused(data, message):
    with pytest.raises((ValueError, TypeError), match=message):
        text.as_records(data)


def test_split_records_spreads_the_held_out_records():
    records = [str(i) for i in range(20)]
    (train, train_names), (held, held_names) = text.split_records(records, records, 0.2)
    assert held == ["0", "6", "13", "19"] and held_names == held
    assert sorted(train + held, key=int) == records
    with pytest.raises(ValueError, match="holds out none of the 3 records"):
        text.split_records(["a", "b", "c"], ["a", "b", "c"], 0.2)


def test_read_records_names_lines_paragraphs_and_files(tmp_path):
    f = tmp_path / "poems.txt"
    f.write_text("one\ntwo\n\n\nthree\nfour\n")
    assert text.read_records(f, "lines") == {
        f"{f} line 1": "one", f"{f} line 2": "two", f"{f} line 5": "three",
        f"{f} line 6": "four"}
    assert list(text.read_records(f, "paragraphs").values()) == ["one\ntwo", "three\nfour"]
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "b.txt").write_text("bee\n")
    (folder / "a.txt").write_text("ay")
    assert text.read_records(folder, "files") == {str(folder / "a.txt"): "ay",
                                                  str(folder / "b.txt"): "bee"}
    with pytest.raises(NotADirectoryError, match="reads a folder"):
        text.read_records(f, "files")


@pytest.fixture(scope="module")
def names_model(tmp_path_factory):
    """A char-RNN trained on the records NAMES for 60 steps, and its folder."""
    folder = tmp_path_factory.mktemp("names") / "c"
    model, _ = charrnn.train(NAMES, folder, steps=60, learning_rate=0.02, **TINY)
    return model, folder


def test_char_rnn_on_records_learns_the_end_and_samples_stop_at_it(names_model):
    model, folder = names_model
    assert model.config.records and END in model.vocab.chars
    samples = charrnn.sample(model, 40, n_samples=16, seed=0, until_end=True)
    assert all(END not in s and len(s) < 40 for s in samples)  # each one stopped at its END
    assert sum(s in NAMES for s in samples) >= 8  # it learned the names, ends included
    # Evaluation counts every real character of each record and its END, never the padding.
    result = charrnn.evaluate(model, NAMES[:3])
    assert result["chars"] == sum(len(n) + 1 for n in NAMES[:3])
    assert result["loss_nats"] < 1.0
    loaded = charrnn.load(folder)
    assert loaded.config.records
    assert charrnn.sample(loaded, 40, n_samples=4, seed=0, until_end=True) == \
        charrnn.sample(model, 40, n_samples=4, seed=0, until_end=True)


def test_records_and_one_text_do_not_mix(tmp_path, names_model):
    model, folder = names_model
    with pytest.raises(ValueError, match="trained on records; give records"):
        charrnn.evaluate(model, "anna")
    with pytest.raises(ValueError, match="records=False but the data have records=True"):
        charrnn.train(NAMES, tmp_path / "d", steps=1, records=False, **TINY)
    with pytest.raises(ValueError, match="trained on data with records=True"):
        charrnn.train("anna bob " * 40, folder, steps=61, **TINY)
    plain = charrnn.CharRNN(charrnn.CharRNNConfig(n_cells=4), Vocabulary.from_text("ab"))
    with pytest.raises(ValueError, match="until_end needs a model that learned the end mark"):
        charrnn.sample(plain, 5, until_end=True)


def test_the_padding_does_not_change_the_loss_of_a_record(names_model):
    """The same records scored in windows of 10 and of 20 (twice the padding) lose the same."""
    model = names_model[0]
    wide = charrnn.CharRNN(charrnn.CharRNNConfig(**{**{k: v for k, v in TINY.items()
                                                      if k in ("n_cells", "n_layers")},
                                                   "sequence_length": 20, "records": True}),
                           model.vocab)
    wide.set_weights(model.get_weights())
    a, b = charrnn.evaluate(model, NAMES[:5]), charrnn.evaluate(wide, NAMES[:5])
    assert a["chars"] == b["chars"]
    np.testing.assert_allclose(a["loss_nats"], b["loss_nats"], rtol=1e-5)


# --- Bytes --------------------------------------------------------------------------------------

def test_bytes_of_any_file_round_trip(tmp_path):
    blob = bytes(np.random.default_rng(0).integers(0, 128, 3000, dtype=np.uint8)) + b"\x00\xff"
    (tmp_path / "blob.bin").write_bytes(blob)
    data = text.read_symbols("bytes", tmp_path / "blob.bin")
    assert data.encode("latin-1") == blob
    vocab = Vocabulary.from_text(data, "bytes")
    assert len(vocab) == 256  # every byte value, seen or not
    assert len(Vocabulary.from_text(text.join_pieces([data]), "bytes")) == 257  # and END
    out = text.write_symbols("bytes", text.END + data[:50] + text.END, tmp_path / "out.bin")
    assert out.read_bytes() == blob[:50]  # the end marks left out
    with pytest.raises(FileExistsError, match="out.bin exists; choose a new name"):
        text.write_symbols("bytes", data, tmp_path / "out.bin")
    with pytest.raises(ValueError, match="are not bytes symbols"):
        Vocabulary.from_text("caf\u00e9\u2603", "bytes")


def test_cli_bytes_and_records(tmp_path, capsys):
    blob = tmp_path / "blob.bin"
    blob.write_bytes(bytes(range(256)) * 8)
    ckpt = str(tmp_path / "b")
    flags = ["--n-cells", "8", "--n-layers", "1", "--batch-size", "4", "--sequence-length", "8"]
    code, out, err = cli(["train", "--bytes", "--text", str(blob), "--ckpt", ckpt,
                          "--steps", "2"] + flags, capsys)
    assert code == 0, err
    code, _, err = cli(["sample", "--ckpt", ckpt, "--n-chars", "10"], capsys)
    assert code == 1 and "this model's samples are bytes, not text; give --out FILE" in err
    code, out, err = cli(["sample", "--ckpt", ckpt, "--n-chars", "10", "--n-samples", "2",
                          "--out", str(tmp_path / "s.bin")], capsys)
    assert code == 0, err
    assert [len((tmp_path / f"s-{i}.bin").read_bytes()) for i in (1, 2)] == [11, 11]
    code, _, err = cli(["sample", "--ckpt", ckpt, "--n-chars", "10", "--n-samples", "2",
                        "--out", str(tmp_path / "s.bin")], capsys)
    assert code == 1 and "s-1.bin" in err and "never overwrite" in err
    code, out, _ = cli(["eval", "--ckpt", ckpt, "--text", str(blob)], capsys)
    assert code == 0 and json.loads(out.strip().splitlines()[-1])["chars"] == 256 * 8 - 1

    names = tmp_path / "names.txt"
    names.write_text("\n".join(NAMES) + "\n")
    ckpt = str(tmp_path / "r")
    code, out, err = cli(["train", "--text", str(names), "--records", "lines", "--ckpt", ckpt,
                          "--steps", "2", "--n-cells", "8", "--batch-size", "4"], capsys)
    assert code == 0, err
    code, out, err = cli(["sample", "--ckpt", ckpt, "--n-chars", "30", "--until-end",
                          "--n-samples", "3", "--seed", "0"], capsys)
    assert code == 0 and END not in out
    code, _, err = cli(["eval", "--ckpt", ckpt, "--text", str(names)], capsys)
    assert code == 1 and "trained on records" in err and "--records" in err
    code, out, _ = cli(["eval", "--ckpt", ckpt, "--text", str(names), "--records", "lines"],
                       capsys)
    assert json.loads(out.strip().splitlines()[-1])["chars"] == sum(len(n) + 1 for n in NAMES)
    names.write_text("anna\n" + "x" * 150 + "\n")
    code, _, err = cli(["train", "--text", str(names), "--records", "lines", "--ckpt",
                        str(tmp_path / "long"), "--steps", "1", "--validation-fraction", "0"],
                       capsys)
    assert code == 1 and f"{names} line 2 has 150 characters" in err
    assert not (tmp_path / "long").exists()  # refused before anything was written
    code, _, err = cli(["train", "--corpus", "embedded", "--bytes", "--ckpt", ckpt], capsys)
    assert code == 1 and "--bytes goes with --text" in err


# --- Music and sound ----------------------------------------------------------------------------

def test_cli_music_and_sound(tmp_path, capsys, monkeypatch):
    from libs import music, sound

    folder = music.example_folder(tmp_path)
    flags = ["--n-cells", "8", "--n-layers", "1", "--batch-size", "4", "--sequence-length", "16",
             "--steps", "2"]
    ckpt = str(tmp_path / "m")
    trained_on, train = [], charrnn.train
    monkeypatch.setattr(charrnn, "train", lambda data, *a, **k: trained_on.append(data) or
                        train(data, *a, **k))
    code, _, err = cli(["train", "--midi", str(folder), "--ckpt", ckpt, "--transpose-by", "1"]
                       + flags, capsys)
    assert code == 0, err
    assert trained_on == [text.join_pieces(music.read_folder(folder, transpose_by=1))]
    assert len(trained_on[0]) > 2.9 * len(text.read_symbols("midi", folder))  # three keys
    model = charrnn.load(ckpt)
    assert model.config.kind == "midi" and len(model.vocab) == music.VOCAB_SIZE + 1  # and END
    code, out, err = cli(["sample", "--ckpt", ckpt, "--n-chars", "80", "--seed", "3",
                          "--until-end", "--out", str(tmp_path / "song.mid")], capsys)
    assert code == 0, err
    tokens = music.midi_to_tokens(tmp_path / "song.mid")
    assert tokens and set(tokens) <= set(music.VOCABULARY)
    code, out, err = cli(["sample", "--ckpt", ckpt, "--n-chars", "300", "--seed", "3",
                          "--max-note-seconds", "0.1", "--out", str(tmp_path / "short.mid")],
                         capsys)
    assert code == 0, err
    notes = music.notes(music.midi_to_tokens(tmp_path / "short.mid"))
    assert notes and max(end - start for start, end, *_ in notes) <= 0.1
    code, _, err = cli(["train", "--corpus", "embedded", "--ckpt", str(tmp_path / "t"),
                        "--transpose-by", "2"] + flags, capsys)
    assert code == 1 and "--transpose-by goes with --midi" in err
    code, _, err = cli(["train", "--midi", str(folder), "--ckpt", str(tmp_path / "t"),
                        "--transpose-by", "13"] + flags, capsys)
    assert code == 2 and "argument --transpose-by: '13' is not an integer >= 0 and <= 12" in err
    with pytest.raises(ValueError, match="transpose_by goes with kind 'midi'"):
        text.read_symbols("text", tmp_path / "any.txt", transpose_by=1)
    code, out, _ = cli(["eval", "--ckpt", ckpt, "--text", str(folder)], capsys)
    assert code == 0 and json.loads(out.strip().splitlines()[-1])["chars"] == \
        len(text.read_symbols("midi", folder)) - 1

    wav = sound.example_wav(tmp_path)
    ckpt = str(tmp_path / "w")
    code, _, err = cli(["train", "--wav", str(wav), "--ckpt", ckpt, "--sample-rate", "4000"]
                       + flags, capsys)
    assert code == 0, err
    code, out, err = cli(["sample", "--ckpt", ckpt, "--n-chars", "400", "--seed", "0",
                          "--out", str(tmp_path / "noise.wav")], capsys)
    assert code == 0, err
    code, _, err = cli(["sample", "--ckpt", ckpt, "--max-note-seconds", "1",
                        "--out", str(tmp_path / "x.wav")], capsys)
    assert code == 1 and "--max-note-seconds is for models of music; this one's samples are wav" \
        in err and not (tmp_path / "x.wav").exists()
    samples, rate = sound.read_wav(tmp_path / "noise.wav")
    assert rate == 4000 and len(samples) == 401
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = cli(["train", "--midi", str(empty), "--ckpt", str(tmp_path / "x")] + flags,
                       capsys)
    assert code == 1 and str(empty) in err
