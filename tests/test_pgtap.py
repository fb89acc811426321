"""The pgTAP files of supabase/tests, run with pg_prove against the migrated throwaway cluster,
as `supabase test db` runs them against a Supabase database."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.every_postgresql

PGTAP_DIR = Path(__file__).resolve().parents[1] / "supabase" / "tests"


def planned_tests(path: Path) -> int:
    [count] = re.findall(r"^select plan\((\d+)\);$", path.read_text(), flags=re.MULTILINE)
    return int(count)


def test_the_pgtap_files_pass_with_pg_prove(migrated, cluster):
    files = sorted(PGTAP_DIR.glob("*.sql"))
    assert len(files) >= 5
    pg_prove = shutil.which("pg_prove")
    assert pg_prove, "pg_prove is missing: install libtap-parser-sourcehandler-pgtap-perl (see README)"
    result = subprocess.run(
        [pg_prove, "-h", str(cluster.socket_dir), "-U", "postgres", "-d", "postgres", *map(str, files)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Result: PASS" in result.stdout
    summary = re.search(r"^Files=(\d+), Tests=(\d+),", result.stdout, flags=re.MULTILINE)
    assert summary, result.stdout
    assert (int(summary[1]), int(summary[2])) == (len(files), sum(planned_tests(f) for f in files))
