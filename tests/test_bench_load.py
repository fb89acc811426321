"""`peerstats bench load`, run tiny: dashboards, writers and pg_cron at once on a throwaway
cluster, with no error, no timeout and no difference from the plain views, and its figures
written as JSON and drawn as a PNG."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from peerstats.bench.freshness import DASHBOARD_QUERIES
from readability import NARROW, assert_readable_at_80

PEERSTATS = str(Path(sys.executable).parent / "peerstats")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def bench_load(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([PEERSTATS, "bench", "load", *args], capture_output=True, text=True, timeout=300, cwd=cwd,
                          env={**os.environ, **NARROW})


def test_a_tiny_load_reads_exactly_with_no_error_while_mentors_write(tmp_path):
    result = bench_load("--activities", "20000", "--duration", "20", "--sessions", "5", "--sample-every", "4",
                        "--output", "load.json", "--plot", "load.png", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert_readable_at_80(result.stdout, *DASHBOARD_QUERIES, "errors (target 0)", "timeouts (target 0)",
                          "writes done", "refreshes run", "exactness samples", "log entries")
    document = json.loads((tmp_path / "load.json").read_text())
    assert document["errors"] == 0 and document["error_examples"] == []
    assert document["timeouts"] == 0
    # One dashboard each of a coordinator of 1, 2, 3, 4 and 5 chapters.
    assert document["sessions_by_chapters"] == {"1": 1, "2": 1, "3": 1, "4": 1, "5": 1}
    for endpoint, figures in document["endpoints"].items():
        # Every session loads its dashboard at least every 4 s.
        assert figures["requests"] >= 5 * 20 // 4, endpoint
        assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"] <= figures["max_ms"], endpoint
    # Latency over time, per 30 s window, adds up to the whole run's requests.
    assert [window["from_s"] for window in document["over_time"]] == [0, 30][:len(document["over_time"])]
    for endpoint, figures in document["endpoints"].items():
        assert sum(window[endpoint]["requests"] for window in document["over_time"] if endpoint in window) \
            == figures["requests"]
    writes = document["writes"]
    assert 0.9 * 20 * 20 <= writes["done"] <= 20 * 20 + 1 and writes["p50_ms"] > 0
    exactness = document["exactness"]
    assert exactness["samples"] >= 4 and exactness["differing_rows"] == 0 and exactness["where"] == {}
    log = [sample["log_entries"] for sample in document["log"]]
    # The threshold refresh is far off at this rate: unless the hourly job's minute fell within
    # the run, the log only grew, one entry per insert.
    if not document["refreshes"]:
        assert log == sorted(log) and log[-1] == writes["done"]
    assert all(refresh["status"] == "refreshed" for refresh in document["refreshes"])
    assert (tmp_path / "load.png").read_bytes().startswith(PNG_SIGNATURE)


def test_bad_sizes_are_refused_in_one_line_before_any_work(tmp_path):
    for args in (["--sessions", "0"], ["--duration", "0"], ["--write-rate", "-1"], ["--activities", "0"]):
        result = bench_load(*args, cwd=tmp_path)
        assert result.returncode == 2, args
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("peerstats: ") and args[0] in line
    assert list(tmp_path.iterdir()) == []
