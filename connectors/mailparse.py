"""Raw email bytes to an `InboundMessage`: every charset, broken MIME, no CR/LF left in headers.

Parsing uses the stdlib `email` package with `policy.default`. Header values are read raw and
decoded here, because the default policy's header objects raise on some hostile input (an encoded
word that decodes to CR/LF inside an address) and leave undecodable 8-bit bytes as surrogates.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import logging
import re
from datetime import UTC, datetime
from email import policy as email_policy
from email.header import decode_header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser

from rules.model import InboundMessage

log = logging.getLogger(__name__)

MAX_TEXT = 200_000  # characters of body text kept; enough for any human-written request
MAX_HEADERS = 200  # headers kept in InboundMessage.headers (a real message has a few dozen)
MAX_HEADER_VALUE = 2_000  # characters of each kept header value

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
_MSGID_RE = re.compile(r"<([^<>\s]+)>")


class MalformedMessage(Exception):
    """The bytes cannot be read as an email at all."""


def parse_message(raw: bytes) -> InboundMessage:
    """Decode one received message. Raises MalformedMessage only when nothing is readable."""
    if not isinstance(raw, (bytes, bytearray)):
        raise MalformedMessage(f"expected bytes, got {type(raw).__name__}")
    raw = bytes(raw).lstrip(b"\r\n")  # a leading blank line would end the headers at once
    if not raw.strip():
        raise MalformedMessage("empty message")
    try:
        msg = BytesParser(policy=email_policy.default).parsebytes(raw)
    except Exception as exc:  # the parser is lenient; anything it raises is unreadable input
        raise MalformedMessage(f"the email parser gave up: {exc}") from exc
    if not list(msg.raw_items()):
        raise MalformedMessage("no header could be read")
    try:
        return _Decoder(msg, raw).message()
    except Exception as exc:  # a decoding bug must cost one message, not the inbox loop
        log.debug("decoding failed", exc_info=True)
        raise MalformedMessage(f"internal error while decoding: {exc!r}") from exc


class _Decoder:
    """One message's decoding; remembers whether any header needed repair."""

    def __init__(self, msg: EmailMessage, raw: bytes) -> None:
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
        if "\r" in text or "\n" in text:
            self.headers_ok = False  # CR/LF smuggled in through an encoded word
        return " ".join(_CONTROL_RE.sub(" ", text).split())

    def _addresses(self, name: str) -> list[tuple[str, str]]:
        """(display name, lower-cased address) of every valid mailbox in every occurrence."""
        found: list[tuple[str, str]] = []
        for value in self._raw_values(name):
            value = _fix_surrogates(value)
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
        ids: list[str] = []
        for value in self._raw_values(name):
            value = _CONTROL_RE.sub(" ", _fix_surrogates(value))
            found = _MSGID_RE.findall(value) or [t.strip("<>") for t in value.split()]
            ids.extend(i for i in found if i and i not in ids)
        return ids

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
            clean = self._clean(_fix_surrogates(_unfold(value)))[:MAX_HEADER_VALUE]
            found.append((self._clean(name.lower())[:MAX_HEADER_VALUE], clean))
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
        return "".join(self._clean(_safe_content_type(self.msg)).split())


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
                entry = (_method_param(part), _strip_nul(ics))
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
    return " ".join(_CONTROL_RE.sub(" ", value).split()).strip('"').upper()


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
    """Join format=flowed soft line breaks (RFC 3676) so wrapped sentences read whole."""
    out: list[str] = []
    for line in text.split("\n"):
        if out and out[-1].endswith(" ") and out[-1] != "-- " and not out[-1].startswith(">"):
            previous = out.pop()
            out.append((previous[:-1] if delsp else previous) + line)
        else:
            out.append(line)
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
            candidates.append(codecs.lookup(declared).name)
    if not data.isascii() and declared in ("", "windows-1252"):
        candidates.insert(0, "utf-8")  # undeclared or latin-1 labelled but really UTF-8
    for name in (*candidates, "utf-8", "cp1252"):
        try:
            text = data.decode(name)
            break
        except (UnicodeDecodeError, LookupError):
            continue
    else:
        # windows-1252 leaves five bytes undefined: replace them rather than fail.
        text = data.decode(candidates[0] if candidates else "cp1252", errors="replace")
    return _strip_nul(text.replace("\r\n", "\n").replace("\r", "\n"))


def _fix_surrogates(text: str) -> str:
    """Raw 8-bit header bytes (kept as surrogates by the parser) decoded as UTF-8 or cp1252."""

    def repair(match: re.Match[str]) -> str:
        data = match.group(0).encode("utf-8", "surrogateescape")
        return _decode_bytes(data, "")

    return _SURROGATES_RE.sub(repair, text)


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
    """The address lower-cased, or "" when it is not one plain addr-spec."""
    address = address.strip().lower()
    if _CONTROL_RE.search(address) or not _ADDRESS_RE.fullmatch(address):
        return ""
    return address


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


class _TextExtractor(HTMLParser):
    """HTML reduced to text: block elements break lines, blockquotes become "> " lines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.current_depth = 0
        self.quote_depth = 0
        self.skipping = 0
        self.pre = 0

    def _break(self) -> None:
        line = "".join(self.current).strip()
        if line:
            self.lines.append("> " * self.current_depth + line)
        elif self.lines and self.lines[-1] != "":
            self.lines.append("")
        self.current = []
        self.current_depth = self.quote_depth

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
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
            self.current.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK_TAGS:
            self._break()
        if tag == "blockquote":
            self.quote_depth = max(0, self.quote_depth - 1)
            self.current_depth = self.quote_depth
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        if self.pre:
            pieces = data.split("\n")
            for index, piece in enumerate(pieces):
                if index:
                    self._break()
                self.current.append(piece)
            return
        if not "".join(self.current).strip():
            self.current_depth = self.quote_depth
        self.current.append(re.sub(r"\s+", " ", data))

    def text(self) -> str:
        self._break()
        return "\n".join(self.lines).strip()


def html_to_text(html: str) -> str:
    """Readable text of an HTML body, for reading the client's words."""
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser is lenient; keep whatever was read before a failure
        log.debug("HTML body could not be read completely", exc_info=True)
    return parser.text()
