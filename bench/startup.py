"""Interpreter start-up with the Q-Bench start-up hook (``qbench-lm-eval.pth``) on and off.

The .pth file runs in every Python process of the environment it is installed in, including
those that never import lm-eval. This times ``python -c pass`` with the hook on and with
``QBENCH_LM_EVAL_AUTOLOAD=0`` (where the .pth line reads one environment variable and imports
nothing: the same as the package not being installed, bar that lookup), alternating the two so
that machine drift hits both, and prints the median and spread of each and their ratio.

    python bench/startup.py --runs 40 [--python PATH]

``--python`` times another environment's interpreter (e.g. a venv with the built wheel
installed, as users get it: an editable install adds setuptools' own finder to every start).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time


def time_start(python: str, env: dict) -> float:
    started = time.perf_counter()
    subprocess.run([python, "-c", "pass"], env=env, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    # Byte-code as installed (pip compiles it); PYTHONDONTWRITEBYTECODE would recompile every start.
    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    settings = {"hook on": {**base_env, "QBENCH_LM_EVAL_AUTOLOAD": "1"},
                "hook off (=0)": {**base_env, "QBENCH_LM_EVAL_AUTOLOAD": "0"}}
    times: dict[str, list[float]] = {name: [] for name in settings}
    for _ in range(args.runs):
        for name, env in settings.items():
            times[name].append(time_start(args.python, env))
    base = statistics.median(times["hook off (=0)"])
    print(f"python -c pass, {args.runs} alternating runs each ({args.python})")
    print(f"{'setting':<16}| median ms | p10-p90 ms  | vs off")
    print("-" * 50)
    for name, values in times.items():
        deciles = statistics.quantiles(values, n=10)
        median = statistics.median(values)
        spread = f"{deciles[0] * 1e3:5.1f}-{deciles[-1] * 1e3:5.1f}"
        print(f"{name:<16}| {median * 1e3:9.2f} | {spread} | {median / base:5.3f}x")


if __name__ == "__main__":
    main()
