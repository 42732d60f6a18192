"""Tests for libs.training: the shared loop on a tiny regression model. Offline, seconds each."""
import json
import os
import signal

import keras
import numpy as np
import pytest
import tensorflow as tf

from libs import callbacks, checkpoints, dataset_utils, training

X = np.random.default_rng(0).normal(size=(24, 3)).astype(np.float32)
Y = (X @ np.array([[1.0], [-2.0], [0.5]], np.float32)).astype(np.float32)


def make(seed=0, dropout=False):
    """A fresh model, optimizer, RNG, data and train step, the same for the same seed."""
    keras.utils.set_random_seed(seed)
    hidden = [keras.layers.Dense(8), keras.layers.Dropout(0.5)] if dropout else []
    model = keras.Sequential([keras.Input((3,))] + hidden + [keras.layers.Dense(1)])
    optimizer = keras.optimizers.Adam(0.05)
    optimizer.build(model.trainable_variables)
    rng = tf.random.Generator.from_seed(seed)
    data = dataset_utils.EpochBatches(lambda epoch: tf.data.Dataset.from_tensor_slices((X, Y))
                                 .shuffle(24, seed=1000 + epoch).batch(8))

    @tf.function
    def step(batch):
        x, y = batch
        x = x + rng.normal(tf.shape(x), stddev=0.01)  # makes the RNG part of the state
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(x, training=True) - y) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return {"loss": loss}

    objects = {"model": model, "optimizer": optimizer, "rng": rng, "data": data}
    return model, step, data, objects


def fit(ckpt, steps=None, seed=0, dropout=False, **kwargs):
    model, step, data, objects = make(seed, dropout)
    kwargs.setdefault("progress", False)
    history = training.fit(step, data, ckpt, objects, model_name="toy", config={"lr": 0.05},
                           steps=steps, **kwargs)
    return model, history, objects


def weights(model):
    return [w.numpy() for w in model.weights]


def test_fit_reaches_steps_saves_and_logs(tmp_path):
    model, history, objects = fit(tmp_path / "run", steps=7, checkpoint_every=3)
    assert history.stop_reason == "steps"
    steps, losses = history["loss"]
    assert steps.tolist() == list(range(1, 8)) and np.all(np.isfinite(losses))
    assert tf.train.latest_checkpoint(str(tmp_path / "run")).endswith("ckpt-7")
    assert json.loads((tmp_path / "run" / "config.json").read_text()) == {
        "model": "toy", "config": {"lr": 0.05}}
    assert any(f.startswith("events") for f in os.listdir(tmp_path / "run" / "logs"))
    assert int(objects["data"].epoch.numpy()) == 2 and int(objects["data"].batch.numpy()) == 1


def test_resume_in_two_parts_ends_where_one_run_does(tmp_path):
    whole, h_whole, _ = fit(tmp_path / "whole", steps=8)
    fit(tmp_path / "split", steps=4)  # stops mid-epoch (3 batches per epoch)
    split, h_split, _ = fit(tmp_path / "split", steps=8)
    for a, b in zip(weights(whole), weights(split)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    # The history is kept across the two runs: one curve, no step twice.
    assert h_split["loss"][0].tolist() == list(range(1, 9))
    np.testing.assert_allclose(h_split["loss"][1], h_whole["loss"][1], rtol=1e-5)


def test_resume_restores_the_random_state_of_keras_layers(tmp_path):
    # Keras's Dropout draws from a SeedGenerator, which tf.train.Checkpoint does not see by
    # itself; fit saves its state, so the masks after resuming are those of one run.
    whole, _, _ = fit(tmp_path / "whole", steps=6, dropout=True)
    fit(tmp_path / "split", steps=2, dropout=True)
    split, _, objects = fit(tmp_path / "split", steps=6, dropout=True)
    for a, b in zip(weights(whole), weights(split)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    reader = tf.train.load_checkpoint(str(tmp_path / "split"))
    assert any(key.startswith("seed_states/model_0") for key in reader.get_variable_to_shape_map())


def test_already_at_steps_returns_at_once(tmp_path):
    fit(tmp_path / "run", steps=3)
    model, history, _ = fit(tmp_path / "run", steps=2)
    assert history.stop_reason == "steps" and history["loss"][0].tolist() == [1, 2, 3]


def test_seconds_budget_stops_and_saves(tmp_path):
    model, history, _ = fit(tmp_path / "run", seconds=1e-6)
    assert history.stop_reason == "seconds"
    assert tf.train.latest_checkpoint(str(tmp_path / "run")) is not None


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    model, step, data, objects = make()

    def poisoned(batch):
        metrics = step(batch)
        if int(objects["optimizer"].iterations.numpy()) == 5:
            model.weights[0].assign(model.weights[0] * np.nan)
            return {"loss": tf.constant(np.nan)}
        return metrics

    with pytest.raises(training.NonFiniteLossError, match=r"loss=nan at step 5.*step 4"):
        training.fit(poisoned, data, tmp_path / "run", objects, model_name="toy", config={},
                     steps=10, checkpoint_every=2, progress=False)
    assert tf.train.latest_checkpoint(str(tmp_path / "run")).endswith("ckpt-4")
    assert all(np.all(np.isfinite(w)) for w in weights(model))  # step 4 put back in memory


def test_non_finite_loss_before_any_checkpoint_writes_nothing(tmp_path):
    model, step, data, objects = make()
    with pytest.raises(training.NonFiniteLossError, match="nothing bad was written"):
        training.fit(lambda b: {"loss": tf.constant(np.inf)}, data, tmp_path / "run", objects,
                     model_name="toy", config={}, steps=3, progress=False)
    assert tf.train.latest_checkpoint(str(tmp_path / "run")) is None


def test_ctrl_c_saves_returns_and_resumes_exactly(tmp_path):
    class Interrupt(callbacks.Callback):
        def on_step_end(self, loop, metrics):
            if loop.step == 3:
                os.kill(os.getpid(), signal.SIGINT)

    model, history, _ = fit(tmp_path / "run", steps=8, callbacks=[Interrupt()])
    assert history.stop_reason == "interrupted"
    assert tf.train.latest_checkpoint(str(tmp_path / "run")).endswith("ckpt-3")
    resumed, _, _ = fit(tmp_path / "run", steps=8)
    whole, _, _ = fit(tmp_path / "whole", steps=8)
    for a, b in zip(weights(whole), weights(resumed)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_callbacks_every_and_log(tmp_path):
    seen = []

    def evaluate(loop):
        seen.append(loop.step)
        loop.log(val=float(loop.step) * 2)

    _, history, _ = fit(tmp_path / "run", steps=7,
                        callbacks=[callbacks.every(3, evaluate, at_end=True)])
    assert seen == [3, 6, 7]
    assert history["val"][0].tolist() == [3, 6, 7] and history["val"][1].tolist() == [6, 12, 14]
    assert history.last("val") == 14.0 and "val" in history


def test_folder_of_another_model_or_config_is_refused(tmp_path):
    fit(tmp_path / "run", steps=1)
    model, step, data, objects = make()
    with pytest.raises(ValueError, match="holds a 'toy' model, not a 'gan' one"):
        training.fit(step, data, tmp_path / "run", objects, model_name="gan", config={},
                     steps=2, progress=False)
    with pytest.raises(ValueError, match=r"another config \(lr: saved 0.05, given 0.1\)"):
        training.fit(step, data, tmp_path / "run", objects, model_name="toy",
                     config={"lr": 0.1}, steps=2, progress=False)
    with pytest.raises(ValueError, match="toy"):
        checkpoints.read_config(tmp_path / "run", "charrnn")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a checkpoint folder"):
        training.fit(step, data, tmp_path / "other", objects, model_name="toy", config={},
                     steps=2, progress=False)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        checkpoints.read_config(tmp_path / "missing")


def test_checkpoint_that_does_not_fit_is_refused(tmp_path):
    fit(tmp_path / "run", steps=1)
    keras.utils.set_random_seed(0)
    bigger = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="does not fit this model"):
        training.fit(lambda b: {"loss": 0.0}, [0], tmp_path / "run", {"model": bigger},
                     model_name="toy", config={"lr": 0.05}, steps=2, progress=False)


def test_layers_in_a_python_list_are_refused(tmp_path):
    class ListModel(keras.Model):
        def __init__(self):
            super().__init__()
            self.blocks = [keras.layers.Dense(2), keras.layers.Dense(1)]

        def call(self, x):
            return self.blocks[1](self.blocks[0](x))

    model = ListModel()
    model(X)
    with pytest.raises(ValueError, match="would not be checkpointed"):
        training.fit(lambda b: {"loss": 0.0}, [0], tmp_path / "run", {"model": model},
                     model_name="toy", config={}, steps=1, progress=False)


def test_bad_arguments(tmp_path):
    for kwargs, message in (({"steps": -1}, "steps"), ({"seconds": 0}, "seconds"),
                            ({"checkpoint_every": 0}, "checkpoint_every")):
        with pytest.raises(ValueError, match=message):
            fit(tmp_path / "run", **kwargs)
    with pytest.raises(ValueError, match="n must be"):
        callbacks.every(0, print)


def test_finite_data_stops_training(tmp_path):
    model, step, data, objects = make()
    batches = [(X[:8], Y[:8]), (X[8:16], Y[8:16])]
    history = training.fit(step, batches, tmp_path / "run", {"model": model}, model_name="toy",
                           config={}, progress=False)
    assert history.stop_reason == "data" and history["loss"][0].tolist() == [1, 2]


def test_epoch_batches_resume_from_its_position():
    data = dataset_utils.EpochBatches(lambda epoch: [(epoch, i) for i in range(3)])
    it = iter(data)
    first = [next(it) for _ in range(4)]
    assert first == [(0, 0), (0, 1), (0, 2), (1, 0)]
    again = dataset_utils.EpochBatches(data.make_epoch)
    again.epoch.assign(data.epoch)
    again.batch.assign(data.batch)
    it = iter(again)
    assert [next(it) for _ in range(3)] == [(1, 1), (1, 2), (2, 0)]
    with pytest.raises(ValueError, match="no batches"):
        next(iter(dataset_utils.EpochBatches(lambda epoch: [])))


def test_a_workers_temporary_copy_is_named_by_the_users_folder(tmp_path):
    """Worker 1 of two trains in a temporary copy of the folder; what it says names the user's
    folder (the chief's, which a run resumes from), and the copy as deleted at its end."""
    from types import SimpleNamespace

    cluster = tf.train.ClusterSpec({"worker": ["127.0.0.1:1", "127.0.0.1:2"]})
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(cluster, "worker", 1)
    worker1 = SimpleNamespace(cluster_resolver=resolver)
    user = tmp_path / "run"
    user.mkdir()
    (user / "config.json").write_text("{}")
    copy = training.worker_folder(user, worker1)
    assert copy != user and (copy / "config.json").exists()
    assert training.folder_name(copy) == \
        f"{user} (by the chief; this worker's copy {copy} is deleted when it ends)"
    assert training.folder_name(user) == str(user)  # the chief's, or one process's: as it is
    chief = SimpleNamespace(cluster_resolver=tf.distribute.cluster_resolver.SimpleClusterResolver(
        cluster, "worker", 0))
    assert training.worker_folder(user, chief) == user


def test_sharded_epoch_batches_hand_out_each_workers_rows_and_resume_under_other_counts():
    whole = [np.arange(4 * epoch + 10 * i, 4 * epoch + 10 * i + 4) for epoch in range(3)
             for i in range(2)]  # 2 batches of 4 per epoch

    def make(shard=None):
        data = dataset_utils.EpochBatches(lambda epoch: [(b, -b) for b in whole[2 * epoch:2 * epoch + 2]])
        if shard:
            data.shard = shard
        return data

    workers = [iter(make((i, 2))) for i in range(2)]
    for expected in whole[:3]:  # together the two shares are the batch one process trains on
        shares = [next(w) for w in workers]
        assert np.concatenate([s[0] for s in shares]).tolist() == expected.tolist()
        assert np.concatenate([s[1] for s in shares]).tolist() == (-expected).tolist()
    # Resumed by one process (or four) from the two workers' position: the next whole batch.
    one, four = make(), make((3, 4))
    for data in (one, four):
        data.epoch.assign(1)
        data.batch.assign(1)
    assert next(iter(one))[0].tolist() == whole[3].tolist()
    assert next(iter(four))[0].tolist() == whole[3][3:].tolist()


def test_sharded_image_folders_read_only_their_files(tmp_path, monkeypatch):
    from test_dataset_utils import flat_jpegs

    from libs import images

    values = list(range(0, 240, 20))  # 12 flat grey files, 3 batches of 4
    flat_jpegs(tmp_path, values)
    source = images.image_source(str(tmp_path), 8)
    read = []
    original = images._file_batches
    monkeypatch.setattr(images, "_file_batches",
                        lambda source, files, *a, **k: read.append(list(files)) or
                        original(source, files, *a, **k))
    make_epoch = images.epoch_batches(source, 4, 8, seed=5)

    def means(batches):
        return [[round(float(np.mean(im))) for im in b] for b in batches]

    whole = means(make_epoch(1, skip=1))
    shares = [means(make_epoch(1, skip=1, shard=(i, 2))) for i in range(2)]
    assert [a + b for a, b in zip(*shares)] == whole and len(whole) == 2
    assert len(read[1]) == len(read[2]) == 6 and not set(read[1]) & set(read[2])
    assert sorted(read[1] + read[2]) == sorted(read[0])


def test_epoch_batches_lets_make_epoch_skip_unread_batches():
    asked = []

    def make_epoch(epoch, skip=0):  # leaves out the first `skip` itself (here: never reads them)
        asked.append((epoch, skip))
        return [(epoch, i) for i in range(skip, 3)]

    data = dataset_utils.EpochBatches(make_epoch)
    data.epoch.assign(1)
    data.batch.assign(2)
    it = iter(data)
    assert [next(it) for _ in range(3)] == [(1, 2), (2, 0), (2, 1)]
    assert asked == [(1, 2), (2, 0)]


def test_history_plot(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    _, history, _ = fit(tmp_path / "run", steps=3)
    ax = history.plot(["loss"])
    assert ax.get_xlabel() == "step" and len(ax.lines) == 1
    ax = history.plot(["loss"], mark_best="loss", ylabel="nats", title="toy")
    steps, losses = history["loss"]
    best = ax.lines[-1]
    assert best.get_xdata()[0] == steps[np.argmin(losses)] and best.get_ydata()[0] == losses.min()
    assert ax.get_ylabel() == "nats" and ax.get_title() == "toy"
    assert "best loss" in best.get_label()


def test_mirrored_strategy_on_two_cpus_matches_one_device(tmp_path, on_two_cpus):
    """Two replicas, each with half the batch, give the same training as one device."""
    on_two_cpus("""
        import numpy as np
        import keras
        from libs import dataset_utils, training
        X = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
        Y = X @ np.array([[1.0], [-2.0], [0.5]], np.float32)

        def run(folder, strategy):
            keras.utils.set_random_seed(0)
            with strategy.scope():
                model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
                opt = keras.optimizers.SGD(0.1)
                opt.build(model.trainable_variables)

            @tf.function
            def step(batch):
                x, y = batch
                with tf.GradientTape() as tape:
                    loss = tf.reduce_sum((model(x) - y) ** 2) / 8.0  # global batch of 8
                grads = tape.gradient(loss, model.trainable_variables)
                opt.apply_gradients(zip(grads, model.trainable_variables))
                return {"loss": loss}

            data = dataset_utils.EpochBatches(
                lambda e: tf.data.Dataset.from_tensor_slices((X, Y)).batch(8))
            training.fit(step, data, folder, {"model": model, "optimizer": opt, "data": data},
                         model_name="toy", config={}, steps=5, progress=False,
                         strategy=strategy)
            return np.concatenate([w.numpy().ravel() for w in model.weights])

        one = run(sys.argv[1] + "/one", tf.distribute.get_strategy())
        two = run(sys.argv[1] + "/two", strategy)
        np.testing.assert_allclose(one, two, rtol=1e-5, atol=1e-6)
        print("ok")
    """, tmp_path)


def test_weights_that_became_non_finite_are_never_saved(tmp_path):
    # The update of step 3 makes the weights NaN while its loss (computed before) is finite:
    # the save of step 3 must refuse them and keep step 2, the last finite checkpoint.
    model, step, data, objects = make()

    def poisoning(batch):
        metrics = step(batch)
        if int(objects["optimizer"].iterations.numpy()) == 3:
            model.weights[0].assign(model.weights[0] * np.inf)
        return metrics

    with pytest.raises(training.NonFiniteLossError, match=r"weights=not finite.*step 2"):
        training.fit(poisoning, data, tmp_path / "run", objects, model_name="toy", config={},
                     steps=10, checkpoint_every=1, progress=False)
    assert tf.train.latest_checkpoint(str(tmp_path / "run")).endswith("ckpt-2")
    assert all(np.all(np.isfinite(w)) for w in weights(model))


def test_a_non_finite_checkpoint_is_skipped_when_loading_and_resuming(tmp_path):
    fit(tmp_path / "run", steps=4, checkpoint_every=2)
    model, step, data, objects = make()
    checkpoint = tf.train.Checkpoint(step=tf.Variable(6, dtype=tf.int64), **objects)
    checkpoint.save_counter  # noqa: B018 (made on first use; fit's checkpoints have one)
    model.weights[0].assign(model.weights[0] * np.nan)  # as written by an older version
    checkpoint.write(str(tmp_path / "run" / "ckpt-6"))
    fresh, _, _, _ = make()
    with pytest.warns(UserWarning, match=r"ckpt-6 is damaged \(1 tensors are not finite"):
        checkpoints.restore(tmp_path / "run", "toy", model=fresh)
    assert all(np.all(np.isfinite(w)) for w in weights(fresh))
    with pytest.warns(UserWarning, match="removed and training resumes from step 4"):
        _, history, _ = fit(tmp_path / "run", steps=5)
    assert history["loss"][0].tolist() == [1, 2, 3, 4, 5]


def test_a_failing_callback_does_not_cost_the_trained_steps(tmp_path):
    class Broken(callbacks.Callback):
        def on_step_end(self, loop, metrics):
            if loop.step == 5:
                raise PermissionError("cannot write the progress GIF")

    with pytest.raises(PermissionError, match="progress GIF"):
        fit(tmp_path / "run", steps=10, checkpoint_every=100, callbacks=[Broken()])
    assert tf.train.latest_checkpoint(str(tmp_path / "run")).endswith("ckpt-5")


def test_checkpoint_seconds_saves_on_wall_time(tmp_path):
    saved = []

    class Saves(callbacks.Callback):
        def on_step_end(self, loop, metrics):
            saved.append(loop.saved_step)

    fit(tmp_path / "run", steps=4, checkpoint_every=1000, checkpoint_seconds=1e-9,
        callbacks=[Saves()])
    assert saved == [-1, 1, 2, 3]  # each step saved the one before, by time, not by count
    with pytest.raises(ValueError, match="checkpoint_seconds"):
        fit(tmp_path / "other", steps=1, checkpoint_seconds=0)


def test_second_ctrl_c_skips_the_final_pictures_but_saves(tmp_path):
    pictures = []

    class SlowPictures(callbacks.Callback):
        def on_step_end(self, loop, metrics):
            if loop.step == 3:
                os.kill(os.getpid(), signal.SIGINT)

        def on_train_end(self, loop):
            os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C while drawing
            pictures.append("drawn")

    _, history, _ = fit(tmp_path / "run", steps=8, callbacks=[SlowPictures()])
    assert history.stop_reason == "interrupted" and pictures == []
    assert tf.train.latest_checkpoint(str(tmp_path / "run")).endswith("ckpt-3")


def test_second_ctrl_c_during_a_save_waits_for_it(tmp_path):
    model, step, data, objects = make()
    loops = []

    class Interrupt(callbacks.Callback):
        def on_train_begin(self, loop):
            loops.append(loop)
            save = loop.manager.save

            def save_interrupted(**kwargs):  # both signals arrive while the files are written
                os.kill(os.getpid(), signal.SIGINT)
                os.kill(os.getpid(), signal.SIGINT)
                return save(**kwargs)
            loop.manager.save = save_interrupted

    _, history, _ = fit(tmp_path / "run", steps=8, checkpoint_every=2, callbacks=[Interrupt()])
    assert history.stop_reason == "interrupted"
    assert tf.train.latest_checkpoint(str(tmp_path / "run")).endswith("ckpt-2")
    assert json.loads((tmp_path / "run" / "history.json").read_text())["loss"][-1][0] == 2


def trained(tmp_path) -> str:
    fit(tmp_path / "run", steps=6, checkpoint_every=2)
    return tmp_path / "run"


@pytest.mark.parametrize("damage", ["delete", "garble"])
def test_missing_or_garbled_checkpoint_index_loses_nothing(tmp_path, damage):
    run = trained(tmp_path)
    if damage == "delete":
        (run / "checkpoint").unlink()
    else:
        (run / "checkpoint").write_text("model_checkpoint_path: {{{ garbage")
    fresh, _, _, _ = make()
    checkpoints.restore(run, "toy", model=fresh)  # found from the files themselves
    _, history, _ = fit(run, steps=8)
    assert history["loss"][0].tolist() == list(range(1, 9))  # resumed at 6, not from 0
    assert tf.train.latest_checkpoint(str(run)).endswith("ckpt-8")


@pytest.mark.parametrize("damage", ["truncate", "empty index", "garbled index", "delete data"])
def test_damaged_latest_checkpoint_falls_back_to_the_previous_one(tmp_path, damage):
    run = trained(tmp_path)
    data, index = run / "ckpt-6.data-00000-of-00001", run / "ckpt-6.index"
    if damage == "truncate":
        data.write_bytes(data.read_bytes()[:data.stat().st_size // 2])
    elif damage == "empty index":
        index.write_bytes(b"")
    elif damage == "garbled index":
        index.write_bytes(b"x" * index.stat().st_size)
    else:
        data.unlink()
    fresh, _, _, _ = make()
    with pytest.warns(UserWarning, match="ckpt-6 is damaged .*used the checkpoint of step 4"):
        checkpoints.restore(run, "toy", model=fresh)
    with pytest.warns(UserWarning, match="ckpt-6 is damaged .*resumes from step 4"):
        _, history, _ = fit(run, steps=8, checkpoint_every=2)
    assert history["loss"][0].tolist() == list(range(1, 9))
    assert [n for n, _ in checkpoints.checkpoint_files(run)] == [8, 6, 4]  # ckpt-6 made anew


def test_every_checkpoint_damaged_is_refused_never_started_over(tmp_path):
    run = trained(tmp_path)
    for f in run.glob("ckpt-*.index"):
        f.write_bytes(b"not an index")
    with pytest.raises(ValueError, match=r"none of the 3 checkpoints .*ckpt-6: .*move the folder"):
        fit(run, steps=8)
    with pytest.raises(ValueError, match="none of the 3 checkpoints"):
        checkpoints.restore(run, "toy", model=make()[0])
    assert [n for n, _ in checkpoints.checkpoint_files(run)] == [6, 4, 2]


def test_damaged_history_does_not_block_resuming(tmp_path):
    run = trained(tmp_path)
    (run / "history.json").write_text('{"loss": [[1, 0.5], [2,')
    with pytest.warns(UserWarning, match=r"history.json is damaged .*start again at step 6"):
        _, history, _ = fit(run, steps=8)
    assert history["loss"][0].tolist() == [7, 8]


def test_leftover_partial_saves_are_removed_on_resume(tmp_path):
    run = trained(tmp_path)
    (run / "ckpt-7_temp").mkdir()  # what a kill -9 or a full disk leaves in a save
    (run / "ckpt-7_temp" / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"half")
    fit(run, steps=7)
    assert not (run / "ckpt-7_temp").exists()
