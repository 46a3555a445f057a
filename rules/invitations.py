"""The invitation guard: is this event an invitation to the freelancer, and what to do with it.

Pure: the caller passes the decoded item, the policy, the busy time and `now`. The decision is
one of `Decline` (with the reason and up to 3 alternative slots), `Leave` (the freelancer decides),
`Review` (the time cannot be trusted: never decline on a guess) or `NotAnInvitation`.

All-day invitations (a choice the issue left open): an all-day event cannot fit "inside one
working range", so read literally every one would be declined. But an all-day invitation on a
working day is usually a workshop, a conference or an offsite: the kind of engagement a freelancer
wants to weigh, not have refused by a robot because it runs past 17:00. So an all-day occurrence
is declined only when one of its days is a day off or a closed date (or, with decline_conflicts,
when it overlaps busy time); on working days it is left for the freelancer, flagged for attention.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date

from rules.availability import describe_hours, inside_working_hours, offer
from rules.model import DEFAULT_LANGUAGE, Attendee, BusyInterval, CalendarItem, Policy, Slot
from rules.recurrence import MIN_SERIES_OCCURRENCES
from rules.replies import (
    Templates,
    clean_title,
    decline_context,
    decline_text,
    zone_label,
)

__all__ = [
    "ALTERNATIVES",
    "MIN_SERIES_OCCURRENCES",
    "Decline",
    "Leave",
    "NotAnInvitation",
    "Review",
    "decide",
    "explanation",
    "is_invitation",
    "my_attendee",
    "normalize_address",
    "reply_comment",
]

ALTERNATIVES = 3  # alternative slots offered with a decline
_UNTRUSTED_MARGIN = timedelta(days=2)  # a guessed time is off by at most ~26 h (UTC-12..UTC+14)
_DAY = timedelta(days=1)

# Why an occurrence is declined; explanation() words the reply to the organizer from it.
KIND_HOURS = "hours"  # a working day, but not entirely inside one of its working ranges
KIND_DAYS = "days"  # a day off (no working range that weekday)
KIND_CLOSED = "closed"  # a closed date
KIND_CONFLICT = "conflict"  # overlaps busy time


@dataclass(frozen=True)
class Decline:
    item: CalendarItem
    reason: str
    alternatives: tuple[Slot, ...]
    occurrence: BusyInterval | None  # the one judged; None when a whole series is declined
    kind: str = KIND_HOURS  # one of the KIND_* values, for explanation()


@dataclass(frozen=True)
class Leave:
    item: CalendarItem
    reason: str
    attention: bool = False  # True when the freelancer should look at it (log it as such)


@dataclass(frozen=True)
class Review:
    item: CalendarItem
    reason: str


@dataclass(frozen=True)
class NotAnInvitation:
    item: CalendarItem
    reason: str


Decision = Decline | Leave | Review | NotAnInvitation


# --- Who is invited -----------------------------------------------------------------------------


def normalize_address(value: str) -> str:
    """Lower-cased, surrounding space and a leading "mailto:" (any case) removed."""
    text = value.strip()
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:") :]
    return text.strip().lower()


def _usable(attendee: Attendee) -> bool:
    """An attendee entry that asks this person for an answer (STANDARDS §2)."""
    return (
        attendee.rsvp is not False
        and attendee.role.upper() != "NON-PARTICIPANT"
        and attendee.cutype.upper() != "GROUP"
    )


def my_attendee(item: CalendarItem, addresses: frozenset[str]) -> Attendee | None:
    """The freelancer's ATTENDEE entry, or None.

    When they are listed more than once (an alias, say), an entry that asks for an answer and is
    still pending is preferred, then any that asks for an answer, then the first.
    """
    mine = {normalize_address(a) for a in addresses}
    found = [a for a in item.attendees if normalize_address(a.address) in mine]
    if not found:
        return None
    for wanted in (
        lambda a: _usable(a) and a.partstat.upper() == "NEEDS-ACTION",
        _usable,
    ):
        for attendee in found:
            if wanted(attendee):
                return attendee
    return found[0]


def _not_invitation_reason(item: CalendarItem, addresses: frozenset[str], lang: str) -> str | None:
    """Why the item is not an invitation awaiting the freelancer's answer (None: it is one,
    or it is one they have already answered)."""
    mine = {normalize_address(a) for a in addresses}
    attendee = my_attendee(item, addresses)
    if attendee is None:
        return _t(lang, "not_attendee")
    if not item.organizer:
        return _t(lang, "no_organizer")
    if normalize_address(item.organizer) in mine:
        return _t(lang, "organizer_self")
    if item.status.upper() == "CANCELLED":
        return _t(lang, "cancelled")
    if attendee.rsvp is False:
        return _t(lang, "rsvp_false")
    if attendee.role.upper() == "NON-PARTICIPANT":
        return _t(lang, "non_participant")
    if attendee.cutype.upper() == "GROUP":
        return _t(lang, "group")
    return None


def _answered(attendee: Attendee) -> bool:
    return attendee.partstat.strip().upper() not in ("", "NEEDS-ACTION")


def is_invitation(item: CalendarItem, addresses: frozenset[str]) -> bool:
    """One of `addresses` is a pending ATTENDEE (PARTSTAT NEEDS-ACTION or absent) asked for an
    answer, someone else organizes it, and it is not cancelled."""
    if _not_invitation_reason(item, addresses, "en") is not None:
        return False
    attendee = my_attendee(item, addresses)
    return attendee is not None and not _answered(attendee)


# --- Deciding -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Verdict:
    bad: bool  # declinable
    kind: str = ""
    reason: str = ""
    attention: bool = False


def _language(policy: Policy, language: str | None) -> str:
    value = (language or policy.freelancer.language or DEFAULT_LANGUAGE).strip().lower()
    return "fr" if value.startswith("fr") else "en"


def _own_occurrences(item: CalendarItem) -> list[BusyInterval]:
    """The item's occurrences; for a single event the connector may have left them out (beyond
    its horizon), so fall back on the item's own start and end."""
    if item.occurrences:
        return sorted(item.occurrences, key=lambda o: o.start)
    if item.recurring or item.start is None:
        return []
    end = item.end
    if end is None or end < item.start:
        # RFC 5545 §3.6.1: no DTEND means one day for a date, the start itself for a date-time.
        end = item.start + _DAY if item.all_day else item.start
    return [BusyInterval(item.start, end, item.all_day, item.uid)]


def _window(occurrences: list[BusyInterval], policy: Policy, now: datetime) -> list[BusyInterval]:
    """The future occurrences a series is judged on: those in the booking horizon, and at least
    the next MIN_SERIES_OCCURRENCES."""
    future = [o for o in occurrences if o.start > now]
    horizon = now + timedelta(days=policy.booking.horizon_days)
    inside = [o for o in future if o.start < horizon]
    return inside if len(inside) >= MIN_SERIES_OCCURRENCES else future[:MIN_SERIES_OCCURRENCES]


def _local_days(occurrence: BusyInterval, zone: ZoneInfo) -> list[date]:
    """The local dates an occurrence touches (end exclusive)."""
    first = occurrence.start.astimezone(zone).date()
    if occurrence.end <= occurrence.start:
        return [first]
    last = (occurrence.end - timedelta(microseconds=1)).astimezone(zone).date()
    days = []
    day = first
    while day <= last:
        days.append(day)
        day += _DAY
    return days


def _overlaps(occurrence: BusyInterval, busy: Sequence[BusyInterval]) -> bool:
    """Plain overlap, no buffer. A zero-length occurrence overlaps what runs across it."""
    lo, hi = occurrence.start, occurrence.end
    if hi <= lo:
        return any(b.start <= lo < b.end for b in busy)
    return any(b.start < hi and lo < b.end for b in busy)


def _when(occurrence: BusyInterval, zone: ZoneInfo, lang: str) -> str:
    """'Saturday 10:00' / 'samedi 10:00'; for an all-day one, 'Saturday 2026-03-07'."""
    local = occurrence.start.astimezone(zone)
    weekday = format_date(local.date(), "EEEE", locale=lang)
    if occurrence.all_day:
        return f"{weekday} {local.date().isoformat()}"
    return f"{weekday} {local:%H:%M}"


def _outside(occurrence: BusyInterval, policy: Policy, lang: str) -> _Verdict:
    """Why an occurrence that is not inside one working range is outside, in words."""
    zone = policy.zone
    hours = policy.hours
    days = _local_days(occurrence, zone)
    when = _when(occurrence, zone, lang)
    described = describe_hours(hours, lang)
    closed = [d for d in days if hours.is_closed(d)]
    # The start day decides the words, then any later day that is closed.
    if hours.is_closed(days[0]):
        return _Verdict(True, KIND_CLOSED, _t(lang, "closed", when=when, day=days[0].isoformat()))
    if not hours.week.get(days[0].weekday()):
        return _Verdict(True, KIND_DAYS, _t(lang, "days", when=when, hours=described))
    if closed:
        return _Verdict(True, KIND_CLOSED, _t(lang, "closed", when=when, day=closed[0].isoformat()))
    if occurrence.all_day:
        off = [d for d in days if not hours.week.get(d.weekday())]
        if off:
            return _Verdict(True, KIND_DAYS, _t(lang, "days", when=when, hours=described))
    return _Verdict(True, KIND_HOURS, _t(lang, "hours", when=when, hours=described))


def _judge(
    occurrence: BusyInterval, policy: Policy, others: Sequence[BusyInterval], lang: str
) -> _Verdict:
    rules = policy.invites
    zone = policy.zone
    if occurrence.all_day:
        # hours.ranges() is () on a day off and on a closed date.
        days = _local_days(occurrence, zone)
        if rules.decline_outside_hours and not all(policy.hours.ranges(d) for d in days):
            return _outside(occurrence, policy, lang)
        if rules.decline_conflicts and _overlaps(occurrence, others):
            when = _when(occurrence, zone, lang)
            return _Verdict(True, KIND_CONFLICT, _t(lang, "conflict", when=when))
        return _Verdict(False, attention=True)
    if rules.decline_outside_hours and not inside_working_hours(
        policy.hours, zone, occurrence.start, max(occurrence.start, occurrence.end)
    ):
        return _outside(occurrence, policy, lang)
    if rules.decline_conflicts and _overlaps(occurrence, others):
        when = _when(occurrence, zone, lang)
        return _Verdict(True, KIND_CONFLICT, _t(lang, "conflict", when=when))
    return _Verdict(False)


def _busy_without(item: CalendarItem, busy: Sequence[BusyInterval]) -> list[BusyInterval]:
    """Busy time without the invitation itself (the mirror stores it too, as NEEDS-ACTION)."""
    if item.uid:
        return [b for b in busy if b.uid != item.uid]
    own = {(o.start, o.end) for o in _own_occurrences(item)}
    return [b for b in busy if b.uid or (b.start, b.end) not in own]


def _alternatives(
    occurrence: BusyInterval, policy: Policy, others: Sequence[BusyInterval], now: datetime
) -> tuple[Slot, ...]:
    """Up to ALTERNATIVES slots of the invitation's own duration; none for an all-day one (a
    whole day never fits a working range) or a zero-length one (nothing to book)."""
    length = occurrence.end - occurrence.start
    if occurrence.all_day or length <= timedelta(0):
        return ()
    return tuple(offer(policy, others, now, duration=length, count=ALTERNATIVES))


def decide(
    item: CalendarItem,
    policy: Policy,
    busy: Sequence[BusyInterval],
    now: datetime,
    *,
    language: str | None = None,
) -> Decline | Leave | Review | NotAnInvitation:
    """Judge one item (a single event, a series master, or one overridden instance)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be an aware datetime, not naive {now.isoformat()}")
    lang = _language(policy, language)
    addresses = policy.freelancer.addresses
    why_not = _not_invitation_reason(item, addresses, lang)
    if why_not is not None:
        return NotAnInvitation(item, why_not)
    attendee = my_attendee(item, addresses)
    assert attendee is not None  # _not_invitation_reason checked it
    if _answered(attendee):
        answer = attendee.partstat.strip().upper()
        return Leave(item, _t(lang, "answered", answer=_t(lang, f"partstat:{answer}", _=answer)))

    occurrences = _own_occurrences(item)
    if not occurrences and item.start is None:
        return Review(item, _t(lang, "no_time"))  # the connector could not read its times
    if not item.time_trusted:
        # A guess is off by a day at most: only what ended well before now is surely past.
        ends = [o.end for o in occurrences] or ([item.end] if item.end else [])
        if ends and max(ends) < now - _UNTRUSTED_MARGIN:
            return Leave(item, _t(lang, "past"))
        return Review(item, _t(lang, "untrusted"))

    judged = _window(occurrences, policy, now) if item.recurring else occurrences
    judged = [o for o in judged if o.start > now]
    if not judged:
        return Leave(item, _t(lang, "past"))
    if not (policy.invites.decline_outside_hours or policy.invites.decline_conflicts):
        return Leave(item, _t(lang, "guard_off"))

    others = _busy_without(item, busy)
    verdicts = [_judge(o, policy, others, lang) for o in judged]
    bad = [v for v in verdicts if v.bad]
    if item.recurring:
        if len(bad) == len(verdicts):
            # Worded on the first occurrence, like a single event: the line `frontdesk once`
            # prints reads the same ("Saturday 10:00 is outside your working days (...)").
            first = verdicts[0]
            alternatives = _alternatives(judged[0], policy, others, now)
            return Decline(item, first.reason, alternatives, None, first.kind)
        if bad:
            return Leave(
                item, _t(lang, "series_partly", bad=len(bad), n=len(judged)), attention=True
            )
        attention = any(v.attention for v in verdicts)
        return Leave(item, _t(lang, "all_day" if attention else "inside"), attention=attention)

    occurrence, verdict = judged[0], verdicts[0]
    if verdict.bad:
        alternatives = _alternatives(occurrence, policy, others, now)
        return Decline(item, verdict.reason, alternatives, occurrence, verdict.kind)
    if verdict.attention:
        return Leave(item, _t(lang, "all_day"), attention=True)
    return Leave(item, _t(lang, "inside"))


# --- The words ----------------------------------------------------------------------------------

_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "not_attendee": "you are not among its attendees",
        "no_organizer": "it has no organizer",
        "organizer_self": "you organize it",
        "cancelled": "it is cancelled",
        "rsvp_false": "no answer is expected from you (RSVP=FALSE)",
        "non_participant": "you are listed as a non-participant",
        "group": "you are invited only through a group",
        "answered": "you already answered ({answer})",
        "partstat:ACCEPTED": "accepted",
        "partstat:DECLINED": "declined",
        "partstat:TENTATIVE": "tentative",
        "partstat:DELEGATED": "delegated",
        "past": "it is already past",
        "untrusted": "its time zone is unknown, so its time is a guess: check it yourself",
        "no_time": "its time cannot be read: check it yourself",
        "guard_off": "declining is switched off (decline_outside_hours, decline_conflicts)",
        "inside": "it is inside your working hours",
        "all_day": "an all-day invitation on a working day needs your eye",
        "series_partly": (
            "{bad} of its next {n} occurrences are outside your working hours, the others "
            "inside: it needs your eye"
        ),
        "days": "{when} is outside your working days ({hours})",
        "hours": "{when} is outside your working hours ({hours})",
        "closed": "{when} falls on a closed date ({day})",
        "conflict": "{when} overlaps another appointment",
    },
    "fr": {
        "not_attendee": "vous n'êtes pas parmi ses participants",
        "no_organizer": "il n'a pas d'organisateur",
        "organizer_self": "vous en êtes l'organisateur",
        "cancelled": "il est annulé",
        "rsvp_false": "aucune réponse ne vous est demandée (RSVP=FALSE)",
        "non_participant": "vous y figurez comme non-participant",
        "group": "vous n'y êtes invité que par un groupe",
        "answered": "vous avez déjà répondu ({answer})",
        "partstat:ACCEPTED": "accepté",
        "partstat:DECLINED": "refusé",
        "partstat:TENTATIVE": "provisoire",
        "partstat:DELEGATED": "délégué",
        "past": "il est déjà passé",
        "untrusted": "son fuseau horaire est inconnu, son heure n'est qu'une supposition : "
        "vérifiez-le vous-même",
        "no_time": "son heure est illisible : vérifiez-le vous-même",
        "guard_off": "le refus est désactivé (decline_outside_hours, decline_conflicts)",
        "inside": "il est dans vos heures de travail",
        "all_day": "une invitation d'une journée entière un jour de travail demande votre avis",
        "series_partly": (
            "{bad} de ses {n} prochaines occurrences sont en dehors de vos heures de travail, "
            "les autres dedans : elle demande votre avis"
        ),
        "days": "{when} est en dehors de vos jours de travail ({hours})",
        "hours": "{when} est en dehors de vos heures de travail ({hours})",
        "closed": "{when} tombe un jour de fermeture ({day})",
        "conflict": "{when} chevauche un autre rendez-vous",
    },
}


def _t(lang: str, key: str, **values: object) -> str:
    texts = _TEXTS["en" if lang == "en" else "fr"]
    if key not in texts:
        return str(values.get("_", key))
    return texts[key].format(**values)


# --- The message to the organizer ---------------------------------------------------------------

_MAIL: dict[str, dict[str, str]] = {
    "en": {
        "subject": "Declined: {summary}",
        "subject_bare": "Declined",
        "sorry": "I am sorry, I cannot attend: {why}.",
        # A time inside the working hours declined for a conflict and one outside them are
        # worded alike: the organizer learns nothing of what is in the calendar (issue 9).
        "why:hours": "I am not available at that time",
        "why:days": "this day is not one of my working days",
        "why:closed": "I am not available on that date",
        "why:conflict": "I am not available at that time",
        "why_series:hours": "I am not available at those times",
        "why_series:days": "its occurrences fall outside my working days",
        "why_series:closed": "I am not available on those dates",
        "why_series:conflict": "I am not available at those times",
        "hours": "My working hours: {hours} ({zone}).",
    },
    "fr": {
        "subject": "Refusé : {summary}",
        "subject_bare": "Refusé",
        "sorry": "Je ne pourrai malheureusement pas y participer : {why}.",
        "why:hours": "je ne suis pas disponible à ce moment",
        "why:days": "ce jour n'est pas l'un de mes jours de travail",
        "why:closed": "je ne suis pas disponible à cette date",
        "why:conflict": "je ne suis pas disponible à ce moment",
        "why_series:hours": "je ne suis pas disponible à ces moments",
        "why_series:days": "ses occurrences tombent en dehors de mes jours de travail",
        "why_series:closed": "je ne suis pas disponible à ces dates",
        "why_series:conflict": "je ne suis pas disponible à ces moments",
        "hours": "Mes heures de travail : {hours} ({zone}).",
    },
}


def _clean(text: str) -> str:
    """One line: a summary or a name must not break the message's layout, nor run for pages."""
    return clean_title(text)


def _why(decision: Decline, words: dict[str, str]) -> str:
    series = decision.occurrence is None and decision.item.recurring
    kind = decision.kind if decision.kind in (KIND_HOURS, KIND_DAYS, KIND_CLOSED) else KIND_CONFLICT
    return words[f"why_series:{kind}" if series else f"why:{kind}"]


def reply_comment(decision: Decline, policy: Policy, language: str) -> str:
    """The one-line COMMENT of the iTIP REPLY, addressed to the organizer (Decline.reason is
    addressed to the freelancer: "your working hours", "another appointment")."""
    lang = _language(policy, language)
    words = _MAIL[lang]
    line = words["sorry"].format(why=_why(decision, words))
    hours = describe_hours(policy.hours, lang)
    if hours:
        zone_name = zone_label(lang, policy.zone)
        line += " " + words["hours"].format(hours=hours, zone=zone_name)
    return line


def explanation(decision: Decline, policy: Policy, language: str, *,
                templates: Templates) -> tuple[str, str]:
    """(subject, body) of the human message sent with a decline, in `language` (fr/en); the
    body from the freelancer's decline template (rules/templates/decline.*.txt.j2).

    It states why in general terms, the working days and hours, and the alternatives in the
    freelancer's zone. It names nothing else of the calendar: no other event, no attendee.
    """
    lang = _language(policy, language)
    words = _MAIL[lang]
    summary = _clean(decision.item.summary)
    subject = words["subject"].format(summary=summary) if summary else words["subject_bare"]
    context = decline_context(policy, language=lang, organizer_name=decision.item.organizer_name,
                              summary=summary, why=_why(decision, words),
                              alternatives=decision.alternatives)
    return subject, decline_text(templates, context)
