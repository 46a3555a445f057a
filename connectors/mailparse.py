"""Raw email bytes to an `InboundMessage`: every charset, broken MIME, no CR/LF left in headers.

Parsing uses the stdlib `email` package with `policy.default`. Header values are read raw and
decoded here, because the default policy's header objects raise on some hostile input (an encoded
word that decodes to CR/LF inside an address) and leave undecodable 8-bit bytes as surrogates.

Every str this module returns is valid text: undecodable bytes are decoded as windows-1252 or
become U+FFFD, so no surrogate survives and every value encodes as UTF-8. Addresses are
lower-cased, with the domain in IDNA ASCII form (A-labels: `bücher.example` becomes
`xn--bcher-kva.example`) and the local part as Unicode (NFC): an address is ASCII unless its local
part is not, and only then does answering it need SMTPUTF8. The work is linear in the size of the
message, whatever its shape (HTML, format=flowed, thousands of parts).
"""

from __future__ import annotations

import codecs
import contextlib
import dataclasses
import hashlib
import logging
import re
from datetime import UTC, datetime
from email import policy as email_policy
from email.header import decode_header
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime

from lxml import etree

from rules.model import InboundMessage
from rules.senders import canonical_address

log = logging.getLogger(__name__)

MAX_TEXT = 200_000  # characters of body text kept; enough for any human-written request
MAX_HEADERS = 200  # headers kept in InboundMessage.headers (a real message has a few dozen)
MAX_HEADER_VALUE = 2_000  # characters of each kept header value
MAX_THREAD_IDS = 100  # Message-IDs kept of References / In-Reply-To: the first and the latest
THREAD_HEAD = 10
# ... except these, which rules read whole (a Fastmail Authentication-Results runs to 3,000).
_LONG_HEADERS = {"authentication-results": 8_000}

_CALENDAR_TYPES = frozenset(
    {"text/calendar", "application/ics", "text/x-vcalendar", "application/x-ics"}
)
_CALENDAR_SUFFIXES = (".ics", ".ical", ".icalendar", ".vcs")
# Mislabelled or non-Python charset names seen in the wild.
_CHARSET_ALIASES = {
    "iso-8859-1": "windows-1252",  # WHATWG: latin-1 labels mean windows-1252
    "latin-1": "windows-1252",
    "latin1": "windows-1252",
    "us-ascii": "windows-1252",
    "ascii": "windows-1252",
    "iso-8859-8-i": "iso-8859-8",
    "ks_c_5601-1987": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-sjis": "shift_jis",
    "windows-874": "cp874",
    "utf8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
    "x-unknown": "",
    "unknown-8bit": "",
    "default": "",
}
_ADDRESS_RE = re.compile(r"[^\s@<>()\[\],;:\\\"]+@[^\s@<>()\[\],;:\\\"]+")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")
_FOLD_RE = re.compile(r"\r?\n(?=[ \t])")
_SURROGATES_RE = re.compile(r"[\udc80-\udcff]+")
_ANY_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")
# Python codecs that are no charset a mail could mean: they turn text into escapes, or fail.
_NOT_CHARSETS = frozenset(
    {"unicode_escape", "raw_unicode_escape", "undefined", "punycode", "idna", "mbcs", "oem"}
)
_MSGID_RE = re.compile(r"<([^<>\s]+)>")
_ENCODED_WORD = r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?="
_EW_GAP_RE = re.compile(rf"(?<=\?=)[ \t]+(?={_ENCODED_WORD})")


class MalformedMessage(Exception):
    """The bytes cannot be read as an email at all."""


def parse_message(raw: bytes, *, size: int | None = None) -> InboundMessage:
    """Decode one received message. Raises MalformedMessage only when nothing is readable.

    `size` is the message's real size when `raw` is only part of it (the headers of a message
    too big to fetch whole); InboundMessage.size is then that, not len(raw).
    """
    if not isinstance(raw, (bytes, bytearray)):
        raise MalformedMessage(f"expected bytes, got {type(raw).__name__}")
    raw = bytes(raw).lstrip(b"\r\n")  # a leading blank line would end the headers at once
    if not raw.strip():
        raise MalformedMessage("empty message")
    try:
        # compat32: header values stay strings, so the many Content-Type and parameter lookups
        # of the body's parts cost a split each, not a structured parse (and no header object
        # can raise on hostile input); the values frontdesk reads are decoded here anyway
        msg = BytesParser(policy=email_policy.compat32).parsebytes(raw)
    except Exception as exc:  # the parser is lenient; anything it raises is unreadable input
        raise MalformedMessage(f"the email parser gave up: {exc}") from exc
    if not list(msg.raw_items()):
        raise MalformedMessage("no header could be read")
    try:
        decoded = _Decoder(msg, raw).message()
    except Exception as exc:  # a decoding bug must cost one message, not the inbox loop
        log.debug("decoding failed", exc_info=True)
        raise MalformedMessage(f"internal error while decoding: {exc!r}") from exc
    if size is not None and size > decoded.size:
        decoded = dataclasses.replace(decoded, size=int(size))
    return decoded


class _Decoder:
    """One message's decoding; remembers whether any header needed repair."""

    def __init__(self, msg: Message, raw: bytes) -> None:
        self.msg = msg
        self.raw = raw
        self.headers_ok = True
        self.headers: list[tuple[str, str]] = [
            (name.strip(), value) for name, value in msg.raw_items()
        ]

    # --- headers --------------------------------------------------------------------------

    def _raw_values(self, name: str) -> list[str]:
        wanted = name.lower()
        return [_unfold(v) for n, v in self.headers if n.lower() == wanted]

    def _text(self, name: str) -> str:
        values = self._raw_values(name)
        return self._decoded(values[0]) if values else ""

    def _decoded(self, value: str) -> str:
        """An unstructured value: RFC 2047 words decoded, control characters made spaces."""
        value = _fix_surrogates(value)  # raw 8-bit bytes first, or the registry drops them
        try:
            text = str(email_policy.default.header_factory("subject", value))
        except Exception:
            self.headers_ok = False
            text = _decode_words(value)
        return self._clean(_fix_surrogates(text))

    def _clean(self, text: str) -> str:
        text = _valid_text(text)
        if "\r" in text or "\n" in text:
            self.headers_ok = False  # CR/LF smuggled in through an encoded word
        return " ".join(_CONTROL_RE.sub(" ", text).split())

    def _addresses(self, name: str) -> list[tuple[str, str]]:
        """(display name, lower-cased address) of every valid mailbox in every occurrence."""
        found: list[tuple[str, str]] = []
        for value in self._raw_values(name):
            # RFC 2047 §6.2: space between two encoded words is not text (Python 3.11's phrase
            # parser keeps it: "Zoé Dup" + "ont" read "Zoé Dup ont").
            value = _EW_GAP_RE.sub("", _fix_surrogates(value))
            try:
                header = email_policy.default.header_factory(name, value)
                pairs = [(a.display_name, a.addr_spec) for a in header.addresses]
            except Exception:
                self.headers_ok = False
                pairs = [(_decode_words(n), a) for n, a in getaddresses([value])]
            for display, address in pairs:
                clean = _valid_address(address)
                if clean:
                    found.append((self._clean(display), clean))
        return found

    def _first_address(self, name: str) -> str:
        found = self._addresses(name)
        return found[0][1] if found else ""

    def _return_path(self) -> str | None:
        values = self._raw_values("return-path")
        if not values:
            return None
        inner = re.sub(r"\([^()]*\)", "", values[0]).strip().strip("<>").strip()
        if not inner:
            return ""
        return _valid_address(inner) or self._clean(inner.lower()).replace(" ", "")[:320]

    def _message_ids(self, name: str) -> list[str]:
        ids: dict[str, None] = {}  # in order, once each (a dict: linear in a long header)
        for value in self._raw_values(name):
            value = _CONTROL_RE.sub(" ", _valid_text(value))
            found = _MSGID_RE.findall(value) or [t.strip("<>") for t in value.split()]
            ids.update(dict.fromkeys(i for i in found if i))
        kept = list(ids)
        if len(kept) > MAX_THREAD_IDS:
            # the thread's first messages and its latest, as RFC 5322 3.6.4 suggests trimming
            # References: a 30,000-id header must not cost a message its CPU budget
            kept = kept[:THREAD_HEAD] + kept[-(MAX_THREAD_IDS - THREAD_HEAD):]
        return kept

    def _date(self) -> datetime | None:
        for value in self._raw_values("date"):
            try:
                parsed = parsedate_to_datetime(_CONTROL_RE.sub(" ", value).strip())
            except (TypeError, ValueError, IndexError, OverflowError):
                continue
            # "-0000" means UTC with an unknown source zone: still UTC.
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        return None

    def _all_headers(self) -> tuple[tuple[str, str], ...]:
        """Every header as (lower-cased name, decoded one-line value), bounded: rules read the
        non-standard ones; a message with thousands of headers cannot make this list large."""
        found: list[tuple[str, str]] = []
        for name, value in self.headers[:MAX_HEADERS]:
            key = self._clean(name.lower())[:MAX_HEADER_VALUE]
            limit = _LONG_HEADERS.get(key, MAX_HEADER_VALUE)
            found.append((key, self._clean(_unfold(value[: limit * 4]))[:limit]))
        return tuple(found)

    # --- whole message --------------------------------------------------------------------

    def message(self) -> InboundMessage:
        from_pairs = self._addresses("from")
        if not from_pairs:
            self.headers_ok = False
        message_ids = self._message_ids("message-id")
        synthetic = not message_ids
        message_id = message_ids[0] if message_ids else _synthetic_id(self.raw)
        in_reply_to = self._message_ids("in-reply-to")
        list_headers: list[str] = []
        for name, _ in self.headers:
            if name.lower().startswith("list-") and name not in list_headers:
                list_headers.append(self._clean(name))
        content_type = self._content_type()
        text, calendar_parts = _Body(self.msg).read()
        return InboundMessage(
            message_id=self._clean(message_id),
            message_id_synthetic=synthetic,
            subject=self._text("subject"),
            from_address=from_pairs[0][1] if from_pairs else "",
            from_name=from_pairs[0][0] if from_pairs else "",
            reply_to=self._first_address("reply-to"),
            return_path=self._return_path(),
            to=tuple(a for _, a in self._addresses("to")),
            cc=tuple(a for _, a in self._addresses("cc")),
            bcc=tuple(a for _, a in self._addresses("bcc")),
            resent_to=tuple(a for _, a in self._addresses("resent-to")),
            resent_cc=tuple(a for _, a in self._addresses("resent-cc")),
            date=self._date(),
            references=tuple(self._message_ids("references")),
            in_reply_to=in_reply_to[0] if in_reply_to else "",
            auto_submitted=tuple(self._decoded(v) for v in self._raw_values("auto-submitted")),
            precedence=", ".join(self._decoded(v) for v in self._raw_values("precedence")),
            list_headers=tuple(list_headers),
            x_auto_response_suppress=", ".join(
                self._decoded(v) for v in self._raw_values("x-auto-response-suppress")
            ),
            content_type=content_type,
            is_report=content_type == "multipart/report",
            text=text,
            calendar_parts=calendar_parts,
            headers_ok=self.headers_ok,
            headers=self._all_headers(),
            size=len(self.raw),
        )

    def _content_type(self) -> str:
        return "".join(self._clean(_safe_content_type(self.msg)).split())[:MAX_HEADER_VALUE]


# --- Body --------------------------------------------------------------------------------------


class _Body:
    """The client's text and the calendar parts, from the message's leaf parts."""

    def __init__(self, msg: Message) -> None:
        self.leaves: list[Message] = list(_leaves(msg, 0))

    def read(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        calendars: list[tuple[str, str]] = []
        plain: list[Message] = []
        html: list[Message] = []
        for part in self.leaves:
            ctype = _safe_content_type(part)
            if _is_calendar(part, ctype):
                ics = _decode_bytes(_payload(part), _charset(part) or "utf-8")
                entry = (_method_param(part), ics)
                if entry not in calendars:
                    calendars.append(entry)
                continue
            if _is_attachment(part):
                continue
            if ctype == "text/plain" or ctype.startswith("multipart/"):
                plain.append(part)  # a multipart with no boundary is read as plain text
            elif ctype == "text/html":
                html.append(part)
        text = ""
        for part in plain:
            text = _plain_text(part)
            if text.strip():
                break
        if not text.strip():
            for part in html:
                text = html_to_text(_decode_bytes(_payload(part), _charset(part)))
                if text.strip():
                    break
        return text[:MAX_TEXT], tuple(calendars)


def _leaves(part: Message, depth: int) -> list[Message]:
    """Leaf parts in order, not descending into attached messages (bounces, forwards)."""
    if depth > 40:
        return []
    if part.is_multipart():
        if part.get_content_maintype() == "message":
            return []
        found: list[Message] = []
        payload = part.get_payload()
        if isinstance(payload, list):
            for sub in payload:
                if isinstance(sub, Message):
                    found.extend(_leaves(sub, depth + 1))
        return found
    return [part]


def _safe_content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return "text/plain"  # RFC 2045 §5.2: an unreadable Content-Type means text/plain


def _filename(part: Message) -> str:
    try:
        name = part.get_filename() or part.get_param("name") or ""
    except Exception:
        return ""
    if isinstance(name, tuple):  # an RFC 2231 value the library could not decode
        name = str(name[2])
    return str(name)


def _is_calendar(part: Message, ctype: str) -> bool:
    if ctype in _CALENDAR_TYPES:
        return True
    if _filename(part).strip().lower().endswith(_CALENDAR_SUFFIXES):
        return b"BEGIN:VCALENDAR" in _payload(part).upper()
    return False


def _is_attachment(part: Message) -> bool:
    try:
        return part.get_content_disposition() == "attachment"
    except Exception:
        return False


def _method_param(part: Message) -> str:
    try:
        value = part.get_param("method")
    except Exception:
        return ""
    if isinstance(value, tuple):
        value = str(value[2])
    if not isinstance(value, str):
        return ""
    return " ".join(_CONTROL_RE.sub(" ", _valid_text(value)).split()).strip('"').upper()[:100]


def _charset(part: Message) -> str:
    try:
        return part.get_content_charset() or ""
    except Exception:
        return ""


def _payload(part: Message) -> bytes:
    """The part's bytes after its transfer encoding, however broken."""
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    try:
        text = part.get_payload()
    except Exception:
        return b""
    if isinstance(text, str):
        return text.encode("utf-8", "surrogateescape")
    return b""


def _plain_text(part: Message) -> str:
    text = _decode_bytes(_payload(part), _charset(part))
    try:
        flowed = str(part.get_param("format") or "").lower() == "flowed"
        delsp = str(part.get_param("delsp") or "").lower() == "yes"
    except Exception:
        flowed = delsp = False
    return _unflow(text, delsp) if flowed else text


def _unflow(text: str, delsp: bool) -> str:
    """Join format=flowed soft line breaks (RFC 3676) so wrapped sentences read whole.

    A line ending in a space continues on the next one, except the signature separator "-- "
    and quoted lines. Linear: the pieces of a paragraph are joined once, at its end.
    """
    out: list[str] = []
    pieces: list[str] = []  # the physical lines of the paragraph being read
    for line in text.split("\n"):
        if pieces:
            last = pieces[-1]
            flowed = last.endswith(" ") and not (len(pieces) == 1 and last == "-- ")
            if flowed and not pieces[0].startswith(">"):
                if delsp:
                    pieces[-1] = last[:-1]
                pieces.append(line)
                continue
            out.append("".join(pieces))
        pieces = [line]
    out.append("".join(pieces))
    return "\n".join(out)


def _strip_nul(text: str) -> str:
    return text.replace("\x00", "")


# --- Charsets ----------------------------------------------------------------------------------


def _decode_bytes(data: bytes, charset: str | None) -> str:
    """Bytes to text: the declared charset if it fits, else UTF-8, else windows-1252."""
    declared = (charset or "").strip().strip('"').lower()
    declared = _CHARSET_ALIASES.get(declared, declared)
    candidates: list[str] = []
    if declared:
        with contextlib.suppress(LookupError, ValueError):  # ValueError: a NUL in the name
            info = codecs.lookup(declared)
            if getattr(info, "_is_text_encoding", True) and info.name not in _NOT_CHARSETS:
                candidates.append(info.name)
    if not data.isascii() and declared in ("", "windows-1252"):
        candidates.insert(0, "utf-8")  # undeclared or latin-1 labelled but really UTF-8
    for name in (*candidates, "utf-8", "cp1252"):
        try:
            text = data.decode(name)
            break
        except (UnicodeError, LookupError, ValueError, TypeError):
            continue
    else:
        # windows-1252 leaves five bytes undefined: replace them rather than fail.
        try:
            text = data.decode(candidates[0] if candidates else "cp1252", errors="replace")
        except (UnicodeError, LookupError, ValueError, TypeError):
            text = data.decode("cp1252", errors="replace")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _strip_nul(_ANY_SURROGATE_RE.sub("\ufffd", text))


def _fix_surrogates(text: str) -> str:
    """Raw 8-bit header bytes (kept as surrogates by the parser) decoded as UTF-8 or cp1252."""

    def repair(match: re.Match[str]) -> str:
        data = match.group(0).encode("utf-8", "surrogateescape")
        return _decode_bytes(data, "")

    return _SURROGATES_RE.sub(repair, text)


def _valid_text(text: str) -> str:
    """Text that encodes as UTF-8: raw bytes repaired as above, any other surrogate (a charset
    decoder's leftover, half a UTF-16 pair) replaced by U+FFFD."""
    if not _ANY_SURROGATE_RE.search(text):
        return text
    return _ANY_SURROGATE_RE.sub("\ufffd", _fix_surrogates(text))


def _decode_words(value: str) -> str:
    """RFC 2047 encoded words decoded by hand, for values the header registry rejects."""
    try:
        chunks = decode_header(value)
    except Exception:
        return value
    out: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            out.append(chunk)
        else:
            out.append(_decode_bytes(chunk, charset or ""))
    return "".join(out)


def _unfold(value: str) -> str:
    return _FOLD_RE.sub("", value).rstrip("\r\n")


def _valid_address(address: str) -> str:
    """The address lower-cased, local part NFC, domain in IDNA ASCII form; "" when it is not one
    plain addr-spec with a usable domain name."""
    address = _valid_text(address).strip()
    if len(address) > 1_000 or _CONTROL_RE.search(address):
        return ""
    if not _ADDRESS_RE.fullmatch(address):
        return ""
    return canonical_address(address)


def _synthetic_id(raw: bytes) -> str:
    return f"frontdesk-{hashlib.sha256(raw).hexdigest()[:32]}@synthetic.invalid"


# --- HTML --------------------------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    (
        *("address", "article", "aside", "blockquote", "br", "center", "dd", "details", "div"),
        *("dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "header", "hr"),
        *("h1", "h2", "h3", "h4", "h5", "h6", "li", "main", "nav", "ol", "p", "pre", "section"),
        *("summary", "table", "tbody", "tfoot", "thead", "tr", "ul"),
    )
)
_SKIPPED_TAGS = frozenset({"script", "style", "head", "title", "template", "noscript", "svg"})
_SPACES_RE = re.compile(r"\s+")
_VOID_TAGS = frozenset({"br", "hr"})
_MAX_QUOTE_DEPTH = 32  # "> " prefixes written at most; deeper quotes read as that deep


class _TextExtractor:
    """HTML reduced to text: block elements break lines, blockquotes become "> " lines.

    Fed the start and end of every element in document order (lxml's iterwalk over the tree
    libxml2 built); linear in the size of the HTML: each line is joined once, when it ends.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.length = 0  # characters read so far (an upper bound of the text's length)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.has_text = False  # the line being built holds more than whitespace
        self.current_depth = 0
        self.quote_depth = 0
        self.skipping = 0
        self.pre = 0

    @property
    def full(self) -> bool:
        return self.length > self.limit

    def _break(self) -> None:
        line = "".join(self.current).strip() if self.has_text else ""
        if line:
            self.lines.append("> " * min(self.current_depth, _MAX_QUOTE_DEPTH) + line)
            self.length += 2 * min(self.current_depth, _MAX_QUOTE_DEPTH) + 1
        elif self.lines and self.lines[-1] != "":
            self.lines.append("")
            self.length += 1
        self.current = []
        self.has_text = False
        self.current_depth = self.quote_depth

    def _add(self, piece: str) -> None:
        self.current.append(piece)
        self.length += len(piece)
        if not self.has_text and piece.strip():
            self.has_text = True

    def start(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self.skipping += 1
        elif tag in _BLOCK_TAGS:
            self._break()
        if tag == "blockquote":
            self.quote_depth += 1
            self.current_depth = max(self.current_depth, self.quote_depth)
        elif tag == "pre":
            self.pre += 1
        elif tag in ("td", "th"):
            self._add(" ")

    def end(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK_TAGS and tag not in _VOID_TAGS:  # <br> breaks once, not twice
            self._break()
        if tag == "blockquote":
            self.quote_depth = max(0, self.quote_depth - 1)
            self.current_depth = self.quote_depth
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)

    def data(self, data: str) -> None:
        if self.skipping:
            return
        if self.pre:
            for index, piece in enumerate(data.split("\n")):
                if index:
                    self._break()
                self._add(piece)
            return
        if not self.has_text:
            self.current_depth = self.quote_depth
        self._add(_SPACES_RE.sub(" ", data))

    def text(self) -> str:
        self._break()
        return "\n".join(self.lines).strip()


def html_to_text(html: str, limit: int = MAX_TEXT) -> str:
    """Readable text of an HTML body, for reading the client's words; reading stops once about
    `limit` characters are out. Script, style and head are skipped. libxml2 parses (linear, and
    robust to hostile markup; nesting past ~2,000 levels is cut off there)."""
    data = html.encode("utf-8", "replace")
    if not data.strip():
        return ""
    parser = etree.HTMLParser(
        encoding="utf-8",
        recover=True,
        huge_tree=True,
        no_network=True,
        remove_comments=True,
        remove_pis=True,
        default_doctype=False,
    )
    extractor = _TextExtractor(limit)
    try:
        root = etree.fromstring(data, parser)
        if root is None:
            return ""
        start, end, add = extractor.start, extractor.end, extractor.data
        for event, element in etree.iterwalk(root, events=("start", "end")):
            tag = element.tag.lower() if isinstance(element.tag, str) else ""
            if event == "start":
                start(tag)
                if element.text:
                    add(element.text)
            else:
                end(tag)
                if element.tail:
                    add(element.tail)
                if extractor.full:
                    break
    except Exception:  # libxml2 recovers from nearly anything; keep what was read before
        log.debug("HTML body could not be read completely", exc_info=True)
    return extractor.text()
