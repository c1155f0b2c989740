"""Peak memory of a whole A3 lm_eval run against the database's size.

Generates KonIQ-sized (1024x768) JPEGs, converts them with ``qbench convert a3``, and runs
``qbench run --tasks qbench_a3_koniq`` with the tiny fixture model in a child process for each
size; prints each run's peak RSS and the ratio between the largest and the smallest.

    python bench/memory.py --sizes 2000 10000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from generated_data import make_database

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the tests' fixture models
from fixture_models import cached_fixture  # noqa: E402


def peak_rss_of_run(data_dir: Path, model_dir: Path, batch_size: int) -> tuple[float, float]:
    """(peak RSS in GiB, wall seconds) of one ``qbench run`` in a fresh child process."""
    command = [
        sys.executable, "-c", "from qbench_tasks.cli import main; main()", "run",
        "--model", "hf-multimodal", "--model_args", f"pretrained={model_dir}",
        "--tasks", "qbench_a3_koniq", "--device", "cpu", "--batch_size", str(batch_size),
        "--metadata", json.dumps({"qbench_data_dir": str(data_dir)}),
    ]
    # A wrapper process per run, so RUSAGE_CHILDREN reports that run's peak alone.
    probe = (
        "import resource, subprocess, sys, time; t = time.time(); "
        "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.time() - t)"
    )
    out = subprocess.run([sys.executable, "-c", probe, *command], check=True, capture_output=True, text=True)
    peak_kib, seconds = out.stdout.split()
    return int(peak_kib) / 2**20, float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    model_dir = cached_fixture("tiny")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            started = time.time()
            data_dir = make_database(Path(tmp) / str(n), n)
            prepared = time.time() - started
            peak, seconds = peak_rss_of_run(data_dir, model_dir, args.batch_size)
            rows.append((n, peak, seconds, prepared))
    base = rows[0][1]
    print(f"{'images':>8} | {'peak RSS (GiB)':>14} | {'vs smallest':>11} | {'run (s)':>8} | {'prepare (s)':>11}")
    print("-" * 66)
    for n, peak, seconds, prepared in rows:
        print(f"{n:>8} | {peak:>14.2f} | {peak / base:>10.2f}x | {seconds:>8.1f} | {prepared:>11.1f}")


if __name__ == "__main__":
    main()
