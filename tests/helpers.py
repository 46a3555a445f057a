"""Helpers for the end-to-end tests: a freelancer's configuration, dates, events, the command."""

from __future__ import annotations

import subprocess
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from connectors import ical
from rules.busy import busy_intervals
from rules.model import BusyInterval

ZONE = ZoneInfo("America/Toronto")
JULIE = "julie@example.org"


def next_weekday(weekday: int, *, after_days: int = 3, zone: ZoneInfo = ZONE) -> date:
    """The first date with that weekday (0 = Monday) at least `after_days` from today."""
    day = datetime.now(zone).date() + timedelta(days=after_days)
    while day.weekday() != weekday:
        day += timedelta(days=1)
    return day


def write_config(folder: Path, *, calendar_url: str, mail: object | None = None,
                 extra: str = "", closed: list[str] | None = None, language: str = "fr",
                 mode: str = "send", busy_urls: list[str] | None = None,
                 poll_seconds: int = 60) -> Path:
    """A complete configuration for Julie (Mon/Tue/Thu 09-12, 13-17, Toronto)."""
    folder.mkdir(parents=True, exist_ok=True)
    secret = folder / "caldav-password"
    secret.write_text("secret\n")
    secret.chmod(0o600)
    closed_list = ", ".join(f'"{c}"' for c in (closed or []))
    busy = ", ".join(f'"{u}"' for u in (busy_urls or []))
    text = f"""
[freelancer]
name = "Julie Tremblay"
email = "{JULIE}"
aliases = ["contact@julie.example"]
timezone = "America/Toronto"
language = "{language}"

[calendar]
url = "{calendar_url}"
username = "julie"
password_file = "{secret}"
busy_urls = [{busy}]
poll_seconds = {poll_seconds}

[hours]
monday    = ["09:00-12:00", "13:00-17:00"]
tuesday   = ["09:00-12:00", "13:00-17:00"]
thursday  = ["09:00-12:00", "13:00-17:00"]
closed = [{closed_list}]

[booking]
duration_minutes = 60
buffer_minutes = 15
min_notice_hours = 24
horizon_days = 21
max_per_day = 4
step_minutes = 30
slots_offered = 5
cluster = true

[terms]
payment = {{ fr = "Le paiement se fait à la fin de chaque séance.", en = "Payment is due at the end of each session." }}
cancellation = {{ fr = "Merci d'annuler 24 heures à l'avance.", en = "Please cancel 24 hours ahead." }}
contact = "julie@example.org"
options = {{ fr = ["Payer en trois versements"], en = ["Pay in three instalments"] }}

[[services]]
name = {{ fr = "Massage, 60 minutes", en = "Massage, 60 minutes" }}
minutes = 60
price = "95 $"

[clients]
block = ["*@spam.example"]
review = ["boss@bigcorp.example"]

[daemon]
state_dir = "{folder / 'state'}"
log_level = "info"
"""
    if mail is not None:
        account = mail
        mail_secret = folder / "mail-password"
        mail_secret.write_text(account.password + "\n")
        mail_secret.chmod(0o600)
        text += f"""
[mail]
imap_host = "127.0.0.1"
imap_port = {account.imap_port}
imap_security = "none"
smtp_host = "127.0.0.1"
smtp_port = {account.smtp_port}
smtp_security = "none"
username = "{account.address}"
password_file = "{mail_secret}"
inbox = "INBOX"
sent_folder = "Sent"
drafts_folder = "Drafts"
mode = "{mode}"
"""
    path = folder / "frontdesk.toml"
    path.write_text(text + extra)
    return path


def stamp(when: datetime) -> str:
    return when.astimezone(ZoneInfo("UTC")).strftime("%Y%m%dT%H%M%SZ")


def local(day: date, hhmm: str) -> str:
    return f"{day:%Y%m%d}T{hhmm.replace(':', '')}00"


def invitation(summary: str, start: str, end: str, *, uid: str | None = None,
               organizer: str = "bob@example.com", partstat: str = "NEEDS-ACTION",
               tzid: str | None = "America/Toronto", sequence: int = 0, extra: str = "",
               attendee: str = JULIE, status: str = "", rrule: str = "",
               components: str = "") -> tuple[str, bytes]:
    """(uid, ICS bytes) of an invitation to Julie, as a calendar app stores it."""
    uid = uid or f"{uuid.uuid4()}@example.com"
    if tzid is None:
        dt = f"DTSTART:{start}\r\nDTEND:{end}"
    else:
        dt = f"DTSTART;TZID={tzid}:{start}\r\nDTEND;TZID={tzid}:{end}"
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Example Corp//Calendar//EN",
        "BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20261101T120000Z", dt, f"SUMMARY:{summary}",
        f"SEQUENCE:{sequence}", f"ORGANIZER;CN=Bob:mailto:{organizer}",
        f"ATTENDEE;CN=Bob;PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:{organizer}",
        f"ATTENDEE;CN=Julie;PARTSTAT={partstat};ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:{attendee}",
    ]
    if status:
        lines.append(f"STATUS:{status}")
    if rrule:
        lines.append(f"RRULE:{rrule}")
    if extra:
        lines.extend(extra.strip().splitlines())
    lines.append("END:VEVENT")
    if components:
        lines.extend(components.strip().splitlines())
    lines.append("END:VCALENDAR")
    return uid, ("\r\n".join(lines) + "\r\n").encode()


def run(frontdesk_bin: str, config: Path, *args: str, env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([frontdesk_bin, "--config", str(config), *args], capture_output=True,
                          text=True, env=env, timeout=timeout)


# Outlook's VTIMEZONE for its Windows name "Eastern Standard Time" (invitations from Exchange)
EASTERN_WINDOWS_VTIMEZONE = """BEGIN:VTIMEZONE
TZID:Eastern Standard Time
BEGIN:STANDARD
DTSTART:16010101T020000
TZOFFSETFROM:-0400
TZOFFSETTO:-0500
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=1SU;BYMONTH=11
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:-0500
TZOFFSETTO:-0400
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=2SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE
"""


def busy_of(raw: bytes | str, start: datetime, end: datetime, zone: ZoneInfo,
            me: frozenset[str]) -> list[BusyInterval]:
    """Busy time of one raw object as the mirror reads it: its occurrences, judged by rules."""
    return busy_intervals(ical.occurrences(raw, start, end, zone), me, start, end)
