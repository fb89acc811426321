"""`peerstats demo`: migrations, seed, refresh, verify and the coordinator's chart; a second run reuses the data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from peerstats import database

PEERSTATS = str(Path(sys.executable).parent / "peerstats")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def demo(url: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([PEERSTATS, "--database-url", url, "demo", *args], capture_output=True, text=True,
                          timeout=600, cwd=cwd)


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == PNG_SIGNATURE
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


def test_the_demo_seeds_verifies_and_draws_then_reuses_its_data(migrated, tmp_path):
    chart = tmp_path / "chart.png"
    first = demo(migrated, "--activities", "3000", "--output", str(chart), cwd=tmp_path)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr
    assert "wrote 3,000 activities" in first.stdout and "refreshed:" in first.stdout
    assert "criteria pass" in first.stdout and "failed" not in first.stdout
    assert str(chart.resolve()) in first.stdout
    width, height = png_size(chart)
    assert width > 800 and height > 500
    # The coordinator's report is written beside the chart, and its path printed.
    report = chart.with_suffix(".html")
    assert str(report.resolve()) in first.stdout and "<svg" in report.read_text(encoding="utf-8")
    # At the end, one mentor's write reaches the coordinator's live view through a broadcast,
    # and is deleted again: the data stays as seeded.
    live_view = first.stdout.split("live view")[-1]
    assert "after its commit" in live_view and "12 months" in live_view and "UTC" in live_view
    with database.connect(migrated) as conn:
        assert conn.execute("select count(*) from public.activities").fetchone()[0] == 3000

    chart.unlink()
    second = demo(migrated, "--activities", "3000", "--output", str(chart), "--json", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "reusing the 3,000 activities" in second.stderr and "wrote" not in second.stderr
    summary = json.loads(second.stdout)
    assert summary["data"]["activities"] == 3000 and summary["verify"]["failed"] == 0
    assert summary["chart"]["path"] == str(chart.resolve()) and summary["cluster"] is None
    assert summary["live_view"]["commit_to_view_ms"] > 0
    assert chart.exists()

    rebuilt = demo(migrated, "--activities", "2000", "--rebuild", "--yes", "--output", str(chart), cwd=tmp_path)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "rolled back" in rebuilt.stdout and "wrote 2,000 activities" in rebuilt.stdout
    with database.connect(migrated) as conn:
        assert conn.execute("select count(*) from public.activities").fetchone()[0] == 2000


def test_the_chart_is_the_coordinators_view_through_the_api_by_week_over_verifys_12_months(migrated, tmp_path):
    from peerstats import demo as demonstration
    from peerstats.seed import seed

    with database.connect(migrated) as conn:
        seed(conn, activities=3000)
        conn.execute("select public.refresh_stats_views()")
        source = demonstration.chart_source(conn)
        # verify's 12 months: the month of the newest day with data so far, and the 11 before it.
        start, end = conn.execute(
            "select date_trunc('month', max(bucket_date) - interval '11 months')::date, max(bucket_date) + 1"
            " from private.mv_activity_time_series").fetchone()
        path, weeks = demonstration.draw_chart(conn, source, (start, end), tmp_path / "chart.png")
        # The chapter belongs to the coordinator, and every week of the period is drawn.
        assert conn.execute("select count(*) from public.coordinator_chapters where user_id = %s and chapter_id = %s",
                            (source.coordinator_id, source.chapter_id)).fetchone()[0] == 1
        assert weeks == conn.execute(
            "select count(*) from generate_series(date_trunc('week', %s::timestamp), %s::timestamp - interval '1 day',"
            " interval '1 week')", (start, end)).fetchone()[0]
    assert png_size(path)[0] > 800


@pytest.mark.parametrize("arguments, words", [
    (["--activities", "0"], ["--activities"]),
    (["--activities", "ten"], ["--activities"]),
    (["--output", "/nonexistent-folder/chart.png"], ["cannot write the chart"]),
    (["--output", "chart.html"], ["the report is written beside it"]),
])
def test_bad_input_gets_one_line_and_a_non_zero_exit(migrated, tmp_path, arguments, words):
    result = demo(migrated, *arguments, cwd=tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("peerstats: ") and "Traceback" not in result.stderr
    assert all(word in lines[0] for word in words)
    with database.connect(migrated) as conn:
        assert conn.execute("select count(*) from public.activities").fetchone()[0] == 0


def test_on_the_embedded_cluster_the_demo_ends_with_where_it_lives_and_how_to_stop_it(tmp_path):
    from rich.console import Console

    from peerstats.cluster import Cluster
    from peerstats.demo import where_the_cluster_lives

    console = Console(width=80, record=True)
    console.print(where_the_cluster_lives(Cluster(tmp_path / "home"), ".venv/bin/peerstats"), soft_wrap=True)
    text = console.export_text()
    assert f"lives in {tmp_path / 'home'}" in text and "keeps running" in text
    assert ".venv/bin/peerstats local stop\n" in text
    assert f".venv/bin/peerstats local stop && rm -rf {tmp_path / 'home'}" in text
