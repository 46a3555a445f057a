"""Issue 9: the fuzzing that found the findings, in the suite (seeded, reproducible, bounded).

Mutated headers, encodings, MIME structures and iCalendar objects go through `explain` and
through a real pass of `frontdesk once` on real servers. Properties: no traceback; no message
blocks the ones after it (every one is handled or set aside); no mail to an address that did
not authenticate (here: the envelope sender); never more automatic mail than the caps.
"""

from __future__ import annotations

import base64
import random
import sqlite3
import uuid
from pathlib import Path

import pytest
from helpers import JULIE, invitation, local, next_weekday, run, write_config
from test_inbox_e2e import installed, run_ok

pytestmark = pytest.mark.servers

SEED = 20261201
MESSAGES = 40
CAP = 12

BODIES = [
    "Bonjour, j'aimerais prendre rendez-vous la semaine prochaine svp.",
    "Hi, are you available for a session next week?",
    "Bonjour, c'est trop cher pour moi.",
    "Merci pour la séance d'hier !",
    "<html><body><p>Big <b>SALE</b> today</p><img src='t.gif' width=1 height=1></body></html>",
    "Le 2 svp",
]
CHARSETS = ["utf-8", "iso-8859-1", "windows-1252", "x-unknown", "utf-7", "bogus\x00", ""]
RULES = ["FREQ=DAILY;BYMONTH=2;BYMONTHDAY=31", "FREQ=WEEKLY;COUNT=3", "FREQ=MINUTELY",
         "FREQ=YEARLY;BYWEEKNO=53;BYDAY=MO", "FREQ=DAILY;INTERVAL=0", "FREQ=HOURLY"]


def mutate_text(rng: random.Random, text: str) -> str:
    choice = rng.randrange(6)
    if choice == 0:
        return text + "\r\n" * rng.randrange(3) + "x" * rng.randrange(0, 3000)
    if choice == 1:
        cut = rng.randrange(len(text) + 1)
        return text[:cut]
    if choice == 2:
        return "=?utf-8?b?" + base64.b64encode(text.encode() + bytes([rng.randrange(256)])
                                                 ).decode() + "?="
    if choice == 3:
        return "".join(ch if rng.random() > 0.1 else chr(rng.randrange(1, 0x2FFF)) for ch in text)
    if choice == 4:
        return text.replace(" ", "\r\n ")
    return text


def calendar(rng: random.Random, sender: str) -> str:
    sat = next_weekday(5)
    events = []
    for i in range(rng.randrange(1, 30)):
        organizer = sender if rng.random() < 0.5 else f"third{i}@victim.example"
        _, ics = invitation(mutate_text(rng, f"Sync {i}") * rng.randrange(1, 3),
                            local(sat, "10:00"), local(sat, "11:00"), organizer=organizer,
                            rrule=rng.choice(RULES) if rng.random() < 0.4 else "",
                            tzid=rng.choice(["America/Toronto", "Mars/Olympus", None]))
        events.append(ics.decode().split("BEGIN:VEVENT", 1)[1].split("END:VEVENT", 1)[0])
    text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\n"
            + "".join(f"BEGIN:VEVENT{e}END:VEVENT\r\n" for e in events) + "END:VCALENDAR\r\n")
    if rng.random() < 0.3:
        text = text[: rng.randrange(len(text))]
    return text


def message(rng: random.Random, i: int) -> tuple[bytes, str, str]:
    """(raw, envelope sender, From address)."""
    sender = f"client{i}@client{rng.randrange(3)}.example"
    envelope = sender if rng.random() < 0.6 else "attacker@evil.example"
    boundary = f"b{uuid.uuid4().hex}"
    charset = rng.choice(CHARSETS)
    headers = [
        f"From: {mutate_text(rng, 'Client')} <{sender}>",
        f"To: {JULIE}",
        f"Subject: {mutate_text(rng, rng.choice(['Rendez-vous', 'Re: offre', 'Hello']))}",
        f"Message-ID: <fuzz-{i}-{uuid.uuid4().hex}@client.example>",
        f"Return-Path: <{envelope}>",
        "MIME-Version: 1.0",
    ]
    if rng.random() < 0.3:
        headers.append(f"Reply-To: victim{i}@victim.example")
    if rng.random() < 0.2:
        headers.append(rng.choice(["Auto-Submitted: auto-replied", "Precedence: bulk",
                                   "List-Id: <x.example>", "X-Autoreply: yes"]))
    body = mutate_text(rng, rng.choice(BODIES))
    shape = rng.randrange(4)
    if shape == 0:
        headers.append(f'Content-Type: text/plain; charset="{charset}"')
        text = "\r\n".join(headers) + "\r\n\r\n" + body
    elif shape == 1:
        headers.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
        text = ("\r\n".join(headers) + f"\r\n\r\n--{boundary}\r\nContent-Type: text/plain; "
                f'charset="{charset}"\r\n\r\n{body}\r\n--{boundary}\r\nContent-Type: '
                f'text/calendar; method=REQUEST\r\n\r\n{calendar(rng, sender)}\r\n'
                f"--{boundary}--\r\n")
    elif shape == 2:
        depth = rng.randrange(1, 40)
        headers.append(f'Content-Type: multipart/mixed; boundary="{boundary}0"')
        parts = "".join(f"--{boundary}{d}\r\nContent-Type: multipart/mixed; "
                        f'boundary="{boundary}{d + 1}"\r\n\r\n' for d in range(depth))
        text = "\r\n".join(headers) + "\r\n\r\n" + parts + body
    else:
        headers.append("Content-Type: text/html; format=flowed; delsp=yes")
        text = "\r\n".join(headers) + "\r\n\r\n" + ("<b>a</b> \r\n" * rng.randrange(1, 4000))
    raw = text.encode("utf-8", "surrogatepass") if rng.random() < 0.8 else \
        text.encode("utf-8", "surrogatepass")[: rng.randrange(50, 5000)]
    if rng.random() < 0.1:
        raw = bytes(b if rng.random() > 0.01 else rng.randrange(256) for b in raw)
    return raw, envelope, sender


@pytest.fixture
def corpus() -> list[tuple[bytes, str, str]]:
    rng = random.Random(SEED)
    return [message(rng, i) for i in range(MESSAGES)]


def test_fuzzed_mail_through_a_real_pass(tmp_path: Path, radicale: object, calendar_url: str,
                                         mail_account: object,
                                         corpus: list[tuple[bytes, str, str]]) -> None:
    config = write_config(tmp_path / "julie", calendar_url=calendar_url, mail=mail_account,
                          extra=f"\n[limits]\nper_hour = {CAP}\nper_day = {CAP}\n")
    run_ok(config)
    server, sink = mail_account.server, mail_account.sink  # type: ignore[attr-defined]
    vouched = set()
    for raw, envelope, sender in corpus:
        server.deliver(JULIE, raw, mail_from=envelope)
        if envelope == sender:
            vouched.add(sender)
    result = run(installed(), config, "once", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr + result.stdout
    # no message blocked the ones after it: the inbox was read to its end
    db = sqlite3.connect(tmp_path / "julie" / "state" / "frontdesk.sqlite3")
    handled = db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    last_uid = db.execute("SELECT last_uid FROM mailboxes").fetchone()[0]
    db.close()
    assert last_uid >= len(corpus) and handled >= len(corpus) - 2  # duplicates by Message-ID
    outgoing = [(e.rcpt_tos, e.content) for e in sink.messages if e.mail_from.lower() == JULIE]
    assert 0 < len(outgoing) <= CAP, result.stdout  # something was answered; never over caps
    for rcpt_tos, _ in outgoing:
        for rcpt in rcpt_tos:
            assert rcpt in vouched, rcpt  # never a victim, never a forged From
    again = run(installed(), config, "once")
    assert again.returncode == 0 and "Traceback" not in again.stderr


def test_fuzzed_mail_through_explain(tmp_path: Path, calendar_url: str, frontdesk_bin: str,
                                     corpus: list[tuple[bytes, str, str]]) -> None:
    config = write_config(tmp_path / "julie", calendar_url=calendar_url)
    for n, (raw, _, _) in enumerate(corpus[:12]):
        path = tmp_path / f"m{n}.eml"
        path.write_bytes(raw)
        result = run(frontdesk_bin, config, "explain", str(path))
        assert result.returncode in (0, 1), result.stderr[-2000:]
        assert "Traceback" not in result.stderr + result.stdout
