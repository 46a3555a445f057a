"""Which recurrence rules frontdesk expands, and on how many occurrences a series is judged.

Anyone can send an invitation, so a recurrence rule is untrusted input. The connector reads the
rules and expands them within a CPU budget (connectors.budget); what to refuse outright, before
spending anything on it, is decided here.
"""

from __future__ import annotations

__all__ = ["MIN_SERIES_OCCURRENCES", "refused_frequency"]

# A series is judged on at least this many future occurrences (rules.invitations), so the
# connector looks ahead for them when the booking horizon holds fewer.
MIN_SERIES_OCCURRENCES = 4

_FREQUENCIES = ("SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY")


def refused_frequency(freq: str) -> str | None:
    """Why a rule of this FREQ is not expanded at all, or None.

    SECONDLY and MINUTELY series are no freelancer's appointments and make tens of thousands of
    occurrences a month; an unknown FREQ cannot be expanded.
    """
    value = freq.strip().upper()
    if value in ("SECONDLY", "MINUTELY"):
        return f"a {value} rule is not an appointment"
    if value not in _FREQUENCIES:
        return f"unknown FREQ {freq!r}"
    return None
