"""The plan: what one pass decided to do, as small immutable records.

The guard and the inbox turn decoded data and rules' decisions into plans; the executor carries a
plan out through the ledger; `--dry-run` and `explain` print a plan's lines and never reach the
executor. Each plan says in words what it would do (`would`) and what it did (`done`), so a dry run
and a real pass read the same but for their verbs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import EmailMessage

from daemon.ledger import Change, InvitationDecision, Outcome
from rules.invitations import Decline
from rules.model import Appointment, CalendarItem, Offer, Slot


def wire(message: EmailMessage) -> bytes:
    """The message as it goes on the wire: CRLF, folded by the message's own policy (which keeps
    long Message-IDs in References unencoded, so threads hold together)."""
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


# --- Actions --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendMail:
    """Send (or draft) one email, exactly once, through the outbox."""

    message_id: str
    recipient: str
    kind: str  # booking | objection | imip | ...
    in_reply_to: str  # the Message-ID or UID it answers
    body: bytes  # the whole message as it goes on the wire
    draft: bool = False
    text: str = ""  # what a reader sees (for `explain`)


@dataclass(frozen=True)
class ChangeStoredCopy:
    """Mark the freelancer's stored copy of an invitation DECLINED (only their PARTSTAT)."""

    collection: str
    href: str
    etag: str | None
    raw: bytes


@dataclass(frozen=True)
class CreateEvent:
    """Book an appointment: the event PUT into the calendar (If-None-Match), then its
    confirmation with the iMIP REQUEST."""

    appointment: Appointment
    collection: str
    href: str
    event: bytes  # the freelancer's stored copy
    confirmation: SendMail
    offer_id: str
    also_asks: bool = False  # the client asked something too: left for the freelancer


@dataclass(frozen=True)
class ChangeEvent:
    """Change an appointment frontdesk booked (cancel, move, the client's PARTSTAT, a flag for
    the freelancer): recorded with its email, then the calendar (If-Match), then the email, so
    neither happens without the other."""

    change: Change
    mail: SendMail | None = None
    flag: str = ""  # why the appointment is flagged for the freelancer ("" for no)
    what: str = ""  # in words, for `explain` and the log


# --- Plans ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvitationPlan:
    """What to do with one invitation (one UID + RECURRENCE-ID + SEQUENCE)."""

    item: CalendarItem
    decision: InvitationDecision | None  # None: nothing to record (left alone)
    reason: str
    verb: str  # "decline", "review", "catch up", "leave", "skip"
    decline: Decline | None = None
    mail: SendMail | None = None
    stored_copy: ChangeStoredCopy | None = None
    notice: str = ""  # a line for the freelancer (stdout under `once`), "" for none

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.item.uid, self.item.recurrence_id or "", self.item.sequence)


@dataclass(frozen=True)
class MessagePlan:
    """What to do with one inbound email."""

    message_id: str
    sender: str
    label: str  # "sender 'subject'" for log lines
    uid: int
    kind: str
    outcome: Outcome
    reason: str
    flagged: bool = False
    mail: SendMail | None = None
    slots: tuple[Slot, ...] = ()
    invitations: tuple[InvitationPlan, ...] = ()
    language: str = ""
    fired: tuple[str, ...] = ()
    record: bool = True  # False when the message was handled before (nothing to write)
    notes: tuple[str, ...] = field(default=())  # extra lines for `explain`
    offer: Offer | None = None  # the offer a booking reply makes (recorded with it)
    asked_offer: str = ""  # the offer whose client was asked which time they meant
    booking: CreateEvent | None = None
    changes: tuple[ChangeEvent, ...] = ()  # appointments changed (a cancellation, a move...)
    conversation: str = ""  # the Message-ID the email's thread started with (the limits)
