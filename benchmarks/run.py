"""Run benchmarks: `python benchmarks/run.py [--device cpu|gpu|auto] [pipeline ...]` (all when
none is named).

Each benchmark measures our implementation and a reference implementation in the same process
and prints one JSON object on its last line: name, unit, ours, reference, ratio (ours over
reference, higher is better) and any further figures, with the machine it ran on (`machine`:
CPU model, cores, GPUs, TensorFlow version), the `device` TensorFlow computed on, and
`keeps_freed_memory` (whether `libs.keep_freed_memory` applied, to ours and the references
alike). `--device cpu` hides the GPUs; `--device gpu` refuses to run without one; `auto` (the
default) is TensorFlow's own placement: a GPU when there is one.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

BENCHMARKS = {"pipeline": "bench_pipeline", "gan": "bench_gan", "charrnn": "bench_charrnn",
              "draw": "bench_draw", "vaegan": "bench_vaegan"}


def interleaved(fns: dict, count: int, rounds: int, label: str) -> tuple[dict, dict]:
    """Run each of `fns` (each handles `count` items) once per round, in turns, so that all see
    the same machine load. Returns the items per second of every round, by the wall clock and
    per second of this process's CPU time (all its threads; steadier on a shared machine), as
    two dicts of lists; each round is also printed to stderr under `label`."""
    wall, cpu = {name: [] for name in fns}, {name: [] for name in fns}
    for r in range(rounds):
        for name, fn in fns.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(count / (time.perf_counter() - start))
            cpu[name].append(count / max(time.process_time() - start_cpu, 1e-9))
        print(f"{label} round {r}: " + ", ".join(
            f"{name} {wall[name][-1]:,.1f}/s ({cpu[name][-1]:,.1f} per CPU s)" for name in fns),
            file=sys.stderr, flush=True)
    return wall, cpu


# The GAN's and VAE-GAN's paths (`libs.paths`) and the names of their figures in the JSON;
# in mixed bfloat16, the same names + "_bf16".
VARIANT = {"stock": "ours_stock_layers", "fast": "ours_fast_layers", "xla": "ours_fast_layers_xla"}


def _variant(path: str, precision: str) -> str:
    return VARIANT[path] + ("_bf16" if precision == "bf16" else "")


def path_variants(build, images) -> dict:
    """The GAN's or VAE-GAN's step on every path in float32 and in mixed bfloat16, for
    `step_rates`: `build(path, precision)` returns the model."""
    return {_variant(path, precision): (build(path, precision).train_step, images)
            for precision in ("fp32", "bf16") for path in VARIANT}


def chosen_pair(pairs: dict) -> str:
    """The pair ("path precision" -> rate, in `libs.paths`' order) that the library's rule
    (`preferred`) takes among those it would time here (bfloat16 only where
    `precision_options` has it), as `--path auto --precision auto` does."""
    from libs import paths

    timed = paths.precision_options()
    return paths.preferred({k: r for k, r in pairs.items() if k.split()[1] in timed})


def pair_figures(wall: dict, suffix: str = "") -> dict:
    """Every (path, precision) pair's images/s from `wall` (best rounds of `path_variants`),
    in `libs.paths`' order; the pair the library takes (`chosen_pair`), and that pair's rate
    over the stock layers' in float32."""
    pairs = {f"{path} {precision}": wall[_variant(path, precision)]
             for precision in ("fp32", "bf16") for path in VARIANT}
    chosen = chosen_pair(pairs)
    return {"by_path_and_precision" + suffix: {k: round(r, 1) for k, r in pairs.items()},
            "path_and_precision_chosen" + suffix: chosen,
            "ratio_chosen_pair_vs_stock_fp32" + suffix: round(pairs[chosen] / pairs["stock fp32"], 2)}


def step_rates(variants: dict, steps: int, batch: int, rounds: int, label: str):
    """Images/s of training steps: `variants` maps a name to (step, batch) where `step(batch)`
    trains on one batch of `batch` images. Each is traced and warmed up (its seconds printed to
    stderr), then timed `steps` steps at a time by `interleaved`; returns its (wall, cpu)."""
    import tensorflow as tf

    def wait(out):  # the step's outputs (if any) are ready only once the step has run
        if out is not None:
            tf.nest.map_structure(lambda t: t.numpy(), out)

    for name, (step, x) in variants.items():
        start = time.perf_counter()
        wait(step(x)), wait(step(x))
        print(f"{label}: {name} warm-up {time.perf_counter() - start:.1f} s", file=sys.stderr,
              flush=True)

    def timed(step, x):
        def fn():
            for _ in range(steps):
                out = step(x)
            wait(out)
        return fn

    return interleaved({name: timed(step, x) for name, (step, x) in variants.items()},
                       steps * batch, rounds, label)


def demo_quality(module, model_type, config_type) -> tuple[dict, dict, float]:
    """`module.evaluate(model, "faces")` before and after `module.train("faces", ...,
    **module.DEMO)`: of the untrained model (seeded as `train` seeds it: the weights it starts
    from) and of the trained one; with the seconds the training took."""
    import dataclasses
    import tempfile
    from pathlib import Path

    import keras

    fields = {f.name for f in dataclasses.fields(config_type)}
    config = config_type(**{k: v for k, v in module.DEMO.items() if k in fields})
    keras.utils.set_random_seed(config.seed)
    untrained = module.evaluate(model_type(config), "faces")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        model, _ = module.train("faces", Path(tmp) / "model", progress=False, **module.DEMO)
        seconds = time.perf_counter() - start
    return untrained, module.evaluate(model, "faces"), round(seconds, 1)


def real_halves_swd(image_size: int) -> float:
    """SWD x1e3 between two random halves of the embedded faces, for scale: what samples as
    good as real faces would score (against 100 faces rather than 200)."""
    import numpy as np

    from libs import datasets, metrics

    faces = datasets.faces(image_size)
    order = np.random.default_rng(0).permutation(len(faces))
    return round(metrics.swd(faces[order[:100]], faces[order[100:]])["swd_x1e3"], 2)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run, from {sorted(BENCHMARKS)}; default all")
    parser.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                        help="cpu: hide the GPUs; gpu: refuse to run without one; auto: "
                             "TensorFlow's placement (default)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {sorted(BENCHMARKS)}")
    device = choose_device(args.device, parser)
    import libs
    from libs import paths

    machine = paths.machine()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    for name in args.names or list(BENCHMARKS):
        result = importlib.import_module(BENCHMARKS[name]).run()
        print(json.dumps({**result, "device": device, "machine": machine,
                          "keeps_freed_memory": libs.KEEPS_FREED_MEMORY}), flush=True)


def choose_device(device: str, parser: argparse.ArgumentParser) -> str:
    """Make TensorFlow compute on `device` ("auto", "cpu" or "gpu"), before anything else
    touches it; the device it will use, in words."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if device == "gpu" and not gpus:
        parser.error("--device gpu: TensorFlow sees no GPU on this machine (is the CUDA build "
                     "of TensorFlow installed, `pip install tensorflow[and-cuda]`?); run with "
                     "--device cpu or auto")
    if device == "cpu" or not gpus:
        tf.config.set_visible_devices([], "GPU")
        return "cpu"
    names = [tf.config.experimental.get_device_details(g).get("device_name", g.name)
             for g in gpus]
    return "gpu: " + ", ".join(names)


if __name__ == "__main__":
    main()
