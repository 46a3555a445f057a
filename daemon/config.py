"""The configuration file: found, read, validated once into frozen objects.

Every problem is collected and reported at once, each naming its key path and value; nothing is
half-loaded. The schema below is the one place that knows the keys, their types and defaults.
"""

from __future__ import annotations

import difflib
import ipaddress
import itertools
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from connectors.net import SECURITIES
from rules.model import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    WEEKDAYS,
    BookingPolicy,
    ClientsPolicy,
    DateRange,
    Freelancer,
    Hours,
    InvitePolicy,
    Limits,
    Localized,
    Policy,
    Service,
    Terms,
    TimeRange,
)

DEFAULT_PORTS = {"imap": {"tls": 993, "starttls": 143, "none": 143},
                 "smtp": {"tls": 465, "starttls": 587, "none": 25}}


class ConfigError(Exception):
    """The configuration cannot be used; `problems` lists every reason, one sentence each."""

    def __init__(self, path: Path | None, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        where = f"configuration {path}" if path else "configuration"
        super().__init__(f"{where}: " + "; ".join(problems))

    def render(self) -> str:
        where = str(self.path) if self.path else "the configuration"
        count = len(self.problems)
        head = f"frontdesk: {where} has {count} problem{'s' if count != 1 else ''}:"
        return "\n".join([head, *(f"  {p}" for p in self.problems)])


class Secret(str):
    """A password: a str that never shows itself in a repr or a log line."""

    def __repr__(self) -> str:
        return "Secret('***')"


@dataclass(frozen=True)
class CalendarSettings:
    url: str
    username: str
    password: Secret | None
    busy_urls: tuple[str, ...] = ()
    poll_seconds: int = 60


@dataclass(frozen=True)
class MailSettings:
    imap_host: str
    imap_port: int
    imap_security: str
    smtp_host: str
    smtp_port: int
    smtp_security: str
    username: str
    password: Secret | None
    inbox: str = "INBOX"
    sent_folder: str = "Sent"
    drafts_folder: str = "Drafts"
    mode: str = "send"


@dataclass(frozen=True)
class DaemonSettings:
    state_dir: Path
    log_level: str = "info"
    templates_dir: Path | None = None


@dataclass(frozen=True)
class Config:
    path: Path | None
    policy: Policy
    calendar: CalendarSettings
    mail: MailSettings | None
    daemon: DaemonSettings
    warnings: tuple[str, ...] = field(default=())


# --- Finding the file ----------------------------------------------------------------------------


def candidate_paths(explicit: str | None, environ: Mapping[str, str]) -> list[Path]:
    if explicit:
        return [Path(explicit).expanduser()]
    if environ.get("FRONTDESK_CONFIG"):
        return [Path(environ["FRONTDESK_CONFIG"]).expanduser()]
    home = Path(environ.get("HOME", "~")).expanduser()
    xdg = Path(environ.get("XDG_CONFIG_HOME") or home / ".config")
    return [xdg / "frontdesk" / "frontdesk.toml", Path("/etc/frontdesk/frontdesk.toml")]


def find_config(explicit: str | None, environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    paths = candidate_paths(explicit, env)
    for path in paths:
        if path.is_file():
            return path
    if explicit or env.get("FRONTDESK_CONFIG"):
        raise ConfigError(paths[0], [f"the file {paths[0]} does not exist or is not readable"])
    looked = ", ".join(str(p) for p in paths)
    raise ConfigError(None, [f"no configuration file found (looked at {looked}); "
                             "pass --config PATH or set FRONTDESK_CONFIG"])


def load_config(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> Config:
    env = os.environ if environ is None else environ
    path = find_config(explicit, env)
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [f"cannot read the file: {exc}"]) from None
    return parse_config(text, path=path, environ=env)


def parse_config(text: str, *, path: Path | None = None,
                 environ: Mapping[str, str] | None = None) -> Config:
    env = os.environ if environ is None else environ
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [f"not valid TOML: {exc}"]) from None
    return _Validator(data, path, env).run()


# --- Validation ----------------------------------------------------------------------------------

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$|^[^@\s<>\"]+@localhost$")
_MISSING = object()

SECTIONS: dict[str, tuple[str, ...]] = {
    "freelancer": ("name", "email", "aliases", "timezone", "language"),
    "calendar": ("url", "username", "password", "password_file", "password_env", "busy_urls",
                 "poll_seconds"),
    "mail": ("imap_host", "imap_port", "imap_security", "smtp_host", "smtp_port", "smtp_security",
             "username", "password", "password_file", "password_env", "inbox", "sent_folder",
             "drafts_folder", "mode"),
    "hours": (*WEEKDAYS, "closed"),
    "booking": ("duration_minutes", "buffer_minutes", "min_notice_hours", "horizon_days",
                "max_per_day", "step_minutes", "slots_offered", "cluster"),
    "invites": ("decline_outside_hours", "decline_conflicts"),
    "terms": ("payment", "cancellation", "contact", "options"),
    "services": ("name", "minutes", "price"),
    "clients": ("block", "review"),
    "limits": ("per_hour", "per_day", "per_sender_per_day", "repeat_days",
               "declines_per_organizer_per_day"),
    "daemon": ("state_dir", "log_level", "templates_dir"),
}
REQUIRED_SECTIONS = ("freelancer", "calendar", "hours")
LOG_LEVELS = ("debug", "info", "warning", "error")


def _suggest(word: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f", did you mean {close[0]}?" if close else ""


def _show(value: object) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _Validator:
    def __init__(self, data: dict[str, Any], path: Path | None, env: Mapping[str, str]) -> None:
        self.data = data
        self.path = path
        self.env = env
        self.problems: list[str] = []
        self.warnings: list[str] = []

    def error(self, key: str, message: str) -> None:
        self.problems.append(f"{key}: {message}")

    # -- generic getters: each returns a usable value (default on error) and records problems --

    def section(self, name: str) -> dict[str, Any]:
        raw = self.data.get(name, {})
        if name == "services":
            return {}
        if not isinstance(raw, dict):
            self.error(name, f"must be a table ([{name}]), not {_show(raw)}")
            return {}
        for key in raw:
            if key not in SECTIONS[name]:
                self.error(f"{name}.{key}", "unknown key" + _suggest(key, SECTIONS[name]))
        return raw

    def get(self, sec: dict[str, Any], name: str, key: str, kind: type | tuple[type, ...],
            default: Any = _MISSING, *, what: str = "") -> Any:
        full = f"{name}.{key}"
        if key not in sec:
            if default is _MISSING:
                self.error(full, "is required" + (f" ({what})" if what else ""))
                return None
            return default
        value = sec[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        if not ok:
            names = " or ".join(
                {str: "a string", int: "a whole number", float: "a number", bool: "true or false",
                 list: "a list", dict: "a table"}[k] for k in kinds)
            self.error(full, f"{_show(value)} is not {names}")
            return None if default is _MISSING else default
        return value

    def number(self, sec: dict[str, Any], name: str, key: str, default: int | float, *,
               minimum: float, integer: bool = True) -> Any:
        kinds: tuple[type, ...] = (int,) if integer else (int, float)
        value = self.get(sec, name, key, kinds, default)
        if value is None:
            return default
        if value < minimum:
            self.error(f"{name}.{key}", f"{_show(value)} must be at least {minimum:g}"
                       + (" (a negative duration makes no sense)" if value < 0 else ""))
            return default
        return value

    def choice(self, sec: dict[str, Any], name: str, key: str, choices: tuple[str, ...],
               default: str) -> str:
        value = self.get(sec, name, key, str, default)
        if value is None:
            return default
        if value not in choices:
            self.error(f"{name}.{key}", f"{_show(value)} must be one of "
                       + ", ".join(f'"{c}"' for c in choices) + _suggest(value, choices))
            return default
        return str(value)

    def address(self, value: object, key: str) -> str | None:
        if not isinstance(value, str) or not _EMAIL.match(value.strip()):
            self.error(key, f"{_show(value)} is not an email address")
            return None
        return value.strip()

    def localized(self, value: object, key: str, default_lang: str, *,
                  items: bool = False) -> Localized:
        def check_leaf(leaf: object, where: str) -> object:
            if items:
                if isinstance(leaf, list) and all(isinstance(x, str) for x in leaf):
                    return tuple(leaf)
                if isinstance(leaf, str):
                    return (leaf,)
                self.error(where, f"{_show(leaf)} must be a list of strings")
                return ()
            if isinstance(leaf, str):
                return leaf
            self.error(where, f"{_show(leaf)} must be a string, or a table of strings by "
                       "language (fr, en)")
            return ""

        if isinstance(value, dict):
            texts: dict[str, object] = {}
            for lang, leaf in value.items():
                if lang not in LANGUAGES:
                    self.error(f"{key}.{lang}", "unknown language" + _suggest(lang, LANGUAGES)
                               + " (languages are fr and en)")
                    continue
                texts[lang] = check_leaf(leaf, f"{key}.{lang}")
            return Localized(texts, default_lang)
        return Localized({default_lang: check_leaf(value, key)} if value is not None else {},
                         default_lang)

    def secret(self, sec: dict[str, Any], name: str, credential: str) -> Secret | None:
        given = [k for k in ("password", "password_file", "password_env") if k in sec]
        if len(given) > 1:
            self.error(f"{name}.{given[1]}", f"give only one of {name}.password_file, "
                       f"{name}.password_env and {name}.password")
            return None
        creds = self.env.get("CREDENTIALS_DIRECTORY")
        if not given:
            # systemd's LoadCredential= hands secrets over as files named by the unit.
            if creds and (Path(creds) / credential).is_file():
                return self._read_secret(Path(creds) / credential, f"{name} (credential)")
            return None
        key = given[0]
        value = sec[key]
        if not isinstance(value, str) or not value:
            self.error(f"{name}.{key}", f"{_show(value)} must be a non-empty string")
            return None
        if key == "password":
            self.warnings.append(f"{name}.password: the password is written in the configuration "
                                 f"file; prefer {name}.password_file or systemd credentials")
            return Secret(value)
        if key == "password_env":
            if value not in self.env:
                self.error(f"{name}.password_env", f"the environment variable {value} is not set")
                return None
            return Secret(self.env[value])
        path = Path(value).expanduser()
        if not path.is_absolute():
            base = Path(creds) if creds else (self.path.parent if self.path else Path.cwd())
            path = base / path
        return self._read_secret(path, f"{name}.password_file")

    def _read_secret(self, path: Path, key: str) -> Secret | None:
        try:
            mode = path.stat().st_mode
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            self.error(key, f"cannot read {path}: {exc.strerror or exc}")
            return None
        except UnicodeDecodeError:
            self.error(key, f"{path} is not UTF-8 text")
            return None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            self.warnings.append(f"{key}: {path} is readable by group or others "
                                 f"(chmod 600 {path})")
        secret = text.rstrip("\r\n")
        if not secret:
            self.error(key, f"{path} is empty")
            return None
        return Secret(secret)

    def url(self, value: object, key: str) -> str | None:
        if not isinstance(value, str):
            self.error(key, f"{_show(value)} is not a URL")
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            self.error(key, f"{_show(value)} is not an http(s) URL")
            return None
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            self.error(key, f"{_show(value)} uses plain http to a host that is not loopback; "
                       "use https (passwords must not cross a network in clear)")
            return None
        return value

    # -- sections --

    def run(self) -> Config:
        for name in self.data:
            if name not in SECTIONS:
                self.error(name, "unknown section" + _suggest(name, list(SECTIONS)))
        for name in REQUIRED_SECTIONS:
            if name not in self.data:
                self.error(name, f"the [{name}] section is required")
        freelancer = self.freelancer()
        lang = freelancer.language
        hours = self.hours()
        booking = self.booking()
        invites = self.invites()
        terms = self.terms(lang)
        services = self.services(lang)
        clients = self.clients()
        limits = self.limits()
        calendar = self.calendar()
        mail = self.mail(freelancer.email) if "mail" in self.data else None
        daemon = self.daemon()
        if self.problems:
            raise ConfigError(self.path, self.problems)
        policy = Policy(freelancer=freelancer, hours=hours, booking=booking, invites=invites,
                        terms=terms, services=services, clients=clients, limits=limits)
        return Config(self.path, policy, calendar, mail, daemon, tuple(self.warnings))

    def freelancer(self) -> Freelancer:
        name = "freelancer"
        sec = self.section(name)
        who = self.get(sec, name, "name", str) or ""
        email = self.get(sec, name, "email", str)
        email = (self.address(email, "freelancer.email") if email is not None else None) or ""
        aliases: list[str] = []
        for i, alias in enumerate(self.get(sec, name, "aliases", list, [])):
            ok = self.address(alias, f"freelancer.aliases[{i}]")
            if ok:
                aliases.append(ok)
        zone = self.get(sec, name, "timezone", str)
        timezone = "UTC"
        if zone is not None:
            if zone in available_timezones() or zone == "UTC":
                try:
                    ZoneInfo(zone)
                    timezone = zone
                except (ZoneInfoNotFoundError, ValueError):
                    self.error("freelancer.timezone", f"{_show(zone)} is not an IANA time zone")
            else:
                hint = _suggest(zone, sorted(available_timezones()))
                self.error("freelancer.timezone", f"{_show(zone)} is not an IANA time zone"
                           + (hint or " (e.g. \"America/Toronto\", \"Europe/Paris\")"))
        language = self.choice(sec, name, "language", LANGUAGES, DEFAULT_LANGUAGE)
        return Freelancer(who, email, tuple(aliases), timezone, language)

    def hours(self) -> Hours:
        name = "hours"
        sec = self.section(name)
        week: dict[int, tuple[TimeRange, ...]] = {}
        for index, day in enumerate(WEEKDAYS):
            if day not in sec:
                continue
            value = sec[day]
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list):
                self.error(f"hours.{day}", f"{_show(value)} must be a list of ranges like "
                           '["09:00-12:00", "13:00-17:00"]')
                continue
            ranges: list[TimeRange] = []
            for i, text in enumerate(value):
                parsed = self._time_range(text, f"hours.{day}[{i}]")
                if parsed:
                    ranges.append(parsed)
            ranges.sort(key=lambda r: r.start)
            for a, b in itertools.pairwise(ranges):
                if b.start < a.end:
                    self.error(f"hours.{day}", f'"{a.label()}" and "{b.label()}" overlap')
            if ranges:
                week[index] = tuple(ranges)
        closed: list[DateRange] = []
        values = self.get(sec, name, "closed", list, [])
        for i, text in enumerate(values or []):
            parsed_dates = self._date_range(text, f"hours.closed[{i}]")
            if parsed_dates:
                closed.append(parsed_dates)
        if "hours" in self.data and not week and not any(
                k.startswith("hours.") for k in self.problems):
            self.error("hours", "no working day is set (add e.g. monday = [\"09:00-17:00\"])")
        return Hours(week, tuple(closed))

    def _time_range(self, text: object, key: str) -> TimeRange | None:
        if not isinstance(text, str) or text.count("-") != 1:
            self.error(key, f'{_show(text)} is not a range like "09:00-12:00"')
            return None
        first, last = (t.strip() for t in text.split("-"))
        bad = [t for t in (first, last) if not _HHMM.match(t)]
        if bad:
            extra = " (use 00:00-23:59 times; a day ends at 23:59)" if "24:00" in bad else ""
            self.error(key, f'{_show(text)}: "{bad[0]}" is not a time of day HH:MM{extra}')
            return None
        start = time(int(first[:2]), int(first[3:]))
        end = time(int(last[:2]), int(last[3:]))
        if end <= start:
            self.error(key, f"{_show(text)} ends before it starts")
            return None
        return TimeRange(start, end)

    def _date_range(self, text: object, key: str) -> DateRange | None:
        if not isinstance(text, (str, date)):
            self.error(key, f'{_show(text)} is not a date like "2027-02-15" or a range like '
                       '"2026-12-24/2027-01-02"')
            return None
        if isinstance(text, date):
            return DateRange(text, text)
        parts = text.split("/")
        try:
            days = [date.fromisoformat(p.strip()) for p in parts]
        except ValueError:
            days = []
        if len(parts) > 2 or not days:
            self.error(key, f'{_show(text)} is not a date like "2027-02-15" or a range like '
                       '"2026-12-24/2027-01-02"')
            return None
        if days[-1] < days[0]:
            self.error(key, f"{_show(text)} ends before it starts")
            return None
        return DateRange(days[0], days[-1])

    def booking(self) -> BookingPolicy:
        name = "booking"
        sec = self.section(name)
        d = BookingPolicy()
        result = BookingPolicy(
            duration_minutes=self.number(sec, name, "duration_minutes", d.duration_minutes,
                                         minimum=1),
            buffer_minutes=self.number(sec, name, "buffer_minutes", d.buffer_minutes, minimum=0),
            min_notice_hours=self.number(sec, name, "min_notice_hours", d.min_notice_hours,
                                         minimum=0, integer=False),
            horizon_days=self.number(sec, name, "horizon_days", d.horizon_days, minimum=1),
            max_per_day=self.number(sec, name, "max_per_day", d.max_per_day, minimum=1),
            step_minutes=self.number(sec, name, "step_minutes", d.step_minutes, minimum=1),
            slots_offered=self.number(sec, name, "slots_offered", d.slots_offered, minimum=1),
            cluster=bool(self.get(sec, name, "cluster", bool, d.cluster)),
        )
        if result.horizon_days > 366:
            self.error("booking.horizon_days", f"{result.horizon_days} is more than a year")
        return result

    def invites(self) -> InvitePolicy:
        name = "invites"
        sec = self.section(name)
        d = InvitePolicy()
        return InvitePolicy(
            decline_outside_hours=bool(self.get(sec, name, "decline_outside_hours", bool,
                                                d.decline_outside_hours)),
            decline_conflicts=bool(self.get(sec, name, "decline_conflicts", bool,
                                            d.decline_conflicts)),
        )

    def terms(self, lang: str) -> Terms:
        sec = self.section("terms")
        parts: dict[str, Localized] = {}
        for key in ("payment", "cancellation", "contact", "options"):
            parts[key] = self.localized(sec.get(key), f"terms.{key}", lang,
                                        items=(key == "options"))
        return Terms(**parts)

    def services(self, lang: str) -> tuple[Service, ...]:
        raw = self.data.get("services", [])
        if isinstance(raw, dict):
            raw = [raw]
        if not isinstance(raw, list):
            self.error("services", "must be a list of [[services]] tables")
            return ()
        out: list[Service] = []
        for i, entry in enumerate(raw):
            key = f"services[{i}]"
            if not isinstance(entry, dict):
                self.error(key, "must be a table with name, minutes and price")
                continue
            for k in entry:
                if k not in SECTIONS["services"]:
                    self.error(f"{key}.{k}", "unknown key" + _suggest(k, SECTIONS["services"]))
            if "name" not in entry:
                self.error(f"{key}.name", "is required")
            label = self.localized(entry.get("name"), f"{key}.name", lang)
            minutes = entry.get("minutes", 60)
            if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes <= 0:
                self.error(f"{key}.minutes", f"{_show(minutes)} must be a positive whole number")
                minutes = 60
            price = entry.get("price", "")
            if isinstance(price, bool) or not isinstance(price, (str, int, float)):
                self.error(f"{key}.price", f"{_show(price)} must be a string like \"95 $\"")
                price = ""
            out.append(Service(label, int(minutes), str(price)))
        return tuple(out)

    def clients(self) -> ClientsPolicy:
        name = "clients"
        sec = self.section(name)
        lists: dict[str, tuple[str, ...]] = {}
        for key in ("block", "review"):
            values = self.get(sec, name, key, list, [])
            good: list[str] = []
            for i, v in enumerate(values or []):
                if isinstance(v, str) and v.strip() and "@" in v:
                    good.append(v.strip().lower())
                else:
                    self.error(f"clients.{key}[{i}]", f"{_show(v)} is not an address or pattern "
                               'like "*@spam.example"')
            lists[key] = tuple(good)
        return ClientsPolicy(**lists)

    def limits(self) -> Limits:
        name = "limits"
        sec = self.section(name)
        d = Limits()
        return Limits(
            per_hour=self.number(sec, name, "per_hour", d.per_hour, minimum=0),
            per_day=self.number(sec, name, "per_day", d.per_day, minimum=0),
            per_sender_per_day=self.number(sec, name, "per_sender_per_day",
                                           d.per_sender_per_day, minimum=0),
            repeat_days=self.number(sec, name, "repeat_days", d.repeat_days, minimum=0,
                                    integer=False),
            declines_per_organizer_per_day=self.number(
                sec, name, "declines_per_organizer_per_day", d.declines_per_organizer_per_day,
                minimum=0),
        )

    def calendar(self) -> CalendarSettings:
        name = "calendar"
        sec = self.section(name)
        url = self.get(sec, name, "url", str)
        url = self.url(url, "calendar.url") if url is not None else None
        username = self.get(sec, name, "username", str, "")
        password = self.secret(sec, name, "caldav-password")
        busy: list[str] = []
        for i, u in enumerate(self.get(sec, name, "busy_urls", list, []) or []):
            ok = self.url(u, f"calendar.busy_urls[{i}]")
            if ok:
                busy.append(ok)
        poll = self.number(sec, name, "poll_seconds", 60, minimum=1)
        return CalendarSettings(url or "", username or "", password, tuple(busy), int(poll))

    def mail(self, own_email: str) -> MailSettings:
        name = "mail"
        sec = self.section(name)
        imap_security = self.choice(sec, name, "imap_security", SECURITIES, "tls")
        smtp_security = self.choice(sec, name, "smtp_security", SECURITIES, "tls")
        imap_host = self.get(sec, name, "imap_host", str) or ""
        smtp_host = self.get(sec, name, "smtp_host", str) or ""
        for proto, host, security in (("imap", imap_host, imap_security),
                                      ("smtp", smtp_host, smtp_security)):
            if host and security == "none" and not is_loopback(host):
                self.error(f"mail.{proto}_security", f'"none" (no TLS) is only allowed to a '
                           f"loopback host, not {_show(host)}")
        imap_port = self.number(sec, name, "imap_port", DEFAULT_PORTS["imap"][imap_security],
                                minimum=1)
        smtp_port = self.number(sec, name, "smtp_port", DEFAULT_PORTS["smtp"][smtp_security],
                                minimum=1)
        for key, port in (("imap_port", imap_port), ("smtp_port", smtp_port)):
            if port > 65535:
                self.error(f"mail.{key}", f"{port} is not a TCP port")
        username = self.get(sec, name, "username", str, own_email) or own_email
        password = self.secret(sec, name, "mail-password")
        folders = {k: self.get(sec, name, k, str, d) for k, d in
                   (("inbox", "INBOX"), ("sent_folder", "Sent"), ("drafts_folder", "Drafts"))}
        if not folders["inbox"]:
            self.error("mail.inbox", "must name a folder")
        mode = self.choice(sec, name, "mode", ("send", "draft"), "send")
        if mode == "draft" and not folders["drafts_folder"]:
            self.error("mail.drafts_folder", 'must name a folder when mail.mode = "draft"')
        return MailSettings(imap_host, int(imap_port), imap_security, smtp_host, int(smtp_port),
                            smtp_security, username, password, folders["inbox"] or "INBOX",
                            folders["sent_folder"] or "", folders["drafts_folder"] or "", mode)

    def daemon(self) -> DaemonSettings:
        name = "daemon"
        sec = self.section(name)
        default_state = self.env.get("STATE_DIRECTORY", "").split(":")[0] or str(
            Path(self.env.get("XDG_STATE_HOME") or Path(self.env.get("HOME", "~")) / ".local"
                 / "state") / "frontdesk")
        state_dir = self.get(sec, name, "state_dir", str, default_state) or default_state
        level = self.choice(sec, name, "log_level", LOG_LEVELS, "info")
        templates = self.get(sec, name, "templates_dir", str, None)
        templates_dir = None
        if templates:
            templates_dir = self._relative(templates)
            if not templates_dir.is_dir():
                self.error("daemon.templates_dir", f"{_show(templates)} is not a folder")
        return DaemonSettings(self._relative(state_dir), level, templates_dir)

    def _relative(self, value: str) -> Path:
        path = Path(os.path.expanduser(value))
        if not path.is_absolute() and self.path is not None:
            path = self.path.parent / path
        return path


