"""The state database: one SQLite file in `daemon.state_dir`.

It holds the calendar mirror (sync token, href -> ETag -> raw object, with the bounds that let the
busy-time reader skip what cannot occur in a window) and the ledger of every side effect, written
before and after acting, so that a crash and restart neither repeats nor forgets one.
Each table belongs to the module named beside it; this module only opens and migrates.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA_VERSION = 1

SCHEMA = """
-- daemon/mirror.py: one row per synced collection
CREATE TABLE IF NOT EXISTS collections (
    url         TEXT PRIMARY KEY,
    sync_token  TEXT,            -- NULL: never synced, or the server has no sync tokens
    synced_at   TEXT,            -- ISO-8601 UTC of the last successful sync
    role        TEXT NOT NULL DEFAULT 'main'   -- 'main' (guarded, booked into) or 'busy'
);
-- daemon/mirror.py: the objects of each collection
CREATE TABLE IF NOT EXISTS objects (
    collection  TEXT NOT NULL,
    href        TEXT NOT NULL,
    etag        TEXT,
    raw         BLOB NOT NULL,
    first_start REAL,            -- epoch seconds of the earliest start; NULL: unknown
    last_end    REAL,            -- epoch seconds of the latest end; NULL: open-ended or unknown
    changed_at  TEXT,            -- when this revision reached the mirror
    judged_etag TEXT,            -- daemon/guard.py: the revision the invitation guard last judged
    PRIMARY KEY (collection, href)
);
CREATE INDEX IF NOT EXISTS objects_window ON objects (collection, first_start, last_end);
-- daemon/mirror.py: each object's busy intervals over a span, so that a window read again
-- (every `slots`, every booking reply) does not parse and expand the iCalendar again
CREATE TABLE IF NOT EXISTS busy_cache (
    collection  TEXT NOT NULL,
    href        TEXT NOT NULL,
    key         TEXT NOT NULL,     -- the object's revision, zone and the freelancer's addresses
    span_start  REAL NOT NULL,
    span_end    REAL NOT NULL,
    intervals   TEXT NOT NULL,     -- JSON [[start epoch, end epoch, all_day, uid], ...]
    PRIMARY KEY (collection, href)
);
-- daemon/guard.py: invitations judged and acted on, one row per revision
CREATE TABLE IF NOT EXISTS invitations (
    uid           TEXT NOT NULL,
    recurrence_id TEXT NOT NULL DEFAULT '',
    sequence      INTEGER NOT NULL,
    decision      TEXT NOT NULL,  -- decline | leave | review
    state         TEXT NOT NULL,  -- pending | stored | sent | done | failed
    reason        TEXT,
    summary       TEXT,
    organizer     TEXT,
    message_id    TEXT,
    message       BLOB,          -- the iMIP REPLY, built before acting, sent from here on resume
    collection    TEXT,
    href          TEXT,
    detail        TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (uid, recurrence_id, sequence)
);
-- daemon/inbox.py: IMAP position per folder
CREATE TABLE IF NOT EXISTS mailboxes (
    folder       TEXT PRIMARY KEY,
    uidvalidity  INTEGER NOT NULL,
    last_uid     INTEGER NOT NULL
);
-- daemon/inbox.py: every inbound message seen, by Message-ID
CREATE TABLE IF NOT EXISTS messages (
    message_id   TEXT PRIMARY KEY,
    folder       TEXT,
    uid          INTEGER,
    sender       TEXT,
    kind         TEXT,           -- booking | objection | invitation | ignored | review | failed
    reason       TEXT,
    handled_at   TEXT NOT NULL
);
-- daemon/inbox.py: automatic replies (booking, objection, imip), the exactly-once ledger
CREATE TABLE IF NOT EXISTS replies (
    message_id    TEXT PRIMARY KEY,  -- of the reply, derived from the client's Message-ID
    in_reply_to   TEXT NOT NULL,
    recipient     TEXT NOT NULL,
    kind          TEXT NOT NULL,
    state         TEXT NOT NULL,     -- sending | sent | drafted | failed
    detail        TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS replies_rate ON replies (recipient, kind, created_at);
-- daemon: free-form facts (last pass, last mail, ...)
CREATE TABLE IF NOT EXISTS facts (
    key    TEXT PRIMARY KEY,
    value  TEXT
);
"""


def database_path(state_dir: Path) -> Path:
    return state_dir / "frontdesk.sqlite3"


def open_db(state_dir: Path | None) -> sqlite3.Connection:
    """Open (creating if needed) the state database, in WAL mode so `status` can read while
    `run` writes. `None` gives a private in-memory database (for `explain`)."""
    if state_dir is None:
        conn = sqlite3.connect(":memory:", isolation_level=None)
    else:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        conn = sqlite3.connect(database_path(state_dir), timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a reply recorded as sent must survive a power cut, or it could be sent twice
        conn.execute("PRAGMA synchronous=FULL")
    conn.row_factory = sqlite3.Row
    conn.executescript(SCHEMA)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    return conn


def set_fact(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO facts (key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def get_fact(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM facts WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def open_existing(state_dir: Path) -> sqlite3.Connection | None:
    """Open the state database read-only if it exists (for `status`)."""
    path = database_path(state_dir)
    if not path.exists():
        return None
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    conn.row_factory = sqlite3.Row
    return conn
