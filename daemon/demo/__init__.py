"""`frontdesk demo`: frontdesk's main job on local servers, with no root and no account.

It starts Radicale (CalDAV), pymap (IMAP) and an aiosmtpd SMTP server on 127.0.0.1, writes a
sample freelancer's configuration (French, working Monday, Tuesday and Thursday, a few
appointments booked), puts an off-hours invitation in the calendar, then runs the real
`frontdesk run` against them and sends it five emails: a French and an English booking request, a
price objection, a newsletter and an out-of-office reply. It shows what frontdesk does as it
happens, then keeps running until Ctrl-C; `frontdesk demo --send "text"` mails it again.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import email.utils
import json
import os
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

from daemon.errors import UserError

ZONE = ZoneInfo("America/Toronto")
JULIE = "julie@example.org"
PASSWORD = "demo-password"
CLIENTS = {
    "marie.gagnon@client.example": "Marie Gagnon",
    "john.smith@client.example": "John Smith",
    "paul.roy@client.example": "Paul Roy",
    "you@client.example": "You",
}
ORGANIZER = "bob@partner.example"


def state_file() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(runtime) / f"frontdesk-demo-{os.getuid()}.json"


def _day(weekday: int, after: int = 3) -> date:
    day = datetime.now(ZONE).date() + timedelta(days=after)
    while day.weekday() != weekday:
        day += timedelta(days=1)
    return day


def _event(uid: str, summary: str, day: date, start: str, end: str, *,
           invite_from: str | None = None) -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//frontdesk demo//EN", "BEGIN:VEVENT",
             f"UID:{uid}", "DTSTAMP:20261101T120000Z",
             f"DTSTART;TZID=America/Toronto:{day:%Y%m%d}T{start.replace(':', '')}00",
             f"DTEND;TZID=America/Toronto:{day:%Y%m%d}T{end.replace(':', '')}00",
             f"SUMMARY:{summary}"]
    if invite_from:
        lines += [f"ORGANIZER;CN=Bob Martin:mailto:{invite_from}",
                  f"ATTENDEE;CN=Bob Martin;PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:{invite_from}",
                  f"ATTENDEE;CN=Julie Tremblay;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{JULIE}",
                  "SEQUENCE:0"]
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return ("\r\n".join(lines) + "\r\n").encode()


def client_email(sender: str, subject: str, body: str, headers: dict[str, str] | None = None
                 ) -> EmailMessage:
    msg = EmailMessage()
    name = CLIENTS.get(sender, "")
    msg["From"] = email.utils.formataddr((name, sender)) if name else sender
    msg["To"] = JULIE
    msg["Subject"] = subject
    msg["Date"] = email.utils.format_datetime(datetime.now(ZONE))
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@{sender.rpartition('@')[2]}>"
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    return msg


def sample_mail() -> list[tuple[str, EmailMessage]]:
    return [
        ("marie.gagnon@client.example", client_email(
            "marie.gagnon@client.example", "Rendez-vous",
            "Bonjour Julie,\n\nJ'aimerais prendre rendez-vous pour un massage la semaine "
            "prochaine. Avez-vous des disponibilités ?\n\nMerci !\nMarie")),
        ("john.smith@client.example", client_email(
            "john.smith@client.example", "Session next week?",
            "Hi Julie,\n\nAre you available for a session next week?\n\nThanks,\nJohn")),
        ("paul.roy@client.example", client_email(
            "paul.roy@client.example", "Re: rendez-vous",
            "Bonjour,\n\nMerci pour votre réponse, mais c'est un peu trop cher pour moi en ce "
            "moment.\n\nPaul")),
        ("news@deals.example", client_email(
            "news@deals.example", "Black Friday: -40% on massage oils",
            "Book your order now!", {"List-Unsubscribe": "<mailto:unsub@deals.example>",
                                     "Precedence": "bulk"})),
        ("bob@partner.example", client_email(
            "bob@partner.example", "Réponse automatique : Rendez-vous",
            "Je suis absent du bureau jusqu'au 2 décembre.",
            {"Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All"})),
    ]


def config_text(folder: Path, calendar_url: str, imap_port: int, smtp_port: int) -> str:
    secret = folder / "password"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    return f"""# The demo freelancer: a massage therapist in Toronto who answers in French.
[freelancer]
name = "Julie Tremblay"
email = "{JULIE}"
timezone = "America/Toronto"
language = "fr"

[calendar]
url = "{calendar_url}"
username = "julie"
password_file = "{secret}"
poll_seconds = 5

[mail]
imap_host = "127.0.0.1"
imap_port = {imap_port}
imap_security = "none"
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
smtp_security = "none"
username = "{JULIE}"
password_file = "{secret}"
sent_folder = "Sent"
drafts_folder = "Drafts"
mode = "send"

[hours]
monday   = ["09:00-12:00", "13:00-17:00"]
tuesday  = ["09:00-12:00", "13:00-17:00"]
thursday = ["09:00-12:00", "13:00-17:00"]

[booking]
duration_minutes = 60
buffer_minutes = 15
min_notice_hours = 24
horizon_days = 14
max_per_day = 4
slots_offered = 4

[terms]
payment = {{ fr = "Le paiement se fait à la fin de chaque séance, par virement Interac ou en argent comptant.", en = "Payment is due at the end of each session, by e-transfer or cash." }}
cancellation = {{ fr = "Merci d'annuler au moins 24 heures à l'avance ; une annulation tardive est facturée.", en = "Please cancel at least 24 hours ahead; a late cancellation is charged in full." }}
contact = "{JULIE} — je réponds en un jour ouvrable / I answer within one business day."
options = {{ fr = ["Payer en trois versements", "La séance de 30 minutes à 50 $", "Réserver plus tard, quand le moment sera venu"], en = ["Pay in three instalments", "The 30-minute session at 50 $", "Book later, when the time is right for you"] }}

[[services]]
name = {{ fr = "Massage, 60 minutes", en = "Massage, 60 minutes" }}
minutes = 60
price = "95 $"

[[services]]
name = {{ fr = "Massage, 30 minutes", en = "Massage, 30 minutes" }}
minutes = 30
price = "50 $"

[daemon]
state_dir = "{folder / 'state'}"
"""


class Console:
    """What the person sees: short headed blocks, printed from several threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def say(self, text: str = "") -> None:
        with self.lock:
            print(text, flush=True)

    def block(self, title: str, body: str) -> None:
        with self.lock:
            print(f"\n── {title} " + "─" * max(3, 70 - len(title)), flush=True)
            print(textwrap.indent(body.rstrip(), "   "), flush=True)


def _frontdesk_command() -> list[str]:
    exe = Path(sys.argv[0])
    if exe.name == "frontdesk" and exe.exists():
        return [str(exe)]
    found = shutil.which("frontdesk")
    return [found] if found else [sys.executable, "-m", "daemon.cli"]


def _reply_text(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    text = part.get_content() if part is not None else ""
    return f"To: {msg['To']}\nSubject: {msg['Subject']}\n\n{text}"


def run_demo(*, wait: bool = True, timeout: float = 60.0) -> int:
    # started from a shell as a background job, SIGINT is ignored; Ctrl-C must stop the demo
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with contextlib.suppress(AttributeError, ValueError):
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    try:
        from daemon.demo.mail import PymapServer, SmtpSink
        from daemon.demo.notify import NotifyListener
        from daemon.demo.radicale import RadicaleServer
    except ImportError as exc:  # pragma: no cover - only without the demo extras
        raise UserError(f"the demo needs its servers: pip install 'frontdesk[demo]' ({exc})"
                        ) from None
    for module in ("radicale", "aiosmtpd", "pymap"):
        if __import__("importlib").util.find_spec(module) is None:
            raise UserError(f"the demo needs {module}: pip install 'frontdesk[demo]'")
    console = Console()
    folder = Path(tempfile.mkdtemp(prefix="frontdesk-demo-"))
    stack = contextlib.ExitStack()
    stack.callback(shutil.rmtree, folder, ignore_errors=True)
    users = {JULIE: PASSWORD, **{c: PASSWORD for c in CLIENTS}, ORGANIZER: PASSWORD}
    try:
        console.say("frontdesk demo: starting a calendar server, a mail server and an SMTP "
                    "server on 127.0.0.1 ...")
        radicale = stack.enter_context(RadicaleServer(folder / "radicale", {"julie": PASSWORD}))
        imap = stack.enter_context(PymapServer(folder / "imap", users))
        sink = stack.enter_context(SmtpSink(imap, users=users))
        calendar = radicale.create_calendar("julie", "work")
        mon, tue, thu, sat = _day(0), _day(1), _day(3), _day(5)
        booked = [("rdv-1", "Massage — Mme Lavoie", mon, "10:00", "11:00"),
                  ("rdv-2", "Massage — M. Côté", tue, "14:00", "15:00"),
                  ("rdv-3", "Massage — Mme Nguyen", thu, "09:00", "10:00")]
        for uid, summary, day, start, end in booked:
            radicale.put_event(calendar, f"{uid}.ics", _event(uid, summary, day, start, end))
        radicale.put_event(calendar, "invite.ics", _event(
            "weekly-sync@partner.example", "Weekly sync", sat, "10:00", "11:00",
            invite_from=ORGANIZER))
        config = folder / "frontdesk.toml"
        config.write_text(config_text(folder, calendar, imap.imap_port, sink.port))
        console.block("The freelancer", f"Julie Tremblay <{JULIE}>, massage therapist, "
                      "Toronto. Works Monday, Tuesday and Thursday,\n09:00-12:00 and 13:00-17:00; "
                      "answers in French. Already booked:\n" + "\n".join(
                          f"  {d:%a %d %b} {s}-{e}  {t}" for _, t, d, s, e in booked)
                      + f"\nIn her calendar, an invitation from {ORGANIZER}: 'Weekly sync', "
                      f"Saturday {sat:%d %b} 10:00.\nConfiguration: {config}")
        notify = stack.enter_context(NotifyListener(folder))
        env = dict(os.environ, NOTIFY_SOCKET=notify.path, PYTHONUNBUFFERED="1")
        env.pop("JOURNAL_STREAM", None)
        proc = subprocess.Popen([*_frontdesk_command(), "--config", str(config), "run"],
                                stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                                env=env)
        stack.callback(_stop, proc)
        lines: list[str] = []
        threading.Thread(target=_relay, args=(proc, console, lines), daemon=True).start()
        try:
            notify.wait_for("READY=1", 60, alive=lambda: proc.poll() is None)
        except TimeoutError:
            raise UserError("frontdesk run did not become ready; see its log above") from None
        console.say("\nfrontdesk run is up (systemd READY=1). Sending it five emails ...")
        for sender, msg in sample_mail():
            with smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as smtp:
                smtp.send_message(msg, from_addr=sender, to_addrs=[JULIE])
        state_file().write_text(json.dumps({"smtp_port": sink.port, "imap_port": imap.imap_port,
                                            "pid": os.getpid()}))
        stack.callback(lambda: state_file().unlink(missing_ok=True))
        shown = _show_replies(sink, console, expected=4, timeout=timeout)
        ignored = [ln for ln in lines if " ignored " in f" {ln} "]
        console.block("Left alone, and why", "\n".join(ignored) or "(nothing yet)")
        if not wait:
            return 0 if shown >= 4 else 1
        console.say("\nfrontdesk keeps running. Send it another email from a second terminal:\n"
                    "  frontdesk demo --send \"Bonjour, êtes-vous disponible mardi prochain ?\"\n"
                    "Ctrl-C stops the demo and removes everything it made.")
        seen = len(sink.messages)
        while proc.poll() is None:
            time.sleep(0.3)
            seen += _show_new(sink, console, seen)
        return 0
    except KeyboardInterrupt:
        console.say("\nstopping ...")
        return 0
    finally:
        stack.close()


def _is_outgoing(envelope: object) -> bool:
    return getattr(envelope, "mail_from", "").lower() == JULIE


def _show_new(sink: object, console: Console, seen: int) -> int:
    # a snapshot: the sink's list grows while this prints, and what is counted is what was shown
    messages = list(sink.messages)  # type: ignore[attr-defined]
    for envelope in messages[seen:]:
        if _is_outgoing(envelope):
            msg = envelope.message()
            kind = ("decline (iMIP)" if msg.get_content_type() == "multipart/alternative"
                    else "reply")
            console.block(f"frontdesk sent a {kind}", _reply_text(msg))
    return len(messages) - seen


def _show_replies(sink: object, console: Console, *, expected: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        out = [e for e in sink.messages if _is_outgoing(e)]  # type: ignore[attr-defined]
        # counted before showing: a reply arriving in between is shown now, or on the next turn
        seen += _show_new(sink, console, seen)
        if len(out) >= expected:
            time.sleep(1.0)  # let the log lines about ignored mail arrive
            seen += _show_new(sink, console, seen)
            return len(out)
        time.sleep(0.2)
    seen += _show_new(sink, console, seen)
    return len([e for e in sink.messages if _is_outgoing(e)])  # type: ignore[attr-defined]


def _relay(proc: subprocess.Popen[str], console: Console, lines: list[str]) -> None:
    assert proc.stderr is not None
    for raw in proc.stderr:
        line = raw.rstrip("\n")
        # "2026-12-01 14:03:00 UTC INFO text": the date, time, zone and level are the demo's
        text = line.split(" ", 4)[-1] if line[:4].isdigit() else line
        lines.append(text)
        console.say(f"  [frontdesk] {text}")


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def send(text: str, *, sender: str = "you@client.example", subject: str = "Rendez-vous",
         timeout: float = 20.0) -> int:
    """Mail the running demo, then print the reply that comes back to `sender`."""
    try:
        info = json.loads(state_file().read_text())
    except (OSError, ValueError):
        raise UserError("no demo is running (start `frontdesk demo` in another terminal)"
                        ) from None
    if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", sender):
        raise UserError(f"--from {sender!r} is not an email address")
    msg = client_email(sender, subject, text)
    with smtplib.SMTP("127.0.0.1", int(info["smtp_port"]), timeout=10) as smtp:
        smtp.send_message(msg, from_addr=sender, to_addrs=[JULIE])
    print(f"sent to {JULIE} as {sender}; waiting for frontdesk's answer ...")
    for reply in _wait_reply(int(info["imap_port"]), sender, timeout):
        print(_reply_text(reply))
        return 0
    print("no reply came (frontdesk only answers booking requests and price objections; "
          "see the demo's window for why)")
    return 0


def _wait_reply(imap_port: int, address: str, timeout: float) -> Iterator[EmailMessage]:
    """frontdesk's answer to `address`, read from Julie's Sent folder (frontdesk files a copy
    of each reply there): so any address may write to the demo, not only its sample clients."""
    from imapclient import IMAPClient

    deadline = time.monotonic() + timeout
    with IMAPClient("127.0.0.1", port=imap_port, ssl=False, timeout=10) as client:
        client.login(JULIE, PASSWORD)
        client.select_folder("Sent", readonly=True)
        start = set(client.search(["ALL"]))
        while time.monotonic() < deadline:
            fresh = [u for u in client.search(["ALL"]) if u not in start]
            for uid, data in sorted(client.fetch(fresh, ["BODY.PEEK[]"]).items()):
                parsed = email.message_from_bytes(data[b"BODY[]"], policy=email.policy.default)
                assert isinstance(parsed, EmailMessage)
                to = parsed.get("To")
                if to is not None and any(a.addr_spec.lower() == address.lower()
                                          for a in to.addresses):
                    yield parsed
                    return
                start.add(uid)
            time.sleep(0.3)
            client.noop()
