"""Issue 12, clients book by replying, end to end on real servers (Radicale, Dovecot or pymap, an
SMTP sink) through the installed command: request -> offer -> reply -> an event in the
freelancer's calendar with the client as attendee -> a confirmation carrying an iMIP REQUEST."""

from __future__ import annotations

import email
import email.policy
import os
import re
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import icalendar
import pytest
from helpers import JULIE, ZONE, invitation, local, run, write_config
from test_inbox_e2e import client_mail, deliver, installed, outgoing, run_ok

pytestmark = pytest.mark.servers


@pytest.fixture
def desk(tmp_path: Path, radicale: object, calendar_url: str, mail_account: object) -> Path:
    config = write_config(tmp_path / "julie", calendar_url=calendar_url, mail=mail_account)
    assert "replied" not in run_ok(config)  # the first start sets the inbox position
    return config


def ask(account: object, sender: str, subject: str, body: str, **headers: str) -> str:
    raw = client_mail(sender, subject, body, headers=headers or None)
    deliver(account.server, raw)  # type: ignore[attr-defined]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    return str(msg["Message-ID"])


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def offered(reply: EmailMessage) -> list[str]:
    return re.findall(r"^\d+\. (.+)$", text_of(reply), flags=re.MULTILINE)


def events(radicale: object, calendar_url: str) -> list[icalendar.Event]:
    found = []
    _, _, body = radicale.request("PROPFIND", calendar_url,  # type: ignore[attr-defined]
                                       headers={"Depth": "1"})
    for href in re.findall(rb"<(?:D:|)href>([^<]+\.ics)</", body):
        raw = radicale.request("GET", calendar_url.split("/julie/")[0]  # type: ignore
                               + href.decode())[2]
        for event in icalendar.Calendar.from_ical(raw).walk("VEVENT"):
            found.append(event)
    return found


def request_part(msg: EmailMessage) -> icalendar.Calendar:
    for part in msg.walk():
        if part.get_content_type() == "text/calendar":
            return icalendar.Calendar.from_ical(part.get_content())
    raise AssertionError("no text/calendar part")


def test_request_offer_choice_by_number_books_and_confirms(
        desk: Path, mail_account: object, radicale: object, calendar_url: str) -> None:
    sink = mail_account.sink  # type: ignore[attr-defined]
    first = ask(mail_account, "marie@client.example", "Rendez-vous",
                "Bonjour, j'aimerais prendre rendez-vous la semaine prochaine svp.")
    assert "replied (booking, fr)" in run_ok(desk)
    (offer,) = outgoing(sink, "marie@client.example")
    times = offered(offer)
    assert len(times) == 5
    assert "Je vous garde ces créneaux jusqu’au" in text_of(offer)
    ask(mail_account, "marie@client.example", "Re: Rendez-vous", "Le 2 svp, merci !",
        **{"In-Reply-To": str(offer["Message-ID"]),
           "References": f"{first} {offer['Message-ID']}"})
    out = run_ok(desk)
    assert "booked for marie@client.example" in out, out
    confirmation = outgoing(sink, "marie@client.example")[-1]
    assert confirmation["In-Reply-To"]
    body = text_of(confirmation)
    assert times[1].split(",")[0] in body  # the day chosen
    assert "Paiement" in body and "Annulation" in body and "répondez" in body
    assert {p.get_content_type() for p in confirmation.walk()} >= {
        "text/plain", "text/calendar", "application/ics"}
    request = request_part(confirmation)
    assert str(request["METHOD"]) == "REQUEST"
    (vevent,) = request.walk("VEVENT")
    assert "marie@client.example" in str(vevent["ATTENDEE"]).lower()
    assert "julie@example.org" in str(vevent["ORGANIZER"]).lower()
    # the freelancer's calendar: the event at exactly that time, the client as attendee
    (stored,) = [e for e in events(radicale, calendar_url) if str(e["UID"]) == str(vevent["UID"])]
    assert stored["DTSTART"].dt == vevent["DTSTART"].dt
    assert str(stored["STATUS"]) == "CONFIRMED"
    assert "Massage" in str(stored["SUMMARY"])
    # the REQUEST imports into another calendar, as the client's app would
    other = radicale.create_calendar("julie", "client-side")  # type: ignore[attr-defined]
    copy = request.to_ical().replace(b"METHOD:REQUEST\r\n", b"")
    assert radicale.put_event(other, "imported.ics", copy)  # type: ignore[attr-defined]
    # nothing twice
    assert run_ok(desk).count("booked") == 0
    assert len(outgoing(sink, "marie@client.example")) == 2


def test_free_text_choice_in_english(desk: Path, mail_account: object) -> None:
    sink = mail_account.sink  # type: ignore[attr-defined]
    first = ask(mail_account, "john@client.example", "Appointment",
                "Hi, could I book a massage next week?")
    run_ok(desk)
    (offer,) = outgoing(sink, "john@client.example")
    third = offered(offer)[2]  # e.g. "Thursday, December 10, 2026, 1:00–2:00 p.m., ..."
    day = third.split(",")[0]
    hour = re.search(r"(\d{1,2}):(\d\d)", third)
    assert hour
    ask(mail_account, "john@client.example", "Re: Appointment",
        f"{day} at {hour.group(1)}:{hour.group(2)} works for me, thanks",
        **{"In-Reply-To": str(offer["Message-ID"]), "References": first})
    assert "booked for john@client.example" in run_ok(desk)
    confirmation = outgoing(sink, "john@client.example")[-1]
    assert third.split(" time")[0].split(",")[0] in text_of(confirmation)


def test_a_time_taken_in_between_gets_fresh_times(
        desk: Path, mail_account: object, radicale: object, calendar_url: str) -> None:
    sink = mail_account.sink  # type: ignore[attr-defined]
    ask(mail_account, "paul@client.example", "Rendez-vous",
        "Bonjour, avez-vous des disponibilités ?")
    run_ok(desk)
    (offer,) = outgoing(sink, "paul@client.example")
    # meanwhile the freelancer fills her next days herself, in her calendar app
    today = datetime.now(ZONE).date()
    for day in (today + timedelta(days=n) for n in range(0, 12)):
        radicale.put_event(calendar_url, f"own-{day}.ics", invitation(  # type: ignore
            "Mine", local(day, "08:00"), local(day, "18:00"), partstat="ACCEPTED",
            organizer=JULIE, attendee="x@example.net")[1])
    ask(mail_account, "paul@client.example", "Re: Rendez-vous", "1",
        **{"In-Reply-To": str(offer["Message-ID"])})
    out = run_ok(desk)
    assert "booked" not in out
    again = outgoing(sink, "paul@client.example")[-1]
    assert "n’est malheureusement plus disponible" in text_of(again)
    assert offered(again) and offered(again)[0] != offered(offer)[0]


def test_an_unclear_answer_is_asked_once_then_left_for_the_freelancer(
        desk: Path, mail_account: object) -> None:
    sink = mail_account.sink  # type: ignore[attr-defined]
    ask(mail_account, "lea@client.example", "RDV", "Bonjour, je voudrais un rendez-vous.")
    run_ok(desk)
    (offer,) = outgoing(sink, "lea@client.example")
    ask(mail_account, "lea@client.example", "Re: RDV", "Celui qui vous arrange le mieux !",
        **{"In-Reply-To": str(offer["Message-ID"])})
    out = run_ok(desk)
    assert "booked" not in out
    asked = outgoing(sink, "lea@client.example")[-1]
    assert "lequel de ceux-ci" in text_of(asked)
    ask(mail_account, "lea@client.example", "Re: RDV", "Comme vous voulez vraiment",
        **{"In-Reply-To": str(asked["Message-ID"])})
    out = run_ok(desk)
    assert "left for you" in out and "booked" not in out
    assert len(outgoing(sink, "lea@client.example")) == 2


@pytest.mark.parametrize("point", ["after-record", "after-event", "before-smtp", "after-smtp"])
def test_kill_9_at_each_step_books_once_and_confirms_with_one_message_id(
        desk: Path, mail_account: object, radicale: object, calendar_url: str,
        point: str) -> None:
    sink = mail_account.sink  # type: ignore[attr-defined]
    ask(mail_account, "kim@client.example", "Rendez-vous", "Bonjour, un rendez-vous svp ?")
    run_ok(desk)
    (offer,) = outgoing(sink, "kim@client.example")
    ask(mail_account, "kim@client.example", "Re: Rendez-vous", "le 1",
        **{"In-Reply-To": str(offer["Message-ID"])})
    crashed = run(installed(), desk, "once", env=dict(os.environ, FRONTDESK_CRASH_AT=point))
    assert crashed.returncode == 137, crashed.stderr
    run_ok(desk)
    run_ok(desk)
    confirmations = outgoing(sink, "kim@client.example")[1:]
    assert confirmations and len({str(m["Message-ID"]) for m in confirmations}) == 1
    uid = str(next(iter(request_part(confirmations[0]).walk("VEVENT")))["UID"])
    assert [str(e["UID"]) for e in events(radicale, calendar_url)].count(uid) == 1


def test_two_clients_one_slot_two_processes_no_double_booking(
        tmp_path: Path, mail_account: object, radicale: object, calendar_url: str) -> None:
    """Holds off, two clients offered the same times both pick the first; two `frontdesk once`
    processes on one state run at once: one appointment, the other client gets fresh times."""
    import subprocess

    config = write_config(tmp_path / "julie", calendar_url=calendar_url, mail=mail_account,
                          extra="")
    config.write_text(config.read_text().replace("[booking]\n", "[booking]\nhold_hours = 0\n"))
    assert "replied" not in run_ok(config)
    sink = mail_account.sink  # type: ignore[attr-defined]
    offers = {}
    for who in ("ann", "bea"):
        ask(mail_account, f"{who}@client.example", "Rendez-vous",
            "Bonjour, je voudrais un rendez-vous.")
    run_ok(config)
    for who in ("ann", "bea"):
        (offers[who],) = outgoing(sink, f"{who}@client.example")
    assert offered(offers["ann"])[0] == offered(offers["bea"])[0]
    for who in ("ann", "bea"):
        ask(mail_account, f"{who}@client.example", "Re: Rendez-vous", "1",
            **{"In-Reply-To": str(offers[who]["Message-ID"])})
    procs = [subprocess.Popen([installed(), "--config", str(config), "once"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    booked = [line for out, _ in outs for line in out.splitlines() if line.startswith("booked")]
    assert len(booked) == 1, outs
    winner = "ann" if "ann@" in booked[0] else "bea"
    loser = "bea" if winner == "ann" else "ann"
    assert "n’est malheureusement plus disponible" in text_of(
        outgoing(sink, f"{loser}@client.example")[-1])
    starts = [e["DTSTART"].dt for e in events(radicale, calendar_url)]
    assert len(starts) == len(set(starts)) == 1


def test_a_dry_run_books_nothing_and_an_expired_offer_still_books_a_free_time(
        tmp_path: Path, mail_account: object, radicale: object, calendar_url: str) -> None:
    config = write_config(tmp_path / "julie", calendar_url=calendar_url, mail=mail_account)
    config.write_text(config.read_text().replace("[booking]\n", "[booking]\nhold_hours = 0\n"))
    run_ok(config)
    sink = mail_account.sink  # type: ignore[attr-defined]
    ask(mail_account, "eve@client.example", "Rendez-vous", "Bonjour, un rendez-vous svp ?")
    run_ok(config)
    (offer,) = outgoing(sink, "eve@client.example")
    assert "Je vous garde" not in text_of(offer)  # holds off: nothing is said about keeping
    ask(mail_account, "eve@client.example", "Re: Rendez-vous", "Le premier svp",
        **{"In-Reply-To": str(offer["Message-ID"])})
    dry = run_ok(config, "--dry-run")
    assert "would book for eve@client.example" in dry
    assert events(radicale, calendar_url) == [] and len(outgoing(sink, "eve@client.example")) == 1
    assert "booked for eve@client.example" in run_ok(config)
    assert len(events(radicale, calendar_url)) == 1
