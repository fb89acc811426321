"""`peerstats bench`: at a tiny size it measures every figure and writes them as JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from peerstats import verify
from readability import NARROW, assert_readable_at_80

PEERSTATS = str(Path(sys.executable).parent / "peerstats")


def bench(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([PEERSTATS, "bench", *args], capture_output=True, text=True, timeout=600, cwd=cwd,
                          env={**os.environ, **NARROW})


def test_a_tiny_bench_measures_everything_on_a_throwaway_cluster(tmp_path):
    output = tmp_path / "figures.json"
    # 21,000 pending inserts: just past the threshold, so the every-minute job refreshes. The
    # realistic profile (2 chapters, 20 mentors, 5 years at this size); the default differs only in those.
    result = bench("--sizes", "2500", "--hour-of-writes", "21000", "--write-statements", "100", "--output", str(output),
                   "--profile", "realistic", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "rows/s" in result.stdout and str(output) in "".join(result.stdout.split())  # a long path folds at 80 columns
    assert_readable_at_80(result.stdout, "speedup", "mv_activity_time_series", "time series", "one chapter, API",
                          "view's ratio")
    document = json.loads(output.read_text())
    assert document["machine"]["cpus"] >= 1 and document["server"]["server_version"].startswith("15")
    assert [size["activities"] for size in document["sizes"]] == [2500]
    for size in document["sizes"]:
        assert size["profile"] == "realistic" and size["shape"] == {"chapters": 2, "mentors": 20, "years": 5}
        seeded = size["seed"]
        assert seeded["seconds"] > 0 and seeded["rows_per_second"] > 0
        assert seeded["backend_peak_rss_kib"] >= seeded["backend_peak_rss_kib_before"] > 0
        assert seeded["python_peak_rss_kib"] > 0
        # The seed is one transaction: the log names each changed key once.
        assert seeded["log_entries"] == seeded["changed_keys"] > 0
        assert 0 < size["slowest_api_read_ms"] < 8000
        assert set(size["refresh"]["views"]) == {v.name for v in verify.VIEWS}
        assert all(t["plain_ms"] > 0 and t["concurrent_ms"] > 0 for t in size["refresh"]["views"].values())
        assert len(size["queries"]) == 9
        for row in size["queries"]:
            for side in ("materialized", "plain"):
                assert 0 < row[side]["p50_ms"] <= row[side]["p95_ms"] and row[side]["runs"] >= 5
            # Rounded to one decimal: off by up to 0.05, beside the timings' own rounding.
            assert row["speedup_p50"] == pytest.approx(row["plain"]["p50_ms"] / row["materialized"]["p50_ms"],
                                                       rel=0.1, abs=0.05)
        multi = size["multi_chapter"]
        assert multi["chapters"] >= 1 and set(multi["endpoints"]) == {v.name for v in verify.VIEWS}
        for row in multi["endpoints"].values():
            assert row["ratio_p50"] == pytest.approx(row["all"]["p50_ms"] / row["one"]["p50_ms"], rel=0.02)
            assert row["materialized_ratio_p50"] == pytest.approx(
                row["materialized_all"]["p50_ms"] / row["materialized_one"]["p50_ms"], rel=0.02)
            assert row["server_ratio"] == pytest.approx(row["all"]["server_ms"] / row["one"]["server_ms"], rel=0.02)
            # The API and the materialized view return the same rows after the refresh, all and one.
            assert row["all"]["rows"] == row["materialized_all"]["rows"] >= row["one"]["rows"] \
                == row["materialized_one"]["rows"] > 0
            assert all(0 < row[read]["server_ms"] and row[read]["runs"] >= 5 for read in
                       ("all", "one", "materialized_all", "materialized_one"))
        pending = size["pending_reads"]
        states = list(pending["states"].values())
        # Empty; after a request of rows that count nowhere (no entry); a day; an hour; after the refresh.
        assert [state["dirty_keys"] > 0 for state in states] == [False, False, True, True, False]
        assert states[3]["dirty_keys"] > pending["threshold"] >= states[2]["dirty_keys"]
        assert 0 < states[4]["seconds_until_refreshed"] < 150
        assert all(state["api"]["p50_ms"] > 0 for state in states)
        assert pending["uncounted_request_vs_empty"] == pytest.approx(
            states[1]["api"]["p50_ms"] / states[0]["api"]["p50_ms"], rel=0.01)
        assert pending["one_hour_vs_plain"] == pytest.approx(
            states[3]["api"]["p50_ms"] / states[3]["plain"]["p50_ms"], rel=0.01)
        assert [cost["writers"] for cost in size["writes"]] == [1, 4]
        assert all(cost["with_triggers_per_s"] > 0 and cost["without_triggers_per_s"] > 0 for cost in size["writes"])
        assert [cost["writers"] for cost in size["guarded_writes"]] == [1, 4]
        assert all(cost["with_triggers_per_s"] > 0 and cost["without_triggers_per_s"] > 0
                   for cost in size["guarded_writes"])
        bulk = size["bulk_insert"]
        assert bulk["rows"] == 5000 and bulk["api_ms"] > 0 and bulk["owner_ms"] > 0 and len(bulk["pair_ratios"]) == 3
        assert bulk["ratio"] == pytest.approx(sorted(bulk["pair_ratios"])[1], abs=0.01)
    # The plots beside the JSON, as PNG images.
    for plot in ("figures-reads.png", "figures-writes.png"):
        image = (tmp_path / plot).read_bytes()
        assert image.startswith(b"\x89PNG\r\n\x1a\n") and len(image) > 10_000, plot
        # At 80 columns a long temporary folder folds the path over two lines.
        assert plot in "".join(result.stdout.split())
    # On a cluster of its own, removed afterwards.
    assert not Path(document["throwaway_cluster"]).exists()


@pytest.mark.parametrize("arguments, words", [
    (["--sizes", "abc"], ["--sizes"]),
    (["--sizes", "0"], ["--sizes"]),
    (["--sizes", "1000,-5"], ["--sizes"]),
    (["--sizes", ""], ["--sizes"]),
    (["--profile", "huge"], ["--profile", "huge"]),
    (["--profile", ""], ["--profile"]),
    (["--output", "/nonexistent-folder/figures.json"], ["cannot write"]),
])
def test_bad_input_gets_one_line_and_a_non_zero_exit(tmp_path, arguments, words):
    result = bench(*arguments, cwd=tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("peerstats: ") and "Traceback" not in result.stderr
    assert all(word in lines[0] for word in words)
    assert list(tmp_path.iterdir()) == []
