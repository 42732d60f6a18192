"""Training images/s of our DRAW step against DRAW as commonly written in TF2/Keras (unrolled).

Both train the default `draw.DRAWConfig()`: 28x28x1 binarised digits, T=10 steps, 5x5 read and
write attention, encoder and decoder LSTMs of 256 units, 10 latents, batches of 50, Adam 1e-3
with global gradient norm clipped at 5. Ours is `draw.make_train_step` on `draw.DRAW`: the T
steps in a `tf.while_loop`, noise from a checkpointed `tf.random.Generator`, run on both paths:
TensorFlow's graph (`ours_stock_step`) and XLA (`ours_xla_step`); "ours" is the one the library
chooses on this machine (`draw.speed_settings`, timed once and cached; `path_chosen`), and
`ratio_vs_stock_path` its rate over the graph's. The reference is
how DRAW is usually ported to TF2/Keras today: a `keras.Model` with the same layers
(`keras.layers.LSTMCell` x2, Dense q, write_patch, read/write attention), whose `call` runs the
T steps as a plain Python `for` loop (unrolled into the graph), inside a `tf.function` train
step with one `GradientTape`, `tf.random.normal` noise and
`keras.optimizers.Adam(1e-3, global_clipnorm=5)`. The reference reuses `draw.attention_params`,
`draw.filterbank`, `draw.read` and `draw.write`, and the same losses (Bernoulli cross-entropy of
the last canvas summed over pixels, plus the KL of every step), so only the loop structure and
the step differ. Both are fed the same uint8 batches of `datasets.digits`, in turns
(interleaved), best of ROUNDS; also per second of this process's CPU time, and the median over
rounds of the ratio within a round (both steadier on a shared machine, where one lucky round
decides a best-of). The first call of each step (tracing, graph optimisation) is timed on its own.

Then the quality figure: held-out `nll_bound_nats` (`draw.evaluate`, 1000 other digits) of the
untrained model and after `draw.train("digits", ..., steps=TRAIN_STEPS)`, the budget in the JSON.

What was measured on 2 CPU cores shared with other work, before the XLA path (four runs): the
graph step and the reference ran at the same speed (ratio 0.98-1.07 by the wall clock; median
round ratio 1.01; 75-130 ms a step), but ours traced in 4-6 s against the unrolled reference's
12-16 s. Read and write as two batched matmuls instead of the three-operand einsums were 2-4%
faster, within the noise. With TensorFlow 2.21 and freed memory kept (`libs.keep_freed_memory`),
the reference gained more from kept memory than the graph step (17% against 10%) and led it
(0.90), while XLA's step ran 1.5-1.75x faster than the graph's.
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from run import interleaved

STEPS_PER_ROUND, ROUNDS, N_BATCHES = 4, 6, 8
TRAIN_STEPS = 400  # quality budget: 53-100 s on 2 shared CPU cores, rendering included


def reference_step(config):
    """DRAW as a typical TF2 port writes it: a Python `for` over T in `call`, one tape."""
    import tensorflow as tf
    import keras
    from keras import layers
    from libs import draw

    S, N_read, N_write = config.image_size, config.read_n, config.write_n

    class ReferenceDRAW(keras.Model):
        def __init__(self):
            super().__init__()
            self.encoder = layers.LSTMCell(config.enc_size)
            self.decoder = layers.LSTMCell(config.dec_size)
            self.q = layers.Dense(2 * config.n_latent)
            self.write_patch = layers.Dense(N_write * N_write * config.channels)
            self.read_attention = layers.Dense(5)
            self.write_attention = layers.Dense(5)

        def attn(self, layer, h_dec, N):
            gx, gy, log_sigma2, log_delta, log_gamma = draw.attention_params(h_dec, layer, N, S, S)
            Fx, Fy = draw.filterbank(gx, gy, log_sigma2, log_delta, N, S, S)
            return Fx, Fy, tf.exp(log_gamma)

        def call(self, x):
            batch = tf.shape(x)[0]
            canvas = tf.zeros_like(x)
            h_dec = tf.zeros([batch, config.dec_size])
            enc_state = [tf.zeros([batch, config.enc_size])] * 2
            dec_state = [h_dec, tf.zeros([batch, config.dec_size])]
            kls = []
            for t in range(config.T):
                x_hat = x - tf.sigmoid(canvas)
                r = draw.read(x, x_hat, *self.attn(self.read_attention, h_dec, N_read))
                r = tf.reshape(r, [batch, -1])
                h_enc, enc_state = self.encoder(tf.concat([r, h_dec], -1), enc_state)
                mu, log_var = tf.split(self.q(h_enc), 2, axis=-1)
                z = mu + tf.exp(0.5 * log_var) * tf.random.normal(tf.shape(mu))
                h_dec, dec_state = self.decoder(z, dec_state)
                patch = tf.reshape(self.write_patch(h_dec), [batch, N_write, N_write, -1])
                canvas = canvas + draw.write(patch, *self.attn(self.write_attention, h_dec,
                                                               N_write))
                kls.append(0.5 * tf.reduce_sum(tf.square(mu) + tf.exp(log_var) - log_var - 1.0,
                                               -1))
            return canvas, tf.add_n(kls)

    model = ReferenceDRAW()
    optimizer = keras.optimizers.Adam(1e-3, global_clipnorm=5)

    @tf.function
    def train_step(images):
        x = tf.cast(tf.cast(images, tf.float32) / 255.0 >= 0.5, tf.float32)
        with tf.GradientTape() as tape:
            logits, kl = model(x)
            reconstruction = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(
                labels=x, logits=logits), axis=[1, 2, 3])
            loss = tf.reduce_mean(reconstruction + kl)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return {"nll_bound_nats": loss}
    return train_step


def throughput() -> tuple[dict, dict, dict, str]:
    """Images/s of the reference step and of ours on either path (TensorFlow's graph, "stock";
    XLA, "xla"), interleaved, best of ROUNDS (by the wall clock and per CPU second; the first
    dict also holds the median over rounds of ours / reference in the same round), each one's
    first-call seconds, and the path the library chooses here ("ours" is that path's)."""
    import tensorflow as tf
    import keras
    from libs import datasets, draw

    config = draw.DRAWConfig()
    chosen, _ = draw.speed_settings(config, "auto", "fp32")  # timed once per machine, then cached
    images = datasets.digits(N_BATCHES * config.batch_size, seed=0)[0]
    batches = [tf.constant(images[i:i + config.batch_size])
               for i in range(0, len(images), config.batch_size)]
    steps = {}
    for path in ("stock", "xla"):
        keras.utils.set_random_seed(0)
        model = draw.DRAW(config)
        optimizer = keras.optimizers.Adam(config.learning_rate, global_clipnorm=config.clip)
        steps[f"ours_{path}_step"] = draw.make_train_step(
            model, optimizer, tf.random.Generator.from_seed(0), xla=path == "xla")
    steps["reference"] = reference_step(config)
    first = {}
    for name, step in steps.items():
        start = time.perf_counter()
        float(step(batches[0])["nll_bound_nats"])
        first[name] = time.perf_counter() - start
        float(step(batches[1])["nll_bound_nats"])  # warm up
        print(f"draw: {name} first step {first[name]:.1f} s", file=sys.stderr, flush=True)

    def timed(step):
        position = [0]

        def fn():
            for _ in range(STEPS_PER_ROUND):
                out = step(batches[position[0] % len(batches)])
                position[0] += 1
            float(out["nll_bound_nats"])  # wait for the last step
        return fn

    wall, cpu = interleaved({name: timed(step) for name, step in steps.items()},
                            STEPS_PER_ROUND * config.batch_size, ROUNDS, "draw")
    for rates in (wall, cpu, first):
        rates["ours"] = rates[f"ours_{chosen}_step"]
    best = {name: max(r) for name, r in wall.items()}
    best["ratio_median_round"] = statistics.median(
        o / r for o, r in zip(wall["ours"], wall["reference"]))
    return best, {name: max(r) for name, r in cpu.items()}, first, chosen


def quality() -> dict:
    """Held-out bound (nats per image) before and after TRAIN_STEPS steps of `draw.train`."""
    import keras
    from libs import draw

    config = draw.DRAWConfig()
    keras.utils.set_random_seed(config.seed)  # the weights train() starts from
    untrained = draw.evaluate(draw.DRAW(config), "digits")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        model, _ = draw.train("digits", Path(tmp) / "draw", steps=TRAIN_STEPS, progress=False)
        seconds = time.perf_counter() - start
    trained = draw.evaluate(model, "digits")
    return {"nll_bound_nats_untrained": untrained["nll_bound_nats"],
            "nll_bound_nats_trained": trained["nll_bound_nats"],
            "train_budget": {"data": "digits", "steps": TRAIN_STEPS,
                             "batch_size": config.batch_size},
            "train_seconds": round(seconds, 1), "eval_n": trained["n"]}


def run() -> dict:
    wall, cpu, first, chosen = throughput()
    result = {"name": "draw", "unit": "images/s", "ours": round(wall["ours"], 1),
              "reference": round(wall["reference"], 1),
              "ratio": round(wall["ours"] / wall["reference"], 2),
              "reference_impl": "Keras model, Python for-loop over T (unrolled) in a "
                                "tf.function step, one GradientTape, Adam(1e-3, "
                                "global_clipnorm=5); draw's attention functions",
              "images_per_cpu_second_ratio": round(cpu["ours"] / cpu["reference"], 2),
              "ratio_median_round": round(wall["ratio_median_round"], 2),
              "path_chosen": chosen,
              "ratio_vs_stock_path": round(wall["ours"] / wall["ours_stock_step"], 2),
              "ours_stock_step": round(wall["ours_stock_step"], 1),
              "ours_xla_step": round(wall["ours_xla_step"], 1),
              "ours_first_step_s": round(first["ours"], 1),
              "ours_stock_first_step_s": round(first["ours_stock_step"], 1),
              "ours_xla_first_step_s": round(first["ours_xla_step"], 1),
              "reference_first_step_s": round(first["reference"], 1),
              "batch_size": 50, "T": 10, "read_n": 5, "write_n": 5, "units": 256}
    result.update(quality())
    return result


if __name__ == "__main__":
    import json

    print(json.dumps(run()))
