"""The executor: carries out plans through the ledger, exactly once.

Every plan is first recorded in one transaction (the inbound email's outcome and position, the
invitation's decision, the email to send with its bytes); only then does anything happen outside.
Each step moves a state forward in the ledger, so a crash at any point leaves a state that says
what is left to do, and `resume()` finishes it:

- an email goes QUEUED -> FILED (its copy in Sent) -> WRITTEN (content and final dot written,
  the server's answer not yet read) -> SENT. Before WRITTEN nothing can have been delivered, so
  it is simply sent. At WRITTEN the server may have accepted it: it is sent again with the same
  Message-ID (mail programs show one message for one Message-ID), because a client who never
  gets an answer is worse than one who gets the same answer twice. With `sent_folder = ""` the
  server files what it accepts, and its Sent folder settles the question first.
- a decline goes QUEUED (REPLY recorded) -> STORED (the freelancer's copy says DECLINED, If-Match
  PUT; on 412 fetched and decided again) -> DONE (the REPLY sent).
- a booking: the appointment PENDING (with its event and its confirmation) -> BOOKED (the event
  PUT with If-None-Match) -> the confirmation sent.
- a change to an appointment (a cancellation, a move, the client's PARTSTAT, a flag): QUEUED
  (with its email) -> STORED (the event read back and changed with If-Match, the appointment
  updated in the same transaction) -> its email sent. A restart reads the event first: a change
  the server already holds is not made twice, and the email waits until the calendar says it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from connectors.caldav import CalDAVError, NotFound, PreconditionFailed
from connectors.ical import MalformedObject
from connectors.imap import FolderState, MailError
from connectors.itip import (
    EventFacts,
    cancelled_copy,
    declined_copy,
    event_facts,
    flagged_copy,
    moved_copy,
    partstat_copy,
)
from connectors.smtp import PermanentFailure, SmtpConfigError, TemporaryFailure
from daemon.config import Config
from daemon.connections import Connections
from daemon.errors import MailUnavailable
from daemon.faults import crash_point
from daemon.guard import Guard, describe
from daemon.ledger import (
    FACT_MAIL_SINCE,
    FACT_SCHEDULING,
    AppointmentState,
    Change,
    ChangeKind,
    ChangeState,
    InvitationDecision,
    InvitationState,
    Ledger,
    Mail,
    MailState,
    OfferState,
    Outcome,
    StoredObject,
)
from daemon.mirror import Mirror
from daemon.plan import ChangeEvent, CreateEvent, InvitationPlan, MessagePlan
from rules.invitations import Decline
from rules.invitations import my_attendee as find_my_attendee
from rules.model import BusyInterval, CalendarItem

log = logging.getLogger(__name__)

KEYWORD = "$Frontdesk"
PENDING = "pending"  # an email that is not finished: the next pass tries again
# what became of an invitation's plan
DONE = "done"
DROPPED = "dropped"  # no longer due: the object changed on the server meanwhile
RETRY = "retry"  # the calendar could not be changed yet: judged again next pass


@dataclass(frozen=True)
class Delivery:
    """What became of one email: a final MailState value, or PENDING; `detail` says why."""

    state: str
    detail: str = ""
    repeated: bool = False  # done before (a restart): nothing was done now


class BookingConflict(Exception):
    """Another client's appointment took the time meanwhile (another process, another message
    of this pass): the message is planned again, and gets fresh times."""


class Executor:
    def __init__(self, config: Config, ledger: Ledger, mirror: Mirror, connections: Connections,
                 guard: Guard, *, emit: Callable[[str], None]) -> None:
        self.config = config
        self.policy = config.policy
        self.ledger = ledger
        self.mirror = mirror
        self.connections = connections
        self.guard = guard
        self.emit = emit
        self.folder: FolderState | None = None  # the inbox, while the pass reads it
        self.smtp_fault = ""  # why sending failed in this pass: later emails wait for the next

    # -- inbound email --

    def apply_message(self, plan: MessagePlan, folder: FolderState, now: datetime,
                      busy: Sequence[BusyInterval]) -> Delivery | None:
        """Record and carry out one email's plan; what became of its reply (None: it has
        none). A reply that could not go out yet stays recorded: the next pass sends it."""
        with self.ledger.transaction():
            if plan.booking is not None:
                self._record_booking(plan.booking, plan.conversation)
            for change in plan.changes:
                self._record_change(change, plan.conversation, plan.message_id)
            if plan.mail is not None:
                self.ledger.queue_mail(plan.mail.message_id, kind=plan.mail.kind,
                                       recipient=plan.mail.recipient,
                                       in_reply_to=plan.mail.in_reply_to, body=plan.mail.body,
                                       draft=plan.mail.draft, conversation=plan.conversation)
                if plan.offer is not None:
                    self.ledger.record_offer(plan.offer)
                    self.ledger.add_to_thread(plan.offer.offer_id, [plan.mail.message_id])
            if plan.asked_offer:
                asked = next((o for o in self.ledger.offers()
                              if o.offer_id == plan.asked_offer), None)
                if asked is not None:
                    self.ledger.set_offer(asked.offer_id, asked=asked.asked + 1)
                    self.ledger.add_to_thread(asked.offer_id, [plan.message_id])
            for invitation in plan.invitations:
                self._record_invitation(invitation)
            if plan.record:
                self.ledger.record_message(
                    plan.message_id, folder=folder.name, uidvalidity=folder.uidvalidity,
                    uid=plan.uid, sender=plan.sender, kind=plan.kind, outcome=plan.outcome,
                    reason=plan.reason, flagged=plan.flagged)
            else:
                self.ledger.advance(folder.name, folder.uidvalidity, plan.uid)
        crash_point("after-record")
        for invitation in plan.invitations:
            self._carry_out_invitation(invitation, now, busy)
        delivery: Delivery | None = None
        for change in plan.changes:
            if not self.apply_change(change.change.change_id):
                delivery = Delivery(PENDING, "the calendar could not be changed yet")
                continue
            if change.mail is not None:
                mail = self.ledger.mail(change.mail.message_id)
                if mail is not None:
                    delivery = self.deliver(mail)
                    if delivery.state == MailState.SENT:
                        self.flag_answered(plan.uid)
        if plan.changes and plan.mail is None:
            return delivery
        if plan.booking is not None:
            booked = self.put_event(plan.booking.appointment.uid)
            if not booked:
                return Delivery(PENDING, "the calendar could not be written yet")
            mail = self.ledger.mail(plan.booking.confirmation.message_id)
            if mail is None:
                return None
            delivery = self.deliver(mail)
            if delivery.state == MailState.SENT:
                self.flag_answered(plan.uid)
            return delivery
        if plan.mail is None:
            return None
        mail = self.ledger.mail(plan.mail.message_id)
        if mail is None:
            return None
        delivery = self.deliver(mail)
        if delivery.state == MailState.SENT:
            self.flag_answered(plan.uid)
        return delivery

    def start_reading(self, folder: FolderState, after_uid: int, now: datetime, *,
                      first: bool) -> None:
        """Record where reading `folder` starts (a first start, or a new UIDVALIDITY)."""
        self.ledger.set_position(folder.name, folder.uidvalidity, after_uid)
        if first:
            with self.ledger.transaction():
                self.ledger.set_fact_time(FACT_MAIL_SINCE, now)

    # -- bookings --

    def _record_booking(self, booking: CreateEvent, conversation: str = "") -> None:
        """Inside the message's transaction: the time must still be free of any other
        appointment (another process may have booked it a moment ago)."""
        appointment = booking.appointment
        taken = [a for a in self.ledger.overlapping(appointment.start, appointment.end)
                 if a.uid != appointment.uid]
        if taken:
            raise BookingConflict(f"{appointment.start:%Y-%m-%d %H:%M} was booked meanwhile")
        if self.ledger.appointment(appointment.uid) is None:
            self.ledger.record_appointment(appointment, collection=booking.collection,
                                           href=booking.href, event=booking.event,
                                           message_id=booking.confirmation.message_id)
        self.ledger.queue_mail(booking.confirmation.message_id, kind="confirmation",
                               recipient=booking.confirmation.recipient,
                               in_reply_to=booking.confirmation.in_reply_to,
                               body=booking.confirmation.body, draft=False,
                               conversation=conversation)
        self.ledger.set_offer(booking.offer_id, state=OfferState.BOOKED)
        self.ledger.add_to_thread(booking.offer_id, [booking.confirmation.message_id])

    def put_event(self, uid: str) -> bool:
        """Create a booked appointment's event in the calendar (If-None-Match: a retry after a
        crash never makes two); True once it is there."""
        found = self.ledger.appointment(uid)
        row = self.ledger.appointment_row(uid)
        if found is None or row is None:
            return False
        if found.state != AppointmentState.PENDING:
            return found.state == AppointmentState.BOOKED
        collection, href, event = row["collection"], row["href"], row["event"]
        assert isinstance(collection, str) and isinstance(href, str)
        assert isinstance(event, bytes)
        connection = self.connections.calendar(collection)
        try:
            etag = connection.put(href, event, None)
        except PreconditionFailed:
            # already there: our own PUT before a crash (the href is the appointment's own)
            try:
                existing = connection.get(href)
            except CalDAVError as exc:
                log.warning("could not read back %s: %s", href, exc)
                return False
            if uid.encode() not in existing.raw.replace(b"\r\n ", b""):
                log.error("%s holds another event; the appointment %s is left for you", href,
                          uid)
                self.ledger.set_appointment(uid, flagged="its calendar entry could not be made")
                return False
            etag = existing.etag
            event = existing.raw
        except CalDAVError as exc:
            log.warning("could not put the appointment %s in the calendar yet: %s", uid, exc)
            return False
        crash_point("after-event")
        self.mirror.put_local(collection, href, etag, event)
        if etag is not None:
            self.ledger.mark_judged([(collection, href, etag)])
        self.ledger.set_appointment(uid, state=AppointmentState.BOOKED, etag=etag)
        log.info("appointment %s of %s, %s, is in the calendar", uid, found.client,
                 f"{found.start.astimezone(self.policy.zone):%a %Y-%m-%d %H:%M}")
        return True

    # -- changes to appointments --

    def _record_change(self, event: ChangeEvent, conversation: str, message_id: str) -> None:
        """Inside the message's transaction: a move must land on a time no other appointment
        took meanwhile; the change, its email and the flag are recorded together."""
        change = event.change
        if change.kind is ChangeKind.MOVE and change.start is not None and \
                change.end is not None:
            taken = [a for a in self.ledger.overlapping(change.start, change.end)
                     if a.uid != change.uid]
            if taken:
                raise BookingConflict(f"{change.start:%Y-%m-%d %H:%M} was booked meanwhile")
        self.ledger.record_change(change)
        if event.mail is not None:
            self.ledger.queue_mail(event.mail.message_id, kind=event.mail.kind,
                                   recipient=event.mail.recipient,
                                   in_reply_to=event.mail.in_reply_to, body=event.mail.body,
                                   draft=False, conversation=conversation)
        if event.flag:
            self.ledger.set_appointment(change.uid, flagged=event.flag)
        ids = [message_id] + ([event.mail.message_id] if event.mail is not None else [])
        self.ledger.add_to_appointment(change.uid, ids)
        if change.offer_id:
            self.ledger.set_offer(change.offer_id, state=OfferState.BOOKED)
            self.ledger.add_to_thread(change.offer_id, ids)

    def apply_change(self, change_id: str) -> bool:
        """Make one recorded change in the calendar, once; True when the calendar says it (its
        email may go). The event is read first: what the server already holds (our own PUT
        before a crash) is not made again, and the freelancer's own edits are kept."""
        zone = self.policy.zone
        change = self.ledger.change(change_id, zone)
        if change is None or change.state is ChangeState.FAILED:
            return False
        if change.state is ChangeState.STORED:
            return True
        appointment = self.ledger.appointment(change.uid, zone)
        row = self.ledger.appointment_row(change.uid)
        if appointment is None or row is None:
            self.ledger.fail_change(change, "the appointment is not in frontdesk's records")
            return False
        if appointment.state == AppointmentState.PENDING and not self.put_event(change.uid):
            return False
        collection, href = row["collection"], row["href"]
        assert isinstance(collection, str) and isinstance(href, str)
        connection = self.connections.calendar(collection)
        for _attempt in range(3):
            try:
                remote = connection.get(href)
            except NotFound:
                if change.kind is ChangeKind.CANCEL:
                    # the freelancer deleted it: cancelled all the same, and the client told
                    self.ledger.store_change(change, etag=None, event=b"")
                    return True
                self.ledger.fail_change(change, "its calendar entry was deleted")
                self.emit(f"not done: {change.kind.value} of the appointment {change.uid}: its "
                          "calendar entry was deleted; it is left for you")
                return False
            except CalDAVError as exc:
                log.warning("could not read the appointment %s yet: %s", change.uid, exc)
                return False
            try:
                facts = event_facts(remote.raw, change.uid)
                if facts is None:
                    raise MalformedObject("the calendar entry no longer holds the appointment")
                if _holds(change, facts):
                    changed, etag = remote.raw, remote.etag
                else:
                    changed = _changed(change, remote.raw, facts)
                    etag = connection.put(href, changed, remote.etag)
            except MalformedObject as exc:
                self.ledger.fail_change(change, str(exc))
                self.emit(f"not done: {change.kind.value} of the appointment {change.uid}: "
                          f"{exc}; it is left for you")
                return False
            except PreconditionFailed:
                continue  # changed on the server meanwhile: read it again
            except CalDAVError as exc:
                log.warning("could not change the appointment %s yet: %s", change.uid, exc)
                return False
            crash_point("after-change")
            self.ledger.store_change(change, etag=etag, event=changed)
            self.mirror.put_local(collection, href, etag, changed)
            if etag is not None:
                self.ledger.mark_judged([(collection, href, etag)])
            log.info("appointment %s of %s: %s done in the calendar", change.uid,
                     appointment.client, change.kind.value)
            return True
        log.warning("the appointment %s keeps changing on the server; trying again later",
                    change.uid)
        return False

    def resume_changes(self) -> None:
        """Changes recorded but not yet in the calendar (a crash, a calendar that was down):
        made now; their emails follow (resume_mail)."""
        for change in self.ledger.changes(state=ChangeState.QUEUED):
            self.apply_change(change.change_id)

    def resume_bookings(self) -> None:
        """Appointments recorded whose event is not in the calendar yet (a crash, a calendar
        that was down): put them there; their confirmations follow (resume_mail)."""
        for appointment in self.ledger.appointments(state=AppointmentState.PENDING):
            self.put_event(appointment.uid)

    def flag_answered(self, uid: int) -> None:
        folder = self.folder
        if folder is None:
            return
        flags = ["\\Answered", KEYWORD] if folder.keywords_ok else ["\\Answered"]
        try:
            self.connections.mailbox().add_flags(uid, flags)
        except (MailError, MailUnavailable) as exc:
            log.warning("could not mark UID %d as answered: %s", uid, exc)

    # -- invitations --

    def _record_invitation(self, plan: InvitationPlan) -> None:
        item = plan.item
        if plan.decision is None or plan.verb == "catch up":
            return
        if plan.verb == "review":
            self.ledger.record_invitation(plan.key, InvitationDecision.REVIEW,
                                          InvitationState.DONE, reason=plan.reason,
                                          summary=item.summary, organizer=item.organizer,
                                          collection=_where(plan)[0], href=_where(plan)[1])
            return
        if plan.verb == "fail":
            self.ledger.record_invitation(plan.key, InvitationDecision.DECLINE,
                                          InvitationState.FAILED, reason=plan.reason,
                                          summary=item.summary, organizer=item.organizer,
                                          detail=plan.reason)
            return
        assert plan.mail is not None
        self.ledger.queue_mail(plan.mail.message_id, kind="imip", recipient=plan.mail.recipient,
                               in_reply_to=item.uid, body=plan.mail.body, draft=False)
        state = InvitationState.QUEUED if plan.stored_copy else InvitationState.STORED
        self.ledger.record_invitation(plan.key, InvitationDecision.DECLINE, state,
                                      reason=plan.reason, summary=item.summary,
                                      organizer=item.organizer,
                                      message_id=plan.mail.message_id,
                                      collection=_where(plan)[0], href=_where(plan)[1])

    def apply_invitation(self, plan: InvitationPlan, now: datetime,
                         busy: Sequence[BusyInterval]) -> str:
        """Record and carry out one invitation's plan: DONE, DROPPED (no longer due: the
        object changed meanwhile) or RETRY (the calendar could not be changed yet: the object
        is judged again next pass)."""
        with self.ledger.transaction():
            self._record_invitation(plan)
        return self._carry_out_invitation(plan, now, busy)

    def _carry_out_invitation(self, plan: InvitationPlan, now: datetime,
                              busy: Sequence[BusyInterval]) -> str:
        if plan.notice:
            self.emit(plan.notice)
        if plan.verb == "review":
            self.emit(describe(plan.item, "left for review", plan.reason))
            return DONE
        if plan.verb == "fail":
            self.emit(describe(plan.item, "not declined", plan.reason))
            return DONE
        if plan.verb == "catch up":
            assert plan.stored_copy is not None and plan.decline is not None
            stored = StoredObject(plan.stored_copy.collection, plan.stored_copy.href,
                                  plan.stored_copy.etag, plan.stored_copy.raw)
            try:
                done = self._store_declined(plan.decline, stored, now, busy)
            except CalDAVError as exc:
                log.warning("could not mark %r declined in the calendar yet: %s",
                            plan.item.summary, exc)
                return RETRY
            if done:
                with self.ledger.transaction():
                    self.ledger.set_invitation_stored(plan.key, stored.collection, stored.href)
                log.info("%s", describe(plan.item, "marked declined in the calendar",
                                        "answered by email"))
            return DONE
        if plan.verb != "decline":
            return DONE
        assert plan.mail is not None and plan.decline is not None
        if plan.stored_copy is not None:
            stored = StoredObject(plan.stored_copy.collection, plan.stored_copy.href,
                                  plan.stored_copy.etag, plan.stored_copy.raw)
            step = self._stored_step(plan.key, plan.decline, stored, now, busy)
            if step != DONE:
                return step
        self.emit(describe(plan.item, "declined", plan.reason))
        self._send_decline(plan.key, plan.mail.message_id)
        return DONE

    def _stored_step(self, key: tuple[str, str, int], decision: Decline, stored: StoredObject,
                     now: datetime, busy: Sequence[BusyInterval]) -> str:
        """Change the stored copy: DONE, DROPPED (no longer due: the decline is dropped, its
        REPLY cancelled) or RETRY (the server could not be used)."""
        try:
            done = self._store_declined(decision, stored, now, busy)
        except CalDAVError as exc:
            log.warning("could not decline %r in the calendar yet: %s", decision.item.summary, exc)
            return RETRY
        if not done:
            with self.ledger.transaction():
                invitation = self.ledger.invitation(key)
                if invitation is not None and invitation.message_id:
                    self.ledger.set_mail_state(invitation.message_id, MailState.CANCELLED,
                                               "no longer declined")
                self.ledger.forget_invitation(key)
            return DROPPED
        crash_point("after-put")
        with self.ledger.transaction():
            self.ledger.set_invitation_state(key, InvitationState.STORED)
        return DONE

    def _send_decline(self, key: tuple[str, str, int], message_id: str) -> None:
        mail = self.ledger.mail(message_id)
        if mail is None:
            return
        delivery = self.deliver(mail)
        with self.ledger.transaction():
            if delivery.state in (MailState.SENT, MailState.DRAFTED):
                self.ledger.set_invitation_state(key, InvitationState.DONE)
            elif delivery.state == MailState.FAILED:
                self.ledger.set_invitation_state(key, InvitationState.FAILED, delivery.detail)
                self.emit(f"could not send the decline to {mail.recipient}: {delivery.detail}")

    def _store_declined(self, decision: Decline, stored: StoredObject, now: datetime,
                        busy: Sequence[BusyInterval]) -> bool:
        """PUT the freelancer's copy with their PARTSTAT=DECLINED; False if no longer due."""
        scheduling = self.scheduling(stored.collection)
        addresses = self.policy.freelancer.addresses
        connection = self.connections.calendar(stored.collection)
        current = stored
        for attempt in (1, 2):
            if _declined_already(decision.item, current, self.guard, now, addresses):
                return True  # our own earlier PUT (before a crash) already did it
            new_raw = declined_copy(current.raw, decision.item, addresses,
                                    schedule_agent_client=scheduling)
            try:
                etag = connection.put(current.href, new_raw, current.etag)
            except PreconditionFailed:
                if attempt == 2:
                    raise
                # RFC 4791: someone changed it meanwhile; fetch, decide again, retry once
                fresh = connection.get(current.href)
                self.mirror.put_local(current.collection, current.href, fresh.etag, fresh.raw)
                current = StoredObject(current.collection, current.href, fresh.etag, fresh.raw)
                if _declined_already(decision.item, current, self.guard, now, addresses):
                    return True
                again = self.guard.redecide(decision.item, current, now, busy)
                if again is None:
                    log.info("%r changed on the server meanwhile; no longer declined",
                             decision.item.summary)
                    return False
                decision = again
                continue
            self.mirror.put_local(current.collection, current.href, etag, new_raw)
            if etag is not None:
                self.ledger.mark_judged([(current.collection, current.href, etag)])
            return True
        return False

    def scheduling(self, url: str) -> bool:
        """Does this calendar's server do RFC 6638 scheduling (asked once, then remembered)?"""
        key = FACT_SCHEDULING + url
        known = self.ledger.fact(key)
        if known is None:
            try:
                known = "1" if self.connections.calendar(url).probe().get("scheduling") else "0"
            except CalDAVError as exc:
                raise self.connections.unavailable(url, exc) from exc
            with self.ledger.transaction():
                self.ledger.set_fact(key, known)
        return known == "1"

    # -- resuming after a crash --

    def resume_invitations(self, now: datetime, busy: Sequence[BusyInterval]) -> None:
        """Declines recorded whose stored copy was not changed yet (a crash, a calendar that was
        down): change it now, or drop the decline when it is no longer due. Their REPLYs are
        sent by resume_mail, after this step."""
        addresses = self.policy.freelancer.addresses
        for invitation in self.ledger.invitations_in(InvitationState.QUEUED):
            if invitation.collection is None or invitation.href is None:
                continue
            stored = self.mirror.stored(invitation.collection, invitation.href)
            item = None if stored is None else self.guard.item_in(stored, invitation.key, now)
            if stored is not None and item is not None and _declined_already(
                    item, stored, self.guard, now, addresses):
                # our PUT went through before a crash, its record did not
                with self.ledger.transaction():
                    self.ledger.set_invitation_state(invitation.key, InvitationState.STORED)
                continue
            decision = None
            if stored is not None and item is not None:
                decision = self.guard.redecide(item, stored, now, busy)
            if stored is None or decision is None:
                with self.ledger.transaction():
                    if invitation.message_id:
                        self.ledger.set_mail_state(invitation.message_id, MailState.CANCELLED,
                                                   "no longer declined")
                    self.ledger.forget_invitation(invitation.key)
                continue
            self._stored_step(invitation.key, decision, stored, now, busy)

    def resume_mail(self) -> None:
        """Emails recorded but not finished (a crash, a server that was down): declines whose
        stored copy is done, and replies (their client's message then marked answered)."""
        for invitation in self.ledger.invitations_in(InvitationState.STORED):
            if invitation.message_id:
                self._send_decline(invitation.key, invitation.message_id)
        for mail in self.ledger.unfinished_mail():
            if mail.kind == "imip":
                continue  # a decline: sent above once its calendar step is done
            if mail.kind == "confirmation":
                booked = self.ledger.appointment_of_mail(mail.message_id)
                if booked is not None and booked[1] is not AppointmentState.BOOKED:
                    continue  # the confirmation waits for its event to be in the calendar
            if mail.kind in ("cancelled", "moved"):
                change = self.ledger.change_of_mail(mail.message_id)
                if change is not None and change.state is not ChangeState.STORED:
                    continue  # a CANCEL or a move waits until the calendar says it
            delivery = self.deliver(mail)
            if delivery.state in (MailState.SENT, MailState.DRAFTED) and not delivery.repeated:
                verb = "replied" if delivery.state == MailState.SENT else "drafted a reply"
                self.emit(f"{verb} ({mail.kind}) to {mail.recipient}, finishing what was "
                          "recorded before")
            if delivery.state == MailState.SENT:
                handled = self.ledger.handled(mail.in_reply_to)
                if handled is not None and self.folder is not None and \
                        handled.folder == self.folder.name and \
                        handled.uidvalidity == self.folder.uidvalidity:
                    self.flag_answered(handled.uid)

    # -- sending --

    def deliver(self, mail: Mail) -> Delivery:
        """Send (or draft) one recorded email; safe to call again for the same one."""
        settings = self.config.mail
        if mail.state.final:
            return Delivery(mail.state.value, "already done", repeated=True)
        if settings is None or mail.body is None:
            return Delivery(PENDING, "nothing to send with")
        if mail.draft:
            return self._draft(mail)
        if self.smtp_fault:
            return Delivery(PENDING, self.smtp_fault)
        resent = mail.state is MailState.WRITTEN
        if resent and not settings.sent_folder:
            # the server files what it accepts: its Sent folder answers the question
            found = self._filed("Sent", mail.message_id)
            if found is None:
                return Delivery(PENDING, "cannot look in Sent")
            if found:
                self._set(mail, MailState.SENT, "found in Sent after a restart")
                return Delivery(MailState.SENT.value, "found after restart", repeated=True)
        if settings.sent_folder and mail.state is MailState.QUEUED:
            present: bool | None = False
            if mail.attempts:  # an earlier attempt may have filed it already
                present = self._filed(settings.sent_folder, mail.message_id)
            if present is None:
                return self._pending(mail, f"cannot look in {settings.sent_folder}")
            if not present:
                try:
                    self.connections.mailbox().append(settings.sent_folder, mail.body,
                                                      flags=["\\Seen"])
                except (MailError, MailUnavailable) as exc:
                    log.warning("could not file the reply in %s (%s); will try again",
                                settings.sent_folder, exc)
                    return self._pending(mail, str(exc))
            self._set(mail, MailState.FILED, f"in {settings.sent_folder}")
        crash_point("before-smtp")
        if resent:
            log.info("sending %s to %s again: frontdesk stopped before the server's answer, "
                     "so it may have gone out already (same Message-ID)", mail.message_id,
                     mail.recipient)
        try:
            self.connections.sender().send(
                mail.body, envelope_from=self.policy.freelancer.email,
                recipients=[mail.recipient],
                written=lambda: self._set(mail, MailState.WRITTEN, None, attempt=True))
        except SmtpConfigError as exc:
            # wrong password, no STARTTLS...: a person must fix the settings; every email
            # waits for that rather than failing for good
            self.connections.close_sender()
            log.error("cannot send: %s", exc)
            self.smtp_fault = str(exc)
            return self._pending(mail, str(exc))
        except TemporaryFailure as exc:
            self.connections.close_sender()
            self.smtp_fault = str(exc)
            if exc.maybe_sent:
                log.warning("email to %s may have been sent (%s); it is sent again with the "
                            "same Message-ID on the next pass", mail.recipient, exc)
                return Delivery(PENDING, str(exc))
            log.warning("email to %s not sent yet (%s); will try again", mail.recipient, exc)
            return self._pending(mail, str(exc))
        except PermanentFailure as exc:
            self._set(mail, MailState.FAILED, str(exc))
            log.error("email to %s refused by the SMTP server: %s", mail.recipient, exc)
            if settings.sent_folder:
                log.error("its copy in %s was never delivered", settings.sent_folder)
            return Delivery(MailState.FAILED.value, str(exc))
        crash_point("after-smtp")
        self._set(mail, MailState.SENT, "sent again after a restart" if resent else None)
        return Delivery(MailState.SENT.value)

    def _draft(self, mail: Mail) -> Delivery:
        settings = self.config.mail
        assert settings is not None and mail.body is not None
        folder = settings.drafts_folder
        if mail.attempts:
            found = self._filed(folder, mail.message_id)
            if found is None:
                return Delivery(PENDING, f"cannot look in {folder}")
            if found:
                self._set(mail, MailState.DRAFTED, f"found in {folder} after a restart")
                return Delivery(MailState.DRAFTED.value, "found after restart", repeated=True)
        self._set(mail, mail.state, None, attempt=True)
        try:
            self.connections.mailbox().append(folder, mail.body, flags=["\\Draft", "\\Seen"])
        except (MailError, MailUnavailable) as exc:
            log.warning("could not file the draft in %s (%s); will try again", folder, exc)
            return Delivery(PENDING, str(exc))
        self._set(mail, MailState.DRAFTED, f"in {folder}")
        return Delivery(MailState.DRAFTED.value)

    def _pending(self, mail: Mail, why: str) -> Delivery:
        self._set(mail, mail.state, why, attempt=mail.state is MailState.QUEUED)
        return Delivery(PENDING, why)

    def _set(self, mail: Mail, state: MailState, detail: str | None, *,
             attempt: bool = False) -> None:
        self.ledger.set_mail_state(mail.message_id, state, detail, attempt=attempt)

    def _filed(self, folder: str, message_id: str) -> bool | None:
        """Is it in that folder? None when the folder cannot be searched now (never guess)."""
        try:
            return bool(self.connections.mailbox().find_message_id(folder, message_id))
        except (MailError, MailUnavailable) as exc:
            log.warning("cannot look for %s in %s (%s)", message_id, folder, exc)
            return None


def _where(plan: InvitationPlan) -> tuple[str | None, str | None]:
    copy = plan.stored_copy
    return (copy.collection, copy.href) if copy is not None else (None, None)


def _declined_already(item: CalendarItem, stored: StoredObject, guard: Guard, now: datetime,
                      addresses: frozenset[str]) -> bool:
    """The stored copy already says the freelancer DECLINED this very revision."""
    key = (item.uid, item.recurrence_id or "", item.sequence)
    found = guard.item_in(stored, key, now)
    if found is None:
        return False
    mine = find_my_attendee(found, addresses)
    return mine is not None and mine.partstat == "DECLINED"


__all__ = ["KEYWORD", "Delivery", "Executor", "Outcome"]


def _holds(change: Change, facts: EventFacts) -> bool:
    """Does the event already say what the change would make it say?"""
    if change.kind is ChangeKind.CANCEL:
        return facts.status == "CANCELLED"
    if change.kind is ChangeKind.MOVE:
        return facts.sequence >= change.sequence and facts.start is not None and \
            change.start is not None and facts.start == change.start
    if change.kind is ChangeKind.PARTSTAT:
        return facts.partstats.get(change.attendee.lower()) == change.partstat
    return change.category.lower() in {c.lower() for c in facts.categories}


def _changed(change: Change, raw: bytes, facts: EventFacts) -> bytes:
    """The event with the change made. A SEQUENCE the freelancer's own app raised meanwhile
    is passed, never gone back on (RFC 5546 §2.1.4)."""
    now = datetime.now(UTC)
    sequence = change.sequence if facts.sequence < change.sequence else facts.sequence + 1
    if change.kind is ChangeKind.CANCEL:
        return cancelled_copy(raw, change.uid, sequence=sequence, now=now)
    if change.kind is ChangeKind.MOVE:
        assert change.start is not None and change.end is not None
        return moved_copy(raw, change.uid, start=change.start, end=change.end,
                          sequence=sequence, now=now)
    if change.kind is ChangeKind.PARTSTAT:
        changed = partstat_copy(raw, change.uid, attendee=change.attendee,
                                partstat=change.partstat)
        if changed is None:
            raise MalformedObject(f"{change.attendee} is no longer an attendee of the event")
        return changed
    return flagged_copy(raw, change.uid, category=change.category)
