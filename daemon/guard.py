"""The invitation guard: judge what changed in the calendar, decline by iTIP/iMIP, exactly once.

For each calendar object whose revision it has not judged yet, every invitation in it is decided
by rules.invitations; a decline is carried out in three recorded steps: the ledger row (with the
iMIP reply already built), the freelancer's stored copy (only their PARTSTAT, If-Match), then the
email to the organizer through the outbox. A crash between any two steps resumes at the next one.
"""

from __future__ import annotations

import email
import email.policy
import logging
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING

from connectors.caldav import CalDAVError, PreconditionFailed
from connectors.ical import MalformedObject, calendar_items
from connectors.itip import declined_copy, imip_reply_message, reply_calendar, reply_message_id
from daemon.faults import crash_point
from daemon.outbox import wire_bytes
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

if TYPE_CHECKING:
    from daemon.app import Service
    from daemon.outbox import Outbox

log = logging.getLogger(__name__)

DONE = "done"
FAILED = "failed"
PENDING = "pending"
STORED = "stored"


@dataclass(frozen=True)
class Stored:
    """Where an invitation lives in the freelancer's calendar."""

    url: str
    href: str
    etag: str | None
    raw: bytes


@dataclass
class GuardReport:
    declined: int = 0
    reviewed: int = 0
    failed: int = 0
    lines: list[str] = field(default_factory=list)


def _now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def describe(decision: Decline | Review | Leave, verb: str) -> str:
    item = decision.item
    title = item.summary or "(no title)"
    who = item.organizer or "(no organizer)"
    return f"{verb} '{title}' from {who}: {decision.reason}"


class Guard:
    def __init__(self, service: Service, *, outbox: Callable[[], Outbox | None], dry_run: bool,
                 emit: Callable[[str], None]) -> None:
        self.service = service
        self.config = service.config
        self.policy = service.config.policy
        self.db: sqlite3.Connection = service.db
        self._outbox = outbox
        self.dry_run = dry_run
        self.emit = emit
        self._busy: list[BusyInterval] | None = None
        self._marks: list[tuple[str, str, str, str]] = []

    # -- the calendar pass --

    def run(self, now: datetime) -> GuardReport:
        report = GuardReport()
        self._busy = None
        if not self.dry_run:
            self.resume(report, now)
        url = self.config.calendar.url
        horizon_end = now + timedelta(days=self.policy.booking.horizon_days)
        try:
            self._judge_all(url, now, horizon_end, report)
        finally:
            self._flush_marks()
        return report

    def _judge_all(self, url: str, now: datetime, horizon_end: datetime,
                   report: GuardReport) -> None:
        for href, etag, raw in self._unjudged(url, now):
            try:
                items = calendar_items(raw, now, horizon_end, self.policy.zone,
                                   min_occurrences=MIN_SERIES_OCCURRENCES)
            except MalformedObject as exc:
                log.warning("calendar object %s skipped: %s", href, exc)
                self._mark_judged(url, href, etag)
                continue
            stored = Stored(url, href, etag, raw)
            complete = True
            for item in items:
                complete = self.judge(item, now, stored, report) and complete
            if complete:
                self._mark_judged(url, href, etag)

    def _unjudged(self, url: str, now: datetime) -> Iterable[tuple[str, str | None, bytes]]:
        rows = self.db.execute(
            "SELECT href, etag, raw FROM objects WHERE collection = ? "
            "AND (judged_etag IS NULL OR etag IS NULL OR judged_etag != etag) "
            "AND (last_end IS NULL OR last_end > ?)",
            (url, now.timestamp())).fetchall()
        return [(str(r["href"]), r["etag"], bytes(r["raw"])) for r in rows]

    def _mark_judged(self, url: str, href: str, etag: str | None) -> None:
        """Remember that this revision was judged; written with the pass's other marks.

        Only while it is still the stored revision: after our own PUT the object has a newer
        ETag, already marked, which an older mark must not overwrite."""
        if self.dry_run or etag is None:
            return
        self._marks.append((etag, url, href, etag))

    def _flush_marks(self) -> None:
        if not self._marks:
            return
        self.db.execute("BEGIN")
        try:
            self.db.executemany("UPDATE objects SET judged_etag = ? WHERE collection = ? AND "
                                "href = ? AND etag = ?", self._marks)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self._marks.clear()

    def busy(self, now: datetime) -> list[BusyInterval]:
        if self._busy is None:
            end = now + timedelta(days=self.policy.booking.horizon_days + 2)
            self._busy = self.service.busy(now - timedelta(days=1), end)
        return self._busy

    # -- one item --

    def judge(self, item: CalendarItem, now: datetime, stored: Stored | None,
              report: GuardReport, *, request_raw: bytes | None = None) -> bool:
        """Decide on one item and act; False when it must be judged again next pass."""
        addresses = self.policy.freelancer.addresses
        if find_my_attendee(item, addresses) is None:
            return True  # cheap exit: not addressed to the freelancer at all
        decision = decide(item, self.policy, self.busy(now), now, language="en")
        if isinstance(decision, NotAnInvitation):
            return True
        if isinstance(decision, Leave):
            if getattr(decision, "attention", False):
                log.info("%s", describe(decision, "left for you"))
            else:
                log.debug("%s", describe(decision, "left"))
            return True
        key = (item.uid, item.recurrence_id or "", item.sequence)
        row = self.db.execute("SELECT state, decision, href FROM invitations WHERE uid = ? "
                              "AND recurrence_id = ? AND sequence = ?", key).fetchone()
        if isinstance(decision, Review):
            if row is None:
                self._emit(report, describe(decision, "left for review"))
                report.reviewed += 1
                if not self.dry_run:
                    self._ledger_insert(key, "review", DONE, decision, stored, None)
            return True
        # a decline
        if row is not None and row["state"] == DONE and row["href"] is None \
                and stored is not None and not self.dry_run:
            # declined by email before it reached the calendar: the organizer has the REPLY;
            # only the freelancer's own copy still says NEEDS-ACTION
            return self._catch_up_stored(decision, key, stored, now)
        if row is not None and row["state"] in (DONE, FAILED):
            return True
        if self.config.mail is None:
            self._emit(report, describe(decision, "not declined (no [mail] to tell the organizer)"))
            return True
        if self.dry_run:
            self._emit(report, describe(decision, "declined"))
            report.declined += 1
            return True
        return self.decline(decision, now, stored, report, request_raw=request_raw,
                            resumed=row is not None)

    def decline(self, decision: Decline, now: datetime, stored: Stored | None,
                report: GuardReport, *, request_raw: bytes | None, resumed: bool) -> bool:
        item = decision.item
        key = (item.uid, item.recurrence_id or "", item.sequence)
        source = request_raw if request_raw is not None else (stored.raw if stored else b"")
        try:
            message = self._imip(decision, source, now)
        except (ValueError, MalformedObject) as exc:
            # e.g. an ORGANIZER that is not a mail address: nobody can be told, so nothing is
            # changed; the freelancer sees why
            self._emit(report, describe(decision, f"not declined ({exc})"))
            report.failed += 1
            self._ledger_insert(key, "decline", FAILED, decision, stored, None)
            self._set_state(key, FAILED, str(exc))
            return True
        if not resumed:
            self._ledger_insert(key, "decline", PENDING, decision, stored, message)
        if stored is not None:
            try:
                ok = self._store_declined(decision, stored, now)
            except CalDAVError as exc:
                log.warning("could not decline %r in the calendar yet: %s", item.summary, exc)
                return False
            if not ok:
                self.db.execute("DELETE FROM invitations WHERE uid = ? AND recurrence_id = ? AND "
                                "sequence = ?", key)
                return True
        crash_point("after-put")
        self._set_state(key, STORED)
        self._emit(report, describe(decision, "declined"))
        report.declined += 1
        self._send(key, message, report)
        return True

    def preview(self, item: CalendarItem, now: datetime,
                request_raw: bytes) -> EmailMessage | None:
        """The iMIP decline that would be sent for this item, if it would be declined."""
        decision = decide(item, self.policy, self.busy(now), now, language="en")
        if not isinstance(decision, Decline):
            return None
        try:
            return self._imip(decision, request_raw, now)
        except (ValueError, MalformedObject):
            return None

    def _catch_up_stored(self, decision: Decline, key: tuple[str, str, int], stored: Stored,
                         now: datetime) -> bool:
        try:
            if not self._store_declined(decision, stored, now):
                return True
        except CalDAVError as exc:
            log.warning("could not mark %r declined in the calendar yet: %s",
                        decision.item.summary, exc)
            return False
        self.db.execute("UPDATE invitations SET collection = ?, href = ?, updated_at = ? WHERE "
                        "uid = ? AND recurrence_id = ? AND sequence = ?",
                        (stored.url, stored.href, _now_text(), *key))
        log.info("%s", describe(decision, "marked declined in the calendar (answered by email)"))
        return True

    def _imip(self, decision: Decline, request_raw: bytes, now: datetime) -> EmailMessage:
        item = decision.item
        freelancer = self.policy.freelancer
        language = freelancer.language
        attendee = find_my_attendee(item, freelancer.addresses)
        address = attendee.address if attendee else freelancer.email
        localized = decide(item, self.policy, self.busy(now), now, language=language)
        chosen = localized if isinstance(localized, Decline) else decision
        comment = reply_comment(chosen, self.policy, language)
        subject, body = explanation(chosen, self.policy, language)
        calendar = reply_calendar(request_raw, item, address, comment, now)
        domain = freelancer.email.rpartition("@")[2] or "frontdesk.invalid"
        return imip_reply_message(
            from_address=freelancer.email, from_name=freelancer.name,
            to_address=item.organizer, subject=subject, text=body, calendar=calendar,
            message_id=reply_message_id(item.uid, item.recurrence_id, item.sequence, domain),
            now=now)

    def _store_declined(self, decision: Decline, stored: Stored, now: datetime) -> bool:
        """PUT the freelancer's copy with their PARTSTAT=DECLINED; False if no longer due."""
        scheduling = self.service.scheduling(stored.url)
        addresses = self.policy.freelancer.addresses
        connection = self.service.connection(stored.url)
        current = stored
        for attempt in (1, 2):
            new_raw = declined_copy(current.raw, decision.item, addresses,
                                    schedule_agent_client=scheduling)
            try:
                etag = connection.put(current.href, new_raw, current.etag)
            except PreconditionFailed:
                if attempt == 2:
                    raise
                # RFC 4791: someone changed it meanwhile; fetch, decide again, retry once
                fresh = connection.get(current.href)
                self.service.mirror.put_local(current.url, current.href, fresh.etag, fresh.raw)
                current = Stored(current.url, current.href, fresh.etag, fresh.raw)
                again = self._redecide(decision.item, current, now)
                if again is None:
                    log.info("%r changed on the server meanwhile; no longer declined",
                             decision.item.summary)
                    return False
                decision = again
                continue
            self.service.mirror.put_local(current.url, current.href, etag, new_raw)
            self._busy = None  # the declined time is free again for what this pass offers
            if etag is not None:
                self._mark_judged(current.url, current.href, etag)
            return True
        return False

    def _redecide(self, item: CalendarItem, stored: Stored, now: datetime) -> Decline | None:
        horizon_end = now + timedelta(days=self.policy.booking.horizon_days)
        for fresh in calendar_items(stored.raw, now, horizon_end, self.policy.zone,
                                   min_occurrences=MIN_SERIES_OCCURRENCES):
            if (fresh.uid, fresh.recurrence_id) == (item.uid, item.recurrence_id):
                if fresh.sequence != item.sequence:
                    return None  # a new revision: the next pass judges it on its own
                decision = decide(fresh, self.policy, self.busy(now), now, language="en")
                return decision if isinstance(decision, Decline) else None
        return None

    def _send(self, key: tuple[str, str, int], message: EmailMessage,
              report: GuardReport) -> None:
        outbox = self._outbox()
        if outbox is None:
            return
        recipient = str(message["To"].addresses[0].addr_spec) if message["To"] else ""
        outcome = outbox.deliver(message, kind="imip", recipient=recipient,
                                 in_reply_to=key[0])
        if outcome.state in ("sent", "drafted"):
            self._set_state(key, DONE)
        elif outcome.state == "failed":
            self._set_state(key, FAILED, outcome.detail)
            report.failed += 1
            self._emit(report, f"could not send the decline to {recipient}: {outcome.detail}")

    def resume(self, report: GuardReport, now: datetime | None = None) -> None:
        """Send the iMIP replies of declines whose calendar step is done but whose mail is not.

        A row still `pending` whose stored copy already says DECLINED crashed between our PUT
        and its record: the next judging would see no invitation any more, so it is finished
        here rather than lost."""
        for row in self.db.execute("SELECT uid, recurrence_id, sequence, collection, href FROM "
                                   "invitations WHERE state = ? AND message IS NOT NULL AND "
                                   "href IS NOT NULL", (PENDING,)).fetchall():
            key = (row["uid"], row["recurrence_id"], row["sequence"])
            if self._stored_declined(row["collection"], row["href"], key, now):
                self._set_state(key, STORED)
        rows = self.db.execute("SELECT uid, recurrence_id, sequence, message FROM invitations "
                               "WHERE state = ? AND message IS NOT NULL", (STORED,)).fetchall()
        for row in rows:
            message = email.message_from_bytes(bytes(row["message"]), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            self._send((row["uid"], row["recurrence_id"], row["sequence"]), message, report)

    def _stored_declined(self, url: str, href: str, key: tuple[str, str, int],
                         now: datetime | None) -> bool:
        found = self.service.mirror.get(url, href)
        if found is None:
            return False
        moment = now or datetime.now(self.policy.zone)
        try:
            items = calendar_items(found[1], moment, moment, self.policy.zone,
                                   min_occurrences=MIN_SERIES_OCCURRENCES)
        except MalformedObject:
            return False
        for item in items:
            if (item.uid, item.recurrence_id or "", item.sequence) == key:
                mine = find_my_attendee(item, self.policy.freelancer.addresses)
                return mine is not None and mine.partstat == "DECLINED"
        return False

    # -- ledger --

    def _ledger_insert(self, key: tuple[str, str, int], kind: str, state: str,
                       decision: Decline | Review, stored: Stored | None,
                       message: EmailMessage | None) -> None:
        now = _now_text()
        blob = wire_bytes(message) if message is not None else None
        self.db.execute(
            "INSERT INTO invitations (uid, recurrence_id, sequence, decision, state, reason, "
            "summary, organizer, message_id, message, collection, href, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
            "state = excluded.state, message = excluded.message, updated_at = excluded.updated_at",
            (*key, kind, state, decision.reason, decision.item.summary, decision.item.organizer,
             str(message["Message-ID"]) if message is not None else None, blob,
             stored.url if stored else None, stored.href if stored else None, now, now))

    def _set_state(self, key: tuple[str, str, int], state: str, detail: str | None = None) -> None:
        self.db.execute("UPDATE invitations SET state = ?, detail = COALESCE(?, detail), "
                        "updated_at = ? WHERE uid = ? AND recurrence_id = ? AND sequence = ?",
                        (state, detail, _now_text(), *key))

    def _emit(self, report: GuardReport, line: str) -> None:
        report.lines.append(line)
        self.emit(line)
