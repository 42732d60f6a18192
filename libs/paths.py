"""Which implementation runs fastest here: chosen per machine by timing, never assumed.

Where the library has two ways of doing the same maths, the faster one depends on the machine.
Measured on the GAN's training step (batch 64, 32x32): the hand-written layers of `libs.layers`
(sub-pixel transposed convolutions, fused batch norm) were 1.4-1.5x faster than the stock Keras
layers on an AMD EPYC, but 6-8% slower on an Intel Xeon (5th generation, AVX-512); mixed
precision (`mixed_bfloat16`) was 1.3x faster on one CPU and 1.5-1.7x slower on the other. On
that AMD EPYC with TensorFlow 2.21, compiling the step by XLA made the GAN's step on the
hand-written layers 1.1-1.2x faster, on the stock layers 4x slower, and DRAW's 1.5-1.75x faster.

    choice = paths.choose("GAN's path", {"stock": make_stock, "fast": make_fast},
                          {"image_size": 32, "batch_size": 64}, per_step=64)

`choose` times every candidate (each `make()` returns a training step and its input) once per
machine and shape, and caches the winner as JSON in `downloads.data_dir()/fast_paths.json`, keyed
by the machine (CPU model, cores, GPUs), TensorFlow's version and the shape; later calls read
it. A damaged cache file is reported and rebuilt. `python -m libs.paths` lists this machine's
choices with the rates they were made on; `--forget` deletes them, so that the next training
times again (a choice timed while other work loaded the machine can be a poor one).

What a model asks for is resolved by `resolve`: an explicit argument wins, then the environment
(`CADL_PATH=stock|fast|xla|auto`, `CADL_PRECISION=fp32|bf16|fp16|auto`), then `DEFAULTS` (a
library setting, "auto").

A model's "auto" times nothing for tiny shapes, in quick mode (`CADL_QUICK=1`, the notebooks'
quick runs) or under pytest (`may_time`): steps of milliseconds gain nothing from the choice and
timing costs seconds; it then takes a fixed choice (the models say which). `choose` itself always
times what it is not given cached.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import json
import logging
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np

from .downloads import data_dir
from .files import write_bytes_atomic

CACHE_NAME = "fast_paths.json"
# The paths: "stock", Keras's layers in TensorFlow's graph; "fast", the library's own fastest
# way where a model has one (the GAN's and VAE-GAN's hand-written layers, `libs.layers`; the
# char-RNN's batch in two halves, two XLA programs side by side; DRAW: as "stock"); "xla", the
# training step compiled by XLA (the GAN's and VAE-GAN's on the hand-written layers). (DRAW and
# the char-RNN have no Keras layers to swap: their "stock" is the step in TensorFlow's graph.)
PATHS = ("stock", "fast", "xla")
CHOICES = {"path": ("auto", *PATHS), "precision": ("auto", "fp32", "bf16", "fp16")}
ENV = {"path": "CADL_PATH", "precision": "CADL_PRECISION"}
DEFAULTS = {"path": "auto", "precision": "auto"}  # the library setting: paths.DEFAULTS["path"] = "fast"
# Steps per timed run; rounds, interleaved. With 3 rounds, two paths 4-5% apart in a benchmark's
# 6 rounds came out in the other order (VAE-GAN, 2-core AMD EPYC Zen 5): the best of 5 is steadier.
STEPS, ROUNDS = 3, 5
MARGIN = 0.03  # another candidate must beat the first (the default) by this much to be chosen
SMALL_BATCH_PIXELS = 32 * 32 * 32  # image models' "auto" times nothing below this many pixels a batch


def large_batch(config) -> bool:
    """Whether an image model's `config` (batch_size, image_size) has batches worth timing:
    at least SMALL_BATCH_PIXELS pixels. Below, "auto" times nothing (the seconds of timing
    would outweigh what a choice could save)."""
    return config.batch_size * config.image_size ** 2 >= SMALL_BATCH_PIXELS


def resolve(kind: str, value: str | None = None) -> str:
    """What was asked for `kind` ("path" or "precision"): `value` unless None, else the
    environment variable (CADL_PATH, CADL_PRECISION), else DEFAULTS[kind]; checked."""
    if kind not in CHOICES:
        raise ValueError(f"kind must be one of {sorted(CHOICES)}, got {kind!r}")
    if value is not None:
        source = "the argument"
    elif os.environ.get(ENV[kind]):
        value, source = os.environ[ENV[kind]], ENV[kind]
    else:
        value, source = DEFAULTS[kind], f"paths.DEFAULTS[{kind!r}]"
    if value not in CHOICES[kind]:
        raise ValueError(f"{kind} must be one of {', '.join(CHOICES[kind])}, got {value!r} "
                         f"(from {source})")
    return value


def may_time() -> bool:
    """False in quick mode (CADL_QUICK=1) and under pytest (which sets PYTEST_CURRENT_TEST,
    also for the processes a test starts): "auto" then takes the fixed small-model choice."""
    return os.environ.get("CADL_QUICK", "") in ("", "0") and "PYTEST_CURRENT_TEST" not in os.environ


def machine() -> dict:
    """What the timings depend on: CPU model, cores this process may use, GPU names."""
    return dict(_machine())


def cpu_model(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The CPU's model name with its family and model numbers (Linux's /proc/cpuinfo), else
    what `platform` knows. The numbers tell generations apart where a virtual machine names
    them alike: "AMD EPYC" has named both a CPU with AVX2 alone and one of family 26 (Zen 5)
    with AVX-512, whose fastest paths differ."""
    try:
        fields = {}
        for line in Path(cpuinfo).read_text().splitlines():
            key, _, value = line.partition(":")
            if not line.strip():  # the first processor's block is enough
                break
            fields.setdefault(key.strip(), value.strip())
        if "model name" in fields:
            numbers = [f"{k} {fields[k]}" for k in ("cpu family", "model") if fields.get(k)]
            return ", ".join([fields["model name"], *numbers])
    except OSError:  # not Linux
        pass
    return platform.processor() or platform.machine()


@functools.lru_cache(maxsize=1)
def _machine() -> dict:  # read once per process: every GAN built looks its choice up
    cpu = cpu_model()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    import tensorflow as tf

    gpus = [tf.config.experimental.get_device_details(d).get("device_name", d.name)
            for d in tf.config.list_physical_devices("GPU")]
    return {"cpu": cpu, "cores": cores, "gpus": gpus, "tensorflow": tf.__version__}


def cache_path() -> Path:
    return data_dir() / CACHE_NAME


def read_cache(path: Path | None = None) -> dict:
    """The cached choices {key: {"choice", "rates", "when"}}; {} when there is no file, and
    when it is damaged (said on stdout: it is rebuilt at the next write)."""
    path = path or cache_path()
    try:
        cache = json.loads(path.read_text())
        if not isinstance(cache, dict) or not all(isinstance(v, dict) and isinstance(v.get("choice"), str)
                                                  for v in cache.values()):
            raise ValueError("not a JSON object of choices")
        return cache
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        print(f"The cache of timed choices {path} is damaged ({e}); timing again and rewriting it.")
        return {}


def cache_key(name: str, key_fields: Mapping) -> str:
    return json.dumps({"name": name, **machine(), **key_fields}, sort_keys=True)


def choose(name: str, candidates: Mapping[str, Callable[[], tuple[Callable, object]]],
           key_fields: Mapping, *, per_step: int = 1, unit: str = "img/s",
           fallback: str | None = None) -> str:
    """The fastest of `candidates` on this machine for the shape `key_fields`, cached.

    candidates: name -> make(), returning (step, x) where step(x) runs one step on `per_step`
    items. Each is traced and run once, then timed STEPS steps at a time, the
    candidates taking turns for ROUNDS rounds (so all see the same load; one at under half the
    leader's rate drops out); a candidate's rate is its best round, since a shared machine's
    noise only ever adds time. Candidates come in order of preference, the simplest first:
    the first within MARGIN of the fastest is chosen (a later one must beat every earlier one
    by MARGIN; "xla" also compiles for longer). Global Python and NumPy random
    states are restored afterwards, so the timing does not change the weights of models built
    next (Keras draws initial weights from them). A cached choice counts only where it was
    made among all these candidates (or more). With a `fallback`, nothing is timed: the
    cached choice, else `fallback`.
    """
    if not candidates:
        raise ValueError(f"choose({name!r}) needs at least one candidate")
    key = cache_key(name, key_fields)
    try:
        path, unwritable = cache_path(), None
    except OSError as e:  # no writable data directory: choose, but cache nothing
        path, unwritable = None, e
    cached = read_cache(path).get(key) if path else None
    # A choice made without some of these candidates (by a version of the library with fewer
    # ways to compute the step) is timed again, not taken.
    if cached is not None and cached["choice"] in candidates \
            and set(candidates) <= set(cached.get("rates", candidates)):
        return cached["choice"]
    if fallback is not None:
        return fallback
    print(f"Timing the {name} on this machine (once): ", end="", flush=True)
    rates = _time(candidates, per_step)
    choice = preferred(rates)
    figures = ", ".join(f"{n} {r:,.0f} {unit}" for n, r in rates.items())
    where = f"not cached ({unwritable})"
    if path is not None:
        cache = read_cache(path)  # again: another process may have added choices meanwhile
        cache[key] = {"choice": choice, "rates": {n: round(r, 2) for n, r in rates.items()},
                      "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        try:
            write_bytes_atomic(path, (json.dumps(cache, indent=1, sort_keys=True) + "\n").encode())
            where = f"cached in {path}"
        except OSError as e:
            where = f"not cached ({e})"
    print(f"{figures} -> {choice}; {where}", flush=True)
    return choice


def preferred(rates: Mapping[str, float]) -> str:
    """The choice `choose` makes from measured `rates` (name -> items/s, in order of
    preference): the first within MARGIN of the fastest."""
    fastest = max(rates.values())
    return next(n for n, r in rates.items() if r * (1 + MARGIN) >= fastest)


class _Retraces(logging.Filter):
    """Drops TensorFlow's warning that a step "triggered tf.function retracing" while candidates
    are timed: each candidate is a new model whose step is traced once, and TensorFlow counts
    the traces of a class's step (by its code) across models, so timing the GAN's six pairs
    of path and precision warned twice in the lecture, with advice that does not apply."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


def _time(candidates: Mapping[str, Callable[[], tuple[Callable, object]]], per_step: int) -> dict:
    """Items per second of every candidate: best of ROUNDS interleaved rounds of STEPS steps."""
    import tensorflow as tf

    def wait(out):  # a step's outputs are ready only once the step has run
        tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, out)

    states = random.getstate(), np.random.get_state()
    quiet = _Retraces()
    tf.get_logger().addFilter(quiet)
    try:
        steps = {}
        for n, make in candidates.items():
            step, x = make()
            wait(step(x))  # trace and run once; the best round leaves any later warm-up out
            steps[n] = (step, x)
        best = {n: 0.0 for n in steps}
        for _ in range(ROUNDS):
            for n, (step, x) in steps.items():
                start = time.perf_counter()
                for _ in range(STEPS):
                    out = step(x)
                wait(out)
                best[n] = max(best[n], STEPS * per_step / (time.perf_counter() - start))
            # One at under half the leader's rate cannot win: no more rounds for it.
            steps = {n: s for n, s in steps.items() if best[n] >= max(best.values()) / 2}
        return best
    finally:
        tf.get_logger().removeFilter(quiet)
        random.setstate(states[0])
        np.random.set_state(states[1])


@functools.lru_cache(maxsize=2)
def bf16_instructions(cpuinfo: str = "/proc/cpuinfo") -> bool | None:
    """Whether this CPU has bfloat16 instructions (x86: avx512_bf16 or amx_bf16; Arm: bf16),
    from the flags in `cpuinfo`; None where they cannot be read."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:  # not Linux
        return None
    flags = {f for line in text.splitlines() if line.startswith(("flags", "Features"))
             for f in line.split(":", 1)[1].split()}
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"}) if flags else None


def precision_options() -> tuple[str, ...]:
    """The precisions worth timing here, float32 first: "bf16" unless the CPU lacks bfloat16
    instructions (`bf16_instructions`), and "fp16" on a GPU."""
    import tensorflow as tf

    gpu = bool(tf.config.list_logical_devices("GPU"))
    if not gpu and bf16_instructions() is False:
        return ("fp32",)
    return ("fp32", "bf16", "fp16")[:3 if gpu else 2]


def choose_precision(name: str, make: Callable[[str], tuple[Callable, object]],
                     key_fields: Mapping, *, per_step: int, unit: str = "img/s",
                     measure: bool = True, precision: str | None = None) -> str:
    """The precision a model trains in: `precision` as `resolve` reads it (None: the
    environment's, else DEFAULTS'), and "auto" decided here: `choose` among "fp32", "bf16"
    and, on a GPU, "fp16" (CPUs have no fast float16 kernels), `make(precision)` returning
    (step, x); float32 unless another is faster. measure=False: the cached choice, else "fp32".

    A CPU without bfloat16 instructions (`bf16_instructions`) is not timed: it converts
    bfloat16 to float32 and back around every product. On a 2-core AMD EPYC (AVX2) a compiled
    (10000, 256) x (256, 1024) product ran at 53 GFLOP/s in bfloat16 against 78 in float32,
    and the char-RNN's step at 0.33-0.45x, so timing it there (about 25 s for the char-RNN)
    could only confirm float32."""
    precision = resolve("precision", precision)
    if precision != "auto":
        return precision
    options = precision_options()
    if len(options) == 1:
        return "fp32"
    return choose(f"{name}'s precision", {o: (lambda o=o: make(o)) for o in options},
                  key_fields, per_step=per_step, unit=unit,
                  fallback=None if measure else "fp32")


def speed_settings(name: str, make: Callable[[str, str], tuple[Callable, object]],
                   key_fields: Mapping, *, per_step: int, path: str | None = None,
                   precision: str | None = None, measure: bool = True,
                   candidates: tuple[str, ...] = ("stock", "fast", "xla"), fallback: str = "fast",
                   distributed: bool = False, compiled: tuple[str, ...] = ("xla",),
                   unit: str = "img/s") -> tuple[str, str]:
    """A model's path (one of PATHS) and precision ("fp32", "bf16", "fp16"): as asked, or None
    for the environment's or DEFAULTS'. "auto" is decided by timing `make(path, precision)`
    -> (step, x) once per machine and shape (`key_fields`), `candidates` in order of
    preference (see `choose`). Both "auto": every path in every precision worth timing here
    (`precision_options`), float32's first, as one choice named "{name}'s path and precision"
    in the cache (the fastest pair need not hold either's fastest: on an Intel Xeon with AMX,
    the char-RNN's XLA step was the fastest in float32 and TensorFlow's graph step, its
    bfloat16 products on oneDNN, the fastest in bfloat16); on CPUs without bfloat16
    instructions, the paths in float32 alone. One of them asked: the other timed with it
    ("{name}'s path", "{name}'s precision"). Where nothing is timed (measure=False, small
    shapes; or not `may_time()`), "auto" takes a cached choice, else `fallback` and "fp32".

    `distributed`: the model trains under a tf.distribute strategy, where nothing is timed
    (workers could choose apart) and the paths XLA compiles (`compiled`) do not run: one of
    them asked is refused, and "auto" chooses among the other candidates."""
    path, precision = resolve("path", path), resolve("precision", precision)
    if distributed:
        candidates = tuple(c for c in candidates if c not in compiled)
        if path in compiled:
            raise ValueError(f"path {path!r} does not run under a tf.distribute strategy; use "
                             f"{' or '.join(map(repr, candidates))} or 'auto' there")
    if fallback not in candidates:
        fallback = candidates[0]
    measure = measure and not distributed and may_time()
    options = precision_options() if path == precision == "auto" else ()
    if len(options) > 1:
        pairs = {f"{c} {o}": (lambda c=c, o=o: make(c, o)) for o in options for c in candidates}
        both = choose(f"{name}'s path and precision", pairs, key_fields, per_step=per_step,
                      unit=unit, fallback=None if measure else f"{fallback} fp32")
        path, precision = both.split()
        return path, precision
    if path == "auto":
        fixed = "fp32" if precision == "auto" else precision
        path = choose(f"{name}'s path", {o: (lambda o=o: make(o, fixed)) for o in candidates},
                      {**key_fields, "precision": fixed}, per_step=per_step, unit=unit,
                      fallback=None if measure else fallback)
    precision = choose_precision(name, lambda o: make(path, o), {**key_fields, "path": path},
                                 per_step=per_step, unit=unit, measure=measure, precision=precision)
    return path, precision


POLICIES = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


@contextlib.contextmanager
def precision_scope(precision: str) -> Iterator[None]:
    """Layers made inside compute in `precision` ("fp32", "bf16", "fp16": Keras's dtype policies
    float32, mixed_bfloat16, mixed_float16; variables stay float32). Keras's global policy is
    set for the block only and restored after it, so the user's other models keep theirs."""
    if precision not in POLICIES:
        raise ValueError(f"precision must be one of {', '.join(POLICIES)} here, got {precision!r}")
    import keras

    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(POLICIES[precision])
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m libs.paths", allow_abbrev=False,
        description="List the implementations and precisions timed and chosen on this machine.")
    parser.add_argument("--forget", action="store_true",
                        help=f"delete the cache ({CACHE_NAME}): the next training times again")
    args = parser.parse_args(argv)
    path = cache_path()
    if args.forget:
        existed = path.exists()
        path.unlink(missing_ok=True)
        print(f"Deleted {path}." if existed else f"Nothing to delete: {path} does not exist.")
        return 0
    here = machine()
    entries = [(json.loads(key), value) for key, value in read_cache(path).items()]
    mine = [(key, value) for key, value in entries if all(key.get(k) == v for k, v in here.items())]
    choices = f"{len(mine)} choice{'' if len(mine) == 1 else 's'}"
    print(f"{choices} timed on this machine ({here['cpu']}, {here['cores']} cores, TensorFlow "
          f"{here['tensorflow']}) in {path}" + (":" if mine else "."))
    for key, value in sorted(mine, key=lambda kv: kv[0]["name"]):
        shape = ", ".join(f"{k}={v}" for k, v in sorted(key.items()) if k != "name" and k not in here)
        rates = ", ".join(f"{n} {r:,.1f}" for n, r in value.get("rates", {}).items())
        print(f"  {key['name']}: {value['choice']}  ({rates}; {value.get('when', '?')})\n"
              f"    for {shape}")
    if len(entries) > len(mine):
        print(f"({len(entries) - len(mine)} more from other machines or TensorFlow versions.)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
