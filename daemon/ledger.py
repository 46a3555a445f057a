"""The ledger: the state database, and the only module that speaks SQL.

One SQLite file in the state folder holds the calendar mirror (what the server has, so busy time
is read locally), and the record of every side effect frontdesk takes, written before and after it
happens: the invitations it judged and declined, the emails it read and what it did with them,
and every email it sends (with its bytes, so that a crash and restart neither repeats nor forgets
one). States are enums; each action is one transaction; the schema's version is read when the
database is opened: an older one is migrated forward in place, a newer one is refused.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from enum import StrEnum
from pathlib import Path

from rules.model import Appointment, Offer, Slot, address_key

SCHEMA_VERSION = 2
DATABASE_NAME = "frontdesk.sqlite3"


class LedgerError(Exception):
    """The state database cannot be used; str() is one sentence saying why and what to do."""


# --- States ---------------------------------------------------------------------------------------


class MailState(StrEnum):
    """An outgoing email's way out. Only SENT, DRAFTED, FAILED and CANCELLED are final."""

    QUEUED = "queued"  # built and recorded with its bytes; nothing done yet
    FILED = "filed"  # its copy is in the Sent folder; SMTP has not finished the content
    WRITTEN = "written"  # content and final dot written; the server's answer was not read
    SENT = "sent"  # the SMTP server accepted it
    DRAFTED = "drafted"  # filed in the Drafts folder for the freelancer to send
    FAILED = "failed"  # refused for good (5xx, an unusable address): never tried again
    CANCELLED = "cancelled"  # no longer to be sent (the decline it carried is no longer due)

    @property
    def final(self) -> bool:
        return self in (MailState.SENT, MailState.DRAFTED, MailState.FAILED, MailState.CANCELLED)


class InvitationState(StrEnum):
    QUEUED = "queued"  # decided; its REPLY is in the outbox, the stored copy not changed yet
    STORED = "stored"  # the freelancer's stored copy says DECLINED (or there is none to change)
    DONE = "done"  # the REPLY went out (or was drafted); or a review was noted
    FAILED = "failed"  # cannot be declined (no address to tell); the freelancer sees why


class InvitationDecision(StrEnum):
    DECLINE = "decline"
    REVIEW = "review"


class OfferState(StrEnum):
    OPEN = "open"  # the client may choose; the slots are held until it expires
    BOOKED = "booked"  # one of its times was booked
    CLOSED = "closed"  # superseded by a newer offer, or given up


class AppointmentState(StrEnum):
    PENDING = "pending"  # recorded with its event and confirmation; not yet in the calendar
    BOOKED = "booked"  # the event is in the calendar (the confirmation follows)
    CANCELLED = "cancelled"


class ChangeKind(StrEnum):
    """What is done to an appointment's event after it was booked."""

    CANCEL = "cancel"  # STATUS:CANCELLED, SEQUENCE+1; an iMIP CANCEL goes with it
    MOVE = "move"  # a new time, same UID, SEQUENCE+1; an iMIP REQUEST goes with it
    PARTSTAT = "partstat"  # the client's answer from their calendar app (no SEQUENCE change)
    FLAG = "flag"  # a category for the freelancer (a late cancellation): no SEQUENCE change


class ChangeState(StrEnum):
    QUEUED = "queued"  # recorded with its email; the calendar not changed yet
    STORED = "stored"  # the calendar says it, the appointment too; its email may go
    FAILED = "failed"  # could not be made (the event is gone or changed): left for the freelancer


class Outcome(StrEnum):
    """What was done with one inbound email."""

    REPLIED = "replied"  # an automatic reply was sent (or is on its way: see the outbox)
    BOOKED = "booked"  # it chose a time: the appointment is booked and confirmed
    CHANGED = "changed"  # an appointment was cancelled, moved, or its client's answer recorded
    DRAFTED = "drafted"  # a reply waits in Drafts for the freelancer
    IGNORED = "ignored"  # nothing to answer
    LEFT = "left"  # left for the freelancer (review, unsure, a question)
    INVITATION = "invitation"  # handed to the invitation guard
    WAITING = "waiting"  # needs a fresh calendar: answered once the calendar syncs again
    FAILED = "failed"  # could not be read or handled; the freelancer sees why
    SET_ASIDE = "set_aside"  # frontdesk stopped while handling it, again and again

    @property
    def final(self) -> bool:
        return self is not Outcome.WAITING


# --- Records --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredObject:
    collection: str
    href: str
    etag: str | None
    raw: bytes


@dataclass(frozen=True)
class ObjectRow:
    """One object to write into the mirror, with the bounds the mirror computed for it."""

    collection: str
    href: str
    etag: str | None
    raw: bytes
    first_start: float | None
    last_end: float | None


@dataclass(frozen=True)
class CachedBusy:
    key: str
    span_start: float
    span_end: float
    intervals: str  # JSON [[start epoch, end epoch, all_day, uid, attendees], ...]


@dataclass(frozen=True)
class Mail:
    """One outgoing email in the outbox."""

    message_id: str
    kind: str  # booking | objection | imip | ...
    recipient: str
    rate_key: str
    in_reply_to: str
    state: MailState
    draft: bool
    body: bytes | None  # the whole message as it goes on the wire; None for rows from schema 1
    detail: str
    attempts: int
    created_at: str


@dataclass(frozen=True)
class Invitation:
    uid: str
    recurrence_id: str
    sequence: int
    decision: InvitationDecision
    state: InvitationState
    reason: str
    summary: str
    organizer: str
    message_id: str | None
    collection: str | None
    href: str | None
    detail: str

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.uid, self.recurrence_id, self.sequence)


@dataclass(frozen=True)
class Change:
    """One change to an appointment's event, and the email that goes with it."""

    change_id: str
    uid: str
    kind: ChangeKind
    sequence: int
    start: datetime | None = None
    end: datetime | None = None
    attendee: str = ""
    partstat: str = ""
    category: str = ""
    message_id: str | None = None
    offer_id: str = ""
    state: ChangeState = ChangeState.QUEUED
    detail: str = ""


@dataclass(frozen=True)
class Position:
    """How far one folder has been read, and the message being handled when a pass stopped."""

    folder: str
    uidvalidity: int
    last_uid: int
    handling_uid: int | None
    handling_attempts: int


@dataclass(frozen=True)
class Handled:
    """One inbound email and what was done with it."""

    message_id: str
    folder: str
    uidvalidity: int
    uid: int
    sender: str
    kind: str
    outcome: Outcome
    reason: str
    flagged: bool
    handled_at: str


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def since_text(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds")


# --- Schema ---------------------------------------------------------------------------------------

SCHEMA = """
CREATE TABLE IF NOT EXISTS facts (
    key    TEXT PRIMARY KEY,
    value  TEXT
);
-- the calendar mirror: one row per synced collection, the objects of each, and each object's
-- busy intervals over a span (so that a window read again does not parse and expand again)
CREATE TABLE IF NOT EXISTS collections (
    url         TEXT PRIMARY KEY,
    sync_token  TEXT,            -- NULL: never synced, or the server has no sync tokens
    synced_at   TEXT,            -- ISO-8601 UTC of the last successful sync
    role        TEXT NOT NULL DEFAULT 'main'   -- 'main' (guarded, booked into) or 'busy'
);
CREATE TABLE IF NOT EXISTS objects (
    collection  TEXT NOT NULL,
    href        TEXT NOT NULL,
    etag        TEXT,
    raw         BLOB NOT NULL,
    first_start REAL,            -- epoch seconds of the earliest start; NULL: unknown
    last_end    REAL,            -- epoch seconds of the latest end; NULL: open-ended or unknown
    changed_at  TEXT,            -- when this revision reached the mirror
    judged_etag TEXT,            -- the revision the invitation guard last judged
    PRIMARY KEY (collection, href)
);
CREATE INDEX IF NOT EXISTS objects_window ON objects (collection, first_start, last_end);
CREATE TABLE IF NOT EXISTS busy_cache (
    collection  TEXT NOT NULL,
    href        TEXT NOT NULL,
    key         TEXT NOT NULL,     -- the object's revision, zone and the freelancer's addresses
    span_start  REAL NOT NULL,
    span_end    REAL NOT NULL,
    intervals   TEXT NOT NULL,     -- JSON [[start, end, all_day, uid, attendees], ...]
    PRIMARY KEY (collection, href)
);
-- invitations judged and acted on, one row per revision (UID, RECURRENCE-ID, SEQUENCE)
CREATE TABLE IF NOT EXISTS invitations (
    uid           TEXT NOT NULL,
    recurrence_id TEXT NOT NULL DEFAULT '',
    sequence      INTEGER NOT NULL,
    decision      TEXT NOT NULL,  -- InvitationDecision
    state         TEXT NOT NULL,  -- InvitationState
    reason        TEXT,
    summary       TEXT,
    organizer     TEXT,
    message_id    TEXT,           -- the REPLY in the outbox
    collection    TEXT,
    href          TEXT,           -- the stored copy, NULL when it came by email only
    detail        TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (uid, recurrence_id, sequence)
);
-- how far each folder has been read, and the message being handled (set aside after a few
-- crashes while handling it)
CREATE TABLE IF NOT EXISTS mailboxes (
    folder            TEXT PRIMARY KEY,
    uidvalidity       INTEGER NOT NULL,
    last_uid          INTEGER NOT NULL,
    handling_uid      INTEGER,
    handling_attempts INTEGER NOT NULL DEFAULT 0
);
-- every inbound message handled, by Message-ID
CREATE TABLE IF NOT EXISTS messages (
    message_id   TEXT PRIMARY KEY,
    folder       TEXT,
    uidvalidity  INTEGER,
    uid          INTEGER,
    sender       TEXT,
    kind         TEXT,           -- what it was read as: booking, objection, invitation, ...
    outcome      TEXT NOT NULL,  -- Outcome
    reason       TEXT,
    flagged      INTEGER NOT NULL DEFAULT 0,   -- the freelancer should look at it
    handled_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_outcome ON messages (outcome, handled_at);
-- every email frontdesk sends or drafts, with its bytes: the exactly-once ledger
CREATE TABLE IF NOT EXISTS outbox (
    message_id    TEXT PRIMARY KEY,  -- deterministic: derived from what it answers
    kind          TEXT NOT NULL,
    recipient     TEXT NOT NULL,
    rate_key      TEXT NOT NULL,     -- the recipient folded (case, +tag) for the limits
    in_reply_to   TEXT NOT NULL,
    conversation  TEXT NOT NULL DEFAULT '',  -- the Message-ID its thread started with
    state         TEXT NOT NULL,     -- MailState
    draft         INTEGER NOT NULL DEFAULT 0,
    body          BLOB,
    detail        TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_rate ON outbox (rate_key, created_at);
CREATE INDEX IF NOT EXISTS outbox_conversation ON outbox (conversation, created_at);
-- the booking conversation: each booking reply's offer (held until expires_at) ...
CREATE TABLE IF NOT EXISTS offers (
    offer_id     TEXT PRIMARY KEY,  -- the booking reply's Message-ID
    client       TEXT NOT NULL,     -- the address answered
    client_key   TEXT NOT NULL,     -- the same, folded (case, +tag)
    client_name  TEXT,
    language     TEXT NOT NULL,
    service      INTEGER NOT NULL,
    slots        TEXT NOT NULL,     -- JSON [[start ISO, end ISO], ...] in the order offered
    thread       TEXT NOT NULL,     -- JSON [Message-ID, ...] of the conversation
    state        TEXT NOT NULL,     -- OfferState
    moves        TEXT NOT NULL DEFAULT '',  -- the appointment these times would replace
    asked        INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS offers_client ON offers (client_key, state);
-- ... and the appointments frontdesk booked into the calendar
CREATE TABLE IF NOT EXISTS appointments (
    uid          TEXT PRIMARY KEY,  -- the event's UID (derived from the offer and the time)
    client       TEXT NOT NULL,
    client_key   TEXT NOT NULL,
    client_name  TEXT,
    language     TEXT NOT NULL,
    service      INTEGER NOT NULL,
    start        REAL NOT NULL,     -- epoch seconds
    end          REAL NOT NULL,
    state        TEXT NOT NULL,     -- AppointmentState
    offer_id     TEXT,
    collection   TEXT,
    href         TEXT,              -- where the event is stored
    etag         TEXT,
    event        BLOB,              -- the stored copy as PUT (and PUT again after a crash)
    message_id   TEXT,              -- the confirmation in the outbox
    sequence     INTEGER NOT NULL DEFAULT 0,
    flagged      TEXT,              -- why the freelancer should look at it, "" or NULL for no
    partstat     TEXT NOT NULL DEFAULT 'NEEDS-ACTION',  -- the client's calendar app's answer
    thread       TEXT NOT NULL DEFAULT '[]',  -- JSON [Message-ID, ...] of its emails
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS appointments_time ON appointments (start, end);
CREATE INDEX IF NOT EXISTS appointments_client ON appointments (client_key, start);
-- what is done to an appointment's event after the booking, each with the email that goes
-- with it: the calendar first, then the email, so neither happens without the other
CREATE TABLE IF NOT EXISTS changes (
    change_id    TEXT PRIMARY KEY,  -- deterministic: the appointment, the change, its sequence
    uid          TEXT NOT NULL,     -- the appointment
    kind         TEXT NOT NULL,     -- ChangeKind
    sequence     INTEGER NOT NULL,  -- the event's SEQUENCE once changed
    start        REAL,              -- a move's new time (epoch seconds)
    end          REAL,
    attendee     TEXT,              -- a partstat change: whose, and what
    partstat     TEXT,
    category     TEXT,              -- a flag
    message_id   TEXT,              -- its email in the outbox, NULL for none
    offer_id     TEXT,              -- a move: the offer it books
    state        TEXT NOT NULL,     -- ChangeState
    detail       TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS changes_state ON changes (state);
-- people the freelancer writes to themself (read from their Sent folder, frontdesk's own mail
-- left out): their mail is personal, never answered automatically
CREATE TABLE IF NOT EXISTS correspondents (
    rate_key   TEXT PRIMARY KEY,
    seen_at    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox (state);
"""

# Schema 1 (frontdesk 0.1): the same mirror, `replies` instead of `outbox` (no bytes kept),
# `messages` without an outcome, invitations holding their REPLY's bytes.
_V1_REPLY_STATES = {"sending": MailState.QUEUED, "retry": MailState.QUEUED,
                    "filed": MailState.FILED, "data": MailState.WRITTEN, "sent": MailState.SENT,
                    "drafted": MailState.DRAFTED, "failed": MailState.FAILED}
_V1_INVITATION_STATES = {"pending": InvitationState.QUEUED, "stored": InvitationState.STORED,
                         "done": InvitationState.DONE, "failed": InvitationState.FAILED}


def rate_key(address: str) -> str:
    """The address as the limits count it: lower-cased, without a +tag."""
    return address_key(address)


def _script(conn: sqlite3.Connection, text: str) -> None:
    """Run a schema inside the caller's transaction (executescript() would commit first)."""
    for statement in text.split(";\n"):
        if statement.strip():
            conn.execute(statement)


def _migrate_v1(conn: sqlite3.Connection) -> None:
    """Schema 1 to 2, in place, nothing lost (called inside a transaction)."""
    _script(conn, SCHEMA.replace("CREATE TABLE IF NOT EXISTS messages",
                                      "CREATE TABLE IF NOT EXISTS messages_v2")
                       .replace("CREATE INDEX IF NOT EXISTS messages_outcome ON messages",
                                "CREATE INDEX IF NOT EXISTS messages_outcome ON messages_v2")
                       .replace("CREATE TABLE IF NOT EXISTS invitations",
                                "CREATE TABLE IF NOT EXISTS invitations_v2")
                       .replace("CREATE TABLE IF NOT EXISTS mailboxes",
                                "CREATE TABLE IF NOT EXISTS mailboxes_v2"))
    now = utcnow()
    # the outbox, from replies (their bytes were never kept: the inbox builds them again)
    for row in conn.execute("SELECT message_id, in_reply_to, recipient, kind, state, detail, "
                            "created_at, updated_at FROM replies").fetchall():
        state = _V1_REPLY_STATES.get(str(row[4]), MailState.QUEUED)
        conn.execute("INSERT OR IGNORE INTO outbox (message_id, kind, recipient, rate_key, "
                     "in_reply_to, state, draft, body, detail, attempts, created_at, updated_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, 0, ?, ?)",
                     (row[0], row[3], row[2], rate_key(str(row[2])), row[1], state.value,
                      int(state is MailState.DRAFTED), row[5], row[6], row[7]))
    # invitations: their REPLY's bytes go to the outbox
    for row in conn.execute("SELECT uid, recurrence_id, sequence, decision, state, reason, "
                            "summary, organizer, message_id, message, collection, href, detail, "
                            "created_at, updated_at FROM invitations").fetchall():
        invitation_state = _V1_INVITATION_STATES.get(str(row[4]), InvitationState.FAILED)
        decision = (InvitationDecision.REVIEW if row[3] == "review"
                    else InvitationDecision.DECLINE)
        conn.execute("INSERT OR IGNORE INTO invitations_v2 (uid, recurrence_id, sequence, "
                     "decision, state, reason, summary, organizer, message_id, collection, href, "
                     "detail, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                     "?, ?, ?)",
                     (row[0], row[1], row[2], decision.value, invitation_state.value, row[5],
                      row[6], row[7], row[8], row[10], row[11], row[12], row[13], row[14]))
        if row[8] and row[9] is not None:
            mail_state = {InvitationState.DONE: MailState.SENT,
                          InvitationState.FAILED: MailState.FAILED}.get(invitation_state,
                                                                        MailState.QUEUED)
            organizer = str(row[7] or "")
            conn.execute("INSERT INTO outbox (message_id, kind, recipient, rate_key, "
                         "in_reply_to, state, draft, body, detail, attempts, created_at, "
                         "updated_at) VALUES (?, 'imip', ?, ?, ?, ?, 0, ?, ?, 0, ?, ?) "
                         "ON CONFLICT(message_id) DO UPDATE SET "
                         "body = COALESCE(outbox.body, excluded.body)",
                         (row[8], organizer, rate_key(organizer), row[0], mail_state.value,
                          bytes(row[9]), row[12], row[13], now))
    # messages: an outcome from what schema 1 wrote in `kind` and `reason`
    for row in conn.execute("SELECT message_id, folder, uid, sender, kind, reason, handled_at "
                            "FROM messages").fetchall():
        kind, reason = str(row[4] or ""), str(row[5] or "")
        if kind in ("booking", "objection"):
            outcome = Outcome.DRAFTED if reason.startswith("drafted") else Outcome.REPLIED
            if reason.startswith("failed"):
                outcome = Outcome.FAILED
        else:
            outcome = {"ignored": Outcome.IGNORED, "review": Outcome.LEFT,
                       "invitation": Outcome.INVITATION,
                       "failed": Outcome.FAILED}.get(kind, Outcome.IGNORED)
        conn.execute("INSERT OR IGNORE INTO messages_v2 (message_id, folder, uidvalidity, uid, "
                     "sender, kind, outcome, reason, flagged, handled_at) VALUES (?, ?, NULL, ?, "
                     "?, ?, ?, ?, ?, ?)",
                     (row[0], row[1], row[2], row[3], kind, outcome.value, reason,
                      int(outcome in (Outcome.LEFT, Outcome.FAILED)), row[6]))
    conn.execute("INSERT OR IGNORE INTO mailboxes_v2 (folder, uidvalidity, last_uid) "
                 "SELECT folder, uidvalidity, last_uid FROM mailboxes")
    for old in ("replies", "invitations", "messages", "mailboxes"):
        conn.execute(f"DROP TABLE {old}")  # only fixed names are formatted in
    for new in ("invitations", "messages", "mailboxes"):
        conn.execute(f"ALTER TABLE {new}_v2 RENAME TO {new}")
    conn.execute("DROP INDEX IF EXISTS messages_outcome")
    conn.execute("CREATE INDEX IF NOT EXISTS messages_outcome ON messages (outcome, handled_at)")


_MIGRATIONS = {1: _migrate_v1}


# --- Opening --------------------------------------------------------------------------------------


def database_path(state_dir: Path) -> Path:
    return state_dir / DATABASE_NAME


def _private_dir(state_dir: Path) -> None:
    """The state folder, created 0700: the database holds every calendar object and address."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)


def _version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _has_tables(conn: sqlite3.Connection) -> bool:
    count = conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
    return int(count) > 0


class Ledger:
    """The state database of one freelancer. Not shared between threads."""

    def __init__(self, conn: sqlite3.Connection, path: Path | None, *, readonly: bool = False):
        self.conn = conn
        self.path = path
        self.readonly = readonly
        self._depth = 0
        self._offers_read: dict[tuple[tuple[object, ...], tzinfo], Offer] = {}

    # -- opening and closing --

    @classmethod
    def open(cls, state_dir: Path | None) -> Ledger:
        """Open (creating or migrating if needed) the state database; `None` gives a private
        in-memory one (for `explain`). Raises LedgerError for a database it cannot use."""
        if state_dir is None:
            conn = sqlite3.connect(":memory:", isolation_level=None)
            ledger = cls(conn, None)
            ledger._prepare()
            return ledger
        path = database_path(state_dir)
        try:
            _private_dir(state_dir)
            fresh = not path.exists()
            if fresh:  # created 0600 before SQLite opens it, so it is never readable by others
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            conn = sqlite3.connect(path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a reply recorded as sent must survive a power cut, or it could be sent twice
            conn.execute("PRAGMA synchronous=FULL")
        except (OSError, sqlite3.Error) as exc:
            raise LedgerError(f"cannot use {path} as the state database ({exc})") from None
        for extra in ("-wal", "-shm"):
            with contextlib.suppress(OSError):
                side = path.with_name(path.name + extra)
                if side.exists() and side.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                    side.chmod(0o600)
        ledger = cls(conn, path)
        ledger._prepare()
        return ledger

    @classmethod
    def open_existing(cls, state_dir: Path, *, migrate: bool = True) -> Ledger | None:
        """Open the state database read-only if it exists (for `status`); None when absent (or,
        with `migrate=False`, written by an older frontdesk: nothing is changed then)."""
        path = database_path(state_dir)
        if not path.exists():
            return None
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30,
                                   isolation_level=None)
            version = _version(conn)
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot read the state database {path} ({exc})") from None
        if version != SCHEMA_VERSION:
            conn.close()
            if version > SCHEMA_VERSION:
                raise LedgerError(_newer(path, version))
            if not migrate:
                return None
            # an older database: migrate it (needs write access), then read it
            cls.open(state_dir).close()
            return cls.open_existing(state_dir)
        return cls(conn, path, readonly=True)

    def _prepare(self) -> None:
        version = _version(self.conn)
        if version > SCHEMA_VERSION:
            where = self.path or "the state database"
            self.conn.close()
            raise LedgerError(_newer(where, version))
        if version == SCHEMA_VERSION:
            return
        try:
            with self.transaction():
                if version == 0 and _has_tables(self.conn):
                    version = 1  # schema 1 wrote its version only at the end of opening
                if version == 0:
                    _script(self.conn, SCHEMA)
                else:
                    while version < SCHEMA_VERSION:
                        _MIGRATIONS[version](self.conn)
                        version += 1
                self.conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            self.conn.close()
            raise LedgerError(f"cannot prepare the state database {self.path} ({exc})") from None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing. The outermost one takes the write lock at once (BEGIN IMMEDIATE), so
        two frontdesk processes on one database take turns instead of interleaving."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self.conn.execute("ROLLBACK")
            raise
        self._depth = 0
        self.conn.execute("COMMIT")

    # -- facts --

    def fact(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM facts WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_fact(self, key: str, value: str) -> None:
        self.conn.execute("INSERT INTO facts (key, value) VALUES (?, ?) "
                          "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    def fact_time(self, key: str) -> datetime | None:
        value = self.fact(key)
        try:
            when = datetime.fromisoformat(value) if value else None
        except ValueError:
            return None
        if when is not None and when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when

    def set_fact_time(self, key: str, when: datetime) -> None:
        self.set_fact(key, when.astimezone(UTC).isoformat(timespec="seconds"))

    def fact_json(self, key: str) -> object:
        value = self.fact(key)
        try:
            return json.loads(value) if value else None
        except ValueError:
            return None

    # -- the mirror --

    def sync_token(self, url: str) -> str | None:
        row = self.conn.execute("SELECT sync_token FROM collections WHERE url = ?",
                                (url,)).fetchone()
        return None if row is None else row[0]

    def etag(self, url: str, href: str) -> tuple[bool, str | None]:
        """(known, etag) of one object of the mirror."""
        row = self.conn.execute("SELECT etag FROM objects WHERE collection = ? AND href = ?",
                                (url, href)).fetchone()
        return (False, None) if row is None else (True, None if row[0] is None else str(row[0]))

    def hrefs(self, url: str) -> list[str]:
        return [str(r[0]) for r in self.conn.execute(
            "SELECT href FROM objects WHERE collection = ?", (url,)).fetchall()]

    def etags(self, url: str) -> list[tuple[str, str | None]]:
        return [(str(r[0]), None if r[1] is None else str(r[1])) for r in self.conn.execute(
            "SELECT href, etag FROM objects WHERE collection = ?", (url,)).fetchall()]

    def object_count(self, url: str) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM objects WHERE collection = ?",
                                     (url,)).fetchone()[0])

    def apply_sync(self, url: str, role: str, token: str | None, *, full: bool,
                   rows: Sequence[ObjectRow], deleted: Sequence[str], synced_at: str,
                   zone_key: str) -> None:
        """One sync's result, in one transaction: a crash leaves the previous state and token."""
        with self.transaction():
            if full:
                self.conn.execute("DELETE FROM objects WHERE collection = ?", (url,))
            else:
                self.conn.executemany("DELETE FROM objects WHERE collection = ? AND href = ?",
                                      [(url, h) for h in deleted])
            # cached busy intervals of objects that are gone (changed ones miss by their key)
            self.conn.execute("DELETE FROM busy_cache WHERE collection = ? AND href NOT IN "
                              "(SELECT href FROM objects WHERE collection = ?) AND href NOT IN "
                              "(SELECT value FROM json_each(?))",
                              (url, url, json.dumps([r.href for r in rows])))
            self._upsert_objects(rows, synced_at)
            self.conn.execute(
                "INSERT INTO collections (url, sync_token, synced_at, role) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(url) DO UPDATE SET sync_token = excluded.sync_token, "
                "synced_at = excluded.synced_at, role = excluded.role",
                (url, token, synced_at, role))
            self.set_fact(_BOUNDS_ZONE, zone_key)

    def _upsert_objects(self, rows: Iterable[ObjectRow], changed_at: str) -> None:
        self.conn.executemany(
            "INSERT INTO objects (collection, href, etag, raw, first_start, last_end, "
            "changed_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(collection, href) DO UPDATE "
            "SET etag = excluded.etag, raw = excluded.raw, first_start = excluded.first_start, "
            "last_end = excluded.last_end, changed_at = excluded.changed_at",
            [(r.collection, r.href, r.etag, r.raw, r.first_start, r.last_end, changed_at)
             for r in rows])

    def put_object(self, row: ObjectRow) -> None:
        """An object frontdesk wrote itself, so the mirror is right before the next sync."""
        with self.transaction():
            self._upsert_objects([row], utcnow())

    def stored(self, url: str, href: str) -> StoredObject | None:
        row = self.conn.execute("SELECT etag, raw FROM objects WHERE collection = ? AND "
                                "href = ?", (url, href)).fetchone()
        return None if row is None else StoredObject(url, href, row[0], bytes(row[1]))

    def all_objects(self) -> Iterator[StoredObject]:
        for row in self.conn.execute("SELECT collection, href, etag, raw FROM objects").fetchall():
            yield StoredObject(row[0], row[1], row[2], bytes(row[3]))

    def bounds_zone(self) -> str | None:
        return self.fact(_BOUNDS_ZONE)

    def set_bounds(self, updates: Sequence[tuple[float | None, float | None, str, str]],
                   zone_key: str) -> None:
        """New (first_start, last_end) for (collection, href), e.g. after a zone change."""
        with self.transaction():
            self.conn.executemany("UPDATE objects SET first_start = ?, last_end = ? "
                                  "WHERE collection = ? AND href = ?", updates)
            self.set_fact(_BOUNDS_ZONE, zone_key)

    def objects_in_window(self, urls: Sequence[str], start: float,
                          end: float) -> Iterator[StoredObject]:
        """Every object of `urls` whose bounds overlap [start, end] (epoch seconds), or are
        unknown or open-ended. Inclusive: a bound touching the window costs a parse, never a
        miss."""
        if not urls:
            return
        marks = ",".join("?" * len(urls))
        cursor = self.conn.execute(
            f"SELECT collection, href, etag, raw FROM objects WHERE collection IN ({marks}) "
            "AND (first_start IS NULL OR first_start <= ?) "
            "AND (last_end IS NULL OR last_end >= ?) ORDER BY collection, href",
            (*urls, end, start))  # only placeholders are formatted in
        while batch := cursor.fetchmany(500):
            for collection, href, etag, raw in batch:
                yield StoredObject(collection, href, etag, bytes(raw))

    def cached_busy(self, urls: Sequence[str]) -> dict[tuple[str, str], CachedBusy]:
        if not urls:
            return {}
        marks = ", ".join("?" * len(urls))
        rows = self.conn.execute(
            "SELECT collection, href, key, span_start, span_end, intervals FROM busy_cache "
            f"WHERE collection IN ({marks})", list(urls))  # only placeholders are formatted in
        return {(r[0], r[1]): CachedBusy(r[2], r[3], r[4], r[5]) for r in rows}

    def cache_busy(self, rows: Sequence[tuple[str, str, CachedBusy]]) -> None:
        """Write cached busy intervals; a read-only or busy database simply keeps no cache."""
        if not rows or self.readonly:
            return
        with contextlib.suppress(sqlite3.OperationalError), self.transaction():
            self.conn.executemany(
                "INSERT OR REPLACE INTO busy_cache (collection, href, key, span_start, "
                "span_end, intervals) VALUES (?, ?, ?, ?, ?, ?)",
                [(c, h, b.key, b.span_start, b.span_end, b.intervals) for c, h, b in rows])

    def copy_mirror_from(self, other: Ledger) -> None:
        """Fill this (private, in-memory) ledger's mirror from the service's database, and
        what it knows of the booking conversation (offers, appointments, what was sent), so
        `explain` decides as the service would."""
        tables = ["collections", "objects"]
        if _version(other.conn) == SCHEMA_VERSION:
            tables += ["offers", "appointments", "changes", "outbox", "correspondents"]
        with self.transaction():
            for table in tables:
                rows = other.conn.execute(f"SELECT * FROM {table}").fetchall()  # fixed names
                if rows:
                    marks = ", ".join("?" * len(rows[0]))
                    self.conn.executemany(f"INSERT OR REPLACE INTO {table} VALUES ({marks})",
                                          [tuple(r) for r in rows])
            zone = other.bounds_zone()
            if zone:
                self.set_fact(_BOUNDS_ZONE, zone)

    def last_synced(self) -> datetime | None:
        """When every synced collection was last synced successfully (the oldest of them)."""
        return self.fact_time(FACT_SYNCED)

    # -- invitations --

    def unjudged(self, url: str, now: float) -> list[StoredObject]:
        """Objects of `url` whose current revision the guard has not judged, still to come."""
        rows = self.conn.execute(
            "SELECT href, etag, raw FROM objects WHERE collection = ? "
            "AND (judged_etag IS NULL OR etag IS NULL OR judged_etag != etag) "
            "AND (last_end IS NULL OR last_end > ?)", (url, now)).fetchall()
        return [StoredObject(url, str(r[0]), r[1], bytes(r[2])) for r in rows]

    def mark_judged(self, marks: Sequence[tuple[str, str, str]]) -> None:
        """(collection, href, etag): that revision was judged. Only while it is still the stored
        revision: after frontdesk's own PUT the object has a newer ETag, which an older mark must
        not overwrite."""
        if not marks:
            return
        with self.transaction():
            self.conn.executemany("UPDATE objects SET judged_etag = ? WHERE collection = ? AND "
                                  "href = ? AND etag = ?",
                                  [(etag, url, href, etag) for url, href, etag in marks])

    def invitation(self, key: tuple[str, str, int]) -> Invitation | None:
        row = self.conn.execute(_INVITATION_SELECT + " WHERE uid = ? AND recurrence_id = ? AND "
                                "sequence = ?", key).fetchone()
        return None if row is None else _invitation(row)

    def invitations_in(self, *states: InvitationState) -> list[Invitation]:
        marks = ", ".join("?" * len(states))
        return [_invitation(r) for r in self.conn.execute(
            _INVITATION_SELECT + f" WHERE state IN ({marks}) ORDER BY created_at",
            [s.value for s in states]).fetchall()]  # only placeholders are formatted in

    def record_invitation(self, key: tuple[str, str, int], decision: InvitationDecision,
                          state: InvitationState, *, reason: str, summary: str, organizer: str,
                          message_id: str | None = None, collection: str | None = None,
                          href: str | None = None, detail: str | None = None) -> None:
        now = utcnow()
        self.conn.execute(
            "INSERT INTO invitations (uid, recurrence_id, sequence, decision, state, reason, "
            "summary, organizer, message_id, collection, href, detail, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
            "decision = excluded.decision, state = excluded.state, reason = excluded.reason, "
            "message_id = COALESCE(excluded.message_id, message_id), "
            "collection = COALESCE(excluded.collection, collection), "
            "href = COALESCE(excluded.href, href), detail = excluded.detail, "
            "updated_at = excluded.updated_at",
            (*key, decision.value, state.value, reason, summary, organizer, message_id,
             collection, href, detail, now, now))

    def set_invitation_state(self, key: tuple[str, str, int], state: InvitationState,
                             detail: str | None = None) -> None:
        self.conn.execute("UPDATE invitations SET state = ?, detail = COALESCE(?, detail), "
                          "updated_at = ? WHERE uid = ? AND recurrence_id = ? AND sequence = ?",
                          (state.value, detail, utcnow(), *key))

    def set_invitation_stored(self, key: tuple[str, str, int], collection: str,
                              href: str) -> None:
        self.conn.execute("UPDATE invitations SET collection = ?, href = ?, updated_at = ? "
                          "WHERE uid = ? AND recurrence_id = ? AND sequence = ?",
                          (collection, href, utcnow(), *key))

    def forget_invitation(self, key: tuple[str, str, int]) -> None:
        self.conn.execute("DELETE FROM invitations WHERE uid = ? AND recurrence_id = ? AND "
                          "sequence = ?", key)

    # -- the inbox --

    def position(self, folder: str) -> Position | None:
        row = self.conn.execute("SELECT folder, uidvalidity, last_uid, handling_uid, "
                                "handling_attempts FROM mailboxes WHERE folder = ?",
                                (folder,)).fetchone()
        return None if row is None else Position(row[0], int(row[1]), int(row[2]),
                                                 None if row[3] is None else int(row[3]),
                                                 int(row[4] or 0))

    def set_position(self, folder: str, uidvalidity: int, last_uid: int) -> None:
        """Start (or restart, after a new UIDVALIDITY) reading `folder` after `last_uid`."""
        with self.transaction():
            self.conn.execute(
                "INSERT INTO mailboxes (folder, uidvalidity, last_uid) VALUES (?, ?, ?) "
                "ON CONFLICT(folder) DO UPDATE SET uidvalidity = excluded.uidvalidity, "
                "last_uid = MAX(CASE WHEN mailboxes.uidvalidity = excluded.uidvalidity "
                "THEN mailboxes.last_uid ELSE 0 END, excluded.last_uid), handling_uid = NULL, "
                "handling_attempts = 0", (folder, uidvalidity, last_uid))
            self.set_fact_time(FACT_POSITION_AT, datetime.now(UTC))

    def claim(self, folder: str, uidvalidity: int, uid: int) -> int:
        """Note that message `uid` is being handled, before reading it; returns how many times
        it has been (this one included): a message that stopped frontdesk is set aside."""
        with self.transaction():
            self.conn.execute(
                "UPDATE mailboxes SET handling_attempts = CASE WHEN handling_uid = ? "
                "THEN handling_attempts + 1 ELSE 1 END, handling_uid = ? WHERE folder = ? AND "
                "uidvalidity = ?", (uid, uid, folder, uidvalidity))
            row = self.conn.execute("SELECT handling_attempts FROM mailboxes WHERE folder = ?",
                                    (folder,)).fetchone()
        return 1 if row is None else int(row[0])

    def handled(self, message_id: str) -> Handled | None:
        row = self.conn.execute(_MESSAGE_SELECT + " WHERE message_id = ?",
                                (message_id,)).fetchone()
        return None if row is None else _handled(row)

    def known_message_ids(self) -> set[str]:
        return {str(r[0]) for r in self.conn.execute("SELECT message_id FROM messages")}

    def record_message(self, message_id: str, *, folder: str, uidvalidity: int, uid: int,
                       sender: str, kind: str, outcome: Outcome, reason: str,
                       flagged: bool = False) -> None:
        """What was done with one inbound message, and the folder read past it (call inside
        the transaction that queues its reply, so both happen or neither)."""
        with self.transaction():
            self.conn.execute(
                "INSERT INTO messages (message_id, folder, uidvalidity, uid, sender, kind, "
                "outcome, reason, flagged, handled_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(message_id) DO UPDATE SET kind = excluded.kind, "
                "outcome = excluded.outcome, reason = excluded.reason, "
                "flagged = excluded.flagged, handled_at = excluded.handled_at "
                "WHERE messages.outcome = 'waiting'",
                (message_id, folder, uidvalidity, uid, sender, kind, outcome.value, reason,
                 int(flagged), utcnow()))
            self.advance(folder, uidvalidity, uid)

    def advance(self, folder: str, uidvalidity: int, uid: int) -> None:
        with self.transaction():
            self.conn.execute(
                "UPDATE mailboxes SET last_uid = MAX(last_uid, ?), handling_uid = NULL, "
                "handling_attempts = 0 WHERE folder = ? AND uidvalidity = ?",
                (uid, folder, uidvalidity))

    def waiting_messages(self, folder: str, uidvalidity: int) -> list[Handled]:
        return [_handled(r) for r in self.conn.execute(
            _MESSAGE_SELECT + " WHERE outcome = 'waiting' AND folder = ? AND uidvalidity = ? "
            "ORDER BY uid", (folder, uidvalidity)).fetchall()]

    def waiting_count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM messages WHERE "
                                     "outcome = 'waiting'").fetchone()[0])

    # -- the outbox --

    def mail(self, message_id: str) -> Mail | None:
        row = self.conn.execute(_MAIL_SELECT + " WHERE message_id = ?", (message_id,)).fetchone()
        return None if row is None else _mail(row)

    def queue_mail(self, message_id: str, *, kind: str, recipient: str, in_reply_to: str,
                   body: bytes, draft: bool, conversation: str = "") -> Mail:
        """Record an email to send (or draft) with its bytes; the same Message-ID again keeps
        the first (a row from schema 1 without bytes gets them). `conversation`: the
        Message-ID its thread started with (the limits count conversations)."""
        now = utcnow()
        with self.transaction():
            self.conn.execute(
                "INSERT INTO outbox (message_id, kind, recipient, rate_key, in_reply_to, state, "
                "draft, body, detail, attempts, created_at, updated_at, conversation) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, NULL, 0, ?, ?, ?) ON CONFLICT(message_id) DO UPDATE "
                "SET body = COALESCE(outbox.body, excluded.body)",
                (message_id, kind, recipient.lower(), rate_key(recipient), in_reply_to,
                 MailState.QUEUED.value, int(draft), body, now, now,
                 conversation.strip().strip("<>")))
            found = self.mail(message_id)
        assert found is not None
        return found

    def set_mail_state(self, message_id: str, state: MailState, detail: str | None = None, *,
                       attempt: bool = False) -> None:
        with self.transaction():
            self.conn.execute(
                "UPDATE outbox SET state = ?, detail = ?, updated_at = ?, attempts = attempts + ? "
                "WHERE message_id = ?",
                (state.value, detail, utcnow(), int(attempt), message_id))

    def unfinished_mail(self) -> list[Mail]:
        """Emails recorded but not yet sent, drafted, failed or cancelled, oldest first."""
        return [_mail(r) for r in self.conn.execute(
            _MAIL_SELECT + " WHERE state IN ('queued', 'filed', 'written') AND body IS NOT NULL "
            "ORDER BY created_at, rowid").fetchall()]

    def sent_count(self, since: datetime, *, key: str | None = None, kind: str | None = None,
                   kinds: Sequence[str] = (), exclude_kinds: Sequence[str] = ()) -> int:
        """Automatic emails recorded since then (to one rate key, of one kind): what counts
        against the limits, whatever became of them but a cancellation or a failure."""
        query = ("SELECT COUNT(*) FROM outbox WHERE created_at >= ? AND state NOT IN "
                 "('cancelled', 'failed')")
        params: list[object] = [since_text(since)]
        if key is not None:
            query += " AND rate_key = ?"
            params.append(key)
        if kind is not None:
            query += " AND kind = ?"
            params.append(kind)
        if kinds:
            query += f" AND kind IN ({', '.join('?' * len(kinds))})"
            params.extend(kinds)
        if exclude_kinds:
            query += f" AND kind NOT IN ({', '.join('?' * len(exclude_kinds))})"
            params.extend(exclude_kinds)
        return int(self.conn.execute(query, params).fetchone()[0])

    def conversation_of(self, message_ids: Sequence[str]) -> str | None:
        """The conversation of frontdesk's own emails among these Message-IDs, latest first."""
        wanted = [f"<{m.strip().strip('<>')}>" for m in message_ids if m.strip()]
        for message_id in reversed(wanted):
            row = self.conn.execute("SELECT conversation FROM outbox WHERE message_id = ?",
                                    (message_id,)).fetchone()
            if row is not None and row[0]:
                return str(row[0])
        return None

    def conversations(self, since: datetime, *, key: str) -> set[str]:
        """The conversations in which automatic replies went to this rate key since then."""
        return {str(r[0]) for r in self.conn.execute(
            "SELECT DISTINCT conversation FROM outbox WHERE created_at >= ? AND rate_key = ? AND "
            "kind != 'imip' AND state NOT IN ('cancelled', 'failed')",
            (since_text(since), key)).fetchall()}

    def sent_in_conversation(self, since: datetime, conversation: str) -> int:
        return int(self.conn.execute(
            "SELECT COUNT(*) FROM outbox WHERE created_at >= ? AND conversation = ? AND "
            "state NOT IN ('cancelled', 'failed')",
            (since_text(since), conversation.strip("<>"))).fetchone()[0])

    # -- the booking conversation --

    def record_offer(self, offer: Offer, *, supersede: bool = True) -> None:
        """An offer with its reply (inside the reply's transaction); the client's older open
        offers are closed: only the latest is answered by a choice."""
        now = utcnow()
        with self.transaction():
            if supersede:
                self.conn.execute("UPDATE offers SET state = 'closed' WHERE client_key = ? AND "
                                  "state = 'open' AND offer_id != ?",
                                  (address_key(offer.client), offer.offer_id))
            self.conn.execute(
                "INSERT INTO offers (offer_id, client, client_key, client_name, language, "
                "service, slots, thread, state, asked, created_at, expires_at, moves) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(offer_id) DO NOTHING",
                (offer.offer_id, offer.client, address_key(offer.client), offer.client_name,
                 offer.language, offer.service,
                 json.dumps([[s.start.isoformat(), s.end.isoformat()] for s in offer.slots]),
                 json.dumps(list(offer.thread)), offer.state, offer.asked, now,
                 since_text(offer.expires_at), offer.moves))

    def offers(self, *, state: OfferState | None = None, client: str | None = None,
               zone: tzinfo = UTC) -> list[Offer]:
        query, params = _filtered(_OFFER_SELECT, "created_at", {
            "state = ?": None if state is None else state.value,
            "client_key = ?": None if client is None else address_key(client)})
        return [self._offer(r, zone) for r in self.conn.execute(query, params).fetchall()]

    def held_offers(self, now: datetime, zone: tzinfo = UTC) -> list[Offer]:
        """The open offers whose times are still held at `now`, oldest first: the ones that
        keep their slots from other clients (an expired offer stays open for its own client,
        but holds nothing, and a year of them is not read again for every request)."""
        rows = self.conn.execute(_OFFER_SELECT + " WHERE state = ? AND expires_at > ? "
                                 "ORDER BY created_at",
                                 (OfferState.OPEN.value, since_text(now))).fetchall()
        return [self._offer(r, zone) for r in rows]

    def offer_in_thread(self, message_ids: Sequence[str], zone: tzinfo = UTC) -> Offer | None:
        """The offer whose reply (or conversation) these Message-IDs name, latest first."""
        wanted = sorted({m.strip().strip("<>") for m in message_ids if m.strip().strip("<>")})
        if not wanted:
            return None
        # offer ids are stored as written (with or without <>); threads without them
        ids = sorted({*wanted, *(f"<{m}>" for m in wanted)})
        marks = ", ".join("?" * len(ids))
        row = self.conn.execute(
            f"{_OFFER_SELECT} WHERE offer_id IN ({marks}) OR EXISTS (SELECT 1 FROM "
            f"json_each(offers.thread) WHERE json_each.value IN ({marks})) "
            "ORDER BY created_at DESC, rowid DESC LIMIT 1", (*ids, *ids)).fetchone()
        return None if row is None else self._offer(row, zone)

    def _offer(self, row: Sequence[object], zone: tzinfo) -> Offer:
        # Offers are read again for every request (their holds); a row that has not changed
        # is not parsed again. Bounded: cleared when it grows past a busy year's offers.
        key = (tuple(row), zone)
        found = self._offers_read.get(key)
        if found is None:
            if len(self._offers_read) >= 8192:
                self._offers_read.clear()
            found = self._offers_read[key] = _offer(row, zone)
        return found

    def set_offer(self, offer_id: str, *, state: OfferState | None = None,
                  asked: int | None = None) -> None:
        with self.transaction():
            if state is not None:
                self.conn.execute("UPDATE offers SET state = ? WHERE offer_id = ?",
                                  (state.value, offer_id))
            if asked is not None:
                self.conn.execute("UPDATE offers SET asked = ? WHERE offer_id = ?",
                                  (asked, offer_id))

    def add_to_thread(self, offer_id: str, message_ids: Sequence[str]) -> None:
        row = self.conn.execute("SELECT thread FROM offers WHERE offer_id = ?",
                                (offer_id,)).fetchone()
        if row is None:
            return
        thread = list(json.loads(row[0]))
        thread += [m.strip("<>") for m in message_ids if m.strip("<>") not in thread]
        with self.transaction():
            self.conn.execute("UPDATE offers SET thread = ? WHERE offer_id = ?",
                              (json.dumps(thread), offer_id))

    def overlapping(self, start: datetime, end: datetime) -> list[Appointment]:
        """Appointments (not cancelled) that overlap [start, end)."""
        return [_appointment(r, start.tzinfo or UTC) for r in self.conn.execute(
            _APPOINTMENT_SELECT + " WHERE state != 'cancelled' AND start < ? AND end > ?",
            (end.timestamp(), start.timestamp())).fetchall()]

    def record_appointment(self, appointment: Appointment, *, collection: str, href: str,
                           event: bytes, message_id: str) -> None:
        now = utcnow()
        with self.transaction():
            self.conn.execute(
                "INSERT INTO appointments (uid, client, client_key, client_name, language, "
                "service, start, end, state, offer_id, collection, href, etag, event, "
                "message_id, sequence, flagged, thread, created_at, updated_at) VALUES (?, ?, ?, "
                "?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, NULL, ?, ?, ?)",
                (appointment.uid, appointment.client, address_key(appointment.client),
                 appointment.client_name, appointment.language, appointment.service,
                 appointment.start.timestamp(), appointment.end.timestamp(), appointment.state,
                 appointment.offer_id, collection, href, event, message_id,
                 appointment.sequence,
                 json.dumps(list(dict.fromkeys([*appointment.thread, message_id.strip("<>")]))),
                 now, now))

    def appointment(self, uid: str, zone: tzinfo = UTC) -> Appointment | None:
        row = self.conn.execute(_APPOINTMENT_SELECT + " WHERE uid = ?", (uid,)).fetchone()
        return None if row is None else _appointment(row, zone)

    def appointment_row(self, uid: str) -> dict[str, object] | None:
        """Where an appointment's event is, its bytes, its confirmation's Message-ID."""
        row = self.conn.execute("SELECT collection, href, etag, event, message_id, flagged "
                                "FROM appointments WHERE uid = ?", (uid,)).fetchone()
        if row is None:
            return None
        return {"collection": row[0], "href": row[1], "etag": row[2],
                "event": None if row[3] is None else bytes(row[3]), "message_id": row[4],
                "flagged": row[5] or ""}

    def appointments(self, *, state: AppointmentState | None = None,
                     client: str | None = None, after: datetime | None = None,
                     zone: tzinfo = UTC) -> list[Appointment]:
        query, params = _filtered(_APPOINTMENT_SELECT, "start", {
            "state = ?": None if state is None else state.value,
            "client_key = ?": None if client is None else address_key(client),
            "end > ?": None if after is None else after.timestamp()})
        return [_appointment(r, zone) for r in self.conn.execute(query, params).fetchall()]

    def appointment_in_thread(self, message_ids: Sequence[str],
                              zone: tzinfo = UTC) -> Appointment | None:
        """The appointment whose emails (its confirmation, a move) or whose offer's
        conversation these Message-IDs name, latest first."""
        wanted = {m.strip().strip("<>") for m in message_ids if m.strip()}
        if not wanted:
            return None
        offers = {o.offer_id.strip("<>"): {o.offer_id.strip("<>"), *o.thread}
                  for o in self.offers(state=OfferState.BOOKED)}
        for appointment in reversed(self.appointments(zone=zone)):
            ids = set(appointment.thread) | offers.get(appointment.offer_id.strip("<>"), set())
            if ids & wanted:
                return appointment
        return None

    def add_to_appointment(self, uid: str, message_ids: Sequence[str]) -> None:
        row = self.conn.execute("SELECT thread FROM appointments WHERE uid = ?",
                                (uid,)).fetchone()
        if row is None:
            return
        thread = list(json.loads(str(row[0] or "[]")))
        thread += [m.strip("<>") for m in message_ids if m.strip("<>") not in thread]
        with self.transaction():
            self.conn.execute("UPDATE appointments SET thread = ? WHERE uid = ?",
                              (json.dumps(thread), uid))

    def appointment_changed(self, key: str) -> datetime | None:
        """When this client's appointments last changed (booked, cancelled, moved)."""
        row = self.conn.execute("SELECT MAX(updated_at) FROM appointments WHERE client_key = ?",
                                (key,)).fetchone()
        return None if row is None or row[0] is None else _when(row[0], UTC)

    def returning(self, key: str, now: datetime) -> bool:
        """Has this client had an appointment frontdesk booked, already begun?"""
        row = self.conn.execute(
            "SELECT 1 FROM appointments WHERE client_key = ? AND state = 'booked' AND start < ? "
            "LIMIT 1", (key, now.timestamp())).fetchone()
        return row is not None

    # -- changes to appointments --

    def record_change(self, change: Change) -> None:
        """A change with its email (inside the message's transaction); the same change again
        (a restart) keeps the first."""
        now = utcnow()
        with self.transaction():
            self.conn.execute(
                "INSERT INTO changes (change_id, uid, kind, sequence, start, end, attendee, "
                "partstat, category, message_id, offer_id, state, detail, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?) "
                "ON CONFLICT(change_id) DO NOTHING",
                (change.change_id, change.uid, change.kind.value, change.sequence,
                 None if change.start is None else change.start.timestamp(),
                 None if change.end is None else change.end.timestamp(), change.attendee,
                 change.partstat, change.category, change.message_id, change.offer_id,
                 change.state.value, now, now))

    def change(self, change_id: str, zone: tzinfo = UTC) -> Change | None:
        row = self.conn.execute(_CHANGE_SELECT + " WHERE change_id = ?",
                                (change_id,)).fetchone()
        return None if row is None else _change(row, zone)

    def changes(self, *, state: ChangeState | None = None, uid: str | None = None,
                zone: tzinfo = UTC) -> list[Change]:
        query, params = _filtered(_CHANGE_SELECT, "created_at, rowid", {
            "state = ?": None if state is None else state.value, "uid = ?": uid})
        return [_change(r, zone) for r in self.conn.execute(query, params).fetchall()]

    def change_of_mail(self, message_id: str) -> Change | None:
        row = self.conn.execute(_CHANGE_SELECT + " WHERE message_id = ?",
                                (message_id,)).fetchone()
        return None if row is None else _change(row, UTC)

    def store_change(self, change: Change, *, etag: str | None, event: bytes) -> None:
        """The calendar says it now: the change and the appointment move on together."""
        now = utcnow()
        with self.transaction():
            self.conn.execute("UPDATE changes SET state = 'stored', updated_at = ? WHERE "
                              "change_id = ?", (now, change.change_id))
            self.conn.execute("UPDATE appointments SET etag = ?, event = ?, updated_at = ? "
                              "WHERE uid = ?", (etag, event, now, change.uid))
            if change.kind is ChangeKind.CANCEL:
                self.conn.execute("UPDATE appointments SET state = 'cancelled', sequence = ? "
                                  "WHERE uid = ?", (change.sequence, change.uid))
            elif change.kind is ChangeKind.MOVE:
                assert change.start is not None and change.end is not None
                self.conn.execute("UPDATE appointments SET start = ?, end = ?, sequence = ?, "
                                  "partstat = 'NEEDS-ACTION' WHERE uid = ?",
                                  (change.start.timestamp(), change.end.timestamp(),
                                   change.sequence, change.uid))
            elif change.kind is ChangeKind.PARTSTAT:
                self.conn.execute("UPDATE appointments SET partstat = ? WHERE uid = ?",
                                  (change.partstat, change.uid))

    def fail_change(self, change: Change, detail: str) -> None:
        """The change cannot be made: its email is not sent, the freelancer is told."""
        now = utcnow()
        with self.transaction():
            self.conn.execute("UPDATE changes SET state = 'failed', detail = ?, updated_at = ? "
                              "WHERE change_id = ?", (detail, now, change.change_id))
            if change.message_id:
                self.conn.execute("UPDATE outbox SET state = 'cancelled', detail = ?, "
                                  "updated_at = ? WHERE message_id = ? AND state = 'queued'",
                                  (detail, now, change.message_id))
            self.conn.execute("UPDATE appointments SET flagged = ?, updated_at = ? WHERE uid = ?",
                              (detail, now, change.uid))

    def set_appointment(self, uid: str, *, state: AppointmentState | None = None,
                        etag: str | None = None, flagged: str | None = None) -> None:
        with self.transaction():
            if state is not None:
                self.conn.execute("UPDATE appointments SET state = ?, updated_at = ? WHERE "
                                  "uid = ?", (state.value, utcnow(), uid))
            if etag is not None:
                self.conn.execute("UPDATE appointments SET etag = ? WHERE uid = ?", (etag, uid))
            if flagged is not None:
                self.conn.execute("UPDATE appointments SET flagged = ?, updated_at = ? WHERE "
                                  "uid = ?", (flagged, utcnow(), uid))

    def appointment_of_mail(self, message_id: str) -> tuple[str, AppointmentState] | None:
        """(uid, state) of the appointment whose confirmation this email is."""
        row = self.conn.execute("SELECT uid, state FROM appointments WHERE message_id = ?",
                                (message_id,)).fetchone()
        return None if row is None else (str(row[0]), AppointmentState(str(row[1])))

    def appointments_changed_since(self, since: datetime,
                                   state: AppointmentState) -> list[Appointment]:
        return [_appointment(r, UTC) for r in self.conn.execute(
            _APPOINTMENT_SELECT + " WHERE state = ? AND updated_at >= ? ORDER BY start",
            (state.value, since_text(since))).fetchall()]

    def booked_since(self, since: datetime) -> int:
        return int(self.conn.execute(
            "SELECT COUNT(*) FROM appointments WHERE state = 'booked' AND created_at >= ?",
            (since_text(since),)).fetchone()[0])

    # -- who the sender is --

    def thread_kinds(self, message_ids: Sequence[str]) -> list[str]:
        """The kinds of frontdesk's own emails among these Message-IDs (with or without their
        angle brackets): what a message answering them answers."""
        wanted = {f"<{m.strip().strip('<>')}>" for m in message_ids if m.strip()}
        if not wanted:
            return []
        marks = ", ".join("?" * len(wanted))
        return [str(r[0]) for r in self.conn.execute(
            f"SELECT kind FROM outbox WHERE message_id IN ({marks})",  # placeholders only
            sorted(wanted)).fetchall()]

    def dealt_with(self, key: str) -> bool:
        """Has frontdesk answered this address before (a reply, not a decline)?"""
        row = self.conn.execute(
            "SELECT 1 FROM outbox WHERE rate_key = ? AND kind != 'imip' AND state NOT IN "
            "('cancelled', 'failed') LIMIT 1", (key,)).fetchone()
        return row is not None

    def is_correspondent(self, key: str) -> bool:
        row = self.conn.execute("SELECT 1 FROM correspondents WHERE rate_key = ?",
                                (key,)).fetchone()
        return row is not None

    def note_correspondents(self, keys: Iterable[str]) -> None:
        now = utcnow()
        with self.transaction():
            self.conn.executemany(
                "INSERT INTO correspondents (rate_key, seen_at) VALUES (?, ?) "
                "ON CONFLICT(rate_key) DO UPDATE SET seen_at = excluded.seen_at",
                [(k, now) for k in keys])

    def sent_position(self, folder: str) -> tuple[int, int]:
        """(UIDVALIDITY, last UID) up to which `folder` was read for correspondents; (0, 0)
        before its first scan (a position in another folder, named before, does not count)."""
        value = self.fact_json(FACT_SENT_POSITION)
        if isinstance(value, dict) and value.get("folder") == folder:
            with contextlib.suppress(KeyError, TypeError, ValueError):
                return int(value["uidvalidity"]), int(value["last_uid"])
        return 0, 0

    def learn_from_sent(self, folder: str, uidvalidity: int, last_uid: int,
                        keys: Iterable[str]) -> None:
        """The correspondents read in `folder` and its position past them, together: a crash
        in between never skips a message nor reads one twice."""
        with self.transaction():
            self.note_correspondents(keys)
            self.set_fact(FACT_SENT_POSITION, json.dumps(
                {"folder": folder, "uidvalidity": uidvalidity, "last_uid": last_uid}))

    def sent_by_frontdesk(self, message_id: str) -> bool:
        """Is this Message-ID (with its angle brackets) one of frontdesk's own emails?"""
        row = self.conn.execute("SELECT 1 FROM outbox WHERE message_id = ?",
                                (message_id,)).fetchone()
        return row is not None

    # -- status --

    def counts_since(self, since: datetime) -> dict[str, int]:
        """Today's figures for `status`: outbox states by kind group, invitations, messages."""
        text = since_text(since)
        counts: dict[str, int] = {}
        for state, kind, number in self.conn.execute(
                "SELECT state, kind, COUNT(*) FROM outbox WHERE updated_at >= ? "
                "GROUP BY state, kind", (text,)):
            group = "decline" if kind == "imip" else "reply"
            counts[f"{group}_{state}"] = counts.get(f"{group}_{state}", 0) + int(number)
        for decision, state, number in self.conn.execute(
                "SELECT decision, state, COUNT(*) FROM invitations WHERE updated_at >= ? "
                "GROUP BY decision, state", (text,)):
            counts[f"invitation_{decision}_{state}"] = int(number)
        for outcome, number in self.conn.execute(
                "SELECT outcome, COUNT(*) FROM messages WHERE handled_at >= ? GROUP BY outcome",
                (text,)):
            counts[f"mail_{outcome}"] = int(number)
        return counts

    def last_message(self) -> Handled | None:
        row = self.conn.execute(_MESSAGE_SELECT + " ORDER BY handled_at DESC, rowid DESC "
                                "LIMIT 1").fetchone()
        return None if row is None else _handled(row)

    def failed_mail(self, since: datetime, limit: int = 5) -> list[Mail]:
        return [_mail(r) for r in self.conn.execute(
            _MAIL_SELECT + " WHERE state = 'failed' AND updated_at >= ? ORDER BY updated_at "
            "DESC LIMIT ?", (since_text(since), limit)).fetchall()]

    def failed_invitations(self, since: datetime, limit: int = 5) -> list[Invitation]:
        return [_invitation(r) for r in self.conn.execute(
            _INVITATION_SELECT + " WHERE state = 'failed' AND updated_at >= ? ORDER BY "
            "updated_at DESC LIMIT ?", (since_text(since), limit)).fetchall()]

    def messages_with(self, outcomes: Sequence[Outcome], since: datetime,
                      limit: int = 5) -> list[Handled]:
        marks = ", ".join("?" * len(outcomes))
        return [_handled(r) for r in self.conn.execute(
            _MESSAGE_SELECT + f" WHERE outcome IN ({marks}) AND handled_at >= ? "
            "ORDER BY handled_at DESC LIMIT ?",  # only placeholders are formatted in
            [*(o.value for o in outcomes), since_text(since), limit]).fetchall()]

    def flagged_messages(self, since: datetime, limit: int = 10) -> list[Handled]:
        return [_handled(r) for r in self.conn.execute(
            _MESSAGE_SELECT + " WHERE flagged = 1 AND handled_at >= ? ORDER BY handled_at DESC "
            "LIMIT ?", (since_text(since), limit)).fetchall()]

    def drafts(self, since: datetime | None = None) -> list[Mail]:
        query = _MAIL_SELECT + " WHERE state = 'drafted'"
        params: list[object] = []
        if since is not None:
            query += " AND updated_at >= ?"
            params.append(since_text(since))
        return [_mail(r) for r in self.conn.execute(query + " ORDER BY updated_at",
                                                    params).fetchall()]


# --- Fact names -----------------------------------------------------------------------------------

FACT_SYNCED = "calendar_synced_at"  # the last time every calendar synced successfully
FACT_SYNC_FAILED = "calendar_sync_failed"  # why the last sync failed, "" when it did not
FACT_PASS_AT = "last_pass_at"
FACT_PASS = "last_pass"  # JSON: what the last pass did (counts, command)
FACT_POSITION_AT = "inbox_position_at"
FACT_MAIL_FAULT = "mail_fault"  # why the mailbox could not be used on the last pass, or ""
FACT_MAIL_SINCE = "mail_answered_since"  # mail before this moment is not answered (first start)
FACT_SENT_POSITION = "sent_position"  # JSON: the Sent folder read for correspondents, up to where
FACT_SCHEDULING = "scheduling:"  # + calendar URL: "1" when its server does RFC 6638 scheduling
_BOUNDS_ZONE = "mirror.bounds_zone"


def _newer(where: object, version: int) -> str:
    return (f"the state database {where} was written by a newer frontdesk (schema {version}; "
            f"this one knows up to {SCHEMA_VERSION}): upgrade frontdesk, or point "
            "daemon.state_dir at a new folder")


_INVITATION_SELECT = ("SELECT uid, recurrence_id, sequence, decision, state, reason, summary, "
                      "organizer, message_id, collection, href, detail FROM invitations")
_MESSAGE_SELECT = ("SELECT message_id, folder, uidvalidity, uid, sender, kind, outcome, reason, "
                   "flagged, handled_at FROM messages")
_MAIL_SELECT = ("SELECT message_id, kind, recipient, rate_key, in_reply_to, state, draft, body, "
                "detail, attempts, created_at FROM outbox")


_OFFER_SELECT = ("SELECT offer_id, client, client_name, language, service, slots, thread, state, "
                 "asked, created_at, expires_at, moves FROM offers")
_APPOINTMENT_SELECT = ("SELECT uid, client, client_name, service, start, end, state, offer_id, "
                       "language, sequence, partstat, flagged, thread FROM appointments")
_CHANGE_SELECT = ("SELECT change_id, uid, kind, sequence, start, end, attendee, partstat, "
                  "category, message_id, offer_id, state, detail FROM changes")


def _filtered(select: str, order: str,
              conditions: dict[str, object]) -> tuple[str, list[object]]:
    """A SELECT with the conditions whose value is given (None leaves one out; an empty
    address still filters: it matches nothing, not everyone), ordered."""
    given = {clause: value for clause, value in conditions.items() if value is not None}
    where = " AND ".join(given) or "1 = 1"
    return f"{select} WHERE {where} ORDER BY {order}", list(given.values())


def _when(text: object, zone: tzinfo) -> datetime:
    value = datetime.fromisoformat(str(text))
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(zone)


def _offer(row: Sequence[object], zone: tzinfo) -> Offer:
    slots = tuple(Slot(_when(a, zone), _when(b, zone)) for a, b in json.loads(str(row[5])))
    return Offer(offer_id=str(row[0]), client=str(row[1]), client_name=str(row[2] or ""),
                 language=str(row[3]), service=int(str(row[4])), slots=slots,
                 created_at=_when(row[9], zone), expires_at=_when(row[10], zone),
                 state=str(row[7]), asked=int(str(row[8])),
                 thread=tuple(str(m) for m in json.loads(str(row[6]))), moves=str(row[11] or ""))


def _appointment(row: Sequence[object], zone: tzinfo) -> Appointment:
    return Appointment(uid=str(row[0]), client=str(row[1]), client_name=str(row[2] or ""),
                       service=int(str(row[3])),
                       start=datetime.fromtimestamp(float(str(row[4])), zone),
                       end=datetime.fromtimestamp(float(str(row[5])), zone), state=str(row[6]),
                       offer_id=str(row[7] or ""), language=str(row[8]),
                       sequence=int(str(row[9])), partstat=str(row[10] or "NEEDS-ACTION"),
                       flagged=str(row[11] or ""),
                       thread=tuple(str(m) for m in json.loads(str(row[12] or "[]"))))


def _change(row: Sequence[object], zone: tzinfo) -> Change:
    start = None if row[4] is None else datetime.fromtimestamp(float(str(row[4])), zone)
    end = None if row[5] is None else datetime.fromtimestamp(float(str(row[5])), zone)
    return Change(change_id=str(row[0]), uid=str(row[1]), kind=ChangeKind(str(row[2])),
                  sequence=int(str(row[3])), start=start, end=end, attendee=str(row[6] or ""),
                  partstat=str(row[7] or ""), category=str(row[8] or ""),
                  message_id=None if row[9] is None else str(row[9]),
                  offer_id=str(row[10] or ""), state=ChangeState(str(row[11])),
                  detail=str(row[12] or ""))


def _invitation(row: Sequence[object]) -> Invitation:
    return Invitation(
        uid=str(row[0]), recurrence_id=str(row[1] or ""), sequence=int(str(row[2])),
        decision=InvitationDecision(str(row[3])), state=InvitationState(str(row[4])),
        reason=str(row[5] or ""), summary=str(row[6] or ""), organizer=str(row[7] or ""),
        message_id=None if row[8] is None else str(row[8]),
        collection=None if row[9] is None else str(row[9]),
        href=None if row[10] is None else str(row[10]), detail=str(row[11] or ""))


def _handled(row: Sequence[object]) -> Handled:
    return Handled(
        message_id=str(row[0]), folder=str(row[1] or ""), uidvalidity=int(str(row[2] or 0)),
        uid=int(str(row[3] or 0)), sender=str(row[4] or ""), kind=str(row[5] or ""),
        outcome=Outcome(str(row[6])), reason=str(row[7] or ""), flagged=bool(row[8]),
        handled_at=str(row[9]))


def _mail(row: Sequence[object]) -> Mail:
    body = row[7]
    return Mail(
        message_id=str(row[0]), kind=str(row[1]), recipient=str(row[2]), rate_key=str(row[3]),
        in_reply_to=str(row[4]), state=MailState(str(row[5])), draft=bool(row[6]),
        body=bytes(body) if isinstance(body, (bytes, memoryview)) else None,
        detail=str(row[8] or ""), attempts=int(str(row[9] or 0)), created_at=str(row[10]))
