"""Hours as peerstats shows them: made from a sum of minutes, once, rounded half up.

Every statistics view gives `total_minutes` (exact) beside `total_hours` (`total_minutes /
60.0`, a rounded quotient for most minute counts). A figure made of several rows adds their
minutes and turns the sum into hours here: a sum of per-row hours is a sum of rounded quotients,
and two such sums of one figure can land on either side of a half (24,555 minutes is 409.25 h).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def hours_from_minutes(minutes: int, decimals: int) -> Decimal:
    """minutes / 60 at `decimals` places, a half rounded up. Decimal's 28 digits decide every
    case: minutes / 60 is either exactly a half of the last place shown or at least 1/120 of that
    place away from one."""
    return (Decimal(minutes) / 60).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
