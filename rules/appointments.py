"""After the booking: which appointment a client means, whether they write in time for the
freelancer's notice rule, which times a move is offered, and what a client's calendar app
answering the invitation asks for.

Pure: the daemon passes the client's appointments (those frontdesk booked, from the ledger), the
freelancer's policy and `now`.

- The notice rule (`terms.cancellation_notice_hours`): a cancellation or a move asked at or
  before that many hours ahead is in time; later, it is late, and the freelancer's rule is
  stated, never waived: the appointment stays as it is and the freelancer decides.
- Only the appointment's own client (its attendee, by address) may cancel or move it.
- A calendar app's REPLY (RFC 5546 §3.2.3): ACCEPTED and TENTATIVE are recorded on the event
  without a word; DECLINED is a cancellation; a COUNTER (§3.2.7) is a move to the time proposed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from rules.booking import slot_length, slots_for_wish
from rules.mail import fold
from rules.model import (
    Appointment,
    BusyInterval,
    CalendarAnswer,
    Offer,
    Policy,
    Slot,
    address_key,
)
from rules.when import Wish, read_wish, which_appointments

__all__ = [
    "Answered",
    "Notice",
    "calendar_answer",
    "countered",
    "for_client",
    "hours_text",
    "live",
    "move_slots",
    "move_wish",
    "notice",
    "plainly_asks",
    "which",
]


@dataclass(frozen=True)
class Notice:
    """Whether a cancellation or a move asked now is in time for the notice rule."""

    in_time: bool
    hours_left: float  # until the appointment starts
    notice_hours: float  # terms.cancellation_notice_hours


def notice(policy: Policy, appointment: Appointment, now: datetime) -> Notice:
    hours_left = (appointment.start - now).total_seconds() / 3600
    need = policy.terms.cancellation_notice_hours
    return Notice(in_time=hours_left >= need, hours_left=hours_left, notice_hours=need)


def live(appointments: Sequence[Appointment], now: datetime) -> list[Appointment]:
    """The appointments that can still be cancelled or moved: not cancelled, not over."""
    return sorted((a for a in appointments if a.state != "cancelled" and a.end > now),
                  key=lambda a: a.start)


def which(text: str, appointments: Sequence[Appointment], in_thread: Appointment | None,
          language: str, policy: Policy, now: datetime) -> tuple[Appointment, ...]:
    """The client's appointments the text means: the one whose thread it answers unless the
    text names another day; else those the text names (every one when it names none)."""
    mine = live(appointments, now)
    if not mine:
        return ()
    slots = [Slot(a.start, a.end) for a in mine]
    named = which_appointments(text, slots, language, policy.zone, now)
    if in_thread is not None and any(a.uid == in_thread.uid for a in mine):
        chosen = [mine[i] for i in named]
        if len(chosen) == len(mine) or not chosen or in_thread in chosen:
            return (in_thread,)
        return tuple(chosen)
    return tuple(mine[i] for i in named)


def for_client(policy: Policy, returning: bool) -> Policy:
    """The policy a client's times are offered under: a new client (no past appointment) only
    on booking.new_client_days, when the freelancer set them."""
    days = policy.booking.new_client_days
    if returning or not days:
        return policy
    week = {day: ranges for day, ranges in policy.hours.week.items() if day in days}
    return replace(policy, hours=replace(policy.hours, week=week))


# --- Is it a request? ----------------------------------------------------------------------------

# A cancellation or a move is carried out only when the client plainly asks for it, in the
# first person, for their own appointment. Questions about the rule ("what is your cancellation
# policy?", "if I have to cancel, how much notice?"), denials ("I'm not cancelling") and someone
# else's appointment are for the freelancer: a wrong cancellation costs a client their time.
_ASK: dict[str, re.Pattern[str]] = {
    "cancel": re.compile(
        r"\b(?:(?:i|we)(?:'m| am| are|'re|'ll| will|'ve| have|'d| would)?(?: really| "
        r"unfortunately| sadly| now)?(?: going to| got to| have to| need to| like to)*"
        r" (?:need to |have to |must )?cancel\b(?! if)|please cancel|"
        r"(?:i|we)(?:'m| am| are| must| will|'ll)? cancel(?:l?ing)?\b(?! if)|"
        r"cancel (?:my|our|the|this|tomorrow's|thursday's|monday's|tuesday's|wednesday's|"
        r"friday's|saturday's|sunday's) (?:appointment|session|booking|massage|consultation|"
        r"meeting|visit|rdv)|cancel it|cancel for|"
        r"(?:can't|cannot|can not|won't be able to|will not be able to|am unable to|'m unable to"
        r"|unable to) (?:make it|come|attend|be there|keep (?:my|the|our) appointment)|"
        r"je (?:dois|vais devoir|voudrais|souhaite|souhaiterais|veux|vais|prefere|dois malheur"
        r"eusement|suis oblige(?:e)? d'|suis contraint(?:e)? d') ?annuler|j'annule|"
        r"(?:merci d'|svp |s'il vous plait )?annuler (?:mon|notre|ma|le|la) (?:rendez-vous|rdv|"
        r"seance|consultation|reservation)|annulation (?:de|du) (?:mon|notre|ma|rendez-vous|rdv)|"
        r"je ne (?:pourrai|peux|pourrais) (?:plus |malheureusement )?(?:pas )?(?:venir|etre la|"
        r"etre presente?|me presenter|honorer)|je dois me desister|nous devons annuler|"
        r"on doit annuler)"),
    "move": re.compile(
        r"\b(?:(?:can|could|may) (?:we|i|you) (?:please )?(?:move|reschedule|change|push|shift|"
        r"switch|postpone|bring forward)|(?:i|we)(?:'m| am| are|'re|'ll| will|'ve| have|'d| would)?"
        r"(?: really| unfortunately| now)?(?: going to| got to| have to| need to| like to)*"
        r" (?:need to |have to |must |want to )?(?:move|reschedule|postpone)\b|"
        r"please (?:move|reschedule|postpone)|reschedule (?:my|our|the|it)|"
        r"move (?:my|our|the) (?:appointment|session|booking)|push (?:it|my appointment) back|"
        r"another (?:day|time)|a different (?:day|time)|"
        r"(?:peut|pourrait|pourrions|pouvons|pourriez|pouvez|serait-il possible de|est-il possible"
        r" de)(?:-on|-nous|-vous| on| nous| vous)? (?:le |la |les )?(?:remettre|decaler|deplacer|"
        r"reporter|changer)|(?:je |j')(?:dois|voudrais|souhaite|souhaiterais|aimerais|veux|"
        r"vais devoir) (?:le |la )?(?:decaler|deplacer|reporter|changer|remettre)|"
        r"(?:reporter|decaler|deplacer) (?:mon|notre|ma|le) (?:rendez-vous|rdv|seance)|"
        r"un autre (?:jour|moment|creneau))"),
}
# What makes a sentence something other than a request: a condition, a denial, a question
# about the rule, someone else's appointment.
_NOT_ASKING = re.compile(
    r"\b(?:if|in case|whether|unless|si|s'il|au cas ou|en cas d|policy|politique|"
    r"how much notice|how far in advance|combien de temps|quel delai|not cancel|no need|"
    r"don't need to|won't (?:cancel|need)|will not cancel|pas besoin|ne (?:vais|veux) pas|"
    r"n'annule pas|my (?:colleague|friend|wife|husband|partner|son|daughter|mother|father)|"
    r"(?:her|his|their) appointment|mon (?:collegue|ami|mari|conjoint|fils|pere)|"
    r"ma (?:collegue|amie|femme|conjointe|fille|mere)|son rendez-vous|leur rendez-vous)\b")
_SENTENCES = re.compile(r"(?<=[.!?;])\s+|\n+")


def plainly_asks(text: str, change: str) -> bool:
    """Does the client's own new text plainly ask to cancel (`change` "cancel") or move
    ("move") their appointment: one sentence that asks it in the first person, with no
    condition, denial, question about the rule or third person in it?"""
    pattern = _ASK[change]
    for sentence in _SENTENCES.split(fold(text)[:4000]):
        if pattern.search(sentence) and not _NOT_ASKING.search(sentence):
            return True
    return False


# --- Moving an appointment -------------------------------------------------------------------


def move_wish(text: str, appointment: Appointment, language: str, policy: Policy,
              now: datetime) -> Wish:
    """The times a client asks to move to ("Thursday afternoon", "même heure la semaine
    prochaine"). The day that names the appointment itself ("my appointment on Tuesday") is
    where they come from, not where they go, so it is left out."""
    zone = policy.zone
    wish = read_wish(text, language, zone, now, current=appointment.start)
    current = appointment.start.astimezone(zone)
    dates = tuple(d for d in wish.dates if d != current.date())
    weekdays = tuple(d for d in wish.weekdays if d != current.weekday())
    if wish.same_time:
        return replace(wish, dates=dates)
    return replace(wish, dates=dates, weekdays=weekdays)


def move_slots(policy: Policy, busy: Sequence[BusyInterval], now: datetime,
               appointment: Appointment, wish: Wish, *, offers: Sequence[Offer],
               booked: Sequence[Appointment]) -> tuple[Slot, ...]:
    """The times offered to move `appointment` to: free for its service's length, fitting the
    client's wish when some do, never its own time."""
    found = slots_for_wish(policy, busy, now, wish, service=appointment.service, offers=offers,
                           client=appointment.client, booked=booked)
    return tuple(s for s in found if s.start != appointment.start)


def countered(policy: Policy, appointment: Appointment, answer: CalendarAnswer) -> Slot | None:
    """The time a COUNTER proposes, as long as the appointment's service (when the client's
    app proposes only a start, or a length that is not the service's)."""
    if answer.start is None:
        return None
    start = answer.start.astimezone(policy.zone)
    length = slot_length(policy, appointment.service)
    end = answer.end.astimezone(policy.zone) if answer.end is not None else start + length
    if end - start != length:
        end = start + length
    return Slot(start, end)


# --- A calendar app's answer ------------------------------------------------------------------


@dataclass(frozen=True)
class Answered:
    """What a calendar app's answer asks frontdesk to do with the appointment."""

    action: str  # "partstat" | "cancel" | "move" | "ignore" | "leave"
    reason: str
    partstat: str = ""
    proposed: Slot | None = None


def calendar_answer(policy: Policy, answer: CalendarAnswer, appointment: Appointment | None,
                    sender: str | None) -> Answered:
    """What one REPLY or COUNTER asks for. `sender` is the vouched sender of the email (None
    when nothing vouches for it): only the appointment's own client may answer for it."""
    if appointment is None:
        return Answered("ignore", f"{answer.method} for an event frontdesk did not book: "
                                  "nothing to answer")
    client = address_key(appointment.client)
    if not answer.attendee or address_key(answer.attendee) != client:
        return Answered("leave", f"{answer.method} answers for {answer.attendee or 'no one'}, "
                                 f"not for the appointment's client {appointment.client}")
    if sender is None or address_key(sender) != client:
        return Answered("leave", f"{answer.method} for {appointment.client}'s appointment "
                                 f"came from {sender or 'an unverified sender'}")
    if appointment.state == "cancelled":
        return Answered("ignore", f"{answer.method} for an appointment already cancelled")
    if answer.sequence < appointment.sequence:
        # RFC 5546 §2.1.5: an answer to an older version of the event says nothing now
        return Answered("ignore", f"answers an older version of the appointment (SEQUENCE "
                                  f"{answer.sequence} < {appointment.sequence})")
    method = answer.method.upper()
    partstat = answer.partstat.upper()
    if method == "COUNTER":
        proposed = countered(policy, appointment, answer)
        return Answered("move", "the client's calendar proposes another time",
                        proposed=proposed)
    if method != "REPLY":
        return Answered("ignore", f"calendar METHOD {method}: nothing to answer")
    if partstat in ("ACCEPTED", "TENTATIVE"):
        if partstat == appointment.partstat.upper():
            return Answered("ignore", f"the client's calendar said {partstat} before")
        return Answered("partstat", f"the client's calendar says {partstat}",
                        partstat=partstat)
    if partstat == "DECLINED":
        return Answered("cancel", "the client's calendar declines the appointment",
                        partstat=partstat)
    return Answered("leave", f"the client's calendar answers {partstat or 'nothing'}")


def hours_text(hours: float) -> str:
    """A whole number of hours for a log line or a reason ("about 20 hours")."""
    return f"{max(hours, 0):.0f} hour" + ("" if round(hours) == 1 else "s")

