"""The invitation guard's planning: which invitations to decline, leave, or leave for review.

It reads what the calendar sync brought (every object whose revision it has not judged) and the
calendar parts of emails the inbox hands it, asks rules.invitations for a decision on each item,
and turns each decline into a plan: the iMIP REPLY to send (built now, so the ledger keeps its
bytes) and, when the invitation is in the calendar, the change of the freelancer's stored copy.
The executor carries plans out; nothing here sends or writes to a server.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from connectors.budget import Budget, OverBudget
from connectors.ical import MalformedObject, calendar_items
from connectors.itip import decline_message_id, imip_reply_message, reply_calendar
from daemon.config import Config
from daemon.ledger import (
    InvitationDecision,
    InvitationState,
    Ledger,
    StoredObject,
    rate_key,
)
from daemon.plan import ChangeStoredCopy, InvitationPlan, SendMail, wire
from rules.invitations import (
    Decline,
    Leave,
    NotAnInvitation,
    Review,
    decide,
    explanation,
    reply_comment,
)
from rules.invitations import my_attendee as find_my_attendee
from rules.model import BusyInterval, CalendarItem
from rules.recurrence import MIN_SERIES_OCCURRENCES
from rules.replies import Templates, clean_title

log = logging.getLogger(__name__)

# CPU one calendar object from the calendar may cost to read; past it, it is skipped
OBJECT_CPU_SECONDS = 2.0
_DAY = timedelta(days=1)


def describe(item: CalendarItem, verb: str, reason: str) -> str:
    """One line about an invitation, its title shortened and without control characters."""
    title = clean_title(item.summary) or "(no title)"
    who = clean_title(item.organizer) or "(no organizer)"
    return f"{verb} '{title}' from {who}: {reason}"


@dataclass
class DeclineTally:
    """Declines planned in this pass but not yet in the ledger (a dry run records nothing)."""

    to_organizer: dict[str, int]
    total: int = 0


class Guard:
    def __init__(self, config: Config, ledger: Ledger, templates: Templates, *, dry_run: bool,
                 explaining: bool = False) -> None:
        self.config = config
        self.templates = templates
        self.explaining = explaining  # `explain` shows the decline even without [mail]
        self.policy = config.policy
        self.ledger = ledger
        self.dry_run = dry_run
        self.tally = DeclineTally({})

    @property
    def horizon(self) -> timedelta:
        return timedelta(days=self.policy.booking.horizon_days)

    # -- reading items --

    def items(self, raw: bytes, now: datetime, budget: Budget | None = None) -> list[CalendarItem]:
        """The object's calendar items (raises MalformedObject or OverBudget)."""
        return calendar_items(raw, now, now + self.horizon, self.policy.zone,
                              min_occurrences=MIN_SERIES_OCCURRENCES,
                              budget=budget or Budget(OBJECT_CPU_SECONDS,
                                                      what="reading an invitation"))

    def item_in(self, stored: StoredObject, key: tuple[str, str, int],
                now: datetime) -> CalendarItem | None:
        """The item of that key in a stored object, or None (gone, changed, unreadable)."""
        try:
            items = self.items(stored.raw, now)
        except (MalformedObject, OverBudget):
            return None
        for item in items:
            if (item.uid, item.recurrence_id or "", item.sequence) == key:
                return item
        return None

    # -- the calendar --

    def plan_calendar(
        self, now: datetime, busy: Sequence[BusyInterval]
    ) -> Iterator[tuple[StoredObject, Iterator[InvitationPlan]]]:
        """Every unjudged object of the main calendar with the plans of its items, one object
        at a time (the caller carries out each plan before the next is made, so the limits
        count it); an object that cannot be read gets no plan (and is marked judged: the same
        revision fails again)."""
        for stored in self.ledger.unjudged(self.config.calendar.url, now.timestamp()):
            try:
                items = self.items(stored.raw, now)
            except (MalformedObject, OverBudget) as exc:
                log.warning("calendar object %s skipped: %s", stored.href, exc)
                yield stored, iter(())
                continue
            self._forget_recorded()
            yield stored, (self.plan_item(item, now, busy, stored=stored) for item in items)

    # -- an email's invitations --

    def plan_email(self, parts: Sequence[tuple[str, str]], now: datetime,
                   busy: Sequence[BusyInterval], sender: str,
                   budget: Budget) -> list[InvitationPlan]:
        """The plans of the requests an email carries: only for the organizer who sent it
        (RFC 6047 §3), and one decline per UID whatever the number of overrides."""
        plans: list[InvitationPlan] = []
        declined_uids: set[str] = set()
        self._forget_recorded()
        for _method, ics in parts:
            raw = ics.encode("utf-8")
            items = self.items(raw, now, budget)
            # a series first: its REPLY declines the overrides with it
            for item in sorted(items, key=lambda i: i.recurrence_id is not None):
                budget.check("judging invitations")
                if item.uid in declined_uids:
                    plans.append(InvitationPlan(item, None, "already declined with its series",
                                                "skip"))
                    continue
                plan = self.plan_item(item, now, busy, request_raw=raw, sender=sender)
                if plan.verb == "decline":
                    declined_uids.add(item.uid)
                plans.append(plan)
        return plans

    # -- one item --

    def plan_item(self, item: CalendarItem, now: datetime, busy: Sequence[BusyInterval], *,
                  stored: StoredObject | None = None, request_raw: bytes | None = None,
                  sender: str | None = None) -> InvitationPlan:
        addresses = self.policy.freelancer.addresses
        if find_my_attendee(item, addresses) is None:
            return InvitationPlan(item, None, "not addressed to you", "skip")
        decision = decide(item, self.policy, busy, now, language="en")
        if isinstance(decision, NotAnInvitation):
            return InvitationPlan(item, None, decision.reason, "skip")
        if isinstance(decision, Leave):
            notice = (describe(item, "left for you", decision.reason)
                      if decision.attention else "")
            return InvitationPlan(item, None, decision.reason, "leave", notice=notice)
        key = (item.uid, item.recurrence_id or "", item.sequence)
        row = self.ledger.invitation(key)
        if isinstance(decision, Review):
            if row is not None:
                return InvitationPlan(item, None, "already noted", "skip")
            return self._review(item, decision.reason, stored)
        # a decline
        if sender is not None and not self._sent_by_organizer(item, sender):
            return self._review(item, f"the organizer {item.organizer or '(none)'} did not send "
                                      f"this email ({sender or 'unknown sender'}), so it is not "
                                      "answered (RFC 6047 §3)", stored)
        if row is not None and row.state is InvitationState.DONE and row.href is None \
                and stored is not None:
            # declined by email before it reached the calendar: the organizer has the REPLY;
            # only the freelancer's own copy still says NEEDS-ACTION
            return InvitationPlan(item, InvitationDecision.DECLINE, decision.reason, "catch up",
                                  decision, stored_copy=_copy(stored))
        if row is not None:
            return InvitationPlan(item, None, "already handled", "skip")
        if self.config.mail is None and not self.explaining:
            return InvitationPlan(item, None, decision.reason, "leave", notice=describe(
                item, "not declined (no [mail] to tell the organizer)", decision.reason))
        limited = self._limited(item)
        if limited:
            return self._review(item, f"not declined: {limited}", stored)
        source = request_raw if request_raw is not None else (stored.raw if stored else b"")
        try:
            mail = self.imip(decision, source, now)
        except (ValueError, MalformedObject) as exc:
            # e.g. an ORGANIZER that is not a mail address: nobody can be told, so nothing is
            # changed; the freelancer sees why
            return InvitationPlan(item, InvitationDecision.DECLINE, f"not declined ({exc})",
                                  "fail", decision)
        # counted until recorded: a dry run records nothing, and one email's (or one calendar
        # object's) declines are all planned before any is recorded
        self.tally.to_organizer[rate_key(item.organizer)] = \
            self.tally.to_organizer.get(rate_key(item.organizer), 0) + 1
        self.tally.total += 1
        return InvitationPlan(item, InvitationDecision.DECLINE, decision.reason, "decline",
                              decision, mail=mail,
                              stored_copy=_copy(stored) if stored is not None else None)

    def _forget_recorded(self) -> None:
        """Before the next email or object: what was planned before is in the ledger now
        (unless this is a dry run, where the tally is all there is)."""
        if not self.dry_run:
            self.tally = DeclineTally({})

    def _review(self, item: CalendarItem, reason: str,
                stored: StoredObject | None) -> InvitationPlan:
        return InvitationPlan(item, InvitationDecision.REVIEW, reason, "review",
                              stored_copy=_copy(stored) if stored is not None else None)

    def _sent_by_organizer(self, item: CalendarItem, sender: str) -> bool:
        organizer = rate_key(item.organizer)
        return bool(sender) and bool(organizer) and rate_key(sender) == organizer

    def _limited(self, item: CalendarItem) -> str | None:
        """Why no decline may go to this organizer now (limits), or None."""
        limits = self.policy.limits
        now = datetime.now(self.policy.zone)
        key = rate_key(item.organizer)
        to_organizer = self.ledger.sent_count(now - _DAY, key=key, kind="imip") \
            + self.tally.to_organizer.get(key, 0)
        if to_organizer >= limits.declines_per_organizer_per_day:
            return (f"{item.organizer} already got {to_organizer} declines in the last 24 hours "
                    "(limits.declines_per_organizer_per_day)")
        last_hour = self.ledger.sent_count(now - timedelta(hours=1)) + self.tally.total
        last_day = self.ledger.sent_count(now - _DAY) + self.tally.total
        if last_hour >= limits.per_hour:
            return f"{last_hour} automatic emails in the last hour (limits.per_hour)"
        if last_day >= limits.per_day:
            return f"{last_day} automatic emails in the last 24 hours (limits.per_day)"
        return None

    def redecide(self, item: CalendarItem, stored: StoredObject, now: datetime,
                 busy: Sequence[BusyInterval]) -> Decline | None:
        """After 412 Precondition Failed: the same item in the fresh copy, decided again; None
        when it is no longer declined (or has a new SEQUENCE: the next pass judges that)."""
        key = (item.uid, item.recurrence_id or "", item.sequence)
        fresh = self.item_in(stored, key, now)
        if fresh is None:
            return None
        decision = decide(fresh, self.policy, busy, now, language="en")
        return decision if isinstance(decision, Decline) else None

    # -- the REPLY --

    def imip(self, decision: Decline, request_raw: bytes, now: datetime) -> SendMail:
        """The iMIP decline (RFC 6047) as it will go out; ValueError when it cannot be built."""
        item = decision.item
        freelancer = self.policy.freelancer
        language = freelancer.language
        attendee = find_my_attendee(item, freelancer.addresses)
        address = attendee.address if attendee else freelancer.email
        comment = reply_comment(decision, self.policy, language)
        subject, body = explanation(decision, self.policy, language, templates=self.templates)
        calendar = reply_calendar(request_raw, item, address, comment, now)
        domain = freelancer.email.rpartition("@")[2] or "frontdesk.invalid"
        message_id = decline_message_id(item.uid, item.recurrence_id, item.sequence, domain)
        message = imip_reply_message(
            from_address=freelancer.email, from_name=freelancer.name,
            to_address=item.organizer, subject=subject, text=body, calendar=calendar,
            message_id=message_id, now=now)
        recipient = str(message["To"].addresses[0].addr_spec) if message["To"] else ""
        return SendMail(message_id=str(message["Message-ID"]), recipient=recipient,
                        kind="imip", in_reply_to=item.uid, body=wire(message), text=body)


def _copy(stored: StoredObject) -> ChangeStoredCopy:
    return ChangeStoredCopy(stored.collection, stored.href, stored.etag, stored.raw)
