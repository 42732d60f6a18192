"""Training images/s of `gan.GAN.train_step` against the TensorFlow DCGAN tutorial's step.

The reference is the tutorial's `train_step` (https://www.tensorflow.org/tutorials/generative/dcgan):
two GradientTapes in one `tf.function`, Adam(1e-4) for both networks, BCE from logits, images
scaled to [-1, 1] before the step, on our architecture built from the stock Keras layers
(`path="stock"`). Ours is the library's step (data scaled inside, Adam beta1 = 0.5) on the path
the library chooses on this machine (`path="auto"`: `libs.paths` times the three once and caches
the choice; `path_chosen`). `ours_stock_layers` and `ours_fast_layers` run our step on each
kind of layers, and `ours_fast_layers_xla` on the fast ones compiled by XLA, so the step's, the
layers' and XLA's shares separate; `ratio_vs_stock_path` is the chosen path's rate over the stock
path's. Every path also runs in mixed bfloat16 (names + "_bf16"): `ours_by_precision` is the
chosen path in each, `precision_chosen` the library's rule, `libs.paths.preferred` (float32
unless bfloat16 is 3% faster), applied to those two; `by_path_and_precision` has all six
pairs and `path_and_precision_chosen` the pair the rule takes among them, as `--path auto
--precision auto` does on a CPU with bfloat16 instructions (`ratio_chosen_pair_vs_stock_fp32`:
its rate over the stock layers' in float32). Steps run interleaved,
best of several rounds, at 32x32x1 (the embedded faces; this is `ratio`) and 64x64x3 (CelebA's
shape), batch 64, n_features 64, n_latent 100.

What was measured on a 2-core CPU (no GPU) before settling: the gain comes from the layers.
Transposed convolutions (and strided convolutions' input gradients) computed as forward
convolutions + depth_to_space run ~2-3x faster than TensorFlow's Conv2DBackpropInput; fused
batch norm saves the rest. The step itself changes nothing (ratio_stock_layers ~ 1 per CPU
second); jit_compile=True (XLA) made the step 4-5x slower on CPU (on the stock layers it still
does; on the fast ones, with TensorFlow 2.21, it is 1.1-1.2x faster); one discriminator call on
real and fake concatenated was no faster and would mix their batch-norm statistics.

Then the quality figure: the SWD (x1e3) between the 200 embedded faces and as many generated ones
after the demo's training budget (`gan.DEMO`), against the untrained generator's.
"""
from __future__ import annotations

from run import VARIANT, demo_quality, pair_figures, path_variants, real_halves_swd, step_rates

SHAPES = ((32, 1, 3), (64, 3, 1))  # size, channels, steps per timed run
BATCH, ROUNDS = 64, 6


def reference_step(config):
    """The tutorial's step, verbatim but for the architecture (ours, from stock Keras layers)."""
    import tensorflow as tf
    import keras
    from libs import gan

    generator = gan.generator(config, fast=False)  # the stock Keras layers
    discriminator = gan.discriminator(config, fast=False)
    cross_entropy = keras.losses.BinaryCrossentropy(from_logits=True)
    generator_optimizer = keras.optimizers.Adam(1e-4)
    discriminator_optimizer = keras.optimizers.Adam(1e-4)
    noise_dim = config.n_latent

    def discriminator_loss(real_output, fake_output):
        real_loss = cross_entropy(tf.ones_like(real_output), real_output)
        fake_loss = cross_entropy(tf.zeros_like(fake_output), fake_output)
        return real_loss + fake_loss

    def generator_loss(fake_output):
        return cross_entropy(tf.ones_like(fake_output), fake_output)

    @tf.function
    def train_step(images):
        noise = tf.random.normal([BATCH, noise_dim])
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            generated_images = generator(noise, training=True)
            real_output = discriminator(images, training=True)
            fake_output = discriminator(generated_images, training=True)
            gen_loss = generator_loss(fake_output)
            disc_loss = discriminator_loss(real_output, fake_output)
        gradients_of_generator = gen_tape.gradient(gen_loss, generator.trainable_variables)
        gradients_of_discriminator = disc_tape.gradient(disc_loss,
                                                        discriminator.trainable_variables)
        generator_optimizer.apply_gradients(zip(gradients_of_generator,
                                                generator.trainable_variables))
        discriminator_optimizer.apply_gradients(zip(gradients_of_discriminator,
                                                    discriminator.trainable_variables))
    return train_step


def throughput(size: int, channels: int, steps: int) -> tuple[dict, dict, str]:
    """Images/s of the reference step and of ours on either layers at one shape, interleaved,
    best of ROUNDS: by the wall clock, and per second of this process's CPU time (steadier on
    a shared machine); "ours" is the layers the library chooses here, which it also returns."""
    import sys

    import tensorflow as tf
    import keras
    from libs import gan

    keras.utils.set_random_seed(0)
    config = gan.GANConfig(image_size=size, channels=channels, batch_size=BATCH)
    chosen, _ = gan.speed_settings(config, "auto", "fp32")  # timed once per machine, then cached
    images = tf.random.uniform([BATCH, size, size, channels], 0, 255, seed=1)
    scaled = images / 127.5 - 1.0  # the tutorial scales before the step
    variants = {"reference": (reference_step(config), scaled),
                **path_variants(lambda p, o: gan.GAN(config, path=p, precision=o), images)}
    label = f"gan {size}x{size}x{channels}"
    wall, cpu = step_rates(variants, steps, BATCH, ROUNDS, label)
    wall = {name: max(rates) for name, rates in wall.items()}
    cpu = {name: max(rates) for name, rates in cpu.items()}
    for rates in (wall, cpu):
        rates["ours"], rates["ours_bf16"] = rates[VARIANT[chosen]], rates[VARIANT[chosen] + "_bf16"]
    print(f"{label}: stock layers {wall['ours_stock_layers']:,.1f} img/s, fast layers "
          f"{wall['ours_fast_layers']:,.1f}, with XLA {wall['ours_fast_layers_xla']:,.1f}; "
          f"in bfloat16 {wall['ours_stock_layers_bf16']:,.1f}, {wall['ours_fast_layers_bf16']:,.1f}"
          f", {wall['ours_fast_layers_xla_bf16']:,.1f} (best rounds); the library chose {chosen} "
          "in float32", file=sys.stderr, flush=True)
    return wall, cpu, chosen


def quality() -> dict:
    """SWD x1e3 (1000 faces asked, 200 available) of the untrained generator and of the one
    trained with the demo's budget, `gan.DEMO`; and of one half of the real faces against the
    other, for scale."""
    from libs import gan

    untrained, trained, seconds = demo_quality(gan, gan.GAN, gan.GANConfig)
    return {"swd_x1e3_untrained": untrained["swd_x1e3"], "swd_x1e3_trained": trained["swd_x1e3"],
            "swd_ratio_trained_over_untrained": round(trained["swd_x1e3"] / untrained["swd_x1e3"], 3),
            "swd_x1e3_real_halves": real_halves_swd(gan.DEMO["image_size"]),
            "demo_budget": gan.DEMO, "demo_train_seconds": seconds}


def run() -> dict:
    from libs.paths import preferred

    wall, cpu, chosen = {}, {}, {}
    for size, channels, steps in SHAPES:
        wall[size], cpu[size], chosen[size] = throughput(size, channels, steps)
    small, large = wall[32], wall[64]
    result = {"name": "gan", "unit": "images/s", "ours": round(small["ours"], 1),
              "reference": round(small["reference"], 1),
              "ratio": round(small["ours"] / small["reference"], 2),
              "reference_impl": "TensorFlow DCGAN tutorial train_step, same architecture",
              "images_per_cpu_second_ratio": round(cpu[32]["ours"] / cpu[32]["reference"], 2),
              "path_chosen": chosen[32],
              "ratio_vs_stock_path": round(small["ours"] / small["ours_stock_layers"], 2),
              "ours_stock_layers": round(small["ours_stock_layers"], 1),
              "ours_fast_layers": round(small["ours_fast_layers"], 1),
              "ours_fast_layers_xla": round(small["ours_fast_layers_xla"], 1),
              "ratio_stock_layers": round(small["ours_stock_layers"] / small["reference"], 2),
              "ours_64x64x3": round(large["ours"], 1),
              "reference_64x64x3": round(large["reference"], 1),
              "ratio_64x64x3": round(large["ours"] / large["reference"], 2),
              "path_chosen_64x64x3": chosen[64],
              "ratio_vs_stock_path_64x64x3": round(large["ours"] / large["ours_stock_layers"], 2),
              "ours_stock_layers_64x64x3": round(large["ours_stock_layers"], 1),
              "ours_fast_layers_64x64x3": round(large["ours_fast_layers"], 1),
              "ours_fast_layers_xla_64x64x3": round(large["ours_fast_layers_xla"], 1),
              "images_per_cpu_second_ratio_64x64x3":
                  round(cpu[64]["ours"] / cpu[64]["reference"], 2),
              "batch_size": BATCH, "n_features": 64, "n_latent": 100}
    for size, suffix in ((32, ""), (64, "_64x64x3")):
        fp32, bf16 = wall[size]["ours"], wall[size]["ours_bf16"]
        result["ours_by_precision" + suffix] = {"fp32": round(fp32, 1), "bf16": round(bf16, 1)}
        result["precision_chosen" + suffix] = preferred({"fp32": fp32, "bf16": bf16})
        result.update(pair_figures(wall[size], suffix))
    result.update(quality())
    return result


if __name__ == "__main__":
    import json

    print(json.dumps(run()))
