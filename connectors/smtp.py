"""Sending replies over SMTP (smtplib): one connection reused for a batch, TLS always verified.

A thin adapter: it sends what it is given to whom it is told, and sorts every failure into
TemporaryFailure (try again next pass), PermanentFailure (record as failed, never retry) or
SmtpConfigError / SmtpAuthError (a person must fix the configuration). It never repeats a send
on its own once the message's content has gone out: once the whole content and its final dot
are written, a lost connection is reported with `maybe_sent=True`, and the ledger decides.
"""

from __future__ import annotations

import base64
import email.policy
import logging
import re
import smtplib
import ssl
from collections.abc import Callable, Sequence
from contextlib import suppress
from email.message import EmailMessage
from types import TracebackType
from typing import Self

from connectors.net import SECURITIES, connection_reason, fallback_reason
from connectors.net import one_line as _one_line

log = logging.getLogger(__name__)



class SendError(Exception):
    """A message was not sent; str() is one sentence, `code` the SMTP reply code if any."""

    def __init__(self, message: str, code: int | None = None, *, maybe_sent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        # True when the connection broke after the content went out: it may have been delivered.
        self.maybe_sent = maybe_sent


class TemporaryFailure(SendError):
    """A 4xx reply or connection trouble: try again on a later pass."""


class PermanentFailure(SendError):
    """A 5xx reply: record the message as failed with this reason; never retry it."""


class SmtpConfigError(PermanentFailure):
    """The server cannot be used as configured (no STARTTLS, no AUTH): stop, tell the person."""


class SmtpAuthError(SmtpConfigError):
    """The server refused the login (535 and the like)."""


class _Unwritten(Exception):
    """The connection broke before the final dot was written: nothing can have been delivered."""


_DOT_AT_LINE_START = re.compile(rb"(?m)^\.")


class _Dropped(Exception):
    """The server went away before DATA: nothing was delivered, the send may be tried again."""


def _reason(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return "the server closed the connection"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"it answered {exc.smtp_code} {_one_line(exc.smtp_error)}"
    return connection_reason(exc, timeout) or fallback_reason(exc)


class SmtpSender:
    """Sends messages over one SMTP connection, opened on first use and reopened when dropped."""

    def __init__(
        self,
        host: str,
        port: int,
        security: str,
        username: str,
        password: str | None,
        *,
        timeout: float = 60,
        local_hostname: str | None = None,
    ) -> None:
        if security not in SECURITIES:
            raise ValueError(f"security must be one of {', '.join(SECURITIES)}, not {security!r}")
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self._password = password
        self.timeout = timeout
        self.local_hostname = local_hostname
        self._smtp: smtplib.SMTP | None = None
        self._facts: list[str] = []

    def __repr__(self) -> str:
        return f"SmtpSender({self.username!r} at {self.where}, {self.security})"

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    # -- the connection

    def _open(self) -> smtplib.SMTP:
        """Connect, EHLO, secure, log in; the facts checked go to self._facts."""
        facts: list[str] = []
        context = ssl.create_default_context()
        smtp: smtplib.SMTP | None = None
        try:
            if self.security == "tls":
                smtp = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    local_hostname=self.local_hostname,
                    timeout=self.timeout,
                    context=context,
                )
                facts.append("connected over TLS, certificate verified")
            else:
                smtp = smtplib.SMTP(
                    self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout
                )
                if self.security == "none":
                    facts.append("connected in plain text (allowed on loopback only)")
            smtp.ehlo_or_helo_if_needed()
            if self.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise SmtpConfigError(
                        f"the SMTP server {self.where} does not offer STARTTLS, so frontdesk "
                        "will not send mail or the password in clear: set mail.smtp_security "
                        'to "tls" or use a server that offers STARTTLS'
                    )
                smtp.starttls(context=context)
                smtp.ehlo()
                facts.append("connected, STARTTLS done, certificate verified")
            offered = sorted(k.upper() for k in smtp.esmtp_features)
            greeting = _one_line(smtp.ehlo_resp or b"").split(" ")[0]
            facts.append(
                f"EHLO answered by {greeting or 'the server'}; it offers "
                f"{', '.join(offered) or 'no extensions'}"
            )
            if self._password is not None:
                self._login(smtp)
                facts.append(f"logged in as {self.username}")
            else:
                facts.append("no password configured: sending without AUTH")
        except BaseException as exc:
            if smtp is not None:
                with suppress(Exception):
                    smtp.close()
            if isinstance(exc, SendError | KeyboardInterrupt | SystemExit):
                raise
            if isinstance(exc, smtplib.SMTPConnectError | smtplib.SMTPHeloError) and (
                500 <= exc.smtp_code < 600
            ):
                raise SmtpConfigError(
                    f"the SMTP server {self.where} refused the session: {_reason(exc, 0)}",
                    exc.smtp_code,
                ) from exc
            if isinstance(exc, OSError | smtplib.SMTPException):
                code = exc.smtp_code if isinstance(exc, smtplib.SMTPResponseException) else None
                raise TemporaryFailure(
                    f"the SMTP server {self.where} could not be reached: "
                    f"{_reason(exc, self.timeout)}; frontdesk will try again",
                    code,
                ) from exc
            raise
        self._facts = facts
        log.debug("SMTP %s: %s", self.where, "; ".join(facts))
        return smtp

    def _login(self, smtp: smtplib.SMTP) -> None:
        assert self._password is not None
        try:
            if (self.username + self._password).isascii():
                smtp.login(self.username, self._password)
            else:
                self._login_plain_utf8(smtp, self._password)
        except smtplib.SMTPAuthenticationError as exc:
            text = _one_line(exc.smtp_error)
            if 400 <= exc.smtp_code < 500:
                raise TemporaryFailure(
                    f"the SMTP server {self.where} could not check the login for "
                    f"{self.username!r} right now ({exc.smtp_code} {text}); frontdesk will try "
                    "again",
                    exc.smtp_code,
                ) from exc
            raise SmtpAuthError(
                f"the SMTP server {self.where} refused the login for {self.username!r} "
                f"({exc.smtp_code} {text}): check mail.username and mail.password_file",
                exc.smtp_code,
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise SmtpConfigError(
                f"the SMTP server {self.where} does not offer AUTH, yet a mail password is "
                "configured: remove the password if this server takes mail without a login",
            ) from exc
        except smtplib.SMTPResponseException:
            raise
        except smtplib.SMTPException as exc:
            if isinstance(exc, smtplib.SMTPServerDisconnected):
                raise
            offered = smtp.esmtp_features.get("auth", "").strip()
            raise SmtpConfigError(
                f"the SMTP server {self.where} offers no login method frontdesk knows "
                f"(it offers {offered or 'none'}; frontdesk speaks PLAIN, LOGIN, CRAM-MD5)",
            ) from exc

    def _login_plain_utf8(self, smtp: smtplib.SMTP, password: str) -> None:
        """AUTH PLAIN with UTF-8 (RFC 4616): smtplib encodes credentials as ASCII only."""
        if not smtp.has_extn("auth"):
            raise smtplib.SMTPNotSupportedError("SMTP AUTH extension not supported by server.")
        if "PLAIN" not in smtp.esmtp_features["auth"].upper().split():
            raise smtplib.SMTPException("No suitable authentication method found.")
        token = f"\0{self.username}\0{password}".encode()
        code, reply = smtp.docmd("AUTH", "PLAIN " + base64.b64encode(token).decode("ascii"))
        if code not in (235, 503):
            raise smtplib.SMTPAuthenticationError(code, reply)

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            self._smtp = self._open()
        return self._smtp

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            with suppress(Exception):
                smtp.close()

    def close(self) -> None:
        """QUIT politely when possible; never raises."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except Exception:
                with suppress(Exception):
                    smtp.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- what the daemon calls

    def check(self) -> list[str]:
        """Connect, EHLO, TLS, AUTH (when a password is set); send nothing; say what was checked."""
        self.close()
        smtp = self._open()
        try:
            return [f"SMTP {self.where}: {fact}" for fact in self._facts]
        finally:
            self._smtp = smtp
            self.close()

    def send(
        self,
        message: EmailMessage | bytes,
        *,
        envelope_from: str,
        recipients: Sequence[str],
        written: Callable[[], None] | None = None,
    ) -> None:
        """Send message (an EmailMessage, or its bytes as recorded in the ledger, CRLF line ends)
        to recipients with MAIL FROM envelope_from ("" sends `<>`).

        Returns when the server accepted it for every recipient; raises a SendError otherwise.
        `written` is called once the whole content and its final dot are written, just before
        the server's answer is read: up to there the server cannot have accepted the message,
        so it may be sent again safely (the ledger records the moment).
        """
        if not recipients:
            raise ValueError("a message needs at least one recipient")
        for attempt in (1, 2):
            smtp = self._connection()
            try:
                self._transaction(smtp, message, envelope_from, list(recipients), written)
                return
            except _Dropped as exc:
                self._drop()
                # Nothing was delivered before DATA: one fresh connection may try again.
                if attempt == 1:
                    log.info("SMTP %s dropped the connection (%s); reconnecting", self.where, exc)
                    continue
                raise TemporaryFailure(
                    f"the SMTP server {self.where} closed the connection before the message "
                    f"was sent ({exc}); frontdesk will try again",
                ) from None
        raise AssertionError("unreachable")

    def _serialise(self, smtp: smtplib.SMTP,
                   message: EmailMessage | bytes) -> tuple[bytes, list[str]]:
        """The bytes to send (CRLF line ends, see TESTSERVERS.md) and the MAIL FROM options."""
        options: list[str] = []
        try:
            if isinstance(message, bytes):
                data = message
            else:
                data = message.as_bytes(policy=email.policy.SMTP)
            if not data.isascii():
                if smtp.has_extn("8bitmime"):
                    options.append("BODY=8BITMIME")
                else:
                    # Without 8BITMIME, 8-bit parts are re-encoded (base64 or quoted-printable).
                    if isinstance(message, bytes):
                        message = email.message_from_bytes(message, policy=email.policy.SMTP)
                    data = message.as_bytes(policy=email.policy.SMTP.clone(cte_type="7bit"))
        except (UnicodeError, ValueError, TypeError) as exc:
            raise PermanentFailure(f"the message cannot be written for SMTP: {exc}") from exc
        if smtp.has_extn("size"):
            options.append(f"SIZE={len(data)}")
        return data, options

    def _transaction(
        self,
        smtp: smtplib.SMTP,
        message: EmailMessage | bytes,
        envelope_from: str,
        recipients: list[str],
        written: Callable[[], None] | None = None,
    ) -> None:
        data, mail_options = self._serialise(smtp, message)
        addresses = [envelope_from, *recipients]
        if not all(a.isascii() for a in addresses):
            if not smtp.has_extn("smtputf8"):
                raise PermanentFailure(
                    f"an address in {', '.join(addresses)} is not plain ASCII and the SMTP "
                    f"server {self.where} does not offer SMTPUTF8"
                )
            mail_options.append("SMTPUTF8")
        try:
            code, reply = smtp.mail(envelope_from, mail_options)
            if code == 421:
                raise _Dropped(f"{code} {_one_line(reply)}")
            if code != 250:
                self._reset(smtp)
                raise self._failure(code, reply, f"refused the sender <{envelope_from}>")
            refused: dict[str, tuple[int, str]] = {}
            for rcpt in recipients:
                code, reply = smtp.rcpt(rcpt)
                if code == 421:
                    raise _Dropped(f"{code} {_one_line(reply)}")
                if code not in (250, 251):
                    refused[rcpt] = (code, _one_line(reply))
            if len(refused) == len(recipients):
                self._reset(smtp)
                # Temporary only when every refusal was (greylisting answers 450 at RCPT).
                worst = max(refused.values(), key=lambda r: r[0] // 100)
                who = ", ".join(f"<{r}> ({c} {t})" for r, (c, t) in refused.items())
                raise self._failure(worst[0], worst[1], f"refused the recipient {who}", plain=True)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise _Dropped(_reason(exc, self.timeout)) from exc
        try:
            code, reply = self._data(smtp, data, written)
        except smtplib.SMTPDataError as exc:
            # DATA itself was refused (no 354): the content never went out.
            if exc.smtp_code == 421:
                self._drop()
                raise TemporaryFailure(
                    f"the SMTP server {self.where} is closing the connection "
                    f"({exc.smtp_code} {_one_line(exc.smtp_error)}); frontdesk will try again",
                    exc.smtp_code,
                ) from exc
            self._reset(smtp)
            raise self._failure(exc.smtp_code, exc.smtp_error, "refused the message") from exc
        except _Unwritten as exc:
            # the connection broke before the final dot: the server cannot have accepted it
            self._drop()
            raise TemporaryFailure(
                f"the connection to the SMTP server {self.where} broke before the message was "
                f"sent ({_reason(exc.__cause__ or exc, self.timeout)}); frontdesk will try again",
            ) from exc
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise TemporaryFailure(
                f"the connection to the SMTP server {self.where} broke while the message was "
                f"being sent ({_reason(exc, self.timeout)}); it may or may not have been "
                "delivered",
                maybe_sent=True,
            ) from exc
        if code != 250:
            if code == 421:
                self._drop()
            raise self._failure(code, reply, "refused the message")
        if refused:
            # Delivered to some recipients: repeating it would send them a second copy.
            who = ", ".join(f"<{r}> ({c} {t})" for r, (c, t) in refused.items())
            raise PermanentFailure(
                f"the SMTP server {self.where} accepted the message for some recipients but "
                f"refused {who}",
                next(iter(refused.values()))[0],
            )
        log.debug("SMTP %s accepted a message for %s", self.where, ", ".join(recipients))

    def _data(self, smtp: smtplib.SMTP, data: bytes,
              written: Callable[[], None] | None) -> tuple[int, bytes]:
        """DATA as smtplib does it, with a hook between the final dot and the server's answer:
        smtplib's own data() gives no way to tell "not all written" from "written, no answer"."""
        try:
            smtp.putcmd("data")
            code, reply = smtp.getreply()
            if code != 354:
                raise smtplib.SMTPDataError(code, reply)
            body = _DOT_AT_LINE_START.sub(b"..", data)  # RFC 5321 §4.5.2 transparency
            if not body.endswith(b"\r\n"):
                body += b"\r\n"
            smtp.send(body + b".\r\n")
        except smtplib.SMTPDataError:
            raise
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise _Unwritten(str(exc)) from exc
        if written is not None:
            written()
        return smtp.getreply()

    def _reset(self, smtp: smtplib.SMTP) -> None:
        with suppress(smtplib.SMTPException, OSError):
            smtp.rset()

    def _failure(self, code: int, reply: object, what: str, *, plain: bool = False) -> SendError:
        text = _one_line(reply)
        said = what if plain else f"{what}: {code} {text}"
        if 400 <= code < 500:
            return TemporaryFailure(
                f"the SMTP server {self.where} {said}; frontdesk will try again later", code
            )
        return PermanentFailure(f"the SMTP server {self.where} {said}", code)


__all__ = [
    "PermanentFailure",
    "SendError",
    "SmtpAuthError",
    "SmtpConfigError",
    "SmtpSender",
    "TemporaryFailure",
]
