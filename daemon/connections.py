"""The connections to the outside world, opened on first use and shared by one pass: the CalDAV
calendars, the IMAP mailbox and the SMTP sender.

Nothing here decides or records anything; it turns each connector's failures into the one-sentence
errors of daemon.errors, naming what to check.
"""

from __future__ import annotations

import logging
from types import TracebackType

from connectors.caldav import AuthError, CalDAVError, CalendarConnection, NotFound
from connectors.imap import Mailbox, MailError
from connectors.smtp import SmtpSender
from daemon.config import Config, MailSettings
from daemon.errors import CalendarUnavailable, MailUnavailable

log = logging.getLogger(__name__)


def explain_caldav_error(url: str, exc: CalDAVError) -> str:
    if isinstance(exc, AuthError):
        return (f"the calendar server refused the username or password for {url} "
                "(check calendar.username and calendar.password_file)")
    if isinstance(exc, NotFound):
        return f"there is no calendar at {url} (check calendar.url)"
    return f"cannot use the calendar at {url}: {exc}"


def explain_mail_error(mail: MailSettings, exc: Exception) -> str:
    # the connector's sentences already name the server and the keys to check
    return str(exc) or f"cannot use the mailbox on {mail.imap_host}:{mail.imap_port}"


class Connections:
    """One freelancer's servers. Close it (or use it as a context manager) when done."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._calendars: dict[str, CalendarConnection] = {}
        self._mailbox: Mailbox | None = None
        self._sender: SmtpSender | None = None

    def __enter__(self) -> Connections:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.close_sender()
        self.drop_mailbox()
        for connection in self._calendars.values():
            connection.close()
        self._calendars.clear()

    # -- calendars --

    @property
    def calendar_urls(self) -> list[str]:
        return [self.config.calendar.url, *self.config.calendar.busy_urls]

    def calendar(self, url: str) -> CalendarConnection:
        if url not in self._calendars:
            cal = self.config.calendar
            self._calendars[url] = CalendarConnection(url, cal.username, cal.password)
        return self._calendars[url]

    def unavailable(self, url: str, exc: CalDAVError) -> CalendarUnavailable:
        return CalendarUnavailable(explain_caldav_error(url, exc))

    # -- mail --

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

    def sender(self) -> SmtpSender:
        """The SMTP connection, opened on first use and reused for a whole pass."""
        mail = self.config.mail
        if mail is None:
            raise MailUnavailable("the [mail] section is missing from the configuration")
        if self._sender is None:
            self._sender = SmtpSender(mail.smtp_host, mail.smtp_port, mail.smtp_security,
                                      mail.username, mail.password)
        return self._sender

    def close_sender(self) -> None:
        if self._sender is not None:
            try:
                self._sender.close()
            finally:
                self._sender = None
