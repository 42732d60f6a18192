"""Music as a string of symbols for the char-RNN: MIDI files <-> token strings, and a synthesiser.

MIDI is read and written with `mido` (pure Python, one 54 KB wheel, maintained; pretty_midi
would add a 5.6 MB package built on an older stack for what is here a few lines). All tracks
and channels are merged; drums (channel 10) are dropped, and so are the sustain pedal,
instruments and everything else that is not a note.

The encoding is Performance RNN's (Oore et al. 2018, "This time with feeling"), made smaller
for a small model, 216 events:

    NOTE_ON(p), NOTE_OFF(p)   p in 21..108, the piano's 88 keys; a pitch outside is moved by
                              octaves into the range (a melody keeps its shape), never dropped
    TIME_SHIFT(k)             k = 1..32 steps of 1/32 s (31.25 ms .. 1 s); longer: several
    VELOCITY(b)               b = velocity // 16 (8 bins, played back as 16 b + 8); it applies
                              to the NOTE_ONs after it

Why 1/32 s and 32 shifts, not Performance RNN's 10 ms and 100: between sixteenth notes at
120 bpm is one token (4 steps), a rounding of at most 16 ms is hardly audible, and the
vocabulary stays small for a small corpus. Times are rounded once, on the absolute clock, so
errors never add up; a file that went through the encoding comes back the same.

Token i is the character chr(BASE + i), BASE = 0x100: U+0100..U+01D7, Latin Extended letters,
none a control or whitespace character and none in Latin-1, so they never meet an
end-of-sequence mark like "\\n" or the sound symbols of `libs.sound`. Within a time step,
NOTE_OFFs come first, then NOTE_ONs, each by rising pitch; VELOCITY only when it changes;
silence before the first note is left out; a note lasts at least one step.

For a small corpus, `read_folder(folder, transpose_by=N)` gives every piece in other keys too
(`transpose`), as Performance RNN was trained; for a sample, `cut_long_notes` ends the notes
whose NOTE_OFF the model never drew.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from libs.arguments import check_int, check_positive
from libs.downloads import data_dir
from libs.files import write_bytes_atomic

MIN_PITCH, MAX_PITCH = 21, 108
STEPS_PER_SECOND = 32
MAX_SHIFT = 32          # steps in the longest TIME_SHIFT
N_VELOCITIES = 8
NOTE_ON = 0             # token ids: NOTE_ON + p - MIN_PITCH, ...
NOTE_OFF = NOTE_ON + MAX_PITCH - MIN_PITCH + 1      # 88
TIME_SHIFT = NOTE_OFF + MAX_PITCH - MIN_PITCH + 1   # 176: TIME_SHIFT + k - 1 for k steps
VELOCITY = TIME_SHIFT + MAX_SHIFT                   # 208: VELOCITY + b
VOCAB_SIZE = VELOCITY + N_VELOCITIES                # 216
BASE = 0x100
VOCABULARY = "".join(chr(BASE + i) for i in range(VOCAB_SIZE))
DRUMS = 9               # channel 10, counted from 1
DEFAULT_VELOCITY = 4    # the bin of velocity 64, for NOTE_ONs before any VELOCITY
_TICKS_PER_BEAT, _TEMPO = 480, 500_000   # 120 bpm: one step is 30 ticks
_NAMES = "C C# D D# E F F# G G# A A# B".split()

# A note is (start, end, pitch, velocity bin), times in steps.


def _in_range(pitch: int) -> int:
    while pitch < MIN_PITCH:
        pitch += 12
    while pitch > MAX_PITCH:
        pitch -= 12
    return pitch


def _clean(notes) -> list[tuple[int, int, int, int]]:
    """Notes as tokens can say them, sorted by start: each at least a step long; one at a time per
    pitch (a note ends where the next of its pitch starts; of two starting together, the longer)."""
    out, kept = [], {}
    for start, end, pitch, vel in sorted(((s, max(e, s + 1), p, v) for s, e, p, v in notes),
                                         key=lambda n: (n[2], n[0], -n[1], n[3])):
        last = kept.get(pitch)
        if last and last[0] == start:
            continue
        if last and last[1] > start:
            last[1] = start
        kept[pitch] = [start, end, pitch, vel]
        out.append(kept[pitch])
    return sorted(tuple(n) for n in out)


def _events(notes):
    """(time, 0 for off / 1 for on, pitch, velocity bin), in token order."""
    return sorted([(e, 0, p, 0) for s, e, p, v in notes] + [(s, 1, p, v) for s, e, p, v in notes])


def _notes_to_tokens(notes) -> str:
    ids, now, velocity = [], 0, None
    for time, on, pitch, vel in _events(notes):
        while time > now:
            k = min(time - now, MAX_SHIFT)
            ids.append(TIME_SHIFT + k - 1)
            now += k
        if on and vel != velocity:
            ids.append(VELOCITY + vel)
            velocity = vel
        ids.append((NOTE_ON if on else NOTE_OFF) + pitch - MIN_PITCH)
    return "".join(chr(BASE + i) for i in ids)


def _ids(tokens: str) -> list[int]:
    ids = [ord(c) - BASE for c in tokens]
    for k, i in enumerate(ids):
        if not 0 <= i < VOCAB_SIZE:
            raise ValueError(f"Character {tokens[k]!r} (U+{ord(tokens[k]):04X}) at position {k} is not a "
                             f"music token; tokens are U+{BASE:04X}..U+{BASE + VOCAB_SIZE - 1:04X} "
                             "(libs.music.VOCABULARY).")
    return ids


def _tokens_to_notes(tokens: str) -> list[tuple[int, int, int, int]]:
    """Any token string, in any order, as notes: a NOTE_OFF of a silent key is ignored, a NOTE_ON
    of a sounding key restarts it, and notes still on at the end are closed there."""
    now, velocity, sounding, notes = 0, DEFAULT_VELOCITY, {}, []
    for i in _ids(tokens):
        if i < NOTE_OFF:
            pitch = MIN_PITCH + i - NOTE_ON
            if pitch in sounding:
                notes.append((*sounding.pop(pitch), now))
            sounding[pitch] = (pitch, velocity, now)
        elif i < TIME_SHIFT:
            if (pitch := MIN_PITCH + i - NOTE_OFF) in sounding:
                notes.append((*sounding.pop(pitch), now))
        elif i < VELOCITY:
            now += i - TIME_SHIFT + 1
        else:
            velocity = i - VELOCITY
    notes += [(*note, now) for note in sounding.values()]
    return _clean((start, end, pitch, vel) for pitch, vel, start, end in notes)


def notes(tokens: str) -> list[tuple[float, float, int, int]]:
    """The notes a token string plays, for a piano roll: (start s, end s, pitch, velocity bin),
    sorted by start."""
    return [(s / STEPS_PER_SECOND, e / STEPS_PER_SECOND, p, v) for s, e, p, v in
            _tokens_to_notes(tokens)]


def _read_notes(path: Path) -> list[tuple[float, float, int, int]]:
    """(start s, end s, pitch, MIDI velocity) of every note but the drums, tracks merged."""
    import mido

    if not path.is_file():
        raise FileNotFoundError(f"No such MIDI file: {path}")
    try:
        midi = mido.MidiFile(path)
    except (OSError, EOFError, ValueError, mido.KeySignatureError) as e:
        raise ValueError(f"{path} is not a readable MIDI file ({str(e) or 'it ends too early'}); a standard "
                         "MIDI file (.mid, type 0 or 1) is needed.") from e
    if midi.type == 2:
        raise ValueError(f"{path} is a type 2 MIDI file (independent patterns); types 0 and 1 work.")
    tick, base_tick, base_s, tempo = 0, 0, 0.0, _TEMPO
    sounding: dict[tuple[int, int], list] = {}
    notes = []
    for msg in mido.merge_tracks(midi.tracks):
        tick += msg.time
        now = base_s + (tick - base_tick) * tempo * 1e-6 / midi.ticks_per_beat
        if msg.type == "set_tempo":
            base_tick, base_s, tempo = tick, now, msg.tempo
        elif msg.type in ("note_on", "note_off") and msg.channel != DRUMS:
            key = (msg.channel, msg.note)
            if msg.type == "note_on" and msg.velocity > 0:
                sounding.setdefault(key, []).append((now, msg.velocity))
            elif sounding.get(key):
                start, velocity = sounding[key].pop(0)
                notes.append((start, now, msg.note, velocity))
    notes += [(start, now, key[1], v) for key, held in sounding.items() for start, v in held]
    return notes


def midi_to_tokens(path) -> str:
    """The notes of a MIDI file as a token string (see the module docstring)."""
    path = Path(path).expanduser()
    notes = [(round(s * STEPS_PER_SECOND), round(e * STEPS_PER_SECOND), _in_range(p), v // 16)
             for s, e, p, v in _read_notes(path)]
    if not notes:
        raise ValueError(f"{path} has no notes (drums, on channel 10, are left out); a MIDI file "
                         "with at least one note is needed.")
    first = min(n[0] for n in notes)
    return _notes_to_tokens(_clean((s - first, e - first, p, v) for s, e, p, v in notes))


def _midi_bytes(notes) -> bytes:
    import mido

    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=_TEMPO, time=0)])
    ticks_per_step, ticks = _TICKS_PER_BEAT * 2 // STEPS_PER_SECOND, 0
    for time, on, pitch, vel in _events(notes):
        kind, velocity = ("note_on", 16 * vel + 8) if on else ("note_off", 0)
        track.append(mido.Message(kind, note=pitch, velocity=velocity, time=time * ticks_per_step - ticks))
        ticks = time * ticks_per_step
    track.append(mido.MetaMessage("end_of_track", time=0))
    midi = mido.MidiFile(type=0, ticks_per_beat=_TICKS_PER_BEAT, tracks=[track])
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def tokens_to_midi(tokens: str, path, overwrite: bool = False) -> Path:
    """Write a token string (a sampler's, in any order) as a MIDI file; return its path.

    Written atomically. An existing `path` is refused with FileExistsError unless `overwrite`.
    """
    path = Path(path).expanduser()
    notes = _tokens_to_notes(tokens)
    if not notes:
        raise ValueError(f"The {len(tokens)} tokens hold no NOTE_ON; nothing was written to {path}.")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it, or choose another name.")
    return write_bytes_atomic(path, _midi_bytes(notes))


def transpose(tokens: str, semitones: int) -> str:
    """A token string played `semitones` higher (lower if negative); a note pushed past the
    piano's keys is moved by octaves back into them, as when reading a file."""
    semitones = check_int("semitones", semitones, -(MAX_PITCH - MIN_PITCH), MAX_PITCH - MIN_PITCH)
    return _notes_to_tokens(_clean((s, e, _in_range(p + semitones), v)
                                   for s, e, p, v in _tokens_to_notes(tokens)))


def cut_long_notes(tokens: str, seconds: float) -> str:
    """A token string whose notes last at most `seconds`: a sampled NOTE_ON whose NOTE_OFF
    never comes would otherwise sound to the end of the piece (Magenta's Performance RNN
    generator ends every note after 5 s, for the same reason)."""
    limit = max(1, round(check_positive("seconds", seconds) * STEPS_PER_SECOND))
    return _notes_to_tokens(_clean((s, min(e, s + limit), p, v)
                                   for s, e, p, v in _tokens_to_notes(tokens)))


def read_folder(folder, transpose_by: int = 0) -> list[str]:
    """The token string of every .mid/.midi file directly in `folder`, sorted by name.

    `transpose_by` N > 0: every piece in each of the 2N + 1 keys from N semitones down to N up
    (`transpose`), key by key: more music of the same kind for a small corpus, as Oore et al.
    (2018) trained Performance RNN with transpositions of up to a major third (N = 4)."""
    n = check_int("transpose_by", transpose_by, 0, 12)
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"No such folder: {folder}; a folder of MIDI files (.mid, .midi) is needed.")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".mid", ".midi") and p.is_file())
    if not files:
        raise ValueError(f"{folder} has no MIDI files; put .mid or .midi files in it "
                         "(subfolders are not read).")
    pieces = [midi_to_tokens(p) for p in files]
    return [transpose(piece, k) if k else piece for k in range(-n, n + 1) for piece in pieces]


def _name(pitch: int) -> str:
    return f"{_NAMES[pitch % 12]}{pitch // 12 - 1}"


def describe(tokens: str, n: int = 20) -> str:
    """A summary line and the first `n` events, one a line, each with its time in seconds."""
    notes, lines, now = _tokens_to_notes(tokens), [], 0
    seconds = max((n[1] for n in notes), default=0) / STEPS_PER_SECOND
    for i in _ids(tokens[:n]):
        if i < NOTE_OFF:
            event = f"NOTE_ON {_name(MIN_PITCH + i - NOTE_ON)}"
        elif i < TIME_SHIFT:
            event = f"NOTE_OFF {_name(MIN_PITCH + i - NOTE_OFF)}"
        elif i < VELOCITY:
            event = f"TIME_SHIFT {(i - TIME_SHIFT + 1) / STEPS_PER_SECOND:.3f} s"
        else:
            event = f"VELOCITY {16 * (i - VELOCITY) + 8}"
        lines.append(f"{now / STEPS_PER_SECOND:7.3f} s  {event}")
        now += i - TIME_SHIFT + 1 if TIME_SHIFT <= i < VELOCITY else 0
    more = [f"    ... {len(tokens) - n} more"] if len(tokens) > n else []
    return "\n".join([f"{len(tokens)} tokens, {len(notes)} notes, {seconds:.1f} s"] + lines + more)


def synthesize(music, sample_rate: int = 16000) -> np.ndarray:
    """A token string or MIDI file as sound: float32 (samples,) in [-1, 1] at `sample_rate`.

    Each note is four harmonics (1, 1/2, 1/4, 1/8), a 5 ms attack and a piano-like decay
    (faster for higher harmonics), released over 0.1 s after its NOTE_OFF. A string with any
    character of the token range is tokens; anything else is a path.
    """
    if isinstance(music, str) and (not music or any(ord(c) >= BASE for c in music)):
        notes = _tokens_to_notes(music)
    else:
        notes = _tokens_to_notes(midi_to_tokens(music))
    release = 0.1
    end = max((n[1] for n in notes), default=0) / STEPS_PER_SECOND
    wave = np.zeros(int(round((end + release) * sample_rate)) if notes else 0)
    for start, stop, pitch, vel in notes:
        held = (stop - start) / STEPS_PER_SECOND
        t = np.arange(int(round((held + release) * sample_rate))) / sample_rate
        envelope = np.minimum(1.0, t / 0.005) * np.clip(1 - (t - held) / release, 0, 1)
        freq = 440.0 * 2 ** ((pitch - 69) / 12)
        tone = sum(np.exp(-3.0 * h * t) / 2 ** (h - 1) * np.sin(2 * np.pi * h * freq * t)
                   for h in range(1, 5) if h * freq < sample_rate / 2)
        i = int(round(start / STEPS_PER_SECOND * sample_rate))
        wave[i:i + len(t)] += 0.15 * (16 * vel + 8) / 127 * envelope * tone
    peak = np.abs(wave).max(initial=0.0)
    return (wave * (0.99 / peak if peak > 0.99 else 1.0)).astype(np.float32)


# --- Embedded examples: written by this module, no download ------------------------------------

def _line(spec, start: int = 0, velocities=(80,), gate: int = 1):
    """Notes of a melody: `spec` is (pitch, steps) pairs; each note is `gate` steps shorter than
    its place; velocities are MIDI velocities, used in turn."""
    notes, now = [], start
    for k, (pitch, steps) in enumerate(spec):
        notes.append((now, now + max(1, steps - gate), pitch, velocities[k % len(velocities)] // 16))
        now += steps
    return notes


def _examples() -> dict[str, list]:
    up = [60, 62, 64, 65, 67, 69, 71, 72, 74, 76, 77, 79, 81, 83, 84]
    scale = (_line([(p, 8) for p in up], velocities=range(40, 115, 5))
             + _line([(p, 4) for p in up[-2::-1]], start=120, velocities=range(110, 30, -6)))
    arpeggios = []
    for bar, chord in enumerate([(60, 64, 67, 72), (57, 60, 64, 69), (53, 57, 60, 65), (55, 59, 62, 67)]):
        pattern = [(p, 4) for p in chord + chord[::-1]] * 2
        arpeggios += _line(pattern, 64 * bar, velocities=(96, 56, 64, 56, 80, 56, 64, 56), gate=0)
        arpeggios += _line([(chord[0] - 12, 64)], 64 * bar, velocities=(72,))
    arpeggios += [(256, 320, p, 88 // 16) for p in (48, 60, 64, 67)]
    C, D, E, F, G = 60, 62, 64, 65, 67   # Beethoven's "Ode to Joy" (1824), in C
    ode_a = [E, E, F, G, G, F, E, D, C, C, D, E]
    ode = _line([(p, 16) for p in ode_a] + [(E, 24), (D, 8), (D, 32)], velocities=(84, 76, 80, 92), gate=2)
    ode += _line([(p, 16) for p in ode_a] + [(D, 24), (C, 8), (C, 32)], 256, velocities=(80, 72, 76, 88),
                 gate=2)
    ode += _line([(p, 64) for p in (48, 43, 48, 43, 48, 43, 48, 48)], velocities=(56, 48))
    A, G3 = 69, 55   # "Frere Jacques" (traditional), a canon: the second voice an octave down
    frere = [(C, 12), (D, 12), (E, 12), (C, 12)] * 2 + [(E, 12), (F, 12), (G, 24)] * 2
    frere += [(G, 6), (A, 6), (G, 6), (F, 6), (E, 12), (C, 12)] * 2 + [(C, 12), (G3, 12), (C, 24)] * 2
    canon = _line(frere, velocities=(88, 72, 80, 72), gate=2)
    canon += _line([(p - 12, d) for p, d in frere], 96, velocities=(64, 52, 60, 52), gate=2)
    blues = []   # a 12-bar boogie in C, swung eighths (16 + 8 steps at 80 bpm)
    for bar, root in enumerate([48, 48, 48, 48, 53, 53, 48, 48, 55, 53, 48, 55]):
        for beat, top in enumerate([7, 7, 9, 9]):
            for offset, steps, vel in ((0, 16, 92 if beat % 2 == 0 else 76), (16, 8, 56)):
                blues += _line([(root, steps)], 96 * bar + 24 * beat + offset, (vel,), gate=2)
                blues += _line([(root + top, steps)], 96 * bar + 24 * beat + offset, (vel - 8,), gate=2)
    blues += [(1152, 1200, p, 100 // 16) for p in (36, 48, 52, 55, 58)]
    return {"1-scale.mid": scale, "2-arpeggios.mid": arpeggios, "3-ode-to-joy.mid": ode,
            "4-frere-jacques.mid": canon, "5-boogie.mid": blues}


def example_folder(root=None) -> Path:
    """A folder of five short MIDI files this module composes (a scale, arpeggios, "Ode to Joy",
    "Frere Jacques" as a canon, a 12-bar boogie): `root`/midi-examples, `root` defaulting to
    `downloads.data_dir()`. Written once, atomically, the same bytes every time; a file of the
    same name with other contents is refused with FileExistsError, not replaced."""
    folder = (Path(root).expanduser() if root else data_dir()) / "midi-examples"
    for name, notes in _examples().items():
        path, data = folder / name, _midi_bytes(_clean(notes))
        if path.is_file() and path.read_bytes() == data:
            continue
        if os.path.lexists(path):
            raise FileExistsError(f"{path} exists and is not the example this library writes; move it "
                                  "away (or pass another root) to have the examples written.")
        write_bytes_atomic(path, data)
    return folder
