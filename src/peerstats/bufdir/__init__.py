"""Bufdir, the directorate that funds the work: the annual export (export.py), its
reconciliation with the dashboard (validation.py) and closed reporting years
(closed_years.py). The commands use the names gathered here."""

from peerstats.bufdir.closed_years import Submission, close_year, reopen_year, stored_submission
from peerstats.bufdir.export import (
    CSV_COLUMNS, FIRST_YEAR, FORMATS, ChapterFigures, TypeFigures, export_csv, export_json, export_text,
    export_year, last_plausible_year, published_hours, write_output,
)
from peerstats.bufdir.validation import (
    RULE_DIVERGENCE, STALE, Validation, check_reference, load_reference, print_validation, reconcile,
    reference_years, validate, validation_json,
)

__all__ = [
    "CSV_COLUMNS", "FIRST_YEAR", "FORMATS", "RULE_DIVERGENCE", "STALE", "ChapterFigures", "Submission",
    "TypeFigures", "Validation", "check_reference", "close_year", "export_csv", "export_json", "export_text",
    "export_year", "last_plausible_year", "load_reference", "print_validation", "published_hours",
    "reconcile", "reference_years", "reopen_year", "stored_submission", "validate", "validation_json",
    "write_output",
]
