"""`frontdesk status`: what the service has done, read from the state database alone."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from daemon.config import Config
from daemon.state import get_fact, open_existing


def _local(text: str | None, config: Config) -> str:
    if not text:
        return "never"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return text
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(config.policy.zone).strftime("%Y-%m-%d %H:%M")


def plural(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


def today_counts(db: sqlite3.Connection, config: Config) -> dict[str, int]:
    zone = config.policy.zone
    midnight = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    since = midnight.astimezone(UTC).isoformat(timespec="seconds")
    counts: dict[str, int] = {}
    for state, kind, number in db.execute(
            "SELECT state, kind, COUNT(*) FROM replies WHERE updated_at >= ? GROUP BY state, kind",
            (since,)):
        if kind == "imip":
            continue
        counts[state] = counts.get(state, 0) + int(number)
    for decision, state, number in db.execute(
            "SELECT decision, state, COUNT(*) FROM invitations WHERE updated_at >= ? "
            "GROUP BY decision, state", (since,)):
        key = "declined" if decision == "decline" and state == "done" else (
            "decline_failed" if state == "failed" else "review" if decision == "review" else "")
        if key:
            counts[key] = counts.get(key, 0) + int(number)
    for kind, number in db.execute(
            "SELECT kind, COUNT(*) FROM messages WHERE handled_at >= ? GROUP BY kind", (since,)):
        counts[f"mail_{kind}"] = int(number)
    return counts


def summary_line(db: sqlite3.Connection, config: Config) -> str:
    """The one line systemd shows as STATUS=."""
    counts = today_counts(db, config)
    synced = get_fact(db, "calendar_synced_at")
    parts = [f"calendar synced {_local(synced, config)[-5:]}" if synced else "calendar not synced"]
    parts.append("today: " + plural(counts.get("sent", 0), "reply", "replies"))
    parts.append(plural(counts.get("declined", 0), "invitation", "invitations") + " declined")
    if counts.get("drafted", 0):
        parts.append(plural(counts["drafted"], "draft", "drafts"))
    return ", ".join(parts)


def status_lines(config: Config) -> Iterator[str]:
    db = open_existing(config.daemon.state_dir)
    if db is None:
        yield f"no state yet in {config.daemon.state_dir}: frontdesk has not run"
        return
    try:
        yield f"state:            {config.daemon.state_dir}"
        yield f"last pass:        {_local(get_fact(db, 'last_pass_at'), config)}"
        yield f"calendar synced:  {_local(get_fact(db, 'calendar_synced_at'), config)}"
        last = db.execute("SELECT sender, kind, handled_at FROM messages "
                          "ORDER BY handled_at DESC LIMIT 1").fetchone()
        if last:
            yield (f"last mail:        {_local(last['handled_at'], config)} from "
                   f"{last['sender'] or '(unknown)'} ({last['kind']})")
        else:
            yield "last mail:        none handled yet"
        counts = today_counts(db, config)
        reviewed = counts.get("review", 0) + counts.get("mail_review", 0)
        yield ("today:            " + ", ".join([
            plural(counts.get("sent", 0), "reply", "replies") + " sent",
            plural(counts.get("drafted", 0), "draft", "drafts") + " filed",
            plural(counts.get("declined", 0), "invitation", "invitations") + " declined",
            plural(counts.get("mail_ignored", 0), "email", "emails") + " ignored",
            f"{reviewed} left for review"]))
        drafts = db.execute("SELECT COUNT(*) FROM replies WHERE state = 'drafted'").fetchone()[0]
        if drafts:
            yield f"drafts waiting:   {drafts} (mode = \"draft\": review them in your mail app)"
        week = (datetime.now(UTC) - timedelta(days=7)).isoformat(timespec="seconds")
        failures = [
            *(f"reply to {r['recipient']} ({r['kind']}): {r['detail']}" for r in db.execute(
                "SELECT recipient, kind, detail FROM replies WHERE state = 'failed' AND "
                "updated_at >= ? ORDER BY updated_at DESC LIMIT 5", (week,))),
            *(f"decline of '{r['summary']}' from {r['organizer']}: {r['detail']}" for r in
              db.execute("SELECT summary, organizer, detail FROM invitations WHERE state = "
                         "'failed' AND updated_at >= ? ORDER BY updated_at DESC LIMIT 5",
                         (week,))),
            *(f"email from {r['sender'] or '(unknown)'}: {r['reason']}" for r in db.execute(
                "SELECT sender, reason FROM messages WHERE kind = 'failed' AND handled_at >= ? "
                "ORDER BY handled_at DESC LIMIT 5", (week,))),
        ]
        if failures:
            yield "recent failures:"
            for line in failures:
                yield f"  {line}"
        else:
            yield "recent failures:  none in the last 7 days"
    finally:
        db.close()
