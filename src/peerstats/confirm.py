"""Destructive commands say what they will delete, then go on only when confirmed.

Confirmed means --yes, or "y" typed at a terminal. With neither (a script, a pipe, cron) the
command refuses with a usage problem (exit 2) and changes nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

import click

from peerstats.errors import PeerstatsError, UsageProblem


@dataclass(frozen=True)
class Loss:
    """A table whose rows a command would delete, and how many it holds now."""

    table: str
    rows: int


def describe_losses(losses: Sequence[Loss]) -> str:
    return ", ".join(f"{loss.table} ({loss.rows:,} row{'s' if loss.rows != 1 else ''})" for loss in losses)


def confirm_loss(action: str, losses: Sequence[Loss], *, yes: bool) -> None:
    """Go on when nothing holding rows would be lost, or when confirmed; else refuse.

    `action` completes "… would delete", e.g. "rolling back 20261125000100_base_schema.sql".
    """
    holding = [loss for loss in losses if loss.rows]
    if not holding:
        return
    what = f"{action} deletes {describe_losses(holding)}"
    if yes:
        click.echo(f"peerstats: {what} (confirmed by --yes)", err=True)
        return
    if not sys.stdin.isatty():
        raise UsageProblem(f"{what}; nothing was changed: pass --yes to confirm (no terminal to ask on)")
    click.echo(f"peerstats: {what}", err=True)
    if not click.confirm("Delete these rows?", default=False, err=True):
        raise PeerstatsError("not confirmed: nothing was changed")
