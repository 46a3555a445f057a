"""`frontdesk run`: one process, one loop, for as long as systemd keeps it.

The loop waits in IMAP IDLE on the inbox (at most 10 minutes, RFC 2177 says 29) and wakes for new
mail, for the calendar poll that `schedule` says is due, for the watchdog, or for a signal. Every
wake runs the same passes as `once` through the same Service. Faults are retried with backoff up to
5 minutes, each subsystem on its own: a dead mail server does not stop the calendar guard.
Signal handlers only set flags; the loop acts on them.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from types import FrameType

import schedule

from connectors.imap import MailAuthError, MailError
from daemon.app import App
from daemon.config import Config, ConfigError, load_config
from daemon.connections import explain_mail_error
from daemon.errors import MailUnavailable, UserError

log = logging.getLogger("frontdesk.run")

IDLE_MAX = 600.0  # re-issue IDLE at least every 10 minutes (STANDARDS.md section 4)
BACKOFF_FIRST = 2.0
BACKOFF_MAX = 300.0  # the issue: retry with backoff up to 5 minutes
AUTH_BACKOFF = 300.0  # a wrong password will not fix itself quickly: retry slowly
POLL_NO_IDLE = 60.0
STOP_GRACE = 4.0  # SIGTERM must end the process within 5 s


class Notifier:
    """systemd's sd_notify protocol: one datagram to $NOTIFY_SOCKET (nothing when unset).

    The protocol is a single sendto(); a dependency for it would weigh more than the code.
    """

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):
            address = "\0" + address[1:]  # an abstract socket
        self.address = address
        self.sock: socket.socket | None = None
        if address:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        self.watchdog = (float(usec) / 1e6 if usec.isdigit() and (not pid or pid == str(
            os.getpid())) else 0.0)

    def send(self, *lines: str) -> None:
        if self.sock is None:
            return
        try:
            self.sock.sendto("\n".join(lines).encode("utf-8"), self.address)
        except OSError as exc:
            log.debug("sd_notify failed: %s", exc)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()


@dataclass
class Backoff:
    """Exponential backoff for one subsystem, and the one log line per fault."""

    delay: float = 0.0
    next_try: float = 0.0
    failing: bool = False
    said: str = ""  # what was last logged for this fault: the same again goes to debug

    def report(self, what: str, message: str, delay: float) -> None:
        text = f"{what}: {message}"
        if text == self.said:
            log.debug("%s; still failing, retrying in %.0f s", text, delay)
        else:
            log.warning("%s; retrying with backoff (next in %.0f s)", text, delay)
            self.said = text

    def failed(self, now: float, slow: bool = False) -> float:
        self.delay = AUTH_BACKOFF if slow else min(BACKOFF_MAX, max(BACKOFF_FIRST,
                                                                     self.delay * 2))
        self.next_try = now + self.delay
        self.failing = True
        return self.delay

    def succeeded(self) -> bool:
        was = self.failing
        self.delay, self.next_try, self.failing, self.said = 0.0, 0.0, False, ""
        return was

    def ready(self, now: float) -> bool:
        return now >= self.next_try


@dataclass
class Flags:
    stop: threading.Event = field(default_factory=threading.Event)
    reload: threading.Event = field(default_factory=threading.Event)


class Runner:
    def __init__(self, config: Config, *, config_arg: str | None, flags: Flags | None = None,
                 notifier: Notifier | None = None,
                 emit: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.config_arg = config_arg
        self.flags = flags or Flags()
        self.notifier = notifier or Notifier()
        self.emit = emit or (lambda line: log.info("%s", line))
        self.app = App(config)
        self._last_ping = 0.0
        self.calendar_backoff = Backoff()
        self.mail_backoff = Backoff()
        self.calendar_due = True
        self.mail_due = True
        self.ready_sent = False
        self.scheduler = schedule.Scheduler()
        self._schedule()

    def _schedule(self) -> None:
        self.scheduler.clear()
        self.scheduler.every(self.config.calendar.poll_seconds).seconds.do(self._calendar_tick)

    def _calendar_tick(self) -> None:
        self.calendar_due = True

    # -- the loop --

    def run(self) -> int:
        log.info("frontdesk started for %s (calendar %s, %s)",
                 self.config.policy.freelancer.email, self.config.calendar.url,
                 f"inbox {self.config.mail.inbox} on {self.config.mail.imap_host}"
                 if self.config.mail else "no mail")
        try:
            while not self.flags.stop.is_set():
                self.step()
        finally:
            self.notifier.send("STOPPING=1", "STATUS=stopping")
            self.app.close()
            self.notifier.close()
        log.info("frontdesk stopped")
        return 0

    def step(self) -> None:
        if self.flags.reload.is_set():
            self.flags.reload.clear()
            self.reload()
        self.scheduler.run_pending()
        now = time.monotonic()
        calendar_ok = self.calendar_due and self.calendar_backoff.ready(now)
        mail_ok = (self.config.mail is not None and self.mail_due
                   and self.mail_backoff.ready(now))
        if calendar_ok or mail_ok:
            self.pass_once(calendar=calendar_ok, mail=mail_ok)
        self.ping()
        if self.flags.stop.is_set():
            return
        self.wait()

    def pass_once(self, *, calendar: bool, mail: bool) -> None:
        """The same pass as `once` (App.run_pass); what failed is retried with backoff."""
        now = datetime.now(self.config.policy.zone)
        if calendar:
            self.calendar_due = False
        if mail:
            self.mail_due = False
        try:
            report = self.app.run_pass(now, calendar=calendar, mail=mail, emit=self.emit,
                                       should_stop=self.flags.stop.is_set,
                                       heartbeat=self.heartbeat)
        except Exception:
            # a bug: both halves are retried, slowly, and the traceback is logged once
            self.app.connections.drop_mailbox()
            delay = self.calendar_backoff.failed(time.monotonic())
            self.mail_backoff.failed(time.monotonic())
            self.calendar_due = self.mail_due = True
            log.exception("the pass failed; retrying in %.0f s", delay)
            return
        if calendar:
            if report.calendar_error:
                delay = self.calendar_backoff.failed(time.monotonic(), slow=report.calendar_auth)
                self.calendar_due = True
                self.calendar_backoff.report("calendar", report.calendar_error, delay)
            elif self.calendar_backoff.succeeded():
                log.info("calendar: reachable again")
        if mail and self.config.mail is not None:
            if report.mail_error:
                self.mail_due = True
                delay = self.mail_backoff.failed(time.monotonic(), slow=report.mail_auth)
                self.mail_backoff.report("mail", report.mail_error, delay)
            elif report.stopped and not self.flags.stop.is_set():
                self.mail_due = True
                delay = self.mail_backoff.failed(time.monotonic())
                self.mail_backoff.report("mail", report.stopped, delay)
            elif self.mail_backoff.succeeded():
                log.info("mail: reachable again")
        if calendar and not report.calendar_error and self.app.ledger.waiting_count():
            self.mail_due = True  # what waited for a fresh calendar is answered now
        if not self.ready_sent:
            # ready once the first pass is done, whatever failed in it: the service runs and
            # retries; STATUS= and the log say what is unavailable (without READY, systemd
            # would kill a service whose calendar is down at boot, again and again)
            self.ready_sent = True
            self.notifier.send("READY=1")
        self.update_status()

    def heartbeat(self) -> None:
        """Called by the pass between messages and objects: a long pass keeps the watchdog fed."""
        if not self.notifier.watchdog:
            return
        now = time.monotonic()
        if now - self._last_ping >= min(1.0, self.notifier.watchdog / 4):
            self.ping()

    def _mail_failed(self, exc: Exception) -> None:
        self.app.connections.drop_mailbox()
        self.mail_due = True
        cause = exc.__cause__ if isinstance(exc, MailUnavailable) else exc
        slow = isinstance(cause, MailAuthError)
        delay = self.mail_backoff.failed(time.monotonic(), slow=slow)
        message = str(exc)
        if isinstance(exc, MailError) and self.config.mail is not None:
            message = explain_mail_error(self.config.mail, exc)
        self.mail_backoff.report("mail", message, delay)

    def update_status(self) -> None:
        from daemon.status import summary_line

        try:
            line = summary_line(self.app.ledger, self.config)
        except Exception:  # the status line is cosmetic; never let it stop the loop
            log.debug("status line failed", exc_info=True)
            return
        watched = "inbox watched" if self.config.mail is not None and not \
            self.mail_backoff.failing else ("mail unavailable" if self.config.mail else "no mail")
        self.notifier.send(f"STATUS={watched}, {line}")

    def ping(self) -> None:
        if self.notifier.watchdog:
            self._last_ping = time.monotonic()
            self.notifier.send("WATCHDOG=1")

    def wait(self) -> None:
        """Sleep until something is due: IDLE on the inbox when it works, else a plain wait."""
        limit = IDLE_MAX
        idle = self.scheduler.idle_seconds
        if idle is not None:
            limit = min(limit, max(0.0, idle))
        if self.notifier.watchdog:
            limit = min(limit, self.notifier.watchdog / 3)
        now = time.monotonic()
        if self.calendar_due:
            limit = min(limit, max(0.0, self.calendar_backoff.next_try - now))
        if self.config.mail is not None and self.mail_due:
            limit = min(limit, max(0.0, self.mail_backoff.next_try - now))
        if self.config.mail is not None and not self.mail_due and not self.mail_backoff.failing:
            try:
                box = self.app.connections.mailbox()
                if not box.supports_idle():
                    # a server without IDLE (rare): poll the inbox every POLL_NO_IDLE seconds
                    self._sleep(min(limit, POLL_NO_IDLE))
                    self.mail_due = True
                    return
                heard = box.idle_wait(limit, should_stop=self._interrupted)
            except (MailError, MailUnavailable) as exc:
                self._mail_failed(exc)
                return
            # after every wake (and every timeout) a UID SEARCH catches up: IDLE can be silent
            self.mail_due = True
            if heard:
                log.debug("IDLE: new mail")
            return
        self._sleep(limit)

    def _interrupted(self) -> bool:
        return self.flags.stop.is_set() or self.flags.reload.is_set()

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._interrupted():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.flags.stop.wait(min(left, 0.5))

    def reload(self) -> None:
        try:
            config = load_config(self.config_arg)
        except ConfigError as exc:
            log.error("configuration not reloaded, the old one is kept: %s", exc)
            return
        self.notifier.send("RELOADING=1")
        try:
            fresh = App(config)
        except UserError as exc:
            log.error("configuration not reloaded, the old one is kept: %s", exc)
            self.notifier.send("READY=1")
            return
        old = self.app
        self.config = config
        self.app = fresh
        old.close()
        self._schedule()
        self.calendar_due = self.mail_due = True
        log.info("configuration reloaded from %s", config.path)
        self.notifier.send("READY=1")


def install_signals(flags: Flags) -> None:
    def stop(signum: int, frame: FrameType | None) -> None:
        flags.stop.set()
        # a second SIGTERM, or a send stuck beyond the grace period, must not keep us alive
        signal.signal(signal.SIGALRM, lambda s, f: os._exit(0))
        signal.setitimer(signal.ITIMER_REAL, STOP_GRACE)

    def hup(signum: int, frame: FrameType | None) -> None:
        flags.reload.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, hup)


def run(config: Config, config_arg: str | None) -> int:
    # schedule reads the naive local clock; in UTC it cannot jump an hour at a DST change.
    # frontdesk itself only ever uses aware datetimes in the freelancer's zone.
    os.environ["TZ"] = "UTC"
    time.tzset()
    flags = Flags()
    install_signals(flags)
    try:
        runner = Runner(config, config_arg=config_arg, flags=flags)
    except UserError:
        raise
    return runner.run()
