"""Timing for the benchmark scripts: interleaved repetitions, reported as median and spread.

Every method runs once to warm up (file cache, lazy imports), then ``repeats`` rounds each run
every method once, in an order rotated from round to round, so that drift on a shared machine
(another process, the CPU's clock) hits all methods alike. Ratios are taken within a round,
against the baseline's time in that same round, and their median and range are reported.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Timed:
    seconds: list[float] = field(default_factory=list)
    result: object = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def interleaved(methods: dict[str, Callable[..., object]], repeats: int = 3,
                setups: dict[str, Callable[[], object]] | None = None) -> dict[str, Timed]:
    """Seconds of each round of each method (and its last result), rounds interleaved. A method
    with a setup gets the setup's result as its argument; the setup is not timed (fixed overheads
    such as loading a task are timed on their own by the caller)."""
    setups = setups or {}
    names = list(methods)
    timed = {name: Timed() for name in names}

    def call(name):
        args = (setups[name](),) if name in setups else ()
        started = time.perf_counter()
        result = methods[name](*args)
        return time.perf_counter() - started, result

    for name in names:  # warm-up
        call(name)
    for round_ in range(repeats):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            seconds, timed[name].result = call(name)
            timed[name].seconds.append(seconds)
    return timed


def ratios(timed: dict[str, Timed], baseline: str) -> dict[str, list[float]]:
    """Each method's time over the baseline's, round by round."""
    base = timed[baseline].seconds
    return {name: [s / b for s, b in zip(t.seconds, base)] for name, t in timed.items()}


def spread(values: list[float], digits: int = 2) -> str:
    """``median (min-max)``."""
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"
