"""The demo's servers on 127.0.0.1: pymap for IMAP and an aiosmtpd sink for SMTP (CalDAV is
daemon.demo.radicale). They need neither root nor a system package; their packages come with the
`demo` extra and are imported only when a server starts. The test suite adds Dovecot beside them
(tests/fixtures/dovecot.py).

`SmtpSink` keeps every envelope it accepts and hands mail for local users to the IMAP server
(LMTP into Dovecot, APPEND into pymap), so a message sent by SMTP arrives in an INBOX the way it
would on a real host.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import email
import email.policy
import email.utils
import imaplib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol, Self

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
START_TIMEOUT = 20.0

# Servers still running when the interpreter exits are stopped, so that an aborted test run
# leaves no Dovecot behind.
_running: set[Subprocess] = set()


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_running):
        with contextlib.suppress(Exception):
            server.stop()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait_ports(ports: Iterable[int], *, open_: bool, timeout: float, proc: Any = None) -> bool:
    """Wait until every port accepts (open_) or refuses connections; False on timeout or exit."""
    deadline = time.monotonic() + timeout
    pending = list(ports)
    while pending:
        pending = [p for p in pending if _port_open(p) != open_]
        if not pending:
            return True
        if proc is not None and proc.poll() is not None:
            return False
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _sender_of(message: bytes) -> str:
    """The From address of a message, used as the envelope sender of a simulated delivery."""
    parsed = email.message_from_bytes(message, policy=email.policy.compat32)
    return email.utils.parseaddr(parsed.get("From", ""))[1]


class MailStore(Protocol):
    """What SmtpSink needs from an IMAP server to put mail into its users' INBOXes."""

    @property
    def users(self) -> Mapping[str, str]: ...

    def deliver(self, address: str, message: bytes, mail_from: str = "") -> None: ...


class Subprocess:
    """A server run as a child process on fixed loopback ports; stop() and start() keep both."""

    name = "server"
    host = HOST

    def __init__(self, folder: Path | str | None, users: Mapping[str, str] | None) -> None:
        self._owns_folder = folder is None
        self._folder = None if folder is None else Path(folder).resolve()
        self._users: dict[str, str] = dict(users or {})
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def folder(self) -> Path:
        """Where the server keeps its files; without one given, a new temporary folder."""
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix=f"frontdesk-{self.name}-"))
        return self._folder

    # -- what subclasses provide
    def _ports(self) -> list[int]:
        raise NotImplementedError

    def _prepare(self) -> list[str]:
        """Write the files the server reads; return its command line."""
        raise NotImplementedError

    def _write_users(self) -> None:
        raise NotImplementedError

    def _cleanup_run(self) -> None:
        """Remove what only lives while the server runs."""

    def _log_tail(self) -> str:
        return ""

    # -- common life cycle
    @property
    def users(self) -> Mapping[str, str]:
        return dict(self._users)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def add_user(self, address: str, password: str) -> None:
        """Add or change a login; takes effect at once, also while the server runs."""
        if ":" in address or ":" in password or "\n" in address + password:
            raise ValueError("an address or password for a test server cannot hold ':' or newlines")
        self._users[address] = password
        if self._folder is not None and self._folder.exists():
            self._write_users()

    def start(self) -> Self:
        if self.running:
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        argv = self._prepare()
        errors = self.folder / f"{self.name}.stderr"
        with errors.open("wb") as err:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _running.add(self)
        ready = _wait_ports(self._ports(), open_=True, timeout=START_TIMEOUT, proc=self._proc)
        if not ready or self._proc.poll() is not None:
            self.stop()
            detail = errors.read_text(errors="replace").strip() + "\n" + self._log_tail()
            raise RuntimeError(f"{self.name} did not start on {self._ports()}: {detail.strip()}")
        log.debug("%s listening on %s:%s", self.name, HOST, self._ports())
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        _running.discard(self)
        if proc is not None:
            # The whole group at once: Dovecot's master alone waits over a second for its
            # children, when they all get the signal they stop in milliseconds. A child forked
            # just after the signal misses it (the master then waits 6 s): signal again.
            for _ in range(10):
                self._signal_group(proc, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(0.3)
                    break
            else:
                self._signal_group(proc, signal.SIGKILL)
                proc.wait(10)
            _wait_ports(self._ports(), open_=False, timeout=10)
        self._cleanup_run()

    @staticmethod
    def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        # start_new_session=True made the server the leader of its own process group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)

    def restart(self) -> Self:
        """Stop and start again on the same ports with the same mailboxes."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop, and remove the folder when this object made it."""
        self.stop()
        if self._owns_folder and self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _password_hash(password: str) -> str:
    """A hash pymap accepts; few rounds, since these passwords guard nothing."""
    try:
        # pymap checks passwords with passlib when it is installed, with pysasl otherwise.
        from passlib.hash import pbkdf2_sha256

        return str(pbkdf2_sha256.using(rounds=1000).hash(password))
    except ImportError:
        from pysasl.hashing import BuiltinHash

        return BuiltinHash(rounds=1000).hash(password)


class PymapServer(Subprocess):
    """pymap's maildir backend in a child process: IMAP without root or system packages.

    Several users with known passwords, each with an empty INBOX plus Sent and Drafts; mail
    survives restart(). Keywords (custom flags) are dropped unless named in `keywords`, which are
    then the only ones kept and listed in PERMANENTFLAGS (no `\\*`). No LMTP, CONDSTORE or
    SPECIAL-USE.
    """

    name = "pymap"
    lmtp_port: int | None = None

    def __init__(
        self,
        folder: Path | str | None = None,
        users: Mapping[str, str] | None = None,
        *,
        imap_port: int | None = None,
        keywords: Iterable[str] = (),
        mailboxes: Iterable[str] = ("Sent", "Drafts"),
    ) -> None:
        super().__init__(folder, users)
        self.imap_port = imap_port or free_port()
        self.keywords = tuple(keywords)
        self.mailboxes = tuple(mailboxes)

    @staticmethod
    def available() -> bool:
        """True when the pymap package is importable."""
        import importlib.util

        return importlib.util.find_spec("pymap") is not None

    def _ports(self) -> list[int]:
        return [self.imap_port]

    @property
    def base_dir(self) -> Path:
        return self.folder / "maildir"

    def _write_users(self) -> None:
        import mailbox

        base = self.base_dir
        base.mkdir(exist_ok=True)
        # pymap's passwd(5)-like files: name:password:uid:gid:comment:home:shell and
        # name:hash:... (shadow(5)); the home is relative to the base folder.
        passwd = "".join(f"{a}:::::{a}:\n" for a in self._users)
        shadow = "".join(f"{a}:{_password_hash(p)}:::::::\n" for a, p in self._users.items())
        for name, text in (("pymap-etc-passwd", passwd), ("pymap-etc-shadow", shadow)):
            tmp = base / (name + ".tmp")
            tmp.write_text(text)
            tmp.chmod(0o600)
            tmp.replace(base / name)
        for address in self._users:
            home = base / address
            if home.exists():
                continue
            inbox = mailbox.Maildir(home, create=True)
            folders = [home]
            for name in self.mailboxes:
                inbox.add_folder(name)
                folders.append(home / f".{name}")
            if self.keywords:
                # dovecot-keywords: "N keyword" lines, one file per mailbox folder.
                text = "".join(f"{i} {k}\n" for i, k in enumerate(self.keywords))
                for folder in folders:
                    (folder / "dovecot-keywords").write_text(text)

    def _prepare(self) -> list[str]:
        if not self.available():
            raise RuntimeError("pymap is not installed (pip install 'frontdesk[demo]')")
        self._write_users()
        launcher = "import sys; from pymap.main import main; sys.exit(main())"
        argv = [sys.executable, "-c", launcher, "--host", HOST, "--port", str(self.imap_port)]
        return [*argv, "--no-tls", "maildir", str(self.base_dir)]

    def deliver(self, address: str, message: bytes, mail_from: str = "") -> None:
        """APPEND to address's INBOX as that user, with the Return-Path an MTA would add."""
        if not message.lower().startswith(b"return-path:"):
            message = f"Return-Path: <{mail_from}>\r\n".encode() + message
        imap = imaplib.IMAP4(HOST, self.imap_port, timeout=30)
        try:
            imap.login(address, self._users[address])
            imap.append("INBOX", "", None, message)
        finally:
            with contextlib.suppress(Exception):
                imap.logout()


def deliver(server: MailStore, address: str, message: bytes, mail_from: str | None = None) -> None:
    """Put message into address's INBOX as incoming mail would arrive.

    The envelope sender defaults to the message's From address, which becomes its Return-Path.
    """
    server.deliver(address, message, _sender_of(message) if mail_from is None else mail_from)


@dataclass(frozen=True)
class Envelope:
    """One message the sink took (or refused), as it crossed the wire."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes
    accepted_at: float  # time.monotonic() when the sink answered
    auth_login: str | None = None
    delivered_to: tuple[str, ...] = ()
    reply: str = "250 OK"

    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


Stage = Literal["MAIL", "RCPT", "DATA"]


@dataclass
class _Fault:
    stage: Stage
    reply: str
    count: int


@dataclass
class _SinkState:
    lock: threading.Condition = field(default_factory=threading.Condition)
    messages: list[Envelope] = field(default_factory=list)
    rejected: list[Envelope] = field(default_factory=list)
    faults: list[_Fault] = field(default_factory=list)


def _null(address: str | None) -> str:
    """aiosmtpd keeps the null sender as "<>"; records and LMTP use ""."""
    return "" if not address or address == "<>" else address


class _Handler:
    """aiosmtpd handler: hooks named handle_<VERB>, run in the controller's event loop."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        fault = self.sink._take_fault("MAIL")
        if fault:
            return fault
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        fault = self.sink._take_fault("RCPT")
        if fault:
            return fault
        if self.sink._is_unknown_local(address):
            return f"550 5.1.1 <{address}>: no such user here"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = bytes(envelope.original_content or envelope.content or b"")
        auth = session.auth_data
        login = auth.login.decode("utf-8", "replace") if hasattr(auth, "login") else None
        fault = self.sink._take_fault("DATA")
        if fault:
            self.sink._record(envelope, content, login, (), fault, rejected=True)
            return fault
        loop = asyncio.get_running_loop()
        try:
            sender, rcpts = _null(envelope.mail_from), list(envelope.rcpt_tos)
            delivered = await loop.run_in_executor(None, self.sink._deliver, sender, rcpts, content)
        except Exception as exc:
            log.warning("local delivery failed: %s", exc)
            reply = f"451 4.3.0 local delivery failed: {exc}"
            self.sink._record(envelope, content, login, (), reply, rejected=True)
            return reply
        self.sink._record(envelope, content, login, delivered, "250 OK", rejected=False)
        return "250 OK"


class _DropLegacyWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


def _quiet_aiosmtpd() -> None:
    # aiosmtpd logs a warning about its own legacy attribute on every AUTH.
    logger = logging.getLogger("mail.log")
    if not any(isinstance(f, _DropLegacyWarning) for f in logger.filters):
        logger.addFilter(_DropLegacyWarning())


class SmtpSink:
    """An SMTP server on 127.0.0.1 that keeps every envelope and delivers to local users.

    With `deliver_to`, mail for that server's users goes into their INBOX before the sink
    answers 250; an address in one of their domains that is no user gets 550 at RCPT; any other
    address is accepted and only recorded (it stands for a client outside). AUTH PLAIN/LOGIN is
    offered without TLS: any credentials pass, unless `users` is given, then a wrong password
    gets 535.
    """

    host = HOST

    def __init__(
        self,
        deliver_to: MailStore | None = None,
        *,
        users: Mapping[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        self.deliver_to = deliver_to
        self.users = dict(users) if users is not None else None
        self.port = port or free_port()
        self._state = _SinkState()
        self._controller: Any = None

    # -- life cycle
    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> Self:
        if self._controller is not None:
            return self
        from aiosmtpd.controller import Controller

        _quiet_aiosmtpd()
        controller = Controller(
            _Handler(self),
            hostname=HOST,
            port=self.port,
            server_hostname="localhost",  # skips a getfqdn() that can hang without DNS
            authenticator=self._authenticate,
            auth_require_tls=False,
            decode_data=False,
        )
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def restart(self) -> Self:
        """Stop and listen again on the same port; recorded messages are kept."""
        self.stop()
        return self.start()

    def close(self) -> None:
        self.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what tests look at
    @property
    def messages(self) -> list[Envelope]:
        """Envelopes answered 250, oldest first."""
        with self._state.lock:
            return list(self._state.messages)

    @property
    def rejected(self) -> list[Envelope]:
        """Envelopes whose DATA was refused (injected fault or failed delivery)."""
        with self._state.lock:
            return list(self._state.rejected)

    def wait_for(self, count: int = 1, timeout: float = 10.0) -> list[Envelope]:
        """Block until at least count messages were accepted; all of them, or TimeoutError."""
        with self._state.lock:
            if not self._state.lock.wait_for(lambda: len(self._state.messages) >= count, timeout):
                got = len(self._state.messages)
                raise TimeoutError(f"SMTP sink got {got} of {count} messages in {timeout} s")
            return list(self._state.messages)

    def clear(self) -> None:
        """Forget recorded messages and pending faults."""
        with self._state.lock:
            self._state.messages.clear()
            self._state.rejected.clear()
            self._state.faults.clear()

    def fail_next(self, code: int, message: str = "", count: int = 1, at: Stage = "DATA") -> None:
        """Answer the next `count` commands of stage `at` (DATA, RCPT or MAIL) with code."""
        if not 400 <= code <= 599:
            raise ValueError(f"an SMTP failure code is 4xx or 5xx, not {code}")
        text = message or f"{code // 100}.0.0 injected failure"
        with self._state.lock:
            self._state.faults.append(_Fault(at, f"{code} {text}", count))

    # -- called from the handler thread
    def _take_fault(self, stage: Stage) -> str | None:
        with self._state.lock:
            for fault in self._state.faults:
                if fault.stage == stage and fault.count > 0:
                    fault.count -= 1
                    if fault.count == 0:
                        self._state.faults.remove(fault)
                    return fault.reply
        return None

    def _local_users(self) -> dict[str, str]:
        """Lower-cased local address -> address as configured."""
        if self.deliver_to is None:
            return {}
        return {a.lower(): a for a in self.deliver_to.users}

    def _is_unknown_local(self, address: str) -> bool:
        local = self._local_users()
        domains = {a.rpartition("@")[2] for a in local}
        return address.lower() not in local and address.lower().rpartition("@")[2] in domains

    def _deliver(self, mail_from: str, rcpt_tos: list[str], content: bytes) -> tuple[str, ...]:
        local = self._local_users()
        done = []
        for rcpt in rcpt_tos:
            user = local.get(rcpt.lower())
            if user is not None and self.deliver_to is not None:
                self.deliver_to.deliver(user, content, mail_from)
                done.append(user)
        return tuple(done)

    def _record(
        self,
        envelope: Any,
        content: bytes,
        login: str | None,
        delivered: tuple[str, ...],
        reply: str,
        *,
        rejected: bool,
    ) -> None:
        record = Envelope(
            mail_from=_null(envelope.mail_from),
            rcpt_tos=tuple(envelope.rcpt_tos),
            content=content,
            accepted_at=time.monotonic(),
            auth_login=login,
            delivered_to=delivered,
            reply=reply,
        )
        with self._state.lock:
            (self._state.rejected if rejected else self._state.messages).append(record)
            self._state.lock.notify_all()

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        if self.users is not None:
            login = auth_data.login.decode("utf-8", "replace")
            password = auth_data.password.decode("utf-8", "replace")
            if self.users.get(login) != password:
                return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=auth_data)
