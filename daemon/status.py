"""`frontdesk status`: what the service has done, read from the ledger alone.

The same facts whichever command ran the passes (`once`, `run`, the demo). Times are shown in the
freelancer's zone, and say so.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from daemon.config import Config
from daemon.ledger import (
    FACT_MAIL_FAULT,
    FACT_PASS,
    FACT_PASS_AT,
    FACT_SYNC_FAILED,
    FACT_SYNCED,
    AppointmentState,
    Ledger,
    LedgerError,
    Outcome,
)


def _local(when: datetime | None, config: Config) -> str:
    if when is None:
        return "never"
    return when.astimezone(config.policy.zone).strftime("%Y-%m-%d %H:%M")


def _local_text(text: str, config: Config) -> str:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return text
    return _local(when if when.tzinfo else when.replace(tzinfo=UTC), config)


def plural(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


def midnight(config: Config) -> datetime:
    return datetime.now(config.policy.zone).replace(hour=0, minute=0, second=0, microsecond=0)


def today_counts(ledger: Ledger, config: Config) -> dict[str, int]:
    return ledger.counts_since(midnight(config))


def summary_line(ledger: Ledger, config: Config) -> str:
    """The one line systemd shows as STATUS=."""
    counts = today_counts(ledger, config)
    synced = ledger.fact_time(FACT_SYNCED)
    parts = [f"calendar synced {_local(synced, config)[-5:]}" if synced
             else "calendar not synced"]
    parts.append("today: " + plural(counts.get("reply_sent", 0), "reply", "replies"))
    parts.append(plural(counts.get("decline_sent", 0), "invitation", "invitations")
                 + " declined")
    if counts.get("reply_drafted", 0):
        parts.append(plural(counts["reply_drafted"], "draft", "drafts"))
    waiting = ledger.waiting_count()
    if waiting:
        parts.append(f"{waiting} waiting for the calendar")
    return ", ".join(parts)


def status_lines(config: Config) -> Iterator[str]:
    state_dir = config.daemon.state_dir
    try:
        ledger = Ledger.open_existing(state_dir)
    except LedgerError as exc:
        yield f"cannot read the state: {exc}"
        return
    if ledger is None:
        yield f"no state yet in {state_dir}: frontdesk has not run with this configuration"
        return
    zone = config.policy.zone.key
    with ledger:
        yield f"state:            {state_dir}"
        yield f"times:            {zone}"
        last_pass = ledger.fact_time(FACT_PASS_AT)
        did = ledger.fact_json(FACT_PASS)
        summary = ""
        if isinstance(did, dict):
            shown = [f"{v} {k}" for k, v in did.items() if isinstance(v, int) and v and k != "seen"]
            summary = f" ({', '.join(shown) or 'nothing to do'})"
        yield f"last pass:        {_local(last_pass, config)}{summary if last_pass else ''}"
        synced = ledger.fact_time(FACT_SYNCED)
        failed = ledger.fact(FACT_SYNC_FAILED) or ""
        yield f"calendar synced:  {_local(synced, config)}" + (
            f" (the last try failed: {failed})" if failed else "")
        mail_fault = ledger.fact(FACT_MAIL_FAULT) or ""
        if mail_fault:
            yield f"mail:             unavailable on the last pass: {mail_fault}"
        last = ledger.last_message()
        if last:
            yield (f"last mail:        {_local_text(last.handled_at, config)} from "
                   f"{last.sender or '(unknown)'} ({last.kind or last.outcome.value}, "
                   f"{last.outcome.value})")
        else:
            yield "last mail:        none handled yet"
        counts = today_counts(ledger, config)
        left = counts.get("mail_left", 0) + counts.get("invitation_review_done", 0)
        yield ("today:            " + ", ".join([
            plural(counts.get("reply_sent", 0), "reply", "replies") + " sent",
            plural(counts.get("reply_drafted", 0), "draft", "drafts") + " filed",
            plural(counts.get("decline_sent", 0), "invitation", "invitations") + " declined",
            plural(counts.get("mail_ignored", 0), "email", "emails") + " ignored",
            f"{left} left for you"]))
        since_day = datetime.now(UTC) - timedelta(days=1)
        drafts = ledger.drafts(midnight(config))
        if drafts:
            yield (f"drafted today:    {len(drafts)} (in your Drafts folder until you send or "
                   "delete them)")
            capped = [m for m in ledger.messages_with([Outcome.DRAFTED], midnight(config),
                                                      limit=1000)
                      if "over the cap" in m.reason]
            if capped:
                yield (f"OVER THE CAP:     {len(capped)} replies were drafted instead of sent "
                       "(limits.per_hour / limits.per_day)")
        tz = config.policy.zone
        now = datetime.now(tz)
        # an expired offer stays open for its client's reply, but only held ones say anything
        # about today (a year of expired ones would only grow the count)
        held = ledger.held_offers(now, tz)
        if held:
            times = plural(sum(len(o.slots) for o in held), "time", "times")
            yield f"open offers:      {len(held)}, holding {times} for other clients"
            for offer in held[-5:]:
                yield (f"  {offer.client}: {len(offer.slots)} times held until "
                       f"{_local(offer.expires_at, config)}")
        booked_today = ledger.booked_since(midnight(config))
        upcoming = ledger.appointments(state=AppointmentState.BOOKED, after=now, zone=tz)
        if booked_today or upcoming:
            yield (f"appointments:     {booked_today} booked today by email, "
                   f"{len(upcoming)} upcoming")
            for appointment in upcoming[:5]:
                yield (f"  {_local(appointment.start, config)} {appointment.client}")
        cancelled = ledger.appointments_changed_since(midnight(config),
                                                      AppointmentState.CANCELLED)
        if cancelled:
            yield f"cancelled today:  {len(cancelled)} by clients, in time"
        flagged_appointments = [a for a in ledger.appointments(after=now, zone=tz)
                                if a.flagged and a.state != AppointmentState.CANCELLED]
        if flagged_appointments:
            yield "appointments for you to decide:"
            for appointment in flagged_appointments[:10]:
                yield (f"  {_local(appointment.start, config)} {appointment.client}: "
                       f"{appointment.flagged}")
        waiting = ledger.waiting_count()
        if waiting:
            yield (f"waiting:          {plural(waiting, 'email waits', 'emails wait')} for the "
                   "calendar to sync again, then they are answered")
        limited = [m for m in ledger.messages_with([Outcome.IGNORED], since_day, limit=50)
                   if m.reason.startswith("not answered:")][:5]
        if limited:
            yield "not answered because of a limit (last 24 hours):"
            for message in limited:
                yield f"  {message.sender}: {message.reason.removeprefix('not answered: ')}"
        flagged = ledger.flagged_messages(datetime.now(UTC) - timedelta(days=7))
        if flagged:
            yield "for you to look at (last 7 days):"
            for message in flagged:
                yield (f"  {_local_text(message.handled_at, config)} {message.sender or '?'}: "
                       f"{message.reason}")
        week = datetime.now(UTC) - timedelta(days=7)
        failures = [
            *(f"reply to {m.recipient} ({m.kind}): {m.detail}" for m in ledger.failed_mail(week)
              if m.kind != "imip"),
            *(f"decline of '{i.summary}' from {i.organizer}: {i.detail}"
              for i in ledger.failed_invitations(week)),
            *(f"email from {m.sender or '(unknown)'}: {m.reason}"
              for m in ledger.messages_with([Outcome.FAILED, Outcome.SET_ASIDE], week)),
        ]
        if failures:
            yield "recent failures:"
            for line in failures:
                yield f"  {line}"
        else:
            yield "recent failures:  none in the last 7 days"
