"""Plain, frozen records the rules read and return.

Everything here is data: the configuration as typed objects, the calendar and mailbox as the
connectors decode them, and nothing that touches the outside world. Datetimes are always aware.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "en"  # the configuration's default (freelancer.language) and the fallback
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def address_key(address: str) -> str:
    """An address as frontdesk compares and counts it: lower-cased, without a +tag
    (jane+work@example.com is jane@example.com)."""
    local, at, domain = address.strip().lower().rpartition("@")
    if not at:
        return address.strip().lower()
    return f"{local.split('+', 1)[0] or local}@{domain}"


@dataclass(frozen=True)
class Localized:
    """A text a client may read: one value for every language, or one per language.

    `texts` maps a language code to its text; `default` is the key to fall back to.
    """

    texts: Mapping[str, object]
    default: str = DEFAULT_LANGUAGE

    def get(self, language: str) -> object:
        if language in self.texts:
            return self.texts[language]
        if self.default in self.texts:
            return self.texts[self.default]
        return next(iter(self.texts.values()), "")

    def text(self, language: str) -> str:
        value = self.get(language)
        return value if isinstance(value, str) else ""

    def items(self, language: str) -> tuple[str, ...]:
        value = self.get(language)
        if isinstance(value, str):
            return (value,) if value else ()
        if isinstance(value, (list, tuple)):
            return tuple(str(v) for v in value)
        return ()


@dataclass(frozen=True)
class TimeRange:
    """A working range within one day, [start, end), in the freelancer's zone."""

    start: time
    end: time

    def label(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class DateRange:
    """An inclusive range of dates (a single date has first == last)."""

    first: date
    last: date

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first <= day <= self.last


@dataclass(frozen=True)
class Freelancer:
    name: str
    email: str
    aliases: tuple[str, ...] = ()
    timezone: str = "UTC"
    language: str = DEFAULT_LANGUAGE

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def addresses(self) -> frozenset[str]:
        """Every address that is the freelancer, lower-cased."""
        return frozenset(a.strip().lower() for a in (self.email, *self.aliases) if a.strip())


@dataclass(frozen=True)
class Hours:
    """Working ranges per weekday (0 = Monday), and closed dates."""

    week: Mapping[int, tuple[TimeRange, ...]]
    closed: tuple[DateRange, ...] = ()

    def ranges(self, day: date) -> tuple[TimeRange, ...]:
        """The working ranges of that date; () on a day off or a closed date."""
        if self.is_closed(day):
            return ()
        return self.week.get(day.weekday(), ())

    def is_closed(self, day: date) -> bool:
        return any(day in r for r in self.closed)


@dataclass(frozen=True)
class BookingPolicy:
    duration_minutes: int = 60
    buffer_minutes: int = 15
    min_notice_hours: float = 24
    horizon_days: int = 21
    max_per_day: int = 4
    step_minutes: int = 30
    slots_offered: int = 5
    cluster: bool = True
    hold_hours: float = 24  # how long an offered time stays held for the client; 0: no holds
    new_client_days: tuple[int, ...] = ()  # weekdays (0 = Monday) offered to new clients; (): all


@dataclass(frozen=True)
class InvitePolicy:
    decline_outside_hours: bool = True
    decline_conflicts: bool = False


@dataclass(frozen=True)
class Terms:
    payment: Localized = field(default_factory=lambda: Localized({}))
    cancellation: Localized = field(default_factory=lambda: Localized({}))
    contact: Localized = field(default_factory=lambda: Localized({}))
    options: Localized = field(default_factory=lambda: Localized({}))
    cancellation_notice_hours: float = 24  # free cancellation up to this many hours before


@dataclass(frozen=True)
class Service:
    name: Localized
    minutes: int | None = None  # None: clients see no duration; slots are booking.duration_minutes
    price: str = ""


@dataclass(frozen=True)
class ClientsPolicy:
    """Address patterns (shell-style, case-insensitive) of clients treated specially."""

    block: tuple[str, ...] = ()
    review: tuple[str, ...] = ()
    unpaid: tuple[str, ...] = ()


@dataclass(frozen=True)
class Limits:
    """Caps on automatic mail (RFC 3834 §2; Sieve vacation's `:days`, RFC 5230 §4.1)."""

    per_hour: int = 30  # all automatic mail, replies and declines together
    per_day: int = 200
    per_sender_per_day: int = 3  # conversations one sender gets automatic replies in, in 24 h
    per_conversation_per_day: int = 8  # automatic replies in one conversation in 24 h (a loop)
    repeat_days: int = 1  # the same kind of reply to the same sender again after this; 0: always
    declines_per_organizer_per_day: int = 10  # counted apart from replies


@dataclass(frozen=True)
class Policy:
    """Everything the rules need to know about the freelancer's decisions."""

    freelancer: Freelancer
    hours: Hours
    booking: BookingPolicy = BookingPolicy()
    invites: InvitePolicy = InvitePolicy()
    terms: Terms = Terms()
    services: tuple[Service, ...] = ()
    clients: ClientsPolicy = ClientsPolicy()
    limits: Limits = Limits()

    @property
    def zone(self) -> ZoneInfo:
        return self.freelancer.zone


# --- The calendar, as the connectors decode it -------------------------------------------------


@dataclass(frozen=True)
class BusyInterval:
    """One occurrence of one event that makes the freelancer busy, [start, end), aware datetimes.

    `all_day` events block whole local days. `uid` is kept for logs only: rules never show it.
    """

    start: datetime
    end: datetime
    all_day: bool = False
    uid: str = ""
    attendees: frozenset[str] = frozenset()  # its ATTENDEEs (lower-cased): whose appointment


@dataclass(frozen=True)
class Occurrence:
    """One occurrence of one stored event, as the connector reads it, before anyone decides
    whether it makes the freelancer busy (rules.busy does). Aware datetimes, [start, end)."""

    start: datetime
    end: datetime
    all_day: bool = False
    uid: str = ""
    status: str = ""  # upper-cased STATUS of the occurrence, "" when absent
    transparent: bool = False  # TRANSP:TRANSPARENT
    declined_by: frozenset[str] = frozenset()  # attendees (lower-cased) whose PARTSTAT is DECLINED
    attendees: frozenset[str] = frozenset()  # every ATTENDEE (lower-cased)


@dataclass(frozen=True)
class Slot:
    """A bookable interval [start, end), aware, in the freelancer's zone."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class Attendee:
    address: str  # lower-cased, "mailto:" stripped
    partstat: str = "NEEDS-ACTION"  # upper-cased; absent -> NEEDS-ACTION
    rsvp: bool | None = None
    role: str = "REQ-PARTICIPANT"
    cutype: str = "INDIVIDUAL"
    name: str = ""


@dataclass(frozen=True)
class CalendarItem:
    """One VEVENT as stored or as received: a series master, a single event, or an override.

    The connector fills `occurrences` with the item's occurrences that end after `now` and start
    before the horizon it was asked for (for a series: expanded with its EXDATEs, without the
    instances that have their own override item). `time_trusted` is False when a TZID resolved to
    nothing, so its times are a guess.
    """

    uid: str
    recurrence_id: str | None = None  # canonical text of RECURRENCE-ID, None for a master/single
    sequence: int = 0
    dtstamp: datetime | None = None
    summary: str = ""
    organizer: str = ""  # address, lower-cased, "mailto:" stripped; "" when none
    organizer_name: str = ""
    attendees: tuple[Attendee, ...] = ()
    status: str = ""  # upper-cased STATUS, "" when absent
    transparent: bool = False
    recurring: bool = False  # the item has RRULE or RDATE
    all_day: bool = False
    start: datetime | None = None  # of the item itself (first occurrence of a series)
    end: datetime | None = None
    occurrences: tuple[BusyInterval, ...] = ()
    time_trusted: bool = True
    href: str = ""  # where the item is stored, for logs and for acting; never shown to clients


# --- Mail, as the connectors decode it -----------------------------------------------------------


@dataclass(frozen=True)
class InboundMessage:
    """One received email, decoded. Addresses are lower-cased; no field holds CR or LF.

    Message-IDs (`message_id`, `references`, `in_reply_to`) are stored without angle brackets.
    `return_path` is None when the header is absent and "" for the null path `<>`.
    `calendar_parts` holds (MIME `method` parameter or "", raw iCalendar text) for every calendar
    part. `headers_ok` is False when a header had to be repaired (CR/LF smuggled into a decoded
    value, no readable From address, a header the parser rejected).
    `headers` holds every header as (lower-cased name, decoded one-line value), in order, bounded
    in number and length: rules read the non-standard ones (`X-Autoreply`, `Feedback-ID`,
    `Authentication-Results`, ...) from it. `size` is the raw message's length in bytes.
    """

    message_id: str
    message_id_synthetic: bool = False
    subject: str = ""
    from_address: str = ""
    from_name: str = ""
    reply_to: str = ""
    return_path: str | None = None
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    resent_to: tuple[str, ...] = ()
    resent_cc: tuple[str, ...] = ()
    date: datetime | None = None
    references: tuple[str, ...] = ()
    in_reply_to: str = ""
    auto_submitted: tuple[str, ...] = ()
    precedence: str = ""
    list_headers: tuple[str, ...] = ()
    x_auto_response_suppress: str = ""
    content_type: str = "text/plain"
    is_report: bool = False
    text: str = ""
    calendar_parts: tuple[tuple[str, str], ...] = ()
    headers_ok: bool = True
    headers: tuple[tuple[str, str], ...] = ()
    size: int = 0

    @property
    def recipients(self) -> tuple[str, ...]:
        """Every address the message was sent to (To, Cc, Bcc, Resent-To, Resent-Cc)."""
        return (*self.to, *self.cc, *self.bcc, *self.resent_to, *self.resent_cc)


@dataclass(frozen=True)
class MailContext:
    """What frontdesk knows around one email beyond the email itself (the daemon fills it from
    the ledger and the calendar; rules read it).

    `thread`: which of frontdesk's own replies the email answers ("offer", "confirmation",
    "objection", "decline"), "" when none. `relation`: "stranger", "client" (frontdesk or the
    freelancer dealt with them before) or "personal" (the freelancer writes to them themself).
    `appointments`: the sender's upcoming appointments, in time order.
    """

    thread: str = ""
    relation: str = "stranger"
    appointments: tuple[Slot, ...] = ()


# --- The booking conversation, as the ledger keeps it ---------------------------------------------


@dataclass(frozen=True)
class Offer:
    """Times offered to one client in one booking reply, and what became of them.

    `offer_id` is that reply's Message-ID. `state`: "open" (the client may choose), "booked",
    "closed" (superseded or given up). The slots are held for other clients until `expires_at`.
    `asked` counts the times frontdesk asked back which one the client meant.
    """

    offer_id: str
    client: str  # the client's address, as answered
    client_name: str
    language: str
    service: int  # index into Policy.services (0 when there are none)
    slots: tuple[Slot, ...]
    created_at: datetime
    expires_at: datetime
    state: str = "open"
    asked: int = 0
    thread: tuple[str, ...] = ()  # Message-IDs of the conversation (without angle brackets)
    moves: str = ""  # the UID of the appointment these times would replace (a reschedule)


@dataclass(frozen=True)
class Appointment:
    """An appointment frontdesk booked into the freelancer's calendar."""

    uid: str
    client: str
    client_name: str
    service: int
    start: datetime
    end: datetime
    state: str = "booked"  # "pending" (recorded, not yet in the calendar), "booked", "cancelled"
    offer_id: str = ""
    language: str = DEFAULT_LANGUAGE
    sequence: int = 0
    partstat: str = "NEEDS-ACTION"  # the client's answer from their calendar app
    flagged: str = ""  # why the freelancer should look at it ("" for no)
    thread: tuple[str, ...] = ()  # Message-IDs of its conversation (without angle brackets)


@dataclass(frozen=True)
class CalendarAnswer:
    """A client's calendar app answering an appointment (iTIP REPLY or COUNTER, RFC 5546 §3.2.3
    and §3.2.7), as the connector reads it: who answered, what, and for COUNTER the proposed
    times."""

    method: str  # "REPLY" | "COUNTER" | ...
    uid: str
    attendee: str  # the address that answered, lower-cased; "" when none
    partstat: str  # ACCEPTED, TENTATIVE, DECLINED, ... ("" when none)
    sequence: int = 0
    start: datetime | None = None  # COUNTER: the time proposed
    end: datetime | None = None
    comment: str = ""
