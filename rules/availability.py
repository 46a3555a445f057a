"""When the freelancer can be booked: working intervals, appointments, bookable slots, the offer.

Every comparison and every sum is done in UTC. Two aware datetimes that share one ZoneInfo compare
and subtract by wall time in Python, which is wrong across a DST change; so local wall times are
made aware with `replace(tzinfo=zone)` (fold=0: RFC 5545 §3.3.5, a missing time takes the offset
from before the gap, an ambiguous one is the first occurrence) and then converted to UTC at once.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import TypeAlias
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError

from rules.model import DEFAULT_LANGUAGE, BusyInterval, Hours, Policy, Slot, TimeRange

__all__ = [
    "Busy",
    "PreparedBusy",
    "appointments_per_day",
    "bookable_slots",
    "describe_hours",
    "inside_working_hours",
    "offer",
    "prepare",
    "why_not_bookable",
    "working_intervals",
]

_DAY = timedelta(days=1)
_MIDNIGHT = time(0)


# --- Working ranges -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Range:
    """One working range of one date, as UTC instants [start, end)."""

    day: date
    start: datetime
    end: datetime


def _utc(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime, not naive {value.isoformat()}")
    return value.astimezone(UTC)


def _wall(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of wall time `at` on `day` in `zone` (fold=0, see the module docstring)."""
    naive = datetime.combine(day, at.replace(tzinfo=None, fold=0))
    return naive.replace(tzinfo=zone).astimezone(UTC)


@lru_cache(maxsize=8192)
def _bounds(day: date, span: TimeRange, zone: ZoneInfo) -> _Range | None:
    """The range `span` on `day`, or None when it is empty (remembered: every offer of a pass
    asks for the same weeks).

    An end of 00:00 means the midnight that ends the day. A date the zone skipped entirely
    (Pacific/Apia, 2011-12-30) has no working time: its wall times belong to the next date.
    """
    if _wall(day + _DAY, _MIDNIGHT, zone) <= _wall(day, _MIDNIGHT, zone):
        return None
    start = _wall(day, span.start, zone)
    if span.end == _MIDNIGHT:
        end = _wall(day + _DAY, _MIDNIGHT, zone)
    elif span.end <= span.start:
        return None
    else:
        end = _wall(day, span.end, zone)
    return _Range(day, start, end) if end > start else None


def _days(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += _DAY


def _ranges(hours: Hours, zone: ZoneInfo, first: date, last: date) -> list[_Range]:
    found = [
        bounds
        for day in _days(first, last)
        for span in hours.ranges(day)
        if (bounds := _bounds(day, span, zone)) is not None
    ]
    found.sort(key=lambda r: (r.start, r.end))
    return found


def _running_max(values: Iterable[datetime]) -> list[datetime]:
    """Prefix maxima, so that bisect works on ends even if ranges or events overlap."""
    out: list[datetime] = []
    for value in values:
        out.append(value if not out or value > out[-1] else out[-1])
    return out


def working_intervals(
    hours: Hours, zone: ZoneInfo, first: date, last: date
) -> list[tuple[datetime, datetime]]:
    """Aware [start, end) of every working range on dates first..last inclusive, in time order.

    Closed dates are left out; the datetimes are in `zone`.
    """
    return [
        (r.start.astimezone(zone), r.end.astimezone(zone))
        for r in _ranges(hours, zone, first, last)
    ]


def inside_working_hours(hours: Hours, zone: ZoneInfo, start: datetime, end: datetime) -> bool:
    """True when [start, end) lies entirely inside one working range of a working, open day."""
    lo, hi = _utc(start, "start"), _utc(end, "end")
    if hi < lo:
        raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}")
    # A range of date D may lie on D+1 in real time (a missing midnight), so look one day around.
    day = lo.astimezone(zone).date()
    return any(r.start <= lo and hi <= r.end for r in _ranges(hours, zone, day - _DAY, day + _DAY))


# --- Busy time ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Busy:
    start: datetime  # UTC
    end: datetime  # UTC, >= start
    all_day: bool


def _all_day_dates(item: BusyInterval, zone: ZoneInfo) -> tuple[date, date]:
    """The first and last date an all-day event covers.

    The connector gives local midnights of `zone`. Midnights of another zone (UTC, say) still
    name the dates meant; any other time is read in `zone`, so the block covers whole days.
    """
    start, end = item.start, item.end
    first = start.date() if start.time() == _MIDNIGHT else start.astimezone(zone).date()
    if end.astimezone(UTC) <= start.astimezone(UTC):
        return first, first
    if end.time() == _MIDNIGHT:
        last = end.date() - _DAY
    else:
        last = (end.astimezone(UTC) - timedelta(microseconds=1)).astimezone(zone).date()
    return first, max(first, last)


@dataclass(frozen=True)
class PreparedBusy:
    """Busy time already turned into UTC, sorted and de-duplicated for one zone (`prepare`):
    what a caller asking for slots again and again (holds released one by one, a flood of
    requests) converts once. `joined` adds more without converting what is there again."""

    zone: ZoneInfo
    items: tuple[_Busy, ...]

    def since(self, instant: datetime) -> PreparedBusy:
        """Only what ends after `instant`: a calendar's past weighs nothing on what is offered
        from now on, and is most of it."""
        return PreparedBusy(self.zone, tuple(b for b in self.items if b.end > instant))

    def joined(self, *others: PreparedBusy) -> PreparedBusy:
        parts = [self.items, *(o.items for o in others if o.zone == self.zone)]
        merged = heapq.merge(*parts, key=lambda b: (b.start, b.end))
        return PreparedBusy(self.zone, tuple(merged))


def prepare(busy: Sequence[BusyInterval], zone: ZoneInfo) -> PreparedBusy:
    """Busy time made ready for `offer` and `why_not_bookable` in that zone."""
    return PreparedBusy(zone, tuple(_normalize(busy, zone)))


Busy: TypeAlias = Sequence[BusyInterval] | PreparedBusy


def _normalize(busy: Busy, zone: ZoneInfo) -> list[_Busy]:
    """UTC, sorted by start, duplicates of one occurrence (same UID and times) dropped.

    All-day events become [local midnight, local midnight) of `zone`, over whole dates.
    """
    if isinstance(busy, PreparedBusy):
        if busy.zone == zone:
            return list(busy.items)
        raise ValueError(f"busy time prepared for {busy.zone}, asked for {zone}")
    seen: set[tuple[str, datetime, datetime]] = set()
    out: list[_Busy] = []
    for item in busy:
        start = _utc(item.start, f"busy interval {item.uid!r} start")
        end = max(start, _utc(item.end, f"busy interval {item.uid!r} end"))
        if item.all_day:
            first, last = _all_day_dates(item, zone)
            start = _wall(first, _MIDNIGHT, zone)
            end = _wall(last + _DAY, _MIDNIGHT, zone)
        if item.uid:
            key = (item.uid, start, end)
            if key in seen:
                continue
            seen.add(key)
        out.append(_Busy(start, end, item.all_day))
    out.sort(key=lambda b: (b.start, b.end))
    return out


class _BusyIndex:
    """Busy time sorted once, answering "is [lo, hi) clear?" in O(log n)."""

    def __init__(self, busy: list[_Busy]) -> None:
        self.starts = [b.start for b in busy]
        self.max_end = _running_max(b.end for b in busy)
        self.ends = sorted(b.end for b in busy)

    def overlaps(self, lo: datetime, hi: datetime) -> bool:
        """True when some busy interval b has b.start < hi and b.end > lo."""
        i = bisect_left(self.starts, hi)
        return i > 0 and self.max_end[i - 1] > lo


def _appointments(ranges: list[_Range], busy: list[_Busy]) -> tuple[dict[date, int], list[_Busy]]:
    """Per date, how many timed busy events overlap one of its working ranges; and those events."""
    starts = [r.start for r in ranges]
    max_end = _running_max(r.end for r in ranges)
    counts: dict[date, int] = {}
    found: list[_Busy] = []
    for b in busy:
        if b.all_day:
            continue
        days: set[date] = set()
        j = bisect_left(starts, b.end) - 1
        while j >= 0 and max_end[j] > b.start:
            if ranges[j].end > b.start:
                days.add(ranges[j].day)
            j -= 1
        for day in days:
            counts[day] = counts.get(day, 0) + 1
        if days:
            found.append(b)
    return counts, found


def appointments_per_day(
    hours: Hours, zone: ZoneInfo, busy: Busy, first: date, last: date
) -> dict[date, int]:
    """Appointments on every date first..last: timed busy events overlapping a working range.

    All-day events are not appointments. Every date in the range is a key (0 when none).
    """
    counts, _ = _appointments(_ranges(hours, zone, first, last), _normalize(busy, zone))
    return {day: counts.get(day, 0) for day in _days(first, last)}


# --- Slots --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Candidate:
    start: datetime  # UTC
    end: datetime
    day: date  # the date of the working range it lies in, for max_per_day


@dataclass(frozen=True, slots=True)
class _Plan:
    slots: list[_Candidate]
    counts: dict[date, int]  # appointments already on each date
    room: dict[date, int]  # how many more each date may take under max_per_day
    buffer: timedelta
    appointment_starts: frozenset[datetime]
    appointment_ends: frozenset[datetime]


def _minutes(value: int | float, what: str, *, positive: bool) -> timedelta:
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{what} must be {'positive' if positive else '>= 0'}, not {value}")
    return timedelta(minutes=value)


def _plan(
    policy: Policy,
    busy: Busy,
    now: datetime,
    duration: timedelta | None,
    horizon_days: int | None,
) -> _Plan:
    rules = policy.booking
    zone = policy.zone
    now_utc = _utc(now, "now")
    length = duration if duration is not None else timedelta(minutes=rules.duration_minutes)
    if length <= timedelta(0):
        raise ValueError(f"duration must be positive, not {length}")
    buffer = _minutes(rules.buffer_minutes, "buffer_minutes", positive=False)
    step = _minutes(rules.step_minutes, "step_minutes", positive=True)
    earliest = now_utc + timedelta(hours=rules.min_notice_hours)
    # Real days from now: the horizon must not depend on the zone `now` happens to carry.
    latest = now_utc + timedelta(days=rules.horizon_days if horizon_days is None else horizon_days)

    # One day of margin each side: a range's date and its real local date can differ.
    first = earliest.astimezone(zone).date() - _DAY
    last = max(earliest, latest).astimezone(zone).date() + _DAY
    ranges = _ranges(policy.hours, zone, first, last)
    timed = _normalize(busy, zone)
    counts, appointments = _appointments(ranges, timed)
    room = {day: rules.max_per_day - counts.get(day, 0) for day in _days(first, last)}
    index = _BusyIndex(timed)
    after_busy = [end + buffer for end in index.ends]

    found: dict[datetime, _Candidate] = {}
    for r in ranges:
        lo = max(r.start, earliest)
        last_start = min(r.end - length, latest - timedelta(microseconds=1))
        if room.get(r.day, 0) <= 0 or last_start < lo:
            continue
        starts: list[datetime] = []
        # The step grid is anchored at the range's own start, counted in real time.
        s = r.start + step * -((r.start - lo) // step)
        while s <= last_start:
            starts.append(s)
            s += step
        # Starts exactly one buffer after a busy end let appointments pack back to back.
        i = bisect_left(after_busy, lo)
        stop = bisect_right(after_busy, last_start)
        starts.extend(after_busy[i:stop])
        for s in starts:
            if s not in found and not index.overlaps(s - buffer, s + length + buffer):
                found[s] = _Candidate(s, s + length, r.day)
    return _Plan(
        slots=sorted(found.values(), key=lambda c: c.start),
        counts=counts,
        room=room,
        buffer=buffer,
        appointment_starts=frozenset(b.start for b in appointments),
        appointment_ends=frozenset(b.end for b in appointments),
    )


def _slot(candidate: _Candidate, zone: ZoneInfo) -> Slot:
    return Slot(candidate.start.astimezone(zone), candidate.end.astimezone(zone))


def bookable_slots(
    policy: Policy,
    busy: Busy,
    now: datetime,
    *,
    duration: timedelta | None = None,
    horizon_days: int | None = None,
) -> list[Slot]:
    """Every bookable slot, in time order, in the freelancer's zone.

    `duration` defaults to policy.booking.duration_minutes, `horizon_days` to
    policy.booking.horizon_days. A naive `now` is a ValueError.
    """
    plan = _plan(policy, busy, now, duration, horizon_days)
    return [_slot(c, policy.zone) for c in plan.slots]


def offer(
    policy: Policy,
    busy: Busy,
    now: datetime,
    *,
    duration: timedelta | None = None,
    horizon_days: int | None = None,
    count: int | None = None,
    keep: Callable[[Slot], bool] | None = None,
) -> list[Slot]:
    """The slots to propose: at most `count` bookable slots, one buffer apart, in time order.

    With `cluster`, slots touching an appointment come first, then slots on dates that already
    have one, then the rest, earliest first within each; otherwise earliest first. No date gets
    more slots than it has room for under max_per_day. `keep`: only the slots it keeps are
    candidates (what a client wishes for: "Thursday at 10").
    """
    plan = _plan(policy, busy, now, duration, horizon_days)
    wanted = policy.booking.slots_offered if count is None else count
    buffer = plan.buffer
    candidates = plan.slots if keep is None else [
        c for c in plan.slots if keep(_slot(c, policy.zone))]

    def rank(c: _Candidate) -> tuple[int, datetime]:
        if c.start - buffer in plan.appointment_ends or c.end + buffer in plan.appointment_starts:
            return (0, c.start)
        if plan.counts.get(c.day, 0) > 0:
            return (1, c.start)
        return (2, c.start)

    ordered = sorted(candidates, key=rank) if policy.booking.cluster else candidates
    chosen: list[_Candidate] = []
    used: dict[date, int] = {}
    for c in ordered:
        if len(chosen) >= wanted:
            break
        if used.get(c.day, 0) >= plan.room[c.day]:
            continue
        if any(c.start < o.end + buffer and o.start < c.end + buffer for o in chosen):
            continue
        chosen.append(c)
        used[c.day] = used.get(c.day, 0) + 1
    chosen.sort(key=lambda c: c.start)
    return [_slot(c, policy.zone) for c in chosen]


def why_not_bookable(
    policy: Policy, busy: Busy, now: datetime, slot: Slot
) -> str | None:
    """Why `slot` cannot be booked now, in a few words, or None when it can: the same rules as
    the slots offered (notice, horizon, one working range, the buffer around busy time,
    max_per_day), checked for this one slot, whatever grid it was offered on."""
    rules = policy.booking
    zone = policy.zone
    start, end = _utc(slot.start, "slot start"), _utc(slot.end, "slot end")
    now_utc = _utc(now, "now")
    if end <= start:
        return "it has no length"
    if start < now_utc + timedelta(hours=rules.min_notice_hours):
        return "it is too soon now"
    if start >= now_utc + timedelta(days=rules.horizon_days):
        return "it is too far ahead"
    day = start.astimezone(zone).date()
    ranges = [r for r in _ranges(policy.hours, zone, day - _DAY, day + _DAY)
              if r.start <= start and end <= r.end]
    if not ranges:
        return "it is outside the working hours"
    buffer = _minutes(rules.buffer_minutes, "buffer_minutes", positive=False)
    timed = _normalize(busy, zone)
    if _BusyIndex(timed).overlaps(start - buffer, end + buffer):
        return "that time is taken"
    counts, _ = _appointments(ranges, timed)
    if counts.get(ranges[0].day, 0) >= rules.max_per_day:
        return "that day is full"
    return None


# --- Describing the hours -----------------------------------------------------------------------


def _label(span: TimeRange) -> str:
    end = "24:00" if span.end == _MIDNIGHT else f"{span.end:%H:%M}"
    return f"{span.start:%H:%M}-{end}"


def describe_hours(hours: Hours, language: str) -> str:
    """A short summary of the working week, e.g. "Mon-Wed, Fri 09:00-12:00, 13:00-17:00".

    Days with the same ranges are grouped; runs of three or more days are written first-last;
    groups are separated by "; ". Day names come from babel (an unknown language falls back to
    rules.model.DEFAULT_LANGUAGE). Closed dates are not described. No working day: "".
    """
    try:
        names = Locale.parse(language.replace("-", "_")).days["format"]["abbreviated"]
    except (UnknownLocaleError, ValueError):
        names = Locale.parse(DEFAULT_LANGUAGE).days["format"]["abbreviated"]
    groups: dict[tuple[TimeRange, ...], list[int]] = {}
    for weekday in range(7):
        spans = tuple(sorted(hours.week.get(weekday, ()), key=lambda s: (s.start, s.end)))
        if spans:
            groups.setdefault(spans, []).append(weekday)
    parts = []
    for spans, days in groups.items():
        runs: list[list[int]] = []
        for day in days:
            if runs and runs[-1][-1] == day - 1:
                runs[-1].append(day)
            else:
                runs.append([day])
        words = [
            f"{names[run[0]]}-{names[run[-1]]}"
            if len(run) >= 3
            else ", ".join(names[d] for d in run)
            for run in runs
        ]
        parts.append(f"{', '.join(words)} {', '.join(_label(s) for s in spans)}")
    return "; ".join(parts)
