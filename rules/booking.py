"""The booking conversation: which times to offer, for which service, and what a client's reply
to an offer means.

Pure: the daemon passes the freelancer's policy, busy time from a freshly synced calendar, the
open offers and the appointments frontdesk booked (from the ledger), and `now`.

- Holds: while an offer is open its slots are not offered to another client, unless fewer than
  `slots_offered` would be left: then the oldest holds are offered again, so an inbox flooded
  with requests never leaves a real client without times. A hold never blocks the freelancer:
  their own events are busy time, whatever was held.
- Services: the offer is for the service the client named, else the first; slots are as long as
  that service (or `booking.duration_minutes` for a service without a duration).
- A reply to an offer picks a slot (by number, or by day and time: rules.when), which is booked
  only if it is still bookable now; an unclear reply is asked about once, then left for the
  freelancer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from rules.availability import PreparedBusy, prepare, why_not_bookable
from rules.availability import offer as offer_slots
from rules.mail import fold
from rules.model import Appointment, BusyInterval, Offer, Policy, Slot, address_key
from rules.when import Ambiguous, Asked, NoChoice, Picked, Wish, fits, fitting, read_choice

__all__ = [
    "AskWhich",
    "Book",
    "Declined",
    "LeaveIt",
    "NotBookable",
    "choose",
    "hold_until",
    "service_for",
    "slot_length",
    "slots_for_wish",
    "slots_to_offer",
]


# --- Services -----------------------------------------------------------------------------------


def slot_length(policy: Policy, service: int) -> timedelta:
    """How long a slot of that service is: its own minutes, else booking.duration_minutes."""
    services = policy.services
    minutes = services[service].minutes if 0 <= service < len(services) else None
    return timedelta(minutes=minutes or policy.booking.duration_minutes)


_WORD = re.compile(r"[a-z0-9]+")
_COMMON = frozenset({
    "de", "du", "des", "la", "le", "les", "un", "une", "et", "en", "a", "au", "aux", "pour",
    "par", "per", "of", "the", "and", "with", "for", "min", "minutes", "minute", "h", "heure",
    "heures", "hour", "hours",
})


def service_for(text: str, policy: Policy) -> int:
    """The service the client named (its distinctive words, or its duration), else the first."""
    if len(policy.services) < 2:
        return 0
    said = set(_WORD.findall(fold(text)))
    best, best_score = 0, 0
    for index, service in enumerate(policy.services):
        names = [service.name.text(lang) for lang in ("fr", "en")]
        words = {w for name in names for w in _WORD.findall(fold(name))} - _COMMON
        score = len(words & said)
        if service.minutes is not None and str(service.minutes) in said:
            score += 2
        if score > best_score:
            best, best_score = index, score
    return best


# --- Holds and the offer ------------------------------------------------------------------------


def _held(offers: Sequence[Offer], client: str, now: datetime) -> list[Offer]:
    """Other clients' open offers whose hold has not expired, oldest first."""
    mine = address_key(client)
    return sorted((o for o in offers if o.state == "open" and o.expires_at > now
                   and address_key(o.client) != mine), key=lambda o: o.created_at)


@lru_cache(maxsize=4096)
def _hold(offer: Offer, zone: ZoneInfo) -> PreparedBusy:
    """An offer's slots as busy time: the same holds are weighed for every request that
    comes while they are open, and an offer never changes its slots."""
    return prepare([BusyInterval(s.start, s.end, uid=f"hold:{offer.offer_id}")
                    for s in offer.slots], zone)


def slots_to_offer(policy: Policy, busy: Sequence[BusyInterval], now: datetime, *,
                   service: int, offers: Sequence[Offer], client: str,
                   booked: Sequence[Appointment] = ()) -> tuple[Slot, ...]:
    """The slots a booking reply offers now: other clients' held slots left out unless fewer
    than slots_offered would be left (then the oldest holds are released first)."""
    length = slot_length(policy, service)
    wanted = policy.booking.slots_offered
    zone = policy.zone
    # the calendar and each hold are converted once, then offered from again and again
    # what ended before the day before today counts for nothing now (a day's own appointments
    # still count toward its max_per_day)
    past = datetime.combine(now.astimezone(zone).date() - timedelta(days=2), time(0), zone)
    taken = prepare(
        [*busy, *(_as_busy(a) for a in booked if a.state != "cancelled")], zone
    ).since(past)
    held = _held(offers, client, now)
    holds = [_hold(o, zone) for o in held]

    def without_oldest(released: int) -> list[Slot]:
        return offer_slots(policy, taken.joined(*holds[released:]), now, duration=length)

    found = without_oldest(0)
    if len(found) >= wanted or not held:
        return tuple(found)
    # Release the fewest oldest holds that leave enough times. Releasing more never leaves
    # fewer, so the least number is searched for: a flooded inbox with hundreds of open offers
    # costs a handful of searches, not one per offer. The search starts where the last one
    # ended (in a flood, the next request releases the same holds or one more); the answer is
    # the same from any start: enough with `high` released and too few with one less.
    low, high = 0, len(held)  # too few with `low` released; enough (or all) with `high`
    best: list[Slot] | None = None  # the offer with `high` released, once tried
    ids = [o.offer_id for o in held]
    hint = _LAST_KEPT[0]
    if hint in ids:
        guess = max(ids.index(hint), 1)
        step = 1
        while low < guess < high:  # gallop from the guess towards the answer
            tried = without_oldest(guess)
            if len(tried) >= wanted:
                high, best = guess, tried
                guess -= step
            else:
                low = guess
                guess += step
            step *= 2
    while high - low > 1:
        middle = (low + high) // 2
        tried = without_oldest(middle)
        if len(tried) >= wanted:
            high, best = middle, tried
        else:
            low = middle
    _LAST_KEPT[0] = ids[high] if high < len(held) else None
    return tuple(best if best is not None else without_oldest(high))


# Where the last search for holds to release ended: the oldest offer whose hold it kept. Only
# where the next search starts, never its answer (see slots_to_offer).
_LAST_KEPT: list[str | None] = [None]


def slots_for_wish(policy: Policy, busy: Sequence[BusyInterval], now: datetime,
                   wish: Wish | None, *, service: int, offers: Sequence[Offer], client: str,
                   booked: Sequence[Appointment] = ()) -> tuple[Slot, ...]:
    """The slots to offer a client who said what they wish for ("Thursday afternoon"): those
    of the usual offer that fit it, else the first that fit further on, else the usual offer."""
    fresh = slots_to_offer(policy, busy, now, service=service, offers=offers, client=client,
                           booked=booked)
    if wish is None or wish.is_empty:
        return fresh
    zone = policy.zone
    fitting_slots = fitting(list(fresh), wish, zone)
    if not fitting_slots:
        # every bookable time that fits the wish is a candidate, held ones aside
        taken = [*busy, *(_as_busy(a) for a in booked if a.state != "cancelled")]
        holds = [BusyInterval(s.start, s.end, uid=f"hold:{o.offer_id}")
                 for o in _held(offers, client, now) for s in o.slots]
        length = slot_length(policy, service)
        fitting_slots = offer_slots(policy, [*taken, *holds], now, duration=length,
                                    keep=lambda slot: fits(slot, wish, zone))
    return tuple(fitting_slots) or fresh


def hold_until(policy: Policy, now: datetime) -> datetime | None:
    """When the slots offered now stop being held (None: holds are off)."""
    hours = policy.booking.hold_hours
    return now + timedelta(hours=hours) if hours > 0 else None


def _as_busy(appointment: Appointment) -> BusyInterval:
    return BusyInterval(appointment.start, appointment.end, uid=appointment.uid)


# --- The client's choice ------------------------------------------------------------------------


@dataclass(frozen=True)
class Book:
    """Book this slot for the client."""

    slot: Slot
    how: str  # what was read: "number 2", "Tuesday 14:00"
    also_asks: bool = False  # the reply asks something too: left for the freelancer as well


@dataclass(frozen=True)
class NotBookable:
    """The client chose a time that cannot be booked now: fresh times are offered."""

    slot: Slot
    why: str


@dataclass(frozen=True)
class AskWhich:
    """Unclear: ask once which time the client means (these numbers, or all)."""

    numbers: tuple[int, ...]
    why: str


@dataclass(frozen=True)
class Declined:
    """None of the times suit the client: fresh ones, fitting what they said when they did."""

    slots: tuple[Slot, ...]
    why: str


@dataclass(frozen=True)
class LeaveIt:
    """Left for the freelancer (a second unclear answer, or nothing to act on)."""

    why: str


Choice = Book | NotBookable | AskWhich | Declined | LeaveIt


def _asks_too(text: str) -> bool:
    """Does the reply ask something besides choosing (a question mark in a sentence that has
    more than the choice, e.g. "the first one's great — is there parking?")."""
    for sentence in re.split(r"(?<=[.!?])\s+|\n+", text):
        if "?" in sentence and len(_WORD.findall(fold(sentence))) > 3:
            return True
    return False


def choose(text: str, offer: Offer, policy: Policy, busy: Sequence[BusyInterval],
           now: datetime, *, booked: Sequence[Appointment] = (),
           offers: Sequence[Offer] = ()) -> Choice:
    """What a client's reply to `offer` asks for. `busy` is the freshly synced calendar,
    `booked` the appointments frontdesk made (some may not be in the calendar yet), `offers` the
    open offers of every client (for fresh times)."""
    zone = policy.zone
    length = slot_length(policy, offer.service)
    # Holds keep times out of other clients' offers; a time a client chooses is theirs if it
    # is still free (the first whose choice is handled wins), even if a flood of requests had
    # released it from someone else's hold.
    taken = [*busy, *(_as_busy(a) for a in booked if a.state != "cancelled")]
    reading = read_choice(text, offer.slots, offer.language, zone, now)
    if isinstance(reading, Picked):
        slot = offer.slots[reading.number - 1]
        return _check(slot, f"number {reading.number}", text, policy, taken, now)
    if isinstance(reading, Asked) and reading.start is not None:
        start = reading.start.astimezone(zone)
        slot = Slot(start, start + length)
        return _check(slot, f"{start:%A %Y-%m-%d %H:%M}", text, policy, taken, now)
    if isinstance(reading, Ambiguous):
        if offer.asked:
            return LeaveIt("the client's answer is still unclear after one question")
        return AskWhich(reading.numbers, "it could be " + " or ".join(map(str, reading.numbers)))
    if isinstance(reading, Asked) or (isinstance(reading, NoChoice)
                                      and reading.reason == "declined"):
        fresh = slots_for_wish(policy, busy, now, reading.wish if isinstance(reading, Asked)
                               else None, service=offer.service, offers=offers,
                               client=offer.client, booked=booked)
        return Declined(fresh, "none of the offered times suits the client")
    if offer.asked:
        return LeaveIt("the client's answer is still unclear after one question")
    return AskWhich(tuple(range(1, len(offer.slots) + 1)), "no time could be read in the reply")


def _check(slot: Slot, how: str, text: str, policy: Policy, taken: Sequence[BusyInterval],
           now: datetime) -> Book | NotBookable:
    why = why_not_bookable(policy, taken, now, slot)
    if why is not None:
        return NotBookable(slot, why)
    return Book(slot, how, also_asks=_asks_too(text))
