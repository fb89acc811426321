"""What "readable at 80 columns" means in the tests: no line wider than 80 characters, nothing
cut short with an ellipsis, and every name and result that must appear there whole."""

from __future__ import annotations

NARROW = {"COLUMNS": "80"}


def assert_readable_at_80(text: str, *whole: str) -> None:
    widest = max(text.splitlines(), key=len, default="")
    assert len(widest) <= 80, widest
    assert "…" not in text
    for name in whole:
        assert name in text, name
