"""The running service's parts, wired once: state database, calendar mirror, connections.

Commands (`slots`, `once`, `run`, `explain`) all go through this one object, so that what a test
exercises is what the service does.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from connectors.caldav import AuthError, CalDAVError, CalendarConnection, NotFound
from connectors.imap import Mailbox, MailError
from connectors.smtp import SmtpSender
from daemon.config import Config, MailSettings
from daemon.errors import EX_CONFIG, CalendarUnavailable, MailUnavailable, UserError
from daemon.mirror import Mirror
from daemon.outbox import Outbox
from daemon.state import get_fact, open_db, open_existing, set_fact
from daemon.templates import TemplatesError, load_templates
from rules.model import BusyInterval
from rules.replies import Templates

if TYPE_CHECKING:
    from daemon.guard import GuardReport
    from daemon.inbox import InboxReport

log = logging.getLogger(__name__)


def explain_caldav_error(url: str, exc: CalDAVError) -> str:
    if isinstance(exc, AuthError):
        return (f"the calendar server refused the username or password for {url} "
                "(check calendar.username and calendar.password_file)")
    if isinstance(exc, NotFound):
        return f"there is no calendar at {url} (check calendar.url)"
    return f"cannot use the calendar at {url}: {exc}"


class Service:
    def __init__(self, config: Config, *, database: sqlite3.Connection | None = None) -> None:
        self.config = config
        if database is None:
            try:
                database = open_db(config.daemon.state_dir)
            except (OSError, sqlite3.Error) as exc:
                raise UserError(f"daemon.state_dir: cannot use {config.daemon.state_dir} for "
                                f"the state database ({exc})", EX_CONFIG) from None
        self.db = database
        self.mirror = Mirror(self.db, config.policy.zone)
        self._connections: dict[str, CalendarConnection] = {}
        self._mailbox: Mailbox | None = None
        self._outbox: Outbox | None = None
        self._templates: Templates | None = None

    def __enter__(self) -> Service:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._outbox is not None:
            self._outbox.close()
        self.drop_mailbox()
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()
        self.db.close()

    def templates(self) -> Templates:
        """The reply templates, read once (the shipped ones under the freelancer's own)."""
        if self._templates is None:
            try:
                self._templates = load_templates(self.config.daemon.templates_dir)
            except TemplatesError as exc:
                raise UserError(f"daemon.templates_dir: {exc}", EX_CONFIG) from None
        return self._templates

    def copy_mirror_from(self, state_dir: Path) -> None:
        """Fill this (in-memory) database's mirror from the service's state database, if any."""
        source = open_existing(state_dir)
        if source is None:
            return
        try:
            for table in ("collections", "objects"):
                rows = source.execute(f"SELECT * FROM {table}").fetchall()
                if rows:
                    marks = ", ".join("?" * len(rows[0].keys()))
                    cols = ", ".join(rows[0].keys())
                    self.db.executemany(f"INSERT OR REPLACE INTO {table} ({cols}) "
                                        f"VALUES ({marks})", [tuple(r) for r in rows])
        except sqlite3.Error as exc:
            log.warning("could not read the state database in %s: %s", state_dir, exc)
        finally:
            source.close()

    @property
    def calendar_urls(self) -> list[str]:
        return [self.config.calendar.url, *self.config.calendar.busy_urls]

    def connection(self, url: str) -> CalendarConnection:
        if url not in self._connections:
            cal = self.config.calendar
            self._connections[url] = CalendarConnection(url, cal.username, cal.password)
        return self._connections[url]

    def sync_calendars(self) -> None:
        """Bring the mirror up to date with every calendar; raise CalendarUnavailable."""
        for url in self.calendar_urls:
            role = "main" if url == self.config.calendar.url else "busy"
            try:
                self.mirror.sync(url, self.connection(url), role)
            except CalDAVError as exc:
                raise CalendarUnavailable(explain_caldav_error(url, exc)) from exc
        set_fact(self.db, "calendar_synced_at", datetime.now().astimezone().isoformat())

    def busy(self, start: datetime, end: datetime) -> list[BusyInterval]:
        return self.mirror.busy(self.calendar_urls, start, end,
                                self.config.policy.freelancer.addresses)

    # -- scheduling, mail --

    def scheduling(self, url: str) -> bool:
        """Does this calendar's server do RFC 6638 scheduling (asked once, then remembered)?"""
        key = f"scheduling:{url}"
        known = get_fact(self.db, key)
        if known is None:
            try:
                known = "1" if self.connection(url).probe().get("scheduling") else "0"
            except CalDAVError as exc:
                raise CalendarUnavailable(explain_caldav_error(url, exc)) from exc
            set_fact(self.db, key, known)
        return known == "1"

    def mailbox(self) -> Mailbox:
        """The shared IMAP session, connected on first use."""
        mail = self.config.mail
        if mail is None:
            raise MailUnavailable("the [mail] section is missing from the configuration")
        if self._mailbox is None:
            box = Mailbox(mail.imap_host, mail.imap_port, mail.imap_security, mail.username,
                          mail.password)
            try:
                box.connect()
            except MailError as exc:
                raise MailUnavailable(explain_mail_error(mail, exc)) from exc
            self._mailbox = box
        return self._mailbox

    def drop_mailbox(self) -> None:
        if self._mailbox is not None:
            try:
                self._mailbox.close()
            except Exception:  # a dead connection may fail to close; it is dropped either way
                log.debug("closing the IMAP connection failed", exc_info=True)
            self._mailbox = None

    def outbox(self) -> Outbox | None:
        mail = self.config.mail
        if mail is None:
            return None
        if self._outbox is None:
            self._outbox = Outbox(
                self.db, mail, envelope_from=self.config.policy.freelancer.email,
                mailbox=self.mailbox,
                sender=lambda: SmtpSender(mail.smtp_host, mail.smtp_port, mail.smtp_security,
                                          mail.username, mail.password))
        return self._outbox

    # -- one full pass --

    def once(self, now: datetime, *, dry_run: bool = False, emit: Callable[[str], None],
             backfill_hours: float | None = None) -> PassReport:
        """Sync the mirror, guard the calendar, read the inbox: what `once` and `run` do."""
        from daemon.guard import Guard
        from daemon.inbox import Inbox

        self.sync_calendars()
        guard = Guard(self, outbox=self.outbox, dry_run=dry_run, emit=emit)
        report = PassReport(guard=guard.run(now))
        if self.config.mail is not None:
            inbox = Inbox(self, guard=guard, outbox=self.outbox, dry_run=dry_run, emit=emit)
            try:
                report.inbox = inbox.run(now, report.guard, backfill_hours=backfill_hours)
            except MailError as exc:
                self.drop_mailbox()
                raise MailUnavailable(explain_mail_error(self.config.mail, exc)) from exc
        if self._outbox is not None:
            self._outbox.close()
        set_fact(self.db, "last_pass_at", datetime.now().astimezone().isoformat())
        return report


@dataclass
class PassReport:
    guard: GuardReport
    inbox: InboxReport | None = None


def explain_mail_error(mail: MailSettings, exc: Exception) -> str:
    # the connector's sentences already name the server and the keys to check
    return str(exc) or f"cannot use the mailbox on {mail.imap_host}:{mail.imap_port}"
