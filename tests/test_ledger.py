"""The ledger (daemon/ledger.py): its states move only forward, each action is one transaction,
and a database written by frontdesk 0.1 opens and is migrated in place, nothing lost."""

from __future__ import annotations

import shutil
import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from daemon.ledger import (
    SCHEMA_VERSION,
    InvitationDecision,
    InvitationState,
    Ledger,
    LedgerError,
    MailState,
    OfferState,
    Outcome,
    rate_key,
)
from rules.model import Offer, Slot

FIXTURE = Path(__file__).parent / "data" / "ledger" / "schema-1.sqlite3"
KEY = ("uid-1@example.com", "", 0)


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger.open(tmp_path / "state")


def test_a_new_database_is_private_and_knows_its_version(tmp_path: Path) -> None:
    """Issue 9 item 7: the state folder 0700, the database 0600 (it holds every calendar
    object and client address)."""
    with Ledger.open(tmp_path / "state") as opened:
        version = opened.conn.execute("PRAGMA user_version").fetchone()[0]
    assert version == SCHEMA_VERSION
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "state" / "frontdesk.sqlite3").stat().st_mode) == 0o600


def test_schema_1_database_written_by_frontdesk_0_1_is_migrated_nothing_lost(
        tmp_path: Path) -> None:
    """tests/data/ledger/schema-1.sqlite3 was written by frontdesk 0.1 (commit 6399076) over
    real servers: a decline sent, a review, two replies sent, two emails ignored; then two rows
    as 0.1 leaves them when killed mid-send ('data' and 'sending')."""
    state = tmp_path / "state"
    state.mkdir()
    shutil.copy(FIXTURE, state / "frontdesk.sqlite3")
    with Ledger.open(state) as ledger:
        assert ledger.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        sent = ledger.conn.execute("SELECT kind, state FROM outbox ORDER BY kind").fetchall()
        assert sorted(map(tuple, sent)) == sorted([
            ("booking", "sent"), ("booking", "written"), ("imip", "sent"), ("objection", "sent"),
            ("objection", "queued")])
        # the decline's bytes moved to the outbox; the replies' were never kept by 0.1
        decline = ledger.mail(
            "<frontdesk.decline.8a04605e47844bc1f172a8295f8feddd@example.org>")
        assert decline is not None and decline.body and b"METHOD:REPLY" in decline.body
        assert decline.rate_key == "bob@example.com"
        # 0.1's unfinished rows wait for the inbox to plan their reply again (no bytes yet)
        assert ledger.unfinished_mail() == []
        invitations = {i.decision: i for i in ledger.invitations_in(*InvitationState)}
        assert invitations[InvitationDecision.DECLINE].state is InvitationState.DONE
        assert invitations[InvitationDecision.REVIEW].state is InvitationState.DONE
        assert invitations[InvitationDecision.DECLINE].href == "/julie/work/sat.ics"
        outcomes = {m: ledger.handled(f"{m}@client.example") for m in ("m1", "m2", "m3", "m4")}
        assert outcomes["m1"] is not None and outcomes["m1"].outcome is Outcome.REPLIED
        assert outcomes["m2"] is not None and outcomes["m2"].outcome is Outcome.REPLIED
        assert outcomes["m3"] is not None and outcomes["m3"].outcome is Outcome.IGNORED
        assert outcomes["m4"] is not None and outcomes["m4"].outcome is Outcome.IGNORED
        position = ledger.position("INBOX")
        assert position is not None and position.last_uid == 4
        assert ledger.object_count("http://127.0.0.1:58271/julie/work/") == 3
        assert ledger.last_synced() is not None
        # a planned reply with the same Message-ID as 0.1's 'sending' row gets its bytes
        ledger.queue_mail("<fd-00000000000000000000000000000006@example.org>", kind="objection",
                          recipient="tom@client.example", in_reply_to="m6@client.example",
                          body=b"Subject: x\r\n\r\nbody\r\n", draft=False)
        (pending,) = ledger.unfinished_mail()
        assert pending.body and pending.state is MailState.QUEUED
    # opened again: already at the current version, nothing to do
    with Ledger.open(state) as again:
        assert again.mail(pending.message_id) == pending


def test_a_newer_database_is_refused_in_one_sentence(tmp_path: Path) -> None:
    state = tmp_path / "state"
    Ledger.open(state).close()
    conn = sqlite3.connect(state / "frontdesk.sqlite3")
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(LedgerError) as caught:
        Ledger.open(state)
    assert "newer frontdesk" in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(LedgerError):
        Ledger.open_existing(state)


def test_the_newer_database_through_the_installed_command(
        tmp_path: Path, frontdesk_bin: str, calendar_url: str) -> None:
    from helpers import run, write_config

    config = write_config(tmp_path / "julie", calendar_url=calendar_url)
    state = tmp_path / "julie" / "state"
    Ledger.open(state).close()
    conn = sqlite3.connect(state / "frontdesk.sqlite3")
    conn.execute("PRAGMA user_version=99")
    conn.close()
    result = run(frontdesk_bin, config, "once")
    assert result.returncode == 78
    assert "newer frontdesk" in result.stderr and "Traceback" not in result.stderr


# -- the outbox: QUEUED -> FILED -> WRITTEN -> SENT, or DRAFTED, FAILED, CANCELLED ----------


def queue(ledger: Ledger, message_id: str = "<r1@example.org>", *, kind: str = "booking",
          to: str = "Marie+Work@Client.example", draft: bool = False) -> None:
    ledger.queue_mail(message_id, kind=kind, recipient=to, in_reply_to="c1@client.example",
                      body=b"Subject: hi\r\n\r\nbody\r\n", draft=draft)


def test_queued_mail_is_unfinished_with_its_bytes_and_its_rate_key(ledger: Ledger) -> None:
    queue(ledger)
    (mail,) = ledger.unfinished_mail()
    assert mail.state is MailState.QUEUED and mail.body == b"Subject: hi\r\n\r\nbody\r\n"
    assert mail.recipient == "marie+work@client.example"
    assert mail.rate_key == rate_key("MARIE@client.example") == "marie@client.example"


@pytest.mark.parametrize("step", [MailState.FILED, MailState.WRITTEN])
def test_filed_and_written_mail_is_still_unfinished(ledger: Ledger, step: MailState) -> None:
    queue(ledger)
    ledger.set_mail_state("<r1@example.org>", step, attempt=True)
    (mail,) = ledger.unfinished_mail()
    assert mail.state is step and mail.attempts == 1


@pytest.mark.parametrize("final", [MailState.SENT, MailState.DRAFTED, MailState.FAILED,
                                   MailState.CANCELLED])
def test_final_states_leave_the_unfinished_list(ledger: Ledger, final: MailState) -> None:
    queue(ledger)
    ledger.set_mail_state("<r1@example.org>", final, "why")
    assert ledger.unfinished_mail() == []
    mail = ledger.mail("<r1@example.org>")
    assert mail is not None and mail.state is final and mail.state.final


def test_the_same_message_id_queued_again_keeps_the_first(ledger: Ledger) -> None:
    queue(ledger)
    ledger.set_mail_state("<r1@example.org>", MailState.SENT)
    queue(ledger, to="someone.else@example.com")
    mail = ledger.mail("<r1@example.org>")
    assert mail is not None and mail.state is MailState.SENT
    assert mail.recipient == "marie+work@client.example"


def test_limits_count_what_went_out_but_not_cancelled_or_failed(ledger: Ledger) -> None:
    since = datetime.now(UTC) - timedelta(hours=1)
    queue(ledger, "<a@x>", kind="booking")
    queue(ledger, "<b@x>", kind="objection")
    queue(ledger, "<c@x>", kind="imip", to="bob@example.com")
    queue(ledger, "<d@x>", kind="booking", to="marie@client.example")
    ledger.set_mail_state("<d@x>", MailState.CANCELLED)
    key = "marie@client.example"
    assert ledger.sent_count(since) == 3
    assert ledger.sent_count(since, key=key) == 2
    assert ledger.sent_count(since, key=key, kind="booking") == 1
    assert ledger.sent_count(since, exclude_kinds=("imip",)) == 2
    assert ledger.sent_count(datetime.now(UTC) + timedelta(minutes=1)) == 0


def test_a_transaction_is_all_or_nothing(ledger: Ledger) -> None:
    with pytest.raises(RuntimeError), ledger.transaction():
        queue(ledger)
        ledger.record_message("c1@client.example", folder="INBOX", uidvalidity=1, uid=1,
                              sender="marie@client.example", kind="booking",
                              outcome=Outcome.REPLIED, reason="r")
        raise RuntimeError("crash")
    assert ledger.mail("<r1@example.org>") is None
    assert ledger.handled("c1@client.example") is None


# -- the inbox: claims, positions, outcomes ---------------------------------------------------


def test_a_claim_counts_the_times_one_message_was_being_handled(ledger: Ledger) -> None:
    ledger.set_position("INBOX", 7, 10)
    assert ledger.claim("INBOX", 7, 11) == 1
    assert ledger.claim("INBOX", 7, 11) == 2  # a crash while handling it, then again
    assert ledger.claim("INBOX", 7, 12) == 1  # another message starts over
    ledger.record_message("m12", folder="INBOX", uidvalidity=7, uid=12, sender="a@b.example",
                          kind="", outcome=Outcome.IGNORED, reason="r")
    position = ledger.position("INBOX")
    assert position is not None
    assert (position.last_uid, position.handling_uid, position.handling_attempts) == (12, None, 0)


def test_a_waiting_message_is_decided_again_but_a_final_one_is_not(ledger: Ledger) -> None:
    ledger.set_position("INBOX", 7, 0)
    record = {"folder": "INBOX", "uidvalidity": 7, "uid": 1, "sender": "a@b.example",
              "kind": "booking"}
    ledger.record_message("m1", outcome=Outcome.WAITING, reason="calendar", **record)
    assert [m.message_id for m in ledger.waiting_messages("INBOX", 7)] == ["m1"]
    ledger.record_message("m1", outcome=Outcome.REPLIED, reason="answered", **record)
    handled = ledger.handled("m1")
    assert handled is not None and handled.outcome is Outcome.REPLIED
    assert ledger.waiting_messages("INBOX", 7) == []
    ledger.record_message("m1", outcome=Outcome.IGNORED, reason="again?", **record)
    handled = ledger.handled("m1")
    assert handled is not None and handled.outcome is Outcome.REPLIED  # final stays final


def test_a_new_uidvalidity_restarts_the_position(ledger: Ledger) -> None:
    ledger.set_position("INBOX", 7, 50)
    ledger.set_position("INBOX", 7, 20)  # never backwards within one UIDVALIDITY
    position = ledger.position("INBOX")
    assert position is not None and position.last_uid == 50
    ledger.set_position("INBOX", 8, 0)
    position = ledger.position("INBOX")
    assert position is not None and (position.uidvalidity, position.last_uid) == (8, 0)


# -- the Sent folder: correspondents and where they were read up to -----------------------------


def test_correspondents_and_the_sent_position_are_learnt_together(ledger: Ledger) -> None:
    assert ledger.sent_position("Sent") == (0, 0)  # never read: a first scan
    ledger.learn_from_sent("Sent", 7, 40, {"friend@personal.example"})
    assert ledger.sent_position("Sent") == (7, 40)
    assert ledger.is_correspondent("friend@personal.example")
    assert ledger.sent_position("Sent Items") == (0, 0)  # another folder is read from its start
    with pytest.raises(RuntimeError), ledger.transaction():
        ledger.learn_from_sent("Sent", 7, 41, {"other@personal.example"})
        raise RuntimeError("crash")
    assert ledger.sent_position("Sent") == (7, 40)
    assert not ledger.is_correspondent("other@personal.example")
    ledger.learn_from_sent("Sent", 9, 3, ())  # a new UIDVALIDITY, nothing learnt
    assert ledger.sent_position("Sent") == (9, 3)
    ledger.set_fact("sent_position", "{not json")
    assert ledger.sent_position("Sent") == (0, 0)


def test_sent_by_frontdesk_knows_its_own_message_ids(ledger: Ledger) -> None:
    queue(ledger)
    assert ledger.sent_by_frontdesk("<r1@example.org>")
    assert not ledger.sent_by_frontdesk("<someone-else@example.org>")


# -- invitations: QUEUED -> STORED -> DONE, or FAILED; a review is DONE at once -------------


def test_a_decline_moves_queued_stored_done(ledger: Ledger) -> None:
    with ledger.transaction():
        ledger.record_invitation(KEY, InvitationDecision.DECLINE, InvitationState.QUEUED,
                                 reason="Saturday", summary="Sync", organizer="bob@example.com",
                                 message_id="<d1@x>", collection="cal", href="/cal/1.ics")
    assert [i.key for i in ledger.invitations_in(InvitationState.QUEUED)] == [KEY]
    ledger.set_invitation_state(KEY, InvitationState.STORED)
    assert [i.key for i in ledger.invitations_in(InvitationState.STORED)] == [KEY]
    ledger.set_invitation_state(KEY, InvitationState.DONE)
    found = ledger.invitation(KEY)
    assert found is not None and found.state is InvitationState.DONE
    assert found.message_id == "<d1@x>" and found.href == "/cal/1.ics"


def test_a_decline_no_longer_due_is_forgotten(ledger: Ledger) -> None:
    ledger.record_invitation(KEY, InvitationDecision.DECLINE, InvitationState.QUEUED,
                             reason="r", summary="s", organizer="o@example.com")
    ledger.forget_invitation(KEY)
    assert ledger.invitation(KEY) is None


def test_a_declined_by_email_invitation_gets_its_stored_copy_later(ledger: Ledger) -> None:
    ledger.record_invitation(KEY, InvitationDecision.DECLINE, InvitationState.DONE,
                             reason="r", summary="s", organizer="o@example.com",
                             message_id="<d1@x>")
    ledger.set_invitation_stored(KEY, "cal", "/cal/1.ics")
    found = ledger.invitation(KEY)
    assert found is not None and (found.collection, found.href) == ("cal", "/cal/1.ics")
    assert found.state is InvitationState.DONE


def test_a_failed_decline_keeps_its_reason(ledger: Ledger) -> None:
    ledger.record_invitation(KEY, InvitationDecision.DECLINE, InvitationState.FAILED,
                             reason="no address", summary="s", organizer="",
                             detail="no address")
    (failed,) = ledger.failed_invitations(datetime.now(UTC) - timedelta(days=1))
    assert failed.detail == "no address"


def _offer(offer_id: str, client: str, created: datetime, hours: int,
           thread: tuple[str, ...] = ()) -> Offer:
    start = created + timedelta(days=2)
    return Offer(offer_id=offer_id, client=client, client_name="", language="en", service=0,
                 slots=(Slot(start, start + timedelta(hours=1)),), created_at=created,
                 expires_at=created + timedelta(hours=hours), thread=thread)


def test_offers_held_are_the_open_unexpired_ones_and_a_thread_finds_its_offer(
    ledger: Ledger,
) -> None:
    """An expired offer stays open for its own client (and its thread) but holds nothing; a
    Message-ID anywhere in an offer's thread, with or without <>, finds it (latest first)."""
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    ledger.record_offer(_offer("<old@fd>", "a@x.example", now - timedelta(hours=30), 24,
                               ("q1@a",)))
    ledger.record_offer(_offer("<new@fd>", "b@x.example", now - timedelta(hours=1), 24,
                               ("q2@b", "q1@a")))
    ledger.record_offer(_offer("<gone@fd>", "c@x.example", now - timedelta(hours=2), 24))
    ledger.set_offer("<gone@fd>", state=OfferState.BOOKED)
    assert [o.offer_id for o in ledger.held_offers(now)] == ["<new@fd>"]
    assert [o.offer_id for o in ledger.offers(state=OfferState.OPEN)] == ["<old@fd>",
                                                                          "<new@fd>"]
    found = ledger.offer_in_thread(["<old@fd>"])
    assert found is not None and found.offer_id == "<old@fd>"
    found = ledger.offer_in_thread(["nothing@x", "<q1@a>"])
    assert found is not None and found.offer_id == "<new@fd>"  # the latest naming it
    found = ledger.offer_in_thread(["new@fd"])
    assert found is not None and found.offer_id == "<new@fd>"
    assert ledger.offer_in_thread(["", "unknown@x"]) is None
    # read twice, the same record (not parsed again); changed, read anew
    assert ledger.held_offers(now)[0] is ledger.held_offers(now)[0]
    ledger.set_offer("<new@fd>", asked=1)
    assert ledger.held_offers(now)[0].asked == 1


def test_status_counts_the_offers_that_hold_times_not_every_expired_one(tmp_path: Path) -> None:
    from helpers import write_config

    from daemon.config import load_config
    from daemon.status import status_lines

    config = load_config(str(write_config(tmp_path, calendar_url="http://127.0.0.1:9/x/")))
    now = datetime.now(UTC)
    with Ledger.open(config.daemon.state_dir) as opened:
        for i in range(30):  # a month of offers whose day has passed
            opened.record_offer(_offer(f"<old{i}@fd>", f"c{i}@x.example",
                                       now - timedelta(days=31 - i), 24))
        opened.record_offer(_offer("<new@fd>", "new@x.example", now - timedelta(hours=1), 24))
    lines = [line for line in status_lines(config) if line.startswith("open offers:")]
    assert lines == ["open offers:      1, holding 1 time for other clients"]


def test_an_empty_address_finds_no_ones_offers_not_everyones(ledger: Ledger) -> None:
    """A message without a From address must not pick up another client's open offer."""
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    ledger.record_offer(_offer("<a@fd>", "a@x.example", now, 24))
    assert ledger.offers(state=OfferState.OPEN, client="") == []
    assert [o.offer_id for o in ledger.offers(client="A@X.example")] == ["<a@fd>"]
    assert ledger.appointments(client="") == []
