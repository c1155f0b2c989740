"""Cost of the bootstrap standard errors: SRCC and PLCC of a 10,000-image database at 1,000
resamples, vectorised (``qbench_tasks.bootstrap``: every resample at once as an array, in chunks)
against a Python loop calling scipy once per resample, timed in the same process on fewer
resamples and scaled to the same count.

    python bench/bootstrap.py --images 10000 --resamples 1000 --loop-resamples 50
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import stats

from qbench_tasks.bootstrap import correlation_replicates, replicate_stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--loop-resamples", type=int, default=50)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    mos = rng.uniform(1, 5, args.images)
    scores = mos + rng.normal(0, 1.0, args.images)
    everything = [np.arange(args.images)]
    print(f"{args.images} images, {args.resamples} resamples")
    print(f"{'stat':<6}| {'method':<36}| seconds | vs loop | standard error")
    print("-" * 78)
    for name, scipy_fn in (("srcc", stats.spearmanr), ("plcc", stats.pearsonr)):
        started = time.perf_counter()
        loop = []
        for _ in range(args.loop_resamples):
            picks = rng.integers(0, args.images, args.images)
            loop.append(scipy_fn(scores[picks], mos[picks]).statistic)
        loop_seconds = (time.perf_counter() - started) * args.resamples / args.loop_resamples
        started = time.perf_counter()
        stderr = replicate_stderr(correlation_replicates(name, [scores], mos, everything, args.resamples)[0])
        seconds = time.perf_counter() - started
        print(f"{name:<6}| {'scipy per resample (scaled)':<36}| {loop_seconds:7.2f} |   1.00x | "
              f"{np.std(loop, ddof=1):.5f}")
        print(f"{name:<6}| {'vectorised (qbench_tasks.bootstrap)':<36}| {seconds:7.2f} | "
              f"{loop_seconds / seconds:6.2f}x | {stderr:.5f}")


if __name__ == "__main__":
    main()
