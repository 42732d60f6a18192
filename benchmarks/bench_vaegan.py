"""Training images/s of `vaegan.VAEGAN.train_step` against a plain TF2 port of the TF1 step.

The reference is what a user porting the course's TF1 VAE-GAN (lecture 5) to TensorFlow 2 would
write: the same three networks (encoder, decoder = `gan.generator`, discriminator with its Dis_l
features) built from the stock Keras layers (`fast=False`), the same losses written inline
(KL prior, 0.5 * squared Dis_l distance, the discriminator's three sigmoid cross-entropies, the
decoder's non-saturating GAN loss plus gamma * L_llike; `VAEGAN.losses`' maths), three Keras
Adams (lr 3e-4, beta1 0.5), and one `tf.function` with one GradientTape per network, as the TF1
code had three `minimize` ops; noise from `tf.random.normal`, images scaled to [-1, 1] before the
step. Ours is the library's step: one persistent tape, noise from a checkpointed generator, data
scaled inside, on the path the library chooses here (`path="auto"`, timed once per machine and
cached; `path_chosen`). `ours_stock_layers`, `ours_fast_layers` and `ours_fast_layers_xla` run
our step on the stock layers, on those of `libs.layers`, and on those with the step compiled by
XLA, separating what the step, the layers and XLA contribute; `ratio_vs_stock_path` is the
chosen path's rate over the stock path's. Each also runs in mixed bfloat16 (names + "_bf16"):
`by_path_and_precision` has the six pairs, `path_and_precision_chosen` the one that
`--path auto --precision auto` takes by the library's rule on a CPU with bfloat16
instructions, and `ratio_chosen_pair_vs_stock_fp32` its rate over the stock layers' in
float32. Steps run interleaved,
best of ROUNDS (also the median over rounds of ours / reference within a round), at 32x32x1
(the embedded faces; this is `ratio`) and 64x64x3 (CelebA's shape), batch 64, the default
config (n_features 32, n_latent 100).

Then the quality figures after the demo's budget (`vaegan.DEMO`, `vaegan.train` on the embedded
faces): `vaegan.evaluate`'s reconstruction MSE (pixels in [0, 1]) and SWD x1e3 of the untrained
model (the weights train() starts from) and of the trained one; for scale, the MSE of always
predicting the mean face and the SWD between two halves of the real faces.

What was measured on 2 CPU cores shared with other work (three runs, 3.8-5.3 minutes in all):
per CPU second ours trained 1.36-1.41x the reference's images at 32x32x1 and 1.34-1.38x at
64x64x3 (best rounds 133-154 against 95-113 images per CPU second, and 25-29 against 18-22);
the median round ratio was 1.37-1.46 and 1.24-1.40. The best-of wall ratios (1.38, 1.88, 1.89;
1.05, 1.96, 1.37) follow whichever round happened to get both cores, as most got about one.
The gain is the layers': our step on the stock layers ran at the reference's speed per CPU
second (1.01-1.10), so one persistent tape against three separate ones changes little. Tracing
and warm-up took 8-16 s for the reference against 4-9 s for ours. The demo's 300 steps took
108-181 s, to the same weights each time: reconstruction MSE 0.043 untrained -> 0.0072 trained
(the mean face: 0.032), SWD x1e3 200 -> 72 (one half of the real faces against the other: 38).
"""
from __future__ import annotations

import statistics

import numpy as np

from run import VARIANT, demo_quality, pair_figures, path_variants, real_halves_swd, step_rates

SHAPES = ((32, 1, 4), (64, 3, 1))  # size, channels, steps per timed run
BATCH, ROUNDS = 64, 5


def reference_step(config):
    """The TF1 training ported as a user would: three tapes, three Adams, stock layers."""
    import tensorflow as tf
    import keras
    from libs import gan, vaegan

    enc = vaegan.encoder(config, fast=False)
    dec = gan.generator(config.gan_config(), fast=False)
    dis = vaegan.discriminator(config, fast=False)
    opt_enc, opt_dec, opt_dis = (keras.optimizers.Adam(lr, beta_1=config.beta1) for lr in
                                 (config.learning_rate, config.learning_rate,
                                  config.d_learning_rate))
    bce = tf.nn.sigmoid_cross_entropy_with_logits

    @tf.function
    def train_step(x):
        with tf.GradientTape() as enc_tape, tf.GradientTape() as dec_tape, \
                tf.GradientTape() as dis_tape:
            z_mean, z_log_var = enc(x, training=True)
            z = z_mean + tf.exp(0.5 * z_log_var) * tf.random.normal(tf.shape(z_mean))
            x_tilde = dec(z, training=True)
            x_p = dec(tf.random.normal([BATCH, config.n_latent]), training=True)
            d_real, l_real = dis(x, training=True)
            d_tilde, l_tilde = dis(x_tilde, training=True)
            d_p, _ = dis(x_p, training=True)
            loss_prior = tf.reduce_mean(0.5 * tf.reduce_sum(
                tf.square(z_mean) + tf.exp(z_log_var) - 1.0 - z_log_var, axis=1))
            loss_llike = tf.reduce_mean(0.5 * tf.reduce_sum(
                tf.square(l_real - l_tilde), axis=[1, 2, 3]))
            loss_dis = (tf.reduce_mean(bce(labels=tf.ones_like(d_real), logits=d_real))
                        + tf.reduce_mean(bce(labels=tf.zeros_like(d_p), logits=d_p))
                        + tf.reduce_mean(bce(labels=tf.zeros_like(d_tilde), logits=d_tilde)))
            loss_gen = (tf.reduce_mean(bce(labels=tf.ones_like(d_p), logits=d_p))
                        + tf.reduce_mean(bce(labels=tf.ones_like(d_tilde), logits=d_tilde)))
            loss_enc = loss_prior + loss_llike
            loss_dec = config.gamma * loss_llike + loss_gen
        for tape, loss, net, opt in ((enc_tape, loss_enc, enc, opt_enc),
                                     (dec_tape, loss_dec, dec, opt_dec),
                                     (dis_tape, loss_dis, dis, opt_dis)):
            grads = tape.gradient(loss, net.trainable_variables)
            opt.apply_gradients(zip(grads, net.trainable_variables))
        return {"enc_loss": loss_enc, "dec_loss": loss_dec, "gan_loss": loss_dis}
    return train_step


def throughput(size: int, channels: int, steps: int) -> tuple[dict, dict, str]:
    """Images/s of the reference step and of ours on each path at one shape, interleaved, best
    of ROUNDS: by the wall clock, and per second of this process's CPU time (steadier on a
    shared machine); "ours" is the path the library chooses here, which it also returns. The
    first dict also holds the median over rounds of ours / reference within a round."""
    import tensorflow as tf
    import keras
    from libs import vaegan

    keras.utils.set_random_seed(0)
    config = vaegan.VAEGANConfig(image_size=size, channels=channels, batch_size=BATCH)
    images = tf.random.uniform([BATCH, size, size, channels], 0, 255, seed=1)
    chosen = vaegan.VAEGAN(config, precision="fp32").path  # timed once per machine, then cached
    variants = {"reference": (reference_step(config), images / 127.5 - 1.0),  # scaled before
                **path_variants(lambda p, o: vaegan.VAEGAN(config, path=p, precision=o), images)}
    wall, cpu = step_rates(variants, steps, BATCH, ROUNDS, f"vaegan {size}x{size}x{channels}")
    for rates in (wall, cpu):
        rates["ours"] = rates[VARIANT[chosen]]
    best = {name: max(r) for name, r in wall.items()}
    best["ratio_median_round"] = statistics.median(
        o / r for o, r in zip(wall["ours"], wall["reference"]))
    return best, {name: max(r) for name, r in cpu.items()}, chosen


def quality() -> dict:
    """Reconstruction MSE and SWD x1e3 before and after `vaegan.train` with `vaegan.DEMO`, and
    for scale the mean face's MSE and the SWD between two halves of the real faces."""
    from libs import datasets, vaegan

    untrained, trained, seconds = demo_quality(vaegan, vaegan.VAEGAN, vaegan.VAEGANConfig)
    real = datasets.faces(vaegan.DEMO["image_size"]).astype(np.float32) / 255.0
    mean_face_mse = float(np.mean(np.square(real - real.mean(axis=0))))
    return {"reconstruction_mse_untrained": untrained["reconstruction_mse"],
            "reconstruction_mse_trained": trained["reconstruction_mse"],
            "reconstruction_mse_mean_face": round(mean_face_mse, 5),
            "swd_x1e3_untrained": untrained["swd_x1e3"], "swd_x1e3_trained": trained["swd_x1e3"],
            "swd_x1e3_real_halves": real_halves_swd(vaegan.DEMO["image_size"]),
            "eval_n": trained["n"], "demo_budget": vaegan.DEMO, "demo_train_seconds": seconds}


def run() -> dict:
    from libs import vaegan

    wall, cpu, chosen = {}, {}, {}
    for size, channels, steps in SHAPES:
        wall[size], cpu[size], chosen[size] = throughput(size, channels, steps)
    small, large = wall[32], wall[64]
    defaults = vaegan.VAEGANConfig()
    result = {"name": "vaegan", "unit": "images/s", "ours": round(small["ours"], 1),
              "reference": round(small["reference"], 1),
              "ratio": round(small["ours"] / small["reference"], 2),
              "reference_impl": "TF2 port of the TF1 VAE-GAN step: stock Keras layers, three "
                                "GradientTapes and Adams in one tf.function, same losses",
              "images_per_cpu_second_ratio": round(cpu[32]["ours"] / cpu[32]["reference"], 2),
              "ratio_median_round": round(small["ratio_median_round"], 2),
              "path_chosen": chosen[32],
              "ratio_vs_stock_path": round(small["ours"] / small["ours_stock_layers"], 2),
              **{name: round(small[name], 1) for name in VARIANT.values()},
              "ratio_stock_layers": round(small["ours_stock_layers"] / small["reference"], 2),
              "images_per_cpu_second_ratio_stock_layers":
                  round(cpu[32]["ours_stock_layers"] / cpu[32]["reference"], 2),
              "ours_64x64x3": round(large["ours"], 1),
              "reference_64x64x3": round(large["reference"], 1),
              "ratio_64x64x3": round(large["ours"] / large["reference"], 2),
              "images_per_cpu_second_ratio_64x64x3":
                  round(cpu[64]["ours"] / cpu[64]["reference"], 2),
              "ratio_median_round_64x64x3": round(large["ratio_median_round"], 2),
              "path_chosen_64x64x3": chosen[64],
              "ratio_vs_stock_path_64x64x3": round(large["ours"] / large["ours_stock_layers"], 2),
              **{f"{name}_64x64x3": round(large[name], 1) for name in VARIANT.values()},
              "batch_size": BATCH, "n_features": defaults.n_features,
              "n_latent": defaults.n_latent,
              **pair_figures(small), **pair_figures(large, "_64x64x3")}
    result.update(quality())
    return result


if __name__ == "__main__":
    import json

    print(json.dumps(run()))
