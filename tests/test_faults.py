"""Faults injected on purpose into real training processes: signals, kill -9, damaged
checkpoint folders, a full disk, two trainings on one folder. Each test checks the step a run
resumes from, that no trained step past the checkpoint interval is lost, and that the message
names the cause. Tiny models; a few seconds per process."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--n-layers", "1", "--n-cells", "16", "--batch-size", "4", "--sequence-length", "16"]
GAN_TINY = ["--data", "faces", "--image-size", "16", "--n-features", "4", "--n-latent", "8",
            "--batch-size", "8"]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def text(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text("the quick brown fox jumps over the lazy dog. " * 80)
    return path


def charrnn(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "libs.charrnn", *map(str, args)], cwd=ROOT,
                          env=ENV, capture_output=True, text=True, timeout=300, **kwargs)


def start(module: str, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", f"libs.{module}", *map(str, args)], cwd=ROOT,
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def steps_saved(ckpt: Path) -> list[int]:
    return sorted(int(f.name[5:-6]) for f in ckpt.glob("ckpt-*.index"))


def wait_for_checkpoint(process: subprocess.Popen, ckpt: Path, at_least: int = 1) -> None:
    deadline = time.time() + 240
    while not steps_saved(ckpt) or max(steps_saved(ckpt)) < at_least:
        assert process.poll() is None, process.communicate()
        assert time.time() < deadline, "no checkpoint written in time"
        time.sleep(0.05)


def result(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def train_until_signalled(ckpt: Path, text: Path, *signals: signal.Signals, gap: float = 0.0,
                          module: str = "charrnn"):
    """Start an endless training, wait for its first checkpoint, send `signals` `gap` seconds
    apart; return (returncode, stdout, stderr)."""
    args = ["train", "--ckpt", ckpt, "--checkpoint-every", 10]
    args += (["--text", text, *TINY] if module == "charrnn"
             else [*GAN_TINY, "--montage-every", 1])
    process = start(module, *args)
    wait_for_checkpoint(process, ckpt, 10)
    for i, sig in enumerate(signals):
        if i:
            time.sleep(gap)
        process.send_signal(sig)
    out, err = process.communicate(timeout=240)
    return process.returncode, out, err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_fault_a_signal_finishes_the_step_and_saves_it(tmp_path, text, sig):
    ckpt = tmp_path / "run"
    code, out, err = train_until_signalled(ckpt, text, sig)
    assert code == 0, err
    assert f"Interrupted ({sig.name}): saved step" in out
    reached = result(out)["step"]
    assert reached >= 10 and max(steps_saved(ckpt)) == reached  # nothing trained was lost
    assert result(out)["stop_reason"] == "interrupted"
    assert not (ckpt / "train.lock").exists()
    if sig == signal.SIGTERM:
        resumed = charrnn("train", "--text", text, "--ckpt", ckpt, "--steps", reached + 2)
        assert resumed.returncode == 0, resumed.stderr
        assert f"trained steps {reached} to {reached + 2}" in resumed.stdout


def test_fault_two_quick_ctrl_c_skip_the_pictures_but_not_the_save(tmp_path):
    # The GAN draws a montage every step here, so the second Ctrl-C lands in cosmetic work or
    # in a save: either way the checkpoint of the last step trained is written.
    ckpt = tmp_path / "gan"
    code, out, err = train_until_signalled(ckpt, None, signal.SIGINT, signal.SIGINT, gap=0.05,
                                           module="gan")
    # 130: the second came after training had saved and returned; -SIGINT: it came while the
    # interpreter was shutting down after that, where Python ends by SIGINT itself (a shell
    # shows 130 for both).
    assert code in (0, 130, -signal.SIGINT), err
    saved = max(steps_saved(ckpt))  # the library reports the step it trained to and saved
    assert saved >= 10 and f"Interrupted (SIGINT): saved step {saved} in" in out
    assert not list(ckpt.glob("ckpt-*_temp"))


def test_fault_kill_9_during_saves_resumes_from_the_last_complete_checkpoint(tmp_path, text):
    ckpt = tmp_path / "run"
    for kill_after in (0.0, 0.4):  # saves every step: the kill lands in or near one
        process = start("charrnn", "train", "--text", text, "--ckpt", ckpt, *TINY,
                        "--checkpoint-every", 1)
        wait_for_checkpoint(process, ckpt, max(steps_saved(ckpt) or [0]) + 2)
        time.sleep(kill_after)
        process.kill()
        process.wait()
    before = steps_saved(ckpt)[-1]
    run = charrnn("train", "--text", text, "--ckpt", ckpt, *TINY, "--steps", before + 2)
    assert run.returncode == 0, run.stderr
    assert f"trained steps {before} to {before + 2}" in run.stdout
    assert not list(ckpt.glob("ckpt-*_temp"))  # partial saves cleaned up


def test_fault_damaged_checkpoints_from_the_command_line(tmp_path, text):
    # Damaged folders in every form are tested in test_training.py; here the command lines:
    # a truncated latest checkpoint, then a garbled index.
    ckpt = tmp_path / "run"
    run = charrnn("train", "--text", text, "--ckpt", ckpt, *TINY, "--steps", 6,
                  "--checkpoint-every", 2)
    assert run.returncode == 0, run.stderr
    assert steps_saved(ckpt) == [2, 4, 6]
    data = ckpt / "ckpt-6.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:data.stat().st_size // 2])
    sampled = charrnn("sample", "--ckpt", ckpt, "--n-chars", 20, "--seed", 1, "--latest")
    assert sampled.returncode == 0, sampled.stderr
    assert "ckpt-6 is damaged" in sampled.stderr and "step 4 instead" in sampled.stderr
    (ckpt / "checkpoint").write_text("model_checkpoint_path: {{{ garbage")
    run = charrnn("train", "--text", text, "--ckpt", ckpt, "--steps", 8, "--checkpoint-every", 2)
    assert run.returncode == 0, run.stderr
    assert "ckpt-6 is damaged" in run.stderr and "resumes from step 4" in run.stderr
    assert "trained steps 4 to 8" in run.stdout
    assert steps_saved(ckpt) == [4, 6, 8]  # ckpt-6 written anew


def test_fault_two_trainings_on_one_folder_the_second_is_refused(tmp_path, text):
    ckpt = tmp_path / "run"
    first = start("charrnn", "train", "--text", text, "--ckpt", ckpt, *TINY,
                  "--checkpoint-every", 5)
    try:
        wait_for_checkpoint(first, ckpt, 5)
        second = charrnn("train", "--text", text, "--ckpt", ckpt, "--steps", 100000)
        assert second.returncode == 1
        assert "is being trained by process" in second.stderr and str(first.pid) in second.stderr
    finally:
        first.kill()  # kill -9: its lock file stays, but the lock dies with the process
        first.wait()
    assert (ckpt / "train.lock").exists()
    third = charrnn("train", "--text", text, "--ckpt", ckpt, "--steps", max(steps_saved(ckpt)) + 1)
    assert third.returncode == 0, third.stderr


def test_fault_truncated_vocabulary_is_named(tmp_path):
    from libs.text import Vocabulary

    path = tmp_path / "vocabulary.json"
    Vocabulary.from_text("some text").save(path)
    path.write_text(path.read_text()[:12])
    with pytest.raises(ValueError, match=r"vocabulary.json is damaged .*restore the file"):
        Vocabulary.load(path)


DISK_FULL = r"""
set -u
mount -t tmpfs -o size=2m none "$DIR" || exit 77
run() { "$PY" -m libs.charrnn train --text "$TEXT" --ckpt "$DIR/run" $TINY --checkpoint-every 2 "$@"; }
run --steps 4 > "$OUT/first.out" 2> "$OUT/first.err"; echo $? > "$OUT/first.rc"
# 12 KiB left: room for the lock and the TensorBoard file, not for a checkpoint (~36 KiB)
fill=$(( $(stat -f -c '%a' "$DIR") * $(stat -f -c '%S' "$DIR") / 1024 - 12 ))
dd if=/dev/zero of="$DIR/filler" bs=1k count=$fill 2> /dev/null
run --steps 8 > "$OUT/full.out" 2> "$OUT/full.err"; echo $? > "$OUT/full.rc"
ls -a "$DIR/run" > "$OUT/after_full.ls"
rm "$DIR/filler"
run --steps 8 > "$OUT/again.out" 2> "$OUT/again.err"; echo $? > "$OUT/again.rc"
ls -a "$DIR/run" > "$OUT/after_again.ls"
"""


def test_fault_disk_full_during_a_save_says_so_and_resumes(tmp_path, text):
    if not shutil.which("unshare"):
        pytest.skip("needs unshare (util-linux) to mount a small private tmpfs")
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"],
                           capture_output=True)
    if probe.returncode:
        pytest.skip(f"cannot make a private mount namespace here: {probe.stderr.decode()}")
    small, out = tmp_path / "small", tmp_path / "out"
    small.mkdir()
    out.mkdir()
    env = {**ENV, "DIR": str(small), "OUT": str(out), "PY": sys.executable, "TEXT": str(text),
           "TINY": " ".join(TINY)}
    shell = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "bash", "-c",
                            DISK_FULL], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=600)
    if shell.returncode == 77:
        pytest.skip(f"cannot mount a tmpfs here: {shell.stderr}")

    def read(name):
        return (out / name).read_text()

    assert read("first.rc").strip() == "0", read("first.err")
    assert read("full.rc").strip() == "1", read("full.out")
    message = read("full.err")
    assert "could not save step" in message and "No space left on device" in message, message
    assert "step 4 (ckpt-4) is intact" in message and "are free there" in message, message
    assert "_temp" not in read("after_full.ls")
    assert read("again.rc").strip() == "0", read("again.err")
    assert "trained steps 4 to 8" in read("again.out")
    assert "_temp" not in read("after_again.ls")
