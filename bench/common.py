"""What the benchmarks in bench/ share: the servers, Julie's calendar and mail, the command, the
table. Run by hand, never by pytest; everything listens on 127.0.0.1 only.

- `Servers`: Radicale (seeded in-process, then served as its own process by default, so that the
  bench process does not share a core or the GIL with it), an IMAP server (Dovecot when installed,
  else pymap) with Julie's mailbox, and a `CountingSink` (the SMTP sink of daemon.demo.mail,
  which also records each SMTP session and which session carried each message).
- `build_calendar`: a large calendar as one VCALENDAR, seeded with ONE PUT to a new collection.
- `client_mail`, `Lmtp`: the mail clients send; delivered into Julie's INBOX over one LMTP session.
- `once`: one `frontdesk once` as a subprocess, timed; `RunProcess`: `frontdesk run` with a
  NOTIFY_SOCKET, as systemd starts it.
- `Table`: every figure printed beside its floor; `write_json`.
"""

from __future__ import annotations

import contextlib
import email.policy
import email.utils
import http.client
import json
import os
import random
import shutil
import signal
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from fixtures.dovecot import Dovecot, imap_server  # noqa: E402
from helpers import JULIE, write_config  # noqa: E402

from daemon.demo.mail import PymapServer, SmtpSink, _Handler  # noqa: E402
from daemon.demo.notify import NotifyListener  # noqa: E402
from daemon.demo.radicale import RadicaleServer  # noqa: E402

HOST = "127.0.0.1"
ZONE = ZoneInfo("America/Toronto")  # Julie's zone in tests/helpers.write_config
CAL_USER, CAL_PASSWORD = "julie", "secret"  # write_config's calendar login
MAIL_PASSWORD = "julie-bench-pass-7"
FRONTDESK = str(REPO / ".venv" / "bin" / "frontdesk")
ORGANIZER = "bob@example.com"


def now_local() -> datetime:
    return datetime.now(ZONE)


# -- the SMTP sink, counting sessions --------------------------------------------------------


class _CountingHandler(_Handler):
    """The sink's handler, plus a record of every EHLO/HELO and of the session of each DATA."""

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname  # what aiosmtpd does itself when there is no hook
        self.sink.note_session(session)  # type: ignore[attr-defined]
        return responses

    async def handle_HELO(self, server: Any, session: Any, envelope: Any, hostname: str) -> str:
        session.host_name = hostname
        self.sink.note_session(session)  # type: ignore[attr-defined]
        return f"250 {server.hostname}"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        self.sink.note_data(session, reply)  # type: ignore[attr-defined]
        return reply


class CountingSink(SmtpSink):
    """SmtpSink that also counts SMTP sessions (one per EHLO/HELO) and, for each accepted
    message, the session it came in (by index into `sessions`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()
        self.sessions: list[tuple[float, Any]] = []  # (monotonic time of EHLO, peer)
        self._session_index: dict[int, int] = {}
        self.data_sessions: list[tuple[float, int]] = []  # (monotonic time, session index)

    def start(self) -> CountingSink:
        super().start()
        # aiosmtpd's Controller builds each connection's SMTP with `self.handler`
        self._controller.handler = _CountingHandler(self)
        return self

    def note_session(self, session: Any) -> None:
        with self._lock:
            self._session_index[id(session)] = len(self.sessions)
            self.sessions.append((time.monotonic(), session.peer))

    def note_data(self, session: Any, reply: str) -> None:
        if not reply.startswith("250"):
            return
        with self._lock:
            self.data_sessions.append((time.monotonic(), self._session_index.get(id(session), -1)))

    def sessions_since(self, since: float) -> int:
        with self._lock:
            return sum(1 for t, _ in self.sessions if t >= since)

    def data_sessions_since(self, since: float) -> set[int]:
        with self._lock:
            return {i for t, i in self.data_sessions if t >= since}

    def mark(self) -> float:
        return time.monotonic()


# -- the calendar proxy: when did the client ask? ----------------------------------------------


@dataclass(frozen=True)
class Request:
    at: float  # time.monotonic() when the request arrived
    method: str
    path: str
    status: int
    sync_collection: bool


class HttpRecorder:
    """A plain HTTP proxy on 127.0.0.1 in front of Radicale recording each request's arrival
    time, so that a benchmark knows when frontdesk's calendar poll ran."""

    _HOP: ClassVar[frozenset[str]] = frozenset(
        {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}
    )

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.seen: list[Request] = []
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _forward(self) -> None:
                recorder._handle(self)

            do_GET = do_PUT = do_DELETE = do_PROPFIND = do_REPORT = _forward
            do_OPTIONS = do_MKCALENDAR = do_PROPPATCH = do_HEAD = do_POST = _forward

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._local = threading.local()

    def start(self) -> HttpRecorder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _upstream(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(HOST, self.upstream_port, timeout=300)
            self._local.conn = conn
        return conn

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        arrived = time.monotonic()
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in self._HOP}
        for attempt in (1, 2):
            conn = self._upstream()
            try:
                conn.request(handler.command, handler.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                break
            except (OSError, http.client.HTTPException):
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    handler.send_error(502)
                    return
        with self._lock:
            self.seen.append(
                Request(
                    arrived,
                    handler.command,
                    handler.path,
                    response.status,
                    b"sync-collection" in body,
                )
            )
        handler.send_response(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in self._HOP:
                handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def requests_since(self, since: float) -> list[Request]:
        with self._lock:
            return [r for r in self.seen if r.at >= since]


# -- the calendar ----------------------------------------------------------------------------

TORONTO_VTIMEZONE = """BEGIN:VTIMEZONE
TZID:America/Toronto
BEGIN:DAYLIGHT
TZOFFSETFROM:-0500
TZOFFSETTO:-0400
TZNAME:EDT
DTSTART:19700308T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:-0400
TZOFFSETTO:-0500
TZNAME:EST
DTSTART:19701101T020000
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU
END:STANDARD
END:VTIMEZONE"""


def utc_stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def build_calendar(size: int, today: date, seed: int = 11) -> bytes:
    """Julie's calendar: `size` events on her working days and hours, nine in ten in the year
    past and the rest in the year ahead (a calendar fills as its days come: a future as full
    as the past would leave no time to offer); 10% weekly series (one in twenty open-ended,
    the rest COUNT or UNTIL), 5% invitations she accepted, 1% in America/Toronto with a
    VTIMEZONE, the rest in UTC (Radicale stores UTC far faster)."""
    rng = random.Random(seed)
    out = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//frontdesk//bench//EN", TORONTO_VTIMEZONE]
    first = today - timedelta(days=365)
    workdays = [
        first + timedelta(days=d)
        for d in range(730)
        if (first + timedelta(days=d)).weekday() in (0, 1, 3)
    ]
    past = [d for d in workdays if d < today]
    ahead = [d for d in workdays if d >= today]
    for i in range(size):
        day = rng.choice(past if rng.random() < 0.9 else ahead)
        if i % 10 == 0 and i % 500:
            # a series that ends (COUNT or UNTIL, at most 26 weeks) began over half a year ago
            day = rng.choice(past[: len(past) // 2])
        start = datetime(
            day.year,
            day.month,
            day.day,
            rng.choice((9, 10, 13, 14, 15)),
            rng.choice((0, 30)),
            tzinfo=ZONE,
        )
        length = timedelta(minutes=rng.choice((30, 45, 60, 90)))
        uid = f"bench-{i}@julie.example"
        event = ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20250101T000000Z"]
        if i % 100 == 50:
            event += [
                f"DTSTART;TZID=America/Toronto:{start:%Y%m%dT%H%M%S}",
                f"DTEND;TZID=America/Toronto:{start + length:%Y%m%dT%H%M%S}",
            ]
        else:
            event += [f"DTSTART:{utc_stamp(start)}", f"DTEND:{utc_stamp(start + length)}"]
        event.append(f"SUMMARY:Client session {i}")
        if i % 10 == 0:
            until = utc_stamp(start + timedelta(weeks=20))
            rules = [
                "FREQ=WEEKLY",
                f"FREQ=WEEKLY;COUNT={rng.randrange(4, 27)}",
                f"FREQ=WEEKLY;UNTIL={until}",
            ]
            # a weekly regular for good is rare (one series in fifty): open-ended series never
            # end, and a year of them would leave a freelancer no free hour at all
            event.append("RRULE:" + (rules[0] if i % 500 == 0 else rules[1 + (i // 10) % 2]))
        if i % 20 == 5:
            event += [
                f"ORGANIZER;CN=Partner:mailto:partner{i}@example.net",
                f"ATTENDEE;PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:partner{i}@example.net",
                f"ATTENDEE;CN=Julie;PARTSTAT=ACCEPTED;RSVP=TRUE:mailto:{JULIE}",
            ]
        event.append("END:VEVENT")
        out += event
    out.append("END:VCALENDAR")
    return ("\r\n".join(out) + "\r\n").encode()


def off_hours_start(i: int, today: date) -> datetime:
    """The i-th off-hours time within the booking horizon: Saturdays and Sundays at various
    hours, and evenings (19:00-21:00) of working days; 3 to 20 days ahead."""
    day = today + timedelta(days=3 + (i * 7) % 17)
    if i % 2 == 0:
        while day.weekday() < 5:
            day += timedelta(days=1)
        hour = 9 + (i // 2) % 8
    else:
        hour = 19 + (i // 2) % 3
    minute = 30 * ((i // 6) % 2)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE)


def invitation(
    uid: str,
    start: datetime,
    *,
    summary: str,
    organizer: str = ORGANIZER,
    zoned: bool = True,
    minutes: int = 60,
) -> bytes:
    """An invitation to Julie (NEEDS-ACTION, RSVP) as the organizer's calendar app sends it."""
    end = start + timedelta(minutes=minutes)
    if zoned:
        when = [
            f"DTSTART;TZID=America/Toronto:{start:%Y%m%dT%H%M%S}",
            f"DTEND;TZID=America/Toronto:{end:%Y%m%dT%H%M%S}",
        ]
        zone = [TORONTO_VTIMEZONE]
    else:
        when = [f"DTSTART:{utc_stamp(start)}", f"DTEND:{utc_stamp(end)}"]
        zone = []
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Example Corp//Calendar//EN",
        *zone,
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTAMP:{utc_stamp(datetime.now(UTC))}",
        *when,
        f"SUMMARY:{summary}",
        "SEQUENCE:0",
        f"ORGANIZER;CN=Bob:mailto:{organizer}",
        f"ATTENDEE;CN=Bob;PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:{organizer}",
        f"ATTENDEE;CN=Julie;PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:{JULIE}",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def partstat_of(ics: bytes, address: str = JULIE) -> set[str]:
    """PARTSTATs of `address` in every VEVENT of a calendar object."""
    from icalendar import Calendar

    found = set()
    for event in Calendar.from_ical(ics).walk("VEVENT"):
        attendees = event.get("ATTENDEE", [])
        if not isinstance(attendees, list):
            attendees = [attendees]
        for attendee in attendees:
            if str(attendee).lower().removeprefix("mailto:") == address:
                found.add(str(attendee.params.get("PARTSTAT", "NEEDS-ACTION")))
    return found


# -- mail from clients -----------------------------------------------------------------------


def client_mail(
    sender: str,
    subject: str,
    body: str,
    *,
    name: str = "",
    to: str = JULIE,
    headers: dict[str, str] | None = None,
    message_id: str | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>" if name else sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id or f"<{uuid.uuid4().hex}@client.example>"
    msg["Date"] = email.utils.format_datetime(now_local())
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    return msg.as_bytes(policy=email.policy.SMTP)


BOOKING_FR = [
    (
        "Rendez-vous",
        "Bonjour, j'aimerais prendre rendez-vous la semaine prochaine. "
        "Avez-vous des disponibilités ? Merci !",
    ),
    ("Disponibilités", "Bonjour, seriez-vous disponible pour une séance bientôt ?"),
]
BOOKING_EN = [
    ("Appointment", "Hello, can I book an appointment next week? Thanks."),
    ("Session?", "Hi, are you available for a session next week?"),
]
OBJECTION = [
    ("Re: rendez-vous", "Bonjour, c'est trop cher pour moi en ce moment."),
    ("Re: session", "Hi, that is too expensive for me right now."),
]
THANKS = [
    ("Merci", "Merci pour la séance d'hier, à bientôt !"),
    ("Thanks", "Thank you for yesterday's session, see you soon."),
]


@dataclass(frozen=True)
class Incoming:
    kind: str  # booking | objection | thanks | newsletter | autoreply | bounce
    sender: str  # the envelope sender ("" for a bounce)
    raw: bytes
    answered: bool  # does frontdesk owe it a reply?


def mixed_message(i: int, kind: str, run_tag: str) -> Incoming:
    """The i-th message of a kind, from a sender no other message uses."""
    who = f"{kind}{i:05d}.{run_tag}"
    if kind == "booking":
        fr = i % 2 == 0
        subject, body = (BOOKING_FR if fr else BOOKING_EN)[i // 2 % 2]
        sender = f"{who}@client.example"
        raw = client_mail(sender, subject, body, name=("Marie" if fr else "John") + f" {i}")
        return Incoming(kind, sender, raw, True)
    if kind == "objection":
        subject, body = OBJECTION[i % 2]
        sender = f"{who}@client.example"
        return Incoming(kind, sender, client_mail(sender, subject, body), True)
    if kind == "thanks":
        subject, body = THANKS[i % 2]
        sender = f"{who}@client.example"
        return Incoming(kind, sender, client_mail(sender, subject, body), False)
    if kind == "newsletter":
        sender = f"{who}@shop.example"
        raw = client_mail(
            sender,
            "Our sale: book now",
            "Book your session now, 20% off!",
            headers={
                "List-Unsubscribe": f"<mailto:unsub-{i}@shop.example>",
                "List-Id": "<news.shop.example>",
                "Precedence": "bulk",
            },
        )
        return Incoming(kind, sender, raw, False)
    if kind == "autoreply":
        sender = f"{who}@client.example"
        raw = client_mail(
            sender,
            "Réponse automatique : rendez-vous",
            "Je suis absent jusqu'au 12. / I am away until the 12th.",
            headers={"Auto-Submitted": "auto-replied"},
        )
        return Incoming(kind, sender, raw, False)
    if kind == "bounce":
        raw = client_mail(
            f"mailer-daemon@mx{i}.client.example",
            "Undelivered Mail Returned to Sender",
            "This is the mail system. Your message could not be delivered: "
            "can I book an appointment next week?",
        )
        return Incoming(kind, "", raw, False)  # Return-Path <>
    raise ValueError(kind)


class Lmtp:
    """One LMTP session into the IMAP server (Dovecot), or APPENDs for pymap: how an MTA delivers
    a backlog into Julie's INBOX (the envelope sender becomes Return-Path)."""

    def __init__(self, server: Dovecot | PymapServer) -> None:
        self.server = server
        self._lmtp: smtplib.LMTP | None = None
        if server.lmtp_port is not None:
            self._lmtp = smtplib.LMTP(HOST, server.lmtp_port, timeout=60)

    def deliver(self, raw: bytes, mail_from: str) -> None:
        if self._lmtp is None:
            self.server.deliver(JULIE, raw, mail_from)
        else:
            self._lmtp.sendmail(mail_from, [JULIE], raw)

    def close(self) -> None:
        if self._lmtp is not None:
            with contextlib.suppress(Exception):
                self._lmtp.quit()


def send_smtp(port: int, raw: bytes, mail_from: str, rcpt: str = JULIE) -> None:
    """A client's mail to the sink (which delivers it into Julie's INBOX before answering 250)."""
    with smtplib.SMTP(HOST, port, timeout=60) as smtp:
        smtp.sendmail(mail_from, [rcpt], raw)


# -- servers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    """What tests/helpers.write_config needs to reach Julie's mailbox."""

    address: str
    password: str
    imap_port: int
    smtp_port: int


class Servers:
    """Radicale with Julie's seeded calendar, an IMAP server with her mailbox, the SMTP sink."""

    def __init__(
        self,
        *,
        events: int,
        imap: str | None = None,
        radicale_mode: str = "process",
        folder: Path | None = None,
        proxy: bool = False,
    ) -> None:
        self.folder = folder or Path(tempfile.mkdtemp(prefix="frontdesk-bench-"))
        self.events = events
        self.imap_kind = imap
        self.radicale_mode = radicale_mode
        self.want_proxy = proxy
        self.radicale: RadicaleServer | None = None
        self.imap: Dovecot | PymapServer | None = None
        self.sink: CountingSink | None = None
        self.proxy: HttpRecorder | None = None
        self.calendar_url = ""
        self.seed_seconds = 0.0

    def __enter__(self) -> Servers:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def start(self) -> None:
        cal_folder = self.folder / "radicale"
        users = {CAL_USER: CAL_PASSWORD}
        today = now_local().date()
        ics = build_calendar(self.events, today) if self.events else None
        # seed in-process (fsync off): one PUT of the whole VCALENDAR to a new collection URL
        with RadicaleServer(cal_folder, users, mode="thread") as seeder:
            started = time.perf_counter()
            seeder.create_calendar(CAL_USER, "work", ics=ics)
            self.seed_seconds = time.perf_counter() - started
        self.radicale = RadicaleServer(cal_folder, users, mode=self.radicale_mode)  # type: ignore[arg-type]
        self.radicale.start()
        self.calendar_url = self.radicale.calendar_url(CAL_USER, "work")
        if self.want_proxy:
            self.proxy = HttpRecorder(self.radicale.port).start()
        # Dovecot's mail user must enter its folder: a folder of its own under /tmp
        kind = self.imap_kind if self.imap_kind in ("dovecot", "pymap") else None
        self.imap = imap_server(None, {JULIE: MAIL_PASSWORD}, kind=kind)  # type: ignore[arg-type]
        self.imap.start()
        self.sink = CountingSink(self.imap, users=self.imap.users).start()

    @property
    def imap_name(self) -> str:
        assert self.imap is not None
        if isinstance(self.imap, Dovecot):
            out = subprocess.run(
                [Dovecot.binary() or "dovecot", "--version"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
            return f"Dovecot {out.split()[0] if out else '?'}"
        return "pymap (maildir)"

    @property
    def frontdesk_calendar_url(self) -> str:
        """The URL frontdesk is given: through the recording proxy when there is one."""
        if self.proxy is None:
            return self.calendar_url
        return self.calendar_url.replace(
            f":{self.radicale.port}/",  # type: ignore[union-attr]
            f":{self.proxy.port}/",
        )

    def account(self) -> Account:
        assert self.imap is not None and self.sink is not None
        return Account(JULIE, MAIL_PASSWORD, self.imap.imap_port, self.sink.port)

    def config(self, *, poll_seconds: int = 60, log_level: str = "info") -> Path:
        path = write_config(
            self.folder / "julie",
            calendar_url=self.frontdesk_calendar_url,
            mail=self.account(),
            poll_seconds=poll_seconds,
            # a benchmark's backlog is far over any honest cap on automatic mail
            extra="\n[limits]\nper_hour = 1000000\nper_day = 1000000\n"
                  "per_sender_per_day = 1000000\ndeclines_per_organizer_per_day = 1000000\n",
        )
        text = path.read_text().replace('log_level = "info"', f'log_level = "{log_level}"')
        path.write_text(text)
        return path

    def close(self) -> None:
        for stop in (
            lambda: self.proxy and self.proxy.stop(),
            lambda: self.sink and self.sink.stop(),
            lambda: self.imap and self.imap.close(),
            lambda: self.radicale and self.radicale.stop(),
        ):
            with contextlib.suppress(Exception):
                stop()
        shutil.rmtree(self.folder, ignore_errors=True)


# -- the command -----------------------------------------------------------------------------


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            (
                "FRONTDESK_",
                "CREDENTIALS_DIRECTORY",
                "STATE_DIRECTORY",
                "JOURNAL_STREAM",
                "NOTIFY_SOCKET",
                "WATCHDOG_",
            )
        )
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@dataclass
class OnceResult:
    seconds: float
    stdout: str
    stderr: str


def once(config: Path, *args: str, timeout: float = 1800) -> OnceResult:
    """One `frontdesk once` as a user runs it; wall time from spawn to exit."""
    started = time.perf_counter()
    result = subprocess.run(
        [FRONTDESK, "--config", str(config), "once", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean_env(),
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0 or "Traceback" in result.stderr:
        raise RuntimeError(f"frontdesk once failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return OnceResult(seconds, result.stdout, result.stderr)


class Notifications(NotifyListener):
    """The shared listener; wait_for answers the monotonic time the line arrived."""

    def wait_for(self, prefix: str, timeout: float = 120,  # type: ignore[override]
                 alive: Callable[[], bool] | None = None) -> float:
        super().wait_for(prefix, timeout, alive)
        found = self.first(prefix)
        assert found is not None
        return found[0]


class RunProcess:
    """`frontdesk run` as a subprocess with a NOTIFY_SOCKET, output to a log file."""

    def __init__(self, config: Path, folder: Path) -> None:
        self.notify = Notifications(folder)
        self.log_path = folder / f"run-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("w")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [FRONTDESK, "--config", str(config), "run"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=clean_env(NOTIFY_SOCKET=self.notify.path),
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def ready(self, timeout: float = 300) -> float:
        """Seconds from spawn to READY=1."""
        return self.notify.wait_for("READY=1", timeout) - self.started

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def stop(self, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)
        finally:
            self._log.close()
            self.notify.close()


# -- figures ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "max": max(values) if values else float("nan"),
        "mean": statistics.fmean(values) if values else float("nan"),
    }


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


@dataclass
class Row:
    name: str
    value: str
    floor: str
    over: str = ""  # the figure against its floor (difference or ratio)
    target: str = ""
    verdict: str = ""


@dataclass
class Table:
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(
        self,
        name: str,
        value: str,
        floor: str,
        over: str = "",
        target: str = "",
        ok: bool | None = None,
    ) -> None:
        verdict = "" if ok is None else ("ok" if ok else "MISSED")
        self.rows.append(Row(name, value, floor, over, target, verdict))

    def print(self) -> None:
        head = Row("measure", "figure", "floor (same run)", "vs floor", "target", "")
        rows = [head, *self.rows]
        widths = [
            max(len(getattr(r, f)) for r in rows)
            for f in ("name", "value", "floor", "over", "target", "verdict")
        ]
        print(f"\n{self.title}")
        for i, row in enumerate(rows):
            cells = [row.name, row.value, row.floor, row.over, row.target, row.verdict]
            print("  " + "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)))
            if i == 0:
                print("  " + "  ".join("-" * w for w in widths))
        for note in self.notes:
            print(f"  * {note}")
        sys.stdout.flush()


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def sec(seconds: float) -> str:
    return f"{seconds:.2f} s"


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "kernel": os.uname().release,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_json(path: str | None, data: dict[str, Any]) -> None:
    if not path:
        return
    Path(path).write_text(json.dumps(data, indent=2, default=str) + "\n")
    print(f"\nJSON written to {path}")


def wait_until(condition: Any, timeout: float, what: str, step: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(step)
    raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")


@contextlib.contextmanager
def timer() -> Iterator[list[float]]:
    box: list[float] = []
    started = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - started)
