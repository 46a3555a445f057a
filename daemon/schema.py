"""The configuration's schema: one entry per key, the one place that knows them.

`KEYS` lists every key of frontdesk.toml with its section, type, default, allowed values and a
one-line documentation. The same table drives validation (`validate`), the defaults, the
suggestions for misspelt keys, the comments `frontdesk init` writes, and a test that holds
systemd/frontdesk.example.toml to it. Keys whose values need more than a type check (hours, closed
dates, texts per language, secrets, URLs, addresses) name a dedicated parser as their kind.

Validation collects every problem, each naming its key path and value; a bad value is replaced by
its default so that the checks after it still run. daemon/config.py turns the values into records.
"""

from __future__ import annotations

import difflib
import ipaddress
import itertools
import re
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from connectors.net import SECURITIES
from rules.model import DEFAULT_LANGUAGE, LANGUAGES, WEEKDAYS, DateRange, Localized, TimeRange

DEFAULT_PORTS = {"imap": {"tls": 993, "starttls": 143, "none": 143},
                 "smtp": {"tls": 465, "starttls": 587, "none": 25}}
LOG_LEVELS = ("debug", "info", "warning", "error")
MAIL_MODES = ("send", "draft")
MIB = 1024 * 1024


class Secret(str):
    """A password: a str that never shows itself in a repr or a log line."""

    def __repr__(self) -> str:
        return "Secret('***')"


# --- How a value is shown in a message -----------------------------------------------------------


def show(value: object) -> str:
    """A value as it would be written in the TOML file."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def suggest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f", did you mean {close[0]}?" if close else ""


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# --- The validation context ----------------------------------------------------------------------


@dataclass
class Context:
    """What a parser may read (the file's place, the environment, the values read so far) and
    where it reports (problems stop the start; warnings are logged)."""

    path: Path | None
    env: Mapping[str, str]
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)  # "section.key" -> value, in order
    given: set[str] = field(default_factory=set)  # "section.key" written in the file
    sections: set[str] = field(default_factory=set)  # the sections the file has

    def error(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def warn(self, where: str, message: str) -> None:
        self.warnings.append(f"{where}: {message}")

    def has_problem(self, *prefixes: str) -> bool:
        return any(p.startswith(prefix) for p in self.problems for prefix in prefixes)

    @property
    def credentials(self) -> Path | None:
        """systemd's $CREDENTIALS_DIRECTORY (LoadCredential=), when the unit sets it."""
        found = self.env.get("CREDENTIALS_DIRECTORY")
        return Path(found) if found else None

    def relative(self, value: str) -> Path:
        """A path from the file: `~` expanded, relative ones beside the configuration file."""
        home = self.env.get("HOME")
        path = Path(home + value[1:]) if home and value.startswith("~/") else \
            Path(value).expanduser()
        if not path.is_absolute() and self.path is not None:
            path = self.path.parent / path
        return path


class Invalid(Exception):
    """The whole value is unusable: one sentence, reported at the value's key path."""


# --- Kinds: a type, its allowed values, and how a problem is said --------------------------------


class Kind:
    """How one key's value is checked and turned into what the records hold."""

    what = "a value"  # how the documentation names the type

    def parse(self, value: object, where: str, ctx: Context) -> Any:
        raise NotImplementedError


class Text(Kind):
    """A string; with `empty`, the sentence that refuses an empty one."""

    what = "a string"

    def __init__(self, *, empty: str = "") -> None:
        self.empty = empty

    def parse(self, value: object, where: str, ctx: Context) -> Any:
        if not isinstance(value, str):
            raise Invalid(f"{show(value)} is not a string")
        if self.empty and not value.strip():
            raise Invalid(self.empty)
        return value


class Choice(Kind):
    def __init__(self, choices: tuple[str, ...]) -> None:
        self.choices = choices
        self.what = " | ".join(f'"{c}"' for c in choices)

    def parse(self, value: object, where: str, ctx: Context) -> Any:
        if not isinstance(value, str):
            raise Invalid(f"{show(value)} is not a string")
        if value not in self.choices:
            raise Invalid(f"{show(value)} must be one of "
                          + ", ".join(f'"{c}"' for c in self.choices)
                          + suggest(value, self.choices))
        return value


class Boolean(Kind):
    what = "true or false"

    def parse(self, value: object, where: str, ctx: Context) -> Any:
        if not isinstance(value, bool):
            raise Invalid(f"{show(value)} is not true or false")
        return value


class Integer(Kind):
    """A whole number within [minimum, maximum]. `what` rewords every problem as "must be
    <what>"; `too_big` is the sentence for a value above the maximum ({} is the value)."""

    def __init__(self, minimum: int, maximum: int | None = None, *, too_big: str = "",
                 what: str = "") -> None:
        self.minimum = minimum
        self.maximum = maximum
        self.too_big = too_big
        self.wording = what
        self.what = what or "a whole number"

    def parse(self, value: object, where: str, ctx: Context) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"{show(value)} must be {self.wording}" if self.wording
                          else f"{show(value)} is not a whole number")
        if value < self.minimum:
            if self.wording:
                raise Invalid(f"{show(value)} must be {self.wording}")
            raise Invalid(f"{show(value)} must be at least {self.minimum}"
                          + (" (a negative duration makes no sense)" if value < 0 else ""))
        if self.maximum is not None and value > self.maximum:
            raise Invalid(self.too_big.format(value) if self.too_big
                          else f"{show(value)} must be at most {self.maximum}")
        return value


class Number(Kind):
    """A number (whole or not) of at least `minimum`, or above it when `exclusive`."""

    what = "a number"

    def __init__(self, minimum: float, *, exclusive: bool = False) -> None:
        self.minimum = minimum
        self.exclusive = exclusive

    def parse(self, value: object, where: str, ctx: Context) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Invalid(f"{show(value)} is not a number")
        if self.exclusive and value <= self.minimum:
            raise Invalid(f"{show(value)} must be more than {self.minimum:g}")
        if value < self.minimum:
            raise Invalid(f"{show(value)} must be at least {self.minimum:g}"
                          + (" (a negative duration makes no sense)" if value < 0 else ""))
        return float(value)


class ListOf(Kind):
    """A list whose items are each checked by `item`; a bad item is reported at key[i] and left
    out, the others kept."""

    def __init__(self, item: Kind) -> None:
        self.item = item
        self.what = f"a list of {item.what}"

    def parse(self, value: object, where: str, ctx: Context) -> Any:
        if not isinstance(value, list):
            raise Invalid(f"{show(value)} is not a list")
        good = []
        for i, item in enumerate(value):
            try:
                good.append(self.item.parse(item, f"{where}[{i}]", ctx))
            except Invalid as exc:
                ctx.error(f"{where}[{i}]", str(exc))
        return tuple(good)


# --- Dedicated parsers ---------------------------------------------------------------------------

_EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$|^[^@\s<>\"]+@localhost$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_OFFSET_ZONE = re.compile(r"^(GMT|UTC)?\s*[+\-−]\s*\d", re.IGNORECASE)
_TOKEN = re.compile(r"^[^\s;()\"\\]+$")


class Address(Kind):
    what = "an email address"

    def parse(self, value: object, where: str, ctx: Context) -> Any:
        if not isinstance(value, str) or not _EMAIL.match(value.strip()):
            raise Invalid(f"{show(value)} is not an email address")
        return value.strip()


class Pattern(Kind):
    """An address, or a shell-style pattern of addresses ("*@spam.example"), lower-cased."""

    what = 'an address or pattern like "*@spam.example"'

    def parse(self, value: object, where: str, ctx: Context) -> Any:
        if isinstance(value, str) and value.strip() and "@" in value:
            return value.strip().lower()
        raise Invalid(f'{show(value)} is not an address or pattern like "*@spam.example"')


class AuthservId(Kind):
    """An authserv-id (RFC 8601 §2.5): one token, compared case-insensitively, so lower-cased."""

    what = 'an authserv-id like "mx.example.org"'

    def parse(self, value: object, where: str, ctx: Context) -> Any:
        if not isinstance(value, str) or not _TOKEN.match(value.strip()):
            raise Invalid(f"{show(value)} is not an authserv-id (the first word of the "
                          'Authentication-Results headers your server adds, like "mx.example.org")')
        return value.strip().lower()


class Weekday(Kind):
    """A weekday name, as the number rules/ use (0 = Monday)."""

    what = 'a weekday name like "monday"'

    def parse(self, value: object, where: str, ctx: Context) -> Any:
        if isinstance(value, str) and value.strip().lower() in WEEKDAYS:
            return WEEKDAYS.index(value.strip().lower())
        hint = suggest(value.strip().lower(), WEEKDAYS) if isinstance(value, str) else ""
        raise Invalid(f"{show(value)} is not a day of the week" + hint)


class TimeZone(Kind):
    what = 'an IANA time zone name like "America/Toronto"'

    def parse(self, value: object, where: str, ctx: Context) -> Any:
        if not isinstance(value, str):
            raise Invalid(f"{show(value)} is not a string")
        if value in available_timezones() or value == "UTC":
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise Invalid(f"{show(value)} is not an IANA time zone") from None
            return value
        if _OFFSET_ZONE.match(value.strip()):
            # "GMT+1" resembles "GMT+0" and "Etc/GMT+1" (which is UTC-1): any suggestion would be
            # another offset. A fixed offset also ignores summer time: ask for the place.
            raise Invalid(f"{show(value)} is not an IANA time zone; name the place instead (e.g. "
                          '"Europe/Paris"): a fixed offset does not follow summer time')
        digits = re.findall(r"\d+", value)
        choices = [z for z in available_timezones() if re.findall(r"\d+", z) == digits]
        hint = suggest(value, sorted(choices))
        raise Invalid(f"{show(value)} is not an IANA time zone"
                      + (hint or ' (e.g. "America/Toronto", "Europe/Paris")'))


def time_range(text: object) -> TimeRange:
    """ "09:00-12:00" as a TimeRange, or Invalid with the sentence that says why not."""
    if not isinstance(text, str) or text.count("-") != 1:
        raise Invalid(f'{show(text)} is not a range like "09:00-12:00"')
    first, last = (t.strip() for t in text.split("-"))
    bad = [t for t in (first, last) if not _HHMM.match(t)]
    if bad:
        extra = " (use 00:00-23:59 times; a day ends at 23:59)" if "24:00" in bad else ""
        raise Invalid(f'{show(text)}: "{bad[0]}" is not a time of day HH:MM{extra}')
    start = time(int(first[:2]), int(first[3:]))
    end = time(int(last[:2]), int(last[3:]))
    if end <= start:
        raise Invalid(f"{show(text)} ends before it starts")
    return TimeRange(start, end)


class DayRanges(Kind):
    """One weekday's working ranges: a list of "HH:MM-HH:MM" that do not overlap."""

    what = 'a list of ranges like ["09:00-12:00", "13:00-17:00"]'

    def parse(self, value: object, where: str, ctx: Context) -> Any:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise Invalid(f"{show(value)} must be a list of ranges like "
                          '["09:00-12:00", "13:00-17:00"]')
        ranges: list[TimeRange] = []
        for i, text in enumerate(value):
            try:
                ranges.append(time_range(text))
            except Invalid as exc:
                ctx.error(f"{where}[{i}]", str(exc))
        ranges.sort(key=lambda r: r.start)
        for a, b in itertools.pairwise(ranges):
            if b.start < a.end:
                ctx.error(where, f'"{a.label()}" and "{b.label()}" overlap')
        return tuple(ranges)


class ClosedDate(Kind):
    """A date, or an inclusive range of dates "first/last"."""

    what = 'a date like "2027-02-15" or a range like "2026-12-24/2027-01-02"'

    def parse(self, value: object, where: str, ctx: Context) -> Any:
        wrong = (f'{show(value)} is not a date like "2027-02-15" or a range like '
                 '"2026-12-24/2027-01-02"')
        if isinstance(value, date):
            return DateRange(value, value)
        if not isinstance(value, str):
            raise Invalid(wrong)
        parts = value.split("/")
        try:
            days = [date.fromisoformat(p.strip()) for p in parts]
        except ValueError:
            days = []
        if len(parts) > 2 or not days:
            raise Invalid(wrong)
        if days[-1] < days[0]:
            raise Invalid(f"{show(value)} ends before it starts")
        return DateRange(days[0], days[-1])


class LocalizedText(Kind):
    """A text a client reads: one string, or a table of strings by language (`items`: lists of
    strings). The default language is freelancer.language."""

    def __init__(self, *, items: bool = False) -> None:
        self.items = items
        self.what = ("a list of strings, or a table of lists by language" if items
                     else "a string, or a table of strings by language (fr, en)")

    def _leaf(self, leaf: object, where: str, ctx: Context) -> object:
        if self.items:
            if isinstance(leaf, list) and all(isinstance(x, str) for x in leaf):
                return tuple(leaf)
            if isinstance(leaf, str):
                return (leaf,)
            ctx.error(where, f"{show(leaf)} must be a list of strings")
            return ()
        if isinstance(leaf, str):
            return leaf
        ctx.error(where, f"{show(leaf)} must be a string, or a table of strings by "
                  "language (fr, en)")
        return ""

    def parse(self, value: object, where: str, ctx: Context) -> Any:
        language = str(ctx.values.get("freelancer.language") or DEFAULT_LANGUAGE)
        if isinstance(value, dict):
            texts: dict[str, object] = {}
            for lang, leaf in value.items():
                if lang not in LANGUAGES:
                    ctx.error(f"{where}.{lang}", "unknown language" + suggest(lang, LANGUAGES)
                              + " (languages are fr and en)")
                    continue
                texts[lang] = self._leaf(leaf, f"{where}.{lang}", ctx)
            return Localized(texts, language)
        return Localized({language: self._leaf(value, where, ctx)}, language)


def mask_url(value: str) -> str:
    """The URL with whatever userinfo it holds replaced by ***, for messages."""
    parts = urlsplit(value)
    if "@" not in parts.netloc:
        return value
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


class Url(Kind):
    """An http(s) URL; plain http only to a loopback host; no username or password in it."""

    what = "an https URL"

    def parse(self, value: object, where: str, ctx: Context) -> Any:
        if not isinstance(value, str):
            raise Invalid(f"{show(value)} is not a URL")
        parts = urlsplit(value)
        section = where.split(".")[0]
        if "@" in parts.netloc:
            # a password here would be logged and printed with the URL (issue 9, item 8)
            raise Invalid(f"{show(mask_url(value))} holds a username or password; write the URL "
                          f"without it, the username in {section}.username and the password in "
                          f"a file named by {section}.password_file")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Invalid(f"{show(value)} is not an http(s) URL")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise Invalid(f"{show(value)} uses plain http to a host that is not loopback; "
                          "use https (passwords must not cross a network in clear)")
        return value


class Price(Kind):
    what = 'a string like "95 $"'

    def parse(self, value: object, where: str, ctx: Context) -> Any:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise Invalid(f'{show(value)} must be a string like "95 $"')
        return str(value)


class Folder(Kind):
    """A folder's path; relative ones are beside the configuration file. `existing`: it must be
    there already."""

    what = "a folder's path"

    def __init__(self, *, existing: bool = False) -> None:
        self.existing = existing

    def parse(self, value: object, where: str, ctx: Context) -> Any:
        if not isinstance(value, str):
            raise Invalid(f"{show(value)} is not a string")
        if not value:
            return None
        path = ctx.relative(value)
        if self.existing and not path.is_dir():
            raise Invalid(f"{show(value)} is not a folder")
        return path


# --- Secrets: three keys, one password -----------------------------------------------------------


def read_secret(path: Path, where: str, ctx: Context) -> Secret | None:
    """The first line of a secret file; a problem when it cannot be read, a warning when others
    may read it."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        ctx.error(where, f"cannot read {path}: {exc.strerror or exc}" + _secret_hint(path, ctx))
        return None
    except UnicodeDecodeError:
        ctx.error(where, f"{path} is not UTF-8 text")
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        ctx.warn(where, f"{path} is readable by group or others (chmod 600 {path})")
    secret = text.rstrip("\r\n")
    if not secret:
        creds = ctx.credentials
        hint = (f" (the unit hands over an empty credential {path.name} when the file its "
                "LoadCredential= names is missing)" if creds and path.parent == creds else "")
        ctx.error(where, f"{path} is empty{hint}")
        return None
    return Secret(secret)


def _secret_hint(path: Path, ctx: Context) -> str:
    creds = ctx.credentials
    if creds is None:
        return ""
    if path.parent == creds:
        return (f" (under systemd, the unit must hand it over: LoadCredential={path.name}:"
                f"/etc/frontdesk/{path.name})")
    return (f' (under systemd, write password_file = "{path.name}": a bare name is read from '
            "the credentials the unit hands over with LoadCredential=)")


class SecretFile(Kind):
    """password_file: an absolute path, or a bare name looked up in $CREDENTIALS_DIRECTORY under
    systemd and beside the configuration file otherwise."""

    what = 'a file name like "caldav-password"'

    def parse(self, value: object, where: str, ctx: Context) -> Any:
        if not isinstance(value, str) or not value:
            raise Invalid(f"{show(value)} must be a non-empty string")
        creds = ctx.credentials
        bare = not value.startswith("~") and not Path(value).is_absolute()
        path = creds / value if bare and creds else ctx.relative(value)
        return read_secret(path, where, ctx)


class SecretEnv(Kind):
    what = "an environment variable's name"

    def parse(self, value: object, where: str, ctx: Context) -> Any:
        if not isinstance(value, str) or not value:
            raise Invalid(f"{show(value)} must be a non-empty string")
        if value not in ctx.env:
            raise Invalid(f"the environment variable {value} is not set")
        return Secret(ctx.env[value])


class SecretInline(Kind):
    what = "the password itself"

    def parse(self, value: object, where: str, ctx: Context) -> Any:
        if not isinstance(value, str) or not value:
            raise Invalid(f"{show(value)} must be a non-empty string")
        section = where.split(".")[0]
        ctx.warn(where, f"the password is written in the configuration file; prefer "
                 f"{section}.password_file or systemd credentials")
        return Secret(value)


# --- The table -----------------------------------------------------------------------------------


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Derived:
    """A default computed from the values read before it (the doc line says from what)."""

    compute: Callable[[Context], Any]


@dataclass(frozen=True)
class Key:
    section: str
    name: str
    kind: Kind
    default: Any
    doc: str
    example: Any = None  # what a commented-out line shows when there is no plain default

    @property
    def path(self) -> str:
        return f"{self.section}.{self.name}"

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def default_value(self, ctx: Context) -> Any:
        if isinstance(self.default, Derived):
            return self.default.compute(ctx)
        return None if self.required else self.default


@dataclass(frozen=True)
class Section:
    name: str
    doc: str
    required: bool = False
    array: bool = False  # [[services]]: a list of tables


def _port(proto: str) -> Derived:
    return Derived(lambda ctx: DEFAULT_PORTS[proto][ctx.values[f"mail.{proto}_security"]])


SECTIONS = (
    Section("freelancer", "who you are", required=True),
    Section("calendar", "the CalDAV calendar frontdesk guards and books into", required=True),
    Section("mail", "your mailbox: booking emails are answered, declines sent from it "
                    "(leave the section out and only the calendar is guarded)"),
    Section("hours", "working hours per weekday, in freelancer.timezone; a weekday left out "
                     "is a day off", required=True),
    Section("booking", "which times are offered to clients"),
    Section("invites", "which invitations are declined"),
    Section("limits", "caps on automatic mail (replies and declines), so that no one can "
                      "make frontdesk send much"),
    Section("terms", "what every client is told: one string, or one per language"),
    Section("services", "one [[services]] table per service you offer", array=True),
    Section("clients", "addresses or patterns; read again on reload"),
    Section("daemon", "the service itself"),
)

_CALENDAR_SECRET = ("calendar", "CalDAV", "caldav-password")
_MAIL_SECRET = ("mail", "mail", "mail-password")


def _secret_keys(section: str, what: str, credential: str) -> list[Key]:
    return [
        Key(section, "password_file", SecretFile(), None,
            f"file holding the {what} password: a bare name is read beside this file, or from "
            f"the systemd credential of that name (default: the credential {credential})"),
        Key(section, "password_env", SecretEnv(), None,
            f"or: the environment variable holding the {what} password",
            f"{credential.split('-')[0].upper()}_PASSWORD"),
        Key(section, "password", SecretInline(), None,
            f"or: the {what} password itself (discouraged: anyone who reads this file has it)",
            "..."),
    ]


def _no_text() -> Derived:
    return Derived(lambda ctx: Localized({}, str(ctx.values.get("freelancer.language")
                                             or DEFAULT_LANGUAGE)))


_DAY_DOCS = {day: f"working ranges on {day.capitalize()}s" for day in WEEKDAYS}

KEYS: tuple[Key, ...] = (
    Key("freelancer", "name", Text(empty="must not be empty"), REQUIRED,
        "your name: signs every reply"),
    Key("freelancer", "email", Address(), REQUIRED,
        "your address: invitations to it are yours; replies come from it"),
    Key("freelancer", "aliases", ListOf(Address()), (),
        "other addresses that are you (never answered, count as you)"),
    Key("freelancer", "timezone", TimeZone(), REQUIRED,
        "IANA zone name (a place, not an offset); every time in this file is in it"),
    Key("freelancer", "language", Choice(LANGUAGES), DEFAULT_LANGUAGE,
        'language of replies when the client\'s is unknown: "fr" or "en"'),

    Key("calendar", "url", Url(), REQUIRED,
        "the CalDAV calendar to guard and book into (https; no password in it)"),
    Key("calendar", "username", Text(), "", "your CalDAV login name"),
    *_secret_keys(*_CALENDAR_SECRET),
    Key("calendar", "busy_urls", ListOf(Url()), (),
        "other calendars that only count as busy time"),
    Key("calendar", "poll_seconds", Integer(1), 60, "how often the calendar is synced, in seconds"),

    Key("mail", "imap_host", Text(empty="must name a host"), REQUIRED,
        "the IMAP server of your mailbox"),
    Key("mail", "imap_security", Choice(SECURITIES), "tls",
        '"tls" | "starttls" | "none" ("none" only to a loopback host)'),
    Key("mail", "imap_port", Integer(1, 65535, too_big="{} is not a TCP port"), _port("imap"),
        "default: 993 with tls, 143 otherwise"),
    Key("mail", "smtp_host", Text(empty="must name a host"), REQUIRED,
        "the SMTP server that sends your mail"),
    Key("mail", "smtp_security", Choice(SECURITIES), "tls",
        '"tls" | "starttls" | "none" ("none" only to a loopback host)'),
    Key("mail", "smtp_port", Integer(1, 65535, too_big="{} is not a TCP port"), _port("smtp"),
        "default: 465 with tls, 587 with starttls, 25 with none"),
    Key("mail", "username", Text(),
        Derived(lambda ctx: ctx.values.get("freelancer.email") or ""),
        "your IMAP and SMTP login name (default: freelancer.email)"),
    *_secret_keys(*_MAIL_SECRET),
    Key("mail", "inbox", Text(empty="must name a folder"), "INBOX",
        "the folder where clients' mail arrives"),
    Key("mail", "sent_folder", Text(), "Sent",
        'where a copy of each reply is filed; "" when the SMTP server files sent mail itself'),
    Key("mail", "drafts_folder", Text(), "Drafts", 'where replies wait when mode = "draft"'),
    Key("mail", "mode", Choice(MAIL_MODES), "send",
        '"send", or "draft": replies wait in drafts_folder until you send them'),
    Key("mail", "authserv_ids", ListOf(AuthservId()), (),
        "authserv-ids of your own receiving server whose Authentication-Results are trusted "
        "(RFC 8601)"),
    Key("mail", "max_message_mb", Number(0, exclusive=True), 25,
        "bigger messages (in MiB) are read headers-only"),

    *(Key("hours", day, DayRanges(), (), _DAY_DOCS[day]) for day in WEEKDAYS),
    Key("hours", "closed", ListOf(ClosedDate()), (),
        "dates and inclusive date ranges with no work"),

    Key("booking", "duration_minutes", Integer(1), 60,
        "length of an appointment, and of the slots offered for a service without minutes"),
    Key("booking", "buffer_minutes", Integer(0), 15,
        "kept free before and after every busy event"),
    Key("booking", "min_notice_hours", Number(0), 24, "no time offered sooner than this"),
    Key("booking", "horizon_days", Integer(1, 366, too_big="{} is more than a year"), 21,
        "how far ahead times are offered (at most 366)"),
    Key("booking", "max_per_day", Integer(1), 4,
        "appointments per day, counting those already in the calendar"),
    Key("booking", "step_minutes", Integer(1), 30,
        "slot starts fall on this grid from the start of a working range"),
    Key("booking", "slots_offered", Integer(1), 5, "how many times one reply offers"),
    Key("booking", "cluster", Boolean(), True, "offer times next to existing appointments first"),
    Key("booking", "hold_hours", Number(0), 24,
        "how long a time offered to a client stays held for them; 0 turns holds off"),
    Key("booking", "new_client_days", ListOf(Weekday()), (),
        "the only weekdays offered to new clients (empty: every working day)"),

    Key("invites", "decline_outside_hours", Boolean(), True,
        "decline invitations outside working hours, on days off and closed dates"),
    Key("invites", "decline_conflicts", Boolean(), False,
        "also decline invitations over another appointment"),

    Key("limits", "per_hour", Integer(1), 30,
        "automatic messages (replies and declines together) sent in any hour, at most"),
    Key("limits", "per_day", Integer(1), 200, "automatic messages sent in any 24 hours, at most"),
    Key("limits", "per_sender_per_day", Integer(1), 3,
        "conversations one sender gets automatic replies in, in 24 hours, at most"),
    Key("limits", "per_conversation_per_day", Integer(1), 8,
        "automatic replies in one conversation in 24 hours, at most (cuts a mail loop)"),
    Key("limits", "repeat_days", Integer(0), 1,
        "the same kind of reply goes to the same sender again only after this many days "
        "(0: no wait)"),
    Key("limits", "declines_per_organizer_per_day", Integer(1), 10,
        "declines to one organizer in 24 hours, counted apart from replies"),

    Key("terms", "payment", LocalizedText(), _no_text(), "how and when clients pay",
        "Payment is due at the end of each session."),
    Key("terms", "cancellation", LocalizedText(), _no_text(), "your cancellation terms",
        "Please cancel at least 24 hours ahead."),
    Key("terms", "cancellation_notice_hours", Number(0), 24,
        "a client may cancel without charge up to this many hours before"),
    Key("terms", "contact", LocalizedText(), _no_text(), "how to reach you",
        "I answer within one business day."),
    Key("terms", "options", LocalizedText(items=True), _no_text(),
        "what you offer a client who finds the price too high (never a lower price)",
        ["Pay in three instalments", "Book later, when the time is right for you"]),

    Key("services", "name", LocalizedText(), REQUIRED, "the service as clients read it",
        "Consultation, 60 minutes"),
    Key("services", "minutes", Integer(1, what="a positive whole number"), None,
        "its length; leave it out and clients see no duration", 60),
    Key("services", "price", Price(), "", "its price as written", "95 $"),

    Key("clients", "block", ListOf(Pattern()), (), "never answered"),
    Key("clients", "review", ListOf(Pattern()), (),
        "never answered automatically: left for you"),
    Key("clients", "unpaid", ListOf(Pattern()), (), "clients who owe you a payment"),

    Key("daemon", "state_dir", Folder(), None,
        "where the state database lives (default: the systemd service's StateDirectory, "
        "see README)"),
    Key("daemon", "log_level", Choice(LOG_LEVELS), "info",
        '"debug" | "info" | "warning" | "error"'),
    Key("daemon", "templates_dir", Folder(existing=True), None,
        "your own reply templates, over the shipped ones (readable by the service)",
        "/etc/frontdesk/templates"),
)

SECTION_KEYS: dict[str, tuple[Key, ...]] = {
    s.name: tuple(k for k in KEYS if k.section == s.name) for s in SECTIONS}


# --- Validation ----------------------------------------------------------------------------------


def _read_table(section: Section, raw: Mapping[str, Any], where: str, ctx: Context,
                target: dict[str, Any], prefix: str) -> None:
    """Check one table of `section` (found at `where`) into `target[prefix + name]`."""
    keys = SECTION_KEYS[section.name]
    names = [k.name for k in keys]
    for name in raw:
        if name not in names:
            ctx.error(f"{where}.{name}", "unknown key" + suggest(name, names))
    for k in keys:
        full = f"{where}.{k.name}"
        if k.name in raw:
            ctx.given.add(full)
            try:
                target[prefix + k.name] = k.kind.parse(raw[k.name], full, ctx)
                continue
            except Invalid as exc:
                ctx.error(full, str(exc))
        elif k.required:
            ctx.error(full, "is required")
        target[prefix + k.name] = k.default_value(ctx)


def validate(data: Mapping[str, Any], ctx: Context) -> dict[str, list[dict[str, Any]]]:
    """Check `data` (the parsed TOML) against the table: plain sections' values go to
    `ctx.values`; the tables of array sections ([[services]]) are returned by section name."""
    names = [s.name for s in SECTIONS]
    for name in data:
        if name not in names:
            ctx.error(name, "unknown section" + suggest(name, names))
    ctx.sections.update(data)
    entries: dict[str, list[dict[str, Any]]] = {}
    for section in SECTIONS:
        raw = data.get(section.name)
        if section.array:
            entries[section.name] = _read_array(section, raw, ctx)
            continue
        if raw is None:
            if section.required:
                ctx.error(section.name, f"the [{section.name}] section is required")
            # a missing section's required keys were just reported with the section
            for k in SECTION_KEYS[section.name]:
                ctx.values[k.path] = k.default_value(ctx)
            continue
        if not isinstance(raw, dict):
            ctx.error(section.name, f"must be a table ([{section.name}]), not {show(raw)}")
            raw = {}
        _read_table(section, raw, section.name, ctx, ctx.values, f"{section.name}.")
    return entries


def _read_array(section: Section, raw: object, ctx: Context) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        ctx.error(section.name, f"must be a list of [[{section.name}]] tables")
        return []
    out: list[dict[str, Any]] = []
    keys = ", ".join(k.name for k in SECTION_KEYS[section.name])
    for i, entry in enumerate(raw):
        where = f"{section.name}[{i}]"
        if not isinstance(entry, dict):
            ctx.error(where, f"must be a table with {keys}")
            continue
        values: dict[str, Any] = {}
        _read_table(section, entry, where, ctx, values, "")
        out.append(values)
    return out
