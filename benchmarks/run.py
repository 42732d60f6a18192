"""Run benchmarks: `python benchmarks/run.py [pipeline ...]` (all when none is named).

Each benchmark measures our implementation and a reference implementation in the same process
and prints one JSON object on its last line: name, unit, ours, reference, ratio (ours over
reference, higher is better) and any further figures.
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

BENCHMARKS = {"pipeline": "bench_pipeline", "gan": "bench_gan", "charrnn": "bench_charrnn"}


def best_rate(fn, count: int, repeats: int = 3) -> float:
    """Items per second of `fn()` (which handles `count` items): the best of `repeats` runs."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return count / best


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run, from {sorted(BENCHMARKS)}; default all")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {sorted(BENCHMARKS)}")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    for name in args.names or list(BENCHMARKS):
        result = importlib.import_module(BENCHMARKS[name]).run()
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
