"""What every reporting command shares: tables that stay readable at any width, and JSON.

A table is drawn as a table when every column fits its longest word (rich then wraps cells
at spaces); when the terminal is too narrow for that, each row becomes a block of
"heading: value" lines, so no name or result is ever cut short.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text


@dataclass(frozen=True)
class Column:
    heading: str
    justify: str = "left"


def json_value(value: Any) -> Any:
    """How values JSON lacks are written: dates in ISO 8601, decimals as numbers, the rest as text."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def json_text(document: Any) -> str:
    return json.dumps(document, indent=2, default=json_value) + "\n"


def emit_json(document: Any) -> None:
    """Print one JSON document on standard output (what every --json prints)."""
    click.echo(json_text(document), nl=False)


def _cell(value: Any) -> Text:
    # Values are data, never markup: a chapter called "[bold]" prints as it is.
    return value if isinstance(value, Text) else Text(str(value))


def print_table(console: Console, columns: Sequence[Column | str], rows: Sequence[Sequence[Any]], *,
                title: str | None = None, boxed: bool = True, show_lines: bool = False) -> None:
    """Rows as a table when it fits the console's width without cutting a word, else as blocks."""
    columns = [c if isinstance(c, Column) else Column(c) for c in columns]
    show_header = any(column.heading for column in columns)
    table = Table(title=title, box=box.HEAVY_HEAD if boxed else (box.SIMPLE_HEAD if show_header else None),
                  show_header=show_header, show_lines=show_lines)
    for column in columns:
        table.add_column(column.heading, justify=column.justify, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(value) for value in row))
    # Measured without the console's width as a bound, which would clamp the minimum to it.
    needed = Measurement.get(console, console.options.update_width(1_000_000), table).minimum
    if needed <= console.width:
        console.print(table)
        return
    if title:
        console.print(Text(title, style="italic"))
    for row in rows:
        block = Table.grid(padding=(0, 1))
        block.add_column(no_wrap=True, style="dim")
        block.add_column(overflow="fold")
        heading, *rest = row
        label = columns[0].heading
        console.print(Text.assemble((f"{label}: " if label else "", "dim"), (_cell(heading).plain, "bold")))
        for column, value in zip(columns[1:], rest, strict=True):
            block.add_row(f"  {column.heading}:", _cell(value))
        console.print(block)
