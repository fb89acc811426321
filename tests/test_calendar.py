"""Any day of the calendar: what depends on the date passes with the clock of the server and of the
client at each date of the clock list, year end, leap day and Oslo's clock change included.

The commands that read the date (`demo`, `verify`, `report`, `bufdir close` and `validate`) are
one test here, marked `date_dependent` like every test whose data depend on the date. The clock
list runs `pytest -m date_dependent` in a process of its own under libfaketime, whose throwaway
cluster the fixtures start in that process's environment, so the server and the client share one
clock: the target moment when the process starts, ticking on from there.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from peerstats import database
from test_bufdir import peerstats

REPOSITORY = Path(__file__).resolve().parent.parent


@pytest.mark.date_dependent
def test_demo_verify_report_and_a_closed_year_on_todays_date(migrated, tmp_path, record_property):
    with database.connect(migrated) as conn:
        server_now, time_zone = conn.execute("select now(), current_setting('TimeZone')").fetchone()
    chart = tmp_path / "chart.png"
    demo = subprocess.run([sys.executable, "-c", "from peerstats.cli import main; main()", "--database-url", migrated,
                           "demo", "--activities", "2000", "--output", str(chart), "--json"],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    summary = json.loads(demo.stdout)
    assert summary["verify"]["failed"] == 0 and summary["data"]["activities"] == 2000

    with database.connect(migrated) as conn:
        coordinator = conn.execute("select user_id from public.coordinator_chapters group by 1"
                                   " order by count(*) desc, 1 limit 1").fetchone()[0]
    report = peerstats(migrated, "report", "--coordinator", str(coordinator), "--output", str(tmp_path / "r.html"),
                       "--json")
    assert report.returncode == 0, report.stderr
    period = json.loads(report.stdout)
    until, start = date.fromisoformat(period["until"]), date.fromisoformat(period["from"])
    # The report's period is the 12 calendar months up to its own reading of today, at or after ours.
    server_today = server_now.astimezone(timezone.utc).date()
    assert server_today <= until <= server_today + timedelta(days=1)
    assert start.day == 1 and (until.year * 12 + until.month) - (start.year * 12 + start.month) == 11

    # The seed spans two years up to last midnight: the year before the report's has activities to close.
    last_year = until.year - 1
    closed = peerstats(migrated, "bufdir", "close", "--year", str(last_year), "--json")
    assert closed.returncode == 0, closed.stderr
    assert json.loads(closed.stdout)["activity_count"] > 0
    validated = peerstats(migrated, "bufdir", "validate", "--year", str(last_year))
    assert validated.returncode == 0, validated.stdout[-3000:] + validated.stderr
    # verify measures the database as it is now, with a closed year.
    verified = peerstats(migrated, "verify", "--json")
    assert verified.returncode == 0, verified.stdout[-3000:] + verified.stderr[-3000:]
    assert not [c for c in json.loads(verified.stdout)["criteria"] if not c["passed"]]

    # What the clock list checks: which clock the server and this process ran on.
    record_property("server_now", server_now.isoformat())
    record_property("server_time_zone", time_zone)
    record_property("client_now", datetime.now().astimezone().isoformat())
    record_property("report_from", period["from"])
    record_property("report_until", period["until"])


# --- the clock list ---------------------------------------------------------------------------------

LIBFAKETIME = next(iter(sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))), None)
FAKETIME_SITE = Path(__file__).resolve().parent / "faketime"
# (name, moment in UTC, TZ of the server and the client: None keeps the machine's).
CLOCKS = [
    ("31-dec-23.59.30", datetime(2027, 12, 31, 23, 59, 30, tzinfo=timezone.utc), None),
    ("1-jan-00.00.30", datetime(2028, 1, 1, 0, 0, 30, tzinfo=timezone.utc), None),
    ("29-feb-2028-12.00", datetime(2028, 2, 29, 12, 0, tzinfo=timezone.utc), None),
    # Europe/Oslo moves from 02:00 CET to 03:00 CEST at 01:00 UTC on the last Sunday of March.
    ("oslo-dst-2030-03-31-01.30", datetime(2030, 3, 31, 1, 30, tzinfo=timezone.utc), "Europe/Oslo"),
    ("last-day-of-april-2029", datetime(2029, 4, 30, 23, 59, 30, tzinfo=timezone.utc), None),
]


def faked_environment(moment: datetime, time_zone: str | None) -> dict[str, str]:
    """This process's environment with the wall clock moved to `moment`: a relative offset,
    computed once, so the server and the client share one clock that keeps ticking. The monotonic
    clock stays real, and tests/faketime/sitecustomize.py (on the PYTHONPATH) gives Python a
    time.sleep that libfaketime does not break (see there)."""
    assert LIBFAKETIME is not None, "libfaketime missing: scripts/install installs Debian's faketime"
    environment = {**os.environ, "LD_PRELOAD": str(LIBFAKETIME),
                   "FAKETIME": f"{math.ceil(moment.timestamp() - time.time()):+d}",
                   "FAKETIME_DONT_FAKE_MONOTONIC": "1",
                   "PYTHONPATH": os.pathsep.join(filter(None, [str(FAKETIME_SITE), os.environ.get("PYTHONPATH")]))}
    if time_zone:
        environment["TZ"] = time_zone
    return environment


@pytest.fixture(scope="module")
def date_dependent_tests() -> list[str]:
    """Every test marked date_dependent, as pytest collects them on the real clock."""
    collected = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                                "-m", "date_dependent"], capture_output=True, text=True, timeout=300, cwd=REPOSITORY)
    assert collected.returncode == 0, collected.stdout[-3000:]
    return [line for line in collected.stdout.splitlines() if "::" in line]


@dataclass(frozen=True)
class ClockRun:
    process: subprocess.CompletedProcess
    results: Path  # the run's JUnit XML
    elapsed: timedelta


def run_on_clock(moment: datetime, time_zone: str | None, folder: Path) -> ClockRun:
    results = folder / "results.xml"
    started = time.time()
    process = subprocess.run([sys.executable, "-m", "pytest", "-m", "date_dependent", "-q", "-p", "no:cacheprovider",
                              f"--junitxml={results}", "-o", "junit_family=xunit1"],
                             capture_output=True, text=True, timeout=900, cwd=REPOSITORY,
                             env=faked_environment(moment, time_zone))
    return ClockRun(process, results, timedelta(seconds=time.time() - started))


# Two clocks at a time: a run mostly waits (process starts, initdb, Chromium, verify's pauses),
# so two share the machine's two cores at little cost to either.
CLOCKS_AT_ONCE = 2


@pytest.fixture(scope="module")
def clock_runs(request, tmp_path_factory) -> dict[str, Future[ClockRun]]:
    """The runs of the clocks this session selected, started together on first use."""
    selected = [clock for clock in CLOCKS if any(
        item.module is request.module and hasattr(item, "callspec") and item.callspec.params.get("name") == clock[0]
        for item in request.session.items)]
    pool = ThreadPoolExecutor(max_workers=CLOCKS_AT_ONCE)
    request.addfinalizer(pool.shutdown)
    return {name: pool.submit(run_on_clock, moment, time_zone, tmp_path_factory.mktemp(name))
            for name, moment, time_zone in selected}


@pytest.mark.parametrize("name, moment, time_zone", CLOCKS, ids=[clock[0] for clock in CLOCKS])
def test_what_depends_on_the_date_passes_on_every_clock_of_the_list(
        date_dependent_tests, clock_runs, name, moment, time_zone):
    assert "tests/test_report.py::test_the_rendered_report_shows_exactly_the_apis_figures" in date_dependent_tests
    run = clock_runs[name].result()
    assert run.process.returncode == 0, run.process.stdout[-6000:] + run.process.stderr[-2000:]
    suite = ElementTree.parse(run.results).getroot().find("testsuite")
    assert (int(suite.get("tests")), int(suite.get("failures")), int(suite.get("errors")), int(suite.get("skipped"))
            ) == (len(date_dependent_tests), 0, 0, 0)

    # The clock moved for both: the server's now() and the client's clock are the target's.
    # The offset is rounded up to a whole second, so the run's clock starts up to a second late.
    latest = moment + run.elapsed + timedelta(seconds=1)
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    for clock in ("server_now", "client_now"):
        seen = datetime.fromisoformat(properties[clock])
        assert moment <= seen <= latest, (clock, seen)
    until = date.fromisoformat(properties["report_until"])
    assert moment.date() <= until <= latest.date()
    if time_zone:
        assert properties["server_time_zone"] == time_zone
        # Both sides in Oslo's summer time, which began half an hour before the target moment.
        oslo = moment.astimezone(ZoneInfo(time_zone)).utcoffset()
        offsets = {datetime.fromisoformat(properties[clock]).utcoffset() for clock in ("server_now", "client_now")}
        assert offsets == {oslo}
