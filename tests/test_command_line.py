"""The command line as a whole: every command's exit codes, one line on stderr, confirmation
before deleting rows, whole summaries in --help, --version, --json, and 80 columns."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest

from conftest import migrate_afresh
from peerstats import cli, database, migrations
from peerstats.cluster import postgres_bindir, server_version
from peerstats.seed import seed
from readability import NARROW, assert_readable_at_80

PEERSTATS = str(Path(sys.executable).parent / "peerstats")
UNREACHABLE = "postgresql://postgres@/postgres?host=/nonexistent-socket-dir"
# Values for the options a command requires, so that it gets as far as the database.
REQUIRED_VALUES = {"--activities": "10", "--year": "2025",
                   "--coordinator": "00000000-0000-0000-0000-000000000001", "--output": "report.html",
                   "--reason": "a correction"}
# Commands that never use --database-url's database: the embedded cluster's, and the
# benchmarks on a throwaway cluster of their own.
NO_DATABASE_URL = {("local", "start"), ("local", "stop"), ("local", "status"), ("bench",), ("bench", "load")}
# Commands whose output is not a report: the export is JSON or CSV already; the worker only logs;
# the watch is a live view.
NOT_REPORTING = {("bufdir", "export"), ("worker",), ("watch",)}


def leaf_commands(group: click.Group = cli.app, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], click.Command]:
    """Every command a user can run, by its words after `peerstats` (a group that runs on its own counts)."""
    found = {}
    for name, command in group.commands.items():
        words = (*path, name)
        if isinstance(command, click.Group):
            if command.invoke_without_command:
                found[words] = command
            found.update(leaf_commands(command, words))
        else:
            found[words] = command
    return found


def run_in_process(monkeypatch, capfd, *args: str) -> tuple[int, str, str]:
    """cli.main as the console script runs it, with no terminal for input, without the cost of
    a new interpreter."""
    monkeypatch.setattr(sys, "argv", ["peerstats", *args])
    monkeypatch.setattr(sys, "stdin", io.StringIO())
    with pytest.raises(SystemExit) as ended:
        cli.main()
    out, err = capfd.readouterr()
    return ended.value.code, out, err


def peerstats(*args: str, env: dict | None = None, stdin=subprocess.DEVNULL) -> subprocess.CompletedProcess:
    return subprocess.run([PEERSTATS, *args], capture_output=True, text=True, timeout=300, stdin=stdin,
                          env={**os.environ, **(env or {})})


def assert_one_line(code: int, err: str, expected_code: int, *fragments: str) -> None:
    assert code == expected_code, err
    assert err.startswith("peerstats: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err


def test_the_walk_covers_every_command():
    commands = leaf_commands()
    assert {("db", "up"), ("db", "down"), ("seed",), ("verify",), ("bufdir", "validate"), ("bench", "freshness")} \
        <= set(commands)
    for words, command in commands.items():
        required = [p.opts[0] for p in command.params if p.required]
        assert set(required) <= set(REQUIRED_VALUES), f"give the walk a value for {required}"
        # Every command that reports can print it as JSON.
        if words not in NOT_REPORTING:
            assert "--json" in {opt for p in command.params for opt in p.opts}, words


@pytest.mark.parametrize("words", sorted(leaf_commands()), ids=" ".join)
def test_usage_errors_exit_2_with_one_line(monkeypatch, capfd, words):
    code, out, err = run_in_process(monkeypatch, capfd, *words, "--no-such-option")
    assert_one_line(code, err, 2, "--no-such-option", f"peerstats {' '.join(words)} --help")
    # Every option that takes a number or a choice refuses a word that is neither.
    for param in leaf_commands()[words].params:
        if isinstance(param, click.Option) and not param.is_flag and isinstance(
                param.type, (click.types.IntParamType, click.types.FloatParamType, click.Choice)):
            code, _, err = run_in_process(monkeypatch, capfd, *words, param.opts[0], "bogus")
            assert_one_line(code, err, 2, param.opts[0])


@pytest.mark.parametrize("words", sorted(set(leaf_commands()) - NO_DATABASE_URL), ids=" ".join)
def test_a_database_that_cannot_be_reached_exits_1_with_one_line(monkeypatch, capfd, tmp_path, words):
    monkeypatch.chdir(tmp_path)
    required = [arg for p in leaf_commands()[words].params if p.required for arg in (p.opts[0], REQUIRED_VALUES[p.opts[0]])]
    extra = ["--duration", "1"] if words == ("bench", "freshness") else []
    code, _, err = run_in_process(monkeypatch, capfd, "--database-url", UNREACHABLE, *words, *required, *extra)
    assert_one_line(code, err, 1, "cannot connect to the database")


def test_no_command_shows_the_help_and_exits_2(monkeypatch, capfd):
    code, out, err = run_in_process(monkeypatch, capfd)
    assert code == 2 and "Commands:" in err


def test_help_shows_whole_summaries_and_version_works(monkeypatch, capfd):
    code, out, _ = run_in_process(monkeypatch, capfd, "--help")
    commands = out.split("Commands:")[1]
    assert code == 0 and "..." not in commands
    for words, command in leaf_commands().items():
        if len(words) == 1:
            first_line = " ".join(command.help.split("\n\n")[0].split())
            assert first_line in " ".join(commands.split())
    code, out, _ = run_in_process(monkeypatch, capfd, "--version")
    assert code == 0 and out.strip() == f"peerstats {cli.__version__}"


def test_help_texts_stand_alone(monkeypatch, capfd):
    """No help mentions files a user does not have."""
    for words in [(), *leaf_commands()]:
        code, out, _ = run_in_process(monkeypatch, capfd, *words, "--help")
        assert code == 0
        for unknown in ("the spec", "CONTRACT", "SPEC.md"):
            assert unknown not in out, (words, unknown)
    code, out, _ = run_in_process(monkeypatch, capfd, "verify", "--help")
    text = " ".join(out.split())
    assert "It commits nothing" in text and "transactions that it rolls back" in text


# --- destructive commands ask first ------------------------------------------------------------


@pytest.fixture
def seeded(migrated):
    with database.connect(migrated) as conn:
        seed(conn, activities=1200, seed=3)
    yield migrated
    migrate_afresh(migrated)


def applied_and_activities(url: str) -> tuple[list[str], int | None]:
    with database.connect(url) as conn:
        applied = migrations.Runner(conn).applied_versions()
        exists = conn.execute("select to_regclass('public.activities') is not null").fetchone()[0]
        return applied, conn.execute("select count(*) from public.activities").fetchone()[0] if exists else None


def at_a_terminal(answer: str, *args: str) -> tuple[int, str]:
    """Run peerstats with a terminal for its input and output, type `answer`, return (exit code, what it printed)."""
    pid, terminal = pty.fork()
    if pid == 0:
        os.execv(PEERSTATS, [PEERSTATS, *args])
    printed = b""
    deadline = time.monotonic() + 120
    answered = False
    while time.monotonic() < deadline:
        try:
            chunk = os.read(terminal, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        printed += chunk
        if not answered and b"[y/N]" in printed:
            os.write(terminal, answer.encode() + b"\n")
            answered = True
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), printed.decode(errors="replace")


def test_a_rollback_that_drops_rows_says_what_and_needs_a_yes(seeded, monkeypatch, capfd):
    everything = applied_and_activities(seeded)
    assert everything[1] == 1200

    code, _, err = run_in_process(monkeypatch, capfd, "--database-url", seeded, "db", "down", "--all")
    assert_one_line(code, err, 2, "public.activities (1,200 rows)", "public.chapters (", "--yes")
    # What the migrations write themselves (a row per view in stats_freshness) is no loss.
    assert "stats_freshness" not in err
    assert applied_and_activities(seeded) == everything

    declined, printed = at_a_terminal("n", "--database-url", seeded, "db", "down", "--steps", str(len(everything[0])))
    assert declined == 1 and "public.activities (1,200 rows)" in printed and "not confirmed" in printed
    assert applied_and_activities(seeded) == everything

    # The newest migration drops no table: nothing to confirm.
    code, out, err = run_in_process(monkeypatch, capfd, "--database-url", seeded, "db", "down")
    assert code == 0 and "rolled back" in out and err == ""

    confirmed, printed = at_a_terminal("y", "--database-url", seeded, "db", "down", "--all")
    assert confirmed == 0 and "rolled back 20261125000100_base_schema.sql" in printed
    assert applied_and_activities(seeded) == ([], None)


def test_yes_rolls_back_and_json_lists_what(seeded, monkeypatch, capfd):
    code, out, err = run_in_process(monkeypatch, capfd, "--database-url", seeded, "db", "down", "--all", "--yes",
                                    "--json")
    assert code == 0, err
    assert json.loads(out)["rolled_back"][-1] == "20261125000100_base_schema.sql"
    assert "public.activities (1,200 rows)" in err
    assert applied_and_activities(seeded) == ([], None)


def test_a_table_marked_in_the_database_as_an_operational_log_is_no_loss(migrated, conn):
    def losses() -> set[str]:
        with database.connect(migrated) as runner_conn, migrations.Runner(runner_conn) as runner:
            return {loss.table for loss in runner.losses_of_down(None)}

    for _ in range(3):
        conn.execute("select public.refresh_stats_views()")
    assert conn.execute("select count(*) from private.refresh_runs").fetchone()[0] >= 3
    assert "private.refresh_runs" not in losses()
    # The mark is the comment's beginning: without it, the rows of refresh calls count.
    conn.execute("comment on table private.refresh_runs is 'calls of the refresh'")
    assert "private.refresh_runs" in losses()


MIGRATIONS = len(migrations.discover())


@pytest.mark.parametrize("arguments, fragment", [
    (["--steps", str(MIGRATIONS + 1)], f"more than the {MIGRATIONS} applied migrations"),
    (["--steps", "2", "--all"], "exclude each other"),
])
def test_impossible_steps_are_usage_errors(migrated, monkeypatch, capfd, arguments, fragment):
    code, _, err = run_in_process(monkeypatch, capfd, "--database-url", migrated, "db", "down", *arguments)
    assert_one_line(code, err, 2, fragment)
    assert len(applied_and_activities(migrated)[0]) == MIGRATIONS


def test_seed_replace_keeps_the_set_up_and_replaces_the_activities(seeded, monkeypatch, capfd):
    def set_up(conn):
        return {table: conn.execute(f"select array_agg(t order by t::text) from {table} t").fetchone()[0]
                for table in ("public.chapters", "public.peer_mentors", "public.activity_types",
                              "public.coordinator_chapters")}

    with database.connect(seeded) as conn:
        before = set_up(conn)

    def seed_command(*args: str) -> tuple[int, str, str]:
        return run_in_process(monkeypatch, capfd, "--database-url", seeded, "seed", "--activities", "500", *args)

    assert_one_line(*seed_command()[::2], 1, "--replace", "--append")
    assert_one_line(*seed_command("--replace")[::2], 2, "public.activities (1,200 rows)", "--yes")
    assert_one_line(*seed_command("--replace", "--append")[::2], 2, "exclude each other")
    assert applied_and_activities(seeded)[1] == 1200

    code, out, err = seed_command("--seed", "3", "--replace", "--yes", "--json")
    assert code == 0, err
    assert json.loads(out)["rows"] == 500
    with database.connect(seeded) as conn:
        assert conn.execute("select count(*) from public.activities").fetchone()[0] == 500
        assert set_up(conn) == before
        # Refreshed: the dashboard shows the new activities only.
        assert conn.execute("select sum(activity_count) from private.mv_chapter_stats").fetchone()[0] == \
            conn.execute("select count(*) from private.counted_activities").fetchone()[0]


def test_seed_replace_is_one_transaction(seeded):
    """A replace that fails half-way leaves the old activities where they were."""
    def fail_after_the_first_chunk(done: int, total: int) -> None:
        raise RuntimeError("interrupted")

    with database.connect(seeded) as conn, pytest.raises(RuntimeError):
        seed(conn, activities=5000, seed=4, replace=True, progress=fail_after_the_first_chunk)
    assert applied_and_activities(seeded)[1] == 1200


# --- readable output ----------------------------------------------------------------------------


def test_db_and_local_status_are_readable_at_80_columns_and_take_json(migrated, tmp_path, monkeypatch, capfd):
    status = peerstats("--database-url", migrated, "db", "status", env=NARROW)
    assert status.returncode == 0
    assert_readable_at_80(status.stdout, "counting_rule_and_plain_views", "20261125000300", "applied")
    code, out, _ = run_in_process(monkeypatch, capfd, "--database-url", migrated, "db", "status", "--json")
    assert code == 0 and [m["state"] for m in json.loads(out)] == ["applied"] * MIGRATIONS

    home = tmp_path / ("a-rather-long-folder-name-for-the-embedded-cluster-" * 2)
    local = peerstats("local", "status", env={**NARROW, "PEERSTATS_HOME": str(home)})
    assert local.returncode == 0
    assert_readable_at_80(local.stdout, "not created yet")
    assert str(home) in "".join(line.strip() for line in local.stdout.splitlines())
    monkeypatch.setenv("PEERSTATS_HOME", str(home))
    code, out, _ = run_in_process(monkeypatch, capfd, "local", "status", "--json")
    assert code == 0 and json.loads(out) == {
        "home": str(home), "state": "not created yet", "postgresql": server_version(postgres_bindir()),
        "server_programs": str(postgres_bindir()), "url": f"postgresql://postgres@/postgres?host={home}/run&port=5432"}
