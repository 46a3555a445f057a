"""Who may be answered automatically, and how sure frontdesk is of it (STANDARDS §1 "Where a
reply goes"; RFC 3834 §4, RFC 8601, RFC 7489, Pigeonhole vacation's envelope rule).

A personal responder answers only an address the sender's own mail system vouched for:

- the freelancer's receiving server, named by a trusted authserv-id, wrote an
  `Authentication-Results` saying the From domain passed DMARC, or passed SPF or DKIM for a domain
  aligned with it (relaxed alignment: the same organizational domain, from the Public Suffix
  List): the reply goes to From, or to a Reply-To in the same organizational domain;
- that server said DMARC failed for the From domain: the From is forged, nothing is sent;
- that server said nothing about the From domain (or no server is trusted): the envelope is all
  there is, so the reply goes to From only when From is the Return-Path's mailbox, or shares its
  organizational domain and no Reply-To points elsewhere (a Reply-To is never answered then);
  unless that server said SPF failed (or soft-failed) for that envelope sender.

Anything else is `unverified`: the caller drafts the reply for the freelancer, or leaves it.
So is a message whose trusted instance cannot be read, or that judged DMARC for another From
domain than the one decoded (two From headers): the server's own word is never taken as absent.
Only the topmost trusted instance counts (the receiving server prepends its own; instances further
down may be anyone's), and instances with another authserv-id are ignored (anyone can write them).

Pure: no I/O of its own. The Public Suffix List is the one that the `publicsuffixlist` package
ships as data (read once, on first use, like zoneinfo's tzdata).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

import authres
import idna
from publicsuffixlist import PublicSuffixList

from rules.model import InboundMessage

MAX_RESULTS_LENGTH = 8_000  # characters of one Authentication-Results read; real ones are < 3,000
_ASCII_DOMAIN = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
_NON_ASCII_TOKEN = re.compile(r"[^\s;()\"=]*[^\x00-\x7f][^\s;()\"=]*")
_COMMENT = re.compile(r"\((?:[^()\\]|\\.)*\)")
_AUTHSERV_ID = re.compile(r"[^\s;()]+")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029\ud800-\udfff]")
_PASS = "pass"
_SPF_FAILS = frozenset({"fail", "softfail", "hardfail"})


class Confidence(StrEnum):
    """How sure frontdesk is that the reply address belongs to whoever wrote the message."""

    AUTHENTICATED = "authenticated"  # the trusted receiving server vouched for the From domain
    ENVELOPE = "envelope-matched"  # From agrees with the envelope sender (Return-Path)
    UNVERIFIED = "unverified"  # nothing vouches for it: draft or leave, never send on its own
    FORGED = "forged"  # the trusted server said DMARC failed for the From domain: send nothing


@dataclass(frozen=True)
class ReplyTarget:
    """Where an automatic reply may go. `address` is None when it may go nowhere (always so for
    UNVERIFIED and FORGED); `reason` is one line for logs and `explain`."""

    address: str | None
    confidence: Confidence
    reason: str

    @property
    def answerable(self) -> bool:
        return self.address is not None


def reply_target(msg: InboundMessage, trusted_authserv_ids: Iterable[str]) -> ReplyTarget:
    """Where an automatic reply to `msg` may go, given the authserv-ids of the freelancer's own
    receiving servers (compared case-insensitively; none means no Authentication-Results counts).
    Never raises."""
    try:
        target = _Judge(msg, trusted_authserv_ids).target()
        return ReplyTarget(target.address, target.confidence, _one_line(target.reason))
    except Exception as error:  # a bug here must cost one reply, never the inbox
        return ReplyTarget(
            None, Confidence.UNVERIFIED, f"the sender could not be checked ({type(error).__name__})"
        )


def rate_key(address: str) -> str:
    """The key rate limits count under: lower-cased, +tag folded, domain in IDNA ASCII form, so
    `Bob+News@Bücher.example` and `bob@xn--bcher-kva.example` are one sender."""
    local, at, domain = address.strip().rpartition("@")
    if not at:
        return address.strip().lower()
    local = unicodedata.normalize("NFC", local).lower()
    local = local.split("+", 1)[0] or local
    return f"{local}@{ascii_domain(domain) or domain.strip().lower()}"


def canonical_address(address: str) -> str:
    """An address as frontdesk decodes, stores and compares it: the local part in NFC and
    lower-cased, the domain in IDNA ASCII form (`Clïent@Bücher.example` becomes
    `clïent@xn--bcher-kva.example`). "" when there is no @ or the domain is no domain name.
    The syntax of the local part is not checked here."""
    local, at, domain = address.strip().rpartition("@")
    ascii_name = ascii_domain(domain) if at and local else ""
    if not ascii_name:
        return ""
    return f"{unicodedata.normalize('NFC', local).lower()}@{ascii_name}"


def ascii_domain(domain: str) -> str:
    """The domain as it travels in DNS and SMTP: IDNA A-labels (UTS #46 mapping, IDNA 2008,
    else IDNA 2003 for names only it accepts, such as emoji), lower-case, no final dot.
    "" when it cannot be a domain name."""
    name = domain.strip()
    name = name[:-1] if name.endswith((".", "。", "．", "｡")) else name
    if not name or len(name) > 1_000:
        return ""
    if not name.isascii():
        try:
            name = idna.encode(name, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError):
            try:
                name = name.encode("idna").decode("ascii")
            except (UnicodeError, ValueError):
                return ""
    name = name.lower()
    if len(name) > 253 or not _ASCII_DOMAIN.fullmatch(name):
        return ""
    if any(len(label) > 63 for label in name.split(".")):
        return ""
    return name


def organizational_domain(domain: str) -> str:
    """The registrable domain (RFC 7489 §3.2, Public Suffix List with its private section), in
    ASCII form; the domain itself when it is a public suffix; "" when it is no domain."""
    name = ascii_domain(domain)
    if not name:
        return ""
    return _psl().privatesuffix(name) or name


def _one_line(text: str) -> str:
    return " ".join(_CONTROLS.sub(" ", text).split())[:500]


def _domain_of(address: str) -> str:
    return address.rpartition("@")[2] if "@" in address else address


def _same_mailbox(a: str, b: str) -> bool:
    return bool(a) and bool(b) and rate_key(a) == rate_key(b)


def _same_organization(a: str, b: str) -> bool:
    org_a = organizational_domain(a)
    return bool(org_a) and org_a == organizational_domain(b)


@cache
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


# --- Authentication-Results ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Result:
    method: str  # lower-case: "dmarc", "spf", "dkim", ...
    result: str  # lower-case: "pass", "fail", ...
    properties: tuple[tuple[str, str], ...]  # ("header.from", "example.com"), ...

    def get(self, name: str) -> str:
        return next((value for key, value in self.properties if key == name), "")


@dataclass(frozen=True)
class _Instance:
    authserv_id: str
    results: tuple[_Result, ...] | None  # None: the header could not be read


def _authserv_id(value: str) -> str:
    """The authserv-id of a header value, read loosely (comments skipped), lower-cased."""
    head = value[:MAX_RESULTS_LENGTH].split(";", 1)[0]
    for _ in range(5):  # nested comments: a few rounds are plenty for a real header
        head = _COMMENT.sub(" ", head)
    match = _AUTHSERV_ID.search(head)
    return match.group(0).strip('"').lower() if match else ""


def _ascii_tokens(value: str) -> str:
    """Non-ASCII words made ASCII, for a parser that knows only RFC 8601's ASCII grammar: domains
    become A-labels, a UTF-8 local part a hex placeholder (only domains are compared here)."""

    def fix(match: re.Match[str]) -> str:
        token = match.group(0)
        local, at, domain = token.rpartition("@")
        ascii_local = ("u" + local.encode("utf-8", "replace").hex()) if local else ""
        return f"{ascii_local}{at}{ascii_domain(domain) or 'invalid.invalid'}"

    return _NON_ASCII_TOKEN.sub(fix, value)


def _parse(value: str) -> tuple[_Result, ...] | None:
    """The results of one Authentication-Results value; None when it cannot be read."""
    if len(value) > MAX_RESULTS_LENGTH:
        return None
    try:
        header = authres.AuthenticationResultsHeader.parse_value(_ascii_tokens(value))
        results = []
        for found in header.results:
            properties = tuple(
                (f"{p.type}.{p.name}".lower(), str(p.value or "").strip())
                for p in (found.properties or ())
            )
            results.append(
                _Result(str(found.method).lower(), str(found.result).lower(), properties)
            )
        return tuple(results)
    except Exception:  # authres raises its own SyntaxError, RecursionError on deep comments...
        return None


def _topmost_trusted(headers: Sequence[tuple[str, str]], trusted: frozenset[str]) -> _Instance:
    """The first Authentication-Results whose authserv-id is trusted (or none: an empty id)."""
    for name, value in headers:
        if name != "authentication-results":
            continue
        authserv_id = _authserv_id(value)
        if authserv_id and authserv_id in trusted:
            return _Instance(authserv_id, _parse(value))
    return _Instance("", ())


def _result_domain(value: str) -> str:
    """The domain in a property value: `example.com`, `@example.com`, `bob@example.com`."""
    return ascii_domain(_domain_of(value.strip().strip("<>").strip('"')))


# --- The decision -------------------------------------------------------------------------------


class _Judge:
    def __init__(self, msg: InboundMessage, trusted_authserv_ids: Iterable[str]) -> None:
        self.msg = msg
        if isinstance(trusted_authserv_ids, str):
            trusted_authserv_ids = (trusted_authserv_ids,)
        self.trusted = frozenset(t.strip().lower() for t in trusted_authserv_ids if t.strip())
        self.sender = msg.from_address.strip()
        self.from_domain = ascii_domain(_domain_of(self.sender)) if "@" in self.sender else ""
        self.reply_to = msg.reply_to.strip()

    def target(self) -> ReplyTarget:
        if not self.sender or not self.from_domain:
            return self._unverified("the message has no usable From address")
        instance = _topmost_trusted(self.msg.headers, self.trusted) if self.trusted else None
        if instance is not None and instance.authserv_id:
            if instance.results is None:
                return self._unverified(
                    f"the Authentication-Results of {instance.authserv_id} could not be read"
                )
            verdict = self._authenticated(instance.authserv_id, instance.results)
            if verdict is not None:
                return verdict
        return self._envelope(instance)

    # -- a trusted server's word

    def _authenticated(self, server: str, results: Sequence[_Result]) -> ReplyTarget | None:
        domain = self.from_domain
        dmarc = [r for r in results if r.method == "dmarc"]
        about_us = [r for r in dmarc if _result_domain(r.get("header.from")) in ("", domain)]
        if any(r.result == "fail" for r in about_us):
            return ReplyTarget(
                None,
                Confidence.FORGED,
                f"{server} says DMARC failed for {domain}: the From address is forged",
            )
        if any(r.result == _PASS and r.get("header.from") for r in about_us):
            return self._vouched(f"{server} says DMARC passed for {domain}")
        others = sorted(
            {_result_domain(r.get("header.from")) for r in dmarc if r not in about_us} - {""}
        )
        if others:
            return self._unverified(
                f"{server} judged DMARC for {', '.join(others)}, not for the From domain {domain}"
            )
        for r in results:
            if r.result != _PASS:
                continue
            if r.method == "spf":
                # DMARC aligns the MAIL FROM identity (RFC 7489 §3.1.2), not HELO.
                checked = _result_domain(r.get("smtp.mailfrom"))
                if checked and _same_organization(checked, domain):
                    return self._vouched(
                        f"{server} says SPF passed for {checked}, aligned with {domain}"
                    )
            elif r.method == "dkim":
                signer = _result_domain(r.get("header.d")) or _result_domain(r.get("header.i"))
                if signer and _same_organization(signer, domain):
                    return self._vouched(
                        f"{server} says DKIM passed for {signer}, aligned with {domain}"
                    )
        return None

    def _vouched(self, why: str) -> ReplyTarget:
        reply_to = self.reply_to
        if reply_to and not _same_mailbox(reply_to, self.sender):
            if "@" in reply_to and _same_organization(_domain_of(reply_to), self.from_domain):
                return ReplyTarget(
                    reply_to,
                    Confidence.AUTHENTICATED,
                    f"{why}; Reply-To {reply_to} is in the same organizational domain",
                )
            return ReplyTarget(
                self.sender,
                Confidence.AUTHENTICATED,
                f"{why}; Reply-To {reply_to} is elsewhere, so the reply goes to From",
            )
        return ReplyTarget(self.sender, Confidence.AUTHENTICATED, why)

    # -- the envelope

    def _envelope(self, instance: _Instance | None) -> ReplyTarget:
        return_path = self.msg.return_path
        if return_path is None:
            return self._unverified("no Return-Path: the envelope sender is unknown")
        if not return_path.strip():
            return self._unverified("null Return-Path <>: a bounce or a notification")
        prefix = self._no_verdict(instance)
        spf_failed = self._spf_failed(instance, return_path)
        if spf_failed:
            return self._unverified(prefix + spf_failed)
        if _same_mailbox(self.sender, return_path):
            why = f"From {self.sender} is the envelope sender"
            if self.reply_to and not _same_mailbox(self.reply_to, self.sender):
                why += f"; Reply-To {self.reply_to} is not vouched for, so the reply goes to From"
            return ReplyTarget(self.sender, Confidence.ENVELOPE, prefix + why)
        envelope_domain = _domain_of(return_path)
        if "@" in return_path and _same_organization(self.from_domain, envelope_domain):
            if self.reply_to and not _same_mailbox(self.reply_to, self.sender):
                return self._unverified(
                    f"{prefix}From {self.sender} shares the envelope sender's domain, but "
                    f"Reply-To {self.reply_to} points elsewhere"
                )
            return ReplyTarget(
                self.sender,
                Confidence.ENVELOPE,
                f"{prefix}From {self.sender} is in the envelope sender's domain "
                f"({organizational_domain(envelope_domain)})",
            )
        return self._unverified(
            f"{prefix}From {self.sender} is neither the envelope sender {return_path} nor in "
            "its domain"
        )

    def _no_verdict(self, instance: _Instance | None) -> str:
        if instance is None:
            return "no trusted authserv-id configured; "
        if not instance.authserv_id:
            return "no trusted Authentication-Results; "
        return f"{instance.authserv_id} vouched for nothing about {self.from_domain}; "

    def _spf_failed(self, instance: _Instance | None, return_path: str) -> str:
        """Why the trusted server's SPF check disowns the envelope sender, or ""."""
        if instance is None or not instance.results:
            return ""
        envelope_domain = ascii_domain(_domain_of(return_path))
        for r in instance.results:
            if r.method != "spf" or r.result not in _SPF_FAILS:
                continue
            checked = _result_domain(r.get("smtp.mailfrom"))
            if not checked or checked == envelope_domain:
                return f"{instance.authserv_id} says SPF {r.result} for the envelope sender"
        return ""

    def _unverified(self, why: str) -> ReplyTarget:
        return ReplyTarget(None, Confidence.UNVERIFIED, why)


__all__ = [
    "Confidence",
    "ReplyTarget",
    "ascii_domain",
    "canonical_address",
    "organizational_domain",
    "rate_key",
    "reply_target",
]
