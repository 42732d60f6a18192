"""`--strategy multiworker`: two worker processes on 127.0.0.1, each given its TF_CONFIG,
train together as one process with the same global batch would; only the chief writes the
user's folder, and what they saved resumes in one process. (`--strategy mirrored` is tested per
model with `on_two_cpus`.)"""
import importlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import TWO_CPUS
from libs import charrnn, draw, gan, training
from test_charrnn import TEXT

ROOT = Path(__file__).resolve().parent.parent
CHARRNN = dict(n_cells=8, n_layers=1, batch_size=4, sequence_length=8)
GAN = dict(image_size=16, n_latent=4, n_features=4, batch_size=4)


def flags(settings: dict) -> list[str]:
    return [f for k, v in settings.items() for f in ("--" + k.replace("_", "-"), str(v))]


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start(argv, log: Path, **env) -> subprocess.Popen:
    """`python argv...` from the repository, its output in log.out and log.err."""
    with open(f"{log}.out", "w") as out, open(f"{log}.err", "w") as err:
        return subprocess.Popen([sys.executable, *argv], cwd=ROOT, stdout=out, stderr=err,
                                env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **env))


def finish(processes, timeout: float = 150) -> None:
    """Wait for all of them (a hung collective never hangs the suite): each must exit 0."""
    deadline = time.monotonic() + timeout
    try:
        for p in processes:
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()


def workers(tmp_path: Path, *argvs) -> list[subprocess.Popen]:
    """Start one worker per argv (a `python -m ...` command line) with its TF_CONFIG, worker 0
    the chief; their output goes to tmp_path/workerN.out and .err."""
    hosts = [f"127.0.0.1:{port}" for port in free_ports(len(argvs))]
    started = []
    for i, argv in enumerate(argvs):
        config = {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}}
        started.append(start(["-m", *argv, "--strategy", "multiworker"],
                             tmp_path / f"worker{i}", TF_CONFIG=json.dumps(config)))
    return started


def last_json(log: Path) -> dict:
    return json.loads(Path(f"{log}.out").read_text().strip().splitlines()[-1])


def test_multiworker_strategy_tf_config_is_checked(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match=r"TF_CONFIG, which is not set; set it on every machine "
                                         r"to JSON like \{\"cluster\": \{\"worker\""):
        training.make_strategy("multiworker")
    bad = {"not json": "JSONDecodeError", '{"cluster": {"worker": ["a:1"]}}': "no 'task'",
           '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}':
               "task.index is 1, not 0 to 0",
           '{"cluster": {"worker": ["a"]}, "task": {"type": "chief", "index": 0}}':
               "cluster.worker lists 'a', not 'host:port'; task.type is 'chief'"}
    for text, problem in bad.items():
        with pytest.raises(ValueError, match="TF_CONFIG is malformed") as e:
            training.check_tf_config(text)
        assert problem in str(e.value) and '"task": {"type": "worker", "index": 0}' in str(e.value)
    good = '{"cluster": {"chief": ["a:1"], "worker": ["b:2"]}, "task": {"type": "worker", "index": 0}}'
    assert training.check_tf_config(good)["task"]["index"] == 0
    with pytest.raises(ValueError, match="unknown strategy 'tpu'"):
        training.make_strategy("tpu")
    assert training.make_strategy("default") is None and training.is_chief(None)


@pytest.mark.parametrize("module", ["charrnn", "gan", "draw", "vaegan"])
def test_every_train_command_takes_a_strategy(module, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    main = importlib.import_module(f"libs.{module}").main
    (tmp_path / "text.txt").write_text(TEXT)
    data = {"charrnn": ["--text", str(tmp_path / "text.txt")], "draw": ["--data", "digits"]}.get(
        module, ["--data", "faces"])
    ckpt = tmp_path / "ckpt"
    with pytest.raises(SystemExit) as e:
        main(["train", *data, "--ckpt", str(ckpt), "--strategy", "tpu"])
    assert e.value.code == 2 and "invalid choice: 'tpu'" in capsys.readouterr().err
    assert main(["train", *data, "--ckpt", str(ckpt), "--strategy", "multiworker"]) == 1
    assert "TF_CONFIG, which is not set" in capsys.readouterr().err and not ckpt.exists()
    if module == "gan":  # one replica here: the command line's strategy reaches training
        assert main(["train", *data, "--ckpt", str(ckpt), "--strategy", "mirrored",
                     "--steps", "1", *flags(GAN)]) == 0
        assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["step"] == 1


def test_multiworker_strategy_charrnn_trains_like_one_process(tmp_path):
    """Two workers (a replica each, half the batch each) end where one process with the whole
    batch does; worker 1 writes nothing into its --ckpt; their checkpoint resumes in one
    process to where the one process's uninterrupted run goes."""
    text = tmp_path / "text.txt"
    text.write_text(TEXT)
    argv = ["libs.charrnn", "train", "--text", str(text), "--steps", "3", "--eval-every", "1000",
            *flags(CHARRNN)]
    two, elsewhere = tmp_path / "two", tmp_path / "elsewhere"
    procs = workers(tmp_path, [*argv, "--ckpt", str(two)], [*argv, "--ckpt", str(elsewhere)])
    try:  # the one-process run meanwhile
        options = dict(CHARRNN, progress=False, sample_chars=0, eval_every=10**6)
        alone, alone_history = charrnn.train(TEXT, tmp_path / "one", steps=5, **options)
    finally:
        finish(procs)
    for i, p in enumerate(procs):
        assert p.returncode == 0, (tmp_path / f"worker{i}.err").read_text()[-3000:]
    results = [last_json(tmp_path / f"worker{i}") for i in range(2)]
    assert results[0] == results[1] and results[0]["step"] == 3
    assert not elsewhere.exists(), "a worker other than the chief wrote its --ckpt folder"
    assert {"config.json", "vocabulary.json", "ckpt-3.index", "history.json", "logs"} <= \
        {f.name for f in two.iterdir()}
    steps, losses = alone_history["loss"]
    np.testing.assert_allclose(results[0]["loss_nats"], losses[list(steps).index(3)],
                               rtol=1e-4)

    resumed, resumed_history = charrnn.train(TEXT, two, steps=5, **options)
    assert int(resumed.step.numpy()) == 5
    np.testing.assert_allclose(resumed_history.last("loss"), alone_history.last("loss"),
                               rtol=1e-4)
    for a, b in zip(resumed.weights, alone.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)


def test_multiworker_strategy_gan_trains_like_two_local_replicas(tmp_path):
    """Two workers train the GAN on a folder of images as one process with two replicas
    (MirroredStrategy over two logical CPUs) does: each worker reads only its half of every
    batch's files, and batch norm's statistics and the latents are per replica either way.
    The workers' checkpoint resumes in one process as the two replicas' one does."""
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), np.uint8)).save(folder / f"{i:02d}.jpg")
    argv = ["libs.gan", "train", "--data", str(folder), "--steps", "2", "--montage-every", "1000",
            *flags(GAN)]
    two, elsewhere, mirrored = tmp_path / "two", tmp_path / "elsewhere", tmp_path / "mirrored"
    reference = start(["-c", TWO_CPUS + f"""
import json
from libs import gan
options = dict(progress=False, montage_every=1000, **{GAN!r})
gan.train({str(folder)!r}, {str(mirrored)!r}, steps=2, strategy=strategy, **options)
model, history = gan.train({str(folder)!r}, {str(mirrored)!r}, steps=3, **options)
print(json.dumps({{"d_loss": history.last("d_loss"),
                  "weights": [w.tolist() for w in model.generator.get_weights()]}}))
"""], tmp_path / "mirrored")
    procs = [reference, *workers(tmp_path, [*argv, "--ckpt", str(two)],
                                 [*argv, "--ckpt", str(elsewhere)])]
    finish(procs)
    for name, p in zip(("mirrored", "worker0", "worker1"), procs):
        assert p.returncode == 0, (tmp_path / f"{name}.err").read_text()[-3000:]
    assert not elsewhere.exists(), "a worker other than the chief wrote its --ckpt folder"
    two_history = json.loads((two / "history.json").read_text())
    mirrored_history = json.loads((mirrored / "history.json").read_text())
    for name in ("g_loss", "d_loss"):
        np.testing.assert_allclose([v for _, v in two_history[name][:2]],
                                   [v for _, v in mirrored_history[name][:2]], rtol=1e-4)

    model, history = gan.train(str(folder), two, steps=3, progress=False, montage_every=1000)
    assert int(model.step.numpy()) == 3 and history.stop_reason == "steps"
    expected = last_json(tmp_path / "mirrored")
    np.testing.assert_allclose(history.last("d_loss"), expected["d_loss"], rtol=1e-4)
    for a, b in zip(model.generator.get_weights(), expected["weights"]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_multiworker_strategy_draw_trains_like_one_process(tmp_path):
    """DRAW's replicas take their rows of the whole batch's noise by their global replica id
    (`draw.whole_batch_normal`): two workers, each reading only its half of every batch,
    train as one process with the whole batch does."""
    settings = dict(T=3, enc_size=16, dec_size=16, n_latent=4, batch_size=8, read_n=2,
                    write_n=3)
    argv = ["libs.draw", "train", "--data", "digits", "--steps", "2", *flags(settings)]
    two, elsewhere = tmp_path / "two", tmp_path / "elsewhere"
    procs = workers(tmp_path, [*argv, "--ckpt", str(two)], [*argv, "--ckpt", str(elsewhere)])
    try:  # the one-process run meanwhile
        one, alone = draw.train("digits", tmp_path / "one", steps=2, progress=False, **settings)
    finally:
        finish(procs)
    for i, p in enumerate(procs):
        assert p.returncode == 0, (tmp_path / f"worker{i}.err").read_text()[-3000:]
    assert not elsewhere.exists(), "a worker other than the chief wrote its --ckpt folder"
    together = json.loads((two / "history.json").read_text())["nll_bound_nats"]
    np.testing.assert_allclose([v for _, v in together], alone["nll_bound_nats"][1], rtol=1e-4)
    # An untrained DRAW's loss hardly depends on the images (every pixel costs log 2); the
    # gradients do (sigmoid(canvas) - x): the weights show whether each image was seen once.
    for a, b in zip(draw.load(two).weights, one.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6)


def test_gan_equilibrium_under_a_strategy_rests_a_network_exactly(on_two_cpus):
    """With two replicas the equilibrium rule updates, then puts back the rested network, its
    Adam moments and step count (and the EMA generator) bit for bit, as tf.cond does on one
    device; the real rule decides alike on both replicas (on the whole batch's losses)."""
    on_two_cpus("""
        import numpy as np
        import tensorflow as tf
        from libs import gan, training
        config = gan.GANConfig(image_size=16, n_latent=4, n_features=4, batch_size=4,
                               equilibrium=True, ema=0.9)
        images = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 1)).astype(np.float32)
        real_rule = gan.equilibrium_updates

        def trained(steps):
            model = gan.GAN(config, strategy=strategy)
            step = training._distribute(strategy, model.train_step)
            return model, [step(images) for _ in range(steps)]

        for decisions in ((True, False), (False, True)):
            gan.equilibrium_updates = lambda real, fake, margin: tuple(map(tf.constant, decisions))
            model, _ = trained(0)
            rested, rested_optimizer, moved_optimizer = \
                (model.discriminator, model.d_optimizer, model.g_optimizer) if decisions[0] else \
                (model.generator, model.g_optimizer, model.d_optimizer)
            watched = [*rested.trainable_variables, *rested_optimizer.variables,
                       *([] if decisions[0] else model.generator_ema.weights)]
            before = [v.numpy() for v in watched]
            step = training._distribute(strategy, model.train_step)
            for _ in range(2):
                metrics = step(images)
            assert (float(metrics["updated_g"]), float(metrics["updated_d"])) == decisions
            assert rested_optimizer.iterations.numpy() == 0
            assert moved_optimizer.iterations.numpy() == 2
            for a, v in zip(before, watched):
                assert np.array_equal(a, v.numpy()), f"{v.path} changed while resting"

        gan.equilibrium_updates = real_rule
        gan.EQUILIBRIUM = 1.0  # D's losses start below 1 - margin: D rests, G learns
        model, steps = trained(3)
        gates = [(float(m["updated_g"]), float(m["updated_d"])) for m in steps]
        assert set(gates) <= {(0.0, 1.0), (1.0, 0.0), (1.0, 1.0)}, gates  # never half
        assert model.g_optimizer.iterations.numpy() == sum(g for g, _ in gates)
        assert model.d_optimizer.iterations.numpy() == sum(d for _, d in gates)
        print(gates)
        print("ok")
    """)


def test_multiworker_strategy_a_killed_worker_stops_the_chief_which_saves(tmp_path):
    """kill -9 of one worker mid-run: the chief's next collective fails (a connection reset, or
    TensorFlow's heartbeats missing the dead worker: seconds, not a hang); the chief exits 1
    saying which step its folder holds (the step it reached, saved then, or, when the error
    came inside a step, which leaves the weights half updated, the last checkpoint), and that
    folder resumes in one process."""
    text = tmp_path / "text.txt"
    text.write_text(TEXT)
    argv = ["libs.charrnn", "train", "--text", str(text), "--steps", "1000000", "--eval-every",
            "1000000", "--checkpoint-every", "20", *flags(CHARRNN)]
    chief, elsewhere = tmp_path / "chief", tmp_path / "elsewhere"
    procs = workers(tmp_path, [*argv, "--ckpt", str(chief)], [*argv, "--ckpt", str(elsewhere)])
    try:
        deadline = time.monotonic() + 120
        while not (chief / "ckpt-20.index").exists():  # both are training
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs), \
                (tmp_path / "worker0.err").read_text()[-3000:]
            time.sleep(0.5)
        procs[1].kill()
        procs[0].wait(timeout=120)
    finally:
        finish(procs, timeout=5)
    err, out = (tmp_path / "worker0.err").read_text(), (tmp_path / "worker0.out").read_text()
    assert procs[0].returncode == 1, err[-3000:]
    assert "UnavailableError" in err, err[-3000:]
    if "Saved step " in out:
        saved = int(out.split("Saved step ")[1].split()[0])
        assert f"Saved step {saved} in {chief} before stopping on this error:" in out
    else:
        saved = int(out.split("The training step failed; step ")[1].split()[0])
        assert f"step {saved} is the last saved in {chief}." in out
    assert saved >= 20 and (chief / f"ckpt-{saved}.index").exists()
    assert int(charrnn.load(chief).step.numpy()) == saved
