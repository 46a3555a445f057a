"""How long reading times in clients' words takes (rules.when), run by hand:

    .venv/bin/python bench/bench_when.py

Every phrasing of tests/test_when.py (choices among offered slots, wishes, appointments named) is
read once to warm up (dateparser loads its data on first use), then timed again, one call at a
time; the mean and the worst are compared with the budget of 20 ms a call on average, and a
2,000-number text (the regression that once made the scan quadratic) is timed beside them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_when import (
    APPOINTMENTS,
    CHOICES,
    CURRENT,
    NOW,
    OFFER,
    TORONTO,
    WHICH,
    WISHES,
)

from rules.when import read_choice, read_wish, which_appointments

BUDGET_MS = 20.0


def main() -> int:
    calls: list[Callable[[], object]] = [
        *(lambda t=t, lang=lang: read_choice(t, OFFER, lang, TORONTO, NOW)
          for lang, t, _ in CHOICES),
        *(lambda t=t, lang=lang: read_wish(t, lang, TORONTO, NOW, current=CURRENT)
          for lang, t, _ in WISHES),
        *(lambda t=t, lang=lang: which_appointments(t, APPOINTMENTS, lang, TORONTO, NOW)
          for lang, t, _ in WHICH),
    ]
    for call in calls:
        call()
    times = []
    for call in calls:
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    mean = sum(times) / len(times) * 1000
    worst = max(times) * 1000
    numbers = "le " + ", ".join(str(i % 31 + 1) for i in range(2000))
    start = time.perf_counter()
    read_wish(numbers, "fr", TORONTO, NOW)
    which_appointments(numbers, APPOINTMENTS, "fr", TORONTO, NOW)
    read_choice(numbers, OFFER, "fr", TORONTO, NOW)
    long_ms = (time.perf_counter() - start) * 1000
    verdict = "ok" if mean < BUDGET_MS else "MISSED"
    print(f"rules.when: {len(times)} phrasings, mean {mean:.2f} ms, worst {worst:.2f} ms "
          f"(budget: mean < {BUDGET_MS:g} ms: {verdict}); 2,000 numbers: {long_ms:.0f} ms")
    return 0 if verdict == "ok" else 1


if __name__ == "__main__":
    raise SystemExit(main())
