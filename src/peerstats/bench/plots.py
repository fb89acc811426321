"""The plots `peerstats bench` writes beside its JSON: how cost grows with size, seen at once.

- Read latency: the 12-month read of the largest chapter (p50, ms) against the number of
  activities, on log scales, one panel per view: the plain view and the API as the chapter's
  coordinator, and the materialized view as its owner.
- Write throughput: single-row inserts per second through the API, with and without the
  statistics triggers, by 1 and by 4 writers, at each size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

from matplotlib.figure import Figure  # noqa: E402 (after choosing the backend)

ONE_CHAPTER = "12 months, one chapter"
READ_LINES = (
    # (label, path of the query row, side of the row), as bench_queries names them
    ("plain view, as the coordinator", "API", "plain"),
    ("API, as the coordinator", "API", "materialized"),
    ("materialized view, as the owner", "owner", "materialized"),
)
TITLES = {"mv_activity_time_series": "activity time series (days)", "mv_chapter_stats": "chapter stats (months)",
          "mv_peer_mentor_stats": "peer mentor stats (months)"}


def plot_paths(output: Path) -> tuple[Path, Path]:
    """The two PNGs beside `output`: bench-results.json gives bench-results-reads.png and -writes.png."""
    return (output.with_name(f"{output.stem}-reads.png"), output.with_name(f"{output.stem}-writes.png"))


def read_latency_figure(sizes: list[dict[str, Any]]) -> Figure:
    views = list(dict.fromkeys(row["view"] for row in sizes[0]["queries"]))
    figure = Figure(figsize=(11, 4), layout="constrained")
    for index, view in enumerate(views):
        axes = figure.add_subplot(1, len(views), index + 1)
        for label, path, side in READ_LINES:
            points = [(size["activities"], row[side]["p50_ms"]) for size in sizes for row in size["queries"]
                      if row["view"] == view and row["query"] == ONE_CHAPTER and row["path"].startswith(path)]
            axes.plot(*zip(*points), marker="o", label=label)
        axes.set(xscale="log", yscale="log", title=TITLES.get(view, view), xlabel="activities")
        axes.grid(True, which="both", alpha=0.3)
        if index == 0:
            axes.set_ylabel("12-month read of one chapter, p50 (ms)")
    figure.legend(*figure.axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=len(READ_LINES))
    figure.suptitle("Read latency against the number of activities (log scales)")
    return figure


def short_count(number: int) -> str:
    """10000 as 10k, 1000000 as 1M: tick labels that fit under their bars."""
    for divisor, suffix in ((1_000_000, "M"), (1_000, "k")):
        if number >= divisor and number % divisor == 0:
            return f"{number // divisor:,}{suffix}"
    return f"{number:,}"


def write_throughput_figure(sizes: list[dict[str, Any]]) -> Figure:
    groups = [(size["activities"], cost) for size in sizes for cost in size["writes"]]
    figure = Figure(figsize=(max(6.0, 1.4 * len(groups)), 4), layout="constrained")
    axes = figure.add_subplot()
    width = 0.38
    positions = range(len(groups))
    for offset, key, label in ((-width / 2, "with_triggers_per_s", "with the statistics triggers"),
                               (width / 2, "without_triggers_per_s", "without them")):
        axes.bar([p + offset for p in positions], [cost[key] for _, cost in groups], width, label=label)
    axes.set_xticks(list(positions), [f"{short_count(activities)} activities\n{cost['writers']} writer"
                                      f"{'s' if cost['writers'] != 1 else ''}" for activities, cost in groups])
    axes.set(ylabel="single-row inserts per second", title="Write throughput through the API")
    axes.grid(True, axis="y", alpha=0.3)
    # Below the axes, where no bar reaches (inside, it covered the tallest ones).
    figure.legend(*axes.get_legend_handles_labels(), loc="outside lower center", ncols=2)
    return figure


def write_plots(document: dict[str, Any], output: Path) -> tuple[Path, Path]:
    reads, writes = plot_paths(output)
    read_latency_figure(document["sizes"]).savefig(reads, dpi=100)
    write_throughput_figure(document["sizes"]).savefig(writes, dpi=100)
    return reads, writes
