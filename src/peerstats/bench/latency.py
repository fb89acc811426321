"""Latency series: one query run repeatedly and summarised by nearest-rank percentiles.

Shared by `peerstats bench`, its exact-API part, `peerstats bench freshness` (with its
broadcasts) and `peerstats bench load`, so none of them imports another for it.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# Each query series runs for about this long (at least MIN_SAMPLES times, at most
# MAX_SAMPLES), after one unmeasured run that warms the cache.
SERIES_SECONDS = 2.5
MIN_SAMPLES, MAX_SAMPLES = 5, 50


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (a value that was measured, never an interpolation); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = math.ceil(round(fraction * len(ordered), 9))
    return ordered[max(0, min(len(ordered) - 1, rank - 1))]



def summary(values: list[float]) -> dict[str, float]:
    """p50, p95, max and mean of a list of timings, as the freshness bench reports them."""
    return {"p50": percentile(values, 0.5), "p95": percentile(values, 0.95), "max": max(values, default=float("nan")),
            "mean": statistics.fmean(values) if values else float("nan")}


@dataclass(frozen=True)
class Series:
    """One query measured repeatedly: milliseconds per run, client side (what the dashboard waits)."""

    samples: list[float]

    @property
    def p50(self) -> float:
        return percentile(self.samples, 0.5)

    @property
    def p95(self) -> float:
        return percentile(self.samples, 0.95)

    def as_dict(self) -> dict[str, Any]:
        return {"p50_ms": round(self.p50, 3), "p95_ms": round(self.p95, 3), "max_ms": round(max(self.samples), 3),
                "runs": len(self.samples)}


def measure(run: Callable[[], Any]) -> Series:
    """`run` timed repeatedly, after one unmeasured run."""
    return measure_alternating({"run": run})["run"]


def measure_alternating(runs: Mapping[str, Callable[[], Any]]) -> dict[str, Series]:
    """Each of `runs` timed repeatedly after one unmeasured run (SERIES_SECONDS each, between
    MIN_SAMPLES and MAX_SAMPLES times), taking turns sample by sample, so the figures compared in
    a ratio share the machine's moments of load instead of each having its own."""
    for run in runs.values():
        run()
    samples: dict[str, list[float]] = {name: [] for name in runs}
    started = time.perf_counter()
    rounds = 0
    while rounds < MAX_SAMPLES and (rounds < MIN_SAMPLES or time.perf_counter() - started < SERIES_SECONDS * len(runs)):
        for name, run in runs.items():
            began = time.perf_counter()
            run()
            samples[name].append((time.perf_counter() - began) * 1000)
        rounds += 1
    return {name: Series(values) for name, values in samples.items()}
