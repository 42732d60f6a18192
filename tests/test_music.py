"""Tests for libs.music: MIDI <-> tokens, the synthesiser and the embedded examples; offline."""
import os

import mido
import numpy as np
import pytest

from libs import music


@pytest.fixture(autouse=True)
def data_home(tmp_path, monkeypatch):
    """Every test gets its own data directory; nothing is written to the repository's data/."""
    monkeypatch.setenv("CADL_DATA_DIR", str(tmp_path / "cadl-data"))
    return tmp_path / "cadl-data"


def tokens(*ids):
    return "".join(chr(music.BASE + i) for i in ids)


def on(pitch):
    return music.NOTE_ON + pitch - music.MIN_PITCH


def off(pitch):
    return music.NOTE_OFF + pitch - music.MIN_PITCH


def shift(steps):
    return music.TIME_SHIFT + steps - 1


def vel(b):
    return music.VELOCITY + b


def write_midi(path, tracks, type=1, ticks_per_beat=96):
    """tracks: lists of mido messages (times in ticks since the previous one)."""
    midi = mido.MidiFile(type=type, ticks_per_beat=ticks_per_beat)
    midi.tracks.extend(mido.MidiTrack(t) for t in tracks)
    midi.save(path)
    return path


def test_vocabulary_is_216_printable_characters_from_base():
    assert (music.VOCAB_SIZE, music.BASE) == (216, 0x100)
    assert (music.NOTE_OFF, music.TIME_SHIFT, music.VELOCITY) == (88, 176, 208)
    assert music.VOCABULARY == "".join(map(chr, range(0x100, 0x100 + 216)))
    assert all(c.isprintable() and not c.isspace() for c in music.VOCABULARY)


def test_a_hand_made_midi_is_merged_quantised_and_moved_into_range(tmp_path):
    tempo = [mido.MetaMessage("set_tempo", tempo=1_000_000, time=0),        # 60 bpm: a beat is 1 s
             mido.MetaMessage("set_tempo", tempo=500_000, time=96)]         # 120 bpm from 1 s on
    melody = [mido.Message("note_on", note=60, velocity=100, time=48),     # 0.5 s
              mido.Message("note_on", note=60, velocity=0, time=48),       # 1.0 s, off by velocity 0
              mido.Message("note_on", note=10, velocity=20, time=48),      # 1.25 s, an octave up: 22
              mido.Message("note_off", note=10, time=2)]                   # 1.26 s: one step long
    others = [mido.Message("note_on", channel=9, note=36, velocity=127, time=0),  # drums: dropped
              mido.Message("note_off", channel=9, note=36, time=48),
              mido.Message("note_on", channel=1, note=120, velocity=127, time=48),  # 1.0 s, 108
              mido.MetaMessage("end_of_track", time=96)]                   # never released: 1.5 s
    path = write_midi(tmp_path / "hand.mid", [tempo, melody, others])
    expected = tokens(vel(6), on(60), shift(16), off(60), vel(7), on(108), shift(8), vel(1), on(22),
                      shift(1), off(22), shift(7), off(108))
    assert music.midi_to_tokens(path) == expected
    assert music.midi_to_tokens(music.tokens_to_midi(expected, tmp_path / "out.mid")) == expected


def test_round_trip_of_every_example(tmp_path):
    for k, t in enumerate(music.read_folder(music.example_folder(tmp_path))):
        assert set(t) <= set(music.VOCABULARY)
        assert music.midi_to_tokens(music.tokens_to_midi(t, tmp_path / f"{k}.mid")) == t


def test_long_gaps_are_several_shifts(tmp_path):
    t = tokens(vel(3), on(60), shift(32), shift(32), shift(5), off(60))
    assert music.midi_to_tokens(music.tokens_to_midi(t, tmp_path / "long.mid")) == t


def test_any_token_order_gives_a_midi_whose_tokens_come_back(tmp_path):
    rng = np.random.default_rng(0)
    example = music.read_folder(music.example_folder(tmp_path))[1]
    strings = [tokens(*rng.integers(0, music.VOCAB_SIZE, 300)) for _ in range(5)]
    strings.append("".join(rng.permutation(list(example))))
    for k, t in enumerate(strings):
        canonical = music.midi_to_tokens(music.tokens_to_midi(t, tmp_path / f"a{k}.mid"))
        assert music.midi_to_tokens(music.tokens_to_midi(canonical, tmp_path / f"b{k}.mid")) == canonical


def test_a_sampler_s_mistakes_are_repaired(tmp_path):
    cases = {  # NOTE_OFF of a silent key ignored; a note still on closed at the end
        tokens(off(60), on(60), shift(4)): tokens(vel(music.DEFAULT_VELOCITY), on(60), shift(4), off(60)),
        # a sounding key struck again restarts; a NOTE_ON with no time after it lasts one step
        tokens(vel(2), on(60), shift(2), on(60), shift(3), off(60), off(61), on(62)):
            tokens(vel(2), on(60), shift(2), off(60), on(60), shift(3), off(60), on(62), shift(1), off(62)),
    }
    for k, (given, expected) in enumerate(cases.items()):
        assert music.midi_to_tokens(music.tokens_to_midi(given, tmp_path / f"{k}.mid")) == expected


def test_characters_outside_the_vocabulary_and_tokens_without_notes_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"'\\n' \(U\+000A\) at position 2 .* U\+0100\.\.U\+01D7"):
        music.tokens_to_midi(tokens(vel(1), on(60)) + "\n", tmp_path / "x.mid")
    with pytest.raises(ValueError, match="no NOTE_ON"):
        music.tokens_to_midi(tokens(shift(3), off(60), vel(2)), tmp_path / "x.mid")
    assert not os.listdir(tmp_path)


def test_an_existing_file_is_not_overwritten_unless_asked(tmp_path):
    path = tmp_path / "song.mid"
    path.write_bytes(b"mine")
    t = tokens(vel(4), on(64), shift(8), off(64))
    with pytest.raises(FileExistsError, match="song.mid exists; pass overwrite=True"):
        music.tokens_to_midi(t, path)
    assert path.read_bytes() == b"mine"
    music.tokens_to_midi(t, path, overwrite=True)
    assert music.midi_to_tokens(path) == t
    assert os.listdir(tmp_path) == ["song.mid"]  # no temporary file left


def test_read_folder_reads_midi_files_sorted_and_nothing_else(tmp_path):
    folder = music.example_folder(tmp_path)
    (folder / "6-extra.MID").write_bytes((folder / "1-scale.mid").read_bytes())
    (folder / "notes.txt").write_text("not music")
    (folder / "sub").mkdir()
    (folder / "sub" / "0.mid").write_bytes(b"not read")
    names = ["1-scale.mid", "2-arpeggios.mid", "3-ode-to-joy.mid", "4-frere-jacques.mid", "5-boogie.mid",
             "6-extra.MID"]
    assert music.read_folder(folder) == [music.midi_to_tokens(folder / n) for n in names]


def test_read_folder_errors_name_the_file_and_what_works(tmp_path):
    with pytest.raises(FileNotFoundError, match="No such folder: .*nope; a folder of MIDI files"):
        music.read_folder(tmp_path / "nope")
    (tmp_path / "notes.txt").write_text("la la")
    with pytest.raises(ValueError, match="has no MIDI files; put .mid or .midi files in it"):
        music.read_folder(tmp_path)
    (tmp_path / "bad.mid").write_bytes(b"this is not a MIDI file")
    with pytest.raises(ValueError, match=r"bad.mid is not a readable MIDI file \(MThd not found.*standard"):
        music.read_folder(tmp_path)
    good = music.example_folder(tmp_path / "ok") / "1-scale.mid"
    (tmp_path / "bad.mid").write_bytes(good.read_bytes()[:30])
    with pytest.raises(ValueError, match=r"bad.mid is not a readable MIDI file \(it ends too early\)"):
        music.read_folder(tmp_path)
    (tmp_path / "bad.mid").unlink()
    write_midi(tmp_path / "drums.mid", [[mido.Message("note_on", channel=9, note=36, velocity=90),
                                         mido.Message("note_off", channel=9, note=36, time=96)]])
    with pytest.raises(ValueError, match=r"drums.mid has no notes \(drums, on channel 10, are left out\)"):
        music.read_folder(tmp_path)
    with pytest.raises(FileNotFoundError, match="No such MIDI file: .*gone.mid"):
        music.midi_to_tokens(tmp_path / "gone.mid")
    write_midi(tmp_path / "async.mid", [[mido.Message("note_on", note=60)]], type=2)
    with pytest.raises(ValueError, match="async.mid is a type 2 MIDI file .* types 0 and 1 work"):
        music.midi_to_tokens(tmp_path / "async.mid")


def test_transpose_moves_every_note_and_keeps_the_keyboard():
    t = tokens(vel(5), on(60), on(64), shift(8), off(60), off(64), on(107), shift(4), off(107))
    up = music.transpose(t, 3)
    assert [(s, e, p, v) for s, e, p, v in music.notes(up)] == \
        [(s, e, p + 3 if p + 3 <= music.MAX_PITCH else p + 3 - 12, v) for s, e, p, v in music.notes(t)]
    assert music.notes(up)[-1][2] == 98                        # 110 is past the last key: an octave down
    assert music.transpose(music.transpose(t, -5), 5) == t      # in range both ways: exactly back
    assert music.transpose(t, 0) == t
    for bad in (1.5, 88, True):
        with pytest.raises(ValueError, match="semitones must be an integer >= -87 and <= 87"):
            music.transpose(t, bad)


def test_read_folder_transposes_every_piece_key_by_key(tmp_path):
    folder = music.example_folder(tmp_path)
    pieces = music.read_folder(folder)
    keys = music.read_folder(folder, transpose_by=2)
    assert len(keys) == 5 * len(pieces)
    assert keys == [music.transpose(p, k) for k in (-2, -1, 0, 1, 2) for p in pieces]
    assert keys[2 * len(pieces):3 * len(pieces)] == pieces       # the pieces' own key in the middle
    for bad in (-1, 13, 2.0):
        with pytest.raises(ValueError, match="transpose_by must be an integer >= 0 and <= 12"):
            music.read_folder(folder, transpose_by=bad)


def test_cut_long_notes_ends_notes_after_the_limit_and_leaves_shorter_ones():
    held = tokens(vel(4), on(48), on(60), shift(8), off(60), on(62), shift(32), shift(32), off(62))
    cut = music.cut_long_notes(held, 0.5)                       # 16 steps of 1/32 s
    assert music.notes(held) == [(0.0, 0.25, 60, 4), (0.0, 2.25, 48, 4), (0.25, 2.25, 62, 4)]
    assert music.notes(cut) == [(0.0, 0.25, 60, 4), (0.0, 0.5, 48, 4), (0.25, 0.75, 62, 4)]
    assert music.cut_long_notes(cut, 0.5) == cut
    assert music.notes(music.cut_long_notes(held, 0.001))[0][:2] == (0.0, 1 / 32)   # one step at least
    with pytest.raises(ValueError, match="seconds must be a number > 0, got 0"):
        music.cut_long_notes(held, 0)


def test_describe_lists_the_first_events_with_times():
    text = music.describe(tokens(vel(5), on(69), shift(32), off(69)), n=3)
    assert text.splitlines() == ["4 tokens, 1 notes, 1.0 s", "  0.000 s  VELOCITY 88",
                                 "  0.000 s  NOTE_ON A4", "  0.000 s  TIME_SHIFT 1.000 s", "    ... 1 more"]


def test_synthesize_a4_sounds_at_440_hz(tmp_path):
    t = tokens(vel(5), on(69), shift(32), off(69))
    wave = music.synthesize(t, sample_rate=16000)
    assert wave.dtype == np.float32 and wave.shape == (17600,)  # 1 s held, 0.1 s release
    assert np.abs(wave).max() <= 1 and np.sqrt(np.mean(wave ** 2)) > 0.01
    spectrum = np.abs(np.fft.rfft(wave[:16000]))
    assert abs(np.fft.rfftfreq(16000, 1 / 16000)[np.argmax(spectrum)] - 440) <= 2
    assert spectrum[875:885].max() > 0.1 * spectrum.max()   # a second harmonic
    np.testing.assert_array_equal(music.synthesize(music.tokens_to_midi(t, tmp_path / "a4.mid")), wave)
    np.testing.assert_array_equal(music.synthesize(str(tmp_path / "a4.mid")), wave)


def test_synthesize_stays_in_range_and_of_nothing_is_empty():
    cluster = tokens(vel(7), *[on(p) for p in range(48, 72)], shift(16))
    wave = music.synthesize(cluster, sample_rate=8000)
    assert 0.9 < np.abs(wave).max() <= 1
    assert music.synthesize("").shape == (0,)


def test_examples_are_written_once_the_same_and_not_over_other_files(tmp_path, data_home):
    a, b = music.example_folder(tmp_path / "a"), music.example_folder(tmp_path / "b")
    assert a == tmp_path / "a" / "midi-examples"
    names = sorted(os.listdir(a))
    assert names == sorted(os.listdir(b)) and 4 <= len(names) <= 8
    assert all((a / n).read_bytes() == (b / n).read_bytes() for n in names)
    assert 300 <= sum(map(len, music.read_folder(a))) <= 3000
    when = (a / names[0]).stat().st_mtime_ns
    assert music.example_folder(tmp_path / "a") == a and (a / names[0]).stat().st_mtime_ns == when
    (a / names[0]).write_bytes(b"my own")
    with pytest.raises(FileExistsError, match=f"{names[0]} exists and is not the example"):
        music.example_folder(tmp_path / "a")
    assert (a / names[0]).read_bytes() == b"my own"
    assert music.example_folder() == data_home / "midi-examples"
