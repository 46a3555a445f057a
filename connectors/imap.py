"""The client's mailbox over IMAP (imapclient): read new mail, mark it answered, file our copies.

A thin adapter. It decides nothing; it turns imapclient's bytes into str, int and dataclasses at
the edge, and imapclient's and the socket's exceptions into the small MailError tree, each one
sentence a person can act on. The client's messages are never deleted, moved or changed: bodies
are read with BODY.PEEK[] (BODY[] would set \\Seen), and the only STORE is +FLAGS.SILENT.

What one fetch can cost is bounded: sizes (RFC822.SIZE) are asked first, a message above the
caller's maximum comes back as its header only (BODY.PEEK[HEADER], marked truncated, with its
real size), and bodies are fetched in batches bounded in bytes as well as in number.
"""

from __future__ import annotations

import email.parser
import email.policy
import imaplib
import logging
import select
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Final, Self

from imapclient import IMAPClient
from imapclient.exceptions import LoginError
from imapclient.imapclient import _parse_untagged_response

from connectors.mailparse import MalformedMessage, parse_message
from connectors.net import SECURITIES, connection_reason, fallback_reason
from connectors.net import one_line as _one_line
from rules.mail.etiquette import auto_submitted_value
from rules.model import InboundMessage

log = logging.getLogger(__name__)

# Server keep-alives during IDLE ("* OK Still here"): not news about the mailbox.
_KEEPALIVES = (b"OK",)
_HEADER_FIELDS = "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"
MAX_MESSAGE_SIZE: Final = 25 * 1024 * 1024  # a bigger message is read as its header only
MAX_BATCH_BYTES: Final = 32 * 1024 * 1024  # message bytes asked for in one FETCH, at most
MAX_HEADER_BYTES: Final = 256 * 1024  # of an oversized message's header (a real one is < 64 KB)
MAX_SENT_SCAN: Final = 2_000  # messages one recipients_after reads at most: the newest
MAX_RECIPIENT_BYTES: Final = 32 * 1024  # of one message's To, Cc and Bcc (~700 addresses)
_MARK_BYTES: Final = 4 * 1024  # of its Auto-Submitted and Message-ID (a real pair is < 200)
_RECIPIENT_FIELDS: Final = f"BODY.PEEK[HEADER.FIELDS (TO CC BCC)]<0.{MAX_RECIPIENT_BYTES}>"
_MARK_FIELDS: Final = f"BODY.PEEK[HEADER.FIELDS (AUTO-SUBMITTED MESSAGE-ID)]<0.{_MARK_BYTES}>"


class MailError(Exception):
    """Something went wrong with the mailbox; str() is one sentence a person can read."""


class MailAuthError(MailError):
    """The server refused the login: the configuration must change, retrying will not help."""


class MailUnreachable(MailError):
    """The connection failed, broke or timed out (also a TLS failure): reconnect later."""


class FolderMissing(MailError):
    """The folder named in the configuration does not exist on the server."""


@dataclass(frozen=True)
class FolderState:
    name: str
    uidvalidity: int
    uidnext: int
    exists: int
    keywords_ok: bool  # PERMANENTFLAGS holds \* : custom keywords are kept


@dataclass(frozen=True)
class Fetched:
    """One message as read. When `truncated`, `raw` is its header only (with the blank line that
    ends it, unless the header itself is above MAX_HEADER_BYTES): the whole message, `size`
    bytes, was above the maximum the caller allows."""

    uid: int
    raw: bytes
    flags: tuple[str, ...]
    internaldate: datetime | None  # aware, as the server recorded it
    size: int = 0  # RFC822.SIZE: the whole message, as the server counts it (RFC 3501: CRLF)
    truncated: bool = False


@dataclass(frozen=True)
class SentMessage:
    """Who one message was written to, and whether a program wrote it."""

    uid: int
    message_id: str  # with its angle brackets; "" when it has none
    recipients: tuple[str, ...]  # To, Cc and Bcc, decoded and canonical as a From address is
    machine: bool  # Auto-Submitted present and not "no" (RFC 3834 §5)


@dataclass(frozen=True)
class SentScan:
    """What `Mailbox.recipients_after` read in one folder."""

    folder: str
    uidvalidity: int
    last_uid: int  # the folder was read up to this UID: the next scan starts after it
    messages: tuple[SentMessage, ...]
    left_out: int = 0  # new messages older than the newest ones read, never read


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _reason(exc: BaseException, timeout: float) -> str:
    """Why a connection failed, in a few words."""
    if isinstance(exc, imaplib.IMAP4.abort):
        return f"the connection broke ({_one_line(exc)})"
    return connection_reason(exc, timeout) or fallback_reason(exc)


def _check_aware(when: datetime, name: str) -> None:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, not {when!r}")


def _parse_message_id(header_block: bytes) -> str | None:
    parsed = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(header_block)
    value = parsed.get("Message-ID")
    if value is None:
        return None
    # Folded or padded headers: Message-IDs hold no whitespace of their own.
    text = "".join(str(value).split())
    return text or None


def _bracketed(message_id: str) -> str:
    text = "".join(message_id.split())
    if not text.startswith("<"):
        text = f"<{text}>"
    return text


class Mailbox:
    """One IMAP connection to the freelancer's mailbox.

    `connect()` opens and logs in; every method afterwards raises only MailError subclasses
    (ValueError for a caller's mistake). After MailUnreachable the connection is dropped:
    call `connect()` again.
    """

    def __init__(
        self,
        host: str,
        port: int,
        security: str,
        username: str,
        password: str | None,
        *,
        timeout: float = 60,
    ) -> None:
        if security not in SECURITIES:
            raise ValueError(f"security must be one of {', '.join(SECURITIES)}, not {security!r}")
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self._password = password
        self.timeout = timeout
        self.capabilities: frozenset[str] = frozenset()
        self._client: IMAPClient | None = None
        self._selected: FolderState | None = None

    def __repr__(self) -> str:
        return f"Mailbox({self.username!r} at {self.where}, {self.security})"

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    # -- life cycle

    def connect(self) -> None:
        """Open the connection (TLS verified), log in, read the capabilities."""
        self.close()
        context = ssl.create_default_context()
        try:
            client = IMAPClient(
                self.host,
                self.port,
                ssl=self.security == "tls",
                ssl_context=context,
                timeout=self.timeout,
            )
        except (OSError, imaplib.IMAP4.error) as exc:
            raise MailUnreachable(
                f"the IMAP server {self.where} could not be reached: "
                f"{_reason(exc, self.timeout)}; frontdesk will try again"
            ) from exc
        self._client = client
        try:
            self._open(client, context)
        except BaseException:
            self._drop()
            raise

    def _open(self, client: IMAPClient, context: ssl.SSLContext) -> None:
        with self._guard("start the session"):
            # Aware INTERNALDATEs, in the offset the server gave, instead of naive local time.
            client.normalise_times = False
            if self.security == "starttls":
                if not client.has_capability("STARTTLS"):
                    raise MailError(
                        f"the IMAP server {self.where} does not offer STARTTLS, so frontdesk "
                        "will not send the password in clear: set mail.imap_security to "
                        '"tls" or use a server that offers STARTTLS'
                    )
                client.starttls(context)
            if self._password is not None:
                try:
                    if (self.username + self._password).isascii() or not client.has_capability(
                        "AUTH=PLAIN"
                    ):
                        client.login(self.username, self._password)
                    else:
                        # LOGIN's strings are ASCII in imaplib; SASL PLAIN carries UTF-8.
                        client.plain_login(self.username, self._password)
                except LoginError as exc:
                    # imapclient turns a connection lost during LOGIN into LoginError too.
                    if isinstance(exc.__context__, imaplib.IMAP4.abort):
                        raise exc.__context__ from None
                    raise MailAuthError(
                        f"the IMAP server {self.where} refused the login for "
                        f"{self.username!r} ({_one_line(exc)}): check mail.username and "
                        "mail.password_file"
                    ) from None
                except UnicodeError:
                    raise MailAuthError(
                        f"the IMAP server {self.where} offers no login that can carry the "
                        "non-ASCII characters in mail.username or the password"
                    ) from None
            elif client._imap.state == "NONAUTH":
                raise MailAuthError(
                    f"the IMAP server {self.where} asks for a login but no password is "
                    "configured: set mail.password_file"
                )
            self.capabilities = frozenset(_text(c).upper() for c in client.capabilities())
        log.debug("IMAP %s: logged in as %s (%s)", self.where, self.username, self.security)

    def close(self) -> None:
        """Log out politely when possible; never raises."""
        client, self._client = self._client, None
        self._selected = None
        if client is None:
            return
        try:
            client.logout()
        except Exception:
            with suppress(Exception):
                client.shutdown()

    def _drop(self) -> None:
        """Forget a broken connection without talking to the server again."""
        client, self._client = self._client, None
        self._selected = None
        if client is not None:
            with suppress(Exception):
                client.shutdown()

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        return self._client is not None

    @contextmanager
    def _guard(self, doing: str) -> Iterator[IMAPClient]:
        """Yield the client; turn what it raises into MailError subclasses."""
        client = self._client
        if client is None:
            raise MailUnreachable(
                f"the connection to the IMAP server {self.where} is not open (it broke or was "
                f"closed), so frontdesk cannot {doing}; reconnect first"
            )
        try:
            yield client
        except MailError:
            raise
        except (OSError, imaplib.IMAP4.abort) as exc:
            self._drop()
            raise MailUnreachable(
                f"the connection to the IMAP server {self.where} failed while trying to "
                f"{doing}: {_reason(exc, self.timeout)}; frontdesk will reconnect"
            ) from exc
        except imaplib.IMAP4.error as exc:
            if _said_bye(client, exc):
                self._drop()
                raise MailUnreachable(
                    f"the IMAP server {self.where} closed the connection while frontdesk tried "
                    f"to {doing} ({_one_line(exc)}); frontdesk will reconnect"
                ) from exc
            raise MailError(
                f"the IMAP server {self.where} refused to {doing}: {_one_line(exc)}"
            ) from exc

    # -- what the server offers

    def supports_idle(self) -> bool:
        return "IDLE" in self.capabilities

    def folders(self) -> list[str]:
        with self._guard("list the folders") as client:
            return [_text(name) for _flags, _delim, name in client.list_folders()]

    def folder_exists(self, name: str) -> bool:
        with self._guard(f"look for the folder {name!r}") as client:
            return bool(client.folder_exists(name))

    def _missing(self, folder: str, exc: MailError) -> MailError:
        """FolderMissing when a refusal was about a folder that does not exist."""
        if self._client is not None and not self.folder_exists(folder):
            return FolderMissing(
                f"the folder {folder!r} does not exist on the IMAP server {self.where} as "
                f"{self.username!r}: check the folder names in the [mail] section"
            )
        return exc

    # -- the selected folder

    def select(self, folder: str) -> FolderState:
        """SELECT read-write (frontdesk adds \\Answered); nothing else changes."""
        try:
            state = self._select(folder, readonly=False)
        except MailUnreachable:
            raise
        except MailError as exc:
            raise self._missing(folder, exc) from exc
        self._selected = state
        return state

    def _select(self, folder: str, *, readonly: bool) -> FolderState:
        with self._guard(f"open the folder {folder!r}") as client:
            info = client.select_folder(folder, readonly=readonly)
            uidnext = info.get(b"UIDNEXT")
            if uidnext is None:
                # UIDNEXT is required by RFC 3501 §6.3.1, but ask STATUS when it is missing.
                uidnext = client.folder_status(folder, [b"UIDNEXT"]).get(b"UIDNEXT", 0)
            permanent = {_text(f) for f in info.get(b"PERMANENTFLAGS", ())}
            return FolderState(
                name=folder,
                uidvalidity=int(info.get(b"UIDVALIDITY", 0)),
                uidnext=int(uidnext),
                exists=int(info.get(b"EXISTS", 0)),
                keywords_ok="\\*" in permanent,
            )

    def _need_selected(self, doing: str) -> FolderState:
        if self._selected is None:
            raise MailError(f"frontdesk tried to {doing} before opening a folder (a bug)")
        return self._selected

    def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above last_uid, ascending."""
        self._need_selected("search for new mail")
        with self._guard("search for new mail") as client:
            found = client.search(["UID", f"{last_uid + 1}:*"])
        # "n:*" with n above the highest UID still matches the highest message (RFC 3501 §6.4.8).
        return sorted(int(uid) for uid in found if int(uid) > last_uid)

    def uids_since(self, since: datetime) -> list[int]:
        """UIDs of messages whose INTERNALDATE is at or after since (aware), ascending."""
        _check_aware(since, "since")
        self._need_selected("search for recent mail")
        # SEARCH SINCE compares dates only, in the server's zone: ask a day wider, then filter.
        day = since.astimezone(UTC).date() - timedelta(days=1)
        with self._guard("search for recent mail") as client:
            candidates = sorted(int(uid) for uid in client.search(["SINCE", day]))
        keep = []
        for start in range(0, len(candidates), 500):
            chunk = candidates[start : start + 500]
            with self._guard("read arrival dates") as client:
                data = client.fetch(chunk, ["INTERNALDATE"])
            for uid in chunk:
                when = data.get(uid, {}).get(b"INTERNALDATE")
                if isinstance(when, datetime) and when.tzinfo is not None and when < since:
                    continue
                if uid in data:
                    keep.append(uid)
        return keep

    def fetch(
        self,
        uids: Sequence[int],
        batch: int = 100,
        *,
        max_size: int = MAX_MESSAGE_SIZE,
        batch_bytes: int = MAX_BATCH_BYTES,
    ) -> Iterator[Fetched]:
        """The messages, in ascending UID order, read with PEEK: \\Seen stays as it was.

        Sizes, flags and arrival dates are asked first, `batch` UIDs at a time. A message of
        at most `max_size` bytes is read whole (BODY.PEEK[]), in FETCHes of at most `batch`
        messages and `batch_bytes` bytes (a message bigger than `batch_bytes` goes alone); a
        bigger one is read as its header only (at most MAX_HEADER_BYTES of it) and comes back
        `truncated`, with its real `size`. Vanished UIDs are skipped.
        """
        self._need_selected("read messages")
        if max_size < 0 or batch_bytes < 1:
            raise ValueError("max_size must be 0 or more and batch_bytes 1 or more")
        count = max(1, int(batch))
        wanted = sorted({int(u) for u in uids})
        for start in range(0, len(wanted), count):
            chunk = wanted[start : start + count]
            with self._guard(f"read the sizes of messages {chunk[0]}..{chunk[-1]}") as client:
                meta = client.fetch(chunk, ["RFC822.SIZE", "FLAGS", "INTERNALDATE"])
            group: list[tuple[int, int | None]] = []  # the UIDs (and sizes) of the next FETCH
            kind = ""
            cost = 0  # bytes the next FETCH will bring, at most
            for uid in chunk:
                item = meta.get(uid)
                if item is None:
                    continue  # expunged meanwhile
                size = _size(item.get(b"RFC822.SIZE"))
                if size is None:  # a server that will not say how big: read it whole, alone
                    this, bytes_ = "alone", 0
                elif size <= max_size:
                    this, bytes_ = "whole", size
                else:
                    this, bytes_ = "header", min(size, MAX_HEADER_BYTES)
                if group and (this != kind or this == "alone" or cost + bytes_ > batch_bytes):
                    yield from self._read(group, kind, meta)
                    group, cost = [], 0
                group.append((uid, size))
                kind = this
                cost += bytes_
            if group:
                yield from self._read(group, kind, meta)

    def _read(
        self, group: list[tuple[int, int | None]], kind: str, meta: dict[int, dict[bytes, Any]]
    ) -> Iterator[Fetched]:
        """One FETCH of whole messages or of headers; flags and dates come from `meta`."""
        uids = [uid for uid, _ in group]
        whole = kind != "header"
        if whole:
            doing = f"read messages {uids[0]}..{uids[-1]}"
            section = "BODY.PEEK[]"
        else:
            doing = f"read the header of oversized messages {uids[0]}..{uids[-1]}"
            section = f"BODY.PEEK[HEADER]<0.{MAX_HEADER_BYTES}>"
        with self._guard(doing) as client:
            data = client.fetch(uids, [section])
        for uid, size in group:
            item = data.get(uid)
            raw = _section(item, "BODY[]" if whole else "BODY[HEADER]") if item else None
            if raw is None:
                continue  # expunged meanwhile
            info = meta.get(uid, {})
            when = info.get(b"INTERNALDATE")
            yield Fetched(
                uid=uid,
                raw=raw,
                flags=tuple(_text(f) for f in info.get(b"FLAGS", ())),
                internaldate=when if isinstance(when, datetime) else None,
                size=len(raw) if size is None else size,
                truncated=not whole,
            )

    def message_ids(self, uids: Sequence[int]) -> dict[int, str]:
        """UID -> Message-ID (with its angle brackets) of those messages that have one."""
        self._need_selected("read Message-IDs")
        wanted = sorted({int(u) for u in uids})
        found: dict[int, str] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            with self._guard("read Message-IDs") as client:
                data = client.fetch(chunk, [_HEADER_FIELDS])
            for uid in chunk:
                item = data.get(uid, {})
                # Servers echo the section in their own spelling: match its start.
                block = next(
                    (v for k, v in item.items() if _text(k).upper().startswith("BODY[HEADER")),
                    None,
                )
                if isinstance(block, bytes):
                    message_id = _parse_message_id(block)
                    if message_id:
                        found[uid] = message_id
        return found

    def find_message_id(self, folder: str, message_id: str) -> list[int]:
        """UIDs in folder whose Message-ID is message_id; the selected folder stays selected."""
        wanted = _bracketed(message_id)
        with self._examining(folder):
            with self._guard(f"search {folder!r} for {wanted}") as client:
                hits = sorted(int(u) for u in client.search(["HEADER", "Message-ID", wanted]))
            # SEARCH HEADER matches substrings: keep exact matches only.
            ids = self.message_ids(hits) if hits else {}
            return [uid for uid in hits if ids.get(uid) == wanted]

    @contextmanager
    def _examining(self, folder: str) -> Iterator[None]:
        """`folder` selected read-only inside, the folder selected before selected again after
        (a look into Sent or Drafts must not leave the inbox unselected for the pass)."""
        previous = self._selected
        switch = previous is None or previous.name != folder
        try:
            if switch:
                try:
                    # EXAMINE: read-only, so looking cannot even clear \Recent there.
                    self._selected = self._select(folder, readonly=True)
                except MailUnreachable:
                    raise
                except MailError as exc:
                    raise self._missing(folder, exc) from exc
            yield
        finally:
            if switch and self._client is not None:
                self._selected = None
                if previous is not None:
                    self.select(previous.name)

    def recipients_after(
        self,
        folder: str,
        uidvalidity: int,
        last_uid: int,
        *,
        newest: int = MAX_SENT_SCAN,
        batch: int = 250,
    ) -> SentScan:
        """Who the messages in `folder` with a UID above `last_uid` were written to, at most
        the `newest` of them; every message when the folder's UIDVALIDITY is no longer
        `uidvalidity` (its UIDs were renumbered: pass 0 for a first scan). The selected folder
        stays selected.

        Nothing new costs one STATUS. Otherwise the folder is EXAMINEd (read-only) and searched,
        and To, Cc, Bcc, Auto-Submitted and Message-ID are read with BODY.PEEK[HEADER.FIELDS]
        in FETCHes of `batch` messages, each message's fields capped in bytes (a field cut by
        the cap is left out: half an address could be someone else's).
        """
        if newest < 1 or batch < 1:
            raise ValueError("newest and batch must be 1 or more")
        previous = self._selected
        if previous is None or previous.name != folder:
            # STATUS leaves the selected folder alone: the usual pass, nothing new, ends here.
            status = self._status(folder)
            if status is not None and status == (uidvalidity, last_uid + 1):
                return SentScan(folder, uidvalidity, last_uid, ())
        with self._examining(folder):
            state = self._need_selected("read who messages were sent to")
            base = last_uid if state.uidvalidity == uidvalidity else 0
            with self._guard(f"search {folder!r} for new messages") as client:
                found = sorted(int(u) for u in client.search(["UID", f"{base + 1}:*"]))
            found = [uid for uid in found if uid > base]
            wanted = found[-newest:]
            messages = list(self._recipients(folder, wanted, batch))
            # Every UID below UIDNEXT at EXAMINE existed before the SEARCH that followed it.
            top = max([base, state.uidnext - 1, *wanted])
            return SentScan(folder, state.uidvalidity, top, tuple(messages),
                            left_out=len(found) - len(wanted))

    def _status(self, folder: str) -> tuple[int, int] | None:
        """(UIDVALIDITY, UIDNEXT) of a folder that is not selected; None when not given."""
        try:
            with self._guard(f"look at the folder {folder!r}") as client:
                info = client.folder_status(folder, [b"UIDVALIDITY", b"UIDNEXT"])
        except MailUnreachable:
            raise
        except MailError as exc:
            raise self._missing(folder, exc) from exc
        try:
            return int(info[b"UIDVALIDITY"]), int(info[b"UIDNEXT"])
        except (KeyError, TypeError, ValueError):
            return None

    def _recipients(self, folder: str, uids: list[int], batch: int) -> Iterator[SentMessage]:
        for start in range(0, len(uids), batch):
            chunk = uids[start : start + batch]
            with self._guard(
                f"read who messages {chunk[0]}..{chunk[-1]} in {folder!r} were sent to"
            ) as client:
                data = client.fetch(chunk, [_RECIPIENT_FIELDS, _MARK_FIELDS])
            for uid in chunk:
                item = data.get(uid)
                if item is None:
                    continue  # expunged meanwhile
                to_block = marks = b""
                for key, value in item.items():
                    name = _text(key).upper()
                    if not name.startswith("BODY[HEADER.FIELDS") or value is None:
                        continue
                    # Servers echo the section in their own spelling: tell them apart by field.
                    if "AUTO-SUBMITTED" in name:
                        marks = bytes(value)
                    else:
                        to_block = bytes(value)
                yield _sent_message(uid, to_block, marks)

    def add_flags(self, uid: int, flags: Sequence[str]) -> None:
        """+FLAGS.SILENT on one message. Keywords the folder cannot keep are left out."""
        state = self._need_selected("flag a message")
        wanted = []
        for flag in flags:
            if flag.lower() == "\\deleted":
                raise ValueError("frontdesk never deletes a client's message")
            if not flag.startswith("\\") and not state.keywords_ok:
                log.debug("%s cannot keep keyword %s: not stored", state.name, flag)
                continue
            wanted.append(flag)
        if not wanted:
            return
        with self._guard(f"flag message {uid} in {state.name!r}") as client:
            client.add_flags([uid], wanted, silent=True)

    def append(
        self,
        folder: str,
        raw: bytes,
        flags: Sequence[str] = (),
        when: datetime | None = None,
    ) -> None:
        """APPEND a message (our sent reply or a draft) to folder."""
        if when is not None:
            _check_aware(when, "when")
        try:
            with self._guard(f"store a message in {folder!r}") as client:
                client.append(folder, raw, tuple(flags), msg_time=when)
        except MailUnreachable:
            raise
        except MailError as exc:
            raise self._missing(folder, exc) from exc

    # -- waiting

    def idle_wait(self, timeout: float, should_stop: Callable[[], bool] | None = None) -> bool:
        """IDLE until the server reports a change, timeout seconds pass, or should_stop().

        True when the server said something other than a keep-alive. Always leaves IDLE before
        returning. A connection that died meanwhile raises MailUnreachable.
        """
        state = self._need_selected("wait for new mail")
        if not self.supports_idle():
            raise MailError(f"the IMAP server {self.where} does not support IDLE; poll instead")
        deadline = time.monotonic() + max(0.0, float(timeout))
        with self._guard(f"wait for new mail in {state.name!r}") as client:
            while True:
                early = _start_idle(client)
                try:
                    woke = early or _wait_for_input(client, deadline, should_stop)
                finally:
                    # imapclient's idle_check() reads with the socket non-blocking and breaks
                    # on a response split across TCP segments (imapclient issue 519). Only
                    # wait here; idle_done() reads every response whole, in blocking mode,
                    # and raises on a closed connection, where idle_check() returns [].
                    _text_done, responses = client.idle_done()
                if early or any(_news(r) for r in responses):
                    return True
                stopped = should_stop is not None and should_stop()
                if not woke or stopped or time.monotonic() >= deadline:
                    return False
                # Only a keep-alive ("* OK Still here"): IDLE again for the time that is left.

    def noop(self) -> None:
        with self._guard("keep the connection alive") as client:
            client.noop()


def _size(value: Any) -> int | None:
    try:
        size = int(value)
    except (TypeError, ValueError):
        return None
    return size if size >= 0 else None


def _section(item: dict[bytes, Any], name: str) -> bytes | None:
    """The bytes of one body section; servers echo its name in their own spelling, with the
    origin of a partial fetch ("BODY[HEADER]<0>")."""
    for key, value in item.items():
        if _text(key).upper().replace(" ", "").split("<", 1)[0] == name:
            return bytes(value) if value is not None else b""
    return None


def _fields(block: bytes, cap: int) -> tuple[bytes, bytes]:
    """(the complete header fields, the last field when the byte cap may have cut it) of a
    block read with a cap, each line ending in CRLF."""
    lines = block.replace(b"\r\n", b"\n").split(b"\n")
    while lines and not lines[-1].strip():
        lines.pop()
    cut: list[bytes] = []
    if len(block) >= cap:
        while lines and lines[-1][:1] in (b" ", b"\t"):  # continuation lines of that field
            cut.insert(0, lines.pop())
        if lines:
            cut.insert(0, lines.pop())
    return b"".join(x + b"\r\n" for x in lines), b"".join(x + b"\r\n" for x in cut)


def _decoded(header: bytes) -> InboundMessage | None:
    """Header fields decoded as an inbound message's are (mailparse), None when unreadable."""
    try:
        return parse_message(header + b"\r\n") if header else None
    except MalformedMessage:
        return None


def _sent_message(uid: int, to_block: bytes, marks: bytes) -> SentMessage:
    """One message's recipients and marks, decoded as an inbound From is (mailparse). When
    the cap cut a To, Cc or Bcc, its last address is left out: half an address could be
    someone else's."""
    whole, cut = _fields(to_block, MAX_RECIPIENT_BYTES)
    marks_whole, marks_cut = _fields(marks, _MARK_BYTES)
    # one parse for a whole header; even a cut Auto-Submitted says "auto-" or "no"
    parsed = _decoded(whole + marks_whole + marks_cut)
    found: list[str] = []
    machine = False
    if parsed is not None:
        found += [*parsed.to, *parsed.cc, *parsed.bcc]
        machine = any(auto_submitted_value(v) != "no" for v in parsed.auto_submitted)
    partial = _decoded(cut) if cut else None
    if partial is not None:
        found += [*partial.to, *partial.cc, *partial.bcc][:-1]
    return SentMessage(uid, _parse_message_id(marks_whole) or "", tuple(dict.fromkeys(found)),
                       machine=machine)


def _said_bye(client: IMAPClient, exc: BaseException) -> bool:
    """Did the server end the session (untagged BYE), whatever error imapclient made of it?"""
    untagged = getattr(getattr(client, "_imap", None), "untagged_responses", {}) or {}
    return "BYE" in untagged or "* BYE" in str(exc)


def _start_idle(client: IMAPClient) -> bool:
    """Send IDLE and read up to the server's "+"; True if news came before it.

    imapclient's idle() fails on an untagged response sent before the continuation, which
    RFC 3501 §7 allows at any time (a message that arrived since the last command).
    """
    imap = client._imap
    tag = imap._command("IDLE")
    client._idle_tag = tag
    news = False
    while (line := imap._get_response()) is not None:
        if imap.tagged_commands.get(tag):
            typ, data = imap.tagged_commands.pop(tag)
            raise imaplib.IMAP4.error(f"IDLE refused: {typ} {_one_line(b' '.join(data))}")
        news = news or _news(_parse_untagged_response(line))
    return news


def _buffered(client: IMAPClient) -> bool:
    """Has input already arrived (in imaplib's buffer, the TLS layer or the socket)?"""
    sock = client.socket()
    saved = sock.gettimeout()
    try:
        sock.settimeout(0.0)
        # peek() returns buffered bytes, else tries one read that cannot block now.
        return bool(client._imap.file.peek(1))
    except (OSError, ValueError):
        return False
    finally:
        sock.settimeout(saved)


def _wait_for_input(
    client: IMAPClient, deadline: float, should_stop: Callable[[], bool] | None
) -> bool:
    """Wait until the server sends something (True) or the deadline or should_stop (False)."""
    poller = select.poll()
    poller.register(client.socket().fileno(), select.POLLIN | select.POLLPRI)
    while True:
        if _buffered(client):
            return True
        left = deadline - time.monotonic()
        if left <= 0 or (should_stop is not None and should_stop()):
            return False
        # With should_stop, wake every second to ask it.
        step = min(left, 1.0) if should_stop is not None else left
        if poller.poll(step * 1000):
            return True


def _news(response: Any) -> bool:
    """An IDLE response that reports a change (EXISTS, EXPUNGE, FETCH, BYE...)."""
    return not (isinstance(response, tuple) and response and response[0] in _KEEPALIVES)


__all__ = [
    "Fetched",
    "FolderMissing",
    "FolderState",
    "MailAuthError",
    "MailError",
    "MailUnreachable",
    "Mailbox",
    "SentMessage",
    "SentScan",
]
