"""The service's spine: its parts wired once, and the one pass every command runs.

`App` holds the configuration, the ledger, the calendar mirror, the connections and the reply
templates. `App.run_pass` is the pass `once`, `run` and the demo all use: sync the calendar ->
judge the invitations it brought -> read the inbox -> act. Each step plans (guard, inbox), then
the executor carries the plan out through the ledger; a dry run prints the plans instead. One
place here decides what the failure of each step means:

- the calendar cannot be synced: nothing in it is judged; mail is still read, but what would
  offer times (booking replies, emailed invitations to decline) waits until the calendar has
  synced successfully within `max(2 x poll_seconds, 10 minutes)`, then is answered, once;
- the mailbox cannot be used: the calendar part is done all the same;
- one email or one calendar object that cannot be read or decided is set aside with its reason,
  and the next one is handled.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType

from connectors.budget import Budget, OverBudget
from connectors.caldav import CalDAVError
from connectors.imap import FolderState, MailError
from connectors.mailparse import MalformedMessage
from daemon.config import Config
from daemon.connections import Connections, explain_mail_error
from daemon.correspondents import SentReader
from daemon.errors import EX_CONFIG, CalendarUnavailable, MailUnavailable, UserError
from daemon.executor import DONE, RETRY, BookingConflict, Executor
from daemon.faults import crash_point
from daemon.guard import Guard, describe
from daemon.inbox import MAX_ATTEMPTS, MESSAGE_CPU_SECONDS, Inbox
from daemon.inbox import describe as describe_message
from daemon.ledger import (
    FACT_MAIL_FAULT,
    FACT_PASS,
    FACT_PASS_AT,
    FACT_SYNC_FAILED,
    FACT_SYNCED,
    Ledger,
    LedgerError,
    Outcome,
)
from daemon.logsetup import safe_text
from daemon.mirror import Mirror
from daemon.plan import InvitationPlan, MessagePlan
from daemon.templates import TemplatesError, load_templates
from rules.model import BusyInterval
from rules.replies import Templates

log = logging.getLogger(__name__)

FRESH_AT_LEAST = timedelta(minutes=10)


@dataclass
class PassReport:
    """What one pass did, for `once`'s output, the runner's backoff and `status`."""

    declined: int = 0
    booked: int = 0
    changed: int = 0  # appointments cancelled or moved, clients' calendar answers recorded
    reviewed: int = 0
    replied: int = 0
    drafted: int = 0
    ignored: int = 0
    left: int = 0
    waiting: int = 0
    failed: int = 0
    seen: int = 0
    calendar_error: str = ""  # why the calendar could not be synced ("" when it was)
    calendar_auth: bool = False  # ... because the password was refused
    mail_error: str = ""  # why the mailbox could not be used ("" when it could)
    mail_auth: bool = False
    stopped: str = ""  # why the inbox was left before its end ("" when it was read through)
    lines: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in ("declined", "booked", "changed", "reviewed",
                                               "replied", "drafted",
                                               "ignored", "left", "waiting", "failed", "seen")}


class App:
    """One freelancer's frontdesk: configuration, ledger, mirror, connections, templates."""

    def __init__(self, config: Config, *, ledger: Ledger | None = None,
                 state_dir: Path | None = None) -> None:
        self.config = config
        if ledger is None:
            try:
                ledger = Ledger.open(state_dir if state_dir is not None
                                     else config.daemon.state_dir)
            except LedgerError as exc:
                raise UserError(f"daemon.state_dir: {exc}", EX_CONFIG) from None
        self.ledger = ledger
        self.mirror = Mirror(ledger, config.policy.zone)
        self.connections = Connections(config)
        self.sent = SentReader(config, ledger)  # lives as long as the process: warns once
        self._templates: Templates | None = None

    def __enter__(self) -> App:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.connections.close()
        self.ledger.close()

    def templates(self) -> Templates:
        """The reply templates, read once (the shipped ones under the freelancer's own)."""
        if self._templates is None:
            try:
                self._templates = load_templates(self.config.daemon.templates_dir)
            except TemplatesError as exc:
                raise UserError(f"daemon.templates_dir: {exc}", EX_CONFIG) from None
        return self._templates

    # -- the calendar --

    def sync_calendars(self) -> None:
        """Bring the mirror up to date with every calendar; raise CalendarUnavailable."""
        for url in self.connections.calendar_urls:
            role = "main" if url == self.config.calendar.url else "busy"
            try:
                self.mirror.sync(url, self.connections.calendar(url), role)
            except CalDAVError as exc:
                raise self.connections.unavailable(url, exc) from exc
        with self.ledger.transaction():
            self.ledger.set_fact_time(FACT_SYNCED, datetime.now(UTC))
            self.ledger.set_fact(FACT_SYNC_FAILED, "")

    def fresh(self, now: datetime) -> bool:
        """Was the calendar synced recently enough to offer times from it?"""
        synced = self.ledger.last_synced()
        window = max(2 * timedelta(seconds=self.config.calendar.poll_seconds), FRESH_AT_LEAST)
        return synced is not None and now - window <= synced <= now + timedelta(minutes=5)

    def busy(self, start: datetime, end: datetime) -> list[BusyInterval]:
        return self.mirror.busy(self.connections.calendar_urls, start, end,
                                self.config.policy.freelancer.addresses)

    def busy_for_offers(self, now: datetime) -> list[BusyInterval]:
        """Busy time over everything a pass may offer (the horizon, and a day either side)."""
        horizon = timedelta(days=self.config.policy.booking.horizon_days + 2)
        return self.busy(now - timedelta(days=1), now + horizon)

    # -- the pass --

    def run_pass(self, now: datetime, *, calendar: bool = True, mail: bool = True,
                 dry_run: bool = False, backfill_hours: float | None = None,
                 emit: Callable[[str], None] | None = None,
                 should_stop: Callable[[], bool] | None = None,
                 heartbeat: Callable[[], None] | None = None) -> PassReport:
        """One pass; two processes on one state (`once` by hand while `run` works) take turns,
        so a message is never handled by both at once."""
        with self.pass_lock(heartbeat):
            return Pass(self, now, dry_run=dry_run, emit=emit, should_stop=should_stop,
                        heartbeat=heartbeat).run(calendar=calendar, mail=mail,
                                                 backfill_hours=backfill_hours)

    @contextlib.contextmanager
    def pass_lock(self, heartbeat: Callable[[], None] | None = None) -> Iterator[None]:
        """An exclusive lock on the state folder for the length of a pass (none in memory)."""
        path = self.ledger.path
        if path is None:
            yield
            return
        with open(path.with_name("frontdesk.lock"), "a+b") as handle:
            waited = 0.0
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if waited == 0.0:
                        log.info("another frontdesk is in a pass on this state; waiting")
                    if heartbeat is not None:
                        heartbeat()
                    time.sleep(0.1)
                    waited += 0.1
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


class Pass:
    """One pass over the calendar and the inbox."""

    def __init__(self, app: App, now: datetime, *, dry_run: bool,
                 emit: Callable[[str], None] | None, should_stop: Callable[[], bool] | None,
                 heartbeat: Callable[[], None] | None) -> None:
        self.app = app
        self.config = app.config
        self.ledger = app.ledger
        self.now = now
        self.dry_run = dry_run
        self.report = PassReport()
        self._emit = emit or (lambda line: log.info("%s", line))
        self.should_stop = should_stop or (lambda: False)
        self.heartbeat = heartbeat or (lambda: None)
        self.guard = Guard(self.config, self.ledger, app.templates(), dry_run=dry_run)
        self.executor = Executor(self.config, self.ledger, app.mirror, app.connections,
                                 self.guard, emit=self.say)

    def say(self, line: str) -> None:
        line = safe_text(line)  # values from outside never forge a second line
        self.report.lines.append(line)
        self._emit(line)

    def run(self, *, calendar: bool, mail: bool, backfill_hours: float | None) -> PassReport:
        if calendar:
            self._sync()
        fresh = self.app.fresh(self.now)
        busy = self.app.busy_for_offers(self.now) if fresh else None
        if calendar and not self.report.calendar_error and busy is not None:
            self.judge_calendar(busy)
            busy = self.app.busy_for_offers(self.now)  # declines free time
        if mail and self.config.mail is not None:
            self._inbox(busy, backfill_hours)
        self.app.connections.close_sender()
        if not self.dry_run:
            self._note()
        return self.report

    # -- steps --

    def _sync(self) -> None:
        self.heartbeat()
        try:
            self.app.sync_calendars()
        except CalendarUnavailable as exc:
            self.report.calendar_error = str(exc)
            self.report.calendar_auth = "password" in str(exc)
            if not self.dry_run:
                with self.ledger.transaction():
                    self.ledger.set_fact(FACT_SYNC_FAILED, str(exc))

    def judge_calendar(self, busy: list[BusyInterval]) -> None:
        """The invitations the calendar brought: finish what a crash left, then plan and carry
        out a decision for every object whose revision was not judged yet."""
        try:
            if not self.dry_run:
                self.executor.resume_invitations(self.now, busy)
                self.executor.resume_bookings()
                self.executor.resume_changes()
            marks: list[tuple[str, str, str]] = []
            for stored, plans in self.guard.plan_calendar(self.now, busy):
                self.heartbeat()
                outcomes = [self._invitation(plan, busy) for plan in plans]
                if RETRY not in outcomes and stored.etag is not None:
                    marks.append((stored.collection, stored.href, stored.etag))
            if not self.dry_run:
                self.ledger.mark_judged(marks)
        except (CalendarUnavailable, CalDAVError) as exc:
            self.report.calendar_error = str(exc)

    def _invitation(self, plan: InvitationPlan, busy: list[BusyInterval]) -> str:
        if self.dry_run:
            self._count_invitation(plan)
            for line in invitation_lines(plan, dry_run=True):
                self.say(line)
            return DONE
        outcome = self.executor.apply_invitation(plan, self.now, busy)
        if outcome == DONE:
            self._count_invitation(plan)
        return outcome

    def _count_invitation(self, plan: InvitationPlan) -> None:
        if plan.verb == "decline":
            self.report.declined += 1
        elif plan.verb == "review":
            self.report.reviewed += 1
        elif plan.verb == "fail":
            self.report.failed += 1

    def _inbox(self, busy: list[BusyInterval] | None, backfill_hours: float | None) -> None:
        settings = self.config.mail
        assert settings is not None
        connections = self.app.connections
        inbox = Inbox(self.config, self.ledger, self.guard, self.app.templates(),
                      dry_run=self.dry_run)
        try:
            box = connections.mailbox()
            folder = box.select(settings.inbox)
            self.executor.folder = folder
            # before any message is read: a friend's answer in this pass is already theirs
            inbox.correspondents = self.app.sent.learn(box, dry_run=self.dry_run)
            if not self.dry_run:
                self.executor.resume_mail()
            if busy is not None:
                self._waiting(inbox, folder, busy)
            new = inbox.new_uids(box, folder, self.now, backfill_hours)
            if new.note:
                self.report.notes.append(new.note)
            if new.start_at is not None and not self.dry_run:
                self.executor.start_reading(folder, new.start_at, self.now, first=new.first)
            if new.uids:
                inbox.warm_up(self.now)
            for fetched in box.fetch(new.uids, max_size=settings.max_message_bytes):
                self.heartbeat()
                self._message(inbox, folder, fetched.uid, fetched.raw, busy,
                              too_big=fetched.size if fetched.truncated else 0)
                if self.should_stop():
                    self.report.stopped = "stopping"
                    break
            if not self.dry_run:
                with self.ledger.transaction():
                    self.ledger.set_fact(FACT_MAIL_FAULT, "")
        except (MailError, MailUnavailable) as exc:
            connections.drop_mailbox()
            cause = exc.__cause__ if isinstance(exc, MailUnavailable) else exc
            message = str(exc) if isinstance(exc, MailUnavailable) else explain_mail_error(
                settings, exc)
            self.report.mail_error = message
            self.report.mail_auth = type(cause).__name__ == "MailAuthError"
            if not self.dry_run:
                with self.ledger.transaction():
                    self.ledger.set_fact(FACT_MAIL_FAULT, message)

    def _waiting(self, inbox: Inbox, folder: FolderState, busy: list[BusyInterval]) -> None:
        """Messages that waited for a fresh calendar: decided again now that it is."""
        waiting = self.ledger.waiting_messages(folder.name, folder.uidvalidity)
        if not waiting:
            return
        box = self.app.connections.mailbox()
        settings = self.config.mail
        assert settings is not None
        for fetched in box.fetch([w.uid for w in waiting], max_size=settings.max_message_bytes):
            self.heartbeat()
            self._message(inbox, folder, fetched.uid, fetched.raw, busy, claim=False,
                          too_big=fetched.size if fetched.truncated else 0)

    def _message(self, inbox: Inbox, folder: FolderState, uid: int, raw: bytes,
                 busy: list[BusyInterval] | None, *, claim: bool = True,
                 too_big: int = 0) -> bool:
        """Handle one message (`too_big`: its size, when only its header was read)."""
        self.report.seen += 1
        if claim and not self.dry_run:
            attempts = self.ledger.claim(folder.name, folder.uidvalidity, uid)
            if attempts > MAX_ATTEMPTS:
                plan = inbox.unreadable(uid, folder, RuntimeError(
                    f"frontdesk stopped {MAX_ATTEMPTS} times while handling it"))
                plan = _set_aside(plan)
                return self._carry_out(plan, folder, busy)
            crash_point("while-handling")  # tests: a message that stops frontdesk
        for attempt in (1, 2):
            budget = Budget(MESSAGE_CPU_SECONDS, what="handling an email")
            try:
                msg = inbox.read(raw, budget, size=too_big or None)
                plan = (inbox.too_big(msg, uid, too_big) if too_big
                        else inbox.plan(msg, uid, self.now, busy, budget))
            except (MalformedMessage, OverBudget) as exc:
                log.warning("message UID %d in %s set aside: %s", uid, folder.name, exc)
                plan = inbox.unreadable(uid, folder, exc)
            except Exception as exc:  # whatever the bug, one message must not stop the inbox
                log.exception("message UID %d in %s could not be handled", uid, folder.name)
                plan = inbox.unreadable(uid, folder, exc)
            try:
                return self._carry_out(plan, folder, busy)
            except BookingConflict as exc:
                # the time went to another client a moment ago (another process): planned
                # again, the client gets fresh times
                log.info("%s: %s; answering again", plan.label, exc)
                if attempt == 2:
                    return self._carry_out(inbox.unreadable(uid, folder, exc), folder, busy)
        return True

    def _carry_out(self, plan: MessagePlan, folder: FolderState,
                   busy: list[BusyInterval] | None) -> bool:
        if self.dry_run:
            self._count_message(plan)
            for line in message_lines(plan, dry_run=True):
                self.say(line)
            return True
        if plan.outcome is Outcome.IGNORED and plan.record:
            log.info("ignored %s: %s", plan.label, plan.reason)
        delivery = self.executor.apply_message(plan, folder, self.now, busy or [])
        self._count_message(plan)
        if self.executor.smtp_fault:
            self.report.stopped = self.executor.smtp_fault
        if delivery is not None and delivery.repeated:
            log.info("already answered %s before a restart", plan.label)
            return True
        if delivery is not None and delivery.state == "failed":
            assert plan.mail is not None
            self.say(f"could not reply to {plan.mail.recipient}: {delivery.detail}")
            return True
        if delivery is not None and delivery.state == "pending":
            return True  # the log said why; the reply goes out on a later pass
        said = describe_message(plan, dry_run=False)
        if said and plan.outcome is not Outcome.INVITATION:
            self.say(said)
        return True

    def _count_message(self, plan: MessagePlan) -> None:
        report = self.report
        outcome = plan.outcome
        if not plan.record:
            return
        if outcome is Outcome.BOOKED:
            report.booked += 1
        elif outcome is Outcome.CHANGED:
            report.changed += 1
        elif outcome is Outcome.REPLIED:
            report.replied += 1
        elif outcome is Outcome.DRAFTED:
            report.drafted += 1
        elif outcome is Outcome.IGNORED:
            report.ignored += 1
        elif outcome is Outcome.LEFT:
            report.left += 1
        elif outcome is Outcome.WAITING:
            report.waiting += 1
        elif outcome in (Outcome.FAILED, Outcome.SET_ASIDE):
            report.failed += 1
        for invitation in plan.invitations:
            self._count_invitation(invitation)

    def _note(self) -> None:
        import json

        with self.ledger.transaction():
            self.ledger.set_fact_time(FACT_PASS_AT, datetime.now(UTC))
            self.ledger.set_fact(FACT_PASS, json.dumps(self.report.counts()))


def _set_aside(plan: MessagePlan) -> MessagePlan:
    from dataclasses import replace

    return replace(plan, outcome=Outcome.SET_ASIDE)


def invitation_lines(plan: InvitationPlan, *, dry_run: bool) -> list[str]:
    """What a dry run (or `explain`) says about one invitation's plan."""
    lines = [plan.notice] if plan.notice else []
    if plan.verb == "decline":
        lines.append(describe(plan.item, "would decline" if dry_run else "declined",
                              plan.reason))
    elif plan.verb == "review":
        lines.append(describe(plan.item, "would leave for review" if dry_run
                              else "left for review", plan.reason))
    elif plan.verb == "fail":
        lines.append(describe(plan.item, "would not decline" if dry_run else "not declined",
                              plan.reason))
    elif plan.verb == "catch up":
        lines.append(describe(plan.item, "would mark declined in the calendar",
                              "answered by email"))
    return lines


def message_lines(plan: MessagePlan, *, dry_run: bool) -> list[str]:
    lines: list[str] = []
    for invitation in plan.invitations:
        lines += invitation_lines(invitation, dry_run=dry_run)
    line = describe_message(plan, dry_run=dry_run)
    if line:
        lines.append(line)
    return lines
