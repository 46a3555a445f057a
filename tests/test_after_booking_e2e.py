"""Issue 13, after the booking, end to end on real servers (Radicale, Dovecot or pymap, an SMTP
sink) through the installed command: cancellations in time and late, moves, the client's
calendar app answering, who may change an appointment, unpaid and new clients, and kill -9
between the calendar change and its email."""

from __future__ import annotations

import email
import email.policy
import os
import re
import uuid
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import icalendar
import pytest
from helpers import JULIE, ZONE, run, write_config
from test_booking_e2e import ask, events, offered, request_part, text_of
from test_inbox_e2e import client_mail, deliver, installed, outgoing, run_ok

pytestmark = pytest.mark.servers


def configure(tmp_path: Path, calendar_url: str, mail_account: object, *, notice: float = 12,
              clients: str = "", booking: str = "") -> Path:
    config = write_config(tmp_path / "julie", calendar_url=calendar_url, mail=mail_account)
    text = config.read_text()
    text = text.replace("[terms]\n", f"[terms]\ncancellation_notice_hours = {notice}\n")
    text = text.replace("[clients]\n", f"[clients]\n{clients}\n")
    text = text.replace("[booking]\n", f"[booking]\n{booking}\n")
    config.write_text(text)
    assert "replied" not in run_ok(config)  # the first start sets the inbox position
    return config


def set_notice(config: Path, hours: float) -> None:
    text = re.sub(r"cancellation_notice_hours = [\d.]+", f"cancellation_notice_hours = {hours}",
                  config.read_text())
    config.write_text(text)


def threaded(msg: EmailMessage, *earlier: str) -> dict[str, str]:
    return {"In-Reply-To": str(msg["Message-ID"]),
            "References": " ".join([*earlier, str(msg["Message-ID"])])}


def book(config: Path, account: object, who: str, request: str, choice: str = "1",
         subject: str = "Rendez-vous") -> tuple[EmailMessage, str, str]:
    """A client books: request, offer, choice; (the confirmation, the event's UID, the
    request's Message-ID)."""
    sink = account.sink  # type: ignore[attr-defined]
    before = len(outgoing(sink, who))
    first = ask(account, who, subject, request)
    out = run_ok(config)
    assert "replied (booking" in out, out
    offer = outgoing(sink, who)[before]
    ask(account, who, f"Re: {subject}", choice, **threaded(offer, first))
    out = run_ok(config)
    assert f"booked for {who}" in out, out
    confirmation = outgoing(sink, who)[-1]
    uid = str(next(iter(request_part(confirmation).walk("VEVENT")))["UID"])
    return confirmation, uid, first


def stored(radicale: object, calendar_url: str, uid: str) -> icalendar.Event:
    (found,) = [e for e in events(radicale, calendar_url) if str(e["UID"]) == uid]
    return found


def calendar_parts(msg: EmailMessage) -> list[icalendar.Calendar]:
    return [icalendar.Calendar.from_ical(p.get_content()) for p in msg.walk()
            if p.get_content_type() == "text/calendar"]


def client_app_answer(sender: str, uid: str, *, partstat: str = "DECLINED",
                      method: str = "REPLY", sequence: int = 0, proposed: str = "",
                      in_reply_to: str = "") -> bytes:
    """What a client's calendar app sends back (Google's shape: one ATTENDEE, METHOD in the
    MIME type and in the calendar)."""
    now = datetime.now(ZONE).astimezone(ZONE)
    times = ""
    if proposed:
        start = datetime.fromisoformat(proposed)
        times = (f"DTSTART;TZID=America/Toronto:{start:%Y%m%dT%H%M%S}\r\n"
                 f"DTEND;TZID=America/Toronto:{start + timedelta(hours=1):%Y%m%dT%H%M%S}\r\n")
    ics = ("BEGIN:VCALENDAR\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\r\n"
           f"VERSION:2.0\r\nMETHOD:{method}\r\nBEGIN:VEVENT\r\n{times}"
           f"DTSTAMP:{now.astimezone().strftime('%Y%m%dT%H%M%SZ')}\r\n"
           f"ORGANIZER;CN=Julie Tremblay:mailto:{JULIE}\r\nUID:{uid}\r\n"
           f"ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT={partstat}:"
           f"mailto:{sender}\r\nSEQUENCE:{sequence}\r\nSTATUS:CONFIRMED\r\n"
           "SUMMARY:Massage\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = JULIE
    msg["Subject"] = f"{'Declined' if partstat == 'DECLINED' else 'Answer'}: Massage"
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@client.example>"
    msg["Date"] = email.utils.format_datetime(now)
    msg["Return-Path"] = f"<{sender}>"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    msg.set_content(f"{sender} has answered {partstat.lower()}.")
    msg.add_alternative(ics, subtype="calendar", params={"method": method})
    msg.add_attachment(ics.encode(), maintype="application", subtype="ics",
                       filename="invite.ics")
    return msg.as_bytes(policy=email.policy.SMTP)


# --- Cancellations ------------------------------------------------------------------------------


def test_french_cancel_in_time_then_book_again_then_cancel_late(
        tmp_path: Path, mail_account: object, radicale: object, calendar_url: str) -> None:
    config = configure(tmp_path, calendar_url, mail_account)
    sink = mail_account.sink  # type: ignore[attr-defined]
    who = "marie@client.example"
    confirmation, uid, first = book(config, mail_account, who,
                                    "Bonjour, j'aimerais prendre rendez-vous svp.")
    offer_text = text_of(outgoing(sink, who)[0])
    assert "Ma façon de travailler" in offer_text  # a first contact gets the block, once
    # in time: the event is cancelled as the organizer does, the client gets a CANCEL
    ask(mail_account, who, "Re: Rendez-vous",
        "Bonjour, finalement je dois annuler mon rendez-vous, désolée.",
        **threaded(confirmation, first))
    out = run_ok(config)
    assert "cancelled the appointment" in out, out
    event = stored(radicale, calendar_url, uid)
    assert str(event["STATUS"]) == "CANCELLED" and int(event["SEQUENCE"]) == 1
    cancel = outgoing(sink, who)[-1]
    (calendar,) = calendar_parts(cancel)
    assert str(calendar["METHOD"]) == "CANCEL"
    (vevent,) = calendar.walk("VEVENT")
    assert str(vevent["UID"]) == uid and int(vevent["SEQUENCE"]) == 1
    assert "annulé" in text_of(cancel) and cancel["In-Reply-To"]
    # the time is free again: a new request the same day gets times, the short reply
    confirmation, uid, first = book(config, mail_account, who,
                                    "Bonjour, je voudrais reprendre un rendez-vous.",
                                    subject="Nouveau rendez-vous")
    assert "Ma façon de travailler" not in text_of(outgoing(sink, who)[-2])
    # late: the freelancer's rule, the event kept and flagged, the freelancer decides
    set_notice(config, 1000)
    start = stored(radicale, calendar_url, uid)["DTSTART"].dt.astimezone(ZONE)
    days = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]
    ask(mail_account, who, "Annulation",
        f"Bonjour, je dois annuler {days[start.weekday()]} {start.day}, désolée.")
    out = run_ok(config)
    assert "replied (cancellation, fr)" in out and "flagged for you: late cancellation" in out, out
    late = outgoing(sink, who)[-1]
    assert "reste donc réservé" in text_of(late) and "Merci d'annuler 24 heures" in text_of(late)
    assert not calendar_parts(late)
    event = stored(radicale, calendar_url, uid)
    assert str(event["STATUS"]) == "CONFIRMED" and int(event.get("SEQUENCE", 0)) == 0
    assert "Annulation tardive (frontdesk)" in event.get("CATEGORIES").to_ical().decode()
    status = run(installed(), config, "status").stdout
    assert "late cancellation" in status, status
    assert run_ok(config).count("replied") == 0  # nothing twice


def test_english_move_in_time_moves_the_event_in_one_step(
        tmp_path: Path, mail_account: object, radicale: object, calendar_url: str) -> None:
    config = configure(tmp_path, calendar_url, mail_account)
    sink = mail_account.sink  # type: ignore[attr-defined]
    who = "john@client.example"
    confirmation, uid, first = book(config, mail_account, who,
                                    "Hi, could I book a massage next week?",
                                    subject="Appointment")
    before = stored(radicale, calendar_url, uid)["DTSTART"].dt
    ask(mail_account, who, "Re: Appointment",
        "Hi Julie, something came up. Can we move my appointment to another day?",
        **threaded(confirmation, first))
    out = run_ok(config)
    assert "replied (reschedule, en)" in out, out
    offer = outgoing(sink, who)[-1]
    assert "stays booked until you choose" in text_of(offer)
    times = offered(offer)
    assert times
    # the old time is still booked while the client chooses
    assert stored(radicale, calendar_url, uid)["DTSTART"].dt == before
    ask(mail_account, who, "Re: Appointment", "Number 1 please.", **threaded(offer, first))
    out = run_ok(config)
    assert "moved the appointment" in out, out
    event = stored(radicale, calendar_url, uid)  # the same UID: moved, not a second event
    assert event["DTSTART"].dt != before and int(event["SEQUENCE"]) == 1
    assert len(events(radicale, calendar_url)) == 1
    moved = outgoing(sink, who)[-1]
    (calendar,) = calendar_parts(moved)
    assert str(calendar["METHOD"]) == "REQUEST"
    (vevent,) = calendar.walk("VEVENT")
    assert str(vevent["UID"]) == uid and int(vevent["SEQUENCE"]) == 1
    assert vevent["DTSTART"].dt == event["DTSTART"].dt
    assert "is moved" in text_of(moved)
    requests = [m for m in outgoing(sink, who) if any(
        str(c.get("METHOD")) == "REQUEST" and int(next(iter(c.walk("VEVENT"))).get(
            "SEQUENCE", 0)) == 1 for c in calendar_parts(m))]
    assert len(requests) == 1
    assert run_ok(config).count("moved") == 0


def test_a_late_move_states_the_rule_and_keeps_the_appointment(
        tmp_path: Path, mail_account: object, radicale: object, calendar_url: str) -> None:
    config = configure(tmp_path, calendar_url, mail_account, notice=1000)
    sink = mail_account.sink  # type: ignore[attr-defined]
    who = "zoe@client.example"
    confirmation, uid, first = book(config, mail_account, who,
                                    "Hello, I would like to book an appointment please.",
                                    subject="Booking")
    ask(mail_account, who, "Re: Booking", "Could we reschedule my appointment to next week?",
        **threaded(confirmation, first))
    out = run_ok(config)
    assert "replied (reschedule, en)" in out and "flagged for you: late move" in out, out
    assert "stays booked for now" in text_of(outgoing(sink, who)[-1])
    event = stored(radicale, calendar_url, uid)
    # the flag is in the freelancer's language (French here), for her calendar app
    assert "Déplacement tardif (frontdesk)" in event.get("CATEGORIES").to_ical().decode()


# --- The client's calendar app answers ----------------------------------------------------------


def test_client_app_accepts_silently_then_declines_which_cancels(
        tmp_path: Path, mail_account: object, radicale: object, calendar_url: str) -> None:
    config = configure(tmp_path, calendar_url, mail_account)
    sink = mail_account.sink  # type: ignore[attr-defined]
    who = "kim@client.example"
    confirmation, uid, _ = book(config, mail_account, who, "Bonjour, un rendez-vous svp ?")
    sent = len(outgoing(sink, who))
    deliver(mail_account.server, client_app_answer(  # type: ignore[attr-defined]
        who, uid, partstat="ACCEPTED", in_reply_to=str(confirmation["Message-ID"])))
    out = run_ok(config)
    assert "marked ACCEPTED" in out, out
    assert len(outgoing(sink, who)) == sent  # no email answers an ACCEPTED
    attendee = stored(radicale, calendar_url, uid)["ATTENDEE"]
    assert attendee.params["PARTSTAT"] == "ACCEPTED"
    deliver(mail_account.server, client_app_answer(  # type: ignore[attr-defined]
        who, uid, partstat="DECLINED"))
    out = run_ok(config)
    assert "cancelled the appointment" in out, out
    assert str(stored(radicale, calendar_url, uid)["STATUS"]) == "CANCELLED"
    (calendar,) = calendar_parts(outgoing(sink, who)[-1])
    assert str(calendar["METHOD"]) == "CANCEL"


def test_a_counter_from_the_client_app_moves_to_the_time_proposed(
        tmp_path: Path, mail_account: object, radicale: object, calendar_url: str) -> None:
    config = configure(tmp_path, calendar_url, mail_account)
    sink = mail_account.sink  # type: ignore[attr-defined]
    who = "leo@client.example"
    _confirmation, uid, _ = book(config, mail_account, who, "Hi, can I book a session?",
                                subject="Session")
    start = stored(radicale, calendar_url, uid)["DTSTART"].dt.astimezone(ZONE)
    proposed = start + timedelta(days=7)  # the same weekday and hour a week later: working time
    deliver(mail_account.server, client_app_answer(  # type: ignore[attr-defined]
        who, uid, method="COUNTER", partstat="TENTATIVE",
        proposed=proposed.replace(tzinfo=None).isoformat()))
    out = run_ok(config)
    assert "moved the appointment" in out, out
    event = stored(radicale, calendar_url, uid)
    assert event["DTSTART"].dt == proposed and int(event["SEQUENCE"]) == 1
    (calendar,) = calendar_parts(outgoing(sink, who)[-1])
    assert str(calendar["METHOD"]) == "REQUEST"


# --- Who may change an appointment, and the freelancer's client rules -------------------------


def test_a_cancel_from_another_address_is_left_for_the_freelancer(
        tmp_path: Path, mail_account: object, radicale: object, calendar_url: str) -> None:
    config = configure(tmp_path, calendar_url, mail_account)
    sink = mail_account.sink  # type: ignore[attr-defined]
    confirmation, uid, first = book(config, mail_account, "ann@client.example",
                                    "Bonjour, je voudrais un rendez-vous.")
    ask(mail_account, "eve@elsewhere.example", "Re: Rendez-vous",
        "Bonjour, je dois annuler le rendez-vous, merci.", **threaded(confirmation, first))
    out = run_ok(config)
    assert "left for you" in out and "only the appointment's client" in out, out
    assert outgoing(sink, "eve@elsewhere.example") == []
    assert str(stored(radicale, calendar_url, uid)["STATUS"]) == "CONFIRMED"
    # nor can a calendar app answer for someone else
    deliver(mail_account.server, client_app_answer(  # type: ignore[attr-defined]
        "eve@elsewhere.example", uid, partstat="DECLINED"))
    assert "left for you" in run_ok(config)
    assert str(stored(radicale, calendar_url, uid)["STATUS"]) == "CONFIRMED"


def test_an_unpaid_client_is_asked_to_settle_first(
        tmp_path: Path, mail_account: object, radicale: object, calendar_url: str) -> None:
    config = configure(tmp_path, calendar_url, mail_account,
                       clients='unpaid = ["bob@client.example"]')
    sink = mail_account.sink  # type: ignore[attr-defined]
    ask(mail_account, "Bob+urgent@client.example", "Booking",
        "Hi, can I book a session next week?")
    out = run_ok(config)
    assert "replied (unpaid, en)" in out, out
    (reply,) = outgoing(sink, "bob+urgent@client.example")
    text = text_of(reply)
    assert "balance to settle" in text and "Payment is due at the end of each session" in text
    assert offered(reply) == [] and events(radicale, calendar_url) == []


def test_a_new_client_is_offered_only_the_new_client_days(
        tmp_path: Path, mail_account: object, radicale: object, calendar_url: str) -> None:
    config = configure(tmp_path, calendar_url, mail_account,
                       booking='new_client_days = ["thursday"]')
    sink = mail_account.sink  # type: ignore[attr-defined]
    who = "new@client.example"
    first = ask(mail_account, who, "Booking", "Hello, could I book an appointment?")
    run_ok(config)
    (offer,) = outgoing(sink, who)
    times = offered(offer)
    assert times and all(t.startswith("Thursday") for t in times), times
    # a Monday named by the client is not for a first appointment: fresh Thursdays instead
    today = datetime.now(ZONE).date()
    monday = today + timedelta(days=(7 - today.weekday()) % 7 or 7)
    ask(mail_account, who, "Re: Booking",
        f"Would Monday {monday:%B} {monday.day} at 10am work instead?", **threaded(offer, first))
    out = run_ok(config)
    assert "booked" not in out, out
    again = outgoing(sink, who)[-1]
    assert offered(again) and all(t.startswith("Thursday") for t in offered(again))
    assert events(radicale, calendar_url) == []


# --- kill -9 between the calendar change and its email ------------------------------------------


@pytest.mark.parametrize("point", ["after-record", "after-change", "before-smtp"])
def test_kill_9_around_a_cancellation_leaves_both_or_finishes_both(
        tmp_path: Path, mail_account: object, radicale: object, calendar_url: str,
        point: str) -> None:
    config = configure(tmp_path, calendar_url, mail_account)
    sink = mail_account.sink  # type: ignore[attr-defined]
    who = "ida@client.example"
    confirmation, uid, first = book(config, mail_account, who, "Bonjour, un rendez-vous svp.")
    ask(mail_account, who, "Re: Rendez-vous", "Je dois annuler mon rendez-vous, désolée.",
        **threaded(confirmation, first))
    crashed = run(installed(), config, "once", env=dict(os.environ, FRONTDESK_CRASH_AT=point))
    assert crashed.returncode == 137, crashed.stderr
    cancels = [m for m in outgoing(sink, who) if any(
        str(c.get("METHOD")) == "CANCEL" for c in calendar_parts(m))]
    status = str(stored(radicale, calendar_url, uid)["STATUS"])
    # never a CANCEL without the change
    assert not cancels or status == "CANCELLED"
    run_ok(config)
    run_ok(config)
    cancels = [m for m in outgoing(sink, who) if any(
        str(c.get("METHOD")) == "CANCEL" for c in calendar_parts(m))]
    assert str(stored(radicale, calendar_url, uid)["STATUS"]) == "CANCELLED"
    assert cancels and len({str(m["Message-ID"]) for m in cancels}) == 1
    event = stored(radicale, calendar_url, uid)
    assert int(event["SEQUENCE"]) == 1  # changed once


@pytest.mark.parametrize("point", ["after-change"])
def test_kill_9_around_a_move_moves_once_with_one_request(
        tmp_path: Path, mail_account: object, radicale: object, calendar_url: str,
        point: str) -> None:
    config = configure(tmp_path, calendar_url, mail_account)
    sink = mail_account.sink  # type: ignore[attr-defined]
    who = "max@client.example"
    confirmation, uid, first = book(config, mail_account, who, "Hi, may I book a session?",
                                    subject="Session")
    before = stored(radicale, calendar_url, uid)["DTSTART"].dt
    ask(mail_account, who, "Re: Session", "Could we reschedule my appointment to next week?",
        **threaded(confirmation, first))
    run_ok(config)
    offer = outgoing(sink, who)[-1]
    ask(mail_account, who, "Re: Session", "2", **threaded(offer, first))
    crashed = run(installed(), config, "once", env=dict(os.environ, FRONTDESK_CRASH_AT=point))
    assert crashed.returncode == 137, crashed.stderr
    run_ok(config)
    run_ok(config)
    event = stored(radicale, calendar_url, uid)
    assert event["DTSTART"].dt != before and int(event["SEQUENCE"]) == 1
    moves = [m for m in outgoing(sink, who) if any(
        int(next(iter(c.walk("VEVENT"))).get("SEQUENCE", 0)) == 1 for c in calendar_parts(m))]
    assert moves and len({str(m["Message-ID"]) for m in moves}) == 1
    assert len(events(radicale, calendar_url)) == 1


def test_a_dry_run_and_explain_say_what_a_cancellation_would_do(
        tmp_path: Path, mail_account: object, radicale: object, calendar_url: str) -> None:
    config = configure(tmp_path, calendar_url, mail_account)
    sink = mail_account.sink  # type: ignore[attr-defined]
    who = "noe@client.example"
    confirmation, uid, first = book(config, mail_account, who, "Bonjour, un rendez-vous svp.")
    sent = len(outgoing(sink, who))
    raw = client_mail(who, "Re: Rendez-vous", "Je dois annuler mon rendez-vous, désolée.",
                      headers=threaded(confirmation, first))
    path = tmp_path / "cancel.eml"
    path.write_bytes(raw)
    explained = run(installed(), config, "explain", str(path))
    assert explained.returncode == 0, explained.stderr
    assert "decision: change the appointment" in explained.stdout, explained.stdout
    assert "would cancel the appointment" in explained.stdout
    assert "METHOD:CANCEL" in explained.stdout
    deliver(mail_account.server, raw)  # type: ignore[attr-defined]
    dry = run_ok(config, "--dry-run")
    assert "would cancel the appointment" in dry, dry
    assert str(stored(radicale, calendar_url, uid)["STATUS"]) == "CONFIRMED"
    assert len(outgoing(sink, who)) == sent
    assert "cancelled the appointment" in run_ok(config)


def test_one_conversation_in_a_day_gets_every_answer_under_a_strict_sender_limit(
        tmp_path: Path, mail_account: object, radicale: object, calendar_url: str) -> None:
    """limits.per_sender_per_day counts conversations: request, choice, a question and a
    cancellation in one thread all get their answer even at 1 a day; a second new
    conversation the same day does not."""
    config = configure(tmp_path, calendar_url, mail_account)
    config.write_text(config.read_text() + "\n[limits]\nper_sender_per_day = 1\n")
    sink = mail_account.sink  # type: ignore[attr-defined]
    who = "eli@client.example"
    confirmation, uid, first = book(config, mail_account, who, "Hello, can I book a session?",
                                    subject="Session")
    ask(mail_account, who, "Re: Session", "Great, thanks. Is there parking nearby?",
        **threaded(confirmation, first))
    assert "left for you" in run_ok(config)
    ask(mail_account, who, "Re: Session", "Sorry, I have to cancel my appointment after all.",
        **threaded(confirmation, first))
    assert "cancelled the appointment" in run_ok(config)
    assert str(stored(radicale, calendar_url, uid)["STATUS"]) == "CANCELLED"
    answered = len(outgoing(sink, who))
    assert answered == 3  # the offer, the confirmation, the cancellation
    ask(mail_account, who, "Another question", "Hello, can I book a second session next week?")
    assert "replied" not in run_ok(config)
    assert len(outgoing(sink, who)) == answered
    assert "limits.per_sender_per_day" in run(installed(), config, "status").stdout
