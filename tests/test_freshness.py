"""`peerstats bench freshness` at a small size: every probe is visible to the first read after its commit."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from peerstats.bench.latency import percentile


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.95), percentile(values, 1.0)) == (50.0, 95.0, 100.0)
    assert percentile([7.0], 0.95) == 7.0


def test_bench_freshness_sees_every_write_at_the_first_read_while_refreshes_run(migrated, conn, tmp_path):
    output = tmp_path / "freshness.json"
    finished = subprocess.run(
        [sys.executable, "-c", "from peerstats.cli import main; main()", "--database-url", migrated,
         "bench", "freshness", "--activities", "5000", "--rate", "20", "--duration", "3", "--output", str(output)],
        capture_output=True, text=True, timeout=240)
    assert finished.returncode == 0, finished.stderr
    assert "staleness p50 / p95 / max" in finished.stdout

    report = json.loads(output.read_text())
    assert report["probes"] == 60 and report["probes_seen"] == 60 and report["probes_seen_at_first_read"] == 60
    assert report["staleness_ms"]["max"] == 0 and report["target_met"]
    # Refreshes ran back to back during the load, so probes committed while one was running.
    assert report["refreshes_during_load"] >= 1
    assert report["dashboard_requests"] >= 1
    assert 0 < report["dashboard_api_ms"]["p50"] <= report["dashboard_api_ms"]["max"]
    assert 0 < report["dashboard_plain_ms"]["p50"] <= report["dashboard_plain_ms"]["max"]
    # The probes were written through the API by signed-in mentors and are in the database.
    assert conn.execute("select count(*) from public.activities where created_at >= now() - interval '5 minutes'"
                        " and duration_minutes = 1").fetchone()[0] >= 60

    # Broadcasts: every write's message reached the subscriber, one per chapter per transaction.
    broadcasts = report["broadcasts"]
    assert broadcasts["spread_delivered"] == broadcasts["spread_writes"] == 60
    assert broadcasts["burst_delivered"] == broadcasts["burst_writes"]
    assert 0 < broadcasts["spread_ms"]["p50"] <= broadcasts["spread_ms"]["p95"] <= broadcasts["spread_ms"]["max"]
    assert list(broadcasts["messages_per_transaction"].values()) == [1, 5, 0]
    assert broadcasts["inserts_per_s_with_broadcasts"] > 0 and broadcasts["inserts_per_s_without_broadcasts"] > 0
    assert "commit to message p50 / p95 / max" in finished.stdout
    # The targets, compared by the bench (which reports them, never fails on them).
    ratio = broadcasts["inserts_per_s_with_broadcasts"] / broadcasts["inserts_per_s_without_broadcasts"]
    assert broadcasts["throughput_ratio"] == ratio
    assert broadcasts["throughput_target_met"] == (ratio >= 0.9)
    assert broadcasts["delivery_target_met"] == (broadcasts["spread_ms"]["p95"] < 1000)
    assert re.search(rf"with / without +\S* *{ratio:.2f}", finished.stdout)
    assert re.search(r"target: with / without at least 0\.9 +\S* *(met|MISSED)", finished.stdout)
    assert re.search(r"target: p95 under 1,000 ms +\S* *(met|MISSED)", finished.stdout)
