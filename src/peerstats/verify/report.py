"""The report: every criterion's row, a one-line summary, the JSON document and the table."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from rich.console import Console
from rich.text import Text

from peerstats.output import json_text, print_table
from peerstats.verify.common import Criterion


@dataclass
class Report:
    database: dict[str, Any]
    criteria: list[Criterion]

    @property
    def failures(self) -> list[Criterion]:
        return [c for c in self.criteria if not c.passed]

    def summary(self) -> str:
        passed = len(self.criteria) - len(self.failures)
        line = f"{passed} of {len(self.criteria)} criteria pass"
        if self.failures:
            line += "; failed: " + "; ".join(f"{c.ref} {c.criterion}" for c in self.failures)
        return line

    def to_json(self) -> str:
        return json_text({
            "database": self.database,
            "passed": len(self.criteria) - len(self.failures),
            "failed": len(self.failures),
            "criteria": [asdict(c) for c in self.criteria],
        })


def print_report(console: Console, report: Report) -> None:
    db = report.database
    start, end = db["twelve_months"]
    console.print(
        f"PostgreSQL {db['server_version']}: {db['activities']:,} activities ({db['counted_activities']:,} counted), "
        f"{db['chapters']} chapters, {db['mentors']} mentors, {db['coordinators']} coordinators; "
        f"12 months = {start} to {end - timedelta(days=1)}")
    print_table(console, ["", "criterion", "measured", "target", "pass"], [
        (c.ref, c.criterion, c.measured, c.target,
         Text("pass", style="green") if c.passed else Text("FAIL", style="bold red"))
        for c in report.criteria], show_lines=True)
    console.print(report.summary().split(";")[0] + (" — every criterion holds" if not report.failures else ""))
